/* loop_int.h — the consumer loop's private state, shared by loop.c, loop_assign.c and loop_topics.c. */
#ifndef CS_LOOP_INT_H
#define CS_LOOP_INT_H

#include <signal.h>
#include <stddef.h>
#include <librdkafka/rdkafka.h>

#include "deadletter.h"
#include "loop.h"
#include "progress.h"

#define RETRY_MAX_BACKOFF_S 30
#define METADATA_TIMEOUT_MS 5000
#define PART_STOPPED (-3)             /* replay_end mark: retention gap, paused */

typedef struct loop_s {
        const cs_consumer_conf_t *conf;
        cs_apply_t *ap;
        rd_kafka_t *rk;
        cs_dlq_t *dlq;
        rd_kafka_message_t **batch;
        size_t batch_n;
        double batch_started;         /* when its first message came */
        rd_kafka_topic_partition_list_t *assigned; /* .opaque: part_state_t */
        int assigned_once;            /* an assignment was received */
        const char *resync_prefix;    /* --resync: rewind this prefix once */
        rd_kafka_topic_partition_list_t *resynced; /* partitions rewound by it */
        char stopped_prefixes[1024];  /* prefixes stopped on error */
        char **topics;                /* the subscription, sorted */
        long long *retention;         /* per topic: tombstone retention in force (s) */
        size_t topic_cnt;
        int topics_known;             /* the brokers answered a metadata request */
        double refreshed_at;          /* last subscription refresh */
        char **noted;                 /* topics already reported missing/retired */
        size_t noted_cnt;
        int failed;
        cs_progress_t progress;
        int progress_started;         /* the first message arrived */
        long long expected;           /* messages to apply, for the ETA */
        long long pending_new;        /* of the partitions being assigned */
        long long applied;
        long long dead_letters;
        double seen_touched;          /* last cs_apply_seen round */
        int seen_due;                 /* a partition reached its end since */
} loop_t;

/* What the loop keeps per assigned partition. */
typedef struct part_state_s {
        int at_eof;
        int stopped;                  /* paused: retention gap (cs_apply_assign) */
        long long replay_end;         /* rewind replay up to here, -1 none */
        long long start;              /* offset assigned from (< 0: logical) */
} part_state_t;

/* Metadata on civisync's own offset commits: a commit without it was made
 * by someone else (kafka-consumer-groups, --resync), see cs_apply_assign. */
#define COMMIT_METADATA "civisync"

/* loop.c */
/* Sleeps up to seconds, in steps, unless the loop is stopping: 0, or -1
 * when it is. */
int lp_sleep_interruptible(int seconds);
/* Applies the buffered batch, then commits its offsets. 0, or -1 with errstr. */
int lp_flush_batch(loop_t *lp, char *errstr, size_t errstr_size);

/* loop_assign.c: the assignment, rebalances, and what a stop leaves unread */
void lp_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                     rd_kafka_topic_partition_list_t *parts, void *opaque);
/* Frees the loop's view of its assignment (and each partition's state). */
void lp_forget_assignment(loop_t *lp);
/* Stopped by SIGINT/SIGTERM (the batch is flushed): logs what is left
 * unread. CS_LOOP_STOPPED when something is, else 0. */
int lp_report_stop(loop_t *lp);

/* loop_topics.c: the subscription */
/* Subscribes to the allowed, existing, not retired topics when they
 * changed. 0, or -1 with errstr. */
int lp_refresh_subscription(loop_t *lp, char *errstr, size_t errstr_size);
/* Frees an array of n NEW strings and the array. */
void lp_free_names(char **names, size_t n);

#endif
