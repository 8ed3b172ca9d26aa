/* log.c — leveled, timestamped logging to stderr, one write per line. */
#include "log.h"

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

void cs_log_write(cs_log_level_t level, const char *fmt, ...)
{
        char msg[2048];
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

        gettimeofday(&tv, NULL);
        gmtime_r(&tv.tv_sec, &tm);
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);

        /* A single fprintf per line: stdio locks the stream for the call. */
        fprintf(stderr, "%s.%03dZ %s[%ld] %s: %s\n", stamp,
                (int)(tv.tv_usec / 1000), log_program, (long)getpid(),
                level_words[lvl], msg);
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
