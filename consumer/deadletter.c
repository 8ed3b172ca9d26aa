/* deadletter.c — sends messages that can never apply to the dead-letter topic. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <librdkafka/rdkafka.h>

#include "deadletter.h"
#include "kafka.h"
#include "log.h"

/* Dead letters keep their value up to this size, which fits the default
 * message size limit of a Kafka topic (1 MB) with room for the headers.
 * A larger value stays only in the origin topic: the dead letter names
 * where (topic, partition, offset) and its size. */
#define DLQ_MAX_VALUE 900000

struct cs_dlq_s {
        rd_kafka_t *rk;
        char *topic;
        long long failed;
        char first_error[512];
};

static void dlq_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm,
                      void *opaque)
{
        cs_dlq_t *dlq = opaque;
        (void)rk;
        if (rkm->err && dlq->failed++ == 0)
                snprintf(dlq->first_error, sizeof(dlq->first_error),
                         "dead letter not delivered to %s: %s", dlq->topic,
                         rd_kafka_err2str(rkm->err));
}

cs_dlq_t *cs_dlq_new(const cs_consumer_conf_t *conf, char *errstr,
                     size_t errstr_size)
{
        cs_dlq_t *dlq = calloc(1, sizeof(*dlq));
        rd_kafka_conf_t *kconf;

        if (!dlq || !(dlq->topic = strdup(conf->kafka.dead_letter_topic))) {
                free(dlq);
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        if (!(kconf = cs_kafka_conf_new(&conf->kafka, errstr, errstr_size)))
                goto fail;
        if (rd_kafka_conf_set(kconf, "enable.idempotence", "true", errstr,
                              errstr_size) != RD_KAFKA_CONF_OK) {
                rd_kafka_conf_destroy(kconf);
                goto fail;
        }
        rd_kafka_conf_set_dr_msg_cb(kconf, dlq_dr_cb);
        rd_kafka_conf_set_opaque(kconf, dlq);
        /* kconf is owned by rk from here on. */
        if (!(dlq->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kconf, errstr,
                                     errstr_size))) {
                rd_kafka_conf_destroy(kconf);
                goto fail;
        }
        return dlq;
fail:
        free(dlq->topic);
        free(dlq);
        return NULL;
}

int cs_dlq_send(cs_dlq_t *dlq, const char *topic, int32_t partition,
                int64_t offset, const void *key, size_t key_len,
                const void *value, size_t value_len, const char *error,
                char *errstr, size_t errstr_size)
{
        char part[16], off[32], bytes[32];
        const char *omitted = "";
        rd_kafka_resp_err_t err;

        snprintf(part, sizeof(part), "%d", (int)partition);
        snprintf(off, sizeof(off), "%lld", (long long)offset);
        snprintf(bytes, sizeof(bytes), "%zu", value_len);
        if (key_len > 1024)
                key_len = 1024;
        if (value && value_len > DLQ_MAX_VALUE) {
                cs_warn("dead letter from %s [%d] offset %lld: its %zu-byte value "
                        "is too large to copy; it stays in %s at that offset",
                        topic, (int)partition, (long long)offset, value_len, topic);
                value = NULL;
                value_len = 0;
                omitted = "1";
        }
        for (int tries = 0; tries < 100; tries++) {
                err = rd_kafka_producev(
                        dlq->rk, RD_KAFKA_V_TOPIC(dlq->topic),
                        RD_KAFKA_V_KEY((void *)key, key_len),
                        RD_KAFKA_V_VALUE((void *)value, value_len),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                        RD_KAFKA_V_HEADER("civisync-error", error, -1),
                        RD_KAFKA_V_HEADER("civisync-topic", topic, -1),
                        RD_KAFKA_V_HEADER("civisync-partition", part, -1),
                        RD_KAFKA_V_HEADER("civisync-offset", off, -1),
                        RD_KAFKA_V_HEADER("civisync-value-bytes", bytes, -1),
                        RD_KAFKA_V_HEADER("civisync-value-omitted", omitted, -1),
                        RD_KAFKA_V_END);
                if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        break;
                rd_kafka_poll(dlq->rk, 100);
        }
        if (err) {
                snprintf(errstr, errstr_size, "dead letter to %s: %s",
                         dlq->topic, rd_kafka_err2str(err));
                return -1;
        }
        rd_kafka_poll(dlq->rk, 0);
        return 0;
}

int cs_dlq_flush(cs_dlq_t *dlq, int timeout_ms, char *errstr,
                 size_t errstr_size)
{
        rd_kafka_flush(dlq->rk, timeout_ms);
        if (dlq->failed) {
                snprintf(errstr, errstr_size, "%s", dlq->first_error);
                dlq->failed = 0;
                return -1;
        }
        if (rd_kafka_outq_len(dlq->rk) > 0) {
                snprintf(errstr, errstr_size, "%d dead letter(s) undelivered "
                         "to %s", rd_kafka_outq_len(dlq->rk), dlq->topic);
                return -1;
        }
        return 0;
}

void cs_dlq_free(cs_dlq_t *dlq)
{
        if (!dlq)
                return;
        if (dlq->rk) {
                rd_kafka_flush(dlq->rk, 5000);
                rd_kafka_destroy(dlq->rk);
        }
        free(dlq->topic);
        free(dlq);
}
