/* test_doc.c — encode/decode round trips, determinism and golden documents for doc.c (envelope validation and decoding: test_doc_decode.c). */
#include <check.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doc.h"
#include "jsonschema.h"
#include "registry.h"
#include "schema.h"
#include "suites.h"

#define SCHEMA_PATH "docs/civisync-document.schema.json"
#define GOLDEN_DIR "tests/unit/golden/"
#define PFX "P1"
#define TZ "America/New_York"
#define MAXCOLS 96

/* Column specs copied from the 5.39 DDL (name:type, "!" = NOT NULL).
 * Types: u unsigned int, i int, t text, f double, d decimal, b binary,
 * D date, T datetime, S timestamp, H time, Y year, B bit. */
static const struct {
        const char *table;
        const char *spec;
} specs[] = {
        /* phase 1 and phase 2 */
#include "doc_specs_core.h"
        /* phase 3a: CiviContribute */
#include "doc_specs_contribute.h"
        /* phase 3c: campaigns, surveys, grants, cases, mailings */
#include "doc_specs_campaign.h"
        /* phase 3b: CiviEvent, CiviMember */
#include "doc_specs_event.h"
};

static cs_col_type_t code_type(char c, int *is_unsigned)
{
        *is_unsigned = c == 'u';
        switch (c) {
        case 'u': case 'i': return CS_COL_INT;
        case 't': return CS_COL_TEXT;
        case 'f': return CS_COL_FLOAT;
        case 'd': return CS_COL_DECIMAL;
        case 'b': return CS_COL_BINARY;
        case 'D': return CS_COL_DATE;
        case 'T': return CS_COL_DATETIME;
        case 'S': return CS_COL_TIMESTAMP;
        case 'H': return CS_COL_TIME;
        case 'Y': return CS_COL_YEAR;
        case 'B': return CS_COL_BIT;
        }
        ck_abort_msg("bad type code %c", c);
        return CS_COL_TEXT;
}

/* Builds a cs_table_t from a spec (free with cs_schema_free + free). */
static cs_table_t *table_from_spec(const char *name, const char *spec)
{
        cs_table_t *t = calloc(1, sizeof(*t));
        ck_assert_ptr_nonnull(t);
        t->name = strdup(name);
        t->cols = calloc(MAXCOLS, sizeof(cs_column_t));
        char *dup = strdup(spec), *save = NULL;
        for (char *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                char *colon = strchr(tok, ':');
                ck_assert_ptr_nonnull(colon);
                *colon = '\0';
                ck_assert_uint_lt(t->col_cnt, MAXCOLS);
                cs_column_t *c = &t->cols[t->col_cnt++];
                c->name = strdup(tok);
                c->type = code_type(colon[1], &c->is_unsigned);
                c->nullable = colon[2] != '!';
                c->auto_increment = strcmp(tok, "id") == 0;
        }
        free(dup);
        return t;
}

static cs_table_t *table_new(const char *table)
{
        for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
                if (strcmp(specs[i].table, table) == 0)
                        return table_from_spec(table, specs[i].spec);
        ck_abort_msg("no spec for %s", table);
        return NULL;
}

static void table_del(cs_table_t *t)
{
        cs_schema_free(t);
        free(t);
}

typedef struct {
        const cs_table_t *tbl;
        char *vals[MAXCOLS];
        unsigned long lens[MAXCOLS];
        char idbuf[32], parentbuf[32];
        char bufs[MAXCOLS][32];
} row_t;

static void row_init(row_t *r, const cs_table_t *tbl)
{
        memset(r, 0, sizeof(*r));
        r->tbl = tbl;
}

static void row_setn(row_t *r, const char *col, const char *v, size_t n)
{
        int i = cs_schema_col_index(r->tbl, col);
        ck_assert_msg(i >= 0, "no column %s in %s", col, r->tbl->name);
        r->vals[i] = (char *)v;
        r->lens[i] = v ? (unsigned long)n : 0;
}

static void row_set(row_t *r, const char *col, const char *v)
{
        row_setn(r, col, v, v ? strlen(v) : 0);
}

/* Sets every column in order from an array (NULL = SQL NULL). */
static void row_all(row_t *r, const char *const *v, size_t n)
{
        ck_assert_uint_eq(n, r->tbl->col_cnt);
        for (size_t i = 0; i < n; i++) {
                r->vals[i] = (char *)v[i];
                r->lens[i] = v[i] ? (unsigned long)strlen(v[i]) : 0;
        }
}

static json_t *encode(const char *entity, row_t *r)
{
        char err[512] = "";
        const cs_entity_t *e = cs_reg_by_name(entity);
        ck_assert_ptr_nonnull(e);
        json_t *d = cs_doc_from_row(e, r->tbl, PFX, TZ, r->vals, r->lens, err, sizeof(err));
        ck_assert_msg(d != NULL, "encode %s: %s", entity, err);
        return d;
}

static char *dump(const json_t *d, size_t *len)
{
        char err[512] = "";
        char *s = cs_doc_dump(d, 1000000, len, err, sizeof(err));
        ck_assert_msg(s != NULL, "dump: %s", err);
        return s;
}

static json_t *schema;

static void schema_load(void)
{
        json_error_t je;
        schema = json_load_file(SCHEMA_PATH, 0, &je);
        ck_assert_msg(schema != NULL, "%s: %s (run tests from the repo root)", SCHEMA_PATH,
                      je.text);
}

static void schema_unload(void)
{
        json_decref(schema);
        schema = NULL;
}

static void assert_schema_valid(const json_t *d)
{
        char err[1024] = "";
        ck_assert_msg(jsv_validate(schema, d, err, sizeof(err)) == 0, "schema: %s", err);
}

/* dump -> parse -> inspect (with the key) -> back to the same bytes */
static json_t *wire_roundtrip(const json_t *d, cs_doc_info_t *info)
{
        size_t len, len2;
        char err[512] = "";
        char *s = dump(d, &len);
        json_t *p = cs_doc_parse(s, len, 1000000, err, sizeof(err));
        ck_assert_msg(p != NULL, "parse: %s", err);
        const char *id = json_string_value(json_object_get(p, "id"));
        ck_assert_msg(cs_doc_inspect(p, id, strlen(id), info, err, sizeof(err)) == 0,
                      "inspect: %s", err);
        char *s2 = dump(p, &len2);
        ck_assert_uint_eq(len, len2);
        ck_assert_msg(memcmp(s, s2, len) == 0, "re-serialization differs");
        free(s);
        free(s2);
        return p;
}

/* Checks that every column of r comes back from doc as the same value. */
static void assert_values_back(const json_t *doc, row_t *r, const cs_entity_t *e)
{
        char err[512];
        for (size_t i = 0; i < r->tbl->col_cnt; i++) {
                const cs_column_t *c = &r->tbl->cols[i];
                json_t *v = json_object_get(doc, c->name);
                if (!strcmp(c->name, "id")) { /* carried as civisync_child_id */
                        ck_assert(json_is_string(v));
                        ck_assert_int_eq(json_integer_value(json_object_get(doc, CS_F_CHILD_ID)),
                                         strtoll(r->vals[i], NULL, 10));
                        continue;
                }
                if (cs_reg_col_policy(e, c->name) == CS_COL_OMIT) {
                        ck_assert_msg(v == NULL, "omitted column %s present", c->name);
                        continue;
                }
                ck_assert_msg(v != NULL, "column %s missing", c->name);
                cs_db_value_t dv;
                char *owned = NULL;
                ck_assert_msg(cs_doc_value_to_db(v, c, &dv, &owned, err, sizeof(err)) == 0,
                              "value_to_db %s: %s", c->name, err);
                if (!r->vals[i]) {
                        ck_assert_int_eq(dv.kind, CS_VAL_NULL);
                } else if ((c->type == CS_COL_INT || c->type == CS_COL_YEAR) && dv.kind == CS_VAL_INT) {
                        char b[32];
                        snprintf(b, sizeof(b), "%lld", dv.i);
                        ck_assert_str_eq(b, r->vals[i]);
                } else if (c->type == CS_COL_FLOAT) {
                        ck_assert_int_eq(dv.kind, CS_VAL_STR);
                        ck_assert(strtod(dv.s, NULL) == strtod(r->vals[i], NULL));
                } else if (c->type == CS_COL_BIT) {
                        ck_assert(dv.kind == CS_VAL_INT || dv.kind == CS_VAL_BIN);
                } else {
                        ck_assert_msg(dv.kind == CS_VAL_STR || dv.kind == CS_VAL_BIN,
                                      "column %s kind %d", c->name, dv.kind);
                        ck_assert_uint_eq(dv.len, r->lens[i]);
                        ck_assert_msg(memcmp(dv.s, r->vals[i], dv.len) == 0,
                                      "column %s differs", c->name);
                }
                free(owned);
        }
}

/* A representative text value for every column type. */
static const char *sample_value(const cs_column_t *c, size_t i, char buf[][32])
{
        switch (c->type) {
        case CS_COL_INT:
                snprintf(buf[i], sizeof(buf[i]), "%s%zu", c->is_unsigned ? "" : "-", i + 3);
                return buf[i];
        case CS_COL_FLOAT: return "40.712776";
        case CS_COL_DECIMAL: return "1234567890123456789.99";
        case CS_COL_DATE: return "2021-06-04";
        case CS_COL_DATETIME: return "2021-06-04 23:59:58";
        case CS_COL_TIMESTAMP: return "2021-06-05 03:17:26";
        case CS_COL_TIME: return "838:59:59";
        case CS_COL_YEAR: return "2021";
        case CS_COL_TEXT: return i % 2 ? "\x01" "1\x01" "2\x01" : "Zoë \"q\" \\ عربى 🎉";
        default: return NULL;
        }
}

static void fill_row(row_t *r, long long id, const char *parent_col, long long parent_id)
{
        for (size_t i = 0; i < r->tbl->col_cnt; i++) {
                const char *v = sample_value(&r->tbl->cols[i], i, r->bufs);
                if (i % 5 == 4 && r->tbl->cols[i].nullable)
                        v = NULL; /* some NULLs */
                r->vals[i] = (char *)v;
                r->lens[i] = v ? (unsigned long)strlen(v) : 0;
        }
        snprintf(r->idbuf, sizeof(r->idbuf), "%lld", id);
        row_set(r, "id", r->idbuf);
        if (parent_col) {
                snprintf(r->parentbuf, sizeof(r->parentbuf), "%lld", parent_id);
                row_set(r, parent_col, r->parentbuf);
        }
}

START_TEST(roundtrip_every_entity)
{
        size_t n;
        const cs_entity_t *ents = cs_reg_entities(&n);
        size_t tables = 0;
        /* one spec per table: a table may be read by two entities (views) */
        for (size_t k = 0; k < n; k++)
                tables += cs_reg_by_table(ents[k].table) == &ents[k];
        ck_assert_uint_eq(tables, sizeof(specs) / sizeof(specs[0]));
        schema_load();
        for (size_t k = 0; k < n; k++) {
                const cs_entity_t *e = &ents[k];
                cs_table_t *t = table_new(e->table);
                row_t r;
                row_init(&r, t);
                json_t *doc, *child = NULL;
                cs_table_t *rt = NULL;
                row_t rr;
                if (e->parent) {
                        const cs_entity_t *root = cs_reg_by_name(e->parent);
                        rt = table_new(root->table);
                        row_init(&rr, rt);
                        fill_row(&rr, 77, NULL, 0);
                        fill_row(&r, 4242, e->parent_column, 77);
                        doc = encode(root->name, &rr);
                        child = encode(e->name, &r);
                        json_incref(child);
                        ck_assert_int_eq(cs_doc_add_child(doc, child), 0);
                } else {
                        fill_row(&r, 4242, NULL, 0);
                        doc = encode(e->name, &r);
                }
                assert_schema_valid(doc);
                cs_doc_info_t info;
                json_t *p = wire_roundtrip(doc, &info);
                ck_assert_int_eq(info.kind, CS_DOC_KIND_ENTITY);
                ck_assert_str_eq(info.prefix, PFX);
                ck_assert_str_eq(info.time_zone, TZ);
                if (e->parent) {
                        ck_assert_str_eq(info.entity->name, e->parent);
                        ck_assert_int_eq(info.child_id, 77);
                        json_t *pc = json_array_get(json_object_get(p, CS_F_CHILDREN), 0);
                        ck_assert_ptr_nonnull(pc);
                        ck_assert_str_eq(json_string_value(json_object_get(pc, CS_F_ENTITY)),
                                         e->name);
                        assert_values_back(pc, &r, e);
                        assert_values_back(p, &rr, info.entity);
                        json_decref(child);
                        table_del(rt);
                } else {
                        ck_assert_ptr_eq(info.entity, e);
                        ck_assert_int_eq(info.child_id, 4242);
                        assert_values_back(p, &r, e);
                }
                json_decref(p);
                json_decref(doc);
                table_del(t);
        }
        schema_unload();
}
END_TEST

/* A synthetic civicrm_contact with every column type and ugly values. */
#define UGLY_SPEC                                                              \
        "id:u!,first_name:t,last_name:t,nick_name:t,source:t,job_title:t,"     \
        "contact_sub_type:t,legal_name:t,s64:i,u64:u,d:d,bin:b,zd:D,zdt:T,"    \
        "zts:S,tm:H,yr:Y,bt:B,fl:f,fl2:f,nul:t,api_key:t"

START_TEST(ugly_values_roundtrip)
{
        static const char nul_text[] = "a\0b\0";
        unsigned char bytes[256];
        for (int i = 0; i < 256; i++)
                bytes[i] = (unsigned char)i;
        cs_table_t *t = table_from_spec("civicrm_contact", UGLY_SPEC);
        row_t r;
        row_init(&r, t);
        row_set(&r, "id", "9");
        row_set(&r, "first_name", "😀🎉 emoji 𝄞");
        row_set(&r, "last_name", "עברית العربية \u200f RTL");
        row_set(&r, "nick_name", "ctl \x01\x02\x1f\x7f\t\r\n end");
        row_set(&r, "source", "quotes \" ' and \\ backslash \\\" /slash/ </script>");
        row_set(&r, "job_title", "");
        row_set(&r, "contact_sub_type", "\x01Student\x01Parent\x01");
        row_set(&r, "legal_name", "Ǆemal Čačak — ½ ∞");
        row_set(&r, "s64", "-9223372036854775808");
        row_set(&r, "u64", "18446744073709551615");
        row_set(&r, "d", "-12345678901234567890123456789012345.123456789012345678901234567890");
        row_setn(&r, "bin", (const char *)bytes, sizeof(bytes));
        row_set(&r, "zd", "0000-00-00");
        row_set(&r, "zdt", "0000-00-00 00:00:00");
        row_set(&r, "zts", "2038-01-19 03:14:07.999999");
        row_set(&r, "tm", "-838:59:59.000001");
        row_set(&r, "yr", "1901");
        row_setn(&r, "bt", "\x81\x00", 2);
        row_set(&r, "fl", "0.1");
        row_set(&r, "fl2", "-1.7976931348623157e308");
        row_setn(&r, "nul", nul_text, 4);
        row_set(&r, "api_key", "secret-never-leaves");
        json_t *d = encode("contact", &r);

        ck_assert_ptr_null(json_object_get(d, "api_key"));
        ck_assert_int_eq(json_integer_value(json_object_get(d, "s64")), INT64_MIN);
        ck_assert_str_eq(json_string_value(json_object_get(d, "u64")), "18446744073709551615");
        ck_assert_str_eq(json_string_value(json_object_get(d, "zd")), "0000-00-00");
        ck_assert_str_eq(json_string_value(json_object_get(d, "zdt")), "0000-00-00T00:00:00");
        ck_assert_str_eq(json_string_value(json_object_get(d, "zts")),
                         "2038-01-19T03:14:07.999999Z");
        ck_assert_int_eq(json_integer_value(json_object_get(d, "yr")), 1901);
        ck_assert_int_eq(json_integer_value(json_object_get(d, "bt")), 0x8100);
        ck_assert_uint_eq(json_string_length(json_object_get(d, "nul")), 4);
        schema_load();
        assert_schema_valid(d);
        schema_unload();

        size_t len;
        char *s = dump(d, &len);
        /* UTF-8 stays UTF-8; control characters are escaped */
        ck_assert_ptr_nonnull(strstr(s, "😀🎉"));
        ck_assert_ptr_nonnull(strstr(s, "\\u0001Student\\u0001Parent\\u0001"));
        ck_assert_ptr_nonnull(strstr(s, "a\\u0000b\\u0000"));
        ck_assert_ptr_null(memchr(s, '\n', len));
        free(s);

        cs_doc_info_t info;
        json_t *p = wire_roundtrip(d, &info);
        assert_values_back(p, &r, cs_reg_by_name("contact"));
        /* exact checks for the special kinds */
        char err[256], *owned;
        cs_db_value_t v;
        const cs_column_t *c = &t->cols[cs_schema_col_index(t, "u64")];
        ck_assert_int_eq(cs_doc_value_to_db(json_object_get(p, "u64"), c, &v, &owned, err, sizeof(err)), 0);
        ck_assert_int_eq(v.kind, CS_VAL_STR);
        ck_assert_uint_eq(v.len, 20);
        ck_assert(memcmp(v.s, "18446744073709551615", 20) == 0);
        free(owned);
        c = &t->cols[cs_schema_col_index(t, "bin")];
        ck_assert_int_eq(cs_doc_value_to_db(json_object_get(p, "bin"), c, &v, &owned, err, sizeof(err)), 0);
        ck_assert_int_eq(v.kind, CS_VAL_BIN);
        ck_assert_uint_eq(v.len, 256);
        ck_assert(memcmp(v.s, bytes, 256) == 0);
        free(owned);
        c = &t->cols[cs_schema_col_index(t, "zts")];
        ck_assert_int_eq(cs_doc_value_to_db(json_object_get(p, "zts"), c, &v, &owned, err, sizeof(err)), 0);
        ck_assert_int_eq(v.kind, CS_VAL_STR);
        ck_assert_str_eq(owned, "2038-01-19 03:14:07.999999");
        free(owned);
        c = &t->cols[cs_schema_col_index(t, "bt")];
        ck_assert_int_eq(cs_doc_value_to_db(json_object_get(p, "bt"), c, &v, &owned, err, sizeof(err)), 0);
        ck_assert_int_eq(v.kind, CS_VAL_INT);
        ck_assert_int_eq(v.i, 0x8100);
        free(owned);
        json_decref(p);
        json_decref(d);
        table_del(t);
}
END_TEST

START_TEST(int_edges)
{
        cs_table_t *t = table_from_spec("civicrm_tag", "id:u!,a:i,b:i,u:u,bt:B");
        row_t r;
        char err[512];
        const cs_entity_t *e = cs_reg_by_name("tag");
        row_init(&r, t);
        row_set(&r, "id", "1");
        row_set(&r, "a", "9223372036854775807");
        row_set(&r, "b", "-9223372036854775808");
        row_set(&r, "u", "9223372036854775808");
        row_setn(&r, "bt", "\xff\xff\xff\xff\xff\xff\xff\xff", 8);
        json_t *d = encode("tag", &r);
        ck_assert(json_integer_value(json_object_get(d, "a")) == INT64_MAX);
        ck_assert(json_integer_value(json_object_get(d, "b")) == INT64_MIN);
        ck_assert_str_eq(json_string_value(json_object_get(d, "u")), "9223372036854775808");
        ck_assert_str_eq(json_string_value(json_object_get(d, "bt")), "18446744073709551615");
        cs_db_value_t v;
        char *owned;
        ck_assert_int_eq(cs_doc_value_to_db(json_object_get(d, "bt"), &t->cols[4], &v, &owned, err, sizeof(err)), 0);
        ck_assert_int_eq(v.kind, CS_VAL_BIN);
        ck_assert_uint_eq(v.len, 8);
        ck_assert(memcmp(v.s, "\xff\xff\xff\xff\xff\xff\xff\xff", 8) == 0);
        free(owned);
        json_decref(d);

        /* out of range / malformed integers fail and name the column */
        static const char *const bad[][2] = {
                { "a", "9223372036854775808" }, { "b", "-9223372036854775809" },
                { "u", "18446744073709551616" }, { "u", "-1" }, { "a", "12x" },
                { "a", "" }, { "a", " 1" }, { "a", "+" },
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                row_init(&r, t);
                row_set(&r, "id", "1");
                row_set(&r, bad[i][0], bad[i][1]);
                err[0] = '\0';
                d = cs_doc_from_row(e, t, PFX, TZ, r.vals, r.lens, err, sizeof(err));
                ck_assert_msg(d == NULL, "accepted %s=%s", bad[i][0], bad[i][1]);
                ck_assert_ptr_nonnull(strstr(err, bad[i][0]));
                ck_assert_ptr_nonnull(strstr(err, "P1/civicrm_tag/1"));
        }
        table_del(t);
}
END_TEST

START_TEST(bad_values_rejected)
{
        cs_table_t *t = table_from_spec("civicrm_contact",
                                        "id:u!,first_name:t,d:d,fl:f,dt:T,ts:S,dd:D,tm:H");
        const cs_entity_t *e = cs_reg_by_name("contact");
        static const char *const bad[][2] = {
                { "first_name", "bad \xff utf8" }, { "first_name", "\xc3" },
                { "first_name", "\xed\xa0\x80 surrogate" },
                { "d", "1.2.3" }, { "d", "abc" }, { "d", "" },
                { "fl", "inf" }, { "fl", "nan" }, { "fl", "1e999" }, { "fl", "x" },
                { "dt", "2021-06-04T10:00:00" }, { "dt", "2021-6-4 10:00:00" },
                { "ts", "2021-06-04 10:00" }, { "ts", "2021-06-04 10:00:00.1234567" },
                { "dd", "20210604" }, { "tm", "1:00:00" },
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                row_t r;
                char err[512] = "";
                row_init(&r, t);
                row_set(&r, "id", "10");
                row_set(&r, bad[i][0], bad[i][1]);
                json_t *d = cs_doc_from_row(e, t, PFX, TZ, r.vals, r.lens, err, sizeof(err));
                ck_assert_msg(d == NULL, "accepted %s=%s", bad[i][0], bad[i][1]);
                ck_assert_msg(strstr(err, "contact") && strstr(err, "P1/civicrm_contact/10") &&
                              strstr(err, bad[i][0]),
                              "error does not name entity, id and column: %s", err);
        }
        /* missing/bad id, bad prefix, table mismatch */
        row_t r;
        char err[256];
        row_init(&r, t);
        ck_assert_ptr_null(cs_doc_from_row(e, t, PFX, TZ, r.vals, r.lens, err, sizeof(err)));
        row_set(&r, "id", "0");
        ck_assert_ptr_null(cs_doc_from_row(e, t, PFX, TZ, r.vals, r.lens, err, sizeof(err)));
        row_set(&r, "id", "5");
        ck_assert_ptr_null(cs_doc_from_row(e, t, "P-1", TZ, r.vals, r.lens, err, sizeof(err)));
        ck_assert_ptr_null(cs_doc_from_row(cs_reg_by_name("email"), t, PFX, TZ, r.vals, r.lens,
                                           err, sizeof(err)));
        table_del(t);
        /* a column named like a reserved field cannot be encoded */
        t = table_from_spec("civicrm_contact", "id:u!,civisync_x:t");
        row_init(&r, t);
        row_set(&r, "id", "5");
        ck_assert_ptr_null(cs_doc_from_row(e, t, PFX, TZ, r.vals, r.lens, err, sizeof(err)));
        ck_assert_ptr_nonnull(strstr(err, "reserved"));
        table_del(t);
}
END_TEST

START_TEST(determinism)
{
        cs_table_t *t = table_new("civicrm_activity");
        row_t r;
        row_init(&r, t);
        fill_row(&r, 12, NULL, 0);
        json_t *a = encode("activity", &r);
        json_t *b = encode("activity", &r);
        size_t la, lb;
        char *sa = dump(a, &la), *sb = dump(b, &lb);
        ck_assert_uint_eq(la, lb);
        ck_assert(memcmp(sa, sb, la) == 0);
        /* envelope first, in the documented order, then columns in ordinal order */
        ck_assert(strncmp(sa, "{\"id\":\"P1/civicrm_activity/12\",\"civisync_format\":1,"
                              "\"civisync_prefix\":\"P1\",\"civisync_entity\":\"activity\","
                              "\"civisync_table\":\"civicrm_activity\",\"civisync_child_id\":12,"
                              "\"civisync_time_zone\":\"America/New_York\",\"source_record_id\":",
                          strlen("{\"id\":\"P1/civicrm_activity/12\",\"civisync_format\":1,"
                                 "\"civisync_prefix\":\"P1\",\"civisync_entity\":\"activity\","
                                 "\"civisync_table\":\"civicrm_activity\",\"civisync_child_id\":12,"
                                 "\"civisync_time_zone\":\"America/New_York\",\"source_record_id\":")) == 0);
        const char *last = strstr(sa, "\"modified_date\"");
        const char *first = strstr(sa, "\"activity_type_id\"");
        ck_assert(first && last && first < last);
        free(sa);
        free(sb);
        json_decref(a);
        json_decref(b);
        table_del(t);
}
END_TEST

START_TEST(size_limit)
{
        cs_table_t *t = table_new("civicrm_contact");
        row_t r;
        row_init(&r, t);
        fill_row(&r, 10, NULL, 0);
        json_t *d = encode("contact", &r);
        size_t len;
        char err[512] = "";
        char *s = cs_doc_dump(d, 0, &len, err, sizeof(err));
        ck_assert_ptr_nonnull(s);
        free(s);
        char *ok = cs_doc_dump(d, len, &len, err, sizeof(err));
        ck_assert_ptr_nonnull(ok);
        free(ok);
        ck_assert_ptr_null(cs_doc_dump(d, len - 1, &len, err, sizeof(err)));
        ck_assert_msg(strstr(err, "contact P1/civicrm_contact/10"), "%s", err);
        char sizes[64];
        snprintf(sizes, sizeof(sizes), "%zu bytes", len);
        ck_assert_msg(strstr(err, sizes), "%s", err);
        snprintf(sizes, sizeof(sizes), "%zu bytes", len - 1);
        ck_assert_msg(strstr(err, sizes), "%s", err);
        json_decref(d);
        table_del(t);
}
END_TEST

/* ---- golden documents (real rows of the CiviCRM 5.39 demo data) ------ */

#define N NULL

static char *read_file(const char *path, size_t *len)
{
        FILE *f = fopen(path, "rb");
        if (!f)
                return NULL;
        char *buf = malloc(1 << 20);
        *len = fread(buf, 1, (1 << 20) - 1, f);
        buf[*len] = '\0';
        fclose(f);
        return buf;
}

/* Compares dump(doc)+"\n" with the golden file; CIVISYNC_UPDATE_GOLDEN=1 rewrites it. */
static void check_golden(const json_t *doc, const char *name)
{
        char path[256];
        snprintf(path, sizeof(path), GOLDEN_DIR "%s", name);
        size_t len, glen;
        char *s = dump(doc, &len);
        if (getenv("CIVISYNC_UPDATE_GOLDEN")) {
                FILE *f = fopen(path, "wb");
                ck_assert_ptr_nonnull(f);
                fwrite(s, 1, len, f);
                fputc('\n', f);
                fclose(f);
        }
        char *g = read_file(path, &glen);
        ck_assert_msg(g != NULL, "missing golden %s (run from the repo root)", path);
        ck_assert_msg(glen == len + 1 && memcmp(g, s, len) == 0 && g[len] == '\n',
                      "%s differs from the encoder output:\n%s", path, s);
        /* the golden bytes themselves parse and inspect cleanly */
        char err[512];
        cs_doc_info_t info;
        json_t *p = cs_doc_parse(g, glen - 1, 1000000, err, sizeof(err));
        ck_assert_msg(p != NULL, "%s: %s", path, err);
        ck_assert_msg(cs_doc_inspect(p, NULL, 0, &info, err, sizeof(err)) == 0, "%s: %s", path, err);
        assert_schema_valid(p);
        json_decref(p);
        free(g);
        free(s);
}

static void add_child_row(json_t *doc, const char *entity, const char *const *v, size_t n)
{
        const cs_entity_t *e = cs_reg_by_name(entity);
        cs_table_t *t = table_new(e->table);
        row_t r;
        row_init(&r, t);
        row_all(&r, v, n);
        ck_assert_int_eq(cs_doc_add_child(doc, encode(entity, &r)), 0);
        table_del(t);
}

#define ROW(...) ((const char *const[]){ __VA_ARGS__ }), \
        (sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *))

START_TEST(golden_contact)
{
        schema_load();
        cs_table_t *t = table_new("civicrm_contact");
        row_t r;
        row_init(&r, t);
        /* civicrm_contact id 10 (api_key given a value to prove it is omitted) */
        row_all(&r, ROW("10", "Individual", N, "0", "0", "0", "0", "0", "0", N, N,
                        "Samson, Kathleen", "Kathleen Samson", N, N, N, N, N, "Both",
                        "2829652278", "not-for-the-master", "Sample Data", "Kathleen", "G",
                        "Samson", N, N, N, N, "1", N, "Dear Kathleen", "1", N,
                        "Dear Kathleen", "1", N, "Kathleen Samson", N, "1", "2005-06-04",
                        "0", N, N, N, N, N, N, N, "0", "2021-06-05 03:17:23",
                        "2021-06-05 03:17:25"));
        json_t *d = encode("contact", &r);
        add_child_row(d, "email", ROW("134", "10", "1", "samson.kathleen@testmail.com", "1", "0",
                                      "0", "0", N, N, N, N));
        add_child_row(d, "email", ROW("135", "10", "1", "kathleensamson84@notmail.co.in", "0",
                                      "0", "0", "0", N, N, N, N));
        add_child_row(d, "phone", ROW("134", "10", "1", "1", "0", N, "729-7572", N, "7297572", "2"));
        add_child_row(d, "phone", ROW("135", "10", "1", "0", "0", N, "571-4977", N, "5714977", "2"));
        add_child_row(d, "address",
                      ROW("144", "10", "1", "1", "0", "723Z Pine Dr NE", "723", "Z", N, "Pine",
                          "Dr", "NE", N, N, N, N, "Conway", "1", "1039", N, "29527", N, "1228",
                          "33.801049", "-79.1148", "0", N, N, "57"));
        ck_assert_ptr_null(json_object_get(d, "api_key"));
        check_golden(d, "contact_10.json");
        json_decref(d);
        table_del(t);
        schema_unload();
}
END_TEST

START_TEST(golden_activity)
{
        schema_load();
        cs_table_t *t = table_new("civicrm_activity");
        row_t r;
        row_init(&r, t);
        row_all(&r, ROW("5", N, "9", "Subject for Tell a Friend", "2020-06-18 06:52:01", N, N, N,
                        N, N, "2", N, N, "0", N, "0", N, "1", N, N, "0", N, N, N, "0",
                        "2021-06-05 03:17:26", "2021-06-05 03:17:26"));
        json_t *d = encode("activity", &r);
        add_child_row(d, "activity_contact", ROW("5", "5", "50", "2"));
        add_child_row(d, "activity_contact", ROW("6", "5", "56", "3"));
        check_golden(d, "activity_5.json");
        json_decref(d);
        table_del(t);
        schema_unload();
}
END_TEST

START_TEST(golden_group)
{
        schema_load();
        cs_table_t *t = table_new("civicrm_group");
        row_t r;
        row_init(&r, t);
        /* civicrm_group id 1 exactly as in the demo data */
        row_all(&r, ROW("1", "Administrators", "Administrators",
                        "Contacts in this group are assigned Administrator role permissions.", N,
                        N, "1", "User and User Admin Only", N, N, N, "\x01" "1\x01", N, N, N, N,
                        "0", "0",
                        N, N, N, N));
        json_t *d = encode("group", &r);
        check_golden(d, "group_1.json");
        json_decref(d);
        /* the demo data has no nesting: group 4 with parents/children and a
         * smart-group cache added (synthetic values on a real row) */
        row_all(&r, ROW("4", "Advisory Board", "Advisory Board", N, N, "3", "1", "Public Pages",
                        " ( `civicrm_group_contact-4`.group_id IN ( 4 ) ) ",
                        "a:1:{s:15:\"civicrm_contact\";i:1;}", "a:0:{}", "\x01" "1\x01" "2\x01",
                        "2021-06-05 03:17:27", "2021-06-05 03:47:27", "1,2", "5", "0", "0",
                        "1", "1", N, N));
        d = encode("group", &r);
        check_golden(d, "group_4_nested.json");
        json_decref(d);
        table_del(t);
        schema_unload();
}
END_TEST

Suite *doc_suite(void)
{
        Suite *s = suite_create("doc");
        TCase *tc = tcase_create("encode");
        /* every registered entity (55 with phase 3c) through the schema
         * validator: about 1 s of CPU under SANITIZER=address, more than
         * Check's default 4 s on a loaded machine */
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, roundtrip_every_entity);
        tcase_add_test(tc, ugly_values_roundtrip);
        tcase_add_test(tc, int_edges);
        tcase_add_test(tc, bad_values_rejected);
        tcase_add_test(tc, determinism);
        tcase_add_test(tc, size_limit);
        suite_add_tcase(s, tc);
        tc = tcase_create("golden");
        tcase_add_test(tc, golden_contact);
        tcase_add_test(tc, golden_activity);
        tcase_add_test(tc, golden_group);
        suite_add_tcase(s, tc);
        return s;
}
