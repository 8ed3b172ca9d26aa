/* test_tables.c — every table of the CiviCRM 5.39 DDL fixture is classified once, consistently with the entity registry. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "suites.h"

#define FULL_DDL "tests/fixtures/civicrm-5-full.sql"
#define DDL_TABLES_MAX 256

/* The CREATE TABLE names of the DDL fixture (run from the repository root). */
static size_t ddl_tables(char names[][65], size_t max)
{
        FILE *f = fopen(FULL_DDL, "r");
        char line[1024];
        size_t n = 0;

        ck_assert_msg(f != NULL, "cannot open %s (run from the repository root)",
                      FULL_DDL);
        while (fgets(line, sizeof(line), f)) {
                char name[65];
                if (sscanf(line, "CREATE TABLE `%64[a-z0-9_]`", name) != 1)
                        continue;
                ck_assert_uint_lt(n, max);
                memcpy(names[n++], name, sizeof(name));
        }
        fclose(f);
        return n;
}

START_TEST(every_ddl_table_classified)
{
        static char names[DDL_TABLES_MAX][65];
        size_t n = ddl_tables(names, DDL_TABLES_MAX), count = 0;
        const cs_table_rule_t *all = cs_reg_tables(&count);

        ck_assert_uint_eq(n, 153);
        ck_assert_uint_eq(count, 153);
        for (size_t i = 0; i < n; i++) {
                const cs_table_rule_t *t = cs_reg_table(names[i]);
                ck_assert_msg(t != NULL, "%s is not classified in "
                              "shared/registry_tables.c", names[i]);
                ck_assert_msg(t->why && strlen(t->why) > 5, "%s has no reason",
                              names[i]);
                ck_assert_int_ne(t->cls, CS_TCLASS_UNKNOWN);
        }
        /* each registry line names a DDL table, once */
        for (size_t i = 0; i < count; i++) {
                int found = 0;
                for (size_t j = 0; j < n; j++)
                        found += !strcmp(all[i].table, names[j]);
                ck_assert_msg(found == 1, "%s: %d times in the DDL", all[i].table,
                              found);
                for (size_t j = 0; j < i; j++)
                        ck_assert_str_ne(all[i].table, all[j].table);
        }
        ck_assert_int_eq(cs_reg_table_class("civicrm_value_food_preference_2"),
                         CS_TCLASS_UNKNOWN);
}
END_TEST

/* Synced exactly when the entity registry syncs it: no table is both data
 * and metadata. */
START_TEST(synced_means_registered)
{
        size_t count = 0, ents = 0, synced = 0;
        const cs_table_rule_t *all = cs_reg_tables(&count);
        const cs_entity_t *e = cs_reg_entities(&ents);

        size_t split = 0;

        /* A split table (civicrm_uf_join) is metadata for the gate's rows and
         * an entity for the others: the two filters must not overlap. */
        for (size_t i = 0; i < ents; i++) {
                const char *only = cs_reg_meta_row_filter(e[i].table);
                if (only) {
                        split++;
                        ck_assert_int_eq(cs_reg_table_class(e[i].table),
                                         CS_TCLASS_METADATA);
                        ck_assert_ptr_nonnull(e[i].row_filter);
                        continue;
                }
                ck_assert_msg(cs_reg_table_class(e[i].table) == CS_TCLASS_SYNCED,
                              "entity table %s is classified %s", e[i].table,
                              cs_reg_table_class_name(cs_reg_table_class(e[i].table)));
        }
        ck_assert_uint_eq(split, 1);
        ck_assert_str_eq(cs_reg_meta_row_filter("civicrm_uf_join"), "`entity_table` IS NULL");
        ck_assert_str_eq(cs_reg_by_table("civicrm_uf_join")->row_filter,
                         "`entity_table` IS NOT NULL");
        for (size_t i = 0; i < count; i++) {
                if (all[i].cls != CS_TCLASS_SYNCED)
                        continue;
                synced++;
                ck_assert_msg(cs_reg_by_table(all[i].table) != NULL,
                              "%s is classified synced but no entity syncs it",
                              all[i].table);
        }
        ck_assert_uint_eq(synced + split, ents);
        ck_assert_uint_eq(synced, 19);
        ck_assert_int_eq(cs_reg_table_class("civicrm_option_value"), CS_TCLASS_METADATA);
        ck_assert_int_eq(cs_reg_table_class("civicrm_acl_cache"), CS_TCLASS_CACHE);
        ck_assert_int_eq(cs_reg_table_class("civicrm_payment_token"), CS_TCLASS_CREDENTIALS);
        ck_assert_str_eq(cs_reg_table_class_name(CS_TCLASS_METADATA), "metadata");
}
END_TEST

/* Excluded fingerprint columns belong to metadata tables, with a reason. */
START_TEST(excluded_columns_are_metadata)
{
        const cs_meta_col_rule_t *r = cs_reg_meta_col_rules();
        size_t n = 0;

        for (; r->table; r++, n++) {
                ck_assert_int_eq(cs_reg_table_class(r->table), CS_TCLASS_METADATA);
                ck_assert_ptr_nonnull(r->why);
        }
        ck_assert_uint_ge(n, 2);
        ck_assert_ptr_nonnull(cs_reg_meta_col_excluded("civicrm_payment_processor",
                                                       "password"));
        ck_assert_ptr_nonnull(cs_reg_meta_col_excluded("civicrm_payment_processor",
                                                       "signature"));
        ck_assert_ptr_null(cs_reg_meta_col_excluded("civicrm_payment_processor",
                                                    "name"));
}
END_TEST

Suite *tables_suite(void)
{
        Suite *s = suite_create("tables");
        TCase *tc = tcase_create("classes");
        tcase_add_test(tc, every_ddl_table_classified);
        tcase_add_test(tc, synced_means_registered);
        tcase_add_test(tc, excluded_columns_are_metadata);
        suite_add_tcase(s, tc);
        return s;
}
