/* apply_schema.c — the master's tables and foreign keys; statement errors. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply_int.h"

/* ---- helpers ---- */

ap_rc_t ap_db_fail(cs_apply_t *ap, unsigned int err, char *errstr,
                   size_t errstr_size, const char *what)
{
        char msg[1024];
        ap->last_errno = err;
        snprintf(msg, sizeof(msg), "%s: %s", what, errstr);
        snprintf(errstr, errstr_size, "%s", msg);
        if (cs_db_errno_transient(err) || err == 0)
                return AP_RETRY;
        return AP_REJECTED;
}

size_t ap_entity_index(const cs_entity_t *ent)
{
        size_t count;
        const cs_entity_t *all = cs_reg_entities(&count);
        return (size_t)(ent - all);
}

/* Master schema of an entity's table, loaded once. NULL if absent. */
const cs_table_t *ap_master_table(cs_apply_t *ap, const cs_entity_t *ent,
                                  char *errstr, size_t errstr_size)
{
        size_t i = ap_entity_index(ent);

        if (ap->table_state[i] == 0) {
                int rc = cs_schema_load(ap->db, ent->table, &ap->tables[i],
                                        errstr, errstr_size);
                if (rc == -1)
                        return NULL;
                ap->table_state[i] = rc == 1 ? 2 : 1;
                for (size_t c = 0; rc == 0 && c < ap->tables[i].col_cnt; c++)
                        if (!cs_db_ident_valid(ap->tables[i].cols[c].name)) {
                                snprintf(errstr, errstr_size,
                                         "master %s: unsupported column name",
                                         ent->table);
                                return NULL;
                        }
        }
        if (ap->table_state[i] == 2) {
                snprintf(errstr, errstr_size, "master has no table %s",
                         ent->table);
                return NULL;
        }
        return &ap->tables[i];
}

/* Reads every foreign key of the master's schema in one query (the
 * information_schema joins are slow: one query per table cost ~50 ms each)
 * and files them under the synced table they point at: its nullable
 * RESTRICT/NO ACTION references (the first 8) and the CASCADE references
 * from other synced tables (the first 12). Runs once per connection, from
 * cs_apply_reconnect. 0, or -1 with errstr. */
int ap_load_restrict_refs(cs_apply_t *ap, char *errstr, size_t errstr_size)
{
        MYSQL_RES *res;
        MYSQL_ROW row;

        for (size_t i = 0; i < ap->entity_cnt; i++) {
                ap->restrict_refs[i].n = ap->restrict_refs[i].cascade_n = 0;
                ap->restrict_refs[i].loaded = 0;
        }
        if (!(res = cs_db_query(ap->db,
                "SELECT k.REFERENCED_TABLE_NAME, k.TABLE_NAME, k.COLUMN_NAME, "
                "r.DELETE_RULE, c.IS_NULLABLE "
                "FROM information_schema.KEY_COLUMN_USAGE k "
                "JOIN information_schema.REFERENTIAL_CONSTRAINTS r "
                "  ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA "
                " AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME "
                " AND r.TABLE_NAME = k.TABLE_NAME "
                "JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = k.TABLE_SCHEMA "
                " AND c.TABLE_NAME = k.TABLE_NAME AND c.COLUMN_NAME = k.COLUMN_NAME "
                "WHERE k.TABLE_SCHEMA = DATABASE() "
                "  AND k.REFERENCED_TABLE_NAME IS NOT NULL ORDER BY 1, 2, 3",
                errstr, errstr_size)))
                return -1;
        while ((row = mysql_fetch_row(res))) {
                const cs_entity_t *ent = cs_reg_by_table(row[0]);
                restrict_refs_t *rr;
                int restrict_rule;

                if (!ent || !row[1] || !row[2] || !row[3] || !row[4] ||
                    !cs_db_ident_valid(row[1]) || !cs_db_ident_valid(row[2]))
                        continue;
                rr = &ap->restrict_refs[ap_entity_index(ent)];
                restrict_rule = !strcmp(row[3], "RESTRICT") ||
                                !strcmp(row[3], "NO ACTION");
                if (restrict_rule && !strcmp(row[4], "YES") && rr->n < 8) {
                        snprintf(rr->table[rr->n], sizeof(rr->table[0]), "%s", row[1]);
                        snprintf(rr->column[rr->n], sizeof(rr->column[0]), "%s", row[2]);
                        rr->n++;
                } else if (!strcmp(row[3], "CASCADE") && cs_reg_by_table(row[1]) &&
                           strcmp(row[1], ent->table) && rr->cascade_n < 12) {
                        snprintf(rr->cascade_table[rr->cascade_n],
                                 sizeof(rr->cascade_table[0]), "%s", row[1]);
                        snprintf(rr->cascade_column[rr->cascade_n],
                                 sizeof(rr->cascade_column[0]), "%s", row[2]);
                        rr->cascade_n++;
                }
        }
        mysql_free_result(res);
        for (size_t i = 0; i < ap->entity_cnt; i++)
                ap->restrict_refs[i].loaded = 1;
        return 0;
}

/* The restricting and cascading references to ent's table (loaded once
 * per connection). NULL with errstr if they cannot be read. */
static restrict_refs_t *restrict_refs(cs_apply_t *ap, const cs_entity_t *ent,
                                      char *errstr, size_t errstr_size)
{
        restrict_refs_t *rr = &ap->restrict_refs[ap_entity_index(ent)];

        if (!rr->loaded && ap_load_restrict_refs(ap, errstr, errstr_size) == -1)
                return NULL;
        return rr;
}

/* Sets the restricting references to the rows of ent's table that
 * `target_sql` selects ("FROM `table` t ... WHERE ..." using alias t, with
 * params) to NULL, so those rows can be deleted. */
ap_rc_t ap_release_references(cs_apply_t *ap, const cs_entity_t *ent,
                              const char *target_sql,
                              const cs_db_value_t *params, size_t n,
                              char *errstr, size_t errstr_size)
{
        restrict_refs_t *rr = restrict_refs(ap, ent, errstr, errstr_size);
        unsigned int dberr = 0;
        char *sql;

        if (!rr) {
                /* civisync's own metadata read failed: never the document's
                 * fault, so never a dead letter. */
                ap_db_fail(ap, mysql_errno(ap->db), errstr, errstr_size,
                           "foreign keys");
                return AP_RETRY;
        }
        if (rr->n == 0)
                return AP_OK;
        if (!(sql = malloc(SQL_MAX))) {
                snprintf(errstr, errstr_size, "out of memory");
                return AP_RETRY;
        }
        for (size_t i = 0; i < rr->n; i++) {
                snprintf(sql, SQL_MAX, "UPDATE `%s` r JOIN (SELECT t.id %s) d "
                         "ON r.`%s` = d.id SET r.`%s` = NULL", rr->table[i],
                         target_sql, rr->column[i], rr->column[i]);
                if (ap_run(ap, sql, params, n, NULL, NULL, NULL, NULL,
                           &dberr, errstr, errstr_size) == -1) {
                        free(sql);
                        return ap_db_fail(ap, dberr, errstr, errstr_size,
                                          "release references");
                }
        }
        free(sql);
        return AP_OK;
}

/* Deletes the mapping rows of the synced rows that ON DELETE CASCADE will
 * remove together with the rows of ent's table that `target_sql` selects
 * (as in ap_release_references), following cascades a few levels down. */
ap_rc_t ap_forget_cascaded(cs_apply_t *ap, const char *map,
                           const cs_entity_t *ent, const char *target_sql,
                           const cs_db_value_t *params, size_t n, int depth,
                           char *errstr, size_t errstr_size)
{
        restrict_refs_t *rr = restrict_refs(ap, ent, errstr, errstr_size);
        unsigned int dberr = 0;
        char *sql, *sub;
        ap_rc_t rc = AP_OK;

        if (!rr) {
                ap_db_fail(ap, mysql_errno(ap->db), errstr, errstr_size,
                           "foreign keys");
                return AP_RETRY;
        }
        if (rr->cascade_n == 0 || depth > 3)
                return AP_OK;
        sql = malloc(SQL_MAX);
        sub = malloc(SQL_MAX);
        if (!sql || !sub) {
                free(sql);
                free(sub);
                snprintf(errstr, errstr_size, "out of memory");
                return AP_RETRY;
        }
        for (size_t i = 0; i < rr->cascade_n && rc == AP_OK; i++) {
                const cs_entity_t *dep = cs_reg_by_table(rr->cascade_table[i]);
                /* The dependent rows: "FROM dep t WHERE t.col IN (targets)". */
                snprintf(sub, SQL_MAX, "FROM `%s` t WHERE t.`%s` IN (SELECT t.id %s)",
                         rr->cascade_table[i], rr->cascade_column[i], target_sql);
                rc = ap_forget_cascaded(ap, map, dep, sub, params, n, depth + 1,
                                        errstr, errstr_size);
                if (rc != AP_OK)
                        break;
                snprintf(sql, SQL_MAX, "DELETE m FROM `%s` m JOIN (SELECT t.id %s) d "
                         "ON d.id = m.master_entity_id WHERE m.entity_table = ?",
                         map, sub);
                {
                        cs_db_value_t q[8];
                        if (n >= 8)
                                break;
                        memcpy(q, params, n * sizeof(*q));
                        q[n] = v_str(rr->cascade_table[i]);
                        if (ap_run(ap, sql, q, n + 1, NULL, NULL, NULL, NULL,
                                   &dberr, errstr, errstr_size) == -1)
                                rc = ap_db_fail(ap, dberr, errstr, errstr_size,
                                                "cascaded mappings");
                }
        }
        free(sql);
        free(sub);
        ap_map_forget_all(ap);
        return rc;
}

int ap_sql_cat(char *sql, size_t *len, const char *fmt, ...)
{
        va_list va;
        int n;

        if (*len >= SQL_MAX)
                return -1;
        va_start(va, fmt);
        n = vsnprintf(sql + *len, SQL_MAX - *len, fmt, va);
        va_end(va);
        if (n < 0 || (size_t)n >= SQL_MAX - *len) {
                *len = SQL_MAX;
                return -1;
        }
        *len += (size_t)n;
        return 0;
}
