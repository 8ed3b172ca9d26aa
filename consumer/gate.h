/* gate.h — the consumer's half of the metadata gate: compares a child's metadata fingerprint with the master's, stores and shows the differences. */
#ifndef CS_CONSUMER_GATE_H
#define CS_CONSUMER_GATE_H

#include <stddef.h>
#include <stdio.h>
#include <mysql.h>

/* Lines of differences --status shows per prefix (the count is complete). */
#define CS_GATE_STATUS_SHOW 20

/* civisync_metadata_check and civisync_metadata_diff (DDL; call outside a
 * transaction). 0 or -1 with errstr. */
int cs_gate_create_tables(MYSQL *db, char *errstr, size_t errstr_size);

/* Applies one metadata document of prefix inside the open batch: compares
 * it with the master's rows of the same id range and replaces that range's
 * stored differences. A tombstone (value NULL) is ignored. Returns 0, 1
 * when the document is invalid (errstr: dead-letter it; nothing written),
 * -1 on a database error (*dberr = mysql_errno, errstr). */
int cs_gate_apply(MYSQL *db, const char *prefix, const char *key,
                  size_t key_len, const char *value, size_t value_len,
                  size_t max_document_bytes, unsigned int *dberr,
                  char *errstr, size_t errstr_size);

/* --status: the prefix's gate section (tables checked, differences with
 * table, row and columns). Prints nothing when the tables are missing. */
void cs_gate_status(MYSQL *db, const char *prefix, FILE *out);

#endif
