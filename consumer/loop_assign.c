/* loop_assign.c — the consumer loop's assignment: start offsets from the master, rebalances, and what a stop leaves unread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <librdkafka/rdkafka.h>

#include "kafka.h"
#include "log.h"
#include "loop_int.h"

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

void lp_forget_assignment(loop_t *lp)
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
                        if (lp_sleep_interruptible(backoff) == -1) {
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

void lp_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
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
                        lp_forget_assignment(lp);
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
                if (lp_flush_batch(lp, errstr, sizeof(errstr)) == -1) {
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
                        lp_forget_assignment(lp);
                }
        }
        if (error) {
                cs_error("incremental rebalance: %s", rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
                lp->failed = 1;
        }
}

/* Stopped by SIGINT/SIGTERM (the batch is flushed): logs what is left
 * unread. Returns CS_LOOP_STOPPED when something is, else 0. */
int lp_report_stop(loop_t *lp)
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

