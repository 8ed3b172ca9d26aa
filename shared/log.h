/* log.h — leveled, timestamped logging to stderr for every civisync program. */
#ifndef CS_LOG_H
#define CS_LOG_H

#include <librdkafka/rdkafka.h>

typedef enum {
        CS_LOG_ERROR = 0,
        CS_LOG_WARN  = 1,
        CS_LOG_INFO  = 2,
        CS_LOG_DEBUG = 3
} cs_log_level_t;

/* Current threshold; messages above it are not formatted at all. */
extern cs_log_level_t cs_log_threshold;

/* Sets the program name shown in every line (borrowed: must outlive logging). */
void cs_log_init(const char *program);
void cs_log_set_level(cs_log_level_t level);
/* -v raises, -q lowers the threshold by one step (clamped). */
void cs_log_more(void);
void cs_log_less(void);

/* Writes "2026-11-26T03:55:12.123Z civisync-produce[123] INFO: text\n" to stderr.
 * Control characters, DEL and invalid UTF-8 bytes in text are escaped (\n,
 * \x1b, ...): a document's key cannot forge a record or a terminal sequence. */
void cs_log_write(cs_log_level_t level, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

#define cs_log(level, ...)                                                     \
        do {                                                                   \
                if ((level) <= cs_log_threshold)                               \
                        cs_log_write((level), __VA_ARGS__);                    \
        } while (0)
#define cs_error(...) cs_log(CS_LOG_ERROR, __VA_ARGS__)
#define cs_warn(...)  cs_log(CS_LOG_WARN, __VA_ARGS__)
#define cs_info(...)  cs_log(CS_LOG_INFO, __VA_ARGS__)
#define cs_debug(...) cs_log(CS_LOG_DEBUG, __VA_ARGS__)

/* librdkafka log_cb: routes librdkafka's syslog-level logs through cs_log. */
void cs_log_rdkafka(const rd_kafka_t *rk, int level, const char *fac,
                    const char *buf);

#endif
