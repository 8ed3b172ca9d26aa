/* tabletime.c — when each child table was last written, as the server records it (information_schema.TABLES.UPDATE_TIME), for leaving untouched tables unread. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "db.h"
#include "tabletime.h"

/* ER_UNKNOWN_SYSTEM_VARIABLE: MariaDB and MySQL 5.7 have no
 * information_schema_stats_expiry (their values are live). */
#define TT_ER_UNKNOWN_SYSTEM_VARIABLE 1193

static int entry_cmp(const void *a, const void *b)
{
        return strcasecmp(((const cs_tt_entry_t *)a)->name,
                          ((const cs_tt_entry_t *)b)->name);
}

void cs_tt_free(cs_tt_t *tt)
{
        for (size_t i = 0; i < tt->n; i++)
                free(tt->t[i].name);
        free(tt->t);
        memset(tt, 0, sizeof(*tt));
}

/* MySQL 8 caches TABLES statistics (information_schema_stats_expiry,
 * default one day): ask for live values. */
static int live_statistics(MYSQL *db, char *errstr, size_t errstr_size)
{
        if (mysql_query(db, "SET SESSION information_schema_stats_expiry = 0") == 0)
                return 0;
        if (mysql_errno(db) == TT_ER_UNKNOWN_SYSTEM_VARIABLE)
                return 0;
        snprintf(errstr, errstr_size, "information_schema_stats_expiry: %s",
                 mysql_error(db));
        return -1;
}

static int parse_time(const char *s, long long *out)
{
        char *end;

        if (!s) {
                *out = CS_TT_UNKNOWN;
                return 0;
        }
        *out = strtoll(s, &end, 10);
        if (end == s || *end || *out < 0)
                return -1;
        return 0;
}

int cs_tt_origin(MYSQL *db, char *out, size_t size, char *errstr,
                 size_t errstr_size)
{
        MYSQL_RES *res = cs_db_query(db, "SELECT CONCAT(@@hostname, ':', "
                                     "@@port, '/', DATABASE())", errstr,
                                     errstr_size);
        MYSQL_ROW row;

        if (!res)
                return -1;
        row = mysql_fetch_row(res);
        snprintf(out, size, "%s", row && row[0] ? row[0] : "");
        mysql_free_result(res);
        return 0;
}

int cs_tt_load(MYSQL *db, cs_tt_t *tt, char *errstr, size_t errstr_size)
{
        MYSQL_RES *res;
        MYSQL_ROW row;
        size_t cap;

        memset(tt, 0, sizeof(*tt));
        if (live_statistics(db, errstr, errstr_size) == -1 ||
            cs_db_query_int(db, "SELECT UNIX_TIMESTAMP()", &tt->now, errstr,
                            errstr_size) == -1)
                return -1;
        /* Only base tables have a write time; views and the rest count as
         * unknown. UNIX_TIMESTAMP: the session's time zone is UTC (db.c). */
        res = cs_db_query(db, "SELECT TABLE_NAME, IF(TABLE_TYPE = 'BASE TABLE', "
                          "UNIX_TIMESTAMP(UPDATE_TIME), NULL) "
                          "FROM information_schema.TABLES "
                          "WHERE TABLE_SCHEMA = DATABASE()", errstr, errstr_size);
        if (!res)
                return -1;
        cap = (size_t)mysql_num_rows(res);
        if (cap > CS_TT_MAX_TABLES) {
                snprintf(errstr, errstr_size, "the child has %zu tables and "
                         "views, more than CS_TT_MAX_TABLES (%d)", cap,
                         CS_TT_MAX_TABLES);
                mysql_free_result(res);
                return -1;
        }
        if (cap && !(tt->t = calloc(cap, sizeof(*tt->t)))) {
                snprintf(errstr, errstr_size, "out of memory");
                mysql_free_result(res);
                return -1;
        }
        while ((row = mysql_fetch_row(res)) && tt->n < cap) {
                cs_tt_entry_t *e = &tt->t[tt->n];

                if (!row[0])
                        continue;
                if (parse_time(row[1], &e->written) == -1) {
                        snprintf(errstr, errstr_size, "%s: unexpected "
                                 "UPDATE_TIME '%s'", row[0], row[1]);
                        break;
                }
                if (!(e->name = strdup(row[0]))) {
                        snprintf(errstr, errstr_size, "out of memory");
                        break;
                }
                tt->n++;
        }
        if (row) {
                mysql_free_result(res);
                cs_tt_free(tt);
                return -1;
        }
        mysql_free_result(res);
        qsort(tt->t, tt->n, sizeof(*tt->t), entry_cmp);
        return 0;
}

/* Folds the time of the table called name[0..len) into *latest. */
static void fold_word(const cs_tt_t *tt, const char *name, size_t len,
                      long long *latest, int *named)
{
        char buf[256];
        cs_tt_entry_t key = { .name = buf };
        const cs_tt_entry_t *e;

        if (len == 0 || len >= sizeof(buf))
                return; /* longer than any table name (64) */
        memcpy(buf, name, len);
        buf[len] = '\0';
        e = bsearch(&key, tt->t, tt->n, sizeof(*tt->t), entry_cmp);
        if (!e)
                return;
        *named = 1;
        if (e->written == CS_TT_UNKNOWN || *latest == CS_TT_UNKNOWN)
                *latest = CS_TT_UNKNOWN;
        else if (e->written > *latest)
                *latest = e->written;
}

static int word_char(unsigned char c)
{
        return isalnum(c) || c == '_' || c == '$';
}

long long cs_tt_latest_write(const cs_tt_t *tt, const char *sql)
{
        long long latest = 0;
        int named = 0;
        const char *p = sql;

        while (*p) {
                if (*p == '`') {
                        /* A quoted identifier; `` stands for one backquote,
                         * which no table name of ours has: such a word is
                         * matched as written up to it (no table). */
                        const char *s = ++p;
                        while (*p && *p != '`')
                                p++;
                        fold_word(tt, s, (size_t)(p - s), &latest, &named);
                        if (*p)
                                p++;
                } else if (word_char((unsigned char)*p)) {
                        const char *s = p;
                        while (word_char((unsigned char)*p))
                                p++;
                        fold_word(tt, s, (size_t)(p - s), &latest, &named);
                } else {
                        p++;
                }
        }
        return named ? latest : CS_TT_UNKNOWN;
}
