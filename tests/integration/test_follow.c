/* test_follow.c — real-time sync: civisync_ triggers beside CiviCRM's, the --follow daemon, a crash between send and delete, reconciliation. */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "registry.h"

/* Bounded waits (not timings): generous for a loaded 2-core machine. */
#define ARRIVE_TIMEOUT_S 60
#define STOP_TIMEOUT_S 60

typedef struct env_s {
        char master[64], child[64], prefix[32];
        char *pconf, *cconf;
        MYSQL *m, *c;
} env_t;

/* A background program: its pid and the file its stderr goes to. */
typedef struct bg_s {
        pid_t pid;
        char err_path[512], out_path[512];
} bg_t;

static void bg_start(bg_t *bg, const char *env_kv, const char *program, ...)
        __attribute__((sentinel));
static void bg_start(bg_t *bg, const char *env_kv, const char *program, ...)
{
        static int counter;
        const char *argv[32];
        char path[512];
        va_list ap;
        int argc = 0;

        snprintf(path, sizeof(path), "bin/%s", program);
        argv[argc++] = path;
        va_start(ap, program);
        while (argc < 31 && (argv[argc] = va_arg(ap, const char *)))
                argc++;
        va_end(ap);
        argv[argc] = NULL;
        snprintf(bg->err_path, sizeof(bg->err_path), "%s/bg.%ld.%d.err",
                 it_tmpdir(), (long)getpid(), counter);
        snprintf(bg->out_path, sizeof(bg->out_path), "%s/bg.%ld.%d.out",
                 it_tmpdir(), (long)getpid(), counter++);
        bg->pid = fork();
        ck_assert(bg->pid >= 0);
        if (bg->pid == 0) {
                int e = open(bg->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
                int o = open(bg->out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
                dup2(o, 1);
                dup2(e, 2);
                if (env_kv)
                        putenv((char *)env_kv);
                execv(path, (char *const *)argv);
                _exit(127);
        }
}

static char *slurp_path(const char *path)
{
        FILE *f = fopen(path, "r");
        char *buf = calloc(1, 1 << 20);
        if (f) {
                size_t n = fread(buf, 1, (1 << 20) - 1, f);
                buf[n] = '\0';
                fclose(f);
        }
        return buf;
}

/* Waits (bounded) for the program to exit by itself; its exit code, or
 * -1 when a signal ended it. */
static int bg_wait(bg_t *bg)
{
        int status = 0;
        for (int i = 0; i < STOP_TIMEOUT_S * 10; i++) {
                if (waitpid(bg->pid, &status, WNOHANG) == bg->pid) {
                        bg->pid = 0;
                        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
                }
                usleep(100000);
        }
        kill(bg->pid, SIGKILL);
        waitpid(bg->pid, &status, 0);
        bg->pid = 0;
        ck_abort_msg("a background program did not exit within %d s",
                     STOP_TIMEOUT_S);
        return -1;
}

/* SIGTERM, then the exit code. */
static int bg_stop(bg_t *bg)
{
        if (bg->pid <= 0)
                return -1;
        kill(bg->pid, SIGTERM);
        return bg_wait(bg);
}

/* Polls until text appears in the program's stderr (bounded). */
static void bg_wait_log(bg_t *bg, const char *text)
{
        for (int i = 0; i < ARRIVE_TIMEOUT_S * 10; i++) {
                char *err = slurp_path(bg->err_path);
                int found = strstr(err, text) != NULL;
                free(err);
                if (found)
                        return;
                usleep(100000);
        }
        char *err = slurp_path(bg->err_path);
        ck_abort_msg("'%s' not logged within %d s; stderr:\n%s", text,
                     ARRIVE_TIMEOUT_S, err);
}

/* Polls until the master query returns want (bounded). */
static void wait_master(env_t *e, long long want, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void wait_master(env_t *e, long long want, const char *fmt, ...)
{
        char sql[2048];
        va_list ap;
        long long got = -1;

        va_start(ap, fmt);
        vsnprintf(sql, sizeof(sql), fmt, ap);
        va_end(ap);
        for (int i = 0; i < ARRIVE_TIMEOUT_S * 10; i++) {
                /* The consumer creates the mapping table on its first
                 * document. */
                if (!it_int(e->m, "SELECT COUNT(*) FROM information_schema."
                            "TABLES WHERE TABLE_SCHEMA = DATABASE() AND "
                            "TABLE_NAME = 'mapping_master_%s'", e->prefix)) {
                        usleep(100000);
                        continue;
                }
                got = it_int(e->m, "%s", sql);
                if (got == want)
                        return;
                usleep(100000);
        }
        ck_abort_msg("master: %s = %lld, not %lld after %d s", sql, got, want,
                     ARRIVE_TIMEOUT_S);
}

static long long master_has(env_t *e, const char *table, long long child_id,
                            const char *cond)
{
        return it_int(e->m, "SELECT COUNT(*) FROM mapping_master_%s mp JOIN "
                      "`%s` x ON x.id = mp.master_entity_id WHERE "
                      "mp.entity_table = '%s' AND mp.child_entity_id = %lld "
                      "AND (%s)", e->prefix, table, table, child_id,
                      cond ? cond : "1");
}

static void wait_has(env_t *e, long long want, const char *table,
                     long long child_id, const char *cond)
{
        wait_master(e, want, "SELECT COUNT(*) FROM mapping_master_%s mp JOIN "
                    "`%s` x ON x.id = mp.master_entity_id WHERE "
                    "mp.entity_table = '%s' AND mp.child_entity_id = %lld "
                    "AND (%s)", e->prefix, table, table, child_id,
                    cond ? cond : "1");
}

static it_run_t produce_args(env_t *e, const char *opt)
{
        return it_run("civisync-produce", "-c", e->pconf, opt, NULL);
}

static void run_ok(env_t *e, const char *opt)
{
        it_run_t r = opt ? produce_args(e, opt) :
                     it_run("civisync-produce", "-c", e->pconf, NULL);
        ck_assert_msg(r.exit_code == 0, "produce %s exit %d: %s",
                      opt ? opt : "", r.exit_code, r.err);
        it_run_free(&r);
}

static void consume_once(env_t *e)
{
        it_run_t r = it_run("civisync-consume", "-c", e->cconf, "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "consume exit %d: %s", r.exit_code,
                      r.err);
        ck_assert_msg(strstr(r.err, "rejected to") == NULL, "rejections: %s",
                      r.err);
        it_run_free(&r);
}

/* A child (60 contacts) synced once, a master; pextra goes into the
 * producer config. */
static void env_open(env_t *e, const char *pextra)
{
        char tag[32], conf[128];

        memset(e, 0, sizeof(*e));
        it_unique(e->master, sizeof(e->master), "fmaster");
        it_unique(e->child, sizeof(e->child), "fchild");
        it_unique(tag, sizeof(tag), "fol");
        snprintf(e->prefix, sizeof(e->prefix), "f%s", tag + 4);
        it_make_db(e->master, "--schema 5");
        it_make_db(e->child, "--schema 5 --child 1 --contacts 60");
        snprintf(conf, sizeof(conf), "civisync.%s", e->prefix);
        it_topic(conf, 1);
        e->pconf = strdup(it_producer_conf(e->prefix, e->child, pextra));
        snprintf(conf, sizeof(conf), "prefixes = [\"%s\"];", e->prefix);
        e->cconf = strdup(it_consumer_conf(e->master, conf));
        e->m = it_connect(e->master);
        e->c = it_connect(e->child);
}

static void env_close(env_t *e)
{
        mysql_close(e->m);
        mysql_close(e->c);
        free(e->pconf);
        free(e->cconf);
}

static long long outbox_rows(env_t *e)
{
        return it_int(e->c, "SELECT COUNT(*) FROM civisync_outbox");
}

static long long triggers_named(env_t *e, const char *like)
{
        return it_int(e->c, "SELECT COUNT(*) FROM information_schema.TRIGGERS "
                      "WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME "
                      "LIKE '%s'", like);
}

/* CiviCRM 5.39's runtime set on the contact's location tables (modified
 * date bump) and detailed logging on civicrm_email, as triggerRebuild
 * makes them (names <table>_after_<event>, one body per event). */
static void civicrm_triggers(env_t *e)
{
        static const char *const tables[] = { "civicrm_email", "civicrm_phone",
                "civicrm_address", "civicrm_im", "civicrm_website", NULL };
        static const char *const ev[3][2] = {
                { "insert", "NEW" }, { "update", "NEW" }, { "delete", "OLD" } };

        it_exec(e->c, "CREATE TABLE log_civicrm_email (id INT UNSIGNED, "
                "email VARCHAR(254), log_date TIMESTAMP(6) NOT NULL DEFAULT "
                "CURRENT_TIMESTAMP(6), log_action ENUM('Initialization',"
                "'Insert','Update','Delete')) ENGINE=InnoDB");
        for (int t = 0; tables[t]; t++)
                for (int k = 0; k < 3; k++) {
                        int logged = !strcmp(tables[t], "civicrm_email");
                        it_exec(e->c, "CREATE TRIGGER %s_after_%s AFTER %s ON "
                                "%s FOR EACH ROW BEGIN UPDATE civicrm_contact "
                                "SET modified_date = CURRENT_TIMESTAMP WHERE "
                                "id = %s.contact_id; %s%s%s%s%s END",
                                tables[t], ev[k][0], ev[k][0], tables[t],
                                ev[k][1],
                                logged ? "INSERT INTO log_civicrm_email (id, "
                                         "email, log_action) VALUES (" : "",
                                logged ? ev[k][1] : "",
                                logged ? ".id, " : "",
                                logged ? ev[k][1] : "",
                                logged ? (k == 0 ? ".email, 'Insert'); " :
                                          k == 1 ? ".email, 'Update'); " :
                                                   ".email, 'Delete'); ") : "");
                }
}

/* (1) Installed beside CiviCRM's triggers: both fire; a re-install changes
 * nothing; remove leaves CiviCRM's. */
START_TEST(test_triggers_coexist)
{
        env_t e;
        long long cid, eid, theirs, ours;
        it_run_t r;

        env_open(&e, NULL);
        civicrm_triggers(&e);
        theirs = triggers_named(&e, "civicrm\\_%");
        ck_assert_int_eq(theirs, 15);
        r = produce_args(&e, "--install-triggers");
        ck_assert_msg(r.exit_code == 0, "install exit %d: %s", r.exit_code,
                      r.err);
        ck_assert_msg(strstr(r.out, "trigger(s) in place") != NULL, "%s",
                      r.out);
        it_run_free(&r);
        ours = triggers_named(&e, "civisync\\_%");
        /* Three on every table of every registered entity that the child
         * has (the phase-1 child lacks the later phases' tables), whatever
         * the registry holds. */
        {
                size_t n, present = 0;
                const cs_entity_t *ents = cs_reg_entities(&n);
                for (size_t i = 0; i < n; i++) {
                        /* a table read by two entities (loc_*) has one set */
                        if (cs_reg_by_table(ents[i].table) != &ents[i])
                                continue;
                        if (!it_int(e.c, "SELECT COUNT(*) FROM information_schema."
                                    "TABLES WHERE TABLE_SCHEMA = DATABASE() AND "
                                    "TABLE_NAME = '%s'", ents[i].table))
                                continue;
                        present++;
                        ck_assert_msg(it_int(e.c, "SELECT COUNT(*) FROM "
                                             "information_schema.TRIGGERS "
                                             "WHERE TRIGGER_SCHEMA = "
                                             "DATABASE() AND "
                                             "EVENT_OBJECT_TABLE = '%s' AND "
                                             "TRIGGER_NAME LIKE "
                                             "'civisync\\_%%' AND "
                                             "ACTION_TIMING = 'AFTER'",
                                             ents[i].table) == 3,
                                      "%s: not 3 civisync_ triggers",
                                      ents[i].table);
                }
                ck_assert_uint_gt(present, 16);
                ck_assert_int_eq(ours, 3 * (long long)present);
        }
        ck_assert_int_eq(triggers_named(&e, "civisync\\_civicrm\\_email\\_a_"),
                         3);
        /* Idempotent. */
        run_ok(&e, "--install-triggers");
        ck_assert_int_eq(triggers_named(&e, "civisync\\_%"), ours);
        ck_assert_int_eq(triggers_named(&e, "civicrm\\_%"), theirs);
        ck_assert_int_eq(outbox_rows(&e), 0);

        /* One email insert: CiviCRM's bump, its log row, and our outbox
         * rows (the email, and the contact its bump updated). */
        cid = it_int(e.c, "SELECT MIN(id) FROM civicrm_contact");
        it_exec(e.c, "UPDATE civicrm_contact SET modified_date = "
                "'2001-01-01 00:00:00' WHERE id = %lld", cid);
        it_exec(e.c, "DELETE FROM civisync_outbox");
        it_exec(e.c, "INSERT INTO civicrm_email (contact_id, email, "
                "location_type_id, is_primary) VALUES (%lld, "
                "'both@example.org', 1, 0)", cid);
        eid = it_int(e.c, "SELECT MAX(id) FROM civicrm_email");
        ck_assert_int_eq(it_int(e.c, "SELECT COUNT(*) FROM civicrm_contact "
                                "WHERE id = %lld AND modified_date > "
                                "'2020-01-01'", cid), 1);
        ck_assert_int_eq(it_int(e.c, "SELECT COUNT(*) FROM log_civicrm_email "
                                "WHERE id = %lld AND log_action = 'Insert'",
                                eid), 1);
        ck_assert_int_eq(it_int(e.c, "SELECT COUNT(*) FROM civisync_outbox "
                                "WHERE tbl = 'civicrm_email' AND row_id = "
                                "%lld AND root_id = %lld AND op = 'I'", eid,
                                cid), 1);
        ck_assert_int_eq(it_int(e.c, "SELECT COUNT(*) FROM civisync_outbox "
                                "WHERE tbl = 'civicrm_contact' AND row_id = "
                                "%lld AND op = 'U'", cid), 1);
        /* A delete records the row and its root from OLD. */
        it_exec(e.c, "DELETE FROM civicrm_email WHERE id = %lld", eid);
        ck_assert_int_eq(it_int(e.c, "SELECT COUNT(*) FROM civisync_outbox "
                                "WHERE tbl = 'civicrm_email' AND row_id = "
                                "%lld AND root_id = %lld AND op = 'D'", eid,
                                cid), 1);

        r = produce_args(&e, "--remove-triggers");
        ck_assert_msg(r.exit_code == 0, "remove exit %d: %s", r.exit_code,
                      r.err);
        {
                char want[64];
                snprintf(want, sizeof(want), "%lld civisync_ trigger(s) "
                         "removed", ours);
                ck_assert_msg(strstr(r.out, want) != NULL, "%s", r.out);
        }
        it_run_free(&r);
        ck_assert_int_eq(triggers_named(&e, "civisync\\_%"), 0);
        ck_assert_int_eq(triggers_named(&e, "civicrm\\_%"), theirs);
        /* CiviCRM's still fire, ours no longer. */
        it_exec(e.c, "DELETE FROM civisync_outbox");
        it_exec(e.c, "UPDATE civicrm_contact SET modified_date = "
                "'2001-01-01 00:00:00' WHERE id = %lld", cid);
        it_exec(e.c, "INSERT INTO civicrm_email (contact_id, email, "
                "location_type_id, is_primary) VALUES (%lld, "
                "'after@example.org', 1, 0)", cid);
        ck_assert_int_eq(it_int(e.c, "SELECT COUNT(*) FROM civicrm_contact "
                                "WHERE id = %lld AND modified_date > "
                                "'2020-01-01'", cid), 1);
        ck_assert_int_eq(outbox_rows(&e), 0);
        env_close(&e);
}
END_TEST

/* (2) The daemon: inserts, updates, deletes (root and nested) reach the
 * master through the outbox alone (reconciliation only at start). */
START_TEST(test_follow_delivers)
{
        env_t e;
        bg_t prod = { 0 }, cons = { 0 };
        long long cid, del_cid, upd_eid, new_cid, new_eid, upd_cid, loc_eid;
        char *out;

        env_open(&e, "follow_interval_ms = 100;\nreconcile_interval = 3600;");
        run_ok(&e, "--install-triggers");
        bg_start(&cons, NULL, "civisync-consume", "-c", e.cconf, NULL);
        bg_start(&prod, NULL, "civisync-produce", "-c", e.pconf, "--follow",
                 NULL);
        bg_wait_log(&prod, "reconciliation (complete)");
        cid = it_int(e.c, "SELECT MAX(id) FROM civicrm_contact");
        wait_has(&e, 1, "civicrm_contact", cid, NULL);
        /* A cron run meanwhile: the lock is held. */
        {
                it_run_t r = it_run("civisync-produce", "-c", e.pconf, NULL);
                ck_assert_int_eq(r.exit_code, 3);
                it_run_free(&r);
        }

        upd_cid = it_int(e.c, "SELECT MIN(id) FROM civicrm_contact");
        del_cid = it_int(e.c, "SELECT MIN(c.id) FROM civicrm_contact c JOIN "
                         "civicrm_email m ON m.contact_id = c.id WHERE c.id > "
                         "%lld", upd_cid);
        upd_eid = it_int(e.c, "SELECT MIN(id) FROM civicrm_email WHERE "
                         "contact_id IS NOT NULL AND contact_id NOT IN "
                         "(%lld, %lld)", upd_cid, del_cid);
        ck_assert_int_eq(master_has(&e, "civicrm_contact", del_cid, NULL), 1);
        it_exec(e.c, "INSERT INTO civicrm_contact (contact_type, first_name, "
                "last_name, display_name, sort_name) VALUES ('Individual', "
                "'Fol', 'Lowed', 'Fol Lowed', 'Lowed, Fol')");
        new_cid = it_int(e.c, "SELECT MAX(id) FROM civicrm_contact");
        it_exec(e.c, "INSERT INTO civicrm_email (contact_id, email, "
                "location_type_id, is_primary) VALUES (%lld, "
                "'fol@example.org', 1, 1)", new_cid);
        new_eid = it_int(e.c, "SELECT MAX(id) FROM civicrm_email");
        it_exec(e.c, "UPDATE civicrm_contact SET first_name = 'Realtime' "
                "WHERE id = %lld", upd_cid);
        it_exec(e.c, "UPDATE civicrm_email SET email = 'nested@example.org' "
                "WHERE id = %lld", upd_eid);
        it_exec(e.c, "DELETE FROM civicrm_contact WHERE id = %lld", del_cid);
        /* A location block's email (contact_id NULL, entity loc_email):
         * sent by its own view; the contact's email edited above is not
         * the loc view's (no tombstone for it, issue #16). */
        it_exec(e.c, "INSERT INTO civicrm_email (contact_id, email, "
                "location_type_id) VALUES (NULL, 'venue@example.org', 1)");
        loc_eid = it_int(e.c, "SELECT MAX(id) FROM civicrm_email");

        wait_has(&e, 1, "civicrm_email", loc_eid,
                 "x.contact_id IS NULL AND x.email = 'venue@example.org'");
        wait_has(&e, 1, "civicrm_contact", new_cid, "x.first_name = 'Fol'");
        wait_has(&e, 1, "civicrm_email", new_eid,
                 "x.email = 'fol@example.org'");
        wait_has(&e, 1, "civicrm_contact", upd_cid,
                 "x.first_name = 'Realtime'");
        wait_has(&e, 1, "civicrm_email", upd_eid,
                 "x.email = 'nested@example.org'");
        wait_has(&e, 0, "civicrm_contact", del_cid, NULL);
        /* The outbox empties once the sends are confirmed. */
        for (int i = 0; i < ARRIVE_TIMEOUT_S * 10 && outbox_rows(&e); i++)
                usleep(100000);
        ck_assert_int_eq(outbox_rows(&e), 0);

        ck_assert_int_eq(bg_stop(&prod), 0);
        out = slurp_path(prod.out_path);
        ck_assert_msg(strstr(out, " follow: ") != NULL, "%s", out);
        free(out);
        ck_assert_int_eq(bg_stop(&cons), 0);
        it_assert_synced(e.c, e.m, e.prefix);
        env_close(&e);
}
END_TEST

/* (3) A crash after the delivery, before the outbox delete: the rows stay,
 * a restart sends them again, the master is right and the outbox drains. */
START_TEST(test_follow_crash_after_send)
{
        env_t e;
        bg_t prod = { 0 };
        long long cid;
        char *err;

        env_open(&e, "follow_interval_ms = 100;\nreconcile_interval = 3600;");
        run_ok(&e, NULL);              /* first run: complete */
        consume_once(&e);
        run_ok(&e, "--install-triggers");
        bg_start(&prod, "CIVISYNC_TEST_CRASH_AFTER_SEND=1", "civisync-produce",
                 "-c", e.pconf, "--follow", NULL);
        bg_wait_log(&prod, "reconciliation (incremental)");
        cid = it_int(e.c, "SELECT MIN(id) FROM civicrm_contact");
        it_exec(e.c, "UPDATE civicrm_contact SET first_name = 'Crashed' "
                "WHERE id = %lld", cid);
        ck_assert_int_eq(bg_wait(&prod), 1);
        err = slurp_path(prod.err_path);
        ck_assert_msg(strstr(err, "CIVISYNC_TEST_CRASH_AFTER_SEND") != NULL,
                      "%s", err);
        free(err);
        /* Delivered, not deleted. */
        ck_assert_int_ge(outbox_rows(&e), 1);
        consume_once(&e);
        ck_assert_int_eq(master_has(&e, "civicrm_contact", cid,
                                    "x.first_name = 'Crashed'"), 1);

        /* Restart: the outbox is sent again and drained. */
        bg_start(&prod, NULL, "civisync-produce", "-c", e.pconf, "--follow",
                 NULL);
        for (int i = 0; i < ARRIVE_TIMEOUT_S * 10 && outbox_rows(&e); i++)
                usleep(100000);
        ck_assert_int_eq(outbox_rows(&e), 0);
        ck_assert_int_eq(bg_stop(&prod), 0);
        consume_once(&e);
        ck_assert_int_eq(master_has(&e, "civicrm_contact", cid,
                                    "x.first_name = 'Crashed'"), 1);
        it_assert_synced(e.c, e.m, e.prefix);
        env_close(&e);
}
END_TEST

/* (4) Changes the triggers never saw (triggers removed, a bulk change)
 * arrive with the periodic reconciliation of the running daemon. */
START_TEST(test_follow_reconcile_catches_missed)
{
        env_t e;
        bg_t prod = { 0 }, cons = { 0 };
        long long pid;

        env_open(&e, "follow_interval_ms = 100;\nreconcile_interval = 3;");
        run_ok(&e, "--install-triggers");
        bg_start(&cons, NULL, "civisync-consume", "-c", e.cconf, NULL);
        bg_start(&prod, NULL, "civisync-produce", "-c", e.pconf, "--follow",
                 NULL);
        bg_wait_log(&prod, "reconciliation (complete)");
        run_ok(&e, "--remove-triggers");
        pid = it_int(e.c, "SELECT MIN(id) FROM civicrm_phone WHERE "
                     "contact_id IS NOT NULL");
        it_exec(e.c, "UPDATE civicrm_phone SET phone = '555-0777' WHERE "
                "id = %lld", pid);
        it_exec(e.c, "UPDATE civicrm_contact SET job_title = 'Bulk'");
        ck_assert_int_eq(outbox_rows(&e), 0);
        wait_has(&e, 1, "civicrm_phone", pid, "x.phone = '555-0777'");
        wait_master(&e, it_int(e.c, "SELECT COUNT(*) FROM civicrm_contact"),
                    "SELECT COUNT(*) FROM mapping_master_%s mp JOIN "
                    "civicrm_contact x ON x.id = mp.master_entity_id WHERE "
                    "mp.entity_table = 'civicrm_contact' AND x.job_title = "
                    "'Bulk'", e.prefix);
        ck_assert_int_eq(bg_stop(&prod), 0);
        ck_assert_int_eq(bg_stop(&cons), 0);
        env_close(&e);
}
END_TEST

/* The documented grants (docs/PRODUCER.md "Grants on the child"): an
 * installing account with SELECT, TRIGGER, CREATE and INSERT (narrowed to
 * INSERT on the outbox once it exists); the daemon's reader with SELECT
 * and DELETE on the outbox only. */
START_TEST(test_follow_documented_grants)
{
        env_t e;
        bg_t prod = { 0 };
        char inst[48], reader[48], text[2048];
        char *iconf, *rconf;
        const char *sock = getenv("CS_TEST_MYSQL_SOCKET");
        long long cid;
        it_run_t r;

        env_open(&e, NULL);
        it_unique(inst, sizeof(inst), "ti");
        it_unique(reader, sizeof(reader), "tr");
        it_exec(e.c, "CREATE USER '%s'@'localhost' IDENTIFIED BY 'i-secret'",
                inst);
        it_exec(e.c, "GRANT SELECT, TRIGGER, CREATE, INSERT ON `%s`.* TO "
                "'%s'@'localhost'", e.child, inst);
        it_exec(e.c, "CREATE USER '%s'@'localhost' IDENTIFIED BY 'r-secret'",
                reader);
        it_exec(e.c, "GRANT SELECT ON `%s`.* TO '%s'@'localhost'", e.child,
                reader);
        snprintf(text, sizeof(text), "prefix = \"%s\";\nstate_dir = "
                 "\"%s/state\";\nchild = { socket = \"%s\"; user = \"%s\"; "
                 "password = \"i-secret\"; database = \"%s\"; };\nkafka = { "
                 "brokers = \"%s\"; };\n", e.prefix, it_tmpdir(), sock, inst,
                 e.child, it_brokers());
        iconf = strdup(it_write_file("follow-install.cfg", text));
        snprintf(text, sizeof(text), "prefix = \"%s\";\nstate_dir = "
                 "\"%s/state\";\nfollow_interval_ms = 50;\nchild = { socket "
                 "= \"%s\"; user = \"%s\"; password = \"r-secret\"; database "
                 "= \"%s\"; };\nkafka = { brokers = \"%s\"; };\n", e.prefix,
                 it_tmpdir(), sock, reader, e.child, it_brokers());
        rconf = strdup(it_write_file("follow-reader.cfg", text));

        r = it_run("civisync-produce", "-c", iconf, "--install-triggers",
                   NULL);
        ck_assert_msg(r.exit_code == 0, "install exit %d: %s", r.exit_code,
                      r.err);
        it_run_free(&r);
        /* Narrowed once the outbox exists, as documented. */
        it_exec(e.c, "GRANT INSERT ON `%s`.civisync_outbox TO "
                "'%s'@'localhost'", e.child, inst);
        it_exec(e.c, "REVOKE INSERT ON `%s`.* FROM '%s'@'localhost'",
                e.child, inst);
        it_exec(e.c, "GRANT DELETE ON `%s`.civisync_outbox TO "
                "'%s'@'localhost'", e.child, reader);
        /* The reader cannot install. */
        r = it_run("civisync-produce", "-c", rconf, "--install-triggers",
                   NULL);
        ck_assert_int_eq(r.exit_code, 1);
        it_run_free(&r);
        bg_start(&prod, NULL, "civisync-produce", "-c", rconf, "--follow",
                 NULL);
        bg_wait_log(&prod, "reconciliation (complete)");
        cid = it_int(e.c, "SELECT MIN(id) FROM civicrm_contact");
        /* CiviCRM's own session (here: root) fires the trigger, which runs
         * as its definer. */
        it_exec(e.c, "UPDATE civicrm_contact SET first_name = 'Granted' "
                "WHERE id = %lld", cid);
        ck_assert_int_ge(outbox_rows(&e), 1);
        for (int i = 0; i < ARRIVE_TIMEOUT_S * 10 && outbox_rows(&e); i++)
                usleep(100000);
        ck_assert_int_eq(outbox_rows(&e), 0);
        ck_assert_int_eq(bg_stop(&prod), 0);
        consume_once(&e);
        ck_assert_int_eq(master_has(&e, "civicrm_contact", cid,
                                    "x.first_name = 'Granted'"), 1);
        it_exec(e.c, "DROP USER '%s'@'localhost'", inst);
        it_exec(e.c, "DROP USER '%s'@'localhost'", reader);
        free(iconf);
        free(rconf);
        env_close(&e);
}
END_TEST

/* The metadata gate in real time: a relationship type added on the child
 * before the daemon starts reaches the master with the start-up
 * reconciliation; one added while it runs reaches the master before the
 * relationship that uses it (the drain sends the changed metadata first;
 * the master's relationship needs its type: a foreign key). */
START_TEST(test_follow_metadata_gate)
{
        env_t e;
        bg_t prod = { 0 }, cons = { 0 };
        long long rt0, rt, rel, ov;

        env_open(&e, "follow_interval_ms = 100;\nreconcile_interval = 3600;");
        run_ok(&e, "--install-triggers");
        it_exec(e.c, "INSERT INTO civicrm_relationship_type (name_a_b, label_a_b, "
                "name_b_a, label_b_a, is_active) VALUES ('Coach of', 'Coach of', "
                "'Coached by', 'Coached by', 1)");
        rt0 = it_int(e.c, "SELECT MAX(id) FROM civicrm_relationship_type");
        bg_start(&cons, NULL, "civisync-consume", "-c", e.cconf, NULL);
        bg_start(&prod, NULL, "civisync-produce", "-c", e.pconf, "--follow",
                 NULL);
        bg_wait_log(&prod, "reconciliation (complete)");
        wait_master(&e, 1, "SELECT COUNT(*) FROM civicrm_relationship_type "
                    "WHERE id = %lld AND name_a_b = 'Coach of'", rt0);

        it_exec(e.c, "INSERT INTO civicrm_option_value (option_group_id, label, "
                "value, name, weight, is_active) SELECT id, 'Site visit', "
                "'9001', 'Site visit', 9001, 1 FROM civicrm_option_group WHERE "
                "name = 'activity_type'");
        ov = it_int(e.c, "SELECT MAX(id) FROM civicrm_option_value");
        it_exec(e.c, "INSERT INTO civicrm_relationship_type (name_a_b, label_a_b, "
                "name_b_a, label_b_a, is_active) VALUES ('Mentor of', 'Mentor of', "
                "'Mentee of', 'Mentee of', 1)");
        rt = it_int(e.c, "SELECT MAX(id) FROM civicrm_relationship_type");
        it_exec(e.c, "INSERT INTO civicrm_relationship (contact_id_a, contact_id_b, "
                "relationship_type_id, is_active) SELECT MIN(id), MAX(id), %lld, 1 "
                "FROM civicrm_contact WHERE contact_type = 'Individual'", rt);
        rel = it_int(e.c, "SELECT MAX(id) FROM civicrm_relationship");
        wait_has(&e, 1, "civicrm_relationship", rel, NULL);
        ck_assert_int_eq(master_has(&e, "civicrm_relationship", rel, NULL), 1);
        ck_assert_int_eq(it_int(e.m, "SELECT COUNT(*) FROM civicrm_relationship_type "
                                "WHERE id = %lld AND name_a_b = 'Mentor of'", rt), 1);
        ck_assert_int_eq(it_int(e.m, "SELECT COUNT(*) FROM civicrm_relationship x "
                                "JOIN mapping_master_%s mp ON mp.master_entity_id "
                                "= x.id AND mp.entity_table = 'civicrm_relationship' "
                                "WHERE mp.child_entity_id = %lld AND "
                                "x.relationship_type_id = %lld", e.prefix, rel,
                                rt), 1);
        ck_assert_int_eq(it_int(e.m, "SELECT COUNT(*) FROM civicrm_option_value "
                                "WHERE id = %lld AND name = 'Site visit'", ov), 1);
        /* Nothing waits on the master. */
        ck_assert_int_eq(it_int(e.m, "SELECT (SELECT COUNT(*) FROM civisync_parked "
                                "WHERE prefix = '%s') + (SELECT COUNT(*) FROM "
                                "civisync_parked_doc WHERE prefix = '%s')",
                                e.prefix, e.prefix), 0);
        ck_assert_int_eq(bg_stop(&prod), 0);
        ck_assert_int_eq(bg_stop(&cons), 0);
        it_assert_synced(e.c, e.m, e.prefix);
        env_close(&e);
}
END_TEST

Suite *follow_suite(void)
{
        Suite *s = suite_create("follow");
        TCase *tc = tcase_create("follow");
        tcase_set_timeout(tc, 300);
        tcase_add_test(tc, test_triggers_coexist);
        tcase_add_test(tc, test_follow_delivers);
        tcase_add_test(tc, test_follow_crash_after_send);
        tcase_add_test(tc, test_follow_reconcile_catches_missed);
        tcase_add_test(tc, test_follow_documented_grants);
        suite_add_tcase(s, tc);
        tc = tcase_create("follow_meta");
        tcase_set_timeout(tc, 300);
        tcase_add_test(tc, test_follow_metadata_gate);
        suite_add_tcase(s, tc);
        return s;
}
