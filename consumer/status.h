/* status.h — civisync-consume --status: offsets, lag, syncs, rows, parking and dead letters per prefix. */
#ifndef CS_STATUS_H
#define CS_STATUS_H

#include <stddef.h>
#include <stdio.h>
#include "conf.h"

/* Prints the state of every prefix known to the master (civisync_prefix)
 * or listed in conf->prefixes as readable tables on out. Read-only on the
 * master; Kafka figures are left out (with a note) when the brokers cannot
 * be reached. Returns 0, or -1 with errstr when the master is unreachable. */
int cs_status_print(const cs_consumer_conf_t *conf, FILE *out, char *errstr,
                    size_t errstr_size);

#endif
