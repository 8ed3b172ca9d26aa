/* apply_stamp.c — a master with CiviCRM's runtime triggers: the child's timestamps kept on roots whose nested rows or related writes set them to the current time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doc.h"
#include "log.h"
#include "apply_int.h"

int ap_stamps_probe(cs_apply_t *ap, char *errstr, size_t errstr_size)
{
        long long n = 0;

        if (cs_db_query_int(ap->db, "SELECT COUNT(*) FROM information_schema.TRIGGERS "
                            "WHERE TRIGGER_SCHEMA = DATABASE()", &n, errstr,
                            errstr_size) == -1)
                return -1;
        if (n > 0 && !ap->triggers)
                cs_info("master has %lld triggers: roots keep the child's "
                        "timestamps after their nested rows, and new rows are "
                        "applied one by one", n);
        ap->triggers = n > 0;
        return 0;
}

ap_rc_t ap_stamps_restore(cs_apply_t *ap, const cs_entity_t *ent,
                          const json_t *doc, long long master_id, char *errstr,
                          size_t errstr_size)
{
        const cs_table_t *tbl;
        cs_db_value_t vals[CS_LIMIT_COLUMNS + 1];
        char *owned[CS_LIMIT_COLUMNS];
        size_t n = 0, len = 0;
        unsigned int dberr = 0;
        int bad = 0;
        ap_rc_t rc = AP_OK;

        if (!ap->triggers || !(tbl = ap_master_table(ap, ent, errstr, errstr_size)))
                return AP_OK;
        bad = ap_sql_cat(ap->sql, &len, "UPDATE `%s` SET ", ent->table);
        for (size_t c = 0; c < tbl->col_cnt && n < CS_LIMIT_COLUMNS; c++) {
                const cs_column_t *col = &tbl->cols[c];
                const json_t *v;
                if (col->type != CS_COL_TIMESTAMP || cs_reg_col_policy(ent, col->name) ||
                    !(v = json_object_get(doc, col->name)))
                        continue;
                owned[n] = NULL;
                if (cs_doc_value_to_db(v, col, &vals[n], &owned[n], errstr,
                                       errstr_size) == -1) {
                        free(owned[n]);
                        rc = AP_REJECTED;
                        goto out;
                }
                bad |= ap_sql_cat(ap->sql, &len, "%s`%s` = ?",
                                  n ? ", " : "", col->name);
                n++;
        }
        if (!n)
                return AP_OK;
        if (bad | ap_sql_cat(ap->sql, &len, " WHERE id = ?")) {
                snprintf(errstr, errstr_size, "%s: timestamp UPDATE longer than "
                         "%d bytes", ent->table, SQL_MAX);
                rc = AP_REJECTED;
                goto out;
        }
        vals[n] = v_int(master_id);
        if (ap_run(ap, ap->sql, vals, n + 1, NULL, NULL, NULL, NULL, &dberr,
                   errstr, errstr_size) == -1)
                rc = ap_db_fail(ap, dberr, errstr, errstr_size, "timestamps");
out:
        for (size_t i = 0; i < n; i++)
                free(owned[i]);
        return rc;
}

static void add_pair(void *ctx, const long long *v)
{
        ap_bumped_t *b = ctx;

        if (b->oom)
                return;
        if (b->n == b->cap) {
                size_t cap = b->cap ? b->cap * 2 : 4;
                long long *grown = realloc(b->v, cap * 2 * sizeof(*grown));
                if (!grown) {
                        b->oom = 1;
                        return;
                }
                b->v = grown;
                b->cap = cap;
        }
        b->v[2 * b->n] = v[0];
        b->v[2 * b->n + 1] = v[1];
        b->n++;
}

ap_rc_t ap_bumps_save(cs_apply_t *ap, prefix_ctx_t *pc, const cs_entity_t *ent,
                      long long child_id, ap_bumped_t *saved, char *errstr,
                      size_t errstr_size)
{
        const cs_bump_t *bump = cs_reg_bump(ent ? ent->table : NULL);
        long long master_id = 0;
        unsigned int dberr = 0;
        cs_db_value_t p[1];
        ap_map_rc_t mrc;

        memset(saved, 0, sizeof(*saved));
        if (!ap->triggers || !bump)
                return AP_OK;
        mrc = ap_map_lookup(ap, pc, ent->table, child_id, &master_id, &dberr,
                            errstr, errstr_size);
        if (mrc == AP_MAP_ERROR)
                return ap_db_fail(ap, dberr, errstr, errstr_size, "mapping lookup");
        if (mrc == AP_MAP_NONE)
                return AP_OK; /* new on the master: nothing links to it yet */
        saved->bump = bump;
        p[0] = v_int(master_id);
        /* UNIX_TIMESTAMP round-trips exactly: the session is at +00:00. */
        snprintf(ap->sql, SQL_MAX, "SELECT id, COALESCE(UNIX_TIMESTAMP(`%s`), -1) "
                 "FROM `%s` WHERE id IN (%s)", bump->column, bump->target,
                 bump->ids_sql);
        if (cs_db_run_rows(ap->cache, ap->sql, p, 1, 2, add_pair, saved, &dberr,
                           errstr, errstr_size) == -1)
                return ap_db_fail(ap, dberr, errstr, errstr_size, bump->target);
        if (saved->oom) {
                snprintf(errstr, errstr_size, "out of memory");
                return AP_RETRY;
        }
        return AP_OK;
}

ap_rc_t ap_bumps_restore(cs_apply_t *ap, const ap_bumped_t *saved,
                         char *errstr, size_t errstr_size)
{
        unsigned int dberr = 0;

        if (!saved->bump || !saved->n)
                return AP_OK;
        snprintf(ap->sql, SQL_MAX, "UPDATE `%s` SET `%s` = IF(? < 0, NULL, "
                 "FROM_UNIXTIME(?)) WHERE id = ?", saved->bump->target,
                 saved->bump->column);
        for (size_t i = 0; i < saved->n; i++) {
                cs_db_value_t p[3] = { v_int(saved->v[2 * i + 1]),
                                       v_int(saved->v[2 * i + 1]),
                                       v_int(saved->v[2 * i]) };
                if (ap_run(ap, ap->sql, p, 3, NULL, NULL, NULL, NULL, &dberr,
                           errstr, errstr_size) == -1)
                        return ap_db_fail(ap, dberr, errstr, errstr_size,
                                          saved->bump->target);
        }
        return AP_OK;
}

void ap_bumps_free(ap_bumped_t *saved)
{
        free(saved->v);
        memset(saved, 0, sizeof(*saved));
}
