/* test_hostile.c — the consumer against hostile or unusual input: huge nested sets, case-twin prefixes, OMIT columns, polymorphic pairs, master-only rows. */
#include <check.h>
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* ---- helpers ---- */

/* A consumer config for master that accepts prefixes (a libconfig list
 * body; empty: every prefix), with its own dead-letter topic; extra
 * appended verbatim. */
static char *sec_conf(const char *master, const char *prefixes,
                      const char *extra)
{
        char text[4096], dlq[128], name[128];

        snprintf(dlq, sizeof(dlq), "civisync.dlq-%s", master);
        it_topic(dlq, 1);
        snprintf(text, sizeof(text),
                 "master = { socket = \"%s\"; user = \"%s\"; password = \"%s\"; "
                 "database = \"%s\"; };\n"
                 "kafka = { brokers = \"%s\"; group = \"g_%s\"; "
                 "dead_letter_topic = \"%s\";\n"
                 "  properties = ( (\"session.timeout.ms\", \"6000\") ); };\n"
                 "prefixes = [ %s ];\n%s\n",
                 getenv("CS_TEST_MYSQL_SOCKET"), getenv("CS_TEST_MYSQL_USER"),
                 getenv("CS_TEST_MYSQL_PASSWORD"), master, it_brokers(), master,
                 dlq, prefixes, extra ? extra : "");
        snprintf(name, sizeof(name), "security-%s.cfg", master);
        return it_write_file(name, text);
}

/* Writes records (an array of {key, value}) as NDJSON to a temp file named
 * name; returns its path (static buffer). */
static const char *write_ndjson(const char *name, const json_t *records)
{
        static char path[512];
        size_t i;
        json_t *rec;
        FILE *fp;

        snprintf(path, sizeof(path), "%s/%s", it_tmpdir(), name);
        fp = fopen(path, "w");
        ck_assert_ptr_nonnull(fp);
        json_array_foreach(records, i, rec) {
                ck_assert_int_eq(json_dumpf(rec, fp, JSON_COMPACT |
                                            JSON_PRESERVE_ORDER), 0);
                fputc('\n', fp);
        }
        ck_assert_int_eq(fclose(fp), 0);
        return path;
}

/* The records of a complete sync of child to a file (NEW array, control
 * documents included); *path receives the file. */
static json_t *produce_file(const char *prefix, const char *child, char *path,
                            size_t size)
{
        json_t *all = json_array();
        char *line = NULL;
        size_t cap = 0;
        it_run_t r;
        FILE *fp;

        snprintf(path, size, "%s/sec-%s.ndjson", it_tmpdir(), prefix);
        r = it_run("civisync-produce", "-c", it_producer_conf(prefix, child, NULL),
                   "--complete", "--output", path, NULL);
        ck_assert_msg(r.exit_code == 0, "produce exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);
        fp = fopen(path, "r");
        ck_assert_ptr_nonnull(fp);
        while (getline(&line, &cap, fp) > 0) {
                json_t *rec = json_loads(line, JSON_ALLOW_NUL, NULL);
                ck_assert_ptr_nonnull(rec);
                json_array_append_new(all, rec);
        }
        free(line);
        fclose(fp);
        return all;
}

/* The first record whose key holds /table/ and that satisfies want (or
 * any, if want is NULL); BORROWED. */
static json_t *pick(json_t *records, const char *table,
                    int (*want)(const json_t *value))
{
        char needle[96];
        size_t i;
        json_t *rec;

        snprintf(needle, sizeof(needle), "/%s/", table);
        json_array_foreach(records, i, rec) {
                const char *key = json_string_value(json_object_get(rec, "key"));
                if (key && strstr(key, needle) &&
                    (!want || want(json_object_get(rec, "value"))))
                        return rec;
        }
        return NULL;
}

static it_run_t consume_file(const char *conf, const char *file,
                             const char *prefix)
{
        return it_run("civisync-consume", "-c", conf, "--input", file,
                      "--prefix", prefix, NULL);
}

static void consume_file_ok(const char *conf, const char *file,
                            const char *prefix)
{
        it_run_t r = consume_file(conf, file, prefix);
        ck_assert_msg(r.exit_code == 0, "consume --input %s exit %d: %s", file,
                      r.exit_code, r.err);
        it_run_free(&r);
}

/* An envelope for prefix/table/id (NEW). */
static json_t *envelope(const char *prefix, const char *entity,
                        const char *table, long long id)
{
        char key[160];

        snprintf(key, sizeof(key), "%s/%s/%lld", prefix, table, id);
        return json_pack("{s:s, s:i, s:s, s:s, s:s, s:I, s:n}", "id", key,
                         "civisync_format", 1, "civisync_prefix", prefix,
                         "civisync_entity", entity, "civisync_table", table,
                         "civisync_child_id", (json_int_t)id,
                         "civisync_time_zone");
}

/* A record {key, value} for a contact with emails first..last (NEW). */
static json_t *contact_with_emails(const char *prefix, long long first,
                                   long long last)
{
        json_t *doc = envelope(prefix, "contact", "civicrm_contact", 1);
        json_t *kids = json_array();

        json_object_set_new(doc, "contact_type", json_string("Individual"));
        json_object_set_new(doc, "display_name", json_string("Many Emails"));
        for (long long e = first; e <= last; e++) {
                json_t *em = envelope(prefix, "email", "civicrm_email", e);
                char addr[64];
                snprintf(addr, sizeof(addr), "e%lld@example.org", e);
                json_object_set_new(em, "contact_id", json_integer(1));
                json_object_set_new(em, "email", json_string(addr));
                json_array_append_new(kids, em);
        }
        json_object_set_new(doc, "_childDocuments_", kids);
        return json_pack("{s:O, s:o}", "key", json_object_get(doc, "id"),
                         "value", doc);
}

/* ---- 1. replace-set of a root with tens of thousands of nested rows ---- */

/* An update of a contact with 20,000 and then 40,000 nested emails: the
 * replace-set used to build its NOT IN list into a 32 KB stack buffer
 * (stack overflow, SIGSEGV, crash loop), and above ~32k rows it rejected
 * the document. Any size must apply, leaving exactly the document's rows. */
START_TEST(test_huge_nested_update)
{
        char master[64], prefix[40];
        const char *conf, *file;
        json_t *recs;
        MYSQL *m;
        it_run_t r;
        const struct { long long first, last; } steps[] = {
                { 1, 20000 },    /* insert */
                { 2, 20001 },    /* update: email 1 goes, 20001 comes */
                { 3, 40002 },    /* update: 40,000 rows */
        };

        it_unique(master, sizeof(master), "master");
        it_unique(prefix, sizeof(prefix), "big");
        it_make_db(master, "--schema 5");
        conf = sec_conf(master, "", "max_document_bytes = 50000000;");
        m = it_connect(master);
        for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
                char name[64];
                recs = json_array();
                json_array_append_new(recs, contact_with_emails(prefix, steps[s].first,
                                                                steps[s].last));
                snprintf(name, sizeof(name), "huge-%s-%zu.ndjson", prefix, s);
                file = write_ndjson(name, recs);
                json_decref(recs);
                r = consume_file(conf, file, prefix);
                ck_assert_msg(r.exit_code == 0, "step %zu (emails %lld..%lld): "
                              "consume exit %d\n%s", s, steps[s].first,
                              steps[s].last, r.exit_code, r.err);
                it_run_free(&r);
                ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_email e "
                                        "JOIN mapping_master_%s mp ON mp.entity_table = "
                                        "'civicrm_contact' AND mp.child_entity_id = 1 "
                                        "AND e.contact_id = mp.master_entity_id", prefix),
                                 steps[s].last - steps[s].first + 1);
                ck_assert_int_eq(it_mapped_rows(m, prefix, "civicrm_email"),
                                 steps[s].last - steps[s].first + 1);
                ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_email e "
                                        "JOIN mapping_master_%s mp ON mp.entity_table = "
                                        "'civicrm_email' AND mp.master_entity_id = e.id "
                                        "WHERE mp.child_entity_id BETWEEN %lld AND %lld "
                                        "AND e.email = CONCAT('e', mp.child_entity_id, "
                                        "'@example.org')", prefix, steps[s].first,
                                        steps[s].last),
                                 steps[s].last - steps[s].first + 1);
        }
        mysql_close(m);
}
END_TEST

/* ---- 2. prefixes that differ only in case ---- */

static void lower(char *s)
{
        for (; *s; s++)
                *s = (char)tolower((unsigned char)*s);
}

/* A CRC32 of the state columns of prefix's civisync_prefix row (-1: none). */
static long long prefix_row_crc(MYSQL *m, const char *prefix)
{
        return it_int(m, "SELECT COALESCE(MAX(CRC32(CONCAT_WS('|', prefix, generation, "
                      "completed_generation, COALESCE(completed_at, ''), "
                      "COALESCE(last_error, ''), refresh, generation_refresh, "
                      "replay_refresh))), -1) FROM civisync_prefix WHERE prefix = "
                      "BINARY '%s'", prefix);
}

/* Prefix P syncs through Kafka; then a child with prefix p, differing only
 * in case, sends a complete sync. Its state must not touch P's (before:
 * one shared civisync_prefix row, P's generation moved), and since the
 * master's CiviCRM UNIQUE keys ignore case ("P:Major Donor" and
 * "p:Major Donor" collide) p is refused: its documents are dead-lettered
 * with a reason naming the problem, and P's generation, offsets and rows
 * stay as they were. */
START_TEST(test_prefix_case_twins)
{
        char master[64], child[64], up[40], lo[40], tup[80], tlo[80], list[128];
        long long crc_before, off_before, gen_up;
        const char *conf;
        MYSQL *m, *c;
        it_run_t r;

        it_unique(up, sizeof(up), "CaseP");
        snprintf(lo, sizeof(lo), "%s", up);
        lower(lo);
        snprintf(tup, sizeof(tup), "civisync.%s", up);
        snprintf(tlo, sizeof(tlo), "civisync.%s", lo);
        it_master_and_child(master, child, sizeof(master), "--child 3 --contacts 20",
                            tup, 1);
        it_topic(tlo, 1);
        snprintf(list, sizeof(list), "\"%s\", \"%s\"", up, lo);
        conf = sec_conf(master, list, NULL);
        m = it_connect(master);
        c = it_connect(child);

        r = it_run("civisync-produce", "-c", it_producer_conf(up, child, NULL),
                   "--complete", NULL);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        it_run_free(&r);
        r = it_run("civisync-consume", "-c", conf, "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "consume exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);
        it_assert_synced(c, m, up);
        gen_up = it_int(m, "SELECT generation FROM civisync_prefix WHERE prefix = "
                        "BINARY '%s'", up);
        ck_assert_int_gt(gen_up, 0);
        crc_before = prefix_row_crc(m, up);
        off_before = it_int(m, "SELECT next_offset FROM civisync_offset WHERE "
                            "topic = BINARY '%s' AND partition_no = 0", tup);
        ck_assert_int_gt(off_before, 0);

        /* Now the lower-case twin: a complete sync of its own. */
        r = it_run("civisync-produce", "-c", it_producer_conf(lo, child, NULL),
                   "--complete", NULL);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        it_run_free(&r);
        r = it_run("civisync-consume", "-c", conf, "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "consume exit %d: %s", r.exit_code, r.err);
        ck_assert_int_eq(it_int(m, "SELECT generation FROM civisync_prefix WHERE "
                                "prefix = BINARY '%s'", up), gen_up);
        ck_assert_msg(prefix_row_crc(m, up) == crc_before,
                      "%s's civisync_prefix row changed by a sync of %s", up, lo);
        /* Every message of p was read (none skipped through P's offset)
         * and dead-lettered with the reason. */
        ck_assert_msg(it_int(m, "SELECT COUNT(*) FROM civisync_dead_letter WHERE "
                             "prefix = BINARY '%s' AND error LIKE "
                             "'%%differs only in case%%'", lo) ==
                      it_int(m, "SELECT next_offset FROM civisync_offset WHERE "
                             "topic = BINARY '%s'", tup),
                      "%s's messages were not all dead-lettered: %lld of %lld",
                      lo, it_int(m, "SELECT COUNT(*) FROM civisync_dead_letter "
                                 "WHERE prefix = BINARY '%s'", lo),
                      off_before);
        ck_assert_msg(strstr(r.err, "differs only in case"), "%s", r.err);
        it_run_free(&r);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_prefix"), 1);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_offset WHERE "
                                "topic = BINARY '%s'", tup), 1);
        ck_assert_int_eq(it_int(m, "SELECT next_offset FROM civisync_offset WHERE "
                                "topic = BINARY '%s' AND partition_no = 0", tup),
                         off_before);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM information_schema.TABLES "
                                "WHERE TABLE_SCHEMA = DATABASE() AND BINARY "
                                "TABLE_NAME = 'mapping_master_%s'", lo), 0);
        it_assert_synced(c, m, up);
        mysql_close(m);
        mysql_close(c);
}
END_TEST

/* civisync's own tables as releases before case-exact prefixes made them
 * (the collation of every text column: utf8mb4_unicode_ci). */
static const char *const old_tables[] = {
        "CREATE TABLE civisync_prefix (prefix varchar(32) NOT NULL PRIMARY KEY,"
        " generation bigint NOT NULL DEFAULT 0, replay_partitions int NOT NULL DEFAULT 0,"
        " completed_generation bigint NOT NULL DEFAULT 0, completed_at datetime NULL,"
        " last_error text NULL, refresh bigint NOT NULL DEFAULT 0,"
        " generation_refresh bigint NOT NULL DEFAULT 0, replay_refresh bigint NOT NULL DEFAULT 0,"
        " replay_topic_partitions int NOT NULL DEFAULT 0, replay_started_at datetime NULL,"
        " replay_completed_at datetime NULL, replays_completed int NOT NULL DEFAULT 0"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
        "CREATE TABLE civisync_replay_end (prefix varchar(32) NOT NULL,"
        " generation bigint NOT NULL, partition_no int NOT NULL, counts longtext NOT NULL,"
        " received_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,"
        " PRIMARY KEY (prefix, generation, partition_no)"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
        "CREATE TABLE civisync_parked (prefix varchar(32) NOT NULL,"
        " entity_table varchar(64) NOT NULL, child_entity_id bigint NOT NULL,"
        " column_name varchar(64) NOT NULL, target_table varchar(64) NOT NULL,"
        " target_child_id bigint NOT NULL, raw_value text NULL,"
        " parked_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,"
        " PRIMARY KEY (prefix, entity_table, child_entity_id, column_name),"
        " KEY target (prefix, target_table, target_child_id)"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
        "CREATE TABLE civisync_parked_doc (prefix varchar(32) NOT NULL,"
        " doc_key varchar(191) NOT NULL, target_table varchar(64) NOT NULL,"
        " target_child_id bigint NOT NULL, reason varchar(255) NOT NULL,"
        " value longblob NOT NULL, parked_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,"
        " PRIMARY KEY (prefix, doc_key), KEY target (prefix, target_table, target_child_id)"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
        "CREATE TABLE civisync_offset (topic varchar(255) NOT NULL,"
        " partition_no int NOT NULL, prefix varchar(32) NOT NULL,"
        " next_offset bigint NOT NULL, replay_end bigint NULL, rewind_from bigint NULL,"
        " updated_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,"
        " PRIMARY KEY (topic, partition_no), KEY prefix (prefix)"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
        "CREATE TABLE civisync_dead_letter (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,"
        " prefix varchar(32) NULL, topic varchar(255) NOT NULL, partition_no int NOT NULL,"
        " offset_no bigint NOT NULL, doc_key varbinary(255) NULL, error blob NOT NULL,"
        " at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP, KEY prefix (prefix, id)"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
        NULL
};

/* A master whose civisync tables predate case-exact prefixes is migrated
 * at connect (its rows kept), the migration is idempotent, and a case twin
 * of a known prefix is refused. */
START_TEST(test_prefix_collation_migrated)
{
        char master[64];
        const char *conf, *file;
        json_t *none = json_array();
        MYSQL *m;

        it_unique(master, sizeof(master), "master");
        it_make_db(master, "--schema 5");
        m = it_connect(master);
        for (int i = 0; old_tables[i]; i++)
                it_exec(m, "%s", old_tables[i]);
        it_exec(m, "INSERT INTO civisync_prefix (prefix, generation) VALUES ('MigP', 5)");
        it_exec(m, "INSERT INTO civisync_offset (topic, partition_no, prefix, next_offset) "
                "VALUES ('civisync.MigP', 0, 'MigP', 42)");
        conf = sec_conf(master, "", NULL);
        file = write_ndjson("empty.ndjson", none);
        json_decref(none);
        for (int run = 0; run < 2; run++) {
                consume_file_ok(conf, file, "MigQ");
                /* The 8 of the tables above, and those of any newer
                 * civisync table (the metadata gate's): all binary. */
                ck_assert_int_ge(it_int(m, "SELECT COUNT(*) FROM information_schema.COLUMNS "
                                        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME "
                                        "LIKE 'civisync\\_%%' AND COLUMN_NAME IN ('prefix', "
                                        "'topic') AND COLLATION_NAME = 'utf8mb4_bin'"), 8);
                ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM information_schema.COLUMNS "
                                        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME "
                                        "LIKE 'civisync\\_%%' AND COLUMN_NAME IN ('prefix', "
                                        "'topic') AND COLLATION_NAME <> 'utf8mb4_bin'"), 0);
                ck_assert_int_eq(it_int(m, "SELECT generation FROM civisync_prefix "
                                        "WHERE prefix = 'MigP'"), 5);
                ck_assert_int_eq(it_int(m, "SELECT next_offset FROM civisync_offset "
                                        "WHERE topic = 'civisync.MigP'"), 42);
                ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_prefix "
                                        "WHERE prefix = 'migp'"), 0);
                ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_prefix "
                                        "WHERE prefix = 'MIGP'"), 0);
        }
        /* A case twin of a known prefix is refused, naming why. */
        {
                it_run_t r = consume_file(conf, file, "migp");
                ck_assert_int_eq(r.exit_code, 1);
                ck_assert_msg(strstr(r.err, "prefix 'migp' differs only in case"),
                              "%s", r.err);
                it_run_free(&r);
        }
        mysql_close(m);
}
END_TEST

/* ---- 3. OMIT columns ---- */

/* A hostile document carrying contact.api_key (OMIT: the producer never
 * sends it) is rejected, naming the column; the key never reaches the
 * master, and the other documents land. */
START_TEST(test_omit_column_rejected)
{
        char master[64], child[64], prefix[40], path[512];
        const char *conf, *file;
        json_t *recs, *rec, *bad, *other;
        long long contacts;
        size_t i;
        MYSQL *m, *c;
        it_run_t r;

        it_unique(prefix, sizeof(prefix), "om");
        it_master_and_child(master, child, sizeof(master), "--child 4 --contacts 20",
                            NULL, 0);
        recs = produce_file(prefix, child, path, sizeof(path));
        conf = sec_conf(master, "", NULL);
        rec = pick(recs, "civicrm_contact", NULL);
        ck_assert_ptr_nonnull(rec);
        ck_assert_ptr_null(json_object_get(json_object_get(rec, "value"), "api_key"));
        json_object_set_new(json_object_get(rec, "value"), "api_key",
                            json_string("stolen-secret"));
        /* Another contact (mapped by this run), for an update below. */
        bad = NULL;
        json_array_foreach(recs, i, other) {
                const char *key = json_string_value(json_object_get(other, "key"));
                if (other != rec && strstr(key, "/civicrm_contact/")) {
                        bad = json_deep_copy(other);
                        break;
                }
        }
        ck_assert_ptr_nonnull(bad);
        file = write_ndjson("omit.ndjson", recs);
        r = consume_file(conf, file, prefix);
        ck_assert_msg(r.exit_code == 1, "exit %d: %s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "rejected: ") && strstr(r.err, "api_key"),
                      "%s", r.err);
        ck_assert_msg(strstr(r.err, "1 record(s) rejected"), "%s", r.err);
        it_run_free(&r);
        m = it_connect(master);
        c = it_connect(child);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_contact WHERE "
                                "api_key IS NOT NULL"), 0);
        contacts = it_child_rows(c, "civicrm_contact");
        ck_assert_int_eq(it_mapped_rows(m, prefix, "civicrm_contact"), contacts - 1);

        /* The same as an update of a contact that is mapped. */
        json_decref(recs);
        recs = json_array();
        rec = bad;
        json_object_set_new(json_object_get(rec, "value"), "api_key",
                            json_string("stolen-secret"));
        json_array_append_new(recs, rec);
        file = write_ndjson("omit2.ndjson", recs);
        r = consume_file(conf, file, prefix);
        ck_assert_msg(r.exit_code == 1, "exit %d: %s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "api_key"), "%s", r.err);
        it_run_free(&r);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_contact WHERE "
                                "api_key IS NOT NULL"), 0);
        json_decref(recs);
        mysql_close(m);
        mysql_close(c);
}
END_TEST

/* ---- 4. polymorphic pairs ---- */

static int note_on_contact(const json_t *v)
{
        const char *t = json_string_value(json_object_get(v, "entity_table"));
        return t && !strcmp(t, "civicrm_contact");
}

/* An update of a note carrying only entity_table (no entity_id) must not
 * move it to another table: the pair is validated on every write. */
START_TEST(test_poly_pair_validated)
{
        char master[64], child[64], prefix[40], path[512];
        const char *conf, *file;
        json_t *recs, *note, *upd;
        long long child_note, master_note, master_contact;
        MYSQL *m;
        it_run_t r;
        const char *moves[] = { "civicrm_contribution", "civicrm_activity" };

        it_unique(prefix, sizeof(prefix), "po");
        it_master_and_child(master, child, sizeof(master), "--child 5 --contacts 40",
                            NULL, 0);
        recs = produce_file(prefix, child, path, sizeof(path));
        conf = sec_conf(master, "", NULL);
        consume_file_ok(conf, path, prefix);
        note = pick(recs, "civicrm_note", note_on_contact);
        ck_assert_ptr_nonnull(note);
        note = json_deep_copy(note); /* recs goes below */
        child_note = json_integer_value(json_object_get(json_object_get(note, "value"),
                                                        "civisync_child_id"));
        m = it_connect(master);
        master_note = it_int(m, "SELECT master_entity_id FROM mapping_master_%s WHERE "
                             "entity_table = 'civicrm_note' AND child_entity_id = %lld",
                             prefix, child_note);
        master_contact = it_int(m, "SELECT entity_id FROM civicrm_note WHERE id = %lld",
                                master_note);
        json_decref(recs);

        recs = json_array();
        for (size_t i = 0; i < 2; i++) {
                upd = json_deep_copy(note);
                json_object_del(json_object_get(upd, "value"), "entity_id");
                json_object_set_new(json_object_get(upd, "value"), "entity_table",
                                    json_string(moves[i]));
                json_array_append_new(recs, upd);
        }
        /* entity_id alone, without entity_table */
        upd = json_deep_copy(note);
        json_object_del(json_object_get(upd, "value"), "entity_table");
        json_array_append_new(recs, upd);
        file = write_ndjson("poly.ndjson", recs);
        r = consume_file(conf, file, prefix);
        ck_assert_msg(r.exit_code == 1, "exit %d: %s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "3 record(s) rejected"), "%s", r.err);
        ck_assert_msg(strstr(r.err, "entity_table"), "%s", r.err);
        it_run_free(&r);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_note WHERE id = %lld "
                                "AND entity_table = 'civicrm_contact' AND entity_id = "
                                "%lld", master_note, master_contact), 1);
        json_decref(recs);
        json_decref(note);
        mysql_close(m);
}
END_TEST

/* ---- 5. rows civisync does not own ---- */

static int has_two_emails(const json_t *v)
{
        json_t *kids = json_object_get(v, "_childDocuments_"), *k;
        size_t i, n = 0;

        json_array_foreach(kids, i, k)
                if (!strcmp(json_string_value(json_object_get(k, "civisync_entity")),
                            "email"))
                        n++;
        return n >= 2;
}

/* An email added directly on the master to a synced contact survives the
 * contact's next update (the replace-set deletes only rows of the
 * document's prefix), and civisync-verify reports it. */
START_TEST(test_replace_set_keeps_unmapped_rows)
{
        char master[64], child[64], prefix[40], path[512], want[160];
        const char *conf, *file;
        json_t *recs, *rec, *kids, *k;
        long long contact_child, contact_master, gone_email = 0, master_only;
        size_t i;
        MYSQL *m, *c;
        it_run_t r;

        it_unique(prefix, sizeof(prefix), "ow");
        it_master_and_child(master, child, sizeof(master), "--child 6 --contacts 40",
                            NULL, 0);
        recs = produce_file(prefix, child, path, sizeof(path));
        conf = sec_conf(master, "", NULL);
        consume_file_ok(conf, path, prefix);
        m = it_connect(master);
        c = it_connect(child);
        rec = json_deep_copy(pick(recs, "civicrm_contact", has_two_emails));
        ck_assert_ptr_nonnull(rec);
        json_decref(recs);
        contact_child = json_integer_value(json_object_get(json_object_get(rec, "value"),
                                                           "civisync_child_id"));
        contact_master = it_int(m, "SELECT master_entity_id FROM mapping_master_%s "
                                "WHERE entity_table = 'civicrm_contact' AND "
                                "child_entity_id = %lld", prefix, contact_child);
        it_exec(m, "INSERT INTO civicrm_email (contact_id, email, is_primary) "
                "VALUES (%lld, 'master-only@example.org', 0)", contact_master);
        master_only = it_int(m, "SELECT LAST_INSERT_ID()");

        /* The child drops its last email of that contact; the update says so. */
        kids = json_object_get(json_object_get(rec, "value"), "_childDocuments_");
        for (i = json_array_size(kids); i-- > 0;) {
                k = json_array_get(kids, i);
                if (!strcmp(json_string_value(json_object_get(k, "civisync_entity")),
                            "email")) {
                        gone_email = json_integer_value(json_object_get(
                                k, "civisync_child_id"));
                        json_array_remove(kids, i);
                        break;
                }
        }
        ck_assert_int_gt(gone_email, 0);
        it_exec(c, "DELETE FROM civicrm_email WHERE id = %lld", gone_email);
        recs = json_array();
        json_array_append_new(recs, rec);
        file = write_ndjson("owned.ndjson", recs);
        json_decref(recs);
        consume_file_ok(conf, file, prefix);
        /* Twice: an unchanged update must not touch it either. */
        consume_file_ok(conf, file, prefix);

        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_email WHERE id = %lld "
                                "AND contact_id = %lld", master_only, contact_master), 1);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM mapping_master_%s WHERE "
                                "entity_table = 'civicrm_email' AND child_entity_id = "
                                "%lld", prefix, gone_email), 0);
        it_assert_synced(c, m, prefix);

        r = it_run("civisync-verify", "--child-config",
                   it_producer_conf(prefix, child, NULL), "--master-config", conf,
                   NULL);
        ck_assert_msg(r.exit_code == 0, "verify exit %d\n%s\n%s", r.exit_code,
                      r.out, r.err);
        snprintf(want, sizeof(want), "verify %s: 0 differences", prefix);
        ck_assert_msg(strstr(r.out, want), "%s", r.out);
        ck_assert_msg(strstr(r.out, "email: 1 unmapped master row attached to "
                             "mapped parents"), "%s", r.out);
        it_run_free(&r);
        mysql_close(m);
        mysql_close(c);
}
END_TEST

static void add(Suite *s, const char *name, const TTest *test)
{
        TCase *tc = tcase_create(name);
        tcase_set_timeout(tc, 600);
        tcase_add_test(tc, test);
        suite_add_tcase(s, tc);
}

Suite *hostile_suite(void)
{
        Suite *s = suite_create("hostile");

        add(s, "huge_nested", test_huge_nested_update);
        add(s, "prefix_case", test_prefix_case_twins);
        add(s, "prefix_migration", test_prefix_collation_migrated);
        add(s, "omit_column", test_omit_column_rejected);
        add(s, "poly_pair", test_poly_pair_validated);
        add(s, "unmapped_rows", test_replace_set_keeps_unmapped_rows);
        return s;
}
