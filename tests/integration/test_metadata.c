/* test_metadata.c — the metadata gate: identical seeds report nothing; an extra option value and a renamed location type are named in --status and civisync-verify; the demo site's differences by design. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "registry.h"

/* What the CiviCRM 5.39 demo site adds to an empty site's metadata, all of
 * it by design (46 rows): its custom data script's 3 custom groups, 6
 * custom fields, 4 option groups with their 16 option values, 2 test
 * payment processors and their 2 financial-account links; its sample
 * data's 5 contact subtypes, 3 membership types with the reserved
 * membership price set's field and its 3 options (one per type), and 1
 * activity type ("Interview", option value 862). */
static const struct {
        const char *table;
        long long rows;
} demo_site_adds[] = {
        { "civicrm_contact_type", 5 }, { "civicrm_custom_field", 6 },
        { "civicrm_custom_group", 3 }, { "civicrm_entity_financial_account", 2 },
        { "civicrm_membership_type", 3 }, { "civicrm_option_group", 4 },
        { "civicrm_option_value", 17 }, { "civicrm_payment_processor", 2 },
        { "civicrm_price_field", 1 }, { "civicrm_price_field_value", 3 },
        { NULL, 0 }
};

static void produce_ok(const char *conf, int complete)
{
        it_run_t r = complete ?
                it_run("civisync-produce", "-c", conf, "--complete", NULL) :
                it_run("civisync-produce", "-c", conf, NULL);
        ck_assert_msg(r.exit_code == 0, "produce exit %d: %s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "metadata gate: ") != NULL, "%s", r.err);
        it_run_free(&r);
}

static void consume_ok(const char *conf)
{
        it_run_t r = it_run("civisync-consume", "-c", conf, "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "consume exit %d: %s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "rejected to") == NULL, "rejections: %s", r.err);
        it_run_free(&r);
}

/* A line of out containing both needles. */
static void assert_line(const char *out, const char *needle1, const char *needle2)
{
        const char *p = out;

        while ((p = strstr(p, needle1))) {
                const char *eol = strchr(p, '\n');
                if (!needle2 || (eol && memmem(p, (size_t)(eol - p), needle2,
                                               strlen(needle2))))
                        return;
                p++;
        }
        ck_abort_msg("no line with '%s'%s%s in:\n%s", needle1,
                     needle2 ? " and " : "", needle2 ? needle2 : "", out);
}

/* The first column of the first row of a query, as text ("" for none). */
static void query_text(MYSQL *db, const char *sql, char *out, size_t size)
{
        MYSQL_RES *res;
        MYSQL_ROW row;

        ck_assert_msg(mysql_query(db, sql) == 0, "%s: %s", sql, mysql_error(db));
        res = mysql_store_result(db);
        ck_assert_ptr_nonnull(res);
        row = mysql_fetch_row(res);
        snprintf(out, size, "%s", row && row[0] ? row[0] : "");
        mysql_free_result(res);
}

typedef struct pair_s {
        char master[64], child[64], prefix[40], topic[80];
        char *pconf, *cconf;
        MYSQL *m, *c;
} pair_t;

static void pair_new_parts(pair_t *p, const char *base, const char *master_args,
                           const char *child_args, int partitions)
{
        char extra[128];

        it_unique(p->prefix, sizeof(p->prefix), base);
        snprintf(p->topic, sizeof(p->topic), "civisync.%s", p->prefix);
        it_unique(p->master, sizeof(p->master), "mgm");
        it_unique(p->child, sizeof(p->child), "mgc");
        it_make_db(p->master, master_args);
        it_make_db(p->child, child_args);
        it_topic(p->topic, partitions);
        p->pconf = strdup(it_producer_conf(p->prefix, p->child, NULL));
        snprintf(extra, sizeof(extra), "prefixes = [\"%s\"];", p->prefix);
        p->cconf = strdup(it_consumer_conf(p->master, extra));
        p->m = it_connect(p->master);
        p->c = it_connect(p->child);
}

static void pair_new(pair_t *p, const char *base, const char *master_args,
                     const char *child_args)
{
        pair_new_parts(p, base, master_args, child_args, 2);
}

static void pair_free(pair_t *p)
{
        mysql_close(p->m);
        mysql_close(p->c);
        free(p->pconf);
        free(p->cconf);
}

static it_run_t status(const pair_t *p)
{
        return it_run("civisync-consume", "-c", p->cconf, "--status", NULL);
}

static it_run_t verify(const pair_t *p)
{
        return it_run("civisync-verify", "--child-config", p->pconf,
                      "--master-config", p->cconf, "--limit", "0", NULL);
}

/* Same seed on both sides: every metadata table is fingerprinted, compared
 * and found equal; --status and verify say so. */
START_TEST(test_gate_identical)
{
        pair_t p;
        char want[160];
        it_run_t r;

        pair_new(&p, "mgi", "--schema 5", "--schema 5 --child 1 --contacts 20");
        produce_ok(p.pconf, 1);
        consume_ok(p.cconf);
        it_assert_synced(p.c, p.m, p.prefix);
        /* every metadata table of the phase-1 schema was checked */
        ck_assert_int_eq(it_int(p.m, "SELECT COUNT(DISTINCT table_name) FROM "
                                "civisync_metadata_check WHERE prefix = '%s'",
                                p.prefix), 11);
        ck_assert_int_eq(it_int(p.m, "SELECT COUNT(*) FROM civisync_metadata_diff "
                                "WHERE prefix = '%s'", p.prefix), 0);
        ck_assert_int_eq(it_int(p.m, "SELECT child_rows FROM civisync_metadata_check "
                                "WHERE prefix = '%s' AND table_name = "
                                "'civicrm_option_value'", p.prefix),
                         it_int(p.c, "SELECT COUNT(*) FROM civicrm_option_value"));
        r = status(&p);
        ck_assert_int_eq(r.exit_code, 0);
        assert_line(r.out, "metadata gate: 11 table(s)", "checked");
        assert_line(r.out, "metadata differences: 0", NULL);
        it_run_free(&r);
        r = verify(&p);
        ck_assert_msg(r.exit_code == 0, "verify exit %d\n%s\n%s", r.exit_code, r.out,
                      r.err);
        snprintf(want, sizeof(want), "verify %s: metadata: 0 differences in 11 tables",
                 p.prefix);
        assert_line(r.out, want, NULL);
        it_run_free(&r);
        pair_free(&p);
}
END_TEST

/* Rows of the prefix on the master whose location_type_id is id, over the
 * tables that carry one. */
static long long typed_rows(MYSQL *m, const char *prefix, long long id)
{
        static const char *const t[] = { "civicrm_address", "civicrm_email",
                                         "civicrm_phone", NULL };
        long long n = 0;

        for (int i = 0; t[i]; i++)
                n += it_int(m, "SELECT COUNT(*) FROM %s x JOIN mapping_master_%s mm "
                            "ON mm.entity_table = '%s' AND mm.master_entity_id = "
                            "x.id WHERE x.location_type_id = %lld", t[i], prefix,
                            t[i], id);
        return n;
}

/* A child with a new activity type and a renamed location type (issue #14,
 * "Metadata", items 2 and 3). The new option value is created on the
 * master with the child's id, so the gate no longer reports it and the
 * activity of that type arrives. The rename is a conflict: the master's
 * row stands (never overwritten), the conflict is named in --status and
 * verify, and the documents whose rows name location type 1 are held
 * (parked, with the reason) rather than mis-typed on the master. Undoing
 * the rename on the child clears the report at its next (incremental) run
 * and the held documents apply. */
START_TEST(test_gate_drift)
{
        pair_t p;
        char want[200], got[512];
        long long ov, typed, held;
        it_run_t r;

        /* Four partitions: the consumer may read a data document before
         * the gate document that reveals the conflict; the data waits for
         * its run's gate documents (test_gate_overtaken forces that order). */
        pair_new_parts(&p, "mgd", "--schema 5", "--schema 5 --child 2 --contacts 20", 4);
        it_exec(p.c, "INSERT INTO civicrm_option_value (option_group_id, label, value, "
                "name, weight, is_active) SELECT id, 'Site visit', '9001', "
                "'Site visit', 9001, 1 FROM civicrm_option_group WHERE name = "
                "'activity_type'");
        ov = it_int(p.c, "SELECT MAX(id) FROM civicrm_option_value");
        it_exec(p.c, "UPDATE civicrm_location_type SET name = 'Domicile' WHERE id = 1");
        it_exec(p.c, "INSERT INTO civicrm_activity (activity_type_id, subject, "
                "activity_date_time, status_id) VALUES (9001, 'gate', NOW(), 1)");
        typed = it_int(p.c, "SELECT (SELECT COUNT(*) FROM civicrm_address WHERE "
                       "location_type_id = 1) + (SELECT COUNT(*) FROM civicrm_email "
                       "WHERE location_type_id = 1) + (SELECT COUNT(*) FROM "
                       "civicrm_phone WHERE location_type_id = 1)");
        ck_assert_int_gt(typed, 0);
        produce_ok(p.pconf, 1);
        consume_ok(p.cconf);
        /* additive: the new activity type is on the master with its id and
         * content, and the activity of that type with it */
        ck_assert_int_eq(it_int(p.m, "SELECT COUNT(*) FROM civicrm_option_value "
                                "WHERE id = %lld AND name = 'Site visit' AND value = "
                                "'9001'", ov), 1);
        ck_assert_int_eq(it_int(p.m, "SELECT COUNT(*) FROM civicrm_activity WHERE "
                                "subject = 'gate' AND activity_type_id = 9001"), 1);
        /* the conflict: the master's row stands, reported */
        ck_assert_int_eq(it_int(p.m, "SELECT COUNT(*) FROM civicrm_location_type "
                                "WHERE id = 1 AND name = 'Home'"), 1);
        query_text(p.m, "SELECT GROUP_CONCAT(CONCAT(table_name, ' ', row_id, ' ', "
                   "kind, ' ', columns_differ)) FROM civisync_metadata_diff", got,
                   sizeof(got));
        ck_assert_str_eq(got, "civicrm_location_type 1 changed name");
        /* nothing of the prefix is typed with the conflicting location type:
         * the documents naming it are held, with the reason */
        ck_assert_int_eq(typed_rows(p.m, p.prefix, 1), 0);
        held = it_int(p.m, "SELECT COUNT(*) FROM civisync_parked_doc WHERE prefix = "
                      "'%s' AND reason LIKE '%%waits for the metadata conflict on "
                      "civicrm_location_type id 1 (name differs on the master)%%'",
                      p.prefix);
        ck_assert_int_gt(held, 0);
        /* the others wait for a held row (a relationship for its contact) */
        query_text(p.m, "SELECT COALESCE(GROUP_CONCAT(reason SEPARATOR ' | '), '') "
                   "FROM civisync_parked_doc WHERE reason NOT LIKE '%%metadata "
                   "conflict%%' AND target_table = ''", got, sizeof(got));
        ck_assert_str_eq(got, "");
        held = it_int(p.m, "SELECT COUNT(*) FROM civisync_parked_doc WHERE prefix = "
                      "'%s'", p.prefix);
        r = status(&p);
        ck_assert_int_eq(r.exit_code, 0);
        assert_line(r.out, "metadata differences: 1", NULL);
        assert_line(r.out, "civicrm_location_type id 1: changed: name", NULL);
        ck_assert_ptr_null(strstr(r.out, "civicrm_option_value id"));
        snprintf(want, sizeof(want), "parked documents: %lld", held);
        assert_line(r.out, want, NULL);
        it_run_free(&r);
        r = verify(&p);
        ck_assert_msg(r.exit_code == 1, "verify exit %d\n%s\n%s", r.exit_code, r.out,
                      r.err);
        assert_line(r.out, "metadata civicrm_location_type id 1: changed: name", NULL);
        snprintf(want, sizeof(want), "verify %s: metadata: 1 differences", p.prefix);
        assert_line(r.out, want, NULL);
        it_run_free(&r);

        /* The child undoes the rename: its next (incremental) run clears the
         * report, and the held documents apply. */
        it_exec(p.c, "UPDATE civicrm_location_type SET name = 'Home' WHERE id = 1");
        produce_ok(p.pconf, 0);
        consume_ok(p.cconf);
        ck_assert_int_eq(it_int(p.m, "SELECT COUNT(*) FROM civisync_metadata_diff "
                                "WHERE prefix = '%s'", p.prefix), 0);
        ck_assert_int_eq(it_int(p.m, "SELECT COUNT(*) FROM civisync_parked_doc WHERE "
                                "prefix = '%s'", p.prefix), 0);
        it_assert_synced(p.c, p.m, p.prefix);
        ck_assert_int_eq(typed_rows(p.m, p.prefix, 1), typed);
        r = verify(&p);
        ck_assert_msg(r.exit_code == 0, "verify exit %d\n%s\n%s", r.exit_code, r.out,
                      r.err);
        it_run_free(&r);
        pair_free(&p);
}
END_TEST

/* The order a consumer of several partitions can meet (a clean-clone run
 * once typed 19 rows with a conflicting location type this way): the
 * run's data before its gate documents. Produced to a file, the metadata
 * lines are moved to the end; the data of that run waits for them
 * (parked), and once they reveal the conflict the rows naming it stay
 * held: nothing is typed with the master's location type 1. */
START_TEST(test_gate_overtaken)
{
        pair_t p;
        char *path, *late, **lines, want[160];
        size_t nl = 0, meta = 0;
        long long run = 0, docs = 0;
        long long typed;
        it_run_t r;
        FILE *f;

        pair_new(&p, "mgo", "--schema 5", "--schema 5 --child 2 --contacts 20");
        it_exec(p.c, "UPDATE civicrm_location_type SET name = 'Domicile' WHERE id = 1");
        typed = it_int(p.c, "SELECT COUNT(*) FROM civicrm_email WHERE "
                       "location_type_id = 1");
        ck_assert_int_gt(typed, 0);
        path = strdup(it_write_file("mgo.jsonl", ""));
        r = it_run("civisync-produce", "-c", p.pconf, "--complete", "--output", path,
                   NULL);
        ck_assert_msg(r.exit_code == 0, "produce exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);
        lines = it_read_lines(path, &nl);
        late = strdup(it_write_file("mgo-late.jsonl", ""));
        f = fopen(late, "w");
        /* and a document of the run that the master refuses on its own
         * merits (a birth date that is no date): held for the gate first,
         * then refused on the retry, it must still be dead-lettered */
        for (size_t i = 0; i < nl && !run; i++) {
                const char *st = strstr(lines[i], "\"civisync_gate_run\":");
                if (st && strstr(st, "civisync_gate_docs"))
                        ck_assert_int_eq(sscanf(st, "\"civisync_gate_run\":%lld,"
                                                "\"civisync_gate_docs\":%lld", &run,
                                                &docs), 2);
        }
        ck_assert_int_gt(run, 0);
        fprintf(f, "{\"key\":\"%s/civicrm_contact/999999\",\"partition\":0,\"value\":"
                "{\"id\":\"%s/civicrm_contact/999999\",\"civisync_format\":1,"
                "\"civisync_prefix\":\"%s\",\"civisync_entity\":\"contact\","
                "\"civisync_table\":\"civicrm_contact\",\"civisync_child_id\":999999,"
                "\"civisync_time_zone\":null,\"contact_type\":\"Individual\","
                "\"birth_date\":\"zzz\",\"civisync_gate_run\":%lld,"
                "\"civisync_gate_docs\":%lld}}\n", p.prefix, p.prefix, p.prefix, run,
                docs);
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < nl; i++) {
                        int is_meta = strstr(lines[i], "/civisync_metadata/") != NULL;
                        if (is_meta == pass) {
                                fputs(lines[i], f);
                                meta += (size_t)is_meta;
                        }
                }
        fclose(f);
        ck_assert_uint_gt(meta, 5);
        /* every entity document names the run and how many gate documents
         * it sent; the reset and end documents do not */
        snprintf(want, sizeof(want), ",\"civisync_gate_docs\":%zu}", meta);
        for (size_t i = 0; i < nl; i++) {
                int entity = !strstr(lines[i], "/civisync_metadata/") &&
                             !strstr(lines[i], "/civisync_control\"");
                ck_assert_msg((strstr(lines[i], want) != NULL) == entity,
                              "stamp %s in %.300s", want, lines[i]);
        }
        it_lines_free(lines, nl);
        r = it_run("civisync-consume", "-c", p.cconf, "--input", late, "--prefix",
                   p.prefix, NULL);
        /* exit 1: a file whose document was refused (the crafted one) */
        ck_assert_msg(r.exit_code == 1, "consume exit %d: %.2000s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "civicrm_contact/999999 can never apply") != NULL,
                      "%.3000s", r.err);
        snprintf(want, sizeof(want), "wait for its metadata documents (0 of %zu "
                 "applied", meta);
        ck_assert_msg(strstr(r.err, want) != NULL, "no '%s' in:\n%.3000s", want, r.err);
        ck_assert_msg(typed_rows(p.m, p.prefix, 1) == 0, "%lld typed:\n%s",
                      typed_rows(p.m, p.prefix, 1), r.err);
        it_run_free(&r);
        ck_assert_int_gt(it_int(p.m, "SELECT COUNT(*) FROM civisync_parked_doc WHERE "
                                "prefix = '%s' AND reason LIKE '%%waits for the "
                                "metadata conflict on civicrm_location_type id 1%%'",
                                p.prefix), 0);
        /* nothing waits for the gate any more: its documents were applied */
        ck_assert_int_eq(it_int(p.m, "SELECT COUNT(*) FROM civisync_parked_doc WHERE "
                                "prefix = '%s' AND reason LIKE '%%metadata documents "
                                "of its producer run%%'", p.prefix), 0);
        ck_assert_int_eq(it_int(p.m, "SELECT COUNT(*) FROM civisync_gate_seen WHERE "
                                "prefix = '%s'", p.prefix), (long long)meta);
        ck_assert_int_eq(it_int(p.m, "SELECT COUNT(*) FROM civisync_dead_letter WHERE "
                                "prefix = '%s' AND doc_key LIKE '%%/civicrm_contact/"
                                "999999' AND error LIKE '%%birth_date%%'", p.prefix), 1);
        ck_assert_int_eq(it_int(p.m, "SELECT COUNT(*) FROM civisync_parked_doc WHERE "
                                "prefix = '%s' AND doc_key LIKE '%%/civicrm_contact/"
                                "999999'", p.prefix), 0);
        free(path);
        free(late);
        pair_free(&p);
}
END_TEST

/* The child's metadata rows of table (a split table's: its metadata row
 * filter's), and how many of their ids the master has. The reserved price
 * set ids a split filter names are the same on both sides. */
static long long meta_rows_on_child(const pair_t *p, const char *table)
{
        const char *only = cs_reg_meta_row_filter(table);

        return it_int(p->c, "SELECT COUNT(*) FROM %s WHERE %s", table,
                      only ? only : "1");
}

static long long meta_rows_on_master(const pair_t *p, const char *table)
{
        const char *only = cs_reg_meta_row_filter(table);

        return it_int(p->m, "SELECT COUNT(*) FROM %s WHERE %s AND id IN (SELECT id "
                      "FROM `%s`.%s WHERE %s)", table, only ? only : "1", p->child,
                      table, only ? only : "1");
}

/* The demo site (child) against an empty site (master), full schema: the
 * 46 metadata rows the demo site adds by design (demo_site_adds: its custom
 * data script's custom groups, fields, option groups and values, test
 * payment processors and their financial-account links; its sample data's
 * contact subtypes, membership types with their reserved price field and
 * options, and activity type "Interview", option value 862) are created on the master with the child's ids by the
 * additive sync, without the payment processors' credentials; after a
 * complete sync the gate reports nothing and verify finds 0 metadata
 * differences in 36 tables. */
START_TEST(test_gate_demo_site)
{
        pair_t p;
        char got[4096], want[160];
        it_run_t r;

        pair_new(&p, "mgf", "--schema full --seed empty-site",
                 "--schema full --seed demo-site");
        for (int i = 0; demo_site_adds[i].table; i++)
                ck_assert_int_eq(meta_rows_on_master(&p, demo_site_adds[i].table),
                                 meta_rows_on_child(&p, demo_site_adds[i].table) -
                                 demo_site_adds[i].rows);
        produce_ok(p.pconf, 1);
        consume_ok(p.cconf);
        query_text(p.m, "SELECT COALESCE(GROUP_CONCAT(CONCAT(table_name, ' id ', "
                   "row_id, ': ', kind, ' ', COALESCE(columns_differ, '')) SEPARATOR "
                   "'; '), '') FROM civisync_metadata_diff", got, sizeof(got));
        ck_assert_str_eq(got, "");
        ck_assert_int_eq(it_int(p.m, "SELECT COUNT(DISTINCT table_name) FROM "
                                "civisync_metadata_check WHERE prefix = '%s'",
                                p.prefix), 36); /* civicrm_uf_join: its rows with no
                                                   entity; the price set tables:
                                                   their reserved rows */
        /* every row the demo site adds is on the master, same id, same
         * content (the gate compares every column but credentials) */
        for (int i = 0; demo_site_adds[i].table; i++)
                ck_assert_msg(meta_rows_on_master(&p, demo_site_adds[i].table) ==
                              meta_rows_on_child(&p, demo_site_adds[i].table),
                              "%s: not every child row is on the master",
                              demo_site_adds[i].table);
        ck_assert_int_eq(it_int(p.m, "SELECT COUNT(*) FROM civicrm_option_value v "
                                "JOIN civicrm_option_group g ON g.id = "
                                "v.option_group_id WHERE v.id = 862 AND v.name = "
                                "'Interview' AND g.name = 'activity_type'"), 1);
        /* credentials never left the child */
        ck_assert_int_gt(it_int(p.c, "SELECT COUNT(*) FROM civicrm_payment_processor "
                                "WHERE COALESCE(user_name, password, signature, "
                                "subject) IS NOT NULL"), 0);
        ck_assert_int_eq(it_int(p.m, "SELECT COUNT(*) FROM civicrm_payment_processor "
                                "WHERE COALESCE(user_name, password, signature, "
                                "subject) IS NOT NULL"), 0);
        ck_assert_int_eq(it_int(p.m, "SELECT COUNT(*) FROM civicrm_payment_processor"),
                         it_int(p.c, "SELECT COUNT(*) FROM civicrm_payment_processor"));
        r = status(&p);
        assert_line(r.out, "metadata differences: 0", NULL);
        it_run_free(&r);
        r = verify(&p);
        ck_assert_msg(r.exit_code == 0, "verify exit %d\n%s\n%s", r.exit_code, r.out,
                      r.err);
        snprintf(want, sizeof(want), "verify %s: metadata: 0 differences in 36 "
                 "tables", p.prefix);
        assert_line(r.out, want, NULL);
        snprintf(want, sizeof(want), "verify %s: 0 differences", p.prefix);
        assert_line(r.out, want, NULL); /* the data itself matches */
        it_run_free(&r);
        pair_free(&p);
}
END_TEST

/* The master's metadata tables (checksums). */
static const char *const meta_tables[] = {
        "civicrm_option_group", "civicrm_option_value", "civicrm_location_type",
        "civicrm_relationship_type", "civicrm_contact_type", "civicrm_country",
        NULL
};

/* Checksum of the master's relationships that prefix maps, all columns. */
static long long mapped_rel_sum(MYSQL *m, const char *prefix)
{
        return it_int(m, "SELECT COALESCE(SUM(CRC32(CONCAT_WS('|', r.id, "
                      "r.contact_id_a, r.contact_id_b, r.relationship_type_id, "
                      "COALESCE(r.start_date, '-'), COALESCE(r.end_date, '-'), "
                      "r.is_active, COALESCE(r.description, '-'), r.is_permission_a_b, "
                      "r.is_permission_b_a, COALESCE(r.case_id, '-')))), 0) FROM "
                      "civicrm_relationship r JOIN mapping_master_%s mm ON "
                      "mm.entity_table = 'civicrm_relationship' AND "
                      "mm.master_entity_id = r.id", prefix);
}

/* Item 4 of issue #14: a child deletes a relationship type (its own
 * relationships of that type cascade away on the child) and an option
 * value; its incremental run, a complete sync and a --resync of its prefix
 * remove its own relationships of that type from the master, but never a
 * metadata row:
 * the master's metadata is byte-identical, the other prefix's
 * relationships of that type are untouched, and the gate reports the
 * deleted rows as master-only. */
START_TEST(test_gate_no_cascade)
{
        pair_t a;
        char child_b[64], prefix_b[40], topic_b[80], extra[160];
        char *pconf_b, *cconf;
        long long before[8], rel_type, ov, b_sum, b_rels, a_rels;
        MYSQL *cb;
        it_run_t r;

        pair_new(&a, "mga", "--schema 5", "--schema 5 --child 3 --contacts 40");
        it_unique(prefix_b, sizeof(prefix_b), "mgb");
        snprintf(topic_b, sizeof(topic_b), "civisync.%s", prefix_b);
        it_unique(child_b, sizeof(child_b), "mgc");
        it_make_db(child_b, "--schema 5 --child 4 --contacts 40");
        it_topic(topic_b, 1);
        pconf_b = strdup(it_producer_conf(prefix_b, child_b, NULL));
        snprintf(extra, sizeof(extra), "prefixes = [\"%s\", \"%s\"];", a.prefix,
                 prefix_b);
        cconf = strdup(it_consumer_conf(a.master, extra));
        cb = it_connect(child_b);
        /* a relationship type both children use */
        rel_type = it_int(a.c, "SELECT relationship_type_id FROM civicrm_relationship "
                          "WHERE relationship_type_id IN (SELECT relationship_type_id "
                          "FROM `%s`.civicrm_relationship) GROUP BY 1 ORDER BY "
                          "COUNT(*) DESC LIMIT 1", child_b);
        ck_assert_int_gt(rel_type, 0);
        ck_assert_int_gt(it_int(cb, "SELECT COUNT(*) FROM civicrm_relationship WHERE "
                                "relationship_type_id = %lld", rel_type), 0);
        produce_ok(a.pconf, 1);
        produce_ok(pconf_b, 1);
        consume_ok(cconf);
        it_assert_synced(a.c, a.m, a.prefix);
        it_assert_synced(cb, a.m, prefix_b);
        for (int i = 0; meta_tables[i]; i++)
                before[i] = it_checksum(a.m, meta_tables[i]);
        b_sum = mapped_rel_sum(a.m, prefix_b);
        b_rels = it_int(a.m, "SELECT COUNT(*) FROM civicrm_relationship r JOIN "
                        "mapping_master_%s mm ON mm.entity_table = "
                        "'civicrm_relationship' AND mm.master_entity_id = r.id "
                        "WHERE r.relationship_type_id = %lld", prefix_b, rel_type);
        ck_assert_int_gt(b_rels, 0);

        /* child A deletes metadata (cascading into its own data) */
        ov = it_int(a.c, "SELECT MIN(v.id) FROM civicrm_option_value v JOIN "
                    "civicrm_option_group g ON g.id = v.option_group_id WHERE "
                    "g.name = 'activity_type'");
        it_exec(a.c, "DELETE FROM civicrm_option_value WHERE id = %lld", ov);
        /* as CiviCRM does: the notes on those relationships (and notes on
         * them) first, then the type, whose foreign key cascades */
        it_exec(a.c, "DELETE n FROM civicrm_note n JOIN civicrm_note p ON "
                "n.entity_table = 'civicrm_note' AND n.entity_id = p.id JOIN "
                "civicrm_relationship r ON p.entity_table = 'civicrm_relationship' "
                "AND p.entity_id = r.id WHERE r.relationship_type_id = %lld", rel_type);
        it_exec(a.c, "DELETE n FROM civicrm_note n JOIN civicrm_relationship r ON "
                "n.entity_table = 'civicrm_relationship' AND n.entity_id = r.id "
                "WHERE r.relationship_type_id = %lld", rel_type);
        it_exec(a.c, "DELETE FROM civicrm_relationship_type WHERE id = %lld", rel_type);
        ck_assert_int_eq(it_int(a.c, "SELECT COUNT(*) FROM civicrm_relationship WHERE "
                                "relationship_type_id = %lld", rel_type), 0);
        /* cron's incremental run (tombstones for the cascaded rows), a
         * complete sync (its sweep), then a --resync replaying the topic */
        produce_ok(a.pconf, 0);
        consume_ok(cconf);
        it_assert_synced(a.c, a.m, a.prefix);
        produce_ok(a.pconf, 1);
        consume_ok(cconf);
        it_assert_synced(a.c, a.m, a.prefix);
        r = it_run("civisync-consume", "-c", cconf, "--resync", a.prefix, "--once",
                   NULL);
        ck_assert_msg(r.exit_code == 0, "resync exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);

        /* A's relationships of that type are gone from the master ... */
        it_assert_synced(a.c, a.m, a.prefix);
        a_rels = it_int(a.m, "SELECT COUNT(*) FROM civicrm_relationship r JOIN "
                        "mapping_master_%s mm ON mm.entity_table = "
                        "'civicrm_relationship' AND mm.master_entity_id = r.id "
                        "WHERE r.relationship_type_id = %lld", a.prefix, rel_type);
        ck_assert_int_eq(a_rels, 0);
        /* ... but no metadata row moved, and B's rows are byte-identical */
        for (int i = 0; meta_tables[i]; i++)
                ck_assert_msg(it_checksum(a.m, meta_tables[i]) == before[i],
                              "%s changed on the master", meta_tables[i]);
        ck_assert_int_eq(it_int(a.m, "SELECT COUNT(*) FROM civicrm_relationship_type "
                                "WHERE id = %lld", rel_type), 1);
        ck_assert_int_eq(mapped_rel_sum(a.m, prefix_b), b_sum);
        it_assert_synced(cb, a.m, prefix_b);
        /* the gate names what the child deleted */
        ck_assert_int_eq(it_int(a.m, "SELECT COUNT(*) FROM civisync_metadata_diff "
                                "WHERE prefix = '%s' AND kind = 'master-only' AND "
                                "((table_name = 'civicrm_relationship_type' AND "
                                "row_id = %lld) OR (table_name = "
                                "'civicrm_option_value' AND row_id = %lld))",
                                a.prefix, rel_type, ov), 2);
        ck_assert_int_eq(it_int(a.m, "SELECT COUNT(*) FROM civisync_metadata_diff "
                                "WHERE prefix = '%s'", prefix_b), 0);
        mysql_close(cb);
        free(pconf_b);
        free(cconf);
        pair_free(&a);
}
END_TEST

Suite *metadata_suite(void)
{
        Suite *s = suite_create("metadata");
        TCase *tc = tcase_create("gate");
        tcase_set_timeout(tc, 600);
        tcase_add_test(tc, test_gate_identical);
        tcase_add_test(tc, test_gate_drift);
        tcase_add_test(tc, test_gate_overtaken);
        tcase_add_test(tc, test_gate_demo_site);
        tcase_add_test(tc, test_gate_no_cascade);
        suite_add_tcase(s, tc);
        return s;
}
