/* files.c — the bytes of synced files: safe file names, bounded reads from the child's files directory, atomic writes under the master's. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base64.h"
#include "files.h"
#include "prefix.h"

static const char *const status_names[] = {
        "ok", "not_sent", "missing", "too_large", "refused", "unreadable",
        "stored", "not_stored"
};

const char *cs_file_status_name(cs_file_status_t st)
{
        if ((size_t)st < sizeof(status_names) / sizeof(status_names[0]))
                return status_names[st];
        return "unknown";
}

int cs_file_status_parse(const char *name, cs_file_status_t *st)
{
        for (int i = CS_FILE_OK; name && i <= CS_FILE_UNREADABLE; i++)
                if (strcmp(status_names[i], name) == 0) {
                        *st = (cs_file_status_t)i;
                        return 0;
                }
        return -1;
}

int cs_file_name_ok(const char *name, size_t len, char *why, size_t why_size)
{
        if (!name || len == 0) {
                snprintf(why, why_size, "empty file name");
                return 0;
        }
        if (len > 255) {
                snprintf(why, why_size, "file name of %zu bytes (more than 255)", len);
                return 0;
        }
        if (name[0] == '/') {
                snprintf(why, why_size, "absolute path '%.*s'", (int)len, name);
                return 0;
        }
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)name[i];
                if (c == '/' || c < 0x20 || c == 0x7f) {
                        snprintf(why, why_size, "'%.*s' is not a plain file name "
                                 "(a '/' or a control character)",
                                 (int)(len > 100 ? 100 : len), name);
                        return 0;
                }
                if (c == '.' && i + 1 < len && name[i + 1] == '.') {
                        snprintf(why, why_size, "'%.*s' contains '..'",
                                 (int)(len > 100 ? 100 : len), name);
                        return 0;
                }
        }
        if (len == 1 && name[0] == '.') {
                snprintf(why, why_size, "'.' is not a file name");
                return 0;
        }
        return 1;
}

cs_file_status_t cs_file_read(const char *dir, const char *name,
                              size_t max_bytes, unsigned char **buf,
                              size_t *len, long long *size, char *why,
                              size_t why_size)
{
        struct stat st;
        int dfd, fd;
        size_t got = 0;
        unsigned char *b;

        *buf = NULL;
        *len = 0;
        *size = -1;
        if (!cs_file_name_ok(name, name ? strlen(name) : 0, why, why_size))
                return CS_FILE_REFUSED;
        if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
                snprintf(why, why_size, "files_dir %s: %s", dir, strerror(errno));
                return CS_FILE_UNREADABLE;
        }
        fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        close(dfd);
        if (fd == -1) {
                int e = errno;
                snprintf(why, why_size, "%s/%s: %s", dir, name, strerror(e));
                return e == ENOENT ? CS_FILE_MISSING :
                       e == ELOOP ? CS_FILE_REFUSED : CS_FILE_UNREADABLE;
        }
        if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
                snprintf(why, why_size, "%s/%s: not a regular file", dir, name);
                close(fd);
                return CS_FILE_REFUSED;
        }
        *size = (long long)st.st_size;
        if ((unsigned long long)st.st_size > max_bytes) {
                snprintf(why, why_size, "%s/%s: %lld bytes, more than "
                         "max_file_bytes (%zu)", dir, name, (long long)st.st_size,
                         max_bytes);
                close(fd);
                return CS_FILE_TOO_LARGE;
        }
        if (!(b = malloc((size_t)st.st_size + 1))) {
                snprintf(why, why_size, "out of memory");
                close(fd);
                return CS_FILE_UNREADABLE;
        }
        for (;;) {
                /* One byte more than the size: a file that grew is seen. */
                ssize_t n = read(fd, b + got, (size_t)st.st_size + 1 - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        snprintf(why, why_size, "%s/%s: %s", dir, name,
                                 strerror(errno));
                        free(b);
                        close(fd);
                        return CS_FILE_UNREADABLE;
                }
                if (n == 0)
                        break;
                got += (size_t)n;
                if (got > (size_t)st.st_size)
                        break;
        }
        close(fd);
        if (got != (size_t)st.st_size) {
                snprintf(why, why_size, "%s/%s: changed while read (%zu of %lld "
                         "bytes)", dir, name, got, (long long)st.st_size);
                free(b);
                return CS_FILE_UNREADABLE;
        }
        *buf = b;
        *len = got;
        return CS_FILE_OK;
}

int cs_file_attach(json_t *doc, const char *name_column, const char *dir,
                   size_t max_bytes, char *why, size_t why_size)
{
        const char *name = json_string_value(json_object_get(doc, name_column));
        cs_file_status_t st;
        unsigned char *buf = NULL;
        size_t len = 0;
        long long size = -1;
        char *b64 = NULL;

        why[0] = '\0';
        if (!dir) {
                st = CS_FILE_NOT_SENT;
                snprintf(why, why_size, "the producer has no files_dir");
        } else if (!name) {
                st = CS_FILE_MISSING;
                snprintf(why, why_size, "the row has no %s", name_column);
        } else {
                st = cs_file_read(dir, name, max_bytes, &buf, &len, &size, why,
                                  why_size);
        }
        if (st == CS_FILE_OK && !(b64 = cs_b64_encode(buf, len, NULL))) {
                free(buf);
                return -1;
        }
        free(buf);
        if (json_object_set_new(doc, CS_F_FILE_STATUS,
                                json_string(cs_file_status_name(st))) == -1 ||
            (size >= 0 && json_object_set_new(doc, CS_F_FILE_SIZE,
                                              json_integer(size)) == -1) ||
            (b64 && json_object_set_new(doc, CS_F_FILE_CONTENT,
                                        json_string(b64)) == -1)) {
                free(b64);
                return -1;
        }
        free(b64);
        return (int)st;
}

int cs_file_write(const char *dir, const char *prefix, const char *name,
                  const unsigned char *buf, size_t len, char *errstr,
                  size_t errstr_size)
{
        static unsigned long seq;
        char tmp[64];
        int dfd = -1, pfd = -1, fd = -1, rc = -1;
        size_t done = 0;

        tmp[0] = '\0';
        if (!cs_file_name_ok(name, name ? strlen(name) : 0, errstr, errstr_size))
                return -1;
        if (!cs_prefix_valid(prefix)) {
                snprintf(errstr, errstr_size, "invalid prefix for a files directory");
                return -1;
        }
        if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
                snprintf(errstr, errstr_size, "files_dir %s: %s", dir, strerror(errno));
                return -1;
        }
        if (mkdirat(dfd, prefix, 0750) == -1 && errno != EEXIST) {
                snprintf(errstr, errstr_size, "mkdir %s/%s: %s", dir, prefix,
                         strerror(errno));
                goto out;
        }
        if ((pfd = openat(dfd, prefix, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                          O_CLOEXEC)) == -1) {
                snprintf(errstr, errstr_size, "%s/%s: %s (a directory, not a "
                         "symlink, is required)", dir, prefix, strerror(errno));
                goto out;
        }
        snprintf(tmp, sizeof(tmp), ".civisync-tmp.%ld.%lu", (long)getpid(), ++seq);
        if ((fd = openat(pfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
                         O_CLOEXEC, 0640)) == -1) {
                snprintf(errstr, errstr_size, "create %s/%s/%s: %s", dir, prefix,
                         tmp, strerror(errno));
                goto out;
        }
        while (done < len) {
                ssize_t n = write(fd, buf + done, len - done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        snprintf(errstr, errstr_size, "write %s/%s/%s: %s", dir,
                                 prefix, tmp, strerror(errno));
                        goto out;
                }
                done += (size_t)n;
        }
        if (fsync(fd) == -1) {
                snprintf(errstr, errstr_size, "fsync %s/%s/%s: %s", dir, prefix,
                         tmp, strerror(errno));
                goto out;
        }
        if (close(fd) == -1) {
                fd = -1;
                snprintf(errstr, errstr_size, "close %s/%s/%s: %s", dir, prefix,
                         tmp, strerror(errno));
                goto out;
        }
        fd = -1;
        if (renameat(pfd, tmp, pfd, name) == -1) {
                snprintf(errstr, errstr_size, "rename to %s/%s/%s: %s", dir,
                         prefix, name, strerror(errno));
                goto out;
        }
        tmp[0] = '\0';
        fsync(pfd); /* the rename itself: best effort */
        rc = 0;
out:
        if (fd != -1)
                close(fd);
        if (rc == -1 && pfd != -1 && tmp[0])
                unlinkat(pfd, tmp, 0);
        if (pfd != -1)
                close(pfd);
        close(dfd);
        return rc;
}
