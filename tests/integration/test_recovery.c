/* test_recovery.c — the consumer recovering: resync, SIGKILL, offsets gone, interrupted replays, lost connections. */
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

#include "consume_util.h"
#include "doc.h"
#include "harness.h"
#include "kafka_util.h"

/* ---- tests ---- */

/* --resync PREFIX, and an external reset of the group's offsets to the
 * earliest (what kafka-consumer-groups does), both replay the topic as a
 * complete sync: rows no longer in the topic go; another prefix's rows
 * stay byte-identical. */
START_TEST(test_resync_both_paths)
{
        char master[64], a[64], b[64], dlq[128], extra_file[512];
        char other[32][64], now[64];
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
        ct_dlq_topic(dlq, sizeof(dlq), master);
        conf = strdup(ct_consumer_conf(master, dlq, "\"ct3a\", \"ct3b\"", NULL));
        ct_produce_ok(it_producer_conf("ct3a", a, NULL));
        ct_produce_ok(it_producer_conf("ct3b", b, NULL));
        ct_consume_ok(conf);
        m = it_connect(master);
        ca = it_connect(a);
        it_assert_synced(ca, m, "ct3a");

        /* A contact of ct3a that is not in the topic (its tombstone was
         * compacted away): applied from a file, so only the master has it. */
        docs = ct_child_docs("ct3a", a, 0);
        rec = ct_first_doc(docs, "ct3a", "civicrm_contact");
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
                ck_assert_int_gt(ct_master_id(m, "ct3a", "civicrm_contact", extra_child + round), 0);
                for (int i = 0; it_synced_tables[i]; i++)
                        it_prefix_digest(m, "ct3b", it_synced_tables[i], other[i],
                                         sizeof(other[i]));

                if (round == 0) {
                        r = it_run("civisync-consume", "-c", conf, "--resync", "ct3a",
                                   "--once", NULL);
                } else {
                        /* The operator's way: group offsets to the earliest. */
                        char group[128];
                        snprintf(group, sizeof(group), "g_%s", master);
                        ku_commit_group(group, "civisync.ct3a", 2, -2);
                        r = ct_consume(conf);
                }
                ck_assert_msg(r.exit_code == 0, "round %d: %s", round, r.err);
                ck_assert_msg(strstr(r.err, "offset-rewind replay complete") != NULL,
                              "round %d: no replay end in the log: %s", round, r.err);
                it_run_free(&r);
                ck_assert_int_eq(ct_master_id(m, "ct3a", "civicrm_contact", extra_child + round), 0);
                /* The other prefix: not one byte of its rows or mapping
                 * changed by this replay (a replay that rewrote or moved
                 * them without changing their count fails here). */
                for (int i = 0; it_synced_tables[i]; i++) {
                        it_prefix_digest(m, "ct3b", it_synced_tables[i], now, sizeof(now));
                        ck_assert_msg(!strcmp(now, other[i]), "round %d: replay of ct3a "
                                      "changed ct3b's %s: %s -> %s", round,
                                      it_synced_tables[i], other[i], now);
                }
                it_assert_synced(ca, m, "ct3a");
                ck_assert_int_eq(it_int(m, "SELECT replays_completed FROM civisync_prefix WHERE prefix = 'ct3a'"), round + 1);
                ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_offset WHERE prefix = 'ct3a' AND replay_end IS NOT NULL"), 0);
        }
        /* After the operator's reset the consumer committed every partition
         * to its end again, with civisync's own commit metadata. */
        {
                char group[128];
                long long offs[2], lo, hi;
                int ours[2];
                snprintf(group, sizeof(group), "g_%s", master);
                ku_committed(group, "civisync.ct3a", 2, offs, ours);
                for (int p = 0; p < 2; p++) {
                        ku_watermarks("civisync.ct3a", p, &lo, &hi);
                        ck_assert_int_gt(hi, 0);
                        ck_assert_int_eq(offs[p], hi);
                        ck_assert_int_eq(ours[p], 1);
                }
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
        ct_dlq_topic(dlq, sizeof(dlq), m1);
        ct_produce_ok(it_producer_conf("ct5", child, NULL));
        conf1 = strdup(ct_consumer_conf(m1, dlq, "\"ct5\"", "batch_documents = 40;"));
        conf2 = strdup(ct_consumer_conf(m2, dlq, "\"ct5\"", "batch_documents = 40;"));
        ct_consume_ok(conf1);

        b = it_connect(m2);
        snprintf(bin, sizeof(bin), "bin/civisync-consume");
        snprintf(log, sizeof(log), "%s/%s-killed.log", it_tmpdir(), m2);
        for (int attempt = 0; attempt < 3 && !killed; attempt++) {
                const char *argv[] = { bin, "-c", conf2, "--once", NULL };
                pid = ct_spawn(log, argv);
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
        /* Killed mid-run: more than 150 rows mapped, but not every synced
         * row, and the generation not completed. */
        {
                long long want = 0, have = it_int(b, "SELECT COUNT(*) FROM mapping_master_ct5");
                for (int i = 0; it_synced_tables[i]; i++)
                        want += it_child_rows(c, it_synced_tables[i]);
                ck_assert_msg(have > 150 && have < want, "not a mid-run kill: %lld of %lld "
                              "rows mapped", have, want);
                ck_assert_int_eq(it_int(b, "SELECT COUNT(*) FROM civisync_prefix WHERE "
                                        "prefix = 'ct5' AND completed_generation > 0"), 0);
        }
        ct_consume_ok(conf2);
        a = it_connect(m1);
        it_assert_synced(c, a, "ct5");
        it_assert_synced(c, b, "ct5");
        for (int i = 0; it_synced_tables[i]; i++) {
                long long n1, s1, n2, s2;
                ct_fingerprint(a, m1, "ct5", it_synced_tables[i], &n1, &s1);
                ct_fingerprint(b, m2, "ct5", it_synced_tables[i], &n2, &s2);
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
        ct_dlq_topic(dlq, sizeof(dlq), master);
        conf = strdup(ct_consumer_conf(master, dlq, "\"ct6\"", NULL));
        ct_produce_ok(it_producer_conf("ct6", child, NULL));
        ct_consume_ok(conf);
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
        r = ct_consume(conf);
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
        ct_dlq_topic(dlq, sizeof(dlq), master);
        conf = strdup(ct_consumer_conf(master, dlq, "\"ct7\"", NULL));
        docs = ct_child_docs("ct7", child, 0);
        n = json_array_size(docs);
        m = it_connect(master);
        c = it_connect(child);

        /* Generation 10: reset, half the documents, a consumer run (as if it
         * crashed there), the other half, then the end. */
        ctl = cs_doc_reset_new("ct7", 10, 0, 1);
        ct_send_json(topic, 0, "ct7/civisync_control", ctl);
        json_decref(ctl);
        for (i = 0; i < n / 2; i++)
                ct_send_rec(topic, 0, json_array_get(docs, i));
        ku_flush();
        ct_consume_ok(conf);
        for (; i < n; i++)
                ct_send_rec(topic, 0, json_array_get(docs, i));
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
        ct_send_json(topic, 0, "ct7/civisync_control", ctl);
        json_decref(ctl);
        ku_flush();
        ct_consume_ok(conf);
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
        ct_send_json(topic, 0, "ct7/civisync_control", ctl);
        json_decref(ctl);
        for (i = 0; i < 5; i++)
                ct_send_rec(topic, 0, json_array_get(docs, i));
        ctl = cs_doc_reset_new("ct7", 12, 0, 1);
        ct_send_json(topic, 0, "ct7/civisync_control", ctl);
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
                        ct_send_rec(topic, 0, rec);
                }
                rec = json_array_get(docs, (size_t)last_contact);
                json_object_set_new(counts, "contact", json_integer(
                        json_integer_value(json_object_get(counts, "contact")) - 1));
                ctl = cs_doc_end_new("ct7", 12, 0, 1, counts);
                ct_send_json(topic, 0, "ct7/civisync_control", ctl);
                json_decref(ctl);
                ctl = cs_doc_end_new("ct7", 11, 0, 1, counts);
                ct_send_json(topic, 0, "ct7/civisync_control", ctl);
                json_decref(ctl);
                ku_flush();
                ct_consume_ok(conf);
                {
                        long long cid = json_integer_value(json_object_get(
                                json_object_get(rec, "value"), "civisync_child_id"));
                        ck_assert_int_eq(ct_master_id(m, "ct7", "civicrm_contact", cid), 0);
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
                ct_send_json(topic, 0, "ct7/civisync_control", ctl);
                json_decref(ctl);
                json_array_foreach(docs, i, rec) {
                        if ((long long)i == last_contact || (long long)i == first_contact)
                                continue;
                        ct_send_rec(topic, 0, rec);
                }
                json_object_set_new(counts, "contact", json_integer(
                        json_integer_value(json_object_get(counts, "contact")) - 1));
                json_object_set_new(counts, "note", json_integer(
                        json_integer_value(json_object_get(counts, "note")) + 1));
                ctl = cs_doc_end_new("ct7", 13, 0, 1, counts);
                ct_send_json(topic, 0, "ct7/civisync_control", ctl);
                json_decref(ctl);
                ku_flush();
                ct_consume_ok(conf);
                rec = json_array_get(docs, (size_t)first_contact);
                {
                        long long cid = json_integer_value(json_object_get(
                                json_object_get(rec, "value"), "civisync_child_id"));
                        /* Not swept: the replay came up short. */
                        ck_assert_int_ne(ct_master_id(m, "ct7", "civicrm_contact", cid), 0);
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
        ct_dlq_topic(dlq, sizeof(dlq), master);
        ct_produce_ok(it_producer_conf("ct8", child, NULL));
        conf = strdup(ct_consumer_conf(master, dlq, "\"ct8\"", "batch_documents = 25;"));
        m = it_connect(master);
        snprintf(log, sizeof(log), "%s/%s.log", it_tmpdir(), master);
        {
                const char *argv[] = { bin, "-c", conf, "--once", NULL };
                pid = ct_spawn(log, argv);
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

/* A row re-created under a new id with the same UNIQUE key arrives before
 * the old row's tombstone (as it can from another partition; here the two
 * arrive in separate runs): it waits, is not dead-lettered, and lands once
 * the tombstone is applied. Its own topic and prefix (ct10): it must not
 * read what test_db_connection_killed left on civisync.ct8. */
START_TEST(test_unique_key_waits_for_tombstone)
{
        char master[64], child[64], dlq[128], key[128];
        const char *topic = "civisync.ct10";
        json_t *docs, *old_rec, *fresh;
        long long old_id;
        MYSQL *m;
        char *conf;
        size_t i;

        it_master_and_child(master, child, sizeof(master), "--child 5 --contacts 30",
                            topic, 1);
        ct_dlq_topic(dlq, sizeof(dlq), master);
        docs = ct_child_docs("ct10", child, 0);
        for (i = 0; i < json_array_size(docs); i++)
                ct_send_rec(topic, 0, json_array_get(docs, i));
        ku_flush();
        conf = strdup(ct_consumer_conf(master, dlq, "\"ct10\"", NULL));
        ct_consume_ok(conf);
        m = it_connect(master);

        old_rec = ct_first_doc(docs, "ct10", "civicrm_entity_tag");
        ck_assert_ptr_nonnull(old_rec);
        old_id = json_integer_value(json_object_get(json_object_get(old_rec, "value"),
                                                    "civisync_child_id"));
        ck_assert_int_ne(ct_master_id(m, "ct10", "civicrm_entity_tag", old_id), 0);

        /* The same tag on the same entity under a new id, first. */
        fresh = json_deep_copy(json_object_get(old_rec, "value"));
        snprintf(key, sizeof(key), "ct10/civicrm_entity_tag/%d", 999999);
        json_object_set_new(fresh, "id", json_string(key));
        json_object_set_new(fresh, "civisync_child_id", json_integer(999999));
        ct_send_json(topic, 0, key, fresh);
        ku_flush();
        ct_consume_ok(conf);
        ck_assert_int_eq(ct_master_id(m, "ct10", "civicrm_entity_tag", 999999), 0);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_parked_doc WHERE "
                                "prefix = 'ct10' AND target_table = ''"), 1);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_dead_letter"), 0);

        /* Then the old row's tombstone. */
        ct_send_json(topic, 0, json_string_value(json_object_get(old_rec, "key")), NULL);
        ku_flush();
        ct_consume_ok(conf);
        ck_assert_int_eq(ct_master_id(m, "ct10", "civicrm_entity_tag", old_id), 0);
        ck_assert_int_ne(ct_master_id(m, "ct10", "civicrm_entity_tag", 999999), 0);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_parked_doc WHERE "
                                "prefix = 'ct10'"), 0);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_dead_letter"), 0);
        json_decref(fresh);
        json_decref(docs);
        mysql_close(m);
        free(conf);
}
END_TEST

static void add(Suite *s, const char *name, const TTest *test)
{
        TCase *tc = tcase_create(name);
        tcase_set_timeout(tc, 600);
        tcase_add_test(tc, test);
        suite_add_tcase(s, tc);
}

/* One test case per test, so that CK_RUN_CASE=<name> runs one alone. */
Suite *recovery_suite(void)
{
        Suite *s = suite_create("recovery");

        add(s, "resync", test_resync_both_paths);
        add(s, "sigkill", test_sigkill_mid_batch);
        add(s, "offset_gone", test_offset_out_of_range);
        add(s, "framing", test_complete_sync_framing);
        add(s, "db_killed", test_db_connection_killed);
        add(s, "unique_waits", test_unique_key_waits_for_tombstone);
        return s;
}
