/* triggers.h — the real-time change capture: civisync_ triggers on every synced child table, recording into civisync_outbox. */
#ifndef CS_TRIGGERS_H
#define CS_TRIGGERS_H

#include <stddef.h>
#include <mysql.h>
#include "source.h"

/* The table the triggers write to (created by cs_trig_install). */
#define CS_TRIG_OUTBOX "civisync_outbox"
/* MariaDB's identifier limit: trigger names longer than this are shortened. */
#define CS_TRIG_NAME_MAX 64

/* One physical child table that carries synced rows, and how a changed row
 * of it names its aggregate root. */
typedef struct cs_trig_table_s {
        const char *table;       /* BORROWED from the sources */
        char root_col[65];       /* nested rows: the parent column, "" for roots */
        const cs_entity_t *via;  /* parent_via entities: the entity root_col
                                    names (the root is its parent column's
                                    value), else NULL */
} cs_trig_table_t;

/* The trigger name of table for suffix "ai", "au" or "ad":
 * civisync_<table>_<suffix>, or when that exceeds CS_TRIG_NAME_MAX,
 * civisync_<table cut to 43 chars>_<8 hex digits of a hash of the whole
 * table name>_<suffix> (deterministic). -1 if out is too small. */
int cs_trig_name(char *out, size_t size, const char *table,
                 const char *suffix);

/* The physical tables behind the present sources srcs[0..count) (every
 * branch of every registry entity this child has), one entry each, in
 * source order. *out is a NEW array (free()); -1 with errstr when a table
 * would need two different root columns or a name is not a plain
 * identifier. */
int cs_trig_tables(const cs_src_t *srcs, size_t count, cs_trig_table_t **out,
                   size_t *out_cnt, char *errstr, size_t errstr_size);

/* Creates civisync_outbox if missing and (re)creates the AFTER INSERT,
 * UPDATE and DELETE triggers on every synced table of the child; drops
 * civisync_ triggers on tables that are no longer synced. Idempotent.
 * Triggers of other owners (CiviCRM's) are never touched. *installed gets
 * the number of triggers in place. 0 or -1 with errstr. */
int cs_trig_install(MYSQL *db, int *installed, char *errstr,
                    size_t errstr_size);

/* Drops every civisync_ trigger of the child's database (the outbox table
 * stays: it may hold changes not yet sent). *removed gets the count. */
int cs_trig_remove(MYSQL *db, int *removed, char *errstr, size_t errstr_size);

#endif
