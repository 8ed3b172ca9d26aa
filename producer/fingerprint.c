/* fingerprint.c — per-row hashes of a synced table: streamed id-ordered row scans hashed by the producer, and the binary state files read and written as streams. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db.h"
#include "fingerprint.h"

/* File layout: 8-byte magic, uint64 row count, then rows (host byte
 * order: state files never leave the machine that wrote them). Format 2:
 * the row hash is cs_fp_row_hash (format 1 was an MD5 computed by the
 * server). */
static const char fp_magic[8] = { 'C', 'S', 'F', 'P', '2', 0, 0, 16 };

#define FP_IO_BUFFER 65536

/* ---- the row hash -------------------------------------------------------- */

/* A bijection of 64-bit words (xor-shifts and multiplications by odd
 * constants are each invertible) that spreads every input bit over the
 * whole word. */
static uint64_t fp_mix(uint64_t x)
{
        x ^= x >> 32;
        x *= 0xd6e8feb86659fd93ULL;
        x ^= x >> 29;
        x *= 0x9e3779b97f4a7c15ULL;
        x ^= x >> 32;
        return x;
}

/* state <- rotl((state ^ word) * odd constant): for a fixed word a
 * bijection of the state, so two inputs that differ in one word end in
 * different states; cheap (the final fp_mix does the avalanche). */
static uint64_t fp_absorb(uint64_t h, uint64_t w)
{
        h = (h ^ w) * 0xa0761d6478bd642fULL;
        return (h << 29) | (h >> 35);
}

uint64_t cs_fp_row_hash(char **vals, const unsigned long *lens, size_t n)
{
        uint64_t h = 0x243f6a8885a308d3ULL;

        for (size_t i = 0; i < n; i++) {
                const unsigned char *p = (const unsigned char *)vals[i];
                unsigned long len = lens[i];

                /* Per value: UINT64_MAX for NULL, else its length (always
                 * below 2^32), then its bytes in zero-padded 8-byte words:
                 * the sequence of words determines the values. */
                if (!p) {
                        h = fp_absorb(h, UINT64_MAX);
                        continue;
                }
                h = fp_absorb(h, (uint64_t)len);
                while (len >= 8) {
                        uint64_t w;
                        memcpy(&w, p, 8);
                        h = fp_absorb(h, w);
                        p += 8;
                        len -= 8;
                }
                if (len) {
                        uint64_t w = 0;
                        memcpy(&w, p, len);
                        h = fp_absorb(h, w);
                }
        }
        return fp_mix(h ^ (uint64_t)n);
}

/* ---- the scan ------------------------------------------------------------- */

static int parse_u32(const char *s, uint32_t *out)
{
        char *end;
        unsigned long long v;

        if (!s) {
                *out = 0;
                return 0;
        }
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || *end || end == s || v > UINT32_MAX)
                return -1;
        *out = (uint32_t)v;
        return 0;
}

int cs_fp_scan(MYSQL *db, const cs_src_t *src, const char *sql,
               cs_fp_row_cb *cb, void *opaque, char *errstr, size_t errstr_size)
{
        MYSQL_RES *res;
        MYSQL_ROW row;
        unsigned int nf;
        uint64_t seen = 0;
        uint32_t last = 0;
        int rc = 0;

        res = cs_db_query_stream(db, sql, errstr, errstr_size);
        if (!res)
                return -1;
        nf = mysql_num_fields(res);
        while ((row = mysql_fetch_row(res))) {
                unsigned long *lens = mysql_fetch_lengths(res);
                cs_fp_row_t r;

                if (rc)
                        continue; /* drain the stream */
                if (nf < 2 || !row[0] || parse_u32(row[0], &r.id) == -1 ||
                    parse_u32(row[1], &r.parent) == -1) {
                        snprintf(errstr, errstr_size,
                                 "%s: id %s out of the supported range "
                                 "(1..4294967295)", src->ent->table,
                                 row[0] ? row[0] : "NULL");
                        rc = -1;
                        continue;
                }
                if (seen && r.id <= last) {
                        snprintf(errstr, errstr_size, "%s: rows not in "
                                 "ascending id order (id %lu after %lu)",
                                 src->ent->table, (unsigned long)r.id,
                                 (unsigned long)last);
                        rc = -1;
                        continue;
                }
                r.hash = cs_fp_row_hash(row + 2, lens + 2, nf - 2);
                last = r.id;
                seen++;
                if (cb(&r, opaque, errstr, errstr_size) == -1)
                        rc = -1;
        }
        if (mysql_errno(db)) {
                snprintf(errstr, errstr_size, "%s: %s", src->ent->table,
                         mysql_error(db));
                rc = -1;
        }
        mysql_free_result(res);
        return rc;
}

/* ---- state files ------------------------------------------------------------ */

int cs_fp_in_open(cs_fp_in_t *in, const char *path, char *errstr,
                  size_t errstr_size)
{
        char magic[8];
        struct stat st;

        memset(in, 0, sizeof(*in));
        snprintf(in->path, sizeof(in->path), "%s", path);
        if (!(in->fp = fopen(path, "rb"))) {
                snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
                return -1;
        }
        setvbuf(in->fp, NULL, _IOFBF, FP_IO_BUFFER);
        if (fstat(fileno(in->fp), &st) != 0 ||
            fread(magic, 1, 8, in->fp) != 8 || memcmp(magic, fp_magic, 8) ||
            fread(&in->count, sizeof(in->count), 1, in->fp) != 1 ||
            (uint64_t)st.st_size != 16 + in->count * sizeof(cs_fp_row_t)) {
                snprintf(errstr, errstr_size, "%s: not a civisync fingerprint "
                         "file of this version, or truncated", path);
                cs_fp_in_close(in);
                return -1;
        }
        return 0;
}

int cs_fp_in_next(cs_fp_in_t *in, cs_fp_row_t *row, char *errstr,
                  size_t errstr_size)
{
        if (in->done == in->count)
                return 0;
        if (fread(row, sizeof(*row), 1, in->fp) != 1) {
                snprintf(errstr, errstr_size, "%s: short read", in->path);
                return -1;
        }
        if (in->done && row->id <= in->last) {
                snprintf(errstr, errstr_size, "%s: rows not sorted", in->path);
                return -1;
        }
        in->last = row->id;
        in->done++;
        return 1;
}

void cs_fp_in_close(cs_fp_in_t *in)
{
        if (in->fp)
                fclose(in->fp);
        in->fp = NULL;
}

int cs_fp_out_open(cs_fp_out_t *out, const char *path, char *errstr,
                   size_t errstr_size)
{
        uint64_t zero = 0;
        int fd;

        memset(out, 0, sizeof(*out));
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
        if (fd == -1 || !(out->fp = fdopen(fd, "wb"))) {
                snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
                if (fd != -1) {
                        close(fd);
                        unlink(path);
                }
                return -1;
        }
        snprintf(out->path, sizeof(out->path), "%s", path);
        setvbuf(out->fp, NULL, _IOFBF, FP_IO_BUFFER);
        if (fwrite(fp_magic, 1, 8, out->fp) != 8 ||
            fwrite(&zero, sizeof(zero), 1, out->fp) != 1) {
                snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
                cs_fp_out_discard(out);
                return -1;
        }
        return 0;
}

int cs_fp_out_row(cs_fp_out_t *out, const cs_fp_row_t *row, char *errstr,
                  size_t errstr_size)
{
        if (fwrite(row, sizeof(*row), 1, out->fp) != 1) {
                snprintf(errstr, errstr_size, "%s: %s", out->path,
                         strerror(errno));
                return -1;
        }
        out->count++;
        return 0;
}

int cs_fp_out_finish(cs_fp_out_t *out, char *errstr, size_t errstr_size)
{
        FILE *fp = out->fp;

        if (fflush(fp) != 0 || fseek(fp, 8, SEEK_SET) != 0 ||
            fwrite(&out->count, sizeof(out->count), 1, fp) != 1 ||
            fflush(fp) != 0 || fsync(fileno(fp)) != 0) {
                snprintf(errstr, errstr_size, "%s: %s", out->path,
                         strerror(errno));
                cs_fp_out_discard(out);
                return -1;
        }
        out->fp = NULL;
        if (fclose(fp) != 0) {
                snprintf(errstr, errstr_size, "%s: %s", out->path,
                         strerror(errno));
                unlink(out->path);
                return -1;
        }
        return 0;
}

void cs_fp_out_discard(cs_fp_out_t *out)
{
        if (out->fp) {
                fclose(out->fp);
                out->fp = NULL;
        }
        if (out->path[0])
                unlink(out->path);
        out->path[0] = '\0';
}
