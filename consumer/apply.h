/* apply.h — applies civisync documents to the master through the mapping tables. */
#ifndef CS_APPLY_H
#define CS_APPLY_H

#include <stddef.h>
#include <jansson.h>
#include <mysql.h>
#include "conf.h"

typedef struct cs_apply_s cs_apply_t;

/* Outcome of applying one message. */
typedef enum {
        CS_APPLY_OK = 0,        /* applied (or a harmless no-op) */
        CS_APPLY_REJECTED = 1,  /* can never apply: dead-letter it */
        CS_APPLY_RETRY = -1,    /* transient (DB down, deadlock): roll back the
                                   batch, reconnect, try again */
        CS_APPLY_STOPPED = 3    /* cs_apply_assign: the partition must not be
                                   applied (retention gap); errstr says why
                                   and what to do */
} cs_apply_rc_t;

/* Connects to the master and creates civisync's own tables if missing. */
cs_apply_t *cs_apply_new(const cs_consumer_conf_t *conf, char *errstr,
                         size_t errstr_size);
void cs_apply_free(cs_apply_t *ap);
/* Drops and re-opens the connection (after CS_APPLY_RETRY). */
int cs_apply_reconnect(cs_apply_t *ap, char *errstr, size_t errstr_size);

/* Creates the prefix's mapping table if needed. Call outside a batch (DDL
 * commits implicitly) for every prefix a batch is about to touch.
 * CS_APPLY_REJECTED (errstr says why) when the master refuses the prefix:
 * invalid, or differing only in case from one the master has. */
cs_apply_rc_t cs_apply_prepare_prefix(cs_apply_t *ap, const char *prefix,
                                      char *errstr, size_t errstr_size);

/* Batch boundaries: one DB transaction per batch. */
cs_apply_rc_t cs_apply_begin(cs_apply_t *ap, char *errstr, size_t errstr_size);
cs_apply_rc_t cs_apply_commit(cs_apply_t *ap, char *errstr, size_t errstr_size);
void cs_apply_rollback(cs_apply_t *ap);

/* flags of cs_apply_msg_t */
#define CS_APPLY_F_HISTORICAL 1 /* re-read by a rewind replay (offset below
                                   its replay end): control documents are
                                   skipped */

/* One message for cs_apply_messages. */
typedef struct cs_apply_msg_s {
        const char *prefix;             /* the topic's prefix */
        const char *key;
        size_t key_len;
        const char *value;              /* NULL = tombstone */
        size_t value_len;
        int flags;                      /* CS_APPLY_F_* */
        json_t *parsed;                 /* optional BORROWED: value already
                                           parsed by cs_doc_parse (on a
                                           reader thread, input_read.c); the
                                           caller keeps it and frees it after
                                           cs_apply_messages */
        char *rejected;                 /* out: NEW string (caller frees) when
                                           the message can never apply */
} cs_apply_msg_t;

/* Applies msgs[0..n) in order inside the open batch, each with the same
 * result as on its own (a tombstone when value is NULL): rejected messages
 * get ->rejected set (and leave no trace: each runs under a savepoint), the
 * others are applied. Mappings are prefetched, and
 * runs of documents whose rows are all new are written with multi-row
 * INSERTs. Returns OK, or RETRY (errstr) when the batch must roll back. */
cs_apply_rc_t cs_apply_messages(cs_apply_t *ap, cs_apply_msg_t *msgs,
                                size_t n, char *errstr, size_t errstr_size);

/* Inside the open batch: records that every message of topic/partition
 * below next_offset is applied (civisync_offset), so the offset commits
 * with the rows. At commit, a rewind replay whose partitions have all
 * reached their replay end is completed (sweep). RETRY on DB errors;
 * REJECTED (nothing recorded) when the master refuses the prefix (see
 * cs_apply_prepare_prefix). */
cs_apply_rc_t cs_apply_offset(cs_apply_t *ap, const char *prefix,
                              const char *topic, int partition,
                              long long next_offset, char *errstr,
                              size_t errstr_size);

/* Inside the open batch: records a dead-lettered message in
 * civisync_dead_letter (prefix may be NULL, key may be NULL). */
cs_apply_rc_t cs_apply_dead_letter(cs_apply_t *ap, const char *prefix,
                                   const char *topic, int partition,
                                   long long offset, const char *key,
                                   size_t key_len, const char *error,
                                   char *errstr, size_t errstr_size);

/* On assignment of topic/partition (own transaction; call outside a batch):
 * decides where to start from the group's committed offset (-1 = none;
 * committed_ours = it carries civisync's commit metadata), this master's
 * civisync_offset row and the watermarks (low/high, -1 unknown):
 *   no row               -> the beginning (this master applied nothing);
 *   our commit or none   -> the applied offset (skips what a crash between
 *                           DB commit and offset commit left uncommitted);
 *   foreign commit above -> the commit (operator skipped forward; warned),
 *                           except a commit at `low` while the applied
 *                           offset is below it (gone from the broker): that
 *                           is the recovery of OPERATIONS.md 9.2, a rewind;
 *   foreign commit below -> a rewind: replay from the commit to `high` as a
 *                           complete sync of the prefix (mark and sweep).
 * *start receives the offset (or -2 = beginning), *replay_end the end of an
 * active rewind replay on this partition (-1 none). CS_APPLY_REJECTED when
 * the master refuses the prefix (see cs_apply_prepare_prefix).
 * retention_s is the topic's tombstone retention in force (the loop's
 * choice, cs_topics_retention_choose; 0 = no check): a partition last
 * applied (or seen at its end) longer ago is refused with CS_APPLY_STOPPED,
 * or replayed when on_retention_gap = "resync". */
cs_apply_rc_t cs_apply_assign(cs_apply_t *ap, const char *prefix,
                              const char *topic, int partition,
                              int partition_count, long long committed,
                              int committed_ours, long long low,
                              long long high, long long retention_s,
                              long long *start, long long *replay_end,
                              char *errstr, size_t errstr_size);

/* Operator action on the sweep the sweep guard held for prefix (own
 * transaction; call outside a batch): release = 1 applies it (*removed
 * receives the rows deleted), 0 discards it. -1 with errstr when nothing
 * is held or on a database error. */
int cs_apply_held_sweep(cs_apply_t *ap, const char *prefix, int release,
                        long long *removed, char *errstr, size_t errstr_size);

/* Marks prefix's dead letters acknowledged (all, or those with id <=
 * before when before > 0); *count receives how many. Own transaction.
 * Returns 0, or -1 with errstr. */
int cs_apply_ack_dead_letters(cs_apply_t *ap, const char *prefix,
                              long long before, long long *count,
                              char *errstr, size_t errstr_size);

/* Records that topic/partition stands at its end now (civisync_offset.
 * seen_at; autocommit, outside a batch). RETRY on DB errors. */
cs_apply_rc_t cs_apply_seen(cs_apply_t *ap, const char *topic, int partition,
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
        long long skipped;      /* historical control documents of a replay */
} cs_apply_stats_t;
const cs_apply_stats_t *cs_apply_stats(const cs_apply_t *ap);

#endif
