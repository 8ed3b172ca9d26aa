/* harness.c — integration-test helpers: databases, configs, running the programs. */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>

#include "harness.h"
#include "oracle.h"

static const char *env(const char *name)
{
        const char *v = getenv(name);
        ck_assert_msg(v && *v, "%s is not set: run through tests/run-integration.sh",
                      name);
        return v;
}

const char *it_tmpdir(void) { return env("CS_TEST_TMPDIR"); }
const char *it_brokers(void) { return env("CS_TEST_BROKERS"); }

void it_unique(char *out, size_t size, const char *base)
{
        static int counter;
        snprintf(out, size, "%s_%ld_%d", base, (long)getpid(), ++counter);
}

void it_make_db(const char *name, const char *args)
{
        char cmd[1024];
        int rc;

        snprintf(cmd, sizeof(cmd), "tests/lib/make-db.sh %s %s >/dev/null",
                 name, args);
        rc = system(cmd);
        ck_assert_msg(rc == 0, "make-db failed: %s", cmd);
}

MYSQL *it_connect(const char *db)
{
        MYSQL *conn = mysql_init(NULL);
        ck_assert_ptr_nonnull(conn);
        mysql_options(conn, MYSQL_SET_CHARSET_NAME, "utf8mb4");
        ck_assert_msg(mysql_real_connect(conn, "localhost",
                                         env("CS_TEST_MYSQL_USER"),
                                         env("CS_TEST_MYSQL_PASSWORD"), db, 0,
                                         env("CS_TEST_MYSQL_SOCKET"), 0),
                      "connect %s: %s", db, mysql_error(conn));
        mysql_query(conn, "SET time_zone = '+00:00'");
        return conn;
}

static void vquery(MYSQL *db, const char *fmt, va_list ap, char *sql, size_t size)
{
        vsnprintf(sql, size, fmt, ap);
        ck_assert_msg(mysql_query(db, sql) == 0, "%s: %s", sql, mysql_error(db));
}

long long it_int(MYSQL *db, const char *fmt, ...)
{
        char sql[4096];
        va_list ap;
        MYSQL_RES *res;
        MYSQL_ROW row;
        long long v;

        va_start(ap, fmt);
        vquery(db, fmt, ap, sql, sizeof(sql));
        va_end(ap);
        res = mysql_store_result(db);
        ck_assert_msg(res != NULL, "%s: no result", sql);
        row = mysql_fetch_row(res);
        /* NULL is not 0: MIN(id) of no rows must not become id 0. */
        ck_assert_msg(!row || row[0], "%s: NULL (use COALESCE if 0 is meant)", sql);
        v = row ? strtoll(row[0], NULL, 10) : 0;
        mysql_free_result(res);
        return v;
}

void it_exec(MYSQL *db, const char *fmt, ...)
{
        char sql[8192];
        va_list ap;
        va_start(ap, fmt);
        vquery(db, fmt, ap, sql, sizeof(sql));
        va_end(ap);
}

void it_copy_reserved_prices(MYSQL *db, const char *child)
{
        /* the options name membership types the metadata gate may create
         * on db only later */
        it_exec(db, "SET SESSION FOREIGN_KEY_CHECKS = 0");
        it_exec(db, "INSERT IGNORE INTO civicrm_price_field SELECT f.* FROM "
                "`%s`.civicrm_price_field f JOIN `%s`.civicrm_price_set s ON s.id "
                "= f.price_set_id WHERE s.is_reserved = 1", child, child);
        it_exec(db, "INSERT IGNORE INTO civicrm_price_field_value SELECT v.* FROM "
                "`%s`.civicrm_price_field_value v JOIN `%s`.civicrm_price_field f ON "
                "f.id = v.price_field_id JOIN `%s`.civicrm_price_set s ON s.id = "
                "f.price_set_id WHERE s.is_reserved = 1", child, child, child);
        it_exec(db, "SET SESSION FOREIGN_KEY_CHECKS = 1");
}

long long it_checksum(MYSQL *db, const char *table)
{
        char sql[256];
        MYSQL_RES *res;
        MYSQL_ROW row;
        long long v;

        snprintf(sql, sizeof(sql), "CHECKSUM TABLE `%s` EXTENDED", table);
        ck_assert_msg(mysql_query(db, sql) == 0, "%s", mysql_error(db));
        res = mysql_store_result(db);
        row = mysql_fetch_row(res);
        v = (row && row[1]) ? strtoll(row[1], NULL, 10) : -1;
        mysql_free_result(res);
        return v;
}

char *it_write_file(const char *name, const char *text)
{
        static char paths[16][512];
        static int slot;
        char *path = paths[slot++ % 16];
        FILE *fp;

        snprintf(path, 512, "%s/%s", it_tmpdir(), name);
        fp = fopen(path, "w");
        ck_assert_ptr_nonnull(fp);
        fputs(text, fp);
        fclose(fp);
        return path;
}

char **it_read_lines(const char *path, size_t *n)
{
        char **lines = NULL, *line = NULL;
        size_t cap = 0;
        FILE *fp = fopen(path, "r");

        ck_assert_msg(fp != NULL, "cannot read %s", path);
        *n = 0;
        while (getline(&line, &cap, fp) > 0) {
                lines = realloc(lines, (*n + 1) * sizeof(*lines));
                ck_assert_ptr_nonnull(lines);
                lines[(*n)++] = strdup(line);
        }
        free(line);
        fclose(fp);
        return lines;
}

void it_lines_free(char **lines, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(lines[i]);
        free(lines);
}

char *it_producer_conf(const char *prefix, const char *child_db,
                       const char *extra)
{
        char text[4096], name[128];

        snprintf(text, sizeof(text),
                 "prefix = \"%s\";\n"
                 "state_dir = \"%s/state\";\n"
                 "child = { socket = \"%s\"; user = \"%s\"; password = \"%s\"; "
                 "database = \"%s\"; };\n"
                 "kafka = { brokers = \"%s\"; };\n%s\n",
                 prefix, it_tmpdir(), env("CS_TEST_MYSQL_SOCKET"),
                 env("CS_TEST_MYSQL_USER"), env("CS_TEST_MYSQL_PASSWORD"),
                 child_db, it_brokers(), extra ? extra : "");
        snprintf(name, sizeof(name), "producer-%s.cfg", prefix);
        return it_write_file(name, text);
}

char *it_consumer_conf(const char *master_db, const char *extra)
{
        char text[4096], name[128];

        snprintf(text, sizeof(text),
                 "master = { socket = \"%s\"; user = \"%s\"; password = \"%s\"; "
                 "database = \"%s\"; };\n"
                 "kafka = { brokers = \"%s\"; group = \"g_%s\";\n"
                 "  properties = ( (\"session.timeout.ms\", \"6000\") ); };\n%s\n",
                 env("CS_TEST_MYSQL_SOCKET"), env("CS_TEST_MYSQL_USER"),
                 env("CS_TEST_MYSQL_PASSWORD"), master_db, it_brokers(),
                 master_db, extra ? extra : "");
        snprintf(name, sizeof(name), "consumer-%s.cfg", master_db);
        return it_write_file(name, text);
}

static char *slurp(int fd)
{
        size_t cap = 4096, len = 0;
        char *buf = malloc(cap);
        ssize_t n;

        while ((n = read(fd, buf + len, cap - len - 1)) > 0) {
                len += (size_t)n;
                if (cap - len < 2)
                        buf = realloc(buf, cap *= 2);
        }
        buf[len] = '\0';
        return buf;
}

it_run_t it_run(const char *program, ...)
{
        const char *argv[64];
        char path[512], out_path[512], err_path[512];
        it_run_t run = { 0 };
        va_list ap;
        int argc = 0, status, out_fd, err_fd;
        pid_t pid;

        snprintf(path, sizeof(path), "bin/%s", program);
        argv[argc++] = path;
        va_start(ap, program);
        while (argc < 63 && (argv[argc] = va_arg(ap, const char *)))
                argc++;
        va_end(ap);
        argv[argc] = NULL;
        snprintf(out_path, sizeof(out_path), "%s/run.%ld.out", it_tmpdir(), (long)getpid());
        snprintf(err_path, sizeof(err_path), "%s/run.%ld.err", it_tmpdir(), (long)getpid());
        out_fd = open(out_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
        err_fd = open(err_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
        ck_assert(out_fd >= 0 && err_fd >= 0);
        pid = fork();
        ck_assert(pid >= 0);
        if (pid == 0) {
                dup2(out_fd, 1);
                dup2(err_fd, 2);
                execv(path, (char *const *)argv);
                _exit(127);
        }
        waitpid(pid, &status, 0);
        run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        lseek(out_fd, 0, SEEK_SET);
        lseek(err_fd, 0, SEEK_SET);
        run.out = slurp(out_fd);
        run.err = slurp(err_fd);
        close(out_fd);
        close(err_fd);
        return run;
}

/* Lines in the broker's log so far. */
static long log_lines(const char *path)
{
        FILE *fp = fopen(path, "r");
        long n = 0;
        int c;

        if (!fp)
                return 0;
        while ((c = fgetc(fp)) != EOF)
                if (c == '\n')
                        n++;
        fclose(fp);
        return n;
}

/* Sends line to the harness broker's control FIFO and waits for its own
 * word on it in broker.log (lines after the ones there before): ok_text
 * passes, fail_text fails unless it also contains also_ok. */
static void broker_command(const char *line, const char *ok_text,
                           const char *fail_text, const char *also_ok)
{
        const char *ctl = env("CS_TEST_BROKER_CONTROL");
        char log_path[512], buf[1024];
        long before;
        int fd;
        size_t len = strlen(line);

        snprintf(log_path, sizeof(log_path), "%s/broker.log", it_tmpdir());
        before = log_lines(log_path);
        fd = open(ctl, O_WRONLY);
        ck_assert_msg(fd >= 0, "open broker control %s", ctl);
        ck_assert_int_eq(write(fd, line, len), (ssize_t)len);
        close(fd);
        for (int tries = 0; tries < 200; tries++) {
                FILE *fp = fopen(log_path, "r");
                long n = 0;
                int done = 0;
                while (fp && !done && fgets(buf, sizeof(buf), fp)) {
                        if (strchr(buf, '\n') && n++ < before)
                                continue;
                        if (strstr(buf, ok_text))
                                done = 1;
                        else if (strstr(buf, fail_text)) {
                                ck_assert_msg(also_ok && strstr(buf, also_ok) != NULL,
                                              "broker: %s", buf);
                                done = 1;
                        }
                }
                if (fp)
                        fclose(fp);
                if (done)
                        return;
                usleep(50000);
        }
        ck_abort_msg("the broker did not answer '%.*s' within 10 s (%s)",
                     (int)(len ? len - 1 : 0), line, log_path);
}

void it_topic(const char *name, int partitions)
{
        char line[300], created[300], failed[300];

        snprintf(line, sizeof(line), "topic %s:%d\n", name, partitions);
        snprintf(created, sizeof(created), "created topic %s with", name);
        snprintf(failed, sizeof(failed), "cannot create topic %s:", name);
        /* "already exists": an earlier test of this run made it. */
        broker_command(line, created, failed, "already exists");
}

void it_broker_rtt(int rtt_ms)
{
        char line[64];

        snprintf(line, sizeof(line), "rtt %d\n", rtt_ms);
        broker_command(line, "control: every broker answers", "control: ", NULL);
}

void it_run_free(it_run_t *run)
{
        free(run->out);
        free(run->err);
        run->out = run->err = NULL;
}

const char *const it_synced_tables[] = {
        "civicrm_contact", "civicrm_email", "civicrm_phone", "civicrm_address",
        "civicrm_im", "civicrm_website", "civicrm_saved_search", "civicrm_group",
        "civicrm_group_nesting", "civicrm_group_organization",
        "civicrm_group_contact", "civicrm_tag", "civicrm_entity_tag",
        "civicrm_relationship", "civicrm_note", "civicrm_activity",
        "civicrm_activity_contact", "civicrm_file", "civicrm_entity_file", NULL
};

long long it_child_rows(MYSQL *child, const char *table)
{
        /* Email, phone, address and IM rows without a contact are the
         * location blocks' (entities loc_*, since issue #16): synced too. */
        if (!strcmp(table, "civicrm_website"))
                return it_int(child, "SELECT COUNT(*) FROM %s WHERE contact_id IS NOT NULL",
                              table);
        /* The row filters (the tests' own, as tests/lib/oracle.c). */
        if (!strcmp(table, "civicrm_entity_tag"))
                return it_int(child, "SELECT COUNT(*) FROM %s WHERE entity_table IN "
                              "('civicrm_contact','civicrm_activity','civicrm_case',"
                              "'civicrm_file')", table);
        if (!strcmp(table, "civicrm_note"))
                return it_int(child, "SELECT COUNT(*) FROM %s WHERE entity_table IN "
                              "('civicrm_contact','civicrm_relationship','civicrm_note',"
                              "'civicrm_activity','civicrm_participant',"
                              "'civicrm_contribution')", table);
        if (!strcmp(table, "civicrm_entity_file"))
                return it_int(child, "SELECT COUNT(*) FROM %s WHERE entity_table IN "
                              "('civicrm_contact','civicrm_activity','civicrm_note') OR "
                              "entity_table LIKE 'civicrm\\_value\\_%%'", table);
        if (!strcmp(table, "civicrm_file"))
                return it_int(child, "SELECT COUNT(*) FROM %s WHERE id IN (SELECT file_id "
                              "FROM civicrm_entity_file WHERE entity_table IN "
                              "('civicrm_contact','civicrm_activity','civicrm_note') OR "
                              "entity_table LIKE 'civicrm\\_value\\_%%')", table);
        return it_int(child, "SELECT COUNT(*) FROM %s", table);
}

long long it_mapped_rows(MYSQL *master, const char *prefix, const char *table)
{
        return it_int(master, "SELECT COUNT(*) FROM mapping_master_%s m JOIN %s t "
                      "ON t.id = m.master_entity_id WHERE m.entity_table = '%s'",
                      prefix, table, table);
}

/* Name of the database a connection uses. */
static void db_name(MYSQL *db, char *out, size_t size)
{
        MYSQL_RES *res;
        MYSQL_ROW row;

        ck_assert_msg(mysql_query(db, "SELECT DATABASE()") == 0 &&
                      (res = mysql_store_result(db)), "SELECT DATABASE(): %s",
                      mysql_error(db));
        row = mysql_fetch_row(res);
        ck_assert_msg(row && row[0], "connection has no database");
        snprintf(out, size, "%s", row[0]);
        mysql_free_result(res);
}

long it_assert_same(const char *child_db, const char *master_db, const char *prefix)
{
        char report[1536], errstr[1024];
        long rows = 0, diffs;
        MYSQL *db = it_connect(master_db);

        diffs = orc_compare(db, child_db, master_db, prefix, &rows, report,
                            sizeof(report), errstr, sizeof(errstr));
        mysql_close(db);
        ck_assert_msg(diffs != -1, "%s", errstr);
        ck_assert_msg(diffs == 0, "%s: %ld line(s) differ between child %s and master "
                      "%s (independent oracle, %ld child rows), first:\n%s", prefix,
                      diffs, child_db, master_db, rows, report);
        ck_assert_msg(rows > 0, "%s: the oracle compared no rows", prefix);
        return rows;
}

void it_assert_synced(MYSQL *child, MYSQL *master, const char *prefix)
{
        char cdb[128], mdb[128];

        for (int i = 0; it_synced_tables[i]; i++) {
                long long want = it_child_rows(child, it_synced_tables[i]);
                long long have = it_mapped_rows(master, prefix, it_synced_tables[i]);
                ck_assert_msg(want == have, "%s %s: child has %lld rows, master %lld",
                              prefix, it_synced_tables[i], want, have);
        }
        db_name(child, cdb, sizeof(cdb));
        db_name(master, mdb, sizeof(mdb));
        it_assert_same(cdb, mdb, prefix);
}

void it_prefix_digest(MYSQL *master, const char *prefix, const char *table,
                      char *out, size_t size)
{
        char cols[8192] = "", sql[12288];
        MYSQL_RES *res;
        MYSQL_ROW row;
        size_t len = 0;

        it_exec(master, "SET SESSION group_concat_max_len = 1073741824");
        snprintf(sql, sizeof(sql), "SELECT COLUMN_NAME FROM information_schema.COLUMNS "
                 "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '%s' "
                 "ORDER BY ORDINAL_POSITION", table);
        ck_assert_msg(mysql_query(master, sql) == 0 && (res = mysql_store_result(master)),
                      "%s: %s", sql, mysql_error(master));
        while ((row = mysql_fetch_row(res)))
                len += (size_t)snprintf(cols + len, sizeof(cols) - len, ", QUOTE(t.`%s`)",
                                        row[0]);
        mysql_free_result(res);
        ck_assert_msg(len > 0 && len < sizeof(cols), "%s: no columns", table);
        snprintf(sql, sizeof(sql), "SELECT CONCAT(COUNT(*), ':', COALESCE(MD5(GROUP_CONCAT("
                 "CONCAT_WS(0x1f, m.child_entity_id%s) ORDER BY m.child_entity_id "
                 "SEPARATOR 0x1e)), '-')) FROM `mapping_master_%s` m LEFT JOIN `%s` t "
                 "ON t.id = m.master_entity_id WHERE m.entity_table = '%s'", cols,
                 prefix, table, table);
        ck_assert_msg(mysql_query(master, sql) == 0 && (res = mysql_store_result(master)),
                      "%s: %s", sql, mysql_error(master));
        row = mysql_fetch_row(res);
        snprintf(out, size, "%s", row && row[0] ? row[0] : "?");
        mysql_free_result(res);
}

void it_master_and_child(char *master, char *child, size_t size,
                         const char *child_args, const char *topic,
                         int partitions)
{
        char args[256];

        it_unique(master, size, "master");
        it_unique(child, size, "child");
        it_make_db(master, "--schema 5");
        snprintf(args, sizeof(args), "--schema 5 %s", child_args);
        it_make_db(child, args);
        if (topic)
                it_topic(topic, partitions);
}
