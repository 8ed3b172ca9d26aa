/* test_sync.c — end-to-end sync through real MariaDB and the embedded broker. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static void produce_ok(const char *conf)
{
        it_run_t r = it_run("civisync-produce", "-c", conf, "--complete", NULL);
        ck_assert_msg(r.exit_code == 0, "produce exit %d: %s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.out, "complete generation") != NULL, "summary: %s", r.out);
        it_run_free(&r);
}

static void consume_ok(const char *conf)
{
        it_run_t r = it_run("civisync-consume", "-c", conf, "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "consume exit %d: %s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "rejected to") == NULL, "rejections: %s", r.err);
        it_run_free(&r);
}

/* The test server runs with the options the harness was asked for: its own
 * tmpdir inside the harness's temp dir (nothing else on the machine shares
 * its temporary files), and every --name=value of $CS_MARIADBD_ARGS (make
 * test runs the sync suite again with auto_increment_increment=2/offset 2,
 * and with innodb_autoinc_lock_mode=2: the consumer's multi-row id step and
 * its row-by-row fallback). */
START_TEST(test_server_settings)
{
        const char *args = getenv("CS_MARIADBD_ARGS");
        char *copy = strdup(args ? args : ""), *save = NULL, *tok, tmp[512];
        MYSQL *db = it_connect(NULL);
        MYSQL_RES *res;
        MYSQL_ROW row;
        int checked = 0;

        ck_assert_msg(mysql_query(db, "SELECT @@tmpdir") == 0 &&
                      (res = mysql_store_result(db)), "%s", mysql_error(db));
        row = mysql_fetch_row(res);
        snprintf(tmp, sizeof(tmp), "%s/tmp", it_tmpdir());
        ck_assert_msg(row && row[0] && !strncmp(row[0], tmp, strlen(tmp)),
                      "server tmpdir %s, want %s", row && row[0] ? row[0] : "NULL", tmp);
        mysql_free_result(res);
        for (tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
                char name[128], *eq;
                long long want;
                if (strncmp(tok, "--", 2) || !(eq = strchr(tok, '=')))
                        continue;
                snprintf(name, sizeof(name), "%.*s", (int)(eq - tok - 2), tok + 2);
                for (char *p = name; *p; p++)
                        if (*p == '-')
                                *p = '_';
                want = strtoll(eq + 1, NULL, 10);
                ck_assert_int_eq(it_int(db, "SELECT @@GLOBAL.%s", name), want);
                checked++;
        }
        if (args && *args)
                ck_assert_msg(checked > 0, "CS_MARIADBD_ARGS '%s': nothing checked", args);
        mysql_close(db);
        free(copy);
}
END_TEST

/* Two different children and a third with the same data as the first
 * (same group and tag names, same external identifiers) all land whole. */
START_TEST(test_three_children_one_master)
{
        char master[64], a[64], b[64], c[64];
        MYSQL *m, *ca, *cb, *cc;
        char *consumer;

        it_unique(master, sizeof(master), "master");
        it_unique(a, sizeof(a), "child");
        it_unique(b, sizeof(b), "child");
        it_unique(c, sizeof(c), "child");
        it_make_db(master, "--schema 5");
        it_make_db(a, "--schema 5 --child 1 --contacts 120");
        it_make_db(b, "--schema 5 --child 2 --contacts 80");
        it_make_db(c, "--schema 5 --child 1 --contacts 120");
        it_topic("civisync.it1", 1);
        it_topic("civisync.it2", 1);
        it_topic("civisync.it3", 1);
        produce_ok(it_producer_conf("it1", a, NULL));
        produce_ok(it_producer_conf("it2", b, NULL));
        produce_ok(it_producer_conf("it3", c, NULL));
        consumer = it_consumer_conf(master, "prefixes = [\"it1\", \"it2\", \"it3\"];");
        consume_ok(consumer);

        m = it_connect(master);
        ca = it_connect(a);
        cb = it_connect(b);
        cc = it_connect(c);
        it_assert_synced(ca, m, "it1");
        it_assert_synced(cb, m, "it2");
        it_assert_synced(cc, m, "it3");
        /* Collisions are qualified, not dropped. */
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_group WHERE name = 'it1:Newsletter'"), 1);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_group WHERE name = 'it3:Newsletter'"), 1);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_contact WHERE external_identifier LIKE 'it1:%%'"),
                         it_int(ca, "SELECT COUNT(*) FROM civicrm_contact WHERE external_identifier IS NOT NULL"));
        /* The master's own seed rows are untouched: contact 1 is still its own. */
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_contact WHERE id = 1 AND display_name = 'Default Organization'"), 1);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_parked"), 0);
        mysql_close(m);
        mysql_close(ca);
        mysql_close(cb);
        mysql_close(cc);
}
END_TEST

/* Columns carried verbatim (timestamps too); contact references translated. */
START_TEST(test_columns_verbatim_and_references_translated)
{
        char master[64], a[64];
        MYSQL *m, *ca;

        it_unique(master, sizeof(master), "master");
        it_unique(a, sizeof(a), "child");
        it_make_db(master, "--schema 5");
        it_make_db(a, "--schema 5 --child 3 --contacts 60");
        it_topic("civisync.it4", 1);
        produce_ok(it_producer_conf("it4", a, NULL));
        consume_ok(it_consumer_conf(master, "prefixes = [\"it4\"];"));
        m = it_connect(master);
        ca = it_connect(a);
        /* Every contact: names, modified_date and created_date identical. */
        ck_assert_int_eq(it_int(m,
                "SELECT COUNT(*) FROM `%s`.civicrm_contact c JOIN mapping_master_it4 mp "
                "ON mp.entity_table = 'civicrm_contact' AND mp.child_entity_id = c.id "
                "JOIN civicrm_contact x ON x.id = mp.master_entity_id "
                "WHERE x.display_name <=> c.display_name AND x.modified_date <=> c.modified_date "
                "AND x.created_date <=> c.created_date AND x.sort_name <=> c.sort_name "
                "AND x.contact_sub_type <=> c.contact_sub_type AND x.hash IS NULL", a), /* hash: OMIT */
                it_int(ca, "SELECT COUNT(*) FROM civicrm_contact"));
        /* employer_id points at the master id of the child's employer. */
        ck_assert_int_gt(it_int(ca, "SELECT COUNT(*) FROM civicrm_contact WHERE employer_id IS NOT NULL"), 0);
        ck_assert_int_eq(it_int(m,
                "SELECT COUNT(*) FROM `%s`.civicrm_contact c "
                "JOIN mapping_master_it4 me ON me.entity_table = 'civicrm_contact' AND me.child_entity_id = c.id "
                "JOIN mapping_master_it4 mr ON mr.entity_table = 'civicrm_contact' AND mr.child_entity_id = c.employer_id "
                "JOIN civicrm_contact x ON x.id = me.master_entity_id "
                "WHERE x.employer_id = mr.master_entity_id", a),
                it_int(ca, "SELECT COUNT(*) FROM civicrm_contact WHERE employer_id IS NOT NULL"));
        /* Email addresses arrive under the right master contact. */
        ck_assert_int_eq(it_int(m,
                "SELECT COUNT(*) FROM `%s`.civicrm_email e "
                "JOIN mapping_master_it4 mc ON mc.entity_table = 'civicrm_contact' AND mc.child_entity_id = e.contact_id "
                "JOIN mapping_master_it4 me ON me.entity_table = 'civicrm_email' AND me.child_entity_id = e.id "
                "JOIN civicrm_email x ON x.id = me.master_entity_id "
                "WHERE x.contact_id = mc.master_entity_id AND x.email <=> e.email", a),
                it_int(ca, "SELECT COUNT(*) FROM civicrm_email WHERE contact_id IS NOT NULL"));
        mysql_close(m);
        mysql_close(ca);
}
END_TEST

/* The same complete sync twice changes nothing; deletes in the child are
 * swept from the master at the end of the next replay; another prefix's
 * rows stay byte-identical. */
START_TEST(test_idempotent_and_sweep)
{
        char master[64], a[64], b[64];
        long long before[32], after_b;
        MYSQL *m, *ca;
        char *pa, *pb, *consumer;

        it_unique(master, sizeof(master), "master");
        it_unique(a, sizeof(a), "child");
        it_unique(b, sizeof(b), "child");
        it_make_db(master, "--schema 5");
        it_make_db(a, "--schema 5 --child 4 --contacts 60");
        it_make_db(b, "--schema 5 --child 5 --contacts 40");
        it_topic("civisync.it5", 1);
        it_topic("civisync.it6", 1);
        pa = strdup(it_producer_conf("it5", a, NULL));
        pb = strdup(it_producer_conf("it6", b, NULL));
        consumer = strdup(it_consumer_conf(master, "prefixes = [\"it5\", \"it6\"];"));
        produce_ok(pa);
        produce_ok(pb);
        consume_ok(consumer);
        m = it_connect(master);
        for (int i = 0; it_synced_tables[i]; i++)
                before[i] = it_checksum(m, it_synced_tables[i]);

        produce_ok(pa);
        consume_ok(consumer);
        for (int i = 0; it_synced_tables[i]; i++)
                ck_assert_msg(it_checksum(m, it_synced_tables[i]) == before[i],
                              "%s changed on a repeated sync", it_synced_tables[i]);

        /* Delete in child a: one email, one whole contact (its rows cascade). */
        ca = it_connect(a);
        it_exec(ca, "DELETE FROM civicrm_email WHERE id = (SELECT MIN(id) FROM civicrm_email WHERE contact_id IS NOT NULL)");
        it_exec(ca, "UPDATE civicrm_contact SET employer_id = NULL, primary_contact_id = NULL");
        it_exec(ca, "DELETE FROM civicrm_contact WHERE id = (SELECT MAX(id) FROM civicrm_contact)");
        after_b = it_mapped_rows(m, "it6", "civicrm_contact");
        produce_ok(pa);
        consume_ok(consumer);
        it_assert_synced(ca, m, "it5");
        ck_assert_int_eq(it_mapped_rows(m, "it6", "civicrm_contact"), after_b);
        ck_assert_int_eq(it_int(m, "SELECT completed_generation > 0 FROM civisync_prefix WHERE prefix = 'it5'"), 1);
        ck_assert_int_eq(it_int(m, "SELECT last_error IS NULL FROM civisync_prefix WHERE prefix = 'it5'"), 1);
        mysql_close(ca);
        mysql_close(m);
        free(pa);
        free(pb);
        free(consumer);
}
END_TEST

/* A 4-partition topic: control documents go to every partition and the
 * sweep waits for every partition's end marker. */
START_TEST(test_multi_partition_topic)
{
        char master[64], a[64];
        MYSQL *m, *ca;

        it_unique(master, sizeof(master), "master");
        it_unique(a, sizeof(a), "child");
        it_make_db(master, "--schema 5");
        it_make_db(a, "--schema 5 --child 6 --contacts 80");
        it_topic("civisync.it7", 4);
        produce_ok(it_producer_conf("it7", a, NULL));
        consume_ok(it_consumer_conf(master, "prefixes = [\"it7\"];"));
        m = it_connect(master);
        ca = it_connect(a);
        it_assert_synced(ca, m, "it7");
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_replay_end WHERE prefix = 'it7'"), 4);
        mysql_close(m);
        mysql_close(ca);
}
END_TEST

/* --output then --input gives the same master as Kafka. */
START_TEST(test_file_transport)
{
        char master[64], a[64], out[512];
        it_run_t r;
        MYSQL *m, *ca;

        it_unique(master, sizeof(master), "master");
        it_unique(a, sizeof(a), "child");
        it_make_db(master, "--schema 5");
        it_make_db(a, "--schema 5 --child 7 --contacts 50");
        snprintf(out, sizeof(out), "%s/it8.ndjson", it_tmpdir());
        r = it_run("civisync-produce", "-c", it_producer_conf("it8", a, NULL),
                   "--complete", "--output", out, NULL);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        it_run_free(&r);
        ck_assert_int_eq(access(out, R_OK), 0);
        r = it_run("civisync-consume", "-c", it_consumer_conf(master, NULL),
                   "--input", out, "--prefix", "it8", NULL);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        it_run_free(&r);
        m = it_connect(master);
        ca = it_connect(a);
        it_assert_synced(ca, m, "it8");
        mysql_close(m);
        mysql_close(ca);
}
END_TEST

/* Exit codes and error text of the CLI contract. */
START_TEST(test_exit_codes_and_errors)
{
        char a[64], conf[512];
        it_run_t r;
        FILE *fp;

        it_unique(a, sizeof(a), "child");
        it_make_db(a, "--schema 5 --child 8 --contacts 30");

        r = it_run("civisync-produce", "--complete", NULL);
        ck_assert_int_eq(r.exit_code, 2);
        ck_assert_ptr_nonnull(strstr(r.err, "-c FILE"));
        it_run_free(&r);

        snprintf(conf, sizeof(conf), "%s/bad.cfg", it_tmpdir());
        fp = fopen(conf, "w");
        fputs("prefix = \"bad.prefix\";\nstate_dir = \"/tmp\";\n", fp);
        fclose(fp);
        r = it_run("civisync-produce", "-c", conf, "--complete", NULL);
        ck_assert_int_eq(r.exit_code, 2);
        ck_assert_msg(strstr(r.err, "bad.cfg") != NULL, "%s", r.err);
        it_run_free(&r);

        it_topic("civisync.it9", 1);
        /* An unreachable broker: exit 1, and the state is not written.
         * (A missing topic cannot be tested here: the mock cluster creates
         * any topic it is asked about, whatever allow.auto.create.topics.) */
        r = it_run("civisync-produce", "-c", it_producer_conf("it9", a, NULL),
                   "-b", "127.0.0.1:1", "-X", "socket.connection.setup.timeout.ms=1000",
                   "--complete", NULL);
        ck_assert_int_eq(r.exit_code, 1);
        ck_assert_msg(strstr(r.err, "state was not advanced") != NULL, "%s", r.err);
        it_run_free(&r);
        snprintf(conf, sizeof(conf), "%s/state/it9.state.json", it_tmpdir());
        ck_assert_int_ne(access(conf, F_OK), 0);

        r = it_run("civisync-produce", "--version", NULL);
        ck_assert_int_eq(r.exit_code, 0);
        ck_assert_ptr_nonnull(strstr(r.out, "civisync"));
        it_run_free(&r);
}
END_TEST

/* Dead letters need their topic; every test of this binary shares it. */
static void create_dead_letter_topic(void)
{
        static int done;
        if (!done++)
                it_topic("civisync.dead-letter", 1);
}

Suite *sync_suite(void)
{
        Suite *s = suite_create("sync");
        TCase *tc = tcase_create("end-to-end");

        tcase_set_timeout(tc, 600);
        tcase_add_checked_fixture(tc, create_dead_letter_topic, NULL);
        tcase_add_test(tc, test_columns_verbatim_and_references_translated);
        tcase_add_test(tc, test_idempotent_and_sweep);
        tcase_add_test(tc, test_multi_partition_topic);
        tcase_add_test(tc, test_file_transport);
        tcase_add_test(tc, test_exit_codes_and_errors);
        suite_add_tcase(s, tc);
        /* The short form of make test's runs under other server settings:
         * CK_RUN_SUITE=sync CK_RUN_CASE=settings. */
        tc = tcase_create("settings");
        tcase_set_timeout(tc, 600);
        tcase_add_checked_fixture(tc, create_dead_letter_topic, NULL);
        tcase_add_test(tc, test_server_settings);
        tcase_add_test(tc, test_three_children_one_master);
        suite_add_tcase(s, tc);
        return s;
}
