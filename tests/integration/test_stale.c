/* test_stale.c — a complete sync tombstones the rows deleted since the last run, so that a --resync of the compacted topic does not bring them back. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consume_util.h"
#include "harness.h"
#include "kafka_util.h"

/* Tombstones (null values) on topic for key (NULL: any key). */
static int tombstones_for(const char *topic, const char *key)
{
        ku_msg_t *msgs;
        int n = ku_read_all(topic, &msgs), found = 0;

        for (int i = 0; i < n; i++)
                if (msgs[i].key && (!key || !strcmp(msgs[i].key, key)) && !msgs[i].value)
                        found++;
        ku_msgs_free(msgs, n);
        return found;
}

static it_run_t produce(const char *pconf, const char *mode)
{
        it_run_t r = mode ? it_run("civisync-produce", "-c", pconf, mode, NULL) :
                            it_run("civisync-produce", "-c", pconf, NULL);
        ck_assert_msg(r.exit_code == 0, "produce exit %d: %s", r.exit_code, r.err);
        return r;
}

/* A child synced incrementally loses a contact (with its relationships
 * and group memberships, by cascade), an unrelated note and an email; the
 * next run is --complete. The live master is right after it (its sweep),
 * and the topic must hold tombstones for the deleted root keys: a later
 * --resync replays the topic as a complete sync, and without them it
 * re-applied the deleted rows' last documents (master != child). */
START_TEST(test_complete_tombstones_deleted_rows)
{
        char master[64], child[64], tag[32], prefix[32], topic[96], key[160];
        char cextra[96], *complete_log;
        const char *pconf, *cconf;
        long long cid, rel, nid, eid, email_cid;
        int n;
        MYSQL *m, *c;
        it_run_t r;

        it_unique(master, sizeof(master), "smaster");
        it_unique(child, sizeof(child), "schild");
        it_unique(tag, sizeof(tag), "stale");
        snprintf(prefix, sizeof(prefix), "s%s", tag + 6);
        snprintf(topic, sizeof(topic), "civisync.%s", prefix);
        it_make_db(master, "--schema 5");
        it_make_db(child, "--schema 5 --child 1 --contacts 40");
        it_topic(topic, 2);
        pconf = strdup(it_producer_conf(prefix, child, NULL));
        snprintf(cextra, sizeof(cextra), "prefixes = [\"%s\"];", prefix);
        cconf = strdup(it_consumer_conf(master, cextra));
        m = it_connect(master);
        c = it_connect(child);

        /* First run (complete), then an incremental one: a usable state. */
        r = produce(pconf, NULL);
        it_run_free(&r);
        r = it_run("civisync-consume", "-c", cconf, "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        it_run_free(&r);
        it_exec(c, "UPDATE civicrm_contact SET first_name = 'Stale' WHERE id = "
                "(SELECT id FROM (SELECT MAX(id) id FROM civicrm_contact) x)");
        r = produce(pconf, NULL);
        ck_assert_msg(strstr(r.out, " incremental generation") != NULL, "%s", r.out);
        it_run_free(&r);
        r = it_run("civisync-consume", "-c", cconf, "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        it_run_free(&r);
        it_assert_synced(c, m, prefix);

        /* Deletes on the child, as CiviCRM does them: the notes on the
         * contact, on its relationships and on those notes go too (an FK
         * cascade would leave them orphaned on the child). */
        cid = it_int(c, "SELECT MIN(c.id) FROM civicrm_contact c WHERE EXISTS "
                     "(SELECT 1 FROM civicrm_relationship r WHERE r.contact_id_b = c.id "
                     "OR r.contact_id_a = c.id)");
        ck_assert_int_gt(cid, 0);
        rel = it_int(c, "SELECT MIN(id) FROM civicrm_relationship WHERE contact_id_a = "
                     "%lld OR contact_id_b = %lld", cid, cid);
        it_exec(c, "UPDATE civicrm_contact SET employer_id = NULL WHERE employer_id = %lld", cid);
        it_exec(c, "UPDATE civicrm_contact SET primary_contact_id = NULL WHERE "
                "primary_contact_id = %lld", cid);
        it_exec(c, "DELETE FROM civicrm_entity_tag WHERE entity_table = 'civicrm_contact' "
                "AND entity_id = %lld", cid);
        it_exec(c, "CREATE TEMPORARY TABLE gone_note AS SELECT id FROM civicrm_note "
                "WHERE (entity_table = 'civicrm_contact' AND entity_id = %lld) OR "
                "(entity_table = 'civicrm_relationship' AND entity_id IN (SELECT id "
                "FROM civicrm_relationship WHERE contact_id_a = %lld OR contact_id_b = "
                "%lld))", cid, cid, cid);
        it_exec(c, "DELETE FROM civicrm_note WHERE entity_table = 'civicrm_note' AND "
                "entity_id IN (SELECT id FROM gone_note)");
        it_exec(c, "DELETE FROM civicrm_note WHERE id IN (SELECT id FROM gone_note)");
        it_exec(c, "DELETE FROM civicrm_contact WHERE id = %lld", cid);
        ck_assert_int_eq(it_int(c, "SELECT COUNT(*) FROM civicrm_relationship WHERE "
                                "id = %lld", rel), 0);
        nid = it_int(c, "SELECT MAX(n.id) FROM civicrm_note n WHERE n.entity_table = "
                     "'civicrm_contact' AND NOT EXISTS (SELECT 1 FROM civicrm_note x "
                     "WHERE x.entity_table = 'civicrm_note' AND x.entity_id = n.id)");
        ck_assert_int_gt(nid, 0);
        it_exec(c, "DELETE FROM civicrm_note WHERE id = %lld", nid);
        /* A nested row: its contact is re-sent without it, no tombstone. */
        eid = it_int(c, "SELECT MAX(id) FROM civicrm_email WHERE contact_id IS NOT NULL");
        email_cid = it_int(c, "SELECT contact_id FROM civicrm_email WHERE id = %lld", eid);
        it_exec(c, "DELETE FROM civicrm_email WHERE id = %lld", eid);

        r = produce(pconf, "--complete");
        ck_assert_msg(strstr(r.out, " complete generation") != NULL, "%s", r.out);
        complete_log = strdup(r.err);
        it_run_free(&r);
        r = it_run("civisync-consume", "-c", cconf, "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        ck_assert_msg(strstr(r.err, "end marker counts differ") == NULL, "%s", r.err);
        it_run_free(&r);
        it_assert_synced(c, m, prefix);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_prefix WHERE prefix = "
                                "'%s' AND last_error IS NOT NULL", prefix), 0);

        /* The replay of the topic: the deleted rows stay deleted. */
        r = it_run("civisync-consume", "-c", cconf, "--resync", prefix, "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        ck_assert_msg(strstr(r.err, "offset-rewind replay complete") != NULL, "%s", r.err);
        it_run_free(&r);
        ck_assert_int_eq(ct_master_id(m, prefix, "civicrm_contact", cid), 0);
        ck_assert_int_eq(ct_master_id(m, prefix, "civicrm_note", nid), 0);
        ck_assert_int_eq(ct_master_id(m, prefix, "civicrm_relationship", rel), 0);
        it_assert_synced(c, m, prefix);
        it_assert_same(child, master, prefix);

        /* The topic: a tombstone for every deleted root key, none for the
         * email (nested) nor for its contact (still there). */
        snprintf(key, sizeof(key), "%s/civicrm_contact/%lld", prefix, cid);
        ck_assert_msg(tombstones_for(topic, key) == 1, "no tombstone for %s", key);
        snprintf(key, sizeof(key), "%s/civicrm_relationship/%lld", prefix, rel);
        ck_assert_msg(tombstones_for(topic, key) == 1, "no tombstone for %s", key);
        snprintf(key, sizeof(key), "%s/civicrm_note/%lld", prefix, nid);
        ck_assert_msg(tombstones_for(topic, key) == 1, "no tombstone for %s", key);
        snprintf(key, sizeof(key), "%s/civicrm_email/%lld", prefix, eid);
        ck_assert_int_eq(tombstones_for(topic, key), 0);
        snprintf(key, sizeof(key), "%s/civicrm_contact/%lld", prefix, email_cid);
        ck_assert_int_eq(tombstones_for(topic, key), 0);

        /* The run counted them: every tombstone on the topic is its. */
        n = tombstones_for(topic, NULL);
        ck_assert_int_ge(n, 3);
        snprintf(key, sizeof(key), "%d tombstone(s) for rows deleted since the last run", n);
        ck_assert_msg(strstr(complete_log, key) != NULL, "no '%s' in the log: %s", key,
                      complete_log);
        free(complete_log);

        /* civisync-verify agrees: 0 differences. */
        r = it_run("civisync-verify", "--child-config", pconf, "--master-config",
                   cconf, "--no-metadata", NULL);
        snprintf(key, sizeof(key), "verify %s: 0 differences", prefix);
        ck_assert_msg(r.exit_code == 0 && strstr(r.out, key) != NULL,
                      "verify exit %d\n%s\n%s", r.exit_code, r.out, r.err);
        it_run_free(&r);
        mysql_close(m);
        mysql_close(c);
        free((char *)pconf);
        free((char *)cconf);
}
END_TEST

Suite *stale_suite(void)
{
        Suite *s = suite_create("stale");
        TCase *tc = tcase_create("stale");

        tcase_set_timeout(tc, 600);
        tcase_add_test(tc, test_complete_tombstones_deleted_rows);
        suite_add_tcase(s, tc);
        return s;
}
