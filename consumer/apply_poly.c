/* apply_poly.c — an owner's removal removes the rows that point at it polymorphically (entity_table/entity_id, type name + id), children first; documents parked behind deferred ones are accounted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doc.h"
#include "log.h"
#include "apply_int.h"

typedef struct ids_s {
        long long *v;
        size_t n, cap;
        int oom;
} ids_t;

static void add_id(void *ctx, const long long *v)
{
        ids_t *ids = ctx;

        if (ids->oom)
                return;
        if (ids->n == ids->cap) {
                size_t cap = ids->cap ? ids->cap * 2 : 16;
                long long *grown = realloc(ids->v, cap * sizeof(*grown));
                if (!grown) {
                        ids->oom = 1;
                        return;
                }
                ids->v = grown;
                ids->cap = cap;
        }
        ids->v[ids->n++] = v[0];
}

/* The child ids (this prefix's mapping) of dep's rows whose reference r
 * holds owner_master with r->table_column = name. */
static ap_rc_t dependents(cs_apply_t *ap, prefix_ctx_t *pc,
                          const cs_entity_t *dep, const cs_ref_t *r,
                          const char *name, long long owner_master, ids_t *ids,
                          char *errstr, size_t errstr_size)
{
        cs_db_value_t p[3] = { v_str(dep->table), v_str(name),
                               v_int(owner_master) };
        unsigned int dberr = 0;
        char tmp[256];

        if (!ap_master_table(ap, dep, tmp, sizeof(tmp)))
                return AP_OK; /* the master has no such table */
        snprintf(ap->sql, SQL_MAX, "SELECT m.child_entity_id FROM `%s` t JOIN "
                 "`%s` m ON m.entity_table = ? AND m.master_entity_id = t.id "
                 "WHERE t.`%s` = ? AND t.`%s` = ?", dep->table, pc->map,
                 r->table_column, r->column);
        if (cs_db_run_rows(ap->cache, ap->sql, p, 3, 1, add_id, ids, &dberr,
                           errstr, errstr_size) == -1)
                return ap_db_fail(ap, dberr, errstr, errstr_size,
                                  "polymorphic dependents");
        if (ids->oom) {
                snprintf(errstr, errstr_size, "out of memory");
                return AP_RETRY;
        }
        return AP_OK;
}

static ap_rc_t remove_named(cs_apply_t *ap, prefix_ctx_t *pc,
                            const cs_entity_t *dep, const cs_ref_t *r,
                            const char *name, long long owner_master,
                            char *errstr, size_t errstr_size)
{
        ids_t ids = { NULL, 0, 0, 0 };
        ap_rc_t rc = dependents(ap, pc, dep, r, name, owner_master, &ids,
                                errstr, errstr_size);

        for (size_t i = 0; i < ids.n && rc == AP_OK; i++)
                rc = ap_apply_tombstone(ap, pc, dep, ids.v[i], errstr,
                                        errstr_size);
        free(ids.v);
        return rc;
}

ap_rc_t ap_delete_poly_dependents(cs_apply_t *ap, prefix_ctx_t *pc,
                                  const cs_entity_t *owner, long long master_id,
                                  char *errstr, size_t errstr_size)
{
        size_t count;
        const cs_entity_t *ents = cs_reg_entities(&count);
        ap_rc_t rc = AP_OK;

        if (ap->poly_depth >= CS_LIMIT_CASCADE_DEPTH) {
                /* A chain this deep is a cycle (a note on a note on ...):
                 * the rows below stay until their own tombstones. */
                cs_warn("%s: %s %lld: polymorphic dependents deeper than "
                        "CS_LIMIT_CASCADE_DEPTH (%d) are left to their own "
                        "tombstones", pc->prefix, owner->table, master_id,
                        CS_LIMIT_CASCADE_DEPTH);
                return AP_OK;
        }
        ap->poly_depth++;
        for (size_t i = 0; i < count && rc == AP_OK; i++) {
                const cs_entity_t *dep = &ents[i];
                int owned = cs_reg_poly_owned(dep->table);
                if (dep->parent || (!owned &&
                                    !cs_reg_poly_owned_by(dep->table, owner->table)))
                        continue; /* roots the registry says go with their owner */
                for (const cs_ref_t *r = dep->refs; r && r->column && rc == AP_OK;
                     r++) {
                        if (r->kind != CS_REF_POLY)
                                continue;
                        if (!r->cases) {
                                if (cs_reg_poly_target_ok(dep, owner->table))
                                        rc = remove_named(ap, pc, dep, r,
                                                          owner->table, master_id,
                                                          errstr, errstr_size);
                                continue;
                        }
                        /* Every value (table or type name) whose id is
                         * translated through the owner's mapping. */
                        for (const cs_poly_case_t *c = r->cases;
                             c->value && rc == AP_OK; c++)
                                if (c->action == CS_POLY_TRANSLATE && c->target &&
                                    !strcmp(c->target, owner->table))
                                        rc = remove_named(ap, pc, dep, r, c->value,
                                                          master_id, errstr,
                                                          errstr_size);
                }
        }
        ap->poly_depth--;
        return rc;
}

/* ---- documents parked for an owner of a later phase ---- */

static int key_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Counts, per registry entity (awaiting[entity index]), the documents of
 * this prefix parked since refresh `since` that wait for another parked
 * document (a deferred participant's line item's financial item, and that
 * item's transaction link): the child sent them and they are accounted
 * for, as the deferred documents themselves are (apply_frame.c), so the
 * end marker's counts are not short. A document that waits for a row of a
 * synced table that is not parked stays unaccounted. */
ap_rc_t ap_parked_awaiting(cs_apply_t *ap, prefix_ctx_t *pc, long long since,
                           long long *awaiting, char *errstr, size_t errstr_size)
{
        cs_db_value_t p[2] = { v_str(pc->prefix), v_int(since) };
        MYSQL_RES *res;
        MYSQL_ROW row;
        char **keys = NULL, **waits = NULL, **sorted = NULL;
        size_t n = 0, count;
        ap_rc_t rc = AP_OK;

        cs_reg_entities(&count);
        memset(awaiting, 0, count * sizeof(*awaiting));
        if (!pc->has_parked_doc)
                return AP_OK;
        if (cs_db_set_vars(ap->db, "SET @cs_prefix = ?, @cs_since = ?", p, 2,
                           NULL, NULL, errstr, errstr_size) == -1 ||
            !(res = cs_db_query(ap->db, "SELECT doc_key, target_table, "
                                "target_child_id FROM civisync_parked_doc WHERE "
                                "prefix = @cs_prefix AND refresh >= @cs_since "
                                "AND target_table <> '' ORDER BY doc_key",
                                errstr, errstr_size)))
                return ap_db_fail(ap, mysql_errno(ap->db), errstr, errstr_size,
                                  "parked documents");
        keys = calloc(mysql_num_rows(res) + 1, sizeof(*keys));
        waits = calloc(mysql_num_rows(res) + 1, sizeof(*waits));
        if (!keys || !waits) {
                snprintf(errstr, errstr_size, "out of memory");
                rc = AP_RETRY;
                goto out;
        }
        while ((row = mysql_fetch_row(res))) {
                char wait[CS_DOC_ID_MAX + 1];
                if (cs_doc_id(wait, sizeof(wait), pc->prefix, row[1],
                              strtoll(row[2], NULL, 10)) == -1)
                        wait[0] = '\0';
                keys[n] = strdup(row[0]);
                waits[n] = strdup(cs_reg_by_table(row[1]) ? wait : "");
                if (!keys[n] || !waits[n]) {
                        free(keys[n]);
                        free(waits[n]);
                        snprintf(errstr, errstr_size, "out of memory");
                        rc = AP_RETRY;
                        goto out;
                }
                n++;
        }
        if (!(sorted = malloc((n + 1) * sizeof(*sorted)))) {
                snprintf(errstr, errstr_size, "out of memory");
                rc = AP_RETRY;
                goto out;
        }
        memcpy(sorted, keys, n * sizeof(*sorted));
        qsort(sorted, n, sizeof(*sorted), key_cmp);
        for (size_t i = 0; i < n; i++) {
                char prefix[CS_PREFIX_MAX + 1], table[128], e2[128];
                long long id;
                const cs_entity_t *ent;
                if (!waits[i][0] || !bsearch(&waits[i], sorted, n, sizeof(*sorted),
                                             key_cmp))
                        continue;
                if (cs_doc_parse_id(keys[i], strlen(keys[i]), prefix, table,
                                    sizeof(table), &id, e2, sizeof(e2)) == -1 ||
                    !(ent = cs_reg_by_table(table)))
                        continue;
                awaiting[ap_entity_index(ent)]++;
        }
out:
        mysql_free_result(res);
        for (size_t i = 0; i < n; i++) {
                free(keys[i]);
                free(waits[i]);
        }
        free(keys);
        free(waits);
        free(sorted);
        return rc;
}
