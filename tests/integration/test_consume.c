/* test_consume.c — the consumer against real MariaDB and the embedded broker: delivery, dead letters, resync, crashes. */
#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "doc.h"
#include "harness.h"
#include "kafka_util.h"

/* ---- helpers ---- */

/* A consumer config with its own group and dead-letter topic. */
static char *consumer_conf(const char *master, const char *dlq,
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

static it_run_t consume(const char *conf)
{
        return it_run("civisync-consume", "-c", conf, "--once", NULL);
}

static void consume_ok(const char *conf)
{
        it_run_t r = consume(conf);
        ck_assert_msg(r.exit_code == 0, "consume exit %d: %s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "rejected to") == NULL, "rejections: %s", r.err);
        it_run_free(&r);
}

static void produce_ok(const char *conf)
{
        it_run_t r = it_run("civisync-produce", "-c", conf, "--complete", NULL);
        ck_assert_msg(r.exit_code == 0, "produce exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);
}

/* The documents of a complete sync of child as {key, value} records (NEW
 * array of objects; control documents left out unless with_control). */
static json_t *child_docs(const char *prefix, const char *child, int with_control)
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
                if (with_control || !strstr(key, "/civisync_control"))
                        json_array_append(all, rec);
                json_decref(rec);
        }
        free(line);
        fclose(fp);
        return all;
}

/* The record of key in docs (BORROWED), or NULL. */
static json_t *find_doc(json_t *docs, const char *key)
{
        size_t i;
        json_t *rec;
        json_array_foreach(docs, i, rec)
                if (!strcmp(json_string_value(json_object_get(rec, "key")), key))
                        return rec;
        return NULL;
}

/* The first record whose key starts with prefix/table/ (BORROWED). */
static json_t *first_doc(json_t *docs, const char *prefix, const char *table)
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

static void send_json(const char *topic, int partition, const char *key,
                      const json_t *value)
{
        char *text = value ? json_dumps(value, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        ku_send(topic, partition, key, text, text ? strlen(text) : 0);
        free(text);
}

static void send_rec(const char *topic, int partition, const json_t *rec)
{
        send_json(topic, partition, json_string_value(json_object_get(rec, "key")),
                  json_object_get(rec, "value"));
}

/* Master id of a child row through the mapping (0 if unmapped). */
static long long master_id(MYSQL *m, const char *prefix, const char *table,
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
static void fingerprint(MYSQL *m, const char *db, const char *prefix,
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

static pid_t spawn(const char *log, const char *const argv[])
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

static void dlq_topic(char *out, size_t size, const char *name)
{
        snprintf(out, size, "civisync.dlq-%s", name);
        it_topic(out, 1);
}

/* ---- tests ---- */

/* Every kind of message that can never apply is dead-lettered with headers
 * naming the error and its origin, recorded for --status, and processing
 * goes on; a document that would violate a foreign key is one of them (the
 * master keeps FK checks on). */
START_TEST(test_dead_letters_each_kind)
{
        char master[64], child[64], dlq[128], big[4000];
        const char *topic = "civisync.ct1";
        json_t *docs, *rec, *v;
        ku_msg_t *msgs;
        int n;
        MYSQL *m;
        it_run_t r;
        char *conf;
        struct { const char *key; const char *want; } kinds[] = {
                { "ct1/civicrm_contact/901", "JSON" },          /* invalid JSON */
                { "ct1/civicrm_bogus/1", "bogus" },             /* unknown entity */
                { "ct1/civicrm_contact/902", "unknown column" },/* schema mismatch */
                { "ct1/civicrm_contact/903", "too long" },      /* rejected by the DB */
                { "other/civicrm_contact/904", "prefix" },      /* prefix mismatch */
                { "ct1/civicrm_contact/905", "bytes" },         /* oversize */
                { "ct1/civicrm_contact/906", "key" },           /* id != key */
                { NULL, "foreign key" },                        /* FK violation */
        };

        it_master_and_child(master, child, sizeof(master), "--child 1 --contacts 20",
                            topic, 1);
        dlq_topic(dlq, sizeof(dlq), master);
        docs = child_docs("ct1", child, 0);
        rec = first_doc(docs, "ct1", "civicrm_contact");
        ck_assert_ptr_nonnull(rec);
        v = json_deep_copy(json_object_get(rec, "value"));
        json_object_del(v, "_childDocuments_");

        ku_send_str(topic, 0, kinds[0].key, "{\"id\": \"ct1/civicrm_contact/901\",");
        ku_send_str(topic, 0, kinds[1].key, "{\"id\":\"ct1/civicrm_bogus/1\"}");
#define SEND_VARIANT(idx, child_id, field, value_json) do {                       \
                json_t *d = json_deep_copy(v);                                   \
                json_object_set_new(d, "id", json_string(kinds[idx].key));       \
                json_object_set_new(d, "civisync_child_id", json_integer(child_id)); \
                if (field)                                                       \
                        json_object_set_new(d, field, value_json);               \
                send_json(topic, 0, kinds[idx].key, d);                          \
                json_decref(d);                                                  \
        } while (0)
        SEND_VARIANT(2, 902, "no_such_column", json_integer(1));
        memset(big, 'x', 300);
        big[300] = '\0';
        SEND_VARIANT(3, 903, "first_name", json_string(big));
        {
                json_t *d = json_deep_copy(v);
                json_object_set_new(d, "id", json_string(kinds[4].key));
                json_object_set_new(d, "civisync_prefix", json_string("other"));
                json_object_set_new(d, "civisync_child_id", json_integer(904));
                send_json(topic, 0, kinds[4].key, d);
                json_decref(d);
        }
        {
                char *huge = malloc(30001);
                memset(huge, 'y', 30000);
                huge[30000] = '\0';
                SEND_VARIANT(5, 905, "nick_name", json_string(huge));
                free(huge);
        }
        {
                json_t *d = json_deep_copy(v);
                json_object_set_new(d, "civisync_child_id", json_integer(906));
                send_json(topic, 0, kinds[6].key, d); /* id says 1st contact */
                json_decref(d);
        }
        /* A relationship whose relationship type does not exist on the
         * master: the FK check rejects it. */
        {
                json_t *rel = first_doc(docs, "ct1", "civicrm_relationship");
                json_t *d;
                ck_assert_ptr_nonnull(rel);
                d = json_deep_copy(json_object_get(rel, "value"));
                json_object_set_new(d, "relationship_type_id", json_integer(999999));
                kinds[7].key = json_string_value(json_object_get(rel, "key"));
                /* Its contacts first, so the only problem is the FK. */
                {
                        size_t i;
                        json_t *x;
                        json_array_foreach(docs, i, x)
                                if (strstr(json_string_value(json_object_get(x, "key")),
                                           "/civicrm_contact/"))
                                        send_rec(topic, 0, x);
                }
                send_json(topic, 0, kinds[7].key, d);
                json_decref(d);
        }
        /* A good document after them all is applied. */
        send_rec(topic, 0, rec);
        ku_flush();

        conf = consumer_conf(master, dlq, "\"ct1\"", "max_document_bytes = 25000;");
        r = consume(conf);
        ck_assert_msg(r.exit_code == 0, "exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);

        n = ku_read_all(dlq, &msgs);
        ck_assert_int_eq(n, 8);
        for (int k = 0; k < 8; k++) {
                int hit = -1;
                for (int i = 0; i < n; i++)
                        if (msgs[i].key && !strcmp(msgs[i].key, kinds[k].key))
                                hit = i;
                ck_assert_msg(hit >= 0, "no dead letter for %s", kinds[k].key);
                ck_assert_ptr_nonnull(msgs[hit].h_error);
                ck_assert_msg(strcasestr(msgs[hit].h_error, kinds[k].want) != NULL,
                              "%s: error header '%s' lacks '%s'", kinds[k].key,
                              msgs[hit].h_error, kinds[k].want);
                ck_assert_str_eq(msgs[hit].h_topic, topic);
                ck_assert_str_eq(msgs[hit].h_partition, "0");
                ck_assert_ptr_nonnull(msgs[hit].h_offset);
        }
        ku_msgs_free(msgs, n);

        m = it_connect(master);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_dead_letter WHERE topic = '%s'", topic), 8);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_dead_letter WHERE prefix = 'ct1' AND error LIKE '%%foreign key%%'"), 1);
        /* Nothing of the rejected documents stayed; the good ones applied. */
        ck_assert_int_eq(master_id(m, "ct1", "civicrm_contact", 902), 0);
        ck_assert_int_eq(master_id(m, "ct1", "civicrm_contact", 903), 0);
        ck_assert_int_gt(master_id(m, "ct1", "civicrm_contact",
                                   json_integer_value(json_object_get(v, "civisync_child_id"))), 0);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM mapping_master_ct1 WHERE entity_table = 'civicrm_relationship'"), 0);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_relationship WHERE relationship_type_id = 999999"), 0);
        mysql_close(m);

        r = it_run("civisync-consume", "-c", conf, "--status", NULL);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        ck_assert_msg(strstr(r.out, "prefix ct1") && strstr(r.out, "dead letters: 8") &&
                      strstr(r.out, "foreign key") && strstr(r.out, "total lag: 0"),
                      "status: %s", r.out);
        it_run_free(&r);
        json_decref(v);
        json_decref(docs);
}
END_TEST

/* Incremental documents and tombstones for every root entity; replace-set
 * of a contact's nested rows. */
START_TEST(test_incremental_updates_and_deletes)
{
        static const char *const roots[] = {
                "civicrm_saved_search", "civicrm_group", "civicrm_group_nesting",
                "civicrm_group_organization", "civicrm_group_contact",
                "civicrm_tag", "civicrm_entity_tag", "civicrm_relationship",
                "civicrm_note", "civicrm_activity", NULL };
        char master[64], child[64], dlq[128];
        const char *topic = "civisync.ct2";
        json_t *docs, *rec, *d, *kids, *kid;
        MYSQL *m, *c;
        char *conf;
        size_t i;

        it_master_and_child(master, child, sizeof(master), "--child 2 --contacts 40",
                            topic, 1);
        dlq_topic(dlq, sizeof(dlq), master);
        conf = consumer_conf(master, dlq, "\"ct2\"", NULL);
        produce_ok(it_producer_conf("ct2", child, NULL));
        consume_ok(conf);
        m = it_connect(master);
        c = it_connect(child);
        it_assert_synced(c, m, "ct2");
        docs = child_docs("ct2", child, 0);

        /* Updates: one document of every root entity with a changed
         * column, then a tombstone for another one of each. */
        for (int t = 0; roots[t]; t++) {
                char head[128], *key_upd = NULL, *key_del = NULL;
                snprintf(head, sizeof(head), "ct2/%s/", roots[t]);
                json_array_foreach(docs, i, rec) {
                        const char *key = json_string_value(json_object_get(rec, "key"));
                        if (strncmp(key, head, strlen(head)))
                                continue;
                        if (!key_upd)
                                key_upd = strdup(key);
                        else if (!key_del)
                                key_del = strdup(key);
                }
                ck_assert_msg(key_upd && key_del, "child has < 2 rows of %s", roots[t]);
                d = json_deep_copy(json_object_get(find_doc(docs, key_upd), "value"));
                /* A column every one of these tables has: is_active or
                 * similar is not universal; use a per-table one. */
                if (!strcmp(roots[t], "civicrm_note"))
                        json_object_set_new(d, "subject", json_string("updated"));
                else if (!strcmp(roots[t], "civicrm_activity"))
                        json_object_set_new(d, "subject", json_string("updated"));
                else if (!strcmp(roots[t], "civicrm_relationship"))
                        json_object_set_new(d, "description", json_string("updated"));
                else if (!strcmp(roots[t], "civicrm_group") ||
                         !strcmp(roots[t], "civicrm_tag"))
                        json_object_set_new(d, "description", json_string("updated"));
                else if (!strcmp(roots[t], "civicrm_saved_search"))
                        json_object_set_new(d, "description", json_string("updated"));
                else if (!strcmp(roots[t], "civicrm_group_contact"))
                        json_object_set_new(d, "status", json_string("Removed"));
                send_json(topic, 0, key_upd, d);
                json_decref(d);
                send_json(topic, 0, key_del, NULL);
                ku_flush();
                consume_ok(conf);
                {
                        long long upd = strtoll(strrchr(key_upd, '/') + 1, NULL, 10);
                        long long del = strtoll(strrchr(key_del, '/') + 1, NULL, 10);
                        long long mid = master_id(m, "ct2", roots[t], upd);
                        ck_assert_msg(mid > 0, "%s %lld unmapped", roots[t], upd);
                        ck_assert_msg(master_id(m, "ct2", roots[t], del) == 0,
                                      "%s %lld still mapped after its tombstone",
                                      roots[t], del);
                        if (!strcmp(roots[t], "civicrm_group_contact"))
                                ck_assert_int_eq(it_int(m, "SELECT status = 'Removed' FROM %s WHERE id = %lld", roots[t], mid), 1);
                        else if (strcmp(roots[t], "civicrm_group_nesting") &&
                                 strcmp(roots[t], "civicrm_group_organization") &&
                                 strcmp(roots[t], "civicrm_entity_tag"))
                                ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM %s WHERE id = %lld AND %s = 'updated'",
                                                        roots[t], mid,
                                                        !strcmp(roots[t], "civicrm_note") ||
                                                        !strcmp(roots[t], "civicrm_activity") ?
                                                        "subject" : "description"), 1);
                }
                free(key_upd);
                free(key_del);
        }

        /* Contact: replace-set. Drop its first nested row, add a new email,
         * change its last name; then a tombstone for another contact
         * removes it with its nested rows. */
        rec = NULL;
        json_array_foreach(docs, i, d) {
                const char *key = json_string_value(json_object_get(d, "key"));
                json_t *ch = json_object_get(json_object_get(d, "value"), "_childDocuments_");
                if (strstr(key, "/civicrm_contact/") && json_array_size(ch) >= 2) {
                        rec = d;
                        break;
                }
        }
        ck_assert_ptr_nonnull(rec);
        {
                json_t *v = json_deep_copy(json_object_get(rec, "value"));
                long long cid = json_integer_value(json_object_get(v, "civisync_child_id"));
                long long mcid = master_id(m, "ct2", "civicrm_contact", cid);
                const char *gone_table, *gone_key;
                long long gone_id, nested_before, email_master;
                json_t *email;
                char key[128], gone_table_buf[80];

                kids = json_object_get(v, "_childDocuments_");
                kid = json_array_get(kids, 0);
                /* Copied: kid is freed when it leaves the array below. */
                snprintf(gone_table_buf, sizeof(gone_table_buf), "%s",
                         json_string_value(json_object_get(kid, "civisync_table")));
                gone_table = gone_table_buf;
                gone_id = json_integer_value(json_object_get(kid, "civisync_child_id"));
                gone_key = json_string_value(json_object_get(kid, "id"));
                (void)gone_key;
                nested_before = it_int(m, "SELECT (SELECT COUNT(*) FROM civicrm_email WHERE contact_id = %lld) + "
                                       "(SELECT COUNT(*) FROM civicrm_phone WHERE contact_id = %lld) + "
                                       "(SELECT COUNT(*) FROM civicrm_address WHERE contact_id = %lld) + "
                                       "(SELECT COUNT(*) FROM civicrm_im WHERE contact_id = %lld) + "
                                       "(SELECT COUNT(*) FROM civicrm_website WHERE contact_id = %lld)",
                                       mcid, mcid, mcid, mcid, mcid);
                ck_assert_int_eq(nested_before, (long long)json_array_size(kids));
                ck_assert_int_gt(master_id(m, "ct2", gone_table, gone_id), 0);
                email = json_deep_copy(kid);
                json_array_remove(kids, 0);
                if (strcmp(gone_table, "civicrm_email")) {
                        /* Make the new row an email whatever the first was. */
                        json_decref(email);
                        email = NULL;
                        json_array_foreach(docs, i, d) {
                                json_t *ch = json_object_get(json_object_get(d, "value"), "_childDocuments_");
                                size_t j;
                                json_t *x;
                                json_array_foreach(ch, j, x)
                                        if (!email && !strcmp(json_string_value(json_object_get(x, "civisync_table")), "civicrm_email"))
                                                email = json_deep_copy(x);
                        }
                }
                ck_assert_ptr_nonnull(email);
                snprintf(key, sizeof(key), "ct2/civicrm_email/%d", 990001);
                json_object_set_new(email, "id", json_string(key));
                json_object_set_new(email, "civisync_child_id", json_integer(990001));
                json_object_set_new(email, "contact_id", json_integer(cid));
                json_object_set_new(email, "email", json_string("new@example.org"));
                json_array_append_new(kids, email);
                json_object_set_new(v, "last_name", json_string("Replaced"));
                send_json(topic, 0, json_string_value(json_object_get(rec, "key")), v);
                ku_flush();
                consume_ok(conf);
                ck_assert_int_eq(master_id(m, "ct2", "civicrm_contact", cid), mcid);
                ck_assert_int_eq(master_id(m, "ct2", gone_table, gone_id), 0);
                email_master = master_id(m, "ct2", "civicrm_email", 990001);
                ck_assert_int_gt(email_master, 0);
                ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_email WHERE id = %lld AND contact_id = %lld AND email = 'new@example.org'",
                                        email_master, mcid), 1);
                ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_contact WHERE id = %lld AND last_name = 'Replaced'", mcid), 1);
                ck_assert_int_eq(it_int(m, "SELECT (SELECT COUNT(*) FROM civicrm_email WHERE contact_id = %lld) + "
                                        "(SELECT COUNT(*) FROM civicrm_phone WHERE contact_id = %lld) + "
                                        "(SELECT COUNT(*) FROM civicrm_address WHERE contact_id = %lld) + "
                                        "(SELECT COUNT(*) FROM civicrm_im WHERE contact_id = %lld) + "
                                        "(SELECT COUNT(*) FROM civicrm_website WHERE contact_id = %lld)",
                                        mcid, mcid, mcid, mcid, mcid), nested_before);
                /* Tombstone for the contact: it and its nested rows go. */
                send_json(topic, 0, json_string_value(json_object_get(rec, "key")), NULL);
                ku_flush();
                consume_ok(conf);
                ck_assert_int_eq(master_id(m, "ct2", "civicrm_contact", cid), 0);
                ck_assert_int_eq(master_id(m, "ct2", "civicrm_email", 990001), 0);
                ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_contact WHERE id = %lld", mcid), 0);
                ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_email WHERE contact_id = %lld", mcid), 0);
                json_decref(v);
        }
        mysql_close(m);
        mysql_close(c);
        json_decref(docs);
}
END_TEST

/* --resync PREFIX, and an external reset of the group's offsets to the
 * earliest (what kafka-consumer-groups does), both replay the topic as a
 * complete sync: rows no longer in the topic go; another prefix's rows
 * stay byte-identical. */
START_TEST(test_resync_both_paths)
{
        char master[64], a[64], b[64], dlq[128], extra_file[512];
        long long before[32];
        MYSQL *m, *ca;
        char *conf;
        it_run_t r;
        FILE *fp;
        json_t *docs, *rec, *v;
        long long extra_child = 880001;

        it_unique(master, sizeof(master), "master");
        it_unique(a, sizeof(a), "child");
        it_unique(b, sizeof(b), "child");
        it_make_db(master, "--schema 5");
        it_make_db(a, "--schema 5 --child 3 --contacts 40");
        it_make_db(b, "--schema 5 --child 4 --contacts 30");
        it_topic("civisync.ct3a", 2);
        it_topic("civisync.ct3b", 1);
        dlq_topic(dlq, sizeof(dlq), master);
        conf = strdup(consumer_conf(master, dlq, "\"ct3a\", \"ct3b\"", NULL));
        produce_ok(it_producer_conf("ct3a", a, NULL));
        produce_ok(it_producer_conf("ct3b", b, NULL));
        consume_ok(conf);
        m = it_connect(master);
        ca = it_connect(a);
        it_assert_synced(ca, m, "ct3a");

        /* A contact of ct3a that is not in the topic (its tombstone was
         * compacted away): applied from a file, so only the master has it. */
        docs = child_docs("ct3a", a, 0);
        rec = first_doc(docs, "ct3a", "civicrm_contact");
        snprintf(extra_file, sizeof(extra_file), "%s/extra-%s.ndjson", it_tmpdir(), master);
        for (int round = 0; round < 2; round++) {
                char key[64];
                json_t *line = json_object();
                snprintf(key, sizeof(key), "ct3a/civicrm_contact/%lld", extra_child + round);
                v = json_deep_copy(json_object_get(rec, "value"));
                json_object_del(v, "_childDocuments_");
                json_object_set_new(v, "id", json_string(key));
                json_object_set_new(v, "civisync_child_id", json_integer(extra_child + round));
                json_object_set_new(v, "external_identifier", json_null());
                json_object_set_new(line, "key", json_string(key));
                json_object_set_new(line, "value", v);
                fp = fopen(extra_file, "w");
                json_dumpf(line, fp, JSON_COMPACT | JSON_PRESERVE_ORDER);
                fputc('\n', fp);
                fclose(fp);
                json_decref(line);
                r = it_run("civisync-consume", "-c", conf, "--input", extra_file,
                           "--prefix", "ct3a", NULL);
                ck_assert_msg(r.exit_code == 0, "%s", r.err);
                it_run_free(&r);
                ck_assert_int_gt(master_id(m, "ct3a", "civicrm_contact", extra_child + round), 0);
                for (int i = 0; it_synced_tables[i]; i++)
                        before[i] = it_checksum(m, it_synced_tables[i]);
                (void)before;

                if (round == 0) {
                        r = it_run("civisync-consume", "-c", conf, "--resync", "ct3a",
                                   "--once", NULL);
                } else {
                        /* The operator's way: group offsets to the earliest. */
                        char group[128];
                        snprintf(group, sizeof(group), "g_%s", master);
                        ku_commit_group(group, "civisync.ct3a", 2, -2);
                        r = consume(conf);
                }
                ck_assert_msg(r.exit_code == 0, "round %d: %s", round, r.err);
                ck_assert_msg(strstr(r.err, "offset-rewind replay complete") != NULL,
                              "round %d: no replay end in the log: %s", round, r.err);
                it_run_free(&r);
                ck_assert_int_eq(master_id(m, "ct3a", "civicrm_contact", extra_child + round), 0);
                it_assert_synced(ca, m, "ct3a");
                ck_assert_int_eq(it_int(m, "SELECT replays_completed FROM civisync_prefix WHERE prefix = 'ct3a'"), round + 1);
                ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_offset WHERE prefix = 'ct3a' AND replay_end IS NOT NULL"), 0);
        }
        /* The other prefix: not one byte changed by either replay (the
         * extra contacts were the only other change, and they are gone). */
        {
                MYSQL *cb = it_connect(b);
                it_assert_synced(cb, m, "ct3b");
                mysql_close(cb);
        }
        json_decref(docs);
        mysql_close(m);
        mysql_close(ca);
        free(conf);
}
END_TEST

/* A 4-partition topic with documents produced in reverse dependency
 * order, spread over the partitions: references wait (parked) and the end
 * state is complete. */
START_TEST(test_multi_partition_reverse_order)
{
        char master[64], child[64], dlq[128];
        const char *topic = "civisync.ct4";
        json_t *docs;
        MYSQL *m, *c;
        size_t n;

        it_master_and_child(master, child, sizeof(master), "--child 5 --contacts 60",
                            topic, 4);
        dlq_topic(dlq, sizeof(dlq), master);
        docs = child_docs("ct4", child, 0);
        n = json_array_size(docs);
        for (size_t i = n; i-- > 0;)
                send_rec(topic, (int)(i % 4), json_array_get(docs, i));
        ku_flush();
        consume_ok(consumer_conf(master, dlq, "\"ct4\"", "batch_documents = 37;"));
        m = it_connect(master);
        c = it_connect(child);
        it_assert_synced(c, m, "ct4");
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_parked WHERE prefix = 'ct4'"), 0);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_parked_doc WHERE prefix = 'ct4'"), 0);
        /* References were filled in: every relationship points at the
         * master ids of its child contacts. */
        ck_assert_int_eq(it_int(m,
                "SELECT COUNT(*) FROM `%s`.civicrm_relationship r "
                "JOIN mapping_master_ct4 mr ON mr.entity_table = 'civicrm_relationship' AND mr.child_entity_id = r.id "
                "JOIN mapping_master_ct4 ma ON ma.entity_table = 'civicrm_contact' AND ma.child_entity_id = r.contact_id_a "
                "JOIN civicrm_relationship x ON x.id = mr.master_entity_id WHERE x.contact_id_a = ma.master_entity_id", child),
                it_int(c, "SELECT COUNT(*) FROM civicrm_relationship"));
        ck_assert_int_eq(it_int(m,
                "SELECT COUNT(*) FROM `%s`.civicrm_contact k "
                "JOIN mapping_master_ct4 mk ON mk.entity_table = 'civicrm_contact' AND mk.child_entity_id = k.id "
                "JOIN mapping_master_ct4 me ON me.entity_table = 'civicrm_contact' AND me.child_entity_id = k.employer_id "
                "JOIN civicrm_contact x ON x.id = mk.master_entity_id WHERE x.employer_id = me.master_entity_id", child),
                it_int(c, "SELECT COUNT(*) FROM civicrm_contact WHERE employer_id IS NOT NULL"));
        mysql_close(m);
        mysql_close(c);
        json_decref(docs);
}
END_TEST

/* SIGKILL mid-batch, restart: the same master content as a run that was
 * never interrupted. */
START_TEST(test_sigkill_mid_batch)
{
        char m1[64], m2[64], child[64], dlq[128], log[512], bin[512];
        const char *topic = "civisync.ct5";
        MYSQL *a, *b, *c;
        char *conf1, *conf2;
        pid_t pid;
        int status, killed = 0;

        it_unique(m1, sizeof(m1), "master");
        it_unique(m2, sizeof(m2), "master");
        it_unique(child, sizeof(child), "child");
        it_make_db(m1, "--schema 5");
        it_make_db(m2, "--schema 5");
        it_make_db(child, "--schema 5 --child 6 --contacts 200");
        it_topic(topic, 2);
        dlq_topic(dlq, sizeof(dlq), m1);
        produce_ok(it_producer_conf("ct5", child, NULL));
        conf1 = strdup(consumer_conf(m1, dlq, "\"ct5\"", "batch_documents = 40;"));
        conf2 = strdup(consumer_conf(m2, dlq, "\"ct5\"", "batch_documents = 40;"));
        consume_ok(conf1);

        b = it_connect(m2);
        snprintf(bin, sizeof(bin), "bin/civisync-consume");
        snprintf(log, sizeof(log), "%s/%s-killed.log", it_tmpdir(), m2);
        for (int attempt = 0; attempt < 3 && !killed; attempt++) {
                const char *argv[] = { bin, "-c", conf2, "--once", NULL };
                pid = spawn(log, argv);
                /* Kill it once some batches are in, mid-run. */
                for (int i = 0; i < 600; i++) {
                        usleep(20000);
                        if (waitpid(pid, &status, WNOHANG) == pid)
                                break;
                        if (it_int(b, "SELECT COUNT(*) FROM information_schema.TABLES WHERE "
                                   "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'mapping_master_ct5'") &&
                            it_int(b, "SELECT COUNT(*) FROM mapping_master_ct5") > 150) {
                                kill(pid, SIGKILL);
                                waitpid(pid, &status, 0);
                                killed = WIFSIGNALED(status);
                                break;
                        }
                }
        }
        ck_assert_msg(killed, "the consumer finished before it could be killed");
        c = it_connect(child);
        ck_assert_int_lt(it_int(b, "SELECT COUNT(*) FROM mapping_master_ct5 WHERE entity_table = 'civicrm_contact'"),
                         it_child_rows(c, "civicrm_contact") + 1);
        consume_ok(conf2);
        a = it_connect(m1);
        it_assert_synced(c, a, "ct5");
        it_assert_synced(c, b, "ct5");
        for (int i = 0; it_synced_tables[i]; i++) {
                long long n1, s1, n2, s2;
                fingerprint(a, m1, "ct5", it_synced_tables[i], &n1, &s1);
                fingerprint(b, m2, "ct5", it_synced_tables[i], &n2, &s2);
                ck_assert_msg(n1 == n2 && s1 == s2, "%s differs: %lld/%lld vs %lld/%lld",
                              it_synced_tables[i], n1, s1, n2, s2);
        }
        ck_assert_int_eq(it_int(b, "SELECT completed_generation > 0 AND last_error IS NULL FROM civisync_prefix WHERE prefix = 'ct5'"), 1);
        mysql_close(a);
        mysql_close(b);
        mysql_close(c);
        free(conf1);
        free(conf2);
}
END_TEST

/* The committed offset is gone from the broker (the mock keeps ~5 MB per
 * partition): the prefix stops with the documented error, exit 1. */
START_TEST(test_offset_out_of_range)
{
        char master[64], child[64], dlq[128], *filler, key[64];
        const char *topic = "civisync.ct6";
        long long low, high;
        it_run_t r;
        char *conf;
        MYSQL *m;

        it_master_and_child(master, child, sizeof(master), "--child 7 --contacts 20",
                            topic, 1);
        dlq_topic(dlq, sizeof(dlq), master);
        conf = strdup(consumer_conf(master, dlq, "\"ct6\"", NULL));
        produce_ok(it_producer_conf("ct6", child, NULL));
        consume_ok(conf);
        ku_watermarks(topic, 0, &low, &high);
        /* 12 MB of (tombstones' worth of) messages behind the commit. */
        filler = malloc(200000);
        memset(filler, 'z', 200000);
        for (int i = 0; i < 60; i++) {
                snprintf(key, sizeof(key), "ct6/civicrm_note/%d", 700000 + i);
                ku_send(topic, 0, key, filler, 200000);
                if (i % 10 == 9)
                        ku_flush();
        }
        ku_flush();
        free(filler);
        {
                long long low2, high2;
                ku_watermarks(topic, 0, &low2, &high2);
                ck_assert_msg(low2 > high, "the broker kept everything (low %lld, "
                              "committed %lld)", low2, high);
        }
        r = consume(conf);
        ck_assert_int_eq(r.exit_code, 1);
        ck_assert_msg(strstr(r.err, "no longer on the broker") &&
                      strstr(r.err, "Nothing was skipped") &&
                      strstr(r.err, "--resync"), "%s", r.err);
        it_run_free(&r);
        r = it_run("civisync-consume", "-c", conf, "--status", NULL);
        ck_assert_int_eq(r.exit_code, 0);
        ck_assert_msg(strstr(r.out, "OFFSET GONE") != NULL, "%s", r.out);
        it_run_free(&r);
        m = it_connect(master);
        ck_assert_int_eq(it_int(m, "SELECT next_offset FROM civisync_offset WHERE prefix = 'ct6'"), high);
        mysql_close(m);
        free(conf);
}
END_TEST

/* Complete-sync framing with raw control documents: an interrupted replay
 * resumes, an abandoned one is superseded, end counts are checked. */
START_TEST(test_complete_sync_framing)
{
        char master[64], child[64], dlq[128];
        const char *topic = "civisync.ct7";
        json_t *docs, *counts, *ctl;
        MYSQL *m, *c;
        char *conf;
        size_t n, i;
        json_t *rec;
        it_run_t r;

        it_master_and_child(master, child, sizeof(master), "--child 8 --contacts 30",
                            topic, 1);
        dlq_topic(dlq, sizeof(dlq), master);
        conf = strdup(consumer_conf(master, dlq, "\"ct7\"", NULL));
        docs = child_docs("ct7", child, 0);
        n = json_array_size(docs);
        m = it_connect(master);
        c = it_connect(child);

        /* Generation 10: reset, half the documents, a consumer run (as if it
         * crashed there), the other half, then the end. */
        ctl = cs_doc_reset_new("ct7", 10, 0, 1);
        send_json(topic, 0, "ct7/civisync_control", ctl);
        json_decref(ctl);
        for (i = 0; i < n / 2; i++)
                send_rec(topic, 0, json_array_get(docs, i));
        ku_flush();
        consume_ok(conf);
        for (; i < n; i++)
                send_rec(topic, 0, json_array_get(docs, i));
        counts = json_object();
        json_array_foreach(docs, i, rec) {
                char ent[64];
                const char *t = json_string_value(json_object_get(json_object_get(rec, "value"),
                                                                  "civisync_entity"));
                snprintf(ent, sizeof(ent), "%s", t);
                json_object_set_new(counts, ent, json_integer(
                        json_integer_value(json_object_get(counts, ent)) + 1));
        }
        ctl = cs_doc_end_new("ct7", 10, 0, 1, counts);
        send_json(topic, 0, "ct7/civisync_control", ctl);
        json_decref(ctl);
        ku_flush();
        consume_ok(conf);
        it_assert_synced(c, m, "ct7");
        ck_assert_int_eq(it_int(m, "SELECT completed_generation FROM civisync_prefix WHERE prefix = 'ct7'"), 10);
        ck_assert_int_eq(it_int(m, "SELECT last_error IS NULL FROM civisync_prefix WHERE prefix = 'ct7'"), 1);

        /* Generation 11 is abandoned after a few documents; generation 12
         * supersedes it and leaves out the last contact: that contact is
         * swept at 12's end; 11's late end is ignored. Then generation 13
         * leaves out the first contact but its end claims one note more
         * than was sent: a short replay, so nothing is swept (the first
         * contact stays) and the mismatch is recorded. */
        ctl = cs_doc_reset_new("ct7", 11, 0, 1);
        send_json(topic, 0, "ct7/civisync_control", ctl);
        json_decref(ctl);
        for (i = 0; i < 5; i++)
                send_rec(topic, 0, json_array_get(docs, i));
        ctl = cs_doc_reset_new("ct7", 12, 0, 1);
        send_json(topic, 0, "ct7/civisync_control", ctl);
        json_decref(ctl);
        {
                long long last_contact = 0;
                json_array_foreach(docs, i, rec) {
                        const char *key = json_string_value(json_object_get(rec, "key"));
                        if (strstr(key, "/civicrm_contact/"))
                                last_contact = (long long)i;
                }
                /* Everything of generation 12 except the last contact. */
                json_array_foreach(docs, i, rec) {
                        if ((long long)i == last_contact)
                                continue;
                        send_rec(topic, 0, rec);
                }
                rec = json_array_get(docs, (size_t)last_contact);
                json_object_set_new(counts, "contact", json_integer(
                        json_integer_value(json_object_get(counts, "contact")) - 1));
                ctl = cs_doc_end_new("ct7", 12, 0, 1, counts);
                send_json(topic, 0, "ct7/civisync_control", ctl);
                json_decref(ctl);
                ctl = cs_doc_end_new("ct7", 11, 0, 1, counts);
                send_json(topic, 0, "ct7/civisync_control", ctl);
                json_decref(ctl);
                ku_flush();
                consume_ok(conf);
                {
                        long long cid = json_integer_value(json_object_get(
                                json_object_get(rec, "value"), "civisync_child_id"));
                        ck_assert_int_eq(master_id(m, "ct7", "civicrm_contact", cid), 0);
                }
                ck_assert_int_eq(it_int(m, "SELECT completed_generation FROM civisync_prefix WHERE prefix = 'ct7'"), 12);
                ck_assert_int_eq(it_int(m, "SELECT last_error IS NULL FROM civisync_prefix WHERE prefix = 'ct7'"), 1);

                /* Generation 13: the first contact is left out too, and the
                 * end claims a note that never came. */
                long long first_contact = -1;
                json_array_foreach(docs, i, rec) {
                        const char *key = json_string_value(json_object_get(rec, "key"));
                        if (first_contact < 0 && strstr(key, "/civicrm_contact/"))
                                first_contact = (long long)i;
                }
                ctl = cs_doc_reset_new("ct7", 13, 0, 1);
                send_json(topic, 0, "ct7/civisync_control", ctl);
                json_decref(ctl);
                json_array_foreach(docs, i, rec) {
                        if ((long long)i == last_contact || (long long)i == first_contact)
                                continue;
                        send_rec(topic, 0, rec);
                }
                json_object_set_new(counts, "contact", json_integer(
                        json_integer_value(json_object_get(counts, "contact")) - 1));
                json_object_set_new(counts, "note", json_integer(
                        json_integer_value(json_object_get(counts, "note")) + 1));
                ctl = cs_doc_end_new("ct7", 13, 0, 1, counts);
                send_json(topic, 0, "ct7/civisync_control", ctl);
                json_decref(ctl);
                ku_flush();
                consume_ok(conf);
                rec = json_array_get(docs, (size_t)first_contact);
                {
                        long long cid = json_integer_value(json_object_get(
                                json_object_get(rec, "value"), "civisync_child_id"));
                        /* Not swept: the replay came up short. */
                        ck_assert_int_ne(master_id(m, "ct7", "civicrm_contact", cid), 0);
                }
        }
        ck_assert_int_eq(it_int(m, "SELECT completed_generation FROM civisync_prefix WHERE prefix = 'ct7'"), 13);
        ck_assert_int_eq(it_int(m, "SELECT last_error LIKE '%%note sent%%' FROM civisync_prefix WHERE prefix = 'ct7'"), 1);
        ck_assert_int_eq(it_int(m, "SELECT last_error LIKE '%%NOT removed%%' FROM civisync_prefix WHERE prefix = 'ct7'"), 1);
        r = it_run("civisync-consume", "-c", conf, "--status", NULL);
        ck_assert_msg(strstr(r.out, "mismatch") != NULL, "%s", r.out);
        it_run_free(&r);
        json_decref(counts);
        json_decref(docs);
        mysql_close(m);
        mysql_close(c);
        free(conf);
}
END_TEST

/* The master connection is killed mid-run: retried, reconnected, complete. */
START_TEST(test_db_connection_killed)
{
        char master[64], child[64], dlq[128], log[512], bin[] = "bin/civisync-consume";
        MYSQL *m, *c;
        char *conf;
        pid_t pid;
        int status = 0, kills = 0;
        FILE *fp;
        char buf[65536];
        size_t len;

        it_master_and_child(master, child, sizeof(master), "--child 9 --contacts 200",
                            "civisync.ct8", 1);
        dlq_topic(dlq, sizeof(dlq), master);
        produce_ok(it_producer_conf("ct8", child, NULL));
        conf = strdup(consumer_conf(master, dlq, "\"ct8\"", "batch_documents = 25;"));
        m = it_connect(master);
        snprintf(log, sizeof(log), "%s/%s.log", it_tmpdir(), master);
        {
                const char *argv[] = { bin, "-c", conf, "--once", NULL };
                pid = spawn(log, argv);
        }
        for (int i = 0; i < 1500 && kills < 2; i++) {
                long long id;
                usleep(20000);
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        pid = 0;
                        break;
                }
                id = it_int(m, "SELECT COALESCE(MAX(ID), 0) FROM information_schema.PROCESSLIST "
                            "WHERE DB = '%s' AND ID <> CONNECTION_ID() AND COMMAND <> 'Sleep' ", master);
                if (id && it_int(m, "SELECT COUNT(*) FROM information_schema.TABLES WHERE "
                                 "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'mapping_master_ct8'") &&
                    it_int(m, "SELECT COUNT(*) FROM mapping_master_ct8") > 100 * (kills + 1)) {
                        char sql[64];
                        snprintf(sql, sizeof(sql), "KILL %lld", id);
                        if (mysql_query(m, sql) == 0)
                                kills++;
                }
        }
        if (pid)
                waitpid(pid, &status, 0);
        ck_assert_msg(kills > 0, "never killed the consumer's connection");
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "consumer failed");
        fp = fopen(log, "r");
        len = fread(buf, 1, sizeof(buf) - 1, fp);
        buf[len] = '\0';
        fclose(fp);
        ck_assert_msg(strstr(buf, "retrying") != NULL, "no retry in the log: %s", buf);
        ck_assert_msg(strstr(buf, "rejected to") == NULL, "dead letters: %s", buf);
        c = it_connect(child);
        it_assert_synced(c, m, "ct8");
        mysql_close(m);
        mysql_close(c);
        free(conf);
}
END_TEST

/* One test case per test, so that CK_RUN_CASE=<name> runs one alone. */
/* A row re-created under a new id with the same UNIQUE key arrives before
 * the old row's tombstone (as it can from another partition; here the two
 * arrive in separate runs): it waits, is not dead-lettered, and lands once
 * the tombstone is applied. */
START_TEST(test_unique_key_waits_for_tombstone)
{
        char master[64], child[64], dlq[128], key[128];
        const char *topic = "civisync.ct8";
        json_t *docs, *old_rec, *fresh;
        long long old_id;
        MYSQL *m;
        char *conf;
        size_t i;

        it_master_and_child(master, child, sizeof(master), "--child 5 --contacts 30",
                            topic, 1);
        dlq_topic(dlq, sizeof(dlq), master);
        docs = child_docs("ct8", child, 0);
        for (i = 0; i < json_array_size(docs); i++)
                send_rec(topic, 0, json_array_get(docs, i));
        ku_flush();
        conf = strdup(consumer_conf(master, dlq, "\"ct8\"", NULL));
        consume_ok(conf);
        m = it_connect(master);

        old_rec = first_doc(docs, "ct8", "civicrm_entity_tag");
        ck_assert_ptr_nonnull(old_rec);
        old_id = json_integer_value(json_object_get(json_object_get(old_rec, "value"),
                                                    "civisync_child_id"));
        ck_assert_int_ne(master_id(m, "ct8", "civicrm_entity_tag", old_id), 0);

        /* The same tag on the same entity under a new id, first. */
        fresh = json_deep_copy(json_object_get(old_rec, "value"));
        snprintf(key, sizeof(key), "ct8/civicrm_entity_tag/%d", 999999);
        json_object_set_new(fresh, "id", json_string(key));
        json_object_set_new(fresh, "civisync_child_id", json_integer(999999));
        send_json(topic, 0, key, fresh);
        ku_flush();
        consume_ok(conf);
        ck_assert_int_eq(master_id(m, "ct8", "civicrm_entity_tag", 999999), 0);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_parked_doc WHERE "
                                "prefix = 'ct8' AND target_table = ''"), 1);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_dead_letter"), 0);

        /* Then the old row's tombstone. */
        send_json(topic, 0, json_string_value(json_object_get(old_rec, "key")), NULL);
        ku_flush();
        consume_ok(conf);
        ck_assert_int_eq(master_id(m, "ct8", "civicrm_entity_tag", old_id), 0);
        ck_assert_int_ne(master_id(m, "ct8", "civicrm_entity_tag", 999999), 0);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_parked_doc WHERE "
                                "prefix = 'ct8'"), 0);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_dead_letter"), 0);
        json_decref(fresh);
        json_decref(docs);
        mysql_close(m);
        free(conf);
}
END_TEST

/* Multi-row apply (the default) and row-by-row apply of the same complete
 * sync reach the same master: every row mapped, forward references
 * (employer, shared address, activity parent) filled in, verify clean. A
 * document the group cannot take (bad column) is rejected on its own; the
 * rest of its group still lands. */
START_TEST(test_multi_row_matches_row_by_row)
{
        char child[64], file[512], bad_file[512], want[128];
        const char *masters[2] = { NULL, NULL };
        char ma[64], mb[64];
        FILE *in, *out;
        char *line = NULL;
        size_t cap = 0;
        long bad_line = 0, long_line = 0, n = 0;
        long long bad_id = 0, long_id = 0;
        it_run_t r;

        it_unique(child, sizeof(child), "child");
        it_unique(ma, sizeof(ma), "master");
        it_unique(mb, sizeof(mb), "master");
        masters[0] = ma;
        masters[1] = mb;
        it_make_db(child, "--schema 5 --child 1 --contacts 300");
        it_make_db(ma, "--schema 5");
        it_make_db(mb, "--schema 5");
        snprintf(file, sizeof(file), "%s/multirow-%s.ndjson", it_tmpdir(), child);
        r = it_run("civisync-produce", "-c", it_producer_conf("ct9", child, NULL),
                   "--complete", "--output", file, NULL);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        it_run_free(&r);

        for (int i = 0; i < 2; i++) {
                char dlq[128];
                const char *conf;
                MYSQL *m, *c;

                dlq_topic(dlq, sizeof(dlq), masters[i]);
                conf = consumer_conf(masters[i], dlq, "\"ct9\"",
                                     i == 0 ? "multi_row_insert = false;" : NULL);
                r = it_run("civisync-consume", "-c", conf, "--input", file,
                           "--prefix", "ct9", NULL);
                ck_assert_msg(r.exit_code == 0, "consume exit %d: %s",
                              r.exit_code, r.err);
                it_run_free(&r);
                m = it_connect(masters[i]);
                c = it_connect(child);
                it_assert_synced(c, m, "ct9");
                /* Forward references were parked, then filled in. */
                ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_parked"), 0);
                ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_contact "
                                        "WHERE employer_id IS NOT NULL"),
                                 it_int(c, "SELECT COUNT(*) FROM civicrm_contact "
                                        "WHERE employer_id IS NOT NULL"));
                ck_assert_int_gt(it_int(c, "SELECT COUNT(*) FROM civicrm_contact "
                                        "WHERE employer_id > id"), 0);
                r = it_run("civisync-verify", "--child-config",
                           it_producer_conf("ct9", child, NULL), "--master-config",
                           conf, NULL);
                ck_assert_msg(r.exit_code == 0, "verify (%s) exit %d\n%s\n%s",
                              i ? "multi-row" : "row by row", r.exit_code, r.out,
                              r.err);
                ck_assert_msg(strstr(r.out, "verify ct9: 0 differences") != NULL,
                              "%s", r.out);
                it_run_free(&r);
                mysql_close(m);
                mysql_close(c);
        }

        /* One contact in the middle of a run gets a column the master lacks:
         * that document alone is rejected. */
        snprintf(bad_file, sizeof(bad_file), "%s/multirow-bad-%s.ndjson",
                 it_tmpdir(), child);
        in = fopen(file, "r");
        out = fopen(bad_file, "w");
        ck_assert_ptr_nonnull(in);
        ck_assert_ptr_nonnull(out);
        while (getline(&line, &cap, in) > 0) {
                json_t *rec = json_loads(line, 0, NULL);
                const char *key = json_string_value(json_object_get(rec, "key"));
                ck_assert_ptr_nonnull(key);
                n++;
                if (!bad_line && strstr(key, "/civicrm_contact/") && n > 40) {
                        json_object_set_new(json_object_get(rec, "value"),
                                            "no_such_column", json_integer(1));
                        bad_line = n;
                        bad_id = strtoll(strrchr(key, '/') + 1, NULL, 10);
                } else if (!long_line && strstr(key, "/civicrm_contact/") &&
                           n > 80) {
                        /* Fits the document, not the column: the group's
                         * multi-row INSERT fails and falls back. */
                        char big[301];
                        memset(big, 'x', 300);
                        big[300] = '\0';
                        json_object_set_new(json_object_get(rec, "value"),
                                            "first_name", json_string(big));
                        long_line = n;
                        long_id = strtoll(strrchr(key, '/') + 1, NULL, 10);
                }
                json_dumpf(rec, out, JSON_COMPACT | JSON_PRESERVE_ORDER);
                fputc('\n', out);
                json_decref(rec);
        }
        free(line);
        fclose(in);
        fclose(out);
        ck_assert_int_gt(bad_line, 0);
        ck_assert_int_gt(long_line, 0);
        {
                char mc[64], dlq[128];
                const char *conf;
                MYSQL *m, *c;

                it_unique(mc, sizeof(mc), "master");
                it_make_db(mc, "--schema 5");
                dlq_topic(dlq, sizeof(dlq), mc);
                conf = consumer_conf(mc, dlq, "\"ct9\"", NULL);
                r = it_run("civisync-consume", "-c", conf, "--input", bad_file,
                           "--prefix", "ct9", NULL);
                ck_assert_int_eq(r.exit_code, 1);
                snprintf(want, sizeof(want), ":%ld: rejected: unknown column "
                         "'no_such_column'", bad_line);
                ck_assert_msg(strstr(r.err, want), "%s", r.err);
                snprintf(want, sizeof(want), ":%ld: rejected: civicrm_contact: "
                         "Data too long for column 'first_name'", long_line);
                ck_assert_msg(strstr(r.err, want), "%s", r.err);
                ck_assert_msg(strstr(r.err, "2 record(s) rejected"), "%s", r.err);
                it_run_free(&r);
                m = it_connect(mc);
                c = it_connect(child);
                ck_assert_int_eq(it_mapped_rows(m, "ct9", "civicrm_contact"),
                                 it_child_rows(c, "civicrm_contact") - 2);
                ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM mapping_master_ct9 "
                                        "WHERE entity_table = 'civicrm_contact' "
                                        "AND child_entity_id IN (%lld, %lld, %lld)",
                                        long_id - 1, long_id, long_id + 1), 2);
                /* ... with its nested rows; its neighbours all landed. */
                ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM mapping_master_ct9 "
                                        "WHERE entity_table = 'civicrm_contact' "
                                        "AND child_entity_id IN (%lld, %lld, %lld)",
                                        bad_id - 1, bad_id, bad_id + 1), 2);
                ck_assert_int_eq(it_mapped_rows(m, "ct9", "civicrm_email"),
                                 it_child_rows(c, "civicrm_email") -
                                 it_int(c, "SELECT COUNT(*) FROM civicrm_email "
                                        "WHERE contact_id IN (%lld, %lld)",
                                        bad_id, long_id));
                ck_assert_int_gt(it_int(c, "SELECT COUNT(*) FROM civicrm_email "
                                        "WHERE contact_id IN (%lld, %lld)",
                                        bad_id, long_id), 0);
                mysql_close(m);
                mysql_close(c);
        }
}
END_TEST

static void add(Suite *s, const char *name, const TTest *test)
{
        TCase *tc = tcase_create(name);
        tcase_set_timeout(tc, 600);
        tcase_add_test(tc, test);
        suite_add_tcase(s, tc);
}

Suite *consume_suite(void)
{
        Suite *s = suite_create("consume");

        add(s, "dead_letters", test_dead_letters_each_kind);
        add(s, "incremental", test_incremental_updates_and_deletes);
        add(s, "resync", test_resync_both_paths);
        add(s, "multi_partition", test_multi_partition_reverse_order);
        add(s, "sigkill", test_sigkill_mid_batch);
        add(s, "offset_gone", test_offset_out_of_range);
        add(s, "framing", test_complete_sync_framing);
        add(s, "db_killed", test_db_connection_killed);
        add(s, "unique_waits", test_unique_key_waits_for_tombstone);
        add(s, "multi_row", test_multi_row_matches_row_by_row);
        return s;
}
