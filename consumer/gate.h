/* gate.h — the consumer's half of the metadata gate: compares a child's metadata fingerprint with the master's, stores and shows the differences. */
#ifndef CS_CONSUMER_GATE_H
#define CS_CONSUMER_GATE_H

#include <stddef.h>
#include <stdio.h>
#include <mysql.h>

#include "metadata.h"

/* Lines of differences --status shows per prefix (the count is complete). */
#define CS_GATE_STATUS_SHOW 20

/* Foreign keys of one master metadata table that the additive sync reads. */
#define CS_GATE_FKS_MAX 64

/* What a metadata document waits for before all its rows can be created:
 * a row of per-child data (table, child_id: the document is parked until
 * the prefix's mapping has it), or, with table "", a metadata row another
 * document brings (retried after each batch). */
typedef struct cs_gate_wait_s {
        int waiting;
        char table[72];
        long long child_id;
        char reason[512];
} cs_gate_wait_t;

/* civisync_metadata_check, civisync_metadata_diff and civisync_gate_seen
 * (DDL; call outside a transaction). 0 or -1 with errstr. */
int cs_gate_create_tables(MYSQL *db, char *errstr, size_t errstr_size);

/* Applies one metadata document of prefix inside the open batch: creates
 * the rows the master lacks (cs_gate_add; map: the prefix's mapping
 * table), compares the document with the master's rows of the same id
 * range and replaces that range's stored differences. A tombstone (value
 * NULL) is ignored. *gate_run receives the producer run that sent it (0:
 * none), also when it is refused. Returns 0, 2 when some rows wait
 * (*wait: park the document; what could be done is done), 1 when the
 * document is invalid (errstr: dead-letter it; nothing written), -1 on a
 * database error (*dberr = mysql_errno, errstr). */
int cs_gate_apply(MYSQL *db, const char *prefix, const char *map,
                  const char *key, size_t key_len, const char *value,
                  size_t value_len, size_t max_document_bytes,
                  cs_gate_wait_t *wait, long long *gate_run,
                  unsigned int *dberr, char *errstr, size_t errstr_size);

/* Records that the metadata document under key, sent by producer run
 * gate_run (> 0; 0 records nothing), has been applied or refused. 0, or
 * -1 (*dberr, errstr). */
int cs_gate_seen(MYSQL *db, const char *prefix, const char *key,
                 size_t key_len, long long gate_run, unsigned int *dberr,
                 char *errstr, size_t errstr_size);

/* How many metadata document keys of prefix have been applied from run
 * gate_run or a later one: run R's entity documents wait until that
 * reaches the number of documents R sent. -1 on error (*dberr, errstr). */
long long cs_gate_run_seen(MYSQL *db, const char *prefix, long long gate_run,
                           unsigned int *dberr, char *errstr, size_t errstr_size);

/* gate_add.c: creates on the master, with the child's id, every row of
 * child (with values) that master (the master's rows of the same range;
 * NULL: the master lacks the table, nothing is created) lacks. Columns
 * are the master's own (others left out); references to per-child data
 * are translated through map; a row that cannot be created gets its
 * reason in reasons[row] (NEW string) and may set *wait. *created counts
 * the rows created. 0, or -1 on a database error (*dberr, errstr). */
int cs_gate_add(MYSQL *db, const char *map, const cs_meta_table_t *child,
                const cs_meta_table_t *master, char **reasons,
                cs_gate_wait_t *wait, long long *created, unsigned int *dberr,
                char *errstr, size_t errstr_size);

/* 1 when prefix has a metadata row recorded as changed (a conflict) at
 * table id `id`, 0 when not, -1 on error (*dberr, errstr). */
int cs_gate_conflict(MYSQL *db, const char *prefix, const char *table,
                     long long id, char *columns, size_t columns_size,
                     unsigned int *dberr, char *errstr, size_t errstr_size);

/* --status: the prefix's gate section (tables checked, differences with
 * table, row and columns). Prints nothing when the tables are missing. */
void cs_gate_status(MYSQL *db, const char *prefix, FILE *out);

#endif
