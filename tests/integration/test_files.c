/* test_files.c — files with their bytes (issue #14, custom file tables): child files_dir to the master's, uri rewritten, entity_file translated (custom value tables too), missing and too-large files reported, hostile uris refused. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define MAX_FILE 5000

typedef struct fx_s {
        char master[64], child[64], prefix[40], topic[80];
        char cdir[256], mdir[256];
        char *pconf, *cconf;
        MYSQL *m, *c;
} fx_t;

static void write_bytes(const char *dir, const char *name, const unsigned char *b,
                        size_t n)
{
        char path[512];
        FILE *fp;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        ck_assert_msg((fp = fopen(path, "wb")) != NULL, "%s", path);
        ck_assert_uint_eq(fwrite(b, 1, n, fp), n);
        fclose(fp);
}

/* The bytes of dir/name (malloc'd, *n), NULL when it does not exist. */
static unsigned char *read_bytes(const char *dir, const char *name, size_t *n)
{
        char path[512];
        unsigned char *b;
        struct stat st;
        FILE *fp;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        if (stat(path, &st) == -1)
                return NULL;
        ck_assert_ptr_nonnull(b = malloc((size_t)st.st_size + 1));
        ck_assert_ptr_nonnull(fp = fopen(path, "rb"));
        *n = fread(b, 1, (size_t)st.st_size, fp);
        fclose(fp);
        return b;
}

static void assert_same_file(const fx_t *f, const char *name)
{
        char mdir[300];
        size_t cn = 0, mn = 0;
        unsigned char *cb = read_bytes(f->cdir, name, &cn), *mb;

        snprintf(mdir, sizeof(mdir), "%s/%s", f->mdir, f->prefix);
        mb = read_bytes(mdir, name, &mn);
        ck_assert_ptr_nonnull(cb);
        ck_assert_msg(mb != NULL, "%s/%s was not written on the master", mdir, name);
        ck_assert_uint_eq(cn, mn);
        ck_assert_msg(memcmp(cb, mb, cn) == 0, "%s: bytes differ", name);
        free(cb);
        free(mb);
}

/* Every regular file below dir, as "a/b" lines, sorted by the walk. */
static void list_files(const char *dir, const char *rel, char *out, size_t size)
{
        char path[512];
        struct dirent *e;
        DIR *d;

        snprintf(path, sizeof(path), "%s%s%s", dir, rel[0] ? "/" : "", rel);
        ck_assert_ptr_nonnull(d = opendir(path));
        while ((e = readdir(d))) {
                char sub[512], full[1024];
                struct stat st;
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                        continue;
                snprintf(sub, sizeof(sub), "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
                snprintf(full, sizeof(full), "%s/%s", dir, sub);
                ck_assert_int_eq(lstat(full, &st), 0);
                if (S_ISDIR(st.st_mode))
                        list_files(dir, sub, out, size);
                else {
                        size_t len = strlen(out);
                        snprintf(out + len, size - len, "%s\n", sub);
                }
        }
        closedir(d);
}

static void fx_new(fx_t *f, const char *base, const char *pextra)
{
        char extra[512];

        it_unique(f->prefix, sizeof(f->prefix), base);
        snprintf(f->topic, sizeof(f->topic), "civisync.%s", f->prefix);
        it_unique(f->master, sizeof(f->master), "fm");
        it_unique(f->child, sizeof(f->child), "fc");
        it_make_db(f->master, "--schema full");
        it_make_db(f->child, "--schema full");
        it_topic(f->topic, 2);
        snprintf(f->cdir, sizeof(f->cdir), "%s/%s_child_files", it_tmpdir(), f->prefix);
        snprintf(f->mdir, sizeof(f->mdir), "%s/%s_master_files", it_tmpdir(), f->prefix);
        ck_assert_int_eq(mkdir(f->cdir, 0700), 0);
        ck_assert_int_eq(mkdir(f->mdir, 0700), 0);
        snprintf(extra, sizeof(extra), "files_dir = \"%s\";\nmax_file_bytes = %d;\n%s",
                 f->cdir, MAX_FILE, pextra ? pextra : "");
        f->pconf = strdup(it_producer_conf(f->prefix, f->child, extra));
        snprintf(extra, sizeof(extra), "prefixes = [\"%s\"];\nfiles_dir = \"%s\";",
                 f->prefix, f->mdir);
        f->cconf = strdup(it_consumer_conf(f->master, extra));
        f->m = it_connect(f->master);
        f->c = it_connect(f->child);
        /* A custom group with a File field's value table: metadata, the same
         * on both sites (its value rows are not needed here: only the
         * entity_file rows that name the table). */
        for (int i = 0; i < 2; i++)
                it_exec(i ? f->m : f->c,
                        "INSERT INTO civicrm_custom_group (id, name, title, extends, "
                        "table_name, is_multiple, is_active) VALUES (90, 'Docs90', "
                        "'Docs 90', 'Individual', 'civicrm_value_docs_90', 0, 1)");
        it_exec(f->c, "INSERT INTO civicrm_contact (id, contact_type, first_name, "
                "last_name, display_name, sort_name) VALUES (500, 'Individual', "
                "'Ann', 'Files', 'Ann Files', 'Files, Ann')");
        it_exec(f->c, "INSERT INTO civicrm_activity (id, activity_type_id, subject, "
                "activity_date_time) VALUES (600, 1, 'With attachment', "
                "'2024-01-01 10:00:00')");
        it_exec(f->c, "INSERT INTO civicrm_note (id, entity_table, entity_id, note, "
                "contact_id) VALUES (700, 'civicrm_contact', 500, 'a note', 500)");
}

static void fx_free(fx_t *f)
{
        char cmd[600];

        mysql_close(f->m);
        mysql_close(f->c);
        free(f->pconf);
        free(f->cconf);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", f->cdir, f->mdir);
        ck_assert_int_eq(system(cmd), 0);
}

/* A civicrm_file row and its link. */
static void add_file(MYSQL *c, int id, const char *uri, const char *table,
                     int entity_id)
{
        it_exec(c, "INSERT INTO civicrm_file (id, mime_type, uri, upload_date, "
                "created_id) VALUES (%d, 'application/octet-stream', '%s', "
                "'2024-01-02 03:04:05', 500)", id, uri);
        it_exec(c, "INSERT INTO civicrm_entity_file (id, entity_table, entity_id, "
                "file_id) VALUES (%d, '%s', %d, %d)", id + 1000, table, entity_id, id);
}

static it_run_t produce(const fx_t *f, int complete)
{
        return complete ? it_run("civisync-produce", "-c", f->pconf, "--complete", NULL) :
                          it_run("civisync-produce", "-c", f->pconf, NULL);
}

static long long master_id(const fx_t *f, const char *table, long long child_id)
{
        return it_int(f->m, "SELECT master_entity_id FROM mapping_master_%s WHERE "
                      "entity_table = '%s' AND child_entity_id = %lld", f->prefix,
                      table, child_id);
}

/* A file field with its bytes end to end; a missing and a too-large file
 * reported on both sides; verify equal. */
START_TEST(test_files_end_to_end)
{
        fx_t f;
        unsigned char photo[3000], cv[MAX_FILE], big[MAX_FILE + 1];
        char uri[128], listing[2048] = "", want[512];
        it_run_t r;

        for (size_t i = 0; i < sizeof(photo); i++)
                photo[i] = (unsigned char)(i * 7);       /* NULs and high bytes */
        memset(cv, 'c', sizeof(cv));                     /* exactly the limit */
        memset(big, 'b', sizeof(big));                   /* one byte over it */
        fx_new(&f, "fe", NULL);
        write_bytes(f.cdir, "photo_1a2b.png", photo, sizeof(photo));
        write_bytes(f.cdir, "cv_3c4d.odt", cv, sizeof(cv));
        write_bytes(f.cdir, "big_5e6f.bin", big, sizeof(big));
        add_file(f.c, 1, "photo_1a2b.png", "civicrm_contact", 500);
        add_file(f.c, 2, "cv_3c4d.odt", "civicrm_value_docs_90", 500);
        add_file(f.c, 3, "gone_7a8b.txt", "civicrm_note", 700);
        add_file(f.c, 4, "big_5e6f.bin", "civicrm_activity", 600);

        r = produce(&f, 1);
        ck_assert_msg(r.exit_code == 0, "produce exit %d: %s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "file 3: missing") != NULL, "%s", r.err);
        ck_assert_msg(strstr(r.err, "file 4: too_large") != NULL, "%s", r.err);
        ck_assert_msg(strstr(r.err, "files: 2 with their bytes") != NULL, "%s", r.err);
        it_run_free(&r);
        r = it_run("civisync-consume", "-c", f.cconf, "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "consume exit %d: %s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "rejected to") == NULL, "rejections: %s", r.err);
        it_run_free(&r);

        /* The bytes, identical, under <files_dir>/<PREFIX>/, nothing else. */
        assert_same_file(&f, "photo_1a2b.png");
        assert_same_file(&f, "cv_3c4d.odt");
        list_files(f.mdir, "", listing, sizeof(listing));
        snprintf(want, sizeof(want), "%s/", f.prefix);
        ck_assert_msg(strstr(listing, "photo_1a2b.png") && strstr(listing, "cv_3c4d.odt") &&
                      !strstr(listing, "big_") && !strstr(listing, "gone_") &&
                      !strstr(listing, ".civisync-tmp"), "%s", listing);
        for (const char *p = listing; *p; p = strchr(p, '\n') + 1)
                ck_assert_msg(!strncmp(p, want, strlen(want)), "outside %s: %s", want, p);
        /* civicrm_file rows mapped, uri rewritten, created_id translated. */
        for (int id = 1; id <= 4; id++)
                ck_assert_msg(master_id(&f, "civicrm_file", id) > 0, "file %d", id);
        snprintf(uri, sizeof(uri), "%s/photo_1a2b.png", f.prefix);
        ck_assert_int_eq(it_int(f.m, "SELECT COUNT(*) FROM civicrm_file WHERE id = %lld "
                                "AND uri = '%s' AND created_id = %lld",
                                master_id(&f, "civicrm_file", 1), uri,
                                master_id(&f, "civicrm_contact", 500)), 1);
        /* civicrm_entity_file translated: the contact's, the activity's, the
         * note's, and the custom value table's (entity_id = the contact). */
        ck_assert_int_eq(it_int(f.m, "SELECT COUNT(*) FROM civicrm_entity_file WHERE "
                                "id = %lld AND entity_table = 'civicrm_contact' AND "
                                "entity_id = %lld AND file_id = %lld",
                                master_id(&f, "civicrm_entity_file", 1001),
                                master_id(&f, "civicrm_contact", 500),
                                master_id(&f, "civicrm_file", 1)), 1);
        ck_assert_int_eq(it_int(f.m, "SELECT COUNT(*) FROM civicrm_entity_file WHERE "
                                "id = %lld AND entity_table = 'civicrm_value_docs_90' "
                                "AND entity_id = %lld AND file_id = %lld",
                                master_id(&f, "civicrm_entity_file", 1002),
                                master_id(&f, "civicrm_contact", 500),
                                master_id(&f, "civicrm_file", 2)), 1);
        ck_assert_int_eq(it_int(f.m, "SELECT COUNT(*) FROM civicrm_entity_file WHERE "
                                "id = %lld AND entity_table = 'civicrm_note' AND "
                                "entity_id = %lld", master_id(&f, "civicrm_entity_file", 1003),
                                master_id(&f, "civicrm_note", 700)), 1);
        ck_assert_int_eq(it_int(f.m, "SELECT COUNT(*) FROM civicrm_entity_file WHERE "
                                "id = %lld AND entity_table = 'civicrm_activity' AND "
                                "entity_id = %lld", master_id(&f, "civicrm_entity_file", 1004),
                                master_id(&f, "civicrm_activity", 600)), 1);
        /* Reported on the master: per file, and in --status. */
        ck_assert_int_eq(it_int(f.m, "SELECT COUNT(*) FROM civisync_file WHERE prefix = "
                                "'%s' AND status = 'stored'", f.prefix), 2);
        ck_assert_int_eq(it_int(f.m, "SELECT COUNT(*) FROM civisync_file WHERE prefix = "
                                "'%s' AND child_file_id = 3 AND status = 'missing'",
                                f.prefix), 1);
        ck_assert_int_eq(it_int(f.m, "SELECT COUNT(*) FROM civisync_file WHERE prefix = "
                                "'%s' AND child_file_id = 4 AND status = 'too_large' "
                                "AND size = %d", f.prefix, MAX_FILE + 1), 1);
        r = it_run("civisync-consume", "-c", f.cconf, "--status", NULL);
        ck_assert_int_eq(r.exit_code, 0);
        snprintf(want, sizeof(want), "files: 2 stored under %s, 2 without their bytes "
                 "(missing 1, too_large 1)", f.mdir);
        ck_assert_msg(strstr(r.out, want) != NULL, "want '%s' in:\n%s", want, r.out);
        snprintf(want, sizeof(want), "file 4 (%s/big_5e6f.bin): too_large", f.prefix);
        ck_assert_msg(strstr(r.out, want) != NULL, "want '%s' in:\n%s", want, r.out);
        it_run_free(&r);
        /* civisync-verify: rows equal through the mapping (uri by the
         * <PREFIX>/ rule, the custom table's link through the contact's). */
        r = it_run("civisync-verify", "--child-config", f.pconf, "--master-config",
                   f.cconf, "--limit", "0", NULL);
        ck_assert_msg(r.exit_code == 0, "verify exit %d:\n%s\n%s", r.exit_code, r.out,
                      r.err);
        ck_assert_msg(strstr(r.out, "\nfile: 4 child rows, 4 mapped: 0 missing") &&
                      strstr(r.out, "\nentity_file: 4 child rows, 4 mapped: 0 missing"),
                      "%s", r.out);
        ck_assert_msg(strstr(r.out, "file bytes: 2 compared, 2 equal, 0 differ; 2 not "
                             "readable on the child"), "%s", r.out);
        it_run_free(&r);
        /* The tests' own oracle agrees (row counts, uri, translated links). */
        it_assert_synced(f.c, f.m, f.prefix);
        /* A master file changed behind civisync's back: verify names it. */
        {
                char mdir[300];
                snprintf(mdir, sizeof(mdir), "%s/%s", f.mdir, f.prefix);
                write_bytes(mdir, "cv_3c4d.odt", (const unsigned char *)"tampered", 8);
        }
        r = it_run("civisync-verify", "--child-config", f.pconf, "--master-config",
                   f.cconf, "--limit", "0", NULL);
        ck_assert_msg(r.exit_code == 1, "verify exit %d:\n%s", r.exit_code, r.out);
        ck_assert_msg(strstr(r.out, "/civicrm_file/2: 5000 bytes on the child, 8 "
                             "different bytes on the master"), "%s", r.out);
        ck_assert_msg(strstr(r.out, "file bytes: 2 compared, 1 equal, 1 differ"), "%s",
                      r.out);
        it_run_free(&r);
        write_bytes(f.cdir, "cv_3c4d.odt", cv, sizeof(cv));
        /* (the child's copy is unchanged: rewrite the master's from it) */
        {
                char mdir[300];
                snprintf(mdir, sizeof(mdir), "%s/%s", f.mdir, f.prefix);
                write_bytes(mdir, "cv_3c4d.odt", cv, sizeof(cv));
        }

        /* Incremental: a new file reaches the master with its bytes. */
        write_bytes(f.cdir, "later_9c0d.txt", (const unsigned char *)"later\n", 6);
        add_file(f.c, 5, "later_9c0d.txt", "civicrm_contact", 500);
        /* tagged (tag_used_for names civicrm_file: synced since phase 3c) */
        it_exec(f.c, "INSERT INTO civicrm_tag (id, name, used_for) VALUES (50, "
                "'Signed', 'civicrm_file')");
        it_exec(f.c, "INSERT INTO civicrm_entity_tag (id, entity_table, entity_id, "
                "tag_id) VALUES (800, 'civicrm_file', 5, 50)");
        r = produce(&f, 0);
        ck_assert_msg(r.exit_code == 0, "produce exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);
        r = it_run("civisync-consume", "-c", f.cconf, "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "consume exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);
        assert_same_file(&f, "later_9c0d.txt");
        ck_assert_int_eq(it_int(f.m, "SELECT COUNT(*) FROM civicrm_entity_file WHERE "
                                "file_id = %lld", master_id(&f, "civicrm_file", 5)), 1);
        ck_assert_int_eq(it_int(f.m, "SELECT COUNT(*) FROM civicrm_entity_tag WHERE id = "
                                "%lld AND entity_table = 'civicrm_file' AND entity_id = "
                                "%lld AND tag_id = %lld",
                                master_id(&f, "civicrm_entity_tag", 800),
                                master_id(&f, "civicrm_file", 5),
                                master_id(&f, "civicrm_tag", 50)), 1);
        it_assert_synced(f.c, f.m, f.prefix);
        /* Deleted on the child (link first, as CiviCRM does): gone on the
         * master. The file's tombstone may be applied before its link's (they
         * are on different partitions): applied alone first here, it must
         * take the prefix's links with it (entity_file.file_id is NOT NULL,
         * ON DELETE RESTRICT), and the link's tombstone is then a no-op. */
        it_exec(f.c, "DELETE FROM civicrm_entity_file WHERE file_id = 5");
        /* CiviCRM's civi.dao.preDelete listener removes the file's tags */
        it_exec(f.c, "DELETE FROM civicrm_entity_tag WHERE entity_table = "
                "'civicrm_file' AND entity_id = 5");
        it_exec(f.c, "DELETE FROM civicrm_file WHERE id = 5");
        r = produce(&f, 0);
        ck_assert_msg(r.exit_code == 0, "produce exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);
        {
                char rec[256];
                snprintf(rec, sizeof(rec), "{\"key\":\"%s/civicrm_file/5\","
                         "\"partition\":0,\"value\":null}\n", f.prefix);
                r = it_run("civisync-consume", "-c", f.cconf, "--input",
                           it_write_file("file-tombstone.ndjson", rec), "--prefix",
                           f.prefix, NULL);
                ck_assert_msg(r.exit_code == 0, "tombstone exit %d: %s", r.exit_code,
                              r.err);
                it_run_free(&r);
        }
        ck_assert_int_eq(master_id(&f, "civicrm_entity_file", 1005), 0);
        /* and its tag, before the tag's own tombstone (phase 3c) */
        ck_assert_int_eq(master_id(&f, "civicrm_entity_tag", 800), 0);
        ck_assert_int_eq(it_int(f.m, "SELECT COUNT(*) FROM civicrm_entity_tag WHERE "
                                "entity_table = 'civicrm_file'"), 0);
        r = it_run("civisync-consume", "-c", f.cconf, "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "consume exit %d: %s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "rejected to") == NULL, "rejections: %s", r.err);
        it_run_free(&r);
        ck_assert_int_eq(master_id(&f, "civicrm_file", 5), 0);
        ck_assert_int_eq(it_int(f.m, "SELECT COUNT(*) FROM civicrm_file WHERE uri = "
                                "'%s/later_9c0d.txt'", f.prefix), 0);
        it_assert_synced(f.c, f.m, f.prefix);

        /* civisync-restore gives a lost child back its own file names and
         * links (its bytes are copied from <files_dir>/<PREFIX>/ by hand). */
        mysql_close(f.c);
        it_exec(f.m, "DROP DATABASE `%s`", f.child);
        it_make_db(f.child, "--schema 5"); /* restore's fresh install (its seed) */
        f.c = it_connect(f.child);
        r = it_run("civisync-restore", "--master-config", f.cconf, "--prefix", f.prefix,
                   "--into", f.pconf, NULL);
        ck_assert_msg(r.exit_code == 0, "restore exit %d:\n%s\n%s", r.exit_code, r.out,
                      r.err + (strlen(r.err) > 3000 ? strlen(r.err) - 3000 : 0));
        it_run_free(&r);
        ck_assert_int_eq(it_int(f.c, "SELECT COUNT(*) FROM civicrm_file WHERE id = 1 AND "
                                "uri = 'photo_1a2b.png' AND created_id = 500"), 1);
        ck_assert_int_eq(it_int(f.c, "SELECT COUNT(*) FROM civicrm_entity_file WHERE id = "
                                "1002 AND entity_table = 'civicrm_value_docs_90' AND "
                                "entity_id = 500 AND file_id = 2"), 1);
        ck_assert_int_eq(it_int(f.c, "SELECT COUNT(*) FROM civicrm_entity_file"), 4);
        fx_free(&f);
}
END_TEST

/* Hostile uris: the producer refuses to read them (reported), the consumer
 * refuses to store them (dead letter naming the uri), and nothing is read
 * or written outside the directories. */
START_TEST(test_files_hostile_uri)
{
        fx_t f;
        char listing[2048] = "", line[2048], path[512], bait[300];
        it_run_t r;
        FILE *fp;

        fx_new(&f, "fh", NULL);
        /* A file outside files_dir, next to it: a traversal would reach it. */
        snprintf(bait, sizeof(bait), "%s_bait", f.cdir);
        fp = fopen(bait, "w");
        ck_assert_ptr_nonnull(fp);
        fputs("secret", fp);
        fclose(fp);
        write_bytes(f.cdir, "fine.txt", (const unsigned char *)"fine", 4);
        add_file(f.c, 1, "fine.txt", "civicrm_contact", 500);
        add_file(f.c, 2, "../../etc/passwd", "civicrm_contact", 500);
        add_file(f.c, 3, "/etc/passwd", "civicrm_contact", 500);
        snprintf(path, sizeof(path), "../%s", strrchr(bait, '/') + 1);
        add_file(f.c, 4, path, "civicrm_contact", 500);

        r = produce(&f, 1);
        ck_assert_msg(r.exit_code == 0, "produce exit %d: %s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "file 2: refused: '../../etc/passwd' contains '..'"),
                      "%s", r.err);
        ck_assert_msg(strstr(r.err, "file 3: refused: absolute path '/etc/passwd'"),
                      "%s", r.err);
        ck_assert_msg(strstr(r.err, "file 4: refused"), "%s", r.err);
        ck_assert_msg(strstr(r.err, "3 refused"), "%s", r.err);
        it_run_free(&r);
        r = it_run("civisync-consume", "-c", f.cconf, "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "consume exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);
        /* The fine file landed; the hostile ones are dead letters naming
         * why, their rows absent, their links waiting for them. */
        assert_same_file(&f, "fine.txt");
        ck_assert_int_eq(it_int(f.m, "SELECT COUNT(*) FROM civisync_dead_letter WHERE "
                                "prefix = '%s' AND doc_key LIKE '%%/civicrm_file/%%' AND "
                                "error LIKE '%%uri%%refused%%'", f.prefix), 3);
        ck_assert_int_eq(it_int(f.m, "SELECT COUNT(*) FROM civicrm_file WHERE uri LIKE "
                                "'%%..%%' OR uri LIKE '%%/etc/%%'"), 0);
        ck_assert_int_eq(master_id(&f, "civicrm_file", 2), 0);
        list_files(f.mdir, "", listing, sizeof(listing));
        snprintf(line, sizeof(line), "%s/fine.txt\n", f.prefix);
        ck_assert_str_eq(listing, line);

        /* A crafted document carrying bytes under a traversing uri (not
         * from civisync-produce): refused, nothing written anywhere. */
        snprintf(line, sizeof(line),
                 "{\"key\":\"%s/civicrm_file/900\",\"partition\":0,\"value\":"
                 "{\"id\":\"%s/civicrm_file/900\",\"civisync_format\":1,"
                 "\"civisync_prefix\":\"%s\",\"civisync_entity\":\"file\","
                 "\"civisync_table\":\"civicrm_file\",\"civisync_child_id\":900,"
                 "\"civisync_time_zone\":null,\"uri\":\"../escaped_%s.txt\","
                 "\"civisync_file_status\":\"ok\",\"civisync_file_size\":3,"
                 "\"civisync_file_content\":\"YWJj\"}}\n",
                 f.prefix, f.prefix, f.prefix, f.prefix);
        r = it_run("civisync-consume", "-c", f.cconf, "--input",
                   it_write_file("hostile-file.ndjson", line), "--prefix", f.prefix,
                   NULL);
        ck_assert_msg(r.exit_code == 1, "exit %d: %s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "contains '..'") != NULL, "%s", r.err);
        it_run_free(&r);
        snprintf(path, sizeof(path), "%s/escaped_%s.txt", it_tmpdir(), f.prefix);
        ck_assert_int_eq(access(path, F_OK), -1);
        listing[0] = '\0';
        list_files(f.mdir, "", listing, sizeof(listing));
        snprintf(line, sizeof(line), "%s/fine.txt\n", f.prefix);
        ck_assert_str_eq(listing, line);
        ck_assert_int_eq(unlink(bait), 0);
        fx_free(&f);
}
END_TEST

Suite *files_it_suite(void)
{
        Suite *s = suite_create("files");
        TCase *tc = tcase_create("bytes");
        tcase_set_timeout(tc, 600);
        tcase_add_test(tc, test_files_end_to_end);
        tcase_add_test(tc, test_files_hostile_uri);
        suite_add_tcase(s, tc);
        return s;
}
