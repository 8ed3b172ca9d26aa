/* metadata.c — the metadata gate's fingerprints: read, encode as documents, parse and compare (producer, consumer and verify share it). */
#include "metadata.h"
#include "registry_meta.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "doc.h"
#include "prefix.h"
#include "registry.h"
#include "schema.h"

#define KEY_MID "/" CS_ENTITY_METADATA "/"

static uint32_t fnv32(const char *s, size_t n)
{
        uint32_t h = 2166136261u;
        for (size_t i = 0; i < n; i++) {
                h ^= (unsigned char)s[i];
                h *= 16777619u;
        }
        return h;
}

static uint64_t fnv64(uint64_t h, const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                h ^= (unsigned char)s[i];
                h *= 1099511628211ull;
        }
        return h;
}

void cs_meta_table_free(cs_meta_table_t *t)
{
        if (!t)
                return;
        for (size_t i = 0; i < t->col_cnt; i++)
                free(t->cols[i]);
        for (size_t i = 0; i < t->row_cnt; i++) {
                free(t->digests[i]);
                if (t->values)
                        json_decref(t->values[i]);
        }
        free(t->values);
        free(t->cols);
        free(t->ids);
        free(t->digests);
        free(t->table);
        memset(t, 0, sizeof(*t));
}

/* Appends a row; takes digest and vals (NEW, may be NULL) on success. */
static int add_row(cs_meta_table_t *t, size_t *cap, long long id, char *digest,
                   json_t *vals)
{
        if (t->row_cnt == *cap) {
                size_t nc = *cap ? *cap * 2 : 256;
                long long *ids = realloc(t->ids, nc * sizeof(*ids));
                if (!ids)
                        return -1;
                t->ids = ids;
                char **d = realloc(t->digests, nc * sizeof(*d));
                if (!d)
                        return -1;
                t->digests = d;
                json_t **v = realloc(t->values, nc * sizeof(*v));
                if (!v)
                        return -1;
                t->values = v;
                *cap = nc;
        }
        t->ids[t->row_cnt] = id;
        t->values[t->row_cnt] = vals;
        t->digests[t->row_cnt++] = digest;
        return 0;
}

/* Appends the CS_META_COL_HEX-digit digest of v (as a document carries
 * it, serialized compactly) to dig. 0, or -1 when out of memory. */
static int digest_append(char *dig, const json_t *v)
{
        char *txt = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!txt)
                return -1;
        sprintf(dig + strlen(dig), "%08" PRIx32, fnv32(txt, strlen(txt)));
        free(txt);
        return 0;
}

static int read_rows(MYSQL *db, const char *table, long long after_id,
                     long long to_id, int with_values, cs_meta_table_t *out,
                     char *errstr, size_t errstr_size)
{
        cs_table_t tbl;
        int idcol = -1, rc;
        size_t sql_cap, cap = 0;
        char *sql = NULL, why[256];
        MYSQL_RES *res = NULL;
        MYSQL_ROW row;

        memset(out, 0, sizeof(*out));
        if (cs_reg_table_class(table) != CS_TCLASS_METADATA) {
                snprintf(errstr, errstr_size, "%s is not a metadata table", table);
                return -1;
        }
        rc = cs_schema_load(db, table, &tbl, errstr, errstr_size);
        if (rc != 0)
                return rc;
        if (!(out->table = strdup(table)) ||
            !(out->cols = calloc(tbl.col_cnt + 1, sizeof(*out->cols))))
                goto oom;
        sql_cap = 220 + strlen(table) + (cs_reg_meta_row_filter(table) ?
                                         strlen(cs_reg_meta_row_filter(table)) : 0);
        for (size_t i = 0; i < tbl.col_cnt; i++)
                sql_cap += strlen(tbl.cols[i].name) + 4;
        if (!(sql = malloc(sql_cap)))
                goto oom;
        strcpy(sql, "SELECT ");
        for (size_t i = 0; i < tbl.col_cnt; i++) {
                const char *c = tbl.cols[i].name;
                if (!strcmp(c, "id"))
                        idcol = (int)i;
                else if (cs_reg_meta_col_excluded(table, c))
                        continue;
                else if (!(out->cols[out->col_cnt++] = strdup(c)))
                        goto oom;
        }
        if (idcol < 0) {
                snprintf(errstr, errstr_size, "metadata table %s has no id column",
                         table);
                goto fail;
        }
        /* id first, then the compared columns in ordinal order */
        strcat(sql, "`id`");
        for (size_t i = 0; i < tbl.col_cnt; i++) {
                if ((int)i == idcol || cs_reg_meta_col_excluded(table, tbl.cols[i].name))
                        continue;
                strcat(sql, ", `");
                strcat(sql, tbl.cols[i].name);
                strcat(sql, "`");
        }
        {
                cs_db_value_t range[2] = {
                        { .kind = CS_VAL_INT, .i = after_id },
                        { .kind = CS_VAL_INT, .i = to_id } };
                if (cs_db_set_vars(db, "SET @cs_meta_after = ?, @cs_meta_to = ?",
                                   range, 2, NULL, NULL, errstr, errstr_size) == -1)
                        goto fail;
                /* A split table's metadata rows only (registry_tables.c). */
                const char *only = cs_reg_meta_row_filter(table);
                snprintf(sql + strlen(sql), sql_cap - strlen(sql),
                         " FROM `%s` WHERE id > @cs_meta_after AND "
                         "(@cs_meta_to < 0 OR id <= @cs_meta_to)%s%s%s ORDER BY id",
                         table, only ? " AND (" : "", only ? only : "",
                         only ? ")" : "");
        }
        if (!(res = cs_db_query(db, sql, errstr, errstr_size)))
                goto fail;
        while ((row = mysql_fetch_row(res))) {
                unsigned long *len = mysql_fetch_lengths(res);
                char *dig = malloc(out->col_cnt * CS_META_COL_HEX + 1);
                json_t *vals = with_values ? json_array() : NULL;
                size_t k = 0;
                if (!dig || (with_values && !vals)) {
                        free(dig);
                        json_decref(vals);
                        goto oom;
                }
                dig[0] = '\0';
                for (size_t i = 0; i < tbl.col_cnt; i++) {
                        json_t *v;
                        int r;
                        if ((int)i == idcol || cs_reg_meta_col_excluded(table,
                                                        tbl.cols[i].name))
                                continue;
                        k++;
                        v = cs_doc_value_new(&tbl.cols[i], row[k], len[k], why,
                                             sizeof(why));
                        if (!v) {
                                snprintf(errstr, errstr_size, "%s id %s column %s: %s",
                                         table, row[0], tbl.cols[i].name, why);
                                free(dig);
                                json_decref(vals);
                                goto fail;
                        }
                        r = digest_append(dig, v);
                        if (vals && r == 0)
                                r = json_array_append(vals, v);
                        json_decref(v);
                        if (r == -1) {
                                free(dig);
                                json_decref(vals);
                                goto oom;
                        }
                }
                if (add_row(out, &cap, strtoll(row[0], NULL, 10), dig, vals) == -1) {
                        free(dig);
                        json_decref(vals);
                        goto oom;
                }
        }
        mysql_free_result(res);
        free(sql);
        cs_schema_free(&tbl);
        return 0;
oom:
        snprintf(errstr, errstr_size, "out of memory reading %s", table);
fail:
        if (res)
                mysql_free_result(res);
        free(sql);
        cs_schema_free(&tbl);
        cs_meta_table_free(out);
        return -1;
}

int cs_meta_read(MYSQL *db, const char *table, long long after_id,
                 long long to_id, cs_meta_table_t *out, char *errstr,
                 size_t errstr_size)
{
        return read_rows(db, table, after_id, to_id, 0, out, errstr, errstr_size);
}

int cs_meta_read_values(MYSQL *db, const char *table, long long after_id,
                        long long to_id, cs_meta_table_t *out, char *errstr,
                        size_t errstr_size)
{
        return read_rows(db, table, after_id, to_id, 1, out, errstr, errstr_size);
}

const char *cs_meta_col_translated(const char *table, const char *column)
{
        return cs_reg_meta_translated(table, column);
}

const char *cs_meta_kind_name(cs_meta_kind_t kind)
{
        switch (kind) {
        case CS_META_CHILD_ONLY: return "child-only";
        case CS_META_MASTER_ONLY: return "master-only";
        case CS_META_CHANGED: return "changed";
        case CS_META_SHAPE: return "shape";
        }
        return "?";
}

static int col_index(const cs_meta_table_t *t, const char *name)
{
        for (size_t i = 0; t && i < t->col_cnt; i++)
                if (!strcmp(t->cols[i], name))
                        return (int)i;
        return -1;
}

/* Appends ", name" (or "name") to a growing string. */
static int append(char **s, size_t *len, size_t *cap, const char *name,
                  const char *suffix)
{
        size_t need = *len + strlen(name) + strlen(suffix) + 3;
        if (need > *cap) {
                size_t nc = need * 2;
                char *g = realloc(*s, nc);
                if (!g)
                        return -1;
                *s = g;
                *cap = nc;
        }
        *len += (size_t)sprintf(*s + *len, "%s%s%s", *len ? ", " : "", name, suffix);
        return 0;
}

long long cs_meta_compare(const cs_meta_table_t *child,
                          const cs_meta_table_t *master, cs_meta_diff_cb *cb,
                          void *opaque)
{
        long long n = 0;
        int *map = NULL;
        char *cols = NULL;
        size_t len = 0, cap = 0, i = 0, j = 0;
        cs_meta_diff_t d = { .table = child->table, .columns = "" };

        if (!master) {
                d.kind = CS_META_SHAPE;
                d.columns = "(table absent on the master)";
                if (cb)
                        cb(&d, opaque);
                return 1;
        }
        if (!(map = calloc(child->col_cnt + 1, sizeof(*map))))
                return -1;
        for (size_t c = 0; c < child->col_cnt; c++) {
                map[c] = col_index(master, child->cols[c]);
                if (map[c] < 0 && append(&cols, &len, &cap, child->cols[c],
                                         " (child only)") == -1)
                        goto oom;
        }
        /* A column only the master has is not a difference: a child of an
         * older CiviCRM (4.2: no is_active on countries) cannot have it, and
         * nothing the child sends depends on it. A column only the child
         * has is one: the master could not hold what the child means. */
        if (len) {
                d.kind = CS_META_SHAPE;
                d.columns = cols;
                if (cb)
                        cb(&d, opaque);
                n++;
                len = 0;
        }
        while (i < child->row_cnt || j < master->row_cnt) {
                if (j >= master->row_cnt ||
                    (i < child->row_cnt && child->ids[i] < master->ids[j])) {
                        d.kind = CS_META_CHILD_ONLY;
                        d.row_id = child->ids[i++];
                        d.columns = "";
                } else if (i >= child->row_cnt || master->ids[j] < child->ids[i]) {
                        d.kind = CS_META_MASTER_ONLY;
                        d.row_id = master->ids[j++];
                        d.columns = "";
                } else {
                        const char *a = child->digests[i], *b = master->digests[j];
                        len = 0;
                        for (size_t c = 0; c < child->col_cnt; c++) {
                                if (map[c] < 0 ||
                                    cs_meta_col_translated(child->table,
                                                           child->cols[c]) ||
                                    !memcmp(a + c * CS_META_COL_HEX,
                                            b + (size_t)map[c] * CS_META_COL_HEX,
                                            CS_META_COL_HEX))
                                        continue;
                                if (append(&cols, &len, &cap, child->cols[c], "") == -1)
                                        goto oom;
                        }
                        d.row_id = child->ids[i];
                        i++;
                        j++;
                        if (!len)
                                continue;
                        d.kind = CS_META_CHANGED;
                        d.columns = cols;
                }
                if (cb)
                        cb(&d, opaque);
                n++;
        }
        free(map);
        free(cols);
        return n;
oom:
        free(map);
        free(cols);
        return -1;
}

/* ---- documents --------------------------------------------------------- */

static json_t *part_new(const char *prefix, const cs_meta_table_t *t, int part,
                        long long after_id)
{
        char id[CS_DOC_ID_MAX + 1];
        json_t *doc, *cols = json_array();

        snprintf(id, sizeof(id), "%s" KEY_MID "%s/%d", prefix, t->table, part);
        for (size_t c = 0; c < t->col_cnt; c++)
                json_array_append_new(cols, json_string(t->cols[c]));
        doc = json_pack("{s:s, s:i, s:s, s:s, s:s, s:i, s:i, s:I, s:n, s:o, s:[], s:s}",
                        "id", id, CS_F_FORMAT, CS_DOC_FORMAT_VERSION,
                        CS_F_PREFIX, prefix, CS_F_ENTITY, CS_ENTITY_METADATA,
                        CS_F_TABLE, t->table, CS_F_META_PART, part,
                        CS_F_META_PARTS, 0, CS_F_META_FROM, (json_int_t)after_id,
                        CS_F_META_TO, CS_F_META_COLUMNS, cols, CS_F_META_ROWS,
                        CS_F_META_DIGEST, "");
        return doc;
}

static void part_close(json_t *doc, long long to_id, uint64_t digest)
{
        char hex[17];
        snprintf(hex, sizeof(hex), "%016" PRIx64, digest);
        json_object_set_new(doc, CS_F_META_TO, to_id < 0 ? json_null() :
                            json_integer(to_id));
        json_object_set_new(doc, CS_F_META_DIGEST, json_string(hex));
}

int cs_meta_docs(const char *prefix, const cs_meta_table_t *t,
                 size_t max_bytes, json_t ***docs, size_t *n, char *errstr,
                 size_t errstr_size)
{
        size_t limit = max_bytes && max_bytes < CS_META_PART_MAX_BYTES ?
                       max_bytes : CS_META_PART_MAX_BYTES;
        size_t overhead = 512 + strlen(t->table) * 2;
        size_t bytes, cnt = 0, cap = 8;
        json_t **out = calloc(cap, sizeof(*out)), *cur;
        uint64_t h = 14695981039346656037ull;
        long long last = 0;

        *docs = NULL;
        *n = 0;
        for (size_t c = 0; c < t->col_cnt; c++)
                overhead += strlen(t->cols[c]) + 3;
        if (!out || overhead + 64 > limit) {
                free(out);
                snprintf(errstr, errstr_size, "metadata table %s: its column list "
                         "alone does not fit in a %zu-byte document", t->table, limit);
                return -1;
        }
        out[cnt++] = cur = part_new(prefix, t, 1, 0);
        bytes = overhead;
        for (size_t r = 0; r < t->row_cnt; r++) {
                size_t row_bytes = strlen(t->digests[r]) + 28;
                json_t *vals = t->values ? t->values[r] : NULL;
                char idtxt[24];
                if (vals) {
                        /* serialized as the document will carry it */
                        char *txt = json_dumps(vals, JSON_COMPACT);
                        if (!txt)
                                goto oom;
                        row_bytes += strlen(txt) + 1;
                        free(txt);
                        if (overhead + row_bytes > limit) {
                                snprintf(errstr, errstr_size, "metadata table %s "
                                         "id %lld: the row alone does not fit in "
                                         "a %zu-byte document", t->table,
                                         t->ids[r], limit);
                                goto fail;
                        }
                }
                if (bytes + row_bytes > limit && r > 0) {
                        part_close(cur, last, h);
                        if (cnt == CS_META_PARTS_MAX) {
                                snprintf(errstr, errstr_size, "metadata table %s "
                                         "needs more than CS_META_PARTS_MAX (%d) "
                                         "documents", t->table, CS_META_PARTS_MAX);
                                goto fail;
                        }
                        if (cnt == cap) {
                                json_t **g = realloc(out, cap * 2 * sizeof(*out));
                                if (!g)
                                        goto oom;
                                out = g;
                                cap *= 2;
                        }
                        cur = part_new(prefix, t, (int)cnt + 1, last);
                        out[cnt++] = cur;
                        h = 14695981039346656037ull;
                        bytes = overhead;
                }
                json_array_append_new(json_object_get(cur, CS_F_META_ROWS),
                                      vals ? json_pack("[I, s, O]",
                                                       (json_int_t)t->ids[r],
                                                       t->digests[r], vals) :
                                      json_pack("[I, s]", (json_int_t)t->ids[r],
                                                t->digests[r]));
                snprintf(idtxt, sizeof(idtxt), "%lld:", t->ids[r]);
                h = fnv64(h, idtxt, strlen(idtxt));
                h = fnv64(h, t->digests[r], strlen(t->digests[r]));
                bytes += row_bytes;
                last = t->ids[r];
        }
        part_close(cur, -1, h);
        for (size_t i = 0; i < cnt; i++)
                json_object_set_new(out[i], CS_F_META_PARTS, json_integer((json_int_t)cnt));
        *docs = out;
        *n = cnt;
        return 0;
oom:
        snprintf(errstr, errstr_size, "out of memory");
fail:
        for (size_t i = 0; i < cnt; i++)
                json_decref(out[i]);
        free(out);
        return -1;
}

int cs_meta_is_key(const char *key, size_t key_len)
{
        const char *s = key ? memchr(key, '/', key_len) : NULL;
        size_t rest;

        if (!s)
                return 0;
        rest = key_len - (size_t)(s - key);
        return rest > strlen(KEY_MID) && !memcmp(s, KEY_MID, strlen(KEY_MID));
}

static int bad(char *errstr, size_t errstr_size, const char *key, size_t key_len,
               const char *what)
{
        snprintf(errstr, errstr_size, "metadata document %.*s: %s",
                 (int)(key_len > 200 ? 200 : key_len), key, what);
        return -1;
}

static long long get_int(const json_t *doc, const char *f, long long min,
                         long long max, int *ok)
{
        json_t *v = json_object_get(doc, f);
        if (!json_is_integer(v) || json_integer_value(v) < min ||
            json_integer_value(v) > max)
                *ok = 0;
        return json_integer_value(v);
}

int cs_meta_parse(const char *prefix, const char *key, size_t key_len,
                  const char *value, size_t value_len, size_t max_bytes,
                  cs_meta_table_t *out, long long *after_id, long long *to_id,
                  int *part, int *parts, long long *gate_run, char *errstr,
                  size_t errstr_size)
{
        json_error_t jerr;
        json_t *doc, *cols, *rows, *v;
        const char *table;
        char want[CS_DOC_ID_MAX + 1], why[300];
        int ok = 1;
        size_t i, cap = 0;
        long long prev;

        memset(out, 0, sizeof(*out));
        *gate_run = 0;
        if (max_bytes && value_len > max_bytes)
                return bad(errstr, errstr_size, key, key_len, "larger than "
                           "max_document_bytes");
        if (!(doc = json_loadb(value, value_len, JSON_REJECT_DUPLICATES, &jerr))) {
                snprintf(why, sizeof(why), "invalid JSON: %s", jerr.text);
                return bad(errstr, errstr_size, key, key_len, why);
        }
        table = json_string_value(json_object_get(doc, CS_F_TABLE));
        *part = (int)get_int(doc, CS_F_META_PART, 1, CS_META_PARTS_MAX, &ok);
        *parts = (int)get_int(doc, CS_F_META_PARTS, 1, CS_META_PARTS_MAX, &ok);
        *after_id = get_int(doc, CS_F_META_FROM, 0, INT64_MAX, &ok);
        v = json_object_get(doc, CS_F_META_TO);
        *to_id = json_is_null(v) ? -1 : get_int(doc, CS_F_META_TO, 0, INT64_MAX, &ok);
        get_int(doc, CS_F_FORMAT, CS_DOC_FORMAT_VERSION, CS_DOC_FORMAT_VERSION, &ok);
        cols = json_object_get(doc, CS_F_META_COLUMNS);
        rows = json_object_get(doc, CS_F_META_ROWS);
        if (!ok || !table || !json_is_array(cols) || !json_is_array(rows) ||
            *part > *parts || (*to_id >= 0 && *to_id < *after_id) ||
            !json_is_string(json_object_get(doc, CS_F_META_DIGEST)) ||
            strcmp(json_string_value(json_object_get(doc, CS_F_ENTITY)) ?
                   json_string_value(json_object_get(doc, CS_F_ENTITY)) : "",
                   CS_ENTITY_METADATA)) {
                json_decref(doc);
                return bad(errstr, errstr_size, key, key_len, "missing or invalid "
                           "envelope fields (FORMAT.md, metadata documents)");
        }
        if (!json_is_string(json_object_get(doc, CS_F_PREFIX)) ||
            strcmp(json_string_value(json_object_get(doc, CS_F_PREFIX)), prefix)) {
                json_decref(doc);
                return bad(errstr, errstr_size, key, key_len, "its prefix is not "
                           "the topic's prefix");
        }
        v = json_object_get(doc, CS_F_GATE_RUN);
        if (json_is_integer(v) && json_integer_value(v) > 0)
                *gate_run = json_integer_value(v);
        if (cs_reg_table_class(table) != CS_TCLASS_METADATA) {
                snprintf(why, sizeof(why), "table '%.64s' is not a metadata table "
                         "of the registry", table);
                json_decref(doc);
                return bad(errstr, errstr_size, key, key_len, why);
        }
        snprintf(want, sizeof(want), "%s" KEY_MID "%s/%d", prefix, table, *part);
        if (strlen(want) != key_len || memcmp(want, key, key_len) ||
            !json_is_string(json_object_get(doc, "id")) ||
            strcmp(json_string_value(json_object_get(doc, "id")), want)) {
                json_decref(doc);
                return bad(errstr, errstr_size, key, key_len, "id and key must "
                           "both be <PREFIX>/civisync_metadata/<table>/<part>");
        }
        if (!(out->table = strdup(table)) ||
            !(out->cols = calloc(json_array_size(cols) + 1, sizeof(char *))))
                goto oom;
        json_array_foreach(cols, i, v) {
                if (!json_is_string(v) || !cs_db_ident_valid(json_string_value(v))) {
                        json_decref(doc);
                        cs_meta_table_free(out);
                        return bad(errstr, errstr_size, key, key_len,
                                   "a column name is not an identifier");
                }
                if (cs_reg_meta_col_excluded(table, json_string_value(v))) {
                        snprintf(why, sizeof(why), "column %.64s is a credential: "
                                 "it never leaves the child", json_string_value(v));
                        json_decref(doc);
                        cs_meta_table_free(out);
                        return bad(errstr, errstr_size, key, key_len, why);
                }
                if (!(out->cols[out->col_cnt++] = strdup(json_string_value(v))))
                        goto oom;
        }
        prev = *after_id;
        json_array_foreach(rows, i, v) {
                json_t *id = json_array_get(v, 0), *dig = json_array_get(v, 1);
                json_t *vals = json_array_get(v, 2);
                const char *d = json_string_value(dig);
                char *copy;
                if ((json_array_size(v) != 2 && json_array_size(v) != 3) ||
                    !json_is_integer(id) || !d ||
                    strlen(d) != out->col_cnt * CS_META_COL_HEX ||
                    strspn(d, "0123456789abcdef") != strlen(d) ||
                    json_integer_value(id) <= prev ||
                    (*to_id >= 0 && json_integer_value(id) > *to_id)) {
                        snprintf(why, sizeof(why), "row %zu: expected [id, digest] "
                                 "with ascending ids inside the part's range and "
                                 "%d hex digits per column", i, CS_META_COL_HEX);
                        json_decref(doc);
                        cs_meta_table_free(out);
                        return bad(errstr, errstr_size, key, key_len, why);
                }
                if (vals) {
                        /* The values travel with their digest: they must
                         * agree, column by column. */
                        char *check = malloc(out->col_cnt * CS_META_COL_HEX + 1);
                        size_t c;
                        json_t *x;
                        int okv = json_is_array(vals) &&
                                  json_array_size(vals) == out->col_cnt;
                        if (!check)
                                goto oom;
                        check[0] = '\0';
                        json_array_foreach(okv ? vals : NULL, c, x) {
                                if (json_is_object(x) || json_is_array(x) ||
                                    digest_append(check, x) == -1) {
                                        okv = 0;
                                        break;
                                }
                        }
                        okv = okv && !strcmp(check, d);
                        free(check);
                        if (!okv) {
                                snprintf(why, sizeof(why), "row %zu (id %lld): its "
                                         "values must be an array of one scalar "
                                         "per column whose digests are the row's "
                                         "digest", i, (long long)json_integer_value(id));
                                json_decref(doc);
                                cs_meta_table_free(out);
                                return bad(errstr, errstr_size, key, key_len, why);
                        }
                }
                prev = json_integer_value(id);
                if (!(copy = strdup(d)))
                        goto oom;
                if (add_row(out, &cap, prev, copy, vals ? json_incref(vals) :
                            NULL) == -1) {
                        free(copy);
                        json_decref(vals);
                        goto oom;
                }
        }
        json_decref(doc);
        return 0;
oom:
        json_decref(doc);
        cs_meta_table_free(out);
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
}

long long cs_meta_verify(MYSQL *child, MYSQL *master, cs_meta_diff_cb *cb,
                         void *opaque, long long *tables, char *errstr,
                         size_t errstr_size)
{
        size_t count = 0;
        const cs_table_rule_t *all = cs_reg_tables(&count);
        long long total = 0;

        *tables = 0;
        for (size_t i = 0; i < count; i++) {
                cs_meta_table_t c, m;
                int rc;
                long long n;
                if (all[i].cls != CS_TCLASS_METADATA)
                        continue;
                rc = cs_meta_read(child, all[i].table, 0, -1, &c, errstr, errstr_size);
                if (rc == 1)
                        continue; /* not on this child: nothing to compare */
                if (rc == -1)
                        return -1;
                rc = cs_meta_read(master, all[i].table, 0, -1, &m, errstr, errstr_size);
                if (rc == -1) {
                        cs_meta_table_free(&c);
                        return -1;
                }
                n = cs_meta_compare(&c, rc == 1 ? NULL : &m, cb, opaque);
                cs_meta_table_free(&c);
                cs_meta_table_free(&m);
                if (n < 0) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return -1;
                }
                total += n;
                (*tables)++;
        }
        return total;
}
