/* input_read.h — civisync-consume --input: a reader thread that reads, splits and parses NDJSON records ahead of the apply. */
#ifndef CIVISYNC_INPUT_READ_H
#define CIVISYNC_INPUT_READ_H

#include <stdio.h>
#include <jansson.h>

/* Batches read and parsed ahead of the one being applied (each up to
 * batch_documents records). The reader starts a batch only when fewer than
 * this many wait, so at most 1 + CS_INPUT_READ_AHEAD batches of parsed
 * documents are in memory: one keeps the reader busy while the apply waits
 * on the master. */
#define CS_INPUT_READ_AHEAD 1

/* One NDJSON record, owned by its batch. */
typedef struct cs_input_rec_s {
        char *key;
        char *value;            /* NULL = tombstone */
        size_t value_len;
        long lineno;
        json_t *doc;            /* NEW: value parsed ahead by cs_doc_parse, or
                                   NULL (tombstone, or refused: the apply
                                   parses it again and reports why) */
} cs_input_rec_t;

/* A batch handed from the reader to the apply. */
typedef struct cs_input_batch_s {
        cs_input_rec_t *recs;
        size_t n;
        struct cs_input_batch_s *next;  /* (cs_input_reader_recycle's list) */
} cs_input_batch_t;

typedef struct cs_input_reader_s cs_input_reader_t;

/* Starts the reader thread on fp (path names it in errors: "stdin" for a
 * pipe, where a last line without its end of line is an error). Records
 * come in batches of up to batch records; values over max_document_bytes
 * (0: no limit) are left unparsed. NULL with errstr on failure. */
cs_input_reader_t *cs_input_reader_start(FILE *fp, const char *path, int from_stdin,
                                         size_t batch, size_t max_document_bytes,
                                         char *errstr, size_t errstr_size);

/* The next batch, in file order: 1 with *out (NEW: free it with
 * cs_input_batch_free), 0 at the end of the input, -1 when reading stopped
 * on an error (errstr names the file and line; the records of the
 * unfinished batch before it are not returned) or on a stop request. */
int cs_input_reader_next(cs_input_reader_t *r, cs_input_batch_t **out,
                         char *errstr, size_t errstr_size);

/* Hands an applied batch back (NULL is a no-op): the reader thread frees
 * it before it reads the next one, off the apply's thread. */
void cs_input_reader_recycle(cs_input_reader_t *r, cs_input_batch_t *b);

/* Lines read so far. */
long cs_input_reader_lines(cs_input_reader_t *r);

/* Stops the thread (if still reading), waits for it and frees everything
 * not handed out. NULL is a no-op. */
void cs_input_reader_free(cs_input_reader_t *r);

void cs_input_batch_free(cs_input_batch_t *b);

#endif
