/* registry_meta.c — what the registry knows about metadata rows: columns that name a metadata row by id, metadata columns that point at per-child data, and the order the gate sends its tables in. */
#include <stddef.h>
#include <string.h>

#include "registry_meta.h"

/* Columns of data rows that name a metadata row by its id (passed through
 * verbatim, FORMAT.md §13). Option values are named by their `value`
 * within a group, not by id: a conflict on one is reported, not held. */
static const struct {
        const char *column, *table;
} meta_refs[] = {
        { "location_type_id", "civicrm_location_type" },
        { "relationship_type_id", "civicrm_relationship_type" },
        { "financial_type_id", "civicrm_financial_type" },
        { "membership_type_id", "civicrm_membership_type" },
        { "country_id", "civicrm_country" },
        { "state_province_id", "civicrm_state_province" },
        { "county_id", "civicrm_county" },
        { "case_type_id", "civicrm_case_type" },
        { "custom_group_id", "civicrm_custom_group" },
        { "custom_field_id", "civicrm_custom_field" },
        { "option_group_id", "civicrm_option_group" },
        { "result_id", "civicrm_option_group" }, /* civicrm_survey: its results' option group */
        { "uf_group_id", "civicrm_uf_group" },
        { "payment_processor_id", "civicrm_payment_processor" },
};

/* Metadata columns that point at a child's own data (a contact, a group):
 * translated through the prefix's mapping when the gate creates the row,
 * and left out of the comparison. */
static const struct {
        const char *table, *column, *target;
} translated_cols[] = {
        { "civicrm_custom_group", "created_id", "civicrm_contact" },
        { "civicrm_financial_account", "contact_id", "civicrm_contact" },
        { "civicrm_membership_type", "member_of_contact_id", "civicrm_contact" },
        { "civicrm_uf_group", "created_id", "civicrm_contact" },
        { "civicrm_uf_group", "limit_listings_group_id", "civicrm_group" },
        { "civicrm_uf_group", "add_to_group_id", "civicrm_group" },
};

/* Metadata that points at data and can neither let go nor go with it:
 * a membership type's owner organization (member_of_contact_id, NOT NULL,
 * ON DELETE RESTRICT). Metadata never blocks a delete of data, and a
 * delete never cascades into metadata: when the consumer deletes the
 * contact a type names, the type stays and is handed to the master's
 * domain organization (FORMAT.md §22). */
static const struct {
        const char *table, *column, *replacement;
} reassigned[] = {
        { "civicrm_membership_type", "member_of_contact_id",
          "(SELECT `contact_id` FROM `civicrm_domain` ORDER BY `id` LIMIT 1)" },
};

int cs_reg_meta_reassigned(size_t i, const char **table, const char **column,
                           const char **replacement)
{
        if (i >= sizeof(reassigned) / sizeof(reassigned[0]))
                return -1;
        *table = reassigned[i].table;
        *column = reassigned[i].column;
        *replacement = reassigned[i].replacement;
        return 0;
}

/* Metadata tables that other metadata tables reference, sent first in this
 * order (referenced before referencing). */
static const char *const send_first[] = {
        "civicrm_worldregion", "civicrm_address_format", "civicrm_country",
        "civicrm_state_province", "civicrm_component", "civicrm_option_group",
        "civicrm_contact_type", "civicrm_location_type",
        "civicrm_mailing_bounce_type", "civicrm_dedupe_rule_group",
        "civicrm_financial_account", "civicrm_financial_type",
        "civicrm_payment_processor_type", "civicrm_custom_group",
        "civicrm_uf_group", "civicrm_membership_type", "civicrm_price_set",
        "civicrm_price_field", NULL
};

const char *cs_reg_meta_ref(const char *column)
{
        for (size_t k = 0; column && k < sizeof(meta_refs) / sizeof(meta_refs[0]); k++)
                if (!strcmp(meta_refs[k].column, column))
                        return meta_refs[k].table;
        return NULL;
}

const char *cs_reg_meta_translated(const char *table, const char *column)
{
        for (size_t i = 0; i < sizeof(translated_cols) / sizeof(translated_cols[0]);
             i++)
                if (!strcmp(translated_cols[i].table, table) &&
                    !strcmp(translated_cols[i].column, column))
                        return translated_cols[i].target;
        return NULL;
}

const char *cs_reg_meta_send_first(size_t i)
{
        for (size_t k = 0; send_first[k]; k++)
                if (k == i)
                        return send_first[k];
        return NULL;
}
