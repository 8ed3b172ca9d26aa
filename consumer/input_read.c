/* input_read.c — civisync-consume --input: a reader thread that reads, splits and parses NDJSON records ahead of the apply. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "doc.h"
#include "input_read.h"
#include "loop.h"

/* How the reader ended. */
typedef enum {
        READ_RUNNING = 0,
        READ_END,               /* end of input: every batch queued */
        READ_FAILED,            /* a bad line, or out of memory: errstr */
        READ_STOPPED            /* stop requested (free, or a signal) */
} read_state_t;

struct cs_input_reader_s {
        FILE *fp;
        const char *path;
        int from_stdin;
        size_t batch, max_document_bytes;
        pthread_t thread;
        int started;
        pthread_mutex_t mu;
        pthread_cond_t cv;      /* a batch queued, taken, or the state changed */
        cs_input_batch_t *queue[CS_INPUT_READ_AHEAD];
        size_t head, count;     /* ring of queued batches */
        cs_input_batch_t *spent;        /* applied batches for this thread
                                           to free (a list through ->next) */
        read_state_t state;
        int stop;               /* asked to stop (cs_input_reader_free) */
        long lineno;            /* lines read (under mu once shared) */
        char errstr[1024];
};

void cs_input_batch_free(cs_input_batch_t *b)
{
        if (!b)
                return;
        for (size_t i = 0; i < b->n; i++) {
                free(b->recs[i].key);
                free(b->recs[i].value);
                json_decref(b->recs[i].doc);
        }
        free(b->recs);
        free(b);
}

/* Splits a line as civisync-produce --output writes it,
 * {"key":K,"partition":P,"value":DOC}, without parsing DOC as part of the
 * record: the head (everything before ,"value": closed by a brace) is
 * parsed, and DOC's text is kept for the apply. The first ,"value": of a
 * line cannot be inside a string (its quote would be escaped), and it is a
 * member of the record only when the head parses as an object. A line of
 * another shape returns 0 (the caller parses it whole); 1 on success, -1
 * when out of memory. */
static int input_split(const char *line, size_t len, cs_input_rec_t *rec)
{
        static const char sep[] = ",\"value\":";
        const char *v = memmem(line, len, sep, sizeof(sep) - 1), *end;
        json_t *head, *key;
        char *head_text;
        int rc = 0;

        if (!v || line[0] != '{')
                return 0;
        end = line + len;
        while (end > v && (end[-1] == '\n' || end[-1] == '\r' ||
                           end[-1] == ' ' || end[-1] == '\t'))
                end--;
        if (end == v || end[-1] != '}')
                return 0;
        end--;          /* the record's closing brace */
        if (!(head_text = malloc((size_t)(v - line) + 2)))
                return -1;
        memcpy(head_text, line, (size_t)(v - line));
        head_text[v - line] = '}';
        head_text[v - line + 1] = '\0';
        head = json_loadb(head_text, (size_t)(v - line) + 1, 0, NULL);
        free(head_text);
        v += sizeof(sep) - 1;
        while (v < end && (*v == ' ' || *v == '\t'))
                v++;
        if (head && json_is_object(head) &&
            json_is_string(key = json_object_get(head, "key")) &&
            !json_object_get(head, "value") && v < end) {
                size_t vlen = (size_t)(end - v);
                if (!(rec->key = strdup(json_string_value(key)))) {
                        rc = -1;
                } else if (vlen == 4 && !memcmp(v, "null", 4)) {
                        rec->value = NULL;
                        rec->value_len = 0;
                        rc = 1;
                } else if (!(rec->value = malloc(vlen + 1))) {
                        free(rec->key);
                        rec->key = NULL;
                        rc = -1;
                } else {
                        memcpy(rec->value, v, vlen);
                        rec->value[vlen] = '\0';
                        rec->value_len = vlen;
                        rc = 1;
                }
        }
        json_decref(head);
        return rc;
}

/* A line of another shape, parsed whole: 0, or -1 with errstr. */
static int input_whole(const char *line, size_t len, long lineno, const char *path,
                       cs_input_rec_t *rec, char *errstr, size_t errstr_size)
{
        json_error_t jerr;
        json_t *rec_doc, *key, *value;
        int is_null;

        if (!(rec_doc = json_loadb(line, len, JSON_ALLOW_NUL, &jerr)) ||
            !json_is_string(key = json_object_get(rec_doc, "key")) ||
            !(value = json_object_get(rec_doc, "value"))) {
                snprintf(errstr, errstr_size, "%s:%ld: not a civisync NDJSON "
                         "record (%s)", path, lineno,
                         rec_doc ? "needs key and value" : jerr.text);
                json_decref(rec_doc);
                return -1;
        }
        rec->key = strdup(json_string_value(key));
        rec->value = json_is_null(value) ? NULL :
                     json_dumps(value, JSON_COMPACT | JSON_PRESERVE_ORDER);
        rec->value_len = rec->value ? strlen(rec->value) : 0;
        is_null = json_is_null(value);
        json_decref(rec_doc);   /* (value was borrowed from it) */
        if (!rec->key || (!is_null && !rec->value)) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        return 0;
}

/* Waits until the queue has room for another batch (so that at most
 * CS_INPUT_READ_AHEAD batches wait, and none is being filled meanwhile):
 * 0, or -1 when asked to stop. */
static int reader_wait_room(cs_input_reader_t *r)
{
        cs_input_batch_t *spent;
        int rc;

        pthread_mutex_lock(&r->mu);
        while (r->count == CS_INPUT_READ_AHEAD && !r->stop)
                pthread_cond_wait(&r->cv, &r->mu);
        rc = r->stop ? -1 : 0;
        spent = r->spent;
        r->spent = NULL;
        pthread_mutex_unlock(&r->mu);
        /* Freed here, while the apply works: not on its thread. */
        while (spent) {
                cs_input_batch_t *next = spent->next;
                cs_input_batch_free(spent);
                spent = next;
        }
        return rc;
}

/* Queues b (there is room: reader_wait_room): 0, or -1 when asked to stop
 * (b is freed). */
static int reader_push(cs_input_reader_t *r, cs_input_batch_t *b)
{
        int rc = 0;

        pthread_mutex_lock(&r->mu);
        if (r->stop) {
                rc = -1;
        } else {
                r->queue[(r->head + r->count) % CS_INPUT_READ_AHEAD] = b;
                r->count++;
                pthread_cond_broadcast(&r->cv);
        }
        pthread_mutex_unlock(&r->mu);
        if (rc)
                cs_input_batch_free(b);
        return rc;
}

static void reader_finish(cs_input_reader_t *r, read_state_t state, const char *err)
{
        pthread_mutex_lock(&r->mu);
        r->state = state;
        if (err)
                snprintf(r->errstr, sizeof(r->errstr), "%s", err);
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
}

static int reader_stop_asked(cs_input_reader_t *r)
{
        int stop;

        pthread_mutex_lock(&r->mu);
        stop = r->stop;
        pthread_mutex_unlock(&r->mu);
        return stop || cs_loop_stopping();
}

static void *reader_main(void *arg)
{
        cs_input_reader_t *r = arg;
        cs_input_batch_t *b = NULL;
        char *line = NULL, err[1024], perr[256];
        size_t cap = 0;
        ssize_t len;
        long lineno = 0;

        for (;;) {
                cs_input_rec_t *rec;
                int split;

                if ((!b && reader_wait_room(r) == -1) || reader_stop_asked(r)) {
                        reader_finish(r, READ_STOPPED, NULL);
                        break;
                }
                errno = 0;
                if ((len = getline(&line, &cap, r->fp)) <= 0 && ferror(r->fp)) {
                        snprintf(err, sizeof(err), "%s: read error after line "
                                 "%ld: %s", r->path, lineno,
                                 strerror(errno ? errno : EIO));
                        reader_finish(r, READ_FAILED, err);
                        break;
                }
                if (len <= 0) {
                        cs_input_batch_t *last = b;
                        b = NULL;       /* handed on, or freed here */
                        if (last && !last->n) {
                                cs_input_batch_free(last);
                                last = NULL;
                        }
                        reader_finish(r, last && reader_push(r, last) == -1 ?
                                      READ_STOPPED : READ_END, NULL);
                        break;
                }
                lineno++;
                pthread_mutex_lock(&r->mu);
                r->lineno = lineno;
                pthread_mutex_unlock(&r->mu);
                if (r->from_stdin && line[len - 1] != '\n') {
                        /* A writer that died mid-line. */
                        snprintf(err, sizeof(err), "%s:%ld: truncated record "
                                 "(no end of line)", r->path, lineno);
                        reader_finish(r, READ_FAILED, err);
                        break;
                }
                if (!b && (!(b = calloc(1, sizeof(*b))) ||
                           !(b->recs = calloc(r->batch, sizeof(*b->recs))))) {
                        reader_finish(r, READ_FAILED, "out of memory");
                        break;
                }
                rec = &b->recs[b->n];
                rec->lineno = lineno;
                if ((split = input_split(line, (size_t)len, rec)) == -1) {
                        reader_finish(r, READ_FAILED, "out of memory");
                        break;
                }
                if (split == 0 && input_whole(line, (size_t)len, lineno, r->path,
                                              rec, err, sizeof(err)) == -1) {
                        b->n++;         /* (frees what it holds) */
                        reader_finish(r, READ_FAILED, err);
                        break;
                }
                b->n++;
                /* Parsed here, on this thread, while the apply waits on the
                 * master; a value refused here is parsed again there, which
                 * reports why. */
                if (rec->value)
                        rec->doc = cs_doc_parse(rec->value, rec->value_len,
                                                r->max_document_bytes, perr,
                                                sizeof(perr));
                if (b->n == r->batch) {
                        cs_input_batch_t *full = b;
                        b = NULL;
                        if (reader_push(r, full) == -1) {
                                reader_finish(r, READ_STOPPED, NULL);
                                break;
                        }
                }
        }
        cs_input_batch_free(b);
        free(line);
        return NULL;
}

cs_input_reader_t *cs_input_reader_start(FILE *fp, const char *path, int from_stdin,
                                         size_t batch, size_t max_document_bytes,
                                         char *errstr, size_t errstr_size)
{
        cs_input_reader_t *r = calloc(1, sizeof(*r));
        sigset_t all, old;
        int err;

        if (!r || !batch) {
                free(r);
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        r->fp = fp;
        r->path = path;
        r->from_stdin = from_stdin;
        r->batch = batch;
        r->max_document_bytes = max_document_bytes;
        pthread_mutex_init(&r->mu, NULL);
        pthread_cond_init(&r->cv, NULL);
        /* jansson seeds its hash function on the first object it creates:
         * do that here, before a second thread creates objects. */
        json_decref(json_object());
        /* Signals go to the main thread (its handler sets the stop flag,
         * which this thread polls): the reader runs with them blocked, so a
         * read is never cut short by one. */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        err = pthread_create(&r->thread, NULL, reader_main, r);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (err) {
                snprintf(errstr, errstr_size, "cannot start the reader thread: %s",
                         strerror(err));
                cs_input_reader_free(r);
                return NULL;
        }
        r->started = 1;
        return r;
}

int cs_input_reader_next(cs_input_reader_t *r, cs_input_batch_t **out,
                         char *errstr, size_t errstr_size)
{
        int rc;

        *out = NULL;
        pthread_mutex_lock(&r->mu);
        while (!r->count && r->state == READ_RUNNING)
                pthread_cond_wait(&r->cv, &r->mu);
        if (r->count) {
                *out = r->queue[r->head];
                r->head = (r->head + 1) % CS_INPUT_READ_AHEAD;
                r->count--;
                pthread_cond_broadcast(&r->cv);
                rc = 1;
        } else if (r->state == READ_END) {
                rc = 0;
        } else {
                if (r->state == READ_FAILED)
                        snprintf(errstr, errstr_size, "%s", r->errstr);
                else
                        snprintf(errstr, errstr_size, "%s: reading stopped at "
                                 "line %ld", r->path, r->lineno);
                rc = -1;
        }
        pthread_mutex_unlock(&r->mu);
        return rc;
}

void cs_input_reader_recycle(cs_input_reader_t *r, cs_input_batch_t *b)
{
        if (!b)
                return;
        pthread_mutex_lock(&r->mu);
        b->next = r->spent;
        r->spent = b;
        pthread_mutex_unlock(&r->mu);
}

long cs_input_reader_lines(cs_input_reader_t *r)
{
        long n;

        pthread_mutex_lock(&r->mu);
        n = r->lineno;
        pthread_mutex_unlock(&r->mu);
        return n;
}

void cs_input_reader_free(cs_input_reader_t *r)
{
        if (!r)
                return;
        if (r->started) {
                pthread_mutex_lock(&r->mu);
                r->stop = 1;
                pthread_cond_broadcast(&r->cv);
                pthread_mutex_unlock(&r->mu);
                pthread_join(r->thread, NULL);
        }
        while (r->spent) {
                cs_input_batch_t *next = r->spent->next;
                cs_input_batch_free(r->spent);
                r->spent = next;
        }
        while (r->count) {
                cs_input_batch_free(r->queue[r->head]);
                r->head = (r->head + 1) % CS_INPUT_READ_AHEAD;
                r->count--;
        }
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->mu);
        free(r);
}
