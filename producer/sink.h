/* sink.h — where produced documents go: Kafka, an NDJSON file, or nowhere (dry run). */
#ifndef CS_SINK_H
#define CS_SINK_H

#include <stddef.h>
#include <jansson.h>
#include "conf.h"

typedef struct cs_sink_s cs_sink_t;

/* Kafka sink: idempotent producer (acks=all, lz4) on topic; fails if the
 * topic does not exist (civisync never auto-creates topics). */
cs_sink_t *cs_sink_kafka_new(const cs_producer_conf_t *conf, const char *topic,
                             char *errstr, size_t errstr_size);
/* NDJSON sink: lines {"key":K,"partition":P,"value":DOC|null} written to
 * path.tmp and renamed onto path by cs_sink_commit; path "-" writes them
 * to stdout as they come (SIGPIPE ignored: a closed pipe fails the send). */
cs_sink_t *cs_sink_file_new(const char *path, char *errstr, size_t errstr_size);
/* Dry run: counts only. */
cs_sink_t *cs_sink_dryrun_new(void);

int cs_sink_partition_count(const cs_sink_t *sink);
/* The partition a key goes to (consistent hash of the key). */
int cs_sink_partition_for(const cs_sink_t *sink, const char *key);

/* Sends one message; value NULL is a tombstone. partition -1 = by key.
 * The sink copies key and value. Returns 0, or -1 (fatal, or interrupted). */
int cs_sink_send(cs_sink_t *sink, const char *key, const char *value,
                 size_t value_len, int partition, char *errstr,
                 size_t errstr_size);
/* The metadata gate the entity documents sent from now on are produced
 * under (FORMAT.md §7.1): run is the producer run that last sent metadata
 * documents, docs how many it sent. run or docs 0: no stamp. */
void cs_sink_set_gate(cs_sink_t *sink, long long run, long long docs);
/* Sends one top-level entity document under key (partition -1 = by key):
 * stamps it with the gate (doc is BORROWED and modified), serializes it
 * (cs_doc_dump, max_bytes) and sends it. 0, or -1 with errstr. */
int cs_sink_send_doc(cs_sink_t *sink, const char *key, json_t *doc,
                     size_t max_bytes, int partition, char *errstr,
                     size_t errstr_size);
/* Waits until everything sent so far is delivered (or timeout). Returns 0
 * only if every message's delivery succeeded; else -1 with the first error. */
int cs_sink_flush(cs_sink_t *sink, int timeout_ms, char *errstr,
                  size_t errstr_size);
/* Makes the output durable (file: fsync + rename). Kafka: no-op. */
int cs_sink_commit(cs_sink_t *sink, char *errstr, size_t errstr_size);
/* Messages and bytes handed to the sink. */
long long cs_sink_sent(const cs_sink_t *sink);
long long cs_sink_bytes(const cs_sink_t *sink);
/* Set by the signal handler: sends stop waiting and fail. */
void cs_sink_interrupt(void);
/* Destroys without committing (a file sink removes its temp file). */
void cs_sink_destroy(cs_sink_t *sink);

#endif
