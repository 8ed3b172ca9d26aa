/* snapshot.c — reads a child's synced entities page by page inside one consistent snapshot. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "doc.h"
#include "files.h"
#include "capacity.h"
#include "log.h"
#include "schema.h"
#include "snapshot.h"

/* Ids per cs_snap_emit_ids query, and the widest id range one may span. */
#define IDS_PER_QUERY 500
/* A query for a set of ids reads every row (and nested row) in the id range
 * it covers and tests each against the list: a range at most this wide, or
 * IDS_SPAN_PER_ID times the ids it asks for, keeps that reading near what is
 * sent however scattered the ids are (1% of 100k contacts: 8.5 s with one
 * range of up to 200000 ids, 0.x s like this). */
#define IDS_MIN_SPAN 4096
#define IDS_SPAN_PER_ID 64

/* The SQL of one present source. */
typedef struct snap_sql_s {
        char *root_page;   /* roots: id > @cs_lo ORDER BY id LIMIT n */
        char *root_ids;    /* roots: ids in @cs_ids within [@cs_lo, @cs_hi] */
        char *kid_range;   /* nested: parent in (@cs_lo, @cs_hi] */
        char *kid_ids;     /* nested: parent in @cs_ids within [@cs_lo, @cs_hi] */
} snap_sql_t;

struct cs_snap_s {
        MYSQL *db;
        const char *prefix;
        int batch_rows;
        char time_zone[64];
        long long started_at;        /* server clock before the snapshot */
        cs_src_t *srcs;
        snap_sql_t *sql;
        size_t src_cnt;
        const char *files_dir;       /* BORROWED, NULL: no bytes */
        size_t max_file_bytes;
        cs_snap_file_stats_t fstats;
};

void cs_snap_set_files(cs_snap_t *snap, const char *dir, size_t max_bytes)
{
        snap->files_dir = dir;
        snap->max_file_bytes = max_bytes;
        memset(&snap->fstats, 0, sizeof(snap->fstats));
}

const cs_snap_file_stats_t *cs_snap_file_stats(const cs_snap_t *snap)
{
        return &snap->fstats;
}

void cs_snap_log_file_stats(const cs_snap_t *snap)
{
        const long long *n = snap->fstats.by_status;
        long long bad = 0, all;

        for (int i = CS_FILE_NOT_SENT; i <= CS_FILE_UNREADABLE; i++)
                bad += n[i];
        all = bad + n[CS_FILE_OK];
        if (!all)
                return;
        cs_log(bad ? CS_LOG_WARN : CS_LOG_INFO, "prefix %s: files: %lld with "
               "their bytes (%lld bytes), %lld without: %lld not_sent, %lld "
               "missing, %lld too_large, %lld refused, %lld unreadable",
               snap->prefix, n[CS_FILE_OK], snap->fstats.bytes, bad,
               n[CS_FILE_NOT_SENT], n[CS_FILE_MISSING], n[CS_FILE_TOO_LARGE],
               n[CS_FILE_REFUSED], n[CS_FILE_UNREADABLE]);
}

/* Adds a file document's bytes and status (FORMAT.md §20); -1 only when
 * out of memory. A file that cannot be carried is logged and counted,
 * and its document still goes out, saying why. */
static int attach_file(cs_snap_t *snap, json_t *doc, long long id,
                       char *errstr, size_t errstr_size)
{
        char why[512];
        int st = cs_file_attach(doc, cs_reg_file_name_column(), snap->files_dir,
                                snap->max_file_bytes, why, sizeof(why));

        if (st < 0) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        snap->fstats.by_status[st]++;
        if (st == CS_FILE_OK)
                snap->fstats.bytes += json_integer_value(
                        json_object_get(doc, CS_F_FILE_SIZE));
        else if (st != CS_FILE_NOT_SENT)
                cs_warn("prefix %s: file %lld: %s: %s (its document says so; "
                        "the master reports it)", snap->prefix, id,
                        cs_file_status_name((cs_file_status_t)st), why);
        return 0;
}

MYSQL *cs_snap_db(cs_snap_t *snap)
{
        return snap->db;
}

cs_src_t *cs_snap_sources(cs_snap_t *snap, size_t *count)
{
        *count = snap->src_cnt;
        return snap->srcs;
}

static int build_sql(cs_snap_t *snap, cs_src_t *s, snap_sql_t *q,
                     char *errstr, size_t errstr_size)
{
        char suffix[256];

        if (!s->ent->parent) {
                snprintf(suffix, sizeof(suffix), "ORDER BY `id` LIMIT %d",
                         snap->batch_rows);
                q->root_page = cs_src_sql(s, CS_SRC_DOC, "{id} > @cs_lo",
                                          suffix, errstr, errstr_size);
                q->root_ids = cs_src_sql(s, CS_SRC_DOC,
                                         "{id} BETWEEN @cs_lo AND @cs_hi AND "
                                         "FIND_IN_SET({id}, @cs_ids)",
                                         "ORDER BY `id`", errstr, errstr_size);
                return q->root_page && q->root_ids ? 0 : -1;
        }
        snprintf(suffix, sizeof(suffix), "ORDER BY `%s`, `id`",
                 cs_reg_parent_via(s->ent) ? CS_SRC_ROOT_COLUMN :
                 s->ent->parent_column);
        q->kid_range = cs_src_sql(s, CS_SRC_DOC,
                                  "{parent} > @cs_lo AND {parent} <= @cs_hi",
                                  suffix, errstr, errstr_size);
        q->kid_ids = cs_src_sql(s, CS_SRC_DOC,
                                "{parent} BETWEEN @cs_lo AND @cs_hi AND "
                                "FIND_IN_SET({parent}, @cs_ids)",
                                suffix, errstr, errstr_size);
        return q->kid_range && q->kid_ids ? 0 : -1;
}

cs_snap_t *cs_snap_open(MYSQL *db, const char *prefix, int batch_rows,
                        char *errstr, size_t errstr_size)
{
        cs_snap_t *snap = calloc(1, sizeof(*snap));
        MYSQL_RES *res;
        MYSQL_ROW row;

        if (!snap) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        snap->db = db;
        snap->prefix = prefix;
        snap->batch_rows = batch_rows > 0 ? batch_rows : 2000;

        if (cs_db_exec(db, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
                       errstr, errstr_size) == -1 ||
            cs_db_query_int(db, "SELECT UNIX_TIMESTAMP()", &snap->started_at,
                            errstr, errstr_size) == -1 ||
            cs_db_exec(db, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
                       errstr, errstr_size) == -1)
                goto fail;

        res = cs_db_query(db, "SELECT IF(@@global.time_zone = 'SYSTEM', "
                              "@@system_time_zone, @@global.time_zone)",
                          errstr, errstr_size);
        if (!res)
                goto fail;
        row = mysql_fetch_row(res);
        snprintf(snap->time_zone, sizeof(snap->time_zone), "%s",
                 row && row[0] ? row[0] : "UTC");
        mysql_free_result(res);

        if (cs_src_load_all(db, &snap->srcs, &snap->src_cnt, errstr,
                            errstr_size) == -1)
                goto fail;
        if (!(snap->sql = calloc(snap->src_cnt, sizeof(*snap->sql)))) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
        }
        for (size_t i = 0; i < snap->src_cnt; i++)
                if (snap->srcs[i].present &&
                    build_sql(snap, &snap->srcs[i], &snap->sql[i], errstr,
                              errstr_size) == -1)
                        goto fail;
        return snap;
fail:
        cs_snap_close(snap);
        return NULL;
}

long long cs_snap_started_at(const cs_snap_t *snap)
{
        return snap->started_at;
}

int cs_snap_end(cs_snap_t *snap, char *errstr, size_t errstr_size)
{
        return cs_db_exec(snap->db, "COMMIT", errstr, errstr_size);
}

int cs_snap_renew(cs_snap_t *snap, char *errstr, size_t errstr_size)
{
        if (cs_db_exec(snap->db, "COMMIT", errstr, errstr_size) == -1 ||
            cs_db_query_int(snap->db, "SELECT UNIX_TIMESTAMP()",
                            &snap->started_at, errstr, errstr_size) == -1 ||
            cs_db_exec(snap->db, "START TRANSACTION WITH CONSISTENT SNAPSHOT, "
                       "READ ONLY", errstr, errstr_size) == -1)
                return -1;
        return 0;
}

int cs_snap_count(cs_snap_t *snap, long long *total, char *errstr,
                  size_t errstr_size)
{
        char sql[512];

        *total = 0;
        for (size_t i = 0; i < snap->src_cnt; i++) {
                cs_src_t *s = &snap->srcs[i];
                long long n;

                if (!s->present || s->ent->parent)
                        continue;
                snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM `%s`%s%s",
                         s->br[0].table, s->br[0].where ? " WHERE " : "",
                         s->br[0].where ? s->br[0].where : "");
                if (cs_db_query_int(snap->db, sql, &n, errstr,
                                    errstr_size) == -1)
                        return -1;
                *total += n;
        }
        return 0;
}

/* Binds @cs_lo, @cs_hi and @cs_ids through a prepared SET. */
static int set_vars(cs_snap_t *snap, long long lo, long long hi,
                    const char *ids, char *errstr, size_t errstr_size)
{
        cs_db_value_t vals[3] = {
                { .kind = CS_VAL_INT, .i = lo },
                { .kind = CS_VAL_INT, .i = hi },
                { .kind = ids ? CS_VAL_STR : CS_VAL_NULL, .s = ids,
                  .len = ids ? (unsigned long)strlen(ids) : 0 },
        };

        return cs_db_set_vars(snap->db,
                              "SET @cs_lo = ?, @cs_hi = ?, @cs_ids = ?",
                              vals, 3, NULL, NULL, errstr, errstr_size);
}

/* The nested rows of one child table for the current page of roots. */
typedef struct child_page_s {
        cs_src_t *src;
        MYSQL_RES *res;
        MYSQL_ROW row;        /* current row, NULL when exhausted */
        unsigned long *lengths;
} child_page_t;

static void child_advance(child_page_t *cp)
{
        cp->row = mysql_fetch_row(cp->res);
        cp->lengths = cp->row ? mysql_fetch_lengths(cp->res) : NULL;
}

/* Runs root_sql (vars already set); queries the nested rows of the roots
 * found with kid sql (by_ids: kid_ids with the same vars, else kid_range
 * over (lo, last id]);
 * emits one document per root row. *last receives the last root id and
 * *nrows the number of root rows. */
static int emit_batch(cs_snap_t *snap, cs_src_t *s, const char *root_sql,
                      int by_ids, long long lo, cs_snap_emit_cb *cb,
                      void *opaque, long long *last, size_t *nrows,
                      char *errstr, size_t errstr_size)
{
        const cs_entity_t *kids[CS_LIMIT_NESTED_KINDS];
        size_t kid_cnt = cs_reg_children(s->ent, kids, CS_LIMIT_NESTED_KINDS);
        child_page_t pages[CS_LIMIT_NESTED_KINDS];
        size_t page_cnt = 0;
        MYSQL_RES *res;
        MYSQL_ROW row;
        int rc = -1;

        *nrows = 0;
        if (!(res = cs_db_query(snap->db, root_sql, errstr, errstr_size)))
                return -1;
        *nrows = (size_t)mysql_num_rows(res);
        if (*nrows == 0) {
                mysql_free_result(res);
                return 0;
        }
        mysql_data_seek(res, *nrows - 1);
        row = mysql_fetch_row(res);
        *last = strtoll(row[s->id_col], NULL, 10);
        mysql_data_seek(res, 0);
        if (!by_ids && set_vars(snap, lo, *last, NULL, errstr,
                                errstr_size) == -1)
                goto done;

        for (size_t k = 0; k < kid_cnt; k++) {
                cs_src_t *ks = cs_src_find(snap->srcs, snap->src_cnt, kids[k]);
                child_page_t *cp;

                if (!ks || !ks->present)
                        continue;
                cp = &pages[page_cnt];
                cp->src = ks;
                cp->res = cs_db_query(snap->db,
                                      by_ids ? snap->sql[ks - snap->srcs].kid_ids :
                                      snap->sql[ks - snap->srcs].kid_range,
                                      errstr, errstr_size);
                if (!cp->res)
                        goto done;
                page_cnt++;
                child_advance(cp);
        }

        while ((row = mysql_fetch_row(res))) {
                unsigned long *lengths = mysql_fetch_lengths(res);
                long long id = strtoll(row[s->id_col], NULL, 10);
                json_t *doc = cs_doc_from_row(s->ent, &s->tbl, snap->prefix,
                                              snap->time_zone, row, lengths,
                                              errstr, errstr_size);
                if (!doc)
                        goto done;
                if (s->ent == cs_reg_file_entity() &&
                    attach_file(snap, doc, id, errstr, errstr_size) == -1) {
                        json_decref(doc);
                        goto done;
                }
                for (size_t k = 0; k < page_cnt; k++) {
                        child_page_t *cp = &pages[k];
                        while (cp->row) {
                                const char *pv = cp->row[cp->src->parent_col];
                                long long parent = pv ? strtoll(pv, NULL, 10) : 0;
                                json_t *kid;
                                if (parent > id)
                                        break;
                                if (parent == id) {
                                        kid = cs_doc_from_row(
                                                cp->src->ent, &cp->src->tbl,
                                                snap->prefix, snap->time_zone,
                                                cp->row, cp->lengths, errstr,
                                                errstr_size);
                                        if (!kid ||
                                            cs_doc_add_child(doc, kid) == -1) {
                                                json_decref(doc);
                                                goto done;
                                        }
                                }
                                child_advance(cp);
                        }
                }
                if (cb(s->ent, id, doc, opaque, errstr, errstr_size) == -1) {
                        json_decref(doc);
                        goto done;
                }
                json_decref(doc);
        }
        rc = 0;
done:
        for (size_t k = 0; k < page_cnt; k++)
                mysql_free_result(pages[k].res);
        mysql_free_result(res);
        return rc;
}

static int emit_root_table(cs_snap_t *snap, cs_src_t *s, cs_snap_emit_cb *cb,
                           void *opaque, char *errstr, size_t errstr_size)
{
        const char *sql = snap->sql[s - snap->srcs].root_page;
        long long lo = 0, last = 0;
        size_t nrows;

        for (;;) {
                if (set_vars(snap, lo, 0, NULL, errstr, errstr_size) == -1 ||
                    emit_batch(snap, s, sql, 0, lo, cb, opaque, &last,
                               &nrows, errstr, errstr_size) == -1)
                        return -1;
                if (nrows == 0)
                        return 0;
                lo = last;
        }
}

int cs_snap_run(cs_snap_t *snap, cs_snap_emit_cb *cb, void *opaque,
                char *errstr, size_t errstr_size)
{
        for (size_t i = 0; i < snap->src_cnt; i++) {
                cs_src_t *s = &snap->srcs[i];

                if (!s->present || s->ent->parent)
                        continue;
                if (emit_root_table(snap, s, cb, opaque, errstr,
                                    errstr_size) == -1)
                        return -1;
        }
        return 0;
}

int cs_snap_emit_ids(cs_snap_t *snap, const cs_entity_t *ent,
                     const long long *ids, size_t n, cs_snap_emit_cb *cb,
                     void *opaque, char *errstr, size_t errstr_size)
{
        cs_src_t *s = cs_src_find(snap->srcs, snap->src_cnt, ent);
        char *list;
        size_t i = 0;
        int rc = 0;

        if (!s || !s->present || ent->parent || n == 0)
                return 0;
        /* 20 digits + comma per id */
        if (!(list = malloc(IDS_PER_QUERY * 21 + 1))) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        while (i < n && rc == 0) {
                size_t j = i, len = 0, nrows;
                long long last;

                while (j < n && j - i < IDS_PER_QUERY &&
                       (ids[j] - ids[i] <= IDS_MIN_SPAN ||
                        ids[j] - ids[i] <= (long long)(j - i + 1) *
                                           IDS_SPAN_PER_ID)) {
                        len += (size_t)sprintf(list + len, "%s%lld",
                                               j > i ? "," : "", ids[j]);
                        j++;
                }
                rc = set_vars(snap, ids[i], ids[j - 1], list, errstr,
                              errstr_size);
                if (rc == 0)
                        rc = emit_batch(snap, s,
                                        snap->sql[s - snap->srcs].root_ids, 1,
                                        ids[i], cb, opaque,
                                        &last, &nrows, errstr, errstr_size);
                i = j;
        }
        free(list);
        return rc;
}

void cs_snap_close(cs_snap_t *snap)
{
        char errstr[256];

        if (!snap)
                return;
        if (snap->db)
                cs_db_exec(snap->db, "COMMIT", errstr, sizeof(errstr));
        if (snap->sql)
                for (size_t i = 0; i < snap->src_cnt; i++) {
                        free(snap->sql[i].root_page);
                        free(snap->sql[i].root_ids);
                        free(snap->sql[i].kid_range);
                        free(snap->sql[i].kid_ids);
                }
        free(snap->sql);
        cs_src_free_all(snap->srcs, snap->src_cnt);
        free(snap);
}
