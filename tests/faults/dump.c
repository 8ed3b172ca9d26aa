/* dump.c — faults-tool dump: prints the tests' independent oracle (tests/lib/oracle.c) for one side. */
/*
 * faults-tool dump master|child DB PREFIX [--unmapped] [--other DB]
 * One line per synced row, in a form where child and master lines are
 * equal (see tests/lib/oracle.h), so `diff child master` lists exactly the
 * rows that differ. --unmapped adds the master's own rows ("U\t..."),
 * --other names the database on the other side (only shared columns are
 * then compared).
 */
#include <stdio.h>
#include <string.h>

#include "faults.h"
#include "oracle.h"

int ft_dump_main(int argc, char **argv)
{
        const char *other = NULL;
        char errstr[1024];
        int side, unmapped = 0, rc;
        MYSQL *db;

        if (argc < 4 || (strcmp(argv[1], "master") && strcmp(argv[1], "child"))) {
                fprintf(stderr, "usage: faults-tool dump master|child DB PREFIX "
                        "[--unmapped] [--other DB]\n");
                return 2;
        }
        for (int i = 4; i < argc; i++) {
                if (!strcmp(argv[i], "--unmapped"))
                        unmapped = 1;
                else if (!strcmp(argv[i], "--other") && i + 1 < argc)
                        other = argv[++i];
                else {
                        fprintf(stderr, "faults-tool dump: unknown argument '%s'\n", argv[i]);
                        return 2;
                }
        }
        side = strcmp(argv[1], "master") ? ORC_CHILD :
               unmapped ? ORC_MASTER_UNMAPPED : ORC_MASTER;
        if (!(db = ft_connect(argv[2])))
                return 1;
        rc = orc_dump(db, side, argv[2], other, argv[3], stdout, errstr, sizeof(errstr));
        if (rc == -1)
                fprintf(stderr, "faults-tool dump: %s\n", errstr);
        mysql_close(db);
        return rc == 0 && fflush(stdout) == 0 ? 0 : 1;
}
