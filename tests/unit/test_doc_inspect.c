/* test_doc_inspect.c — what cs_doc_inspect reports for the consumer to act on: an unknown nested entity (cs_doc_info_t.unknown_nested) and the metadata gate stamp. */
#include <check.h>
#include <jansson.h>
#include <string.h>

#include "doc.h"
#include "suites.h"

/* A contact document nesting one document of entity `kid` (table the
 * same name, as custom value tables are named); NEW. */
static json_t *contact_nesting(const char *kid)
{
        char kid_id[256];
        json_t *d;

        snprintf(kid_id, sizeof(kid_id), "P1/%s/7", kid);
        d = json_pack("{s:s, s:i, s:s, s:s, s:s, s:i, s:s, s:s, s:[{s:s, s:i, "
                      "s:s, s:s, s:s, s:i, s:s, s:i, s:s}]}",
                      "id", "P1/civicrm_contact/10", CS_F_FORMAT, 1, CS_F_PREFIX,
                      "P1", CS_F_ENTITY, "contact", CS_F_TABLE, "civicrm_contact",
                      CS_F_CHILD_ID, 10, CS_F_TIME_ZONE, "UTC", "first_name", "K",
                      CS_F_CHILDREN, "id", kid_id, CS_F_FORMAT, 1, CS_F_PREFIX,
                      "P1", CS_F_ENTITY, kid, CS_F_TABLE, kid, CS_F_CHILD_ID, 7,
                      CS_F_TIME_ZONE, "UTC", "entity_id", 10, "hue_27", "teal");
        ck_assert_ptr_nonnull(d);
        return d;
}

/* The name comes through the result, whatever the error text says. */
START_TEST(unknown_nested_named)
{
        json_t *d = contact_nesting("civicrm_value_fresh_13");
        cs_doc_info_t info;
        char err[256] = "";

        ck_assert_int_eq(cs_doc_inspect(d, NULL, 0, &info, err, sizeof(err)), -1);
        ck_assert_str_eq(info.unknown_nested, "civicrm_value_fresh_13");
        /* A truncated error text does not cut the reported name. */
        ck_assert_int_eq(cs_doc_inspect(d, NULL, 0, &info, err, 8), -1);
        ck_assert_str_eq(info.unknown_nested, "civicrm_value_fresh_13");
        json_decref(d);
}
END_TEST

/* Empty for a known nested entity, for a document refused for another
 * reason, for a top-level unknown entity and for a name that does not fit. */
START_TEST(unknown_nested_empty_otherwise)
{
        json_t *d = contact_nesting("email");
        cs_doc_info_t info;
        char err[256] = "", longname[CS_DOC_ENTITY_NAME_MAX + 8];

        /* email nests fine but lacks contact_id: refused, no name. */
        ck_assert_int_eq(cs_doc_inspect(d, NULL, 0, &info, err, sizeof(err)), -1);
        ck_assert_str_eq(info.unknown_nested, "");
        json_decref(d);

        d = contact_nesting("civicrm_value_fresh_13");
        json_object_set_new(d, CS_F_ENTITY, json_string("civicrm_value_top_1"));
        ck_assert_int_eq(cs_doc_inspect(d, NULL, 0, &info, err, sizeof(err)), -1);
        ck_assert_msg(strstr(err, "unknown entity civicrm_value_top_1"), "%s", err);
        ck_assert_str_eq(info.unknown_nested, "");
        json_decref(d);

        memset(longname, 'x', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = '\0';
        memcpy(longname, "civicrm_value_", 14);
        d = contact_nesting(longname);
        ck_assert_int_eq(cs_doc_inspect(d, NULL, 0, &info, err, sizeof(err)), -1);
        ck_assert_str_eq(info.unknown_nested, "");
        json_decref(d);
}
END_TEST

/* A top-level contact document; NEW. */
static json_t *contact_alone(void)
{
        json_t *d = json_pack("{s:s, s:i, s:s, s:s, s:s, s:i, s:s, s:s}",
                              "id", "P1/civicrm_contact/10", CS_F_FORMAT, 1,
                              CS_F_PREFIX, "P1", CS_F_ENTITY, "contact", CS_F_TABLE,
                              "civicrm_contact", CS_F_CHILD_ID, 10, CS_F_TIME_ZONE,
                              "UTC", "first_name", "K");
        ck_assert_ptr_nonnull(d);
        return d;
}

/* The gate stamp (FORMAT.md §7.1): read from a top-level document, 0
 * without one; both fields or neither, positive; never nested. */
START_TEST(gate_stamp_read)
{
        json_t *d = contact_alone(), *kid;
        cs_doc_info_t info;
        char err[256] = "";

        ck_assert_int_eq(cs_doc_inspect(d, NULL, 0, &info, err, sizeof(err)), 0);
        ck_assert_int_eq(info.gate_run, 0);
        ck_assert_int_eq(info.gate_docs, 0);
        ck_assert_int_eq(cs_doc_gate_stamp(d, 1764300000123LL, 41), 0);
        ck_assert_msg(cs_doc_inspect(d, NULL, 0, &info, err, sizeof(err)) == 0, "%s",
                      err);
        ck_assert_int_eq(info.gate_run, 1764300000123LL);
        ck_assert_int_eq(info.gate_docs, 41);

        json_object_del(d, CS_F_GATE_DOCS);
        ck_assert_int_eq(cs_doc_inspect(d, NULL, 0, &info, err, sizeof(err)), -1);
        ck_assert_msg(strstr(err, "document P1/civicrm_contact/10: civisync_gate_run "
                             "and civisync_gate_docs must both be positive"), "%s", err);
        json_object_set_new(d, CS_F_GATE_DOCS, json_integer(0));
        ck_assert_int_eq(cs_doc_inspect(d, NULL, 0, &info, err, sizeof(err)), -1);
        json_object_set_new(d, CS_F_GATE_DOCS, json_string("41"));
        ck_assert_int_eq(cs_doc_inspect(d, NULL, 0, &info, err, sizeof(err)), -1);
        json_decref(d);

        /* a nested document cannot carry one */
        d = contact_nesting("email");
        kid = json_array_get(json_object_get(d, CS_F_CHILDREN), 0);
        json_object_del(kid, "entity_id");
        json_object_del(kid, "hue_27");
        json_object_set_new(kid, "contact_id", json_integer(10));
        json_object_set_new(kid, CS_F_TABLE, json_string("civicrm_email"));
        json_object_set_new(kid, "id", json_string("P1/civicrm_email/7"));
        ck_assert_msg(cs_doc_inspect(d, NULL, 0, &info, err, sizeof(err)) == 0, "%s",
                      err);
        ck_assert_int_eq(cs_doc_gate_stamp(kid, 5, 1), 0);
        ck_assert_int_eq(cs_doc_inspect(d, NULL, 0, &info, err, sizeof(err)), -1);
        ck_assert_msg(strstr(err, "unexpected reserved field civisync_gate_"), "%s", err);
        json_decref(d);
}
END_TEST

Suite *doc_inspect_suite(void)
{
        Suite *s = suite_create("doc_inspect");
        TCase *tc = tcase_create("unknown_nested");

        tcase_add_test(tc, unknown_nested_named);
        tcase_add_test(tc, unknown_nested_empty_otherwise);
        suite_add_tcase(s, tc);
        tc = tcase_create("gate_stamp");
        tcase_add_test(tc, gate_stamp_read);
        suite_add_tcase(s, tc);
        return s;
}
