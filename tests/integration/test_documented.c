/* test_documented.c — documented behaviours: old state formats, ids past 2^32, filters, re-parenting, foreign offsets, replays, resets, parking. */
#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "consume_util.h"
#include "doc.h"
#include "harness.h"
#include "kafka_util.h"

/* One child and one master, synced once by an incremental-mode first run. */
typedef struct denv_s {
        char master[64], child[64], prefix[32], state[512];
        char *pconf, *cconf;
        MYSQL *m, *c;
} denv_t;

static it_run_t produce(denv_t *e)
{
        return it_run("civisync-produce", "-c", e->pconf, NULL);
}

static void consume_ok(denv_t *e)
{
        it_run_t r = it_run("civisync-consume", "-c", e->cconf, "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "consume exit %d: %s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "rejected to") == NULL, "%s", r.err);
        it_run_free(&r);
}

static void denv_open(denv_t *e, const char *tag)
{
        char topic[80], extra[96];
        it_run_t r;

        memset(e, 0, sizeof(*e));
        it_unique(e->prefix, sizeof(e->prefix), tag);
        snprintf(topic, sizeof(topic), "civisync.%s", e->prefix);
        it_master_and_child(e->master, e->child, sizeof(e->master),
                            "--child 3 --contacts 30", topic, 1);
        it_topic("civisync.dead-letter", 1);
        e->pconf = strdup(it_producer_conf(e->prefix, e->child, NULL));
        snprintf(extra, sizeof(extra), "prefixes = [\"%s\"];", e->prefix);
        e->cconf = strdup(it_consumer_conf(e->master, extra));
        snprintf(e->state, sizeof(e->state), "%s/state/%s.state.json", it_tmpdir(),
                 e->prefix);
        r = produce(e);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        it_run_free(&r);
        consume_ok(e);
        e->m = it_connect(e->master);
        e->c = it_connect(e->child);
}

static void denv_close(denv_t *e)
{
        it_assert_synced(e->c, e->m, e->prefix);
        mysql_close(e->m);
        mysql_close(e->c);
        free(e->pconf);
        free(e->cconf);
}

static char *slurp(const char *path)
{
        FILE *fp = fopen(path, "rb");
        long len;
        char *text;

        ck_assert_msg(fp != NULL, "open %s", path);
        fseek(fp, 0, SEEK_END);
        len = ftell(fp);
        rewind(fp);
        text = calloc(1, (size_t)len + 1);
        ck_assert_int_eq(fread(text, 1, (size_t)len, fp), (size_t)len);
        fclose(fp);
        return text;
}

/* A state whose incremental part was written by format 1 (server-side
 * hashes) cannot drive an incremental run: the run is a complete sync with
 * a warning, and leaves a state of the current format. */
START_TEST(test_format1_state_forces_complete)
{
        denv_t e;
        json_t *st, *incr;
        it_run_t r;

        denv_open(&e, "df");
        st = json_load_file(e.state, 0, NULL);
        ck_assert_ptr_nonnull(st);
        incr = json_object_get(st, "incremental");
        ck_assert_int_eq(json_integer_value(json_object_get(incr, "format")), 2);
        json_object_set_new(incr, "format", json_integer(1));
        ck_assert_int_eq(json_dump_file(st, e.state, JSON_INDENT(2)), 0);
        json_decref(st);
        it_exec(e.c, "UPDATE civicrm_contact SET nick_name = 'after format 1' WHERE id = "
                "(SELECT id FROM (SELECT MIN(id) id FROM civicrm_contact) x)");
        r = produce(&e);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        ck_assert_msg(strstr(r.err, "written by another version of civisync-produce: "
                             "this run is a complete sync") != NULL, "%s", r.err);
        ck_assert_msg(strstr(r.out, "complete generation") != NULL, "%s", r.out);
        it_run_free(&r);
        st = json_load_file(e.state, 0, NULL);
        ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(st, "incremental"),
                                                            "format")), 2);
        json_decref(st);
        consume_ok(&e);
        ck_assert_int_eq(it_int(e.m, "SELECT COUNT(*) FROM civicrm_contact WHERE "
                                "nick_name = 'after format 1'"), 1);
        denv_close(&e);
}
END_TEST

/* A row id above 4294967295 stops the run with an error naming the table,
 * and the state is untouched. */
START_TEST(test_id_above_2_32_stops_the_run)
{
        denv_t e;
        char *before, *after;
        it_run_t r;

        denv_open(&e, "di");
        it_exec(e.c, "ALTER TABLE civicrm_note MODIFY id bigint unsigned NOT NULL AUTO_INCREMENT");
        it_exec(e.c, "INSERT INTO civicrm_note (id, entity_table, entity_id, note) VALUES "
                "(4294967296, 'civicrm_contact', (SELECT MIN(id) FROM civicrm_contact), 'big')");
        before = slurp(e.state);
        r = produce(&e);
        ck_assert_msg(r.exit_code == 1, "exit %d: %s %s", r.exit_code, r.out, r.err);
        ck_assert_msg(strstr(r.err, "civicrm_note") &&
                      strstr(r.err, "4294967296 out of the supported range"), "%s", r.err);
        it_run_free(&r);
        after = slurp(e.state);
        ck_assert_str_eq(before, after);
        free(before);
        free(after);
        /* Without the row the next run goes through. */
        it_exec(e.c, "DELETE FROM civicrm_note WHERE id = 4294967296");
        r = produce(&e);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        it_run_free(&r);
        consume_ok(&e);
        denv_close(&e);
}
END_TEST

/* A row that leaves its row filter (an entity tag moved from a contact to
 * a group, a phase-2 table) is sent as a tombstone: the master row goes. */
START_TEST(test_row_leaving_filter_is_a_tombstone)
{
        denv_t e;
        long long et;
        it_run_t r;

        denv_open(&e, "dr");
        et = it_int(e.c, "SELECT MIN(id) FROM civicrm_entity_tag WHERE entity_table = "
                    "'civicrm_contact'");
        ck_assert_int_gt(et, 0);
        ck_assert_int_eq(it_int(e.m, "SELECT COUNT(*) FROM mapping_master_%s WHERE "
                                "entity_table = 'civicrm_entity_tag' AND child_entity_id = %lld",
                                e.prefix, et), 1);
        it_exec(e.c, "UPDATE civicrm_entity_tag SET entity_table = 'civicrm_group', entity_id = "
                "(SELECT MIN(id) FROM civicrm_group) WHERE id = %lld", et);
        r = produce(&e);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        ck_assert_msg(strstr(r.out, "entity_tag 0/1") != NULL, "%s", r.out);
        it_run_free(&r);
        consume_ok(&e);
        ck_assert_int_eq(it_int(e.m, "SELECT COUNT(*) FROM mapping_master_%s WHERE "
                                "entity_table = 'civicrm_entity_tag' AND child_entity_id = %lld",
                                e.prefix, et), 0);
        denv_close(&e);
}
END_TEST

/* An email moved from contact A to contact B on the child (UPDATE
 * civicrm_email SET contact_id): the incremental run re-sends both roots,
 * A without the email and B with it, and the master ends with the email
 * under B only. */
START_TEST(test_reparented_row_resends_both_roots)
{
        denv_t e;
        long long email, a, b, low, high, me, ma, mb;
        char topic[80], ka[96], kb[96], ke[96];
        int n, seen_a = 0, seen_b = 0;
        ku_msg_t *msgs;
        it_run_t r;

        denv_open(&e, "dp");
        snprintf(topic, sizeof(topic), "civisync.%s", e.prefix);
        email = it_int(e.c, "SELECT MIN(e.id) FROM civicrm_email e JOIN civicrm_contact c "
                       "ON c.id = e.contact_id");
        ck_assert_int_gt(email, 0);
        a = it_int(e.c, "SELECT contact_id FROM civicrm_email WHERE id = %lld", email);
        b = it_int(e.c, "SELECT MAX(id) FROM civicrm_contact WHERE id <> %lld", a);
        ck_assert_int_gt(b, 0);
        me = ct_master_id(e.m, e.prefix, "civicrm_email", email);
        ma = ct_master_id(e.m, e.prefix, "civicrm_contact", a);
        mb = ct_master_id(e.m, e.prefix, "civicrm_contact", b);
        ck_assert_msg(me > 0 && ma > 0 && mb > 0, "not synced: %lld %lld %lld", me, ma, mb);
        ck_assert_int_eq(it_int(e.m, "SELECT contact_id FROM civicrm_email WHERE id = %lld",
                                me), ma);
        ku_watermarks(topic, 0, &low, &high);
        it_exec(e.c, "UPDATE civicrm_email SET contact_id = %lld WHERE id = %lld", b, email);
        r = produce(&e);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        it_run_free(&r);

        /* What this run sent: both roots, the email in B's document only. */
        snprintf(ka, sizeof(ka), "%s/civicrm_contact/%lld", e.prefix, a);
        snprintf(kb, sizeof(kb), "%s/civicrm_contact/%lld", e.prefix, b);
        snprintf(ke, sizeof(ke), "\"%s/civicrm_email/%lld\"", e.prefix, email);
        n = ku_read_all(topic, &msgs);
        for (int i = 0; i < n; i++) {
                if (msgs[i].offset < high || !msgs[i].key)
                        continue;
                if (!strcmp(msgs[i].key, ka)) {
                        seen_a++;
                        ck_assert_msg(msgs[i].value && !strstr(msgs[i].value, ke),
                                      "A still carries the email: %s", msgs[i].value);
                } else if (!strcmp(msgs[i].key, kb)) {
                        seen_b++;
                        ck_assert_msg(msgs[i].value && strstr(msgs[i].value, ke),
                                      "B lacks the email: %s", msgs[i].value);
                }
        }
        ku_msgs_free(msgs, n);
        ck_assert_msg(seen_a == 1 && seen_b == 1, "incremental run sent old root %s %d "
                      "time(s), new root %s %d time(s)", ka, seen_a, kb, seen_b);

        consume_ok(&e);
        ck_assert_int_eq(it_int(e.m, "SELECT contact_id FROM civicrm_email WHERE id = %lld",
                                ct_master_id(e.m, e.prefix, "civicrm_email", email)), mb);
        ck_assert_int_eq(it_int(e.m, "SELECT COUNT(*) FROM civicrm_email e JOIN "
                                "mapping_master_%s m ON m.entity_table = 'civicrm_email' AND "
                                "m.master_entity_id = e.id WHERE m.child_entity_id = %lld",
                                e.prefix, email), 1);
        denv_close(&e);
}
END_TEST

/* A foreign commit AHEAD of civisync_offset (an operator moved the group's
 * offset forward while the messages in between are still on the broker):
 * the consumer follows it with the documented warning, and what those
 * messages carried is not applied. */
START_TEST(test_foreign_commit_ahead_is_followed)
{
        denv_t e;
        char topic[80], group[96];
        long long low, high, stored, skipped_contact;
        it_run_t r;

        denv_open(&e, "dk");
        snprintf(topic, sizeof(topic), "civisync.%s", e.prefix);
        snprintf(group, sizeof(group), "g_%s", e.master);
        stored = it_int(e.m, "SELECT next_offset FROM civisync_offset WHERE prefix = '%s'",
                        e.prefix);
        ck_assert_int_gt(stored, 0);
        /* A new contact, sent by an incremental run but then skipped. */
        it_exec(e.c, "INSERT INTO civicrm_contact (contact_type, first_name, last_name, "
                "display_name, sort_name) VALUES ('Individual', 'Skipped', 'On Request', "
                "'Skipped On Request', 'On Request, Skipped')");
        skipped_contact = it_int(e.c, "SELECT LAST_INSERT_ID()");
        r = produce(&e);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        it_run_free(&r);
        ku_watermarks(topic, 0, &low, &high);
        ck_assert_int_gt(high, stored);
        ku_commit_group(group, topic, 1, high);

        r = it_run("civisync-consume", "-c", e.cconf, "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "consume exit %d: %s", r.exit_code, r.err);
        {
                char want[256];
                snprintf(want, sizeof(want), "the group's offset was moved forward by an "
                         "operator from %lld to %lld: %lld message(s) are skipped on "
                         "request", stored, high, high - stored);
                ck_assert_msg(strstr(r.err, want) != NULL, "no \"%s\" in: %s", want, r.err);
        }
        it_run_free(&r);
        ck_assert_int_eq(ct_master_id(e.m, e.prefix, "civicrm_contact", skipped_contact), 0);
        ck_assert_int_eq(it_int(e.m, "SELECT COUNT(*) FROM civicrm_contact WHERE "
                                "display_name = 'Skipped On Request'"), 0);
        ck_assert_int_eq(it_int(e.m, "SELECT next_offset FROM civisync_offset WHERE "
                                "prefix = '%s'", e.prefix), high);
        /* No rewind replay began: nothing was swept or restamped. */
        ck_assert_int_eq(it_int(e.m, "SELECT replay_refresh FROM civisync_prefix WHERE "
                                "prefix = '%s'", e.prefix), 0);
        /* The skipped row is the only difference: without it, equal. */
        it_exec(e.c, "DELETE FROM civicrm_contact WHERE id = %lld", skipped_contact);
        denv_close(&e);
}
END_TEST

/* An older reset (a superseded replay's, re-sent) is ignored: the
 * generation does not move back, no new refresh stamp, no sweep; its late
 * end is ignored too. */
START_TEST(test_older_reset_is_ignored)
{
        denv_t e;
        char topic[80];
        long long gen, refresh, completed, rows, old;
        json_t *ctl, *counts, *docs, *rec;
        char key[96];
        it_run_t r;

        denv_open(&e, "dg");
        snprintf(topic, sizeof(topic), "civisync.%s", e.prefix);
        ct_produce_ok(e.pconf);
        consume_ok(&e);
        gen = it_int(e.m, "SELECT generation FROM civisync_prefix WHERE prefix = '%s'",
                     e.prefix);
        completed = it_int(e.m, "SELECT completed_generation FROM civisync_prefix WHERE "
                           "prefix = '%s'", e.prefix);
        refresh = it_int(e.m, "SELECT refresh FROM civisync_prefix WHERE prefix = '%s'",
                         e.prefix);
        rows = it_int(e.m, "SELECT COUNT(*) FROM mapping_master_%s", e.prefix);
        ck_assert_int_gt(gen, 1000);
        ck_assert_int_eq(completed, gen);
        old = gen - 1000;
        /* The older generation's reset, one row document, and its end
         * counting only that one contact: accepted, it would restamp and
         * then sweep every other row of the prefix. */
        snprintf(key, sizeof(key), "%s/civisync_control", e.prefix);
        docs = ct_child_docs(e.prefix, e.child, 0);
        rec = ct_first_doc(docs, e.prefix, "civicrm_contact");
        ck_assert_ptr_nonnull(rec);
        ctl = cs_doc_reset_new(e.prefix, old, 0, 1);
        ct_send_json(topic, 0, key, ctl);
        json_decref(ctl);
        ct_send_rec(topic, 0, rec);
        counts = json_object();
        json_object_set_new(counts, "contact", json_integer(1));
        ctl = cs_doc_end_new(e.prefix, old, 0, 1, counts);
        ck_assert_ptr_nonnull(ctl);
        ct_send_json(topic, 0, key, ctl);
        json_decref(ctl);
        json_decref(counts);
        ku_flush();
        r = it_run("civisync-consume", "-c", e.cconf, "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "consume exit %d: %s", r.exit_code, r.err);
        /* Nothing swept, the generation and the refresh stamp unmoved. */
        ck_assert_int_eq(it_int(e.m, "SELECT COUNT(*) FROM mapping_master_%s", e.prefix),
                         rows);
        ck_assert_int_eq(it_int(e.m, "SELECT generation FROM civisync_prefix WHERE "
                                "prefix = '%s'", e.prefix), gen);
        ck_assert_int_eq(it_int(e.m, "SELECT completed_generation FROM civisync_prefix "
                                "WHERE prefix = '%s'", e.prefix), gen);
        ck_assert_int_eq(it_int(e.m, "SELECT refresh FROM civisync_prefix WHERE prefix = "
                                "'%s'", e.prefix), refresh);
        ck_assert_int_eq(it_int(e.m, "SELECT COUNT(*) FROM civisync_prefix WHERE prefix = "
                                "'%s' AND last_error IS NULL", e.prefix), 1);
        /* And the log says why. */
        {
                char want[160];
                snprintf(want, sizeof(want), "%s: reset of generation %lld ignored: "
                         "generation %lld is newer", e.prefix, old, gen);
                ck_assert_msg(strstr(r.err, want) != NULL, "no \"%s\" in: %s", want, r.err);
        }
        ck_assert_msg(strstr(r.err, "complete sync generation") == NULL, "%s", r.err);
        it_run_free(&r);
        json_decref(docs);
        denv_close(&e);
}
END_TEST

/* An offset-rewind replay (--resync P) killed by SIGKILL after some rows
 * were refreshed resumes on restart where it stood: it is not begun again,
 * it completes, its sweep runs once (a row only the master had goes), and
 * the master equals the child. */
START_TEST(test_interrupted_rewind_replay_resumes)
{
        char master[64], child[64], dlq[128], prefix[32], topic[80], log[512];
        char input[512], bin[] = "bin/civisync-consume";
        const long long extra = 880001;
        MYSQL *m, *c;
        char *conf, *text;
        it_run_t r;
        pid_t pid;
        int status, killed = 0;
        long long refreshed = 0, rows;

        it_unique(prefix, sizeof(prefix), "dw");
        snprintf(topic, sizeof(topic), "civisync.%s", prefix);
        it_master_and_child(master, child, sizeof(master), "--child 5 --contacts 200",
                            topic, 1);
        ct_dlq_topic(dlq, sizeof(dlq), master);
        {
                char pfx[48];
                snprintf(pfx, sizeof(pfx), "\"%s\"", prefix);
                conf = strdup(ct_consumer_conf(master, dlq, pfx, "batch_documents = 20;"));
        }
        ct_produce_ok(it_producer_conf(prefix, child, NULL));
        ct_consume_ok(conf);
        m = it_connect(master);
        c = it_connect(child);
        rows = it_int(m, "SELECT COUNT(*) FROM mapping_master_%s", prefix);

        /* A contact only the master has (its tombstone compacted away):
         * the replay's sweep must remove it. */
        {
                json_t *docs = ct_child_docs(prefix, child, 0);
                json_t *v = json_deep_copy(json_object_get(
                        ct_first_doc(docs, prefix, "civicrm_contact"), "value"));
                json_t *line = json_object();
                char key[96];
                FILE *fp;

                snprintf(key, sizeof(key), "%s/civicrm_contact/%lld", prefix, extra);
                json_object_del(v, "_childDocuments_");
                json_object_set_new(v, "id", json_string(key));
                json_object_set_new(v, "civisync_child_id", json_integer(extra));
                json_object_set_new(v, "external_identifier", json_null());
                json_object_set_new(line, "key", json_string(key));
                json_object_set_new(line, "value", v);
                snprintf(input, sizeof(input), "%s/extra-%s.ndjson", it_tmpdir(), master);
                fp = fopen(input, "w");
                ck_assert_ptr_nonnull(fp);
                json_dumpf(line, fp, JSON_COMPACT);
                fputc('\n', fp);
                fclose(fp);
                json_decref(line);
                json_decref(docs);
        }
        r = it_run("civisync-consume", "-c", conf, "--input", input, "--prefix", prefix,
                   NULL);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        it_run_free(&r);
        ck_assert_int_gt(ct_master_id(m, prefix, "civicrm_contact", extra), 0);

        /* --resync, killed once some rows carry the replay's stamp. */
        snprintf(log, sizeof(log), "%s/%s-replay.log", it_tmpdir(), master);
        {
                const char *argv[] = { bin, "-c", conf, "--resync", prefix, "--once", NULL };
                pid = ct_spawn(log, argv);
        }
        for (int i = 0; i < 3000; i++) {
                usleep(10000);
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        pid = 0;
                        break;
                }
                refreshed = it_int(m, "SELECT COUNT(*) FROM mapping_master_%s x JOIN "
                                   "civisync_prefix p ON p.prefix = '%s' WHERE "
                                   "p.replay_refresh > 0 AND x.generation = p.replay_refresh",
                                   prefix, prefix);
                if (refreshed > 40) {
                        kill(pid, SIGKILL);
                        waitpid(pid, &status, 0);
                        killed = WIFSIGNALED(status);
                        break;
                }
        }
        ck_assert_msg(killed, "the replay finished (or failed) before it could be "
                      "killed (%lld rows refreshed)", refreshed);
        /* Killed mid-replay: begun, some rows refreshed, not complete. */
        ck_assert_int_eq(it_int(m, "SELECT replays_completed FROM civisync_prefix WHERE "
                                "prefix = '%s'", prefix), 0);
        ck_assert_int_gt(it_int(m, "SELECT replay_refresh FROM civisync_prefix WHERE "
                                "prefix = '%s'", prefix), 0);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_offset WHERE prefix = "
                                "'%s' AND replay_end IS NOT NULL", prefix), 1);
        refreshed = it_int(m, "SELECT COUNT(*) FROM mapping_master_%s x JOIN "
                           "civisync_prefix p ON p.prefix = '%s' WHERE "
                           "x.generation = p.replay_refresh", prefix, prefix);
        ck_assert_msg(refreshed > 0 && refreshed < rows, "not a mid-replay kill: %lld of "
                      "%lld rows refreshed", refreshed, rows);
        ck_assert_int_gt(ct_master_id(m, prefix, "civicrm_contact", extra), 0);

        /* Restarted without --resync: the same replay goes on. */
        r = ct_consume(conf);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        ck_assert_msg(strstr(r.err, "offsets rewound") == NULL,
                      "the replay was begun again: %s", r.err);
        text = strstr(r.err, "offset-rewind replay complete");
        ck_assert_msg(text != NULL, "no replay end in the log: %s", r.err);
        ck_assert_msg(strstr(text + 1, "offset-rewind replay complete") == NULL,
                      "two replay ends: %s", r.err);
        it_run_free(&r);
        ck_assert_int_eq(it_int(m, "SELECT replays_completed FROM civisync_prefix WHERE "
                                "prefix = '%s'", prefix), 1);
        ck_assert_int_eq(it_int(m, "SELECT replay_refresh FROM civisync_prefix WHERE "
                                "prefix = '%s'", prefix), 0);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_offset WHERE prefix = "
                                "'%s' AND replay_end IS NOT NULL", prefix), 0);
        ck_assert_int_eq(ct_master_id(m, prefix, "civicrm_contact", extra), 0);
        it_assert_synced(c, m, prefix);
        /* A further run has nothing left to replay or sweep. */
        r = ct_consume(conf);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        ck_assert_msg(strstr(r.err, "offset-rewind replay complete") == NULL, "%s", r.err);
        it_run_free(&r);
        ck_assert_int_eq(it_int(m, "SELECT replays_completed FROM civisync_prefix WHERE "
                                "prefix = '%s'", prefix), 1);
        mysql_close(m);
        mysql_close(c);
        free(conf);
}
END_TEST

/* Cross-run parking: every document of a child but one contact's; the
 * documents that need that contact are parked when run 1 (--once) exits,
 * and --status shows them. Run 2 gets the contact: the parked documents
 * apply, the parking is empty, the master equals the child. */
START_TEST(test_parked_document_resolves_next_run)
{
        char master[64], child[64], dlq[128], prefix[32], topic[80], pfx[48], bkey[96];
        json_t *docs, *rel, *x;
        const char *rel_key;
        long long b, rel_id;
        MYSQL *m, *c;
        char *conf;
        it_run_t r;
        size_t i;

        it_unique(prefix, sizeof(prefix), "dq");
        snprintf(topic, sizeof(topic), "civisync.%s", prefix);
        it_master_and_child(master, child, sizeof(master), "--child 2 --contacts 20",
                            topic, 1);
        ct_dlq_topic(dlq, sizeof(dlq), master);
        snprintf(pfx, sizeof(pfx), "\"%s\"", prefix);
        conf = strdup(ct_consumer_conf(master, dlq, pfx, NULL));
        docs = ct_child_docs(prefix, child, 0);
        rel = ct_first_doc(docs, prefix, "civicrm_relationship");
        ck_assert_ptr_nonnull(rel);
        rel_key = json_string_value(json_object_get(rel, "key"));
        rel_id = json_integer_value(json_object_get(json_object_get(rel, "value"),
                                                    "civisync_child_id"));
        b = json_integer_value(json_object_get(json_object_get(rel, "value"), "contact_id_b"));
        snprintf(bkey, sizeof(bkey), "%s/civicrm_contact/%lld", prefix, b);
        ck_assert_ptr_nonnull(ct_find_doc(docs, bkey));
        json_array_foreach(docs, i, x) {
                if (strcmp(json_string_value(json_object_get(x, "key")), bkey))
                        ct_send_rec(topic, 0, x);
        }
        ku_flush();

        /* Run 1 ends with the relationship parked. */
        r = ct_consume(conf);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        ck_assert_msg(strstr(r.err, "rejected to") == NULL, "%s", r.err);
        it_run_free(&r);
        m = it_connect(master);
        ck_assert_int_eq(ct_master_id(m, prefix, "civicrm_contact", b), 0);
        ck_assert_int_eq(ct_master_id(m, prefix, "civicrm_relationship", rel_id), 0);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_parked_doc WHERE "
                                "prefix = '%s' AND doc_key = '%s'", prefix, rel_key), 1);
        /* --status shows the parking as it is (the first 5 documents). */
        {
                char want[96];
                snprintf(want, sizeof(want), "parked documents: %lld",
                         it_int(m, "SELECT COUNT(*) FROM civisync_parked_doc WHERE "
                                "prefix = '%s'", prefix));
                r = it_run("civisync-consume", "-c", conf, "--status", NULL);
                ck_assert_int_eq(r.exit_code, 0);
                ck_assert_msg(strstr(r.out, want) != NULL, "no \"%s\" in %s", want, r.out);
                ck_assert_msg(strstr(r.out, "parked documents: 0") == NULL, "%s", r.out);
                it_run_free(&r);
        }
        ck_assert_int_gt(it_int(m, "SELECT COUNT(*) FROM civisync_parked_doc WHERE "
                                "prefix = '%s' AND reason LIKE '%%contact_id_b = "
                                "civicrm_contact %lld%%'", prefix, b), 0);

        /* Run 2: the awaited contact arrives. */
        ct_send_rec(topic, 0, ct_find_doc(docs, bkey));
        ku_flush();
        ct_consume_ok(conf);
        ck_assert_int_gt(ct_master_id(m, prefix, "civicrm_contact", b), 0);
        ck_assert_int_gt(ct_master_id(m, prefix, "civicrm_relationship", rel_id), 0);
        ck_assert_int_eq(it_int(m, "SELECT contact_id_b FROM civicrm_relationship WHERE "
                                "id = %lld", ct_master_id(m, prefix, "civicrm_relationship",
                                                          rel_id)),
                         ct_master_id(m, prefix, "civicrm_contact", b));
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_parked_doc WHERE "
                                "prefix = '%s'", prefix), 0);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_parked WHERE "
                                "prefix = '%s'", prefix), 0);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_dead_letter"), 0);
        r = it_run("civisync-consume", "-c", conf, "--status", NULL);
        ck_assert_msg(strstr(r.out, "parked documents: 0") != NULL &&
                      strstr(r.out, "parked references: 0") != NULL, "%s", r.out);
        it_run_free(&r);
        c = it_connect(child);
        it_assert_synced(c, m, prefix);
        mysql_close(c);
        mysql_close(m);
        json_decref(docs);
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

/* The first three share one case ("documented"); the others have one case
 * each, so that CK_RUN_CASE=<name> runs one alone. */
Suite *documented_suite(void)
{
        Suite *s = suite_create("documented");
        TCase *tc = tcase_create("documented");

        tcase_set_timeout(tc, 600);
        tcase_add_test(tc, test_format1_state_forces_complete);
        tcase_add_test(tc, test_id_above_2_32_stops_the_run);
        tcase_add_test(tc, test_row_leaving_filter_is_a_tombstone);
        suite_add_tcase(s, tc);
        add(s, "reparent", test_reparented_row_resends_both_roots);
        add(s, "foreign_ahead", test_foreign_commit_ahead_is_followed);
        add(s, "replay_resumes", test_interrupted_rewind_replay_resumes);
        add(s, "older_reset", test_older_reset_is_ignored);
        add(s, "parked_cross_run", test_parked_document_resolves_next_run);
        return s;
}
