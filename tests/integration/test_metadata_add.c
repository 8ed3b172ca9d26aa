/* test_metadata_add.c — the metadata gate's additive sync: a child's new custom group, custom field, option values and relationship type reach the master with their ids, before the data that needs them; a resync of one prefix leaves every table byte-identical. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo_site.h"
#include "harness.h"

static void produce(const char *conf, const char *mode)
{
        it_run_t r = mode ? it_run("civisync-produce", "-c", conf, mode, NULL) :
                     it_run("civisync-produce", "-c", conf, NULL);
        ck_assert_msg(r.exit_code == 0, "produce exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);
}

static void consume(const char *conf)
{
        it_run_t r = it_run("civisync-consume", "-c", conf, "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "consume exit %d: %s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "rejected to") == NULL, "rejections: %s", r.err);
        it_run_free(&r);
}

/* A row of table on both sides: every column but `skip` (may be NULL) as
 * one string, compared. */
static void assert_same_row(MYSQL *m, const char *child_db, const char *table,
                            long long id, const char *skip)
{
        long long same = it_int(m, "SELECT COUNT(*) FROM %s a JOIN `%s`.%s b ON "
                                "b.id = a.id WHERE a.id = %lld", table, child_db,
                                table, id);
        if (same != 1) {
                char why[1024] = "";
                char sql[512];
                MYSQL_RES *res;
                MYSQL_ROW row;
                snprintf(sql, sizeof(sql), "SELECT CONCAT(kind, ': ', COALESCE("
                         "columns_differ, '')) FROM civisync_metadata_diff WHERE "
                         "table_name = '%s' AND row_id = %lld", table, id);
                if (!mysql_query(m, sql) && (res = mysql_store_result(m))) {
                        if ((row = mysql_fetch_row(res)) && row[0])
                                snprintf(why, sizeof(why), "%s", row[0]);
                        mysql_free_result(res);
                }
                {
                        char all[2048] = "";
                        if (!mysql_query(m, "SELECT CONCAT(GROUP_CONCAT(CONCAT("
                                         "table_name, ' ', row_id, ' ', kind)), ' / "
                                         "parked: ', (SELECT COALESCE(GROUP_CONCAT("
                                         "CONCAT(doc_key, ' ', reason)), '') FROM "
                                         "civisync_parked_doc)) FROM "
                                         "civisync_metadata_diff") &&
                            (res = mysql_store_result(m))) {
                                if ((row = mysql_fetch_row(res)) && row[0])
                                        snprintf(all, sizeof(all), "%s", row[0]);
                                mysql_free_result(res);
                        }
                        ck_abort_msg("%s id %lld is not on both sides (gate: %s; "
                                     "all: %s)", table, id, why, all);
                }
        }
        /* CHECKSUM of the one row through a temporary copy would need DDL:
         * compare the columns by name instead */
        {
                char sql[512];
                MYSQL_RES *res;
                MYSQL_ROW row;
                snprintf(sql, sizeof(sql), "SELECT COLUMN_NAME FROM "
                         "information_schema.COLUMNS WHERE TABLE_SCHEMA = "
                         "DATABASE() AND TABLE_NAME = '%s'", table);
                ck_assert_msg(mysql_query(m, sql) == 0, "%s", mysql_error(m));
                res = mysql_store_result(m);
                while ((row = mysql_fetch_row(res))) {
                        if (skip && !strcmp(row[0], skip))
                                continue;
                        ck_assert_msg(it_int(m, "SELECT COUNT(*) FROM %s a JOIN "
                                             "`%s`.%s b ON b.id = a.id WHERE a.id "
                                             "= %lld AND a.`%s` <=> b.`%s`", table,
                                             child_db, table, id, row[0],
                                             row[0]) == 1,
                                      "%s id %lld: column %s differs", table, id,
                                      row[0]);
                }
                mysql_free_result(res);
        }
}

/* Removes an entity document's gate stamp (FORMAT.md §7.1) from an
 * NDJSON line, in place. */
static void unstamp(char *line)
{
        char *at = strstr(line, ",\"civisync_gate_run\":"), *end;

        if (!at)
                return;
        end = at + strlen(",\"civisync_gate_run\":");
        end += strspn(end, "0123456789");
        if (strncmp(end, ",\"civisync_gate_docs\":", strlen(",\"civisync_gate_docs\":")))
                return;         /* a metadata document's run: kept */
        end += strlen(",\"civisync_gate_docs\":");
        end += strspn(end, "0123456789");
        memmove(at, end, strlen(end) + 1);
}

/* Issue #14 ("Metadata", item 2, and its tests): on a child built as the
 * demo site, already synced into an empty-site master, an operator adds a
 * custom group (created by a contact), a custom field with its option
 * group and option values, a new activity type used by an activity, and a
 * new relationship type used by a relationship (a foreign key on the
 * master). The next incremental run brings every one of them to the
 * master with the child's id and content (the custom group's creator
 * translated), the data that uses them with them, nothing dead-lettered;
 * the gate and verify report nothing. The producer sent the gate before
 * the data. */
START_TEST(test_meta_add_reaches_master)
{
        char out[512];
        it_demo_t s;
        long long cg, cf, og, ov, at, rt, creator, rel;
        it_run_t r;

        /* No metadata copied: the metadata sync brings it. */
        it_demo_setup(&s, "mad", 3, 0);
        const char *child = s.child, *prefix = s.prefix;
        const char *pconf = s.pconf, *cconf = s.cconf;
        MYSQL *m = s.m, *c = s.c;
        /* The reserved membership price set's field and options (site
         * metadata of synced tables, FORMAT.md §12) that participants' and
         * memberships' line items name: the master needs them. */
        it_copy_reserved_prices(m, child);
        /* Values of a custom group the empty site lacks: the gate creates
         * the group on the master in the batch that carries the first of
         * them, and its table only exists from the next batch on. */
        it_exec(c, "INSERT INTO civicrm_value_constituent_information_1 (entity_id, "
                "most_important_issue_1, marital_status_2) SELECT id, 'Parks', 'S' "
                "FROM civicrm_contact WHERE contact_type = 'Individual' AND "
                "is_deleted = 0 ORDER BY id LIMIT 30");
        produce(pconf, "--complete");
        consume(cconf);
        ck_assert_int_eq(it_mapped_rows(m, prefix,
                                        "civicrm_value_constituent_information_1"), 30);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM "
                                "civicrm_value_constituent_information_1 WHERE "
                                "most_important_issue_1 = 'Parks'"), 30);

        creator = it_int(c, "SELECT MAX(id) FROM civicrm_contact WHERE contact_type = "
                         "'Individual' AND is_deleted = 0");
        it_exec(c, "INSERT INTO civicrm_custom_group (name, title, extends, "
                "table_name, is_active, style, created_id, created_date) VALUES "
                "('Volunteer_details', 'Volunteer details', 'Individual', "
                "'civicrm_value_volunteer_details_90', 1, 'Inline', %lld, "
                "'2026-11-27 10:00:00')", creator);
        cg = it_int(c, "SELECT MAX(id) FROM civicrm_custom_group");
        it_exec(c, "INSERT INTO civicrm_option_group (name, title, is_active) VALUES "
                "('volunteer_skills', 'Volunteer skills', 1)");
        og = it_int(c, "SELECT MAX(id) FROM civicrm_option_group");
        it_exec(c, "INSERT INTO civicrm_option_value (option_group_id, label, value, "
                "name, weight, is_active) VALUES (%lld, 'Driving', '1', 'Driving', "
                "1, 1), (%lld, 'Cooking', '2', 'Cooking', 2, 1)", og, og);
        it_exec(c, "INSERT INTO civicrm_custom_field (custom_group_id, name, label, "
                "data_type, html_type, is_active, column_name, option_group_id) "
                "VALUES (%lld, 'Skills', 'Skills', 'String', 'Select', 1, "
                "'skills_91', %lld)", cg, og);
        cf = it_int(c, "SELECT MAX(id) FROM civicrm_custom_field");
        it_exec(c, "INSERT INTO civicrm_option_value (option_group_id, label, value, "
                "name, weight, is_active) SELECT id, 'Site visit', '9001', "
                "'Site visit', 9001, 1 FROM civicrm_option_group WHERE name = "
                "'activity_type'");
        ov = it_int(c, "SELECT MAX(id) FROM civicrm_option_value");
        it_exec(c, "INSERT INTO civicrm_activity (activity_type_id, subject, "
                "activity_date_time, status_id) VALUES (9001, 'metaadd visit', "
                "'2026-11-27 10:00:00', 1)");
        at = it_int(c, "SELECT MAX(id) FROM civicrm_activity");
        it_exec(c, "INSERT INTO civicrm_relationship_type (name_a_b, label_a_b, "
                "name_b_a, label_b_a, contact_type_a, contact_type_b, is_active) "
                "VALUES ('Mentor of', 'Mentor of', 'Mentee of', 'Mentee of', "
                "'Individual', 'Individual', 1)");
        rt = it_int(c, "SELECT MAX(id) FROM civicrm_relationship_type");
        it_exec(c, "INSERT INTO civicrm_relationship (contact_id_a, contact_id_b, "
                "relationship_type_id, is_active) SELECT MIN(id), MAX(id), %lld, 1 "
                "FROM civicrm_contact WHERE contact_type = 'Individual' AND "
                "is_deleted = 0", rt);
        rel = it_int(c, "SELECT MAX(id) FROM civicrm_relationship");
        /* none of them is on the master yet */
        ck_assert_int_eq(it_int(m, "SELECT (SELECT COUNT(*) FROM civicrm_custom_group "
                                "WHERE id = %lld) + (SELECT COUNT(*) FROM "
                                "civicrm_custom_field WHERE id = %lld) + (SELECT "
                                "COUNT(*) FROM civicrm_option_value WHERE id = %lld) "
                                "+ (SELECT COUNT(*) FROM civicrm_relationship_type "
                                "WHERE id = %lld)", cg, cf, ov, rt), 0);

        /* cron's incremental run, written to a file and applied in reverse
         * order: the relationship before its type, the custom field before
         * its group and option group. What needs a metadata row waits for
         * it (parked, retried after the batch) instead of being
         * dead-lettered. The entity documents lose their gate stamps, as
         * from a producer before them: with the stamps they would wait for
         * the run's gate documents as a whole (metadata/test_gate_overtaken);
         * without, each waits for the row its foreign key names. */
        {
                char *path = strdup(it_write_file("madinc.jsonl", "")), *rev;
                char **lines;
                size_t nl = 0;
                FILE *f;
                r = it_run("civisync-produce", "-c", pconf, "--output", path, NULL);
                ck_assert_msg(r.exit_code == 0, "produce exit %d: %s", r.exit_code,
                              r.err);
                it_run_free(&r);
                lines = it_read_lines(path, &nl);
                ck_assert_int_gt(nl, 5);
                rev = strdup(it_write_file("madrev.jsonl", ""));
                f = fopen(rev, "w");
                for (size_t i = nl; i-- > 0;) {
                        unstamp(lines[i]);
                        fputs(lines[i], f);
                }
                fclose(f);
                it_lines_free(lines, nl);
                r = it_run("civisync-consume", "-c", cconf, "--input", rev, "--prefix",
                           prefix, NULL);
                ck_assert_msg(r.exit_code == 0, "consume exit %d: %.1500s", r.exit_code,
                              r.err);
                ck_assert_msg(strstr(r.err, "rejected") == NULL, "%.1500s", r.err);
                snprintf(out, sizeof(out), "civicrm_relationship %lld waits for a "
                         "row of metadata table civicrm_relationship_type", rel);
                ck_assert_msg(strstr(r.err, out) != NULL, "%.1500s", r.err);
                snprintf(out, sizeof(out), "civicrm_custom_field/1 waits (retried): "
                         "civicrm_custom_field id %lld waits for a row of "
                         "civicrm_custom_group", cf);
                ck_assert_msg(strstr(r.err, out) != NULL, "%.1500s", r.err);
                it_run_free(&r);
                free(path);
                free(rev);
        }
        assert_same_row(m, child, "civicrm_custom_group", cg, "created_id");
        ck_assert_int_eq(it_int(m, "SELECT created_id FROM civicrm_custom_group WHERE "
                                "id = %lld", cg),
                         it_int(m, "SELECT master_entity_id FROM mapping_master_%s "
                                "WHERE entity_table = 'civicrm_contact' AND "
                                "child_entity_id = %lld", prefix, creator));
        assert_same_row(m, child, "civicrm_custom_field", cf, NULL);
        assert_same_row(m, child, "civicrm_option_group", og, NULL);
        assert_same_row(m, child, "civicrm_option_value", ov, NULL);
        assert_same_row(m, child, "civicrm_option_value", ov - 1, NULL);
        assert_same_row(m, child, "civicrm_option_value", ov - 2, NULL);
        assert_same_row(m, child, "civicrm_relationship_type", rt, NULL);
        /* the data that uses them arrived (the relationship through the
         * master's foreign key on relationship_type_id) */
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_activity a JOIN "
                                "mapping_master_%s mm ON mm.entity_table = "
                                "'civicrm_activity' AND mm.master_entity_id = a.id "
                                "WHERE mm.child_entity_id = %lld AND "
                                "a.activity_type_id = 9001", prefix, at), 1);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_relationship x JOIN "
                                "mapping_master_%s mm ON mm.entity_table = "
                                "'civicrm_relationship' AND mm.master_entity_id = x.id "
                                "WHERE mm.child_entity_id = %lld AND "
                                "x.relationship_type_id = %lld", prefix, rel, rt), 1);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_metadata_diff"), 0);
        /* nothing waits, but what waits for data of a later phase by design
         * (profile joins and ACLs on events, line items of participants and
         * memberships) and what waits behind those (their financial items
         * and transaction links) */
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_parked_doc d WHERE "
                                "d.reason NOT LIKE '%%later phase%%' AND NOT EXISTS "
                                "(SELECT 1 FROM civisync_parked_doc x WHERE x.prefix = "
                                "d.prefix AND x.doc_key = CONCAT(d.prefix, '/', "
                                "d.target_table, '/', d.target_child_id))"), 0);
        r = it_run("civisync-verify", "--child-config", pconf, "--master-config",
                   cconf, "--limit", "0", NULL);
        if (r.exit_code != 0)
                fprintf(stderr, "%s\n%s\n", r.out, r.err);
        ck_assert_msg(r.exit_code == 0, "verify exit %d (output above)", r.exit_code);
        snprintf(out, sizeof(out), "verify %s: metadata: 0 differences", prefix);
        ck_assert_msg(strstr(r.out, out) != NULL, "%s", r.out);
        it_run_free(&r);

        /* The order on the wire: every metadata document before the first
         * data or control document. */
        {
                char *path = it_write_file("madout.jsonl", "");
                FILE *f;
                char *line = NULL;
                size_t cap = 0;
                long n = 0, last_meta = -1, first_other = -1;
                r = it_run("civisync-produce", "-c", pconf, "--complete", "--output",
                           path, NULL);
                ck_assert_msg(r.exit_code == 0, "produce exit %d: %s", r.exit_code,
                              r.err);
                it_run_free(&r);
                f = fopen(path, "r");
                ck_assert_ptr_nonnull(f);
                while (getline(&line, &cap, f) > 0) {
                        char *key = strstr(line, "\"key\":\"");
                        char *end = key ? strchr(key + 7, '"') : NULL;
                        ck_assert_ptr_nonnull(end);
                        if (memmem(key, (size_t)(end - key), "/civisync_metadata/",
                                   19))
                                last_meta = n;
                        else if (first_other < 0)
                                first_other = n;
                        n++;
                }
                free(line);
                fclose(f);
                ck_assert_int_gt(last_meta, 30);
                ck_assert_int_gt(first_other, last_meta);
        }
        it_demo_teardown(&s);
}
END_TEST

/* Issue #14 ("Metadata", item 4): two prefixes on one master; child A
 * brings a new activity type and a new relationship type (created on the
 * master), then deletes them again (the type's foreign key cascades into
 * A's relationships of that type on the child). After A's incremental and
 * complete runs the master still has both rows (the gate reports them
 * master-only). A --resync of A then replays A's whole topic: every table
 * of the master -- every prefix's rows, every metadata table -- is
 * byte-identical before and after (CHECKSUM TABLE on each), civisync's own
 * bookkeeping and A's mapping stamps aside. */
START_TEST(test_meta_resync_checksums)
{
        char master[64], child_a[64], child_b[64], prefix_a[40], prefix_b[40];
        char topic[80], extra[200], map_a[80];
        char *pconf_a, *pconf_b, *cconf;
        char (*names)[80] = NULL;
        long long *sums = NULL, rt, ov;
        size_t n = 0;
        MYSQL *m, *ca;
        MYSQL_RES *res;
        MYSQL_ROW row;
        it_run_t r;

        it_unique(prefix_a, sizeof(prefix_a), "mra");
        it_unique(prefix_b, sizeof(prefix_b), "mrb");
        it_unique(master, sizeof(master), "mrm");
        it_unique(child_a, sizeof(child_a), "mrc");
        it_unique(child_b, sizeof(child_b), "mrc");
        it_make_db(master, "--schema 5");
        it_make_db(child_a, "--schema 5 --child 5 --contacts 40");
        it_make_db(child_b, "--schema 5 --child 6 --contacts 40");
        snprintf(topic, sizeof(topic), "civisync.%s", prefix_a);
        it_topic(topic, 2);
        snprintf(topic, sizeof(topic), "civisync.%s", prefix_b);
        it_topic(topic, 2);
        pconf_a = strdup(it_producer_conf(prefix_a, child_a, NULL));
        pconf_b = strdup(it_producer_conf(prefix_b, child_b, NULL));
        snprintf(extra, sizeof(extra), "prefixes = [\"%s\", \"%s\"];", prefix_a,
                 prefix_b);
        cconf = strdup(it_consumer_conf(master, extra));
        m = it_connect(master);
        ca = it_connect(child_a);

        it_exec(ca, "INSERT INTO civicrm_option_value (option_group_id, label, value, "
                "name, weight, is_active) SELECT id, 'Site visit', '9001', "
                "'Site visit', 9001, 1 FROM civicrm_option_group WHERE name = "
                "'activity_type'");
        ov = it_int(ca, "SELECT MAX(id) FROM civicrm_option_value");
        it_exec(ca, "INSERT INTO civicrm_relationship_type (name_a_b, label_a_b, "
                "name_b_a, label_b_a, is_active) VALUES ('Mentor of', 'Mentor of', "
                "'Mentee of', 'Mentee of', 1)");
        rt = it_int(ca, "SELECT MAX(id) FROM civicrm_relationship_type");
        it_exec(ca, "INSERT INTO civicrm_relationship (contact_id_a, contact_id_b, "
                "relationship_type_id, is_active) SELECT MIN(id), MAX(id), %lld, 1 "
                "FROM civicrm_contact", rt);
        produce(pconf_a, "--complete");
        produce(pconf_b, "--complete");
        consume(cconf);
        it_assert_synced(ca, m, prefix_a);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_relationship_type "
                                "WHERE id = %lld AND name_a_b = 'Mentor of'", rt), 1);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_option_value WHERE "
                                "id = %lld AND name = 'Site visit'", ov), 1);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_relationship WHERE "
                                "relationship_type_id = %lld", rt), 1);

        /* A deletes them again: the relationship cascades away on the child */
        it_exec(ca, "DELETE FROM civicrm_relationship_type WHERE id = %lld", rt);
        it_exec(ca, "DELETE FROM civicrm_option_value WHERE id = %lld", ov);
        produce(pconf_a, NULL);
        consume(cconf);
        produce(pconf_a, "--complete");
        consume(cconf);
        it_assert_synced(ca, m, prefix_a);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_relationship_type "
                                "WHERE id = %lld", rt), 1);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_option_value WHERE "
                                "id = %lld", ov), 1);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_metadata_diff WHERE "
                                "prefix = '%s' AND kind = 'master-only' AND "
                                "((table_name = 'civicrm_relationship_type' AND "
                                "row_id = %lld) OR (table_name = "
                                "'civicrm_option_value' AND row_id = %lld))",
                                prefix_a, rt, ov), 2);

        /* every table of the master, checksummed */
        snprintf(map_a, sizeof(map_a), "mapping_master_%s", prefix_a);
        ck_assert_int_eq(mysql_query(m, "SHOW TABLES"), 0);
        res = mysql_store_result(m);
        while ((row = mysql_fetch_row(res))) {
                if (!strncmp(row[0], "civisync_", 9) || !strcasecmp(row[0], map_a))
                        continue;
                names = realloc(names, (n + 1) * sizeof(*names));
                ck_assert_ptr_nonnull(names);
                snprintf(names[n++], sizeof(*names), "%s", row[0]);
        }
        mysql_free_result(res);
        ck_assert_int_gt(n, 20);
        sums = calloc(n, sizeof(*sums));
        for (size_t i = 0; i < n; i++)
                sums[i] = it_checksum(m, names[i]);

        r = it_run("civisync-consume", "-c", cconf, "--resync", prefix_a, "--once",
                   NULL);
        ck_assert_msg(r.exit_code == 0, "resync exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_offset WHERE "
                                "prefix = '%s' AND replay_end IS NOT NULL AND "
                                "next_offset < replay_end", prefix_a), 0);
        for (size_t i = 0; i < n; i++)
                ck_assert_msg(it_checksum(m, names[i]) == sums[i],
                              "%s changed on the master during the resync of %s",
                              names[i], prefix_a);
        it_assert_synced(ca, m, prefix_a);
        free(names);
        free(sums);
        mysql_close(m);
        mysql_close(ca);
        free(pconf_a);
        free(pconf_b);
        free(cconf);
}
END_TEST

Suite *metadata_add_suite(void)
{
        Suite *s = suite_create("metadata_add");
        TCase *tc = tcase_create("add");
        tcase_set_timeout(tc, 600);
        tcase_add_test(tc, test_meta_add_reaches_master);
        tcase_add_test(tc, test_meta_resync_checksums);
        suite_add_tcase(s, tc);
        return s;
}
