/* test_consumer_internals.c — unit tests of the consumer's internals without MariaDB: the mapping cache and its savepoint journal, id lists and their translation. */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../consumer/apply_int.h"
#include "suites.h"

#define T_CONTACT "civicrm_contact"
#define T_EMAIL "civicrm_email"
#define T_GROUP "civicrm_group"

/* A cs_apply_t with what the cache needs and no connection: any lookup
 * that missed the cache would dereference the NULL statement cache and
 * crash the (forked) test. */
static cs_apply_t *ap_new_fake(void)
{
        cs_apply_t *ap = calloc(1, sizeof(*ap));

        ck_assert_ptr_nonnull(ap);
        ap->map_cache = calloc(MAP_CACHE_SIZE, sizeof(*ap->map_cache));
        ap->prefixes = calloc(2, sizeof(*ap->prefixes));
        ck_assert_ptr_nonnull(ap->map_cache);
        ck_assert_ptr_nonnull(ap->prefixes);
        ap->prefix_cnt = 2;
        strcpy(ap->prefixes[0].prefix, "P1");
        strcpy(ap->prefixes[1].prefix, "P2");
        ap->map_epoch = 1;
        cs_reg_entities(&ap->entity_cnt);
        ap->table_epoch = calloc(ap->entity_cnt, sizeof(*ap->table_epoch));
        ck_assert_ptr_nonnull(ap->table_epoch);
        return ap;
}

static void ap_free_fake(cs_apply_t *ap)
{
        free(ap->map_cache);
        free(ap->table_epoch);
        free(ap->prefixes);
        free(ap);
}

/* The set (index of its first way) an entry lives in. */
static size_t set_of(cs_apply_t *ap, const map_entry_t *e)
{
        return (size_t)(e - ap->map_cache) / 4;
}

/* ---- the mapping cache ---- */

START_TEST(test_cache_remember_and_lookup)
{
        cs_apply_t *ap = ap_new_fake();
        prefix_ctx_t *pc = &ap->prefixes[0];
        long long master = -1;
        unsigned int dberr = 0;
        char err[256] = "";
        map_entry_t *e;

        ck_assert_ptr_null(ap_map_cached(ap, pc, T_CONTACT, 7));
        ap_map_remember(ap, pc, T_CONTACT, 7, 1007, 42);
        e = ap_map_cached(ap, pc, T_CONTACT, 7);
        ck_assert_ptr_nonnull(e);
        ck_assert_int_eq(e->master_id, 1007);
        ck_assert_int_eq(e->generation, 42);
        /* Answered from the cache: no connection is touched. */
        ck_assert_int_eq(ap_map_lookup(ap, pc, T_CONTACT, 7, &master, &dberr, err,
                                       sizeof(err)), AP_MAP_FOUND);
        ck_assert_int_eq(master, 1007);
        /* master 0: known to be unmapped (what a prefetch records). */
        ap_map_remember(ap, pc, T_CONTACT, 8, 0, -1);
        ck_assert_int_eq(ap_map_lookup(ap, pc, T_CONTACT, 8, &master, &dberr, err,
                                       sizeof(err)), AP_MAP_NONE);
        /* Remembering again overwrites the entry in place. */
        ap_map_remember(ap, pc, T_CONTACT, 7, 2007, 43);
        ck_assert_ptr_eq(ap_map_cached(ap, pc, T_CONTACT, 7), e);
        ck_assert_int_eq(e->master_id, 2007);
        ck_assert_int_eq(e->generation, 43);
        ap_free_fake(ap);
}
END_TEST

START_TEST(test_cache_keys_are_distinct)
{
        cs_apply_t *ap = ap_new_fake();
        prefix_ctx_t *p1 = &ap->prefixes[0], *p2 = &ap->prefixes[1];

        ap_map_remember(ap, p1, T_CONTACT, 5, 105, 1);
        ck_assert_ptr_null(ap_map_cached(ap, p2, T_CONTACT, 5));
        ck_assert_ptr_null(ap_map_cached(ap, p1, T_EMAIL, 5));
        ck_assert_ptr_null(ap_map_cached(ap, p1, T_CONTACT, 6));
        ap_map_remember(ap, p2, T_CONTACT, 5, 205, 1);
        ap_map_remember(ap, p1, T_EMAIL, 5, 305, 1);
        ck_assert_int_eq(ap_map_cached(ap, p1, T_CONTACT, 5)->master_id, 105);
        ck_assert_int_eq(ap_map_cached(ap, p2, T_CONTACT, 5)->master_id, 205);
        ck_assert_int_eq(ap_map_cached(ap, p1, T_EMAIL, 5)->master_id, 305);
        /* A table that is not synced is never cached. */
        ap_map_remember(ap, p1, "civicrm_not_synced", 5, 405, 1);
        ck_assert_ptr_null(ap_map_cached(ap, p1, "civicrm_not_synced", 5));
        ap_free_fake(ap);
}
END_TEST

START_TEST(test_cache_forget_all)
{
        cs_apply_t *ap = ap_new_fake();
        prefix_ctx_t *pc = &ap->prefixes[0];

        for (long long id = 1; id <= 1000; id++)
                ap_map_remember(ap, pc, T_CONTACT, id, id + 5000, 1);
        ck_assert_ptr_nonnull(ap_map_cached(ap, pc, T_CONTACT, 1000));
        ap_map_forget_all(ap);
        for (long long id = 1; id <= 1000; id++)
                ck_assert_ptr_null(ap_map_cached(ap, pc, T_CONTACT, id));
        ap_free_fake(ap);
}
END_TEST

/* A delete of one table's mapping rows forgets that table's entries (of
 * every prefix, hits and known misses) and keeps the other tables'. */
START_TEST(test_cache_forget_table)
{
        cs_apply_t *ap = ap_new_fake();
        prefix_ctx_t *p1 = &ap->prefixes[0], *p2 = &ap->prefixes[1];
        long long master = -1;
        unsigned int dberr = 0;
        char err[256] = "";

        for (long long id = 1; id <= 100; id++) {
                ap_map_remember(ap, p1, T_CONTACT, id, id + 5000, 1);
                ap_map_remember(ap, p1, T_EMAIL, id, id + 6000, 1);
                ap_map_remember(ap, p2, T_EMAIL, id, 0, -1);
        }
        ap_map_forget_table(ap, T_EMAIL);
        ap_map_forget_table(ap, "civicrm_not_synced"); /* nothing to forget */
        for (long long id = 1; id <= 100; id++) {
                ck_assert_ptr_null(ap_map_cached(ap, p1, T_EMAIL, id));
                ck_assert_ptr_null(ap_map_cached(ap, p2, T_EMAIL, id));
                ck_assert_int_eq(ap_map_lookup(ap, p1, T_CONTACT, id, &master,
                                               &dberr, err, sizeof(err)),
                                 AP_MAP_FOUND);
                ck_assert_int_eq(master, id + 5000);
        }
        /* Remembered after the forget: valid again. */
        ap_map_remember(ap, p1, T_EMAIL, 7, 6007, 2);
        ck_assert_int_eq(ap_map_cached(ap, p1, T_EMAIL, 7)->master_id, 6007);
        /* One entry: the others of its table stay. */
        ap_map_remember(ap, p1, T_EMAIL, 8, 6008, 2);
        ap_map_forget(ap, p1, T_EMAIL, 7);
        ck_assert_ptr_null(ap_map_cached(ap, p1, T_EMAIL, 7));
        ck_assert_ptr_nonnull(ap_map_cached(ap, p1, T_EMAIL, 8));
        ck_assert_ptr_nonnull(ap_map_cached(ap, p1, T_CONTACT, 7));
        ap_free_fake(ap);
}
END_TEST

/* Finds n contact ids of prefix pc that share one cache set. */
static void same_set_ids(cs_apply_t *ap, prefix_ctx_t *pc, long long *ids,
                         size_t n)
{
        size_t found = 0, want = 0;

        for (long long id = 1; found < n && id < 10000000; id++) {
                map_entry_t *e;
                ap_map_forget_all(ap);
                ap_map_remember(ap, pc, T_CONTACT, id, 1, 1);
                e = ap_map_cached(ap, pc, T_CONTACT, id);
                ck_assert_ptr_nonnull(e);
                if (found == 0)
                        want = set_of(ap, e);
                if (set_of(ap, e) == want)
                        ids[found++] = id;
        }
        ck_assert_uint_eq(found, n);
        ap_map_forget_all(ap);
}

START_TEST(test_cache_set_holds_four_ways)
{
        cs_apply_t *ap = ap_new_fake();
        prefix_ctx_t *pc = &ap->prefixes[0];
        long long ids[6];

        same_set_ids(ap, pc, ids, 6);
        ap->map_victim = 0;
        for (int i = 0; i < 4; i++)
                ap_map_remember(ap, pc, T_CONTACT, ids[i], 100 + i, 1);
        for (int i = 0; i < 4; i++)
                ck_assert_int_eq(ap_map_cached(ap, pc, T_CONTACT, ids[i])->master_id,
                                 100 + i);
        /* Updating an entry of a full set takes no other way. */
        ap_map_remember(ap, pc, T_CONTACT, ids[2], 777, 2);
        for (int i = 0; i < 4; i++)
                ck_assert_ptr_nonnull(ap_map_cached(ap, pc, T_CONTACT, ids[i]));
        ck_assert_int_eq(ap_map_cached(ap, pc, T_CONTACT, ids[2])->master_id, 777);
        /* A fifth entry evicts one way in turn (way 0, then way 1): the
         * newest entry is always kept. */
        ap_map_remember(ap, pc, T_CONTACT, ids[4], 104, 1);
        ck_assert_ptr_nonnull(ap_map_cached(ap, pc, T_CONTACT, ids[4]));
        ck_assert_ptr_null(ap_map_cached(ap, pc, T_CONTACT, ids[0]));
        ck_assert_ptr_nonnull(ap_map_cached(ap, pc, T_CONTACT, ids[1]));
        ap_map_remember(ap, pc, T_CONTACT, ids[5], 105, 1);
        ck_assert_ptr_nonnull(ap_map_cached(ap, pc, T_CONTACT, ids[5]));
        ck_assert_ptr_nonnull(ap_map_cached(ap, pc, T_CONTACT, ids[4]));
        ck_assert_ptr_null(ap_map_cached(ap, pc, T_CONTACT, ids[1]));
        ck_assert_int_eq(ap_map_cached(ap, pc, T_CONTACT, ids[2])->master_id, 777);
        ck_assert_int_eq(ap_map_cached(ap, pc, T_CONTACT, ids[3])->master_id, 103);
        ap_free_fake(ap);
}
END_TEST

/* ---- the savepoint journal ---- */

START_TEST(test_journal_rollback_forgets_only_its_entries)
{
        cs_apply_t *ap = ap_new_fake();
        prefix_ctx_t *pc = &ap->prefixes[0];
        char table[72];

        ap_map_remember(ap, pc, T_CONTACT, 1, 101, 1); /* before the savepoint */
        ap_map_journal_start(ap);
        /* The table name comes from a document that is freed before the
         * rollback: the journal must keep the registry's own string. */
        strcpy(table, T_EMAIL);
        ap_map_remember(ap, pc, table, 2, 102, 1);
        memset(table, 'x', sizeof(table) - 1);
        table[sizeof(table) - 1] = '\0';
        ap_map_remember(ap, pc, T_CONTACT, 3, 103, 1);
        ck_assert_uint_eq(ap->journal_n, 2);
        ap_map_journal_end(ap, 1);
        ck_assert_int_eq(ap->journaling, 0);
        ck_assert_ptr_nonnull(ap_map_cached(ap, pc, T_CONTACT, 1));
        ck_assert_ptr_null(ap_map_cached(ap, pc, T_EMAIL, 2));
        ck_assert_ptr_null(ap_map_cached(ap, pc, T_CONTACT, 3));
        /* Outside a savepoint nothing is recorded. */
        ap_map_remember(ap, pc, T_CONTACT, 4, 104, 1);
        ck_assert_uint_eq(ap->journal_n, 2);
        ap_free_fake(ap);
}
END_TEST

START_TEST(test_journal_release_keeps_entries)
{
        cs_apply_t *ap = ap_new_fake();
        prefix_ctx_t *pc = &ap->prefixes[1];

        ap_map_journal_start(ap);
        ap_map_remember(ap, pc, T_CONTACT, 2, 102, 1);
        ap_map_remember(ap, pc, T_GROUP, 2, 202, 1);
        ap_map_journal_end(ap, 0);
        ck_assert_int_eq(ap_map_cached(ap, pc, T_CONTACT, 2)->master_id, 102);
        ck_assert_int_eq(ap_map_cached(ap, pc, T_GROUP, 2)->master_id, 202);
        /* A new savepoint starts an empty journal. */
        ap_map_journal_start(ap);
        ck_assert_uint_eq(ap->journal_n, 0);
        ap_map_journal_end(ap, 1);
        ck_assert_ptr_nonnull(ap_map_cached(ap, pc, T_CONTACT, 2));
        ap_free_fake(ap);
}
END_TEST

START_TEST(test_journal_overflow_forgets_everything)
{
        cs_apply_t *ap = ap_new_fake();
        prefix_ctx_t *pc = &ap->prefixes[0];
        size_t max = sizeof(ap->journal) / sizeof(ap->journal[0]);

        ap_map_remember(ap, pc, T_CONTACT, 1, 101, 1);
        ap_map_journal_start(ap);
        for (size_t i = 0; i <= max; i++)
                ap_map_remember(ap, pc, T_EMAIL, (long long)i + 1, 1000, 1);
        ck_assert_uint_eq(ap->journal_n, max);
        ck_assert_int_eq(ap->journal_overflow, 1);
        ap_map_journal_end(ap, 1);
        /* More than the journal holds: the whole cache is forgotten. */
        ck_assert_ptr_null(ap_map_cached(ap, pc, T_CONTACT, 1));
        ck_assert_ptr_null(ap_map_cached(ap, pc, T_EMAIL, (long long)max + 1));
        ck_assert_ptr_null(ap_map_cached(ap, pc, T_EMAIL, 1));
        /* Exactly max entries still roll back one by one. */
        ap_map_remember(ap, pc, T_CONTACT, 1, 101, 1);
        ap_map_journal_start(ap);
        for (size_t i = 0; i < max; i++)
                ap_map_remember(ap, pc, T_EMAIL, (long long)i + 1, 1000, 1);
        ck_assert_int_eq(ap->journal_overflow, 0);
        ap_map_journal_end(ap, 1);
        ck_assert_ptr_nonnull(ap_map_cached(ap, pc, T_CONTACT, 1));
        ck_assert_ptr_null(ap_map_cached(ap, pc, T_EMAIL, 1));
        ap_free_fake(ap);
}
END_TEST

/* ---- id lists ---- */

/* Parses s with ap_next_list_id into ids[]; returns the count, or -1 -
 * (position of the bad id) when an id is rejected. */
static int parse_list(const char *s, long long *ids, int max)
{
        const char *p = s;
        int n = 0, rc;
        long long id;

        while ((rc = ap_next_list_id(&p, &id)) == 1) {
                ck_assert_int_lt(n, max);
                ids[n++] = id;
        }
        return rc == 0 ? n : -1 - n;
}

START_TEST(test_next_list_id)
{
        long long ids[8];
        char big[64];

        ck_assert_int_eq(parse_list("", ids, 8), 0);
        ck_assert_int_eq(parse_list(",", ids, 8), 0);
        ck_assert_int_eq(parse_list(" , ,", ids, 8), 0);
        ck_assert_int_eq(parse_list("5", ids, 8), 1);
        ck_assert_int_eq(ids[0], 5);
        ck_assert_int_eq(parse_list("1,22,333", ids, 8), 3);
        ck_assert_int_eq(ids[1], 22);
        ck_assert_int_eq(ids[2], 333);
        /* CiviCRM writes "1,2" and ",1,2,"; spaces are tolerated. */
        ck_assert_int_eq(parse_list(",1,2,", ids, 8), 2);
        ck_assert_int_eq(parse_list(" 1 , 2 ,", ids, 8), 2);
        ck_assert_int_eq(ids[1], 2);
        ck_assert_int_eq(parse_list("1,,2", ids, 8), 2);
        /* The largest id there is, and one above it. */
        snprintf(big, sizeof(big), "%lld", LLONG_MAX);
        ck_assert_int_eq(parse_list(big, ids, 8), 1);
        ck_assert_int_eq(ids[0], LLONG_MAX);
        ck_assert_int_eq(parse_list("1,9223372036854775808", ids, 8), -2);
        ck_assert_int_eq(parse_list("99999999999999999999999", ids, 8), -1);
        /* Not ids: zero, negatives, junk, junk after digits. */
        ck_assert_int_eq(parse_list("0", ids, 8), -1);
        ck_assert_int_eq(parse_list("3,-4", ids, 8), -2);
        ck_assert_int_eq(parse_list("abc", ids, 8), -1);
        ck_assert_int_eq(parse_list("1,2x", ids, 8), -3);
        ck_assert_int_eq(parse_list("1;2", ids, 8), -2);
        ck_assert_int_eq(parse_list("7,\x01", ids, 8), -2);
}
END_TEST

/* A fake whose cache maps T_GROUP child ids 1..3 (3: known unmapped). */
static cs_apply_t *ap_with_groups(void)
{
        cs_apply_t *ap = ap_new_fake();
        prefix_ctx_t *pc = &ap->prefixes[0];

        ap_map_remember(ap, pc, T_GROUP, 1, 101, 1);
        ap_map_remember(ap, pc, T_GROUP, 2, 102, 1);
        ap_map_remember(ap, pc, T_GROUP, 3, 0, -1);
        return ap;
}

/* Translates list; returns the NEW result (NULL on error) and sets *missing,
 * *err and err text. */
static char *translate(cs_apply_t *ap, const char *list, long long *missing,
                       int *err, char *errstr, size_t errstr_size)
{
        unsigned int dberr = 0;

        errstr[0] = '\0';
        return ap_translate_id_list(ap, &ap->prefixes[0], T_GROUP, list,
                                    missing, err, &dberr, errstr, errstr_size);
}

START_TEST(test_translate_id_list)
{
        cs_apply_t *ap = ap_with_groups();
        long long missing = -1;
        int err = -1;
        char e[256], *out;

        out = translate(ap, "1,2", &missing, &err, e, sizeof(e));
        ck_assert_str_eq(out, "101,102");
        ck_assert_int_eq(missing, 0);
        ck_assert_int_eq(err, 0);
        free(out);
        out = translate(ap, "", &missing, &err, e, sizeof(e));
        ck_assert_str_eq(out, "");
        ck_assert_int_eq(missing, 0);
        free(out);
        out = translate(ap, " 2 , 1 ,", &missing, &err, e, sizeof(e));
        ck_assert_str_eq(out, "102,101");
        free(out);
        /* Unmapped ids are left out; the first of them is reported. */
        out = translate(ap, "3,1,3,2", &missing, &err, e, sizeof(e));
        ck_assert_str_eq(out, "101,102");
        ck_assert_int_eq(missing, 3);
        free(out);
        out = translate(ap, "3", &missing, &err, e, sizeof(e));
        ck_assert_str_eq(out, "");
        ck_assert_int_eq(missing, 3);
        free(out);
        ap_free_fake(ap);
}
END_TEST

START_TEST(test_translate_id_list_rejects_junk)
{
        cs_apply_t *ap = ap_with_groups();
        long long missing = 0;
        int err = 0;
        char e[256];

        ck_assert_ptr_null(translate(ap, "1,x", &missing, &err, e, sizeof(e)));
        ck_assert_int_eq(err, 2);
        ck_assert_str_eq(e, "not a comma-separated id list: '1,x'");
        ck_assert_ptr_null(translate(ap, "1,-2", &missing, &err, e, sizeof(e)));
        ck_assert_int_eq(err, 2);
        ck_assert_ptr_null(translate(ap, "1,99999999999999999999", &missing, &err,
                                     e, sizeof(e)));
        ck_assert_int_eq(err, 2);
        ck_assert_str_eq(e, "not a comma-separated id list: "
                            "'1,99999999999999999999'");
        ap_free_fake(ap);
}
END_TEST

START_TEST(test_translate_id_list_grows)
{
        cs_apply_t *ap = ap_new_fake();
        prefix_ctx_t *pc = &ap->prefixes[0];
        size_t n = 3000, len = 0, olen = 0;
        char *list = malloc(n * 8), *want = malloc(n * 16), *out, e[256];
        long long missing = -1;
        int err = -1;

        ck_assert_ptr_nonnull(list);
        ck_assert_ptr_nonnull(want);
        /* One-digit-ish child ids become ten-digit master ids: the output
         * outgrows its first allocation several times. */
        for (size_t i = 1; i <= n; i++) {
                long long master = 4000000000LL + (long long)i;
                ap_map_remember(ap, pc, T_GROUP, (long long)i, master, 1);
                len += (size_t)sprintf(list + len, "%s%zu", i > 1 ? "," : "", i);
                olen += (size_t)sprintf(want + olen, "%s%lld", i > 1 ? "," : "",
                                        master);
        }
        out = translate(ap, list, &missing, &err, e, sizeof(e));
        ck_assert_ptr_nonnull(out);
        ck_assert_str_eq(out, want);
        ck_assert_int_eq(missing, 0);
        free(out);
        free(list);
        free(want);
        ap_free_fake(ap);
}
END_TEST

Suite *consumer_internals_suite(void)
{
        Suite *s = suite_create("consumer_internals");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_cache_remember_and_lookup);
        tcase_add_test(tc, test_cache_keys_are_distinct);
        tcase_add_test(tc, test_cache_forget_all);
        tcase_add_test(tc, test_cache_forget_table);
        tcase_add_test(tc, test_cache_set_holds_four_ways);
        tcase_add_test(tc, test_journal_rollback_forgets_only_its_entries);
        tcase_add_test(tc, test_journal_release_keeps_entries);
        tcase_add_test(tc, test_journal_overflow_forgets_everything);
        tcase_add_test(tc, test_next_list_id);
        tcase_add_test(tc, test_translate_id_list);
        tcase_add_test(tc, test_translate_id_list_rejects_junk);
        tcase_add_test(tc, test_translate_id_list_grows);
        suite_add_tcase(s, tc);
        return s;
}
