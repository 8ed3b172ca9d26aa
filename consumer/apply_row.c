/* apply_row.c — upsert and delete: a root document with its nested rows, tombstones. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <mysqld_error.h>

#include "log.h"
#include "apply_int.h"

/* ---- upsert and delete ---- */

/* A failed UPDATE or INSERT of the row (MariaDB error dberr).
 * ER_DUP_ENTRY: a UNIQUE key of the master is taken by another row. The
 * child enforces the same key, so within a prefix this is transient: the
 * other row's delete or change (a tombstone on another partition, a rename
 * later in the run) has not arrived yet. The document waits and is retried
 * after each batch; one that never fits stays parked, visible in --status,
 * never lost. Any other error: ap_db_fail. */
static ap_rc_t write_failed(cs_apply_t *ap, prefix_ctx_t *pc, unsigned int dberr,
                            const cs_entity_t *ent, long long child_id,
                            wait_for_t *wait, char *errstr,
                            size_t errstr_size)
{
        char msg[512], meta[72];

        if (dberr == ER_NO_REFERENCED_ROW_2 &&
            ap_meta_fk_error(errstr, meta, sizeof(meta)) &&
            ap_meta_gate_seen(ap, pc) == 1) {
                /* A metadata row the master lacks: its gate document (the
                 * producer sends it first, but on another partition) has
                 * not created it yet. The document waits and is retried
                 * after each batch, as for a UNIQUE key. Only for a prefix
                 * whose producer sends the gate: from any other stream the
                 * row cannot come, and the document is rejected. */
                snprintf(msg, sizeof(msg), "%s %lld waits for a row of metadata "
                         "table %s that the master lacks (the metadata gate "
                         "creates it): %s", ent->table, child_id, meta, errstr);
                snprintf(errstr, errstr_size, "%s", msg);
                cs_info("%.300s", msg);
                wait->table[0] = '\0';
                wait->child_id = 0;
                return AP_PARKED;
        }
        if (dberr != ER_DUP_ENTRY)
                return ap_db_fail(ap, dberr, errstr, errstr_size, ent->table);
        snprintf(msg, sizeof(msg), "%s %lld waits for a UNIQUE key held by "
                 "another row: %s", ent->table, child_id, errstr);
        snprintf(errstr, errstr_size, "%s", msg);
        wait->table[0] = '\0';
        wait->child_id = 0;
        return AP_PARKED;
}

/* Inserts or updates one row; *master_id receives its master id. */
static ap_rc_t upsert_row(cs_apply_t *ap, prefix_ctx_t *pc,
                          const cs_entity_t *ent, const json_t *doc,
                          long long parent_master_id, long long *master_id,
                          int *inserted, wait_for_t *wait, char *errstr,
                          size_t errstr_size)
{
        const cs_table_t *tbl = ap_master_table(ap, ent, errstr, errstr_size);
        row_build_t *rb;
        json_t *jid = json_object_get(doc, CS_F_CHILD_ID);
        long long child_id = json_integer_value(jid);
        unsigned long long affected = 0, insert_id = 0;
        unsigned int dberr = 0;
        ap_rc_t rc;
        ap_map_rc_t mapped;
        size_t len;

        if (!tbl)
                return AP_REJECTED;
        if (!json_is_integer(jid) || child_id <= 0) {
                snprintf(errstr, errstr_size, "%s: missing civisync_child_id",
                         ent->table);
                return AP_REJECTED;
        }
        if (!(rb = calloc(1, sizeof(*rb)))) {
                snprintf(errstr, errstr_size, "out of memory");
                return AP_RETRY;
        }
        rc = ap_build_row(ap, pc, ent, tbl, doc, parent_master_id, rb, errstr,
                          errstr_size);
        if (rc != AP_OK)
                goto done;
        if (rb->missing_required) {
                snprintf(errstr, errstr_size,
                         "%s %lld waits for %s", ent->table, child_id,
                         rb->missing_desc);
                snprintf(wait->table, sizeof(wait->table), "%s",
                         rb->missing_target);
                wait->child_id = rb->missing_child_id;
                rc = AP_PARKED;
                goto done;
        }
        mapped = ap_map_lookup(ap, pc, ent->table, child_id, master_id, &dberr,
                               errstr, errstr_size);
        if (mapped == AP_MAP_ERROR) {
                rc = ap_db_fail(ap, dberr, errstr, errstr_size, "mapping lookup");
                goto done;
        }
        if (mapped == AP_MAP_FOUND) {
                int bad;
                len = 0;
                bad = ap_sql_cat(ap->sql, &len, "UPDATE `%s` SET ", ent->table);
                for (size_t i = 0; i < rb->n; i++)
                        bad |= ap_sql_cat(ap->sql, &len, "%s`%s` = ?",
                                          i ? ", " : "", rb->names[i]);
                if (bad | ap_sql_cat(ap->sql, &len, " WHERE id = ?")) {
                        snprintf(errstr, errstr_size, "%s: UPDATE longer than "
                                 "%d bytes", ent->table, SQL_MAX);
                        rc = AP_REJECTED;
                        goto done;
                }
                rb->vals[rb->n] = v_int(*master_id);
                if (ap_run(ap, ap->sql, rb->vals, rb->n + 1, &affected, NULL, NULL,
                           NULL, &dberr, errstr, errstr_size) == -1) {
                        rc = write_failed(ap, pc, dberr, ent, child_id, wait,
                                          errstr, errstr_size);
                        goto done;
                }
                if (affected == 0)
                        /* the master row is gone: insert anew */
                        mapped = AP_MAP_NONE;
        }
        if (mapped == AP_MAP_NONE) {
                int bad;
                len = 0;
                bad = ap_sql_cat(ap->sql, &len, "INSERT INTO `%s` (", ent->table);
                for (size_t i = 0; i < rb->n; i++)
                        bad |= ap_sql_cat(ap->sql, &len, "%s`%s`", i ? ", " : "",
                                          rb->names[i]);
                bad |= ap_sql_cat(ap->sql, &len, ") VALUES (");
                for (size_t i = 0; i < rb->n; i++)
                        bad |= ap_sql_cat(ap->sql, &len, "%s?", i ? ", " : "");
                if (bad | ap_sql_cat(ap->sql, &len, ")")) {
                        snprintf(errstr, errstr_size, "%s: INSERT longer than "
                                 "%d bytes", ent->table, SQL_MAX);
                        rc = AP_REJECTED;
                        goto done;
                }
                if (ap_run(ap, ap->sql, rb->vals, rb->n, NULL, &insert_id, NULL,
                           NULL, &dberr, errstr, errstr_size) == -1) {
                        rc = write_failed(ap, pc, dberr, ent, child_id, wait,
                                          errstr, errstr_size);
                        goto done;
                }
                *master_id = (long long)insert_id;
                *inserted = 1;
        }
        if (ap_map_set(ap, pc, ent->table, child_id, *master_id, &dberr, errstr,
                       errstr_size) == -1) {
                rc = ap_db_fail(ap, dberr, errstr, errstr_size, "mapping");
                goto done;
        }
        rc = ap_write_parks(ap, pc, ent, child_id, rb, errstr, errstr_size);
        if (rc == AP_OK)
                ap->stats.rows_upserted++;
done:
        ap_row_free(rb);
        free(rb);
        return rc;
}

/* Ids per statement of a replace-set delete: every id is a bound value, and
 * a root may have any number of nested rows. */
#define REPLACE_CHUNK 500

/* Binds the next chunk of master ids of kid (at most REPLACE_CHUNK of the
 * n in ids): p[0] its table name, p[1..k] the ids, list "?,?,...,?" with k
 * marks. Returns k. */
static size_t bind_id_chunk(cs_db_value_t *p, char *list,
                            const cs_entity_t *kid, const long long *ids,
                            size_t n)
{
        size_t k = n < REPLACE_CHUNK ? n : REPLACE_CHUNK;

        p[0] = v_str(kid->table);
        for (size_t i = 0; i < k; i++) {
                list[2 * i] = '?';
                list[2 * i + 1] = ',';
                p[i + 1] = v_int(ids[i]);
        }
        list[2 * k - 1] = '\0';
        return k;
}

/* Deletes the master rows of kid whose ids are ids[0..n) (nested rows of
 * one parent, mapped to pc), with their mapping rows, REPLACE_CHUNK ids per
 * statement. */
static ap_rc_t delete_children_by_id(cs_apply_t *ap, prefix_ctx_t *pc,
                                     const cs_entity_t *kid,
                                     const long long *ids, size_t n,
                                     char *errstr, size_t errstr_size)
{
        cs_db_value_t p[REPLACE_CHUNK + 1];
        char list[REPLACE_CHUNK * 2], target[256 + REPLACE_CHUNK * 2];
        unsigned int dberr = 0;
        ap_rc_t rc = AP_OK;

        for (size_t done = 0, k; done < n && rc == AP_OK; done += k) {
                unsigned long long affected = 0;

                k = bind_id_chunk(p, list, kid, ids + done, n - done);
                /* Mapping rows first (they name the rows about to go). */
                snprintf(ap->sql, SQL_MAX, "DELETE FROM `%s` WHERE entity_table "
                         "= ? AND master_entity_id IN (%s)", pc->map, list);
                if (ap_run(ap, ap->sql, p, k + 1, &affected, NULL, NULL, NULL,
                           &dberr, errstr, errstr_size) == -1)
                        return ap_db_fail(ap, dberr, errstr, errstr_size,
                                          "replace-set mapping");
                if (affected)
                        ap_map_forget_table(ap, kid->table);
                affected = 0;
                snprintf(target, sizeof(target), "FROM `%s` t WHERE t.id IN (%s)",
                         kid->table, list);
                /* Rows the master's ON DELETE CASCADE removes with them
                 * (an address's custom values) were read by replace_children
                 * before any delete: their mapping rows go by id. */
                rc = ap_release_references(ap, kid, target, p + 1, k, errstr,
                                           errstr_size);
                if (rc != AP_OK)
                        break;
                snprintf(ap->sql, SQL_MAX, "DELETE FROM `%s` WHERE id IN (%s)",
                         kid->table, list);
                if (ap_run(ap, ap->sql, p + 1, k, &affected, NULL, NULL, NULL,
                           &dberr, errstr, errstr_size) == -1)
                        return ap_db_fail(ap, dberr, errstr, errstr_size,
                                          "replace-set delete");
                ap->stats.rows_deleted += (long long)affected;
        }
        return rc;
}

/* Deletes every master row of kid under a parent master id, with their
 * mapping rows (a tombstone of the parent: the master's ON DELETE CASCADE
 * would take them with it anyway; this releases the restricting references
 * first). */
static ap_rc_t delete_all_children(cs_apply_t *ap, prefix_ctx_t *pc,
                                   const cs_entity_t *kid,
                                   long long parent_master_id, char *errstr,
                                   size_t errstr_size)
{
        cs_db_value_t p[2] = { v_str(kid->table), v_int(parent_master_id) };
        unsigned long long affected = 0;
        unsigned int dberr = 0;
        char target[768], root[512];
        ap_rc_t rc;

        if (!ap_master_table(ap, kid, errstr, errstr_size))
                return AP_OK; /* the master has no such table */
        if (cs_reg_root_expr(kid, "t", root, sizeof(root)) == -1) {
                snprintf(errstr, errstr_size, "%s: no root expression", kid->name);
                return AP_REJECTED;
        }
        snprintf(ap->sql, SQL_MAX,
                 "DELETE m FROM `%s` m JOIN `%s` t ON t.id = m.master_entity_id "
                 "WHERE m.entity_table = ? AND %s = ?", pc->map, kid->table,
                 root);
        if (ap_run(ap, ap->sql, p, 2, &affected, NULL, NULL, NULL, &dberr,
                   errstr, errstr_size) == -1)
                return ap_db_fail(ap, dberr, errstr, errstr_size,
                                  "replace-set mapping");
        if (affected)
                ap_map_forget_table(ap, kid->table);
        affected = 0;
        snprintf(target, sizeof(target), "FROM `%s` t WHERE %s = ?",
                 kid->table, root);
        /* The rows the master's ON DELETE CASCADE removes with them (an
         * address's custom values, which a later kind's query could no
         * longer find through the address) lose their mapping rows. */
        rc = ap_forget_cascaded(ap, pc->map, kid, target, p + 1, 1, 0, errstr,
                                errstr_size);
        if (rc == AP_OK)
                rc = ap_release_references(ap, kid, target, p + 1, 1, errstr,
                                           errstr_size);
        if (rc != AP_OK)
                return rc;
        snprintf(ap->sql, SQL_MAX, "DELETE t FROM `%s` t WHERE %s = ?",
                 kid->table, root);
        if (ap_run(ap, ap->sql, p + 1, 1, &affected, NULL, NULL, NULL, &dberr,
                   errstr, errstr_size) == -1)
                return ap_db_fail(ap, dberr, errstr, errstr_size,
                                  "replace-set delete");
        ap->stats.rows_deleted += (long long)affected;
        return AP_OK;
}

/* The nested master rows of one parent that a prefix maps, per nested
 * table (ids). */
typedef struct kid_rows_s {
        long long *ids[CS_LIMIT_NESTED_KINDS];
        size_t n[CS_LIMIT_NESTED_KINDS], cap[CS_LIMIT_NESTED_KINDS];
        int oom;
} kid_rows_t;

static void kid_row(void *ctx, const long long *v)
{
        kid_rows_t *kr = ctx;
        size_t k = (size_t)v[0];

        if (v[0] < 0 || v[0] >= CS_LIMIT_NESTED_KINDS || kr->oom)
                return;
        if (kr->n[k] == kr->cap[k]) {
                size_t cap = kr->cap[k] ? kr->cap[k] * 2 : 64;
                long long *grown = realloc(kr->ids[k], cap * sizeof(*grown));
                if (!grown) {
                        kr->oom = 1;
                        return;
                }
                kr->ids[k] = grown;
                kr->cap[k] = cap;
        }
        kr->ids[k][kr->n[k]++] = v[1];
}

static int id_cmp(const void *a, const void *b)
{
        long long x = *(const long long *)a, y = *(const long long *)b;
        return (x > y) - (x < y);
}

/* The ids among ids[0..n) (master rows of kid) that a mapping row of pc
 * names; kept in order, compacted to the front. *mapped_n receives their
 * count. */
static ap_rc_t keep_mapped(cs_apply_t *ap, prefix_ctx_t *pc,
                           const cs_entity_t *kid, long long *ids, size_t n,
                           size_t *mapped_n, char *errstr, size_t errstr_size)
{
        cs_db_value_t p[REPLACE_CHUNK + 1];
        char list[REPLACE_CHUNK * 2];
        kid_rows_t found;
        unsigned int dberr = 0;
        ap_rc_t rc = AP_OK;
        size_t m = 0;

        memset(&found, 0, sizeof(found));
        for (size_t done = 0, k; done < n && rc == AP_OK; done += k) {
                k = bind_id_chunk(p, list, kid, ids + done, n - done);
                snprintf(ap->sql, SQL_MAX, "SELECT 0, master_entity_id FROM `%s` "
                         "WHERE entity_table = ? AND master_entity_id IN (%s)",
                         pc->map, list);
                if (cs_db_run_rows(ap->cache, ap->sql, p, k + 1, 2, kid_row,
                                   &found, &dberr, errstr, errstr_size) == -1)
                        rc = ap_db_fail(ap, dberr, errstr, errstr_size,
                                        "replace-set mapping");
                else if (found.oom) {
                        snprintf(errstr, errstr_size, "out of memory");
                        rc = AP_RETRY;
                }
        }
        if (rc == AP_OK) {
                qsort(found.ids[0], found.n[0], sizeof(*found.ids[0]), id_cmp);
                for (size_t i = 0; i < n; i++)
                        if (found.n[0] && bsearch(&ids[i], found.ids[0], found.n[0],
                                                  sizeof(*found.ids[0]), id_cmp))
                                ids[m++] = ids[i];
                *mapped_n = m;
        }
        free(found.ids[0]);
        return rc;
}

/* Replace-set of a root's nested rows: deletes the master rows of each
 * kids[k] under parent that pc maps and that are not in keep[k] (sorted
 * here). Rows no mapping row names (added on the master, e.g. an email
 * typed into the master's UI) are not civisync's: kept, and counted by
 * civisync-verify. One query reads the nested rows of every nested table
 * (without the mapping table: joined, its planning cost most of an
 * incremental update's replace-set), so an update whose nested rows are
 * unchanged costs no more; only the rows not in the document are looked up
 * in the mapping table; the sets are compared here, so a root may have any
 * number of nested rows. */
static ap_rc_t replace_children(cs_apply_t *ap, prefix_ctx_t *pc,
                                const cs_entity_t *const *kids, size_t kid_cnt,
                                long long parent, long long *const *keep,
                                const size_t *keep_n, char *errstr,
                                size_t errstr_size)
{
        cs_db_value_t p[CS_LIMIT_NESTED_KINDS];
        kid_rows_t kr;
        size_t nparams = 0, len = 0;
        unsigned int dberr = 0;
        ap_rc_t rc = AP_OK;

        memset(&kr, 0, sizeof(kr));
        for (size_t k = 0; k < kid_cnt && k < CS_LIMIT_NESTED_KINDS; k++) {
                char tmp[256], root[512];
                if (!ap_master_table(ap, kids[k], tmp, sizeof(tmp)))
                        continue; /* the master has no such table */
                if (cs_reg_root_expr(kids[k], "t", root, sizeof(root)) == -1 ||
                    ap_sql_cat(ap->sql, &len, "%sSELECT %zu, t.id FROM `%s` t "
                               "WHERE %s = ?", len ? " UNION ALL " : "", k,
                               kids[k]->table, root) == -1) {
                        snprintf(errstr, errstr_size, "replace-set query of %s "
                                 "longer than %d bytes", kids[k]->table, SQL_MAX);
                        return AP_REJECTED;
                }
                p[nparams++] = v_int(parent);
        }
        if (!len)
                return AP_OK;
        if (cs_db_run_rows(ap->cache, ap->sql, p, nparams, 2, kid_row, &kr,
                           &dberr, errstr, errstr_size) == -1)
                rc = ap_db_fail(ap, dberr, errstr, errstr_size, "replace-set");
        else if (kr.oom) {
                snprintf(errstr, errstr_size, "out of memory");
                rc = AP_RETRY;
        }
        for (size_t k = 0; k < kid_cnt && k < CS_LIMIT_NESTED_KINDS && rc == AP_OK; k++) {
                size_t stale = 0;
                if (!kr.n[k])
                        continue;
                qsort(keep[k], keep_n[k], sizeof(*keep[k]), id_cmp);
                /* The ids not in the document, compacted to the front of
                 * kr.ids[k]; of those, the ones pc maps are stale. */
                for (size_t i = 0; i < kr.n[k]; i++)
                        if (!bsearch(&kr.ids[k][i], keep[k], keep_n[k],
                                     sizeof(*keep[k]), id_cmp))
                                kr.ids[k][stale++] = kr.ids[k][i];
                if (stale)
                        rc = keep_mapped(ap, pc, kids[k], kr.ids[k], stale,
                                         &stale, errstr, errstr_size);
                if (rc == AP_OK && stale)
                        rc = delete_children_by_id(ap, pc, kids[k], kr.ids[k],
                                                   stale, errstr, errstr_size);
        }
        for (size_t k = 0; k < CS_LIMIT_NESTED_KINDS; k++)
                free(kr.ids[k]);
        return rc;
}

/* Applies a root document with its nested rows (replace-set). */
ap_rc_t ap_apply_document(cs_apply_t *ap, prefix_ctx_t *pc,
                          const cs_entity_t *ent, const json_t *doc,
                          wait_for_t *wait, char *errstr, size_t errstr_size)
{
        const cs_entity_t *kids[CS_LIMIT_NESTED_KINDS];
        size_t kid_cnt = cs_reg_children(ent, kids, CS_LIMIT_NESTED_KINDS);
        json_t *children = json_object_get(doc, CS_F_CHILDREN);
        size_t n = json_array_size(children), keep_n[CS_LIMIT_NESTED_KINDS] = { 0 };
        long long master_id = 0, *keep[CS_LIMIT_NESTED_KINDS] = { NULL };
        int inserted = 0, kid_inserted = 0;
        ap_rc_t rc;

        rc = upsert_row(ap, pc, ent, doc, 0, &master_id, &inserted, wait,
                        errstr, errstr_size);
        if (rc == AP_OK && ent == cs_reg_file_entity())
                rc = ap_file_apply(ap, pc, doc, master_id, errstr, errstr_size);
        if (rc != AP_OK)
                return rc;
        for (size_t k = 0; k < kid_cnt && rc == AP_OK; k++) {
                size_t i;
                json_t *kid;

                if (!(keep[k] = calloc(n + 1, sizeof(*keep[k])))) {
                        snprintf(errstr, errstr_size, "out of memory");
                        rc = AP_RETRY;
                        break;
                }
                json_array_foreach(children, i, kid) {
                        const char *name = json_string_value(
                                json_object_get(kid, CS_F_ENTITY));
                        long long kid_master = 0;
                        if (!name || strcmp(name, kids[k]->name))
                                continue;
                        rc = upsert_row(ap, pc, kids[k], kid, master_id,
                                        &kid_master, &kid_inserted, wait,
                                        errstr, errstr_size);
                        if (rc != AP_OK)
                                break;
                        keep[k][keep_n[k]++] = kid_master;
                }
        }
        /* A root inserted just now has no older nested rows. */
        if (rc == AP_OK && !inserted && kid_cnt)
                rc = replace_children(ap, pc, kids, kid_cnt, master_id, keep,
                                      keep_n, errstr, errstr_size);
        /* CiviCRM's triggers set them while the rows were written. */
        if (rc == AP_OK)
                rc = ap_stamps_restore(ap, ent, doc, master_id, errstr,
                                       errstr_size);
        for (size_t k = 0; k < kid_cnt; k++)
                free(keep[k]);
        return rc;
}

/* Deletes one entity (tombstone) with its nested rows and mapping rows. */
ap_rc_t ap_apply_tombstone(cs_apply_t *ap, prefix_ctx_t *pc,
                           const cs_entity_t *ent, long long child_id,
                           char *errstr, size_t errstr_size)
{
        const cs_entity_t *kids[CS_LIMIT_NESTED_KINDS];
        size_t kid_cnt = cs_reg_children(ent, kids, CS_LIMIT_NESTED_KINDS);
        long long master_id;
        unsigned long long affected = 0;
        unsigned int dberr = 0;
        cs_db_value_t p[2];
        ap_map_rc_t rc;

        rc = ap_map_lookup(ap, pc, ent->table, child_id, &master_id, &dberr,
                           errstr, errstr_size);
        if (rc == AP_MAP_ERROR)
                return ap_db_fail(ap, dberr, errstr, errstr_size, "mapping lookup");
        ap->stats.tombstones++;
        if (rc == AP_MAP_NONE) {
                cs_debug("%s: tombstone for unmapped %s %lld: nothing to do",
                         pc->prefix, ent->table, child_id);
                return AP_OK;
        }
        {
                /* Rows that name it by entity_table/entity_id or by type
                 * name: no foreign key removes them. */
                ap_rc_t prc = ap_delete_poly_dependents(ap, pc, ent, master_id,
                                                        errstr, errstr_size);
                if (prc != AP_OK)
                        return prc;
        }
        for (size_t k = 0; k < kid_cnt; k++) {
                ap_rc_t krc = delete_all_children(ap, pc, kids[k], master_id,
                                                  errstr, errstr_size);
                if (krc != AP_OK)
                        return krc;
        }
        if (ent == cs_reg_file_entity()) {
                ap_rc_t frc = ap_file_forget_links(ap, pc, master_id, errstr,
                                                   errstr_size);
                if (frc != AP_OK)
                        return frc;
        }
        p[0] = v_int(master_id);
        {
                char target[128];
                ap_rc_t rrc;
                snprintf(target, sizeof(target), "FROM `%s` t WHERE t.id = ?",
                         ent->table);
                rrc = ap_forget_cascaded(ap, pc->map, ent, target, p, 1, 0,
                                         errstr, errstr_size);
                if (rrc == AP_OK)
                        rrc = ap_release_references(ap, ent, target, p, 1, errstr,
                                                    errstr_size);
                if (rrc != AP_OK)
                        return rrc;
        }
        snprintf(ap->sql, SQL_MAX, "DELETE FROM `%s` WHERE id = ?", ent->table);
        if (ap_run(ap, ap->sql, p, 1, &affected, NULL, NULL, NULL,
                   &dberr, errstr, errstr_size) == -1)
                return ap_db_fail(ap, dberr, errstr, errstr_size, ent->table);
        ap->stats.rows_deleted += (long long)affected;
        p[0] = v_str(ent->table);
        p[1] = v_int(child_id);
        snprintf(ap->sql, SQL_MAX, "DELETE FROM `%s` WHERE entity_table = ? "
                 "AND child_entity_id = ?", pc->map);
        if (ap_run(ap, ap->sql, p, 2, NULL, NULL, NULL, NULL,
                   &dberr, errstr, errstr_size) == -1)
                return ap_db_fail(ap, dberr, errstr, errstr_size, "mapping delete");
        /* That one mapping row: the nested and cascaded rows' were
         * forgotten with their deletes above. */
        ap_map_forget(ap, pc, ent->table, child_id);
        return AP_OK;
}
