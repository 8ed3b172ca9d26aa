/* progress.c — a single self-overwriting progress line on a terminal (stderr). */
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

/* 1 while a progress line is on the terminal (one per process; the logger
 * clears it from librdkafka's threads too). */
static atomic_int line_drawn;

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
        p->base = 0;
        p->last_draw = 0;
        p->total = total;
        p->label = label;
}

void cs_progress_start(cs_progress_t *p, long long done)
{
        p->started = cs_progress_now();
        p->base = done;
}

void cs_progress_set_total(cs_progress_t *p, long long total)
{
        p->total = total;
}

void cs_progress_format(const cs_progress_t *p, long long done, double now,
                        char *buf, size_t size)
{
        double elapsed = p->started > 0 ? now - p->started : 0;
        long long counted = done - p->base;
        double rate = elapsed > 0 && counted > 0 ? (double)counted / elapsed : 0;
        int n;

        if (p->total > 0 && done <= p->total)
                n = snprintf(buf, size, "%s: %lld/%lld docs (%.0f%%), %.0f/s, "
                             "%.1f s elapsed", p->label, done, p->total,
                             100.0 * (double)done / (double)p->total, rate,
                             elapsed);
        else
                n = snprintf(buf, size, "%s: %lld docs, %.0f/s, %.1f s elapsed",
                             p->label, done, rate, elapsed);
        if (n < 0 || (size_t)n >= size || p->total <= 0 || done > p->total)
                return;
        if (elapsed >= CS_PROGRESS_ETA_AFTER_S && rate > 0)
                snprintf(buf + n, size - (size_t)n, ", ETA %.0f s",
                         (double)(p->total - done) / rate);
        else
                snprintf(buf + n, size - (size_t)n, ", ETA estimating");
}

void cs_progress_update(cs_progress_t *p, long long done)
{
        char line[256];
        double now;

        if (!p->enabled)
                return;
        now = cs_progress_now();
        if (now - p->last_draw < 0.25)
                return;
        p->last_draw = now;
        cs_progress_format(p, done, now, line, sizeof(line));
        fprintf(stderr, "\r\033[K%s", line);
        fflush(stderr);
        atomic_store(&line_drawn, 1);
}

void cs_progress_clear(void)
{
        if (atomic_exchange(&line_drawn, 0))
                fprintf(stderr, "\r\033[K");
}

void cs_progress_end(cs_progress_t *p)
{
        if (p->enabled && p->last_draw > 0) {
                cs_progress_clear();
                fflush(stderr);
        }
}
