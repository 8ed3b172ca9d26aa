/* dlq.c — reads a dead-letter topic from the beginning to its end, one line per dead letter. */
/*
 * Output (tab-separated): civisync-topic, civisync-partition,
 * civisync-offset, key length, value length, civisync-error. Headers that
 * are missing print as "-". Exit 0 when the whole topic was read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <librdkafka/rdkafka.h>

#include "faults.h"

static void header(rd_kafka_headers_t *hdrs, const char *name, char *out,
                   size_t size)
{
        const void *val;
        size_t len;
        if (!hdrs || rd_kafka_header_get_last(hdrs, name, &val, &len) ||
            !val) {
                snprintf(out, size, "-");
                return;
        }
        if (len >= size)
                len = size - 1;
        memcpy(out, val, len);
        out[len] = '\0';
        for (char *p = out; *p; p++)
                if (*p == '\t' || *p == '\n')
                        *p = ' ';
}

int ft_dlq_main(int argc, char **argv)
{
        char errstr[512], group[64];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_partition_list_t *parts;
        rd_kafka_topic_t *rkt;
        rd_kafka_t *rk;
        int eof = 0, nparts;

        if (argc < 3) {
                fprintf(stderr, "usage: faults-tool dlq BROKERS TOPIC\n");
                return 2;
        }
        snprintf(group, sizeof(group), "faults-dlq-%ld", (long)getpid());
        if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], errstr, sizeof(errstr)) ||
            rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof(errstr)) ||
            rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr)) ||
            rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, sizeof(errstr)) ||
            rd_kafka_conf_set(conf, "fetch.message.max.bytes", "20000000", errstr, sizeof(errstr)) ||
            rd_kafka_conf_set(conf, "receive.message.max.bytes", "100000000", errstr, sizeof(errstr))) {
                fprintf(stderr, "faults-tool dlq: %s\n", errstr);
                return 1;
        }
        if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr)))) {
                fprintf(stderr, "faults-tool dlq: %s\n", errstr);
                return 1;
        }
        rkt = rd_kafka_topic_new(rk, argv[2], NULL);
        if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) || md->topic_cnt != 1 ||
            md->topics[0].err) {
                /* No such topic: no dead letters. */
                if (md)
                        rd_kafka_metadata_destroy(md);
                rd_kafka_topic_destroy(rkt);
                rd_kafka_destroy(rk);
                return 0;
        }
        nparts = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        parts = rd_kafka_topic_partition_list_new(nparts);
        for (int p = 0; p < nparts; p++)
                rd_kafka_topic_partition_list_add(parts, argv[2], p)->offset =
                        RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_assign(rk, parts);
        rd_kafka_topic_partition_list_destroy(parts);
        for (int idle = 0; eof < nparts && idle < 300;) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
                rd_kafka_headers_t *hdrs = NULL;
                char t[300], p[32], o[32], e[2048];
                if (!m) {
                        idle++;
                        continue;
                }
                idle = 0;
                if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        eof++;
                        rd_kafka_message_destroy(m);
                        continue;
                }
                if (m->err) {
                        fprintf(stderr, "faults-tool dlq: %s\n", rd_kafka_message_errstr(m));
                        rd_kafka_message_destroy(m);
                        continue;
                }
                rd_kafka_message_headers(m, &hdrs);
                header(hdrs, "civisync-topic", t, sizeof(t));
                header(hdrs, "civisync-partition", p, sizeof(p));
                header(hdrs, "civisync-offset", o, sizeof(o));
                header(hdrs, "civisync-error", e, sizeof(e));
                printf("%s\t%s\t%s\t%zu\t%zu\t%s\n", t, p, o, m->key_len,
                       m->payload ? m->len : 0, e);
                rd_kafka_message_destroy(m);
        }
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        if (eof < nparts) {
                fprintf(stderr, "faults-tool dlq: %s: did not reach the end of "
                        "every partition\n", argv[2]);
                return 1;
        }
        return 0;
}
