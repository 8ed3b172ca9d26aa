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

#endif
