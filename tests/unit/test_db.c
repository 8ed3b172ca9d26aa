/* test_db.c — unit tests of the DB helpers that need no server. */
#include <check.h>
#include <errmsg.h>
#include <mysqld_error.h>

#include "db.h"
#include "suites.h"

START_TEST(test_ident_valid)
{
        ck_assert_int_eq(cs_db_ident_valid("civicrm_contact"), 1);
        ck_assert_int_eq(cs_db_ident_valid("mapping_master_P1"), 1);
        ck_assert_int_eq(cs_db_ident_valid(""), 0);
        ck_assert_int_eq(cs_db_ident_valid(NULL), 0);
        ck_assert_int_eq(cs_db_ident_valid("a`b"), 0);
        ck_assert_int_eq(cs_db_ident_valid("a b"), 0);
        ck_assert_int_eq(cs_db_ident_valid("x;DROP TABLE y"), 0);
        ck_assert_int_eq(cs_db_ident_valid("d\xc3\xa9j\xc3\xa0"), 0);
        /* 64 characters is MariaDB's limit; 65 is refused. */
        ck_assert_int_eq(cs_db_ident_valid(
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), 1);
        ck_assert_int_eq(cs_db_ident_valid(
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), 0);
}
END_TEST

START_TEST(test_transient_errors)
{
        ck_assert_int_eq(cs_db_errno_transient(CR_SERVER_GONE_ERROR), 1);
        ck_assert_int_eq(cs_db_errno_transient(CR_SERVER_LOST), 1);
        ck_assert_int_eq(cs_db_errno_transient(ER_LOCK_DEADLOCK), 1);
        ck_assert_int_eq(cs_db_errno_transient(ER_LOCK_WAIT_TIMEOUT), 1);
        ck_assert_int_eq(cs_db_errno_transient(ER_SERVER_SHUTDOWN), 1);
        /* Errors in the data are permanent: they go to the dead-letter topic. */
        ck_assert_int_eq(cs_db_errno_transient(ER_DUP_ENTRY), 0);
        ck_assert_int_eq(cs_db_errno_transient(ER_NO_REFERENCED_ROW_2), 0);
        ck_assert_int_eq(cs_db_errno_transient(ER_DATA_TOO_LONG), 0);
        ck_assert_int_eq(cs_db_errno_transient(ER_TRUNCATED_WRONG_VALUE_FOR_FIELD), 0);
}
END_TEST

Suite *db_suite(void)
{
        Suite *s = suite_create("db");
        TCase *tc = tcase_create("helpers");
        tcase_add_test(tc, test_ident_valid);
        tcase_add_test(tc, test_transient_errors);
        suite_add_tcase(s, tc);
        return s;
}
