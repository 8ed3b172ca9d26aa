/* test_custom.c — custom data (civicrm_value_*): discovered at run time, nested in the entity they extend, created on the master from its metadata, dead-lettered when the master's metadata does not name them. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo_site.h"
#include "harness.h"
#include "kafka_util.h"

#define CONSTITUENT "civicrm_value_constituent_information_1"

static void produce(const char *conf, int complete, const char *want_in_log)
{
        it_run_t r = complete ?
                it_run("civisync-produce", "-c", conf, "--complete", NULL) :
                it_run("civisync-produce", "-c", conf, NULL);
        ck_assert_msg(r.exit_code == 0, "produce exit %d: %s", r.exit_code, r.err);
        ck_assert_msg(!want_in_log || strstr(r.err, want_in_log),
                      "produce log lacks '%s': %s", want_in_log, r.err);
        it_run_free(&r);
}

static void consume(const char *conf)
{
        it_run_t r = it_run("civisync-consume", "-c", conf, "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "consume exit %d: %s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "rejected to") == NULL, "rejections: %s", r.err);
        ck_assert_msg(strstr(r.err, "parked") == NULL ||
                      strstr(r.err, "0 parked") != NULL, "parked rows: %s", r.err);
        it_run_free(&r);
}

/* verify finds 0 differences and compared the custom value table `table`
 * with `rows` child rows. */
static void verify_clean(const char *pconf, const char *cconf,
                         const char *prefix, const char *table, long long rows)
{
        char want[160];
        it_run_t r = it_run("civisync-verify", "--child-config", pconf,
                            "--master-config", cconf, "--no-metadata", NULL);

        snprintf(want, sizeof(want), "verify %s: 0 differences", prefix);
        if (r.exit_code != 0 || !strstr(r.out, want))
                fprintf(stderr, "%s\n%.2000s\n", r.out, r.err);
        ck_assert_msg(r.exit_code == 0 && strstr(r.out, want) != NULL,
                      "verify exit %d (output above)", r.exit_code);
        r.exit_code = 0;
        it_run_free(&r);
        r = it_run("civisync-verify", "--child-config", pconf, "--master-config",
                   cconf, "--no-metadata", "--entity", table, NULL);
        snprintf(want, sizeof(want), "%lld child rows", rows);
        ck_assert_msg(r.exit_code == 0 && strstr(r.out, table) &&
                      strstr(r.out, want), "verify --entity %s (want '%s')\n%s\n%s",
                      table, want, r.out, r.err);
        it_run_free(&r);
}

static long long master_id(MYSQL *m, const char *prefix, const char *table,
                           long long child_id)
{
        return it_int(m, "SELECT COALESCE(MAX(master_entity_id), 0) FROM "
                      "mapping_master_%s WHERE entity_table = '%s' AND "
                      "child_entity_id = %lld", prefix, table, child_id);
}

/* The demo site's custom groups, fields and their option groups copied to
 * the master with the same ids (what the metadata sync does); the value
 * tables are not: the consumer creates them. */
static void copy_custom_metadata(MYSQL *m, const char *child)
{
        it_exec(m, "INSERT IGNORE INTO civicrm_option_group SELECT * FROM "
                "`%s`.civicrm_option_group WHERE id IN (SELECT option_group_id "
                "FROM `%s`.civicrm_custom_field)", child, child);
        it_exec(m, "INSERT IGNORE INTO civicrm_option_value SELECT * FROM "
                "`%s`.civicrm_option_value WHERE option_group_id IN (SELECT "
                "option_group_id FROM `%s`.civicrm_custom_field)", child, child);
        it_exec(m, "INSERT INTO civicrm_custom_group SELECT * FROM "
                "`%s`.civicrm_custom_group", child);
        it_exec(m, "INSERT INTO civicrm_custom_field SELECT * FROM "
                "`%s`.civicrm_custom_field", child);
}

/* The demo-site pair (demo_site.h), the contributions' metadata and the
 * custom metadata on the master, 40 contacts with constituent values. */
static void setup(it_demo_t *s, const char *tag)
{
        it_demo_setup(s, tag, 1, IT_DEMO_CONTRIBUTE_META);
        copy_custom_metadata(s->m, s->child);
        /* The demo site defines the group but stores no values in it. */
        ck_assert_int_eq(it_int(s->c, "SELECT COUNT(*) FROM " CONSTITUENT), 0);
        it_exec(s->c, "INSERT INTO " CONSTITUENT " (entity_id, "
                "most_important_issue_1, marital_status_2, marriage_date_3) "
                "SELECT id, ELT(1 + id %% 3, 'Education', 'Environment', NULL), "
                "IF(id %% 2, 'Married', NULL), IF(id %% 2, '1999-12-31 "
                "23:59:59', NULL) FROM civicrm_contact WHERE contact_type = "
                "'Individual' ORDER BY id LIMIT 40");
}


/* Every child row of a custom value table has its master row, entity_id
 * translated, the other columns equal. */
static void assert_values(it_demo_t *s, const char *table, const char *cols)
{
        long long child_rows = it_int(s->c, "SELECT COUNT(*) FROM %s", table);
        long long same = it_int(s->m,
                "SELECT COUNT(*) FROM `%s`.%s c JOIN mapping_master_%s me ON "
                "me.entity_table = 'civicrm_contact' AND me.child_entity_id = "
                "c.entity_id JOIN mapping_master_%s mv ON mv.entity_table = '%s' "
                "AND mv.child_entity_id = c.id JOIN %s m ON m.id = "
                "mv.master_entity_id AND m.entity_id = me.master_entity_id AND "
                "(%s)", s->child, table, s->prefix, s->prefix, table, table, cols);

        ck_assert_int_gt(child_rows, 0);
        ck_assert_msg(same == child_rows, "%s: %lld of %lld child rows on the "
                      "master with equal values", table, same, child_rows);
        ck_assert_int_eq(it_int(s->m, "SELECT COUNT(*) FROM %s", table),
                         child_rows);
}

#define CONSTITUENT_EQ "m.most_important_issue_1 <=> c.most_important_issue_1 AND " \
        "m.marital_status_2 <=> c.marital_status_2 AND " \
        "m.marriage_date_3 <=> c.marriage_date_3"

/* The demo site into an empty site whose custom metadata was copied:
 * the master's value table is created from its metadata, every value
 * arrives nested in its contact (the groups extending contributions and
 * participants nest in theirs); then a created, an edited and
 * a deleted value (no contact timestamp moves) reach the master, and a
 * hard-deleted owner takes its value and the value's mapping with it. */
START_TEST(test_custom_demo_site)
{
        it_demo_t s;
        long long a, b, d, rows;

        setup(&s, "cu");
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM information_schema."
                                "TABLES WHERE TABLE_SCHEMA = DATABASE() AND "
                                "TABLE_NAME = '" CONSTITUENT "'"), 0);
        /* (the group extending participants is synced since phase 3b,
         * nested in participants) */
        produce(s.pconf, 1, NULL);
        consume(s.cconf);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM information_schema."
                                "COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND "
                                "TABLE_NAME = '" CONSTITUENT "' AND COLUMN_NAME "
                                "IN ('most_important_issue_1', 'marital_status_2', "
                                "'marriage_date_3')"), 3);
        assert_values(&s, CONSTITUENT, CONSTITUENT_EQ);
        it_assert_synced(s.c, s.m, s.prefix);
        rows = it_int(s.c, "SELECT COUNT(*) FROM " CONSTITUENT);
        verify_clean(s.pconf, s.cconf, s.prefix, CONSTITUENT, rows);

        /* Created (a contact without a value row), edited, deleted. */
        a = it_int(s.c, "SELECT MIN(id) FROM civicrm_contact WHERE contact_type "
                   "= 'Individual' AND id NOT IN (SELECT entity_id FROM "
                   CONSTITUENT ")");
        b = it_int(s.c, "SELECT MIN(entity_id) FROM " CONSTITUENT);
        d = it_int(s.c, "SELECT MAX(entity_id) FROM " CONSTITUENT);
        ck_assert_int_gt(a, 0);
        ck_assert_int_ne(b, d);
        it_exec(s.c, "INSERT INTO " CONSTITUENT " (entity_id, "
                "most_important_issue_1, marriage_date_3) VALUES (%lld, 'Created "
                "value', '2001-02-03 04:05:06')", a);
        it_exec(s.c, "UPDATE " CONSTITUENT " SET marital_status_2 = 'Edited "
                "value' WHERE entity_id = %lld", b);
        it_exec(s.c, "DELETE FROM " CONSTITUENT " WHERE entity_id = %lld", d);
        produce(s.pconf, 0, NULL);
        consume(s.cconf);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM " CONSTITUENT " WHERE "
                                "entity_id = %lld AND most_important_issue_1 = "
                                "'Created value' AND marriage_date_3 = "
                                "'2001-02-03 04:05:06'",
                                master_id(s.m, s.prefix, "civicrm_contact", a)), 1);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM " CONSTITUENT " WHERE "
                                "entity_id = %lld AND marital_status_2 = 'Edited "
                                "value'", master_id(s.m, s.prefix,
                                                    "civicrm_contact", b)), 1);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM " CONSTITUENT " WHERE "
                                "entity_id = %lld", master_id(s.m, s.prefix,
                                                     "civicrm_contact", d)), 0);
        assert_values(&s, CONSTITUENT, CONSTITUENT_EQ);
        verify_clean(s.pconf, s.cconf, s.prefix, CONSTITUENT, rows);

        /* The owner hard-deleted: its value goes with it (the master's
         * foreign key cascades) and so does the value's mapping row. */
        {
                long long bm = master_id(s.m, s.prefix, "civicrm_contact", b);
                long long vid = it_int(s.c, "SELECT id FROM " CONSTITUENT
                                       " WHERE entity_id = %lld", b);
                ck_assert_int_gt(master_id(s.m, s.prefix, CONSTITUENT, vid), 0);
                it_exec(s.c, "DELETE n FROM civicrm_note n JOIN civicrm_relationship r "
                        "ON n.entity_table = 'civicrm_relationship' AND n.entity_id "
                        "= r.id WHERE %lld IN (r.contact_id_a, r.contact_id_b)", b);
                it_exec(s.c, "DELETE FROM civicrm_note WHERE entity_table = "
                        "'civicrm_contact' AND entity_id = %lld", b);
                it_exec(s.c, "DELETE FROM civicrm_entity_tag WHERE entity_table = "
                        "'civicrm_contact' AND entity_id = %lld", b);
                /* Its contributions' ledger rows, as CiviCRM removes them
                 * (phase 3a syncs them; no foreign key does it). */
                it_exec(s.c, "DELETE e FROM civicrm_entity_financial_trxn e JOIN "
                        "civicrm_financial_item f ON e.entity_table = "
                        "'civicrm_financial_item' AND e.entity_id = f.id JOIN "
                        "civicrm_line_item l ON f.entity_table = 'civicrm_line_item' "
                        "AND f.entity_id = l.id JOIN civicrm_contribution c ON "
                        "l.entity_table = 'civicrm_contribution' AND l.entity_id = "
                        "c.id WHERE c.contact_id = %lld", b);
                it_exec(s.c, "DELETE f FROM civicrm_financial_item f JOIN "
                        "civicrm_line_item l ON f.entity_table = 'civicrm_line_item' "
                        "AND f.entity_id = l.id JOIN civicrm_contribution c ON "
                        "l.contribution_id = c.id WHERE c.contact_id = %lld", b);
                it_exec(s.c, "DELETE l FROM civicrm_line_item l JOIN civicrm_contribution "
                        "c ON l.contribution_id = c.id WHERE c.contact_id = %lld", b);
                it_exec(s.c, "DELETE t, e FROM civicrm_entity_financial_trxn e JOIN "
                        "civicrm_contribution c ON e.entity_table = "
                        "'civicrm_contribution' AND e.entity_id = c.id LEFT JOIN "
                        "civicrm_financial_trxn t ON t.id = e.financial_trxn_id WHERE "
                        "c.contact_id = %lld", b);
                it_exec(s.c, "DELETE FROM civicrm_contact WHERE id = %lld", b);
                produce(s.pconf, 0, NULL);
                consume(s.cconf);
                ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM " CONSTITUENT
                                        " WHERE entity_id = %lld", bm), 0);
                ck_assert_int_eq(master_id(s.m, s.prefix, CONSTITUENT, vid), 0);
                verify_clean(s.pconf, s.cconf, s.prefix, CONSTITUENT, rows - 1);
        }
        it_demo_teardown(&s);
}
END_TEST

/* A contact document (the root's envelope and contact_type only) nesting
 * one custom value document of table with one extra column; NEW. */
static char *contact_with_value(const char *prefix, long long contact,
                                const char *table, const char *column,
                                const char *value)
{
        char key[160], kid_key[160];
        json_t *doc, *kid;
        char *out;

        snprintf(key, sizeof(key), "%s/civicrm_contact/%lld", prefix, contact);
        snprintf(kid_key, sizeof(kid_key), "%s/%s/%lld", prefix, table, 99000 + contact);
        kid = json_pack("{s:s, s:i, s:s, s:s, s:s, s:I, s:n, s:I, s:s}", "id",
                        kid_key, "civisync_format", 1, "civisync_prefix", prefix,
                        "civisync_entity", table, "civisync_table", table,
                        "civisync_child_id", (json_int_t)(99000 + contact),
                        "civisync_time_zone", "entity_id", (json_int_t)contact,
                        column, value);
        doc = json_pack("{s:s, s:i, s:s, s:s, s:s, s:I, s:n, s:s, s:[o]}", "id",
                        key, "civisync_format", 1, "civisync_prefix", prefix,
                        "civisync_entity", "contact", "civisync_table",
                        "civicrm_contact", "civisync_child_id", (json_int_t)contact,
                        "civisync_time_zone", "contact_type", "Individual",
                        "_childDocuments_", kid);
        ck_assert_ptr_nonnull(doc);
        out = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(doc);
        return out;
}

static void send_doc(const it_demo_t *s, char *value)
{
        json_t *doc = json_loads(value, 0, NULL);
        ku_send_str(s->topic, 0, json_string_value(json_object_get(doc, "id")),
                    value);
        json_decref(doc);
        free(value);
}

/* A new multi-record group (with a ContactReference field), a new group
 * extending relationships and a new field of an existing group, on the
 * child and in the master's metadata: the
 * consumer creates the table and adds the column from the master's
 * metadata; several rows per contact arrive, contact references
 * translated. Then documents naming a table, or a column, that the
 * master's metadata does not have are dead-lettered with the reason. */
START_TEST(test_custom_new_group_field_deadletter)
{
        it_demo_t s;
        long long x, y, z, rel, file, rows, dead;
        char *v;

        setup(&s, "cn");
        produce(s.pconf, 1, NULL);
        consume(s.cconf);
        x = it_int(s.c, "SELECT MIN(entity_id) FROM " CONSTITUENT);
        y = it_int(s.c, "SELECT MAX(id) FROM civicrm_contact WHERE contact_type "
                   "= 'Individual'");
        z = it_int(s.c, "SELECT MIN(id) FROM civicrm_contact WHERE contact_type "
                   "= 'Individual' AND id > %lld", x);

        /* What CiviCRM does on the child, and metadata sync on the master. */
        const char *meta[] = {
                "INSERT INTO civicrm_custom_group (id, name, title, extends, "
                "table_name, is_multiple, is_active, style) VALUES (10, 'Visits', "
                "'Visits', 'Individual', 'civicrm_value_visits_10', 1, 1, 'Tab')",
                "INSERT INTO civicrm_custom_field (id, custom_group_id, name, label, "
                "data_type, html_type, text_length, column_name, is_active) VALUES "
                "(20, 10, 'note', 'Note', 'String', 'Text', 128, 'visit_note_20', 1), "
                "(21, 10, 'by', 'By', 'ContactReference', 'Autocomplete-Select', "
                "NULL, 'visited_by_21', 1), (22, 10, 'when', 'When', 'Date', "
                "'Select Date', NULL, 'visit_date_22', 1), (23, 10, 'paid', 'Paid', "
                "'Money', 'Text', NULL, 'paid_23', 1), (25, 10, 'att', 'Attachment', "
                "'File', 'File', NULL, 'attachment_25', 1)",
                "INSERT INTO civicrm_custom_field (id, custom_group_id, name, label, "
                "data_type, html_type, column_name, is_active) VALUES (30, 1, "
                "'score', 'Score', 'Int', 'Text', 'score_30', 1)",
                /* A root that had no nested rows before. */
                "INSERT INTO civicrm_custom_group (id, name, title, extends, "
                "table_name, is_multiple, is_active, style) VALUES (11, 'Bond', "
                "'Bond', 'Relationship', 'civicrm_value_bond_11', 0, 1, 'Inline')",
                "INSERT INTO civicrm_custom_field (id, custom_group_id, name, label, "
                "data_type, html_type, column_name, is_active) VALUES (24, 11, "
                "'since', 'Since', 'Date', 'Select Date', 'since_24', 1)",
                NULL
        };
        for (int i = 0; meta[i]; i++) {
                it_exec(s.c, "%s", meta[i]);
                it_exec(s.m, "%s", meta[i]);
        }
        it_exec(s.c, "CREATE TABLE civicrm_value_visits_10 (id int unsigned NOT "
                "NULL AUTO_INCREMENT PRIMARY KEY, entity_id int unsigned NOT NULL, "
                "visit_note_20 varchar(128) DEFAULT NULL, visited_by_21 int unsigned "
                "DEFAULT NULL, visit_date_22 datetime DEFAULT NULL, paid_23 "
                "decimal(20,2) DEFAULT NULL, attachment_25 int unsigned DEFAULT "
                "NULL, KEY (entity_id), FOREIGN KEY "
                "(entity_id) REFERENCES civicrm_contact (id) ON DELETE CASCADE, "
                "FOREIGN KEY (visited_by_21) REFERENCES civicrm_contact (id) ON "
                "DELETE SET NULL)");
        it_exec(s.c, "ALTER TABLE " CONSTITUENT " ADD COLUMN score_30 int DEFAULT NULL");
        it_exec(s.c, "CREATE TABLE civicrm_value_bond_11 (id int unsigned NOT NULL "
                "AUTO_INCREMENT PRIMARY KEY, entity_id int unsigned NOT NULL UNIQUE, "
                "since_24 datetime DEFAULT NULL, FOREIGN KEY (entity_id) REFERENCES "
                "civicrm_relationship (id) ON DELETE CASCADE)");
        rel = it_int(s.c, "SELECT MIN(id) FROM civicrm_relationship");
        it_exec(s.c, "INSERT INTO civicrm_value_bond_11 (entity_id, since_24) VALUES "
                "(%lld, '2010-10-10 10:10:10')", rel);
        it_exec(s.c, "INSERT INTO civicrm_value_visits_10 (entity_id, visit_note_20, "
                "visited_by_21, visit_date_22, paid_23) VALUES (%lld, 'first', %lld, "
                "'2020-01-02 03:04:05', 12.50), (%lld, 'second', NULL, NULL, NULL), "
                "(%lld, 'other', %lld, NULL, 7.00)", x, y, x, z, x);
        it_exec(s.c, "UPDATE " CONSTITUENT " SET score_30 = 42 WHERE entity_id = %lld", x);
        /* A File field holds a civicrm_file id: translated once civicrm_file
         * is a synced entity, cleared (NULL) until then; never the child's
         * id verbatim. */
        it_exec(s.c, "INSERT INTO civicrm_file (mime_type, uri) VALUES "
                "('text/plain', 'visit_report.txt')");
        file = it_int(s.c, "SELECT MAX(id) FROM civicrm_file");
        it_exec(s.c, "UPDATE civicrm_value_visits_10 SET attachment_25 = %lld "
                "WHERE visit_note_20 = 'first'", file);
        /* As CiviCRM links a File field's file (FORMAT.md §20): entity_table
         * the value table, entity_id the contact it extends. */
        it_exec(s.c, "INSERT INTO civicrm_entity_file (entity_table, entity_id, file_id) "
                "VALUES ('civicrm_value_visits_10', %lld, %lld)", x, file);
        produce(s.pconf, 0, NULL);
        consume(s.cconf);

        /* Created and altered from the metadata: types by FORMAT.md §19. */
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM information_schema.COLUMNS "
                                "WHERE TABLE_SCHEMA = DATABASE() AND ((TABLE_NAME = "
                                "'civicrm_value_visits_10' AND ((COLUMN_NAME = "
                                "'visit_note_20' AND COLUMN_TYPE = 'varchar(128)') OR "
                                "(COLUMN_NAME = 'visited_by_21' AND COLUMN_TYPE = "
                                "'int(10) unsigned') OR (COLUMN_NAME = 'visit_date_22' "
                                "AND DATA_TYPE = 'datetime') OR (COLUMN_NAME = "
                                "'paid_23' AND COLUMN_TYPE = 'decimal(20,2)') OR "
                                "(COLUMN_NAME = 'attachment_25' AND COLUMN_TYPE = "
                                "'int(10) unsigned'))) OR "
                                "(TABLE_NAME = '" CONSTITUENT "' AND COLUMN_NAME = "
                                "'score_30' AND DATA_TYPE = 'int'))"), 6);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_value_visits_10 "
                                "WHERE entity_id = %lld",
                                master_id(s.m, s.prefix, "civicrm_contact", x)), 2);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_value_visits_10 "
                                "WHERE visit_note_20 = 'first' AND visited_by_21 = "
                                "%lld AND paid_23 = 12.50 AND visit_date_22 = "
                                "'2020-01-02 03:04:05'",
                                master_id(s.m, s.prefix, "civicrm_contact", y)), 1);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_value_visits_10 "
                                "WHERE visit_note_20 = 'first' AND attachment_25 <=> "
                                "(SELECT MAX(master_entity_id) FROM mapping_master_%s "
                                "WHERE entity_table = 'civicrm_file' AND "
                                "child_entity_id = %lld)", s.prefix, file), 1);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_value_visits_10 "
                                "WHERE entity_id = %lld AND visited_by_21 = %lld",
                                master_id(s.m, s.prefix, "civicrm_contact", z),
                                master_id(s.m, s.prefix, "civicrm_contact", x)), 1);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_value_bond_11 "
                                "WHERE entity_id = %lld AND since_24 = '2010-10-10 "
                                "10:10:10'", master_id(s.m, s.prefix,
                                "civicrm_relationship", rel)), 1);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_value_bond_11"), 1);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM " CONSTITUENT " WHERE "
                                "entity_id = %lld AND score_30 = 42",
                                master_id(s.m, s.prefix, "civicrm_contact", x)), 1);
        /* One of x's two visits deleted on the child: only it goes. */
        it_exec(s.c, "DELETE FROM civicrm_value_visits_10 WHERE visit_note_20 = 'second'");
        produce(s.pconf, 0, NULL);
        consume(s.cconf);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_value_visits_10"), 2);
        verify_clean(s.pconf, s.cconf, s.prefix, "civicrm_value_visits_10", 2);
        verify_clean(s.pconf, s.cconf, s.prefix, "civicrm_value_bond_11", 1);
        rows = it_int(s.c, "SELECT COUNT(*) FROM " CONSTITUENT);
        verify_clean(s.pconf, s.cconf, s.prefix, CONSTITUENT, rows);

        /* Names the master's metadata does not have: a table, a column
         * absent from the table, a column of the table that no custom field
         * names (added behind CiviCRM's back). */
        it_exec(s.m, "ALTER TABLE " CONSTITUENT " ADD COLUMN sneaky_9 varchar(20)");
        dead = it_int(s.m, "SELECT COUNT(*) FROM civisync_dead_letter");
        v = contact_with_value(s.prefix, x, "civicrm_value_nowhere_99", "nope_9", "a");
        send_doc(&s, v);
        v = contact_with_value(s.prefix, x, CONSTITUENT, "bogus_9", "b");
        send_doc(&s, v);
        v = contact_with_value(s.prefix, x, CONSTITUENT, "sneaky_9", "c");
        send_doc(&s, v);
        ku_flush();
        {
                it_run_t r = it_run("civisync-consume", "-c", s.cconf, "--once", NULL);
                ck_assert_msg(strstr(r.err, "civicrm_value_nowhere_99") &&
                              strstr(r.err, "bogus_9") && strstr(r.err, "sneaky_9"),
                              "consume exit %d: %s", r.exit_code, r.err);
                it_run_free(&r);
        }
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civisync_dead_letter") -
                         dead, 3);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civisync_dead_letter WHERE "
                                "error LIKE '%%civicrm_value_nowhere_99%%'"), 1);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civisync_dead_letter WHERE "
                                "error LIKE '%%unknown column ''bogus_9''%%'"), 1);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civisync_dead_letter WHERE "
                                "error LIKE '%%sneaky_9%%custom field metadata%%'"), 1);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM " CONSTITUENT " WHERE "
                                "sneaky_9 IS NOT NULL"), 0);

        /* Real-time capture: the value tables get triggers like the other
         * nested tables, recording their owner as the root. */
        {
                it_run_t r = it_run("civisync-produce", "-c", s.pconf,
                                    "--install-triggers", NULL);
                ck_assert_msg(r.exit_code == 0, "install-triggers exit %d: %s",
                              r.exit_code, r.err);
                it_run_free(&r);
        }
        it_exec(s.c, "INSERT INTO civicrm_value_visits_10 (entity_id, visit_note_20) "
                "VALUES (%lld, 'live')", z);
        ck_assert_int_eq(it_int(s.c, "SELECT COUNT(*) FROM civisync_outbox WHERE "
                                "tbl = 'civicrm_value_visits_10' AND root_id = %lld "
                                "AND op = 'I'", z), 1);
        produce(s.pconf, 0, NULL);
        consume(s.cconf);
        verify_clean(s.pconf, s.cconf, s.prefix, "civicrm_value_visits_10", 3);

        /* A group only the child defines reaches the master with its
         * values in one incremental run and one --once consumer: the
         * metadata gate creates the group and its field, the contact
         * document waits for the table, which is created right after the
         * batch commits, and applies then. */
        it_exec(s.c, "INSERT INTO civicrm_custom_group (id, name, title, extends, "
                "table_name, is_multiple, is_active, style) VALUES (13, 'Fresh', "
                "'Fresh', 'Individual', 'civicrm_value_fresh_13', 0, 1, 'Inline')");
        it_exec(s.c, "INSERT INTO civicrm_custom_field (id, custom_group_id, name, "
                "label, data_type, html_type, column_name, is_active) VALUES (27, "
                "13, 'hue', 'Hue', 'String', 'Text', 'hue_27', 1)");
        it_exec(s.c, "CREATE TABLE civicrm_value_fresh_13 (id int unsigned NOT NULL "
                "AUTO_INCREMENT PRIMARY KEY, entity_id int unsigned NOT NULL UNIQUE, "
                "hue_27 varchar(255) DEFAULT NULL)");
        it_exec(s.c, "INSERT INTO civicrm_value_fresh_13 (entity_id, hue_27) VALUES "
                "(%lld, 'teal')", y);
        dead = it_int(s.m, "SELECT COUNT(*) FROM civisync_dead_letter");
        produce(s.pconf, 0, NULL);
        consume(s.cconf);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_value_fresh_13 "
                                "WHERE hue_27 = 'teal'"), 1);
        ck_assert_int_eq(it_mapped_rows(s.m, s.prefix, "civicrm_value_fresh_13"), 1);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civisync_parked_doc WHERE "
                                "prefix = '%s' AND reason LIKE '%%fresh_13%%'",
                                s.prefix), 0);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civisync_dead_letter"), dead);

        /* A group whose id the master gives another group (a metadata
         * conflict: the master's row stands): the master's metadata does
         * not name the child's table, the contact document is
         * dead-lettered, and verify counts the value as missing. */
        it_exec(s.m, "INSERT INTO civicrm_custom_group (id, name, title, extends, "
                "table_name, is_multiple, is_active, style) VALUES (12, 'MasterOwn', "
                "'Master own', 'Individual', 'civicrm_value_master_own_12', 0, 1, "
                "'Inline')");
        it_exec(s.c, "INSERT INTO civicrm_custom_group (id, name, title, extends, "
                "table_name, is_multiple, is_active, style) VALUES (12, 'Secret', "
                "'Secret', 'Individual', 'civicrm_value_secret_12', 0, 1, 'Inline')");
        it_exec(s.c, "INSERT INTO civicrm_custom_field (id, custom_group_id, name, "
                "label, data_type, html_type, column_name, is_active) VALUES (26, "
                "12, 'code', 'Code', 'String', 'Text', 'code_26', 1)");
        it_exec(s.c, "CREATE TABLE civicrm_value_secret_12 (id int unsigned NOT NULL "
                "AUTO_INCREMENT PRIMARY KEY, entity_id int unsigned NOT NULL UNIQUE, "
                "code_26 varchar(255) DEFAULT NULL)");
        it_exec(s.c, "INSERT INTO civicrm_value_secret_12 (entity_id, code_26) VALUES "
                "(%lld, 'only on the child')", y);
        dead = it_int(s.m, "SELECT COUNT(*) FROM civisync_dead_letter");
        produce(s.pconf, 0, NULL);
        {
                it_run_t r = it_run("civisync-consume", "-c", s.cconf, "--once", NULL);
                it_run_free(&r);
        }
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civisync_dead_letter WHERE "
                                "doc_key = '%s/civicrm_contact/%lld' AND error LIKE "
                                "'%%civicrm_value_secret_12%%'", s.prefix, y), 1);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civisync_dead_letter") -
                         dead, 1);
        {
                it_run_t r = it_run("civisync-verify", "--child-config", s.pconf,
                                    "--master-config", s.cconf, "--no-metadata", NULL);
                char want[96];
                snprintf(want, sizeof(want), "verify %s: 1 differences", s.prefix);
                ck_assert_msg(r.exit_code == 1 && strstr(r.out, want) &&
                              strstr(r.out, "civicrm_value_secret_12: not compared: "
                                     "the master has no such custom value table "
                                     "(its child rows count as missing): 1 child "
                                     "rows, 1 missing"), "verify exit %d\n%s\n%s",
                              r.exit_code, r.out, r.err);
                it_run_free(&r);
        }
        it_demo_teardown(&s);
}
END_TEST

#define GEO "civicrm_value_geo_14"

/* Every child value of GEO whose address belongs to a contact is on the
 * master: entity_id the master id of its address, canvasser that of its
 * contact, the other columns equal; nothing else is. */
static void assert_geo(it_demo_t *s)
{
        long long want = it_int(s->c, "SELECT COUNT(*) FROM " GEO " v JOIN "
                                "civicrm_address a ON a.id = v.entity_id WHERE "
                                "a.contact_id IS NOT NULL");
        long long same = it_int(s->m,
                "SELECT COUNT(*) FROM `%s`." GEO " c JOIN mapping_master_%s ma ON "
                "ma.entity_table = 'civicrm_address' AND ma.child_entity_id = "
                "c.entity_id JOIN mapping_master_%s mv ON mv.entity_table = '"
                GEO "' AND mv.child_entity_id = c.id JOIN " GEO " m ON m.id = "
                "mv.master_entity_id AND m.entity_id = ma.master_entity_id AND "
                "m.precinct_28 <=> c.precinct_28 AND m.verified_29 <=> "
                "c.verified_29 LEFT JOIN mapping_master_%s mc ON mc.entity_table "
                "= 'civicrm_contact' AND mc.child_entity_id = c.canvasser_31 "
                "WHERE m.canvasser_31 <=> mc.master_entity_id", s->child,
                s->prefix, s->prefix, s->prefix);

        ck_assert_int_gt(want, 0);
        ck_assert_msg(same == want, GEO ": %lld of %lld child rows on the master "
                      "with equal values", same, want);
        ck_assert_int_eq(it_int(s->m, "SELECT COUNT(*) FROM " GEO), want);
        ck_assert_int_eq(it_mapped_rows(s->m, s->prefix, GEO), want);
}

/* Custom groups extending addresses (#14): a group only the child has
 * reaches the master through the metadata gate, its value table is created
 * with a foreign key to civicrm_address, and the values travel in the
 * contact document beside their address, entity_id translated through the
 * address's mapping (ContactReference through the contacts'). Values of an
 * address without a contact (an event's location) are not synced. Then
 * created, edited and deleted values, a deleted address (its value goes
 * with it, mapping included), a complete resync, triggers that record the
 * address's contact as the root, and a document whose value names no
 * address of its own document (dead-lettered). */
START_TEST(test_custom_address)
{
        it_demo_t s;
        long long a1, a2, a3, gone, gone_val, orphan, dead, rows;
        char *v;

        setup(&s, "ca");
        it_exec(s.c, "INSERT INTO civicrm_custom_group (id, name, title, extends, "
                "table_name, is_multiple, is_active, style) VALUES (14, 'Geo', "
                "'Geo', 'Address', '" GEO "', 0, 1, 'Inline')");
        it_exec(s.c, "INSERT INTO civicrm_custom_field (id, custom_group_id, name, "
                "label, data_type, html_type, text_length, column_name, "
                "is_active) VALUES (28, 14, 'precinct', 'Precinct', 'String', "
                "'Text', 32, 'precinct_28', 1), (29, 14, 'verified', 'Verified', "
                "'Date', 'Select Date', NULL, 'verified_29', 1), (31, 14, "
                "'canvasser', 'Canvasser', 'ContactReference', "
                "'Autocomplete-Select', NULL, 'canvasser_31', 1)");
        it_exec(s.c, "CREATE TABLE " GEO " (id int unsigned NOT NULL "
                "AUTO_INCREMENT PRIMARY KEY, entity_id int unsigned NOT NULL "
                "UNIQUE, precinct_28 varchar(32) DEFAULT NULL, verified_29 "
                "datetime DEFAULT NULL, canvasser_31 int unsigned DEFAULT NULL, "
                "FOREIGN KEY (entity_id) REFERENCES civicrm_address (id) ON "
                "DELETE CASCADE, FOREIGN KEY (canvasser_31) REFERENCES "
                "civicrm_contact (id) ON DELETE SET NULL)");
        it_exec(s.c, "INSERT INTO " GEO " (entity_id, precinct_28, verified_29, "
                "canvasser_31) SELECT a.id, CONCAT('P-', a.id), IF(a.id %% 2, "
                "'2021-03-04 05:06:07', NULL), IF(a.id %% 3, NULL, (SELECT "
                "MIN(id) FROM civicrm_contact WHERE contact_type = 'Individual')) "
                "FROM civicrm_address a WHERE a.contact_id IS NOT NULL ORDER BY "
                "a.id LIMIT 30");
        /* An address without a contact (a location block's, entity
         * loc_address): its custom values travel with a contact's address
         * only, so this one is not synced (FORMAT.md §22). */
        it_exec(s.c, "INSERT INTO civicrm_address (location_type_id, "
                "street_address) VALUES (1, 'Event hall')");
        orphan = it_int(s.c, "SELECT MAX(id) FROM civicrm_address");
        it_exec(s.c, "INSERT INTO " GEO " (entity_id, precinct_28) VALUES (%lld, "
                "'nobody')", orphan);
        produce(s.pconf, 1, NULL);
        consume(s.cconf);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM information_schema."
                                "REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA "
                                "= DATABASE() AND TABLE_NAME = '" GEO "' AND "
                                "REFERENCED_TABLE_NAME = 'civicrm_address' AND "
                                "DELETE_RULE = 'CASCADE'"), 1);
        assert_geo(&s);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM " GEO " WHERE "
                                "precinct_28 = 'nobody'"), 0);
        rows = it_int(s.c, "SELECT COUNT(*) FROM " GEO) - 1;
        verify_clean(s.pconf, s.cconf, s.prefix, GEO, rows);

        /* Created, edited, deleted; an address deleted (CiviCRM's foreign
         * key takes its value): no contact timestamp moves. */
        a1 = it_int(s.c, "SELECT MIN(id) FROM civicrm_address WHERE contact_id "
                    "IS NOT NULL AND id NOT IN (SELECT entity_id FROM " GEO ")");
        a2 = it_int(s.c, "SELECT MIN(entity_id) FROM " GEO);
        a3 = it_int(s.c, "SELECT MAX(v.entity_id) FROM " GEO " v JOIN "
                    "civicrm_address a ON a.id = v.entity_id WHERE a.contact_id "
                    "IS NOT NULL");
        gone = it_int(s.c, "SELECT MIN(v.entity_id) FROM " GEO " v WHERE "
                      "v.entity_id NOT IN (%lld, %lld, %lld)", a2, a3, orphan);
        gone_val = it_int(s.c, "SELECT id FROM " GEO " WHERE entity_id = %lld",
                          gone);
        ck_assert_int_gt(a1, 0);
        ck_assert_int_gt(master_id(s.m, s.prefix, GEO, gone_val), 0);
        it_exec(s.c, "INSERT INTO " GEO " (entity_id, precinct_28) VALUES (%lld, "
                "'Created')", a1);
        it_exec(s.c, "UPDATE " GEO " SET precinct_28 = 'Edited' WHERE entity_id "
                "= %lld", a2);
        it_exec(s.c, "DELETE FROM " GEO " WHERE entity_id = %lld", a3);
        it_exec(s.c, "DELETE FROM civicrm_address WHERE id = %lld", gone);
        ck_assert_int_eq(it_int(s.c, "SELECT COUNT(*) FROM " GEO " WHERE "
                                "entity_id = %lld", gone), 0);
        produce(s.pconf, 0, NULL);
        consume(s.cconf);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM " GEO " WHERE "
                                "entity_id = %lld AND precinct_28 = 'Created'",
                                master_id(s.m, s.prefix, "civicrm_address", a1)), 1);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM " GEO " WHERE "
                                "entity_id = %lld AND precinct_28 = 'Edited'",
                                master_id(s.m, s.prefix, "civicrm_address", a2)), 1);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM " GEO " WHERE "
                                "entity_id = %lld", master_id(s.m, s.prefix,
                                "civicrm_address", a3)), 0);
        ck_assert_int_eq(master_id(s.m, s.prefix, "civicrm_address", gone), 0);
        ck_assert_int_eq(master_id(s.m, s.prefix, GEO, gone_val), 0);
        assert_geo(&s);
        verify_clean(s.pconf, s.cconf, s.prefix, GEO, rows - 1);

        /* A complete resync changes nothing. */
        produce(s.pconf, 1, NULL);
        consume(s.cconf);
        assert_geo(&s);
        verify_clean(s.pconf, s.cconf, s.prefix, GEO, rows - 1);
        it_assert_synced(s.c, s.m, s.prefix);

        /* A contact deleted: its address and the address's value go, and
         * so do their mapping rows. */
        {
                long long nc, na, nv;
                it_exec(s.c, "INSERT INTO civicrm_contact (contact_type, "
                        "first_name, display_name, sort_name) VALUES "
                        "('Individual', 'Addr', 'Addr Gone', 'Gone, Addr')");
                nc = it_int(s.c, "SELECT MAX(id) FROM civicrm_contact");
                it_exec(s.c, "INSERT INTO civicrm_address (contact_id, "
                        "location_type_id, street_address) VALUES (%lld, 1, "
                        "'1 Short St')", nc);
                na = it_int(s.c, "SELECT MAX(id) FROM civicrm_address");
                it_exec(s.c, "INSERT INTO " GEO " (entity_id, precinct_28) "
                        "VALUES (%lld, 'Short')", na);
                nv = it_int(s.c, "SELECT MAX(id) FROM " GEO);
                produce(s.pconf, 0, NULL);
                consume(s.cconf);
                ck_assert_int_gt(master_id(s.m, s.prefix, GEO, nv), 0);
                it_exec(s.c, "DELETE FROM civicrm_contact WHERE id = %lld", nc);
                produce(s.pconf, 0, NULL);
                consume(s.cconf);
                ck_assert_int_eq(master_id(s.m, s.prefix, "civicrm_address", na), 0);
                ck_assert_int_eq(master_id(s.m, s.prefix, GEO, nv), 0);
                ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM " GEO " WHERE "
                                        "precinct_28 = 'Short'"), 0);
                assert_geo(&s);
        }

        /* A value naming an address its contact document does not carry. */
        dead = it_int(s.m, "SELECT COUNT(*) FROM civisync_dead_letter");
        v = contact_with_value(s.prefix, it_int(s.c, "SELECT contact_id FROM "
                               "civicrm_address WHERE id = %lld", a2), GEO,
                               "precinct_28", "stray");
        send_doc(&s, v);
        ku_flush();
        {
                it_run_t r = it_run("civisync-consume", "-c", s.cconf, "--once", NULL);
                ck_assert_msg(strstr(r.err, "names no address nested in the same "
                                     "document"), "consume exit %d: %s",
                              r.exit_code, r.err);
                it_run_free(&r);
        }
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civisync_dead_letter") -
                         dead, 1);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM " GEO " WHERE "
                                "precinct_28 = 'stray'"), 0);

        /* Real time: the value table's triggers record the address's
         * contact as the root. */
        {
                it_run_t r = it_run("civisync-produce", "-c", s.pconf,
                                    "--install-triggers", NULL);
                ck_assert_msg(r.exit_code == 0, "install-triggers exit %d: %s",
                              r.exit_code, r.err);
                it_run_free(&r);
        }
        it_exec(s.c, "UPDATE " GEO " SET precinct_28 = 'Live' WHERE entity_id = "
                "%lld", a1);
        ck_assert_int_eq(it_int(s.c, "SELECT COUNT(*) FROM civisync_outbox WHERE "
                                "tbl = '" GEO "' AND op = 'U' AND root_id = "
                                "(SELECT contact_id FROM civicrm_address WHERE id "
                                "= %lld) AND old_root_id = root_id", a1), 1);
        produce(s.pconf, 0, NULL);
        consume(s.cconf);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM " GEO " WHERE "
                                "precinct_28 = 'Live'"), 1);
        assert_geo(&s);
        it_demo_teardown(&s);
}
END_TEST

Suite *custom_suite(void)
{
        Suite *s = suite_create("custom");
        TCase *tc = tcase_create("custom");

        tcase_set_timeout(tc, 600);
        tcase_add_test(tc, test_custom_demo_site);
        tcase_add_test(tc, test_custom_new_group_field_deadletter);
        suite_add_tcase(s, tc);
        tc = tcase_create("custom_address");
        tcase_set_timeout(tc, 600);
        tcase_add_test(tc, test_custom_address);
        suite_add_tcase(s, tc);
        return s;
}
