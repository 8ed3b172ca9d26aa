/* loop_topics.c — the consumer loop's subscription: the allowed, existing, not retired topics and their tombstone retention. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <librdkafka/rdkafka.h>

#include "kafka.h"
#include "log.h"
#include "loop_int.h"
#include "topics.h"

void lp_free_names(char **names, size_t n)
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
int lp_refresh_subscription(loop_t *lp, char *errstr, size_t errstr_size)
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
                lp_free_names(names, n);
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
                lp_free_names(names, n);
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
        lp_free_names(lp->topics, lp->topic_cnt);
        free(lp->retention);
        lp->topics = names;
        lp->retention = retention;
        lp->topic_cnt = n;
        return 0;
}

