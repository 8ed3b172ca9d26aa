/* test_event_location.c — event locations (issue #16): civicrm_loc_block and its contact-less address, email, phone and IM rows synced once, beside the contacts' own; new, referenced and deleted on the child. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo_site.h"
#include "harness.h"

/* The four tables read by two entities: a contact's rows and a location
 * block's (contact_id NULL). */
static const char *const loc_tables[] = {
        "civicrm_address", "civicrm_email", "civicrm_phone", "civicrm_im", NULL
};

static void loc_produce(const it_demo_t *s, int complete)
{
        it_run_t r = complete ?
                it_run("civisync-produce", "-c", s->pconf, "--complete", NULL) :
                it_run("civisync-produce", "-c", s->pconf, NULL);
        ck_assert_msg(r.exit_code == 0, "produce exit %d: %.1500s", r.exit_code, r.err);
        it_run_free(&r);
}

/* An incremental run: the documents it sends (its log line "incremental
 * sync of prefix P: N document(s) to send"). */
static long long loc_produce_count(const it_demo_t *s)
{
        it_run_t r = it_run("civisync-produce", "-c", s->pconf, NULL);
        const char *p = strstr(r.err, "incremental sync of prefix ");
        long long n = -1;

        ck_assert_msg(r.exit_code == 0, "produce exit %d: %.1500s", r.exit_code, r.err);
        if (p && (p = strstr(p, ": ")))
                n = strtoll(p + 2, NULL, 10);
        it_run_free(&r);
        return n;
}

static void loc_consume(const it_demo_t *s)
{
        it_run_t r = it_run("civisync-consume", "-c", s->cconf, "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "consume exit %d: %.1500s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "rejected to") == NULL, "rejections: %.1500s", r.err);
        ck_assert_msg(strstr(r.err, "end marker counts differ") == NULL,
                      "end counts: %.1500s", strstr(r.err, "end marker counts differ"));
        it_run_free(&r);
}

/* verify's line of one entity: "<name>: <child> child rows, <mapped>
 * mapped: ..."; -1 when absent. */
static void verify_line(const char *out, const char *name, long long *child,
                        long long *mapped)
{
        char head[64];
        const char *p;

        *child = *mapped = -1;
        snprintf(head, sizeof(head), "\n%s: ", name);
        if (!(p = strstr(out, head)))
                return;
        fprintf(stderr, "%.*s\n", (int)strcspn(p + 1, "\n"), p + 1);
        if (sscanf(p + strlen(head), "%lld child rows, %lld mapped", child, mapped) != 2)
                *child = *mapped = -1;
}

/* civisync-verify: 0 differences and nothing parked; each of the four
 * tables' rows counted once, split between the contact's view and the
 * location blocks' (child rows = mapped rows = the child table's rows). */
static void loc_verify_clean(const it_demo_t *s)
{
        char want[128];
        it_run_t r = it_run("civisync-verify", "--child-config", s->pconf,
                            "--master-config", s->cconf, "--no-metadata", NULL);

        snprintf(want, sizeof(want), "verify %s: 0 differences", s->prefix);
        if (r.exit_code != 0 || !strstr(r.out, want))
                fprintf(stderr, "%s\n%s\n", r.out, r.err);
        ck_assert_msg(r.exit_code == 0 && strstr(r.out, want) != NULL,
                      "verify exit %d (output above)", r.exit_code);
        snprintf(want, sizeof(want), "verify %s: ", s->prefix);
        ck_assert_msg(strstr(r.out, " child rows parked") == NULL, "parked: %.300s",
                      strstr(r.out, " child rows parked"));
        for (size_t i = 0; loc_tables[i]; i++) {
                const char *name = loc_tables[i] + strlen("civicrm_");
                char loc[32];
                long long kc, km, lc, lm;

                snprintf(loc, sizeof(loc), "loc_%s", name);
                verify_line(r.out, name, &kc, &km);
                verify_line(r.out, loc, &lc, &lm);
                ck_assert_msg(kc >= 0 && lc >= 0, "%s / %s: no verify line "
                              "(%s %lld, %s %lld)", name, loc, name, kc, loc, lc);
                ck_assert_int_eq(kc, it_int(s->c, "SELECT COUNT(*) FROM %s WHERE "
                                            "contact_id IS NOT NULL", loc_tables[i]));
                ck_assert_int_eq(lc, it_int(s->c, "SELECT COUNT(*) FROM %s WHERE "
                                            "contact_id IS NULL", loc_tables[i]));
                ck_assert_int_eq(km, kc);
                ck_assert_int_eq(lm, lc);
        }
        {
                long long bc, bm;
                verify_line(r.out, "loc_block", &bc, &bm);
                ck_assert_int_eq(bc, it_int(s->c, "SELECT COUNT(*) FROM civicrm_loc_block"));
                ck_assert_int_eq(bm, bc);
        }
        if (strstr(r.out, want))
                fprintf(stderr, "%.*s\n", (int)strcspn(strstr(r.out, want), "\n"),
                        strstr(r.out, want));
        it_run_free(&r);
}

static long long loc_master_id(const it_demo_t *s, const char *table, long long child_id)
{
        return it_int(s->m, "SELECT COALESCE(MAX(master_entity_id), 0) FROM "
                      "mapping_master_%s WHERE entity_table = '%s' AND "
                      "child_entity_id = %lld", s->prefix, table, child_id);
}

/* Each of the four tables: every child row mapped once, the master's
 * contact-less rows exactly the child's (not twice, not zero). */
static void assert_rows_once(const it_demo_t *s)
{
        for (size_t i = 0; loc_tables[i]; i++) {
                const char *t = loc_tables[i];
                ck_assert_int_eq(it_mapped_rows(s->m, s->prefix, t),
                                 it_int(s->c, "SELECT COUNT(*) FROM %s", t));
                /* the prefix's rows on the master (the empty site has
                 * its domain contact's email of its own) */
                ck_assert_int_eq(it_int(s->m, "SELECT COUNT(*) FROM %s t JOIN "
                                        "mapping_master_%s m ON m.entity_table = '%s' "
                                        "AND m.master_entity_id = t.id WHERE "
                                        "t.contact_id IS NULL", t, s->prefix, t),
                                 it_int(s->c, "SELECT COUNT(*) FROM %s WHERE "
                                        "contact_id IS NULL", t));
                ck_assert_int_eq(it_int(s->m, "SELECT COUNT(*) FROM %s t JOIN "
                                        "mapping_master_%s m ON m.entity_table = '%s' "
                                        "AND m.master_entity_id = t.id WHERE "
                                        "t.contact_id IS NOT NULL", t, s->prefix, t),
                                 it_int(s->c, "SELECT COUNT(*) FROM %s WHERE "
                                        "contact_id IS NOT NULL", t));
                ck_assert_int_eq(it_int(s->m, "SELECT COUNT(*) FROM %s WHERE "
                                        "contact_id IS NULL", t),
                                 it_int(s->c, "SELECT COUNT(*) FROM %s WHERE "
                                        "contact_id IS NULL", t));
        }
}

/* Every child event's loc_block_id, and every slot of every location
 * block, names on the master the mapped row of the child's. */
static void assert_links(const it_demo_t *s)
{
        static const char *const slots[][2] = {
                { "address_id", "civicrm_address" }, { "email_id", "civicrm_email" },
                { "phone_id", "civicrm_phone" }, { "im_id", "civicrm_im" },
                { "address_2_id", "civicrm_address" }, { "email_2_id", "civicrm_email" },
                { "phone_2_id", "civicrm_phone" }, { "im_2_id", "civicrm_im" },
        };
        long long wrong = it_int(s->m,
                "SELECT COUNT(*) FROM `%s`.civicrm_event ce "
                "JOIN mapping_master_%s me ON me.entity_table = 'civicrm_event' AND "
                "me.child_entity_id = ce.id JOIN civicrm_event e ON e.id = me.master_entity_id "
                "LEFT JOIN mapping_master_%s ml ON ml.entity_table = 'civicrm_loc_block' AND "
                "ml.child_entity_id = ce.loc_block_id "
                "WHERE NOT (e.loc_block_id <=> ml.master_entity_id)",
                s->child, s->prefix, s->prefix);
        ck_assert_int_eq(wrong, 0);
        ck_assert_int_gt(it_int(s->m, "SELECT COUNT(*) FROM civicrm_event WHERE "
                                "loc_block_id IS NOT NULL"), 0);
        for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++) {
                wrong = it_int(s->m,
                        "SELECT COUNT(*) FROM `%s`.civicrm_loc_block cb "
                        "JOIN mapping_master_%s mb ON mb.entity_table = 'civicrm_loc_block' "
                        "AND mb.child_entity_id = cb.id "
                        "JOIN civicrm_loc_block b ON b.id = mb.master_entity_id "
                        "LEFT JOIN mapping_master_%s mr ON mr.entity_table = '%s' AND "
                        "mr.child_entity_id = cb.`%s` "
                        "WHERE NOT (b.`%s` <=> mr.master_entity_id)",
                        s->child, s->prefix, s->prefix, slots[i][1], slots[i][0],
                        slots[i][0]);
                ck_assert_msg(wrong == 0, "loc_block.%s: %lld wrong", slots[i][0], wrong);
        }
}

/* The demo site's 3 location blocks (3 of its events name them) and their 3
 * contact-less addresses, emails and phones: a complete sync maps each
 * once, links the events and blocks to them, and verify finds nothing;
 * the contacts' own rows are untouched by the second view. */
START_TEST(test_event_location_complete)
{
        it_demo_t s;

        it_demo_setup(&s, "evloc", 2, IT_DEMO_CONTRIBUTE_META);
        ck_assert_int_eq(it_int(s.c, "SELECT COUNT(*) FROM civicrm_loc_block"), 3);
        ck_assert_int_eq(it_int(s.c, "SELECT COUNT(*) FROM civicrm_event WHERE "
                                "loc_block_id IS NOT NULL"), 3);
        ck_assert_int_eq(it_int(s.c, "SELECT COUNT(*) FROM civicrm_address WHERE "
                                "contact_id IS NULL"), 3);
        loc_produce(&s, 1);
        loc_consume(&s);
        ck_assert_int_eq(it_mapped_rows(s.m, s.prefix, "civicrm_loc_block"), 3);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_address WHERE "
                                "contact_id IS NULL"), 3);
        assert_rows_once(&s);
        assert_links(&s);
        it_assert_synced(s.c, s.m, s.prefix);
        loc_verify_clean(&s);

        /* A resync changes nothing and duplicates nothing. */
        long long sum = it_checksum(s.m, "civicrm_address");
        loc_produce(&s, 1);
        loc_consume(&s);
        ck_assert_int_eq(it_checksum(s.m, "civicrm_address"), sum);
        assert_rows_once(&s);
        loc_verify_clean(&s);
        it_demo_teardown(&s);
}
END_TEST

/* Incremental: a new event with its own location (a new block, a
 * contact-less address and email; a group membership names it too), then that block deleted on the child
 * as CiviCRM deletes one (the block, then its rows): the master follows,
 * and a contact's own addresses are unaffected throughout. */
START_TEST(test_event_location_incremental)
{
        it_demo_t s;
        long long addr, email, block, event, m_addr, m_email, m_block, m_event;
        long long own, contact, m_contact, gc;

        it_demo_setup(&s, "evlocinc", 2, IT_DEMO_CONTRIBUTE_META);
        loc_produce(&s, 1);
        loc_consume(&s);
        loc_verify_clean(&s);
        /* Nothing changed: nothing is sent (each view of a table keeps its
         * own fingerprints; sharing one file re-sent every contact). */
        ck_assert_int_eq(loc_produce_count(&s), 0);
        contact = it_int(s.c, "SELECT MIN(contact_id) FROM civicrm_address WHERE "
                         "contact_id IS NOT NULL");
        m_contact = loc_master_id(&s, "civicrm_contact", contact);
        ck_assert_int_gt(m_contact, 0);
        own = it_int(s.m, "SELECT COUNT(*) FROM civicrm_address WHERE contact_id IS NOT NULL");

        /* a new event with its own location */
        it_exec(s.c, "INSERT INTO civicrm_address (contact_id, location_type_id, "
                "street_address, city) VALUES (NULL, 1, '1 Venue Road', 'Venueville')");
        addr = it_int(s.c, "SELECT LAST_INSERT_ID()");
        it_exec(s.c, "INSERT INTO civicrm_email (contact_id, location_type_id, email) "
                "VALUES (NULL, 1, 'venue@example.org')");
        email = it_int(s.c, "SELECT LAST_INSERT_ID()");
        it_exec(s.c, "INSERT INTO civicrm_loc_block (address_id, email_id) VALUES "
                "(%lld, %lld)", addr, email);
        block = it_int(s.c, "SELECT LAST_INSERT_ID()");
        it_exec(s.c, "INSERT INTO civicrm_event (title, event_type_id, is_template, "
                "loc_block_id, start_date) VALUES ('Located event', 1, 0, %lld, "
                "'2027-01-01 10:00:00')", block);
        event = it_int(s.c, "SELECT LAST_INSERT_ID()");
        /* a group membership naming the location (location_id) */
        gc = it_int(s.c, "SELECT MIN(id) FROM civicrm_group_contact");
        ck_assert_int_gt(gc, 0);
        it_exec(s.c, "UPDATE civicrm_group_contact SET location_id = %lld WHERE "
                "id = %lld", block, gc);
        /* and an edit of a contact's own address on the way */
        it_exec(s.c, "UPDATE civicrm_address SET city = 'Contactville' WHERE id = "
                "(SELECT id FROM (SELECT MIN(id) AS id FROM civicrm_address WHERE "
                "contact_id = %lld) x)", contact);
        loc_produce(&s, 0);
        loc_consume(&s);
        m_addr = loc_master_id(&s, "civicrm_address", addr);
        m_email = loc_master_id(&s, "civicrm_email", email);
        m_block = loc_master_id(&s, "civicrm_loc_block", block);
        m_event = loc_master_id(&s, "civicrm_event", event);
        ck_assert_int_gt(m_addr, 0);
        ck_assert_int_gt(m_email, 0);
        ck_assert_int_gt(m_block, 0);
        ck_assert_int_gt(m_event, 0);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_address WHERE id = "
                                "%lld AND contact_id IS NULL AND city = 'Venueville'",
                                m_addr), 1);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_loc_block WHERE "
                                "id = %lld AND address_id = %lld AND email_id = %lld "
                                "AND phone_id IS NULL", m_block, m_addr, m_email), 1);
        ck_assert_int_eq(it_int(s.m, "SELECT loc_block_id FROM civicrm_event WHERE "
                                "id = %lld", m_event), m_block);
        ck_assert_int_eq(it_int(s.m, "SELECT location_id FROM civicrm_group_contact "
                                "WHERE id = %lld", loc_master_id(&s,
                                "civicrm_group_contact", gc)), m_block);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_address WHERE "
                                "contact_id = %lld AND city = 'Contactville'",
                                m_contact), 1);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_address WHERE "
                                "contact_id IS NOT NULL"), own);
        assert_rows_once(&s);
        assert_links(&s);
        loc_verify_clean(&s);

        /* the block deleted on the child (CRM_Core_BAO_Location::deleteLocBlock:
         * the block, then its address and email; the event's FK clears) */
        it_exec(s.c, "DELETE FROM civicrm_loc_block WHERE id = %lld", block);
        it_exec(s.c, "DELETE FROM civicrm_address WHERE id = %lld", addr);
        it_exec(s.c, "DELETE FROM civicrm_email WHERE id = %lld", email);
        loc_produce(&s, 0);
        loc_consume(&s);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_loc_block WHERE "
                                "id = %lld", m_block), 0);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_address WHERE "
                                "id = %lld", m_addr), 0);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_email WHERE "
                                "id = %lld", m_email), 0);
        ck_assert_int_eq(loc_master_id(&s, "civicrm_address", addr), 0);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_event WHERE id = "
                                "%lld AND loc_block_id IS NULL", m_event), 1);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_group_contact "
                                "WHERE id = %lld AND location_id IS NULL",
                                loc_master_id(&s, "civicrm_group_contact", gc)), 1);
        /* the contacts' own addresses: all there, as the child has them */
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_address WHERE "
                                "contact_id IS NOT NULL"), own);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_address WHERE "
                                "contact_id = %lld AND city = 'Contactville'",
                                m_contact), 1);
        assert_rows_once(&s);
        assert_links(&s);
        it_assert_synced(s.c, s.m, s.prefix);
        loc_verify_clean(&s);
        it_demo_teardown(&s);
}
END_TEST

/* civisync-restore rebuilds a lost child with its location block and the
 * block's contact-less rows, each row once beside the contacts' own. */
START_TEST(test_event_location_restore)
{
        char master[64], child[64], prefix[40], topic[80], extra[128];
        char *pconf, *cconf;
        long long addr, email, sums[4], rows[4];
        MYSQL *c;
        it_run_t r;

        it_unique(prefix, sizeof(prefix), "evlocrs");
        snprintf(topic, sizeof(topic), "civisync.%s", prefix);
        it_master_and_child(master, child, sizeof(master), "--child 7 --contacts 30",
                            topic, 1);
        pconf = strdup(it_producer_conf(prefix, child, NULL));
        snprintf(extra, sizeof(extra), "prefixes = [\"%s\"];", prefix);
        cconf = strdup(it_consumer_conf(master, extra));
        c = it_connect(child);
        it_exec(c, "INSERT INTO civicrm_address (contact_id, location_type_id, "
                "street_address) VALUES (NULL, 1, 'Restored hall')");
        addr = it_int(c, "SELECT LAST_INSERT_ID()");
        it_exec(c, "INSERT INTO civicrm_email (contact_id, location_type_id, email) "
                "VALUES (NULL, 1, 'hall@example.org')");
        email = it_int(c, "SELECT LAST_INSERT_ID()");
        it_exec(c, "INSERT INTO civicrm_loc_block (address_id, email_id) VALUES "
                "(%lld, %lld)", addr, email);
        for (int i = 0; loc_tables[i]; i++) {
                sums[i] = it_checksum(c, loc_tables[i]);
                rows[i] = it_int(c, "SELECT COUNT(*) FROM %s", loc_tables[i]);
        }
        ck_assert_int_gt(rows[0], 1);
        mysql_close(c);
        r = it_run("civisync-produce", "-c", pconf, "--complete", NULL);
        ck_assert_msg(r.exit_code == 0, "produce exit %d: %.1500s", r.exit_code, r.err);
        it_run_free(&r);
        r = it_run("civisync-consume", "-c", cconf, "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "consume exit %d: %.1500s", r.exit_code, r.err);
        it_run_free(&r);

        /* the child is lost; a fresh install takes its place */
        c = it_connect(master);
        it_exec(c, "DROP DATABASE `%s`", child);
        mysql_close(c);
        it_make_db(child, "--schema 5");
        r = it_run("civisync-restore", "--master-config", cconf, "--prefix", prefix,
                   "--into", pconf, NULL);
        ck_assert_msg(r.exit_code == 0, "restore exit %d: %.1500s\n%.1500s",
                      r.exit_code, r.out, r.err);
        it_run_free(&r);
        c = it_connect(child);
        for (int i = 0; loc_tables[i]; i++) {
                ck_assert_int_eq(it_int(c, "SELECT COUNT(*) FROM %s", loc_tables[i]),
                                 rows[i]);
                ck_assert_msg(it_checksum(c, loc_tables[i]) == sums[i],
                              "%s differs after the restore", loc_tables[i]);
        }
        ck_assert_int_eq(it_int(c, "SELECT COUNT(*) FROM civicrm_loc_block WHERE "
                                "address_id = %lld AND email_id = %lld", addr, email), 1);
        ck_assert_int_eq(it_int(c, "SELECT COUNT(*) FROM civicrm_address WHERE id = "
                                "%lld AND contact_id IS NULL", addr), 1);
        mysql_close(c);
        free(pconf);
        free(cconf);
}
END_TEST

Suite *event_location_suite(void)
{
        Suite *s = suite_create("eventloc");
        TCase *tc = tcase_create("eventloc");

        tcase_set_timeout(tc, 600);
        tcase_add_test(tc, test_event_location_complete);
        tcase_add_test(tc, test_event_location_incremental);
        tcase_add_test(tc, test_event_location_restore);
        suite_add_tcase(s, tc);
        return s;
}
