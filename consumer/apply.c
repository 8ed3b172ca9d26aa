/* apply.c — applies civisync documents to the master through the mapping tables. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <mysqld_error.h>

#include "apply.h"
#include "bulk.h"
#include "db.h"
#include "doc.h"
#include "log.h"
#include "prefix.h"
#include "registry.h"
#include "schema.h"

#define SQL_MAX 65536
#define MAX_KIDS 8

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
        int ensured;                    /* mapping table created on this connection */
        int loaded;                     /* state read in this transaction */
        int offsets_touched;            /* civisync_offset written in this batch */
} prefix_ctx_t;

/* Mapping lookups cached within one transaction: master_id > 0 is a
 * mapping, 0 says "not mapped" (from a prefetch). Every insert of a mapping
 * row goes through map_remember and every delete calls map_forget_all, so
 * both kinds stay true until the transaction ends. */
#define MAP_CACHE_SIZE 65536
typedef struct map_entry_s {
        unsigned long epoch;            /* valid when == cs_apply_t.map_epoch */
        unsigned short prefix_no;
        unsigned short entity_no;
        long long child_id;
        long long master_id;
        long long generation;           /* of the mapping row, -1 unknown */
} map_entry_t;

/* Nullable foreign keys with ON DELETE RESTRICT/NO ACTION that point at a
 * table: the rows holding them must let go before a referenced row is
 * deleted (as CiviCRM does on the child before it deletes). */
typedef struct restrict_refs_s {
        int loaded;
        size_t n;
        char table[8][65];
        char column[8][65];
        /* ON DELETE CASCADE references from synced tables: deleting a row
         * deletes theirs too, so their mapping rows must go first. */
        size_t cascade_n;
        char cascade_table[12][65];
        char cascade_column[12][65];
} restrict_refs_t;

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
};

static const char *own_tables_sql[] = {
        "CREATE TABLE IF NOT EXISTS civisync_prefix ("
        " prefix varchar(32) NOT NULL PRIMARY KEY,"
        " generation bigint NOT NULL DEFAULT 0 COMMENT 'producer generation of the last reset seen',"
        " replay_partitions int NOT NULL DEFAULT 0,"
        " completed_generation bigint NOT NULL DEFAULT 0,"
        " completed_at datetime NULL,"
        " last_error text NULL,"
        " refresh bigint NOT NULL DEFAULT 0 COMMENT 'current refresh stamp written to mapping rows',"
        " generation_refresh bigint NOT NULL DEFAULT 0 COMMENT 'refresh stamp at which generation began',"
        " replay_refresh bigint NOT NULL DEFAULT 0 COMMENT 'refresh stamp of the offset-rewind replay in progress (0 none)',"
        " replay_topic_partitions int NOT NULL DEFAULT 0,"
        " replay_started_at datetime NULL,"
        " replay_completed_at datetime NULL,"
        " replays_completed int NOT NULL DEFAULT 0"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
        "CREATE TABLE IF NOT EXISTS civisync_replay_end ("
        " prefix varchar(32) NOT NULL,"
        " generation bigint NOT NULL,"
        " partition_no int NOT NULL,"
        " counts longtext NOT NULL,"
        " received_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,"
        " PRIMARY KEY (prefix, generation, partition_no)"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
        "CREATE TABLE IF NOT EXISTS civisync_parked ("
        " prefix varchar(32) NOT NULL,"
        " entity_table varchar(64) NOT NULL,"
        " child_entity_id bigint NOT NULL,"
        " column_name varchar(64) NOT NULL,"
        " target_table varchar(64) NOT NULL,"
        " target_child_id bigint NOT NULL,"
        " raw_value text NULL COMMENT 'the child value (id or id list)',"
        " parked_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,"
        " PRIMARY KEY (prefix, entity_table, child_entity_id, column_name),"
        " KEY target (prefix, target_table, target_child_id)"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
        "CREATE TABLE IF NOT EXISTS civisync_parked_doc ("
        " prefix varchar(32) NOT NULL,"
        " doc_key varchar(191) NOT NULL,"
        " target_table varchar(64) NOT NULL,"
        " target_child_id bigint NOT NULL,"
        " reason varchar(255) NOT NULL,"
        " value longblob NOT NULL,"
        " parked_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,"
        " PRIMARY KEY (prefix, doc_key),"
        " KEY target (prefix, target_table, target_child_id)"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
        "CREATE TABLE IF NOT EXISTS civisync_offset ("
        " topic varchar(255) NOT NULL,"
        " partition_no int NOT NULL,"
        " prefix varchar(32) NOT NULL,"
        " next_offset bigint NOT NULL COMMENT 'every message below it is applied',"
        " replay_end bigint NULL COMMENT 'high watermark when a rewind replay began',"
        " rewind_from bigint NULL COMMENT 'the foreign committed offset that began it',"
        " updated_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,"
        " PRIMARY KEY (topic, partition_no),"
        " KEY prefix (prefix)"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
        "CREATE TABLE IF NOT EXISTS civisync_dead_letter ("
        " id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,"
        " prefix varchar(32) NULL,"
        " topic varchar(255) NOT NULL,"
        " partition_no int NOT NULL,"
        " offset_no bigint NOT NULL,"
        " doc_key varbinary(255) NULL,"
        " error blob NOT NULL,"
        " at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,"
        " KEY prefix (prefix, id)"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
        NULL
};

/* Internal outcome: the document waits for a required reference. */
#define CS_APPLY_PARK 2

/* ---- helpers ---- */

static cs_apply_rc_t db_fail(cs_apply_t *ap, unsigned int err, char *errstr,
                             size_t errstr_size, const char *what)
{
        char msg[1024];
        ap->last_errno = err;
        snprintf(msg, sizeof(msg), "%s: %s", what, errstr);
        snprintf(errstr, errstr_size, "%s", msg);
        if (cs_db_errno_transient(err) || err == 0)
                return CS_APPLY_RETRY;
        return CS_APPLY_REJECTED;
}

#define RUN(sql, params, n, aff, ins, first, found)                            \
        cs_db_run(ap->cache, (sql), (params), (n), (aff), (ins), (first),      \
                  (found), &dberr, errstr, errstr_size)

static cs_db_value_t v_int(long long i)
{
        cs_db_value_t v = { .kind = CS_VAL_INT, .i = i };
        return v;
}

static cs_db_value_t v_str(const char *s)
{
        cs_db_value_t v = { .kind = CS_VAL_STR, .s = s, .len = strlen(s) };
        return v;
}

static size_t entity_index(const cs_entity_t *ent)
{
        size_t count;
        const cs_entity_t *all = cs_reg_entities(&count);
        return (size_t)(ent - all);
}

/* Master schema of an entity's table, loaded once. NULL if absent. */
static const cs_table_t *master_table(cs_apply_t *ap, const cs_entity_t *ent,
                                      char *errstr, size_t errstr_size)
{
        size_t i = entity_index(ent);

        if (ap->table_state[i] == 0) {
                int rc = cs_schema_load(ap->db, ent->table, &ap->tables[i],
                                        errstr, errstr_size);
                if (rc == -1)
                        return NULL;
                ap->table_state[i] = rc == 1 ? 2 : 1;
                for (size_t c = 0; rc == 0 && c < ap->tables[i].col_cnt; c++)
                        if (!cs_db_ident_valid(ap->tables[i].cols[c].name)) {
                                snprintf(errstr, errstr_size,
                                         "master %s: unsupported column name",
                                         ent->table);
                                return NULL;
                        }
        }
        if (ap->table_state[i] == 2) {
                snprintf(errstr, errstr_size, "master has no table %s",
                         ent->table);
                return NULL;
        }
        return &ap->tables[i];
}

/* The restricting nullable references to ent's table (loaded once). */
/* Reads every foreign key of the master's schema in one query (the
 * information_schema joins are slow: one query per table cost ~50 ms each)
 * and files them under the synced table they point at. */
static int load_restrict_refs(cs_apply_t *ap, char *errstr, size_t errstr_size)
{
        MYSQL_RES *res;
        MYSQL_ROW row;

        for (size_t i = 0; i < ap->entity_cnt; i++) {
                ap->restrict_refs[i].n = ap->restrict_refs[i].cascade_n = 0;
                ap->restrict_refs[i].loaded = 0;
        }
        if (!(res = cs_db_query(ap->db,
                "SELECT k.REFERENCED_TABLE_NAME, k.TABLE_NAME, k.COLUMN_NAME, "
                "r.DELETE_RULE, c.IS_NULLABLE "
                "FROM information_schema.KEY_COLUMN_USAGE k "
                "JOIN information_schema.REFERENTIAL_CONSTRAINTS r "
                "  ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA "
                " AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME "
                " AND r.TABLE_NAME = k.TABLE_NAME "
                "JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = k.TABLE_SCHEMA "
                " AND c.TABLE_NAME = k.TABLE_NAME AND c.COLUMN_NAME = k.COLUMN_NAME "
                "WHERE k.TABLE_SCHEMA = DATABASE() "
                "  AND k.REFERENCED_TABLE_NAME IS NOT NULL ORDER BY 1, 2, 3",
                errstr, errstr_size)))
                return -1;
        while ((row = mysql_fetch_row(res))) {
                const cs_entity_t *ent = cs_reg_by_table(row[0]);
                restrict_refs_t *rr;
                int restrict_rule;

                if (!ent || !row[1] || !row[2] || !row[3] || !row[4] ||
                    !cs_db_ident_valid(row[1]) || !cs_db_ident_valid(row[2]))
                        continue;
                rr = &ap->restrict_refs[entity_index(ent)];
                restrict_rule = !strcmp(row[3], "RESTRICT") ||
                                !strcmp(row[3], "NO ACTION");
                if (restrict_rule && !strcmp(row[4], "YES") && rr->n < 8) {
                        snprintf(rr->table[rr->n], sizeof(rr->table[0]), "%s", row[1]);
                        snprintf(rr->column[rr->n], sizeof(rr->column[0]), "%s", row[2]);
                        rr->n++;
                } else if (!strcmp(row[3], "CASCADE") && cs_reg_by_table(row[1]) &&
                           strcmp(row[1], ent->table) && rr->cascade_n < 12) {
                        snprintf(rr->cascade_table[rr->cascade_n],
                                 sizeof(rr->cascade_table[0]), "%s", row[1]);
                        snprintf(rr->cascade_column[rr->cascade_n],
                                 sizeof(rr->cascade_column[0]), "%s", row[2]);
                        rr->cascade_n++;
                }
        }
        mysql_free_result(res);
        for (size_t i = 0; i < ap->entity_cnt; i++)
                ap->restrict_refs[i].loaded = 1;
        return 0;
}

static restrict_refs_t *restrict_refs(cs_apply_t *ap, const cs_entity_t *ent,
                                      char *errstr, size_t errstr_size)
{
        restrict_refs_t *rr = &ap->restrict_refs[entity_index(ent)];

        if (!rr->loaded && load_restrict_refs(ap, errstr, errstr_size) == -1)
                return NULL;
        return rr;
}

/* Sets the restricting references to the rows of ent's table that
 * `target_sql` selects ("FROM `table` t ... WHERE ..." using alias t, with
 * params) to NULL, so those rows can be deleted. */
static cs_apply_rc_t release_references(cs_apply_t *ap, const cs_entity_t *ent,
                                        const char *target_sql,
                                        const cs_db_value_t *params, size_t n,
                                        char *errstr, size_t errstr_size)
{
        restrict_refs_t *rr = restrict_refs(ap, ent, errstr, errstr_size);
        unsigned int dberr = 0;
        char *sql;

        if (!rr) {
                /* civisync's own metadata read failed: never the document's
                 * fault, so never a dead letter. */
                db_fail(ap, mysql_errno(ap->db), errstr, errstr_size,
                        "foreign keys");
                return CS_APPLY_RETRY;
        }
        if (rr->n == 0)
                return CS_APPLY_OK;
        if (!(sql = malloc(SQL_MAX))) {
                snprintf(errstr, errstr_size, "out of memory");
                return CS_APPLY_RETRY;
        }
        for (size_t i = 0; i < rr->n; i++) {
                snprintf(sql, SQL_MAX, "UPDATE `%s` r JOIN (SELECT t.id %s) d "
                         "ON r.`%s` = d.id SET r.`%s` = NULL", rr->table[i],
                         target_sql, rr->column[i], rr->column[i]);
                if (RUN(sql, params, n, NULL, NULL, NULL, NULL) == -1) {
                        free(sql);
                        return db_fail(ap, dberr, errstr, errstr_size,
                                       "release references");
                }
        }
        free(sql);
        return CS_APPLY_OK;
}

static void map_forget_all(cs_apply_t *ap);

/* Deletes the mapping rows of the synced rows that ON DELETE CASCADE will
 * remove together with the rows of ent's table that `target_sql` selects
 * (as in release_references), following cascades a few levels down. */
static cs_apply_rc_t forget_cascaded(cs_apply_t *ap, const char *map,
                                     const cs_entity_t *ent,
                                     const char *target_sql,
                                     const cs_db_value_t *params, size_t n,
                                     int depth, char *errstr,
                                     size_t errstr_size)
{
        restrict_refs_t *rr = restrict_refs(ap, ent, errstr, errstr_size);
        unsigned int dberr = 0;
        char *sql, *sub;
        cs_apply_rc_t rc = CS_APPLY_OK;

        if (!rr) {
                db_fail(ap, mysql_errno(ap->db), errstr, errstr_size,
                        "foreign keys");
                return CS_APPLY_RETRY;
        }
        if (rr->cascade_n == 0 || depth > 3)
                return CS_APPLY_OK;
        sql = malloc(SQL_MAX);
        sub = malloc(SQL_MAX);
        if (!sql || !sub) {
                free(sql);
                free(sub);
                snprintf(errstr, errstr_size, "out of memory");
                return CS_APPLY_RETRY;
        }
        for (size_t i = 0; i < rr->cascade_n && rc == CS_APPLY_OK; i++) {
                const cs_entity_t *dep = cs_reg_by_table(rr->cascade_table[i]);
                /* The dependent rows: "FROM dep t WHERE t.col IN (targets)". */
                snprintf(sub, SQL_MAX, "FROM `%s` t WHERE t.`%s` IN (SELECT t.id %s)",
                         rr->cascade_table[i], rr->cascade_column[i], target_sql);
                rc = forget_cascaded(ap, map, dep, sub, params, n, depth + 1,
                                     errstr, errstr_size);
                if (rc != CS_APPLY_OK)
                        break;
                snprintf(sql, SQL_MAX, "DELETE m FROM `%s` m JOIN (SELECT t.id %s) d "
                         "ON d.id = m.master_entity_id WHERE m.entity_table = ?",
                         map, sub);
                {
                        cs_db_value_t q[8];
                        if (n >= 8)
                                break;
                        memcpy(q, params, n * sizeof(*q));
                        q[n] = v_str(rr->cascade_table[i]);
                        if (RUN(sql, q, n + 1, NULL, NULL, NULL, NULL) == -1)
                                rc = db_fail(ap, dberr, errstr, errstr_size,
                                             "cascaded mappings");
                }
        }
        free(sql);
        free(sub);
        map_forget_all(ap);
        return rc;
}

/* ---- prefixes and mapping ---- */

static prefix_ctx_t *prefix_get(cs_apply_t *ap, const char *prefix,
                                cs_apply_rc_t *rc, char *errstr,
                                size_t errstr_size)
{
        prefix_ctx_t *pc = NULL;
        unsigned int dberr = 0;
        cs_db_value_t p[1];
        long long parked = 0, parked_doc = 0;
        int found;

        for (size_t i = 0; i < ap->prefix_cnt; i++)
                if (!strcmp(ap->prefixes[i].prefix, prefix))
                        pc = &ap->prefixes[i];
        if (!pc) {
                prefix_ctx_t *grown = realloc(ap->prefixes, (ap->prefix_cnt + 1) *
                                              sizeof(*grown));
                if (!grown) {
                        snprintf(errstr, errstr_size, "out of memory");
                        *rc = CS_APPLY_RETRY;
                        return NULL;
                }
                ap->prefixes = grown;
                pc = &ap->prefixes[ap->prefix_cnt++];
                memset(pc, 0, sizeof(*pc));
                snprintf(pc->prefix, sizeof(pc->prefix), "%s", prefix);
                if (cs_prefix_table_name(pc->map, sizeof(pc->map),
                                         "mapping_master_", prefix, errstr,
                                         errstr_size) == -1) {
                        ap->prefix_cnt--;
                        *rc = CS_APPLY_REJECTED;
                        return NULL;
                }
        }
        if (pc->loaded)
                return pc;
        if (pc->ensured)
                goto load;
        /* DDL commits implicitly in MariaDB: cs_apply_prepare_prefix runs it
         * before the batch's transaction opens. */
        snprintf(ap->sql, SQL_MAX,
                 "CREATE TABLE IF NOT EXISTS `%s` ("
                 " entity_table varchar(255) NOT NULL,"
                 " child_entity_id int unsigned NOT NULL,"
                 " master_entity_id int unsigned NOT NULL,"
                 " generation bigint NOT NULL DEFAULT 0 COMMENT 'refresh stamp (civisync_prefix.refresh) that last wrote the row',"
                 " UNIQUE KEY child (entity_table, child_entity_id),"
                 " KEY master (entity_table, master_entity_id),"
                 " KEY generation (entity_table, generation)"
                 ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
                 pc->map);
        if (cs_db_exec(ap->db, ap->sql, errstr, errstr_size) == -1) {
                *rc = db_fail(ap, mysql_errno(ap->db), errstr, errstr_size,
                              "create mapping table");
                return NULL;
        }
        pc->ensured = 1;
load:
        p[0] = v_str(prefix);
        if (RUN("INSERT IGNORE INTO civisync_prefix (prefix) VALUES (?)", p, 1,
                NULL, NULL, NULL, NULL) == -1 ||
            RUN("SELECT generation FROM civisync_prefix WHERE prefix = ?", p, 1,
                NULL, NULL, &pc->generation, &found) == -1 ||
            RUN("SELECT refresh FROM civisync_prefix WHERE prefix = ?", p, 1,
                NULL, NULL, &pc->refresh, &found) == -1 ||
            RUN("SELECT generation_refresh FROM civisync_prefix WHERE prefix = ?",
                p, 1, NULL, NULL, &pc->generation_refresh, &found) == -1 ||
            RUN("SELECT replay_refresh FROM civisync_prefix WHERE prefix = ?", p, 1,
                NULL, NULL, &pc->replay_refresh, &found) == -1 ||
            RUN("SELECT completed_generation FROM civisync_prefix WHERE prefix = ?",
                p, 1, NULL, NULL, &pc->completed_generation, &found) == -1 ||
            RUN("SELECT EXISTS (SELECT 1 FROM civisync_parked WHERE prefix = ?)",
                p, 1, NULL, NULL, &parked, &found) == -1 ||
            RUN("SELECT EXISTS (SELECT 1 FROM civisync_parked_doc WHERE prefix = ?)",
                p, 1, NULL, NULL, &parked_doc, &found) == -1) {
                *rc = db_fail(ap, dberr, errstr, errstr_size, "prefix state");
                return NULL;
        }
        pc->has_parked = parked != 0;
        pc->has_parked_doc = parked_doc != 0;
        pc->loaded = 1;
        return pc;
}

#define MAP_WAYS 4

/* The set of MAP_WAYS entries where (prefix, table, child_id) may live;
 * *eno receives the entity number. NULL if the table is not synced. */
static map_entry_t *map_set_of(cs_apply_t *ap, prefix_ctx_t *pc,
                               const char *table, long long child_id,
                               unsigned short *eno)
{
        const cs_entity_t *ent = cs_reg_by_table(table);
        unsigned short pno = (unsigned short)(pc - ap->prefixes);
        unsigned long long h;

        if (!ent || !ap->map_cache)
                return NULL;
        *eno = (unsigned short)entity_index(ent);
        h = ((unsigned long long)child_id * 0x9E3779B97F4A7C15ULL) ^
            ((unsigned long long)*eno << 40) ^ ((unsigned long long)pno << 52);
        h ^= h >> 29;
        return &ap->map_cache[(h % (MAP_CACHE_SIZE / MAP_WAYS)) * MAP_WAYS];
}

static map_entry_t *map_cached(cs_apply_t *ap, prefix_ctx_t *pc,
                               const char *table, long long child_id)
{
        unsigned short eno = 0;
        map_entry_t *set = map_set_of(ap, pc, table, child_id, &eno);

        for (int w = 0; set && w < MAP_WAYS; w++) {
                map_entry_t *e = &set[w];
                if (e->epoch == ap->map_epoch && e->child_id == child_id &&
                    e->prefix_no == (unsigned short)(pc - ap->prefixes) &&
                    e->entity_no == eno)
                        return e;
        }
        return NULL;
}

static void map_remember(cs_apply_t *ap, prefix_ctx_t *pc, const char *table,
                         long long child_id, long long master_id,
                         long long generation)
{
        unsigned short eno = 0;
        map_entry_t *set = map_set_of(ap, pc, table, child_id, &eno);
        map_entry_t *e = map_cached(ap, pc, table, child_id);

        if (!set)
                return;
        for (int w = 0; !e && w < MAP_WAYS; w++)
                if (set[w].epoch != ap->map_epoch)
                        e = &set[w];
        if (!e) /* the set is full: the newest entries stay */
                e = &set[(ap->map_victim++) % MAP_WAYS];
        e->epoch = ap->map_epoch;
        e->prefix_no = (unsigned short)(pc - ap->prefixes);
        e->entity_no = eno;
        e->child_id = child_id;
        e->master_id = master_id;
        e->generation = generation;
        if (ap->journaling) {
                size_t max = sizeof(ap->journal) / sizeof(ap->journal[0]);
                /* The registry's own string: table may point into a
                 * document that is freed before the rollback. */
                if (ap->journal_n < max)
                        ap->journal[ap->journal_n++] = (struct journal_s){
                                pc, cs_reg_by_table(table)->table, child_id };
                else
                        ap->journal_overflow = 1;
        }
}

/* Starts recording cache writes (at a savepoint). */
static void map_journal_start(cs_apply_t *ap)
{
        ap->journaling = 1;
        ap->journal_n = 0;
        ap->journal_overflow = 0;
}

/* Stops recording; rolled_back: forget what was recorded (the rows and
 * mapping rows behind those entries are gone). */
static void map_journal_end(cs_apply_t *ap, int rolled_back)
{
        ap->journaling = 0;
        if (!rolled_back)
                return;
        if (ap->journal_overflow) {
                map_forget_all(ap);
                return;
        }
        for (size_t i = 0; i < ap->journal_n; i++) {
                map_entry_t *e = map_cached(ap, ap->journal[i].pc,
                                            ap->journal[i].table,
                                            ap->journal[i].child_id);
                if (e)
                        e->epoch = 0;
        }
}

/* Forgets every cached mapping (after bulk deletes, commit, rollback). */
static void map_forget_all(cs_apply_t *ap)
{
        ap->map_epoch++;
}

static void lookup_row(void *ctx, const long long *v)
{
        long long *out = ctx;
        out[0] = v[0];
        out[1] = v[1];
}

/* 0 found (*master_id set), 1 not mapped, -1 error. */
static int map_lookup(cs_apply_t *ap, prefix_ctx_t *pc, const char *table,
                      long long child_id, long long *master_id,
                      unsigned int *dberr_out, char *errstr,
                      size_t errstr_size)
{
        cs_db_value_t p[2] = { v_str(table), v_int(child_id) };
        unsigned int dberr = 0;
        map_entry_t *e = map_cached(ap, pc, table, child_id);
        long long row[2] = { 0, -1 };

        if (e) {
                /* master_id 0: known to be unmapped (a prefetch found none) */
                *master_id = e->master_id;
                return e->master_id > 0 ? 0 : 1;
        }
        snprintf(ap->sql, SQL_MAX, "SELECT master_entity_id, generation FROM "
                 "`%s` WHERE entity_table = ? AND child_entity_id = ?", pc->map);
        if (cs_db_run_rows(ap->cache, ap->sql, p, 2, 2, lookup_row, row, &dberr,
                           errstr, errstr_size) == -1) {
                *dberr_out = dberr;
                return -1;
        }
        *master_id = row[0];
        if (row[0] > 0)
                map_remember(ap, pc, table, child_id, row[0], row[1]);
        return row[0] > 0 ? 0 : 1;
}

static int map_set(cs_apply_t *ap, prefix_ctx_t *pc, const char *table,
                   long long child_id, long long master_id,
                   unsigned int *dberr_out, char *errstr, size_t errstr_size)
{
        cs_db_value_t p[4] = { v_str(table), v_int(child_id), v_int(master_id),
                               v_int(pc->refresh) };
        unsigned int dberr = 0;
        map_entry_t *e = map_cached(ap, pc, table, child_id);

        /* Already so, stamp included (an update in an incremental run). */
        if (e && e->master_id == master_id && e->generation == pc->refresh)
                return 0;
        snprintf(ap->sql, SQL_MAX, "INSERT INTO `%s` (entity_table, "
                 "child_entity_id, master_entity_id, generation) VALUES "
                 "(?, ?, ?, ?) ON DUPLICATE KEY UPDATE master_entity_id = "
                 "VALUES(master_entity_id), generation = VALUES(generation)",
                 pc->map);
        if (RUN(ap->sql, p, 4, NULL, NULL, NULL, NULL) == -1) {
                *dberr_out = dberr;
                return -1;
        }
        map_remember(ap, pc, table, child_id, master_id, pc->refresh);
        return 0;
}

/* ---- reference translation ---- */

typedef struct park_s {
        const char *column;
        const char *target;
        long long target_child_id;
        char raw[64];
} park_t;

typedef struct row_build_s {
        const char *names[512];
        cs_db_value_t vals[512];
        char *owned[512];
        size_t n;
        size_t owned_n;
        park_t parks[32];
        size_t park_n;
        int missing_required;           /* a required reference is not mapped yet */
        char missing_desc[256];
        const char *missing_target;
        long long missing_child_id;
} row_build_t;

static void row_free(row_build_t *rb)
{
        for (size_t i = 0; i < rb->owned_n; i++)
                free(rb->owned[i]);
        rb->owned_n = 0;
        rb->n = 0;
}

static char *row_own(row_build_t *rb, char *p)
{
        if (p && rb->owned_n < sizeof(rb->owned) / sizeof(rb->owned[0]))
                rb->owned[rb->owned_n++] = p;
        else if (p) {
                free(p);
                return NULL;
        }
        return p;
}

/* Reads the next id of a comma-separated id list at *p and moves *p past
 * it. 1 with *id set, 0 at the end of the list, -1 if it is not an id. */
static int next_list_id(const char **p, long long *id)
{
        char *end;

        while (**p == ',' || **p == ' ')
                (*p)++;
        if (!**p)
                return 0;
        errno = 0;
        *id = strtoll(*p, &end, 10);
        if (end == *p || errno || *id <= 0)
                return -1;
        *p = end;
        return 1;
}

/* Translates a comma-separated id list; unmapped ids are left out and the
 * first of them is reported through *missing. Returns a NEW string. */
static char *translate_id_list(cs_apply_t *ap, prefix_ctx_t *pc,
                               const char *target, const char *list,
                               long long *missing, int *err,
                               unsigned int *dberr, char *errstr,
                               size_t errstr_size)
{
        size_t cap = strlen(list) * 2 + 32, len = 0;
        char *out = malloc(cap);
        const char *p = list;

        *missing = 0;
        *err = 0;
        if (!out) {
                *err = 1;
                return NULL;
        }
        out[0] = '\0';
        for (;;) {
                long long id, master;
                int rc = next_list_id(&p, &id);

                if (rc == 0)
                        break;
                if (rc == -1) {
                        snprintf(errstr, errstr_size,
                                 "not a comma-separated id list: '%.60s'", list);
                        *err = 2;
                        free(out);
                        return NULL;
                }
                rc = map_lookup(ap, pc, target, id, &master, dberr, errstr,
                                errstr_size);
                if (rc == -1) {
                        *err = 1;
                        free(out);
                        return NULL;
                }
                if (rc == 1) {
                        if (!*missing)
                                *missing = id;
                        continue;
                }
                if (len + 24 > cap) {
                        char *grown = realloc(out, cap *= 2);
                        if (!grown) {
                                free(out);
                                *err = 1;
                                return NULL;
                        }
                        out = grown;
                }
                len += (size_t)sprintf(out + len, "%s%lld", len ? "," : "",
                                       master);
        }
        return out;
}

/* Builds the column list and values for one document row on the master.
 * Returns OK, REJECTED (bad document) or RETRY (DB). */
static cs_apply_rc_t build_row(cs_apply_t *ap, prefix_ctx_t *pc,
                               const cs_entity_t *ent, const cs_table_t *tbl,
                               const json_t *doc, long long parent_master_id,
                               row_build_t *rb, char *errstr,
                               size_t errstr_size)
{
        const char *key;
        json_t *val;
        unsigned int dberr = 0;

        /* Every field must be an envelope field or a master column. */
        json_object_foreach((json_t *)doc, key, val) {
                if (cs_doc_field_reserved(key))
                        continue;
                if (cs_schema_col_index(tbl, key) < 0) {
                        snprintf(errstr, errstr_size,
                                 "unknown column '%.64s' for master table %s",
                                 key, ent->table);
                        return CS_APPLY_REJECTED;
                }
        }
        for (size_t c = 0; c < tbl->col_cnt; c++) {
                const cs_column_t *col = &tbl->cols[c];
                const cs_ref_t *ref;
                const cs_unique_t *uniq;
                cs_db_value_t *out;
                char *owned = NULL;

                if (!strcmp(col->name, "id"))
                        continue;
                if (!(val = json_object_get(doc, col->name)))
                        continue;
                if (rb->n >= sizeof(rb->vals) / sizeof(rb->vals[0])) {
                        snprintf(errstr, errstr_size, "too many columns");
                        return CS_APPLY_REJECTED;
                }
                out = &rb->vals[rb->n];
                rb->names[rb->n] = col->name;
                rb->n++;
                memset(out, 0, sizeof(*out));

                if (ent->parent && ent->parent_column &&
                    !strcmp(col->name, ent->parent_column)) {
                        *out = v_int(parent_master_id);
                        continue;
                }
                if (cs_reg_col_policy(ent, col->name) == CS_COL_CLEAR) {
                        out->kind = CS_VAL_NULL;
                        continue;
                }
                ref = cs_reg_ref(ent, col->name);
                if (ref && !json_is_null(val)) {
                        const char *target = ref->target;
                        long long child_ref, master;
                        int rc;

                        if (ref->kind == CS_REF_ID_LIST) {
                                long long missing;
                                int err;
                                char *list;
                                if (!json_is_string(val)) {
                                        snprintf(errstr, errstr_size,
                                                 "column %s: expected an id list string",
                                                 col->name);
                                        return CS_APPLY_REJECTED;
                                }
                                list = translate_id_list(ap, pc, target,
                                                         json_string_value(val),
                                                         &missing, &err, &dberr,
                                                         errstr, errstr_size);
                                if (!list)
                                        return err == 2 ? CS_APPLY_REJECTED :
                                               db_fail(ap, dberr, errstr,
                                                       errstr_size, "id list");
                                row_own(rb, list);
                                *out = v_str(list);
                                if (missing && rb->park_n < 32) {
                                        park_t *pk = &rb->parks[rb->park_n++];
                                        pk->column = col->name;
                                        pk->target = target;
                                        pk->target_child_id = missing;
                                        snprintf(pk->raw, sizeof(pk->raw), "%.63s",
                                                 json_string_value(val));
                                }
                                continue;
                        }
                        if (ref->kind == CS_REF_POLY) {
                                json_t *tv = json_object_get(doc, ref->table_column);
                                target = json_string_value(tv);
                                if (!target || !cs_reg_poly_target_ok(ent, target)) {
                                        snprintf(errstr, errstr_size,
                                                 "column %s: %s '%.64s' is not a synced table",
                                                 col->name, ref->table_column,
                                                 target ? target : "(missing)");
                                        return CS_APPLY_REJECTED;
                                }
                        }
                        if (!json_is_integer(val) || json_integer_value(val) <= 0) {
                                snprintf(errstr, errstr_size,
                                         "column %s: expected a positive id", col->name);
                                return CS_APPLY_REJECTED;
                        }
                        child_ref = json_integer_value(val);
                        rc = map_lookup(ap, pc, target, child_ref, &master,
                                        &dberr, errstr, errstr_size);
                        if (rc == -1)
                                return db_fail(ap, dberr, errstr, errstr_size,
                                               "mapping lookup");
                        if (rc == 0) {
                                *out = v_int(master);
                                continue;
                        }
                        if (ref->required || rb->park_n >= 32) {
                                rb->missing_required = 1;
                                rb->missing_target = target;
                                rb->missing_child_id = child_ref;
                                snprintf(rb->missing_desc, sizeof(rb->missing_desc),
                                         "%s = %s %lld", col->name, target,
                                         child_ref);
                                out->kind = CS_VAL_NULL;
                                continue;
                        }
                        /* Not there yet: NULL now, filled in when it arrives. */
                        park_t *pk = &rb->parks[rb->park_n++];
                        pk->column = col->name;
                        pk->target = target;
                        pk->target_child_id = child_ref;
                        snprintf(pk->raw, sizeof(pk->raw), "%lld", child_ref);
                        out->kind = CS_VAL_NULL;
                        continue;
                }
                uniq = cs_reg_unique(ent, col->name);
                if (uniq && json_is_string(val)) {
                        size_t max = col->max_length > 0 ?
                                     (size_t)col->max_length : 255;
                        size_t size = max * 4 + 1;
                        char *q = malloc(size);
                        int qlen;
                        if (!q) {
                                snprintf(errstr, errstr_size, "out of memory");
                                return CS_APPLY_RETRY;
                        }
                        qlen = cs_reg_qualify(pc->prefix, json_string_value(val),
                                              json_string_length(val), max, q, size);
                        if (qlen < 0) {
                                free(q);
                                snprintf(errstr, errstr_size,
                                         "column %s: cannot qualify value", col->name);
                                return CS_APPLY_REJECTED;
                        }
                        row_own(rb, q);
                        out->kind = CS_VAL_STR;
                        out->s = q;
                        out->len = (unsigned long)qlen;
                        continue;
                }
                if (cs_doc_value_to_db(val, col, out, &owned, errstr,
                                       errstr_size) == -1) {
                        free(owned);
                        return CS_APPLY_REJECTED;
                }
                row_own(rb, owned);
        }
        return CS_APPLY_OK;
}

/* ---- upsert and delete ---- */

/* 1 if rows of ent can have parked references (an optional reference). */
static int entity_can_park(const cs_entity_t *ent)
{
        for (const cs_ref_t *r = ent->refs; r && r->column; r++)
                if (!r->required)
                        return 1;
        return 0;
}

static cs_apply_rc_t write_parks(cs_apply_t *ap, prefix_ctx_t *pc,
                                 const cs_entity_t *ent, long long child_id,
                                 const row_build_t *rb, char *errstr,
                                 size_t errstr_size)
{
        unsigned int dberr = 0;
        cs_db_value_t p[6] = { v_str(pc->prefix), v_str(ent->table),
                               v_int(child_id) };

        if (rb->park_n == 0 && (!pc->has_parked || !entity_can_park(ent)))
                return CS_APPLY_OK; /* nothing can be parked for this row */
        if (pc->has_parked &&
            RUN("DELETE FROM civisync_parked WHERE prefix = ? AND "
                "entity_table = ? AND child_entity_id = ?", p, 3, NULL, NULL,
                NULL, NULL) == -1)
                return db_fail(ap, dberr, errstr, errstr_size, "parked refs");
        for (size_t i = 0; i < rb->park_n; i++) {
                p[3] = v_str(rb->parks[i].column);
                p[4] = v_str(rb->parks[i].target);
                p[5] = v_int(rb->parks[i].target_child_id);
                cs_db_value_t q[7] = { p[0], p[1], p[2], p[3], p[4], p[5],
                                       v_str(rb->parks[i].raw) };
                if (RUN("INSERT INTO civisync_parked (prefix, entity_table, "
                        "child_entity_id, column_name, target_table, "
                        "target_child_id, raw_value) VALUES (?,?,?,?,?,?,?)",
                        q, 7, NULL, NULL, NULL, NULL) == -1)
                        return db_fail(ap, dberr, errstr, errstr_size,
                                       "park reference");
                pc->has_parked = 1;
                cs_debug("%s %s %lld: %s waits for %s %lld", pc->prefix,
                         ent->table, child_id, rb->parks[i].column,
                         rb->parks[i].target, rb->parks[i].target_child_id);
        }
        return CS_APPLY_OK;
}

/* Inserts or updates one row; *master_id receives its master id. */
typedef struct wait_for_s {
        char table[72];         /* copied: the document is freed before parking */
        long long child_id;
} wait_for_t;

/* A UNIQUE key of the master is taken by another row. The child enforces
 * the same key, so within a prefix this is transient: the other row's delete
 * or change (a tombstone on another partition, a rename later in the run)
 * has not arrived yet. The document waits and is retried after each batch;
 * one that never fits stays parked, visible in --status, never lost. */
static cs_apply_rc_t wait_for_unique(const cs_entity_t *ent, long long child_id,
                                     wait_for_t *wait, char *errstr,
                                     size_t errstr_size)
{
        char msg[512];
        snprintf(msg, sizeof(msg), "%s %lld waits for a UNIQUE key held by "
                 "another row: %s", ent->table, child_id, errstr);
        snprintf(errstr, errstr_size, "%s", msg);
        wait->table[0] = '\0';
        wait->child_id = 0;
        return (cs_apply_rc_t)CS_APPLY_PARK;
}

static cs_apply_rc_t upsert_row(cs_apply_t *ap, prefix_ctx_t *pc,
                                const cs_entity_t *ent, const json_t *doc,
                                long long parent_master_id,
                                long long *master_id, int *inserted,
                                wait_for_t *wait, char *errstr,
                                size_t errstr_size)
{
        const cs_table_t *tbl = master_table(ap, ent, errstr, errstr_size);
        row_build_t *rb;
        json_t *jid = json_object_get(doc, CS_F_CHILD_ID);
        long long child_id = json_integer_value(jid);
        unsigned long long affected = 0, insert_id = 0;
        unsigned int dberr = 0;
        cs_apply_rc_t rc;
        int mapped;
        size_t len;

        if (!tbl)
                return CS_APPLY_REJECTED;
        if (!json_is_integer(jid) || child_id <= 0) {
                snprintf(errstr, errstr_size, "%s: missing civisync_child_id",
                         ent->table);
                return CS_APPLY_REJECTED;
        }
        if (!(rb = calloc(1, sizeof(*rb)))) {
                snprintf(errstr, errstr_size, "out of memory");
                return CS_APPLY_RETRY;
        }
        rc = build_row(ap, pc, ent, tbl, doc, parent_master_id, rb, errstr,
                       errstr_size);
        if (rc != CS_APPLY_OK)
                goto done;
        if (rb->missing_required) {
                snprintf(errstr, errstr_size,
                         "%s %lld waits for %s", ent->table, child_id,
                         rb->missing_desc);
                snprintf(wait->table, sizeof(wait->table), "%s",
                         rb->missing_target);
                wait->child_id = rb->missing_child_id;
                rc = (cs_apply_rc_t)CS_APPLY_PARK;
                goto done;
        }
        mapped = map_lookup(ap, pc, ent->table, child_id, master_id, &dberr,
                            errstr, errstr_size);
        if (mapped == -1) {
                rc = db_fail(ap, dberr, errstr, errstr_size, "mapping lookup");
                goto done;
        }
        if (mapped == 0) {
                len = (size_t)snprintf(ap->sql, SQL_MAX, "UPDATE `%s` SET ",
                                       ent->table);
                for (size_t i = 0; i < rb->n; i++)
                        len += (size_t)snprintf(ap->sql + len, SQL_MAX - len,
                                                "%s`%s` = ?", i ? ", " : "",
                                                rb->names[i]);
                snprintf(ap->sql + len, SQL_MAX - len, " WHERE id = ?");
                rb->vals[rb->n] = v_int(*master_id);
                if (RUN(ap->sql, rb->vals, rb->n + 1, &affected, NULL, NULL,
                        NULL) == -1) {
                        rc = dberr == ER_DUP_ENTRY ?
                             wait_for_unique(ent, child_id, wait, errstr,
                                             errstr_size) :
                             db_fail(ap, dberr, errstr, errstr_size, ent->table);
                        goto done;
                }
                if (affected == 0)
                        mapped = 1; /* the master row is gone: insert anew */
        }
        if (mapped == 1) {
                len = (size_t)snprintf(ap->sql, SQL_MAX, "INSERT INTO `%s` (",
                                       ent->table);
                for (size_t i = 0; i < rb->n; i++)
                        len += (size_t)snprintf(ap->sql + len, SQL_MAX - len,
                                                "%s`%s`", i ? ", " : "",
                                                rb->names[i]);
                len += (size_t)snprintf(ap->sql + len, SQL_MAX - len, ") VALUES (");
                for (size_t i = 0; i < rb->n; i++)
                        len += (size_t)snprintf(ap->sql + len, SQL_MAX - len,
                                                "%s?", i ? ", " : "");
                snprintf(ap->sql + len, SQL_MAX - len, ")");
                if (RUN(ap->sql, rb->vals, rb->n, NULL, &insert_id, NULL,
                        NULL) == -1) {
                        rc = dberr == ER_DUP_ENTRY ?
                             wait_for_unique(ent, child_id, wait, errstr,
                                             errstr_size) :
                             db_fail(ap, dberr, errstr, errstr_size, ent->table);
                        goto done;
                }
                *master_id = (long long)insert_id;
                *inserted = 1;
        }
        if (map_set(ap, pc, ent->table, child_id, *master_id, &dberr, errstr,
                    errstr_size) == -1) {
                rc = db_fail(ap, dberr, errstr, errstr_size, "mapping");
                goto done;
        }
        rc = write_parks(ap, pc, ent, child_id, rb, errstr, errstr_size);
        if (rc == CS_APPLY_OK)
                ap->stats.rows_upserted++;
done:
        row_free(rb);
        free(rb);
        return rc;
}

/* Deletes the master rows of `kid` under parent master id that are not in
 * keep[] (replace-set), with their mapping rows. */
static cs_apply_rc_t delete_stale_children(cs_apply_t *ap, prefix_ctx_t *pc,
                                           const cs_entity_t *kid,
                                           long long parent_master_id,
                                           const long long *keep,
                                           size_t keep_n, char *errstr,
                                           size_t errstr_size)
{
        cs_db_value_t *p = calloc(keep_n + 2, sizeof(*p));
        unsigned long long affected = 0;
        unsigned int dberr = 0;
        size_t len;
        cs_apply_rc_t rc = CS_APPLY_OK;

        if (!p) {
                snprintf(errstr, errstr_size, "out of memory");
                return CS_APPLY_RETRY;
        }
        if (!master_table(ap, kid, errstr, errstr_size)) {
                free(p);
                return CS_APPLY_OK; /* the master has no such table */
        }
        /* Mapping rows first (they name the rows about to go). */
        p[0] = v_str(kid->table);
        p[1] = v_int(parent_master_id);
        for (size_t i = 0; i < keep_n; i++)
                p[i + 2] = v_int(keep[i]);
        len = (size_t)snprintf(ap->sql, SQL_MAX,
                 "DELETE m FROM `%s` m JOIN `%s` t ON t.id = m.master_entity_id "
                 "WHERE m.entity_table = ? AND t.`%s` = ?", pc->map, kid->table,
                 kid->parent_column);
        if (keep_n) {
                len += (size_t)snprintf(ap->sql + len, SQL_MAX - len,
                                        " AND t.id NOT IN (");
                for (size_t i = 0; i < keep_n; i++)
                        len += (size_t)snprintf(ap->sql + len, SQL_MAX - len,
                                                "%s?", i ? "," : "");
                snprintf(ap->sql + len, SQL_MAX - len, ")");
        }
        if (RUN(ap->sql, p, keep_n + 2, &affected, NULL, NULL, NULL) == -1) {
                rc = db_fail(ap, dberr, errstr, errstr_size, "replace-set mapping");
                goto done;
        }
        if (affected)
                map_forget_all(ap);
        affected = 0;
        {
                char target[SQL_MAX / 2];
                size_t tl = (size_t)snprintf(target, sizeof(target),
                                             "FROM `%s` t WHERE t.`%s` = ?",
                                             kid->table, kid->parent_column);
                if (keep_n) {
                        tl += (size_t)snprintf(target + tl, sizeof(target) - tl,
                                               " AND t.id NOT IN (");
                        for (size_t i = 0; i < keep_n; i++)
                                tl += (size_t)snprintf(target + tl,
                                                       sizeof(target) - tl,
                                                       "%s?", i ? "," : "");
                        snprintf(target + tl, sizeof(target) - tl, ")");
                }
                rc = release_references(ap, kid, target, p + 1, keep_n + 1,
                                        errstr, errstr_size);
                if (rc != CS_APPLY_OK)
                        goto done;
        }
        len = (size_t)snprintf(ap->sql, SQL_MAX, "DELETE FROM `%s` WHERE `%s` = ?",
                               kid->table, kid->parent_column);
        if (keep_n) {
                len += (size_t)snprintf(ap->sql + len, SQL_MAX - len,
                                        " AND id NOT IN (");
                for (size_t i = 0; i < keep_n; i++)
                        len += (size_t)snprintf(ap->sql + len, SQL_MAX - len,
                                                "%s?", i ? "," : "");
                snprintf(ap->sql + len, SQL_MAX - len, ")");
        }
        if (RUN(ap->sql, p + 1, keep_n + 1, &affected, NULL, NULL, NULL) == -1) {
                rc = db_fail(ap, dberr, errstr, errstr_size, "replace-set delete");
                goto done;
        }
        ap->stats.rows_deleted += (long long)affected;
done:
        free(p);
        return rc;
}

static void stale_row(void *ctx, const long long *v)
{
        int *stale = ctx;
        if (v[0] >= 0 && v[0] < MAX_KIDS)
                stale[v[0]] = v[1] > 0;
}

/* Sets stale[k] when the master holds rows of kids[k] under the parent that
 * are not in keep[k]: one query for every nested table, so that an update
 * whose nested rows are unchanged costs no deletes. */
static cs_apply_rc_t find_stale_children(cs_apply_t *ap,
                                         const cs_entity_t *const *kids,
                                         size_t kid_cnt, long long parent,
                                         long long *const *keep,
                                         const size_t *keep_n, int *stale,
                                         char *errstr, size_t errstr_size)
{
        size_t nparams = 0, len = 0;
        cs_db_value_t *p;
        unsigned int dberr = 0;
        int rc;

        for (size_t k = 0; k < kid_cnt; k++)
                nparams += 1 + keep_n[k];
        if (!(p = calloc(nparams + 1, sizeof(*p)))) {
                snprintf(errstr, errstr_size, "out of memory");
                return CS_APPLY_RETRY;
        }
        nparams = 0;
        ap->sql[0] = '\0';
        for (size_t k = 0; k < kid_cnt; k++) {
                char tmp[256];
                stale[k] = 0;
                if (!master_table(ap, kids[k], tmp, sizeof(tmp)))
                        continue; /* the master has no such table */
                if (len + 256 + keep_n[k] * 2 >= SQL_MAX) {
                        free(p);
                        snprintf(errstr, errstr_size, "too many nested rows");
                        return CS_APPLY_REJECTED;
                }
                len += (size_t)snprintf(ap->sql + len, SQL_MAX - len,
                                        "%sSELECT %zu, COUNT(*) FROM `%s` WHERE `%s` = ?",
                                        len ? " UNION ALL " : "", k,
                                        kids[k]->table, kids[k]->parent_column);
                p[nparams++] = v_int(parent);
                if (keep_n[k]) {
                        len += (size_t)snprintf(ap->sql + len, SQL_MAX - len,
                                                " AND id NOT IN (");
                        for (size_t i = 0; i < keep_n[k]; i++) {
                                len += (size_t)snprintf(ap->sql + len,
                                                        SQL_MAX - len, "%s?",
                                                        i ? "," : "");
                                p[nparams++] = v_int(keep[k][i]);
                        }
                        len += (size_t)snprintf(ap->sql + len, SQL_MAX - len, ")");
                }
        }
        rc = len ? cs_db_run_rows(ap->cache, ap->sql, p, nparams, 2, stale_row,
                                  stale, &dberr, errstr, errstr_size) : 0;
        free(p);
        return rc == -1 ? db_fail(ap, dberr, errstr, errstr_size,
                                  "replace-set") : CS_APPLY_OK;
}

/* Applies a root document with its nested rows (replace-set). */
static cs_apply_rc_t apply_document(cs_apply_t *ap, prefix_ctx_t *pc,
                                    const cs_entity_t *ent, const json_t *doc,
                                    wait_for_t *wait, char *errstr,
                                    size_t errstr_size)
{
        const cs_entity_t *kids[MAX_KIDS];
        size_t kid_cnt = cs_reg_children(ent, kids, MAX_KIDS);
        json_t *children = json_object_get(doc, CS_F_CHILDREN);
        size_t n = json_array_size(children), keep_n[MAX_KIDS] = { 0 };
        long long master_id = 0, *keep[MAX_KIDS] = { NULL };
        int inserted = 0, kid_inserted = 0, stale[MAX_KIDS] = { 0 };
        cs_apply_rc_t rc;

        rc = upsert_row(ap, pc, ent, doc, 0, &master_id, &inserted, wait,
                        errstr, errstr_size);
        if (rc != CS_APPLY_OK)
                return rc;
        for (size_t k = 0; k < kid_cnt && rc == CS_APPLY_OK; k++) {
                size_t i;
                json_t *kid;

                if (!(keep[k] = calloc(n + 1, sizeof(*keep[k])))) {
                        snprintf(errstr, errstr_size, "out of memory");
                        rc = CS_APPLY_RETRY;
                        break;
                }
                json_array_foreach(children, i, kid) {
                        const char *name = json_string_value(
                                json_object_get(kid, CS_F_ENTITY));
                        long long kid_master = 0;
                        if (!name || strcmp(name, kids[k]->name))
                                continue;
                        rc = upsert_row(ap, pc, kids[k], kid, master_id,
                                        &kid_master, &kid_inserted, wait,
                                        errstr, errstr_size);
                        if (rc != CS_APPLY_OK)
                                break;
                        keep[k][keep_n[k]++] = kid_master;
                }
        }
        /* A root inserted just now has no older nested rows. */
        if (rc == CS_APPLY_OK && !inserted && kid_cnt)
                rc = find_stale_children(ap, kids, kid_cnt, master_id, keep,
                                         keep_n, stale, errstr, errstr_size);
        for (size_t k = 0; k < kid_cnt && rc == CS_APPLY_OK; k++)
                if (stale[k])
                        rc = delete_stale_children(ap, pc, kids[k], master_id,
                                                   keep[k], keep_n[k], errstr,
                                                   errstr_size);
        for (size_t k = 0; k < kid_cnt; k++)
                free(keep[k]);
        return rc;
}

/* Deletes one entity (tombstone) with its nested rows and mapping rows. */
static cs_apply_rc_t apply_tombstone(cs_apply_t *ap, prefix_ctx_t *pc,
                                     const cs_entity_t *ent, long long child_id,
                                     char *errstr, size_t errstr_size)
{
        const cs_entity_t *kids[MAX_KIDS];
        size_t kid_cnt = cs_reg_children(ent, kids, MAX_KIDS);
        long long master_id;
        unsigned long long affected = 0;
        unsigned int dberr = 0;
        cs_db_value_t p[2];
        int rc;

        rc = map_lookup(ap, pc, ent->table, child_id, &master_id, &dberr,
                        errstr, errstr_size);
        if (rc == -1)
                return db_fail(ap, dberr, errstr, errstr_size, "mapping lookup");
        ap->stats.tombstones++;
        if (rc == 1) {
                cs_debug("%s: tombstone for unmapped %s %lld: nothing to do",
                         pc->prefix, ent->table, child_id);
                return CS_APPLY_OK;
        }
        for (size_t k = 0; k < kid_cnt; k++) {
                cs_apply_rc_t krc = delete_stale_children(ap, pc, kids[k],
                                                          master_id, NULL, 0,
                                                          errstr, errstr_size);
                if (krc != CS_APPLY_OK)
                        return krc;
        }
        p[0] = v_int(master_id);
        {
                char target[128];
                cs_apply_rc_t rrc;
                snprintf(target, sizeof(target), "FROM `%s` t WHERE t.id = ?",
                         ent->table);
                rrc = forget_cascaded(ap, pc->map, ent, target, p, 1, 0,
                                      errstr, errstr_size);
                if (rrc == CS_APPLY_OK)
                        rrc = release_references(ap, ent, target, p, 1, errstr,
                                                 errstr_size);
                if (rrc != CS_APPLY_OK)
                        return rrc;
        }
        snprintf(ap->sql, SQL_MAX, "DELETE FROM `%s` WHERE id = ?", ent->table);
        if (RUN(ap->sql, p, 1, &affected, NULL, NULL, NULL) == -1)
                return db_fail(ap, dberr, errstr, errstr_size, ent->table);
        ap->stats.rows_deleted += (long long)affected;
        p[0] = v_str(ent->table);
        p[1] = v_int(child_id);
        snprintf(ap->sql, SQL_MAX, "DELETE FROM `%s` WHERE entity_table = ? "
                 "AND child_entity_id = ?", pc->map);
        if (RUN(ap->sql, p, 2, NULL, NULL, NULL, NULL) == -1)
                return db_fail(ap, dberr, errstr, errstr_size, "mapping delete");
        map_forget_all(ap);
        return CS_APPLY_OK;
}

/* Fills in parked references whose targets are now mapped. */
typedef struct prefetch_s prefetch_t;
static int run_in_chunks(cs_apply_t *ap, const char *head,
                         const cs_db_value_t *fixed, size_t nfixed,
                         const cs_db_value_t *vals, size_t n,
                         prefetch_t *pf, unsigned int *dberr, char *errstr,
                         size_t errstr_size);

/* A parked reference that is settled (filled in, or moot). */
typedef struct park_done_s {
        const char *table;      /* borrowed from the stored result */
        const char *column;
        long long child_id;
} park_done_t;

static int park_done_cmp(const void *a, const void *b)
{
        const park_done_t *x = a, *y = b;
        int c = strcmp(x->table, y->table);
        return c ? c : strcmp(x->column, y->column);
}

/* Deletes the settled parked references, one statement per table and
 * column. */
static int forget_parks(cs_apply_t *ap, prefix_ctx_t *pc, park_done_t *done,
                        size_t n, unsigned int *dberr, char *errstr,
                        size_t errstr_size)
{
        cs_db_value_t *vals = malloc((n + 1) * sizeof(*vals));

        if (!vals) {
                snprintf(errstr, errstr_size, "out of memory");
                *dberr = 0;
                return -1;
        }
        qsort(done, n, sizeof(*done), park_done_cmp);
        for (size_t i = 0, j; i < n; i = j) {
                cs_db_value_t fixed[3] = { v_str(pc->prefix),
                                           v_str(done[i].table),
                                           v_str(done[i].column) };
                for (j = i; j < n && !park_done_cmp(&done[i], &done[j]); j++)
                        vals[j - i] = v_int(done[j].child_id);
                if (run_in_chunks(ap, "DELETE FROM civisync_parked WHERE "
                                  "prefix = ? AND entity_table = ? AND "
                                  "column_name = ? AND child_entity_id IN",
                                  fixed, 3, vals, j - i, NULL, dberr, errstr,
                                  errstr_size) == -1) {
                        free(vals);
                        return -1;
                }
        }
        free(vals);
        return 0;
}

/* Fills in parked references whose target is mapped now (at commit). */
static cs_apply_rc_t resolve_parked(cs_apply_t *ap, prefix_ctx_t *pc,
                                    char *errstr, size_t errstr_size)
{
        unsigned int dberr = 0;
        cs_db_value_t p[1] = { v_str(pc->prefix) };
        park_done_t *done = NULL;
        MYSQL_RES *res = NULL;
        MYSQL_ROW row;
        int more = 1;
        cs_apply_rc_t rc = CS_APPLY_OK;

        for (int round = 0; more && round < 100; round++) {
                size_t done_n = 0;

                more = 0;
                if (cs_db_set_vars(ap->db, "SET @cs_prefix = ?", p, 1, NULL,
                                   NULL, errstr, errstr_size) == -1)
                        return db_fail(ap, mysql_errno(ap->db), errstr,
                                       errstr_size, "parked");
                snprintf(ap->sql, SQL_MAX,
                         "SELECT k.entity_table, k.child_entity_id, k.column_name, "
                         "k.raw_value, m.master_entity_id, o.master_entity_id "
                         "FROM civisync_parked k "
                         "JOIN `%s` m ON m.entity_table = k.target_table AND "
                         "m.child_entity_id = k.target_child_id "
                         "LEFT JOIN `%s` o ON o.entity_table = k.entity_table AND "
                         "o.child_entity_id = k.child_entity_id "
                         "WHERE k.prefix = @cs_prefix LIMIT 1000", pc->map, pc->map);
                if (!(res = cs_db_query(ap->db, ap->sql, errstr, errstr_size)))
                        return db_fail(ap, mysql_errno(ap->db), errstr,
                                       errstr_size, "parked");
                free(done);
                if (!(done = calloc(mysql_num_rows(res) + 1, sizeof(*done)))) {
                        snprintf(errstr, errstr_size, "out of memory");
                        rc = CS_APPLY_RETRY;
                        goto out;
                }
                while ((row = mysql_fetch_row(res))) {
                        const cs_entity_t *ent = cs_reg_by_table(row[0]);
                        const cs_ref_t *ref = ent ? cs_reg_ref(ent, row[2]) : NULL;
                        long long child_id = strtoll(row[1], NULL, 10);
                        long long owner = row[5] ? strtoll(row[5], NULL, 10) : 0;
                        char *value = NULL;
                        long long missing = 0;
                        cs_db_value_t q[3];
                        int err = 0;

                        if (!ref || owner <= 0) /* not ours, or owner gone */
                                goto forget;
                        if (ref->kind == CS_REF_ID_LIST) {
                                value = translate_id_list(ap, pc, ref->target,
                                                          row[3] ? row[3] : "",
                                                          &missing, &err, &dberr,
                                                          errstr, errstr_size);
                                if (!value) {
                                        rc = err == 2 ? CS_APPLY_REJECTED :
                                             db_fail(ap, dberr, errstr,
                                                     errstr_size, "parked");
                                        goto out;
                                }
                                q[0] = v_str(value);
                        } else {
                                q[0] = v_int(strtoll(row[4], NULL, 10));
                        }
                        q[1] = v_int(owner);
                        {
                                /* Assigning TIMESTAMP columns to themselves keeps
                                 * ON UPDATE CURRENT_TIMESTAMP from firing: the
                                 * master keeps the child's modified_date. */
                                char tmp[256];
                                const cs_table_t *tbl = master_table(ap, ent, tmp,
                                                                     sizeof(tmp));
                                size_t len = (size_t)snprintf(ap->sql, SQL_MAX,
                                        "UPDATE `%s` SET `%s` = ?", ent->table,
                                        ref->column);
                                for (size_t c = 0; tbl && c < tbl->col_cnt; c++)
                                        if (tbl->cols[c].type == CS_COL_TIMESTAMP)
                                                len += (size_t)snprintf(ap->sql + len,
                                                        SQL_MAX - len, ", `%s` = `%s`",
                                                        tbl->cols[c].name,
                                                        tbl->cols[c].name);
                                snprintf(ap->sql + len, SQL_MAX - len, " WHERE id = ?");
                        }
                        if (RUN(ap->sql, q, 2, NULL, NULL, NULL, NULL) == -1) {
                                free(value);
                                rc = db_fail(ap, dberr, errstr, errstr_size,
                                             "parked update");
                                goto out;
                        }
                        free(value);
                        if (missing) {
                                /* Another id of the list is still missing. */
                                cs_db_value_t r[5] = { v_int(missing),
                                                       v_str(pc->prefix),
                                                       v_str(row[0]),
                                                       v_int(child_id),
                                                       v_str(row[2]) };
                                if (RUN("UPDATE civisync_parked SET target_child_id = ? "
                                        "WHERE prefix = ? AND entity_table = ? AND "
                                        "child_entity_id = ? AND column_name = ?",
                                        r, 5, NULL, NULL, NULL, NULL) == -1) {
                                        rc = db_fail(ap, dberr, errstr,
                                                     errstr_size, "parked");
                                        goto out;
                                }
                                continue;
                        }
forget:
                        done[done_n].table = row[0];
                        done[done_n].column = row[2];
                        done[done_n++].child_id = child_id;
                        more = 1;
                }
                if (done_n && forget_parks(ap, pc, done, done_n, &dberr, errstr,
                                           errstr_size) == -1) {
                        rc = db_fail(ap, dberr, errstr, errstr_size, "parked");
                        goto out;
                }
                mysql_free_result(res);
                res = NULL;
        }
out:
        if (res)
                mysql_free_result(res);
        free(done);
        return rc;
}

static cs_apply_rc_t resolve_parked_docs(cs_apply_t *ap, prefix_ctx_t *pc,
                                         char *errstr, size_t errstr_size);

/* ---- complete-sync framing ---- */

static cs_apply_rc_t apply_reset(cs_apply_t *ap, prefix_ctx_t *pc,
                                 const cs_doc_info_t *info, char *errstr,
                                 size_t errstr_size)
{
        unsigned int dberr = 0;

        if (info->generation < pc->generation) {
                cs_warn("%s: reset of generation %lld ignored: generation %lld "
                        "is newer", pc->prefix, info->generation, pc->generation);
                return CS_APPLY_OK;
        }
        if (info->generation == pc->generation)
                return CS_APPLY_OK; /* another partition's (or a re-read) reset */
        /* A new generation: rows written from now on carry a new refresh
         * stamp; its end sweeps every row with an older one. A generation
         * still open is abandoned (superseded) here. */
        cs_info("%s: complete sync generation %lld begins (%d partition(s))%s",
                pc->prefix, info->generation, info->partition_count,
                pc->generation > pc->completed_generation ?
                " — the previous one never ended and is superseded" : "");
        {
                cs_db_value_t p[3] = { v_int(info->generation),
                                       v_int(info->partition_count),
                                       v_str(pc->prefix) };
                if (RUN("UPDATE civisync_prefix SET generation = ?, "
                        "replay_partitions = ?, generation_refresh = refresh + 1, "
                        "refresh = refresh + 1 WHERE prefix = ?", p, 3,
                        NULL, NULL, NULL, NULL) == -1)
                        return db_fail(ap, dberr, errstr, errstr_size, "reset");
        }
        pc->generation = info->generation;
        pc->refresh++;
        pc->generation_refresh = pc->refresh;
        return CS_APPLY_OK;
}

/* Deletes the prefix's rows (and mapping rows) whose refresh stamp is
 * below `below`: what a complete replay did not refresh. */
static cs_apply_rc_t sweep(cs_apply_t *ap, prefix_ctx_t *pc, long long below,
                           const char *what, char *errstr, size_t errstr_size)
{
        size_t count;
        const cs_entity_t *ents = cs_reg_entities(&count);
        unsigned int dberr = 0;
        long long swept = 0;

        /* Dependents first: reverse registry order. */
        for (size_t i = count; i-- > 0;) {
                unsigned long long affected = 0;
                cs_db_value_t p[2] = { v_str(ents[i].table), v_int(below) };
                char tmp[256];

                if (!master_table(ap, &ents[i], tmp, sizeof(tmp)))
                        continue;
                {
                        char target[512];
                        cs_apply_rc_t rrc;
                        snprintf(target, sizeof(target),
                                 "FROM `%s` t JOIN `%s` m ON m.master_entity_id = t.id "
                                 "WHERE m.entity_table = ? AND m.generation < ?",
                                 ents[i].table, pc->map);
                        rrc = forget_cascaded(ap, pc->map, &ents[i], target, p,
                                              2, 0, errstr, errstr_size);
                        if (rrc == CS_APPLY_OK)
                                rrc = release_references(ap, &ents[i], target, p,
                                                         2, errstr, errstr_size);
                        if (rrc != CS_APPLY_OK)
                                return rrc;
                }
                snprintf(ap->sql, SQL_MAX,
                         "DELETE t FROM `%s` t JOIN `%s` m ON m.master_entity_id = t.id "
                         "WHERE m.entity_table = ? AND m.generation < ?",
                         ents[i].table, pc->map);
                if (RUN(ap->sql, p, 2, &affected, NULL, NULL, NULL) == -1)
                        return db_fail(ap, dberr, errstr, errstr_size, "sweep");
                swept += (long long)affected;
                snprintf(ap->sql, SQL_MAX, "DELETE FROM `%s` WHERE entity_table = ? "
                         "AND generation < ?", pc->map);
                if (RUN(ap->sql, p, 2, NULL, NULL, NULL, NULL) == -1)
                        return db_fail(ap, dberr, errstr, errstr_size, "sweep");
        }
        map_forget_all(ap);
        ap->stats.rows_deleted += swept;
        ap->stats.sweeps++;
        cs_info("%s: %s complete: %lld row(s) not in the child removed from "
                "the master", pc->prefix, what, swept);
        return CS_APPLY_OK;
}

/* Compares the end markers' counts of generation gen with the rows
 * refreshed since it began (entities the markers name). */
static cs_apply_rc_t check_counts(cs_apply_t *ap, prefix_ctx_t *pc,
                                  long long gen, char *problem,
                                  size_t problem_size, int *short_replay,
                                  char *errstr, size_t errstr_size)
{
        size_t count;
        const cs_entity_t *ents = cs_reg_entities(&count);
        cs_db_value_t p[2] = { v_str(pc->prefix), v_int(gen) };
        json_t *expected = json_object();
        MYSQL_RES *res;
        MYSQL_ROW row;
        size_t plen = 0;

        problem[0] = '\0';
        *short_replay = 0;
        if (cs_db_set_vars(ap->db, "SET @cs_prefix = ?, @cs_gen = ?", p, 2, NULL,
                           NULL, errstr, errstr_size) == -1 ||
            !(res = cs_db_query(ap->db, "SELECT counts FROM civisync_replay_end "
                                "WHERE prefix = @cs_prefix AND generation = @cs_gen",
                                errstr, errstr_size))) {
                json_decref(expected);
                return db_fail(ap, mysql_errno(ap->db), errstr, errstr_size,
                               "end counts");
        }
        while ((row = mysql_fetch_row(res))) {
                json_t *c = json_loads(row[0], 0, NULL);
                const char *name;
                json_t *v;
                json_object_foreach(c, name, v) {
                        json_t *cur = json_object_get(expected, name);
                        json_object_set_new(expected, name, json_integer(
                                json_integer_value(cur) + json_integer_value(v)));
                }
                json_decref(c);
        }
        mysql_free_result(res);
        for (size_t i = 0; i < count; i++) {
                json_t *jwant = json_object_get(expected, ents[i].name);
                long long want = json_integer_value(jwant);
                long long have = 0;
                unsigned int dberr = 0;
                cs_db_value_t q[2] = { v_str(ents[i].table),
                                       v_int(pc->generation_refresh) };

                if (!jwant)
                        continue;
                snprintf(ap->sql, SQL_MAX, "SELECT COUNT(*) FROM `%s` WHERE "
                         "entity_table = ? AND generation >= ?", pc->map);
                if (RUN(ap->sql, q, 2, NULL, NULL, &have, NULL) == -1) {
                        json_decref(expected);
                        return db_fail(ap, dberr, errstr, errstr_size, "counts");
                }
                if (have < want)
                        *short_replay = 1;
                if (have != want && plen < problem_size - 80)
                        plen += (size_t)snprintf(problem + plen, problem_size - plen,
                                                 "%s%s sent %lld applied %lld",
                                                 plen ? "; " : "", ents[i].name,
                                                 want, have);
        }
        json_decref(expected);
        return CS_APPLY_OK;
}

static cs_apply_rc_t apply_end(cs_apply_t *ap, prefix_ctx_t *pc,
                               const cs_doc_info_t *info, const json_t *doc,
                               char *errstr, size_t errstr_size)
{
        json_t *counts = json_object();
        const char *key;
        json_t *val;
        char *text;
        unsigned int dberr = 0;
        long long ends = 0;
        char problem[2048];
        int short_replay = 0;
        cs_apply_rc_t rc;

        if (info->generation != pc->generation) {
                cs_warn("%s: end of generation %lld ignored: the current "
                        "generation is %lld (superseded or never begun)",
                        pc->prefix, info->generation, pc->generation);
                json_decref(counts);
                return CS_APPLY_OK;
        }
        if (info->generation == pc->completed_generation) {
                json_decref(counts);
                return CS_APPLY_OK; /* re-read after a restart: already done */
        }
        json_object_foreach((json_t *)doc, key, val) {
                if (!strncmp(key, CS_F_COUNT_PFX, strlen(CS_F_COUNT_PFX)))
                        json_object_set(counts, key + strlen(CS_F_COUNT_PFX), val);
        }
        text = json_dumps(counts, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(counts);
        if (!text) {
                snprintf(errstr, errstr_size, "out of memory");
                return CS_APPLY_RETRY;
        }
        {
                cs_db_value_t p[4] = { v_str(pc->prefix), v_int(info->generation),
                                       v_int(info->partition), v_str(text) };
                int r = RUN("REPLACE INTO civisync_replay_end (prefix, generation, "
                            "partition_no, counts) VALUES (?,?,?,?)", p, 4, NULL,
                            NULL, NULL, NULL);
                free(text);
                if (r == -1)
                        return db_fail(ap, dberr, errstr, errstr_size, "end");
        }
        {
                cs_db_value_t p[2] = { v_str(pc->prefix), v_int(info->generation) };
                if (RUN("SELECT COUNT(*) FROM civisync_replay_end WHERE prefix = ? "
                        "AND generation = ?", p, 2, NULL, NULL, &ends, NULL) == -1)
                        return db_fail(ap, dberr, errstr, errstr_size, "end");
        }
        if (ends < info->partition_count) {
                cs_info("%s: end of generation %lld on partition %d (%lld of %d)",
                        pc->prefix, info->generation, info->partition, ends,
                        info->partition_count);
                return CS_APPLY_OK;
        }
        /* Whatever waited for rows of this replay goes in before counting. */
        if ((rc = resolve_parked_docs(ap, pc, errstr, errstr_size)) != CS_APPLY_OK ||
            (rc = resolve_parked(ap, pc, errstr, errstr_size)) != CS_APPLY_OK)
                return rc;
        rc = check_counts(ap, pc, info->generation, problem, sizeof(problem),
                          &short_replay, errstr, errstr_size);
        if (rc != CS_APPLY_OK)
                return rc;
        if (short_replay) {
                /* Fewer rows arrived than were sent (dead letters, or the
                 * broker dropped messages): sweeping now would delete rows
                 * the child still has. Keep them, and say so. */
                size_t len = strlen(problem);
                snprintf(problem + len, sizeof(problem) - len,
                         "; rows not refreshed were NOT removed: fix the cause "
                         "(see dead letters), then run a complete sync again");
        } else {
                char what[64];
                snprintf(what, sizeof(what), "generation %lld", info->generation);
                if ((rc = sweep(ap, pc, pc->generation_refresh, what, errstr,
                                errstr_size)) != CS_APPLY_OK)
                        return rc;
        }
        if (problem[0])
                cs_error("%s: generation %lld: end marker counts differ from what "
                         "was applied: %s", pc->prefix, info->generation, problem);
        {
                cs_db_value_t p[3] = { v_int(info->generation),
                                       problem[0] ? v_str(problem) :
                                       (cs_db_value_t){ .kind = CS_VAL_NULL },
                                       v_str(pc->prefix) };
                if (RUN("UPDATE civisync_prefix SET completed_generation = ?, "
                        "completed_at = UTC_TIMESTAMP(), last_error = ? WHERE prefix = ?",
                        p, 3, NULL, NULL, NULL, NULL) == -1)
                        return db_fail(ap, dberr, errstr, errstr_size, "end");
        }
        pc->completed_generation = info->generation;
        return CS_APPLY_OK;
}

/* ---- offset-rewind replays (civisync_offset) ---- */

/* Ends the prefix's rewind replay when every partition of its topic has
 * been re-read up to the high watermark captured at the rewind: the rows
 * that replay did not refresh are swept, as at the end of a generation. */
static cs_apply_rc_t replay_check(cs_apply_t *ap, prefix_ctx_t *pc,
                                  char *errstr, size_t errstr_size)
{
        cs_db_value_t p[1] = { v_str(pc->prefix) };
        unsigned int dberr = 0;
        long long done = 0, want = 0;
        int found;
        cs_apply_rc_t rc;

        if (pc->replay_refresh <= 0)
                return CS_APPLY_OK;
        if (RUN("SELECT COUNT(*) FROM civisync_offset WHERE prefix = ? AND "
                "replay_end IS NOT NULL AND next_offset >= replay_end", p, 1,
                NULL, NULL, &done, &found) == -1 ||
            RUN("SELECT replay_topic_partitions FROM civisync_prefix WHERE "
                "prefix = ?", p, 1, NULL, NULL, &want, &found) == -1)
                return db_fail(ap, dberr, errstr, errstr_size, "replay state");
        if (done < want)
                return CS_APPLY_OK;
        if ((pc->has_parked_doc &&
             (rc = resolve_parked_docs(ap, pc, errstr, errstr_size)) != CS_APPLY_OK) ||
            (pc->has_parked &&
             (rc = resolve_parked(ap, pc, errstr, errstr_size)) != CS_APPLY_OK))
                return rc;
        if ((rc = sweep(ap, pc, pc->replay_refresh, "offset-rewind replay",
                        errstr, errstr_size)) != CS_APPLY_OK)
                return rc;
        if (RUN("UPDATE civisync_prefix SET replay_refresh = 0, "
                "replay_completed_at = UTC_TIMESTAMP(), replays_completed = "
                "replays_completed + 1 WHERE prefix = ?", p, 1, NULL, NULL, NULL,
                NULL) == -1 ||
            RUN("UPDATE civisync_offset SET replay_end = NULL, rewind_from = NULL "
                "WHERE prefix = ?", p, 1, NULL, NULL, NULL, NULL) == -1)
                return db_fail(ap, dberr, errstr, errstr_size, "replay end");
        pc->replay_refresh = 0;
        return CS_APPLY_OK;
}

/* ---- public API ---- */

cs_apply_t *cs_apply_new(const cs_consumer_conf_t *conf, char *errstr,
                         size_t errstr_size)
{
        cs_apply_t *ap = calloc(1, sizeof(*ap));
        size_t count;

        cs_reg_entities(&count);
        if (!ap || !(ap->sql = malloc(SQL_MAX)) ||
            !(ap->tables = calloc(count, sizeof(*ap->tables))) ||
            !(ap->table_state = calloc(count, sizeof(*ap->table_state))) ||
            !(ap->restrict_refs = calloc(count, sizeof(*ap->restrict_refs))) ||
            !(ap->map_cache = calloc(MAP_CACHE_SIZE, sizeof(*ap->map_cache))) ||
            !(ap->scratch = calloc(1, sizeof(*ap->scratch)))) {
                snprintf(errstr, errstr_size, "out of memory");
                cs_apply_free(ap);
                return NULL;
        }
        ap->conf = conf;
        ap->entity_cnt = count;
        ap->map_epoch = 1;
        if (cs_apply_reconnect(ap, errstr, errstr_size) == -1) {
                cs_apply_free(ap);
                return NULL;
        }
        return ap;
}

int cs_apply_reconnect(cs_apply_t *ap, char *errstr, size_t errstr_size)
{
        if (ap->db)
                mysql_close(ap->db);
        ap->db = NULL;
        for (size_t i = 0; i < ap->prefix_cnt; i++)
                ap->prefixes[i].loaded = ap->prefixes[i].ensured = 0;
        if (!(ap->db = cs_db_connect(&ap->conf->master, errstr, errstr_size)))
                return -1;
        if (ap->cache)
                cs_db_cache_reset(ap->cache, ap->db);
        else if (!(ap->cache = cs_db_cache_new(ap->db))) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        for (int i = 0; own_tables_sql[i]; i++)
                if (cs_db_exec(ap->db, own_tables_sql[i], errstr, errstr_size) == -1)
                        goto fail;
        {
                /* Multi-row INSERTs hand out consecutive ids (step apart)
                 * only under lock modes 0 and 1. */
                long long mode = 2, step = 1;
                if (cs_db_query_int(ap->db, "SELECT @@innodb_autoinc_lock_mode",
                                    &mode, errstr, errstr_size) == -1 ||
                    cs_db_query_int(ap->db, "SELECT @@auto_increment_increment",
                                    &step, errstr, errstr_size) == -1)
                        goto fail;
                ap->autoinc_step = step > 0 ? step : 1;
                ap->bulk_ok = ap->conf->multi_row_insert && mode <= 1;
                if (ap->conf->multi_row_insert && mode > 1 && !ap->warned_autoinc) {
                        cs_warn("master has innodb_autoinc_lock_mode=%lld: new "
                                "rows are applied one by one (set it to 1 for "
                                "multi-row inserts)", mode);
                        ap->warned_autoinc = 1;
                }
        }
        /* The master's shape (columns, foreign keys) is read once per
         * connection, here, so that no document's apply depends on an
         * information_schema read. */
        for (size_t i = 0; i < ap->entity_cnt; i++) {
                const cs_entity_t *ent = &cs_reg_entities(NULL)[i];
                if (ap->table_state[i] == 0 &&
                    !master_table(ap, ent, errstr, errstr_size) &&
                    ap->table_state[i] == 0)
                        goto fail;
        }
        if (load_restrict_refs(ap, errstr, errstr_size) == -1)
                goto fail;
        return 0;
fail:
        mysql_close(ap->db);
        ap->db = NULL;
        return -1;
}

void cs_apply_free(cs_apply_t *ap)
{
        if (!ap)
                return;
        cs_db_cache_free(ap->cache);
        if (ap->db)
                mysql_close(ap->db);
        for (size_t i = 0; ap->tables && i < ap->entity_cnt; i++)
                if (ap->table_state[i] == 1)
                        cs_schema_free(&ap->tables[i]);
        free(ap->tables);
        free(ap->table_state);
        free(ap->restrict_refs);
        free(ap->map_cache);
        free(ap->scratch);
        free(ap->prefixes);
        free(ap->sql);
        free(ap);
}

/* After a failed reconnect there is no connection: try again now, and
 * report RETRY (never touch a NULL handle). */
static cs_apply_rc_t ensure_connected(cs_apply_t *ap, char *errstr,
                                      size_t errstr_size)
{
        if (ap->db)
                return CS_APPLY_OK;
        if (cs_apply_reconnect(ap, errstr, errstr_size) == -1)
                return CS_APPLY_RETRY;
        return CS_APPLY_OK;
}

cs_apply_rc_t cs_apply_begin(cs_apply_t *ap, char *errstr, size_t errstr_size)
{
        if (ensure_connected(ap, errstr, errstr_size) != CS_APPLY_OK)
                return CS_APPLY_RETRY;
        map_forget_all(ap);
        for (size_t i = 0; i < ap->prefix_cnt; i++)
                ap->prefixes[i].offsets_touched = 0;
        if (cs_db_exec(ap->db, "START TRANSACTION", errstr, errstr_size) == -1)
                return db_fail(ap, mysql_errno(ap->db), errstr, errstr_size,
                               "begin");
        return CS_APPLY_OK;
}

cs_apply_rc_t cs_apply_commit(cs_apply_t *ap, char *errstr, size_t errstr_size)
{
        for (size_t i = 0; i < ap->prefix_cnt; i++) {
                cs_apply_rc_t rc;
                if (!ap->prefixes[i].loaded)
                        continue;
                rc = ap->prefixes[i].has_parked_doc ?
                     resolve_parked_docs(ap, &ap->prefixes[i], errstr,
                                         errstr_size) : CS_APPLY_OK;
                if (rc == CS_APPLY_OK && ap->prefixes[i].has_parked)
                        rc = resolve_parked(ap, &ap->prefixes[i], errstr,
                                            errstr_size);
                if (rc == CS_APPLY_OK && ap->prefixes[i].offsets_touched &&
                    ap->prefixes[i].replay_refresh > 0)
                        rc = replay_check(ap, &ap->prefixes[i], errstr,
                                          errstr_size);
                if (rc != CS_APPLY_OK)
                        return CS_APPLY_RETRY;
        }
        if (cs_db_exec(ap->db, "COMMIT", errstr, errstr_size) == -1) {
                db_fail(ap, mysql_errno(ap->db), errstr, errstr_size, "commit");
                return CS_APPLY_RETRY;
        }
        map_forget_all(ap);
        return CS_APPLY_OK;
}

void cs_apply_rollback(cs_apply_t *ap)
{
        char errstr[256];
        if (ap->db)
                cs_db_exec(ap->db, "ROLLBACK", errstr, sizeof(errstr));
        map_forget_all(ap);
        /* Cached generations may belong to the rolled-back work. */
        for (size_t i = 0; i < ap->prefix_cnt; i++)
                ap->prefixes[i].loaded = 0;
}

/* Stores a document that waits for a required reference. */
static cs_apply_rc_t park_document(cs_apply_t *ap, prefix_ctx_t *pc,
                                   const char *key, size_t key_len,
                                   const char *value, size_t value_len,
                                   const wait_for_t *wait, const char *reason,
                                   char *errstr, size_t errstr_size)
{
        unsigned int dberr = 0;
        cs_db_value_t p[6] = {
                v_str(pc->prefix),
                { .kind = CS_VAL_STR, .s = key, .len = key_len },
                v_str(wait->table), v_int(wait->child_id),
                { .kind = CS_VAL_STR, .s = reason,
                  .len = strlen(reason) > 255 ? 255 : strlen(reason) },
                { .kind = CS_VAL_BIN, .s = value, .len = value_len },
        };

        if (RUN("REPLACE INTO civisync_parked_doc (prefix, doc_key, target_table, "
                "target_child_id, reason, value) VALUES (?,?,?,?,?,?)", p, 6, NULL,
                NULL, NULL, NULL) == -1)
                return db_fail(ap, dberr, errstr, errstr_size, "park document");
        ap->stats.parked++;
        pc->has_parked_doc = 1;
        cs_debug("%s: parked %.*s: %s", pc->prefix, (int)key_len, key, reason);
        return CS_APPLY_OK;
}

static cs_apply_rc_t unpark_document(cs_apply_t *ap, prefix_ctx_t *pc,
                                     const char *key, size_t key_len,
                                     char *errstr, size_t errstr_size)
{
        unsigned int dberr = 0;
        cs_db_value_t p[2] = { v_str(pc->prefix),
                               { .kind = CS_VAL_STR, .s = key, .len = key_len } };

        if (!pc->has_parked_doc)
                return CS_APPLY_OK;
        if (RUN("DELETE FROM civisync_parked_doc WHERE prefix = ? AND doc_key = ?",
                p, 2, NULL, NULL, NULL, NULL) == -1)
                return db_fail(ap, dberr, errstr, errstr_size, "unpark document");
        return CS_APPLY_OK;
}

/* parsed (BORROWED, may be NULL): value already parsed by cs_doc_parse. */
static cs_apply_rc_t apply_one(cs_apply_t *ap, const char *prefix,
                               const char *key, size_t key_len,
                               const char *value, size_t value_len,
                               json_t *parsed, int flags, char *errstr,
                               size_t errstr_size)
{
        char key_prefix[CS_PREFIX_MAX + 1], table[80];
        long long child_id = 0;
        cs_doc_info_t info;
        json_t *doc = NULL;
        prefix_ctx_t *pc;
        cs_apply_rc_t rc = CS_APPLY_OK;
        wait_for_t wait = { 0 };
        char err2[256];

        if (!key || key_len == 0) {
                snprintf(errstr, errstr_size, "message has no key");
                return CS_APPLY_REJECTED;
        }
        if (cs_doc_parse_id(key, key_len, key_prefix, table, sizeof(table),
                            &child_id, errstr, errstr_size) == -1)
                return CS_APPLY_REJECTED;
        if (strcmp(key_prefix, prefix)) {
                snprintf(errstr, errstr_size, "key prefix '%s' does not match "
                         "the topic's prefix '%s'", key_prefix, prefix);
                return CS_APPLY_REJECTED;
        }
        if (value) {
                if (!(doc = parsed ? json_incref(parsed) :
                            cs_doc_parse(value, value_len,
                                         ap->conf->max_document_bytes, errstr,
                                         errstr_size)) ||
                    cs_doc_inspect(doc, key, key_len, &info, errstr,
                                   errstr_size) == -1) {
                        json_decref(doc);
                        return CS_APPLY_REJECTED;
                }
                if (strcmp(info.prefix, prefix)) {
                        snprintf(errstr, errstr_size, "document prefix '%s' does "
                                 "not match the topic's prefix '%s'",
                                 info.prefix, prefix);
                        json_decref(doc);
                        return CS_APPLY_REJECTED;
                }
        }
        if (value && info.kind != CS_DOC_KIND_ENTITY &&
            (flags & CS_APPLY_F_HISTORICAL)) {
                /* Re-read by an offset-rewind replay: that replay has its
                 * own framing (rewind .. high watermark). */
                cs_debug("%s: historical %s document of generation %lld "
                         "skipped in a rewind replay", prefix,
                         info.kind == CS_DOC_KIND_RESET ? "reset" : "end",
                         info.generation);
                ap->stats.skipped++;
                json_decref(doc);
                return CS_APPLY_OK;
        }
        if (!(pc = prefix_get(ap, prefix, &rc, errstr, errstr_size))) {
                json_decref(doc);
                return rc;
        }
        if (cs_db_exec(ap->db, "SAVEPOINT cs_message", errstr, errstr_size) == -1) {
                json_decref(doc);
                return db_fail(ap, mysql_errno(ap->db), errstr, errstr_size,
                               "savepoint");
        }
        map_journal_start(ap);
        if (!value) {
                const cs_entity_t *ent = cs_reg_by_table(table);
                if (!ent || ent->parent) {
                        snprintf(errstr, errstr_size, "tombstone for '%s': not a "
                                 "top-level synced table", table);
                        rc = CS_APPLY_REJECTED;
                } else {
                        rc = apply_tombstone(ap, pc, ent, child_id, errstr,
                                             errstr_size);
                }
        } else if (info.kind == CS_DOC_KIND_RESET) {
                rc = apply_reset(ap, pc, &info, errstr, errstr_size);
        } else if (info.kind == CS_DOC_KIND_END) {
                rc = apply_end(ap, pc, &info, doc, errstr, errstr_size);
        } else if (info.entity->parent) {
                snprintf(errstr, errstr_size, "%s documents travel nested in "
                         "their %s document", info.entity->name,
                         info.entity->parent);
                rc = CS_APPLY_REJECTED;
        } else {
                rc = apply_document(ap, pc, info.entity, doc, &wait, errstr,
                                    errstr_size);
        }
        json_decref(doc);
        if (rc == CS_APPLY_REJECTED || (int)rc == CS_APPLY_PARK) {
                /* Mappings written under the savepoint are gone. */
                map_journal_end(ap, 1);
                if (cs_db_exec(ap->db, "ROLLBACK TO SAVEPOINT cs_message", err2,
                               sizeof(err2)) == -1)
                        return CS_APPLY_RETRY;
        } else {
                map_journal_end(ap, 0);
        }
        if ((int)rc == CS_APPLY_PARK)
                return park_document(ap, pc, key, key_len, value, value_len,
                                     &wait, errstr, errstr, errstr_size);
        /* Applied, deleted or rejected: an older parked version is moot. */
        if (rc == CS_APPLY_OK && !(value && info.kind != CS_DOC_KIND_ENTITY))
                return unpark_document(ap, pc, key, key_len, errstr, errstr_size);
        return rc;
}

/* ---- many messages at once: prefetched mappings, multi-row INSERTs ----
 *
 * cs_apply_messages reads a window of messages, loads every mapping they
 * name in one query per table, then walks them in order. A run of
 * documents of one root entity whose rows are all new to the master and
 * whose references all resolve is gathered into a group and written with
 * multi-row INSERTs (roots, then nested rows with their parent's new id,
 * then the mapping rows). Anything else -- updates, tombstones, control
 * documents, references still missing, a document naming a row the group
 * is about to insert -- first flushes the group, then goes through
 * apply_one. If a group's statements fail, it is rolled back to its
 * savepoint and its documents are applied one by one, so a bad document
 * is rejected on its own, exactly as on the one-by-one path. */

#define GROUP_DOCS_MAX 256
#define GROUP_BYTES_MAX (4u << 20)
#define WINDOW_DOCS 512
#define WINDOW_BYTES (8u << 20)
#define IN_CHUNK_MAX 256
#define ID_MAX 0xFFFFFFFFFFFFLL

enum { ADD_RETRY = -1, ADD_SLOW = 0, ADD_OK = 1, ADD_FLUSH = 2 };

/* A set of (entity, child id) keys; 0 marks an empty slot. */
typedef struct idset_s {
        unsigned long long *slot;
        size_t cap, n;
} idset_t;

static unsigned long long idset_key(const cs_entity_t *ent, long long id)
{
        return ((unsigned long long)(entity_index(ent) + 1) << 48) |
               ((unsigned long long)id & (unsigned long long)ID_MAX);
}

static size_t idset_pos(const idset_t *s, unsigned long long k)
{
        unsigned long long h = k * 0x9E3779B97F4A7C15ULL;
        return (size_t)(h ^ (h >> 31)) & (s->cap - 1);
}

static int idset_has(const idset_t *s, unsigned long long k)
{
        if (!s->n)
                return 0;
        for (size_t i = idset_pos(s, k);; i = (i + 1) & (s->cap - 1)) {
                if (!s->slot[i])
                        return 0;
                if (s->slot[i] == k)
                        return 1;
        }
}

/* 1 added, 0 already there, -1 out of memory. */
static int idset_add(idset_t *s, unsigned long long k)
{
        size_t i;

        if ((s->n + 1) * 2 > s->cap) {
                idset_t grown = { NULL, s->cap ? s->cap * 2 : 256, 0 };
                if (!(grown.slot = calloc(grown.cap, sizeof(*grown.slot))))
                        return -1;
                for (size_t j = 0; j < s->cap; j++)
                        if (s->slot[j])
                                idset_add(&grown, s->slot[j]);
                free(s->slot);
                *s = grown;
        }
        for (i = idset_pos(s, k); s->slot[i]; i = (i + 1) & (s->cap - 1))
                if (s->slot[i] == k)
                        return 0;
        s->slot[i] = k;
        s->n++;
        return 1;
}

static void idset_clear(idset_t *s)
{
        if (s->n)
                memset(s->slot, 0, s->cap * sizeof(*s->slot));
        s->n = 0;
}

static void idset_free(idset_t *s)
{
        free(s->slot);
        s->slot = NULL;
        s->cap = s->n = 0;
}

/* Called for every row id (own = 1) and reference a document names;
 * nonzero stops the walk and is returned by doc_visit_ids. */
typedef int (*id_visit_fn)(void *ctx, const cs_entity_t *ent, long long id,
                           int own);

static int visit_row(const cs_entity_t *ent, const json_t *row,
                     id_visit_fn fn, void *ctx)
{
        json_t *jid = json_object_get(row, CS_F_CHILD_ID);
        int rc;

        if (!json_is_integer(jid) || json_integer_value(jid) <= 0 ||
            json_integer_value(jid) > ID_MAX)
                return -2;
        if ((rc = fn(ctx, ent, json_integer_value(jid), 1)))
                return rc;
        for (const cs_ref_t *r = ent->refs; r && r->column; r++) {
                json_t *v = json_object_get(row, r->column);
                const cs_entity_t *target;

                if (!v || json_is_null(v))
                        continue;
                if (ent->parent && ent->parent_column &&
                    !strcmp(r->column, ent->parent_column))
                        continue;
                if (r->kind == CS_REF_POLY) {
                        const char *t = json_string_value(
                                json_object_get(row, r->table_column));
                        target = t ? cs_reg_by_table(t) : NULL;
                } else {
                        target = cs_reg_by_table(r->target);
                }
                if (!target)
                        return -2;
                if (r->kind == CS_REF_ID_LIST) {
                        const char *p = json_string_value(v);
                        long long id;
                        int more;
                        if (!p)
                                return -2;
                        while ((more = next_list_id(&p, &id)) == 1) {
                                if (id > ID_MAX)
                                        return -2;
                                if ((rc = fn(ctx, target, id, 0)))
                                        return rc;
                        }
                        if (more == -1)
                                return -2;
                        continue;
                }
                if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
                    json_integer_value(v) > ID_MAX)
                        return -2;
                if ((rc = fn(ctx, target, json_integer_value(v), 0)))
                        return rc;
        }
        return 0;
}

/* Visits the ids of a root document and of its nested rows. Returns 0, the
 * first nonzero result of fn, or -2 when an id is malformed (the one-by-one
 * path then reports it). */
static int doc_visit_ids(const cs_entity_t *root, const json_t *doc,
                         id_visit_fn fn, void *ctx)
{
        json_t *kid;
        size_t i;
        int rc;

        if ((rc = visit_row(root, doc, fn, ctx)))
                return rc;
        json_array_foreach(json_object_get(doc, CS_F_CHILDREN), i, kid) {
                const cs_entity_t *kent = cs_reg_by_name(json_string_value(
                        json_object_get(kid, CS_F_ENTITY)));
                if (!kent || !kent->parent || strcmp(kent->parent, root->name))
                        continue;
                if ((rc = visit_row(kent, kid, fn, ctx)))
                        return rc;
        }
        return 0;
}

/* ---- prefetch ---- */

struct prefetch_s {
        cs_apply_t *ap;
        prefix_ctx_t *pc;
        long long **ids;        /* per registry entity */
        size_t *n, *cap;
        const cs_entity_t *found_ent;
};

static int prefetch_visit(void *ctx, const cs_entity_t *ent, long long id,
                          int own)
{
        prefetch_t *pf = ctx;
        size_t e = entity_index(ent);

        (void)own;
        if (map_cached(pf->ap, pf->pc, ent->table, id))
                return 0;
        if (pf->n[e] == pf->cap[e]) {
                size_t cap = pf->cap[e] ? pf->cap[e] * 2 : 256;
                long long *grown = realloc(pf->ids[e], cap * sizeof(*grown));
                if (!grown)
                        return -1;
                pf->ids[e] = grown;
                pf->cap[e] = cap;
        }
        pf->ids[e][pf->n[e]++] = id;
        return 0;
}

static void prefetch_row(void *ctx, const long long *v)
{
        prefetch_t *pf = ctx;
        if (v[1] > 0) /* child id, master id, generation */
                map_remember(pf->ap, pf->pc, pf->found_ent->table, v[0], v[1],
                             v[2]);
}

static int ll_cmp(const void *a, const void *b)
{
        long long x = *(const long long *)a, y = *(const long long *)b;
        return x < y ? -1 : x > y;
}

/* Size of the next IN (...) list: the power of two at or above `left`
 * (at most IN_CHUNK_MAX), so that few statement texts exist; the caller
 * pads the list by repeating its last value, which IN ignores. */
static size_t chunk_size(size_t left)
{
        size_t k = 1;
        while (k < left && k < IN_CHUNK_MAX)
                k *= 2;
        return k;
}

/* Runs "<head> (?,?,...)" for vals[] in chunks, after the fixed params. */
static int run_in_chunks(cs_apply_t *ap, const char *head,
                         const cs_db_value_t *fixed, size_t nfixed,
                         const cs_db_value_t *vals, size_t n,
                         prefetch_t *pf, unsigned int *dberr, char *errstr,
                         size_t errstr_size)
{
        cs_db_value_t *p = malloc((nfixed + IN_CHUNK_MAX) * sizeof(*p));
        size_t hl = strlen(head);
        char *sql = malloc(hl + IN_CHUNK_MAX * 2 + 8);
        int rc = 0;

        if (!p || !sql) {
                free(p);
                free(sql);
                snprintf(errstr, errstr_size, "out of memory");
                *dberr = 0;
                return -1;
        }
        memcpy(p, fixed, nfixed * sizeof(*p));
        for (size_t done = 0; rc == 0 && done < n;) {
                size_t k = chunk_size(n - done), len = hl;
                memcpy(sql, head, hl);
                sql[len++] = ' ';
                sql[len++] = '(';
                for (size_t i = 0; i < k; i++) {
                        if (i)
                                sql[len++] = ',';
                        sql[len++] = '?';
                }
                sql[len++] = ')';
                sql[len] = '\0';
                for (size_t i = 0; i < k; i++)
                        p[nfixed + i] = vals[done + i < n ? done + i : n - 1];
                rc = pf ? cs_db_run_rows(ap->cache, sql, p, nfixed + k, 3,
                                         prefetch_row, pf, dberr, errstr,
                                         errstr_size) :
                     cs_db_run(ap->cache, sql, p, nfixed + k, NULL, NULL, NULL,
                               NULL, dberr, errstr, errstr_size);
                done += k < n - done ? k : n - done;
        }
        free(p);
        free(sql);
        return rc;
}

/* Loads the mappings of every id that the documents of prefix pc name into
 * the cache (found or known absent). */
static cs_apply_rc_t prefetch_mappings(cs_apply_t *ap, prefix_ctx_t *pc,
                                       json_t **docs,
                                       const cs_entity_t **ents,
                                       const size_t *pc_of, size_t pc_no,
                                       size_t n, char *errstr,
                                       size_t errstr_size)
{
        prefetch_t pf = { ap, pc, NULL, NULL, NULL, NULL };
        cs_apply_rc_t rc = CS_APPLY_OK;
        unsigned int dberr = 0;

        pf.ids = calloc(ap->entity_cnt, sizeof(*pf.ids));
        pf.n = calloc(ap->entity_cnt, sizeof(*pf.n));
        pf.cap = calloc(ap->entity_cnt, sizeof(*pf.cap));
        if (!pf.ids || !pf.n || !pf.cap)
                goto oom;
        for (size_t i = 0; i < n; i++)
                if (docs[i] && pc_of[i] == pc_no &&
                    doc_visit_ids(ents[i], docs[i], prefetch_visit, &pf) == -1)
                        goto oom;
        for (size_t e = 0; e < ap->entity_cnt && rc == CS_APPLY_OK; e++) {
                const cs_entity_t *ent = &cs_reg_entities(NULL)[e];
                cs_db_value_t *vals;
                cs_db_value_t fixed[1] = { v_str(ent->table) };
                size_t u = 0;

                if (!pf.n[e])
                        continue;
                qsort(pf.ids[e], pf.n[e], sizeof(long long), ll_cmp);
                for (size_t i = 0; i < pf.n[e]; i++)
                        if (!u || pf.ids[e][i] != pf.ids[e][u - 1])
                                pf.ids[e][u++] = pf.ids[e][i];
                if (!(vals = malloc(u * sizeof(*vals))))
                        goto oom;
                for (size_t i = 0; i < u; i++)
                        vals[i] = v_int(pf.ids[e][i]);
                pf.found_ent = ent;
                snprintf(ap->sql, SQL_MAX, "SELECT child_entity_id, "
                         "master_entity_id, generation FROM `%s` WHERE "
                         "entity_table = ? AND child_entity_id IN", pc->map);
                if (run_in_chunks(ap, ap->sql, fixed, 1, vals, u, &pf, &dberr,
                                  errstr, errstr_size) == -1)
                        rc = db_fail(ap, dberr, errstr, errstr_size,
                                     "mapping prefetch");
                free(vals);
                for (size_t i = 0; rc == CS_APPLY_OK && i < u; i++)
                        if (!map_cached(ap, pc, ent->table, pf.ids[e][i]))
                                map_remember(ap, pc, ent->table, pf.ids[e][i],
                                             0, -1);
        }
        goto done;
oom:
        snprintf(errstr, errstr_size, "out of memory");
        rc = CS_APPLY_RETRY;
done:
        for (size_t e = 0; pf.ids && e < ap->entity_cnt; e++)
                free(pf.ids[e]);
        free(pf.ids);
        free(pf.n);
        free(pf.cap);
        /* A failure that is not transient only costs the prefetch: the
         * documents' own lookups then meet it and are judged one by one. */
        return rc == CS_APPLY_REJECTED ? CS_APPLY_OK : rc;
}

/* ---- groups of new documents ---- */

typedef struct group_s {
        size_t pc_no;
        const cs_entity_t *root;
        const cs_entity_t *kids[MAX_KIDS];
        size_t kid_cnt;
        cs_bulk_t rows[1 + MAX_KIDS];   /* [0] roots, [1 + k] nested kids[k] */
        size_t parent_col[1 + MAX_KIDS]; /* nested: column of the parent id */
        size_t *msg;                    /* message index per document */
        json_t **docs;                  /* NEW references: rows borrow them */
        size_t n, cap;
        cs_bulk_t parks;                /* civisync_parked rows to write */
        idset_t pending;                /* every row the group will insert */
        idset_t doc_rows;               /* rows of the document being added */
} group_t;

static void group_reset(group_t *g)
{
        for (size_t t = 0; t < 1 + MAX_KIDS; t++) {
                cs_bulk_clear(&g->rows[t]);
                g->rows[t].ncols = 0;
        }
        cs_bulk_clear(&g->parks);
        g->parks.ncols = 0;
        for (size_t i = 0; i < g->n; i++)
                json_decref(g->docs[i]);
        g->n = 0;
        g->root = NULL;
        idset_clear(&g->pending);
}

static void group_free(group_t *g)
{
        group_reset(g);
        free(g->msg);
        free(g->docs);
        idset_free(&g->pending);
        idset_free(&g->doc_rows);
}

/* A document that names, as its own row, a row the group will insert
 * conflicts (flush first). References to such rows are fine: they are not
 * mapped yet, so they park and resolve at commit, as on the one-by-one
 * path. */
static int pending_visit(void *ctx, const cs_entity_t *ent, long long id,
                         int own)
{
        return own && idset_has(ctx, idset_key(ent, id)) ? 1 : 0;
}

static size_t group_bytes(const group_t *g)
{
        size_t b = 0;
        for (size_t t = 0; t < 1 + MAX_KIDS; t++)
                b += g->rows[t].bytes;
        return b;
}

/* Adds one new row to bulk table t. ADD_OK, ADD_SLOW, ADD_FLUSH, ADD_RETRY. */
static int group_add_row(cs_apply_t *ap, group_t *g, size_t t,
                         const cs_entity_t *ent, const json_t *row,
                         size_t parent_row, char *errstr, size_t errstr_size)
{
        prefix_ctx_t *pc = &ap->prefixes[g->pc_no];
        const cs_table_t *tbl = master_table(ap, ent, errstr, errstr_size);
        row_build_t *rb = ap->scratch;
        cs_bulk_t *b = &g->rows[t];
        long long id = json_integer_value(json_object_get(row, CS_F_CHILD_ID));
        long long master = 0;
        unsigned int dberr = 0;
        cs_apply_rc_t rc;
        int mapped, add;

        if (!tbl || id <= 0)
                return ADD_SLOW;
        if ((add = idset_add(&g->doc_rows, idset_key(ent, id))) <= 0)
                return add == 0 ? ADD_SLOW : ADD_RETRY; /* a row twice */
        mapped = map_lookup(ap, pc, ent->table, id, &master, &dberr, errstr,
                            errstr_size);
        if (mapped == -1)
                return db_fail(ap, dberr, errstr, errstr_size, "mapping lookup") ==
                       CS_APPLY_RETRY ? ADD_RETRY : ADD_SLOW;
        if (mapped == 0)
                return ADD_SLOW; /* an update */
        rb->n = rb->owned_n = rb->park_n = 0;
        rb->missing_required = 0;
        rc = build_row(ap, pc, ent, tbl, row, 0, rb, errstr, errstr_size);
        if (rc != CS_APPLY_OK || rb->missing_required || rb->n == 0) {
                row_free(rb);
                return rc == CS_APPLY_RETRY ? ADD_RETRY : ADD_SLOW;
        }
        if (b->ncols == 0) {
                cs_bulk_init(b, ent->table, rb->names, rb->n);
                g->parent_col[t] = (size_t)-1;
                for (size_t i = 0; t > 0 && i < rb->n; i++)
                        if (!strcmp(rb->names[i], ent->parent_column))
                                g->parent_col[t] = i;
        } else if (!cs_bulk_same_cols(b, rb->names, rb->n)) {
                row_free(rb);
                return g->n ? ADD_FLUSH : ADD_SLOW;
        }
        if (t > 0) {
                if (g->parent_col[t] == (size_t)-1) {
                        row_free(rb);
                        return ADD_SLOW;
                }
                rb->vals[g->parent_col[t]] = v_int((long long)parent_row);
        }
        if (cs_bulk_add(b, rb->vals, id) == -1) {
                row_free(rb);
                snprintf(errstr, errstr_size, "out of memory");
                return ADD_RETRY;
        }
        for (size_t i = 0; i < rb->owned_n; i++)
                if (cs_bulk_own(b, rb->owned[i]) == -1) {
                        rb->owned_n = 0;
                        snprintf(errstr, errstr_size, "out of memory");
                        return ADD_RETRY;
                }
        rb->owned_n = 0;
        /* Optional references not mapped yet: NULL now, parked. */
        for (size_t i = 0; i < rb->park_n; i++) {
                static const char *const park_cols[7] = {
                        "prefix", "entity_table", "child_entity_id",
                        "column_name", "target_table", "target_child_id",
                        "raw_value" };
                char *raw = strdup(rb->parks[i].raw);
                cs_db_value_t v[7] = { v_str(pc->prefix), v_str(ent->table),
                                       v_int(id), v_str(rb->parks[i].column),
                                       v_str(rb->parks[i].target),
                                       v_int(rb->parks[i].target_child_id),
                                       v_str(raw ? raw : "") };
                if (g->parks.ncols == 0)
                        cs_bulk_init(&g->parks, "civisync_parked", park_cols, 7);
                if (!raw || cs_bulk_own(&g->parks, raw) == -1 ||
                    cs_bulk_add(&g->parks, v, 0) == -1) {
                        row_free(rb);
                        snprintf(errstr, errstr_size, "out of memory");
                        return ADD_RETRY;
                }
        }
        row_free(rb);
        return ADD_OK;
}

/* Tries to add a document (all of whose rows must be new) to the group. */
static int group_try_add(cs_apply_t *ap, group_t *g, size_t pc_no,
                         const cs_entity_t *ent, json_t *doc, size_t msg_no,
                         char *errstr, size_t errstr_size)
{
        size_t mark_rows[1 + MAX_KIDS], mark_owned[1 + MAX_KIDS], root_row;
        size_t mark_parks = g->parks.rows, mark_parks_owned = g->parks.owned_n;
        json_t *children = json_object_get(doc, CS_F_CHILDREN), *kid;
        int rc, conflict;
        size_t i;

        if (!ap->bulk_ok)
                return ADD_SLOW;
        if (g->n && (g->pc_no != pc_no || g->root != ent))
                return ADD_FLUSH;
        if (g->n >= GROUP_DOCS_MAX || group_bytes(g) >= GROUP_BYTES_MAX)
                return ADD_FLUSH;
        conflict = doc_visit_ids(ent, doc, pending_visit, &g->pending);
        if (conflict == -2)
                return ADD_SLOW;
        if (conflict)
                return g->n ? ADD_FLUSH : ADD_SLOW;
        if (!g->n) {
                g->root = ent;
                g->pc_no = pc_no;
                g->kid_cnt = cs_reg_children(ent, g->kids, MAX_KIDS);
        }
        if (g->n == g->cap) {
                size_t cap = g->cap ? g->cap * 2 : 64;
                size_t *m = realloc(g->msg, cap * sizeof(*m));
                json_t **d;
                if (m)
                        g->msg = m;
                d = m ? realloc(g->docs, cap * sizeof(*d)) : NULL;
                if (!d) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return ADD_RETRY;
                }
                g->docs = d;
                g->cap = cap;
        }
        for (size_t t = 0; t < 1 + MAX_KIDS; t++) {
                mark_rows[t] = g->rows[t].rows;
                mark_owned[t] = g->rows[t].owned_n;
        }
        idset_clear(&g->doc_rows);
        root_row = g->rows[0].rows;
        rc = group_add_row(ap, g, 0, ent, doc, 0, errstr, errstr_size);
        for (size_t k = 0; rc == ADD_OK && k < g->kid_cnt; k++)
                json_array_foreach(children, i, kid) {
                        const char *name = json_string_value(
                                json_object_get(kid, CS_F_ENTITY));
                        if (!name || strcmp(name, g->kids[k]->name))
                                continue;
                        rc = group_add_row(ap, g, 1 + k, g->kids[k], kid,
                                           root_row, errstr, errstr_size);
                        if (rc != ADD_OK)
                                break;
                }
        if (rc != ADD_OK) {
                for (size_t t = 0; t < 1 + MAX_KIDS; t++) {
                        cs_bulk_truncate(&g->rows[t], mark_rows[t],
                                         mark_owned[t]);
                        if (g->rows[t].rows == 0)
                                g->rows[t].ncols = 0;
                }
                cs_bulk_truncate(&g->parks, mark_parks, mark_parks_owned);
                if (!g->n)
                        g->root = NULL;
                return rc;
        }
        for (size_t j = 0; j < g->doc_rows.cap; j++)
                if (g->doc_rows.slot[j] &&
                    idset_add(&g->pending, g->doc_rows.slot[j]) == -1) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return ADD_RETRY;
                }
        g->msg[g->n] = msg_no;
        g->docs[g->n++] = json_incref(doc);
        return ADD_OK;
}

/* The group's statements, under savepoint cs_bulk. 0, or -1 with *dberr. */
static int group_write(cs_apply_t *ap, group_t *g, prefix_ctx_t *pc,
                       const cs_apply_msg_t *msgs, unsigned int *dberr,
                       char *errstr, size_t errstr_size)
{
        static const char *const map_cols[4] = {
                "entity_table", "child_entity_id", "master_entity_id",
                "generation" };
        cs_bulk_t map = { 0 };
        cs_db_value_t fixed[2] = { v_str(pc->prefix) };
        int rc = 0;

        *dberr = 0;
        if (cs_db_exec(ap->db, "SAVEPOINT cs_bulk", errstr, errstr_size) == -1) {
                *dberr = mysql_errno(ap->db);
                return -1;
        }
        if (cs_bulk_insert(&g->rows[0], ap->cache, 1, ap->autoinc_step, dberr,
                           errstr, errstr_size) == -1)
                return -1;
        for (size_t k = 0; k < g->kid_cnt; k++) {
                cs_bulk_t *b = &g->rows[1 + k];
                for (size_t r = 0; r < b->rows; r++) {
                        cs_db_value_t *v = cs_bulk_value(b, r, g->parent_col[1 + k]);
                        v->i = g->rows[0].ids[v->i];
                }
                if (b->rows && cs_bulk_insert(b, ap->cache, 1, ap->autoinc_step,
                                              dberr, errstr, errstr_size) == -1)
                        return -1;
        }
        cs_bulk_init(&map, pc->map, map_cols, 4);
        for (size_t t = 0; rc == 0 && t < 1 + g->kid_cnt; t++) {
                const cs_entity_t *ent = t ? g->kids[t - 1] : g->root;
                for (size_t r = 0; rc == 0 && r < g->rows[t].rows; r++) {
                        cs_db_value_t v[4] = { v_str(ent->table),
                                               v_int(g->rows[t].tags[r]),
                                               v_int(g->rows[t].ids[r]),
                                               v_int(pc->refresh) };
                        rc = cs_bulk_add(&map, v, 0);
                }
        }
        if (rc == -1)
                snprintf(errstr, errstr_size, "out of memory");
        else
                rc = cs_bulk_insert(&map, ap->cache, 0, 0, dberr, errstr,
                                    errstr_size);
        cs_bulk_clear(&map);
        /* Rows that are new can still have stale parked references (from a
         * deleted earlier version); the one-by-one path drops them too. */
        for (size_t t = 0; rc == 0 && pc->has_parked && t < 1 + g->kid_cnt; t++) {
                const cs_entity_t *ent = t ? g->kids[t - 1] : g->root;
                cs_db_value_t *vals;
                if (!entity_can_park(ent) || !g->rows[t].rows)
                        continue;
                if (!(vals = malloc(g->rows[t].rows * sizeof(*vals)))) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return -1;
                }
                for (size_t r = 0; r < g->rows[t].rows; r++)
                        vals[r] = v_int(g->rows[t].tags[r]);
                fixed[1] = v_str(ent->table);
                rc = run_in_chunks(ap, "DELETE FROM civisync_parked WHERE "
                                   "prefix = ? AND entity_table = ? AND "
                                   "child_entity_id IN", fixed, 2, vals,
                                   g->rows[t].rows, NULL, dberr, errstr,
                                   errstr_size);
                free(vals);
        }
        if (rc == 0 && g->parks.rows) {
                rc = cs_bulk_insert(&g->parks, ap->cache, 0, 0, dberr, errstr,
                                    errstr_size);
                if (rc == 0)
                        pc->has_parked = 1;
        }
        if (rc == 0 && pc->has_parked_doc) {
                cs_db_value_t *keys = malloc(g->n * sizeof(*keys));
                if (!keys) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return -1;
                }
                for (size_t i = 0; i < g->n; i++) {
                        const cs_apply_msg_t *m = &msgs[g->msg[i]];
                        keys[i] = (cs_db_value_t){ .kind = CS_VAL_STR,
                                                   .s = m->key,
                                                   .len = m->key_len };
                }
                rc = run_in_chunks(ap, "DELETE FROM civisync_parked_doc WHERE "
                                   "prefix = ? AND doc_key IN", fixed, 1, keys,
                                   g->n, NULL, dberr, errstr, errstr_size);
                free(keys);
        }
        return rc;
}

static cs_apply_rc_t record_result(cs_apply_t *ap, cs_apply_msg_t *m,
                                   cs_apply_rc_t rc, const char *why,
                                   char *errstr, size_t errstr_size)
{
        if (rc == CS_APPLY_RETRY) {
                snprintf(errstr, errstr_size, "%s", why);
                return CS_APPLY_RETRY;
        }
        if (rc == CS_APPLY_REJECTED) {
                ap->stats.rejected++;
                free(m->rejected);
                if (!(m->rejected = strdup(why))) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return CS_APPLY_RETRY;
                }
                return CS_APPLY_OK;
        }
        ap->stats.documents++;
        return CS_APPLY_OK;
}

/* doc (BORROWED, may be NULL): the message's value, parsed already. */
static cs_apply_rc_t apply_msg_alone(cs_apply_t *ap, cs_apply_msg_t *m,
                                     json_t *doc, char *errstr,
                                     size_t errstr_size)
{
        char why[1024];
        cs_apply_rc_t rc = apply_one(ap, m->prefix, m->key, m->key_len,
                                     m->value, m->value_len, doc, m->flags, why,
                                     sizeof(why));
        return record_result(ap, m, rc, why, errstr, errstr_size);
}

/* Writes the group; on a failure that is not transient, rolls it back and
 * applies its documents one by one. */
static cs_apply_rc_t group_flush(cs_apply_t *ap, group_t *g,
                                 cs_apply_msg_t *msgs, char *errstr,
                                 size_t errstr_size)
{
        prefix_ctx_t *pc;
        unsigned int dberr = 0;
        cs_apply_rc_t rc = CS_APPLY_OK;
        char why[1024];

        if (!g->n)
                return CS_APPLY_OK;
        pc = &ap->prefixes[g->pc_no];
        if (group_write(ap, g, pc, msgs, &dberr, why, sizeof(why)) == 0) {
                for (size_t t = 0; t < 1 + g->kid_cnt; t++) {
                        const cs_entity_t *ent = t ? g->kids[t - 1] : g->root;
                        for (size_t r = 0; r < g->rows[t].rows; r++)
                                map_remember(ap, pc, ent->table,
                                             g->rows[t].tags[r],
                                             g->rows[t].ids[r], pc->refresh);
                        ap->stats.rows_upserted += (long long)g->rows[t].rows;
                }
                ap->stats.documents += (long long)g->n;
                group_reset(g);
                return CS_APPLY_OK;
        }
        if (cs_db_errno_transient(dberr)) {
                snprintf(errstr, errstr_size, "%s", why);
                group_reset(g);
                return CS_APPLY_RETRY;
        }
        cs_debug("%s: multi-row apply of %zu %s documents failed (%s); "
                 "applying them one by one", pc->prefix, g->n, g->root->name,
                 why);
        map_forget_all(ap);
        if (cs_db_exec(ap->db, "ROLLBACK TO SAVEPOINT cs_bulk", errstr,
                       errstr_size) == -1) {
                group_reset(g);
                return CS_APPLY_RETRY;
        }
        /* In message order, each with its document parsed already. */
        for (size_t i = 0; i < g->n && rc == CS_APPLY_OK; i++)
                rc = apply_msg_alone(ap, &msgs[g->msg[i]], g->docs[i], errstr,
                                     errstr_size);
        group_reset(g);
        return rc;
}

/* Parses message i for the multi-row path: a NEW document when it is an
 * entity document of its topic's prefix, else NULL (the one-by-one path
 * then handles, or rejects, it). */
static json_t *parse_candidate(cs_apply_t *ap, const cs_apply_msg_t *m,
                               const cs_entity_t **ent)
{
        char key_prefix[CS_PREFIX_MAX + 1], table[80], err[256];
        long long child_id;
        cs_doc_info_t info;
        json_t *doc;

        if (!m->value || !m->key || !m->key_len ||
            cs_doc_parse_id(m->key, m->key_len, key_prefix, table,
                            sizeof(table), &child_id, err, sizeof(err)) == -1 ||
            strcmp(key_prefix, m->prefix))
                return NULL;
        if (!(doc = cs_doc_parse(m->value, m->value_len,
                                 ap->conf->max_document_bytes, err,
                                 sizeof(err))))
                return NULL;
        if (cs_doc_inspect(doc, m->key, m->key_len, &info, err,
                           sizeof(err)) == -1 ||
            info.kind != CS_DOC_KIND_ENTITY || info.entity->parent ||
            strcmp(info.prefix, m->prefix)) {
                json_decref(doc);
                return NULL;
        }
        *ent = info.entity;
        return doc;
}

cs_apply_rc_t cs_apply_messages(cs_apply_t *ap, cs_apply_msg_t *msgs,
                                size_t n, char *errstr, size_t errstr_size)
{
        json_t **docs = calloc(WINDOW_DOCS, sizeof(*docs));
        const cs_entity_t **ents = calloc(WINDOW_DOCS, sizeof(*ents));
        size_t *pc_of = calloc(WINDOW_DOCS, sizeof(*pc_of));
        group_t g;
        cs_apply_rc_t rc = CS_APPLY_OK;

        memset(&g, 0, sizeof(g));
        if (!docs || !ents || !pc_of) {
                snprintf(errstr, errstr_size, "out of memory");
                rc = CS_APPLY_RETRY;
                goto done;
        }
        for (size_t start = 0; start < n && rc == CS_APPLY_OK;) {
                size_t end = start, bytes = 0, w;

                /* A window: parse, then one prefetch per prefix. */
                while (end < n && end - start < WINDOW_DOCS &&
                       bytes < WINDOW_BYTES) {
                        cs_apply_msg_t *m = &msgs[end];
                        prefix_ctx_t *pc;
                        w = end - start;
                        docs[w] = NULL;
                        bytes += m->value_len;
                        if ((docs[w] = parse_candidate(ap, m, &ents[w]))) {
                                if (!(pc = prefix_get(ap, m->prefix, &rc, errstr,
                                                      errstr_size))) {
                                        json_decref(docs[w]);
                                        docs[w] = NULL;
                                        if (rc == CS_APPLY_RETRY) {
                                                end++;
                                                goto window_done;
                                        }
                                        rc = CS_APPLY_OK;
                                } else {
                                        pc_of[w] = (size_t)(pc - ap->prefixes);
                                }
                        }
                        end++;
                }
                for (size_t pno = 0; pno < ap->prefix_cnt && rc == CS_APPLY_OK;
                     pno++) {
                        int any = 0;
                        for (w = 0; w < end - start && !any; w++)
                                any = docs[w] && pc_of[w] == pno;
                        if (any)
                                rc = prefetch_mappings(ap, &ap->prefixes[pno],
                                                       docs, ents, pc_of, pno,
                                                       end - start, errstr,
                                                       errstr_size);
                }
                for (size_t i = start; i < end && rc == CS_APPLY_OK; i++) {
                        int add = ADD_SLOW;
                        w = i - start;
                        if (docs[w]) {
                                add = group_try_add(ap, &g, pc_of[w], ents[w],
                                                    docs[w], i, errstr,
                                                    errstr_size);
                                if (add == ADD_FLUSH) {
                                        rc = group_flush(ap, &g, msgs, errstr,
                                                         errstr_size);
                                        if (rc != CS_APPLY_OK)
                                                break;
                                        add = group_try_add(ap, &g, pc_of[w],
                                                            ents[w], docs[w], i,
                                                            errstr, errstr_size);
                                }
                                if (add == ADD_RETRY) {
                                        rc = CS_APPLY_RETRY;
                                        break;
                                }
                                if (add == ADD_OK)
                                        continue;
                        }
                        rc = group_flush(ap, &g, msgs, errstr, errstr_size);
                        if (rc == CS_APPLY_OK)
                                rc = apply_msg_alone(ap, &msgs[i], docs[w],
                                                     errstr, errstr_size);
                }
                if (rc == CS_APPLY_OK)
                        rc = group_flush(ap, &g, msgs, errstr, errstr_size);
window_done:
                for (w = 0; w < end - start; w++) {
                        json_decref(docs[w]);
                        docs[w] = NULL;
                }
                start = end;
        }
done:
        group_reset(&g);
        group_free(&g);
        free(docs);
        free(ents);
        free(pc_of);
        return rc;
}

cs_apply_rc_t cs_apply_message(cs_apply_t *ap, const char *prefix,
                               const char *key, size_t key_len,
                               const char *value, size_t value_len,
                               int flags, char *errstr, size_t errstr_size)
{
        cs_apply_rc_t rc = apply_one(ap, prefix, key, key_len, value, value_len,
                                     NULL, flags, errstr, errstr_size);
        if (rc == CS_APPLY_REJECTED)
                ap->stats.rejected++;
        else if (rc == CS_APPLY_OK)
                ap->stats.documents++;
        return rc;
}

/* One more try for the documents that wait on a UNIQUE key (their
 * target_table is empty): once per batch, each in its own savepoint. */
static cs_apply_rc_t retry_unique_waits(cs_apply_t *ap, prefix_ctx_t *pc,
                                        char *errstr, size_t errstr_size)
{
        cs_db_value_t p[1] = { v_str(pc->prefix) };
        MYSQL_RES *res;
        MYSQL_ROW row;

        if (cs_db_set_vars(ap->db, "SET @cs_prefix = ?", p, 1, NULL, NULL,
                           errstr, errstr_size) == -1 ||
            !(res = cs_db_query(ap->db, "SELECT doc_key, value FROM "
                                "civisync_parked_doc WHERE prefix = @cs_prefix "
                                "AND target_table = '' LIMIT 500", errstr,
                                errstr_size)))
                return db_fail(ap, mysql_errno(ap->db), errstr, errstr_size,
                               "parked documents");
        while ((row = mysql_fetch_row(res))) {
                unsigned long *len = mysql_fetch_lengths(res);
                long long parked_before = ap->stats.parked;
                char why[1024];
                cs_apply_rc_t rc = apply_one(ap, pc->prefix, row[0], len[0],
                                             row[1], len[1], NULL, 0, why,
                                             sizeof(why));
                if (rc == CS_APPLY_RETRY) {
                        snprintf(errstr, errstr_size, "%s", why);
                        mysql_free_result(res);
                        return CS_APPLY_RETRY;
                }
                if (ap->stats.parked > parked_before) {
                        ap->stats.parked = parked_before; /* parked again */
                } else if (rc == CS_APPLY_OK) {
                        ap->stats.documents++;
                        ap->stats.parked--;
                }
        }
        mysql_free_result(res);
        return CS_APPLY_OK;
}

/* Re-applies parked documents whose awaited target is now mapped. */
static cs_apply_rc_t resolve_parked_docs(cs_apply_t *ap, prefix_ctx_t *pc,
                                         char *errstr, size_t errstr_size)
{
        cs_db_value_t p[1] = { v_str(pc->prefix) };

        for (int round = 0; round < 1000; round++) {
                MYSQL_RES *res;
                MYSQL_ROW row;
                int progressed = 0;

                if (cs_db_set_vars(ap->db, "SET @cs_prefix = ?", p, 1, NULL, NULL,
                                   errstr, errstr_size) == -1)
                        return db_fail(ap, mysql_errno(ap->db), errstr,
                                       errstr_size, "parked documents");
                snprintf(ap->sql, SQL_MAX,
                         "SELECT d.doc_key, d.value FROM civisync_parked_doc d "
                         "JOIN `%s` m ON m.entity_table = d.target_table AND "
                         "m.child_entity_id = d.target_child_id "
                         "WHERE d.prefix = @cs_prefix LIMIT 500", pc->map);
                if (!(res = cs_db_query(ap->db, ap->sql, errstr, errstr_size)))
                        return db_fail(ap, mysql_errno(ap->db), errstr,
                                       errstr_size, "parked documents");
                while ((row = mysql_fetch_row(res))) {
                        unsigned long *len = mysql_fetch_lengths(res);
                        char why[1024];
                        cs_apply_rc_t rc = apply_one(ap, pc->prefix, row[0], len[0],
                                                     row[1], len[1], NULL, 0,
                                                     why, sizeof(why));
                        if (rc == CS_APPLY_RETRY) {
                                snprintf(errstr, errstr_size, "%s", why);
                                mysql_free_result(res);
                                return CS_APPLY_RETRY;
                        }
                        if (rc == CS_APPLY_REJECTED) {
                                /* It can never apply: keep it visible as
                                 * parked with the reason, for --status. */
                                char topic[300], e2[256];
                                cs_error("%s: parked %s can never apply: %s",
                                         pc->prefix, row[0], why);
                                ap->stats.rejected++;
                                /* Recorded for --status (partition and
                                 * offset unknown: -1). */
                                snprintf(topic, sizeof(topic), "%s%s",
                                         ap->conf->kafka.topic_prefix, pc->prefix);
                                if (cs_apply_dead_letter(ap, pc->prefix, topic, -1,
                                                         -1, row[0], len[0], why,
                                                         e2, sizeof(e2)) != CS_APPLY_OK ||
                                    unpark_document(ap, pc, row[0], len[0], e2,
                                                    sizeof(e2)) != CS_APPLY_OK) {
                                        snprintf(errstr, errstr_size, "%s", e2);
                                        mysql_free_result(res);
                                        return CS_APPLY_RETRY;
                                }
                        } else {
                                ap->stats.documents++;
                                ap->stats.parked--;
                        }
                        progressed = 1;
                }
                mysql_free_result(res);
                if (!progressed)
                        break;
        }
        return retry_unique_waits(ap, pc, errstr, errstr_size);
}

cs_apply_rc_t cs_apply_prepare_prefix(cs_apply_t *ap, const char *prefix,
                                      char *errstr, size_t errstr_size)
{
        cs_apply_rc_t rc = CS_APPLY_OK;
        prefix_ctx_t *pc = NULL;

        if (ensure_connected(ap, errstr, errstr_size) != CS_APPLY_OK)
                return CS_APPLY_RETRY;
        for (size_t i = 0; i < ap->prefix_cnt; i++)
                if (!strcmp(ap->prefixes[i].prefix, prefix))
                        pc = &ap->prefixes[i];
        if (pc && pc->ensured) {
                pc->loaded = 0; /* re-read inside the batch's transaction */
                return CS_APPLY_OK;
        }
        pc = prefix_get(ap, prefix, &rc, errstr, errstr_size);
        if (pc)
                pc->loaded = 0;
        return pc ? CS_APPLY_OK : rc;
}

const cs_apply_stats_t *cs_apply_stats(const cs_apply_t *ap)
{
        return &ap->stats;
}

cs_apply_rc_t cs_apply_offset(cs_apply_t *ap, const char *prefix,
                              const char *topic, int partition,
                              long long next_offset, char *errstr,
                              size_t errstr_size)
{
        cs_apply_rc_t rc = CS_APPLY_OK;
        prefix_ctx_t *pc = prefix_get(ap, prefix, &rc, errstr, errstr_size);
        unsigned int dberr = 0;
        cs_db_value_t p[4] = { v_str(topic), v_int(partition), v_str(prefix),
                               v_int(next_offset) };

        if (!pc)
                /* A failure that is not transient only costs the prefetch: the
         * documents' own lookups then meet it and are judged one by one. */
        return rc == CS_APPLY_REJECTED ? CS_APPLY_OK : rc;
        if (RUN("INSERT INTO civisync_offset (topic, partition_no, prefix, "
                "next_offset) VALUES (?,?,?,?) ON DUPLICATE KEY UPDATE "
                "next_offset = VALUES(next_offset)", p, 4, NULL, NULL, NULL,
                NULL) == -1) {
                db_fail(ap, dberr, errstr, errstr_size, "civisync_offset");
                return CS_APPLY_RETRY;
        }
        pc->offsets_touched = 1;
        return CS_APPLY_OK;
}

cs_apply_rc_t cs_apply_dead_letter(cs_apply_t *ap, const char *prefix,
                                   const char *topic, int partition,
                                   long long offset, const char *key,
                                   size_t key_len, const char *error,
                                   char *errstr, size_t errstr_size)
{
        unsigned int dberr = 0;
        cs_db_value_t p[6] = {
                prefix ? v_str(prefix) : (cs_db_value_t){ .kind = CS_VAL_NULL },
                v_str(topic), v_int(partition), v_int(offset),
                key ? (cs_db_value_t){ .kind = CS_VAL_BIN, .s = key,
                                       .len = key_len > 255 ? 255 : key_len }
                    : (cs_db_value_t){ .kind = CS_VAL_NULL },
                { .kind = CS_VAL_BIN, .s = error,
                  .len = strlen(error) > 60000 ? 60000 : strlen(error) },
        };

        if (RUN("INSERT INTO civisync_dead_letter (prefix, topic, partition_no, "
                "offset_no, doc_key, error) VALUES (?,?,?,?,?,?)", p, 6, NULL,
                NULL, NULL, NULL) == -1) {
                db_fail(ap, dberr, errstr, errstr_size, "civisync_dead_letter");
                return CS_APPLY_RETRY;
        }
        return CS_APPLY_OK;
}

cs_apply_rc_t cs_apply_assign(cs_apply_t *ap, const char *prefix,
                              const char *topic, int partition,
                              int partition_count, long long committed,
                              int committed_ours, long long low,
                              long long high, long long *start,
                              long long *replay_end, char *errstr,
                              size_t errstr_size)
{
        cs_apply_rc_t rc = CS_APPLY_OK;
        prefix_ctx_t *pc;
        unsigned int dberr = 0;
        cs_db_value_t k[2] = { v_str(topic), v_int(partition) };

        if (ensure_connected(ap, errstr, errstr_size) != CS_APPLY_OK)
                return CS_APPLY_RETRY;
        long long stored = 0, end = -1, from = -1;
        int found = 0;

        *replay_end = -1;
        if ((rc = cs_apply_prepare_prefix(ap, prefix, errstr, errstr_size)) !=
            CS_APPLY_OK ||
            (rc = cs_apply_begin(ap, errstr, errstr_size)) != CS_APPLY_OK)
                return rc;
        if (!(pc = prefix_get(ap, prefix, &rc, errstr, errstr_size)))
                goto fail;
        if (RUN("SELECT next_offset FROM civisync_offset WHERE topic = ? AND "
                "partition_no = ? FOR UPDATE", k, 2, NULL, NULL, &stored,
                &found) == -1 ||
            (found && RUN("SELECT COALESCE(replay_end, -1) FROM civisync_offset "
                          "WHERE topic = ? AND partition_no = ?", k, 2, NULL,
                          NULL, &end, NULL) == -1) ||
            (found && RUN("SELECT COALESCE(rewind_from, -1) FROM civisync_offset "
                          "WHERE topic = ? AND partition_no = ?", k, 2, NULL,
                          NULL, &from, NULL) == -1)) {
                rc = db_fail(ap, dberr, errstr, errstr_size, "civisync_offset");
                goto fail;
        }
        if (!found) {
                /* Nothing of this partition was ever applied to this master:
                 * read it all, whatever the group committed elsewhere. */
                *start = low >= 0 ? low : -2 /* RD_KAFKA_OFFSET_BEGINNING */;
                if (committed >= 0 && committed > low)
                        cs_warn("%s [%d]: the group committed offset %lld but "
                                "this master has applied nothing from it: "
                                "reading from the beginning (%lld)", topic,
                                partition, committed, low);
                cs_db_value_t q[4] = { v_str(topic), v_int(partition),
                                       v_str(prefix), v_int(low >= 0 ? low : 0) };
                if (RUN("INSERT INTO civisync_offset (topic, partition_no, "
                        "prefix, next_offset) VALUES (?,?,?,?)", q, 4, NULL,
                        NULL, NULL, NULL) == -1) {
                        rc = db_fail(ap, dberr, errstr, errstr_size,
                                     "civisync_offset");
                        goto fail;
                }
        } else if (committed < 0 || committed_ours || committed == stored ||
                   (pc->replay_refresh > 0 && end >= 0 && from == committed)) {
                /* Our own commit (or none): the master is the reference. A
                 * commit behind it means a crash between the DB commit and
                 * the offset commit: those messages are applied already.
                 * The same foreign commit that began the replay in progress
                 * is that replay, resumed. */
                *start = stored;
                if (committed >= 0 && committed != stored)
                        cs_info("%s [%d]: resuming at %lld, where this master's "
                                "applied offset is (the group's commit says %lld)",
                                topic, partition, stored, committed);
        } else if (committed > stored) {
                cs_warn("%s [%d]: the group's offset was moved forward by an "
                        "operator from %lld to %lld: %lld message(s) are skipped "
                        "on request", topic, partition, stored, committed,
                        committed - stored);
                *start = committed;
        } else {
                /* Rewound by an operator (civisync-consume --resync, or
                 * kafka-consumer-groups --reset-offsets): replay up to the
                 * current end as a complete sync of this prefix. */
                cs_db_value_t q[2] = { v_int(partition_count), v_str(prefix) };
                *start = committed;
                if (pc->replay_refresh <= 0 || end >= 0) {
                        cs_info("%s: offsets rewound (%s [%d]: %lld -> %lld): "
                                "replaying up to the current end as a complete "
                                "sync", prefix, topic, partition, stored,
                                committed);
                        if (RUN("UPDATE civisync_prefix SET replay_refresh = "
                                "refresh + 1, refresh = refresh + 1, "
                                "replay_topic_partitions = ?, replay_started_at = "
                                "UTC_TIMESTAMP(), replay_completed_at = NULL "
                                "WHERE prefix = ?", q, 2, NULL, NULL, NULL,
                                NULL) == -1 ||
                            RUN("UPDATE civisync_offset SET replay_end = NULL "
                                "WHERE prefix = ?", q + 1, 1, NULL, NULL, NULL,
                                NULL) == -1) {
                                rc = db_fail(ap, dberr, errstr, errstr_size,
                                             "rewind");
                                goto fail;
                        }
                        pc->refresh++;
                        pc->replay_refresh = pc->refresh;
                }
                end = high;
                from = committed;
        }
        {
                cs_db_value_t q[5] = { v_int(*start), end >= 0 ? v_int(end) :
                                       (cs_db_value_t){ .kind = CS_VAL_NULL },
                                       end >= 0 && from >= 0 ? v_int(from) :
                                       (cs_db_value_t){ .kind = CS_VAL_NULL },
                                       v_str(topic), v_int(partition) };
                if (*start < 0) /* BEGINNING when nothing is known: low */
                        q[0] = v_int(low >= 0 ? low : 0);
                if (RUN("UPDATE civisync_offset SET next_offset = ?, replay_end = ?, "
                        "rewind_from = ? WHERE topic = ? AND partition_no = ?", q, 5,
                        NULL, NULL, NULL, NULL) == -1) {
                        rc = db_fail(ap, dberr, errstr, errstr_size,
                                     "civisync_offset");
                        goto fail;
                }
        }
        *replay_end = end;
        pc->offsets_touched = 1;
        if ((rc = cs_apply_commit(ap, errstr, errstr_size)) != CS_APPLY_OK)
                goto fail;
        return CS_APPLY_OK;
fail:
        cs_apply_rollback(ap);
        /* A failure that is not transient only costs the prefetch: the
         * documents' own lookups then meet it and are judged one by one. */
        return rc == CS_APPLY_REJECTED ? CS_APPLY_OK : rc;
}
