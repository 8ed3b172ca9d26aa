/* test_fullschema.c — a master and a child with CiviCRM's full 153-table schema: complete sync, edit, hard delete, verify. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo_site.h"
#include "harness.h"

static void produce(const char *conf, int complete)
{
        it_run_t r = complete ?
                it_run("civisync-produce", "-c", conf, "--complete", NULL) :
                it_run("civisync-produce", "-c", conf, NULL);
        ck_assert_msg(r.exit_code == 0, "produce exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);
}

static void consume(const char *conf)
{
        it_run_t r = it_run("civisync-consume", "-c", conf, "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "consume exit %d: %s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "rejected to") == NULL, "rejections: %.1500s", r.err);
        /* Since phase 3b nothing of the demo site waits for a later
         * phase (test_event.c counts the parked documents: 0);
         * it_assert_synced proves that no phase-1 row waits. */
        it_run_free(&r);
}

static void verify_clean(const char *pconf, const char *cconf, const char *prefix)
{
        char want[128];
        /* The data alone: the demo site's metadata differs from the empty
         * site's by design (metadata/test_gate_demo_site asserts exactly
         * how). */
        it_run_t r = it_run("civisync-verify", "--child-config", pconf,
                            "--master-config", cconf, "--no-metadata", NULL);

        snprintf(want, sizeof(want), "verify %s: 0 differences", prefix);
        ck_assert_msg(r.exit_code == 0 && strstr(r.out, want) != NULL,
                      "verify exit %d\n%s\n%s", r.exit_code, r.out, r.err);
        it_run_free(&r);
}

static long long master_id(MYSQL *m, const char *prefix, const char *table,
                           long long child_id)
{
        return it_int(m, "SELECT COALESCE(MAX(master_entity_id), 0) FROM "
                      "mapping_master_%s WHERE entity_table = '%s' AND "
                      "child_entity_id = %lld", prefix, table, child_id);
}

/* Hard-deletes a contact on the child as CiviCRM does: its polymorphic rows
 * (notes on it, on its relationships and on those notes; entity tags)
 * first, then the contact, whose foreign keys cascade. */
static void delete_contact(MYSQL *c, long long id)
{
        it_exec(c, "DELETE n FROM civicrm_note n JOIN civicrm_relationship r ON "
                "n.entity_table = 'civicrm_relationship' AND n.entity_id = r.id "
                "WHERE %lld IN (r.contact_id_a, r.contact_id_b)", id);
        it_exec(c, "DELETE n FROM civicrm_note n JOIN civicrm_note p ON "
                "n.entity_table = 'civicrm_note' AND n.entity_id = p.id WHERE "
                "p.entity_table = 'civicrm_contact' AND p.entity_id = %lld", id);
        it_exec(c, "DELETE FROM civicrm_note WHERE entity_table = 'civicrm_contact' "
                "AND entity_id = %lld", id);
        it_exec(c, "DELETE FROM civicrm_entity_tag WHERE entity_table = "
                "'civicrm_contact' AND entity_id = %lld", id);
        it_exec(c, "DELETE FROM civicrm_contact WHERE id = %lld", id);
}

/* Master: full schema + the installer's empty-site seed. Child: the
 * installer's demo site (all 153 tables populated + 3 custom-value
 * tables). Phase-1 entities sync, the location-block rows (contact_id
 * NULL) too (issue #16); an edit and a hard delete of a contact with
 * dependants in many tables follow; verify finds nothing. */
START_TEST(test_full_schema_demo_site)
{
        it_demo_t s;
        long long victim, victim_m, cascaded, edited, edited_m;
        static const char *const nested[] = { "civicrm_email", "civicrm_phone",
                                              "civicrm_address", NULL };

        /* With the demo site's payment processors and membership types,
         * which its contributions need and an empty site lacks (metadata:
         * see test_contribute.c). */
        it_demo_setup(&s, "fs", 1, IT_DEMO_CONTRIBUTE_META);
        const char *child = s.child, *prefix = s.prefix;
        const char *pconf = s.pconf, *cconf = s.cconf;
        MYSQL *m = s.m, *c = s.c;
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM information_schema.TABLES "
                                "WHERE TABLE_SCHEMA = DATABASE()"), 153);
        ck_assert_int_eq(it_int(c, "SELECT COUNT(*) FROM information_schema.TABLES "
                                "WHERE TABLE_SCHEMA = DATABASE()"), 156);
        /* The master's FKs: far more than a dozen cascade from contacts. */
        ck_assert_int_gt(it_int(m, "SELECT COUNT(*) FROM information_schema."
                                "REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = "
                                "DATABASE() AND REFERENCED_TABLE_NAME = "
                                "'civicrm_contact' AND DELETE_RULE = 'CASCADE'"), 30);

        produce(pconf, 1);
        consume(cconf);
        it_assert_synced(c, m, prefix);
        ck_assert_int_eq(it_mapped_rows(m, prefix, "civicrm_contact"), 201);
        /* Location-block rows (event venues, contact_id NULL) are synced
         * since issue #16, as entities of their own (loc_*): 3 of each on the
         * demo site, each mapped once, the contacts' rows beside them. */
        for (int i = 0; nested[i]; i++) {
                ck_assert_int_eq(it_int(c, "SELECT COUNT(*) FROM %s WHERE "
                                        "contact_id IS NULL", nested[i]), 3);
                ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM mapping_master_%s m "
                                        "JOIN `%s`.%s t ON t.id = m.child_entity_id "
                                        "WHERE m.entity_table = '%s' AND "
                                        "t.contact_id IS NULL", prefix, child,
                                        nested[i], nested[i]), 3);
                ck_assert_int_eq(it_mapped_rows(m, prefix, nested[i]),
                                 it_int(c, "SELECT COUNT(*) FROM %s", nested[i]));
                ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM %s WHERE "
                                        "contact_id IS NULL", nested[i]), 3);
        }
        verify_clean(pconf, cconf, prefix);

        /* An incremental edit. */
        edited = it_int(c, "SELECT MIN(id) FROM civicrm_contact WHERE "
                        "contact_type = 'Individual' AND id > 1");
        it_exec(c, "UPDATE civicrm_contact SET first_name = 'Edited on the demo site', "
                "modified_date = NOW() + INTERVAL 1 MINUTE WHERE id = %lld", edited);
        it_exec(c, "INSERT INTO civicrm_email (contact_id, location_type_id, email, "
                "is_primary) VALUES (%lld, 1, 'edited@example.org', 0)", edited);
        produce(pconf, 0);
        consume(cconf);
        edited_m = master_id(m, prefix, "civicrm_contact", edited);
        ck_assert_int_gt(edited_m, 0);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_contact WHERE id = %lld "
                                "AND first_name = 'Edited on the demo site'", edited_m), 1);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_email WHERE "
                                "contact_id = %lld AND email = 'edited@example.org'",
                                edited_m), 1);

        /* A hard delete of the contact with the most dependants among the
         * synced tables (activities, relationships, memberships, ...): its
         * FKs cascade on the child and, through the consumer, on the master. */
        victim = it_int(c, "SELECT c.id FROM civicrm_contact c WHERE c.id > 1 AND "
                        "NOT EXISTS (SELECT 1 FROM civicrm_membership_type t WHERE "
                        "t.member_of_contact_id = c.id) ORDER BY "
                        "(SELECT COUNT(*) FROM civicrm_activity_contact a WHERE "
                        "a.contact_id = c.id) + (SELECT COUNT(*) FROM "
                        "civicrm_relationship r WHERE c.id IN (r.contact_id_a, "
                        "r.contact_id_b)) + (SELECT COUNT(*) FROM civicrm_group_contact g "
                        "WHERE g.contact_id = c.id) DESC, c.id LIMIT 1");
        victim_m = master_id(m, prefix, "civicrm_contact", victim);
        ck_assert_int_gt(victim_m, 0);
        cascaded = it_int(m, "SELECT (SELECT COUNT(*) FROM civicrm_activity_contact "
                          "WHERE contact_id = %lld) + (SELECT COUNT(*) FROM "
                          "civicrm_relationship WHERE %lld IN (contact_id_a, "
                          "contact_id_b))", victim_m, victim_m);
        ck_assert_int_gt(cascaded, 10);
        delete_contact(c, victim);
        produce(pconf, 0);
        consume(cconf);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_contact WHERE id = %lld",
                                victim_m), 0);
        ck_assert_int_eq(master_id(m, prefix, "civicrm_contact", victim), 0);
        ck_assert_int_eq(it_int(m, "SELECT (SELECT COUNT(*) FROM civicrm_activity_contact "
                                "WHERE contact_id = %lld) + (SELECT COUNT(*) FROM "
                                "civicrm_relationship WHERE %lld IN (contact_id_a, "
                                "contact_id_b))", victim_m, victim_m), 0);
        it_assert_synced(c, m, prefix);
        verify_clean(pconf, cconf, prefix);

        it_demo_teardown(&s);
}
END_TEST

/* Adds columns x1..xN (TINYINT NULL, 0 for existing rows) to table. */
static void widen(MYSQL *db, const char *table, int n)
{
        size_t cap = (size_t)n * 64 + 128, len;
        char *sql = malloc(cap);

        ck_assert_ptr_nonnull(sql);
        len = (size_t)snprintf(sql, cap, "ALTER TABLE %s", table);
        for (int i = 1; i <= n; i++)
                len += (size_t)snprintf(sql + len, cap - len,
                                        "%s ADD COLUMN x%d TINYINT NULL DEFAULT %d",
                                        i > 1 ? "," : "", i, i % 100);
        /* Longer than it_exec's buffer. */
        ck_assert_msg(mysql_query(db, sql) == 0, "widen %s: %s", table,
                      mysql_error(db));
        free(sql);
}

/* A contact document carrying exactly 512 master columns updates on the
 * master (the row buffer once wrote its WHERE-id value one past its end,
 * over the qualified external_identifier it then freed: SIGSEGV). */
START_TEST(test_512_columns_update)
{
        char master[64], child[64], prefix[40], topic[80], extra[128];
        char *pconf, *cconf;
        long long cols, pick, pick_m;
        MYSQL *m, *c;

        it_unique(prefix, sizeof(prefix), "wide");
        snprintf(topic, sizeof(topic), "civisync.%s", prefix);
        it_master_and_child(master, child, sizeof(master),
                            "--child 7 --contacts 20", topic, 1);
        m = it_connect(master);
        c = it_connect(child);
        /* The document: every column but id and the OMIT api_key. */
        cols = it_int(c, "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE "
                      "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'civicrm_contact'");
        widen(c, "civicrm_contact", (int)(514 - cols));
        widen(m, "civicrm_contact", (int)(514 - cols));
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM information_schema.COLUMNS "
                                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = "
                                "'civicrm_contact'"), 514);
        pick = it_int(c, "SELECT MIN(id) FROM civicrm_contact WHERE id > 1");
        it_exec(c, "UPDATE civicrm_contact SET external_identifier = 'wide-1' "
                "WHERE id = %lld", pick);
        pconf = strdup(it_producer_conf(prefix, child, NULL));
        snprintf(extra, sizeof(extra), "prefixes = [\"%s\"];", prefix);
        cconf = strdup(it_consumer_conf(master, extra));
        produce(pconf, 1);
        consume(cconf);
        pick_m = master_id(m, prefix, "civicrm_contact", pick);
        ck_assert_int_gt(pick_m, 0);
        /* An update of the existing row: the single-row path. */
        it_exec(c, "UPDATE civicrm_contact SET x%lld = 77, first_name = 'Wide', "
                "modified_date = NOW() + INTERVAL 1 MINUTE WHERE id = %lld",
                514 - cols, pick);
        produce(pconf, 0);
        consume(cconf);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_contact WHERE id = %lld "
                                "AND first_name = 'Wide' AND x%lld = 77 AND "
                                "external_identifier = '%s:wide-1'", pick_m,
                                514 - cols, prefix), 1);
        verify_clean(pconf, cconf, prefix);
        mysql_close(m);
        mysql_close(c);
        free(pconf);
        free(cconf);
}
END_TEST

/* A master whose extensions add more nullable ON DELETE RESTRICT foreign
 * keys to civicrm_contact than the consumer once kept (8, silently): a
 * hard delete of a contact on the child must release every one of them on
 * the master, then delete. */
START_TEST(test_many_restricting_references)
{
        char master[64], child[64], prefix[40], topic[80], extra[128];
        char *pconf, *cconf;
        long long pick, pick_m;
        const int tables = 12;
        MYSQL *m, *c;

        it_unique(prefix, sizeof(prefix), "rr");
        snprintf(topic, sizeof(topic), "civisync.%s", prefix);
        it_master_and_child(master, child, sizeof(master),
                            "--child 5 --contacts 20", topic, 1);
        m = it_connect(master);
        c = it_connect(child);
        pconf = strdup(it_producer_conf(prefix, child, NULL));
        snprintf(extra, sizeof(extra), "prefixes = [\"%s\"];", prefix);
        cconf = strdup(it_consumer_conf(master, extra));
        produce(pconf, 1);
        consume(cconf);
        pick = it_int(c, "SELECT MIN(id) FROM civicrm_contact WHERE id > 1 AND "
                      "contact_type = 'Individual'");
        pick_m = master_id(m, prefix, "civicrm_contact", pick);
        ck_assert_int_gt(pick_m, 0);
        for (int i = 1; i <= tables; i++) {
                it_exec(m, "CREATE TABLE ext_ref_%d (id INT UNSIGNED NOT NULL "
                        "AUTO_INCREMENT PRIMARY KEY, contact_id INT UNSIGNED NULL, "
                        "CONSTRAINT FK_ext_ref_%d FOREIGN KEY (contact_id) REFERENCES "
                        "civicrm_contact (id) ON DELETE RESTRICT) ENGINE=InnoDB", i, i);
                it_exec(m, "INSERT INTO ext_ref_%d (contact_id) VALUES (%lld)", i,
                        pick_m);
        }
        delete_contact(c, pick);
        produce(pconf, 0);
        consume(cconf);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_contact WHERE id = %lld",
                                pick_m), 0);
        for (int i = 1; i <= tables; i++)
                ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM ext_ref_%d WHERE "
                                        "contact_id IS NULL", i), 1);
        verify_clean(pconf, cconf, prefix);
        mysql_close(m);
        mysql_close(c);
        free(pconf);
        free(cconf);
}
END_TEST

/* Runs the consumer against master and expects it to stop at start-up
 * (exit 1) with a message holding want. */
static void consume_refused(const char *master, const char *want)
{
        it_run_t r = it_run("civisync-consume", "-c",
                            it_consumer_conf(master, "prefixes = [\"none\"];"),
                            "--once", NULL);

        ck_assert_msg(r.exit_code == 1 && strstr(r.err, want) != NULL,
                      "consume exit %d, want '%s' in: %s", r.exit_code, want, r.err);
        it_run_free(&r);
}

/* Capacity limits fail loudly at start-up, naming the table and the
 * limit: a synced master table wider than CS_LIMIT_COLUMNS, and ON DELETE
 * CASCADE chains between synced tables deeper than CS_LIMIT_CASCADE_DEPTH
 * (both were silently cut before: columns at 512, cascades at 4 levels). */
START_TEST(test_limits_fail_at_start_up)
{
        char wide[64], deep[64], want[160];
        static const char *const chain[][3] = {
                /* table, new column, the table it cascades from */
                { "civicrm_website", "x_im_id", "civicrm_im" },
                { "civicrm_phone", "x_website_id", "civicrm_website" },
                { "civicrm_email", "x_phone_id", "civicrm_phone" },
                { "civicrm_address", "x_email_id", "civicrm_email" },
        };
        MYSQL *m;

        it_unique(wide, sizeof(wide), "widemaster");
        it_make_db(wide, "--schema 5");
        m = it_connect(wide);
        /* InnoDB stops at 1017 columns; Aria (no foreign keys) goes on. */
        it_exec(m, "ALTER TABLE civicrm_website DROP FOREIGN KEY "
                "FK_civicrm_website_contact_id");
        it_exec(m, "ALTER TABLE civicrm_website ENGINE=Aria");
        widen(m, "civicrm_website", 1030);
        snprintf(want, sizeof(want), "master table civicrm_website has %lld columns, "
                 "more than CS_LIMIT_COLUMNS (1024)",
                 it_int(m, "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE "
                        "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'civicrm_website'"));
        mysql_close(m);
        consume_refused(wide, want);

        /* contact -> im -> website -> phone -> email -> address: 5 levels. */
        it_unique(deep, sizeof(deep), "deepmaster");
        it_make_db(deep, "--schema 5");
        m = it_connect(deep);
        for (size_t i = 0; i < sizeof(chain) / sizeof(chain[0]); i++)
                it_exec(m, "ALTER TABLE %s ADD COLUMN %s INT UNSIGNED NULL, ADD "
                        "CONSTRAINT FK_%s_%s FOREIGN KEY (%s) REFERENCES %s (id) "
                        "ON DELETE CASCADE", chain[i][0], chain[i][1], chain[i][0],
                        chain[i][1], chain[i][1], chain[i][2]);
        mysql_close(m);
        consume_refused(deep, "master: ON DELETE CASCADE chain civicrm_contact -> "
                        "civicrm_im.contact_id -> civicrm_website.x_im_id -> "
                        "civicrm_phone.x_website_id -> civicrm_email.x_phone_id -> "
                        "civicrm_address.x_email_id is deeper than "
                        "CS_LIMIT_CASCADE_DEPTH (4 levels)");
}
END_TEST

/* One case per test, so that CK_RUN_CASE picks one. */
static void add_case(Suite *s, const char *name, const TTest *test)
{
        TCase *tc = tcase_create(name);

        tcase_set_timeout(tc, 600);
        tcase_add_test(tc, test);
        suite_add_tcase(s, tc);
}

Suite *fullschema_suite(void)
{
        Suite *s = suite_create("fullschema");

        add_case(s, "demo-site", test_full_schema_demo_site);
        add_case(s, "wide", test_512_columns_update);
        add_case(s, "restrict", test_many_restricting_references);
        add_case(s, "limits", test_limits_fail_at_start_up);
        return s;
}
