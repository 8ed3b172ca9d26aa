/* apply_ddl.c — civisync's own tables on the master (prefix state, parking, offsets). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "apply_int.h"
#include "gate.h"

/* The sweep guard's hold and a cleanup skipped for want of a reset. */
#define SAFETY_PREFIX_COLUMNS                                                   \
        " held_generation bigint NOT NULL DEFAULT 0 COMMENT 'generation whose sweep is held (-1 a rewind replay)',"  \
        " held_below bigint NOT NULL DEFAULT 0 COMMENT 'the held sweep removes mapping rows below this refresh stamp (0 none held)'," \
        " held_rows bigint NOT NULL DEFAULT 0,"                                 \
        " held_total bigint NOT NULL DEFAULT 0,"                                \
        " held_at datetime NULL,"                                               \
        " skipped_generation bigint NULL COMMENT 'an end marker came without its reset: cleanup skipped'," \
        " skipped_at datetime NULL"

static const char *own_tables_sql[] = {
        "CREATE TABLE IF NOT EXISTS civisync_prefix ("
        " prefix varchar(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,"
        " generation bigint NOT NULL DEFAULT 0 COMMENT 'producer generation of the last reset seen',"
        " replay_partitions int NOT NULL DEFAULT 0,"
        " completed_generation bigint NOT NULL DEFAULT 0,"
        " completed_at datetime NULL,"
        " last_error text NULL,"
        " refresh bigint NOT NULL DEFAULT 0 COMMENT 'current refresh stamp written to mapping rows',"
        " generation_refresh bigint NOT NULL DEFAULT 0 COMMENT 'refresh stamp at which generation began',"
        " replay_refresh bigint NOT NULL DEFAULT 0 COMMENT 'refresh stamp of the offset-rewind replay in progress (0 none)',"
        " replay_topic_partitions int NOT NULL DEFAULT 0,"
        " replay_started_at datetime NULL,"
        " replay_completed_at datetime NULL,"
        " replays_completed int NOT NULL DEFAULT 0,"
        SAFETY_PREFIX_COLUMNS
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
        "CREATE TABLE IF NOT EXISTS civisync_replay_end ("
        " prefix varchar(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,"
        " generation bigint NOT NULL,"
        " partition_no int NOT NULL,"
        " counts longtext NOT NULL,"
        " received_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,"
        " PRIMARY KEY (prefix, generation, partition_no)"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
        "CREATE TABLE IF NOT EXISTS civisync_parked ("
        " prefix varchar(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,"
        " entity_table varchar(64) NOT NULL,"
        " child_entity_id bigint NOT NULL,"
        " column_name varchar(64) NOT NULL,"
        " target_table varchar(64) NOT NULL,"
        " target_child_id bigint NOT NULL,"
        " raw_value text NULL COMMENT 'the child value (id or id list)',"
        " parked_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,"
        " PRIMARY KEY (prefix, entity_table, child_entity_id, column_name),"
        " KEY target (prefix, target_table, target_child_id)"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
        "CREATE TABLE IF NOT EXISTS civisync_parked_doc ("
        " prefix varchar(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,"
        " doc_key varchar(191) NOT NULL,"
        " target_table varchar(64) NOT NULL,"
        " target_child_id bigint NOT NULL,"
        " reason varchar(255) NOT NULL,"
        " value longblob NOT NULL,"
        " parked_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,"
        " refresh bigint NOT NULL DEFAULT 0 COMMENT 'refresh stamp when it arrived from the topic: a sweep below it drops it',"
        " PRIMARY KEY (prefix, doc_key),"
        " KEY target (prefix, target_table, target_child_id)"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
        "CREATE TABLE IF NOT EXISTS civisync_offset ("
        " topic varchar(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,"
        " partition_no int NOT NULL,"
        " prefix varchar(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,"
        " next_offset bigint NOT NULL COMMENT 'every message below it is applied',"
        " replay_end bigint NULL COMMENT 'high watermark when a rewind replay began',"
        " rewind_from bigint NULL COMMENT 'the foreign committed offset that began it',"
        " updated_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,"
        " seen_at datetime NULL COMMENT 'UTC: last apply, or last time the consumer stood at the end (retention-gap check)',"
        " PRIMARY KEY (topic, partition_no),"
        " KEY prefix (prefix)"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
        "CREATE TABLE IF NOT EXISTS civisync_dead_letter ("
        " id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,"
        " prefix varchar(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,"
        " topic varchar(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,"
        " partition_no int NOT NULL,"
        " offset_no bigint NOT NULL,"
        " doc_key varbinary(255) NULL,"
        " error blob NOT NULL,"
        " at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,"
        " acknowledged_at datetime NULL COMMENT 'UTC: --ack-dead-letters',"
        " KEY prefix (prefix, id)"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
        /* What happened to each synced file's bytes (FORMAT.md §20). */
        "CREATE TABLE IF NOT EXISTS civisync_file ("
        " prefix varchar(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,"
        " child_file_id bigint NOT NULL,"
        " master_file_id bigint NOT NULL,"
        " status varchar(16) NOT NULL COMMENT 'stored, not_stored, or the producer''s not_sent, missing, too_large, refused, unreadable',"
        " size bigint NULL,"
        " uri varchar(300) NULL COMMENT 'relative to the master''s files_dir',"
        " detail varchar(512) NOT NULL,"
        " updated_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,"
        " PRIMARY KEY (prefix, child_file_id)"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
        NULL
};

/* Masters created before the safety nets get the same columns, once
 * (ALTER needs the ALTER privilege, which the documented grants lack: it
 * runs only when a column is missing). */
#define SAFETY_COLUMNS_CHECK                                                    \
        "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = " \
        "DATABASE() AND ((TABLE_NAME = 'civisync_prefix' AND COLUMN_NAME IN "   \
        "('held_generation', 'held_below', 'held_rows', 'held_total', "         \
        "'held_at', 'skipped_generation', 'skipped_at')) OR (TABLE_NAME = "     \
        "'civisync_parked_doc' AND COLUMN_NAME = 'refresh') OR (TABLE_NAME = "  \
        "'civisync_offset' AND COLUMN_NAME = 'seen_at') OR (TABLE_NAME = "      \
        "'civisync_dead_letter' AND COLUMN_NAME = 'acknowledged_at'))"
#define SAFETY_COLUMNS 10

static const char *upgrade_sql[] = {
        "ALTER TABLE civisync_prefix ADD COLUMN IF NOT EXISTS"
        " held_generation bigint NOT NULL DEFAULT 0, ADD COLUMN IF NOT EXISTS"
        " held_below bigint NOT NULL DEFAULT 0, ADD COLUMN IF NOT EXISTS"
        " held_rows bigint NOT NULL DEFAULT 0, ADD COLUMN IF NOT EXISTS"
        " held_total bigint NOT NULL DEFAULT 0, ADD COLUMN IF NOT EXISTS"
        " held_at datetime NULL, ADD COLUMN IF NOT EXISTS"
        " skipped_generation bigint NULL, ADD COLUMN IF NOT EXISTS"
        " skipped_at datetime NULL",
        "ALTER TABLE civisync_parked_doc ADD COLUMN IF NOT EXISTS"
        " refresh bigint NOT NULL DEFAULT 0",
        "ALTER TABLE civisync_offset ADD COLUMN IF NOT EXISTS seen_at datetime NULL",
        "ALTER TABLE civisync_dead_letter ADD COLUMN IF NOT EXISTS"
        " acknowledged_at datetime NULL",
        NULL
};

/* Columns holding a prefix (or a topic, which names one) compare byte for
 * byte, as the code does: under utf8mb4_unicode_ci prefixes P and p shared
 * one state row (a reset on civisync.p moved P's generation). Tables from
 * before are migrated by make_prefixes_exact. */
static const struct exact_column_s {
        const char *table, *column, *type, *null;
} exact_columns[] = {
        { "civisync_prefix", "prefix", "varchar(32)", "NOT NULL" },
        { "civisync_replay_end", "prefix", "varchar(32)", "NOT NULL" },
        { "civisync_parked", "prefix", "varchar(32)", "NOT NULL" },
        { "civisync_parked_doc", "prefix", "varchar(32)", "NOT NULL" },
        { "civisync_offset", "topic", "varchar(255)", "NOT NULL" },
        { "civisync_offset", "prefix", "varchar(32)", "NOT NULL" },
        { "civisync_dead_letter", "prefix", "varchar(32)", "NULL" },
        { "civisync_dead_letter", "topic", "varchar(255)", "NOT NULL" },
};

/* ALTERs the exact_columns that are not utf8mb4_bin yet (a master from
 * before case-exact prefixes); idempotent: one information_schema read when
 * nothing is left to do. The old collation's keys already kept case twins
 * apart, so the ALTER cannot meet duplicates. */
static int make_prefixes_exact(MYSQL *db, char *errstr, size_t errstr_size)
{
        MYSQL_RES *res;
        MYSQL_ROW row;
        char sql[512];

        if (!(res = cs_db_query(db, "SELECT TABLE_NAME, COLUMN_NAME FROM "
                                "information_schema.COLUMNS WHERE TABLE_SCHEMA = "
                                "DATABASE() AND TABLE_NAME LIKE 'civisync\\_%' "
                                "AND COLLATION_NAME <> 'utf8mb4_bin'", errstr,
                                errstr_size)))
                return -1;
        while ((row = mysql_fetch_row(res))) {
                for (size_t i = 0; i < sizeof(exact_columns) /
                                       sizeof(exact_columns[0]); i++) {
                        const struct exact_column_s *c = &exact_columns[i];
                        if (strcmp(row[0], c->table) || strcmp(row[1], c->column))
                                continue;
                        snprintf(sql, sizeof(sql), "ALTER TABLE `%s` MODIFY `%s` "
                                 "%s CHARACTER SET utf8mb4 COLLATE utf8mb4_bin %s",
                                 c->table, c->column, c->type, c->null);
                        cs_info("migrating %s.%s to utf8mb4_bin (prefixes are "
                                "case-exact)", c->table, c->column);
                        if (cs_db_exec(db, sql, errstr, errstr_size) == -1) {
                                mysql_free_result(res);
                                return -1;
                        }
                }
        }
        mysql_free_result(res);
        return 0;
}

int ap_create_own_tables(MYSQL *db, char *errstr, size_t errstr_size)
{
        long long have = 0;

        for (int i = 0; own_tables_sql[i]; i++)
                if (cs_db_exec(db, own_tables_sql[i], errstr, errstr_size) == -1)
                        return -1;
        if (cs_gate_create_tables(db, errstr, errstr_size) == -1)
                return -1;
        if (make_prefixes_exact(db, errstr, errstr_size) == -1)
                return -1;
        if (cs_db_query_int(db, SAFETY_COLUMNS_CHECK, &have, errstr,
                            errstr_size) == -1)
                return -1;
        if (have == SAFETY_COLUMNS)
                return 0;
        cs_info("master: adding the sweep-guard, retention-gap and dead-letter "
                "acknowledgement columns to civisync's tables");
        for (int i = 0; upgrade_sql[i]; i++)
                if (cs_db_exec(db, upgrade_sql[i], errstr, errstr_size) == -1)
                        return -1;
        return 0;
}
