/* test_tables.c — every table of the CiviCRM 5.39 DDL fixture is classified once, consistently with the entity registry. */
#include <check.h>
#include <regex.h>
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

        size_t split = 0, views = 0;

        /* A split table (civicrm_uf_join, the price set tables) is metadata
         * for the gate's rows and an entity for the others: the two filters
         * must not overlap. */
        for (size_t i = 0; i < ents; i++) {
                const char *only = cs_reg_meta_row_filter(e[i].table);
                if (only) {
                        split++;
                        ck_assert_int_eq(cs_reg_table_class(e[i].table),
                                         CS_TCLASS_METADATA);
                        ck_assert_ptr_nonnull(e[i].row_filter);
                        continue;
                }
                if (cs_reg_by_table(e[i].table) != &e[i]) {
                        views++; /* a second view of a synced table */
                        continue;
                }
                ck_assert_msg(cs_reg_table_class(e[i].table) == CS_TCLASS_SYNCED,
                              "entity table %s is classified %s", e[i].table,
                              cs_reg_table_class_name(cs_reg_table_class(e[i].table)));
        }
        ck_assert_uint_eq(split, 4);
        ck_assert_str_eq(cs_reg_meta_row_filter("civicrm_uf_join"), "`entity_table` IS NULL");
        ck_assert_str_eq(cs_reg_meta_row_filter("civicrm_price_set"), "`is_reserved` = 1");
        ck_assert_str_eq(cs_reg_by_table("civicrm_price_set")->row_filter,
                         "`is_reserved` = 0");
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
        ck_assert_uint_eq(synced + split + views, ents);
        ck_assert_uint_eq(views, 4); /* loc_address, loc_email, loc_phone, loc_im */
        ck_assert_uint_eq(synced, 21 + 22 + 8 + 11); /* phases 1 and 2, 3a (and 3
                                                         split), 3c, 3b (with
                                                         loc_block) */
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

/* A text column of the DDL fixture. */
typedef struct ddl_col_s {
        char table[65], column[65], comment[512];
} ddl_col_t;

/* The char/varchar/text columns of the DDL fixture, with their comments. */
static size_t ddl_text_columns(ddl_col_t *out, size_t max)
{
        FILE *f = fopen(FULL_DDL, "r");
        char line[2048], table[65] = "";
        size_t n = 0;

        ck_assert_msg(f != NULL, "cannot open %s (run from the repository root)",
                      FULL_DDL);
        while (fgets(line, sizeof(line), f)) {
                char name[65], type[32];
                const char *cm;
                if (sscanf(line, "CREATE TABLE `%64[a-z0-9_]`", name) == 1) {
                        memcpy(table, name, sizeof(name));
                        continue;
                }
                if (!table[0] || sscanf(line, "  `%64[A-Za-z0-9_]` %31[a-z]", name,
                                        type) != 2)
                        continue;
                if (strcmp(type, "char") && strcmp(type, "varchar") &&
                    !strstr(type, "text"))
                        continue;
                ck_assert_uint_lt(n, max);
                memcpy(out[n].table, table, sizeof(table));
                memcpy(out[n].column, name, sizeof(name));
                out[n].comment[0] = '\0';
                if ((cm = strstr(line, "COMMENT '")))
                        snprintf(out[n].comment, sizeof(out[n].comment), "%s", cm + 9);
                n++;
        }
        fclose(f);
        return n;
}

#define DDL_TEXT_MAX 2048
/* What makes a text column look id-bearing: its name, or its comment. */
#define IDTEXT_NAME "(^|_)ids?$|form_values|where_clause|select_tables|where_tables|" \
        "api_params|module_data|filter|param|parents|children|membership_types|" \
        "recipient|(^|_)value$|^data$|options$|criteria"
#define IDTEXT_COMMENT "serializ|json|separated|delimited|(^|[^a-z])ids?([^a-z]|$)|" \
        "fk to|foreign key|list of"

/* Every text column of a synced or metadata table that looks as if it held
 * ids inside strings is classified (FORMAT.md §15.1): translated, cleared,
 * metadata ids, verbatim as a documented limitation, or no ids. */
START_TEST(every_id_text_classified)
{
        static ddl_col_t cols[DDL_TEXT_MAX];
        size_t n = ddl_text_columns(cols, DDL_TEXT_MAX), hits = 0;
        char missing[4096] = "";
        regex_t by_name, by_comment;

        ck_assert_int_eq(regcomp(&by_name, IDTEXT_NAME, REG_EXTENDED | REG_NOSUB), 0);
        ck_assert_int_eq(regcomp(&by_comment, IDTEXT_COMMENT,
                                 REG_EXTENDED | REG_ICASE | REG_NOSUB), 0);
        ck_assert_uint_gt(n, 500);
        for (size_t i = 0; i < n; i++) {
                cs_table_class_t cls = cs_reg_table_class(cols[i].table);
                if (cls != CS_TCLASS_SYNCED && cls != CS_TCLASS_METADATA)
                        continue;
                if (regexec(&by_name, cols[i].column, 0, NULL, 0) &&
                    regexec(&by_comment, cols[i].comment, 0, NULL, 0))
                        continue;
                hits++;
                if (!cs_reg_id_text(cols[i].table, cols[i].column) &&
                    strlen(missing) < sizeof(missing) - 140)
                        snprintf(missing + strlen(missing),
                                 sizeof(missing) - strlen(missing), " %.64s.%.64s",
                                 cols[i].table, cols[i].column);
        }
        regfree(&by_name);
        regfree(&by_comment);
        ck_assert_msg(!missing[0], "id-bearing text columns not classified in "
                      "shared/registry_tables.c (id_texts[]):%s", missing);
        ck_assert_uint_ge(hits, 20);
}
END_TEST

/* Each classification names a real column and agrees with the registry. */
START_TEST(id_text_rules_consistent)
{
        static ddl_col_t cols[DDL_TEXT_MAX];
        size_t n = ddl_text_columns(cols, DDL_TEXT_MAX), k = 0;

        for (const cs_idtext_t *t = cs_reg_id_texts(); t->table; t++, k++) {
                const cs_entity_t *ent = cs_reg_by_table(t->table);
                cs_table_class_t cls = cs_reg_table_class(t->table);
                int found = 0;

                for (size_t i = 0; i < n && !found; i++)
                        found = !strcmp(cols[i].table, t->table) &&
                                !strcmp(cols[i].column, t->column);
                ck_assert_msg(found, "%s.%s: not a text column of the DDL",
                              t->table, t->column);
                ck_assert_msg(t->rule && strlen(t->rule) > 8, "%s.%s: no rule",
                              t->table, t->column);
                ck_assert_ptr_eq(cs_reg_id_text(t->table, t->column), t);
                switch (t->policy) {
                case CS_IDTEXT_TRANSLATED:
                        ck_assert_msg(ent && cs_reg_ref(ent, t->column),
                                      "%s.%s: translated without a reference",
                                      t->table, t->column);
                        break;
                case CS_IDTEXT_CLEARED:
                        ck_assert_msg(ent && cs_reg_col_policy(ent, t->column) ==
                                      CS_COL_CLEAR, "%s.%s: cleared without CLEAR",
                                      t->table, t->column);
                        break;
                case CS_IDTEXT_NOT_SYNCED:
                        ck_assert_msg(cls != CS_TCLASS_SYNCED &&
                                      cls != CS_TCLASS_METADATA && !ent,
                                      "%s.%s: its table is synced", t->table,
                                      t->column);
                        break;
                default:
                        /* carried as it is */
                        ck_assert_msg(cls == CS_TCLASS_SYNCED ||
                                      cls == CS_TCLASS_METADATA, "%s.%s: table "
                                      "not synced", t->table, t->column);
                        ck_assert_msg(!ent || (!cs_reg_ref(ent, t->column) &&
                                               !cs_reg_col_policy(ent, t->column)),
                                      "%s.%s: not carried verbatim", t->table,
                                      t->column);
                }
        }
        ck_assert_uint_ge(k, 30);
        ck_assert_int_eq(cs_reg_id_text("civicrm_saved_search", "form_values")->policy,
                         CS_IDTEXT_VERBATIM);
        ck_assert_int_eq(cs_reg_id_text("civicrm_group", "parents")->policy,
                         CS_IDTEXT_TRANSLATED);
        ck_assert_int_eq(cs_reg_id_text("civicrm_custom_field", "filter")->policy,
                         CS_IDTEXT_VERBATIM);
        ck_assert_int_eq(cs_reg_id_text("civicrm_uf_join", "module_data")->policy,
                         CS_IDTEXT_VERBATIM);
        ck_assert_ptr_null(cs_reg_id_text("civicrm_contact", "first_name"));
        ck_assert_str_eq(cs_reg_id_text_policy_name(CS_IDTEXT_VERBATIM),
                         "verbatim (limitation)");
}
END_TEST

/* The four caches are classified as never synced, with the reason, and no
 * entity reads them. */
START_TEST(caches_never_synced)
{
        static const char *const caches[] = {
                "civicrm_acl_cache", "civicrm_acl_contact_cache",
                "civicrm_group_contact_cache", "civicrm_relationship_cache", NULL
        };

        for (int i = 0; caches[i]; i++) {
                const cs_table_rule_t *t = cs_reg_table(caches[i]);
                ck_assert_ptr_nonnull(t);
                ck_assert_int_eq(t->cls, CS_TCLASS_CACHE);
                ck_assert_msg(strstr(t->why, "never synced"), "%s: %s", caches[i],
                              t->why);
                ck_assert_ptr_null(cs_reg_by_table(caches[i]));
        }
}
END_TEST

Suite *tables_suite(void)
{
        Suite *s = suite_create("tables");
        TCase *tc = tcase_create("classes");
        tcase_add_test(tc, every_ddl_table_classified);
        tcase_add_test(tc, synced_means_registered);
        tcase_add_test(tc, excluded_columns_are_metadata);
        tcase_add_test(tc, every_id_text_classified);
        tcase_add_test(tc, id_text_rules_consistent);
        tcase_add_test(tc, caches_never_synced);
        suite_add_tcase(s, tc);
        return s;
}
