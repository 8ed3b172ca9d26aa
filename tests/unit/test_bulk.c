/* test_bulk.c — unit tests of the multi-row INSERT row buffer (shared/bulk.c). */
#include <stdlib.h>
#include <string.h>
#include <check.h>

#include "bulk.h"
#include "suites.h"

static cs_db_value_t iv(long long i)
{
        cs_db_value_t v = { .kind = CS_VAL_INT, .i = i };
        return v;
}

static cs_db_value_t sv(const char *s)
{
        cs_db_value_t v = { .kind = CS_VAL_STR, .s = s, .len = strlen(s) };
        return v;
}

START_TEST(test_rows_and_truncate)
{
        static const char *const cols[3] = { "contact_id", "email", "is_primary" };
        static const char *const other[3] = { "contact_id", "email", "on_hold" };
        cs_bulk_t b;
        cs_db_value_t row[3];
        char *owned;

        memset(&b, 0, sizeof(b));
        cs_bulk_init(&b, "civicrm_email", cols, 3);
        ck_assert_int_eq(cs_bulk_same_cols(&b, cols, 3), 1);
        ck_assert_int_eq(cs_bulk_same_cols(&b, other, 3), 0);
        ck_assert_int_eq(cs_bulk_same_cols(&b, cols, 2), 0);

        /* 100 rows: the buffer grows past its first capacity. */
        for (int r = 0; r < 100; r++) {
                row[0] = iv(r);
                row[1] = sv(r % 2 ? "a@example.org" : "bb@example.org");
                row[2] = iv(1);
                ck_assert_int_eq(cs_bulk_add(&b, row, 1000 + r), 0);
        }
        ck_assert_uint_eq(b.rows, 100);
        ck_assert_uint_eq(b.bytes, 50 * 13 + 50 * 14);
        ck_assert_int_eq(b.tags[99], 1099);
        ck_assert_int_eq(cs_bulk_value(&b, 42, 0)->i, 42);
        ck_assert_str_eq(cs_bulk_value(&b, 43, 1)->s, "a@example.org");

        /* A document's rows are undone together with the strings it owned. */
        owned = strdup("owned by the undone row");
        ck_assert_int_eq(cs_bulk_own(&b, owned), 0);
        row[0] = iv(7);
        row[1] = sv(owned);
        ck_assert_int_eq(cs_bulk_add(&b, row, 2000), 0);
        ck_assert_uint_eq(b.owned_n, 1);
        cs_bulk_truncate(&b, 100, 0);
        ck_assert_uint_eq(b.rows, 100);
        ck_assert_uint_eq(b.owned_n, 0);
        ck_assert_uint_eq(b.bytes, 50 * 13 + 50 * 14);

        cs_bulk_clear(&b);
        ck_assert_uint_eq(b.rows, 0);
        ck_assert_uint_eq(b.bytes, 0);
        ck_assert_ptr_null(b.vals);
        cs_bulk_clear(&b); /* twice is harmless */
}
END_TEST

START_TEST(test_chunk_rows)
{
        /* Powers of two, at most 64 rows... */
        ck_assert_uint_eq(cs_bulk_chunk_rows(1, 10), 1);
        ck_assert_uint_eq(cs_bulk_chunk_rows(3, 10), 2);
        ck_assert_uint_eq(cs_bulk_chunk_rows(64, 10), 64);
        ck_assert_uint_eq(cs_bulk_chunk_rows(1000, 10), 64);
        ck_assert_uint_eq(cs_bulk_chunk_rows(100, 10), 64);
        ck_assert_uint_eq(cs_bulk_chunk_rows(36, 10), 32);
        /* ... and within the placeholder limit for wide rows. */
        ck_assert_uint_eq(cs_bulk_chunk_rows(1000, 2000), 16);
        ck_assert_uint_eq(cs_bulk_chunk_rows(1000, 70000), 1);
        /* Every row is covered: 100 = 64 + 32 + 4. */
        {
                size_t left = 100, stmts = 0;
                while (left) {
                        left -= cs_bulk_chunk_rows(left, 50);
                        stmts++;
                }
                ck_assert_uint_eq(stmts, 3);
        }
}
END_TEST

Suite *bulk_suite(void)
{
        Suite *s = suite_create("bulk");
        TCase *tc = tcase_create("buffer");
        tcase_add_test(tc, test_rows_and_truncate);
        tcase_add_test(tc, test_chunk_rows);
        suite_add_tcase(s, tc);
        return s;
}
