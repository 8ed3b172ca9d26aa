/* prefix.h — validation of child prefixes and of the names built from them. */
#ifndef CS_PREFIX_H
#define CS_PREFIX_H

#include <stddef.h>

#define CS_PREFIX_MAX 32

/* 1 if s matches [A-Za-z0-9_]{1,32}, else 0. NULL is invalid. */
int cs_prefix_valid(const char *s);

/* Writes "<base><prefix>" (e.g. "mapping_master_" + "P1") into out after
 * validating prefix. Returns 0, or -1 with errstr naming the bad prefix. */
int cs_prefix_table_name(char *out, size_t out_size, const char *base,
                         const char *prefix, char *errstr, size_t errstr_size);

#endif
