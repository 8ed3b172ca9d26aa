/* bulk.c — rows of one master table gathered for multi-row INSERT statements. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulk.h"

/* Rows per statement at most. Each cached statement keeps a client-side
 * bind array of ~110 bytes per placeholder: 64 rows of a 50-column table
 * are 350 KB, and all the power-of-two sizes of every table stay within a
 * few MB. 256 rows per statement was not measurably faster. */
#define BULK_CHUNK_MAX 64
/* Placeholders per statement at most (the protocol allows 65535). */
#define BULK_PARAMS_MAX 60000

void cs_bulk_init(cs_bulk_t *b, const char *table, const char *const *cols,
                  size_t ncols)
{
        cs_bulk_clear(b);
        b->table = table;
        if (ncols > sizeof(b->cols) / sizeof(b->cols[0]))
                ncols = sizeof(b->cols) / sizeof(b->cols[0]);
        for (size_t i = 0; i < ncols; i++)
                b->cols[i] = cols[i];
        b->ncols = ncols;
}

void cs_bulk_clear(cs_bulk_t *b)
{
        for (size_t i = 0; i < b->owned_n; i++)
                free(b->owned[i]);
        free(b->owned);
        free(b->vals);
        free(b->ids);
        free(b->tags);
        b->tags = NULL;
        b->owned = NULL;
        b->vals = NULL;
        b->ids = NULL;
        b->owned_n = b->owned_cap = 0;
        b->rows = b->cap = 0;
        b->bytes = 0;
}

int cs_bulk_same_cols(const cs_bulk_t *b, const char *const *cols, size_t ncols)
{
        if (b->ncols != ncols)
                return 0;
        for (size_t i = 0; i < ncols; i++)
                if (b->cols[i] != cols[i] && strcmp(b->cols[i], cols[i]))
                        return 0;
        return 1;
}

int cs_bulk_add(cs_bulk_t *b, const cs_db_value_t *vals, long long tag)
{
        if (b->rows == b->cap) {
                size_t cap = b->cap ? b->cap * 2 : 64;
                cs_db_value_t *v = realloc(b->vals, cap * b->ncols * sizeof(*v));
                long long *ids, *tags;
                if (!v)
                        return -1;
                b->vals = v;
                if (!(ids = realloc(b->ids, cap * sizeof(*ids))))
                        return -1;
                b->ids = ids;
                if (!(tags = realloc(b->tags, cap * sizeof(*tags))))
                        return -1;
                b->tags = tags;
                b->cap = cap;
        }
        memcpy(b->vals + b->rows * b->ncols, vals, b->ncols * sizeof(*vals));
        for (size_t i = 0; i < b->ncols; i++)
                if (vals[i].kind == CS_VAL_STR || vals[i].kind == CS_VAL_BIN)
                        b->bytes += vals[i].len;
        b->ids[b->rows] = 0;
        b->tags[b->rows++] = tag;
        return 0;
}

void cs_bulk_truncate(cs_bulk_t *b, size_t rows, size_t owned_n)
{
        while (b->rows > rows) {
                b->rows--;
                for (size_t i = 0; i < b->ncols; i++) {
                        const cs_db_value_t *v = &b->vals[b->rows * b->ncols + i];
                        if (v->kind == CS_VAL_STR || v->kind == CS_VAL_BIN)
                                b->bytes -= v->len;
                }
        }
        while (b->owned_n > owned_n)
                free(b->owned[--b->owned_n]);
}

int cs_bulk_own(cs_bulk_t *b, char *p)
{
        if (!p)
                return 0;
        if (b->owned_n == b->owned_cap) {
                size_t cap = b->owned_cap ? b->owned_cap * 2 : 64;
                char **o = realloc(b->owned, cap * sizeof(*o));
                if (!o) {
                        free(p);
                        return -1;
                }
                b->owned = o;
                b->owned_cap = cap;
        }
        b->owned[b->owned_n++] = p;
        return 0;
}

cs_db_value_t *cs_bulk_value(cs_bulk_t *b, size_t r, size_t col)
{
        return &b->vals[r * b->ncols + col];
}

size_t cs_bulk_chunk_rows(size_t left, size_t ncols)
{
        size_t k = BULK_CHUNK_MAX;

        while (k > 1 && (k > left || k * ncols > BULK_PARAMS_MAX))
                k /= 2;
        return k;
}

/* "INSERT INTO `t` (`a`, `b`) VALUES (?,?),(?,?)..." for k rows; NEW string. */
static char *insert_sql(const cs_bulk_t *b, size_t k)
{
        size_t cap = 64 + strlen(b->table), len;
        char *sql;

        for (size_t i = 0; i < b->ncols; i++)
                cap += strlen(b->cols[i]) + 4;
        cap += k * (b->ncols * 2 + 4);
        if (!(sql = malloc(cap)))
                return NULL;
        len = (size_t)snprintf(sql, cap, "INSERT INTO `%s` (", b->table);
        for (size_t i = 0; i < b->ncols; i++)
                len += (size_t)snprintf(sql + len, cap - len, "%s`%s`",
                                        i ? "," : "", b->cols[i]);
        len += (size_t)snprintf(sql + len, cap - len, ") VALUES ");
        for (size_t r = 0; r < k; r++) {
                sql[len++] = r ? ',' : ' ';
                sql[len++] = '(';
                for (size_t i = 0; i < b->ncols; i++) {
                        if (i)
                                sql[len++] = ',';
                        sql[len++] = '?';
                }
                sql[len++] = ')';
        }
        sql[len] = '\0';
        return sql;
}

int cs_bulk_insert(cs_bulk_t *b, cs_db_cache_t *cache, int with_ids,
                   long long step, unsigned int *db_errno, char *errstr,
                   size_t errstr_size)
{
        size_t done = 0;

        *db_errno = 0;
        if (b->ncols == 0 && b->rows) {
                snprintf(errstr, errstr_size, "%s: no columns to insert", b->table);
                return -1;
        }
        while (done < b->rows) {
                size_t k = cs_bulk_chunk_rows(b->rows - done, b->ncols);
                unsigned long long affected = 0, first = 0;
                char *sql;
                int rc;

                if (!(sql = insert_sql(b, k))) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return -1;
                }
                rc = cs_db_run(cache, sql, b->vals + done * b->ncols,
                               k * b->ncols, &affected, &first, NULL, NULL,
                               db_errno, errstr, errstr_size);
                free(sql);
                if (rc == -1)
                        return -1;
                if (affected != k || (with_ids && first == 0)) {
                        snprintf(errstr, errstr_size, "%s: a multi-row insert "
                                 "of %zu rows inserted %llu (id %llu)", b->table,
                                 k, affected, first);
                        return -1;
                }
                for (size_t r = 0; with_ids && r < k; r++)
                        b->ids[done + r] = (long long)first + (long long)r * step;
                done += k;
        }
        return 0;
}
