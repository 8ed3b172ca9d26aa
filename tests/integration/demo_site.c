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
