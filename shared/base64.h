/* base64.h — RFC 4648 base64 (standard alphabet, padded) for binary column values. */
#ifndef CS_BASE64_H
#define CS_BASE64_H

#include <stddef.h>

/* Encodes n bytes into a malloc'd NUL-terminated string (caller frees);
 * *out_len (may be NULL) receives its length. NULL on allocation failure. */
char *cs_b64_encode(const unsigned char *in, size_t n, size_t *out_len);

/* Decodes strict base64 (standard alphabet, '=' padding required, no
 * whitespace) into a malloc'd buffer (caller frees; never NULL on success,
 * even for empty input). Returns 0, or -1 on malformed input or allocation
 * failure. */
int cs_b64_decode(const char *in, size_t n, unsigned char **out,
                  size_t *out_len);

#endif
