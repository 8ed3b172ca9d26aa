/* registry.h — the declarative table of synced CiviCRM entities: the only place that knows CiviCRM's shape. */
#ifndef CS_REGISTRY_H
#define CS_REGISTRY_H

#include <stddef.h>

/* How a column refers to another synced row. */
typedef enum {
        CS_REF_ENTITY = 0, /* holds an id of `target` (hard FK, self-reference or pseudo-FK) */
        CS_REF_POLY,       /* holds an id of the table named in `table_column` (entity_table/entity_id);
                              `cases` (if set) says per table name what the id is */
        CS_REF_ID_LIST     /* comma-separated ids of `target` (civicrm_group.parents/children) */
} cs_ref_kind_t;

/* What a POLY reference's id is, for one value of its table column. */
typedef enum {
        CS_POLY_TRANSLATE = 0, /* an id of `target`, a synced table: translated */
        CS_POLY_PASS,          /* metadata or an option value (ACL role): passes through */
        CS_POLY_DEFER,         /* an id of `target`, data of a later phase: the row
                                  waits (parked, reason in --status) until it is mapped */
        CS_POLY_REJECT         /* not an allowed value: the document is dead-lettered */
} cs_poly_action_t;

typedef struct cs_poly_case_s {
        const char *value;         /* value of the table column; NULL terminates */
        cs_poly_action_t action;
        const char *target;        /* TRANSLATE/DEFER: whose mapping translates the id
                                      (may differ from value: CiviCRM's ACLs name
                                      groups 'civicrm_saved_search') */
        int zero_passes;           /* 1: id 0 means "every row" and passes through */
        const char *why;
} cs_poly_case_t;

typedef struct cs_ref_s {
        const char *column;        /* NULL terminates a list */
        cs_ref_kind_t kind;
        const char *target;        /* target table for ENTITY and ID_LIST */
        const char *table_column;  /* POLY: the column that names the target table */
        int required;              /* 1: the row cannot exist on the master without the target */
        const cs_poly_case_t *cases; /* POLY: per table name (NULL-terminated); NULL:
                                        the entity's poly_targets, translated */
} cs_ref_t;

/* What the master does with a UNIQUE column when children merge. */
typedef enum {
        CS_UNIQUE_QUALIFY = 0 /* master stores "<PREFIX>:<value>" (see cs_reg_qualify) */
} cs_unique_policy_t;

typedef struct cs_unique_s {
        const char *column;        /* NULL terminates a list */
        cs_unique_policy_t policy;
} cs_unique_t;

/* Columns that are not carried verbatim. */
typedef enum {
        CS_COL_OMIT = 1,  /* never leaves the child (credentials) */
        CS_COL_CLEAR,     /* carried in the document; the master stores NULL
                             (per-site caches, references to unsynced tables) */
        CS_COL_PREFIX_PATH /* a file name (cs_file_name_ok): the master stores
                              "<PREFIX>/<value>" (civicrm_file.uri) */
} cs_col_policy_t;

typedef struct cs_col_rule_s {
        const char *column;        /* NULL terminates a list */
        cs_col_policy_t policy;
        const char *why;
} cs_col_rule_t;

/* A column a child must have for an adaptation to apply. */
typedef struct cs_table_column_s {
        const char *table;         /* NULL terminates a list */
        const char *column;
} cs_table_column_t;

/* One SELECT branch of a legacy source: rows of `table` that become rows of
 * the entity. */
typedef struct cs_legacy_branch_s {
        const char *table;         /* FROM table; NULL terminates a list */
        const char *parent;        /* its column holding the aggregate root's id */
        const char *where;         /* static SQL filter, or NULL */
        const char *const *exprs;  /* SQL per cs_legacy_t.columns entry: constants
                                      and this table's own columns only */
} cs_legacy_branch_t;

/* How an entity is read from a child that predates its table (FORMAT.md
 * §17: 4.2/4.3 children have no civicrm_activity_contact). Used when the
 * entity's table is absent and every `requires` column exists. */
typedef struct cs_legacy_s {
        const cs_table_column_t *requires;
        const char *const *columns;  /* the document's columns (unsigned
                                        integers), NULL-terminated, "id" first */
        int id_scale;                /* stored id = id_scale * raw id + k,
                                        0 <= k < id_scale, k fixed per branch */
        const cs_legacy_branch_t *branches; /* at most CS_LIMIT_SOURCE_BRANCHES */
        const char *absorbs_entity;  /* entity whose column this one carries
                                        instead ("activity"), or NULL */
        const char *absorbs_column;  /* that column, dropped from its documents */
        const char *summary;         /* one line for logs and civisync-verify */
        const char *era;             /* the schema such a child has, for
                                        messages ("CiviCRM 4.2 schema (...)") */
} cs_legacy_t;

/* The child's change log: the change signal of roots whose table has no
 * modification timestamp of its own (4.2's civicrm_contact). */
typedef struct cs_change_log_s {
        const char *table;
        const char *id_column;     /* its primary key */
        const char *time_column;   /* when */
        const char *table_column;  /* the changed row's table */
        const char *row_column;    /* the changed row's id */
} cs_change_log_t;

/* Rows a fresh CiviCRM install (schema and seed) holds in a synced table:
 * civicrm-restore accepts them in an otherwise empty target. */
typedef struct cs_seed_s {
        const char *table;         /* NULL terminates the list */
        const char *keep_table;    /* rows referenced from keep_table.keep_column */
        const char *keep_column;   /* are the site's own (the domain contact):
                                      never counted as data, never removed;
                                      NULL: none */
        const char *owner_column;  /* the column compared with keep_column:
                                      NULL = the row's id (the contact itself),
                                      "contact_id" = rows it owns (its email) */
} cs_seed_t;

typedef struct cs_entity_s {
        const char *name;          /* document entity name: "contact", "email" */
        const char *table;         /* "civicrm_contact" */
        const char *parent;        /* entity name of the aggregate root, or NULL */
        const char *parent_column; /* children: column holding the root's id */
        const char *row_filter;    /* static SQL condition on synced rows, or NULL */
        const char *change_column; /* the row's own modification timestamp, or NULL */
        const cs_ref_t *refs;
        const cs_unique_t *uniques;
        const cs_col_rule_t *col_rules;
        const char *const *poly_targets; /* POLY refs: allowed target tables (NULL-terminated); refs
                                            with cases say per value what the id is */
        const char *summary;       /* one line for docs and --help */
        const cs_legacy_t *legacy; /* how older children store it, or NULL */
} cs_entity_t;

/* All entities in dependency order (roots before the rows that point at
 * them where the schema allows; cycles are resolved by parking). Borrowed. */
const cs_entity_t *cs_reg_entities(size_t *count);
const cs_entity_t *cs_reg_by_name(const char *name);
const cs_entity_t *cs_reg_by_table(const char *table);
/* Children of a root entity, in registry order: fills out (up to max). */
size_t cs_reg_children(const cs_entity_t *root, const cs_entity_t **out,
                       size_t max);
const cs_ref_t *cs_reg_ref(const cs_entity_t *ent, const char *column);
/* 0 if the column is carried verbatim, else its cs_col_policy_t. */
int cs_reg_col_policy(const cs_entity_t *ent, const char *column);
/* The unique rule for a column, or NULL. */
const cs_unique_t *cs_reg_unique(const cs_entity_t *ent, const char *column);
/* 1 if table is an allowed target of ent's POLY references. */
int cs_reg_poly_target_ok(const cs_entity_t *ent, const char *table);
/* What the id of POLY reference ref means when its table column holds
 * table (NULL: SQL NULL) and the id is id (-1: NULL). *target gets the table
 * whose mapping translates it (TRANSLATE/DEFER), else NULL. A NULL id always
 * passes (the row names no row); a table not listed is REJECT. */
cs_poly_action_t cs_reg_poly_resolve(const cs_entity_t *ent, const cs_ref_t *ref,
                                     const char *table, long long id,
                                     const char **target);
/* "translated", "passes through", "deferred", "rejected". */
const char *cs_reg_poly_action_name(cs_poly_action_t action);

/* SQL condition (on table's own columns) of the rows of a synced table that
 * are site metadata with the same id on every site (reserved price sets):
 * never sent, and references to them are carried verbatim
 * (registry_contribute.c). NULL: none. */
const char *cs_reg_site_rows(const char *table);
/* 1 if the rows of table go with the owner their polymorphic reference
 * names (the consumer removes them with its tombstone), else 0
 * (registry_contribute.c). */
int cs_reg_poly_owned(const char *table);
/* 1 if the rows of table that name owner (a table) go with it: the phase-3c
 * owners of notes and entity tags (registry_campaign.c), else 0. */
int cs_reg_poly_owned_by(const char *table, const char *owner);

/* A write CiviCRM's runtime triggers follow on a master: updating or
 * deleting a row of `table` sets `target`.`column` to the current time on
 * the rows ids_sql selects (one ?: the written row's master id). */
typedef struct cs_bump_s {
        const char *table;
        const char *target;
        const char *column;
        const char *ids_sql;   /* SELECT <target ids> ... WHERE ... = ? */
} cs_bump_t;
/* The bump that writes to table set off, or NULL (registry_campaign.c). */
const cs_bump_t *cs_reg_bump(const char *table);

/* The seed rule of table, or NULL when a fresh install has no rows there.
 * Borrowed. */
const cs_seed_t *cs_reg_seed(const char *table);

/* The change log (civicrm_log). Borrowed. */
const cs_change_log_t *cs_reg_change_log(void);

/* Checks the registry against the capacity limits of capacity.h (nested
 * kinds per root, references per entity, legacy branches). 0, or -1 with
 * errstr naming the entity and the limit. Every program calls it at
 * start-up. */
int cs_reg_check(char *errstr, size_t errstr_size);

/* Collision policy CS_UNIQUE_QUALIFY: writes "<prefix>:<value>" into out
 * (NUL-terminated) if it fits in max_chars characters; otherwise keeps the
 * prefix, as much of the value as fits and "~" plus 8 hex digits of a hash
 * of the full value, so that distinct values stay distinct. Returns the
 * byte length written, or -1 if out_size is too small. UTF-8 aware: never
 * cuts a character. */
int cs_reg_qualify(const char *prefix, const char *value, size_t value_len,
                   size_t max_chars, char *out, size_t out_size);
/* The qualify limits for a master column of max_length characters (0 or
 * less: not known, then 255): *max_chars gets the max_chars to pass to
 * cs_reg_qualify, and the result is an out_size that always suffices (4
 * bytes per UTF-8 character, and the NUL). */
size_t cs_reg_qualify_size(long long max_length, size_t *max_chars);

/* ---- views: one table as several entities (registry_loc.c) -------------- */

/* civicrm_address, civicrm_email, civicrm_phone and civicrm_im are two
 * entities each: the rows a contact owns (nested in the contact) and the
 * contact-less rows of location blocks (roots, row filter
 * CS_LOC_ROW_FILTER). cs_reg_by_table returns the first (the contact's);
 * these tell the views apart. */
/* The root entity reading table (a tombstone's key names a table), or
 * NULL. Borrowed. */
const cs_entity_t *cs_reg_root_by_table(const char *table);
/* How many entities read table (0 when none). */
size_t cs_reg_views(const char *table);
/* A name unique per entity for per-entity state (fingerprint files): the
 * table for the table's first entity, else the entity name. Borrowed. */
const char *cs_reg_view_key(const cs_entity_t *ent);
/* When ent's table has several views: the SQL condition (on the table's
 * own columns, unqualified) selecting ent's rows, written into out (NULL
 * if it does not fit); NULL when ent is its table's only entity. */
const char *cs_reg_view_filter(const cs_entity_t *ent, char *out, size_t size);

/* ---- custom data (registry_custom.c) ------------------------------------ */

/* Number of the static (compiled-in) entities: they come first in
 * cs_reg_entities; custom-value entities follow. */
size_t cs_reg_static_count(void);
/* Appends a copy of ent (its strings and lists must outlive the registry).
 * Returns the registered entry (stable), or NULL with errstr at
 * CS_LIMIT_CUSTOM_GROUPS. For registry_custom.c. */
const cs_entity_t *cs_reg_add_entity(const cs_entity_t *ent, char *errstr,
                                     size_t errstr_size);
/* Replaces a registered custom entry in place (same slot, same pointer). */
void cs_reg_set_entity(const cs_entity_t *slot, const cs_entity_t *ent);
/* The nested entity (same root) whose row id a nested entity's
 * parent_column holds, when that is not the root's id: custom values of an
 * address travel in the contact document beside the address, entity_id
 * naming the address; NULL otherwise (registry_custom.c). */
const cs_entity_t *cs_reg_parent_via(const cs_entity_t *ent);
/* The entity whose ids a nested entity's parent_column holds: its
 * cs_reg_parent_via entity, else its root; NULL for a root. */
const cs_entity_t *cs_reg_link_target(const cs_entity_t *ent);
/* Writes into out the SQL expression of the root id of a row of nested
 * entity ent: "<alias>.`<parent_column>`", or for a cs_reg_parent_via entity
 * "(SELECT <via's parent_column> FROM <via's table> WHERE id =
 * <alias>.`<parent_column>`)" (NULL when the via row is gone or has no
 * root). alias: a table alias or quoted table name ("t", "`civicrm_x`").
 * 0, or -1 when out is too small or ent is a root (registry_custom.c). */
int cs_reg_root_expr(const cs_entity_t *ent, const char *alias, char *out,
                     size_t size);

/* ---- files (registry_files.c) ------------------------------------------- */

/* The entity whose rows name a file on disk (civicrm_file), its file name
 * column (the CS_COL_PREFIX_PATH column). Borrowed. */
const cs_entity_t *cs_reg_file_entity(void);
/* The entity linking files to what they are attached to (civicrm_entity_file)
 * and its column holding the file id. Borrowed. */
const cs_entity_t *cs_reg_file_link_entity(void);
const char *cs_reg_file_link_column(void);
const char *cs_reg_file_name_column(void);
/* 1 if ent's POLY references may also name a custom value table
 * (civicrm_entity_file: entity_id is then the id of the entity the custom
 * group extends). */
int cs_reg_poly_custom_ok(const cs_entity_t *ent);
/* 1 if table is a custom value table name (civicrm_value_*). */
int cs_reg_is_custom_value_table(const char *table);
/* The metadata table and columns that say which entity a custom value
 * table extends: table civicrm_custom_group, its table_name and extends. */
const char *cs_reg_custom_group_table(void);
const char *cs_reg_custom_group_name_column(void);
const char *cs_reg_custom_group_extends_column(void);
/* The synced table an `extends` value names (Contact, Individual,
 * Household, Organization -> civicrm_contact; Activity; Relationship;
 * Group; Address), or NULL when that entity is not synced. */
const char *cs_reg_custom_extends_table(const char *extends);
/* The extends -> table pairs (NULL-terminated, name first). Borrowed. */
const char *const *cs_reg_custom_extends_pairs(void);
/* Writes into out an SQL expression giving the table whose ids a POLY
 * column holds on the master, given `table_expr` (SQL naming the row's
 * entity_table, e.g. "t.`entity_table`"): the extended entity's table for a
 * custom value table (from the master's custom groups), else table_expr
 * itself. For civisync-verify and civisync-restore (the consumer applies
 * the same rule in C). 0, or -1 when out is too small. */
int cs_reg_custom_target_sql(char *out, size_t size, const char *table_expr);

/* ---- every CiviCRM table (registry_tables.c) ---------------------------- */

/* What civisync does with a CiviCRM table. */
typedef enum {
        CS_TCLASS_UNKNOWN = 0, /* not a CiviCRM 5.39 core table */
        CS_TCLASS_SYNCED,      /* a registry entity: synced as data of the prefix */
        CS_TCLASS_DATA_LATER,  /* data of the prefix, a later phase: not yet synced */
        CS_TCLASS_METADATA,    /* shared by all sites: fingerprinted by the gate */
        CS_TCLASS_CACHE,       /* per-site cache, log or queue: never synced */
        CS_TCLASS_CREDENTIALS, /* secrets: never leave the child */
        CS_TCLASS_CONFIG       /* this site's configuration: never synced */
} cs_table_class_t;

typedef struct cs_table_rule_s {
        const char *table;         /* NULL terminates the list */
        cs_table_class_t cls;
        const char *why;
} cs_table_rule_t;

/* A metadata column left out of the gate's fingerprint. */
typedef struct cs_meta_col_rule_s {
        const char *table;         /* NULL terminates the list */
        const char *column;
        const char *why;
} cs_meta_col_rule_t;

/* A table split between metadata and data: the gate fingerprints only the
 * rows matching `only` (static SQL); the others are a registry entity's. */
typedef struct cs_meta_row_rule_s {
        const char *table;         /* NULL terminates the list */
        const char *only;
        const char *why;
} cs_meta_row_rule_t;

/* All classified tables (NULL-terminated; *count excludes the terminator). Borrowed. */
const cs_table_rule_t *cs_reg_tables(size_t *count);
/* The rule of one table, or NULL. Borrowed. */
const cs_table_rule_t *cs_reg_table(const char *name);
/* Its class, CS_TCLASS_UNKNOWN when unclassified. */
cs_table_class_t cs_reg_table_class(const char *name);
/* "synced", "data-later", "metadata", "cache", "credentials", "config", "unknown". */
const char *cs_reg_table_class_name(cs_table_class_t cls);
/* Why table.column is left out of the metadata fingerprint, or NULL when it is in. */
const char *cs_reg_meta_col_excluded(const char *table, const char *column);
/* All excluded metadata columns (NULL-terminated). Borrowed. */
const cs_meta_col_rule_t *cs_reg_meta_col_rules(void);
/* The SQL condition selecting a split metadata table's metadata rows, or
 * NULL when every row is metadata. Borrowed. */
const char *cs_reg_meta_row_filter(const char *table);
/* All split metadata tables (NULL-terminated). Borrowed. */
const cs_meta_row_rule_t *cs_reg_meta_row_rules(void);

/* ---- ids inside strings (registry_tables.c) ------------------------------ */

/* What civisync does with a text column that holds ids inside serialized
 * or separated text (FORMAT.md §15.1). */
typedef enum {
        CS_IDTEXT_TRANSLATED = 1, /* translated by a registry reference (ID_LIST) */
        CS_IDTEXT_CLEARED,        /* carried; the master stores NULL (CLEAR) and
                                     its CiviCRM rebuilds it */
        CS_IDTEXT_METADATA,       /* ids of metadata only (option values, types):
                                     the same on every site, verbatim is right */
        CS_IDTEXT_VERBATIM,       /* may hold ids of the prefix's data, carried
                                     verbatim: a documented limitation */
        CS_IDTEXT_NO_IDS,         /* looks id-bearing, holds names or free text */
        CS_IDTEXT_NOT_SYNCED      /* its table is not synced (configuration, cache,
                                     later phase): the rule it will need is noted */
} cs_idtext_policy_t;

typedef struct cs_idtext_s {
        const char *table;         /* NULL terminates the list */
        const char *column;
        cs_idtext_policy_t policy;
        const char *rule;          /* what it holds and the rule, for the docs */
} cs_idtext_t;

/* Every classified id-bearing text column (NULL-terminated). Borrowed. */
const cs_idtext_t *cs_reg_id_texts(void);
/* The rule of table.column, or NULL when unclassified. Borrowed. */
const cs_idtext_t *cs_reg_id_text(const char *table, const char *column);
/* "translated", "cleared", "metadata ids", "verbatim (limitation)",
 * "no ids", "not synced". */
const char *cs_reg_id_text_policy_name(cs_idtext_policy_t policy);

#endif
