/* oracle.c — the tests' independent child-vs-master oracle: own table of references and column rules, own QUALIFY. */
/*
 * Deliberately shares nothing with shared/registry.c: the rules below are a
 * second, hand-written statement of what docs/FORMAT.md and the CiviCRM
 * schema say, so a wrong rule in the registry (a reference not translated,
 * translated to the wrong table, a column cleared by mistake, a wrong
 * qualification) shows up as a difference here.
 */
#include "oracle.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
        R_VAL = 0,  /* verbatim */
        R_REF,    /* id of table arg */
        R_POLY,   /* id of the table named by column arg */
        R_LIST,   /* comma-separated ids of table arg */
        R_CLEAR,  /* master stores NULL */
        R_OMIT,   /* never leaves the child: master NULL */
        R_QUAL,   /* master stores "<PREFIX>:<value>" */
        R_ACL,    /* an ACL's id, by the table named by column arg (acl_poly) */
        R_PATH    /* a file name: master stores "<PREFIX>/<value>" */
} rule_t;

typedef struct {
        const char *col;
        rule_t rule;
        const char *arg;
} ocol_t;

typedef struct {
        const char *table;
        const char *filter;   /* synced rows of the child (SQL), or NULL */
        ocol_t cols[16];      /* { NULL } terminated */
} otable_t;

#define C "civicrm_contact"
static const otable_t tables[] = {
        { C, NULL, { { "primary_contact_id", R_REF, C }, { "employer_id", R_REF, C },
                     { "external_identifier", R_QUAL, NULL }, { "api_key", R_OMIT, NULL },
                     { "hash", R_OMIT, NULL },
                     { NULL, R_VAL, NULL } } },
        { "civicrm_email", NULL, { { "contact_id", R_REF, C }, { NULL, R_VAL, NULL } } },
        { "civicrm_phone", NULL, { { "contact_id", R_REF, C }, { NULL, R_VAL, NULL } } },
        /* every row: the contact-less ones are the location blocks'
         * (issue #16), contact_id NULL on both sides */
        { "civicrm_address", NULL,
          { { "contact_id", R_REF, C }, { "master_id", R_REF, "civicrm_address" }, { NULL, R_VAL, NULL } } },
        { "civicrm_im", NULL, { { "contact_id", R_REF, C }, { NULL, R_VAL, NULL } } },
        { "civicrm_loc_block", NULL,
          { { "address_id", R_REF, "civicrm_address" }, { "email_id", R_REF, "civicrm_email" },
            { "phone_id", R_REF, "civicrm_phone" }, { "im_id", R_REF, "civicrm_im" },
            { "address_2_id", R_REF, "civicrm_address" },
            { "email_2_id", R_REF, "civicrm_email" },
            { "phone_2_id", R_REF, "civicrm_phone" }, { "im_2_id", R_REF, "civicrm_im" },
            { NULL, R_VAL, NULL } } },
        { "civicrm_website", "contact_id IS NOT NULL", { { "contact_id", R_REF, C }, { NULL, R_VAL, NULL } } },
        { "civicrm_saved_search", NULL,
          { { "created_id", R_REF, C }, { "modified_id", R_REF, C }, { "name", R_QUAL, NULL },
            { "mapping_id", R_CLEAR, NULL }, { NULL, R_VAL, NULL } } },
        { "civicrm_group", NULL,
          { { "saved_search_id", R_REF, "civicrm_saved_search" },
            { "parents", R_LIST, "civicrm_group" }, { "children", R_LIST, "civicrm_group" },
            { "created_id", R_REF, C }, { "modified_id", R_REF, C },
            { "name", R_QUAL, NULL }, { "title", R_QUAL, NULL },
            { "where_clause", R_CLEAR, NULL }, { "select_tables", R_CLEAR, NULL },
            { "where_tables", R_CLEAR, NULL }, { "cache_date", R_CLEAR, NULL },
            { "refresh_date", R_CLEAR, NULL } } },
        { "civicrm_group_nesting", NULL,
          { { "child_group_id", R_REF, "civicrm_group" },
            { "parent_group_id", R_REF, "civicrm_group" }, { NULL, R_VAL, NULL } } },
        { "civicrm_group_organization", NULL,
          { { "group_id", R_REF, "civicrm_group" }, { "organization_id", R_REF, C },
            { NULL, R_VAL, NULL } } },
        { "civicrm_group_contact", NULL,
          { { "group_id", R_REF, "civicrm_group" }, { "contact_id", R_REF, C },
            { "email_id", R_REF, "civicrm_email" }, { "location_id", R_REF, "civicrm_loc_block" },
            { NULL, R_VAL, NULL } } },
        { "civicrm_tag", NULL,
          { { "parent_id", R_REF, "civicrm_tag" }, { "created_id", R_REF, C },
            { "name", R_QUAL, NULL }, { NULL, R_VAL, NULL } } },
        { "civicrm_relationship", NULL,
          { { "contact_id_a", R_REF, C }, { "contact_id_b", R_REF, C },
            { "case_id", R_REF, "civicrm_case" }, { NULL, R_VAL, NULL } } },
        { "civicrm_activity", NULL,
          { { "phone_id", R_REF, "civicrm_phone" }, { "parent_id", R_REF, "civicrm_activity" },
            { "relationship_id", R_REF, "civicrm_relationship" },
            { "original_id", R_REF, "civicrm_activity" }, { "campaign_id", R_REF, "civicrm_campaign" },
            { NULL, R_VAL, NULL } } },
        { "civicrm_activity_contact", NULL,
          { { "activity_id", R_REF, "civicrm_activity" }, { "contact_id", R_REF, C },
            { NULL, R_VAL, NULL } } },
        /* phase 3c: tags on cases and files, notes on participants and
         * contributions (tag_used_for, CRM_Core_BAO_Note::entityTables) */
        { "civicrm_entity_tag",
          "entity_table IN ('civicrm_contact','civicrm_activity','civicrm_case','civicrm_file')",
          { { "entity_id", R_POLY, "entity_table" }, { "tag_id", R_REF, "civicrm_tag" },
            { NULL, R_VAL, NULL } } },
        { "civicrm_note",
          "entity_table IN ('civicrm_contact','civicrm_relationship','civicrm_note','civicrm_activity',"
          "'civicrm_participant','civicrm_contribution')",
          { { "entity_id", R_POLY, "entity_table" }, { "contact_id", R_REF, C },
            { NULL, R_VAL, NULL } } },
        /* ACLs: CiviCRM's own conventions, written out again (acl_poly). */
        /* ACLs on events: this oracle does not know events (phase 3b:
         * civisync-verify and test_acl.c check them); left out on both sides */
        { "civicrm_acl", "NOT (object_table <=> 'civicrm_event' AND object_id <> 0)",
          { { "entity_id", R_ACL, "entity_table" }, { "object_id", R_ACL, "object_table" },
            { "acl_id", R_ACL, "acl_table" }, { NULL, R_VAL, NULL } } },
        { "civicrm_acl_entity_role", NULL,
          { { "entity_id", R_ACL, "entity_table" }, { NULL, R_VAL, NULL } } },
        /* Files (FORMAT.md §20): those linked to a contact, activity, note or
         * custom value table; a custom value table's entity_id is the id of
         * what its custom group extends. */
        { "civicrm_file",
          "id IN (SELECT file_id FROM `@DB@`.civicrm_entity_file WHERE entity_table IN "
          "('civicrm_contact','civicrm_activity','civicrm_note') OR entity_table "
          "LIKE 'civicrm\\_value\\_%')",
          { { "created_id", R_REF, C }, { "uri", R_PATH, NULL }, { NULL, R_VAL, NULL } } },
        { "civicrm_entity_file",
          "entity_table IN ('civicrm_contact','civicrm_activity','civicrm_note') OR "
          "entity_table LIKE 'civicrm\\_value\\_%'",
          { { "entity_id", R_POLY, "entity_table" }, { "file_id", R_REF, "civicrm_file" },
            { NULL, R_VAL, NULL } } },
};
#undef C
#define TABLE_CNT (sizeof(tables) / sizeof(tables[0]))

/* The table an ACL column's id belongs to, or NULL when the id is not a
 * row of the prefix (an ACL role option value, a profile, a custom group,
 * 0 = all groups): CRM_ACL_Form_ACL stores a group ACL as object_table
 * 'civicrm_saved_search' with the group's id. */
static const char *acl_poly(const char *table_value, long long id)
{
        if (!table_value)
                return NULL;
        if (!strcmp(table_value, "civicrm_contact"))
                return "civicrm_contact";
        if (!strcmp(table_value, "civicrm_acl"))
                return "civicrm_acl";
        if ((!strcmp(table_value, "civicrm_group") ||
             !strcmp(table_value, "civicrm_saved_search")) && id != 0)
                return "civicrm_group";
        return NULL;
}

/* A 4.2/4.3 child's activity contacts (docs/FORMAT.md §17). */
static const char synth_activity_contact[] =
        "SELECT 4 * id + 1 AS id, activity_id, assignee_contact_id AS contact_id, "
        "1 AS record_type_id FROM `%s`.civicrm_activity_assignment UNION ALL "
        "SELECT 4 * id + 2, id, source_contact_id, 2 FROM `%s`.civicrm_activity "
        "WHERE source_contact_id IS NOT NULL UNION ALL "
        "SELECT 4 * id + 3, activity_id, target_contact_id, 3 FROM "
        "`%s`.civicrm_activity_target";

/* ---- reverse mapping: master id -> child id, per table ----------------- */

typedef struct {
        long long master, child;
} pair_t;

typedef struct {
        pair_t *rows;
        size_t n, cap;
} rmap_t;

static int cmp_pair(const void *a, const void *b)
{
        const pair_t *x = a, *y = b;
        return x->master < y->master ? -1 : x->master > y->master;
}

static int table_index(const char *name)
{
        for (size_t i = 0; i < TABLE_CNT; i++)
                if (!strcmp(tables[i].table, name))
                        return (int)i;
        return -1;
}

/* Child id of master row id of table, or -1. */
static long long rev(rmap_t *maps, const char *table, long long id)
{
        int t = table ? table_index(table) : -1;
        pair_t key = { id, 0 }, *hit;
        if (t < 0 || !maps[t].n)
                return -1;
        hit = bsearch(&key, maps[t].rows, maps[t].n, sizeof(pair_t), cmp_pair);
        return hit ? hit->child : -1;
}

static int query(MYSQL *db, const char *sql, MYSQL_RES **res, char *errstr,
                 size_t errstr_size)
{
        if (mysql_query(db, sql) != 0 || !(*res = mysql_store_result(db))) {
                snprintf(errstr, errstr_size, "oracle: %s: %s", sql, mysql_error(db));
                return -1;
        }
        return 0;
}

static int load_maps(MYSQL *db, const char *master_db, const char *prefix,
                     rmap_t *maps, char *errstr, size_t errstr_size)
{
        char sql[512];
        MYSQL_RES *res;
        MYSQL_ROW row;

        snprintf(sql, sizeof(sql), "SELECT entity_table, child_entity_id, "
                 "master_entity_id FROM `%s`.`mapping_master_%s`", master_db, prefix);
        if (query(db, sql, &res, errstr, errstr_size) == -1)
                return -1;
        while ((row = mysql_fetch_row(res))) {
                int t = table_index(row[0]);
                rmap_t *m;
                if (t < 0)
                        continue;
                m = &maps[t];
                if (m->n == m->cap) {
                        pair_t *grown;
                        m->cap = m->cap ? m->cap * 2 : 256;
                        if (!(grown = realloc(m->rows, m->cap * sizeof(pair_t)))) {
                                mysql_free_result(res);
                                snprintf(errstr, errstr_size, "oracle: out of memory");
                                return -1;
                        }
                        m->rows = grown;
                }
                m->rows[m->n].child = strtoll(row[1], NULL, 10);
                m->rows[m->n].master = strtoll(row[2], NULL, 10);
                m->n++;
        }
        mysql_free_result(res);
        for (size_t i = 0; i < TABLE_CNT; i++)
                if (maps[i].n) /* rows is NULL when none: qsort's base must not be */
                        qsort(maps[i].rows, maps[i].n, sizeof(pair_t), cmp_pair);
        return 0;
}

/* ---- QUALIFY, the tests' own ------------------------------------------- */

static size_t utf8_len(const char *s, size_t n)
{
        size_t c = 0;
        for (size_t i = 0; i < n; i++)
                c += ((unsigned char)s[i] & 0xC0) != 0x80;
        return c;
}

char *orc_qualify(const char *prefix, const char *value, size_t len,
                  size_t max_chars)
{
        size_t plen = strlen(prefix), head = 0, chars = 0;
        size_t room;
        uint32_t h = 2166136261u;
        char *out = malloc(plen + len + 16);

        if (!out)
                return NULL;
        if (max_chars == 0 || utf8_len(prefix, plen) + 1 + utf8_len(value, len) <= max_chars) {
                sprintf(out, "%s:", prefix);
                memcpy(out + plen + 1, value, len);
                out[plen + 1 + len] = '\0';
                return out;
        }
        if (max_chars < utf8_len(prefix, plen) + 1 + 9) {
                free(out);
                return NULL;
        }
        room = max_chars - utf8_len(prefix, plen) - 1 - 9;
        /* the longest head of whole characters that fits in room */
        while (head < len) {
                if (((unsigned char)value[head] & 0xC0) != 0x80) {
                        if (chars == room)
                                break;
                        chars++;
                }
                head++;
        }
        for (size_t i = 0; i < len; i++) {
                h ^= (unsigned char)value[i];
                h *= 16777619u;
        }
        sprintf(out, "%s:", prefix);
        memcpy(out + plen + 1, value, head);
        sprintf(out + plen + 1 + head, "~%08x", (unsigned)h);
        return out;
}

/* ---- dumping ----------------------------------------------------------- */

static void put_escaped(FILE *out, const char *s, size_t len)
{
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c < 0x20 || c == 0x7f || c == '\\')
                        fprintf(out, "\\x%02x", c);
                else
                        fputc(c, out);
        }
}

static int table_exists(MYSQL *db, const char *schema, const char *table,
                        int *exists, char *errstr, size_t errstr_size)
{
        char sql[512];
        MYSQL_RES *res;

        snprintf(sql, sizeof(sql), "SELECT 1 FROM information_schema.TABLES WHERE "
                 "TABLE_SCHEMA = '%s' AND TABLE_NAME = '%s'", schema, table);
        if (query(db, sql, &res, errstr, errstr_size) == -1)
                return -1;
        *exists = mysql_num_rows(res) > 0;
        mysql_free_result(res);
        return 0;
}

/* Column names of a table or derived-table source: malloc'd array; types
 * (if not NULL) gets a malloc'd array of their field types. */
static int source_columns(MYSQL *db, const char *src, char ***names, size_t *n,
                          int **types, char *errstr, size_t errstr_size)
{
        char sql[2048];
        MYSQL_RES *res;
        MYSQL_FIELD *f;

        snprintf(sql, sizeof(sql), "SELECT * FROM %s LIMIT 0", src);
        if (query(db, sql, &res, errstr, errstr_size) == -1)
                return -1;
        *n = mysql_num_fields(res);
        f = mysql_fetch_fields(res);
        *names = calloc(*n ? *n : 1, sizeof(char *));
        if (types && (*types = calloc(*n ? *n : 1, sizeof(int))))
                for (size_t i = 0; i < *n; i++)
                        (*types)[i] = (int)f[i].type;
        for (size_t i = 0; i < *n && *names; i++)
                (*names)[i] = strdup(f[i].name);
        mysql_free_result(res);
        return *names && (!types || *types) ? 0 : -1;
}

static void free_names(char **names, size_t n)
{
        for (size_t i = 0; i < n && names; i++)
                free(names[i]);
        free(names);
}

static int has_name(char **names, size_t n, const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (!strcmp(names[i], name))
                        return 1;
        return 0;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The source of table on a side: "`db`.`table`", the 4.2 synthesis, or ""
 * when the side has no such rows at all. */
static int source_of(MYSQL *db, const char *schema, const char *table, int child,
                     char *src, size_t size, char *errstr, size_t errstr_size)
{
        int exists;

        if (table_exists(db, schema, table, &exists, errstr, errstr_size) == -1)
                return -1;
        if (exists) {
                snprintf(src, size, "`%s`.`%s`", schema, table);
                return 0;
        }
        src[0] = '\0';
        if (child && !strcmp(table, "civicrm_activity_contact")) {
                if (table_exists(db, schema, "civicrm_activity_assignment", &exists,
                                 errstr, errstr_size) == -1)
                        return -1;
                if (exists) {
                        int n = snprintf(src, size, "(");
                        n += snprintf(src + n, size - (size_t)n, synth_activity_contact,
                                      schema, schema, schema);
                        snprintf(src + n, size - (size_t)n, ") AS synth");
                }
        }
        return 0;
}

/* Character width of a master column for QUALIFY (0: unknown). */
static size_t char_width(MYSQL *db, const char *schema, const char *table,
                         const char *col)
{
        char sql[512];
        MYSQL_RES *res;
        MYSQL_ROW row;
        size_t w = 0;
        char err[1024];

        snprintf(sql, sizeof(sql), "SELECT CHARACTER_MAXIMUM_LENGTH FROM "
                 "information_schema.COLUMNS WHERE TABLE_SCHEMA = '%s' AND "
                 "TABLE_NAME = '%s' AND COLUMN_NAME = '%s'", schema, table, col);
        if (query(db, sql, &res, err, sizeof(err)) == -1)
                return 0;
        if ((row = mysql_fetch_row(res)) && row[0])
                w = (size_t)strtoull(row[0], NULL, 10);
        mysql_free_result(res);
        return w;
}

static const ocol_t *rule_of(const otable_t *t, const char *col)
{
        for (const ocol_t *c = t->cols; c->col; c++)
                if (!strcmp(c->col, col))
                        return c;
        return NULL;
}

/* Ids present in a table of the side (loaded on first use). */
typedef struct {
        long long *ids;
        size_t n;
        int loaded;
} idset_t;

typedef struct {
        MYSQL *db;
        idset_t *present;
        int side;
        const char *self_db, *other_db, *prefix;
        FILE *out;
        rmap_t *maps;
        char *errstr;
        size_t errstr_size;
} ctx_t;

static int cmp_ll(const void *a, const void *b)
{
        long long x = *(const long long *)a, y = *(const long long *)b;
        return x < y ? -1 : x > y;
}

/* 1 if row id of table exists on this side. A reference to a row that does
 * not exist (a note left on a deleted relationship) is "dangling" on both
 * sides: the child's id and the master's old id cannot be compared. */
static int present(ctx_t *x, const char *table, long long id)
{
        int t = table ? table_index(table) : -1;
        idset_t *s;
        char sql[512], err[1024];
        MYSQL_RES *res;
        MYSQL_ROW row;

        if (t < 0)
                return 1;
        s = &x->present[t];
        if (!s->loaded) {
                size_t cap = 0;
                s->loaded = 1;
                snprintf(sql, sizeof(sql), "SELECT id FROM `%s`.`%s`", x->self_db, table);
                if (query(x->db, sql, &res, err, sizeof(err)) == -1)
                        return 1;
                cap = mysql_num_rows(res) + 1;
                s->ids = malloc(cap * sizeof(long long));
                while (s->ids && (row = mysql_fetch_row(res)))
                        s->ids[s->n++] = strtoll(row[0], NULL, 10);
                mysql_free_result(res);
                if (s->ids)
                        qsort(s->ids, s->n, sizeof(long long), cmp_ll);
        }
        return s->ids && bsearch(&id, s->ids, s->n, sizeof(long long), cmp_ll);
}

static void put_ids(FILE *out, const char *s, size_t len, const char *target,
                    int master, rmap_t *maps)
{
        char *copy = strndup(s, len), *save = NULL, *tok;
        int first = 1;

        for (tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
                long long id = strtoll(tok, NULL, 10), c = id;
                if (master && (c = rev(maps, target, id)) < 0)
                        fprintf(out, "%s?m%lld", first ? "" : ",", id);
                else
                        fprintf(out, "%s%lld", first ? "" : ",", c);
                first = 0;
        }
        free(copy);
}


/* The table whose ids a custom value table's entity_id holds: its custom
 * group's extends on this side (CiviCRM's own list), or "?" when unknown. */
static const char *extended_table(ctx_t *x, const char *value_table)
{
        static const char *const ext[][2] = {
                { "Contact", "civicrm_contact" }, { "Individual", "civicrm_contact" },
                { "Organization", "civicrm_contact" }, { "Household", "civicrm_contact" },
                { "Activity", "civicrm_activity" }, { "Relationship", "civicrm_relationship" },
                { "Group", "civicrm_group" }, { "Address", "civicrm_address" },
        };
        char sql[512], err[1024];
        MYSQL_RES *res;
        MYSQL_ROW row;
        const char *out = "?";

        snprintf(sql, sizeof(sql), "SELECT extends FROM `%s`.civicrm_custom_group "
                 "WHERE table_name = '%.100s'", x->self_db, value_table);
        if (query(x->db, sql, &res, err, sizeof(err)) == -1)
                return out;
        if ((row = mysql_fetch_row(res)) && row[0])
                for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++)
                        if (!strcmp(ext[i][0], row[0]))
                                out = ext[i][1];
        mysql_free_result(res);
        return out;
}

/* One value of a mapped (or child) row. */
static void put_value(ctx_t *x, const otable_t *t, const ocol_t *r, MYSQL_ROW row,
                      unsigned long *len, int c, int *idx, char **cols,
                      size_t ncols, size_t width)
{
        int master = x->side != ORC_CHILD;
        const char *target = NULL;

        if (r && (r->rule == R_CLEAR || r->rule == R_OMIT) && !master) {
                fputs("\\N", x->out);
                return;
        }
        if (!row[c]) {
                fputs("\\N", x->out);
                return;
        }
        if (r && r->rule == R_REF)
                target = r->arg;
        if (r && r->rule == R_POLY) {
                for (size_t k = 0; k < ncols; k++)
                        if (!strcmp(cols[k], r->arg))
                                target = row[idx[k]];
                if (target && !strncmp(target, "civicrm_value_", 14))
                        target = extended_table(x, target);
        }
        if (r && r->rule == R_PATH && !master) {
                fprintf(x->out, "%s/", x->prefix);
                put_escaped(x->out, row[c], len[c]);
                return;
        }
        if (r && r->rule == R_LIST) {
                put_ids(x->out, row[c], len[c], r->arg, master, x->maps);
                return;
        }
        if (r && r->rule == R_ACL) {
                for (size_t k = 0; k < ncols; k++)
                        if (!strcmp(cols[k], r->arg))
                                target = acl_poly(row[idx[k]],
                                                  strtoll(row[c], NULL, 10));
                if (!target) {
                        put_escaped(x->out, row[c], len[c]);
                        return;
                }
        }
        if (r && (r->rule == R_REF || r->rule == R_POLY || r->rule == R_ACL)) {
                long long v = strtoll(row[c], NULL, 10), ch;
                if (!present(x, target, v))
                        fputs("dangling", x->out);
                else if (!master)
                        fprintf(x->out, "%lld", v);
                else if ((ch = rev(x->maps, target, v)) < 0)
                        fprintf(x->out, "?m%lld", v);
                else
                        fprintf(x->out, "%lld", ch);
                return;
        }
        if (r && r->rule == R_QUAL && !master) {
                char *q = orc_qualify(x->prefix, row[c], len[c], width);
                if (!q) {
                        fputs("?unqualifiable", x->out);
                        return;
                }
                put_escaped(x->out, q, strlen(q));
                free(q);
                return;
        }
        (void)t;
        put_escaped(x->out, row[c], len[c]);
}

static int dump_table(ctx_t *x, const otable_t *t)
{
        int child = x->side == ORC_CHILD;
        char src[1024], osrc[1024], sql[4096];
        char **own = NULL, **other = NULL, **cols = NULL;
        size_t nown = 0, nother = 0, ncols = 0;
        size_t *width = NULL;
        int *idx = NULL, *own_type = NULL, *other_type = NULL, *midnight = NULL, rc = -1;
        MYSQL_RES *res;
        MYSQL_ROW row;

        if (source_of(x->db, x->self_db, t->table, child, src, sizeof(src),
                      x->errstr, x->errstr_size) == -1)
                return -1;
        if (!src[0])
                return 0;
        if (source_columns(x->db, src, &own, &nown, &own_type, x->errstr,
                           x->errstr_size) == -1)
                return -1;
        if (x->other_db) {
                if (source_of(x->db, x->other_db, t->table, !child, osrc, sizeof(osrc),
                              x->errstr, x->errstr_size) == -1)
                        goto out;
                if (osrc[0] && source_columns(x->db, osrc, &other, &nother, &other_type,
                                              x->errstr, x->errstr_size) == -1)
                        goto out;
        }
        /* compared columns: own ∩ other's (if known), without id, in name order */
        cols = calloc(nown ? nown : 1, sizeof(char *));
        idx = calloc(nown ? nown : 1, sizeof(int));
        width = calloc(nown ? nown : 1, sizeof(size_t));
        midnight = calloc(nown ? nown : 1, sizeof(int));
        if (!cols || !idx || !width || !midnight)
                goto out;
        for (size_t i = 0; i < nown; i++)
                if (strcmp(own[i], "id") && (!other || has_name(other, nother, own[i])))
                        cols[ncols++] = own[i];
        qsort(cols, ncols, sizeof(char *), cmp_str);
        for (size_t k = 0; k < ncols; k++) {
                const ocol_t *r = rule_of(t, cols[k]);
                for (size_t i = 0; i < nown; i++)
                        if (own[i] == cols[k])
                                idx[k] = (int)i;
                /* A child DATE into a master DATETIME/TIMESTAMP: stored as
                 * that date at midnight (docs/FORMAT.md §10). */
                if (child && other)
                        for (size_t i = 0; i < nother; i++)
                                if (!strcmp(other[i], cols[k]) &&
                                    own_type[idx[k]] == MYSQL_TYPE_DATE &&
                                    (other_type[i] == MYSQL_TYPE_DATETIME ||
                                     other_type[i] == MYSQL_TYPE_TIMESTAMP))
                                        midnight[k] = 1;
                if (r && r->rule == R_QUAL)
                        width[k] = char_width(x->db, child && x->other_db ? x->other_db :
                                              x->self_db, t->table, cols[k]);
        }
        for (int pass = 0; pass < (x->side == ORC_MASTER_UNMAPPED ? 2 : 1); pass++) {
                if (child) {
                        int n = snprintf(sql, sizeof(sql), "SELECT * FROM %s", src);
                        const char *db_at = t->filter ? strstr(t->filter, "@DB@") : NULL;
                        if (db_at) /* the filter's own subquery, on this side */
                                n += snprintf(sql + n, sizeof(sql) - (size_t)n,
                                              " WHERE %.*s%s%s", (int)(db_at - t->filter),
                                              t->filter, x->self_db, db_at + 4);
                        else if (t->filter)
                                n += snprintf(sql + n, sizeof(sql) - (size_t)n,
                                              " WHERE %s", t->filter);
                        snprintf(sql + n, sizeof(sql) - (size_t)n, " ORDER BY id");
                } else if (pass == 0 && t->filter && !strstr(t->filter, "@DB@")) {
                        /* the same scope on the master's rows (ACLs on events) */
                        snprintf(sql, sizeof(sql), "SELECT t.*, m.child_entity_id FROM "
                                 "(SELECT * FROM %s WHERE %s) t JOIN "
                                 "`%s`.`mapping_master_%s` m ON m.entity_table = '%s' "
                                 "AND m.master_entity_id = t.id ORDER BY m.child_entity_id",
                                 src, t->filter, x->self_db, x->prefix, t->table);
                } else if (pass == 0) {
                        snprintf(sql, sizeof(sql), "SELECT t.*, m.child_entity_id FROM %s t "
                                 "JOIN `%s`.`mapping_master_%s` m ON m.entity_table = '%s' "
                                 "AND m.master_entity_id = t.id ORDER BY m.child_entity_id",
                                 src, x->self_db, x->prefix, t->table);
                } else {
                        snprintf(sql, sizeof(sql), "SELECT t.* FROM %s t LEFT JOIN "
                                 "`%s`.`mapping_master_%s` m ON m.entity_table = '%s' AND "
                                 "m.master_entity_id = t.id WHERE m.master_entity_id IS NULL "
                                 "ORDER BY t.id", src, x->self_db, x->prefix, t->table);
                }
                if (query(x->db, sql, &res, x->errstr, x->errstr_size) == -1)
                        goto out;
                while ((row = mysql_fetch_row(res))) {
                        unsigned long *len = mysql_fetch_lengths(res);
                        int id = -1;
                        for (size_t i = 0; i < nown; i++)
                                if (!strcmp(own[i], "id"))
                                        id = (int)i;
                        if (pass == 1)
                                fprintf(x->out, "U\t%s\t%s", t->table, id >= 0 ? row[id] : "?");
                        else
                                fprintf(x->out, "%s\t%s", t->table,
                                        child ? (id >= 0 ? row[id] : "?") : row[nown]);
                        for (size_t k = 0; k < ncols; k++) {
                                fprintf(x->out, "\t%s=", cols[k]);
                                if (pass == 1) {
                                        if (row[idx[k]])
                                                put_escaped(x->out, row[idx[k]], len[idx[k]]);
                                        else
                                                fputs("\\N", x->out);
                                        continue;
                                }
                                put_value(x, t, rule_of(t, cols[k]), row, len, idx[k],
                                          idx, cols, ncols, width[k]);
                                if (midnight[k] && row[idx[k]] && !rule_of(t, cols[k]))
                                        fputs(" 00:00:00", x->out);
                        }
                        fputc('\n', x->out);
                }
                mysql_free_result(res);
        }
        if (!child) {
                snprintf(sql, sizeof(sql), "SELECT m.child_entity_id FROM "
                         "`%s`.`mapping_master_%s` m LEFT JOIN %s t ON t.id = "
                         "m.master_entity_id WHERE m.entity_table = '%s' AND "
                         "t.id IS NULL ORDER BY m.child_entity_id", x->self_db,
                         x->prefix, src, t->table);
                if (query(x->db, sql, &res, x->errstr, x->errstr_size) == -1)
                        goto out;
                while ((row = mysql_fetch_row(res)))
                        fprintf(x->out, "%s\t%s\tORPHAN-MAPPING\n", t->table, row[0]);
                mysql_free_result(res);
        }
        rc = 0;
out:
        free(cols);
        free(idx);
        free(width);
        free(midnight);
        free(own_type);
        free(other_type);
        free_names(own, nown);
        free_names(other, nother);
        return rc;
}

int orc_dump(MYSQL *db, int side, const char *self_db, const char *other_db,
             const char *prefix, FILE *out, char *errstr, size_t errstr_size)
{
        rmap_t maps[TABLE_CNT];
        idset_t present[TABLE_CNT];
        ctx_t x = { db, present, side, self_db, other_db, prefix, out, maps, errstr,
                    errstr_size };
        int rc = 0;

        memset(maps, 0, sizeof(maps));
        memset(present, 0, sizeof(present));
        if (side != ORC_CHILD &&
            load_maps(db, self_db, prefix, maps, errstr, errstr_size) == -1)
                rc = -1;
        for (size_t i = 0; rc == 0 && i < TABLE_CNT; i++)
                rc = dump_table(&x, &tables[i]);
        for (size_t i = 0; i < TABLE_CNT; i++) {
                free(maps[i].rows);
                free(present[i].ids);
        }
        return rc;
}

/* ---- comparing --------------------------------------------------------- */

/* Splits buf in place into lines; returns a malloc'd array. */
static char **lines_of(char *buf, size_t *n)
{
        size_t cap = 64;
        char **v = malloc(cap * sizeof(char *)), *save = NULL, *l;

        *n = 0;
        for (l = strtok_r(buf, "\n", &save); l && v; l = strtok_r(NULL, "\n", &save)) {
                if (*n == cap) {
                        char **grown = realloc(v, (cap *= 2) * sizeof(char *));
                        if (!grown) {
                                free(v);
                                return NULL;
                        }
                        v = grown;
                }
                v[(*n)++] = l;
        }
        if (v)
                qsort(v, *n, sizeof(char *), cmp_str);
        return v;
}

static void report_line(char *report, size_t size, size_t *used, const char *who,
                        const char *line)
{
        int n;
        if (*used + 1 >= size)
                return;
        n = snprintf(report + *used, size - *used, "%s %.300s\n", who, line);
        if (n > 0)
                *used += (size_t)n < size - *used ? (size_t)n : size - *used - 1;
}

long orc_compare(MYSQL *db, const char *child_db, const char *master_db,
                 const char *prefix, long *rows, char *report,
                 size_t report_size, char *errstr, size_t errstr_size)
{
        char *cbuf = NULL, *mbuf = NULL, **cl = NULL, **ml = NULL;
        size_t clen = 0, mlen = 0, nc = 0, nm = 0, i = 0, j = 0, used = 0;
        FILE *cf = open_memstream(&cbuf, &clen), *mf = open_memstream(&mbuf, &mlen);
        long diffs = -1;

        if (report_size)
                report[0] = '\0';
        if (!cf || !mf) {
                snprintf(errstr, errstr_size, "oracle: open_memstream failed");
                goto out;
        }
        if (orc_dump(db, ORC_CHILD, child_db, master_db, prefix, cf, errstr,
                     errstr_size) == -1 ||
            orc_dump(db, ORC_MASTER, master_db, child_db, prefix, mf, errstr,
                     errstr_size) == -1)
                goto out;
        fclose(cf);
        fclose(mf);
        cf = mf = NULL;
        if (!(cl = lines_of(cbuf, &nc)) || !(ml = lines_of(mbuf, &nm))) {
                snprintf(errstr, errstr_size, "oracle: out of memory");
                goto out;
        }
        diffs = 0;
        while (i < nc || j < nm) {
                int c = i == nc ? 1 : j == nm ? -1 : strcmp(cl[i], ml[j]);
                if (c == 0) {
                        i++, j++;
                        continue;
                }
                diffs++;
                if (c < 0)
                        report_line(report, report_size, &used, "child: ", cl[i++]);
                else
                        report_line(report, report_size, &used, "master:", ml[j++]);
        }
        if (rows)
                *rows = (long)nc;
out:
        if (cf)
                fclose(cf);
        if (mf)
                fclose(mf);
        free(cl);
        free(ml);
        free(cbuf);
        free(mbuf);
        return diffs;
}
