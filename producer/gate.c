/* gate.c — the producer's half of the metadata gate: fingerprints the child's metadata tables and sends them as control documents. */
#include "gate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "doc.h"
#include "log.h"
#include "metadata.h"
#include "registry.h"
#include "registry_meta.h"

/* How long the fingerprint documents may take to be delivered. */
#define GATE_FLUSH_TIMEOUT_MS 300000

/* The member of the gate record (the state's metadata_gate) that holds
 * the stamp [run, documents] of the last run that sent documents. No
 * table has this name. */
#define GATE_STAMP_KEY "civisync_gate_run"

/* This run's id: the wall clock in milliseconds, and always above the run
 * recorded in old_gate (a clock set back cannot reuse an id). */
static long long next_run(const json_t *old_gate)
{
        struct timespec ts;
        long long now, last = json_integer_value(json_array_get(
                json_object_get(old_gate, GATE_STAMP_KEY), 0));

        clock_gettime(CLOCK_REALTIME, &ts);
        now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        return now > last ? now : last + 1;
}

/* Records in new_gate the stamp that the data documents of this run carry
 * (this run's when it sent documents, else the last one's) and hands it
 * to sink. 0, or -1 when out of memory. */
static int record_stamp(const json_t *old_gate, json_t *new_gate,
                        cs_sink_t *sink, long long run, long long docs)
{
        json_t *old = json_object_get(old_gate, GATE_STAMP_KEY); /* BORROWED */
        json_t *stamp = docs ? json_pack("[II]", (json_int_t)run, (json_int_t)docs) :
                        json_is_array(old) ? json_deep_copy(old) : NULL;

        if (!stamp)
                return docs || json_is_array(old) ? -1 : 0;
        if (sink)
                cs_sink_set_gate(sink, json_integer_value(json_array_get(stamp, 0)),
                                 json_integer_value(json_array_get(stamp, 1)));
        return json_object_set_new(new_gate, GATE_STAMP_KEY, stamp);
}

/* The table's fingerprint: its parts' digests joined by commas (NEW
 * string, or NULL when out of memory). */
static char *table_fingerprint(json_t **parts, size_t n)
{
        size_t size = 1, used = 0;
        char *out;

        for (size_t p = 0; p < n; p++)
                size += strlen(json_string_value(json_object_get(
                        parts[p], "civisync_metadata_digest"))) + 1;
        if (!(out = malloc(size)))
                return NULL;
        out[0] = '\0';
        for (size_t p = 0; p < n; p++)
                used += (size_t)snprintf(out + used, size - used, "%s%s",
                                         p ? "," : "",
                                         json_string_value(json_object_get(
                                                 parts[p],
                                                 "civisync_metadata_digest")));
        return out;
}

/* The i-th metadata table to send, or NULL after the last: first the
 * tables other metadata tables reference, in cs_reg_meta_send_first's
 * order (referenced before referencing), so that the master can create a
 * child's new rows in one pass; the others follow in registry order. The
 * consumer copes with any order (a row whose referenced row is not there
 * yet waits), this only spares it the waiting. */
static const char *send_order(size_t i)
{
        size_t count = 0, first = 0, k = 0;
        const cs_table_rule_t *all = cs_reg_tables(&count);

        while (cs_reg_meta_send_first(first))
                first++;
        if (i < first)
                return cs_reg_meta_send_first(i);
        i -= first;
        for (size_t t = 0; t < count; t++) {
                int early = 0;
                if (all[t].cls != CS_TCLASS_METADATA)
                        continue;
                for (size_t f = 0; f < first; f++)
                        early |= !strcmp(cs_reg_meta_send_first(f), all[t].table);
                if (early)
                        continue;
                if (k++ == i)
                        return all[t].table;
        }
        return NULL;
}

int cs_gate_send(MYSQL *db, cs_sink_t *sink, const char *prefix,
                 size_t max_document_bytes, const json_t *old_gate, int flags,
                 json_t *new_gate, long long *docs, char *errstr,
                 size_t errstr_size)
{
        int force = flags & CS_GATE_FORCE;
        long long tables = 0, rows = 0, unchanged = 0;
        long long run = next_run(old_gate);
        const char *table;

        *docs = 0;
        for (size_t i = 0; (table = send_order(i)); i++) {
                cs_meta_table_t t;
                json_t **parts = NULL;
                size_t n = 0;
                int rc;

                if (cs_reg_table_class(table) != CS_TCLASS_METADATA)
                        continue;
                /* with each row's values: the master creates what it lacks */
                rc = cs_meta_read_values(db, table, 0, -1, &t, errstr,
                                         errstr_size);
                if (rc == 1) {
                        cs_debug("metadata gate: %s is not on this child", table);
                        continue;
                }
                if (rc == -1)
                        return -1;
                rc = cs_meta_docs(prefix, &t, max_document_bytes, &parts, &n,
                                  errstr, errstr_size);
                rows += (long long)t.row_cnt;
                cs_meta_table_free(&t);
                int send = sink != NULL;
                if (rc == 0) {
                        char *fp = table_fingerprint(parts, n);
                        const char *was = json_string_value(
                                json_object_get(old_gate, table));
                        if (!fp || json_object_set_new(new_gate, table,
                                                       json_string(fp)) == -1) {
                                snprintf(errstr, errstr_size, "out of memory");
                                rc = -1;
                        } else if (!force && was && !strcmp(was, fp)) {
                                send = 0;
                                unchanged++;
                        }
                        free(fp);
                }
                for (size_t p = 0; p < n; p++) {
                        size_t len = 0;
                        char *buf = NULL;
                        if (rc == 0 && !send) {
                                json_decref(parts[p]);
                                continue;
                        }
                        if (rc == 0 && json_object_set_new(parts[p], CS_F_GATE_RUN,
                                                           json_integer(run)) == -1) {
                                snprintf(errstr, errstr_size, "out of memory");
                                rc = -1;
                        }
                        if (rc == 0)
                                buf = cs_doc_dump(parts[p], max_document_bytes, &len,
                                                  errstr, errstr_size);
                        if (!buf || cs_sink_send(sink, json_string_value(
                                                         json_object_get(parts[p], "id")),
                                                 buf, len, -1, errstr,
                                                 errstr_size) == -1)
                                rc = -1;
                        free(buf);
                        json_decref(parts[p]);
                        if (rc == 0)
                                (*docs)++;
                }
                free(parts);
                if (rc == -1)
                        return -1;
                tables++;
        }
        if (sink && cs_sink_flush(sink, GATE_FLUSH_TIMEOUT_MS, errstr,
                                  errstr_size) == -1)
                return -1;
        if (record_stamp(old_gate, new_gate, sink, run, *docs) == -1) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        if (*docs || !(flags & CS_GATE_QUIET))
                cs_info("metadata gate: %lld table(s), %lld row(s) fingerprinted; "
                        "%lld document(s) sent, %lld unchanged table(s) not "
                        "sent", tables, rows, *docs, unchanged);
        else
                cs_debug("metadata gate: %lld table(s) unchanged", unchanged);
        return 0;
}
