/* test_parked.c — a parked document that can never apply once its target arrives: recorded, unparked, visible. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consume_util.h"
#include "harness.h"
#include "kafka_util.h"

/* A relationship waits (parked whole) for its contact_id_b; when that
 * contact arrives, the relationship is re-applied and fails for good (its
 * relationship type does not exist on the master). It is recorded as a
 * dead letter with partition and offset -1 (it came from the parking, not
 * from a topic position), leaves the parking, and the log says why. */
START_TEST(test_parked_document_never_applies)
{
        char master[64], child[64], dlq[128];
        const char *topic = "civisync.pk1";
        json_t *docs, *rel, *d, *x;
        const char *rel_key;
        long long b;
        char bkey[96];
        MYSQL *m;
        char *conf;
        it_run_t r;
        size_t i;

        it_master_and_child(master, child, sizeof(master), "--child 2 --contacts 20",
                            topic, 1);
        ct_dlq_topic(dlq, sizeof(dlq), master);
        docs = ct_child_docs("pk1", child, 0);
        rel = ct_first_doc(docs, "pk1", "civicrm_relationship");
        ck_assert_ptr_nonnull(rel);
        rel_key = json_string_value(json_object_get(rel, "key"));
        b = json_integer_value(json_object_get(json_object_get(rel, "value"), "contact_id_b"));
        snprintf(bkey, sizeof(bkey), "pk1/civicrm_contact/%lld", b);
        /* Every contact but contact_id_b's, then the broken relationship. */
        json_array_foreach(docs, i, x) {
                const char *k = json_string_value(json_object_get(x, "key"));
                if (strstr(k, "/civicrm_contact/") && strcmp(k, bkey))
                        ct_send_rec(topic, 0, x);
        }
        d = json_deep_copy(json_object_get(rel, "value"));
        json_object_set_new(d, "relationship_type_id", json_integer(999999));
        ct_send_json(topic, 0, rel_key, d);
        json_decref(d);
        ku_flush();
        conf = strdup(ct_consumer_conf(master, dlq, "\"pk1\"", NULL));
        r = ct_consume(conf);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        it_run_free(&r);
        m = it_connect(master);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_parked_doc WHERE "
                                "prefix = 'pk1' AND doc_key = '%s'", rel_key), 1);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_dead_letter"), 0);

        /* The awaited contact arrives: the relationship can now be tried,
         * and fails for good. */
        ct_send_rec(topic, 0, ct_find_doc(docs, bkey));
        ku_flush();
        r = ct_consume(conf);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        ck_assert_msg(strstr(r.err, "can never apply") != NULL, "%s", r.err);
        it_run_free(&r);
        ck_assert_int_gt(ct_master_id(m, "pk1", "civicrm_contact", b), 0);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_parked_doc WHERE "
                                "prefix = 'pk1'"), 0);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civisync_dead_letter WHERE "
                                "prefix = 'pk1' AND partition_no = -1 AND offset_no = -1 "
                                "AND doc_key = '%s' AND error LIKE '%%foreign key%%'",
                                rel_key), 1);
        ck_assert_int_eq(it_int(m, "SELECT COUNT(*) FROM civicrm_relationship WHERE "
                                "relationship_type_id = 999999"), 0);
        /* --status shows it. */
        r = it_run("civisync-consume", "-c", conf, "--status", NULL);
        ck_assert_msg(strstr(r.out, rel_key) != NULL || strstr(r.err, rel_key) != NULL,
                      "%s%s", r.out, r.err);
        it_run_free(&r);
        mysql_close(m);
        json_decref(docs);
        free(conf);
}
END_TEST

Suite *parked_suite(void)
{
        Suite *s = suite_create("parked");
        TCase *tc = tcase_create("parked");

        tcase_set_timeout(tc, 600);
        tcase_add_test(tc, test_parked_document_never_applies);
        suite_add_tcase(s, tc);
        return s;
}
