/* verify.c — compares a child with the master through mapping_master_<PREFIX>, read-only and streaming. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "doc.h"
#include "log.h"
#include "poly_sql.h"
#include "prefix.h"
#include "schema.h"
#include "verify.h"
#include "registry_custom.h"

#define SQL_MAX 32768
#define DETAIL_MAX 2048
#define VALUE_SHOWN 40

/* How one column is compared (mirrors the consumer's build_row order:
 * parent link, CLEAR, reference, UNIQUE, verbatim). */
typedef enum {
        VC_PLAIN = 0,  /* text-protocol bytes equal (numerically for floats) */
        VC_CLEAR,      /* master must be NULL */
        VC_QUALIFY,    /* master == cs_reg_qualify(prefix, child value) */
        VC_REF,        /* reference to `target`: compared through the mapping */
        VC_POLY,       /* reference to the table named by another column */
        VC_IDLIST,     /* comma-separated ids of `target`, translated in order */
        VC_PATH        /* a file name: master == "<prefix>/<child value>" */
} vc_kind_t;

typedef struct vcol_s {
        const char *name;
        vc_kind_t kind;
        const cs_column_t *ccol;   /* child column */
        const cs_column_t *mcol;   /* master column */
        const char *target;        /* VC_REF / VC_IDLIST */
        int cidx;                  /* index in the child row */
        int midx;                  /* index of the raw master value */
        int ridx;                  /* VC_REF/VC_POLY: master value mapped back to a child id */
} vcol_t;

typedef struct run_s {
        MYSQL *child, *master;
        const char *prefix;
        char map[CS_PREFIX_MAX + 32];
        int map_exists;
        int has_custom_groups;     /* the master has civicrm_custom_group */
        cs_db_cache_t *cache;      /* master lookups (id lists) */
        cs_verify_diff_cb *diff_cb;
        cs_verify_entity_cb *entity_cb;
        void *opaque;
        char *sql;                 /* SQL_MAX scratch */
        char *buf;                 /* qualify / id-list scratch */
        size_t buf_size;
        char *errstr;
        size_t errstr_size;
} run_t;

/* One row of a result with its lengths. */
typedef struct row_s {
        MYSQL_ROW v;
        unsigned long *len;
} row_t;

/* ---- small helpers ---- */

static int grow_buf(run_t *r, size_t need)
{
        char *p;

        if (need <= r->buf_size)
                return 0;
        if (!(p = realloc(r->buf, need))) {
                snprintf(r->errstr, r->errstr_size, "out of memory");
                return -1;
        }
        r->buf = p;
        r->buf_size = need;
        return 0;
}

/* A value for messages: NULL, <N bytes> for binary, else quoted, cut at
 * VALUE_SHOWN bytes on a UTF-8 boundary, control characters as '?'. */
static void show_value(char *out, size_t size, const char *v,
                       unsigned long len, int binary)
{
        size_t n = len, o = 0;

        if (!v) {
                snprintf(out, size, "NULL");
                return;
        }
        if (binary) {
                snprintf(out, size, "<%lu bytes>", len);
                return;
        }
        if (n > VALUE_SHOWN) {
                n = VALUE_SHOWN;
                while (n > 0 && ((unsigned char)v[n] & 0xC0) == 0x80)
                        n--;
        }
        if (size < 8)
                return;
        out[o++] = '"';
        for (size_t i = 0; i < n && o + 6 < size; i++)
                out[o++] = ((unsigned char)v[i] < 0x20 || v[i] == 0x7f) ? '?' : v[i];
        if (n < len && o + 6 < size) {
                memcpy(out + o, "...", 3);
                o += 3;
        }
        out[o++] = '"';
        out[o] = '\0';
}

static int same_bytes(const char *a, unsigned long alen, const char *b,
                      unsigned long blen)
{
        if (!a || !b)
                return !a && !b;
        return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static long long to_id(const char *s)
{
        return s ? strtoll(s, NULL, 10) : 0;
}

static void report(run_t *r, cs_verify_kind_t kind, const cs_entity_t *ent,
                   long long child_id, long long master_id,
                   const char *columns, const char *detail)
{
        char id[CS_DOC_ID_MAX + 1];
        cs_verify_diff_t d;

        if (!r->diff_cb)
                return;
        if (cs_doc_id(id, sizeof(id), r->prefix, ent->table, child_id) == -1)
                snprintf(id, sizeof(id), "%s/%s/%lld", r->prefix, ent->table,
                         child_id);
        d.kind = kind;
        d.entity = ent;
        d.doc_id = id;
        d.child_id = child_id;
        d.master_id = master_id;
        d.columns = columns ? columns : "";
        d.detail = detail ? detail : "";
        r->diff_cb(&d, r->opaque);
}

/* ---- id lists ---- */

/* Translates a child id list the way the consumer does: ids looked up in
 * the mapping, unmapped ids left out, joined with ",". Result in r->buf.
 * Returns 0, 1 when the list is not a valid id list, -1 on a DB error. */
static int translate_list(run_t *r, const char *target, const char *list,
                          unsigned long len, int *unmapped)
{
        const char *p = list, *end = list + len;
        size_t out = 0;
        char sql[256];

        *unmapped = 0;
        snprintf(sql, sizeof(sql), "SELECT master_entity_id FROM `%s` WHERE "
                 "entity_table = ? AND child_entity_id = ?", r->map);
        if (grow_buf(r, len * 4 + 64) == -1)
                return -1;
        r->buf[0] = '\0';
        while (p < end) {
                cs_db_value_t params[2] = {
                        { .kind = CS_VAL_STR, .s = target, .len = strlen(target) },
                        { .kind = CS_VAL_INT },
                };
                long long id = 0, master = 0;
                int found = 0, digits = 0;
                unsigned int dberr = 0;

                while (p < end && (*p == ',' || *p == ' '))
                        p++;
                if (p >= end)
                        break;
                while (p < end && *p >= '0' && *p <= '9' && digits < 19) {
                        id = id * 10 + (*p++ - '0');
                        digits++;
                }
                if (!digits || id <= 0 || (p < end && *p != ',' && *p != ' '))
                        return 1;
                if (!r->map_exists) {
                        (*unmapped)++;
                        continue;
                }
                params[1].i = id;
                if (cs_db_run(r->cache, sql, params, 2, NULL, NULL, &master,
                              &found, &dberr, r->errstr, r->errstr_size) == -1)
                        return -1;
                if (!found) {
                        (*unmapped)++;
                        continue;
                }
                if (grow_buf(r, out + 32) == -1)
                        return -1;
                out += (size_t)sprintf(r->buf + out, "%s%lld", out ? "," : "",
                                       master);
        }
        return 0;
}

/* ---- one column ---- */

/* Compares one column of a matched pair. Returns 1 equal, 0 different
 * (why appended to detail), -1 on error. */
static int compare_col(run_t *r, const vcol_t *vc, const row_t *c,
                       const row_t *m, char *detail, size_t detail_size)
{
        const char *cv = c->v[vc->cidx], *mv = m->v[vc->midx];
        unsigned long cl = c->len[vc->cidx], ml = m->len[vc->midx];
        int binary = vc->mcol->type == CS_COL_BINARY;
        char a[VALUE_SHOWN * 2 + 16], b[VALUE_SHOWN * 2 + 16];

        switch (vc->kind) {
        case VC_CLEAR:
                if (!mv)
                        return 1;
                show_value(b, sizeof(b), mv, ml, binary);
                cs_db_append(detail, detail_size, "%s: master %s, expected NULL "
                       "(cleared on the master); ", vc->name, b);
                return 0;
        case VC_PATH: {
                size_t plen = strlen(r->prefix);

                if (!cv && !mv)
                        return 1;
                if (cv && mv && ml == plen + 1 + cl &&
                    memcmp(mv, r->prefix, plen) == 0 && mv[plen] == '/' &&
                    memcmp(mv + plen + 1, cv, cl) == 0)
                        return 1;
                show_value(a, sizeof(a), cv, cl, 0);
                show_value(b, sizeof(b), mv, ml, 0);
                cs_db_append(detail, detail_size, "%s: child %s (stored as "
                       "\"%s/...\"), master %s; ", vc->name, a, r->prefix, b);
                return 0;
        }
        case VC_QUALIFY: {
                size_t max;
                size_t size = cs_reg_qualify_size(vc->mcol->max_length, &max);
                int qlen;

                if (!cv) {
                        if (!mv)
                                return 1;
                        show_value(b, sizeof(b), mv, ml, 0);
                        cs_db_append(detail, detail_size, "%s: child NULL, master %s; ",
                               vc->name, b);
                        return 0;
                }
                if (grow_buf(r, size) == -1)
                        return -1;
                qlen = cs_reg_qualify(r->prefix, cv, cl, max, r->buf,
                                      r->buf_size);
                if (qlen >= 0 && same_bytes(r->buf, (unsigned long)qlen, mv, ml))
                        return 1;
                show_value(a, sizeof(a), cv, cl, 0);
                show_value(b, sizeof(b), mv, ml, 0);
                cs_db_append(detail, detail_size, "%s: child %s (qualified \"%s:...\"), "
                       "master %s; ", vc->name, a, r->prefix, b);
                return 0;
        }
        case VC_REF:
        case VC_POLY: {
                const char *rv = m->v[vc->ridx];

                if (!cv) {
                        if (!mv)
                                return 1;
                        cs_db_append(detail, detail_size, "%s: child NULL, master %s; ",
                               vc->name, mv);
                        return 0;
                }
                if (mv && rv && to_id(rv) == to_id(cv))
                        return 1;
                if (!mv)
                        cs_db_append(detail, detail_size, "%s: child %s, master NULL "
                               "(target not mapped or reference parked); ",
                               vc->name, cv);
                else if (!rv)
                        cs_db_append(detail, detail_size, "%s: child %s, master %s "
                               "(not a row of this child); ", vc->name, cv, mv);
                else
                        cs_db_append(detail, detail_size, "%s: child %s, master %s "
                               "(= child %s); ", vc->name, cv, mv, rv);
                return 0;
        }
        case VC_IDLIST: {
                int unmapped, rc;

                if (!cv) {
                        if (!mv)
                                return 1;
                        show_value(b, sizeof(b), mv, ml, 0);
                        cs_db_append(detail, detail_size, "%s: child NULL, master %s; ",
                               vc->name, b);
                        return 0;
                }
                rc = translate_list(r, vc->target, cv, cl, &unmapped);
                if (rc == -1)
                        return -1;
                if (rc == 0 && !unmapped &&
                    same_bytes(r->buf, (unsigned long)strlen(r->buf), mv, ml))
                        return 1;
                show_value(a, sizeof(a), cv, cl, 0);
                show_value(b, sizeof(b), mv, ml, 0);
                cs_db_append(detail, detail_size, "%s: child %s, master %s%s; ",
                       vc->name, a, b,
                       rc == 1 ? " (child value is not an id list)" :
                       unmapped ? " (child ids not mapped)" : "");
                return 0;
        }
        case VC_PLAIN:
        default:
                if (same_bytes(cv, cl, mv, ml))
                        return 1;
                if (cv && mv && (vc->ccol->type == CS_COL_FLOAT ||
                                 vc->mcol->type == CS_COL_FLOAT) &&
                    strtod(cv, NULL) == strtod(mv, NULL))
                        return 1;
                /* A child DATE stored in a master DATETIME/TIMESTAMP is that
                 * date at midnight (docs/FORMAT.md §10; 4.2 notes). */
                if (cv && mv && vc->ccol->type == CS_COL_DATE &&
                    (vc->mcol->type == CS_COL_DATETIME ||
                     vc->mcol->type == CS_COL_TIMESTAMP) &&
                    ml == cl + 9 && !memcmp(cv, mv, cl) &&
                    !memcmp(mv + cl, " 00:00:00", 9))
                        return 1;
                show_value(a, sizeof(a), cv, cl, binary ||
                           vc->ccol->type == CS_COL_BINARY);
                show_value(b, sizeof(b), mv, ml, binary);
                cs_db_append(detail, detail_size, "%s: child %s, master %s; ",
                       vc->name, a, b);
                return 0;
        }
}

/* ---- one entity ---- */

typedef struct ent_run_s {
        const cs_entity_t *ent;
        cs_table_t ctbl, mtbl;
        int have_c, have_m;
        int legacy;                /* 4.2 child: activity contacts synthesized */
        vcol_t *cols;
        size_t col_cnt;
        int has_idlist;
        long long *parked_ids;     /* child ids of parked documents, sorted */
        size_t parked_n;
        char note[512];
        cs_verify_entity_t rep;
} ent_run_t;

static void ent_free(ent_run_t *e)
{
        if (e->have_c)
                cs_schema_free(&e->ctbl);
        if (e->have_m)
                cs_schema_free(&e->mtbl);
        free(e->cols);
        free(e->parked_ids);
}

/* Decides how every child column is compared; fills e->cols. */
static int plan_columns(run_t *r, ent_run_t *e)
{
        const cs_entity_t *ent = e->ent;
        int next_m = 3;

        if (!(e->cols = calloc(e->ctbl.col_cnt + 1, sizeof(*e->cols)))) {
                snprintf(r->errstr, r->errstr_size, "out of memory");
                return -1;
        }
        for (size_t i = 0; i < e->ctbl.col_cnt; i++) {
                const cs_column_t *cc = &e->ctbl.cols[i];
                const cs_ref_t *ref;
                vcol_t *vc;
                int mi;

                if (!strcmp(cc->name, "id") ||
                    cs_reg_col_policy(ent, cc->name) == CS_COL_OMIT)
                        continue;
                if (!cs_db_ident_valid(cc->name)) {
                        snprintf(r->errstr, r->errstr_size,
                                 "%s: unsupported column name", ent->table);
                        return -1;
                }
                mi = cs_schema_col_index(&e->mtbl, cc->name);
                if (mi < 0) {
                        cs_db_append(e->note, sizeof(e->note), "%s%s",
                               e->note[0] ? ", " : "not on the master, not compared: ",
                               cc->name);
                        continue;
                }
                vc = &e->cols[e->col_cnt++];
                vc->name = cc->name;
                vc->ccol = cc;
                vc->mcol = &e->mtbl.cols[mi];
                vc->cidx = (int)e->col_cnt; /* child row: id first */
                vc->midx = next_m++;
                vc->ridx = -1;
                ref = cs_reg_ref(ent, cc->name);
                if (ent->parent && ent->parent_column &&
                    !strcmp(cc->name, ent->parent_column)) {
                        vc->kind = VC_REF;
                        vc->target = cs_reg_link_target(ent)->table;
                } else if (cs_reg_col_policy(ent, cc->name) == CS_COL_CLEAR) {
                        vc->kind = VC_CLEAR;
                } else if (cs_reg_col_policy(ent, cc->name) == CS_COL_PREFIX_PATH) {
                        vc->kind = VC_PATH;
                } else if (ref && ref->kind == CS_REF_ENTITY) {
                        vc->kind = VC_REF;
                        vc->target = ref->target;
                } else if (ref && ref->kind == CS_REF_POLY) {
                        vc->kind = VC_POLY;
                        if (cs_schema_col_index(&e->mtbl, ref->table_column) < 0 ||
                            !cs_db_ident_valid(ref->table_column)) {
                                snprintf(r->errstr, r->errstr_size,
                                         "master %s has no column %s",
                                         ent->table, ref->table_column);
                                return -1;
                        }
                } else if (ref && ref->kind == CS_REF_ID_LIST) {
                        vc->kind = VC_IDLIST;
                        vc->target = ref->target;
                        e->has_idlist = 1;
                } else if (cs_reg_unique(ent, cc->name)) {
                        vc->kind = VC_QUALIFY;
                } else {
                        vc->kind = VC_PLAIN;
                }
                if (vc->kind == VC_REF || vc->kind == VC_POLY)
                        vc->ridx = next_m++;
        }
        return 0;
}

/* SELECT of the synced child rows, in id order, with the producer's filters. */
/* Leaves out of r->sql (a WHERE on the child's table) the rows whose
 * polymorphic reference is deferred: they wait, parked, for a later
 * phase's rows and are counted in the entity's note instead. Binds the
 * variables on the child connection. */
static int exclude_deferred(run_t *r, const ent_run_t *e)
{
        cs_db_value_t vals[32];
        char set[1024] = "";
        size_t n = 0;
        cs_poly_sql_t b = { r->sql, SQL_MAX, set, sizeof(set), vals, &n,
                            sizeof(vals) / sizeof(vals[0]) };

        for (const cs_ref_t *ref = e->ent->refs; ref && ref->column; ref++)
                if (cs_poly_exclude_deferred_sql(ref, (size_t)(ref - e->ent->refs),
                                                 &b, r->errstr, r->errstr_size) == -1)
                        return -1;
        return n ? cs_db_set_vars(r->child, set, vals, n, NULL, NULL, r->errstr,
                                  r->errstr_size) : 0;
}

/* The child's rows of e that wait for a later phase's rows (deferred
 * polymorphic references): *out. 0, or -1. */
static int count_deferred(run_t *r, const ent_run_t *e, long long *out)
{
        long long all = 0, kept = 0;
        int has = 0;

        *out = 0;
        for (const cs_ref_t *ref = e->ent->refs; ref && ref->column; ref++)
                has |= cs_poly_has_deferred(ref);
        if (!has || e->legacy)
                return 0;
        for (int pass = 0; pass < 2; pass++) {
                MYSQL_RES *res;
                MYSQL_ROW row;
                snprintf(r->sql, SQL_MAX, "SELECT COUNT(*) FROM `%s` WHERE 1 = 1",
                         e->ent->table);
                if (e->ent->row_filter &&
                    cs_db_append(r->sql, SQL_MAX, " AND (%s)", e->ent->row_filter) == -1) {
                        snprintf(r->errstr, r->errstr_size, "%s: count too long",
                                 e->ent->table);
                        return -1;
                }
                if (pass && exclude_deferred(r, e) == -1)
                        return -1;
                if (!(res = cs_db_query(r->child, r->sql, r->errstr, r->errstr_size)))
                        return -1;
                row = mysql_fetch_row(res);
                *(pass ? &kept : &all) = row && row[0] ? strtoll(row[0], NULL, 10) : 0;
                mysql_free_result(res);
        }
        *out = all - kept;
        return 0;
}

static int child_sql(run_t *r, const ent_run_t *e)
{
        const cs_entity_t *ent = e->ent;
        int bad = 0;

        snprintf(r->sql, SQL_MAX, "SELECT `id`");
        for (size_t i = 0; i < e->col_cnt; i++)
                bad |= cs_db_append(r->sql, SQL_MAX, ", `%s`", e->cols[i].name);
        if (e->legacy) {
                /* The rows an older child's producer synthesizes (the
                 * registry's legacy descriptor, FORMAT.md §17). */
                const cs_legacy_t *lg = ent->legacy;
                bad |= cs_db_append(r->sql, SQL_MAX, " FROM (");
                for (const cs_legacy_branch_t *b = lg->branches; b->table; b++) {
                        bad |= cs_db_append(r->sql, SQL_MAX, "%sSELECT ",
                               b == lg->branches ? "" : " UNION ALL ");
                        for (size_t c = 0; lg->columns[c]; c++)
                                bad |= cs_db_append(r->sql, SQL_MAX, "%s%s AS `%s`", c ? ", " : "",
                                       b->exprs[c], lg->columns[c]);
                        bad |= cs_db_append(r->sql, SQL_MAX, " FROM `%s`", b->table);
                        if (b->where)
                                bad |= cs_db_append(r->sql, SQL_MAX, " WHERE %s", b->where);
                }
                bad |= cs_db_append(r->sql, SQL_MAX, ") AS `%s` WHERE 1 = 1", ent->table);
        } else
                bad |= cs_db_append(r->sql, SQL_MAX, " FROM `%s` WHERE 1 = 1", ent->table);
        if (ent->parent_column)
                bad |= cs_db_append(r->sql, SQL_MAX, " AND `%s` IS NOT NULL", ent->parent_column);
        if (cs_reg_parent_via(ent)) {
                /* As the producer: rows whose via row has a root. */
                char alias[80], root[512];
                snprintf(alias, sizeof(alias), "`%s`", ent->table);
                bad |= cs_reg_root_expr(ent, alias, root, sizeof(root)) == -1;
                bad |= cs_db_append(r->sql, SQL_MAX, " AND %s IS NOT NULL", root);
        }
        if (ent->row_filter)
                bad |= cs_db_append(r->sql, SQL_MAX, " AND (%s)", ent->row_filter);
        if (bad) {
                snprintf(r->errstr, r->errstr_size, "%s: child SELECT longer than %d bytes",
                         ent->table, SQL_MAX);
                return -1;
        }
        if (exclude_deferred(r, e) == -1)
                return -1;
        if (cs_db_append(r->sql, SQL_MAX, " ORDER BY `id`") == -1) {
                snprintf(r->errstr, r->errstr_size, "%s: child SELECT longer than %d bytes",
                         ent->table, SQL_MAX);
                return -1;
        }
        return 0;
}

/* Binds @cs_vt (the entity's table) and @cs_v<i> (reference targets) and
 * builds the master SELECT: mapping entries of the table in child-id
 * order, LEFT JOINed to their master rows; references are mapped back to
 * child ids in SQL (scalar subqueries on the mapping's master key). */
static int master_sql(run_t *r, const ent_run_t *e)
{
        cs_db_value_t vals[64];
        char set[2048];
        size_t n = 0;
        int bad = 0;

        snprintf(set, sizeof(set), "SET @cs_vt = ?");
        vals[n].kind = CS_VAL_STR;
        vals[n].s = e->ent->table;
        vals[n++].len = strlen(e->ent->table);
        snprintf(r->sql, SQL_MAX, "SELECT m.child_entity_id, m.master_entity_id, t.`id`");
        for (size_t i = 0; i < e->col_cnt; i++) {
                const vcol_t *vc = &e->cols[i];

                bad |= cs_db_append(r->sql, SQL_MAX, ", t.`%s`", vc->name);
                if (vc->kind == VC_REF) {
                        if (n >= sizeof(vals) / sizeof(vals[0])) {
                                snprintf(r->errstr, r->errstr_size,
                                         "%s: too many references", e->ent->table);
                                return -1;
                        }
                        bad |= cs_db_append(set, sizeof(set), ", @cs_v%zu = ?", i);
                        vals[n].kind = CS_VAL_STR;
                        vals[n].s = vc->target;
                        vals[n++].len = strlen(vc->target);
                        /* A reference to a site-metadata row (a reserved
                         * price set) is carried verbatim: same id. */
                        const char *site = cs_reg_site_rows(vc->target);
                        bad |= cs_db_append(r->sql, SQL_MAX,
                               ", COALESCE((SELECT MIN(x.child_entity_id) FROM `%s` x "
                               "WHERE x.entity_table = @cs_v%zu AND x.master_entity_id "
                               "= t.`%s`)", r->map, i, vc->name);
                        if (site)
                                bad |= cs_db_append(r->sql, SQL_MAX, ", (SELECT s.`id` "
                                       "FROM `%s` s WHERE s.`id` = t.`%s` AND (%s))",
                                       vc->target, vc->name, site);
                        bad |= cs_db_append(r->sql, SQL_MAX, ")");
                } else if (vc->kind == VC_POLY && cs_reg_poly_custom_ok(e->ent) &&
                           r->has_custom_groups) {
                        /* A custom value table stands for the entity its
                         * custom group extends (the consumer's rule). */
                        const cs_ref_t *ref = cs_reg_ref(e->ent, vc->name);
                        char col[80], expr[1024];
                        snprintf(col, sizeof(col), "t.`%s`", ref->table_column);
                        if (cs_reg_custom_target_sql(expr, sizeof(expr), col) == -1) {
                                snprintf(r->errstr, r->errstr_size, "%s: custom "
                                         "target expression too long", e->ent->table);
                                return -1;
                        }
                        bad |= cs_db_append(r->sql, SQL_MAX,
                               ", (SELECT MIN(x.child_entity_id) FROM `%s` x WHERE "
                               "x.entity_table = %s AND x.master_entity_id = t.`%s`)",
                               r->map, expr, vc->name);
                } else if (vc->kind == VC_POLY) {
                        cs_poly_sql_t b = { r->sql, SQL_MAX, set, sizeof(set),
                                            vals, &n, sizeof(vals) / sizeof(vals[0]) };
                        if (cs_poly_backmap_sql(cs_reg_ref(e->ent, vc->name),
                                                r->map, i, &b, r->errstr,
                                                r->errstr_size) == -1)
                                return -1;
                }
        }
        bad |= cs_db_append(r->sql, SQL_MAX, " FROM `%s` m LEFT JOIN `%s` t ON t.`id` = "
               "m.master_entity_id WHERE m.entity_table = @cs_vt", r->map,
               e->ent->table);
        {
                /* A table with two entities (registry_loc.c): each compares
                 * the master rows of its own view; a mapping entry whose
                 * master row is gone is reported once, by the first. */
                char view[512];
                if (cs_reg_view_filter(e->ent, view, sizeof(view)))
                        bad |= cs_db_append(r->sql, SQL_MAX, " AND (%s(%s))",
                               cs_reg_by_table(e->ent->table) == e->ent ?
                               "t.`id` IS NULL OR " : "t.`id` IS NOT NULL AND ",
                               view);
        }
        bad |= cs_db_append(r->sql, SQL_MAX, " ORDER BY m.child_entity_id");
        if (bad) {
                snprintf(r->errstr, r->errstr_size, "%s: master SELECT longer than %d "
                         "bytes", e->ent->table, SQL_MAX);
                return -1;
        }
        return cs_db_set_vars(r->master, set, vals, n, NULL, NULL, r->errstr,
                              r->errstr_size);
}

static int fetch(MYSQL *db, MYSQL_RES *res, row_t *row, char *errstr,
                 size_t errstr_size)
{
        if (!res) {
                row->v = NULL;
                return 0;
        }
        row->v = mysql_fetch_row(res);
        if (row->v) {
                row->len = mysql_fetch_lengths(res);
                return 0;
        }
        if (mysql_errno(db)) {
                snprintf(errstr, errstr_size, "%s", mysql_error(db));
                return -1;
        }
        return 0;
}

static int id_cmp(const void *a, const void *b)
{
        long long x = *(const long long *)a, y = *(const long long *)b;
        return (x > y) - (x < y);
}

/* Loads the child ids of ent's documents parked on the master
 * (civisync_parked_doc) into e->parked_ids, sorted: read before the
 * streamed master query, which holds the connection. */
static int load_parked(run_t *r, ent_run_t *e)
{
        char like[CS_DOC_ID_MAX + 8];
        size_t plen;
        MYSQL_RES *res;
        MYSQL_ROW row;
        cs_db_value_t p[2];

        if (!r->map_exists)
                return 0;
        snprintf(like, sizeof(like), "%s/%s/", r->prefix, e->ent->table);
        plen = strlen(like);
        p[0] = (cs_db_value_t){ .kind = CS_VAL_STR, .s = r->prefix,
                                .len = strlen(r->prefix) };
        p[1] = (cs_db_value_t){ .kind = CS_VAL_STR, .s = like, .len = plen };
        if (cs_db_set_vars(r->master, "SET @cs_pp = ?, @cs_pk = ?", p, 2, NULL,
                           NULL, r->errstr, r->errstr_size) == -1 ||
            !(res = cs_db_query(r->master, "SELECT doc_key FROM civisync_parked_doc "
                                "WHERE prefix = @cs_pp AND LEFT(doc_key, "
                                "CHAR_LENGTH(@cs_pk)) = @cs_pk", r->errstr,
                                r->errstr_size)))
                return -1;
        e->parked_ids = calloc(mysql_num_rows(res) + 1, sizeof(*e->parked_ids));
        if (!e->parked_ids) {
                mysql_free_result(res);
                snprintf(r->errstr, r->errstr_size, "out of memory");
                return -1;
        }
        while ((row = mysql_fetch_row(res)))
                if (strlen(row[0]) > plen)
                        e->parked_ids[e->parked_n++] = strtoll(row[0] + plen, NULL, 10);
        mysql_free_result(res);
        qsort(e->parked_ids, e->parked_n, sizeof(*e->parked_ids), id_cmp);
        return 0;
}

static int is_parked(const ent_run_t *e, long long id)
{
        return e->parked_n && bsearch(&id, e->parked_ids, e->parked_n,
                                      sizeof(*e->parked_ids), id_cmp) != NULL;
}

/* Merge-joins the two ordered streams. */
static int merge(run_t *r, ent_run_t *e, MYSQL_RES *cres, MYSQL_RES *mres)
{
        char detail[DETAIL_MAX], columns[DETAIL_MAX / 2];
        row_t c, m;

        if (fetch(r->child, cres, &c, r->errstr, r->errstr_size) == -1 ||
            fetch(r->master, mres, &m, r->errstr, r->errstr_size) == -1)
                return -1;
        while (c.v || m.v) {
                long long cid = c.v ? to_id(c.v[0]) : 0;
                long long mid = m.v ? to_id(m.v[0]) : 0;
                int take_c = c.v && (!m.v || cid <= mid);
                int take_m = m.v && (!c.v || mid <= cid);

                if (take_c)
                        e->rep.child_rows++;
                if (take_m)
                        e->rep.mapped_rows++;
                if (take_c && !take_m) {
                        if (is_parked(e, cid)) {
                                e->rep.parked++;
                                report(r, CS_VERIFY_PARKED, e->ent, cid, 0, NULL,
                                       "parked on the master behind a deferred "
                                       "row (civisync-consume --status says why)");
                        } else {
                                e->rep.missing++;
                                report(r, CS_VERIFY_MISSING, e->ent, cid, 0, NULL,
                                       "not on the master (no mapping entry)");
                        }
                } else if (take_m && !take_c) {
                        e->rep.extra++;
                        /* A master id is named only for a row that exists. */
                        snprintf(detail, sizeof(detail), "mapping entry to "
                                 "master id %s, which does not exist; the child "
                                 "row is gone too", m.v[1]);
                        report(r, CS_VERIFY_EXTRA, e->ent, mid,
                               m.v[2] ? to_id(m.v[1]) : 0, NULL,
                               m.v[2] ? "mapped master row, no longer in the child" :
                               detail);
                } else if (!m.v[2]) {
                        e->rep.missing++;
                        snprintf(detail, sizeof(detail), "mapped to master id %s, "
                                 "which does not exist", m.v[1]);
                        report(r, CS_VERIFY_MISSING, e->ent, cid, 0, NULL,
                               detail);
                } else {
                        detail[0] = columns[0] = '\0';
                        for (size_t i = 0; i < e->col_cnt; i++) {
                                int eq = compare_col(r, &e->cols[i], &c, &m,
                                                     detail, sizeof(detail));
                                if (eq == -1)
                                        return -1;
                                if (!eq)
                                        cs_db_append(columns, sizeof(columns), "%s%s",
                                               columns[0] ? ", " : "",
                                               e->cols[i].name);
                        }
                        if (columns[0]) {
                                size_t dl = strlen(detail);
                                if (dl >= 2 && detail[dl - 2] == ';')
                                        detail[dl - 2] = '\0';
                                e->rep.changed++;
                                report(r, CS_VERIFY_CHANGED, e->ent, cid,
                                       to_id(m.v[1]), columns, detail);
                        }
                }
                if (take_c &&
                    fetch(r->child, cres, &c, r->errstr, r->errstr_size) == -1)
                        return -1;
                if (take_m &&
                    fetch(r->master, mres, &m, r->errstr, r->errstr_size) == -1)
                        return -1;
        }
        return 0;
}

/* Nested rows on the master under a parent this prefix maps that no mapping
 * row names: added on the master, not civisync's (the consumer keeps them). */
static int count_unmapped(run_t *r, const cs_entity_t *ent, long long *out)
{
        const cs_entity_t *parent = cs_reg_link_target(ent);
        unsigned int dberr = 0;
        int found = 0;

        *out = 0;
        if (!parent || !r->map_exists)
                return 0;
        cs_db_value_t p[2] = {
                { .kind = CS_VAL_STR, .s = parent->table, .len = strlen(parent->table) },
                { .kind = CS_VAL_STR, .s = ent->table, .len = strlen(ent->table) },
        };
        snprintf(r->sql, SQL_MAX, "SELECT COUNT(*) FROM `%s` t JOIN `%s` pm ON "
                 "pm.entity_table = ? AND pm.master_entity_id = t.`%s` WHERE NOT "
                 "EXISTS (SELECT 1 FROM `%s` m WHERE m.entity_table = ? AND "
                 "m.master_entity_id = t.id)", ent->table, r->map,
                 ent->parent_column, r->map);
        return cs_db_run(r->cache, r->sql, p, 2, NULL, NULL, out, &found, &dberr,
                         r->errstr, r->errstr_size);
}

static int verify_entity(run_t *r, const cs_entity_t *ent,
                         cs_verify_totals_t *totals)
{
        ent_run_t e;
        MYSQL_RES *cres = NULL, *mres = NULL;
        int rc;

        memset(&e, 0, sizeof(e));
        e.ent = ent;
        e.rep.entity = ent;
        rc = cs_schema_load(r->child, ent->table, &e.ctbl, r->errstr,
                            r->errstr_size);
        if (rc == -1)
                goto fail;
        e.have_c = rc == 0;
        if (!e.have_c) {
                int legacy = ent->legacy ?
                             cs_schema_has_columns(r->child, ent->legacy->requires,
                                                   r->errstr, r->errstr_size) : 0;
                if (legacy == -1)
                        goto fail;
                if (!legacy) {
                        e.rep.skipped = "not compared (table absent on the child)";
                        goto skipped;
                }
                /* The synthesized rows have the master table's shape. */
                rc = cs_schema_load(r->master, ent->table, &e.ctbl, r->errstr,
                                    r->errstr_size);
                if (rc == -1)
                        goto fail;
                if (rc == 1) {
                        e.rep.skipped = "not compared (table absent on the master)";
                        goto skipped;
                }
                e.have_c = e.legacy = 1;
        }
        rc = cs_schema_load(r->master, ent->table, &e.mtbl, r->errstr,
                            r->errstr_size);
        if (rc == -1)
                goto fail;
        e.have_m = rc == 0;
        if (!e.have_m && cs_reg_custom_is(ent)) {
                /* A custom value table the master does not have: its
                 * values were refused (FORMAT.md §19), every one is missing. */
                long long n = 0;
                snprintf(r->sql, SQL_MAX, "SELECT COUNT(*) FROM `%s`", ent->table);
                if (cs_db_query_int(r->child, r->sql, &n, r->errstr,
                                    r->errstr_size) == -1)
                        goto fail;
                e.rep.child_rows = e.rep.missing = n;
                totals->child_rows += n;
                totals->missing += n;
                e.rep.skipped = "not compared: the master has no such custom "
                                "value table (its child rows count as missing)";
                goto skipped;
        }
        if (!e.have_m) {
                e.rep.skipped = "not compared (table absent on the master)";
                goto skipped;
        }
        if (cs_schema_col_index(&e.ctbl, "id") < 0 ||
            cs_schema_col_index(&e.mtbl, "id") < 0 ||
            (ent->parent_column &&
             cs_schema_col_index(&e.ctbl, ent->parent_column) < 0)) {
                snprintf(r->errstr, r->errstr_size, "%s: missing id or parent "
                         "column", ent->table);
                goto fail;
        }
        if (plan_columns(r, &e) == -1)
                goto fail;
        e.rep.note = e.note[0] ? e.note : NULL;

        if (load_parked(r, &e) == -1)
                goto fail;
        if (r->map_exists) {
                if (master_sql(r, &e) == -1)
                        goto fail;
                /* Id lists need lookups on the master connection while the
                 * rows are read: groups are few, so they are stored. */
                mres = e.has_idlist ?
                       cs_db_query(r->master, r->sql, r->errstr, r->errstr_size) :
                       cs_db_query_stream(r->master, r->sql, r->errstr,
                                          r->errstr_size);
                if (!mres)
                        goto fail;
        }
        {
                long long deferred = 0;
                if (count_deferred(r, &e, &deferred) == -1)
                        goto fail;
                if (deferred)
                        cs_db_append(e.note, sizeof(e.note), "%s%lld row(s) not "
                                     "compared: they wait (parked on the master) "
                                     "for rows of a later phase",
                                     e.note[0] ? "; " : "", deferred);
                e.rep.note = e.note[0] ? e.note : NULL;
        }
        if (child_sql(r, &e) == -1)
                goto fail;
        if (!(cres = cs_db_query_stream(r->child, r->sql, r->errstr,
                                        r->errstr_size)))
                goto fail;
        if (merge(r, &e, cres, mres) == -1)
                goto fail;
        if (ent->parent && count_unmapped(r, ent, &e.rep.unmapped) == -1)
                goto fail;
        mysql_free_result(cres);
        if (mres)
                mysql_free_result(mres);
        totals->entities++;
        totals->child_rows += e.rep.child_rows;
        totals->mapped_rows += e.rep.mapped_rows;
        totals->missing += e.rep.missing;
        totals->extra += e.rep.extra;
        totals->changed += e.rep.changed;
        totals->unmapped += e.rep.unmapped;
        totals->parked += e.rep.parked;
        if (r->entity_cb)
                r->entity_cb(&e.rep, r->opaque);
        ent_free(&e);
        return 0;
skipped:
        totals->skipped++;
        if (r->entity_cb)
                r->entity_cb(&e.rep, r->opaque);
        ent_free(&e);
        return 0;
fail:
        if (cres)
                mysql_free_result(cres);
        if (mres)
                mysql_free_result(mres);
        {
                char msg[1024];
                snprintf(msg, sizeof(msg), "%s: %s", ent->table, r->errstr);
                snprintf(r->errstr, r->errstr_size, "%s", msg);
        }
        ent_free(&e);
        return -1;
}

/* ---- entry point ---- */

static int begin_read_only(MYSQL *db, const char *side, char *errstr,
                           size_t errstr_size)
{
        char msg[512];

        if (cs_db_exec(db, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
                       msg, sizeof(msg)) == -1 ||
            cs_db_exec(db, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
                       msg, sizeof(msg)) == -1) {
                snprintf(errstr, errstr_size, "%s: %s", side, msg);
                return -1;
        }
        return 0;
}

long long cs_verify_differences(const cs_verify_totals_t *totals)
{
        return totals->missing + totals->extra + totals->changed;
}

int cs_verify_run(MYSQL *child, MYSQL *master, const char *prefix,
                  const char *entity_filter, cs_verify_diff_cb *diff_cb,
                  cs_verify_entity_cb *entity_cb, void *opaque,
                  cs_verify_totals_t *totals, char *errstr, size_t errstr_size)
{
        size_t count;
        const cs_entity_t *ents = cs_reg_entities(&count);
        const cs_entity_t *only = NULL;
        run_t r;
        cs_table_t map;
        char tmp[256];
        int rc = -1, mrc;

        memset(totals, 0, sizeof(*totals));
        memset(&r, 0, sizeof(r));
        /* Custom value tables, as the producer reads them: discovered
         * from the child's metadata (registry_custom.c). */
        if (cs_custom_load(child, errstr, errstr_size) == -1)
                return -1;
        ents = cs_reg_entities(&count);
        if (entity_filter) {
                only = cs_reg_by_name(entity_filter);
                if (!only)
                        only = cs_reg_by_table(entity_filter);
                if (!only) {
                        snprintf(errstr, errstr_size, "unknown entity '%.64s' "
                                 "(an entity name such as contact, its table, or a custom "
                                 "value table of the child's metadata)",
                                 entity_filter);
                        return -1;
                }
        }
        if (cs_prefix_table_name(r.map, sizeof(r.map), "mapping_master_", prefix,
                                 errstr, errstr_size) == -1)
                return -1;
        r.child = child;
        r.master = master;
        r.prefix = prefix;
        r.diff_cb = diff_cb;
        r.entity_cb = entity_cb;
        r.opaque = opaque;
        r.errstr = errstr;
        r.errstr_size = errstr_size;
        if (!(r.sql = malloc(SQL_MAX)) || !(r.cache = cs_db_cache_new(master))) {
                snprintf(errstr, errstr_size, "out of memory");
                goto done;
        }
        if (begin_read_only(child, "child", errstr, errstr_size) == -1 ||
            begin_read_only(master, "master", errstr, errstr_size) == -1)
                goto done;
        mrc = cs_schema_load(master, r.map, &map, errstr, errstr_size);
        if (mrc == -1)
                goto done;
        r.map_exists = mrc == 0;
        if (mrc == 0)
                cs_schema_free(&map);
        else
                cs_warn("master has no %s: nothing of prefix %s has been applied "
                        "yet", r.map, prefix);
        /* entity_file's links to custom value tables need the master's
         * custom groups (a test master may have none). */
        mrc = cs_schema_load(master, cs_reg_custom_group_table(), &map, errstr,
                             errstr_size);
        if (mrc == -1)
                goto done;
        r.has_custom_groups = mrc == 0;
        if (mrc == 0)
                cs_schema_free(&map);
        for (size_t i = 0; i < count; i++) {
                if (only && only != &ents[i])
                        continue;
                if (verify_entity(&r, &ents[i], totals) == -1)
                        goto done;
        }
        rc = 0;
done:
        cs_db_exec(child, "COMMIT", tmp, sizeof(tmp));
        cs_db_exec(master, "COMMIT", tmp, sizeof(tmp));
        cs_db_cache_free(r.cache);
        free(r.sql);
        free(r.buf);
        return rc;
}
