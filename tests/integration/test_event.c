/* test_event.c — phase 3b, CiviEvent and CiviMember: the demo site's events, discounts, participants (registered-by chains), memberships (logs, payments, owners) and their blocks synced, verified, resynced and edited. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo_site.h"
#include "harness.h"
#include "kafka_util.h"

/* Every phase-3b table (row counts and CHECKSUM TABLE before and after a
 * resync). */
static const char *const event_tables[] = {
        "civicrm_event", "civicrm_discount", "civicrm_participant",
        "civicrm_participant_payment", "civicrm_membership", "civicrm_membership_log",
        "civicrm_membership_payment", "civicrm_membership_block", "civicrm_tell_friend",
        "civicrm_recurring_entity", NULL
};

/* Master: full schema + the installer's empty site, plus the demo site's
 * metadata rows the contributions need that an empty site lacks (2
 * payment processors, 3 membership types: the metadata gate reports
 * them; creating them on the master is the additive metadata sync's job,
 * not this test's). Child: the demo site. */
#define site_setup(s, tag) it_demo_setup((s), (tag), 1, IT_DEMO_CONTRIBUTE_META)

static void checksums(const it_demo_t *s, long long *out)
{
        for (size_t i = 0; event_tables[i]; i++)
                out[i] = it_checksum(s->m, event_tables[i]);
}

/* Each phase-3b table: as many rows of this prefix on the master as on the
 * child. */
static void assert_counts(const it_demo_t *s)
{
        for (size_t i = 0; event_tables[i]; i++) {
                long long child = it_int(s->c, "SELECT COUNT(*) FROM %s", event_tables[i]);
                long long mapped = it_mapped_rows(s->m, s->prefix, event_tables[i]);
                fprintf(stderr, "event: %s child %lld master %lld\n", event_tables[i],
                        child, mapped);
                ck_assert_msg(child == mapped, "%s: child %lld, master %lld",
                              event_tables[i], child, mapped);
        }
}

/* The complete sync of the demo site: every phase-3b table verified and
 * counted, nothing left parked, the references right, and a resync of the
 * unchanged child changes no row. */
START_TEST(test_event_demo_site)
{
        it_demo_t s;
        long long before[16], after[16];

        site_setup(&s, "ev");
        ck_assert_int_eq(it_int(s.c, "SELECT COUNT(*) FROM civicrm_event"), 6);
        ck_assert_int_eq(it_int(s.c, "SELECT COUNT(*) FROM civicrm_participant"), 50);
        ck_assert_int_eq(it_int(s.c, "SELECT COUNT(*) FROM civicrm_participant_payment"), 50);
        ck_assert_int_eq(it_int(s.c, "SELECT COUNT(*) FROM civicrm_membership"), 30);

        it_demo_produce(&s, 1);
        it_demo_consume(&s);
        it_demo_verify_clean(&s, 0, event_tables);
        assert_counts(&s);
        /* Polymorphic owners: tell-a-friend blocks of events, line items of
         * participants and memberships point at the master's rows. */
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_tell_friend t JOIN "
                                "civicrm_event e ON e.id = t.entity_id WHERE "
                                "t.entity_table = 'civicrm_event' AND t.id = %lld",
                                it_demo_master_id(&s, "civicrm_tell_friend", 2)), 1);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_line_item l JOIN "
                                "civicrm_participant p ON p.id = l.entity_id WHERE "
                                "l.entity_table = 'civicrm_participant'"),
                         it_int(s.c, "SELECT COUNT(*) FROM civicrm_line_item WHERE "
                                "entity_table = 'civicrm_participant'"));
        /* Metadata columns: participant role lists and the serialized
         * membership types of a block arrive verbatim. */
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_membership_block WHERE "
                                "membership_types = 'a:2:{i:1;i:0;i:2;i:0;}'"), 1);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_participant WHERE "
                                "role_id IS NOT NULL"),
                         it_int(s.c, "SELECT COUNT(*) FROM civicrm_participant WHERE "
                                "role_id IS NOT NULL"));

        checksums(&s, before);
        it_demo_produce(&s, 1);
        it_demo_consume(&s);
        checksums(&s, after);
        for (size_t i = 0; event_tables[i]; i++)
                ck_assert_msg(before[i] == after[i], "%s changed by a resync",
                              event_tables[i]);
        it_demo_verify_clean(&s, 0, event_tables);
        it_demo_teardown(&s);
}
END_TEST

/* Rows of every polymorphic table on the master whose translated owner
 * (entity_table/entity_id) is gone: must be 0. */
static long long poly_orphans(const it_demo_t *s)
{
        static const char *const polys[][2] = {
                { "civicrm_line_item", "entity" },
                { "civicrm_financial_item", "entity" },
                { "civicrm_entity_financial_trxn", "entity" },
                { "civicrm_price_set_entity", "entity" },
                { "civicrm_pcp_block", "entity" },
                { "civicrm_premiums", "entity" },
                { "civicrm_pledge_block", "entity" },
                { "civicrm_discount", "entity" },
                { "civicrm_membership_block", "entity" },
                { "civicrm_tell_friend", "entity" },
                { "civicrm_uf_join", "entity" },
                { "civicrm_entity_tag", "entity" },
                { "civicrm_note", "entity" },
                { "civicrm_recurring_entity", "entity" },
        };
        static const char *const owners[] = {
                "civicrm_contact", "civicrm_activity", "civicrm_relationship",
                "civicrm_note", "civicrm_contribution", "civicrm_contribution_page",
                "civicrm_line_item", "civicrm_financial_item", "civicrm_financial_trxn",
                "civicrm_event", "civicrm_participant", "civicrm_membership", NULL
        };
        long long n = 0;

        for (size_t i = 0; i < sizeof(polys) / sizeof(polys[0]); i++)
                for (size_t k = 0; owners[k]; k++) {
                        long long o = it_int(s->m, "SELECT COUNT(*) FROM %s d WHERE "
                                             "d.%s_table = '%s' AND NOT EXISTS "
                                             "(SELECT 1 FROM %s o WHERE o.id = "
                                             "d.%s_id)", polys[i][0], polys[i][1],
                                             owners[k], owners[k], polys[i][1]);
                        if (o)
                                fprintf(stderr, "orphans: %lld %s rows name a "
                                        "missing %s\n", o, polys[i][0], owners[k]);
                        n += o;
                }
        return n;
}

/* The edits the issue lists, as CiviCRM makes them, then an incremental
 * sync: a new event (its parent arrives after it), a registration with a
 * registered-by chain (the registrant arrives after one of the people it
 * registered), a cancelled participant, a membership renewal (a new log
 * row) and a related membership whose owner arrives after it, and a
 * deleted event with its participants. 0 differences, no orphan. */
START_TEST(test_event_incremental)
{
        it_demo_t s;
        long long contact, ev_a, ev_b, p_early, p_main, p_late, newc, li;
        long long cancelled, renewed, m_rel, m_owner, gone, gone_m, gone_parts;
        long long logs_before;

        site_setup(&s, "ei");
        it_demo_produce(&s, 1);
        it_demo_consume(&s);
        it_demo_verify_clean(&s, 0, event_tables);
        ck_assert_int_eq(poly_orphans(&s), 0);

        contact = it_int(s.c, "SELECT MIN(id) FROM civicrm_contact WHERE contact_type "
                         "= 'Individual' AND id > 1");

        /* A new event and its parent, created after it (parent_event_id
         * parks until the parent is mapped), with a tell-a-friend block and
         * a registration profile (uf_join). */
        it_exec(s.c, "INSERT INTO civicrm_event (title, event_type_id, start_date, "
                "is_online_registration, is_monetary, is_active, default_role_id, "
                "created_id, currency, is_template) VALUES ('P3B session', 3, "
                "'2026-12-01 10:00:00', 1, 0, 1, 1, %lld, 'USD', 0)", contact);
        ev_a = it_int(s.c, "SELECT LAST_INSERT_ID()");
        it_exec(s.c, "INSERT INTO civicrm_event (title, event_type_id, start_date, "
                "is_active, default_role_id, currency, is_template) VALUES "
                "('P3B conference', 1, '2026-12-01 09:00:00', 1, 1, 'USD', 0)");
        ev_b = it_int(s.c, "SELECT LAST_INSERT_ID()");
        it_exec(s.c, "UPDATE civicrm_event SET parent_event_id = %lld WHERE id = %lld",
                ev_b, ev_a);
        it_exec(s.c, "INSERT INTO civicrm_tell_friend (entity_table, entity_id, title, "
                "is_active) VALUES ('civicrm_event', %lld, 'Tell A Friend', 1)", ev_a);
        it_exec(s.c, "INSERT INTO civicrm_uf_join (is_active, module, entity_table, "
                "entity_id, weight, uf_group_id) VALUES (1, 'CiviEvent', "
                "'civicrm_event', %lld, 1, 12)", ev_a);

        /* A registration: p_main registers p_early (created before it, so it
         * waits for p_main) and p_late; roles are a \x01-separated list. */
        it_exec(s.c, "INSERT INTO civicrm_participant (contact_id, event_id, status_id, "
                "role_id, register_date, source, is_test) VALUES (%lld, %lld, 1, "
                "'1\x01" "2', '2026-11-20 10:00:00', 'p3b', 0)", contact + 1, ev_a);
        p_early = it_int(s.c, "SELECT LAST_INSERT_ID()");
        it_exec(s.c, "INSERT INTO civicrm_participant (contact_id, event_id, status_id, "
                "role_id, register_date, source, is_test, fee_amount, fee_currency) "
                "VALUES (%lld, %lld, 1, '1', '2026-11-20 10:00:00', 'p3b', 0, 50.00, "
                "'USD')", contact, ev_a);
        p_main = it_int(s.c, "SELECT LAST_INSERT_ID()");
        it_exec(s.c, "UPDATE civicrm_participant SET registered_by_id = %lld WHERE "
                "id = %lld", p_main, p_early);
        it_exec(s.c, "INSERT INTO civicrm_participant (contact_id, event_id, status_id, "
                "role_id, register_date, is_test, registered_by_id) VALUES (%lld, %lld, "
                "1, '2', '2026-11-20 10:00:00', 0, %lld)", contact + 2, ev_a, p_main);
        p_late = it_int(s.c, "SELECT LAST_INSERT_ID()");
        /* its payment: a contribution, the participant payment, a line item */
        it_exec(s.c, "INSERT INTO civicrm_contribution (contact_id, financial_type_id, "
                "receive_date, total_amount, currency, contribution_status_id, "
                "invoice_id) VALUES (%lld, 4, '2026-11-20 10:00:00', 50.00, 'USD', 1, "
                "'INV-P3B-1')", contact);
        newc = it_int(s.c, "SELECT LAST_INSERT_ID()");
        it_exec(s.c, "INSERT INTO civicrm_participant_payment (participant_id, "
                "contribution_id) VALUES (%lld, %lld)", p_main, newc);
        it_exec(s.c, "INSERT INTO civicrm_line_item (entity_table, entity_id, "
                "contribution_id, label, qty, unit_price, line_total, financial_type_id) "
                "VALUES ('civicrm_participant', %lld, %lld, 'P3B fee', 1, 50.00, 50.00, "
                "4)", p_main, newc);
        li = it_int(s.c, "SELECT LAST_INSERT_ID()");

        /* A cancelled participant (status 4, Cancelled). */
        cancelled = it_int(s.c, "SELECT MIN(id) FROM civicrm_participant WHERE "
                           "status_id <> 4 AND event_id = 1");
        it_exec(s.c, "UPDATE civicrm_participant SET status_id = 4 WHERE id = %lld",
                cancelled);

        /* A membership renewal: a new period and its log row. */
        renewed = it_int(s.c, "SELECT MIN(id) FROM civicrm_membership");
        logs_before = it_int(s.c, "SELECT COUNT(*) FROM civicrm_membership_log");
        it_exec(s.c, "UPDATE civicrm_membership SET end_date = DATE_ADD(end_date, "
                "INTERVAL 1 YEAR), status_id = 2 WHERE id = %lld", renewed);
        it_exec(s.c, "INSERT INTO civicrm_membership_log (membership_id, status_id, "
                "start_date, end_date, modified_id, modified_date, membership_type_id) "
                "SELECT id, 2, start_date, end_date, %lld, '2026-11-20', "
                "membership_type_id FROM civicrm_membership WHERE id = %lld", contact,
                renewed);
        /* A related membership created before its owner. */
        it_exec(s.c, "INSERT INTO civicrm_membership (contact_id, membership_type_id, "
                "join_date, start_date, end_date, source, status_id, is_test) VALUES "
                "(%lld, 1, '2026-11-20', '2026-11-20', '2027-11-19', 'p3b related', 1, "
                "0)", contact + 3);
        m_rel = it_int(s.c, "SELECT LAST_INSERT_ID()");
        it_exec(s.c, "INSERT INTO civicrm_membership (contact_id, membership_type_id, "
                "join_date, start_date, end_date, source, status_id, is_test) VALUES "
                "(%lld, 1, '2026-11-20', '2026-11-20', '2027-11-19', 'p3b owner', 1, 0)",
                contact + 4);
        m_owner = it_int(s.c, "SELECT LAST_INSERT_ID()");
        it_exec(s.c, "UPDATE civicrm_membership SET owner_membership_id = %lld WHERE "
                "id = %lld", m_owner, m_rel);

        /* A deleted event, as CiviCRM deletes one: its participants' line
         * items (with their financial items and links), its blocks and
         * profile joins, then the event (participants and their payments
         * cascade). */
        gone = it_int(s.c, "SELECT e.id FROM civicrm_event e WHERE e.is_template = 0 "
                      "AND EXISTS (SELECT 1 FROM civicrm_participant p WHERE p.event_id "
                      "= e.id) AND e.id <> 1 ORDER BY e.id LIMIT 1");
        gone_m = it_demo_master_id(&s, "civicrm_event", gone);
        gone_parts = it_int(s.c, "SELECT COUNT(*) FROM civicrm_participant WHERE "
                            "event_id = %lld", gone);
        ck_assert_int_gt(gone_parts, 0);
        it_exec(s.c, "DELETE e FROM civicrm_entity_financial_trxn e JOIN "
                "civicrm_financial_item f ON e.entity_table = 'civicrm_financial_item' "
                "AND e.entity_id = f.id JOIN civicrm_line_item l ON f.entity_table = "
                "'civicrm_line_item' AND f.entity_id = l.id JOIN civicrm_participant p "
                "ON l.entity_table = 'civicrm_participant' AND l.entity_id = p.id "
                "WHERE p.event_id = %lld", gone);
        it_exec(s.c, "DELETE f FROM civicrm_financial_item f JOIN civicrm_line_item l "
                "ON f.entity_table = 'civicrm_line_item' AND f.entity_id = l.id JOIN "
                "civicrm_participant p ON l.entity_table = 'civicrm_participant' AND "
                "l.entity_id = p.id WHERE p.event_id = %lld", gone);
        it_exec(s.c, "DELETE l FROM civicrm_line_item l JOIN civicrm_participant p ON "
                "l.entity_table = 'civicrm_participant' AND l.entity_id = p.id WHERE "
                "p.event_id = %lld", gone);
        it_exec(s.c, "DELETE FROM civicrm_tell_friend WHERE entity_table = "
                "'civicrm_event' AND entity_id = %lld", gone);
        it_exec(s.c, "DELETE FROM civicrm_uf_join WHERE entity_table = "
                "'civicrm_event' AND entity_id = %lld", gone);
        it_exec(s.c, "DELETE FROM civicrm_price_set_entity WHERE entity_table = "
                "'civicrm_event' AND entity_id = %lld", gone);
        it_exec(s.c, "DELETE FROM civicrm_event WHERE id = %lld", gone);

        it_demo_produce(&s, 0);
        it_demo_consume(&s);
        it_demo_verify_clean(&s, 0, event_tables);
        assert_counts(&s);
        ck_assert_int_eq(poly_orphans(&s), 0);
        /* parent event, registered-by chain, roles, payment, line item */
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_event WHERE id = "
                                "%lld AND parent_event_id = %lld AND created_id = %lld",
                                it_demo_master_id(&s, "civicrm_event", ev_a),
                                it_demo_master_id(&s, "civicrm_event", ev_b),
                                it_demo_master_id(&s, "civicrm_contact", contact)), 1);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_participant WHERE "
                                "registered_by_id = %lld AND id IN (%lld, %lld)",
                                it_demo_master_id(&s, "civicrm_participant", p_main),
                                it_demo_master_id(&s, "civicrm_participant", p_early),
                                it_demo_master_id(&s, "civicrm_participant", p_late)), 2);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_participant WHERE "
                                "id = %lld AND role_id = '1\x01" "2'",
                                it_demo_master_id(&s, "civicrm_participant", p_early)), 1);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_participant_payment "
                                "WHERE participant_id = %lld AND contribution_id = %lld",
                                it_demo_master_id(&s, "civicrm_participant", p_main),
                                it_demo_master_id(&s, "civicrm_contribution", newc)), 1);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_line_item WHERE id = "
                                "%lld AND entity_table = 'civicrm_participant' AND "
                                "entity_id = %lld", it_demo_master_id(&s, "civicrm_line_item", li),
                                it_demo_master_id(&s, "civicrm_participant", p_main)), 1);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_uf_join WHERE "
                                "entity_table = 'civicrm_event' AND entity_id = %lld",
                                it_demo_master_id(&s, "civicrm_event", ev_a)), 1);
        /* cancelled, renewed, related membership */
        ck_assert_int_eq(it_int(s.m, "SELECT status_id FROM civicrm_participant WHERE "
                                "id = %lld", it_demo_master_id(&s, "civicrm_participant",
                                                       cancelled)), 4);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_membership_log WHERE "
                                "membership_id = %lld", it_demo_master_id(&s, "civicrm_membership",
                                                                  renewed)),
                         it_int(s.c, "SELECT COUNT(*) FROM civicrm_membership_log WHERE "
                                "membership_id = %lld", renewed));
        ck_assert_int_eq(it_mapped_rows(s.m, s.prefix, "civicrm_membership_log"),
                         logs_before + 1);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_membership WHERE "
                                "id = %lld AND owner_membership_id = %lld",
                                it_demo_master_id(&s, "civicrm_membership", m_rel),
                                it_demo_master_id(&s, "civicrm_membership", m_owner)), 1);
        /* the deleted event, its participants and blocks are gone */
        ck_assert_int_eq(it_int(s.m, "SELECT (SELECT COUNT(*) FROM civicrm_event WHERE "
                                "id = %lld) + (SELECT COUNT(*) FROM civicrm_participant "
                                "WHERE event_id = %lld) + (SELECT COUNT(*) FROM "
                                "civicrm_tell_friend WHERE entity_table = 'civicrm_event' "
                                "AND entity_id = %lld)", gone_m, gone_m, gone_m), 0);

        /* A complete sync of the edited child: nothing differs. */
        it_demo_produce(&s, 1);
        it_demo_consume(&s);
        it_demo_verify_clean(&s, 0, event_tables);
        it_demo_teardown(&s);
}
END_TEST

/* A contact deleted on the child: its participants and memberships, their
 * payments and line items, are deleted on the master (no polymorphic
 * orphan in any polymorphic table). The organization that owns a
 * membership type (member_of_contact_id, NOT NULL, ON DELETE RESTRICT:
 * metadata pointing at data) is deleted too: the master's type survives,
 * handed to the master's domain organization; resyncs are not blocked. */
START_TEST(test_event_contact_deleted)
{
        it_demo_t s;
        long long victim, victim_m, owner, owner_m, domain_contact, types;

        site_setup(&s, "ed");
        /* the demo site's types belong to the domain organization: one
         * gets an organization of its own */
        owner = it_int(s.c, "SELECT MIN(id) FROM civicrm_contact WHERE contact_type = "
                       "'Organization' AND id > 1 AND id NOT IN (SELECT contact_id FROM "
                       "civicrm_domain)");
        ck_assert_int_gt(owner, 1);
        it_exec(s.c, "UPDATE civicrm_membership_type SET member_of_contact_id = %lld "
                "WHERE id = (SELECT MIN(id) FROM civicrm_membership_type)", owner);
        it_demo_produce(&s, 1);
        it_demo_consume(&s);
        it_demo_verify_clean(&s, 0, event_tables);
        /* the contact with participants and memberships (and payments) */
        victim = it_int(s.c, "SELECT p.contact_id FROM civicrm_participant p JOIN "
                        "civicrm_membership m ON m.contact_id = p.contact_id JOIN "
                        "civicrm_participant_payment pp ON pp.participant_id = p.id "
                        "WHERE p.contact_id NOT IN (SELECT member_of_contact_id FROM "
                        "civicrm_membership_type) ORDER BY p.contact_id LIMIT 1");
        if (!victim)
                victim = it_int(s.c, "SELECT p.contact_id FROM civicrm_participant p "
                                "JOIN civicrm_participant_payment pp ON "
                                "pp.participant_id = p.id ORDER BY p.contact_id LIMIT 1");
        ck_assert_int_gt(victim, 1);
        victim_m = it_demo_master_id(&s, "civicrm_contact", victim);
        owner_m = it_demo_master_id(&s, "civicrm_contact", owner);
        ck_assert_int_gt(owner_m, 0);
        /* the master's types name the owner's master row, as the metadata
         * gate creates them (site_setup copied them verbatim) */
        it_exec(s.m, "UPDATE civicrm_membership_type m JOIN `%s`.civicrm_membership_type "
                "c ON c.id = m.id SET m.member_of_contact_id = %lld WHERE "
                "c.member_of_contact_id = %lld", s.child, owner_m, owner);
        types = it_int(s.m, "SELECT COUNT(*) FROM civicrm_membership_type WHERE "
                       "member_of_contact_id = %lld", owner_m);
        ck_assert_int_eq(types, 1);
        domain_contact = it_int(s.m, "SELECT MIN(contact_id) FROM civicrm_domain");

        /* As CiviCRM deletes a contact: its contributions', participants'
         * and memberships' line items, financial items and links, its tags
         * and notes, then the
         * contact (its participants, memberships, contributions and their
         * payments cascade). The organization: the same. */
        for (int k = 0; k < 2; k++) {
                long long who = k ? owner : victim;
                it_exec(s.c, "CREATE TEMPORARY TABLE IF NOT EXISTS gone_li (id INT "
                        "UNSIGNED PRIMARY KEY)");
                it_exec(s.c, "DELETE FROM gone_li");
                it_exec(s.c, "INSERT IGNORE INTO gone_li SELECT l.id FROM civicrm_line_item "
                        "l WHERE (l.entity_table = 'civicrm_participant' AND l.entity_id IN "
                        "(SELECT id FROM civicrm_participant WHERE contact_id = %lld)) OR "
                        "(l.entity_table = 'civicrm_membership' AND l.entity_id IN (SELECT "
                        "id FROM civicrm_membership WHERE contact_id = %lld)) OR "
                        "l.contribution_id IN (SELECT id FROM civicrm_contribution WHERE "
                        "contact_id = %lld)", who, who, who);
                it_exec(s.c, "DELETE e FROM civicrm_entity_financial_trxn e JOIN "
                        "civicrm_financial_item f ON e.entity_table = "
                        "'civicrm_financial_item' AND e.entity_id = f.id WHERE "
                        "f.entity_table = 'civicrm_line_item' AND f.entity_id IN (SELECT "
                        "id FROM gone_li)");
                it_exec(s.c, "DELETE FROM civicrm_financial_item WHERE entity_table = "
                        "'civicrm_line_item' AND entity_id IN (SELECT id FROM gone_li)");
                it_exec(s.c, "DELETE FROM civicrm_line_item WHERE id IN (SELECT id FROM "
                        "gone_li)");
                it_exec(s.c, "DELETE FROM civicrm_entity_financial_trxn WHERE "
                        "entity_table = 'civicrm_contribution' AND entity_id IN (SELECT id "
                        "FROM civicrm_contribution WHERE contact_id = %lld)", who);
                it_exec(s.c, "DELETE FROM civicrm_financial_item WHERE contact_id = %lld",
                        who);
                it_exec(s.c, "DELETE FROM civicrm_entity_tag WHERE entity_table = "
                        "'civicrm_contact' AND entity_id = %lld", who);
                it_exec(s.c, "DELETE FROM civicrm_note WHERE entity_table = "
                        "'civicrm_contact' AND entity_id = %lld", who);
        }
        it_exec(s.c, "DELETE FROM civicrm_contact WHERE id = %lld", victim);
        /* CiviCRM refuses to delete a type's owner: the child's type moves
         * to the domain organization first. The master's type keeps naming
         * the old owner (the gate never updates an existing metadata row),
         * so the master's RESTRICT key would refuse the contact's delete. */
        it_exec(s.c, "UPDATE civicrm_membership_type SET member_of_contact_id = "
                "(SELECT MIN(contact_id) FROM civicrm_domain) WHERE "
                "member_of_contact_id = %lld", owner);
        it_exec(s.c, "DELETE FROM civicrm_contact WHERE id = %lld", owner);
        ck_assert_int_eq(it_int(s.c, "SELECT COUNT(*) FROM civicrm_participant WHERE "
                                "contact_id = %lld", victim), 0);

        it_demo_produce(&s, 0);
        it_demo_consume(&s);
        it_demo_verify_clean(&s, 0, event_tables);
        ck_assert_int_eq(poly_orphans(&s), 0);
        ck_assert_int_eq(it_int(s.m, "SELECT (SELECT COUNT(*) FROM civicrm_contact WHERE "
                                "id IN (%lld, %lld)) + (SELECT COUNT(*) FROM "
                                "civicrm_participant WHERE contact_id = %lld) + (SELECT "
                                "COUNT(*) FROM civicrm_membership WHERE contact_id = "
                                "%lld)", victim_m, owner_m, victim_m, victim_m), 0);
        /* the type stays, owned by the master's domain organization */
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_membership_type WHERE "
                                "member_of_contact_id = %lld", owner_m), 0);
        ck_assert_int_eq(it_int(s.m, "SELECT member_of_contact_id FROM "
                                "civicrm_membership_type WHERE id = (SELECT MIN(id) FROM "
                                "civicrm_membership_type)"), domain_contact);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_membership_type"),
                         it_int(s.c, "SELECT COUNT(*) FROM civicrm_membership_type"));
        /* and a complete resync is not blocked by it */
        it_demo_produce(&s, 1);
        it_demo_consume(&s);
        it_demo_verify_clean(&s, 0, event_tables);
        ck_assert_int_eq(poly_orphans(&s), 0);
        it_demo_teardown(&s);
}
END_TEST

Suite *event_suite(void)
{
        Suite *s = suite_create("event");
        TCase *tc = tcase_create("core");

        tcase_set_timeout(tc, 600);
        tcase_add_test(tc, test_event_demo_site);
        tcase_add_test(tc, test_event_incremental);
        tcase_add_test(tc, test_event_contact_deleted);
        suite_add_tcase(s, tc);
        return s;
}
