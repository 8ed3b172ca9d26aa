/* loop.h — the consumer-group loop: batches, DB commit, then offset commit. */
#ifndef CS_LOOP_H
#define CS_LOOP_H

#include <stddef.h>
#include "apply.h"
#include "conf.h"

/* Consumes the allowed civisync topics as the configured group and applies
 * them. once: stop when every assigned partition is drained to its end.
 * resync_prefix (may be NULL): rewind that prefix's partitions to the
 * beginning when first assigned, exactly as an operator's
 * kafka-consumer-groups --reset-offsets --to-earliest would, so the topic
 * is replayed as a complete sync (mark and sweep at its current end).
 * Returns 0; CS_LOOP_STOPPED when stopped by cs_loop_stop (SIGINT/SIGTERM)
 * with messages left unread (logged); or -1 with errstr (a fatal error, a
 * --once run whose brokers never answered, or a prefix that had to be
 * stopped, e.g. its committed offset is no longer on the broker). */
#define CS_LOOP_STOPPED 1
int cs_loop_run(const cs_consumer_conf_t *conf, cs_apply_t *ap, int once,
                const char *resync_prefix, char *errstr, size_t errstr_size);
/* Applies an NDJSON file written by civisync-produce --output ("-" =
 * stdin); in input.c. */
int cs_loop_input(const cs_consumer_conf_t *conf, cs_apply_t *ap,
                  const char *path, const char *prefix, char *errstr,
                  size_t errstr_size);
/* Set by the signal handler. */
void cs_loop_stop(void);
/* 1 once cs_loop_stop was called. */
int cs_loop_stopping(void);

#endif
