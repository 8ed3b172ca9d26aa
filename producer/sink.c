/* sink.c — where produced documents go: Kafka, an NDJSON file, or nowhere (dry run). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "doc.h"
#include "kafka.h"
#include "log.h"
#include "sink.h"

typedef enum { SINK_KAFKA, SINK_FILE, SINK_DRYRUN } sink_kind_t;

struct cs_sink_s {
        sink_kind_t kind;
        long long sent;
        long long bytes;
        /* Kafka */
        rd_kafka_t *rk;
        rd_kafka_topic_t *rkt;
        int partition_cnt;
        long long delivered;
        long long failed;
        char first_error[512];
        /* file */
        FILE *fp;
        char *path;
        char *tmp_path;
        int to_stdout;          /* path "-": a stream, no temp file */
        int direct;             /* written as it goes, no temp file and no
                                   rename: "-", or an existing path that is
                                   not a regular file (/dev/null, a FIFO) */
        /* cs_sink_set_gate: the stamp of the documents cs_sink_send_doc
           sends (0: none) */
        long long gate_run;
        long long gate_docs;
};

static volatile sig_atomic_t sink_interrupted;

void cs_sink_interrupt(void)
{
        sink_interrupted = 1;
}

/* Delivery report: exactly once per message, from rd_kafka_poll/flush on
 * this thread. */
static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm,
                      void *opaque)
{
        cs_sink_t *sink = opaque;
        (void)rk;
        if (rkm->err) {
                if (sink->failed++ == 0)
                        snprintf(sink->first_error, sizeof(sink->first_error),
                                 "delivery of %.*s failed: %s",
                                 (int)(rkm->key_len > 200 ? 200 : rkm->key_len),
                                 rkm->key ? (const char *)rkm->key : "",
                                 rd_kafka_err2str(rkm->err));
        } else {
                sink->delivered++;
        }
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason,
                     void *opaque)
{
        cs_sink_t *sink = opaque;
        (void)rk;
        if (err == RD_KAFKA_RESP_ERR__FATAL) {
                char fatal[512];
                rd_kafka_fatal_error(sink->rk, fatal, sizeof(fatal));
                cs_error("kafka fatal error: %s", fatal);
                if (!sink->first_error[0])
                        snprintf(sink->first_error, sizeof(sink->first_error),
                                 "fatal: %.500s", fatal);
                sink->failed++;
        } else {
                cs_warn("kafka: %s: %s", rd_kafka_err2name(err), reason);
        }
}

cs_sink_t *cs_sink_kafka_new(const cs_producer_conf_t *conf, const char *topic,
                             char *errstr, size_t errstr_size)
{
        cs_sink_t *sink = calloc(1, sizeof(*sink));
        rd_kafka_conf_t *kconf;
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err;
        char max_bytes[32];
        /* Defaults a user property of the same name replaces (the user's
         * own properties are set first, by cs_kafka_conf_new). acks and
         * enable.idempotence are civisync's delivery guarantee: a property
         * weakening them is refused when the configuration is loaded
         * (cs_kafka_producer_guarantees), so only tuning reaches here. */
        static const char *const defaults[][2] = {
                { "enable.idempotence", "true" },
                { "acks", "all" },
                { "compression.type", "lz4" },
                { "linger.ms", "20" },
                { "message.timeout.ms", "120000" },
                /* Topics are provisioned with civisync's settings, never
                 * auto-created with a broker's defaults. */
                { "allow.auto.create.topics", "false" },
        };

        if (!sink) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        sink->kind = SINK_KAFKA;
        if (!(kconf = cs_kafka_conf_new(&conf->kafka, errstr, errstr_size))) {
                free(sink);
                return NULL;
        }
        if (cs_kafka_conf_set_pairs(kconf, &conf->kafka, defaults,
                                    sizeof(defaults) / sizeof(defaults[0]), 1,
                                    errstr, errstr_size) == -1)
                goto fail_conf;
        snprintf(max_bytes, sizeof(max_bytes), "%zu",
                 conf->max_document_bytes + 65536);
        if (rd_kafka_conf_set(kconf, "message.max.bytes", max_bytes, errstr,
                              errstr_size) != RD_KAFKA_CONF_OK)
                goto fail_conf;
        rd_kafka_conf_set_dr_msg_cb(kconf, dr_msg_cb);
        rd_kafka_conf_set_error_cb(kconf, error_cb);
        rd_kafka_conf_set_opaque(kconf, sink);

        /* kconf is owned by rk from here on. */
        if (!(sink->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kconf, errstr,
                                      errstr_size)))
                goto fail_conf;
        sink->rkt = rd_kafka_topic_new(sink->rk, topic, NULL);
        err = rd_kafka_metadata(sink->rk, 0, sink->rkt, &md, 15000);
        if (err) {
                snprintf(errstr, errstr_size,
                         "cannot read metadata of topic %s from %s: %s", topic,
                         conf->kafka.brokers, rd_kafka_err2str(err));
                goto fail;
        }
        if (md->topic_cnt != 1 || md->topics[0].err ||
            md->topics[0].partition_cnt < 1) {
                snprintf(errstr, errstr_size,
                         "topic %s does not exist (%s): create it with "
                         "civisync-topics create, or civisync-broker --topic %s",
                         topic, md->topic_cnt ?
                         rd_kafka_err2str(md->topics[0].err) : "no metadata",
                         topic);
                rd_kafka_metadata_destroy(md);
                goto fail;
        }
        sink->partition_cnt = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
        return sink;

fail_conf:
        if (!sink->rk)
                rd_kafka_conf_destroy(kconf);
fail:
        cs_sink_destroy(sink);
        return NULL;
}

cs_sink_t *cs_sink_file_new(const char *path, char *errstr, size_t errstr_size)
{
        cs_sink_t *sink = calloc(1, sizeof(*sink));

        if (!sink) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        sink->kind = SINK_FILE;
        sink->partition_cnt = 1;
        if (!strcmp(path, "-")) {
                /* A pipe: written as it goes; a write that fails (EPIPE:
                 * SIGPIPE is ignored) fails the run, so the state only
                 * advances when the whole output was written. */
                sink->to_stdout = 1;
                sink->direct = 1;
                sink->fp = stdout;
                signal(SIGPIPE, SIG_IGN);
                if (!(sink->path = strdup("stdout"))) {
                        snprintf(errstr, errstr_size, "out of memory");
                        goto fail;
                }
                sink->tmp_path = NULL;
                return sink;
        }
        sink->path = strdup(path);
        struct stat st;
        if (sink->path && stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
                /* A device or a FIFO is written in place: renaming a temp
                 * file over it would replace /dev/null itself (as root). */
                int dfd = open(path, O_WRONLY | O_CLOEXEC);
                if (dfd < 0 || !(sink->fp = fdopen(dfd, "w"))) {
                        snprintf(errstr, errstr_size, "%s: %s", path,
                                 strerror(errno));
                        if (dfd >= 0)
                                close(dfd);
                        goto fail;
                }
                sink->direct = 1;
                signal(SIGPIPE, SIG_IGN);
                return sink;
        }
        if (!sink->path ||
            asprintf(&sink->tmp_path, "%s.tmp.%ld", path, (long)getpid()) < 0) {
                sink->tmp_path = NULL;
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
        }
        /* The file holds all of a child's personal data: owner-only (0600,
         * whatever the umask; fchmod also covers a leftover temp file). */
        int fd = open(sink->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                      0600);
        if (fd < 0 || fchmod(fd, 0600) != 0 || !(sink->fp = fdopen(fd, "w"))) {
                snprintf(errstr, errstr_size, "%s: %s", sink->tmp_path,
                         strerror(errno));
                if (fd >= 0)
                        close(fd);
                goto fail;
        }
        return sink;
fail:
        cs_sink_destroy(sink);
        return NULL;
}

cs_sink_t *cs_sink_dryrun_new(void)
{
        cs_sink_t *sink = calloc(1, sizeof(*sink));
        if (sink) {
                sink->kind = SINK_DRYRUN;
                sink->partition_cnt = 1;
        }
        return sink;
}

int cs_sink_partition_count(const cs_sink_t *sink)
{
        return sink->partition_cnt;
}

int cs_sink_partition_for(const cs_sink_t *sink, const char *key)
{
        if (sink->kind != SINK_KAFKA || sink->partition_cnt <= 1)
                return 0;
        return rd_kafka_msg_partitioner_consistent(sink->rkt, key, strlen(key),
                                                   sink->partition_cnt, NULL,
                                                   NULL);
}

/* The file's name in messages: the temp file, or "stdout". */
static const char *sink_name(const cs_sink_t *sink)
{
        return sink->tmp_path ? sink->tmp_path : sink->path;
}

static int file_send(cs_sink_t *sink, const char *key, const char *value,
                     size_t value_len, int partition, char *errstr,
                     size_t errstr_size)
{
        json_t *jkey = json_string(key);
        char *key_json;

        if (!jkey) {
                snprintf(errstr, errstr_size, "key is not valid UTF-8");
                return -1;
        }
        key_json = json_dumps(jkey, JSON_ENCODE_ANY | JSON_COMPACT);
        json_decref(jkey);
        if (!key_json) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        fprintf(sink->fp, "{\"key\":%s,\"partition\":%d,\"value\":", key_json,
                partition);
        free(key_json);
        if (value)
                fwrite(value, 1, value_len, sink->fp);
        else
                fputs("null", sink->fp);
        fputs("}\n", sink->fp);
        if (ferror(sink->fp)) {
                snprintf(errstr, errstr_size, "%s: %s", sink_name(sink),
                         strerror(errno));
                return -1;
        }
        return 0;
}

int cs_sink_send(cs_sink_t *sink, const char *key, const char *value,
                 size_t value_len, int partition, char *errstr,
                 size_t errstr_size)
{
        if (partition < 0)
                partition = cs_sink_partition_for(sink, key);
        if (sink_interrupted) {
                snprintf(errstr, errstr_size, "interrupted");
                return -1;
        }
        if (sink->kind == SINK_FILE &&
            file_send(sink, key, value, value_len, partition, errstr,
                      errstr_size) == -1)
                return -1;
        if (sink->kind == SINK_KAFKA) {
                for (;;) {
                        rd_kafka_resp_err_t err = rd_kafka_producev(
                                sink->rk, RD_KAFKA_V_RKT(sink->rkt),
                                RD_KAFKA_V_PARTITION(partition),
                                RD_KAFKA_V_KEY(key, strlen(key)),
                                RD_KAFKA_V_VALUE((void *)value, value_len),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_END);
                        if (!err)
                                break;
                        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                                snprintf(errstr, errstr_size,
                                         "produce %s: %s", key,
                                         rd_kafka_err2str(err));
                                return -1;
                        }
                        /* Queue full: serve delivery reports, then retry. */
                        rd_kafka_poll(sink->rk, 100);
                        if (sink_interrupted) {
                                snprintf(errstr, errstr_size, "interrupted");
                                return -1;
                        }
                }
                rd_kafka_poll(sink->rk, 0);
                if (sink->failed) {
                        snprintf(errstr, errstr_size, "%s", sink->first_error);
                        return -1;
                }
        }
        sink->sent++;
        sink->bytes += (long long)value_len;
        return 0;
}

int cs_sink_flush(cs_sink_t *sink, int timeout_ms, char *errstr,
                  size_t errstr_size)
{
        if (sink->kind == SINK_FILE) {
                if (fflush(sink->fp) != 0) {
                        snprintf(errstr, errstr_size, "%s: %s",
                                 sink_name(sink), strerror(errno));
                        return -1;
                }
                return 0;
        }
        if (sink->kind != SINK_KAFKA)
                return 0;
        /* Flush in slices so an interrupt is noticed. */
        for (int waited = 0; rd_kafka_outq_len(sink->rk) > 0 &&
                             waited < timeout_ms && !sink_interrupted;
             waited += 500)
                rd_kafka_flush(sink->rk, 500);
        if (sink->failed) {
                snprintf(errstr, errstr_size, "%lld message(s) not delivered; "
                         "first: %s", sink->failed, sink->first_error);
                return -1;
        }
        if (rd_kafka_outq_len(sink->rk) > 0) {
                snprintf(errstr, errstr_size,
                         "%d message(s) still undelivered after %d ms%s",
                         rd_kafka_outq_len(sink->rk), timeout_ms,
                         sink_interrupted ? " (interrupted)" : "");
                return -1;
        }
        return 0;
}

int cs_sink_commit(cs_sink_t *sink, char *errstr, size_t errstr_size)
{
        if (sink->kind != SINK_FILE)
                return 0;
        if (sink->direct) {
                /* A pipe or a device cannot be fsynced: what counts is
                 * that every byte was written to it. */
                if (fflush(sink->fp) != 0 || ferror(sink->fp)) {
                        snprintf(errstr, errstr_size, "%s: %s", sink->path,
                                 strerror(errno));
                        return -1;
                }
                return 0;
        }
        if (fflush(sink->fp) != 0 || fsync(fileno(sink->fp)) != 0) {
                snprintf(errstr, errstr_size, "%s: %s", sink->tmp_path,
                         strerror(errno));
                return -1;
        }
        fclose(sink->fp);
        sink->fp = NULL;
        if (rename(sink->tmp_path, sink->path) != 0) {
                snprintf(errstr, errstr_size, "rename %s -> %s: %s",
                         sink->tmp_path, sink->path, strerror(errno));
                return -1;
        }
        free(sink->tmp_path);
        sink->tmp_path = NULL;
        return 0;
}

long long cs_sink_sent(const cs_sink_t *sink)
{
        return sink->sent;
}

long long cs_sink_bytes(const cs_sink_t *sink)
{
        return sink->bytes;
}

void cs_sink_destroy(cs_sink_t *sink)
{
        if (!sink)
                return;
        if (sink->rkt)
                rd_kafka_topic_destroy(sink->rkt);
        if (sink->rk) {
                /* Undelivered messages are dropped here on purpose: the
                 * caller reports them and leaves the state untouched. */
                rd_kafka_purge(sink->rk, RD_KAFKA_PURGE_F_QUEUE |
                                         RD_KAFKA_PURGE_F_INFLIGHT);
                rd_kafka_poll(sink->rk, 0);
                rd_kafka_destroy(sink->rk);
        }
        if (sink->fp && !sink->to_stdout)
                fclose(sink->fp);
        if (sink->tmp_path)
                unlink(sink->tmp_path);
        free(sink->tmp_path);
        free(sink->path);
        free(sink);
}

void cs_sink_set_gate(cs_sink_t *sink, long long run, long long docs)
{
        sink->gate_run = run > 0 && docs > 0 ? run : 0;
        sink->gate_docs = run > 0 && docs > 0 ? docs : 0;
}

int cs_sink_send_doc(cs_sink_t *sink, const char *key, json_t *doc,
                     size_t max_bytes, int partition, char *errstr,
                     size_t errstr_size)
{
        size_t len;
        char *value;
        int rc;

        if (sink->gate_run &&
            cs_doc_gate_stamp(doc, sink->gate_run, sink->gate_docs) == -1) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        if (!(value = cs_doc_dump(doc, max_bytes, &len, errstr, errstr_size)))
                return -1;
        rc = cs_sink_send(sink, key, value, len, partition, errstr, errstr_size);
        free(value);
        return rc;
}
