/* follow.c — civisync-produce --follow (real-time daemon over the trigger outbox) and --install-triggers / --remove-triggers. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "complete.h"
#include "db.h"
#include "follow.h"
#include "gate.h"
#include "incremental.h"
#include "log.h"
#include "outbox.h"
#include "progress.h"
#include "snapshot.h"
#include "sink.h"
#include "state.h"
#include "triggers.h"

#define PROGRAM "civisync-produce"
/* Failures in a row (database or Kafka) after which --follow gives up and
 * exits 1; the wait before retry n is n seconds. */
#define FOLLOW_RETRY_MAX 10

static volatile sig_atomic_t follow_signals;

static void on_signal(int sig)
{
        (void)sig;
        /* The first signal lets the batch in flight finish; a second one
         * also stops a wait for delivery (the outbox keeps the rows). */
        if (++follow_signals > 1)
                cs_sink_interrupt();
}

int cs_follow_triggers(const cs_producer_conf_t *conf, int install)
{
        char errstr[1024];
        MYSQL *db = cs_db_connect(&conf->child, errstr, sizeof(errstr));
        int n = 0, rc;

        if (!db) {
                cs_error("%s", errstr);
                return CS_EXIT_FAILURE;
        }
        rc = install ? cs_trig_install(db, &n, errstr, sizeof(errstr)) :
                       cs_trig_remove(db, &n, errstr, sizeof(errstr));
        mysql_close(db);
        if (rc == -1) {
                cs_error("%s triggers on %s: %s", install ? "installing" :
                         "removing", conf->child.database, errstr);
                return CS_EXIT_FAILURE;
        }
        if (install)
                printf("%s: prefix %s: %d civisync_ trigger(s) in place on "
                       "%s, recording into " CS_TRIG_OUTBOX "\n", PROGRAM,
                       conf->prefix, n, conf->child.database);
        else
                printf("%s: prefix %s: %d civisync_ trigger(s) removed from "
                       "%s (" CS_TRIG_OUTBOX " kept)\n", PROGRAM, conf->prefix,
                       n, conf->child.database);
        fflush(stdout);
        return CS_EXIT_OK;
}

/* One run exactly as cron's (incremental, or complete without usable
 * state), with the same state file: the metadata gate first (the tables
 * whose fingerprint changed since the last delivered run; every table on
 * a complete run), then the data; the state advances only when everything
 * was delivered. gate (borrowed) then holds the fingerprints delivered,
 * for the drains that follow. */
static int reconcile(const cs_producer_conf_t *conf, MYSQL *db,
                     cs_sink_t *sink, const char *topic, json_t *gate,
                     char *errstr, size_t errstr_size)
{
        cs_run_stats_t stats = { 0 };
        json_t *state, *old_incr, *new_incr = NULL, *new_gate = json_object();
        json_t *created = json_array();
        long long state_gen, sent0 = cs_sink_sent(sink), gate_docs = 0;
        double started = cs_progress_now();
        int complete, rc = -1;

        if (!(state = cs_state_load(conf->state_dir, conf->prefix, errstr,
                                    errstr_size)))
                goto done;
        cs_state_fp_cleanup(conf->state_dir, conf->prefix, state);
        old_incr = json_object_get(state, "incremental");
        complete = !cs_incr_state_usable(old_incr);
        if (complete)
                cs_info("no usable incremental state for prefix %s in %s: "
                        "this reconciliation is a complete sync",
                        conf->prefix, conf->state_dir);
        state_gen = json_integer_value(json_object_get(old_incr,
                                                       "state_generation")) + 1;
        if (!new_gate) {
                snprintf(errstr, errstr_size, "out of memory");
                goto done;
        }
        if (cs_gate_send(db, sink, conf->prefix, conf->max_document_bytes,
                         json_object_get(old_incr, "metadata_gate"),
                         complete ? CS_GATE_FORCE : 0, new_gate, &gate_docs,
                         errstr, errstr_size) == -1)
                goto done;
        if (complete) {
                if (cs_complete_run(conf, db, sink,
                                    json_integer_value(json_object_get(state,
                                                                       "generation")),
                                    state_gen, 1, created, old_incr, &stats,
                                    &new_incr,
                                    errstr, errstr_size) == -1)
                        goto done;
        } else {
                stats.generation = json_integer_value(json_object_get(state,
                                                                      "generation"));
                if (cs_incr_run(conf, db, sink, old_incr, 1, created, &stats,
                                &new_incr, errstr, errstr_size) == -1)
                        goto done;
        }
        if (json_object_set(new_incr, "metadata_gate", new_gate) == -1) {
                snprintf(errstr, errstr_size, "out of memory");
                goto done;
        }
        if (cs_state_advance(conf->state_dir, conf->prefix, state, new_incr,
                             created, &(cs_state_run_t) {
                                     .mode = complete ? "complete" : "incremental",
                                     .complete = complete,
                                     .generation = stats.generation,
                                     .documents = stats.documents,
                                     .messages = cs_sink_sent(sink) - sent0,
                                     .destination = topic },
                             errstr, errstr_size) == -1)
                goto done;
        json_object_clear(gate);
        if (json_object_update(gate, new_gate) == -1) {
                snprintf(errstr, errstr_size, "out of memory");
                goto done;
        }
        cs_info("reconciliation (%s) of prefix %s: %lld document(s), %lld "
                "message(s) (%lld metadata gate) in %.2f s",
                complete ? "complete" : "incremental", conf->prefix,
                stats.documents, cs_sink_sent(sink) - sent0, gate_docs,
                cs_progress_now() - started);
        rc = 0;
done:
        json_decref(new_gate);
        for (size_t i = 0; i < json_array_size(created); i++)
                unlink(json_string_value(json_array_get(created, i)));
        json_decref(created);
        json_decref(new_incr);
        json_decref(state);
        cs_run_stats_free(&stats);
        return rc;
}

/* Sleeps until cs_progress_now() reaches until (if in the future). */
static void sleep_until(double until)
{
        double d = until - cs_progress_now();
        struct timespec ts;

        if (d <= 0)
                return;
        ts.tv_sec = (time_t)d;
        ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
        /* A signal cuts the sleep short (no SA_RESTART): checked by the
         * caller. */
        nanosleep(&ts, NULL);
}

/* The drain's long-lived snapshot object: sources loaded once, no
 * transaction open between drains. */
static cs_snap_t *open_snap(const cs_producer_conf_t *conf, MYSQL *db,
                            char *errstr, size_t errstr_size)
{
        cs_snap_t *snap = cs_snap_open(db, conf->prefix, conf->batch_rows,
                                       errstr, errstr_size);
        if (snap)
                cs_snap_set_files(snap, conf->files_dir, conf->max_file_bytes);
        if (snap && cs_snap_end(snap, errstr, errstr_size) == -1) {
                cs_snap_close(snap);
                return NULL;
        }
        return snap;
}

/* Warns when the outbox has no triggers feeding it. */
static void check_triggers(MYSQL *db)
{
        char errstr[256];
        long long n = 0;

        if (cs_db_query_int(db, "SELECT COUNT(*) FROM `information_schema`."
                            "`TRIGGERS` WHERE `TRIGGER_SCHEMA` = DATABASE() "
                            "AND `TRIGGER_NAME` LIKE 'civisync\\_%'", &n,
                            errstr, sizeof(errstr)) == 0 && n == 0)
                cs_warn("no civisync_ triggers on the child (or no TRIGGER "
                        "privilege to see them): changes arrive only with the "
                        "reconciliation (every reconcile_interval seconds); "
                        "run --install-triggers");
}

int cs_follow_run(const cs_producer_conf_t *conf, const char *topic)
{
        struct sigaction sa;
        char errstr[1024];
        cs_sink_t *sink = NULL;
        MYSQL *db = NULL;
        cs_snap_t *snap = NULL;
        int lock_fd, rc, exit_code = CS_EXIT_FAILURE, failures = 0;
        double next_reconcile = 0;
        long long drained = 0, batches = 0;
        /* The metadata fingerprints last delivered (the drains send the
         * tables that differ, before their documents). */
        json_t *gate = NULL;

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);

        lock_fd = cs_state_lock(conf->state_dir, conf->prefix, errstr,
                                sizeof(errstr));
        if (lock_fd == -2) {
                cs_error("%s", errstr);
                return CS_EXIT_LOCKED;
        }
        if (lock_fd == -1)
                goto fail;
        if (!(gate = json_object())) {
                snprintf(errstr, sizeof(errstr), "out of memory");
                goto fail;
        }
        if (!(db = cs_db_connect(&conf->child, errstr, sizeof(errstr))))
                goto fail;
        rc = cs_outbox_exists(db, errstr, sizeof(errstr));
        if (rc == -1)
                goto fail;
        if (rc == 0) {
                snprintf(errstr, sizeof(errstr), "%s has no " CS_TRIG_OUTBOX
                         " table: run " PROGRAM " -c %s --install-triggers "
                         "first", conf->child.database, conf->path);
                goto fail;
        }
        check_triggers(db);
        if (!(sink = cs_sink_kafka_new(conf, topic, errstr, sizeof(errstr))))
                goto fail;
        cs_info("following prefix %s: outbox every %d ms, reconciliation "
                "every %d s", conf->prefix, conf->follow_interval_ms,
                conf->reconcile_interval);
        while (!follow_signals) {
                cs_outbox_stats_t st = { 0 };
                /* Ticks every follow_interval_ms from the start of a drain
                 * (its own time is not added to the wait). */
                double tick = cs_progress_now() +
                              conf->follow_interval_ms / 1000.0;
                int failed = 0;

                if (cs_progress_now() >= next_reconcile) {
                        /* The reconciliation reloads the schema; the
                         * drain's snapshot is reopened after it (so a
                         * schema change is seen from then on). */
                        cs_snap_close(snap);
                        snap = NULL;
                        if (reconcile(conf, db, sink, topic, gate, errstr,
                                      sizeof(errstr)) == -1 ||
                            !(snap = open_snap(conf, db, errstr,
                                               sizeof(errstr))))
                                failed = 1;
                        else
                                next_reconcile = cs_progress_now() +
                                                 conf->reconcile_interval;
                } else if (cs_outbox_drain(conf, db, snap, sink, gate, &st,
                                           errstr, sizeof(errstr)) == -1) {
                        failed = 1;
                }
                if (failed) {
                        /* Nothing confirmed was lost: the outbox rows stay,
                         * the state did not advance. Reconnect and retry,
                         * a bounded number of times in a row. */
                        if (++failures >= FOLLOW_RETRY_MAX || follow_signals)
                                goto fail;
                        cs_warn("%s; retrying in %d s (%d of %d)", errstr,
                                failures, failures, FOLLOW_RETRY_MAX);
                        cs_snap_close(snap);
                        snap = NULL;
                        if (db)
                                mysql_close(db);
                        sleep_until(cs_progress_now() + failures);
                        db = cs_db_connect(&conf->child, errstr,
                                           sizeof(errstr));
                        if (db && !(snap = open_snap(conf, db, errstr,
                                                     sizeof(errstr)))) {
                                mysql_close(db);
                                db = NULL;
                        }
                        if (!db)
                                cs_warn("%s", errstr);
                        while (!db && !follow_signals &&
                               ++failures < FOLLOW_RETRY_MAX) {
                                sleep_until(cs_progress_now() + failures);
                                if ((db = cs_db_connect(&conf->child, errstr,
                                                        sizeof(errstr))) &&
                                    !(snap = open_snap(conf, db, errstr,
                                                       sizeof(errstr)))) {
                                        mysql_close(db);
                                        db = NULL;
                                }
                        }
                        if (!db)
                                goto fail;
                        continue;
                }
                failures = 0;
                if (st.rows) {
                        drained += st.rows;
                        batches++;
                        cs_debug("outbox: %lld row(s) (oldest %.3f s) -> "
                                 "%lld document(s), %lld tombstone(s); ms: "
                                 "read %.1f, build %.1f (snapshot %.1f), "
                                 "delivery %.1f, delete %.1f", st.rows,
                                 st.oldest_s, st.documents, st.tombstones,
                                 st.read_ms, st.build_ms, st.open_ms,
                                 st.flush_ms, st.delete_ms);
                }
                /* A full batch: more is waiting, no pause. */
                if (st.rows < CS_OUTBOX_BATCH_MAX && !follow_signals)
                        sleep_until(tick);
        }
        cs_info("stopping on signal: %lld outbox row(s) sent in %lld "
                "batch(es)", drained, batches);
        printf("%s: prefix %s follow: %lld outbox row(s) in %lld batch(es); "
               "%lld messages, %lld bytes\n", PROGRAM, conf->prefix, drained,
               batches, cs_sink_sent(sink), cs_sink_bytes(sink));
        fflush(stdout);
        exit_code = CS_EXIT_OK;
        goto done;
fail:
        cs_error("%s", errstr);
        cs_error("follow stopped: outbox rows not yet confirmed stay in "
                 CS_TRIG_OUTBOX " and are sent at the next start");
done:
        json_decref(gate);
        cs_snap_close(snap);
        cs_sink_destroy(sink);
        if (db)
                mysql_close(db);
        if (lock_fd >= 0)
                close(lock_fd);
        return exit_code;
}
