/* apply_int.h — private to consumer/apply*.c: shared state, internal functions (see docs/CONSUMER.md). */
#ifndef CS_APPLY_INT_H
#define CS_APPLY_INT_H

/* The apply module is split by subsystem (docs/CONSUMER.md, "Apply", has
 * the same list):
 *   apply.c        connection, batch boundaries, one message (ap_apply_one)
 *   apply_batch.c  cs_apply_messages: windows, groups, multi-row INSERTs
 *   apply_ddl.c    civisync's own tables
 *   apply_custom.c custom value tables: discovery, CREATE/ADD COLUMN
 *   apply_schema.c the master's tables and foreign keys; statement helpers
 *   apply_map.c    prefix state, mapping cache, prefetch
 *   apply_refs.c   reference translation and parking
 *   apply_row.c    upsert, replace-set delete, tombstones
 *   apply_frame.c  reset/end framing, sweep, offset-rewind replays
 * Nothing outside consumer/apply*.c includes this header, but for the unit
 * tests of the mapping cache and id lists (tests/unit/test_consumer_internals.c). */

#include <stddef.h>
#include <string.h>
#include <jansson.h>

#include "apply.h"
#include "capacity.h"
#include "db.h"
#include "doc.h"
#include "registry.h"
#include "schema.h"

/* Outcome of an internal step: the public cs_apply_rc_t values, plus
 * AP_PARKED, which never leaves the module (ap_apply_one turns it into a
 * parked document). Public functions convert with ap_public_rc. */
typedef enum {
        AP_RETRY = CS_APPLY_RETRY,       /* transient: the batch rolls back */
        AP_OK = CS_APPLY_OK,             /* done (or a harmless no-op) */
        AP_REJECTED = CS_APPLY_REJECTED, /* the document can never apply */
        AP_PARKED = 2                    /* the document waits for a required
                                            reference or a UNIQUE key */
} ap_rc_t;

static inline cs_apply_rc_t ap_public_rc(ap_rc_t rc)
{
        switch (rc) {
        case AP_OK:
                return CS_APPLY_OK;
        case AP_REJECTED:
                return CS_APPLY_REJECTED;
        case AP_PARKED: /* never returned by a public function */
        case AP_RETRY:
        default:
                return CS_APPLY_RETRY;
        }
}

/* Statement text: an UPDATE or INSERT of CS_LIMIT_COLUMNS columns of
 * names up to 64 bytes fits. */
#define SQL_MAX 131072
_Static_assert(SQL_MAX >= CS_LIMIT_COLUMNS * 72 + 4096,
               "SQL_MAX too small for CS_LIMIT_COLUMNS");

/* What civisync knows about one prefix while applying. */
typedef struct prefix_ctx_s {
        char prefix[CS_PREFIX_MAX + 1];
        char map[CS_PREFIX_MAX + 32];   /* mapping_master_<prefix> */
        long long generation;           /* producer generation of the last reset */
        long long refresh;              /* stamp written to mapping rows now */
        long long generation_refresh;   /* stamp at which `generation` began */
        long long replay_refresh;       /* stamp of a rewind replay, 0 none */
        long long completed_generation; /* last generation that ended */
        int has_parked;                 /* civisync_parked may hold rows */
        int has_parked_doc;             /* civisync_parked_doc may hold rows */
        int meta_conflicts;             /* gate records a conflict: 1, 0, -1 unknown */
        long long gate_applied_run;     /* a producer run whose metadata documents
                                           are known applied in this transaction */
        long long gate_logged_run;      /* the last run whose wait was logged */
        int ensured;                    /* mapping table created on this connection */
        int loaded;                     /* state read in this transaction */
        int offsets_touched;            /* civisync_offset written in this batch */
} prefix_ctx_t;

/* Mapping lookups cached within one transaction: master_id > 0 is a
 * mapping, 0 says "not mapped" (from a prefetch). Every insert of a mapping
 * row goes through map_remember and every delete forgets what it may have
 * removed (ap_map_forget: one row; ap_map_forget_table: every entry of the
 * entity_table it deleted from; ap_map_forget_all), so both kinds stay
 * true until the transaction ends. */
#define MAP_CACHE_SIZE 65536
typedef struct map_entry_s {
        unsigned long epoch;            /* valid when == cs_apply_t.map_epoch */
        unsigned int table_epoch;       /* and == cs_apply_t.table_epoch[entity_no] */
        unsigned short prefix_no;
        unsigned short entity_no;
        long long child_id;
        long long master_id;
        long long generation;           /* of the mapping row, -1 unknown */
} map_entry_t;

/* A foreign key column: table.column. */
typedef struct fk_ref_s {
        char table[65];
        char column[65];
} fk_ref_t;

/* A list that grows as the master's schema needs: the full CiviCRM schema
 * has 36 ON DELETE CASCADE keys to civicrm_contact alone, and extensions
 * add more. */
typedef struct fk_list_s {
        fk_ref_t *v;
        size_t n, cap;
} fk_list_t;

typedef struct restrict_refs_s {
        int loaded;
        /* Nullable foreign keys with ON DELETE RESTRICT/NO ACTION that point
         * at the table: the rows holding them must let go before a
         * referenced row is deleted (as CiviCRM does on the child before it
         * deletes). */
        fk_list_t restrict_;
        /* ON DELETE CASCADE references from synced tables: deleting a row
         * deletes theirs too, so their mapping rows must go first. */
        fk_list_t cascade;
        /* NOT NULL RESTRICT references from metadata that the registry
         * hands to the master's own row (cs_reg_meta_reassigned). */
        fk_list_t reassign;
} restrict_refs_t;

/* Parameters of ap_forget_cascaded's statements: the caller's (at most 2)
 * plus one per level followed. */
#define CASCADE_PARAMS_MAX (2 + CS_LIMIT_CASCADE_DEPTH + 1)

struct cs_apply_s {
        const cs_consumer_conf_t *conf;
        MYSQL *db;
        cs_db_cache_t *cache;
        cs_table_t *tables;            /* master schema per registry entity */
        int *table_state;              /* 0 unknown, 1 loaded, 2 absent */
        size_t entity_cnt;
        prefix_ctx_t *prefixes;
        size_t prefix_cnt;
        char *sql;                     /* SQL_MAX scratch */
        cs_apply_stats_t stats;
        unsigned int last_errno;
        map_entry_t *map_cache;
        unsigned long map_epoch;
        unsigned int *table_epoch;     /* per registry entity (NULL: all 0) */
        unsigned int map_victim;
        /* Cache entries written since the message's savepoint: a rollback
         * to it forgets just these (if there were more: everything). */
        struct journal_s {
                prefix_ctx_t *pc;
                const char *table;
                long long child_id;
        } journal[256];
        size_t journal_n;
        int journaling, journal_overflow;
        restrict_refs_t *restrict_refs; /* per registry entity, loaded once */
        int bulk_ok;                   /* multi-row INSERTs of new rows allowed */
        long long autoinc_step;        /* @@auto_increment_increment */
        int warned_autoinc;
        struct row_build_s *scratch;   /* row buffer of the multi-row path */
        int poly_depth;                /* ap_delete_poly_dependents nesting (apply_poly.c) */
        int reparking;                 /* re-applying a parked document: a park
                                          keeps its original refresh stamp */
        int custom_pending;            /* a document of this batch waits
                                          for a custom value table its
                                          metadata gained (apply.c) */
        char custom_sig[128];          /* cs_custom_signature at the last
                                          custom data refresh */
        int setup_failed;              /* connected, but a setup statement failed */
        unsigned int setup_errno;      /* with this error (0: none reported) */
        int triggers;                  /* the master has triggers (apply_stamp.c) */
};

typedef struct park_s {
        const char *column;
        const char *target;
        long long target_child_id;
        char raw[64];
} park_t;

typedef struct row_build_s {
        const char *names[CS_LIMIT_COLUMNS];
        /* One more than the columns: UPDATE ... WHERE id = ? binds the id
         * after them. */
        cs_db_value_t vals[CS_LIMIT_COLUMNS + 1];
        char *owned[CS_LIMIT_COLUMNS];
        size_t n;
        size_t owned_n;
        park_t parks[CS_LIMIT_PARKS];
        size_t park_n;
        int missing_required;           /* a required reference is not mapped yet */
        char missing_desc[256];
        const char *missing_target;
        long long missing_child_id;
} row_build_t;

typedef struct wait_for_s {
        char table[72];         /* copied: the document is freed before parking */
        long long child_id;
} wait_for_t;

typedef struct prefetch_s prefetch_t;

/* Called for every row id (own = 1) and reference a document names;
 * nonzero stops the walk and is returned by doc_visit_ids. */
typedef int (*id_visit_fn)(void *ctx, const cs_entity_t *ent, long long id,
                           int own);

static inline cs_db_value_t v_int(long long i)
{
        cs_db_value_t v = { .kind = CS_VAL_INT, .i = i };
        return v;
}

static inline cs_db_value_t v_str(const char *s)
{
        cs_db_value_t v = { .kind = CS_VAL_STR, .s = s, .len = strlen(s) };
        return v;
}

/* Runs one statement through the connection's prepared-statement cache
 * (cs_db_run): 0 ok, -1 error with *dberr and errstr set. */
static inline int ap_run(cs_apply_t *ap, const char *sql,
                         const cs_db_value_t *params, size_t n,
                         unsigned long long *affected,
                         unsigned long long *insert_id, long long *first_int,
                         int *found, unsigned int *dberr, char *errstr,
                         size_t errstr_size)
{
        return cs_db_run(ap->cache, sql, params, n, affected, insert_id,
                         first_int, found, dberr, errstr, errstr_size);
}

/* Return values. A function returning ap_rc_t returns AP_OK, AP_REJECTED
 * (the document is at fault and can never apply; errstr says why) or
 * AP_RETRY (database or memory; errstr says why), unless noted. A function
 * returning int returns 0 on success and -1 on error (errstr, and *dberr
 * where it takes one), unless noted. */

/* ---- apply_ddl.c ---- */
/* Creates civisync's own tables if missing, and migrates their prefix and
 * topic columns to utf8mb4_bin where they are not yet. */
int ap_create_own_tables(MYSQL *db, char *errstr, size_t errstr_size);

/* ---- apply.c ---- */
/* Reconnects if a reconnect failed before: AP_OK or AP_RETRY. */
ap_rc_t ap_ensure_connected(cs_apply_t *ap, char *errstr, size_t errstr_size);
/* Applies one message under a savepoint; a document that waits is parked
 * (civisync_parked_doc) and counts as AP_OK. parsed: BORROWED, may be NULL. */
ap_rc_t ap_apply_one(cs_apply_t *ap, const char *prefix, const char *key,
                     size_t key_len, const char *value, size_t value_len,
                     json_t *parsed, int flags, char *errstr,
                     size_t errstr_size);

/* ---- apply_schema.c ---- */
/* Appends printf text to sql (SQL_MAX bytes) at *len: 0, or -1 when it does
 * not fit, leaving *len at SQL_MAX so that later appends fail too (callers
 * OR the results and check once). */
int ap_sql_cat(char *sql, size_t *len, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Whether an entity document (info) must wait for the metadata documents
 * of the producer run it was produced under (its gate stamp: not all of
 * them are applied yet): *hold = 1 with the reason. AP_OK, or a database
 * failure (ap_db_fail). */
ap_rc_t ap_gate_hold(cs_apply_t *ap, prefix_ctx_t *pc, const cs_doc_info_t *info,
                     int *hold, char *reason, size_t reason_size, char *errstr,
                     size_t errstr_size);
/* A metadata fingerprint document (key <PREFIX>/civisync_metadata/...):
 * compared and recorded by the gate (apply_gate.c). */
ap_rc_t ap_apply_metadata(cs_apply_t *ap, const char *prefix, const char *key,
                          size_t key_len, const char *value, size_t value_len,
                          char *errstr, size_t errstr_size);
/* Prefixes errstr with `what` and classifies MariaDB error `err`: AP_RETRY
 * when transient (or 0: no server answer), else AP_REJECTED. */
ap_rc_t ap_db_fail(cs_apply_t *ap, unsigned int err, char *errstr,
                   size_t errstr_size, const char *what);
/* The entity's position in the registry. */
size_t ap_entity_index(const cs_entity_t *ent);
/* The master's schema of ent's table, loaded once; NULL (errstr) when the
 * master has no such table or it cannot be read. */
const cs_table_t *ap_master_table(cs_apply_t *ap, const cs_entity_t *ent,
                                  char *errstr, size_t errstr_size);
int ap_load_restrict_refs(cs_apply_t *ap, char *errstr, size_t errstr_size);

/* apply_custom.c: when the master's custom metadata changed since the last
 * call (or force), registers its custom value tables (registry_custom.c),
 * creates the missing tables and columns from that metadata and reloads
 * their shape. Runs outside any transaction (DDL commits). 0 or -1. */
int ap_custom_refresh(cs_apply_t *ap, int force, char *errstr,
                      size_t errstr_size);
ap_rc_t ap_release_references(cs_apply_t *ap, const cs_entity_t *ent,
                              const char *target_sql,
                              const cs_db_value_t *params, size_t n,
                              char *errstr, size_t errstr_size);
ap_rc_t ap_forget_cascaded(cs_apply_t *ap, const char *map,
                           const cs_entity_t *ent, const char *target_sql,
                           const cs_db_value_t *params, size_t n, int depth,
                           char *errstr, size_t errstr_size);

/* ---- apply_map.c ---- */
/* The prefix's state, read in this transaction (its mapping table created
 * first if need be); NULL with *rc set (AP_REJECTED: the prefix cannot name
 * a mapping table, it differs only in case from a prefix the master has,
 * or a database error that is not transient). */
prefix_ctx_t *ap_prefix_get(cs_apply_t *ap, const char *prefix, ap_rc_t *rc,
                            char *errstr, size_t errstr_size);
void ap_map_remember(cs_apply_t *ap, prefix_ctx_t *pc, const char *table,
                     long long child_id, long long master_id,
                     long long generation);
/* The cached entry of (pc, table, child_id) in this transaction, or NULL
 * (the cache is 4-way set-associative: a full set drops its oldest). */
map_entry_t *ap_map_cached(cs_apply_t *ap, prefix_ctx_t *pc, const char *table,
                           long long child_id);
void ap_map_journal_start(cs_apply_t *ap);
void ap_map_journal_end(cs_apply_t *ap, int rolled_back);
void ap_map_forget_all(cs_apply_t *ap);
void ap_map_forget_table(cs_apply_t *ap, const char *table);
void ap_map_forget(cs_apply_t *ap, prefix_ctx_t *pc, const char *table,
                   long long child_id);
/* A mapping lookup (cached): found, not mapped, or a database error. */
typedef enum {
        AP_MAP_ERROR = -1,
        AP_MAP_FOUND = 0,
        AP_MAP_NONE = 1
} ap_map_rc_t;
ap_map_rc_t ap_map_lookup(cs_apply_t *ap, prefix_ctx_t *pc, const char *table,
                          long long child_id, long long *master_id,
                          unsigned int *dberr_out, char *errstr,
                          size_t errstr_size);
int ap_map_set(cs_apply_t *ap, prefix_ctx_t *pc, const char *table,
               long long child_id, long long master_id, unsigned int *dberr_out,
               char *errstr, size_t errstr_size);
/* pf NULL: runs the statements; else reads (child id, master id,
 * generation) rows into the mapping cache. */
int ap_run_in_chunks(cs_apply_t *ap, const char *head,
                     const cs_db_value_t *fixed, size_t nfixed,
                     const cs_db_value_t *vals, size_t n, prefetch_t *pf,
                     unsigned int *dberr, char *errstr, size_t errstr_size);
/* AP_OK or AP_RETRY: a failure that is not transient only costs the
 * prefetch. tomb_ids (may be NULL): per message, the child id a tombstone
 * names (docs[i] NULL, ents[i] its root entity), else 0. */
ap_rc_t ap_prefetch_mappings(cs_apply_t *ap, prefix_ctx_t *pc, json_t **docs,
                             const cs_entity_t **ents, const size_t *pc_of,
                             const long long *tomb_ids, size_t pc_no, size_t n,
                             char *errstr, size_t errstr_size);

/* ---- apply_refs.c ---- */
void ap_row_free(row_build_t *rb);
/* 1 with *id set, 0 at the end of the list, -1 if it is not an id. */
int ap_next_list_id(const char **p, long long *id);
/* Translates the comma-separated child id list `list` of table target into
 * master ids: a NEW string, the unmapped ids left out and the first of them
 * in *missing (0: none). NULL with *err = 2 (not an id list: errstr) or
 * *err = 1 (out of memory, or a lookup failed: *dberr, errstr). */
char *ap_translate_id_list(cs_apply_t *ap, prefix_ctx_t *pc,
                           const char *target, const char *list,
                           long long *missing, int *err, unsigned int *dberr,
                           char *errstr, size_t errstr_size);
/* A required reference that is not mapped yet is no error: AP_OK with
 * rb->missing_required set. */
ap_rc_t ap_build_row(cs_apply_t *ap, prefix_ctx_t *pc, const cs_entity_t *ent,
                     const cs_table_t *tbl, const json_t *doc,
                     long long parent_master_id, row_build_t *rb, char *errstr,
                     size_t errstr_size);
/* 1 if rows of ent can have parked references, else 0. */
int ap_entity_can_park(const cs_entity_t *ent);
int ap_site_row(cs_apply_t *ap, const char *target, long long id,
                unsigned int *dberr, char *errstr, size_t errstr_size);
/* Deletes, as tombstones, the rows this prefix maps of the tables that go
 * with their owner (cs_reg_poly_owned) whose polymorphic reference names
 * owner's master row (no cascade does it): children first,
 * CS_LIMIT_CASCADE_DEPTH levels down (apply_poly.c). */
ap_rc_t ap_delete_poly_dependents(cs_apply_t *ap, prefix_ctx_t *pc,
                                  const cs_entity_t *owner, long long master_id,
                                  char *errstr, size_t errstr_size);
/* Per registry entity, the documents parked since refresh `since` that wait
 * for another parked document (a deferred line item's financial item):
 * accounted for in the end marker's counts, like the deferred ones.
 * awaiting has one slot per registry entity. */
ap_rc_t ap_parked_awaiting(cs_apply_t *ap, prefix_ctx_t *pc, long long since,
                           long long *awaiting, char *errstr, size_t errstr_size);
ap_rc_t ap_write_parks(cs_apply_t *ap, prefix_ctx_t *pc, const cs_entity_t *ent,
                       long long child_id, const row_build_t *rb, char *errstr,
                       size_t errstr_size);
ap_rc_t ap_resolve_parked(cs_apply_t *ap, prefix_ctx_t *pc, char *errstr,
                          size_t errstr_size);
ap_rc_t ap_park_document(cs_apply_t *ap, prefix_ctx_t *pc, const char *key,
                         size_t key_len, const char *value, size_t value_len,
                         const wait_for_t *wait, const char *reason,
                         char *errstr, size_t errstr_size);
ap_rc_t ap_unpark_document(cs_apply_t *ap, prefix_ctx_t *pc, const char *key,
                           size_t key_len, char *errstr, size_t errstr_size);
/* AP_OK or AP_RETRY: a parked document that can never apply is
 * dead-lettered. */
ap_rc_t ap_resolve_parked_docs(cs_apply_t *ap, prefix_ctx_t *pc, char *errstr,
                               size_t errstr_size);

/* ---- apply_meta.c ---- */
/* Sets rb->missing_required (target "": retried after each batch) when a
 * column of the built row names, by id, a metadata row that the gate
 * records as changed for this prefix (a conflict: OPERATIONS.md §8.1). */
ap_rc_t ap_meta_hold(cs_apply_t *ap, prefix_ctx_t *pc, const cs_entity_t *ent,
                     row_build_t *rb, char *errstr, size_t errstr_size);
/* 1 if MariaDB error message msg is a foreign key failure naming a
 * metadata table (copied to table), else 0. */
int ap_meta_fk_error(const char *msg, char *table, size_t table_size);
/* 1 if the master has received a metadata document from the prefix (its
 * producer sends the gate), 0 if not, -1 on error. */
int ap_meta_gate_seen(cs_apply_t *ap, prefix_ctx_t *pc);

/* ---- apply_row.c ---- */
/* Also AP_PARKED: the document waits for a required reference or for a
 * UNIQUE key another row holds (*wait says which; table "" = a key). */
/* ---- a master with CiviCRM's triggers (apply_stamp.c) ---- */

/* Sets ap->triggers: whether the master's database has any trigger. 0, or
 * -1 with errstr. Once per connection. */
int ap_stamps_probe(cs_apply_t *ap, char *errstr, size_t errstr_size);
/* With triggers: sets the TIMESTAMP columns (created_date, modified_date)
 * of root ent's master row master_id to doc's values, after its nested
 * rows (whose triggers bump them) are written. */
ap_rc_t ap_stamps_restore(cs_apply_t *ap, const cs_entity_t *ent,
                          const json_t *doc, long long master_id, char *errstr,
                          size_t errstr_size);
/* The rows a write to a root's row bumps (cs_reg_bump), with their value
 * before the write (owned array: id, unix time or -1 for NULL, pairs). */
typedef struct ap_bumped_s {
        const cs_bump_t *bump;
        long long *v;
        size_t n, cap;
        int oom;
} ap_bumped_t;
/* With triggers: saves the values the write to ent's child row child_id
 * may bump; restores them after it. */
ap_rc_t ap_bumps_save(cs_apply_t *ap, prefix_ctx_t *pc, const cs_entity_t *ent,
                      long long child_id, ap_bumped_t *saved, char *errstr,
                      size_t errstr_size);
ap_rc_t ap_bumps_restore(cs_apply_t *ap, const ap_bumped_t *saved,
                         char *errstr, size_t errstr_size);
void ap_bumps_free(ap_bumped_t *saved);

ap_rc_t ap_apply_document(cs_apply_t *ap, prefix_ctx_t *pc,
                          const cs_entity_t *ent, const json_t *doc,
                          wait_for_t *wait, char *errstr, size_t errstr_size);
ap_rc_t ap_apply_tombstone(cs_apply_t *ap, prefix_ctx_t *pc,
                           const cs_entity_t *ent, long long child_id,
                           char *errstr, size_t errstr_size);

/* ---- apply_frame.c ---- */
ap_rc_t ap_apply_reset(cs_apply_t *ap, prefix_ctx_t *pc,
                       const cs_doc_info_t *info, char *errstr,
                       size_t errstr_size);
ap_rc_t ap_apply_end(cs_apply_t *ap, prefix_ctx_t *pc,
                     const cs_doc_info_t *info, const json_t *doc, char *errstr,
                     size_t errstr_size);
ap_rc_t ap_replay_check(cs_apply_t *ap, prefix_ctx_t *pc, char *errstr,
                        size_t errstr_size);
/* Deletes the prefix's rows (and mapping rows) whose refresh stamp is
 * below `below`, and the parked documents that arrived before it. */
ap_rc_t ap_sweep(cs_apply_t *ap, prefix_ctx_t *pc, long long below,
                 const char *what, char *errstr, size_t errstr_size);

/* ---- apply_guard.c ---- */
/* ap_sweep behind the sweep guard: a sweep that would remove more than the
 * configured share of the prefix's rows is recorded as held (generation,
 * -1 for a rewind replay) instead, and logged. A sweep that runs drops an
 * older hold. */
ap_rc_t ap_sweep_guarded(cs_apply_t *ap, prefix_ctx_t *pc, long long below,
                         long long generation, const char *what, char *errstr,
                         size_t errstr_size);
/* Appends to problem why a generation came up short: the parked documents
 * (count and the first keys with what they wait for), the unacknowledged
 * dead letters, or else messages missing from the topic. */
ap_rc_t ap_explain_short(cs_apply_t *ap, prefix_ctx_t *pc, char *problem,
                         size_t problem_size, char *errstr, size_t errstr_size);

/* ---- apply_file.c ---- */
/* The bytes of a file document (cs_reg_file_entity) whose row was just
 * written as master_id: stored under files_dir/<PREFIX>/<uri>, or its
 * problem recorded (civisync_file). AP_REJECTED for inconsistent fields,
 * AP_RETRY when the disk or database fails. */
ap_rc_t ap_file_apply(cs_apply_t *ap, prefix_ctx_t *pc, const json_t *doc,
                      long long master_id, char *errstr, size_t errstr_size);
/* Before a file row of prefix pc (master_id) is deleted: deletes the
 * prefix's links to it (civicrm_entity_file.file_id is NOT NULL with ON
 * DELETE RESTRICT) with their mapping rows, as CiviCRM deletes a file's
 * links first; their own tombstones, on another partition, are then
 * no-ops. AP_OK or AP_RETRY. */
ap_rc_t ap_file_forget_links(cs_apply_t *ap, prefix_ctx_t *pc,
                             long long master_id, char *errstr,
                             size_t errstr_size);
/* The table whose ids a POLY reference of ent to `table` holds: table
 * itself for a registered target, the extended entity's table for a
 * custom value table (read from the master's custom groups). NULL with
 * *rc: AP_REJECTED (not a synced table, unknown custom group or one
 * extending an unsynced entity: errstr) or AP_RETRY. */
const char *ap_poly_target(cs_apply_t *ap, const cs_entity_t *ent,
                           const char *table, ap_rc_t *rc, char *errstr,
                           size_t errstr_size);

/* ---- apply_batch.c ---- */
/* Visits the ids a root document and its nested rows name: 0, the first
 * nonzero result of fn, or -2 when an id is malformed. */
int ap_doc_visit_ids(const cs_entity_t *root, const json_t *doc, id_visit_fn fn,
                     void *ctx);

#endif
