/* apply_frame.c — complete-sync framing (reset, end, sweep) and offset-rewind replays. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "apply_int.h"

/* ---- complete-sync framing ---- */

ap_rc_t ap_apply_reset(cs_apply_t *ap, prefix_ctx_t *pc,
                       const cs_doc_info_t *info, char *errstr,
                       size_t errstr_size)
{
        unsigned int dberr = 0;

        if (info->generation < pc->generation) {
                cs_warn("%s: reset of generation %lld ignored: generation %lld "
                        "is newer", pc->prefix, info->generation, pc->generation);
                return AP_OK;
        }
        if (info->generation == pc->generation)
                return AP_OK; /* another partition's (or a re-read) reset */
        /* A new generation: rows written from now on carry a new refresh
         * stamp; its end sweeps every row with an older one. A generation
         * still open is abandoned (superseded) here. */
        cs_info("%s: complete sync generation %lld begins (%d partition(s))%s",
                pc->prefix, info->generation, info->partition_count,
                pc->generation > pc->completed_generation ?
                " — the previous one never ended and is superseded" : "");
        {
                cs_db_value_t p[3] = { v_int(info->generation),
                                       v_int(info->partition_count),
                                       v_str(pc->prefix) };
                if (ap_run(ap, "UPDATE civisync_prefix SET generation = ?, "
                           "replay_partitions = ?, generation_refresh = refresh + 1, "
                           "refresh = refresh + 1 WHERE prefix = ?", p, 3,
                           NULL, NULL, NULL, NULL,
                           &dberr, errstr, errstr_size) == -1)
                        return ap_db_fail(ap, dberr, errstr, errstr_size, "reset");
        }
        pc->generation = info->generation;
        pc->refresh++;
        pc->generation_refresh = pc->refresh;
        return AP_OK;
}

/* Deletes the prefix's rows (and mapping rows) whose refresh stamp is
 * below `below`: what a complete replay did not refresh. */
ap_rc_t ap_sweep(cs_apply_t *ap, prefix_ctx_t *pc, long long below,
                 const char *what, char *errstr, size_t errstr_size)
{
        size_t count;
        const cs_entity_t *ents = cs_reg_entities(&count);
        unsigned int dberr = 0;
        long long swept = 0;

        /* Dependents first: reverse registry order. */
        for (size_t i = count; i-- > 0;) {
                unsigned long long affected = 0;
                cs_db_value_t p[2] = { v_str(ents[i].table), v_int(below) };
                char tmp[256];

                if (!ap_master_table(ap, &ents[i], tmp, sizeof(tmp)))
                        continue;
                /* One table read by two entities (an email of a contact or
                 * of a location block): the mapping names the table, so the
                 * table's first entity sweeps it whole, in its place (after
                 * the group contacts that name its rows). */
                if (cs_reg_by_table(ents[i].table) != &ents[i])
                        continue;
                {
                        char target[512];
                        ap_rc_t rrc;
                        snprintf(target, sizeof(target),
                                 "FROM `%s` t JOIN `%s` m ON m.master_entity_id = t.id "
                                 "WHERE m.entity_table = ? AND m.generation < ?",
                                 ents[i].table, pc->map);
                        rrc = ap_forget_cascaded(ap, pc->map, &ents[i], target, p,
                                                 2, 0, errstr, errstr_size);
                        if (rrc == AP_OK)
                                rrc = ap_release_references(ap, &ents[i], target, p,
                                                            2, errstr, errstr_size);
                        if (rrc != AP_OK)
                                return rrc;
                }
                snprintf(ap->sql, SQL_MAX,
                         "DELETE t FROM `%s` t JOIN `%s` m ON m.master_entity_id = t.id "
                         "WHERE m.entity_table = ? AND m.generation < ?",
                         ents[i].table, pc->map);
                if (ap_run(ap, ap->sql, p, 2, &affected, NULL, NULL, NULL,
                           &dberr, errstr, errstr_size) == -1)
                        return ap_db_fail(ap, dberr, errstr, errstr_size, "sweep");
                swept += (long long)affected;
                snprintf(ap->sql, SQL_MAX, "DELETE FROM `%s` WHERE entity_table = ? "
                         "AND generation < ?", pc->map);
                if (ap_run(ap, ap->sql, p, 2, NULL, NULL, NULL, NULL,
                           &dberr, errstr, errstr_size) == -1)
                        return ap_db_fail(ap, dberr, errstr, errstr_size, "sweep");
        }
        ap_map_forget_all(ap);
        ap->stats.rows_deleted += swept;
        ap->stats.sweeps++;
        cs_info("%s: %s complete: %lld row(s) not in the child removed from "
                "the master", pc->prefix, what, swept);
        if (pc->has_parked_doc) {
                /* Parked documents the replay did not send again: the child
                 * no longer has them, they can never resolve. */
                unsigned long long dropped = 0;
                cs_db_value_t p[2] = { v_str(pc->prefix), v_int(below) };
                if (ap_run(ap, "DELETE FROM civisync_parked_doc WHERE prefix = ? "
                           "AND refresh < ?", p, 2, &dropped, NULL, NULL, NULL,
                           &dberr, errstr, errstr_size) == -1)
                        return ap_db_fail(ap, dberr, errstr, errstr_size, "sweep");
                if (dropped)
                        cs_info("%s: %s: %llu parked document(s) the child no "
                                "longer sends dropped", pc->prefix, what, dropped);
        }
        return AP_OK;
}

/* Compares the end markers' counts of generation gen with the rows
 * refreshed since it began (entities the markers name). */
static ap_rc_t check_counts(cs_apply_t *ap, prefix_ctx_t *pc, long long gen,
                            char *problem, size_t problem_size,
                            int *short_replay, char *errstr, size_t errstr_size)
{
        size_t count;
        const cs_entity_t *ents = cs_reg_entities(&count);
        cs_db_value_t p[2] = { v_str(pc->prefix), v_int(gen) };
        json_t *expected = json_object();
        MYSQL_RES *res;
        MYSQL_ROW row;
        size_t plen = 0;
        long long *awaiting;
        ap_rc_t arc;

        problem[0] = '\0';
        *short_replay = 0;
        if (cs_db_set_vars(ap->db, "SET @cs_prefix = ?, @cs_gen = ?", p, 2, NULL,
                           NULL, errstr, errstr_size) == -1 ||
            !(res = cs_db_query(ap->db, "SELECT counts FROM civisync_replay_end "
                                "WHERE prefix = @cs_prefix AND generation = @cs_gen",
                                errstr, errstr_size))) {
                json_decref(expected);
                return ap_db_fail(ap, mysql_errno(ap->db), errstr, errstr_size,
                                  "end counts");
        }
        while ((row = mysql_fetch_row(res))) {
                json_t *c = json_loads(row[0], 0, NULL);
                const char *name;
                json_t *v;
                json_object_foreach(c, name, v) {
                        json_t *cur = json_object_get(expected, name);
                        json_object_set_new(expected, name, json_integer(
                                json_integer_value(cur) + json_integer_value(v)));
                }
                json_decref(c);
        }
        mysql_free_result(res);
        if (!(awaiting = calloc(count, sizeof(*awaiting)))) {
                json_decref(expected);
                snprintf(errstr, errstr_size, "out of memory");
                return AP_RETRY;
        }
        /* Parked behind a deferred document: sent, accounted for. */
        if ((arc = ap_parked_awaiting(ap, pc, pc->generation_refresh, awaiting,
                                      errstr, errstr_size)) != AP_OK) {
                free(awaiting);
                json_decref(expected);
                return arc;
        }
        for (size_t i = 0; i < count; i++) {
                json_t *jwant = json_object_get(expected, ents[i].name);
                long long want = json_integer_value(jwant);
                long long have = 0;
                unsigned int dberr = 0;
                cs_db_value_t q[2] = { v_str(ents[i].table),
                                       v_int(pc->generation_refresh) };

                int later_view = 0;

                /* A table read by several entities (a contact's addresses
                 * and the location blocks', registry_loc.c): the mapping
                 * counts its rows once, for the first entity that was sent. */
                for (size_t j = 0; j < count; j++) {
                        if (j == i || strcmp(ents[j].table, ents[i].table))
                                continue;
                        if (j < i && json_object_get(expected, ents[j].name))
                                later_view = 1;
                        want += json_integer_value(json_object_get(expected,
                                                                   ents[j].name));
                        have += awaiting[j];
                }
                if (!jwant || later_view)
                        continue;
                snprintf(ap->sql, SQL_MAX, "SELECT COUNT(*) FROM `%s` WHERE "
                         "entity_table = ? AND generation >= ?", pc->map);
                long long mapped = 0;
                if (ap_run(ap, ap->sql, q, 2, NULL, NULL, &mapped, NULL,
                           &dberr, errstr, errstr_size) == -1) {
                        free(awaiting);
                        json_decref(expected);
                        return ap_db_fail(ap, dberr, errstr, errstr_size, "counts");
                }
                have += mapped + awaiting[i];
                for (const cs_ref_t *r = ents[i].refs; r && r->column; r++) {
                        /* Rows that wait, parked, for a later phase's rows
                         * (FORMAT.md §12: uf_join on events) did arrive. */
                        for (const cs_poly_case_t *c = r->cases; c && c->value; c++) {
                                long long deferred = 0;
                                char head[300];
                                int seen = 0;
                                if (c->action != CS_POLY_DEFER)
                                        continue;
                                /* A document waits for one row: count each
                                 * deferred table once per entity (pcp_block
                                 * defers two columns to events). */
                                for (const cs_ref_t *r2 = ents[i].refs; r2 <= r; r2++)
                                        for (const cs_poly_case_t *c2 = r2->cases;
                                             c2 && c2->value && (r2 < r || c2 < c); c2++)
                                                if (c2->action == CS_POLY_DEFER &&
                                                    !strcmp(c2->target, c->target))
                                                        seen = 1;
                                if (seen)
                                        continue;
                                snprintf(head, sizeof(head), "%s/%s/", pc->prefix,
                                         ents[i].table);
                                cs_db_value_t d[5] = { v_str(pc->prefix),
                                                       v_int(pc->generation_refresh),
                                                       v_str(c->target),
                                                       v_int((long long)strlen(head)),
                                                       v_str(head) };
                                if (ap_run(ap, "SELECT COUNT(*) FROM civisync_parked_doc "
                                           "WHERE prefix = ? AND refresh >= ? AND "
                                           "target_table = ? AND LEFT(doc_key, ?) = ?",
                                           d, 5, NULL, NULL, &deferred, NULL, &dberr,
                                           errstr, errstr_size) == -1) {
                                        free(awaiting);
                                        json_decref(expected);
                                        return ap_db_fail(ap, dberr, errstr,
                                                          errstr_size, "counts");
                                }
                                have += deferred;
                        }
                }
                if (have < want)
                        *short_replay = 1;
                if (have != want && plen < problem_size - 80)
                        plen += (size_t)snprintf(problem + plen, problem_size - plen,
                                                 "%s%s sent %lld applied %lld",
                                                 plen ? "; " : "", ents[i].name,
                                                 want, have);
        }
        free(awaiting);
        json_decref(expected);
        return AP_OK;
}

ap_rc_t ap_apply_end(cs_apply_t *ap, prefix_ctx_t *pc,
                     const cs_doc_info_t *info, const json_t *doc, char *errstr,
                     size_t errstr_size)
{
        json_t *counts = json_object();
        const char *key;
        json_t *val;
        char *text;
        unsigned int dberr = 0;
        long long ends = 0;
        char problem[2048];
        int short_replay = 0;
        ap_rc_t rc;

        if (info->generation > pc->generation &&
            info->generation > pc->completed_generation) {
                /* Its reset never came: compaction keeps only the latest
                 * document of the control key. No cleanup is possible. */
                cs_db_value_t p[2] = { v_int(info->generation), v_str(pc->prefix) };
                json_decref(counts);
                cs_error("%s: end of generation %lld ignored: it arrived without "
                         "its reset (compacted away while the consumer was far "
                         "behind?), so its cleanup is SKIPPED and rows deleted on "
                         "the child may still be on the master. Run "
                         "civisync-consume --resync %s", pc->prefix,
                         info->generation, pc->prefix);
                if (ap_run(ap, "UPDATE civisync_prefix SET skipped_generation = ?, "
                           "skipped_at = UTC_TIMESTAMP() WHERE prefix = ?", p, 2,
                           NULL, NULL, NULL, NULL, &dberr, errstr, errstr_size) == -1)
                        return ap_db_fail(ap, dberr, errstr, errstr_size, "end");
                return AP_OK;
        }
        if (info->generation != pc->generation) {
                cs_warn("%s: end of generation %lld ignored: the current "
                        "generation is %lld (superseded or never begun)",
                        pc->prefix, info->generation, pc->generation);
                json_decref(counts);
                return AP_OK;
        }
        if (info->generation == pc->completed_generation) {
                json_decref(counts);
                return AP_OK; /* re-read after a restart: already done */
        }
        json_object_foreach((json_t *)doc, key, val) {
                if (!strncmp(key, CS_F_COUNT_PFX, strlen(CS_F_COUNT_PFX)))
                        json_object_set(counts, key + strlen(CS_F_COUNT_PFX), val);
        }
        text = json_dumps(counts, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(counts);
        if (!text) {
                snprintf(errstr, errstr_size, "out of memory");
                return AP_RETRY;
        }
        {
                cs_db_value_t p[4] = { v_str(pc->prefix), v_int(info->generation),
                                       v_int(info->partition), v_str(text) };
                int r = ap_run(ap, "REPLACE INTO civisync_replay_end (prefix, generation, "
                               "partition_no, counts) VALUES (?,?,?,?)", p, 4, NULL,
                               NULL, NULL, NULL, &dberr, errstr, errstr_size);
                free(text);
                if (r == -1)
                        return ap_db_fail(ap, dberr, errstr, errstr_size, "end");
        }
        {
                cs_db_value_t p[2] = { v_str(pc->prefix), v_int(info->generation) };
                if (ap_run(ap, "SELECT COUNT(*) FROM civisync_replay_end WHERE prefix = ? "
                           "AND generation = ?", p, 2, NULL, NULL, &ends, NULL,
                           &dberr, errstr, errstr_size) == -1)
                        return ap_db_fail(ap, dberr, errstr, errstr_size, "end");
        }
        if (ends < info->partition_count) {
                cs_info("%s: end of generation %lld on partition %d (%lld of %d)",
                        pc->prefix, info->generation, info->partition, ends,
                        info->partition_count);
                return AP_OK;
        }
        /* Whatever waited for rows of this replay goes in before counting. */
        if ((rc = ap_resolve_parked_docs(ap, pc, errstr, errstr_size)) != AP_OK ||
            (rc = ap_resolve_parked(ap, pc, errstr, errstr_size)) != AP_OK)
                return rc;
        rc = check_counts(ap, pc, info->generation, problem, sizeof(problem),
                          &short_replay, errstr, errstr_size);
        if (rc != AP_OK)
                return rc;
        if (short_replay) {
                /* Fewer rows arrived than were sent (dead letters, or the
                 * broker dropped messages): sweeping now would delete rows
                 * the child still has. Keep them, and say so. */
                if ((rc = ap_explain_short(ap, pc, problem, sizeof(problem),
                                           errstr, errstr_size)) != AP_OK)
                        return rc;
        } else {
                char what[64];
                snprintf(what, sizeof(what), "generation %lld", info->generation);
                if ((rc = ap_sweep_guarded(ap, pc, pc->generation_refresh,
                                           info->generation, what, errstr,
                                           errstr_size)) != AP_OK)
                        return rc;
        }
        if (problem[0])
                cs_error("%s: generation %lld: end marker counts differ from what "
                         "was applied: %s", pc->prefix, info->generation, problem);
        {
                cs_db_value_t p[3] = { v_int(info->generation),
                                       problem[0] ? v_str(problem) :
                                       (cs_db_value_t){ .kind = CS_VAL_NULL },
                                       v_str(pc->prefix) };
                if (ap_run(ap, "UPDATE civisync_prefix SET completed_generation = ?, "
                           "completed_at = UTC_TIMESTAMP(), last_error = ?, "
                           "skipped_generation = NULL, skipped_at = NULL WHERE prefix = ?",
                           p, 3, NULL, NULL, NULL, NULL,
                           &dberr, errstr, errstr_size) == -1)
                        return ap_db_fail(ap, dberr, errstr, errstr_size, "end");
        }
        pc->completed_generation = info->generation;
        return AP_OK;
}

/* ---- offset-rewind replays (civisync_offset) ---- */

/* Ends the prefix's rewind replay when every partition of its topic has
 * been re-read up to the high watermark captured at the rewind: the rows
 * that replay did not refresh are swept, as at the end of a generation. */
ap_rc_t ap_replay_check(cs_apply_t *ap, prefix_ctx_t *pc, char *errstr,
                        size_t errstr_size)
{
        cs_db_value_t p[1] = { v_str(pc->prefix) };
        unsigned int dberr = 0;
        long long done = 0, want = 0;
        int found;
        ap_rc_t rc;

        if (pc->replay_refresh <= 0)
                return AP_OK;
        if (ap_run(ap, "SELECT COUNT(*) FROM civisync_offset WHERE prefix = ? AND "
                   "replay_end IS NOT NULL AND next_offset >= replay_end", p, 1,
                   NULL, NULL, &done, &found,
                   &dberr, errstr, errstr_size) == -1 ||
            ap_run(ap, "SELECT replay_topic_partitions FROM civisync_prefix WHERE "
                   "prefix = ?", p, 1, NULL, NULL, &want, &found,
                   &dberr, errstr, errstr_size) == -1)
                return ap_db_fail(ap, dberr, errstr, errstr_size, "replay state");
        if (done < want)
                return AP_OK;
        if ((pc->has_parked_doc &&
             (rc = ap_resolve_parked_docs(ap, pc, errstr, errstr_size)) != AP_OK) ||
            (pc->has_parked &&
             (rc = ap_resolve_parked(ap, pc, errstr, errstr_size)) != AP_OK))
                return rc;
        if ((rc = ap_sweep_guarded(ap, pc, pc->replay_refresh, -1,
                                   "offset-rewind replay", errstr,
                                   errstr_size)) != AP_OK)
                return rc;
        if (ap_run(ap, "UPDATE civisync_prefix SET replay_refresh = 0, "
                   "skipped_generation = NULL, skipped_at = NULL, "
                   "replay_completed_at = UTC_TIMESTAMP(), replays_completed = "
                   "replays_completed + 1 WHERE prefix = ?", p, 1, NULL, NULL, NULL,
                   NULL, &dberr, errstr, errstr_size) == -1 ||
            ap_run(ap, "UPDATE civisync_offset SET replay_end = NULL, rewind_from = NULL "
                   "WHERE prefix = ?", p, 1, NULL, NULL, NULL, NULL,
                   &dberr, errstr, errstr_size) == -1)
                return ap_db_fail(ap, dberr, errstr, errstr_size, "replay end");
        pc->replay_refresh = 0;
        return AP_OK;
}

cs_apply_rc_t cs_apply_offset(cs_apply_t *ap, const char *prefix,
                              const char *topic, int partition,
                              long long next_offset, char *errstr,
                              size_t errstr_size)
{
        ap_rc_t rc = AP_OK;
        prefix_ctx_t *pc = ap_prefix_get(ap, prefix, &rc, errstr, errstr_size);
        unsigned int dberr = 0;
        cs_db_value_t p[4] = { v_str(topic), v_int(partition), v_str(prefix),
                               v_int(next_offset) };

        if (!pc) /* REJECTED: a refused prefix (errstr says why) */
                return ap_public_rc(rc);
        if (ap_run(ap, "INSERT INTO civisync_offset (topic, partition_no, prefix, "
                   "next_offset, seen_at) VALUES (?,?,?,?,UTC_TIMESTAMP()) ON "
                   "DUPLICATE KEY UPDATE next_offset = VALUES(next_offset), "
                   "seen_at = VALUES(seen_at)", p, 4, NULL, NULL, NULL,
                   NULL, &dberr, errstr, errstr_size) == -1) {
                ap_db_fail(ap, dberr, errstr, errstr_size, "civisync_offset");
                return CS_APPLY_RETRY;
        }
        pc->offsets_touched = 1;
        return CS_APPLY_OK;
}

cs_apply_rc_t cs_apply_assign(cs_apply_t *ap, const char *prefix,
                              const char *topic, int partition,
                              int partition_count, long long committed,
                              int committed_ours, long long low, long long high,
                              long long retention_s, long long *start,
                              long long *replay_end,
                              char *errstr, size_t errstr_size)
{
        ap_rc_t rc = AP_OK;
        cs_apply_rc_t prc;
        prefix_ctx_t *pc;
        unsigned int dberr = 0;
        cs_db_value_t k[2] = { v_str(topic), v_int(partition) };

        if (ap_ensure_connected(ap, errstr, errstr_size) != AP_OK)
                return CS_APPLY_RETRY;
        long long stored = 0, end = -1, from = -1;
        int found = 0, force_rewind = 0;

        *replay_end = -1;
        if ((prc = cs_apply_prepare_prefix(ap, prefix, errstr, errstr_size)) !=
            CS_APPLY_OK ||
            (prc = cs_apply_begin(ap, errstr, errstr_size)) != CS_APPLY_OK)
                return prc;
        if (!(pc = ap_prefix_get(ap, prefix, &rc, errstr, errstr_size)))
                goto fail;
        if (ap_run(ap, "SELECT next_offset FROM civisync_offset WHERE topic = ? AND "
                   "partition_no = ? FOR UPDATE", k, 2, NULL, NULL, &stored,
                   &found, &dberr, errstr, errstr_size) == -1 ||
            (found && ap_run(ap, "SELECT COALESCE(replay_end, -1) FROM civisync_offset "
                             "WHERE topic = ? AND partition_no = ?", k, 2, NULL,
                             NULL, &end, NULL,
                             &dberr, errstr, errstr_size) == -1) ||
            (found && ap_run(ap, "SELECT COALESCE(rewind_from, -1) FROM civisync_offset "
                             "WHERE topic = ? AND partition_no = ?", k, 2, NULL,
                             NULL, &from, NULL,
                             &dberr, errstr, errstr_size) == -1)) {
                rc = ap_db_fail(ap, dberr, errstr, errstr_size, "civisync_offset");
                goto fail;
        }
        /* A pause longer than the tombstones live: compaction may have
         * removed the tombstones of rows deleted meanwhile, and the offset
         * is still on the broker, so nothing else would notice. Only when
         * there is something to read and no replay is under way. */
        if (found && retention_s > 0 && high > stored &&
            end < 0) {
                long long gap = -1;
                if (ap_run(ap, "SELECT COALESCE(TIMESTAMPDIFF(SECOND, seen_at, "
                           "UTC_TIMESTAMP()), -1) FROM civisync_offset WHERE "
                           "topic = ? AND partition_no = ?", k, 2, NULL, NULL, &gap,
                           NULL, &dberr, errstr, errstr_size) == -1) {
                        rc = ap_db_fail(ap, dberr, errstr, errstr_size,
                                        "civisync_offset");
                        goto fail;
                }
                if (gap > retention_s) {
                        int rewinding = committed >= 0 && !committed_ours &&
                                        committed <= stored;
                        if (!rewinding && !ap->conf->retention_gap_resync) {
                                snprintf(errstr, errstr_size, "%s [%d]: this master "
                                         "last applied this partition (or stood at "
                                         "its end) %lld s ago, longer than the topic "
                                         "keeps tombstones (%lld s, the smaller of "
                                         "tombstone_retention_seconds and the topic's "
                                         "delete.retention.ms): rows "
                                         "deleted on the child meanwhile may have lost "
                                         "their tombstones to compaction and would "
                                         "silently stay on the master. Prefix %s is "
                                         "stopped, nothing was applied. Stop the other "
                                         "consumers of the group and run "
                                         "civisync-consume --resync %s (a replay of the "
                                         "topic as a complete sync), or set "
                                         "on_retention_gap = \"resync\"", topic,
                                         partition, gap, retention_s,
                                         prefix, prefix);
                                *start = stored;
                                cs_apply_rollback(ap);
                                return CS_APPLY_STOPPED;
                        }
                        cs_warn("%s [%d]: last applied %lld s ago, longer than the "
                                "topic keeps tombstones (%lld s): replaying %s "
                                "from its beginning as a complete sync%s", topic,
                                partition, gap, retention_s, topic,
                                rewinding ? "" : " (on_retention_gap = \"resync\")");
                        if (!rewinding || committed > low)
                                committed = low >= 0 ? low : 0;
                        committed_ours = 0;
                        force_rewind = 1;
                }
        }
        if (!found) {
                /* Nothing of this partition was ever applied to this master:
                 * read it all, whatever the group committed elsewhere. */
                *start = low >= 0 ? low : -2 /* RD_KAFKA_OFFSET_BEGINNING */;
                if (committed >= 0 && committed > low)
                        cs_warn("%s [%d]: the group committed offset %lld but "
                                "this master has applied nothing from it: "
                                "reading from the beginning (%lld)", topic,
                                partition, committed, low);
                cs_db_value_t q[4] = { v_str(topic), v_int(partition),
                                       v_str(prefix), v_int(low >= 0 ? low : 0) };
                if (ap_run(ap, "INSERT INTO civisync_offset (topic, partition_no, "
                           "prefix, next_offset) VALUES (?,?,?,?)", q, 4, NULL,
                           NULL, NULL, NULL,
                           &dberr, errstr, errstr_size) == -1) {
                        rc = ap_db_fail(ap, dberr, errstr, errstr_size,
                                        "civisync_offset");
                        goto fail;
                }
        } else if (!force_rewind &&
                   (committed < 0 || committed_ours || committed == stored ||
                    (pc->replay_refresh > 0 && end >= 0 && from == committed))) {
                /* Our own commit (or none): the master is the reference. A
                 * commit behind it means a crash between the DB commit and
                 * the offset commit: those messages are applied already.
                 * The same foreign commit that began the replay in progress
                 * is that replay, resumed. */
                *start = stored;
                if (committed >= 0 && committed != stored)
                        cs_info("%s [%d]: resuming at %lld, where this master's "
                                "applied offset is (the group's commit says %lld)",
                                topic, partition, stored, committed);
        } else if (!force_rewind && committed > stored &&
                   !(low >= 0 && stored < low && committed == low)) {
                cs_warn("%s [%d]: the group's offset was moved forward by an "
                        "operator from %lld to %lld: %lld message(s) are skipped "
                        "on request", topic, partition, stored, committed,
                        committed - stored);
                *start = committed;
        } else {
                /* Rewound by an operator (civisync-consume --resync, or
                 * kafka-consumer-groups --reset-offsets), or reset to the
                 * log start after the applied offset left the broker (the
                 * documented recovery, OPERATIONS.md 9.2: nothing between
                 * is readable any more, so nothing is skipped on request):
                 * replay up to the current end as a complete sync. */
                cs_db_value_t q[2] = { v_int(partition_count), v_str(prefix) };
                *start = committed;
                if (pc->replay_refresh <= 0 || end >= 0) {
                        if (committed > stored)
                                cs_info("%s: the applied offset %lld of %s [%d] "
                                        "is no longer on the broker, which now "
                                        "starts at %lld: replaying from there up "
                                        "to the current end as a complete sync",
                                        prefix, stored, topic, partition,
                                        committed);
                        else
                                cs_info("%s: offsets rewound (%s [%d]: %lld -> "
                                        "%lld): replaying up to the current end "
                                        "as a complete sync", prefix, topic,
                                        partition, stored, committed);
                        if (ap_run(ap, "UPDATE civisync_prefix SET replay_refresh = "
                                   "refresh + 1, refresh = refresh + 1, "
                                   "replay_topic_partitions = ?, replay_started_at = "
                                   "UTC_TIMESTAMP(), replay_completed_at = NULL "
                                   "WHERE prefix = ?", q, 2, NULL, NULL, NULL,
                                   NULL, &dberr, errstr, errstr_size) == -1 ||
                            ap_run(ap, "UPDATE civisync_offset SET replay_end = NULL "
                                   "WHERE prefix = ?", q + 1, 1, NULL, NULL, NULL,
                                   NULL, &dberr, errstr, errstr_size) == -1) {
                                rc = ap_db_fail(ap, dberr, errstr, errstr_size,
                                                "rewind");
                                goto fail;
                        }
                        pc->refresh++;
                        pc->replay_refresh = pc->refresh;
                }
                end = high;
                from = committed;
        }
        {
                cs_db_value_t q[5] = { v_int(*start), end >= 0 ? v_int(end) :
                                       (cs_db_value_t){ .kind = CS_VAL_NULL },
                                       end >= 0 && from >= 0 ? v_int(from) :
                                       (cs_db_value_t){ .kind = CS_VAL_NULL },
                                       v_str(topic), v_int(partition) };
                if (*start < 0) /* BEGINNING when nothing is known: low */
                        q[0] = v_int(low >= 0 ? low : 0);
                if (ap_run(ap, "UPDATE civisync_offset SET next_offset = ?, replay_end = ?, "
                           "rewind_from = ? WHERE topic = ? AND partition_no = ?", q, 5,
                           NULL, NULL, NULL, NULL,
                           &dberr, errstr, errstr_size) == -1) {
                        rc = ap_db_fail(ap, dberr, errstr, errstr_size,
                                        "civisync_offset");
                        goto fail;
                }
        }
        *replay_end = end;
        pc->offsets_touched = 1;
        if (cs_apply_commit(ap, errstr, errstr_size) != CS_APPLY_OK) {
                rc = AP_RETRY; /* commit fails only with RETRY */
                goto fail;
        }
        return CS_APPLY_OK;
fail:
        cs_apply_rollback(ap);
        return ap_public_rc(rc); /* REJECTED: a refused prefix, *start unset */
}
