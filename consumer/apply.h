/* apply.h — applies civisync documents to the master through the mapping tables. */
#ifndef CS_APPLY_H
#define CS_APPLY_H

#include <stddef.h>
#include <mysql.h>
#include "conf.h"

typedef struct cs_apply_s cs_apply_t;

/* Outcome of applying one message. */
typedef enum {
        CS_APPLY_OK = 0,        /* applied (or a harmless no-op) */
        CS_APPLY_REJECTED = 1,  /* can never apply: dead-letter it */
        CS_APPLY_RETRY = -1     /* transient (DB down, deadlock): roll back the
                                   batch, reconnect, try again */
} cs_apply_rc_t;

/* Connects to the master and creates civisync's own tables if missing. */
cs_apply_t *cs_apply_new(const cs_consumer_conf_t *conf, char *errstr,
                         size_t errstr_size);
void cs_apply_free(cs_apply_t *ap);
/* Drops and re-opens the connection (after CS_APPLY_RETRY). */
int cs_apply_reconnect(cs_apply_t *ap, char *errstr, size_t errstr_size);

/* Creates the prefix's mapping table if needed. Call outside a batch (DDL
 * commits implicitly) for every prefix a batch is about to touch. */
cs_apply_rc_t cs_apply_prepare_prefix(cs_apply_t *ap, const char *prefix,
                                      char *errstr, size_t errstr_size);

/* Batch boundaries: one DB transaction per batch. */
cs_apply_rc_t cs_apply_begin(cs_apply_t *ap, char *errstr, size_t errstr_size);
cs_apply_rc_t cs_apply_commit(cs_apply_t *ap, char *errstr, size_t errstr_size);
void cs_apply_rollback(cs_apply_t *ap);

/* Applies one message of topic prefix `prefix` inside the open batch.
 * value NULL = tombstone for key. A REJECTED message leaves no trace (it
 * runs under a savepoint). errstr explains REJECTED and RETRY. */
cs_apply_rc_t cs_apply_message(cs_apply_t *ap, const char *prefix,
                               const char *key, size_t key_len,
                               const char *value, size_t value_len,
                               char *errstr, size_t errstr_size);

/* Counters since start. */
typedef struct cs_apply_stats_s {
        long long documents;
        long long rows_upserted;
        long long rows_deleted;
        long long tombstones;
        long long rejected;
        long long sweeps;
        long long parked;       /* documents waiting for a required reference */
} cs_apply_stats_t;
const cs_apply_stats_t *cs_apply_stats(const cs_apply_t *ap);

#endif
