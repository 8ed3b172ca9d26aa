/* dump.c — child-vs-master oracle: prints every synced row in a form where child and master lines are equal. */
/*
 * One line per synced row: "<table>\t<child id>\t<col>=<value>\t..." in
 * registry order, then child id. The child side applies what the consumer
 * does (CLEAR -> NULL, QUALIFY -> "<PREFIX>:<value>", OMIT skipped); the
 * master side maps its ids (the row's own id and every reference) back to
 * child ids through mapping_master_<PREFIX>. So `diff child master` lists
 * exactly the rows that differ. The master side also prints ORPHAN lines
 * (mapping rows whose master row is gone) and, with --unmapped, the rows no
 * mapping names (the master's own rows), prefixed "U\t".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faults.h"
#include "registry.h"
#include "schema.h"

typedef struct pair_s {
        long long master, child;
} pair_t;

typedef struct tmap_s {
        char table[72];
        pair_t *rows;
        size_t n, cap;
} tmap_t;

static tmap_t maps[64];
static size_t map_cnt;

static int cmp_pair(const void *a, const void *b)
{
        const pair_t *x = a, *y = b;
        return x->master < y->master ? -1 : x->master > y->master;
}

static tmap_t *map_for(const char *table, int create)
{
        for (size_t i = 0; i < map_cnt; i++)
                if (!strcmp(maps[i].table, table))
                        return &maps[i];
        if (!create || map_cnt >= sizeof(maps) / sizeof(maps[0]))
                return NULL;
        snprintf(maps[map_cnt].table, sizeof(maps[map_cnt].table), "%s", table);
        return &maps[map_cnt++];
}

/* Child id of master row `master` of table, or -1. */
static long long rev(const char *table, long long master)
{
        tmap_t *m = map_for(table, 0);
        pair_t key = { master, 0 }, *hit;
        if (!m)
                return -1;
        hit = bsearch(&key, m->rows, m->n, sizeof(pair_t), cmp_pair);
        return hit ? hit->child : -1;
}

static int load_mapping(MYSQL *db, const char *prefix)
{
        char sql[256];
        MYSQL_RES *res;
        MYSQL_ROW row;

        snprintf(sql, sizeof(sql), "SELECT entity_table, child_entity_id, "
                 "master_entity_id FROM `mapping_master_%s`", prefix);
        if (mysql_query(db, sql) != 0 || !(res = mysql_store_result(db))) {
                fprintf(stderr, "faults-tool dump: %s: %s\n", sql, mysql_error(db));
                return -1;
        }
        while ((row = mysql_fetch_row(res))) {
                tmap_t *m = map_for(row[0], 1);
                if (!m)
                        continue;
                if (m->n == m->cap) {
                        m->cap = m->cap ? m->cap * 2 : 1024;
                        m->rows = realloc(m->rows, m->cap * sizeof(pair_t));
                }
                m->rows[m->n].child = strtoll(row[1], NULL, 10);
                m->rows[m->n].master = strtoll(row[2], NULL, 10);
                m->n++;
        }
        mysql_free_result(res);
        for (size_t i = 0; i < map_cnt; i++)
                qsort(maps[i].rows, maps[i].n, sizeof(pair_t), cmp_pair);
        return 0;
}

static void put_escaped(const char *s, unsigned long len)
{
        for (unsigned long i = 0; i < len; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c < 0x20 || c == 0x7f || c == '\\')
                        printf("\\x%02x", c);
                else
                        putchar(c);
        }
}

/* Prints a comma-separated id list normalized; on the master side each id
 * is mapped back to the child's. */
static void put_id_list(const char *s, unsigned long len, const char *target,
                        int master)
{
        char *copy = strndup(s, len), *save = NULL, *tok;
        int first = 1;

        for (tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
                long long id = strtoll(tok, NULL, 10), c = id;
                if (master && (c = rev(target, id)) < 0) {
                        printf("%s?m%lld", first ? "" : ",", id);
                } else {
                        printf("%s%lld", first ? "" : ",", c);
                }
                first = 0;
        }
        free(copy);
}

static const cs_ref_t *find_ref(const cs_entity_t *ent, const char *col)
{
        return cs_reg_ref(ent, col);
}

static int dump_entity(MYSQL *db, const cs_entity_t *ent, const char *prefix,
                       int master, int unmapped)
{
        cs_table_t tbl;
        char errstr[512], sql[4096];
        MYSQL_RES *res;
        MYSQL_ROW row;
        const char *parent_table = NULL;
        int rc;

        rc = cs_schema_load(db, ent->table, &tbl, errstr, sizeof(errstr));
        if (rc == 1)
                return 0;
        if (rc == -1) {
                fprintf(stderr, "faults-tool dump: %s\n", errstr);
                return -1;
        }
        if (ent->parent)
                parent_table = cs_reg_by_name(ent->parent)->table;
        for (int pass = 0; pass < (master && unmapped ? 2 : 1); pass++) {
                size_t ncols = tbl.col_cnt;
                if (!master) {
                        int n = snprintf(sql, sizeof(sql), "SELECT * FROM `%s` WHERE 1",
                                         ent->table);
                        if (ent->row_filter)
                                n += snprintf(sql + n, sizeof(sql) - (size_t)n,
                                              " AND (%s)", ent->row_filter);
                        if (ent->parent_column)
                                n += snprintf(sql + n, sizeof(sql) - (size_t)n,
                                              " AND `%s` IS NOT NULL", ent->parent_column);
                        snprintf(sql + n, sizeof(sql) - (size_t)n, " ORDER BY id");
                } else if (pass == 0) {
                        snprintf(sql, sizeof(sql), "SELECT t.*, m.child_entity_id "
                                 "FROM `%s` t JOIN `mapping_master_%s` m ON "
                                 "m.entity_table = '%s' AND m.master_entity_id = t.id "
                                 "ORDER BY m.child_entity_id", ent->table, prefix,
                                 ent->table);
                } else {
                        snprintf(sql, sizeof(sql), "SELECT t.* FROM `%s` t LEFT JOIN "
                                 "`mapping_master_%s` m ON m.entity_table = '%s' AND "
                                 "m.master_entity_id = t.id WHERE m.master_entity_id "
                                 "IS NULL ORDER BY t.id", ent->table, prefix,
                                 ent->table);
                }
                if (mysql_query(db, sql) != 0 || !(res = mysql_use_result(db))) {
                        fprintf(stderr, "faults-tool dump: %s: %s\n", sql,
                                mysql_error(db));
                        cs_schema_free(&tbl);
                        return -1;
                }
                while ((row = mysql_fetch_row(res))) {
                        unsigned long *len = mysql_fetch_lengths(res);
                        int id_col = cs_schema_col_index(&tbl, "id");
                        if (master && pass == 1)
                                printf("U\t%s\t%s", ent->table, row[id_col]);
                        else
                                printf("%s\t%s", ent->table,
                                       master ? row[ncols] : row[id_col]);
                        for (size_t c = 0; c < ncols; c++) {
                                const cs_column_t *col = &tbl.cols[c];
                                int policy = cs_reg_col_policy(ent, col->name);
                                const cs_ref_t *ref = find_ref(ent, col->name);
                                const char *target = NULL;
                                int is_list = 0;

                                if (!strcmp(col->name, "id") || policy == CS_COL_OMIT)
                                        continue;
                                printf("\t%s=", col->name);
                                if (master && pass == 1) {
                                        /* The master's own row: verbatim. */
                                        if (!row[c])
                                                printf("\\N");
                                        else
                                                put_escaped(row[c], len[c]);
                                        continue;
                                }
                                if (!master && policy == CS_COL_CLEAR) {
                                        printf("\\N");
                                        continue;
                                }
                                if (!row[c]) {
                                        printf("\\N");
                                        continue;
                                }
                                if (ent->parent_column && !strcmp(col->name, ent->parent_column))
                                        target = parent_table;
                                if (ref) {
                                        if (ref->kind == CS_REF_POLY) {
                                                int tc = cs_schema_col_index(&tbl, ref->table_column);
                                                target = tc >= 0 ? row[tc] : NULL;
                                        } else {
                                                target = ref->target;
                                        }
                                        is_list = ref->kind == CS_REF_ID_LIST;
                                }
                                if (is_list) {
                                        put_id_list(row[c], len[c], target, master);
                                        continue;
                                }
                                if (target) {
                                        long long v = strtoll(row[c], NULL, 10), ch;
                                        if (!master)
                                                printf("%lld", v);
                                        else if ((ch = rev(target, v)) < 0)
                                                printf("?m%lld", v);
                                        else
                                                printf("%lld", ch);
                                        continue;
                                }
                                if (!master && cs_reg_unique(ent, col->name)) {
                                        size_t max = col->max_length > 0 ?
                                                     (size_t)col->max_length : 255;
                                        char *q = malloc(max * 4 + 1);
                                        int qlen = cs_reg_qualify(prefix, row[c], len[c],
                                                                  max, q, max * 4 + 1);
                                        if (qlen < 0)
                                                printf("?unqualifiable");
                                        else
                                                put_escaped(q, (unsigned long)qlen);
                                        free(q);
                                        continue;
                                }
                                put_escaped(row[c], len[c]);
                        }
                        putchar('\n');
                }
                mysql_free_result(res);
        }
        if (master) {
                /* Mapping rows whose master row is gone. */
                snprintf(sql, sizeof(sql), "SELECT m.child_entity_id FROM "
                         "`mapping_master_%s` m LEFT JOIN `%s` t ON t.id = "
                         "m.master_entity_id WHERE m.entity_table = '%s' AND "
                         "t.id IS NULL ORDER BY m.child_entity_id", prefix,
                         ent->table, ent->table);
                if (mysql_query(db, sql) != 0 || !(res = mysql_store_result(db))) {
                        fprintf(stderr, "faults-tool dump: %s\n", mysql_error(db));
                        cs_schema_free(&tbl);
                        return -1;
                }
                while ((row = mysql_fetch_row(res)))
                        printf("%s\t%s\tORPHAN-MAPPING\n", ent->table, row[0]);
                mysql_free_result(res);
        }
        cs_schema_free(&tbl);
        return 0;
}

int ft_dump_main(int argc, char **argv)
{
        size_t count;
        const cs_entity_t *ents = cs_reg_entities(&count);
        int master, unmapped = argc > 4 && !strcmp(argv[4], "--unmapped");
        MYSQL *db;

        if (argc < 4 || (strcmp(argv[1], "master") && strcmp(argv[1], "child"))) {
                fprintf(stderr, "usage: faults-tool dump master|child DB PREFIX [--unmapped]\n");
                return 2;
        }
        master = !strcmp(argv[1], "master");
        if (!(db = ft_connect(argv[2])))
                return 1;
        if (master && load_mapping(db, argv[3]) == -1)
                return 1;
        for (size_t i = 0; i < count; i++)
                if (dump_entity(db, &ents[i], argv[3], master, unmapped) == -1)
                        return 1;
        mysql_close(db);
        return fflush(stdout) == 0 ? 0 : 1;
}
