/* gate.c — the producer's half of the metadata gate: fingerprints the child's metadata tables and sends them as control documents. */
#include "gate.h"

#include <stdlib.h>

#include "doc.h"
#include "log.h"
#include "metadata.h"
#include "registry.h"

/* How long the fingerprint documents may take to be delivered. */
#define GATE_FLUSH_TIMEOUT_MS 300000

int cs_gate_send(MYSQL *db, cs_sink_t *sink, const char *prefix,
                 size_t max_document_bytes, long long *docs, char *errstr,
                 size_t errstr_size)
{
        size_t count = 0;
        const cs_table_rule_t *all = cs_reg_tables(&count);
        long long tables = 0, rows = 0;

        *docs = 0;
        for (size_t i = 0; i < count; i++) {
                cs_meta_table_t t;
                json_t **parts = NULL;
                size_t n = 0;
                int rc;

                if (all[i].cls != CS_TCLASS_METADATA)
                        continue;
                rc = cs_meta_read(db, all[i].table, 0, -1, &t, errstr, errstr_size);
                if (rc == 1) {
                        cs_debug("metadata gate: %s is not on this child", all[i].table);
                        continue;
                }
                if (rc == -1)
                        return -1;
                rc = cs_meta_docs(prefix, &t, max_document_bytes, &parts, &n,
                                  errstr, errstr_size);
                rows += (long long)t.row_cnt;
                cs_meta_table_free(&t);
                for (size_t p = 0; p < n; p++) {
                        size_t len = 0;
                        char *buf = rc == 0 ? cs_doc_dump(parts[p], max_document_bytes,
                                                          &len, errstr, errstr_size) : NULL;
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
        if (cs_sink_flush(sink, GATE_FLUSH_TIMEOUT_MS, errstr, errstr_size) == -1)
                return -1;
        cs_info("metadata gate: %lld table(s), %lld row(s) fingerprinted in %lld "
                "document(s)", tables, rows, *docs);
        return 0;
}
