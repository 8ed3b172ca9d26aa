/* topics.c — civisync-topics: creates, checks, lists and describes civisync's Kafka topics (Admin API). */
#include <libconfig.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "conf.h"
#include "kafka.h"
#include "log.h"
#include "prefix.h"
#include "topics.h"

#define PROGRAM "civisync-topics"

static const char usage_text[] =
"Usage: " PROGRAM " -c FILE create [PREFIX...] [options]\n"
"       " PROGRAM " -c FILE list\n"
"       " PROGRAM " -c FILE describe PREFIX\n"
"\n"
"Provisions and inspects civisync's Kafka topics through the Admin API.\n"
"FILE is a producer or a consumer configuration (kafka.brokers,\n"
"kafka.topic_prefix, kafka.dead_letter_topic, kafka.group, kafka.properties\n"
"and max_document_bytes are used). Topic settings come from the definitions\n"
"file (topics/topics.cfg in the source tree, share/civisync/topics.cfg when\n"
"installed).\n"
"\n"
"Commands:\n"
"  create [PREFIX...]  create <topic_prefix><PREFIX> for each PREFIX (default:\n"
"                      the configuration's prefix or prefixes) and the dead-letter\n"
"                      topic; topics that exist are checked against the\n"
"                      definitions and every difference is listed (exit 1)\n"
"  list                every civisync topic: partitions, messages, group lag\n"
"  describe PREFIX     one topic: settings, and per partition the leader,\n"
"                      replicas, offsets, the group's committed offset and lag\n"
"\n"
"Options:\n"
"  -c, --config FILE   producer or consumer configuration\n"
"  -b, --brokers LIST  bootstrap brokers (overrides kafka.brokers)\n"
"  -X name=value       librdkafka property (overrides kafka.properties)\n"
"      --definitions FILE     topic definitions (default: see above)\n"
"      --partitions N         data topics: override the definition's partitions\n"
"      --replication-factor N data topics: override the replication factor\n"
"      --topic-config name=value  data topics: override one topic config\n"
"                             (repeatable)\n"
"      --no-dead-letter       create: leave the dead-letter topic alone\n"
"      --dry-run              create: ask the brokers to validate only\n"
"      --group GROUP          consumer group for lag (default kafka.group)\n"
"      --timeout SECONDS      per request (default 30)\n"
"  -v, --verbose       more log output (repeatable); -q, --quiet: less\n"
"  -h, --help          this text;  -V, --version: version\n"
"\n"
"Exit codes: 0 success, 1 failure (including existing topics whose settings\n"
"differ, and a cluster without CreateTopics such as the embedded\n"
"civisync-broker), 2 usage or configuration error.\n";

typedef struct topics_opts_s {
        const char *definitions;
        const char *group;
        cs_topic_override_t ov;
        int no_dead_letter;
        int dry_run;
        int timeout_ms;
} topics_opts_t;

enum { OPT_DEFS = 1000, OPT_PARTITIONS, OPT_RF, OPT_TOPIC_CONFIG, OPT_NO_DLQ,
       OPT_DRY_RUN, OPT_GROUP, OPT_TIMEOUT };

static const struct option long_options[] = {
        { "definitions", required_argument, NULL, OPT_DEFS },
        { "partitions", required_argument, NULL, OPT_PARTITIONS },
        { "replication-factor", required_argument, NULL, OPT_RF },
        { "topic-config", required_argument, NULL, OPT_TOPIC_CONFIG },
        { "no-dead-letter", no_argument, NULL, OPT_NO_DLQ },
        { "dry-run", no_argument, NULL, OPT_DRY_RUN },
        { "group", required_argument, NULL, OPT_GROUP },
        { "timeout", required_argument, NULL, OPT_TIMEOUT },
        { NULL, 0, NULL, 0 }
};

static int parse_count(const char *arg, const char *name, long max, int *out,
                       char *errstr, size_t errstr_size)
{
        char *end;
        long v = strtol(arg, &end, 10);

        if (!*arg || *end || v < 1 || v > max) {
                snprintf(errstr, errstr_size, "%s expects a number from 1 to %ld",
                         name, max);
                return -1;
        }
        *out = (int)v;
        return 0;
}

static int on_option(int opt, const char *arg, void *opaque, char *errstr,
                     size_t errstr_size)
{
        topics_opts_t *o = opaque;
        const char **grown;

        switch (opt) {
        case OPT_DEFS: o->definitions = arg; return 0;
        case OPT_PARTITIONS:
                return parse_count(arg, "--partitions", 100000,
                                   &o->ov.partitions, errstr, errstr_size);
        case OPT_RF:
                return parse_count(arg, "--replication-factor", 32,
                                   &o->ov.replication_factor, errstr, errstr_size);
        case OPT_TOPIC_CONFIG:
                if (!strchr(arg, '=') || arg[0] == '=') {
                        snprintf(errstr, errstr_size, "--topic-config expects name=value");
                        return -1;
                }
                grown = realloc(o->ov.configs, (o->ov.config_cnt + 1) * sizeof(*grown));
                if (!grown) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return -1;
                }
                o->ov.configs = grown;
                o->ov.configs[o->ov.config_cnt++] = arg;
                return 0;
        case OPT_NO_DLQ: o->no_dead_letter = 1; return 0;
        case OPT_DRY_RUN: o->dry_run = 1; return 0;
        case OPT_GROUP: o->group = arg; return 0;
        case OPT_TIMEOUT: {
                int secs;
                if (parse_count(arg, "--timeout", 3600, &secs, errstr,
                                errstr_size) == -1)
                        return -1;
                o->timeout_ms = secs * 1000;
                return 0;
        }
        default:
                snprintf(errstr, errstr_size, "unknown option");
                return -1;
        }
}

/* ---- configuration ---- */

/* What civisync-topics needs from a producer or consumer configuration. */
typedef struct setup_s {
        cs_producer_conf_t pconf;
        cs_consumer_conf_t cconf;
        int is_consumer;
        cs_kafka_params_t *kafka;
        size_t max_document_bytes;
        const char **prefixes;       /* the configuration's own prefixes */
        size_t prefix_cnt;
} setup_t;

/* A consumer configuration has a "master" group, a producer one does not. */
static int load_setup(const char *path, setup_t *s, char *errstr,
                      size_t errstr_size)
{
        config_t cfg;
        int consumer;

        config_init(&cfg);
        if (config_read_file(&cfg, path) != CONFIG_TRUE) {
                config_destroy(&cfg);
                /* Let the loader produce its precise message. */
                return cs_conf_load_consumer(path, &s->cconf, errstr, errstr_size);
        }
        consumer = config_lookup(&cfg, "master") != NULL;
        config_destroy(&cfg);
        s->is_consumer = consumer;
        if (consumer) {
                if (cs_conf_load_consumer(path, &s->cconf, errstr, errstr_size) == -1)
                        return -1;
                s->kafka = &s->cconf.kafka;
                s->max_document_bytes = s->cconf.max_document_bytes;
                s->prefixes = (const char **)s->cconf.prefixes;
                s->prefix_cnt = s->cconf.prefix_cnt;
        } else {
                if (cs_conf_load_producer(path, &s->pconf, errstr, errstr_size) == -1)
                        return -1;
                s->kafka = &s->pconf.kafka;
                s->max_document_bytes = s->pconf.max_document_bytes;
                s->prefixes = malloc(sizeof(*s->prefixes));
                if (!s->prefixes) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return -1;
                }
                s->prefixes[0] = s->pconf.prefix;
                s->prefix_cnt = 1;
        }
        return 0;
}

static void free_setup(setup_t *s)
{
        if (!s->is_consumer)
                free(s->prefixes);
        cs_conf_producer_free(&s->pconf);
        cs_conf_consumer_free(&s->cconf);
}

/* --definitions, else next to the program: ../share/civisync/topics.cfg
 * (installed) or ../topics/topics.cfg (source tree). */
static int find_definitions(const char *given, char *out, size_t size)
{
        char exe[PATH_MAX];
        ssize_t n;
        int w;
        static const char *const rel[] = { "../share/civisync/topics.cfg",
                                           "../topics/topics.cfg", NULL };

        if (given) {
                snprintf(out, size, "%s", given);
                return 0;
        }
        n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n <= 0)
                return -1;
        exe[n] = '\0';
        if (strrchr(exe, '/'))
                *strrchr(exe, '/') = '\0';
        for (size_t i = 0; rel[i]; i++) {
                w = snprintf(out, size, "%s/%s", exe, rel[i]);
                if (w > 0 && (size_t)w < size && access(out, R_OK) == 0)
                        return 0;
        }
        return -1;
}

/* ---- Kafka helpers ---- */

typedef struct kctx_s {
        rd_kafka_t *rk;
        rd_kafka_queue_t *q;
        int timeout_ms;
        const char *brokers;
} kctx_t;

static rd_kafka_event_t *wait_result(kctx_t *k, char *errstr, size_t errstr_size)
{
        rd_kafka_event_t *ev = rd_kafka_queue_poll(k->q, k->timeout_ms + 5000);

        if (!ev) {
                snprintf(errstr, errstr_size, "no answer from %s within %d s",
                         k->brokers, k->timeout_ms / 1000);
                return NULL;
        }
        if (rd_kafka_event_error(ev)) {
                snprintf(errstr, errstr_size, "%s",
                         rd_kafka_event_error_string(ev));
                rd_kafka_event_destroy(ev);
                return NULL;
        }
        return ev;
}

static rd_kafka_AdminOptions_t *admin_options(kctx_t *k, rd_kafka_admin_op_t op)
{
        rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(k->rk, op);
        char tmp[256];

        rd_kafka_AdminOptions_set_request_timeout(o, k->timeout_ms, tmp, sizeof(tmp));
        if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS)
                rd_kafka_AdminOptions_set_operation_timeout(o, k->timeout_ms, tmp,
                                                            sizeof(tmp));
        return o;
}

/* The configs of one topic from DescribeConfigs: NEW array in *out.
 * Returns 0, -1 on error, 1 when the broker does not support it. */
static int describe_configs(kctx_t *k, const char *topic, cs_kafka_prop_t **out,
                            size_t *cnt, char *errstr, size_t errstr_size)
{
        return cs_topics_describe(k->rk, k->q, k->timeout_ms, topic, out, cnt,
                                  errstr, errstr_size);
}

static const rd_kafka_metadata_topic_t *md_topic(const struct rd_kafka_metadata *md,
                                                 const char *name)
{
        for (int i = 0; i < md->topic_cnt; i++)
                if (!strcmp(md->topics[i].topic, name))
                        return &md->topics[i];
        return NULL;
}

/* Replication factor of a topic as the metadata shows it (smallest replica set). */
static int md_replication(const rd_kafka_metadata_topic_t *t)
{
        int rf = INT_MAX;
        for (int p = 0; p < t->partition_cnt; p++)
                if (t->partitions[p].replica_cnt < rf)
                        rf = t->partitions[p].replica_cnt;
        return t->partition_cnt ? rf : 0;
}

/* The embedded broker (librdkafka 2.0.2's mock cluster) names controller
 * id 0, which is none of its brokers (ids 1..N), so CreateTopics and
 * DescribeConfigs would only wait for a controller until they time out
 * ("Failed while waiting for controller: Local: Timed out"). */
static int no_controller(kctx_t *k, const struct rd_kafka_metadata *md)
{
        return cs_topics_no_controller(k->rk, md, k->timeout_ms);
}

/* The one line printed for topics the embedded broker cannot create. */
static void embedded_line(const cs_topic_spec_t *specs, const int *missing,
                          size_t cnt)
{
        printf(PROGRAM ": the cluster has no controller, so no CreateTopics: it "
               "is the embedded broker (librdkafka mock cluster); create the "
               "topic(s) through its --control file, without a restart (it keeps "
               "messages in memory only: a restart loses them): printf '");
        for (size_t i = 0; i < cnt; i++)
                if (missing[i])
                        printf("topic %s:%d\\n", specs[i].name, specs[i].partitions);
        printf("' > CONTROL_FILE (civisync-broker --help)\n");
        fflush(stdout);
}

/* ---- create ---- */

static int cmd_create(kctx_t *k, setup_t *s, const cs_topic_defs_t *defs,
                      topics_opts_t *o, char **names, int name_cnt,
                      const struct rd_kafka_metadata *md)
{
        cs_topic_spec_t *specs = calloc((size_t)name_cnt + 1, sizeof(*specs));
        rd_kafka_NewTopic_t **nts = calloc((size_t)name_cnt + 1, sizeof(*nts));
        size_t spec_cnt = 0, nt_cnt = 0;
        char errstr[1024], problems[2048];
        int failures = 0, ok = 0;

        if (!specs || !nts) {
                cs_error("out of memory");
                free(specs);
                free(nts);
                return CS_EXIT_FAILURE;
        }
        for (int i = 0; i <= name_cnt; i++) {
                cs_topic_spec_t *sp = &specs[spec_cnt];
                char topic[256];
                cs_topic_role_t role = i < name_cnt ? CS_TOPIC_DATA : CS_TOPIC_DEAD_LETTER;

                if (role == CS_TOPIC_DEAD_LETTER) {
                        if (o->no_dead_letter)
                                break;
                        snprintf(topic, sizeof(topic), "%s", s->kafka->dead_letter_topic);
                } else if (cs_kafka_topic_name(topic, sizeof(topic),
                                               s->kafka->topic_prefix, names[i],
                                               errstr, sizeof(errstr)) == -1) {
                        fprintf(stderr, PROGRAM ": %s\n", errstr);
                        failures++;
                        continue;
                }
                if (cs_topics_spec(&defs->def[role], role, topic,
                                   s->max_document_bytes, md->broker_cnt,
                                   role == CS_TOPIC_DATA ? &o->ov : NULL, sp,
                                   errstr, sizeof(errstr)) == -1) {
                        fprintf(stderr, PROGRAM ": %s: %s\n", topic, errstr);
                        failures++;
                        continue;
                }
                spec_cnt++;
                if (sp->warnings[0])
                        cs_warn("%s: %s", topic, sp->warnings);
        }

        /* The embedded broker: one line for what is missing, nothing sent. */
        if (spec_cnt && no_controller(k, md)) {
                int *missing = calloc(spec_cnt, sizeof(*missing));
                int any = 0;

                for (size_t i = 0; missing && i < spec_cnt; i++) {
                        const rd_kafka_metadata_topic_t *mt = md_topic(md, specs[i].name);
                        missing[i] = !mt;
                        any |= !mt;
                        if (mt)
                                printf("%s: exists (%d partition(s)); its settings "
                                       "cannot be read from this cluster\n",
                                       specs[i].name, mt->partition_cnt);
                }
                if (any)
                        embedded_line(specs, missing, spec_cnt);
                failures += any;
                free(missing);
                goto done;
        }

        /* Existing topics are checked; the others are created in one request. */
        for (size_t i = 0; i < spec_cnt; i++) {
                const rd_kafka_metadata_topic_t *mt = md_topic(md, specs[i].name);
                cs_kafka_prop_t *actual;
                size_t actual_cnt;
                int rc, n;

                if (!mt) {
                        if (!(nts[nt_cnt] = cs_topics_new_topic(&specs[i], errstr,
                                                                sizeof(errstr)))) {
                                fprintf(stderr, PROGRAM ": %s\n", errstr);
                                failures++;
                                continue;
                        }
                        nt_cnt++;
                        continue;
                }
                rc = describe_configs(k, specs[i].name, &actual, &actual_cnt,
                                      errstr, sizeof(errstr));
                if (rc != 0) {
                        fprintf(stderr, PROGRAM ": %s\n", errstr);
                        failures++;
                        continue;
                }
                n = cs_topics_check(&specs[i], mt->partition_cnt, md_replication(mt),
                                    actual, actual_cnt, problems, sizeof(problems));
                cs_topics_props_free(actual, actual_cnt);
                if (n) {
                        printf("%s: exists with %d setting(s) differing from %s: %s\n",
                               specs[i].name, n, defs->path, problems);
                        failures++;
                } else {
                        printf("%s: exists, settings as defined\n", specs[i].name);
                        ok++;
                }
        }

        if (nt_cnt) {
                rd_kafka_AdminOptions_t *ao = admin_options(k, RD_KAFKA_ADMIN_OP_CREATETOPICS);
                const rd_kafka_topic_result_t **res;
                rd_kafka_event_t *ev;
                size_t res_cnt;

                if (o->dry_run)
                        rd_kafka_AdminOptions_set_validate_only(ao, 1, errstr,
                                                                sizeof(errstr));
                rd_kafka_CreateTopics(k->rk, nts, nt_cnt, ao, k->q);
                rd_kafka_AdminOptions_destroy(ao);
                ev = rd_kafka_queue_poll(k->q, k->timeout_ms + 5000);
                if (!ev) {
                        fprintf(stderr, PROGRAM ": CreateTopics: no answer from %s\n",
                                k->brokers);
                        failures += (int)nt_cnt;
                } else if (rd_kafka_event_error(ev)) {
                        fprintf(stderr, PROGRAM ": CreateTopics: %s\n",
                                rd_kafka_event_error_string(ev));
                        failures += (int)nt_cnt;
                } else {
                        res = rd_kafka_CreateTopics_result_topics(
                                rd_kafka_event_CreateTopics_result(ev), &res_cnt);
                        for (size_t i = 0; i < res_cnt; i++) {
                                const char *name = rd_kafka_topic_result_name(res[i]);
                                rd_kafka_resp_err_t err = rd_kafka_topic_result_error(res[i]);
                                const cs_topic_spec_t *sp = NULL;
                                for (size_t j = 0; j < spec_cnt; j++)
                                        if (!strcmp(specs[j].name, name))
                                                sp = &specs[j];
                                if (err) {
                                        fprintf(stderr, PROGRAM ": %s: %s\n", name,
                                                rd_kafka_topic_result_error_string(res[i]) ?
                                                rd_kafka_topic_result_error_string(res[i]) :
                                                rd_kafka_err2str(err));
                                        failures++;
                                } else {
                                        printf("%s: %s (%d partition(s), replication "
                                               "factor %d, %zu config(s))\n", name,
                                               o->dry_run ? "would be created" : "created",
                                               sp ? sp->partitions : 0,
                                               sp ? sp->replication_factor : 0,
                                               sp ? sp->config_cnt : 0);
                                        ok++;
                                }
                        }
                }
                if (ev)
                        rd_kafka_event_destroy(ev);
        }
done:
        fflush(stdout);
        rd_kafka_NewTopic_destroy_array(nts, nt_cnt);
        for (size_t i = 0; i < spec_cnt; i++)
                cs_topics_spec_free(&specs[i]);
        free(specs);
        free(nts);
        cs_debug("create: %d ok, %d failed", ok, failures);
        return failures ? CS_EXIT_FAILURE : CS_EXIT_OK;
}

/* ---- list / describe ---- */

/* Committed offsets of group for every partition of topic (NULL on error:
 * printed as unknown). NEW list. */
static rd_kafka_topic_partition_list_t *
committed(kctx_t *k, const char *group, const rd_kafka_metadata_topic_t *t,
          char *errstr, size_t errstr_size)
{
        rd_kafka_topic_partition_list_t *parts =
                rd_kafka_topic_partition_list_new(t->partition_cnt);
        rd_kafka_topic_partition_list_t *out = NULL;
        rd_kafka_ListConsumerGroupOffsets_t *req;
        rd_kafka_AdminOptions_t *o;
        rd_kafka_event_t *ev;
        const rd_kafka_group_result_t **groups;
        size_t gcnt;

        for (int p = 0; p < t->partition_cnt; p++)
                rd_kafka_topic_partition_list_add(parts, t->topic,
                                                  t->partitions[p].id);
        req = rd_kafka_ListConsumerGroupOffsets_new(group, parts);
        o = admin_options(k, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
        rd_kafka_ListConsumerGroupOffsets(k->rk, &req, 1, o, k->q);
        rd_kafka_AdminOptions_destroy(o);
        rd_kafka_ListConsumerGroupOffsets_destroy(req);
        rd_kafka_topic_partition_list_destroy(parts);
        if (!(ev = wait_result(k, errstr, errstr_size)))
                return NULL;
        groups = rd_kafka_ListConsumerGroupOffsets_result_groups(
                rd_kafka_event_ListConsumerGroupOffsets_result(ev), &gcnt);
        if (gcnt == 1 && !rd_kafka_group_result_error(groups[0]))
                out = rd_kafka_topic_partition_list_copy(
                        rd_kafka_group_result_partitions(groups[0]));
        else
                snprintf(errstr, errstr_size, "%s", gcnt ?
                         rd_kafka_error_string(rd_kafka_group_result_error(groups[0])) :
                         "no result");
        rd_kafka_event_destroy(ev);
        return out;
}

/* Why the group does not read topic ("dead letters" or "retired"), or NULL:
 * such a topic is listed without a lag. */
static const char *not_consumed(const setup_t *s, const char *topic)
{
        char prefix[CS_PREFIX_MAX + 1], errstr[256];

        if (!strcmp(topic, s->kafka->dead_letter_topic))
                return "dead-letter topic, not consumed";
        if (s->is_consumer &&
            cs_kafka_prefix_from_topic(topic, s->kafka->topic_prefix, prefix,
                                       errstr, sizeof(errstr)) == 0 &&
            cs_conf_prefix_retired(&s->cconf, prefix))
                return "retired, not consumed";
        return NULL;
}

/* Sums of a topic's offsets; per-partition lines when detail. The lag is
 * cs_kafka_lag, as civisync-consume --status computes it; a topic the group
 * does not read (nc, see not_consumed) has none. */
static void show_topic(kctx_t *k, const char *group,
                       const rd_kafka_metadata_topic_t *t, int detail,
                       const char *nc)
{
        char errstr[512];
        rd_kafka_topic_partition_list_t *c = nc ? NULL :
                committed(k, group, t, errstr, sizeof(errstr));
        long long messages = 0, lag = 0;
        int lag_known = c != NULL, any_committed = 0;

        if (!c && !nc)
                cs_warn("%s: committed offsets of group %s unknown: %s", t->topic,
                        group, errstr);
        for (int p = 0; p < t->partition_cnt; p++) {
                const rd_kafka_metadata_partition_t *mp = &t->partitions[p];
                int64_t lo = -1, hi = -1, off = -1;
                rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
                        k->rk, t->topic, mp->id, &lo, &hi, k->timeout_ms);
                rd_kafka_topic_partition_t *cp = c ?
                        rd_kafka_topic_partition_list_find(c, t->topic, mp->id) : NULL;

                if (cp && !cp->err && cp->offset >= 0) {
                        off = cp->offset;
                        any_committed = 1;
                }
                if (!err)
                        messages += hi - lo;
                if (!err && cs_kafka_lag(lo, hi, off) >= 0)
                        lag += cs_kafka_lag(lo, hi, off);
                if (!detail)
                        continue;
                printf("  partition %d: leader %d, replicas", mp->id, mp->leader);
                for (int r = 0; r < mp->replica_cnt; r++)
                        printf("%s%d", r ? "," : " ", mp->replicas[r]);
                printf(", isr");
                for (int r = 0; r < mp->isr_cnt; r++)
                        printf("%s%d", r ? "," : " ", mp->isrs[r]);
                if (err)
                        printf(", offsets unknown (%s)", rd_kafka_err2str(err));
                else
                        printf(", offsets %lld..%lld", (long long)lo, (long long)hi);
                if (nc)
                        printf("\n");
                else if (off >= 0 && !err)
                        printf(", group %s committed %lld, lag %lld\n", group,
                               (long long)off, cs_kafka_lag(lo, hi, off));
                else
                        printf(", group %s: %s\n", group,
                               c ? "no committed offset" : "unknown");
        }
        if (!detail) {
                printf("%s: %d partition(s), replication factor %d, %lld message(s)",
                       t->topic, t->partition_cnt, md_replication(t), messages);
                if (nc)
                        printf(", %s\n", nc);
                else if (!lag_known)
                        printf(", group %s lag unknown\n", group);
                else if (!any_committed)
                        printf(", group %s has no committed offset (lag %lld)\n",
                               group, lag);
                else
                        printf(", group %s lag %lld\n", group, lag);
        } else if (nc) {
                printf("  total: %lld message(s), %s\n", messages, nc);
        } else {
                printf("  total: %lld message(s), group %s lag %s", messages, group,
                       lag_known ? "" : "unknown\n");
                if (lag_known)
                        printf("%lld\n", lag);
        }
        if (c)
                rd_kafka_topic_partition_list_destroy(c);
        fflush(stdout);
}

static int is_civisync_topic(const setup_t *s, const char *topic)
{
        char prefix[CS_PREFIX_MAX + 1], errstr[256];

        if (!strcmp(topic, s->kafka->dead_letter_topic))
                return 1;
        return cs_kafka_prefix_from_topic(topic, s->kafka->topic_prefix, prefix,
                                          errstr, sizeof(errstr)) == 0;
}

static int cmd_list(kctx_t *k, setup_t *s, const char *group,
                    const struct rd_kafka_metadata *md)
{
        int shown = 0;

        for (int i = 0; i < md->topic_cnt; i++) {
                if (!is_civisync_topic(s, md->topics[i].topic))
                        continue;
                show_topic(k, group, &md->topics[i], 0,
                           not_consumed(s, md->topics[i].topic));
                shown++;
        }
        printf("%d civisync topic(s) on %s (topic prefix \"%s\", dead letters \"%s\")\n",
               shown, k->brokers, s->kafka->topic_prefix, s->kafka->dead_letter_topic);
        return CS_EXIT_OK;
}

static int cmd_describe(kctx_t *k, setup_t *s, const cs_topic_defs_t *defs,
                        const char *group, const char *prefix,
                        const struct rd_kafka_metadata *md)
{
        char topic[256], errstr[1024], problems[2048];
        const rd_kafka_metadata_topic_t *t;
        cs_topic_spec_t spec;
        cs_kafka_prop_t *actual;
        size_t actual_cnt;
        int rc;

        if (!strcmp(prefix, s->kafka->dead_letter_topic))
                snprintf(topic, sizeof(topic), "%s", prefix);
        else if (cs_kafka_topic_name(topic, sizeof(topic), s->kafka->topic_prefix,
                                     prefix, errstr, sizeof(errstr)) == -1) {
                fprintf(stderr, PROGRAM ": %s\n", errstr);
                return CS_EXIT_USAGE;
        }
        if (!(t = md_topic(md, topic))) {
                printf("%s: does not exist on %s (create it with " PROGRAM
                       " -c FILE create %s)\n", topic, k->brokers, prefix);
                return CS_EXIT_FAILURE;
        }
        printf("%s: %d partition(s), replication factor %d\n", topic,
               t->partition_cnt, md_replication(t));
        if (no_controller(k, md)) {
                snprintf(errstr, sizeof(errstr), "the cluster has no controller "
                         "(embedded broker): DescribeConfigs unavailable");
                rc = 1;
        } else {
                rc = describe_configs(k, topic, &actual, &actual_cnt, errstr,
                                      sizeof(errstr));
        }
        if (rc == 0) {
                cs_topic_role_t role = strcmp(topic, s->kafka->dead_letter_topic) ?
                                       CS_TOPIC_DATA : CS_TOPIC_DEAD_LETTER;
                printf("  settings:");
                if (cs_topics_spec(&defs->def[role], role, topic,
                                   s->max_document_bytes, md->broker_cnt, NULL,
                                   &spec, errstr, sizeof(errstr)) == 0) {
                        for (size_t i = 0; i < spec.config_cnt; i++) {
                                const char *have = NULL;
                                for (size_t j = 0; j < actual_cnt; j++)
                                        if (!strcmp(actual[j].name, spec.configs[i].name))
                                                have = actual[j].value;
                                printf(" %s=%s", spec.configs[i].name,
                                       have ? have : "(unset)");
                        }
                        printf("\n");
                        if (cs_topics_check(&spec, t->partition_cnt, md_replication(t),
                                            actual, actual_cnt, problems,
                                            sizeof(problems)))
                                printf("  differs from %s: %s\n", defs->path, problems);
                        else
                                printf("  settings as defined in %s\n", defs->path);
                        cs_topics_spec_free(&spec);
                } else {
                        printf(" (%s)\n", errstr);
                }
                cs_topics_props_free(actual, actual_cnt);
        } else {
                printf("  settings: not available (%s)\n", errstr);
        }
        show_topic(k, group, t, 1, not_consumed(s, topic));
        return CS_EXIT_OK;
}

int main(int argc, char **argv)
{
        cs_cli_t cli = { 0 };
        topics_opts_t opts = { .timeout_ms = 30000 };
        setup_t setup;
        cs_topic_defs_t defs = { 0 };
        kctx_t k = { 0 };
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_conf_t *kconf;
        char errstr[1024], defpath[PATH_MAX];
        const char *cmd, *group;
        int first_arg, rc, exit_code = CS_EXIT_FAILURE;
        rd_kafka_resp_err_t err;

        memset(&setup, 0, sizeof(setup));
        cs_log_init(PROGRAM);
        rc = cs_cli_parse(&cli, argc, argv, PROGRAM, usage_text, "", long_options,
                          on_option, &opts, &first_arg, errstr, sizeof(errstr));
        if (rc == 1) {
                cs_cli_free(&cli);
                free(opts.ov.configs);
                return CS_EXIT_OK;
        }
        if (rc == -1 || !cli.config_path || first_arg >= argc) {
                fprintf(stderr, "%s\n", rc == -1 ? errstr : !cli.config_path ?
                        PROGRAM ": -c FILE is required (see " PROGRAM " --help)" :
                        PROGRAM ": a command is required: create, list or describe "
                        "(see " PROGRAM " --help)");
                cs_cli_free(&cli);
                free(opts.ov.configs);
                return CS_EXIT_USAGE;
        }
        cmd = argv[first_arg++];
        if (strcmp(cmd, "create") && strcmp(cmd, "list") && strcmp(cmd, "describe")) {
                snprintf(errstr, sizeof(errstr), PROGRAM ": unknown command '%s' "
                         "(create, list or describe; see " PROGRAM " --help)", cmd);
                goto usage_error;
        }
        if ((!strcmp(cmd, "list") && first_arg < argc) ||
            (!strcmp(cmd, "describe") && first_arg + 1 != argc)) {
                snprintf(errstr, sizeof(errstr), PROGRAM ": %s", !strcmp(cmd, "list") ?
                         "list takes no argument" : "describe takes one PREFIX");
                goto usage_error;
        }
        if (load_setup(cli.config_path, &setup, errstr, sizeof(errstr)) == -1)
                goto usage_error;
        if (cs_cli_apply_kafka(&cli, setup.kafka, errstr, sizeof(errstr)) == -1)
                goto usage_error;
        if (!setup.kafka->brokers) {
                snprintf(errstr, sizeof(errstr), PROGRAM ": no brokers: set "
                         "kafka.brokers in %s or use -b", cli.config_path);
                goto usage_error;
        }
        for (int i = first_arg; !strcmp(cmd, "create") && i < argc; i++)
                if (!cs_prefix_valid(argv[i])) {
                        snprintf(errstr, sizeof(errstr), PROGRAM ": '%s' is not a "
                                 "valid prefix ([A-Za-z0-9_]{1,32})", argv[i]);
                        goto usage_error;
                }
        if (!strcmp(cmd, "create") && first_arg >= argc && setup.prefix_cnt == 0) {
                snprintf(errstr, sizeof(errstr), PROGRAM ": create needs PREFIX... "
                         "(the configuration lists no prefixes)");
                goto usage_error;
        }
        if (strcmp(cmd, "list")) {
                if (find_definitions(opts.definitions, defpath, sizeof(defpath)) == -1) {
                        snprintf(errstr, sizeof(errstr), PROGRAM ": topic definitions "
                                 "not found (share/civisync/topics.cfg or "
                                 "topics/topics.cfg next to the program); use "
                                 "--definitions FILE");
                        goto usage_error;
                }
                if (cs_topics_load(defpath, &defs, errstr, sizeof(errstr)) == -1)
                        goto usage_error;
        }
        group = opts.group ? opts.group : setup.kafka->group;

        if (!(kconf = cs_kafka_conf_new(setup.kafka, errstr, sizeof(errstr))))
                goto usage_error;
        /* The handle type follows the file, so its properties fit it. */
        if (!(k.rk = rd_kafka_new(setup.is_consumer ? RD_KAFKA_CONSUMER :
                                  RD_KAFKA_PRODUCER, kconf, errstr,
                                  sizeof(errstr)))) {
                rd_kafka_conf_destroy(kconf);
                cs_error("%s", errstr);
                goto done;
        }
        k.q = rd_kafka_queue_new(k.rk);
        k.timeout_ms = opts.timeout_ms;
        k.brokers = setup.kafka->brokers;
        /* All topics: asking for one by name would auto-create it on some clusters. */
        err = rd_kafka_metadata(k.rk, 1, NULL, &md, opts.timeout_ms);
        if (err) {
                cs_error("metadata from %s: %s", k.brokers, rd_kafka_err2str(err));
                goto done;
        }
        if (!strcmp(cmd, "create")) {
                if (first_arg < argc)
                        exit_code = cmd_create(&k, &setup, &defs, &opts,
                                               argv + first_arg, argc - first_arg, md);
                else
                        exit_code = cmd_create(&k, &setup, &defs, &opts,
                                               (char **)setup.prefixes,
                                               (int)setup.prefix_cnt, md);
        } else if (!strcmp(cmd, "list")) {
                exit_code = cmd_list(&k, &setup, group, md);
        } else {
                exit_code = cmd_describe(&k, &setup, &defs, group, argv[first_arg], md);
        }
        goto done;

usage_error:
        fprintf(stderr, "%s\n", errstr);
        exit_code = CS_EXIT_USAGE;
done:
        if (md)
                rd_kafka_metadata_destroy(md);
        if (k.q)
                rd_kafka_queue_destroy(k.q);
        if (k.rk)
                rd_kafka_destroy(k.rk);
        cs_topics_defs_free(&defs);
        free_setup(&setup);
        free(opts.ov.configs);
        cs_cli_free(&cli);
        return exit_code;
}
