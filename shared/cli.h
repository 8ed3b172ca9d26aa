/* cli.h — the option contract shared by every program (-c -b -X -v -q --help --version). */
#ifndef CS_CLI_H
#define CS_CLI_H

#include <getopt.h>
#include <stdio.h>
#include "conf.h"

#define CS_VERSION "0.1.0"

/* Exit codes of every civisync program. */
#define CS_EXIT_OK      0
#define CS_EXIT_FAILURE 1 /* runtime failure, including undelivered messages */
#define CS_EXIT_USAGE   2 /* bad usage or configuration */
#define CS_EXIT_LOCKED  3 /* another run for the same prefix holds the lock */

/* Common options collected while parsing; program-specific options are
 * handed back to the caller through the callback. */
typedef struct cs_cli_s {
        const char *config_path;   /* -c FILE */
        const char *brokers;       /* -b BROKERS, or NULL */
        const char **x_props;      /* -X name=value, in order (malloc'd array) */
        int x_prop_cnt;
} cs_cli_t;

/* Called for every option that is not common. Return 0 if handled,
 * -1 on a usage error (after writing the message to errstr). */
typedef int (cs_cli_option_cb)(int opt, const char *optarg, void *opaque,
                               char *errstr, size_t errstr_size);

/* Parses argv with the common options plus the program's extra short options
 * (getopt syntax) and long options (may be NULL). Handles --help (prints
 * usage_text to stdout, returns 1) and --version (returns 1) itself; -v/-q
 * adjust the log level. Returns 0 to continue, 1 when the program should
 * exit 0 (help/version printed), -1 on a usage error with errstr set.
 * *first_arg receives optind (first positional argument). */
int cs_cli_parse(cs_cli_t *cli, int argc, char **argv, const char *program,
                 const char *usage_text, const char *extra_short,
                 const struct option *extra_long, cs_cli_option_cb *cb,
                 void *opaque, int *first_arg, char *errstr, size_t errstr_size);
void cs_cli_free(cs_cli_t *cli);

/* Applies -b (replaces kafka->brokers) and every -X name=value, in order,
 * over the configuration file's kafka group. 0, or -1 with errstr. */
int cs_cli_apply_kafka(const cs_cli_t *cli, cs_kafka_params_t *kafka,
                       char *errstr, size_t errstr_size);

/* For the programs that read a child's producer configuration and the
 * master's consumer configuration, each named by a long option of theirs
 * instead of -c (civisync-verify, civisync-restore). Parses argv as
 * cs_cli_parse does with the program's long options, refuses positional
 * arguments and -c/-b/-X, requires both files (*producer_path and
 * *consumer_path, which the callback sets) and loads them into pconf and
 * mconf. first_opt and second_opt name the two options in the order the
 * messages give them. Returns 0 to go on (free pconf and mconf), 1 when the
 * program should exit 0 (help/version printed), -1 on a usage or
 * configuration error (printed on stderr; exit 2; nothing to free). */
int cs_cli_parse_two_confs(int argc, char **argv, const char *program,
                           const char *usage_text,
                           const struct option *long_options,
                           cs_cli_option_cb *cb, void *opaque,
                           const char *const *producer_path,
                           const char *const *consumer_path,
                           const char *first_opt, const char *second_opt,
                           cs_producer_conf_t *pconf,
                           cs_consumer_conf_t *mconf);

#endif
