/* send.c — raw Kafka producer for the fault suite: the baseline replay and the hostile documents. */
/*
 * `send BROKERS TOPIC BASELINE.ndjson baseline MANIFEST` replays an NDJSON
 * file from `civisync-produce --output` onto partition 0 of TOPIC.
 * `send ... attack MANIFEST` sends, on the same topic (PREFIX = the part of
 * TOPIC after its last '.'):
 *   framing:  reset Ga, the baseline entity documents again, an end for an
 *             unknown generation, an end for Ga with wrong counts, then a
 *             reset Gc that never gets an end;
 *   hostile:  every document of hostile_list() below, each followed by a
 *             valid new contact (child id 9001xx) that must apply;
 *   bad topic: one document on <topic prefix>bad-name (never consumed).
 * The 10 MB document goes to partition 1 (the mock broker keeps ~5 MB per
 * partition; partition 0 must keep everything else).
 * MANIFEST gets one line per message: partition, offset, expected outcome,
 * name, detail (tab-separated). Outcomes: BASELINE RESEND VALID DLQ APPLIED
 * PARKED_DOC PARKED_REF NOOP IGNORED LAST_ERROR GENERATION NOT_CONSUMED.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "faults.h"

typedef struct msg_s {
        const char *expect;
        char name[64];
        char detail[128];
        char *topic;
        int partition;
        char *key;          /* NULL: no key */
        size_t key_len;
        char *value;        /* NULL: tombstone */
        size_t value_len;
        long long offset;
        int err;
} msg_t;

static msg_t *msgs;
static size_t msg_n, msg_cap;

static msg_t *add(const char *expect, const char *name, const char *topic,
                  int partition, const char *key, size_t key_len,
                  const char *value, size_t value_len)
{
        msg_t *m;
        if (msg_n == msg_cap) {
                msg_cap = msg_cap ? msg_cap * 2 : 256;
                msgs = realloc(msgs, msg_cap * sizeof(*msgs));
        }
        m = &msgs[msg_n++];
        memset(m, 0, sizeof(*m));
        m->expect = expect;
        snprintf(m->name, sizeof(m->name), "%s", name);
        m->topic = strdup(topic);
        m->partition = partition;
        if (key) {
                m->key = malloc(key_len + 1);
                memcpy(m->key, key, key_len);
                m->key[key_len] = '\0';
                m->key_len = key_len;
        }
        if (value) {
                m->value = malloc(value_len + 1);
                memcpy(m->value, value, value_len);
                m->value[value_len] = '\0';
                m->value_len = value_len;
        }
        m->offset = -1;
        return m;
}

static msg_t *add_s(const char *expect, const char *name, const char *topic,
                    const char *key, const char *value)
{
        return add(expect, name, topic, 0, key, key ? strlen(key) : 0, value,
                   value ? strlen(value) : 0);
}

/* Adds a JSON document (dumped compactly, order kept). doc is stolen. */
static msg_t *add_j(const char *expect, const char *name, const char *topic,
                    const char *key, json_t *doc)
{
        char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                     JSON_ENCODE_ANY);
        msg_t *m = add_s(expect, name, topic, key, text);
        free(text);
        json_decref(doc);
        return m;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
        msg_t *m = &msgs[(size_t)rkm->_private];
        (void)rk;
        (void)opaque;
        m->err = rkm->err;
        m->offset = rkm->offset;
        m->partition = rkm->partition;
}

static int send_all(const char *brokers, const char *manifest)
{
        char errstr[512];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_t *rk;
        FILE *fp;
        int failed = 0;
        static const char *props[][2] = {
                { "acks", "all" },
                { "linger.ms", "5" },
                { "max.in.flight.requests.per.connection", "1" },
                { "message.max.bytes", "20000000" },
                { "compression.type", "none" },
                { "message.timeout.ms", "60000" },
        };

        if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK)
                goto conf_fail;
        for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++)
                if (rd_kafka_conf_set(conf, props[i][0], props[i][1], errstr,
                                      sizeof(errstr)) != RD_KAFKA_CONF_OK)
                        goto conf_fail;
        rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
        if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr))))
                goto conf_fail;
        for (size_t i = 0; i < msg_n; i++) {
                msg_t *m = &msgs[i];
                rd_kafka_resp_err_t err;
                /* One at a time: offsets in manifest order, nothing reordered. */
                err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(m->topic),
                                        RD_KAFKA_V_PARTITION(m->partition),
                                        RD_KAFKA_V_KEY(m->key, m->key_len),
                                        RD_KAFKA_V_VALUE(m->value, m->value_len),
                                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                        RD_KAFKA_V_OPAQUE((void *)i),
                                        RD_KAFKA_V_END);
                if (err) {
                        fprintf(stderr, "faults-tool send: %s: %s\n", m->name,
                                rd_kafka_err2str(err));
                        m->err = err;
                        failed++;
                        continue;
                }
                if (m->value_len > 100000 || !strcmp(m->expect, "NOT_CONSUMED") ||
                    i + 1 == msg_n || (i + 1 < msg_n && strcmp(msgs[i + 1].topic, m->topic)))
                        rd_kafka_flush(rk, 60000);
        }
        rd_kafka_flush(rk, 60000);
        rd_kafka_destroy(rk);
        if (!(fp = fopen(manifest, "w"))) {
                perror(manifest);
                return 1;
        }
        for (size_t i = 0; i < msg_n; i++) {
                msg_t *m = &msgs[i];
                if (m->err || m->offset < 0) {
                        fprintf(stderr, "faults-tool send: %s not delivered: %s\n",
                                m->name, rd_kafka_err2str(m->err));
                        failed++;
                }
                fprintf(fp, "%s\t%d\t%lld\t%s\t%s\t%s\n", m->topic, m->partition,
                        m->offset, m->expect, m->name, m->detail);
        }
        fclose(fp);
        return failed ? 1 : 0;
conf_fail:
        fprintf(stderr, "faults-tool send: %s\n", errstr);
        return 1;
}

/* ---- the baseline ---- */

typedef struct base_s {
        json_t *recs;          /* array of {key, value} */
        long long generation;
        json_t *end;           /* the end document */
} base_t;

static int load_baseline(const char *path, base_t *b)
{
        FILE *fp = fopen(path, "r");
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;

        if (!fp) {
                perror(path);
                return -1;
        }
        b->recs = json_array();
        while ((len = getline(&line, &cap, fp)) > 0) {
                json_error_t jerr;
                json_t *rec = json_loadb(line, (size_t)len, JSON_ALLOW_NUL, &jerr);
                json_t *v;
                const char *ent;
                if (!rec) {
                        fprintf(stderr, "%s: %s\n", path, jerr.text);
                        return -1;
                }
                v = json_object_get(rec, "value");
                ent = json_string_value(json_object_get(v, "civisync_entity"));
                if (ent && !strcmp(ent, "civisync_reset"))
                        b->generation = json_integer_value(
                                json_object_get(v, "civisync_generation"));
                if (ent && !strcmp(ent, "civisync_end"))
                        b->end = json_incref(v);
                json_array_append_new(b->recs, rec);
        }
        free(line);
        fclose(fp);
        return b->generation > 0 && b->end ? 0 : -1;
}

/* A NEW copy of the first baseline document of table (with children if
 * want_kids, else one without), or NULL. */
static json_t *template_of(const base_t *b, const char *table, int want_kids)
{
        size_t i;
        json_t *rec;
        json_array_foreach(b->recs, i, rec) {
                json_t *v = json_object_get(rec, "value");
                const char *t = json_string_value(json_object_get(v, "civisync_table"));
                int kids = json_object_get(v, "_childDocuments_") != NULL;
                if (t && !strcmp(t, table) && kids == want_kids)
                        return json_deep_copy(v);
        }
        return NULL;
}

static void set_str(json_t *o, const char *k, const char *v)
{
        json_object_set_new(o, k, v ? json_string(v) : json_null());
}

/* Re-ids a document: id, civisync_child_id (and the key in *key). */
static void re_id(json_t *doc, const char *prefix, const char *table,
                  long long id, char *key, size_t key_size)
{
        snprintf(key, key_size, "%s/%s/%lld", prefix, table, id);
        set_str(doc, "id", key);
        json_object_set_new(doc, "civisync_child_id", json_integer(id));
}

/* A fresh contact document with child id `id` and no children, no unique
 * or reference values: it applies on its own. NEW. */
static json_t *fresh_contact(const base_t *b, const char *prefix, long long id,
                             const char *first_name, char *key, size_t key_size)
{
        json_t *c = template_of(b, "civicrm_contact", 0);
        if (!c) {
                c = template_of(b, "civicrm_contact", 1);
                json_object_del(c, "_childDocuments_");
        }
        re_id(c, prefix, "civicrm_contact", id, key, key_size);
        set_str(c, "external_identifier", NULL);
        json_object_set_new(c, "employer_id", json_null());
        json_object_set_new(c, "primary_contact_id", json_null());
        set_str(c, "first_name", first_name);
        return c;
}

static int valid_seq;

/* A valid new contact after each hostile document: proves the consumer
 * kept going and applied what followed. */
static void add_valid(const base_t *b, const char *prefix, const char *topic)
{
        char key[128], name[64], first[64];
        msg_t *m;
        json_t *c;
        valid_seq++;
        snprintf(first, sizeof(first), "Valid-%d", valid_seq);
        snprintf(name, sizeof(name), "valid-%d", valid_seq);
        c = fresh_contact(b, prefix, 900100 + valid_seq, first, key, sizeof(key));
        m = add_j("VALID", name, topic, key, c);
        snprintf(m->detail, sizeof(m->detail), "%d %s", 900100 + valid_seq, first);
}

static void attack(const base_t *b, const char *prefix, const char *topic,
                   const char *topic_prefix)
{
        long long ga = b->generation + 1000, gz = b->generation + 1500,
                  gc = b->generation + 2000;
        char key[256], ctl[128], text[4096], bad_topic[300];
        size_t i;
        json_t *rec, *d, *c;
        msg_t *m;

        snprintf(ctl, sizeof(ctl), "%s/civisync_control", prefix);
        /* -- framing -- */
        d = json_pack("{s:s, s:i, s:s, s:s, s:I, s:i, s:i}", "id", ctl,
                      "civisync_format", 1, "civisync_prefix", prefix,
                      "civisync_entity", "civisync_reset", "civisync_generation",
                      (json_int_t)ga, "civisync_partition", 0,
                      "civisync_partition_count", 1);
        m = add_j("GENERATION", "reset-then-complete-replay", topic, ctl, d);
        snprintf(m->detail, sizeof(m->detail), "%lld", ga);
        json_array_foreach(b->recs, i, rec) {
                json_t *v = json_object_get(rec, "value");
                const char *ent = json_string_value(json_object_get(v, "civisync_entity"));
                if (json_is_null(v) || (ent && !strncmp(ent, "civisync_", 9)))
                        continue;
                add_j("RESEND", "baseline-resend", topic,
                      json_string_value(json_object_get(rec, "key")), json_incref(v));
        }
        d = json_deep_copy(b->end);
        json_object_set_new(d, "civisync_generation", json_integer(gz));
        m = add_j("IGNORED", "end-for-unknown-generation", topic, ctl, d);
        snprintf(m->detail, sizeof(m->detail), "%lld", gz);
        d = json_deep_copy(b->end);
        json_object_set_new(d, "civisync_generation", json_integer(ga));
        json_object_set_new(d, "civisync_count_contact", json_integer(999999));
        m = add_j("LAST_ERROR", "end-with-wrong-counts", topic, ctl, d);
        snprintf(m->detail, sizeof(m->detail), "%lld", ga);
        d = json_pack("{s:s, s:i, s:s, s:s, s:I, s:i, s:i}", "id", ctl,
                      "civisync_format", 1, "civisync_prefix", prefix,
                      "civisync_entity", "civisync_reset", "civisync_generation",
                      (json_int_t)gc, "civisync_partition", 0,
                      "civisync_partition_count", 1);
        m = add_j("GENERATION", "reset-with-no-end", topic, ctl, d);
        snprintf(m->detail, sizeof(m->detail), "%lld", gc);
        add_valid(b, prefix, topic);

        /* -- hostile documents -- */
#define KEY(id) (snprintf(key, sizeof(key), "%s/civicrm_contact/%d", prefix, (id)), key)
#define HOSTILE(expect, name, value) do { add_s(expect, name, topic, KEY(900001), value); add_valid(b, prefix, topic); } while (0)
#define HOSTILE_J(expect, name, k, doc) do { add_j(expect, name, topic, k, doc); add_valid(b, prefix, topic); } while (0)

        HOSTILE("DLQ", "invalid-json", "{\"id\": this is not json");
        c = fresh_contact(b, prefix, 900001, "Trunc", key, sizeof(key));
        {
                char *full = json_dumps(c, JSON_COMPACT | JSON_PRESERVE_ORDER);
                full[strlen(full) / 2] = '\0';
                HOSTILE("DLQ", "truncated-json", full);
                free(full);
        }
        json_decref(c);
        HOSTILE("DLQ", "json-array", "[1,2,3]");
        HOSTILE("DLQ", "json-scalar-number", "42");
        HOSTILE("DLQ", "json-scalar-string", "\"civisync\"");
        HOSTILE("DLQ", "json-null-literal", "null");
        HOSTILE("DLQ", "empty-object", "{}");
        HOSTILE("DLQ", "trailing-garbage", "{\"id\":\"x\"} {\"id\":\"y\"}");

        c = fresh_contact(b, prefix, 900001, "NoId", key, sizeof(key));
        json_object_del(c, "id");
        HOSTILE_J("DLQ", "missing-id", KEY(900001), c);

        c = fresh_contact(b, prefix, 900001, "IdNotKey", key, sizeof(key));
        HOSTILE_J("DLQ", "id-differs-from-key", KEY(900002), c);

        c = fresh_contact(b, prefix, 900001, "UnknownEntity", key, sizeof(key));
        set_str(c, "civisync_entity", "frobnicator");
        HOSTILE_J("DLQ", "unknown-entity", KEY(900001), c);

        c = fresh_contact(b, prefix, 900001, "EntityTable", key, sizeof(key));
        set_str(c, "civisync_table", "civicrm_email");
        HOSTILE_J("DLQ", "entity-table-mismatch", KEY(900001), c);

        c = fresh_contact(b, prefix, 900001, "Format2", key, sizeof(key));
        json_object_set_new(c, "civisync_format", json_integer(2));
        HOSTILE_J("DLQ", "format-version-2", KEY(900001), c);

        c = fresh_contact(b, prefix, 900001, "UnknownCol", key, sizeof(key));
        json_object_set_new(c, "no_such_column", json_integer(1));
        HOSTILE_J("DLQ", "unknown-column", KEY(900001), c);

        c = fresh_contact(b, prefix, 900001, "X", key, sizeof(key));
        json_object_set_new(c, "first_name", json_integer(12345));
        HOSTILE_J("DLQ", "wrong-type-int-in-text", KEY(900001), c);

        c = fresh_contact(b, prefix, 900001, "WrongType", key, sizeof(key));
        set_str(c, "is_deleted", "yes");
        HOSTILE_J("DLQ", "wrong-type-text-in-int", KEY(900001), c);

        c = fresh_contact(b, prefix, 900001, "WrongType", key, sizeof(key));
        json_object_set_new(c, "do_not_email", json_true());
        HOSTILE_J("DLQ", "wrong-type-boolean", KEY(900001), c);

        c = fresh_contact(b, prefix, 900001, "WrongType", key, sizeof(key));
        json_object_set_new(c, "do_not_phone", json_pack("{s:i}", "a", 1));
        HOSTILE_J("DLQ", "wrong-type-object-value", KEY(900001), c);

        c = fresh_contact(b, prefix, 900001, "BadDate", key, sizeof(key));
        set_str(c, "birth_date", "2020-13-45'; DROP TABLE civicrm_contact; --");
        HOSTILE_J("DLQ", "injection-in-date-field", KEY(900001), c);

        c = fresh_contact(b, prefix, 900001, "HugeInt", key, sizeof(key));
        json_object_set_new(c, "do_not_email", json_integer(9223372036854775807LL));
        HOSTILE_J("DLQ", "huge-int-in-tinyint", KEY(900001), c);

        snprintf(text, sizeof(text), "{\"id\":\"%s/civicrm_contact/900001\","
                 "\"civisync_format\":1,\"civisync_prefix\":\"%s\","
                 "\"civisync_entity\":\"contact\",\"civisync_table\":\"civicrm_contact\","
                 "\"civisync_child_id\":99999999999999999999999,"
                 "\"civisync_time_zone\":null}", prefix, prefix);
        HOSTILE("DLQ", "huge-int-beyond-int64", text);

        snprintf(key, sizeof(key), "%s/civicrm_contact/99999999999999999999", prefix);
        add_s("DLQ", "huge-id-in-key", topic, key, "{}");
        add_valid(b, prefix, topic);

        c = fresh_contact(b, prefix, 900001, "Neg", key, sizeof(key));
        re_id(c, prefix, "civicrm_contact", -5, key, sizeof(key));
        HOSTILE_J("DLQ", "negative-id", key, c);

        c = fresh_contact(b, prefix, 900001, "Zero", key, sizeof(key));
        re_id(c, prefix, "civicrm_contact", 0, key, sizeof(key));
        HOSTILE_J("DLQ", "zero-id", key, c);

        c = fresh_contact(b, prefix, 900001, "NegInDoc", key, sizeof(key));
        json_object_set_new(c, "civisync_child_id", json_integer(-1));
        HOSTILE_J("DLQ", "negative-child-id-field", KEY(900001), c);

        /* SQL metacharacters / injection in every kind of field. */
        snprintf(key, sizeof(key), "%s/civicrm_contact/1;DROP TABLE civicrm_contact", prefix);
        add_s("DLQ", "injection-in-key", topic, key, "{}");
        add_valid(b, prefix, topic);

        c = fresh_contact(b, prefix, 900001, "TableInj", key, sizeof(key));
        snprintf(key, sizeof(key), "%s/civicrm_contact` WHERE 1;DROP TABLE civicrm_email;--/5", prefix);
        set_str(c, "id", key);
        set_str(c, "civisync_table", "civicrm_contact` WHERE 1;DROP TABLE civicrm_email;--");
        HOSTILE_J("DLQ", "injection-in-table-name", key, c);

        c = fresh_contact(b, prefix, 900001, "ColInj", key, sizeof(key));
        json_object_set_new(c, "first_name` = 'x', `last_name", json_string("pwn"));
        HOSTILE_J("DLQ", "injection-in-column-name", KEY(900001), c);

        c = fresh_contact(b, prefix, 900001, "EntInj", key, sizeof(key));
        set_str(c, "civisync_entity", "contact'; DROP TABLE civicrm_contact; --");
        HOSTILE_J("DLQ", "injection-in-entity", KEY(900001), c);

        c = fresh_contact(b, prefix, 900001, "PrefixInj", key, sizeof(key));
        set_str(c, "civisync_prefix", "X'; DROP TABLE civicrm_contact; --");
        HOSTILE_J("DLQ", "injection-in-prefix-field", KEY(900001), c);

        c = template_of(b, "civicrm_entity_tag", 0);
        if (!c)
                c = template_of(b, "civicrm_note", 0);
        if (c) {
                const char *t = json_string_value(json_object_get(c, "civisync_table"));
                char tcopy[64];
                snprintf(tcopy, sizeof(tcopy), "%s", t);
                re_id(c, prefix, tcopy, 900001, key, sizeof(key));
                set_str(c, "entity_table", "civicrm_contact'; DROP TABLE civicrm_contact; --");
                HOSTILE_J("DLQ", "injection-in-poly-table-value", key, c);
        }

        c = template_of(b, "civicrm_group", 0);
        if (c) {
                re_id(c, prefix, "civicrm_group", 900001, key, sizeof(key));
                set_str(c, "name", "Inj group");
                set_str(c, "title", "Inj group");
                set_str(c, "parents", "1); DROP TABLE civicrm_group; --");
                HOSTILE_J("DLQ", "injection-in-id-list", key, c);
        }

        d = json_deep_copy(b->end);
        json_object_set_new(d, "civisync_generation", json_integer(gc));
        json_object_set_new(d, "civisync_count_contact; DROP TABLE civicrm_contact", json_integer(1));
        HOSTILE_J("DLQ", "injection-in-count-name", ctl, d);

        /* Injection in values is data: stored byte for byte, nothing else moves. */
        c = fresh_contact(b, prefix, 900201, "Robert'); DROP TABLE civicrm_contact;--", key, sizeof(key));
        set_str(c, "last_name", "' OR '1'='1");
        set_str(c, "nick_name", "\\'; SHUTDOWN; -- `x` \"y\" %s %n _%");
        set_str(c, "external_identifier", "ext'; DELETE FROM civicrm_contact; --");
        m = add_j("APPLIED", "injection-in-values", topic, KEY(900201), c);
        snprintf(m->detail, sizeof(m->detail), "900201");
        add_valid(b, prefix, topic);

        c = fresh_contact(b, prefix, 900202, "TzInj", key, sizeof(key));
        set_str(c, "civisync_time_zone", "UTC'; DROP TABLE civicrm_contact; --");
        m = add_j("APPLIED", "injection-in-time-zone", topic, KEY(900202), c);
        snprintf(m->detail, sizeof(m->detail), "900202");
        add_valid(b, prefix, topic);

        c = fresh_contact(b, prefix, 900203, "x", key, sizeof(key));
        json_object_set_new(c, "first_name", json_stringn("nul\0byte", 8));
        m = add_j("APPLIED", "escaped-nul-in-value", topic, KEY(900203), c);
        snprintf(m->detail, sizeof(m->detail), "900203");
        add_valid(b, prefix, topic);

        /* Encoding attacks. */
        snprintf(text, sizeof(text), "{\"id\":\"%s/civicrm_contact/900001\","
                 "\"civisync_format\":1,\"civisync_prefix\":\"%s\","
                 "\"civisync_entity\":\"contact\",\"civisync_table\":\"civicrm_contact\","
                 "\"civisync_child_id\":900001,\"civisync_time_zone\":null,"
                 "\"first_name\":\"bad \xff\xfe utf8 \xc3\x28\"}", prefix, prefix);
        HOSTILE("DLQ", "invalid-utf8-in-value", text);
        snprintf(key, sizeof(key), "%s/civicrm_contact/9\xff\xfe", prefix);
        add_s("DLQ", "invalid-utf8-in-key", topic, key, "{}");
        add_valid(b, prefix, topic);
        {
                char raw[256];
                int n = snprintf(raw, sizeof(raw), "{\"id\":\"%s/civicrm_contact/900001\","
                                 "\"first_name\":\"a", prefix);
                raw[n++] = '\0';
                n += snprintf(raw + n, sizeof(raw) - (size_t)n, "b\"}");
                add("DLQ", "raw-nul-byte-in-json", topic, 0, KEY(900001), strlen(key),
                    raw, (size_t)n);
                add_valid(b, prefix, topic);
        }
        {
                /* "first\u0000name": jansson's C API cannot make such a key. */
                char *full, *raw;
                c = fresh_contact(b, prefix, 900001, "NulName", key, sizeof(key));
                full = json_dumps(c, JSON_COMPACT | JSON_PRESERVE_ORDER);
                json_decref(c);
                raw = malloc(strlen(full) + 64);
                sprintf(raw, "{\"first\\u0000name\":\"x\",%s", full + 1);
                HOSTILE("DLQ", "nul-in-field-name", raw);
                free(raw);
                free(full);
        }
        {
                size_t depth = 5000, n = 0;
                char *deep = malloc(depth * 2 + 256);
                n += (size_t)sprintf(deep, "{\"id\":\"%s/civicrm_contact/900001\",\"x\":", prefix);
                for (size_t k = 0; k < depth; k++)
                        deep[n++] = '[';
                for (size_t k = 0; k < depth; k++)
                        deep[n++] = ']';
                deep[n++] = '}';
                deep[n] = '\0';
                HOSTILE("DLQ", "deeply-nested-arrays", deep);
                free(deep);
        }
        c = fresh_contact(b, prefix, 900001, "Nested", key, sizeof(key));
        json_object_set_new(c, "nick_name", json_pack("{s:{s:{s:{s:[i]}}}}", "a", "b", "c", "d", 1));
        HOSTILE_J("DLQ", "nested-object-value", KEY(900001), c);

        /* Structure attacks. */
        c = template_of(b, "civicrm_contact", 1);
        if (c) {
                json_t *kids = json_object_get(c, "_childDocuments_");
                json_t *kid = json_array_get(kids, 0);
                long long cid = json_integer_value(json_object_get(c, "civisync_child_id"));
                char ckey[128];
                snprintf(ckey, sizeof(ckey), "%s/civicrm_contact/%lld", prefix, cid);
                json_object_set_new(kid, "contact_id", json_integer(cid + 1));
                HOSTILE_J("DLQ", "nested-wrong-link", ckey, c);

                c = template_of(b, "civicrm_contact", 1);
                kid = json_deep_copy(json_array_get(json_object_get(c, "_childDocuments_"), 0));
                add_j("DLQ", "nested-entity-at-top-level", topic,
                      json_string_value(json_object_get(kid, "id")), kid);
                add_valid(b, prefix, topic);
                json_object_set_new(c, "_childDocuments_", json_array());
                snprintf(ckey, sizeof(ckey), "%s/civicrm_contact/%lld", prefix,
                         json_integer_value(json_object_get(c, "civisync_child_id")));
                HOSTILE_J("DLQ", "empty-child-documents", ckey, c);

                c = template_of(b, "civicrm_contact", 1);
                kid = json_array_get(json_object_get(c, "_childDocuments_"), 0);
                json_object_set_new(kid, "_childDocuments_",
                                    json_pack("[{s:s}]", "id", "x"));
                HOSTILE_J("DLQ", "grandchild-documents", ckey, c);
        }
        c = fresh_contact(b, prefix, 900001, "NoKey", key, sizeof(key));
        add_j("DLQ", "message-without-key", topic, NULL, c);
        add_valid(b, prefix, topic);

        /* Prefix mismatches. */
        c = fresh_contact(b, prefix, 900001, "OtherPrefix", key, sizeof(key));
        re_id(c, "OTHERPFX", "civicrm_contact", 900001, key, sizeof(key));
        set_str(c, "civisync_prefix", "OTHERPFX");
        HOSTILE_J("DLQ", "prefix-mismatches-topic", key, c);
        c = fresh_contact(b, prefix, 900001, "DocPrefix", key, sizeof(key));
        set_str(c, "civisync_prefix", "OTHERPFX");
        HOSTILE_J("DLQ", "doc-prefix-differs-from-key", KEY(900001), c);

        /* Control documents out of shape. */
        d = json_pack("{s:s, s:i, s:s, s:s, s:I, s:i, s:i}", "id", ctl,
                      "civisync_format", 1, "civisync_prefix", prefix,
                      "civisync_entity", "civisync_reset", "civisync_generation",
                      (json_int_t)gc + 7, "civisync_partition", 3,
                      "civisync_partition_count", 2);
        HOSTILE_J("DLQ", "reset-partition-out-of-range", ctl, d);
        d = json_pack("{s:s, s:i, s:s, s:s, s:I, s:i, s:i}", "id", ctl,
                      "civisync_format", 1, "civisync_prefix", prefix,
                      "civisync_entity", "civisync_reset", "civisync_generation",
                      (json_int_t)gc + 8, "civisync_partition", 0,
                      "civisync_partition_count", 1);
        HOSTILE_J("DLQ", "reset-on-entity-key", KEY(900001), d);
        d = json_deep_copy(b->end);
        json_object_set_new(d, "civisync_generation", json_integer(gc));
        json_object_set_new(d, "civisync_count_contact", json_integer(-3));
        HOSTILE_J("DLQ", "end-with-negative-count", ctl, d);
        d = json_deep_copy(b->end);
        json_object_set_new(d, "civisync_generation", json_integer(gc));
        json_object_set_new(d, "civisync_count_frobnicator", json_integer(3));
        HOSTILE_J("DLQ", "end-with-unknown-entity-count", ctl, d);

        /* Deletes. */
        add_s("NOOP", "tombstone-unknown-id", topic, KEY(987654), NULL);
        add_valid(b, prefix, topic);
        snprintf(key, sizeof(key), "%s/civicrm_email/1", prefix);
        add_s("DLQ", "tombstone-nested-table", topic, key, NULL);
        add_valid(b, prefix, topic);
        snprintf(key, sizeof(key), "%s/civicrm_nope/1", prefix);
        add_s("DLQ", "tombstone-unknown-table", topic, key, NULL);
        add_valid(b, prefix, topic);

        /* References that never arrive. */
        c = template_of(b, "civicrm_relationship", 0);
        if (c) {
                re_id(c, prefix, "civicrm_relationship", 900001, key, sizeof(key));
                json_object_set_new(c, "contact_id_a", json_integer(8888888));
                m = add_j("PARKED_DOC", "required-ref-never-arrives", topic, key, c);
                snprintf(m->detail, sizeof(m->detail), "%s", key);
                add_valid(b, prefix, topic);
        }
        c = fresh_contact(b, prefix, 900204, "Dangling", key, sizeof(key));
        json_object_set_new(c, "employer_id", json_integer(7777777));
        m = add_j("PARKED_REF", "nullable-ref-never-arrives", topic, KEY(900204), c);
        snprintf(m->detail, sizeof(m->detail), "900204");
        add_valid(b, prefix, topic);

        /* A topic whose suffix is not a valid prefix: never subscribed. */
        snprintf(bad_topic, sizeof(bad_topic), "%sbad-name", topic_prefix);
        snprintf(key, sizeof(key), "bad-name/civicrm_contact/1");
        add_s("NOT_CONSUMED", "topic-not-a-valid-prefix", bad_topic, key, "{}");

        /* The last word: one more valid document. */
        add_valid(b, prefix, topic);
#undef KEY
#undef HOSTILE
#undef HOSTILE_J
}

/* The 10 MB document, alone: partition 1 (see the top of this file). */
static void big(const base_t *b, const char *prefix, const char *topic)
{
        char key[256];
        json_t *c;
        msg_t *m;
#define KEY(id) (snprintf(key, sizeof(key), "%s/civicrm_contact/%d", prefix, (id)), key)
        {
                size_t size = 10 * 1024 * 1024;
                char *name = malloc(size + 1), *doc;
                memset(name, 'A', size);
                name[size] = '\0';
                c = fresh_contact(b, prefix, 900001, name, key, sizeof(key));
                free(name);
                doc = json_dumps(c, JSON_COMPACT | JSON_PRESERVE_ORDER);
                json_decref(c);
                m = add("DLQ", "ten-megabyte-document", topic, 1, KEY(900001),
                        strlen(key), doc, strlen(doc));
                snprintf(m->detail, sizeof(m->detail), "%zu bytes", strlen(doc));
                free(doc);
        }
        /* Then a valid document on partition 0: must apply (child id 900190). */
        valid_seq = 89;
        add_valid(b, prefix, topic);
#undef KEY
}

int ft_send_main(int argc, char **argv)
{
        base_t b = { 0 };
        const char *topic, *dot;
        char prefix[64], topic_prefix[256];

        if (argc < 6 || (strcmp(argv[4], "baseline") && strcmp(argv[4], "attack") &&
                          strcmp(argv[4], "big"))) {
                fprintf(stderr, "usage: faults-tool send BROKERS TOPIC BASELINE.ndjson "
                        "baseline|attack|big MANIFEST\n");
                return 2;
        }
        topic = argv[2];
        if (!(dot = strrchr(topic, '.'))) {
                fprintf(stderr, "faults-tool send: topic %s has no '.'\n", topic);
                return 2;
        }
        snprintf(prefix, sizeof(prefix), "%s", dot + 1);
        snprintf(topic_prefix, sizeof(topic_prefix), "%.*s", (int)(dot - topic + 1), topic);
        if (load_baseline(argv[3], &b) == -1) {
                fprintf(stderr, "faults-tool send: %s: no complete sync in it\n", argv[3]);
                return 1;
        }
        if (!strcmp(argv[4], "baseline")) {
                size_t i;
                json_t *rec;
                json_array_foreach(b.recs, i, rec) {
                        json_t *v = json_object_get(rec, "value");
                        const char *k = json_string_value(json_object_get(rec, "key"));
                        if (json_is_null(v))
                                add_s("BASELINE", "baseline", topic, k, NULL);
                        else
                                add_j("BASELINE", "baseline", topic, k, json_incref(v));
                }
        } else if (!strcmp(argv[4], "big")) {
                big(&b, prefix, topic);
        } else {
                attack(&b, prefix, topic, topic_prefix);
        }
        return send_all(argv[1], argv[5]);
}
