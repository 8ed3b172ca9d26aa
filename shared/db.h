/* db.h — MariaDB connections, static SQL, prepared statements and row streaming. */
#ifndef CS_DB_H
#define CS_DB_H

#include <stddef.h>
#include <mysql.h>
#include "conf.h"

/* One value bound to a prepared-statement placeholder. Strings are borrowed. */
typedef enum { CS_VAL_NULL = 0, CS_VAL_INT, CS_VAL_STR, CS_VAL_BIN } cs_val_kind_t;
typedef struct cs_db_value_s {
        cs_val_kind_t kind;
        long long i;      /* CS_VAL_INT */
        const char *s;    /* CS_VAL_STR / CS_VAL_BIN, not NUL-terminated */
        unsigned long len;
} cs_db_value_t;

/* Connects (CLIENT_FOUND_ROWS: UPDATE reports matched rows) with utf8mb4,
 * session time_zone '+00:00', autocommit on and strict sql_mode, over TLS as
 * params->ssl_mode says; the socket only for host unset or "localhost".
 * Returns NULL with errstr "host:port/db: error" (with TLS:
 * "host:port/db (ssl_mode M, ssl_ca FILE): error"). */
MYSQL *cs_db_connect(const cs_db_params_t *params, char *errstr,
                     size_t errstr_size);

/* Runs one static SQL statement (no values: identifiers and constants only)
 * and discards any result. Returns 0 or -1 with errstr. */
int cs_db_exec(MYSQL *db, const char *sql, char *errstr, size_t errstr_size);

/* Prepares sql, binds params (n may be 0), executes, and discards any
 * result. *affected (may be NULL) receives the affected-row count and
 * *insert_id (may be NULL) the AUTO_INCREMENT id. */
int cs_db_exec_params(MYSQL *db, const char *sql, const cs_db_value_t *params,
                      size_t n, unsigned long long *affected,
                      unsigned long long *insert_id, char *errstr,
                      size_t errstr_size);

/* Assigns session user variables through a prepared statement, e.g.
 * "SET @lo = ?, @hi = ?", so that a following text-protocol query can use
 * them without any value ever appearing in SQL text. */
#define cs_db_set_vars cs_db_exec_params

/* Runs a static query and returns the whole result (mysql_store_result).
 * Use for bounded results only (keyset pages, lookups). NULL on error. */
MYSQL_RES *cs_db_query(MYSQL *db, const char *sql, char *errstr,
                       size_t errstr_size);

/* Runs a static query and returns a streaming result (mysql_use_result):
 * memory stays flat however many rows; the connection is busy until the
 * result is freed. NULL on error. */
MYSQL_RES *cs_db_query_stream(MYSQL *db, const char *sql, char *errstr,
                              size_t errstr_size);

/* Single integer from a static query ("SELECT COUNT(*) ..."). Returns 0 and
 * sets *out (0 for NULL), or -1. */
int cs_db_query_int(MYSQL *db, const char *sql, long long *out, char *errstr,
                    size_t errstr_size);

/* A cache of prepared statements keyed by their SQL text, for hot paths.
 * Statements are prepared once per connection; cs_db_cache_reset forgets
 * them all (after a reconnect). */
typedef struct cs_db_cache_s cs_db_cache_t;
cs_db_cache_t *cs_db_cache_new(MYSQL *db);
void cs_db_cache_reset(cs_db_cache_t *cache, MYSQL *db);
void cs_db_cache_free(cs_db_cache_t *cache);
/* Executes sql with params through the cache. For a statement that returns
 * rows, *found (may be NULL) is set to 1 when there was a row and *first_int
 * (may be NULL) to its first column (0 for NULL). Such statements must
 * select exactly one column. affected/insert_id as in
 * cs_db_exec_params. On error errstr holds the server's message and
 * *db_errno (may be NULL) its mysql_errno. */
int cs_db_run(cs_db_cache_t *cache, const char *sql,
              const cs_db_value_t *params, size_t n,
              unsigned long long *affected, unsigned long long *insert_id,
              long long *first_int, int *found, unsigned int *db_errno,
              char *errstr, size_t errstr_size);

/* Executes through the cache a statement that selects ncols (1 to
 * CS_DB_ROW_COLS_MAX) integer columns and calls row_cb(ctx, values) for each
 * row (values[0..ncols), NULL reads as 0; the array is only valid during
 * the call). Errors as in cs_db_run. */
#define CS_DB_ROW_COLS_MAX 4
int cs_db_run_rows(cs_db_cache_t *cache, const char *sql,
                   const cs_db_value_t *params, size_t n, size_t ncols,
                   void (*row_cb)(void *ctx, const long long *values),
                   void *ctx, unsigned int *db_errno, char *errstr,
                   size_t errstr_size);
/* 1 if err (mysql_errno) with its message (may be NULL) is transient —
 * retry the batch, never blame the document: connection lost or refused,
 * too many connections, deadlock, lock wait timeout, shutdown, temporary
 * file and temporary table errors (the server's mysys errors 1..35, e.g. 6
 * "Error on delete of '/tmp/#sql...' (Errcode: 2)"; 1004, 1011...),
 * disk full, out of memory, read-only during a failover; "Got error N from
 * storage engine" only when N is an OS errno such as ENOSPC or ENOENT.
 * 0 = permanent: the statement's data is at fault. */
int cs_db_error_transient(unsigned int err, const char *message);
/* The same without a message. */
int cs_db_errno_transient(unsigned int err);

/* 1 if name is a safe SQL identifier ([A-Za-z0-9_]{1,64}). */
int cs_db_ident_valid(const char *name);

/* Appends printf text to the NUL-terminated buf of size bytes. Returns 0,
 * or -1 when the text did not fit (buf then holds a truncated prefix: a
 * message may be shown so; SQL must not be run). */
int cs_db_append(char *buf, size_t size, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

#endif
