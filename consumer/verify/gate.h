/* gate.h — civisync-verify's metadata section: every metadata table compared on both databases. */
#ifndef CS_VERIFY_GATE_H
#define CS_VERIFY_GATE_H

#include <stdio.h>
#include <mysql.h>

/* Prints one line per metadata difference (at most limit, 0 = all; the
 * count is exact) and the "verify PREFIX: metadata: ..." line to out.
 * Returns the number of differences, -1 with errstr on a database error. */
long long cs_vgate_run(MYSQL *child, MYSQL *master, const char *prefix,
                       long limit, FILE *out, char *errstr, size_t errstr_size);

#endif
