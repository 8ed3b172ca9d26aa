/* input.c — civisync-consume --input: applies an NDJSON file or stdin (civisync-produce --output) batch by batch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "log.h"
#include "input_read.h"
#include "loop.h"

/* The error of a run stopped by a signal after line applied_to. */
static void interrupted(const char *path, long applied_to, char *errstr,
                        size_t errstr_size)
{
        snprintf(errstr, errstr_size, "interrupted at %s:%ld (applied up to the "
                 "last batch; re-running the file is harmless)", path, applied_to);
}

/* Applies and commits the buffered records (one transaction). */
static int input_flush(cs_apply_t *ap, const char *path, const char *prefix,
                       const cs_input_rec_t *recs, cs_apply_msg_t *msgs, size_t n,
                       char *errstr, size_t errstr_size)
{
        char why[1024];
        int rc = 0;

        for (size_t i = 0; i < n; i++)
                msgs[i] = (cs_apply_msg_t){
                        .prefix = prefix, .key = recs[i].key,
                        .key_len = strlen(recs[i].key), .value = recs[i].value,
                        .value_len = recs[i].value_len, .parsed = recs[i].doc };
        if (cs_apply_begin(ap, errstr, errstr_size) != CS_APPLY_OK)
                return -1;
        if (cs_apply_messages(ap, msgs, n, why, sizeof(why)) != CS_APPLY_OK) {
                snprintf(errstr, errstr_size, "%s:%ld..%ld: %s", path,
                         recs[0].lineno, recs[n - 1].lineno, why);
                cs_apply_rollback(ap);
                rc = -1;
        } else if (cs_apply_commit(ap, errstr, errstr_size) != CS_APPLY_OK) {
                rc = -1;
        }
        for (size_t i = 0; i < n; i++) {
                if (msgs[i].rejected && rc == 0)
                        cs_error("%s:%ld: rejected: %s", path, recs[i].lineno,
                                 msgs[i].rejected);
                free(msgs[i].rejected);
                msgs[i].rejected = NULL;
        }
        return rc;
}

int cs_loop_input(const cs_consumer_conf_t *conf, cs_apply_t *ap,
                  const char *path, const char *prefix, char *errstr,
                  size_t errstr_size)
{
        int from_stdin = !strcmp(path, "-");
        FILE *fp = from_stdin ? stdin : fopen(path, "r");
        size_t batch = (size_t)conf->batch_documents;
        cs_apply_msg_t *msgs = calloc(batch, sizeof(*msgs));
        cs_input_reader_t *reader = NULL;
        cs_input_batch_t *b = NULL;
        long applied_to = 0;
        int rc = -1, next;

        if (!fp) {
                snprintf(errstr, errstr_size, "%s: %m", path);
                goto done;
        }
        if (!msgs) {
                snprintf(errstr, errstr_size, "out of memory");
                goto done;
        }
        if (cs_apply_prepare_prefix(ap, prefix, errstr, errstr_size) != CS_APPLY_OK)
                goto done;
        if (from_stdin)
                path = "stdin";
        /* A reader thread reads and parses the next batches while this one
         * is applied (input_read.c). */
        if (!(reader = cs_input_reader_start(fp, path, from_stdin, batch,
                                             conf->max_document_bytes, errstr,
                                             errstr_size)))
                goto done;
        while ((next = cs_input_reader_next(reader, &b, errstr, errstr_size)) == 1) {
                if (input_flush(ap, path, prefix, b->recs, msgs, b->n, errstr,
                                errstr_size) == -1)
                        goto done;
                applied_to = b->recs[b->n - 1].lineno;
                cs_input_reader_recycle(reader, b);
                b = NULL;
                if (cs_loop_stopping()) {
                        interrupted(path, applied_to, errstr, errstr_size);
                        goto done;
                }
        }
        if (next == -1) {
                if (cs_loop_stopping())
                        interrupted(path, applied_to, errstr, errstr_size);
                goto done;
        }
        if (cs_input_reader_lines(reader) == 0 &&
            cs_apply_begin(ap, errstr, errstr_size) == CS_APPLY_OK &&
            cs_apply_commit(ap, errstr, errstr_size) != CS_APPLY_OK)
                goto done;
        rc = cs_apply_stats(ap)->rejected ? -1 : 0;
        if (rc == -1)
                snprintf(errstr, errstr_size, "%s: %lld record(s) rejected (see log)",
                         path, cs_apply_stats(ap)->rejected);
done:
        cs_input_batch_free(b);
        cs_input_reader_free(reader);
        free(msgs);
        if (fp && !from_stdin)
                fclose(fp);
        return rc;
}
