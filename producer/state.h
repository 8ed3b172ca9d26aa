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

#endif
