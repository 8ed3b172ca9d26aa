/* faults.h — shared declarations of faults-tool (the fault suite's helper program). */
#ifndef CS_FAULTS_H
#define CS_FAULTS_H

#include <stddef.h>
#include <mysql.h>

/* Connects to db on the harness server ($CS_TEST_MYSQL_SOCKET etc.);
 * NULL with a message on stderr. */
MYSQL *ft_connect(const char *db);

/* faults-tool dump master|child DB PREFIX [--unmapped]: normalized rows. */
int ft_dump_main(int argc, char **argv);
/* faults-tool send BROKERS TOPIC BASELINE.ndjson baseline|attack|big MANIFEST. */
int ft_send_main(int argc, char **argv);
/* faults-tool dlq BROKERS TOPIC: every dead letter, one line each. */
int ft_dlq_main(int argc, char **argv);

#endif
