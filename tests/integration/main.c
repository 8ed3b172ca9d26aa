/* main.c — runs the integration suites (needs the services of tests/run-integration.sh). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Suite *sync_suite(void);
Suite *consume_suite(void);
Suite *recovery_suite(void);
Suite *incremental_suite(void);
Suite *verify_suite(void);
Suite *topics_it_suite(void);
Suite *format_suite(void);
Suite *metadata_suite(void);
Suite *metadata_add_suite(void);
Suite *security_suite(void);
Suite *hostile_suite(void);
Suite *restore_suite(void);
Suite *fullschema_suite(void);
Suite *pipe_suite(void);
Suite *operator_suite(void);
Suite *safety_suite(void);
Suite *follow_suite(void);
Suite *qualify_suite(void);
Suite *verify_drift_suite(void);
Suite *documented_suite(void);
Suite *parked_suite(void);
Suite *stale_suite(void);
Suite *acl_suite(void);
Suite *custom_suite(void);
Suite *files_it_suite(void);
Suite *contribute_suite(void);
Suite *phase3c_suite(void);
Suite *event_suite(void);
Suite *event_location_suite(void);

/* One row per suite: its Check name (as given to suite_create) and its
 * constructor. Slowest first (seconds of a 2-worker run on a 2-core machine,
 * in tests/run-integration-parallel.sh's summary), so that the workers of
 * the parallel runner finish together: add a new suite where its time puts it. */
struct it_suite {
        const char *name;
        Suite *(*create)(void);
};

static const struct it_suite it_suites[] = {
        { "incremental", incremental_suite },
        { "safety", safety_suite },
        { "operator", operator_suite },
        { "documented", documented_suite },
        { "event", event_suite },
        { "eventloc", event_location_suite },
        { "contribute", contribute_suite },
        { "follow", follow_suite },
        { "recovery", recovery_suite },
        { "custom", custom_suite },
        { "hostile", hostile_suite },
        { "acl", acl_suite },
        { "fullschema", fullschema_suite },
        { "phase3c", phase3c_suite },
        { "consume", consume_suite },
        { "metadata", metadata_suite },
        { "metadata_add", metadata_add_suite },
        { "security", security_suite },
        { "restore", restore_suite },
        { "sync", sync_suite },
        { "stale", stale_suite },
        { "files", files_it_suite },
        { "pipe", pipe_suite },
        { "verify", verify_suite },
        { "format", format_suite },
        { "parked", parked_suite },
        { "verify_drift", verify_drift_suite },
        { "topics", topics_it_suite },
        { "qualify", qualify_suite },
};

#define IT_NSUITES (sizeof(it_suites) / sizeof(it_suites[0]))

/*
 * Usage: integration_tests [--list]
 *   --list  print the suite names, one per line, and exit (tests/run-integration-parallel.sh
 *           shares them out between workers, each running one suite at a time with CK_RUN_SUITE)
 * Without arguments every suite runs (CK_RUN_SUITE / CK_RUN_CASE narrow it, as Check documents).
 */
int main(int argc, char **argv)
{
        if (argc == 2 && strcmp(argv[1], "--list") == 0) {
                for (size_t i = 0; i < IT_NSUITES; i++)
                        printf("%s\n", it_suites[i].name);
                return EXIT_SUCCESS;
        }
        if (argc > 1) {
                fprintf(stderr, "usage: %s [--list]\n", argv[0]);
                return 2;
        }
        SRunner *sr = srunner_create(NULL);
        for (size_t i = 0; i < IT_NSUITES; i++)
                srunner_add_suite(sr, it_suites[i].create());
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
