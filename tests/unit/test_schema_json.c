/* test_schema_json.c — the JSON Schema validator itself, and docs/civisync-document.schema.json against the registry and doc.c. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doc.h"
#include "jsonschema.h"
#include "registry.h"
#include "suites.h"

#define SCHEMA_PATH "docs/civisync-document.schema.json"

static json_t *load(const char *text)
{
        json_error_t je;
        json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
        ck_assert_msg(j != NULL, "bad test JSON %s: %s", text, je.text);
        return j;
}

/* 0 if valid */
static int check(const char *schema, const char *inst)
{
        json_t *s = load(schema), *i = load(inst);
        char err[512];
        int rc = jsv_validate(s, i, err, sizeof(err));
        if (rc)
                ck_assert_msg(err[0], "no error text");
        json_decref(s);
        json_decref(i);
        return rc;
}

/* ---- validator self-tests ---------------------------------------------- */

START_TEST(jsv_types)
{
        ck_assert_int_eq(check("{\"type\":\"integer\"}", "3"), 0);
        ck_assert_int_eq(check("{\"type\":\"integer\"}", "3.5"), -1);
        ck_assert_int_eq(check("{\"type\":\"number\"}", "3"), 0);
        ck_assert_int_eq(check("{\"type\":\"number\"}", "\"3\""), -1);
        ck_assert_int_eq(check("{\"type\":[\"string\",\"null\"]}", "null"), 0);
        ck_assert_int_eq(check("{\"type\":[\"string\",\"null\"]}", "1"), -1);
        ck_assert_int_eq(check("{\"type\":\"object\"}", "[]"), -1);
        ck_assert_int_eq(check("true", "{}"), 0);
        ck_assert_int_eq(check("false", "{}"), -1);
}
END_TEST

START_TEST(jsv_keywords)
{
        ck_assert_int_eq(check("{\"enum\":[1,\"a\"]}", "\"a\""), 0);
        ck_assert_int_eq(check("{\"enum\":[1,\"a\"]}", "2"), -1);
        ck_assert_int_eq(check("{\"const\":1}", "1"), 0);
        ck_assert_int_eq(check("{\"const\":1}", "2"), -1);
        ck_assert_int_eq(check("{\"minimum\":1}", "1"), 0);
        ck_assert_int_eq(check("{\"minimum\":1}", "0"), -1);
        ck_assert_int_eq(check("{\"minimum\":1}", "\"x\""), 0); /* applies to numbers only */
        ck_assert_int_eq(check("{\"pattern\":\"^a[0-9]+$\"}", "\"a12\""), 0);
        ck_assert_int_eq(check("{\"pattern\":\"^a[0-9]+$\"}", "\"a12b\""), -1);
        ck_assert_int_eq(check("{\"pattern\":\"[0-9]\"}", "\"x1y\""), 0); /* unanchored */
        ck_assert_int_eq(check("{\"items\":{\"type\":\"integer\"},\"minItems\":2}", "[1,2]"), 0);
        ck_assert_int_eq(check("{\"items\":{\"type\":\"integer\"},\"minItems\":2}", "[1]"), -1);
        ck_assert_int_eq(check("{\"items\":{\"type\":\"integer\"}}", "[1,\"x\"]"), -1);
        const char *obj = "{\"type\":\"object\",\"required\":[\"a\"],"
                          "\"properties\":{\"a\":{\"type\":\"integer\"}},"
                          "\"patternProperties\":{\"^x_\":{\"type\":\"string\"}},"
                          "\"additionalProperties\":false}";
        ck_assert_int_eq(check(obj, "{\"a\":1,\"x_1\":\"s\"}"), 0);
        ck_assert_int_eq(check(obj, "{\"x_1\":\"s\"}"), -1);
        ck_assert_int_eq(check(obj, "{\"a\":\"1\"}"), -1);
        ck_assert_int_eq(check(obj, "{\"a\":1,\"x_1\":2}"), -1);
        ck_assert_int_eq(check(obj, "{\"a\":1,\"b\":2}"), -1);
        ck_assert_int_eq(check("{\"additionalProperties\":{\"type\":\"null\"}}", "{\"b\":null}"), 0);
        ck_assert_int_eq(check("{\"additionalProperties\":{\"type\":\"null\"}}", "{\"b\":1}"), -1);
        ck_assert_int_eq(check("{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":0}]}", "-1"), 0);
        ck_assert_int_eq(check("{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":0}]}", "1"), -1);
        ck_assert_int_eq(check("{\"anyOf\":[{\"type\":\"integer\"},{\"minimum\":0}]}", "1"), 0);
        ck_assert_int_eq(check("{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"null\"}]}", "\"s\""), -1);
        const char *ref = "{\"definitions\":{\"p\":{\"type\":\"string\"}},"
                          "\"properties\":{\"a\":{\"$ref\":\"#/definitions/p\"}}}";
        ck_assert_int_eq(check(ref, "{\"a\":\"x\"}"), 0);
        ck_assert_int_eq(check(ref, "{\"a\":1}"), -1);
        ck_assert_int_eq(check("{\"$ref\":\"#/definitions/missing\"}", "1"), -1);
        /* unsupported keywords are errors, not silently ignored */
        ck_assert_int_eq(check("{\"maxLength\":3}", "\"abcdef\""), -1);
        ck_assert_int_eq(check("{\"pattern\":\"(\"}", "\"x\""), -1);
}
END_TEST

/* ---- the project's schema ------------------------------------------- */

static json_t *schema;

static void schema_setup(void)
{
        json_error_t je;
        schema = json_load_file(SCHEMA_PATH, 0, &je);
        ck_assert_msg(schema != NULL, "%s: %s (run tests from the repo root)", SCHEMA_PATH, je.text);
}

static void schema_teardown(void)
{
        json_decref(schema);
        schema = NULL;
}

static int valid(const json_t *doc)
{
        char err[1024];
        return jsv_validate(schema, doc, err, sizeof(err)) == 0;
}

static json_t *defn(const char *name)
{
        json_t *d = json_object_get(json_object_get(schema, "definitions"), name);
        ck_assert_msg(d != NULL, "schema lacks definitions/%s", name);
        return d;
}

START_TEST(schema_matches_registry)
{
        size_t n, roots = 0, kids = 0;
        const cs_entity_t *all = cs_reg_entities(&n);
        json_t *re = json_object_get(json_object_get(json_object_get(defn("entityDocument"), "properties"),
                                                     CS_F_ENTITY), "enum");
        json_t *rt = json_object_get(json_object_get(json_object_get(defn("entityDocument"), "properties"),
                                                     CS_F_TABLE), "enum");
        json_t *ce = json_object_get(json_object_get(json_object_get(defn("nestedDocument"), "properties"),
                                                     CS_F_ENTITY), "enum");
        json_t *ct = json_object_get(json_object_get(json_object_get(defn("nestedDocument"), "properties"),
                                                     CS_F_TABLE), "enum");
        ck_assert(json_is_array(re) && json_is_array(rt) && json_is_array(ce) && json_is_array(ct));
        for (size_t i = 0; i < n; i++) {
                json_t *names = all[i].parent ? ce : re, *tables = all[i].parent ? ct : rt;
                size_t idx = all[i].parent ? kids++ : roots++;
                ck_assert_msg(json_is_string(json_array_get(names, idx)) &&
                              !strcmp(json_string_value(json_array_get(names, idx)), all[i].name),
                              "schema entity enum out of date at %s", all[i].name);
                ck_assert_str_eq(json_string_value(json_array_get(tables, idx)), all[i].table);
        }
        ck_assert_uint_eq(json_array_size(re), roots);
        ck_assert_uint_eq(json_array_size(ce), kids);
        /* every entity has a count field in end documents */
        json_t *pp = json_object_get(defn("endDocument"), "patternProperties");
        const char *pat = NULL;
        json_t *v;
        json_object_foreach(pp, pat, v) break;
        ck_assert_ptr_nonnull(pat);
        for (size_t i = 0; i < n; i++)
                ck_assert_msg(strstr(pat, all[i].name), "count pattern lacks %s", all[i].name);
}
END_TEST

START_TEST(schema_accepts_control_docs)
{
        json_t *r = cs_doc_reset_new("P_1", 3, 1, 4);
        ck_assert(valid(r));
        json_decref(r);
        json_t *counts = json_pack("{s:i,s:i}", "contact", 3, "activity_contact", 0);
        json_t *e = cs_doc_end_new("P_1", 3, 1, 4, counts);
        ck_assert(valid(e));
        json_object_set_new(e, "civisync_count_batch", json_integer(1));
        ck_assert(!valid(e));
        json_object_del(e, "civisync_count_batch");
        json_object_set_new(e, "civisync_count_contact", json_integer(-1));
        ck_assert(!valid(e));
        json_object_set_new(e, "civisync_count_contact", json_integer(1));
        json_object_set_new(e, CS_F_GENERATION, json_integer(0));
        ck_assert(!valid(e));
        json_object_set_new(e, CS_F_GENERATION, json_integer(3));
        ck_assert(valid(e));
        json_object_set_new(e, "id", json_string("P_1/civicrm_contact/1"));
        ck_assert(!valid(e));
        json_decref(e);
        json_decref(counts);
}
END_TEST

static const char good_doc[] =
        "{\"id\":\"P1/civicrm_contact/10\",\"civisync_format\":1,\"civisync_prefix\":\"P1\","
        "\"civisync_entity\":\"contact\",\"civisync_table\":\"civicrm_contact\","
        "\"civisync_child_id\":10,\"civisync_time_zone\":null,\"first_name\":\"K\",\"city\":\"c\","
        "\"c\":1,\"civisync\":2,\"image_URL\":null,\"geo_code_1\":1.5,"
        "\"_childDocuments_\":[{\"id\":\"P1/civicrm_email/1\",\"civisync_format\":1,"
        "\"civisync_prefix\":\"P1\",\"civisync_entity\":\"email\",\"civisync_table\":\"civicrm_email\","
        "\"civisync_child_id\":1,\"civisync_time_zone\":\"UTC\",\"contact_id\":10}]}";

START_TEST(schema_entity_docs)
{
        json_t *d = load(good_doc);
        ck_assert(valid(d));
        json_t *x;
#define MUT(stmt, expect)                              \
        do {                                           \
                x = json_deep_copy(d);                 \
                stmt;                                  \
                ck_assert_msg(valid(x) == (expect), "%s", #stmt); \
                json_decref(x);                        \
        } while (0)
        MUT(json_object_set_new(x, "civisync_extra", json_integer(1)), 0);
        MUT(json_object_set_new(x, "civisync_format", json_integer(2)), 0);
        MUT(json_object_set_new(x, "civisync_child_id", json_integer(0)), 0);
        MUT(json_object_set_new(x, "civisync_entity", json_string("email")), 0);
        MUT(json_object_set_new(x, "civisync_prefix", json_string("P 1")), 0);
        MUT(json_object_set_new(x, "first_name", json_true()), 0);
        MUT(json_object_set_new(x, "first_name", json_object()), 0);
        MUT(json_object_set_new(x, "_x", json_integer(1)), 0);
        MUT(json_object_set_new(x, "bad-name", json_integer(1)), 0);
        MUT(json_object_set_new(x, "big", json_string("18446744073709551615")), 1);
        MUT(json_object_set_new(x, "_childDocuments_", json_array()), 0);
        MUT(json_object_del(x, "id"), 0);
        MUT(json_object_del(x, "civisync_time_zone"), 0);
        MUT(json_object_del(x, "_childDocuments_"), 1);
        MUT(json_object_set_new(json_array_get(json_object_get(x, "_childDocuments_"), 0),
                                "_childDocuments_", json_array()), 0);
        MUT(json_object_set_new(json_array_get(json_object_get(x, "_childDocuments_"), 0),
                                "civisync_entity", json_string("note")), 0);
        json_decref(d);
#undef MUT
}
END_TEST

Suite *jsonschema_suite(void)
{
        Suite *s = suite_create("jsonschema");
        TCase *tc = tcase_create("validator");
        tcase_add_test(tc, jsv_types);
        tcase_add_test(tc, jsv_keywords);
        suite_add_tcase(s, tc);
        return s;
}

Suite *schema_json_suite(void)
{
        Suite *s = suite_create("schema_json");
        TCase *tc = tcase_create("document schema");
        tcase_add_checked_fixture(tc, schema_setup, schema_teardown);
        tcase_add_test(tc, schema_matches_registry);
        tcase_add_test(tc, schema_accepts_control_docs);
        tcase_add_test(tc, schema_entity_docs);
        suite_add_tcase(s, tc);
        return s;
}
