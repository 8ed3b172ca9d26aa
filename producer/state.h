/* state.h — the producer's per-prefix state file (atomic writes) and run lock. */
#ifndef CS_STATE_H
#define CS_STATE_H

#include <stddef.h>
#include <jansson.h>

/* Takes an exclusive non-blocking lock on STATE_DIR/PREFIX.lock (created
 * if missing; the directory is created too). Returns the fd, -2 when another
 * run holds the lock, -1 on error. The lock dies with the process. */
int cs_state_lock(const char *state_dir, const char *prefix, char *errstr,
                  size_t errstr_size);

/* Loads STATE_DIR/PREFIX.state.json into a NEW object (an empty object when
 * the file does not exist yet). NULL on a read or parse error. */
json_t *cs_state_load(const char *state_dir, const char *prefix, char *errstr,
                      size_t errstr_size);

/* Writes state (BORROWED) atomically: temp file, fsync, rename, fsync dir. */
int cs_state_save(const char *state_dir, const char *prefix,
                  const json_t *state, char *errstr, size_t errstr_size);

/* Path of a file of the state set: STATE_DIR/NAME. -1 if too long. */
int cs_state_file_path(char *out, size_t size, const char *state_dir,
                       const char *name);
/* Name (not path) of a fingerprint file: PREFIX.fp.GEN.TABLE. */
int cs_state_fp_name(char *out, size_t size, const char *prefix,
                     long long state_generation, const char *table);
/* Deletes STATE_DIR/PREFIX.fp.* files that state (BORROWED, may be NULL)
 * does not reference in incremental.tables.*.file: leftovers of a failed or
 * interrupted run, and the previous generation after a successful one.
 * Call only while holding the lock. */
void cs_state_fp_cleanup(const char *state_dir, const char *prefix,
                         const json_t *state);

/* What a delivered run records in the state (cs_state_advance). */
typedef struct cs_state_run_s {
        const char *mode;          /* "complete", "incremental", "rebuild-state" */
        int complete;              /* also sets generation and last_complete */
        long long generation;      /* the complete sync's generation */
        long long documents;
        long long messages;        /* sent by this run */
        const char *destination;   /* topic or --output file (complete only) */
} cs_state_run_t;

/* Everything is delivered: only now does the state advance. Records run in
 * state (BORROWED, modified) with new_incr (BORROWED, receives last_run) as
 * its incremental state and saves it atomically: the new fingerprint files,
 * already on disk under new names, switch all at once. Then the paths in
 * created (BORROWED array) belong to the state: the array is cleared and
 * fingerprint files no longer referenced are removed. Call only while
 * holding the lock. 0, or -1 with errstr (state file untouched). */
int cs_state_advance(const char *state_dir, const char *prefix, json_t *state,
                     json_t *new_incr, json_t *created,
                     const cs_state_run_t *run, char *errstr,
                     size_t errstr_size);

#endif
