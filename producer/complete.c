/* complete.c — a complete sync: reset, replay of one consistent snapshot, end marker. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "complete.h"
#include "registry_custom.h"
#include "doc.h"
#include "log.h"
#include "progress.h"
#include "registry.h"
#include "snapshot.h"
#include "incremental.h"

#define FLUSH_TIMEOUT_MS 300000

typedef struct complete_ctx_s {
        const cs_producer_conf_t *conf;
        cs_sink_t *sink;
        cs_run_stats_t *stats;
        json_t **partition_counts;   /* per partition: entity -> count */
        int partition_cnt;
        cs_progress_t progress;
} complete_ctx_t;

void cs_run_count_add(json_t *counts, const char *entity, long long n)
{
        json_t *cur = json_object_get(counts, entity);
        json_object_set_new(counts, entity,
                            json_integer((cur ? json_integer_value(cur) : 0) + n));
}

void cs_run_count_doc(json_t *counts, const char *root, const json_t *doc)
{
        json_t *kids = json_object_get(doc, CS_F_CHILDREN);
        size_t i;
        json_t *kid;

        cs_run_count_add(counts, root, 1);
        json_array_foreach(kids, i, kid) {
                const char *name = json_string_value(
                        json_object_get(kid, CS_F_ENTITY));
                /* Custom values are not counted: an end document naming a
                 * value table the master does not know would be refused
                 * whole (FORMAT.md §19). */
                if (name && !cs_reg_custom_is(cs_reg_by_name(name)))
                        cs_run_count_add(counts, name, 1);
        }
}

static int emit_doc(const cs_entity_t *root, long long child_id, json_t *doc,
                    void *opaque, char *errstr, size_t errstr_size)
{
        complete_ctx_t *ctx = opaque;
        char key[CS_DOC_ID_MAX];
        int partition;

        if (cs_doc_id(key, sizeof(key), ctx->conf->prefix, root->table,
                      child_id) == -1) {
                snprintf(errstr, errstr_size, "%s %lld: document id too long",
                         root->name, child_id);
                return -1;
        }
        partition = cs_sink_partition_for(ctx->sink, key);
        if (cs_sink_send_doc(ctx->sink, key, doc, ctx->conf->max_document_bytes,
                             partition, errstr, errstr_size) == -1)
                return -1;

        cs_run_count_doc(ctx->partition_counts[partition], root->name, doc);
        cs_run_count_doc(ctx->stats->upserts, root->name, doc);
        ctx->stats->documents++;
        cs_progress_update(&ctx->progress, ctx->stats->documents);
        return 0;
}

static long long new_generation(long long previous)
{
        struct timeval tv;
        long long now_ms;

        gettimeofday(&tv, NULL);
        now_ms = (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
        return now_ms > previous ? now_ms : previous + 1;
}

/* Tombstones for the root rows of the previous state that the snapshot no
 * longer has (gone: BORROWED, entity name -> array of ids), dependents
 * first as in an incremental run, keyed and partitioned like its
 * tombstones. Not in the end markers' counts: those count rows sent. */
static int send_gone(complete_ctx_t *ctx, const json_t *gone, char *errstr,
                     size_t errstr_size)
{
        size_t count, j;
        const cs_entity_t *ents = cs_reg_entities(&count);
        char key[CS_DOC_ID_MAX];
        json_t *id;

        for (size_t i = count; i-- > 0; ) {
                json_array_foreach(json_object_get(gone, ents[i].name), j, id) {
                        long long child_id = json_integer_value(id);

                        if (cs_doc_id(key, sizeof(key), ctx->conf->prefix,
                                      ents[i].table, child_id) == -1) {
                                snprintf(errstr, errstr_size, "%s %lld: document "
                                         "id too long", ents[i].name, child_id);
                                return -1;
                        }
                        if (cs_sink_send(ctx->sink, key, NULL, 0, -1, errstr,
                                         errstr_size) == -1)
                                return -1;
                        cs_run_count_add(ctx->stats->deletes, ents[i].name, 1);
                        ctx->stats->tombstones++;
                }
        }
        return 0;
}

/* Sends one control document to one partition. doc is stolen. */
static int send_control(complete_ctx_t *ctx, json_t *doc, int partition,
                        char *errstr, size_t errstr_size)
{
        char key[CS_DOC_ID_MAX];
        size_t len;
        char *value;
        int rc;

        if (!doc) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        cs_doc_control_id(key, sizeof(key), ctx->conf->prefix);
        value = cs_doc_dump(doc, ctx->conf->max_document_bytes, &len, errstr,
                            errstr_size);
        json_decref(doc);
        if (!value)
                return -1;
        rc = cs_sink_send(ctx->sink, key, value, len, partition, errstr,
                          errstr_size);
        free(value);
        return rc;
}

int cs_complete_run(const cs_producer_conf_t *conf, MYSQL *db, cs_sink_t *sink,
                    long long previous_generation, long long state_gen,
                    int write_files, json_t *created, const json_t *old_incr,
                    cs_run_stats_t *stats, json_t **new_incr, char *errstr,
                    size_t errstr_size)
{
        complete_ctx_t ctx = { .conf = conf, .sink = sink, .stats = stats };
        cs_snap_t *snap = NULL;
        long long total = 0;
        json_t *incr = NULL, *gone = json_object();
        int rc = -1;

        *new_incr = NULL;
        memset(stats, 0, sizeof(*stats));
        stats->upserts = json_object();
        stats->deletes = json_object();
        stats->generation = new_generation(previous_generation);
        ctx.partition_cnt = cs_sink_partition_count(sink);
        ctx.partition_counts = calloc((size_t)ctx.partition_cnt,
                                      sizeof(*ctx.partition_counts));
        if (!ctx.partition_counts) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        for (int p = 0; p < ctx.partition_cnt; p++)
                ctx.partition_counts[p] = json_object();

        if (!(snap = cs_snap_open(db, conf->prefix, conf->batch_rows, errstr,
                                  errstr_size)))
                goto done;
        cs_snap_set_files(snap, conf->files_dir, conf->max_file_bytes);
        if (cs_snap_count(snap, &total, errstr, errstr_size) == -1)
                goto done;
        cs_info("complete sync of prefix %s: generation %lld, %lld documents, "
                "%d partition(s)", conf->prefix, stats->generation, total,
                ctx.partition_cnt);
        cs_progress_init(&ctx.progress, "civisync-produce --complete", total);

        for (int p = 0; p < ctx.partition_cnt; p++)
                if (send_control(&ctx, cs_doc_reset_new(conf->prefix,
                                                        stats->generation, p,
                                                        ctx.partition_cnt),
                                 p, errstr, errstr_size) == -1)
                        goto done;
        if (cs_snap_run(snap, emit_doc, &ctx, errstr, errstr_size) == -1)
                goto done;
        cs_progress_end(&ctx.progress);
        cs_snap_log_file_stats(snap);
        /* The incremental state of the same snapshot: what was just sent;
         * compared with the previous state, the root rows deleted since. */
        if (!cs_incr_state_usable(old_incr)) {
                stats->tombstones = -1;
                cs_warn("prefix %s: no usable incremental state to compare "
                        "with: rows deleted on the child before this run get "
                        "no tombstone, so their last documents may remain in "
                        "the compacted topic and a civisync-consume --resync "
                        "would bring them back until the topic is re-created "
                        "(docs/OPERATIONS.md, \"Stale documents in the topic\")",
                        conf->prefix);
        }
        if (!(incr = cs_incr_snapshot_state(conf, snap, state_gen, write_files,
                                            created, old_incr, gone, errstr,
                                            errstr_size)))
                goto done;
        if (send_gone(&ctx, gone, errstr, errstr_size) == -1)
                goto done;
        if (stats->tombstones >= 0)
                cs_info("complete sync of prefix %s: %lld tombstone(s) for rows "
                        "deleted since the last run", conf->prefix,
                        stats->tombstones);
        /* The end marker goes out only once the whole replay is delivered. */
        if (cs_sink_flush(sink, FLUSH_TIMEOUT_MS, errstr, errstr_size) == -1)
                goto done;
        for (int p = 0; p < ctx.partition_cnt; p++)
                if (send_control(&ctx, cs_doc_end_new(conf->prefix,
                                                      stats->generation, p,
                                                      ctx.partition_cnt,
                                                      ctx.partition_counts[p]),
                                 p, errstr, errstr_size) == -1)
                        goto done;
        if (cs_sink_flush(sink, FLUSH_TIMEOUT_MS, errstr, errstr_size) == -1)
                goto done;
        *new_incr = incr;
        incr = NULL;
        rc = 0;
done:
        json_decref(incr);
        json_decref(gone);
        cs_progress_end(&ctx.progress);
        cs_snap_close(snap);
        for (int p = 0; p < ctx.partition_cnt; p++)
                json_decref(ctx.partition_counts[p]);
        free(ctx.partition_counts);
        return rc;
}

void cs_run_stats_free(cs_run_stats_t *stats)
{
        json_decref(stats->upserts);
        json_decref(stats->deletes);
        stats->upserts = stats->deletes = NULL;
}
