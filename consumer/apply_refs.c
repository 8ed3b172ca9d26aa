/* apply_refs.c — reference translation (child id to master id) and parking. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "files.h"
#include "log.h"
#include "apply_int.h"
#include "registry_custom.h"

/* ---- reference translation ---- */

void ap_row_free(row_build_t *rb)
{
        for (size_t i = 0; i < rb->owned_n; i++)
                free(rb->owned[i]);
        rb->owned_n = 0;
        rb->n = 0;
}

static char *row_own(row_build_t *rb, char *p)
{
        if (p && rb->owned_n < sizeof(rb->owned) / sizeof(rb->owned[0]))
                rb->owned[rb->owned_n++] = p;
        else if (p) {
                free(p);
                return NULL;
        }
        return p;
}

/* Reads the next id of a comma-separated id list at *p and moves *p past
 * it. 1 with *id set, 0 at the end of the list, -1 if it is not an id. */
int ap_next_list_id(const char **p, long long *id)
{
        char *end;

        while (**p == ',' || **p == ' ')
                (*p)++;
        if (!**p)
                return 0;
        errno = 0;
        *id = strtoll(*p, &end, 10);
        if (end == *p || errno || *id <= 0)
                return -1;
        *p = end;
        return 1;
}

/* Translates a comma-separated id list; unmapped ids are left out and the
 * first of them is reported through *missing. Returns a NEW string. */
char *ap_translate_id_list(cs_apply_t *ap, prefix_ctx_t *pc,
                           const char *target, const char *list,
                           long long *missing, int *err, unsigned int *dberr,
                           char *errstr, size_t errstr_size)
{
        size_t cap = strlen(list) * 2 + 32, len = 0;
        char *out = malloc(cap);
        const char *p = list;

        *missing = 0;
        *err = 0;
        if (!out) {
                *err = 1;
                return NULL;
        }
        out[0] = '\0';
        for (;;) {
                long long id, master;
                int rc = ap_next_list_id(&p, &id);

                if (rc == 0)
                        break;
                if (rc == -1) {
                        snprintf(errstr, errstr_size,
                                 "not a comma-separated id list: '%.60s'", list);
                        *err = 2;
                        free(out);
                        return NULL;
                }
                rc = ap_map_lookup(ap, pc, target, id, &master, dberr, errstr,
                                   errstr_size);
                if (rc == AP_MAP_ERROR) {
                        *err = 1;
                        free(out);
                        return NULL;
                }
                if (rc == AP_MAP_NONE) {
                        if (!*missing)
                                *missing = id;
                        continue;
                }
                if (len + 24 > cap) {
                        char *grown = realloc(out, cap *= 2);
                        if (!grown) {
                                free(out);
                                *err = 1;
                                return NULL;
                        }
                        out = grown;
                }
                len += (size_t)sprintf(out + len, "%s%lld", len ? "," : "",
                                       master);
        }
        return out;
}

/* Builds the column list and values for one document row on the master.
 * Returns OK, REJECTED (bad document) or RETRY (DB). */
ap_rc_t ap_build_row(cs_apply_t *ap, prefix_ctx_t *pc, const cs_entity_t *ent,
                     const cs_table_t *tbl, const json_t *doc,
                     long long parent_master_id, row_build_t *rb, char *errstr,
                     size_t errstr_size)
{
        const char *key;
        json_t *val;
        unsigned int dberr = 0;
        const cs_custom_group_t *custom = cs_custom_by_entity(ent);
        /* Its parent column names a row nested beside it (an address):
         * translated through that row's mapping like any reference. */
        const cs_entity_t *via = cs_reg_parent_via(ent);
        ap_rc_t prc;
        char why[320];

        /* Every field must be an envelope field or a master column that
         * the registry lets through: an OMIT column (a credential) never
         * leaves the child, so a document carrying one is hostile or broken. */
        json_object_foreach((json_t *)doc, key, val) {
                if (cs_doc_field_reserved(key))
                        continue;
                if (cs_reg_col_policy(ent, key) == CS_COL_OMIT) {
                        snprintf(errstr, errstr_size,
                                 "column '%.64s' of %s is never synced (OMIT: it "
                                 "never leaves the child)", key, ent->table);
                        return AP_REJECTED;
                }
                if (cs_schema_col_index(tbl, key) < 0) {
                        snprintf(errstr, errstr_size,
                                 "unknown column '%.64s' for master table %s",
                                 key, ent->table);
                        return AP_REJECTED;
                }
                /* A custom value column must also be a field of the
                 * master's own custom metadata (registry_custom.c). */
                if (custom && !cs_custom_col_ok(custom, key)) {
                        snprintf(errstr, errstr_size, "column '%.64s' of custom "
                                 "table %s is not a field in the master's "
                                 "custom field metadata", key, ent->table);
                        return AP_REJECTED;
                }
        }
        /* A polymorphic pair is written whole or not at all: an update
         * carrying only entity_table would move the row to another table. */
        for (const cs_ref_t *r = ent->refs; r && r->column; r++) {
                json_t *idv, *tv;
                if (r->kind != CS_REF_POLY)
                        continue;
                idv = json_object_get(doc, r->column);
                tv = json_object_get(doc, r->table_column);
                if (!idv && !tv)
                        continue;
                if (!idv || !tv) {
                        snprintf(errstr, errstr_size, "columns %s and %s go "
                                 "together: the document carries only %s",
                                 r->table_column, r->column,
                                 idv ? r->column : r->table_column);
                        return AP_REJECTED;
                }
                if (json_is_null(tv) && json_is_null(idv))
                        continue;
                if (json_is_string(tv) && cs_reg_poly_custom_ok(ent) &&
                    cs_reg_is_custom_value_table(json_string_value(tv))) {
                        /* A custom value table (FORMAT.md §20): its custom
                         * group, on the master, says whose id this is. */
                        if (!ap_poly_target(ap, ent, json_string_value(tv), &prc,
                                            why, sizeof(why))) {
                                if (prc == AP_REJECTED)
                                        snprintf(errstr, errstr_size, "column %s: %s %s",
                                                 r->column, r->table_column, why);
                                else
                                        snprintf(errstr, errstr_size, "%s", why);
                                return prc;
                        }
                        continue;
                }
                if (!json_is_null(idv) && (!json_is_integer(idv) ||
                                           json_integer_value(idv) < 0)) {
                        snprintf(errstr, errstr_size,
                                 "column %s: expected an id", r->column);
                        return AP_REJECTED;
                }
                if ((!json_is_string(tv) && !(json_is_null(tv) && r->cases)) ||
                    cs_reg_poly_resolve(ent, r, json_string_value(tv),
                                        json_is_null(idv) ? -1 :
                                        json_integer_value(idv),
                                        &(const char *){ NULL }) == CS_POLY_REJECT) {
                        snprintf(errstr, errstr_size,
                                 "column %s: %s '%.64s' is not a synced table",
                                 r->column, r->table_column,
                                 json_is_string(tv) ? json_string_value(tv) :
                                 "(not a string)");
                        return AP_REJECTED;
                }
        }
        for (size_t c = 0; c < tbl->col_cnt; c++) {
                const cs_column_t *col = &tbl->cols[c];
                const cs_ref_t *ref;
                const cs_unique_t *uniq;
                cs_db_value_t *out;
                char *owned = NULL;
                const char *poly_target;
                cs_poly_action_t poly;

                if (!strcmp(col->name, "id"))
                        continue;
                if (!(val = json_object_get(doc, col->name)))
                        continue;
                if (rb->n >= CS_LIMIT_COLUMNS) {
                        /* Unreachable: ap_master_table refused the table; vals
                         * keeps one slot more for upsert_row's id. */
                        snprintf(errstr, errstr_size, "%s: more than "
                                 "CS_LIMIT_COLUMNS (%d) columns", ent->table,
                                 CS_LIMIT_COLUMNS);
                        return AP_REJECTED;
                }
                out = &rb->vals[rb->n];
                rb->names[rb->n] = col->name;
                rb->n++;
                memset(out, 0, sizeof(*out));

                if (ent->parent && ent->parent_column && !via &&
                    !strcmp(col->name, ent->parent_column)) {
                        *out = v_int(parent_master_id);
                        continue;
                }
                if (cs_reg_col_policy(ent, col->name) == CS_COL_CLEAR) {
                        out->kind = CS_VAL_NULL;
                        continue;
                }
                if (cs_reg_col_policy(ent, col->name) == CS_COL_PREFIX_PATH &&
                    !json_is_null(val)) {
                        /* A file name: "<PREFIX>/<name>" on the master, where
                         * the consumer writes the bytes; never a path. */
                        char *path;
                        if (!json_is_string(val) ||
                            !cs_file_name_ok(json_string_value(val),
                                             json_string_length(val), why,
                                             sizeof(why))) {
                                snprintf(errstr, errstr_size, "column %s: %s "
                                         "(refused: only a plain file name in the "
                                         "files directory)", col->name,
                                         json_is_string(val) ? why : "not a string");
                                return AP_REJECTED;
                        }
                        if (asprintf(&path, "%s/%s", pc->prefix,
                                     json_string_value(val)) < 0) {
                                snprintf(errstr, errstr_size, "out of memory");
                                return AP_RETRY;
                        }
                        if (col->max_length > 0 &&
                            (long long)strlen(path) > col->max_length) {
                                snprintf(errstr, errstr_size, "column %s: '%.80s' "
                                         "is longer than the master column (%lld)",
                                         col->name, path, col->max_length);
                                free(path);
                                return AP_REJECTED;
                        }
                        row_own(rb, path);
                        *out = v_str(path);
                        continue;
                }
                ref = cs_reg_ref(ent, col->name);
                poly_target = NULL;
                poly = CS_POLY_TRANSLATE;
                if (ref && ref->kind == CS_REF_POLY && !json_is_null(val)) {
                        /* Validated above: a non-negative id, an allowed table. */
                        const char *tname = json_string_value(
                                json_object_get(doc, ref->table_column));
                        if (tname && cs_reg_poly_custom_ok(ent) &&
                            cs_reg_is_custom_value_table(tname)) {
                                /* The extended entity's mapping (§20). */
                                poly_target = ap_poly_target(ap, ent, tname, &prc,
                                                             why, sizeof(why));
                                if (!poly_target) {
                                        snprintf(errstr, errstr_size, "column %s: "
                                                 "%s %s", col->name,
                                                 ref->table_column, why);
                                        return prc;
                                }
                        } else {
                                poly = cs_reg_poly_resolve(ent, ref, tname,
                                                           json_integer_value(val),
                                                           &poly_target);
                        }
                        if (poly == CS_POLY_PASS)
                                ref = NULL; /* an option value or metadata id */
                }
                if (ref && !json_is_null(val)) {
                        const char *target = ref->target;
                        long long child_ref, master;
                        ap_map_rc_t rc;

                        if (ref->kind == CS_REF_ID_LIST) {
                                long long missing;
                                int err;
                                char *list;
                                if (!json_is_string(val)) {
                                        snprintf(errstr, errstr_size,
                                                 "column %s: expected an id list string",
                                                 col->name);
                                        return AP_REJECTED;
                                }
                                list = ap_translate_id_list(ap, pc, target,
                                                            json_string_value(val),
                                                            &missing, &err, &dberr,
                                                            errstr, errstr_size);
                                if (!list)
                                        return err == 2 ? AP_REJECTED :
                                               ap_db_fail(ap, dberr, errstr,
                                                          errstr_size, "id list");
                                row_own(rb, list);
                                *out = v_str(list);
                                if (missing && rb->park_n < CS_LIMIT_PARKS) {
                                        park_t *pk = &rb->parks[rb->park_n++];
                                        pk->column = col->name;
                                        pk->target = target;
                                        pk->target_child_id = missing;
                                        snprintf(pk->raw, sizeof(pk->raw), "%.63s",
                                                 json_string_value(val));
                                }
                                continue;
                        }
                        if (ref->kind == CS_REF_POLY) {
                                json_t *tv = json_object_get(doc, ref->table_column);
                                target = poly_target;
                                if (!target || poly == CS_POLY_REJECT) {
                                        snprintf(errstr, errstr_size,
                                                 "column %s: %s '%.64s' is not a synced table",
                                                 col->name, ref->table_column,
                                                 json_is_string(tv) ?
                                                 json_string_value(tv) : "(missing)");
                                        return AP_REJECTED;
                                }
                        }
                        if (!json_is_integer(val) || json_integer_value(val) <= 0) {
                                snprintf(errstr, errstr_size,
                                         "column %s: expected a positive id", col->name);
                                return AP_REJECTED;
                        }
                        child_ref = json_integer_value(val);
                        rc = ap_map_lookup(ap, pc, target, child_ref, &master,
                                           &dberr, errstr, errstr_size);
                        if (rc == AP_MAP_ERROR)
                                return ap_db_fail(ap, dberr, errstr, errstr_size,
                                                  "mapping lookup");
                        if (rc == AP_MAP_FOUND) {
                                *out = v_int(master);
                                continue;
                        }
                        switch (ap_site_row(ap, target, child_ref, &dberr, errstr,
                                            errstr_size)) {
                        case 1: /* site metadata, the same id everywhere */
                                *out = v_int(child_ref);
                                continue;
                        case -1:
                                return ap_db_fail(ap, dberr, errstr, errstr_size,
                                                  "site metadata row");
                        default:
                                break;
                        }
                        if (ref->required || poly == CS_POLY_DEFER ||
                            rb->park_n >= CS_LIMIT_PARKS) {
                                rb->missing_required = 1;
                                rb->missing_target = target;
                                rb->missing_child_id = child_ref;
                                snprintf(rb->missing_desc, sizeof(rb->missing_desc),
                                         "%s = %s %lld%s", col->name, target,
                                         child_ref, poly == CS_POLY_DEFER ?
                                         " (data of a later phase, not synced "
                                         "yet: parked until it is)" : "");
                                out->kind = CS_VAL_NULL;
                                continue;
                        }
                        /* Not there yet: NULL now, filled in when it arrives. */
                        park_t *pk = &rb->parks[rb->park_n++];
                        pk->column = col->name;
                        pk->target = target;
                        pk->target_child_id = child_ref;
                        snprintf(pk->raw, sizeof(pk->raw), "%lld", child_ref);
                        out->kind = CS_VAL_NULL;
                        continue;
                }
                uniq = cs_reg_unique(ent, col->name);
                if (uniq && json_is_string(val)) {
                        size_t max;
                        size_t size = cs_reg_qualify_size(col->max_length, &max);
                        char *q = malloc(size);
                        int qlen;
                        if (!q) {
                                snprintf(errstr, errstr_size, "out of memory");
                                return AP_RETRY;
                        }
                        qlen = cs_reg_qualify(pc->prefix, json_string_value(val),
                                              json_string_length(val), max, q, size);
                        if (qlen < 0) {
                                free(q);
                                snprintf(errstr, errstr_size,
                                         "column %s: cannot qualify value", col->name);
                                return AP_REJECTED;
                        }
                        row_own(rb, q);
                        out->kind = CS_VAL_STR;
                        out->s = q;
                        out->len = (unsigned long)qlen;
                        continue;
                }
                if (cs_doc_value_to_db(val, col, out, &owned, errstr,
                                       errstr_size) == -1) {
                        free(owned);
                        return AP_REJECTED;
                }
                row_own(rb, owned);
        }
        /* A row naming metadata that conflicts with the master's waits
         * (apply_meta.c). */
        return rb->missing_required ? AP_OK : ap_meta_hold(ap, pc, ent, rb, errstr,
                                                           errstr_size);
}

/* 1 when id names a row of target's site metadata on the master (a
 * reserved price set: the same id on every site, never sent), 0 when not,
 * -1 on a database error. */
int ap_site_row(cs_apply_t *ap, const char *target, long long id,
                unsigned int *dberr, char *errstr, size_t errstr_size)
{
        const char *cond = cs_reg_site_rows(target);
        cs_db_value_t p[1] = { v_int(id) };
        long long n = 0;

        if (!cond)
                return 0;
        snprintf(ap->sql, SQL_MAX, "SELECT COUNT(*) FROM `%s` WHERE `id` = ? "
                 "AND (%s)", target, cond);
        if (ap_run(ap, ap->sql, p, 1, NULL, NULL, &n, NULL, dberr, errstr,
                   errstr_size) == -1)
                return -1;
        return n > 0;
}

/* 1 if rows of ent can have parked references (an optional reference). */
int ap_entity_can_park(const cs_entity_t *ent)
{
        for (const cs_ref_t *r = ent->refs; r && r->column; r++)
                if (!r->required)
                        return 1;
        return 0;
}

ap_rc_t ap_write_parks(cs_apply_t *ap, prefix_ctx_t *pc, const cs_entity_t *ent,
                       long long child_id, const row_build_t *rb, char *errstr,
                       size_t errstr_size)
{
        unsigned int dberr = 0;
        cs_db_value_t p[6] = { v_str(pc->prefix), v_str(ent->table),
                               v_int(child_id) };

        if (rb->park_n == 0 && (!pc->has_parked || !ap_entity_can_park(ent)))
                return AP_OK; /* nothing can be parked for this row */
        if (pc->has_parked &&
            ap_run(ap, "DELETE FROM civisync_parked WHERE prefix = ? AND "
                   "entity_table = ? AND child_entity_id = ?", p, 3, NULL, NULL,
                   NULL, NULL, &dberr, errstr, errstr_size) == -1)
                return ap_db_fail(ap, dberr, errstr, errstr_size, "parked refs");
        for (size_t i = 0; i < rb->park_n; i++) {
                p[3] = v_str(rb->parks[i].column);
                p[4] = v_str(rb->parks[i].target);
                p[5] = v_int(rb->parks[i].target_child_id);
                cs_db_value_t q[7] = { p[0], p[1], p[2], p[3], p[4], p[5],
                                       v_str(rb->parks[i].raw) };
                if (ap_run(ap, "INSERT INTO civisync_parked (prefix, entity_table, "
                           "child_entity_id, column_name, target_table, "
                           "target_child_id, raw_value) VALUES (?,?,?,?,?,?,?)",
                           q, 7, NULL, NULL, NULL, NULL,
                           &dberr, errstr, errstr_size) == -1)
                        return ap_db_fail(ap, dberr, errstr, errstr_size,
                                          "park reference");
                pc->has_parked = 1;
                cs_debug("%s %s %lld: %s waits for %s %lld", pc->prefix,
                         ent->table, child_id, rb->parks[i].column,
                         rb->parks[i].target, rb->parks[i].target_child_id);
        }
        return AP_OK;
}

/* A parked reference that is settled (filled in, or moot). */
typedef struct park_done_s {
        const char *table;      /* borrowed from the stored result */
        const char *column;
        long long child_id;
} park_done_t;

static int park_done_cmp(const void *a, const void *b)
{
        const park_done_t *x = a, *y = b;
        int c = strcmp(x->table, y->table);
        return c ? c : strcmp(x->column, y->column);
}

/* Deletes the settled parked references, one statement per table and
 * column. */
static int forget_parks(cs_apply_t *ap, prefix_ctx_t *pc, park_done_t *done,
                        size_t n, unsigned int *dberr, char *errstr,
                        size_t errstr_size)
{
        cs_db_value_t *vals = malloc((n + 1) * sizeof(*vals));

        if (!vals) {
                snprintf(errstr, errstr_size, "out of memory");
                *dberr = 0;
                return -1;
        }
        qsort(done, n, sizeof(*done), park_done_cmp);
        for (size_t i = 0, j; i < n; i = j) {
                cs_db_value_t fixed[3] = { v_str(pc->prefix),
                                           v_str(done[i].table),
                                           v_str(done[i].column) };
                for (j = i; j < n && !park_done_cmp(&done[i], &done[j]); j++)
                        vals[j - i] = v_int(done[j].child_id);
                if (ap_run_in_chunks(ap, "DELETE FROM civisync_parked WHERE "
                                     "prefix = ? AND entity_table = ? AND "
                                     "column_name = ? AND child_entity_id IN",
                                     fixed, 3, vals, j - i, NULL, dberr, errstr,
                                     errstr_size) == -1) {
                        free(vals);
                        return -1;
                }
        }
        free(vals);
        return 0;
}

/* Sets @cs_prefix to pc's prefix and runs sql, which reads it: a NEW
 * result, or NULL with *rc from ap_db_fail (errstr prefixed by what). */
static MYSQL_RES *prefix_query(cs_apply_t *ap, const prefix_ctx_t *pc,
                               const char *sql, const char *what, ap_rc_t *rc,
                               char *errstr, size_t errstr_size)
{
        cs_db_value_t p[1] = { v_str(pc->prefix) };
        MYSQL_RES *res;

        if (cs_db_set_vars(ap->db, "SET @cs_prefix = ?", p, 1, NULL, NULL,
                           errstr, errstr_size) == -1 ||
            !(res = cs_db_query(ap->db, sql, errstr, errstr_size))) {
                *rc = ap_db_fail(ap, mysql_errno(ap->db), errstr, errstr_size,
                                 what);
                return NULL;
        }
        return res;
}

/* Parked references filled in by one statement per table, column and
 * chunk (a first sync parks thousands: employers, shared addresses,
 * parent activities that come later). */
#define PARK_FILL_CHUNK 256

/* The UPDATE that fills in ent's column ref: for one row when n is 0
 * ("SET col = ? ... WHERE id = ?": value, owner), else for n rows ("SET col
 * = CASE id WHEN ? THEN ? ... END ... WHERE id IN (?, ...)": n (owner,
 * value) pairs, then n owners). Assigning TIMESTAMP columns to themselves
 * keeps ON UPDATE CURRENT_TIMESTAMP from firing: the master keeps the
 * child's modified_date. 0, or -1 with errstr when it does not fit. */
static int park_update_sql(cs_apply_t *ap, const cs_entity_t *ent,
                           const cs_ref_t *ref, size_t n, char *sql,
                           char *errstr, size_t errstr_size)
{
        char tmp[256];
        const cs_table_t *tbl = ap_master_table(ap, ent, tmp, sizeof(tmp));
        size_t len = 0;
        int bad;

        if (!n) {
                bad = ap_sql_cat(sql, &len, "UPDATE `%s` SET `%s` = ?",
                                 ent->table, ref->column);
        } else {
                bad = ap_sql_cat(sql, &len, "UPDATE `%s` SET `%s` = CASE `id`",
                                 ent->table, ref->column);
                for (size_t i = 0; i < n; i++)
                        bad |= ap_sql_cat(sql, &len, " WHEN ? THEN ?");
                bad |= ap_sql_cat(sql, &len, " END");
        }
        for (size_t c = 0; tbl && c < tbl->col_cnt; c++)
                if (tbl->cols[c].type == CS_COL_TIMESTAMP)
                        bad |= ap_sql_cat(sql, &len, ", `%s` = `%s`",
                                          tbl->cols[c].name, tbl->cols[c].name);
        if (!n) {
                bad |= ap_sql_cat(sql, &len, " WHERE id = ?");
        } else {
                bad |= ap_sql_cat(sql, &len, " WHERE `id` IN (");
                for (size_t i = 0; i < n; i++)
                        bad |= ap_sql_cat(sql, &len, i ? ",?" : "?");
                bad |= ap_sql_cat(sql, &len, ")");
        }
        if (bad) {
                snprintf(errstr, errstr_size, "%s: parked UPDATE longer than %d "
                         "bytes", ent->table, SQL_MAX);
                return -1;
        }
        return 0;
}

/* A parked reference to fill in with a master id (not an id list). */
typedef struct park_fill_s {
        const cs_entity_t *ent;
        const cs_ref_t *ref;
        long long owner;        /* the row's master id */
        long long value;        /* the target's master id */
        park_done_t done;       /* its parked row, forgotten once filled */
} park_fill_t;

static int park_fill_cmp(const void *a, const void *b)
{
        const park_fill_t *x = a, *y = b;
        int c = strcmp(x->ent->table, y->ent->table);
        if (!c)
                c = strcmp(x->ref->column, y->ref->column);
        return c ? c : (x->owner > y->owner) - (x->owner < y->owner);
}

/* Fills in fills[0..n): one UPDATE per table, column and chunk of up to
 * PARK_FILL_CHUNK rows (power-of-two sizes, the last pair repeated, so few
 * statement texts exist); a chunk the server refuses is done row by row,
 * which reports the row at fault. Each filled one goes to done[]. */
static ap_rc_t park_fill(cs_apply_t *ap, park_fill_t *fills, size_t n,
                         park_done_t *done, size_t *done_n, char *errstr,
                         size_t errstr_size)
{
        cs_db_value_t *p = malloc(3 * PARK_FILL_CHUNK * sizeof(*p));
        unsigned int dberr = 0;
        ap_rc_t rc = AP_OK;

        if (!p) {
                snprintf(errstr, errstr_size, "out of memory");
                return AP_RETRY;
        }
        qsort(fills, n, sizeof(*fills), park_fill_cmp);
        for (size_t i = 0, j; i < n && rc == AP_OK; i = j) {
                size_t k = 1, m;

                for (j = i; j < n && j - i < PARK_FILL_CHUNK &&
                            fills[j].ent == fills[i].ent &&
                            fills[j].ref == fills[i].ref; j++)
                        ;
                m = j - i;
                while (k < m)
                        k *= 2;
                for (size_t x = 0; x < k; x++) {
                        const park_fill_t *f = &fills[x < m ? i + x : j - 1];
                        p[2 * x] = v_int(f->owner);
                        p[2 * x + 1] = v_int(f->value);
                        p[2 * k + x] = v_int(f->owner);
                }
                if (park_update_sql(ap, fills[i].ent, fills[i].ref, k, ap->sql,
                                    errstr, errstr_size) == -1) {
                        rc = AP_RETRY;
                        break;
                }
                if (ap_run(ap, ap->sql, p, 3 * k, NULL, NULL, NULL, NULL, &dberr,
                           errstr, errstr_size) == -1) {
                        /* A transient error (a deadlock rolls the whole
                         * transaction back) retries the batch; a refusal
                         * is looked at row by row, as before this path. */
                        if (cs_db_error_transient(dberr, errstr) || dberr == 0) {
                                rc = ap_db_fail(ap, dberr, errstr, errstr_size,
                                                "parked update");
                                break;
                        }
                        if (park_update_sql(ap, fills[i].ent, fills[i].ref, 0,
                                            ap->sql, errstr, errstr_size) == -1) {
                                rc = AP_RETRY;
                                break;
                        }
                        for (size_t x = i; x < j; x++) {
                                cs_db_value_t q[2] = { v_int(fills[x].value),
                                                       v_int(fills[x].owner) };
                                if (ap_run(ap, ap->sql, q, 2, NULL, NULL, NULL,
                                           NULL, &dberr, errstr,
                                           errstr_size) == -1) {
                                        rc = ap_db_fail(ap, dberr, errstr,
                                                        errstr_size,
                                                        "parked update");
                                        break;
                                }
                        }
                        if (rc != AP_OK)
                                break;
                }
                for (size_t x = i; x < j; x++)
                        done[(*done_n)++] = fills[x].done;
        }
        free(p);
        return rc;
}

/* Fills in parked references whose target is mapped now (at commit). */
ap_rc_t ap_resolve_parked(cs_apply_t *ap, prefix_ctx_t *pc, char *errstr,
                          size_t errstr_size)
{
        unsigned int dberr = 0;
        park_done_t *done = NULL;
        park_fill_t *fills = NULL;
        MYSQL_RES *res = NULL;
        MYSQL_ROW row;
        int more = 1;
        ap_rc_t rc = AP_OK;

        for (int round = 0; more && round < 100; round++) {
                size_t done_n = 0, fill_n = 0;

                more = 0;
                snprintf(ap->sql, SQL_MAX,
                         "SELECT k.entity_table, k.child_entity_id, k.column_name, "
                         "k.raw_value, m.master_entity_id, o.master_entity_id "
                         "FROM civisync_parked k "
                         "JOIN `%s` m ON m.entity_table = k.target_table AND "
                         "m.child_entity_id = k.target_child_id "
                         "LEFT JOIN `%s` o ON o.entity_table = k.entity_table AND "
                         "o.child_entity_id = k.child_entity_id "
                         "WHERE k.prefix = @cs_prefix LIMIT 1000", pc->map, pc->map);
                if (!(res = prefix_query(ap, pc, ap->sql, "parked", &rc, errstr,
                                         errstr_size)))
                        goto out; /* frees the previous round's list */
                free(done);
                free(fills);
                fills = calloc(mysql_num_rows(res) + 1, sizeof(*fills));
                if (!(done = calloc(mysql_num_rows(res) + 1, sizeof(*done))) ||
                    !fills) {
                        snprintf(errstr, errstr_size, "out of memory");
                        rc = AP_RETRY;
                        goto out;
                }
                while ((row = mysql_fetch_row(res))) {
                        const cs_entity_t *ent = cs_reg_by_table(row[0]);
                        const cs_ref_t *ref = ent ? cs_reg_ref(ent, row[2]) : NULL;
                        long long child_id = strtoll(row[1], NULL, 10);
                        long long owner = row[5] ? strtoll(row[5], NULL, 10) : 0;
                        char *value = NULL;
                        long long missing = 0;
                        cs_db_value_t q[3];
                        int err = 0;

                        if (!ref || owner <= 0) /* not ours, or owner gone */
                                goto forget;
                        if (ref->kind == CS_REF_ID_LIST) {
                                value = ap_translate_id_list(ap, pc, ref->target,
                                                             row[3] ? row[3] : "",
                                                             &missing, &err, &dberr,
                                                             errstr, errstr_size);
                                if (!value) {
                                        rc = err == 2 ? AP_REJECTED :
                                             ap_db_fail(ap, dberr, errstr,
                                                        errstr_size, "parked");
                                        goto out;
                                }
                                q[0] = v_str(value);
                        } else {
                                /* filled in below, with the others of its
                                 * table and column */
                                fills[fill_n++] = (park_fill_t){
                                        .ent = ent, .ref = ref, .owner = owner,
                                        .value = strtoll(row[4], NULL, 10),
                                        .done = { row[0], row[2], child_id } };
                                continue;
                        }
                        q[1] = v_int(owner);
                        if (park_update_sql(ap, ent, ref, 0, ap->sql, errstr,
                                            errstr_size) == -1) {
                                free(value);
                                rc = AP_RETRY;
                                goto out;
                        }
                        if (ap_run(ap, ap->sql, q, 2, NULL, NULL, NULL, NULL,
                                   &dberr, errstr, errstr_size) == -1) {
                                free(value);
                                rc = ap_db_fail(ap, dberr, errstr, errstr_size,
                                                "parked update");
                                goto out;
                        }
                        free(value);
                        if (missing) {
                                /* Another id of the list is still missing. */
                                cs_db_value_t r[5] = { v_int(missing),
                                                       v_str(pc->prefix),
                                                       v_str(row[0]),
                                                       v_int(child_id),
                                                       v_str(row[2]) };
                                if (ap_run(ap, "UPDATE civisync_parked SET target_child_id = ? "
                                           "WHERE prefix = ? AND entity_table = ? AND "
                                           "child_entity_id = ? AND column_name = ?",
                                           r, 5, NULL, NULL, NULL, NULL,
                                           &dberr, errstr, errstr_size) == -1) {
                                        rc = ap_db_fail(ap, dberr, errstr,
                                                        errstr_size, "parked");
                                        goto out;
                                }
                                continue;
                        }
forget:
                        done[done_n].table = row[0];
                        done[done_n].column = row[2];
                        done[done_n++].child_id = child_id;
                        more = 1;
                }
                if (fill_n) {
                        if ((rc = park_fill(ap, fills, fill_n, done, &done_n,
                                            errstr, errstr_size)) != AP_OK)
                                goto out;
                        more = 1;
                }
                if (done_n && forget_parks(ap, pc, done, done_n, &dberr, errstr,
                                           errstr_size) == -1) {
                        rc = ap_db_fail(ap, dberr, errstr, errstr_size, "parked");
                        goto out;
                }
                mysql_free_result(res);
                res = NULL;
        }
out:
        if (res)
                mysql_free_result(res);
        free(done);
        free(fills);
        return rc;
}

/* Stores a document that waits for a required reference. */
ap_rc_t ap_park_document(cs_apply_t *ap, prefix_ctx_t *pc, const char *key,
                         size_t key_len, const char *value, size_t value_len,
                         const wait_for_t *wait, const char *reason,
                         char *errstr, size_t errstr_size)
{
        unsigned int dberr = 0;
        /* refresh: the stamp at which the document came from the topic (a
         * re-park keeps it), so that the sweep of a later generation that
         * no longer sends it drops it. */
        cs_db_value_t p[7] = {
                v_str(pc->prefix),
                { .kind = CS_VAL_STR, .s = key, .len = key_len },
                v_str(wait->table), v_int(wait->child_id),
                { .kind = CS_VAL_STR, .s = reason,
                  .len = strlen(reason) > 255 ? 255 : strlen(reason) },
                { .kind = CS_VAL_BIN, .s = value, .len = value_len },
                v_int(ap->reparking ? 0 : pc->refresh),
        };

        if (ap_run(ap, "INSERT INTO civisync_parked_doc (prefix, doc_key, target_table, "
                   "target_child_id, reason, value, refresh) VALUES (?,?,?,?,?,?,?) "
                   "ON DUPLICATE KEY UPDATE target_table = VALUES(target_table), "
                   "target_child_id = VALUES(target_child_id), reason = "
                   "VALUES(reason), value = VALUES(value), parked_at = "
                   "CURRENT_TIMESTAMP, refresh = GREATEST(refresh, VALUES(refresh))",
                   p, 7, NULL, NULL, NULL, NULL, &dberr, errstr, errstr_size) == -1)
                return ap_db_fail(ap, dberr, errstr, errstr_size, "park document");
        ap->stats.parked++;
        pc->has_parked_doc = 1;
        cs_debug("%s: parked %.*s: %s", pc->prefix, (int)key_len, key, reason);
        return AP_OK;
}

ap_rc_t ap_unpark_document(cs_apply_t *ap, prefix_ctx_t *pc, const char *key,
                           size_t key_len, char *errstr, size_t errstr_size)
{
        unsigned int dberr = 0;
        cs_db_value_t p[2] = { v_str(pc->prefix),
                               { .kind = CS_VAL_STR, .s = key, .len = key_len } };

        if (!pc->has_parked_doc)
                return AP_OK;
        if (ap_run(ap, "DELETE FROM civisync_parked_doc WHERE prefix = ? AND doc_key = ?",
                   p, 2, NULL, NULL, NULL, NULL,
                   &dberr, errstr, errstr_size) == -1)
                return ap_db_fail(ap, dberr, errstr, errstr_size, "unpark document");
        return AP_OK;
}

/* A parked document that, tried again, was refused (why): it can never
 * apply. It is dead-lettered with the reason (partition and offset
 * unknown: -1; recorded for --status) and leaves the parked documents.
 * AP_OK, or AP_RETRY with errstr. */
static ap_rc_t reject_parked(cs_apply_t *ap, prefix_ctx_t *pc, const char *key,
                             unsigned long key_len, const char *why, char *errstr,
                             size_t errstr_size)
{
        char topic[300], e2[256];

        cs_error("%s: parked %.*s can never apply: %s", pc->prefix, (int)key_len,
                 key, why);
        ap->stats.rejected++;
        snprintf(topic, sizeof(topic), "%s%s", ap->conf->kafka.topic_prefix,
                 pc->prefix);
        if (cs_apply_dead_letter(ap, pc->prefix, topic, -1, -1, key, key_len, why,
                                 e2, sizeof(e2)) != CS_APPLY_OK ||
            ap_unpark_document(ap, pc, key, key_len, e2, sizeof(e2)) != AP_OK) {
                snprintf(errstr, errstr_size, "%s", e2);
                return AP_RETRY;
        }
        return AP_OK;
}

/* One more try for the documents that wait on a UNIQUE key (their
 * target_table is empty): once per batch, each in its own savepoint. */
static ap_rc_t retry_unique_waits(cs_apply_t *ap, prefix_ctx_t *pc,
                                  int *applied, char *errstr,
                                  size_t errstr_size)
{
        MYSQL_RES *res;
        MYSQL_ROW row;
        ap_rc_t qrc;

        if (!(res = prefix_query(ap, pc, "SELECT doc_key, value FROM "
                                 "civisync_parked_doc WHERE prefix = @cs_prefix "
                                 "AND target_table = '' LIMIT 500",
                                 "parked documents", &qrc, errstr, errstr_size)))
                return qrc;
        while ((row = mysql_fetch_row(res))) {
                unsigned long *len = mysql_fetch_lengths(res);
                long long parked_before = ap->stats.parked;
                char why[1024];
                ap_rc_t rc;
                ap->reparking = 1;
                rc = ap_apply_one(ap, pc->prefix, row[0], len[0], row[1], len[1],
                                  NULL, 0, why, sizeof(why));
                ap->reparking = 0;
                if (rc == AP_RETRY) {
                        snprintf(errstr, errstr_size, "%s", why);
                        mysql_free_result(res);
                        return AP_RETRY;
                }
                if (rc == AP_REJECTED) {
                        /* (a document held for its run's gate documents,
                         * then refused on its own merits) */
                        if (reject_parked(ap, pc, row[0], len[0], why, errstr,
                                          errstr_size) != AP_OK) {
                                mysql_free_result(res);
                                return AP_RETRY;
                        }
                } else if (ap->stats.parked > parked_before) {
                        ap->stats.parked = parked_before; /* parked again */
                } else if (rc == AP_OK) {
                        ap->stats.documents++;
                        ap->stats.parked--;
                        (*applied)++;
                }
        }
        mysql_free_result(res);
        return AP_OK;
}

/* Re-applies parked documents whose awaited target is now mapped. */
static ap_rc_t resolve_mapped(cs_apply_t *ap, prefix_ctx_t *pc, char *errstr,
                               size_t errstr_size)
{
        for (int round = 0; round < 1000; round++) {
                MYSQL_RES *res;
                MYSQL_ROW row;
                int progressed = 0;
                ap_rc_t qrc;

                snprintf(ap->sql, SQL_MAX,
                         "SELECT d.doc_key, d.value FROM civisync_parked_doc d "
                         "JOIN `%s` m ON m.entity_table = d.target_table AND "
                         "m.child_entity_id = d.target_child_id "
                         "WHERE d.prefix = @cs_prefix LIMIT 500", pc->map);
                if (!(res = prefix_query(ap, pc, ap->sql, "parked documents",
                                         &qrc, errstr, errstr_size)))
                        return qrc;
                while ((row = mysql_fetch_row(res))) {
                        unsigned long *len = mysql_fetch_lengths(res);
                        char why[1024];
                        ap_rc_t rc;
                        ap->reparking = 1;
                        rc = ap_apply_one(ap, pc->prefix, row[0], len[0],
                                          row[1], len[1], NULL, 0,
                                          why, sizeof(why));
                        ap->reparking = 0;
                        if (rc == AP_RETRY) {
                                snprintf(errstr, errstr_size, "%s", why);
                                mysql_free_result(res);
                                return AP_RETRY;
                        }
                        if (rc == AP_REJECTED) {
                                if (reject_parked(ap, pc, row[0], len[0], why, errstr,
                                                  errstr_size) != AP_OK) {
                                        mysql_free_result(res);
                                        return AP_RETRY;
                                }
                        } else {
                                ap->stats.documents++;
                                ap->stats.parked--;
                        }
                        progressed = 1;
                }
                mysql_free_result(res);
                if (!progressed)
                        break;
        }
        return AP_OK;
}

/* Re-applies parked documents whose awaited target is now mapped, then
 * those that wait without a target (a UNIQUE key, a metadata row or
 * conflict); what these bring may free more of the first kind (the
 * relationships of a contact held by a metadata conflict). */
ap_rc_t ap_resolve_parked_docs(cs_apply_t *ap, prefix_ctx_t *pc, char *errstr,
                               size_t errstr_size)
{
        for (int round = 0; round < 100; round++) {
                int applied = 0;
                ap_rc_t rc = resolve_mapped(ap, pc, errstr, errstr_size);
                if (rc == AP_OK)
                        rc = retry_unique_waits(ap, pc, &applied, errstr,
                                                errstr_size);
                if (rc != AP_OK || !applied)
                        return rc;
        }
        return AP_OK;
}
