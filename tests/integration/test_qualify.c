/* test_qualify.c — UNIQUE columns too long for "<PREFIX>:<value>" are truncated with a hash, end to end. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* Characters (not bytes) of a UTF-8 string. */
static size_t chars(const char *s)
{
        size_t n = 0;
        for (; *s; s++)
                n += ((unsigned char)*s & 0xC0) != 0x80;
        return n;
}

/* Names that fill their 64-character columns (group name, tag name, a
 * contact's external_identifier; one with multi-byte characters) cannot
 * hold "<PREFIX>:" in front: the master keeps the prefix, the head that
 * fits and "~" + 8 hex digits. Checked value for value by the tests' own
 * qualification (it_assert_synced, tests/lib/oracle.c), by hand for the shape, and with two long names that
 * differ only in their tail (they must stay distinct on the master). */
START_TEST(test_long_unique_values_truncate)
{
        char master[64], child[64], name[80], other[80], ext[160];
        const char *prefix = "qt1";
        char *pconf, *cconf;
        MYSQL *m, *c;
        it_run_t r;

        it_master_and_child(master, child, sizeof(master), "--child 2 --contacts 20",
                            "civisync.qt1", 1);
        it_topic("civisync.dead-letter", 1);
        c = it_connect(child);
        memset(name, 'g', 63);
        name[63] = '\0';
        snprintf(other, sizeof(other), "%.62sh", name);
        it_exec(c, "UPDATE civicrm_group SET name = CONCAT('%s', 'A') WHERE id = "
                "(SELECT id FROM (SELECT MIN(id) id FROM civicrm_group) x)", name);
        it_exec(c, "UPDATE civicrm_group SET name = CONCAT('%s', 'B') WHERE id = "
                "(SELECT id FROM (SELECT MAX(id) id FROM civicrm_group) x)", name);
        it_exec(c, "UPDATE civicrm_tag SET name = '%s' WHERE id = "
                "(SELECT id FROM (SELECT MIN(id) id FROM civicrm_tag) x)", other);
        /* 62 characters, 124 bytes: two-byte characters */
        ext[0] = '\0';
        for (int i = 0; i < 62; i++)
                strcat(ext, "\xc3\xa9");
        it_exec(c, "UPDATE civicrm_contact SET external_identifier = '%s' WHERE id = "
                "(SELECT id FROM (SELECT MIN(id) id FROM civicrm_contact WHERE "
                "contact_type = 'Individual') x)", ext);
        pconf = strdup(it_producer_conf(prefix, child, NULL));
        cconf = strdup(it_consumer_conf(master, "prefixes = [\"qt1\"];"));
        r = it_run("civisync-produce", "-c", pconf, "--complete", NULL);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        it_run_free(&r);
        r = it_run("civisync-consume", "-c", cconf, "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        ck_assert_msg(strstr(r.err, "rejected to") == NULL, "%s", r.err);
        it_run_free(&r);
        m = it_connect(master);
        it_assert_synced(c, m, prefix);

        /* The shape, by hand: 64 characters, "qt1:" + head + "~" + 8 hex. */
        {
                MYSQL_RES *res;
                MYSQL_ROW row;
                int n = 0;
                ck_assert(mysql_query(m, "SELECT g.name FROM civicrm_group g JOIN "
                                      "mapping_master_qt1 mp ON mp.master_entity_id = g.id "
                                      "AND mp.entity_table = 'civicrm_group' WHERE "
                                      "g.name LIKE 'qt1:ggg%'") == 0);
                res = mysql_store_result(m);
                ck_assert_ptr_nonnull(res);
                while ((row = mysql_fetch_row(res))) {
                        const char *v = row[0], *tilde = strrchr(v, '~');
                        ck_assert_int_eq(chars(v), 64);
                        ck_assert_ptr_nonnull(tilde);
                        ck_assert_int_eq(strlen(tilde), 9);
                        ck_assert_int_eq(strspn(tilde + 1, "0123456789abcdef"), 8);
                        ck_assert_int_eq(strncmp(v, "qt1:", 4), 0);
                        ck_assert_int_eq(strncmp(v + 4, name, 64 - 4 - 9), 0);
                        n++;
                }
                mysql_free_result(res);
                ck_assert_int_eq(n, 2);
        }
        /* Distinct tails stay distinct. */
        ck_assert_int_eq(it_int(m, "SELECT COUNT(DISTINCT g.name) FROM civicrm_group g "
                                "WHERE g.name LIKE 'qt1:ggg%%'"), 2);
        /* The multi-byte value: 64 characters, never a cut character. */
        ck_assert_int_eq(it_int(m, "SELECT CHAR_LENGTH(c.external_identifier) FROM "
                                "civicrm_contact c JOIN mapping_master_qt1 mp ON "
                                "mp.master_entity_id = c.id AND mp.entity_table = "
                                "'civicrm_contact' WHERE c.external_identifier LIKE "
                                "'qt1:%%~%%' AND c.external_identifier LIKE '%%\xc3\xa9~%%'"), 64);
        mysql_close(m);
        mysql_close(c);
        free(pconf);
        free(cconf);
}
END_TEST

Suite *qualify_suite(void)
{
        Suite *s = suite_create("qualify");
        TCase *tc = tcase_create("qualify");

        tcase_set_timeout(tc, 600);
        tcase_add_test(tc, test_long_unique_values_truncate);
        suite_add_tcase(s, tc);
        return s;
}
