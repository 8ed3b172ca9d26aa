/* apply_custom.c — custom data on the master: discovers its value tables from its own metadata, creates missing tables and columns from that metadata, reloads their schema. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply_int.h"
#include "log.h"
#include "registry_custom.h"

/* Identifier length MariaDB allows for a constraint name. */
#define IDENT_MAX 64

/* Appends the column definitions of g's fields that tbl lacks (all of
 * them when tbl is NULL) to sql, each as "<first or next>`col` type DEFAULT NULL";
 * returns how many, or -1 with errstr. */
static int field_defs(const cs_custom_group_t *g, const cs_table_t *tbl,
                      const char *first, const char *next, char *sql,
                      size_t size, char *errstr,
                      size_t errstr_size)
{
        size_t len = strlen(sql);
        int added = 0;

        for (size_t i = 0; i < g->field_cnt; i++) {
                const cs_custom_field_t *f = &g->fields[i];
                char type[64];
                int w;

                if (tbl && cs_schema_col_index(tbl, f->column) >= 0)
                        continue;
                if (!strcmp(f->column, "id") || !strcmp(f->column, "entity_id"))
                        continue;
                if (cs_custom_sql_type(f, type, sizeof(type), errstr,
                                       errstr_size) == -1)
                        return -1;
                w = snprintf(sql + len, size - len, "%s`%s` %s DEFAULT NULL",
                             added ? next : first, f->column, type);
                if (w < 0 || (size_t)w >= size - len) {
                        snprintf(errstr, errstr_size, "%s: DDL too long",
                                 g->table);
                        return -1;
                }
                len += (size_t)w;
                added++;
        }
        return added;
}

/* Creates g's value table, or adds the columns it lacks, as CiviCRM
 * would (CRM_Core_BAO_CustomGroup/CustomField): types from the fields'
 * metadata only. 1 if DDL ran, 0 if nothing was missing, -1. */
static int ensure_table(cs_apply_t *ap, const cs_custom_group_t *g,
                        char *errstr, size_t errstr_size)
{
        cs_table_t tbl;
        char fk[IDENT_MAX + 1];
        int rc = cs_schema_load(ap->db, g->table, &tbl, errstr, errstr_size);
        int n;

        if (rc == -1)
                return -1;
        if (rc == 0) {
                snprintf(ap->sql, SQL_MAX, "ALTER TABLE `%s` ", g->table);
                n = field_defs(g, &tbl, "ADD COLUMN ", ", ADD COLUMN ", ap->sql, SQL_MAX,
                               errstr, errstr_size);
                cs_schema_free(&tbl);
                if (n <= 0)
                        return n;
                cs_info("custom data: %s: adding %d column(s) from the "
                        "master's custom field metadata", g->table, n);
        } else {
                int w = snprintf(fk, sizeof(fk), "FK_%s_entity_id", g->table);
                if (w < 0 || (size_t)w >= sizeof(fk))
                        snprintf(fk, sizeof(fk), "FK_civisync_custom_%lld_entity_id",
                                 g->id);
                snprintf(ap->sql, SQL_MAX, "CREATE TABLE `%s` (`id` int(10) "
                         "unsigned NOT NULL AUTO_INCREMENT, `entity_id` int(10) "
                         "unsigned NOT NULL", g->table);
                if (field_defs(g, NULL, ", ", ", ", ap->sql, SQL_MAX, errstr,
                               errstr_size) == -1)
                        return -1;
                n = snprintf(ap->sql + strlen(ap->sql), SQL_MAX - strlen(ap->sql),
                             ", PRIMARY KEY (`id`), %s (`entity_id`), CONSTRAINT "
                             "`%s` FOREIGN KEY (`entity_id`) REFERENCES `%s` "
                             "(`id`) ON DELETE CASCADE) ENGINE=InnoDB DEFAULT "
                             "CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci "
                             "ROW_FORMAT=DYNAMIC",
                             g->is_multiple ? "KEY `index_entity_id`" :
                             "UNIQUE KEY `unique_entity_id`", fk,
                             g->owner->table);
                if (n < 0 || strlen(ap->sql) + 1 >= SQL_MAX) {
                        snprintf(errstr, errstr_size, "%s: DDL too long",
                                 g->table);
                        return -1;
                }
                cs_info("custom data: creating %s (%zu field(s), extends %s) "
                        "from the master's custom group metadata", g->table,
                        g->field_cnt, g->extends);
        }
        if (cs_db_exec(ap->db, ap->sql, errstr, errstr_size) == -1) {
                unsigned int err = mysql_errno(ap->db);
                char msg[512];
                snprintf(msg, sizeof(msg), "%s", errstr);
                snprintf(errstr, errstr_size, "custom data: %s: %s", g->table,
                         msg);
                if (cs_db_error_transient(err, msg))
                        return -1;
                /* A missing grant, say: that table's values are refused
                 * (dead-lettered), everything else flows. */
                cs_error("%s; documents carrying its values are refused "
                         "until it exists", errstr);
                return 0;
        }
        return 1;
}

int ap_custom_refresh(cs_apply_t *ap, int force, char *errstr,
                      size_t errstr_size)
{
        char sig[sizeof(ap->custom_sig)];
        const cs_custom_group_t *groups;
        size_t n;
        int changed = 0;

        if (cs_custom_signature(ap->db, sig, sizeof(sig), errstr,
                                errstr_size) == -1)
                return -1;
        if (!force && !strcmp(sig, ap->custom_sig))
                return 0;
        if (cs_custom_load(ap->db, errstr, errstr_size) == -1)
                return -1;
        groups = cs_custom_groups(&n);
        for (size_t i = 0; i < n; i++) {
                const cs_custom_group_t *g = &groups[i];
                size_t e;
                int rc;

                if (!g->ent)
                        continue;
                if ((rc = ensure_table(ap, g, errstr, errstr_size)) == -1)
                        return -1;
                changed |= rc;
                /* Reload the table's shape: new table, new columns. */
                e = ap_entity_index(g->ent);
                if (ap->table_state[e] == 1)
                        cs_schema_free(&ap->tables[e]);
                ap->table_state[e] = 0;
                if (!ap_master_table(ap, g->ent, errstr, errstr_size) &&
                    ap->table_state[e] == 0)
                        return -1;
        }
        cs_reg_entities(&ap->entity_cnt);
        if ((changed || force) && ap_load_restrict_refs(ap, errstr,
                                                         errstr_size) == -1)
                return -1;
        snprintf(ap->custom_sig, sizeof(ap->custom_sig), "%s", sig);
        return 0;
}
