/* bulk.h — rows of one master table gathered for multi-row INSERT statements. */
#ifndef CS_BULK_H
#define CS_BULK_H

#include <stddef.h>
#include "capacity.h"
#include "db.h"

/* Rows with one fixed column list. Values are copied as cs_db_value_t
 * structs: their strings stay borrowed (the caller keeps the documents
 * alive) unless handed over with cs_bulk_own. */
typedef struct cs_bulk_s {
        const char *table;              /* borrowed, a validated identifier */
        const char *cols[CS_LIMIT_COLUMNS]; /* borrowed column names */
        size_t ncols;
        cs_db_value_t *vals;            /* rows * ncols */
        long long *tags;                /* per row: the caller's tag */
        long long *ids;                 /* per row: the new AUTO_INCREMENT id
                                           (after cs_bulk_insert) */
        size_t rows, cap;
        size_t bytes;                   /* string bytes held, for batch limits */
        char **owned;
        size_t owned_n, owned_cap;
} cs_bulk_t;

/* Starts (or restarts) b for table with the given columns: at most
 * CS_LIMIT_COLUMNS (the consumer refuses wider master tables at start-up). */
void cs_bulk_init(cs_bulk_t *b, const char *table, const char *const *cols,
                  size_t ncols);
/* Frees rows and owned strings; b can be re-initialised. */
void cs_bulk_clear(cs_bulk_t *b);
/* 1 if b has exactly this column list. */
int cs_bulk_same_cols(const cs_bulk_t *b, const char *const *cols, size_t ncols);
/* Appends one row (ncols values) tagged `tag`. 0, or -1 out of memory. */
int cs_bulk_add(cs_bulk_t *b, const cs_db_value_t *vals, long long tag);
/* Drops the rows from `rows` on and the owned strings from `owned_n` on
 * (undoes cs_bulk_add/cs_bulk_own calls made after reading those counts). */
void cs_bulk_truncate(cs_bulk_t *b, size_t rows, size_t owned_n);
/* Keeps p (malloc'd) until cs_bulk_clear. 0, or -1 (p freed). */
int cs_bulk_own(cs_bulk_t *b, char *p);
/* Value of column col of row r. */
cs_db_value_t *cs_bulk_value(cs_bulk_t *b, size_t r, size_t col);

/* Rows of the next statement when `left` rows of ncols columns remain: the
 * largest power of two <= left, <= 64 and within the placeholder limit
 * (at least 1). */
size_t cs_bulk_chunk_rows(size_t left, size_t ncols);

/* Inserts every row with multi-row INSERT statements (row counts in powers
 * of two up to 64, so a handful of statement texts are cached) and stores
 * the new ids in b->ids: the server hands a multi-row INSERT consecutive
 * AUTO_INCREMENT values step apart (innodb_autoinc_lock_mode 0 or 1; the
 * caller checks). with_ids = 0 for tables without AUTO_INCREMENT (ids
 * untouched). Every row's insert is checked: a statement that inserts fewer
 * rows than it carries is an error. Returns 0, or -1 with errstr and
 * *db_errno (0 when not a server error). */
int cs_bulk_insert(cs_bulk_t *b, cs_db_cache_t *cache, int with_ids,
                   long long step, unsigned int *db_errno, char *errstr,
                   size_t errstr_size);

#endif
