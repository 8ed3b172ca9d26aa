/* gate.h — the producer's half of the metadata gate: sends the child's metadata fingerprint on every run. */
#ifndef CS_PRODUCER_GATE_H
#define CS_PRODUCER_GATE_H

#include <stddef.h>
#include <mysql.h>
#include <jansson.h>
#include "sink.h"

/* Reads every metadata table of the registry that the child has and
 * records each table's fingerprint (its parts' digests, joined by commas)
 * in new_gate (borrowed object, filled: table -> string). When sink is not
 * NULL it sends a table's fingerprint documents (docs/FORMAT.md §7.1),
 * keyed <PREFIX>/civisync_metadata/<table>/<part>, if force is set or
 * old_gate (borrowed, may be NULL: the last delivered run's record) holds a
 * different fingerprint for it; so a run with unchanged metadata sends
 * nothing. *docs receives the number sent. 0, or -1 with errstr (the run
 * then fails: state untouched). */
int cs_gate_send(MYSQL *db, cs_sink_t *sink, const char *prefix,
                 size_t max_document_bytes, const json_t *old_gate, int force,
                 json_t *new_gate, long long *docs, char *errstr,
                 size_t errstr_size);

#endif
