/* schema.h — table shapes read from the live information_schema. */
#ifndef CS_SCHEMA_H
#define CS_SCHEMA_H

#include <stddef.h>
#include <mysql.h>

typedef enum {
        CS_COL_INT = 0,   /* tinyint..bigint, signed or unsigned */
        CS_COL_DECIMAL,   /* decimal/numeric: carried as a string */
        CS_COL_FLOAT,     /* float/double: carried as a JSON number */
        CS_COL_TEXT,      /* char/varchar/text/enum/set with a character set */
        CS_COL_BINARY,    /* binary/varbinary/blob: carried as base64 */
        CS_COL_DATE,
        CS_COL_DATETIME,
        CS_COL_TIMESTAMP,
        CS_COL_TIME,
        CS_COL_YEAR,
        CS_COL_BIT
} cs_col_type_t;

typedef struct cs_column_s {
        char *name;
        cs_col_type_t type;
        int nullable;
        int is_unsigned;
        int auto_increment;
        long long max_length; /* chars for text, bytes for binary, 0 if unbounded/unknown */
} cs_column_t;

typedef struct cs_table_s {
        char *name;
        cs_column_t *cols;   /* ordinal order */
        size_t col_cnt;
} cs_table_t;

/* Loads the columns of table in the connection's current database.
 * Returns 0 on success, 1 when the table does not exist (out untouched),
 * -1 on error. Free with cs_schema_free. */
int cs_schema_load(MYSQL *db, const char *table, cs_table_t *out,
                   char *errstr, size_t errstr_size);
/* The same; *db_errno (may be NULL) receives the server's error number of
 * a failed statement (0 for other errors), for cs_db_error_transient. */
int cs_schema_load_errno(MYSQL *db, const char *table, cs_table_t *out,
                         unsigned int *db_errno, char *errstr,
                         size_t errstr_size);
void cs_schema_free(cs_table_t *tbl);

/* 1 if table exists in the current database and has column col, 0 if
 * not, -1 on error. */
int cs_schema_has_column(MYSQL *db, const char *table, const char *col,
                         char *errstr, size_t errstr_size);
/* 1 if every (table, column) of a list ending in a NULL table exists
 * (the registry's cs_table_column_t), 0 if one does not, -1 on error. */
struct cs_table_column_s;
int cs_schema_has_columns(MYSQL *db, const struct cs_table_column_s *cols,
                          char *errstr, size_t errstr_size);

/* Index of the named column or -1. */
int cs_schema_col_index(const cs_table_t *tbl, const char *name);

/* Name of a column type for messages ("int", "timestamp"...). */
const char *cs_schema_type_name(cs_col_type_t type);

#endif
