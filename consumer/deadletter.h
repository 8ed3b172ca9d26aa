/* deadletter.h — sends messages that can never apply to the dead-letter topic. */
#ifndef CS_DEADLETTER_H
#define CS_DEADLETTER_H

#include <stddef.h>
#include <stdint.h>
#include "conf.h"

typedef struct cs_dlq_s cs_dlq_t;

cs_dlq_t *cs_dlq_new(const cs_consumer_conf_t *conf, char *errstr,
                     size_t errstr_size);
/* Copies key/value and adds headers civisync-error, civisync-topic,
 * civisync-partition, civisync-offset naming the error and the origin. */
int cs_dlq_send(cs_dlq_t *dlq, const char *topic, int32_t partition,
                int64_t offset, const void *key, size_t key_len,
                const void *value, size_t value_len, const char *error,
                char *errstr, size_t errstr_size);
/* Waits for every dead letter to be delivered; 0 only if all were. */
int cs_dlq_flush(cs_dlq_t *dlq, int timeout_ms, char *errstr,
                 size_t errstr_size);
void cs_dlq_free(cs_dlq_t *dlq);

#endif
