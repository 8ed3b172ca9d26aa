/* apply_refs.c — reference translation (child id to master id) and building a master row from a document row. */
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
