/* apply_batch.c — cs_apply_messages: windows of messages, multi-row INSERTs of new documents. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulk.h"
#include "log.h"
#include "metadata.h"
#include "apply_int.h"

/* ---- many messages at once: prefetched mappings, multi-row INSERTs ----
 *
 * cs_apply_messages reads a window of messages, loads every mapping they
 * name in one query per table, then walks them in order. A run of
 * documents of one root entity whose rows are all new to the master and
 * whose references all resolve is gathered into a group and written with
 * multi-row INSERTs (roots, then nested rows with their parent's new id,
 * then the mapping rows). Anything else -- updates, tombstones, control
 * documents, references still missing, a document naming a row the group
 * is about to insert -- first flushes the group, then goes through
 * ap_apply_one. If a group's statements fail, it is rolled back to its
 * savepoint and its documents are applied one by one, so a bad document
 * is rejected on its own, exactly as on the one-by-one path. */

#define GROUP_DOCS_MAX 256
#define GROUP_BYTES_MAX (4u << 20)
#define WINDOW_DOCS 512
#define WINDOW_BYTES (8u << 20)
#define ID_MAX 0xFFFFFFFFFFFFLL

/* What adding a document (or row) to the open group came to. */
typedef enum {
        ADD_RETRY = -1, /* transient or out of memory: the batch rolls back */
        ADD_SLOW = 0,   /* not for a group: apply it on its own */
        ADD_OK = 1,     /* in the group */
        ADD_FLUSH = 2   /* write the group first, then try again */
} add_rc_t;

/* A set of (entity, child id) keys; 0 marks an empty slot. */
typedef struct idset_s {
        unsigned long long *slot;
        size_t cap, n;
} idset_t;

static unsigned long long idset_key(const cs_entity_t *ent, long long id)
{
        return ((unsigned long long)(ap_entity_index(ent) + 1) << 48) |
               ((unsigned long long)id & (unsigned long long)ID_MAX);
}

static size_t idset_pos(const idset_t *s, unsigned long long k)
{
        unsigned long long h = k * 0x9E3779B97F4A7C15ULL;
        return (size_t)(h ^ (h >> 31)) & (s->cap - 1);
}

static int idset_has(const idset_t *s, unsigned long long k)
{
        if (!s->n)
                return 0;
        for (size_t i = idset_pos(s, k);; i = (i + 1) & (s->cap - 1)) {
                if (!s->slot[i])
                        return 0;
                if (s->slot[i] == k)
                        return 1;
        }
}

/* 1 added, 0 already there, -1 out of memory. */
static int idset_add(idset_t *s, unsigned long long k)
{
        size_t i;

        if ((s->n + 1) * 2 > s->cap) {
                idset_t grown = { NULL, s->cap ? s->cap * 2 : 256, 0 };
                if (!(grown.slot = calloc(grown.cap, sizeof(*grown.slot))))
                        return -1;
                for (size_t j = 0; j < s->cap; j++)
                        if (s->slot[j])
                                idset_add(&grown, s->slot[j]);
                free(s->slot);
                *s = grown;
        }
        for (i = idset_pos(s, k); s->slot[i]; i = (i + 1) & (s->cap - 1))
                if (s->slot[i] == k)
                        return 0;
        s->slot[i] = k;
        s->n++;
        return 1;
}

static void idset_clear(idset_t *s)
{
        if (s->n)
                memset(s->slot, 0, s->cap * sizeof(*s->slot));
        s->n = 0;
}

static void idset_free(idset_t *s)
{
        free(s->slot);
        s->slot = NULL;
        s->cap = s->n = 0;
}

static int visit_row(const cs_entity_t *ent, const json_t *row, id_visit_fn fn,
                     void *ctx)
{
        json_t *jid = json_object_get(row, CS_F_CHILD_ID);
        int rc;

        if (!json_is_integer(jid) || json_integer_value(jid) <= 0 ||
            json_integer_value(jid) > ID_MAX)
                return -2;
        if ((rc = fn(ctx, ent, json_integer_value(jid), 1)))
                return rc;
        for (const cs_ref_t *r = ent->refs; r && r->column; r++) {
                json_t *v = json_object_get(row, r->column);
                const cs_entity_t *target;

                if (!v || json_is_null(v))
                        continue;
                if (ent->parent && ent->parent_column &&
                    !cs_reg_parent_via(ent) &&
                    !strcmp(r->column, ent->parent_column))
                        continue;
                if (r->kind == CS_REF_POLY) {
                        const char *t = NULL;
                        cs_poly_action_t pa;
                        if (!json_is_integer(v) || json_integer_value(v) < 0)
                                return -2;
                        pa = cs_reg_poly_resolve(ent, r, json_string_value(
                                json_object_get(row, r->table_column)),
                                json_integer_value(v), &t);
                        if (pa == CS_POLY_PASS)
                                continue; /* not an id of a synced row */
                        /* a deferred target is no registry table: the
                         * one-by-one path parks the document */
                        target = pa == CS_POLY_TRANSLATE && t ?
                                 cs_reg_by_table(t) : NULL;
                } else {
                        target = cs_reg_by_table(r->target);
                }
                if (!target)
                        return -2;
                if (r->kind == CS_REF_ID_LIST) {
                        const char *p = json_string_value(v);
                        long long id;
                        int more;
                        if (!p)
                                return -2;
                        while ((more = ap_next_list_id(&p, &id)) == 1) {
                                if (id > ID_MAX)
                                        return -2;
                                if ((rc = fn(ctx, target, id, 0)))
                                        return rc;
                        }
                        if (more == -1)
                                return -2;
                        continue;
                }
                if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
                    json_integer_value(v) > ID_MAX)
                        return -2;
                if ((rc = fn(ctx, target, json_integer_value(v), 0)))
                        return rc;
        }
        return 0;
}

/* Visits the ids of a root document and of its nested rows. Returns 0, the
 * first nonzero result of fn, or -2 when an id is malformed (the one-by-one
 * path then reports it). */
int ap_doc_visit_ids(const cs_entity_t *root, const json_t *doc, id_visit_fn fn,
                     void *ctx)
{
        json_t *kid;
        size_t i;
        int rc;

        if ((rc = visit_row(root, doc, fn, ctx)))
                return rc;
        json_array_foreach(json_object_get(doc, CS_F_CHILDREN), i, kid) {
                const cs_entity_t *kent = cs_reg_by_name(json_string_value(
                        json_object_get(kid, CS_F_ENTITY)));
                if (!kent || !kent->parent || strcmp(kent->parent, root->name))
                        continue;
                if ((rc = visit_row(kent, kid, fn, ctx)))
                        return rc;
        }
        return 0;
}

/* ---- groups of new documents ---- */

typedef struct group_s {
        size_t pc_no;
        const cs_entity_t *root;
        const cs_entity_t *kids[CS_LIMIT_NESTED_KINDS];
        size_t kid_cnt;
        cs_bulk_t rows[1 + CS_LIMIT_NESTED_KINDS];   /* [0] roots, [1 + k] nested kids[k] */
        size_t parent_col[1 + CS_LIMIT_NESTED_KINDS]; /* nested: column of the parent id */
        size_t *msg;                    /* message index per document */
        json_t **docs;                  /* NEW references: rows borrow them */
        size_t n, cap;
        cs_bulk_t parks;                /* civisync_parked rows to write */
        idset_t pending;                /* every row the group will insert */
        idset_t doc_rows;               /* rows of the document being added */
} group_t;

static void group_reset(group_t *g)
{
        for (size_t t = 0; t < 1 + CS_LIMIT_NESTED_KINDS; t++) {
                cs_bulk_clear(&g->rows[t]);
                g->rows[t].ncols = 0;
        }
        cs_bulk_clear(&g->parks);
        g->parks.ncols = 0;
        for (size_t i = 0; i < g->n; i++)
                json_decref(g->docs[i]);
        g->n = 0;
        g->root = NULL;
        idset_clear(&g->pending);
}

static void group_free(group_t *g)
{
        group_reset(g);
        free(g->msg);
        free(g->docs);
        idset_free(&g->pending);
        idset_free(&g->doc_rows);
}

/* A document that names, as its own row, a row the group will insert
 * conflicts (flush first). References to such rows are fine: they are not
 * mapped yet, so they park and resolve at commit, as on the one-by-one
 * path. */
static int pending_visit(void *ctx, const cs_entity_t *ent, long long id,
                         int own)
{
        return own && idset_has(ctx, idset_key(ent, id)) ? 1 : 0;
}

static size_t group_bytes(const group_t *g)
{
        size_t b = 0;
        for (size_t t = 0; t < 1 + CS_LIMIT_NESTED_KINDS; t++)
                b += g->rows[t].bytes;
        return b;
}

/* Adds one new row to bulk table t. ADD_OK, ADD_SLOW, ADD_FLUSH, ADD_RETRY. */
static add_rc_t group_add_row(cs_apply_t *ap, group_t *g, size_t t,
                              const cs_entity_t *ent, const json_t *row,
                              size_t parent_row, char *errstr,
                              size_t errstr_size)
{
        prefix_ctx_t *pc = &ap->prefixes[g->pc_no];
        const cs_table_t *tbl = ap_master_table(ap, ent, errstr, errstr_size);
        row_build_t *rb = ap->scratch;
        cs_bulk_t *b = &g->rows[t];
        long long id = json_integer_value(json_object_get(row, CS_F_CHILD_ID));
        long long master = 0;
        unsigned int dberr = 0;
        ap_rc_t rc;
        ap_map_rc_t mapped;
        int add;

        /* A row naming a row nested beside it (an address's custom
         * values) needs that row's new id: the one-by-one path. */
        if (!tbl || id <= 0 || cs_reg_parent_via(ent))
                return ADD_SLOW;
        if ((add = idset_add(&g->doc_rows, idset_key(ent, id))) <= 0)
                return add == 0 ? ADD_SLOW : ADD_RETRY; /* a row twice */
        mapped = ap_map_lookup(ap, pc, ent->table, id, &master, &dberr, errstr,
                               errstr_size);
        if (mapped == AP_MAP_ERROR)
                return ap_db_fail(ap, dberr, errstr, errstr_size, "mapping lookup") ==
                       AP_RETRY ? ADD_RETRY : ADD_SLOW;
        if (mapped == AP_MAP_FOUND)
                return ADD_SLOW; /* an update */
        rb->n = rb->owned_n = rb->park_n = 0;
        rb->missing_required = 0;
        rc = ap_build_row(ap, pc, ent, tbl, row, 0, rb, errstr, errstr_size);
        if (rc != AP_OK || rb->missing_required || rb->n == 0) {
                ap_row_free(rb);
                return rc == AP_RETRY ? ADD_RETRY : ADD_SLOW;
        }
        if (b->ncols == 0) {
                cs_bulk_init(b, ent->table, rb->names, rb->n);
                g->parent_col[t] = (size_t)-1;
                for (size_t i = 0; t > 0 && i < rb->n; i++)
                        if (!strcmp(rb->names[i], ent->parent_column))
                                g->parent_col[t] = i;
        } else if (!cs_bulk_same_cols(b, rb->names, rb->n)) {
                ap_row_free(rb);
                return g->n ? ADD_FLUSH : ADD_SLOW;
        }
        if (t > 0) {
                if (g->parent_col[t] == (size_t)-1) {
                        ap_row_free(rb);
                        return ADD_SLOW;
                }
                rb->vals[g->parent_col[t]] = v_int((long long)parent_row);
        }
        if (cs_bulk_add(b, rb->vals, id) == -1) {
                ap_row_free(rb);
                snprintf(errstr, errstr_size, "out of memory");
                return ADD_RETRY;
        }
        for (size_t i = 0; i < rb->owned_n; i++)
                if (cs_bulk_own(b, rb->owned[i]) == -1) {
                        rb->owned_n = 0;
                        snprintf(errstr, errstr_size, "out of memory");
                        return ADD_RETRY;
                }
        rb->owned_n = 0;
        /* Optional references not mapped yet: NULL now, parked. */
        for (size_t i = 0; i < rb->park_n; i++) {
                static const char *const park_cols[7] = {
                        "prefix", "entity_table", "child_entity_id",
                        "column_name", "target_table", "target_child_id",
                        "raw_value" };
                char *raw = strdup(rb->parks[i].raw);
                cs_db_value_t v[7] = { v_str(pc->prefix), v_str(ent->table),
                                       v_int(id), v_str(rb->parks[i].column),
                                       v_str(rb->parks[i].target),
                                       v_int(rb->parks[i].target_child_id),
                                       v_str(raw ? raw : "") };
                if (g->parks.ncols == 0)
                        cs_bulk_init(&g->parks, "civisync_parked", park_cols, 7);
                if (!raw || cs_bulk_own(&g->parks, raw) == -1 ||
                    cs_bulk_add(&g->parks, v, 0) == -1) {
                        ap_row_free(rb);
                        snprintf(errstr, errstr_size, "out of memory");
                        return ADD_RETRY;
                }
        }
        ap_row_free(rb);
        return ADD_OK;
}

/* Tries to add a document (all of whose rows must be new) to the group. */
static add_rc_t group_try_add(cs_apply_t *ap, group_t *g, size_t pc_no,
                              const cs_entity_t *ent, json_t *doc,
                              size_t msg_no, char *errstr, size_t errstr_size)
{
        size_t mark_rows[1 + CS_LIMIT_NESTED_KINDS], mark_owned[1 + CS_LIMIT_NESTED_KINDS], root_row;
        size_t mark_parks = g->parks.rows, mark_parks_owned = g->parks.owned_n;
        json_t *children = json_object_get(doc, CS_F_CHILDREN), *kid;
        add_rc_t rc;
        int conflict;
        size_t i;

        /* A file document writes its bytes too (apply_file.c). */
        if (!ap->bulk_ok || ent == cs_reg_file_entity())
                return ADD_SLOW;
        if (g->n && (g->pc_no != pc_no || g->root != ent))
                return ADD_FLUSH;
        if (g->n >= GROUP_DOCS_MAX || group_bytes(g) >= GROUP_BYTES_MAX)
                return ADD_FLUSH;
        conflict = ap_doc_visit_ids(ent, doc, pending_visit, &g->pending);
        if (conflict == -2)
                return ADD_SLOW;
        if (conflict)
                return g->n ? ADD_FLUSH : ADD_SLOW;
        if (!g->n) {
                g->root = ent;
                g->pc_no = pc_no;
                g->kid_cnt = cs_reg_children(ent, g->kids, CS_LIMIT_NESTED_KINDS);
        }
        if (g->n == g->cap) {
                size_t cap = g->cap ? g->cap * 2 : 64;
                size_t *m = realloc(g->msg, cap * sizeof(*m));
                json_t **d;
                if (m)
                        g->msg = m;
                d = m ? realloc(g->docs, cap * sizeof(*d)) : NULL;
                if (!d) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return ADD_RETRY;
                }
                g->docs = d;
                g->cap = cap;
        }
        for (size_t t = 0; t < 1 + CS_LIMIT_NESTED_KINDS; t++) {
                mark_rows[t] = g->rows[t].rows;
                mark_owned[t] = g->rows[t].owned_n;
        }
        idset_clear(&g->doc_rows);
        root_row = g->rows[0].rows;
        rc = group_add_row(ap, g, 0, ent, doc, 0, errstr, errstr_size);
        for (size_t k = 0; rc == ADD_OK && k < g->kid_cnt; k++)
                json_array_foreach(children, i, kid) {
                        const char *name = json_string_value(
                                json_object_get(kid, CS_F_ENTITY));
                        if (!name || strcmp(name, g->kids[k]->name))
                                continue;
                        rc = group_add_row(ap, g, 1 + k, g->kids[k], kid,
                                           root_row, errstr, errstr_size);
                        if (rc != ADD_OK)
                                break;
                }
        if (rc != ADD_OK) {
                for (size_t t = 0; t < 1 + CS_LIMIT_NESTED_KINDS; t++) {
                        cs_bulk_truncate(&g->rows[t], mark_rows[t],
                                         mark_owned[t]);
                        if (g->rows[t].rows == 0)
                                g->rows[t].ncols = 0;
                }
                cs_bulk_truncate(&g->parks, mark_parks, mark_parks_owned);
                if (!g->n)
                        g->root = NULL;
                return rc;
        }
        for (size_t j = 0; j < g->doc_rows.cap; j++)
                if (g->doc_rows.slot[j] &&
                    idset_add(&g->pending, g->doc_rows.slot[j]) == -1) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return ADD_RETRY;
                }
        g->msg[g->n] = msg_no;
        g->docs[g->n++] = json_incref(doc);
        return ADD_OK;
}

/* The group's statements, under savepoint cs_bulk. 0, or -1 with *dberr. */
static int group_write(cs_apply_t *ap, group_t *g, prefix_ctx_t *pc,
                       const cs_apply_msg_t *msgs, unsigned int *dberr,
                       char *errstr, size_t errstr_size)
{
        static const char *const map_cols[4] = {
                "entity_table", "child_entity_id", "master_entity_id",
                "generation" };
        cs_bulk_t map = { 0 };
        cs_db_value_t fixed[2] = { v_str(pc->prefix) };
        int rc = 0;

        *dberr = 0;
        if (cs_db_exec(ap->db, "SAVEPOINT cs_bulk", errstr, errstr_size) == -1) {
                *dberr = mysql_errno(ap->db);
                return -1;
        }
        if (cs_bulk_insert(&g->rows[0], ap->cache, 1, ap->autoinc_step, dberr,
                           errstr, errstr_size) == -1)
                return -1;
        for (size_t k = 0; k < g->kid_cnt; k++) {
                cs_bulk_t *b = &g->rows[1 + k];
                for (size_t r = 0; r < b->rows; r++) {
                        cs_db_value_t *v = cs_bulk_value(b, r, g->parent_col[1 + k]);
                        v->i = g->rows[0].ids[v->i];
                }
                if (b->rows && cs_bulk_insert(b, ap->cache, 1, ap->autoinc_step,
                                              dberr, errstr, errstr_size) == -1)
                        return -1;
        }
        cs_bulk_init(&map, pc->map, map_cols, 4);
        for (size_t t = 0; rc == 0 && t < 1 + g->kid_cnt; t++) {
                const cs_entity_t *ent = t ? g->kids[t - 1] : g->root;
                for (size_t r = 0; rc == 0 && r < g->rows[t].rows; r++) {
                        cs_db_value_t v[4] = { v_str(ent->table),
                                               v_int(g->rows[t].tags[r]),
                                               v_int(g->rows[t].ids[r]),
                                               v_int(pc->refresh) };
                        rc = cs_bulk_add(&map, v, 0);
                }
        }
        if (rc == -1)
                snprintf(errstr, errstr_size, "out of memory");
        else
                rc = cs_bulk_insert(&map, ap->cache, 0, 0, dberr, errstr,
                                    errstr_size);
        cs_bulk_clear(&map);
        /* Rows that are new can still have stale parked references (from a
         * deleted earlier version); the one-by-one path drops them too. */
        for (size_t t = 0; rc == 0 && pc->has_parked && t < 1 + g->kid_cnt; t++) {
                const cs_entity_t *ent = t ? g->kids[t - 1] : g->root;
                cs_db_value_t *vals;
                if (!ap_entity_can_park(ent) || !g->rows[t].rows)
                        continue;
                if (!(vals = malloc(g->rows[t].rows * sizeof(*vals)))) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return -1;
                }
                for (size_t r = 0; r < g->rows[t].rows; r++)
                        vals[r] = v_int(g->rows[t].tags[r]);
                fixed[1] = v_str(ent->table);
                rc = ap_run_in_chunks(ap, "DELETE FROM civisync_parked WHERE "
                                      "prefix = ? AND entity_table = ? AND "
                                      "child_entity_id IN", fixed, 2, vals,
                                      g->rows[t].rows, NULL, dberr, errstr,
                                      errstr_size);
                free(vals);
        }
        if (rc == 0 && g->parks.rows) {
                rc = cs_bulk_insert(&g->parks, ap->cache, 0, 0, dberr, errstr,
                                    errstr_size);
                if (rc == 0)
                        pc->has_parked = 1;
        }
        if (rc == 0 && pc->has_parked_doc) {
                cs_db_value_t *keys = malloc(g->n * sizeof(*keys));
                if (!keys) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return -1;
                }
                for (size_t i = 0; i < g->n; i++) {
                        const cs_apply_msg_t *m = &msgs[g->msg[i]];
                        keys[i] = (cs_db_value_t){ .kind = CS_VAL_STR,
                                                   .s = m->key,
                                                   .len = m->key_len };
                }
                rc = ap_run_in_chunks(ap, "DELETE FROM civisync_parked_doc WHERE "
                                      "prefix = ? AND doc_key IN", fixed, 1, keys,
                                      g->n, NULL, dberr, errstr, errstr_size);
                free(keys);
        }
        return rc;
}

static ap_rc_t record_result(cs_apply_t *ap, cs_apply_msg_t *m, ap_rc_t rc,
                             const char *why, char *errstr, size_t errstr_size)
{
        if (rc == AP_RETRY) {
                snprintf(errstr, errstr_size, "%s", why);
                return AP_RETRY;
        }
        if (rc == AP_REJECTED) {
                ap->stats.rejected++;
                free(m->rejected);
                if (!(m->rejected = strdup(why))) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return AP_RETRY;
                }
                return AP_OK;
        }
        ap->stats.documents++;
        return AP_OK;
}

/* doc (BORROWED, may be NULL): the message's value, parsed already. */
static ap_rc_t apply_msg_alone(cs_apply_t *ap, cs_apply_msg_t *m, json_t *doc,
                               char *errstr, size_t errstr_size)
{
        char why[1024];
        ap_rc_t rc = ap_apply_one(ap, m->prefix, m->key, m->key_len,
                                  m->value, m->value_len, doc, m->flags, why,
                                  sizeof(why));
        return record_result(ap, m, rc, why, errstr, errstr_size);
}

/* Writes the group; on a failure that is not transient, rolls it back and
 * applies its documents one by one. */
static ap_rc_t group_flush(cs_apply_t *ap, group_t *g, cs_apply_msg_t *msgs,
                           char *errstr, size_t errstr_size)
{
        prefix_ctx_t *pc;
        unsigned int dberr = 0;
        ap_rc_t rc = AP_OK;
        char why[1024];

        if (!g->n)
                return AP_OK;
        pc = &ap->prefixes[g->pc_no];
        if (group_write(ap, g, pc, msgs, &dberr, why, sizeof(why)) == 0) {
                for (size_t t = 0; t < 1 + g->kid_cnt; t++) {
                        const cs_entity_t *ent = t ? g->kids[t - 1] : g->root;
                        for (size_t r = 0; r < g->rows[t].rows; r++)
                                ap_map_remember(ap, pc, ent->table,
                                                g->rows[t].tags[r],
                                                g->rows[t].ids[r], pc->refresh);
                        ap->stats.rows_upserted += (long long)g->rows[t].rows;
                }
                ap->stats.documents += (long long)g->n;
                group_reset(g);
                return AP_OK;
        }
        if (cs_db_error_transient(dberr, why)) {
                snprintf(errstr, errstr_size, "%s", why);
                group_reset(g);
                return AP_RETRY;
        }
        cs_debug("%s: multi-row apply of %zu %s documents failed (%s); "
                 "applying them one by one", pc->prefix, g->n, g->root->name,
                 why);
        /* The cache stays: group_write remembers nothing (group_flush
         * does, after it succeeded), and what the group's lookups cached
         * was read before the savepoint, so it holds after the rollback. */
        if (cs_db_exec(ap->db, "ROLLBACK TO SAVEPOINT cs_bulk", errstr,
                       errstr_size) == -1) {
                group_reset(g);
                return AP_RETRY;
        }
        /* In message order, each with its document parsed already. */
        for (size_t i = 0; i < g->n && rc == AP_OK; i++)
                rc = apply_msg_alone(ap, &msgs[g->msg[i]], g->docs[i], errstr,
                                     errstr_size);
        group_reset(g);
        return rc;
}

/* Parses message i for the multi-row path: a NEW document when it is an
 * entity document of its topic's prefix, else NULL (the one-by-one path
 * then handles, or rejects, it). */
static json_t *parse_candidate(cs_apply_t *ap, const cs_apply_msg_t *m,
                               const cs_entity_t **ent, cs_doc_info_t *gate)
{
        char key_prefix[CS_PREFIX_MAX + 1], table[80], err[256];
        long long child_id;
        cs_doc_info_t info;
        json_t *doc;

        if (!m->value || !m->key || !m->key_len ||
            cs_doc_parse_id(m->key, m->key_len, key_prefix, table,
                            sizeof(table), &child_id, err, sizeof(err)) == -1 ||
            strcmp(key_prefix, m->prefix))
                return NULL;
        if (!(doc = m->parsed ? json_incref(m->parsed) :
                    cs_doc_parse(m->value, m->value_len,
                                 ap->conf->max_document_bytes, err,
                                 sizeof(err))))
                return NULL;
        if (cs_doc_inspect(doc, m->key, m->key_len, &info, err,
                           sizeof(err)) == -1 ||
            info.kind != CS_DOC_KIND_ENTITY || info.entity->parent ||
            strcmp(info.prefix, m->prefix)) {
                json_decref(doc);
                return NULL;
        }
        *ent = info.entity;
        gate->gate_run = info.gate_run;
        gate->gate_docs = info.gate_docs;
        return doc;
}

/* Whether message m is a tombstone of an entity of its topic's prefix: 1
 * with *ent (its root entity) and *child_id set, so that the window's
 * prefetch loads its mapping; else 0 (ap_apply_one judges it). */
static int tomb_candidate(const cs_apply_msg_t *m, const cs_entity_t **ent,
                          long long *child_id)
{
        char key_prefix[CS_PREFIX_MAX + 1], table[80], err[256];

        if (m->value || !m->key || !m->key_len ||
            cs_meta_is_key(m->key, m->key_len) ||
            cs_doc_parse_id(m->key, m->key_len, key_prefix, table,
                            sizeof(table), child_id, err, sizeof(err)) == -1 ||
            strcmp(key_prefix, m->prefix) || *child_id <= 0 ||
            *child_id > ID_MAX)
                return 0;
        *ent = cs_reg_root_by_table(table);
        return *ent != NULL;
}

/* Whether a document of prefix pc (its gate stamp: gate) must take the
 * one-by-one path, which holds it until its run's metadata documents are
 * applied (ap_gate_hold): 1 yes (also when the check failed for this
 * document alone: that path reports it), 0 no. A transient failure
 * comes back in *rc (AP_RETRY). */
static int gate_pending(cs_apply_t *ap, prefix_ctx_t *pc, const cs_doc_info_t *gate,
                        ap_rc_t *rc, char *errstr, size_t errstr_size)
{
        char reason[256];
        int hold = 0;

        if (gate->gate_run <= 0)
                return 0;
        *rc = ap_gate_hold(ap, pc, gate, &hold, reason, sizeof(reason), errstr,
                           errstr_size);
        if (*rc == AP_RETRY)
                return 0;
        if (*rc != AP_OK) {
                *rc = AP_OK;
                return 1;
        }
        return hold;
}

cs_apply_rc_t cs_apply_messages(cs_apply_t *ap, cs_apply_msg_t *msgs, size_t n,
                                char *errstr, size_t errstr_size)
{
        json_t **docs = calloc(WINDOW_DOCS, sizeof(*docs));
        const cs_entity_t **ents = calloc(WINDOW_DOCS, sizeof(*ents));
        size_t *pc_of = calloc(WINDOW_DOCS, sizeof(*pc_of));
        cs_doc_info_t *gates = calloc(WINDOW_DOCS, sizeof(*gates));
        long long *tombs = calloc(WINDOW_DOCS, sizeof(*tombs));
        group_t g;
        ap_rc_t rc = AP_OK;

        memset(&g, 0, sizeof(g));
        if (!docs || !ents || !pc_of || !gates || !tombs) {
                snprintf(errstr, errstr_size, "out of memory");
                rc = AP_RETRY;
                goto done;
        }
        for (size_t start = 0; start < n && rc == AP_OK;) {
                size_t end = start, bytes = 0, w;

                /* A window: parse, then one prefetch per prefix. */
                while (end < n && end - start < WINDOW_DOCS &&
                       bytes < WINDOW_BYTES) {
                        cs_apply_msg_t *m = &msgs[end];
                        prefix_ctx_t *pc;
                        w = end - start;
                        docs[w] = NULL;
                        tombs[w] = 0;
                        bytes += m->value_len;
                        if ((docs[w] = parse_candidate(ap, m, &ents[w], &gates[w])) ||
                            tomb_candidate(m, &ents[w], &tombs[w])) {
                                if (!(pc = ap_prefix_get(ap, m->prefix, &rc, errstr,
                                                         errstr_size))) {
                                        json_decref(docs[w]);
                                        docs[w] = NULL;
                                        tombs[w] = 0;
                                        if (rc == AP_RETRY) {
                                                end++;
                                                goto window_done;
                                        }
                                        rc = AP_OK;
                                } else {
                                        pc_of[w] = (size_t)(pc - ap->prefixes);
                                }
                        }
                        end++;
                }
                for (size_t pno = 0; pno < ap->prefix_cnt && rc == AP_OK;
                     pno++) {
                        int any = 0;
                        for (w = 0; w < end - start && !any; w++)
                                any = (docs[w] || tombs[w]) && pc_of[w] == pno;
                        if (any)
                                rc = ap_prefetch_mappings(ap, &ap->prefixes[pno],
                                                          docs, ents, pc_of, tombs,
                                                          pno, end - start, errstr,
                                                          errstr_size);
                }
                for (size_t i = start; i < end && rc == AP_OK; i++) {
                        add_rc_t add = ADD_SLOW;
                        w = i - start;
                        /* (its run's gate documents: the messages before
                         * it are applied, or in the group, by now) */
                        if (docs[w] && gate_pending(ap, &ap->prefixes[pc_of[w]],
                                                    &gates[w], &rc, errstr,
                                                    errstr_size)) {
                                ; /* the one-by-one path parks it */
                        } else if (rc != AP_OK) {
                                break;
                        } else if (docs[w]) {
                                add = group_try_add(ap, &g, pc_of[w], ents[w],
                                                    docs[w], i, errstr,
                                                    errstr_size);
                                if (add == ADD_FLUSH) {
                                        rc = group_flush(ap, &g, msgs, errstr,
                                                         errstr_size);
                                        if (rc != AP_OK)
                                                break;
                                        add = group_try_add(ap, &g, pc_of[w],
                                                            ents[w], docs[w], i,
                                                            errstr, errstr_size);
                                }
                                if (add == ADD_RETRY) {
                                        rc = AP_RETRY;
                                        break;
                                }
                                if (add == ADD_OK)
                                        continue;
                        }
                        rc = group_flush(ap, &g, msgs, errstr, errstr_size);
                        if (rc == AP_OK)
                                rc = apply_msg_alone(ap, &msgs[i], docs[w],
                                                     errstr, errstr_size);
                }
                if (rc == AP_OK)
                        rc = group_flush(ap, &g, msgs, errstr, errstr_size);
window_done:
                for (w = 0; w < end - start; w++) {
                        json_decref(docs[w]);
                        docs[w] = NULL;
                }
                start = end;
        }
done:
        group_reset(&g);
        group_free(&g);
        free(docs);
        free(ents);
        free(pc_of);
        free(gates);
        free(tombs);
        return ap_public_rc(rc);
}
