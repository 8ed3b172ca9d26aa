/* registry_custom.c — custom data (civicrm_value_*): discovers value tables from civicrm_custom_group/civicrm_custom_field at run time and registers each as an entity nested in the entity it extends. */
#include "registry_custom.h"
#include "capacity.h"
#include "db.h"
#include "log.h"
#include "schema.h"

#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GROUP_TABLE "civicrm_custom_group"
#define FIELD_TABLE "civicrm_custom_field"
#define CONTACT_TABLE "civicrm_contact"
#define FILE_TABLE "civicrm_file"
#define LINK_COLUMN "entity_id"

/* What each `extends` value of civicrm_custom_group extends. A group whose
 * table is not a registered root entity is skipped, with the reason. */
static const struct {
        const char *extends;
        const char *table;
} extends_map[] = {
        { "Contact", CONTACT_TABLE },
        { "Individual", CONTACT_TABLE },
        { "Organization", CONTACT_TABLE },
        { "Household", CONTACT_TABLE },
        { "Activity", "civicrm_activity" },
        { "Relationship", "civicrm_relationship" },
        { "Address", "civicrm_address" },
        { "Group", "civicrm_group" },
        { "Contribution", "civicrm_contribution" },
        { "ContributionRecur", "civicrm_contribution_recur" },
        { "Participant", "civicrm_participant" },
        { "ParticipantRole", "civicrm_participant" },
        { "ParticipantEventName", "civicrm_participant" },
        { "ParticipantEventType", "civicrm_participant" },
        { "Membership", "civicrm_membership" },
        { "Event", "civicrm_event" },
        { "Case", "civicrm_case" },
        { "Grant", "civicrm_grant" },
        { "Pledge", "civicrm_pledge" },
        { "Campaign", "civicrm_campaign" },
        { "Survey", "civicrm_survey" },
        { NULL, NULL }
};

/* Per slot: the group and the lists its registered entity points at. */
typedef struct slot_s {
        cs_custom_group_t g;
        cs_ref_t *refs;
        cs_col_rule_t *rules;
        char summary[200];
        int logged;                /* its skip reason was logged */
        int seen;                  /* present in the last load */
} slot_t;

static slot_t slots[CS_LIMIT_CUSTOM_GROUPS];
static cs_custom_group_t view[CS_LIMIT_CUSTOM_GROUPS];
static size_t slot_cnt, view_cnt;

static slot_t *slot_for(const char *table)
{
        for (size_t i = 0; i < slot_cnt; i++)
                if (!strcmp(slots[i].g.table, table))
                        return &slots[i];
        return slot_cnt < CS_LIMIT_CUSTOM_GROUPS ? &slots[slot_cnt++] : NULL;
}

static const char *extends_table(const char *extends)
{
        for (size_t i = 0; extends_map[i].extends; i++)
                if (!strcmp(extends_map[i].extends, extends))
                        return extends_map[i].table;
        return NULL;
}

/* Decides where the group's values live; sets why when it cannot sync. */
static const cs_entity_t *owner_of(cs_custom_group_t *g)
{
        const char *t = extends_table(g->extends);
        const cs_entity_t *owner = t ? cs_reg_by_table(t) : NULL;

        if (!t)
                snprintf(g->why, sizeof(g->why), "extends '%.64s', which "
                         "civisync does not map to a table", g->extends);
        else if (!owner)
                snprintf(g->why, sizeof(g->why), "extends %s (%s), not a "
                         "synced entity yet", g->extends, t);
        else if (owner->parent && (cs_reg_custom_is(owner) ||
                                   !cs_reg_by_name(owner->parent) ||
                                   cs_reg_by_name(owner->parent)->parent))
                snprintf(g->why, sizeof(g->why), "extends %s (%s), which is "
                         "not nested directly in a root entity", g->extends, t);
        else if (cs_reg_custom_is(owner))
                snprintf(g->why, sizeof(g->why), "extends a custom table");
        else
                return owner;
        return NULL;
}

/* Builds the group's references and column rules and registers (or
 * updates) its entity. */
static int register_group(slot_t *s, char *errstr, size_t errstr_size)
{
        cs_custom_group_t *g = &s->g;
        const cs_entity_t *file = cs_reg_by_table(FILE_TABLE);
        cs_ref_t *refs = calloc(g->field_cnt + 2, sizeof(*refs));
        cs_col_rule_t *rules = calloc(g->field_cnt + 1, sizeof(*rules));
        size_t nr = 0, nc = 0;
        cs_entity_t e;

        if (!refs || !rules) {
                free(refs);
                free(rules);
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        refs[nr++] = (cs_ref_t){ .column = LINK_COLUMN, .kind = CS_REF_ENTITY,
                                 .target = g->owner->table, .required = 1 };
        for (size_t i = 0; i < g->field_cnt; i++) {
                const cs_custom_field_t *f = &g->fields[i];
                if (!strcmp(f->data_type, "ContactReference"))
                        refs[nr++] = (cs_ref_t){ .column = f->column,
                                                 .kind = CS_REF_ENTITY,
                                                 .target = CONTACT_TABLE };
                /* The one rule for File fields: a reference to civicrm_file
                 * once it is a registered entity, cleared until then. */
                else if (!strcmp(f->data_type, "File") && file)
                        refs[nr++] = (cs_ref_t){ .column = f->column,
                                                 .kind = CS_REF_ENTITY,
                                                 .target = file->table };
                else if (!strcmp(f->data_type, "File"))
                        rules[nc++] = (cs_col_rule_t){ .column = f->column,
                                .policy = CS_COL_CLEAR,
                                .why = "File field: references civicrm_file, "
                                       "not a synced entity yet" };
        }
        /* Values of a nested entity (an address) travel in its root's
         * document beside it: entity_id names the address (translated
         * through its mapping), the root is the address's own root. */
        snprintf(s->summary, sizeof(s->summary), "Custom values of group %lld "
                 "(%s, extends %s%s): nested in its %s documents%s%s", g->id,
                 g->table, g->extends, g->is_multiple ? ", multi-record" : "",
                 g->owner->parent ? g->owner->parent : g->owner->name,
                 g->owner->parent ? ", beside their " : "",
                 g->owner->parent ? g->owner->name : "");
        e = (cs_entity_t){ .name = g->table, .table = g->table,
                           .parent = g->owner->parent ? g->owner->parent :
                                     g->owner->name,
                           .parent_column = LINK_COLUMN,
                           .refs = refs, .col_rules = rules,
                           .summary = s->summary };
        if (g->ent) {
                cs_reg_set_entity(g->ent, &e);
        } else if (!(g->ent = cs_reg_add_entity(&e, errstr, errstr_size))) {
                free(refs);
                free(rules);
                return -1;
        }
        free(s->refs);
        free(s->rules);
        s->refs = refs;
        s->rules = rules;
        return 0;
}

static void copy_str(char *out, size_t size, const char *v)
{
        snprintf(out, size, "%s", v ? v : "");
}

/* Reads the fields of every slot (fields of unknown groups are ignored). */
static int load_fields(MYSQL *db, char *errstr, size_t errstr_size)
{
        MYSQL_RES *res = cs_db_query(db, "SELECT custom_group_id, id, "
                                     "column_name, data_type, html_type, "
                                     "text_length FROM " FIELD_TABLE
                                     " ORDER BY custom_group_id, id",
                                     errstr, errstr_size);
        MYSQL_ROW row;

        if (!res)
                return -1;
        while ((row = mysql_fetch_row(res))) {
                long long gid = row[0] ? strtoll(row[0], NULL, 10) : 0;
                slot_t *s = NULL;
                cs_custom_field_t *f;

                for (size_t i = 0; i < slot_cnt && !s; i++)
                        if (slots[i].seen && slots[i].g.id == gid)
                                s = &slots[i];
                if (!s || s->g.why[0])
                        continue;
                if (!row[2] || !cs_db_ident_valid(row[2]) ||
                    strlen(row[2]) >= sizeof(f->column)) {
                        snprintf(s->g.why, sizeof(s->g.why), "field %s has an "
                                 "unsupported column name '%.64s'", row[1],
                                 row[2] ? row[2] : "(null)");
                        continue;
                }
                if (s->g.field_cnt >= CS_LIMIT_CUSTOM_FIELDS) {
                        snprintf(errstr, errstr_size, "%s: more than "
                                 "CS_LIMIT_CUSTOM_FIELDS (%d) custom fields",
                                 s->g.table, CS_LIMIT_CUSTOM_FIELDS);
                        mysql_free_result(res);
                        return -1;
                }
                f = &s->g.fields[s->g.field_cnt++];
                f->id = strtoll(row[1], NULL, 10);
                copy_str(f->column, sizeof(f->column), row[2]);
                copy_str(f->data_type, sizeof(f->data_type), row[3]);
                copy_str(f->html_type, sizeof(f->html_type), row[4]);
                f->text_length = row[5] ? strtoll(row[5], NULL, 10) : 0;
        }
        mysql_free_result(res);
        return 0;
}

int cs_custom_load(MYSQL *db, char *errstr, size_t errstr_size)
{
        MYSQL_RES *res;
        MYSQL_ROW row;
        int have, registered = 0;

        view_cnt = 0;
        for (size_t i = 0; i < slot_cnt; i++) {
                slots[i].seen = 0;
                slots[i].g.field_cnt = 0;
        }
        if ((have = cs_schema_has_column(db, GROUP_TABLE, "table_name", errstr,
                                         errstr_size)) != 1)
                return have;
        if (!(res = cs_db_query(db, "SELECT id, table_name, extends, "
                                "is_multiple FROM " GROUP_TABLE " ORDER BY id",
                                errstr, errstr_size)))
                return -1;
        while ((row = mysql_fetch_row(res))) {
                slot_t *s;
                cs_custom_group_t *g;

                if (!row[1] || !cs_db_ident_valid(row[1]) ||
                    strlen(row[1]) >= sizeof(g->table)) {
                        cs_warn("custom group %s: table name '%.64s' is not a "
                                "supported identifier: not synced", row[0],
                                row[1] ? row[1] : "(null)");
                        continue;
                }
                if (!(s = slot_for(row[1]))) {
                        snprintf(errstr, errstr_size, "more than "
                                 "CS_LIMIT_CUSTOM_GROUPS (%d) custom groups "
                                 "(at %s)", CS_LIMIT_CUSTOM_GROUPS, row[1]);
                        mysql_free_result(res);
                        return -1;
                }
                g = &s->g;
                if (!g->fields && !(g->fields = calloc(CS_LIMIT_CUSTOM_FIELDS,
                                                       sizeof(*g->fields)))) {
                        snprintf(errstr, errstr_size, "out of memory");
                        mysql_free_result(res);
                        return -1;
                }
                s->seen = 1;
                g->id = strtoll(row[0], NULL, 10);
                copy_str(g->table, sizeof(g->table), row[1]);
                copy_str(g->extends, sizeof(g->extends), row[2]);
                g->is_multiple = row[3] && strtoll(row[3], NULL, 10) != 0;
                g->why[0] = '\0';
                g->owner = owner_of(g);
        }
        mysql_free_result(res);
        if (cs_schema_has_column(db, FIELD_TABLE, "column_name", errstr,
                                 errstr_size) == 1 &&
            load_fields(db, errstr, errstr_size) == -1)
                return -1;
        for (size_t i = 0; i < slot_cnt; i++) {
                slot_t *s = &slots[i];
                if (!s->seen)
                        continue;
                if (s->g.why[0]) {
                        /* A group that was registered keeps its entry (its
                         * rows stay known) but gets no new fields. */
                        if (!s->logged)
                                cs_info("custom data: %s not synced: %s",
                                        s->g.table, s->g.why);
                        s->logged = 1;
                } else {
                        if (register_group(s, errstr, errstr_size) == -1)
                                return -1;
                        registered++;
                }
                view[view_cnt++] = s->g;
        }
        if (cs_reg_check(errstr, errstr_size) == -1)
                return -1;
        return registered;
}

const cs_custom_group_t *cs_custom_groups(size_t *count)
{
        *count = view_cnt;
        return view;
}

const cs_custom_group_t *cs_custom_by_entity(const cs_entity_t *ent)
{
        for (size_t i = 0; ent && i < slot_cnt; i++)
                if (slots[i].g.ent == ent)
                        return &slots[i].g;
        return NULL;
}

int cs_reg_custom_is(const cs_entity_t *ent)
{
        return ent && cs_reg_static_count() <= (size_t)(ent - cs_reg_entities(NULL));
}

int cs_custom_col_ok(const cs_custom_group_t *g, const char *column)
{
        if (!strcmp(column, "id") || !strcmp(column, LINK_COLUMN))
                return 1;
        for (size_t i = 0; i < g->field_cnt; i++)
                if (!strcmp(g->fields[i].column, column))
                        return 1;
        return 0;
}

/* CiviCRM's own mapping (CRM_Core_BAO_CustomValueTable::fieldToSQLType). */
int cs_custom_sql_type(const cs_custom_field_t *f, char *out, size_t size,
                       char *errstr, size_t errstr_size)
{
        static const struct {
                const char *data_type;
                const char *sql;
        } types[] = {
                { "Int", "int" },
                { "Float", "double" },
                { "Money", "decimal(20,2)" },
                { "Memo", "text" },
                { "Date", "datetime" },
                { "Boolean", "tinyint(4)" },
                { "StateProvince", "int(10) unsigned" },
                { "Country", "int(10) unsigned" },
                { "File", "int(10) unsigned" },
                { "Link", "varchar(255)" },
                { "ContactReference", "int(10) unsigned" },
                { "EntityReference", "int(10) unsigned" },
                { NULL, NULL }
        };
        if (!strcmp(f->data_type, "String")) {
                long long len = f->text_length > 0 ? f->text_length : 255;
                if (len > 16383)
                        len = 16383;
                snprintf(out, size, "varchar(%lld)", len);
                return 0;
        }
        for (size_t i = 0; types[i].data_type; i++)
                if (!strcmp(types[i].data_type, f->data_type)) {
                        snprintf(out, size, "%s", types[i].sql);
                        return 0;
                }
        snprintf(errstr, errstr_size, "custom field %lld (%s): unknown "
                 "data_type '%.32s'", f->id, f->column, f->data_type);
        return -1;
}

int cs_custom_table_like(const char *name)
{
        static const char lead[] = "civicrm_value_";
        return name && !strncmp(name, lead, sizeof(lead) - 1) &&
               cs_db_ident_valid(name);
}

const char *cs_custom_group_exists_sql(void)
{
        return "SELECT EXISTS (SELECT 1 FROM " GROUP_TABLE " WHERE table_name = ?)";
}

int cs_custom_signature(MYSQL *db, char *out, size_t size, char *errstr,
                        size_t errstr_size)
{
        MYSQL_RES *res;
        MYSQL_ROW row;

        /* Once per batch: no information_schema read; a database without
         * the tables (a phase-1 master) answers ER_NO_SUCH_TABLE. */
        if (!(res = cs_db_query(db, "SELECT (SELECT CONCAT(COUNT(*), '/', "
                                "COALESCE(MAX(id), 0)) FROM " GROUP_TABLE "), "
                                "(SELECT CONCAT(COUNT(*), '/', COALESCE(MAX(id), "
                                "0)) FROM " FIELD_TABLE ")", errstr,
                                errstr_size))) {
                if (mysql_errno(db) != ER_NO_SUCH_TABLE)
                        return -1;
                snprintf(out, size, "none");
                return 0;
        }
        row = mysql_fetch_row(res);
        snprintf(out, size, "%s;%s", row && row[0] ? row[0] : "",
                 row && row[1] ? row[1] : "");
        mysql_free_result(res);
        return 0;
}

const cs_entity_t *cs_reg_parent_via(const cs_entity_t *ent)
{
        const cs_custom_group_t *g;

        if (!cs_reg_custom_is(ent) || !(g = cs_custom_by_entity(ent)) ||
            !g->owner || !g->owner->parent)
                return NULL;
        return g->owner;
}

const cs_entity_t *cs_reg_link_target(const cs_entity_t *ent)
{
        const cs_entity_t *via = cs_reg_parent_via(ent);

        if (!ent || !ent->parent)
                return NULL;
        return via ? via : cs_reg_by_name(ent->parent);
}

int cs_reg_root_expr(const cs_entity_t *ent, const char *alias, char *out,
                     size_t size)
{
        const cs_entity_t *via = cs_reg_parent_via(ent);
        int n;

        if (!ent || !ent->parent || !ent->parent_column ||
            (via && !via->parent_column))
                return -1;
        if (!via)
                n = snprintf(out, size, "%s.`%s`", alias, ent->parent_column);
        else
                n = snprintf(out, size, "(SELECT civisync_via.`%s` FROM `%s` "
                             "civisync_via WHERE civisync_via.`id` = %s.`%s`)",
                             via->parent_column, via->table, alias,
                             ent->parent_column);
        return n < 0 || (size_t)n >= size ? -1 : 0;
}
