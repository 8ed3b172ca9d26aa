/* kafka.h — librdkafka setup from configuration, topic naming and prefix parsing. */
#ifndef CS_KAFKA_H
#define CS_KAFKA_H

#include <stddef.h>
#include <librdkafka/rdkafka.h>
#include "conf.h"

/* New rd_kafka_conf_t (caller owns it until rd_kafka_new takes it) with
 * bootstrap.servers, cs_log_rdkafka as log_cb, then every kafka->props entry
 * applied in order. Returns NULL with errstr naming the bad property. */
rd_kafka_conf_t *cs_kafka_conf_new(const cs_kafka_params_t *kafka,
                                   char *errstr, size_t errstr_size);

/* Sets every pairs[i] = { name, value } on kc. overridable = 1: a name that
 * kafka->props sets is left alone (the operator's value, applied by
 * cs_kafka_conf_new, stands); 0: set regardless (a contract of the
 * program). Returns 0, or -1 with errstr naming the property. */
/* civisync's producers promise idempotent, fully acknowledged delivery: no
 * run state advances until every message is on all in-sync replicas. A user
 * property may tune the producer (compression, linger, timeouts) but never
 * weaken that. Returns -1 with errstr naming the property when any of the
 * params' properties sets acks (request.required.acks) to anything but all/-1
 * or enable.idempotence to anything but true; 0 otherwise. */
int cs_kafka_producer_guarantees(const cs_kafka_params_t *kafka, char *errstr,
                                 size_t errstr_size);

int cs_kafka_conf_set_pairs(rd_kafka_conf_t *kc, const cs_kafka_params_t *kafka,
                            const char *const pairs[][2], size_t n,
                            int overridable, char *errstr, size_t errstr_size);

/* The lag of a consumer group on one partition, the one figure both
 * civisync-consume --status and civisync-topics show: high watermark minus
 * the group's committed offset; with no committed offset (< 0), every
 * message on the partition (high - low). -1 when high or low is unknown. */
long long cs_kafka_lag(long long low, long long high, long long committed);

/* "civisync." + "P1" -> "civisync.P1"; validates prefix. */
int cs_kafka_topic_name(char *out, size_t out_size, const char *topic_prefix,
                        const char *prefix, char *errstr, size_t errstr_size);

/* Extracts and validates the prefix from a topic named topic_prefix+PREFIX.
 * Returns 0, or -1 with errstr (topic outside the prefix, invalid prefix). */
int cs_kafka_prefix_from_topic(const char *topic, const char *topic_prefix,
                               char prefix[CS_PREFIX_MAX + 1], char *errstr,
                               size_t errstr_size);

#endif
