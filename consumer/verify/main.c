/* main.c — civisync-verify: compares a child with the master (read-only) and lists the differences. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "conf.h"
#include "db.h"
#include "gate.h"
#include "log.h"
#include "progress.h"
#include "registry.h"
#include "verify.h"
#include "registry_custom.h"
#include "verify_files.h"

#define PROGRAM "civisync-verify"
#define DEFAULT_LIMIT 20

static const char usage_text[] =
"Usage: " PROGRAM " --child-config FILE --master-config FILE [--entity E]\n"
"                       [--limit N] [options]\n"
"\n"
"Compares a child CiviCRM database with the master through\n"
"mapping_master_<PREFIX>, column by column on every phase-1 table: references\n"
"after translation, CLEAR columns must be NULL on the master, UNIQUE columns\n"
"must hold \"<PREFIX>:<value>\", OMIT columns (api_key, hash) are not\n"
"compared. Rows civisync does not sync (emails etc. without a contact,\n"
"entity tags and notes on other\n"
"tables) are left out exactly as the producer leaves them out. Read-only on\n"
"both databases; rows are streamed, so memory stays flat on large children.\n"
"\n"
"Options:\n"
"      --child-config FILE   the child's producer configuration (prefix and\n"
"                            child database; see conf/producer.cfg.example)\n"
"      --master-config FILE  the consumer configuration (master database;\n"
"                            see conf/consumer.cfg.example)\n"
"      --entity E            compare one entity only (contact, email, group...)\n"
"      --limit N             print at most N differences per entity and kind\n"
"                            (default 20; 0 = all); the counts are always exact\n"
"      --no-metadata         do not compare the metadata tables (the gate)\n"
"  -v, --verbose       more log output (repeatable); -q, --quiet: less\n"
"  -h, --help          this text;  -V, --version: version\n"
"\n"
"Output: one line per difference (missing: child row not on the master;\n"
"extra: mapped master row no longer in the child, or a mapping entry that\n"
"points nowhere; changed: the differing columns with both values), one line\n"
"per entity (with the number of nested master rows under mapped parents that\n"
"no mapping names: added on the master, kept, not a difference), then\n"
"\"verify PREFIX: N differences ...\". A cleanup the consumer skipped (an end\n"
"marker whose reset was compacted away, civisync_prefix.skipped_generation)\n"
"is named first and after that line: rows deleted on the child before it may\n"
"still be on the master and show as extra; civisync-consume --resync PREFIX\n"
"removes them. Then every metadata table (option\n"
"values, location types...; the metadata gate) is compared by id on both\n"
"databases: one line per row only on the child, only on the master, or\n"
"changed (naming the columns), then \"verify PREFIX: metadata: N differences\n"
"in T tables\" (not with --entity or --no-metadata).\n"
"\n"
"Exit codes: 0 child and master match, 1 they differ, data or metadata (or a\n"
"database error),\n"
"2 usage or configuration error.\n";

typedef struct verify_opts_s {
        const char *child_config;
        const char *master_config;
        const char *entity;
        long limit;
        int no_metadata;
} verify_opts_t;

enum { OPT_CHILD = 1000, OPT_MASTER, OPT_ENTITY, OPT_LIMIT, OPT_NO_METADATA };

static const struct option long_options[] = {
        { "child-config", required_argument, NULL, OPT_CHILD },
        { "master-config", required_argument, NULL, OPT_MASTER },
        { "entity", required_argument, NULL, OPT_ENTITY },
        { "limit", required_argument, NULL, OPT_LIMIT },
        { "no-metadata", no_argument, NULL, OPT_NO_METADATA },
        { NULL, 0, NULL, 0 }
};

static int on_option(int opt, const char *arg, void *opaque, char *errstr,
                     size_t errstr_size)
{
        verify_opts_t *opts = opaque;
        char *end;

        switch (opt) {
        case OPT_CHILD: opts->child_config = arg; return 0;
        case OPT_MASTER: opts->master_config = arg; return 0;
        case OPT_ENTITY: opts->entity = arg; return 0;
        case OPT_NO_METADATA: opts->no_metadata = 1; return 0;
        case OPT_LIMIT:
                opts->limit = strtol(arg, &end, 10);
                if (*arg == '\0' || *end != '\0' || opts->limit < 0) {
                        snprintf(errstr, errstr_size, "--limit expects a number >= 0");
                        return -1;
                }
                return 0;
        default:
                snprintf(errstr, errstr_size, "unknown option");
                return -1;
        }
}

/* Differences printed so far for the current entity, per kind. */
typedef struct printer_s {
        long limit;
        long shown[4];
} printer_t;

static const char *const kind_names[] = { "missing", "extra", "changed", "parked" };

static void on_diff(const cs_verify_diff_t *d, void *opaque)
{
        printer_t *p = opaque;

        if (p->limit && p->shown[d->kind] >= p->limit)
                return;
        p->shown[d->kind]++;
        if (d->kind == CS_VERIFY_MISSING || d->kind == CS_VERIFY_PARKED)
                printf("  %s %s %s: %s\n", d->entity->name, kind_names[d->kind],
                       d->doc_id, d->detail);
        else if (d->kind == CS_VERIFY_EXTRA && !d->master_id)
                printf("  %s extra %s: %s\n", d->entity->name, d->doc_id,
                       d->detail);
        else if (d->kind == CS_VERIFY_EXTRA)
                printf("  %s extra %s (master id %lld): %s\n", d->entity->name,
                       d->doc_id, d->master_id, d->detail);
        else
                printf("  %s changed %s (master id %lld): %s -- %s\n",
                       d->entity->name, d->doc_id, d->master_id, d->columns,
                       d->detail);
}

static void on_entity(const cs_verify_entity_t *e, void *opaque)
{
        printer_t *p = opaque;
        long long counts[4] = { e->missing, e->extra, e->changed, e->parked };

        if (e->skipped && e->missing) {
                printf("%s: %s: %lld child rows, %lld missing\n",
                       e->entity->name, e->skipped, e->child_rows, e->missing);
        } else if (e->skipped) {
                printf("%s: %s\n", e->entity->name, e->skipped);
        } else {
                printf("%s: %lld child rows, %lld mapped: %lld missing, %lld "
                       "extra, %lld changed", e->entity->name, e->child_rows,
                       e->mapped_rows, e->missing, e->extra, e->changed);
                if (e->parked)
                        printf(", %lld parked (waiting for their owner, not a "
                               "difference)", e->parked);
                for (int k = 0; k < 4; k++)
                        if (counts[k] > p->shown[k])
                                printf(" (%lld %s not listed)",
                                       counts[k] - p->shown[k], kind_names[k]);
                printf("\n");
                if (e->note)
                        printf("  %s: %s\n", e->entity->name, e->note);
                if (e->unmapped)
                        printf("  %s: %lld unmapped master row%s attached to "
                               "mapped parents (added on the master, not "
                               "civisync's: kept, not compared)\n",
                               e->entity->name, e->unmapped,
                               e->unmapped == 1 ? "" : "s");
        }
        memset(p->shown, 0, sizeof(p->shown));
        fflush(stdout);
}

/* The generation whose cleanup the consumer skipped for prefix (an end
 * marker without its reset: civisync_prefix.skipped_generation), 0 when
 * none or when nothing was applied yet; *at gets skipped_at (Unix time).
 * -1 with errstr on a database error. */
static long long skipped_cleanup(MYSQL *master, const char *prefix,
                                 long long *at, char *errstr,
                                 size_t errstr_size)
{
        cs_db_value_t p = { .kind = CS_VAL_STR, .s = prefix,
                            .len = (unsigned long)strlen(prefix) };
        long long gen = 0, stamp = 0;
        MYSQL_RES *res;
        MYSQL_ROW row;

        *at = 0;
        if (cs_db_query_int(master, "SELECT COUNT(*) FROM information_schema."
                            "COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND "
                            "TABLE_NAME = 'civisync_prefix' AND COLUMN_NAME = "
                            "'skipped_generation'", &gen, errstr,
                            errstr_size) == -1)
                return -1;
        if (!gen)
                return 0;
        if (cs_db_set_vars(master, "SET @cs_skip_prefix = ?", &p, 1, NULL, NULL,
                           errstr, errstr_size) == -1 ||
            !(res = cs_db_query(master, "SELECT COALESCE(skipped_generation, 0), "
                                "COALESCE(UNIX_TIMESTAMP(skipped_at), 0) FROM "
                                "civisync_prefix WHERE prefix = @cs_skip_prefix",
                                errstr, errstr_size)))
                return -1;
        gen = 0;
        if ((row = mysql_fetch_row(res)) && row[0] && row[1]) {
                gen = atoll(row[0]);
                stamp = atoll(row[1]);
        }
        mysql_free_result(res);
        *at = stamp;
        return gen;
}

int main(int argc, char **argv)
{
        verify_opts_t opts = { .limit = DEFAULT_LIMIT };
        cs_producer_conf_t pconf = { 0 };
        cs_consumer_conf_t mconf = { 0 };
        cs_verify_totals_t totals;
        long long meta = 0;
        printer_t printer = { 0 };
        MYSQL *child = NULL, *master = NULL;
        char errstr[1024];
        int rc, exit_code = CS_EXIT_FAILURE;
        double started = cs_progress_now();
        long long skipped_gen = 0, skipped_at = 0;
        cs_vfiles_t vfiles = { 0 };

        cs_log_init(PROGRAM);
        rc = cs_cli_parse_two_confs(argc, argv, PROGRAM, usage_text,
                                    long_options, on_option, &opts,
                                    &opts.child_config, &opts.master_config,
                                    "--child-config", "--master-config",
                                    &pconf, &mconf);
        if (rc != 0)
                return rc == 1 ? CS_EXIT_OK : CS_EXIT_USAGE;
        printer.limit = opts.limit;
        /* A custom value table (civicrm_value_*) is known only once the
         * child's metadata is read: cs_verify_run checks it then. */
        if (opts.entity && !cs_reg_by_name(opts.entity) &&
            !cs_reg_by_table(opts.entity) && !cs_custom_table_like(opts.entity)) {
                fprintf(stderr, PROGRAM ": --entity '%s' is not a synced entity "
                        "(see docs/FORMAT.md)\n", opts.entity);
                exit_code = CS_EXIT_USAGE;
                goto done;
        }
        if (!(child = cs_db_connect(&pconf.child, errstr, sizeof(errstr)))) {
                cs_error("child database %s", errstr);
                goto done;
        }
        if (!(master = cs_db_connect(&mconf.master, errstr, sizeof(errstr)))) {
                cs_error("master database %s", errstr);
                goto done;
        }
        if ((skipped_gen = skipped_cleanup(master, pconf.prefix, &skipped_at,
                                           errstr, sizeof(errstr))) == -1) {
                cs_error("master database: civisync_prefix: %s", errstr);
                goto done;
        }
        if (skipped_gen > 0) {
                time_t t = (time_t)skipped_at;
                struct tm tm;
                char when[32] = "?";

                if (skipped_at > 0 && gmtime_r(&t, &tm))
                        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
                printf("cleanup SKIPPED for %s: generation %lld ended without "
                       "its reset (compacted away) at %s; rows deleted on the "
                       "child before it may still be on the master and show "
                       "as extra below. Remedy: civisync-consume --resync %s\n",
                       pconf.prefix, skipped_gen, when, pconf.prefix);
                fflush(stdout);
        }
        if (cs_verify_run(child, master, pconf.prefix, opts.entity, on_diff,
                          on_entity, &printer, &totals, errstr,
                          sizeof(errstr)) == -1) {
                cs_error("%s", errstr);
                goto done;
        }
        printf("verify %s: %lld differences (%lld missing, %lld extra, %lld "
               "changed) in %lld entities, %lld child rows, %lld mapped%s; "
               "%.2f s\n", pconf.prefix, cs_verify_differences(&totals),
               totals.missing, totals.extra, totals.changed, totals.entities,
               totals.child_rows, totals.mapped_rows,
               totals.skipped ? " (some entities not compared, see above)" : "",
               cs_progress_now() - started);
        if (totals.parked)
                printf("verify %s: %lld child rows parked on the master, waiting "
                       "for their owner (not differences; civisync-consume "
                       "--status lists the reasons)\n", pconf.prefix,
                       totals.parked);
        if (skipped_gen > 0)
                printf("verify %s: cleanup of generation %lld was skipped: %s"
                       "run civisync-consume --resync %s\n", pconf.prefix,
                       skipped_gen, totals.extra ? "the extra rows may come from "
                       "it; " : "", pconf.prefix);
        fflush(stdout);
        if (!opts.entity && !opts.no_metadata &&
            (meta = cs_vgate_run(child, master, pconf.prefix, opts.limit, stdout,
                                 errstr, sizeof(errstr))) == -1) {
                cs_error("metadata: %s", errstr);
                goto done;
        }
        fflush(stdout);
        if (pconf.files_dir && mconf.files_dir &&
            (!opts.entity || cs_reg_by_name(opts.entity) == cs_reg_file_entity() ||
             cs_reg_by_table(opts.entity) == cs_reg_file_entity())) {
                /* The bytes (FORMAT.md §20): both sides' files_dir. */
                if (cs_verify_files(child, master, pconf.prefix, pconf.files_dir,
                                    mconf.files_dir, pconf.max_file_bytes,
                                    opts.limit, stdout, &vfiles,
                                    errstr, sizeof(errstr)) == -1) {
                        cs_error("files: %s", errstr);
                        goto done;
                }
                printf("verify %s: file bytes: %lld compared, %lld equal, %lld "
                       "differ; %lld not readable on the child (the producer "
                       "reports them), %lld not mapped\n", pconf.prefix,
                       vfiles.compared, vfiles.same, vfiles.differ,
                       vfiles.child_unreadable, vfiles.unmapped);
        } else if (pconf.files_dir || mconf.files_dir) {
                printf("verify %s: file bytes not compared (files_dir is set in "
                       "%s)\n", pconf.prefix, pconf.files_dir && !mconf.files_dir ?
                       "the producer's configuration only" : !pconf.files_dir ?
                       "the consumer's configuration only" :
                       "both, but --entity names another entity");
        }
        fflush(stdout);
        exit_code = cs_verify_differences(&totals) || meta > 0 || vfiles.differ ?
                    CS_EXIT_FAILURE : CS_EXIT_OK;
done:
        if (child)
                mysql_close(child);
        if (master)
                mysql_close(master);
        cs_conf_producer_free(&pconf);
        cs_conf_consumer_free(&mconf);
        return exit_code;
}
