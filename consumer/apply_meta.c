/* apply_meta.c — data that names metadata: rows naming a metadata row in conflict with the master's are held, rows naming one not yet created wait. */
#include <stdio.h>
#include <string.h>

#include "apply_int.h"
#include "gate.h"
#include "registry_meta.h"

ap_rc_t ap_meta_hold(cs_apply_t *ap, prefix_ctx_t *pc, const cs_entity_t *ent,
                     row_build_t *rb, char *errstr, size_t errstr_size)
{
        unsigned int dberr = 0;

        if (pc->meta_conflicts < 0) {
                cs_db_value_t p = v_str(pc->prefix);
                long long any = 0;
                int found;
                if (ap_run(ap, "SELECT EXISTS (SELECT 1 FROM civisync_metadata_diff "
                           "WHERE prefix = ? AND kind = 'changed')", &p, 1, NULL,
                           NULL, &any, &found, &dberr, errstr, errstr_size) == -1)
                        return ap_db_fail(ap, dberr, errstr, errstr_size,
                                          "metadata conflicts");
                pc->meta_conflicts = any != 0;
        }
        if (!pc->meta_conflicts)
                return AP_OK;
        for (size_t i = 0; i < rb->n; i++) {
                char cols[128];
                int c;
                if (rb->vals[i].kind != CS_VAL_INT || cs_reg_ref(ent, rb->names[i]))
                        continue;
                {
                        const char *meta = cs_reg_meta_ref(rb->names[i]);
                        if (!meta)
                                continue;
                        c = cs_gate_conflict(ap->db, pc->prefix, meta,
                                             rb->vals[i].i, cols, sizeof(cols),
                                             &dberr, errstr, errstr_size);
                        if (c == -1)
                                return ap_db_fail(ap, dberr, errstr, errstr_size,
                                                  "metadata conflicts");
                        if (c == 1) {
                                snprintf(rb->missing_desc, sizeof(rb->missing_desc),
                                         "the metadata conflict on %s id %lld "
                                         "(%s differs on the master) to be "
                                         "resolved (OPERATIONS.md §8.1)",
                                         meta, rb->vals[i].i, cols);
                                rb->missing_required = 1;
                                rb->missing_target = "";
                                rb->missing_child_id = 0;
                                return AP_OK;
                        }
                }
        }
        return AP_OK;
}

int ap_meta_fk_error(const char *msg, char *table, size_t table_size)
{
        const char *p = strstr(msg, "foreign key constraint fails");
        const char *r = p ? strstr(p, "REFERENCES `") : NULL;
        const char *e = r ? strchr(r + 12, '`') : NULL;

        if (!e || (size_t)(e - r - 12) >= table_size)
                return 0;
        snprintf(table, table_size, "%.*s", (int)(e - r - 12), r + 12);
        return cs_reg_table_class(table) == CS_TCLASS_METADATA;
}

int ap_meta_gate_seen(cs_apply_t *ap, prefix_ctx_t *pc)
{
        cs_db_value_t p = v_str(pc->prefix);
        long long any = 0;
        unsigned int dberr = 0;
        int found;
        char err[256];

        if (ap_run(ap, "SELECT EXISTS (SELECT 1 FROM civisync_metadata_check WHERE "
                   "prefix = ?)", &p, 1, NULL, NULL, &any, &found, &dberr, err,
                   sizeof(err)) == -1)
                return -1;
        return any != 0;
}
