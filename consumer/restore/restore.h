/* restore.h — rebuilds one child into an empty CiviCRM database from the master, through mapping_master_<PREFIX>. */
#ifndef RS_RESTORE_H
#define RS_RESTORE_H

#include <stddef.h>
#include <mysql.h>
#include "registry.h"

/* Return vocabulary of rs_run. */
#define RS_OK       0
#define RS_REFUSED  1  /* the target is not an empty CiviCRM 5 database, or
                          the master holds nothing of the prefix: nothing written */
#define RS_ERROR   -1  /* database error: the target's transaction rolled back */

/* What was (or, in a dry run, would be) written to one table. */
typedef struct rs_table_report_s {
        const cs_entity_t *entity;
        const char *skipped;       /* NULL when restored, else why not */
        const char *note;          /* columns not written (policy or schema), or NULL */
        long long mapped;          /* mapping entries of the table */
        long long inserted;        /* rows inserted with their child id */
        long long updated;         /* seed rows of the target overwritten */
        long long seed_removed;    /* seed rows the child no longer had */
        long long gone;            /* mapping entries whose master row is gone */
        long long dropped;         /* rows left out: a required reference not mapped */
        long long refs_nulled;     /* references to rows not mapped for the prefix */
        long long list_ids_dropped;/* ids of id lists not mapped for the prefix */
        long long deferred;        /* references written by a second UPDATE (cycles) */
        long long truncated;       /* QUALIFY values cut with a hash: not restorable */
        long long unqualified;     /* QUALIFY values without "<PREFIX>:": copied as is */
        long long first_truncated; /* child id of the first truncated value (0 none) */
} rs_table_report_t;

typedef struct rs_totals_s {
        long long tables, rows, refs_nulled, list_ids_dropped, dropped, gone,
                  truncated, seed_removed;
} rs_totals_t;

/* Called once per registry entity, in dependency order, when it is done.
 * report is BORROWED for the call. */
typedef void (rs_table_cb)(const rs_table_report_t *report, void *opaque);

/* Restores prefix from master into target. Reads the master in one READ
 * ONLY consistent snapshot; writes the target in ONE transaction (committed
 * only when everything is written; rolled back on any error), with foreign
 * key checks on: rows in registry order, ids restored from the mapping's
 * child_entity_id, references mapped back to child ids (self-references
 * and references to later tables written NULL first, then set by UPDATE).
 * dry_run: everything is read, counted and reported, nothing is written.
 * Both connections must come from cs_db_connect. On RS_REFUSED and
 * RS_ERROR errstr says why. */
int rs_run(MYSQL *master, MYSQL *target, const char *prefix, int dry_run,
           rs_table_cb *cb, void *opaque, rs_totals_t *totals, char *errstr,
           size_t errstr_size);

#endif
