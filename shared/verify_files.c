/* verify_files.c — civisync-verify's comparison of the synced files' bytes: the child's files_dir against the master's <files_dir>/<PREFIX>/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capacity.h"
#include "db.h"
#include "files.h"
#include "prefix.h"
#include "registry.h"
#include "verify_files.h"

static void shown(const cs_vfiles_t *res, long limit, FILE *out, const char *prefix,
                  long long id, const char *what)
{
        if (limit == 0 || res->differ <= limit)
                fprintf(out, "  file bytes %s/%s/%lld: %s\n", prefix,
                        cs_reg_file_entity()->table, id, what);
}

int cs_verify_files(MYSQL *child, MYSQL *master, const char *prefix,
                    const char *child_dir, const char *master_dir,
                    size_t max_bytes, long limit, FILE *out, cs_vfiles_t *res, char *errstr,
                    size_t errstr_size)
{
        const cs_entity_t *ent = cs_reg_file_entity();
        const char *col = cs_reg_file_name_column();
        char sql[1024], map[CS_PREFIX_MAX + 32], mdir[4096], why[512];
        MYSQL_RES *rows;
        MYSQL_ROW row;

        memset(res, 0, sizeof(*res));
        if (cs_prefix_table_name(map, sizeof(map), "mapping_master_", prefix,
                                 errstr, errstr_size) == -1)
                return -1;
        {
                /* Nothing to compare without the child's table or the
                 * master's mapping. */
                cs_db_value_t t[2] = {
                        { .kind = CS_VAL_STR, .s = ent->table,
                          .len = (unsigned long)strlen(ent->table) },
                        { .kind = CS_VAL_STR, .s = map,
                          .len = (unsigned long)strlen(map) }
                };
                long long n = 0;
                const char *q = "SELECT COUNT(*) FROM information_schema.TABLES "
                                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = @cs_vf_n";
                if (cs_db_set_vars(child, "SET @cs_vf_n = ?", &t[0], 1, NULL, NULL,
                                   errstr, errstr_size) == -1 ||
                    cs_db_query_int(child, q, &n, errstr, errstr_size) == -1)
                        return -1;
                if (!n)
                        return 0;
                if (cs_db_set_vars(master, "SET @cs_vf_n = ?", &t[1], 1, NULL, NULL,
                                   errstr, errstr_size) == -1 ||
                    cs_db_query_int(master, q, &n, errstr, errstr_size) == -1)
                        return -1;
                if (!n)
                        return 0;
        }
        snprintf(mdir, sizeof(mdir), "%s/%s", master_dir, prefix);
        snprintf(sql, sizeof(sql), "SELECT `id`, `%s` FROM `%s` WHERE %s ORDER BY `id`",
                 col, ent->table, ent->row_filter ? ent->row_filter : "1 = 1");
        if (!(rows = cs_db_query(child, sql, errstr, errstr_size)))
                return -1;
        while ((row = mysql_fetch_row(rows))) {
                long long id = atoll(row[0]);
                cs_db_value_t p[2] = {
                        { .kind = CS_VAL_STR, .s = ent->table,
                          .len = (unsigned long)strlen(ent->table) },
                        { .kind = CS_VAL_INT, .i = id }
                };
                unsigned char *cb = NULL, *mb = NULL;
                size_t cn = 0, mn = 0;
                long long size;
                MYSQL_RES *m;
                MYSQL_ROW mrow;
                char muri[600] = "";
                int found = 0;

                snprintf(sql, sizeof(sql), "SELECT t.`%s` FROM `%s` x JOIN `%s` t ON "
                         "t.`id` = x.master_entity_id WHERE x.entity_table = "
                         "@cs_vf_t AND x.child_entity_id = @cs_vf_i", col, map,
                         ent->table);
                if (cs_db_set_vars(master, "SET @cs_vf_t = ?, @cs_vf_i = ?", p, 2,
                                   NULL, NULL, errstr, errstr_size) == -1 ||
                    !(m = cs_db_query(master, sql, errstr, errstr_size))) {
                        mysql_free_result(rows);
                        return -1;
                }
                if ((mrow = mysql_fetch_row(m))) {
                        found = 1;
                        snprintf(muri, sizeof(muri), "%s", mrow[0] ? mrow[0] : "");
                }
                mysql_free_result(m);
                if (!found) {
                        res->unmapped++;
                        continue;
                }
                if (!row[1] || cs_file_read(child_dir, row[1], max_bytes,
                                            &cb, &cn, &size, why,
                                            sizeof(why)) != CS_FILE_OK) {
                        res->child_unreadable++;
                        continue;
                }
                res->compared++;
                size_t plen = strlen(prefix);
                if (strncmp(muri, prefix, plen) || muri[plen] != '/' ||
                    cs_file_read(mdir, muri + plen + 1, CS_LIMIT_FILE_BYTES, &mb,
                                 &mn, &size, why, sizeof(why)) != CS_FILE_OK) {
                        res->differ++;
                        snprintf(sql, sizeof(sql), "%zu bytes on the child, none "
                                 "on the master (uri '%.200s': %.300s)", cn, muri,
                                 why);
                        shown(res, limit, out, prefix, id, sql);
                } else if (cn != mn || memcmp(cb, mb, cn)) {
                        res->differ++;
                        snprintf(sql, sizeof(sql), "%zu bytes on the child, %zu "
                                 "different bytes on the master (%s/%.200s)", cn,
                                 mn, master_dir, muri);
                        shown(res, limit, out, prefix, id, sql);
                } else {
                        res->same++;
                }
                free(cb);
                free(mb);
        }
        mysql_free_result(rows);
        return 0;
}
