/* verify.h — compares a child with the master through mapping_master_<PREFIX>, read-only and streaming. */
#ifndef CS_VERIFY_H
#define CS_VERIFY_H

#include <stddef.h>
#include <mysql.h>
#include "registry.h"

/* What kind of difference one report is. */
typedef enum {
        CS_VERIFY_MISSING = 0, /* a synced child row has no master row */
        CS_VERIFY_EXTRA,       /* a mapping entry whose child row is gone (or whose master row is gone) */
        CS_VERIFY_CHANGED,     /* both rows exist, some columns differ */
        CS_VERIFY_PARKED       /* not a difference: the child row's document is
                                  parked on the master, waiting for its owner
                                  (a later phase's table, or a parked row) */
} cs_verify_kind_t;

/* One difference. Every pointer is BORROWED and valid during the callback only. */
typedef struct cs_verify_diff_s {
        cs_verify_kind_t kind;
        const cs_entity_t *entity;
        const char *doc_id;        /* "<PREFIX>/<table>/<child id>" */
        long long child_id;
        long long master_id;       /* 0 when there is no such master row */
        const char *columns;       /* CHANGED: "first_name, employer_id"; else "" */
        const char *detail;        /* human-readable reason, with values for CHANGED */
} cs_verify_diff_t;

/* The outcome for one entity, reported when it is done. */
typedef struct cs_verify_entity_s {
        const cs_entity_t *entity;
        const char *skipped;       /* NULL when compared, else why it was not */
        const char *note;          /* columns not compared, or NULL */
        long long child_rows;      /* synced child rows (filters applied) */
        long long mapped_rows;     /* mapping entries of this table */
        long long missing, extra, changed;
        long long unmapped;        /* nested master rows under mapped parents that
                                      no mapping row names (not civisync's; kept) */
        long long parked;          /* child rows whose document is parked on the
                                      master (not a difference; --status says why) */
} cs_verify_entity_t;

typedef struct cs_verify_totals_s {
        long long entities;        /* compared */
        long long skipped;         /* not compared (see the entity report) */
        long long child_rows, mapped_rows;
        long long missing, extra, changed;
        long long unmapped;        /* not a difference: see cs_verify_entity_t */
        long long parked;          /* not a difference: see cs_verify_entity_t */
} cs_verify_totals_t;

typedef void (cs_verify_diff_cb)(const cs_verify_diff_t *diff, void *opaque);
typedef void (cs_verify_entity_cb)(const cs_verify_entity_t *ent, void *opaque);

/* Compares every phase-1 entity (or only entity_filter, a registry entity
 * name or table, when not NULL) of child with master for prefix. Opens a
 * READ ONLY consistent-snapshot transaction on each connection and commits
 * it at the end; writes nothing. Rows are streamed (memory does not grow
 * with the table), except that entities with id-list references (groups)
 * read their master rows stored. Both connections must come from
 * cs_db_connect (utf8mb4, time_zone '+00:00'). diff_cb/entity_cb may be
 * NULL. Returns 0 when the comparison ran (totals say whether it found
 * differences), -1 with errstr on a database error or an unknown entity. */
int cs_verify_run(MYSQL *child, MYSQL *master, const char *prefix,
                  const char *entity_filter, cs_verify_diff_cb *diff_cb,
                  cs_verify_entity_cb *entity_cb, void *opaque,
                  cs_verify_totals_t *totals, char *errstr, size_t errstr_size);

/* missing + extra + changed. */
long long cs_verify_differences(const cs_verify_totals_t *totals);

#endif
