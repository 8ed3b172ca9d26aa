/* incremental.c — incremental sync: exact per-row change detection (the snapshot's rows streamed and merged with the stored fingerprints), documents and tombstones for what changed. */
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
#include "tabletime.h"

#define FLUSH_TIMEOUT_MS 300000
/* 2: rows hashed by the producer (cs_fp_row_hash), no buckets. */
#define STATE_FORMAT 2
/* The least margin, in seconds, between a table's last write and the
 * previous run's snapshot for the table to be left unread (the server's
 * write times are whole seconds, set at commit). lookback_seconds above it
 * widens the margin. */
#define UNREAD_MIN_MARGIN_SECONDS 2

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
        /* Tables left unread: the server's write times (tt_ok: usable
         * against the previous state's snapshot time, same origin). */
        cs_tt_t tt;
        int tt_ok;
        long long prev_time;
        char origin[320];
        long long unread_tables, unread_rows;
} incr_ctx_t;

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
                const cs_change_log_t *log = cs_reg_change_log();

                snprintf(sql, sizeof(sql),
                         "SELECT `%s`, `%s` FROM `%s` WHERE `%s` = @cs_tbl AND "
                         "`%s` IS NOT NULL ORDER BY `%s` DESC, `%s` DESC LIMIT 1",
                         log->time_column, log->id_column, log->table,
                         log->table_column, log->time_column, log->time_column,
                         log->id_column);
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

/* ---- fingerprint state files --------------------------------------------- */

/* Opens the writer of s's fingerprint file of state generation state_gen;
 * *name receives its file name. */
static int fp_out_open(const cs_producer_conf_t *conf, const cs_src_t *s,
                       long long state_gen, cs_fp_out_t *out, char *name,
                       size_t name_size, char *errstr, size_t errstr_size)
{
        char path[4096];

        if (cs_state_fp_name(name, name_size, conf->prefix, state_gen,
                             cs_reg_view_key(s->ent)) == -1 ||
            cs_state_file_path(path, sizeof(path), conf->state_dir, name) == -1) {
                snprintf(errstr, errstr_size, "state file path too long");
                return -1;
        }
        return cs_fp_out_open(out, path, errstr, errstr_size);
}

/* Completes a written file and records it in tables (and in created, so
 * that a run failing later removes it). */
static int fp_out_keep(cs_fp_out_t *out, const cs_src_t *s, const char *name,
                       const char *sig, json_t *created, json_t *tables,
                       char *errstr, size_t errstr_size)
{
        json_array_append_new(created, json_string(out->path));
        if (cs_fp_out_finish(out, errstr, errstr_size) == -1)
                return -1;
        json_object_set_new(tables, cs_reg_view_key(s->ent),
                            json_pack("{s:s, s:I, s:b, s:s}", "file", name,
                                      "rows", (json_int_t)out->count, "legacy",
                                      s->legacy, "scan", sig));
        return 0;
}

/* The scan SQL of s (NEW string, for cs_fp_scan) and its signature, 16
 * hex digits, into sig: stored with the fingerprints, it tells a later run
 * whether they were read with the same columns and expressions. */
static char *scan_sql(const cs_src_t *s, char sig[17], char *errstr,
                      size_t errstr_size)
{
        char *sql = cs_src_sql(s, CS_SRC_FP_SCAN, NULL, "ORDER BY `id`",
                               errstr, errstr_size);
        unsigned long len;

        if (!sql)
                return NULL;
        len = (unsigned long)strlen(sql);
        snprintf(sig, 17, "%016llx",
                 (unsigned long long)cs_fp_row_hash(&sql, &len, 1));
        return sql;
}

static int write_row(const cs_fp_row_t *row, void *opaque, char *errstr,
                     size_t errstr_size)
{
        cs_fp_out_t *out = opaque;
        return out->fp ? cs_fp_out_row(out, row, errstr, errstr_size) : 0;
}

/* snapshot_time and origin: the server's clock before the snapshot the
 * fingerprints come from, and where they were read (tables left unread). */
static json_t *state_new(long long state_gen, long long snapshot_time,
                         const char *origin)
{
        return json_pack("{s:i, s:I, s:I, s:s, s:{}, s:{}}", "format",
                         STATE_FORMAT, "state_generation",
                         (json_int_t)state_gen, "snapshot_time",
                         (json_int_t)snapshot_time, "origin", origin, "tables",
                         "cursors");
}

/* The root ids of one table's stored fingerprints that the snapshot no
 * longer has: the stored file merged with the scan (both id-ordered). */
typedef struct gone_scan_s {
        cs_fp_out_t *out;
        cs_fp_in_t *old;      /* NULL: no comparison */
        cs_fp_row_t o;
        int have_o;
        const char *table;
        json_t *ids;          /* BORROWED array the gone ids go to */
} gone_scan_t;

/* The next stored row. A stored file that cannot be read only ends the
 * comparison, with a warning: the complete sync itself does not need it. */
static void gone_next(gone_scan_t *g)
{
        char err[512];
        int r = g->old ? cs_fp_in_next(g->old, &g->o, err, sizeof(err)) : 0;

        if (r == -1)
                cs_warn("%s: stored fingerprints unreadable (%s): rows deleted "
                        "before this run get no tombstone", g->table, err);
        g->have_o = r == 1;
        if (r == -1)
                g->old = NULL;
}

static void gone_upto(gone_scan_t *g, long long id, int all)
{
        while (g->have_o && (all || g->o.id <= id)) {
                if (all || g->o.id < id)
                        json_array_append_new(g->ids, json_integer(g->o.id));
                gone_next(g);
        }
}

static int gone_row(const cs_fp_row_t *row, void *opaque, char *errstr,
                    size_t errstr_size)
{
        gone_scan_t *g = opaque;

        gone_upto(g, row->id, 0);
        return write_row(row, g->out, errstr, errstr_size);
}

/* Opens the stored fingerprint file of root source s in old_incr, when
 * there is one. 1 opened, 0 none (or unreadable, with a warning). */
static int gone_open(const cs_producer_conf_t *conf, const cs_src_t *s,
                     const json_t *old_incr, cs_fp_in_t *in)
{
        const char *file = json_string_value(json_object_get(json_object_get(
                json_object_get(old_incr, "tables"), cs_reg_view_key(s->ent)),
                "file"));
        char path[4096], err[512];

        if (!file)
                return 0;
        if (cs_state_file_path(path, sizeof(path), conf->state_dir, file) == -1) {
                cs_warn("%s: state path too long: rows deleted before this run "
                        "get no tombstone", s->ent->table);
                return 0;
        }
        if (cs_fp_in_open(in, path, err, sizeof(err)) == -1) {
                cs_warn("%s: stored fingerprints unreadable (%s): rows deleted "
                        "before this run get no tombstone", s->ent->table, err);
                return 0;
        }
        return 1;
}

json_t *cs_incr_snapshot_state(const cs_producer_conf_t *conf, cs_snap_t *snap,
                               long long state_gen, int write_files,
                               json_t *created, const json_t *old_incr,
                               json_t *gone, char *errstr, size_t errstr_size)
{
        incr_ctx_t ctx = { .conf = conf, .snap = snap, .db = cs_snap_db(snap) };
        size_t count;
        cs_src_t *srcs = cs_snap_sources(snap, &count);
        json_t *st, *tables, *cursors;

        if (cs_tt_origin(ctx.db, ctx.origin, sizeof(ctx.origin), errstr,
                         errstr_size) == -1)
                return NULL;
        st = state_new(state_gen, cs_snap_started_at(snap), ctx.origin);
        tables = json_object_get(st, "tables");
        cursors = json_object_get(st, "cursors");
        if (!cs_incr_state_usable(old_incr))
                old_incr = NULL;
        for (size_t i = 0; i < count; i++) {
                cs_src_t *s = &srcs[i];
                cs_fp_out_t out = { 0 };
                cs_fp_in_t old = { 0 };
                gone_scan_t g = { .out = &out, .table = s->ent->table };
                char name[256], sig[17];
                char *sql;
                int rc = 0;

                if (!s->present)
                        continue;
                if (!(sql = scan_sql(s, sig, errstr, errstr_size))) {
                        json_decref(st);
                        return NULL;
                }
                /* Root rows only: a nested row travels inside its root. */
                if (old_incr && gone && !s->ent->parent &&
                    gone_open(conf, s, old_incr, &old)) {
                        g.old = &old;
                        g.ids = json_array();
                        gone_next(&g);
                }
                /* A dry run still scans: it checks the ids like a real run. */
                if (write_files)
                        rc = fp_out_open(conf, s, state_gen, &out, name,
                                         sizeof(name), errstr, errstr_size);
                if (rc == 0)
                        rc = cs_fp_scan(ctx.db, s, sql, gone_row, &g, errstr,
                                        errstr_size);
                free(sql);
                if (rc == 0 && g.ids) {
                        gone_upto(&g, 0, 1);
                        if (json_array_size(g.ids))
                                json_object_set(gone, s->ent->name, g.ids);
                }
                json_decref(g.ids);
                cs_fp_in_close(&old);
                if (rc == 0 && write_files)
                        rc = fp_out_keep(&out, s, name, sig, created, tables,
                                         errstr, errstr_size);
                if (rc == -1)
                        cs_fp_out_discard(&out);
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

/* ---- diff: the server's id-ordered rows merged with the stored file ------- */

typedef struct merge_s {
        incr_ctx_t *ctx;
        const cs_src_t *s;
        cs_fp_in_t *old;      /* NULL: no stored rows */
        cs_fp_row_t o;        /* the current stored row, when have_o */
        int have_o;
        cs_fp_out_t *out;     /* the new file (fp NULL: not written) */
        long long rows, changes;
} merge_t;

static int merge_next_old(merge_t *m, char *errstr, size_t errstr_size)
{
        int r = m->old ? cs_fp_in_next(m->old, &m->o, errstr, errstr_size) : 0;
        if (r == -1)
                return -1;
        m->have_o = r;
        return 0;
}

/* The stored row m->o has no row in the snapshot any more. */
static void merge_gone(merge_t *m)
{
        if (m->s->ent->parent)
                mark(m->ctx, m->s->ent, m->o.parent, 0);
        else
                mark(m->ctx, m->s->ent, m->o.id, 1);
        m->changes++;
}

/* One row of the snapshot (ascending ids): compares it with the stored
 * rows up to its id, marks what changed, writes it to the new file. */
static int merge_row(const cs_fp_row_t *r, void *opaque, char *errstr,
                     size_t errstr_size)
{
        merge_t *m = opaque;
        int nested = m->s->ent->parent != NULL;

        m->rows++;
        while (m->have_o && m->o.id < r->id) {
                merge_gone(m);
                if (merge_next_old(m, errstr, errstr_size) == -1)
                        return -1;
        }
        if (m->have_o && m->o.id == r->id) {
                if (m->o.hash != r->hash || m->o.parent != r->parent) {
                        mark(m->ctx, m->s->ent, nested ? r->parent : r->id, 0);
                        if (nested && m->o.parent != r->parent)
                                mark(m->ctx, m->s->ent, m->o.parent, 0);
                        m->changes++;
                }
                if (merge_next_old(m, errstr, errstr_size) == -1)
                        return -1;
        } else {
                /* new */
                mark(m->ctx, m->s->ent, nested ? r->parent : r->id, 0);
                m->changes++;
        }
        if (m->ctx->oom) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        return m->out->fp ? cs_fp_out_row(m->out, r, errstr, errstr_size) : 0;
}

/* 1 when no transaction can have written the tables that sql (the scan of
 * s) reads since the previous run's snapshot, so that the stored
 * fingerprints (old_t) still describe every row: the server knows when
 * each of them was last written, that time is older than the previous
 * snapshot by the margin, the previous state was read from this database,
 * and with the same scan (sig). The margin covers whole-second times and a
 * commit whose time is recorded just after it became visible. */
static int unread_ok(const incr_ctx_t *ctx, const json_t *old_t,
                     const char *sql, const char *sig, long long *latest)
{
        long long margin = ctx->conf->lookback_seconds;

        if (margin < UNREAD_MIN_MARGIN_SECONDS)
                margin = UNREAD_MIN_MARGIN_SECONDS;
        *latest = CS_TT_UNKNOWN;
        if (!ctx->tt_ok) /* load_write_times: no usable previous snapshot */
                return 0;
        if (!json_is_string(json_object_get(old_t, "scan")) ||
            strcmp(json_string_value(json_object_get(old_t, "scan")), sig))
                return 0;
        *latest = cs_tt_latest_write(&ctx->tt, sql);
        return *latest != CS_TT_UNKNOWN && *latest < ctx->prev_time - margin;
}

/* Records old_t (the previous state's entry of s, BORROWED) as s's entry of
 * the new state, with the signature of the scan it is now known to match. */
static void keep_entry(json_t *tables, const cs_src_t *s, const json_t *old_t,
                       const char *sig)
{
        json_t *t = json_copy((json_t *)old_t);

        json_object_set_new(t, "scan", json_string(sig));
        json_object_set_new(tables, cs_reg_view_key(s->ent), t);
}

/* Detects the changes of one source, records its new state. */
static int detect_source(incr_ctx_t *ctx, const cs_src_t *s,
                         const json_t *old_incr, long long state_gen,
                         int write_files, json_t *created, json_t *new_incr,
                         char *errstr, size_t errstr_size)
{
        /* Keyed per entity: a table may be read by two (registry_loc.c). */
        const json_t *old_t = json_object_get(json_object_get(old_incr, "tables"),
                                              cs_reg_view_key(s->ent));
        const char *file = json_string_value(json_object_get(old_t, "file"));
        json_t *tables = json_object_get(new_incr, "tables");
        cs_fp_in_t old = { 0 };
        cs_fp_out_t out = { 0 };
        merge_t m = { .ctx = ctx, .s = s, .out = &out };
        char path[4096], name[256], sig[17];
        double started = cs_progress_now();
        long long latest;
        char *sql = scan_sql(s, sig, errstr, errstr_size);
        int rc = -1, unread = 0;

        if (!sql)
                return -1;
        if (file) {
                if (cs_state_file_path(path, sizeof(path), ctx->conf->state_dir,
                                       file) == -1) {
                        snprintf(errstr, errstr_size, "state path too long");
                        goto done;
                }
                /* Opened (and checked) even when it is not read. */
                if (cs_fp_in_open(&old, path, errstr, errstr_size) == -1)
                        goto done;
                m.old = &old;
                unread = unread_ok(ctx, old_t, sql, sig, &latest);
        } else {
                cs_info("%s: no fingerprints in the state yet: every row "
                        "counts as new", s->ent->table);
        }
        if (s->change_table) {
                json_t *cur_cursor = cursor_now(ctx, s, errstr, errstr_size);
                if (!cur_cursor)
                        goto done;
                json_object_set_new(json_object_get(new_incr, "cursors"),
                                    s->ent->name, cur_cursor);
        }
        if (unread) {
                cs_debug("%s: last written at %lld, before the previous "
                         "snapshot (%lld): %lld stored row(s) kept, not read",
                         s->ent->table, latest, ctx->prev_time,
                         (long long)old.count);
                keep_entry(tables, s, old_t, sig);
                ctx->unread_tables++;
                ctx->unread_rows += (long long)old.count;
                rc = 0;
                goto done;
        }
        /* The new file is written while comparing (streaming) and dropped
         * again when nothing changed. */
        if (write_files && fp_out_open(ctx->conf, s, state_gen, &out, name,
                                       sizeof(name), errstr,
                                       errstr_size) == -1)
                goto done;
        if (merge_next_old(&m, errstr, errstr_size) == -1 ||
            cs_fp_scan(ctx->db, s, sql, merge_row, &m, errstr,
                       errstr_size) == -1)
                goto done;
        while (m.have_o) {
                merge_gone(&m);
                if (merge_next_old(&m, errstr, errstr_size) == -1)
                        goto done;
        }
        if (ctx->oom) {
                snprintf(errstr, errstr_size, "out of memory");
                goto done;
        }
        cs_debug("%s: %lld row(s) compared in %.3f s", s->ent->table, m.rows,
                 cs_progress_now() - started);
        if (m.changes)
                cs_info("%s: %lld row(s) changed, added or deleted",
                        s->ent->table, m.changes);
        if (m.changes || !file) {
                if (write_files && fp_out_keep(&out, s, name, sig, created,
                                               tables, errstr,
                                               errstr_size) == -1)
                        goto done;
        } else {
                cs_fp_out_discard(&out);
                keep_entry(tables, s, old_t, sig);
        }
        rc = 0;
done:
        if (rc == -1)
                cs_fp_out_discard(&out);
        cs_fp_in_close(&old);
        free(sql);
        return rc;
}

/* ---- sending ------------------------------------------------------------------ */

static int send_doc(const cs_entity_t *root, long long child_id, json_t *doc,
                    void *opaque, char *errstr, size_t errstr_size)
{
        incr_ctx_t *ctx = opaque;
        char key[CS_DOC_ID_MAX];

        if (cs_doc_id(key, sizeof(key), ctx->conf->prefix, root->table,
                      child_id) == -1) {
                snprintf(errstr, errstr_size, "%s %lld: document id too long",
                         root->name, child_id);
                return -1;
        }
        if (cs_sink_send_doc(ctx->sink, key, doc, ctx->conf->max_document_bytes,
                             -1, errstr, errstr_size) == -1)
                return -1;
        cs_run_count_doc(ctx->stats->upserts, root->name, doc);
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
        cs_run_count_add(ctx->stats->deletes, ent->name, 1);
        cs_progress_update(&ctx->progress, ++ctx->sent_docs);
        return 0;
}

/* The server's write times, for leaving unwritten tables unread. Without
 * them every table is read, as when the previous state has no snapshot
 * time (written before civisync recorded it) or another origin. */
static void load_write_times(incr_ctx_t *ctx, const json_t *old_incr)
{
        const char *prev_origin;
        char err[512];

        ctx->prev_time = json_integer_value(json_object_get(old_incr,
                                                            "snapshot_time"));
        prev_origin = json_string_value(json_object_get(old_incr, "origin"));
        if (ctx->prev_time <= 0 || !prev_origin)
                return; /* a state written before these were recorded */
        if (strcmp(prev_origin, ctx->origin) != 0) {
                cs_info("the previous state was read from %s, this run reads "
                        "%s: every table is read", prev_origin, ctx->origin);
                return;
        }
        if (cs_tt_load(ctx->db, &ctx->tt, err, sizeof(err)) == -1) {
                cs_warn("tables' last write times unavailable (%s): every "
                        "table is read", err);
                return;
        }
        if (ctx->tt.now < ctx->prev_time) {
                cs_warn("the child server's clock (%lld) is behind the "
                        "previous run's snapshot (%lld): every table is read",
                        ctx->tt.now, ctx->prev_time);
                return;
        }
        ctx->tt_ok = 1;
}

int cs_incr_state_usable(const json_t *incr)
{
        return json_is_object(incr) &&
               json_integer_value(json_object_get(incr, "format")) == STATE_FORMAT;
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
        if (!cs_incr_state_usable(old_incr)) {
                snprintf(errstr, errstr_size, "the incremental state was written "
                         "by another version of civisync-produce: run "
                         "--complete once");
                goto done;
        }
        if (!(ctx.snap = cs_snap_open(db, conf->prefix, conf->batch_rows,
                                      errstr, errstr_size)))
                goto done;
        cs_snap_set_files(ctx.snap, conf->files_dir, conf->max_file_bytes);
        srcs = cs_snap_sources(ctx.snap, &count);
        if (cs_tt_origin(db, ctx.origin, sizeof(ctx.origin), errstr,
                         errstr_size) == -1)
                goto done;
        load_write_times(&ctx, old_incr);
        st = state_new(state_gen, cs_snap_started_at(ctx.snap), ctx.origin);
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
        if (ctx.unread_tables)
                cs_info("%lld table(s) not written since the previous run, "
                        "not read (%lld stored row(s) kept)",
                        ctx.unread_tables, ctx.unread_rows);
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
        cs_snap_log_file_stats(ctx.snap);
        if (cs_sink_flush(sink, FLUSH_TIMEOUT_MS, errstr, errstr_size) == -1)
                goto done;
        *new_incr = st;
        st = NULL;
        rc = 0;
done:
        cs_progress_end(&ctx.progress);
        cs_tt_free(&ctx.tt);
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
