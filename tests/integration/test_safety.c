/* test_safety.c — the consumer's safety nets: sweep guard, retention gap, skipped cleanup, transient errors, parked documents, dead-letter acknowledgement. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "doc.h"
#include "consume_util.h"
#include "harness.h"
#include "kafka_util.h"

/* ---- helpers ---- */

/* A consumer config with its own group and dead-letter topic (created). */
static char *safe_conf(const char *master, const char *prefix, const char *extra)
{
        static char paths[4][512];
        static int slot;
        char *path = paths[slot++ % 4], dlq[160];
        FILE *fp;

        snprintf(dlq, sizeof(dlq), "civisync.dlq-%s", master);
        it_topic(dlq, 1);
        snprintf(path, 512, "%s/safe-%s-%d.cfg", it_tmpdir(), master, slot);
        fp = fopen(path, "w");
        ck_assert_ptr_nonnull(fp);
        fprintf(fp,
                "master = { socket = \"%s\"; user = \"%s\"; password = \"%s\"; "
                "database = \"%s\"; };\n"
                "kafka = { brokers = \"%s\"; group = \"g_%s\"; dead_letter_topic = \"%s\";\n"
                "  properties = ( (\"session.timeout.ms\", \"6000\") ); };\n"
                "prefixes = [ \"%s\" ];\n%s\n",
                getenv("CS_TEST_MYSQL_SOCKET"), getenv("CS_TEST_MYSQL_USER"),
                getenv("CS_TEST_MYSQL_PASSWORD"), master, it_brokers(), master,
                dlq, prefix, extra ? extra : "");
        fclose(fp);
        return path;
}

/* One consumer run (--once); returns the run (caller frees). */
static it_run_t consume(const char *conf)
{
        return it_run("civisync-consume", "-c", conf, "--once", NULL);
}

static void consume_ok(const char *conf)
{
        it_run_t r = consume(conf);
        ck_assert_msg(r.exit_code == 0, "consume exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);
}

static void produce_ok(const char *conf)
{
        it_run_t r = it_run("civisync-produce", "-c", conf, "--complete", NULL);
        ck_assert_msg(r.exit_code == 0, "produce exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);
}

/* --status output (NEW string). */
static char *status_of(const char *conf)
{
        it_run_t r = it_run("civisync-consume", "-c", conf, "--status", NULL);
        char *out;
        ck_assert_msg(r.exit_code == 0, "status exit %d: %s", r.exit_code, r.err);
        out = strdup(r.out);
        it_run_free(&r);
        return out;
}

/* The entity documents of a complete sync of child (NEW array of {key,
 * value}; control documents and gate fingerprints left out, and so the
 * gate stamps: ct_child_docs). */
static json_t *child_docs(const char *prefix, const char *child)
{
        return ct_child_docs(prefix, child, 0);
}

static void send_json(const char *topic, const char *key, const json_t *value)
{
        char *text = value ? json_dumps(value, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        ku_send(topic, 0, key, text, text ? strlen(text) : 0);
        free(text);
}

/* Sends a framed complete sync of generation gen on partition 0 of topic:
 * reset, docs[i] for every i where skip is NULL or !skip[i], end with the
 * counts of what was sent. */
static void send_generation(const char *topic, const char *prefix, long long gen,
                            json_t *docs, const char *skip)
{
        json_t *counts = json_object(), *ctl, *rec;
        char key[128];
        size_t i;

        snprintf(key, sizeof(key), "%s/civisync_control", prefix);
        ctl = cs_doc_reset_new(prefix, gen, 0, 1);
        send_json(topic, key, ctl);
        json_decref(ctl);
        json_array_foreach(docs, i, rec) {
                json_t *v = json_object_get(rec, "value");
                const char *ent = json_string_value(json_object_get(v, CS_F_ENTITY));
                if (skip && skip[i])
                        continue;
                send_json(topic, json_string_value(json_object_get(rec, "key")), v);
                json_object_set_new(counts, ent, json_integer(
                        json_integer_value(json_object_get(counts, ent)) + 1));
        }
        ctl = cs_doc_end_new(prefix, gen, 0, 1, counts);
        send_json(topic, key, ctl);
        json_decref(ctl);
        json_decref(counts);
        ku_flush();
}

static long long mapped(MYSQL *m, const char *prefix)
{
        return it_int(m, "SELECT COUNT(*) FROM mapping_master_%s", prefix);
}

static long long generation_of(MYSQL *m, const char *prefix)
{
        return it_int(m, "SELECT generation FROM civisync_prefix WHERE prefix = '%s'",
                      prefix);
}

/* ---- 1. sweep guard ---- */

/* A complete sync from a child that lost most of its rows (here: a reset
 * and an end with nothing between, as from an empty database) is held:
 * the rows stay, --status says so; --release-sweep removes them,
 * --discard-sweep drops the hold and keeps them. A sweep below the
 * threshold proceeds at once. */
START_TEST(test_sweep_guard)
{
        char master[64], child[64];
        const char *topic = "civisync.sf1";
        MYSQL *m, *c;
        char *conf, *st;
        json_t *docs;
        long long total, gen, contacts;
        it_run_t r;

        it_master_and_child(master, child, sizeof(master), "--child 3 --contacts 40",
                            topic, 1);
        conf = strdup(safe_conf(master, "sf1", NULL));
        produce_ok(it_producer_conf("sf1", child, NULL));
        consume_ok(conf);
        m = it_connect(master);
        c = it_connect(child);
        it_assert_synced(c, m, "sf1");
        total = mapped(m, "sf1");
        ck_assert_int_gt(total, 200);
        gen = generation_of(m, "sf1");

        /* An empty complete sync: every row would go. Held. */
        send_generation(topic, "sf1", gen + 1, NULL, NULL);
        r = consume(conf);
        ck_assert_msg(r.exit_code == 0, "consume exit %d: %s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "HELD") != NULL, "no hold in the log: %s", r.err);
        it_run_free(&r);
        ck_assert_int_eq(mapped(m, "sf1"), total);
        it_assert_synced(c, m, "sf1");
        ck_assert_int_eq(it_int(m, "SELECT held_generation FROM civisync_prefix "
                                "WHERE prefix = 'sf1'"), gen + 1);
        st = status_of(conf);
        ck_assert_msg(strstr(st, "sweep HELD") && strstr(st, "--release-sweep sf1"),
                      "%s", st);
        free(st);

        /* --discard-sweep: the hold goes, the rows stay. */
        r = it_run("civisync-consume", "-c", conf, "--discard-sweep", "sf1", NULL);
        ck_assert_msg(r.exit_code == 0, "discard exit %d: %s %s", r.exit_code, r.out, r.err);
        it_run_free(&r);
        ck_assert_int_eq(mapped(m, "sf1"), total);
        ck_assert_int_eq(it_int(m, "SELECT held_generation FROM civisync_prefix "
                                "WHERE prefix = 'sf1'"), 0);
        st = status_of(conf);
        ck_assert_msg(!strstr(st, "sweep HELD"), "%s", st);
        free(st);
        /* Nothing held: releasing is a usage error of the operator. */
        r = it_run("civisync-consume", "-c", conf, "--release-sweep", "sf1", NULL);
        ck_assert_msg(r.exit_code == 1 && strstr(r.err, "no held sweep"),
                      "release without hold: exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);

        /* Held again, then released: the rows go. */
        send_generation(topic, "sf1", gen + 2, NULL, NULL);
        consume_ok(conf);
        ck_assert_int_eq(mapped(m, "sf1"), total);
        r = it_run("civisync-consume", "-c", conf, "--release-sweep", "sf1", NULL);
        ck_assert_msg(r.exit_code == 0, "release exit %d: %s %s", r.exit_code, r.out, r.err);
        it_run_free(&r);
        ck_assert_int_eq(mapped(m, "sf1"), 0);
        ck_assert_int_eq(it_int(m, "SELECT held_generation FROM civisync_prefix "
                                "WHERE prefix = 'sf1'"), 0);

        /* Everything again, then a generation without one contact: a small
         * sweep proceeds without a hold. */
        docs = child_docs("sf1", child);
        send_generation(topic, "sf1", gen + 3, docs, NULL);
        consume_ok(conf);
        it_assert_synced(c, m, "sf1");
        contacts = it_int(m, "SELECT COUNT(*) FROM mapping_master_sf1 WHERE "
                          "entity_table = 'civicrm_contact'");
        {
                size_t n = json_array_size(docs), i;
                char *skip = calloc(n, 1);
                for (i = n; i-- > 0;) {
                        const char *key = json_string_value(json_object_get(
                                json_array_get(docs, i), "key"));
                        if (strstr(key, "/civicrm_contact/")) {
                                skip[i] = 1;
                                break;
                        }
                }
                send_generation(topic, "sf1", gen + 4, docs, skip);
                free(skip);
        }
        consume_ok(conf);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM mapping_master_sf1 WHERE "
                                "entity_table = 'civicrm_contact'"), contacts - 1);
        ck_assert_int_eq(it_int(m, "SELECT held_generation FROM civisync_prefix "
                                "WHERE prefix = 'sf1'"), 0);
        ck_assert_int_eq(it_int(m, "SELECT completed_generation FROM civisync_prefix "
                                "WHERE prefix = 'sf1'"), gen + 4);
        json_decref(docs);
        mysql_close(m);
        mysql_close(c);
        free(conf);
}
END_TEST

/* ---- 2. outage longer than the tombstones' retention ---- */

/* With tombstone_retention_seconds = 15 (a group join takes ~5 s), a consumer that resumes a
 * partition more than 15 s after it last applied (or saw its end) refuses
 * the prefix and names --resync; with on_retention_gap = "resync" it
 * replays the topic as a complete sync instead. */
START_TEST(test_retention_gap)
{
        char master[64], child[64];
        const char *topic = "civisync.sf2";
        MYSQL *m, *c;
        char *conf, *conf_resync;
        it_run_t r;
        long long contacts;

        it_master_and_child(master, child, sizeof(master), "--child 4 --contacts 20",
                            topic, 1);
        conf = strdup(safe_conf(master, "sf2", "tombstone_retention_seconds = 15;"));
        conf_resync = strdup(safe_conf(master, "sf2", "tombstone_retention_seconds = 15;\n"
                                       "on_retention_gap = \"resync\";"));
        produce_ok(it_producer_conf("sf2", child, NULL));
        /* The embedded broker cannot answer DescribeConfigs (no
         * controller): one line says so and the configured value is used. */
        r = consume(conf);
        ck_assert_msg(r.exit_code == 0, "consume exit %d: %s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "civisync.sf2: the topic's delete.retention.ms "
                             "could not be read") &&
                      strstr(r.err, "no controller") &&
                      strstr(r.err, "tombstone_retention_seconds = 15 s"),
                      "no retention fallback line: %s", r.err);
        it_run_free(&r);
        m = it_connect(master);
        c = it_connect(child);
        it_assert_synced(c, m, "sf2");
        contacts = it_int(m, "SELECT COUNT(*) FROM mapping_master_sf2 WHERE "
                          "entity_table = 'civicrm_contact'");

        /* Within the retention: a new message applies normally. */
        ku_send_str(topic, 0, "sf2/civicrm_note/999999", NULL);
        ku_flush();
        consume_ok(conf);

        /* A gap longer than the retention, with something new to read. */
        sleep(17);
        ku_send_str(topic, 0, "sf2/civicrm_note/999998", NULL);
        ku_flush();
        r = consume(conf);
        ck_assert_msg(r.exit_code == 1, "consume after the gap: exit %d: %s",
                      r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "tombstone") && strstr(r.err, "--resync sf2"),
                      "no retention-gap message: %s", r.err);
        it_run_free(&r);
        /* Still refused at the next start. */
        r = consume(conf);
        ck_assert_msg(r.exit_code == 1 && strstr(r.err, "--resync sf2"),
                      "second run: exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);

        /* on_retention_gap = "resync": the topic is replayed as a complete
         * sync (a row deleted on the master's side of the mapping only, as
         * if its tombstone was lost, comes back from the replay). */
        it_exec(m, "DELETE FROM mapping_master_sf2 WHERE entity_table = "
                "'civicrm_contact' AND child_entity_id = (SELECT MAX(id) FROM "
                "`%s`.civicrm_contact)", child);
        r = consume(conf_resync);
        ck_assert_msg(r.exit_code == 0, "resync run: exit %d: %s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "replay") != NULL, "no replay: %s", r.err);
        it_run_free(&r);
        ck_assert_int_eq(it_int(m, "SELECT replays_completed FROM civisync_prefix "
                                "WHERE prefix = 'sf2'"), 1);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM mapping_master_sf2 WHERE "
                                "entity_table = 'civicrm_contact'"), contacts);
        /* And the plain configuration may go on now. */
        consume_ok(conf);
        mysql_close(m);
        mysql_close(c);
        free(conf);
        free(conf_resync);
}
END_TEST

/* ---- 3. a reset compacted away ---- */

/* An end marker whose reset never arrived (compaction kept only the
 * latest document of the shared control key) cannot clean up: that is
 * recorded and shown by --status with what to do. */
START_TEST(test_end_without_reset)
{
        char master[64], child[64], key[64];
        const char *topic = "civisync.sf3";
        MYSQL *m;
        char *conf, *st;
        json_t *ctl, *counts;
        long long gen;
        it_run_t r;

        it_master_and_child(master, child, sizeof(master), "--child 5 --contacts 20",
                            topic, 1);
        conf = strdup(safe_conf(master, "sf3", NULL));
        produce_ok(it_producer_conf("sf3", child, NULL));
        consume_ok(conf);
        m = it_connect(master);
        gen = generation_of(m, "sf3");
        counts = json_pack("{s:i}", "contact", 21);
        ctl = cs_doc_end_new("sf3", gen + 5, 0, 1, counts);
        snprintf(key, sizeof(key), "sf3/civisync_control");
        send_json(topic, key, ctl);
        json_decref(ctl);
        json_decref(counts);
        ku_flush();
        consume_ok(conf);
        ck_assert_int_eq(it_int(m, "SELECT COALESCE(skipped_generation, 0) FROM "
                                "civisync_prefix WHERE prefix = 'sf3'"), gen + 5);
        st = status_of(conf);
        ck_assert_msg(strstr(st, "cleanup SKIPPED") && strstr(st, "--resync sf3"),
                      "%s", st);
        free(st);
        /* civisync-verify names it too, before the rows and in its summary;
         * the exit code still follows the differences alone (none here). */
        r = it_run("civisync-verify", "--child-config",
                   it_producer_conf("sf3", child, NULL), "--master-config", conf,
                   NULL);
        ck_assert_msg(r.exit_code == 0, "verify exit %d\n%s\n%s", r.exit_code,
                      r.out, r.err);
        ck_assert_msg(strstr(r.out, "cleanup SKIPPED for sf3") &&
                      strstr(r.out, "cleanup of generation") &&
                      strstr(r.out, "--resync sf3"), "%s", r.out);
        it_run_free(&r);
        /* A later complete sync with its reset clears it. */
        produce_ok(it_producer_conf("sf3", child, NULL));
        consume_ok(conf);
        ck_assert_int_eq(it_int(m, "SELECT COALESCE(skipped_generation, 0) FROM "
                                "civisync_prefix WHERE prefix = 'sf3'"), 0);
        st = status_of(conf);
        ck_assert_msg(!strstr(st, "SKIPPED"), "%s", st);
        free(st);
        r = it_run("civisync-verify", "--child-config",
                   it_producer_conf("sf3", child, NULL), "--master-config", conf,
                   NULL);
        ck_assert_msg(r.exit_code == 0 && !strstr(r.out, "SKIPPED"), "verify "
                      "exit %d\n%s", r.exit_code, r.out);
        it_run_free(&r);
        mysql_close(m);
        free(conf);
}
END_TEST

/* ---- 4. transient server errors ---- */

/* The master fails the contact inserts twice with a temp-file error (as
 * seen under load: error 6, the server's mysys EE_DELETE, "Error on delete
 * of '/tmp/#sql-temptable-...' (Errcode: 2)"), from a
 * trigger that counts down in a non-transactional table: the batch is
 * retried, nothing is dead-lettered, everything lands. */
START_TEST(test_transient_error_retried)
{
        char master[64], child[64];
        const char *topic = "civisync.sf4";
        MYSQL *m, *c;
        char *conf;
        it_run_t r;

        it_master_and_child(master, child, sizeof(master), "--child 6 --contacts 20",
                            topic, 1);
        conf = strdup(safe_conf(master, "sf4", "multi_row_insert = false;"));
        m = it_connect(master);
        it_exec(m, "CREATE TABLE it_fail (n int NOT NULL, err int NOT NULL) ENGINE=MyISAM");
        it_exec(m, "INSERT INTO it_fail VALUES (2, 6)");
        it_exec(m, "CREATE TRIGGER it_fail_contact BEFORE INSERT ON civicrm_contact "
                "FOR EACH ROW BEGIN "
                "IF (SELECT n FROM it_fail) > 0 THEN "
                "UPDATE it_fail SET n = n - 1; "
                "SIGNAL SQLSTATE 'HY000' SET MYSQL_ERRNO = 6, MESSAGE_TEXT = "
                "'Error on delete of ''/tmp/#sql-temptable-1-2.MAI'' (Errcode: 2 "
                "\"No such file or directory\")'; "
                "END IF; END");
        produce_ok(it_producer_conf("sf4", child, NULL));
        r = consume(conf);
        ck_assert_msg(r.exit_code == 0, "consume exit %d: %s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "retrying") != NULL, "no retry: %s", r.err);
        it_run_free(&r);
        ck_assert_int_eq(it_int(m, "SELECT n FROM it_fail"), 0);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_dead_letter"), 0);
        c = it_connect(child);
        it_assert_synced(c, m, "sf4");
        mysql_close(m);
        mysql_close(c);
        free(conf);
}
END_TEST

/* ---- 6. parked documents and dead letters ---- */

/* An orphan entity_tag (its contact is gone on the child) parks: the end
 * of the generation names it as the cause of the count mismatch. The
 * next generation no longer sends it: its sweep drops the parked
 * document. A dead letter can be acknowledged, which clears its count in
 * --status. */
START_TEST(test_parked_orphan_and_ack)
{
        char master[64], child[64];
        const char *topic = "civisync.sf6";
        MYSQL *m, *c;
        char *conf, *st, *last_error;
        json_t *docs, *orphan;
        long long gen;
        size_t i;
        json_t *rec;
        it_run_t r;

        it_master_and_child(master, child, sizeof(master), "--child 7 --contacts 20",
                            topic, 1);
        conf = strdup(safe_conf(master, "sf6", NULL));
        produce_ok(it_producer_conf("sf6", child, NULL));
        consume_ok(conf);
        m = it_connect(master);
        c = it_connect(child);
        gen = generation_of(m, "sf6");
        docs = child_docs("sf6", child);

        /* An orphan entity_tag, as a raw delete of its contact leaves it. */
        orphan = NULL;
        json_array_foreach(docs, i, rec)
                if (!orphan && strstr(json_string_value(json_object_get(rec, "key")),
                                      "/civicrm_entity_tag/"))
                        orphan = json_deep_copy(rec);
        ck_assert_ptr_nonnull(orphan);
        {
                json_t *v = json_object_get(orphan, "value");
                json_object_set_new(orphan, "key", json_string("sf6/civicrm_entity_tag/99999"));
                json_object_set_new(v, "id", json_string("sf6/civicrm_entity_tag/99999"));
                json_object_set_new(v, CS_F_CHILD_ID, json_integer(99999));
                json_object_set_new(v, "entity_table", json_string("civicrm_contact"));
                json_object_set_new(v, "entity_id", json_integer(88888));
        }
        json_array_append(docs, orphan);
        send_generation(topic, "sf6", gen + 1, docs, NULL);
        consume_ok(conf);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_parked_doc WHERE "
                                "prefix = 'sf6'"), 1);
        {
                MYSQL_RES *res;
                MYSQL_ROW row;
                ck_assert(mysql_query(m, "SELECT COALESCE(last_error, '') FROM "
                                      "civisync_prefix WHERE prefix = 'sf6'") == 0);
                res = mysql_store_result(m);
                row = mysql_fetch_row(res);
                last_error = strdup(row[0]);
                mysql_free_result(res);
        }
        ck_assert_msg(strstr(last_error, "1 parked document") &&
                      strstr(last_error, "sf6/civicrm_entity_tag/99999") &&
                      !strstr(last_error, "see dead letters"),
                      "last_error does not name the parked document: %s", last_error);
        free(last_error);

        /* The next generation no longer sends it: dropped by its sweep. */
        json_array_remove(docs, json_array_size(docs) - 1);
        json_decref(orphan);
        send_generation(topic, "sf6", gen + 2, docs, NULL);
        consume_ok(conf);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_parked_doc WHERE "
                                "prefix = 'sf6'"), 0);
        ck_assert_int_eq(it_int(m, "SELECT last_error IS NULL FROM civisync_prefix "
                                "WHERE prefix = 'sf6'"), 1);
        it_assert_synced(c, m, "sf6");

        /* Dead letters: two bad messages, acknowledged up to the first,
         * then all. */
        ku_send_str(topic, 0, "sf6/civicrm_contact/1", "{not json");
        ku_send_str(topic, 0, "sf6/civicrm_contact/2", "{not json either");
        ku_flush();
        consume_ok(conf);
        st = status_of(conf);
        ck_assert_msg(strstr(st, "dead letters: 2 ") != NULL, "%s", st);
        free(st);
        {
                char before[32];
                snprintf(before, sizeof(before), "%lld", it_int(m,
                         "SELECT MIN(id) FROM civisync_dead_letter WHERE prefix = 'sf6'"));
                r = it_run("civisync-consume", "-c", conf, "--ack-dead-letters", "sf6",
                           "--before", before, NULL);
                ck_assert_msg(r.exit_code == 0, "ack exit %d: %s", r.exit_code, r.err);
                it_run_free(&r);
        }
        st = status_of(conf);
        ck_assert_msg(strstr(st, "dead letters: 1 ") != NULL, "%s", st);
        free(st);
        r = it_run("civisync-consume", "-c", conf, "--ack-dead-letters", "sf6", NULL);
        ck_assert_msg(r.exit_code == 0, "ack exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);
        st = status_of(conf);
        ck_assert_msg(strstr(st, "dead letters: 0 ") && strstr(st, "2 acknowledged"),
                      "%s", st);
        free(st);
        json_decref(docs);
        mysql_close(m);
        mysql_close(c);
        free(conf);
}
END_TEST

/* ---- a master from before the safety nets ---- */

/* civisync's tables without the new columns (as an older consumer made
 * them) get them at the next start; with them all present no ALTER runs
 * (the documented grants have no ALTER: safety/ and verify/ cover that). */
START_TEST(test_old_master_upgraded)
{
        char master[64];
        MYSQL *m;
        char *conf;
        it_run_t r;

        it_unique(master, sizeof(master), "master");
        it_make_db(master, "--schema 5");
        m = it_connect(master);
        it_exec(m, "CREATE TABLE civisync_dead_letter (id bigint NOT NULL "
                "AUTO_INCREMENT PRIMARY KEY, prefix varchar(32) NULL, topic "
                "varchar(255) NOT NULL, partition_no int NOT NULL, offset_no bigint "
                "NOT NULL, doc_key varbinary(255) NULL, error blob NOT NULL, at "
                "timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP, KEY prefix (prefix, id))");
        it_exec(m, "INSERT INTO civisync_dead_letter (prefix, topic, partition_no, "
                "offset_no, error) VALUES ('sf7', 'civisync.sf7', 0, 5, 'old')");
        conf = strdup(safe_conf(master, "sf7", NULL));
        r = it_run("civisync-consume", "-c", conf, "--ack-dead-letters", "sf7", NULL);
        ck_assert_msg(r.exit_code == 0, "ack exit %d: %s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "adding the sweep-guard") != NULL, "%s", r.err);
        ck_assert_msg(strstr(r.out, "1 dead letter(s) acknowledged") != NULL, "%s", r.out);
        it_run_free(&r);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_dead_letter WHERE "
                                "acknowledged_at IS NOT NULL"), 1);
        r = it_run("civisync-consume", "-c", conf, "--ack-dead-letters", "sf7", NULL);
        ck_assert_msg(r.exit_code == 0 && !strstr(r.err, "adding the sweep-guard"),
                      "second start: exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);
        mysql_close(m);
        free(conf);
}
END_TEST

/* ---- registration ---- */

static void add(Suite *s, const char *name, const TTest *test)
{
        TCase *tc = tcase_create(name);
        tcase_set_timeout(tc, 600);
        tcase_add_test(tc, test);
        suite_add_tcase(s, tc);
}

Suite *safety_suite(void)
{
        Suite *s = suite_create("safety");

        add(s, "sweep_guard", test_sweep_guard);
        add(s, "retention_gap", test_retention_gap);
        add(s, "end_without_reset", test_end_without_reset);
        add(s, "transient", test_transient_error_retried);
        add(s, "parked_orphan", test_parked_orphan_and_ack);
        add(s, "old_master", test_old_master_upgraded);
        return s;
}
