/* test_operator.c — what an operator meets: a wrong database, broker outages, recovery procedures, retired children, lag. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

Suite *operator_suite(void)
{
        Suite *s = suite_create("operator");
        TCase *tc = tcase_create("operator");

        tcase_set_timeout(tc, 300);
        tcase_add_test(tc, test_produce_refuses_empty_database);
        suite_add_tcase(s, tc);
        return s;
}
