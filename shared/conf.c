/* conf.c — loads and strictly validates producer/consumer libconfig files into typed structs. */
#include "conf.h"

#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <librdkafka/rdkafka.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capacity.h"
#include "files.h"
#include "kafka.h"
#include "log.h"

#define DEFAULT_HOST              "127.0.0.1"
#define DEFAULT_PORT              3306
#define DEFAULT_TOPIC_PREFIX      "civisync."
#define DEFAULT_GROUP             "civisync-master"
#define DEFAULT_DEAD_LETTER_TOPIC "civisync.dead-letter"
#define DEFAULT_LOOKBACK_SECONDS  300
#define DEFAULT_MAX_DOCUMENT      1000000
#define DEFAULT_BATCH_ROWS        2000
#define DEFAULT_FOLLOW_INTERVAL_MS 200
#define DEFAULT_RECONCILE_INTERVAL 3600
#define DEFAULT_BATCH_DOCUMENTS   500
#define DEFAULT_SWEEP_HOLD_PERCENT 50
#define DEFAULT_SWEEP_HOLD_MIN_ROWS 100
#define DEFAULT_TOMBSTONE_RETENTION (7LL * 86400) /* topics.cfg delete.retention.ms */
#define MAX_DOCUMENT_LIMIT        1000000000LL /* Kafka's own message.max.bytes cap */
#define KAFKA_TOPIC_MAX           249
#define PASSWORD_FILE_MAX         4096
#define PROPERTIES_LINE_MAX       4096

/* Where errors go while one file is being loaded. */
typedef struct load_ctx_s {
        const char *path;
        char *errstr;
        size_t errstr_size;
        rd_kafka_conf_t *kcheck; /* scratch conf that checks kafka properties */
} load_ctx_t;

static const char *const producer_keys[] = {
        "prefix", "state_dir", "lookback_seconds", "max_document_bytes",
        "batch_rows", "follow_interval_ms", "reconcile_interval", "child",
        "kafka", "files_dir", "max_file_bytes", NULL};
static const char *const consumer_keys[] = {
        "master", "kafka", "prefixes", "retired_prefixes", "batch_documents",
        "max_document_bytes", "multi_row_insert", "sweep_hold_percent",
        "sweep_hold_min_rows", "tombstone_retention_seconds", "on_retention_gap",
        "files_dir", NULL};
static const char *const db_keys[] = {
        "host", "port", "socket", "user", "password", "password_file",
        "database", "ssl_mode", "ssl_ca", "ssl_cert", "ssl_key", NULL};
static const char *const producer_kafka_keys[] = {
        "brokers", "topic_prefix", "properties", "properties_file", NULL};
static const char *const consumer_kafka_keys[] = {
        "brokers", "group", "topic_prefix", "dead_letter_topic", "properties",
        "properties_file", NULL};
static const char *const ssl_mode_words[] = {
        "disabled", "required", "verify_ca", "verify_identity", NULL};

/* Formats "FILE:LINE - text" (or "FILE - text" without a line); returns -1. */
static int fail_at(load_ctx_t *c, const config_setting_t *s, const char *fmt,
                   ...) __attribute__((format(printf, 3, 4)));
static int fail_at(load_ctx_t *c, const config_setting_t *s, const char *fmt,
                   ...)
{
        char msg[768];
        va_list ap;
        const char *file = NULL;
        unsigned line = 0;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (s) {
                file = config_setting_source_file(s);
                line = config_setting_source_line(s);
        }
        if (!file)
                file = c->path;
        if (line)
                snprintf(c->errstr, c->errstr_size, "%s:%u - %s", file, line,
                         msg);
        else
                snprintf(c->errstr, c->errstr_size, "%s - %s", file, msg);
        return -1;
}

/* "FILE:LINE" of setting s (or just the file) into buf. */
static void where(const load_ctx_t *c, const config_setting_t *s, char *buf,
                  size_t size)
{
        const char *file = s ? config_setting_source_file(s) : NULL;
        unsigned line = s ? config_setting_source_line(s) : 0;

        if (!file)
                file = c->path;
        if (line)
                snprintf(buf, size, "%s:%u", file, line);
        else
                snprintf(buf, size, "%s", file);
}

/* Warns (does not fail) when a secret file named by setting s can be read
 * by others: CS_SECRET_FILE_MODE_BAD. */
static void warn_secret_mode(const load_ctx_t *c, const config_setting_t *s,
                             const char *key, const char *file)
{
        struct stat st;
        char at[600];

        if (stat(file, &st) != 0 || !(st.st_mode & CS_SECRET_FILE_MODE_BAD))
                return;
        where(c, s, at, sizeof(at));
        cs_warn("%s - '%s' file '%s' has mode %04o: other users can read it; "
                "chmod 0600 (owner the service user) or 0640 (owner root, "
                "group of the service user)", at, key, file,
                (unsigned)(st.st_mode & 07777));
}

static void full_name(char *buf, size_t size, const char *group,
                      const char *key)
{
        if (group)
                snprintf(buf, size, "%s.%s", group, key);
        else
                snprintf(buf, size, "%s", key);
}

static int out_of_memory(load_ctx_t *c)
{
        snprintf(c->errstr, c->errstr_size, "%s - out of memory", c->path);
        return -1;
}

/* Rejects every member of group whose name is not in keys (typos must not pass). */
static int check_keys(load_ctx_t *c, const config_setting_t *group,
                      const char *gname, const char *const *keys)
{
        int n = config_setting_length(group);

        for (int i = 0; i < n; i++) {
                const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
                const char *name = config_setting_name(s);
                int known = 0;

                for (size_t k = 0; keys[k]; k++)
                        if (name && strcmp(name, keys[k]) == 0)
                                known = 1;
                if (known)
                        continue;

                char list[256] = "";
                size_t used = 0;
                for (size_t k = 0; keys[k]; k++) {
                        int w = snprintf(list + used, sizeof(list) - used,
                                         "%s%s", k ? ", " : "", keys[k]);
                        if (w < 0 || (size_t)w >= sizeof(list) - used)
                                break;
                        used += (size_t)w;
                }
                char full[160];
                full_name(full, sizeof(full), gname, name ? name : "?");
                return fail_at(c, s, "unknown key '%s' (known keys%s%s: %s)",
                               full, gname ? " in " : "", gname ? gname : "",
                               list);
        }
        return 0;
}

static const char *type_word(const config_setting_t *s)
{
        switch (config_setting_type(s)) {
        case CONFIG_TYPE_GROUP: return "a group";
        case CONFIG_TYPE_INT:
        case CONFIG_TYPE_INT64: return "an integer";
        case CONFIG_TYPE_FLOAT: return "a float";
        case CONFIG_TYPE_STRING: return "a string";
        case CONFIG_TYPE_BOOL: return "a boolean";
        case CONFIG_TYPE_ARRAY: return "an array";
        case CONFIG_TYPE_LIST: return "a list";
        default: return "of unknown type";
        }
}

/* Looks up an optional group member that must itself be a group. */
static int get_group(load_ctx_t *c, const config_setting_t *root,
                     const char *name, int required, config_setting_t **out)
{
        config_setting_t *s = config_setting_get_member(root, name);

        *out = NULL;
        if (!s) {
                if (required)
                        return fail_at(c, NULL,
                                       "missing required group '%s' (%s = { ... };)",
                                       name, name);
                return 0;
        }
        if (!config_setting_is_group(s))
                return fail_at(c, s, "'%s' must be a group (%s = { ... };), not %s",
                               name, name, type_word(s));
        *out = s;
        return 0;
}

/* Reads a string member into *out (replacing a default). Absent: error if
 * required, else *out is kept. */
static int get_str(load_ctx_t *c, const config_setting_t *grp,
                   const char *gname, const char *key, char **out,
                   int required, int allow_empty)
{
        char full[160];
        const config_setting_t *s = config_setting_get_member(grp, key);

        full_name(full, sizeof(full), gname, key);
        if (!s) {
                if (required)
                        return fail_at(c, gname ? grp : NULL,
                                       "missing required key '%s'", full);
                return 0;
        }
        if (config_setting_type(s) != CONFIG_TYPE_STRING)
                return fail_at(c, s, "'%s' must be a string in double quotes, not %s",
                               full, type_word(s));
        const char *v = config_setting_get_string(s);
        if (!allow_empty && (!v || !*v))
                return fail_at(c, s, "'%s' must not be empty", full);
        char *copy = strdup(v ? v : "");
        if (!copy)
                return out_of_memory(c);
        free(*out);
        *out = copy;
        return 0;
}

/* Reads an optional integer member within [min, max] into *out. */
static int get_int(load_ctx_t *c, const config_setting_t *grp,
                   const char *gname, const char *key, long long min,
                   long long max, long long *out)
{
        char full[160];
        const config_setting_t *s = config_setting_get_member(grp, key);

        full_name(full, sizeof(full), gname, key);
        if (!s)
                return 0;
        if (config_setting_type(s) != CONFIG_TYPE_INT &&
            config_setting_type(s) != CONFIG_TYPE_INT64)
                return fail_at(c, s, "'%s' must be an integer, not %s", full,
                               type_word(s));
        long long v = config_setting_get_int64(s);
        if (v < min || v > max)
                return fail_at(c, s, "'%s' must be between %lld and %lld (got %lld)",
                               full, min, max, v);
        *out = v;
        return 0;
}

/* Reads an optional boolean member (true/false) into *out. */
static int get_bool(load_ctx_t *c, const config_setting_t *grp,
                    const char *gname, const char *key, int *out)
{
        char full[160];
        const config_setting_t *s = config_setting_get_member(grp, key);

        full_name(full, sizeof(full), gname, key);
        if (!s)
                return 0;
        if (config_setting_type(s) != CONFIG_TYPE_BOOL)
                return fail_at(c, s, "'%s' must be true or false, not %s", full,
                               type_word(s));
        *out = config_setting_get_bool(s) ? 1 : 0;
        return 0;
}

/* 1 if s is a legal Kafka topic name fragment: [A-Za-z0-9._-]. */
static int topic_chars_ok(const char *s)
{
        for (; *s; s++) {
                unsigned char ch = (unsigned char)*s;
                if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
                      ch == '-'))
                        return 0;
        }
        return 1;
}

static int check_topic(load_ctx_t *c, const config_setting_t *grp,
                       const char *key, const char *value, size_t max_len)
{
        const config_setting_t *s = grp ? config_setting_get_member(grp, key) : NULL;

        if (!topic_chars_ok(value))
                return fail_at(c, s, "'kafka.%s' \"%s\" may contain only "
                               "A-Z a-z 0-9 . _ - (Kafka topic characters)",
                               key, value);
        if (strlen(value) > max_len)
                return fail_at(c, s, "'kafka.%s' is longer than %zu characters",
                               key, max_len);
        return 0;
}

/* Reads a whole file into a new string with trailing CR/LF stripped. */
static char *read_secret_file(const char *file, int *err)
{
        FILE *fp = fopen(file, "r");
        char *buf;
        size_t n;

        *err = 0;
        if (!fp) {
                *err = errno;
                return NULL;
        }
        buf = malloc(PASSWORD_FILE_MAX + 1);
        if (!buf) {
                fclose(fp);
                *err = ENOMEM;
                return NULL;
        }
        n = fread(buf, 1, PASSWORD_FILE_MAX + 1, fp);
        if (ferror(fp) || n > PASSWORD_FILE_MAX) {
                *err = ferror(fp) ? EIO : EFBIG;
                fclose(fp);
                explicit_bzero(buf, PASSWORD_FILE_MAX + 1);
                free(buf);
                return NULL;
        }
        fclose(fp);
        buf[n] = '\0';
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
                buf[--n] = '\0';
        return buf;
}

static void free_secret(char *s)
{
        if (s) {
                explicit_bzero(s, strlen(s));
                free(s);
        }
}

/* Reads an optional file-name key that must name a readable file. */
static int get_file(load_ctx_t *c, const config_setting_t *g,
                    const char *gname, const char *key, char **out)
{
        if (get_str(c, g, gname, key, out, 0, 0) < 0)
                return -1;
        if (*out) {
                FILE *fp = fopen(*out, "r");
                if (!fp)
                        return fail_at(c, config_setting_get_member(g, key),
                                       "'%s.%s': cannot read '%s': %s", gname,
                                       key, *out, strerror(errno));
                fclose(fp);
        }
        return 0;
}

/* ssl_mode, ssl_ca, ssl_cert, ssl_key of a database group. */
static int load_db_ssl(load_ctx_t *c, const config_setting_t *g,
                       const char *gname, cs_db_params_t *db)
{
        char *mode = NULL;
        const config_setting_t *ms = config_setting_get_member(g, "ssl_mode");

        if (get_file(c, g, gname, "ssl_ca", &db->ssl_ca) < 0 ||
            get_file(c, g, gname, "ssl_cert", &db->ssl_cert) < 0 ||
            get_file(c, g, gname, "ssl_key", &db->ssl_key) < 0 ||
            get_str(c, g, gname, "ssl_mode", &mode, 0, 0) < 0) {
                free(mode);
                return -1;
        }
        if (db->ssl_key)
                warn_secret_mode(c, config_setting_get_member(g, "ssl_key"),
                                 "ssl_key", db->ssl_key);
        if (!db->ssl_cert != !db->ssl_key)
                return free(mode), fail_at(c, config_setting_get_member(
                                g, db->ssl_cert ? "ssl_cert" : "ssl_key"),
                        "'%s.ssl_cert' and '%s.ssl_key' go together (a client "
                        "certificate and its key)", gname, gname);
        if (mode) {
                int found = -1;
                for (int i = 0; ssl_mode_words[i]; i++)
                        if (strcmp(mode, ssl_mode_words[i]) == 0)
                                found = i;
                if (found < 0) {
                        fail_at(c, ms, "'%s.ssl_mode' \"%s\" is not one of "
                                "disabled, required, verify_ca, verify_identity",
                                gname, mode);
                        free(mode);
                        return -1;
                }
                free(mode);
                db->ssl_mode = (cs_ssl_mode_t)found;
        } else if (db->ssl_ca)
                db->ssl_mode = CS_SSL_VERIFY_IDENTITY;
        else if (db->ssl_cert)
                db->ssl_mode = CS_SSL_REQUIRED;
        else
                db->ssl_mode = CS_SSL_DISABLED;

        int any_file = db->ssl_ca || db->ssl_cert;
        if (db->ssl_mode == CS_SSL_DISABLED && any_file)
                return fail_at(c, ms, "'%s.ssl_mode' is \"disabled\" but "
                               "ssl_ca/ssl_cert are set: remove them or choose "
                               "another mode", gname);
        if ((db->ssl_mode == CS_SSL_VERIFY_CA ||
             db->ssl_mode == CS_SSL_VERIFY_IDENTITY) && !db->ssl_ca)
                return fail_at(c, ms, "'%s.ssl_mode' \"%s\" needs '%s.ssl_ca' "
                               "(the CA that signed the server's certificate)",
                               gname, ssl_mode_words[db->ssl_mode], gname);
        if (db->ssl_mode == CS_SSL_REQUIRED && db->ssl_ca)
                return fail_at(c, ms, "'%s.ssl_mode' \"required\" does not check "
                               "the server's certificate, so '%s.ssl_ca' would be "
                               "ignored: use verify_ca or verify_identity, or "
                               "remove ssl_ca", gname, gname);
        return 0;
}

static int load_db(load_ctx_t *c, const config_setting_t *root,
                   const char *gname, cs_db_params_t *db)
{
        config_setting_t *g;
        long long port = DEFAULT_PORT;

        db->port = DEFAULT_PORT;
        if (get_group(c, root, gname, 1, &g) < 0 ||
            check_keys(c, g, gname, db_keys) < 0 ||
            get_str(c, g, gname, "host", &db->host, 0, 0) < 0 ||
            get_int(c, g, gname, "port", 1, 65535, &port) < 0 ||
            get_str(c, g, gname, "socket", &db->socket, 0, 0) < 0 ||
            get_str(c, g, gname, "user", &db->user, 1, 0) < 0 ||
            get_str(c, g, gname, "password", &db->password, 0, 1) < 0 ||
            get_str(c, g, gname, "database", &db->database, 1, 0) < 0)
                return -1;
        db->port = (int)port;

        char *pwfile = NULL;
        if (get_str(c, g, gname, "password_file", &pwfile, 0, 0) < 0)
                return -1;
        if (pwfile) {
                const config_setting_t *s = config_setting_get_member(g, "password_file");
                int err;
                if (db->password) {
                        free(pwfile);
                        return fail_at(c, s, "set either '%s.password' or "
                                       "'%s.password_file', not both",
                                       gname, gname);
                }
                warn_secret_mode(c, s, "password_file", pwfile);
                db->password = read_secret_file(pwfile, &err);
                if (!db->password) {
                        fail_at(c, s, "'%s.password_file': cannot read '%s': %s",
                                gname, pwfile,
                                err == EFBIG ? "file larger than 4096 bytes"
                                             : strerror(err));
                        free(pwfile);
                        return -1;
                }
                free(pwfile);
        }
        if (db->socket && db->host && strcmp(db->host, "localhost") != 0)
                return fail_at(c, config_setting_get_member(g, "socket"),
                               "'%s.socket' and '%s.host' = \"%s\" both set: "
                               "the socket is used only for host \"localhost\" "
                               "(or no host); remove one of them", gname, gname,
                               db->host);
        if (!db->host && !db->socket) {
                db->host = strdup(DEFAULT_HOST);
                if (!db->host)
                        return out_of_memory(c);
        }
        return load_db_ssl(c, g, gname, db);
}

/* Sets name=value in kafka->props: replaces an existing entry, else appends. */
static int prop_put(cs_kafka_params_t *kafka, const char *name,
                    size_t name_len, const char *value)
{
        char *v = strdup(value);

        if (!v)
                return -1;
        for (size_t i = 0; i < kafka->prop_cnt; i++) {
                if (strlen(kafka->props[i].name) == name_len &&
                    strncmp(kafka->props[i].name, name, name_len) == 0) {
                        free_secret(kafka->props[i].value);
                        kafka->props[i].value = v;
                        return 0;
                }
        }
        cs_kafka_prop_t *np = realloc(kafka->props,
                                      (kafka->prop_cnt + 1) * sizeof(*np));
        char *n = strndup(name, name_len);
        if (!np || !n) {
                if (np)
                        kafka->props = np;
                free(n);
                free(v);
                return -1;
        }
        kafka->props = np;
        kafka->props[kafka->prop_cnt].name = n;
        kafka->props[kafka->prop_cnt].value = v;
        kafka->prop_cnt++;
        return 0;
}

/* Checks name=value with librdkafka (unknown name, bad value) on the
 * load's scratch conf. 0, or -1 with kerr set. */
static int kafka_prop_check(rd_kafka_conf_t **scratch, const char *name,
                            const char *value, char *kerr, size_t kerr_size)
{
        if (!*scratch && !(*scratch = rd_kafka_conf_new())) {
                snprintf(kerr, kerr_size, "out of memory");
                return -1;
        }
        kerr[0] = '\0';
        if (rd_kafka_conf_set(*scratch, name, value, kerr, kerr_size) !=
            RD_KAFKA_CONF_OK)
                return -1;
        return 0;
}

/* Reads kafka.properties_file: "name=value" lines (blank lines and lines
 * starting with '#' skipped; spaces around name and value removed); each
 * property is checked, then set over the properties list. */
static int load_properties_file(load_ctx_t *c, const config_setting_t *g,
                                cs_kafka_params_t *kafka)
{
        const config_setting_t *s = config_setting_get_member(g, "properties_file");
        char *file = NULL, line[PROPERTIES_LINE_MAX + 2], kerr[512], at[600];
        FILE *fp;
        int lineno = 0, rc = 0;

        if (get_str(c, g, "kafka", "properties_file", &file, 0, 0) < 0)
                return -1;
        if (!file)
                return 0;
        where(c, s, at, sizeof(at));
        if (!(fp = fopen(file, "r"))) {
                fail_at(c, s, "'kafka.properties_file': cannot read '%s': %s",
                        file, strerror(errno));
                free(file);
                return -1;
        }
        warn_secret_mode(c, s, "properties_file", file);
        while (rc == 0 && fgets(line, sizeof(line), fp)) {
                size_t len = strlen(line);
                lineno++;
                if (len > PROPERTIES_LINE_MAX) {
                        snprintf(c->errstr, c->errstr_size, "%s:%d - line longer "
                                 "than %d bytes (kafka.properties_file, %s)",
                                 file, lineno, PROPERTIES_LINE_MAX, at);
                        rc = -1;
                        break;
                }
                while (len && isspace((unsigned char)line[len - 1]))
                        line[--len] = '\0';
                char *p = line;
                while (isspace((unsigned char)*p))
                        p++;
                if (!*p || *p == '#')
                        continue;
                char *eq = strchr(p, '=');
                char *end = eq;
                while (end && end > p && isspace((unsigned char)end[-1]))
                        end--;
                if (!eq || end == p) {
                        snprintf(c->errstr, c->errstr_size, "%s:%d - expected "
                                 "name=value (kafka.properties_file, %s)",
                                 file, lineno, at);
                        rc = -1;
                        break;
                }
                *end = '\0';
                char *value = eq + 1;
                while (isspace((unsigned char)*value))
                        value++;
                if (kafka_prop_check(&c->kcheck, p, value, kerr,
                                     sizeof(kerr)) < 0) {
                        snprintf(c->errstr, c->errstr_size, "%s:%d - kafka "
                                 "property '%s': %s (kafka.properties_file, %s)",
                                 file, lineno, p, kerr, at);
                        rc = -1;
                } else if (prop_put(kafka, p, strlen(p), value) < 0)
                        rc = out_of_memory(c);
        }
        if (rc == 0 && ferror(fp)) {
                snprintf(c->errstr, c->errstr_size, "%s - read error "
                         "(kafka.properties_file, %s)", file, at);
                rc = -1;
        }
        explicit_bzero(line, sizeof(line));
        fclose(fp);
        free(file);
        return rc;
}

static int load_properties(load_ctx_t *c, const config_setting_t *g,
                           cs_kafka_params_t *kafka)
{
        char kerr[512];
        const config_setting_t *s = config_setting_get_member(g, "properties");
        static const char hint[] =
                "write properties = ( (\"name\", \"value\"), ... );";

        if (!s)
                return 0;
        if (config_setting_type(s) != CONFIG_TYPE_LIST &&
            config_setting_type(s) != CONFIG_TYPE_ARRAY)
                return fail_at(c, s, "'kafka.properties' must be a list of "
                               "(name, value) pairs, not %s; %s",
                               type_word(s), hint);
        int n = config_setting_length(s);
        for (int i = 0; i < n; i++) {
                const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
                int t = config_setting_type(e);
                if ((t != CONFIG_TYPE_LIST && t != CONFIG_TYPE_ARRAY) ||
                    config_setting_length(e) != 2 ||
                    config_setting_type(config_setting_get_elem(e, 0)) != CONFIG_TYPE_STRING ||
                    config_setting_type(config_setting_get_elem(e, 1)) != CONFIG_TYPE_STRING)
                        return fail_at(c, e, "'kafka.properties' entry %d must be a "
                                       "pair of two strings; %s", i + 1, hint);
                const char *name = config_setting_get_string_elem(e, 0);
                const char *value = config_setting_get_string_elem(e, 1);
                if (!*name || strchr(name, '='))
                        return fail_at(c, e, "'kafka.properties' entry %d has an "
                                       "invalid property name \"%s\"", i + 1, name);
                if (kafka_prop_check(&c->kcheck, name, value, kerr,
                                     sizeof(kerr)) < 0)
                        return fail_at(c, e, "kafka property '%s': %s", name,
                                       kerr);
                if (prop_put(kafka, name, strlen(name), value) < 0)
                        return out_of_memory(c);
        }
        return 0;
}

static int set_default(load_ctx_t *c, char **field, const char *value)
{
        if (!*field) {
                *field = strdup(value);
                if (!*field)
                        return out_of_memory(c);
        }
        return 0;
}

static int load_kafka(load_ctx_t *c, const config_setting_t *root,
                      const char *const *keys, cs_kafka_params_t *kafka)
{
        config_setting_t *g;

        if (get_group(c, root, "kafka", 0, &g) < 0)
                return -1;
        if (g && (check_keys(c, g, "kafka", keys) < 0 ||
            get_str(c, g, "kafka", "brokers", &kafka->brokers, 0, 0) < 0 ||
            get_str(c, g, "kafka", "topic_prefix", &kafka->topic_prefix, 0, 0) < 0 ||
            get_str(c, g, "kafka", "group", &kafka->group, 0, 0) < 0 ||
            get_str(c, g, "kafka", "dead_letter_topic", &kafka->dead_letter_topic, 0, 0) < 0 ||
            load_properties(c, g, kafka) < 0 ||
            load_properties_file(c, g, kafka) < 0))
                return -1;
        if (set_default(c, &kafka->topic_prefix, DEFAULT_TOPIC_PREFIX) < 0 ||
            set_default(c, &kafka->group, DEFAULT_GROUP) < 0 ||
            set_default(c, &kafka->dead_letter_topic, DEFAULT_DEAD_LETTER_TOPIC) < 0)
                return -1;
        if (check_topic(c, g, "topic_prefix", kafka->topic_prefix,
                        KAFKA_TOPIC_MAX - CS_PREFIX_MAX) < 0 ||
            check_topic(c, g, "dead_letter_topic", kafka->dead_letter_topic,
                        KAFKA_TOPIC_MAX) < 0)
                return -1;
        return 0;
}

/* The consumer subscribes to ^topic_prefix[A-Za-z0-9_]{1,32}$ (or to the
 * allow-list's topics under topic_prefix): its own dead-letter topic must
 * never be one of them, or bad documents would be read back as input. */
static int check_dead_letter_topic(load_ctx_t *c, const config_setting_t *root,
                                   const cs_kafka_params_t *kafka)
{
        size_t plen = strlen(kafka->topic_prefix);
        const char *dlq = kafka->dead_letter_topic;

        if (strncmp(dlq, kafka->topic_prefix, plen) != 0 ||
            !cs_prefix_valid(dlq + plen))
                return 0;
        const config_setting_t *g = config_setting_get_member(root, "kafka");
        const config_setting_t *s = g ? config_setting_get_member(g, "dead_letter_topic") : NULL;
        if (!s && g)
                s = config_setting_get_member(g, "topic_prefix");
        return fail_at(c, s, "'kafka.dead_letter_topic' \"%s\" is topic_prefix "
                       "\"%s\" + a valid prefix: the consumer would read its "
                       "own dead letters back as input; choose a name outside "
                       "topic_prefix + [A-Za-z0-9_]{1,%d} (e.g. \"%sdead-letter\")",
                       dlq, kafka->topic_prefix, CS_PREFIX_MAX,
                       kafka->topic_prefix);
}

/* Opens and parses path into cfg; on failure fills errstr. */
static int parse_file(load_ctx_t *c, config_t *cfg)
{
        FILE *fp = fopen(c->path, "r");

        if (!fp) {
                snprintf(c->errstr, c->errstr_size, "%s - cannot open: %s",
                         c->path, strerror(errno));
                return -1;
        }
        fclose(fp);
        if (config_read_file(cfg, c->path) == CONFIG_TRUE)
                return 0;
        if (config_error_type(cfg) == CONFIG_ERR_FILE_IO) {
                snprintf(c->errstr, c->errstr_size, "%s - cannot read: %s",
                         config_error_file(cfg) ? config_error_file(cfg) : c->path,
                         config_error_text(cfg));
                return -1;
        }
        const char *file = config_error_file(cfg) ? config_error_file(cfg) : c->path;
        if (config_error_line(cfg) > 0)
                snprintf(c->errstr, c->errstr_size, "%s:%d - %s", file,
                         config_error_line(cfg), config_error_text(cfg));
        else
                snprintf(c->errstr, c->errstr_size, "%s - %s", file,
                         config_error_text(cfg));
        return -1;
}

/* files_dir: an optional absolute path of an existing directory that this
 * program can read (the producer) or write (the consumer). */
static int get_files_dir(load_ctx_t *c, const config_setting_t *root,
                         char **out, int mode)
{
        const config_setting_t *s = config_setting_get_member(root, "files_dir");
        struct stat st;

        if (get_str(c, root, NULL, "files_dir", out, 0, 0) < 0)
                return -1;
        if (!*out)
                return 0;
        if ((*out)[0] != '/')
                return fail_at(c, s, "'files_dir' \"%s\" must be an absolute path",
                               *out);
        if (stat(*out, &st) == -1)
                return fail_at(c, s, "'files_dir' \"%s\": %s", *out,
                               strerror(errno));
        if (!S_ISDIR(st.st_mode))
                return fail_at(c, s, "'files_dir' \"%s\" is not a directory", *out);
        if (access(*out, mode) == -1)
                return fail_at(c, s, "'files_dir' \"%s\": %s", *out,
                               strerror(errno));
        return 0;
}

static int load_producer(load_ctx_t *c, config_t *cfg, cs_producer_conf_t *conf)
{
        const config_setting_t *root = config_root_setting(cfg);
        char *prefix = NULL;
        long long lookback = DEFAULT_LOOKBACK_SECONDS;
        long long maxdoc = DEFAULT_MAX_DOCUMENT;
        long long rows = DEFAULT_BATCH_ROWS;
        long long follow_ms = DEFAULT_FOLLOW_INTERVAL_MS;
        long long reconcile = DEFAULT_RECONCILE_INTERVAL;
        long long max_file = CS_FILE_DEFAULT_MAX_BYTES;

        if (check_keys(c, root, NULL, producer_keys) < 0 ||
            get_str(c, root, NULL, "prefix", &prefix, 1, 0) < 0)
                return -1;
        if (!cs_prefix_valid(prefix)) {
                fail_at(c, config_setting_get_member(root, "prefix"),
                        "'prefix' \"%s\" is invalid: must match [A-Za-z0-9_]{1,%d}",
                        prefix, CS_PREFIX_MAX);
                free(prefix);
                return -1;
        }
        snprintf(conf->prefix, sizeof(conf->prefix), "%s", prefix);
        free(prefix);

        if (get_str(c, root, NULL, "state_dir", &conf->state_dir, 1, 0) < 0 ||
            get_int(c, root, NULL, "lookback_seconds", 0, INT_MAX, &lookback) < 0 ||
            get_int(c, root, NULL, "max_document_bytes", 1, MAX_DOCUMENT_LIMIT, &maxdoc) < 0 ||
            get_int(c, root, NULL, "batch_rows", 1, 1000000, &rows) < 0 ||
            get_int(c, root, NULL, "follow_interval_ms", 10, 60000,
                    &follow_ms) < 0 ||
            get_int(c, root, NULL, "reconcile_interval", 1, 604800,
                    &reconcile) < 0 ||
            get_int(c, root, NULL, "max_file_bytes", 0, CS_LIMIT_FILE_BYTES,
                    &max_file) < 0 ||
            get_files_dir(c, root, &conf->files_dir, R_OK | X_OK) < 0 ||
            load_db(c, root, "child", &conf->child) < 0 ||
            load_kafka(c, root, producer_kafka_keys, &conf->kafka) < 0)
                return -1;
        /* Only when files are read: without files_dir no bytes travel. */
        if (conf->files_dir && max_file / 3 * 4 + 4 + CS_FILE_DOC_OVERHEAD > maxdoc)
                return fail_at(c, config_setting_get_member(root, "max_file_bytes") ?
                               config_setting_get_member(root, "max_file_bytes") :
                               config_setting_get_member(root, "max_document_bytes"),
                               "'max_file_bytes' %lld does not fit 'max_document_bytes' "
                               "%lld: a file travels as base64 (4/3 of its size) plus "
                               "%d bytes for its row; raise max_document_bytes to at "
                               "least %lld or lower max_file_bytes", max_file, maxdoc,
                               CS_FILE_DOC_OVERHEAD,
                               max_file / 3 * 4 + 4 + CS_FILE_DOC_OVERHEAD);
        conf->max_file_bytes = (size_t)max_file;
        char weak[512];
        if (cs_kafka_producer_guarantees(&conf->kafka, weak, sizeof(weak)) == -1)
                return fail_at(c, config_setting_get_member(root, "kafka"), "%s",
                               weak);
        conf->lookback_seconds = (int)lookback;
        conf->max_document_bytes = (size_t)maxdoc;
        conf->batch_rows = (int)rows;
        conf->follow_interval_ms = (int)follow_ms;
        conf->reconcile_interval = (int)reconcile;
        return 0;
}

/* A list of prefixes under key ("prefixes", "retired_prefixes"). */
static int load_prefix_list(load_ctx_t *c, const config_setting_t *root,
                            const char *key, char ***out, size_t *cnt)
{
        const config_setting_t *s = config_setting_get_member(root, key);

        if (!s)
                return 0;
        if (config_setting_type(s) != CONFIG_TYPE_ARRAY &&
            config_setting_type(s) != CONFIG_TYPE_LIST)
                return fail_at(c, s, "'%s' must be an array of strings, "
                               "e.g. [\"P1\", \"P2\"], not %s", key, type_word(s));
        int n = config_setting_length(s);
        if (n == 0)
                return 0;
        *out = calloc((size_t)n, sizeof(char *));
        if (!*out)
                return out_of_memory(c);
        for (int i = 0; i < n; i++) {
                const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
                if (config_setting_type(e) != CONFIG_TYPE_STRING)
                        return fail_at(c, e, "'%s' entry %d must be a string, "
                                       "not %s", key, i + 1, type_word(e));
                const char *p = config_setting_get_string(e);
                if (!cs_prefix_valid(p))
                        return fail_at(c, e, "'%s' entry %d \"%s\" is invalid: "
                                       "must match [A-Za-z0-9_]{1,%d}", key, i + 1,
                                       p, CS_PREFIX_MAX);
                (*out)[i] = strdup(p);
                if (!(*out)[i])
                        return out_of_memory(c);
                (*cnt)++;
        }
        return 0;
}

static int load_consumer(load_ctx_t *c, config_t *cfg, cs_consumer_conf_t *conf)
{
        const config_setting_t *root = config_root_setting(cfg);
        long long maxdoc = DEFAULT_MAX_DOCUMENT;
        long long docs = DEFAULT_BATCH_DOCUMENTS;
        long long hold_pct = conf->sweep_hold_percent;
        char *gap = NULL;

        if (check_keys(c, root, NULL, consumer_keys) < 0 ||
            get_int(c, root, NULL, "sweep_hold_percent", 0, 100, &hold_pct) < 0 ||
            get_int(c, root, NULL, "sweep_hold_min_rows", 0, 1000000000000LL,
                    &conf->sweep_hold_min_rows) < 0 ||
            get_int(c, root, NULL, "tombstone_retention_seconds", 0,
                    100LL * 365 * 86400, &conf->tombstone_retention_seconds) < 0 ||
            get_str(c, root, NULL, "on_retention_gap", &gap, 0, 0) < 0 ||
            get_int(c, root, NULL, "batch_documents", 1, 1000000, &docs) < 0 ||
            get_int(c, root, NULL, "max_document_bytes", 1, MAX_DOCUMENT_LIMIT, &maxdoc) < 0 ||
            get_bool(c, root, NULL, "multi_row_insert", &conf->multi_row_insert) < 0 ||
            get_files_dir(c, root, &conf->files_dir, W_OK | X_OK) < 0 ||
            load_db(c, root, "master", &conf->master) < 0 ||
            load_kafka(c, root, consumer_kafka_keys, &conf->kafka) < 0 ||
            check_dead_letter_topic(c, root, &conf->kafka) < 0 ||
            load_prefix_list(c, root, "prefixes", &conf->prefixes,
                             &conf->prefix_cnt) < 0 ||
            load_prefix_list(c, root, "retired_prefixes", &conf->retired,
                             &conf->retired_cnt) < 0) {
                free(gap);
                return -1;
        }
        if (gap && strcmp(gap, "stop") && strcmp(gap, "resync")) {
                int rc = fail_at(c, config_setting_get_member(root, "on_retention_gap"),
                                 "'on_retention_gap' must be \"stop\" or "
                                 "\"resync\" (got \"%s\")", gap);
                free(gap);
                return rc;
        }
        conf->retention_gap_resync = gap && !strcmp(gap, "resync");
        free(gap);
        conf->sweep_hold_percent = (int)hold_pct;
        conf->batch_documents = (int)docs;
        conf->max_document_bytes = (size_t)maxdoc;
        return 0;
}

int cs_conf_load_producer(const char *path, cs_producer_conf_t *conf,
                          char *errstr, size_t errstr_size)
{
        load_ctx_t c = {path ? path : "(null)", errstr, errstr_size, NULL};
        config_t cfg;
        int rc;

        memset(conf, 0, sizeof(*conf));
        conf->lookback_seconds = DEFAULT_LOOKBACK_SECONDS;
        conf->max_document_bytes = DEFAULT_MAX_DOCUMENT;
        conf->batch_rows = DEFAULT_BATCH_ROWS;
        conf->follow_interval_ms = DEFAULT_FOLLOW_INTERVAL_MS;
        conf->reconcile_interval = DEFAULT_RECONCILE_INTERVAL;
        conf->max_file_bytes = CS_FILE_DEFAULT_MAX_BYTES;
        if (!path) {
                snprintf(errstr, errstr_size, "no configuration file given");
                return -1;
        }
        conf->path = strdup(path);
        if (!conf->path)
                return out_of_memory(&c);
        config_init(&cfg);
        rc = parse_file(&c, &cfg);
        if (rc == 0)
                rc = load_producer(&c, &cfg, conf);
        config_destroy(&cfg);
        if (c.kcheck)
                rd_kafka_conf_destroy(c.kcheck);
        return rc;
}

int cs_conf_load_consumer(const char *path, cs_consumer_conf_t *conf,
                          char *errstr, size_t errstr_size)
{
        load_ctx_t c = {path ? path : "(null)", errstr, errstr_size, NULL};
        config_t cfg;
        int rc;

        memset(conf, 0, sizeof(*conf));
        conf->batch_documents = DEFAULT_BATCH_DOCUMENTS;
        conf->max_document_bytes = DEFAULT_MAX_DOCUMENT;
        conf->multi_row_insert = 1;
        conf->sweep_hold_percent = DEFAULT_SWEEP_HOLD_PERCENT;
        conf->sweep_hold_min_rows = DEFAULT_SWEEP_HOLD_MIN_ROWS;
        conf->tombstone_retention_seconds = DEFAULT_TOMBSTONE_RETENTION;
        if (!path) {
                snprintf(errstr, errstr_size, "no configuration file given");
                return -1;
        }
        conf->path = strdup(path);
        if (!conf->path)
                return out_of_memory(&c);
        config_init(&cfg);
        rc = parse_file(&c, &cfg);
        if (rc == 0)
                rc = load_consumer(&c, &cfg, conf);
        config_destroy(&cfg);
        if (c.kcheck)
                rd_kafka_conf_destroy(c.kcheck);
        return rc;
}

static void db_free(cs_db_params_t *db)
{
        free(db->host);
        free(db->socket);
        free(db->user);
        free_secret(db->password);
        free(db->database);
        free(db->ssl_ca);
        free(db->ssl_cert);
        free(db->ssl_key);
        memset(db, 0, sizeof(*db));
}

static void kafka_free(cs_kafka_params_t *kafka)
{
        free(kafka->brokers);
        free(kafka->topic_prefix);
        free(kafka->group);
        free(kafka->dead_letter_topic);
        for (size_t i = 0; i < kafka->prop_cnt; i++) {
                free(kafka->props[i].name);
                free_secret(kafka->props[i].value);
        }
        free(kafka->props);
        memset(kafka, 0, sizeof(*kafka));
}

void cs_conf_producer_free(cs_producer_conf_t *conf)
{
        if (!conf)
                return;
        free(conf->path);
        db_free(&conf->child);
        kafka_free(&conf->kafka);
        free(conf->state_dir);
        free(conf->files_dir);
        memset(conf, 0, sizeof(*conf));
}

void cs_conf_consumer_free(cs_consumer_conf_t *conf)
{
        if (!conf)
                return;
        free(conf->path);
        db_free(&conf->master);
        kafka_free(&conf->kafka);
        for (size_t i = 0; i < conf->prefix_cnt; i++)
                free(conf->prefixes[i]);
        free(conf->prefixes);
        for (size_t i = 0; i < conf->retired_cnt; i++)
                free(conf->retired[i]);
        free(conf->retired);
        free(conf->files_dir);
        memset(conf, 0, sizeof(*conf));
}

int cs_conf_kafka_prop_set(cs_kafka_params_t *kafka, const char *name_eq_value,
                           char *errstr, size_t errstr_size)
{
        const char *eq = name_eq_value ? strchr(name_eq_value, '=') : NULL;

        if (!eq) {
                snprintf(errstr, errstr_size,
                         "-X '%s': expected name=value",
                         name_eq_value ? name_eq_value : "(null)");
                return -1;
        }
        if (eq == name_eq_value) {
                snprintf(errstr, errstr_size,
                         "-X: empty property name before '='");
                return -1;
        }
        char name[256], kerr[512];
        rd_kafka_conf_t *scratch = NULL;
        int bad;
        snprintf(name, sizeof(name), "%.*s", (int)(eq - name_eq_value),
                 name_eq_value);
        bad = kafka_prop_check(&scratch, name, eq + 1, kerr, sizeof(kerr));
        if (scratch)
                rd_kafka_conf_destroy(scratch);
        if (bad) {
                snprintf(errstr, errstr_size, "-X %s=...: %s", name, kerr);
                return -1;
        }
        if (prop_put(kafka, name_eq_value, (size_t)(eq - name_eq_value),
                     eq + 1) < 0) {
                snprintf(errstr, errstr_size, "-X: out of memory");
                return -1;
        }
        return 0;
}

int cs_conf_set_brokers(cs_kafka_params_t *kafka, const char *brokers,
                        char *errstr, size_t errstr_size)
{
        if (!brokers || !*brokers) {
                snprintf(errstr, errstr_size, "-b: empty broker list");
                return -1;
        }
        char *copy = strdup(brokers);
        if (!copy) {
                snprintf(errstr, errstr_size, "-b: out of memory");
                return -1;
        }
        free(kafka->brokers);
        kafka->brokers = copy;
        return 0;
}

int cs_conf_prefix_allowed(const cs_consumer_conf_t *conf, const char *prefix)
{
        if (!prefix)
                return 0;
        if (conf->prefix_cnt == 0)
                return 1;
        for (size_t i = 0; i < conf->prefix_cnt; i++)
                if (strcmp(conf->prefixes[i], prefix) == 0)
                        return 1;
        return 0;
}

int cs_conf_prefix_retired(const cs_consumer_conf_t *conf, const char *prefix)
{
        for (size_t i = 0; prefix && i < conf->retired_cnt; i++)
                if (strcmp(conf->retired[i], prefix) == 0)
                        return 1;
        return 0;
}
