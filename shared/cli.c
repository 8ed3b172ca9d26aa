/* cli.c — getopt_long parsing of the options every civisync program shares. */
#include "cli.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <mariadb_version.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static const struct option common_long[] = {
        {"config", required_argument, NULL, 'c'},
        {"brokers", required_argument, NULL, 'b'},
        {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
};
#define COMMON_SHORT "c:b:X:vqhV"
#define COMMON_LONG_CNT (sizeof(common_long) / sizeof(common_long[0]))

/* Writes "PROGRAM: message (see PROGRAM --help)" into errstr; returns -1. */
static int usage_error(const char *program, char *errstr, size_t errstr_size,
                       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int usage_error(const char *program, char *errstr, size_t errstr_size,
                       const char *fmt, ...)
{
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        snprintf(errstr, errstr_size, "%s: %s (see %s --help)", program, msg,
                 program);
        return -1;
}

/* 1 if opt is one of the program's own options. */
static int is_extra(int opt, const char *extra_short,
                    const struct option *extra_long)
{
        if (extra_short && opt > 0 && opt != ':' && opt != '+' && opt != '-' &&
            strchr(extra_short, opt))
                return 1;
        for (size_t i = 0; extra_long && extra_long[i].name; i++)
                if (!extra_long[i].flag && extra_long[i].val == opt)
                        return 1;
        return 0;
}

/* Name of the option that getopt just rejected, for messages. */
static void rejected_name(char *buf, size_t size, char **argv, int idx, int opt)
{
        const char *arg = (idx > 0) ? argv[idx - 1] : NULL;

        if (arg && strncmp(arg, "--", 2) == 0) {
                size_t n = strcspn(arg, "=");
                snprintf(buf, size, "%.*s", (int)(n > 100 ? 100 : n), arg);
        } else if (opt > 0) {
                snprintf(buf, size, "-%c", opt);
        } else {
                snprintf(buf, size, "%.100s", arg ? arg : "?");
        }
}

static void print_version(const char *program)
{
        printf("%s civisync %s (librdkafka %s, jansson %s, MariaDB Connector/C %s)\n",
               program, CS_VERSION, rd_kafka_version_str(),
               jansson_version_str(), MARIADB_PACKAGE_VERSION);
        fflush(stdout);
}

int cs_cli_parse(cs_cli_t *cli, int argc, char **argv, const char *program,
                 const char *usage_text, const char *extra_short,
                 const struct option *extra_long, cs_cli_option_cb *cb,
                 void *opaque, int *first_arg, char *errstr, size_t errstr_size)
{
        size_t extra_cnt = 0;
        char *shortopts;
        struct option *longopts;
        int rc = 0;

        memset(cli, 0, sizeof(*cli));
        if (!program)
                program = "civisync";
        while (extra_long && extra_long[extra_cnt].name)
                extra_cnt++;

        /* ':' first: report missing arguments as ':' instead of '?'. The
         * program's options come first so they win over common ones. */
        size_t slen = 1 + (extra_short ? strlen(extra_short) : 0) +
                      strlen(COMMON_SHORT) + 1;
        shortopts = malloc(slen);
        longopts = calloc(extra_cnt + COMMON_LONG_CNT + 1, sizeof(*longopts));
        if (!shortopts || !longopts) {
                free(shortopts);
                free(longopts);
                snprintf(errstr, errstr_size, "%s: out of memory", program);
                return -1;
        }
        snprintf(shortopts, slen, ":%s%s", extra_short ? extra_short : "",
                 COMMON_SHORT);
        if (extra_cnt)
                memcpy(longopts, extra_long, extra_cnt * sizeof(*longopts));
        memcpy(longopts + extra_cnt, common_long, sizeof(common_long));

        optind = 0; /* glibc: full re-initialisation, so parsing is repeatable */
        opterr = 0;
        for (;;) {
                int idx = -1;
                int opt = getopt_long(argc, argv, shortopts, longopts, &idx);
                char name[128];

                if (opt == -1)
                        break;
                if (opt == 0)
                        continue; /* long option that stored into its flag */
                if (opt == '?') {
                        const char *arg = optind > 0 ? argv[optind - 1] : "";
                        rejected_name(name, sizeof(name), argv, optind, optopt);
                        if (optopt != 0 && strncmp(arg, "--", 2) == 0 &&
                            strchr(arg, '='))
                                rc = usage_error(program, errstr, errstr_size,
                                                 "option '%s' does not take an argument",
                                                 name);
                        else
                                rc = usage_error(program, errstr, errstr_size,
                                                 "unknown %soption '%s'",
                                                 strncmp(arg, "--", 2) == 0 ?
                                                 "or ambiguous " : "", name);
                        break;
                }
                if (opt == ':') {
                        rejected_name(name, sizeof(name), argv, optind, optopt);
                        rc = usage_error(program, errstr, errstr_size,
                                         "option '%s' requires an argument", name);
                        break;
                }
                if (is_extra(opt, extra_short, extra_long)) {
                        char msg[512] = "";
                        if (!cb) {
                                rc = usage_error(program, errstr, errstr_size,
                                                 "option not handled");
                                break;
                        }
                        if (cb(opt, optarg, opaque, msg, sizeof(msg)) < 0) {
                                size_t plen = strlen(program);
                                if (strncmp(msg, program, plen) == 0 &&
                                    msg[plen] == ':')
                                        snprintf(errstr, errstr_size, "%s", msg);
                                else
                                        usage_error(program, errstr, errstr_size,
                                                    "%s", msg[0] ? msg : "invalid option");
                                rc = -1;
                                break;
                        }
                        continue;
                }
                switch (opt) {
                case 'c':
                        if (!*optarg) {
                                rc = usage_error(program, errstr, errstr_size,
                                                 "-c needs a file name");
                                break;
                        }
                        cli->config_path = optarg;
                        break;
                case 'b':
                        if (!*optarg) {
                                rc = usage_error(program, errstr, errstr_size,
                                                 "-b needs a broker list (host:port,...)");
                                break;
                        }
                        cli->brokers = optarg;
                        break;
                case 'X': {
                        const char *eq = strchr(optarg, '=');
                        if (!eq || eq == optarg) {
                                rc = usage_error(program, errstr, errstr_size,
                                                 "-X expects name=value");
                                break;
                        }
                        const char **np = realloc(cli->x_props,
                                                  (size_t)(cli->x_prop_cnt + 1) * sizeof(*np));
                        if (!np) {
                                snprintf(errstr, errstr_size, "%s: out of memory", program);
                                rc = -1;
                                break;
                        }
                        cli->x_props = np;
                        cli->x_props[cli->x_prop_cnt++] = optarg;
                        break;
                }
                case 'v':
                        cs_log_more();
                        break;
                case 'q':
                        cs_log_less();
                        break;
                case 'h':
                        if (usage_text)
                                fputs(usage_text, stdout);
                        else
                                printf("Usage: %s [options]\n", program);
                        fflush(stdout);
                        rc = 1;
                        break;
                case 'V':
                        print_version(program);
                        rc = 1;
                        break;
                default:
                        rc = usage_error(program, errstr, errstr_size,
                                         "unexpected option code %d", opt);
                        break;
                }
                if (rc != 0)
                        break;
        }
        if (first_arg)
                *first_arg = optind;
        free(shortopts);
        free(longopts);
        return rc;
}

void cs_cli_free(cs_cli_t *cli)
{
        if (!cli)
                return;
        free(cli->x_props);
        memset(cli, 0, sizeof(*cli));
}

int cs_cli_apply_kafka(const cs_cli_t *cli, cs_kafka_params_t *kafka,
                       char *errstr, size_t errstr_size)
{
        if (cli->brokers && cs_conf_set_brokers(kafka, cli->brokers, errstr,
                                                errstr_size) == -1)
                return -1;
        for (int i = 0; i < cli->x_prop_cnt; i++)
                if (cs_conf_kafka_prop_set(kafka, cli->x_props[i], errstr,
                                           errstr_size) == -1)
                        return -1;
        return 0;
}

int cs_cli_parse_two_confs(int argc, char **argv, const char *program,
                           const char *usage_text,
                           const struct option *long_options,
                           cs_cli_option_cb *cb, void *opaque,
                           const char *const *producer_path,
                           const char *const *consumer_path,
                           const char *first_opt, const char *second_opt,
                           cs_producer_conf_t *pconf,
                           cs_consumer_conf_t *mconf)
{
        cs_cli_t cli;
        char errstr[1024];
        int first_arg, rc;

        rc = cs_cli_parse(&cli, argc, argv, program, usage_text, "",
                          long_options, cb, opaque, &first_arg, errstr,
                          sizeof(errstr));
        if (rc == 0 && first_arg < argc)
                rc = usage_error(program, errstr, sizeof(errstr),
                                 "unexpected argument");
        else if (rc == 0 && (cli.config_path || cli.brokers || cli.x_prop_cnt))
                rc = usage_error(program, errstr, sizeof(errstr),
                                 "-c, -b and -X do not apply; use %s and %s",
                                 first_opt, second_opt);
        else if (rc == 0 && (!*producer_path || !*consumer_path))
                rc = usage_error(program, errstr, sizeof(errstr),
                                 "%s FILE and %s FILE are required", first_opt,
                                 second_opt);
        cs_cli_free(&cli);
        if (rc == -1)
                fprintf(stderr, "%s\n", errstr);
        if (rc != 0)
                return rc;
        if (cs_conf_load_producer(*producer_path, pconf, errstr,
                                  sizeof(errstr)) == -1 ||
            cs_conf_load_consumer(*consumer_path, mconf, errstr,
                                  sizeof(errstr)) == -1) {
                fprintf(stderr, "%s: %s\n", program, errstr);
                cs_conf_producer_free(pconf);
                cs_conf_consumer_free(mconf);
                return -1;
        }
        return 0;
}
