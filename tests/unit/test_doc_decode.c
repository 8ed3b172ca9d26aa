/* test_doc_decode.c — doc.c's receiving side: envelope and control-document validation, parse limits, values for the master, ids. */
#include <check.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doc.h"
#include "registry.h"
#include "schema.h"
#include "suites.h"

#define PFX "P1"

static char *dump(const json_t *d, size_t *len)
{
        char err[512] = "";
        char *s = cs_doc_dump(d, 1000000, len, err, sizeof(err));
        ck_assert_msg(s != NULL, "dump: %s", err);
        return s;
}

/* ---- inspect / parse ------------------------------------------------- */

static json_t *good_contact_doc(void)
{
        json_error_t je;
        json_t *d = json_loads(
                "{\"id\":\"P1/civicrm_contact/10\",\"civisync_format\":1,\"civisync_prefix\":\"P1\","
                "\"civisync_entity\":\"contact\",\"civisync_table\":\"civicrm_contact\","
                "\"civisync_child_id\":10,\"civisync_time_zone\":\"UTC\",\"first_name\":\"K\","
                "\"_childDocuments_\":[{\"id\":\"P1/civicrm_email/134\",\"civisync_format\":1,"
                "\"civisync_prefix\":\"P1\",\"civisync_entity\":\"email\","
                "\"civisync_table\":\"civicrm_email\",\"civisync_child_id\":134,"
                "\"civisync_time_zone\":\"UTC\",\"contact_id\":10,\"email\":\"k@x\"}]}",
                0, &je);
        ck_assert_msg(d != NULL, "%s", je.text);
        return d;
}

static void expect_inspect_fail(json_t *d, const char *key, const char *what)
{
        cs_doc_info_t info;
        char err[512] = "";
        ck_assert_msg(cs_doc_inspect(d, key, key ? strlen(key) : 0, &info, err, sizeof(err)) == -1,
                      "inspect accepted: %s", what);
        ck_assert_msg(err[0] != '\0', "no error text for %s", what);
        json_decref(d);
}

#define CHILD0(d) json_array_get(json_object_get((d), CS_F_CHILDREN), 0)

START_TEST(inspect_accepts_good)
{
        json_t *d = good_contact_doc();
        cs_doc_info_t info;
        char err[256];
        ck_assert_msg(cs_doc_inspect(d, "P1/civicrm_contact/10", 21, &info, err, sizeof(err)) == 0,
                      "%s", err);
        ck_assert_int_eq(info.kind, CS_DOC_KIND_ENTITY);
        ck_assert_str_eq(info.entity->name, "contact");
        ck_assert_int_eq(info.child_id, 10);
        ck_assert_str_eq(info.prefix, "P1");
        ck_assert_str_eq(info.time_zone, "UTC");
        ck_assert_int_eq(cs_doc_inspect(d, NULL, 0, &info, err, sizeof(err)), 0);
        json_decref(d);
}
END_TEST

START_TEST(inspect_rejects_bad_envelopes)
{
        json_t *d;
        d = good_contact_doc(); json_object_del(d, "id");
        expect_inspect_fail(d, NULL, "missing id");
        d = good_contact_doc(); json_object_set_new(d, "id", json_integer(10));
        expect_inspect_fail(d, NULL, "integer id");
        expect_inspect_fail(good_contact_doc(), "P1/civicrm_contact/11", "id != key");
        expect_inspect_fail(good_contact_doc(), "P1/civicrm_contact/10x", "key longer");
        d = good_contact_doc(); json_object_set_new(d, CS_F_PREFIX, json_string("P2"));
        expect_inspect_fail(d, NULL, "prefix mismatch with id");
        d = good_contact_doc(); json_object_set_new(d, CS_F_PREFIX, json_string("P 1"));
        expect_inspect_fail(d, NULL, "invalid prefix");
        d = good_contact_doc(); json_object_set_new(d, CS_F_ENTITY, json_string("batch"));
        expect_inspect_fail(d, NULL, "unknown entity");
        d = good_contact_doc(); json_object_set_new(d, CS_F_ENTITY, json_string("email"));
        expect_inspect_fail(d, NULL, "entity/table mismatch");
        d = good_contact_doc(); json_object_set_new(d, CS_F_TABLE, json_string("civicrm_email"));
        expect_inspect_fail(d, NULL, "table mismatch");
        d = good_contact_doc(); json_object_set_new(d, CS_F_CHILD_ID, json_integer(0));
        json_object_set_new(d, "id", json_string("P1/civicrm_contact/0"));
        expect_inspect_fail(d, NULL, "child id 0");
        d = good_contact_doc(); json_object_set_new(d, CS_F_CHILD_ID, json_integer(-10));
        json_object_set_new(d, "id", json_string("P1/civicrm_contact/-10"));
        expect_inspect_fail(d, NULL, "negative child id");
        d = good_contact_doc(); json_object_set_new(d, CS_F_CHILD_ID, json_string("10"));
        expect_inspect_fail(d, NULL, "string child id");
        d = good_contact_doc(); json_object_set_new(d, CS_F_CHILD_ID, json_integer(11));
        expect_inspect_fail(d, NULL, "child id != id");
        d = good_contact_doc(); json_object_set_new(d, CS_F_FORMAT, json_integer(2));
        expect_inspect_fail(d, NULL, "format 2");
        d = good_contact_doc(); json_object_del(d, CS_F_FORMAT);
        expect_inspect_fail(d, NULL, "missing format");
        d = good_contact_doc(); json_object_del(d, CS_F_TIME_ZONE);
        expect_inspect_fail(d, NULL, "missing time zone");
        d = good_contact_doc(); json_object_set_new(d, "civisync_extra", json_integer(1));
        expect_inspect_fail(d, NULL, "unknown reserved field");
        d = good_contact_doc(); json_object_set_new(d, "first_name", json_true());
        expect_inspect_fail(d, NULL, "boolean value");
        d = good_contact_doc(); json_object_set_new(d, CS_F_CHILDREN, json_array());
        expect_inspect_fail(d, NULL, "empty children");
        /* nested documents */
        d = good_contact_doc();
        json_object_set_new(CHILD0(d), CS_F_ENTITY, json_string("activity_contact"));
        json_object_set_new(CHILD0(d), CS_F_TABLE, json_string("civicrm_activity_contact"));
        json_object_set_new(CHILD0(d), "id", json_string("P1/civicrm_activity_contact/134"));
        expect_inspect_fail(d, NULL, "nested child of the wrong root");
        d = good_contact_doc();
        json_object_set_new(CHILD0(d), CS_F_ENTITY, json_string("note"));
        json_object_set_new(CHILD0(d), CS_F_TABLE, json_string("civicrm_note"));
        json_object_set_new(CHILD0(d), "id", json_string("P1/civicrm_note/134"));
        expect_inspect_fail(d, NULL, "nested root entity");
        d = good_contact_doc();
        json_object_set_new(CHILD0(d), CS_F_PREFIX, json_string("P2"));
        json_object_set_new(CHILD0(d), "id", json_string("P2/civicrm_email/134"));
        expect_inspect_fail(d, NULL, "nested prefix differs");
        d = good_contact_doc();
        json_object_set_new(CHILD0(d), "contact_id", json_integer(11));
        expect_inspect_fail(d, NULL, "nested parent column differs");
        d = good_contact_doc();
        json_object_set_new(CHILD0(d), "id", json_string("P1/civicrm_email/135"));
        expect_inspect_fail(d, NULL, "nested id mismatch");
        d = good_contact_doc();
        json_object_set_new(CHILD0(d), CS_F_CHILD_ID, json_integer(0));
        expect_inspect_fail(d, NULL, "nested child id 0");
        /* a child entity at top level */
        json_t *parent = good_contact_doc();
        d = json_incref(CHILD0(parent));
        json_decref(parent);
        expect_inspect_fail(d, NULL, "child entity at top level");
}
END_TEST

/* The envelope's error texts, word for word (top level, nested, control). */
static void expect_inspect_error(json_t *d, const char *want)
{
        cs_doc_info_t info;
        char err[512] = "";
        ck_assert_int_eq(cs_doc_inspect(d, NULL, 0, &info, err, sizeof(err)), -1);
        ck_assert_str_eq(err, want);
        json_decref(d);
}

START_TEST(inspect_envelope_error_texts)
{
        json_t *d;

        d = good_contact_doc(); json_object_set_new(d, CS_F_FORMAT, json_integer(2));
        expect_inspect_error(d, "document P1/civicrm_contact/10: format 2 is not supported (1)");
        d = good_contact_doc(); json_object_set_new(d, CS_F_FORMAT, json_string("1"));
        expect_inspect_error(d, "document P1/civicrm_contact/10: civisync_format must be an "
                                "integer (got string)");
        d = good_contact_doc(); json_object_del(d, CS_F_PREFIX);
        expect_inspect_error(d, "document P1/civicrm_contact/10: missing or invalid "
                                "civisync_prefix");
        d = good_contact_doc(); json_object_set_new(d, CS_F_GENERATION, json_integer(1));
        expect_inspect_error(d, "document P1/civicrm_contact/10: unexpected reserved field "
                                "civisync_generation");
        d = good_contact_doc();
        json_object_set_new(CHILD0(d), CS_F_FORMAT, json_integer(3));
        expect_inspect_error(d, "document P1/civicrm_email/134: format 3 is not supported (1)");
        d = good_contact_doc();
        json_object_set_new(CHILD0(d), CS_F_PREFIX, json_string("P-1"));
        expect_inspect_error(d, "document P1/civicrm_email/134: missing or invalid "
                                "civisync_prefix");
        d = good_contact_doc();
        json_object_del(CHILD0(d), "id");
        expect_inspect_error(d, "nested document without a string id");
        d = cs_doc_reset_new("P1", 7, 0, 3);
        json_object_set_new(d, CS_F_FORMAT, json_integer(0));
        expect_inspect_error(d, "document P1/civisync_control: format 0 is not supported (1)");
        d = cs_doc_reset_new("P1", 7, 0, 3);
        json_object_set_new(d, CS_F_TABLE, json_string("civicrm_contact"));
        expect_inspect_error(d, "control document P1/civisync_control: unexpected field "
                                "civisync_table");
        d = cs_doc_reset_new("P1", 7, 0, 3);
        json_object_set_new(d, CS_F_PREFIX, json_string(""));
        expect_inspect_error(d, "document P1/civisync_control: missing or invalid "
                                "civisync_prefix");
}
END_TEST

static json_t *good_end_doc(void)
{
        json_t *counts = json_pack("{s:i,s:i,s:i}", "contact", 201, "email", 0, "activity", 623);
        json_t *d = cs_doc_end_new("P1", 7, 2, 3, counts);
        json_decref(counts);
        ck_assert_ptr_nonnull(d);
        return d;
}

START_TEST(control_documents)
{
        cs_doc_info_t info;
        char err[256];
        json_t *r = cs_doc_reset_new("P1", 7, 0, 3);
        ck_assert_ptr_nonnull(r);
        ck_assert_int_eq(cs_doc_inspect(r, "P1/civisync_control", 19, &info, err, sizeof(err)), 0);
        ck_assert_int_eq(info.kind, CS_DOC_KIND_RESET);
        ck_assert_int_eq(info.generation, 7);
        ck_assert_int_eq(info.partition, 0);
        ck_assert_int_eq(info.partition_count, 3);
        size_t len;
        char *s = dump(r, &len);
        ck_assert_str_eq(s, "{\"id\":\"P1/civisync_control\",\"civisync_format\":1,"
                            "\"civisync_prefix\":\"P1\",\"civisync_entity\":\"civisync_reset\","
                            "\"civisync_generation\":7,\"civisync_partition\":0,"
                            "\"civisync_partition_count\":3}");
        free(s);
        json_decref(r);

        json_t *e = good_end_doc();
        ck_assert_int_eq(cs_doc_inspect(e, NULL, 0, &info, err, sizeof(err)), 0);
        ck_assert_int_eq(info.kind, CS_DOC_KIND_END);
        ck_assert_int_eq(info.partition, 2);
        s = dump(e, &len);
        /* counts in registry order, whatever the input order */
        ck_assert_ptr_nonnull(strstr(s, "\"civisync_count_contact\":201,\"civisync_count_email\":0,"
                                        "\"civisync_count_activity\":623}"));
        free(s);
        json_decref(e);

        /* constructors refuse bad arguments */
        ck_assert_ptr_null(cs_doc_reset_new("P1", 0, 0, 1));
        ck_assert_ptr_null(cs_doc_reset_new("P1", 1, 1, 1));
        ck_assert_ptr_null(cs_doc_reset_new("P1", 1, -1, 1));
        ck_assert_ptr_null(cs_doc_reset_new("bad prefix", 1, 0, 1));
        json_t *bad = json_pack("{s:i}", "batch", 1);
        ck_assert_ptr_null(cs_doc_end_new("P1", 1, 0, 1, bad));
        json_decref(bad);
        bad = json_pack("{s:i}", "contact", -1);
        ck_assert_ptr_null(cs_doc_end_new("P1", 1, 0, 1, bad));
        json_decref(bad);

        /* inspect rejects bad control documents */
        json_t *d;
        d = good_end_doc(); json_object_set_new(d, CS_F_GENERATION, json_integer(0));
        expect_inspect_fail(d, NULL, "generation 0");
        d = good_end_doc(); json_object_set_new(d, CS_F_GENERATION, json_string("7"));
        expect_inspect_fail(d, NULL, "string generation");
        d = good_end_doc(); json_object_set_new(d, CS_F_PARTITION, json_integer(3));
        expect_inspect_fail(d, NULL, "partition == count");
        d = good_end_doc(); json_object_set_new(d, CS_F_PARTITION, json_integer(-1));
        expect_inspect_fail(d, NULL, "negative partition");
        d = good_end_doc(); json_object_set_new(d, CS_F_PARTITIONS, json_integer(0));
        expect_inspect_fail(d, NULL, "partition count 0");
        d = good_end_doc(); json_object_del(d, CS_F_PARTITIONS);
        expect_inspect_fail(d, NULL, "missing partition count");
        d = good_end_doc(); json_object_set_new(d, "civisync_count_batch", json_integer(1));
        expect_inspect_fail(d, NULL, "count of unknown entity");
        d = good_end_doc(); json_object_set_new(d, "civisync_count_contact", json_integer(-1));
        expect_inspect_fail(d, NULL, "negative count");
        d = good_end_doc(); json_object_set_new(d, "civisync_count_contact", json_real(1.0));
        expect_inspect_fail(d, NULL, "real count");
        d = good_end_doc(); json_object_set_new(d, "id", json_string("P1/civicrm_contact/1"));
        expect_inspect_fail(d, NULL, "control doc with an entity id");
        d = good_end_doc(); json_object_set_new(d, "extra", json_integer(1));
        expect_inspect_fail(d, NULL, "control doc with an extra field");
        d = good_end_doc(); json_object_set_new(d, CS_F_ENTITY, json_string(CS_ENTITY_RESET));
        expect_inspect_fail(d, NULL, "reset doc with counts");
        expect_inspect_fail(good_end_doc(), "P2/civisync_control", "control key mismatch");
}
END_TEST

static void expect_parse_fail(const char *buf, size_t len, size_t max, const char *what)
{
        char err[512] = "";
        json_t *d = cs_doc_parse(buf, len, max, err, sizeof(err));
        ck_assert_msg(d == NULL, "parse accepted: %s", what);
        ck_assert_msg(err[0] != '\0', "no error for %s", what);
}

START_TEST(parse_rejects)
{
#define P(s, what) expect_parse_fail((s), sizeof(s) - 1, 100000, (what))
        P("[1,2]", "array");
        P("42", "scalar");
        P("\"x\"", "string");
        P("null", "null");
        P("{\"id\":\"P1/civicrm_contact/1\"", "truncated");
        P("{\"a\":1} x", "trailing garbage");
        P("{\"a\":1,\"a\":2}", "duplicate key");
        P("{\"a\":\"\xff\"}", "invalid UTF-8");
        P("{\"a\":\"\xed\xa0\x80\"}", "UTF-8 surrogate");
        P("{\"a\\u0000b\":1}", "NUL in key");
        P("{\"a\":{\"b\":1}}", "nested object");
        P("{\"a\":[1]}", "nested array");
        P("{\"_childDocuments_\":[{\"_childDocuments_\":[{}]}]}", "grandchildren");
        P("{\"_childDocuments_\":[{\"x\":{}}]}", "object in child");
        P("{\"_childDocuments_\":[1]}", "scalar child");
        P("{\"_childDocuments_\":{}}", "children object");
        P("", "empty");
#undef P
        char deep[4096];
        size_t n = 0;
        for (int i = 0; i < 1000; i++) deep[n++] = '[';
        for (int i = 0; i < 1000; i++) deep[n++] = ']';
        expect_parse_fail(deep, n, 100000, "deep nesting");
        expect_parse_fail("{\"a\":\"0123456789\"}", 18, 17, "oversize");

        /* accepted: NUL inside string values, exactly max bytes */
        char err[256];
        json_t *d = cs_doc_parse("{\"a\":\"x\\u0000y\"}", 16, 16, err, sizeof(err));
        ck_assert_msg(d != NULL, "%s", err);
        ck_assert_uint_eq(json_string_length(json_object_get(d, "a")), 3);
        json_decref(d);
}
END_TEST

START_TEST(value_to_db_types)
{
        cs_column_t cols[] = {
                { "i", CS_COL_INT, 1, 0, 0, 0 },     { "u", CS_COL_INT, 1, 1, 0, 0 },
                { "d", CS_COL_DECIMAL, 1, 0, 0, 0 }, { "f", CS_COL_FLOAT, 1, 0, 0, 0 },
                { "t", CS_COL_TEXT, 1, 0, 0, 0 },    { "b", CS_COL_BINARY, 1, 0, 0, 0 },
                { "dd", CS_COL_DATE, 1, 0, 0, 0 },   { "dt", CS_COL_DATETIME, 1, 0, 0, 0 },
                { "ts", CS_COL_TIMESTAMP, 1, 0, 0, 0 }, { "tm", CS_COL_TIME, 1, 0, 0, 0 },
                { "y", CS_COL_YEAR, 1, 0, 0, 0 },
        };
        struct { int col; const char *json; int ok; int kind; const char *back; } cases[] = {
                { 0, "-5", 1, CS_VAL_INT, NULL },
                { 0, "\"5\"", 0, 0, NULL },
                { 0, "5.0", 0, 0, NULL },
                { 0, "true", 0, 0, NULL },
                { 0, "null", 1, CS_VAL_NULL, NULL },
                { 1, "\"18446744073709551615\"", 1, CS_VAL_STR, "18446744073709551615" },
                { 1, "\"5\"", 0, 0, NULL },
                { 1, "\"18446744073709551616\"", 0, 0, NULL },
                { 2, "\"-1.50\"", 1, CS_VAL_STR, "-1.50" },
                { 2, "1.5", 0, 0, NULL },
                { 2, "\"1e5\"", 0, 0, NULL },
                { 3, "0.1", 1, CS_VAL_STR, "0.10000000000000001" },
                { 3, "3", 1, CS_VAL_INT, NULL },
                { 3, "\"0.1\"", 0, 0, NULL },
                { 4, "\"x\"", 1, CS_VAL_STR, "x" },
                { 4, "1", 0, 0, NULL },
                { 5, "\"AAH/\"", 1, CS_VAL_BIN, "\x00\x01\xff" },
                { 5, "\"AAH\"", 0, 0, NULL },
                { 5, "\"AA==AA==\"", 0, 0, NULL },
                { 5, "\"A B=\"", 0, 0, NULL },
                { 6, "\"2021-06-04\"", 1, CS_VAL_STR, "2021-06-04" },
                { 6, "\"2021-06-04T00:00:00\"", 0, 0, NULL },
                { 7, "\"2021-06-04T01:02:03\"", 1, CS_VAL_STR, "2021-06-04 01:02:03" },
                { 7, "\"0000-00-00T00:00:00\"", 1, CS_VAL_STR, "0000-00-00 00:00:00" },
                { 7, "\"2021-06-04T01:02:03Z\"", 0, 0, NULL },
                { 7, "\"2021-06-04 01:02:03\"", 0, 0, NULL },
                /* an older child's DATE into a master DATETIME/TIMESTAMP */
                { 7, "\"2013-03-07\"", 1, CS_VAL_STR, "2013-03-07 00:00:00" },
                { 8, "\"2013-03-07\"", 1, CS_VAL_STR, "2013-03-07 00:00:00" },
                { 8, "\"2013-03-7\"", 0, 0, NULL },
                { 8, "\"2021-06-04T01:02:03.5Z\"", 1, CS_VAL_STR, "2021-06-04 01:02:03.5" },
                { 8, "\"2021-06-04T01:02:03\"", 0, 0, NULL },
                { 8, "\"2021-06-04T01:02:03+00:00\"", 0, 0, NULL },
                { 9, "\"-838:59:59\"", 1, CS_VAL_STR, "-838:59:59" },
                { 9, "\"12:00\"", 0, 0, NULL },
                { 10, "2021", 1, CS_VAL_INT, NULL },
                { 10, "\"2021\"", 0, 0, NULL },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                json_error_t je;
                json_t *v = json_loads(cases[i].json, JSON_DECODE_ANY, &je);
                ck_assert_ptr_nonnull(v);
                cs_db_value_t out;
                char *owned = (char *)1, err[256] = "";
                int rc = cs_doc_value_to_db(v, &cols[cases[i].col], &out, &owned, err, sizeof(err));
                ck_assert_msg(rc == (cases[i].ok ? 0 : -1), "case %zu %s: rc %d %s", i,
                              cases[i].json, rc, err);
                if (cases[i].ok) {
                        ck_assert_int_eq(out.kind, cases[i].kind);
                        if (cases[i].back) {
                                size_t bl = cases[i].kind == CS_VAL_BIN ? 3 : strlen(cases[i].back);
                                ck_assert_uint_eq(out.len, bl);
                                ck_assert(memcmp(out.s, cases[i].back, bl) == 0);
                        }
                } else {
                        char want[32];
                        snprintf(want, sizeof(want), "column %s", cols[cases[i].col].name);
                        ck_assert_msg(strstr(err, want) && strstr(err, "expected"), "%s", err);
                        ck_assert_ptr_null(owned);
                }
                free(owned);
                json_decref(v);
        }
}
END_TEST

START_TEST(ids)
{
        char buf[CS_DOC_ID_MAX + 1], p[CS_PREFIX_MAX + 1], t[64], err[256];
        long long id;
        ck_assert_int_eq(cs_doc_id(buf, sizeof(buf), "P1", "civicrm_contact", 42), 0);
        ck_assert_str_eq(buf, "P1/civicrm_contact/42");
        ck_assert_int_eq(cs_doc_id(buf, sizeof(buf), "P1", "civicrm_batch", 42), -1);
        ck_assert_int_eq(cs_doc_id(buf, sizeof(buf), "P1", "civicrm_contact", 0), -1);
        ck_assert_int_eq(cs_doc_id(buf, 10, "P1", "civicrm_contact", 42), -1);
        ck_assert_int_eq(cs_doc_control_id(buf, sizeof(buf), "P1"), 0);
        ck_assert_str_eq(buf, "P1/civisync_control");
        ck_assert_int_eq(cs_doc_parse_id("P1/civicrm_contact/42", 21, p, t, sizeof(t), &id, err, sizeof(err)), 0);
        ck_assert_str_eq(p, "P1");
        ck_assert_str_eq(t, "civicrm_contact");
        ck_assert_int_eq(id, 42);
        /* not NUL-terminated input */
        ck_assert_int_eq(cs_doc_parse_id("P1/civicrm_contact/42XYZ", 21, p, t, sizeof(t), &id, err, sizeof(err)), 0);
        ck_assert_int_eq(id, 42);
        ck_assert_int_eq(cs_doc_parse_id("P1/civisync_control", 19, p, t, sizeof(t), &id, err, sizeof(err)), 0);
        ck_assert_str_eq(t, "civisync_control");
        ck_assert_int_eq(id, 0);
        static const char *const bad[] = {
                "P1/civicrm_contact/0", "P1/civicrm_contact/-1", "P1/civicrm_contact/042",
                "P1/civicrm_contact/", "P1/civicrm_contact", "P1/civicrm_mailing_job/1",
                "/civicrm_contact/1", "P-1/civicrm_contact/1", "P1/civicrm_contact/1/2",
                "P1/civicrm_contact/99999999999999999999", "P1", "",
                "P1/civicrm_contact/1x",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                ck_assert_msg(cs_doc_parse_id(bad[i], strlen(bad[i]), p, t, sizeof(t), &id, err,
                                              sizeof(err)) == -1, "accepted %s", bad[i]);
        ck_assert_int_eq(cs_doc_parse_id("P1/civicrm_contact/1", 20, p, t, 8, &id, err, sizeof(err)), -1);
        ck_assert(cs_doc_field_reserved("id"));
        ck_assert(cs_doc_field_reserved("civisync_anything"));
        ck_assert(cs_doc_field_reserved("_childDocuments_"));
        ck_assert(!cs_doc_field_reserved("contact_id"));
}
END_TEST


Suite *doc_decode_suite(void)
{
        Suite *s = suite_create("doc_decode");
        TCase *tc = tcase_create("decode");

        tcase_add_test(tc, inspect_accepts_good);
        tcase_add_test(tc, inspect_rejects_bad_envelopes);
        tcase_add_test(tc, inspect_envelope_error_texts);
        tcase_add_test(tc, control_documents);
        tcase_add_test(tc, parse_rejects);
        tcase_add_test(tc, value_to_db_types);
        tcase_add_test(tc, ids);
        suite_add_tcase(s, tc);
        return s;
}
