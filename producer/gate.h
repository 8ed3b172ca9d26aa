/* gate.h — the producer's half of the metadata gate: sends the child's metadata fingerprint on every run. */
#ifndef CS_PRODUCER_GATE_H
#define CS_PRODUCER_GATE_H

#include <stddef.h>
#include <mysql.h>
#include <jansson.h>
#include "sink.h"

/* cs_gate_send's flags. */
#define CS_GATE_FORCE 1 /* send every table, changed or not */
#define CS_GATE_QUIET 2 /* log the summary at debug level when nothing was
                           sent (--follow's drains) */

/* Reads every metadata table of the registry that the child has and
 * records each table's fingerprint (its parts' digests, joined by commas)
 * in new_gate (borrowed object, filled: table -> string). When sink is not
 * NULL it sends a table's fingerprint documents (docs/FORMAT.md §7.1),
 * keyed <PREFIX>/civisync_metadata/<table>/<part>, if flags has
 * CS_GATE_FORCE or old_gate (borrowed, may be NULL: the last delivered
 * run's record) holds a different fingerprint for it; so a run with
 * unchanged metadata sends nothing. What it sends is delivered (flushed)
 * before it returns. *docs receives the number sent. Each document sent
 * carries this run's id (civisync_gate_run); new_gate also records, under
 * "civisync_gate_run", the stamp [run, documents] of the last run that
 * sent documents (this one, or old_gate's), and sink (when not NULL) gets
 * it for the entity documents that follow (cs_sink_set_gate), so that the
 * consumer holds them until those metadata documents are applied
 * (FORMAT.md §7.1). 0, or -1 with errstr (the run then fails: state
 * untouched). */
int cs_gate_send(MYSQL *db, cs_sink_t *sink, const char *prefix,
                 size_t max_document_bytes, const json_t *old_gate, int flags,
                 json_t *new_gate, long long *docs, char *errstr,
                 size_t errstr_size);

#endif
