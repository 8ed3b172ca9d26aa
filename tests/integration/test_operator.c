/* test_operator.c — what an operator meets: a wrong database, broker outages, recovery procedures, retired children, lag. */
#include <check.h>
#include <jansson.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "kafka_util.h"

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
        ck_assert_msg(strstr(r.err, "rejected to") == NULL, "rejections: %s", r.err);
        it_run_free(&r);
}

/* #13.1: a complete (or incremental) sync pointed at a database that is
 * not a CiviCRM site is refused: exit 1, a message naming the database,
 * nothing sent, and the master keeps the child's rows. */
START_TEST(test_produce_refuses_empty_database)
{
        char master[64], child[64], empty[64];
        const char *prefix = "op1", *topic = "civisync.op1";
        long long low, high_before, high_after, contacts, sum;
        MYSQL *m, *c;
        char *consumer;
        it_run_t r;

        it_master_and_child(master, child, sizeof(master), "--child 1 --contacts 40",
                            topic, 1);
        produce_ok(it_producer_conf(prefix, child, NULL));
        consumer = it_consumer_conf(master, "prefixes = [\"op1\"];");
        consume_ok(consumer);
        m = it_connect(master);
        c = it_connect(child);
        it_assert_synced(c, m, prefix);
        contacts = it_int(m, "SELECT COUNT(*) FROM civicrm_contact");
        sum = it_checksum(m, "civicrm_contact");
        ck_assert_int_gt(it_mapped_rows(m, prefix, "civicrm_contact"), 30);

        it_unique(empty, sizeof(empty), "empty");
        it_exec(m, "CREATE DATABASE `%s`", empty);
        ku_watermarks(topic, 0, &low, &high_before);

        /* The same prefix (and state dir), the wrong database. */
        r = it_run("civisync-produce", "-c", it_producer_conf(prefix, empty, NULL),
                   "--complete", NULL);
        ck_assert_msg(r.exit_code == 1, "exit %d: %s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "does not look like a CiviCRM site") &&
                      strstr(r.err, empty), "message: %s", r.err);
        it_run_free(&r);
        /* Incremental: it would send a delete for every row seen before. */
        r = it_run("civisync-produce", "-c", it_producer_conf(prefix, empty, NULL),
                   NULL);
        ck_assert_msg(r.exit_code == 1, "exit %d: %s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "does not look like a CiviCRM site") != NULL,
                      "message: %s", r.err);
        it_run_free(&r);
        ku_watermarks(topic, 0, &low, &high_after);
        ck_assert_int_eq(high_after, high_before);

        consume_ok(consumer);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_contact"), contacts);
        ck_assert_int_eq(it_checksum(m, "civicrm_contact"), sum);
        it_assert_synced(c, m, prefix);

        /* A CiviCRM schema whose contacts are gone is refused as well. */
        it_exec(m, "CREATE TABLE `%s`.civicrm_domain (id INT UNSIGNED "
                "PRIMARY KEY)", empty);
        it_exec(m, "INSERT INTO `%s`.civicrm_domain VALUES (1)", empty);
        it_exec(m, "CREATE TABLE `%s`.civicrm_contact LIKE `%s`.civicrm_contact",
                empty, child);
        r = it_run("civisync-produce", "-c", it_producer_conf(prefix, empty, NULL),
                   "--complete", NULL);
        ck_assert_msg(r.exit_code == 1 && strstr(r.err, "civicrm_contact is empty"),
                      "exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);
        ku_watermarks(topic, 0, &low, &high_after);
        ck_assert_int_eq(high_after, high_before);
        it_exec(m, "DROP DATABASE `%s`", empty);
        mysql_close(m);
        mysql_close(c);
}
END_TEST

/* #13.6: a --once run whose brokers never answer fails (cron monitors the
 * exit code); before, it warned "no partitions assigned" and exited 0. */
START_TEST(test_once_fails_when_kafka_unreachable)
{
        char master[64];
        it_run_t r;

        it_unique(master, sizeof(master), "master");
        it_make_db(master, "--schema 5");
        r = it_run("civisync-consume", "-c",
                   it_consumer_conf(master, "prefixes = [\"op2\"];"),
                   "-b", "127.0.0.1:1", "--once", NULL);
        ck_assert_msg(r.exit_code == 1, "exit %d: %s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "do not answer") != NULL, "%s", r.err);
        it_run_free(&r);
}
END_TEST

static pid_t spawn(const char *log, const char *const argv[])
{
        pid_t pid = fork();
        ck_assert(pid >= 0);
        if (pid == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
                dup2(fd, 1);
                dup2(fd, 2);
                execv(argv[0], (char *const *)argv);
                _exit(127);
        }
        return pid;
}

static char *slurp(const char *path)
{
        FILE *fp = fopen(path, "r");
        char *buf = calloc(1, 1 << 20);
        ck_assert_ptr_nonnull(fp);
        if (fread(buf, 1, (1 << 20) - 1, fp) == 0)
                buf[0] = '\0';
        fclose(fp);
        return buf;
}

/* #13.6: SIGINT before the topics are drained logs that it stopped on
 * request and what is left, and exits 130 (before: nothing logged, 0). */
START_TEST(test_sigint_undrained_exits_130)
{
        char master[64], child[64], log[512];
        const char *topic = "civisync.op3";
        const char *conf;
        int status = 0, stopped = 0;
        MYSQL *m;
        char *text;

        it_master_and_child(master, child, sizeof(master),
                            "--child 3 --contacts 400", topic, 1);
        produce_ok(it_producer_conf("op3", child, NULL));
        conf = it_consumer_conf(master, "prefixes = [\"op3\"];\n"
                                "batch_documents = 10;");
        m = it_connect(master);
        snprintf(log, sizeof(log), "%s/%s-sigint.log", it_tmpdir(), master);
        {
                const char *argv[] = { "bin/civisync-consume", "-c", conf, NULL };
                pid_t pid = spawn(log, argv);
                for (int i = 0; i < 3000 && !stopped; i++) {
                        usleep(20000);
                        ck_assert_msg(waitpid(pid, &status, WNOHANG) == 0,
                                      "the consumer ended early");
                        if (it_int(m, "SELECT COUNT(*) FROM information_schema.TABLES "
                                   "WHERE TABLE_SCHEMA = DATABASE() AND "
                                   "TABLE_NAME = 'mapping_master_op3'") &&
                            it_int(m, "SELECT COUNT(*) FROM mapping_master_op3") > 20) {
                                kill(pid, SIGINT);
                                stopped = 1;
                        }
                }
                ck_assert_msg(stopped, "nothing applied in 60 s");
                waitpid(pid, &status, 0);
        }
        text = slurp(log);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 130,
                      "status %d: %s", status, text);
        ck_assert_msg(strstr(text, "stopped on request") &&
                      strstr(text, "not yet read: civisync.op3 [0]"), "%s", text);
        free(text);
        mysql_close(m);
}
END_TEST

/* A SIGTERM between an assignment and the first fetch from it, with
 * nothing left to read: the partition is where it was assigned from, so the
 * consumer is drained (exit 0), not "lag unknown" (exit 130). The fault
 * suite's two_consumers hit this when B was stopped 0.2 s after taking over
 * A's partitions. A 1.5 s broker round trip holds the first fetch back. */
START_TEST(test_sigterm_right_after_assignment_drained)
{
        char master[64], child[64], log[512];
        const char *conf;
        int status = 0, assigned = 0;
        char *text;

        it_master_and_child(master, child, sizeof(master),
                            "--child 3 --contacts 20", "civisync.op7", 1);
        produce_ok(it_producer_conf("op7", child, NULL));
        conf = it_consumer_conf(master, "prefixes = [\"op7\"];");
        {
                it_run_t r = it_run("civisync-consume", "-c", conf, "--once", NULL);
                ck_assert_msg(r.exit_code == 0, "first consume: %s", r.err);
                it_run_free(&r);
        }
        snprintf(log, sizeof(log), "%s/%s-sigterm.log", it_tmpdir(), master);
        it_broker_rtt(1500);
        {
                const char *argv[] = { "bin/civisync-consume", "-c", conf, NULL };
                pid_t pid = spawn(log, argv);
                for (int i = 0; i < 1500 && !assigned; i++) {
                        usleep(20000);
                        if (waitpid(pid, &status, WNOHANG) != 0)
                                break;
                        text = slurp(log);
                        assigned = text && strstr(text, "assigned civisync.op7 [0]");
                        free(text);
                }
                if (assigned) {
                        usleep(200000);
                        kill(pid, SIGTERM);
                        waitpid(pid, &status, 0);
                } else {
                        kill(pid, SIGKILL);
                        waitpid(pid, NULL, 0);
                }
        }
        it_broker_rtt(0);
        text = slurp(log);
        ck_assert_msg(assigned, "no assignment within 30 s: %s", text);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "status %d (expected exit 0): %s", status, text);
        ck_assert_msg(strstr(text, "every assigned partition is drained") &&
                      !strstr(text, "lag unknown"), "%s", text);
        free(text);
}
END_TEST

/* A producer/consumer config pair under topic prefix tp (so an empty
 * allow-list sees only this test's topics). */
static char *tp_producer_conf(const char *tp, const char *prefix,
                              const char *child)
{
        char text[2048], name[128];
        snprintf(text, sizeof(text),
                 "prefix = \"%s\";\nstate_dir = \"%s/state\";\n"
                 "child = { socket = \"%s\"; user = \"%s\"; password = \"%s\"; "
                 "database = \"%s\"; };\n"
                 "kafka = { brokers = \"%s\"; topic_prefix = \"%s\"; };\n",
                 prefix, it_tmpdir(), getenv("CS_TEST_MYSQL_SOCKET"),
                 getenv("CS_TEST_MYSQL_USER"), getenv("CS_TEST_MYSQL_PASSWORD"),
                 child, it_brokers(), tp);
        snprintf(name, sizeof(name), "producer-%s%s.cfg", tp, prefix);
        return it_write_file(name, text);
}

static char *tp_consumer_conf(const char *tp, const char *master,
                              const char *dlq, const char *extra)
{
        char text[2048], name[128];
        snprintf(text, sizeof(text),
                 "master = { socket = \"%s\"; user = \"%s\"; password = \"%s\"; "
                 "database = \"%s\"; };\n"
                 "kafka = { brokers = \"%s\"; group = \"g_%s\"; topic_prefix = "
                 "\"%s\"; dead_letter_topic = \"%s\";\n"
                 "  properties = ( (\"session.timeout.ms\", \"6000\") ); };\n%s\n",
                 getenv("CS_TEST_MYSQL_SOCKET"), getenv("CS_TEST_MYSQL_USER"),
                 getenv("CS_TEST_MYSQL_PASSWORD"), master, it_brokers(), master,
                 tp, dlq, extra);
        snprintf(name, sizeof(name), "consumer-%s.cfg", master);
        return it_write_file(name, text);
}

/* #13.6: a typo in `prefixes` is reported as a missing topic; the topic is
 * not auto-created, and the other prefixes are consumed (before: the
 * embedded broker auto-created it, and the run stopped with "offset no
 * longer on the broker"). */
START_TEST(test_prefix_typo_topic_does_not_exist)
{
        char master[64], child[64];
        MYSQL *m, *c;
        it_run_t r;
        const char *conf;

        it_master_and_child(master, child, sizeof(master), "--child 4 --contacts 20",
                            "civisync.op4", 1);
        produce_ok(it_producer_conf("op4", child, NULL));
        conf = it_consumer_conf(master, "prefixes = [\"op4\", \"op4typo\"];");
        r = it_run("civisync-consume", "-c", conf, "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "exit %d: %s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "topic civisync.op4typo does not exist") &&
                      !strstr(r.err, "no longer on the broker"), "%s", r.err);
        it_run_free(&r);
        m = it_connect(master);
        c = it_connect(child);
        it_assert_synced(c, m, "op4");
        r = it_run("civisync-topics", "-c", conf, "list", NULL);
        ck_assert_msg(r.exit_code == 0 && strstr(r.out, "civisync.op4:") &&
                      !strstr(r.out, "civisync.op4typo"), "%s%s", r.out, r.err);
        it_run_free(&r);
        mysql_close(m);
        mysql_close(c);
}
END_TEST

/* The lag figure of --status's "total lag" line. */
static long long status_lag(const char *out, const char *topic)
{
        char head[128];
        const char *p, *t;
        snprintf(head, sizeof(head), "(topic %s)", topic);
        p = strstr(out, head);
        ck_assert_msg(p != NULL, "%s", out);
        t = strstr(p, "total lag: ");
        ck_assert_msg(t != NULL, "%s", p);
        return strtoll(t + strlen("total lag: "), NULL, 10);
}

/* #13.6: retiring a child with an empty allow-list: its topic is not
 * consumed, --status and civisync-topics list say "retired, not consumed";
 * the dead-letter topic is listed without a lag; --status and describe
 * give the same lag (the group's committed offset against the high
 * watermark) even after an operator moved the group's offset. */
START_TEST(test_retired_prefix_and_lag)
{
        char master[64], a[64], b[64];
        const char *tp = "opr5.", *dlq = "opr5-dlq";
        MYSQL *m, *ca;
        const char *conf;
        it_run_t r;
        long long low, high, lag;
        char needle[128];

        it_master_and_child(master, a, sizeof(master), "--child 5 --contacts 20",
                            "opr5.A", 1);
        it_unique(b, sizeof(b), "child");
        it_make_db(b, "--schema 5 --child 6 --contacts 20");
        it_topic("opr5.B", 1);
        it_topic(dlq, 1);
        produce_ok(tp_producer_conf(tp, "A", a));
        produce_ok(tp_producer_conf(tp, "B", b));
        conf = tp_consumer_conf(tp, master, dlq, "prefixes = [];\n"
                                "retired_prefixes = [\"B\"];");
        consume_ok(conf);
        m = it_connect(master);
        ca = it_connect(a);
        it_assert_synced(ca, m, "A");
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM information_schema.TABLES "
                                "WHERE TABLE_SCHEMA = DATABASE() AND "
                                "TABLE_NAME = 'mapping_master_B'"), 0);

        r = it_run("civisync-topics", "-c", conf, "list", NULL);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        ck_assert_msg(strstr(r.out, "opr5.B: ") &&
                      strstr(strstr(r.out, "opr5.B: "), "retired, not consumed"),
                      "%s", r.out);
        snprintf(needle, sizeof(needle), "%s: ", dlq);
        ck_assert_msg(strstr(r.out, needle) &&
                      strstr(strstr(r.out, needle), "dead-letter topic, not consumed"),
                      "%s", r.out);
        ck_assert_msg(!strstr(strstr(r.out, needle), "lag"), "%s", r.out);
        it_run_free(&r);

        /* An operator moves the group back to the beginning of A. */
        ku_watermarks("opr5.A", 0, &low, &high);
        {
                char group[80];
                snprintf(group, sizeof(group), "g_%s", master);
                ku_commit_group(group, "opr5.A", 1, low);
        }
        r = it_run("civisync-consume", "-c", conf, "--status", NULL);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        lag = status_lag(r.out, "opr5.A");
        ck_assert_int_eq(lag, high - low);
        ck_assert_msg(strstr(r.out, "prefix B (topic opr5.B): retired, not consumed"),
                      "%s", r.out);
        it_run_free(&r);
        r = it_run("civisync-topics", "-c", conf, "describe", "A", NULL);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        snprintf(needle, sizeof(needle), "lag %lld\n", lag);
        ck_assert_msg(strstr(r.out, needle) != NULL, "want %s in %s", needle, r.out);
        it_run_free(&r);
        mysql_close(m);
        mysql_close(ca);
}
END_TEST

/* #13.6: verify names a master id only for a master row that exists; a
 * mapping entry to a missing row says so (before: "(master id N)"). */
START_TEST(test_verify_extra_without_master_row)
{
        char master[64], child[64], want[256];
        const char *pconf, *cconf;
        MYSQL *m;
        it_run_t r;

        it_master_and_child(master, child, sizeof(master), "--child 7 --contacts 20",
                            "civisync.op6", 1);
        pconf = it_producer_conf("op6", child, NULL);
        produce_ok(pconf);
        cconf = it_consumer_conf(master, "prefixes = [\"op6\"];");
        consume_ok(cconf);
        m = it_connect(master);
        it_exec(m, "INSERT INTO mapping_master_op6 (entity_table, child_entity_id, "
                "master_entity_id) VALUES ('civicrm_contact', 999998, 88888888)");
        r = it_run("civisync-verify", "--child-config", pconf, "--master-config",
                   cconf, NULL);
        ck_assert_msg(r.exit_code == 1, "exit %d: %s%s", r.exit_code, r.out, r.err);
        snprintf(want, sizeof(want), "contact extra op6/civicrm_contact/999998: "
                 "mapping entry to master id 88888888, which does not exist");
        ck_assert_msg(strstr(r.out, want) && !strstr(r.out, "(master id 88888888)"),
                      "%s", r.out);
        it_run_free(&r);
        mysql_close(m);
}
END_TEST

/* A valid note document of prefix (from a --output run of child, which
 * advances the producer's state like any complete run) whose note text is
 * text: a filler that applies cleanly (NEW string). */
static char *note_filler(const char *prefix, const char *child, char *key,
                         size_t key_size, const char *text)
{
        char out[512], *line = NULL, *value = NULL;
        size_t cap = 0;
        FILE *fp;
        it_run_t r;

        snprintf(out, sizeof(out), "%s/filler-%s.ndjson", it_tmpdir(), prefix);
        r = it_run("civisync-produce", "-c", it_producer_conf(prefix, child, NULL),
                   "--complete", "--output", out, NULL);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        it_run_free(&r);
        fp = fopen(out, "r");
        ck_assert_ptr_nonnull(fp);
        while (!value && getline(&line, &cap, fp) > 0) {
                json_t *rec = json_loads(line, 0, NULL);
                const char *k = json_string_value(json_object_get(rec, "key"));
                json_t *doc = json_object_get(rec, "value");
                if (k && strstr(k, "/civicrm_note/") && json_is_object(doc)) {
                        snprintf(key, key_size, "%s", k);
                        json_object_set_new(doc, "note", json_string(text));
                        value = json_dumps(doc, JSON_COMPACT);
                }
                json_decref(rec);
        }
        free(line);
        fclose(fp);
        ck_assert_msg(value != NULL, "no note document in %s", out);
        return value;
}

/* #13.6: after "offset gone", the error's own procedure (--complete, then
 * --resync P --once) replays the topic as a complete sync and says so;
 * before, it logged "moved forward by an operator ... skipped on request"
 * and ran no replay. */
START_TEST(test_offset_gone_recovery_replays)
{
        char master[64], child[64], key[256], *text, *value;
        const char *topic = "civisync.op7";
        const char *pconf, *cconf;
        long long low, high, stored, gone_contact;
        MYSQL *m, *c;
        it_run_t r;

        it_master_and_child(master, child, sizeof(master), "--child 8 --contacts 20",
                            topic, 1);
        pconf = it_producer_conf("op7", child, NULL);
        produce_ok(pconf);
        cconf = it_consumer_conf(master, "prefixes = [\"op7\"];");
        consume_ok(cconf);
        m = it_connect(master);
        c = it_connect(child);
        stored = it_int(m, "SELECT next_offset FROM civisync_offset WHERE prefix = 'op7'");

        /* ~12 MB of valid note updates: the broker drops the applied offset. */
        text = malloc(50001);
        memset(text, 'z', 50000);
        text[50000] = '\0';
        value = note_filler("op7", child, key, sizeof(key), text);
        free(text);
        for (int i = 0; i < 250; i++) {
                ku_send(topic, 0, key, value, strlen(value));
                if (i % 20 == 19)
                        ku_flush();
        }
        ku_flush();
        free(value);
        ku_watermarks(topic, 0, &low, &high);
        ck_assert_msg(low > stored, "the broker kept everything (low %lld, applied "
                      "%lld)", low, stored);

        /* A contact deleted on the child meanwhile. */
        gone_contact = it_int(c, "SELECT MAX(c.id) FROM civicrm_contact c WHERE "
                              "c.id > 1 AND NOT EXISTS (SELECT 1 FROM "
                              "civicrm_group_contact g JOIN civicrm_email e ON "
                              "g.email_id = e.id WHERE e.contact_id = c.id)");
        it_exec(c, "DELETE FROM civicrm_contact WHERE id = %lld", gone_contact);

        r = it_run("civisync-consume", "-c", cconf, "--once", NULL);
        ck_assert_msg(r.exit_code == 1 && strstr(r.err, "no longer on the broker"),
                      "exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);
        /* The procedure the error names. */
        produce_ok(pconf);
        r = it_run("civisync-consume", "-c", cconf, "--resync", "op7", "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "exit %d: %s", r.exit_code, r.err);
        ck_assert_msg(!strstr(r.err, "skipped on request") &&
                      strstr(r.err, "is no longer on the broker") &&
                      strstr(r.err, "replaying"), "%s", r.err);
        it_run_free(&r);
        r = it_run("civisync-consume", "-c", cconf, "--status", NULL);
        ck_assert_msg(strstr(r.out, "offset-rewind replay: 1 completed") &&
                      !strstr(r.out, "OFFSET GONE"), "%s", r.out);
        it_run_free(&r);
        it_assert_synced(c, m, "op7");
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM mapping_master_op7 WHERE "
                                "entity_table = 'civicrm_contact' AND "
                                "child_entity_id = %lld", gone_contact), 0);
        mysql_close(m);
        mysql_close(c);
}
END_TEST

Suite *operator_suite(void)
{
        Suite *s = suite_create("operator");
        const struct {
                const char *name;
                const TTest *test;
        } cases[] = {
                { "refuse", test_produce_refuses_empty_database },
                { "unreachable", test_once_fails_when_kafka_unreachable },
                { "sigint", test_sigint_undrained_exits_130 },
                { "sigterm_after_assignment", test_sigterm_right_after_assignment_drained },
                { "typo", test_prefix_typo_topic_does_not_exist },
                { "retired", test_retired_prefix_and_lag },
                { "verify", test_verify_extra_without_master_row },
                { "offset_gone", test_offset_gone_recovery_replays },
        };

        /* One case per test: CK_RUN_CASE=typo runs just that one. */
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                TCase *tc = tcase_create(cases[i].name);
                tcase_set_timeout(tc, 300);
                tcase_add_test(tc, cases[i].test);
                suite_add_tcase(s, tc);
        }
        return s;
}
