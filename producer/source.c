/* source.c — how each registry entity is read from this child: its table(s), columns and SQL (incl. the registry's legacy sources). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "source.h"
#include "registry_custom.h"

/* A growing string; on allocation failure ok becomes 0. */
typedef struct sbuf_s {
        char *s;
        size_t len, cap;
        int ok;
} sbuf_t;

static void sb_add(sbuf_t *b, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void sb_add(sbuf_t *b, const char *fmt, ...)
{
        va_list ap;
        int n;

        if (!b->ok)
                return;
        for (;;) {
                size_t room = b->cap - b->len;
                va_start(ap, fmt);
                n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0,
                              fmt, ap);
                va_end(ap);
                if (n < 0) {
                        b->ok = 0;
                        return;
                }
                if (b->s && (size_t)n < room) {
                        b->len += (size_t)n;
                        return;
                }
                size_t cap = b->cap ? b->cap : 256;
                while (cap < b->len + (size_t)n + 1)
                        cap *= 2;
                char *p = realloc(b->s, cap);
                if (!p) {
                        b->ok = 0;
                        return;
                }
                b->s = p;
                b->cap = cap;
        }
}

static char *xstrdup(const char *s)
{
        return s ? strdup(s) : NULL;
}

static char *quoted(const char *ident)
{
        char *out = NULL;
        if (asprintf(&out, "`%s`", ident) < 0)
                return NULL;
        return out;
}

static void branch_free(cs_src_branch_t *b, size_t ncols)
{
        if (b->exprs)
                for (size_t i = 0; i < ncols; i++)
                        free(b->exprs[i]);
        free(b->exprs);
        free(b->table);
        free(b->raw_id);
        free(b->parent);
        free(b->where);
        memset(b, 0, sizeof(*b));
}

void cs_src_free_all(cs_src_t *srcs, size_t count)
{
        if (!srcs)
                return;
        for (size_t i = 0; i < count; i++) {
                cs_src_t *s = &srcs[i];
                for (int b = 0; b < s->br_cnt; b++)
                        branch_free(&s->br[b], s->tbl.col_cnt);
                if (s->present)
                        cs_schema_free(&s->tbl);
                free(s->change_table);
                free(s->change_col);
        }
        free(srcs);
}

cs_src_t *cs_src_find(cs_src_t *srcs, size_t count, const cs_entity_t *ent)
{
        for (size_t i = 0; i < count; i++)
                if (srcs[i].ent == ent)
                        return &srcs[i];
        return NULL;
}

/* A plain branch: every column of tbl from its own table. */
static int plain_branch(cs_src_t *s, char *errstr, size_t errstr_size)
{
        cs_src_branch_t *b = &s->br[0];
        const cs_entity_t *ent = s->ent;

        s->br_cnt = 1;
        b->table = xstrdup(s->tbl.name);
        b->raw_id = quoted("id");
        b->exprs = calloc(s->tbl.col_cnt ? s->tbl.col_cnt : 1, sizeof(char *));
        if (!b->table || !b->raw_id || !b->exprs)
                goto oom;
        for (size_t i = 0; i < s->tbl.col_cnt; i++) {
                if (!cs_db_ident_valid(s->tbl.cols[i].name)) {
                        snprintf(errstr, errstr_size,
                                 "%s: unsupported column name '%s'",
                                 s->tbl.name, s->tbl.cols[i].name);
                        return -1;
                }
                if (!(b->exprs[i] = quoted(s->tbl.cols[i].name)))
                        goto oom;
        }
        if (ent->parent && cs_reg_parent_via(ent)) {
                /* The root through the row the parent column names (an
                 * address's contact); rows without one are not synced. */
                char alias[80], expr[512];
                snprintf(alias, sizeof(alias), "`%s`", s->tbl.name);
                if (cs_reg_root_expr(ent, alias, expr, sizeof(expr)) == -1) {
                        snprintf(errstr, errstr_size, "%s: no root expression",
                                 ent->name);
                        return -1;
                }
                if (!(b->parent = xstrdup(expr)) ||
                    asprintf(&b->where, "%s IS NOT NULL", expr) < 0) {
                        b->where = NULL;
                        goto oom;
                }
        } else if (ent->parent) {
                if (!(b->parent = quoted(ent->parent_column)) ||
                    asprintf(&b->where, "`%s` IS NOT NULL",
                             ent->parent_column) < 0) {
                        b->where = NULL;
                        goto oom;
                }
        } else if (ent->row_filter && !(b->where = xstrdup(ent->row_filter))) {
                goto oom;
        }
        return 0;
oom:
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
}

/* Removes column name from tbl (a column a legacy source absorbs). */
static void drop_column(cs_table_t *tbl, const char *name)
{
        int i = cs_schema_col_index(tbl, name);
        if (i < 0)
                return;
        free(tbl->cols[i].name);
        memmove(&tbl->cols[i], &tbl->cols[i + 1],
                (tbl->col_cnt - (size_t)i - 1) * sizeof(tbl->cols[0]));
        tbl->col_cnt--;
}

/* The entity synthesized from an older child's tables, as the registry's
 * legacy descriptor says (FORMAT.md §17). */
static int legacy_source(cs_src_t *s, const cs_legacy_t *lg, char *errstr,
                         size_t errstr_size)
{
        size_t ncols = 0;

        while (lg->columns[ncols])
                ncols++;
        s->tbl.name = strdup(s->ent->table);
        s->tbl.cols = calloc(ncols ? ncols : 1, sizeof(cs_column_t));
        if (!s->tbl.name || !s->tbl.cols)
                goto oom;
        s->tbl.col_cnt = ncols;
        for (size_t i = 0; i < ncols; i++) {
                if (!(s->tbl.cols[i].name = strdup(lg->columns[i])))
                        goto oom;
                s->tbl.cols[i].type = CS_COL_INT;
                s->tbl.cols[i].is_unsigned = 1;
        }
        s->id_scale = lg->id_scale;
        s->br_cnt = 0;
        for (const cs_legacy_branch_t *lb = lg->branches; lb->table; lb++) {
                cs_src_branch_t *b;

                if (s->br_cnt >= CS_LIMIT_SOURCE_BRANCHES) {
                        snprintf(errstr, errstr_size, "%s: more legacy branches "
                                 "than CS_LIMIT_SOURCE_BRANCHES (%d)",
                                 s->ent->table, CS_LIMIT_SOURCE_BRANCHES);
                        return -1;
                }
                b = &s->br[s->br_cnt++];
                b->table = strdup(lb->table);
                b->raw_id = quoted("id");
                b->parent = quoted(lb->parent);
                b->where = xstrdup(lb->where);
                b->exprs = calloc(ncols ? ncols : 1, sizeof(char *));
                if (!b->table || !b->raw_id || !b->parent || !b->exprs ||
                    (lb->where && !b->where))
                        goto oom;
                for (size_t i = 0; i < ncols; i++)
                        if (!(b->exprs[i] = strdup(lb->exprs[i])))
                                goto oom;
        }
        return 0;
oom:
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
}

/* Drops the column a legacy source absorbs from the other entity's
 * documents (4.2: activity.source_contact_id travels as the record type 2
 * activity contact). */
static void absorb_column(cs_src_t *srcs, size_t n, const cs_legacy_t *lg)
{
        cs_src_t *o = cs_src_find(srcs, n, cs_reg_by_name(lg->absorbs_entity));
        size_t before;
        int idx;

        if (!o || !o->present || o->br_cnt != 1)
                return;
        before = o->tbl.col_cnt;
        if ((idx = cs_schema_col_index(&o->tbl, lg->absorbs_column)) < 0)
                return;
        free(o->br[0].exprs[idx]);
        memmove(&o->br[0].exprs[idx], &o->br[0].exprs[idx + 1],
                (before - (size_t)idx - 1) * sizeof(char *));
        o->br[0].exprs[before - 1] = NULL;
        drop_column(&o->tbl, lg->absorbs_column);
        o->id_col = cs_schema_col_index(&o->tbl, "id");
        o->parent_col = o->ent->parent_column ?
                cs_schema_col_index(&o->tbl, o->ent->parent_column) : -1;
}

/* Refuses a database that does not look like a CiviCRM site
 * (docs/PRODUCER.md, "Refusing a database that is not a CiviCRM site"): a
 * complete sync of it would remove every row of this prefix from the
 * master, and an incremental one would send a delete for every row seen
 * before. The signals, each of which a real CiviCRM site always passes:
 * the site table that owns the contact seed (cs_reg_seed: the domain)
 * exists and has a row, the contact entity's table exists and has at least
 * one row (the domain's own organization). 0 or -1 with errstr. */
static int check_site(MYSQL *db, cs_src_t *srcs, size_t n, char *errstr,
                      size_t errstr_size)
{
        const cs_entity_t *contact = cs_reg_by_name("contact");
        const cs_src_t *cs = contact ? cs_src_find(srcs, n, contact) : NULL;
        const cs_seed_t *seed = contact ? cs_reg_seed(contact->table) : NULL;
        const char *site = seed ? seed->keep_table : NULL;
        char dbname[128] = "?", sql[256], why[256] = "";
        long long rows = 0;
        MYSQL_RES *res;
        MYSQL_ROW row;
        int rc;

        if (!contact || !site || !cs_db_ident_valid(site)) {
                snprintf(errstr, errstr_size, "registry: no contact entity or "
                         "no site table for its seed");
                return -1;
        }
        if (!(res = cs_db_query(db, "SELECT DATABASE()", errstr, errstr_size)))
                return -1;
        if ((row = mysql_fetch_row(res)) && row[0])
                snprintf(dbname, sizeof(dbname), "%s", row[0]);
        mysql_free_result(res);
        if ((rc = cs_schema_has_column(db, site, "id", errstr,
                                        errstr_size)) == -1)
                return -1;
        snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM `%s`", site);
        if (!rc) {
                snprintf(why, sizeof(why), "it has no table %s", site);
        } else if (cs_db_query_int(db, sql, &rows, errstr, errstr_size) == -1) {
                return -1;
        } else if (rows == 0) {
                snprintf(why, sizeof(why), "its table %s is empty", site);
        } else if (!cs || !cs->present) {
                snprintf(why, sizeof(why), "it has no table %s", contact->table);
        } else {
                snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM `%s`",
                         cs->br[0].table);
                if (cs_db_query_int(db, sql, &rows, errstr, errstr_size) == -1)
                        return -1;
                if (rows == 0)
                        snprintf(why, sizeof(why), "its table %s is empty (a "
                                 "CiviCRM site has at least its domain's "
                                 "organization)", cs->br[0].table);
        }
        if (!why[0])
                return 0;
        snprintf(errstr, errstr_size, "database '%s' does not look like a "
                 "CiviCRM site: %s. Refusing to sync it: a complete sync would "
                 "remove this child's rows from the master. Check `database` "
                 "(and host/socket) in the child block of the configuration",
                 dbname, why);
        return -1;
}

int cs_src_load_all(MYSQL *db, cs_src_t **out, size_t *count, char *errstr,
                    size_t errstr_size)
{
        size_t n;
        const cs_entity_t *ents;
        const cs_change_log_t *log = cs_reg_change_log();
        cs_src_t *srcs;
        int has_log;

        /* Custom value tables join the registry first (registry_custom.c):
         * each is then an ordinary nested source of the entity it extends. */
        if (cs_custom_load(db, errstr, errstr_size) == -1)
                return -1;
        ents = cs_reg_entities(&n);
        if (!(srcs = calloc(n, sizeof(*srcs)))) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        if (cs_reg_check(errstr, errstr_size) == -1)
                goto fail;
        if ((has_log = cs_schema_has_column(db, log->table, log->time_column,
                                            errstr, errstr_size)) == -1)
                goto fail;
        for (size_t i = 0; i < n; i++) {
                cs_src_t *s = &srcs[i];
                int rc;

                s->ent = &ents[i];
                s->id_scale = 1;
                rc = cs_schema_load(db, ents[i].table, &s->tbl, errstr,
                                    errstr_size);
                if (rc == -1)
                        goto fail;
                if (rc == 1 && ents[i].legacy) {
                        int ok = cs_schema_has_columns(db, ents[i].legacy->requires,
                                                       errstr, errstr_size);
                        if (ok == -1)
                                goto fail;
                        if (ok) {
                                if (legacy_source(s, ents[i].legacy, errstr,
                                                  errstr_size) == -1)
                                        goto fail;
                                s->present = s->legacy = 1;
                                cs_info("%s: absent; %s", ents[i].table,
                                        ents[i].legacy->summary);
                        }
                } else if (rc == 0) {
                        s->present = 1;
                        if (plain_branch(s, errstr, errstr_size) == -1)
                                goto fail;
                }
                if (!s->present) {
                        cs_info("%s: table absent in this child, skipped",
                                ents[i].table);
                        continue;
                }
                s->id_col = cs_schema_col_index(&s->tbl, "id");
                s->parent_col = ents[i].parent_column ?
                        cs_schema_col_index(&s->tbl, ents[i].parent_column) : -1;
                /* Its document rows carry the root id as one more column
                 * (CS_SRC_ROOT_COLUMN) after the document's. */
                if (cs_reg_parent_via(&ents[i]) && s->parent_col >= 0)
                        s->parent_col = (int)s->tbl.col_cnt;
                if (s->id_col < 0 || (ents[i].parent && s->parent_col < 0)) {
                        snprintf(errstr, errstr_size,
                                 "%s: missing id or parent column",
                                 ents[i].table);
                        goto fail;
                }
                /* Change signal: the row's own column, else the change log. */
                if (ents[i].change_column && !ents[i].parent) {
                        if (!cs_db_ident_valid(ents[i].change_column)) {
                                snprintf(errstr, errstr_size, "bad change column");
                                goto fail;
                        }
                        if (cs_schema_col_index(&s->tbl,
                                                ents[i].change_column) >= 0) {
                                s->change_table = strdup(ents[i].table);
                                s->change_col = strdup(ents[i].change_column);
                        } else if (has_log) {
                                s->change_table = strdup(log->table);
                                s->change_col = strdup(log->time_column);
                                s->change_is_log = 1;
                        }
                        if (s->change_table && !s->change_col) {
                                snprintf(errstr, errstr_size, "out of memory");
                                goto fail;
                        }
                }
        }
        for (size_t i = 0; i < n; i++)
                if (srcs[i].legacy && srcs[i].ent->legacy->absorbs_entity)
                        absorb_column(srcs, n, srcs[i].ent->legacy);
        if (check_site(db, srcs, n, errstr, errstr_size) == -1)
                goto fail;
        *out = srcs;
        *count = n;
        return 0;
fail:
        cs_src_free_all(srcs, n);
        return -1;
}

/* Appends cond with {id} and {parent} replaced for branch b. */
static void add_cond(sbuf_t *sb, const cs_src_branch_t *b, const char *cond)
{
        for (const char *p = cond; *p; ) {
                if (!strncmp(p, "{id}", 4)) {
                        sb_add(sb, "%s", b->raw_id);
                        p += 4;
                } else if (!strncmp(p, "{parent}", 8)) {
                        sb_add(sb, "%s", b->parent ? b->parent : "NULL");
                        p += 8;
                } else {
                        sb_add(sb, "%c", *p++);
                }
        }
}

char *cs_src_sql(const cs_src_t *s, cs_src_what_t what, const char *cond,
                 const char *suffix, char *errstr, size_t errstr_size)
{
        sbuf_t sb = { .ok = 1 };
        int multi = s->br_cnt > 1;

        for (int i = 0; i < s->br_cnt; i++) {
                const cs_src_branch_t *b = &s->br[i];

                sb_add(&sb, "%s%sSELECT ", i ? " UNION ALL " : "",
                       multi ? "(" : "");
                switch (what) {
                case CS_SRC_DOC:
                        for (size_t c = 0; c < s->tbl.col_cnt; c++)
                                sb_add(&sb, "%s%s AS `%s`", c ? "," : "",
                                       b->exprs[c], s->tbl.cols[c].name);
                        if (cs_reg_parent_via(s->ent))
                                sb_add(&sb, ",%s AS `" CS_SRC_ROOT_COLUMN "`",
                                       b->parent);
                        break;
                case CS_SRC_FP_SCAN:
                        sb_add(&sb, "%s AS `id`, %s AS `p`", b->exprs[s->id_col],
                               b->parent ? b->parent : "NULL");
                        for (size_t c = 0; c < s->tbl.col_cnt; c++)
                                if (cs_reg_col_policy(s->ent, s->tbl.cols[c].name) !=
                                    CS_COL_OMIT)
                                        sb_add(&sb, ",%s", b->exprs[c]);
                        break;
                }
                sb_add(&sb, " FROM `%s`", b->table);
                if (b->where || cond) {
                        sb_add(&sb, " WHERE ");
                        if (b->where)
                                sb_add(&sb, "(%s)%s", b->where,
                                       cond ? " AND " : "");
                        if (cond) {
                                sb_add(&sb, "(");
                                add_cond(&sb, b, cond);
                                sb_add(&sb, ")");
                        }
                }
                if (multi)
                        sb_add(&sb, ")");
        }
        if (suffix)
                sb_add(&sb, " %s", suffix);
        if (!sb.ok) {
                free(sb.s);
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        return sb.s;
}
