/* test_progress.c — unit tests for the terminal progress line's text. */
#include <check.h>
#include <string.h>

#include "progress.h"
#include "suites.h"

/* A line with a known total shows it, with a percentage. */
START_TEST(test_total_and_eta)
{
        cs_progress_t p = { .started = 100.0, .total = 1000, .label = "x" };
        char line[256];

        cs_progress_format(&p, 400, 104.0, line, sizeof(line));
        ck_assert_str_eq(line, "x: 400/1000 docs (40%), 100/s, 4.0 s elapsed, "
                         "ETA 6 s");
}
END_TEST

/* The first tick (a slow first query, then a few documents) predicts no
 * ETA: it waits for CS_PROGRESS_ETA_AFTER_S of measurement. */
START_TEST(test_no_eta_on_first_tick)
{
        cs_progress_t p = { .started = 100.0, .total = 100000, .label = "x" };
        char line[256];

        cs_progress_format(&p, 1, 100.25, line, sizeof(line));
        ck_assert_msg(strstr(line, "ETA estimating") != NULL, "%s", line);
        ck_assert_msg(strstr(line, "ETA 2") == NULL, "%s", line);
}
END_TEST

/* The rate counts from cs_progress_start: time spent before (a group join)
 * and documents counted before are not in it. */
START_TEST(test_rate_from_start)
{
        cs_progress_t p;
        char line[256];

        cs_progress_init(&p, "x", 0);
        p.started = 50.0;
        p.base = 200;
        cs_progress_format(&p, 700, 55.0, line, sizeof(line));
        ck_assert_str_eq(line, "x: 700 docs, 100/s, 5.0 s elapsed");
}
END_TEST

/* Past the total (new messages arrived meanwhile): no stale ETA. */
START_TEST(test_past_total)
{
        cs_progress_t p = { .started = 1.0, .total = 10, .label = "x" };
        char line[256];

        cs_progress_format(&p, 20, 11.0, line, sizeof(line));
        ck_assert_str_eq(line, "x: 20 docs, 2/s, 10.0 s elapsed");
}
END_TEST

Suite *progress_suite(void)
{
        Suite *s = suite_create("progress");
        TCase *tc = tcase_create("progress");

        tcase_add_test(tc, test_total_and_eta);
        tcase_add_test(tc, test_no_eta_on_first_tick);
        tcase_add_test(tc, test_rate_from_start);
        tcase_add_test(tc, test_past_total);
        suite_add_tcase(s, tc);
        return s;
}
