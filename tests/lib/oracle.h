/* oracle.h — the tests' independent child-vs-master oracle (own rules, not the registry's). */
#ifndef CS_TEST_ORACLE_H
#define CS_TEST_ORACLE_H

#include <mysql.h>
#include <stddef.h>
#include <stdio.h>

/*
 * One line per synced row: "<table>\t<child id>\t<col>=<value>\t..." with
 * the compared columns in name order. The child side applies the tests' own
 * rules (tests/lib/oracle.c: which column references which table, which are
 * cleared, omitted or prefixed); the master side maps its ids (the row's own
 * and every reference) back to child ids through mapping_master_<PREFIX>.
 * So equal output means equal content, and `diff` lists the rows that
 * differ. Master side extras: "<table>\t<child id>\tORPHAN-MAPPING" for
 * mapping rows whose master row is gone and, with ORC_MASTER_UNMAPPED, the
 * rows no mapping names, as "U\t<table>\t<id>\t...".
 *
 * db is any connection to the server holding both databases (names are
 * qualified). other_db, if not NULL, is the database on the other side: only
 * the columns both sides have are compared (a 4.2 child lacks some), and
 * QUALIFY widths come from the master's column.
 */
enum {
        ORC_CHILD = 0,
        ORC_MASTER = 1,
        ORC_MASTER_UNMAPPED = 2
};

/* Writes side's lines of database self_db to out. 0, or -1 with errstr. */
int orc_dump(MYSQL *db, int side, const char *self_db, const char *other_db,
             const char *prefix, FILE *out, char *errstr, size_t errstr_size);

/* Dumps both sides and compares them. Returns the number of differing
 * lines (0: equal), or -1 with errstr; report gets the first differences
 * ("child:  ..." / "master: ..."), *rows the number of child lines. */
long orc_compare(MYSQL *db, const char *child_db, const char *master_db,
                 const char *prefix, long *rows, char *report,
                 size_t report_size, char *errstr, size_t errstr_size);

/* The tests' own QUALIFY: "<prefix>:<value>" when it fits in max_chars
 * characters, else the prefix, the head that fits, "~" and the 8-hex-digit
 * FNV-1a hash of the whole value (docs/FORMAT.md). Returns a malloc'd
 * string or NULL if max_chars cannot hold even the prefix and the hash. */
char *orc_qualify(const char *prefix, const char *value, size_t len,
                  size_t max_chars);

#endif
