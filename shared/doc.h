/* doc.h — the Solr-JSON document format: encode rows, frame complete syncs, decode for apply. */
#ifndef CS_DOC_H
#define CS_DOC_H

#include <stddef.h>
#include <jansson.h>
#include "registry.h"
#include "schema.h"
#include "db.h"

#define CS_DOC_FORMAT_VERSION 1
#define CS_DOC_ID_MAX 128
/* Size of cs_doc_info_t.unknown_nested (with its NUL). */
#define CS_DOC_ENTITY_NAME_MAX 80

/* Reserved field names (no CiviCRM column starts with "civisync_"). */
#define CS_F_FORMAT     "civisync_format"
#define CS_F_PREFIX     "civisync_prefix"
#define CS_F_ENTITY     "civisync_entity"
#define CS_F_TABLE      "civisync_table"
#define CS_F_CHILD_ID   "civisync_child_id"
#define CS_F_TIME_ZONE  "civisync_time_zone"
#define CS_F_GENERATION "civisync_generation"
#define CS_F_PARTITION  "civisync_partition"
#define CS_F_PARTITIONS "civisync_partition_count"
#define CS_F_COUNT_PFX  "civisync_count_"
#define CS_F_CHILDREN   "_childDocuments_"
/* The metadata gate a document was produced under (FORMAT.md §7.1): the
 * producer run that last sent metadata documents, and how many it sent. */
#define CS_F_GATE_RUN   "civisync_gate_run"
#define CS_F_GATE_DOCS  "civisync_gate_docs"

#define CS_ENTITY_RESET "civisync_reset"
#define CS_ENTITY_END   "civisync_end"

/* "<prefix>/<table>/<child id>" for entity documents and their Kafka key. */
int cs_doc_id(char *out, size_t out_size, const char *prefix,
              const char *table, long long child_id);
/* "<prefix>/civisync_control": the key of reset and end documents. */
int cs_doc_control_id(char *out, size_t out_size, const char *prefix);
/* Splits an id/key (not NUL-terminated) into its parts; validates the prefix
 * and that table is a synced table. Control keys give table "civisync_control"
 * and child_id 0. Returns 0 or -1 with errstr. */
int cs_doc_parse_id(const char *id, size_t id_len,
                    char prefix[CS_PREFIX_MAX + 1], char *table,
                    size_t table_size, long long *child_id, char *errstr,
                    size_t errstr_size);

/* Encodes one row into a NEW document object. values/lengths are as from the
 * text protocol (values[i] == NULL for SQL NULL), in tbl->cols order; the
 * column named "id" becomes civisync_child_id. Omitted columns (CS_COL_OMIT)
 * are left out. time_zone is the child's server time zone (for DATETIME).
 * Returns NULL with errstr naming entity, id and column on a bad value. */
json_t *cs_doc_from_row(const cs_entity_t *ent, const cs_table_t *tbl,
                        const char *prefix, const char *time_zone,
                        char **values, const unsigned long *lengths,
                        char *errstr, size_t errstr_size);

/* One column value as the document carries it (NEW reference; json null
 * for SQL NULL): the canonical form that fingerprints hash too. NULL with
 * why on a bad value. */
json_t *cs_doc_value_new(const cs_column_t *col, const char *v,
                         unsigned long len, char *why, size_t why_size);

/* doc_gate.c: stamps a top-level entity document (borrowed, modified)
 * with the metadata gate it is produced under: run > 0 and docs > 0 (the
 * metadata documents that run sent). 0, or -1 when out of memory. */
int cs_doc_gate_stamp(json_t *doc, long long run, long long docs);
/* doc_gate.c: reads a top-level document's gate stamp (doc borrowed):
 * both fields or neither (*run = *docs = 0), each a positive integer.
 * 0, or -1 with errstr naming the document id. */
int cs_doc_gate_read(const json_t *doc, const char *id, long long *run,
                     long long *docs, char *errstr, size_t errstr_size);

/* Appends child to doc's _childDocuments_ (steals the child reference). */
int cs_doc_add_child(json_t *doc, json_t *child);

/* NEW reset control document for generation on one partition. */
json_t *cs_doc_reset_new(const char *prefix, long long generation,
                         int partition, int partition_count);
/* NEW end control document; counts is BORROWED: an object entity name ->
 * integer count of documents sent to this partition in this generation. */
json_t *cs_doc_end_new(const char *prefix, long long generation,
                       int partition, int partition_count,
                       const json_t *counts);

/* Deterministic compact serialization (keys in insertion order: envelope
 * first, then columns in ordinal order). Returns a malloc'd buffer (caller
 * frees) and its length, or NULL when the result exceeds max_bytes (errstr
 * names the document id and both sizes) or on error. */
char *cs_doc_dump(const json_t *doc, size_t max_bytes, size_t *len,
                  char *errstr, size_t errstr_size);

typedef enum {
        CS_DOC_KIND_ENTITY = 0,
        CS_DOC_KIND_RESET,
        CS_DOC_KIND_END
} cs_doc_kind_t;

/* The envelope of a received document. Pointers are BORROWED from doc. */
typedef struct cs_doc_info_s {
        cs_doc_kind_t kind;
        char prefix[CS_PREFIX_MAX + 1];
        const cs_entity_t *entity;   /* ENTITY */
        long long child_id;          /* ENTITY */
        long long generation;        /* RESET / END */
        int partition;               /* RESET / END */
        int partition_count;         /* RESET / END */
        const char *time_zone;       /* may be NULL */
        long long gate_run;          /* ENTITY: civisync_gate_run, 0 if none */
        long long gate_docs;         /* ENTITY: civisync_gate_docs, 0 if none */
        /* Set when cs_doc_inspect refuses a document because a document
         * nested in it names an entity the registry does not know (a
         * custom value table the consumer has not loaded yet): that name.
         * Empty otherwise, and for a top-level document's unknown entity
         * or a name of CS_DOC_ENTITY_NAME_MAX bytes or more (no table name
         * is that long). */
        char unknown_nested[CS_DOC_ENTITY_NAME_MAX];
} cs_doc_info_t;

/* Parses a Kafka message value (not NUL-terminated) into a NEW json object.
 * Rejects non-objects, invalid UTF-8, NUL bytes in keys, nesting deeper than
 * the format allows, and sizes above max_bytes. NULL with errstr. */
json_t *cs_doc_parse(const char *buf, size_t len, size_t max_bytes,
                     char *errstr, size_t errstr_size);

/* Validates doc's envelope against the format and against key (the Kafka
 * key, may be NULL for file input): format version, id == key, prefix,
 * entity known, child id positive, control fields. Fills info. 0, or -1
 * with errstr (and info->unknown_nested when a nested document names an
 * unknown entity). */
int cs_doc_inspect(const json_t *doc, const char *key, size_t key_len,
                   cs_doc_info_t *info, char *errstr, size_t errstr_size);

/* Every nested document in children (a _childDocuments_ array whose
 * members were inspected) of a cs_reg_parent_via entity names, in its
 * parent column, the child id of a document of its via entity in the same
 * array (doc_via.c). id: the root document's, for errstr. 0 or -1. */
int cs_doc_check_via_rows(const json_t *children, const char *id, char *errstr,
                          size_t errstr_size);

/* Converts one document field to a value for master column col: integers,
 * strings, ISO dates back to MariaDB literals ("T"/"Z" removed), base64 to
 * bytes for binary columns, DECIMAL strings verbatim. Any memory needed is
 * malloc'd and returned in *owned (caller frees, may be NULL on return).
 * Returns 0, or -1 with errstr naming the column (wrong type, bad date). */
int cs_doc_value_to_db(const json_t *value, const cs_column_t *col,
                       cs_db_value_t *out, char **owned, char *errstr,
                       size_t errstr_size);

/* 1 if name is a reserved envelope field (civisync_*, id, _childDocuments_). */
int cs_doc_field_reserved(const char *name);

#endif
