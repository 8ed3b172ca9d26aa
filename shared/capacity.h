/* capacity.h — every capacity limit of civisync in one place; each is checked and fails loudly, naming what exceeds it. */
#ifndef CS_CAPACITY_H
#define CS_CAPACITY_H

/* Nested entity kinds of one aggregate root (contact: email, phone,
 * address, IM, website, plus one per custom value table extending
 * contacts). Checked against the registry by cs_reg_check at every
 * program's start-up and after custom data discovery. */
#define CS_LIMIT_NESTED_KINDS 64

/* Custom value tables (civicrm_value_*) one site may have, all extends
 * together. Checked by custom data discovery (registry_custom.c), which
 * fails naming the table that exceeds it. */
#define CS_LIMIT_CUSTOM_GROUPS 256

/* Fields of one custom group. Checked by custom data discovery. */
#define CS_LIMIT_CUSTOM_FIELDS 512

/* Reference columns of one entity; a row parks at most one reference per
 * column, so this is also the number of parks of one row. Checked by
 * cs_reg_check. */
#define CS_LIMIT_PARKS 64

/* Columns of one master table the consumer writes (its row buffer and
 * statement text). CiviCRM 5.39's widest core table (civicrm_event) has
 * 69; custom-value tables can be wider, InnoDB stops at 1017. Checked
 * when the consumer reads the master's schema at start-up: a wider synced
 * table stops it, naming the table. */
#define CS_LIMIT_COLUMNS 1024

/* SELECT branches of one legacy source (registry cs_legacy_t). Checked by
 * cs_reg_check. */
#define CS_LIMIT_SOURCE_BRANCHES 4

/* Levels of ON DELETE CASCADE between synced tables that the consumer
 * follows to forget the mappings of rows a delete removes (contact ->
 * activity_contact is one level). Checked against the master's foreign
 * keys at start-up. */
#define CS_LIMIT_CASCADE_DEPTH 4

/* The largest max_file_bytes the producer accepts (a file's bytes travel
 * base64 in one Kafka message). Checked when the configuration is loaded;
 * each file is checked against max_file_bytes when it is read. */
#define CS_LIMIT_FILE_BYTES (64LL * 1024 * 1024)

#endif
