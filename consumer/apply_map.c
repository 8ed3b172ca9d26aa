/* apply_map.c — prefix state, mapping tables, their per-transaction cache and prefetch. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prefix.h"
#include "apply_int.h"

/* ---- prefixes and mapping ---- */

prefix_ctx_t *ap_prefix_get(cs_apply_t *ap, const char *prefix, ap_rc_t *rc,
                            char *errstr, size_t errstr_size)
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
                        *rc = AP_RETRY;
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
                        *rc = AP_REJECTED;
                        return NULL;
                }
        }
        if (pc->loaded)
                return pc;
        if (pc->ensured)
                goto load;
        /* Case twins are refused: civisync's own state is case-exact, but
         * the master's CiviCRM UNIQUE keys ignore case, so the qualified
         * values "P:Major Donor" and "p:Major Donor" would collide (and so
         * would the mapping tables under lower_case_table_names). */
        {
                cs_db_value_t q[2] = { v_str(prefix), v_str(prefix) };
                long long twins = 0;
                if (ap_run(ap, "SELECT COUNT(*) FROM civisync_prefix WHERE "
                           "LOWER(prefix) = LOWER(?) AND prefix <> ?", q, 2, NULL,
                           NULL, &twins, &found, &dberr, errstr,
                           errstr_size) == -1) {
                        *rc = ap_db_fail(ap, dberr, errstr, errstr_size,
                                         "prefix state");
                        return NULL;
                }
                if (twins) {
                        snprintf(errstr, errstr_size, "prefix '%s' differs only "
                                 "in case from a prefix the master already has "
                                 "(civisync_prefix): refused, since the master's "
                                 "UNIQUE keys ignore case; give this child "
                                 "another prefix", prefix);
                        *rc = AP_REJECTED;
                        return NULL;
                }
        }
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
                *rc = ap_db_fail(ap, mysql_errno(ap->db), errstr, errstr_size,
                              "create mapping table");
                return NULL;
        }
        pc->ensured = 1;
load:
        p[0] = v_str(prefix);
        if (ap_run(ap, "INSERT IGNORE INTO civisync_prefix (prefix) VALUES (?)", p, 1,
                   NULL, NULL, NULL, NULL, &dberr, errstr, errstr_size) == -1 ||
            ap_run(ap, "SELECT generation FROM civisync_prefix WHERE prefix = ?", p, 1,
                   NULL, NULL, &pc->generation, &found,
                   &dberr, errstr, errstr_size) == -1 ||
            ap_run(ap, "SELECT refresh FROM civisync_prefix WHERE prefix = ?", p, 1,
                   NULL, NULL, &pc->refresh, &found,
                   &dberr, errstr, errstr_size) == -1 ||
            ap_run(ap, "SELECT generation_refresh FROM civisync_prefix WHERE prefix = ?",
                   p, 1, NULL, NULL, &pc->generation_refresh, &found,
                   &dberr, errstr, errstr_size) == -1 ||
            ap_run(ap, "SELECT replay_refresh FROM civisync_prefix WHERE prefix = ?", p, 1,
                   NULL, NULL, &pc->replay_refresh, &found,
                   &dberr, errstr, errstr_size) == -1 ||
            ap_run(ap, "SELECT completed_generation FROM civisync_prefix WHERE prefix = ?",
                   p, 1, NULL, NULL, &pc->completed_generation, &found,
                   &dberr, errstr, errstr_size) == -1 ||
            ap_run(ap, "SELECT EXISTS (SELECT 1 FROM civisync_parked WHERE prefix = ?)",
                   p, 1, NULL, NULL, &parked, &found,
                   &dberr, errstr, errstr_size) == -1 ||
            ap_run(ap, "SELECT EXISTS (SELECT 1 FROM civisync_parked_doc WHERE prefix = ?)",
                   p, 1, NULL, NULL, &parked_doc, &found,
                   &dberr, errstr, errstr_size) == -1) {
                *rc = ap_db_fail(ap, dberr, errstr, errstr_size, "prefix state");
                return NULL;
        }
        pc->has_parked = parked != 0;
        pc->has_parked_doc = parked_doc != 0;
        pc->meta_conflicts = -1;
        pc->gate_applied_run = 0;
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
        *eno = (unsigned short)ap_entity_index(ent);
        h = ((unsigned long long)child_id * 0x9E3779B97F4A7C15ULL) ^
            ((unsigned long long)*eno << 40) ^ ((unsigned long long)pno << 52);
        h ^= h >> 29;
        return &ap->map_cache[(h % (MAP_CACHE_SIZE / MAP_WAYS)) * MAP_WAYS];
}

/* The current epoch of entity eno's entries (ap_map_forget_table). */
static unsigned int table_epoch(const cs_apply_t *ap, unsigned short eno)
{
        return ap->table_epoch ? ap->table_epoch[eno] : 0;
}

static map_entry_t *map_cached(cs_apply_t *ap, prefix_ctx_t *pc,
                               const char *table, long long child_id)
{
        unsigned short eno = 0;
        map_entry_t *set = map_set_of(ap, pc, table, child_id, &eno);

        for (int w = 0; set && w < MAP_WAYS; w++) {
                map_entry_t *e = &set[w];
                if (e->epoch == ap->map_epoch && e->child_id == child_id &&
                    e->table_epoch == table_epoch(ap, eno) &&
                    e->prefix_no == (unsigned short)(pc - ap->prefixes) &&
                    e->entity_no == eno)
                        return e;
        }
        return NULL;
}

/* map_cached for the unit tests (tests/unit/test_consumer_internals.c). */
map_entry_t *ap_map_cached(cs_apply_t *ap, prefix_ctx_t *pc, const char *table,
                           long long child_id)
{
        return map_cached(ap, pc, table, child_id);
}

void ap_map_remember(cs_apply_t *ap, prefix_ctx_t *pc, const char *table,
                     long long child_id, long long master_id,
                     long long generation)
{
        unsigned short eno = 0;
        map_entry_t *set = map_set_of(ap, pc, table, child_id, &eno);
        map_entry_t *e = map_cached(ap, pc, table, child_id);

        if (!set)
                return;
        for (int w = 0; !e && w < MAP_WAYS; w++)
                if (set[w].epoch != ap->map_epoch ||
                    set[w].table_epoch != table_epoch(ap, set[w].entity_no))
                        e = &set[w];
        if (!e) /* the set is full: the newest entries stay */
                e = &set[(ap->map_victim++) % MAP_WAYS];
        e->epoch = ap->map_epoch;
        e->table_epoch = table_epoch(ap, eno);
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
void ap_map_journal_start(cs_apply_t *ap)
{
        ap->journaling = 1;
        ap->journal_n = 0;
        ap->journal_overflow = 0;
}

/* Stops recording; rolled_back: forget what was recorded (the rows and
 * mapping rows behind those entries are gone). */
void ap_map_journal_end(cs_apply_t *ap, int rolled_back)
{
        ap->journaling = 0;
        if (!rolled_back)
                return;
        if (ap->journal_overflow) {
                ap_map_forget_all(ap);
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
void ap_map_forget_all(cs_apply_t *ap)
{
        ap->map_epoch++;
}

/* Forgets the cached mappings of one table, in every prefix (after a
 * statement that deleted mapping rows of that entity_table): the others,
 * prefetched for the rest of the window, stay. */
void ap_map_forget_table(cs_apply_t *ap, const char *table)
{
        const cs_entity_t *ent = cs_reg_by_table(table);

        if (!ent) /* not synced: never cached */
                return;
        if (!ap->table_epoch) {
                ap_map_forget_all(ap);
                return;
        }
        ap->table_epoch[ap_entity_index(ent)]++;
}

/* Forgets one cached mapping (its mapping row was deleted). */
void ap_map_forget(cs_apply_t *ap, prefix_ctx_t *pc, const char *table,
                   long long child_id)
{
        map_entry_t *e = map_cached(ap, pc, table, child_id);

        if (e)
                e->epoch = 0;
}

static void lookup_row(void *ctx, const long long *v)
{
        long long *out = ctx;
        out[0] = v[0];
        out[1] = v[1];
}

/* AP_MAP_FOUND (*master_id set), AP_MAP_NONE (not mapped) or AP_MAP_ERROR
 * (*dberr_out, errstr). */
ap_map_rc_t ap_map_lookup(cs_apply_t *ap, prefix_ctx_t *pc, const char *table,
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
                return e->master_id > 0 ? AP_MAP_FOUND : AP_MAP_NONE;
        }
        snprintf(ap->sql, SQL_MAX, "SELECT master_entity_id, generation FROM "
                 "`%s` WHERE entity_table = ? AND child_entity_id = ?", pc->map);
        if (cs_db_run_rows(ap->cache, ap->sql, p, 2, 2, lookup_row, row, &dberr,
                           errstr, errstr_size) == -1) {
                *dberr_out = dberr;
                return AP_MAP_ERROR;
        }
        *master_id = row[0];
        if (row[0] > 0)
                ap_map_remember(ap, pc, table, child_id, row[0], row[1]);
        return row[0] > 0 ? AP_MAP_FOUND : AP_MAP_NONE;
}

int ap_map_set(cs_apply_t *ap, prefix_ctx_t *pc, const char *table,
               long long child_id, long long master_id, unsigned int *dberr_out,
               char *errstr, size_t errstr_size)
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
        if (ap_run(ap, ap->sql, p, 4, NULL, NULL, NULL, NULL,
                   &dberr, errstr, errstr_size) == -1) {
                *dberr_out = dberr;
                return -1;
        }
        ap_map_remember(ap, pc, table, child_id, master_id, pc->refresh);
        return 0;
}

/* ---- prefetch ---- */

#define IN_CHUNK_MAX 256

struct prefetch_s {
        cs_apply_t *ap;
        prefix_ctx_t *pc;
        long long **ids;        /* per registry entity */
        size_t *n, *cap;
        const cs_entity_t *found_ent;
        const long long *asked;  /* found_ent's ids, sorted, unique */
        size_t asked_n;
        unsigned char *found;    /* per asked id: a mapping row came back */
};

static int prefetch_visit(void *ctx, const cs_entity_t *ent, long long id,
                          int own)
{
        prefetch_t *pf = ctx;
        size_t e = ap_entity_index(ent);

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


static int ll_cmp(const void *a, const void *b)
{
        long long x = *(const long long *)a, y = *(const long long *)b;
        return x < y ? -1 : x > y;
}

static void prefetch_row(void *ctx, const long long *v)
{
        prefetch_t *pf = ctx;
        const long long *hit;

        if (v[1] <= 0) /* child id, master id, generation */
                return;
        ap_map_remember(pf->ap, pf->pc, pf->found_ent->table, v[0], v[1], v[2]);
        /* Noted apart from the cache: a full cache set may evict this entry
         * before the misses are recorded, and an evicted hit must never turn
         * into "not mapped" (the row would be inserted a second time). */
        hit = bsearch(&v[0], pf->asked, pf->asked_n, sizeof(*hit), ll_cmp);
        if (hit)
                pf->found[hit - pf->asked] = 1;
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
int ap_run_in_chunks(cs_apply_t *ap, const char *head,
                     const cs_db_value_t *fixed, size_t nfixed,
                     const cs_db_value_t *vals, size_t n, prefetch_t *pf,
                     unsigned int *dberr, char *errstr, size_t errstr_size)
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
ap_rc_t ap_prefetch_mappings(cs_apply_t *ap, prefix_ctx_t *pc, json_t **docs,
                             const cs_entity_t **ents, const size_t *pc_of,
                             const long long *tomb_ids, size_t pc_no, size_t n,
                             char *errstr, size_t errstr_size)
{
        prefetch_t pf = { .ap = ap, .pc = pc };
        ap_rc_t rc = AP_OK;
        unsigned int dberr = 0;

        pf.ids = calloc(ap->entity_cnt, sizeof(*pf.ids));
        pf.n = calloc(ap->entity_cnt, sizeof(*pf.n));
        pf.cap = calloc(ap->entity_cnt, sizeof(*pf.cap));
        if (!pf.ids || !pf.n || !pf.cap)
                goto oom;
        for (size_t i = 0; i < n; i++) {
                if (docs[i] && pc_of[i] == pc_no &&
                    ap_doc_visit_ids(ents[i], docs[i], prefetch_visit, &pf) == -1)
                        goto oom;
                if (!docs[i] && tomb_ids && tomb_ids[i] > 0 && pc_of[i] == pc_no &&
                    prefetch_visit(&pf, ents[i], tomb_ids[i], 1) == -1)
                        goto oom;
        }
        for (size_t e = 0; e < ap->entity_cnt && rc == AP_OK; e++) {
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
                free(pf.found);
                if (!(pf.found = calloc(u, 1))) {
                        free(vals);
                        goto oom;
                }
                for (size_t i = 0; i < u; i++)
                        vals[i] = v_int(pf.ids[e][i]);
                pf.found_ent = ent;
                pf.asked = pf.ids[e];
                pf.asked_n = u;
                snprintf(ap->sql, SQL_MAX, "SELECT child_entity_id, "
                         "master_entity_id, generation FROM `%s` WHERE "
                         "entity_table = ? AND child_entity_id IN", pc->map);
                if (ap_run_in_chunks(ap, ap->sql, fixed, 1, vals, u, &pf, &dberr,
                                     errstr, errstr_size) == -1)
                        rc = ap_db_fail(ap, dberr, errstr, errstr_size,
                                        "mapping prefetch");
                free(vals);
                for (size_t i = 0; rc == AP_OK && i < u; i++)
                        if (!pf.found[i])
                                ap_map_remember(ap, pc, ent->table, pf.ids[e][i],
                                                0, -1);
        }
        goto done;
oom:
        snprintf(errstr, errstr_size, "out of memory");
        rc = AP_RETRY;
done:
        for (size_t e = 0; pf.ids && e < ap->entity_cnt; e++)
                free(pf.ids[e]);
        free(pf.ids);
        free(pf.n);
        free(pf.cap);
        free(pf.found);
        /* A failure that is not transient only costs the prefetch: the
         * documents' own lookups then meet it and are judged one by one. */
        return rc == AP_REJECTED ? AP_OK : rc;
}
