/* apply_guard.c — the apply layer's safety nets: sweep guard and held sweeps, causes of a short generation, dead-letter acknowledgement, partitions seen at their end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "apply_int.h"

/* Keys of parked documents named in a short generation's message. */
#define EXPLAIN_KEYS_MAX 3

ap_rc_t ap_sweep_guarded(cs_apply_t *ap, prefix_ctx_t *pc, long long below,
                         long long generation, const char *what, char *errstr,
                         size_t errstr_size)
{
        const cs_consumer_conf_t *conf = ap->conf;
        cs_db_value_t p[1] = { v_int(below) };
        long long stale = 0, total = 0;
        unsigned int dberr = 0;
        ap_rc_t rc;

        snprintf(ap->sql, SQL_MAX, "SELECT COUNT(*) FROM `%s` WHERE generation < ?",
                 pc->map);
        if (ap_run(ap, ap->sql, p, 1, NULL, NULL, &stale, NULL, &dberr, errstr,
                   errstr_size) == -1)
                return ap_db_fail(ap, dberr, errstr, errstr_size, "sweep guard");
        snprintf(ap->sql, SQL_MAX, "SELECT COUNT(*) FROM `%s`", pc->map);
        if (ap_run(ap, ap->sql, NULL, 0, NULL, NULL, &total, NULL, &dberr, errstr,
                   errstr_size) == -1)
                return ap_db_fail(ap, dberr, errstr, errstr_size, "sweep guard");
        if (stale > conf->sweep_hold_min_rows &&
            stale * 100 > (long long)conf->sweep_hold_percent * total) {
                cs_db_value_t q[5] = { v_int(generation), v_int(below), v_int(stale),
                                       v_int(total), v_str(pc->prefix) };
                if (ap_run(ap, "UPDATE civisync_prefix SET held_generation = ?, "
                           "held_below = ?, held_rows = ?, held_total = ?, held_at = "
                           "UTC_TIMESTAMP() WHERE prefix = ?", q, 5, NULL, NULL, NULL,
                           NULL, &dberr, errstr, errstr_size) == -1)
                        return ap_db_fail(ap, dberr, errstr, errstr_size, "sweep guard");
                cs_error("%s: %s: sweep HELD: it would remove %lld of the prefix's "
                         "%lld rows (%.0f%%), more than sweep_hold_percent %d%% and "
                         "sweep_hold_min_rows %lld. Nothing was removed. Check the "
                         "child (the right database? restored from a backup?), then "
                         "run civisync-consume --release-sweep %s to remove them, or "
                         "--discard-sweep %s to keep them", pc->prefix, what, stale,
                         total, total ? 100.0 * (double)stale / (double)total : 0.0,
                         conf->sweep_hold_percent, conf->sweep_hold_min_rows,
                         pc->prefix, pc->prefix);
                return AP_OK;
        }
        if ((rc = ap_sweep(ap, pc, below, what, errstr, errstr_size)) != AP_OK)
                return rc;
        {
                /* This sweep removes every row an older held one would have
                 * (its stamp is newer): the hold is moot. */
                cs_db_value_t q[1] = { v_str(pc->prefix) };
                if (ap_run(ap, "UPDATE civisync_prefix SET held_generation = 0, "
                           "held_below = 0, held_rows = 0, held_total = 0, held_at = "
                           "NULL WHERE prefix = ? AND held_below <> 0", q, 1, NULL,
                           NULL, NULL, NULL, &dberr, errstr, errstr_size) == -1)
                        return ap_db_fail(ap, dberr, errstr, errstr_size, "sweep guard");
        }
        return AP_OK;
}

ap_rc_t ap_explain_short(cs_apply_t *ap, prefix_ctx_t *pc, char *problem,
                         size_t problem_size, char *errstr, size_t errstr_size)
{
        cs_db_value_t p[1] = { v_str(pc->prefix) };
        long long parked = 0, dead = 0;
        unsigned int dberr = 0;
        size_t len = strlen(problem);
        MYSQL_RES *res;
        MYSQL_ROW row;

        if (ap_run(ap, "SELECT COUNT(*) FROM civisync_parked_doc WHERE prefix = ?",
                   p, 1, NULL, NULL, &parked, NULL, &dberr, errstr, errstr_size) == -1 ||
            ap_run(ap, "SELECT COUNT(*) FROM civisync_dead_letter WHERE prefix = ? "
                   "AND acknowledged_at IS NULL", p, 1, NULL, NULL, &dead, NULL,
                   &dberr, errstr, errstr_size) == -1)
                return ap_db_fail(ap, dberr, errstr, errstr_size, "end");
        len += (size_t)snprintf(problem + len, problem_size - len,
                                "; rows not refreshed were NOT removed. Cause:");
        if (parked && len < problem_size) {
                len += (size_t)snprintf(problem + len, problem_size - len,
                                        " %lld parked document(s) waiting for a "
                                        "reference (", parked);
                snprintf(ap->sql, SQL_MAX, "SELECT doc_key, target_table, "
                         "target_child_id FROM civisync_parked_doc WHERE prefix = "
                         "@cs_prefix ORDER BY parked_at, doc_key LIMIT %d",
                         EXPLAIN_KEYS_MAX);
                if (cs_db_set_vars(ap->db, "SET @cs_prefix = ?", p, 1, NULL, NULL,
                                   errstr, errstr_size) == -1 ||
                    !(res = cs_db_query(ap->db, ap->sql, errstr, errstr_size)))
                        return ap_db_fail(ap, mysql_errno(ap->db), errstr,
                                          errstr_size, "end");
                for (int i = 0; (row = mysql_fetch_row(res)) && len < problem_size; i++)
                        len += (size_t)snprintf(problem + len, problem_size - len,
                                                "%s%s waits for %s %s", i ? ", " : "",
                                                row[0], row[1][0] ? row[1] :
                                                "a UNIQUE key held by another row",
                                                row[1][0] ? row[2] : "");
                mysql_free_result(res);
                if (len < problem_size)
                        len += (size_t)snprintf(problem + len, problem_size - len,
                                                "%s; --status lists them)",
                                                parked > EXPLAIN_KEYS_MAX ? ", ..." : "");
        }
        if (dead && len < problem_size)
                len += (size_t)snprintf(problem + len, problem_size - len,
                                        "%s %lld unacknowledged dead letter(s) (see "
                                        "--status)", parked ? ";" : "", dead);
        if (!parked && !dead && len < problem_size)
                len += (size_t)snprintf(problem + len, problem_size - len,
                                        " no parked document and no dead letter: "
                                        "messages are missing from the topic");
        if (len < problem_size)
                snprintf(problem + len, problem_size - len,
                         ". Fix the cause, then run a complete sync again (a parked "
                         "document the child no longer has is dropped by the next "
                         "complete sync that does not send it)");
        return AP_OK;
}

int cs_apply_held_sweep(cs_apply_t *ap, const char *prefix, int release,
                        long long *removed, char *errstr, size_t errstr_size)
{
        ap_rc_t rc = AP_OK;
        prefix_ctx_t *pc;
        cs_db_value_t p[1] = { v_str(prefix) };
        long long below = 0, generation = 0, before = ap->stats.rows_deleted;
        unsigned int dberr = 0;
        int found = 0;
        char what[96];

        *removed = 0;
        if (cs_apply_prepare_prefix(ap, prefix, errstr, errstr_size) != CS_APPLY_OK ||
            cs_apply_begin(ap, errstr, errstr_size) != CS_APPLY_OK)
                return -1;
        if (!(pc = ap_prefix_get(ap, prefix, &rc, errstr, errstr_size)))
                goto fail;
        if (ap_run(ap, "SELECT held_below FROM civisync_prefix WHERE prefix = ? "
                   "FOR UPDATE", p, 1, NULL, NULL, &below, &found, &dberr, errstr,
                   errstr_size) == -1 ||
            ap_run(ap, "SELECT held_generation FROM civisync_prefix WHERE prefix = ?",
                   p, 1, NULL, NULL, &generation, &found, &dberr, errstr,
                   errstr_size) == -1) {
                ap_db_fail(ap, dberr, errstr, errstr_size, "held sweep");
                goto fail;
        }
        if (!found || below <= 0) {
                snprintf(errstr, errstr_size, "%s: no held sweep (--status shows "
                         "one as 'sweep HELD')", prefix);
                goto fail;
        }
        if (generation >= 0)
                snprintf(what, sizeof(what), "generation %lld (released by the "
                         "operator)", generation);
        else
                snprintf(what, sizeof(what), "offset-rewind replay (released by "
                         "the operator)");
        if (release && ap_sweep(ap, pc, below, what, errstr, errstr_size) != AP_OK)
                goto fail;
        if (ap_run(ap, "UPDATE civisync_prefix SET held_generation = 0, held_below = 0, "
                   "held_rows = 0, held_total = 0, held_at = NULL WHERE prefix = ?",
                   p, 1, NULL, NULL, NULL, NULL, &dberr, errstr, errstr_size) == -1) {
                ap_db_fail(ap, dberr, errstr, errstr_size, "held sweep");
                goto fail;
        }
        if (cs_apply_commit(ap, errstr, errstr_size) != CS_APPLY_OK)
                goto fail;
        *removed = ap->stats.rows_deleted - before;
        if (release)
                cs_info("%s: held sweep of %s released: %lld row(s) removed",
                        prefix, what, *removed);
        else
                cs_warn("%s: held sweep discarded by the operator: the rows stay "
                        "on the master (civisync-verify lists them as extra)", prefix);
        return 0;
fail:
        cs_apply_rollback(ap);
        return -1;
}

int cs_apply_ack_dead_letters(cs_apply_t *ap, const char *prefix,
                              long long before, long long *count,
                              char *errstr, size_t errstr_size)
{
        cs_db_value_t p[2] = { v_str(prefix), v_int(before > 0 ? before : 0) };
        unsigned long long affected = 0;
        unsigned int dberr = 0;

        *count = 0;
        if (ap_ensure_connected(ap, errstr, errstr_size) != AP_OK)
                return -1;
        if (ap_run(ap, "UPDATE civisync_dead_letter SET acknowledged_at = "
                   "UTC_TIMESTAMP() WHERE prefix = ? AND acknowledged_at IS NULL "
                   "AND (? = 0 OR id <= ?)", (cs_db_value_t[3]){ p[0], p[1], p[1] },
                   3, &affected, NULL, NULL, NULL, &dberr, errstr, errstr_size) == -1) {
                ap_db_fail(ap, dberr, errstr, errstr_size, "acknowledge dead letters");
                return -1;
        }
        *count = (long long)affected;
        cs_info("%s: %lld dead letter(s) acknowledged%s", prefix, *count,
                before > 0 ? " (up to the given id)" : "");
        return 0;
}

cs_apply_rc_t cs_apply_seen(cs_apply_t *ap, const char *topic, int partition,
                            char *errstr, size_t errstr_size)
{
        cs_db_value_t p[2] = { v_str(topic), v_int(partition) };
        unsigned int dberr = 0;

        if (ap_ensure_connected(ap, errstr, errstr_size) != AP_OK)
                return CS_APPLY_RETRY;
        if (ap_run(ap, "UPDATE civisync_offset SET seen_at = UTC_TIMESTAMP() "
                   "WHERE topic = ? AND partition_no = ?", p, 2, NULL, NULL, NULL,
                   NULL, &dberr, errstr, errstr_size) == -1)
                return ap_public_rc(ap_db_fail(ap, dberr, errstr, errstr_size,
                                               "civisync_offset"));
        return CS_APPLY_OK;
}
