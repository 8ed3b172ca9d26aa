/* test_input_read.c — unit tests of the consumer's parsing ahead: --input's reader thread (batches in file order, values parsed ahead, errors after the batches before them, a stop while it waits) and a Kafka batch's two-thread parse. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../consumer/input_read.h"
#include "../../consumer/parse_split.h"
#include "suites.h"

/* A temp file holding text, rewound. */
static FILE *text_file(const char *text)
{
        FILE *fp = tmpfile();

        ck_assert_ptr_nonnull(fp);
        ck_assert_int_eq(fputs(text, fp) >= 0, 1);
        rewind(fp);
        return fp;
}

/* n producer lines c1..cn (line i: a contact document, or a tombstone
 * when i is a multiple of 4), each ending with a newline. */
static char *producer_lines(int n)
{
        size_t cap = (size_t)n * 160 + 1, len = 0;
        char *s = malloc(cap);

        ck_assert_ptr_nonnull(s);
        s[0] = '\0';
        for (int i = 1; i <= n; i++) {
                if (i % 4 == 0)
                        len += (size_t)snprintf(s + len, cap - len,
                                "{\"key\":\"P:civicrm_contact:%d\",\"partition\":0,"
                                "\"value\":null}\n", i);
                else
                        len += (size_t)snprintf(s + len, cap - len,
                                "{\"key\":\"P:civicrm_contact:%d\",\"partition\":0,"
                                "\"value\":{\"id\":\"P:civicrm_contact:%d\",\"n\":%d}}\n",
                                i, i, i);
        }
        return s;
}

START_TEST(test_batches_in_order_parsed_ahead)
{
        char *text = producer_lines(10), err[256] = "", want[64];
        FILE *fp = text_file(text);
        cs_input_reader_t *r = cs_input_reader_start(fp, "f.ndjson", 0, 3, 0, err,
                                                     sizeof(err));
        cs_input_batch_t *b;
        size_t sizes[] = { 3, 3, 3, 1 };
        int line = 0, rc;

        ck_assert_msg(r != NULL, "%s", err);
        for (size_t k = 0; k < 4; k++) {
                ck_assert_int_eq(cs_input_reader_next(r, &b, err, sizeof(err)), 1);
                ck_assert_uint_eq(b->n, sizes[k]);
                for (size_t i = 0; i < b->n; i++) {
                        cs_input_rec_t *rec = &b->recs[i];
                        line++;
                        ck_assert_int_eq(rec->lineno, line);
                        snprintf(want, sizeof(want), "P:civicrm_contact:%d", line);
                        ck_assert_str_eq(rec->key, want);
                        if (line % 4 == 0) {
                                ck_assert_ptr_null(rec->value);
                                ck_assert_ptr_null(rec->doc);
                        } else {
                                /* the value's text is kept, and parsed */
                                ck_assert_ptr_nonnull(rec->value);
                                ck_assert_ptr_nonnull(rec->doc);
                                ck_assert_int_eq(json_integer_value(json_object_get(
                                                 rec->doc, "n")), line);
                        }
                }
                cs_input_batch_free(b);
        }
        rc = cs_input_reader_next(r, &b, err, sizeof(err));
        ck_assert_int_eq(rc, 0);
        ck_assert_ptr_null(b);
        ck_assert_int_eq(cs_input_reader_lines(r), 10);
        cs_input_reader_free(r);
        fclose(fp);
        free(text);
}
END_TEST

/* A value that is not JSON, or over the size limit, is handed on unparsed
 * (the apply parses it again and rejects it, naming its line); a line with
 * its members in another order is parsed whole. */
START_TEST(test_unparsable_values_handed_on)
{
        const char *text =
                "{\"key\":\"P:civicrm_contact:1\",\"partition\":0,\"value\":{nope}}\n"
                "{\"key\":\"P:civicrm_contact:2\",\"partition\":0,\"value\":"
                "{\"id\":\"P:civicrm_contact:2\",\"pad\":\"0123456789012345678901234567890123456789\"}}\n"
                "{\"value\":{\"a\":1},\"key\":\"P:civicrm_contact:3\"}\n";
        char err[256] = "";
        FILE *fp = text_file(text);
        cs_input_reader_t *r = cs_input_reader_start(fp, "f", 0, 10, 40, err,
                                                     sizeof(err));
        cs_input_batch_t *b;

        ck_assert_msg(r != NULL, "%s", err);
        ck_assert_int_eq(cs_input_reader_next(r, &b, err, sizeof(err)), 1);
        ck_assert_uint_eq(b->n, 3);
        ck_assert_str_eq(b->recs[0].value, "{nope}");
        ck_assert_ptr_null(b->recs[0].doc);
        ck_assert_ptr_nonnull(b->recs[1].value);
        ck_assert_ptr_null(b->recs[1].doc);     /* over 40 bytes */
        ck_assert_str_eq(b->recs[2].key, "P:civicrm_contact:3");
        ck_assert_str_eq(b->recs[2].value, "{\"a\":1}");
        ck_assert_ptr_nonnull(b->recs[2].doc);
        cs_input_batch_free(b);
        ck_assert_int_eq(cs_input_reader_next(r, &b, err, sizeof(err)), 0);
        cs_input_reader_free(r);
        fclose(fp);
}
END_TEST

/* A line that is no record: the full batches before it come first, then
 * the error naming the file and line; the records of its own unfinished
 * batch are not handed out. */
START_TEST(test_bad_line_after_full_batches)
{
        char *good = producer_lines(7), *text, err[256] = "";
        FILE *fp;
        cs_input_reader_t *r;
        cs_input_batch_t *b;

        ck_assert_int_ne(asprintf(&text, "%s[1,2]\n%s", good, good), -1);
        fp = text_file(text);
        r = cs_input_reader_start(fp, "f.ndjson", 0, 3, 0, err, sizeof(err));
        ck_assert_msg(r != NULL, "%s", err);
        for (int k = 0; k < 2; k++) {
                ck_assert_int_eq(cs_input_reader_next(r, &b, err, sizeof(err)), 1);
                ck_assert_uint_eq(b->n, 3);
                cs_input_batch_free(b);
        }
        ck_assert_int_eq(cs_input_reader_next(r, &b, err, sizeof(err)), -1);
        ck_assert_ptr_null(b);
        ck_assert_msg(strstr(err, "f.ndjson:8: not a civisync NDJSON record") != NULL,
                      "%s", err);
        cs_input_reader_free(r);
        fclose(fp);
        free(text);
        free(good);
}
END_TEST

/* From a pipe, a last line without its end of line is a writer that died
 * mid-record: an error, not a record. From a file it is a record. */
START_TEST(test_truncated_last_line)
{
        const char *text = "{\"key\":\"P:civicrm_contact:1\",\"partition\":0,\"value\":null}\n"
                           "{\"key\":\"P:civicrm_contact:2\",\"partition\":0,\"value\":null}";
        char err[256] = "";
        FILE *fp = text_file(text);
        cs_input_reader_t *r = cs_input_reader_start(fp, "stdin", 1, 10, 0, err,
                                                     sizeof(err));
        cs_input_batch_t *b;

        ck_assert_msg(r != NULL, "%s", err);
        ck_assert_int_eq(cs_input_reader_next(r, &b, err, sizeof(err)), -1);
        ck_assert_str_eq(err, "stdin:2: truncated record (no end of line)");
        cs_input_reader_free(r);
        rewind(fp);
        r = cs_input_reader_start(fp, "f", 0, 10, 0, err, sizeof(err));
        ck_assert_msg(r != NULL, "%s", err);
        ck_assert_int_eq(cs_input_reader_next(r, &b, err, sizeof(err)), 1);
        ck_assert_uint_eq(b->n, 2);
        cs_input_batch_free(b);
        cs_input_reader_free(r);
        fclose(fp);
}
END_TEST

/* Freed while the reader waits for room (the apply failed): it stops,
 * and what it had read is freed (ASan/valgrind see no leak). */
START_TEST(test_free_while_reader_waits)
{
        char *text = producer_lines(50), err[256] = "";
        FILE *fp = text_file(text);
        cs_input_reader_t *r = cs_input_reader_start(fp, "f", 0, 2, 0, err,
                                                     sizeof(err));
        cs_input_batch_t *b;

        ck_assert_msg(r != NULL, "%s", err);
        ck_assert_int_eq(cs_input_reader_next(r, &b, err, sizeof(err)), 1);
        cs_input_batch_free(b);
        /* the reader fills the next batch and then waits for room */
        while (cs_input_reader_lines(r) < 4)
                ;
        cs_input_reader_free(r);
        fclose(fp);
        free(text);
}
END_TEST

/* An empty input ends at once, with no line read. */
START_TEST(test_empty_input)
{
        char err[256] = "";
        FILE *fp = text_file("");
        cs_input_reader_t *r = cs_input_reader_start(fp, "f", 0, 5, 0, err,
                                                     sizeof(err));
        cs_input_batch_t *b;

        ck_assert_msg(r != NULL, "%s", err);
        ck_assert_int_eq(cs_input_reader_next(r, &b, err, sizeof(err)), 0);
        ck_assert_int_eq(cs_input_reader_lines(r), 0);
        cs_input_reader_free(r);
        fclose(fp);
}
END_TEST

/* Each value parsed into its own slot, on both sides of the split and
 * below the threshold; tombstones and values that do not parse (or are
 * over the limit) stay NULL. */
START_TEST(test_parse_split_slots)
{
        size_t sizes[] = { 3, CS_PARSE_SPLIT_MIN, 301 };

        for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
                size_t n = sizes[k];
                char **text = calloc(n, sizeof(*text));
                const char **values = calloc(n, sizeof(*values));
                size_t *lens = calloc(n, sizeof(*lens));
                json_t **out = calloc(n, sizeof(*out));

                ck_assert(text && values && lens && out);
                for (size_t i = 0; i < n; i++) {
                        if (i % 7 == 3)
                                continue;               /* a tombstone */
                        if (i % 7 == 5)
                                ck_assert_int_ne(asprintf(&text[i], "{\"n\":%zu", i), -1);
                        else if (i % 7 == 6)
                                ck_assert_int_ne(asprintf(&text[i], "{\"n\":%zu,\"pad\":"
                                        "\"0123456789012345678901234567890123456789\"}", i), -1);
                        else
                                ck_assert_int_ne(asprintf(&text[i], "{\"n\":%zu}", i), -1);
                        values[i] = text[i];
                        lens[i] = strlen(text[i]);
                }
                cs_parse_split(values, lens, out, n, 40);
                for (size_t i = 0; i < n; i++) {
                        if (i % 7 == 3 || i % 7 == 5 || i % 7 == 6) {
                                ck_assert_msg(out[i] == NULL, "n=%zu slot %zu", n, i);
                                continue;
                        }
                        ck_assert_msg(out[i] != NULL, "n=%zu slot %zu", n, i);
                        ck_assert_int_eq(json_integer_value(json_object_get(out[i], "n")),
                                         (json_int_t)i);
                        json_decref(out[i]);
                }
                for (size_t i = 0; i < n; i++)
                        free(text[i]);
                free(text);
                free(values);
                free(lens);
                free(out);
        }
}
END_TEST

Suite *input_read_suite(void)
{
        Suite *s = suite_create("input_read");
        TCase *tc = tcase_create("reader");

        tcase_add_test(tc, test_batches_in_order_parsed_ahead);
        tcase_add_test(tc, test_unparsable_values_handed_on);
        tcase_add_test(tc, test_bad_line_after_full_batches);
        tcase_add_test(tc, test_truncated_last_line);
        tcase_add_test(tc, test_free_while_reader_waits);
        tcase_add_test(tc, test_empty_input);
        suite_add_tcase(s, tc);
        tc = tcase_create("parse_split");
        tcase_add_test(tc, test_parse_split_slots);
        suite_add_tcase(s, tc);
        return s;
}
