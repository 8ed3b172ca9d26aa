/* conf.h — typed producer and consumer configuration loaded from libconfig files. */
#ifndef CS_CONF_H
#define CS_CONF_H

#include <stddef.h>
#include "prefix.h"

/* TLS to the database server (ssl_mode). */
typedef enum {
        CS_SSL_DISABLED = 0,   /* plain connection (no ssl_* key set) */
        CS_SSL_REQUIRED,       /* encrypted; the server's certificate is not checked */
        CS_SSL_VERIFY_CA,      /* encrypted; certificate signed by ssl_ca */
        CS_SSL_VERIFY_IDENTITY /* and issued for host (default when ssl_ca is set) */
} cs_ssl_mode_t;

/* Connection parameters for a MariaDB/MySQL server ("child" or "master" group). */
typedef struct cs_db_params_s {
        char *host;     /* default "127.0.0.1" unless socket is set */
        int port;       /* default 3306 */
        char *socket;   /* unix socket path, or NULL; only with host unset or
                         * "localhost" (any other host is a config error) */
        char *user;     /* required */
        char *password; /* may be NULL */
        char *database; /* required */
        cs_ssl_mode_t ssl_mode;
        char *ssl_ca;   /* PEM CA file, or NULL */
        char *ssl_cert; /* PEM client certificate, or NULL (with ssl_key) */
        char *ssl_key;  /* PEM client key, or NULL (with ssl_cert) */
} cs_db_params_t;

/* One librdkafka property, passed to rd_kafka_conf_set() unchanged. */
typedef struct cs_kafka_prop_s {
        char *name;
        char *value;
} cs_kafka_prop_t;

/* The "kafka" group. Producer uses brokers, topic_prefix and props;
 * the consumer also uses group and dead_letter_topic. */
typedef struct cs_kafka_params_s {
        char *brokers;            /* required (or -b) */
        char *topic_prefix;       /* default "civisync." */
        char *group;              /* default "civisync-master" */
        char *dead_letter_topic;  /* default "civisync.dead-letter"; never a
                                   * name the subscription would consume */
        cs_kafka_prop_t *props;   /* "properties" list, then properties_file
                                   * lines, then -X overrides */
        size_t prop_cnt;
} cs_kafka_params_t;

typedef struct cs_producer_conf_s {
        char *path;                  /* the file it was loaded from */
        char prefix[CS_PREFIX_MAX + 1];
        cs_db_params_t child;
        cs_kafka_params_t kafka;
        char *state_dir;             /* required */
        int lookback_seconds;        /* default 300 */
        size_t max_document_bytes;   /* default 1000000 */
        int batch_rows;              /* rows read per keyset page, default 2000 */
        int follow_interval_ms;      /* --follow: outbox poll period, default 200 */
        int reconcile_interval;      /* --follow: seconds between incremental runs, default 3600 */
        char *files_dir;             /* the child's custom files directory, or
                                      * NULL: file documents carry no bytes */
        size_t max_file_bytes;       /* larger files are reported, not sent;
                                      * default CS_FILE_DEFAULT_MAX_BYTES */
} cs_producer_conf_t;

typedef struct cs_consumer_conf_s {
        char *path;
        cs_db_params_t master;
        cs_kafka_params_t kafka;
        char **prefixes;             /* allow-list; prefix_cnt == 0 means all */
        size_t prefix_cnt;
        char **retired;              /* retired_prefixes: never consumed */
        size_t retired_cnt;
        int batch_documents;         /* documents per DB transaction, default 500 */
        size_t max_document_bytes;   /* default 1000000 */
        int multi_row_insert;        /* new rows in multi-row INSERTs, default 1 */
        /* Sweep guard: a complete sync's sweep that would remove more than
         * sweep_hold_percent % of a prefix's rows AND more than
         * sweep_hold_min_rows rows is held for the operator. */
        int sweep_hold_percent;      /* default 50, 100 = never hold */
        long long sweep_hold_min_rows; /* default 100 */
        /* Tombstones live this long on the data topics (their
         * delete.retention.ms); a partition resumed after a longer pause may
         * have missed deletes. 0 = no check. */
        long long tombstone_retention_seconds; /* default 604800 (7 days) */
        int retention_gap_resync;    /* on_retention_gap: 0 "stop", 1 "resync" */
        char *files_dir;             /* the master's custom files directory:
                                      * bytes go to <files_dir>/<PREFIX>/; NULL:
                                      * not stored (reported) */
} cs_consumer_conf_t;

/* Load and validate. On error returns -1 and errstr reads "FILE:LINE - text"
 * (or "FILE - text" when libconfig gives no line). conf is zeroed first and
 * must be freed with the matching _free even on error. */
int cs_conf_load_producer(const char *path, cs_producer_conf_t *conf,
                          char *errstr, size_t errstr_size);
int cs_conf_load_consumer(const char *path, cs_consumer_conf_t *conf,
                          char *errstr, size_t errstr_size);
void cs_conf_producer_free(cs_producer_conf_t *conf);
void cs_conf_consumer_free(cs_consumer_conf_t *conf);

/* Appends/overrides a property from "name=value" (the -X flag). The property
 * is checked with librdkafka: an unknown name or a bad value fails here
 * ("-X name=value: reason"), before any Kafka client is made. */
int cs_conf_kafka_prop_set(cs_kafka_params_t *kafka, const char *name_eq_value,
                           char *errstr, size_t errstr_size);
/* Replaces kafka->brokers (the -b flag). */
int cs_conf_set_brokers(cs_kafka_params_t *kafka, const char *brokers,
                        char *errstr, size_t errstr_size);
/* Mode bits that make a secret file (password_file, properties_file,
 * ssl_key) draw a warning at load: any access by others. 0600 (owner only)
 * and 0640 (owner root, group of the service user) are both quiet. */
#define CS_SECRET_FILE_MODE_BAD 0007

/* 1 if prefix is allowed by conf->prefixes (empty list allows all). */
int cs_conf_prefix_allowed(const cs_consumer_conf_t *conf, const char *prefix);
/* 1 if prefix is in conf->retired (retired_prefixes): its topic is not
 * subscribed, whatever the allow-list says (docs/OPERATIONS.md). */
int cs_conf_prefix_retired(const cs_consumer_conf_t *conf, const char *prefix);

#endif
