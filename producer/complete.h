/* complete.h — a complete sync: reset, replay of one consistent snapshot, end marker. */
#ifndef CS_COMPLETE_H
#define CS_COMPLETE_H

#include <jansson.h>
#include <mysql.h>
#include "conf.h"
#include "sink.h"

typedef struct cs_run_stats_s {
        long long generation;
        long long documents;     /* root documents sent */
        json_t *upserts;         /* NEW object: entity -> rows sent (nested included) */
        json_t *deletes;         /* NEW object: entity -> tombstones sent */
        long long tombstones;    /* complete sync: tombstones for the rows
                                  * deleted since the previous state; -1
                                  * when there was no usable state */
} cs_run_stats_t;

/* Sends reset(G) to every partition, every root document of the snapshot
 * in dependency order, waits for delivery, then end(G) with per-partition
 * per-entity counts, and waits again. previous_generation comes from the
 * state; G = max(previous + 1, now in ms). In the same snapshot it
 * computes the incremental state (fingerprints of everything sent, cursors
 * at the snapshot): *new_incr (NEW), its files written with state_gen when
 * write_files and their paths appended to created (see incremental.h).
 * When old_incr (BORROWED, the previous "incremental" state, may be NULL)
 * is usable, every root row it holds that the snapshot no longer has gets
 * a tombstone, after the replay and before the end markers (whose counts
 * do not include them): a compacted topic then no longer keeps the
 * deleted rows' last documents for a later --resync to re-apply. Without
 * a usable state it warns that such documents may remain.
 * Returns 0 only when every message was delivered. stats must be freed
 * with cs_run_stats_free. */
int cs_complete_run(const cs_producer_conf_t *conf, MYSQL *db, cs_sink_t *sink,
                    long long previous_generation, long long state_gen,
                    int write_files, json_t *created, const json_t *old_incr,
                    cs_run_stats_t *stats, json_t **new_incr, char *errstr,
                    size_t errstr_size);
void cs_run_stats_free(cs_run_stats_t *stats);
/* Adds n to counts[entity] (counts: BORROWED object of entity -> count). */
void cs_run_count_add(json_t *counts, const char *entity, long long n);
/* Counts one root document of entity root and each of its nested rows
 * (doc: BORROWED) into counts. */
void cs_run_count_doc(json_t *counts, const char *root, const json_t *doc);

#endif
