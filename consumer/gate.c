/* gate.c — the consumer's half of the metadata gate: compares each metadata document with the master, records the differences per prefix, shows them. */
#include "gate.h"

#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "metadata.h"

static const char *const gate_tables_sql[] = {
        "CREATE TABLE IF NOT EXISTS civisync_metadata_check ("
        " prefix varchar(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,"
        " table_name varchar(64) NOT NULL,"
        " part int NOT NULL,"
        " parts int NOT NULL,"
        " child_rows bigint NOT NULL,"
        " differences bigint NOT NULL,"
        " checked_at datetime NOT NULL,"
        " PRIMARY KEY (prefix, table_name, part)"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
        "CREATE TABLE IF NOT EXISTS civisync_metadata_diff ("
        " prefix varchar(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,"
        " table_name varchar(64) NOT NULL,"
        " row_id bigint NOT NULL COMMENT '0: the table''s shape',"
        " kind varchar(16) NOT NULL COMMENT 'child-only, master-only, changed, shape',"
        " columns_differ text NULL,"
        " seen_at datetime NOT NULL,"
        " PRIMARY KEY (prefix, table_name, row_id)"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
        /* per metadata document key, the newest producer run whose
         * document under that key was applied (or refused): entity
         * documents of run R wait until as many keys as R sent have a run
         * >= R (FORMAT.md §7.1) */
        "CREATE TABLE IF NOT EXISTS civisync_gate_seen ("
        " prefix varchar(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,"
        " doc_key varchar(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,"
        " gate_run bigint NOT NULL,"
        " seen_at datetime NOT NULL,"
        " PRIMARY KEY (prefix, doc_key),"
        " KEY gate_run (prefix, gate_run)"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
        NULL
};

int cs_gate_create_tables(MYSQL *db, char *errstr, size_t errstr_size)
{
        for (int i = 0; gate_tables_sql[i]; i++)
                if (cs_db_exec(db, gate_tables_sql[i], errstr, errstr_size) == -1)
                        return -1;
        return 0;
}

typedef struct store_s {
        MYSQL *db;
        const char *prefix;
        int failed;
        unsigned int dberr;
        char *errstr;
        size_t errstr_size;
        const cs_meta_table_t *child;
        char **reasons;         /* per child row: why it was not created */
} store_t;

/* Why child row `id` was not created, or "". */
static const char *reason_of(const store_t *st, long long id)
{
        size_t lo = 0, hi = st->child->row_cnt;

        while (st->reasons && lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (st->child->ids[mid] == id)
                        return st->reasons[mid] ? st->reasons[mid] : "";
                if (st->child->ids[mid] < id)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return "";
}

static void store_diff(const cs_meta_diff_t *d, void *opaque)
{
        store_t *st = opaque;
        const char *kind = cs_meta_kind_name(d->kind);
        cs_meta_diff_t dd = *d;

        if (d->kind == CS_META_CHILD_ONLY)
                dd.columns = reason_of(st, d->row_id);
        d = &dd;
        cs_db_value_t v[5] = {
                { .kind = CS_VAL_STR, .s = st->prefix, .len = strlen(st->prefix) },
                { .kind = CS_VAL_STR, .s = d->table, .len = strlen(d->table) },
                { .kind = CS_VAL_INT, .i = d->row_id },
                { .kind = CS_VAL_STR, .s = kind, .len = strlen(kind) },
                { .kind = CS_VAL_STR, .s = d->columns, .len = strlen(d->columns) },
        };

        if (st->failed)
                return;
        cs_warn("metadata gate: prefix %s: %s id %lld %s%s%s", st->prefix, d->table,
                d->row_id, kind, *d->columns ? ": " : "", d->columns);
        if (cs_db_exec_params(st->db, "REPLACE INTO civisync_metadata_diff (prefix, "
                              "table_name, row_id, kind, columns_differ, seen_at) "
                              "VALUES (?,?,?,?,?, UTC_TIMESTAMP())", v, 5, NULL, NULL,
                              st->errstr, st->errstr_size) == -1) {
                st->failed = 1;
                st->dberr = mysql_errno(st->db);
        }
}

static void reasons_free(char **reasons, size_t n)
{
        for (size_t i = 0; reasons && i < n; i++)
                free(reasons[i]);
        free(reasons);
}

int cs_gate_apply(MYSQL *db, const char *prefix, const char *map,
                  const char *key, size_t key_len, const char *value,
                  size_t value_len, size_t max_document_bytes,
                  cs_gate_wait_t *wait, long long *gate_run,
                  unsigned int *dberr, char *errstr, size_t errstr_size)
{
        cs_meta_table_t child, master;
        long long after_id, to_id, n, created = 0;
        int part, parts, rc;
        store_t st = { db, prefix, 0, 0, errstr, errstr_size, NULL, NULL };

        *dberr = 0;
        *gate_run = 0;
        memset(wait, 0, sizeof(*wait));
        if (!value) {
                cs_debug("metadata gate: tombstone %.*s ignored", (int)key_len, key);
                return 0;
        }
        if (cs_meta_parse(prefix, key, key_len, value, value_len,
                          max_document_bytes, &child, &after_id, &to_id, &part,
                          &parts, gate_run, errstr, errstr_size) == -1)
                return 1;
        rc = cs_meta_read(db, child.table, after_id, to_id, &master, errstr,
                          errstr_size);
        if (rc == -1) {
                *dberr = mysql_errno(db);
                cs_meta_table_free(&child);
                return -1;
        }
        /* Additive sync: the rows the master lacks are created with the
         * child's ids (never changed, never deleted), then compared. */
        st.child = &child;
        if (!(st.reasons = calloc(child.row_cnt + 1, sizeof(*st.reasons)))) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
        }
        if (cs_gate_add(db, map, &child, rc == 1 ? NULL : &master, st.reasons,
                        wait, &created, dberr, errstr, errstr_size) == -1)
                goto fail;
        if (created) {
                cs_meta_table_free(&master);
                if (cs_meta_read(db, child.table, after_id, to_id, &master, errstr,
                                 errstr_size) == -1) {
                        *dberr = mysql_errno(db);
                        goto fail;
                }
        }
        {
                /* This part's range of rows and the table's shape are
                 * compared afresh: their old differences go. */
                cs_db_value_t v[4] = {
                        { .kind = CS_VAL_STR, .s = prefix, .len = strlen(prefix) },
                        { .kind = CS_VAL_STR, .s = child.table, .len = strlen(child.table) },
                        { .kind = CS_VAL_INT, .i = after_id },
                        { .kind = CS_VAL_INT, .i = to_id } };
                if (cs_db_exec_params(db, "DELETE FROM civisync_metadata_diff WHERE "
                                      "prefix = ? AND table_name = ? AND (row_id = 0 "
                                      "OR (row_id > ? AND (? < 0 OR row_id <= ?)))",
                                      (cs_db_value_t[]){ v[0], v[1], v[2], v[3], v[3] },
                                      5, NULL, NULL, errstr, errstr_size) == -1) {
                        *dberr = mysql_errno(db);
                        goto fail;
                }
        }
        n = cs_meta_compare(&child, rc == 1 ? NULL : &master, store_diff, &st);
        if (n < 0) {
                snprintf(errstr, errstr_size, "out of memory comparing %s", child.table);
                goto fail;
        }
        if (st.failed) {
                *dberr = st.dberr;
                goto fail;
        }
        {
                cs_db_value_t v[6] = {
                        { .kind = CS_VAL_STR, .s = prefix, .len = strlen(prefix) },
                        { .kind = CS_VAL_STR, .s = child.table, .len = strlen(child.table) },
                        { .kind = CS_VAL_INT, .i = part },
                        { .kind = CS_VAL_INT, .i = parts },
                        { .kind = CS_VAL_INT, .i = (long long)child.row_cnt },
                        { .kind = CS_VAL_INT, .i = n } };
                if (cs_db_exec_params(db, "REPLACE INTO civisync_metadata_check (prefix, "
                                      "table_name, part, parts, child_rows, differences, "
                                      "checked_at) VALUES (?,?,?,?,?,?, "
                                      "UTC_TIMESTAMP())", v, 6, NULL, NULL, errstr,
                                      errstr_size) == -1 ||
                    cs_db_exec_params(db, "DELETE FROM civisync_metadata_check WHERE "
                                      "prefix = ? AND table_name = ? AND part > ?",
                                      (cs_db_value_t[]){ v[0], v[1], v[3] }, 3, NULL,
                                      NULL, errstr, errstr_size) == -1) {
                        *dberr = mysql_errno(db);
                        goto fail;
                }
        }
        if (n)
                cs_warn("metadata gate: prefix %s: %s part %d/%d: %lld difference(s) "
                        "with the master (civisync-consume --status)", prefix,
                        child.table, part, parts, n);
        reasons_free(st.reasons, child.row_cnt);
        cs_meta_table_free(&child);
        cs_meta_table_free(&master);
        return wait->waiting ? 2 : 0;
fail:
        reasons_free(st.reasons, child.row_cnt);
        cs_meta_table_free(&child);
        cs_meta_table_free(&master);
        return -1;
}

int cs_gate_seen(MYSQL *db, const char *prefix, const char *key,
                 size_t key_len, long long gate_run, unsigned int *dberr,
                 char *errstr, size_t errstr_size)
{
        cs_db_value_t v[3] = {
                { .kind = CS_VAL_STR, .s = prefix, .len = strlen(prefix) },
                { .kind = CS_VAL_STR, .s = key, .len = key_len },
                { .kind = CS_VAL_INT, .i = gate_run } };

        if (gate_run <= 0)
                return 0;
        if (cs_db_exec_params(db, "INSERT INTO civisync_gate_seen (prefix, doc_key, "
                              "gate_run, seen_at) VALUES (?,?,?, UTC_TIMESTAMP()) ON "
                              "DUPLICATE KEY UPDATE seen_at = IF(VALUES(gate_run) >= "
                              "gate_run, VALUES(seen_at), seen_at), gate_run = "
                              "GREATEST(gate_run, VALUES(gate_run))", v, 3, NULL,
                              NULL, errstr, errstr_size) == -1) {
                *dberr = mysql_errno(db);
                return -1;
        }
        return 0;
}

long long cs_gate_run_seen(MYSQL *db, const char *prefix, long long gate_run,
                           unsigned int *dberr, char *errstr, size_t errstr_size)
{
        cs_db_value_t v[2] = {
                { .kind = CS_VAL_STR, .s = prefix, .len = strlen(prefix) },
                { .kind = CS_VAL_INT, .i = gate_run } };
        long long n = 0;

        if (cs_db_set_vars(db, "SET @cs_gs_p = ?, @cs_gs_r = ?", v, 2, NULL, NULL,
                           errstr, errstr_size) == -1 ||
            cs_db_query_int(db, "SELECT COUNT(*) FROM civisync_gate_seen WHERE "
                            "prefix = @cs_gs_p AND gate_run >= @cs_gs_r", &n, errstr,
                            errstr_size) == -1) {
                *dberr = mysql_errno(db);
                return -1;
        }
        return n;
}

int cs_gate_conflict(MYSQL *db, const char *prefix, const char *table,
                     long long id, char *columns, size_t columns_size,
                     unsigned int *dberr, char *errstr, size_t errstr_size)
{
        cs_db_value_t v[3] = {
                { .kind = CS_VAL_STR, .s = prefix, .len = strlen(prefix) },
                { .kind = CS_VAL_STR, .s = table, .len = strlen(table) },
                { .kind = CS_VAL_INT, .i = id } };
        MYSQL_RES *res;
        MYSQL_ROW row;
        int found;

        if (cs_db_set_vars(db, "SET @cs_gc_p = ?, @cs_gc_t = ?, @cs_gc_i = ?", v, 3,
                           NULL, NULL, errstr, errstr_size) == -1 ||
            !(res = cs_db_query(db, "SELECT COALESCE(columns_differ, '') FROM "
                                "civisync_metadata_diff WHERE prefix = @cs_gc_p AND "
                                "table_name = @cs_gc_t AND row_id = @cs_gc_i AND "
                                "kind = 'changed'", errstr, errstr_size))) {
                *dberr = mysql_errno(db);
                return -1;
        }
        row = mysql_fetch_row(res);
        found = row != NULL;
        if (found && columns)
                snprintf(columns, columns_size, "%s", row[0]);
        mysql_free_result(res);
        return found;
}

void cs_gate_status(MYSQL *db, const char *prefix, FILE *out)
{
        cs_db_value_t p = { .kind = CS_VAL_STR, .s = prefix, .len = strlen(prefix) };
        char e[256], sql[256];
        MYSQL_RES *res;
        MYSQL_ROW row;
        long long diffs = 0;

        if (cs_db_set_vars(db, "SET @cs_p = ?", &p, 1, NULL, NULL, e, sizeof(e)) == -1)
                return;
        if (!(res = cs_db_query(db, "SELECT COUNT(DISTINCT table_name), "
                                "COALESCE(SUM(child_rows), 0), MAX(checked_at) FROM "
                                "civisync_metadata_check WHERE prefix = @cs_p", e,
                                sizeof(e))))
                return;
        row = mysql_fetch_row(res);
        if (!row || !strcmp(row[0], "0")) {
                fprintf(out, "  metadata gate: no fingerprint received yet\n");
                mysql_free_result(res);
                return;
        }
        fprintf(out, "  metadata gate: %s table(s), %s child row(s) checked, last at "
                "%s UTC\n", row[0], row[1], row[2] ? row[2] : "-");
        mysql_free_result(res);
        if (cs_db_query_int(db, "SELECT COUNT(*) FROM civisync_metadata_diff WHERE "
                            "prefix = @cs_p", &diffs, e, sizeof(e)) == -1)
                return;
        fprintf(out, "  metadata differences: %lld%s\n", diffs,
                diffs ? " (the master's metadata stands; data keeps flowing: "
                "see OPERATIONS.md, metadata gate)" : "");
        snprintf(sql, sizeof(sql), "SELECT table_name, row_id, kind, "
                 "COALESCE(columns_differ, '') FROM civisync_metadata_diff WHERE "
                 "prefix = @cs_p ORDER BY table_name, row_id LIMIT %d",
                 CS_GATE_STATUS_SHOW);
        if (!diffs || !(res = cs_db_query(db, sql, e, sizeof(e))))
                return;
        while ((row = mysql_fetch_row(res)))
                fprintf(out, "    %s id %s: %s%s%s\n", row[0], row[1], row[2],
                        *row[3] ? ": " : "", row[3]);
        if (diffs > CS_GATE_STATUS_SHOW)
                fprintf(out, "    ... and %lld more (civisync_metadata_diff)\n",
                        diffs - CS_GATE_STATUS_SHOW);
        mysql_free_result(res);
}
