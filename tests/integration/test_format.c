/* test_format.c — issue 3: every document of a complete sync validates against the JSON Schema and every synced row appears exactly once. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "registry.h"
#include "../unit/jsonschema.h"

#define SCHEMA_PATH "docs/civisync-document.schema.json"

/* One synced table: its entity, and the child's synced rows as the producer
 * must see them (an independent statement of the registry's exclusions). */
typedef struct {
        const char *entity;
        const char *table;
        const char *sql;       /* SELECT id[, activity_id, contact_id, record_type_id] ... ORDER BY id */
        int later;             /* 1: not in the phase-1 schema this test's child has;
                                  2: in it, but its generator leaves it empty (another
                                  suite covers it) */
} fmt_table_t;

#define NOTE_TARGETS "('civicrm_contact','civicrm_relationship','civicrm_note','civicrm_activity'," \
        "'civicrm_participant','civicrm_contribution')"
#define TAG_TARGETS "('civicrm_contact','civicrm_activity','civicrm_case','civicrm_file')"
#define FILE_TARGETS "('civicrm_contact','civicrm_activity','civicrm_note')"

static const fmt_table_t tables[] = {
        { "contact", "civicrm_contact", "SELECT id FROM civicrm_contact ORDER BY id", 0 },
        { "email", "civicrm_email", "SELECT id FROM civicrm_email WHERE contact_id IS NOT NULL ORDER BY id", 0 },
        { "phone", "civicrm_phone", "SELECT id FROM civicrm_phone WHERE contact_id IS NOT NULL ORDER BY id", 0 },
        { "address", "civicrm_address", "SELECT id FROM civicrm_address WHERE contact_id IS NOT NULL ORDER BY id", 0 },
        { "im", "civicrm_im", "SELECT id FROM civicrm_im WHERE contact_id IS NOT NULL ORDER BY id", 0 },
        { "website", "civicrm_website", "SELECT id FROM civicrm_website WHERE contact_id IS NOT NULL ORDER BY id", 0 },
        { "saved_search", "civicrm_saved_search", "SELECT id FROM civicrm_saved_search ORDER BY id", 0 },
        { "group", "civicrm_group", "SELECT id FROM civicrm_group ORDER BY id", 0 },
        { "group_nesting", "civicrm_group_nesting", "SELECT id FROM civicrm_group_nesting ORDER BY id", 0 },
        { "group_organization", "civicrm_group_organization", "SELECT id FROM civicrm_group_organization ORDER BY id", 0 },
        { "group_contact", "civicrm_group_contact", "SELECT id FROM civicrm_group_contact ORDER BY id", 0 },
        { "tag", "civicrm_tag", "SELECT id FROM civicrm_tag ORDER BY id", 0 },
        { "relationship", "civicrm_relationship", "SELECT id FROM civicrm_relationship ORDER BY id", 0 },
        { "activity", "civicrm_activity", "SELECT id FROM civicrm_activity ORDER BY id", 0 },
        { "activity_contact", "civicrm_activity_contact",
          "SELECT id, activity_id, contact_id, record_type_id FROM civicrm_activity_contact "
          "WHERE activity_id IS NOT NULL ORDER BY id", 0 },
        { "entity_tag", "civicrm_entity_tag",
          "SELECT id FROM civicrm_entity_tag WHERE entity_table IN " TAG_TARGETS " ORDER BY id", 0 },
        { "note", "civicrm_note",
          "SELECT id FROM civicrm_note WHERE entity_table IN " NOTE_TARGETS " ORDER BY id", 0 },
        /* Phase 2 (FORMAT.md §5): in the full schema only. */
        { "acl", "civicrm_acl", "SELECT id FROM civicrm_acl ORDER BY id", 1 },
        { "acl_entity_role", "civicrm_acl_entity_role",
          "SELECT id FROM civicrm_acl_entity_role ORDER BY id", 1 },
        { "uf_join", "civicrm_uf_join",
          "SELECT id FROM civicrm_uf_join WHERE entity_table IS NOT NULL ORDER BY id", 1 },
        /* Files (FORMAT.md §20): in the phase-1 schema and its generator. */
        { "file", "civicrm_file",
          "SELECT id FROM civicrm_file WHERE id IN (SELECT file_id FROM civicrm_entity_file "
          "WHERE entity_table IN " FILE_TARGETS " OR entity_table LIKE 'civicrm\\_value\\_%') "
          "ORDER BY id", 0 },
        { "entity_file", "civicrm_entity_file",
          "SELECT id FROM civicrm_entity_file WHERE entity_table IN " FILE_TARGETS " OR "
          "entity_table LIKE 'civicrm\\_value\\_%' ORDER BY id", 0 },
        /* Phase 3a (FORMAT.md §5): in the full schema only (suite contribute). */
        { "contribution_page", "civicrm_contribution_page", "SELECT id FROM civicrm_contribution_page ORDER BY id", 1 },
        { "contribution_widget", "civicrm_contribution_widget", "SELECT id FROM civicrm_contribution_widget ORDER BY id", 1 },
        { "product", "civicrm_product", "SELECT id FROM civicrm_product ORDER BY id", 1 },
        { "premiums", "civicrm_premiums", "SELECT id FROM civicrm_premiums ORDER BY id", 1 },
        { "premiums_product", "civicrm_premiums_product", "SELECT id FROM civicrm_premiums_product ORDER BY id", 1 },
        { "price_set", "civicrm_price_set", "SELECT id FROM civicrm_price_set ORDER BY id", 1 },
        { "price_field", "civicrm_price_field", "SELECT id FROM civicrm_price_field ORDER BY id", 1 },
        { "price_field_value", "civicrm_price_field_value", "SELECT id FROM civicrm_price_field_value ORDER BY id", 1 },
        { "price_set_entity", "civicrm_price_set_entity", "SELECT id FROM civicrm_price_set_entity ORDER BY id", 1 },
        { "pcp_block", "civicrm_pcp_block", "SELECT id FROM civicrm_pcp_block ORDER BY id", 1 },
        { "pcp", "civicrm_pcp", "SELECT id FROM civicrm_pcp ORDER BY id", 1 },
        { "contribution_recur", "civicrm_contribution_recur", "SELECT id FROM civicrm_contribution_recur ORDER BY id", 1 },
        { "contribution", "civicrm_contribution", "SELECT id FROM civicrm_contribution ORDER BY id", 1 },
        { "contribution_soft", "civicrm_contribution_soft", "SELECT id FROM civicrm_contribution_soft ORDER BY id", 1 },
        { "contribution_product", "civicrm_contribution_product", "SELECT id FROM civicrm_contribution_product ORDER BY id", 1 },
        { "financial_trxn", "civicrm_financial_trxn", "SELECT id FROM civicrm_financial_trxn ORDER BY id", 1 },
        { "line_item", "civicrm_line_item", "SELECT id FROM civicrm_line_item ORDER BY id", 1 },
        { "financial_item", "civicrm_financial_item", "SELECT id FROM civicrm_financial_item ORDER BY id", 1 },
        { "entity_financial_trxn", "civicrm_entity_financial_trxn", "SELECT id FROM civicrm_entity_financial_trxn ORDER BY id", 1 },
        { "pledge", "civicrm_pledge", "SELECT id FROM civicrm_pledge ORDER BY id", 1 },
        { "pledge_payment", "civicrm_pledge_payment", "SELECT id FROM civicrm_pledge_payment ORDER BY id", 1 },
        { "pledge_block", "civicrm_pledge_block", "SELECT id FROM civicrm_pledge_block ORDER BY id", 1 },
        /* Phase 3c (FORMAT.md §21): in the full schema only, campaign and case also in
         * the phase-1 schema, empty there (suite phase3c covers them). */
        { "campaign", "civicrm_campaign", "SELECT id FROM civicrm_campaign ORDER BY id", 2 },
        { "campaign_group", "civicrm_campaign_group", "SELECT id FROM civicrm_campaign_group ORDER BY id", 1 },
        { "survey", "civicrm_survey", "SELECT id FROM civicrm_survey ORDER BY id", 1 },
        { "grant", "civicrm_grant", "SELECT id FROM civicrm_grant ORDER BY id", 1 },
        { "case", "civicrm_case", "SELECT id FROM civicrm_case ORDER BY id", 2 },
        { "case_contact", "civicrm_case_contact", "SELECT id FROM civicrm_case_contact ORDER BY id", 1 },
        { "case_activity", "civicrm_case_activity", "SELECT id FROM civicrm_case_activity ORDER BY id", 1 },
        { "mailing", "civicrm_mailing", "SELECT id FROM civicrm_mailing ORDER BY id", 1 },
        { "mailing_group", "civicrm_mailing_group", "SELECT id FROM civicrm_mailing_group ORDER BY id", 1 },
        { "mailing_trackable_url", "civicrm_mailing_trackable_url", "SELECT id FROM civicrm_mailing_trackable_url ORDER BY id", 1 },
        { "mailing_abtest", "civicrm_mailing_abtest", "SELECT id FROM civicrm_mailing_abtest ORDER BY id", 1 },
        /* Event locations (issue #16): the contact-less rows, a second view
         * of four tables, and the blocks naming them (suite eventloc). */
        { "loc_address", "civicrm_address", "SELECT id FROM civicrm_address WHERE contact_id IS NULL ORDER BY id", 2 },
        { "loc_email", "civicrm_email", "SELECT id FROM civicrm_email WHERE contact_id IS NULL ORDER BY id", 2 }, /* the test adds one after the coverage check */
        { "loc_phone", "civicrm_phone", "SELECT id FROM civicrm_phone WHERE contact_id IS NULL ORDER BY id", 2 },
        { "loc_im", "civicrm_im", "SELECT id FROM civicrm_im WHERE contact_id IS NULL ORDER BY id", 2 },
        { "loc_block", "civicrm_loc_block", "SELECT id FROM civicrm_loc_block ORDER BY id", 2 },
        /* Phase 3b (FORMAT.md §5): in the full schema only (suite event). */
        { "event", "civicrm_event", "SELECT id FROM civicrm_event ORDER BY id", 1 },
        { "discount", "civicrm_discount", "SELECT id FROM civicrm_discount ORDER BY id", 1 },
        { "participant", "civicrm_participant", "SELECT id FROM civicrm_participant ORDER BY id", 1 },
        { "participant_payment", "civicrm_participant_payment", "SELECT id FROM civicrm_participant_payment ORDER BY id", 1 },
        { "membership", "civicrm_membership", "SELECT id FROM civicrm_membership ORDER BY id", 1 },
        { "membership_log", "civicrm_membership_log", "SELECT id FROM civicrm_membership_log ORDER BY id", 1 },
        { "membership_payment", "civicrm_membership_payment", "SELECT id FROM civicrm_membership_payment ORDER BY id", 1 },
        { "membership_block", "civicrm_membership_block", "SELECT id FROM civicrm_membership_block ORDER BY id", 1 },
        { "tell_friend", "civicrm_tell_friend", "SELECT id FROM civicrm_tell_friend ORDER BY id", 1 },
        { "recurring_entity", "civicrm_recurring_entity", "SELECT id FROM civicrm_recurring_entity ORDER BY id", 1 },
};
#define TABLE_CNT (sizeof(tables) / sizeof(tables[0]))

/* FORMAT.md §17: activity contacts of a 4.2-era child, synthesized. */
static const char legacy_activity_contact_sql[] =
        "SELECT id, activity_id, contact_id, record_type_id FROM ("
        " SELECT 4 * id + 1 AS id, activity_id, assignee_contact_id AS contact_id, 1 AS record_type_id"
        "   FROM civicrm_activity_assignment"
        " UNION ALL SELECT 4 * id + 2, id, source_contact_id, 2 FROM civicrm_activity"
        "   WHERE source_contact_id IS NOT NULL"
        " UNION ALL SELECT 4 * id + 3, activity_id, target_contact_id, 3"
        "   FROM civicrm_activity_target) x ORDER BY id";

/* A row seen in the output: child id, and for activity_contact the columns
 * activity_id, contact_id, record_type_id (0 elsewhere). */
typedef struct {
        long long v[4];
} fmt_row_t;

typedef struct {
        fmt_row_t *rows;
        size_t cnt, cap;
} fmt_rows_t;

/* Everything collected from one NDJSON file. */
typedef struct {
        fmt_rows_t seen[TABLE_CNT];
        long long end_count[TABLE_CNT]; /* summed over end documents */
        long long docs_validated;
        long long metadata_docs;        /* the metadata gate's documents */
        long long lines, resets, ends, generation;
        long long activity_source_contact_id; /* activity documents with that field */
        int partition_count;
} fmt_out_t;

static size_t table_index(const char *table)
{
        for (size_t i = 0; i < TABLE_CNT; i++)
                if (!strcmp(tables[i].table, table))
                        return i;
        ck_abort_msg("document for unknown table %s", table);
        return 0;
}

static size_t entity_index(const char *entity)
{
        for (size_t i = 0; i < TABLE_CNT; i++)
                if (!strcmp(tables[i].entity, entity))
                        return i;
        ck_abort_msg("unknown entity %s", entity);
        return 0;
}

static void rows_add(fmt_rows_t *r, const fmt_row_t *row)
{
        if (r->cnt == r->cap) {
                r->cap = r->cap ? 2 * r->cap : 256;
                r->rows = realloc(r->rows, r->cap * sizeof(*r->rows));
                ck_assert_ptr_nonnull(r->rows);
        }
        r->rows[r->cnt++] = *row;
}

static int row_cmp(const void *a, const void *b)
{
        const fmt_row_t *x = a, *y = b;
        for (int i = 0; i < 4; i++)
                if (x->v[i] != y->v[i])
                        return x->v[i] < y->v[i] ? -1 : 1;
        return 0;
}

/* The table list above is exactly the registry (no entity silently skipped). */
static void assert_tables_are_registry(void)
{
        size_t n;
        const cs_entity_t *ents = cs_reg_entities(&n);
        ck_assert_uint_eq(n, TABLE_CNT);
        for (size_t i = 0; i < n; i++) {
                size_t k = entity_index(ents[i].name);
                ck_assert_str_eq(tables[k].table, ents[i].table);
        }
}

static json_t *load_schema(void)
{
        json_error_t jerr;
        json_t *schema = json_load_file(SCHEMA_PATH, 0, &jerr);
        ck_assert_msg(schema != NULL, "%s:%d: %s", SCHEMA_PATH, jerr.line, jerr.text);
        return schema;
}

/* A schema that accepts exactly a nested document (same definitions). NEW ref. */
static json_t *nested_schema(const json_t *schema)
{
        json_t *s = json_pack("{s:s, s:O}", "$ref", "#/definitions/nestedDocument",
                              "definitions", json_object_get(schema, "definitions"));
        ck_assert_ptr_nonnull(s);
        return s;
}

static void validate(const json_t *schema, const json_t *doc, const char *what)
{
        char err[512];
        int rc = jsv_validate(schema, doc, err, sizeof(err));
        if (rc != 0) {
                char *s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
                ck_abort_msg("%s does not validate: %s\n%.600s", what, err, s ? s : "?");
        }
}

static long long int_field(const json_t *doc, const char *field)
{
        json_t *v = json_object_get(doc, field);
        ck_assert_msg(json_is_integer(v), "%s is not an integer", field);
        return json_integer_value(v);
}

/* Records one entity document (root or nested) of prefix. */
static void collect_entity(fmt_out_t *o, const char *prefix, const json_t *doc,
                           const char *id)
{
        const char *table = json_string_value(json_object_get(doc, "civisync_table"));
        const char *entity = json_string_value(json_object_get(doc, "civisync_entity"));
        char want_id[256];
        fmt_row_t row = { { 0, 0, 0, 0 } };
        size_t k;

        ck_assert_ptr_nonnull(table);
        ck_assert_ptr_nonnull(entity);
        k = entity_index(entity); /* a table may have two entities (loc_*) */
        ck_assert_str_eq(tables[k].table, table);
        ck_assert_str_eq(json_string_value(json_object_get(doc, "civisync_prefix")), prefix);
        row.v[0] = int_field(doc, "civisync_child_id");
        snprintf(want_id, sizeof(want_id), "%s/%s/%lld", prefix, table, row.v[0]);
        ck_assert_str_eq(id, want_id);
        if (!strcmp(entity, "activity_contact")) {
                row.v[1] = int_field(doc, "activity_id");
                row.v[2] = int_field(doc, "contact_id");
                row.v[3] = int_field(doc, "record_type_id");
        }
        if (!strcmp(entity, "activity") && json_object_get(doc, "source_contact_id"))
                o->activity_source_contact_id++;
        rows_add(&o->seen[k], &row);
}

/* Reads the NDJSON output of civisync-produce --output: validates every
 * value and every nested document, checks key == id, collects rows. */
static void read_output(const char *path, const char *prefix, fmt_out_t *o)
{
        json_t *schema = load_schema(), *nschema = nested_schema(schema);
        char control_id[128];
        FILE *fp = fopen(path, "r");
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;

        ck_assert_msg(fp != NULL, "open %s", path);
        memset(o, 0, sizeof(*o));
        o->partition_count = -1;
        snprintf(control_id, sizeof(control_id), "%s/civisync_control", prefix);
        while ((len = getline(&line, &cap, fp)) > 0) {
                json_error_t jerr;
                json_t *msg = json_loadb(line, (size_t)len, 0, &jerr);
                const char *key, *id, *entity;
                json_t *value, *kids;

                o->lines++;
                ck_assert_msg(msg != NULL, "line %lld: %s", o->lines, jerr.text);
                key = json_string_value(json_object_get(msg, "key"));
                value = json_object_get(msg, "value");
                ck_assert_msg(key != NULL, "line %lld: no key", o->lines);
                ck_assert_msg(json_is_integer(json_object_get(msg, "partition")),
                              "line %lld: no partition", o->lines);
                ck_assert_msg(json_is_object(value), "line %lld (%s): value is not a document",
                              o->lines, key);
                validate(schema, value, key);
                o->docs_validated++;
                id = json_string_value(json_object_get(value, "id"));
                ck_assert_msg(id && !strcmp(id, key), "line %lld: key %s != id %s",
                              o->lines, key, id ? id : "(none)");
                entity = json_string_value(json_object_get(value, "civisync_entity"));
                ck_assert_ptr_nonnull(entity);
                if (!strcmp(entity, "civisync_reset") || !strcmp(entity, "civisync_end")) {
                        long long gen = int_field(value, "civisync_generation");
                        int pc = (int)int_field(value, "civisync_partition_count");
                        ck_assert_str_eq(key, control_id);
                        ck_assert_int_eq(int_field(value, "civisync_partition"),
                                         int_field(msg, "partition"));
                        if (!o->generation)
                                o->generation = gen;
                        ck_assert_int_eq(gen, o->generation);
                        if (o->partition_count < 0)
                                o->partition_count = pc;
                        ck_assert_int_eq(pc, o->partition_count);
                        if (!strcmp(entity, "civisync_reset")) {
                                ck_assert_msg(o->ends == 0, "reset after an end document");
                                o->resets++;
                        } else {
                                const char *field;
                                json_t *v;
                                o->ends++;
                                json_object_foreach(value, field, v) {
                                        if (strncmp(field, "civisync_count_", 15))
                                                continue;
                                        o->end_count[entity_index(field + 15)] +=
                                                json_integer_value(v);
                                }
                        }
                        json_decref(msg);
                        continue;
                }
                if (!strcmp(entity, "civisync_metadata")) {
                        /* the metadata gate's fingerprint (FORMAT.md §7.1):
                         * before the data (the master creates the rows it
                         * lacks first), outside the frame */
                        ck_assert_msg(o->resets == 0 && o->ends == 0,
                                      "%s after the reset documents", key);
                        o->metadata_docs++;
                        json_decref(msg);
                        continue;
                }
                ck_assert_msg(o->resets > 0 && o->ends == 0,
                              "%s outside the reset/end frame", key);
                collect_entity(o, prefix, value, key);
                kids = json_object_get(value, "_childDocuments_");
                if (kids) {
                        size_t i;
                        json_t *kid;
                        const cs_entity_t *root = cs_reg_by_name(entity);
                        ck_assert_ptr_nonnull(root);
                        json_array_foreach(kids, i, kid) {
                                const char *kid_id = json_string_value(json_object_get(kid, "id"));
                                const cs_entity_t *ke = cs_reg_by_name(
                                        json_string_value(json_object_get(kid, "civisync_entity")));
                                ck_assert_ptr_nonnull(kid_id);
                                validate(nschema, kid, kid_id);
                                o->docs_validated++;
                                ck_assert_msg(ke && ke->parent && !strcmp(ke->parent, root->name),
                                              "%s nested in %s", kid_id, key);
                                ck_assert_int_eq(int_field(kid, ke->parent_column),
                                                 int_field(value, "civisync_child_id"));
                                collect_entity(o, prefix, kid, kid_id);
                        }
                }
                json_decref(msg);
        }
        free(line);
        fclose(fp);
        ck_assert_int_gt(o->partition_count, 0);
        ck_assert_int_eq(o->resets, o->partition_count);
        ck_assert_int_eq(o->ends, o->partition_count);
        ck_assert_int_gt(o->metadata_docs, 0);

        /* The validator is live: a wrong format version is rejected. */
        {
                json_t *bad = json_pack("{s:s, s:i, s:s, s:s, s:s, s:i, s:n}",
                                        "id", "P1/civicrm_contact/1", "civisync_format", 2,
                                        "civisync_prefix", "P1", "civisync_entity", "contact",
                                        "civisync_table", "civicrm_contact",
                                        "civisync_child_id", 1, "civisync_time_zone");
                char err[256];
                ck_assert_int_eq(jsv_validate(schema, bad, err, sizeof(err)), -1);
                json_object_set_new(bad, "civisync_format", json_integer(1));
                ck_assert_int_eq(jsv_validate(schema, bad, err, sizeof(err)), 0);
                json_decref(bad);
        }
        json_decref(nschema);
        json_decref(schema);
}

static int table_exists(MYSQL *db, const char *table)
{
        return (int)it_int(db, "SELECT COUNT(*) FROM information_schema.TABLES "
                           "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '%s'", table);
}

/* Rows the child must produce for table k, from sql. */
static void expected_rows(MYSQL *db, const char *sql, fmt_rows_t *out)
{
        MYSQL_RES *res;
        MYSQL_ROW r;

        memset(out, 0, sizeof(*out));
        ck_assert_msg(mysql_query(db, sql) == 0, "%s: %s", sql, mysql_error(db));
        res = mysql_store_result(db);
        ck_assert_ptr_nonnull(res);
        while ((r = mysql_fetch_row(res))) {
                fmt_row_t row = { { 0, 0, 0, 0 } };
                for (unsigned i = 0; i < mysql_num_fields(res) && i < 4; i++)
                        row.v[i] = r[i] ? strtoll(r[i], NULL, 10) : -1;
                rows_add(out, &row);
        }
        mysql_free_result(res);
}

/* Every synced row exactly once, nothing else; end counts match. Returns
 * the number of rows checked. */
static long long assert_rows(MYSQL *db, fmt_out_t *o, int legacy)
{
        long long checked = 0;

        for (size_t k = 0; k < TABLE_CNT; k++) {
                fmt_rows_t want;
                fmt_rows_t *have = &o->seen[k];
                const char *sql = tables[k].sql;

                if (legacy && !strcmp(tables[k].table, "civicrm_activity_contact"))
                        sql = legacy_activity_contact_sql;
                if ((!legacy && !tables[k].later) ||
                    !strcmp(sql, legacy_activity_contact_sql) ||
                    table_exists(db, tables[k].table))
                        expected_rows(db, sql, &want);
                else
                        memset(&want, 0, sizeof(want));
                if (have->cnt)
                        qsort(have->rows, have->cnt, sizeof(*have->rows), row_cmp);
                for (size_t i = 1; i < have->cnt; i++)
                        ck_assert_msg(have->rows[i].v[0] != have->rows[i - 1].v[0],
                                      "%s %lld appears more than once", tables[k].table,
                                      have->rows[i].v[0]);
                for (size_t i = 0; i < have->cnt && i < want.cnt; i++)
                        ck_assert_msg(row_cmp(&have->rows[i], &want.rows[i]) == 0,
                                      "%s: output row %lld (%lld,%lld,%lld) != child row %lld (%lld,%lld,%lld)",
                                      tables[k].table, have->rows[i].v[0], have->rows[i].v[1],
                                      have->rows[i].v[2], have->rows[i].v[3], want.rows[i].v[0],
                                      want.rows[i].v[1], want.rows[i].v[2], want.rows[i].v[3]);
                ck_assert_msg(have->cnt == want.cnt, "%s: %zu documents, child has %zu synced rows",
                              tables[k].table, have->cnt, want.cnt);
                ck_assert_msg(o->end_count[k] == (long long)have->cnt,
                              "civisync_count_%s = %lld, documents seen %zu", tables[k].entity,
                              o->end_count[k], have->cnt);
                checked += (long long)want.cnt;
                free(want.rows);
        }
        return checked;
}

static void free_out(fmt_out_t *o)
{
        for (size_t k = 0; k < TABLE_CNT; k++)
                free(o->seen[k].rows);
}

static void produce_file(const char *prefix, const char *db, const char *out)
{
        it_run_t r = it_run("civisync-produce", "-c", it_producer_conf(prefix, db, NULL),
                            "--complete", "--output", out, NULL);
        ck_assert_msg(r.exit_code == 0, "produce exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);
}

static void assert_nonempty(MYSQL *db, const char *what, const char *sql)
{
        long long n = it_int(db, "%s", sql);
        ck_assert_msg(n > 0, "fixture lost coverage: no %s (%s)", what, sql);
}

/* A realistic 5.x child covering every phase-1 table and the rows CiviCRM's
 * demo data leaves empty; every document validates, every synced row of
 * every phase-1 table appears exactly once, and the end counts agree. */
START_TEST(test_complete_output_validates_and_covers_every_row)
{
        char db[64], prefix[40], out[512];
        fmt_out_t o;
        MYSQL *c;
        long long checked;

        assert_tables_are_registry();
        it_unique(db, sizeof(db), "fmtchild");
        it_unique(prefix, sizeof(prefix), "fmt");
        it_make_db(db, "--schema 5 --child 9 --contacts 300");
        c = it_connect(db);

        /* The fixture covers what issue 3 lists; a generator change that
         * drops any of it fails here rather than silently. */
        for (size_t k = 0; k < TABLE_CNT; k++) {
                char sql[512];
                if (tables[k].later == 2) {
                        snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM (%s) x",
                                 tables[k].sql);
                        ck_assert_msg(table_exists(c, tables[k].table) &&
                                      it_int(c, "%s", sql) == 0, "%s: the phase-1 child "
                                      "has rows in it now: cover it", tables[k].table);
                        continue;
                }
                if (tables[k].later) {
                        ck_assert_msg(!table_exists(c, tables[k].table),
                                      "%s: the phase-1 child has it now: "
                                      "cover it", tables[k].table);
                        continue;
                }
                snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM (%s) x", tables[k].sql);
                assert_nonempty(c, tables[k].table, sql);
        }
        assert_nonempty(c, "group nesting", "SELECT COUNT(*) FROM civicrm_group_nesting");
        assert_nonempty(c, "group organization", "SELECT COUNT(*) FROM civicrm_group_organization");
        assert_nonempty(c, "saved searches", "SELECT COUNT(*) FROM civicrm_saved_search");
        assert_nonempty(c, "smart groups", "SELECT COUNT(*) FROM civicrm_group g JOIN "
                        "civicrm_saved_search s ON s.id = g.saved_search_id");
        assert_nonempty(c, "IMs", "SELECT COUNT(*) FROM civicrm_im WHERE contact_id IS NOT NULL");
        assert_nonempty(c, "trashed contacts", "SELECT COUNT(*) FROM civicrm_contact WHERE is_deleted = 1");
        assert_nonempty(c, "tag hierarchy", "SELECT COUNT(*) FROM civicrm_tag t JOIN civicrm_tag p "
                        "ON p.id = t.parent_id");
        assert_nonempty(c, "removed group memberships",
                        "SELECT COUNT(*) FROM civicrm_group_contact WHERE status = 'Removed'");
        assert_nonempty(c, "notes on notes", "SELECT COUNT(*) FROM civicrm_note n JOIN civicrm_note p "
                        "ON p.id = n.entity_id WHERE n.entity_table = 'civicrm_note'");
        assert_nonempty(c, "shared addresses", "SELECT COUNT(*) FROM civicrm_address a JOIN "
                        "civicrm_address m ON m.id = a.master_id");
        assert_nonempty(c, "notes on relationships",
                        "SELECT COUNT(*) FROM civicrm_note WHERE entity_table = 'civicrm_relationship'");
        assert_nonempty(c, "group parents/children lists",
                        "SELECT COUNT(*) FROM civicrm_group WHERE parents IS NOT NULL");

        /* A location-block email (entity loc_email, not the contact's), and
         * rows the producer must leave out (a note and an entity tag on
         * phase-2 tables), so the views and exclusions are exercised. */
        it_exec(c, "INSERT INTO civicrm_email (contact_id, location_type_id, email) "
                "VALUES (NULL, 1, 'locblock@example.org')");
        it_exec(c, "INSERT INTO civicrm_note (entity_table, entity_id, note, contact_id) "
                "VALUES ('civicrm_participant', 7, 'not phase 1', NULL)");
        it_exec(c, "INSERT INTO civicrm_entity_tag (entity_table, entity_id, tag_id) "
                "VALUES ('civicrm_file', 7, (SELECT MIN(id) FROM civicrm_tag))");

        snprintf(out, sizeof(out), "%s/%s.ndjson", it_tmpdir(), prefix);
        produce_file(prefix, db, out);
        read_output(out, prefix, &o);
        checked = assert_rows(c, &o, 0);
        ck_assert_int_gt(checked, 1000);
        fprintf(stderr, "format: 5.x child %s: %lld lines, %lld documents validated, "
                "%lld rows checked (partitions %d)\n", db, o.lines, o.docs_validated,
                checked, o.partition_count);
        for (size_t k = 0; k < TABLE_CNT; k++)
                fprintf(stderr, "format:   %-28s %zu\n", tables[k].table, o.seen[k].cnt);
        free_out(&o);
        mysql_close(c);
}
END_TEST

/* A 4.2-era child: every document validates, and its activity people are
 * synthesized as activity_contact rows with record types 1/2/3 and ids
 * 4 x source id + record type (§17). */
START_TEST(test_legacy_child_synthesizes_activity_contacts)
{
        char db[64], prefix[40], out[512];
        fmt_out_t o;
        MYSQL *c;
        long long checked, by_type[4] = { 0, 0, 0, 0 };
        size_t ac;

        it_unique(db, sizeof(db), "fmtlegacy");
        it_unique(prefix, sizeof(prefix), "fmtl");
        it_make_db(db, "--schema 4.2 --child 1");
        c = it_connect(db);
        ck_assert_int_eq(table_exists(c, "civicrm_activity_contact"), 0);
        assert_nonempty(c, "activity assignments", "SELECT COUNT(*) FROM civicrm_activity_assignment");
        assert_nonempty(c, "activity targets", "SELECT COUNT(*) FROM civicrm_activity_target");
        assert_nonempty(c, "activity sources",
                        "SELECT COUNT(*) FROM civicrm_activity WHERE source_contact_id IS NOT NULL");

        snprintf(out, sizeof(out), "%s/%s.ndjson", it_tmpdir(), prefix);
        produce_file(prefix, db, out);
        read_output(out, prefix, &o);
        checked = assert_rows(c, &o, 1);

        ac = table_index("civicrm_activity_contact");
        for (size_t i = 0; i < o.seen[ac].cnt; i++) {
                const fmt_row_t *r = &o.seen[ac].rows[i];
                ck_assert_msg(r->v[3] >= 1 && r->v[3] <= 3, "record type %lld", r->v[3]);
                ck_assert_int_eq(r->v[0] % 4, r->v[3]);
                by_type[r->v[3]]++;
        }
        ck_assert_int_eq(by_type[1], it_int(c, "SELECT COUNT(*) FROM civicrm_activity_assignment"));
        ck_assert_int_eq(by_type[2], it_int(c, "SELECT COUNT(*) FROM civicrm_activity "
                                            "WHERE source_contact_id IS NOT NULL"));
        ck_assert_int_eq(by_type[3], it_int(c, "SELECT COUNT(*) FROM civicrm_activity_target"));
        ck_assert_int_eq(o.seen[table_index("civicrm_activity")].cnt,
                         it_int(c, "SELECT COUNT(*) FROM civicrm_activity"));
        /* The activity document leaves source_contact_id out: it travels as
         * the record type 2 row. */
        ck_assert_int_eq(o.activity_source_contact_id, 0);
        fprintf(stderr, "format: 4.2 child %s: %lld lines, %lld documents validated, "
                "%lld rows checked; activity_contact assignees %lld, sources %lld, targets %lld\n",
                db, o.lines, o.docs_validated, checked, by_type[1], by_type[2], by_type[3]);
        free_out(&o);
        mysql_close(c);
}
END_TEST

Suite *format_suite(void)
{
        Suite *s = suite_create("format");
        TCase *tc = tcase_create("issue3");

        tcase_set_timeout(tc, 600);
        tcase_add_test(tc, test_complete_output_validates_and_covers_every_row);
        tcase_add_test(tc, test_legacy_child_synthesizes_activity_contacts);
        suite_add_tcase(s, tc);
        return s;
}
