/* kafka.c — librdkafka configuration from cs_kafka_params_t, topic names and prefixes. */
#include "kafka.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "log.h"

#define KAFKA_TOPIC_MAX 249

/* 1 if a property sets the bootstrap list itself. */
static int is_bootstrap_prop(const char *name)
{
        return strcmp(name, "bootstrap.servers") == 0 ||
               strcmp(name, "metadata.broker.list") == 0;
}

rd_kafka_conf_t *cs_kafka_conf_new(const cs_kafka_params_t *kafka,
                                   char *errstr, size_t errstr_size)
{
        char kerr[512];
        int has_bootstrap = kafka->brokers && *kafka->brokers;

        for (size_t i = 0; i < kafka->prop_cnt; i++)
                if (is_bootstrap_prop(kafka->props[i].name))
                        has_bootstrap = 1;
        if (!has_bootstrap) {
                snprintf(errstr, errstr_size,
                         "no Kafka brokers: set kafka.brokers in the "
                         "configuration file or pass -b host:port");
                return NULL;
        }

        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        if (!kc) {
                snprintf(errstr, errstr_size, "rd_kafka_conf_new failed");
                return NULL;
        }
        rd_kafka_conf_set_log_cb(kc, cs_log_rdkafka);
        if (kafka->brokers && *kafka->brokers &&
            rd_kafka_conf_set(kc, "bootstrap.servers", kafka->brokers, kerr,
                              sizeof(kerr)) != RD_KAFKA_CONF_OK) {
                snprintf(errstr, errstr_size, "kafka brokers '%s': %s",
                         kafka->brokers, kerr);
                rd_kafka_conf_destroy(kc);
                return NULL;
        }
        for (size_t i = 0; i < kafka->prop_cnt; i++) {
                const cs_kafka_prop_t *p = &kafka->props[i];
                kerr[0] = '\0';
                if (rd_kafka_conf_set(kc, p->name, p->value, kerr,
                                      sizeof(kerr)) != RD_KAFKA_CONF_OK) {
                        snprintf(errstr, errstr_size, "kafka property '%s': %s",
                                 p->name, kerr);
                        rd_kafka_conf_destroy(kc);
                        return NULL;
                }
        }
        return kc;
}

long long cs_kafka_lag(long long low, long long high, long long committed)
{
        if (high < 0)
                return -1;
        if (committed >= 0)
                return high > committed ? high - committed : 0;
        return low >= 0 ? high - low : -1;
}

int cs_kafka_producer_guarantees(const cs_kafka_params_t *kafka, char *errstr,
                                 size_t errstr_size)
{
        for (size_t i = 0; i < kafka->prop_cnt; i++) {
                const char *name = kafka->props[i].name;
                const char *value = kafka->props[i].value;
                int weakens = 0;
                if (!strcmp(name, "acks") || !strcmp(name, "request.required.acks"))
                        weakens = strcasecmp(value, "all") && strcmp(value, "-1");
                else if (!strcmp(name, "enable.idempotence"))
                        weakens = strcasecmp(value, "true");
                if (weakens) {
                        snprintf(errstr, errstr_size, "kafka property %s=%s would "
                                 "weaken civisync's delivery guarantee: the producer "
                                 "requires acks=all and enable.idempotence=true "
                                 "(they cannot be overridden)", name, value);
                        return -1;
                }
        }
        return 0;
}

int cs_kafka_conf_set_pairs(rd_kafka_conf_t *kc, const cs_kafka_params_t *kafka,
                            const char *const pairs[][2], size_t n,
                            int overridable, char *errstr, size_t errstr_size)
{
        char kerr[512];

        for (size_t i = 0; i < n; i++) {
                int overridden = 0;
                for (size_t j = 0; overridable && j < kafka->prop_cnt; j++)
                        if (!strcmp(kafka->props[j].name, pairs[i][0]))
                                overridden = 1;
                if (!overridden &&
                    rd_kafka_conf_set(kc, pairs[i][0], pairs[i][1], kerr,
                                      sizeof(kerr)) != RD_KAFKA_CONF_OK) {
                        snprintf(errstr, errstr_size, "kafka property '%s': %s",
                                 pairs[i][0], kerr);
                        return -1;
                }
        }
        return 0;
}

int cs_kafka_topic_name(char *out, size_t out_size, const char *topic_prefix,
                        const char *prefix, char *errstr, size_t errstr_size)
{
        if (!topic_prefix)
                topic_prefix = "";
        if (!cs_prefix_valid(prefix)) {
                snprintf(errstr, errstr_size,
                         "invalid prefix '%.64s': must match [A-Za-z0-9_]{1,%d}",
                         prefix ? prefix : "(null)", CS_PREFIX_MAX);
                return -1;
        }
        int n = snprintf(out, out_size, "%s%s", topic_prefix, prefix);
        if (n < 0 || (size_t)n >= out_size || n > KAFKA_TOPIC_MAX) {
                snprintf(errstr, errstr_size,
                         "topic name '%s%s' is too long", topic_prefix, prefix);
                if (out_size)
                        out[0] = '\0';
                return -1;
        }
        return 0;
}

int cs_kafka_prefix_from_topic(const char *topic, const char *topic_prefix,
                               char prefix[CS_PREFIX_MAX + 1], char *errstr,
                               size_t errstr_size)
{
        size_t plen;

        prefix[0] = '\0';
        if (!topic_prefix)
                topic_prefix = "";
        plen = strlen(topic_prefix);
        if (!topic || strncmp(topic, topic_prefix, plen) != 0) {
                snprintf(errstr, errstr_size,
                         "topic '%.255s' does not start with '%s'",
                         topic ? topic : "(null)", topic_prefix);
                return -1;
        }
        const char *p = topic + plen;
        if (!cs_prefix_valid(p)) {
                snprintf(errstr, errstr_size,
                         "topic '%.255s': '%.64s' is not a valid prefix "
                         "(must match [A-Za-z0-9_]{1,%d})",
                         topic, p, CS_PREFIX_MAX);
                return -1;
        }
        memcpy(prefix, p, strlen(p) + 1);
        return 0;
}
