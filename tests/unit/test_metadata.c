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
                ck_assert_msg(cs_meta_parse("P1", key, strlen(key), buf, len, max, &back,
                                            &after, &to, &part, &parts, err,
                                            sizeof(err)) == 0, "%s", err);
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
        long long a, b;
        int p, n;
        const char *key = "P1/civisync_metadata/civicrm_contact/1";
        const char *doc = "{\"id\":\"P1/civisync_metadata/civicrm_contact/1\","
                "\"civisync_format\":1,\"civisync_prefix\":\"P1\",\"civisync_entity\":"
                "\"civisync_metadata\",\"civisync_table\":\"civicrm_contact\","
                "\"civisync_metadata_part\":1,\"civisync_metadata_parts\":1,"
                "\"civisync_metadata_after_id\":0,\"civisync_metadata_to_id\":null,"
                "\"civisync_metadata_columns\":[],\"civisync_metadata_rows\":[],"
                "\"civisync_metadata_digest\":\"0\"}";

        ck_assert_int_eq(cs_meta_parse("P1", key, strlen(key), doc, strlen(doc), 0, &t,
                                       &a, &b, &p, &n, err, sizeof(err)), -1);
        ck_assert_ptr_nonnull(strstr(err, "not a metadata table"));
        ck_assert_int_eq(cs_meta_parse("P2", key, strlen(key), doc, strlen(doc), 0, &t,
                                       &a, &b, &p, &n, err, sizeof(err)), -1);
        ck_assert_ptr_nonnull(strstr(err, "prefix"));
        ck_assert(!cs_meta_is_key("P1/civicrm_contact/1", 20));
}
END_TEST

Suite *metadata_suite(void)
{
        Suite *s = suite_create("metadata");
        TCase *tc = tcase_create("documents");
        tcase_add_test(tc, parts_round_trip);
        tcase_add_test(tc, parse_refuses);
        suite_add_tcase(s, tc);
        return s;
}
