/* main.c — runs every unit suite (no services needed) and prints Check's summary. */
#include <check.h>
#include <stdlib.h>

#include "suites.h"

int main(void)
{
        Suite *(*const suites[])(void) = {
                /* suites: one line each */
                prefix_suite,
                conf_suite,
                cli_suite,
                kafka_suite,
                log_suite,
                registry_suite,
                consumer_internals_suite,
                producer_internals_suite,
                tables_suite,
                metadata_suite,
                doc_suite,
                doc_decode_suite,
                doc_inspect_suite,
                schema_json_suite,
                jsonschema_suite,
                db_suite,
                topics_suite,
                bulk_suite,
                progress_suite,
                registry_custom_suite,
                files_suite,
                input_read_suite,
        };
        SRunner *sr = srunner_create(NULL);
        for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
                srunner_add_suite(sr, suites[i]());
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
