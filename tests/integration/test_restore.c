/* test_restore.c — civisync-restore: a synced child dropped and rebuilt from the master, then synced again. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "kafka_util.h"

/* Tables whose every column is carried verbatim (no OMIT/CLEAR column):
 * restored, they hold exactly the child's rows. */
static const char *const exact_tables[] = {
        "civicrm_email", "civicrm_phone", "civicrm_address", "civicrm_im",
        "civicrm_website", "civicrm_group_nesting", "civicrm_group_organization",
        "civicrm_tag", "civicrm_entity_tag", "civicrm_note",
        "civicrm_activity_contact", NULL
};

static void run_ok(it_run_t *r, const char *what)
{
        ck_assert_msg(r->exit_code == 0, "%s exit %d\nstdout:\n%s\nstderr:\n%s",
                      what, r->exit_code, r->out, r->err);
}

static void produce(const char *conf, const char *mode)
{
        it_run_t r = mode ? it_run("civisync-produce", "-c", conf, mode, NULL) :
                     it_run("civisync-produce", "-c", conf, NULL);
        run_ok(&r, "produce");
        it_run_free(&r);
}

static void consume(const char *conf)
{
        it_run_t r = it_run("civisync-consume", "-c", conf, "--once", NULL);
        run_ok(&r, "consume");
        it_run_free(&r);
}

static void verify_clean(const char *pconf, const char *cconf, const char *prefix)
{
        char want[128];
        it_run_t r = it_run("civisync-verify", "--child-config", pconf,
                            "--master-config", cconf, "--limit", "5", NULL);

        snprintf(want, sizeof(want), "verify %s: 0 differences", prefix);
        run_ok(&r, "verify");
        ck_assert_msg(strstr(r.out, want) != NULL, "%s", r.out);
        it_run_free(&r);
}

/* Sum of the checksums of the master's synced data tables (not the
 * mapping, whose generation column a complete sync bumps). */
static long long master_data_sum(MYSQL *m, long long *each)
{
        long long sum = 0;

        for (int i = 0; it_synced_tables[i]; i++) {
                each[i] = it_checksum(m, it_synced_tables[i]);
                sum += each[i];
        }
        return sum;
}

static long long high_watermark(const char *topic)
{
        long long low, high;

        ku_watermarks(topic, 0, &low, &high);
        return high;
}

/* The "done when": sync, drop, restore, verify, complete sync
 * changes nothing, rebuilt state sends nothing, edits sync correctly. */
START_TEST(test_restore_round_trip)
{
        char master[64], child[64], prefix[40], topic[80], extra[128];
        char *pconf, *cconf;
        long long before[32], after[32], exact[16], contacts, emails, hw;
        long long employer_rows, self_refs, note_id, contact_id;
        MYSQL *m, *c;
        it_run_t r;

        it_unique(prefix, sizeof(prefix), "rs");
        snprintf(topic, sizeof(topic), "civisync.%s", prefix);
        it_master_and_child(master, child, sizeof(master), "--child 7 --contacts 150",
                            topic, 1);
        pconf = strdup(it_producer_conf(prefix, child, NULL));
        snprintf(extra, sizeof(extra), "prefixes = [\"%s\"];", prefix);
        cconf = strdup(it_consumer_conf(master, extra));
        produce(pconf, "--complete");
        consume(cconf);
        verify_clean(pconf, cconf, prefix);

        c = it_connect(child);
        for (int i = 0; exact_tables[i]; i++)
                exact[i] = it_checksum(c, exact_tables[i]);
        contacts = it_int(c, "SELECT COUNT(*) FROM civicrm_contact");
        emails = it_int(c, "SELECT COUNT(*) FROM civicrm_email WHERE contact_id IS NOT NULL");
        employer_rows = it_int(c, "SELECT COUNT(*) FROM civicrm_contact WHERE employer_id IS NOT NULL");
        self_refs = it_int(c, "SELECT COUNT(*) FROM civicrm_address WHERE master_id IS NOT NULL") +
                    it_int(c, "SELECT COUNT(*) FROM civicrm_group WHERE parents IS NOT NULL");
        ck_assert_int_gt(employer_rows, 0); /* the fixture exercises the cycles */
        mysql_close(c);

        /* The child is lost; a fresh install takes its place. */
        m = it_connect(master);
        it_exec(m, "DROP DATABASE `%s`", child);
        it_make_db(child, "--schema 5");
        /* CiviCRM's own trigger set bumps the contact when its emails,
         * phones... are written (see the CiviCRM README): the restore must
         * still leave every contact as the master has it. */
        c = it_connect(child);
        it_exec(c, "CREATE TRIGGER civicrm_email_after_insert AFTER INSERT ON "
                "civicrm_email FOR EACH ROW UPDATE civicrm_contact SET "
                "modified_date = CURRENT_TIMESTAMP WHERE id = NEW.contact_id");
        it_exec(c, "CREATE TRIGGER civicrm_phone_after_insert AFTER INSERT ON "
                "civicrm_phone FOR EACH ROW UPDATE civicrm_contact SET "
                "modified_date = CURRENT_TIMESTAMP WHERE id = NEW.contact_id");
        mysql_close(c);

        /* --dry-run: counts per table, writes nothing. */
        r = it_run("civisync-restore", "--master-config", cconf, "--prefix", prefix,
                   "--into", pconf, "--dry-run", NULL);
        run_ok(&r, "restore --dry-run");
        snprintf(extra, sizeof(extra), "civicrm_contact: %lld rows would be written "
                 "(%lld inserted, 1 seed rows overwritten)", contacts, contacts - 1);
        ck_assert_msg(strstr(r.out, extra) != NULL, "%s", r.out);
        snprintf(extra, sizeof(extra), "civicrm_email: %lld rows would be written", emails);
        ck_assert_msg(strstr(r.out, extra) != NULL, "%s", r.out);
        ck_assert_msg(strstr(r.out, "(dry run, nothing written)") != NULL, "%s", r.out);
        it_run_free(&r);
        c = it_connect(child);
        ck_assert_int_eq(it_int(c, "SELECT COUNT(*) FROM civicrm_contact"), 1);
        ck_assert_int_eq(it_int(c, "SELECT COUNT(*) FROM civicrm_email"), 0);

        /* The restore. */
        r = it_run("civisync-restore", "--master-config", cconf, "--prefix", prefix,
                   "--into", pconf, NULL);
        run_ok(&r, "restore");
        snprintf(extra, sizeof(extra), "restore %s: ", prefix);
        ck_assert_msg(strstr(r.out, extra) != NULL, "%s", r.out);
        ck_assert_msg(strstr(r.out, "civicrm_contact.api_key") == NULL, "%s", r.out);
        ck_assert_msg(strstr(r.out, "api_key (never synced)") != NULL, "%s", r.out);
        ck_assert_msg(self_refs == 0 || strstr(r.out, "set by a second UPDATE") != NULL,
                      "%s", r.out);
        it_run_free(&r);
        ck_assert_int_eq(it_int(c, "SELECT COUNT(*) FROM civicrm_contact"), contacts);
        ck_assert_int_eq(it_int(c, "SELECT COUNT(*) FROM civicrm_contact WHERE "
                                "employer_id IS NOT NULL"), employer_rows);
        /* Original ids, original values: the verbatim tables are identical. */
        for (int i = 0; exact_tables[i]; i++)
                ck_assert_msg(it_checksum(c, exact_tables[i]) == exact[i],
                              "%s differs from the lost child after the restore",
                              exact_tables[i]);
        /* No "<PREFIX>:" left on unique columns. */
        ck_assert_int_eq(it_int(c, "SELECT COUNT(*) FROM civicrm_group WHERE "
                                "title LIKE '%s:%%' OR name LIKE '%s:%%'", prefix,
                                prefix), 0);
        verify_clean(pconf, cconf, prefix);

        /* A complete sync of the restored child changes no data on the master. */
        master_data_sum(m, before);
        produce(pconf, "--complete");
        consume(cconf);
        master_data_sum(m, after);
        for (int i = 0; it_synced_tables[i]; i++)
                ck_assert_msg(before[i] == after[i], "master %s changed by the "
                              "complete sync of the restored child",
                              it_synced_tables[i]);

        /* --rebuild-state: the next incremental run sends nothing. */
        produce(pconf, "--rebuild-state");
        hw = high_watermark(topic);
        produce(pconf, NULL);
        ck_assert_int_eq(high_watermark(topic), hw);

        /* Edits on the restored child sync incrementally. */
        contact_id = it_int(c, "SELECT MAX(id) FROM civicrm_contact WHERE contact_type = 'Individual'");
        /* (a note nothing points at: deleting a commented note leaves the
         * comment's polymorphic reference dangling on both sides) */
        note_id = it_int(c, "SELECT MAX(id) FROM civicrm_note");
        it_exec(c, "UPDATE civicrm_contact SET first_name = 'Restored', "
                "modified_date = NOW() + INTERVAL 1 SECOND WHERE id = %lld", contact_id);
        it_exec(c, "INSERT INTO civicrm_email (contact_id, email, location_type_id) "
                "VALUES (%lld, 'after.restore@example.org', 1)", contact_id);
        it_exec(c, "DELETE FROM civicrm_note WHERE id = %lld", note_id);
        produce(pconf, NULL);
        ck_assert_int_gt(high_watermark(topic), hw);
        consume(cconf);
        verify_clean(pconf, cconf, prefix);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_email WHERE "
                                "email = 'after.restore@example.org'"), 1);

        /* The restored child is no longer empty: a second restore refuses
         * and writes nothing. */
        before[0] = it_checksum(c, "civicrm_contact");
        r = it_run("civisync-restore", "--master-config", cconf, "--into", pconf, NULL);
        ck_assert_msg(r.exit_code == 1, "exit %d\n%s\n%s", r.exit_code, r.out, r.err);
        ck_assert_msg(strstr(r.err, "the target is not empty: civicrm_contact holds") != NULL,
                      "%s", r.err);
        it_run_free(&r);
        ck_assert(it_checksum(c, "civicrm_contact") == before[0]);

        mysql_close(c);
        mysql_close(m);
        free(pconf);
        free(cconf);
}
END_TEST

/* Refusals: a target with rows, a 4.2 target, a prefix never applied, a
 * --prefix that is not the configuration's; a failed write rolls back. */
START_TEST(test_restore_refusals)
{
        char master[64], child[64], prefix[40], topic[80], extra[160], old[64];
        char *pconf, *cconf;
        long long group_id, employer;
        MYSQL *m, *c;
        it_run_t r;

        it_unique(prefix, sizeof(prefix), "rr");
        snprintf(topic, sizeof(topic), "civisync.%s", prefix);
        it_master_and_child(master, child, sizeof(master), "--child 3 --contacts 20",
                            topic, 1);
        pconf = strdup(it_producer_conf(prefix, child, NULL));
        snprintf(extra, sizeof(extra), "prefixes = [\"%s\"];", prefix);
        cconf = strdup(it_consumer_conf(master, extra));

        /* Nothing applied yet. */
        m = it_connect(master);
        it_exec(m, "DROP DATABASE `%s`", child);
        it_make_db(child, "--schema 5");
        r = it_run("civisync-restore", "--master-config", cconf, "--into", pconf, NULL);
        ck_assert_msg(r.exit_code == 1, "exit %d\n%s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "nothing of prefix") != NULL, "%s", r.err);
        it_run_free(&r);

        /* A non-empty target: one email. */
        it_exec(m, "DROP DATABASE `%s`", child);
        it_make_db(child, "--schema 5 --child 3 --contacts 20");
        /* A group name that fills its column: the master keeps it cut with
         * a hash, which a restore cannot undo (and says so). */
        c = it_connect(child);
        group_id = it_int(c, "SELECT MIN(id) FROM civicrm_group");
        it_exec(c, "UPDATE civicrm_group SET name = REPEAT('n', 64) WHERE id = %lld",
                group_id);
        mysql_close(c);
        produce(pconf, "--complete");
        consume(cconf);
        it_exec(m, "DROP DATABASE `%s`", child);
        it_make_db(child, "--schema 5");
        c = it_connect(child);
        /* The domain contact's own email is a seed row; an email of no
         * contact is not. */
        it_exec(c, "INSERT INTO civicrm_email (contact_id, email) VALUES (1, 'x@example.org')");
        it_exec(c, "INSERT INTO civicrm_email (contact_id, email) VALUES (NULL, 'y@example.org')");
        r = it_run("civisync-restore", "--master-config", cconf, "--into", pconf,
                   "--dry-run", NULL);
        ck_assert_msg(r.exit_code == 1, "exit %d\n%s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "the target is not empty: civicrm_email holds 1 row") != NULL,
                      "%s", r.err);
        it_run_free(&r);

        /* A failure half-way rolls everything back: a trigger that fails on
         * the last table written (notes) after thousands of rows. */
        it_exec(c, "DELETE FROM civicrm_email");
        it_exec(c, "CREATE TRIGGER cs_test_fail BEFORE INSERT ON civicrm_note FOR EACH "
                "ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected failure'");
        r = it_run("civisync-restore", "--master-config", cconf, "--into", pconf, NULL);
        ck_assert_msg(r.exit_code == 1, "exit %d\n%s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "injected failure") != NULL, "%s", r.err);
        ck_assert_msg(strstr(r.err, "rolled back") != NULL, "%s", r.err);
        it_run_free(&r);
        ck_assert_int_eq(it_int(c, "SELECT COUNT(*) FROM civicrm_contact"), 1);
        ck_assert_int_eq(it_int(c, "SELECT COUNT(*) FROM civicrm_email"), 0);
        ck_assert_int_eq(it_int(c, "SELECT COUNT(*) FROM civicrm_tag"), 5);
        it_exec(c, "DROP TRIGGER cs_test_fail");

        /* An employer the master no longer maps for this prefix: its
         * employees restore with employer_id NULL (counted), its own rows
         * that cannot exist without it are left out (counted). */
        employer = it_int(m, "SELECT MIN(x.child_entity_id) FROM `%s`.mapping_master_%s x "
                          "JOIN `%s`.civicrm_contact t ON t.id = x.master_entity_id "
                          "WHERE x.entity_table = 'civicrm_contact' AND t.id IN "
                          "(SELECT employer_id FROM `%s`.civicrm_contact)",
                          master, prefix, master, master);
        ck_assert_int_gt(employer, 1);
        it_exec(m, "DELETE FROM `%s`.mapping_master_%s WHERE entity_table = "
                "'civicrm_contact' AND child_entity_id = %lld", master, prefix, employer);

        /* Now the restore goes through and reports the cut name. */
        r = it_run("civisync-restore", "--master-config", cconf, "--into", pconf, NULL);
        run_ok(&r, "restore");
        snprintf(extra, sizeof(extra), "1 unique values cut with a hash on the master "
                 "(NOT restorable; first child id %lld)", group_id);
        ck_assert_msg(strstr(r.out, extra) != NULL, "%s", r.out);
        ck_assert_msg(strstr(r.out, "1 unique values not restorable") != NULL, "%s", r.out);
        ck_assert_msg(strstr(r.out, "references to rows not of") != NULL, "%s", r.out);
        ck_assert_msg(strstr(r.out, "rows left out (a required reference not of") != NULL,
                      "%s", r.out);
        it_run_free(&r);
        ck_assert_int_eq(it_int(c, "SELECT COUNT(*) FROM civicrm_contact WHERE id = %lld",
                                employer), 0);
        ck_assert_int_eq(it_int(c, "SELECT COUNT(*) FROM civicrm_contact WHERE "
                                "employer_id = %lld", employer), 0);
        ck_assert_int_gt(it_int(c, "SELECT COUNT(*) FROM civicrm_contact"), 10);
        ck_assert_int_eq(it_int(c, "SELECT CHAR_LENGTH(name) FROM civicrm_group "
                                "WHERE id = %lld", group_id), 64 - strlen(prefix) - 1);
        ck_assert_int_eq(it_int(c, "SELECT name LIKE '%%~%%' FROM civicrm_group "
                                "WHERE id = %lld", group_id), 1);
        mysql_close(c);

        /* --prefix must be the configuration's. */
        r = it_run("civisync-restore", "--master-config", cconf, "--into", pconf,
                   "--prefix", "OTHER", NULL);
        ck_assert_int_eq(r.exit_code, 2);
        ck_assert_msg(strstr(r.err, "is not the prefix of") != NULL, "%s", r.err);
        it_run_free(&r);
        r = it_run("civisync-restore", "--into", pconf, NULL);
        ck_assert_int_eq(r.exit_code, 2);
        it_run_free(&r);
        r = it_run("civisync-produce", "-c", pconf, "--rebuild-state", "--complete", NULL);
        ck_assert_int_eq(r.exit_code, 2);
        ck_assert_msg(strstr(r.err, "--rebuild-state excludes") != NULL, "%s", r.err);
        it_run_free(&r);

        /* A 4.2 target. */
        it_unique(old, sizeof(old), "old");
        it_make_db(old, "--schema 4.2");
        r = it_run("civisync-restore", "--master-config", cconf, "--into",
                   it_producer_conf(prefix, old, NULL), NULL);
        ck_assert_msg(r.exit_code == 1, "exit %d\n%s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "CiviCRM 4.2 schema") != NULL, "%s", r.err);
        it_run_free(&r);

        mysql_close(m);
        free(pconf);
        free(cconf);
}
END_TEST

Suite *restore_suite(void)
{
        Suite *s = suite_create("restore");
        TCase *tc = tcase_create("restore");

        tcase_set_timeout(tc, 300);
        tcase_add_test(tc, test_restore_round_trip);
        tcase_add_test(tc, test_restore_refusals);
        suite_add_tcase(s, tc);
        return s;
}
