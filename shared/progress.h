/* progress.h — a single self-overwriting progress line on a terminal (stderr). */
#ifndef CS_PROGRESS_H
#define CS_PROGRESS_H

#include <stddef.h>

typedef struct cs_progress_s {
        int enabled;          /* stderr is a terminal */
        double started;       /* monotonic seconds */
        double last_draw;
        long long total;      /* expected documents, 0 if unknown (no ETA) */
        const char *label;    /* borrowed */
} cs_progress_t;

/* Monotonic clock in seconds. */
double cs_progress_now(void);
void cs_progress_init(cs_progress_t *p, const char *label, long long total);
/* Redraws at most 4 times a second: "label: N docs, R/s, elapsed, ETA". */
void cs_progress_update(cs_progress_t *p, long long done);
/* Clears the line. */
void cs_progress_end(cs_progress_t *p);

#endif
