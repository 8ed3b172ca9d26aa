/* test_consume.c — the consumer against real MariaDB and the embedded broker: delivery, dead letters, ordering, apply paths. */
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
        ct_dlq_topic(dlq, sizeof(dlq), master);
        docs = ct_child_docs("ct1", child, 0);
        rec = ct_first_doc(docs, "ct1", "civicrm_contact");
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
                ct_send_json(topic, 0, kinds[idx].key, d);                          \
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
                ct_send_json(topic, 0, kinds[4].key, d);
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
                ct_send_json(topic, 0, kinds[6].key, d); /* id says 1st contact */
                json_decref(d);
        }
        /* A relationship whose relationship type does not exist on the
         * master: the FK check rejects it. */
        {
                json_t *rel = ct_first_doc(docs, "ct1", "civicrm_relationship");
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
                                        ct_send_rec(topic, 0, x);
                }
                ct_send_json(topic, 0, kinds[7].key, d);
                json_decref(d);
        }
        /* A good document after them all is applied. */
        ct_send_rec(topic, 0, rec);
        ku_flush();

        conf = ct_consumer_conf(master, dlq, "\"ct1\"", "max_document_bytes = 25000;");
        r = ct_consume(conf);
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
        /* Each dead letter carries the original value byte for byte (all are
         * below the 900,000-byte copy limit), and its size header says so. */
        {
                ku_msg_t *orig;
                int on = ku_read_all(topic, &orig);
                for (int i = 0; i < n; i++) {
                        long long off = strtoll(msgs[i].h_offset, NULL, 10);
                        int hit = -1;
                        for (int j = 0; j < on; j++)
                                if (orig[j].offset == off)
                                        hit = j;
                        ck_assert_msg(hit >= 0, "%s: offset %lld not on %s", msgs[i].key,
                                      off, topic);
                        ck_assert_ptr_nonnull(msgs[i].h_value_bytes);
                        ck_assert_ptr_nonnull(msgs[i].h_value_omitted);
                        ck_assert_str_eq(msgs[i].h_value_omitted, "");
                        ck_assert_int_eq(strtoll(msgs[i].h_value_bytes, NULL, 10),
                                         (long long)orig[hit].value_len);
                        ck_assert_int_eq(msgs[i].value_len, orig[hit].value_len);
                        ck_assert_msg(!memcmp(msgs[i].value, orig[hit].value,
                                              orig[hit].value_len),
                                      "%s: dead-lettered value differs from the original",
                                      msgs[i].key);
                        ck_assert_str_eq(msgs[i].key, orig[hit].key);
                }
                ku_msgs_free(orig, on);
        }
        ku_msgs_free(msgs, n);

        m = it_connect(master);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_dead_letter WHERE topic = '%s'", topic), 8);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_dead_letter WHERE prefix = 'ct1' AND error LIKE '%%foreign key%%'"), 1);
        /* Nothing of the rejected documents stayed; the good ones applied. */
        ck_assert_int_eq(ct_master_id(m, "ct1", "civicrm_contact", 902), 0);
        ck_assert_int_eq(ct_master_id(m, "ct1", "civicrm_contact", 903), 0);
        ck_assert_int_gt(ct_master_id(m, "ct1", "civicrm_contact",
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
        ct_dlq_topic(dlq, sizeof(dlq), master);
        conf = ct_consumer_conf(master, dlq, "\"ct2\"", NULL);
        ct_produce_ok(it_producer_conf("ct2", child, NULL));
        ct_consume_ok(conf);
        m = it_connect(master);
        c = it_connect(child);
        it_assert_synced(c, m, "ct2");
        docs = ct_child_docs("ct2", child, 0);

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
                d = json_deep_copy(json_object_get(ct_find_doc(docs, key_upd), "value"));
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
                ct_send_json(topic, 0, key_upd, d);
                json_decref(d);
                ct_send_json(topic, 0, key_del, NULL);
                ku_flush();
                ct_consume_ok(conf);
                {
                        long long upd = strtoll(strrchr(key_upd, '/') + 1, NULL, 10);
                        long long del = strtoll(strrchr(key_del, '/') + 1, NULL, 10);
                        long long mid = ct_master_id(m, "ct2", roots[t], upd);
                        ck_assert_msg(mid > 0, "%s %lld unmapped", roots[t], upd);
                        ck_assert_msg(ct_master_id(m, "ct2", roots[t], del) == 0,
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
                long long mcid = ct_master_id(m, "ct2", "civicrm_contact", cid);
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
                ck_assert_int_gt(ct_master_id(m, "ct2", gone_table, gone_id), 0);
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
                ct_send_json(topic, 0, json_string_value(json_object_get(rec, "key")), v);
                ku_flush();
                ct_consume_ok(conf);
                ck_assert_int_eq(ct_master_id(m, "ct2", "civicrm_contact", cid), mcid);
                ck_assert_int_eq(ct_master_id(m, "ct2", gone_table, gone_id), 0);
                email_master = ct_master_id(m, "ct2", "civicrm_email", 990001);
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
                ct_send_json(topic, 0, json_string_value(json_object_get(rec, "key")), NULL);
                ku_flush();
                ct_consume_ok(conf);
                ck_assert_int_eq(ct_master_id(m, "ct2", "civicrm_contact", cid), 0);
                ck_assert_int_eq(ct_master_id(m, "ct2", "civicrm_email", 990001), 0);
                ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_contact WHERE id = %lld", mcid), 0);
                ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_email WHERE contact_id = %lld", mcid), 0);
                json_decref(v);
        }
        mysql_close(m);
        mysql_close(c);
        json_decref(docs);
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
        ct_dlq_topic(dlq, sizeof(dlq), master);
        docs = ct_child_docs("ct4", child, 0);
        n = json_array_size(docs);
        for (size_t i = n; i-- > 0;)
                ct_send_rec(topic, (int)(i % 4), json_array_get(docs, i));
        ku_flush();
        ct_consume_ok(ct_consumer_conf(master, dlq, "\"ct4\"", "batch_documents = 37;"));
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

                ct_dlq_topic(dlq, sizeof(dlq), masters[i]);
                conf = ct_consumer_conf(masters[i], dlq, "\"ct9\"",
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
                ct_dlq_topic(dlq, sizeof(dlq), mc);
                conf = ct_consumer_conf(mc, dlq, "\"ct9\"", NULL);
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

/* One test case per test, so that CK_RUN_CASE=<name> runs one alone. */
Suite *consume_suite(void)
{
        Suite *s = suite_create("consume");

        add(s, "dead_letters", test_dead_letters_each_kind);
        add(s, "incremental", test_incremental_updates_and_deletes);
        add(s, "multi_partition", test_multi_partition_reverse_order);
        add(s, "multi_row", test_multi_row_matches_row_by_row);
        return s;
}
