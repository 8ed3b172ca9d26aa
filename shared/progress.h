/* progress.h — a single self-overwriting progress line on a terminal (stderr). */
#ifndef CS_PROGRESS_H
#define CS_PROGRESS_H

#include <stddef.h>

/* No ETA before the rate has been measured this long (a first tick right
 * after a slow first query would predict hours). */
#define CS_PROGRESS_ETA_AFTER_S 3.0

typedef struct cs_progress_s {
        int enabled;          /* stderr is a terminal */
        double started;       /* origin of the rate (monotonic s), 0 = not yet */
        long long base;       /* documents done at `started` */
        double last_draw;
        long long total;      /* expected documents, 0 if unknown (no ETA) */
        const char *label;    /* borrowed */
} cs_progress_t;

/* Monotonic clock in seconds. */
double cs_progress_now(void);
/* The rate is measured from now on (see cs_progress_start). */
void cs_progress_init(cs_progress_t *p, const char *label, long long total);
/* Restarts the rate's clock now, counting from done (the consumer calls it
 * with its first message, so the group join is not in the rate). */
void cs_progress_start(cs_progress_t *p, long long done);
/* Sets (or raises, as partitions are assigned) the expected total. */
void cs_progress_set_total(cs_progress_t *p, long long total);
/* Redraws at most 4 times a second: "label: N/T docs (P%), R/s, E s
 * elapsed, ETA S s" (total and ETA only when known). */
void cs_progress_update(cs_progress_t *p, long long done);
/* The text of that line for done documents at monotonic time now. */
void cs_progress_format(const cs_progress_t *p, long long done, double now,
                        char *buf, size_t size);
/* Erases the line if one is drawn; the logger calls it before each line,
 * and the next update draws it again. */
void cs_progress_clear(void);
/* Clears the line. */
void cs_progress_end(cs_progress_t *p);

#endif
