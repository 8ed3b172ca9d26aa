/* test_cli.c — unit tests for the common command line options and usage errors. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "suites.h"

#define ARGV(...) ((char *[]){__VA_ARGS__, NULL})

/* What the test callback saw. */
typedef struct seen_s {
        int n_opt;
        int last_opt;
        char last_arg[64];
} seen_t;

enum { OPT_COUNT = 1000 };

static int cb(int opt, const char *arg, void *opaque, char *errstr,
              size_t errstr_size)
{
        seen_t *s = opaque;

        if (opt == 'F' && arg && strcmp(arg, "bad") == 0) {
                snprintf(errstr, errstr_size, "-F: 'bad' is not allowed");
                return -1;
        }
        s->n_opt++;
        s->last_opt = opt;
        snprintf(s->last_arg, sizeof(s->last_arg), "%s", arg ? arg : "");
        return 0;
}

static const struct option extra_long[] = {
        {"full", no_argument, NULL, 'f'},
        {"brokers", required_argument, NULL, OPT_COUNT}, /* overrides the common one */
        {NULL, 0, NULL, 0},
};

static int parse(int argc, char **argv, cs_cli_t *cli, seen_t *seen,
                 int *first, char *err, size_t errsz)
{
        return cs_cli_parse(cli, argc, argv, "prog", "Usage: prog [options]\n",
                            "fF:", NULL, cb, seen, first, err, errsz);
}

START_TEST(test_common_options)
{
        char **av = ARGV("prog", "-c", "a.cfg", "-b", "h1:9092,h2:9092",
                         "-X", "client.id=x", "--config=b.cfg",
                         "-Xacks=all", "pos1", "pos2");
        cs_cli_t cli;
        seen_t seen = {0};
        char err[512] = "";
        int first = -1;

        ck_assert_int_eq(parse(11, av, &cli, &seen, &first, err, sizeof(err)), 0);
        ck_assert_str_eq(cli.config_path, "b.cfg"); /* last one wins */
        ck_assert_str_eq(cli.brokers, "h1:9092,h2:9092");
        ck_assert_int_eq(cli.x_prop_cnt, 2);
        ck_assert_str_eq(cli.x_props[0], "client.id=x");
        ck_assert_str_eq(cli.x_props[1], "acks=all");
        ck_assert_int_eq(seen.n_opt, 0);
        ck_assert_int_eq(first, 9);
        ck_assert_str_eq(av[first], "pos1");
        cs_cli_free(&cli);
        ck_assert_ptr_null(cli.x_props);
}
END_TEST

START_TEST(test_verbose_quiet)
{
        char **av = ARGV("prog", "-v", "--verbose", "-q");
        cs_cli_t cli;
        seen_t seen = {0};
        char err[512];
        int first;

        cs_log_set_level(CS_LOG_WARN);
        ck_assert_int_eq(parse(4, av, &cli, &seen, &first, err, sizeof(err)), 0);
        ck_assert_int_eq(cs_log_threshold, CS_LOG_INFO);
        cs_cli_free(&cli);

        char **av2 = ARGV("prog", "-qq", "--quiet");
        cs_log_set_level(CS_LOG_DEBUG);
        ck_assert_int_eq(parse(3, av2, &cli, &seen, &first, err, sizeof(err)), 0);
        ck_assert_int_eq(cs_log_threshold, CS_LOG_ERROR);
        cs_cli_free(&cli);
}
END_TEST

START_TEST(test_program_options)
{
        char **av = ARGV("prog", "-f", "-F", "val", "--full");
        cs_cli_t cli;
        seen_t seen = {0};
        char err[512];
        int first;

        ck_assert_int_eq(cs_cli_parse(&cli, 5, av, "prog", "u\n", "fF:", extra_long,
                                      cb, &seen, &first, err, sizeof(err)), 0);
        ck_assert_int_eq(seen.n_opt, 3);
        ck_assert_int_eq(seen.last_opt, 'f');
        cs_cli_free(&cli);

        /* a program long option named like a common one takes precedence */
        char **av2 = ARGV("prog", "--brokers", "3", "-b", "h:1");
        memset(&seen, 0, sizeof(seen));
        ck_assert_int_eq(cs_cli_parse(&cli, 5, av2, "prog", "u\n", "", extra_long,
                                      cb, &seen, &first, err, sizeof(err)), 0);
        ck_assert_int_eq(seen.n_opt, 1);
        ck_assert_int_eq(seen.last_opt, OPT_COUNT);
        ck_assert_str_eq(seen.last_arg, "3");
        ck_assert_str_eq(cli.brokers, "h:1");
        cs_cli_free(&cli);
}
END_TEST

static void expect_usage_error(char **av, int ac, const char *needle)
{
        cs_cli_t cli;
        seen_t seen = {0};
        char err[512] = "";
        int first;

        ck_assert_int_eq(cs_cli_parse(&cli, ac, av, "prog", "u\n", "fF:", extra_long,
                                      cb, &seen, &first, err, sizeof(err)), -1);
        ck_assert_msg(strncmp(err, "prog: ", 6) == 0, "errstr: %s", err);
        ck_assert_msg(strstr(err, needle) != NULL, "'%s' not in '%s'", needle, err);
        size_t n = strlen(err), h = strlen(" (see prog --help)");
        ck_assert_msg(n > h && strcmp(err + n - h, " (see prog --help)") == 0,
                      "hint missing: %s", err);
        cs_cli_free(&cli);
}

START_TEST(test_usage_errors)
{
        expect_usage_error(ARGV("prog", "-z"), 2, "unknown option '-z'");
        expect_usage_error(ARGV("prog", "--nope"), 2, "unknown or ambiguous option '--nope'");
        expect_usage_error(ARGV("prog", "--nope=1"), 2, "unknown or ambiguous option '--nope'");
        expect_usage_error(ARGV("prog", "-c"), 2, "option '-c' requires an argument");
        expect_usage_error(ARGV("prog", "--config"), 2,
                           "option '--config' requires an argument");
        expect_usage_error(ARGV("prog", "-F"), 2, "option '-F' requires an argument");
        expect_usage_error(ARGV("prog", "-X", "noequals"), 3, "-X expects name=value");
        expect_usage_error(ARGV("prog", "-X", "=v"), 3, "-X expects name=value");
        expect_usage_error(ARGV("prog", "-F", "bad"), 3, "prog: -F: 'bad' is not allowed");
        expect_usage_error(ARGV("prog", "--full=1"), 2,
                           "option '--full' does not take an argument");
        expect_usage_error(ARGV("prog", "--ver"), 2, /* --verbose or --version */
                           "unknown or ambiguous option '--ver'");
}
END_TEST

/* Runs cs_cli_parse with stdout redirected; returns rc and the output. */
static int parse_capturing_stdout(char **av, int ac, char *out, size_t outsz)
{
        char path[] = "/tmp/cs_test_cli_XXXXXX";
        int fd = mkstemp(path);
        cs_cli_t cli;
        char err[512];
        int first;

        ck_assert_int_ge(fd, 0);
        fflush(stdout);
        int saved = dup(1);
        dup2(fd, 1);
        int rc = cs_cli_parse(&cli, ac, av, "prog", "Usage: prog [options]\n  -c FILE\n",
                              NULL, NULL, NULL, NULL, &first, err, sizeof(err));
        fflush(stdout);
        dup2(saved, 1);
        close(saved);
        lseek(fd, 0, SEEK_SET);
        ssize_t n = read(fd, out, outsz - 1);
        out[n > 0 ? n : 0] = '\0';
        close(fd);
        unlink(path);
        cs_cli_free(&cli);
        return rc;
}

START_TEST(test_help_and_version)
{
        char out[1024];

        ck_assert_int_eq(parse_capturing_stdout(ARGV("prog", "--help"), 2, out,
                                                sizeof(out)), 1);
        ck_assert_str_eq(out, "Usage: prog [options]\n  -c FILE\n");
        ck_assert_int_eq(parse_capturing_stdout(ARGV("prog", "-h", "-z"), 3, out,
                                                sizeof(out)), 1);
        ck_assert_int_eq(parse_capturing_stdout(ARGV("prog", "-V"), 2, out,
                                                sizeof(out)), 1);
        ck_assert_msg(strncmp(out, "prog civisync 0.1.0 (librdkafka 2.", 34) == 0,
                      "version: %s", out);
        ck_assert_ptr_nonnull(strstr(out, ", jansson 2."));
        ck_assert_ptr_nonnull(strstr(out, ", MariaDB Connector/C 3."));
        ck_assert_msg(out[strlen(out) - 2] == ')' && out[strlen(out) - 1] == '\n',
                      "version: %s", out);
        ck_assert_int_eq(parse_capturing_stdout(ARGV("prog", "--version"), 2, out,
                                                sizeof(out)), 1);
        ck_assert_ptr_nonnull(strstr(out, "prog civisync 0.1.0"));
}
END_TEST

START_TEST(test_reparse_resets_state)
{
        cs_cli_t cli;
        seen_t seen = {0};
        char err[512];
        int first;

        for (int i = 0; i < 3; i++) {
                char **av = ARGV("prog", "-c", "x.cfg", "-X", "a=b");
                ck_assert_int_eq(parse(5, av, &cli, &seen, &first, err, sizeof(err)), 0);
                ck_assert_str_eq(cli.config_path, "x.cfg");
                ck_assert_int_eq(cli.x_prop_cnt, 1);
                ck_assert_int_eq(first, 5);
                cs_cli_free(&cli);
        }
}
END_TEST

START_TEST(test_apply_kafka)
{
        const char *props[] = { "compression.type=zstd", "client.id=x", "bad" };
        cs_cli_t cli = { .brokers = "b1:9092", .x_props = props, .x_prop_cnt = 2 };
        cs_kafka_prop_t file_prop = { .name = "compression.type", .value = "lz4" };
        cs_kafka_params_t kafka = { 0 };
        char err[256] = "";

        kafka.brokers = strdup("file:9092");
        kafka.props = malloc(sizeof(*kafka.props));
        kafka.props[0].name = strdup(file_prop.name);
        kafka.props[0].value = strdup(file_prop.value);
        kafka.prop_cnt = 1;
        ck_assert_int_eq(cs_cli_apply_kafka(&cli, &kafka, err, sizeof(err)), 0);
        /* -b replaces the file's brokers; -X overrides, then appends. */
        ck_assert_str_eq(kafka.brokers, "b1:9092");
        ck_assert_uint_eq(kafka.prop_cnt, 2);
        ck_assert_str_eq(kafka.props[0].name, "compression.type");
        ck_assert_str_eq(kafka.props[0].value, "zstd");
        ck_assert_str_eq(kafka.props[1].name, "client.id");
        /* A -X without '=' is a usage error naming it. */
        cli.x_prop_cnt = 3;
        ck_assert_int_eq(cs_cli_apply_kafka(&cli, &kafka, err, sizeof(err)), -1);
        ck_assert_ptr_nonnull(strstr(err, "bad"));
        for (size_t i = 0; i < kafka.prop_cnt; i++) {
                free(kafka.props[i].name);
                free(kafka.props[i].value);
        }
        free(kafka.props);
        free(kafka.brokers);
}
END_TEST

Suite *cli_suite(void)
{
        Suite *s = suite_create("cli");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_common_options);
        tcase_add_test(tc, test_verbose_quiet);
        tcase_add_test(tc, test_program_options);
        tcase_add_test(tc, test_usage_errors);
        tcase_add_test(tc, test_help_and_version);
        tcase_add_test(tc, test_reparse_resets_state);
        tcase_add_test(tc, test_apply_kafka);
        suite_add_tcase(s, tc);
        return s;
}
