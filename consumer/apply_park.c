/* apply_park.c — parking: references and documents that wait for their target, written, then resolved at commit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "apply_int.h"

/* 1 if rows of ent can have parked references (an optional reference). */
int ap_entity_can_park(const cs_entity_t *ent)
{
        for (const cs_ref_t *r = ent->refs; r && r->column; r++)
                if (!r->required)
                        return 1;
        return 0;
}

ap_rc_t ap_write_parks(cs_apply_t *ap, prefix_ctx_t *pc, const cs_entity_t *ent,
                       long long child_id, const row_build_t *rb, char *errstr,
                       size_t errstr_size)
{
        unsigned int dberr = 0;
        cs_db_value_t p[6] = { v_str(pc->prefix), v_str(ent->table),
                               v_int(child_id) };

        if (rb->park_n == 0 && (!pc->has_parked || !ap_entity_can_park(ent)))
                return AP_OK; /* nothing can be parked for this row */
        if (pc->has_parked &&
            ap_run(ap, "DELETE FROM civisync_parked WHERE prefix = ? AND "
                   "entity_table = ? AND child_entity_id = ?", p, 3, NULL, NULL,
                   NULL, NULL, &dberr, errstr, errstr_size) == -1)
                return ap_db_fail(ap, dberr, errstr, errstr_size, "parked refs");
        for (size_t i = 0; i < rb->park_n; i++) {
                p[3] = v_str(rb->parks[i].column);
                p[4] = v_str(rb->parks[i].target);
                p[5] = v_int(rb->parks[i].target_child_id);
                cs_db_value_t q[7] = { p[0], p[1], p[2], p[3], p[4], p[5],
                                       v_str(rb->parks[i].raw) };
                if (ap_run(ap, "INSERT INTO civisync_parked (prefix, entity_table, "
                           "child_entity_id, column_name, target_table, "
                           "target_child_id, raw_value) VALUES (?,?,?,?,?,?,?)",
                           q, 7, NULL, NULL, NULL, NULL,
                           &dberr, errstr, errstr_size) == -1)
                        return ap_db_fail(ap, dberr, errstr, errstr_size,
                                          "park reference");
                pc->has_parked = 1;
                cs_debug("%s %s %lld: %s waits for %s %lld", pc->prefix,
                         ent->table, child_id, rb->parks[i].column,
                         rb->parks[i].target, rb->parks[i].target_child_id);
        }
        return AP_OK;
}

/* A parked reference that is settled (filled in, or moot). */
typedef struct park_done_s {
        const char *table;      /* borrowed from the stored result */
        const char *column;
        long long child_id;
} park_done_t;

static int park_done_cmp(const void *a, const void *b)
{
        const park_done_t *x = a, *y = b;
        int c = strcmp(x->table, y->table);
        return c ? c : strcmp(x->column, y->column);
}

/* Deletes the settled parked references, one statement per table and
 * column. */
static int forget_parks(cs_apply_t *ap, prefix_ctx_t *pc, park_done_t *done,
                        size_t n, unsigned int *dberr, char *errstr,
                        size_t errstr_size)
{
        cs_db_value_t *vals = malloc((n + 1) * sizeof(*vals));

        if (!vals) {
                snprintf(errstr, errstr_size, "out of memory");
                *dberr = 0;
                return -1;
        }
        qsort(done, n, sizeof(*done), park_done_cmp);
        for (size_t i = 0, j; i < n; i = j) {
                cs_db_value_t fixed[3] = { v_str(pc->prefix),
                                           v_str(done[i].table),
                                           v_str(done[i].column) };
                for (j = i; j < n && !park_done_cmp(&done[i], &done[j]); j++)
                        vals[j - i] = v_int(done[j].child_id);
                if (ap_run_in_chunks(ap, "DELETE FROM civisync_parked WHERE "
                                     "prefix = ? AND entity_table = ? AND "
                                     "column_name = ? AND child_entity_id IN",
                                     fixed, 3, vals, j - i, NULL, dberr, errstr,
                                     errstr_size) == -1) {
                        free(vals);
                        return -1;
                }
        }
        free(vals);
        return 0;
}

/* Sets @cs_prefix to pc's prefix and runs sql, which reads it: a NEW
 * result, or NULL with *rc from ap_db_fail (errstr prefixed by what). */
static MYSQL_RES *prefix_query(cs_apply_t *ap, const prefix_ctx_t *pc,
                               const char *sql, const char *what, ap_rc_t *rc,
                               char *errstr, size_t errstr_size)
{
        cs_db_value_t p[1] = { v_str(pc->prefix) };
        MYSQL_RES *res;

        if (cs_db_set_vars(ap->db, "SET @cs_prefix = ?", p, 1, NULL, NULL,
                           errstr, errstr_size) == -1 ||
            !(res = cs_db_query(ap->db, sql, errstr, errstr_size))) {
                *rc = ap_db_fail(ap, mysql_errno(ap->db), errstr, errstr_size,
                                 what);
                return NULL;
        }
        return res;
}

/* Parked references filled in by one statement per table, column and
 * chunk (a first sync parks thousands: employers, shared addresses,
 * parent activities that come later). */
#define PARK_FILL_CHUNK 256

/* The UPDATE that fills in ent's column ref: for one row when n is 0
 * ("SET col = ? ... WHERE id = ?": value, owner), else for n rows ("SET col
 * = CASE id WHEN ? THEN ? ... END ... WHERE id IN (?, ...)": n (owner,
 * value) pairs, then n owners). Assigning TIMESTAMP columns to themselves
 * keeps ON UPDATE CURRENT_TIMESTAMP from firing: the master keeps the
 * child's modified_date. 0, or -1 with errstr when it does not fit. */
static int park_update_sql(cs_apply_t *ap, const cs_entity_t *ent,
                           const cs_ref_t *ref, size_t n, char *sql,
                           char *errstr, size_t errstr_size)
{
        char tmp[256];
        const cs_table_t *tbl = ap_master_table(ap, ent, tmp, sizeof(tmp));
        size_t len = 0;
        int bad;

        if (!n) {
                bad = ap_sql_cat(sql, &len, "UPDATE `%s` SET `%s` = ?",
                                 ent->table, ref->column);
        } else {
                bad = ap_sql_cat(sql, &len, "UPDATE `%s` SET `%s` = CASE `id`",
                                 ent->table, ref->column);
                for (size_t i = 0; i < n; i++)
                        bad |= ap_sql_cat(sql, &len, " WHEN ? THEN ?");
                bad |= ap_sql_cat(sql, &len, " END");
        }
        for (size_t c = 0; tbl && c < tbl->col_cnt; c++)
                if (tbl->cols[c].type == CS_COL_TIMESTAMP)
                        bad |= ap_sql_cat(sql, &len, ", `%s` = `%s`",
                                          tbl->cols[c].name, tbl->cols[c].name);
        if (!n) {
                bad |= ap_sql_cat(sql, &len, " WHERE id = ?");
        } else {
                bad |= ap_sql_cat(sql, &len, " WHERE `id` IN (");
                for (size_t i = 0; i < n; i++)
                        bad |= ap_sql_cat(sql, &len, i ? ",?" : "?");
                bad |= ap_sql_cat(sql, &len, ")");
        }
        if (bad) {
                snprintf(errstr, errstr_size, "%s: parked UPDATE longer than %d "
                         "bytes", ent->table, SQL_MAX);
                return -1;
        }
        return 0;
}

/* A parked reference to fill in with a master id (not an id list). */
typedef struct park_fill_s {
        const cs_entity_t *ent;
        const cs_ref_t *ref;
        long long owner;        /* the row's master id */
        long long value;        /* the target's master id */
        park_done_t done;       /* its parked row, forgotten once filled */
} park_fill_t;

static int park_fill_cmp(const void *a, const void *b)
{
        const park_fill_t *x = a, *y = b;
        int c = strcmp(x->ent->table, y->ent->table);
        if (!c)
                c = strcmp(x->ref->column, y->ref->column);
        return c ? c : (x->owner > y->owner) - (x->owner < y->owner);
}

/* Fills in fills[0..n): one UPDATE per table, column and chunk of up to
 * PARK_FILL_CHUNK rows (power-of-two sizes, the last pair repeated, so few
 * statement texts exist); a chunk the server refuses is done row by row,
 * which reports the row at fault. Each filled one goes to done[]. */
static ap_rc_t park_fill(cs_apply_t *ap, park_fill_t *fills, size_t n,
                         park_done_t *done, size_t *done_n, char *errstr,
                         size_t errstr_size)
{
        cs_db_value_t *p = malloc(3 * PARK_FILL_CHUNK * sizeof(*p));
        unsigned int dberr = 0;
        ap_rc_t rc = AP_OK;

        if (!p) {
                snprintf(errstr, errstr_size, "out of memory");
                return AP_RETRY;
        }
        qsort(fills, n, sizeof(*fills), park_fill_cmp);
        for (size_t i = 0, j; i < n && rc == AP_OK; i = j) {
                size_t k = 1, m;

                for (j = i; j < n && j - i < PARK_FILL_CHUNK &&
                            fills[j].ent == fills[i].ent &&
                            fills[j].ref == fills[i].ref; j++)
                        ;
                m = j - i;
                while (k < m)
                        k *= 2;
                for (size_t x = 0; x < k; x++) {
                        const park_fill_t *f = &fills[x < m ? i + x : j - 1];
                        p[2 * x] = v_int(f->owner);
                        p[2 * x + 1] = v_int(f->value);
                        p[2 * k + x] = v_int(f->owner);
                }
                if (park_update_sql(ap, fills[i].ent, fills[i].ref, k, ap->sql,
                                    errstr, errstr_size) == -1) {
                        rc = AP_RETRY;
                        break;
                }
                if (ap_run(ap, ap->sql, p, 3 * k, NULL, NULL, NULL, NULL, &dberr,
                           errstr, errstr_size) == -1) {
                        /* A transient error (a deadlock rolls the whole
                         * transaction back) retries the batch; a refusal
                         * is looked at row by row, as before this path. */
                        if (cs_db_error_transient(dberr, errstr) || dberr == 0) {
                                rc = ap_db_fail(ap, dberr, errstr, errstr_size,
                                                "parked update");
                                break;
                        }
                        if (park_update_sql(ap, fills[i].ent, fills[i].ref, 0,
                                            ap->sql, errstr, errstr_size) == -1) {
                                rc = AP_RETRY;
                                break;
                        }
                        for (size_t x = i; x < j; x++) {
                                cs_db_value_t q[2] = { v_int(fills[x].value),
                                                       v_int(fills[x].owner) };
                                if (ap_run(ap, ap->sql, q, 2, NULL, NULL, NULL,
                                           NULL, &dberr, errstr,
                                           errstr_size) == -1) {
                                        rc = ap_db_fail(ap, dberr, errstr,
                                                        errstr_size,
                                                        "parked update");
                                        break;
                                }
                        }
                        if (rc != AP_OK)
                                break;
                }
                for (size_t x = i; x < j; x++)
                        done[(*done_n)++] = fills[x].done;
        }
        free(p);
        return rc;
}

/* Fills in parked references whose target is mapped now (at commit). */
ap_rc_t ap_resolve_parked(cs_apply_t *ap, prefix_ctx_t *pc, char *errstr,
                          size_t errstr_size)
{
        unsigned int dberr = 0;
        park_done_t *done = NULL;
        park_fill_t *fills = NULL;
        MYSQL_RES *res = NULL;
        MYSQL_ROW row;
        int more = 1;
        ap_rc_t rc = AP_OK;

        for (int round = 0; more && round < 100; round++) {
                size_t done_n = 0, fill_n = 0;

                more = 0;
                snprintf(ap->sql, SQL_MAX,
                         "SELECT k.entity_table, k.child_entity_id, k.column_name, "
                         "k.raw_value, m.master_entity_id, o.master_entity_id "
                         "FROM civisync_parked k "
                         "JOIN `%s` m ON m.entity_table = k.target_table AND "
                         "m.child_entity_id = k.target_child_id "
                         "LEFT JOIN `%s` o ON o.entity_table = k.entity_table AND "
                         "o.child_entity_id = k.child_entity_id "
                         "WHERE k.prefix = @cs_prefix LIMIT 1000", pc->map, pc->map);
                if (!(res = prefix_query(ap, pc, ap->sql, "parked", &rc, errstr,
                                         errstr_size)))
                        goto out; /* frees the previous round's list */
                free(done);
                free(fills);
                fills = calloc(mysql_num_rows(res) + 1, sizeof(*fills));
                if (!(done = calloc(mysql_num_rows(res) + 1, sizeof(*done))) ||
                    !fills) {
                        snprintf(errstr, errstr_size, "out of memory");
                        rc = AP_RETRY;
                        goto out;
                }
                while ((row = mysql_fetch_row(res))) {
                        const cs_entity_t *ent = cs_reg_by_table(row[0]);
                        const cs_ref_t *ref = ent ? cs_reg_ref(ent, row[2]) : NULL;
                        long long child_id = strtoll(row[1], NULL, 10);
                        long long owner = row[5] ? strtoll(row[5], NULL, 10) : 0;
                        char *value = NULL;
                        long long missing = 0;
                        cs_db_value_t q[3];
                        int err = 0;

                        if (!ref || owner <= 0) /* not ours, or owner gone */
                                goto forget;
                        if (ref->kind == CS_REF_ID_LIST) {
                                value = ap_translate_id_list(ap, pc, ref->target,
                                                             row[3] ? row[3] : "",
                                                             &missing, &err, &dberr,
                                                             errstr, errstr_size);
                                if (!value) {
                                        rc = err == 2 ? AP_REJECTED :
                                             ap_db_fail(ap, dberr, errstr,
                                                        errstr_size, "parked");
                                        goto out;
                                }
                                q[0] = v_str(value);
                        } else {
                                /* filled in below, with the others of its
                                 * table and column */
                                fills[fill_n++] = (park_fill_t){
                                        .ent = ent, .ref = ref, .owner = owner,
                                        .value = strtoll(row[4], NULL, 10),
                                        .done = { row[0], row[2], child_id } };
                                continue;
                        }
                        q[1] = v_int(owner);
                        if (park_update_sql(ap, ent, ref, 0, ap->sql, errstr,
                                            errstr_size) == -1) {
                                free(value);
                                rc = AP_RETRY;
                                goto out;
                        }
                        if (ap_run(ap, ap->sql, q, 2, NULL, NULL, NULL, NULL,
                                   &dberr, errstr, errstr_size) == -1) {
                                free(value);
                                rc = ap_db_fail(ap, dberr, errstr, errstr_size,
                                                "parked update");
                                goto out;
                        }
                        free(value);
                        if (missing) {
                                /* Another id of the list is still missing. */
                                cs_db_value_t r[5] = { v_int(missing),
                                                       v_str(pc->prefix),
                                                       v_str(row[0]),
                                                       v_int(child_id),
                                                       v_str(row[2]) };
                                if (ap_run(ap, "UPDATE civisync_parked SET target_child_id = ? "
                                           "WHERE prefix = ? AND entity_table = ? AND "
                                           "child_entity_id = ? AND column_name = ?",
                                           r, 5, NULL, NULL, NULL, NULL,
                                           &dberr, errstr, errstr_size) == -1) {
                                        rc = ap_db_fail(ap, dberr, errstr,
                                                        errstr_size, "parked");
                                        goto out;
                                }
                                continue;
                        }
forget:
                        done[done_n].table = row[0];
                        done[done_n].column = row[2];
                        done[done_n++].child_id = child_id;
                        more = 1;
                }
                if (fill_n) {
                        if ((rc = park_fill(ap, fills, fill_n, done, &done_n,
                                            errstr, errstr_size)) != AP_OK)
                                goto out;
                        more = 1;
                }
                if (done_n && forget_parks(ap, pc, done, done_n, &dberr, errstr,
                                           errstr_size) == -1) {
                        rc = ap_db_fail(ap, dberr, errstr, errstr_size, "parked");
                        goto out;
                }
                mysql_free_result(res);
                res = NULL;
        }
out:
        if (res)
                mysql_free_result(res);
        free(done);
        free(fills);
        return rc;
}

/* Stores a document that waits for a required reference. */
ap_rc_t ap_park_document(cs_apply_t *ap, prefix_ctx_t *pc, const char *key,
                         size_t key_len, const char *value, size_t value_len,
                         const wait_for_t *wait, const char *reason,
                         char *errstr, size_t errstr_size)
{
        unsigned int dberr = 0;
        /* refresh: the stamp at which the document came from the topic (a
         * re-park keeps it), so that the sweep of a later generation that
         * no longer sends it drops it. */
        cs_db_value_t p[7] = {
                v_str(pc->prefix),
                { .kind = CS_VAL_STR, .s = key, .len = key_len },
                v_str(wait->table), v_int(wait->child_id),
                { .kind = CS_VAL_STR, .s = reason,
                  .len = strlen(reason) > 255 ? 255 : strlen(reason) },
                { .kind = CS_VAL_BIN, .s = value, .len = value_len },
                v_int(ap->reparking ? 0 : pc->refresh),
        };

        if (ap_run(ap, "INSERT INTO civisync_parked_doc (prefix, doc_key, target_table, "
                   "target_child_id, reason, value, refresh) VALUES (?,?,?,?,?,?,?) "
                   "ON DUPLICATE KEY UPDATE target_table = VALUES(target_table), "
                   "target_child_id = VALUES(target_child_id), reason = "
                   "VALUES(reason), value = VALUES(value), parked_at = "
                   "CURRENT_TIMESTAMP, refresh = GREATEST(refresh, VALUES(refresh))",
                   p, 7, NULL, NULL, NULL, NULL, &dberr, errstr, errstr_size) == -1)
                return ap_db_fail(ap, dberr, errstr, errstr_size, "park document");
        ap->stats.parked++;
        pc->has_parked_doc = 1;
        cs_debug("%s: parked %.*s: %s", pc->prefix, (int)key_len, key, reason);
        return AP_OK;
}

ap_rc_t ap_unpark_document(cs_apply_t *ap, prefix_ctx_t *pc, const char *key,
                           size_t key_len, char *errstr, size_t errstr_size)
{
        unsigned int dberr = 0;
        cs_db_value_t p[2] = { v_str(pc->prefix),
                               { .kind = CS_VAL_STR, .s = key, .len = key_len } };

        if (!pc->has_parked_doc)
                return AP_OK;
        if (ap_run(ap, "DELETE FROM civisync_parked_doc WHERE prefix = ? AND doc_key = ?",
                   p, 2, NULL, NULL, NULL, NULL,
                   &dberr, errstr, errstr_size) == -1)
                return ap_db_fail(ap, dberr, errstr, errstr_size, "unpark document");
        return AP_OK;
}

/* A parked document that, tried again, was refused (why): it can never
 * apply. It is dead-lettered with the reason (partition and offset
 * unknown: -1; recorded for --status) and leaves the parked documents.
 * AP_OK, or AP_RETRY with errstr. */
static ap_rc_t reject_parked(cs_apply_t *ap, prefix_ctx_t *pc, const char *key,
                             unsigned long key_len, const char *why, char *errstr,
                             size_t errstr_size)
{
        char topic[300], e2[256];

        cs_error("%s: parked %.*s can never apply: %s", pc->prefix, (int)key_len,
                 key, why);
        ap->stats.rejected++;
        snprintf(topic, sizeof(topic), "%s%s", ap->conf->kafka.topic_prefix,
                 pc->prefix);
        if (cs_apply_dead_letter(ap, pc->prefix, topic, -1, -1, key, key_len, why,
                                 e2, sizeof(e2)) != CS_APPLY_OK ||
            ap_unpark_document(ap, pc, key, key_len, e2, sizeof(e2)) != AP_OK) {
                snprintf(errstr, errstr_size, "%s", e2);
                return AP_RETRY;
        }
        return AP_OK;
}

/* One more try for the documents that wait on a UNIQUE key (their
 * target_table is empty): once per batch, each in its own savepoint. */
static ap_rc_t retry_unique_waits(cs_apply_t *ap, prefix_ctx_t *pc,
                                  int *applied, char *errstr,
                                  size_t errstr_size)
{
        MYSQL_RES *res;
        MYSQL_ROW row;
        ap_rc_t qrc;

        if (!(res = prefix_query(ap, pc, "SELECT doc_key, value FROM "
                                 "civisync_parked_doc WHERE prefix = @cs_prefix "
                                 "AND target_table = '' LIMIT 500",
                                 "parked documents", &qrc, errstr, errstr_size)))
                return qrc;
        while ((row = mysql_fetch_row(res))) {
                unsigned long *len = mysql_fetch_lengths(res);
                long long parked_before = ap->stats.parked;
                char why[1024];
                ap_rc_t rc;
                ap->reparking = 1;
                rc = ap_apply_one(ap, pc->prefix, row[0], len[0], row[1], len[1],
                                  NULL, 0, why, sizeof(why));
                ap->reparking = 0;
                if (rc == AP_RETRY) {
                        snprintf(errstr, errstr_size, "%s", why);
                        mysql_free_result(res);
                        return AP_RETRY;
                }
                if (rc == AP_REJECTED) {
                        /* (a document held for its run's gate documents,
                         * then refused on its own merits) */
                        if (reject_parked(ap, pc, row[0], len[0], why, errstr,
                                          errstr_size) != AP_OK) {
                                mysql_free_result(res);
                                return AP_RETRY;
                        }
                } else if (ap->stats.parked > parked_before) {
                        ap->stats.parked = parked_before; /* parked again */
                } else if (rc == AP_OK) {
                        ap->stats.documents++;
                        ap->stats.parked--;
                        (*applied)++;
                }
        }
        mysql_free_result(res);
        return AP_OK;
}

/* Re-applies parked documents whose awaited target is now mapped. */
static ap_rc_t resolve_mapped(cs_apply_t *ap, prefix_ctx_t *pc, char *errstr,
                               size_t errstr_size)
{
        for (int round = 0; round < 1000; round++) {
                MYSQL_RES *res;
                MYSQL_ROW row;
                int progressed = 0;
                ap_rc_t qrc;

                snprintf(ap->sql, SQL_MAX,
                         "SELECT d.doc_key, d.value FROM civisync_parked_doc d "
                         "JOIN `%s` m ON m.entity_table = d.target_table AND "
                         "m.child_entity_id = d.target_child_id "
                         "WHERE d.prefix = @cs_prefix LIMIT 500", pc->map);
                if (!(res = prefix_query(ap, pc, ap->sql, "parked documents",
                                         &qrc, errstr, errstr_size)))
                        return qrc;
                while ((row = mysql_fetch_row(res))) {
                        unsigned long *len = mysql_fetch_lengths(res);
                        char why[1024];
                        ap_rc_t rc;
                        ap->reparking = 1;
                        rc = ap_apply_one(ap, pc->prefix, row[0], len[0],
                                          row[1], len[1], NULL, 0,
                                          why, sizeof(why));
                        ap->reparking = 0;
                        if (rc == AP_RETRY) {
                                snprintf(errstr, errstr_size, "%s", why);
                                mysql_free_result(res);
                                return AP_RETRY;
                        }
                        if (rc == AP_REJECTED) {
                                if (reject_parked(ap, pc, row[0], len[0], why, errstr,
                                                  errstr_size) != AP_OK) {
                                        mysql_free_result(res);
                                        return AP_RETRY;
                                }
                        } else {
                                ap->stats.documents++;
                                ap->stats.parked--;
                        }
                        progressed = 1;
                }
                mysql_free_result(res);
                if (!progressed)
                        break;
        }
        return AP_OK;
}

/* Re-applies parked documents whose awaited target is now mapped, then
 * those that wait without a target (a UNIQUE key, a metadata row or
 * conflict); what these bring may free more of the first kind (the
 * relationships of a contact held by a metadata conflict). */
ap_rc_t ap_resolve_parked_docs(cs_apply_t *ap, prefix_ctx_t *pc, char *errstr,
                               size_t errstr_size)
{
        for (int round = 0; round < 100; round++) {
                int applied = 0;
                ap_rc_t rc = resolve_mapped(ap, pc, errstr, errstr_size);
                if (rc == AP_OK)
                        rc = retry_unique_waits(ap, pc, &applied, errstr,
                                                errstr_size);
                if (rc != AP_OK || !applied)
                        return rc;
        }
        return AP_OK;
}
