/* registry_contribute.c — phase-3a CiviContribute descriptors: references (polymorphic and type-name cases), collision and column rules, site-metadata rows. */
#include "registry_contribute.h"

#include <string.h>

#define REF(col, tgt, req) { (col), CS_REF_ENTITY, (tgt), NULL, (req), NULL }
#define POLYC(col, tcol, req, cases) { (col), CS_REF_POLY, NULL, (tcol), (req), (cases) }
#define REF_END { NULL, CS_REF_ENTITY, NULL, NULL, 0, NULL }
#define CASE_END { NULL, CS_POLY_REJECT, NULL, 0, NULL }
#define UNIQ_END { NULL, CS_UNIQUE_QUALIFY }
#define RULE_END { NULL, CS_COL_OMIT, NULL }

/* Owners of polymorphic rows that phase 3b syncs (events, participants,
 * memberships: registry_event.c) are translated like this phase's own; a
 * row pointing at one parks until its owner is mapped. */
#define LATER_EVENT "civicrm_event"
#define LATER_PARTICIPANT "civicrm_participant"
#define LATER_MEMBERSHIP "civicrm_membership"

/* ---- polymorphic cases (what entity_id is, per entity_table) ----------- */

static const cs_poly_case_t page_cases[] = {
        { "civicrm_contribution_page", CS_POLY_TRANSLATE, "civicrm_contribution_page", 0,
          "a contribution page of the prefix" },
        CASE_END
};
static const cs_poly_case_t page_or_event_cases[] = {
        { "civicrm_contribution_page", CS_POLY_TRANSLATE, "civicrm_contribution_page", 0,
          "a contribution page of the prefix" },
        { LATER_EVENT, CS_POLY_TRANSLATE, LATER_EVENT, 0,
          "an event of the prefix (phase 3b)" },
        CASE_END
};
static const cs_poly_case_t line_item_cases[] = {
        { "civicrm_contribution", CS_POLY_TRANSLATE, "civicrm_contribution", 0,
          "a contribution of the prefix" },
        { LATER_PARTICIPANT, CS_POLY_TRANSLATE, LATER_PARTICIPANT, 0,
          "an event participant of the prefix (phase 3b)" },
        { LATER_MEMBERSHIP, CS_POLY_TRANSLATE, LATER_MEMBERSHIP, 0,
          "a membership of the prefix (phase 3b)" },
        CASE_END
};
static const cs_poly_case_t financial_item_cases[] = {
        { "civicrm_line_item", CS_POLY_TRANSLATE, "civicrm_line_item", 0,
          "a line item of the prefix" },
        { "civicrm_financial_trxn", CS_POLY_TRANSLATE, "civicrm_financial_trxn", 0,
          "a financial transaction of the prefix" },
        CASE_END
};
static const cs_poly_case_t entity_financial_trxn_cases[] = {
        { "civicrm_contribution", CS_POLY_TRANSLATE, "civicrm_contribution", 0,
          "a contribution of the prefix" },
        { "civicrm_financial_item", CS_POLY_TRANSLATE, "civicrm_financial_item", 0,
          "a financial item of the prefix" },
        CASE_END
};
/* Type-name references: the column names the target by a type name, not a
 * table (civicrm_pcp.page_type 'contribute' + page_id; civicrm_pcp_block
 * target_entity_type): each name is a case whose target is the table. */
static const cs_poly_case_t page_type_cases[] = {
        { "contribute", CS_POLY_TRANSLATE, "civicrm_contribution_page", 0,
          "type name 'contribute': a contribution page of the prefix" },
        { "event", CS_POLY_TRANSLATE, LATER_EVENT, 0,
          "type name 'event': an event of the prefix (phase 3b)" },
        CASE_END
};

/* ---- row filters ----------------------------------------------------- */

const char cs_price_set_own[] = "`is_reserved` = 0";
const char cs_price_field_own[] =
        "`price_set_id` IN (SELECT `id` FROM `civicrm_price_set` WHERE `is_reserved` = 0)";
const char cs_price_field_value_own[] =
        "`price_field_id` IN (SELECT f.`id` FROM `civicrm_price_field` f JOIN "
        "`civicrm_price_set` s ON s.`id` = f.`price_set_id` WHERE s.`is_reserved` = 0)";

/* Reserved price sets and their fields and options: site metadata, the
 * same ids on every site; fingerprinted and created by the metadata gate
 * (cs_reg_meta_row_filter), carried verbatim when data names them. */
const char cs_price_set_site[] = "`is_reserved` = 1";
const char cs_price_field_site[] =
        "`price_set_id` IN (SELECT `id` FROM `civicrm_price_set` WHERE `is_reserved` = 1)";
const char cs_price_field_value_site[] =
        "`price_field_id` IN (SELECT f.`id` FROM `civicrm_price_field` f JOIN "
        "`civicrm_price_set` s ON s.`id` = f.`price_set_id` WHERE s.`is_reserved` = 1)";

/* ---- references ------------------------------------------------------ */

const cs_ref_t cs_contribution_page_refs[] = {
        REF("created_id", "civicrm_contact", 0),
        REF("campaign_id", "civicrm_campaign", 0),
        REF_END
};
const cs_ref_t cs_contribution_widget_refs[] = {
        REF("contribution_page_id", "civicrm_contribution_page", 1),
        REF_END
};
const cs_ref_t cs_premiums_refs[] = {
        POLYC("entity_id", "entity_table", 1, page_cases),
        REF_END
};
const cs_ref_t cs_premiums_product_refs[] = {
        REF("premiums_id", "civicrm_premiums", 1),
        REF("product_id", "civicrm_product", 1),
        REF_END
};
const cs_ref_t cs_price_set_refs[] = {
        REF_END
};
const cs_ref_t cs_price_field_refs[] = {
        REF("price_set_id", "civicrm_price_set", 1),
        REF_END
};
const cs_ref_t cs_price_field_value_refs[] = {
        REF("price_field_id", "civicrm_price_field", 1),
        REF_END
};
const cs_ref_t cs_price_set_entity_refs[] = {
        POLYC("entity_id", "entity_table", 1, page_or_event_cases),
        REF("price_set_id", "civicrm_price_set", 1),
        REF_END
};
const cs_ref_t cs_pcp_block_refs[] = {
        POLYC("entity_id", "entity_table", 1, page_or_event_cases),
        POLYC("target_entity_id", "target_entity_type", 1, page_type_cases),
        REF_END
};
const cs_ref_t cs_pcp_refs[] = {
        REF("contact_id", "civicrm_contact", 1),
        POLYC("page_id", "page_type", 1, page_type_cases),
        REF("pcp_block_id", "civicrm_pcp_block", 1),
        REF_END
};
const cs_ref_t cs_contribution_recur_refs[] = {
        REF("contact_id", "civicrm_contact", 1),
        REF("campaign_id", "civicrm_campaign", 0),
        REF_END
};
const cs_ref_t cs_contribution_refs[] = {
        REF("contact_id", "civicrm_contact", 1),
        REF("contribution_page_id", "civicrm_contribution_page", 0),
        REF("contribution_recur_id", "civicrm_contribution_recur", 0),
        REF("address_id", "civicrm_address", 0),
        REF("campaign_id", "civicrm_campaign", 0),
        REF_END
};
const cs_ref_t cs_contribution_soft_refs[] = {
        REF("contribution_id", "civicrm_contribution", 1),
        REF("contact_id", "civicrm_contact", 1),
        REF("pcp_id", "civicrm_pcp", 0),
        REF_END
};
const cs_ref_t cs_contribution_product_refs[] = {
        REF("contribution_id", "civicrm_contribution", 1),
        REF("product_id", "civicrm_product", 1),
        REF_END
};
const cs_ref_t cs_financial_trxn_refs[] = {
        REF_END
};
const cs_ref_t cs_line_item_refs[] = {
        POLYC("entity_id", "entity_table", 1, line_item_cases),
        REF("contribution_id", "civicrm_contribution", 0),
        REF("price_field_id", "civicrm_price_field", 0),
        REF("price_field_value_id", "civicrm_price_field_value", 0),
        REF_END
};
const cs_ref_t cs_financial_item_refs[] = {
        REF("contact_id", "civicrm_contact", 1),
        POLYC("entity_id", "entity_table", 1, financial_item_cases),
        REF_END
};
const cs_ref_t cs_entity_financial_trxn_refs[] = {
        POLYC("entity_id", "entity_table", 1, entity_financial_trxn_cases),
        REF("financial_trxn_id", "civicrm_financial_trxn", 0),
        REF_END
};
const cs_ref_t cs_pledge_refs[] = {
        REF("contact_id", "civicrm_contact", 1),
        REF("contribution_page_id", "civicrm_contribution_page", 0),
        REF("campaign_id", "civicrm_campaign", 0),
        REF_END
};
const cs_ref_t cs_pledge_payment_refs[] = {
        REF("pledge_id", "civicrm_pledge", 1),
        REF("contribution_id", "civicrm_contribution", 0),
        REF_END
};
const cs_ref_t cs_pledge_block_refs[] = {
        POLYC("entity_id", "entity_table", 1, page_cases),
        REF_END
};

/* ---- polymorphic targets (synced tables, then later-phase owners) ---- */

const char *const cs_page_targets[] = { "civicrm_contribution_page", NULL };
const char *const cs_price_set_entity_targets[] = {
        "civicrm_contribution_page", LATER_EVENT, NULL
};
const char *const cs_pcp_block_targets[] = {
        "civicrm_contribution_page", LATER_EVENT, NULL
};
/* civicrm_pcp's page_id: by type name (page_type_cases). */
const char *const cs_pcp_targets[] = {
        "civicrm_contribution_page", LATER_EVENT, NULL
};
const char *const cs_line_item_targets[] = {
        "civicrm_contribution", LATER_PARTICIPANT, LATER_MEMBERSHIP, NULL
};
const char *const cs_financial_item_targets[] = {
        "civicrm_line_item", "civicrm_financial_trxn", NULL
};
const char *const cs_entity_financial_trxn_targets[] = {
        "civicrm_contribution", "civicrm_financial_item", NULL
};

/* ---- unique columns and column rules ----------------------------------- */

const cs_unique_t cs_contribution_uniques[] = {
        { "trxn_id", CS_UNIQUE_QUALIFY }, { "invoice_id", CS_UNIQUE_QUALIFY },
        UNIQ_END
};
const cs_unique_t cs_price_set_uniques[] = {
        { "name", CS_UNIQUE_QUALIFY }, UNIQ_END
};

const cs_col_rule_t cs_contribution_page_rules[] = {
        RULE_END
};
const cs_col_rule_t cs_contribution_rules[] = {
        RULE_END
};
const cs_col_rule_t cs_contribution_recur_rules[] = {
        { "payment_token_id", CS_COL_CLEAR,
          "references civicrm_payment_token (stored card tokens): credentials "
          "never leave the child" },
        RULE_END
};
const cs_col_rule_t cs_pledge_rules[] = {
        RULE_END
};

/* ---- site-metadata rows of synced tables -------------------------------- */

typedef struct site_rows_s {
        const char *table;      /* NULL terminates */
        const char *condition;  /* SQL on the table's own columns */
} site_rows_t;

/* Reserved price sets (default_contribution_amount, ...) and their fields
 * and options are configuration with the same ids on every site: the
 * producer does not send them as data (row_filter) but as metadata (the
 * gate creates them on the master), and a reference to one is carried
 * verbatim, since the master has the same row. */
static const site_rows_t site_rows[] = {
        { "civicrm_price_set", cs_price_set_site },
        { "civicrm_price_field", cs_price_field_site },
        { "civicrm_price_field_value", cs_price_field_value_site },
        { NULL, NULL }
};

const char *cs_reg_site_rows(const char *table)
{
        for (size_t i = 0; table && site_rows[i].table; i++)
                if (!strcmp(site_rows[i].table, table))
                        return site_rows[i].condition;
        return NULL;
}

/* ---- rows removed with their polymorphic owner --------------------------- */

/* CiviCRM removes these with their owner (a contribution's line items,
 * their financial items, the transaction links; a page's blocks), and no
 * foreign key does it on the master: the consumer removes them when it
 * applies the owner's tombstone. Phase-1 notes and entity tags are left to
 * their own tombstones, as before. */
static const char *const owned_by_owner[] = {
        "civicrm_line_item", "civicrm_financial_item",
        "civicrm_entity_financial_trxn", "civicrm_price_set_entity",
        "civicrm_premiums", "civicrm_pledge_block", "civicrm_pcp_block",
        "civicrm_pcp",
        /* phase 3b: an event's or page's blocks, a repeating event's links */
        "civicrm_discount", "civicrm_membership_block", "civicrm_tell_friend",
        "civicrm_recurring_entity", NULL
};

int cs_reg_poly_owned(const char *table)
{
        for (size_t i = 0; table && owned_by_owner[i]; i++)
                if (!strcmp(owned_by_owner[i], table))
                        return 1;
        return 0;
}
