/* fingerprint.h — per-row hashes of a synced table: streamed id-ordered row scans hashed by the producer, and the binary state files read and written as streams. */
#ifndef CS_FINGERPRINT_H
#define CS_FINGERPRINT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <mysql.h>
#include "source.h"

/* One row as remembered between runs: 16 bytes. */
typedef struct cs_fp_row_s {
        uint32_t id;          /* the row's (stored) id */
        uint32_t parent;      /* nested rows: the root's id; roots: 0 */
        uint64_t hash;        /* 64-bit hash of the document's columns */
} cs_fp_row_t;

/* The 64-bit hash of one row given as n text-protocol values (vals[i] NULL
 * for SQL NULL, lens[i] its byte length). The input is encoded without
 * ambiguity (per value: NULL marker or byte length, then the bytes), and
 * a change confined to one 8-byte word of that encoding always changes the
 * hash (every step is a bijection of the state). */
uint64_t cs_fp_row_hash(char **vals, const unsigned long *lens, size_t n);

/* Called for each row of a scan, in strictly ascending id order. Return 0
 * to continue, -1 to stop with errstr set. */
typedef int (cs_fp_row_cb)(const cs_fp_row_t *row, void *opaque,
                           char *errstr, size_t errstr_size);

/* Runs sql, the scan of src (cs_src_sql CS_SRC_FP_SCAN ordered by `id`),
 * and streams every row (mysql_use_result, one row in memory at a time)
 * in ascending stored-id order inside the connection's current
 * transaction, hashes its document columns (CS_COL_OMIT excluded) and
 * calls cb. Checks that ids fit uint32 and ascend strictly. The
 * connection is busy until it returns. */
int cs_fp_scan(MYSQL *db, const cs_src_t *src, const char *sql,
               cs_fp_row_cb *cb, void *opaque,
               char *errstr, size_t errstr_size);

/* Sequential reader of a state file written by cs_fp_out_*. */
typedef struct cs_fp_in_s {
        FILE *fp;
        uint64_t count, done;
        uint32_t last;
        char path[4096];
} cs_fp_in_t;

/* Opens path and checks the magic and that the row count matches the
 * size. 0 or -1 with errstr. */
int cs_fp_in_open(cs_fp_in_t *in, const char *path, char *errstr,
                  size_t errstr_size);
/* Reads the next row: 1 = *row filled, 0 = end, -1 = error (short read,
 * rows not sorted). */
int cs_fp_in_next(cs_fp_in_t *in, cs_fp_row_t *row, char *errstr,
                  size_t errstr_size);
void cs_fp_in_close(cs_fp_in_t *in);

/* Sequential writer of a state file: rows must come in ascending id
 * order; the count in the header is filled in by cs_fp_out_finish. */
typedef struct cs_fp_out_s {
        FILE *fp;
        uint64_t count;
        char path[4096];
} cs_fp_out_t;

/* Creates (truncates) path and writes the header. */
int cs_fp_out_open(cs_fp_out_t *out, const char *path, char *errstr,
                   size_t errstr_size);
int cs_fp_out_row(cs_fp_out_t *out, const cs_fp_row_t *row, char *errstr,
                  size_t errstr_size);
/* Writes the count, fsyncs and closes. On error the file is removed. */
int cs_fp_out_finish(cs_fp_out_t *out, char *errstr, size_t errstr_size);
/* Closes (if open) and removes the file: nothing is kept. */
void cs_fp_out_discard(cs_fp_out_t *out);

#endif
