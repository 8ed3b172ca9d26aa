/* rebuild.c — civisync-produce --rebuild-state: records the child's current fingerprints as the incremental state, sending nothing. */
#include "rebuild.h"

#include "incremental.h"
#include "log.h"
#include "snapshot.h"

int cs_rebuild_state(const cs_producer_conf_t *conf, MYSQL *db,
                     long long state_gen, json_t *created, json_t **new_incr,
                     char *errstr, size_t errstr_size)
{
        cs_snap_t *snap;

        *new_incr = NULL;
        if (!(snap = cs_snap_open(db, conf->prefix, conf->batch_rows, errstr,
                                  errstr_size)))
                return -1;
        *new_incr = cs_incr_snapshot_state(conf, snap, state_gen, 1, created,
                                           NULL, NULL, errstr, errstr_size);
        cs_snap_close(snap);
        if (!*new_incr)
                return -1;
        cs_info("prefix %s: incremental state rebuilt from the child as it is "
                "now (nothing sent): the next incremental run sends only "
                "later changes", conf->prefix);
        return 0;
}
