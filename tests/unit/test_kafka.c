/* test_kafka.c — unit tests for librdkafka configuration, topic names and prefix parsing. */
#include <check.h>
#include <string.h>

#include "conf.h"
#include "kafka.h"
#include "suites.h"

static cs_kafka_prop_t props_ok[] = {
        {"compression.type", "lz4"},
        {"client.id", "unit"},
        {"compression.type", "zstd"}, /* later entries win, in order */
};

START_TEST(test_conf_new_applies_brokers_and_props)
{
        cs_kafka_params_t k = {.brokers = "127.0.0.1:9092,127.0.0.1:9093",
                               .props = props_ok, .prop_cnt = 3};
        char err[512] = "", val[256];
        size_t vs = sizeof(val);

        rd_kafka_conf_t *kc = cs_kafka_conf_new(&k, err, sizeof(err));
        ck_assert_msg(kc != NULL, "cs_kafka_conf_new: %s", err);
        ck_assert_int_eq(rd_kafka_conf_get(kc, "bootstrap.servers", val, &vs),
                         RD_KAFKA_CONF_OK);
        ck_assert_str_eq(val, "127.0.0.1:9092,127.0.0.1:9093");
        vs = sizeof(val);
        ck_assert_int_eq(rd_kafka_conf_get(kc, "compression.type", val, &vs),
                         RD_KAFKA_CONF_OK);
        ck_assert_str_eq(val, "zstd");
        vs = sizeof(val);
        ck_assert_int_eq(rd_kafka_conf_get(kc, "client.id", val, &vs),
                         RD_KAFKA_CONF_OK);
        ck_assert_str_eq(val, "unit");
        rd_kafka_conf_destroy(kc);
}
END_TEST

/* Overridable defaults yield to the operator's properties; a program's
 * contract does not; a bad pair fails naming the property. */
START_TEST(test_conf_set_pairs)
{
        cs_kafka_params_t k = {.brokers = "localhost:9092", .props = props_ok,
                               .prop_cnt = 3};
        static const char *const defaults[][2] = {
                {"compression.type", "gzip"}, {"linger.ms", "20"} };
        static const char *const contract[][2] = { {"client.id", "fixed"} };
        static const char *const bad[][2] = { {"no.such.property", "1"} };
        char err[512] = "", val[256];
        size_t vs = sizeof(val);
        rd_kafka_conf_t *kc = cs_kafka_conf_new(&k, err, sizeof(err));

        ck_assert_ptr_nonnull(kc);
        ck_assert_int_eq(cs_kafka_conf_set_pairs(kc, &k, defaults, 2, 1, err,
                                                 sizeof(err)), 0);
        ck_assert_int_eq(cs_kafka_conf_set_pairs(kc, &k, contract, 1, 0, err,
                                                 sizeof(err)), 0);
        rd_kafka_conf_get(kc, "compression.type", val, &vs);
        ck_assert_str_eq(val, "zstd");
        vs = sizeof(val);
        rd_kafka_conf_get(kc, "linger.ms", val, &vs);
        ck_assert_str_eq(val, "20");
        vs = sizeof(val);
        rd_kafka_conf_get(kc, "client.id", val, &vs);
        ck_assert_str_eq(val, "fixed");
        ck_assert_int_eq(cs_kafka_conf_set_pairs(kc, &k, bad, 1, 1, err,
                                                 sizeof(err)), -1);
        ck_assert_msg(strstr(err, "no.such.property") != NULL, "%s", err);
        rd_kafka_conf_destroy(kc);
}
END_TEST

START_TEST(test_conf_new_rejects_unknown_property)
{
        cs_kafka_prop_t p[] = {{"client.id", "x"}, {"no.such.property", "1"}};
        cs_kafka_params_t k = {.brokers = "localhost:9092", .props = p,
                               .prop_cnt = 2};
        char err[512] = "";

        ck_assert_ptr_null(cs_kafka_conf_new(&k, err, sizeof(err)));
        ck_assert_msg(strncmp(err, "kafka property 'no.such.property': ", 35) == 0,
                      "errstr: %s", err);
        ck_assert_msg(strlen(err) > 36, "librdkafka's message missing: %s", err);
}
END_TEST

START_TEST(test_conf_new_rejects_bad_value)
{
        cs_kafka_prop_t p[] = {{"compression.type", "bogus-codec"}};
        cs_kafka_params_t k = {.brokers = "localhost:9092", .props = p,
                               .prop_cnt = 1};
        char err[512] = "";

        ck_assert_ptr_null(cs_kafka_conf_new(&k, err, sizeof(err)));
        ck_assert_msg(strstr(err, "kafka property 'compression.type': ") == err,
                      "errstr: %s", err);
}
END_TEST

START_TEST(test_conf_new_needs_brokers)
{
        cs_kafka_params_t k = {0};
        cs_kafka_prop_t p[] = {{"bootstrap.servers", "h:1"}};
        char err[512] = "";

        ck_assert_ptr_null(cs_kafka_conf_new(&k, err, sizeof(err)));
        ck_assert_ptr_nonnull(strstr(err, "no Kafka brokers"));
        /* -X bootstrap.servers=... is an acceptable substitute */
        k.props = p;
        k.prop_cnt = 1;
        rd_kafka_conf_t *kc = cs_kafka_conf_new(&k, err, sizeof(err));
        ck_assert_ptr_nonnull(kc);
        rd_kafka_conf_destroy(kc);
}
END_TEST

START_TEST(test_topic_name)
{
        char out[256], err[256] = "";

        ck_assert_int_eq(cs_kafka_topic_name(out, sizeof(out), "civisync.", "P1",
                                             err, sizeof(err)), 0);
        ck_assert_str_eq(out, "civisync.P1");
        ck_assert_int_eq(cs_kafka_topic_name(out, sizeof(out), "civisync.", "P.1",
                                             err, sizeof(err)), -1);
        ck_assert_ptr_nonnull(strstr(err, "invalid prefix 'P.1'"));
        ck_assert_int_eq(cs_kafka_topic_name(out, 8, "civisync.", "P1", err,
                                             sizeof(err)), -1);
        ck_assert_ptr_nonnull(strstr(err, "too long"));
}
END_TEST

START_TEST(test_topic_prefix_round_trip)
{
        const char *prefixes[] = {"P1", "a", "Z_9", "abcdefghijklmnopqrstuvwxyz012345"};
        char topic[256], prefix[CS_PREFIX_MAX + 1], err[256];

        for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
                ck_assert_int_eq(cs_kafka_topic_name(topic, sizeof(topic), "civisync.",
                                                     prefixes[i], err, sizeof(err)), 0);
                ck_assert_int_eq(cs_kafka_prefix_from_topic(topic, "civisync.", prefix,
                                                            err, sizeof(err)), 0);
                ck_assert_str_eq(prefix, prefixes[i]);
        }
}
END_TEST

START_TEST(test_prefix_from_topic_rejects)
{
        char prefix[CS_PREFIX_MAX + 1], err[256];

        ck_assert_int_eq(cs_kafka_prefix_from_topic("other.P1", "civisync.", prefix,
                                                    err, sizeof(err)), -1);
        ck_assert_ptr_nonnull(strstr(err, "does not start with 'civisync.'"));
        ck_assert_str_eq(prefix, "");
        ck_assert_int_eq(cs_kafka_prefix_from_topic("civisync.", "civisync.", prefix,
                                                    err, sizeof(err)), -1);
        ck_assert_int_eq(cs_kafka_prefix_from_topic("civisync.dead-letter", "civisync.",
                                                    prefix, err, sizeof(err)), -1);
        ck_assert_ptr_nonnull(strstr(err, "not a valid prefix"));
        ck_assert_int_eq(cs_kafka_prefix_from_topic("civisync.P1.x", "civisync.",
                                                    prefix, err, sizeof(err)), -1);
        ck_assert_int_eq(cs_kafka_prefix_from_topic(
                                 "civisync.abcdefghijklmnopqrstuvwxyz0123456",
                                 "civisync.", prefix, err, sizeof(err)), -1);
        ck_assert_int_eq(cs_kafka_prefix_from_topic("civisync", "civisync.", prefix,
                                                    err, sizeof(err)), -1);
}
END_TEST

Suite *kafka_suite(void)
{
        Suite *s = suite_create("kafka");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_conf_new_applies_brokers_and_props);
        tcase_add_test(tc, test_conf_new_rejects_unknown_property);
        tcase_add_test(tc, test_conf_set_pairs);
        tcase_add_test(tc, test_conf_new_rejects_bad_value);
        tcase_add_test(tc, test_conf_new_needs_brokers);
        tcase_add_test(tc, test_topic_name);
        tcase_add_test(tc, test_topic_prefix_round_trip);
        tcase_add_test(tc, test_prefix_from_topic_rejects);
        suite_add_tcase(s, tc);
        return s;
}
