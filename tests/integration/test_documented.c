/* test_documented.c — documented producer behaviours: old state formats, ids past 2^32, rows leaving their filter. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

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

Suite *documented_suite(void)
{
        Suite *s = suite_create("documented");
        TCase *tc = tcase_create("documented");

        tcase_set_timeout(tc, 600);
        tcase_add_test(tc, test_format1_state_forces_complete);
        tcase_add_test(tc, test_id_above_2_32_stops_the_run);
        tcase_add_test(tc, test_row_leaving_filter_is_a_tombstone);
        suite_add_tcase(s, tc);
        return s;
}
