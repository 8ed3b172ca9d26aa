/* test_verify.c — civisync-verify against a synced child: 0 differences, then each kind of drift found. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static void produce_ok(const char *conf)
{
        it_run_t r = it_run("civisync-produce", "-c", conf, "--complete", NULL);
        ck_assert_msg(r.exit_code == 0, "produce exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);
}

static void consume_ok(const char *conf)
{
        it_run_t r = it_run("civisync-consume", "-c", conf, "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "consume exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);
}

/* The master id of a child row. */
static long long master_id(MYSQL *m, const char *prefix, const char *table,
                           long long child_id)
{
        return it_int(m, "SELECT master_entity_id FROM mapping_master_%s WHERE "
                      "entity_table = '%s' AND child_entity_id = %lld", prefix,
                      table, child_id);
}

static void assert_line(const char *out, const char *needle1, const char *needle2)
{
        const char *p = out;

        while ((p = strstr(p, needle1))) {
                const char *eol = strchr(p, '\n');
                if (!needle2 || (eol && memmem(p, (size_t)(eol - p), needle2,
                                               strlen(needle2))))
                        return;
                p++;
        }
        ck_abort_msg("no line with '%s'%s%s in:\n%s", needle1,
                     needle2 ? " and " : "", needle2 ? needle2 : "", out);
}

/* A synced 200-contact child verifies clean; then the master is tampered
 * four ways and each is reported with its id; then the child is edited. */
START_TEST(test_verify_clean_then_drift)
{
        char master[64], child[64], prefix[40], topic[80], want[256];
        char *pconf, *cconf;
        long long email_id, contact_id, rel_id, note_id, group_id, other;
        long long sum_before, sum_after;
        MYSQL *m, *c;
        it_run_t r;

        it_unique(prefix, sizeof(prefix), "vf");
        snprintf(topic, sizeof(topic), "civisync.%s", prefix);
        it_master_and_child(master, child, sizeof(master), "--child 11 --contacts 200",
                            topic, 1);
        pconf = strdup(it_producer_conf(prefix, child, NULL));
        snprintf(want, sizeof(want), "prefixes = [\"%s\"];", prefix);
        cconf = strdup(it_consumer_conf(master, want));
        produce_ok(pconf);
        consume_ok(cconf);

        m = it_connect(master);
        c = it_connect(child);
        sum_before = it_checksum(m, "civicrm_contact") + it_checksum(m, "civicrm_email");
        r = it_run("civisync-verify", "--child-config", pconf, "--master-config",
                   cconf, NULL);
        ck_assert_msg(r.exit_code == 0, "verify exit %d\n%s\n%s", r.exit_code,
                      r.out, r.err);
        snprintf(want, sizeof(want), "verify %s: 0 differences", prefix);
        ck_assert_msg(strstr(r.out, want) != NULL, "%s", r.out);
        ck_assert_ptr_nonnull(strstr(r.out, "contact: 201 child rows, 201 mapped"));
        ck_assert_ptr_nonnull(strstr(r.out, "activity_contact: "));
        it_run_free(&r);
        /* Read-only: nothing on the master moved. */
        sum_after = it_checksum(m, "civicrm_contact") + it_checksum(m, "civicrm_email");
        ck_assert(sum_before == sum_after);

        /* 1. a column changed; 2. a row deleted; 3. an extra mapped row;
         * 4. a broken reference; 5. a CLEAR column filled and a QUALIFY
         * column unqualified on one group. */
        contact_id = it_int(c, "SELECT MIN(id) FROM civicrm_contact WHERE first_name IS NOT NULL");
        email_id = it_int(c, "SELECT MAX(id) FROM civicrm_email WHERE contact_id IS NOT NULL");
        rel_id = it_int(c, "SELECT MIN(id) FROM civicrm_relationship");
        group_id = it_int(c, "SELECT MIN(id) FROM civicrm_group");
        ck_assert_int_gt(contact_id, 0);
        ck_assert_int_gt(email_id, 0);
        ck_assert_int_gt(rel_id, 0);
        it_exec(m, "UPDATE civicrm_contact SET first_name = 'Tampered' WHERE id = %lld",
                master_id(m, prefix, "civicrm_contact", contact_id));
        it_exec(m, "DELETE FROM civicrm_email WHERE id = %lld",
                master_id(m, prefix, "civicrm_email", email_id));
        it_exec(m, "INSERT INTO civicrm_contact (contact_type, display_name) "
                "VALUES ('Individual', 'Not from the child')");
        it_exec(m, "INSERT INTO mapping_master_%s (entity_table, child_entity_id, "
                "master_entity_id) VALUES ('civicrm_contact', 999999, LAST_INSERT_ID())",
                prefix);
        other = it_int(m, "SELECT MAX(id) FROM civicrm_contact");
        it_exec(m, "UPDATE civicrm_relationship SET contact_id_b = %lld WHERE id = %lld",
                other, master_id(m, prefix, "civicrm_relationship", rel_id));
        it_exec(m, "UPDATE civicrm_group SET where_clause = 'x = 1', title = 'Bare' "
                "WHERE id = %lld", master_id(m, prefix, "civicrm_group", group_id));

        r = it_run("civisync-verify", "--child-config", pconf, "--master-config",
                   cconf, NULL);
        ck_assert_msg(r.exit_code == 1, "verify exit %d\n%s\n%s", r.exit_code,
                      r.out, r.err);
        snprintf(want, sizeof(want), "contact changed %s/civicrm_contact/%lld ",
                 prefix, contact_id);
        assert_line(r.out, want, "first_name: child");
        snprintf(want, sizeof(want), "email missing %s/civicrm_email/%lld:", prefix,
                 email_id);
        assert_line(r.out, want, "which does not exist");
        snprintf(want, sizeof(want), "contact extra %s/civicrm_contact/999999 "
                 "(master id %lld)", prefix, other);
        assert_line(r.out, want, "no longer in the child");
        snprintf(want, sizeof(want), "relationship changed %s/civicrm_relationship/%lld ",
                 prefix, rel_id);
        assert_line(r.out, want, "contact_id_b: child");
        snprintf(want, sizeof(want), "group changed %s/civicrm_group/%lld ", prefix,
                 group_id);
        assert_line(r.out, want, "title, where_clause --");
        assert_line(r.out, want, "expected NULL");
        snprintf(want, sizeof(want), "verify %s: 5 differences (1 missing, 1 extra, "
                 "3 changed)", prefix);
        ck_assert_msg(strstr(r.out, want) != NULL, "%s", r.out);
        it_run_free(&r);

        /* --entity limits the comparison. */
        r = it_run("civisync-verify", "--child-config", pconf, "--master-config",
                   cconf, "--entity", "email", NULL);
        ck_assert_int_eq(r.exit_code, 1);
        snprintf(want, sizeof(want), "verify %s: 1 differences (1 missing, 0 extra, "
                 "0 changed) in 1 entities", prefix);
        ck_assert_msg(strstr(r.out, want) != NULL, "%s", r.out);
        ck_assert_ptr_null(strstr(r.out, "contact changed"));
        it_run_free(&r);

        /* An edit on the child (not yet synced) is a change too. */
        note_id = it_int(c, "SELECT MIN(id) FROM civicrm_note");
        it_exec(c, "UPDATE civicrm_note SET subject = 'edited on the child' WHERE id = %lld",
                note_id);
        r = it_run("civisync-verify", "--child-config", pconf, "--master-config",
                   cconf, "--entity", "note", NULL);
        ck_assert_int_eq(r.exit_code, 1);
        snprintf(want, sizeof(want), "note changed %s/civicrm_note/%lld ", prefix,
                 note_id);
        assert_line(r.out, want, "subject: child \"edited on the child\"");
        it_run_free(&r);

        mysql_close(m);
        mysql_close(c);
        free(pconf);
        free(cconf);
}
END_TEST

/* Before any sync everything is missing, the 4.2 child's synthesized
 * activity contacts included; after a sync, the whole 4.2 child (activity
 * contacts from civicrm_activity_target/_assignment and
 * activity.source_contact_id) verifies clean; an activity contact moved on
 * the master is found. */
START_TEST(test_verify_unsynced_legacy_child)
{
        char master[64], child[64], prefix[40], topic[80], want[160];
        char *pconf, *cconf;
        long long n, tgt;
        MYSQL *m, *c;
        it_run_t r;

        it_unique(prefix, sizeof(prefix), "vl");
        snprintf(topic, sizeof(topic), "civisync.%s", prefix);
        it_unique(master, sizeof(master), "master");
        it_unique(child, sizeof(child), "child");
        it_make_db(master, "--schema 5");
        it_make_db(child, "--schema 4.2 --child 1 --contacts 20");
        it_topic(topic, 1);
        it_topic("civisync.dead-letter", 1);
        pconf = strdup(it_producer_conf(prefix, child, NULL));
        snprintf(want, sizeof(want), "prefixes = [\"%s\"];", prefix);
        cconf = strdup(it_consumer_conf(master, want));
        c = it_connect(child);
        n = it_int(c, "SELECT (SELECT COUNT(*) FROM civicrm_activity_target) + "
                   "(SELECT COUNT(*) FROM civicrm_activity_assignment) + (SELECT COUNT(*) "
                   "FROM civicrm_activity WHERE source_contact_id IS NOT NULL)");
        ck_assert_int_gt(n, 0);
        r = it_run("civisync-verify", "--child-config", pconf, "--master-config",
                   cconf, NULL);
        ck_assert_msg(r.exit_code == 1, "exit %d\n%s\n%s", r.exit_code, r.out, r.err);
        snprintf(want, sizeof(want), "activity_contact: %lld child rows, 0 mapped", n);
        ck_assert_msg(strstr(r.out, want) != NULL, "%s", r.out);
        ck_assert_msg(strstr(r.out, "not compared (4.2") == NULL, "%s", r.out);
        ck_assert_msg(strstr(r.err, "nothing of prefix") != NULL, "%s", r.err);
        it_run_free(&r);

        r = it_run("civisync-produce", "-c", pconf, "--complete", NULL);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        it_run_free(&r);
        r = it_run("civisync-consume", "-c", cconf, "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        it_run_free(&r);
        r = it_run("civisync-verify", "--child-config", pconf, "--master-config",
                   cconf, NULL);
        ck_assert_msg(r.exit_code == 0, "exit %d\n%s\n%s", r.exit_code, r.out, r.err);
        snprintf(want, sizeof(want), "activity_contact: %lld child rows, %lld mapped", n, n);
        ck_assert_msg(strstr(r.out, want) != NULL, "%s", r.out);
        it_run_free(&r);

        /* A target's contact changed on the master: found, by its 4n+3 id. */
        m = it_connect(master);
        tgt = it_int(c, "SELECT MIN(id) FROM civicrm_activity_target");
        it_exec(m, "UPDATE civicrm_activity_contact SET contact_id = (SELECT MAX(id) "
                "FROM civicrm_contact) WHERE id = (SELECT master_entity_id FROM "
                "mapping_master_%s WHERE entity_table = 'civicrm_activity_contact' AND "
                "child_entity_id = %lld)", prefix, 4 * tgt + 3);
        r = it_run("civisync-verify", "--child-config", pconf, "--master-config",
                   cconf, "--entity", "activity_contact", NULL);
        ck_assert_msg(r.exit_code == 1, "exit %d\n%s\n%s", r.exit_code, r.out, r.err);
        snprintf(want, sizeof(want), "activity_contact changed %s/civicrm_activity_contact/%lld ",
                 prefix, 4 * tgt + 3);
        ck_assert_msg(strstr(r.out, want) != NULL, "%s", r.out);
        it_run_free(&r);
        mysql_close(m);
        mysql_close(c);
        free(pconf);
        free(cconf);
}
END_TEST

START_TEST(test_verify_usage)
{
        char child[64];
        it_run_t r;

        it_unique(child, sizeof(child), "child");
        r = it_run("civisync-verify", "--child-config", "x.cfg", NULL);
        ck_assert_int_eq(r.exit_code, 2);
        ck_assert_ptr_nonnull(strstr(r.err, "--master-config"));
        it_run_free(&r);

        r = it_run("civisync-verify", "--child-config", it_producer_conf("vu", child, NULL),
                   "--master-config", it_consumer_conf(child, NULL), "--entity",
                   "batch", NULL);
        ck_assert_int_eq(r.exit_code, 2);
        ck_assert_ptr_nonnull(strstr(r.err, "not a synced entity"));
        it_run_free(&r);
}
END_TEST

/* The grants of docs/OPERATIONS.md are enough: the producer and verify
 * read the child with SELECT only; the consumer writes the master with
 * SELECT, INSERT, UPDATE, DELETE and CREATE (its own tables). */
START_TEST(test_documented_grants)
{
        char master[64], child[64], prefix[40], reader[48], writer[48];
        char topic[80], text[2048], want[128];
        char *pconf, *cconf;
        const char *sock = getenv("CS_TEST_MYSQL_SOCKET");
        MYSQL *root;
        it_run_t r;

        it_unique(prefix, sizeof(prefix), "vg");
        it_unique(reader, sizeof(reader), "rd");
        it_unique(writer, sizeof(writer), "wr");
        snprintf(topic, sizeof(topic), "civisync.%s", prefix);
        it_master_and_child(master, child, sizeof(master), "--child 13 --contacts 40",
                            topic, 1);
        root = it_connect(master);
        it_exec(root, "CREATE USER '%s'@'localhost' IDENTIFIED BY 'r-secret'", reader);
        it_exec(root, "GRANT SELECT ON `%s`.* TO '%s'@'localhost'", child, reader);
        it_exec(root, "CREATE USER '%s'@'localhost' IDENTIFIED BY 'w-secret'", writer);
        it_exec(root, "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE ON `%s`.* "
                "TO '%s'@'localhost'", master, writer);

        snprintf(text, sizeof(text),
                 "prefix = \"%s\";\nstate_dir = \"%s/state\";\n"
                 "child = { socket = \"%s\"; user = \"%s\"; password = \"r-secret\"; "
                 "database = \"%s\"; };\nkafka = { brokers = \"%s\"; };\n",
                 prefix, it_tmpdir(), sock, reader, child, it_brokers());
        pconf = strdup(it_write_file("grants-producer.cfg", text));
        snprintf(text, sizeof(text),
                 "prefixes = [\"%s\"];\n"
                 "master = { socket = \"%s\"; user = \"%s\"; password = \"w-secret\"; "
                 "database = \"%s\"; };\nkafka = { brokers = \"%s\"; group = \"g_%s\";\n"
                 "  properties = ( (\"session.timeout.ms\", \"6000\") ); };\n",
                 prefix, sock, writer, master, it_brokers(), master);
        cconf = strdup(it_write_file("grants-consumer.cfg", text));

        produce_ok(pconf);
        consume_ok(cconf);
        /* The cron line's incremental run needs nothing more. */
        it_exec(root, "UPDATE `%s`.civicrm_contact SET nick_name = 'Changed' "
                "WHERE id = (SELECT MAX(id) FROM `%s`.civicrm_contact)", child, child);
        r = it_run("civisync-produce", "-c", pconf, NULL);
        ck_assert_msg(r.exit_code == 0, "incremental exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);
        consume_ok(cconf);
        r = it_run("civisync-verify", "--child-config", pconf, "--master-config",
                   cconf, NULL);
        ck_assert_msg(r.exit_code == 0, "exit %d\n%s\n%s", r.exit_code, r.out, r.err);
        snprintf(want, sizeof(want), "verify %s: 0 differences", prefix);
        ck_assert_msg(strstr(r.out, want) != NULL, "%s", r.out);
        it_run_free(&r);
        /* The reader really is read-only. */
        ck_assert_int_eq(it_int(root, "SELECT COUNT(*) FROM information_schema.USER_PRIVILEGES "
                                "WHERE GRANTEE = \"'%s'@'localhost'\" AND PRIVILEGE_TYPE <> 'USAGE'",
                                reader), 0);
        ck_assert_int_eq(it_int(root, "SELECT COUNT(*) FROM information_schema.SCHEMA_PRIVILEGES "
                                "WHERE GRANTEE = \"'%s'@'localhost'\"", reader), 1);
        it_exec(root, "DROP USER '%s'@'localhost'", reader);
        it_exec(root, "DROP USER '%s'@'localhost'", writer);
        mysql_close(root);
        free(pconf);
        free(cconf);
}
END_TEST

Suite *verify_suite(void)
{
        Suite *s = suite_create("verify");
        TCase *tc = tcase_create("verify");

        tcase_set_timeout(tc, 300);
        tcase_add_test(tc, test_verify_clean_then_drift);
        tcase_add_test(tc, test_verify_unsynced_legacy_child);
        tcase_add_test(tc, test_verify_usage);
        tcase_add_test(tc, test_documented_grants);
        suite_add_tcase(s, tc);
        return s;
}
