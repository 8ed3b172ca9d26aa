/* apply_schema.c — the master's tables and foreign keys; statement errors. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply_int.h"
#include "registry_meta.h"

/* ---- helpers ---- */

ap_rc_t ap_db_fail(cs_apply_t *ap, unsigned int err, char *errstr,
                   size_t errstr_size, const char *what)
{
        char msg[1024];
        ap->last_errno = err;
        snprintf(msg, sizeof(msg), "%s: %s", what, errstr);
        snprintf(errstr, errstr_size, "%s", msg);
        if (cs_db_error_transient(err, errstr) || err == 0)
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
                unsigned int err = 0;
                int rc = cs_schema_load_errno(ap->db, ent->table, &ap->tables[i],
                                              &err, errstr, errstr_size);
                if (rc == -1) {
                        ap->last_errno = err;
                        return NULL;
                }
                if (rc == 0 && ap->tables[i].col_cnt > CS_LIMIT_COLUMNS) {
                        snprintf(errstr, errstr_size, "master table %s has %zu "
                                 "columns, more than CS_LIMIT_COLUMNS (%d)",
                                 ent->table, ap->tables[i].col_cnt,
                                 CS_LIMIT_COLUMNS);
                        cs_schema_free(&ap->tables[i]);
                        return NULL;
                }
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

static int fk_add(fk_list_t *l, const char *table, const char *column)
{
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 8;
                fk_ref_t *v = realloc(l->v, cap * sizeof(*v));
                if (!v)
                        return -1;
                l->v = v;
                l->cap = cap;
        }
        snprintf(l->v[l->n].table, sizeof(l->v[0].table), "%s", table);
        snprintf(l->v[l->n].column, sizeof(l->v[0].column), "%s", column);
        l->n++;
        return 0;
}

/* Longest chain of ON DELETE CASCADE keys between synced tables below
 * entity i (0 if none); chain receives it as " -> table.column...". A
 * cycle counts as deeper than the limit. */
static size_t cascade_depth(const cs_apply_t *ap, size_t i, size_t level,
                            char *chain, size_t chain_size)
{
        const fk_list_t *l = &ap->restrict_refs[i].cascade;
        size_t best = 0;
        char sub[512], bestsub[512] = "";

        if (level > CS_LIMIT_CASCADE_DEPTH)
                return level; /* deeper than the limit (or a cycle): stop */
        for (size_t k = 0; k < l->n; k++) {
                const cs_entity_t *dep = cs_reg_by_table(l->v[k].table);
                size_t d;

                if (!dep)
                        continue;
                sub[0] = '\0';
                d = 1 + cascade_depth(ap, ap_entity_index(dep), level + 1, sub,
                                      sizeof(sub));
                if (d > best) {
                        best = d;
                        snprintf(bestsub, sizeof(bestsub), " -> %s.%s%s",
                                 l->v[k].table, l->v[k].column, sub);
                }
        }
        snprintf(chain, chain_size, "%s", bestsub);
        return best;
}

/* ap_forget_cascaded forgets the mappings of rows that cascades remove
 * CS_LIMIT_CASCADE_DEPTH levels down: a master whose synced tables
 * cascade deeper is refused. 0, or -1 with errstr naming the chain. */
static int check_cascade_depth(const cs_apply_t *ap, char *errstr,
                               size_t errstr_size)
{
        const cs_entity_t *all = cs_reg_entities(NULL);

        for (size_t i = 0; i < ap->entity_cnt; i++) {
                char chain[512];
                size_t d = cascade_depth(ap, i, 0, chain, sizeof(chain));

                if (d > CS_LIMIT_CASCADE_DEPTH) {
                        snprintf(errstr, errstr_size, "master: ON DELETE CASCADE "
                                 "chain %s%s is deeper than CS_LIMIT_CASCADE_DEPTH "
                                 "(%d levels)", all[i].table, chain,
                                 CS_LIMIT_CASCADE_DEPTH);
                        return -1;
                }
        }
        return 0;
}

/* The replacement the registry gives metadata column table.column, or
 * NULL (cs_reg_meta_reassigned). */
static const char *reassigned(const char *table, const char *column)
{
        const char *t, *c, *r;

        for (size_t i = 0; cs_reg_meta_reassigned(i, &t, &c, &r) == 0; i++)
                if (!strcmp(t, table) && !strcmp(c, column))
                        return r;
        return NULL;
}

/* Reads every foreign key of the master's schema in one query (the
 * information_schema joins are slow: one query per table cost ~50 ms each)
 * and files them under the synced table they point at: all its nullable
 * RESTRICT/NO ACTION references, and the CASCADE references from other
 * synced tables (lists without a size limit), then checks the cascade
 * depth. Runs once per connection, from cs_apply_reconnect. 0, or -1 with
 * errstr. */
int ap_load_restrict_refs(cs_apply_t *ap, char *errstr, size_t errstr_size)
{
        MYSQL_RES *res;
        MYSQL_ROW row;

        for (size_t i = 0; i < ap->entity_cnt; i++) {
                ap->restrict_refs[i].restrict_.n = 0;
                ap->restrict_refs[i].cascade.n = 0;
                ap->restrict_refs[i].reassign.n = 0;
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
                fk_list_t *list;
                int restrict_rule;

                if (!ent || !row[1] || !row[2] || !row[3] || !row[4] ||
                    !cs_db_ident_valid(row[1]) || !cs_db_ident_valid(row[2]))
                        continue;
                rr = &ap->restrict_refs[ap_entity_index(ent)];
                restrict_rule = !strcmp(row[3], "RESTRICT") ||
                                !strcmp(row[3], "NO ACTION");
                if (restrict_rule && !strcmp(row[4], "YES"))
                        list = &rr->restrict_;
                else if (restrict_rule && reassigned(row[1], row[2]))
                        list = &rr->reassign;
                else if (!strcmp(row[3], "CASCADE") && cs_reg_by_table(row[1]) &&
                         strcmp(row[1], ent->table))
                        list = &rr->cascade;
                else
                        continue;
                if (fk_add(list, row[1], row[2]) == -1) {
                        mysql_free_result(res);
                        snprintf(errstr, errstr_size, "out of memory");
                        return -1;
                }
        }
        mysql_free_result(res);
        for (size_t i = 0; i < ap->entity_cnt; i++)
                ap->restrict_refs[i].loaded = 1;
        return check_cascade_depth(ap, errstr, errstr_size);
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
        if (rr->restrict_.n == 0 && rr->reassign.n == 0)
                return AP_OK;
        if (!(sql = malloc(SQL_MAX))) {
                snprintf(errstr, errstr_size, "out of memory");
                return AP_RETRY;
        }
        for (size_t i = 0; i < rr->restrict_.n; i++) {
                const fk_ref_t *fk = &rr->restrict_.v[i];
                snprintf(sql, SQL_MAX, "UPDATE `%s` r JOIN (SELECT t.id %s) d "
                         "ON r.`%s` = d.id SET r.`%s` = NULL", fk->table,
                         target_sql, fk->column, fk->column);
                if (ap_run(ap, sql, params, n, NULL, NULL, NULL, NULL,
                           &dberr, errstr, errstr_size) == -1) {
                        free(sql);
                        return ap_db_fail(ap, dberr, errstr, errstr_size,
                                          "release references");
                }
        }
        /* Metadata that cannot let go (NOT NULL) is handed to the
         * master's own row; a master without that row keeps refusing. */
        for (size_t i = 0; i < rr->reassign.n; i++) {
                const fk_ref_t *fk = &rr->reassign.v[i];
                snprintf(sql, SQL_MAX, "UPDATE `%s` r JOIN (SELECT t.id %s) d "
                         "ON r.`%s` = d.id SET r.`%s` = %s", fk->table,
                         target_sql, fk->column, fk->column,
                         reassigned(fk->table, fk->column));
                if (ap_run(ap, sql, params, n, NULL, NULL, NULL, NULL,
                           &dberr, errstr, errstr_size) == -1) {
                        free(sql);
                        return ap_db_fail(ap, dberr, errstr, errstr_size,
                                          "reassign metadata references");
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
        /* Deeper chains were refused at connect (check_cascade_depth). */
        if (rr->cascade.n == 0 || depth >= CS_LIMIT_CASCADE_DEPTH)
                return AP_OK;
        if (n + 1 > CASCADE_PARAMS_MAX) {
                snprintf(errstr, errstr_size, "%s: cascade needs %zu parameters, "
                         "more than CASCADE_PARAMS_MAX (%d)", ent->table, n + 1,
                         CASCADE_PARAMS_MAX);
                return AP_RETRY;
        }
        sql = malloc(SQL_MAX);
        sub = malloc(SQL_MAX);
        if (!sql || !sub) {
                free(sql);
                free(sub);
                snprintf(errstr, errstr_size, "out of memory");
                return AP_RETRY;
        }
        for (size_t i = 0; i < rr->cascade.n && rc == AP_OK; i++) {
                const fk_ref_t *fk = &rr->cascade.v[i];
                const cs_entity_t *dep = cs_reg_by_table(fk->table);
                /* The dependent rows: "FROM dep t WHERE t.col IN (targets)". */
                snprintf(sub, SQL_MAX, "FROM `%s` t WHERE t.`%s` IN (SELECT t.id %s)",
                         fk->table, fk->column, target_sql);
                rc = ap_forget_cascaded(ap, map, dep, sub, params, n, depth + 1,
                                        errstr, errstr_size);
                if (rc != AP_OK)
                        break;
                snprintf(sql, SQL_MAX, "DELETE m FROM `%s` m JOIN (SELECT t.id %s) d "
                         "ON d.id = m.master_entity_id WHERE m.entity_table = ?",
                         map, sub);
                {
                        cs_db_value_t q[CASCADE_PARAMS_MAX];
                        memcpy(q, params, n * sizeof(*q));
                        q[n] = v_str(fk->table);
                        if (ap_run(ap, sql, q, n + 1, NULL, NULL, NULL, NULL,
                                   &dberr, errstr, errstr_size) == -1)
                                rc = ap_db_fail(ap, dberr, errstr, errstr_size,
                                                "cascaded mappings");
                        else
                                ap_map_forget_table(ap, fk->table);
                }
        }
        free(sql);
        free(sub);
        if (rc != AP_OK)
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
