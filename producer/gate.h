/* gate.h — the producer's half of the metadata gate: sends the child's metadata fingerprint on every run. */
#ifndef CS_PRODUCER_GATE_H
#define CS_PRODUCER_GATE_H

#include <stddef.h>
#include <mysql.h>
#include "sink.h"

/* Reads every metadata table of the registry that the child has and sends
 * its fingerprint documents (docs/FORMAT.md §7.1) to sink, keyed
 * <PREFIX>/civisync_metadata/<table>/<part>. *docs receives the number
 * sent. 0, or -1 with errstr (the run then fails: state untouched). */
int cs_gate_send(MYSQL *db, cs_sink_t *sink, const char *prefix,
                 size_t max_document_bytes, long long *docs, char *errstr,
                 size_t errstr_size);

#endif
