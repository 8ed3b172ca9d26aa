/* faults_tool.c — faults-tool: normalized dumps, hostile documents and dead-letter reading for tests/faults. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faults.h"

MYSQL *ft_connect(const char *db)
{
        const char *sock = getenv("CS_TEST_MYSQL_SOCKET");
        const char *user = getenv("CS_TEST_MYSQL_USER");
        const char *pass = getenv("CS_TEST_MYSQL_PASSWORD");
        MYSQL *conn;

        if (!sock || !user) {
                fprintf(stderr, "faults-tool: CS_TEST_MYSQL_* not set (source "
                        "tests/lib/services.sh)\n");
                return NULL;
        }
        if (!(conn = mysql_init(NULL)))
                return NULL;
        mysql_options(conn, MYSQL_SET_CHARSET_NAME, "utf8mb4");
        if (!mysql_real_connect(conn, "localhost", user, pass, db, 0, sock, 0)) {
                fprintf(stderr, "faults-tool: connect %s: %s\n", db,
                        mysql_error(conn));
                mysql_close(conn);
                return NULL;
        }
        if (mysql_query(conn, "SET time_zone = '+00:00'") != 0) {
                fprintf(stderr, "faults-tool: %s\n", mysql_error(conn));
                mysql_close(conn);
                return NULL;
        }
        return conn;
}

int main(int argc, char **argv)
{
        if (argc >= 2 && !strcmp(argv[1], "dump"))
                return ft_dump_main(argc - 1, argv + 1);
        if (argc >= 2 && !strcmp(argv[1], "send"))
                return ft_send_main(argc - 1, argv + 1);
        if (argc >= 2 && !strcmp(argv[1], "dlq"))
                return ft_dlq_main(argc - 1, argv + 1);
        fprintf(stderr,
                "usage: faults-tool dump master|child DB PREFIX [--unmapped]\n"
                "       faults-tool send BROKERS TOPIC BASELINE.ndjson baseline|attack|big MANIFEST\n"
                "       faults-tool dlq BROKERS TOPIC\n");
        return 2;
}
