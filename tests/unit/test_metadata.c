/* test_metadata.c — the metadata gate's documents: split into parts under the size limit, parsed back identically, compared by column name. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doc.h"
#include "metadata.h"
#include "suites.h"

#define ROWS 3000

static void make_table(cs_meta_table_t *t, size_t rows)
{
        static const char *const cols[] = { "name", "label", "is_active" };

        memset(t, 0, sizeof(*t));
        t->table = strdup("civicrm_state_province");
        t->cols = calloc(3, sizeof(char *));
        for (size_t c = 0; c < 3; c++)
                t->cols[t->col_cnt++] = strdup(cols[c]);
        t->ids = calloc(rows, sizeof(long long));
        t->digests = calloc(rows, sizeof(char *));
        for (size_t r = 0; r < rows; r++) {
                t->ids[r] = (long long)(r * 2 + 1);
                t->digests[r] = malloc(3 * CS_META_COL_HEX + 1);
                snprintf(t->digests[r], 3 * CS_META_COL_HEX + 1, "%08zx%08zx%08x",
                         r, r * 7, 1u);
        }
        t->row_cnt = rows;
}

static void count_diff(const cs_meta_diff_t *d, void *opaque)
{
        char *seen = opaque;
        snprintf(seen + strlen(seen), 512 - strlen(seen), "%s %lld %s;",
                 cs_meta_kind_name(d->kind), d->row_id, d->columns);
}

START_TEST(parts_round_trip)
{
        cs_meta_table_t t, back, merged;
        json_t **docs = NULL;
        size_t n = 0, cap = 0;
        char err[512], seen[512] = "";
        const size_t max = 20000;

        make_table(&t, ROWS);
        ck_assert_int_eq(cs_meta_docs("P1", &t, max, &docs, &n, err, sizeof(err)), 0);
        ck_assert_uint_gt(n, 3);
        memset(&merged, 0, sizeof(merged));
        merged.ids = calloc(ROWS, sizeof(long long));
        merged.digests = calloc(ROWS, sizeof(char *));
        for (size_t i = 0; i < n; i++) {
                size_t len;
                long long after, to;
                int part, parts;
                char *buf = cs_doc_dump(docs[i], max, &len, err, sizeof(err));
                const char *key = json_string_value(json_object_get(docs[i], "id"));

                ck_assert_msg(buf != NULL, "%s", err);
                ck_assert_uint_le(len, max);
                ck_assert(cs_meta_is_key(key, strlen(key)));
                long long run = -1;
                ck_assert_msg(cs_meta_parse("P1", key, strlen(key), buf, len, max, &back,
                                            &after, &to, &part, &parts, &run, err,
                                            sizeof(err)) == 0, "%s", err);
                ck_assert_int_eq(run, 0);       /* not stamped by cs_meta_docs */
                ck_assert_int_eq(part, (int)i + 1);
                ck_assert_int_eq(parts, (int)n);
                ck_assert(i + 1 < n ? to > after : to == -1);
                ck_assert_uint_eq(back.col_cnt, 3);
                for (size_t r = 0; r < back.row_cnt; r++) {
                        merged.ids[cap] = back.ids[r];
                        merged.digests[cap++] = strdup(back.digests[r]);
                }
                cs_meta_table_free(&back);
                free(buf);
                json_decref(docs[i]);
        }
        free(docs);
        ck_assert_uint_eq(cap, ROWS);
        merged.row_cnt = cap;
        merged.table = strdup(t.table);
        merged.cols = calloc(3, sizeof(char *));
        /* the master lists its columns in another order: compared by name */
        merged.cols[0] = strdup("is_active");
        merged.cols[1] = strdup("label");
        merged.cols[2] = strdup("name");
        merged.col_cnt = 3;
        for (size_t r = 0; r < cap; r++) {
                char *d = merged.digests[r], tmp[3 * CS_META_COL_HEX + 1];
                snprintf(tmp, sizeof(tmp), "%.8s%.8s%.8s", d + 16, d + 8, d);
                strcpy(d, tmp);
        }
        ck_assert_int_eq(cs_meta_compare(&t, &merged, count_diff, seen), 0);
        /* one label changed, one row only on the master, one only on the child */
        merged.digests[10][8] = merged.digests[10][8] == 'f' ? '0' : 'f';
        merged.ids[ROWS - 1] = 2 * ROWS + 5;
        ck_assert_int_eq(cs_meta_compare(&t, &merged, count_diff, seen), 3);
        ck_assert_str_eq(seen, "changed 21 label;child-only 5999 ;master-only 6005 ;");
        cs_meta_table_free(&merged);
        cs_meta_table_free(&t);
}
END_TEST

/* Documents that lie are refused, naming the problem. */
START_TEST(parse_refuses)
{
        char err[512];
        cs_meta_table_t t;
        long long a, b, run;
        int p, n;
        const char *key = "P1/civisync_metadata/civicrm_contact/1";
        const char *doc = "{\"id\":\"P1/civisync_metadata/civicrm_contact/1\","
                "\"civisync_format\":1,\"civisync_prefix\":\"P1\",\"civisync_entity\":"
                "\"civisync_metadata\",\"civisync_table\":\"civicrm_contact\","
                "\"civisync_metadata_part\":1,\"civisync_metadata_parts\":1,"
                "\"civisync_metadata_after_id\":0,\"civisync_metadata_to_id\":null,"
                "\"civisync_metadata_columns\":[],\"civisync_metadata_rows\":[],"
                "\"civisync_metadata_digest\":\"0\",\"civisync_gate_run\":77}";

        /* refused, but its run is known once its prefix is: the data of that
         * run does not wait for it forever (FORMAT.md §7.1) */
        ck_assert_int_eq(cs_meta_parse("P1", key, strlen(key), doc, strlen(doc), 0, &t,
                                       &a, &b, &p, &n, &run, err, sizeof(err)), -1);
        ck_assert_ptr_nonnull(strstr(err, "not a metadata table"));
        ck_assert_int_eq(run, 77);
        ck_assert_int_eq(cs_meta_parse("P2", key, strlen(key), doc, strlen(doc), 0, &t,
                                       &a, &b, &p, &n, &run, err, sizeof(err)), -1);
        ck_assert_ptr_nonnull(strstr(err, "prefix"));
        ck_assert_int_eq(run, 0);
        ck_assert(!cs_meta_is_key("P1/civicrm_contact/1", 20));
}
END_TEST

/* The digest of one value's compact JSON text (FORMAT.md §7.1). */
static void dig(char *out, const char *json)
{
        unsigned int h = 2166136261u;
        for (const char *c = json; *c; c++) {
                h ^= (unsigned char)*c;
                h *= 16777619u;
        }
        sprintf(out + strlen(out), "%08x", h);
}

static int parse_text(const char *table, const char *cols, const char *row,
                      cs_meta_table_t *t, char *err, size_t err_size)
{
        char key[128], doc[2048];
        long long after, to, run;
        int part, parts;

        snprintf(key, sizeof(key), "P1/civisync_metadata/%s/1", table);
        snprintf(doc, sizeof(doc), "{\"id\":\"%s\",\"civisync_format\":1,"
                 "\"civisync_prefix\":\"P1\",\"civisync_entity\":"
                 "\"civisync_metadata\",\"civisync_table\":\"%s\","
                 "\"civisync_metadata_part\":1,\"civisync_metadata_parts\":1,"
                 "\"civisync_metadata_after_id\":0,\"civisync_metadata_to_id\":null,"
                 "\"civisync_metadata_columns\":%s,\"civisync_metadata_rows\":[%s],"
                 "\"civisync_metadata_digest\":\"0000000000000000\"}", key, table,
                 cols, row);
        return cs_meta_parse("P1", key, strlen(key), doc, strlen(doc), 0, t, &after,
                             &to, &part, &parts, &run, err, err_size);
}

/* Rows carry their values (the additive sync creates rows from them): the
 * values must hash to the row's digest; a row without values is only
 * compared; a credential column is refused; cs_meta_docs writes the values
 * and they parse back. */
START_TEST(parse_values)
{
        cs_meta_table_t t;
        char d[64] = "", row[256], err[512];
        json_t **docs = NULL;
        size_t n = 0;

        dig(d, "\"Home\"");
        dig(d, "1");
        dig(d, "null");
        snprintf(row, sizeof(row), "[7, \"%s\", [\"Home\", 1, null]]", d);
        ck_assert_msg(parse_text("civicrm_location_type",
                                 "[\"name\",\"is_active\",\"description\"]", row,
                                 &t, err, sizeof(err)) == 0, "%s", err);
        ck_assert_ptr_nonnull(t.values);
        ck_assert_str_eq(json_string_value(json_array_get(t.values[0], 0)), "Home");
        ck_assert_int_eq(json_integer_value(json_array_get(t.values[0], 1)), 1);
        /* the values travel into a document again, unchanged */
        ck_assert_int_eq(cs_meta_docs("P1", &t, 0, &docs, &n, err, sizeof(err)), 0);
        ck_assert_uint_eq(n, 1);
        ck_assert(json_equal(json_array_get(json_array_get(json_object_get(docs[0],
                                        CS_F_META_ROWS), 0), 2), t.values[0]));
        json_decref(docs[0]);
        free(docs);
        cs_meta_table_free(&t);

        /* values that do not hash to the digest */
        snprintf(row, sizeof(row), "[7, \"%s\", [\"Work\", 1, null]]", d);
        ck_assert_int_eq(parse_text("civicrm_location_type",
                                    "[\"name\",\"is_active\",\"description\"]",
                                    row, &t, err, sizeof(err)), -1);
        ck_assert_msg(strstr(err, "row 0 (id 7): its values must be") != NULL, "%s",
                      err);
        /* one value short; an object as a value */
        snprintf(row, sizeof(row), "[7, \"%s\", [\"Home\", 1]]", d);
        ck_assert_int_eq(parse_text("civicrm_location_type",
                                    "[\"name\",\"is_active\",\"description\"]",
                                    row, &t, err, sizeof(err)), -1);
        snprintf(row, sizeof(row), "[7, \"%s\", [{}, 1, null]]", d);
        ck_assert_int_eq(parse_text("civicrm_location_type",
                                    "[\"name\",\"is_active\",\"description\"]",
                                    row, &t, err, sizeof(err)), -1);
        /* without values: compared only */
        snprintf(row, sizeof(row), "[7, \"%s\"]", d);
        ck_assert_int_eq(parse_text("civicrm_location_type",
                                    "[\"name\",\"is_active\",\"description\"]",
                                    row, &t, err, sizeof(err)), 0);
        ck_assert_ptr_null(t.values[0]);
        cs_meta_table_free(&t);
        /* a credential never travels */
        d[0] = '\0';
        dig(d, "\"x\"");
        dig(d, "\"secret\"");
        snprintf(row, sizeof(row), "[1, \"%s\", [\"x\", \"secret\"]]", d);
        ck_assert_int_eq(parse_text("civicrm_payment_processor",
                                    "[\"name\",\"password\"]", row, &t, err,
                                    sizeof(err)), -1);
        ck_assert_msg(strstr(err, "column password is a credential") != NULL, "%s",
                      err);
}
END_TEST

Suite *metadata_suite(void)
{
        Suite *s = suite_create("metadata");
        TCase *tc = tcase_create("documents");
        tcase_add_test(tc, parts_round_trip);
        tcase_add_test(tc, parse_refuses);
        tcase_add_test(tc, parse_values);
        suite_add_tcase(s, tc);
        return s;
}
