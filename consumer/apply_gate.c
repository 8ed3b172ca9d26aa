/* apply_gate.c — routes a metadata fingerprint document of a batch to the metadata gate (consumer/gate.c). */
#include "apply_int.h"
#include "gate.h"

ap_rc_t ap_apply_metadata(cs_apply_t *ap, const char *prefix, const char *key,
                          size_t key_len, const char *value, size_t value_len,
                          char *errstr, size_t errstr_size)
{
        unsigned int dberr = 0;
        int rc;

        if (ap_ensure_connected(ap, errstr, errstr_size) != AP_OK)
                return AP_RETRY;
        /* The prefix is judged as for any document: a refused one (a case
         * twin of a prefix the master has) writes nothing, here neither. */
        ap_rc_t prc = AP_OK;
        if (!ap_prefix_get(ap, prefix, &prc, errstr, errstr_size))
                return prc;
        rc = cs_gate_apply(ap->db, prefix, key, key_len, value, value_len,
                           ap->conf->max_document_bytes, &dberr, errstr,
                           errstr_size);
        if (rc == 1)
                return AP_REJECTED;
        if (rc == -1)
                return dberr ? ap_db_fail(ap, dberr, errstr, errstr_size,
                                          "metadata gate") : AP_RETRY;
        return AP_OK;
}
