/* poly_sql.h — SQL for polymorphic references with per-table cases (civisync-verify, civisync-restore). */
#ifndef CS_POLY_SQL_H
#define CS_POLY_SQL_H

#include <stddef.h>

#include "db.h"
#include "registry.h"

/* Bound variables and SQL being built together: `set` is the "SET @a = ?, ..."
 * statement, vals[0..*n) its values (at most max). */
typedef struct cs_poly_sql_s {
        char *sql;
        size_t sql_size;
        char *set;
        size_t set_size;
        cs_db_value_t *vals;
        size_t *n;
        size_t max;
} cs_poly_sql_t;

/* Appends ", <expr>" to b->sql: the child id that master value t.`col` of
 * POLY reference ref maps back to through mapping table map (translated
 * cases), the value itself (cases that pass through), or NULL. tag makes
 * the variable names unique per column. 0, or -1 with errstr when a
 * buffer or b->max is too small. */
int cs_poly_backmap_sql(const cs_ref_t *ref, const char *map, size_t tag,
                        cs_poly_sql_t *b, char *errstr, size_t errstr_size);

/* Appends " AND NOT (...)" to b->sql (a WHERE on the child's own table, no
 * alias) leaving out the rows whose reference ref is deferred (its target
 * is data of a later phase): nothing when ref has no deferred case. 0, or
 * -1 with errstr. */
int cs_poly_exclude_deferred_sql(const cs_ref_t *ref, size_t tag,
                                 cs_poly_sql_t *b, char *errstr,
                                 size_t errstr_size);

/* 1 if some case of ref is deferred. */
int cs_poly_has_deferred(const cs_ref_t *ref);

#endif
