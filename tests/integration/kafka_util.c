/* kafka_util.c — raw Kafka access for integration tests: produce anything, read topics with headers, commit group offsets. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <librdkafka/rdkafka.h>

#include "harness.h"
#include "kafka_util.h"

static rd_kafka_t *producer;
static int failed_deliveries;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
        (void)rk;
        (void)opaque;
        if (m->err)
                failed_deliveries++;
}

static rd_kafka_conf_t *base_conf(void)
{
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        char e[256];

        ck_assert(rd_kafka_conf_set(conf, "bootstrap.servers", it_brokers(), e,
                                    sizeof(e)) == RD_KAFKA_CONF_OK);
        return conf;
}

static rd_kafka_t *get_producer(void)
{
        rd_kafka_conf_t *conf;
        char e[256];

        if (producer)
                return producer;
        conf = base_conf();
        ck_assert(rd_kafka_conf_set(conf, "enable.idempotence", "true", e,
                                    sizeof(e)) == RD_KAFKA_CONF_OK);
        ck_assert(rd_kafka_conf_set(conf, "linger.ms", "5", e, sizeof(e)) ==
                  RD_KAFKA_CONF_OK);
        ck_assert(rd_kafka_conf_set(conf, "message.max.bytes", "10000000", e,
                                    sizeof(e)) == RD_KAFKA_CONF_OK);
        rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
        producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof(e));
        ck_assert_msg(producer != NULL, "producer: %s", e);
        return producer;
}

void ku_send(const char *topic, int partition, const char *key,
             const void *value, size_t value_len)
{
        rd_kafka_t *rk = get_producer();
        rd_kafka_resp_err_t err;

        for (;;) {
                err = rd_kafka_producev(
                        rk, RD_KAFKA_V_TOPIC(topic),
                        RD_KAFKA_V_PARTITION(partition < 0 ? RD_KAFKA_PARTITION_UA :
                                             partition),
                        RD_KAFKA_V_KEY((void *)key, key ? strlen(key) : 0),
                        RD_KAFKA_V_VALUE((void *)value, value ? value_len : 0),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
                if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        break;
                rd_kafka_poll(rk, 50);
        }
        ck_assert_msg(!err, "produce to %s: %s", topic, rd_kafka_err2str(err));
        rd_kafka_poll(rk, 0);
}

void ku_send_str(const char *topic, int partition, const char *key,
                 const char *value)
{
        ku_send(topic, partition, key, value, value ? strlen(value) : 0);
}

void ku_flush(void)
{
        if (!producer)
                return;
        rd_kafka_flush(producer, 30000);
        ck_assert_int_eq(rd_kafka_outq_len(producer), 0);
        ck_assert_int_eq(failed_deliveries, 0);
}

static rd_kafka_t *consumer_new(const char *group)
{
        rd_kafka_conf_t *conf = base_conf();
        char e[256];
        rd_kafka_t *rk;

        ck_assert(rd_kafka_conf_set(conf, "group.id", group ? group : "ku-reader",
                                    e, sizeof(e)) == RD_KAFKA_CONF_OK);
        ck_assert(rd_kafka_conf_set(conf, "enable.auto.commit", "false", e,
                                    sizeof(e)) == RD_KAFKA_CONF_OK);
        ck_assert(rd_kafka_conf_set(conf, "session.timeout.ms", "6000", e,
                                    sizeof(e)) == RD_KAFKA_CONF_OK);
        ck_assert(rd_kafka_conf_set(conf, "enable.partition.eof", "true", e,
                                    sizeof(e)) == RD_KAFKA_CONF_OK);
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof(e));
        ck_assert_msg(rk != NULL, "consumer: %s", e);
        return rk;
}

static int partitions_of(rd_kafka_t *rk, const char *topic)
{
        const struct rd_kafka_metadata *md;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        int n = -1;

        ck_assert(rd_kafka_metadata(rk, 0, rkt, &md, 10000) == 0);
        if (md->topic_cnt == 1 && !md->topics[0].err)
                n = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        ck_assert_msg(n > 0, "topic %s has no partitions", topic);
        return n;
}

static char *header(rd_kafka_message_t *m, const char *name)
{
        rd_kafka_headers_t *hdrs = NULL;
        const void *v;
        size_t len;
        char *copy;

        if (rd_kafka_message_headers(m, &hdrs) || !hdrs ||
            rd_kafka_header_get_last(hdrs, name, &v, &len))
                return NULL;
        copy = malloc(len + 1);
        memcpy(copy, v, len);
        copy[len] = '\0';
        return copy;
}

int ku_read_all(const char *topic, ku_msg_t **out)
{
        rd_kafka_t *rk = consumer_new(NULL);
        int parts = partitions_of(rk, topic), n = 0, cap = 64, remaining = 0;
        rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(parts);
        long long *high = calloc((size_t)parts, sizeof(*high));
        ku_msg_t *msgs = calloc((size_t)cap, sizeof(*msgs));
        double waited = 0;

        for (int p = 0; p < parts; p++) {
                long long lo;
                ku_watermarks(topic, p, &lo, &high[p]);
                if (high[p] > lo) {
                        rd_kafka_topic_partition_list_add(list, topic, p)->offset =
                                RD_KAFKA_OFFSET_BEGINNING;
                        remaining++;
                }
        }
        ck_assert(rd_kafka_assign(rk, list) == 0);
        while (remaining > 0 && waited < 30.0) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
                if (!m) {
                        waited += 0.2;
                        continue;
                }
                if (m->err) {
                        rd_kafka_message_destroy(m);
                        continue;
                }
                if (m->offset < high[m->partition]) {
                        ku_msg_t *k;
                        if (n == cap)
                                msgs = realloc(msgs, (size_t)(cap *= 2) * sizeof(*msgs));
                        k = &msgs[n++];
                        memset(k, 0, sizeof(*k));
                        k->partition = m->partition;
                        k->offset = m->offset;
                        if (m->key) {
                                k->key = malloc(m->key_len + 1);
                                memcpy(k->key, m->key, m->key_len);
                                k->key[m->key_len] = '\0';
                        }
                        if (m->payload) {
                                k->value = malloc(m->len + 1);
                                memcpy(k->value, m->payload, m->len);
                                k->value[m->len] = '\0';
                                k->value_len = m->len;
                        }
                        k->h_error = header(m, "civisync-error");
                        k->h_topic = header(m, "civisync-topic");
                        k->h_partition = header(m, "civisync-partition");
                        k->h_offset = header(m, "civisync-offset");
                        k->h_value_bytes = header(m, "civisync-value-bytes");
                        k->h_value_omitted = header(m, "civisync-value-omitted");
                        if (m->offset + 1 == high[m->partition])
                                remaining--;
                }
                rd_kafka_message_destroy(m);
        }
        ck_assert_msg(remaining == 0, "reading %s: %d partition(s) not read to "
                      "the end", topic, remaining);
        rd_kafka_topic_partition_list_destroy(list);
        free(high);
        rd_kafka_destroy(rk);
        *out = msgs;
        return n;
}

void ku_msgs_free(ku_msg_t *msgs, int n)
{
        for (int i = 0; i < n; i++) {
                free(msgs[i].key);
                free(msgs[i].value);
                free(msgs[i].h_error);
                free(msgs[i].h_topic);
                free(msgs[i].h_partition);
                free(msgs[i].h_offset);
                free(msgs[i].h_value_bytes);
                free(msgs[i].h_value_omitted);
        }
        free(msgs);
}

void ku_watermarks(const char *topic, int partition, long long *low,
                   long long *high)
{
        rd_kafka_t *rk = get_producer();
        int64_t lo = -1, hi = -1;
        rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
                rk, topic, partition, &lo, &hi, 10000);

        ck_assert_msg(!err, "watermarks of %s [%d]: %s", topic, partition,
                      rd_kafka_err2str(err));
        *low = lo;
        *high = hi;
}

void ku_commit_group(const char *group, const char *topic, int partitions,
                     long long offset)
{
        rd_kafka_t *rk = consumer_new(group);
        rd_kafka_topic_partition_list_t *list =
                rd_kafka_topic_partition_list_new(partitions);
        rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_t *assigned = NULL;
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;

        for (int p = 0; p < partitions; p++) {
                long long lo, hi;
                ku_watermarks(topic, p, &lo, &hi);
                rd_kafka_topic_partition_list_add(list, topic, p)->offset =
                        offset == -2 ? lo : offset;
        }
        /* The mock cluster refuses a member-less commit for a group it
         * knows ("unknown member"), so join the group (no other member may
         * be active, as for kafka-consumer-groups), then commit. */
        rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
        ck_assert(rd_kafka_subscribe(rk, sub) == 0);
        for (int i = 0; i < 600; i++) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
                if (m)
                        rd_kafka_message_destroy(m);
                if (assigned)
                        rd_kafka_topic_partition_list_destroy(assigned);
                assigned = NULL;
                if (!rd_kafka_assignment(rk, &assigned) && assigned &&
                    assigned->cnt == partitions)
                        break;
        }
        ck_assert_msg(assigned && assigned->cnt == partitions,
                      "group %s: no assignment of %s", group, topic);
        rd_kafka_topic_partition_list_destroy(assigned);
        err = rd_kafka_commit(rk, list, 0);
        ck_assert_msg(!err, "commit for group %s: %s", group, rd_kafka_err2str(err));
        for (int p = 0; p < list->cnt; p++)
                ck_assert_msg(!list->elems[p].err, "commit %s [%d]: %s", topic, p,
                              rd_kafka_err2str(list->elems[p].err));
        rd_kafka_topic_partition_list_destroy(list);
        rd_kafka_topic_partition_list_destroy(sub);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
}

void ku_committed(const char *group, const char *topic, int partitions,
                  long long *offsets, int *metadata_ours)
{
        rd_kafka_t *rk = consumer_new(group);
        rd_kafka_topic_partition_list_t *list =
                rd_kafka_topic_partition_list_new(partitions);
        rd_kafka_resp_err_t err;

        for (int p = 0; p < partitions; p++)
                rd_kafka_topic_partition_list_add(list, topic, p);
        err = rd_kafka_committed(rk, list, 10000);
        ck_assert_msg(!err, "committed: %s", rd_kafka_err2str(err));
        for (int p = 0; p < partitions; p++) {
                offsets[p] = list->elems[p].offset;
                if (metadata_ours)
                        metadata_ours[p] = list->elems[p].metadata_size == 8 &&
                                !memcmp(list->elems[p].metadata, "civisync", 8);
        }
        rd_kafka_topic_partition_list_destroy(list);
        rd_kafka_destroy(rk);
}
