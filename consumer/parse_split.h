/* parse_split.h — parses a batch's document values on two threads (the caller's and a helper) before the apply. */
#ifndef CIVISYNC_PARSE_SPLIT_H
#define CIVISYNC_PARSE_SPLIT_H

#include <stddef.h>
#include <jansson.h>

/* Below this many values one thread parses them all (a helper thread
 * costs more than it saves). */
#define CS_PARSE_SPLIT_MIN 64

/* Parses values[i] (lens[i] bytes; NULL = a tombstone, skipped) with
 * cs_doc_parse, the second half on a helper thread: out[i] is a NEW
 * reference, or NULL when skipped or refused (the apply parses that value
 * again and reports why). max_document_bytes: 0 = no limit. Never fails:
 * without a helper thread the caller's thread parses everything. */
void cs_parse_split(const char *const *values, const size_t *lens, json_t **out,
                    size_t n, size_t max_document_bytes);

#endif
