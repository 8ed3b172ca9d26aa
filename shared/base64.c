/* base64.c — RFC 4648 base64 encode/decode, strict on input. */
#include "base64.h"

#include <stdlib.h>

static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *cs_b64_encode(const unsigned char *in, size_t n, size_t *out_len)
{
        size_t len = (n + 2) / 3 * 4;
        char *out = malloc(len + 1);
        if (!out)
                return NULL;
        size_t o = 0, i = 0;
        for (; i + 3 <= n; i += 3) {
                unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
                out[o++] = alphabet[v >> 18 & 63];
                out[o++] = alphabet[v >> 12 & 63];
                out[o++] = alphabet[v >> 6 & 63];
                out[o++] = alphabet[v & 63];
        }
        if (n - i == 1) {
                unsigned v = (unsigned)in[i] << 16;
                out[o++] = alphabet[v >> 18 & 63];
                out[o++] = alphabet[v >> 12 & 63];
                out[o++] = '=';
                out[o++] = '=';
        } else if (n - i == 2) {
                unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
                out[o++] = alphabet[v >> 18 & 63];
                out[o++] = alphabet[v >> 12 & 63];
                out[o++] = alphabet[v >> 6 & 63];
                out[o++] = '=';
        }
        out[o] = '\0';
        if (out_len)
                *out_len = o;
        return out;
}

static int b64_val(char c)
{
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+')
                return 62;
        if (c == '/')
                return 63;
        return -1;
}

int cs_b64_decode(const char *in, size_t n, unsigned char **out,
                  size_t *out_len)
{
        if (n % 4 != 0)
                return -1;
        unsigned char *buf = malloc(n / 4 * 3 + 1);
        if (!buf)
                return -1;
        size_t o = 0;
        for (size_t i = 0; i < n; i += 4) {
                int v[4], pad = 0;
                for (int k = 0; k < 4; k++) {
                        if (in[i + k] == '=' && i + 4 == n && k >= 2) {
                                v[k] = 0;
                                pad++;
                                continue;
                        }
                        if (pad) /* data after padding */
                                goto bad;
                        v[k] = b64_val(in[i + k]);
                        if (v[k] < 0)
                                goto bad;
                }
                unsigned w = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 |
                             (unsigned)v[2] << 6 | (unsigned)v[3];
                /* canonical form: bits dropped by padding must be zero */
                if ((pad == 1 && (w & 0xFF)) || (pad == 2 && (w & 0xFFFF)))
                        goto bad;
                buf[o++] = (unsigned char)(w >> 16);
                if (pad < 2)
                        buf[o++] = (unsigned char)(w >> 8);
                if (pad < 1)
                        buf[o++] = (unsigned char)w;
        }
        *out = buf;
        *out_len = o;
        return 0;
bad:
        free(buf);
        return -1;
}
