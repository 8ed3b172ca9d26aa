/* registry_files.c — what civisync knows about CiviCRM's files: the file entity, its file name column, and custom value tables as file-link targets. */
#include "registry.h"

#include <stdio.h>
#include <string.h>

/* extends value of civicrm_custom_group -> the synced table whose ids a
 * custom value table's entity_id holds. */
static const char *const extends_pairs[] = {
        "Contact", "civicrm_contact",
        "Individual", "civicrm_contact",
        "Household", "civicrm_contact",
        "Organization", "civicrm_contact",
        "Activity", "civicrm_activity",
        "Relationship", "civicrm_relationship",
        "Group", "civicrm_group",
        "Address", "civicrm_address",
        NULL
};

/* Entities whose POLY references may name a custom value table. */
static const char *const poly_custom_entities[] = { "entity_file", NULL };

const cs_entity_t *cs_reg_file_entity(void)
{
        return cs_reg_by_table("civicrm_file");
}

const cs_entity_t *cs_reg_file_link_entity(void)
{
        return cs_reg_by_table("civicrm_entity_file");
}

const char *cs_reg_file_link_column(void)
{
        return "file_id";
}

const char *cs_reg_file_name_column(void)
{
        return "uri";
}

int cs_reg_poly_custom_ok(const cs_entity_t *ent)
{
        for (const char *const *n = poly_custom_entities; ent && *n; n++)
                if (strcmp(*n, ent->name) == 0)
                        return 1;
        return 0;
}

int cs_reg_is_custom_value_table(const char *table)
{
        static const char pfx[] = "civicrm_value_";
        return table && strncmp(table, pfx, sizeof(pfx) - 1) == 0 &&
               table[sizeof(pfx) - 1] != '\0';
}

const char *cs_reg_custom_group_table(void)
{
        return "civicrm_custom_group";
}

const char *cs_reg_custom_group_name_column(void)
{
        return "table_name";
}

const char *cs_reg_custom_group_extends_column(void)
{
        return "extends";
}

const char *cs_reg_custom_extends_table(const char *extends)
{
        for (size_t i = 0; extends && extends_pairs[i]; i += 2)
                if (strcmp(extends_pairs[i], extends) == 0)
                        return extends_pairs[i + 1];
        return NULL;
}

const char *const *cs_reg_custom_extends_pairs(void)
{
        return extends_pairs;
}

int cs_reg_custom_target_sql(char *out, size_t size, const char *table_expr)
{
        size_t len;
        int n = snprintf(out, size, "COALESCE((SELECT CASE g.`extends`");

        if (n < 0 || (size_t)n >= size)
                return -1;
        len = (size_t)n;
        for (size_t i = 0; extends_pairs[i]; i += 2) {
                n = snprintf(out + len, size - len, " WHEN '%s' THEN '%s'",
                             extends_pairs[i], extends_pairs[i + 1]);
                if (n < 0 || (size_t)n >= size - len)
                        return -1;
                len += (size_t)n;
        }
        n = snprintf(out + len, size - len, " END FROM `civicrm_custom_group` g "
                     "WHERE g.`table_name` = %s), %s)", table_expr, table_expr);
        return n < 0 || (size_t)n >= size - len ? -1 : 0;
}
