/* test_prefix.c — unit tests for prefix validation and prefixed table names. */
#include <check.h>
#include <string.h>

#include "prefix.h"
#include "suites.h"

START_TEST(test_valid_prefixes)
{
        ck_assert_int_eq(cs_prefix_valid("P1"), 1);
        ck_assert_int_eq(cs_prefix_valid("a"), 1);
        ck_assert_int_eq(cs_prefix_valid("_"), 1);
        ck_assert_int_eq(cs_prefix_valid("Site_42_b"), 1);
        ck_assert_int_eq(cs_prefix_valid("0123456789"), 1);
}
END_TEST

START_TEST(test_length_limits)
{
        char s[40];

        memset(s, 'x', 32);
        s[32] = '\0';
        ck_assert_int_eq(cs_prefix_valid(s), 1);
        s[32] = 'y';
        s[33] = '\0';
        ck_assert_int_eq(cs_prefix_valid(s), 0);
        ck_assert_int_eq(cs_prefix_valid(""), 0);
        ck_assert_int_eq(cs_prefix_valid(NULL), 0);
}
END_TEST

START_TEST(test_invalid_characters)
{
        ck_assert_int_eq(cs_prefix_valid("P.1"), 0);
        ck_assert_int_eq(cs_prefix_valid("P-1"), 0);
        ck_assert_int_eq(cs_prefix_valid("P 1"), 0);
        ck_assert_int_eq(cs_prefix_valid("P1 "), 0);
        ck_assert_int_eq(cs_prefix_valid("P/1"), 0);
        ck_assert_int_eq(cs_prefix_valid("P1;"), 0);
        ck_assert_int_eq(cs_prefix_valid("P`1"), 0);
        ck_assert_int_eq(cs_prefix_valid("Pé"), 0);          /* UTF-8 e-acute */
        ck_assert_int_eq(cs_prefix_valid("\xc3\xa9"), 0);
        ck_assert_int_eq(cs_prefix_valid("P1\n"), 0);
}
END_TEST

START_TEST(test_table_name)
{
        char out[65], err[256] = "";

        ck_assert_int_eq(cs_prefix_table_name(out, sizeof(out), "mapping_master_",
                                              "P1", err, sizeof(err)), 0);
        ck_assert_str_eq(out, "mapping_master_P1");
}
END_TEST

START_TEST(test_table_name_rejects_bad_prefix)
{
        char out[65], err[256] = "";

        ck_assert_int_eq(cs_prefix_table_name(out, sizeof(out), "mapping_master_",
                                              "P1`; DROP", err, sizeof(err)), -1);
        ck_assert_ptr_nonnull(strstr(err, "invalid prefix"));
        ck_assert_ptr_nonnull(strstr(err, "P1`; DROP"));
        err[0] = '\0';
        ck_assert_int_eq(cs_prefix_table_name(out, sizeof(out), "t_", "",
                                              err, sizeof(err)), -1);
        ck_assert_ptr_nonnull(strstr(err, "invalid prefix"));
}
END_TEST

START_TEST(test_table_name_too_long)
{
        char small[10], out[200], err[256] = "", base[60];

        ck_assert_int_eq(cs_prefix_table_name(small, sizeof(small), "mapping_master_",
                                              "P1", err, sizeof(err)), -1);
        ck_assert_ptr_nonnull(strstr(err, "does not fit"));
        /* 40 + 32 characters exceeds MariaDB's 64-character identifiers */
        memset(base, 'b', 40);
        base[40] = '\0';
        ck_assert_int_eq(cs_prefix_table_name(out, sizeof(out), base,
                                              "abcdefghijklmnopqrstuvwxyz012345",
                                              err, sizeof(err)), -1);
        ck_assert_ptr_nonnull(strstr(err, "64"));
}
END_TEST

Suite *prefix_suite(void)
{
        Suite *s = suite_create("prefix");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_valid_prefixes);
        tcase_add_test(tc, test_length_limits);
        tcase_add_test(tc, test_invalid_characters);
        tcase_add_test(tc, test_table_name);
        tcase_add_test(tc, test_table_name_rejects_bad_prefix);
        tcase_add_test(tc, test_table_name_too_long);
        suite_add_tcase(s, tc);
        return s;
}
