/* outbox.c — one drain of civisync_outbox: the changed rows' root documents (or tombstones) sent, confirmed, then the rows deleted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "doc.h"
#include "log.h"
#include "outbox.h"
#include "gate.h"
#include "progress.h"
#include "registry.h"
#include "snapshot.h"
#include "triggers.h"

#define FLUSH_TIMEOUT_MS 300000
/* Outbox rows deleted per statement (placeholders). */
#define DELETE_CHUNK 500

/* A growable, sortable set of ids. */
typedef struct ids_s {
        long long *v;
        size_t n, cap;
} ids_t;

static int ids_push(ids_t *s, long long id)
{
        if (s->n == s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 64;
                long long *v = realloc(s->v, cap * sizeof(*v));
                if (!v)
                        return -1;
                s->v = v;
                s->cap = cap;
        }
        s->v[s->n++] = id;
        return 0;
}

static int ll_cmp(const void *a, const void *b)
{
        long long x = *(const long long *)a, y = *(const long long *)b;
        return x < y ? -1 : x > y;
}

static void ids_sort_unique(ids_t *s)
{
        size_t w = 0;
        if (s->n < 2)
                return;
        qsort(s->v, s->n, sizeof(*s->v), ll_cmp);
        for (size_t r = 0; r < s->n; r++)
                if (w == 0 || s->v[w - 1] != s->v[r])
                        s->v[w++] = s->v[r];
        s->n = w;
}

/* One outbox row. */
typedef struct ob_row_s {
        char tbl[65];
        long long row_id, root_id, old_root_id; /* 0: NULL */
} ob_row_t;

typedef struct drain_s {
        const cs_producer_conf_t *conf;
        cs_sink_t *sink;
        const cs_entity_t *ents;
        size_t ent_cnt;
        ids_t *up;        /* per registry index: root ids to (re)send */
        ids_t sent;       /* ids of the current entity actually emitted */
        cs_outbox_stats_t *stats;
} drain_t;

int cs_outbox_exists(MYSQL *db, char *errstr, size_t errstr_size)
{
        long long n;
        if (cs_db_query_int(db, "SELECT COUNT(*) FROM `information_schema`."
                            "`TABLES` WHERE `TABLE_SCHEMA` = DATABASE() AND "
                            "`TABLE_NAME` = '" CS_TRIG_OUTBOX "'", &n, errstr,
                            errstr_size) == -1)
                return -1;
        return n > 0;
}

/* Reads the next batch: seqs (ascending) and rows. */
static int read_batch(MYSQL *db, ids_t *seqs, ob_row_t **rows, size_t *n,
                      double *oldest_s, char *errstr, size_t errstr_size)
{
        char sql[256];
        MYSQL_RES *res;
        MYSQL_ROW r;

        snprintf(sql, sizeof(sql), "SELECT `seq`, `tbl`, `row_id`, `root_id`, "
                 "`old_root_id`, TIMESTAMPDIFF(MICROSECOND, `changed_at`, "
                 "NOW(6)) FROM `" CS_TRIG_OUTBOX "` ORDER BY `seq` "
                 "LIMIT %d", CS_OUTBOX_BATCH_MAX);
        *n = 0;
        *rows = NULL;
        if (!(res = cs_db_query(db, sql, errstr, errstr_size)))
                return -1;
        if (mysql_num_rows(res) == 0) {
                mysql_free_result(res);
                return 0;
        }
        if (!(*rows = calloc(mysql_num_rows(res), sizeof(**rows)))) {
                mysql_free_result(res);
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        while ((r = mysql_fetch_row(res))) {
                ob_row_t *o = &(*rows)[*n];
                if (ids_push(seqs, strtoll(r[0], NULL, 10)) == -1) {
                        mysql_free_result(res);
                        snprintf(errstr, errstr_size, "out of memory");
                        return -1;
                }
                snprintf(o->tbl, sizeof(o->tbl), "%s", r[1] ? r[1] : "");
                o->row_id = r[2] ? strtoll(r[2], NULL, 10) : 0;
                o->root_id = r[3] ? strtoll(r[3], NULL, 10) : 0;
                o->old_root_id = r[4] ? strtoll(r[4], NULL, 10) : 0;
                if (r[5] && strtod(r[5], NULL) / 1e6 > *oldest_s)
                        *oldest_s = strtod(r[5], NULL) / 1e6;
                (*n)++;
        }
        mysql_free_result(res);
        return 0;
}

/* Marks the roots an outbox row affects, through every source that reads
 * its table (a table may feed a root and a nested entity: the 4.2
 * civicrm_activity). Rows of tables no entity reads are ignored. */
static int map_row(drain_t *d, cs_src_t *srcs, size_t count,
                   const ob_row_t *o)
{
        for (size_t i = 0; i < count; i++) {
                const cs_src_t *s = &srcs[i];
                const cs_entity_t *root;
                size_t idx;
                int hit = 0;

                if (!s->present)
                        continue;
                for (int b = 0; b < s->br_cnt; b++)
                        hit |= !strcmp(s->br[b].table, o->tbl);
                if (!hit)
                        continue;
                root = s->ent->parent ? cs_reg_by_name(s->ent->parent) : s->ent;
                idx = (size_t)(root - d->ents);
                if (!s->ent->parent) {
                        /* A root view sharing its table with a nested one
                         * (a location-block address, registry_loc.c): the
                         * trigger records the contact as root_id; a row
                         * that has one now is the contact's, not this
                         * view's (sending it would tombstone the
                         * contact's row). */
                        if (o->root_id > 0 && cs_reg_views(s->ent->table) > 1)
                                continue;
                        if (o->row_id > 0 && ids_push(&d->up[idx], o->row_id))
                                return -1;
                        continue;
                }
                /* Nested: the root the row belongs to now and before (a
                 * NULL parent is a row that is not synced). */
                if (o->root_id > 0 && ids_push(&d->up[idx], o->root_id))
                        return -1;
                if (o->old_root_id > 0 &&
                    ids_push(&d->up[idx], o->old_root_id))
                        return -1;
        }
        return 0;
}

static int send_doc(const cs_entity_t *root, long long child_id, json_t *doc,
                    void *opaque, char *errstr, size_t errstr_size)
{
        drain_t *d = opaque;
        char key[CS_DOC_ID_MAX];

        if (cs_doc_id(key, sizeof(key), d->conf->prefix, root->table,
                      child_id) == -1) {
                snprintf(errstr, errstr_size, "%s %lld: document id too long",
                         root->name, child_id);
                return -1;
        }
        if (cs_sink_send_doc(d->sink, key, doc, d->conf->max_document_bytes, -1,
                             errstr, errstr_size) == -1)
                return -1;
        if (ids_push(&d->sent, child_id) == -1) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        d->stats->documents++;
        return 0;
}

static int send_tombstone(drain_t *d, const cs_entity_t *ent, long long id,
                          char *errstr, size_t errstr_size)
{
        char key[CS_DOC_ID_MAX];

        if (cs_doc_id(key, sizeof(key), d->conf->prefix, ent->table,
                      id) == -1) {
                snprintf(errstr, errstr_size, "%s %lld: document id too long",
                         ent->name, id);
                return -1;
        }
        if (cs_sink_send(d->sink, key, NULL, 0, -1, errstr, errstr_size) == -1)
                return -1;
        d->stats->tombstones++;
        return 0;
}

/* Sends the documents of every marked root in one snapshot: upserts in
 * dependency order, then tombstones dependents first (as cs_incr_run).
 * up[i] keeps only the ids that had no document (to tombstone). */
static int send_marked(drain_t *d, cs_snap_t *snap, char *errstr,
                       size_t errstr_size)
{
        for (size_t i = 0; i < d->ent_cnt; i++) {
                ids_t *up = &d->up[i];
                size_t w = 0, k = 0;

                if (!up->n)
                        continue;
                ids_sort_unique(up);
                d->sent.n = 0;
                if (cs_snap_emit_ids(snap, &d->ents[i], up->v, up->n,
                                     send_doc, d, errstr, errstr_size) == -1)
                        return -1;
                ids_sort_unique(&d->sent);
                for (size_t r = 0; r < up->n; r++) {
                        while (k < d->sent.n && d->sent.v[k] < up->v[r])
                                k++;
                        if (k == d->sent.n || d->sent.v[k] != up->v[r])
                                up->v[w++] = up->v[r];
                }
                up->n = w;
        }
        for (size_t i = d->ent_cnt; i-- > 0; )
                for (size_t r = 0; r < d->up[i].n; r++)
                        if (send_tombstone(d, &d->ents[i], d->up[i].v[r],
                                           errstr, errstr_size) == -1)
                                return -1;
        return 0;
}

/* Deletes exactly the outbox rows read (by seq, bound values): a row a
 * slower transaction committed meanwhile with a smaller seq stays. */
static int delete_seqs(MYSQL *db, const ids_t *seqs, char *errstr,
                       size_t errstr_size)
{
        static cs_db_value_t vals[DELETE_CHUNK];
        char sql[64 + DELETE_CHUNK * 2];

        for (size_t i = 0; i < seqs->n; i += DELETE_CHUNK) {
                size_t n = seqs->n - i < DELETE_CHUNK ? seqs->n - i :
                           DELETE_CHUNK;
                size_t len = (size_t)snprintf(sql, sizeof(sql),
                        "DELETE FROM `" CS_TRIG_OUTBOX "` WHERE `seq` IN (");
                for (size_t k = 0; k < n; k++) {
                        vals[k].kind = CS_VAL_INT;
                        vals[k].i = seqs->v[i + k];
                        len += (size_t)snprintf(sql + len, sizeof(sql) - len,
                                                "%s?", k ? "," : "");
                }
                snprintf(sql + len, sizeof(sql) - len, ")");
                if (cs_db_exec_params(db, sql, vals, n, NULL, NULL, errstr,
                                      errstr_size) == -1)
                        return -1;
        }
        return 0;
}

/* The metadata tables whose fingerprint changed since gate (updated):
 * sent and delivered before the drain's documents. 0 or -1. */
static int send_gate(const cs_producer_conf_t *conf, MYSQL *db,
                     cs_sink_t *sink, json_t *gate, char *errstr,
                     size_t errstr_size)
{
        json_t *now = json_object();
        long long docs = 0;
        int rc = -1;

        if (!now) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        if (cs_gate_send(db, sink, conf->prefix, conf->max_document_bytes,
                         gate, CS_GATE_QUIET, now, &docs, errstr,
                         errstr_size) == 0) {
                if (json_object_update(gate, now) == -1)
                        snprintf(errstr, errstr_size, "out of memory");
                else
                        rc = 0;
        }
        json_decref(now);
        return rc;
}

int cs_outbox_drain(const cs_producer_conf_t *conf, MYSQL *db,
                    cs_snap_t *snap, cs_sink_t *sink, json_t *gate,
                    cs_outbox_stats_t *stats, char *errstr,
                    size_t errstr_size)
{
        drain_t d = { .conf = conf, .sink = sink, .stats = stats };
        ids_t seqs = { 0 };
        ob_row_t *rows = NULL;
        int in_snap = 0;
        const char *crash = getenv("CIVISYNC_TEST_CRASH_AFTER_SEND");
        cs_src_t *srcs;
        size_t n = 0, src_cnt;
        int rc = -1;
        double t = cs_progress_now(), t1;

        memset(stats, 0, sizeof(*stats));
        d.ents = cs_reg_entities(&d.ent_cnt);
        if (read_batch(db, &seqs, &rows, &n, &stats->oldest_s, errstr,
                       errstr_size) == -1)
                goto done;
        t1 = cs_progress_now();
        stats->read_ms = (t1 - t) * 1000.0;
        t = t1;
        if (n == 0) {
                rc = 0;
                goto done;
        }
        if (!(d.up = calloc(d.ent_cnt, sizeof(*d.up)))) {
                snprintf(errstr, errstr_size, "out of memory");
                goto done;
        }
        /* The snapshot starts after the read: every row read is from a
         * committed transaction, so the snapshot sees its change. */
        if (cs_snap_renew(snap, errstr, errstr_size) == -1)
                goto done;
        in_snap = 1;
        if (gate && send_gate(conf, db, sink, gate, errstr, errstr_size) == -1)
                goto done;
        srcs = cs_snap_sources(snap, &src_cnt);
        stats->open_ms = (cs_progress_now() - t) * 1000.0;
        for (size_t i = 0; i < n; i++)
                if (map_row(&d, srcs, src_cnt, &rows[i]) == -1) {
                        snprintf(errstr, errstr_size, "out of memory");
                        goto done;
                }
        if (send_marked(&d, snap, errstr, errstr_size) == -1)
                goto done;
        in_snap = 0;
        if (cs_snap_end(snap, errstr, errstr_size) == -1)
                goto done;
        t1 = cs_progress_now();
        stats->build_ms = (t1 - t) * 1000.0;
        t = t1;
        if (cs_sink_flush(sink, FLUSH_TIMEOUT_MS, errstr, errstr_size) == -1)
                goto done;
        t1 = cs_progress_now();
        stats->flush_ms = (t1 - t) * 1000.0;
        t = t1;
        if (crash && !strcmp(crash, "1")) {
                cs_error("CIVISYNC_TEST_CRASH_AFTER_SEND: exiting after the "
                         "delivery of %lld document(s), before the outbox "
                         "delete (test hook)", stats->documents +
                         stats->tombstones);
                fflush(stderr);
                _exit(1);
        }
        if (delete_seqs(db, &seqs, errstr, errstr_size) == -1)
                goto done;
        stats->rows = (long long)n;
        stats->delete_ms = (cs_progress_now() - t) * 1000.0;
        rc = 0;
done:
        if (in_snap) {
                char ignored[256];
                cs_snap_end(snap, ignored, sizeof(ignored));
        }
        for (size_t i = 0; d.up && i < d.ent_cnt; i++)
                free(d.up[i].v);
        free(d.up);
        free(d.sent.v);
        free(seqs.v);
        free(rows);
        return rc;
}
