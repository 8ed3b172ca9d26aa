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

/* Ids per cs_snap_emit_ids query. Each is a user variable (@cs_i0 ...),
 * bound by one prepared SET, of an IN list that the server resolves by
 * index lookups: a query reads the rows it sends, however scattered the
 * ids are. (Before: one range per query tested against a FIND_IN_SET list,
 * which read every row of the range: at 1% of 1M contacts changed, as many
 * rows as the whole tables.) */
#define IDS_PER_QUERY 128

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

/* "COL BETWEEN @cs_lo AND @cs_hi AND COL IN (@cs_i0, ..., @cs_iN)" for
 * the IDS_PER_QUERY variables set by set_id_vars; written into out. */
static const char *ids_cond(const char *col, char *out, size_t size)
{
        size_t len = (size_t)snprintf(out, size, "%s BETWEEN @cs_lo AND @cs_hi "
                                      "AND %s IN (", col, col);

        for (int i = 0; i < IDS_PER_QUERY && len < size; i++)
                len += (size_t)snprintf(out + len, size - len, "%s@cs_i%d",
                                        i ? "," : "", i);
        if (len < size)
                snprintf(out + len, size - len, ")");
        return out;
}

static int build_sql(cs_snap_t *snap, cs_src_t *s, snap_sql_t *q,
                     char *errstr, size_t errstr_size)
{
        char suffix[256], cond[IDS_PER_QUERY * 12 + 128];

        if (!s->ent->parent) {
                snprintf(suffix, sizeof(suffix), "ORDER BY `id` LIMIT %d",
                         snap->batch_rows);
                q->root_page = cs_src_sql(s, CS_SRC_DOC, "{id} > @cs_lo",
                                          suffix, errstr, errstr_size);
                q->root_ids = cs_src_sql(s, CS_SRC_DOC, ids_cond("{id}", cond,
                                                                 sizeof(cond)),
                                         "ORDER BY `id`", errstr, errstr_size);
                return q->root_page && q->root_ids ? 0 : -1;
        }
        snprintf(suffix, sizeof(suffix), "ORDER BY `%s`, `id`",
                 cs_reg_parent_via(s->ent) ? CS_SRC_ROOT_COLUMN :
                 s->ent->parent_column);
        q->kid_range = cs_src_sql(s, CS_SRC_DOC,
                                  "{parent} > @cs_lo AND {parent} <= @cs_hi",
                                  suffix, errstr, errstr_size);
        q->kid_ids = cs_src_sql(s, CS_SRC_DOC, ids_cond("{parent}", cond,
                                                        sizeof(cond)),
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
                    char *errstr, size_t errstr_size)
{
        cs_db_value_t vals[2] = {
                { .kind = CS_VAL_INT, .i = lo },
                { .kind = CS_VAL_INT, .i = hi },
        };

        return cs_db_set_vars(snap->db, "SET @cs_lo = ?, @cs_hi = ?",
                              vals, 2, NULL, NULL, errstr, errstr_size);
}

/* Binds ids[0..n) (1 <= n <= IDS_PER_QUERY) for ids_cond: @cs_lo and
 * @cs_hi the least and the greatest, @cs_i0 ... the ids, the unused
 * variables repeating the last one. */
static int set_id_vars(cs_snap_t *snap, const long long *ids, size_t n,
                       char *errstr, size_t errstr_size)
{
        cs_db_value_t vals[IDS_PER_QUERY + 2];
        char sql[IDS_PER_QUERY * 14 + 64];
        size_t len = (size_t)snprintf(sql, sizeof(sql),
                                      "SET @cs_lo = ?, @cs_hi = ?");

        long long lo = ids[0], hi = ids[0];

        for (size_t i = 1; i < n; i++) {
                lo = ids[i] < lo ? ids[i] : lo;
                hi = ids[i] > hi ? ids[i] : hi;
        }
        vals[0] = (cs_db_value_t){ .kind = CS_VAL_INT, .i = lo };
        vals[1] = (cs_db_value_t){ .kind = CS_VAL_INT, .i = hi };
        for (size_t i = 0; i < IDS_PER_QUERY; i++) {
                vals[i + 2] = (cs_db_value_t){ .kind = CS_VAL_INT,
                                               .i = ids[i < n ? i : n - 1] };
                len += (size_t)snprintf(sql + len, sizeof(sql) - len,
                                        ", @cs_i%zu = ?", i);
        }
        if (len >= sizeof(sql)) {
                snprintf(errstr, errstr_size, "id variables: SQL too long");
                return -1;
        }
        return cs_db_set_vars(snap->db, sql, vals, IDS_PER_QUERY + 2, NULL,
                              NULL, errstr, errstr_size);
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
        if (!by_ids && set_vars(snap, lo, *last, errstr, errstr_size) == -1)
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
                if (set_vars(snap, lo, 0, errstr, errstr_size) == -1 ||
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
        int rc = 0;

        if (!s || !s->present || ent->parent || n == 0)
                return 0;
        for (size_t i = 0; i < n && rc == 0; i += IDS_PER_QUERY) {
                size_t k = n - i < IDS_PER_QUERY ? n - i : IDS_PER_QUERY, nrows;
                long long last;

                rc = set_id_vars(snap, ids + i, k, errstr, errstr_size);
                if (rc == 0)
                        rc = emit_batch(snap, s,
                                        snap->sql[s - snap->srcs].root_ids, 1,
                                        ids[i], cb, opaque,
                                        &last, &nrows, errstr, errstr_size);
        }
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
