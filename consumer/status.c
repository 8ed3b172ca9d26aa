/* status.c — civisync-consume --status: offsets, lag, syncs, rows, parking and dead letters per prefix. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <librdkafka/rdkafka.h>

#include "db.h"
#include "gate.h"
#include "kafka.h"
#include "log.h"
#include "prefix.h"
#include "registry.h"
#include "status.h"

#define KAFKA_TIMEOUT_MS 5000
#define SHOW_MAX 5

/* Runs a static query with @cs_p bound to prefix; NULL on error. */
static MYSQL_RES *query_p(MYSQL *db, const char *prefix, const char *sql,
                          char *errstr, size_t errstr_size)
{
        cs_db_value_t p = { .kind = CS_VAL_STR, .s = prefix, .len = strlen(prefix) };

        if (cs_db_set_vars(db, "SET @cs_p = ?", &p, 1, NULL, NULL, errstr,
                           errstr_size) == -1)
                return NULL;
        return cs_db_query(db, sql, errstr, errstr_size);
}

static const char *str(const char *s)
{
        return s ? s : "-";
}

static int table_exists(MYSQL *db, const char *name)
{
        cs_db_value_t p = { .kind = CS_VAL_STR, .s = name, .len = strlen(name) };
        char e[256];
        long long n = 0;

        if (cs_db_set_vars(db, "SET @cs_t = ?", &p, 1, NULL, NULL, e, sizeof(e)) == -1 ||
            cs_db_query_int(db, "SELECT COUNT(*) FROM information_schema.TABLES "
                            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = @cs_t",
                            &n, e, sizeof(e)) == -1)
                return 0;
        return n > 0;
}

/* Files (FORMAT.md §20): per status, the files of the prefix's mapped
 * civicrm_file rows, and the first that are not stored. */
static void print_files(MYSQL *db, const cs_consumer_conf_t *conf,
                        const char *prefix, const char *map, FILE *out)
{
        const char *ft = cs_reg_file_entity()->table;
        cs_db_value_t p = { .kind = CS_VAL_STR, .s = ft, .len = strlen(ft) };
        char sql[1024], e[256];
        long long stored = 0, other = 0;
        MYSQL_RES *res;
        MYSQL_ROW row;

        if (!table_exists(db, "civisync_file") || !table_exists(db, map) ||
            cs_db_set_vars(db, "SET @cs_ft = ?", &p, 1, NULL, NULL, e,
                           sizeof(e)) == -1)
                return;
        snprintf(sql, sizeof(sql), "SELECT f.status, COUNT(*) FROM civisync_file f "
                 "JOIN `%s` m ON m.entity_table = @cs_ft AND m.child_entity_id = "
                 "f.child_file_id WHERE f.prefix = @cs_p GROUP BY f.status "
                 "ORDER BY f.status", map);
        if (!(res = query_p(db, prefix, sql, e, sizeof(e))))
                return;
        char parts[512] = "";
        while ((row = mysql_fetch_row(res))) {
                long long n = strtoll(row[1], NULL, 10);
                if (!strcmp(row[0], "stored"))
                        stored += n;
                else {
                        other += n;
                        cs_db_append(parts, sizeof(parts), "%s%s %lld",
                                     parts[0] ? ", " : "", row[0], n);
                }
        }
        mysql_free_result(res);
        if (!stored && !other)
                return;
        fprintf(out, "  files: %lld stored under %s, %lld without their bytes%s%s%s\n",
                stored, conf->files_dir ? conf->files_dir : "(no files_dir)",
                other, other ? " (" : "", parts, other ? ")" : "");
        if (!other)
                return;
        snprintf(sql, sizeof(sql), "SELECT f.child_file_id, f.status, "
                 "COALESCE(f.uri, '-'), f.detail, f.updated_at FROM civisync_file f "
                 "JOIN `%s` m ON m.entity_table = @cs_ft AND m.child_entity_id = "
                 "f.child_file_id WHERE f.prefix = @cs_p AND f.status <> 'stored' "
                 "ORDER BY f.child_file_id LIMIT %d", map, SHOW_MAX);
        if (!(res = query_p(db, prefix, sql, e, sizeof(e))))
                return;
        while ((row = mysql_fetch_row(res)))
                fprintf(out, "    file %s (%s): %s: %s (since %s UTC)\n", row[0],
                        row[2], row[1], row[3], row[4]);
        mysql_free_result(res);
}

/* The Kafka view: a group member-less handle for committed offsets and
 * watermarks. NULL when it cannot be created. */
static rd_kafka_t *kafka_open(const cs_consumer_conf_t *conf)
{
        char e[512];
        rd_kafka_conf_t *kc = cs_kafka_conf_new(&conf->kafka, e, sizeof(e));
        rd_kafka_t *rk;

        if (!kc)
                return NULL;
        if (rd_kafka_conf_set(kc, "group.id", conf->kafka.group, e, sizeof(e)) ||
            rd_kafka_conf_set(kc, "enable.auto.commit", "false", e, sizeof(e))) {
                rd_kafka_conf_destroy(kc);
                return NULL;
        }
        if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, e, sizeof(e)))) {
                rd_kafka_conf_destroy(kc);
                return NULL;
        }
        return rk;
}

static void print_offsets(MYSQL *db, rd_kafka_t *rk, const char *prefix,
                          const char *topic, FILE *out)
{
        char e[512];
        int parts = -1;
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_partition_list_t *list = NULL;
        MYSQL_RES *res;
        MYSQL_ROW row;
        long long total_lag = 0;
        int lag_known = 1;

        if (rk) {
                rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
                if (rkt && !rd_kafka_metadata(rk, 0, rkt, &md, KAFKA_TIMEOUT_MS)) {
                        if (md->topic_cnt == 1 && !md->topics[0].err)
                                parts = md->topics[0].partition_cnt;
                        rd_kafka_metadata_destroy(md);
                }
                if (rkt)
                        rd_kafka_topic_destroy(rkt);
        }
        if (parts > 0) {
                list = rd_kafka_topic_partition_list_new(parts);
                for (int p = 0; p < parts; p++)
                        rd_kafka_topic_partition_list_add(list, topic, p);
                if (rd_kafka_committed(rk, list, KAFKA_TIMEOUT_MS))
                        for (int p = 0; p < parts; p++)
                                list->elems[p].offset = RD_KAFKA_OFFSET_INVALID;
        }
        fprintf(out, "  %-9s %12s %12s %12s %12s %10s  %s\n", "partition",
                "committed", "applied", "low", "high", "lag", "note");
        for (int p = 0; p < (parts > 0 ? parts : 0); p++) {
                int64_t low = -1, high = -1;
                long long committed = list->elems[p].offset;
                long long applied = -1, rend = -1;
                cs_db_value_t v[2] = {
                        { .kind = CS_VAL_STR, .s = topic, .len = strlen(topic) },
                        { .kind = CS_VAL_INT, .i = p } };
                char c[24], a[24], l[24], h[24], g[24], note[96] = "";

                rd_kafka_query_watermark_offsets(rk, topic, p, &low, &high,
                                                 KAFKA_TIMEOUT_MS);
                if (cs_db_set_vars(db, "SET @cs_t = ?, @cs_n = ?", v, 2, NULL,
                                   NULL, e, sizeof(e)) == 0 &&
                    (res = cs_db_query(db, "SELECT next_offset, COALESCE(replay_end, -1) "
                                       "FROM civisync_offset WHERE topic = @cs_t "
                                       "AND partition_no = @cs_n", e, sizeof(e)))) {
                        if ((row = mysql_fetch_row(res))) {
                                applied = strtoll(row[0], NULL, 10);
                                rend = strtoll(row[1], NULL, 10);
                        }
                        mysql_free_result(res);
                }
                snprintf(c, sizeof(c), committed >= 0 ? "%lld" : "-", committed);
                snprintf(a, sizeof(a), applied >= 0 ? "%lld" : "-", applied);
                snprintf(l, sizeof(l), low >= 0 ? "%lld" : "-", (long long)low);
                snprintf(h, sizeof(h), high >= 0 ? "%lld" : "-", (long long)high);
                {
                        /* Lag as civisync-topics shows it (cs_kafka_lag); the
                         * master's applied offset is where a restart resumes. */
                        long long lag = cs_kafka_lag(low, high, committed);
                        long long pos = applied >= 0 ? applied : committed;
                        if (lag >= 0) {
                                snprintf(g, sizeof(g), "%lld", lag);
                                total_lag += lag;
                        } else {
                                snprintf(g, sizeof(g), "-");
                                lag_known = 0;
                        }
                        if (low >= 0 && pos >= 0 && pos < low)
                                snprintf(note, sizeof(note), "OFFSET GONE: run a "
                                         "complete sync, then --resync");
                        else if (rend >= 0)
                                snprintf(note, sizeof(note), "rewind replay up to %lld",
                                         rend);
                }
                fprintf(out, "  %-9d %12s %12s %12s %12s %10s  %s\n", p, c, a, l, h,
                        g, note);
        }
        if (parts <= 0)
                fprintf(out, "  (Kafka unreachable or topic %s unknown: offsets "
                        "and lag not shown)\n", topic);
        else
                fprintf(out, "  total lag: %s%lld message(s)\n",
                        lag_known ? "" : "at least ", total_lag);
        if (list)
                rd_kafka_topic_partition_list_destroy(list);
        (void)prefix;
}

/* The safety nets' state of a prefix: a held sweep, a skipped cleanup
 * (its own query: a master not yet migrated simply shows nothing). */
static void print_safety(MYSQL *db, const cs_consumer_conf_t *conf,
                         const char *prefix, FILE *out)
{
        MYSQL_RES *res;
        MYSQL_ROW row;
        char e[512];

        if (!(res = query_p(db, prefix,
                            "SELECT held_generation, held_rows, held_total, held_at, "
                            "held_below, skipped_generation, skipped_at "
                            "FROM civisync_prefix WHERE prefix = @cs_p", e, sizeof(e))))
                return;
        if ((row = mysql_fetch_row(res))) {
                if (strcmp(row[4], "0")) {
                        long long rows = strtoll(row[1], NULL, 10);
                        long long total = strtoll(row[2], NULL, 10);
                        fprintf(out, "  sweep HELD (%s%s, since %s UTC): it would "
                                "remove %lld of the prefix's %lld rows (%.0f%%), more "
                                "than sweep_hold_percent %d%% and sweep_hold_min_rows "
                                "%lld. Check the child (right database? restored "
                                "from a backup?), then: civisync-consume --release-sweep "
                                "%s applies it, --discard-sweep %s drops it\n",
                                strcmp(row[0], "-1") ? "generation " :
                                "offset-rewind replay", strcmp(row[0], "-1") ?
                                row[0] : "", str(row[3]), rows, total,
                                total ? 100.0 * (double)rows / (double)total : 0.0,
                                conf->sweep_hold_percent, conf->sweep_hold_min_rows,
                                prefix, prefix);
                }
                if (row[5])
                        fprintf(out, "  complete sync %s: cleanup SKIPPED at %s UTC: "
                                "its end marker arrived without its reset (compacted "
                                "away), so rows deleted on the child may still be on "
                                "the master: run civisync-consume --resync %s\n",
                                row[5], str(row[6]), prefix);
        }
        mysql_free_result(res);
}

static void print_prefix(MYSQL *db, rd_kafka_t *rk,
                         const cs_consumer_conf_t *conf, const char *prefix,
                         FILE *out)
{
        char topic[300], map[64] = "", sql[1024], e[512];
        MYSQL_RES *res;
        MYSQL_ROW row;
        long long n;

        if (cs_kafka_topic_name(topic, sizeof(topic), conf->kafka.topic_prefix,
                                prefix, e, sizeof(e)) == -1)
                return;
        if (cs_conf_prefix_retired(conf, prefix)) {
                fprintf(out, "\nprefix %s (topic %s): retired, not consumed "
                        "(retired_prefixes)\n", prefix, topic);
        } else {
                fprintf(out, "\nprefix %s (topic %s)\n", prefix, topic);
                print_offsets(db, rk, prefix, topic, out);
        }

        if ((res = query_p(db, prefix,
                           "SELECT generation, completed_generation, completed_at, "
                           "last_error, replay_refresh, replay_started_at, "
                           "replay_completed_at, replays_completed "
                           "FROM civisync_prefix WHERE prefix = @cs_p", e, sizeof(e)))) {
                if ((row = mysql_fetch_row(res))) {
                        fprintf(out, "  complete sync: last generation %s, completed "
                                "generation %s at %s UTC%s\n", row[0], row[1],
                                str(row[2]), strcmp(row[0], row[1]) &&
                                strcmp(row[0], "0") ? " (a newer one is in progress)" : "");
                        if (row[3])
                                fprintf(out, "  complete sync ERROR: end counts "
                                        "mismatch: %s\n", row[3]);
                        if (strcmp(row[4], "0"))
                                fprintf(out, "  offset-rewind replay: IN PROGRESS since "
                                        "%s UTC\n", str(row[5]));
                        else if (row[6])
                                fprintf(out, "  offset-rewind replay: %s completed, "
                                        "last at %s UTC\n", row[7], row[6]);
                } else {
                        fprintf(out, "  nothing applied yet\n");
                }
                mysql_free_result(res);
        }
        print_safety(db, conf, prefix, out);

        if (cs_prefix_table_name(map, sizeof(map), "mapping_master_", prefix, e,
                                 sizeof(e)) == 0 && table_exists(db, map)) {
                snprintf(sql, sizeof(sql), "SELECT entity_table, COUNT(*) FROM `%s` "
                         "GROUP BY entity_table ORDER BY entity_table", map);
                if ((res = cs_db_query(db, sql, e, sizeof(e)))) {
                        fprintf(out, "  rows (mapping_master_%s):", prefix);
                        n = 0;
                        while ((row = mysql_fetch_row(res))) {
                                const char *t = strncmp(row[0], "civicrm_", 8) ?
                                                row[0] : row[0] + 8;
                                fprintf(out, "%s %s %s", n++ % 6 ? "," : "\n   ", t,
                                        row[1]);
                        }
                        fprintf(out, "%s\n", n ? "" : " none");
                        mysql_free_result(res);
                }
        }

        cs_gate_status(db, prefix, out);
        print_files(db, conf, prefix, map, out);
        if ((res = query_p(db, prefix,
                           "SELECT COUNT(*) FROM civisync_parked WHERE prefix = @cs_p",
                           e, sizeof(e)))) {
                row = mysql_fetch_row(res);
                n = row ? strtoll(row[0], NULL, 10) : 0;
                mysql_free_result(res);
                fprintf(out, "  parked references: %lld\n", n);
                if (n && (res = query_p(db, prefix,
                        "SELECT entity_table, child_entity_id, column_name, "
                        "target_table, target_child_id, parked_at FROM civisync_parked "
                        "WHERE prefix = @cs_p ORDER BY parked_at, entity_table, "
                        "child_entity_id LIMIT 5", e, sizeof(e)))) {
                        while ((row = mysql_fetch_row(res)))
                                fprintf(out, "    %s %s.%s waits for %s %s (since %s UTC)\n",
                                        row[0], row[1], row[2], row[3], row[4], row[5]);
                        mysql_free_result(res);
                }
        }
        if ((res = query_p(db, prefix,
                           "SELECT COUNT(*) FROM civisync_parked_doc WHERE prefix = @cs_p",
                           e, sizeof(e)))) {
                row = mysql_fetch_row(res);
                n = row ? strtoll(row[0], NULL, 10) : 0;
                mysql_free_result(res);
                fprintf(out, "  parked documents: %lld\n", n);
                if (n && (res = query_p(db, prefix,
                        "SELECT doc_key, reason, parked_at FROM civisync_parked_doc "
                        "WHERE prefix = @cs_p ORDER BY parked_at, doc_key LIMIT 5",
                        e, sizeof(e)))) {
                        while ((row = mysql_fetch_row(res)))
                                fprintf(out, "    %s: %s (since %s UTC)\n", row[0],
                                        row[1], row[2]);
                        mysql_free_result(res);
                }
        }
        if ((res = query_p(db, prefix,
                           "SELECT SUM(acknowledged_at IS NULL), "
                           "SUM(acknowledged_at IS NOT NULL) FROM "
                           "civisync_dead_letter WHERE prefix = @cs_p",
                           e, sizeof(e)))) {
                long long acked;
                row = mysql_fetch_row(res);
                n = row && row[0] ? strtoll(row[0], NULL, 10) : 0;
                acked = row && row[1] ? strtoll(row[1], NULL, 10) : 0;
                mysql_free_result(res);
                /* The count is of the unacknowledged ones: an alert on it
                 * clears with --ack-dead-letters. */
                fprintf(out, "  dead letters: %lld (%lld acknowledged, to %s)%s\n",
                        n, acked, conf->kafka.dead_letter_topic, n ?
                        " -- once fixed: civisync-consume --ack-dead-letters "
                        "PREFIX [--before ID]" : "");
                if (n && (res = query_p(db, prefix,
                        "SELECT at, topic, partition_no, offset_no, "
                        "COALESCE(doc_key, ''), error, id FROM civisync_dead_letter "
                        "WHERE prefix = @cs_p AND acknowledged_at IS NULL "
                        "ORDER BY id DESC LIMIT 5",
                        e, sizeof(e)))) {
                        while ((row = mysql_fetch_row(res))) {
                                unsigned long *len = mysql_fetch_lengths(res);
                                fprintf(out, "    #%s %s UTC %s [%s] offset %s key %.*s: %.*s\n",
                                        row[6], row[0], row[1], row[2], row[3],
                                        (int)(len[4] > 100 ? 100 : len[4]), row[4],
                                        (int)(len[5] > 300 ? 300 : len[5]), row[5]);
                        }
                        mysql_free_result(res);
                }
        }
}

int cs_status_print(const cs_consumer_conf_t *conf, FILE *out, char *errstr,
                    size_t errstr_size)
{
        MYSQL *db = cs_db_connect(&conf->master, errstr, errstr_size);
        rd_kafka_t *rk;
        char **names = NULL;
        size_t cnt = 0;
        MYSQL_RES *res;
        MYSQL_ROW row;

        if (!db)
                return -1;
        fprintf(out, "civisync-consume status: master %s, group %s, brokers %s\n",
                conf->master.database, conf->kafka.group,
                conf->kafka.brokers ? conf->kafka.brokers : "-");
        if (!table_exists(db, "civisync_prefix") ||
            !table_exists(db, "civisync_offset") ||
            !table_exists(db, "civisync_dead_letter")) {
                fprintf(out, "no civisync state on this master yet (the consumer "
                        "has not run)\n");
                mysql_close(db);
                return 0;
        }
        names = calloc(conf->prefix_cnt + conf->retired_cnt + 1, sizeof(*names));
        for (size_t i = 0; names && i < conf->prefix_cnt; i++)
                names[cnt++] = strdup(conf->prefixes[i]);
        for (size_t i = 0; names && i < conf->retired_cnt; i++)
                if (!cs_conf_prefix_allowed(conf, conf->retired[i]) ||
                    !conf->prefix_cnt)
                        names[cnt++] = strdup(conf->retired[i]);
        if (names && (res = cs_db_query(db, "SELECT prefix FROM civisync_prefix "
                                        "ORDER BY prefix", errstr, errstr_size))) {
                while ((row = mysql_fetch_row(res))) {
                        int seen = 0;
                        char **grown;
                        for (size_t i = 0; i < cnt; i++)
                                seen |= !strcmp(names[i], row[0]);
                        if (seen || !cs_prefix_valid(row[0]))
                                continue;
                        if (!(grown = realloc(names, (cnt + 2) * sizeof(*names))))
                                break;
                        names = grown;
                        names[cnt++] = strdup(row[0]);
                }
                mysql_free_result(res);
        }
        rk = kafka_open(conf);
        if (!rk)
                fprintf(out, "(Kafka client could not be created: offsets and lag "
                        "not shown)\n");
        for (size_t i = 0; i < cnt; i++)
                if (names[i])
                        print_prefix(db, rk, conf, names[i], out);
        if (!cnt)
                fprintf(out, "no prefixes yet\n");
        {
                long long other = 0;
                char e[256];
                if (cs_db_query_int(db, "SELECT COUNT(*) FROM civisync_dead_letter "
                                    "WHERE prefix IS NULL", &other, e, sizeof(e)) == 0 &&
                    other)
                        fprintf(out, "\ndead letters from topics outside the "
                                "prefixes: %lld\n", other);
        }
        for (size_t i = 0; i < cnt; i++)
                free(names[i]);
        free(names);
        if (rk)
                rd_kafka_destroy(rk);
        mysql_close(db);
        return 0;
}
