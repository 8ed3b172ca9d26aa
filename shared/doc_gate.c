/* doc_gate.c — the gate stamp of entity documents: which producer run's metadata documents a document must not overtake (FORMAT.md §7.1). */
#include <stdio.h>

#include "doc.h"

int cs_doc_gate_stamp(json_t *doc, long long run, long long docs)
{
        if (json_object_set_new(doc, CS_F_GATE_RUN, json_integer(run)) == -1 ||
            json_object_set_new(doc, CS_F_GATE_DOCS, json_integer(docs)) == -1)
                return -1;
        return 0;
}

int cs_doc_gate_read(const json_t *doc, const char *id, long long *run,
                     long long *docs, char *errstr, size_t errstr_size)
{
        const json_t *r = json_object_get(doc, CS_F_GATE_RUN);   /* BORROWED */
        const json_t *d = json_object_get(doc, CS_F_GATE_DOCS);  /* BORROWED */

        *run = *docs = 0;
        if (!r && !d)
                return 0;
        if (!json_is_integer(r) || json_integer_value(r) < 1 ||
            !json_is_integer(d) || json_integer_value(d) < 1) {
                snprintf(errstr, errstr_size, "document %s: %s and %s must both be "
                         "positive integers, or both be absent", id, CS_F_GATE_RUN,
                         CS_F_GATE_DOCS);
                return -1;
        }
        *run = json_integer_value(r);
        *docs = json_integer_value(d);
        return 0;
}
