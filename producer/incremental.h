/* incremental.h — incremental sync: exact per-row change detection (the snapshot's rows streamed and merged with the stored fingerprints), documents and tombstones for what changed. */
#ifndef CS_INCREMENTAL_H
#define CS_INCREMENTAL_H

#include <jansson.h>
#include <mysql.h>
#include "complete.h"
#include "conf.h"
#include "sink.h"
#include "snapshot.h"

/* Fingerprints of every source of snap (all rows) and the cursors at
 * the snapshot: the incremental state a complete sync leaves behind.
 * When write_files, one file per table is written under state_dir as
 * PREFIX.fp.STATE_GEN.TABLE and its path appended to created (BORROWED
 * array). When old_incr (BORROWED, may be NULL) is a usable state and gone
 * (BORROWED object) is not NULL, the same scan compares every root table
 * with its stored fingerprints: gone[entity name] receives the array of
 * the root ids stored there and no longer in the snapshot (deleted or out
 * of the row filter since that state); a stored file that cannot be read
 * is skipped with a warning. Returns the NEW "incremental" state object,
 * or NULL. */
json_t *cs_incr_snapshot_state(const cs_producer_conf_t *conf, cs_snap_t *snap,
                               long long state_gen, int write_files,
                               json_t *created, const json_t *old_incr,
                               json_t *gone, char *errstr, size_t errstr_size);

/* 1 if incr (the state's "incremental" object, BORROWED, may be NULL) was
 * written by this version's format and can drive an incremental run. */
int cs_incr_state_usable(const json_t *incr);

/* One incremental run against the state old_incr (BORROWED, the
 * "incremental" object of the state file): opens one consistent snapshot,
 * finds every changed, new and deleted row, sends the root documents and
 * tombstones, and waits until all of them are delivered. *new_incr gets
 * the NEW state to save (files written as in cs_incr_snapshot_state, with
 * state generation old + 1). Returns 0 only when everything was
 * delivered. */
int cs_incr_run(const cs_producer_conf_t *conf, MYSQL *db, cs_sink_t *sink,
                const json_t *old_incr, int write_files, json_t *created,
                cs_run_stats_t *stats, json_t **new_incr, char *errstr,
                size_t errstr_size);

#endif
