/* main.c — runs the integration suites (needs the services of tests/run-integration.sh). */
#include <check.h>
#include <stdlib.h>

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

int main(void)
{
        Suite *(*const suites[])(void) = {
                sync_suite,
                consume_suite,
                recovery_suite,
                incremental_suite,
                verify_suite,
                topics_it_suite,
                format_suite,
                metadata_suite,
                metadata_add_suite,
                security_suite,
                hostile_suite,
                restore_suite,
                fullschema_suite,
                pipe_suite,
                operator_suite,
                safety_suite,
                follow_suite,
                qualify_suite,
                verify_drift_suite,
                documented_suite,
                parked_suite,
                stale_suite,
                acl_suite,
                custom_suite,
                files_it_suite,
                contribute_suite,
        };
        SRunner *sr = srunner_create(NULL);
        for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
                srunner_add_suite(sr, suites[i]());
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
