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

/* The classification table: every error the consumer meets, transient
 * (retry the batch) or permanent (dead-letter the document). */
static const struct {
        unsigned int err;
        const char *message;
        int transient;
} classified[] = {
        { CR_SERVER_GONE_ERROR, "MySQL server has gone away", 1 },
        { CR_SERVER_LOST, "Lost connection to server during query", 1 },
        { CR_CONNECTION_ERROR, NULL, 1 },
        { ER_SERVER_SHUTDOWN, NULL, 1 },
        { ER_CON_COUNT_ERROR, "Too many connections", 1 },
        { ER_TOO_MANY_USER_CONNECTIONS, NULL, 1 },
        { ER_CONNECTION_KILLED, NULL, 1 },
        { ER_LOCK_DEADLOCK, "Deadlock found when trying to get lock", 1 },
        { ER_LOCK_WAIT_TIMEOUT, "Lock wait timeout exceeded", 1 },
        { ER_LOCK_TABLE_FULL, NULL, 1 },
        /* The server's mysys errors, as the client sees them (seen in
         * make test: errno 6 on an information_schema query). */
        { 6, "Error on delete of '/tmp/#sql-temptable-3f1-2.MAI' "
          "(Errcode: 2 \"No such file or directory\")", 1 },
        { 1, "Can't create/write to file '/tmp/#sql_1.MAI' (Errcode: 28)", 1 },
        { 3, "Error writing file '/tmp/MYfd=40' (Errcode: 28)", 1 },
        { 20, "Disk is full writing '/tmp/#sql_1.MAD'", 1 },
        { 22, "Character set 'x' is not a compiled character set", 0 },
        { 28, "Unknown collation: 'x'", 0 },
        { ER_CANT_DELETE_FILE, "Error on delete of '/tmp/x' (errno: 2)", 1 },
        { ER_CANT_CREATE_FILE, "Can't create file '/tmp/#sql_1.MAI' (errno: 28)", 1 },
        { ER_DISK_FULL, NULL, 1 },
        { ER_ERROR_ON_WRITE, NULL, 1 },
        { ER_RECORD_FILE_FULL, "The table '#sql-temptable' is full", 1 },
        { ER_OUTOFMEMORY, NULL, 1 },
        { ER_TEMP_FILE_WRITE_FAILURE, NULL, 1 },
        { ER_GET_ERRNO, "Got error 28 \"No space left on device\" from storage engine Aria", 1 },
        { ER_GET_ERRNO, "Got error 2 \"No such file or directory\" from storage engine", 1 },
        { ER_OPTION_PREVENTS_STATEMENT, "The MariaDB server is running with the "
          "--read-only option so it cannot execute this statement", 1 },
        { ER_READ_ONLY_MODE, NULL, 1 },
        /* The data is at fault: dead-lettered. */
        { ER_GET_ERRNO, "Got error 139 \"Too big row\" from storage engine InnoDB", 0 },
        { ER_GET_ERRNO, NULL, 0 },
        { ER_DUP_ENTRY, "Duplicate entry 'x' for key 'UI_name'", 0 },
        { ER_NO_REFERENCED_ROW_2, NULL, 0 },
        { ER_ROW_IS_REFERENCED_2, NULL, 0 },
        { ER_DATA_TOO_LONG, NULL, 0 },
        { ER_TRUNCATED_WRONG_VALUE_FOR_FIELD, NULL, 0 },
        { ER_BAD_FIELD_ERROR, "Unknown column 'x' in 'field list'", 0 },
        { ER_BAD_NULL_ERROR, NULL, 0 },
        { ER_PARSE_ERROR, NULL, 0 },
        { ER_SIGNAL_EXCEPTION, "Unhandled user-defined exception condition", 0 },
};

START_TEST(test_transient_errors)
{
        for (size_t i = 0; i < sizeof(classified) / sizeof(classified[0]); i++)
                ck_assert_msg(cs_db_error_transient(classified[i].err,
                                                    classified[i].message) ==
                              classified[i].transient, "error %u (%s): want %s",
                              classified[i].err, classified[i].message ?
                              classified[i].message : "no message",
                              classified[i].transient ? "transient" : "permanent");
        ck_assert_int_eq(cs_db_errno_transient(ER_LOCK_DEADLOCK), 1);
        ck_assert_int_eq(cs_db_errno_transient(ER_DUP_ENTRY), 0);
}
END_TEST

/* cs_db_append says when text did not fit, so no caller runs truncated SQL. */
START_TEST(test_append_reports_truncation)
{
        char buf[16] = "SELECT ";

        ck_assert_int_eq(cs_db_append(buf, sizeof(buf), "%s", "id"), 0);
        ck_assert_str_eq(buf, "SELECT id");
        ck_assert_int_eq(cs_db_append(buf, sizeof(buf), "%s", " FROM"), 0);
        ck_assert_str_eq(buf, "SELECT id FROM");
        /* 15 characters fill the buffer: one more does not fit. */
        ck_assert_int_eq(cs_db_append(buf, sizeof(buf), "%s", " t"), -1);
        ck_assert_str_eq(buf, "SELECT id FROM ");
        ck_assert_int_eq(cs_db_append(buf, sizeof(buf), "%s", "x"), -1);
        ck_assert_str_eq(buf, "SELECT id FROM ");
}
END_TEST

Suite *db_suite(void)
{
        Suite *s = suite_create("db");
        TCase *tc = tcase_create("helpers");
        tcase_add_test(tc, test_ident_valid);
        tcase_add_test(tc, test_transient_errors);
        tcase_add_test(tc, test_append_reports_truncation);
        suite_add_tcase(s, tc);
        return s;
}
