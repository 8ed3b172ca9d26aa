/* test_metadata.c — the metadata gate: identical seeds report nothing; an extra option value and a renamed location type are named in --status and civisync-verify; the demo site's differences by design. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static void produce_ok(const char *conf, int complete)
{
        it_run_t r = complete ?
                it_run("civisync-produce", "-c", conf, "--complete", NULL) :
                it_run("civisync-produce", "-c", conf, NULL);
        ck_assert_msg(r.exit_code == 0, "produce exit %d: %s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "metadata gate: ") != NULL, "%s", r.err);
        it_run_free(&r);
}

static void consume_ok(const char *conf)
{
        it_run_t r = it_run("civisync-consume", "-c", conf, "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "consume exit %d: %s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "rejected to") == NULL, "rejections: %s", r.err);
        it_run_free(&r);
}

/* A line of out containing both needles. */
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

typedef struct pair_s {
        char master[64], child[64], prefix[40], topic[80];
        char *pconf, *cconf;
        MYSQL *m, *c;
} pair_t;

static void pair_new(pair_t *p, const char *base, const char *master_args,
                     const char *child_args)
{
        char extra[128];

        it_unique(p->prefix, sizeof(p->prefix), base);
        snprintf(p->topic, sizeof(p->topic), "civisync.%s", p->prefix);
        it_unique(p->master, sizeof(p->master), "mgm");
        it_unique(p->child, sizeof(p->child), "mgc");
        it_make_db(p->master, master_args);
        it_make_db(p->child, child_args);
        it_topic(p->topic, 2);
        p->pconf = strdup(it_producer_conf(p->prefix, p->child, NULL));
        snprintf(extra, sizeof(extra), "prefixes = [\"%s\"];", p->prefix);
        p->cconf = strdup(it_consumer_conf(p->master, extra));
        p->m = it_connect(p->master);
        p->c = it_connect(p->child);
}

static void pair_free(pair_t *p)
{
        mysql_close(p->m);
        mysql_close(p->c);
        free(p->pconf);
        free(p->cconf);
}

static it_run_t status(const pair_t *p)
{
        return it_run("civisync-consume", "-c", p->cconf, "--status", NULL);
}

static it_run_t verify(const pair_t *p)
{
        return it_run("civisync-verify", "--child-config", p->pconf,
                      "--master-config", p->cconf, "--limit", "0", NULL);
}

/* Same seed on both sides: every metadata table is fingerprinted, compared
 * and found equal; --status and verify say so. */
START_TEST(test_gate_identical)
{
        pair_t p;
        char want[160];
        it_run_t r;

        pair_new(&p, "mgi", "--schema 5", "--schema 5 --child 1 --contacts 20");
        produce_ok(p.pconf, 1);
        consume_ok(p.cconf);
        it_assert_synced(p.c, p.m, p.prefix);
        /* every metadata table of the phase-1 schema was checked */
        ck_assert_int_eq(it_int(p.m, "SELECT COUNT(DISTINCT table_name) FROM "
                                "civisync_metadata_check WHERE prefix = '%s'",
                                p.prefix), 11);
        ck_assert_int_eq(it_int(p.m, "SELECT COUNT(*) FROM civisync_metadata_diff "
                                "WHERE prefix = '%s'", p.prefix), 0);
        ck_assert_int_eq(it_int(p.m, "SELECT child_rows FROM civisync_metadata_check "
                                "WHERE prefix = '%s' AND table_name = "
                                "'civicrm_option_value'", p.prefix),
                         it_int(p.c, "SELECT COUNT(*) FROM civicrm_option_value"));
        r = status(&p);
        ck_assert_int_eq(r.exit_code, 0);
        assert_line(r.out, "metadata gate: 11 table(s)", "checked");
        assert_line(r.out, "metadata differences: 0", NULL);
        it_run_free(&r);
        r = verify(&p);
        ck_assert_msg(r.exit_code == 0, "verify exit %d\n%s\n%s", r.exit_code, r.out,
                      r.err);
        snprintf(want, sizeof(want), "verify %s: metadata: 0 differences in 11 tables",
                 p.prefix);
        assert_line(r.out, want, NULL);
        it_run_free(&r);
        pair_free(&p);
}
END_TEST

/* A child with a new activity type and a renamed location type: both are
 * named (table, row, columns) in --status and verify (exit 1) while the
 * data keeps flowing; undoing the rename clears it on the next run. */
START_TEST(test_gate_drift)
{
        pair_t p;
        char want[200];
        long long ov;
        it_run_t r;

        pair_new(&p, "mgd", "--schema 5", "--schema 5 --child 2 --contacts 20");
        it_exec(p.c, "INSERT INTO civicrm_option_value (option_group_id, label, value, "
                "name, weight, is_active) SELECT id, 'Site visit', '9001', "
                "'Site visit', 9001, 1 FROM civicrm_option_group WHERE name = "
                "'activity_type'");
        ov = it_int(p.c, "SELECT MAX(id) FROM civicrm_option_value");
        it_exec(p.c, "UPDATE civicrm_location_type SET name = 'Domicile' WHERE id = 1");
        it_exec(p.c, "INSERT INTO civicrm_activity (activity_type_id, subject, "
                "activity_date_time, status_id) VALUES (9001, 'gate', NOW(), 1)");
        produce_ok(p.pconf, 1);
        consume_ok(p.cconf);
        /* data keeps flowing: the activity of the new type is on the master */
        it_assert_synced(p.c, p.m, p.prefix);
        ck_assert_int_eq(it_int(p.m, "SELECT COUNT(*) FROM civicrm_activity WHERE "
                                "subject = 'gate' AND activity_type_id = 9001"), 1);
        /* the master's metadata stands */
        ck_assert_int_eq(it_int(p.m, "SELECT COUNT(*) FROM civicrm_option_value "
                                "WHERE id = %lld", ov), 0);
        ck_assert_int_eq(it_int(p.m, "SELECT COUNT(*) FROM civicrm_location_type "
                                "WHERE id = 1 AND name = 'Home'"), 1);
        ck_assert_int_eq(it_int(p.m, "SELECT COUNT(*) FROM civisync_metadata_diff "
                                "WHERE prefix = '%s'", p.prefix), 2);
        ck_assert_int_eq(it_int(p.m, "SELECT COUNT(*) FROM civisync_metadata_diff "
                                "WHERE prefix = '%s' AND table_name = "
                                "'civicrm_option_value' AND row_id = %lld AND kind = "
                                "'child-only'", p.prefix, ov), 1);
        ck_assert_int_eq(it_int(p.m, "SELECT COUNT(*) FROM civisync_metadata_diff "
                                "WHERE prefix = '%s' AND table_name = "
                                "'civicrm_location_type' AND row_id = 1 AND kind = "
                                "'changed' AND columns_differ = 'name'", p.prefix), 1);

        r = status(&p);
        ck_assert_int_eq(r.exit_code, 0);
        assert_line(r.out, "metadata differences: 2", NULL);
        snprintf(want, sizeof(want), "civicrm_option_value id %lld: child-only", ov);
        assert_line(r.out, want, NULL);
        assert_line(r.out, "civicrm_location_type id 1: changed: name", NULL);
        it_run_free(&r);

        r = verify(&p);
        ck_assert_msg(r.exit_code == 1, "verify exit %d\n%s\n%s", r.exit_code, r.out,
                      r.err);
        snprintf(want, sizeof(want), "verify %s: 0 differences", p.prefix);
        assert_line(r.out, want, NULL); /* the data matches */
        snprintf(want, sizeof(want), "metadata civicrm_option_value id %lld: "
                 "child-only", ov);
        assert_line(r.out, want, NULL);
        assert_line(r.out, "metadata civicrm_location_type id 1: changed: name", NULL);
        snprintf(want, sizeof(want), "verify %s: metadata: 2 differences", p.prefix);
        assert_line(r.out, want, NULL);
        it_run_free(&r);
        /* --no-metadata: the data verdict alone */
        r = it_run("civisync-verify", "--child-config", p.pconf, "--master-config",
                   p.cconf, "--no-metadata", NULL);
        ck_assert_msg(r.exit_code == 0, "verify exit %d\n%s", r.exit_code, r.out);
        ck_assert_ptr_null(strstr(r.out, "metadata"));
        it_run_free(&r);

        /* The child undoes the rename: the next (incremental) run clears it. */
        it_exec(p.c, "UPDATE civicrm_location_type SET name = 'Home' WHERE id = 1");
        produce_ok(p.pconf, 0);
        consume_ok(p.cconf);
        ck_assert_int_eq(it_int(p.m, "SELECT COUNT(*) FROM civisync_metadata_diff "
                                "WHERE prefix = '%s'", p.prefix), 1);
        r = status(&p);
        assert_line(r.out, "metadata differences: 1", NULL);
        ck_assert_ptr_null(strstr(r.out, "civicrm_location_type id 1"));
        it_run_free(&r);
        pair_free(&p);
}
END_TEST

Suite *metadata_suite(void)
{
        Suite *s = suite_create("metadata");
        TCase *tc = tcase_create("gate");
        tcase_set_timeout(tc, 600);
        tcase_add_test(tc, test_gate_identical);
        tcase_add_test(tc, test_gate_drift);
        suite_add_tcase(s, tc);
        return s;
}
