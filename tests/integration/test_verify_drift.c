/* test_verify_drift.c — civisync-verify's other drift kinds: polymorphic ids, id lists, filters, --limit, errors. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static it_run_t verify(const char *pconf, const char *cconf, const char *extra1,
                       const char *extra2)
{
        return it_run("civisync-verify", "--child-config", pconf, "--master-config",
                      cconf, extra1, extra2, NULL);
}

static long long master_id(MYSQL *m, const char *prefix, const char *table,
                           long long child_id)
{
        return it_int(m, "SELECT master_entity_id FROM mapping_master_%s WHERE "
                      "entity_table = '%s' AND child_entity_id = %lld", prefix,
                      table, child_id);
}

/* Lines of out containing needle. */
static int count_lines(const char *out, const char *needle)
{
        int n = 0;
        for (const char *p = out; (p = strstr(p, needle)); p++)
                n++;
        return n;
}

/* A synced child; then: rows outside the row filters and a column the
 * master lacks change nothing (exit 0, the column named as not compared);
 * a note's polymorphic entity_id and a group's parents list moved on the
 * master are reported; --limit caps the lines, not the counts; a database
 * error exits 1. */
START_TEST(test_verify_drift_kinds)
{
        char master[64], child[64], prefix[40], topic[80], want[256];
        char *pconf, *cconf;
        long long note_id, group_id, contacts[3];
        MYSQL *m, *c;
        it_run_t r;

        it_unique(prefix, sizeof(prefix), "vd");
        snprintf(topic, sizeof(topic), "civisync.%s", prefix);
        it_master_and_child(master, child, sizeof(master), "--child 12 --contacts 40",
                            topic, 1);
        it_topic("civisync.dead-letter", 1);
        pconf = strdup(it_producer_conf(prefix, child, NULL));
        snprintf(want, sizeof(want), "prefixes = [\"%s\"];", prefix);
        cconf = strdup(it_consumer_conf(master, want));
        r = it_run("civisync-produce", "-c", pconf, "--complete", NULL);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        it_run_free(&r);
        r = it_run("civisync-consume", "-c", cconf, "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        it_run_free(&r);
        m = it_connect(master);
        c = it_connect(child);
        it_assert_synced(c, m, prefix);

        /* Rows civisync does not sync, and a column only the child has. */
        it_exec(c, "INSERT INTO civicrm_entity_tag (entity_table, entity_id, tag_id) "
                "SELECT 'civicrm_group', MIN(g.id), MIN(t.id) FROM civicrm_group g, civicrm_tag t");
        it_exec(c, "INSERT INTO civicrm_note (entity_table, entity_id, note) "
                "VALUES ('civicrm_case', 1, 'on a phase-2 table')");
        it_exec(c, "ALTER TABLE civicrm_contact ADD COLUMN child_only_col int NULL");
        it_exec(c, "UPDATE civicrm_contact SET child_only_col = 7, modified_date = modified_date");
        r = verify(pconf, cconf, NULL, NULL);
        ck_assert_msg(r.exit_code == 0, "exit %d\n%s\n%s", r.exit_code, r.out, r.err);
        snprintf(want, sizeof(want), "verify %s: 0 differences", prefix);
        ck_assert_msg(strstr(r.out, want) != NULL, "%s", r.out);
        ck_assert_msg(strstr(r.out, "not on the master, not compared: child_only_col") != NULL,
                      "%s", r.out);
        it_run_free(&r);

        /* A note's entity_id pointed at another contact on the master. */
        note_id = it_int(c, "SELECT MIN(id) FROM civicrm_note WHERE entity_table = 'civicrm_contact'");
        ck_assert_int_gt(note_id, 0);
        it_exec(m, "UPDATE civicrm_note SET entity_id = %lld WHERE id = %lld",
                master_id(m, prefix, "civicrm_contact",
                          it_int(c, "SELECT MAX(id) FROM civicrm_contact WHERE id <> "
                                 "(SELECT entity_id FROM civicrm_note WHERE id = %lld)", note_id)),
                master_id(m, prefix, "civicrm_note", note_id));
        /* A group's parents list on the master names another group. */
        group_id = it_int(c, "SELECT MIN(id) FROM civicrm_group WHERE parents IS NOT NULL "
                          "AND parents <> ''");
        ck_assert_int_gt(group_id, 0);
        it_exec(m, "UPDATE civicrm_group SET parents = '%lld' WHERE id = %lld",
                master_id(m, prefix, "civicrm_group", group_id),
                master_id(m, prefix, "civicrm_group", group_id));
        /* Three contacts edited on the master. */
        for (int i = 0; i < 3; i++) {
                contacts[i] = it_int(c, "SELECT id FROM civicrm_contact ORDER BY id LIMIT 1 OFFSET %d",
                                     i + 1);
                it_exec(m, "UPDATE civicrm_contact SET nick_name = 'drift' WHERE id = %lld",
                        master_id(m, prefix, "civicrm_contact", contacts[i]));
        }
        r = verify(pconf, cconf, NULL, NULL);
        ck_assert_msg(r.exit_code == 1, "exit %d\n%s\n%s", r.exit_code, r.out, r.err);
        snprintf(want, sizeof(want), "note changed %s/civicrm_note/%lld ", prefix, note_id);
        ck_assert_msg(strstr(r.out, want) && strstr(strstr(r.out, want), "entity_id"),
                      "%s", r.out);
        snprintf(want, sizeof(want), "group changed %s/civicrm_group/%lld ", prefix, group_id);
        ck_assert_msg(strstr(r.out, want) && strstr(strstr(r.out, want), "parents"),
                      "%s", r.out);
        ck_assert_int_eq(count_lines(r.out, "contact changed "), 3);
        snprintf(want, sizeof(want), "verify %s: 5 differences (0 missing, 0 extra, "
                 "5 changed)", prefix);
        ck_assert_msg(strstr(r.out, want) != NULL, "%s", r.out);
        it_run_free(&r);

        /* --limit 1: one line per entity and kind, exact counts. */
        r = verify(pconf, cconf, "--limit", "1");
        ck_assert_int_eq(r.exit_code, 1);
        ck_assert_int_eq(count_lines(r.out, "contact changed "), 1);
        ck_assert_msg(strstr(r.out, want) != NULL, "%s", r.out);
        it_run_free(&r);

        /* A database error (the master refuses the login): exit 1 with the
         * server's error, not 0 and not 2. */
        {
                char text[1024];
                const char *bad;
                snprintf(text, sizeof(text),
                         "master = { socket = \"%s\"; user = \"%s\"; password = "
                         "\"not-the-password\"; database = \"%s\"; };\n"
                         "kafka = { brokers = \"%s\"; group = \"g_%s\"; };\n",
                         getenv("CS_TEST_MYSQL_SOCKET"), getenv("CS_TEST_MYSQL_USER"),
                         master, it_brokers(), master);
                bad = it_write_file("verify-bad-password.cfg", text);
                r = verify(pconf, bad, NULL, NULL);
                ck_assert_msg(r.exit_code == 1, "exit %d\n%s\n%s", r.exit_code, r.out, r.err);
                ck_assert_msg(strstr(r.err, "Access denied") != NULL, "%s", r.err);
                it_run_free(&r);
        }
        mysql_close(m);
        mysql_close(c);
        free(pconf);
        free(cconf);
}
END_TEST

Suite *verify_drift_suite(void)
{
        Suite *s = suite_create("verify_drift");
        TCase *tc = tcase_create("verify_drift");

        tcase_set_timeout(tc, 600);
        tcase_add_test(tc, test_verify_drift_kinds);
        suite_add_tcase(s, tc);
        return s;
}
