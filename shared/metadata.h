/* metadata.h — the metadata gate: per-row, per-column digests of a site's metadata tables, their documents and their comparison. */
#ifndef CS_METADATA_H
#define CS_METADATA_H

#include <stddef.h>
#include <jansson.h>
#include <mysql.h>

/* Upper bound of one metadata document (a part of a table's fingerprint);
 * the producer cuts a table into parts by id range so that each part stays
 * below this and below max_document_bytes. */
#define CS_META_PART_MAX_BYTES (256 * 1024)
/* Hex digits of one column digest (32-bit FNV-1a of the canonical value). */
#define CS_META_COL_HEX 8
/* Parts of one table's fingerprint (a table with more rows than fit in
 * this many parts fails loudly, naming it). */
#define CS_META_PARTS_MAX 1000

#define CS_ENTITY_METADATA "civisync_metadata"
#define CS_F_META_PART     "civisync_metadata_part"
#define CS_F_META_PARTS    "civisync_metadata_parts"
#define CS_F_META_FROM     "civisync_metadata_after_id"
#define CS_F_META_TO       "civisync_metadata_to_id"
#define CS_F_META_COLUMNS  "civisync_metadata_columns"
#define CS_F_META_ROWS     "civisync_metadata_rows"
#define CS_F_META_DIGEST   "civisync_metadata_digest"

/* The fingerprint of one metadata table (or of one part of it). */
typedef struct cs_meta_table_s {
        char *table;
        char **cols;        /* compared columns (not id, not excluded), ordinal order */
        size_t col_cnt;
        long long *ids;     /* ascending */
        char **digests;     /* per row: col_cnt * CS_META_COL_HEX hex digits */
        json_t **values;    /* per row: NEW array of col_cnt values as a
                             * document carries them (FORMAT.md §4), or NULL
                             * (read without values, or a row sent without) */
        size_t row_cnt;
} cs_meta_table_t;

void cs_meta_table_free(cs_meta_table_t *t);

/* Reads table's fingerprint from db: rows with after_id < id (and id <=
 * to_id unless to_id < 0). Returns 0, 1 when the table does not exist
 * (out zeroed), -1 with errstr. */
int cs_meta_read(MYSQL *db, const char *table, long long after_id,
                 long long to_id, cs_meta_table_t *out, char *errstr,
                 size_t errstr_size);
/* The same, with each row's values (out->values): what the producer sends
 * so that the master can create the rows it lacks (additive sync). */
int cs_meta_read_values(MYSQL *db, const char *table, long long after_id,
                        long long to_id, cs_meta_table_t *out, char *errstr,
                        size_t errstr_size);

/* Columns of metadata tables that name a row of per-child data (a
 * contact, a group): the additive sync translates them through the
 * prefix's mapping when it creates the row, and the comparison leaves
 * them out (child and master ids differ by design). The synced table they
 * name, or NULL. */
const char *cs_meta_col_translated(const char *table, const char *column);

/* One difference between a child's fingerprint and the master's. */
typedef enum {
        CS_META_CHILD_ONLY = 0, /* the child has the row, the master does not */
        CS_META_MASTER_ONLY,    /* the master has the row, the child does not */
        CS_META_CHANGED,        /* both have it; `columns` differ */
        CS_META_SHAPE           /* row_id 0: columns only the child has, or the table absent on the master */
} cs_meta_kind_t;

typedef struct cs_meta_diff_s {
        cs_meta_kind_t kind;
        const char *table;
        long long row_id;
        const char *columns;    /* "label, name" (CHANGED / SHAPE), else "" */
} cs_meta_diff_t;

typedef void (cs_meta_diff_cb)(const cs_meta_diff_t *d, void *opaque);

/* "child-only", "master-only", "changed", "shape". */
const char *cs_meta_kind_name(cs_meta_kind_t kind);

/* Compares child with master (same table, same id range) by column name;
 * master may be NULL (table absent on the master). Calls cb per
 * difference; returns the number of differences, -1 on out of memory. */
long long cs_meta_compare(const cs_meta_table_t *child,
                          const cs_meta_table_t *master, cs_meta_diff_cb *cb,
                          void *opaque);

/* Builds the NEW documents of a table's fingerprint (rows [id, digest] or,
 * when t->values is set, [id, digest, [values...]]): *docs (malloc'd array
 * of NEW references, caller decrefs each and frees the array), *n parts,
 * each serialized below min(max_bytes, CS_META_PART_MAX_BYTES). 0, or -1
 * with errstr naming the table. */
int cs_meta_docs(const char *prefix, const cs_meta_table_t *t,
                 size_t max_bytes, json_t ***docs, size_t *n, char *errstr,
                 size_t errstr_size);

/* 1 if key (not NUL-terminated) is a metadata document key
 * "<PREFIX>/civisync_metadata/<table>/<part>". */
int cs_meta_is_key(const char *key, size_t key_len);

/* A received metadata document (value, not NUL-terminated, at most
 * max_bytes) checked against its key and the topic's prefix: table must
 * be classified metadata; a row's values, when sent, must hash to its
 * digest. Fills out (its rows, values when sent) and the part's id range
 * (*to_id -1: no upper bound). *gate_run receives the producer run that
 * sent it (civisync_gate_run; 0 when absent or invalid), as soon as the
 * document is known to be of this prefix: also when it is refused later.
 * 0, or -1 with errstr. */
int cs_meta_parse(const char *prefix, const char *key, size_t key_len,
                  const char *value, size_t value_len, size_t max_bytes,
                  cs_meta_table_t *out, long long *after_id, long long *to_id,
                  int *part, int *parts, long long *gate_run, char *errstr,
                  size_t errstr_size);

/* civisync-verify: compares every metadata table of child with master,
 * calling cb per difference. *tables receives the tables compared.
 * Returns the number of differences, or -1 with errstr. */
long long cs_meta_verify(MYSQL *child, MYSQL *master, cs_meta_diff_cb *cb,
                         void *opaque, long long *tables, char *errstr,
                         size_t errstr_size);

#endif
