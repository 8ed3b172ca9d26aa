/* apply.c — applies civisync documents to the master: connection, batches, one message. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "apply_int.h"
#include "gate.h"
#include "metadata.h"
#include "registry_custom.h"

#define STARTUP_RETRIES 5              /* 1+2+4+8+16 s at most */

/* ---- public API ---- */

cs_apply_t *cs_apply_new(const cs_consumer_conf_t *conf, char *errstr,
                         size_t errstr_size)
{
        cs_apply_t *ap = calloc(1, sizeof(*ap));
        /* Room for the custom value tables discovery may register. */
        size_t count = cs_reg_static_count() + CS_LIMIT_CUSTOM_GROUPS;

        if (cs_reg_check(errstr, errstr_size) == -1) {
                free(ap);
                return NULL;
        }
        if (!ap || !(ap->sql = malloc(SQL_MAX)) ||
            !(ap->tables = calloc(count, sizeof(*ap->tables))) ||
            !(ap->table_state = calloc(count, sizeof(*ap->table_state))) ||
            !(ap->restrict_refs = calloc(count, sizeof(*ap->restrict_refs))) ||
            !(ap->map_cache = calloc(MAP_CACHE_SIZE, sizeof(*ap->map_cache))) ||
            !(ap->table_epoch = calloc(count, sizeof(*ap->table_epoch))) ||
            !(ap->scratch = calloc(1, sizeof(*ap->scratch)))) {
                snprintf(errstr, errstr_size, "out of memory");
                cs_apply_free(ap);
                return NULL;
        }
        ap->conf = conf;
        cs_reg_entities(&ap->entity_cnt);
        ap->map_epoch = 1;
        /* Connected, but a setup statement met a transient server error
         * (a lost temporary file, a deadlock, a failover): try again a few
         * times. A master that cannot be reached fails at once. */
        for (int attempt = 0, wait_s = 1;; attempt++, wait_s *= 2) {
                if (cs_apply_reconnect(ap, errstr, errstr_size) == 0)
                        return ap;
                if (!ap->setup_failed || attempt >= STARTUP_RETRIES ||
                    !cs_db_error_transient(ap->setup_errno, errstr))
                        break;
                cs_warn("master database: %s; retrying in %d s", errstr, wait_s);
                sleep((unsigned int)wait_s);
        }
        cs_apply_free(ap);
        return NULL;
}

int cs_apply_reconnect(cs_apply_t *ap, char *errstr, size_t errstr_size)
{
        if (ap->db)
                mysql_close(ap->db);
        ap->db = NULL;
        for (size_t i = 0; i < ap->prefix_cnt; i++)
                ap->prefixes[i].loaded = ap->prefixes[i].ensured = 0;
        ap->setup_errno = 0;
        ap->setup_failed = 0;
        ap->last_errno = 0;
        if (!(ap->db = cs_db_connect(&ap->conf->master, errstr, errstr_size)))
                return -1;
        if (ap->cache)
                cs_db_cache_reset(ap->cache, ap->db);
        else if (!(ap->cache = cs_db_cache_new(ap->db))) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        if (ap_create_own_tables(ap->db, errstr, errstr_size) == -1)
                goto fail;
        {
                /* Multi-row INSERTs hand out consecutive ids (step apart)
                 * only under lock modes 0 and 1. */
                long long mode = 2, step = 1;
                if (cs_db_query_int(ap->db, "SELECT @@innodb_autoinc_lock_mode",
                                    &mode, errstr, errstr_size) == -1 ||
                    cs_db_query_int(ap->db, "SELECT @@auto_increment_increment",
                                    &step, errstr, errstr_size) == -1)
                        goto fail;
                ap->autoinc_step = step > 0 ? step : 1;
                ap->bulk_ok = ap->conf->multi_row_insert && mode <= 1;
                /* Triggers bump a root's timestamps after its multi-row
                 * INSERT: one by one, each root's are set back (apply_stamp.c). */
                if (ap_stamps_probe(ap, errstr, errstr_size) == -1)
                        goto fail;
                if (ap->triggers)
                        ap->bulk_ok = 0;
                if (ap->conf->multi_row_insert && mode > 1 && !ap->warned_autoinc) {
                        cs_warn("master has innodb_autoinc_lock_mode=%lld: new "
                                "rows are applied one by one (set it to 1 for "
                                "multi-row inserts)", mode);
                        ap->warned_autoinc = 1;
                }
        }
        /* The master's shape (columns, foreign keys) is read once per
         * connection, here, so that no document's apply depends on an
         * information_schema read. Custom value tables first: discovered
         * from the master's own metadata, created when missing; forced, the
         * refresh also reads the foreign keys (ap_load_restrict_refs, once:
         * its information_schema join costs ~0.15 s at connect). */
        if (ap_custom_refresh(ap, 1, errstr, errstr_size) == -1)
                goto fail;
        for (size_t i = 0; i < ap->entity_cnt; i++) {
                const cs_entity_t *ent = &cs_reg_entities(NULL)[i];
                if (ap->table_state[i] == 0 &&
                    !ap_master_table(ap, ent, errstr, errstr_size) &&
                    ap->table_state[i] == 0)
                        goto fail;
        }
        return 0;
fail:
        /* The schema loads use prepared statements: their error number is
         * in last_errno, not on the connection. */
        ap->setup_errno = mysql_errno(ap->db) ? mysql_errno(ap->db) :
                          ap->last_errno;
        ap->setup_failed = 1;
        mysql_close(ap->db);
        ap->db = NULL;
        return -1;
}

void cs_apply_free(cs_apply_t *ap)
{
        if (!ap)
                return;
        cs_db_cache_free(ap->cache);
        if (ap->db)
                mysql_close(ap->db);
        for (size_t i = 0; ap->tables && i < ap->entity_cnt; i++)
                if (ap->table_state[i] == 1)
                        cs_schema_free(&ap->tables[i]);
        free(ap->tables);
        free(ap->table_state);
        for (size_t i = 0; ap->restrict_refs && i < ap->entity_cnt; i++) {
                free(ap->restrict_refs[i].restrict_.v);
                free(ap->restrict_refs[i].cascade.v);
                free(ap->restrict_refs[i].reassign.v);
        }
        free(ap->restrict_refs);
        free(ap->map_cache);
        free(ap->table_epoch);
        free(ap->scratch);
        free(ap->prefixes);
        free(ap->sql);
        free(ap);
}

/* After a failed reconnect there is no connection: try again now, and
 * report RETRY (never touch a NULL handle). */
ap_rc_t ap_ensure_connected(cs_apply_t *ap, char *errstr, size_t errstr_size)
{
        if (ap->db)
                return AP_OK;
        if (cs_apply_reconnect(ap, errstr, errstr_size) == -1)
                return AP_RETRY;
        return AP_OK;
}

cs_apply_rc_t cs_apply_begin(cs_apply_t *ap, char *errstr, size_t errstr_size)
{
        if (ap_ensure_connected(ap, errstr, errstr_size) != AP_OK)
                return CS_APPLY_RETRY;
        /* New custom groups or fields on the master (metadata sync):
         * their tables and columns are created before any document. */
        if (ap_custom_refresh(ap, 0, errstr, errstr_size) == -1)
                return ap_public_rc(ap_db_fail(ap, mysql_errno(ap->db), errstr,
                                               errstr_size, "custom data"));
        ap_map_forget_all(ap);
        for (size_t i = 0; i < ap->prefix_cnt; i++)
                ap->prefixes[i].offsets_touched = 0;
        if (cs_db_exec(ap->db, "START TRANSACTION", errstr, errstr_size) == -1)
                return ap_public_rc(ap_db_fail(ap, mysql_errno(ap->db), errstr,
                                               errstr_size, "begin"));
        return CS_APPLY_OK;
}

/* After a committed batch in which documents waited for a custom value
 * table that the batch's metadata gate documents named (custom_table_pending):
 * creates the table (DDL, outside any transaction) and retries the waiting
 * documents in a transaction of their own, so that they do not wait for
 * the next message (a --once run or an idle daemon would leave them
 * parked). A failure leaves them parked: the next batch retries them. */
static void apply_custom_pending(cs_apply_t *ap)
{
        char err[1024];
        int ok;

        ap->custom_pending = 0;
        ok = ap_custom_refresh(ap, 0, err, sizeof(err)) == 0 &&
             cs_db_exec(ap->db, "START TRANSACTION", err, sizeof(err)) == 0;
        for (size_t i = 0; ok && i < ap->prefix_cnt; i++)
                if (ap->prefixes[i].loaded && ap->prefixes[i].has_parked_doc)
                        ok = ap_resolve_parked_docs(ap, &ap->prefixes[i], err,
                                                    sizeof(err)) == AP_OK;
        if (ok && cs_db_exec(ap->db, "COMMIT", err, sizeof(err)) == 0) {
                ap_map_forget_all(ap);
                return;
        }
        cs_warn("documents waiting for a new custom value table stay parked "
                "until the next batch: %s", err);
        cs_apply_rollback(ap);
}

cs_apply_rc_t cs_apply_commit(cs_apply_t *ap, char *errstr, size_t errstr_size)
{
        for (size_t i = 0; i < ap->prefix_cnt; i++) {
                ap_rc_t rc;
                if (!ap->prefixes[i].loaded)
                        continue;
                rc = ap->prefixes[i].has_parked_doc ?
                     ap_resolve_parked_docs(ap, &ap->prefixes[i], errstr,
                                            errstr_size) : AP_OK;
                if (rc == AP_OK && ap->prefixes[i].has_parked)
                        rc = ap_resolve_parked(ap, &ap->prefixes[i], errstr,
                                               errstr_size);
                if (rc == AP_OK && ap->prefixes[i].offsets_touched &&
                    ap->prefixes[i].replay_refresh > 0)
                        rc = ap_replay_check(ap, &ap->prefixes[i], errstr,
                                             errstr_size);
                if (rc != AP_OK)
                        return CS_APPLY_RETRY;
        }
        if (cs_db_exec(ap->db, "COMMIT", errstr, errstr_size) == -1) {
                ap_db_fail(ap, mysql_errno(ap->db), errstr, errstr_size, "commit");
                return CS_APPLY_RETRY;
        }
        ap_map_forget_all(ap);
        if (ap->custom_pending)
                apply_custom_pending(ap);
        return CS_APPLY_OK;
}

void cs_apply_rollback(cs_apply_t *ap)
{
        char errstr[256];
        if (ap->db)
                cs_db_exec(ap->db, "ROLLBACK", errstr, sizeof(errstr));
        ap_map_forget_all(ap);
        /* Cached generations may belong to the rolled-back work. */
        for (size_t i = 0; i < ap->prefix_cnt; i++)
                ap->prefixes[i].loaded = 0;
}

/* A document refused by cs_doc_inspect (errstr) only because a document
 * nested in it carries values of a custom value table (unknown, from
 * cs_doc_info_t.unknown_nested) that the master's metadata names but whose
 * table is not known yet: the metadata gate created the group in this
 * batch, and its table is created when the next batch begins
 * (ap_custom_refresh; DDL cannot run inside the batch's transaction). The
 * document waits, retried after each batch (AP_OK, parked). Anything else
 * stays rejected (AP_REJECTED, errstr unchanged). */
static ap_rc_t custom_table_pending(cs_apply_t *ap, const char *prefix,
                                    const char *key, size_t key_len,
                                    const char *value, size_t value_len,
                                    const char *unknown, char *errstr,
                                    size_t errstr_size)
{
        char table[CS_DOC_ENTITY_NAME_MAX], reason[512];
        cs_db_value_t p;
        long long named = 0;
        unsigned int dberr = 0;
        int found = 0;
        wait_for_t wait;
        prefix_ctx_t *pc;
        ap_rc_t rc = AP_OK;

        if (!unknown[0] || !cs_custom_table_like(unknown))
                return AP_REJECTED;
        snprintf(table, sizeof(table), "%s", unknown);
        p = v_str(table);
        if (ap_run(ap, cs_custom_group_exists_sql(), &p, 1, NULL, NULL, &named,
                   &found, &dberr, reason, sizeof(reason)) == -1 || !named)
                return AP_REJECTED;
        if (!(pc = ap_prefix_get(ap, prefix, &rc, reason, sizeof(reason))))
                return rc == AP_RETRY ? AP_RETRY : AP_REJECTED;
        memset(&wait, 0, sizeof(wait));
        ap->custom_pending = 1;
        snprintf(reason, sizeof(reason), "carries values of %s, a custom group "
                 "the master's metadata gained in this batch: waits for its "
                 "table (created when the next batch begins)", table);
        cs_info("%s: %.*s %s", prefix, (int)key_len, key, reason);
        return ap_park_document(ap, pc, key, key_len, value, value_len, &wait,
                                reason, errstr, errstr_size);
}

/* A tombstone read through a table's second view (a location block's
 * email, ...) names a row of that view only: one whose mapped master row
 * belongs to another view (a contact's email, which travels in its
 * contact's document) is refused, the row untouched. AP_OK when the
 * tombstone may apply. */
static ap_rc_t view_tombstone_ok(cs_apply_t *ap, prefix_ctx_t *pc,
                                 const cs_entity_t *ent, const char *table,
                                 long long child_id, char *errstr,
                                 size_t errstr_size)
{
        char filter[512];
        const char *only = cs_reg_view_filter(ent, filter, sizeof(filter));
        cs_db_value_t p[2] = { v_str(table), v_int(child_id) };
        long long other = 0;
        unsigned int dberr = 0;
        int found = 0;

        if (!only)
                return AP_OK;
        snprintf(ap->sql, SQL_MAX, "SELECT COUNT(*) FROM `%s` t JOIN `%s` m ON "
                 "m.master_entity_id = t.id WHERE m.entity_table = ? AND "
                 "m.child_entity_id = ? AND NOT (%s)", table, pc->map, only);
        if (ap_run(ap, ap->sql, p, 2, NULL, NULL, &other, &found, &dberr, errstr,
                   errstr_size) == -1)
                return ap_db_fail(ap, dberr, errstr, errstr_size, "tombstone");
        if (other) {
                snprintf(errstr, errstr_size, "tombstone for '%s' %lld: that row "
                         "is not a %s row (it travels nested in its owner's "
                         "document)", table, child_id, ent->name);
                return AP_REJECTED;
        }
        return AP_OK;
}

/* parsed (BORROWED, may be NULL): value already parsed by cs_doc_parse. */
ap_rc_t ap_apply_one(cs_apply_t *ap, const char *prefix, const char *key,
                     size_t key_len, const char *value, size_t value_len,
                     json_t *parsed, int flags, char *errstr,
                     size_t errstr_size)
{
        char key_prefix[CS_PREFIX_MAX + 1], table[80];
        long long child_id = 0;
        cs_doc_info_t info;
        json_t *doc = NULL;
        prefix_ctx_t *pc;
        ap_rc_t rc = AP_OK;
        wait_for_t wait = { 0 };
        ap_bumped_t bumped;
        char err2[256];

        if (!key || key_len == 0) {
                snprintf(errstr, errstr_size, "message has no key");
                return AP_REJECTED;
        }
        if (cs_meta_is_key(key, key_len))
                return ap_apply_metadata(ap, prefix, key, key_len, value,
                                         value_len, errstr, errstr_size);
        if (cs_doc_parse_id(key, key_len, key_prefix, table, sizeof(table),
                            &child_id, errstr, errstr_size) == -1)
                return AP_REJECTED;
        if (strcmp(key_prefix, prefix)) {
                snprintf(errstr, errstr_size, "key prefix '%s' does not match "
                         "the topic's prefix '%s'", key_prefix, prefix);
                return AP_REJECTED;
        }
        if (value) {
                if (!(doc = parsed ? json_incref(parsed) :
                            cs_doc_parse(value, value_len,
                                         ap->conf->max_document_bytes, errstr,
                                         errstr_size)))
                        return AP_REJECTED;
                if (cs_doc_inspect(doc, key, key_len, &info, errstr,
                                   errstr_size) == -1) {
                        json_decref(doc);
                        return custom_table_pending(ap, prefix, key, key_len,
                                                    value, value_len,
                                                    info.unknown_nested,
                                                    errstr, errstr_size);
                }
                if (strcmp(info.prefix, prefix)) {
                        snprintf(errstr, errstr_size, "document prefix '%s' does "
                                 "not match the topic's prefix '%s'",
                                 info.prefix, prefix);
                        json_decref(doc);
                        return AP_REJECTED;
                }
        }
        if (value && info.kind != CS_DOC_KIND_ENTITY &&
            (flags & CS_APPLY_F_HISTORICAL)) {
                /* Re-read by an offset-rewind replay: that replay has its
                 * own framing (rewind .. high watermark). */
                cs_debug("%s: historical %s document of generation %lld "
                         "skipped in a rewind replay", prefix,
                         info.kind == CS_DOC_KIND_RESET ? "reset" : "end",
                         info.generation);
                ap->stats.skipped++;
                json_decref(doc);
                return AP_OK;
        }
        if (!(pc = ap_prefix_get(ap, prefix, &rc, errstr, errstr_size))) {
                json_decref(doc);
                return rc;
        }
        if (value && info.kind == CS_DOC_KIND_ENTITY && info.gate_run > 0) {
                /* Not before the metadata documents of its run: one on
                 * another partition may reveal a conflict that must hold it
                 * (OPERATIONS.md §8.1). */
                char reason[256];
                int hold = 0;
                rc = ap_gate_hold(ap, pc, &info, &hold, reason, sizeof(reason),
                                  errstr, errstr_size);
                if (rc != AP_OK || hold) {
                        json_decref(doc);
                        return rc != AP_OK ? rc :
                               ap_park_document(ap, pc, key, key_len, value,
                                                value_len, &wait, reason, errstr,
                                                errstr_size);
                }
        }
        if (cs_db_exec(ap->db, "SAVEPOINT cs_message", errstr, errstr_size) == -1) {
                json_decref(doc);
                return ap_db_fail(ap, mysql_errno(ap->db), errstr, errstr_size,
                                  "savepoint");
        }
        ap_map_journal_start(ap);
        /* CiviCRM's triggers on the master: the rows this write bumps keep
         * their values (apply_stamp.c). A tombstone names the root view of
         * its table (a location-block address, not the contact's nested
         * one: registry_loc.c). */
        rc = ap_bumps_save(ap, pc, value ? (info.kind == CS_DOC_KIND_ENTITY ?
                                            info.entity : NULL) :
                           cs_reg_root_by_table(table), child_id, &bumped, errstr,
                           errstr_size);
        if (rc != AP_OK) {
                /* nothing written: rolled back below */
        } else if (!value) {
                const cs_entity_t *ent = cs_reg_root_by_table(table);
                if (!ent) {
                        snprintf(errstr, errstr_size, "tombstone for '%s': not a "
                                 "top-level synced table", table);
                        rc = AP_REJECTED;
                } else if ((rc = view_tombstone_ok(ap, pc, ent, table, child_id,
                                                   errstr, errstr_size)) == AP_OK) {
                        rc = ap_apply_tombstone(ap, pc, ent, child_id, errstr,
                                                errstr_size);
                }
        } else if (info.kind == CS_DOC_KIND_RESET) {
                rc = ap_apply_reset(ap, pc, &info, errstr, errstr_size);
        } else if (info.kind == CS_DOC_KIND_END) {
                rc = ap_apply_end(ap, pc, &info, doc, errstr, errstr_size);
        } else if (info.entity->parent) {
                snprintf(errstr, errstr_size, "%s documents travel nested in "
                         "their %s document", info.entity->name,
                         info.entity->parent);
                rc = AP_REJECTED;
        } else {
                rc = ap_apply_document(ap, pc, info.entity, doc, &wait, errstr,
                                       errstr_size);
        }
        if (rc == AP_OK)
                rc = ap_bumps_restore(ap, &bumped, errstr, errstr_size);
        ap_bumps_free(&bumped);
        json_decref(doc);
        if (rc == AP_REJECTED || rc == AP_PARKED) {
                /* Mappings written under the savepoint are gone. */
                ap_map_journal_end(ap, 1);
                if (cs_db_exec(ap->db, "ROLLBACK TO SAVEPOINT cs_message", err2,
                               sizeof(err2)) == -1)
                        return AP_RETRY;
        } else {
                ap_map_journal_end(ap, 0);
        }
        if (rc == AP_PARKED)
                return ap_park_document(ap, pc, key, key_len, value, value_len,
                                        &wait, errstr, errstr, errstr_size);
        /* Applied, deleted or rejected: an older parked version is moot. */
        if (rc == AP_OK && !(value && info.kind != CS_DOC_KIND_ENTITY))
                return ap_unpark_document(ap, pc, key, key_len, errstr, errstr_size);
        return rc;
}

cs_apply_rc_t cs_apply_prepare_prefix(cs_apply_t *ap, const char *prefix,
                                      char *errstr, size_t errstr_size)
{
        ap_rc_t rc = AP_OK;
        prefix_ctx_t *pc = NULL;

        if (ap_ensure_connected(ap, errstr, errstr_size) != AP_OK)
                return CS_APPLY_RETRY;
        for (size_t i = 0; i < ap->prefix_cnt; i++)
                if (!strcmp(ap->prefixes[i].prefix, prefix))
                        pc = &ap->prefixes[i];
        if (pc && pc->ensured) {
                pc->loaded = 0; /* re-read inside the batch's transaction */
                return CS_APPLY_OK;
        }
        pc = ap_prefix_get(ap, prefix, &rc, errstr, errstr_size);
        if (pc)
                pc->loaded = 0;
        return pc ? CS_APPLY_OK : ap_public_rc(rc);
}

const cs_apply_stats_t *cs_apply_stats(const cs_apply_t *ap)
{
        return &ap->stats;
}

cs_apply_rc_t cs_apply_dead_letter(cs_apply_t *ap, const char *prefix,
                                   const char *topic, int partition,
                                   long long offset, const char *key,
                                   size_t key_len, const char *error,
                                   char *errstr, size_t errstr_size)
{
        unsigned int dberr = 0;
        cs_db_value_t p[6] = {
                prefix ? v_str(prefix) : (cs_db_value_t){ .kind = CS_VAL_NULL },
                v_str(topic), v_int(partition), v_int(offset),
                key ? (cs_db_value_t){ .kind = CS_VAL_BIN, .s = key,
                                       .len = key_len > 255 ? 255 : key_len }
                    : (cs_db_value_t){ .kind = CS_VAL_NULL },
                { .kind = CS_VAL_BIN, .s = error,
                  .len = strlen(error) > 60000 ? 60000 : strlen(error) },
        };

        if (ap_run(ap, "INSERT INTO civisync_dead_letter (prefix, topic, partition_no, "
                   "offset_no, doc_key, error) VALUES (?,?,?,?,?,?)", p, 6, NULL,
                   NULL, NULL, NULL, &dberr, errstr, errstr_size) == -1) {
                ap_db_fail(ap, dberr, errstr, errstr_size, "civisync_dead_letter");
                return CS_APPLY_RETRY;
        }
        return CS_APPLY_OK;
}
