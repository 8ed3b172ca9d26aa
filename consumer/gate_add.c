/* gate_add.c — the metadata gate's additive sync: creates on the master, with the same id, the metadata rows a child has and the master lacks. */
#include "gate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "doc.h"
#include "log.h"
#include "registry.h"
#include "schema.h"

/* Foreign keys of one master table: column -> referenced table. */
typedef struct fk_s {
        char column[65];
        char target[65];
} fk_t;

/* Reads the master's foreign keys of table (at most max). -1 on error. */
static int load_fks(MYSQL *db, const char *table, fk_t *out, size_t max,
                    size_t *n, unsigned int *dberr, char *errstr,
                    size_t errstr_size)
{
        cs_db_value_t t = { .kind = CS_VAL_STR, .s = table, .len = strlen(table) };
        MYSQL_RES *res;
        MYSQL_ROW row;

        *n = 0;
        if (cs_db_set_vars(db, "SET @cs_gate_t = ?", &t, 1, NULL, NULL, errstr,
                           errstr_size) == -1 ||
            !(res = cs_db_query(db, "SELECT COLUMN_NAME, REFERENCED_TABLE_NAME "
                                "FROM information_schema.KEY_COLUMN_USAGE WHERE "
                                "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = "
                                "@cs_gate_t AND REFERENCED_TABLE_NAME IS NOT NULL",
                                errstr, errstr_size))) {
                *dberr = mysql_errno(db);
                return -1;
        }
        while ((row = mysql_fetch_row(res))) {
                if (*n == max) {
                        mysql_free_result(res);
                        snprintf(errstr, errstr_size, "%s has more than %zu foreign "
                                 "keys", table, max);
                        return -1;
                }
                snprintf(out[*n].column, sizeof(out[*n].column), "%s", row[0]);
                snprintf(out[*n].target, sizeof(out[*n].target), "%s", row[1]);
                (*n)++;
        }
        mysql_free_result(res);
        return 0;
}

static const char *fk_target(const fk_t *fks, size_t n, const char *column)
{
        for (size_t i = 0; i < n; i++)
                if (!strcmp(fks[i].column, column))
                        return fks[i].target;
        return NULL;
}

/* The referenced table named in a foreign key error ("... REFERENCES
 * `civicrm_option_group` (`id`)"), copied into out; "" when not found. */
static void fk_error_target(const char *msg, char *out, size_t size)
{
        const char *p = strstr(msg, "REFERENCES `");
        const char *e = p ? strchr(p + 12, '`') : NULL;

        out[0] = '\0';
        if (p && e && (size_t)(e - p - 12) < size)
                snprintf(out, size, "%.*s", (int)(e - p - 12), p + 12);
}

/* The master id prefix's mapping gives child row child_id of table, 0 when
 * it is not mapped. -1 on error. */
static int mapped_id(MYSQL *db, const char *map, const char *table,
                     long long child_id, long long *master_id,
                     unsigned int *dberr, char *errstr, size_t errstr_size)
{
        cs_db_value_t v[2] = {
                { .kind = CS_VAL_STR, .s = table, .len = strlen(table) },
                { .kind = CS_VAL_INT, .i = child_id } };
        char sql[256];

        snprintf(sql, sizeof(sql), "SELECT COALESCE(MAX(master_entity_id), 0) FROM "
                 "`%s` WHERE entity_table = @cs_gate_mt AND child_entity_id = "
                 "@cs_gate_mi", map);
        if (cs_db_set_vars(db, "SET @cs_gate_mt = ?, @cs_gate_mi = ?", v, 2, NULL,
                           NULL, errstr, errstr_size) == -1 ||
            cs_db_query_int(db, sql, master_id, errstr, errstr_size) == -1) {
                *dberr = mysql_errno(db);
                return -1;
        }
        return 0;
}

static void set_reason(char **reasons, size_t r, const char *why)
{
        free(reasons[r]);
        reasons[r] = strdup(why);
}

/* The row of child r: binds its values (master columns only; references
 * to synced data translated through the prefix's mapping) and inserts it.
 * 0 created, 1 not created (reasons[r]; *wait may be set), -1 error. */
static int create_row(MYSQL *db, const char *map, const cs_meta_table_t *child,
                      size_t r, const cs_table_t *tbl, const int *colmap,
                      const fk_t *fks, size_t fk_n, char **reasons,
                      cs_gate_wait_t *wait, unsigned int *dberr, char *errstr,
                      size_t errstr_size)
{
        size_t n = 0, len = 0, cap = 64 + strlen(child->table);
        cs_db_value_t *vals = calloc(child->col_cnt + 1, sizeof(*vals));
        char **owned = calloc(child->col_cnt + 1, sizeof(*owned));
        char *sql = NULL, why[512], num[32];
        int rc = -1;

        for (size_t c = 0; c < child->col_cnt; c++)
                cap += strlen(child->cols[c]) + 8;
        if (!vals || !owned || !(sql = malloc(cap))) {
                snprintf(errstr, errstr_size, "out of memory");
                goto done;
        }
        vals[n++] = (cs_db_value_t){ .kind = CS_VAL_INT, .i = child->ids[r] };
        len = (size_t)snprintf(sql, cap, "INSERT INTO `%s` (`id`", child->table);
        for (size_t c = 0; c < child->col_cnt; c++) {
                json_t *v = json_array_get(child->values[r], c);
                const cs_column_t *col;
                const char *target;
                json_t *tr = NULL;
                int bad;

                if (colmap[c] < 0)
                        continue; /* a column the master does not have */
                col = &tbl->cols[colmap[c]];
                if (!(target = cs_meta_col_translated(child->table, col->name)))
                        target = fk_target(fks, fk_n, col->name);
                if (target && json_is_integer(v)) {
                        cs_table_class_t cls = cs_reg_table_class(target);
                        long long master_id = 0;
                        snprintf(num, sizeof(num), "%lld",
                                 (long long)json_integer_value(v));
                        if (cls == CS_TCLASS_SYNCED && cs_reg_by_table(target)) {
                                /* per-child data: translated */
                                if (mapped_id(db, map, target, json_integer_value(v),
                                              &master_id, dberr, errstr,
                                              errstr_size) == -1)
                                        goto done;
                                if (!master_id) {
                                        snprintf(why, sizeof(why), "not created yet: "
                                                 "column %s waits for %s %s of this "
                                                 "prefix", col->name, target, num);
                                        set_reason(reasons, r, why);
                                        if (!wait->waiting || !wait->table[0]) {
                                                snprintf(wait->table,
                                                         sizeof(wait->table), "%s",
                                                         target);
                                                wait->child_id = json_integer_value(v);
                                                snprintf(wait->reason,
                                                         sizeof(wait->reason),
                                                         "%s id %lld %.400s",
                                                         child->table,
                                                         child->ids[r], why);
                                        }
                                        wait->waiting = 1;
                                        rc = 1;
                                        goto done;
                                }
                                tr = json_integer(master_id);
                        } else if (cls != CS_TCLASS_METADATA &&
                                   cls != CS_TCLASS_CONFIG) {
                                snprintf(why, sizeof(why), "not created: column %s "
                                         "references %s %s, which civisync does "
                                         "not sync", col->name, target, num);
                                set_reason(reasons, r, why);
                                rc = 1;
                                goto done;
                        }
                }
                bad = cs_doc_value_to_db(tr ? tr : v, col, &vals[n], &owned[n], why,
                                         sizeof(why));
                json_decref(tr);
                if (bad) {
                        char msg[600];
                        snprintf(msg, sizeof(msg), "not created: %s", why);
                        set_reason(reasons, r, msg);
                        rc = 1;
                        goto done;
                }
                n++;
                len += (size_t)snprintf(sql + len, cap - len, ", `%s`", col->name);
        }
        len += (size_t)snprintf(sql + len, cap - len, ") VALUES (?");
        for (size_t i = 1; i < n; i++)
                len += (size_t)snprintf(sql + len, cap - len, ", ?");
        snprintf(sql + len, cap - len, ")");
        if (cs_db_exec_params(db, sql, vals, n, NULL, NULL, why, sizeof(why)) == -1) {
                unsigned int err = mysql_errno(db);
                char target[72];
                if (cs_db_error_transient(err, why)) {
                        *dberr = err;
                        snprintf(errstr, errstr_size, "%s id %lld: %s", child->table,
                                 child->ids[r], why);
                        goto done;
                }
                {
                        char msg[600];
                        snprintf(msg, sizeof(msg), "not created: %s", why);
                        set_reason(reasons, r, msg);
                }
                fk_error_target(why, target, sizeof(target));
                /* by its text: cs_db_exec_params keeps the statement's
                 * message, not its number (ER_NO_REFERENCED_ROW_2) */
                if (strstr(why, "Cannot add or update a child row") &&
                    cs_reg_table_class(target) == CS_TCLASS_METADATA) {
                        /* another metadata document (another partition, or
                         * later in the run) brings it: try again after each
                         * batch */
                        if (!wait->waiting)
                                snprintf(wait->reason, sizeof(wait->reason),
                                         "%s id %lld waits for a row of %s",
                                         child->table, child->ids[r], target);
                        wait->waiting = 1;
                }
                rc = 1;
                goto done;
        }
        rc = 0;
done:
        for (size_t i = 0; owned && i < child->col_cnt + 1; i++)
                free(owned[i]);
        free(owned);
        free(vals);
        free(sql);
        return rc;
}

int cs_gate_add(MYSQL *db, const char *map, const cs_meta_table_t *child,
                const cs_meta_table_t *master, char **reasons,
                cs_gate_wait_t *wait, long long *created, unsigned int *dberr,
                char *errstr, size_t errstr_size)
{
        cs_table_t tbl;
        fk_t fks[CS_GATE_FKS_MAX];
        size_t fk_n = 0, i = 0, j = 0, todo = 0;
        int *colmap = NULL, rc;

        *created = 0;
        *dberr = 0;
        if (!master || !child->values)
                return 0; /* a table the master lacks, or rows sent without values */
        for (i = 0, j = 0; i < child->row_cnt; i++) {
                while (j < master->row_cnt && master->ids[j] < child->ids[i])
                        j++;
                if ((j >= master->row_cnt || master->ids[j] != child->ids[i]) &&
                    child->values[i])
                        todo++;
        }
        if (!todo)
                return 0;
        rc = cs_schema_load(db, child->table, &tbl, errstr, errstr_size);
        if (rc == 1)
                return 0;
        if (rc == -1) {
                *dberr = mysql_errno(db);
                return -1;
        }
        if (load_fks(db, child->table, fks, CS_GATE_FKS_MAX, &fk_n, dberr, errstr,
                     errstr_size) == -1 ||
            !(colmap = calloc(child->col_cnt + 1, sizeof(*colmap)))) {
                if (!colmap && !*dberr)
                        snprintf(errstr, errstr_size, "out of memory");
                cs_schema_free(&tbl);
                return -1;
        }
        /* Every identifier is the master's own: a column the master lacks
         * is left out; credentials never travel (and are refused). */
        for (size_t c = 0; c < child->col_cnt; c++)
                colmap[c] = cs_reg_meta_col_excluded(child->table, child->cols[c]) ?
                            -1 : cs_schema_col_index(&tbl, child->cols[c]);
        rc = 0;
        for (i = 0, j = 0; i < child->row_cnt && rc != -1; i++) {
                int r;
                while (j < master->row_cnt && master->ids[j] < child->ids[i])
                        j++;
                if ((j < master->row_cnt && master->ids[j] == child->ids[i]) ||
                    !child->values[i])
                        continue;
                r = create_row(db, map, child, i, &tbl, colmap, fks, fk_n, reasons,
                               wait, dberr, errstr, errstr_size);
                if (r == -1)
                        rc = -1;
                else if (r == 0)
                        (*created)++;
        }
        if (*created)
                cs_info("metadata gate: %s: %lld row(s) created on the master with "
                        "the child's ids", child->table, *created);
        free(colmap);
        cs_schema_free(&tbl);
        return rc;
}
