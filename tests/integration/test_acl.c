/* test_acl.c — ACLs and ACL roles sync with translated group/contact ids, profile joins on events wait parked for phase 3, caches never reach the master. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo_site.h"
#include "harness.h"

static void produce(const char *conf, int complete)
{
        it_run_t r = complete ?
                it_run("civisync-produce", "-c", conf, "--complete", NULL) :
                it_run("civisync-produce", "-c", conf, NULL);
        ck_assert_msg(r.exit_code == 0, "produce exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);
}

static void consume(const char *conf)
{
        it_run_t r = it_run("civisync-consume", "-c", conf, "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "consume exit %d: %s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "rejected to") == NULL, "rejections: %s", r.err);
        ck_assert_msg(strstr(r.err, "end marker counts differ") == NULL,
                      "count mismatch: %s", r.err);
        it_run_free(&r);
}

static void verify_clean(const char *pconf, const char *cconf, const char *prefix)
{
        char want[128];
        /* The demo site's metadata differs from the empty site's by design
         * (metadata/test_gate_demo_site); the data is compared here. */
        it_run_t r = it_run("civisync-verify", "--child-config", pconf,
                            "--master-config", cconf, "--no-metadata", NULL);

        snprintf(want, sizeof(want), "verify %s: 0 differences", prefix);
        if (r.exit_code != 0 || !strstr(r.out, want))
                fprintf(stderr, "%s\n%s\n", r.out, r.err);
        ck_assert_msg(r.exit_code == 0 && strstr(r.out, want) != NULL,
                      "verify exit %d (output above)", r.exit_code);
        /* the profile joins on events are compared since phase 3b */
        ck_assert_msg(strstr(r.out, "row(s) not compared") == NULL,
                      "verify leaves rows out:\n%.2000s", r.out);
        it_run_free(&r);
}

static long long master_id(MYSQL *m, const char *prefix, const char *table,
                           long long child_id)
{
        return it_int(m, "SELECT COALESCE(MAX(master_entity_id), 0) FROM "
                      "mapping_master_%s WHERE entity_table = '%s' AND "
                      "child_entity_id = %lld", prefix, table, child_id);
}

/* A checksum of the ACL rows of a database, and of its ACL role
 * assignments. */
static long long acl_sum(MYSQL *db, const char *table)
{
        it_exec(db, "SET SESSION group_concat_max_len = 1000000");
        if (!strcmp(table, "civicrm_acl"))
                return it_int(db, "SELECT CRC32(GROUP_CONCAT(CONCAT_WS('|', id, name, "
                              "deny, entity_table, entity_id, operation, "
                              "IFNULL(object_table, '-'), IFNULL(object_id, '-'), "
                              "IFNULL(acl_table, '-'), IFNULL(acl_id, '-'), is_active) "
                              "ORDER BY id)) FROM civicrm_acl");
        return it_int(db, "SELECT CRC32(GROUP_CONCAT(CONCAT_WS('|', id, acl_role_id, "
                      "entity_table, entity_id, is_active) ORDER BY id)) FROM "
                      "civicrm_acl_entity_role");
}

static const char *const caches[] = {
        "civicrm_acl_cache", "civicrm_acl_contact_cache",
        "civicrm_group_contact_cache", "civicrm_relationship_cache", NULL
};

/* The demo site's 65 ACLs and its ACL role on group 1, plus ACLs owned by
 * a group and a contact, on a group, a profile, all groups and an event,
 * sync into a master whose groups and contacts have other ids: group and
 * contact ids are translated, roles, profiles and "all groups" (0) pass
 * through, the ACL on an event and the 6 profile joins on events are
 * translated (events are synced since phase 3b); a child's cache
 * rows never reach the master; an incremental edit and delete follow;
 * civisync-verify reports 0 differences throughout. */
START_TEST(test_acl_demo_site)
{
        it_demo_t s;
        long long g3, g3m, g1m, who, whom, acl_g, acl_c, acl_ev, acl_uf, role_c;

        /* The demo site's contributions (phase 3a) need its payment
         * processors and membership types, which an empty site lacks. */
        it_demo_setup(&s, "acl", 1, IT_DEMO_CONTRIBUTE_META);
        const char *master = s.master, *child = s.child, *prefix = s.prefix;
        const char *pconf = s.pconf, *cconf = s.cconf;
        MYSQL *m = s.m, *c = s.c;
        /* The master's own groups: the child's land on other ids. */
        for (int i = 0; i < 7; i++)
                it_exec(m, "INSERT INTO civicrm_group (name, title) VALUES "
                        "('master_%d', 'Master group %d')", i, i);

        ck_assert_int_eq(it_int(c, "SELECT COUNT(*) FROM civicrm_acl"), 65);
        ck_assert_int_eq(it_int(c, "SELECT COUNT(*) FROM civicrm_acl_entity_role"), 1);
        g3 = 3;
        who = it_int(c, "SELECT MIN(id) FROM civicrm_contact WHERE contact_type = "
                     "'Individual' AND id > 1");
        whom = it_int(c, "SELECT MAX(id) FROM civicrm_contact WHERE contact_type = "
                      "'Individual'");
        it_exec(c, "INSERT INTO civicrm_acl (name, deny, entity_table, entity_id, "
                "operation, object_table, object_id, is_active) VALUES "
                "('Group 1 edits group 3', 0, 'civicrm_group', 1, 'Edit', "
                "'civicrm_saved_search', %lld, 1)", g3);
        acl_g = it_int(c, "SELECT LAST_INSERT_ID()");
        it_exec(c, "INSERT INTO civicrm_acl (name, deny, entity_table, entity_id, "
                "operation, object_table, object_id, acl_table, acl_id, is_active) "
                "VALUES ('A contact views group 4', 0, 'civicrm_contact', %lld, "
                "'View', 'civicrm_group', 4, 'civicrm_acl', %lld, 1)", who, acl_g);
        acl_c = it_int(c, "SELECT LAST_INSERT_ID()");
        it_exec(c, "INSERT INTO civicrm_acl (name, deny, entity_table, entity_id, "
                "operation, object_table, object_id, is_active) VALUES "
                "('Role 2 edits profile 1', 0, 'civicrm_acl_role', 2, 'Edit', "
                "'civicrm_uf_group', 1, 1)");
        acl_uf = it_int(c, "SELECT LAST_INSERT_ID()");
        it_exec(c, "INSERT INTO civicrm_acl (name, deny, entity_table, entity_id, "
                "operation, object_table, object_id, is_active) VALUES "
                "('Role 2 edits event 1', 0, 'civicrm_acl_role', 2, 'Edit', "
                "'civicrm_event', 1, 1)");
        acl_ev = it_int(c, "SELECT LAST_INSERT_ID()");
        it_exec(c, "INSERT INTO civicrm_acl_entity_role (acl_role_id, entity_table, "
                "entity_id, is_active) VALUES (2, 'civicrm_contact', %lld, 1)", whom);
        role_c = it_int(c, "SELECT LAST_INSERT_ID()");
        /* Cache rows on the child, as CiviCRM writes them. */
        it_exec(c, "INSERT INTO civicrm_acl_cache (contact_id, acl_id, modified_date) "
                "VALUES (%lld, %lld, NOW())", who, acl_c);
        it_exec(c, "INSERT INTO civicrm_acl_contact_cache (user_id, contact_id, "
                "operation) VALUES (%lld, %lld, 'View')", who, whom);
        it_exec(c, "INSERT INTO civicrm_group_contact_cache (group_id, contact_id) "
                "VALUES (3, %lld)", whom);
        /* civicrm_relationship_cache: the demo site's own rows (triggers) */

        produce(pconf, 1);
        consume(cconf);

        /* Every ACL, the one on an event too (events are synced since phase
         * 3b: its id is translated), and the role assignments. */
        ck_assert_int_eq(it_mapped_rows(m, prefix, "civicrm_acl"), 65 + 4);
        ck_assert_int_eq(it_mapped_rows(m, prefix, "civicrm_acl_entity_role"), 2);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_acl WHERE id = %lld "
                                "AND object_table = 'civicrm_event' AND object_id = %lld",
                                master_id(m, prefix, "civicrm_acl", acl_ev),
                                master_id(m, prefix, "civicrm_event", 1)), 1);
        ck_assert_int_gt(master_id(m, prefix, "civicrm_event", 1), 0);
        /* group and contact ids translated */
        g1m = master_id(m, prefix, "civicrm_group", 1);
        g3m = master_id(m, prefix, "civicrm_group", g3);
        ck_assert_int_gt(g1m, 7);
        ck_assert_int_ne(g3m, g3);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_acl WHERE id = %lld "
                                "AND entity_table = 'civicrm_group' AND entity_id = "
                                "%lld AND object_table = 'civicrm_saved_search' AND "
                                "object_id = %lld", master_id(m, prefix, "civicrm_acl",
                                acl_g), g1m, g3m), 1);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_acl WHERE id = %lld "
                                "AND entity_id = %lld AND object_id = %lld AND "
                                "acl_table = 'civicrm_acl' AND acl_id = %lld",
                                master_id(m, prefix, "civicrm_acl", acl_c),
                                master_id(m, prefix, "civicrm_contact", who),
                                master_id(m, prefix, "civicrm_group", 4),
                                master_id(m, prefix, "civicrm_acl", acl_g)), 1);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_acl_entity_role "
                                "WHERE id = %lld AND acl_role_id = 1 AND entity_table "
                                "= 'civicrm_group' AND entity_id = %lld",
                                master_id(m, prefix, "civicrm_acl_entity_role", 1),
                                g1m), 1);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_acl_entity_role "
                                "WHERE id = %lld AND acl_role_id = 2 AND entity_id = %lld",
                                master_id(m, prefix, "civicrm_acl_entity_role", role_c),
                                master_id(m, prefix, "civicrm_contact", whom)), 1);
        /* roles, profiles and "all groups" pass through */
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_acl WHERE id = %lld "
                                "AND entity_table = 'civicrm_acl_role' AND entity_id = 1 "
                                "AND object_table = 'civicrm_saved_search' AND "
                                "object_id = 0", master_id(m, prefix, "civicrm_acl", 1)), 1);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_acl WHERE id = %lld "
                                "AND entity_id = 2 AND object_table = 'civicrm_uf_group' "
                                "AND object_id = 1", master_id(m, prefix, "civicrm_acl",
                                acl_uf)), 1);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_acl WHERE entity_id = 0 "
                                "AND object_table = 'view event info' AND object_id IS "
                                "NULL"), 1);

        /* The profile joins on events are translated (phase 3b); nothing
         * waits; the generation completed and swept. */
        ck_assert_int_eq(it_mapped_rows(m, prefix, "civicrm_uf_join"), 6);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_uf_join j JOIN "
                                "civicrm_event e ON e.id = j.entity_id WHERE "
                                "j.entity_table = 'civicrm_event'"), 6);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_parked_doc WHERE "
                                "prefix = '%s'", prefix), 0);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_prefix WHERE prefix = "
                                "'%s' AND completed_generation > 0 AND last_error IS "
                                "NULL", prefix), 1);
        /* the master's own profile joins (the seed's, entity_table NULL) stand */
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_uf_join WHERE "
                                "entity_table IS NULL"), 5);
        /* Caches: the child has rows, the master none. */
        for (int i = 0; caches[i]; i++) {
                ck_assert_int_gt(it_int(c, "SELECT COUNT(*) FROM %s", caches[i]), 0);
                ck_assert_msg(it_int(m, "SELECT COUNT(*) FROM %s", caches[i]) == 0,
                              "%s reached the master", caches[i]);
        }
        it_assert_same(child, master, prefix);
        verify_clean(pconf, cconf, prefix);

        /* Incremental: an ACL moves to another group, a role assignment goes. */
        it_exec(c, "UPDATE civicrm_acl SET object_id = 2 WHERE id = %lld", acl_g);
        it_exec(c, "DELETE FROM civicrm_acl_entity_role WHERE id = %lld", role_c);
        produce(pconf, 0);
        consume(cconf);
        ck_assert_int_eq(it_int(m, "SELECT object_id FROM civicrm_acl WHERE id = %lld",
                                master_id(m, prefix, "civicrm_acl", acl_g)),
                         master_id(m, prefix, "civicrm_group", 2));
        ck_assert_int_eq(it_mapped_rows(m, prefix, "civicrm_acl_entity_role"), 1);
        for (int i = 0; caches[i]; i++)
                ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM %s", caches[i]), 0);
        it_assert_same(child, master, prefix);
        verify_clean(pconf, cconf, prefix);

        /* A second complete sync parks nothing and sweeps nothing. */
        produce(pconf, 1);
        consume(cconf);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_parked_doc WHERE "
                                "prefix = '%s'", prefix), 0);
        ck_assert_int_eq(it_mapped_rows(m, prefix, "civicrm_acl"), 65 + 4);
        verify_clean(pconf, cconf, prefix);

        /* Last (its config replaces the child's, same prefix): the child is
         * lost, civisync-restore rebuilds its ACLs with the
         * original ids (group and contact ids mapped back, roles and
         * profiles as they are) into a fresh install, whose own profile
         * joins (entity_table NULL) are no obstacle. */
        {
                char restored[64];
                char *rconf;
                long long acls = acl_sum(c, "civicrm_acl");
                long long roles = acl_sum(c, "civicrm_acl_entity_role");
                MYSQL *rdb;
                it_run_t r;

                it_unique(restored, sizeof(restored), "aclrestored");
                it_make_db(restored, "--schema full --seed empty-site");
                rdb = it_connect(restored);
                it_demo_copy_contribute_metadata(rdb, child);
                rconf = strdup(it_producer_conf(prefix, restored, NULL));
                /* The empty site's seed gives the domain contact an email:
                 * a seed row restore accepts (cs_reg_seed). */
                r = it_run("civisync-restore", "--master-config", cconf, "--prefix",
                           prefix, "--into", rconf, NULL);
                ck_assert_msg(r.exit_code == 0, "restore exit %d\n%s\n%s",
                              r.exit_code, r.out, r.err);
                it_run_free(&r);
                ck_assert_int_eq(it_int(rdb, "SELECT COUNT(*) FROM civicrm_acl"), 65 + 4);
                ck_assert_int_eq(acl_sum(rdb, "civicrm_acl"), acls);
                ck_assert_int_eq(acl_sum(rdb, "civicrm_acl_entity_role"), roles);
                ck_assert_int_eq(it_int(rdb, "SELECT COUNT(*) FROM civicrm_uf_join "
                                        "WHERE entity_table IS NULL"), 5);
                mysql_close(rdb);
                free(rconf);
        }
        it_demo_teardown(&s);
}
END_TEST

Suite *acl_suite(void)
{
        Suite *s = suite_create("acl");
        TCase *tc = tcase_create("demo-site");

        tcase_set_timeout(tc, 600);
        tcase_add_test(tc, test_acl_demo_site);
        suite_add_tcase(s, tc);
        return s;
}
