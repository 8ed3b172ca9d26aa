/* files.h — the bytes of synced files: safe file names, bounded reads from the child's files directory, atomic writes under the master's (FORMAT.md §20). */
#ifndef CS_FILES_H
#define CS_FILES_H

#include <stddef.h>
#include <jansson.h>

/* Fields a file document (cs_reg_file_entity) carries besides its columns. */
#define CS_F_FILE_STATUS  "civisync_file_status"
#define CS_F_FILE_SIZE    "civisync_file_size"
#define CS_F_FILE_CONTENT "civisync_file_content"

/* Default of the producer's max_file_bytes: its base64 (4/3) plus the row
 * fits the default max_document_bytes (1000000). */
#define CS_FILE_DEFAULT_MAX_BYTES 700000
/* Room a file document needs besides its base64 bytes (checked at load:
 * max_file_bytes * 4 / 3 + this <= max_document_bytes). */
#define CS_FILE_DOC_OVERHEAD 65536

/* What happened to a file's bytes; the producer's word travels in
 * civisync_file_status, the consumer records its own in civisync_file. */
typedef enum {
        CS_FILE_OK = 0,      /* "ok": bytes in civisync_file_content */
        CS_FILE_NOT_SENT,    /* "not_sent": the producer has no files_dir */
        CS_FILE_MISSING,     /* "missing": no such file in files_dir */
        CS_FILE_TOO_LARGE,   /* "too_large": above max_file_bytes */
        CS_FILE_REFUSED,     /* "refused": uri is not a plain file name, or
                                names a symlink or a non-regular file */
        CS_FILE_UNREADABLE,  /* "unreadable": an I/O error (or permissions) */
        CS_FILE_STORED,      /* consumer only: "stored" under files_dir */
        CS_FILE_NOT_STORED   /* consumer only: "not_stored", it has no files_dir */
} cs_file_status_t;

const char *cs_file_status_name(cs_file_status_t st);
/* The producer's statuses (OK .. UNREADABLE) from their names: 0 or -1. */
int cs_file_status_parse(const char *name, cs_file_status_t *st);

/* 1 if name[0..len) is a plain file name: not empty, at most 255 bytes,
 * no '/', no "..", no NUL or control character, not ".". Else 0 and why. */
int cs_file_name_ok(const char *name, size_t len, char *why, size_t why_size);

/* Reads dir/name (name checked first, symlinks not followed, regular files
 * only, at most max_bytes) into a malloc'd *buf (caller frees) of *len
 * bytes. Returns CS_FILE_OK, or another status with why (nothing read
 * outside dir). *size gets the file's size when known (else -1). */
cs_file_status_t cs_file_read(const char *dir, const char *name,
                              size_t max_bytes, unsigned char **buf,
                              size_t *len, long long *size, char *why,
                              size_t why_size);

/* Adds civisync_file_status (and civisync_file_size and the base64
 * civisync_file_content when read) to the file document doc, reading the
 * file its name_column names from dir (NULL: "not_sent"). Returns the
 * status (why says what went wrong), or -1 when out of memory. */
int cs_file_attach(json_t *doc, const char *name_column, const char *dir,
                   size_t max_bytes, char *why, size_t why_size);

/* Writes buf under dir/prefix/name atomically (a temporary file in the
 * same directory, fsync, rename, fsync of the directory); creates
 * dir/prefix (mode 0750) when missing. name is checked (cs_file_name_ok),
 * prefix must be a valid prefix, no symlink is followed below dir. 0, or
 * -1 with errstr. */
int cs_file_write(const char *dir, const char *prefix, const char *name,
                  const unsigned char *buf, size_t len, char *errstr,
                  size_t errstr_size);

#endif
