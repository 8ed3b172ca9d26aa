/* loop.c — the consumer-group loop: batches, DB commit, then offset commit. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "deadletter.h"
#include "kafka.h"
#include "log.h"
#include "loop.h"
#include "progress.h"
#include "topics.h"

#define ONCE_ASSIGN_WAIT_S 60.0
#define RETRY_MAX_BACKOFF_S 30
/* A batch is applied once no message came for BATCH_IDLE_MS, or when its
 * first message is BATCH_MAX_AGE_S old, or when it is full: a steady
 * trickle (the producer's --follow mode) is applied within a fraction of a
 * second instead of waiting for batch_documents messages. */
#define BATCH_IDLE_MS 20
#define BATCH_MAX_AGE_S 0.1
#define SUBSCRIPTION_REFRESH_S 10.0
#define METADATA_TIMEOUT_MS 5000
#define SEEN_INTERVAL_S 60.0          /* idle at the end: civisync_offset.seen_at */
#define PART_STOPPED (-3)             /* replay_end mark: retention gap, paused */

static volatile sig_atomic_t loop_stopping;

int cs_loop_stopping(void)
{
        return loop_stopping != 0;
}

void cs_loop_stop(void)
{
        loop_stopping = 1;
}

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

static part_state_t *part_state(loop_t *lp, const char *topic, int32_t partition)
{
        rd_kafka_topic_partition_t *tp;

        if (!lp->assigned)
                return NULL;
        tp = rd_kafka_topic_partition_list_find(lp->assigned, topic, partition);
        return tp ? tp->opaque : NULL;
}

static int sleep_interruptible(int seconds)
{
        for (int i = 0; i < seconds * 10 && !loop_stopping; i++)
                usleep(100000);
        return loop_stopping ? -1 : 0;
}

/* Applies messages[0..n) in one transaction, retrying transient failures
 * with backoff and reconnect. Rejected messages go to the dead-letter
 * topic (flushed before returning). Returns 0, or -1 when stopping. */
static int apply_messages(loop_t *lp, rd_kafka_message_t **msgs, size_t n,
                          char *errstr, size_t errstr_size)
{
        char **rejected = calloc(n + 1, sizeof(*rejected)); /* why, per message */
        char (*prefixes)[CS_PREFIX_MAX + 1] = calloc(n + 1, sizeof(*prefixes));
        char **bad_topic = calloc(n + 1, sizeof(*bad_topic)); /* why a message's
                                        topic is not applied here, or NULL */
        cs_apply_msg_t *amsg = calloc(n + 1, sizeof(*amsg));
        size_t *amsg_of = calloc(n + 1, sizeof(*amsg_of)), amsg_n = 0;
        int backoff = 1, rc_out = -1;

        if (!rejected || !prefixes || !bad_topic || !amsg || !amsg_of) {
                snprintf(errstr, errstr_size, "out of memory");
                goto done;
        }
        /* Each message's prefix, from its topic, once for every attempt. */
        for (size_t i = 0; i < n; i++) {
                char why[512];
                if ((cs_kafka_prefix_from_topic(rd_kafka_topic_name(msgs[i]->rkt),
                                                lp->conf->kafka.topic_prefix,
                                                prefixes[i], why,
                                                sizeof(why)) == -1 ||
                     (!cs_conf_prefix_allowed(lp->conf, prefixes[i]) &&
                      snprintf(why, sizeof(why), "prefix '%s' is not in the "
                               "consumer's prefixes list", prefixes[i]) > 0)) &&
                    !(bad_topic[i] = strdup(why))) {
                        snprintf(errstr, errstr_size, "out of memory");
                        goto done;
                }
        }
        for (;;) {
                cs_apply_rc_t rc = CS_APPLY_OK;
                char why[1024];

                for (size_t i = 0; i < n; i++) {
                        free(rejected[i]);
                        rejected[i] = NULL;
                }
                amsg_n = 0;
                for (size_t i = 0; i < n && rc == CS_APPLY_OK; i++) {
                        if (!bad_topic[i])
                                rc = cs_apply_prepare_prefix(lp->ap, prefixes[i],
                                                             why, sizeof(why));
                        if (rc == CS_APPLY_REJECTED)
                                rc = CS_APPLY_OK; /* reported per message below */
                }
                if (rc == CS_APPLY_OK)
                        rc = cs_apply_begin(lp->ap, why, sizeof(why));
                /* Messages of a prefix this consumer may apply go to the
                 * apply layer, in order; the others are rejected here. */
                for (size_t i = 0, k = 0; i < n && rc == CS_APPLY_OK; i++) {
                        rd_kafka_message_t *m = msgs[i];
                        const char *topic = rd_kafka_topic_name(m->rkt);
                        part_state_t *ps;

                        if (bad_topic[i]) {
                                if (!(rejected[i] = strdup(bad_topic[i]))) {
                                        snprintf(errstr, errstr_size, "out of memory");
                                        cs_apply_rollback(lp->ap);
                                        goto done;
                                }
                                continue;
                        }
                        ps = part_state(lp, topic, m->partition);
                        amsg[k] = (cs_apply_msg_t){
                                .prefix = prefixes[i],
                                .key = m->key, .key_len = m->key_len,
                                .value = m->payload,
                                .value_len = m->payload ? m->len : 0,
                                .flags = ps && m->offset < ps->replay_end ?
                                         CS_APPLY_F_HISTORICAL : 0 };
                        amsg_of[k++] = i;
                        amsg_n = k;
                }
                if (rc == CS_APPLY_OK)
                        rc = cs_apply_messages(lp->ap, amsg, amsg_n, why,
                                               sizeof(why));
                for (size_t k = 0; k < amsg_n; k++) {
                        rejected[amsg_of[k]] = amsg[k].rejected;
                        amsg[k].rejected = NULL;
                }
                /* In the same transaction: the dead letters' record and the
                 * applied offset of every partition of the batch. */
                for (size_t i = 0; i < n && rc == CS_APPLY_OK; i++) {
                        rd_kafka_message_t *m = msgs[i];
                        const char *topic = rd_kafka_topic_name(m->rkt);
                        const char *prefix = prefixes[i];
                        int known = !bad_topic[i], last = 1;

                        if (rejected[i])
                                rc = cs_apply_dead_letter(lp->ap, known ? prefix : NULL,
                                                          topic, m->partition,
                                                          m->offset, m->key,
                                                          m->key_len, rejected[i],
                                                          why, sizeof(why));
                        for (size_t j = i + 1; j < n && last; j++)
                                if (msgs[j]->rkt == m->rkt &&
                                    msgs[j]->partition == m->partition)
                                        last = 0;
                        if (rc == CS_APPLY_OK && known && last)
                                rc = cs_apply_offset(lp->ap, prefix, topic,
                                                     m->partition, m->offset + 1,
                                                     why, sizeof(why));
                        if (rc == CS_APPLY_REJECTED)
                                /* A refused prefix (a case twin): its messages
                                 * are dead-lettered above with the reason and
                                 * the master keeps no applied offset for it. */
                                rc = CS_APPLY_OK;
                }
                if (rc == CS_APPLY_OK)
                        rc = cs_apply_commit(lp->ap, why, sizeof(why));
                if (rc == CS_APPLY_OK)
                        break;
                /* Transient: nothing of this batch stays; try again. */
                cs_apply_rollback(lp->ap);
                cs_warn("master database: %s; retrying the batch of %zu in %d s",
                        why, n, backoff);
                if (sleep_interruptible(backoff) == -1) {
                        snprintf(errstr, errstr_size, "stopped while retrying: %s",
                                 why);
                        goto done;
                }
                backoff = backoff * 2 > RETRY_MAX_BACKOFF_S ? RETRY_MAX_BACKOFF_S :
                          backoff * 2;
                if (cs_apply_reconnect(lp->ap, why, sizeof(why)) == -1)
                        cs_warn("reconnect to the master failed: %s", why);
        }
        /* The batch is committed: now the dead letters, delivered before the
         * offsets are committed (a failure here means the batch is re-read,
         * re-applied harmlessly and its dead letters sent again). */
        for (size_t i = 0; i < n; i++) {
                rd_kafka_message_t *m = msgs[i];
                const char *topic = rd_kafka_topic_name(m->rkt);
                if (!rejected[i])
                        continue;
                cs_error("%s [%d] offset %lld (key %.*s): rejected to %s: %s",
                         topic, (int)m->partition, (long long)m->offset,
                         (int)(m->key_len > 120 ? 120 : m->key_len),
                         m->key ? (const char *)m->key : "",
                         lp->conf->kafka.dead_letter_topic, rejected[i]);
                if (cs_dlq_send(lp->dlq, topic, m->partition, m->offset, m->key,
                                m->key_len, m->payload, m->len, rejected[i],
                                errstr, errstr_size) == -1)
                        goto done;
                lp->dead_letters++;
        }
        if (cs_dlq_flush(lp->dlq, 60000, errstr, errstr_size) == -1)
                goto done;
        lp->applied += (long long)n;
        rc_out = 0;
done:
        for (size_t i = 0; rejected && i < n; i++)
                free(rejected[i]);
        for (size_t i = 0; bad_topic && i < n; i++)
                free(bad_topic[i]);
        free(bad_topic);
        for (size_t k = 0; amsg && k < amsg_n; k++)
                free(amsg[k].rejected);
        free(rejected);
        free(prefixes);
        free(amsg);
        free(amsg_of);
        return rc_out;
}

/* Applies the buffered batch, then commits its offsets (only after the DB
 * transaction committed). */
static int flush_batch(loop_t *lp, char *errstr, size_t errstr_size)
{
        rd_kafka_topic_partition_list_t *offsets;
        rd_kafka_resp_err_t err;
        int rc = 0;

        if (lp->batch_n == 0)
                return 0;
        if (apply_messages(lp, lp->batch, lp->batch_n, errstr, errstr_size) == -1)
                rc = -1;
        if (rc == 0) {
                offsets = rd_kafka_topic_partition_list_new((int)lp->batch_n);
                for (size_t i = 0; i < lp->batch_n; i++) {
                        rd_kafka_message_t *m = lp->batch[i];
                        rd_kafka_topic_partition_t *tp =
                                rd_kafka_topic_partition_list_find(
                                        offsets, rd_kafka_topic_name(m->rkt),
                                        m->partition);
                        if (!tp) {
                                tp = rd_kafka_topic_partition_list_add(
                                        offsets, rd_kafka_topic_name(m->rkt),
                                        m->partition);
                                tp->metadata = strdup(COMMIT_METADATA);
                                tp->metadata_size = tp->metadata ?
                                                    strlen(COMMIT_METADATA) : 0;
                        }
                        tp->offset = m->offset + 1;
                }
                err = rd_kafka_commit(lp->rk, offsets, 0);
                rd_kafka_topic_partition_list_destroy(offsets);
                if (err) {
                        /* Applied but not committed: a restart re-applies,
                         * which is harmless. */
                        cs_warn("offset commit failed: %s (the batch will be "
                                "re-applied after a restart, harmlessly)",
                                rd_kafka_err2str(err));
                }
        }
        for (size_t i = 0; i < lp->batch_n; i++)
                rd_kafka_message_destroy(lp->batch[i]);
        lp->batch_n = 0;
        cs_progress_update(&lp->progress, lp->applied);
        return rc;
}

static void free_states(rd_kafka_topic_partition_list_t *parts)
{
        for (int i = 0; parts && i < parts->cnt; i++) {
                free(parts->elems[i].opaque);
                parts->elems[i].opaque = NULL;
        }
}

/* Adds (add=1) or removes partitions from the loop's view of its
 * assignment; new entries get a fresh part_state_t. */
static void track_assignment(loop_t *lp,
                             const rd_kafka_topic_partition_list_t *parts,
                             const long long *replay_end, int add)
{
        if (!lp->assigned)
                lp->assigned = rd_kafka_topic_partition_list_new(parts ? parts->cnt : 1);
        for (int i = 0; parts && i < parts->cnt; i++) {
                const rd_kafka_topic_partition_t *p = &parts->elems[i];
                rd_kafka_topic_partition_t *tp =
                        rd_kafka_topic_partition_list_find(lp->assigned, p->topic,
                                                           p->partition);
                if (!add) {
                        if (tp) {
                                free(tp->opaque);
                                tp->opaque = NULL;
                                rd_kafka_topic_partition_list_del(lp->assigned,
                                                                  p->topic,
                                                                  p->partition);
                        }
                        continue;
                }
                if (!tp)
                        tp = rd_kafka_topic_partition_list_add(lp->assigned,
                                                               p->topic,
                                                               p->partition);
                if (!tp->opaque)
                        tp->opaque = calloc(1, sizeof(part_state_t));
                if (tp->opaque) {
                        part_state_t *ps = tp->opaque;
                        ps->replay_end = replay_end ? replay_end[i] : -1;
                        ps->start = p->offset;
                        if (ps->replay_end == PART_STOPPED) {
                                ps->replay_end = -1;
                                ps->stopped = ps->at_eof = 1;
                        }
                }
        }
}

static void forget_assignment(loop_t *lp)
{
        free_states(lp->assigned);
        if (lp->assigned)
                rd_kafka_topic_partition_list_destroy(lp->assigned);
        lp->assigned = NULL;
}

static int partition_count(rd_kafka_t *rk, const char *topic)
{
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        int cnt = -1;

        if (!rkt)
                return -1;
        if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                if (md->topic_cnt == 1 && !md->topics[0].err)
                        cnt = md->topics[0].partition_cnt;
                rd_kafka_metadata_destroy(md);
        }
        rd_kafka_topic_destroy(rkt);
        return cnt;
}

/* The tombstone retention in force for a subscribed topic (see
 * topic_retention); tombstone_retention_seconds for any other. */
static long long retention_of(const loop_t *lp, const char *topic)
{
        for (size_t i = 0; lp->retention && i < lp->topic_cnt; i++)
                if (!strcmp(lp->topics[i], topic))
                        return lp->retention[i];
        return lp->conf->tombstone_retention_seconds;
}

/* Decides each newly assigned partition's start offset with the master's
 * civisync_offset (cs_apply_assign), retrying DB errors with backoff. */
static void decide_starts(loop_t *lp, rd_kafka_topic_partition_list_t *parts,
                          long long *replay_end)
{
        rd_kafka_resp_err_t err = rd_kafka_committed(lp->rk, parts, 10000);

        if (err)
                cs_warn("reading the group's committed offsets: %s (the "
                        "master's applied offsets decide)", rd_kafka_err2str(err));
        for (int i = 0; i < parts->cnt; i++) {
                rd_kafka_topic_partition_t *p = &parts->elems[i];
                char prefix[CS_PREFIX_MAX + 1], why[1024];
                int64_t low = -1, high = -1;
                long long committed = err ? -1 : p->offset, start = 0;
                int ours = p->metadata_size == strlen(COMMIT_METADATA) &&
                           !memcmp(p->metadata, COMMIT_METADATA, p->metadata_size);
                int backoff = 1, count;

                replay_end[i] = -1;
                if (committed < 0)
                        committed = -1;
                if (cs_kafka_prefix_from_topic(p->topic, lp->conf->kafka.topic_prefix,
                                               prefix, why, sizeof(why)) == -1 ||
                    !cs_conf_prefix_allowed(lp->conf, prefix)) {
                        /* Its messages will be dead-lettered. */
                        p->offset = committed >= 0 ? committed :
                                    RD_KAFKA_OFFSET_BEGINNING;
                        continue;
                }
                if (rd_kafka_query_watermark_offsets(lp->rk, p->topic, p->partition,
                                                     &low, &high, 10000)) {
                        low = high = -1;
                }
                if (lp->resync_prefix && !strcmp(prefix, lp->resync_prefix) &&
                    !rd_kafka_topic_partition_list_find(lp->resynced, p->topic,
                                                        p->partition)) {
                        /* --resync: the same as an operator's
                         * --reset-offsets --to-earliest. */
                        rd_kafka_topic_partition_list_add(lp->resynced, p->topic,
                                                          p->partition);
                        committed = low >= 0 ? low : 0;
                        ours = 0;
                }
                count = partition_count(lp->rk, p->topic);
                for (;;) {
                        cs_apply_rc_t rc = cs_apply_assign(
                                lp->ap, prefix, p->topic, p->partition,
                                count > 0 ? count : parts->cnt, committed, ours,
                                low, high, retention_of(lp, p->topic), &start,
                                &replay_end[i], why, sizeof(why));
                        if (rc == CS_APPLY_OK)
                                break;
                        if (rc == CS_APPLY_REJECTED) {
                                /* The master refuses this prefix (a case
                                 * twin of one it has): its messages are
                                 * dead-lettered, each with the reason. */
                                cs_error("%s [%d]: %s", p->topic,
                                         (int)p->partition, why);
                                start = committed >= 0 ? committed :
                                        RD_KAFKA_OFFSET_BEGINNING;
                                break;
                        }
                        if (rc == CS_APPLY_STOPPED) {
                                /* Retention gap: this partition stays paused. */
                                size_t used = strlen(lp->stopped_prefixes);
                                cs_error("%s", why);
                                snprintf(lp->stopped_prefixes + used,
                                         sizeof(lp->stopped_prefixes) - used,
                                         "%s%s", used ? ", " : "", p->topic);
                                replay_end[i] = PART_STOPPED;
                                lp->failed = 1;
                                break;
                        }
                        cs_warn("master database: %s; retrying the assignment "
                                "of %s [%d] in %d s", why, p->topic,
                                (int)p->partition, backoff);
                        if (sleep_interruptible(backoff) == -1) {
                                /* Stopping: resume where the group is. */
                                start = committed >= 0 ? committed :
                                        RD_KAFKA_OFFSET_BEGINNING;
                                break;
                        }
                        backoff = backoff * 2 > RETRY_MAX_BACKOFF_S ?
                                  RETRY_MAX_BACKOFF_S : backoff * 2;
                        if (cs_apply_reconnect(lp->ap, why, sizeof(why)) == -1)
                                cs_warn("reconnect to the master failed: %s", why);
                }
                p->offset = start;
                if (high >= 0) {
                        long long from = start >= 0 ? start : low >= 0 ? low : 0;
                        if (high > from)
                                lp->pending_new += high - from;
                }
                cs_info("assigned %s [%d] from offset %lld%s", p->topic,
                        (int)p->partition, (long long)p->offset,
                        replay_end[i] >= 0 ? " (rewind replay)" : "");
        }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
        loop_t *lp = opaque;
        char errstr[512];
        int cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
        rd_kafka_error_t *error = NULL;

        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                long long *replay_end = calloc((size_t)parts->cnt + 1,
                                               sizeof(*replay_end));
                if (!replay_end) {
                        cs_error("out of memory on assignment");
                        lp->failed = 1;
                        cs_loop_stop();
                        return;
                }
                decide_starts(lp, parts, replay_end);
                /* The progress line's total: what the assigned partitions
                 * hold beyond their start offsets. */
                lp->expected = (cooperative ? lp->expected : lp->applied) +
                               lp->pending_new;
                lp->pending_new = 0;
                cs_progress_set_total(&lp->progress, lp->expected);
                /* The offsets are explicit: auto.offset.reset=error keeps a
                 * lost offset from being skipped silently. */
                if (cooperative)
                        error = rd_kafka_incremental_assign(rk, parts);
                else
                        rd_kafka_assign(rk, parts);
                if (!cooperative)
                        forget_assignment(lp);
                track_assignment(lp, parts, replay_end, 1);
                for (int i = 0; i < parts->cnt; i++)
                        if (replay_end[i] == PART_STOPPED) {
                                rd_kafka_topic_partition_list_t *one =
                                        rd_kafka_topic_partition_list_new(1);
                                rd_kafka_topic_partition_list_add(
                                        one, parts->elems[i].topic,
                                        parts->elems[i].partition);
                                rd_kafka_pause_partitions(rk, one);
                                rd_kafka_topic_partition_list_destroy(one);
                        }
                free(replay_end);
                lp->assigned_once = 1;
        } else {
                /* Finish what we hold (applied and committed, or rolled
                 * back when that is impossible), then let go. */
                if (flush_batch(lp, errstr, sizeof(errstr)) == -1) {
                        cs_error("on revoke: %s", errstr);
                        lp->failed = 1;
                }
                cs_info("partitions revoked (%d)%s", parts->cnt,
                        rd_kafka_assignment_lost(rk) ? ": assignment lost" : "");
                if (cooperative) {
                        error = rd_kafka_incremental_unassign(rk, parts);
                        track_assignment(lp, parts, NULL, 0);
                } else {
                        rd_kafka_assign(rk, NULL);
                        forget_assignment(lp);
                }
        }
        if (error) {
                cs_error("incremental rebalance: %s", rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
                lp->failed = 1;
        }
}

/* Records on the master that the partitions standing at their end were
 * seen there now (civisync_offset.seen_at: the retention-gap check of
 * cs_apply_assign measures from it): when one reached its end, and every
 * SEEN_INTERVAL_S while idle. Outside any batch. */
static void touch_seen(loop_t *lp)
{
        double now = cs_progress_now();

        if (!lp->assigned || (!lp->seen_due && now - lp->seen_touched < SEEN_INTERVAL_S))
                return;
        lp->seen_due = 0;
        lp->seen_touched = now;
        for (int i = 0; i < lp->assigned->cnt; i++) {
                const rd_kafka_topic_partition_t *tp = &lp->assigned->elems[i];
                const part_state_t *ps = tp->opaque;
                char why[512];
                if (ps && ps->at_eof && !ps->stopped &&
                    cs_apply_seen(lp->ap, tp->topic, tp->partition, why,
                                  sizeof(why)) != CS_APPLY_OK)
                        cs_debug("%s [%d]: seen_at not recorded: %s", tp->topic,
                                 (int)tp->partition, why);
        }
}

static int all_at_eof(const loop_t *lp)
{
        if (!lp->assigned)
                return 0;
        for (int i = 0; i < lp->assigned->cnt; i++) {
                const part_state_t *ps = lp->assigned->elems[i].opaque;
                if (ps && !ps->at_eof)
                        return 0;
        }
        return 1;
}

static void mark_eof(loop_t *lp, const char *topic, int32_t partition, int eof)
{
        part_state_t *ps = part_state(lp, topic, partition);
        if (ps)
                ps->at_eof = eof;
}

/* The committed offset is gone from the broker: stop this prefix. */
static void stop_partition(loop_t *lp, rd_kafka_message_t *m)
{
        rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
        const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "?";
        size_t used = strlen(lp->stopped_prefixes);

        rd_kafka_topic_partition_list_add(one, topic, m->partition);
        rd_kafka_pause_partitions(lp->rk, one);
        rd_kafka_topic_partition_list_destroy(one);
        cs_error("%s [%d]: the offset to resume from is no longer on the broker "
                 "(%s). Nothing was skipped: this prefix is stopped. Run a "
                 "complete sync on the child (civisync-produce --complete), then "
                 "reset this group's offsets for %s to the beginning "
                 "(civisync-consume --resync, or kafka-consumer-groups "
                 "--reset-offsets --to-earliest)", topic, (int)m->partition,
                 rd_kafka_message_errstr(m), topic);
        snprintf(lp->stopped_prefixes + used, sizeof(lp->stopped_prefixes) - used,
                 "%s%s", used ? ", " : "", topic);
        mark_eof(lp, topic, m->partition, 1);
        {
                part_state_t *ps = part_state(lp, topic, m->partition);
                if (ps)
                        ps->stopped = 1; /* no seen_at while stopped */
        }
        lp->failed = 1;
}

/* The consumer's librdkafka configuration (NEW: rd_kafka_new takes it), or
 * NULL with errstr. */
static rd_kafka_conf_t *consumer_conf(loop_t *lp, char *errstr,
                                      size_t errstr_size)
{
        const cs_consumer_conf_t *conf = lp->conf;
        rd_kafka_conf_t *kconf;
        /* civisync's delivery contract; not overridable. */
        static const char *const contract[][2] = {
                { "enable.auto.commit", "false" },
                { "enable.auto.offset.store", "false" },
                { "auto.offset.reset", "error" },
                { "enable.partition.eof", "true" },
                { "topic.metadata.refresh.interval.ms", "10000" },
        };
        /* Defaults that kafka.properties may override: a shorter session
         * than librdkafka's 45 s lets a restarted --once run rejoin quickly;
         * a bounded read-ahead (librdkafka would queue up to 64 MB) keeps
         * the consumer's memory flat however large the backlog. The
         * read-ahead is bounded by bytes only: a per-partition message
         * floor as low as librdkafka's own makes it stop and start fetching
         * every few hundred documents, and the consumer then spends a third
         * of a complete sync waiting for fetches. A fetch that finds
         * nothing new waits at most 50 ms (librdkafka: 500): a broker that
         * holds a fetch that long (the embedded test broker does) would
         * otherwise add up to half a second to the real-time (--follow)
         * latency; idle, that is 20 small requests a second. */
        static const char *const tunables[][2] = {
                { "session.timeout.ms", "10000" },
                { "fetch.wait.max.ms", "50" },
                { "queued.max.messages.kbytes", "4096" },
                { "queued.min.messages", "1000000" },
        };

        if (!(kconf = cs_kafka_conf_new(&conf->kafka, errstr, errstr_size)))
                return NULL;
        if (rd_kafka_conf_set(kconf, "group.id", conf->kafka.group, errstr,
                              errstr_size) != RD_KAFKA_CONF_OK ||
            cs_kafka_conf_set_pairs(kconf, &conf->kafka, contract,
                                    sizeof(contract) / sizeof(contract[0]), 0,
                                    errstr, errstr_size) == -1 ||
            cs_kafka_conf_set_pairs(kconf, &conf->kafka, tunables,
                                    sizeof(tunables) / sizeof(tunables[0]), 1,
                                    errstr, errstr_size) == -1) {
                rd_kafka_conf_destroy(kconf);
                return NULL;
        }
        rd_kafka_conf_set_rebalance_cb(kconf, rebalance_cb);
        rd_kafka_conf_set_opaque(kconf, lp);
        return kconf;
}

static void free_names(char **names, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
}

static int cmp_names(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Logs text about topic once per run (missing or retired topics would
 * otherwise repeat at every refresh). */
static void note_once(loop_t *lp, const char *topic, const char *text)
{
        char **grown;

        for (size_t i = 0; i < lp->noted_cnt; i++)
                if (!strcmp(lp->noted[i], topic))
                        return;
        cs_warn("%s", text);
        if ((grown = realloc(lp->noted, (lp->noted_cnt + 1) * sizeof(*grown)))) {
                lp->noted = grown;
                if ((lp->noted[lp->noted_cnt] = strdup(topic)))
                        lp->noted_cnt++;
        }
}

/* The topics to consume, from the brokers' metadata: every topic of an
 * allowed prefix (the allow-list, or every topic under the topic prefix
 * when it is empty) that exists and is not retired. A topic is never
 * subscribed before it exists, so a typo in `prefixes` is reported as
 * such instead of being auto-created by a broker that does so. *out is a
 * NEW sorted array. 0, or -1 when the brokers did not answer. */
static int wanted_topics(loop_t *lp, char ***out, size_t *cnt)
{
        const cs_consumer_conf_t *conf = lp->conf;
        const struct rd_kafka_metadata *md = NULL;
        char **names = NULL, text[512], topic[256], why[256];
        size_t n = 0;

        *out = NULL;
        *cnt = 0;
        if (rd_kafka_metadata(lp->rk, 1, NULL, &md, METADATA_TIMEOUT_MS))
                return -1;
        names = calloc((size_t)md->topic_cnt + 1, sizeof(*names));
        for (int i = 0; names && i < md->topic_cnt; i++) {
                const char *t = md->topics[i].topic;
                char prefix[CS_PREFIX_MAX + 1];

                /* A transient error (no leader during a broker restart)
                 * keeps the topic; only an unknown one is left out. */
                if (md->topics[i].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                    !strcmp(t, conf->kafka.dead_letter_topic) ||
                    cs_kafka_prefix_from_topic(t, conf->kafka.topic_prefix,
                                               prefix, why, sizeof(why)) == -1 ||
                    !cs_conf_prefix_allowed(conf, prefix))
                        continue;
                if (cs_conf_prefix_retired(conf, prefix)) {
                        snprintf(text, sizeof(text), "prefix %s is retired "
                                 "(retired_prefixes): topic %s is not consumed",
                                 prefix, t);
                        note_once(lp, t, text);
                        continue;
                }
                if ((names[n] = strdup(t)))
                        n++;
        }
        for (size_t i = 0; i < conf->prefix_cnt; i++) {
                int found = 0;
                if (cs_conf_prefix_retired(conf, conf->prefixes[i]) ||
                    cs_kafka_topic_name(topic, sizeof(topic),
                                        conf->kafka.topic_prefix,
                                        conf->prefixes[i], why,
                                        sizeof(why)) == -1)
                        continue;
                for (int t = 0; t < md->topic_cnt && !found; t++)
                        found = md->topics[t].err !=
                                RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART &&
                                !strcmp(md->topics[t].topic, topic);
                if (!found) {
                        snprintf(text, sizeof(text), "prefix %s: topic %s does "
                                 "not exist (a typo in `prefixes`, or no topic "
                                 "created for it yet: civisync-topics create "
                                 "%s); it is consumed once it exists",
                                 conf->prefixes[i], topic, conf->prefixes[i]);
                        note_once(lp, topic, text);
                }
        }
        rd_kafka_metadata_destroy(md);
        if (names)
                qsort(names, n, sizeof(*names), cmp_names);
        *out = names;
        *cnt = n;
        return 0;
}

/* The tombstone retention (s) the retention-gap check uses for topic:
 * the smaller of tombstone_retention_seconds and the topic's
 * delete.retention.ms as the cluster tells it (DescribeConfigs); the
 * configured value alone when the cluster cannot say (the embedded broker
 * has no controller) or does not answer. One line per topic says which. */
static long long topic_retention(loop_t *lp, const char *topic)
{
        long long conf_s = lp->conf->tombstone_retention_seconds, ms = -1, chosen;
        const char *source;
        char why[512];
        int rc;

        if (conf_s <= 0)
                return conf_s;
        rc = cs_topics_delete_retention_ms(lp->rk, topic, METADATA_TIMEOUT_MS, &ms,
                                           why, sizeof(why));
        if (rc != 0) {
                cs_log(rc == 1 ? CS_LOG_INFO : CS_LOG_WARN, "%s: the topic's "
                       "delete.retention.ms could not be read (%s): the "
                       "retention-gap check uses tombstone_retention_seconds "
                       "= %lld s", topic, why, conf_s);
                return conf_s;
        }
        chosen = cs_topics_retention_choose(conf_s, ms, &source);
        cs_info("%s: the retention-gap check uses %lld s from %s (the topic's "
                "delete.retention.ms = %lld ms, tombstone_retention_seconds = "
                "%lld s; the smaller wins)", topic, chosen, source, ms, conf_s);
        return chosen;
}

/* Subscribes to wanted_topics when they changed (at start, then every
 * SUBSCRIPTION_REFRESH_S: new children's topics join). Brokers that do not
 * answer leave the subscription as it is. 0, or -1 with errstr. */
static int refresh_subscription(loop_t *lp, char *errstr, size_t errstr_size)
{
        rd_kafka_topic_partition_list_t *subs;
        rd_kafka_resp_err_t err;
        char **names, list[1024] = "";
        long long *retention;
        size_t n, used = 0;
        int same;

        lp->refreshed_at = cs_progress_now();
        if (wanted_topics(lp, &names, &n) == -1)
                return 0;
        lp->topics_known = 1;
        same = n == lp->topic_cnt;
        for (size_t i = 0; same && i < n; i++)
                same = !strcmp(names[i], lp->topics[i]);
        if (same) {
                free_names(names, n);
                return 0;
        }
        subs = rd_kafka_topic_partition_list_new(n ? (int)n : 1);
        for (size_t i = 0; i < n; i++) {
                rd_kafka_topic_partition_list_add(subs, names[i],
                                                  RD_KAFKA_PARTITION_UA);
                if (used < sizeof(list))
                        used += (size_t)snprintf(list + used, sizeof(list) - used,
                                                 "%s%s", i ? ", " : "", names[i]);
        }
        err = n ? rd_kafka_subscribe(lp->rk, subs) : rd_kafka_unsubscribe(lp->rk);
        rd_kafka_topic_partition_list_destroy(subs);
        if (err) {
                free_names(names, n);
                snprintf(errstr, errstr_size, "subscribe failed: %s",
                         rd_kafka_err2str(err));
                return -1;
        }
        cs_info("subscribed to %zu topic(s)%s%s", n, n ? ": " : "", list);
        /* Topics already subscribed keep their retention (logged once). */
        retention = calloc(n + 1, sizeof(*retention));
        for (size_t i = 0; retention && i < n; i++) {
                retention[i] = -1;
                for (size_t j = 0; lp->retention && j < lp->topic_cnt; j++)
                        if (!strcmp(names[i], lp->topics[j]))
                                retention[i] = lp->retention[j];
                if (retention[i] < 0)
                        retention[i] = topic_retention(lp, names[i]);
        }
        free_names(lp->topics, lp->topic_cnt);
        free(lp->retention);
        lp->topics = names;
        lp->retention = retention;
        lp->topic_cnt = n;
        return 0;
}

/* Handles one polled message or event (m is owned). 0, or -1 with errstr. */
static int on_message(loop_t *lp, rd_kafka_message_t *m, char *errstr,
                      size_t errstr_size)
{
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                mark_eof(lp, rd_kafka_topic_name(m->rkt), m->partition, 1);
                lp->seen_due = 1;
                rd_kafka_message_destroy(m);
                return 0;
        }
        if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
            m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
                int rc = flush_batch(lp, errstr, errstr_size);
                if (rc == 0)
                        stop_partition(lp, m);
                rd_kafka_message_destroy(m);
                return rc;
        }
        if (m->err) {
                cs_warn("kafka: %s", rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
                return 0;
        }
        mark_eof(lp, rd_kafka_topic_name(m->rkt), m->partition, 0);
        if (!lp->progress_started) {
                /* The rate counts from the first message, not the join. */
                cs_progress_start(&lp->progress, lp->applied);
                lp->progress_started = 1;
        }
        if (lp->batch_n == 0)
                lp->batch_started = cs_progress_now();
        lp->batch[lp->batch_n++] = m;
        if (lp->batch_n >= (size_t)lp->conf->batch_documents ||
            cs_progress_now() - lp->batch_started >= BATCH_MAX_AGE_S)
                return flush_batch(lp, errstr, errstr_size);
        return 0;
}

/* Nothing arrived within a poll: applies what is buffered. Returns 1 when a
 * --once run is done, 0 to go on, -1 with errstr. */
static int on_idle(loop_t *lp, int once, double started, char *errstr,
                   size_t errstr_size)
{
        if (flush_batch(lp, errstr, errstr_size) == -1)
                return -1;
        touch_seen(lp);
        if (!once)
                return 0;
        if (lp->assigned_once && all_at_eof(lp))
                return 1;
        if (lp->topics_known && lp->topic_cnt == 0 && !lp->assigned_once) {
                cs_warn("no topic to consume (see above)");
                return 1;
        }
        if (!lp->assigned_once &&
            cs_progress_now() - started > ONCE_ASSIGN_WAIT_S) {
                const struct rd_kafka_metadata *md = NULL;
                rd_kafka_resp_err_t err = rd_kafka_metadata(lp->rk, 0, NULL,
                                                            &md, 5000);
                if (md)
                        rd_kafka_metadata_destroy(md);
                if (err) {
                        /* A broker outage must fail a cron run. */
                        snprintf(errstr, errstr_size, "no partitions assigned "
                                 "after %.0f s: the Kafka brokers (%s) do not "
                                 "answer (%s)", ONCE_ASSIGN_WAIT_S,
                                 lp->conf->kafka.brokers ?
                                 lp->conf->kafka.brokers : "kafka.properties",
                                 rd_kafka_err2str(err));
                        return -1;
                }
                cs_warn("no partitions assigned after %.0f s: no topic to "
                        "consume (or other members of group %s hold them all)",
                        ONCE_ASSIGN_WAIT_S, lp->conf->kafka.group);
                return 1;
        }
        return 0;
}

/* Stopped by SIGINT/SIGTERM (the batch is flushed): logs what is left
 * unread. Returns CS_LOOP_STOPPED when something is, else 0. */
static int report_stop(loop_t *lp)
{
        char left[1024] = "";
        size_t used = 0;
        long long total = 0;
        int undrained = !lp->assigned_once;

        for (int i = 0; lp->assigned && i < lp->assigned->cnt; i++) {
                rd_kafka_topic_partition_t *p = &lp->assigned->elems[i];
                rd_kafka_topic_partition_list_t *one =
                        rd_kafka_topic_partition_list_new(1);
                int64_t low = -1, high = -1, pos;

                rd_kafka_topic_partition_list_add(one, p->topic, p->partition);
                rd_kafka_position(lp->rk, one);
                pos = one->elems[0].offset;
                rd_kafka_topic_partition_list_destroy(one);
                if (rd_kafka_query_watermark_offsets(lp->rk, p->topic,
                                                     p->partition, &low, &high,
                                                     2000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
                    pos < 0 && p->opaque) {
                        /* Nothing fetched since the assignment: the
                         * partition is where it was assigned from. */
                        const part_state_t *ps = p->opaque;
                        pos = ps->start >= 0 ? ps->start :
                              ps->start == RD_KAFKA_OFFSET_BEGINNING ? low : -1;
                }
                if (high < 0 || pos < 0) {
                        const part_state_t *ps = p->opaque;
                        if (ps && ps->at_eof)
                                continue;
                        undrained = 1;
                        if (used < sizeof(left))
                                used += (size_t)snprintf(left + used,
                                        sizeof(left) - used, "%s%s [%d] (lag "
                                        "unknown)", used ? ", " : "", p->topic,
                                        (int)p->partition);
                        continue;
                }
                if (high <= pos)
                        continue;
                undrained = 1;
                total += high - pos;
                if (used < sizeof(left))
                        used += (size_t)snprintf(left + used, sizeof(left) - used,
                                                 "%s%s [%d] %lld", used ? ", " : "",
                                                 p->topic, (int)p->partition,
                                                 (long long)(high - pos));
        }
        if (!undrained) {
                cs_info("stopped on request: %lld message(s) applied in this "
                        "run; every assigned partition is drained",
                        lp->applied);
                return 0;
        }
        if (!lp->assigned_once)
                cs_warn("stopped on request before any partition was "
                        "assigned: nothing applied");
        else
                cs_warn("stopped on request: %lld message(s) applied in this "
                        "run; %lld message(s) not yet read: %s", lp->applied,
                        total, left);
        return CS_LOOP_STOPPED;
}

/* Consumes until stopped, drained (once) or failed. 0, CS_LOOP_STOPPED,
 * or -1 with errstr. */
static int consume(loop_t *lp, int once, char *errstr, size_t errstr_size)
{
        double started = cs_progress_now();

        while (!loop_stopping) {
                rd_kafka_message_t *m;
                int rc;

                if (cs_progress_now() - lp->refreshed_at >= SUBSCRIPTION_REFRESH_S &&
                    refresh_subscription(lp, errstr, errstr_size) == -1)
                        return -1;
                m = rd_kafka_consumer_poll(lp->rk,
                                           lp->batch_n ? BATCH_IDLE_MS : 200);
                rc = m ? on_message(lp, m, errstr, errstr_size) :
                         on_idle(lp, once, started, errstr, errstr_size);
                if (rc == -1)
                        return -1;
                if (rc == 1)
                        break;
        }
        if (flush_batch(lp, errstr, errstr_size) == -1)
                return -1;
        if (lp->failed) {
                snprintf(errstr, errstr_size, "stopped prefix topic(s): %s",
                         lp->stopped_prefixes[0] ? lp->stopped_prefixes :
                         "(see log)");
                return -1;
        }
        return loop_stopping ? report_stop(lp) : 0;
}

int cs_loop_run(const cs_consumer_conf_t *conf, cs_apply_t *ap, int once,
                const char *resync_prefix, char *errstr, size_t errstr_size)
{
        loop_t lp = { .conf = conf, .ap = ap, .resync_prefix = resync_prefix };
        rd_kafka_conf_t *kconf;
        int rc = -1;

        lp.batch = calloc((size_t)conf->batch_documents, sizeof(*lp.batch));
        lp.resynced = rd_kafka_topic_partition_list_new(4);
        if (!lp.batch) {
                snprintf(errstr, errstr_size, "out of memory");
                goto done;
        }
        if (!(kconf = consumer_conf(&lp, errstr, errstr_size)))
                goto done;
        /* kconf is owned by rk from here on. */
        if (!(lp.rk = rd_kafka_new(RD_KAFKA_CONSUMER, kconf, errstr, errstr_size))) {
                rd_kafka_conf_destroy(kconf);
                goto done;
        }
        rd_kafka_poll_set_consumer(lp.rk);
        if (!(lp.dlq = cs_dlq_new(conf, errstr, errstr_size)) ||
            refresh_subscription(&lp, errstr, errstr_size) == -1)
                goto done;
        cs_info("consuming %s%s as group %s (%s)",
                conf->prefix_cnt ? "prefixes from the allow-list" : "every topic under ",
                conf->prefix_cnt ? "" : conf->kafka.topic_prefix, conf->kafka.group,
                once ? "until drained" : "until stopped");
        if (!lp.topics_known)
                cs_warn("the Kafka brokers do not answer yet: subscribing once "
                        "they do");
        cs_progress_init(&lp.progress, "civisync-consume", 0);
        rc = consume(&lp, once, errstr, errstr_size);
done:
        cs_progress_end(&lp.progress);
        for (size_t i = 0; i < lp.batch_n; i++)
                rd_kafka_message_destroy(lp.batch[i]);
        if (lp.rk) {
                rd_kafka_consumer_close(lp.rk);
                rd_kafka_destroy(lp.rk);
        }
        cs_dlq_free(lp.dlq);
        forget_assignment(&lp);
        rd_kafka_topic_partition_list_destroy(lp.resynced);
        free_names(lp.topics, lp.topic_cnt);
        free(lp.retention);
        free_names(lp.noted, lp.noted_cnt);
        free(lp.batch);
        return rc;
}
