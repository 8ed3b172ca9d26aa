/* registry_tables.c — every CiviCRM 5.39 core table classified (synced, later-phase data, metadata, cache/log, credentials, configuration), with the reason. */
#include "registry.h"
#include "registry_contribute.h"

#include <string.h>

#define SYNC(t)      { (t), CS_TCLASS_SYNCED, "phase-1 entity: synced as data of the prefix" }
#define SYNC3C(t)    { (t), CS_TCLASS_SYNCED, "phase-3c entity (CiviCampaign, CiviGrant, CiviCase, CiviMail): synced as data of the prefix" }
#define SYNC3B(t)    { (t), CS_TCLASS_SYNCED, "phase-3b entity (CiviEvent, CiviMember): synced as data of the prefix" }
#define SYNC3A(t)    { (t), CS_TCLASS_SYNCED, "phase-3a entity (CiviContribute): synced as data of the prefix" }
#define LATER(t, w)  { (t), CS_TCLASS_DATA_LATER, (w) }
#define META(t, w)   { (t), CS_TCLASS_METADATA, (w) }
#define CACHE(t, w)  { (t), CS_TCLASS_CACHE, (w) }
#define SECRET(t, w) { (t), CS_TCLASS_CREDENTIALS, (w) }
#define CONFIG(t, w) { (t), CS_TCLASS_CONFIG, (w) }

#define P2 "data, phase 2, not yet synced"
#define P3 "data, phase 3, not yet synced"

/* Alphabetical, one line per table: the 153 CREATE TABLEs of CiviCRM 5.39
 * (tests/fixtures/civicrm-5-full.sql; the unit test "registry" checks that
 * each is here exactly once). */
static const cs_table_rule_t tables[] = {
        { "civicrm_acl", CS_TCLASS_SYNCED, "phase-2 entity: ACL rules of the prefix, synced as data (issue #14)" },
        CACHE("civicrm_acl_cache", "per-site ACL cache (the ACLs each contact holds), rebuilt by CiviCRM from the synced ACLs: never synced"),
        CACHE("civicrm_acl_contact_cache", "per-site ACL cache (contacts a user may see), rebuilt by CiviCRM: never synced"),
        { "civicrm_acl_entity_role", CS_TCLASS_SYNCED, "phase-2 entity: ACL role assignments of the prefix, synced as data (issue #14)" },
        CACHE("civicrm_action_log", "per-site log of scheduled reminders sent"),
        META("civicrm_action_mapping", "scheduled-reminder entity mappings shipped by the seed"),
        CONFIG("civicrm_action_schedule", "scheduled reminders of this site"),
        SYNC("civicrm_activity"),
        SYNC("civicrm_activity_contact"),
        SYNC("civicrm_address"),
        META("civicrm_address_format", "address formats referenced by countries"),
        LATER("civicrm_batch", P3 ": data-entry batches"),
        CACHE("civicrm_cache", "per-site cache"),
        SYNC3C("civicrm_campaign"),
        SYNC3C("civicrm_campaign_group"),
        SYNC3C("civicrm_case"),
        SYNC3C("civicrm_case_activity"),
        SYNC3C("civicrm_case_contact"),
        META("civicrm_case_type", "case type definitions referenced by cases"),
        META("civicrm_component", "the components CiviCRM knows, referenced by option values"),
        SYNC("civicrm_contact"),
        META("civicrm_contact_type", "contact types and subtypes: contact_type/contact_sub_type carry their names"),
        SYNC3A("civicrm_contribution"),
        SYNC3A("civicrm_contribution_page"),
        SYNC3A("civicrm_contribution_product"),
        SYNC3A("civicrm_contribution_recur"),
        SYNC3A("civicrm_contribution_soft"),
        SYNC3A("civicrm_contribution_widget"),
        META("civicrm_country", "countries: country_id passes through"),
        META("civicrm_county", "counties: county_id passes through"),
        META("civicrm_currency", "currencies referenced by financial data"),
        META("civicrm_custom_field", "custom field definitions (issue #14, custom data)"),
        META("civicrm_custom_group", "custom group definitions (issue #14, custom data)"),
        SECRET("civicrm_cxn", "CiviConnect connections: shared secrets of this site"),
        CONFIG("civicrm_dashboard", "dashlets of this site"),
        LATER("civicrm_dashboard_contact", P3 ": a contact's dashboard layout"),
        LATER("civicrm_dedupe_exception", P3 ": pairs of contacts marked not-duplicates"),
        META("civicrm_dedupe_rule", "duplicate-matching rules of a rule group"),
        META("civicrm_dedupe_rule_group", "duplicate-matching rule groups (seeded, referenced by the dedupe API)"),
        SYNC3B("civicrm_discount"),
        CONFIG("civicrm_domain", "this site's domain: name, version, config backend, locales"),
        SYNC("civicrm_email"),
        LATER("civicrm_entity_batch", P3),
        SYNC("civicrm_entity_file"),
        META("civicrm_entity_financial_account", "which financial account a financial type or processor books to"),
        SYNC3A("civicrm_entity_financial_trxn"),
        SYNC("civicrm_entity_tag"),
        SYNC3B("civicrm_event"),
        LATER("civicrm_event_carts", P3),
        LATER("civicrm_events_in_carts", P3),
        CONFIG("civicrm_extension", "extensions installed on this site"),
        SYNC("civicrm_file"),
        META("civicrm_financial_account", "the chart of accounts referenced by financial types"),
        SYNC3A("civicrm_financial_item"),
        SYNC3A("civicrm_financial_trxn"),
        META("civicrm_financial_type", "financial types referenced by contributions and memberships"),
        SYNC3C("civicrm_grant"),
        SYNC("civicrm_group"),
        SYNC("civicrm_group_contact"),
        CACHE("civicrm_group_contact_cache", "per-site smart-group cache, rebuilt by CiviCRM from the synced saved searches: never synced"),
        SYNC("civicrm_group_nesting"),
        SYNC("civicrm_group_organization"),
        SYNC("civicrm_im"),
        CONFIG("civicrm_job", "scheduled jobs of this site"),
        CACHE("civicrm_job_log", "per-site log of scheduled job runs"),
        SYNC3A("civicrm_line_item"),
        SYNC3B("civicrm_loc_block"),
        META("civicrm_location_type", "location types: location_type_id passes through"),
        CACHE("civicrm_log", "per-site change log: read as the change signal of 4.2 children, never synced"),
        SECRET("civicrm_mail_settings", "inbound mail accounts: their passwords"),
        SYNC3C("civicrm_mailing"),
        SYNC3C("civicrm_mailing_abtest"),
        META("civicrm_mailing_bounce_pattern", "bounce classification patterns shipped by the seed"),
        META("civicrm_mailing_bounce_type", "bounce types shipped by the seed"),
        META("civicrm_mailing_component", "mailing headers, footers and automated messages"),
        CACHE("civicrm_mailing_event_bounce", "per-site mailing delivery log: never synced, the child's own sending history (FORMAT.md §21)"),
        CACHE("civicrm_mailing_event_confirm", "per-site mailing delivery log: never synced, the child's own sending history (FORMAT.md §21)"),
        CACHE("civicrm_mailing_event_delivered", "per-site mailing delivery log: never synced, the child's own sending history (FORMAT.md §21)"),
        CACHE("civicrm_mailing_event_forward", "per-site mailing delivery log: never synced, the child's own sending history (FORMAT.md §21)"),
        CACHE("civicrm_mailing_event_opened", "per-site mailing delivery log: never synced, the child's own sending history (FORMAT.md §21)"),
        CACHE("civicrm_mailing_event_queue", "per-site mailing delivery log (the recipients of a job): never synced, the child's own sending history (FORMAT.md §21)"),
        CACHE("civicrm_mailing_event_reply", "per-site mailing delivery log: never synced, the child's own sending history (FORMAT.md §21)"),
        CACHE("civicrm_mailing_event_subscribe", "per-site mailing delivery log: never synced, the child's own sending history (FORMAT.md §21)"),
        CACHE("civicrm_mailing_event_trackable_url_open", "per-site mailing delivery log: never synced, the child's own sending history (FORMAT.md §21)"),
        CACHE("civicrm_mailing_event_unsubscribe", "per-site mailing delivery log: never synced, the child's own sending history (FORMAT.md §21)"),
        SYNC3C("civicrm_mailing_group"),
        CACHE("civicrm_mailing_job", "per-site mailing queue: never synced, so the master's cron never sends a synced mailing (FORMAT.md §21)"),
        CACHE("civicrm_mailing_recipients", "per-site mailing queue: never synced (FORMAT.md §21)"),
        CACHE("civicrm_mailing_spool", "per-site outgoing mail spool: never synced (FORMAT.md §21)"),
        SYNC3C("civicrm_mailing_trackable_url"),
        CONFIG("civicrm_managed", "entities managed by this site's extensions"),
        CONFIG("civicrm_mapping", "import/export field mappings of this site"),
        CONFIG("civicrm_mapping_field", "import/export field mappings of this site"),
        SYNC3B("civicrm_membership"),
        SYNC3B("civicrm_membership_block"),
        SYNC3B("civicrm_membership_log"),
        SYNC3B("civicrm_membership_payment"),
        META("civicrm_membership_status", "membership statuses referenced by memberships"),
        META("civicrm_membership_type", "membership types referenced by memberships"),
        CACHE("civicrm_menu", "per-site router cache, rebuilt by CiviCRM"),
        CONFIG("civicrm_msg_template", "message templates of this site (edited locally)"),
        CONFIG("civicrm_navigation", "this site's menu"),
        SYNC("civicrm_note"),
        LATER("civicrm_openid", P3),
        META("civicrm_option_group", "option groups: every option-value pseudo-FK passes through"),
        META("civicrm_option_value", "option values (activity types, genders, ...): they pass through"),
        SYNC3B("civicrm_participant"),
        SYNC3B("civicrm_participant_payment"),
        META("civicrm_participant_status_type", "participant statuses referenced by participants"),
        META("civicrm_payment_processor", "payment processors referenced by contributions; credential columns excluded"),
        META("civicrm_payment_processor_type", "payment processor types shipped by the seed"),
        SECRET("civicrm_payment_token", "stored card tokens of contacts"),
        SYNC3A("civicrm_pcp"),
        SYNC3A("civicrm_pcp_block"),
        SYNC("civicrm_phone"),
        SYNC3A("civicrm_pledge"),
        SYNC3A("civicrm_pledge_block"),
        SYNC3A("civicrm_pledge_payment"),
        CONFIG("civicrm_preferences_date", "date input formats of this site"),
        SYNC3A("civicrm_premiums"),
        SYNC3A("civicrm_premiums_product"),
        CACHE("civicrm_prevnext_cache", "per-site search result cache"),
        META("civicrm_price_field", "split: reserved price sets, their fields and options are site metadata (the gate creates them with the same ids); the child's own are data of the prefix (phase-3a entity price_field)"),
        META("civicrm_price_field_value", "split: reserved price sets, their fields and options are site metadata (the gate creates them with the same ids); the child's own are data of the prefix (phase-3a entity price_field_value)"),
        META("civicrm_price_set", "split: reserved price sets, their fields and options are site metadata (the gate creates them with the same ids); the child's own are data of the prefix (phase-3a entity price_set)"),
        SYNC3A("civicrm_price_set_entity"),
        CONFIG("civicrm_print_label", "name badge layouts of this site"),
        SYNC3A("civicrm_product"),
        CACHE("civicrm_queue_item", "per-site work queue"),
        SYNC3B("civicrm_recurring_entity"),
        SYNC("civicrm_relationship"),
        CACHE("civicrm_relationship_cache", "per-site relationship cache, rebuilt by CiviCRM (triggers) from the synced relationships: never synced"),
        META("civicrm_relationship_type", "relationship types: relationship_type_id passes through"),
        CONFIG("civicrm_report_instance", "report instances of this site"),
        SYNC("civicrm_saved_search"),
        CONFIG("civicrm_setting", "settings of this site (may hold API keys)"),
        SECRET("civicrm_sms_provider", "SMS gateway accounts: their passwords"),
        META("civicrm_state_province", "states and provinces: state_province_id passes through"),
        CONFIG("civicrm_status_pref", "system status check preferences of this site"),
        LATER("civicrm_subscription_history", P3 ": the history of group subscriptions"),
        SYNC3C("civicrm_survey"),
        CACHE("civicrm_system_log", "per-site log"),
        SYNC("civicrm_tag"),
        SYNC3B("civicrm_tell_friend"),
        META("civicrm_timezone", "time zones referenced by countries"),
        LATER("civicrm_translation", P3 ": translations of entity fields"),
        META("civicrm_uf_field", "profile fields (issue #14, profiles)"),
        META("civicrm_uf_group", "profile definitions (issue #14, profiles)"),
        META("civicrm_uf_join", "profile joins with no entity (User Registration, Profile, User Account...): metadata; rows that attach a profile to a per-child page or event are data (registry entity uf_join, parked until phase 3)"),
        CONFIG("civicrm_uf_match", "this site's CMS user <-> contact links"),
        SYNC("civicrm_website"),
        CONFIG("civicrm_word_replacement", "word replacements of this site"),
        META("civicrm_worldregion", "world regions referenced by countries"),
        { NULL, CS_TCLASS_UNKNOWN, NULL }
};

/* Columns of metadata tables left out of the gate's fingerprint. */
static const cs_meta_col_rule_t meta_excluded[] = {
        { "civicrm_payment_processor", "user_name", "credential: the processor account's login" },
        { "civicrm_payment_processor", "password", "credential: the processor account's password" },
        { "civicrm_payment_processor", "signature", "credential: the processor account's API signature" },
        { "civicrm_payment_processor", "subject", "credential: the processor account's API subject" },
        { NULL, NULL, NULL }
};

/* Tables whose rows are partly metadata, partly data of the prefix. */
static const cs_meta_row_rule_t meta_rows[] = {
        { "civicrm_uf_join", "`entity_table` IS NULL",
          "a join with no entity (module User Registration, User Account, Profile, "
          "...) configures the site; one naming an event, contribution page or "
          "survey is data of the prefix (registry entity uf_join)" },
        { "civicrm_price_set", cs_price_set_site,
          "a reserved price set (default_contribution_amount, "
          "default_membership_type_amount) has the same id on every site; the "
          "child's own sets are data (registry entity price_set)" },
        { "civicrm_price_field", cs_price_field_site,
          "a field of a reserved price set (the membership amount field CiviCRM "
          "keeps for membership types); the others are data (entity price_field)" },
        { "civicrm_price_field_value", cs_price_field_value_site,
          "an option of a reserved set's field (one per membership type); the "
          "others are data (entity price_field_value)" },
        { NULL, NULL, NULL }
};

const char *cs_reg_meta_row_filter(const char *table)
{
        for (size_t i = 0; table && meta_rows[i].table; i++)
                if (!strcmp(meta_rows[i].table, table))
                        return meta_rows[i].only;
        return NULL;
}

const cs_meta_row_rule_t *cs_reg_meta_row_rules(void)
{
        return meta_rows;
}

const cs_table_rule_t *cs_reg_tables(size_t *count)
{
        if (count)
                *count = sizeof(tables) / sizeof(tables[0]) - 1;
        return tables;
}

const cs_table_rule_t *cs_reg_table(const char *name)
{
        for (size_t i = 0; name && tables[i].table; i++)
                if (!strcmp(tables[i].table, name))
                        return &tables[i];
        return NULL;
}

cs_table_class_t cs_reg_table_class(const char *name)
{
        const cs_table_rule_t *t = cs_reg_table(name);
        return t ? t->cls : CS_TCLASS_UNKNOWN;
}

const char *cs_reg_table_class_name(cs_table_class_t cls)
{
        switch (cls) {
        case CS_TCLASS_SYNCED: return "synced";
        case CS_TCLASS_DATA_LATER: return "data-later";
        case CS_TCLASS_METADATA: return "metadata";
        case CS_TCLASS_CACHE: return "cache";
        case CS_TCLASS_CREDENTIALS: return "credentials";
        case CS_TCLASS_CONFIG: return "config";
        case CS_TCLASS_UNKNOWN: break;
        }
        return "unknown";
}

const char *cs_reg_meta_col_excluded(const char *table, const char *column)
{
        for (size_t i = 0; meta_excluded[i].table; i++)
                if (!strcmp(meta_excluded[i].table, table) &&
                    !strcmp(meta_excluded[i].column, column))
                        return meta_excluded[i].why;
        return NULL;
}

const cs_meta_col_rule_t *cs_reg_meta_col_rules(void)
{
        return meta_excluded;
}

/* ---- ids inside strings ---------------------------------------------------
 * Every text column that holds (or looks as if it held) ids inside
 * serialized, JSON or separated text, with what civisync does with it. The
 * unit test "tables" fails when a text column of a synced or metadata table
 * of the DDL fixture matches the id-bearing pattern and is not listed here
 * (docs/FORMAT.md §15.1 lists them). */
#define IDT(t, c, p, r) { (t), (c), CS_IDTEXT_##p, (r) }
static const cs_idtext_t id_texts[] = {
        /* synced tables */
        IDT("civicrm_group", "parents", TRANSLATED,
            "comma-separated civicrm_group ids: ID_LIST reference, every id translated"),
        IDT("civicrm_group", "children", TRANSLATED,
            "comma-separated civicrm_group ids: ID_LIST reference, every id translated"),
        IDT("civicrm_group", "where_clause", CLEARED,
            "smart-group SQL with the child's group and contact ids: CLEAR, the master's CiviCRM rebuilds it"),
        IDT("civicrm_group", "select_tables", CLEARED,
            "PHP-serialized table list of the smart-group SQL: CLEAR, rebuilt by the master"),
        IDT("civicrm_group", "where_tables", CLEARED,
            "PHP-serialized table list of the smart-group SQL: CLEAR, rebuilt by the master"),
        IDT("civicrm_group", "group_type", METADATA,
            "\\x01-separated option values (group_type): the same on every site"),
        IDT("civicrm_saved_search", "form_values", VERBATIM,
            "PHP-serialized search form: group, tag, contact and custom-field ids of the "
            "child stay untranslated (a smart group on the master may select other rows "
            "until it is saved again there)"),
        IDT("civicrm_saved_search", "api_params", VERBATIM,
            "JSON API (SearchKit) parameters: ids in its where clauses stay untranslated"),
        IDT("civicrm_contact", "contact_sub_type", METADATA,
            "\\x01-separated contact-type names"),
        IDT("civicrm_contact", "preferred_communication_method", METADATA,
            "\\x01-separated option values"),
        IDT("civicrm_contact", "preferred_language", METADATA, "a language code (option value)"),
        IDT("civicrm_contact", "legal_identifier", NO_IDS, "a legal number (SSN, EIN...)"),
        IDT("civicrm_contact", "external_identifier", NO_IDS,
            "an external system's id: QUALIFY (FORMAT.md §14), never a civicrm id"),
        IDT("civicrm_contact", "user_unique_id", NO_IDS, "an OpenID URL"),
        IDT("civicrm_note", "privacy", METADATA, "an option value (note_privacy)"),
        IDT("civicrm_activity", "result", METADATA, "a survey result option value"),
        IDT("civicrm_acl", "object_table", NO_IDS,
            "a table name or a permission name; its id is object_id (POLY cases)"),
        IDT("civicrm_uf_join", "entity_table", NO_IDS,
            "a table name; its id is entity_id (POLY cases: deferred to phase 3)"),
        IDT("civicrm_uf_join", "module_data", VERBATIM,
            "JSON settings of the joining module (e.g. on-behalf profiles): ids in it "
            "stay untranslated; the rows wait for phase 3 anyway"),
        /* phase 3a: CiviContribute */
        IDT("civicrm_contribution", "trxn_id", NO_IDS,
            "the payment processor's transaction id: QUALIFY (FORMAT.md §14)"),
        IDT("civicrm_contribution", "invoice_id", NO_IDS,
            "an invoice reference: QUALIFY (FORMAT.md §14)"),
        IDT("civicrm_contribution", "creditnote_id", NO_IDS, "a credit note number"),
        IDT("civicrm_contribution_recur", "trxn_id", NO_IDS,
            "the processor's transaction id: QUALIFY (FORMAT.md §14)"),
        IDT("civicrm_contribution_recur", "invoice_id", NO_IDS,
            "an invoice reference: QUALIFY (FORMAT.md §14)"),
        IDT("civicrm_contribution_recur", "processor_id", NO_IDS,
            "the processor's subscription reference (not a secret, not a civicrm id)"),
        IDT("civicrm_financial_trxn", "trxn_id", NO_IDS,
            "the payment processor's transaction id"),
        IDT("civicrm_contribution_page", "cc_receipt", NO_IDS, "e-mail addresses"),
        IDT("civicrm_contribution_page", "bcc_receipt", NO_IDS, "e-mail addresses"),
        IDT("civicrm_product", "options", NO_IDS, "the product's options as text (sizes...)"),
        IDT("civicrm_pledge_block", "pledge_frequency_unit", METADATA,
            "\\x01-separated frequency unit names"),
        /* phase 3c: campaigns, mailings */
        IDT("civicrm_campaign", "external_identifier", NO_IDS,
            "an external system's id: QUALIFY (FORMAT.md §14), never a civicrm id"),
        IDT("civicrm_mailing", "template_options", NO_IDS,
            "JSON options of the templating system (e.g. Mosaico's layout): no civicrm ids"),
        IDT("civicrm_mailing", "email_selection_method", NO_IDS,
            "a method name (automatic, location-only...)"),
        IDT("civicrm_mailing_abtest", "testing_criteria", NO_IDS,
            "a criterion name (subject, from, full_email)"),
        IDT("civicrm_mailing_abtest", "winner_criteria", NO_IDS,
            "a criterion name (open, unique_click, link)"),
        /* phase 3b: CiviEvent, CiviMember */
        IDT("civicrm_participant", "role_id", METADATA,
            "\\x01-separated participant role option values (participant_role): "
            "a list of metadata values, the same on every site, carried verbatim"),
        IDT("civicrm_membership_block", "membership_types", METADATA,
            "PHP-serialized array keyed by civicrm_membership_type id (value: "
            "auto-renew option): metadata ids, carried verbatim"),
        IDT("civicrm_event", "cc_confirm", NO_IDS, "e-mail addresses"),
        IDT("civicrm_event", "bcc_confirm", NO_IDS, "e-mail addresses"),
        IDT("civicrm_event", "payment_processor", METADATA,
            "\\x01-separated civicrm_payment_processor ids: metadata, carried verbatim"),
        /* metadata tables: verbatim, and the gate compares them */
        IDT("civicrm_custom_field", "filter", VERBATIM,
            "contact-reference filter as API params ('action=get&group=3'): the "
            "child's group ids stay untranslated in shared metadata"),
        IDT("civicrm_custom_group", "extends_entity_column_value", METADATA,
            "\\x01-separated subtypes: option values, contact-type names, relationship "
            "type ids or event types"),
        IDT("civicrm_option_value", "value", METADATA,
            "the option's value: what the pseudo-FKs of data rows hold"),
        IDT("civicrm_membership_type", "relationship_type_id", METADATA,
            "\\x01-separated civicrm_relationship_type ids"),
        IDT("civicrm_uf_group", "group_type", METADATA,
            "comma-separated profile types, then \\x01-separated subtype ids (option values)"),
        IDT("civicrm_action_mapping", "entity_recipient", NO_IDS, "an option group name"),
        IDT("civicrm_action_mapping", "entity_value", NO_IDS, "an entity or table name"),
        IDT("civicrm_custom_field", "default_value", VERBATIM,
            "the field's default: for a contact-reference field a contact id of the "
            "child, untranslated in shared metadata"),
        /* tables civisync does not sync: what a later phase must do */
        IDT("civicrm_report_instance", "form_values", NOT_SYNCED,
            "PHP-serialized report criteria with group/contact ids: configuration of the site"),
        IDT("civicrm_setting", "value", NOT_SYNCED,
            "PHP-serialized setting values (some hold ids): configuration of the site"),
        IDT("civicrm_mapping_field", "value", NOT_SYNCED,
            "search-builder values (may be ids): configuration of the site"),
        IDT("civicrm_action_schedule", "recipient_manual", NOT_SYNCED,
            "comma-separated contact ids: configuration of the site"),
        IDT("civicrm_job", "parameters", NOT_SYNCED, "job parameters (may name ids)"),
        { NULL, NULL, 0, NULL }
};
#undef IDT

const cs_idtext_t *cs_reg_id_texts(void)
{
        return id_texts;
}

const cs_idtext_t *cs_reg_id_text(const char *table, const char *column)
{
        for (size_t i = 0; table && column && id_texts[i].table; i++)
                if (!strcmp(id_texts[i].table, table) &&
                    !strcmp(id_texts[i].column, column))
                        return &id_texts[i];
        return NULL;
}

const char *cs_reg_id_text_policy_name(cs_idtext_policy_t policy)
{
        switch (policy) {
        case CS_IDTEXT_TRANSLATED: return "translated";
        case CS_IDTEXT_CLEARED: return "cleared";
        case CS_IDTEXT_METADATA: return "metadata ids";
        case CS_IDTEXT_VERBATIM: return "verbatim (limitation)";
        case CS_IDTEXT_NO_IDS: return "no ids";
        case CS_IDTEXT_NOT_SYNCED: return "not synced";
        }
        return "unknown";
}
