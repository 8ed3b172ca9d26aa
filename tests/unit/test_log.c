/* test_log.c — unit tests for log line format, level filtering and librdkafka level mapping. */
#include <check.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "suites.h"

static int saved_fd = -1;
static char cap_path[64];

/* Redirects fd 2 into a temp file until capture_end(). */
static void capture_begin(void)
{
        strcpy(cap_path, "/tmp/cs_test_log_XXXXXX");
        int fd = mkstemp(cap_path);
        ck_assert_int_ge(fd, 0);
        fflush(stderr);
        saved_fd = dup(2);
        dup2(fd, 2);
        close(fd);
}

/* Restores stderr and returns what was written (static buffer). */
static const char *capture_end(void)
{
        static char buf[8192];
        fflush(stderr);
        dup2(saved_fd, 2);
        close(saved_fd);
        FILE *fp = fopen(cap_path, "r");
        ck_assert_ptr_nonnull(fp);
        size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
        buf[n] = '\0';
        fclose(fp);
        unlink(cap_path);
        return buf;
}

static void setup(void)
{
        cs_log_init("unit-log");
        cs_log_set_level(CS_LOG_INFO);
}

START_TEST(test_line_format)
{
        char re_src[256];
        regex_t re;

        capture_begin();
        cs_warn("disk %s at %d%%", "full", 99);
        const char *out = capture_end();
        snprintf(re_src, sizeof(re_src),
                 "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
                 "unit-log\\[%ld\\] WARN: disk full at 99%%\n$", (long)getpid());
        ck_assert_int_eq(regcomp(&re, re_src, REG_EXTENDED), 0);
        ck_assert_msg(regexec(&re, out, 0, NULL, 0) == 0, "line: '%s'", out);
        regfree(&re);
}
END_TEST

START_TEST(test_level_filtering)
{
        capture_begin();
        cs_debug("hidden-debug");
        cs_info("shown-info");
        cs_log_set_level(CS_LOG_WARN);
        cs_info("hidden-info");
        cs_warn("shown-warn");
        cs_log_set_level(CS_LOG_ERROR);
        cs_warn("hidden-warn");
        cs_error("shown-error");
        cs_log_set_level(CS_LOG_DEBUG);
        cs_debug("shown-debug");
        const char *out = capture_end();
        ck_assert_ptr_null(strstr(out, "hidden"));
        ck_assert_ptr_nonnull(strstr(out, " INFO: shown-info\n"));
        ck_assert_ptr_nonnull(strstr(out, " WARN: shown-warn\n"));
        ck_assert_ptr_nonnull(strstr(out, " ERROR: shown-error\n"));
        ck_assert_ptr_nonnull(strstr(out, " DEBUG: shown-debug\n"));
}
END_TEST

START_TEST(test_more_less_clamp)
{
        cs_log_set_level(CS_LOG_INFO);
        cs_log_more();
        ck_assert_int_eq(cs_log_threshold, CS_LOG_DEBUG);
        cs_log_more();
        ck_assert_int_eq(cs_log_threshold, CS_LOG_DEBUG);
        cs_log_less();
        cs_log_less();
        cs_log_less();
        ck_assert_int_eq(cs_log_threshold, CS_LOG_ERROR);
        cs_log_less();
        ck_assert_int_eq(cs_log_threshold, CS_LOG_ERROR);
}
END_TEST

START_TEST(test_rdkafka_levels)
{
        capture_begin();
        cs_log_rdkafka(NULL, 3, "FAIL", "broker down");
        cs_log_rdkafka(NULL, 0, "EMERG", "e0");
        cs_log_rdkafka(NULL, 4, "REQTMOUT", "timed out");
        cs_log_rdkafka(NULL, 5, "CONFWARN", "notice");
        cs_log_rdkafka(NULL, 6, "INFO6", "info6");
        cs_log_rdkafka(NULL, 7, "FETCH", "debug-hidden");
        const char *out = capture_end();
        ck_assert_ptr_nonnull(strstr(out, " ERROR: rdkafka FAIL: broker down\n"));
        ck_assert_ptr_nonnull(strstr(out, " ERROR: rdkafka EMERG: e0\n"));
        ck_assert_ptr_nonnull(strstr(out, " WARN: rdkafka REQTMOUT: timed out\n"));
        ck_assert_ptr_nonnull(strstr(out, " INFO: rdkafka CONFWARN: notice\n"));
        ck_assert_ptr_nonnull(strstr(out, " INFO: rdkafka INFO6: info6\n"));
        ck_assert_ptr_null(strstr(out, "debug-hidden"));

        cs_log_set_level(CS_LOG_DEBUG);
        capture_begin();
        cs_log_rdkafka(NULL, 7, "FETCH", "debug-shown");
        out = capture_end();
        ck_assert_ptr_nonnull(strstr(out, " DEBUG: rdkafka FETCH: debug-shown\n"));
}
END_TEST

START_TEST(test_one_line_per_record)
{
        char big[5000];

        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        capture_begin();
        cs_info("trailing newline\n");
        cs_info("%s", big);
        const char *out = capture_end();
        ck_assert_ptr_nonnull(strstr(out, "INFO: trailing newline\n"));
        ck_assert_ptr_null(strstr(out, "\n\n"));
        /* the long record is truncated, marked, and still ends the line */
        ck_assert_ptr_nonnull(strstr(out, "xxx...\n"));
        int lines = 0;
        for (const char *p = out; *p; p++)
                lines += *p == '\n';
        ck_assert_int_eq(lines, 2);
}
END_TEST

START_TEST(test_control_characters_escaped)
{
        /* A key from a hostile document: a forged second record and an
         * ANSI escape sequence, a tab, DEL, and a lone invalid UTF-8 byte. */
        capture_begin();
        cs_warn("bad key '%s'", "a\nFAKE ERROR: x\x1b[31mred\r\tz\x7f\xff");
        cs_info("caf\xc3\xa9 \xe2\x82\xac ok");       /* valid UTF-8 passes */
        cs_info("cut \xc3");                          /* truncated sequence */
        cs_info("overlong \xc0\xaf");                /* overlong '/' */
        const char *out = capture_end();
        ck_assert_msg(strstr(out, " WARN: bad key 'a\\nFAKE ERROR: "
                                  "x\\x1b[31mred\\r\\tz\\x7f\\xff'\n") != NULL,
                      "got: %s", out);
        ck_assert_ptr_null(strchr(out, '\x1b'));
        ck_assert_ptr_null(strchr(out, '\r'));
        ck_assert_ptr_null(strchr(out, '\t'));
        ck_assert_ptr_nonnull(strstr(out, " INFO: caf\xc3\xa9 \xe2\x82\xac ok\n"));
        ck_assert_ptr_nonnull(strstr(out, " INFO: cut \\xc3\n"));
        ck_assert_ptr_nonnull(strstr(out, " INFO: overlong \\xc0\\xaf\n"));
        int lines = 0;
        for (const char *p = out; *p; p++)
                lines += *p == '\n';
        ck_assert_int_eq(lines, 4);
}
END_TEST

Suite *log_suite(void)
{
        Suite *s = suite_create("log");
        TCase *tc = tcase_create("core");

        tcase_add_checked_fixture(tc, setup, NULL);
        tcase_add_test(tc, test_line_format);
        tcase_add_test(tc, test_level_filtering);
        tcase_add_test(tc, test_more_less_clamp);
        tcase_add_test(tc, test_rdkafka_levels);
        tcase_add_test(tc, test_one_line_per_record);
        tcase_add_test(tc, test_control_characters_escaped);
        suite_add_tcase(s, tc);
        return s;
}
