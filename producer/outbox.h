/* outbox.h — one drain of civisync_outbox: the changed rows' root documents (or tombstones) sent, confirmed, then the rows deleted. */
#ifndef CS_OUTBOX_H
#define CS_OUTBOX_H

#include <stddef.h>
#include <mysql.h>
#include <jansson.h>
#include "conf.h"
#include "sink.h"
#include "snapshot.h"

/* Outbox rows one drain reads at most (the rest waits for the next). */
#define CS_OUTBOX_BATCH_MAX 5000

/* What one drain did. */
typedef struct cs_outbox_stats_s {
        long long rows;        /* outbox rows read (and deleted) */
        long long documents;   /* root documents sent */
        long long tombstones;  /* tombstones sent */
        double oldest_s;       /* age of the oldest row read (changed_at) */
        double read_ms, build_ms, flush_ms, delete_ms; /* time per phase */
        double open_ms;        /* of build_ms: opening the snapshot */
} cs_outbox_stats_t;

/* 1 if the child's database has civisync_outbox, 0 if not, -1 on error. */
int cs_outbox_exists(MYSQL *db, char *errstr, size_t errstr_size);

/* Reads up to CS_OUTBOX_BATCH_MAX outbox rows in seq order, maps each row
 * to its aggregate root (nested rows through the parent column the trigger
 * recorded), builds those roots' documents in one consistent snapshot
 * (snap, opened by the caller on db with cs_snap_open and kept between
 * drains: renewed here, ended before returning) as an incremental run does (a root that is gone or no longer passes its
 * row filter: a tombstone), sends them, waits until every one is
 * delivered, and only then deletes exactly the outbox rows it read.
 * The metadata gate goes first: when rows were read, every metadata table
 * whose fingerprint differs from gate (borrowed object, table -> the
 * fingerprint last delivered; updated here; NULL: no gate) is sent and
 * delivered, read in the same snapshot as the documents, before them (a
 * new option value, relationship type or custom field reaches the master
 * before the data that uses it, as in a cron run).
 * Returns 0 (stats filled; rows 0 when the outbox was empty) or -1 with
 * errstr; after -1 the rows are still in the outbox (sent again later).
 * Test-only: CIVISYNC_TEST_CRASH_AFTER_SEND=1 in the environment makes the
 * process _exit(1) after the delivery and before the delete. */
int cs_outbox_drain(const cs_producer_conf_t *conf, MYSQL *db,
                    cs_snap_t *snap, cs_sink_t *sink, json_t *gate,
                    cs_outbox_stats_t *stats, char *errstr,
                    size_t errstr_size);

#endif
