/* consume_util.h — helpers of the consumer's integration tests (test_consume.c, test_recovery.c). */
#ifndef CS_IT_CONSUME_UTIL_H
#define CS_IT_CONSUME_UTIL_H

#include <jansson.h>
#include <mysql.h>
#include <stddef.h>
#include <sys/types.h>

#include "harness.h"

/* A consumer config with its own group (g_<master>) and dead-letter topic;
 * returns a path (one of 4 static buffers reused in turn). */
char *ct_consumer_conf(const char *master, const char *dlq,
                       const char *prefixes, const char *extra);
/* civisync-consume -c conf --once. */
it_run_t ct_consume(const char *conf);
/* ct_consume, which must exit 0 without rejections. */
void ct_consume_ok(const char *conf);
/* civisync-produce -c conf --complete, which must exit 0. */
void ct_produce_ok(const char *conf);
/* The documents of a complete sync of child as {key, value} records (NEW
 * array of objects; control documents and the metadata gate's fingerprints
 * left out unless with_control). */
json_t *ct_child_docs(const char *prefix, const char *child, int with_control);
/* The record of key in docs (BORROWED), or NULL. */
json_t *ct_find_doc(json_t *docs, const char *key);
/* The first record whose key starts with prefix/table/ (BORROWED). */
json_t *ct_first_doc(json_t *docs, const char *prefix, const char *table);
/* Sends value (NULL: a tombstone) as compact JSON to topic/partition. */
void ct_send_json(const char *topic, int partition, const char *key,
                  const json_t *value);
/* Sends a {key, value} record of ct_child_docs. */
void ct_send_rec(const char *topic, int partition, const json_t *rec);
/* Master id of a child row through the mapping (0 if unmapped). */
long long ct_master_id(MYSQL *m, const char *prefix, const char *table,
                       long long child_id);
/* A content fingerprint of a master table restricted to prefix's rows,
 * keyed by child id, without ids and id lists. */
void ct_fingerprint(MYSQL *m, const char *db, const char *prefix,
                    const char *table, long long *count, long long *sum);
/* Starts argv (argv[0] a path) with stdout and stderr to log. */
pid_t ct_spawn(const char *log, const char *const argv[]);
/* Creates topic civisync.dlq-<name> (1 partition), named in out. */
void ct_dlq_topic(char *out, size_t size, const char *name);

#endif
