/* parse_split.c — parses a batch's document values on two threads (the caller's and a helper) before the apply. */
#include <pthread.h>
#include <signal.h>

#include "doc.h"
#include "parse_split.h"

typedef struct span_s {
        const char *const *values;
        const size_t *lens;
        json_t **out;
        size_t n, max_bytes;
} span_t;

static void parse_span(const span_t *s)
{
        char err[256];

        for (size_t i = 0; i < s->n; i++)
                s->out[i] = s->values[i] && s->lens[i] ?
                            cs_doc_parse(s->values[i], s->lens[i], s->max_bytes,
                                         err, sizeof(err)) : NULL;
}

static void *helper_main(void *arg)
{
        parse_span(arg);
        return NULL;
}

static void seed_jansson(void)
{
        /* jansson seeds its hash function on the first object it creates:
         * done once here, before two threads create objects. */
        json_decref(json_object());
}

void cs_parse_split(const char *const *values, const size_t *lens, json_t **out,
                    size_t n, size_t max_document_bytes)
{
        static pthread_once_t seeded = PTHREAD_ONCE_INIT;
        size_t half = n / 2;
        span_t first = { values, lens, out, half, max_document_bytes };
        span_t second = { values + half, lens + half, out + half, n - half,
                          max_document_bytes };
        sigset_t all, old;
        pthread_t helper;
        int started;

        if (n < CS_PARSE_SPLIT_MIN) {
                first.n = n;
                parse_span(&first);
                return;
        }
        pthread_once(&seeded, seed_jansson);
        /* Signals stay with the main thread (its handler sets a flag). */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        started = !pthread_create(&helper, NULL, helper_main, &second);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        parse_span(&first);
        if (started)
                pthread_join(helper, NULL);
        else
                parse_span(&second);
}
