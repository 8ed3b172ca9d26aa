/* harness.h — integration-test helpers: databases, configs, running the programs. */
#ifndef CS_IT_HARNESS_H
#define CS_IT_HARNESS_H

#include <mysql.h>
#include <stddef.h>

/* The output of one program run. */
typedef struct it_run_s {
        int exit_code;     /* -1 if killed by a signal */
        char *out;         /* stdout, NUL-terminated (malloc'd) */
        char *err;         /* stderr */
} it_run_t;

/* A unique name for this run: "<base>_<pid>_<counter>". */
void it_unique(char *out, size_t size, const char *base);
/* tests/lib/make-db.sh NAME ARGS...; aborts the test on failure. */
void it_make_db(const char *name, const char *args);
/* Connects to database db on the harness server (aborts on failure). */
MYSQL *it_connect(const char *db);
/* Single integer from a query: the first column of the first row, 0 when
 * there is no row; a NULL value, like an SQL error, fails the test. */
long long it_int(MYSQL *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Runs static SQL (aborts on error). */
void it_exec(MYSQL *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A checksum over every row of table (CHECKSUM TABLE ... EXTENDED). */
long long it_checksum(MYSQL *db, const char *table);
/* Copies the child database's reserved price fields and options into db
 * (INSERT IGNORE): CiviCRM creates the reserved membership price set's
 * field and an option per membership type with the types, so a master
 * given the child's membership types needs them too (site metadata,
 * FORMAT.md §12, §22). */
void it_copy_reserved_prices(MYSQL *db, const char *child);

/* Writes a producer config for prefix/child db into the temp dir; returns
 * its path (static buffer per call slot). extra is appended verbatim. */
char *it_producer_conf(const char *prefix, const char *child_db,
                       const char *extra);
/* Writes a consumer config for master db; extra appended verbatim. */
char *it_consumer_conf(const char *master_db, const char *extra);

/* Runs bin/PROGRAM with args (NULL-terminated), capturing output. */
it_run_t it_run(const char *program, ...) __attribute__((sentinel));
void it_run_free(it_run_t *run);

/* Pre-creates topic NAME with partitions in the harness broker (through
 * its --control FIFO, $CS_TEST_BROKER_CONTROL; the mock cluster has no
 * CreateTopics). Idempotent enough for tests: call once per topic. */
void it_topic(const char *name, int partitions);
/* Delays every answer of every harness broker by rtt_ms (0: none again).
 * The broker is shared by the whole run: a test that sets it resets it
 * before its assertions. */
void it_broker_rtt(int rtt_ms);

/* The tables whose rows reach the master (NULL-terminated). */
extern const char *const it_synced_tables[];
/* Rows of table in a child that civisync syncs (nested rows need their
 * contact; location-block emails etc. have none). */
long long it_child_rows(MYSQL *child, const char *table);
/* Rows of table on the master that prefix's mapping names. */
long long it_mapped_rows(MYSQL *master, const char *prefix, const char *table);
/* Every synced table: child rows == mapped master rows, then the content
 * check it_assert_same (the test fails if not). */
void it_assert_synced(MYSQL *child, MYSQL *master, const char *prefix);
/* The independent oracle (tests/lib/oracle.c): every synced row of child_db,
 * column by column, against the master row prefix's mapping names, with
 * references translated by the tests' own rules. Fails the test with the
 * first differing lines; returns the number of child rows compared (> 0). */
long it_assert_same(const char *child_db, const char *master_db, const char *prefix);

/* A digest of prefix's rows of table on the master: every column of every
 * mapped row, ids included, with the mapping itself ("<rows>:<md5>"). Equal
 * digests: not one byte of that prefix's rows (or mapping) changed. */
void it_prefix_digest(MYSQL *master, const char *prefix, const char *table,
                      char *out, size_t size);

/* Writes text to a file of that name in the harness's temp dir; returns its
 * path (a static buffer, one of 16 reused in turn). */
char *it_write_file(const char *name, const char *text);
/* The lines of the file at path, each with its newline (NEW array of NEW
 * strings, *n of them; free with it_lines_free). Fails the test when the
 * file cannot be read. */
char **it_read_lines(const char *path, size_t *n);
void it_lines_free(char **lines, size_t n);
/* Fresh unique names (buffers of size) for a master (schema 5) and a child
 * made with make-db.sh "--schema 5 CHILD_ARGS", both created; then topic
 * with partitions, unless topic is NULL. */
void it_master_and_child(char *master, char *child, size_t size,
                         const char *child_args, const char *topic,
                         int partitions);

/* The temp dir and broker of the harness. */
const char *it_tmpdir(void);
const char *it_brokers(void);

#endif
