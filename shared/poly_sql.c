/* poly_sql.c — SQL for polymorphic references with per-table cases: mapping master values back, leaving deferred rows out. */
#include "poly_sql.h"

#include <stdio.h>
#include <string.h>

static int bind(cs_poly_sql_t *b, const char *name, size_t tag, size_t k,
                const char *value, char *errstr, size_t errstr_size)
{
        if (*b->n >= b->max ||
            cs_db_append(b->set, b->set_size, "%s@%s%zu_%zu = ?",
                         b->set[0] ? ", " : "SET ", name, tag, k) == -1) {
                snprintf(errstr, errstr_size, "too many polymorphic cases to bind");
                return -1;
        }
        b->vals[*b->n].kind = CS_VAL_STR;
        b->vals[*b->n].s = value;
        b->vals[*b->n].len = strlen(value);
        (*b->n)++;
        return 0;
}

static int too_long(char *errstr, size_t errstr_size)
{
        snprintf(errstr, errstr_size, "polymorphic reference: query too long");
        return -1;
}

int cs_poly_backmap_sql(const cs_ref_t *ref, const char *map, size_t tag,
                        cs_poly_sql_t *b, char *errstr, size_t errstr_size)
{
        size_t k = 0;

        if (!cs_db_ident_valid(ref->column) || !cs_db_ident_valid(ref->table_column)) {
                snprintf(errstr, errstr_size, "unsupported column name");
                return -1;
        }
        if (!ref->cases)
                return cs_db_append(b->sql, b->sql_size,
                                    ", (SELECT MIN(x.child_entity_id) FROM `%s` x "
                                    "WHERE x.entity_table = t.`%s` AND "
                                    "x.master_entity_id = t.`%s`)", map,
                                    ref->table_column, ref->column) == -1 ?
                       too_long(errstr, errstr_size) : 0;
        if (cs_db_append(b->sql, b->sql_size, ", CASE") == -1)
                return too_long(errstr, errstr_size);
        for (const cs_poly_case_t *c = ref->cases; c->value; c++, k++) {
                int rc = 0;
                if (c->action == CS_POLY_REJECT)
                        continue;
                if (bind(b, "cs_pv", tag, k, c->value, errstr, errstr_size) == -1)
                        return -1;
                if (c->action == CS_POLY_PASS) {
                        rc = cs_db_append(b->sql, b->sql_size, " WHEN t.`%s` = "
                                          "@cs_pv%zu_%zu THEN t.`%s`",
                                          ref->table_column, tag, k, ref->column);
                } else {
                        if (bind(b, "cs_pt", tag, k, c->target, errstr,
                                 errstr_size) == -1)
                                return -1;
                        if (c->zero_passes)
                                rc |= cs_db_append(b->sql, b->sql_size, " WHEN "
                                                   "t.`%s` = @cs_pv%zu_%zu AND "
                                                   "t.`%s` = 0 THEN 0",
                                                   ref->table_column, tag, k,
                                                   ref->column);
                        rc |= cs_db_append(b->sql, b->sql_size, " WHEN t.`%s` = "
                                           "@cs_pv%zu_%zu THEN (SELECT "
                                           "MIN(x.child_entity_id) FROM `%s` x "
                                           "WHERE x.entity_table = @cs_pt%zu_%zu "
                                           "AND x.master_entity_id = t.`%s`)",
                                           ref->table_column, tag, k, map, tag, k,
                                           ref->column);
                }
                if (rc)
                        return too_long(errstr, errstr_size);
        }
        return cs_db_append(b->sql, b->sql_size, " END") == -1 ?
               too_long(errstr, errstr_size) : 0;
}

int cs_poly_has_deferred(const cs_ref_t *ref)
{
        for (const cs_poly_case_t *c = ref ? ref->cases : NULL; c && c->value; c++)
                if (c->action == CS_POLY_DEFER)
                        return 1;
        return 0;
}

int cs_poly_exclude_deferred_sql(const cs_ref_t *ref, size_t tag,
                                 cs_poly_sql_t *b, char *errstr,
                                 size_t errstr_size)
{
        size_t k = 0;
        int first = 1;

        if (!cs_poly_has_deferred(ref))
                return 0;
        if (!cs_db_ident_valid(ref->column) || !cs_db_ident_valid(ref->table_column)) {
                snprintf(errstr, errstr_size, "unsupported column name");
                return -1;
        }
        for (const cs_poly_case_t *c = ref->cases; c->value; c++, k++) {
                int rc;
                if (c->action != CS_POLY_DEFER)
                        continue;
                if (bind(b, "cs_pd", tag, k, c->value, errstr, errstr_size) == -1)
                        return -1;
                rc = cs_db_append(b->sql, b->sql_size, "%s(`%s` = @cs_pd%zu_%zu "
                                  "AND `%s` IS NOT NULL", first ? " AND NOT (" :
                                  " OR ", ref->table_column, tag, k, ref->column);
                if (!rc && c->zero_passes) /* 0 = every row: not deferred */
                        rc = cs_db_append(b->sql, b->sql_size, " AND `%s` <> 0",
                                          ref->column);
                if (rc || cs_db_append(b->sql, b->sql_size, ")") == -1)
                        return too_long(errstr, errstr_size);
                first = 0;
        }
        return cs_db_append(b->sql, b->sql_size, ")") == -1 ?
               too_long(errstr, errstr_size) : 0;
}
