/* loop.c — the consumer-group loop: batches, DB commit, then offset commit. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "kafka.h"
#include "log.h"
#include "loop_int.h"
#include "metadata.h"
#include "parse_split.h"

#define ONCE_ASSIGN_WAIT_S 60.0
/* A batch is applied once no message came for BATCH_IDLE_MS, or when its
 * first message is BATCH_MAX_AGE_S old, or when it is full: a steady
 * trickle (the producer's --follow mode) is applied within a fraction of a
 * second instead of waiting for batch_documents messages. */
#define BATCH_IDLE_MS 20
#define BATCH_MAX_AGE_S 0.1
#define SUBSCRIPTION_REFRESH_S 10.0
#define SEEN_INTERVAL_S 60.0          /* idle at the end: civisync_offset.seen_at */

static volatile sig_atomic_t loop_stopping;

int cs_loop_stopping(void)
{
        return loop_stopping != 0;
}

void cs_loop_stop(void)
{
        loop_stopping = 1;
}

static part_state_t *part_state(loop_t *lp, const char *topic, int32_t partition)
{
        rd_kafka_topic_partition_t *tp;

        if (!lp->assigned)
                return NULL;
        tp = rd_kafka_topic_partition_list_find(lp->assigned, topic, partition);
        return tp ? tp->opaque : NULL;
}

int lp_sleep_interruptible(int seconds)
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
        const char **values = calloc(n + 1, sizeof(*values));
        size_t *lens = calloc(n + 1, sizeof(*lens));
        json_t **parsed = calloc(n + 1, sizeof(*parsed)); /* NEW, per message */
        int backoff = 1, rc_out = -1;

        if (!rejected || !prefixes || !bad_topic || !amsg || !amsg_of ||
            !values || !lens || !parsed) {
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
        /* Entity documents are parsed once, on two threads, for every
         * attempt (metadata documents are read by their own path). */
        for (size_t i = 0; i < n; i++)
                if (!bad_topic[i] && msgs[i]->payload &&
                    !cs_meta_is_key(msgs[i]->key, msgs[i]->key_len)) {
                        values[i] = msgs[i]->payload;
                        lens[i] = msgs[i]->len;
                }
        cs_parse_split(values, lens, parsed, n, lp->conf->max_document_bytes);
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
                                .parsed = parsed[i],
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
                if (lp_sleep_interruptible(backoff) == -1) {
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
        for (size_t i = 0; parsed && i < n; i++)
                json_decref(parsed[i]);
        free(parsed);
        free(values);
        free(lens);
        free(rejected);
        free(prefixes);
        free(amsg);
        free(amsg_of);
        return rc_out;
}

/* Applies the buffered batch, then commits its offsets (only after the DB
 * transaction committed). */
int lp_flush_batch(loop_t *lp, char *errstr, size_t errstr_size)
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
        rd_kafka_conf_set_rebalance_cb(kconf, lp_rebalance_cb);
        rd_kafka_conf_set_opaque(kconf, lp);
        return kconf;
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
                int rc = lp_flush_batch(lp, errstr, errstr_size);
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
                return lp_flush_batch(lp, errstr, errstr_size);
        return 0;
}

/* Nothing arrived within a poll: applies what is buffered. Returns 1 when a
 * --once run is done, 0 to go on, -1 with errstr. */
static int on_idle(loop_t *lp, int once, double started, char *errstr,
                   size_t errstr_size)
{
        if (lp_flush_batch(lp, errstr, errstr_size) == -1)
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

/* Consumes until stopped, drained (once) or failed. 0, CS_LOOP_STOPPED,
 * or -1 with errstr. */
static int consume(loop_t *lp, int once, char *errstr, size_t errstr_size)
{
        double started = cs_progress_now();

        while (!loop_stopping) {
                rd_kafka_message_t *m;
                int rc;

                if (cs_progress_now() - lp->refreshed_at >= SUBSCRIPTION_REFRESH_S &&
                    lp_refresh_subscription(lp, errstr, errstr_size) == -1)
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
        if (lp_flush_batch(lp, errstr, errstr_size) == -1)
                return -1;
        if (lp->failed) {
                snprintf(errstr, errstr_size, "stopped prefix topic(s): %s",
                         lp->stopped_prefixes[0] ? lp->stopped_prefixes :
                         "(see log)");
                return -1;
        }
        return loop_stopping ? lp_report_stop(lp) : 0;
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
            lp_refresh_subscription(&lp, errstr, errstr_size) == -1)
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
        lp_forget_assignment(&lp);
        rd_kafka_topic_partition_list_destroy(lp.resynced);
        lp_free_names(lp.topics, lp.topic_cnt);
        free(lp.retention);
        lp_free_names(lp.noted, lp.noted_cnt);
        free(lp.batch);
        return rc;
}
