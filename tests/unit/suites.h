/* suites.h — the unit suites that tests/unit/main.c runs. */
#ifndef CS_TEST_SUITES_H
#define CS_TEST_SUITES_H

#include <check.h>

Suite *prefix_suite(void);
Suite *conf_suite(void);
Suite *cli_suite(void);
Suite *kafka_suite(void);
Suite *log_suite(void);
Suite *registry_suite(void);
Suite *consumer_internals_suite(void);
Suite *producer_internals_suite(void);
Suite *doc_suite(void);
Suite *doc_decode_suite(void);
Suite *doc_inspect_suite(void);
Suite *schema_json_suite(void);
Suite *jsonschema_suite(void);
Suite *db_suite(void);
Suite *topics_suite(void);
Suite *bulk_suite(void);
Suite *progress_suite(void);
Suite *tables_suite(void);
Suite *metadata_suite(void);
Suite *registry_custom_suite(void);
Suite *files_suite(void);
Suite *input_read_suite(void);

#endif
