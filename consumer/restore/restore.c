/* restore.c — rebuilds one child into an empty CiviCRM database from the master, through mapping_master_<PREFIX>. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulk.h"
#include "db.h"
#include "log.h"
#include "poly_sql.h"
#include "prefix.h"
#include "restore.h"
#include "schema.h"

#define SQL_MAX 32768
#define PAGE_ROWS 1000           /* master rows read per page */
#define SEED_ROWS_MAX 100000     /* rows a fresh install may hold in a synced table */
#define REFS_MAX 60              /* references of one table bound as variables */

/* How one target column is written. */
typedef enum {
        RC_PLAIN = 0,  /* the master value verbatim */
        RC_QUALIFY,    /* "<PREFIX>:" stripped */
        RC_REF,        /* master id mapped back to a child id of `target` */
        RC_POLY,       /* same, target table named by another column */
        RC_IDLIST,     /* comma-separated master ids mapped back one by one */
        RC_PATH        /* "<PREFIX>/" stripped (civicrm_file.uri) */
} rc_kind_t;

typedef struct rcol_s {
        const char *name;
        rc_kind_t kind;
        const cs_column_t *tcol;   /* target column */
        const cs_column_t *mcol;   /* master column */
        const char *target;        /* RC_REF / RC_IDLIST */
        int midx;                  /* index of the raw master value */
        int ridx;                  /* RC_REF/RC_POLY: the value mapped back */
        int deferred;              /* RC_REF written NULL, then by UPDATE */
} rcol_t;

/* A reference written after every row is in (cycles, self-references). */
typedef struct deferred_s {
        size_t ent;                /* registry index */
        size_t col;                /* index in that entity's columns */
        long long id, value;
} deferred_t;

typedef struct ent_s {
        const cs_entity_t *ent;
        size_t idx;
        cs_table_t ttbl, mtbl;
        int have_t, have_m;
        rcol_t *cols;
        size_t col_cnt;
        long long *seed;           /* ids present in the target before the restore */
        size_t seed_cnt;
        char note[768];
        rs_table_report_t rep;
} ent_t;

typedef struct run_s {
        MYSQL *master, *target;
        const char *prefix;
        size_t prefix_len;
        int dry_run;
        int has_custom_groups;     /* the master has civicrm_custom_group */
        char map[CS_PREFIX_MAX + 32];
        cs_db_cache_t *mcache, *tcache;
        ent_t *ents;
        size_t ent_cnt;
        deferred_t *defer;
        size_t defer_cnt, defer_cap;
        char *sql;
        char *errstr;
        size_t errstr_size;
} run_t;

static cs_db_value_t v_int(long long i)
{
        cs_db_value_t v = { .kind = CS_VAL_INT, .i = i };
        return v;
}

static cs_db_value_t v_str(const char *s)
{
        cs_db_value_t v = { .kind = CS_VAL_STR, .s = s, .len = strlen(s) };
        return v;
}

static int cmp_ll(const void *a, const void *b)
{
        long long x = *(const long long *)a, y = *(const long long *)b;
        return x < y ? -1 : x > y;
}

static int is_seed(const ent_t *e, long long id)
{
        return e->seed_cnt &&
               bsearch(&id, e->seed, e->seed_cnt, sizeof(id), cmp_ll) != NULL;
}

static long long to_id(const char *s)
{
        return s ? strtoll(s, NULL, 10) : 0;
}

/* 1 if a qualified master value was cut by cs_reg_qualify: it fills the
 * column (max_chars characters) and ends with "~" and 8 hex digits. A child
 * value of exactly that shape is indistinguishable (and reported too). */
static int cut_with_hash(const char *v, unsigned long len, size_t max_chars)
{
        size_t chars = 0;

        for (unsigned long i = 0; i < len; i++)
                if (((unsigned char)v[i] & 0xC0) != 0x80)
                        chars++;
        if (chars != max_chars || len < 9 || v[len - 9] != '~')
                return 0;
        for (unsigned long i = len - 8; i < len; i++)
                if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f')))
                        return 0;
        return 1;
}

/* ---- planning ---- */

static int registry_index(const char *table, size_t *out)
{
        size_t n;
        const cs_entity_t *ents = cs_reg_entities(&n);

        for (size_t i = 0; i < n; i++)
                if (!strcmp(ents[i].table, table)) {
                        *out = i;
                        return 0;
                }
        return -1;
}

/* Decides how every target column is written; fills e->cols. */
static int plan_columns(run_t *r, ent_t *e)
{
        const cs_entity_t *ent = e->ent;
        int next_m = 2;   /* 0: child id, 1: master row present */

        if (!(e->cols = calloc(e->ttbl.col_cnt + 1, sizeof(*e->cols)))) {
                snprintf(r->errstr, r->errstr_size, "out of memory");
                return -1;
        }
        for (size_t i = 0; i < e->ttbl.col_cnt; i++) {
                const cs_column_t *tc = &e->ttbl.cols[i];
                const cs_ref_t *ref = cs_reg_ref(ent, tc->name);
                int policy = cs_reg_col_policy(ent, tc->name), mi;
                rcol_t *c;

                if (!strcmp(tc->name, "id"))
                        continue;
                if (!cs_db_ident_valid(tc->name)) {
                        snprintf(r->errstr, r->errstr_size, "%s: unsupported "
                                 "column name on the target", ent->table);
                        return -1;
                }
                if (policy == CS_COL_OMIT || policy == CS_COL_CLEAR) {
                        cs_db_append(e->note, sizeof(e->note), "%s%s (%s)",
                               e->note[0] ? ", " : "left to the default: ",
                               tc->name, policy == CS_COL_OMIT ?
                               "never synced" : "cleared by the sync");
                        continue;
                }
                mi = cs_schema_col_index(&e->mtbl, tc->name);
                if (mi < 0) {
                        cs_db_append(e->note, sizeof(e->note), "%s%s (not on the master)",
                               e->note[0] ? ", " : "left to the default: ",
                               tc->name);
                        continue;
                }
                c = &e->cols[e->col_cnt++];
                c->name = tc->name;
                c->tcol = tc;
                c->mcol = &e->mtbl.cols[mi];
                c->midx = next_m++;
                c->ridx = -1;
                if (ent->parent && ent->parent_column &&
                    !strcmp(tc->name, ent->parent_column)) {
                        c->kind = RC_REF;
                        c->target = cs_reg_link_target(ent)->table;
                } else if (ref && ref->kind == CS_REF_ENTITY) {
                        c->kind = RC_REF;
                        c->target = ref->target;
                } else if (ref && ref->kind == CS_REF_POLY) {
                        c->kind = RC_POLY;
                        if (cs_schema_col_index(&e->mtbl, ref->table_column) < 0 ||
                            !cs_db_ident_valid(ref->table_column)) {
                                snprintf(r->errstr, r->errstr_size, "master %s "
                                         "has no column %s", ent->table,
                                         ref->table_column);
                                return -1;
                        }
                } else if (ref && ref->kind == CS_REF_ID_LIST) {
                        c->kind = RC_IDLIST;
                        c->target = ref->target;
                } else if (cs_reg_unique(ent, tc->name)) {
                        c->kind = RC_QUALIFY;
                } else if (policy == CS_COL_PREFIX_PATH) {
                        c->kind = RC_PATH;
                } else {
                        c->kind = RC_PLAIN;
                }
                if (c->kind == RC_REF || c->kind == RC_POLY)
                        c->ridx = next_m++;
                if (c->kind == RC_REF) {
                        size_t ti;
                        /* A row of this table or of a later one may not be
                         * in yet: written NULL, then by UPDATE. */
                        if (registry_index(c->target, &ti) == -1) {
                                snprintf(r->errstr, r->errstr_size, "%s.%s: "
                                         "target %s is not a registry table",
                                         ent->table, c->name, c->target);
                                return -1;
                        }
                        c->deferred = ti >= e->idx && tc->nullable;
                }
        }
        return 0;
}

/* ---- the emptiness check ---- */

/* Loads the ids the target already holds in e's table (a fresh install's
 * seed rows) and refuses rows a fresh install does not have: any row of a
 * synced table except the domain contact(s) and the shipped tags. Returns
 * RS_OK, RS_REFUSED or RS_ERROR. */
static int check_empty(run_t *r, ent_t *e)
{
        const char *table = e->ent->table;
        const cs_seed_t *seed;
        int domain, allowed;
        long long n, outside = 0;
        MYSQL_RES *res;
        MYSQL_ROW row;
        cs_table_t dt;

        /* Only the entity's rows: a split table's metadata rows (the
         * profile joins of a fresh install, entity_table NULL) are not. */
        char where[512];
        snprintf(where, sizeof(where), "%s%s%s", e->ent->row_filter ? " WHERE (" : "",
                 e->ent->row_filter ? e->ent->row_filter : "",
                 e->ent->row_filter ? ")" : "");
        snprintf(r->sql, SQL_MAX, "SELECT COUNT(*) FROM `%s`%s", table, where);
        if (cs_db_query_int(r->target, r->sql, &n, r->errstr, r->errstr_size) == -1)
                return RS_ERROR;
        if (n == 0)
                return RS_OK;
        seed = cs_reg_seed(table);
        allowed = seed != NULL;
        if (seed && seed->keep_table) {
                domain = cs_schema_load(r->target, seed->keep_table, &dt,
                                        r->errstr, r->errstr_size);
                if (domain == -1)
                        return RS_ERROR;
                if (domain == 0)
                        cs_schema_free(&dt);
                if (domain == 0)
                        snprintf(r->sql, SQL_MAX, "SELECT COUNT(*) FROM `%s` "
                                 "WHERE `%s` IS NULL OR `%s` NOT IN "
                                 "(SELECT `%s` FROM `%s` WHERE `%s` IS NOT NULL)",
                                 table,
                                 seed->owner_column ? seed->owner_column : "id",
                                 seed->owner_column ? seed->owner_column : "id",
                                 seed->keep_column, seed->keep_table,
                                 seed->keep_column);
                else
                        snprintf(r->sql, SQL_MAX, "SELECT COUNT(*) FROM `%s`",
                                 table);
                if (cs_db_query_int(r->target, r->sql, &outside, r->errstr,
                                    r->errstr_size) == -1)
                        return RS_ERROR;
        }
        if (!allowed || outside) {
                snprintf(r->errstr, r->errstr_size, "the target is not empty: %s "
                         "holds %lld row(s)%s; restore writes only into a fresh "
                         "CiviCRM install (schema and seed: the domain contact, "
                         "its email and the shipped tags), nothing was written",
                         table, allowed ? outside : n,
                         allowed ? " besides the domain contact's" : "");
                return RS_REFUSED;
        }
        if (n > SEED_ROWS_MAX) {
                snprintf(r->errstr, r->errstr_size, "the target's %s holds %lld "
                         "rows, more than a fresh install's seed (limit %d): "
                         "restore refused", table, n, SEED_ROWS_MAX);
                return RS_REFUSED;
        }
        if (!(e->seed = calloc((size_t)n, sizeof(*e->seed)))) {
                snprintf(r->errstr, r->errstr_size, "out of memory");
                return RS_ERROR;
        }
        snprintf(r->sql, SQL_MAX, "SELECT id FROM `%s`%s ORDER BY id", table, where);
        if (!(res = cs_db_query(r->target, r->sql, r->errstr, r->errstr_size)))
                return RS_ERROR;
        while ((row = mysql_fetch_row(res)) && e->seed_cnt < (size_t)n)
                e->seed[e->seed_cnt++] = to_id(row[0]);
        mysql_free_result(res);
        return RS_OK;
}

/* Deletes the seed rows of e that the child no longer had (not mapped),
 * except domain contacts (civicrm_domain needs them). */
static int remove_unmapped_seed(run_t *r, ent_t *e)
{
        char sql[512];
        cs_db_value_t p[2];
        long long child;
        int found;
        unsigned int dberr;

        snprintf(sql, sizeof(sql), "SELECT child_entity_id FROM `%s` WHERE "
                 "entity_table = ? AND child_entity_id = ?", r->map);
        for (size_t i = 0; i < e->seed_cnt; i++) {
                p[0] = v_str(e->ent->table);
                p[1] = v_int(e->seed[i]);
                if (cs_db_run(r->mcache, sql, p, 2, NULL, NULL, &child, &found,
                              &dberr, r->errstr, r->errstr_size) == -1)
                        return -1;
                if (found)
                        continue;
                if (cs_reg_seed(e->ent->table) &&
                    cs_reg_seed(e->ent->table)->keep_table) {
                        cs_warn("%s %lld (the target's domain contact's) is not "
                                "mapped for %s: kept as is", e->ent->table,
                                e->seed[i], r->prefix);
                        continue;
                }
                if (cs_reg_site_rows(e->ent->table)) {
                        /* Site metadata (a reserved price set): never sent,
                         * the same id everywhere: the target keeps it. */
                        long long site = 0;
                        snprintf(r->sql, SQL_MAX, "SELECT COUNT(*) FROM `%s` "
                                 "WHERE id = ? AND (%s)", e->ent->table,
                                 cs_reg_site_rows(e->ent->table));
                        if (cs_db_run(r->tcache, r->sql, &p[1], 1, NULL, NULL,
                                      &site, &found, &dberr, r->errstr,
                                      r->errstr_size) == -1)
                                return -1;
                        if (site)
                                continue;
                }
                e->rep.seed_removed++;
                if (r->dry_run)
                        continue;
                snprintf(r->sql, SQL_MAX, "DELETE FROM `%s` WHERE id = ?",
                         e->ent->table);
                if (cs_db_run(r->tcache, r->sql, &p[1], 1, NULL, NULL, NULL,
                              NULL, &dberr, r->errstr, r->errstr_size) == -1)
                        return -1;
        }
        return 0;
}

/* ---- reading the master ---- */

/* Binds @cs_rt, @cs_r<i> (reference targets) and builds the page query:
 * mapping entries after @cs_after in child-id order, LEFT JOINed to their
 * master rows, references mapped back to child ids by subqueries. */
static int master_sql(run_t *r, const ent_t *e)
{
        cs_db_value_t vals[REFS_MAX + 1];
        char set[4096];
        size_t n = 0;

        snprintf(set, sizeof(set), "SET @cs_rt = ?");
        vals[n++] = v_str(e->ent->table);
        snprintf(r->sql, SQL_MAX, "SELECT m.child_entity_id, t.`id` IS NOT NULL");
        for (size_t i = 0; i < e->col_cnt; i++) {
                const rcol_t *c = &e->cols[i];

                cs_db_append(r->sql, SQL_MAX, ", t.`%s`", c->name);
                if (c->kind == RC_REF) {
                        if (n > REFS_MAX) {
                                snprintf(r->errstr, r->errstr_size, "%s: more "
                                         "than %d references", e->ent->table,
                                         REFS_MAX);
                                return -1;
                        }
                        /* A site-metadata row (a reserved price set) has
                         * the same id on the child: carried verbatim. */
                        const char *site = cs_reg_site_rows(c->target);
                        cs_db_append(set, sizeof(set), ", @cs_r%zu = ?", i);
                        vals[n++] = v_str(c->target);
                        cs_db_append(r->sql, SQL_MAX, ", COALESCE((SELECT "
                               "MIN(x.child_entity_id) FROM `%s` x WHERE "
                               "x.entity_table = @cs_r%zu AND x.master_entity_id = "
                               "t.`%s`)", r->map, i, c->name);
                        if (site)
                                cs_db_append(r->sql, SQL_MAX, ", (SELECT s.`id` FROM "
                                       "`%s` s WHERE s.`id` = t.`%s` AND (%s))",
                                       c->target, c->name, site);
                        cs_db_append(r->sql, SQL_MAX, ")");
                } else if (c->kind == RC_POLY) {
                        const cs_ref_t *ref = cs_reg_ref(e->ent, c->name);
                        char col[80], expr[1024];
                        if (cs_reg_poly_custom_ok(e->ent) && r->has_custom_groups) {
                                /* entity_file: a custom value table stands for
                                 * the entity its group extends (FORMAT.md §20). */
                                snprintf(col, sizeof(col), "t.`%s`", ref->table_column);
                                if (cs_reg_custom_target_sql(expr, sizeof(expr), col) == -1) {
                                        snprintf(r->errstr, r->errstr_size, "%s: custom "
                                                 "target expression too long",
                                                 e->ent->table);
                                        return -1;
                                }
                                cs_db_append(r->sql, SQL_MAX, ", (SELECT MIN(x.child_entity_id) "
                                       "FROM `%s` x WHERE x.entity_table = %s AND "
                                       "x.master_entity_id = t.`%s`)", r->map, expr, c->name);
                        } else {
                                cs_poly_sql_t b = { r->sql, SQL_MAX, set, sizeof(set),
                                                    vals, &n, REFS_MAX + 1 };
                                if (cs_poly_backmap_sql(cs_reg_ref(e->ent, c->name),
                                                        r->map, i, &b, r->errstr,
                                                        r->errstr_size) == -1)
                                        return -1;
                        }
                }
        }
        cs_db_append(r->sql, SQL_MAX, " FROM `%s` m LEFT JOIN `%s` t ON t.`id` = "
               "m.master_entity_id WHERE m.entity_table = @cs_rt AND "
               "m.child_entity_id > @cs_after", r->map, e->ent->table);
        {
                /* A table with two entities (registry_loc.c): each restores
                 * the rows of its own view, once. */
                char view[512];
                if (cs_reg_view_filter(e->ent, view, sizeof(view)))
                        cs_db_append(r->sql, SQL_MAX, " AND (%s(%s))",
                                     cs_reg_by_table(e->ent->table) == e->ent ?
                                     "t.`id` IS NULL OR " : "t.`id` IS NOT NULL AND ",
                                     view);
        }
        cs_db_append(r->sql, SQL_MAX, " ORDER BY m.child_entity_id LIMIT %d",
                     PAGE_ROWS);
        if (strlen(r->sql) + 1 >= SQL_MAX) {
                snprintf(r->errstr, r->errstr_size, "%s: query too long",
                         e->ent->table);
                return -1;
        }
        return cs_db_set_vars(r->master, set, vals, n, NULL, NULL, r->errstr,
                              r->errstr_size);
}

/* Maps a master id list back to child ids: a NEW string in *out (unmapped
 * ids left out and counted). 0, or -1 on error. */
static int translate_list(run_t *r, ent_t *e, const rcol_t *c, const char *list,
                          unsigned long len, char **out)
{
        const char *p = list, *end = list + len;
        size_t used = 0, cap = len + 64;
        char sql[512], *buf = malloc(cap);
        cs_db_value_t params[2];
        unsigned int dberr;

        if (!buf) {
                snprintf(r->errstr, r->errstr_size, "out of memory");
                return -1;
        }
        buf[0] = '\0';
        snprintf(sql, sizeof(sql), "SELECT child_entity_id FROM `%s` WHERE "
                 "entity_table = ? AND master_entity_id = ? ORDER BY "
                 "child_entity_id LIMIT 1", r->map);
        params[0] = v_str(c->target);
        while (p < end) {
                const char *q = p;
                long long id = 0, child;
                int found, digits = 0;

                while (q < end && *q != ',') {
                        if (*q >= '0' && *q <= '9' && id < 1000000000000LL) {
                                id = id * 10 + (*q - '0');
                                digits++;
                        }
                        q++;
                }
                p = q < end ? q + 1 : q;
                if (!digits)
                        continue;
                params[1] = v_int(id);
                if (cs_db_run(r->mcache, sql, params, 2, NULL, NULL, &child,
                              &found, &dberr, r->errstr, r->errstr_size) == -1) {
                        free(buf);
                        return -1;
                }
                if (!found) {
                        e->rep.list_ids_dropped++;
                        continue;
                }
                if (used + 24 > cap) {
                        char *nb = realloc(buf, cap *= 2);
                        if (!nb) {
                                free(buf);
                                snprintf(r->errstr, r->errstr_size, "out of memory");
                                return -1;
                        }
                        buf = nb;
                }
                used += (size_t)sprintf(buf + used, "%s%lld", used ? "," : "", child);
        }
        *out = buf;
        return 0;
}

static int defer_add(run_t *r, size_t col, const ent_t *e, long long id,
                     long long value)
{
        if (r->defer_cnt == r->defer_cap) {
                size_t cap = r->defer_cap ? r->defer_cap * 2 : 1024;
                deferred_t *d = realloc(r->defer, cap * sizeof(*d));
                if (!d) {
                        snprintf(r->errstr, r->errstr_size, "out of memory");
                        return -1;
                }
                r->defer = d;
                r->defer_cap = cap;
        }
        r->defer[r->defer_cnt].ent = e->idx;
        r->defer[r->defer_cnt].col = col;
        r->defer[r->defer_cnt].id = id;
        r->defer[r->defer_cnt++].value = value;
        return 0;
}

/* Values of one target row (vals[0] = id, then e->cols) from master row v.
 * Returns 1 to write the row, 0 to leave it out (counted), -1 on error. */
static int build_row(run_t *r, ent_t *e, MYSQL_ROW v, unsigned long *len,
                     cs_db_value_t *vals, cs_bulk_t *bulk, long long id)
{
        vals[0] = v_int(id);
        for (size_t i = 0; i < e->col_cnt; i++) {
                const rcol_t *c = &e->cols[i];
                const char *mv = v[c->midx];
                unsigned long ml = len[c->midx];
                cs_db_value_t *out = &vals[i + 1];

                memset(out, 0, sizeof(*out));
                if (!mv) {
                        out->kind = CS_VAL_NULL;
                        continue;
                }
                switch (c->kind) {
                case RC_REF:
                case RC_POLY: {
                        const char *back = v[c->ridx];
                        if (!back) {
                                if (!c->tcol->nullable) {
                                        cs_warn("%s %lld left out: %s %s is not "
                                                "a row of %s", e->ent->table, id,
                                                c->name, mv, r->prefix);
                                        e->rep.dropped++;
                                        return 0;
                                }
                                e->rep.refs_nulled++;
                                out->kind = CS_VAL_NULL;
                        } else if (c->deferred) {
                                out->kind = CS_VAL_NULL;
                                if (defer_add(r, i, e, id, to_id(back)) == -1)
                                        return -1;
                                e->rep.deferred++;
                        } else {
                                *out = v_int(to_id(back));
                        }
                        break;
                }
                case RC_IDLIST: {
                        char *list;
                        if (translate_list(r, e, c, mv, ml, &list) == -1)
                                return -1;
                        if (cs_bulk_own(bulk, list) == -1) {
                                snprintf(r->errstr, r->errstr_size, "out of memory");
                                return -1;
                        }
                        *out = v_str(list);
                        break;
                }
                case RC_PATH:
                        /* The child's own file name; its bytes are in the
                         * master's <files_dir>/<PREFIX>/ (OPERATIONS.md). */
                        out->kind = CS_VAL_STR;
                        if (ml > r->prefix_len + 1 &&
                            !memcmp(mv, r->prefix, r->prefix_len) &&
                            mv[r->prefix_len] == '/') {
                                out->s = mv + r->prefix_len + 1;
                                out->len = ml - r->prefix_len - 1;
                        } else {
                                out->s = mv;
                                out->len = ml;
                        }
                        break;
                case RC_QUALIFY: {
                        size_t max;

                        cs_reg_qualify_size(c->mcol->max_length, &max);
                        out->kind = CS_VAL_STR;
                        if (ml <= r->prefix_len ||
                            memcmp(mv, r->prefix, r->prefix_len) ||
                            mv[r->prefix_len] != ':') {
                                e->rep.unqualified++;
                                out->s = mv;
                                out->len = ml;
                                break;
                        }
                        out->s = mv + r->prefix_len + 1;
                        out->len = ml - r->prefix_len - 1;
                        if (cut_with_hash(mv, ml, max)) {
                                if (!e->rep.truncated)
                                        e->rep.first_truncated = id;
                                e->rep.truncated++;
                                cs_warn("%s %lld: %s was cut to fit the master "
                                        "(\"%.*s\"): the child's full value "
                                        "cannot be restored", e->ent->table, id,
                                        c->name, (int)ml, mv);
                        }
                        break;
                }
                case RC_PLAIN:
                default:
                        out->kind = c->mcol->type == CS_COL_BINARY ||
                                    c->mcol->type == CS_COL_BIT ?
                                    CS_VAL_BIN : CS_VAL_STR;
                        out->s = mv;
                        out->len = ml;
                        break;
                }
        }
        return 1;
}

/* Overwrites a seed row of the target with the master's values. */
static int update_seed(run_t *r, ent_t *e, const cs_db_value_t *vals)
{
        char *sql = malloc(SQL_MAX);
        cs_db_value_t *p = calloc(e->col_cnt + 1, sizeof(*p));
        int rc;

        if (!sql || !p) {
                free(sql);
                free(p);
                snprintf(r->errstr, r->errstr_size, "out of memory");
                return -1;
        }
        snprintf(sql, SQL_MAX, "UPDATE `%s` SET ", e->ent->table);
        for (size_t i = 0; i < e->col_cnt; i++) {
                cs_db_append(sql, SQL_MAX, "%s`%s` = ?", i ? ", " : "", e->cols[i].name);
                p[i] = vals[i + 1];
        }
        cs_db_append(sql, SQL_MAX, " WHERE id = ?");
        p[e->col_cnt] = vals[0];
        rc = e->col_cnt == 0 ? 0 :
             cs_db_exec_params(r->target, sql, p, e->col_cnt + 1, NULL, NULL,
                               r->errstr, r->errstr_size);
        free(sql);
        free(p);
        return rc;
}

/* Copies every mapped row of e, page by page. */
static int restore_rows(run_t *r, ent_t *e)
{
        const char **cols = calloc(e->col_cnt + 1, sizeof(*cols));
        cs_db_value_t *vals = calloc(e->col_cnt + 1, sizeof(*vals));
        cs_bulk_t bulk;
        long long after = 0;
        int rc = -1;

        memset(&bulk, 0, sizeof(bulk));
        if (!cols || !vals || e->col_cnt + 1 > sizeof(bulk.cols) / sizeof(bulk.cols[0])) {
                snprintf(r->errstr, r->errstr_size, "%s: out of memory or too "
                         "many columns", e->ent->table);
                goto done;
        }
        cols[0] = "id";
        for (size_t i = 0; i < e->col_cnt; i++)
                cols[i + 1] = e->cols[i].name;
        cs_bulk_init(&bulk, e->ent->table, cols, e->col_cnt + 1);
        if (master_sql(r, e) == -1)
                goto done;
        for (;;) {
                cs_db_value_t a = v_int(after);
                MYSQL_RES *res;
                MYSQL_ROW v;
                unsigned int dberr;
                size_t got = 0;

                if (cs_db_set_vars(r->master, "SET @cs_after = ?", &a, 1, NULL,
                                   NULL, r->errstr, r->errstr_size) == -1 ||
                    !(res = cs_db_query(r->master, r->sql, r->errstr,
                                        r->errstr_size)))
                        goto done;
                while ((v = mysql_fetch_row(res))) {
                        unsigned long *len = mysql_fetch_lengths(res);
                        long long id = to_id(v[0]);
                        int keep;

                        got++;
                        after = id;
                        e->rep.mapped++;
                        if (!v[1] || !strcmp(v[1], "0")) {
                                e->rep.gone++;
                                continue;
                        }
                        keep = build_row(r, e, v, len, vals, &bulk, id);
                        if (keep == -1) {
                                mysql_free_result(res);
                                goto done;
                        }
                        if (!keep)
                                continue;
                        if (is_seed(e, id)) {
                                e->rep.updated++;
                                if (!r->dry_run && update_seed(r, e, vals) == -1) {
                                        mysql_free_result(res);
                                        goto done;
                                }
                                continue;
                        }
                        e->rep.inserted++;
                        if (cs_bulk_add(&bulk, vals, id) == -1) {
                                snprintf(r->errstr, r->errstr_size, "out of memory");
                                mysql_free_result(res);
                                goto done;
                        }
                }
                if (!r->dry_run && bulk.rows &&
                    cs_bulk_insert(&bulk, r->tcache, 0, 1, &dberr, r->errstr,
                                   r->errstr_size) == -1) {
                        mysql_free_result(res);
                        goto done;
                }
                /* The page's strings go with the result: rows and the
                 * strings they own are dropped together. */
                cs_bulk_clear(&bulk);
                cs_bulk_init(&bulk, e->ent->table, cols, e->col_cnt + 1);
                mysql_free_result(res);
                if (got < PAGE_ROWS)
                        break;
        }
        rc = 0;
done:
        cs_bulk_clear(&bulk);
        free(cols);
        free(vals);
        return rc;
}

/* Second pass: references that could not be written with their row. The
 * row's timestamp/datetime columns are assigned to themselves so that ON
 * UPDATE CURRENT_TIMESTAMP leaves them as restored. */
static int write_deferred(run_t *r)
{
        for (size_t i = 0; i < r->defer_cnt; i++) {
                const deferred_t *d = &r->defer[i];
                const ent_t *e = &r->ents[d->ent];
                cs_db_value_t p[2] = { v_int(d->value), v_int(d->id) };
                unsigned long long affected = 0;
                unsigned int dberr;

                snprintf(r->sql, SQL_MAX, "UPDATE `%s` SET `%s` = ?",
                         e->ent->table, e->cols[d->col].name);
                for (size_t c = 0; c < e->ttbl.col_cnt; c++)
                        if (e->ttbl.cols[c].type == CS_COL_TIMESTAMP ||
                            e->ttbl.cols[c].type == CS_COL_DATETIME)
                                cs_db_append(r->sql, SQL_MAX, ", `%s` = `%s`",
                                       e->ttbl.cols[c].name, e->ttbl.cols[c].name);
                cs_db_append(r->sql, SQL_MAX, " WHERE id = ?");
                if (cs_db_run(r->tcache, r->sql, p, 2, &affected, NULL, NULL,
                              NULL, &dberr, r->errstr, r->errstr_size) == -1) {
                        char msg[1024];
                        snprintf(msg, sizeof(msg), "%s %lld: setting %s: %s",
                                 e->ent->table, d->id, e->cols[d->col].name,
                                 r->errstr);
                        snprintf(r->errstr, r->errstr_size, "%s", msg);
                        return -1;
                }
        }
        return 0;
}

/* Last pass: the entities' own modification timestamps (change_column) set
 * again from the master where the target's differ. CiviCRM installs
 * triggers that bump civicrm_contact.modified_date when an email, phone...
 * is written; the restore's later inserts would otherwise leave the
 * contacts newer than on the master. */
static int restore_change_columns(run_t *r)
{
        for (size_t i = 0; i < r->ent_cnt; i++) {
                ent_t *e = &r->ents[i];
                const char *mc = e->ent->change_column;
                char upd[512];
                long long after = 0;
                cs_db_value_t p;

                if (e->rep.skipped || !mc || !cs_db_ident_valid(mc) ||
                    cs_schema_col_index(&e->ttbl, mc) < 0 ||
                    cs_schema_col_index(&e->mtbl, mc) < 0)
                        continue;
                p = v_str(e->ent->table);
                if (cs_db_set_vars(r->master, "SET @cs_rt = ?", &p, 1, NULL, NULL,
                                   r->errstr, r->errstr_size) == -1)
                        return -1;
                snprintf(r->sql, SQL_MAX, "SELECT m.child_entity_id, t.`%s` FROM "
                         "`%s` m JOIN `%s` t ON t.`id` = m.master_entity_id WHERE "
                         "m.entity_table = @cs_rt AND m.child_entity_id > @cs_after "
                         "ORDER BY m.child_entity_id LIMIT %d", mc, r->map,
                         e->ent->table, PAGE_ROWS);
                snprintf(upd, sizeof(upd), "UPDATE `%s` SET `%s` = ? WHERE id = ? "
                         "AND NOT (`%s` <=> ?)", e->ent->table, mc, mc);
                for (;;) {
                        MYSQL_RES *res;
                        MYSQL_ROW v;
                        size_t got = 0;

                        p = v_int(after);
                        if (cs_db_set_vars(r->master, "SET @cs_after = ?", &p, 1,
                                           NULL, NULL, r->errstr,
                                           r->errstr_size) == -1 ||
                            !(res = cs_db_query(r->master, r->sql, r->errstr,
                                                r->errstr_size)))
                                return -1;
                        while ((v = mysql_fetch_row(res))) {
                                cs_db_value_t u[3];
                                unsigned int dberr;

                                got++;
                                after = to_id(v[0]);
                                u[0] = v[1] ? v_str(v[1]) : (cs_db_value_t){ 0 };
                                u[1] = v_int(after);
                                u[2] = u[0];
                                if (cs_db_run(r->tcache, upd, u, 3, NULL, NULL,
                                              NULL, NULL, &dberr, r->errstr,
                                              r->errstr_size) == -1) {
                                        mysql_free_result(res);
                                        return -1;
                                }
                        }
                        mysql_free_result(res);
                        if (got < PAGE_ROWS)
                                break;
                }
        }
        return 0;
}

/* ---- entry point ---- */

static void ent_free(ent_t *e)
{
        if (e->have_t)
                cs_schema_free(&e->ttbl);
        if (e->have_m)
                cs_schema_free(&e->mtbl);
        free(e->cols);
        free(e->seed);
}

/* 1 if the target is an older CiviCRM that stores an entity the
 * registry's legacy way (4.2: civicrm_activity_target, no
 * civicrm_activity_contact), as the producer detects it; *era names its
 * schema. -1 on error. */
static int legacy_target(run_t *r, const char **era)
{
        size_t n;
        const cs_entity_t *ents = cs_reg_entities(&n);

        for (size_t i = 0; i < n; i++) {
                cs_table_t t;
                int a, b;

                if (!ents[i].legacy)
                        continue;
                a = cs_schema_load(r->target, ents[i].table, &t, r->errstr,
                                   r->errstr_size);
                if (a == 0)
                        cs_schema_free(&t);
                if (a != 1) {
                        if (a == -1)
                                return -1;
                        continue;
                }
                b = cs_schema_has_columns(r->target, ents[i].legacy->requires,
                                          r->errstr, r->errstr_size);
                if (b != 0) {
                        *era = ents[i].legacy->era;
                        return b;
                }
        }
        return 0;
}

/* Loads both shapes of every entity, checks the target is empty. */
static int prepare(run_t *r)
{
        for (size_t i = 0; i < r->ent_cnt; i++) {
                ent_t *e = &r->ents[i];
                int rc;

                rc = cs_schema_load(r->target, e->ent->table, &e->ttbl, r->errstr,
                                    r->errstr_size);
                if (rc == -1)
                        return RS_ERROR;
                e->have_t = rc == 0;
                rc = cs_schema_load(r->master, e->ent->table, &e->mtbl, r->errstr,
                                    r->errstr_size);
                if (rc == -1)
                        return RS_ERROR;
                e->have_m = rc == 0;
                if (!e->have_t || !e->have_m) {
                        e->rep.skipped = !e->have_t ? "table absent on the target" :
                                         "table absent on the master";
                        continue;
                }
                if (cs_schema_col_index(&e->ttbl, "id") < 0 ||
                    cs_schema_col_index(&e->mtbl, "id") < 0) {
                        snprintf(r->errstr, r->errstr_size, "%s: no id column",
                                 e->ent->table);
                        return RS_ERROR;
                }
                if ((rc = check_empty(r, e)) != RS_OK)
                        return rc;
                if (plan_columns(r, e) == -1)
                        return RS_ERROR;
                e->rep.note = e->note[0] ? e->note : NULL;
        }
        return RS_OK;
}

int rs_run(MYSQL *master, MYSQL *target, const char *prefix, int dry_run,
           rs_table_cb *cb, void *opaque, rs_totals_t *totals, char *errstr,
           size_t errstr_size)
{
        const cs_entity_t *ents;
        run_t r;
        cs_table_t map;
        char tmp[512];
        long long mapped = 0;
        int rc = RS_ERROR, mrc;
        const char *era = "";

        memset(totals, 0, sizeof(*totals));
        memset(&r, 0, sizeof(r));
        r.master = master;
        r.target = target;
        r.prefix = prefix;
        r.prefix_len = strlen(prefix);
        r.dry_run = dry_run;
        r.errstr = errstr;
        r.errstr_size = errstr_size;
        ents = cs_reg_entities(&r.ent_cnt);
        if (cs_prefix_table_name(r.map, sizeof(r.map), "mapping_master_", prefix,
                                 errstr, errstr_size) == -1)
                return RS_ERROR;
        if (!(r.sql = malloc(SQL_MAX)) ||
            !(r.ents = calloc(r.ent_cnt, sizeof(*r.ents))) ||
            !(r.mcache = cs_db_cache_new(master)) ||
            !(r.tcache = cs_db_cache_new(target))) {
                snprintf(errstr, errstr_size, "out of memory");
                goto done;
        }
        for (size_t i = 0; i < r.ent_cnt; i++) {
                r.ents[i].ent = &ents[i];
                r.ents[i].idx = i;
                r.ents[i].rep.entity = &ents[i];
        }
        if (cs_db_exec(master, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
                       errstr, errstr_size) == -1 ||
            cs_db_exec(master, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
                       errstr, errstr_size) == -1 ||
            cs_db_exec(target, dry_run ? "START TRANSACTION READ ONLY" :
                       "START TRANSACTION", errstr, errstr_size) == -1)
                goto done;
        mrc = cs_schema_load(master, r.map, &map, errstr, errstr_size);
        if (mrc == -1)
                goto done;
        if (mrc == 1) {
                snprintf(errstr, errstr_size, "the master has no %s: nothing of "
                         "prefix %s was ever applied there", r.map, prefix);
                rc = RS_REFUSED;
                goto done;
        }
        cs_schema_free(&map);
        mrc = cs_schema_load(master, cs_reg_custom_group_table(), &map, errstr,
                             errstr_size);
        if (mrc == -1)
                goto done;
        r.has_custom_groups = mrc == 0;
        if (mrc == 0)
                cs_schema_free(&map);
        snprintf(r.sql, SQL_MAX, "SELECT COUNT(*) FROM `%s`", r.map);
        if (cs_db_query_int(master, r.sql, &mapped, errstr, errstr_size) == -1)
                goto done;
        if (mapped == 0) {
                snprintf(errstr, errstr_size, "%s on the master is empty: "
                         "nothing to restore for prefix %s", r.map, prefix);
                rc = RS_REFUSED;
                goto done;
        }
        if ((mrc = legacy_target(&r, &era)) != 0) {
                if (mrc == 1) {
                        snprintf(errstr, errstr_size, "the target has the %s: "
                                 "restore writes CiviCRM 5 databases only", era);
                        rc = RS_REFUSED;
                }
                goto done;
        }
        if ((rc = prepare(&r)) != RS_OK)
                goto done;
        rc = RS_ERROR;
        for (size_t i = 0; i < r.ent_cnt; i++) {
                ent_t *e = &r.ents[i];
                if (e->rep.skipped || !e->seed_cnt)
                        continue;
                if (remove_unmapped_seed(&r, e) == -1) {
                        snprintf(tmp, sizeof(tmp), "%s: %s", e->ent->table, errstr);
                        snprintf(errstr, errstr_size, "%s", tmp);
                        goto done;
                }
        }
        for (size_t i = 0; i < r.ent_cnt; i++) {
                ent_t *e = &r.ents[i];

                if (!e->rep.skipped && restore_rows(&r, e) == -1) {
                        snprintf(tmp, sizeof(tmp), "%s: %s", e->ent->table, errstr);
                        snprintf(errstr, errstr_size, "%s", tmp);
                        goto done;
                }
        }
        if (!dry_run && (write_deferred(&r) == -1 ||
                         restore_change_columns(&r) == -1))
                goto done;
        if (cs_db_exec(target, dry_run ? "ROLLBACK" : "COMMIT", errstr,
                       errstr_size) == -1)
                goto done;
        for (size_t i = 0; i < r.ent_cnt; i++) {
                const rs_table_report_t *p = &r.ents[i].rep;
                if (!p->skipped)
                        totals->tables++;
                totals->rows += p->inserted + p->updated;
                totals->refs_nulled += p->refs_nulled;
                totals->list_ids_dropped += p->list_ids_dropped;
                totals->dropped += p->dropped;
                totals->gone += p->gone;
                totals->truncated += p->truncated;
                totals->seed_removed += p->seed_removed;
                if (cb)
                        cb(p, opaque);
        }
        rc = RS_OK;
done:
        if (rc != RS_OK)
                cs_db_exec(target, "ROLLBACK", tmp, sizeof(tmp));
        cs_db_exec(master, "COMMIT", tmp, sizeof(tmp));
        for (size_t i = 0; r.ents && i < r.ent_cnt; i++)
                ent_free(&r.ents[i]);
        free(r.ents);
        free(r.defer);
        cs_db_cache_free(r.mcache);
        cs_db_cache_free(r.tcache);
        free(r.sql);
        return rc;
}
