/* fingerprint.c — per-row hashes of a synced table: server-side bucket sums, row fetches and the binary state files. */
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
 * order: state files never leave the machine that wrote them). */
static const char fp_magic[8] = { 'C', 'S', 'F', 'P', '1', 0, 0, 16 };

void cs_fp_set_free(cs_fp_set_t *set)
{
        free(set->v);
        set->v = NULL;
        set->n = set->cap = 0;
}

int cs_fp_set_push(cs_fp_set_t *set, const cs_fp_row_t *row)
{
        if (set->n == set->cap) {
                size_t cap = set->cap ? set->cap * 2 : 1024;
                cs_fp_row_t *v = realloc(set->v, cap * sizeof(*v));
                if (!v)
                        return -1;
                set->v = v;
                set->cap = cap;
        }
        set->v[set->n++] = *row;
        return 0;
}

static int row_cmp(const void *a, const void *b)
{
        uint32_t x = ((const cs_fp_row_t *)a)->id;
        uint32_t y = ((const cs_fp_row_t *)b)->id;
        return x < y ? -1 : x > y;
}

void cs_fp_set_sort(cs_fp_set_t *set)
{
        if (set->n > 1)
                qsort(set->v, set->n, sizeof(*set->v), row_cmp);
}

long long cs_fp_bucket_of(uint32_t id, int id_scale)
{
        return (long long)id / ((long long)id_scale * CS_FP_BUCKET_IDS);
}

int cs_fp_file_load(const char *path, cs_fp_set_t *set, char *errstr,
                    size_t errstr_size)
{
        char magic[8];
        uint64_t count;
        struct stat st;
        FILE *fp = fopen(path, "rb");
        size_t base = set->n;

        if (!fp) {
                snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
                return -1;
        }
        if (fstat(fileno(fp), &st) != 0 ||
            fread(magic, 1, 8, fp) != 8 || memcmp(magic, fp_magic, 8) ||
            fread(&count, sizeof(count), 1, fp) != 1 ||
            (uint64_t)st.st_size != 16 + count * sizeof(cs_fp_row_t)) {
                snprintf(errstr, errstr_size, "%s: not a civisync fingerprint "
                         "file or truncated", path);
                fclose(fp);
                return -1;
        }
        if (set->cap < base + count) {
                cs_fp_row_t *v = realloc(set->v, (base + count + 1) * sizeof(*v));
                if (!v) {
                        fclose(fp);
                        snprintf(errstr, errstr_size, "out of memory");
                        return -1;
                }
                set->v = v;
                set->cap = base + count + 1;
        }
        if (count && fread(set->v + base, sizeof(cs_fp_row_t), count, fp) != count) {
                snprintf(errstr, errstr_size, "%s: short read", path);
                fclose(fp);
                return -1;
        }
        fclose(fp);
        set->n = base + count;
        for (size_t i = base + 1; i < set->n; i++)
                if (set->v[i - 1].id >= set->v[i].id) {
                        snprintf(errstr, errstr_size, "%s: rows not sorted", path);
                        return -1;
                }
        return 0;
}

int cs_fp_file_write(const char *path, const cs_fp_set_t *set, char *errstr,
                     size_t errstr_size)
{
        uint64_t count = set->n;
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
        FILE *fp;

        if (fd == -1 || !(fp = fdopen(fd, "wb"))) {
                snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
                if (fd != -1)
                        close(fd);
                return -1;
        }
        if (fwrite(fp_magic, 1, 8, fp) != 8 ||
            fwrite(&count, sizeof(count), 1, fp) != 1 ||
            (set->n && fwrite(set->v, sizeof(cs_fp_row_t), set->n, fp) != set->n) ||
            fflush(fp) != 0 || fsync(fd) != 0) {
                snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
                fclose(fp);
                unlink(path);
                return -1;
        }
        if (fclose(fp) != 0) {
                snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
                unlink(path);
                return -1;
        }
        return 0;
}

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
        if (errno || *end || v > UINT32_MAX)
                return -1;
        *out = (uint32_t)v;
        return 0;
}

int cs_fp_fetch(MYSQL *db, const cs_src_t *src, const char *cond,
                cs_fp_set_t *set, char *errstr, size_t errstr_size)
{
        char *sql = cs_src_sql(src, CS_SRC_FP_ROW, cond, NULL, errstr,
                               errstr_size);
        MYSQL_RES *res;
        MYSQL_ROW row;
        int rc = 0;

        if (!sql)
                return -1;
        res = cs_db_query_stream(db, sql, errstr, errstr_size);
        free(sql);
        if (!res)
                return -1;
        while ((row = mysql_fetch_row(res))) {
                cs_fp_row_t r;
                if (rc)
                        continue; /* drain the stream */
                if (parse_u32(row[0], &r.id) == -1 || !row[0] ||
                    parse_u32(row[2], &r.parent) == -1 || !row[1]) {
                        snprintf(errstr, errstr_size,
                                 "%s: id %s out of the supported range "
                                 "(1..4294967295)", src->ent->table,
                                 row[0] ? row[0] : "NULL");
                        rc = -1;
                        continue;
                }
                r.hash = strtoull(row[1], NULL, 10);
                if (cs_fp_set_push(set, &r) == -1) {
                        snprintf(errstr, errstr_size, "out of memory");
                        rc = -1;
                }
        }
        if (mysql_errno(db)) {
                snprintf(errstr, errstr_size, "%s: %s", src->ent->table,
                         mysql_error(db));
                rc = -1;
        }
        mysql_free_result(res);
        return rc;
}

int cs_fp_server_buckets(MYSQL *db, const cs_src_t *src, cs_fp_bucket_t **out,
                         size_t *count, char *errstr, size_t errstr_size)
{
        char *sql = cs_src_sql(src, CS_SRC_FP_BUCKET, NULL, NULL, errstr,
                               errstr_size);
        MYSQL_RES *res;
        MYSQL_ROW row;
        size_t n = 0;

        *out = NULL;
        *count = 0;
        if (!sql)
                return -1;
        res = cs_db_query(db, sql, errstr, errstr_size);
        free(sql);
        if (!res)
                return -1;
        if (!(*out = calloc(mysql_num_rows(res) + 1, sizeof(**out)))) {
                mysql_free_result(res);
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        while ((row = mysql_fetch_row(res))) {
                (*out)[n].b = row[0] ? strtoll(row[0], NULL, 10) : -1;
                (*out)[n].n = row[1] ? strtoll(row[1], NULL, 10) : 0;
                (*out)[n].x = row[2] ? strtoull(row[2], NULL, 10) : 0;
                n++;
        }
        mysql_free_result(res);
        *count = n;
        return 0;
}

int cs_fp_set_buckets(const cs_fp_set_t *set, int id_scale,
                      cs_fp_bucket_t **out, size_t *count, char *errstr,
                      size_t errstr_size)
{
        size_t n = 0, distinct = 0;

        *count = 0;
        for (size_t i = 0; i < set->n; i++)
                if (i == 0 || cs_fp_bucket_of(set->v[i].id, id_scale) !=
                              cs_fp_bucket_of(set->v[i - 1].id, id_scale))
                        distinct++;
        if (!(*out = calloc(distinct + 1, sizeof(**out)))) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        for (size_t i = 0; i < set->n; i++) {
                long long b = cs_fp_bucket_of(set->v[i].id, id_scale);
                if (n == 0 || (*out)[n - 1].b != b) {
                        (*out)[n].b = b;
                        n++;
                }
                (*out)[n - 1].n++;
                (*out)[n - 1].x ^= set->v[i].hash;
        }
        *count = n;
        return 0;
}
