/* gate.c — civisync-verify's metadata section: computes the gate's fingerprints on the child and the master and names every difference. */
#include "gate.h"

#include "metadata.h"

typedef struct vg_print_s {
        FILE *out;
        long limit;
        long long shown;
} vg_print_t;

static void on_meta(const cs_meta_diff_t *d, void *opaque)
{
        vg_print_t *p = opaque;

        if (p->limit && p->shown >= p->limit)
                return;
        p->shown++;
        fprintf(p->out, "  metadata %s id %lld: %s%s%s\n", d->table, d->row_id,
                cs_meta_kind_name(d->kind), *d->columns ? ": " : "", d->columns);
}

long long cs_vgate_run(MYSQL *child, MYSQL *master, const char *prefix,
                       long limit, FILE *out, char *errstr, size_t errstr_size)
{
        vg_print_t p = { out, limit, 0 };
        long long tables = 0;
        long long n = cs_meta_verify(child, master, on_meta, &p, &tables, errstr,
                                     errstr_size);

        if (n < 0)
                return -1;
        if (n > p.shown)
                fprintf(out, "  metadata: %lld more difference(s) not shown (--limit)\n",
                        n - p.shown);
        fprintf(out, "verify %s: metadata: %lld differences in %lld tables%s\n",
                prefix, n, tables, n ? " (the metadata gate: docs/OPERATIONS.md)" : "");
        return n;
}
