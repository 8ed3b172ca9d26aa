/* incremental.c — incremental sync: cursor + fingerprint change detection, documents and tombstones for what changed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "doc.h"
#include "fingerprint.h"
#include "incremental.h"
#include "log.h"
#include "progress.h"
#include "registry.h"
#include "state.h"

#define FLUSH_TIMEOUT_MS 300000
#define STATE_FORMAT 1

/* A growable array of ids. */
typedef struct idvec_s {
        long long *v;
        size_t n, cap;
} idvec_t;

static int idvec_push(idvec_t *iv, long long id)
{
        if (iv->n == iv->cap) {
                size_t cap = iv->cap ? iv->cap * 2 : 256;
                long long *v = realloc(iv->v, cap * sizeof(*v));
                if (!v)
                        return -1;
                iv->v = v;
                iv->cap = cap;
        }
        iv->v[iv->n++] = id;
        return 0;
}

static int ll_cmp(const void *a, const void *b)
{
        long long x = *(const long long *)a, y = *(const long long *)b;
        return x < y ? -1 : x > y;
}

static void idvec_sort_unique(idvec_t *iv)
{
        size_t w = 0;
        if (iv->n < 2)
                return;
        qsort(iv->v, iv->n, sizeof(*iv->v), ll_cmp);
        for (size_t r = 0; r < iv->n; r++)
                if (w == 0 || iv->v[w - 1] != iv->v[r])
                        iv->v[w++] = iv->v[r];
        iv->n = w;
}

static int idvec_has(const idvec_t *iv, long long id)
{
        return iv->n && bsearch(&id, iv->v, iv->n, sizeof(*iv->v), ll_cmp);
}

typedef struct incr_ctx_s {
        const cs_producer_conf_t *conf;
        cs_snap_t *snap;
        MYSQL *db;
        cs_sink_t *sink;
        cs_run_stats_t *stats;
        const cs_entity_t *ents;
        size_t ent_cnt;
        idvec_t *up;      /* per registry index: root ids to (re)send */
        idvec_t *del;     /* per registry index: root ids to tombstone */
        long long sent_docs;
        cs_progress_t progress;
        int oom;
} incr_ctx_t;

static void count_add(json_t *counts, const char *entity, long long n)
{
        json_t *cur = json_object_get(counts, entity);
        json_object_set_new(counts, entity,
                            json_integer((cur ? json_integer_value(cur) : 0) + n));
}

/* Records that root document (ent's root) id must be re-sent or deleted. */
static void mark(incr_ctx_t *ctx, const cs_entity_t *ent, long long id,
                 int deleted)
{
        const cs_entity_t *root = ent->parent ? cs_reg_by_name(ent->parent) : ent;
        size_t i = (size_t)(root - ctx->ents);

        if (id <= 0)
                return;
        if (idvec_push(deleted ? &ctx->del[i] : &ctx->up[i], id) == -1)
                ctx->oom = 1;
}

/* ---- the timestamp cursor ---------------------------------------------- */

static void cursor_source(const cs_src_t *s, char *out, size_t size)
{
        snprintf(out, size, "%s.%s", s->change_table, s->change_col);
}

/* The cursor at the snapshot: the greatest (change time, id). NEW object,
 * or json null when there is no change time at all. */
static json_t *cursor_now(incr_ctx_t *ctx, const cs_src_t *s, char *errstr,
                          size_t errstr_size)
{
        char sql[1024], source[256];
        cs_db_value_t v = { .kind = CS_VAL_STR, .s = s->ent->table,
                            .len = (unsigned long)strlen(s->ent->table) };
        MYSQL_RES *res;
        MYSQL_ROW row;
        json_t *out;

        if (s->change_is_log) {
                if (cs_db_set_vars(ctx->db, "SET @cs_tbl = ?", &v, 1, NULL,
                                   NULL, errstr, errstr_size) == -1)
                        return NULL;
                snprintf(sql, sizeof(sql),
                         "SELECT `modified_date`, `id` FROM `civicrm_log` "
                         "WHERE `entity_table` = @cs_tbl AND `modified_date` "
                         "IS NOT NULL ORDER BY `modified_date` DESC, `id` DESC "
                         "LIMIT 1");
        } else {
                snprintf(sql, sizeof(sql),
                         "SELECT `%s`, `id` FROM `%s` WHERE `%s` IS NOT NULL%s%s%s "
                         "ORDER BY `%s` DESC, `id` DESC LIMIT 1",
                         s->change_col, s->change_table, s->change_col,
                         s->br[0].where ? " AND (" : "",
                         s->br[0].where ? s->br[0].where : "",
                         s->br[0].where ? ")" : "", s->change_col);
        }
        if (!(res = cs_db_query(ctx->db, sql, errstr, errstr_size)))
                return NULL;
        row = mysql_fetch_row(res);
        cursor_source(s, source, sizeof(source));
        out = row && row[0] && row[1] ?
                json_pack("{s:s, s:s, s:I}", "source", source, "ts", row[0],
                          "id", (json_int_t)strtoll(row[1], NULL, 10)) :
                json_null();
        mysql_free_result(res);
        return out;
}

/* Buckets (of the root's ids) holding rows changed at or after the old
 * cursor minus the look-back window: they are compared row by row even
 * when their aggregates agree. */
static int cursor_buckets(incr_ctx_t *ctx, const cs_src_t *s,
                          const json_t *old_cursor, idvec_t *out,
                          char *errstr, size_t errstr_size)
{
        char sql[1024], source[256];
        const char *ts = json_string_value(json_object_get(old_cursor, "ts"));
        const char *old_source = json_string_value(json_object_get(old_cursor,
                                                                   "source"));
        long long cid = json_integer_value(json_object_get(old_cursor, "id"));
        int lookback = ctx->conf->lookback_seconds;
        cs_db_value_t v[4];
        MYSQL_RES *res;
        MYSQL_ROW row;

        cursor_source(s, source, sizeof(source));
        if (!ts || !old_source || strcmp(old_source, source))
                return 0; /* no usable cursor: fingerprints alone */
        v[0] = (cs_db_value_t){ .kind = CS_VAL_STR, .s = ts,
                                .len = (unsigned long)strlen(ts) };
        v[1] = (cs_db_value_t){ .kind = CS_VAL_INT, .i = lookback };
        /* (time, id) > (cursor - look-back, id): with a window, every row
         * at the window's first second counts. */
        v[2] = (cs_db_value_t){ .kind = CS_VAL_INT, .i = lookback > 0 ? 0 : cid };
        v[3] = (cs_db_value_t){ .kind = CS_VAL_STR, .s = s->ent->table,
                                .len = (unsigned long)strlen(s->ent->table) };
        if (cs_db_set_vars(ctx->db, "SET @cs_ts = CAST(? AS DATETIME) - "
                           "INTERVAL ? SECOND, @cs_cid = ?, @cs_tbl = ?", v, 4,
                           NULL, NULL, errstr, errstr_size) == -1)
                return -1;
        if (s->change_is_log)
                snprintf(sql, sizeof(sql),
                         "SELECT DISTINCT FLOOR(`entity_id` / %d) FROM "
                         "`civicrm_log` WHERE `entity_table` = @cs_tbl AND "
                         "(`modified_date` > @cs_ts OR (`modified_date` = "
                         "@cs_ts AND `id` > @cs_cid)) ORDER BY 1",
                         CS_FP_BUCKET_IDS);
        else
                snprintf(sql, sizeof(sql),
                         "SELECT DISTINCT FLOOR(`id` / %d) FROM `%s` WHERE "
                         "(`%s` > @cs_ts OR (`%s` = @cs_ts AND `id` > @cs_cid))"
                         "%s%s%s ORDER BY 1", CS_FP_BUCKET_IDS, s->change_table,
                         s->change_col, s->change_col,
                         s->br[0].where ? " AND (" : "",
                         s->br[0].where ? s->br[0].where : "",
                         s->br[0].where ? ")" : "");
        if (!(res = cs_db_query(ctx->db, sql, errstr, errstr_size)))
                return -1;
        while ((row = mysql_fetch_row(res)))
                if (row[0] && idvec_push(out, strtoll(row[0], NULL, 10)) == -1) {
                        mysql_free_result(res);
                        snprintf(errstr, errstr_size, "out of memory");
                        return -1;
                }
        mysql_free_result(res);
        if (out->n)
                cs_debug("%s: %zu id bucket(s) changed since the cursor %s "
                         "(look-back %d s)", s->ent->table, out->n, ts,
                         lookback);
        return 0;
}

/* ---- fingerprint state files --------------------------------------------- */

static int write_set(const cs_producer_conf_t *conf, const cs_src_t *s,
                     const cs_fp_set_t *set, long long state_gen,
                     json_t *created, json_t *tables, char *errstr,
                     size_t errstr_size)
{
        char name[256], path[4096];

        if (cs_state_fp_name(name, sizeof(name), conf->prefix, state_gen,
                             s->ent->table) == -1 ||
            cs_state_file_path(path, sizeof(path), conf->state_dir, name) == -1) {
                snprintf(errstr, errstr_size, "state file path too long");
                return -1;
        }
        json_array_append_new(created, json_string(path));
        if (cs_fp_file_write(path, set, errstr, errstr_size) == -1)
                return -1;
        json_object_set_new(tables, s->ent->table,
                            json_pack("{s:s, s:I, s:b}", "file", name, "rows",
                                      (json_int_t)set->n, "legacy", s->legacy));
        return 0;
}

static json_t *state_new(long long state_gen)
{
        return json_pack("{s:i, s:i, s:I, s:{}, s:{}}", "format", STATE_FORMAT,
                         "bucket_ids", CS_FP_BUCKET_IDS, "state_generation",
                         (json_int_t)state_gen, "tables", "cursors");
}

json_t *cs_incr_snapshot_state(const cs_producer_conf_t *conf, cs_snap_t *snap,
                               long long state_gen, int write_files,
                               json_t *created, char *errstr,
                               size_t errstr_size)
{
        incr_ctx_t ctx = { .conf = conf, .snap = snap, .db = cs_snap_db(snap) };
        size_t count;
        cs_src_t *srcs = cs_snap_sources(snap, &count);
        json_t *st = state_new(state_gen);
        json_t *tables = json_object_get(st, "tables");
        json_t *cursors = json_object_get(st, "cursors");

        for (size_t i = 0; i < count; i++) {
                cs_src_t *s = &srcs[i];
                cs_fp_set_t set = { 0 };
                int rc;

                if (!s->present)
                        continue;
                rc = cs_fp_fetch(ctx.db, s, NULL, &set, errstr, errstr_size);
                if (rc == 0) {
                        cs_fp_set_sort(&set);
                        if (write_files)
                                rc = write_set(conf, s, &set, state_gen,
                                               created, tables, errstr,
                                               errstr_size);
                }
                cs_fp_set_free(&set);
                if (rc == 0 && s->change_table) {
                        json_t *c = cursor_now(&ctx, s, errstr, errstr_size);
                        if (!c)
                                rc = -1;
                        else
                                json_object_set_new(cursors, s->ent->name, c);
                }
                if (rc == -1) {
                        json_decref(st);
                        return NULL;
                }
        }
        return st;
}

/* ---- diff ------------------------------------------------------------------ */

/* Compares the rows of one bucket range: marks changed, new and deleted
 * rows' documents. old[0..on) and cur[0..cn) are sorted by id. Returns the
 * number of differences. */
static long long diff_rows(incr_ctx_t *ctx, const cs_src_t *s,
                           const cs_fp_row_t *old, size_t on,
                           const cs_fp_row_t *cur, size_t cn)
{
        size_t i = 0, j = 0;
        long long diffs = 0;
        int nested = s->ent->parent != NULL;

        while (i < on || j < cn) {
                if (j >= cn || (i < on && old[i].id < cur[j].id)) {
                        /* gone */
                        if (nested)
                                mark(ctx, s->ent, old[i].parent, 0);
                        else
                                mark(ctx, s->ent, old[i].id, 1);
                        i++;
                        diffs++;
                } else if (i >= on || cur[j].id < old[i].id) {
                        /* new */
                        mark(ctx, s->ent, nested ? cur[j].parent : cur[j].id, 0);
                        j++;
                        diffs++;
                } else {
                        if (old[i].hash != cur[j].hash ||
                            old[i].parent != cur[j].parent) {
                                mark(ctx, s->ent, nested ? cur[j].parent :
                                     cur[j].id, 0);
                                if (nested && old[i].parent != cur[j].parent)
                                        mark(ctx, s->ent, old[i].parent, 0);
                                diffs++;
                        }
                        i++;
                        j++;
                }
        }
        return diffs;
}

static int set_range(incr_ctx_t *ctx, long long lo, long long hi,
                     char *errstr, size_t errstr_size)
{
        cs_db_value_t v[2] = {
                { .kind = CS_VAL_INT, .i = lo },
                { .kind = CS_VAL_INT, .i = hi },
        };
        return cs_db_set_vars(ctx->db, "SET @cs_lo = ?, @cs_hi = ?", v, 2,
                              NULL, NULL, errstr, errstr_size);
}

/* Finds the changes of one source against its old rows; *out receives the
 * new rows (only when *dirty). */
static int diff_source(incr_ctx_t *ctx, const cs_src_t *s,
                       const cs_fp_set_t *old, const idvec_t *forced,
                       cs_fp_set_t *out, int *dirty, long long *changes,
                       char *errstr, size_t errstr_size)
{
        cs_fp_bucket_t *sb = NULL, *ob = NULL;
        size_t sn = 0, on = 0, i = 0, j = 0, k = 0, po = 0;
        idvec_t bad = { 0 };
        int rc = -1;

        *dirty = 0;
        *changes = 0;
        if (cs_fp_server_buckets(ctx->db, s, &sb, &sn, errstr, errstr_size) == -1 ||
            cs_fp_set_buckets(old, s->id_scale, &ob, &on, errstr,
                              errstr_size) == -1)
                goto done;
        /* Buckets whose aggregates differ, or that the cursor flags. */
        while (i < sn || j < on || k < forced->n) {
                long long b = i < sn ? sb[i].b : -1;
                if (j < on && (b == -1 || ob[j].b < b))
                        b = ob[j].b;
                if (k < forced->n && (b == -1 || forced->v[k] < b))
                        b = forced->v[k];
                int in_s = i < sn && sb[i].b == b;
                int in_o = j < on && ob[j].b == b;
                int in_f = k < forced->n && forced->v[k] == b;
                if (in_f || in_s != in_o ||
                    (in_s && (sb[i].n != ob[j].n || sb[i].x != ob[j].x)))
                        if (idvec_push(&bad, b) == -1)
                                goto oom;
                i += (size_t)in_s;
                j += (size_t)in_o;
                k += (size_t)in_f;
        }
        if (bad.n == 0) {
                rc = 0;
                goto done;
        }
        /* Row-level comparison of consecutive runs of those buckets. */
        for (size_t r = 0; r < bad.n; ) {
                long long b1 = bad.v[r], b2 = b1;
                cs_fp_set_t cur = { 0 };
                size_t start;

                while (r + 1 < bad.n && bad.v[r + 1] == b2 + 1)
                        b2 = bad.v[++r];
                r++;
                while (po < old->n &&
                       cs_fp_bucket_of(old->v[po].id, s->id_scale) < b1)
                        if (cs_fp_set_push(out, &old->v[po++]) == -1)
                                goto oom;
                start = po;
                while (po < old->n &&
                       cs_fp_bucket_of(old->v[po].id, s->id_scale) <= b2)
                        po++;
                if (set_range(ctx, b1 * CS_FP_BUCKET_IDS,
                              (b2 + 1) * CS_FP_BUCKET_IDS - 1, errstr,
                              errstr_size) == -1 ||
                    cs_fp_fetch(ctx->db, s, "{id} BETWEEN @cs_lo AND @cs_hi",
                                &cur, errstr, errstr_size) == -1) {
                        cs_fp_set_free(&cur);
                        goto done;
                }
                cs_fp_set_sort(&cur);
                *changes += diff_rows(ctx, s, old->v + start, po - start,
                                      cur.v, cur.n);
                for (size_t c = 0; c < cur.n; c++)
                        if (cs_fp_set_push(out, &cur.v[c]) == -1) {
                                cs_fp_set_free(&cur);
                                goto oom;
                        }
                cs_fp_set_free(&cur);
        }
        while (po < old->n)
                if (cs_fp_set_push(out, &old->v[po++]) == -1)
                        goto oom;
        *dirty = *changes > 0;
        rc = ctx->oom ? -1 : 0;
        if (ctx->oom)
                snprintf(errstr, errstr_size, "out of memory");
        goto done;
oom:
        snprintf(errstr, errstr_size, "out of memory");
done:
        free(sb);
        free(ob);
        free(bad.v);
        return rc;
}

/* Detects the changes of one source, records its new state. */
static int detect_source(incr_ctx_t *ctx, const cs_src_t *s,
                         const json_t *old_incr, long long state_gen,
                         int write_files, json_t *created, json_t *new_incr,
                         char *errstr, size_t errstr_size)
{
        const json_t *old_t = json_object_get(json_object_get(old_incr, "tables"),
                                              s->ent->table);
        const char *file = json_string_value(json_object_get(old_t, "file"));
        json_t *tables = json_object_get(new_incr, "tables");
        cs_fp_set_t old = { 0 }, cur = { 0 };
        idvec_t forced = { 0 };
        char path[4096];
        long long changes = 0;
        int dirty = 0, rc = -1;

        if (file) {
                if (cs_state_file_path(path, sizeof(path), ctx->conf->state_dir,
                                       file) == -1) {
                        snprintf(errstr, errstr_size, "state path too long");
                        return -1;
                }
                if (cs_fp_file_load(path, &old, errstr, errstr_size) == -1)
                        goto done;
        } else {
                cs_info("%s: no fingerprints in the state yet: every row "
                        "counts as new", s->ent->table);
        }
        if (s->change_table) {
                json_t *cur_cursor;
                if (cursor_buckets(ctx, s, json_object_get(json_object_get(
                                   old_incr, "cursors"), s->ent->name),
                                   &forced, errstr, errstr_size) == -1)
                        goto done;
                if (!(cur_cursor = cursor_now(ctx, s, errstr, errstr_size)))
                        goto done;
                json_object_set_new(json_object_get(new_incr, "cursors"),
                                    s->ent->name, cur_cursor);
        }
        if (diff_source(ctx, s, &old, &forced, &cur, &dirty, &changes, errstr,
                        errstr_size) == -1)
                goto done;
        if (changes)
                cs_info("%s: %lld row(s) changed, added or deleted",
                        s->ent->table, changes);
        if (dirty || !file) {
                if (write_files && write_set(ctx->conf, s, dirty ? &cur : &old,
                                             state_gen, created, tables, errstr,
                                             errstr_size) == -1)
                        goto done;
        } else {
                json_object_set(tables, s->ent->table, (json_t *)old_t);
        }
        rc = 0;
done:
        cs_fp_set_free(&old);
        cs_fp_set_free(&cur);
        free(forced.v);
        return rc;
}

/* ---- sending ------------------------------------------------------------------ */

static int send_doc(const cs_entity_t *root, long long child_id, json_t *doc,
                    void *opaque, char *errstr, size_t errstr_size)
{
        incr_ctx_t *ctx = opaque;
        char key[CS_DOC_ID_MAX];
        json_t *kids = json_object_get(doc, CS_F_CHILDREN), *kid;
        size_t len, i;
        char *value;

        if (cs_doc_id(key, sizeof(key), ctx->conf->prefix, root->table,
                      child_id) == -1) {
                snprintf(errstr, errstr_size, "%s %lld: document id too long",
                         root->name, child_id);
                return -1;
        }
        if (!(value = cs_doc_dump(doc, ctx->conf->max_document_bytes, &len,
                                  errstr, errstr_size)))
                return -1;
        if (cs_sink_send(ctx->sink, key, value, len, -1, errstr,
                         errstr_size) == -1) {
                free(value);
                return -1;
        }
        free(value);
        count_add(ctx->stats->upserts, root->name, 1);
        json_array_foreach(kids, i, kid) {
                const char *name = json_string_value(json_object_get(kid,
                                                                     CS_F_ENTITY));
                if (name)
                        count_add(ctx->stats->upserts, name, 1);
        }
        ctx->stats->documents++;
        cs_progress_update(&ctx->progress, ++ctx->sent_docs);
        return 0;
}

static int send_tombstone(incr_ctx_t *ctx, const cs_entity_t *ent,
                          long long id, char *errstr, size_t errstr_size)
{
        char key[CS_DOC_ID_MAX];

        if (cs_doc_id(key, sizeof(key), ctx->conf->prefix, ent->table,
                      id) == -1) {
                snprintf(errstr, errstr_size, "%s %lld: document id too long",
                         ent->name, id);
                return -1;
        }
        if (cs_sink_send(ctx->sink, key, NULL, 0, -1, errstr,
                         errstr_size) == -1)
                return -1;
        count_add(ctx->stats->deletes, ent->name, 1);
        cs_progress_update(&ctx->progress, ++ctx->sent_docs);
        return 0;
}

int cs_incr_run(const cs_producer_conf_t *conf, MYSQL *db, cs_sink_t *sink,
                const json_t *old_incr, int write_files, json_t *created,
                cs_run_stats_t *stats, json_t **new_incr, char *errstr,
                size_t errstr_size)
{
        incr_ctx_t ctx = { .conf = conf, .db = db, .sink = sink,
                           .stats = stats };
        long long state_gen = json_integer_value(json_object_get(old_incr,
                                                 "state_generation")) + 1;
        long long total = 0;
        json_t *st = NULL;
        cs_src_t *srcs;
        size_t count;
        int rc = -1;

        *new_incr = NULL;
        stats->upserts = json_object();
        stats->deletes = json_object();
        ctx.ents = cs_reg_entities(&ctx.ent_cnt);
        ctx.up = calloc(ctx.ent_cnt, sizeof(*ctx.up));
        ctx.del = calloc(ctx.ent_cnt, sizeof(*ctx.del));
        if (!ctx.up || !ctx.del) {
                snprintf(errstr, errstr_size, "out of memory");
                goto done;
        }
        if (json_integer_value(json_object_get(old_incr, "format")) != STATE_FORMAT ||
            json_integer_value(json_object_get(old_incr, "bucket_ids")) !=
            CS_FP_BUCKET_IDS) {
                snprintf(errstr, errstr_size, "the incremental state was written "
                         "by another version of civisync-produce: run "
                         "--complete once");
                goto done;
        }
        if (!(ctx.snap = cs_snap_open(db, conf->prefix, conf->batch_rows,
                                      errstr, errstr_size)))
                goto done;
        srcs = cs_snap_sources(ctx.snap, &count);
        st = state_new(state_gen);
        for (size_t i = 0; i < count; i++) {
                if (!srcs[i].present)
                        continue;
                if (!srcs[i].ent->parent)
                        json_object_set_new(stats->upserts, srcs[i].ent->name,
                                            json_integer(0));
                if (detect_source(&ctx, &srcs[i], old_incr, state_gen,
                                  write_files, created, st, errstr,
                                  errstr_size) == -1)
                        goto done;
        }
        for (size_t i = 0; i < ctx.ent_cnt; i++) {
                idvec_t *up = &ctx.up[i];
                size_t w = 0;

                idvec_sort_unique(up);
                idvec_sort_unique(&ctx.del[i]);
                /* A deleted root is a tombstone, whatever its rows did. */
                for (size_t r = 0; r < up->n; r++)
                        if (!idvec_has(&ctx.del[i], up->v[r]))
                                up->v[w++] = up->v[r];
                up->n = w;
                total += (long long)(up->n + ctx.del[i].n);
        }
        cs_info("incremental sync of prefix %s: %lld document(s) to send",
                conf->prefix, total);
        cs_progress_init(&ctx.progress, "civisync-produce", total);
        /* Upserts in dependency order, then tombstones dependents first. */
        for (size_t i = 0; i < ctx.ent_cnt; i++)
                if (cs_snap_emit_ids(ctx.snap, &ctx.ents[i], ctx.up[i].v,
                                     ctx.up[i].n, send_doc, &ctx, errstr,
                                     errstr_size) == -1)
                        goto done;
        for (size_t i = ctx.ent_cnt; i-- > 0; )
                for (size_t r = 0; r < ctx.del[i].n; r++)
                        if (send_tombstone(&ctx, &ctx.ents[i], ctx.del[i].v[r],
                                           errstr, errstr_size) == -1)
                                goto done;
        cs_progress_end(&ctx.progress);
        if (cs_sink_flush(sink, FLUSH_TIMEOUT_MS, errstr, errstr_size) == -1)
                goto done;
        *new_incr = st;
        st = NULL;
        rc = 0;
done:
        cs_progress_end(&ctx.progress);
        cs_snap_close(ctx.snap);
        json_decref(st);
        for (size_t i = 0; ctx.up && ctx.del && i < ctx.ent_cnt; i++) {
                free(ctx.up[i].v);
                free(ctx.del[i].v);
        }
        free(ctx.up);
        free(ctx.del);
        return rc;
}
