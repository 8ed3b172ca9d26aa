/* demo_site.h — the tests' demo-site pair: a CiviCRM demo-site child and an empty-site master, full schema, with a topic and both configurations. */
#ifndef CS_IT_DEMO_SITE_H
#define CS_IT_DEMO_SITE_H

#include <mysql.h>

typedef struct it_demo_s {
        char master[64], child[64], prefix[40], topic[80];
        char *pconf, *cconf; /* producer / consumer configuration paths (owned) */
        MYSQL *m, *c;        /* connections to the master and the child (owned) */
} it_demo_t;

/* it_demo_setup flags */
#define IT_DEMO_CONTRIBUTE_META 1u /* copy the child's payment processors, membership types and reserved membership price options */

/* Fresh unique names from tag: the prefix, its topic civisync.<prefix> with
 * partitions, a master made with the full schema and the installer's empty
 * site, a child made with the demo site; the producer's and the consumer's
 * configurations (the consumer allows this prefix only); connections to
 * both. Fails the test on any error. */
void it_demo_setup(it_demo_t *s, const char *tag, int partitions, unsigned flags);
void it_demo_teardown(it_demo_t *s);

/* Copies the demo site's payment processors and membership types from the
 * child database into master, with the reserved membership price set's
 * field and options (it_copy_reserved_prices): its contributions,
 * memberships, participants and price sets need them and an empty site
 * lacks them. Creating them on the master
 * is the additive metadata sync's job; tests that are not about it start
 * with them in place. */
void it_demo_copy_contribute_metadata(MYSQL *master, const char *child);

/* civisync-produce on the child (complete: --complete); exit 0. */
void it_demo_produce(const it_demo_t *s, int complete);
/* civisync-consume --once on the master: exit 0, nothing rejected, no
 * short replay ("end marker counts differ": the documents parked for a
 * later phase's owner are accounted for, so the sweep runs). */
void it_demo_consume(const it_demo_t *s);

/* it_demo_verify_clean: do not check the parked count */
#define IT_DEMO_ANY_PARKED (-1LL)
/* civisync-verify --no-metadata: 0 differences, and (want_parked >= 0)
 * exactly want_parked child rows parked on the master. On failure prints
 * verify's output; on success, when log_tables (NULL-terminated table
 * names) is given, prints verify's summary lines and its lines for those
 * tables (the run's log records them). */
void it_demo_verify_clean(const it_demo_t *s, long long want_parked,
                          const char *const *log_tables);
/* The master id of child row child_id of table (this prefix's mapping),
 * 0 when unmapped. */
long long it_demo_master_id(const it_demo_t *s, const char *table,
                            long long child_id);

#endif
