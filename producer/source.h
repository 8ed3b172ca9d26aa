/* source.h — how each registry entity is read from this child: its table(s), columns and SQL (incl. the 4.2 activity adaptation). */
#ifndef CS_SOURCE_H
#define CS_SOURCE_H

#include <mysql.h>
#include "capacity.h"
#include "registry.h"
#include "schema.h"


/* One SELECT branch of a source: a real table whose rows become rows of
 * the entity. Every expression is SQL text built only from identifiers
 * read from information_schema and constants. */
typedef struct cs_src_branch_s {
        char *table;          /* FROM table */
        char **exprs;         /* one expression per column of cs_src_t.tbl */
        char *raw_id;         /* the table's own primary key column ("`id`") */
        char *parent;         /* nested: expression of the root id; else NULL */
        char *where;          /* static filter or NULL */
} cs_src_branch_t;

/* An entity as this child stores it. */
typedef struct cs_src_s {
        const cs_entity_t *ent;
        int present;          /* 0: the child has no such table */
        int legacy;           /* synthesized from pre-4.4 tables (§17) */
        cs_table_t tbl;       /* the document's columns, in order */
        int id_col;           /* index of "id" in tbl */
        int parent_col;       /* nested: index of the parent column in a
                                 CS_SRC_DOC row (parent_via entities: of
                                 CS_SRC_ROOT_COLUMN, after tbl's columns) */
        /* Stored ids are id_scale * raw id + k (0 <= k < id_scale). */
        int id_scale;
        cs_src_branch_t br[CS_LIMIT_SOURCE_BRANCHES];
        int br_cnt;
        /* Change signal for the timestamp cursor (roots only). */
        char *change_table;   /* the entity's table, or the change log's */
        char *change_col;     /* its time column */
        int change_is_log;    /* 1: rows of the change log (cs_reg_change_log) */
} cs_src_t;

/* Loads every registry entity's source for the connection's database:
 * reads the schema, decides the legacy adaptation and the change signal.
 * *out is a NEW array of count (registry order) entries; free with
 * cs_src_free_all. 0 or -1 with errstr. */
int cs_src_load_all(MYSQL *db, cs_src_t **out, size_t *count, char *errstr,
                    size_t errstr_size);
void cs_src_free_all(cs_src_t *srcs, size_t count);
/* The source of entity ent in srcs, or NULL. */
cs_src_t *cs_src_find(cs_src_t *srcs, size_t count, const cs_entity_t *ent);

/* The extra column of a parent_via entity's CS_SRC_DOC rows: its root id. */
#define CS_SRC_ROOT_COLUMN "civisync_root"

/* Builds a malloc'd SELECT over every branch of src:
 *   what = CS_SRC_DOC:     the document columns (aliased to their names),
 *                          then for a parent_via entity (registry.h) its
 *                          root id AS CS_SRC_ROOT_COLUMN
 *   what = CS_SRC_FP_SCAN: the stored id AS `id`, the parent id AS `p`
 *                          (NULL for roots), then every document column
 *                          that is not CS_COL_OMIT, in order: the input of
 *                          the row fingerprint (fingerprint.c)
 * cond (may be NULL) is a condition in which "{id}" stands for the
 * branch's raw id column and "{parent}" for its parent expression; it is
 * ANDed to the branch's filter. suffix (may be NULL) is appended after the
 * branches (ORDER BY / LIMIT, in terms of output column names). */
typedef enum { CS_SRC_DOC = 0, CS_SRC_FP_SCAN } cs_src_what_t;
char *cs_src_sql(const cs_src_t *src, cs_src_what_t what, const char *cond,
                 const char *suffix, char *errstr, size_t errstr_size);

#endif
