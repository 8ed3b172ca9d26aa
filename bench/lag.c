/* lag.c — bench helper: prints a consumer group's committed offsets, high watermarks and lag for one topic. */
/*
 * Usage: civisync-bench-lag BROKERS GROUP TOPIC
 * Prints one line "lag L committed C high H partitions P uncommitted U" and
 * exits 0, or prints an error on stderr and exits 1. It never joins the group:
 * it only asks the group coordinator for the committed offsets (OffsetFetch),
 * so the running consumer is not disturbed. A partition without a committed
 * offset counts its whole high watermark as lag (and as "uncommitted").
 * Three round trips in all (metadata, OffsetFetch, one ListOffsets for every
 * partition), so polling it is cheap even with many partitions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#define TIMEOUT_MS 5000

int main(int argc, char **argv)
{
        char errstr[512];
        rd_kafka_conf_t *kc;
        rd_kafka_t *rk;
        rd_kafka_topic_t *rkt;
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_partition_list_t *parts = NULL, *ends = NULL;
        long long lag = 0, committed = 0, high_sum = 0;
        int uncommitted = 0, rc = 1;

        if (argc != 4) {
                fprintf(stderr, "usage: %s BROKERS GROUP TOPIC\n", argv[0]);
                return 2;
        }
        kc = rd_kafka_conf_new();
        if (rd_kafka_conf_set(kc, "bootstrap.servers", argv[1], errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK ||
            rd_kafka_conf_set(kc, "group.id", argv[2], errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK ||
            rd_kafka_conf_set(kc, "enable.auto.commit", "false", errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK ||
            rd_kafka_conf_set(kc, "log_level", "3", errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK) {
                fprintf(stderr, "lag: %s\n", errstr);
                rd_kafka_conf_destroy(kc);
                return 1;
        }
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, sizeof(errstr));
        if (!rk) {
                fprintf(stderr, "lag: %s\n", errstr);
                rd_kafka_conf_destroy(kc);
                return 1;
        }
        rkt = rd_kafka_topic_new(rk, argv[3], NULL);
        if (!rkt || rd_kafka_metadata(rk, 0, rkt, &md, TIMEOUT_MS) !=
                            RD_KAFKA_RESP_ERR_NO_ERROR ||
            md->topic_cnt != 1 || md->topics[0].err) {
                fprintf(stderr, "lag: no metadata for topic %s\n", argv[3]);
                goto done;
        }
        parts = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
        for (int i = 0; i < md->topics[0].partition_cnt; i++)
                rd_kafka_topic_partition_list_add(parts, argv[3],
                                                  md->topics[0].partitions[i].id);
        if (rd_kafka_committed(rk, parts, TIMEOUT_MS)) {
                fprintf(stderr, "lag: cannot fetch committed offsets of %s\n",
                        argv[2]);
                goto done;
        }
        /* All high watermarks in one ListOffsets round trip: "timestamp"
         * RD_KAFKA_OFFSET_END asks for the end offset of each partition. */
        ends = rd_kafka_topic_partition_list_copy(parts);
        for (int i = 0; i < ends->cnt; i++)
                ends->elems[i].offset = RD_KAFKA_OFFSET_END;
        if (rd_kafka_offsets_for_times(rk, ends, TIMEOUT_MS)) {
                fprintf(stderr, "lag: cannot list the end offsets of %s\n",
                        argv[3]);
                goto done;
        }
        for (int i = 0; i < parts->cnt; i++) {
                rd_kafka_topic_partition_t *p = &parts->elems[i];
                rd_kafka_topic_partition_t *e = rd_kafka_topic_partition_list_find(
                        ends, argv[3], p->partition);
                int64_t high = e ? e->offset : -1;
                if (!e || e->err || high < 0) {
                        fprintf(stderr, "lag: no end offset for %s [%d]\n",
                                argv[3], (int)p->partition);
                        goto done;
                }
                high_sum += high;
                if (p->offset < 0) {
                        uncommitted++;
                        lag += high;
                } else {
                        committed += p->offset;
                        lag += high > p->offset ? high - p->offset : 0;
                }
        }
        printf("lag %lld committed %lld high %lld partitions %d uncommitted %d\n",
               lag, committed, high_sum, parts->cnt, uncommitted);
        rc = 0;
done:
        if (ends)
                rd_kafka_topic_partition_list_destroy(ends);
        if (parts)
                rd_kafka_topic_partition_list_destroy(parts);
        if (md)
                rd_kafka_metadata_destroy(md);
        if (rkt)
                rd_kafka_topic_destroy(rkt);
        rd_kafka_destroy(rk);
        return rc;
}
