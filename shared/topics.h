/* topics.h — Kafka topic definitions (topics/topics.cfg) turned into CreateTopics requests and checks. */
#ifndef CS_TOPICS_H
#define CS_TOPICS_H

#include <stddef.h>
#include <librdkafka/rdkafka.h>
#include "conf.h"

/* The roles of civisync topics. */
typedef enum {
        CS_TOPIC_DATA = 0,   /* <topic_prefix><PREFIX>: one per child, compacted */
        CS_TOPIC_DEAD_LETTER /* the consumer's dead-letter topic */
} cs_topic_role_t;

/* One definition as read from the definitions file. */
typedef struct cs_topic_def_s {
        int partitions;              /* >= 1 */
        int replication_factor;      /* >= 1; reduced to the broker count when larger */
        long long headroom_bytes;    /* max.message.bytes = max_document_bytes + this */
        cs_kafka_prop_t *configs;    /* topic configs, in file order */
        size_t config_cnt;
} cs_topic_def_t;

typedef struct cs_topic_defs_s {
        char *path;
        cs_topic_def_t def[2];       /* indexed by cs_topic_role_t */
} cs_topic_defs_t;

/* Loads and validates a definitions file (libconfig; groups "data" and
 * "dead_letter"; unknown keys are errors). defs is zeroed first and must
 * be freed with cs_topics_defs_free even on error. 0 or -1 with errstr
 * "FILE:LINE - text". */
int cs_topics_load(const char *path, cs_topic_defs_t *defs, char *errstr,
                   size_t errstr_size);
void cs_topics_defs_free(cs_topic_defs_t *defs);

/* Overrides from the command line (0 / NULL = keep the definition). */
typedef struct cs_topic_override_s {
        int partitions;
        int replication_factor;
        const char **configs;        /* "name=value" */
        size_t config_cnt;
} cs_topic_override_t;

/* A fully resolved topic: what CreateTopics sends and what an existing
 * topic is checked against. */
typedef struct cs_topic_spec_s {
        char name[256];
        cs_topic_role_t role;
        int partitions;
        int replication_factor;
        cs_kafka_prop_t *configs;    /* malloc'd; max.message.bytes always present */
        size_t config_cnt;
        char warnings[512];          /* "" or why a value was lowered */
} cs_topic_spec_t;

/* Resolves def (+ ov, may be NULL) for topic name: replication factor
 * lowered to broker_count (> 0) with a warning, min.insync.replicas
 * lowered to the replication factor with a warning, max.message.bytes =
 * max_document_bytes + headroom unless set explicitly. Free with
 * cs_topics_spec_free. 0 or -1 with errstr (bad override). */
int cs_topics_spec(const cs_topic_def_t *def, cs_topic_role_t role,
                   const char *name, size_t max_document_bytes,
                   int broker_count, const cs_topic_override_t *ov,
                   cs_topic_spec_t *spec, char *errstr, size_t errstr_size);
void cs_topics_spec_free(cs_topic_spec_t *spec);
/* The value spec gives config name, or NULL. BORROWED. */
const char *cs_topics_spec_config(const cs_topic_spec_t *spec, const char *name);

/* A NEW rd_kafka_NewTopic_t for spec (caller destroys it). NULL with errstr. */
rd_kafka_NewTopic_t *cs_topics_new_topic(const cs_topic_spec_t *spec,
                                         char *errstr, size_t errstr_size);

/* Compares an existing topic with spec: fewer partitions than wanted, a
 * replication factor below the wanted one, and every configured value that
 * differs (actual: name/value pairs as returned by DescribeConfigs; a
 * config absent from actual counts as different). Each problem is appended
 * to problems as "name: want X, have Y; ". Returns the number of problems. */
int cs_topics_check(const cs_topic_spec_t *spec, int partitions,
                    int replication_factor, const cs_kafka_prop_t *actual,
                    size_t actual_cnt, char *problems, size_t problems_size);

/* DescribeConfigs of one existing topic through rk (any client handle),
 * answered on q: NEW name/value array in *out (free with
 * cs_topics_props_free). 0, -1 on error, 1 when the broker does not
 * support the request; errstr says why. */
int cs_topics_describe(rd_kafka_t *rk, rd_kafka_queue_t *q, int timeout_ms,
                       const char *topic, cs_kafka_prop_t **out, size_t *cnt,
                       char *errstr, size_t errstr_size);
void cs_topics_props_free(cs_kafka_prop_t *p, size_t n);

/* 1 if the cluster of md names no controller among its brokers (the
 * embedded broker, librdkafka 2.0.2's mock cluster, names id 0 and would
 * let CreateTopics / DescribeConfigs wait until they time out). */
int cs_topics_no_controller(rd_kafka_t *rk, const struct rd_kafka_metadata *md,
                            int timeout_ms);

/* The topic's delete.retention.ms (how long compaction keeps tombstones)
 * in *ms. 0; 1 when the cluster cannot say (no controller, request not
 * supported, value absent); -1 on another error (not authorised, no
 * answer). errstr says why for 1 and -1. */
int cs_topics_delete_retention_ms(rd_kafka_t *rk, const char *topic,
                                  int timeout_ms, long long *ms, char *errstr,
                                  size_t errstr_size);

/* The tombstone retention (seconds) the consumer's retention-gap check
 * uses for a topic: the smaller of configured_s (tombstone_retention_seconds;
 * <= 0 = check off, returned as is) and topic_ms (the topic's
 * delete.retention.ms, rounded down to whole seconds, at least 1; < 0 =
 * unknown). *source names where the value came from:
 * "tombstone_retention_seconds" or "delete.retention.ms" (BORROWED). */
long long cs_topics_retention_choose(long long configured_s, long long topic_ms,
                                     const char **source);

#endif
