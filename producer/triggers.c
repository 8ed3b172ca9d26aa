/* triggers.c — the real-time change capture: civisync_ triggers on every synced child table, recording into civisync_outbox. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "triggers.h"

/* Longest table name kept whole in a shortened trigger name:
 * "civisync_" (9) + 43 + "_" + 8 hex + "_" + "ai" = 64. */
#define NAME_TABLE_KEEP 43
/* civisync_ triggers one database can hold (3 per synced table). */
#define TRIGGERS_MAX 256

static const char outbox_ddl[] =
        "CREATE TABLE IF NOT EXISTS `" CS_TRIG_OUTBOX "` ("
        "`seq` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, "
        "`tbl` VARCHAR(64) CHARACTER SET ascii NOT NULL "
        "COMMENT 'the child table of the changed row', "
        "`row_id` BIGINT NOT NULL COMMENT 'its id', "
        "`root_id` BIGINT NULL COMMENT 'nested rows: the root id (NEW, or OLD "
        "for a delete)', "
        "`old_root_id` BIGINT NULL COMMENT 'nested rows, update: the root id "
        "before', "
        "`op` CHAR(1) CHARACTER SET ascii NOT NULL COMMENT 'I, U or D', "
        "`changed_at` DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)"
        ") ENGINE=InnoDB COMMENT='civisync --follow: changed rows not yet "
        "sent (civisync-produce --install-triggers)'";

static uint32_t fnv1a(const char *s)
{
        uint32_t h = 2166136261u;
        for (; *s; s++) {
                h ^= (unsigned char)*s;
                h *= 16777619u;
        }
        return h;
}

int cs_trig_name(char *out, size_t size, const char *table,
                 const char *suffix)
{
        int n = snprintf(out, size, "civisync_%s_%s", table, suffix);

        if (n < 0 || (size_t)n >= size)
                return -1;
        if (n <= CS_TRIG_NAME_MAX)
                return 0;
        n = snprintf(out, size, "civisync_%.*s_%08x_%s", NAME_TABLE_KEEP,
                     table, (unsigned)fnv1a(table), suffix);
        return n < 0 || (size_t)n >= size || n > CS_TRIG_NAME_MAX ? -1 : 0;
}

/* "`col`" -> "col" into out; -1 unless a plain identifier. */
static int unquote(const char *expr, char *out, size_t size)
{
        size_t len = expr ? strlen(expr) : 0;

        if (len < 3 || expr[0] != '`' || expr[len - 1] != '`' ||
            len - 2 >= size)
                return -1;
        memcpy(out, expr + 1, len - 2);
        out[len - 2] = '\0';
        return cs_db_ident_valid(out) ? 0 : -1;
}

int cs_trig_tables(const cs_src_t *srcs, size_t count, cs_trig_table_t **out,
                   size_t *out_cnt, char *errstr, size_t errstr_size)
{
        cs_trig_table_t *t = calloc(count * CS_LIMIT_SOURCE_BRANCHES + 1,
                                    sizeof(*t));
        size_t n = 0;

        *out = NULL;
        *out_cnt = 0;
        if (!t) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        for (size_t i = 0; i < count; i++) {
                const cs_src_t *s = &srcs[i];
                if (!s->present)
                        continue;
                for (int b = 0; b < s->br_cnt; b++) {
                        const cs_src_branch_t *br = &s->br[b];
                        char col[65] = "";
                        size_t k;

                        const cs_entity_t *via = cs_reg_parent_via(s->ent);

                        if (via)
                                snprintf(col, sizeof(col), "%s",
                                         s->ent->parent_column);
                        if (!cs_db_ident_valid(br->table) ||
                            (via && (!cs_db_ident_valid(col) ||
                                     !cs_db_ident_valid(via->table) ||
                                     !cs_db_ident_valid(via->parent_column))) ||
                            (s->ent->parent && !via &&
                             unquote(br->parent, col, sizeof(col)) == -1)) {
                                snprintf(errstr, errstr_size, "%s: table or "
                                         "parent column is not a plain "
                                         "identifier: no trigger possible",
                                         s->ent->name);
                                free(t);
                                return -1;
                        }
                        for (k = 0; k < n; k++)
                                if (!strcmp(t[k].table, br->table))
                                        break;
                        if (k == n) {
                                t[n].table = br->table;
                                n++;
                        }
                        if (!col[0])
                                continue;
                        if (t[k].root_col[0] && (strcmp(t[k].root_col, col) ||
                                                 t[k].via != via)) {
                                snprintf(errstr, errstr_size, "%s: rows of "
                                         "two entities name their roots "
                                         "through different columns (%s, "
                                         "%s): one trigger cannot record "
                                         "both", br->table, t[k].root_col,
                                         col);
                                free(t);
                                return -1;
                        }
                        snprintf(t[k].root_col, sizeof(t[k].root_col), "%s",
                                 col);
                        t[k].via = via;
                }
        }
        *out = t;
        *out_cnt = n;
        return 0;
}

/* The civisync_ trigger names of the current database: NEW strings in
 * names[0..*n). */
static int list_ours(MYSQL *db, char **names, size_t *n, char *errstr,
                     size_t errstr_size)
{
        MYSQL_RES *res = cs_db_query(db,
                "SELECT `TRIGGER_NAME` FROM `information_schema`.`TRIGGERS` "
                "WHERE `TRIGGER_SCHEMA` = DATABASE() AND "
                "`TRIGGER_NAME` LIKE 'civisync\\_%' ORDER BY 1",
                errstr, errstr_size);
        MYSQL_ROW row;

        *n = 0;
        if (!res)
                return -1;
        while ((row = mysql_fetch_row(res))) {
                if (*n == TRIGGERS_MAX) {
                        snprintf(errstr, errstr_size, "more than %d civisync_ "
                                 "triggers in the child database",
                                 TRIGGERS_MAX);
                        break;
                }
                if (!row[0] || !cs_db_ident_valid(row[0]))
                        continue; /* not a name we could have made */
                if (!(names[(*n)++] = strdup(row[0]))) {
                        snprintf(errstr, errstr_size, "out of memory");
                        break;
                }
        }
        mysql_free_result(res);
        if (*n == TRIGGERS_MAX || (*n && !names[*n - 1])) {
                for (size_t i = 0; i < *n; i++)
                        free(names[i]);
                *n = 0;
                return -1;
        }
        return 0;
}

static int drop_trigger(MYSQL *db, const char *name, char *errstr,
                        size_t errstr_size)
{
        char sql[128];

        snprintf(sql, sizeof(sql), "DROP TRIGGER IF EXISTS `%s`", name);
        return cs_db_exec(db, sql, errstr, errstr_size);
}

/* The root id of the NEW or OLD row (row) of a nested table: its parent
 * column, or through the row that column names (parent_via). */
static void root_expr(const cs_trig_table_t *t, const char *row, char *out,
                      size_t size)
{
        if (t->via)
                snprintf(out, size, "(SELECT `%s` FROM `%s` WHERE `id` = "
                         "%s.`%s`)", t->via->parent_column, t->via->table, row,
                         t->root_col);
        else
                snprintf(out, size, "%s.`%s`", row, t->root_col);
}

/* The three triggers of one table. */
static int create_triggers(MYSQL *db, const cs_trig_table_t *t,
                           char *names[3], char *errstr, size_t errstr_size)
{
        static const struct {
                const char *suffix, *event, *op, *row;
        } ev[3] = {
                { "ai", "INSERT", "I", "NEW" },
                { "au", "UPDATE", "U", "NEW" },
                { "ad", "DELETE", "D", "OLD" },
        };
        char sql[1536], name[CS_TRIG_NAME_MAX + 1], root[320], old_root[320];

        for (int e = 0; e < 3; e++) {
                if (cs_trig_name(name, sizeof(name), t->table,
                                 ev[e].suffix) == -1) {
                        snprintf(errstr, errstr_size, "%s: trigger name too "
                                 "long", t->table);
                        return -1;
                }
                if (t->root_col[0])
                        root_expr(t, ev[e].row, root, sizeof(root));
                else
                        snprintf(root, sizeof(root), "NULL");
                if (t->root_col[0] && e == 1)
                        root_expr(t, "OLD", old_root, sizeof(old_root));
                else
                        snprintf(old_root, sizeof(old_root), "NULL");
                /* CREATE OR REPLACE: a re-install swaps the body in one
                 * statement (no window without a trigger). */
                snprintf(sql, sizeof(sql),
                         "CREATE OR REPLACE TRIGGER `%s` AFTER %s ON `%s` "
                         "FOR EACH ROW INSERT INTO `" CS_TRIG_OUTBOX "` "
                         "(`tbl`, `row_id`, `root_id`, `old_root_id`, `op`, "
                         "`changed_at`) VALUES ('%s', %s.`id`, %s, %s, '%s', "
                         "NOW(6))", name, ev[e].event, t->table, t->table,
                         ev[e].row, root, old_root, ev[e].op);
                if (cs_db_exec(db, sql, errstr, errstr_size) == -1)
                        return -1;
                if (!(names[e] = strdup(name))) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return -1;
                }
        }
        return 0;
}

static int in_list(char *const *list, size_t n, const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (list[i] && !strcmp(list[i], name))
                        return 1;
        return 0;
}

int cs_trig_install(MYSQL *db, int *installed, char *errstr,
                    size_t errstr_size)
{
        cs_src_t *srcs = NULL;
        size_t src_cnt = 0, tcnt = 0, made = 0, old_cnt = 0;
        cs_trig_table_t *tables = NULL;
        char *want[TRIGGERS_MAX] = { 0 }, *old[TRIGGERS_MAX] = { 0 };
        int rc = -1;

        *installed = 0;
        if (cs_src_load_all(db, &srcs, &src_cnt, errstr, errstr_size) == -1 ||
            cs_trig_tables(srcs, src_cnt, &tables, &tcnt, errstr,
                           errstr_size) == -1)
                goto done;
        if (tcnt * 3 > TRIGGERS_MAX) {
                snprintf(errstr, errstr_size, "%zu synced tables: more than "
                         "the %d triggers civisync manages", tcnt,
                         TRIGGERS_MAX);
                goto done;
        }
        if (cs_db_exec(db, outbox_ddl, errstr, errstr_size) == -1)
                goto done;
        for (size_t i = 0; i < tcnt; i++) {
                if (create_triggers(db, &tables[i], &want[made], errstr,
                                    errstr_size) == -1)
                        goto done;
                made += 3;
                cs_debug("%s: triggers civisync_%s_ai/au/ad in place%s%s",
                         tables[i].table, tables[i].table,
                         tables[i].root_col[0] ? ", root column " : "",
                         tables[i].root_col);
        }
        /* Triggers of an earlier install on tables no longer synced. */
        if (list_ours(db, old, &old_cnt, errstr, errstr_size) == -1)
                goto done;
        for (size_t i = 0; i < old_cnt; i++)
                if (!in_list(want, made, old[i])) {
                        cs_info("dropping stale trigger %s", old[i]);
                        if (drop_trigger(db, old[i], errstr,
                                         errstr_size) == -1)
                                goto done;
                }
        *installed = (int)made;
        rc = 0;
done:
        for (size_t i = 0; i < TRIGGERS_MAX; i++) {
                free(want[i]);
                free(old[i]);
        }
        free(tables);
        cs_src_free_all(srcs, src_cnt);
        return rc;
}

int cs_trig_remove(MYSQL *db, int *removed, char *errstr, size_t errstr_size)
{
        char *old[TRIGGERS_MAX] = { 0 };
        size_t n = 0;
        int rc = 0;

        *removed = 0;
        if (list_ours(db, old, &n, errstr, errstr_size) == -1)
                return -1;
        for (size_t i = 0; i < n && rc == 0; i++) {
                rc = drop_trigger(db, old[i], errstr, errstr_size);
                if (rc == 0)
                        (*removed)++;
        }
        for (size_t i = 0; i < n; i++)
                free(old[i]);
        return rc;
}
