/* doc.c — encodes rows as Solr-style JSON documents, frames complete syncs, validates and decodes received documents. */
#include "doc.h"
#include "files.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "prefix.h"

#define CONTROL_TABLE "civisync_control"
#define DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER)

/* ---- small helpers ----------------------------------------------------- */

static int is_digits(const char *s, size_t n)
{
        if (n == 0)
                return 0;
        for (size_t i = 0; i < n; i++)
                if (s[i] < '0' || s[i] > '9')
                        return 0;
        return 1;
}

/* Matches s[0..n) against a shape where 'd' is a digit and any other
 * character must match literally. */
static int shape_is(const char *s, size_t n, const char *shape)
{
        size_t m = strlen(shape);
        if (n != m)
                return 0;
        for (size_t i = 0; i < n; i++) {
                if (shape[i] == 'd') {
                        if (s[i] < '0' || s[i] > '9')
                                return 0;
                } else if (s[i] != shape[i]) {
                        return 0;
                }
        }
        return 1;
}

/* ".ffffff" (1..6 digits) or empty. */
static int fraction_ok(const char *s, size_t n)
{
        if (n == 0)
                return 1;
        return s[0] == '.' && n >= 2 && n <= 7 && is_digits(s + 1, n - 1);
}

/* "YYYY-MM-DD<sep>HH:MM:SS[.ffffff]" */
static int datetime_ok(const char *s, size_t n, char sep)
{
        if (n < 19 || !shape_is(s, 10, "dddd-dd-dd") || s[10] != sep ||
            !shape_is(s + 11, 8, "dd:dd:dd"))
                return 0;
        return fraction_ok(s + 19, n - 19);
}

/* "[-]HH:MM:SS[.ffffff]" with 2 or 3 hour digits (MariaDB TIME range). */
static int time_ok(const char *s, size_t n)
{
        size_t i = 0;
        if (n > 0 && s[0] == '-')
                i = 1;
        size_t h = 0;
        while (i + h < n && s[i + h] >= '0' && s[i + h] <= '9')
                h++;
        if (h < 2 || h > 3)
                return 0;
        i += h;
        if (n - i < 6 || !shape_is(s + i, 6, ":dd:dd"))
                return 0;
        return fraction_ok(s + i + 6, n - i - 6);
}

/* "-?digits(.digits)?" */
static int decimal_ok(const char *s, size_t n)
{
        size_t i = 0;
        if (n > 0 && (s[0] == '-' || s[0] == '+'))
                i = 1;
        size_t d = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9')
                i++, d++;
        if (d == 0)
                return 0;
        if (i == n)
                return 1;
        if (s[i] != '.')
                return 0;
        return is_digits(s + i + 1, n - i - 1);
}

static const char *json_type_name(const json_t *v)
{
        switch (json_typeof(v)) {
        case JSON_OBJECT: return "object";
        case JSON_ARRAY: return "array";
        case JSON_STRING: return "string";
        case JSON_INTEGER: return "integer";
        case JSON_REAL: return "real";
        case JSON_TRUE:
        case JSON_FALSE: return "boolean";
        case JSON_NULL: return "null";
        }
        return "unknown";
}

/* Copies n bytes into a NUL-terminated buffer (max out_size-1 bytes). */
static void copy_z(char *out, size_t out_size, const char *s, size_t n)
{
        if (n >= out_size)
                n = out_size - 1;
        memcpy(out, s, n);
        out[n] = '\0';
}

/* ---- ids ----------------------------------------------------------------- */

int cs_doc_id(char *out, size_t out_size, const char *prefix,
              const char *table, long long child_id)
{
        if (!out || out_size == 0 || !cs_prefix_valid(prefix) || !table ||
            !cs_reg_by_table(table) || child_id < 1)
                return -1;
        int n = snprintf(out, out_size, "%s/%s/%lld", prefix, table, child_id);
        if (n < 0 || (size_t)n >= out_size || n > CS_DOC_ID_MAX)
                return -1;
        return 0;
}

int cs_doc_control_id(char *out, size_t out_size, const char *prefix)
{
        if (!out || out_size == 0 || !cs_prefix_valid(prefix))
                return -1;
        int n = snprintf(out, out_size, "%s/" CONTROL_TABLE, prefix);
        if (n < 0 || (size_t)n >= out_size)
                return -1;
        return 0;
}

int cs_doc_parse_id(const char *id, size_t id_len,
                    char prefix[CS_PREFIX_MAX + 1], char *table,
                    size_t table_size, long long *child_id, char *errstr,
                    size_t errstr_size)
{
        char shown[CS_DOC_ID_MAX + 1];
        copy_z(shown, sizeof(shown), id ? id : "", id ? id_len : 0);
        if (!id || id_len == 0 || id_len > CS_DOC_ID_MAX ||
            memchr(id, '\0', id_len)) {
                snprintf(errstr, errstr_size, "bad document id \"%s\": empty, too long or contains NUL",
                         shown);
                return -1;
        }
        const char *s1 = memchr(id, '/', id_len);
        if (!s1) {
                snprintf(errstr, errstr_size, "bad document id \"%s\": no '/'", shown);
                return -1;
        }
        size_t plen = (size_t)(s1 - id);
        char p[CS_PREFIX_MAX + 2];
        if (plen == 0 || plen > CS_PREFIX_MAX) {
                snprintf(errstr, errstr_size, "bad document id \"%s\": bad prefix", shown);
                return -1;
        }
        copy_z(p, sizeof(p), id, plen);
        if (!cs_prefix_valid(p)) {
                snprintf(errstr, errstr_size, "bad document id \"%s\": bad prefix", shown);
                return -1;
        }
        const char *rest = s1 + 1;
        size_t rlen = id_len - plen - 1;
        char tbl[CS_DOC_ID_MAX + 1];
        long long cid = 0;
        if (rlen == strlen(CONTROL_TABLE) && memcmp(rest, CONTROL_TABLE, rlen) == 0) {
                copy_z(tbl, sizeof(tbl), rest, rlen);
        } else {
                const char *s2 = memchr(rest, '/', rlen);
                if (!s2) {
                        snprintf(errstr, errstr_size, "bad document id \"%s\": no child id",
                                 shown);
                        return -1;
                }
                size_t tlen = (size_t)(s2 - rest);
                copy_z(tbl, sizeof(tbl), rest, tlen);
                if (!cs_reg_by_table(tbl)) {
                        snprintf(errstr, errstr_size,
                                 "bad document id \"%s\": table is not synced", shown);
                        return -1;
                }
                const char *num = s2 + 1;
                size_t nlen = rlen - tlen - 1;
                if (!is_digits(num, nlen) || num[0] == '0' || nlen > 19) {
                        snprintf(errstr, errstr_size,
                                 "bad document id \"%s\": child id is not a positive integer",
                                 shown);
                        return -1;
                }
                char nb[24];
                copy_z(nb, sizeof(nb), num, nlen);
                errno = 0;
                cid = strtoll(nb, NULL, 10);
                if (errno == ERANGE) {
                        snprintf(errstr, errstr_size,
                                 "bad document id \"%s\": child id out of range", shown);
                        return -1;
                }
        }
        if (strlen(tbl) + 1 > table_size) {
                snprintf(errstr, errstr_size, "bad document id \"%s\": table buffer too small",
                         shown);
                return -1;
        }
        memcpy(prefix, p, plen + 1);
        strcpy(table, tbl);
        *child_id = cid;
        return 0;
}

int cs_doc_field_reserved(const char *name)
{
        return name && (strncmp(name, "civisync_", 9) == 0 ||
                        strcmp(name, "id") == 0 || strcmp(name, CS_F_CHILDREN) == 0);
}

/* ---- encoding -------------------------------------------------------------- */

/* NEW json value for one column value, or NULL with a short reason in why. */
static json_t *encode_value(const cs_column_t *col, const char *v,
                            unsigned long len, char *why, size_t why_size)
{
        char buf[64];
        char *end;

        if (!v)
                return json_null();
        switch (col->type) {
        case CS_COL_INT:
        case CS_COL_YEAR: {
                if (len == 0 || len >= sizeof(buf)) {
                        snprintf(why, why_size, "not an integer");
                        return NULL;
                }
                copy_z(buf, sizeof(buf), v, len);
                errno = 0;
                if (col->is_unsigned) {
                        if (!isdigit((unsigned char)buf[0])) {
                                snprintf(why, why_size, "not an integer: \"%s\"", buf);
                                return NULL;
                        }
                        unsigned long long u = strtoull(buf, &end, 10);
                        if (errno || *end) {
                                snprintf(why, why_size, "not an unsigned integer: \"%s\"", buf);
                                return NULL;
                        }
                        if (u > (unsigned long long)INT64_MAX) {
                                snprintf(buf, sizeof(buf), "%llu", u);
                                return json_string(buf);
                        }
                        return json_integer((json_int_t)u);
                }
                if (!(isdigit((unsigned char)buf[0]) ||
                      (buf[0] == '-' && isdigit((unsigned char)buf[1])))) {
                        snprintf(why, why_size, "not an integer: \"%s\"", buf);
                        return NULL;
                }
                long long x = strtoll(buf, &end, 10);
                if (errno || *end) {
                        snprintf(why, why_size, "not a signed 64-bit integer: \"%s\"", buf);
                        return NULL;
                }
                return json_integer((json_int_t)x);
        }
        case CS_COL_DECIMAL:
                if (!decimal_ok(v, len)) {
                        snprintf(why, why_size, "not a decimal number");
                        return NULL;
                }
                return json_stringn(v, len);
        case CS_COL_FLOAT: {
                if (len == 0 || len >= sizeof(buf)) {
                        snprintf(why, why_size, "not a number");
                        return NULL;
                }
                copy_z(buf, sizeof(buf), v, len);
                errno = 0;
                double d = strtod(buf, &end);
                if (*end || end == buf || !isfinite(d)) {
                        snprintf(why, why_size, "not a finite number: \"%s\"", buf);
                        return NULL;
                }
                char back[40];
                snprintf(back, sizeof(back), "%.17g", d);
                if (strtod(back, NULL) != d) {
                        snprintf(why, why_size, "number \"%s\" does not round-trip", buf);
                        return NULL;
                }
                return json_real(d);
        }
        case CS_COL_TEXT: {
                json_t *s = json_stringn(v, len);
                if (!s)
                        snprintf(why, why_size, "invalid UTF-8 in text");
                return s;
        }
        case CS_COL_BINARY: {
                char *b = cs_b64_encode((const unsigned char *)v, len, NULL);
                if (!b) {
                        snprintf(why, why_size, "out of memory");
                        return NULL;
                }
                json_t *s = json_string(b);
                free(b);
                return s;
        }
        case CS_COL_DATE:
                if (!shape_is(v, len, "dddd-dd-dd")) {
                        snprintf(why, why_size, "not a DATE (YYYY-MM-DD)");
                        return NULL;
                }
                return json_stringn(v, len);
        case CS_COL_DATETIME:
        case CS_COL_TIMESTAMP: {
                if (!datetime_ok(v, len, ' ')) {
                        snprintf(why, why_size, "not a %s (YYYY-MM-DD HH:MM:SS[.ffffff])",
                                 col->type == CS_COL_DATETIME ? "DATETIME" : "TIMESTAMP");
                        return NULL;
                }
                copy_z(buf, sizeof(buf), v, len);
                buf[10] = 'T';
                if (col->type == CS_COL_TIMESTAMP) {
                        buf[len] = 'Z';
                        buf[len + 1] = '\0';
                }
                return json_string(buf);
        }
        case CS_COL_TIME:
                if (!time_ok(v, len)) {
                        snprintf(why, why_size, "not a TIME ([-]HH:MM:SS[.ffffff])");
                        return NULL;
                }
                return json_stringn(v, len);
        case CS_COL_BIT: {
                /* the text protocol returns BIT(n) as big-endian bytes */
                if (len == 0 || len > 8) {
                        snprintf(why, why_size, "BIT value of %lu bytes", len);
                        return NULL;
                }
                unsigned long long u = 0;
                for (unsigned long i = 0; i < len; i++)
                        u = u << 8 | (unsigned char)v[i];
                if (u > (unsigned long long)INT64_MAX) {
                        snprintf(buf, sizeof(buf), "%llu", u);
                        return json_string(buf);
                }
                return json_integer((json_int_t)u);
        }
        }
        snprintf(why, why_size, "unsupported column type");
        return NULL;
}

json_t *cs_doc_value_new(const cs_column_t *col, const char *v,
                         unsigned long len, char *why, size_t why_size)
{
        return encode_value(col, v, len, why, why_size);
}

json_t *cs_doc_from_row(const cs_entity_t *ent, const cs_table_t *tbl,
                        const char *prefix, const char *time_zone,
                        char **values, const unsigned long *lengths,
                        char *errstr, size_t errstr_size)
{
        char id[CS_DOC_ID_MAX + 1];
        char why[160];
        json_t *doc = NULL;

        if (!ent || !tbl || !values || !lengths) {
                snprintf(errstr, errstr_size, "cs_doc_from_row: missing argument");
                return NULL;
        }
        if (tbl->name && strcmp(tbl->name, ent->table) != 0) {
                snprintf(errstr, errstr_size, "%s: table %s does not belong to entity",
                         ent->name, tbl->name);
                return NULL;
        }
        int idi = cs_schema_col_index(tbl, "id");
        if (idi < 0 || tbl->cols[idi].type != CS_COL_INT) {
                snprintf(errstr, errstr_size, "%s: table %s has no integer id column",
                         ent->name, ent->table);
                return NULL;
        }
        long long child_id = 0;
        {
                const char *v = values[idi];
                char nb[24];
                char *end;
                if (!v || !is_digits(v, lengths[idi]) || lengths[idi] > 19) {
                        snprintf(errstr, errstr_size, "%s: row with a missing or bad id",
                                 ent->name);
                        return NULL;
                }
                copy_z(nb, sizeof(nb), v, lengths[idi]);
                errno = 0;
                child_id = strtoll(nb, &end, 10);
                if (errno || *end || child_id < 1) {
                        snprintf(errstr, errstr_size, "%s: row id \"%s\" out of range",
                                 ent->name, nb);
                        return NULL;
                }
        }
        if (cs_doc_id(id, sizeof(id), prefix, ent->table, child_id) != 0) {
                snprintf(errstr, errstr_size, "%s %lld: cannot build document id (prefix \"%s\")",
                         ent->name, child_id, prefix ? prefix : "(null)");
                return NULL;
        }

        doc = json_object();
        if (!doc)
                goto oom;
        if (json_object_set_new(doc, "id", json_string(id)) ||
            json_object_set_new(doc, CS_F_FORMAT, json_integer(CS_DOC_FORMAT_VERSION)) ||
            json_object_set_new(doc, CS_F_PREFIX, json_string(prefix)) ||
            json_object_set_new(doc, CS_F_ENTITY, json_string(ent->name)) ||
            json_object_set_new(doc, CS_F_TABLE, json_string(ent->table)) ||
            json_object_set_new(doc, CS_F_CHILD_ID, json_integer(child_id)) ||
            json_object_set_new(doc, CS_F_TIME_ZONE,
                                time_zone ? json_string(time_zone) : json_null()))
                goto oom;

        for (size_t i = 0; i < tbl->col_cnt; i++) {
                const cs_column_t *col = &tbl->cols[i];
                if ((int)i == idi)
                        continue;
                if (cs_reg_col_policy(ent, col->name) == CS_COL_OMIT)
                        continue;
                if (cs_doc_field_reserved(col->name)) {
                        snprintf(errstr, errstr_size,
                                 "%s %s: column %s collides with a reserved field name",
                                 ent->name, id, col->name);
                        goto fail;
                }
                why[0] = '\0';
                json_t *jv = encode_value(col, values[i], lengths[i], why, sizeof(why));
                if (!jv) {
                        snprintf(errstr, errstr_size, "%s %s: column %s (%s): %s",
                                 ent->name, id, col->name,
                                 cs_schema_type_name(col->type),
                                 why[0] ? why : "out of memory");
                        goto fail;
                }
                if (json_object_set_new(doc, col->name, jv))
                        goto oom;
        }
        return doc;
oom:
        snprintf(errstr, errstr_size, "%s %s: out of memory", ent->name, id);
fail:
        json_decref(doc);
        return NULL;
}

int cs_doc_add_child(json_t *doc, json_t *child)
{
        if (!json_is_object(doc) || !json_is_object(child)) {
                json_decref(child);
                return -1;
        }
        json_t *arr = json_object_get(doc, CS_F_CHILDREN); /* BORROWED */
        if (!arr) {
                arr = json_array();
                if (!arr || json_object_set_new(doc, CS_F_CHILDREN, arr)) {
                        json_decref(child);
                        return -1;
                }
        } else if (!json_is_array(arr)) {
                json_decref(child);
                return -1;
        }
        return json_array_append_new(arr, child);
}

static json_t *control_new(const char *entity, const char *prefix,
                           long long generation, int partition,
                           int partition_count)
{
        char id[CS_DOC_ID_MAX + 1];
        if (generation < 1 || partition_count < 1 || partition < 0 ||
            partition >= partition_count ||
            cs_doc_control_id(id, sizeof(id), prefix) != 0)
                return NULL;
        json_t *doc = json_object();
        if (!doc)
                return NULL;
        if (json_object_set_new(doc, "id", json_string(id)) ||
            json_object_set_new(doc, CS_F_FORMAT, json_integer(CS_DOC_FORMAT_VERSION)) ||
            json_object_set_new(doc, CS_F_PREFIX, json_string(prefix)) ||
            json_object_set_new(doc, CS_F_ENTITY, json_string(entity)) ||
            json_object_set_new(doc, CS_F_GENERATION, json_integer(generation)) ||
            json_object_set_new(doc, CS_F_PARTITION, json_integer(partition)) ||
            json_object_set_new(doc, CS_F_PARTITIONS, json_integer(partition_count))) {
                json_decref(doc);
                return NULL;
        }
        return doc;
}

json_t *cs_doc_reset_new(const char *prefix, long long generation,
                         int partition, int partition_count)
{
        return control_new(CS_ENTITY_RESET, prefix, generation, partition,
                           partition_count);
}

/* Counts are emitted in registry order (deterministic); NULL if counts
 * names an unknown entity or holds a non-integer or negative value. */
json_t *cs_doc_end_new(const char *prefix, long long generation,
                       int partition, int partition_count,
                       const json_t *counts)
{
        if (counts && !json_is_object(counts))
                return NULL;
        if (counts) {
                const char *k;
                json_t *v;
                json_object_foreach((json_t *)counts, k, v) {
                        if (!cs_reg_by_name(k) || !json_is_integer(v) ||
                            json_integer_value(v) < 0)
                                return NULL;
                }
        }
        json_t *doc = control_new(CS_ENTITY_END, prefix, generation, partition,
                                  partition_count);
        if (!doc || !counts)
                return doc;
        size_t n;
        const cs_entity_t *ents = cs_reg_entities(&n);
        for (size_t i = 0; i < n; i++) {
                json_t *v = json_object_get(counts, ents[i].name); /* BORROWED */
                if (!v)
                        continue;
                char key[96];
                snprintf(key, sizeof(key), CS_F_COUNT_PFX "%s", ents[i].name);
                if (json_object_set_new(doc, key, json_integer(json_integer_value(v)))) {
                        json_decref(doc);
                        return NULL;
                }
        }
        return doc;
}

/* max_bytes == 0 means no limit. */
char *cs_doc_dump(const json_t *doc, size_t max_bytes, size_t *len,
                  char *errstr, size_t errstr_size)
{
        const char *id = "(no id)", *ent = "document";
        json_t *jid = json_is_object(doc) ? json_object_get(doc, "id") : NULL;
        json_t *jent = json_is_object(doc) ? json_object_get(doc, CS_F_ENTITY) : NULL;
        if (json_is_string(jid))
                id = json_string_value(jid);
        if (json_is_string(jent))
                ent = json_string_value(jent);
        if (!doc) {
                snprintf(errstr, errstr_size, "cs_doc_dump: no document");
                return NULL;
        }
        /* One pass: serialized into a buffer that grows, then measured
         * (jansson escapes a NUL in a string, so the text has none). */
        char *buf = json_dumps(doc, DUMP_FLAGS);
        if (!buf) {
                snprintf(errstr, errstr_size, "document %s: cannot be serialized "
                         "(or out of memory)", id);
                return NULL;
        }
        size_t need = strlen(buf);
        if (max_bytes > 0 && need > max_bytes) {
                snprintf(errstr, errstr_size,
                         "%s %s is %zu bytes, above the limit of %zu bytes (max_document_bytes)",
                         ent, id, need, max_bytes);
                free(buf);
                return NULL;
        }
        if (len)
                *len = need;
        return buf;
}

/* ---- decoding -------------------------------------------------------------- */

/* Checks nesting: fields are scalars, except _childDocuments_ at depth 0,
 * which is an array of objects whose fields are scalars. No NUL in keys. */
static int check_shape(const json_t *obj, int depth, char *errstr,
                       size_t errstr_size)
{
        const char *key;
        size_t key_len;
        json_t *v;
        json_object_keylen_foreach((json_t *)obj, key, key_len, v) {
                if (strlen(key) != key_len) {
                        snprintf(errstr, errstr_size, "field name contains a NUL byte");
                        return -1;
                }
                if (json_is_object(v) || json_is_array(v)) {
                        if (depth > 0 || strcmp(key, CS_F_CHILDREN) != 0 ||
                            !json_is_array(v)) {
                                snprintf(errstr, errstr_size,
                                         "field %s: nested %s not allowed (documents are flat)",
                                         key, json_type_name(v));
                                return -1;
                        }
                        size_t i;
                        json_t *c;
                        json_array_foreach(v, i, c) {
                                if (!json_is_object(c)) {
                                        snprintf(errstr, errstr_size,
                                                 "%s[%zu]: expected object, got %s",
                                                 CS_F_CHILDREN, i, json_type_name(c));
                                        return -1;
                                }
                                if (check_shape(c, depth + 1, errstr, errstr_size))
                                        return -1;
                        }
                }
        }
        return 0;
}

/* max_bytes == 0 means no limit. */
json_t *cs_doc_parse(const char *buf, size_t len, size_t max_bytes,
                     char *errstr, size_t errstr_size)
{
        json_error_t jerr;
        if (!buf || len == 0) {
                snprintf(errstr, errstr_size, "empty document");
                return NULL;
        }
        if (max_bytes > 0 && len > max_bytes) {
                snprintf(errstr, errstr_size,
                         "document of %zu bytes exceeds the limit of %zu bytes", len,
                         max_bytes);
                return NULL;
        }
        json_t *doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
        if (!doc) {
                snprintf(errstr, errstr_size, "invalid JSON at line %d column %d: %s",
                         jerr.line, jerr.column, jerr.text);
                return NULL;
        }
        if (!json_is_object(doc)) {
                snprintf(errstr, errstr_size, "document is a JSON %s, not an object",
                         json_type_name(doc));
                json_decref(doc);
                return NULL;
        }
        if (check_shape(doc, 0, errstr, errstr_size)) {
                json_decref(doc);
                return NULL;
        }
        return doc;
}

/* Reads an integer field; -1 with errstr when absent or not an integer. */
static int get_int(const json_t *doc, const char *field, const char *id,
                   long long *out, char *errstr, size_t errstr_size)
{
        json_t *v = json_object_get(doc, field); /* BORROWED */
        if (!json_is_integer(v)) {
                snprintf(errstr, errstr_size, "document %s: %s must be an integer (got %s)",
                         id, field, v ? json_type_name(v) : "nothing");
                return -1;
        }
        *out = json_integer_value(v);
        return 0;
}

static const char *get_str(const json_t *doc, const char *field)
{
        json_t *v = json_object_get(doc, field); /* BORROWED */
        return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The envelope every document carries, control or entity, nested or not:
 * format CS_DOC_FORMAT_VERSION and a valid prefix (*prefix: BORROWED from
 * doc). id names the document in errstr. 0, or -1 with errstr. */
static int check_envelope(const json_t *doc, const char *id, const char **prefix,
                          char *errstr, size_t errstr_size)
{
        long long fmt;
        if (get_int(doc, CS_F_FORMAT, id, &fmt, errstr, errstr_size))
                return -1;
        if (fmt != CS_DOC_FORMAT_VERSION) {
                snprintf(errstr, errstr_size, "document %s: format %lld is not supported (%d)",
                         id, fmt, CS_DOC_FORMAT_VERSION);
                return -1;
        }
        *prefix = get_str(doc, CS_F_PREFIX);
        if (!*prefix || !cs_prefix_valid(*prefix)) {
                snprintf(errstr, errstr_size, "document %s: missing or invalid %s", id,
                         CS_F_PREFIX);
                return -1;
        }
        return 0;
}

/* 1 if key is one of the envelope's fields (check_envelope, and the id and
 * entity every document has). */
static int envelope_field(const char *key)
{
        return !strcmp(key, "id") || !strcmp(key, CS_F_FORMAT) ||
               !strcmp(key, CS_F_PREFIX) || !strcmp(key, CS_F_ENTITY);
}

static int inspect_control(const json_t *doc, const char *id, const char *prefix,
                           int is_end, cs_doc_info_t *info, char *errstr,
                           size_t errstr_size)
{
        char want[CS_DOC_ID_MAX + 1];
        long long g, p, n;
        if (cs_doc_control_id(want, sizeof(want), prefix) || strcmp(want, id) != 0) {
                snprintf(errstr, errstr_size,
                         "control document %s: id must be \"%s/" CONTROL_TABLE "\"", id,
                         prefix);
                return -1;
        }
        if (get_int(doc, CS_F_GENERATION, id, &g, errstr, errstr_size) ||
            get_int(doc, CS_F_PARTITION, id, &p, errstr, errstr_size) ||
            get_int(doc, CS_F_PARTITIONS, id, &n, errstr, errstr_size))
                return -1;
        if (g < 1) {
                snprintf(errstr, errstr_size, "control document %s: generation %lld must be > 0",
                         id, g);
                return -1;
        }
        if (n < 1 || n > 1000000 || p < 0 || p >= n) {
                snprintf(errstr, errstr_size,
                         "control document %s: partition %lld of %lld out of range", id, p, n);
                return -1;
        }
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)doc, key, v) {
                if (envelope_field(key) || !strcmp(key, CS_F_GENERATION) ||
                    !strcmp(key, CS_F_PARTITION) || !strcmp(key, CS_F_PARTITIONS))
                        continue;
                size_t cpl = strlen(CS_F_COUNT_PFX);
                if (is_end && strncmp(key, CS_F_COUNT_PFX, cpl) == 0) {
                        if (!cs_reg_by_name(key + cpl)) {
                                snprintf(errstr, errstr_size,
                                         "control document %s: %s names an unknown entity",
                                         id, key);
                                return -1;
                        }
                        if (!json_is_integer(v) || json_integer_value(v) < 0) {
                                snprintf(errstr, errstr_size,
                                         "control document %s: %s must be an integer >= 0",
                                         id, key);
                                return -1;
                        }
                        continue;
                }
                snprintf(errstr, errstr_size, "control document %s: unexpected field %s", id,
                         key);
                return -1;
        }
        info->kind = is_end ? CS_DOC_KIND_END : CS_DOC_KIND_RESET;
        info->generation = g;
        info->partition = (int)p;
        info->partition_count = (int)n;
        return 0;
}

/* Validates one entity document. root is NULL for a top-level document,
 * else the root entity of the document it is nested in. unknown (size
 * CS_DOC_ENTITY_NAME_MAX) gets the entity name of a nested document that
 * names an unknown entity. */
static int inspect_entity(const json_t *doc, const char *want_prefix,
                          const cs_entity_t *root, long long root_id,
                          const cs_entity_t **ent_out, long long *child_id_out,
                          const char **tz_out, char *unknown, char *errstr,
                          size_t errstr_size)
{
        const char *id = get_str(doc, "id");
        if (!id) {
                snprintf(errstr, errstr_size, "%sdocument without a string id",
                         root ? "nested " : "");
                return -1;
        }
        long long cid;
        const char *prefix;
        if (check_envelope(doc, id, &prefix, errstr, errstr_size))
                return -1;
        if (want_prefix && strcmp(prefix, want_prefix) != 0) {
                snprintf(errstr, errstr_size, "document %s: prefix %s differs from its root's %s",
                         id, prefix, want_prefix);
                return -1;
        }
        const char *ename = get_str(doc, CS_F_ENTITY);
        const cs_entity_t *ent = cs_reg_by_name(ename);
        if (!ent) {
                snprintf(errstr, errstr_size, "document %s: unknown entity %s", id,
                         ename ? ename : "(missing)");
                if (root && ename && strlen(ename) < CS_DOC_ENTITY_NAME_MAX)
                        snprintf(unknown, CS_DOC_ENTITY_NAME_MAX, "%s", ename);
                return -1;
        }
        if (!root && ent->parent) {
                snprintf(errstr, errstr_size,
                         "document %s: entity %s is only sent nested in its %s document", id,
                         ent->name, ent->parent);
                return -1;
        }
        if (root && (!ent->parent || strcmp(ent->parent, root->name) != 0)) {
                snprintf(errstr, errstr_size,
                         "document %s: entity %s cannot be nested in a %s document", id,
                         ent->name, root->name);
                return -1;
        }
        const char *table = get_str(doc, CS_F_TABLE);
        if (!table || strcmp(table, ent->table) != 0) {
                snprintf(errstr, errstr_size, "document %s: %s must be %s", id, CS_F_TABLE,
                         ent->table);
                return -1;
        }
        if (get_int(doc, CS_F_CHILD_ID, id, &cid, errstr, errstr_size))
                return -1;
        if (cid < 1) {
                snprintf(errstr, errstr_size, "document %s: child id %lld must be >= 1", id, cid);
                return -1;
        }
        char want[CS_DOC_ID_MAX + 1];
        if (cs_doc_id(want, sizeof(want), prefix, ent->table, cid) || strcmp(want, id) != 0) {
                snprintf(errstr, errstr_size,
                         "document %s: id does not match prefix/table/child id (%s/%s/%lld)",
                         id, prefix, ent->table, cid);
                return -1;
        }
        json_t *tz = json_object_get(doc, CS_F_TIME_ZONE); /* BORROWED */
        if (!tz || !(json_is_string(tz) || json_is_null(tz))) {
                snprintf(errstr, errstr_size, "document %s: %s must be a string or null", id,
                         CS_F_TIME_ZONE);
                return -1;
        }
        if (root && cs_reg_parent_via(ent)) {
                /* Names a row nested beside it (checked by the caller). */
                json_t *pv = json_object_get(doc, ent->parent_column); /* BORROWED */
                if (!json_is_integer(pv) || json_integer_value(pv) < 1) {
                        snprintf(errstr, errstr_size,
                                 "document %s: %s must be the child id of its %s", id,
                                 ent->parent_column, cs_reg_parent_via(ent)->name);
                        return -1;
                }
        } else if (root) {
                json_t *pv = json_object_get(doc, ent->parent_column); /* BORROWED */
                if (!json_is_integer(pv) || json_integer_value(pv) != root_id) {
                        snprintf(errstr, errstr_size,
                                 "document %s: %s must equal its root's child id %lld", id,
                                 ent->parent_column, root_id);
                        return -1;
                }
        }
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)doc, key, v) {
                /* Every envelope and reserved field (CS_F_*, "id") starts
                 * with 'c', 'i' or '_': any other field is a column, and
                 * only its type is checked (most fields of a document). */
                if (key[0] != 'c' && key[0] != 'i' && key[0] != '_')
                        goto column;
                if (envelope_field(key) || !strcmp(key, CS_F_TABLE) ||
                    !strcmp(key, CS_F_CHILD_ID) || !strcmp(key, CS_F_TIME_ZONE))
                        continue;
                if (!root && (!strcmp(key, CS_F_GATE_RUN) ||
                              !strcmp(key, CS_F_GATE_DOCS)))
                        continue;       /* cs_doc_gate_read checks them */
                if (!strcmp(key, CS_F_CHILDREN)) {
                        if (root) {
                                snprintf(errstr, errstr_size,
                                         "document %s: nested documents cannot have children", id);
                                return -1;
                        }
                        if (!json_is_array(v) || json_array_size(v) == 0) {
                                snprintf(errstr, errstr_size,
                                         "document %s: %s must be a non-empty array (omit it when empty)",
                                         id, CS_F_CHILDREN);
                                return -1;
                        }
                        size_t i;
                        json_t *c;
                        json_array_foreach(v, i, c) {
                                const cs_entity_t *ce;
                                long long ccid;
                                const char *ctz;
                                if (!json_is_object(c)) {
                                        snprintf(errstr, errstr_size,
                                                 "document %s: %s[%zu] is not an object", id,
                                                 CS_F_CHILDREN, i);
                                        return -1;
                                }
                                if (inspect_entity(c, prefix, ent, cid, &ce, &ccid, &ctz,
                                                   unknown, errstr, errstr_size))
                                        return -1;
                        }
                        if (cs_doc_check_via_rows(v, id, errstr, errstr_size))
                                return -1;
                        continue;
                }
                if (!root && ent == cs_reg_file_entity() &&
                    (!strcmp(key, CS_F_FILE_STATUS) || !strcmp(key, CS_F_FILE_SIZE) ||
                     !strcmp(key, CS_F_FILE_CONTENT))) {
                        /* A file document's bytes and their status (§20). */
                        int ok = !strcmp(key, CS_F_FILE_SIZE) ?
                                 json_is_integer(v) && json_integer_value(v) >= 0 :
                                 json_is_string(v);
                        if (!ok) {
                                snprintf(errstr, errstr_size, "document %s: %s holds a %s",
                                         id, key, json_type_name(v));
                                return -1;
                        }
                        continue;
                }
                if (cs_doc_field_reserved(key)) {
                        snprintf(errstr, errstr_size, "document %s: unexpected reserved field %s",
                                 id, key);
                        return -1;
                }
column:
                if (!(json_is_string(v) || json_is_integer(v) || json_is_real(v) ||
                      json_is_null(v))) {
                        snprintf(errstr, errstr_size,
                                 "document %s: field %s holds a %s (only strings, numbers and null)",
                                 id, key, json_type_name(v));
                        return -1;
                }
        }
        *ent_out = ent;
        *child_id_out = cid;
        *tz_out = json_is_string(tz) ? json_string_value(tz) : NULL;
        return 0;
}

int cs_doc_inspect(const json_t *doc, const char *key, size_t key_len,
                   cs_doc_info_t *info, char *errstr, size_t errstr_size)
{
        memset(info, 0, sizeof(*info));
        if (!json_is_object(doc)) {
                snprintf(errstr, errstr_size, "document is not an object");
                return -1;
        }
        const char *id = get_str(doc, "id");
        if (!id) {
                snprintf(errstr, errstr_size, "document without a string id");
                return -1;
        }
        size_t id_len = json_string_length(json_object_get(doc, "id"));
        if (id_len > CS_DOC_ID_MAX || strlen(id) != id_len) {
                snprintf(errstr, errstr_size, "document id too long or contains NUL");
                return -1;
        }
        if (key && (key_len != id_len || memcmp(key, id, id_len) != 0)) {
                char shown[CS_DOC_ID_MAX + 1];
                copy_z(shown, sizeof(shown), key, key_len);
                snprintf(errstr, errstr_size, "document %s arrived under key %s%s", id, shown,
                         key_len > CS_DOC_ID_MAX ? "..." : "");
                return -1;
        }
        const char *prefix;
        if (check_envelope(doc, id, &prefix, errstr, errstr_size))
                return -1;
        snprintf(info->prefix, sizeof(info->prefix), "%s", prefix);
        const char *ename = get_str(doc, CS_F_ENTITY);
        if (ename && (!strcmp(ename, CS_ENTITY_RESET) || !strcmp(ename, CS_ENTITY_END)))
                return inspect_control(doc, id, prefix, !strcmp(ename, CS_ENTITY_END), info,
                                       errstr, errstr_size);
        info->kind = CS_DOC_KIND_ENTITY;
        if (cs_doc_gate_read(doc, id, &info->gate_run, &info->gate_docs, errstr,
                             errstr_size))
                return -1;
        return inspect_entity(doc, NULL, NULL, 0, &info->entity, &info->child_id,
                              &info->time_zone, info->unknown_nested, errstr,
                              errstr_size);
}

/* ---- values for the master ------------------------------------------------- */

int cs_doc_value_to_db(const json_t *value, const cs_column_t *col,
                       cs_db_value_t *out, char **owned, char *errstr,
                       size_t errstr_size)
{
        const char *expected = "";
        memset(out, 0, sizeof(*out));
        *owned = NULL;
        if (!value || !col) {
                snprintf(errstr, errstr_size, "column %s: no value", col ? col->name : "?");
                return -1;
        }
        if (json_is_null(value)) {
                out->kind = CS_VAL_NULL;
                return 0;
        }
        const char *s = json_is_string(value) ? json_string_value(value) : NULL;
        size_t n = s ? json_string_length(value) : 0;

        switch (col->type) {
        case CS_COL_INT:
        case CS_COL_YEAR:
        case CS_COL_BIT:
                expected = col->type == CS_COL_INT && col->is_unsigned
                                   ? "integer or digit string"
                                   : "integer";
                if (json_is_integer(value)) {
                        if (col->type == CS_COL_BIT && json_integer_value(value) < 0)
                                break;
                        out->kind = CS_VAL_INT;
                        out->i = json_integer_value(value);
                        return 0;
                }
                if (s && (col->is_unsigned || col->type == CS_COL_BIT) && is_digits(s, n) &&
                    n <= 20) {
                        errno = 0;
                        char *end;
                        unsigned long long u = strtoull(s, &end, 10);
                        if (errno || *end || u <= (unsigned long long)INT64_MAX)
                                break; /* small values must be JSON integers */
                        if (col->type == CS_COL_BIT) {
                                unsigned char *b = malloc(8);
                                if (!b)
                                        goto oom;
                                for (int k = 0; k < 8; k++)
                                        b[k] = (unsigned char)(u >> (56 - 8 * k));
                                *owned = (char *)b;
                                out->kind = CS_VAL_BIN;
                                out->s = *owned;
                                out->len = 8;
                                return 0;
                        }
                        out->kind = CS_VAL_STR;
                        out->s = s;
                        out->len = (unsigned long)n;
                        return 0;
                }
                break;
        case CS_COL_DECIMAL:
                expected = "decimal string";
                if (s && decimal_ok(s, n)) {
                        out->kind = CS_VAL_STR;
                        out->s = s;
                        out->len = (unsigned long)n;
                        return 0;
                }
                break;
        case CS_COL_FLOAT:
                expected = "number";
                if (json_is_integer(value)) {
                        out->kind = CS_VAL_INT;
                        out->i = json_integer_value(value);
                        return 0;
                }
                if (json_is_real(value)) {
                        char *b = malloc(32);
                        if (!b)
                                goto oom;
                        snprintf(b, 32, "%.17g", json_real_value(value));
                        *owned = b;
                        out->kind = CS_VAL_STR;
                        out->s = b;
                        out->len = (unsigned long)strlen(b);
                        return 0;
                }
                break;
        case CS_COL_TEXT:
                expected = "string";
                if (s) {
                        out->kind = CS_VAL_STR;
                        out->s = s;
                        out->len = (unsigned long)n;
                        return 0;
                }
                break;
        case CS_COL_BINARY:
                expected = "base64 string";
                if (s) {
                        unsigned char *b;
                        size_t bl;
                        if (cs_b64_decode(s, n, &b, &bl) != 0)
                                break;
                        *owned = (char *)b;
                        out->kind = CS_VAL_BIN;
                        out->s = *owned;
                        out->len = (unsigned long)bl;
                        return 0;
                }
                break;
        case CS_COL_DATE:
                expected = "date string YYYY-MM-DD";
                if (s && shape_is(s, n, "dddd-dd-dd")) {
                        out->kind = CS_VAL_STR;
                        out->s = s;
                        out->len = (unsigned long)n;
                        return 0;
                }
                break;
        case CS_COL_DATETIME:
        case CS_COL_TIMESTAMP: {
                int ts = col->type == CS_COL_TIMESTAMP;
                expected = ts ? "timestamp string YYYY-MM-DDTHH:MM:SS[.ffffff]Z"
                              : "datetime string YYYY-MM-DDTHH:MM:SS[.ffffff]";
                if (!s)
                        break;
                if (shape_is(s, n, "dddd-dd-dd")) {
                        /* An older child schema has a DATE where the master
                         * has a DATETIME/TIMESTAMP (4.2's note.modified_date):
                         * the date at midnight. */
                        char *d = malloc(n + 10);
                        if (!d)
                                goto oom;
                        memcpy(d, s, n);
                        memcpy(d + n, " 00:00:00", 10);
                        *owned = d;
                        out->kind = CS_VAL_STR;
                        out->s = d;
                        out->len = (unsigned long)(n + 9);
                        return 0;
                }
                size_t m = n;
                if (ts) {
                        if (m == 0 || s[m - 1] != 'Z')
                                break;
                        m--;
                }
                if (!datetime_ok(s, m, 'T'))
                        break;
                char *b = malloc(m + 1);
                if (!b)
                        goto oom;
                memcpy(b, s, m);
                b[10] = ' ';
                b[m] = '\0';
                *owned = b;
                out->kind = CS_VAL_STR;
                out->s = b;
                out->len = (unsigned long)m;
                return 0;
        }
        case CS_COL_TIME:
                expected = "time string [-]HH:MM:SS[.ffffff]";
                if (s && time_ok(s, n)) {
                        out->kind = CS_VAL_STR;
                        out->s = s;
                        out->len = (unsigned long)n;
                        return 0;
                }
                break;
        }
        snprintf(errstr, errstr_size, "column %s (%s): expected %s, got %s%s", col->name,
                 cs_schema_type_name(col->type), expected, json_type_name(value),
                 s ? " with a bad shape" : "");
        return -1;
oom:
        snprintf(errstr, errstr_size, "column %s: out of memory", col->name);
        return -1;
}
