/* apply_gate.c — routes a metadata document of a batch to the metadata gate (consumer/gate.c): rows the master lacks are created, differences recorded; a document whose rows wait is parked. */
#include "apply_int.h"
#include "gate.h"
#include "log.h"

ap_rc_t ap_apply_metadata(cs_apply_t *ap, const char *prefix, const char *key,
                          size_t key_len, const char *value, size_t value_len,
                          char *errstr, size_t errstr_size)
{
        unsigned int dberr = 0;
        cs_gate_wait_t gw;
        prefix_ctx_t *pc;
        int rc;

        if (ap_ensure_connected(ap, errstr, errstr_size) != AP_OK)
                return AP_RETRY;
        /* The prefix is judged as for any document: a refused one (a case
         * twin of a prefix the master has) writes nothing, here neither. */
        ap_rc_t prc = AP_OK;
        if (!(pc = ap_prefix_get(ap, prefix, &prc, errstr, errstr_size)))
                return prc;
        rc = cs_gate_apply(ap->db, prefix, pc->map, key, key_len, value,
                           value_len, ap->conf->max_document_bytes, &gw, &dberr,
                           errstr, errstr_size);
        if (rc == 1)
                return AP_REJECTED;
        if (rc == -1)
                return dberr ? ap_db_fail(ap, dberr, errstr, errstr_size,
                                          "metadata gate") : AP_RETRY;
        /* The recorded conflicts may have changed. */
        pc->meta_conflicts = -1;
        if (rc == 2) {
                /* Some rows wait: for per-child data (parked until it is
                 * mapped) or for a metadata row of another document
                 * (retried after each batch). The rest is done. */
                wait_for_t wait = { .child_id = gw.child_id };
                snprintf(wait.table, sizeof(wait.table), "%s", gw.table);
                cs_info("%s: metadata document %.*s waits (retried): %s", prefix,
                        (int)key_len, key, gw.reason);
                return ap_park_document(ap, pc, key, key_len, value, value_len,
                                        &wait, gw.reason, errstr, errstr_size);
        }
        return ap_unpark_document(ap, pc, key, key_len, errstr, errstr_size);
}
