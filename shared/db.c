/* db.c — MariaDB connections, static SQL, prepared statements and row streaming. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errmsg.h>
#include <mysqld_error.h>

#include "db.h"

static const char *const ssl_mode_names[] = {
        "disabled", "required", "verify_ca", "verify_identity"};

/* Sets the TLS options of params->ssl_mode on db (before connecting). */
static void set_tls(MYSQL *db, const cs_db_params_t *params)
{
        my_bool on = 1;
        my_bool verify_host = params->ssl_mode == CS_SSL_VERIFY_IDENTITY;

        if (params->ssl_mode == CS_SSL_DISABLED)
                return;
        /* TLS or no connection: a server without it is an error. */
        mysql_options(db, MYSQL_OPT_SSL_ENFORCE, &on);
        /* With a CA, Connector/C verifies the server's chain against it;
         * MYSQL_OPT_SSL_VERIFY_SERVER_CERT adds the host-name check. */
        if (params->ssl_ca)
                mysql_options(db, MYSQL_OPT_SSL_CA, params->ssl_ca);
        if (params->ssl_cert)
                mysql_options(db, MYSQL_OPT_SSL_CERT, params->ssl_cert);
        if (params->ssl_key)
                mysql_options(db, MYSQL_OPT_SSL_KEY, params->ssl_key);
        mysql_options(db, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify_host);
}

MYSQL *cs_db_connect(const cs_db_params_t *params, char *errstr,
                     size_t errstr_size)
{
        /* The socket only for host "localhost" or no host (the
         * configuration refuses a socket next to any other host). */
        int use_socket = params->socket &&
                         (!params->host || strcmp(params->host, "localhost") == 0);
        const char *host = use_socket ? "localhost" :
                           (params->host ? params->host : "127.0.0.1");
        int port = params->port > 0 ? params->port : 3306;
        unsigned int timeout = 10;
        char where[512];
        MYSQL *db = mysql_init(NULL);

        if (!db) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        if (use_socket)
                snprintf(where, sizeof(where), "%s/%s", params->socket,
                         params->database ? params->database : "");
        else
                snprintf(where, sizeof(where), "%s:%d/%s", host, port,
                         params->database ? params->database : "");
        mysql_options(db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
        mysql_options(db, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
        set_tls(db, params);
        if (!mysql_real_connect(db, host, params->user, params->password,
                                params->database, (unsigned int)port,
                                use_socket ? params->socket : NULL,
                                CLIENT_FOUND_ROWS)) {
                if (params->ssl_mode != CS_SSL_DISABLED)
                        snprintf(errstr, errstr_size, "%s (ssl_mode %s%s%s): %s",
                                 where, ssl_mode_names[params->ssl_mode],
                                 params->ssl_ca ? ", ssl_ca " : "",
                                 params->ssl_ca ? params->ssl_ca : "",
                                 mysql_error(db));
                else
                        snprintf(errstr, errstr_size, "%s: %s", where,
                                 mysql_error(db));
                mysql_close(db);
                return NULL;
        }
        if (params->ssl_mode != CS_SSL_DISABLED && !mysql_get_ssl_cipher(db)) {
                snprintf(errstr, errstr_size, "%s (ssl_mode %s): the connection "
                         "is not encrypted", where,
                         ssl_mode_names[params->ssl_mode]);
                mysql_close(db);
                return NULL;
        }
        /* TIMESTAMP columns are read and written as UTC; strict mode makes
         * truncation an error instead of a silent change. */
        if (cs_db_exec(db, "SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci, "
                           "time_zone = '+00:00', sql_mode = "
                           "'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,"
                           "NO_ENGINE_SUBSTITUTION'",
                       errstr, errstr_size) == -1) {
                mysql_close(db);
                return NULL;
        }
        return db;
}

int cs_db_exec(MYSQL *db, const char *sql, char *errstr, size_t errstr_size)
{
        if (mysql_real_query(db, sql, strlen(sql)) != 0) {
                snprintf(errstr, errstr_size, "%s", mysql_error(db));
                return -1;
        }
        /* Drain every result set a statement may produce. */
        do {
                MYSQL_RES *res = mysql_store_result(db);
                if (res)
                        mysql_free_result(res);
                else if (mysql_field_count(db) != 0) {
                        snprintf(errstr, errstr_size, "%s", mysql_error(db));
                        return -1;
                }
        } while (mysql_next_result(db) == 0);
        if (mysql_errno(db)) {
                snprintf(errstr, errstr_size, "%s", mysql_error(db));
                return -1;
        }
        return 0;
}

/* Fills bind[] (and lengths[]) for params; values stay borrowed. */
static void bind_params(MYSQL_BIND *bind, unsigned long *lengths,
                        const cs_db_value_t *params, size_t n)
{
        memset(bind, 0, n * sizeof(*bind));
        for (size_t i = 0; i < n; i++) {
                switch (params[i].kind) {
                case CS_VAL_NULL:
                        bind[i].buffer_type = MYSQL_TYPE_NULL;
                        break;
                case CS_VAL_INT:
                        bind[i].buffer_type = MYSQL_TYPE_LONGLONG;
                        bind[i].buffer = (void *)&params[i].i;
                        break;
                case CS_VAL_STR:
                case CS_VAL_BIN:
                        bind[i].buffer_type = params[i].kind == CS_VAL_STR ?
                                              MYSQL_TYPE_STRING : MYSQL_TYPE_BLOB;
                        bind[i].buffer = (void *)(params[i].s ? params[i].s : "");
                        lengths[i] = params[i].len;
                        bind[i].buffer_length = params[i].len;
                        bind[i].length = &lengths[i];
                        break;
                }
        }
}

int cs_db_exec_params(MYSQL *db, const char *sql, const cs_db_value_t *params,
                      size_t n, unsigned long long *affected,
                      unsigned long long *insert_id, char *errstr,
                      size_t errstr_size)
{
        MYSQL_STMT *stmt = mysql_stmt_init(db);
        MYSQL_BIND *bind = NULL;
        unsigned long *lengths = NULL;
        int rc = -1;

        if (!stmt) {
                snprintf(errstr, errstr_size, "%s", mysql_error(db));
                return -1;
        }
        if (mysql_stmt_prepare(stmt, sql, strlen(sql)) != 0)
                goto stmt_error;
        if (mysql_stmt_param_count(stmt) != n) {
                snprintf(errstr, errstr_size,
                         "statement expects %lu values, %zu given",
                         mysql_stmt_param_count(stmt), n);
                goto done;
        }
        if (n > 0) {
                bind = calloc(n, sizeof(*bind));
                lengths = calloc(n, sizeof(*lengths));
                if (!bind || !lengths) {
                        snprintf(errstr, errstr_size, "out of memory");
                        goto done;
                }
                bind_params(bind, lengths, params, n);
                if (mysql_stmt_bind_param(stmt, bind) != 0)
                        goto stmt_error;
        }
        if (mysql_stmt_execute(stmt) != 0)
                goto stmt_error;
        if (mysql_stmt_field_count(stmt) > 0) {
                mysql_stmt_store_result(stmt);
                mysql_stmt_free_result(stmt);
        }
        if (affected)
                *affected = (unsigned long long)mysql_stmt_affected_rows(stmt);
        if (insert_id)
                *insert_id = (unsigned long long)mysql_stmt_insert_id(stmt);
        rc = 0;
        goto done;

stmt_error:
        snprintf(errstr, errstr_size, "%s", mysql_stmt_error(stmt));
done:
        free(bind);
        free(lengths);
        mysql_stmt_close(stmt);
        return rc;
}

MYSQL_RES *cs_db_query(MYSQL *db, const char *sql, char *errstr,
                       size_t errstr_size)
{
        MYSQL_RES *res;

        if (mysql_real_query(db, sql, strlen(sql)) != 0 ||
            !(res = mysql_store_result(db))) {
                snprintf(errstr, errstr_size, "%s", mysql_errno(db) ?
                         mysql_error(db) : "query returned no result set");
                return NULL;
        }
        return res;
}

MYSQL_RES *cs_db_query_stream(MYSQL *db, const char *sql, char *errstr,
                              size_t errstr_size)
{
        MYSQL_RES *res;

        if (mysql_real_query(db, sql, strlen(sql)) != 0 ||
            !(res = mysql_use_result(db))) {
                snprintf(errstr, errstr_size, "%s", mysql_errno(db) ?
                         mysql_error(db) : "query returned no result set");
                return NULL;
        }
        return res;
}

int cs_db_query_int(MYSQL *db, const char *sql, long long *out, char *errstr,
                    size_t errstr_size)
{
        MYSQL_RES *res = cs_db_query(db, sql, errstr, errstr_size);
        MYSQL_ROW row;

        if (!res)
                return -1;
        row = mysql_fetch_row(res);
        *out = (row && row[0]) ? strtoll(row[0], NULL, 10) : 0;
        mysql_free_result(res);
        return 0;
}

/* Server and client errors that say nothing about the statement's data:
 * the master is busy, failing over, short of a resource or gone. */
static const unsigned int transient_errnos[] = {
        /* connection */
        CR_CONNECTION_ERROR, CR_CONN_HOST_ERROR, CR_SERVER_GONE_ERROR,
        CR_SERVER_LOST, CR_SERVER_LOST_EXTENDED, ER_SERVER_SHUTDOWN,
        ER_CON_COUNT_ERROR, ER_TOO_MANY_USER_CONNECTIONS, ER_CONNECTION_KILLED,
        ER_QUERY_INTERRUPTED,
        /* concurrency */
        ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT, ER_LOCK_TABLE_FULL,
        ER_LOCK_ABORTED, ER_CHECKREAD, ER_CANT_LOCK,
        /* files, temporary tables, memory, disk */
        ER_CANT_CREATE_FILE, ER_CANT_DELETE_FILE, ER_CANT_GET_STAT,
        ER_CANT_OPEN_FILE, ER_FILE_NOT_FOUND, ER_DISK_FULL, ER_ERROR_ON_READ,
        ER_ERROR_ON_RENAME, ER_ERROR_ON_WRITE, ER_OUTOFMEMORY,
        ER_OUT_OF_RESOURCES, ER_RECORD_FILE_FULL, ER_TEMP_FILE_WRITE_FAILURE,
        ER_GET_TEMPORARY_ERRMSG,
        /* read-only during a failover */
        ER_OPTION_PREVENTS_STATEMENT, ER_READ_ONLY_MODE,
};

/* Errors below 1000 are the server's mysys file errors (EE_*: 1 can't
 * create/write to file, 3 error writing, 6 "Error on delete of
 * '/tmp/#sql-temptable-...' (Errcode: 2)", 20 disk full, 23 out of file
 * resources...): about the server's files, never the data. Except these,
 * which name a configuration mistake: */
#define EE_LINK_WARNING       18
#define EE_OPEN_WARNING       19
#define EE_UNKNOWN_CHARSET    22
#define EE_UNKNOWN_COLLATION  28
#define EE_LAST               35

/* OS errnos that make ER_GET_ERRNO ("Got error N from storage engine")
 * transient; other numbers (the engine's own, e.g. 139 row too large)
 * are about the row. */
static const int transient_os_errnos[] = { 2, 5, 11, 12, 24, 28, 122 };

int cs_db_error_transient(unsigned int err, const char *message)
{
        if (err >= 1 && err <= EE_LAST)
                return err != EE_UNKNOWN_CHARSET && err != EE_UNKNOWN_COLLATION &&
                       err != EE_LINK_WARNING && err != EE_OPEN_WARNING;
        for (size_t i = 0; i < sizeof(transient_errnos) / sizeof(transient_errnos[0]); i++)
                if (transient_errnos[i] == err)
                        return 1;
        if (err == ER_GET_ERRNO && message) {
                const char *p = strstr(message, "Got error ");
                if (p) {
                        int os = atoi(p + strlen("Got error "));
                        for (size_t i = 0; i < sizeof(transient_os_errnos) /
                                               sizeof(transient_os_errnos[0]); i++)
                                if (transient_os_errnos[i] == os)
                                        return 1;
                }
        }
        return 0;
}

int cs_db_errno_transient(unsigned int err)
{
        return cs_db_error_transient(err, NULL);
}

int cs_db_ident_valid(const char *name)
{
        size_t n = 0;

        if (!name)
                return 0;
        for (; name[n]; n++) {
                char c = name[n];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == '_'))
                        return 0;
        }
        return n >= 1 && n <= 64;
}

/* ---- prepared statement cache ---- */

#define CACHE_SLOTS 1024

typedef struct cache_entry_s {
        char *sql;
        MYSQL_STMT *stmt;
} cache_entry_t;

struct cs_db_cache_s {
        MYSQL *db;
        cache_entry_t slots[CACHE_SLOTS];
        size_t used;
        MYSQL_BIND *bind;
        unsigned long *lengths;
        size_t bind_cap;
};

static unsigned long hash_sql(const char *s)
{
        unsigned long h = 5381;
        while (*s)
                h = h * 33 + (unsigned char)*s++;
        return h;
}

cs_db_cache_t *cs_db_cache_new(MYSQL *db)
{
        cs_db_cache_t *cache = calloc(1, sizeof(*cache));
        if (cache)
                cache->db = db;
        return cache;
}

static void cache_clear(cs_db_cache_t *cache)
{
        for (size_t i = 0; i < CACHE_SLOTS; i++) {
                if (cache->slots[i].stmt)
                        mysql_stmt_close(cache->slots[i].stmt);
                free(cache->slots[i].sql);
                cache->slots[i].stmt = NULL;
                cache->slots[i].sql = NULL;
        }
        cache->used = 0;
}

void cs_db_cache_reset(cs_db_cache_t *cache, MYSQL *db)
{
        /* Statements of a dead connection cannot be closed on the server;
         * mysql_stmt_close only frees them locally then. */
        cache_clear(cache);
        cache->db = db;
}

void cs_db_cache_free(cs_db_cache_t *cache)
{
        if (!cache)
                return;
        cache_clear(cache);
        free(cache->bind);
        free(cache->lengths);
        free(cache);
}

static MYSQL_STMT *cache_get(cs_db_cache_t *cache, const char *sql,
                             unsigned int *db_errno, char *errstr,
                             size_t errstr_size)
{
        unsigned long h = hash_sql(sql) % CACHE_SLOTS;
        MYSQL_STMT *stmt;

        for (size_t probe = 0; probe < CACHE_SLOTS; probe++) {
                cache_entry_t *e = &cache->slots[(h + probe) % CACHE_SLOTS];
                if (!e->sql)
                        break;
                if (!strcmp(e->sql, sql))
                        return e->stmt;
        }
        if (cache->used >= CACHE_SLOTS / 2)
                cache_clear(cache);
        if (!(stmt = mysql_stmt_init(cache->db))) {
                *db_errno = mysql_errno(cache->db);
                snprintf(errstr, errstr_size, "%s", mysql_error(cache->db));
                return NULL;
        }
        if (mysql_stmt_prepare(stmt, sql, strlen(sql)) != 0) {
                *db_errno = mysql_stmt_errno(stmt);
                snprintf(errstr, errstr_size, "%s", mysql_stmt_error(stmt));
                mysql_stmt_close(stmt);
                return NULL;
        }
        for (size_t probe = 0; probe < CACHE_SLOTS; probe++) {
                cache_entry_t *e = &cache->slots[(h + probe) % CACHE_SLOTS];
                if (!e->sql) {
                        if (!(e->sql = strdup(sql))) {
                                mysql_stmt_close(stmt);
                                snprintf(errstr, errstr_size, "out of memory");
                                return NULL;
                        }
                        e->stmt = stmt;
                        cache->used++;
                        return stmt;
                }
        }
        mysql_stmt_close(stmt);
        snprintf(errstr, errstr_size, "statement cache full");
        return NULL;
}

/* Prepares (through the cache), binds and executes sql. NULL on error. */
static MYSQL_STMT *run_prepared(cs_db_cache_t *cache, const char *sql,
                                const cs_db_value_t *params, size_t n,
                                unsigned int *db_errno, char *errstr,
                                size_t errstr_size)
{
        MYSQL_STMT *stmt;

        *db_errno = 0;
        if (!(stmt = cache_get(cache, sql, db_errno, errstr, errstr_size)))
                return NULL;
        if (mysql_stmt_param_count(stmt) != n) {
                snprintf(errstr, errstr_size,
                         "statement expects %lu values, %zu given",
                         mysql_stmt_param_count(stmt), n);
                return NULL;
        }
        if (n > cache->bind_cap) {
                MYSQL_BIND *b = realloc(cache->bind, n * sizeof(*b));
                unsigned long *l;
                if (b)
                        cache->bind = b;
                l = realloc(cache->lengths, n * sizeof(*l));
                if (l)
                        cache->lengths = l;
                if (!b || !l) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return NULL;
                }
                cache->bind_cap = n;
        }
        if (n > 0) {
                bind_params(cache->bind, cache->lengths, params, n);
                if (mysql_stmt_bind_param(stmt, cache->bind) != 0)
                        goto stmt_error;
        }
        if (mysql_stmt_execute(stmt) != 0)
                goto stmt_error;
        return stmt;

stmt_error:
        *db_errno = mysql_stmt_errno(stmt);
        snprintf(errstr, errstr_size, "%s", mysql_stmt_error(stmt));
        mysql_stmt_reset(stmt);
        return NULL;
}

/* Binds `cols` LONGLONG result columns of stmt to values[]/nulls[]. */
static int bind_int_results(MYSQL_STMT *stmt, MYSQL_BIND *out, size_t cols,
                            long long *values, my_bool *nulls)
{
        memset(out, 0, cols * sizeof(*out));
        for (size_t i = 0; i < cols; i++) {
                out[i].buffer_type = MYSQL_TYPE_LONGLONG;
                out[i].buffer = &values[i];
                out[i].is_null = &nulls[i];
        }
        return mysql_stmt_bind_result(stmt, out) != 0 ? -1 : 0;
}

int cs_db_run(cs_db_cache_t *cache, const char *sql,
              const cs_db_value_t *params, size_t n,
              unsigned long long *affected, unsigned long long *insert_id,
              long long *first_int, int *found, unsigned int *db_errno,
              char *errstr, size_t errstr_size)
{
        unsigned int dummy_errno;
        MYSQL_STMT *stmt;

        if (!db_errno)
                db_errno = &dummy_errno;
        if (found)
                *found = 0;
        if (!(stmt = run_prepared(cache, sql, params, n, db_errno, errstr,
                                  errstr_size)))
                return -1;
        if (mysql_stmt_field_count(stmt) > 0) {
                long long value = 0;
                my_bool is_null = 0;
                MYSQL_BIND out;
                int frc;

                if (bind_int_results(stmt, &out, 1, &value, &is_null) == -1)
                        goto stmt_error;
                frc = mysql_stmt_fetch(stmt);
                if (frc == 0 || frc == MYSQL_DATA_TRUNCATED) {
                        if (found)
                                *found = 1;
                        if (first_int)
                                *first_int = is_null ? 0 : value;
                } else if (frc == 1) {
                        goto stmt_error;
                }
                mysql_stmt_free_result(stmt);
        }
        if (affected)
                *affected = (unsigned long long)mysql_stmt_affected_rows(stmt);
        if (insert_id)
                *insert_id = (unsigned long long)mysql_stmt_insert_id(stmt);
        return 0;

stmt_error:
        *db_errno = mysql_stmt_errno(stmt);
        snprintf(errstr, errstr_size, "%s", mysql_stmt_error(stmt));
        mysql_stmt_reset(stmt);
        return -1;
}

int cs_db_run_rows(cs_db_cache_t *cache, const char *sql,
                   const cs_db_value_t *params, size_t n, size_t ncols,
                   void (*row_cb)(void *ctx, const long long *values),
                   void *ctx, unsigned int *db_errno, char *errstr,
                   size_t errstr_size)
{
        unsigned int dummy_errno;
        long long values[CS_DB_ROW_COLS_MAX], out_values[CS_DB_ROW_COLS_MAX];
        my_bool nulls[CS_DB_ROW_COLS_MAX];
        MYSQL_BIND out[CS_DB_ROW_COLS_MAX];
        MYSQL_STMT *stmt;
        int frc;

        if (!db_errno)
                db_errno = &dummy_errno;
        if (ncols == 0 || ncols > CS_DB_ROW_COLS_MAX) {
                snprintf(errstr, errstr_size, "%zu result columns unsupported",
                         ncols);
                *db_errno = 0;
                return -1;
        }
        if (!(stmt = run_prepared(cache, sql, params, n, db_errno, errstr,
                                  errstr_size)))
                return -1;
        if (mysql_stmt_field_count(stmt) != ncols) {
                snprintf(errstr, errstr_size, "statement must select %zu columns",
                         ncols);
                mysql_stmt_free_result(stmt);
                return -1;
        }
        if (bind_int_results(stmt, out, ncols, values, nulls) == -1)
                goto stmt_error;
        while ((frc = mysql_stmt_fetch(stmt)) == 0 || frc == MYSQL_DATA_TRUNCATED) {
                for (size_t i = 0; i < ncols; i++)
                        out_values[i] = nulls[i] ? 0 : values[i];
                row_cb(ctx, out_values);
        }
        if (frc == 1)
                goto stmt_error;
        mysql_stmt_free_result(stmt);
        return 0;

stmt_error:
        *db_errno = mysql_stmt_errno(stmt);
        snprintf(errstr, errstr_size, "%s", mysql_stmt_error(stmt));
        mysql_stmt_free_result(stmt);
        mysql_stmt_reset(stmt);
        return -1;
}

int cs_db_append(char *buf, size_t size, const char *fmt, ...)
{
        size_t len = strlen(buf);
        va_list ap;
        int n;

        if (len + 1 >= size)
                return -1;
        va_start(ap, fmt);
        n = vsnprintf(buf + len, size - len, fmt, ap);
        va_end(ap);
        return n < 0 || (size_t)n >= size - len ? -1 : 0;
}
