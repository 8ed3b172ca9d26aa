/* tabletime.h — when each child table was last written, as the server records it (information_schema.TABLES.UPDATE_TIME), for leaving untouched tables unread. */
#ifndef CS_TABLETIME_H
#define CS_TABLETIME_H

#include <mysql.h>
#include <stddef.h>

/* A write time the server does not know: a view, a partitioned table, an
 * engine without the record, a table not written since the server started
 * or since InnoDB evicted it from its dictionary cache. */
#define CS_TT_UNKNOWN (-1LL)

/* Most tables (and views) of one database this module keeps. A child with
 * more cannot have its tables left unread (cs_tt_load fails). */
#define CS_TT_MAX_TABLES 4096

typedef struct cs_tt_entry_s {
        char *name;
        long long written;    /* unix seconds of the last commit, or CS_TT_UNKNOWN */
} cs_tt_entry_t;

typedef struct cs_tt_s {
        cs_tt_entry_t *t;     /* sorted by name (case-insensitive) */
        size_t n;
        long long now;        /* the server's clock when loaded (unix seconds) */
} cs_tt_t;

/* Where the connection reads from, "host:port/database", into out: a
 * state written against one database says nothing about another's
 * tables. 0, or -1 with errstr. */
int cs_tt_origin(MYSQL *db, char *out, size_t size, char *errstr,
                 size_t errstr_size);

/* Reads the last write time of every table and view of the connection's
 * current database. On MySQL 8 first sets information_schema_stats_expiry
 * to 0 for the session (else the server answers from a cache up to a day
 * old); a server without that variable (MariaDB, MySQL 5.7) keeps its
 * live values. 0, or -1 with errstr (tt is then empty). */
int cs_tt_load(MYSQL *db, cs_tt_t *tt, char *errstr, size_t errstr_size);
void cs_tt_free(cs_tt_t *tt);

/* The latest write time of the tables and views that sql names (every
 * identifier of the text, backquoted or bare, compared with the database's
 * table names without regard to case; words inside string literals count
 * too, which can only add tables). CS_TT_UNKNOWN when one of them has no
 * known time, or when sql names no table at all. */
long long cs_tt_latest_write(const cs_tt_t *tt, const char *sql);

#endif
