/* apply_gate.c — routes a metadata document of a batch to the metadata gate (consumer/gate.c) and holds the entity documents that would overtake their run's metadata documents. */
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
        long long run = 0;
        char err[256];
        int rc;

        if (ap_ensure_connected(ap, errstr, errstr_size) != AP_OK)
                return AP_RETRY;
        /* The prefix is judged as for any document: a refused one (a case
         * twin of a prefix the master has) writes nothing, here neither. */
        ap_rc_t prc = AP_OK;
        if (!(pc = ap_prefix_get(ap, prefix, &prc, errstr, errstr_size)))
                return prc;
        rc = cs_gate_apply(ap->db, prefix, pc->map, key, key_len, value,
                           value_len, ap->conf->max_document_bytes, &gw, &run,
                           &dberr, errstr, errstr_size);
        if (rc == -1)
                return dberr ? ap_db_fail(ap, dberr, errstr, errstr_size,
                                          "metadata gate") : AP_RETRY;
        /* Applied, waiting (what could be compared is recorded) or refused
         * (dead-lettered, with the reason): either way its run's entity
         * documents need not wait for it any longer. */
        if (cs_gate_seen(ap->db, prefix, key, key_len, run, &dberr, err,
                         sizeof(err)) == -1) {
                snprintf(errstr, errstr_size, "%s", err);
                return ap_db_fail(ap, dberr, errstr, errstr_size, "metadata gate");
        }
        if (rc == 1)
                return AP_REJECTED;
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

ap_rc_t ap_gate_hold(cs_apply_t *ap, prefix_ctx_t *pc, const cs_doc_info_t *info,
                     int *hold, char *reason, size_t reason_size, char *errstr,
                     size_t errstr_size)
{
        unsigned int dberr = 0;
        long long seen;

        *hold = 0;
        if (info->gate_run <= 0 || info->gate_run == pc->gate_applied_run)
                return AP_OK;
        seen = cs_gate_run_seen(ap->db, pc->prefix, info->gate_run, &dberr, errstr,
                                errstr_size);
        if (seen < 0)
                return ap_db_fail(ap, dberr, errstr, errstr_size, "metadata gate");
        if (seen >= info->gate_docs) {
                pc->gate_applied_run = info->gate_run;
                return AP_OK;
        }
        *hold = 1;
        snprintf(reason, reason_size, "waits for the metadata documents of its "
                 "producer run %lld (%lld of %lld applied: FORMAT.md §7.1)",
                 info->gate_run, seen, info->gate_docs);
        if (pc->gate_logged_run != info->gate_run) {
                pc->gate_logged_run = info->gate_run;
                cs_info("%s: documents of producer run %lld wait for its metadata "
                        "documents (%lld of %lld applied; another partition, or "
                        "later in the stream): parked, retried after each batch",
                        pc->prefix, info->gate_run, seen, info->gate_docs);
        }
        return AP_OK;
}
