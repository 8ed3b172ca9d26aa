/* log.c — leveled, timestamped logging to stderr, one write per line, control characters escaped. */
#include "log.h"
#include "progress.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

cs_log_level_t cs_log_threshold = CS_LOG_INFO;

static const char *log_program = "civisync";

static const char *const level_words[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void cs_log_init(const char *program)
{
        if (program && *program)
                log_program = program;
}

void cs_log_set_level(cs_log_level_t level)
{
        if ((int)level < (int)CS_LOG_ERROR)
                level = CS_LOG_ERROR;
        if ((int)level > (int)CS_LOG_DEBUG)
                level = CS_LOG_DEBUG;
        cs_log_threshold = level;
}

void cs_log_more(void)
{
        cs_log_set_level((cs_log_level_t)((int)cs_log_threshold + 1));
}

void cs_log_less(void)
{
        cs_log_set_level((cs_log_level_t)((int)cs_log_threshold - 1));
}

/* Length of the valid UTF-8 sequence at s (1 to 4), or 0 when the byte at s
 * does not start one (stray continuation, overlong form, surrogate, beyond
 * U+10FFFF, or cut short). */
static size_t utf8_seq_len(const unsigned char *s)
{
        unsigned char c = s[0];
        size_t n;
        unsigned lo = 0x80, hi = 0xBF;

        if (c >= 0xC2 && c <= 0xDF)
                n = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
                n = 3;
                if (c == 0xE0)
                        lo = 0xA0; /* overlong */
                else if (c == 0xED)
                        hi = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
                n = 4;
                if (c == 0xF0)
                        lo = 0x90;
                else if (c == 0xF4)
                        hi = 0x8F;
        } else
                return 0;
        if (s[1] < lo || s[1] > hi)
                return 0;
        for (size_t i = 2; i < n; i++)
                if (s[i] < 0x80 || s[i] > 0xBF)
                        return 0;
        return n;
}

/* Copies in to out (out_size >= 4 * strlen(in) + 1) so that a record is one
 * line of printable text whatever a document's keys or values hold: \n \r \t
 * and a backslash-x form for other control characters, DEL and bytes that
 * are not valid UTF-8. Backslashes themselves are kept as they are. */
static void log_escape(char *out, const char *in)
{
        const unsigned char *s = (const unsigned char *)in;
        static const char hex[] = "0123456789abcdef";

        while (*s) {
                unsigned char c = *s;
                if (c >= 0x20 && c < 0x7F) {
                        *out++ = (char)c;
                        s++;
                        continue;
                }
                if (c >= 0x80) {
                        size_t n = utf8_seq_len(s);
                        if (n) {
                                memcpy(out, s, n);
                                out += n;
                                s += n;
                                continue;
                        }
                }
                *out++ = '\\';
                if (c == '\n')
                        *out++ = 'n';
                else if (c == '\r')
                        *out++ = 'r';
                else if (c == '\t')
                        *out++ = 't';
                else {
                        *out++ = 'x';
                        *out++ = hex[c >> 4];
                        *out++ = hex[c & 0xF];
                }
                s++;
        }
        *out = '\0';
}

void cs_log_write(cs_log_level_t level, const char *fmt, ...)
{
        char msg[2048];
        char safe[sizeof(msg) * 4];
        char stamp[32];
        struct timeval tv;
        struct tm tm;
        va_list ap;
        int lvl = (int)level;

        if (lvl < (int)CS_LOG_ERROR)
                lvl = CS_LOG_ERROR;
        if (lvl > (int)CS_LOG_DEBUG)
                lvl = CS_LOG_DEBUG;

        va_start(ap, fmt);
        int n = vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (n < 0)
                snprintf(msg, sizeof(msg), "(unformattable log message)");
        else if ((size_t)n >= sizeof(msg))
                memcpy(msg + sizeof(msg) - 5, "...", 4); /* mark truncation */

        /* Strip trailing newlines so every record is exactly one line. */
        size_t len = strlen(msg);
        while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
                msg[--len] = '\0';

        log_escape(safe, msg);

        gettimeofday(&tv, NULL);
        gmtime_r(&tv.tv_sec, &tm);
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);

        /* A single fprintf per line: stdio locks the stream for the call.
         * A progress line on the terminal is erased first (redrawn by its
         * next update). */
        cs_progress_clear();
        fprintf(stderr, "%s.%03dZ %s[%ld] %s: %s\n", stamp,
                (int)(tv.tv_usec / 1000), log_program, (long)getpid(),
                level_words[lvl], safe);
}

void cs_log_rdkafka(const rd_kafka_t *rk, int level, const char *fac,
                    const char *buf)
{
        cs_log_level_t l;

        (void)rk;
        if (level <= 3)
                l = CS_LOG_ERROR;
        else if (level == 4)
                l = CS_LOG_WARN;
        else if (level <= 6)
                l = CS_LOG_INFO;
        else
                l = CS_LOG_DEBUG;
        cs_log(l, "rdkafka %s: %s", fac ? fac : "?", buf ? buf : "");
}
