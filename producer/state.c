/* state.c — the producer's per-prefix state file (atomic writes) and run lock. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "state.h"

static int state_path(char *out, size_t size, const char *dir,
                      const char *prefix, const char *suffix)
{
        int n = snprintf(out, size, "%s/%s%s", dir, prefix, suffix);
        return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

int cs_state_lock(const char *state_dir, const char *prefix, char *errstr,
                  size_t errstr_size)
{
        char path[4096];
        int fd;

        if (mkdir(state_dir, 0750) != 0 && errno != EEXIST) {
                snprintf(errstr, errstr_size, "state_dir %s: %s", state_dir,
                         strerror(errno));
                return -1;
        }
        if (state_path(path, sizeof(path), state_dir, prefix, ".lock") == -1) {
                snprintf(errstr, errstr_size, "state_dir path too long");
                return -1;
        }
        if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640)) == -1) {
                snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
                return -1;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
                int busy = errno == EWOULDBLOCK;
                snprintf(errstr, errstr_size, "%s: %s", path,
                         busy ? "another civisync-produce run for this prefix "
                                "is still running" : strerror(errno));
                close(fd);
                return busy ? -2 : -1;
        }
        return fd;
}

json_t *cs_state_load(const char *state_dir, const char *prefix, char *errstr,
                      size_t errstr_size)
{
        char path[4096];
        json_error_t jerr;
        json_t *state;

        if (state_path(path, sizeof(path), state_dir, prefix, ".state.json") == -1) {
                snprintf(errstr, errstr_size, "state_dir path too long");
                return NULL;
        }
        if (access(path, F_OK) != 0)
                return json_object();
        state = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
        if (!state || !json_is_object(state)) {
                snprintf(errstr, errstr_size, "%s:%d: %s", path, jerr.line,
                         state ? "not a JSON object" : jerr.text);
                json_decref(state);
                return NULL;
        }
        return state;
}

int cs_state_save(const char *state_dir, const char *prefix,
                  const json_t *state, char *errstr, size_t errstr_size)
{
        char path[4096], tmp[4096 + 32];
        char *text = json_dumps(state, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        size_t len;
        int fd, dirfd, rc = -1;

        if (!text) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        if (state_path(path, sizeof(path), state_dir, prefix, ".state.json") == -1) {
                snprintf(errstr, errstr_size, "state_dir path too long");
                free(text);
                return -1;
        }
        snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
        len = strlen(text);
        if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640)) == -1) {
                snprintf(errstr, errstr_size, "%s: %s", tmp, strerror(errno));
                free(text);
                return -1;
        }
        if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1 ||
            fsync(fd) != 0) {
                snprintf(errstr, errstr_size, "%s: %s", tmp, strerror(errno));
                close(fd);
                unlink(tmp);
                goto done;
        }
        close(fd);
        if (rename(tmp, path) != 0) {
                snprintf(errstr, errstr_size, "rename %s: %s", path,
                         strerror(errno));
                unlink(tmp);
                goto done;
        }
        if ((dirfd = open(state_dir, O_RDONLY | O_DIRECTORY)) != -1) {
                fsync(dirfd);
                close(dirfd);
        }
        rc = 0;
done:
        free(text);
        return rc;
}

int cs_state_file_path(char *out, size_t size, const char *state_dir,
                       const char *name)
{
        int n = snprintf(out, size, "%s/%s", state_dir, name);
        return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

int cs_state_fp_name(char *out, size_t size, const char *prefix,
                     long long state_generation, const char *table)
{
        int n = snprintf(out, size, "%s.fp.%lld.%s", prefix, state_generation,
                         table);
        return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

/* 1 if name is one of the files state references. */
static int fp_referenced(const json_t *state, const char *name)
{
        json_t *tables = json_object_get(json_object_get(state, "incremental"),
                                         "tables");
        const char *key;
        json_t *t;

        json_object_foreach(tables, key, t) {
                const char *file = json_string_value(json_object_get(t, "file"));
                if (file && !strcmp(file, name))
                        return 1;
        }
        return 0;
}

void cs_state_fp_cleanup(const char *state_dir, const char *prefix,
                         const json_t *state)
{
        char lead[64], path[4096];
        DIR *dir = opendir(state_dir);
        struct dirent *de;
        size_t lead_len;

        if (!dir)
                return;
        snprintf(lead, sizeof(lead), "%s.fp.", prefix);
        lead_len = strlen(lead);
        while ((de = readdir(dir))) {
                if (strncmp(de->d_name, lead, lead_len) ||
                    fp_referenced(state, de->d_name))
                        continue;
                if (cs_state_file_path(path, sizeof(path), state_dir,
                                       de->d_name) == 0)
                        unlink(path);
        }
        closedir(dir);
}

int cs_state_advance(const char *state_dir, const char *prefix, json_t *state,
                     json_t *new_incr, json_t *created,
                     const cs_state_run_t *run, char *errstr,
                     size_t errstr_size)
{
        time_t t = time(NULL);
        struct tm tm;
        char now[32];

        gmtime_r(&t, &tm);
        strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_object_set_new(state, "format", json_integer(1));
        json_object_set_new(state, "prefix", json_string(prefix));
        if (run->complete) {
                json_object_set_new(state, "generation",
                                    json_integer(run->generation));
                json_object_set_new(state, "last_complete",
                        json_pack("{s:I, s:s, s:I, s:s}", "generation",
                                  (json_int_t)run->generation, "finished_at",
                                  now, "documents", (json_int_t)run->documents,
                                  "destination", run->destination));
        }
        json_object_set_new(new_incr, "last_run",
                json_pack("{s:s, s:s, s:I, s:I}", "mode", run->mode,
                          "finished_at", now, "messages",
                          (json_int_t)run->messages, "documents",
                          (json_int_t)run->documents));
        json_object_set(state, "incremental", new_incr);
        if (cs_state_save(state_dir, prefix, state, errstr, errstr_size) == -1)
                return -1;
        json_array_clear(created);
        cs_state_fp_cleanup(state_dir, prefix, state);
        return 0;
}
