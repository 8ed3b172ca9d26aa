/* main.c — civisync-consume: applies civisync topics (or an NDJSON file) to the master. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "cli.h"
#include "conf.h"
#include "log.h"
#include "loop.h"
#include "prefix.h"
#include "progress.h"
#include "status.h"

#define PROGRAM "civisync-consume"
/* Stopped by a signal before the topics were drained (128 + SIGINT). */
#define EXIT_INTERRUPTED 130

static const char usage_text[] =
"Usage: " PROGRAM " -c FILE [--once] [options]\n"
"       " PROGRAM " -c FILE --input FILE --prefix PREFIX\n"
"       " PROGRAM " -c FILE --resync PREFIX [--once]\n"
"       " PROGRAM " -c FILE --status\n"
"       " PROGRAM " -c FILE --release-sweep|--discard-sweep PREFIX\n"
"       " PROGRAM " -c FILE --ack-dead-letters PREFIX [--before ID]\n"
"\n"
"Applies civisync documents to the master CiviCRM database, translating ids\n"
"through mapping_master_<PREFIX>. Without --once it runs as a daemon until\n"
"SIGINT/SIGTERM.\n"
"\n"
"Options:\n"
"  -c, --config FILE   consumer configuration (see conf/consumer.cfg.example)\n"
"  -b, --brokers LIST  bootstrap brokers (overrides kafka.brokers)\n"
"  -X name=value       librdkafka property (overrides kafka.properties)\n"
"      --once          drain every assigned partition to its end, then exit\n"
"      --input FILE    apply an NDJSON file from civisync-produce --output\n"
"                      (- = stdin: civisync-produce --output - | ...)\n"
"      --prefix PREFIX the child prefix the --input file belongs to\n"
"      --resync PREFIX replay topic PREFIX from its beginning as a complete\n"
"                      sync (rows no longer in the topic are removed), then\n"
"                      go on consuming (with --once: until drained). Stop\n"
"                      other consumers of the group first.\n"
"      --status        per prefix: offsets and lag, complete syncs, rows per\n"
"                      entity, parked references/documents, dead letters,\n"
"                      held sweeps, skipped cleanups\n"
"      --release-sweep PREFIX  apply the sweep the sweep guard held (removes\n"
"                      the rows the last complete sync did not send)\n"
"      --discard-sweep PREFIX  drop the held sweep, keep the rows\n"
"      --ack-dead-letters PREFIX  mark PREFIX's dead letters acknowledged\n"
"                      (--status then counts only newer ones); with\n"
"      --before ID     only those with id <= ID (the #ID of --status)\n"
"  -v, --verbose       more log output (repeatable); -q, --quiet: less\n"
"  -h, --help          this text;  -V, --version: version\n"
"\n"
"Exit codes: 0 success, 1 runtime failure (including a prefix stopped\n"
"because its offset is gone, rejected --input records, or a --once run\n"
"whose Kafka brokers never answered), 2 usage or configuration error,\n"
"130 stopped by SIGINT/SIGTERM before the topics were drained.\n";

typedef struct consume_opts_s {
        int once;
        int status;
        const char *input;
        const char *prefix;
        const char *resync;
        const char *release_sweep;
        const char *discard_sweep;
        const char *ack_dead_letters;
        long long before;
} consume_opts_t;

enum { OPT_ONCE = 1000, OPT_INPUT, OPT_PREFIX, OPT_RESYNC, OPT_STATUS,
       OPT_RELEASE_SWEEP, OPT_DISCARD_SWEEP, OPT_ACK_DLQ, OPT_BEFORE };

static const struct option long_options[] = {
        { "once", no_argument, NULL, OPT_ONCE },
        { "input", required_argument, NULL, OPT_INPUT },
        { "prefix", required_argument, NULL, OPT_PREFIX },
        { "resync", required_argument, NULL, OPT_RESYNC },
        { "status", no_argument, NULL, OPT_STATUS },
        { "release-sweep", required_argument, NULL, OPT_RELEASE_SWEEP },
        { "discard-sweep", required_argument, NULL, OPT_DISCARD_SWEEP },
        { "ack-dead-letters", required_argument, NULL, OPT_ACK_DLQ },
        { "before", required_argument, NULL, OPT_BEFORE },
        { NULL, 0, NULL, 0 }
};

static int on_option(int opt, const char *arg, void *opaque, char *errstr,
                     size_t errstr_size)
{
        consume_opts_t *opts = opaque;
        switch (opt) {
        case OPT_ONCE: opts->once = 1; return 0;
        case OPT_INPUT: opts->input = arg; return 0;
        case OPT_PREFIX: opts->prefix = arg; return 0;
        case OPT_RESYNC: opts->resync = arg; return 0;
        case OPT_STATUS: opts->status = 1; return 0;
        case OPT_RELEASE_SWEEP: opts->release_sweep = arg; return 0;
        case OPT_DISCARD_SWEEP: opts->discard_sweep = arg; return 0;
        case OPT_ACK_DLQ: opts->ack_dead_letters = arg; return 0;
        case OPT_BEFORE: {
                char *end = NULL;
                opts->before = strtoll(arg, &end, 10);
                if (!*arg || *end || opts->before < 1) {
                        snprintf(errstr, errstr_size, PROGRAM ": --before wants a "
                                 "dead-letter id (a positive integer), not '%s'", arg);
                        return -1;
                }
                return 0;
        }
        default:
                snprintf(errstr, errstr_size, PROGRAM ": unknown option");
                return -1;
        }
}

/* --release-sweep, --discard-sweep, --ack-dead-letters: one operator
 * action on the master, then exit. Returns 0, -1 (runtime, errstr) or -2
 * (usage, errstr). */
static int operator_action(const cs_consumer_conf_t *conf,
                           const consume_opts_t *opts, char *errstr,
                           size_t errstr_size)
{
        const char *prefix = opts->release_sweep ? opts->release_sweep :
                             opts->discard_sweep ? opts->discard_sweep :
                             opts->ack_dead_letters;
        cs_apply_t *ap;
        long long n = 0;
        int rc;

        if (!!opts->release_sweep + !!opts->discard_sweep +
            !!opts->ack_dead_letters != 1 || opts->once || opts->status ||
            opts->input || opts->resync ||
            (opts->before && !opts->ack_dead_letters)) {
                snprintf(errstr, errstr_size, PROGRAM ": --release-sweep, "
                         "--discard-sweep and --ack-dead-letters [--before ID] "
                         "go alone");
                return -2;
        }
        if (!cs_prefix_valid(prefix)) {
                snprintf(errstr, errstr_size, PROGRAM ": '%s' is not a valid "
                         "prefix ([A-Za-z0-9_]{1,32})", prefix);
                return -2;
        }
        if (!(ap = cs_apply_new(conf, errstr, errstr_size)))
                return -1;
        if (opts->ack_dead_letters) {
                rc = cs_apply_ack_dead_letters(ap, prefix, opts->before, &n,
                                               errstr, errstr_size);
                if (rc == 0)
                        printf("%s: %lld dead letter(s) acknowledged\n", prefix, n);
        } else {
                rc = cs_apply_held_sweep(ap, prefix, opts->release_sweep != NULL,
                                         &n, errstr, errstr_size);
                if (rc == 0)
                        printf("%s: held sweep %s: %lld row(s) removed\n", prefix,
                               opts->release_sweep ? "released" : "discarded", n);
        }
        cs_apply_free(ap);
        return rc == 0 ? 0 : -1;
}

static void on_signal(int sig)
{
        (void)sig;
        cs_loop_stop();
}

int main(int argc, char **argv)
{
        cs_cli_t cli = { 0 };
        consume_opts_t opts = { 0 };
        cs_consumer_conf_t conf = { 0 };
        cs_apply_t *ap = NULL;
        char errstr[1024];
        int first_arg, rc, exit_code = CS_EXIT_FAILURE;
        double started = cs_progress_now();

        cs_log_init(PROGRAM);
        rc = cs_cli_parse(&cli, argc, argv, PROGRAM, usage_text, "",
                          long_options, on_option, &opts, &first_arg, errstr,
                          sizeof(errstr));
        if (rc == 1) {
                cs_cli_free(&cli);
                return CS_EXIT_OK;
        }
        if (rc == -1 || first_arg < argc || !cli.config_path) {
                fprintf(stderr, "%s\n", rc == -1 ? errstr :
                        first_arg < argc ? PROGRAM ": unexpected argument "
                        "(see " PROGRAM " --help)" :
                        PROGRAM ": -c FILE is required (see " PROGRAM " --help)");
                cs_cli_free(&cli);
                return CS_EXIT_USAGE;
        }
        if (cs_conf_load_consumer(cli.config_path, &conf, errstr,
                                  sizeof(errstr)) == -1)
                goto usage_error;
        if (cs_cli_apply_kafka(&cli, &conf.kafka, errstr, sizeof(errstr)) == -1)
                goto usage_error;
        if ((opts.input != NULL) != (opts.prefix != NULL)) {
                snprintf(errstr, sizeof(errstr), PROGRAM ": --input and --prefix "
                         "go together");
                goto usage_error;
        }
        if (opts.prefix && !cs_prefix_valid(opts.prefix)) {
                snprintf(errstr, sizeof(errstr), PROGRAM ": --prefix '%s' is not "
                         "a valid prefix ([A-Za-z0-9_]{1,32})", opts.prefix);
                goto usage_error;
        }

        if (opts.resync && (!cs_prefix_valid(opts.resync) ||
                            !cs_conf_prefix_allowed(&conf, opts.resync))) {
                snprintf(errstr, sizeof(errstr), PROGRAM ": --resync '%s' is not "
                         "a valid prefix of this consumer (prefixes list, "
                         "[A-Za-z0-9_]{1,32})", opts.resync);
                goto usage_error;
        }
        if (opts.resync && cs_conf_prefix_retired(&conf, opts.resync)) {
                snprintf(errstr, sizeof(errstr), PROGRAM ": --resync '%s': that "
                         "prefix is retired (retired_prefixes in %s); remove it "
                         "from there first", opts.resync, cli.config_path);
                goto usage_error;
        }
        if ((opts.resync || opts.status) && opts.input) {
                snprintf(errstr, sizeof(errstr), PROGRAM ": --input does not go "
                         "with --resync or --status");
                goto usage_error;
        }
        if (opts.release_sweep || opts.discard_sweep || opts.ack_dead_letters ||
            opts.before) {
                rc = operator_action(&conf, &opts, errstr, sizeof(errstr));
                if (rc == -2)
                        goto usage_error;
                if (rc == -1)
                        goto runtime_error;
                exit_code = CS_EXIT_OK;
                goto done;
        }
        if (opts.status) {
                rc = cs_status_print(&conf, stdout, errstr, sizeof(errstr));
                if (rc == -1)
                        goto runtime_error;
                exit_code = CS_EXIT_OK;
                goto done;
        }

        if (!opts.input && conf.prefix_cnt == 0)
                cs_warn("%s: prefixes = [] accepts every topic %s<PREFIX>: whoever "
                        "can create and write such a topic writes to the master; "
                        "list the children's prefixes (docs/OPERATIONS.md, "
                        "trust model)", conf.path, conf.kafka.topic_prefix);
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);

        if (!(ap = cs_apply_new(&conf, errstr, sizeof(errstr))))
                goto runtime_error;
        if (opts.input)
                rc = cs_loop_input(&conf, ap, opts.input, opts.prefix, errstr,
                                   sizeof(errstr));
        else
                rc = cs_loop_run(&conf, ap, opts.once, opts.resync, errstr,
                                 sizeof(errstr));
        {
                const cs_apply_stats_t *st = cs_apply_stats(ap);
                double secs = cs_progress_now() - started;
                printf("%s: %lld documents applied, %lld rows upserted, %lld rows "
                       "deleted, %lld tombstones, %lld rejected, %lld complete-sync "
                       "sweeps; %.2f s\n", PROGRAM, st->documents, st->rows_upserted,
                       st->rows_deleted, st->tombstones, st->rejected, st->sweeps,
                       secs);
                fflush(stdout);
        }
        if (rc == -1)
                goto runtime_error;
        /* SIGINT/SIGTERM with messages left unread (logged by the loop). */
        exit_code = rc == CS_LOOP_STOPPED ? EXIT_INTERRUPTED : CS_EXIT_OK;
        goto done;

usage_error:
        fprintf(stderr, "%s\n", errstr);
        exit_code = CS_EXIT_USAGE;
        goto done;
runtime_error:
        cs_error("%s", errstr);
        exit_code = CS_EXIT_FAILURE;
done:
        cs_apply_free(ap);
        cs_conf_consumer_free(&conf);
        cs_cli_free(&cli);
        return exit_code;
}
