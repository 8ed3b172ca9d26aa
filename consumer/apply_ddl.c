/* apply_ddl.c — civisync's own tables on the master (prefix state, parking, offsets). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply_int.h"

static const char *own_tables_sql[] = {
        "CREATE TABLE IF NOT EXISTS civisync_prefix ("
        " prefix varchar(32) NOT NULL PRIMARY KEY,"
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
        " replays_completed int NOT NULL DEFAULT 0"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
        "CREATE TABLE IF NOT EXISTS civisync_replay_end ("
        " prefix varchar(32) NOT NULL,"
        " generation bigint NOT NULL,"
        " partition_no int NOT NULL,"
        " counts longtext NOT NULL,"
        " received_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,"
        " PRIMARY KEY (prefix, generation, partition_no)"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
        "CREATE TABLE IF NOT EXISTS civisync_parked ("
        " prefix varchar(32) NOT NULL,"
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
        " prefix varchar(32) NOT NULL,"
        " doc_key varchar(191) NOT NULL,"
        " target_table varchar(64) NOT NULL,"
        " target_child_id bigint NOT NULL,"
        " reason varchar(255) NOT NULL,"
        " value longblob NOT NULL,"
        " parked_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,"
        " PRIMARY KEY (prefix, doc_key),"
        " KEY target (prefix, target_table, target_child_id)"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
        "CREATE TABLE IF NOT EXISTS civisync_offset ("
        " topic varchar(255) NOT NULL,"
        " partition_no int NOT NULL,"
        " prefix varchar(32) NOT NULL,"
        " next_offset bigint NOT NULL COMMENT 'every message below it is applied',"
        " replay_end bigint NULL COMMENT 'high watermark when a rewind replay began',"
        " rewind_from bigint NULL COMMENT 'the foreign committed offset that began it',"
        " updated_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,"
        " PRIMARY KEY (topic, partition_no),"
        " KEY prefix (prefix)"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
        "CREATE TABLE IF NOT EXISTS civisync_dead_letter ("
        " id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,"
        " prefix varchar(32) NULL,"
        " topic varchar(255) NOT NULL,"
        " partition_no int NOT NULL,"
        " offset_no bigint NOT NULL,"
        " doc_key varbinary(255) NULL,"
        " error blob NOT NULL,"
        " at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,"
        " KEY prefix (prefix, id)"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
        NULL
};

int ap_create_own_tables(MYSQL *db, char *errstr, size_t errstr_size)
{
        for (int i = 0; own_tables_sql[i]; i++)
                if (cs_db_exec(db, own_tables_sql[i], errstr, errstr_size) == -1)
                        return -1;
        return 0;
}
