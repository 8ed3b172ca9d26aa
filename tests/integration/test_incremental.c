/* test_incremental.c — incremental producer runs end to end: every kind of child change reaches the master. */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "harness.h"
#include "kafka_util.h"

/* One child and one master, synced once (first run = complete). */
typedef struct env_s {
        char master[64], child[64], prefix[32];
        char *pconf, *cconf;
        MYSQL *m, *c;
} env_t;

static void consume(env_t *e)
{
        it_run_t r = it_run("civisync-consume", "-c", e->cconf, "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "consume exit %d: %s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "rejected to") == NULL, "rejections: %s", r.err);
        it_run_free(&r);
}

/* Messages sent, parsed from the summary line. With log (may be NULL) the
 * run is verbose (-v) and *log receives its stderr (NEW string, free it). */
static long long produce_run(env_t *e, char **log)
{
        it_run_t r = log ? it_run("civisync-produce", "-c", e->pconf, "-v", NULL)
                         : it_run("civisync-produce", "-c", e->pconf, NULL);
        const char *p;
        long long msgs;

        ck_assert_msg(r.exit_code == 0, "produce exit %d: %s", r.exit_code, r.err);
        p = strstr(r.out, "(upserts/deletes); ");
        ck_assert_msg(p != NULL, "summary: %s", r.out);
        msgs = strtoll(p + strlen("(upserts/deletes); "), NULL, 10);
        if (log)
                *log = strdup(r.err);
        it_run_free(&r);
        return msgs;
}

static long long produce(env_t *e)
{
        return produce_run(e, NULL);
}

/* A verbose produce run: its messages, its log in *log. */
static long long produce_log(env_t *e, char **log)
{
        return produce_run(e, log);
}

/* The end of a log, short enough for a Check message. */
static const char *log_tail(const char *log)
{
        size_t n = strlen(log);
        return n > 2000 ? log + n - 2000 : log;
}

static void sync_once(env_t *e)
{
        produce(e);
        consume(e);
}

static void env_open_sql(env_t *e, const char *schema_args, const char *pextra,
                         const char *child_sql);
static void env_open(env_t *e, const char *schema_args, const char *pextra)
{
        env_open_sql(e, schema_args, pextra, NULL);
}

/* child_sql (may be NULL) runs on the child before the first sync. */
static void env_open_sql(env_t *e, const char *schema_args, const char *pextra,
                         const char *child_sql)
{
        char tag[32], conf[128];
        it_run_t r;

        memset(e, 0, sizeof(*e));
        it_unique(e->master, sizeof(e->master), "imaster");
        it_unique(e->child, sizeof(e->child), "ichild");
        it_unique(tag, sizeof(tag), "inc");
        /* inc_<pid>_<n> -> prefix "i<pid>_<n>" */
        snprintf(e->prefix, sizeof(e->prefix), "i%s", tag + 4);
        it_make_db(e->master, "--schema 5");
        it_make_db(e->child, schema_args);
        if (child_sql) {
                MYSQL *c = it_connect(e->child);
                it_exec(c, "%s", child_sql);
                mysql_close(c);
        }
        snprintf(conf, sizeof(conf), "civisync.%s", e->prefix);
        it_topic(conf, 1);
        e->pconf = strdup(it_producer_conf(e->prefix, e->child, pextra));
        snprintf(conf, sizeof(conf), "prefixes = [\"%s\"];", e->prefix);
        e->cconf = strdup(it_consumer_conf(e->master, conf));
        /* No state yet: the first incremental run is a complete sync. */
        r = it_run("civisync-produce", "-c", e->pconf, NULL);
        ck_assert_msg(r.exit_code == 0, "first run exit %d: %s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.out, " complete generation") != NULL, "%s", r.out);
        ck_assert_msg(strstr(r.err, "first run is a complete sync") != NULL, "%s", r.err);
        it_run_free(&r);
        consume(e);
        e->m = it_connect(e->master);
        e->c = it_connect(e->child);
}

/* Ends a test: the whole child against the master (tests/lib/oracle.c). */
static void env_close(env_t *e)
{
        it_assert_same(e->child, e->master, e->prefix);
        mysql_close(e->m);
        mysql_close(e->c);
        free(e->pconf);
        free(e->cconf);
}

/* Master rows of table mapped from child id (0 or 1) matching cond. */
static long long master_has(env_t *e, const char *table, long long child_id,
                            const char *cond)
{
        return it_int(e->m, "SELECT COUNT(*) FROM mapping_master_%s mp JOIN `%s` x "
                      "ON x.id = mp.master_entity_id WHERE mp.entity_table = '%s' "
                      "AND mp.child_entity_id = %lld AND (%s)", e->prefix, table,
                      table, child_id, cond ? cond : "1");
}

static long long mapped(env_t *e, const char *table, long long child_id)
{
        return it_int(e->m, "SELECT COUNT(*) FROM mapping_master_%s WHERE "
                      "entity_table = '%s' AND child_entity_id = %lld",
                      e->prefix, table, child_id);
}

/* The master id of a child row. */
static long long master_id(env_t *e, const char *table, long long child_id)
{
        return it_int(e->m, "SELECT master_entity_id FROM mapping_master_%s WHERE "
                      "entity_table = '%s' AND child_entity_id = %lld",
                      e->prefix, table, child_id);
}

static long long child_int(env_t *e, const char *sql)
{
        return it_int(e->c, "%s", sql);
}

START_TEST(test_contact_field_edit)
{
        env_t e;
        env_open(&e, "--schema 5 --child 1 --contacts 60", NULL);
        it_exec(e.c, "UPDATE civicrm_contact SET first_name = 'Edited', "
                "job_title = 'Chief' WHERE id = 7");
        ck_assert_int_eq(produce(&e), 1);
        consume(&e);
        ck_assert_int_eq(master_has(&e, "civicrm_contact", 7,
                         "x.first_name = 'Edited' AND x.job_title = 'Chief'"), 1);
        env_close(&e);
}
END_TEST

/* A phone edit without triggers bumps nothing: the fingerprints find it. */
START_TEST(test_phone_edit_without_triggers)
{
        env_t e;
        long long pid, cid;
        env_open(&e, "--schema 5 --child 1 --contacts 60", NULL);
        pid = child_int(&e, "SELECT MIN(id) FROM civicrm_phone WHERE contact_id IS NOT NULL");
        cid = it_int(e.c, "SELECT contact_id FROM civicrm_phone WHERE id = %lld", pid);
        it_exec(e.c, "UPDATE civicrm_phone SET phone = '555-0199' WHERE id = %lld", pid);
        ck_assert_int_eq(produce(&e), 1);
        consume(&e);
        ck_assert_int_eq(master_has(&e, "civicrm_phone", pid, "x.phone = '555-0199'"), 1);
        ck_assert_int_eq(it_int(e.m, "SELECT contact_id FROM civicrm_phone WHERE id = %lld",
                                master_id(&e, "civicrm_phone", pid)),
                         master_id(&e, "civicrm_contact", cid));
        env_close(&e);
}
END_TEST

/* With CiviCRM's trigger the contact's modified_date moves too. */
START_TEST(test_phone_edit_with_trigger)
{
        env_t e;
        long long pid, cid;
        env_open(&e, "--schema 5 --child 1 --contacts 60", NULL);
        it_exec(e.c, "CREATE TRIGGER civicrm_phone_after_update AFTER UPDATE ON "
                "civicrm_phone FOR EACH ROW UPDATE civicrm_contact SET "
                "modified_date = '2031-02-03 04:05:06' WHERE id = NEW.contact_id");
        pid = child_int(&e, "SELECT MAX(id) FROM civicrm_phone WHERE contact_id IS NOT NULL");
        cid = it_int(e.c, "SELECT contact_id FROM civicrm_phone WHERE id = %lld", pid);
        it_exec(e.c, "UPDATE civicrm_phone SET phone = '555-0142' WHERE id = %lld", pid);
        ck_assert_int_eq(produce(&e), 1);
        consume(&e);
        ck_assert_int_eq(master_has(&e, "civicrm_phone", pid, "x.phone = '555-0142'"), 1);
        ck_assert_int_eq(master_has(&e, "civicrm_contact", cid,
                         "x.modified_date = '2031-02-03 04:05:06'"), 1);
        env_close(&e);
}
END_TEST

START_TEST(test_email_deleted)
{
        env_t e;
        long long eid, cid, left;
        env_open(&e, "--schema 5 --child 1 --contacts 60", NULL);
        eid = child_int(&e, "SELECT MIN(id) FROM civicrm_email WHERE contact_id IS NOT NULL");
        cid = it_int(e.c, "SELECT contact_id FROM civicrm_email WHERE id = %lld", eid);
        ck_assert_int_eq(mapped(&e, "civicrm_email", eid), 1);
        it_exec(e.c, "DELETE FROM civicrm_email WHERE id = %lld", eid);
        left = it_int(e.c, "SELECT COUNT(*) FROM civicrm_email WHERE contact_id = %lld", cid);
        ck_assert_int_eq(produce(&e), 1);
        consume(&e);
        ck_assert_int_eq(mapped(&e, "civicrm_email", eid), 0);
        ck_assert_int_eq(it_int(e.m, "SELECT COUNT(*) FROM civicrm_email WHERE contact_id = %lld",
                                master_id(&e, "civicrm_contact", cid)), left);
        ck_assert_int_eq(master_has(&e, "civicrm_contact", cid, NULL), 1);
        env_close(&e);
}
END_TEST

START_TEST(test_address_moved_location_type)
{
        env_t e;
        long long aid;
        env_open(&e, "--schema 5 --child 1 --contacts 60", NULL);
        aid = child_int(&e, "SELECT MIN(id) FROM civicrm_address WHERE contact_id IS NOT NULL "
                        "AND location_type_id = 1");
        it_exec(e.c, "UPDATE civicrm_address SET location_type_id = 2 WHERE id = %lld", aid);
        ck_assert_int_eq(produce(&e), 1);
        consume(&e);
        ck_assert_int_eq(master_has(&e, "civicrm_address", aid, "x.location_type_id = 2"), 1);
        env_close(&e);
}
END_TEST

START_TEST(test_contact_trashed_and_restored)
{
        env_t e;
        env_open(&e, "--schema 5 --child 1 --contacts 60", NULL);
        it_exec(e.c, "UPDATE civicrm_contact SET is_deleted = 1 WHERE id = 9");
        produce(&e);
        consume(&e);
        ck_assert_int_eq(master_has(&e, "civicrm_contact", 9, "x.is_deleted = 1"), 1);
        it_exec(e.c, "UPDATE civicrm_contact SET is_deleted = 0 WHERE id = 9");
        produce(&e);
        consume(&e);
        ck_assert_int_eq(master_has(&e, "civicrm_contact", 9, "x.is_deleted = 0"), 1);
        env_close(&e);
}
END_TEST

/* A hard delete cascades on the child; the master loses the contact, its
 * nested rows, its relationships and memberships, and their mapping rows. */
START_TEST(test_contact_hard_deleted_with_cascade)
{
        env_t e;
        long long cid, mid, rel, gc;
        env_open(&e, "--schema 5 --child 1 --contacts 60", NULL);
        cid = child_int(&e, "SELECT MIN(c.id) FROM civicrm_contact c WHERE "
                        "EXISTS (SELECT 1 FROM civicrm_email e WHERE e.contact_id = c.id) AND "
                        "EXISTS (SELECT 1 FROM civicrm_relationship r WHERE r.contact_id_b = c.id "
                        "OR r.contact_id_a = c.id)");
        ck_assert_int_gt(cid, 0);
        rel = it_int(e.c, "SELECT MIN(id) FROM civicrm_relationship WHERE contact_id_a = %lld "
                     "OR contact_id_b = %lld", cid, cid);
        it_exec(e.c, "INSERT INTO civicrm_group_contact (group_id, contact_id, status) "
                "SELECT MAX(id), %lld, 'Added' FROM civicrm_group", cid);
        gc = (long long)mysql_insert_id(e.c);
        sync_once(&e);
        ck_assert_int_eq(mapped(&e, "civicrm_group_contact", gc), 1);
        mid = master_id(&e, "civicrm_contact", cid);
        it_exec(e.c, "UPDATE civicrm_contact SET employer_id = NULL WHERE employer_id = %lld", cid);
        it_exec(e.c, "UPDATE civicrm_contact SET primary_contact_id = NULL WHERE primary_contact_id = %lld", cid);
        it_exec(e.c, "DELETE FROM civicrm_entity_tag WHERE entity_table = 'civicrm_contact' AND entity_id = %lld", cid);
        it_exec(e.c, "DELETE FROM civicrm_note WHERE entity_table = 'civicrm_contact' AND entity_id = %lld", cid);
        it_exec(e.c, "DELETE FROM civicrm_contact WHERE id = %lld", cid);
        ck_assert_int_eq(it_int(e.c, "SELECT COUNT(*) FROM civicrm_relationship WHERE id = %lld", rel), 0);
        sync_once(&e);
        ck_assert_int_eq(it_int(e.m, "SELECT COUNT(*) FROM civicrm_contact WHERE id = %lld", mid), 0);
        ck_assert_int_eq(it_int(e.m, "SELECT COUNT(*) FROM civicrm_email WHERE contact_id = %lld", mid), 0);
        ck_assert_int_eq(mapped(&e, "civicrm_contact", cid), 0);
        ck_assert_int_eq(mapped(&e, "civicrm_relationship", rel), 0);
        ck_assert_int_eq(mapped(&e, "civicrm_group_contact", gc), 0);
        /* No mapping row points at a master row that is gone. */
        ck_assert_int_eq(it_int(e.m, "SELECT COUNT(*) FROM mapping_master_%s mp LEFT JOIN "
                                "civicrm_email x ON x.id = mp.master_entity_id WHERE "
                                "mp.entity_table = 'civicrm_email' AND x.id IS NULL", e.prefix), 0);
        ck_assert_int_eq(it_int(e.m, "SELECT COUNT(*) FROM mapping_master_%s WHERE entity_table "
                                "= 'civicrm_contact'", e.prefix),
                         it_int(e.c, "SELECT COUNT(*) FROM civicrm_contact"));
        env_close(&e);
}
END_TEST

START_TEST(test_relationship_added_ended_deleted)
{
        env_t e;
        long long rid;
        env_open(&e, "--schema 5 --child 1 --contacts 60", NULL);
        it_exec(e.c, "INSERT INTO civicrm_relationship (contact_id_a, contact_id_b, "
                "relationship_type_id, is_active) SELECT 12, 13, MIN(id), 1 FROM "
                "civicrm_relationship_type");
        rid = (long long)mysql_insert_id(e.c);
        sync_once(&e);
        ck_assert_int_eq(master_has(&e, "civicrm_relationship", rid, "x.is_active = 1 "
                         "AND x.end_date IS NULL"), 1);
        ck_assert_int_eq(it_int(e.m, "SELECT contact_id_a FROM civicrm_relationship WHERE id = %lld",
                                master_id(&e, "civicrm_relationship", rid)),
                         master_id(&e, "civicrm_contact", 12));
        it_exec(e.c, "UPDATE civicrm_relationship SET is_active = 0, end_date = '2024-05-06' "
                "WHERE id = %lld", rid);
        sync_once(&e);
        ck_assert_int_eq(master_has(&e, "civicrm_relationship", rid, "x.is_active = 0 "
                         "AND x.end_date = '2024-05-06'"), 1);
        it_exec(e.c, "DELETE FROM civicrm_relationship WHERE id = %lld", rid);
        sync_once(&e);
        ck_assert_int_eq(mapped(&e, "civicrm_relationship", rid), 0);
        env_close(&e);
}
END_TEST

START_TEST(test_group_membership_added_removed)
{
        env_t e;
        long long gid, gcid;
        env_open(&e, "--schema 5 --child 1 --contacts 60", NULL);
        gid = child_int(&e, "SELECT MIN(id) FROM civicrm_group");
        it_exec(e.c, "DELETE FROM civicrm_group_contact WHERE contact_id = 20 AND group_id = %lld", gid);
        sync_once(&e);
        it_exec(e.c, "INSERT INTO civicrm_group_contact (group_id, contact_id, status) "
                "VALUES (%lld, 20, 'Added')", gid);
        gcid = (long long)mysql_insert_id(e.c);
        sync_once(&e);
        ck_assert_int_eq(it_int(e.m, "SELECT COUNT(*) FROM civicrm_group_contact WHERE "
                                "group_id = %lld AND contact_id = %lld AND status = 'Added'",
                                master_id(&e, "civicrm_group", gid),
                                master_id(&e, "civicrm_contact", 20)), 1);
        /* Removed: CiviCRM keeps the row with status Removed. */
        it_exec(e.c, "UPDATE civicrm_group_contact SET status = 'Removed' WHERE id = %lld", gcid);
        sync_once(&e);
        ck_assert_int_eq(master_has(&e, "civicrm_group_contact", gcid, "x.status = 'Removed'"), 1);
        /* And a row deleted outright. */
        it_exec(e.c, "DELETE FROM civicrm_group_contact WHERE id = %lld", gcid);
        sync_once(&e);
        ck_assert_int_eq(mapped(&e, "civicrm_group_contact", gcid), 0);
        ck_assert_int_eq(it_int(e.m, "SELECT COUNT(*) FROM civicrm_group_contact WHERE "
                                "group_id = %lld AND contact_id = %lld",
                                master_id(&e, "civicrm_group", gid),
                                master_id(&e, "civicrm_contact", 20)), 0);
        env_close(&e);
}
END_TEST

START_TEST(test_tag_added_removed)
{
        env_t e;
        long long tid, etid;
        env_open(&e, "--schema 5 --child 1 --contacts 60", NULL);
        it_exec(e.c, "INSERT INTO civicrm_tag (name, used_for) VALUES ('Fresh Tag', 'civicrm_contact')");
        tid = (long long)mysql_insert_id(e.c);
        it_exec(e.c, "INSERT INTO civicrm_entity_tag (entity_table, entity_id, tag_id) "
                "VALUES ('civicrm_contact', 21, %lld)", tid);
        etid = (long long)mysql_insert_id(e.c);
        sync_once(&e);
        ck_assert_int_eq(master_has(&e, "civicrm_tag", tid, NULL), 1);
        ck_assert_int_eq(it_int(e.m, "SELECT COUNT(*) FROM civicrm_entity_tag WHERE "
                                "entity_table = 'civicrm_contact' AND entity_id = %lld "
                                "AND tag_id = %lld", master_id(&e, "civicrm_contact", 21),
                                master_id(&e, "civicrm_tag", tid)), 1);
        it_exec(e.c, "DELETE FROM civicrm_entity_tag WHERE id = %lld", etid);
        sync_once(&e);
        ck_assert_int_eq(mapped(&e, "civicrm_entity_tag", etid), 0);
        ck_assert_int_eq(it_int(e.m, "SELECT COUNT(*) FROM civicrm_entity_tag WHERE tag_id = %lld",
                                master_id(&e, "civicrm_tag", tid)), 0);
        it_exec(e.c, "DELETE FROM civicrm_tag WHERE id = %lld", tid);
        sync_once(&e);
        ck_assert_int_eq(mapped(&e, "civicrm_tag", tid), 0);
        env_close(&e);
}
END_TEST

START_TEST(test_note_added_edited_deleted)
{
        env_t e;
        long long nid;
        env_open(&e, "--schema 5 --child 1 --contacts 60", NULL);
        it_exec(e.c, "INSERT INTO civicrm_note (entity_table, entity_id, note, subject) "
                "VALUES ('civicrm_contact', 22, 'first text', 'S')");
        nid = (long long)mysql_insert_id(e.c);
        sync_once(&e);
        ck_assert_int_eq(master_has(&e, "civicrm_note", nid, "x.note = 'first text'"), 1);
        it_exec(e.c, "UPDATE civicrm_note SET note = 'second text' WHERE id = %lld", nid);
        sync_once(&e);
        ck_assert_int_eq(master_has(&e, "civicrm_note", nid, "x.note = 'second text'"), 1);
        it_exec(e.c, "DELETE FROM civicrm_note WHERE id = %lld", nid);
        sync_once(&e);
        ck_assert_int_eq(mapped(&e, "civicrm_note", nid), 0);
        env_close(&e);
}
END_TEST

START_TEST(test_activity_added_edited_deleted)
{
        env_t e;
        long long aid, mid;
        env_open(&e, "--schema 5 --child 1 --contacts 60", NULL);
        it_exec(e.c, "INSERT INTO civicrm_activity (activity_type_id, subject, status_id) "
                "VALUES (1, 'Meeting A', 1)");
        aid = (long long)mysql_insert_id(e.c);
        it_exec(e.c, "INSERT INTO civicrm_activity_contact (activity_id, contact_id, record_type_id) "
                "VALUES (%lld, 23, 3), (%lld, 24, 2)", aid, aid);
        sync_once(&e);
        mid = master_id(&e, "civicrm_activity", aid);
        ck_assert_int_eq(master_has(&e, "civicrm_activity", aid, "x.subject = 'Meeting A'"), 1);
        ck_assert_int_eq(it_int(e.m, "SELECT COUNT(*) FROM civicrm_activity_contact WHERE "
                                "activity_id = %lld", mid), 2);
        /* Edit the activity and drop one participant (a nested delete). */
        it_exec(e.c, "UPDATE civicrm_activity SET subject = 'Meeting B' WHERE id = %lld", aid);
        it_exec(e.c, "DELETE FROM civicrm_activity_contact WHERE activity_id = %lld AND "
                "record_type_id = 3", aid);
        sync_once(&e);
        ck_assert_int_eq(master_has(&e, "civicrm_activity", aid, "x.subject = 'Meeting B'"), 1);
        ck_assert_int_eq(it_int(e.m, "SELECT COUNT(*) FROM civicrm_activity_contact WHERE "
                                "activity_id = %lld", mid), 1);
        it_exec(e.c, "DELETE FROM civicrm_activity WHERE id = %lld", aid);
        sync_once(&e);
        ck_assert_int_eq(mapped(&e, "civicrm_activity", aid), 0);
        ck_assert_int_eq(it_int(e.m, "SELECT COUNT(*) FROM civicrm_activity WHERE id = %lld", mid), 0);
        ck_assert_int_eq(it_int(e.m, "SELECT COUNT(*) FROM civicrm_activity_contact WHERE "
                                "activity_id = %lld", mid), 0);
        env_close(&e);
}
END_TEST

START_TEST(test_group_created_renamed_deleted)
{
        env_t e;
        long long gid;
        env_open(&e, "--schema 5 --child 1 --contacts 60", NULL);
        it_exec(e.c, "INSERT INTO civicrm_group (name, title, is_active) VALUES "
                "('Fresh_Group', 'Fresh Group', 1)");
        gid = (long long)mysql_insert_id(e.c);
        sync_once(&e);
        ck_assert_int_eq(master_has(&e, "civicrm_group", gid, "x.title LIKE '%:Fresh Group'"), 1);
        it_exec(e.c, "UPDATE civicrm_group SET title = 'Renamed Group' WHERE id = %lld", gid);
        sync_once(&e);
        ck_assert_int_eq(master_has(&e, "civicrm_group", gid, "x.title LIKE '%:Renamed Group'"), 1);
        it_exec(e.c, "DELETE FROM civicrm_group WHERE id = %lld", gid);
        sync_once(&e);
        ck_assert_int_eq(mapped(&e, "civicrm_group", gid), 0);
        env_close(&e);
}
END_TEST

START_TEST(test_saved_search_edited)
{
        env_t e;
        long long sid;
        env_open(&e, "--schema 5 --child 1 --contacts 60", NULL);
        sid = child_int(&e, "SELECT MAX(id) FROM civicrm_saved_search");
        it_exec(e.c, "UPDATE civicrm_saved_search SET form_values = 'a:1:{s:1:\"x\";i:2;}' "
                "WHERE id = %lld", sid);
        ck_assert_int_eq(produce(&e), 1);
        consume(&e);
        ck_assert_int_eq(master_has(&e, "civicrm_saved_search", sid,
                         "x.form_values = 'a:1:{s:1:\"x\";i:2;}'"), 1);
        env_close(&e);
}
END_TEST

/* Look-back 0: the (time, id) cursor alone separates two rows with the
 * same modified_date, one sent before the other was written. */
START_TEST(test_same_modified_date_straddling_cursor)
{
        env_t e;
        env_open(&e, "--schema 5 --child 1 --contacts 60", "lookback_seconds = 0;");
        it_exec(e.c, "UPDATE civicrm_contact SET first_name = 'Later', "
                "modified_date = '2030-01-01 00:00:00' WHERE id = 30");
        ck_assert_int_eq(produce(&e), 1);
        it_exec(e.c, "UPDATE civicrm_contact SET first_name = 'Earlier', "
                "modified_date = '2030-01-01 00:00:00' WHERE id = 25");
        ck_assert_int_eq(produce(&e), 1);
        consume(&e);
        ck_assert_int_eq(master_has(&e, "civicrm_contact", 30, "x.first_name = 'Later'"), 1);
        ck_assert_int_eq(master_has(&e, "civicrm_contact", 25, "x.first_name = 'Earlier'"), 1);
        env_close(&e);
}
END_TEST

/* A transaction open during a run commits afterwards with a modified_date
 * older than the cursor: the next run still sends it. */
START_TEST(test_late_commit_older_modified_date)
{
        env_t e;
        MYSQL *late;
        env_open(&e, "--schema 5 --child 1 --contacts 60", NULL);
        late = it_connect(e.child);
        it_exec(late, "START TRANSACTION");
        it_exec(late, "UPDATE civicrm_contact SET first_name = 'Late', "
                "modified_date = '2001-01-01 00:00:00' WHERE id = 31");
        it_exec(e.c, "UPDATE civicrm_contact SET first_name = 'OnTime' WHERE id = 32");
        ck_assert_int_eq(produce(&e), 1);  /* sees 32, not the open 31 */
        it_exec(late, "COMMIT");
        mysql_close(late);
        ck_assert_int_eq(produce(&e), 1);
        consume(&e);
        ck_assert_int_eq(master_has(&e, "civicrm_contact", 31, "x.first_name = 'Late'"), 1);
        ck_assert_int_eq(master_has(&e, "civicrm_contact", 32, "x.first_name = 'OnTime'"), 1);
        env_close(&e);
}
END_TEST

/* Seconds to wait so that the child's earlier writes are older than the
 * next run's snapshot by more than the least margin (2 s, incremental.c). */
#define UNREAD_WAIT_SECONDS 3

/* A table no transaction wrote since the previous run's snapshot is not
 * read (its stored fingerprints stand); a table written since is, and its
 * change is sent. Right after a run nothing is left unread. */
START_TEST(test_unwritten_tables_not_read)
{
        env_t e;
        char *log;
        long long email;

        env_open(&e, "--schema 5 --child 1 --contacts 60", "lookback_seconds = 0;");
        sleep(UNREAD_WAIT_SECONDS);
        ck_assert_int_eq(produce(&e), 0);
        email = child_int(&e, "SELECT MIN(id) FROM civicrm_email WHERE contact_id = 7");
        ck_assert_int_gt(email, 0);
        it_exec(e.c, "UPDATE civicrm_email SET email = 'unread.test@example.org' "
                "WHERE id = %lld", email);
        ck_assert_int_eq(produce_log(&e, &log), 1);
        ck_assert_msg(strstr(log, "civicrm_phone: last written at") != NULL, "%s", log_tail(log));
        ck_assert_msg(strstr(log, "civicrm_contact: last written at") != NULL, "%s", log_tail(log));
        ck_assert_msg(strstr(log, "civicrm_email: last written at") == NULL, "%s", log_tail(log));
        ck_assert_msg(strstr(log, "civicrm_email: 1 row(s) changed") != NULL, "%s", log_tail(log));
        ck_assert_msg(strstr(log, "not written since the previous run, not read") != NULL,
                      "%s", log_tail(log));
        free(log);
        consume(&e);
        ck_assert_int_eq(master_has(&e, "civicrm_email", email,
                                    "x.email = 'unread.test@example.org'"), 1);
        /* Written within the margin of the previous snapshot: read again,
         * and nothing has changed. */
        ck_assert_int_eq(produce_log(&e, &log), 0);
        ck_assert_msg(strstr(log, "civicrm_email: last written at") == NULL, "%s",
                      log_tail(log));
        ck_assert_msg(strstr(log, "civicrm_phone: last written at") != NULL, "%s",
                      log_tail(log));
        free(log);
        env_close(&e);
}
END_TEST

/* What counts is when a write commits: a transaction open during a run,
 * committed after it, makes its table read by the next run, while the
 * tables nobody wrote stay unread. */
START_TEST(test_unread_table_late_commit)
{
        env_t e;
        MYSQL *late;
        char *log;
        long long phone;

        env_open(&e, "--schema 5 --child 1 --contacts 60", "lookback_seconds = 0;");
        phone = child_int(&e, "SELECT MIN(id) FROM civicrm_phone");
        sleep(UNREAD_WAIT_SECONDS);
        late = it_connect(e.child);
        it_exec(late, "START TRANSACTION");
        it_exec(late, "UPDATE civicrm_phone SET phone = '555-0199-LATE' WHERE id = %lld",
                phone);
        ck_assert_int_eq(produce(&e), 0);   /* the open write is not seen */
        it_exec(late, "COMMIT");
        mysql_close(late);
        ck_assert_int_eq(produce_log(&e, &log), 1);
        ck_assert_msg(strstr(log, "civicrm_email: last written at") != NULL, "%s", log_tail(log));
        ck_assert_msg(strstr(log, "civicrm_phone: last written at") == NULL, "%s", log_tail(log));
        ck_assert_msg(strstr(log, "civicrm_phone: 1 row(s) changed") != NULL, "%s", log_tail(log));
        free(log);
        consume(&e);
        ck_assert_int_eq(master_has(&e, "civicrm_phone", phone,
                                    "x.phone = '555-0199-LATE'"), 1);
        env_close(&e);
}
END_TEST

/* CiviCRM 4.2: no contact.modified_date (civicrm_log instead), activity
 * people in civicrm_activity_target/assignment + source_contact_id. */
START_TEST(test_legacy_42_child_civicrm_log)
{
        env_t e;
        long long act, mact, tgt;
        it_run_t r;
        /* The whole 4.2 child, notes included (a 4.2 note.modified_date is
         * a DATE, the master's a TIMESTAMP), reaches the master: env_close
         * compares every row and column (tests/lib/oracle.c). */
        env_open(&e, "--schema 4.2 --child 1", NULL);
        ck_assert_int_gt(it_mapped_rows(e.m, e.prefix, "civicrm_note"), 0);
        it_assert_same(e.child, e.master, e.prefix);
        act = child_int(&e, "SELECT MIN(id) FROM civicrm_activity WHERE source_contact_id IS NOT NULL");
        mact = master_id(&e, "civicrm_activity", act);
        /* Every activity person of the child arrived, with its record type. */
        ck_assert_int_eq(it_int(e.m, "SELECT COUNT(*) FROM civicrm_activity_contact WHERE "
                                "activity_id = %lld AND record_type_id = 2 AND contact_id = %lld", mact,
                                master_id(&e, "civicrm_contact",
                                          it_int(e.c, "SELECT source_contact_id FROM civicrm_activity "
                                                 "WHERE id = %lld", act))), 1);
        ck_assert_int_eq(it_int(e.m, "SELECT COUNT(*) FROM mapping_master_%s WHERE entity_table = "
                                "'civicrm_activity_contact'", e.prefix),
                         it_int(e.c, "SELECT (SELECT COUNT(*) FROM civicrm_activity_target) + "
                                "(SELECT COUNT(*) FROM civicrm_activity_assignment) + "
                                "(SELECT COUNT(*) FROM civicrm_activity WHERE source_contact_id IS NOT NULL)"));
        /* A contact edit logged the 4.2 way. */
        it_exec(e.c, "UPDATE civicrm_contact SET first_name = 'Legacy' WHERE id = 5");
        it_exec(e.c, "INSERT INTO civicrm_log (entity_table, entity_id, data, modified_date) "
                "VALUES ('civicrm_contact', 5, 'civicrm_contact,5', NOW())");
        /* A new target on an activity. */
        it_exec(e.c, "INSERT INTO civicrm_activity_target (activity_id, target_contact_id) "
                "VALUES (%lld, 6)", act);
        tgt = (long long)mysql_insert_id(e.c);
        r = it_run("civisync-produce", "-c", e.pconf, "--dry-run", NULL);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        ck_assert_msg(strstr(r.out, "contact 1/0") && strstr(r.out, "activity 1/0"), "%s", r.out);
        it_run_free(&r);
        ck_assert_int_eq(produce(&e), 2);
        consume(&e);
        ck_assert_int_eq(master_has(&e, "civicrm_contact", 5, "x.first_name = 'Legacy'"), 1);
        ck_assert_int_eq(master_has(&e, "civicrm_activity_contact", 4 * tgt + 3,
                                    "x.record_type_id = 3"), 1);
        ck_assert_int_eq(it_int(e.m, "SELECT contact_id FROM civicrm_activity_contact WHERE id = %lld",
                                master_id(&e, "civicrm_activity_contact", 4 * tgt + 3)),
                         master_id(&e, "civicrm_contact", 6));
        /* The source contact removed: the record type 2 row goes. */
        it_exec(e.c, "UPDATE civicrm_activity SET source_contact_id = NULL WHERE id = %lld", act);
        sync_once(&e);
        ck_assert_int_eq(mapped(&e, "civicrm_activity_contact", 4 * act + 2), 0);
        ck_assert_int_eq(it_int(e.m, "SELECT COUNT(*) FROM civicrm_activity_contact WHERE "
                                "activity_id = %lld AND record_type_id = 2", mact), 0);
        env_close(&e);
}
END_TEST

START_TEST(test_nothing_changed_sends_nothing)
{
        env_t e;
        it_run_t r;
        char topic[64];
        long long low, high, high2;

        env_open(&e, "--schema 5 --child 2 --contacts 80", NULL);
        /* Nothing sent: the topic's end does not move (not only the
         * producer's own summary). */
        snprintf(topic, sizeof(topic), "civisync.%s", e.prefix);
        ku_watermarks(topic, 0, &low, &high);
        ck_assert_int_gt(high, 0);
        ck_assert_int_eq(produce(&e), 0);
        ck_assert_int_eq(produce(&e), 0);
        ku_watermarks(topic, 0, &low, &high2);
        ck_assert_int_eq(high2, high);
        /* --complete resets the incremental state to its own snapshot. */
        r = it_run("civisync-produce", "-c", e.pconf, "--complete", NULL);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        it_run_free(&r);
        ku_watermarks(topic, 0, &low, &high);
        ck_assert_int_gt(high, high2);
        ck_assert_int_eq(produce(&e), 0);
        ku_watermarks(topic, 0, &low, &high2);
        ck_assert_int_eq(high2, high);
        env_close(&e);
}
END_TEST

/* --dry-run counts without sending or touching the state; --output
 * writes the incremental documents and tombstones as NDJSON. */
START_TEST(test_dry_run_and_output)
{
        env_t e;
        char out[512], state[512], *text;
        it_run_t r;
        FILE *fp;
        long len;
        env_open(&e, "--schema 5 --child 1 --contacts 60", NULL);
        it_exec(e.c, "UPDATE civicrm_contact SET first_name = 'Dry' WHERE id = 33");
        it_exec(e.c, "DELETE FROM civicrm_note WHERE id = (SELECT id FROM (SELECT MAX(id) id "
                "FROM civicrm_note WHERE entity_table = 'civicrm_contact') t)");
        r = it_run("civisync-produce", "-c", e.pconf, "--dry-run", NULL);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        ck_assert_msg(strstr(r.out, "dry run") && strstr(r.out, "contact 1/0") &&
                      strstr(r.out, "note 0/1") && strstr(r.out, "; 2 messages"), "%s", r.out);
        it_run_free(&r);
        snprintf(out, sizeof(out), "%s/%s.ndjson", it_tmpdir(), e.prefix);
        r = it_run("civisync-produce", "-c", e.pconf, "--output", out, NULL);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        it_run_free(&r);
        fp = fopen(out, "r");
        ck_assert_ptr_nonnull(fp);
        fseek(fp, 0, SEEK_END);
        len = ftell(fp);
        rewind(fp);
        text = calloc(1, (size_t)len + 1);
        ck_assert_int_eq(fread(text, 1, (size_t)len, fp), (size_t)len);
        fclose(fp);
        ck_assert_msg(strstr(text, "civicrm_contact/33\",\"partition\":0,\"value\":{") != NULL, "%s", text);
        ck_assert_msg(strstr(text, "civicrm_note/") && strstr(text, "\"value\":null}"), "%s", text);
        free(text);
        /* The file run advanced the state: nothing left to send. */
        snprintf(state, sizeof(state), "%s/state/%s.state.json", it_tmpdir(), e.prefix);
        ck_assert_int_eq(access(state, R_OK), 0);
        ck_assert_int_eq(produce(&e), 0);
        /* The file applied by the consumer brings the master level with the
         * child (env_close compares them). */
        r = it_run("civisync-consume", "-c", e.cconf, "--input", out, "--prefix",
                   e.prefix, NULL);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        it_run_free(&r);
        env_close(&e);
}
END_TEST

/* Concatenation of every state file of prefix, in name order. */
static char *state_bytes(const char *prefix, size_t *len)
{
        char dir[512], path[1024], lead[64];
        struct dirent **names;
        char *buf = NULL;
        size_t cap = 0;
        int n;

        snprintf(dir, sizeof(dir), "%s/state", it_tmpdir());
        snprintf(lead, sizeof(lead), "%s.", prefix);
        *len = 0;
        n = scandir(dir, &names, NULL, alphasort);
        ck_assert_int_ge(n, 0);
        for (int i = 0; i < n; i++) {
                if (!strncmp(names[i]->d_name, lead, strlen(lead))) {
                        FILE *fp;
                        char chunk[4096];
                        size_t got;
                        snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
                        fp = fopen(path, "rb");
                        ck_assert_ptr_nonnull(fp);
                        /* the name is part of the image */
                        size_t nl = strlen(names[i]->d_name) + 1;
                        if (*len + nl > cap)
                                buf = realloc(buf, cap = (*len + nl) * 2 + 4096);
                        memcpy(buf + *len, names[i]->d_name, nl);
                        *len += nl;
                        while ((got = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
                                if (*len + got > cap)
                                        buf = realloc(buf, cap = (*len + got) * 2);
                                memcpy(buf + *len, chunk, got);
                                *len += got;
                        }
                        fclose(fp);
                }
                free(names[i]);
        }
        free(names);
        return buf;
}

/* The broker is unreachable: exit 1, state files byte-identical, and the
 * change goes out with the next good run. */
START_TEST(test_failed_run_leaves_state)
{
        env_t e;
        char *before, *after;
        size_t blen, alen;
        it_run_t r;
        env_open(&e, "--schema 5 --child 1 --contacts 60", NULL);
        it_exec(e.c, "UPDATE civicrm_contact SET first_name = 'Retry' WHERE id = 34");
        it_exec(e.c, "DELETE FROM civicrm_email WHERE id = (SELECT id FROM (SELECT MAX(id) id "
                "FROM civicrm_email WHERE contact_id IS NOT NULL) t)");
        before = state_bytes(e.prefix, &blen);
        ck_assert_int_gt(blen, 100);
        r = it_run("civisync-produce", "-c", e.pconf, "-b", "127.0.0.1:1",
                   "-X", "socket.connection.setup.timeout.ms=1000",
                   "-X", "message.timeout.ms=3000", NULL);
        ck_assert_int_eq(r.exit_code, 1);
        ck_assert_msg(strstr(r.err, "state was not advanced") != NULL, "%s", r.err);
        it_run_free(&r);
        after = state_bytes(e.prefix, &alen);
        ck_assert_int_eq(alen, blen);
        ck_assert(memcmp(before, after, blen) == 0);
        free(after);
        ck_assert_int_eq(produce(&e), 2);
        consume(&e);
        ck_assert_int_eq(master_has(&e, "civicrm_contact", 34, "x.first_name = 'Retry'"), 1);
        free(before);
        env_close(&e);
}
END_TEST

/* Names of the fingerprint files of prefix, in name order, joined by
 * spaces (NEW string). */
static char *fp_file_names(const char *prefix)
{
        char dir[512], lead[64];
        struct dirent **names;
        char *out = calloc(1, 1);
        size_t len = 0;
        int n;

        snprintf(dir, sizeof(dir), "%s/state", it_tmpdir());
        snprintf(lead, sizeof(lead), "%s.fp.", prefix);
        n = scandir(dir, &names, NULL, alphasort);
        ck_assert_int_ge(n, 0);
        for (int i = 0; i < n; i++) {
                size_t nl = strlen(names[i]->d_name);
                if (!strncmp(names[i]->d_name, lead, strlen(lead))) {
                        out = realloc(out, len + nl + 2);
                        memcpy(out + len, names[i]->d_name, nl);
                        out[len + nl] = ' ';
                        out[len + nl + 1] = '\0';
                        len += nl + 1;
                }
                free(names[i]);
        }
        free(names);
        return out;
}

/* Changes that no timestamp shows and that a weak row encoding or a
 * bucket checksum could miss: two phones swap their numbers, a NULL
 * extension becomes '' (and an '' one NULL), a contact is edited by SQL
 * that keeps its modified_date. Every row is compared with its own stored
 * hash, so each of them re-sends its contact; a run with nothing changed
 * afterwards sends nothing and rewrites no fingerprint file. */
START_TEST(test_swap_null_empty_and_quiet_edit)
{
        env_t e;
        long long p1, p2, p3, p4, c1, c2, c3, c4, c5;
        char *files_before, *files_after;
        env_open_sql(&e, "--schema 5 --child 1 --contacts 60", NULL,
                     "UPDATE civicrm_phone p JOIN (SELECT MIN(id) lo, MAX(id) hi "
                     "FROM civicrm_phone WHERE contact_id IS NOT NULL) t ON p.id "
                     "IN (t.lo, t.hi) SET p.phone_ext = IF(p.id = t.lo, NULL, '')");
        p3 = child_int(&e, "SELECT MIN(id) FROM civicrm_phone WHERE contact_id IS NOT NULL");
        p4 = child_int(&e, "SELECT MAX(id) FROM civicrm_phone WHERE contact_id IS NOT NULL");
        p1 = it_int(e.c, "SELECT MIN(p.id) FROM civicrm_phone p WHERE p.contact_id IS NOT "
                    "NULL AND p.phone IS NOT NULL AND p.id NOT IN (%lld, %lld)", p3, p4);
        p2 = it_int(e.c, "SELECT MIN(p.id) FROM civicrm_phone p JOIN civicrm_phone q ON "
                    "q.id = %lld WHERE p.contact_id IS NOT NULL AND p.contact_id <> "
                    "q.contact_id AND p.phone <> q.phone AND p.id NOT IN (%lld, %lld)",
                    p1, p3, p4);
        c1 = it_int(e.c, "SELECT contact_id FROM civicrm_phone WHERE id = %lld", p1);
        c2 = it_int(e.c, "SELECT contact_id FROM civicrm_phone WHERE id = %lld", p2);
        c3 = it_int(e.c, "SELECT contact_id FROM civicrm_phone WHERE id = %lld", p3);
        c4 = it_int(e.c, "SELECT contact_id FROM civicrm_phone WHERE id = %lld", p4);
        c5 = it_int(e.c, "SELECT MIN(id) FROM civicrm_contact WHERE id NOT IN "
                    "(%lld, %lld, %lld, %lld) AND contact_type = 'Individual'",
                    c1, c2, c3, c4);
        ck_assert_int_eq(it_int(e.c, "SELECT COUNT(DISTINCT contact_id) FROM civicrm_phone "
                                "WHERE id IN (%lld, %lld, %lld, %lld)", p1, p2, p3, p4), 4);
        ck_assert_int_eq(master_has(&e, "civicrm_phone", p3, "x.phone_ext IS NULL"), 1);
        ck_assert_int_eq(master_has(&e, "civicrm_phone", p4, "x.phone_ext = ''"), 1);
        it_exec(e.c, "SET @a = (SELECT phone FROM civicrm_phone WHERE id = %lld), "
                "@b = (SELECT phone FROM civicrm_phone WHERE id = %lld)", p1, p2);
        it_exec(e.c, "UPDATE civicrm_phone SET phone = IF(id = %lld, @b, @a) WHERE id IN "
                "(%lld, %lld)", p1, p1, p2);
        ck_assert_int_eq(it_int(e.c, "SELECT COUNT(*) FROM civicrm_phone WHERE "
                                "(id = %lld AND phone = @b) OR (id = %lld AND phone = @a)",
                                p1, p2), 2);
        it_exec(e.c, "UPDATE civicrm_phone SET phone_ext = '' WHERE id = %lld", p3);
        it_exec(e.c, "UPDATE civicrm_phone SET phone_ext = NULL WHERE id = %lld", p4);
        it_exec(e.c, "UPDATE civicrm_contact SET nick_name = 'Quiet', modified_date = "
                "modified_date WHERE id = %lld", c5);
        ck_assert_int_eq(produce(&e), 5);
        consume(&e);
        for (int i = 0; i < 2; i++) {
                char cond[256];
                long long pid = i ? p2 : p1;
                snprintf(cond, sizeof(cond), "x.phone = (SELECT phone FROM `%s`.civicrm_phone "
                         "WHERE id = %lld)", e.child, pid);
                ck_assert_int_eq(master_has(&e, "civicrm_phone", pid, cond), 1);
        }
        ck_assert_int_eq(master_has(&e, "civicrm_phone", p3, "x.phone_ext = ''"), 1);
        ck_assert_int_eq(master_has(&e, "civicrm_phone", p4, "x.phone_ext IS NULL"), 1);
        ck_assert_int_eq(master_has(&e, "civicrm_contact", c5, "x.nick_name = 'Quiet'"), 1);
        files_before = fp_file_names(e.prefix);
        ck_assert_msg(strstr(files_before, ".civicrm_phone ") != NULL, "%s", files_before);
        ck_assert_int_eq(produce(&e), 0);
        files_after = fp_file_names(e.prefix);
        ck_assert_str_eq(files_after, files_before);
        free(files_before);
        free(files_after);
        env_close(&e);
}
END_TEST

/* Another run holds the prefix's lock: exit 3, nothing sent. */
START_TEST(test_concurrent_run_locked)
{
        env_t e;
        char lock[512];
        int fd;
        it_run_t r;
        env_open(&e, "--schema 5 --child 1 --contacts 60", NULL);
        snprintf(lock, sizeof(lock), "%s/state/%s.lock", it_tmpdir(), e.prefix);
        fd = open(lock, O_RDWR);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
        r = it_run("civisync-produce", "-c", e.pconf, NULL);
        ck_assert_int_eq(r.exit_code, 3);
        ck_assert_msg(strstr(r.err, "still running") != NULL, "%s", r.err);
        ck_assert_str_eq(r.out, "");
        it_run_free(&r);
        close(fd);
        ck_assert_int_eq(produce(&e), 0);
        env_close(&e);
}
END_TEST

static void create_dead_letter_topic(void)
{
        static int done;
        if (!done++)
                it_topic("civisync.dead-letter", 1);
}

Suite *incremental_suite(void)
{
        Suite *s = suite_create("incremental");
        TCase *tc = tcase_create("changes");

        tcase_set_timeout(tc, 600);
        tcase_add_checked_fixture(tc, create_dead_letter_topic, NULL);
        tcase_add_test(tc, test_contact_field_edit);
        tcase_add_test(tc, test_phone_edit_without_triggers);
        tcase_add_test(tc, test_phone_edit_with_trigger);
        tcase_add_test(tc, test_email_deleted);
        tcase_add_test(tc, test_address_moved_location_type);
        tcase_add_test(tc, test_contact_trashed_and_restored);
        tcase_add_test(tc, test_contact_hard_deleted_with_cascade);
        tcase_add_test(tc, test_relationship_added_ended_deleted);
        tcase_add_test(tc, test_group_membership_added_removed);
        tcase_add_test(tc, test_tag_added_removed);
        tcase_add_test(tc, test_note_added_edited_deleted);
        tcase_add_test(tc, test_activity_added_edited_deleted);
        tcase_add_test(tc, test_group_created_renamed_deleted);
        tcase_add_test(tc, test_saved_search_edited);
        tcase_add_test(tc, test_same_modified_date_straddling_cursor);
        tcase_add_test(tc, test_late_commit_older_modified_date);
        tcase_add_test(tc, test_unwritten_tables_not_read);
        tcase_add_test(tc, test_unread_table_late_commit);
        tcase_add_test(tc, test_legacy_42_child_civicrm_log);
        tcase_add_test(tc, test_nothing_changed_sends_nothing);
        tcase_add_test(tc, test_dry_run_and_output);
        tcase_add_test(tc, test_failed_run_leaves_state);
        tcase_add_test(tc, test_concurrent_run_locked);
        tcase_add_test(tc, test_swap_null_empty_and_quiet_edit);
        suite_add_tcase(s, tc);
        return s;
}
