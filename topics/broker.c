/* broker.c — civisync-broker: librdkafka's in-memory mock Kafka cluster as a test process. */
/*
 * Limits, stated plainly: this is librdkafka 2.0.2's *mock* cluster, meant for
 * tests and demos only, never for production.
 *  - Memory only: everything is lost when the process exits.
 *  - Each partition keeps only its most recent ~5 MB (and at most 100000
 *    message sets); older messages are silently dropped from the log.
 *  - No CreateTopics admin API: create topics with --topic NAME[:PARTITIONS]
 *    (or the "topic" control command). Measured with 2.0.2: a metadata
 *    request naming an unknown topic (a producer producing to it, or a
 *    consumer subscribing to it) auto-creates it with 4 partitions.
 *  - Consumer groups with committed offsets work (offsets live in memory).
 *    The first join of a new group takes ~3 s; a member joining a group that
 *    was used before waits session.timeout.ms - 1 s (44 s with librdkafka's
 *    default 45000), so tests should set session.timeout.ms=6000.
 *  - Real Kafka protocol on 127.0.0.1, one ephemeral port per broker, no TLS/SASL.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "cli.h"
#include "log.h"

#define PROGRAM          "civisync-broker"
#define API_KEY_PRODUCE  0
#define MAX_PARTITIONS   1000
#define MAX_BROKERS      32

enum { OPT_BROKER_COUNT = 1000, OPT_TOPIC, OPT_BOOTSTRAP_FILE, OPT_CONTROL };

static const char usage[] =
"Usage: " PROGRAM " [options]\n"
"Runs librdkafka's in-memory mock Kafka cluster on 127.0.0.1 and prints its\n"
"bootstrap address (host:port,...) as the only line on stdout. Runs until\n"
"SIGINT or SIGTERM. For tests and demos only, NOT for production.\n"
"\n"
"Options:\n"
"  --broker-count N, --brokers N   number of mock brokers, ids 1..N (default 1)\n"
"  --topic NAME[:PARTITIONS]       pre-create a topic (default 1 partition;\n"
"                                  replication factor min(3, N)); repeatable\n"
"  --bootstrap-file FILE           also write the bootstrap address to FILE\n"
"                                  (atomically: temp file + rename; removed on\n"
"                                  exit if still ours)\n"
"  --control FILE                  read line commands from FILE while running;\n"
"                                  created as a FIFO if it does not exist\n"
"  -X name=value                   librdkafka property for the hosting client\n"
"  -v, --verbose / -q, --quiet     more / less logging on stderr\n"
"  -h, --help / -V, --version\n"
"\n"
"Control commands (one per line):\n"
"  broker-down ID | broker-up ID   disconnect / reconnect broker ID (-1 = all);\n"
"                                  does not move partition leadership\n"
"  produce-errors COUNT ERRNAME    the next COUNT Produce requests fail with\n"
"                                  ERRNAME, e.g. NOT_ENOUGH_REPLICAS or a number\n"
"  clear-errors                    drop queued Produce errors\n"
"  rtt MS                          every broker answers every request after MS\n"
"                                  milliseconds (0 = at once again)\n"
"  topic NAME[:PARTITIONS]         create a topic\n"
"\n"
"Limits: memory only; each partition keeps only about its newest 5 MB (older\n"
"messages are dropped); no CreateTopics API. A metadata request naming an\n"
"unknown topic (producing to it, or subscribing to it) auto-creates it with 4\n"
"partitions. Consumer groups and committed offsets work, in memory; the first\n"
"join of a new group takes ~3 s, a rejoin of a used group waits\n"
"session.timeout.ms - 1 s (use session.timeout.ms=6000 in tests).\n";

typedef struct topic_spec_s {
        char *name;
        int partitions;
} topic_spec_t;

typedef struct broker_opts_s {
        int broker_cnt;
        topic_spec_t *topics;
        size_t topic_cnt;
        const char *bootstrap_file;
        const char *control;
} broker_opts_t;

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
        (void)sig;
        stop_requested = 1;
}

/* Parses "NAME[:PARTITIONS]"; name must be a legal Kafka topic name. */
static int parse_topic(const char *arg, topic_spec_t *out, char *errstr,
                       size_t errstr_size)
{
        const char *colon = strrchr(arg, ':');
        size_t len = colon ? (size_t)(colon - arg) : strlen(arg);
        long parts = 1;

        if (len == 0 || len > 249) {
                snprintf(errstr, errstr_size, "topic '%s': bad name length", arg);
                return -1;
        }
        for (size_t i = 0; i < len; i++) {
                char c = arg[i];
                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) {
                        snprintf(errstr, errstr_size,
                                 "topic '%s': only A-Z a-z 0-9 . _ - allowed", arg);
                        return -1;
                }
        }
        if (colon) {
                char *end;
                errno = 0;
                parts = strtol(colon + 1, &end, 10);
                if (errno || end == colon + 1 || *end || parts < 1 ||
                    parts > MAX_PARTITIONS) {
                        snprintf(errstr, errstr_size,
                                 "topic '%s': partitions must be 1..%d", arg,
                                 MAX_PARTITIONS);
                        return -1;
                }
        }
        out->name = strndup(arg, len);
        if (!out->name) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        out->partitions = (int)parts;
        return 0;
}

static int parse_int(const char *s, long min, long max, long *out)
{
        char *end;

        errno = 0;
        long v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < min || v > max)
                return -1;
        *out = v;
        return 0;
}

static int on_option(int opt, const char *arg, void *opaque, char *errstr,
                     size_t errstr_size)
{
        broker_opts_t *o = opaque;
        long v;

        switch (opt) {
        case OPT_BROKER_COUNT:
                if (parse_int(arg, 1, MAX_BROKERS, &v) < 0) {
                        snprintf(errstr, errstr_size,
                                 "--broker-count must be 1..%d", MAX_BROKERS);
                        return -1;
                }
                o->broker_cnt = (int)v;
                return 0;
        case OPT_TOPIC: {
                topic_spec_t *nt = realloc(o->topics,
                                           (o->topic_cnt + 1) * sizeof(*nt));
                if (!nt) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return -1;
                }
                o->topics = nt;
                if (parse_topic(arg, &o->topics[o->topic_cnt], errstr,
                                errstr_size) < 0)
                        return -1;
                o->topic_cnt++;
                return 0;
        }
        case OPT_BOOTSTRAP_FILE:
                o->bootstrap_file = arg;
                return 0;
        case OPT_CONTROL:
                o->control = arg;
                return 0;
        default:
                snprintf(errstr, errstr_size, "unknown option");
                return -1;
        }
}

/* The hosting client never connects anywhere; drop its "no bootstrap.servers"
 * warning, pass everything else to cs_log_rdkafka. */
static void broker_log_cb(const rd_kafka_t *rk, int level, const char *fac,
                          const char *buf)
{
        if (fac && strcmp(fac, "CONFWARN") == 0 && buf &&
            strstr(buf, "bootstrap.servers"))
                return;
        cs_log_rdkafka(rk, level, fac, buf);
}

static int create_topic(rd_kafka_mock_cluster_t *mc, int broker_cnt,
                        const topic_spec_t *t)
{
        int rf = broker_cnt < 3 ? broker_cnt : 3;
        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mc, t->name,
                                                             t->partitions, rf);
        if (err) {
                cs_error("cannot create topic %s: %s", t->name,
                         rd_kafka_err2str(err));
                return -1;
        }
        cs_info("created topic %s with %d partition(s), replication factor %d",
                t->name, t->partitions, rf);
        return 0;
}

/* Removes path only if it is still the file we created (same inode), so a
 * successor process that reuses the path keeps its file. */
static void unlink_if_ours(const char *path, const struct stat *ours)
{
        struct stat st;

        if (stat(path, &st) == 0 && st.st_dev == ours->st_dev &&
            st.st_ino == ours->st_ino)
                unlink(path);
}

/* Writes "addr\n" to path via a temp file and rename(2). */
static int write_bootstrap_file(const char *path, const char *addr)
{
        char tmp[4096];
        int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());

        if (n < 0 || (size_t)n >= sizeof(tmp)) {
                cs_error("bootstrap file name too long: %s", path);
                return -1;
        }
        FILE *fp = fopen(tmp, "w");
        if (!fp) {
                cs_error("cannot create %s: %s", tmp, strerror(errno));
                return -1;
        }
        int ok = fprintf(fp, "%s\n", addr) >= 0;
        ok = (fflush(fp) == 0) && ok;
        ok = (fsync(fileno(fp)) == 0) && ok;
        ok = (fclose(fp) == 0) && ok;
        if (!ok || rename(tmp, path) != 0) {
                cs_error("cannot write %s: %s", path, strerror(errno));
                unlink(tmp);
                return -1;
        }
        return 0;
}

/* Maps "NOT_ENOUGH_REPLICAS", "RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS",
 * "_TRANSPORT" or a number to an error code. */
static int err_by_name(const char *name, rd_kafka_resp_err_t *out)
{
        const struct rd_kafka_err_desc *descs;
        size_t cnt;
        long v;

        if (parse_int(name, -200, 10000, &v) == 0) {
                *out = (rd_kafka_resp_err_t)v;
                return 0;
        }
        if (strncmp(name, "RD_KAFKA_RESP_ERR_", 18) == 0)
                name += 18;
        rd_kafka_get_err_descs(&descs, &cnt);
        for (size_t i = 0; i < cnt; i++) {
                if (descs[i].name && strcasecmp(descs[i].name, name) == 0) {
                        *out = descs[i].code;
                        return 0;
                }
        }
        return -1;
}

static void run_command(rd_kafka_mock_cluster_t *mc, int broker_cnt,
                        char *line)
{
        char *save = NULL;
        char *cmd = strtok_r(line, " \t\r", &save);
        char *a1 = cmd ? strtok_r(NULL, " \t\r", &save) : NULL;
        char *a2 = a1 ? strtok_r(NULL, " \t\r", &save) : NULL;
        char *extra = a2 ? strtok_r(NULL, " \t\r", &save) : NULL;
        long v;

        if (!cmd || cmd[0] == '#')
                return;
        if ((strcmp(cmd, "broker-down") == 0 || strcmp(cmd, "broker-up") == 0) &&
            a1 && !a2) {
                int down = cmd[7] == 'd';
                if (parse_int(a1, -1, MAX_BROKERS, &v) < 0) {
                        cs_error("control: %s: bad broker id '%s'", cmd, a1);
                        return;
                }
                rd_kafka_resp_err_t err =
                        down ? rd_kafka_mock_broker_set_down(mc, (int32_t)v)
                             : rd_kafka_mock_broker_set_up(mc, (int32_t)v);
                if (err)
                        cs_error("control: %s %ld failed: %s", cmd, v,
                                 rd_kafka_err2str(err));
                else
                        cs_info("control: broker %ld is %s", v,
                                down ? "down (connections refused)" : "up");
        } else if (strcmp(cmd, "produce-errors") == 0 && a1 && a2 && !extra) {
                rd_kafka_resp_err_t code;
                if (parse_int(a1, 1, 100000, &v) < 0) {
                        cs_error("control: produce-errors: bad count '%s'", a1);
                        return;
                }
                if (err_by_name(a2, &code) < 0) {
                        cs_error("control: produce-errors: unknown error '%s'", a2);
                        return;
                }
                rd_kafka_resp_err_t *errs = malloc((size_t)v * sizeof(*errs));
                if (!errs) {
                        cs_error("control: out of memory");
                        return;
                }
                for (long i = 0; i < v; i++)
                        errs[i] = code;
                rd_kafka_mock_push_request_errors_array(mc, API_KEY_PRODUCE,
                                                        (size_t)v, errs);
                free(errs);
                cs_info("control: next %ld Produce request(s) fail with %s (%d)",
                        v, rd_kafka_err2name(code), (int)code);
        } else if (strcmp(cmd, "rtt") == 0 && a1 && !a2) {
                if (parse_int(a1, 0, 60000, &v) < 0) {
                        cs_error("control: rtt: bad delay '%s' (0-60000 ms)", a1);
                        return;
                }
                for (int32_t id = 1; id <= broker_cnt; id++) {
                        rd_kafka_resp_err_t err =
                                rd_kafka_mock_broker_set_rtt(mc, id, (int)v);
                        if (err) {
                                cs_error("control: rtt %ld on broker %d failed: %s",
                                         v, (int)id, rd_kafka_err2str(err));
                                return;
                        }
                }
                cs_info("control: every broker answers after %ld ms", v);
        } else if (strcmp(cmd, "clear-errors") == 0 && !a1) {
                rd_kafka_mock_clear_request_errors(mc, API_KEY_PRODUCE);
                cs_info("control: cleared queued Produce errors");
        } else if (strcmp(cmd, "topic") == 0 && a1 && !a2) {
                topic_spec_t t;
                char err[256];
                if (parse_topic(a1, &t, err, sizeof(err)) < 0) {
                        cs_error("control: %s", err);
                        return;
                }
                create_topic(mc, broker_cnt, &t);
                free(t.name);
        } else {
                cs_error("control: unknown or malformed command '%s' "
                         "(broker-down ID, broker-up ID, produce-errors COUNT "
                         "ERRNAME, clear-errors, rtt MS, topic NAME[:PARTITIONS])", cmd);
        }
}

/* Reads whatever is available on the control fd and runs complete lines. */
static void poll_control(int fd, rd_kafka_mock_cluster_t *mc, int broker_cnt,
                         char *buf, size_t size, size_t *used)
{
        for (;;) {
                ssize_t n = read(fd, buf + *used, size - 1 - *used);
                if (n <= 0)
                        return; /* EAGAIN, no writer (FIFO) or end of file */
                *used += (size_t)n;
                buf[*used] = '\0';
                char *start = buf, *nl;
                while ((nl = strchr(start, '\n')) != NULL) {
                        *nl = '\0';
                        run_command(mc, broker_cnt, start);
                        start = nl + 1;
                }
                *used = strlen(start);
                memmove(buf, start, *used + 1);
                if (*used == size - 1) {
                        cs_error("control: line too long, discarded");
                        *used = 0;
                }
        }
}

int main(int argc, char **argv)
{
        broker_opts_t o = {.broker_cnt = 1};
        cs_cli_t cli;
        char errstr[512];
        int first_arg = 0;
        int rc = CS_EXIT_FAILURE;
        int control_fd = -1, made_fifo = 0, wrote_file = 0;
        struct stat fifo_st, boot_st;
        rd_kafka_t *rk = NULL;
        rd_kafka_mock_cluster_t *mc = NULL;
        static const struct option longopts[] = {
                {"broker-count", required_argument, NULL, OPT_BROKER_COUNT},
                {"brokers", required_argument, NULL, OPT_BROKER_COUNT},
                {"topic", required_argument, NULL, OPT_TOPIC},
                {"bootstrap-file", required_argument, NULL, OPT_BOOTSTRAP_FILE},
                {"control", required_argument, NULL, OPT_CONTROL},
                {NULL, 0, NULL, 0},
        };

        cs_log_init(PROGRAM);
        int prc = cs_cli_parse(&cli, argc, argv, PROGRAM, usage, "", longopts,
                               on_option, &o, &first_arg, errstr, sizeof(errstr));
        if (prc == 0 && first_arg < argc) {
                snprintf(errstr, sizeof(errstr),
                         PROGRAM ": unexpected argument '%s' (see " PROGRAM " --help)",
                         argv[first_arg]);
                prc = -1;
        }
        if (prc == 0 && cli.brokers) {
                snprintf(errstr, sizeof(errstr),
                         PROGRAM ": -b is not used here; did you mean "
                         "--broker-count N? (see " PROGRAM " --help)");
                prc = -1;
        }
        if (prc != 0) {
                if (prc < 0)
                        fprintf(stderr, "%s\n", errstr);
                rc = prc < 0 ? CS_EXIT_USAGE : CS_EXIT_OK;
                goto out;
        }

        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);

        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        rd_kafka_conf_set_log_cb(kc, broker_log_cb);
        for (int i = 0; i < cli.x_prop_cnt; i++) {
                char name[256], kerr[512];
                const char *eq = strchr(cli.x_props[i], '=');
                snprintf(name, sizeof(name), "%.*s", (int)(eq - cli.x_props[i]),
                         cli.x_props[i]);
                if (rd_kafka_conf_set(kc, name, eq + 1, kerr, sizeof(kerr)) !=
                    RD_KAFKA_CONF_OK) {
                        fprintf(stderr, PROGRAM ": kafka property '%s': %s\n",
                                name, kerr);
                        rd_kafka_conf_destroy(kc);
                        rc = CS_EXIT_USAGE;
                        goto out;
                }
        }
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr));
        if (!rk) {
                cs_error("rd_kafka_new: %s", errstr);
                rd_kafka_conf_destroy(kc);
                goto out;
        }
        mc = rd_kafka_mock_cluster_new(rk, o.broker_cnt);
        if (!mc) {
                cs_error("cannot create the mock cluster");
                goto out;
        }
        for (size_t i = 0; i < o.topic_cnt; i++)
                if (create_topic(mc, o.broker_cnt, &o.topics[i]) < 0)
                        goto out;

        if (o.control) {
                struct stat st;
                if (stat(o.control, &st) != 0) {
                        if (mkfifo(o.control, 0600) != 0) {
                                cs_error("cannot create FIFO %s: %s", o.control,
                                         strerror(errno));
                                goto out;
                        }
                        made_fifo = stat(o.control, &fifo_st) == 0;
                }
                control_fd = open(o.control, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
                if (control_fd < 0) {
                        cs_error("cannot open control %s: %s", o.control,
                                 strerror(errno));
                        goto out;
                }
        }

        const char *bootstraps = rd_kafka_mock_cluster_bootstraps(mc);
        if (o.bootstrap_file) {
                if (write_bootstrap_file(o.bootstrap_file, bootstraps) < 0)
                        goto out;
                wrote_file = stat(o.bootstrap_file, &boot_st) == 0;
        }
        printf("%s\n", bootstraps);
        fflush(stdout);
        cs_info("mock cluster with %d broker(s) listening on %s", o.broker_cnt,
                bootstraps);

        char line[4096];
        size_t used = 0;
        while (!stop_requested) {
                if (control_fd >= 0)
                        poll_control(control_fd, mc, o.broker_cnt, line,
                                     sizeof(line), &used);
                rd_kafka_poll(rk, 100);
        }
        cs_info("signal received, shutting down");
        rc = CS_EXIT_OK;

out:
        if (mc)
                rd_kafka_mock_cluster_destroy(mc);
        if (rk)
                rd_kafka_destroy(rk);
        if (control_fd >= 0)
                close(control_fd);
        if (made_fifo)
                unlink_if_ours(o.control, &fifo_st);
        if (wrote_file)
                unlink_if_ours(o.bootstrap_file, &boot_st);
        for (size_t i = 0; i < o.topic_cnt; i++)
                free(o.topics[i].name);
        free(o.topics);
        cs_cli_free(&cli);
        return rc;
}
