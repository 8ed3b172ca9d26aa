/* snapshot.h — reads a child's synced entities page by page inside one consistent snapshot. */
#ifndef CS_SNAPSHOT_H
#define CS_SNAPSHOT_H

#include <jansson.h>
#include <mysql.h>
#include "registry.h"
#include "source.h"

typedef struct cs_snap_s cs_snap_t;

/* Called once per root document. doc is BORROWED (the callback serializes
 * or copies it). Return 0 to continue, -1 to stop with errstr set. */
typedef int (cs_snap_emit_cb)(const cs_entity_t *root, long long child_id,
                              json_t *doc, void *opaque, char *errstr,
                              size_t errstr_size);

/* Opens a REPEATABLE READ, READ ONLY transaction WITH CONSISTENT SNAPSHOT on
 * db and loads the source (schema, legacy adaptation) of every registry
 * entity. NULL with errstr on error. db stays owned by the caller. */
cs_snap_t *cs_snap_open(MYSQL *db, const char *prefix, int batch_rows,
                        char *errstr, size_t errstr_size);
/* Number of root documents the snapshot will emit (for the ETA). */
int cs_snap_count(cs_snap_t *snap, long long *total, char *errstr,
                  size_t errstr_size);
/* The connection (inside the snapshot transaction). */
MYSQL *cs_snap_db(cs_snap_t *snap);
/* The sources of every registry entity, registry order (BORROWED). */
cs_src_t *cs_snap_sources(cs_snap_t *snap, size_t *count);
/* Emits every root entity in registry order, each with its nested rows. */
int cs_snap_run(cs_snap_t *snap, cs_snap_emit_cb *cb, void *opaque,
                char *errstr, size_t errstr_size);
/* Emits the documents of root entity ent whose ids are in ids[0..n)
 * (ascending, distinct), in id order. Ids that have no row are skipped. */
int cs_snap_emit_ids(cs_snap_t *snap, const cs_entity_t *ent,
                     const long long *ids, size_t n, cs_snap_emit_cb *cb,
                     void *opaque, char *errstr, size_t errstr_size);
/* The server's clock (unix seconds) read just before the current snapshot
 * began: a commit the snapshot does not see was made at or after it. */
long long cs_snap_started_at(const cs_snap_t *snap);
/* Ends the snapshot's transaction, keeping the loaded sources and SQL (the
 * connection is then in autocommit mode again). */
int cs_snap_end(cs_snap_t *snap, char *errstr, size_t errstr_size);
/* Ends the current transaction (if any) and opens a new consistent
 * snapshot with the sources loaded by cs_snap_open: a schema change since
 * then is not seen (a new cs_snap_open sees it). For a long-lived reader
 * (--follow) that must not read information_schema for every batch. */
int cs_snap_renew(cs_snap_t *snap, char *errstr, size_t errstr_size);
/* Files (FORMAT.md §20): what the snapshot did with the bytes of the file
 * documents it emitted, per cs_file_status_t (OK .. UNREADABLE). */
typedef struct cs_snap_file_stats_s {
        long long by_status[6];
        long long bytes;             /* bytes carried */
} cs_snap_file_stats_t;
/* The child's files directory (NULL: file documents say "not_sent") and
 * the largest file carried. dir is BORROWED for the snapshot's life. */
void cs_snap_set_files(cs_snap_t *snap, const char *dir, size_t max_bytes);
/* Counts since cs_snap_set_files. Borrowed. */
const cs_snap_file_stats_t *cs_snap_file_stats(const cs_snap_t *snap);
/* Logs the counts (a warning when a file was not carried); nothing when no
 * file document was emitted. */
void cs_snap_log_file_stats(const cs_snap_t *snap);

/* Ends the transaction and frees everything. */
void cs_snap_close(cs_snap_t *snap);

#endif
