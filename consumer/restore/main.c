/* main.c — civisync-restore: rebuilds a lost child into an empty CiviCRM database from the master (disaster recovery). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "conf.h"
#include "db.h"
#include "log.h"
#include "progress.h"
#include "restore.h"

#define PROGRAM "civisync-restore"

static const char usage_text[] =
"Usage: " PROGRAM " --master-config FILE --into FILE [--prefix P] [--dry-run]\n"
"\n"
"Rebuilds child P into an EMPTY CiviCRM 5 database (a fresh install: schema\n"
"and seed; the child database of the producer configuration --into) from\n"
"the master: every row mapping_master_<P> maps, with its original child id,\n"
"in dependency order, references mapped back to child ids, \"<P>:\" taken off\n"
"qualified unique columns. One transaction on the target: a failed restore\n"
"leaves it as it was. Metadata (option values, location types...) is the\n"
"seed's. Columns the sync never carries (api_key, hash) or clears (smart-group\n"
"caches...) stay NULL. See docs/OPERATIONS.md, \"Disaster recovery\".\n"
"\n"
"Options:\n"
"      --master-config FILE  the consumer configuration (master database)\n"
"      --into FILE           the producer configuration of the child to\n"
"                            rebuild (its prefix and child database)\n"
"      --prefix P            the prefix to restore; must be the prefix of\n"
"                            --into (default: that prefix)\n"
"      --dry-run             read everything and print what would be written,\n"
"                            per table; write nothing\n"
"  -v, --verbose       more log output (repeatable); -q, --quiet: less\n"
"  -h, --help          this text;  -V, --version: version\n"
"\n"
"Afterwards: civisync-verify --child-config FILE --master-config FILE\n"
"(0 differences) and civisync-produce -c FILE --rebuild-state (the next\n"
"incremental run then sends nothing).\n"
"\n"
"Exit codes: 0 restored, 1 refused (target not empty, 4.2 schema, nothing\n"
"of P on the master) or a database error (nothing written), 2 usage or\n"
"configuration error.\n";

typedef struct restore_opts_s {
        const char *master_config;
        const char *into;
        const char *prefix;
        int dry_run;
} restore_opts_t;

enum { OPT_MASTER = 1000, OPT_INTO, OPT_PREFIX, OPT_DRY_RUN };

static const struct option long_options[] = {
        { "master-config", required_argument, NULL, OPT_MASTER },
        { "into", required_argument, NULL, OPT_INTO },
        { "prefix", required_argument, NULL, OPT_PREFIX },
        { "dry-run", no_argument, NULL, OPT_DRY_RUN },
        { NULL, 0, NULL, 0 }
};

static int on_option(int opt, const char *arg, void *opaque, char *errstr,
                     size_t errstr_size)
{
        restore_opts_t *opts = opaque;

        switch (opt) {
        case OPT_MASTER: opts->master_config = arg; return 0;
        case OPT_INTO: opts->into = arg; return 0;
        case OPT_PREFIX: opts->prefix = arg; return 0;
        case OPT_DRY_RUN: opts->dry_run = 1; return 0;
        default:
                snprintf(errstr, errstr_size, "unknown option");
                return -1;
        }
}

typedef struct printer_s {
        const char *prefix;
        int dry_run;
} printer_t;

static void on_table(const rs_table_report_t *t, void *opaque)
{
        printer_t *p = opaque;

        if (t->skipped) {
                printf("%s: not restored (%s)\n", t->entity->table, t->skipped);
                return;
        }
        printf("%s: %lld rows %s (%lld inserted, %lld seed rows overwritten), "
               "%lld mapped", t->entity->table, t->inserted + t->updated,
               p->dry_run ? "would be written" : "written", t->inserted,
               t->updated, t->mapped);
        if (t->seed_removed)
                printf(", %lld seed rows the child no longer had %s",
                       t->seed_removed, p->dry_run ? "would be removed" : "removed");
        if (t->gone)
                printf(", %lld mapped rows gone from the master", t->gone);
        if (t->dropped)
                printf(", %lld rows left out (a required reference not of %s)",
                       t->dropped, p->prefix);
        if (t->refs_nulled)
                printf(", %lld references to rows not of %s set NULL",
                       t->refs_nulled, p->prefix);
        if (t->list_ids_dropped)
                printf(", %lld id-list ids not of %s left out",
                       t->list_ids_dropped, p->prefix);
        if (t->deferred)
                printf(", %lld references set by a second UPDATE", t->deferred);
        if (t->truncated)
                printf(", %lld unique values cut with a hash on the master "
                       "(NOT restorable; first child id %lld)", t->truncated,
                       t->first_truncated);
        if (t->unqualified)
                printf(", %lld unique values without \"%s:\" copied as they are",
                       t->unqualified, p->prefix);
        printf("\n");
        if (t->note)
                printf("  %s: %s\n", t->entity->table, t->note);
        fflush(stdout);
}

int main(int argc, char **argv)
{
        restore_opts_t opts = { 0 };
        cs_producer_conf_t pconf = { 0 };
        cs_consumer_conf_t mconf = { 0 };
        rs_totals_t totals;
        printer_t printer = { 0 };
        MYSQL *target = NULL, *master = NULL;
        char errstr[1024];
        int rc, exit_code = CS_EXIT_FAILURE;
        double started = cs_progress_now();

        cs_log_init(PROGRAM);
        rc = cs_cli_parse_two_confs(argc, argv, PROGRAM, usage_text,
                                    long_options, on_option, &opts,
                                    &opts.into, &opts.master_config,
                                    "--master-config", "--into", &pconf, &mconf);
        if (rc != 0)
                return rc == 1 ? CS_EXIT_OK : CS_EXIT_USAGE;
        if (opts.prefix && strcmp(opts.prefix, pconf.prefix)) {
                fprintf(stderr, PROGRAM ": --prefix %s is not the prefix of %s "
                        "(%s): the restored child must be produced under the "
                        "prefix it is restored from\n", opts.prefix, opts.into,
                        pconf.prefix);
                exit_code = CS_EXIT_USAGE;
                goto done;
        }
        printer.prefix = pconf.prefix;
        printer.dry_run = opts.dry_run;
        if (!(target = cs_db_connect(&pconf.child, errstr, sizeof(errstr)))) {
                cs_error("target (child) database %s", errstr);
                goto done;
        }
        if (!(master = cs_db_connect(&mconf.master, errstr, sizeof(errstr)))) {
                cs_error("master database %s", errstr);
                goto done;
        }
        rc = rs_run(master, target, pconf.prefix, opts.dry_run, on_table,
                    &printer, &totals, errstr, sizeof(errstr));
        if (rc != RS_OK) {
                cs_error("%s%s", errstr, rc == RS_ERROR ?
                         " (the target's transaction was rolled back: nothing "
                         "was written)" : "");
                goto done;
        }
        if (!opts.dry_run)
                cs_info("next: civisync-verify --child-config %s --master-config "
                        "%s; then civisync-produce -c %s --rebuild-state",
                        opts.into, opts.master_config, opts.into);
        printf("restore %s%s: %lld rows in %lld tables%s; %lld references not "
               "of %s set NULL, %lld id-list ids left out, %lld rows left out, "
               "%lld unique values not restorable; %.2f s\n", pconf.prefix,
               opts.dry_run ? " (dry run, nothing written)" : "", totals.rows,
               totals.tables, opts.dry_run ? " would be written" : " written",
               totals.refs_nulled, pconf.prefix, totals.list_ids_dropped,
               totals.dropped, totals.truncated, cs_progress_now() - started);
        fflush(stdout);
        exit_code = CS_EXIT_OK;
done:
        if (target)
                mysql_close(target);
        if (master)
                mysql_close(master);
        cs_conf_producer_free(&pconf);
        cs_conf_consumer_free(&mconf);
        return exit_code;
}
