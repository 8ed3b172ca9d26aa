/* apply_file.c — a file document's bytes on the master: written under files_dir/<PREFIX>/, what happened recorded in civisync_file (FORMAT.md §20). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "files.h"
#include "log.h"
#include "apply_int.h"

/* Records what happened to one file's bytes (civisync_file; --status
 * counts the rows that are not "stored"). */
static ap_rc_t record(cs_apply_t *ap, prefix_ctx_t *pc, long long child_id,
                      long long master_id, cs_file_status_t st, long long size,
                      const char *uri, const char *detail, char *errstr,
                      size_t errstr_size)
{
        cs_db_value_t p[7];
        unsigned int dberr = 0;

        p[0] = v_str(pc->prefix);
        p[1] = v_int(child_id);
        p[2] = v_int(master_id);
        p[3] = v_str(cs_file_status_name(st));
        p[4] = size >= 0 ? v_int(size) : (cs_db_value_t){ .kind = CS_VAL_NULL };
        p[5] = uri ? v_str(uri) : (cs_db_value_t){ .kind = CS_VAL_NULL };
        p[6] = v_str(detail);
        if (ap_run(ap, "INSERT INTO civisync_file (prefix, child_file_id, "
                   "master_file_id, status, size, uri, detail) VALUES (?, ?, ?, "
                   "?, ?, ?, ?) ON DUPLICATE KEY UPDATE master_file_id = "
                   "VALUES(master_file_id), status = VALUES(status), size = "
                   "VALUES(size), uri = VALUES(uri), detail = VALUES(detail), "
                   "updated_at = UTC_TIMESTAMP()", p, 7, NULL, NULL, NULL, NULL,
                   &dberr, errstr, errstr_size) == -1)
                return ap_db_fail(ap, dberr, errstr, errstr_size, "civisync_file");
        return AP_OK;
}

ap_rc_t ap_file_apply(cs_apply_t *ap, prefix_ctx_t *pc, const json_t *doc,
                      long long master_id, char *errstr, size_t errstr_size)
{
        const char *name = json_string_value(
                json_object_get(doc, cs_reg_file_name_column()));
        json_t *jst = json_object_get(doc, CS_F_FILE_STATUS);
        json_t *jsize = json_object_get(doc, CS_F_FILE_SIZE);
        json_t *jcontent = json_object_get(doc, CS_F_FILE_CONTENT);
        long long child_id = json_integer_value(json_object_get(doc, CS_F_CHILD_ID));
        long long size = json_is_integer(jsize) ? json_integer_value(jsize) : -1;
        cs_file_status_t st = CS_FILE_NOT_SENT;
        unsigned char *bytes = NULL;
        size_t len = 0;
        char detail[512], uri[CS_PREFIX_MAX + 300];

        if (jst && cs_file_status_parse(json_string_value(jst), &st) == -1) {
                snprintf(errstr, errstr_size, "%s '%.32s' is not a file status",
                         CS_F_FILE_STATUS, json_string_value(jst) ?
                         json_string_value(jst) : "");
                return AP_REJECTED;
        }
        if ((st == CS_FILE_OK) != (jcontent != NULL)) {
                snprintf(errstr, errstr_size, "%s is %s but %s is %s",
                         CS_F_FILE_STATUS, cs_file_status_name(st),
                         CS_F_FILE_CONTENT, jcontent ? "present" : "absent");
                return AP_REJECTED;
        }
        if (name)
                snprintf(uri, sizeof(uri), "%s/%s", pc->prefix, name);
        if (st != CS_FILE_OK) {
                snprintf(detail, sizeof(detail), "the producer sent no bytes: %s",
                         cs_file_status_name(st));
                /* not_sent is the producer's configuration, not an
                 * accident: --status counts it, the log stays quiet. */
                cs_log(st == CS_FILE_NOT_SENT ? CS_LOG_DEBUG : CS_LOG_WARN,
                       "%s: file %lld (%s): %s", pc->prefix, child_id,
                       name ? name : "no uri", detail);
                return record(ap, pc, child_id, master_id, st, size,
                              name ? uri : NULL, detail, errstr, errstr_size);
        }
        if (!name) {
                snprintf(errstr, errstr_size, "file bytes without a %s",
                         cs_reg_file_name_column());
                return AP_REJECTED;
        }
        if (cs_b64_decode(json_string_value(jcontent),
                          json_string_length(jcontent), &bytes, &len) == -1) {
                snprintf(errstr, errstr_size, "%s: invalid base64", CS_F_FILE_CONTENT);
                return AP_REJECTED;
        }
        if (size != (long long)len) {
                free(bytes);
                snprintf(errstr, errstr_size, "%s holds %zu bytes, %s says %lld",
                         CS_F_FILE_CONTENT, len, CS_F_FILE_SIZE, size);
                return AP_REJECTED;
        }
        if (!ap->conf->files_dir) {
                free(bytes);
                snprintf(detail, sizeof(detail), "the consumer has no files_dir: "
                         "%zu bytes not stored", len);
                cs_warn("%s: file %lld (%s): %s", pc->prefix, child_id, name,
                        detail);
                return record(ap, pc, child_id, master_id, CS_FILE_NOT_STORED,
                              size, uri, detail, errstr, errstr_size);
        }
        if (cs_file_write(ap->conf->files_dir, pc->prefix, name, bytes, len,
                          errstr, errstr_size) == -1) {
                /* The disk, not the document: retried, nothing lost. */
                free(bytes);
                return AP_RETRY;
        }
        free(bytes);
        snprintf(detail, sizeof(detail), "%zu bytes", len);
        cs_debug("%s: file %lld: %zu bytes written to %s/%s", pc->prefix,
                 child_id, len, ap->conf->files_dir, uri);
        return record(ap, pc, child_id, master_id, CS_FILE_STORED, size, uri,
                      detail, errstr, errstr_size);
}

const char *ap_poly_target(cs_apply_t *ap, const cs_entity_t *ent,
                           const char *table, ap_rc_t *rc, char *errstr,
                           size_t errstr_size)
{
        const char *const *pairs = cs_reg_custom_extends_pairs();
        cs_db_value_t p[32];
        char sql[512];
        size_t n = 0, len = 0;
        long long which = 0;
        int found = 0;
        unsigned int dberr = 0;

        *rc = AP_REJECTED;
        if (table && cs_reg_poly_target_ok(ent, table))
                return table;
        if (!table || !cs_reg_poly_custom_ok(ent) ||
            !cs_reg_is_custom_value_table(table)) {
                snprintf(errstr, errstr_size, "'%.64s' is not a synced table",
                         table ? table : "(missing)");
                return NULL;
        }
        /* FIELD(extends, name1, name2, ...): the pair's position, 0 when
         * the custom group extends an entity that is not synced. */
        len = (size_t)snprintf(sql, sizeof(sql), "SELECT FIELD(`%s`",
                               cs_reg_custom_group_extends_column());
        for (size_t i = 0; pairs[i] && n < sizeof(p) / sizeof(p[0]) - 1; i += 2) {
                p[n++] = v_str(pairs[i]);
                len += (size_t)snprintf(sql + len, sizeof(sql) - len, ", ?");
        }
        snprintf(sql + len, sizeof(sql) - len, ") FROM `%s` WHERE `%s` = ?",
                 cs_reg_custom_group_table(), cs_reg_custom_group_name_column());
        p[n++] = v_str(table);
        if (ap_run(ap, sql, p, n, NULL, NULL, &which, &found, &dberr, errstr,
                   errstr_size) == -1) {
                *rc = ap_db_fail(ap, dberr, errstr, errstr_size, "custom groups");
                return NULL;
        }
        if (!found) {
                snprintf(errstr, errstr_size, "'%.64s': no custom group of the "
                         "master has this table", table);
                return NULL;
        }
        if (which <= 0) {
                snprintf(errstr, errstr_size, "'%.64s': its custom group extends "
                         "an entity that is not synced", table);
                return NULL;
        }
        *rc = AP_OK;
        return pairs[2 * (which - 1) + 1];
}

ap_rc_t ap_file_forget_links(cs_apply_t *ap, prefix_ctx_t *pc,
                             long long master_id, char *errstr,
                             size_t errstr_size)
{
        const cs_entity_t *link = cs_reg_file_link_entity();
        cs_db_value_t p[2];
        unsigned long long affected = 0;
        unsigned int dberr = 0;

        p[0] = v_str(link->table);
        p[1] = v_int(master_id);
        snprintf(ap->sql, SQL_MAX, "DELETE l, m FROM `%s` l JOIN `%s` m ON "
                 "m.entity_table = ? AND m.master_entity_id = l.`id` WHERE "
                 "l.`%s` = ?", link->table, pc->map, cs_reg_file_link_column());
        if (ap_run(ap, ap->sql, p, 2, &affected, NULL, NULL, NULL, &dberr,
                   errstr, errstr_size) == -1)
                return ap_db_fail(ap, dberr, errstr, errstr_size, link->table);
        if (affected) {
                ap->stats.rows_deleted += (long long)affected / 2;
                ap_map_forget_table(ap, link->table);
        }
        return AP_OK;
}
