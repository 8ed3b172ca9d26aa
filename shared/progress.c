/* progress.c — a single self-overwriting progress line on a terminal (stderr). */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

double cs_progress_now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cs_progress_init(cs_progress_t *p, const char *label, long long total)
{
        p->enabled = isatty(STDERR_FILENO);
        p->started = cs_progress_now();
        p->last_draw = 0;
        p->total = total;
        p->label = label;
}

void cs_progress_update(cs_progress_t *p, long long done)
{
        double now, elapsed, rate;

        if (!p->enabled)
                return;
        now = cs_progress_now();
        if (now - p->last_draw < 0.25)
                return;
        p->last_draw = now;
        elapsed = now - p->started;
        rate = elapsed > 0 ? (double)done / elapsed : 0;
        if (p->total > 0 && rate > 0 && done <= p->total)
                fprintf(stderr, "\r\033[K%s: %lld/%lld docs, %.0f/s, %.1fs elapsed, ETA %.0fs",
                        p->label, done, p->total, rate, elapsed,
                        (double)(p->total - done) / rate);
        else
                fprintf(stderr, "\r\033[K%s: %lld docs, %.0f/s, %.1fs elapsed",
                        p->label, done, rate, elapsed);
        fflush(stderr);
}

void cs_progress_end(cs_progress_t *p)
{
        if (p->enabled && p->last_draw > 0) {
                fprintf(stderr, "\r\033[K");
                fflush(stderr);
        }
}
