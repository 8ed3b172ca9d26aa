/* test_topics.c — civisync-topics against the embedded broker: list, describe with lag, the CreateTopics line. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* list and describe show partitions, end offsets and the group's lag,
 * before and after the consumer has caught up. */
START_TEST(test_list_and_describe)
{
        char master[64], child[64], prefix[40], topic[80], text[256];
        char *pconf, *cconf;
        it_run_t r;

        it_unique(prefix, sizeof(prefix), "tp");
        snprintf(topic, sizeof(topic), "civisync.%s", prefix);
        it_master_and_child(master, child, sizeof(master), "--child 12 --contacts 30",
                            topic, 2);
        pconf = strdup(it_producer_conf(prefix, child, NULL));
        snprintf(text, sizeof(text), "prefixes = [\"%s\"];", prefix);
        cconf = strdup(it_consumer_conf(master, text));
        r = it_run("civisync-produce", "-c", pconf, "--complete", NULL);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        it_run_free(&r);

        /* Nothing consumed yet: the whole topic is the lag. */
        r = it_run("civisync-topics", "-c", cconf, "describe", prefix, NULL);
        ck_assert_msg(r.exit_code == 0, "exit %d: %s %s", r.exit_code, r.out, r.err);
        snprintf(text, sizeof(text), "%s: 2 partition(s), replication factor 1", topic);
        ck_assert_msg(strstr(r.out, text) != NULL, "%s", r.out);
        ck_assert_ptr_nonnull(strstr(r.out, "  partition 0: leader "));
        ck_assert_ptr_nonnull(strstr(r.out, "  partition 1: leader "));
        ck_assert_ptr_nonnull(strstr(r.out, "no committed offset"));
        ck_assert_ptr_nonnull(strstr(r.out, "settings: not available"));
        ck_assert_ptr_null(strstr(r.out, "lag 0\n"));
        it_run_free(&r);

        r = it_run("civisync-consume", "-c", cconf, "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        it_run_free(&r);

        r = it_run("civisync-topics", "-c", cconf, "describe", prefix, NULL);
        ck_assert_int_eq(r.exit_code, 0);
        snprintf(text, sizeof(text), "total: ");
        ck_assert_msg(strstr(r.out, "committed") != NULL, "%s", r.out);
        snprintf(text, sizeof(text), "group g_%s lag 0\n", master);
        ck_assert_msg(strstr(r.out, text) != NULL, "%s", r.out);
        ck_assert_ptr_null(strstr(r.out, "offsets 0..0,"));
        it_run_free(&r);

        /* list: every civisync topic, this one with lag 0 for the group;
         * a producer configuration works too (its default group). */
        r = it_run("civisync-topics", "-c", cconf, "list", NULL);
        ck_assert_int_eq(r.exit_code, 0);
        snprintf(text, sizeof(text), "%s: 2 partition(s), replication factor 1, ", topic);
        ck_assert_msg(strstr(r.out, text) != NULL, "%s", r.out);
        snprintf(text, sizeof(text), "group g_%s lag 0\n", master);
        ck_assert_msg(strstr(r.out, text) != NULL, "%s", r.out);
        ck_assert_ptr_nonnull(strstr(r.out, "civisync topic(s) on "));
        it_run_free(&r);
        r = it_run("civisync-topics", "-c", pconf, "list", NULL);
        ck_assert_int_eq(r.exit_code, 0);
        ck_assert_msg(strstr(r.out, "group civisync-master has no committed offset") != NULL,
                      "%s", r.out);
        it_run_free(&r);

        /* describe of a topic that does not exist: exit 1, and the mock
         * must not have auto-created it (list does not show it). */
        r = it_run("civisync-topics", "-c", cconf, "describe", "nosuch_tp", NULL);
        ck_assert_int_eq(r.exit_code, 1);
        ck_assert_ptr_nonnull(strstr(r.out, "civisync.nosuch_tp: does not exist"));
        it_run_free(&r);
        free(pconf);
        free(cconf);
}
END_TEST

/* create against the embedded broker: one line pointing to
 * civisync-broker --topic, exit 1; existing topics are reported. */
START_TEST(test_create_on_embedded_broker)
{
        char master[64], prefix[40], existing[40], topic[80], text[256];
        char *cconf;
        it_run_t r;
        int lines = 0;

        it_unique(master, sizeof(master), "master");
        it_unique(prefix, sizeof(prefix), "tc");
        it_unique(existing, sizeof(existing), "te");
        snprintf(topic, sizeof(topic), "civisync.%s", existing);
        it_topic(topic, 1);
        cconf = strdup(it_consumer_conf(master, NULL));

        r = it_run("civisync-topics", "-c", cconf, "create", prefix, existing,
                   "--no-dead-letter", NULL);
        ck_assert_msg(r.exit_code == 1, "exit %d: %s %s", r.exit_code, r.out, r.err);
        for (const char *p = r.out; (p = strstr(p, "embedded broker")); p++)
                lines++;
        ck_assert_int_eq(lines, 1);
        snprintf(text, sizeof(text), "without a restart (it keeps messages in "
                 "memory only: a restart loses them): printf 'topic civisync.%s:1"
                 "\\n' > CONTROL_FILE (civisync-broker --help)\n", prefix);
        ck_assert_msg(strstr(r.out, text) != NULL, "%s", r.out);
        snprintf(text, sizeof(text), "civisync.%s: exists (1 partition(s))", existing);
        ck_assert_msg(strstr(r.out, text) != NULL, "%s", r.out);
        it_run_free(&r);

        /* --partitions reaches the suggested command line. */
        r = it_run("civisync-topics", "-c", cconf, "create", prefix,
                   "--no-dead-letter", "--partitions", "3", NULL);
        ck_assert_int_eq(r.exit_code, 1);
        snprintf(text, sizeof(text), "'topic civisync.%s:3\\n'", prefix);
        ck_assert_msg(strstr(r.out, text) != NULL, "%s", r.out);
        it_run_free(&r);

        /* Only existing topics: nothing to create, exit 0. */
        r = it_run("civisync-topics", "-c", cconf, "create", existing,
                   "--no-dead-letter", NULL);
        ck_assert_msg(r.exit_code == 0, "exit %d: %s %s", r.exit_code, r.out, r.err);
        it_run_free(&r);
        free(cconf);
}
END_TEST

START_TEST(test_topics_usage)
{
        char master[64];
        char *cconf;
        it_run_t r;

        it_unique(master, sizeof(master), "master");
        cconf = strdup(it_consumer_conf(master, NULL));
        r = it_run("civisync-topics", "-c", cconf, NULL);
        ck_assert_int_eq(r.exit_code, 2);
        ck_assert_ptr_nonnull(strstr(r.err, "a command is required"));
        it_run_free(&r);
        r = it_run("civisync-topics", "-c", cconf, "create", "bad.prefix", NULL);
        ck_assert_int_eq(r.exit_code, 2);
        ck_assert_ptr_nonnull(strstr(r.err, "not a valid prefix"));
        it_run_free(&r);
        r = it_run("civisync-topics", "-c", cconf, "create", NULL);
        ck_assert_int_eq(r.exit_code, 2);
        ck_assert_ptr_nonnull(strstr(r.err, "create needs PREFIX"));
        it_run_free(&r);
        r = it_run("civisync-topics", "-c", cconf, "create", "P1",
                   "--definitions", "/nonexistent.cfg", NULL);
        ck_assert_int_eq(r.exit_code, 2);
        ck_assert_ptr_nonnull(strstr(r.err, "/nonexistent.cfg - cannot open"));
        it_run_free(&r);
        free(cconf);
}
END_TEST

Suite *topics_it_suite(void)
{
        Suite *s = suite_create("topics");
        TCase *tc = tcase_create("topics");

        tcase_set_timeout(tc, 300);
        tcase_add_test(tc, test_list_and_describe);
        tcase_add_test(tc, test_create_on_embedded_broker);
        tcase_add_test(tc, test_topics_usage);
        suite_add_tcase(s, tc);
        return s;
}
