/* test_contribute.c — phase 3a, CiviContribute: the demo site's contributions, ledger, price sets, pledges, pages and PCP synced, verified, totalled, resynced and edited. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo_site.h"
#include "harness.h"
#include "kafka_util.h"

/* Every phase-3a table (CHECKSUM TABLE before and after a resync). */
static const char *const contribute_tables[] = {
        "civicrm_contribution_page", "civicrm_contribution_widget", "civicrm_product",
        "civicrm_premiums", "civicrm_premiums_product", "civicrm_price_set",
        "civicrm_price_field", "civicrm_price_field_value", "civicrm_price_set_entity",
        "civicrm_pcp_block", "civicrm_pcp", "civicrm_contribution_recur",
        "civicrm_contribution", "civicrm_contribution_soft",
        "civicrm_contribution_product", "civicrm_financial_trxn", "civicrm_line_item",
        "civicrm_financial_item", "civicrm_entity_financial_trxn", "civicrm_pledge",
        "civicrm_pledge_payment", "civicrm_pledge_block", NULL
};

/* Master: full schema + the installer's empty site, plus the demo site's
 * metadata rows the contributions need that an empty site lacks (2
 * payment processors, 3 membership types: the metadata gate reports
 * them; creating them on the master is the additive metadata sync's job,
 * not this test's). Child: the demo site. */
#define site_setup(s, tag) it_demo_setup((s), (tag), 1, IT_DEMO_CONTRIBUTE_META)

/* CRC32 of "financial type:status:SUM(total_amount):count" per group, on
 * the child, or on the master over this prefix's contributions only. */
static long long totals(const it_demo_t *s, int master)
{
        if (!master)
                return it_int(s->c, "SELECT CRC32(GROUP_CONCAT(g ORDER BY g SEPARATOR "
                              "';')) FROM (SELECT CONCAT_WS(':', financial_type_id, "
                              "contribution_status_id, SUM(total_amount), COUNT(*)) g "
                              "FROM civicrm_contribution GROUP BY financial_type_id, "
                              "contribution_status_id) x");
        return it_int(s->m, "SELECT CRC32(GROUP_CONCAT(g ORDER BY g SEPARATOR ';')) "
                      "FROM (SELECT CONCAT_WS(':', c.financial_type_id, "
                      "c.contribution_status_id, SUM(c.total_amount), COUNT(*)) g FROM "
                      "civicrm_contribution c JOIN mapping_master_%s m ON "
                      "m.entity_table = 'civicrm_contribution' AND m.master_entity_id "
                      "= c.id GROUP BY c.financial_type_id, c.contribution_status_id) x",
                      s->prefix);
}

static void assert_totals(const it_demo_t *s)
{
        ck_assert_int_gt(it_int(s->c, "SELECT COUNT(DISTINCT financial_type_id, "
                                "contribution_status_id) FROM civicrm_contribution"), 2);
        ck_assert_int_eq(totals(s, 1), totals(s, 0));
}

static void checksums(const it_demo_t *s, long long *out)
{
        for (size_t i = 0; contribute_tables[i]; i++)
                out[i] = it_checksum(s->m, contribute_tables[i]);
}

/* The complete sync of the demo site: every phase-3a table verified, the
 * totals per financial type and status equal, each reference kind right,
 * and a resync of the unchanged child changes no row. */
START_TEST(test_contribute_demo_site)
{
        it_demo_t s;
        long long before[32], after[32], page1, block1, contrib1;

        site_setup(&s, "ct");
        ck_assert_int_eq(it_int(s.c, "SELECT COUNT(*) FROM civicrm_contribution"), 93);
        ck_assert_int_eq(it_int(s.c, "SELECT COUNT(*) FROM civicrm_financial_trxn"), 93);
        ck_assert_int_eq(it_int(s.c, "SELECT COUNT(*) FROM civicrm_entity_financial_trxn"), 186);
        ck_assert_int_eq(it_int(s.c, "SELECT COUNT(*) FROM civicrm_line_item"), 93);
        ck_assert_int_eq(it_int(s.c, "SELECT COUNT(*) FROM civicrm_pledge"), 3);
        ck_assert_int_eq(it_int(s.c, "SELECT COUNT(*) FROM civicrm_pledge_payment"), 8);
        ck_assert_int_eq(it_int(s.c, "SELECT COUNT(*) FROM civicrm_contribution_page"), 3);
        ck_assert_int_eq(it_int(s.c, "SELECT COUNT(*) FROM civicrm_pcp"), 1);

        it_demo_produce(&s, 1);
        it_demo_consume(&s);
        /* Since phase 3b the 80 line items of participants and memberships,
         * their 80 financial items and those items' 80 transaction links,
         * and the 3 price set uses by events all apply: nothing parked. */
        it_demo_verify_clean(&s, 0, NULL);
        ck_assert_int_eq(it_mapped_rows(s.m, s.prefix, "civicrm_contribution"), 93);
        ck_assert_int_eq(it_mapped_rows(s.m, s.prefix, "civicrm_financial_trxn"), 93);
        ck_assert_int_eq(it_mapped_rows(s.m, s.prefix, "civicrm_entity_financial_trxn"),
                         186);
        ck_assert_int_eq(it_mapped_rows(s.m, s.prefix, "civicrm_line_item"), 93);
        ck_assert_int_eq(it_mapped_rows(s.m, s.prefix, "civicrm_price_set_entity"), 6);
        ck_assert_int_eq(it_mapped_rows(s.m, s.prefix, "civicrm_pledge_payment"), 8);
        ck_assert_int_eq(it_mapped_rows(s.m, s.prefix, "civicrm_contribution_soft"), 2);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civisync_parked_doc WHERE "
                                "prefix = '%s'", s.prefix), 0);
        assert_totals(&s);

        /* Type-name reference: PCP 1 names contribution page 1 by
         * page_type 'contribute' + page_id; its block by target_entity_type. */
        page1 = it_demo_master_id(&s, "civicrm_contribution_page", 1);
        block1 = it_demo_master_id(&s, "civicrm_pcp_block", 1);
        ck_assert_int_gt(page1, 0);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_pcp WHERE id = %lld "
                                "AND page_type = 'contribute' AND page_id = %lld AND "
                                "pcp_block_id = %lld", it_demo_master_id(&s, "civicrm_pcp", 1),
                                page1, block1), 1);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_pcp_block WHERE id = "
                                "%lld AND target_entity_id = %lld AND entity_id = %lld",
                                block1, page1, page1), 1);
        /* Reserved price sets stay the master's (same ids); the child's own
         * arrive with qualified names; a contribution's line item keeps
         * the reserved field 1 and option 1 verbatim. */
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_price_set WHERE "
                                "is_reserved = 1"), 2);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_price_set WHERE "
                                "name LIKE '%s:%%'", s.prefix), 6);
        contrib1 = it_int(s.c, "SELECT MIN(entity_id) FROM civicrm_line_item WHERE "
                          "entity_table = 'civicrm_contribution' AND price_field_id = 1");
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_line_item WHERE "
                                "entity_table = 'civicrm_contribution' AND entity_id = "
                                "%lld AND contribution_id = %lld AND price_field_id = 1 "
                                "AND price_field_value_id = 1",
                                it_demo_master_id(&s, "civicrm_contribution", contrib1),
                                it_demo_master_id(&s, "civicrm_contribution", contrib1)), 1);
        /* Collision policy: trxn_id is qualified with the prefix. */
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_contribution WHERE "
                                "trxn_id LIKE '%s:%%'", s.prefix), 88);

        /* A resync of the unchanged child rewrites nothing. */
        checksums(&s, before);
        it_demo_produce(&s, 1);
        it_demo_consume(&s);
        checksums(&s, after);
        for (size_t i = 0; contribute_tables[i]; i++)
                ck_assert_msg(before[i] == after[i], "%s changed by a resync",
                              contribute_tables[i]);
        it_demo_verify_clean(&s, 0, NULL);
        it_demo_teardown(&s);
}
END_TEST

/* Mixed edits as CiviCRM makes them, then an incremental sync: 0
 * differences, the deleted contribution's polymorphic dependents gone. */
START_TEST(test_contribute_incremental)
{
        it_demo_t s;
        long long contact, newc, soft, trxn, li, fi, refunded, gone, gone_m, pp;
        long long recur;

        site_setup(&s, "ci");
        it_demo_produce(&s, 1);
        it_demo_consume(&s);
        it_demo_verify_clean(&s, 0, NULL);

        /* A new contribution with a soft credit, a line item, its financial
         * item and the transaction links. */
        contact = it_int(s.c, "SELECT MIN(id) FROM civicrm_contact WHERE contact_type "
                         "= 'Individual' AND id > 1");
        it_exec(s.c, "INSERT INTO civicrm_contribution (contact_id, financial_type_id, "
                "payment_instrument_id, receive_date, total_amount, fee_amount, "
                "net_amount, trxn_id, invoice_id, currency, source, "
                "contribution_status_id) VALUES (%lld, 1, 4, '2026-11-01 10:00:00', "
                "1234.56, 0.00, 1234.56, 'TX-P3A-1', 'INV-P3A-1', 'USD', 'p3a test', 1)",
                contact);
        newc = it_int(s.c, "SELECT LAST_INSERT_ID()");
        it_exec(s.c, "INSERT INTO civicrm_contribution_soft (contribution_id, "
                "contact_id, amount, currency, soft_credit_type_id) VALUES (%lld, "
                "%lld, 1234.56, 'USD', 3)", newc, contact + 1);
        soft = it_int(s.c, "SELECT LAST_INSERT_ID()");
        it_exec(s.c, "INSERT INTO civicrm_financial_trxn (to_financial_account_id, "
                "trxn_date, total_amount, fee_amount, net_amount, currency, is_payment, "
                "trxn_id, status_id, payment_instrument_id) VALUES (6, "
                "'2026-11-01 10:00:00', 1234.56, 0.00, 1234.56, 'USD', 1, 'TX-P3A-1', "
                "1, 4)");
        trxn = it_int(s.c, "SELECT LAST_INSERT_ID()");
        it_exec(s.c, "INSERT INTO civicrm_entity_financial_trxn (entity_table, "
                "entity_id, financial_trxn_id, amount) VALUES ('civicrm_contribution', "
                "%lld, %lld, 1234.56)", newc, trxn);
        it_exec(s.c, "INSERT INTO civicrm_line_item (entity_table, entity_id, "
                "contribution_id, price_field_id, label, qty, unit_price, line_total, "
                "price_field_value_id, financial_type_id) VALUES "
                "('civicrm_contribution', %lld, %lld, 1, 'Contribution Amount', 1, "
                "1234.56, 1234.56, 1, 1)", newc, newc);
        li = it_int(s.c, "SELECT LAST_INSERT_ID()");
        it_exec(s.c, "INSERT INTO civicrm_financial_item (transaction_date, contact_id, "
                "description, amount, currency, financial_account_id, status_id, "
                "entity_table, entity_id) VALUES ('2026-11-01 10:00:00', %lld, "
                "'Contribution Amount', 1234.56, 'USD', 1, 1, 'civicrm_line_item', %lld)",
                contact, li);
        fi = it_int(s.c, "SELECT LAST_INSERT_ID()");
        it_exec(s.c, "INSERT INTO civicrm_entity_financial_trxn (entity_table, "
                "entity_id, financial_trxn_id, amount) VALUES ('civicrm_financial_item', "
                "%lld, %lld, 1234.56)", fi, trxn);

        /* A refund: a new negative transaction linked to a completed
         * contribution, whose status becomes Refunded (7). */
        refunded = it_int(s.c, "SELECT MIN(id) FROM civicrm_contribution WHERE "
                          "contribution_status_id = 1 AND id <> %lld", newc);
        it_exec(s.c, "INSERT INTO civicrm_financial_trxn (from_financial_account_id, "
                "to_financial_account_id, trxn_date, total_amount, net_amount, currency, "
                "is_payment, status_id, payment_instrument_id) VALUES (6, 6, "
                "'2026-11-02 09:00:00', -(SELECT total_amount FROM civicrm_contribution "
                "WHERE id = %lld), 0, 'USD', 1, 7, 4)", refunded);
        trxn = it_int(s.c, "SELECT LAST_INSERT_ID()");
        it_exec(s.c, "INSERT INTO civicrm_entity_financial_trxn (entity_table, "
                "entity_id, financial_trxn_id, amount) SELECT 'civicrm_contribution', "
                "id, %lld, -total_amount FROM civicrm_contribution WHERE id = %lld",
                trxn, refunded);
        it_exec(s.c, "UPDATE civicrm_contribution SET contribution_status_id = 7, "
                "cancel_date = '2026-11-02 09:00:00' WHERE id = %lld", refunded);

        /* An edited pledge payment (no timestamp moves). */
        pp = it_int(s.c, "SELECT MIN(id) FROM civicrm_pledge_payment WHERE "
                    "status_id <> 1");
        it_exec(s.c, "UPDATE civicrm_pledge_payment SET actual_amount = "
                "scheduled_amount, status_id = 1 WHERE id = %lld", pp);

        /* A recurring contribution and its new instalment. */
        it_exec(s.c, "INSERT INTO civicrm_contribution_recur (contact_id, amount, "
                "currency, frequency_unit, frequency_interval, start_date, create_date, "
                "modified_date, processor_id, payment_token_id, trxn_id, invoice_id, "
                "contribution_status_id, payment_processor_id, financial_type_id) VALUES "
                "(%lld, 25.00, 'USD', 'month', 1, '2026-10-01', '2026-10-01', "
                "'2026-10-01', 'sub_123', NULL, 'TX-P3A-R', 'INV-P3A-R', 5, 1, 1)",
                contact);
        recur = it_int(s.c, "SELECT LAST_INSERT_ID()");
        it_exec(s.c, "INSERT INTO civicrm_contribution (contact_id, financial_type_id, "
                "receive_date, total_amount, currency, contribution_recur_id, "
                "contribution_status_id, invoice_id) VALUES (%lld, 1, "
                "'2026-11-01 00:00:00', 25.00, 'USD', %lld, 1, 'INV-P3A-R-2')",
                contact, recur);

        /* A contribution deleted as CiviCRM deletes one: its transaction
         * links, financial items, line items and transactions go too. */
        gone = it_int(s.c, "SELECT MIN(entity_id) FROM civicrm_line_item WHERE "
                      "entity_table = 'civicrm_contribution' AND entity_id <> %lld "
                      "AND entity_id <> %lld", newc, refunded);
        gone_m = it_demo_master_id(&s, "civicrm_contribution", gone);
        ck_assert_int_gt(gone_m, 0);
        ck_assert_int_gt(it_int(s.m, "SELECT COUNT(*) FROM civicrm_line_item WHERE "
                                "entity_table = 'civicrm_contribution' AND entity_id = "
                                "%lld", gone_m), 0);
        it_exec(s.c, "CREATE TEMPORARY TABLE gone_trxn AS SELECT financial_trxn_id id "
                "FROM civicrm_entity_financial_trxn WHERE entity_table = "
                "'civicrm_contribution' AND entity_id = %lld", gone);
        it_exec(s.c, "DELETE e FROM civicrm_entity_financial_trxn e JOIN "
                "civicrm_financial_item f ON e.entity_table = 'civicrm_financial_item' "
                "AND e.entity_id = f.id JOIN civicrm_line_item l ON f.entity_table = "
                "'civicrm_line_item' AND f.entity_id = l.id WHERE l.entity_table = "
                "'civicrm_contribution' AND l.entity_id = %lld", gone);
        it_exec(s.c, "DELETE f FROM civicrm_financial_item f JOIN civicrm_line_item l "
                "ON f.entity_table = 'civicrm_line_item' AND f.entity_id = l.id WHERE "
                "l.entity_table = 'civicrm_contribution' AND l.entity_id = %lld", gone);
        it_exec(s.c, "DELETE FROM civicrm_line_item WHERE entity_table = "
                "'civicrm_contribution' AND entity_id = %lld", gone);
        it_exec(s.c, "DELETE FROM civicrm_entity_financial_trxn WHERE entity_table = "
                "'civicrm_contribution' AND entity_id = %lld", gone);
        it_exec(s.c, "DELETE FROM civicrm_financial_trxn WHERE id IN (SELECT id FROM "
                "gone_trxn)");
        it_exec(s.c, "DELETE FROM civicrm_contribution WHERE id = %lld", gone);

        /* A PCP block of an event: its owner and its type-name target are
         * translated since phase 3b. */
        it_exec(s.c, "INSERT INTO civicrm_pcp_block (entity_table, entity_id, "
                "target_entity_type, target_entity_id, is_active) VALUES "
                "('civicrm_event', 1, 'event', 1, 1)");

        it_demo_produce(&s, 0);
        it_demo_consume(&s);
        it_demo_verify_clean(&s, 0, NULL);
        assert_totals(&s);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_contribution WHERE "
                                "id = %lld", gone_m), 0);
        ck_assert_int_eq(it_int(s.m, "SELECT (SELECT COUNT(*) FROM civicrm_line_item "
                                "WHERE entity_table = 'civicrm_contribution' AND "
                                "entity_id = %lld) + (SELECT COUNT(*) FROM "
                                "civicrm_entity_financial_trxn WHERE entity_table = "
                                "'civicrm_contribution' AND entity_id = %lld)",
                                gone_m, gone_m), 0);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_contribution_soft "
                                "WHERE id = %lld AND contribution_id = %lld",
                                it_demo_master_id(&s, "civicrm_contribution_soft", soft),
                                it_demo_master_id(&s, "civicrm_contribution", newc)), 1);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_contribution WHERE "
                                "id = %lld AND trxn_id = '%s:TX-P3A-1' AND total_amount "
                                "= 1234.56", it_demo_master_id(&s, "civicrm_contribution", newc),
                                s.prefix), 1);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_contribution_recur "
                                "WHERE id = %lld AND payment_token_id IS NULL AND "
                                "processor_id = 'sub_123'",
                                it_demo_master_id(&s, "civicrm_contribution_recur", recur)), 1);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_contribution WHERE "
                                "contribution_recur_id = %lld",
                                it_demo_master_id(&s, "civicrm_contribution_recur", recur)), 1);
        /* A complete sync of the edited child: the end counts match (the
         * event's PCP block counted once), the sweep runs, nothing differs. */
        it_demo_produce(&s, 1);
        it_demo_consume(&s);
        it_demo_verify_clean(&s, 0, NULL);
        it_demo_teardown(&s);
}
END_TEST

/* An owner's tombstone alone removes the rows that point at it by
 * entity_table/entity_id (line items, transaction links) and, below them,
 * the financial items and their links: no foreign key cascades there. */
START_TEST(test_contribute_tombstone_removes_polymorphic)
{
        it_demo_t s;
        char key[160];
        long long contrib, contrib_m, li_m, fi_m;

        site_setup(&s, "cp");
        it_demo_produce(&s, 1);
        it_demo_consume(&s);
        contrib = it_int(s.c, "SELECT MIN(entity_id) FROM civicrm_line_item WHERE "
                         "entity_table = 'civicrm_contribution'");
        contrib_m = it_demo_master_id(&s, "civicrm_contribution", contrib);
        li_m = it_int(s.m, "SELECT MIN(id) FROM civicrm_line_item WHERE entity_table = "
                      "'civicrm_contribution' AND entity_id = %lld", contrib_m);
        fi_m = it_int(s.m, "SELECT MIN(id) FROM civicrm_financial_item WHERE "
                      "entity_table = 'civicrm_line_item' AND entity_id = %lld", li_m);
        ck_assert_int_gt(li_m, 0);
        ck_assert_int_gt(fi_m, 0);
        ck_assert_int_gt(it_int(s.m, "SELECT COUNT(*) FROM civicrm_entity_financial_trxn "
                                "WHERE entity_table = 'civicrm_contribution' AND "
                                "entity_id = %lld", contrib_m), 0);
        snprintf(key, sizeof(key), "%s/civicrm_contribution/%lld", s.prefix, contrib);
        ku_send_str(s.topic, 0, key, NULL);
        ku_flush();
        it_demo_consume(&s);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_contribution WHERE "
                                "id = %lld", contrib_m), 0);
        ck_assert_int_eq(it_int(s.m, "SELECT (SELECT COUNT(*) FROM civicrm_line_item "
                                "WHERE id = %lld) + (SELECT COUNT(*) FROM "
                                "civicrm_financial_item WHERE id = %lld) + (SELECT "
                                "COUNT(*) FROM civicrm_entity_financial_trxn WHERE "
                                "(entity_table = 'civicrm_contribution' AND entity_id = "
                                "%lld) OR (entity_table = 'civicrm_financial_item' AND "
                                "entity_id = %lld))", li_m, fi_m, contrib_m, fi_m), 0);
        /* and their mapping rows */
        ck_assert_int_eq(it_demo_master_id(&s, "civicrm_line_item", it_int(s.c,
                         "SELECT MIN(id) FROM civicrm_line_item WHERE entity_table = "
                         "'civicrm_contribution' AND entity_id = %lld", contrib)), 0);
        it_demo_teardown(&s);
}
END_TEST

/* civisync-restore rebuilds the contribution data of the demo site from
 * the master into a fresh install with the child's ids: type-name
 * references, reserved price sets (kept, never sent) and the ledger come
 * back as they were, participants' and memberships' line items too
 * (phase 3b). */
START_TEST(test_contribute_restore)
{
        it_demo_t s;
        char target[64];
        char *tconf;
        MYSQL *t;
        it_run_t r;

        site_setup(&s, "cr");
        it_demo_produce(&s, 1);
        it_demo_consume(&s);
        it_unique(target, sizeof(target), "crtarget");
        it_make_db(target, "--schema full --seed empty-site");
        t = it_connect(target);
        it_demo_copy_contribute_metadata(t, s.child);
        /* (the child's config file is rewritten for the target: same prefix) */
        tconf = strdup(it_producer_conf(s.prefix, target, NULL));
        r = it_run("civisync-restore", "--master-config", s.cconf, "--prefix",
                   s.prefix, "--into", tconf, NULL);
        if (r.exit_code != 0)
                fprintf(stderr, "%s\n%s\n", r.out, r.err);
        ck_assert_msg(r.exit_code == 0, "restore exit %d (output above)", r.exit_code);
        it_run_free(&r);
        /* PCP: the type-name reference is the child's page id again. */
        ck_assert_int_eq(it_int(t, "SELECT COUNT(*) FROM civicrm_pcp p JOIN `%s`.civicrm_pcp "
                                "c USING (id, contact_id, page_id, page_type, pcp_block_id, "
                                "goal_amount)", s.child), 1);
        ck_assert_int_eq(it_int(t, "SELECT COUNT(*) FROM civicrm_pcp_block p JOIN "
                                "`%s`.civicrm_pcp_block c USING (id, entity_table, "
                                "entity_id, target_entity_type, target_entity_id)",
                                s.child), 1);
        /* Reserved price sets stay; the child's own come back by id and name. */
        ck_assert_int_eq(it_int(t, "SELECT COUNT(*) FROM civicrm_price_set p JOIN "
                                "`%s`.civicrm_price_set c USING (id, name, is_reserved)",
                                s.child), 8);
        /* Contributions, their transactions and links, exactly. */
        ck_assert_int_eq(it_int(t, "SELECT COUNT(*) FROM civicrm_contribution p JOIN "
                                "`%s`.civicrm_contribution c USING (id, contact_id, "
                                "financial_type_id, total_amount, receive_date, "
                                "contribution_status_id) WHERE p.trxn_id <=> c.trxn_id "
                                "AND p.invoice_id <=> c.invoice_id", s.child), 93);
        ck_assert_int_eq(it_int(t, "SELECT COUNT(*) FROM civicrm_entity_financial_trxn p "
                                "JOIN `%s`.civicrm_entity_financial_trxn c USING (id, "
                                "entity_table, entity_id, financial_trxn_id, amount)",
                                s.child), 186);
        ck_assert_int_eq(it_int(t, "SELECT COUNT(*) FROM civicrm_line_item p JOIN "
                                "`%s`.civicrm_line_item c USING (id, entity_table, "
                                "entity_id, contribution_id, price_field_id, "
                                "price_field_value_id, line_total)", s.child), 93);
        mysql_close(t);
        free(tconf);
        it_demo_teardown(&s);
}
END_TEST

Suite *contribute_suite(void)
{
        Suite *s = suite_create("contribute");
        TCase *tc = tcase_create("core");

        tcase_set_timeout(tc, 600);
        tcase_add_test(tc, test_contribute_demo_site);
        tcase_add_test(tc, test_contribute_incremental);
        tcase_add_test(tc, test_contribute_tombstone_removes_polymorphic);
        tcase_add_test(tc, test_contribute_restore);
        suite_add_tcase(s, tc);
        return s;
}
