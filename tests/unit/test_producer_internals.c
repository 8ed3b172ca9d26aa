/* test_producer_internals.c — unit tests of the producer's internals without MariaDB: the row hash, fingerprint files, the state file and lock, run counts. */
#include <check.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../producer/complete.h"
#include "../../producer/fingerprint.h"
#include "../../producer/incremental.h"
#include "../../producer/state.h"
#include "../../producer/tabletime.h"
#include "doc.h"
#include "suites.h"

/* A fresh scratch directory (removed by rm_tree). */
static void make_dir(char *dir, size_t size)
{
        snprintf(dir, size, "/tmp/cs-unit-producer-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void rm_tree(const char *dir)
{
        char cmd[4200];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        ck_assert_int_eq(system(cmd), 0);
}

/* Number of entries of dir whose name contains needle. */
static int count_files(const char *dir, const char *needle)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        int n = 0;

        ck_assert_ptr_nonnull(d);
        while ((de = readdir(d)))
                if (de->d_name[0] != '.' && strstr(de->d_name, needle))
                        n++;
        closedir(d);
        return n;
}

static void write_file(const char *path, const void *data, size_t len)
{
        FILE *f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(data, 1, len, f), len);
        ck_assert_int_eq(fclose(f), 0);
}

static void write_text(const char *path, const char *text)
{
        write_file(path, text, strlen(text));
}

/* ---- the row hash ---- */

static uint64_t hash_of(const char *a, const char *b)
{
        char *v[2] = { (char *)a, (char *)b };
        unsigned long l[2] = { a ? strlen(a) : 0, b ? strlen(b) : 0 };
        return cs_fp_row_hash(v, l, 2);
}

START_TEST(test_row_hash_known_vectors)
{
        /* Pinned: state files of an earlier run must still compare equal.
         * Computed by an independent implementation of the documented
         * encoding (per value: length or NULL marker, then the bytes in
         * zero-padded little-endian 8-byte words). */
        char *null1[1] = { NULL }, *blank[1] = { "" };
        char *row3[3] = { "42", "Alice", NULL };
        char *w8[1] = { "abcdefgh" }, *w9[1] = { "abcdefghi" };
        unsigned long l0[1] = { 0 }, l3[3] = { 2, 5, 0 }, l8[1] = { 8 },
                      l9[1] = { 9 };

        ck_assert_uint_eq(cs_fp_row_hash(NULL, NULL, 0), 0x080e3e39373e1d1aULL);
        ck_assert_uint_eq(cs_fp_row_hash(null1, l0, 1), 0xb2fabb0c7beb9df2ULL);
        ck_assert_uint_eq(cs_fp_row_hash(blank, l0, 1), 0x740a1a99225d3c6cULL);
        ck_assert_uint_eq(cs_fp_row_hash(row3, l3, 3), 0x046c6e923714a661ULL);
        ck_assert_uint_eq(cs_fp_row_hash(w8, l8, 1), 0x49583104e34da1ddULL);
        ck_assert_uint_eq(cs_fp_row_hash(w9, l9, 1), 0xfbbb732bee4c6da9ULL);
}
END_TEST

START_TEST(test_row_hash_is_unambiguous)
{
        char *v[1] = { NULL };
        unsigned long l[1] = { 0 };

        /* NULL and '' differ, alone and in any position. */
        ck_assert_uint_ne(hash_of(NULL, "x"), hash_of("", "x"));
        ck_assert_uint_ne(hash_of("x", NULL), hash_of("x", ""));
        ck_assert_uint_ne(hash_of(NULL, NULL), hash_of("", ""));
        /* Moving bytes across a value boundary changes the hash. */
        ck_assert_uint_ne(hash_of("ab", "c"), hash_of("a", "bc"));
        ck_assert_uint_ne(hash_of("abcdefgh", ""), hash_of("", "abcdefgh"));
        /* Trailing zero bytes are not padding: the length counts. */
        {
                char *a[1] = { "ab\0\0" }, *b[1] = { "ab" };
                unsigned long la[1] = { 4 }, lb[1] = { 2 };
                ck_assert_uint_ne(cs_fp_row_hash(a, la, 1), cs_fp_row_hash(b, lb, 1));
        }
        /* One NULL column is not zero columns. */
        ck_assert_uint_ne(cs_fp_row_hash(v, l, 1), cs_fp_row_hash(v, l, 0));
        /* Deterministic, and one changed byte anywhere changes it. */
        ck_assert_uint_eq(hash_of("same", "row"), hash_of("same", "row"));
        {
                char buf[40];
                uint64_t base;
                memset(buf, 'q', sizeof(buf) - 1);
                buf[sizeof(buf) - 1] = '\0';
                base = hash_of(buf, "tail");
                for (size_t i = 0; i < sizeof(buf) - 1; i++) {
                        buf[i] = 'r';
                        ck_assert_uint_ne(hash_of(buf, "tail"), base);
                        buf[i] = 'q';
                }
                ck_assert_uint_eq(hash_of(buf, "tail"), base);
        }
}
END_TEST

/* ---- fingerprint files ---- */

START_TEST(test_fp_file_round_trip)
{
        char dir[64], path[128], err[512] = "";
        cs_fp_out_t out;
        cs_fp_in_t in;
        cs_fp_row_t row;
        struct stat st;

        make_dir(dir, sizeof(dir));
        snprintf(path, sizeof(path), "%s/P1.fp.1.civicrm_contact", dir);
        ck_assert_int_eq(cs_fp_out_open(&out, path, err, sizeof(err)), 0);
        for (uint32_t id = 1; id <= 1000; id++) {
                cs_fp_row_t r = { id * 3, id % 7, (uint64_t)id * 0x9E3779B97F4A7C15ULL };
                ck_assert_int_eq(cs_fp_out_row(&out, &r, err, sizeof(err)), 0);
        }
        ck_assert_int_eq(cs_fp_out_finish(&out, err, sizeof(err)), 0);
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_int_eq(st.st_size, 16 + 1000 * 16);
        ck_assert_int_eq(st.st_mode & 0777, 0640);

        ck_assert_int_eq(cs_fp_in_open(&in, path, err, sizeof(err)), 0);
        ck_assert_uint_eq(in.count, 1000);
        for (uint32_t id = 1; id <= 1000; id++) {
                ck_assert_int_eq(cs_fp_in_next(&in, &row, err, sizeof(err)), 1);
                ck_assert_uint_eq(row.id, id * 3);
                ck_assert_uint_eq(row.parent, id % 7);
                ck_assert_uint_eq(row.hash, (uint64_t)id * 0x9E3779B97F4A7C15ULL);
        }
        ck_assert_int_eq(cs_fp_in_next(&in, &row, err, sizeof(err)), 0);
        cs_fp_in_close(&in);
        rm_tree(dir);
}
END_TEST

START_TEST(test_fp_file_rejects_other_versions_and_damage)
{
        char dir[64], path[128], err[512] = "", want[300];
        /* A format-1 file (MD5 hashes by the server): magic "CSFP1". */
        unsigned char v1[16] = { 'C', 'S', 'F', 'P', '1', 0, 0, 16, 0 };
        unsigned char buf[16 + 2 * 16];
        cs_fp_out_t out;
        cs_fp_in_t in;
        cs_fp_row_t row;
        FILE *f;

        make_dir(dir, sizeof(dir));
        snprintf(path, sizeof(path), "%s/P1.fp.1.civicrm_email", dir);
        snprintf(want, sizeof(want), "%s: not a civisync fingerprint file of "
                 "this version, or truncated", path);
        write_file(path, v1, sizeof(v1));
        ck_assert_int_eq(cs_fp_in_open(&in, path, err, sizeof(err)), -1);
        ck_assert_str_eq(err, want);
        ck_assert_ptr_null(in.fp);

        /* A truncated file: the count says 2 rows, one is there. */
        ck_assert_int_eq(cs_fp_out_open(&out, path, err, sizeof(err)), 0);
        for (uint32_t id = 1; id <= 2; id++) {
                cs_fp_row_t r = { id, 0, id };
                ck_assert_int_eq(cs_fp_out_row(&out, &r, err, sizeof(err)), 0);
        }
        ck_assert_int_eq(cs_fp_out_finish(&out, err, sizeof(err)), 0);
        ck_assert_ptr_nonnull(f = fopen(path, "rb"));
        ck_assert_uint_eq(fread(buf, 1, sizeof(buf), f), sizeof(buf));
        fclose(f);
        write_file(path, buf, sizeof(buf) - 16);
        err[0] = '\0';
        ck_assert_int_eq(cs_fp_in_open(&in, path, err, sizeof(err)), -1);
        ck_assert_str_eq(err, want);

        /* Rows out of order: read, then refused. */
        {
                cs_fp_row_t r2 = { 1, 0, 9 };
                memcpy(buf + 32, &r2, sizeof(r2));
        }
        write_file(path, buf, sizeof(buf));
        ck_assert_int_eq(cs_fp_in_open(&in, path, err, sizeof(err)), 0);
        ck_assert_int_eq(cs_fp_in_next(&in, &row, err, sizeof(err)), 1);
        ck_assert_int_eq(cs_fp_in_next(&in, &row, err, sizeof(err)), -1);
        snprintf(want, sizeof(want), "%s: rows not sorted", path);
        ck_assert_str_eq(err, want);
        cs_fp_in_close(&in);

        /* A missing file names itself. */
        snprintf(path, sizeof(path), "%s/absent", dir);
        ck_assert_int_eq(cs_fp_in_open(&in, path, err, sizeof(err)), -1);
        snprintf(want, sizeof(want), "%s: No such file or directory", path);
        ck_assert_str_eq(err, want);
        rm_tree(dir);
}
END_TEST

START_TEST(test_fp_file_discard_removes_it)
{
        char dir[64], path[128], err[512] = "";
        cs_fp_out_t out;
        cs_fp_row_t r = { 1, 0, 1 };

        make_dir(dir, sizeof(dir));
        snprintf(path, sizeof(path), "%s/P1.fp.3.civicrm_phone", dir);
        ck_assert_int_eq(cs_fp_out_open(&out, path, err, sizeof(err)), 0);
        ck_assert_int_eq(cs_fp_out_row(&out, &r, err, sizeof(err)), 0);
        ck_assert_int_eq(access(path, F_OK), 0);
        cs_fp_out_discard(&out);
        ck_assert_int_eq(access(path, F_OK), -1);
        ck_assert_ptr_null(out.fp);
        rm_tree(dir);
}
END_TEST

/* ---- the state file ---- */

START_TEST(test_state_save_and_load)
{
        char dir[64], err[512] = "", path[128];
        json_t *state = json_pack("{s:i, s:s, s:{s:i, s:{}}}", "format", 1,
                                  "prefix", "P1", "incremental", "format", 2,
                                  "tables");
        json_t *back;
        struct stat st;

        make_dir(dir, sizeof(dir));
        /* Nothing yet: an empty object, no error. */
        back = cs_state_load(dir, "P1", err, sizeof(err));
        ck_assert_ptr_nonnull(back);
        ck_assert_int_eq(json_object_size(back), 0);
        json_decref(back);

        ck_assert_int_eq(cs_state_save(dir, "P1", state, err, sizeof(err)), 0);
        back = cs_state_load(dir, "P1", err, sizeof(err));
        ck_assert_ptr_nonnull(back);
        ck_assert_int_eq(json_equal(back, state), 1);
        json_decref(back);
        snprintf(path, sizeof(path), "%s/P1.state.json", dir);
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_int_eq(st.st_mode & 0777, 0640);
        /* Written through a temporary file that is gone afterwards. */
        ck_assert_int_eq(count_files(dir, ".tmp."), 0);
        ck_assert_int_eq(count_files(dir, "state.json"), 1);

        /* Overwritten whole; another prefix is another file. */
        json_object_set_new(state, "generation", json_integer(7));
        ck_assert_int_eq(cs_state_save(dir, "P1", state, err, sizeof(err)), 0);
        back = cs_state_load(dir, "P1", err, sizeof(err));
        ck_assert_int_eq(json_integer_value(json_object_get(back, "generation")), 7);
        json_decref(back);
        back = cs_state_load(dir, "P2", err, sizeof(err));
        ck_assert_int_eq(json_object_size(back), 0);
        json_decref(back);
        json_decref(state);
        rm_tree(dir);
}
END_TEST

START_TEST(test_state_corrupt_file_is_an_error)
{
        char dir[64], err[512] = "", path[128], want[300];

        make_dir(dir, sizeof(dir));
        snprintf(path, sizeof(path), "%s/P1.state.json", dir);
        write_text(path, "{\n  \"format\": 1,\n  \"prefix\": \n");
        ck_assert_ptr_null(cs_state_load(dir, "P1", err, sizeof(err)));
        snprintf(want, sizeof(want), "%s:4: ", path);
        ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "errstr: %s", err);
        ck_assert_ptr_nonnull(strstr(err, "unexpected"));

        write_text(path, "[1, 2]\n");
        ck_assert_ptr_null(cs_state_load(dir, "P1", err, sizeof(err)));
        snprintf(want, sizeof(want), "%s:", path);
        ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "errstr: %s", err);
        ck_assert_ptr_nonnull(strstr(err, ": not a JSON object"));

        /* A repeated key would make the state ambiguous. */
        write_text(path, "{\"a\": 1, \"a\": 2}\n");
        ck_assert_ptr_null(cs_state_load(dir, "P1", err, sizeof(err)));
        ck_assert_ptr_nonnull(strstr(err, "duplicate"));
        rm_tree(dir);
}
END_TEST

START_TEST(test_state_failed_save_keeps_the_old_file)
{
        char dir[64], err[512] = "", path[128], sub[160], want[300];
        json_t *old = json_pack("{s:i}", "generation", 1);
        json_t *new = json_pack("{s:i}", "generation", 2), *back;

        make_dir(dir, sizeof(dir));
        ck_assert_int_eq(cs_state_save(dir, "P1", old, err, sizeof(err)), 0);
        /* The rename cannot replace a non-empty directory: the save fails,
         * naming the rename, and leaves no temporary file. */
        snprintf(path, sizeof(path), "%s/P2.state.json", dir);
        ck_assert_int_eq(mkdir(path, 0700), 0);
        snprintf(sub, sizeof(sub), "%s/keep", path);
        write_file(sub, "x", 1);
        ck_assert_int_eq(cs_state_save(dir, "P2", new, err, sizeof(err)), -1);
        snprintf(want, sizeof(want), "rename %s: ", path);
        ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "errstr: %s", err);
        ck_assert_int_eq(count_files(dir, ".tmp."), 0);
        /* A state_dir that is gone: the previous state is untouched. */
        snprintf(path, sizeof(path), "%s/gone", dir);
        ck_assert_int_eq(cs_state_save(path, "P1", new, err, sizeof(err)), -1);
        ck_assert_ptr_nonnull(strstr(err, "No such file or directory"));
        back = cs_state_load(dir, "P1", err, sizeof(err));
        ck_assert_int_eq(json_equal(back, old), 1);
        json_decref(back);
        json_decref(old);
        json_decref(new);
        rm_tree(dir);
}
END_TEST

START_TEST(test_state_lock_is_exclusive)
{
        char dir[64], sub[96], err[512] = "";
        int fd, fd2;

        make_dir(dir, sizeof(dir));
        snprintf(sub, sizeof(sub), "%s/state", dir); /* created by the lock */
        fd = cs_state_lock(sub, "P1", err, sizeof(err));
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(cs_state_lock(sub, "P1", err, sizeof(err)), -2);
        ck_assert_ptr_nonnull(strstr(err, "another civisync-produce run for this "
                                          "prefix is still running"));
        fd2 = cs_state_lock(sub, "P2", err, sizeof(err));
        ck_assert_int_ge(fd2, 0);
        close(fd);
        fd = cs_state_lock(sub, "P1", err, sizeof(err));
        ck_assert_int_ge(fd, 0);
        close(fd);
        close(fd2);
        rm_tree(dir);
}
END_TEST

START_TEST(test_state_fp_cleanup)
{
        char dir[64], name[128], path[256];
        json_t *state;

        make_dir(dir, sizeof(dir));
        ck_assert_int_eq(cs_state_fp_name(name, sizeof(name), "P1", 4,
                                          "civicrm_contact"), 0);
        ck_assert_str_eq(name, "P1.fp.4.civicrm_contact");
        ck_assert_int_eq(cs_state_fp_name(name, 10, "P1", 4, "civicrm_contact"), -1);
        ck_assert_int_eq(cs_state_file_path(path, 8, dir, "x"), -1);
        const char *files[] = { "P1.fp.4.civicrm_contact", "P1.fp.3.civicrm_contact",
                                "P1.fp.5.civicrm_email", "P12.fp.1.civicrm_contact",
                                "P2.fp.3.civicrm_contact", "P1.state.json" };
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
                ck_assert_int_eq(cs_state_file_path(path, sizeof(path), dir,
                                                    files[i]), 0);
                write_file(path, "x", 1);
        }
        state = json_pack("{s:{s:{s:{s:s}}}}", "incremental", "tables",
                          "civicrm_contact", "file", "P1.fp.4.civicrm_contact");
        cs_state_fp_cleanup(dir, "P1", state);
        json_decref(state);
        /* Kept: the referenced file, other prefixes' files (P12 too), the
         * state; gone: P1's unreferenced fingerprints. */
        ck_assert_int_eq(count_files(dir, "P1.fp."), 1);
        ck_assert_int_eq(count_files(dir, "P1.fp.4.civicrm_contact"), 1);
        ck_assert_int_eq(count_files(dir, "P12.fp."), 1);
        ck_assert_int_eq(count_files(dir, "P2.fp."), 1);
        ck_assert_int_eq(count_files(dir, "P1.state.json"), 1);
        /* Without a state nothing of P1's fingerprints is kept. */
        cs_state_fp_cleanup(dir, "P1", NULL);
        ck_assert_int_eq(count_files(dir, "P1.fp."), 0);
        ck_assert_int_eq(count_files(dir, "P12.fp."), 1);
        rm_tree(dir);
}
END_TEST

START_TEST(test_incremental_state_format)
{
        /* Format 1 (server-side MD5 fingerprints) cannot drive an
         * incremental run: civisync-produce then forces a complete sync. */
        json_t *v1 = json_pack("{s:i, s:I}", "format", 1, "state_generation",
                               (json_int_t)3);
        json_t *v2 = json_pack("{s:i, s:I}", "format", 2, "state_generation",
                               (json_int_t)3);
        json_t *none = json_pack("{s:I}", "state_generation", (json_int_t)3);
        json_t *str = json_pack("{s:s}", "format", "2");

        ck_assert_int_eq(cs_incr_state_usable(v1), 0);
        ck_assert_int_eq(cs_incr_state_usable(v2), 1);
        ck_assert_int_eq(cs_incr_state_usable(none), 0);
        ck_assert_int_eq(cs_incr_state_usable(str), 0);
        ck_assert_int_eq(cs_incr_state_usable(NULL), 0);
        json_decref(v1);
        json_decref(v2);
        json_decref(none);
        json_decref(str);
}
END_TEST

/* ---- run counts ---- */

START_TEST(test_run_counts)
{
        json_t *counts = json_object();
        json_t *doc = json_pack("{s:[{s:s}, {s:s}, {s:s}, {s:i}]}", CS_F_CHILDREN,
                                CS_F_ENTITY, "email", CS_F_ENTITY, "phone",
                                CS_F_ENTITY, "email", CS_F_ENTITY, 5);
        json_t *plain = json_object();

        cs_run_count_add(counts, "contact", 2);
        cs_run_count_add(counts, "contact", 3);
        ck_assert_int_eq(json_integer_value(json_object_get(counts, "contact")), 5);
        cs_run_count_doc(counts, "contact", doc);
        cs_run_count_doc(counts, "contact", plain);
        ck_assert_int_eq(json_integer_value(json_object_get(counts, "contact")), 7);
        ck_assert_int_eq(json_integer_value(json_object_get(counts, "email")), 2);
        ck_assert_int_eq(json_integer_value(json_object_get(counts, "phone")), 1);
        ck_assert_int_eq(json_object_size(counts), 3); /* no entity: not counted */
        json_decref(doc);
        json_decref(plain);
        json_decref(counts);
}
END_TEST

static int tt_sort_cmp(const void *a, const void *b)
{
        return strcasecmp(((const cs_tt_entry_t *)a)->name,
                          ((const cs_tt_entry_t *)b)->name);
}

/* Which tables a scan's SQL names, and the latest of their write times:
 * any table of unknown time, or no table at all, makes it unknown. */
START_TEST(test_table_write_times_of_sql)
{
        cs_tt_entry_t t[] = {
                { "civicrm_contact", 100 }, { "civicrm_email", 200 },
                { "civicrm_entity_file", 50 }, { "civicrm_file", 300 },
                { "civicrm_view_x", CS_TT_UNKNOWN }, { "id", 999 },
        };
        cs_tt_t tt = { .t = t, .n = sizeof(t) / sizeof(t[0]) };

        /* cs_tt_load sorts them: the same order, case-insensitively. */
        qsort(t, tt.n, sizeof(t[0]), tt_sort_cmp);
        ck_assert_int_eq(cs_tt_latest_write(&tt, "SELECT `id` AS `id`, NULL AS "
                         "`p`, `first_name` FROM `civicrm_contact`"), 999);
        ck_assert_int_eq(cs_tt_latest_write(&tt, "SELECT x FROM `civicrm_contact`"),
                         100);
        ck_assert_int_eq(cs_tt_latest_write(&tt, "SELECT x FROM civicrm_contact c "
                         "JOIN CIVICRM_EMAIL e ON e.contact_id = c.x"), 200);
        /* A subquery's table counts. */
        ck_assert_int_eq(cs_tt_latest_write(&tt, "SELECT x FROM `civicrm_file` "
                         "WHERE `x` IN (SELECT `file_id` FROM `civicrm_entity_file`)"),
                         300);
        /* Longer or shorter words are other names. */
        ck_assert_int_eq(cs_tt_latest_write(&tt, "SELECT x FROM civicrm_contact_y, "
                         "civicrm_emai"), CS_TT_UNKNOWN);
        ck_assert_int_eq(cs_tt_latest_write(&tt, "SELECT x FROM `civicrm_view_x` "
                         "JOIN civicrm_contact"), CS_TT_UNKNOWN);
        /* Words in string literals count: only more tables, never fewer. */
        ck_assert_int_eq(cs_tt_latest_write(&tt, "SELECT x FROM civicrm_contact "
                         "WHERE t = 'civicrm_file'"), 300);
        ck_assert_int_eq(cs_tt_latest_write(&tt, "SELECT 1"), CS_TT_UNKNOWN);
        ck_assert_int_eq(cs_tt_latest_write(&tt, ""), CS_TT_UNKNOWN);
        /* An unterminated quote ends the text. */
        ck_assert_int_eq(cs_tt_latest_write(&tt, "SELECT x FROM `civicrm_email"),
                         200);
}
END_TEST

Suite *producer_internals_suite(void)
{
        Suite *s = suite_create("producer_internals");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_row_hash_known_vectors);
        tcase_add_test(tc, test_row_hash_is_unambiguous);
        tcase_add_test(tc, test_fp_file_round_trip);
        tcase_add_test(tc, test_fp_file_rejects_other_versions_and_damage);
        tcase_add_test(tc, test_fp_file_discard_removes_it);
        tcase_add_test(tc, test_state_save_and_load);
        tcase_add_test(tc, test_state_corrupt_file_is_an_error);
        tcase_add_test(tc, test_state_failed_save_keeps_the_old_file);
        tcase_add_test(tc, test_state_lock_is_exclusive);
        tcase_add_test(tc, test_state_fp_cleanup);
        tcase_add_test(tc, test_incremental_state_format);
        tcase_add_test(tc, test_run_counts);
        tcase_add_test(tc, test_table_write_times_of_sql);
        suite_add_tcase(s, tc);
        return s;
}
