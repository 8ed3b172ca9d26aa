/* main.c — civisync-produce: publishes a child's changes to civisync.<PREFIX>. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "complete.h"
#include "incremental.h"
#include "conf.h"
#include "db.h"
#include "follow.h"
#include "gate.h"
#include "kafka.h"
#include "log.h"
#include "progress.h"
#include "rebuild.h"
#include "sink.h"
#include "state.h"

#define PROGRAM "civisync-produce"

static const char usage_text[] =
"Usage: " PROGRAM " -c FILE [--complete] [--dry-run] [--output FILE]\n"
"                        [--rebuild-state] [options]\n"
"\n"
"Publishes a child CiviCRM database's entities as JSON documents to the\n"
"Kafka topic <topic_prefix><prefix> (default civisync.<PREFIX>).\n"
"\n"
"Modes:\n"
"  --complete        send the whole child as one consistent snapshot, framed\n"
"                    by a reset and an end control document (a new generation)\n"
"  (default)         incremental sync: every insert, update and delete since\n"
"                    the last successful run (timestamp cursor + per-table\n"
"                    fingerprints, see docs/PRODUCER.md); without incremental\n"
"                    state yet (first run) it does a complete sync\n"
"\n"
"Options:\n"
"  -c, --config FILE   producer configuration (see conf/producer.cfg.example)\n"
"  -b, --brokers LIST  bootstrap brokers (overrides kafka.brokers)\n"
"  -X name=value       librdkafka property (overrides kafka.properties)\n"
"      --output FILE   write NDJSON {key, partition, value} lines to FILE\n"
"                      instead of Kafka (atomically: FILE appears when done);\n"
"                      - = stdout as they come (pipe into civisync-consume\n"
"                      --input -; the summary line then goes to stderr)\n"
"      --dry-run       read the child and count what would be sent; send\n"
"                      nothing and leave the state untouched\n"
"      --rebuild-state record the child as it is now as the incremental\n"
"                      state, sending nothing (after civisync-restore: the\n"
"                      master already holds every row)\n"
"      --follow        real-time daemon: sends what the triggers record in\n"
"                      civisync_outbox every follow_interval_ms, and runs the\n"
"                      incremental sync at start and every reconcile_interval\n"
"                      seconds; holds the prefix's lock (cron runs exit 3)\n"
"      --install-triggers  create civisync_outbox and the civisync_ triggers\n"
"                      on every synced child table (idempotent)\n"
"      --remove-triggers   drop the civisync_ triggers (CiviCRM's stay)\n"
"  -v, --verbose       more log output (repeatable); -q, --quiet: less\n"
"  -h, --help          this text;  -V, --version: version\n"
"\n"
"Exit codes: 0 success, 1 runtime failure (state unchanged), 2 usage or\n"
"configuration error, 3 another run for this prefix is in progress.\n"
"stdout receives exactly one summary line per successful run.\n";

typedef struct produce_opts_s {
        int complete;
        int dry_run;
        int rebuild_state;
        const char *output;
        int follow;
        int triggers;   /* 1 install, -1 remove */
} produce_opts_t;

enum { OPT_COMPLETE = 1000, OPT_DRY_RUN, OPT_OUTPUT, OPT_REBUILD_STATE,
       OPT_FOLLOW, OPT_INSTALL_TRIGGERS, OPT_REMOVE_TRIGGERS };

static const struct option long_options[] = {
        { "complete", no_argument, NULL, OPT_COMPLETE },
        { "dry-run", no_argument, NULL, OPT_DRY_RUN },
        { "output", required_argument, NULL, OPT_OUTPUT },
        { "rebuild-state", no_argument, NULL, OPT_REBUILD_STATE },
        { "follow", no_argument, NULL, OPT_FOLLOW },
        { "install-triggers", no_argument, NULL, OPT_INSTALL_TRIGGERS },
        { "remove-triggers", no_argument, NULL, OPT_REMOVE_TRIGGERS },
        { NULL, 0, NULL, 0 }
};

static int on_option(int opt, const char *arg, void *opaque, char *errstr,
                     size_t errstr_size)
{
        produce_opts_t *opts = opaque;
        switch (opt) {
        case OPT_COMPLETE: opts->complete = 1; return 0;
        case OPT_DRY_RUN: opts->dry_run = 1; return 0;
        case OPT_OUTPUT: opts->output = arg; return 0;
        case OPT_REBUILD_STATE: opts->rebuild_state = 1; return 0;
        case OPT_FOLLOW: opts->follow = 1; return 0;
        case OPT_INSTALL_TRIGGERS: opts->triggers = 1; return 0;
        case OPT_REMOVE_TRIGGERS: opts->triggers = -1; return 0;
        default:
                snprintf(errstr, errstr_size, PROGRAM ": unknown option");
                return -1;
        }
}

static void on_signal(int sig)
{
        (void)sig;
        cs_sink_interrupt();
}

/* "contact 200 (email 199, ...)" style: every entity with its count. */
static void print_summary(const produce_opts_t *opts,
                          const cs_producer_conf_t *conf,
                          const cs_run_stats_t *stats, const cs_sink_t *sink,
                          long long gate_docs, double seconds)
{
        const char *key;
        json_t *val;
        int first = 1;
        /* With --output - the documents own stdout: the summary goes to
         * stderr. */
        FILE *out = opts->output && !strcmp(opts->output, "-") ? stderr : stdout;

        fprintf(out, "%s: prefix %s %s%s generation %lld:", PROGRAM, conf->prefix,
               opts->rebuild_state ? "rebuild-state (nothing sent)" :
               opts->complete ? "complete" : "incremental",
               opts->dry_run ? " (dry run, nothing sent)" : "",
               stats->generation);
        json_object_foreach(stats->upserts, key, val) {
                json_t *del = json_object_get(stats->deletes, key);
                fprintf(out, "%s %s %lld/%lld", first ? "" : ",", key,
                       (long long)json_integer_value(val),
                       del ? (long long)json_integer_value(del) : 0LL);
                first = 0;
        }
        fprintf(out, " (upserts/deletes); %lld messages, %lld bytes, %.2f s; "
                "metadata gate: %lld documents", cs_sink_sent(sink) - gate_docs,
                cs_sink_bytes(sink), seconds, gate_docs);
        if (opts->complete && !opts->rebuild_state && stats->tombstones >= 0)
                fprintf(out, "; %lld tombstones for rows deleted since the "
                        "last run", stats->tombstones);
        fputc('\n', out);
        fflush(out);
}

/* Everything one run holds; released by run_free. */
typedef struct produce_run_s {
        cs_cli_t cli;
        produce_opts_t opts;
        cs_producer_conf_t conf;
        cs_run_stats_t stats;
        char topic[256];
        cs_sink_t *sink;
        MYSQL *db;
        json_t *state;       /* the prefix's state file (NEW) */
        json_t *new_incr;    /* the incremental state this run leaves (NEW) */
        json_t *created;     /* files written by this run, not yet in the state */
        int lock_fd;
        long long gate_docs; /* metadata gate documents sent */
} produce_run_t;

/* Parses the command line and the configuration. Returns -1 to go on, or
 * the exit code (0 after --help/--version, CS_EXIT_USAGE with the message
 * printed). */
static int configure(produce_run_t *run, int argc, char **argv)
{
        char errstr[1024];
        int first_arg;
        int rc = cs_cli_parse(&run->cli, argc, argv, PROGRAM, usage_text, "",
                              long_options, on_option, &run->opts, &first_arg,
                              errstr, sizeof(errstr));

        if (rc == 1)
                return CS_EXIT_OK;
        if (rc == -1 || first_arg < argc || !run->cli.config_path) {
                fprintf(stderr, "%s\n", rc == -1 ? errstr :
                        first_arg < argc ? PROGRAM ": unexpected argument "
                        "(see " PROGRAM " --help)" :
                        PROGRAM ": -c FILE is required (see " PROGRAM " --help)");
                return CS_EXIT_USAGE;
        }
        if (cs_conf_load_producer(run->cli.config_path, &run->conf, errstr,
                                  sizeof(errstr)) == -1 ||
            cs_cli_apply_kafka(&run->cli, &run->conf.kafka, errstr,
                               sizeof(errstr)) == -1)
                goto usage;
        /* Again after -X, which may set what the file could not. */
        if (cs_kafka_producer_guarantees(&run->conf.kafka, errstr,
                                         sizeof(errstr)) == -1) {
                char why[512];
                snprintf(why, sizeof(why), "%.500s", errstr);
                snprintf(errstr, sizeof(errstr), PROGRAM ": -X: %s", why);
                goto usage;
        }
        if (run->opts.dry_run && run->opts.output) {
                snprintf(errstr, sizeof(errstr), PROGRAM ": --dry-run and "
                         "--output exclude each other");
                goto usage;
        }
        if (run->opts.rebuild_state &&
            (run->opts.complete || run->opts.dry_run || run->opts.output)) {
                snprintf(errstr, sizeof(errstr), PROGRAM ": --rebuild-state "
                         "excludes --complete, --dry-run and --output");
                goto usage;
        }
        if (cs_kafka_topic_name(run->topic, sizeof(run->topic),
                                run->conf.kafka.topic_prefix, run->conf.prefix,
                                errstr, sizeof(errstr)) == -1)
                goto usage;
        if ((run->opts.follow || run->opts.triggers) &&
            (run->opts.complete || run->opts.dry_run || run->opts.output ||
             run->opts.rebuild_state ||
             (run->opts.follow && run->opts.triggers))) {
                snprintf(errstr, sizeof(errstr), PROGRAM ": --follow, "
                         "--install-triggers and --remove-triggers go alone "
                         "(not with each other, --complete, --dry-run, "
                         "--output or --rebuild-state)");
                goto usage;
        }
        return -1;
usage:
        fprintf(stderr, "%s\n", errstr);
        return CS_EXIT_USAGE;
}

/* Takes the prefix's lock (not for a dry run), loads the state, connects to
 * the child and opens the sink. Returns -1 to go on, or the exit code
 * (CS_EXIT_LOCKED, CS_EXIT_FAILURE with errstr). */
static int open_run(produce_run_t *run, char *errstr, size_t errstr_size)
{
        const cs_producer_conf_t *conf = &run->conf;

        if (!run->opts.dry_run) {
                run->lock_fd = cs_state_lock(conf->state_dir, conf->prefix,
                                             errstr, errstr_size);
                if (run->lock_fd == -2)
                        return CS_EXIT_LOCKED;
                if (run->lock_fd == -1)
                        return CS_EXIT_FAILURE;
        }
        if (!(run->state = cs_state_load(conf->state_dir, conf->prefix, errstr,
                                         errstr_size)))
                return CS_EXIT_FAILURE;
        /* Leftovers of an interrupted run (we hold the lock). */
        if (!run->opts.dry_run)
                cs_state_fp_cleanup(conf->state_dir, conf->prefix, run->state);
        if (!(run->db = cs_db_connect(&conf->child, errstr, errstr_size)))
                return CS_EXIT_FAILURE;
        if (run->opts.dry_run || run->opts.rebuild_state)
                run->sink = cs_sink_dryrun_new();
        else if (run->opts.output)
                run->sink = cs_sink_file_new(run->opts.output, errstr,
                                             errstr_size);
        else
                run->sink = cs_sink_kafka_new(conf, run->topic, errstr,
                                              errstr_size);
        return run->sink ? -1 : CS_EXIT_FAILURE;
}

/* Runs the complete or incremental sync (a first run, or state of another
 * version, is complete) and delivers it. 0, or -1 with errstr. */
static int sync_child(produce_run_t *run, char *errstr, size_t errstr_size)
{
        const cs_producer_conf_t *conf = &run->conf;
        json_t *old_incr = json_object_get(run->state, "incremental");
        long long generation = json_integer_value(json_object_get(run->state,
                                                                  "generation"));
        long long state_gen;

        if (run->opts.rebuild_state) {
                ; /* whatever the old state, it is replaced */
        } else if (!run->opts.complete && !json_is_object(old_incr)) {
                cs_info("no incremental state for prefix %s in %s yet: this "
                        "first run is a complete sync", conf->prefix,
                        conf->state_dir);
                run->opts.complete = 1;
        } else if (!run->opts.complete && !cs_incr_state_usable(old_incr)) {
                cs_warn("the incremental state of prefix %s in %s was written "
                        "by another version of civisync-produce: this run is "
                        "a complete sync", conf->prefix, conf->state_dir);
                run->opts.complete = 1;
        }
        state_gen = json_integer_value(json_object_get(old_incr,
                                                       "state_generation")) + 1;
        /* The metadata gate, before the data that may need its rows (the
         * master creates the rows it lacks: FORMAT.md §7.1): sent on a
         * complete run, and for each table whose fingerprint changed since
         * the last delivered run (recorded with the incremental state);
         * --rebuild-state only records it. */
        json_t *new_gate = json_object();
        if (!new_gate) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        if (cs_gate_send(run->db, run->opts.rebuild_state ? NULL : run->sink,
                         conf->prefix, conf->max_document_bytes,
                         json_object_get(old_incr, "metadata_gate"),
                         run->opts.complete ? CS_GATE_FORCE : 0, new_gate,
                         &run->gate_docs, errstr,
                         errstr_size) == -1) {
                json_decref(new_gate);
                return -1;
        }
        if (run->opts.rebuild_state) {
                run->stats.generation = generation;
                if (cs_rebuild_state(conf, run->db, state_gen, run->created,
                                     &run->new_incr, errstr, errstr_size) == -1)
                        goto fail;
        } else if (run->opts.complete) {
                if (cs_complete_run(conf, run->db, run->sink, generation,
                                    state_gen, !run->opts.dry_run, run->created,
                                    old_incr, &run->stats, &run->new_incr, errstr,
                                    errstr_size) == -1)
                        goto fail;
        } else {
                run->stats.generation = generation;
                if (cs_incr_run(conf, run->db, run->sink, old_incr,
                                !run->opts.dry_run, run->created, &run->stats,
                                &run->new_incr, errstr, errstr_size) == -1)
                        goto fail;
        }
        if (json_object_set_new(run->new_incr, "metadata_gate", new_gate) == -1) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        return cs_sink_commit(run->sink, errstr, errstr_size);
fail:
        json_decref(new_gate);
        return -1;
}

/* Everything is delivered: only now does the state advance
 * (cs_state_advance). 0, or -1 with errstr. */
static int save_state(produce_run_t *run, char *errstr, size_t errstr_size)
{
        cs_state_run_t done = {
                .mode = run->opts.rebuild_state ? "rebuild-state" :
                        run->opts.complete ? "complete" : "incremental",
                .complete = run->opts.complete,
                .generation = run->stats.generation,
                .documents = run->stats.documents,
                .messages = cs_sink_sent(run->sink),
                .destination = run->opts.output ? run->opts.output : run->topic,
        };

        return cs_state_advance(run->conf.state_dir, run->conf.prefix,
                                run->state, run->new_incr, run->created, &done,
                                errstr, errstr_size);
}

static void run_free(produce_run_t *run)
{
        /* Files of a run that did not finish are not referenced by the
         * state: remove them (the state itself was not touched). */
        for (size_t i = 0; i < json_array_size(run->created); i++)
                unlink(json_string_value(json_array_get(run->created, i)));
        json_decref(run->created);
        json_decref(run->new_incr);
        cs_run_stats_free(&run->stats);
        cs_sink_destroy(run->sink);
        if (run->db)
                mysql_close(run->db);
        json_decref(run->state);
        if (run->lock_fd >= 0)
                close(run->lock_fd);
        cs_conf_producer_free(&run->conf);
        cs_cli_free(&run->cli);
}

int main(int argc, char **argv)
{
        produce_run_t run = { .lock_fd = -1, .created = json_array() };
        char errstr[1024];
        double started = cs_progress_now();
        int exit_code;

        cs_log_init(PROGRAM);
        if ((exit_code = configure(&run, argc, argv)) >= 0)
                goto done;
        /* Real-time modes (producer/follow.c): their own lock and signals. */
        if (run.opts.triggers) {
                exit_code = cs_follow_triggers(&run.conf, run.opts.triggers > 0);
                goto done;
        }
        if (run.opts.follow) {
                exit_code = cs_follow_run(&run.conf, run.topic);
                goto done;
        }
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        if ((exit_code = open_run(&run, errstr, sizeof(errstr))) >= 0) {
                cs_error("%s", errstr);
                if (exit_code == CS_EXIT_LOCKED)
                        goto done;
                goto failed;
        }
        if (sync_child(&run, errstr, sizeof(errstr)) == -1 ||
            (!run.opts.dry_run && save_state(&run, errstr, sizeof(errstr)) == -1)) {
                cs_error("%s", errstr);
                goto failed;
        }
        print_summary(&run.opts, &run.conf, &run.stats, run.sink,
                      run.gate_docs, cs_progress_now() - started);
        exit_code = CS_EXIT_OK;
        goto done;
failed:
        cs_error("run failed: the state was not advanced; the next run sends "
                 "the same data again");
        exit_code = CS_EXIT_FAILURE;
done:
        run_free(&run);
        return exit_code;
}
