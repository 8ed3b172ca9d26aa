/* test_conf.c — unit tests for loading and validating producer/consumer configuration files. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "kafka.h"
#include "suites.h"

static char tmpdir[64];
static char paths[8][128];
static int path_cnt;

static void setup(void)
{
        strcpy(tmpdir, "/tmp/cs_test_conf_XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
        path_cnt = 0;
}

static void teardown(void)
{
        for (int i = 0; i < path_cnt; i++)
                unlink(paths[i]);
        rmdir(tmpdir);
}

/* Writes text to a new file in the test's temp dir; returns its path. */
static const char *write_file(const char *name, const char *text)
{
        ck_assert_int_lt(path_cnt, 8);
        char *p = paths[path_cnt++];
        snprintf(p, sizeof(paths[0]), "%s/%s", tmpdir, name);
        FILE *fp = fopen(p, "w");
        ck_assert_ptr_nonnull(fp);
        fputs(text, fp);
        fclose(fp);
        return p;
}

/* Loads a producer file that must fail; checks errstr == "PATH" + suffix. */
static void expect_producer_error(const char *text, const char *suffix)
{
        cs_producer_conf_t c;
        char err[1024] = "", want[1024];
        const char *p = write_file("bad.cfg", text);

        ck_assert_int_eq(cs_conf_load_producer(p, &c, err, sizeof(err)), -1);
        snprintf(want, sizeof(want), "%s%s", p, suffix);
        ck_assert_msg(strncmp(err, want, strlen(want)) == 0,
                      "\n got: %s\nwant: %s...", err, want);
        cs_conf_producer_free(&c);
        unlink(p);
        path_cnt--;
}

static void expect_consumer_error(const char *text, const char *suffix)
{
        cs_consumer_conf_t c;
        char err[1024] = "", want[1024];
        const char *p = write_file("bad.cfg", text);

        ck_assert_int_eq(cs_conf_load_consumer(p, &c, err, sizeof(err)), -1);
        snprintf(want, sizeof(want), "%s%s", p, suffix);
        ck_assert_msg(strncmp(err, want, strlen(want)) == 0,
                      "\n got: %s\nwant: %s...", err, want);
        cs_conf_consumer_free(&c);
        unlink(p);
        path_cnt--;
}

#define PRODUCER_MIN                                                          \
        "prefix = \"P1\";\n"                                                  \
        "state_dir = \"/var/lib/civisync/P1\";\n"                             \
        "child = { user = \"u\"; database = \"civicrm\"; };\n"

#define CONSUMER_MIN                                                          \
        "master = { user = \"m\"; database = \"civicrm\"; };\n"

START_TEST(test_producer_defaults)
{
        cs_producer_conf_t c;
        char err[512] = "";
        const char *p = write_file("p.cfg", PRODUCER_MIN);

        ck_assert_msg(cs_conf_load_producer(p, &c, err, sizeof(err)) == 0, "%s", err);
        ck_assert_str_eq(c.path, p);
        ck_assert_str_eq(c.prefix, "P1");
        ck_assert_str_eq(c.state_dir, "/var/lib/civisync/P1");
        ck_assert_int_eq(c.lookback_seconds, 300);
        ck_assert_uint_eq(c.max_document_bytes, 1000000);
        ck_assert_int_eq(c.batch_rows, 2000);
        ck_assert_int_eq(c.follow_interval_ms, 200);
        ck_assert_int_eq(c.reconcile_interval, 3600);
        ck_assert_str_eq(c.child.host, "127.0.0.1");
        ck_assert_int_eq(c.child.port, 3306);
        ck_assert_ptr_null(c.child.socket);
        ck_assert_ptr_null(c.child.password);
        ck_assert_str_eq(c.child.user, "u");
        ck_assert_str_eq(c.child.database, "civicrm");
        ck_assert_ptr_null(c.kafka.brokers);
        ck_assert_str_eq(c.kafka.topic_prefix, "civisync.");
        ck_assert_uint_eq(c.kafka.prop_cnt, 0);
        cs_conf_producer_free(&c);
        ck_assert_ptr_null(c.path);
}
END_TEST

START_TEST(test_producer_all_keys)
{
        cs_producer_conf_t c;
        char err[512] = "";
        const char *p = write_file("p.cfg",
                "prefix = \"Site_2\";\n"
                "state_dir = \"/s\";\n"
                "lookback_seconds = 0;\n"
                "max_document_bytes = 2048L;\n"
                "batch_rows = 10;\n"
                "follow_interval_ms = 50;\n"
                "reconcile_interval = 5;\n"
                "child = { socket = \"/run/mysqld/mysqld.sock\"; port = 3307;\n"
                "  user = \"u\"; password = \"\"; database = \"d\"; };\n"
                "kafka = { brokers = \"k:9092\"; topic_prefix = \"cs-\";\n"
                "  properties = ( (\"compression.type\", \"lz4\"),\n"
                "                 [\"security.protocol\", \"SASL_SSL\"] ); };\n");

        ck_assert_msg(cs_conf_load_producer(p, &c, err, sizeof(err)) == 0, "%s", err);
        ck_assert_str_eq(c.prefix, "Site_2");
        ck_assert_int_eq(c.lookback_seconds, 0);
        ck_assert_uint_eq(c.max_document_bytes, 2048);
        ck_assert_int_eq(c.batch_rows, 10);
        ck_assert_int_eq(c.follow_interval_ms, 50);
        ck_assert_int_eq(c.reconcile_interval, 5);
        ck_assert_ptr_null(c.child.host); /* socket set, no host default */
        ck_assert_str_eq(c.child.socket, "/run/mysqld/mysqld.sock");
        ck_assert_int_eq(c.child.port, 3307);
        ck_assert_str_eq(c.child.password, "");
        ck_assert_str_eq(c.kafka.brokers, "k:9092");
        ck_assert_str_eq(c.kafka.topic_prefix, "cs-");
        ck_assert_uint_eq(c.kafka.prop_cnt, 2);
        ck_assert_str_eq(c.kafka.props[0].name, "compression.type");
        ck_assert_str_eq(c.kafka.props[0].value, "lz4");
        ck_assert_str_eq(c.kafka.props[1].name, "security.protocol");
        ck_assert_str_eq(c.kafka.props[1].value, "SASL_SSL");
        cs_conf_producer_free(&c);
}
END_TEST

/* files_dir / max_file_bytes (FORMAT.md §20): an absolute, existing
 * directory; a limit whose base64 fits max_document_bytes. */
START_TEST(test_files_settings)
{
        cs_producer_conf_t c;
        cs_consumer_conf_t cc;
        char err[512] = "", text[1024];
        const char *base = "prefix = \"P1\"; state_dir = \"/s\";\n"
                "child = { user = \"u\"; database = \"d\"; };\n"
                "kafka = { brokers = \"k:9092\"; };\n";

        snprintf(text, sizeof(text), "%sfiles_dir = \"%s\";\nmax_file_bytes = 1000;\n",
                 base, tmpdir);
        ck_assert_msg(cs_conf_load_producer(write_file("f1.cfg", text), &c, err,
                                            sizeof(err)) == 0, "%s", err);
        ck_assert_str_eq(c.files_dir, tmpdir);
        ck_assert_uint_eq(c.max_file_bytes, 1000);
        cs_conf_producer_free(&c);
        ck_assert_int_eq(cs_conf_load_producer(write_file("f2.cfg", base), &c, err,
                                               sizeof(err)), 0);
        ck_assert_ptr_null(c.files_dir);
        ck_assert_uint_eq(c.max_file_bytes, 700000);
        cs_conf_producer_free(&c);
        snprintf(text, sizeof(text), "%sfiles_dir = \"%s\";\nmax_document_bytes = "
                 "2048L;\n", base, tmpdir);
        ck_assert_int_eq(cs_conf_load_producer(write_file("f3.cfg", text), &c, err,
                                               sizeof(err)), -1);
        ck_assert_msg(strstr(err, "f3.cfg:5 - 'max_file_bytes' 700000 does not fit "
                             "'max_document_bytes' 2048"), "%s", err);
        cs_conf_producer_free(&c);
        snprintf(text, sizeof(text), "%sfiles_dir = \"files\";\n", base);
        ck_assert_int_eq(cs_conf_load_producer(write_file("f4.cfg", text), &c, err,
                                               sizeof(err)), -1);
        ck_assert_msg(strstr(err, "f4.cfg:4 - 'files_dir' \"files\" must be an "
                             "absolute path"), "%s", err);
        cs_conf_producer_free(&c);
        snprintf(text, sizeof(text), "%sfiles_dir = \"%s/none\";\n", base, tmpdir);
        ck_assert_int_eq(cs_conf_load_producer(write_file("f5.cfg", text), &c, err,
                                               sizeof(err)), -1);
        ck_assert_msg(strstr(err, "No such file or directory"), "%s", err);
        cs_conf_producer_free(&c);
        snprintf(text, sizeof(text), "%smax_file_bytes = 67108865;\n", base);
        ck_assert_int_eq(cs_conf_load_producer(write_file("f6.cfg", text), &c, err,
                                               sizeof(err)), -1);
        ck_assert_msg(strstr(err, "'max_file_bytes' must be between 0 and 67108864"),
                      "%s", err);
        cs_conf_producer_free(&c);
        snprintf(text, sizeof(text), "master = { user = \"u\"; database = \"d\"; };\n"
                 "kafka = { brokers = \"k:9092\"; };\nfiles_dir = \"%s\";\n", tmpdir);
        ck_assert_msg(cs_conf_load_consumer(write_file("f7.cfg", text), &cc, err,
                                            sizeof(err)) == 0, "%s", err);
        ck_assert_str_eq(cc.files_dir, tmpdir);
        cs_conf_consumer_free(&cc);
}
END_TEST

START_TEST(test_consumer_defaults_and_prefixes)
{
        cs_consumer_conf_t c;
        char err[512] = "";
        const char *p = write_file("c.cfg", CONSUMER_MIN);

        ck_assert_msg(cs_conf_load_consumer(p, &c, err, sizeof(err)) == 0, "%s", err);
        ck_assert_int_eq(c.batch_documents, 500);
        ck_assert_int_eq(c.multi_row_insert, 1);
        ck_assert_uint_eq(c.max_document_bytes, 1000000);
        ck_assert_str_eq(c.kafka.group, "civisync-master");
        ck_assert_str_eq(c.kafka.dead_letter_topic, "civisync.dead-letter");
        ck_assert_str_eq(c.kafka.topic_prefix, "civisync.");
        ck_assert_str_eq(c.master.host, "127.0.0.1");
        ck_assert_uint_eq(c.prefix_cnt, 0);
        ck_assert_int_eq(cs_conf_prefix_allowed(&c, "ANY"), 1);
        ck_assert_int_eq(c.sweep_hold_percent, 50);
        ck_assert_int_eq(c.sweep_hold_min_rows, 100);
        ck_assert_int_eq(c.tombstone_retention_seconds, 604800);
        ck_assert_int_eq(c.retention_gap_resync, 0);
        cs_conf_consumer_free(&c);

        p = write_file("c3.cfg", CONSUMER_MIN
                       "sweep_hold_percent = 90;\nsweep_hold_min_rows = 5;\n"
                       "tombstone_retention_seconds = 2;\n"
                       "on_retention_gap = \"resync\";\n");
        ck_assert_msg(cs_conf_load_consumer(p, &c, err, sizeof(err)) == 0, "%s", err);
        ck_assert_int_eq(c.sweep_hold_percent, 90);
        ck_assert_int_eq(c.sweep_hold_min_rows, 5);
        ck_assert_int_eq(c.tombstone_retention_seconds, 2);
        ck_assert_int_eq(c.retention_gap_resync, 1);
        cs_conf_consumer_free(&c);
        p = write_file("c4.cfg", CONSUMER_MIN "on_retention_gap = \"skip\";\n");
        ck_assert_int_eq(cs_conf_load_consumer(p, &c, err, sizeof(err)), -1);
        ck_assert_msg(strstr(err, "c4.cfg:") && strstr(err, "must be \"stop\" or \"resync\""),
                      "%s", err);
        cs_conf_consumer_free(&c);

        p = write_file("c2.cfg", CONSUMER_MIN
                       "prefixes = [\"P1\", \"P2\"];\nbatch_documents = 7;\n"
                       "multi_row_insert = false;\n"
                       "kafka = { group = \"g\"; dead_letter_topic = \"dl\"; };\n");
        ck_assert_msg(cs_conf_load_consumer(p, &c, err, sizeof(err)) == 0, "%s", err);
        ck_assert_uint_eq(c.prefix_cnt, 2);
        ck_assert_str_eq(c.prefixes[1], "P2");
        ck_assert_int_eq(c.batch_documents, 7);
        ck_assert_int_eq(c.multi_row_insert, 0);
        ck_assert_str_eq(c.kafka.group, "g");
        ck_assert_str_eq(c.kafka.dead_letter_topic, "dl");
        ck_assert_int_eq(cs_conf_prefix_allowed(&c, "P1"), 1);
        ck_assert_int_eq(cs_conf_prefix_allowed(&c, "P2"), 1);
        ck_assert_int_eq(cs_conf_prefix_allowed(&c, "P3"), 0);
        ck_assert_int_eq(cs_conf_prefix_allowed(&c, "p1"), 0);
        ck_assert_int_eq(cs_conf_prefix_allowed(&c, NULL), 0);
        cs_conf_consumer_free(&c);
}
END_TEST

START_TEST(test_example_files_load)
{
        cs_producer_conf_t pc;
        cs_consumer_conf_t cc;
        char err[512] = "";

        /* tests run from the repository root */
        ck_assert_msg(cs_conf_load_producer("conf/producer.cfg.example", &pc, err,
                                            sizeof(err)) == 0, "%s", err);
        ck_assert_str_eq(pc.prefix, "P1");
        ck_assert_ptr_nonnull(pc.kafka.brokers);
        ck_assert_uint_ge(pc.kafka.prop_cnt, 1);
        cs_conf_producer_free(&pc);
        ck_assert_msg(cs_conf_load_consumer("conf/consumer.cfg.example", &cc, err,
                                            sizeof(err)) == 0, "%s", err);
        ck_assert_uint_eq(cc.prefix_cnt, 2);
        ck_assert_ptr_nonnull(cc.kafka.brokers);
        cs_conf_consumer_free(&cc);
}
END_TEST

START_TEST(test_data_files)
{
        cs_producer_conf_t pc;
        char err[512] = "";

        ck_assert_int_eq(cs_conf_load_producer("tests/unit/data/conf/producer-typo.cfg",
                                               &pc, err, sizeof(err)), -1);
        ck_assert_str_eq(err, "tests/unit/data/conf/producer-typo.cfg:9 - unknown key "
                         "'child.pasword' (known keys in child: host, port, socket, "
                         "user, password, password_file, database, ssl_mode, "
                         "ssl_ca, ssl_cert, ssl_key)");
        cs_conf_producer_free(&pc);
}
END_TEST

START_TEST(test_unknown_keys)
{
        expect_producer_error(PRODUCER_MIN "lookback_secnds = 5;\n",
                              ":4 - unknown key 'lookback_secnds' (known keys: prefix, ");
        expect_producer_error("prefix = \"P1\";\nstate_dir = \"/s\";\n"
                              "child = {\n  user = \"u\";\n  hots = \"h\";\n"
                              "  database = \"d\"; };\n",
                              ":5 - unknown key 'child.hots' (known keys in child: host,");
        /* consumer-only keys are unknown to the producer, and vice versa */
        expect_producer_error(PRODUCER_MIN "kafka = { group = \"g\"; };\n",
                              ":4 - unknown key 'kafka.group'");
        expect_consumer_error(CONSUMER_MIN "prefix = \"P1\";\n",
                              ":2 - unknown key 'prefix'");
}
END_TEST

START_TEST(test_missing_required)
{
        expect_producer_error("state_dir = \"/s\";\nchild = { user = \"u\"; database = \"d\"; };\n",
                              " - missing required key 'prefix'");
        expect_producer_error("prefix = \"P1\";\nchild = { user = \"u\"; database = \"d\"; };\n",
                              " - missing required key 'state_dir'");
        expect_producer_error("prefix = \"P1\";\nstate_dir = \"/s\";\n",
                              " - missing required group 'child'");
        expect_producer_error("prefix = \"P1\";\nstate_dir = \"/s\";\n\nchild = {\n"
                              "  database = \"d\";\n};\n",
                              ":4 - missing required key 'child.user'");
        expect_consumer_error("master = { user = \"u\"; };\n",
                              ":1 - missing required key 'master.database'");
        expect_consumer_error("kafka = { };\n", " - missing required group 'master'");
}
END_TEST

START_TEST(test_wrong_types_and_ranges)
{
        expect_producer_error("prefix = \"P1\";\nstate_dir = \"/s\";\n"
                              "child = { user = \"u\"; database = \"d\";\n"
                              "  port = \"3306\"; };\n",
                              ":4 - 'child.port' must be an integer, not a string");
        expect_producer_error("prefix = \"P1\";\nstate_dir = \"/s\";\n"
                              "child = { user = \"u\"; database = \"d\"; port = 70000; };\n",
                              ":3 - 'child.port' must be between 1 and 65535 (got 70000)");
        expect_producer_error(PRODUCER_MIN "batch_rows = 0;\n",
                              ":4 - 'batch_rows' must be between 1 and");
        expect_producer_error(PRODUCER_MIN "follow_interval_ms = 5;\n",
                              ":4 - 'follow_interval_ms' must be between 10 and 60000");
        expect_producer_error(PRODUCER_MIN "reconcile_interval = 0;\n",
                              ":4 - 'reconcile_interval' must be between 1 and 604800");
        expect_producer_error(PRODUCER_MIN "lookback_seconds = 1.5;\n",
                              ":4 - 'lookback_seconds' must be an integer, not a float");
        expect_producer_error("prefix = 1;\n", ":1 - 'prefix' must be a string");
        expect_producer_error(PRODUCER_MIN "kafka = \"k:9092\";\n",
                              ":4 - 'kafka' must be a group");
        expect_producer_error(PRODUCER_MIN "kafka = { brokers = [\"a\", \"b\"]; };\n",
                              ":4 - 'kafka.brokers' must be a string");
        expect_producer_error(PRODUCER_MIN "kafka = { brokers = \"\"; };\n",
                              ":4 - 'kafka.brokers' must not be empty");
        expect_producer_error(PRODUCER_MIN "kafka = { topic_prefix = \"civi sync\"; };\n",
                              ":4 - 'kafka.topic_prefix' \"civi sync\" may contain only");
        expect_consumer_error(CONSUMER_MIN "batch_documents = true;\n",
                              ":2 - 'batch_documents' must be an integer, not a boolean");
        expect_consumer_error(CONSUMER_MIN "multi_row_insert = 1;\n",
                              ":2 - 'multi_row_insert' must be true or false, not an integer");
}
END_TEST

START_TEST(test_prefix_validation)
{
        expect_producer_error("state_dir = \"/s\";\nprefix = \"P-1\";\n",
                              ":2 - 'prefix' \"P-1\" is invalid: must match");
        expect_producer_error("prefix = \"\";\n", ":1 - 'prefix' must not be empty");
        expect_producer_error("prefix = \"abcdefghijklmnopqrstuvwxyz0123456\";\n",
                              ":1 - 'prefix' \"abcdefghijklmnopqrstuvwxyz0123456\" is invalid");
        expect_consumer_error(CONSUMER_MIN "prefixes = [\"P1\",\n  \"P.2\"];\n",
                              ":3 - 'prefixes' entry 2 \"P.2\" is invalid");
        expect_consumer_error(CONSUMER_MIN "prefixes = \"P1\";\n",
                              ":2 - 'prefixes' must be an array of strings");
        expect_consumer_error(CONSUMER_MIN "prefixes = (\"P1\", 2);\n",
                              ":2 - 'prefixes' entry 2 must be a string");
}
END_TEST

START_TEST(test_properties_spelling)
{
        expect_producer_error(PRODUCER_MIN "kafka = {\n properties = {\n"
                              "  acks = \"all\"; }; };\n",
                              ":5 - 'kafka.properties' must be a list of (name, value) pairs");
        expect_producer_error(PRODUCER_MIN "kafka = { properties = (\n"
                              "  (\"acks\", \"all\"),\n  (\"linger.ms\") ); };\n",
                              ":6 - 'kafka.properties' entry 2 must be a pair of two strings");
        expect_producer_error(PRODUCER_MIN "kafka = { properties = (\n"
                              "  (\"acks\", \"all\", \"x\") ); };\n",
                              ":5 - 'kafka.properties' entry 1 must be a pair");
        expect_producer_error(PRODUCER_MIN "kafka = { properties = (\n"
                              "  (\"linger.ms\", 5) ); };\n",
                              ":5 - 'kafka.properties' entry 1 must be a pair");
        expect_producer_error(PRODUCER_MIN "kafka = { properties = (\n"
                              "  (\"\", \"5\") ); };\n",
                              ":5 - 'kafka.properties' entry 1 has an invalid property name");
}
END_TEST

START_TEST(test_syntax_and_io_errors)
{
        char err[512] = "";
        cs_producer_conf_t c;
        char missing[160];

        expect_producer_error("prefix = \"P1\";\nstate_dir = \"/s\";\nchild = { user = ; };\n",
                              ":3 - syntax error");
        expect_producer_error("prefix = \"P1\";\nprefix = \"P2\";\n",
                              ":2 - duplicate setting name");
        snprintf(missing, sizeof(missing), "%s/nope.cfg", tmpdir);
        ck_assert_int_eq(cs_conf_load_producer(missing, &c, err, sizeof(err)), -1);
        char want[300];
        snprintf(want, sizeof(want), "%s - cannot open: No such file or directory", missing);
        ck_assert_str_eq(err, want);
        cs_conf_producer_free(&c);
}
END_TEST

START_TEST(test_password_file)
{
        cs_producer_conf_t c;
        char err[512] = "", text[512];
        const char *pw = write_file("pw", "s3cr3t pass\r\n\n");
        chmod(pw, 0600);

        snprintf(text, sizeof(text), "prefix = \"P1\";\nstate_dir = \"/s\";\n"
                 "child = { user = \"u\"; database = \"d\"; password_file = \"%s\"; };\n",
                 pw);
        const char *p = write_file("p.cfg", text);
        ck_assert_msg(cs_conf_load_producer(p, &c, err, sizeof(err)) == 0, "%s", err);
        ck_assert_str_eq(c.child.password, "s3cr3t pass");
        cs_conf_producer_free(&c);

        snprintf(text, sizeof(text), "prefix = \"P1\";\nstate_dir = \"/s\";\n"
                 "child = { user = \"u\"; database = \"d\"; password = \"x\";\n"
                 "  password_file = \"%s\"; };\n", pw);
        expect_producer_error(text, ":4 - set either 'child.password' or "
                              "'child.password_file', not both");
        snprintf(text, sizeof(text), "prefix = \"P1\";\nstate_dir = \"/s\";\n"
                 "child = { user = \"u\"; database = \"d\";\n"
                 "  password_file = \"%s/absent\"; };\n", tmpdir);
        char suffix[300];
        snprintf(suffix, sizeof(suffix), ":4 - 'child.password_file': cannot read "
                 "'%s/absent': No such file or directory", tmpdir);
        expect_producer_error(text, suffix);
}
END_TEST

START_TEST(test_secret_not_in_errors)
{
        cs_producer_conf_t c;
        char err[512] = "";
        const char *p = write_file("p.cfg", PRODUCER_MIN
                                   "kafka = { properties = ((\"sasl.password\", \"hunter2\"));\n"
                                   "  brokrs = \"k\"; };\n");

        ck_assert_int_eq(cs_conf_load_producer(p, &c, err, sizeof(err)), -1);
        ck_assert_ptr_nonnull(strstr(err, "unknown key 'kafka.brokrs'"));
        ck_assert_ptr_null(strstr(err, "hunter2"));
        cs_conf_producer_free(&c);
}
END_TEST

START_TEST(test_x_overrides_and_brokers)
{
        cs_producer_conf_t c;
        char err[512] = "";
        const char *p = write_file("p.cfg", PRODUCER_MIN
                                   "kafka = { brokers = \"a:1\"; properties = (\n"
                                   " (\"acks\", \"-1\"), (\"linger.ms\", \"5\") ); };\n");

        ck_assert_msg(cs_conf_load_producer(p, &c, err, sizeof(err)) == 0, "%s", err);
        ck_assert_int_eq(cs_conf_kafka_prop_set(&c.kafka, "acks=all", err, sizeof(err)), 0);
        ck_assert_int_eq(cs_conf_kafka_prop_set(&c.kafka, "client.id=a=b", err, sizeof(err)), 0);
        ck_assert_int_eq(cs_conf_kafka_prop_set(&c.kafka, "client.rack=", err, sizeof(err)), 0);
        ck_assert_uint_eq(c.kafka.prop_cnt, 4);
        ck_assert_str_eq(c.kafka.props[0].name, "acks");
        ck_assert_str_eq(c.kafka.props[0].value, "all"); /* overridden in place */
        ck_assert_str_eq(c.kafka.props[1].value, "5");
        ck_assert_str_eq(c.kafka.props[2].name, "client.id");
        ck_assert_str_eq(c.kafka.props[2].value, "a=b");
        ck_assert_str_eq(c.kafka.props[3].value, "");
        ck_assert_int_eq(cs_conf_kafka_prop_set(&c.kafka, "noequals", err, sizeof(err)), -1);
        ck_assert_ptr_nonnull(strstr(err, "expected name=value"));
        ck_assert_int_eq(cs_conf_kafka_prop_set(&c.kafka, "=v", err, sizeof(err)), -1);
        ck_assert_ptr_nonnull(strstr(err, "empty property name"));
        ck_assert_uint_eq(c.kafka.prop_cnt, 4);

        ck_assert_int_eq(cs_conf_set_brokers(&c.kafka, "b:2,c:3", err, sizeof(err)), 0);
        ck_assert_str_eq(c.kafka.brokers, "b:2,c:3");
        ck_assert_int_eq(cs_conf_set_brokers(&c.kafka, "", err, sizeof(err)), -1);
        ck_assert_str_eq(c.kafka.brokers, "b:2,c:3");
        cs_conf_producer_free(&c);

        /* -X on a configuration without any properties list */
        cs_kafka_params_t k = {0};
        ck_assert_int_eq(cs_conf_kafka_prop_set(&k, "acks=all", err, sizeof(err)), 0);
        ck_assert_int_eq(cs_conf_set_brokers(&k, "x:1", err, sizeof(err)), 0);
        ck_assert_uint_eq(k.prop_cnt, 1);
        free(k.props[0].name);
        free(k.props[0].value);
        free(k.props);
        free(k.brokers);
}
END_TEST

static int saved_fd = -1;
static char cap_path[64];

/* Redirects fd 2 into a temp file until capture_end(). */
static void capture_begin(void)
{
        strcpy(cap_path, "/tmp/cs_test_conf_log_XXXXXX");
        int fd = mkstemp(cap_path);
        ck_assert_int_ge(fd, 0);
        fflush(stderr);
        saved_fd = dup(2);
        dup2(fd, 2);
        close(fd);
}

/* Restores stderr and returns what was written (static buffer). */
static const char *capture_end(void)
{
        static char buf[8192];
        fflush(stderr);
        dup2(saved_fd, 2);
        close(saved_fd);
        FILE *fp = fopen(cap_path, "r");
        ck_assert_ptr_nonnull(fp);
        size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
        buf[n] = '\0';
        fclose(fp);
        unlink(cap_path);
        return buf;
}

START_TEST(test_kafka_property_typo)
{
        cs_consumer_conf_t c;
        char err[512] = "";

        /* #13.6: a mistyped librdkafka property is a configuration error
         * naming file:line, found when the file is loaded. */
        expect_producer_error(PRODUCER_MIN "kafka = { properties = (\n"
                              "  (\"acks\", \"all\"),\n"
                              "  (\"linger.mss\", \"5\") ); };\n",
                              ":6 - kafka property 'linger.mss': No such "
                              "configuration property: \"linger.mss\"");
        expect_consumer_error(CONSUMER_MIN "kafka = { properties = (\n"
                              "  (\"session.timeout.ms\", \"soon\") ); };\n",
                              ":3 - kafka property 'session.timeout.ms': ");
        const char *p = write_file("c.cfg", CONSUMER_MIN);
        ck_assert_msg(cs_conf_load_consumer(p, &c, err, sizeof(err)) == 0, "%s", err);
        ck_assert_int_eq(cs_conf_kafka_prop_set(&c.kafka, "fetch.wait.max.mss=5",
                                                err, sizeof(err)), -1);
        ck_assert_msg(strstr(err, "-X fetch.wait.max.mss=...: No such configuration "
                             "property") != NULL, "%s", err);
        ck_assert_uint_eq(c.kafka.prop_cnt, 0);
        cs_conf_consumer_free(&c);
}
END_TEST

START_TEST(test_properties_file)
{
        cs_producer_conf_t c;
        char err[1024] = "", text[1024], want[1024];
        const char *props = write_file("kafka.properties",
                "# SASL for this child\n\n"
                "  sasl.username = site1 \n"
                "sasl.password=pa ss=word\n"
                "client.id=from-file\n");
        chmod(props, 0600);

        snprintf(text, sizeof(text), PRODUCER_MIN
                 "kafka = { properties = ((\"client.id\", \"inline\"), (\"acks\", \"all\"));\n"
                 "  properties_file = \"%s\"; };\n", props);
        const char *p = write_file("p.cfg", text);
        capture_begin();
        int rc = cs_conf_load_producer(p, &c, err, sizeof(err));
        const char *log = capture_end();
        ck_assert_msg(rc == 0, "%s", err);
        ck_assert_str_eq(log, ""); /* 0600: no warning */
        ck_assert_uint_eq(c.kafka.prop_cnt, 4);
        ck_assert_str_eq(c.kafka.props[0].name, "client.id");
        ck_assert_str_eq(c.kafka.props[0].value, "from-file"); /* file wins */
        ck_assert_str_eq(c.kafka.props[2].name, "sasl.username");
        ck_assert_str_eq(c.kafka.props[2].value, "site1");
        ck_assert_str_eq(c.kafka.props[3].name, "sasl.password");
        ck_assert_str_eq(c.kafka.props[3].value, "pa ss=word");
        cs_conf_producer_free(&c);

        /* a typo in the properties file names that file and line */
        const char *bad = write_file("bad.properties",
                                     "sasl.username=u\n#\nsasl.pasword=x\n");
        chmod(bad, 0600);
        snprintf(text, sizeof(text), PRODUCER_MIN
                 "kafka = {\n  properties_file = \"%s\"; };\n", bad);
        const char *p2 = write_file("p2.cfg", text);
        ck_assert_int_eq(cs_conf_load_producer(p2, &c, err, sizeof(err)), -1);
        snprintf(want, sizeof(want), "%s:3 - kafka property 'sasl.pasword': No such "
                 "configuration property: \"sasl.pasword\" (kafka.properties_file, %s:5)",
                 bad, p2);
        ck_assert_str_eq(err, want);
        cs_conf_producer_free(&c);

        const char *junk = write_file("junk.properties", "just words\n");
        chmod(junk, 0600);
        snprintf(text, sizeof(text), PRODUCER_MIN
                 "kafka = { properties_file = \"%s\"; };\n", junk);
        const char *p3 = write_file("p3.cfg", text);
        ck_assert_int_eq(cs_conf_load_producer(p3, &c, err, sizeof(err)), -1);
        snprintf(want, sizeof(want), "%s:1 - expected name=value", junk);
        ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
        cs_conf_producer_free(&c);

        snprintf(text, sizeof(text), PRODUCER_MIN
                 "kafka = { properties_file = \"%s/absent\"; };\n", tmpdir);
        snprintf(want, sizeof(want), ":4 - 'kafka.properties_file': cannot read "
                 "'%s/absent': No such file or directory", tmpdir);
        expect_producer_error(text, want);
}
END_TEST

/* The producer's delivery guarantee (acks=all, idempotence) cannot be
 * weakened by a property; other defaults can be tuned. */
START_TEST(test_producer_guarantees_not_weakened)
{
        cs_producer_conf_t c;
        char err[1024] = "";

        expect_producer_error(PRODUCER_MIN "kafka = {\n  properties = ( (\"acks\", \"1\") );\n};\n",
                              ":4 - kafka property acks=1 would weaken");
        expect_producer_error(PRODUCER_MIN "kafka = {\n  properties = ( (\"enable.idempotence\", \"false\") );\n};\n",
                              ":4 - kafka property enable.idempotence=false would weaken");
        const char *p = write_file("ok.cfg", PRODUCER_MIN "kafka = {\n  properties = ( "
                                   "(\"acks\", \"all\"), (\"linger.ms\", \"5\") );\n};\n");
        ck_assert_msg(cs_conf_load_producer(p, &c, err, sizeof(err)) == 0, "%s", err);
        ck_assert_int_eq(cs_kafka_producer_guarantees(&c.kafka, err, sizeof(err)), 0);
        /* -X is applied after the file: the same check catches it. */
        ck_assert_int_eq(cs_conf_kafka_prop_set(&c.kafka, "request.required.acks=0",
                                                err, sizeof(err)), 0);
        ck_assert_int_eq(cs_kafka_producer_guarantees(&c.kafka, err, sizeof(err)), -1);
        ck_assert_msg(strstr(err, "request.required.acks=0 would weaken") != NULL, "%s", err);
        cs_conf_producer_free(&c);
}
END_TEST

START_TEST(test_secret_file_modes)
{
        cs_producer_conf_t c;
        char err[512] = "", text[512];
        const char *pw = write_file("pw", "secret\n");
        const char *log;

        snprintf(text, sizeof(text), "prefix = \"P1\";\nstate_dir = \"/s\";\n"
                 "child = { user = \"u\"; database = \"d\";\n"
                 "  password_file = \"%s\"; };\n", pw);
        const char *p = write_file("p.cfg", text);
        static const mode_t quiet[] = {0600, 0640, 0400};
        for (size_t i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++) {
                chmod(pw, quiet[i]);
                capture_begin();
                int rc = cs_conf_load_producer(p, &c, err, sizeof(err));
                log = capture_end();
                ck_assert_msg(rc == 0, "%s", err);
                ck_assert_msg(log[0] == '\0', "mode %o: %s", (unsigned)quiet[i], log);
                cs_conf_producer_free(&c);
        }
        chmod(pw, 0644);
        capture_begin();
        ck_assert_int_eq(cs_conf_load_producer(p, &c, err, sizeof(err)), 0);
        log = capture_end();
        char want[512];
        snprintf(want, sizeof(want), " WARN: %s:4 - 'password_file' file '%s' has "
                 "mode 0644: other users can read it; chmod 0600", p, pw);
        ck_assert_msg(strstr(log, want) != NULL, "got: %s", log);
        ck_assert_ptr_null(strstr(log, "secret"));
        cs_conf_producer_free(&c);
}
END_TEST

START_TEST(test_socket_and_host)
{
        cs_producer_conf_t c;
        char err[512] = "";

        /* #13.6: a leftover socket line must not silently win over host */
        expect_producer_error("prefix = \"P1\";\nstate_dir = \"/s\";\n"
                              "child = { user = \"u\"; database = \"d\";\n"
                              "  host = \"127.0.0.1\"; port = 3307;\n"
                              "  socket = \"/run/mysqld/mysqld.sock\"; };\n",
                              ":5 - 'child.socket' and 'child.host' = \"127.0.0.1\" "
                              "both set: the socket is used only for host "
                              "\"localhost\"");
        expect_consumer_error("master = { user = \"u\"; database = \"d\";\n"
                              "  socket = \"/s.sock\"; host = \"db.example.org\"; };\n",
                              ":2 - 'master.socket' and 'master.host' = "
                              "\"db.example.org\" both set");
        const char *p = write_file("p.cfg", "prefix = \"P1\";\nstate_dir = \"/s\";\n"
                                   "child = { user = \"u\"; database = \"d\";\n"
                                   "  host = \"localhost\"; socket = \"/s.sock\"; };\n");
        ck_assert_msg(cs_conf_load_producer(p, &c, err, sizeof(err)) == 0, "%s", err);
        ck_assert_str_eq(c.child.host, "localhost");
        ck_assert_str_eq(c.child.socket, "/s.sock");
        cs_conf_producer_free(&c);
}
END_TEST

START_TEST(test_ssl_options)
{
        cs_consumer_conf_t c;
        char err[1024] = "", text[1024], suffix[512];
        const char *ca = write_file("ca.pem", "x\n");
        const char *crt = write_file("client.pem", "x\n");
        const char *key = write_file("client-key.pem", "x\n");
        chmod(key, 0600);

        const char *p = write_file("c.cfg", CONSUMER_MIN);
        ck_assert_msg(cs_conf_load_consumer(p, &c, err, sizeof(err)) == 0, "%s", err);
        ck_assert_int_eq(c.master.ssl_mode, CS_SSL_DISABLED);
        cs_conf_consumer_free(&c);

        /* ssl_ca alone: verify the certificate and the host */
        snprintf(text, sizeof(text), "master = { user = \"m\"; database = \"d\";\n"
                 " ssl_ca = \"%s\"; ssl_cert = \"%s\"; ssl_key = \"%s\"; };\n",
                 ca, crt, key);
        p = write_file("c2.cfg", text);
        ck_assert_msg(cs_conf_load_consumer(p, &c, err, sizeof(err)) == 0, "%s", err);
        ck_assert_int_eq(c.master.ssl_mode, CS_SSL_VERIFY_IDENTITY);
        ck_assert_str_eq(c.master.ssl_ca, ca);
        ck_assert_str_eq(c.master.ssl_cert, crt);
        ck_assert_str_eq(c.master.ssl_key, key);
        cs_conf_consumer_free(&c);

        snprintf(text, sizeof(text), "master = { user = \"m\"; database = \"d\";\n"
                 " ssl_ca = \"%s\";\n ssl_mode = \"verify_ca\"; };\n", ca);
        p = write_file("c3.cfg", text);
        ck_assert_msg(cs_conf_load_consumer(p, &c, err, sizeof(err)) == 0, "%s", err);
        ck_assert_int_eq(c.master.ssl_mode, CS_SSL_VERIFY_CA);
        cs_conf_consumer_free(&c);

        p = write_file("c4.cfg", "master = { user = \"m\"; database = \"d\";\n"
                       " ssl_mode = \"required\"; };\n");
        ck_assert_msg(cs_conf_load_consumer(p, &c, err, sizeof(err)) == 0, "%s", err);
        ck_assert_int_eq(c.master.ssl_mode, CS_SSL_REQUIRED);
        cs_conf_consumer_free(&c);

        expect_consumer_error("master = { user = \"m\"; database = \"d\";\n"
                              " ssl_mode = \"verify-full\"; };\n",
                              ":2 - 'master.ssl_mode' \"verify-full\" is not one of "
                              "disabled, required, verify_ca, verify_identity");
        expect_consumer_error("master = { user = \"m\"; database = \"d\";\n"
                              " ssl_mode = \"verify_identity\"; };\n",
                              ":2 - 'master.ssl_mode' \"verify_identity\" needs "
                              "'master.ssl_ca'");
        snprintf(text, sizeof(text), "master = { user = \"m\"; database = \"d\";\n"
                 " ssl_ca = \"%s\";\n ssl_mode = \"required\"; };\n", ca);
        expect_consumer_error(text, ":3 - 'master.ssl_mode' \"required\" does not "
                              "check the server's certificate");
        snprintf(text, sizeof(text), "master = { user = \"m\"; database = \"d\";\n"
                 " ssl_ca = \"%s\";\n ssl_mode = \"disabled\"; };\n", ca);
        expect_consumer_error(text, ":3 - 'master.ssl_mode' is \"disabled\" but");
        snprintf(text, sizeof(text), "master = { user = \"m\"; database = \"d\";\n"
                 " ssl_cert = \"%s\"; };\n", crt);
        expect_consumer_error(text, ":2 - 'master.ssl_cert' and 'master.ssl_key' go "
                              "together");
        snprintf(text, sizeof(text), "master = { user = \"m\"; database = \"d\";\n"
                 " ssl_ca = \"%s/none.pem\"; };\n", tmpdir);
        snprintf(suffix, sizeof(suffix), ":2 - 'master.ssl_ca': cannot read "
                 "'%s/none.pem': No such file or directory", tmpdir);
        expect_consumer_error(text, suffix);
}
END_TEST

START_TEST(test_dead_letter_topic_outside_subscription)
{
        cs_consumer_conf_t c;
        char err[512] = "";

        /* #12.5.7: the consumer must not consume its own dead letters */
        expect_consumer_error(CONSUMER_MIN "kafka = {\n"
                              "  dead_letter_topic = \"civisync.deadletters\"; };\n",
                              ":3 - 'kafka.dead_letter_topic' \"civisync.deadletters\" "
                              "is topic_prefix \"civisync.\" + a valid prefix");
        expect_consumer_error(CONSUMER_MIN "prefixes = [\"P1\"];\nkafka = {\n"
                              "  topic_prefix = \"civisync.dead-\"; };\n",
                              ":4 - 'kafka.dead_letter_topic' \"civisync.dead-letter\" "
                              "is topic_prefix \"civisync.dead-\"");
        const char *p = write_file("c.cfg", CONSUMER_MIN "kafka = {\n"
                                   "  topic_prefix = \"cs.\"; dead_letter_topic = \"cs-dlq\"; };\n");
        ck_assert_msg(cs_conf_load_consumer(p, &c, err, sizeof(err)) == 0, "%s", err);
        cs_conf_consumer_free(&c);
}
END_TEST

/* #12.5.8: the shipped systemd unit disables core dumps (a core holds the
 * passwords and documents in flight) and keeps its hardening. */
START_TEST(test_systemd_unit_hardening)
{
        static char text[16384];
        static const char *const want[] = {
                "\nLimitCORE=0\n", "\nUMask=0077\n", "\nNoNewPrivileges=yes\n",
                "\nProtectSystem=strict\n", "\nPrivateTmp=yes\n",
                "\nPrivateDevices=yes\n", "\nCapabilityBoundingSet=\n",
                "\nRestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n",
                "\nRestartPreventExitStatus=2\n", NULL};
        FILE *fp = fopen("conf/civisync-consume.service", "r");

        ck_assert_ptr_nonnull(fp);
        size_t n = fread(text, 1, sizeof(text) - 1, fp);
        fclose(fp);
        text[n] = '\0';
        for (size_t i = 0; want[i]; i++)
                ck_assert_msg(strstr(text, want[i]) != NULL, "unit lacks %s", want[i] + 1);
}
END_TEST

Suite *conf_suite(void)
{
        Suite *s = suite_create("conf");
        TCase *tc = tcase_create("core");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_producer_defaults);
        tcase_add_test(tc, test_producer_all_keys);
        tcase_add_test(tc, test_consumer_defaults_and_prefixes);
        tcase_add_test(tc, test_files_settings);
        tcase_add_test(tc, test_example_files_load);
        tcase_add_test(tc, test_data_files);
        tcase_add_test(tc, test_unknown_keys);
        tcase_add_test(tc, test_missing_required);
        tcase_add_test(tc, test_wrong_types_and_ranges);
        tcase_add_test(tc, test_prefix_validation);
        tcase_add_test(tc, test_properties_spelling);
        tcase_add_test(tc, test_syntax_and_io_errors);
        tcase_add_test(tc, test_password_file);
        tcase_add_test(tc, test_secret_not_in_errors);
        tcase_add_test(tc, test_x_overrides_and_brokers);
        tcase_add_test(tc, test_kafka_property_typo);
        tcase_add_test(tc, test_properties_file);
        tcase_add_test(tc, test_producer_guarantees_not_weakened);
        tcase_add_test(tc, test_secret_file_modes);
        tcase_add_test(tc, test_socket_and_host);
        tcase_add_test(tc, test_ssl_options);
        tcase_add_test(tc, test_dead_letter_topic_outside_subscription);
        tcase_add_test(tc, test_systemd_unit_hardening);
        suite_add_tcase(s, tc);
        return s;
}
