/* registry_custom.h — custom data (civicrm_value_*): value tables discovered at run time from a database's custom groups and fields, registered as nested entities. */
#ifndef CS_REGISTRY_CUSTOM_H
#define CS_REGISTRY_CUSTOM_H

#include <stddef.h>
#include <mysql.h>
#include "registry.h"

/* One custom field (a column of its group's value table). */
typedef struct cs_custom_field_s {
        long long id;
        char column[65];           /* column_name, a checked identifier */
        char data_type[32];        /* String, Int, Float, Money, Memo, Date,
                                      Boolean, StateProvince, Country, File,
                                      Link, ContactReference, EntityReference */
        char html_type[32];
        long long text_length;     /* 0: not set */
} cs_custom_field_t;

/* One custom group (one value table). */
typedef struct cs_custom_group_s {
        long long id;
        char table[65];            /* table_name, a checked identifier */
        char extends[65];
        int is_multiple;
        cs_custom_field_t *fields;
        size_t field_cnt;
        const cs_entity_t *ent;    /* the registered entity, NULL when skipped */
        const cs_entity_t *owner;  /* the entity it extends (registered), or NULL */
        char why[256];             /* skipped: the reason */
} cs_custom_group_t;

/* Reads db's civicrm_custom_group and civicrm_custom_field (absent tables:
 * no custom data) and registers one entity per value table whose extends
 * names a registered root entity: nested in it, link column entity_id,
 * ContactReference fields referencing contacts, File fields referencing
 * civicrm_file (CLEAR while civicrm_file is not a registered entity).
 * Groups already registered are updated in place (new fields); groups
 * that cannot be synced are kept with `why` and logged once. Returns the
 * number of registered groups, or -1 with errstr (database error, a
 * capacity limit). Whether the value tables exist is not checked here. */
int cs_custom_load(MYSQL *db, char *errstr, size_t errstr_size);

/* Every discovered group, registered or skipped (borrowed; valid until
 * the next cs_custom_load). */
const cs_custom_group_t *cs_custom_groups(size_t *count);
/* The group of a registered custom entity, or NULL (a static entity). */
const cs_custom_group_t *cs_custom_by_entity(const cs_entity_t *ent);
/* 1 if ent is a custom-value entity (registered by cs_custom_load). */
int cs_reg_custom_is(const cs_entity_t *ent);
/* 1 if column is a column of the value table by the loaded metadata
 * (id, entity_id or one of its fields' columns). */
int cs_custom_col_ok(const cs_custom_group_t *g, const char *column);
/* The SQL column type of a field, from its metadata only (FORMAT.md §19):
 * writes it into out; 0, or -1 with errstr for an unknown data_type. */
int cs_custom_sql_type(const cs_custom_field_t *f, char *out, size_t size,
                       char *errstr, size_t errstr_size);
/* 1 if name could be a custom value table (CiviCRM names them
 * civicrm_value_<group>_<id>): for a command line checked before the
 * metadata is read. */
int cs_custom_table_like(const char *name);
/* SQL (one bound parameter, a table name) answering 1 when db's custom
 * metadata names that value table: a document can carry values of a group
 * the metadata gate created in the current batch, before its table is
 * created (at the next batch). Static. */
const char *cs_custom_group_exists_sql(void);
/* A cheap signature of db's custom metadata (counts and greatest ids of
 * groups and fields): when it changes, cs_custom_load again. 0 or -1. */
int cs_custom_signature(MYSQL *db, char *out, size_t size, char *errstr,
                        size_t errstr_size);

#endif
