/* test_files.c — unit tests of shared/files.c (file names, bounded reads, atomic writes, document fields) and the file entities of the registry. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files.h"
#include "registry.h"
#include "suites.h"

static char dir[64];

static void make_dir(void)
{
        snprintf(dir, sizeof(dir), "/tmp/cs_test_files_XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void put(const char *name, const char *bytes, size_t n)
{
        char path[256];
        FILE *fp;
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        ck_assert_ptr_nonnull(fp = fopen(path, "wb"));
        ck_assert_uint_eq(fwrite(bytes, 1, n, fp), n);
        fclose(fp);
}

static void rm_tree(void)
{
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        ck_assert_int_eq(system(cmd), 0);
}

START_TEST(file_names)
{
        char why[256];
        ck_assert(cs_file_name_ok("report_3f2a.pdf", 15, why, sizeof(why)));
        ck_assert(cs_file_name_ok("a.b.c", 5, why, sizeof(why)));
        ck_assert(!cs_file_name_ok("../../etc/passwd", 16, why, sizeof(why)));
        ck_assert(!cs_file_name_ok("/etc/passwd", 11, why, sizeof(why)));
        ck_assert_ptr_nonnull(strstr(why, "absolute"));
        ck_assert(!cs_file_name_ok("..", 2, why, sizeof(why)));
        ck_assert(!cs_file_name_ok(".", 1, why, sizeof(why)));
        ck_assert(!cs_file_name_ok("a/b", 3, why, sizeof(why)));
        ck_assert(!cs_file_name_ok("a\nb", 3, why, sizeof(why)));
        ck_assert(!cs_file_name_ok("a\0b", 3, why, sizeof(why)));
        ck_assert(!cs_file_name_ok("", 0, why, sizeof(why)));
        char longname[300];
        memset(longname, 'x', sizeof(longname));
        ck_assert(cs_file_name_ok(longname, 255, why, sizeof(why)));
        ck_assert(!cs_file_name_ok(longname, 256, why, sizeof(why)));
}
END_TEST

START_TEST(file_read_statuses)
{
        unsigned char *buf;
        size_t len;
        long long size;
        char why[512], path[256];

        make_dir();
        put("ok.bin", "\0\1\2hello", 8);
        put("big.bin", "0123456789", 10);
        ck_assert_int_eq(cs_file_read(dir, "ok.bin", 8, &buf, &len, &size, why,
                                      sizeof(why)), CS_FILE_OK);
        ck_assert_uint_eq(len, 8);
        ck_assert_int_eq(size, 8);
        ck_assert_mem_eq(buf, "\0\1\2hello", 8);
        free(buf);
        ck_assert_int_eq(cs_file_read(dir, "big.bin", 9, &buf, &len, &size, why,
                                      sizeof(why)), CS_FILE_TOO_LARGE);
        ck_assert_ptr_null(buf);
        ck_assert_int_eq(size, 10);
        ck_assert_ptr_nonnull(strstr(why, "max_file_bytes"));
        ck_assert_int_eq(cs_file_read(dir, "gone.bin", 9, &buf, &len, &size, why,
                                      sizeof(why)), CS_FILE_MISSING);
        ck_assert_int_eq(cs_file_read(dir, "../../etc/passwd", 1 << 20, &buf,
                                      &len, &size, why, sizeof(why)),
                         CS_FILE_REFUSED);
        ck_assert_ptr_null(buf);
        ck_assert_int_eq(cs_file_read(dir, "/etc/passwd", 1 << 20, &buf, &len,
                                      &size, why, sizeof(why)), CS_FILE_REFUSED);
        /* A symlink inside the directory that leads out of it is not followed. */
        snprintf(path, sizeof(path), "%s/link", dir);
        ck_assert_int_eq(symlink("/etc/passwd", path), 0);
        ck_assert_int_eq(cs_file_read(dir, "link", 1 << 20, &buf, &len, &size, why,
                                      sizeof(why)), CS_FILE_REFUSED);
        ck_assert_ptr_null(buf);
        /* A directory is not a file. */
        snprintf(path, sizeof(path), "%s/sub", dir);
        ck_assert_int_eq(mkdir(path, 0700), 0);
        ck_assert_int_eq(cs_file_read(dir, "sub", 1 << 20, &buf, &len, &size, why,
                                      sizeof(why)), CS_FILE_REFUSED);
        rm_tree();
}
END_TEST

START_TEST(file_write_atomic)
{
        char why[512], path[256];
        unsigned char *buf;
        size_t len;
        long long size;

        make_dir();
        ck_assert_int_eq(cs_file_write(dir, "P1", "a.txt", (const unsigned char *)"one",
                                       3, why, sizeof(why)), 0);
        ck_assert_int_eq(cs_file_write(dir, "P1", "a.txt", (const unsigned char *)"two!",
                                       4, why, sizeof(why)), 0);
        snprintf(path, sizeof(path), "%s/P1", dir);
        ck_assert_int_eq(cs_file_read(path, "a.txt", 100, &buf, &len, &size, why,
                                      sizeof(why)), CS_FILE_OK);
        ck_assert_uint_eq(len, 4);
        ck_assert_mem_eq(buf, "two!", 4);
        free(buf);
        /* No temporary file is left behind. */
        snprintf(path, sizeof(path), "ls -A '%s/P1' | grep -v '^a.txt$' | wc -l | grep -qx 0", dir);
        ck_assert_int_eq(system(path), 0);
        /* Never outside dir/prefix. */
        ck_assert_int_eq(cs_file_write(dir, "P1", "../x", (const unsigned char *)"x",
                                       1, why, sizeof(why)), -1);
        ck_assert_int_eq(cs_file_write(dir, "../P1", "x", (const unsigned char *)"x",
                                       1, why, sizeof(why)), -1);
        ck_assert_int_eq(cs_file_write(dir, "P1", "/tmp/x", (const unsigned char *)"x",
                                       1, why, sizeof(why)), -1);
        /* A prefix directory that is a symlink is refused. */
        snprintf(path, sizeof(path), "%s/P2", dir);
        ck_assert_int_eq(symlink("/tmp", path), 0);
        ck_assert_int_eq(cs_file_write(dir, "P2", "y", (const unsigned char *)"y",
                                       1, why, sizeof(why)), -1);
        ck_assert_ptr_nonnull(strstr(why, "symlink"));
        rm_tree();
}
END_TEST

START_TEST(file_attach_fields)
{
        char why[512];
        json_t *doc = json_pack("{s:s}", "uri", "ok.bin");

        make_dir();
        put("ok.bin", "abc", 3);
        ck_assert_int_eq(cs_file_attach(doc, "uri", dir, 100, why, sizeof(why)),
                         CS_FILE_OK);
        ck_assert_str_eq(json_string_value(json_object_get(doc, CS_F_FILE_STATUS)), "ok");
        ck_assert_int_eq(json_integer_value(json_object_get(doc, CS_F_FILE_SIZE)), 3);
        ck_assert_str_eq(json_string_value(json_object_get(doc, CS_F_FILE_CONTENT)), "YWJj");
        json_decref(doc);
        doc = json_pack("{s:s}", "uri", "ok.bin");
        ck_assert_int_eq(cs_file_attach(doc, "uri", dir, 2, why, sizeof(why)),
                         CS_FILE_TOO_LARGE);
        ck_assert_str_eq(json_string_value(json_object_get(doc, CS_F_FILE_STATUS)), "too_large");
        ck_assert_ptr_null(json_object_get(doc, CS_F_FILE_CONTENT));
        json_decref(doc);
        doc = json_pack("{s:s}", "uri", "ok.bin");
        ck_assert_int_eq(cs_file_attach(doc, "uri", NULL, 100, why, sizeof(why)),
                         CS_FILE_NOT_SENT);
        ck_assert_str_eq(json_string_value(json_object_get(doc, CS_F_FILE_STATUS)), "not_sent");
        json_decref(doc);
        rm_tree();
}
END_TEST

START_TEST(file_registry)
{
        const cs_entity_t *f = cs_reg_file_entity(), *ef = cs_reg_by_name("entity_file");
        ck_assert_ptr_nonnull(f);
        ck_assert_str_eq(f->table, "civicrm_file");
        ck_assert_int_eq(cs_reg_col_policy(f, cs_reg_file_name_column()),
                         CS_COL_PREFIX_PATH);
        ck_assert_str_eq(cs_reg_ref(f, "created_id")->target, "civicrm_contact");
        ck_assert_ptr_nonnull(ef);
        ck_assert_ptr_null(ef->parent);
        ck_assert_int_eq(cs_reg_ref(ef, "entity_id")->kind, CS_REF_POLY);
        ck_assert_str_eq(cs_reg_ref(ef, "file_id")->target, "civicrm_file");
        ck_assert(cs_reg_poly_target_ok(ef, "civicrm_note"));
        ck_assert(!cs_reg_poly_target_ok(ef, "civicrm_value_x_1"));
        ck_assert(cs_reg_poly_custom_ok(ef));
        ck_assert(!cs_reg_poly_custom_ok(cs_reg_by_name("entity_tag")));
        ck_assert(cs_reg_is_custom_value_table("civicrm_value_files_4"));
        ck_assert(!cs_reg_is_custom_value_table("civicrm_value_"));
        ck_assert_str_eq(cs_reg_custom_extends_table("Individual"), "civicrm_contact");
        ck_assert_str_eq(cs_reg_custom_extends_table("Activity"), "civicrm_activity");
        ck_assert_ptr_null(cs_reg_custom_extends_table("Contribution"));
        /* Dependency order: files after what they attach to, links after files. */
        size_t n;
        const cs_entity_t *all = cs_reg_entities(&n);
        ck_assert(cs_reg_by_name("note") < f);
        ck_assert(f < ef);
        ck_assert_ptr_eq(ef, &all[n - 1]);
        cs_file_status_t st;
        ck_assert_int_eq(cs_file_status_parse("too_large", &st), 0);
        ck_assert_int_eq(st, CS_FILE_TOO_LARGE);
        ck_assert_int_eq(cs_file_status_parse("stored", &st), -1);
}
END_TEST

Suite *files_suite(void)
{
        Suite *s = suite_create("files");
        TCase *tc = tcase_create("core");
        tcase_add_test(tc, file_names);
        tcase_add_test(tc, file_read_statuses);
        tcase_add_test(tc, file_write_atomic);
        tcase_add_test(tc, file_attach_fields);
        tcase_add_test(tc, file_registry);
        suite_add_tcase(s, tc);
        return s;
}
