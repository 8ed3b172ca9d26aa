/* topics.c — Kafka topic definitions (topics/topics.cfg) turned into CreateTopics requests and checks. */
#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "topics.h"

static const char *const role_names[] = { "data", "dead_letter" };
static const char *const def_keys[] = {
        "partitions", "replication_factor", "headroom_bytes", "config", NULL
};

static int fail(char *errstr, size_t errstr_size, const char *path,
                const config_setting_t *s, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));
static int fail(char *errstr, size_t errstr_size, const char *path,
                const config_setting_t *s, const char *fmt, ...)
{
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (s && config_setting_source_line(s))
                snprintf(errstr, errstr_size, "%s:%u - %s", path,
                         config_setting_source_line(s), msg);
        else
                snprintf(errstr, errstr_size, "%s - %s", path, msg);
        return -1;
}

static int props_put(cs_kafka_prop_t **props, size_t *cnt, const char *name,
                     size_t name_len, const char *value)
{
        cs_kafka_prop_t *np;
        char *v = strdup(value), *n;

        if (!v)
                return -1;
        for (size_t i = 0; i < *cnt; i++)
                if (strlen((*props)[i].name) == name_len &&
                    !strncmp((*props)[i].name, name, name_len)) {
                        free((*props)[i].value);
                        (*props)[i].value = v;
                        return 0;
                }
        n = strndup(name, name_len);
        np = realloc(*props, (*cnt + 1) * sizeof(*np));
        if (!n || !np) {
                if (np)
                        *props = np;
                free(n);
                free(v);
                return -1;
        }
        *props = np;
        np[*cnt].name = n;
        np[*cnt].value = v;
        (*cnt)++;
        return 0;
}

static void props_free(cs_kafka_prop_t *props, size_t cnt)
{
        for (size_t i = 0; i < cnt; i++) {
                free(props[i].name);
                free(props[i].value);
        }
        free(props);
}

static int get_int(const char *path, const config_setting_t *g,
                   const char *group, const char *key, long long min,
                   long long max, long long *out, char *errstr,
                   size_t errstr_size)
{
        const config_setting_t *s = config_setting_get_member(g, key);
        long long v;

        if (!s)
                return fail(errstr, errstr_size, path, g,
                            "missing required key '%s.%s'", group, key);
        if (config_setting_type(s) != CONFIG_TYPE_INT &&
            config_setting_type(s) != CONFIG_TYPE_INT64)
                return fail(errstr, errstr_size, path, s,
                            "'%s.%s' must be an integer", group, key);
        v = config_setting_get_int64(s);
        if (v < min || v > max)
                return fail(errstr, errstr_size, path, s,
                            "'%s.%s' must be between %lld and %lld (got %lld)",
                            group, key, min, max, v);
        *out = v;
        return 0;
}

static int load_def(const char *path, const config_setting_t *root,
                    cs_topic_role_t role, cs_topic_def_t *def, char *errstr,
                    size_t errstr_size)
{
        const char *gname = role_names[role];
        const config_setting_t *g = config_setting_get_member(root, gname);
        const config_setting_t *list;
        long long v;

        if (!g || !config_setting_is_group(g))
                return fail(errstr, errstr_size, path, g,
                            "missing group '%s' (%s = { ... };)", gname, gname);
        for (int i = 0; i < config_setting_length(g); i++) {
                const char *name = config_setting_name(config_setting_get_elem(g, (unsigned)i));
                int known = 0;
                for (size_t k = 0; def_keys[k]; k++)
                        known |= name && !strcmp(name, def_keys[k]);
                if (!known)
                        return fail(errstr, errstr_size, path,
                                    config_setting_get_elem(g, (unsigned)i),
                                    "unknown key '%s.%s' (known keys: partitions, "
                                    "replication_factor, headroom_bytes, config)",
                                    gname, name ? name : "?");
        }
        if (get_int(path, g, gname, "partitions", 1, 100000, &v, errstr,
                    errstr_size) == -1)
                return -1;
        def->partitions = (int)v;
        if (get_int(path, g, gname, "replication_factor", 1, 32, &v, errstr,
                    errstr_size) == -1)
                return -1;
        def->replication_factor = (int)v;
        if (get_int(path, g, gname, "headroom_bytes", 0, 100000000, &v, errstr,
                    errstr_size) == -1)
                return -1;
        def->headroom_bytes = v;
        list = config_setting_get_member(g, "config");
        if (!list)
                return 0;
        if (config_setting_type(list) != CONFIG_TYPE_LIST)
                return fail(errstr, errstr_size, path, list, "'%s.config' must "
                            "be a list of (\"name\", \"value\") pairs", gname);
        for (int i = 0; i < config_setting_length(list); i++) {
                const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
                const char *n, *val;
                if (config_setting_type(e) != CONFIG_TYPE_LIST ||
                    config_setting_length(e) != 2 ||
                    !(n = config_setting_get_string_elem(e, 0)) ||
                    !(val = config_setting_get_string_elem(e, 1)) || !*n ||
                    strchr(n, '='))
                        return fail(errstr, errstr_size, path, e,
                                    "'%s.config' entry %d must be a pair of two "
                                    "strings (\"name\", \"value\")", gname, i + 1);
                if (props_put(&def->configs, &def->config_cnt, n, strlen(n),
                              val) == -1)
                        return fail(errstr, errstr_size, path, NULL,
                                    "out of memory");
        }
        return 0;
}

int cs_topics_load(const char *path, cs_topic_defs_t *defs, char *errstr,
                   size_t errstr_size)
{
        config_t cfg;
        const config_setting_t *root;
        FILE *fp;
        int rc = -1;

        memset(defs, 0, sizeof(*defs));
        if (!(defs->path = strdup(path)))
                return fail(errstr, errstr_size, path, NULL, "out of memory");
        if (!(fp = fopen(path, "r")))
                return fail(errstr, errstr_size, path, NULL, "cannot open: %s",
                            strerror(errno));
        fclose(fp);
        config_init(&cfg);
        if (config_read_file(&cfg, path) != CONFIG_TRUE) {
                if (config_error_line(&cfg) > 0)
                        snprintf(errstr, errstr_size, "%s:%d - %s", path,
                                 config_error_line(&cfg), config_error_text(&cfg));
                else
                        snprintf(errstr, errstr_size, "%s - %s", path,
                                 config_error_text(&cfg));
                goto done;
        }
        root = config_root_setting(&cfg);
        for (int i = 0; i < config_setting_length(root); i++) {
                const char *name = config_setting_name(config_setting_get_elem(root, (unsigned)i));
                if (!name || (strcmp(name, "data") && strcmp(name, "dead_letter"))) {
                        fail(errstr, errstr_size, path,
                             config_setting_get_elem(root, (unsigned)i),
                             "unknown key '%s' (known keys: data, dead_letter)",
                             name ? name : "?");
                        goto done;
                }
        }
        if (load_def(path, root, CS_TOPIC_DATA, &defs->def[CS_TOPIC_DATA],
                     errstr, errstr_size) == -1 ||
            load_def(path, root, CS_TOPIC_DEAD_LETTER,
                     &defs->def[CS_TOPIC_DEAD_LETTER], errstr, errstr_size) == -1)
                goto done;
        rc = 0;
done:
        config_destroy(&cfg);
        return rc;
}

void cs_topics_defs_free(cs_topic_defs_t *defs)
{
        if (!defs)
                return;
        for (int r = 0; r < 2; r++)
                props_free(defs->def[r].configs, defs->def[r].config_cnt);
        free(defs->path);
        memset(defs, 0, sizeof(*defs));
}

const char *cs_topics_spec_config(const cs_topic_spec_t *spec, const char *name)
{
        for (size_t i = 0; i < spec->config_cnt; i++)
                if (!strcmp(spec->configs[i].name, name))
                        return spec->configs[i].value;
        return NULL;
}

static void warn(cs_topic_spec_t *spec, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void warn(cs_topic_spec_t *spec, const char *fmt, ...)
{
        size_t len = strlen(spec->warnings);
        va_list ap;

        if (len + 3 >= sizeof(spec->warnings))
                return;
        if (len)
                len += (size_t)snprintf(spec->warnings + len,
                                        sizeof(spec->warnings) - len, "; ");
        va_start(ap, fmt);
        vsnprintf(spec->warnings + len, sizeof(spec->warnings) - len, fmt, ap);
        va_end(ap);
}

int cs_topics_spec(const cs_topic_def_t *def, cs_topic_role_t role,
                   const char *name, size_t max_document_bytes,
                   int broker_count, const cs_topic_override_t *ov,
                   cs_topic_spec_t *spec, char *errstr, size_t errstr_size)
{
        const char *mir;
        char num[32];

        memset(spec, 0, sizeof(*spec));
        if (!name || !*name || strlen(name) >= sizeof(spec->name)) {
                snprintf(errstr, errstr_size, "invalid topic name");
                return -1;
        }
        snprintf(spec->name, sizeof(spec->name), "%s", name);
        spec->role = role;
        spec->partitions = def->partitions;
        spec->replication_factor = def->replication_factor;
        for (size_t i = 0; i < def->config_cnt; i++)
                if (props_put(&spec->configs, &spec->config_cnt,
                              def->configs[i].name, strlen(def->configs[i].name),
                              def->configs[i].value) == -1)
                        goto oom;
        if (!cs_topics_spec_config(spec, "max.message.bytes")) {
                snprintf(num, sizeof(num), "%lld",
                         (long long)max_document_bytes + def->headroom_bytes);
                if (props_put(&spec->configs, &spec->config_cnt,
                              "max.message.bytes", 17, num) == -1)
                        goto oom;
        }
        if (ov) {
                if (ov->partitions > 0)
                        spec->partitions = ov->partitions;
                if (ov->replication_factor > 0)
                        spec->replication_factor = ov->replication_factor;
                for (size_t i = 0; i < ov->config_cnt; i++) {
                        const char *eq = strchr(ov->configs[i], '=');
                        if (!eq || eq == ov->configs[i]) {
                                snprintf(errstr, errstr_size, "topic config '%s' "
                                         "must be name=value", ov->configs[i]);
                                cs_topics_spec_free(spec);
                                return -1;
                        }
                        if (props_put(&spec->configs, &spec->config_cnt,
                                      ov->configs[i], (size_t)(eq - ov->configs[i]),
                                      eq + 1) == -1)
                                goto oom;
                }
        }
        if (broker_count > 0 && spec->replication_factor > broker_count) {
                warn(spec, "replication factor %d lowered to %d: the cluster has "
                     "only %d broker(s)", spec->replication_factor, broker_count,
                     broker_count);
                spec->replication_factor = broker_count;
        }
        mir = cs_topics_spec_config(spec, "min.insync.replicas");
        if (mir && atoi(mir) > spec->replication_factor) {
                warn(spec, "min.insync.replicas %s lowered to %d (the replication "
                     "factor)", mir, spec->replication_factor);
                snprintf(num, sizeof(num), "%d", spec->replication_factor);
                if (props_put(&spec->configs, &spec->config_cnt,
                              "min.insync.replicas", 19, num) == -1)
                        goto oom;
        }
        return 0;
oom:
        snprintf(errstr, errstr_size, "out of memory");
        cs_topics_spec_free(spec);
        return -1;
}

void cs_topics_spec_free(cs_topic_spec_t *spec)
{
        if (!spec)
                return;
        props_free(spec->configs, spec->config_cnt);
        spec->configs = NULL;
        spec->config_cnt = 0;
}

rd_kafka_NewTopic_t *cs_topics_new_topic(const cs_topic_spec_t *spec,
                                         char *errstr, size_t errstr_size)
{
        rd_kafka_NewTopic_t *nt;
        char msg[512];

        nt = rd_kafka_NewTopic_new(spec->name, spec->partitions,
                                   spec->replication_factor, msg, sizeof(msg));
        if (!nt) {
                snprintf(errstr, errstr_size, "%s: %s", spec->name, msg);
                return NULL;
        }
        for (size_t i = 0; i < spec->config_cnt; i++) {
                rd_kafka_resp_err_t err = rd_kafka_NewTopic_set_config(
                        nt, spec->configs[i].name, spec->configs[i].value);
                if (err) {
                        snprintf(errstr, errstr_size, "%s: config %s: %s",
                                 spec->name, spec->configs[i].name,
                                 rd_kafka_err2str(err));
                        rd_kafka_NewTopic_destroy(nt);
                        return NULL;
                }
        }
        return nt;
}

int cs_topics_check(const cs_topic_spec_t *spec, int partitions,
                    int replication_factor, const cs_kafka_prop_t *actual,
                    size_t actual_cnt, char *problems, size_t problems_size)
{
        int n = 0;
        size_t len;

        if (problems_size)
                problems[0] = '\0';
#define PROBLEM(...)                                                           \
        do {                                                                   \
                len = strlen(problems);                                        \
                if (len < problems_size)                                       \
                        snprintf(problems + len, problems_size - len,          \
                                 __VA_ARGS__);                                 \
                n++;                                                           \
        } while (0)
        if (partitions < spec->partitions)
                PROBLEM("partitions: want %d, have %d; ", spec->partitions,
                        partitions);
        if (replication_factor < spec->replication_factor)
                PROBLEM("replication factor: want %d, have %d; ",
                        spec->replication_factor, replication_factor);
        for (size_t i = 0; i < spec->config_cnt; i++) {
                const char *have = NULL;
                for (size_t k = 0; k < actual_cnt; k++)
                        if (!strcmp(actual[k].name, spec->configs[i].name))
                                have = actual[k].value;
                if (!have || strcmp(have, spec->configs[i].value))
                        PROBLEM("%s: want %s, have %s; ", spec->configs[i].name,
                                spec->configs[i].value, have ? have : "(unset)");
        }
#undef PROBLEM
        len = strlen(problems);
        if (len >= 2 && problems[len - 2] == ';')
                problems[len - 2] = '\0';
        return n;
}

/* ---- reading an existing topic's configs (DescribeConfigs) ---- */

/* 1 if err says the broker does not implement the request. */
static int admin_unsupported(rd_kafka_resp_err_t err)
{
        return err == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE ||
               err == RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION ||
               err == RD_KAFKA_RESP_ERR_INVALID_REQUEST;
}

int cs_topics_describe(rd_kafka_t *rk, rd_kafka_queue_t *q, int timeout_ms,
                       const char *topic, cs_kafka_prop_t **out, size_t *cnt,
                       char *errstr, size_t errstr_size)
{
        rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(
                RD_KAFKA_RESOURCE_TOPIC, topic);
        rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(
                rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
        const rd_kafka_ConfigResource_t **rs;
        const rd_kafka_ConfigEntry_t **entries;
        rd_kafka_event_t *ev;
        size_t rcnt, ecnt;
        char tmp[256];
        int rc = -1;

        *out = NULL;
        *cnt = 0;
        rd_kafka_AdminOptions_set_request_timeout(o, timeout_ms, tmp, sizeof(tmp));
        rd_kafka_DescribeConfigs(rk, &res, 1, o, q);
        rd_kafka_AdminOptions_destroy(o);
        rd_kafka_ConfigResource_destroy(res);
        ev = rd_kafka_queue_poll(q, timeout_ms + 5000);
        if (!ev) {
                snprintf(errstr, errstr_size, "DescribeConfigs %s: no answer", topic);
                return -1;
        }
        if (rd_kafka_event_error(ev)) {
                rc = admin_unsupported(rd_kafka_event_error(ev)) ? 1 : -1;
                snprintf(errstr, errstr_size, "DescribeConfigs %s: %s", topic,
                         rd_kafka_event_error_string(ev));
                goto done;
        }
        rs = rd_kafka_DescribeConfigs_result_resources(
                rd_kafka_event_DescribeConfigs_result(ev), &rcnt);
        if (rcnt < 1 || rd_kafka_ConfigResource_error(rs[0])) {
                rd_kafka_resp_err_t err = rcnt ? rd_kafka_ConfigResource_error(rs[0]) :
                                          RD_KAFKA_RESP_ERR__FAIL;
                rc = admin_unsupported(err) ? 1 : -1;
                snprintf(errstr, errstr_size, "DescribeConfigs %s: %s", topic,
                         rcnt ? rd_kafka_ConfigResource_error_string(rs[0]) :
                         "empty result");
                goto done;
        }
        entries = rd_kafka_ConfigResource_configs(rs[0], &ecnt);
        *out = calloc(ecnt + 1, sizeof(**out));
        if (!*out) {
                snprintf(errstr, errstr_size, "out of memory");
                goto done;
        }
        for (size_t i = 0; i < ecnt; i++) {
                const char *v = rd_kafka_ConfigEntry_value(entries[i]);
                (*out)[*cnt].name = strdup(rd_kafka_ConfigEntry_name(entries[i]));
                (*out)[*cnt].value = strdup(v ? v : "");
                (*cnt)++;
        }
        rc = 0;
done:
        rd_kafka_event_destroy(ev);
        return rc;
}

void cs_topics_props_free(cs_kafka_prop_t *p, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(p[i].name);
                free(p[i].value);
        }
        free(p);
}

int cs_topics_no_controller(rd_kafka_t *rk, const struct rd_kafka_metadata *md,
                            int timeout_ms)
{
        int32_t id = rd_kafka_controllerid(rk, timeout_ms < 5000 ? timeout_ms : 5000);
        for (int i = 0; id >= 0 && i < md->broker_cnt; i++)
                if (md->brokers[i].id == id)
                        return 0;
        return 1;
}

int cs_topics_delete_retention_ms(rd_kafka_t *rk, const char *topic,
                                  int timeout_ms, long long *ms, char *errstr,
                                  size_t errstr_size)
{
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err;
        rd_kafka_queue_t *q;
        cs_kafka_prop_t *props = NULL;
        size_t cnt = 0;
        int rc;

        *ms = -1;
        if ((err = rd_kafka_metadata(rk, 0, NULL, &md, timeout_ms))) {
                snprintf(errstr, errstr_size, "metadata: %s", rd_kafka_err2str(err));
                return -1;
        }
        rc = cs_topics_no_controller(rk, md, timeout_ms);
        rd_kafka_metadata_destroy(md);
        if (rc) {
                snprintf(errstr, errstr_size, "the cluster has no controller "
                         "(embedded broker): DescribeConfigs unavailable");
                return 1;
        }
        if (!(q = rd_kafka_queue_new(rk))) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        rc = cs_topics_describe(rk, q, timeout_ms, topic, &props, &cnt, errstr,
                                errstr_size);
        rd_kafka_queue_destroy(q);
        if (rc != 0)
                return rc;
        rc = 1;
        snprintf(errstr, errstr_size, "DescribeConfigs %s: no delete.retention.ms "
                 "in the answer", topic);
        for (size_t i = 0; i < cnt; i++) {
                char *end;
                long long v;
                if (strcmp(props[i].name, "delete.retention.ms"))
                        continue;
                errno = 0;
                v = strtoll(props[i].value, &end, 10);
                if (errno || end == props[i].value || *end || v < 0) {
                        snprintf(errstr, errstr_size, "DescribeConfigs %s: "
                                 "delete.retention.ms '%.32s' is not a number",
                                 topic, props[i].value);
                        rc = -1;
                } else {
                        *ms = v;
                        rc = 0;
                }
                break;
        }
        cs_topics_props_free(props, cnt);
        return rc;
}

long long cs_topics_retention_choose(long long configured_s, long long topic_ms,
                                     const char **source)
{
        long long topic_s;

        *source = "tombstone_retention_seconds";
        if (configured_s <= 0 || topic_ms < 0)
                return configured_s;
        topic_s = topic_ms / 1000;
        if (topic_s < 1)
                topic_s = 1;
        if (topic_s < configured_s) {
                *source = "delete.retention.ms";
                return topic_s;
        }
        return configured_s;
}
