/* demo_site.c — the tests' demo-site pair: a CiviCRM demo-site child and an empty-site master, full schema, with a topic and both configurations. */
#include "demo_site.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

void it_demo_copy_contribute_metadata(MYSQL *master, const char *child)
{
        it_exec(master, "INSERT INTO civicrm_payment_processor SELECT * FROM "
                "`%s`.civicrm_payment_processor", child);
        it_exec(master, "INSERT INTO civicrm_membership_type SELECT * FROM "
                "`%s`.civicrm_membership_type", child);
        it_copy_reserved_prices(master, child);
}

void it_demo_setup(it_demo_t *s, const char *tag, int partitions, unsigned flags)
{
        char base[32], extra[128];

        memset(s, 0, sizeof(*s));
        it_unique(s->prefix, sizeof(s->prefix), tag);
        snprintf(s->topic, sizeof(s->topic), "civisync.%s", s->prefix);
        snprintf(base, sizeof(base), "%smaster", tag);
        it_unique(s->master, sizeof(s->master), base);
        snprintf(base, sizeof(base), "%schild", tag);
        it_unique(s->child, sizeof(s->child), base);
        it_make_db(s->master, "--schema full --seed empty-site");
        it_make_db(s->child, "--schema full --seed demo-site");
        it_topic(s->topic, partitions);
        s->pconf = strdup(it_producer_conf(s->prefix, s->child, NULL));
        snprintf(extra, sizeof(extra), "prefixes = [\"%s\"];", s->prefix);
        s->cconf = strdup(it_consumer_conf(s->master, extra));
        ck_assert_msg(s->pconf && s->cconf, "out of memory");
        s->m = it_connect(s->master);
        s->c = it_connect(s->child);
        if (flags & IT_DEMO_CONTRIBUTE_META)
                it_demo_copy_contribute_metadata(s->m, s->child);
}

void it_demo_teardown(it_demo_t *s)
{
        if (s->m)
                mysql_close(s->m);
        if (s->c)
                mysql_close(s->c);
        free(s->pconf);
        free(s->cconf);
        memset(s, 0, sizeof(*s));
}

void it_demo_produce(const it_demo_t *s, int complete)
{
        it_run_t r = complete ?
                it_run("civisync-produce", "-c", s->pconf, "--complete", NULL) :
                it_run("civisync-produce", "-c", s->pconf, NULL);
        ck_assert_msg(r.exit_code == 0, "produce exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);
}

void it_demo_consume(const it_demo_t *s)
{
        it_run_t r = it_run("civisync-consume", "-c", s->cconf, "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "consume exit %d: %.1500s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "rejected to") == NULL, "rejections: %.1500s",
                      strstr(r.err, "rejected to"));
        ck_assert_msg(strstr(r.err, "end marker counts differ") == NULL,
                      "short replay: %.1500s", strstr(r.err, "end marker counts differ"));
        it_run_free(&r);
}

/* Prints verify's summary lines ("verify P: ...") and its lines for the
 * tables ("entity: ..." with the civicrm_ prefix dropped). */
static void print_summary(const char *out, const char *const *tables)
{
        for (const char *l = out; l && *l;) {
                const char *nl = strchr(l, '\n');
                int n = nl ? (int)(nl - l) : (int)strlen(l);
                int show = !strncmp(l, "verify ", 7);
                for (size_t i = 0; tables[i] && !show; i++) {
                        const char *name = tables[i];
                        size_t k;
                        if (!strncmp(name, "civicrm_", 8))
                                name += 8;
                        k = strlen(name);
                        show = !strncmp(l, name, k) && l[k] == ':';
                }
                if (show)
                        fprintf(stderr, "%.*s\n", n, l);
                l = nl ? nl + 1 : NULL;
        }
}

void it_demo_verify_clean(const it_demo_t *s, long long want_parked,
                          const char *const *log_tables)
{
        char want[128];
        const char *p;
        long long parked = 0;
        it_run_t r = it_run("civisync-verify", "--child-config", s->pconf,
                            "--master-config", s->cconf, "--no-metadata", NULL);

        snprintf(want, sizeof(want), "verify %s: 0 differences", s->prefix);
        if (r.exit_code != 0 || !strstr(r.out, want))
                fprintf(stderr, "%s\n%s\n", r.out, r.err);
        ck_assert_msg(r.exit_code == 0 && strstr(r.out, want) != NULL,
                      "verify exit %d (output above): %.200s", r.exit_code,
                      strstr(r.out, "verify ") ? strstr(r.out, "verify ") : r.out);
        if (want_parked >= 0) {
                /* "verify P: 243 child rows parked on the master, ..." */
                snprintf(want, sizeof(want), "verify %s: ", s->prefix);
                for (p = r.out; (p = strstr(p, want)); p++) {
                        char *end;
                        long long n = strtoll(p + strlen(want), &end, 10);
                        if (!strncmp(end, " child rows parked", 18)) {
                                parked = n;
                                break;
                        }
                }
                if (parked != want_parked)
                        fprintf(stderr, "%s\n", r.out);
                ck_assert_msg(parked == want_parked,
                              "parked %lld, want %lld (output above)", parked,
                              want_parked);
        }
        if (log_tables)
                print_summary(r.out, log_tables);
        it_run_free(&r);
}

long long it_demo_master_id(const it_demo_t *s, const char *table, long long child_id)
{
        return it_int(s->m, "SELECT COALESCE(MAX(master_entity_id), 0) FROM "
                      "mapping_master_%s WHERE entity_table = '%s' AND "
                      "child_entity_id = %lld", s->prefix, table, child_id);
}
