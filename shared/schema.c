/* schema.c — loads table shapes from information_schema.COLUMNS with a prepared statement. */
#include "schema.h"
#include "registry.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errmsg.h>
#include <strings.h>

/* The table name is a value: bound as a parameter, never formatted in. */
static const char load_sql[] =
        "SELECT COLUMN_NAME, DATA_TYPE, "
        "(COLUMN_TYPE LIKE '%unsigned%'), IS_NULLABLE, "
        "(EXTRA LIKE '%auto_increment%'), "
        "COALESCE(CHARACTER_MAXIMUM_LENGTH, 0), "
        "(CHARACTER_SET_NAME IS NULL OR CHARACTER_SET_NAME = 'binary') "
        "FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? "
        "ORDER BY ORDINAL_POSITION";

/* Maps DATA_TYPE (plus whether the column has no character set) to a type. */
static int map_type(const char *dt, int no_charset, cs_col_type_t *out)
{
        static const char *const ints[] = { "tinyint", "smallint", "mediumint",
                                            "int", "integer", "bigint", NULL };
        static const char *const texts[] = { "char", "varchar", "tinytext", "text",
                                             "mediumtext", "longtext", "enum",
                                             "set", "json", NULL };
        static const char *const bins[] = { "binary", "varbinary", "tinyblob",
                                            "blob", "mediumblob", "longblob", NULL };
        for (int i = 0; ints[i]; i++)
                if (strcasecmp(dt, ints[i]) == 0)
                        return *out = CS_COL_INT, 0;
        for (int i = 0; texts[i]; i++)
                if (strcasecmp(dt, texts[i]) == 0)
                        return *out = no_charset ? CS_COL_BINARY : CS_COL_TEXT, 0;
        for (int i = 0; bins[i]; i++)
                if (strcasecmp(dt, bins[i]) == 0)
                        return *out = CS_COL_BINARY, 0;
        if (strcasecmp(dt, "decimal") == 0 || strcasecmp(dt, "numeric") == 0)
                return *out = CS_COL_DECIMAL, 0;
        if (strcasecmp(dt, "float") == 0 || strcasecmp(dt, "double") == 0 ||
            strcasecmp(dt, "real") == 0)
                return *out = CS_COL_FLOAT, 0;
        if (strcasecmp(dt, "date") == 0)
                return *out = CS_COL_DATE, 0;
        if (strcasecmp(dt, "datetime") == 0)
                return *out = CS_COL_DATETIME, 0;
        if (strcasecmp(dt, "timestamp") == 0)
                return *out = CS_COL_TIMESTAMP, 0;
        if (strcasecmp(dt, "time") == 0)
                return *out = CS_COL_TIME, 0;
        if (strcasecmp(dt, "year") == 0)
                return *out = CS_COL_YEAR, 0;
        if (strcasecmp(dt, "bit") == 0)
                return *out = CS_COL_BIT, 0;
        return -1;
}

static void table_free_cols(cs_column_t *cols, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(cols[i].name);
        free(cols);
}

int cs_schema_load(MYSQL *db, const char *table, cs_table_t *out,
                   char *errstr, size_t errstr_size)
{
        return cs_schema_load_errno(db, table, out, NULL, errstr, errstr_size);
}

int cs_schema_load_errno(MYSQL *db, const char *table, cs_table_t *out,
                         unsigned int *db_errno, char *errstr,
                         size_t errstr_size)
{
        char name[256], dtype[64], nullable[8];
        unsigned long name_len = 0, dtype_len = 0, nullable_len = 0;
        unsigned long tlen = (unsigned long)strlen(table);
        long long is_unsigned = 0, auto_inc = 0, no_charset = 0;
        unsigned long long max_len = 0;
        my_bool is_null[7];
        my_bool trunc[7];
        cs_column_t *cols = NULL;
        size_t n = 0, cap = 0;
        int rc = -1, cut_off = 0;

        MYSQL_STMT *st = mysql_stmt_init(db);
        if (!st) {
                snprintf(errstr, errstr_size, "schema %s: out of memory", table);
                return -1;
        }
        if (mysql_stmt_prepare(st, load_sql, (unsigned long)strlen(load_sql))) {
                snprintf(errstr, errstr_size, "schema %s: prepare: %s", table,
                         mysql_stmt_error(st));
                goto done;
        }
        MYSQL_BIND param;
        memset(&param, 0, sizeof(param));
        param.buffer_type = MYSQL_TYPE_STRING;
        param.buffer = (void *)table;
        param.buffer_length = tlen;
        param.length = &tlen;
        if (mysql_stmt_bind_param(st, &param) || mysql_stmt_execute(st)) {
                snprintf(errstr, errstr_size, "schema %s: execute: %s", table,
                         mysql_stmt_error(st));
                goto done;
        }

        MYSQL_BIND res[7];
        memset(res, 0, sizeof(res));
        res[0].buffer_type = MYSQL_TYPE_STRING;
        res[0].buffer = name;
        res[0].buffer_length = sizeof(name);
        res[0].length = &name_len;
        res[1].buffer_type = MYSQL_TYPE_STRING;
        res[1].buffer = dtype;
        res[1].buffer_length = sizeof(dtype);
        res[1].length = &dtype_len;
        res[2].buffer_type = MYSQL_TYPE_LONGLONG;
        res[2].buffer = &is_unsigned;
        res[3].buffer_type = MYSQL_TYPE_STRING;
        res[3].buffer = nullable;
        res[3].buffer_length = sizeof(nullable);
        res[3].length = &nullable_len;
        res[4].buffer_type = MYSQL_TYPE_LONGLONG;
        res[4].buffer = &auto_inc;
        res[5].buffer_type = MYSQL_TYPE_LONGLONG;
        res[5].buffer = &max_len;
        res[5].is_unsigned = 1;
        res[6].buffer_type = MYSQL_TYPE_LONGLONG;
        res[6].buffer = &no_charset;
        for (int i = 0; i < 7; i++) {
                res[i].is_null = &is_null[i];
                res[i].error = &trunc[i];
        }
        if (mysql_stmt_bind_result(st, res)) {
                snprintf(errstr, errstr_size, "schema %s: bind: %s", table,
                         mysql_stmt_error(st));
                goto done;
        }
        for (;;) {
                int f = mysql_stmt_fetch(st);
                if (f == MYSQL_NO_DATA)
                        break;
                if (f == MYSQL_DATA_TRUNCATED) {
                        snprintf(errstr, errstr_size,
                                 "schema %s: column name or type too long", table);
                        goto done;
                }
                if (f != 0) {
                        /* An error in mid-result may be on the connection. */
                        snprintf(errstr, errstr_size, "schema %s: fetch: %s", table,
                                 mysql_stmt_errno(st) ? mysql_stmt_error(st) :
                                 mysql_errno(db) ? mysql_error(db) :
                                 "result cut off, no error reported");
                        cut_off = !mysql_stmt_errno(st) && !mysql_errno(db);
                        goto done;
                }
                if (is_null[0] || is_null[1]) {
                        snprintf(errstr, errstr_size,
                                 "schema %s: NULL column name or type", table);
                        goto done;
                }
                name[name_len] = '\0';
                dtype[dtype_len] = '\0';
                nullable[is_null[3] ? 0 : nullable_len] = '\0';
                cs_col_type_t type;
                if (map_type(dtype, (int)no_charset, &type) != 0) {
                        snprintf(errstr, errstr_size,
                                 "schema %s: column %s: unsupported type %s",
                                 table, name, dtype);
                        goto done;
                }
                if (n == cap) {
                        size_t ncap = cap ? cap * 2 : 32;
                        cs_column_t *nc = realloc(cols, ncap * sizeof(*nc));
                        if (!nc) {
                                snprintf(errstr, errstr_size, "schema %s: out of memory",
                                         table);
                                goto done;
                        }
                        cols = nc;
                        cap = ncap;
                }
                cs_column_t *c = &cols[n];
                memset(c, 0, sizeof(*c));
                c->name = strdup(name);
                if (!c->name) {
                        snprintf(errstr, errstr_size, "schema %s: out of memory", table);
                        goto done;
                }
                n++;
                c->type = type;
                c->nullable = strcmp(nullable, "YES") == 0;
                c->is_unsigned = type == CS_COL_INT && is_unsigned != 0;
                c->auto_increment = auto_inc != 0;
                c->max_length = (type == CS_COL_TEXT || type == CS_COL_BINARY) &&
                                !is_null[5] && max_len <= (unsigned long long)LLONG_MAX
                                        ? (long long)max_len
                                        : 0;
        }
        if (n == 0) {
                rc = 1;
                goto done;
        }
        out->name = strdup(table);
        if (!out->name) {
                snprintf(errstr, errstr_size, "schema %s: out of memory", table);
                goto done;
        }
        out->cols = cols;
        out->col_cnt = n;
        cols = NULL;
        n = 0;
        rc = 0;
done:
        /* A result cut off without an error is a lost result. */
        if (db_errno)
                *db_errno = rc != -1 ? 0 : mysql_stmt_errno(st) ?
                            mysql_stmt_errno(st) : mysql_errno(db) ?
                            mysql_errno(db) : cut_off ? CR_SERVER_LOST : 0;
        table_free_cols(cols, n);
        mysql_stmt_close(st);
        return rc;
}

void cs_schema_free(cs_table_t *tbl)
{
        if (!tbl)
                return;
        table_free_cols(tbl->cols, tbl->col_cnt);
        free(tbl->name);
        tbl->name = NULL;
        tbl->cols = NULL;
        tbl->col_cnt = 0;
}

int cs_schema_col_index(const cs_table_t *tbl, const char *name)
{
        if (!tbl || !name)
                return -1;
        /* (the first byte first: a document's every field is looked up,
         * and most columns differ there) */
        for (size_t i = 0; i < tbl->col_cnt; i++)
                if (tbl->cols[i].name[0] == name[0] &&
                    strcmp(tbl->cols[i].name, name) == 0)
                        return (int)i;
        return -1;
}

const char *cs_schema_type_name(cs_col_type_t type)
{
        switch (type) {
        case CS_COL_INT: return "int";
        case CS_COL_DECIMAL: return "decimal";
        case CS_COL_FLOAT: return "float";
        case CS_COL_TEXT: return "text";
        case CS_COL_BINARY: return "binary";
        case CS_COL_DATE: return "date";
        case CS_COL_DATETIME: return "datetime";
        case CS_COL_TIMESTAMP: return "timestamp";
        case CS_COL_TIME: return "time";
        case CS_COL_YEAR: return "year";
        case CS_COL_BIT: return "bit";
        }
        return "unknown";
}

int cs_schema_has_column(MYSQL *db, const char *table, const char *col,
                         char *errstr, size_t errstr_size)
{
        cs_table_t t;
        int rc = cs_schema_load(db, table, &t, errstr, errstr_size);

        if (rc != 0)
                return rc == 1 ? 0 : -1;
        rc = cs_schema_col_index(&t, col) >= 0;
        cs_schema_free(&t);
        return rc;
}

int cs_schema_has_columns(MYSQL *db, const struct cs_table_column_s *cols,
                          char *errstr, size_t errstr_size)
{
        for (const cs_table_column_t *c = cols; c && c->table; c++) {
                int rc = cs_schema_has_column(db, c->table, c->column, errstr,
                                              errstr_size);
                if (rc != 1)
                        return rc;
        }
        return 1;
}
