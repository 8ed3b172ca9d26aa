/* snapshot.c — reads a child's synced entities page by page inside one consistent snapshot. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "doc.h"
#include "log.h"
#include "schema.h"
#include "snapshot.h"

#define CS_SNAP_MAX_CHILDREN 8

/* One registry entity as it exists in this child. */
typedef struct cs_snap_table_s {
        const cs_entity_t *ent;
        cs_table_t tbl;
        int present;          /* 0: the child has no such table */
        int id_col;           /* index of "id" */
        int parent_col;       /* children: index of parent_column */
        char *select_sql;     /* "SELECT `a`,`b` FROM `t`" */
} cs_snap_table_t;

struct cs_snap_s {
        MYSQL *db;
        const char *prefix;
        int batch_rows;
        char time_zone[64];
        cs_snap_table_t *tables;
        size_t table_cnt;
};

static cs_snap_table_t *snap_table(cs_snap_t *snap, const cs_entity_t *ent)
{
        for (size_t i = 0; i < snap->table_cnt; i++)
                if (snap->tables[i].ent == ent)
                        return &snap->tables[i];
        return NULL;
}

/* Builds "SELECT `c1`,`c2`,... FROM `table`" from validated identifiers. */
static char *build_select(const cs_table_t *tbl, char *errstr,
                          size_t errstr_size)
{
        size_t size = strlen(tbl->name) + 32;
        char *sql, *p;

        for (size_t i = 0; i < tbl->col_cnt; i++) {
                if (!cs_db_ident_valid(tbl->cols[i].name)) {
                        snprintf(errstr, errstr_size,
                                 "%s: unsupported column name '%s'",
                                 tbl->name, tbl->cols[i].name);
                        return NULL;
                }
                size += strlen(tbl->cols[i].name) + 3;
        }
        sql = p = malloc(size);
        if (!sql) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        p += sprintf(p, "SELECT ");
        for (size_t i = 0; i < tbl->col_cnt; i++)
                p += sprintf(p, "%s`%s`", i ? "," : "", tbl->cols[i].name);
        sprintf(p, " FROM `%s`", tbl->name);
        return sql;
}

cs_snap_t *cs_snap_open(MYSQL *db, const char *prefix, int batch_rows,
                        char *errstr, size_t errstr_size)
{
        size_t count;
        const cs_entity_t *ents = cs_reg_entities(&count);
        cs_snap_t *snap = calloc(1, sizeof(*snap));
        MYSQL_RES *res;
        MYSQL_ROW row;

        if (!snap || !(snap->tables = calloc(count, sizeof(*snap->tables)))) {
                free(snap);
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        snap->db = db;
        snap->prefix = prefix;
        snap->batch_rows = batch_rows > 0 ? batch_rows : 2000;
        snap->table_cnt = count;

        if (cs_db_exec(db, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
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

        for (size_t i = 0; i < count; i++) {
                cs_snap_table_t *st = &snap->tables[i];
                int rc;

                st->ent = &ents[i];
                rc = cs_schema_load(db, ents[i].table, &st->tbl, errstr,
                                    errstr_size);
                if (rc == -1)
                        goto fail;
                if (rc == 1) {
                        cs_info("%s: table absent in this child, skipped",
                                ents[i].table);
                        continue;
                }
                st->present = 1;
                st->id_col = cs_schema_col_index(&st->tbl, "id");
                st->parent_col = ents[i].parent_column ?
                        cs_schema_col_index(&st->tbl, ents[i].parent_column) : -1;
                if (st->id_col < 0 ||
                    (ents[i].parent && st->parent_col < 0)) {
                        snprintf(errstr, errstr_size,
                                 "%s: missing id or parent column",
                                 ents[i].table);
                        goto fail;
                }
                if (!(st->select_sql = build_select(&st->tbl, errstr,
                                                    errstr_size)))
                        goto fail;
        }
        return snap;
fail:
        cs_snap_close(snap);
        return NULL;
}

const char *cs_snap_time_zone(const cs_snap_t *snap)
{
        return snap->time_zone;
}

int cs_snap_count(cs_snap_t *snap, long long *total, char *errstr,
                  size_t errstr_size)
{
        char sql[512];

        *total = 0;
        for (size_t i = 0; i < snap->table_cnt; i++) {
                cs_snap_table_t *st = &snap->tables[i];
                long long n;

                if (!st->present || st->ent->parent)
                        continue;
                snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM `%s`%s%s",
                         st->tbl.name, st->ent->row_filter ? " WHERE " : "",
                         st->ent->row_filter ? st->ent->row_filter : "");
                if (cs_db_query_int(snap->db, sql, &n, errstr,
                                    errstr_size) == -1)
                        return -1;
                *total += n;
        }
        return 0;
}

/* Runs a page query after binding @cs_lo/@cs_hi through a prepared SET. */
static MYSQL_RES *page_query(cs_snap_t *snap, const char *sql, long long lo,
                             long long hi, char *errstr, size_t errstr_size)
{
        cs_db_value_t vals[2] = {
                { .kind = CS_VAL_INT, .i = lo },
                { .kind = CS_VAL_INT, .i = hi },
        };

        if (cs_db_set_vars(snap->db, "SET @cs_lo = ?, @cs_hi = ?", vals, 2,
                           NULL, NULL, errstr, errstr_size) == -1)
                return NULL;
        return cs_db_query(snap->db, sql, errstr, errstr_size);
}

/* The nested rows of one child table for root ids in (lo, hi]. */
typedef struct child_page_s {
        cs_snap_table_t *st;
        MYSQL_RES *res;
        MYSQL_ROW row;        /* current row, NULL when exhausted */
        unsigned long *lengths;
} child_page_t;

static void child_advance(child_page_t *cp)
{
        cp->row = mysql_fetch_row(cp->res);
        cp->lengths = cp->row ? mysql_fetch_lengths(cp->res) : NULL;
}

static int emit_root_table(cs_snap_t *snap, cs_snap_table_t *st,
                           cs_snap_emit_cb *cb, void *opaque, char *errstr,
                           size_t errstr_size)
{
        const cs_entity_t *kids[CS_SNAP_MAX_CHILDREN];
        size_t kid_cnt = cs_reg_children(st->ent, kids, CS_SNAP_MAX_CHILDREN);
        child_page_t pages[CS_SNAP_MAX_CHILDREN];
        size_t page_cnt = 0;
        char sql[8192];
        long long lo = 0;
        int rc = -1;

        for (;;) {
                MYSQL_RES *res;
                MYSQL_ROW row;
                my_ulonglong nrows;
                long long hi;

                snprintf(sql, sizeof(sql),
                         "%s WHERE `id` > @cs_lo%s%s%s ORDER BY `id` LIMIT %d",
                         st->select_sql, st->ent->row_filter ? " AND (" : "",
                         st->ent->row_filter ? st->ent->row_filter : "",
                         st->ent->row_filter ? ")" : "", snap->batch_rows);
                if (!(res = page_query(snap, sql, lo, 0, errstr, errstr_size)))
                        return -1;
                nrows = mysql_num_rows(res);
                if (nrows == 0) {
                        mysql_free_result(res);
                        return 0;
                }
                mysql_data_seek(res, nrows - 1);
                row = mysql_fetch_row(res);
                hi = strtoll(row[st->id_col], NULL, 10);
                mysql_data_seek(res, 0);

                /* Nested rows of every child table for this page of roots. */
                page_cnt = 0;
                for (size_t k = 0; k < kid_cnt; k++) {
                        cs_snap_table_t *kst = snap_table(snap, kids[k]);
                        child_page_t *cp;

                        if (!kst || !kst->present)
                                continue;
                        cp = &pages[page_cnt];
                        snprintf(sql, sizeof(sql),
                                 "%s WHERE `%s` > @cs_lo AND `%s` <= @cs_hi%s%s%s "
                                 "ORDER BY `%s`, `id`",
                                 kst->select_sql, kst->ent->parent_column,
                                 kst->ent->parent_column,
                                 kst->ent->row_filter ? " AND (" : "",
                                 kst->ent->row_filter ? kst->ent->row_filter : "",
                                 kst->ent->row_filter ? ")" : "",
                                 kst->ent->parent_column);
                        cp->st = kst;
                        if (!(cp->res = page_query(snap, sql, lo, hi, errstr,
                                                   errstr_size)))
                                goto page_done;
                        page_cnt++;
                        child_advance(cp);
                }

                while ((row = mysql_fetch_row(res))) {
                        unsigned long *lengths = mysql_fetch_lengths(res);
                        long long id = strtoll(row[st->id_col], NULL, 10);
                        json_t *doc = cs_doc_from_row(st->ent, &st->tbl,
                                                      snap->prefix,
                                                      snap->time_zone, row,
                                                      lengths, errstr,
                                                      errstr_size);
                        if (!doc)
                                goto page_done;
                        for (size_t k = 0; k < page_cnt; k++) {
                                child_page_t *cp = &pages[k];
                                while (cp->row) {
                                        const char *pv = cp->row[cp->st->parent_col];
                                        long long parent = pv ? strtoll(pv, NULL, 10) : 0;
                                        json_t *kid;
                                        if (parent > id)
                                                break;
                                        if (parent == id) {
                                                kid = cs_doc_from_row(
                                                        cp->st->ent, &cp->st->tbl,
                                                        snap->prefix,
                                                        snap->time_zone, cp->row,
                                                        cp->lengths, errstr,
                                                        errstr_size);
                                                if (!kid ||
                                                    cs_doc_add_child(doc, kid) == -1) {
                                                        json_decref(doc);
                                                        goto page_done;
                                                }
                                        }
                                        child_advance(cp);
                                }
                        }
                        if (cb(st->ent, id, doc, opaque, errstr,
                               errstr_size) == -1) {
                                json_decref(doc);
                                goto page_done;
                        }
                        json_decref(doc);
                }
                rc = 0;
page_done:
                for (size_t k = 0; k < page_cnt; k++)
                        mysql_free_result(pages[k].res);
                mysql_free_result(res);
                if (rc == -1)
                        return -1;
                rc = -1;
                lo = hi;
        }
}

int cs_snap_run(cs_snap_t *snap, cs_snap_emit_cb *cb, void *opaque,
                char *errstr, size_t errstr_size)
{
        for (size_t i = 0; i < snap->table_cnt; i++) {
                cs_snap_table_t *st = &snap->tables[i];

                if (!st->present || st->ent->parent)
                        continue;
                if (emit_root_table(snap, st, cb, opaque, errstr,
                                    errstr_size) == -1)
                        return -1;
        }
        return 0;
}

void cs_snap_close(cs_snap_t *snap)
{
        char errstr[256];

        if (!snap)
                return;
        if (snap->db)
                cs_db_exec(snap->db, "COMMIT", errstr, sizeof(errstr));
        for (size_t i = 0; i < snap->table_cnt; i++) {
                if (snap->tables[i].present)
                        cs_schema_free(&snap->tables[i].tbl);
                free(snap->tables[i].select_sql);
        }
        free(snap->tables);
        free(snap);
}
