/* test_topics.c — unit tests for topic definitions and the CreateTopics requests built from them (no broker). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "suites.h"
#include "topics.h"

static char tmpdir[64];
static char tmpfile_path[128];

static void setup(void)
{
        strcpy(tmpdir, "/tmp/cs_test_topics_XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
        tmpfile_path[0] = '\0';
}

static void teardown(void)
{
        if (tmpfile_path[0])
                unlink(tmpfile_path);
        rmdir(tmpdir);
}

static const char *write_defs(const char *text)
{
        FILE *fp;

        snprintf(tmpfile_path, sizeof(tmpfile_path), "%s/topics.cfg", tmpdir);
        fp = fopen(tmpfile_path, "w");
        ck_assert_ptr_nonnull(fp);
        fputs(text, fp);
        fclose(fp);
        return tmpfile_path;
}

static const char *def_value(const cs_topic_def_t *d, const char *name)
{
        for (size_t i = 0; i < d->config_cnt; i++)
                if (!strcmp(d->configs[i].name, name))
                        return d->configs[i].value;
        return NULL;
}

/* The shipped definitions: compacted data topics, deleting dead letters. */
START_TEST(test_shipped_definitions)
{
        cs_topic_defs_t defs;
        char err[512] = "";

        ck_assert_msg(cs_topics_load("topics/topics.cfg", &defs, err, sizeof(err)) == 0,
                      "%s", err);
        ck_assert_int_eq(defs.def[CS_TOPIC_DATA].partitions, 1);
        ck_assert_int_eq(defs.def[CS_TOPIC_DATA].replication_factor, 3);
        ck_assert_str_eq(def_value(&defs.def[CS_TOPIC_DATA], "cleanup.policy"), "compact");
        ck_assert_ptr_nonnull(def_value(&defs.def[CS_TOPIC_DATA], "min.insync.replicas"));
        ck_assert_ptr_null(def_value(&defs.def[CS_TOPIC_DATA], "max.message.bytes"));
        ck_assert_int_gt(defs.def[CS_TOPIC_DATA].headroom_bytes, 0);
        ck_assert_str_eq(def_value(&defs.def[CS_TOPIC_DEAD_LETTER], "cleanup.policy"), "delete");
        ck_assert_ptr_nonnull(def_value(&defs.def[CS_TOPIC_DEAD_LETTER], "retention.ms"));
        /* Long retention: at least 30 days. */
        ck_assert(atoll(def_value(&defs.def[CS_TOPIC_DEAD_LETTER], "retention.ms")) >=
                  30LL * 24 * 3600 * 1000);
        cs_topics_defs_free(&defs);
}
END_TEST

static const char small_defs[] =
        "data = { partitions = 2; replication_factor = 3; headroom_bytes = 1000;\n"
        "  config = ( (\"cleanup.policy\", \"compact\"), (\"min.insync.replicas\", \"2\") ); };\n"
        "dead_letter = { partitions = 1; replication_factor = 2; headroom_bytes = 0;\n"
        "  config = ( (\"cleanup.policy\", \"delete\"), (\"max.message.bytes\", \"5000000\") ); };\n";

/* Spec for a full-size cluster: every definition value, and
 * max.message.bytes derived from max_document_bytes + headroom. */
START_TEST(test_spec_from_definition)
{
        cs_topic_defs_t defs;
        cs_topic_spec_t spec;
        char err[512] = "";

        ck_assert_int_eq(cs_topics_load(write_defs(small_defs), &defs, err, sizeof(err)), 0);
        ck_assert_int_eq(cs_topics_spec(&defs.def[CS_TOPIC_DATA], CS_TOPIC_DATA,
                                        "civisync.P1", 250000, 5, NULL, &spec, err,
                                        sizeof(err)), 0);
        ck_assert_str_eq(spec.name, "civisync.P1");
        ck_assert_int_eq(spec.partitions, 2);
        ck_assert_int_eq(spec.replication_factor, 3);
        ck_assert_str_eq(cs_topics_spec_config(&spec, "cleanup.policy"), "compact");
        ck_assert_str_eq(cs_topics_spec_config(&spec, "min.insync.replicas"), "2");
        ck_assert_str_eq(cs_topics_spec_config(&spec, "max.message.bytes"), "251000");
        ck_assert_uint_eq(spec.config_cnt, 3);
        ck_assert_str_eq(spec.warnings, "");
        cs_topics_spec_free(&spec);

        /* An explicit max.message.bytes in the definition wins. */
        ck_assert_int_eq(cs_topics_spec(&defs.def[CS_TOPIC_DEAD_LETTER],
                                        CS_TOPIC_DEAD_LETTER, "civisync.dead-letter",
                                        250000, 5, NULL, &spec, err, sizeof(err)), 0);
        ck_assert_str_eq(cs_topics_spec_config(&spec, "max.message.bytes"), "5000000");
        ck_assert_int_eq(spec.replication_factor, 2);
        cs_topics_spec_free(&spec);
        cs_topics_defs_free(&defs);
}
END_TEST

/* A one-broker cluster: replication factor and min.insync.replicas are
 * lowered, with a warning naming both. */
START_TEST(test_spec_small_cluster)
{
        cs_topic_defs_t defs;
        cs_topic_spec_t spec;
        char err[512] = "";

        ck_assert_int_eq(cs_topics_load(write_defs(small_defs), &defs, err, sizeof(err)), 0);
        ck_assert_int_eq(cs_topics_spec(&defs.def[CS_TOPIC_DATA], CS_TOPIC_DATA,
                                        "civisync.P1", 1000, 1, NULL, &spec, err,
                                        sizeof(err)), 0);
        ck_assert_int_eq(spec.replication_factor, 1);
        ck_assert_str_eq(cs_topics_spec_config(&spec, "min.insync.replicas"), "1");
        ck_assert_ptr_nonnull(strstr(spec.warnings, "replication factor 3 lowered to 1"));
        ck_assert_ptr_nonnull(strstr(spec.warnings, "min.insync.replicas 2 lowered to 1"));
        cs_topics_spec_free(&spec);
        cs_topics_defs_free(&defs);
}
END_TEST

/* Command-line overrides replace the definition's values. */
START_TEST(test_spec_overrides)
{
        cs_topic_defs_t defs;
        cs_topic_spec_t spec;
        const char *cfgs[] = { "min.insync.replicas=3", "retention.bytes=100",
                               "max.message.bytes=777" };
        const char *bad[] = { "noequals" };
        cs_topic_override_t ov = { .partitions = 6, .replication_factor = 4,
                                   .configs = cfgs, .config_cnt = 3 };
        cs_topic_override_t ov_bad = { .configs = bad, .config_cnt = 1 };
        char err[512] = "";

        ck_assert_int_eq(cs_topics_load(write_defs(small_defs), &defs, err, sizeof(err)), 0);
        ck_assert_int_eq(cs_topics_spec(&defs.def[CS_TOPIC_DATA], CS_TOPIC_DATA,
                                        "x.P2", 1000, 5, &ov, &spec, err, sizeof(err)), 0);
        ck_assert_int_eq(spec.partitions, 6);
        ck_assert_int_eq(spec.replication_factor, 4);
        ck_assert_str_eq(cs_topics_spec_config(&spec, "min.insync.replicas"), "3");
        ck_assert_str_eq(cs_topics_spec_config(&spec, "retention.bytes"), "100");
        ck_assert_str_eq(cs_topics_spec_config(&spec, "max.message.bytes"), "777");
        ck_assert_uint_eq(spec.config_cnt, 4);
        cs_topics_spec_free(&spec);

        ck_assert_int_eq(cs_topics_spec(&defs.def[CS_TOPIC_DATA], CS_TOPIC_DATA,
                                        "x.P2", 1000, 5, &ov_bad, &spec, err,
                                        sizeof(err)), -1);
        ck_assert_ptr_nonnull(strstr(err, "noequals"));
        cs_topics_defs_free(&defs);
}
END_TEST

/* The request object: built for a valid spec, refused with the topic
 * named for an impossible partition count. */
START_TEST(test_new_topic_request)
{
        cs_topic_defs_t defs;
        cs_topic_spec_t spec;
        rd_kafka_NewTopic_t *nt;
        char err[512] = "";

        ck_assert_int_eq(cs_topics_load(write_defs(small_defs), &defs, err, sizeof(err)), 0);
        ck_assert_int_eq(cs_topics_spec(&defs.def[CS_TOPIC_DATA], CS_TOPIC_DATA,
                                        "civisync.P1", 1000, 3, NULL, &spec, err,
                                        sizeof(err)), 0);
        nt = cs_topics_new_topic(&spec, err, sizeof(err));
        ck_assert_msg(nt != NULL, "%s", err);
        rd_kafka_NewTopic_destroy(nt);

        spec.partitions = -2; /* librdkafka accepts -1 (broker default) and up */
        err[0] = '\0';
        ck_assert_ptr_null(cs_topics_new_topic(&spec, err, sizeof(err)));
        ck_assert_msg(strstr(err, "civisync.P1") != NULL, "%s", err);
        cs_topics_spec_free(&spec);
        cs_topics_defs_free(&defs);
}
END_TEST

/* Existing topics are compared setting by setting. */
START_TEST(test_check_existing)
{
        cs_topic_defs_t defs;
        cs_topic_spec_t spec;
        char err[512] = "", problems[1024];
        cs_kafka_prop_t good[] = {
                { "cleanup.policy", "compact" }, { "min.insync.replicas", "2" },
                { "max.message.bytes", "2000" }, { "segment.bytes", "1073741824" },
        };
        cs_kafka_prop_t wrong[] = {
                { "cleanup.policy", "delete" }, { "max.message.bytes", "2000" },
        };

        ck_assert_int_eq(cs_topics_load(write_defs(small_defs), &defs, err, sizeof(err)), 0);
        ck_assert_int_eq(cs_topics_spec(&defs.def[CS_TOPIC_DATA], CS_TOPIC_DATA,
                                        "civisync.P1", 1000, 3, NULL, &spec, err,
                                        sizeof(err)), 0);
        ck_assert_int_eq(cs_topics_check(&spec, 2, 3, good, 4, problems,
                                         sizeof(problems)), 0);
        ck_assert_str_eq(problems, "");
        /* More partitions than asked for are fine. */
        ck_assert_int_eq(cs_topics_check(&spec, 8, 3, good, 4, problems,
                                         sizeof(problems)), 0);
        ck_assert_int_eq(cs_topics_check(&spec, 1, 1, wrong, 2, problems,
                                         sizeof(problems)), 4);
        ck_assert_ptr_nonnull(strstr(problems, "partitions: want 2, have 1"));
        ck_assert_ptr_nonnull(strstr(problems, "replication factor: want 3, have 1"));
        ck_assert_ptr_nonnull(strstr(problems, "cleanup.policy: want compact, have delete"));
        ck_assert_ptr_nonnull(strstr(problems, "min.insync.replicas: want 2, have (unset)"));
        cs_topics_spec_free(&spec);
        cs_topics_defs_free(&defs);
}
END_TEST

/* Definition files are validated like configurations: FILE:LINE - text. */
START_TEST(test_load_errors)
{
        cs_topic_defs_t defs;
        char err[512];
        const char *p;

        p = write_defs("data = { partitions = 1; replication_factor = 3; headroom_bytes = 0;\n"
                       "  partiton = 2; };\n"
                       "dead_letter = { partitions = 1; replication_factor = 3; headroom_bytes = 0; };\n");
        ck_assert_int_eq(cs_topics_load(p, &defs, err, sizeof(err)), -1);
        ck_assert_msg(strstr(err, ":2 - unknown key 'data.partiton'") != NULL, "%s", err);
        cs_topics_defs_free(&defs);

        p = write_defs("data = { partitions = 1; replication_factor = 3; headroom_bytes = 0; };\n");
        ck_assert_int_eq(cs_topics_load(p, &defs, err, sizeof(err)), -1);
        ck_assert_msg(strstr(err, "missing group 'dead_letter'") != NULL, "%s", err);
        cs_topics_defs_free(&defs);

        p = write_defs("data = { partitions = 0; replication_factor = 3; headroom_bytes = 0; };\n"
                       "dead_letter = { partitions = 1; replication_factor = 3; headroom_bytes = 0; };\n");
        ck_assert_int_eq(cs_topics_load(p, &defs, err, sizeof(err)), -1);
        ck_assert_msg(strstr(err, "'data.partitions' must be between 1") != NULL, "%s", err);
        cs_topics_defs_free(&defs);

        p = write_defs("data = { partitions = 1; replication_factor = 3; headroom_bytes = 0;\n"
                       "  config = ( (\"cleanup.policy\") ); };\n"
                       "dead_letter = { partitions = 1; replication_factor = 3; headroom_bytes = 0; };\n");
        ck_assert_int_eq(cs_topics_load(p, &defs, err, sizeof(err)), -1);
        ck_assert_msg(strstr(err, "pair of two strings") != NULL, "%s", err);
        cs_topics_defs_free(&defs);

        ck_assert_int_eq(cs_topics_load("/nonexistent/topics.cfg", &defs, err,
                                        sizeof(err)), -1);
        ck_assert_msg(strstr(err, "cannot open") != NULL, "%s", err);
        cs_topics_defs_free(&defs);
}
END_TEST

/* The retention-gap check's value: the smaller of the configured value
 * and the topic's delete.retention.ms, the configured one when unknown. */
START_TEST(test_retention_choose)
{
        const char *src = NULL;

        /* The topic keeps tombstones shorter than configured: it wins. */
        ck_assert_int_eq(cs_topics_retention_choose(604800, 86400000, &src), 86400);
        ck_assert_str_eq(src, "delete.retention.ms");
        /* Longer on the topic: the configured value stays. */
        ck_assert_int_eq(cs_topics_retention_choose(3600, 604800000, &src), 3600);
        ck_assert_str_eq(src, "tombstone_retention_seconds");
        /* Equal: the configured value (same figure). */
        ck_assert_int_eq(cs_topics_retention_choose(60, 60000, &src), 60);
        ck_assert_str_eq(src, "tombstone_retention_seconds");
        /* Unknown (the cluster could not say). */
        ck_assert_int_eq(cs_topics_retention_choose(15, -1, &src), 15);
        ck_assert_str_eq(src, "tombstone_retention_seconds");
        /* Below one second rounds up to 1 s, never to 0 (= check off). */
        ck_assert_int_eq(cs_topics_retention_choose(15, 0, &src), 1);
        ck_assert_str_eq(src, "delete.retention.ms");
        ck_assert_int_eq(cs_topics_retention_choose(15, 1999, &src), 1);
        /* The check switched off stays off whatever the topic says. */
        ck_assert_int_eq(cs_topics_retention_choose(0, 1000, &src), 0);
        ck_assert_str_eq(src, "tombstone_retention_seconds");
}
END_TEST

Suite *topics_suite(void)
{
        Suite *s = suite_create("topics");
        TCase *tc = tcase_create("definitions");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_shipped_definitions);
        tcase_add_test(tc, test_spec_from_definition);
        tcase_add_test(tc, test_spec_small_cluster);
        tcase_add_test(tc, test_spec_overrides);
        tcase_add_test(tc, test_new_topic_request);
        tcase_add_test(tc, test_check_existing);
        tcase_add_test(tc, test_load_errors);
        tcase_add_test(tc, test_retention_choose);
        suite_add_tcase(s, tc);
        return s;
}
