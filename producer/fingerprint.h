/* fingerprint.h — per-row hashes of a synced table: server-side bucket sums, row fetches and the binary state files. */
#ifndef CS_FINGERPRINT_H
#define CS_FINGERPRINT_H

#include <stddef.h>
#include <stdint.h>
#include <mysql.h>
#include "source.h"

/* One row as remembered between runs: 16 bytes. */
typedef struct cs_fp_row_s {
        uint32_t id;          /* the row's (stored) id */
        uint32_t parent;      /* nested rows: the root's id; roots: 0 */
        uint64_t hash;        /* 64-bit hash of the document's columns */
} cs_fp_row_t;

/* A growable array of rows, sorted by id once complete. */
typedef struct cs_fp_set_s {
        cs_fp_row_t *v;
        size_t n, cap;
} cs_fp_set_t;

/* Aggregate of the rows of one id bucket. */
typedef struct cs_fp_bucket_s {
        long long b;          /* raw id / CS_FP_BUCKET_IDS */
        long long n;          /* rows */
        uint64_t x;           /* XOR of the row hashes */
} cs_fp_bucket_t;

void cs_fp_set_free(cs_fp_set_t *set);
int cs_fp_set_push(cs_fp_set_t *set, const cs_fp_row_t *row);
void cs_fp_set_sort(cs_fp_set_t *set);
/* Bucket of a stored id for a source with id_scale. */
long long cs_fp_bucket_of(uint32_t id, int id_scale);

/* Reads a state file written by cs_fp_file_write into *set (appended).
 * Checks the magic, the row count against the size, and the sort order. */
int cs_fp_file_load(const char *path, cs_fp_set_t *set, char *errstr,
                    size_t errstr_size);
/* Writes set to path (created exclusively), fsyncs and closes it. */
int cs_fp_file_write(const char *path, const cs_fp_set_t *set, char *errstr,
                     size_t errstr_size);

/* Streams (id, hash, parent) of src's rows matching cond (see cs_src_sql;
 * NULL = all rows) into *set, unsorted. Session variables used in cond must
 * be set by the caller. */
int cs_fp_fetch(MYSQL *db, const cs_src_t *src, const char *cond,
                cs_fp_set_t *set, char *errstr, size_t errstr_size);
/* The server's per-bucket aggregates of src, ascending (NEW array). */
int cs_fp_server_buckets(MYSQL *db, const cs_src_t *src, cs_fp_bucket_t **out,
                         size_t *count, char *errstr, size_t errstr_size);
/* The same aggregates computed from a sorted set (NEW array). */
int cs_fp_set_buckets(const cs_fp_set_t *set, int id_scale,
                      cs_fp_bucket_t **out, size_t *count, char *errstr,
                      size_t errstr_size);

#endif
