/* registry_event.c — phase-3b CiviEvent and CiviMember descriptors: events, discounts, participants, memberships and their blocks, references (self, polymorphic) and column rules. */
#include "registry_event.h"

#define REF(col, tgt, req) { (col), CS_REF_ENTITY, (tgt), NULL, (req), NULL }
#define POLYC(col, tcol, req, cases) { (col), CS_REF_POLY, NULL, (tcol), (req), (cases) }
#define REF_END { NULL, CS_REF_ENTITY, NULL, NULL, 0, NULL }
#define CASE_END { NULL, CS_POLY_REJECT, NULL, 0, NULL }
#define RULE_END { NULL, CS_COL_OMIT, NULL }

/* ---- polymorphic cases ------------------------------------------------- */

static const cs_poly_case_t event_cases[] = {
        { "civicrm_event", CS_POLY_TRANSLATE, "civicrm_event", 0,
          "an event of the prefix" },
        CASE_END
};
static const cs_poly_case_t page_cases[] = {
        { "civicrm_contribution_page", CS_POLY_TRANSLATE, "civicrm_contribution_page", 0,
          "a contribution page of the prefix" },
        CASE_END
};
static const cs_poly_case_t page_or_event_cases[] = {
        { "civicrm_contribution_page", CS_POLY_TRANSLATE, "civicrm_contribution_page", 0,
          "a contribution page of the prefix" },
        { "civicrm_event", CS_POLY_TRANSLATE, "civicrm_event", 0,
          "an event of the prefix" },
        CASE_END
};
/* Repeating events (CRM_Core_BAO_RecurringEntity): the parent and each
 * copy, and the rows copied with an event (its blocks and profile joins),
 * or repeating activities. parent_id and entity_id name rows of the same
 * table. */
static const cs_poly_case_t recurring_cases[] = {
        { "civicrm_event", CS_POLY_TRANSLATE, "civicrm_event", 0,
          "a repeating event of the prefix" },
        { "civicrm_activity", CS_POLY_TRANSLATE, "civicrm_activity", 0,
          "a repeating activity of the prefix" },
        { "civicrm_tell_friend", CS_POLY_TRANSLATE, "civicrm_tell_friend", 0,
          "the tell-a-friend block copied with an event" },
        { "civicrm_pcp_block", CS_POLY_TRANSLATE, "civicrm_pcp_block", 0,
          "the PCP block copied with an event" },
        { "civicrm_price_set_entity", CS_POLY_TRANSLATE, "civicrm_price_set_entity", 0,
          "the price set use copied with an event" },
        { "civicrm_uf_join", CS_POLY_TRANSLATE, "civicrm_uf_join", 0,
          "the profile join copied with an event" },
        CASE_END
};

/* ---- references -------------------------------------------------------- */

/* loc_block_id: the event's location block (registry_loc.c), parked until
 * it is mapped. default_fee_id / default_discount_fee_id hold price
 * option ids (the DDL's "FK to civicrm_option_value" is historical). */
const cs_ref_t cs_event_refs[] = {
        REF("created_id", "civicrm_contact", 0),
        REF("parent_event_id", "civicrm_event", 0),
        REF("default_fee_id", "civicrm_price_field_value", 0),
        REF("default_discount_fee_id", "civicrm_price_field_value", 0),
        REF("campaign_id", "civicrm_campaign", 0),
        REF("loc_block_id", "civicrm_loc_block", 0),
        REF_END
};
const cs_ref_t cs_discount_refs[] = {
        POLYC("entity_id", "entity_table", 1, event_cases),
        REF("price_set_id", "civicrm_price_set", 1),
        REF_END
};
const cs_ref_t cs_participant_refs[] = {
        REF("contact_id", "civicrm_contact", 1),
        REF("event_id", "civicrm_event", 1),
        REF("registered_by_id", "civicrm_participant", 0),
        REF("discount_id", "civicrm_discount", 0),
        REF("transferred_to_contact_id", "civicrm_contact", 0),
        REF("campaign_id", "civicrm_campaign", 0),
        REF_END
};
const cs_ref_t cs_participant_payment_refs[] = {
        REF("participant_id", "civicrm_participant", 1),
        REF("contribution_id", "civicrm_contribution", 1),
        REF_END
};
const cs_ref_t cs_membership_refs[] = {
        REF("contact_id", "civicrm_contact", 1),
        REF("owner_membership_id", "civicrm_membership", 0),
        REF("contribution_recur_id", "civicrm_contribution_recur", 0),
        REF("campaign_id", "civicrm_campaign", 0),
        REF_END
};
const cs_ref_t cs_membership_log_refs[] = {
        REF("membership_id", "civicrm_membership", 1),
        REF("modified_id", "civicrm_contact", 0),
        REF_END
};
const cs_ref_t cs_membership_payment_refs[] = {
        REF("membership_id", "civicrm_membership", 1),
        REF("contribution_id", "civicrm_contribution", 1),
        REF_END
};
const cs_ref_t cs_membership_block_refs[] = {
        POLYC("entity_id", "entity_table", 1, page_cases),
        REF_END
};
const cs_ref_t cs_tell_friend_refs[] = {
        POLYC("entity_id", "entity_table", 1, page_or_event_cases),
        REF_END
};
const cs_ref_t cs_recurring_entity_refs[] = {
        POLYC("parent_id", "entity_table", 1, recurring_cases),
        POLYC("entity_id", "entity_table", 0, recurring_cases),
        REF_END
};

/* ---- polymorphic targets ------------------------------------------------ */

const char *const cs_event_targets[] = { "civicrm_event", NULL };
const char *const cs_page_only_targets[] = { "civicrm_contribution_page", NULL };
const char *const cs_page_or_event_targets[] = {
        "civicrm_contribution_page", "civicrm_event", NULL
};
const char *const cs_recurring_targets[] = {
        "civicrm_event", "civicrm_activity", "civicrm_tell_friend",
        "civicrm_pcp_block", "civicrm_price_set_entity", "civicrm_uf_join", NULL
};

/* ---- column rules ------------------------------------------------------- */

const cs_col_rule_t cs_event_rules[] = {
        RULE_END
};
const cs_col_rule_t cs_participant_rules[] = {
        { "cart_id", CS_COL_CLEAR, "references civicrm_event_carts, not synced" },
        RULE_END
};
const cs_col_rule_t cs_membership_rules[] = {
        RULE_END
};
