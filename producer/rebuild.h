/* rebuild.h — civisync-produce --rebuild-state: records the child's current fingerprints as the incremental state, sending nothing. */
#ifndef CS_REBUILD_H
#define CS_REBUILD_H

#include <jansson.h>
#include <mysql.h>
#include "conf.h"

/* Opens one consistent snapshot of the child and computes the incremental
 * state of it, as a complete sync would leave it, without sending a thing:
 * for a child restored from the master (civisync-restore), whose rows the
 * master already holds. Fingerprint files are written with state_gen and
 * their paths appended to created (BORROWED array). *new_incr gets the NEW
 * "incremental" object. 0, or -1 with errstr. */
int cs_rebuild_state(const cs_producer_conf_t *conf, MYSQL *db,
                     long long state_gen, json_t *created, json_t **new_incr,
                     char *errstr, size_t errstr_size);

#endif
