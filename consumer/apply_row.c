/* apply_row.c — upsert and delete: a root document with its nested rows, tombstones. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <mysqld_error.h>

#include "log.h"
#include "apply_int.h"

/* ---- upsert and delete ---- */

/* A UNIQUE key of the master is taken by another row. The child enforces
 * the same key, so within a prefix this is transient: the other row's delete
 * or change (a tombstone on another partition, a rename later in the run)
 * has not arrived yet. The document waits and is retried after each batch;
 * one that never fits stays parked, visible in --status, never lost. */
static ap_rc_t wait_for_unique(const cs_entity_t *ent, long long child_id,
                               wait_for_t *wait, char *errstr,
                               size_t errstr_size)
{
        char msg[512];
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
                len = (size_t)snprintf(ap->sql, SQL_MAX, "UPDATE `%s` SET ",
                                       ent->table);
                for (size_t i = 0; i < rb->n; i++)
                        len += (size_t)snprintf(ap->sql + len, SQL_MAX - len,
                                                "%s`%s` = ?", i ? ", " : "",
                                                rb->names[i]);
                snprintf(ap->sql + len, SQL_MAX - len, " WHERE id = ?");
                rb->vals[rb->n] = v_int(*master_id);
                if (ap_run(ap, ap->sql, rb->vals, rb->n + 1, &affected, NULL, NULL,
                           NULL, &dberr, errstr, errstr_size) == -1) {
                        rc = dberr == ER_DUP_ENTRY ?
                             wait_for_unique(ent, child_id, wait, errstr,
                                             errstr_size) :
                             ap_db_fail(ap, dberr, errstr, errstr_size, ent->table);
                        goto done;
                }
                if (affected == 0)
                        /* the master row is gone: insert anew */
                        mapped = AP_MAP_NONE;
        }
        if (mapped == AP_MAP_NONE) {
                len = (size_t)snprintf(ap->sql, SQL_MAX, "INSERT INTO `%s` (",
                                       ent->table);
                for (size_t i = 0; i < rb->n; i++)
                        len += (size_t)snprintf(ap->sql + len, SQL_MAX - len,
                                                "%s`%s`", i ? ", " : "",
                                                rb->names[i]);
                len += (size_t)snprintf(ap->sql + len, SQL_MAX - len, ") VALUES (");
                for (size_t i = 0; i < rb->n; i++)
                        len += (size_t)snprintf(ap->sql + len, SQL_MAX - len,
                                                "%s?", i ? ", " : "");
                snprintf(ap->sql + len, SQL_MAX - len, ")");
                if (ap_run(ap, ap->sql, rb->vals, rb->n, NULL, &insert_id, NULL,
                           NULL, &dberr, errstr, errstr_size) == -1) {
                        rc = dberr == ER_DUP_ENTRY ?
                             wait_for_unique(ent, child_id, wait, errstr,
                                             errstr_size) :
                             ap_db_fail(ap, dberr, errstr, errstr_size, ent->table);
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

/* Deletes the master rows of `kid` under parent master id that are not in
 * keep[] (replace-set), with their mapping rows. */
static ap_rc_t delete_stale_children(cs_apply_t *ap, prefix_ctx_t *pc,
                                     const cs_entity_t *kid,
                                     long long parent_master_id,
                                     const long long *keep, size_t keep_n,
                                     char *errstr, size_t errstr_size)
{
        cs_db_value_t *p = calloc(keep_n + 2, sizeof(*p));
        unsigned long long affected = 0;
        unsigned int dberr = 0;
        size_t len;
        ap_rc_t rc = AP_OK;

        if (!p) {
                snprintf(errstr, errstr_size, "out of memory");
                return AP_RETRY;
        }
        if (!ap_master_table(ap, kid, errstr, errstr_size)) {
                free(p);
                return AP_OK; /* the master has no such table */
        }
        /* Mapping rows first (they name the rows about to go). */
        p[0] = v_str(kid->table);
        p[1] = v_int(parent_master_id);
        for (size_t i = 0; i < keep_n; i++)
                p[i + 2] = v_int(keep[i]);
        len = (size_t)snprintf(ap->sql, SQL_MAX,
                 "DELETE m FROM `%s` m JOIN `%s` t ON t.id = m.master_entity_id "
                 "WHERE m.entity_table = ? AND t.`%s` = ?", pc->map, kid->table,
                 kid->parent_column);
        if (keep_n) {
                len += (size_t)snprintf(ap->sql + len, SQL_MAX - len,
                                        " AND t.id NOT IN (");
                for (size_t i = 0; i < keep_n; i++)
                        len += (size_t)snprintf(ap->sql + len, SQL_MAX - len,
                                                "%s?", i ? "," : "");
                snprintf(ap->sql + len, SQL_MAX - len, ")");
        }
        if (ap_run(ap, ap->sql, p, keep_n + 2, &affected, NULL, NULL, NULL,
                   &dberr, errstr, errstr_size) == -1) {
                rc = ap_db_fail(ap, dberr, errstr, errstr_size, "replace-set mapping");
                goto done;
        }
        if (affected)
                ap_map_forget_all(ap);
        affected = 0;
        {
                char target[SQL_MAX / 2];
                size_t tl = (size_t)snprintf(target, sizeof(target),
                                             "FROM `%s` t WHERE t.`%s` = ?",
                                             kid->table, kid->parent_column);
                if (keep_n) {
                        tl += (size_t)snprintf(target + tl, sizeof(target) - tl,
                                               " AND t.id NOT IN (");
                        for (size_t i = 0; i < keep_n; i++)
                                tl += (size_t)snprintf(target + tl,
                                                       sizeof(target) - tl,
                                                       "%s?", i ? "," : "");
                        snprintf(target + tl, sizeof(target) - tl, ")");
                }
                rc = ap_release_references(ap, kid, target, p + 1, keep_n + 1,
                                           errstr, errstr_size);
                if (rc != AP_OK)
                        goto done;
        }
        len = (size_t)snprintf(ap->sql, SQL_MAX, "DELETE FROM `%s` WHERE `%s` = ?",
                               kid->table, kid->parent_column);
        if (keep_n) {
                len += (size_t)snprintf(ap->sql + len, SQL_MAX - len,
                                        " AND id NOT IN (");
                for (size_t i = 0; i < keep_n; i++)
                        len += (size_t)snprintf(ap->sql + len, SQL_MAX - len,
                                                "%s?", i ? "," : "");
                snprintf(ap->sql + len, SQL_MAX - len, ")");
        }
        if (ap_run(ap, ap->sql, p + 1, keep_n + 1, &affected, NULL, NULL, NULL,
                   &dberr, errstr, errstr_size) == -1) {
                rc = ap_db_fail(ap, dberr, errstr, errstr_size, "replace-set delete");
                goto done;
        }
        ap->stats.rows_deleted += (long long)affected;
done:
        free(p);
        return rc;
}

static void stale_row(void *ctx, const long long *v)
{
        int *stale = ctx;
        if (v[0] >= 0 && v[0] < MAX_KIDS)
                stale[v[0]] = v[1] > 0;
}

/* Sets stale[k] when the master holds rows of kids[k] under the parent that
 * are not in keep[k]: one query for every nested table, so that an update
 * whose nested rows are unchanged costs no deletes. */
static ap_rc_t find_stale_children(cs_apply_t *ap,
                                   const cs_entity_t *const *kids,
                                   size_t kid_cnt, long long parent,
                                   long long *const *keep, const size_t *keep_n,
                                   int *stale, char *errstr, size_t errstr_size)
{
        size_t nparams = 0, len = 0;
        cs_db_value_t *p;
        unsigned int dberr = 0;
        int rc;

        for (size_t k = 0; k < kid_cnt; k++)
                nparams += 1 + keep_n[k];
        if (!(p = calloc(nparams + 1, sizeof(*p)))) {
                snprintf(errstr, errstr_size, "out of memory");
                return AP_RETRY;
        }
        nparams = 0;
        ap->sql[0] = '\0';
        for (size_t k = 0; k < kid_cnt; k++) {
                char tmp[256];
                stale[k] = 0;
                if (!ap_master_table(ap, kids[k], tmp, sizeof(tmp)))
                        continue; /* the master has no such table */
                if (len + 256 + keep_n[k] * 2 >= SQL_MAX) {
                        free(p);
                        snprintf(errstr, errstr_size, "too many nested rows");
                        return AP_REJECTED;
                }
                len += (size_t)snprintf(ap->sql + len, SQL_MAX - len,
                                        "%sSELECT %zu, COUNT(*) FROM `%s` WHERE `%s` = ?",
                                        len ? " UNION ALL " : "", k,
                                        kids[k]->table, kids[k]->parent_column);
                p[nparams++] = v_int(parent);
                if (keep_n[k]) {
                        len += (size_t)snprintf(ap->sql + len, SQL_MAX - len,
                                                " AND id NOT IN (");
                        for (size_t i = 0; i < keep_n[k]; i++) {
                                len += (size_t)snprintf(ap->sql + len,
                                                        SQL_MAX - len, "%s?",
                                                        i ? "," : "");
                                p[nparams++] = v_int(keep[k][i]);
                        }
                        len += (size_t)snprintf(ap->sql + len, SQL_MAX - len, ")");
                }
        }
        rc = len ? cs_db_run_rows(ap->cache, ap->sql, p, nparams, 2, stale_row,
                                  stale, &dberr, errstr, errstr_size) : 0;
        free(p);
        return rc == -1 ? ap_db_fail(ap, dberr, errstr, errstr_size,
                                     "replace-set") : AP_OK;
}

/* Applies a root document with its nested rows (replace-set). */
ap_rc_t ap_apply_document(cs_apply_t *ap, prefix_ctx_t *pc,
                          const cs_entity_t *ent, const json_t *doc,
                          wait_for_t *wait, char *errstr, size_t errstr_size)
{
        const cs_entity_t *kids[MAX_KIDS];
        size_t kid_cnt = cs_reg_children(ent, kids, MAX_KIDS);
        json_t *children = json_object_get(doc, CS_F_CHILDREN);
        size_t n = json_array_size(children), keep_n[MAX_KIDS] = { 0 };
        long long master_id = 0, *keep[MAX_KIDS] = { NULL };
        int inserted = 0, kid_inserted = 0, stale[MAX_KIDS] = { 0 };
        ap_rc_t rc;

        rc = upsert_row(ap, pc, ent, doc, 0, &master_id, &inserted, wait,
                        errstr, errstr_size);
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
                rc = find_stale_children(ap, kids, kid_cnt, master_id, keep,
                                         keep_n, stale, errstr, errstr_size);
        for (size_t k = 0; k < kid_cnt && rc == AP_OK; k++)
                if (stale[k])
                        rc = delete_stale_children(ap, pc, kids[k], master_id,
                                                   keep[k], keep_n[k], errstr,
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
        const cs_entity_t *kids[MAX_KIDS];
        size_t kid_cnt = cs_reg_children(ent, kids, MAX_KIDS);
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
        for (size_t k = 0; k < kid_cnt; k++) {
                ap_rc_t krc = delete_stale_children(ap, pc, kids[k],
                                                    master_id, NULL, 0,
                                                    errstr, errstr_size);
                if (krc != AP_OK)
                        return krc;
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
        ap_map_forget_all(ap);
        return AP_OK;
}
