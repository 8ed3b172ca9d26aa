/* registry.c — the declarative table of synced CiviCRM entities, their references and column policies. */
#include "registry.h"
#include "registry_contribute.h"
#include "registry_campaign.h"
#include "registry_event.h"
#include "registry_loc.h"
#include "capacity.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ---- references ------------------------------------------------------ */

#define REF(col, tgt, req) { (col), CS_REF_ENTITY, (tgt), NULL, (req), NULL }
#define POLY(col, tcol, req) { (col), CS_REF_POLY, NULL, (tcol), (req), NULL }
#define POLYC(col, tcol, req, cases) { (col), CS_REF_POLY, NULL, (tcol), (req), (cases) }
#define IDLIST(col, tgt) { (col), CS_REF_ID_LIST, (tgt), NULL, 0, NULL }
#define REF_END { NULL, CS_REF_ENTITY, NULL, NULL, 0, NULL }

static const cs_ref_t contact_refs[] = {
        REF("primary_contact_id", "civicrm_contact", 0),
        REF("employer_id", "civicrm_contact", 0),
        REF_END
};
static const cs_ref_t contact_child_refs[] = {
        REF("contact_id", "civicrm_contact", 1),
        REF_END
};
static const cs_ref_t address_refs[] = {
        REF("contact_id", "civicrm_contact", 1),
        REF("master_id", "civicrm_address", 0),
        REF_END
};
static const cs_ref_t saved_search_refs[] = {
        REF("created_id", "civicrm_contact", 0),
        REF("modified_id", "civicrm_contact", 0),
        REF_END
};
static const cs_ref_t group_refs[] = {
        REF("saved_search_id", "civicrm_saved_search", 0),
        IDLIST("parents", "civicrm_group"),
        IDLIST("children", "civicrm_group"),
        REF("created_id", "civicrm_contact", 0),
        REF("modified_id", "civicrm_contact", 0),
        REF_END
};
static const cs_ref_t group_nesting_refs[] = {
        REF("child_group_id", "civicrm_group", 1),
        REF("parent_group_id", "civicrm_group", 1),
        REF_END
};
static const cs_ref_t group_organization_refs[] = {
        REF("group_id", "civicrm_group", 1),
        REF("organization_id", "civicrm_contact", 1),
        REF_END
};
static const cs_ref_t group_contact_refs[] = {
        REF("group_id", "civicrm_group", 1),
        REF("contact_id", "civicrm_contact", 1),
        REF("email_id", "civicrm_email", 0),
        REF("location_id", "civicrm_loc_block", 0), /* event locations, #16 */
        REF_END
};
static const cs_ref_t tag_refs[] = {
        REF("parent_id", "civicrm_tag", 0),
        REF("created_id", "civicrm_contact", 0),
        REF_END
};
static const cs_ref_t entity_tag_refs[] = {
        POLY("entity_id", "entity_table", 1),
        REF("tag_id", "civicrm_tag", 1),
        REF_END
};
static const cs_ref_t relationship_refs[] = {
        REF("contact_id_a", "civicrm_contact", 1),
        REF("contact_id_b", "civicrm_contact", 1),
        REF("case_id", "civicrm_case", 0), /* a case role; cases since phase 3c */
        REF_END
};
static const cs_ref_t note_refs[] = {
        POLY("entity_id", "entity_table", 1),
        REF("contact_id", "civicrm_contact", 0),
        REF_END
};
static const cs_ref_t activity_refs[] = {
        REF("phone_id", "civicrm_phone", 0),
        REF("parent_id", "civicrm_activity", 0),
        REF("relationship_id", "civicrm_relationship", 0),
        REF("original_id", "civicrm_activity", 0),
        REF("campaign_id", "civicrm_campaign", 0), /* campaigns since phase 3c */
        REF_END
};
static const cs_ref_t activity_contact_refs[] = {
        REF("activity_id", "civicrm_activity", 1),
        REF("contact_id", "civicrm_contact", 1),
        REF_END
};

/* ---- ACLs and profile joins (issue #14, "Profiles and ACLs") ------------ */

/* civicrm_acl.entity_id: who holds the ACL. */
static const cs_poly_case_t acl_entity_cases[] = {
        { "civicrm_acl_role", CS_POLY_PASS, NULL, 0,
          "an ACL role: an option value (acl_role), 0 = everyone; passes through" },
        { "civicrm_contact", CS_POLY_TRANSLATE, "civicrm_contact", 0,
          "a contact of the prefix" },
        { "civicrm_group", CS_POLY_TRANSLATE, "civicrm_group", 0,
          "a group of the prefix" },
        { NULL, CS_POLY_REJECT, NULL, 0, NULL }
};
/* civicrm_acl.object_id: what the ACL controls. object_table may also hold a
 * permission name (the "Core ACL" rows), with object_id NULL. */
static const cs_poly_case_t acl_object_cases[] = {
        { "civicrm_saved_search", CS_POLY_TRANSLATE, "civicrm_group", 1,
          "CiviCRM's name for a group ACL: object_id is a civicrm_group id "
          "(CRM_ACL_Form_ACL object_type 1), 0 = all groups" },
        { "civicrm_group", CS_POLY_TRANSLATE, "civicrm_group", 1,
          "a group of the prefix, 0 = all groups" },
        { "civicrm_uf_group", CS_POLY_PASS, NULL, 0,
          "a profile: metadata, same id on every site (the gate checks it)" },
        { "civicrm_custom_group", CS_POLY_PASS, NULL, 0,
          "a custom group: metadata, same id on every site (the gate checks it)" },
        { "civicrm_event", CS_POLY_TRANSLATE, "civicrm_event", 1,
          "an event of the prefix (phase 3b), 0 = all events" },
        { NULL, CS_POLY_REJECT, NULL, 0, NULL }
};
/* civicrm_acl.acl_id: the ACL or ACL role a grant/revoke entry grants. */
static const cs_poly_case_t acl_acl_cases[] = {
        { "civicrm_acl", CS_POLY_TRANSLATE, "civicrm_acl", 0,
          "an ACL of the prefix" },
        { "civicrm_acl_role", CS_POLY_PASS, NULL, 0,
          "an ACL role: an option value, passes through" },
        { NULL, CS_POLY_REJECT, NULL, 0, NULL }
};
static const cs_ref_t acl_refs[] = {
        POLYC("entity_id", "entity_table", 1, acl_entity_cases),
        POLYC("object_id", "object_table", 1, acl_object_cases),
        POLYC("acl_id", "acl_table", 0, acl_acl_cases),
        REF_END
};
/* civicrm_acl_entity_role: an ACL role (option value, passes through)
 * given to a group or a contact. */
static const cs_poly_case_t acl_entity_role_cases[] = {
        { "civicrm_group", CS_POLY_TRANSLATE, "civicrm_group", 0,
          "a group of the prefix" },
        { "civicrm_contact", CS_POLY_TRANSLATE, "civicrm_contact", 0,
          "a contact of the prefix" },
        { NULL, CS_POLY_REJECT, NULL, 0, NULL }
};
static const cs_ref_t acl_entity_role_refs[] = {
        POLYC("entity_id", "entity_table", 1, acl_entity_role_cases),
        REF_END
};
/* civicrm_uf_join rows that attach a profile to a per-child page or event
 * (rows with entity_table NULL are metadata: registry_tables.c). */
static const cs_poly_case_t uf_join_cases[] = {
        { "civicrm_event", CS_POLY_TRANSLATE, "civicrm_event", 0,
          "an event's registration profile: events are synced since phase 3b" },
        { "civicrm_contribution_page", CS_POLY_TRANSLATE, "civicrm_contribution_page", 0,
          "a contribution page's profile: pages are synced since phase 3a" },
        { "civicrm_survey", CS_POLY_TRANSLATE, "civicrm_survey", 0,
          "a survey's profile: surveys are synced since phase 3c" },
        { NULL, CS_POLY_REJECT, NULL, 0, NULL }
};
static const cs_ref_t uf_join_refs[] = {
        POLYC("entity_id", "entity_table", 1, uf_join_cases),
        REF_END
};

/* Files (issue #14, custom file tables): civicrm_file rows with their
 * bytes, and their civicrm_entity_file links (registry_files.c). */
static const cs_ref_t file_refs[] = {
        REF("created_id", "civicrm_contact", 0),
        REF_END
};
static const cs_ref_t entity_file_refs[] = {
        REF("file_id", "civicrm_file", 1),
        POLY("entity_id", "entity_table", 1),
        REF_END
};

/* ---- unique columns -------------------------------------------------- */

#define UNIQ_END { NULL, CS_UNIQUE_QUALIFY }
static const cs_unique_t contact_uniques[] = {
        { "external_identifier", CS_UNIQUE_QUALIFY }, UNIQ_END
};
static const cs_unique_t group_uniques[] = {
        { "name", CS_UNIQUE_QUALIFY }, { "title", CS_UNIQUE_QUALIFY }, UNIQ_END
};
static const cs_unique_t tag_uniques[] = {
        { "name", CS_UNIQUE_QUALIFY }, UNIQ_END
};
static const cs_unique_t saved_search_uniques[] = {
        { "name", CS_UNIQUE_QUALIFY }, UNIQ_END
};

/* ---- column rules ---------------------------------------------------- */

#define RULE_END { NULL, CS_COL_OMIT, NULL }
static const cs_col_rule_t contact_rules[] = {
        { "api_key", CS_COL_OMIT, "API credential: never leaves the child" },
        { "hash", CS_COL_OMIT, "checksum-link secret of this site: never leaves the child" },
        RULE_END
};
static const cs_col_rule_t saved_search_rules[] = {
        { "mapping_id", CS_COL_CLEAR,
          "references civicrm_mapping, not synced in phase 1" },
        RULE_END
};
static const cs_col_rule_t group_rules[] = {
        { "where_clause", CS_COL_CLEAR, "smart-group/ACL SQL cache (per site)" },
        { "select_tables", CS_COL_CLEAR, "smart-group/ACL SQL cache (per site)" },
        { "where_tables", CS_COL_CLEAR, "smart-group/ACL SQL cache (per site)" },
        { "cache_date", CS_COL_CLEAR, "smart-group cache time (per site)" },
        { "refresh_date", CS_COL_CLEAR, "smart-group cache time (per site)" },
        RULE_END
};
static const cs_col_rule_t group_contact_rules[] = {
        RULE_END
};

/* Files: uri is a file name under the site's custom files directory; the
 * master stores "<PREFIX>/<uri>" under its own (FORMAT.md §20). */
static const cs_col_rule_t file_rules[] = {
        { "uri", CS_COL_PREFIX_PATH,
          "file name in the custom files directory: the master stores "
          "<PREFIX>/<uri>, where the consumer wrote the bytes" },
        RULE_END
};

/* ---- polymorphic targets --------------------------------------------- */

/* Since phase 3c the owners CiviCRM allows beyond phase 1: tags on cases
 * and attachments (option group tag_used_for), notes on participants and
 * contributions (CRM_Core_BAO_Note::entityTables); they go with their
 * owner (cs_reg_poly_owned_by). */
static const char *const entity_tag_targets[] = {
        "civicrm_contact", "civicrm_activity", "civicrm_case", "civicrm_file", NULL
};
static const char *const note_targets[] = {
        "civicrm_contact", "civicrm_relationship", "civicrm_note",
        "civicrm_activity", "civicrm_participant", "civicrm_contribution", NULL
};

/* Files: attachments of synced entities; entity_file rows may also name a
 * custom value table (civicrm_value_*), whose entity_id is the id of the
 * entity the custom group extends (cs_reg_poly_custom_ok). */
static const char *const entity_file_targets[] = {
        "civicrm_contact", "civicrm_activity", "civicrm_note", NULL
};
#define FILE_LINK_FILTER                                                       \
        "entity_table IN ('civicrm_contact','civicrm_activity','civicrm_note') " \
        "OR entity_table LIKE 'civicrm\\_value\\_%'"

/* ---- older children ---------------------------------------------------- */

/* 4.2/4.3 children keep an activity's people in three places; the 4.4+
 * civicrm_activity_contact rows are synthesized from them, record_type_id
 * 1 assignee, 2 source, 3 target, id = 4 * source row id + record type. */
static const cs_table_column_t activity_contact_legacy_requires[] = {
        { "civicrm_activity_target", "id" },
        { "civicrm_activity", "source_contact_id" },
        { "civicrm_activity_assignment", "id" },
        { NULL, NULL }
};
static const char *const activity_contact_legacy_columns[] = {
        "id", "activity_id", "contact_id", "record_type_id", NULL
};
static const char *const activity_assignment_exprs[] = {
        "4 * `id` + 1", "`activity_id`", "`assignee_contact_id`", "1"
};
static const char *const activity_source_exprs[] = {
        "4 * `id` + 2", "`id`", "`source_contact_id`", "2"
};
static const char *const activity_target_exprs[] = {
        "4 * `id` + 3", "`activity_id`", "`target_contact_id`", "3"
};
static const cs_legacy_branch_t activity_contact_legacy_branches[] = {
        { "civicrm_activity_assignment", "activity_id", NULL,
          activity_assignment_exprs },
        { "civicrm_activity", "id", "`source_contact_id` IS NOT NULL",
          activity_source_exprs },
        { "civicrm_activity_target", "activity_id", NULL, activity_target_exprs },
        { NULL, NULL, NULL, NULL }
};
static const cs_legacy_t activity_contact_legacy = {
        activity_contact_legacy_requires, activity_contact_legacy_columns, 4,
        activity_contact_legacy_branches, "activity", "source_contact_id",
        "4.2 child (pre-4.4): activity contacts are synthesized from "
        "civicrm_activity_assignment, civicrm_activity.source_contact_id and "
        "civicrm_activity_target",
        "CiviCRM 4.2 schema (civicrm_activity_target, no civicrm_activity_contact)"
};

/* A fresh install's seed: the domain's contact with its email (the
 * installer's 'fixme.domainemail@example.org'), and the shipped tags. */
static const cs_seed_t seeds[] = {
        { "civicrm_contact", "civicrm_domain", "contact_id", NULL },
        { "civicrm_email", "civicrm_domain", "contact_id", "contact_id" },
        { "civicrm_tag", NULL, NULL, NULL },
        /* phase 3a: the reserved price sets, their field and option */
        { "civicrm_price_set", NULL, NULL, NULL },
        { "civicrm_price_field", NULL, NULL, NULL },
        { "civicrm_price_field_value", NULL, NULL, NULL },
        { NULL, NULL, NULL, NULL }
};

static const cs_change_log_t change_log = {
        "civicrm_log", "id", "modified_date", "entity_table", "entity_id"
};

/* ---- the registry ---------------------------------------------------- */

/* Dependency order: a row's targets come before it (activities before the
 * entity tags and notes that may point at them). Cycles and the rest are
 * resolved by the consumer's parking. */
static const cs_entity_t static_entities[] = {
        { "contact", "civicrm_contact", NULL, NULL, NULL, "modified_date",
          contact_refs, contact_uniques, contact_rules, NULL,
          "Contact (root): nests its emails, phones, addresses, IMs and websites; "
          "notes, group memberships, entity tags and relationships are separate documents", NULL },
        { "email", "civicrm_email", "contact", "contact_id", NULL, NULL,
          contact_child_refs, NULL, NULL, NULL,
          "Email (nested in its contact document; rows with contact_id NULL are location-block rows: entity loc_email)", NULL },
        { "phone", "civicrm_phone", "contact", "contact_id", NULL, NULL,
          contact_child_refs, NULL, NULL, NULL,
          "Phone (nested in its contact document)", NULL },
        { "address", "civicrm_address", "contact", "contact_id", NULL, NULL,
          address_refs, NULL, NULL, NULL,
          "Address (nested in its contact document; master_id shared addresses are translated)", NULL },
        { "im", "civicrm_im", "contact", "contact_id", NULL, NULL,
          contact_child_refs, NULL, NULL, NULL,
          "Instant-messenger handle (nested in its contact document)", NULL },
        { "website", "civicrm_website", "contact", "contact_id", NULL, NULL,
          contact_child_refs, NULL, NULL, NULL,
          "Website (nested in its contact document)", NULL },
        { "saved_search", "civicrm_saved_search", NULL, NULL, NULL, "modified_date",
          saved_search_refs, saved_search_uniques, saved_search_rules, NULL,
          "Saved search (top-level; form_values carried verbatim, embedded ids not translated)", NULL },
        { "group", "civicrm_group", NULL, NULL, NULL, NULL,
          group_refs, group_uniques, group_rules, NULL,
          "Group (top-level; smart-group caches cleared on the master)", NULL },
        { "group_nesting", "civicrm_group_nesting", NULL, NULL, NULL, NULL,
          group_nesting_refs, NULL, NULL, NULL,
          "Group nesting (top-level: a link between two groups, owned by neither)", NULL },
        { "group_organization", "civicrm_group_organization", NULL, NULL, NULL, NULL,
          group_organization_refs, NULL, NULL, NULL,
          "Group-organization link (top-level: links a group and a contact)", NULL },
        { "group_contact", "civicrm_group_contact", NULL, NULL, NULL, NULL,
          group_contact_refs, NULL, group_contact_rules, NULL,
          "Group membership (top-level: many-to-many, does not bump contact.modified_date, keeps contact documents small)", NULL },
        { "tag", "civicrm_tag", NULL, NULL, NULL, NULL,
          tag_refs, tag_uniques, NULL, NULL,
          "Tag (top-level; parent tags are translated)", NULL },
        { "relationship", "civicrm_relationship", NULL, NULL, NULL, NULL,
          relationship_refs, NULL, NULL, NULL,
          "Relationship (top-level: links two contacts, owned by neither)", NULL },
        { "activity", "civicrm_activity", NULL, NULL, NULL, "modified_date",
          activity_refs, NULL, NULL, NULL,
          "Activity (root): nests its activity contacts; source_record_id carried verbatim", NULL },
        { "activity_contact", "civicrm_activity_contact", "activity", "activity_id",
          NULL, NULL,
          activity_contact_refs, NULL, NULL, NULL,
          "Activity contact (nested in its activity document: the activity is the aggregate)",
          &activity_contact_legacy },
        { "entity_tag", "civicrm_entity_tag", NULL, NULL,
          "entity_table IN ('civicrm_contact','civicrm_activity','civicrm_case','civicrm_file')",
          NULL,
          entity_tag_refs, NULL, NULL, entity_tag_targets,
          "Entity tag (top-level: polymorphic many-to-many, does not bump contact.modified_date; on contacts, activities, cases and files; case and file tags go with their owner)", NULL },
        { "note", "civicrm_note", NULL, NULL,
          "entity_table IN ('civicrm_contact','civicrm_relationship','civicrm_note','civicrm_activity','civicrm_participant','civicrm_contribution')",
          "modified_date",
          note_refs, NULL, NULL, note_targets,
          "Note (top-level: polymorphic, own modified_date, does not bump contact.modified_date; on contacts, relationships, notes, activities, participants and contributions; participant and contribution notes go with their owner)", NULL },
        /* issue #14, "Profiles and ACLs" */
        { "acl", "civicrm_acl", NULL, NULL, NULL, NULL,
          acl_refs, NULL, NULL, NULL,
          "ACL (top-level: who, via entity_table/entity_id, may do what to which "
          "object; roles and profile/custom-group objects pass through, groups "
          "and contacts are translated, event objects wait for phase 3)", NULL },
        { "acl_entity_role", "civicrm_acl_entity_role", NULL, NULL, NULL, NULL,
          acl_entity_role_refs, NULL, NULL, NULL,
          "ACL role assignment (top-level: an ACL role, passed through, given to "
          "a group or contact of the prefix, translated)", NULL },
        { "uf_join", "civicrm_uf_join", NULL, NULL, "`entity_table` IS NOT NULL", NULL,
          uf_join_refs, NULL, NULL, NULL,
          "Profile join to a per-child page or event (top-level; parked until "
          "its target, data of phase 3, is mapped; joins with no entity are "
          "metadata)", NULL },
        /* ---- phase 3a: CiviContribute (descriptors in registry_contribute.c) ---- */
        { "contribution_page", "civicrm_contribution_page", NULL, NULL, NULL, NULL,
          cs_contribution_page_refs, NULL, cs_contribution_page_rules, NULL,
          "Contribution page (root): nests its widget; financial type and payment processors pass through as metadata", NULL },
        { "contribution_widget", "civicrm_contribution_widget", "contribution_page",
          "contribution_page_id", NULL, NULL,
          cs_contribution_widget_refs, NULL, NULL, NULL,
          "Contribution widget (nested in its contribution page)", NULL },
        { "product", "civicrm_product", NULL, NULL, NULL, NULL,
          NULL, NULL, NULL, NULL,
          "Premium product (root: shared by premiums blocks and contributions)", NULL },
        { "premiums", "civicrm_premiums", NULL, NULL, NULL, NULL,
          cs_premiums_refs, NULL, NULL, cs_page_targets,
          "Premiums block of a contribution page (root, polymorphic owner): nests its products", NULL },
        { "premiums_product", "civicrm_premiums_product", "premiums", "premiums_id",
          NULL, NULL,
          cs_premiums_product_refs, NULL, NULL, NULL,
          "Product offered by a premiums block (nested in it)", NULL },
        { "price_set", "civicrm_price_set", NULL, NULL, cs_price_set_own, NULL,
          cs_price_set_refs, cs_price_set_uniques, NULL, NULL,
          "Price set (root): the child's own only; reserved sets (is_reserved = 1) are site metadata", NULL },
        { "price_field", "civicrm_price_field", NULL, NULL, cs_price_field_own, NULL,
          cs_price_field_refs, NULL, NULL, NULL,
          "Price field of a child's own price set (root)", NULL },
        { "price_field_value", "civicrm_price_field_value", NULL, NULL,
          cs_price_field_value_own, NULL,
          cs_price_field_value_refs, NULL, NULL, NULL,
          "Price option of a child's own price field (root; membership_type_id passes through)", NULL },
        { "price_set_entity", "civicrm_price_set_entity", NULL, NULL, NULL, NULL,
          cs_price_set_entity_refs, NULL, NULL, cs_price_set_entity_targets,
          "Price set use by a page or event (root, polymorphic; events park until phase 3b)", NULL },
        { "pcp_block", "civicrm_pcp_block", NULL, NULL, NULL, NULL,
          cs_pcp_block_refs, NULL, NULL, cs_pcp_block_targets,
          "Personal campaign page settings of a page (root, polymorphic and type-name owner)", NULL },
        { "pcp", "civicrm_pcp", NULL, NULL, NULL, NULL,
          cs_pcp_refs, NULL, NULL, cs_pcp_targets,
          "Personal campaign page (root; page_type + page_id is a type-name reference)", NULL },
        { "contribution_recur", "civicrm_contribution_recur", NULL, NULL, NULL,
          "modified_date",
          cs_contribution_recur_refs, cs_contribution_uniques,
          cs_contribution_recur_rules, NULL,
          "Recurring contribution (root; payment_token_id cleared: credentials never leave the child)", NULL },
        { "contribution", "civicrm_contribution", NULL, NULL, NULL, NULL,
          cs_contribution_refs, cs_contribution_uniques, cs_contribution_rules, NULL,
          "Contribution (root): nests its soft credits and premiums; financial type, instrument and status pass through", NULL },
        { "contribution_soft", "civicrm_contribution_soft", "contribution",
          "contribution_id", NULL, NULL,
          cs_contribution_soft_refs, NULL, NULL, NULL,
          "Soft credit (nested in its contribution)", NULL },
        { "contribution_product", "civicrm_contribution_product", "contribution",
          "contribution_id", NULL, NULL,
          cs_contribution_product_refs, NULL, NULL, NULL,
          "Premium given for a contribution (nested in it)", NULL },
        { "financial_trxn", "civicrm_financial_trxn", NULL, NULL, NULL, NULL,
          cs_financial_trxn_refs, NULL, NULL, NULL,
          "Financial transaction (root: linked to contributions and items by entity_financial_trxn; accounts pass through)", NULL },
        { "line_item", "civicrm_line_item", NULL, NULL, NULL, NULL,
          cs_line_item_refs, NULL, NULL, cs_line_item_targets,
          "Line item (root, polymorphic owner: contributions now, participants and memberships park until phase 3b)", NULL },
        { "financial_item", "civicrm_financial_item", NULL, NULL, NULL, NULL,
          cs_financial_item_refs, NULL, NULL, cs_financial_item_targets,
          "Financial item (root, polymorphic owner: a line item or a financial transaction)", NULL },
        { "entity_financial_trxn", "civicrm_entity_financial_trxn", NULL, NULL, NULL,
          NULL,
          cs_entity_financial_trxn_refs, NULL, NULL, cs_entity_financial_trxn_targets,
          "Entity-transaction link (root, polymorphic owner: a contribution or a financial item)", NULL },
        { "pledge", "civicrm_pledge", NULL, NULL, NULL, NULL,
          cs_pledge_refs, NULL, cs_pledge_rules, NULL,
          "Pledge (root): nests its payments", NULL },
        { "pledge_payment", "civicrm_pledge_payment", "pledge", "pledge_id", NULL, NULL,
          cs_pledge_payment_refs, NULL, NULL, NULL,
          "Pledge payment (nested in its pledge)", NULL },
        { "pledge_block", "civicrm_pledge_block", NULL, NULL, NULL, NULL,
          cs_pledge_block_refs, NULL, NULL, cs_page_targets,
          "Pledge settings of a contribution page (root, polymorphic owner)", NULL },
        /* ---- phase 3c: CiviCampaign, CiviGrant, CiviCase, CiviMail
         * (descriptors in registry_campaign.c) ---- */
        { "campaign", "civicrm_campaign", NULL, NULL, NULL, NULL,
          cs_campaign_refs, cs_campaign_uniques, NULL, NULL,
          "Campaign (root; external_identifier qualified, parent campaigns translated by parking)", NULL },
        { "campaign_group", "civicrm_campaign_group", NULL, NULL, NULL, NULL,
          cs_campaign_group_refs, NULL, NULL, cs_campaign_group_targets,
          "Campaign target group (top-level link: a campaign and a group, polymorphic)", NULL },
        { "survey", "civicrm_survey", NULL, NULL, NULL, NULL,
          cs_survey_refs, NULL, NULL, NULL,
          "Survey or petition (root; result_id is an option group: metadata, passes through)", NULL },
        { "grant", "civicrm_grant", NULL, NULL, NULL, NULL,
          cs_grant_refs, NULL, NULL, NULL,
          "Grant (root; type and status option values and financial type pass through)", NULL },
        { "case", "civicrm_case", NULL, NULL, NULL, "modified_date",
          cs_case_refs, NULL, NULL, NULL,
          "Case (root): nests its case contacts and case activities; case type and status pass through", NULL },
        { "case_contact", "civicrm_case_contact", "case", "case_id", NULL, NULL,
          cs_case_contact_refs, NULL, NULL, NULL,
          "Case client (nested in its case)", NULL },
        { "case_activity", "civicrm_case_activity", "case", "case_id", NULL, NULL,
          cs_case_activity_refs, NULL, NULL, NULL,
          "Case activity link (nested in its case; the activity is its own document)", NULL },
        { "mailing", "civicrm_mailing", NULL, NULL, NULL, "modified_date",
          cs_mailing_refs, NULL, cs_mailing_rules, NULL,
          "Mailing (root): nests its trackable URLs; content and schedule only, "
          "never its delivery (jobs, queue, spool and events are not synced)", NULL },
        { "mailing_group", "civicrm_mailing_group", NULL, NULL, NULL, NULL,
          cs_mailing_group_refs, NULL, NULL, cs_mailing_group_targets,
          "Mailing recipients rule (top-level, polymorphic: a group or an earlier mailing)", NULL },
        { "mailing_trackable_url", "civicrm_mailing_trackable_url", "mailing",
          "mailing_id", NULL, NULL,
          cs_mailing_trackable_url_refs, NULL, NULL, NULL,
          "Trackable URL of a mailing (nested in it)", NULL },
        { "mailing_abtest", "civicrm_mailing_abtest", NULL, NULL, NULL, NULL,
          cs_mailing_abtest_refs, NULL, NULL, NULL,
          "A/B test (root: links its experimental mailings A and B and the final one C)", NULL },
        /* ---- event locations (issue #16, descriptors in registry_loc.c): the
         * contact-less rows of four contact tables, a second view of each
         * (row filter), then the location blocks naming them ---- */
        { "loc_address", "civicrm_address", NULL, NULL, CS_LOC_ROW_FILTER, NULL,
          cs_loc_address_refs, NULL, NULL, NULL,
          "Location-block address (top-level: civicrm_address rows with contact_id NULL; contact-owned addresses are nested in the contact)", NULL },
        { "loc_email", "civicrm_email", NULL, NULL, CS_LOC_ROW_FILTER, NULL,
          cs_loc_row_refs, NULL, NULL, NULL,
          "Location-block email (top-level: civicrm_email rows with contact_id NULL)", NULL },
        { "loc_phone", "civicrm_phone", NULL, NULL, CS_LOC_ROW_FILTER, NULL,
          cs_loc_row_refs, NULL, NULL, NULL,
          "Location-block phone (top-level: civicrm_phone rows with contact_id NULL)", NULL },
        { "loc_im", "civicrm_im", NULL, NULL, CS_LOC_ROW_FILTER, NULL,
          cs_loc_row_refs, NULL, NULL, NULL,
          "Location-block IM (top-level: civicrm_im rows with contact_id NULL)", NULL },
        { "loc_block", "civicrm_loc_block", NULL, NULL, NULL, NULL,
          cs_loc_block_refs, NULL, NULL, NULL,
          "Location block (root: an event's location; its address, email, phone and IM slots name loc_* rows, parked until they are mapped)", NULL },
        /* ---- phase 3b: CiviEvent, CiviMember (descriptors in registry_event.c) ---- */
        { "event", "civicrm_event", NULL, NULL, NULL, NULL,
          cs_event_refs, NULL, cs_event_rules, NULL,
          "Event (root; templates too): parent_event_id parks until the parent is mapped; type, role and payment processors pass through as metadata", NULL },
        { "discount", "civicrm_discount", NULL, NULL, NULL, NULL,
          cs_discount_refs, NULL, NULL, cs_event_targets,
          "Event discount (root, polymorphic owner: an event; a price set of the prefix)", NULL },
        { "participant", "civicrm_participant", NULL, NULL, NULL, NULL,
          cs_participant_refs, NULL, cs_participant_rules, NULL,
          "Participant (root): nests its payments; registered_by_id parks until the registrant is mapped; status and role_id (\\x01-separated roles) pass through", NULL },
        { "participant_payment", "civicrm_participant_payment", "participant",
          "participant_id", NULL, NULL,
          cs_participant_payment_refs, NULL, NULL, NULL,
          "Participant payment (nested in its participant; names a contribution)", NULL },
        { "membership", "civicrm_membership", NULL, NULL, NULL, NULL,
          cs_membership_refs, NULL, cs_membership_rules, NULL,
          "Membership (root): nests its log and payments; owner_membership_id parks until the owner is mapped; type and status pass through", NULL },
        { "membership_log", "civicrm_membership_log", "membership", "membership_id",
          NULL, NULL,
          cs_membership_log_refs, NULL, NULL, NULL,
          "Membership log row (nested in its membership: a renewal re-sends the membership)", NULL },
        { "membership_payment", "civicrm_membership_payment", "membership",
          "membership_id", NULL, NULL,
          cs_membership_payment_refs, NULL, NULL, NULL,
          "Membership payment (nested in its membership; names a contribution)", NULL },
        { "membership_block", "civicrm_membership_block", NULL, NULL, NULL, NULL,
          cs_membership_block_refs, NULL, NULL, cs_page_only_targets,
          "Membership block of a contribution page (root, polymorphic owner; membership_types is PHP-serialized, keyed by membership type id: metadata, verbatim)", NULL },
        { "tell_friend", "civicrm_tell_friend", NULL, NULL, NULL, NULL,
          cs_tell_friend_refs, NULL, NULL, cs_page_or_event_targets,
          "Tell-a-friend block of a contribution page or event (root, polymorphic owner)", NULL },
        { "recurring_entity", "civicrm_recurring_entity", NULL, NULL, NULL, NULL,
          cs_recurring_entity_refs, NULL, NULL, cs_recurring_targets,
          "Repeating event or activity link (root: parent_id and entity_id both name rows of entity_table)", NULL },
        /* Files (issue #14): after every entity a file can be attached to. */
        { "file", "civicrm_file", NULL, NULL,
          "`id` IN (SELECT `file_id` FROM `civicrm_entity_file` WHERE "
          FILE_LINK_FILTER ")", NULL,
          file_refs, NULL, file_rules, NULL,
          "File (top-level: a file attached to a synced entity or held by a custom "
          "File field; carries its bytes when the producer has files_dir, FORMAT.md §20)", NULL },
        { "entity_file", "civicrm_entity_file", NULL, NULL,
          FILE_LINK_FILTER, NULL,
          entity_file_refs, NULL, NULL, entity_file_targets,
          "File link (top-level: polymorphic like entity_tag; contact, activity, note "
          "and custom value tables, whose entity_id is the extended entity's id)", NULL },
};

#define STATIC_CNT (sizeof(static_entities) / sizeof(static_entities[0]))

/* The static entities followed by the custom-value entities registered at
 * run time (registry_custom.c, cs_reg_add_entity): one array, so that
 * entity pointers and indexes stay stable while entries are appended. */
static cs_entity_t entities[STATIC_CNT + CS_LIMIT_CUSTOM_GROUPS];
static size_t entity_cnt;

#define ENTITY_CNT entity_cnt

static void entities_init(void)
{
        if (entity_cnt == 0) {
                memcpy(entities, static_entities, sizeof(static_entities));
                entity_cnt = STATIC_CNT;
        }
}

const cs_entity_t *cs_reg_entities(size_t *count)
{
        entities_init();
        if (count)
                *count = entity_cnt;
        return entities;
}

size_t cs_reg_static_count(void)
{
        return STATIC_CNT;
}

const cs_entity_t *cs_reg_add_entity(const cs_entity_t *ent, char *errstr,
                                     size_t errstr_size)
{
        entities_init();
        if (entity_cnt >= STATIC_CNT + CS_LIMIT_CUSTOM_GROUPS) {
                snprintf(errstr, errstr_size, "registry: more than "
                         "CS_LIMIT_CUSTOM_GROUPS (%d) custom value tables, "
                         "cannot add %s", CS_LIMIT_CUSTOM_GROUPS, ent->table);
                return NULL;
        }
        entities[entity_cnt] = *ent;
        return &entities[entity_cnt++];
}

void cs_reg_set_entity(const cs_entity_t *slot, const cs_entity_t *ent)
{
        size_t i = (size_t)(slot - entities);
        if (i >= STATIC_CNT && i < entity_cnt)
                entities[i] = *ent;
}

const cs_seed_t *cs_reg_seed(const char *table)
{
        for (const cs_seed_t *s = seeds; table && s->table; s++)
                if (strcmp(s->table, table) == 0)
                        return s;
        return NULL;
}

const cs_change_log_t *cs_reg_change_log(void)
{
        return &change_log;
}

const cs_entity_t *cs_reg_by_name(const char *name)
{
        entities_init();
        if (!name)
                return NULL;
        for (size_t i = 0; i < ENTITY_CNT; i++)
                if (strcmp(entities[i].name, name) == 0)
                        return &entities[i];
        return NULL;
}

const cs_entity_t *cs_reg_by_table(const char *table)
{
        entities_init();
        if (!table)
                return NULL;
        /* Hot path (the consumer's mapping cache): callers mostly pass the
         * registry's own string. */
        for (size_t i = 0; i < ENTITY_CNT; i++)
                if (entities[i].table == table)
                        return &entities[i];
        for (size_t i = 0; i < ENTITY_CNT; i++)
                if (strcmp(entities[i].table, table) == 0)
                        return &entities[i];
        return NULL;
}

/* Returns the number of children written to out (at most max). */
size_t cs_reg_children(const cs_entity_t *root, const cs_entity_t **out,
                       size_t max)
{
        entities_init();
        size_t n = 0;
        if (!root)
                return 0;
        for (size_t i = 0; i < ENTITY_CNT && n < max; i++)
                if (entities[i].parent && strcmp(entities[i].parent, root->name) == 0)
                        out[n++] = &entities[i];
        return n;
}

int cs_reg_check(char *errstr, size_t errstr_size)
{
        entities_init();
        for (size_t i = 0; i < ENTITY_CNT; i++) {
                const cs_entity_t *ent = &entities[i];
                size_t kids = 0, refs = 0, branches = 0;

                for (size_t j = 0; j < ENTITY_CNT; j++)
                        if (entities[j].parent &&
                            strcmp(entities[j].parent, ent->name) == 0)
                                kids++;
                if (kids > CS_LIMIT_NESTED_KINDS) {
                        snprintf(errstr, errstr_size, "registry: entity %s has %zu "
                                 "nested kinds, more than CS_LIMIT_NESTED_KINDS (%d)",
                                 ent->name, kids, CS_LIMIT_NESTED_KINDS);
                        return -1;
                }
                for (const cs_ref_t *r = ent->refs; r && r->column; r++)
                        refs++;
                if (refs > CS_LIMIT_PARKS) {
                        snprintf(errstr, errstr_size, "registry: entity %s has %zu "
                                 "references, more than CS_LIMIT_PARKS (%d)",
                                 ent->name, refs, CS_LIMIT_PARKS);
                        return -1;
                }
                if (!ent->legacy)
                        continue;
                for (const cs_legacy_branch_t *b = ent->legacy->branches;
                     b && b->table; b++)
                        branches++;
                if (branches == 0 || branches > CS_LIMIT_SOURCE_BRANCHES) {
                        snprintf(errstr, errstr_size, "registry: entity %s has %zu "
                                 "legacy branches, not 1 to CS_LIMIT_SOURCE_BRANCHES (%d)",
                                 ent->name, branches, CS_LIMIT_SOURCE_BRANCHES);
                        return -1;
                }
        }
        return 0;
}

const cs_ref_t *cs_reg_ref(const cs_entity_t *ent, const char *column)
{
        if (!ent || !ent->refs || !column)
                return NULL;
        for (const cs_ref_t *r = ent->refs; r->column; r++)
                if (r->column[0] == column[0] && strcmp(r->column, column) == 0)
                        return r;
        return NULL;
}

int cs_reg_col_policy(const cs_entity_t *ent, const char *column)
{
        if (!ent || !ent->col_rules || !column)
                return 0;
        for (const cs_col_rule_t *r = ent->col_rules; r->column; r++)
                if (r->column[0] == column[0] && strcmp(r->column, column) == 0)
                        return (int)r->policy;
        return 0;
}

const cs_unique_t *cs_reg_unique(const cs_entity_t *ent, const char *column)
{
        if (!ent || !ent->uniques || !column)
                return NULL;
        for (const cs_unique_t *u = ent->uniques; u->column; u++)
                if (strcmp(u->column, column) == 0)
                        return u;
        return NULL;
}

int cs_reg_poly_target_ok(const cs_entity_t *ent, const char *table)
{
        if (!ent || !ent->poly_targets || !table)
                return 0;
        for (const char *const *t = ent->poly_targets; *t; t++)
                if (strcmp(*t, table) == 0)
                        return 1;
        return 0;
}

cs_poly_action_t cs_reg_poly_resolve(const cs_entity_t *ent, const cs_ref_t *ref,
                                     const char *table, long long id,
                                     const char **target)
{
        *target = NULL;
        if (!ref || ref->kind != CS_REF_POLY)
                return CS_POLY_REJECT;
        if (id < 0 && ref->cases)
                return CS_POLY_PASS;
        if (!ref->cases) {
                if (!cs_reg_poly_target_ok(ent, table))
                        return CS_POLY_REJECT;
                *target = table;
                return CS_POLY_TRANSLATE;
        }
        for (const cs_poly_case_t *c = ref->cases; table && c->value; c++) {
                if (strcmp(c->value, table) != 0)
                        continue;
                if (c->action == CS_POLY_PASS || c->action == CS_POLY_REJECT ||
                    (id == 0 && c->zero_passes))
                        return c->action == CS_POLY_REJECT ? CS_POLY_REJECT :
                               CS_POLY_PASS;
                *target = c->target;
                return c->action;
        }
        return CS_POLY_REJECT;
}

const char *cs_reg_poly_action_name(cs_poly_action_t action)
{
        switch (action) {
        case CS_POLY_TRANSLATE: return "translated";
        case CS_POLY_PASS: return "passes through";
        case CS_POLY_DEFER: return "deferred";
        case CS_POLY_REJECT: break;
        }
        return "rejected";
}

/* ---- collision policy -------------------------------------------------- */

/* FNV-1a, 32 bit: small, deterministic on every platform. */
static uint32_t fnv1a32(const char *s, size_t n)
{
        uint32_t h = 2166136261u;
        for (size_t i = 0; i < n; i++) {
                h ^= (unsigned char)s[i];
                h *= 16777619u;
        }
        return h;
}

/* Number of UTF-8 characters (bytes that are not continuation bytes). */
static size_t utf8_chars(const char *s, size_t n)
{
        size_t c = 0;
        for (size_t i = 0; i < n; i++)
                if (((unsigned char)s[i] & 0xC0) != 0x80)
                        c++;
        return c;
}

/* Byte length of the longest prefix of s[0..n) holding at most chars
 * characters, never ending inside a multi-byte character. */
static size_t utf8_prefix_bytes(const char *s, size_t n, size_t chars)
{
        size_t c = 0, i = 0;
        while (i < n) {
                if (((unsigned char)s[i] & 0xC0) != 0x80) {
                        if (c == chars)
                                break;
                        c++;
                }
                i++;
        }
        return i;
}

/* max_chars == 0 means the column has no known length limit. */
int cs_reg_qualify(const char *prefix, const char *value, size_t value_len,
                   size_t max_chars, char *out, size_t out_size)
{
        if (!prefix || !out || (!value && value_len > 0))
                return -1;
        size_t plen = strlen(prefix);
        size_t pchars = utf8_chars(prefix, plen) + 1; /* "<prefix>:" */
        size_t vchars = utf8_chars(value, value_len);

        if (max_chars == 0 || pchars + vchars <= max_chars) {
                size_t need = plen + 1 + value_len;
                if (need + 1 > out_size)
                        return -1;
                memcpy(out, prefix, plen);
                out[plen] = ':';
                if (value_len)
                        memcpy(out + plen + 1, value, value_len);
                out[need] = '\0';
                return (int)need;
        }
        /* "<prefix>:" + head + "~" + 8 hex digits */
        if (max_chars < pchars + 9)
                return -1;
        size_t keep = utf8_prefix_bytes(value, value_len, max_chars - pchars - 9);
        size_t need = plen + 1 + keep + 9;
        if (need + 1 > out_size)
                return -1;
        memcpy(out, prefix, plen);
        out[plen] = ':';
        if (keep)
                memcpy(out + plen + 1, value, keep);
        snprintf(out + plen + 1 + keep, 10, "~%08x",
                 (unsigned)fnv1a32(value, value_len));
        return (int)need;
}

size_t cs_reg_qualify_size(long long max_length, size_t *max_chars)
{
        *max_chars = max_length > 0 ? (size_t)max_length : 255;
        return *max_chars * 4 + 1;
}
