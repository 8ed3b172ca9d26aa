/* test_security.c — TLS to MariaDB, configuration refusals (socket+host, Kafka property typos, dead-letter topic), file modes, allow-list warning. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "db.h"
#include "harness.h"
#include "registry.h"

static const char *tls_dir(void)
{
        const char *d = getenv("CS_TEST_TLS_DIR");
        ck_assert_msg(d && *d, "CS_TEST_TLS_DIR unset: the harness server has "
                      "no TLS (openssl missing? see tests/lib/make-tls.sh)");
        return d;
}

/* The database group for the harness server over TCP 127.0.0.1, plus ssl. */
static void db_group(char *out, size_t size, const char *db, const char *ssl)
{
        snprintf(out, size, "{ host = \"127.0.0.1\"; port = %s; user = \"%s\";\n"
                 "  password = \"%s\"; database = \"%s\";\n  %s };\n",
                 getenv("CS_TEST_MYSQL_PORT"), getenv("CS_TEST_MYSQL_USER"),
                 getenv("CS_TEST_MYSQL_PASSWORD"), db, ssl ? ssl : "");
}

static char *producer_conf_tls(const char *prefix, const char *child, const char *ssl,
                               const char *tag)
{
        char text[4096], grp[2048], name[128];

        db_group(grp, sizeof(grp), child, ssl);
        snprintf(text, sizeof(text), "prefix = \"%s\";\nstate_dir = \"%s/state\";\n"
                 "child = %skafka = { brokers = \"%s\"; };\n", prefix, it_tmpdir(),
                 grp, it_brokers());
        snprintf(name, sizeof(name), "producer-tls-%s-%s.cfg", prefix, tag);
        return strdup(it_write_file(name, text));
}

static char *consumer_conf_tls(const char *master, const char *prefix, const char *ssl,
                               const char *tag)
{
        char text[4096], grp[2048], name[128];

        db_group(grp, sizeof(grp), master, ssl);
        snprintf(text, sizeof(text), "prefixes = [\"%s\"];\nmaster = %s"
                 "kafka = { brokers = \"%s\"; group = \"g_%s\";\n"
                 "  properties = ( (\"session.timeout.ms\", \"6000\") ); };\n",
                 prefix, grp, it_brokers(), master);
        snprintf(name, sizeof(name), "consumer-tls-%s-%s.cfg", master, tag);
        return strdup(it_write_file(name, text));
}

/* Connects with the master group of a consumer file holding ssl; returns
 * the connection (NULL on failure, errstr set). */
static MYSQL *connect_with(const char *db, const char *ssl, char *err, size_t size)
{
        char text[4096], grp[2048];
        cs_consumer_conf_t c;

        db_group(grp, sizeof(grp), db, ssl);
        snprintf(text, sizeof(text), "master = %s", grp);
        const char *p = it_write_file("tls-connect.cfg", text);
        ck_assert_msg(cs_conf_load_consumer(p, &c, err, size) == 0, "%s", err);
        MYSQL *m = cs_db_connect(&c.master, err, size);
        cs_conf_consumer_free(&c);
        return m;
}

/* The TLS cipher of the session ("" when plain). */
static void session_cipher(MYSQL *m, char *out, size_t size)
{
        out[0] = '\0';
        ck_assert_int_eq(mysql_query(m, "SHOW SESSION STATUS LIKE 'Ssl_cipher'"), 0);
        MYSQL_RES *res = mysql_store_result(m);
        MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
        if (row && row[1])
                snprintf(out, size, "%s", row[1]);
        mysql_free_result(res);
}

static long long ssl_accepts(void)
{
        MYSQL *m = it_connect("mysql");
        MYSQL_RES *res;
        MYSQL_ROW row;
        long long n = -1;

        ck_assert_int_eq(mysql_query(m, "SHOW GLOBAL STATUS LIKE 'Ssl_accepts'"), 0);
        res = mysql_store_result(m);
        if (res && (row = mysql_fetch_row(res)))
                n = atoll(row[1]);
        mysql_free_result(res);
        mysql_close(m);
        return n;
}

/* #12.5.6: the producer (child), the consumer (master) and verify (both)
 * connect over TLS with ssl_ca alone (verify_identity); with a wrong CA each
 * fails clearly. */
START_TEST(test_tls_programs)
{
        char master[64], child[64], prefix[40], topic[80], ssl[512], want[512];
        const char *d = tls_dir();
        it_run_t r;

        it_unique(prefix, sizeof(prefix), "tls");
        snprintf(topic, sizeof(topic), "civisync.%s", prefix);
        it_master_and_child(master, child, sizeof(master), "--child 31 --contacts 20",
                            topic, 1);
        snprintf(ssl, sizeof(ssl), "ssl_ca = \"%s/ca.pem\";", d);
        char *pconf = producer_conf_tls(prefix, child, ssl, "good");
        char *cconf = consumer_conf_tls(master, prefix, ssl, "good");

        long long before = ssl_accepts();
        r = it_run("civisync-produce", "-c", pconf, "--complete", NULL);
        ck_assert_msg(r.exit_code == 0, "produce exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);
        ck_assert_int_gt(ssl_accepts(), before);
        before = ssl_accepts();
        r = it_run("civisync-consume", "-c", cconf, "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "consume exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);
        ck_assert_int_gt(ssl_accepts(), before);
        before = ssl_accepts();
        r = it_run("civisync-verify", "--child-config", pconf, "--master-config",
                   cconf, NULL);
        ck_assert_msg(r.exit_code == 0, "verify exit %d: %s\n%s", r.exit_code, r.out,
                      r.err);
        it_run_free(&r);
        ck_assert_int_ge(ssl_accepts(), before + 2);
        MYSQL *m = it_connect(master), *c = it_connect(child);
        it_assert_synced(c, m, prefix);
        mysql_close(m);
        mysql_close(c);

        /* the wrong CA: every program fails and says why */
        snprintf(ssl, sizeof(ssl), "ssl_ca = \"%s/other-ca.pem\";", d);
        char *bad_p = producer_conf_tls(prefix, child, ssl, "bad");
        char *bad_c = consumer_conf_tls(master, prefix, ssl, "bad");
        snprintf(want, sizeof(want), "127.0.0.1:%s/%s (ssl_mode verify_identity, "
                 "ssl_ca %s/other-ca.pem): ", getenv("CS_TEST_MYSQL_PORT"), child, d);
        r = it_run("civisync-produce", "-c", bad_p, "--complete", NULL);
        ck_assert_msg(r.exit_code == 1 && strstr(r.err, want), "produce exit %d: %s",
                      r.exit_code, r.err);
        it_run_free(&r);
        snprintf(want, sizeof(want), "127.0.0.1:%s/%s (ssl_mode verify_identity, "
                 "ssl_ca %s/other-ca.pem): ", getenv("CS_TEST_MYSQL_PORT"), master, d);
        r = it_run("civisync-consume", "-c", bad_c, "--once", NULL);
        ck_assert_msg(r.exit_code == 1 && strstr(r.err, want), "consume exit %d: %s",
                      r.exit_code, r.err);
        it_run_free(&r);
        r = it_run("civisync-verify", "--child-config", pconf, "--master-config",
                   bad_c, NULL);
        ck_assert_msg(r.exit_code == 1 && strstr(r.err, want), "verify exit %d: %s",
                      r.exit_code, r.err);
        it_run_free(&r);
        free(pconf);
        free(cconf);
        free(bad_p);
        free(bad_c);
}
END_TEST

/* ssl_mode semantics, through cs_db_connect. */
START_TEST(test_tls_modes)
{
        char ssl[1024], err[1024], cipher[128], cmd[2048];
        const char *d = tls_dir();
        MYSQL *m;

        /* no ssl_*: plain */
        m = connect_with("mysql", NULL, err, sizeof(err));
        ck_assert_msg(m != NULL, "%s", err);
        session_cipher(m, cipher, sizeof(cipher));
        ck_assert_str_eq(cipher, "");
        mysql_close(m);

        /* required: encrypted, certificate not checked */
        m = connect_with("mysql", "ssl_mode = \"required\";", err, sizeof(err));
        ck_assert_msg(m != NULL, "%s", err);
        session_cipher(m, cipher, sizeof(cipher));
        ck_assert_str_ne(cipher, "");
        mysql_close(m);

        /* verify_ca and verify_identity with the right CA, and a client cert */
        snprintf(ssl, sizeof(ssl), "ssl_ca = \"%s/ca.pem\"; ssl_mode = \"verify_ca\";", d);
        m = connect_with("mysql", ssl, err, sizeof(err));
        ck_assert_msg(m != NULL, "%s", err);
        session_cipher(m, cipher, sizeof(cipher));
        ck_assert_str_ne(cipher, "");
        mysql_close(m);
        snprintf(ssl, sizeof(ssl), "ssl_ca = \"%s/ca.pem\"; ssl_cert = \"%s/client-cert.pem\";"
                 " ssl_key = \"%s/client-key.pem\";", d, d, d);
        m = connect_with("mysql", ssl, err, sizeof(err));
        ck_assert_msg(m != NULL, "%s", err);
        mysql_close(m);

        /* verify_ca with a CA that did not sign the server's certificate */
        snprintf(ssl, sizeof(ssl), "ssl_ca = \"%s/other-ca.pem\"; ssl_mode = \"verify_ca\";", d);
        m = connect_with("mysql", ssl, err, sizeof(err));
        ck_assert_msg(m == NULL, "connected with a wrong CA in verify_ca");
        ck_assert_msg(strstr(err, "(ssl_mode verify_ca, ssl_ca ") != NULL, "%s", err);

        /* A server certificate for another host: verify_identity refuses,
         * verify_ca (chain only) accepts. FLUSH SSL reloads the files. */
        snprintf(cmd, sizeof(cmd), "cd '%s' && cp server-cert.pem server-cert.pem.orig && "
                 "cp server-key.pem server-key.pem.orig && cp elsewhere-cert.pem "
                 "server-cert.pem && cp elsewhere-key.pem server-key.pem", d);
        ck_assert_int_eq(system(cmd), 0);
        MYSQL *admin = it_connect("mysql");
        it_exec(admin, "FLUSH SSL");
        snprintf(ssl, sizeof(ssl), "ssl_ca = \"%s/ca.pem\";", d);
        m = connect_with("mysql", ssl, err, sizeof(err));
        MYSQL *m2 = NULL;
        char err2[1024] = "";
        if (!m) {
                snprintf(ssl, sizeof(ssl), "ssl_ca = \"%s/ca.pem\"; ssl_mode = \"verify_ca\";", d);
                m2 = connect_with("mysql", ssl, err2, sizeof(err2));
        }
        snprintf(cmd, sizeof(cmd), "cd '%s' && mv server-cert.pem.orig server-cert.pem && "
                 "mv server-key.pem.orig server-key.pem", d);
        ck_assert_int_eq(system(cmd), 0);
        it_exec(admin, "FLUSH SSL");
        mysql_close(admin);
        ck_assert_msg(m == NULL, "verify_identity accepted a certificate for "
                      "db.elsewhere.invalid at 127.0.0.1");
        ck_assert_msg(strstr(err, "(ssl_mode verify_identity, ssl_ca ") != NULL, "%s", err);
        ck_assert_msg(m2 != NULL, "verify_ca refused the right CA: %s", err2);
        mysql_close(m2);
}
END_TEST

/* #13.6: socket and a TCP host together are refused (exit 2, file:line)
 * instead of syncing through the socket. */
START_TEST(test_socket_with_host_refused)
{
        char text[2048], want[256];
        it_run_t r;

        snprintf(text, sizeof(text), "prefix = \"SH\";\nstate_dir = \"%s/state\";\n"
                 "child = { host = \"127.0.0.1\"; port = 9;\n"
                 "  socket = \"%s\";\n  user = \"u\"; database = \"d\"; };\n"
                 "kafka = { brokers = \"%s\"; };\n", it_tmpdir(),
                 getenv("CS_TEST_MYSQL_SOCKET"), it_brokers());
        const char *p = it_write_file("socket-host.cfg", text);
        snprintf(want, sizeof(want), "%s:4 - 'child.socket' and 'child.host' = "
                 "\"127.0.0.1\" both set", p);
        r = it_run("civisync-produce", "-c", p, "--dry-run", NULL);
        ck_assert_msg(r.exit_code == 2 && strstr(r.err, want), "exit %d: %s",
                      r.exit_code, r.err);
        it_run_free(&r);
}
END_TEST

/* #13.6: a mistyped librdkafka property is a configuration error (exit 2,
 * file:line) in every program, --status included. */
START_TEST(test_kafka_property_typo_exit_2)
{
        char want[512];
        it_run_t r;
        char text[2048], *pconf;
        snprintf(text, sizeof(text), "prefix = \"TY\";\nstate_dir = \"%s/state\";\n"
                 "child = { socket = \"%s\"; user = \"u\"; database = \"d\"; };\n"
                 "kafka = { brokers = \"%s\"; properties = (\n"
                 "  (\"linger.mss\", \"5\") ); };\n", it_tmpdir(),
                 getenv("CS_TEST_MYSQL_SOCKET"), it_brokers());
        pconf = strdup(it_write_file("typo-producer.cfg", text));
        snprintf(text, sizeof(text), "master = { socket = \"%s\"; user = \"u\"; "
                 "database = \"d\"; };\n"
                 "kafka = { brokers = \"%s\"; properties = (\n"
                 "  (\"linger.mss\", \"5\") ); };\n",
                 getenv("CS_TEST_MYSQL_SOCKET"), it_brokers());
        char *cconf = strdup(it_write_file("typo-consumer.cfg", text));

        snprintf(want, sizeof(want), "%s:5 - kafka property 'linger.mss': No such "
                 "configuration property", pconf);
        r = it_run("civisync-produce", "-c", pconf, NULL);
        ck_assert_msg(r.exit_code == 2 && strstr(r.err, want), "produce exit %d: %s",
                      r.exit_code, r.err);
        it_run_free(&r);
        r = it_run("civisync-topics", "-c", pconf, "list", NULL);
        ck_assert_msg(r.exit_code == 2 && strstr(r.err, want), "topics exit %d: %s",
                      r.exit_code, r.err);
        it_run_free(&r);

        snprintf(want, sizeof(want), "%s:3 - kafka property 'linger.mss': No such "
                 "configuration property", cconf);
        r = it_run("civisync-consume", "-c", cconf, "--once", NULL);
        ck_assert_msg(r.exit_code == 2 && strstr(r.err, want), "consume exit %d: %s",
                      r.exit_code, r.err);
        it_run_free(&r);
        r = it_run("civisync-consume", "-c", cconf, "--status", NULL);
        ck_assert_msg(r.exit_code == 2 && strstr(r.err, want), "status exit %d: %s",
                      r.exit_code, r.err);
        it_run_free(&r);
        r = it_run("civisync-verify", "--child-config", pconf, "--master-config",
                   cconf, NULL);
        ck_assert_msg(r.exit_code == 2 && strstr(r.err, "kafka property 'linger.mss'"),
                      "verify exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);

        /* the same typo with -X */
        const char *good = it_consumer_conf("nodb", NULL);
        r = it_run("civisync-consume", "-c", good, "--status", "-X",
                   "fetch.wait.max.mss=5", NULL);
        ck_assert_msg(r.exit_code == 2 && strstr(r.err, "-X fetch.wait.max.mss=...: "
                                                 "No such configuration property"),
                      "-X exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);
        free(pconf);
        free(cconf);
}
END_TEST

/* #12.5.7: a dead-letter topic inside the subscription is refused; an
 * empty allow-list warns at start-up, a listed one does not. */
START_TEST(test_trust_model)
{
        char master[64], child[64], prefix[40], topic[80], extra[256];
        it_run_t r;

        char text[2048];
        snprintf(text, sizeof(text), "master = { socket = \"%s\"; user = \"u\"; "
                 "database = \"d\"; };\nkafka = { brokers = \"%s\";\n"
                 "  dead_letter_topic = \"civisync.deadletters\"; };\n",
                 getenv("CS_TEST_MYSQL_SOCKET"), it_brokers());
        const char *p = it_write_file("dlq-inside.cfg", text);
        char want[512];
        snprintf(want, sizeof(want), "%s:3 - 'kafka.dead_letter_topic' "
                 "\"civisync.deadletters\" is topic_prefix \"civisync.\" + a valid "
                 "prefix", p);
        r = it_run("civisync-consume", "-c", p, "--once", NULL);
        ck_assert_msg(r.exit_code == 2 && strstr(r.err, want), "exit %d: %s",
                      r.exit_code, r.err);
        it_run_free(&r);

        it_unique(prefix, sizeof(prefix), "trust");
        snprintf(topic, sizeof(topic), "civisync.%s", prefix);
        it_master_and_child(master, child, sizeof(master), "--child 32 --contacts 20",
                            topic, 1);
        char *pconf = strdup(it_producer_conf(prefix, child, NULL));
        r = it_run("civisync-produce", "-c", pconf, "--complete", NULL);
        ck_assert_msg(r.exit_code == 0, "produce exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);

        snprintf(extra, sizeof(extra), "prefixes = [\"%s\"];", prefix);
        char *listed = strdup(it_consumer_conf(master, extra));
        r = it_run("civisync-consume", "-c", listed, "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "consume exit %d: %s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.err, "accepts every topic") == NULL, "%s", r.err);
        it_run_free(&r);

        char *open_list = strdup(it_consumer_conf(master, "prefixes = [];"));
        r = it_run("civisync-consume", "-c", open_list, "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "consume exit %d: %s", r.exit_code, r.err);
        snprintf(want, sizeof(want), "WARN: %s: prefixes = [] accepts every topic "
                 "civisync.<PREFIX>", open_list);
        ck_assert_msg(strstr(r.err, want) != NULL, "%s", r.err);
        it_run_free(&r);
        free(pconf);
        free(listed);
        free(open_list);
}
END_TEST

/* #12.5.8: --output (all of a child's personal data) is created 0600
 * whatever the umask. */
START_TEST(test_output_file_mode)
{
        char master[64], child[64], prefix[40], out[512];
        struct stat st;
        it_run_t r;

        it_unique(prefix, sizeof(prefix), "outm");
        it_master_and_child(master, child, sizeof(master), "--child 33 --contacts 20",
                            NULL, 0);
        char *pconf = strdup(it_producer_conf(prefix, child, NULL));
        snprintf(out, sizeof(out), "%s/%s.ndjson", it_tmpdir(), prefix);
        mode_t old = umask(022);
        r = it_run("civisync-produce", "-c", pconf, "--complete", "--output", out, NULL);
        umask(old);
        ck_assert_msg(r.exit_code == 0, "produce exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);
        ck_assert_int_eq(stat(out, &st), 0);
        ck_assert_int_gt(st.st_size, 0);
        ck_assert_msg((st.st_mode & 0777) == 0600, "mode %o", (unsigned)(st.st_mode & 0777));

        /* contact.hash (the per-contact secret of CiviCRM's checksum links)
         * never leaves the child, api_key neither */
        FILE *fp = fopen(out, "r");
        ck_assert_ptr_nonnull(fp);
        char *text = calloc(1, (size_t)st.st_size + 1);
        ck_assert_int_eq(fread(text, 1, (size_t)st.st_size, fp), (size_t)st.st_size);
        fclose(fp);
        ck_assert_ptr_nonnull(strstr(text, "\"civisync_entity\":\"contact\""));
        ck_assert_ptr_nonnull(strstr(text, "\"first_name\":"));
        ck_assert_msg(strstr(text, "\"hash\":") == NULL, "contact.hash left the child");
        ck_assert_ptr_null(strstr(text, "\"api_key\":"));
        free(text);
        free(pconf);
}
END_TEST

/* Replaces every occurrence of from in *text by to (new malloc'd string). */
static char *replace_all(char *text, const char *from, const char *to)
{
        size_t fl = strlen(from), tl = strlen(to), n = 0;
        for (const char *p = text; (p = strstr(p, from)); p += fl)
                n++;
        char *out = malloc(strlen(text) + n * (tl + 1) + 1), *o = out;
        const char *p = text, *q;
        while ((q = strstr(p, from))) {
                memcpy(o, p, (size_t)(q - p));
                o += q - p;
                memcpy(o, to, tl);
                o += tl;
                p = q + fl;
        }
        strcpy(o, p);
        free(text);
        return out;
}

/* #12.5.10: conf/master-grants.sql.example, run as it is, gives the consumer
 * all it needs (complete sync, incremental update and delete, verify) while
 * it can write only the synced tables and its own. */
START_TEST(test_master_table_grants)
{
        char master[64], child[64], prefix[40], topic[80], writer[48], text[2048];
        char user[128], want[128];
        it_run_t r;

        it_unique(prefix, sizeof(prefix), "tg");
        it_unique(writer, sizeof(writer), "tw");
        snprintf(topic, sizeof(topic), "civisync.%s", prefix);
        it_master_and_child(master, child, sizeof(master), "--child 34 --contacts 40",
                            topic, 1);

        FILE *fp = fopen("conf/master-grants.sql.example", "r");
        ck_assert_ptr_nonnull(fp);
        char *sql = calloc(1, 65536);
        size_t n = fread(sql, 1, 65535, fp);
        fclose(fp);
        sql[n] = '\0';
        snprintf(text, sizeof(text), "`%s`", master);
        sql = replace_all(sql, "`civicrm`", text);
        snprintf(user, sizeof(user), "'%s'@'localhost'", writer);
        sql = replace_all(sql, "'civisync_writer'@'master-host'", user);
        snprintf(text, sizeof(text), "mapping_master_%s", prefix);
        sql = replace_all(sql, "mapping_master_P1", text);

        /* its written tables are exactly the registry's data tables (split
         * ones included), and the metadata-only tables are granted INSERT
         * alone */
        {
                size_t count = 0, written = 0, meta = 0, listed = 0, granted = 0;
                const cs_table_rule_t *all = cs_reg_tables(&count);
                for (size_t i = 0; i < count; i++) {
                        int split = cs_reg_meta_row_filter(all[i].table) != NULL;
                        if (all[i].cls == CS_TCLASS_SYNCED || split) {
                                snprintf(text, sizeof(text), "GRANT INSERT, UPDATE, "
                                         "DELETE ON `%s`.`%s` ", master, all[i].table);
                                ck_assert_msg(strstr(sql, text) != NULL, "no write "
                                              "grant for %s", all[i].table);
                                written++;
                        } else if (all[i].cls == CS_TCLASS_METADATA) {
                                snprintf(text, sizeof(text), "GRANT INSERT ON `%s`.`%s` ",
                                         master, all[i].table);
                                ck_assert_msg(strstr(sql, text) != NULL, "no INSERT "
                                              "grant for %s", all[i].table);
                                meta++;
                        }
                }
                for (const char *p = sql; (p = strstr(p, "GRANT INSERT, UPDATE, DELETE ON")); p++)
                        listed++;
                for (const char *p = sql; (p = strstr(p, "GRANT INSERT ON")); p++)
                        granted++;
                ck_assert_uint_eq(listed, written);
                ck_assert_uint_eq(granted, meta);
                ck_assert_uint_ge(written, 60);
        }

        MYSQL *root = it_connect(master);
        char *save = NULL;
        for (char *stmt = strtok_r(sql, ";", &save); stmt; stmt = strtok_r(NULL, ";", &save)) {
                char clean[4096] = "";
                size_t used = 0;
                /* drop comment lines */
                for (char *line = stmt; line && *line;) {
                        char *eol = strchr(line, '\n');
                        size_t len = eol ? (size_t)(eol - line) : strlen(line);
                        const char *t = line;
                        while (t < line + len && (*t == ' ' || *t == '\t'))
                                t++;
                        if (!(t + 1 < line + len && t[0] == '-' && t[1] == '-') &&
                            used + len + 2 < sizeof(clean)) {
                                memcpy(clean + used, line, len);
                                used += len;
                                clean[used++] = ' ';
                                clean[used] = '\0';
                        }
                        line = eol ? eol + 1 : NULL;
                }
                const char *t = clean;
                while (*t == ' ')
                        t++;
                /* grants on CiviCRM tables (OPERATIONS.md §2) the phase-1
                 * test master lacks (phase 3, most metadata) are left out */
                if (!strncmp(t, "GRANT INSERT", 12)) {
                        char tbl[80] = "";
                        const char *dot = strstr(t, "`.`");
                        if (dot)
                                sscanf(dot + 3, "%79[a-z_]", tbl);
                        if (!strncmp(t, "GRANT INSERT ON ", 16))
                                ck_assert_int_eq(cs_reg_table_class(tbl),
                                                 CS_TCLASS_METADATA);
                        if (!strncmp(tbl, "civicrm_", 8) &&
                            !it_int(root, "SELECT COUNT(*) FROM information_schema."
                                    "TABLES WHERE TABLE_SCHEMA = DATABASE() AND "
                                    "TABLE_NAME = '%s'", tbl))
                                continue;
                }
                if (*t)
                        it_exec(root, "%s", clean);
        }
        free(sql);
        ck_assert_int_eq(it_int(root, "SELECT COUNT(*) FROM information_schema.SCHEMA_PRIVILEGES "
                                "WHERE GRANTEE = \"'%s'@'localhost'\" AND PRIVILEGE_TYPE <> 'SELECT'",
                                writer), 0);

        char *pconf = strdup(it_producer_conf(prefix, child, NULL));
        snprintf(text, sizeof(text),
                 "prefixes = [\"%s\"];\n"
                 "master = { socket = \"%s\"; user = \"%s\"; password = \"change-me\"; "
                 "database = \"%s\"; };\nkafka = { brokers = \"%s\"; group = \"g_%s\";\n"
                 "  properties = ( (\"session.timeout.ms\", \"6000\") ); };\n",
                 prefix, getenv("CS_TEST_MYSQL_SOCKET"), writer, master, it_brokers(), master);
        char *cconf = strdup(it_write_file("table-grants-consumer.cfg", text));
        r = it_run("civisync-produce", "-c", pconf, "--complete", NULL);
        ck_assert_msg(r.exit_code == 0, "produce exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);
        r = it_run("civisync-consume", "-c", cconf, "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "consume exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);

        /* an update and a delete (restrict checks, cascades) */
        it_exec(root, "UPDATE `%s`.civicrm_contact SET nick_name = 'Changed' "
                "WHERE id = (SELECT MAX(id) FROM `%s`.civicrm_contact)", child, child);
        /* (a contact without notes or tags: a raw delete would orphan those) */
        it_exec(root, "DELETE FROM `%s`.civicrm_contact WHERE id = (SELECT id FROM "
                "(SELECT MIN(c.id) AS id FROM `%s`.civicrm_contact c WHERE "
                "c.contact_type = 'Individual' AND NOT EXISTS (SELECT 1 FROM "
                "`%s`.civicrm_note n WHERE n.entity_table = 'civicrm_contact' AND "
                "n.entity_id = c.id) AND NOT EXISTS (SELECT 1 FROM `%s`.civicrm_entity_tag t "
                "WHERE t.entity_table = 'civicrm_contact' AND t.entity_id = c.id)) x)",
                child, child, child, child);
        ck_assert_int_eq(mysql_affected_rows(root), 1);
        r = it_run("civisync-produce", "-c", pconf, NULL);
        ck_assert_msg(r.exit_code == 0, "incremental exit %d: %s", r.exit_code, r.err);
        it_run_free(&r);
        r = it_run("civisync-consume", "-c", cconf, "--once", NULL);
        ck_assert_msg(r.exit_code == 0, "consume exit %d: %s", r.exit_code, r.err);
        ck_assert_msg(strstr(r.out, " 0 rejected") != NULL, "%s", r.out);
        it_run_free(&r);
        r = it_run("civisync-verify", "--child-config", pconf, "--master-config",
                   cconf, NULL);
        snprintf(want, sizeof(want), "verify %s: 0 differences", prefix);
        ck_assert_msg(r.exit_code == 0 && strstr(r.out, want), "verify exit %d\n%.3000s\n%.3000s",
                      r.exit_code, r.out, r.err);
        it_run_free(&r);
        it_exec(root, "DROP USER '%s'@'localhost'", writer);
        mysql_close(root);
        free(pconf);
        free(cconf);
}
END_TEST

Suite *security_suite(void)
{
        Suite *s = suite_create("security");
        const struct { const char *name; const TTest *test; } cases[] = {
                { "tls_programs", test_tls_programs },
                { "tls_modes", test_tls_modes },
                { "socket_with_host_refused", test_socket_with_host_refused },
                { "kafka_property_typo", test_kafka_property_typo_exit_2 },
                { "trust_model", test_trust_model },
                { "output_file_mode", test_output_file_mode },
                { "master_table_grants", test_master_table_grants },
        };

        /* one case per test: CK_RUN_CASE=NAME runs one */
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                TCase *tc = tcase_create(cases[i].name);
                tcase_set_timeout(tc, 300);
                tcase_add_test(tc, cases[i].test);
                suite_add_tcase(s, tc);
        }
        return s;
}
