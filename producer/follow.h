/* follow.h — civisync-produce --follow (real-time daemon over the trigger outbox) and --install-triggers / --remove-triggers. */
#ifndef CS_FOLLOW_H
#define CS_FOLLOW_H

#include "conf.h"

/* --install-triggers (install 1) or --remove-triggers (install 0) on the
 * child of conf. Prints one summary line. Returns an exit code (0, 1). */
int cs_follow_triggers(const cs_producer_conf_t *conf, int install);

/* --follow: holds the prefix's lock for its lifetime (a cron run meanwhile
 * exits 3), runs an incremental sync at start-up and every
 * conf->reconcile_interval seconds (the safety net, same state as cron
 * runs), and between them drains civisync_outbox every
 * conf->follow_interval_ms. SIGTERM/SIGINT: finishes the batch in flight
 * and returns 0 (a second signal interrupts a wait for delivery). Returns
 * an exit code: 0, 1 (runtime failure: unsent outbox rows stay for the
 * next start), 3 (lock held). */
int cs_follow_run(const cs_producer_conf_t *conf, const char *topic);

#endif
