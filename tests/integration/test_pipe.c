/* test_pipe.c — civisync-produce --output - piped into civisync-consume --input -: same master as the file path, state only on a whole output. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define PIPE_CMD_MAX 4096

/* Runs a bash pipeline from the repo root; returns its "${PIPESTATUS[*]}"
 * line (static buffer), e.g. "0 0". */
static const char *run_pipeline(const char *cmd)
{
        static char status[64];
        char full[PIPE_CMD_MAX];
        FILE *fp;

        snprintf(full, sizeof(full), "bash -c '%s; echo \"${PIPESTATUS[*]}\"'", cmd);
        fp = popen(full, "r");
        ck_assert_ptr_nonnull(fp);
        status[0] = '\0';
        ck_assert_ptr_nonnull(fgets(status, sizeof(status), fp));
        pclose(fp);
        status[strcspn(status, "\n")] = '\0';
        return status;
}

/* The whole content of a file (malloc'd), or NULL. */
static char *slurp(const char *path)
{
        FILE *fp = fopen(path, "r");
        char *buf;
        long len;

        if (!fp)
                return NULL;
        fseek(fp, 0, SEEK_END);
        len = ftell(fp);
        rewind(fp);
        buf = calloc(1, (size_t)len + 1);
        ck_assert_ptr_nonnull(buf);
        ck_assert_int_eq(fread(buf, 1, (size_t)len, fp), (size_t)len);
        fclose(fp);
        return buf;
}

/* The pipe gives the same master as the file path: every synced table's
 * CHECKSUM TABLE ... EXTENDED equal on two masters, and the summary line
 * on the producer's stderr, not in the documents. */
START_TEST(test_pipe_equals_file)
{
        char mfile[64], mpipe[64], child[64], out[512], cmd[PIPE_CMD_MAX];
        char perr[512], cerr[512];
        const char *pconf, *st;
        char *text;
        it_run_t r;
        MYSQL *mf, *mp, *c;

        it_unique(mfile, sizeof(mfile), "master");
        it_unique(mpipe, sizeof(mpipe), "master");
        it_unique(child, sizeof(child), "child");
        it_make_db(mfile, "--schema 5");
        it_make_db(mpipe, "--schema 5");
        it_make_db(child, "--schema 5 --child 3 --contacts 120");
        pconf = it_producer_conf("pp1", child, NULL);

        snprintf(out, sizeof(out), "%s/pp1.ndjson", it_tmpdir());
        r = it_run("civisync-produce", "-c", pconf, "--complete", "--output",
                   out, NULL);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        it_run_free(&r);
        r = it_run("civisync-consume", "-c", it_consumer_conf(mfile, NULL),
                   "--input", out, "--prefix", "pp1", NULL);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        it_run_free(&r);

        snprintf(perr, sizeof(perr), "%s/pp1.produce.err", it_tmpdir());
        snprintf(cerr, sizeof(cerr), "%s/pp1.consume.err", it_tmpdir());
        snprintf(cmd, sizeof(cmd), "bin/civisync-produce -c %s --complete "
                 "--output - 2>%s | bin/civisync-consume -c %s --input - "
                 "--prefix pp1 >/dev/null 2>%s", pconf, perr, it_consumer_conf(mpipe, NULL),
                 cerr);
        st = run_pipeline(cmd);
        text = slurp(perr);
        ck_assert_msg(!strcmp(st, "0 0"), "pipeline exit %s; producer: %s",
                      st, text);
        ck_assert_msg(strstr(text, "complete generation") != NULL,
                      "the summary goes to stderr: %s", text);
        free(text);
        ck_assert_int_eq(access("-", F_OK), -1);   /* no file named "-" */

        mf = it_connect(mfile);
        mp = it_connect(mpipe);
        c = it_connect(child);
        it_assert_synced(c, mp, "pp1");
        for (size_t i = 0; it_synced_tables[i]; i++) {
                long long a = it_checksum(mf, it_synced_tables[i]);
                long long b = it_checksum(mp, it_synced_tables[i]);
                ck_assert_msg(a == b && a != -1, "%s: file %lld, pipe %lld",
                              it_synced_tables[i], a, b);
        }
        ck_assert_int_eq(it_checksum(mf, "mapping_master_pp1"),
                         it_checksum(mp, "mapping_master_pp1"));
        mysql_close(mf);
        mysql_close(mp);
        mysql_close(c);
}
END_TEST

/* A reader that dies mid-pipe: the producer exits 1 and leaves its state
 * file byte for byte; a consumer fed a record cut mid-line stops with
 * exit 1 naming it. */
START_TEST(test_pipe_reader_dies)
{
        char master[64], child[64], state[512], cmd[PIPE_CMD_MAX], perr[512];
        char cerr[512];
        const char *pconf, *st;
        char *before, *after, *text;
        it_run_t r;

        it_unique(master, sizeof(master), "master");
        it_unique(child, sizeof(child), "child");
        it_make_db(master, "--schema 5");
        it_make_db(child, "--schema 5 --child 4 --contacts 400");
        pconf = it_producer_conf("pp2", child, NULL);
        snprintf(state, sizeof(state), "%s/state/pp2.state.json", it_tmpdir());

        /* A first run that succeeds, to have a state to keep. */
        snprintf(perr, sizeof(perr), "%s/pp2.first.ndjson", it_tmpdir());
        r = it_run("civisync-produce", "-c", pconf, "--complete", "--output",
                   perr, NULL);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        it_run_free(&r);
        before = slurp(state);
        ck_assert_ptr_nonnull(before);

        /* The reader goes away after 1000 bytes of several hundred KB. */
        snprintf(perr, sizeof(perr), "%s/pp2.produce.err", it_tmpdir());
        snprintf(cmd, sizeof(cmd), "bin/civisync-produce -c %s --complete "
                 "--output - 2>%s | head -c 1000 >/dev/null", pconf, perr);
        st = run_pipeline(cmd);
        text = slurp(perr);
        ck_assert_msg(!strcmp(st, "1 0"), "pipeline exit %s; producer: %s",
                      st, text);
        ck_assert_msg(strstr(text, "stdout: Broken pipe") != NULL, "%s", text);
        ck_assert_msg(strstr(text, "state was not advanced") != NULL, "%s", text);
        free(text);
        after = slurp(state);
        ck_assert_ptr_nonnull(after);
        ck_assert_str_eq(before, after);
        free(after);

        /* Same for an incremental run. */
        snprintf(cmd, sizeof(cmd), "bin/civisync-produce -c %s --output - "
                 "2>%s | head -c 10 >/dev/null", pconf, perr);
        {
                MYSQL *c = it_connect(child);
                it_exec(c, "UPDATE civicrm_contact SET first_name = "
                        "CONCAT(first_name, 'x') WHERE id <= 300");
                mysql_close(c);
        }
        st = run_pipeline(cmd);
        text = slurp(perr);
        ck_assert_msg(!strcmp(st, "1 0"), "pipeline exit %s; producer: %s",
                      st, text);
        free(text);
        after = slurp(state);
        ck_assert_str_eq(before, after);
        free(after);
        free(before);

        /* The consumer side: a stream cut in the middle of a record. */
        snprintf(cerr, sizeof(cerr), "%s/pp2.consume.err", it_tmpdir());
        snprintf(cmd, sizeof(cmd), "bin/civisync-produce -c %s --complete "
                 "--output - 2>/dev/null | head -c 20000 | "
                 "bin/civisync-consume -c %s --input - --prefix pp2 >/dev/null 2>%s",
                 pconf, it_consumer_conf(master, NULL), cerr);
        st = run_pipeline(cmd);
        text = slurp(cerr);
        ck_assert_msg(!strcmp(st, "1 0 1"), "pipeline exit %s; consumer: %s",
                      st, text);
        ck_assert_msg(strstr(text, "truncated record (no end of line)") != NULL,
                      "%s", text);
        free(text);
}
END_TEST

/* --input's shapes: the producer's lines (value text handed on unparsed),
 * a line with its members in another order (parsed whole), and a line
 * whose value is not JSON (a rejected record naming its line, the rest
 * applied, exit 1). */
/* --output onto an existing path that is not a regular file (a FIFO here;
 * /dev/null the same) writes into it: a temp file renamed over it would
 * replace the FIFO, or /dev/null itself when run as root. */
START_TEST(test_output_to_fifo)
{
        char child[64], fifo[512], copy[512], cmd[1400];
        struct stat st;
        FILE *reader;
        char *text;
        it_run_t r;
        int fd;

        it_unique(child, sizeof(child), "child");
        it_make_db(child, "--schema 5 --child 4 --contacts 20");
        snprintf(fifo, sizeof(fifo), "%s/pp4.fifo", it_tmpdir());
        snprintf(copy, sizeof(copy), "%s/pp4.copy", it_tmpdir());
        unlink(fifo);
        ck_assert_int_eq(mkfifo(fifo, 0600), 0);
        snprintf(cmd, sizeof(cmd), "cat '%s' > '%s'", fifo, copy);
        reader = popen(cmd, "w");
        ck_assert_ptr_nonnull(reader);
        r = it_run("civisync-produce", "-c", it_producer_conf("pp4", child, NULL),
                   "--complete", "--output", fifo, NULL);
        /* Whatever happened, let the reader see an end of file. */
        fd = open(fifo, O_WRONLY | O_NONBLOCK);
        if (fd >= 0)
                close(fd);
        pclose(reader);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        it_run_free(&r);
        ck_assert_int_eq(lstat(fifo, &st), 0);
        ck_assert_msg(S_ISFIFO(st.st_mode), "%s was replaced by a %s", fifo,
                      S_ISREG(st.st_mode) ? "regular file" : "non-FIFO");
        text = slurp(copy);
        ck_assert_ptr_nonnull(text);
        ck_assert_msg(strstr(text, "pp4/civicrm_contact/") != NULL,
                      "the reader got no documents: %.200s", text);
        free(text);
}
END_TEST

START_TEST(test_input_shapes)
{
        char master[64], child[64], out[512], mixed[512], want[128];
        char *line = NULL;
        size_t cap = 0;
        long lineno = 0;
        FILE *in, *fp;
        it_run_t r;
        MYSQL *m, *c;

        it_unique(master, sizeof(master), "master");
        it_unique(child, sizeof(child), "child");
        it_make_db(master, "--schema 5");
        it_make_db(child, "--schema 5 --child 5 --contacts 40");
        snprintf(out, sizeof(out), "%s/pp3.ndjson", it_tmpdir());
        r = it_run("civisync-produce", "-c", it_producer_conf("pp3", child, NULL),
                   "--complete", "--output", out, NULL);
        ck_assert_msg(r.exit_code == 0, "%s", r.err);
        it_run_free(&r);
        snprintf(mixed, sizeof(mixed), "%s/pp3.mixed.ndjson", it_tmpdir());
        in = fopen(out, "r");
        fp = fopen(mixed, "w");
        ck_assert(in && fp);
        while (getline(&line, &cap, in) > 0) {
                if (++lineno % 2 == 0) {
                        /* value first, then partition and key */
                        json_t *rec = json_loads(line, 0, NULL), *swapped;
                        ck_assert_ptr_nonnull(rec);
                        swapped = json_pack("{s:O, s:O, s:O}", "value",
                                            json_object_get(rec, "value"),
                                            "partition",
                                            json_object_get(rec, "partition"),
                                            "key", json_object_get(rec, "key"));
                        json_dumpf(swapped, fp, JSON_COMPACT | JSON_PRESERVE_ORDER);
                        fputc('\n', fp);
                        json_decref(swapped);
                        json_decref(rec);
                } else {
                        fputs(line, fp);
                }
        }
        /* a contact the child does not have, its value cut short */
        fputs("{\"key\":\"pp3/civicrm_contact/999999\",\"partition\":0,"
              "\"value\":{\"id\":\"pp3/civicrm_contact/999999\",}}\n", fp);
        lineno++;
        free(line);
        fclose(in);
        fclose(fp);
        r = it_run("civisync-consume", "-c", it_consumer_conf(master, NULL),
                   "--input", mixed, "--prefix", "pp3", NULL);
        ck_assert_msg(r.exit_code == 1, "exit %d: %s", r.exit_code, r.err);
        snprintf(want, sizeof(want), ":%ld: rejected: invalid JSON", lineno);
        ck_assert_msg(strstr(r.err, want) != NULL, "%s", r.err);
        ck_assert_msg(strstr(r.err, "1 record(s) rejected") != NULL, "%s", r.err);
        it_run_free(&r);
        m = it_connect(master);
        c = it_connect(child);
        it_assert_synced(c, m, "pp3");
        mysql_close(m);
        mysql_close(c);
}
END_TEST

Suite *pipe_suite(void)
{
        Suite *s = suite_create("pipe");
        TCase *tc = tcase_create("pipe");

        tcase_set_timeout(tc, 600);
        tcase_add_test(tc, test_pipe_equals_file);
        tcase_add_test(tc, test_pipe_reader_dies);
        tcase_add_test(tc, test_input_shapes);
        tcase_add_test(tc, test_output_to_fifo);
        suite_add_tcase(s, tc);
        return s;
}
