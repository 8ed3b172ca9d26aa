/* prefix.c — validation of child prefixes ([A-Za-z0-9_]{1,32}) and names built from them. */
#include "prefix.h"

#include <stdio.h>
#include <string.h>

int cs_prefix_valid(const char *s)
{
        size_t n = 0;

        if (!s)
                return 0;
        for (; s[n]; n++) {
                unsigned char c = (unsigned char)s[n];
                int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                         (c >= '0' && c <= '9') || c == '_';
                if (!ok || n >= CS_PREFIX_MAX)
                        return 0;
        }
        return n >= 1;
}

int cs_prefix_table_name(char *out, size_t out_size, const char *base,
                         const char *prefix, char *errstr, size_t errstr_size)
{
        if (!cs_prefix_valid(prefix)) {
                snprintf(errstr, errstr_size,
                         "invalid prefix '%.64s': must match [A-Za-z0-9_]{1,%d}",
                         prefix ? prefix : "(null)", CS_PREFIX_MAX);
                return -1;
        }
        if (!base)
                base = "";
        int n = snprintf(out, out_size, "%s%s", base, prefix);
        if (n < 0 || (size_t)n >= out_size) {
                snprintf(errstr, errstr_size,
                         "name '%s%s' does not fit in %zu bytes", base, prefix,
                         out_size);
                return -1;
        }
        if (n > 64) {
                snprintf(errstr, errstr_size,
                         "table name '%s' is longer than MariaDB's 64 characters",
                         out);
                return -1;
        }
        return 0;
}
