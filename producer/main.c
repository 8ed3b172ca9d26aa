/* main.c — civisync-produce: publishes a child's changes to civisync.<PREFIX>. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "complete.h"
#include "incremental.h"
#include "conf.h"
#include "db.h"
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
"                      instead of Kafka (atomically: FILE appears when done)\n"
"      --dry-run       read the child and count what would be sent; send\n"
"                      nothing and leave the state untouched\n"
"      --rebuild-state record the child as it is now as the incremental\n"
"                      state, sending nothing (after civisync-restore: the\n"
"                      master already holds every row)\n"
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
} produce_opts_t;

enum { OPT_COMPLETE = 1000, OPT_DRY_RUN, OPT_OUTPUT, OPT_REBUILD_STATE };

static const struct option long_options[] = {
        { "complete", no_argument, NULL, OPT_COMPLETE },
        { "dry-run", no_argument, NULL, OPT_DRY_RUN },
        { "output", required_argument, NULL, OPT_OUTPUT },
        { "rebuild-state", no_argument, NULL, OPT_REBUILD_STATE },
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

static void iso_now(char *out, size_t size)
{
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* "contact 200 (email 199, ...)" style: every entity with its count. */
static void print_summary(const produce_opts_t *opts,
                          const cs_producer_conf_t *conf,
                          const cs_run_stats_t *stats, const cs_sink_t *sink,
                          double seconds)
{
        const char *key;
        json_t *val;
        int first = 1;

        printf("%s: prefix %s %s%s generation %lld:", PROGRAM, conf->prefix,
               opts->rebuild_state ? "rebuild-state (nothing sent)" :
               opts->complete ? "complete" : "incremental",
               opts->dry_run ? " (dry run, nothing sent)" : "",
               stats->generation);
        json_object_foreach(stats->upserts, key, val) {
                json_t *del = json_object_get(stats->deletes, key);
                printf("%s %s %lld/%lld", first ? "" : ",", key,
                       (long long)json_integer_value(val),
                       del ? (long long)json_integer_value(del) : 0LL);
                first = 0;
        }
        printf(" (upserts/deletes); %lld messages, %lld bytes, %.2f s\n",
               cs_sink_sent(sink), cs_sink_bytes(sink), seconds);
        fflush(stdout);
}

int main(int argc, char **argv)
{
        cs_cli_t cli = { 0 };
        produce_opts_t opts = { 0 };
        cs_producer_conf_t conf = { 0 };
        cs_run_stats_t stats = { 0 };
        char errstr[1024], topic[256];
        cs_sink_t *sink = NULL;
        MYSQL *db = NULL;
        json_t *state = NULL, *old_incr, *new_incr = NULL;
        json_t *created = json_array();
        long long state_gen;
        int first_arg, lock_fd = -1, rc, exit_code = CS_EXIT_FAILURE;
        double started = cs_progress_now();

        cs_log_init(PROGRAM);
        rc = cs_cli_parse(&cli, argc, argv, PROGRAM, usage_text, "",
                          long_options, on_option, &opts, &first_arg, errstr,
                          sizeof(errstr));
        if (rc == 1) {
                cs_cli_free(&cli);
                json_decref(created);
                return CS_EXIT_OK;
        }
        if (rc == -1 || first_arg < argc || !cli.config_path) {
                fprintf(stderr, "%s\n", rc == -1 ? errstr :
                        first_arg < argc ? PROGRAM ": unexpected argument "
                        "(see " PROGRAM " --help)" :
                        PROGRAM ": -c FILE is required (see " PROGRAM " --help)");
                cs_cli_free(&cli);
                json_decref(created);
                return CS_EXIT_USAGE;
        }
        if (cs_conf_load_producer(cli.config_path, &conf, errstr,
                                  sizeof(errstr)) == -1)
                goto usage_error;
        if (cs_cli_apply_kafka(&cli, &conf.kafka, errstr, sizeof(errstr)) == -1)
                goto usage_error;
        if (opts.dry_run && opts.output) {
                snprintf(errstr, sizeof(errstr), PROGRAM ": --dry-run and "
                         "--output exclude each other");
                goto usage_error;
        }
        if (opts.rebuild_state && (opts.complete || opts.dry_run || opts.output)) {
                snprintf(errstr, sizeof(errstr), PROGRAM ": --rebuild-state "
                         "excludes --complete, --dry-run and --output");
                goto usage_error;
        }
        if (cs_kafka_topic_name(topic, sizeof(topic), conf.kafka.topic_prefix,
                                conf.prefix, errstr, sizeof(errstr)) == -1)
                goto usage_error;

        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);

        if (!opts.dry_run) {
                lock_fd = cs_state_lock(conf.state_dir, conf.prefix, errstr,
                                        sizeof(errstr));
                if (lock_fd == -2) {
                        cs_error("%s", errstr);
                        exit_code = CS_EXIT_LOCKED;
                        goto done;
                }
                if (lock_fd == -1)
                        goto runtime_error;
        }
        if (!(state = cs_state_load(conf.state_dir, conf.prefix, errstr,
                                    sizeof(errstr))))
                goto runtime_error;
        /* Leftovers of an interrupted run (we hold the lock). */
        if (!opts.dry_run)
                cs_state_fp_cleanup(conf.state_dir, conf.prefix, state);
        if (!(db = cs_db_connect(&conf.child, errstr, sizeof(errstr))))
                goto runtime_error;

        if (opts.dry_run || opts.rebuild_state)
                sink = cs_sink_dryrun_new();
        else if (opts.output)
                sink = cs_sink_file_new(opts.output, errstr, sizeof(errstr));
        else
                sink = cs_sink_kafka_new(&conf, topic, errstr, sizeof(errstr));
        if (!sink)
                goto runtime_error;

        old_incr = json_object_get(state, "incremental");
        if (opts.rebuild_state) {
                ; /* whatever the old state, it is replaced */
        } else if (!opts.complete && !json_is_object(old_incr)) {
                cs_info("no incremental state for prefix %s in %s yet: this "
                        "first run is a complete sync", conf.prefix,
                        conf.state_dir);
                opts.complete = 1;
        } else if (!opts.complete && !cs_incr_state_usable(old_incr)) {
                cs_warn("the incremental state of prefix %s in %s was written "
                        "by another version of civisync-produce: this run is "
                        "a complete sync", conf.prefix, conf.state_dir);
                opts.complete = 1;
        }
        state_gen = json_integer_value(json_object_get(old_incr,
                                                       "state_generation")) + 1;
        if (opts.rebuild_state) {
                stats.generation = json_integer_value(json_object_get(state,
                                                                      "generation"));
                if (cs_rebuild_state(&conf, db, state_gen, created, &new_incr,
                                     errstr, sizeof(errstr)) == -1)
                        goto runtime_error;
        } else if (opts.complete) {
                if (cs_complete_run(&conf, db, sink,
                                    json_integer_value(json_object_get(state,
                                                                       "generation")),
                                    state_gen, !opts.dry_run, created, &stats,
                                    &new_incr, errstr, sizeof(errstr)) == -1)
                        goto runtime_error;
        } else {
                stats.generation = json_integer_value(json_object_get(state,
                                                                      "generation"));
                if (cs_incr_run(&conf, db, sink, old_incr, !opts.dry_run,
                                created, &stats, &new_incr, errstr,
                                sizeof(errstr)) == -1)
                        goto runtime_error;
        }
        if (cs_sink_commit(sink, errstr, sizeof(errstr)) == -1)
                goto runtime_error;

        if (!opts.dry_run) {
                /* Everything is delivered: only now does the state advance.
                 * The new fingerprint files are already on disk under new
                 * names; renaming the state JSON switches them all at once. */
                char now[32];
                iso_now(now, sizeof(now));
                json_object_set_new(state, "format", json_integer(1));
                json_object_set_new(state, "prefix", json_string(conf.prefix));
                if (opts.complete) {
                        json_object_set_new(state, "generation",
                                            json_integer(stats.generation));
                        json_object_set_new(state, "last_complete",
                                json_pack("{s:I, s:s, s:I, s:s}", "generation",
                                          (json_int_t)stats.generation,
                                          "finished_at", now, "documents",
                                          (json_int_t)stats.documents,
                                          "destination", opts.output ?
                                          opts.output : topic));
                }
                json_object_set_new(new_incr, "last_run",
                        json_pack("{s:s, s:s, s:I, s:I}", "mode",
                                  opts.rebuild_state ? "rebuild-state" :
                                  opts.complete ? "complete" : "incremental",
                                  "finished_at", now, "messages",
                                  (json_int_t)cs_sink_sent(sink), "documents",
                                  (json_int_t)stats.documents));
                json_object_set(state, "incremental", new_incr);
                if (cs_state_save(conf.state_dir, conf.prefix, state, errstr,
                                  sizeof(errstr)) == -1)
                        goto runtime_error;
                json_array_clear(created); /* they belong to the state now */
                cs_state_fp_cleanup(conf.state_dir, conf.prefix, state);
        }
        print_summary(&opts, &conf, &stats, sink, cs_progress_now() - started);
        exit_code = CS_EXIT_OK;
        goto done;

usage_error:
        fprintf(stderr, "%s\n", errstr);
        exit_code = CS_EXIT_USAGE;
        goto done;
runtime_error:
        cs_error("%s", errstr);
        cs_error("run failed: the state was not advanced; the next run sends "
                 "the same data again");
        exit_code = CS_EXIT_FAILURE;
done:
        /* Files of a run that did not finish are not referenced by the
         * state: remove them (the state itself was not touched). */
        for (size_t i = 0; i < json_array_size(created); i++)
                unlink(json_string_value(json_array_get(created, i)));
        json_decref(created);
        json_decref(new_incr);
        cs_run_stats_free(&stats);
        cs_sink_destroy(sink);
        if (db)
                mysql_close(db);
        json_decref(state);
        if (lock_fd >= 0)
                close(lock_fd);
        cs_conf_producer_free(&conf);
        cs_cli_free(&cli);
        return exit_code;
}
