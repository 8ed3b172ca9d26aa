/* consume_util.c — helpers of the consumer's integration tests (test_consume.c, test_recovery.c). */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include "consume_util.h"
#include "doc.h"
#include "harness.h"
#include "kafka_util.h"

/* A consumer config with its own group and dead-letter topic. */
char *ct_consumer_conf(const char *master, const char *dlq,
                           const char *prefixes, const char *extra)
{
        static char paths[4][512];
        static int slot;
        char *path = paths[slot++ % 4];
        FILE *fp;

        snprintf(path, 512, "%s/consume-%s-%d.cfg", it_tmpdir(), master, slot);
        fp = fopen(path, "w");
        ck_assert_ptr_nonnull(fp);
        fprintf(fp,
                "master = { socket = \"%s\"; user = \"%s\"; password = \"%s\"; "
                "database = \"%s\"; };\n"
                "kafka = { brokers = \"%s\"; group = \"g_%s\"; dead_letter_topic = \"%s\";\n"
                "  properties = ( (\"session.timeout.ms\", \"6000\") ); };\n"
                "prefixes = [ %s ];\n%s\n",
                getenv("CS_TEST_MYSQL_SOCKET"), getenv("CS_TEST_MYSQL_USER"),
                getenv("CS_TEST_MYSQL_PASSWORD"), master, it_brokers(), master,
                dlq, prefixes, extra ? extra : "");
        fclose(fp);
        return path;
}

it_run_t ct_consume(const char *conf)
{
        return it_run("civisync-consume", "-c", conf, "--once", NULL);
}

void ct_consume_ok(const char *conf)
{
        it_run_t r = ct_consume(conf);
        ck_assert_msg(r.exit_code == 0, "consume exit %d: %s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "rejected to") == NULL, "rejections: %s", r.err);
        it_run_free(&r);
}

void ct_produce_ok(const char *conf)
{
        it_run_t r = it_run("civisync-produce", "-c", conf, "--complete", NULL);
        ck_assert_msg(r.exit_code == 0, "produce exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);
}

/* The documents of a complete sync of child as {key, value} records (NEW
 * array of objects; control documents and the metadata gate's fingerprints
 * left out unless with_control, and then the entity documents' gate
 * stamps too, as from a producer before them: a stamped document waits
 * for its run's gate documents, FORMAT.md §7.1). */
json_t *ct_child_docs(const char *prefix, const char *child, int with_control)
{
        char out[512];
        it_run_t r;
        FILE *fp;
        char *line = NULL;
        size_t cap = 0;
        json_t *all = json_array();

        snprintf(out, sizeof(out), "%s/docs-%s.ndjson", it_tmpdir(), prefix);
        r = it_run("civisync-produce", "-c", it_producer_conf(prefix, child, NULL),
                   "--complete", "--output", out, NULL);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        it_run_free(&r);
        fp = fopen(out, "r");
        ck_assert_ptr_nonnull(fp);
        while (getline(&line, &cap, fp) > 0) {
                json_t *rec = json_loads(line, JSON_ALLOW_NUL, NULL);
                const char *key = json_string_value(json_object_get(rec, "key"));
                ck_assert_ptr_nonnull(key);
                if (with_control || (!strstr(key, "/civisync_control") &&
                                     !strstr(key, "/civisync_metadata/"))) {
                        json_t *value = json_object_get(rec, "value"); /* BORROWED */
                        if (!with_control && json_is_object(value)) {
                                json_object_del(value, CS_F_GATE_RUN);
                                json_object_del(value, CS_F_GATE_DOCS);
                        }
                        json_array_append(all, rec);
                }
                json_decref(rec);
        }
        free(line);
        fclose(fp);
        return all;
}

/* The record of key in docs (BORROWED), or NULL. */
json_t *ct_find_doc(json_t *docs, const char *key)
{
        size_t i;
        json_t *rec;
        json_array_foreach(docs, i, rec)
                if (!strcmp(json_string_value(json_object_get(rec, "key")), key))
                        return rec;
        return NULL;
}

/* The first record whose key starts with prefix/table/ (BORROWED). */
json_t *ct_first_doc(json_t *docs, const char *prefix, const char *table)
{
        char head[128];
        size_t i;
        json_t *rec;
        snprintf(head, sizeof(head), "%s/%s/", prefix, table);
        json_array_foreach(docs, i, rec)
                if (!strncmp(json_string_value(json_object_get(rec, "key")), head,
                             strlen(head)))
                        return rec;
        return NULL;
}

void ct_send_json(const char *topic, int partition, const char *key,
                      const json_t *value)
{
        char *text = value ? json_dumps(value, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        ku_send(topic, partition, key, text, text ? strlen(text) : 0);
        free(text);
}

void ct_send_rec(const char *topic, int partition, const json_t *rec)
{
        ct_send_json(topic, partition, json_string_value(json_object_get(rec, "key")),
                  json_object_get(rec, "value"));
}

/* Master id of a child row through the mapping (0 if unmapped). */
long long ct_master_id(MYSQL *m, const char *prefix, const char *table,
                           long long child_id)
{
        return it_int(m, "SELECT COALESCE(MAX(master_entity_id), 0) FROM "
                      "mapping_master_%s WHERE entity_table = '%s' AND "
                      "child_entity_id = %lld", prefix, table, child_id);
}

/* A content fingerprint of a master table restricted to prefix's rows,
 * independent of master ids: every column but ids (id, *_id, *_id_a...) and id lists,
 * keyed by the child id. Two masters that applied the same documents agree
 * even when AUTO_INCREMENT gaps differ. */
void ct_fingerprint(MYSQL *m, const char *db, const char *prefix,
                        const char *table, long long *count, long long *sum)
{
        char cols[8192] = "", sql[12288];
        MYSQL_RES *res;
        MYSQL_ROW row;
        size_t len = 0;

        snprintf(sql, sizeof(sql), "SELECT COLUMN_NAME FROM information_schema.COLUMNS "
                 "WHERE TABLE_SCHEMA = '%s' AND TABLE_NAME = '%s' AND COLUMN_NAME <> 'id' "
                 "AND COLUMN_NAME NOT REGEXP '(^|_)id(_|$)' AND COLUMN_NAME NOT IN "
                 "('parents','children') ORDER BY ORDINAL_POSITION", db, table);
        ck_assert_msg(mysql_query(m, sql) == 0, "%s", mysql_error(m));
        res = mysql_store_result(m);
        while ((row = mysql_fetch_row(res)))
                len += (size_t)snprintf(cols + len, sizeof(cols) - len, ", QUOTE(t.`%s`)",
                                        row[0]);
        mysql_free_result(res);
        snprintf(sql, sizeof(sql), "SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS(0x1f, "
                 "mp.child_entity_id%s))), 0) FROM mapping_master_%s mp JOIN `%s` t ON "
                 "t.id = mp.master_entity_id WHERE mp.entity_table = '%s'", cols,
                 prefix, table, table);
        ck_assert_msg(mysql_query(m, sql) == 0, "%s", mysql_error(m));
        res = mysql_store_result(m);
        row = mysql_fetch_row(res);
        *count = strtoll(row[0], NULL, 10);
        *sum = strtoll(row[1], NULL, 10);
        mysql_free_result(res);
}

pid_t ct_spawn(const char *log, const char *const argv[])
{
        pid_t pid = fork();
        ck_assert(pid >= 0);
        if (pid == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
                dup2(fd, 1);
                dup2(fd, 2);
                execv(argv[0], (char *const *)argv);
                _exit(127);
        }
        return pid;
}

void ct_dlq_topic(char *out, size_t size, const char *name)
{
        snprintf(out, size, "civisync.dlq-%s", name);
        it_topic(out, 1);
}

