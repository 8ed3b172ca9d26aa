/* test_registry_custom.c — custom data: the field-type to SQL mapping (FORMAT.md §19) and the value-table name check. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "capacity.h"
#include "registry_custom.h"
#include "suites.h"

static const char *sql_type(const char *data_type, long long text_length)
{
        static char out[320];
        char err[256];
        cs_custom_field_t f;

        memset(&f, 0, sizeof(f));
        f.id = 7;
        snprintf(f.column, sizeof(f.column), "c_7");
        snprintf(f.data_type, sizeof(f.data_type), "%s", data_type);
        f.text_length = text_length;
        if (cs_custom_sql_type(&f, out, sizeof(out), err, sizeof(err)) == -1)
                snprintf(out, sizeof(out), "ERR %s", err);
        return out;
}

START_TEST(test_custom_type_mapping)
{
        ck_assert_str_eq(sql_type("String", 128), "varchar(128)");
        ck_assert_str_eq(sql_type("String", 0), "varchar(255)");
        ck_assert_str_eq(sql_type("Int", 0), "int");
        ck_assert_str_eq(sql_type("Float", 0), "double");
        ck_assert_str_eq(sql_type("Money", 0), "decimal(20,2)");
        ck_assert_str_eq(sql_type("Memo", 255), "text");
        ck_assert_str_eq(sql_type("Date", 0), "datetime");
        ck_assert_str_eq(sql_type("Boolean", 0), "tinyint(4)");
        ck_assert_str_eq(sql_type("StateProvince", 0), "int(10) unsigned");
        ck_assert_str_eq(sql_type("Country", 0), "int(10) unsigned");
        ck_assert_str_eq(sql_type("File", 0), "int(10) unsigned");
        ck_assert_str_eq(sql_type("Link", 0), "varchar(255)");
        ck_assert_str_eq(sql_type("ContactReference", 0), "int(10) unsigned");
        ck_assert_str_eq(sql_type("EntityReference", 0), "int(10) unsigned");
        /* Never from anything else: an unknown type is refused, naming it. */
        ck_assert_str_eq(sql_type("text); DROP TABLE x; --", 0),
                         "ERR custom field 7 (c_7): unknown data_type "
                         "'text); DROP TABLE x; --'");
}
END_TEST

START_TEST(test_custom_table_like)
{
        ck_assert_int_eq(cs_custom_table_like("civicrm_value_visits_10"), 1);
        ck_assert_int_eq(cs_custom_table_like("civicrm_contact"), 0);
        ck_assert_int_eq(cs_custom_table_like("civicrm_value_a`b"), 0);
        ck_assert_int_eq(cs_custom_table_like(NULL), 0);
}
END_TEST

/* Entities appended at run time are found like static ones, their
 * pointers stay put, and both limits fail loudly, naming themselves.
 * (Check forks per test: the registry of other tests is untouched.) */
START_TEST(test_custom_registration_limits)
{
        static char names[CS_LIMIT_CUSTOM_GROUPS + 1][32];
        const cs_entity_t *first = NULL, *contact = cs_reg_by_name("contact");
        const cs_entity_t *kids[CS_LIMIT_NESTED_KINDS];
        size_t before, n = 0;
        char err[256] = "";
        int i;

        ck_assert_ptr_nonnull(contact);
        cs_reg_entities(&before);
        ck_assert_uint_eq(before, cs_reg_static_count());
        for (i = 0; i <= CS_LIMIT_CUSTOM_GROUPS; i++) {
                cs_entity_t e = { 0 };
                const cs_entity_t *got;

                snprintf(names[i], sizeof(names[i]), "civicrm_value_t_%d", i);
                e.name = e.table = names[i];
                e.parent = "contact";
                e.parent_column = "entity_id";
                got = cs_reg_add_entity(&e, err, sizeof(err));
                if (!got)
                        break;
                if (!first)
                        first = got;
                n++;
        }
        ck_assert_int_eq(i, CS_LIMIT_CUSTOM_GROUPS);
        ck_assert_msg(strstr(err, "CS_LIMIT_CUSTOM_GROUPS") &&
                      strstr(err, "civicrm_value_t_256"), "%s", err);
        ck_assert_ptr_eq(cs_reg_by_table("civicrm_value_t_0"), first);
        ck_assert_ptr_eq(cs_reg_by_name("civicrm_value_t_0"), first);
        ck_assert_ptr_eq(cs_reg_by_name("contact"), contact);
        ck_assert_int_eq(cs_reg_custom_is(first), 1);
        ck_assert_int_eq(cs_reg_custom_is(contact), 0);
        cs_reg_entities(&n);
        ck_assert_uint_eq(n, before + CS_LIMIT_CUSTOM_GROUPS);
        /* 5 static nested kinds + 256: over CS_LIMIT_NESTED_KINDS. */
        ck_assert_uint_eq(cs_reg_children(contact, kids, CS_LIMIT_NESTED_KINDS),
                          CS_LIMIT_NESTED_KINDS);
        ck_assert_int_eq(cs_reg_check(err, sizeof(err)), -1);
        ck_assert_msg(strstr(err, "contact") &&
                      strstr(err, "CS_LIMIT_NESTED_KINDS"), "%s", err);
}
END_TEST

Suite *registry_custom_suite(void)
{
        Suite *s = suite_create("registry_custom");
        TCase *tc = tcase_create("custom");

        tcase_add_test(tc, test_custom_type_mapping);
        tcase_add_test(tc, test_custom_table_like);
        tcase_add_test(tc, test_custom_registration_limits);
        suite_add_tcase(s, tc);
        return s;
}
