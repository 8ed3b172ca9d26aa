/* kafka_util.h — raw Kafka access for integration tests: produce anything, read topics with headers, commit group offsets. */
#ifndef CS_IT_KAFKA_UTIL_H
#define CS_IT_KAFKA_UTIL_H

#include <stddef.h>

/* Queues one message on topic/partition (partition -1: librdkafka's
 * partitioner by key). value NULL = tombstone; key may be NULL. Uses one
 * idempotent producer per test process; call ku_flush before relying on
 * delivery. Aborts the test on failure. */
void ku_send(const char *topic, int partition, const char *key,
             const void *value, size_t value_len);
/* Same with a NUL-terminated value (NULL = tombstone). */
void ku_send_str(const char *topic, int partition, const char *key,
                 const char *value);
/* Waits until everything queued is delivered (aborts the test if not). */
void ku_flush(void);

/* One message read back, with the dead-letter headers if present. */
typedef struct ku_msg_s {
        int partition;
        long long offset;
        char *key;          /* NUL-terminated copy, NULL if none */
        char *value;        /* NUL-terminated copy, NULL for a tombstone */
        size_t value_len;
        char *h_error;      /* civisync-error header, NULL if absent */
        char *h_topic;      /* civisync-topic */
        char *h_partition;  /* civisync-partition */
        char *h_offset;     /* civisync-offset */
        char *h_value_bytes;   /* civisync-value-bytes */
        char *h_value_omitted; /* civisync-value-omitted ("1" or "") */
} ku_msg_t;

/* Reads every message of every partition of topic, from the beginning to
 * the current end. Returns the count and a malloc'd array in *out. */
int ku_read_all(const char *topic, ku_msg_t **out);
void ku_msgs_free(ku_msg_t *msgs, int n);

/* Low and high watermark of topic/partition (aborts on failure). */
void ku_watermarks(const char *topic, int partition, long long *low,
                   long long *high);

/* Commits offset for every partition of topic in consumer group `group`
 * WITHOUT civisync's commit metadata, as `kafka-consumer-groups
 * --reset-offsets` does; offset -2 = each partition's low watermark
 * (--to-earliest). The group must have no active member. */
void ku_commit_group(const char *group, const char *topic, int partitions,
                     long long offset);

/* The offsets group has committed for topic's partitions (-1 = none);
 * metadata_ours[i] set to 1 when the commit carries civisync's metadata. */
void ku_committed(const char *group, const char *topic, int partitions,
                  long long *offsets, int *metadata_ours);

#endif
