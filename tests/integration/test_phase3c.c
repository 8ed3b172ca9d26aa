/* test_phase3c.c — phase 3c: campaigns, surveys, grants, cases and mailings (tests/fixtures/phase3c.sql on the demo site) synced, verified, edited and deleted; the master never queues a synced mailing. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo_site.h"
#include "harness.h"

/* The phase-3c tables, with the rows tests/fixtures/phase3c.sql gives the
 * demo site (which has none). */
static const struct {
        const char *table;
        long long rows;
} p3c_tables[] = {
        { "civicrm_campaign", 5 }, { "civicrm_campaign_group", 3 },
        { "civicrm_survey", 2 }, { "civicrm_grant", 4 }, { "civicrm_case", 3 },
        { "civicrm_case_contact", 4 }, { "civicrm_case_activity", 6 },
        { "civicrm_mailing", 5 }, { "civicrm_mailing_group", 9 },
        { "civicrm_mailing_trackable_url", 3 }, { "civicrm_mailing_abtest", 1 },
};
#define P3C_CNT (sizeof(p3c_tables) / sizeof(p3c_tables[0]))
/* the same tables: verify's lines for them go to the run's log */
static const char *const p3c_log[] = {
        "civicrm_campaign", "civicrm_campaign_group", "civicrm_survey",
        "civicrm_grant", "civicrm_case", "civicrm_case_contact",
        "civicrm_case_activity", "civicrm_mailing", "civicrm_mailing_group",
        "civicrm_mailing_trackable_url", "civicrm_mailing_abtest", NULL
};

/* Runs tests/fixtures/phase3c.sql on db: statements end with ';' at the
 * end of a line, lines starting with "--" are comments. */
static void load_fixture(MYSQL *db)
{
        char path[512], line[8192];
        const char *dir = getenv("CS_TEST_FIXTURES");
        size_t cap = 1 << 16, len = 0;
        char *stmt = malloc(cap);
        FILE *f;

        ck_assert_msg(dir && stmt, "CS_TEST_FIXTURES not set");
        snprintf(path, sizeof(path), "%s/phase3c.sql", dir);
        f = fopen(path, "r");
        ck_assert_msg(f != NULL, "cannot open %s", path);
        while (fgets(line, sizeof(line), f)) {
                size_t n = strlen(line);
                if (!strncmp(line, "--", 2) || (len == 0 && n <= 1))
                        continue;
                ck_assert_msg(len + n + 1 < cap, "%s: statement too long", path);
                memcpy(stmt + len, line, n + 1);
                len += n;
                while (len && (stmt[len - 1] == '\n' || stmt[len - 1] == ' '))
                        len--;
                if (len && stmt[len - 1] == ';') {
                        stmt[len - 1] = '\0';
                        it_exec(db, "%s", stmt);
                        len = 0;
                } else {
                        stmt[len++] = '\n';
                }
        }
        ck_assert_msg(len == 0, "%s: unterminated statement", path);
        fclose(f);
        free(stmt);
}

/* Every phase-3c row of the child is on the master, mapped. */
static void assert_counts(const it_demo_t *s)
{
        for (size_t i = 0; i < P3C_CNT; i++) {
                long long child = it_int(s->c, "SELECT COUNT(*) FROM %s", p3c_tables[i].table);
                long long master = it_mapped_rows(s->m, s->prefix, p3c_tables[i].table);
                fprintf(stderr, "phase3c %s: child %lld, master %lld\n",
                        p3c_tables[i].table, child, master);
                ck_assert_msg(child == master, "%s: child %lld rows, master %lld",
                              p3c_tables[i].table, child, master);
        }
}

/* CiviCRM's mail cron (CRM_Mailing_BAO_MailingJob::runJobs and its
 * runJobs_pre split) only ever reads civicrm_mailing_job: the jobs it
 * would start or continue on the master, for any mailing. */
static long long cron_jobs(MYSQL *db)
{
        return it_int(db, "SELECT COUNT(*) FROM civicrm_mailing_job j JOIN "
                      "civicrm_mailing m ON m.id = j.mailing_id WHERE j.is_test = 0 "
                      "AND ((j.start_date IS NULL AND j.status = 'Scheduled') OR "
                      "(j.status = 'Running' AND j.end_date IS NULL))");
}

static void setup(it_demo_t *s, const char *tag)
{
        it_demo_setup(s, tag, 1, IT_DEMO_CONTRIBUTE_META);
        load_fixture(s->c);
        for (size_t i = 0; i < P3C_CNT; i++)
                ck_assert_int_eq(it_int(s->c, "SELECT COUNT(*) FROM %s",
                                        p3c_tables[i].table), p3c_tables[i].rows);
}

/* The demo site with the fixture into an empty site: every phase-3c table
 * verified, each reference kind right, the delivery log left behind. */
START_TEST(test_phase3c_complete)
{
        it_demo_t s;
        long long m1, g5, camp5;

        setup(&s, "pc");
        /* the child's delivery log: a queued scheduled mailing among them */
        ck_assert_int_eq(cron_jobs(s.c), 1);
        it_demo_produce(&s, 1);
        it_demo_consume(&s);
        it_demo_verify_clean(&s, IT_DEMO_ANY_PARKED, p3c_log);
        assert_counts(&s);

        /* Collision policy: external_identifier qualified, NULL stays NULL. */
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_campaign WHERE "
                                "external_identifier LIKE '%s:CAMP-%%'", s.prefix), 4);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_campaign WHERE id = "
                                "%lld AND external_identifier IS NULL",
                                it_demo_master_id(&s, "civicrm_campaign", 3)), 1);
        /* Parent chain: campaign 2's parent (5) came after it (parked). */
        camp5 = it_demo_master_id(&s, "civicrm_campaign", 5);
        ck_assert_int_gt(camp5, 0);
        ck_assert_int_eq(it_int(s.m, "SELECT parent_id FROM civicrm_campaign WHERE id = %lld",
                                it_demo_master_id(&s, "civicrm_campaign", 2)), camp5);
        /* Survey: result_id names an option group (metadata, verbatim; the
         * gate created it with the child's id); the campaign translated. */
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_survey s JOIN "
                                "civicrm_option_group g ON g.id = s.result_id WHERE s.id = "
                                "%lld AND s.result_id = 100 AND s.campaign_id = %lld AND "
                                "g.name = 'survey_result_voter_id_canvass'",
                                it_demo_master_id(&s, "civicrm_survey", 1),
                                it_demo_master_id(&s, "civicrm_campaign", 2)), 1);
        /* The survey's profile join is translated now (was deferred). */
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_uf_join WHERE "
                                "entity_table = 'civicrm_survey' AND entity_id = %lld",
                                it_demo_master_id(&s, "civicrm_survey", 1)), 1);
        /* Grants with their custom data. */
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_value_grant_review_4 v "
                                "JOIN civicrm_grant g ON g.id = v.entity_id WHERE "
                                "v.reviewer_score_7 IS NOT NULL"), 3);
        /* Mailing recipients: a smart group and an earlier mailing. */
        m1 = it_demo_master_id(&s, "civicrm_mailing", 1);
        g5 = it_demo_master_id(&s, "civicrm_group", 5);
        ck_assert_int_gt(m1, 0);
        ck_assert_int_gt(g5, 0);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_mailing_group WHERE "
                                "mailing_id = %lld AND group_type = 'Exclude' AND "
                                "entity_table = 'civicrm_mailing' AND entity_id = %lld",
                                it_demo_master_id(&s, "civicrm_mailing", 2), m1), 1);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_mailing_group WHERE "
                                "entity_table = 'civicrm_group' AND entity_id = %lld", g5), 3);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_mailing_abtest WHERE "
                                "mailing_id_a = %lld AND mailing_id_b = %lld AND "
                                "mailing_id_c = %lld",
                                it_demo_master_id(&s, "civicrm_mailing", 2),
                                it_demo_master_id(&s, "civicrm_mailing", 3),
                                it_demo_master_id(&s, "civicrm_mailing", 4)), 1);
        /* The mailing's link key never leaves the child. */
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_mailing WHERE hash IS "
                                "NOT NULL"), 0);
        /* Cases: clients and activities under the translated case. */
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_case_activity WHERE "
                                "case_id = %lld AND activity_id IN (%lld, %lld)",
                                it_demo_master_id(&s, "civicrm_case", 1),
                                it_demo_master_id(&s, "civicrm_activity", 1011),
                                it_demo_master_id(&s, "civicrm_activity", 1012)), 2);

        /* Phase-1 columns that became references: case roles name the
         * case, survey responses the campaign (they were cleared). */
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_relationship WHERE "
                                "case_id = %lld AND relationship_type_id = 9",
                                it_demo_master_id(&s, "civicrm_case", 1)), 2);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_activity WHERE "
                                "campaign_id = %lld AND activity_type_id = 28",
                                it_demo_master_id(&s, "civicrm_campaign", 2)), 4);

        /* The delivery log is not synced: the master holds no job, queue or
         * event of the synced mailings, so its cron has nothing to send;
         * the scheduled mailing keeps its schedule as information only. */
        ck_assert_int_eq(it_int(s.m, "SELECT (SELECT COUNT(*) FROM civicrm_mailing_job) + "
                                "(SELECT COUNT(*) FROM civicrm_mailing_recipients) + "
                                "(SELECT COUNT(*) FROM civicrm_mailing_event_queue) + "
                                "(SELECT COUNT(*) FROM civicrm_mailing_event_delivered) + "
                                "(SELECT COUNT(*) FROM civicrm_mailing_spool)"), 0);
        ck_assert_int_eq(cron_jobs(s.m), 0);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_mailing WHERE id = %lld "
                                "AND scheduled_date = '2036-12-15 09:00:00' AND "
                                "is_completed = 0", it_demo_master_id(&s, "civicrm_mailing", 5)), 1);
        it_demo_teardown(&s);
}
END_TEST

/* Edits as CiviCRM makes them, then incremental syncs: a case activity
 * added, a campaign re-parented, a scheduled mailing rescheduled, a case
 * deleted (its activities with it, as CiviCRM's permanent delete does) and
 * a case moved to the trash. */
START_TEST(test_phase3c_incremental_and_case_delete)
{
        it_demo_t s;
        long long case2_m, act1013_m, act1014_m;

        setup(&s, "pi");
        it_demo_produce(&s, 1);
        it_demo_consume(&s);
        it_demo_verify_clean(&s, IT_DEMO_ANY_PARKED, p3c_log);

        case2_m = it_demo_master_id(&s, "civicrm_case", 2);
        act1013_m = it_demo_master_id(&s, "civicrm_activity", 1013);
        act1014_m = it_demo_master_id(&s, "civicrm_activity", 1014);
        ck_assert_int_gt(case2_m, 0);
        ck_assert_int_eq(it_int(s.m, "SELECT (SELECT COUNT(*) FROM civicrm_case_contact "
                                "WHERE case_id = %lld) + (SELECT COUNT(*) FROM "
                                "civicrm_case_activity WHERE case_id = %lld)", case2_m,
                                case2_m), 1 + 2);

        /* A follow-up on case 1 (the case's modified_date moves with it). */
        it_exec(s.c, "INSERT INTO civicrm_activity (id, activity_type_id, subject, "
                "activity_date_time, status_id, priority_id, is_test, is_auto, "
                "is_current_revision, is_deleted, created_date, modified_date) VALUES "
                "(1021, 14, 'Follow up: keys handed over', '2026-03-05 10:00:00', 2, 2, 0, "
                "0, 1, 0, '2026-03-05 10:00:00', '2026-03-05 10:00:00')");
        it_exec(s.c, "INSERT INTO civicrm_activity_contact (activity_id, contact_id, "
                "record_type_id) VALUES (1021, 5, 2), (1021, 60, 3)");
        it_exec(s.c, "INSERT INTO civicrm_case_activity (case_id, activity_id) VALUES (1, 1021)");
        it_exec(s.c, "UPDATE civicrm_case SET modified_date = '2026-03-05 10:00:00' WHERE id = 1");
        /* campaign 3 moves under 5; a new campaign without parent */
        it_exec(s.c, "UPDATE civicrm_campaign SET parent_id = 5, last_modified_date = "
                "'2026-07-01 10:00:00' WHERE id = 3");
        it_exec(s.c, "INSERT INTO civicrm_campaign (id, name, title, external_identifier, "
                "is_active) VALUES (6, 'autumn_gala', 'Autumn gala', 'CAMP-GALA', 1)");
        /* the scheduled mailing is rescheduled and excludes the A/B winner */
        it_exec(s.c, "UPDATE civicrm_mailing SET scheduled_date = '2036-12-20 09:00:00' "
                "WHERE id = 5");
        it_exec(s.c, "UPDATE civicrm_mailing_job SET scheduled_date = "
                "'2036-12-20 09:00:00' WHERE mailing_id = 5");
        it_exec(s.c, "INSERT INTO civicrm_mailing_group (mailing_id, group_type, "
                "entity_table, entity_id) VALUES (5, 'Exclude', 'civicrm_mailing', 4)");
        /* Case 2 deleted as CRM_Case_BAO_Case::deleteCase(id, FALSE) does:
         * its activities deleted (their case links and contacts cascade),
         * then the case (its clients and case roles cascade). */
        it_exec(s.c, "DELETE a FROM civicrm_activity a JOIN civicrm_case_activity ca ON "
                "ca.activity_id = a.id WHERE ca.case_id = 2");
        it_exec(s.c, "DELETE FROM civicrm_case WHERE id = 2");
        /* Case 3 moved to the trash: case and activities is_deleted = 1. */
        it_exec(s.c, "UPDATE civicrm_case SET is_deleted = 1 WHERE id = 3");
        it_exec(s.c, "UPDATE civicrm_activity a JOIN civicrm_case_activity ca ON "
                "ca.activity_id = a.id SET a.is_deleted = 1 WHERE ca.case_id = 3");

        it_demo_produce(&s, 0);
        it_demo_consume(&s);
        it_demo_verify_clean(&s, IT_DEMO_ANY_PARKED, p3c_log);
        assert_counts(&s);

        /* The deleted case: its clients, case links and activities gone. */
        ck_assert_int_eq(it_int(s.m, "SELECT (SELECT COUNT(*) FROM civicrm_case WHERE id = "
                                "%lld) + (SELECT COUNT(*) FROM civicrm_case_contact WHERE "
                                "case_id = %lld) + (SELECT COUNT(*) FROM "
                                "civicrm_case_activity WHERE case_id = %lld) + (SELECT "
                                "COUNT(*) FROM civicrm_activity WHERE id IN (%lld, %lld))",
                                case2_m, case2_m, case2_m, act1013_m, act1014_m), 0);
        ck_assert_int_eq(it_demo_master_id(&s, "civicrm_case", 2), 0);
        /* The trashed case and its activities: kept, marked deleted. */
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_case c JOIN "
                                "civicrm_case_activity ca ON ca.case_id = c.id JOIN "
                                "civicrm_activity a ON a.id = ca.activity_id WHERE c.id = "
                                "%lld AND c.is_deleted = 1 AND a.is_deleted = 1",
                                it_demo_master_id(&s, "civicrm_case", 3)), 2);
        /* the new case activity, the re-parented and the new campaign */
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_case_activity WHERE "
                                "case_id = %lld AND activity_id = %lld",
                                it_demo_master_id(&s, "civicrm_case", 1),
                                it_demo_master_id(&s, "civicrm_activity", 1021)), 1);
        ck_assert_int_eq(it_int(s.m, "SELECT parent_id FROM civicrm_campaign WHERE id = %lld",
                                it_demo_master_id(&s, "civicrm_campaign", 3)),
                         it_demo_master_id(&s, "civicrm_campaign", 5));
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_campaign WHERE "
                                "external_identifier = '%s:CAMP-GALA'", s.prefix), 1);
        /* still nothing for the master's cron */
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_mailing_job"), 0);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_mailing WHERE id = %lld "
                                "AND scheduled_date = '2036-12-20 09:00:00'",
                                it_demo_master_id(&s, "civicrm_mailing", 5)), 1);

        /* A complete sync of the edited child: nothing differs. */
        it_demo_produce(&s, 1);
        it_demo_consume(&s);
        it_demo_verify_clean(&s, IT_DEMO_ANY_PARKED, p3c_log);
        it_demo_teardown(&s);
}
END_TEST

/* CiviCRM's runtime triggers for cases and contacts, as
 * CRM_Core_DAO::triggerRebuild creates them (none of the DDL or seed
 * files has them): the timestamp triggers (created_date on insert; a
 * contact's modified_date when its emails change) and the case's static
 * triggers (a case activity inserted, an activity updated or deleted bump
 * the case's modified_date). */
static void civicrm_triggers(MYSQL *db)
{
        it_exec(db, "CREATE TRIGGER civicrm_case_before_insert BEFORE INSERT ON "
                "civicrm_case FOR EACH ROW SET NEW.created_date = CURRENT_TIMESTAMP");
        it_exec(db, "CREATE TRIGGER civicrm_case_activity_after_insert AFTER INSERT "
                "ON civicrm_case_activity FOR EACH ROW UPDATE civicrm_case SET "
                "modified_date = CURRENT_TIMESTAMP WHERE id = NEW.case_id");
        it_exec(db, "CREATE TRIGGER civicrm_activity_before_update BEFORE UPDATE ON "
                "civicrm_activity FOR EACH ROW UPDATE civicrm_case SET modified_date "
                "= CURRENT_TIMESTAMP WHERE id IN (SELECT ca.case_id FROM "
                "civicrm_case_activity ca WHERE ca.activity_id = OLD.id)");
        it_exec(db, "CREATE TRIGGER civicrm_activity_before_delete BEFORE DELETE ON "
                "civicrm_activity FOR EACH ROW UPDATE civicrm_case SET modified_date "
                "= CURRENT_TIMESTAMP WHERE id IN (SELECT ca.case_id FROM "
                "civicrm_case_activity ca WHERE ca.activity_id = OLD.id)");
        it_exec(db, "CREATE TRIGGER civicrm_contact_before_insert BEFORE INSERT ON "
                "civicrm_contact FOR EACH ROW SET NEW.created_date = CURRENT_TIMESTAMP");
        it_exec(db, "CREATE TRIGGER civicrm_email_after_insert AFTER INSERT ON "
                "civicrm_email FOR EACH ROW UPDATE civicrm_contact SET modified_date "
                "= CURRENT_TIMESTAMP WHERE id = NEW.contact_id");
}

/* The cases' timestamps, in child id order ("child id:created:modified;
 * ..."), on the child or (master) this prefix's on the master. Into out. */
static const char *case_stamps(const it_demo_t *s, int master, char *out, size_t size)
{
        char sql[512];
        MYSQL *db = master ? s->m : s->c;
        MYSQL_RES *res;
        MYSQL_ROW row;

        if (master)
                snprintf(sql, sizeof(sql), "SELECT GROUP_CONCAT(CONCAT_WS(':', "
                         "m.child_entity_id, c.created_date, c.modified_date) ORDER BY "
                         "m.child_entity_id SEPARATOR ';') FROM civicrm_case c JOIN "
                         "mapping_master_%s m ON m.entity_table = 'civicrm_case' AND "
                         "m.master_entity_id = c.id", s->prefix);
        else
                snprintf(sql, sizeof(sql), "SELECT GROUP_CONCAT(CONCAT_WS(':', id, "
                         "created_date, modified_date) ORDER BY id SEPARATOR ';') "
                         "FROM civicrm_case");
        ck_assert_msg(mysql_query(db, sql) == 0, "%s: %s", sql, mysql_error(db));
        res = mysql_store_result(db);
        ck_assert_msg(res != NULL, "%s: %s", sql, mysql_error(db));
        row = mysql_fetch_row(res);
        snprintf(out, size, "%s", row && row[0] ? row[0] : "(none)");
        mysql_free_result(res);
        return out;
}

/* The cases' timestamps are the same on both sides. */
static void assert_case_stamps(const it_demo_t *s)
{
        char c[512], m[512];

        case_stamps(s, 0, c, sizeof(c));
        case_stamps(s, 1, m, sizeof(m));
        fprintf(stderr, "cases child  %s\ncases master %s\n", c, m);
        ck_assert_str_eq(m, c);
}

/* A master with CiviCRM's triggers: writing a case's activities there
 * bumps the case's modified_date (and an insert sets created_date), yet
 * the master still equals the child, complete and incremental: a new case
 * activity, an activity of a case edited without the case (a child
 * without triggers), a case activity's activity deleted. */
START_TEST(test_phase3c_case_master_triggers)
{
        it_demo_t s;

        setup(&s, "pt");
        civicrm_triggers(s.m);
        it_demo_produce(&s, 1);
        it_demo_consume(&s);
        it_demo_verify_clean(&s, IT_DEMO_ANY_PARKED, p3c_log);
        assert_case_stamps(&s);

        /* a follow-up activity on case 1 (the case's modified_date moves) */
        it_exec(s.c, "INSERT INTO civicrm_activity (id, activity_type_id, subject, "
                "activity_date_time, status_id, priority_id, is_test, is_auto, "
                "is_current_revision, is_deleted, created_date, modified_date) VALUES "
                "(1021, 14, 'Follow up: keys handed over', '2026-03-05 10:00:00', 2, 2, 0, "
                "0, 1, 0, '2026-03-05 10:00:00', '2026-03-05 10:00:00')");
        it_exec(s.c, "INSERT INTO civicrm_case_activity (case_id, activity_id) VALUES (1, 1021)");
        it_exec(s.c, "UPDATE civicrm_case SET modified_date = '2026-03-05 10:00:00' WHERE id = 1");
        /* case 3's activity edited; the case itself is not (no trigger on
         * this child): on the master the activity's update bumps case 3 */
        it_exec(s.c, "UPDATE civicrm_activity SET subject = 'Intake call (2)', "
                "modified_date = '2026-05-07 10:00:00' WHERE id = 1015");
        /* case 2's activity deleted as the activity's own document */
        it_exec(s.c, "DELETE FROM civicrm_activity WHERE id = 1014");
        it_demo_produce(&s, 0);
        it_demo_consume(&s);
        it_demo_verify_clean(&s, IT_DEMO_ANY_PARKED, p3c_log);
        assert_case_stamps(&s);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_case_activity WHERE "
                                "case_id = %lld AND activity_id = %lld",
                                it_demo_master_id(&s, "civicrm_case", 1),
                                it_demo_master_id(&s, "civicrm_activity", 1021)), 1);
        /* The triggers are live on the master: a case activity written
         * there by hand moves its case's modified_date off the child's. */
        it_exec(s.m, "INSERT INTO civicrm_case_activity (case_id, activity_id) VALUES "
                "(%lld, %lld)", it_demo_master_id(&s, "civicrm_case", 3),
                it_demo_master_id(&s, "civicrm_activity", 1021));
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_case WHERE id = %lld "
                                "AND modified_date > '2026-06-01'",
                                it_demo_master_id(&s, "civicrm_case", 3)), 1);
        it_demo_teardown(&s);
}
END_TEST

/* Entity tags and notes on the owners CiviCRM allows beyond phase 1: tags
 * on cases (option group tag_used_for), notes on participants and
 * contributions (CRM_Core_BAO_Note::entityTables). Translated through the
 * owner's mapping (a note's owner that comes later in the registry order
 * parks it until then); an owner deleted on the child takes them along on
 * the master, as CiviCRM does on the child. */
static const char *const tag_note_log[] = {
        "civicrm_entity_tag", "civicrm_note", "civicrm_case", "civicrm_participant",
        "civicrm_contribution", NULL
};

START_TEST(test_phase3c_tag_note_owners)
{
        it_demo_t s;
        long long part, contrib, tag_c1, tag_c2, note_p, note_c, case2_m, part_m,
                contrib_m, part2, note_p2, part2_m;

        setup(&s, "po");
        part = it_int(s.c, "SELECT MIN(id) FROM civicrm_participant");
        /* a contribution of its own (no ledger rows), deleted below */
        it_exec(s.c, "INSERT INTO civicrm_contribution (contact_id, financial_type_id, "
                "receive_date, total_amount, currency, contribution_status_id) VALUES "
                "(5, 1, '2026-06-01 10:00:00', 10.00, 'USD', 1)");
        contrib = it_int(s.c, "SELECT LAST_INSERT_ID()");
        it_exec(s.c, "INSERT INTO civicrm_entity_tag (entity_table, entity_id, tag_id) "
                "VALUES ('civicrm_case', 1, 1)");
        tag_c1 = it_int(s.c, "SELECT LAST_INSERT_ID()");
        it_exec(s.c, "INSERT INTO civicrm_entity_tag (entity_table, entity_id, tag_id) "
                "VALUES ('civicrm_case', 2, 2)");
        tag_c2 = it_int(s.c, "SELECT LAST_INSERT_ID()");
        it_exec(s.c, "INSERT INTO civicrm_note (entity_table, entity_id, note, contact_id, "
                "subject, created_date, modified_date) VALUES ('civicrm_participant', "
                "%lld, 'Wheelchair access', 5, 'Access', '2026-06-01 10:00:00', "
                "'2026-06-01 10:00:00')", part);
        note_p = it_int(s.c, "SELECT LAST_INSERT_ID()");
        it_exec(s.c, "INSERT INTO civicrm_note (entity_table, entity_id, note, contact_id, "
                "subject, created_date, modified_date) VALUES ('civicrm_contribution', "
                "%lld, 'Paid by cheque at the door', 5, 'Payment', '2026-06-01 10:00:00', "
                "'2026-06-01 10:00:00')", contrib);
        note_c = it_int(s.c, "SELECT LAST_INSERT_ID()");
        /* a registration of its own (no payment), deleted below */
        it_exec(s.c, "INSERT INTO civicrm_participant (contact_id, event_id, status_id, "
                "role_id, register_date, source, is_test) VALUES (5, 1, 1, '1', "
                "'2026-06-01 10:00:00', 'phone', 0)");
        part2 = it_int(s.c, "SELECT LAST_INSERT_ID()");
        it_exec(s.c, "INSERT INTO civicrm_note (entity_table, entity_id, note, contact_id, "
                "subject, created_date, modified_date) VALUES ('civicrm_participant', "
                "%lld, 'Vegetarian', 5, 'Diet', '2026-06-01 10:00:00', "
                "'2026-06-01 10:00:00')", part2);
        note_p2 = it_int(s.c, "SELECT LAST_INSERT_ID()");

        it_demo_produce(&s, 1);
        it_demo_consume(&s);
        it_demo_verify_clean(&s, IT_DEMO_ANY_PARKED, tag_note_log);
        case2_m = it_demo_master_id(&s, "civicrm_case", 2);
        part_m = it_demo_master_id(&s, "civicrm_participant", part);
        contrib_m = it_demo_master_id(&s, "civicrm_contribution", contrib);
        ck_assert_int_gt(case2_m, 0);
        ck_assert_int_gt(part_m, 0);
        ck_assert_int_gt(contrib_m, 0);
        part2_m = it_demo_master_id(&s, "civicrm_participant", part2);
        ck_assert_int_gt(part2_m, 0);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_note WHERE id = %lld "
                                "AND entity_table = 'civicrm_participant' AND entity_id = "
                                "%lld", it_demo_master_id(&s, "civicrm_note", note_p2),
                                part2_m), 1);
        /* each on its owner's master row */
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_entity_tag WHERE id = "
                                "%lld AND entity_table = 'civicrm_case' AND entity_id = "
                                "%lld", it_demo_master_id(&s, "civicrm_entity_tag", tag_c1),
                                it_demo_master_id(&s, "civicrm_case", 1)), 1);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_entity_tag WHERE id = "
                                "%lld AND entity_table = 'civicrm_case' AND entity_id = "
                                "%lld", it_demo_master_id(&s, "civicrm_entity_tag", tag_c2),
                                case2_m), 1);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_note WHERE id = %lld "
                                "AND entity_table = 'civicrm_participant' AND entity_id = "
                                "%lld", it_demo_master_id(&s, "civicrm_note", note_p),
                                part_m), 1);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_note WHERE id = %lld "
                                "AND entity_table = 'civicrm_contribution' AND entity_id = "
                                "%lld", it_demo_master_id(&s, "civicrm_note", note_c),
                                contrib_m), 1);

        /* Case 2 deleted as CRM_Case_BAO_Case::deleteCase(id, FALSE) does
         * (its activities, then the case; the DAO delete's preDelete
         * listener removes its tags); the contribution as
         * deleteContribution does (its note, then the contribution). */
        it_exec(s.c, "DELETE a FROM civicrm_activity a JOIN civicrm_case_activity ca ON "
                "ca.activity_id = a.id WHERE ca.case_id = 2");
        it_exec(s.c, "DELETE FROM civicrm_entity_tag WHERE entity_table = 'civicrm_case' "
                "AND entity_id = 2");
        it_exec(s.c, "DELETE FROM civicrm_case WHERE id = 2");
        it_exec(s.c, "DELETE FROM civicrm_note WHERE entity_table = "
                "'civicrm_contribution' AND entity_id = %lld", contrib);
        it_exec(s.c, "DELETE FROM civicrm_contribution WHERE id = %lld", contrib);
        /* the registration as deleteParticipant does (its note, then it) */
        it_exec(s.c, "DELETE FROM civicrm_note WHERE entity_table = "
                "'civicrm_participant' AND entity_id = %lld", part2);
        it_exec(s.c, "DELETE FROM civicrm_participant WHERE id = %lld", part2);
        it_demo_produce(&s, 0);
        it_demo_consume(&s);
        it_demo_verify_clean(&s, IT_DEMO_ANY_PARKED, tag_note_log);
        ck_assert_int_eq(it_int(s.m, "SELECT (SELECT COUNT(*) FROM civicrm_entity_tag "
                                "WHERE entity_table = 'civicrm_case' AND entity_id = %lld) "
                                "+ (SELECT COUNT(*) FROM civicrm_note WHERE entity_table = "
                                "'civicrm_contribution' AND entity_id = %lld)", case2_m,
                                contrib_m), 0);
        ck_assert_int_eq(it_demo_master_id(&s, "civicrm_entity_tag", tag_c2), 0);
        ck_assert_int_eq(it_demo_master_id(&s, "civicrm_note", note_c), 0);
        ck_assert_int_eq(it_demo_master_id(&s, "civicrm_note", note_p2), 0);
        ck_assert_int_eq(it_int(s.m, "SELECT COUNT(*) FROM civicrm_note WHERE "
                                "entity_table = 'civicrm_participant' AND entity_id = "
                                "%lld", part2_m), 0);
        /* the others stay */
        ck_assert_int_gt(it_demo_master_id(&s, "civicrm_entity_tag", tag_c1), 0);
        ck_assert_int_gt(it_demo_master_id(&s, "civicrm_note", note_p), 0);
        it_demo_teardown(&s);
}
END_TEST

/* civisync-restore rebuilds the phase-3c data of a lost child from the
 * master into a fresh install (with the metadata the fixture made: case
 * types, and the demo site's contribution metadata), with the child's ids:
 * campaigns (parents, external identifiers unqualified), surveys, grants,
 * cases with clients and activities, mailings with recipients, URLs and
 * A/B tests, and the references to them (case roles, survey responses). */
START_TEST(test_phase3c_restore)
{
        it_demo_t s;
        char target[64];
        char *tconf;
        MYSQL *t;
        it_run_t r;

        setup(&s, "pr");
        it_demo_produce(&s, 1);
        it_demo_consume(&s);
        it_demo_verify_clean(&s, IT_DEMO_ANY_PARKED, NULL);
        it_unique(target, sizeof(target), "prtarget");
        it_make_db(target, "--schema full --seed empty-site");
        t = it_connect(target);
        it_demo_copy_contribute_metadata(t, s.child);
        it_exec(t, "INSERT INTO civicrm_case_type SELECT * FROM `%s`.civicrm_case_type",
                s.child);
        tconf = strdup(it_producer_conf(s.prefix, target, NULL));
        r = it_run("civisync-restore", "--master-config", s.cconf, "--prefix",
                   s.prefix, "--into", tconf, NULL);
        if (r.exit_code != 0)
                fprintf(stderr, "%s\n%s\n", r.out, r.err);
        ck_assert_msg(r.exit_code == 0, "restore exit %d (output above)", r.exit_code);
        it_run_free(&r);
        /* every phase-3c row back with the child's id and values */
        ck_assert_int_eq(it_int(t, "SELECT COUNT(*) FROM civicrm_campaign p JOIN `%s`."
                                "civicrm_campaign c USING (id, name, title) WHERE "
                                "p.parent_id <=> c.parent_id AND p.external_identifier "
                                "<=> c.external_identifier", s.child), 5);
        ck_assert_int_eq(it_int(t, "SELECT COUNT(*) FROM civicrm_campaign_group p JOIN "
                                "`%s`.civicrm_campaign_group c USING (id, campaign_id, "
                                "group_type, entity_table, entity_id)", s.child), 3);
        ck_assert_int_eq(it_int(t, "SELECT COUNT(*) FROM civicrm_survey p JOIN `%s`."
                                "civicrm_survey c USING (id, title, campaign_id) WHERE "
                                "p.result_id <=> c.result_id", s.child), 2);
        ck_assert_int_eq(it_int(t, "SELECT COUNT(*) FROM civicrm_grant p JOIN `%s`."
                                "civicrm_grant c USING (id, contact_id, grant_type_id, "
                                "amount_total, status_id)", s.child), 4);
        ck_assert_int_eq(it_int(t, "SELECT COUNT(*) FROM civicrm_case p JOIN `%s`."
                                "civicrm_case c USING (id, case_type_id, subject, "
                                "status_id, is_deleted, created_date, modified_date)",
                                s.child), 3);
        ck_assert_int_eq(it_int(t, "SELECT COUNT(*) FROM civicrm_case_contact p JOIN "
                                "`%s`.civicrm_case_contact c USING (case_id, contact_id)",
                                s.child), 4);
        ck_assert_int_eq(it_int(t, "SELECT COUNT(*) FROM civicrm_case_activity p JOIN "
                                "`%s`.civicrm_case_activity c USING (case_id, "
                                "activity_id)", s.child), 6);
        ck_assert_int_eq(it_int(t, "SELECT COUNT(*) FROM civicrm_mailing p JOIN `%s`."
                                "civicrm_mailing c USING (id, name, subject) WHERE "
                                "p.campaign_id <=> c.campaign_id AND p.scheduled_date "
                                "<=> c.scheduled_date",
                                s.child), 5);
        ck_assert_int_eq(it_int(t, "SELECT COUNT(*) FROM civicrm_mailing_group p JOIN "
                                "`%s`.civicrm_mailing_group c USING (id, mailing_id, "
                                "group_type, entity_table, entity_id)", s.child), 9);
        ck_assert_int_eq(it_int(t, "SELECT COUNT(*) FROM civicrm_mailing_trackable_url p "
                                "JOIN `%s`.civicrm_mailing_trackable_url c USING (id, "
                                "url, mailing_id)", s.child), 3);
        ck_assert_int_eq(it_int(t, "SELECT COUNT(*) FROM civicrm_mailing_abtest p JOIN "
                                "`%s`.civicrm_mailing_abtest c USING (id, mailing_id_a, "
                                "mailing_id_b, mailing_id_c)", s.child), 1);
        /* the phase-1 columns that became references */
        ck_assert_int_eq(it_int(t, "SELECT COUNT(*) FROM civicrm_relationship p JOIN `%s`."
                                "civicrm_relationship c USING (id, case_id) WHERE "
                                "c.case_id IS NOT NULL", s.child),
                         it_int(s.c, "SELECT COUNT(*) FROM civicrm_relationship WHERE "
                                "case_id IS NOT NULL"));
        ck_assert_int_eq(it_int(t, "SELECT COUNT(*) FROM civicrm_activity p JOIN `%s`."
                                "civicrm_activity c USING (id, campaign_id) WHERE "
                                "c.campaign_id IS NOT NULL", s.child),
                         it_int(s.c, "SELECT COUNT(*) FROM civicrm_activity WHERE "
                                "campaign_id IS NOT NULL"));
        /* the delivery log stays behind: nothing for the restored cron */
        ck_assert_int_eq(it_int(t, "SELECT COUNT(*) FROM civicrm_mailing_job"), 0);
        mysql_close(t);
        free(tconf);
        it_demo_teardown(&s);
}
END_TEST

Suite *phase3c_suite(void)
{
        Suite *s = suite_create("phase3c");
        TCase *tc = tcase_create("core");

        tcase_set_timeout(tc, 600);
        tcase_add_test(tc, test_phase3c_complete);
        tcase_add_test(tc, test_phase3c_incremental_and_case_delete);
        tcase_add_test(tc, test_phase3c_case_master_triggers);
        tcase_add_test(tc, test_phase3c_tag_note_owners);
        tcase_add_test(tc, test_phase3c_restore);
        suite_add_tcase(s, tc);
        return s;
}
