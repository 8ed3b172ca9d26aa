/* test_registry.c — the entity registry is complete and self-consistent; cs_reg_qualify keeps values distinct. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capacity.h"
#include "registry.h"
#include "registry_meta.h"
#include "suites.h"

static const char *const phase1_tables[] = {
        "civicrm_contact", "civicrm_email", "civicrm_phone", "civicrm_address",
        "civicrm_im", "civicrm_website", "civicrm_saved_search", "civicrm_group",
        "civicrm_group_nesting", "civicrm_group_organization", "civicrm_group_contact",
        "civicrm_tag", "civicrm_entity_tag", "civicrm_relationship", "civicrm_note",
        "civicrm_activity", "civicrm_activity_contact",
        /* phase 2 (issue #14, "Profiles and ACLs") */
        "civicrm_acl", "civicrm_acl_entity_role", "civicrm_uf_join",
        /* issue #14, "Custom file tables" */
        "civicrm_file", "civicrm_entity_file",
        /* phase 3a: CiviContribute */
        "civicrm_contribution_page", "civicrm_contribution_widget", "civicrm_product",
        "civicrm_premiums", "civicrm_premiums_product", "civicrm_price_set",
        "civicrm_price_field", "civicrm_price_field_value", "civicrm_price_set_entity",
        "civicrm_pcp_block", "civicrm_pcp", "civicrm_contribution_recur",
        "civicrm_contribution", "civicrm_contribution_soft",
        "civicrm_contribution_product", "civicrm_financial_trxn", "civicrm_line_item",
        "civicrm_financial_item", "civicrm_entity_financial_trxn", "civicrm_pledge",
        "civicrm_pledge_payment", "civicrm_pledge_block",
        /* phase 3c: CiviCampaign, CiviGrant, CiviCase, CiviMail */
        "civicrm_campaign", "civicrm_campaign_group", "civicrm_survey", "civicrm_grant",
        "civicrm_case", "civicrm_case_contact", "civicrm_case_activity",
        "civicrm_mailing", "civicrm_mailing_group", "civicrm_mailing_trackable_url",
        "civicrm_mailing_abtest",
        /* phase 3b: CiviEvent, CiviMember */
        "civicrm_event", "civicrm_discount", "civicrm_participant",
        "civicrm_participant_payment", "civicrm_membership", "civicrm_membership_log",
        "civicrm_membership_payment", "civicrm_membership_block", "civicrm_tell_friend",
        "civicrm_recurring_entity",
        /* event locations (issue #16): the location blocks */
        "civicrm_loc_block",
};
/* Second views of a table (registry_loc.c): the location blocks'
 * contact-less addresses, emails, phones and IMs. */
static const char *const view_names[] = {
        "loc_address", "loc_email", "loc_phone", "loc_im",
};
#define NVIEWS (sizeof(view_names) / sizeof(view_names[0]))
#define NTABLES (sizeof(phase1_tables) / sizeof(phase1_tables[0]))

static size_t index_of(const cs_entity_t *e)
{
        size_t n;
        const cs_entity_t *all = cs_reg_entities(&n);
        return (size_t)(e - all);
}

START_TEST(every_phase1_table_present)
{
        size_t n;
        const cs_entity_t *all = cs_reg_entities(&n);
        ck_assert_uint_eq(n, NTABLES + NVIEWS);
        for (size_t i = 0; i < NTABLES; i++) {
                const cs_entity_t *e = cs_reg_by_table(phase1_tables[i]);
                ck_assert_msg(e != NULL, "%s missing", phase1_tables[i]);
                ck_assert_ptr_eq(cs_reg_by_name(e->name), e);
                ck_assert_str_eq(e->table + strlen("civicrm_"), e->name);
                ck_assert_msg(e->summary && strlen(e->summary) > 10, "%s: no summary", e->name);
        }
        ck_assert_ptr_null(cs_reg_by_table("civicrm_batch"));
        ck_assert_ptr_null(cs_reg_by_name("batch"));
        ck_assert_ptr_null(cs_reg_by_name(NULL));
        /* names are unique */
        for (size_t i = 0; i < n; i++)
                for (size_t j = i + 1; j < n; j++)
                        ck_assert_str_ne(all[i].name, all[j].name);
}
END_TEST

/* One table, two entities (registry_loc.c): the contact's nested rows and
 * the location blocks' contact-less rows, told apart by disjoint filters;
 * lookups by table name pick the right one. */
START_TEST(table_views)
{
        char buf[256], buf2[256];

        for (size_t i = 0; i < NVIEWS; i++) {
                const cs_entity_t *v = cs_reg_by_name(view_names[i]);
                ck_assert_ptr_nonnull(v);
                const cs_entity_t *nested = cs_reg_by_table(v->table);
                /* by table: the contact's view, so existing callers keep it */
                ck_assert_ptr_ne(nested, v);
                ck_assert_str_eq(nested->parent, "contact");
                ck_assert_str_eq(nested->name, view_names[i] + strlen("loc_"));
                /* a tombstone's table names the root view */
                ck_assert_ptr_eq(cs_reg_root_by_table(v->table), v);
                ck_assert_ptr_null(v->parent);
                ck_assert_uint_eq(cs_reg_views(v->table), 2);
                ck_assert_str_eq(v->row_filter, "`contact_id` IS NULL");
                ck_assert_str_eq(cs_reg_view_filter(v, buf, sizeof(buf)),
                                 "`contact_id` IS NULL");
                ck_assert_str_eq(cs_reg_view_filter(nested, buf2, sizeof(buf2)),
                                 "`contact_id` IS NOT NULL");
                ck_assert_ptr_null(cs_reg_view_filter(v, buf, 8)); /* too small */
                /* per-entity state keys stay distinct (fingerprint files) */
                ck_assert_str_eq(cs_reg_view_key(nested), nested->table);
                ck_assert_str_eq(cs_reg_view_key(v), v->name);
                /* contact_id may be NULL: not required */
                ck_assert_int_eq(cs_reg_ref(v, "contact_id")->required, 0);
                /* the rows come before the block naming them */
                ck_assert_uint_lt(index_of(v), index_of(cs_reg_by_name("loc_block")));
        }
        const cs_entity_t *lb = cs_reg_by_name("loc_block");
        static const char *const slots[] = {
                "address_id", "email_id", "phone_id", "im_id",
                "address_2_id", "email_2_id", "phone_2_id", "im_2_id",
        };
        for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++) {
                const cs_ref_t *r = cs_reg_ref(lb, slots[i]);
                ck_assert_ptr_nonnull(r);
                ck_assert_int_eq(r->kind, CS_REF_ENTITY);
                ck_assert_int_eq(r->required, 0);
                ck_assert_uint_eq(cs_reg_views(r->target), 2);
        }
        ck_assert_uint_lt(index_of(lb), index_of(cs_reg_by_name("event")));
        /* a table with one entity has no view filter, its key is its table */
        ck_assert_uint_eq(cs_reg_views("civicrm_loc_block"), 1);
        ck_assert_ptr_null(cs_reg_view_filter(lb, buf, sizeof(buf)));
        ck_assert_str_eq(cs_reg_view_key(lb), "civicrm_loc_block");
        ck_assert_ptr_eq(cs_reg_root_by_table("civicrm_contact"),
                         cs_reg_by_name("contact"));
        ck_assert_ptr_null(cs_reg_root_by_table("civicrm_website")); /* nested only */
        ck_assert_ptr_null(cs_reg_root_by_table(NULL));
        ck_assert_uint_eq(cs_reg_views("civicrm_batch"), 0);
}
END_TEST

START_TEST(refs_name_registered_tables)
{
        size_t n;
        const cs_entity_t *all = cs_reg_entities(&n);
        for (size_t i = 0; i < n; i++) {
                const cs_entity_t *e = &all[i];
                for (const cs_ref_t *r = e->refs; r && r->column; r++) {
                        ck_assert_ptr_eq(cs_reg_ref(e, r->column), r);
                        if (r->kind == CS_REF_POLY && r->cases) {
                                /* every translated or deferred case names its
                                 * mapping's table, and a translated one is synced */
                                ck_assert_ptr_nonnull(r->table_column);
                                ck_assert_msg(r->cases[0].value, "%s.%s: no cases",
                                              e->name, r->column);
                                for (const cs_poly_case_t *c = r->cases; c->value; c++) {
                                        ck_assert_msg(c->why && c->why[0], "%s.%s %s: no why",
                                                      e->name, r->column, c->value);
                                        if (c->action == CS_POLY_TRANSLATE)
                                                ck_assert_msg(c->target && cs_reg_by_table(c->target),
                                                              "%s.%s %s: target not registered",
                                                              e->name, r->column, c->value);
                                        if (c->action == CS_POLY_DEFER)
                                                ck_assert_msg(c->target && !cs_reg_by_table(c->target),
                                                              "%s.%s %s: a deferred target must not "
                                                              "be synced yet", e->name, r->column,
                                                              c->value);
                                }
                        } else if (r->kind == CS_REF_POLY) {
                                ck_assert_ptr_nonnull(r->table_column);
                                ck_assert_msg(e->poly_targets && e->poly_targets[0],
                                              "%s.%s POLY without targets", e->name, r->column);
                                ck_assert_msg(e->row_filter != NULL,
                                              "%s: POLY rows must be restricted by row_filter", e->name);
                                for (const char *const *t = e->poly_targets; *t; t++) {
                                        ck_assert_msg(cs_reg_by_table(*t) != NULL,
                                                      "%s poly target %s not registered", e->name, *t);
                                        ck_assert_msg(strstr(e->row_filter, *t) != NULL,
                                                      "%s row_filter lacks %s", e->name, *t);
                                }
                        } else {
                                ck_assert_msg(r->target && cs_reg_by_table(r->target),
                                              "%s.%s target %s not registered", e->name,
                                              r->column, r->target ? r->target : "(null)");
                        }
                        /* a referenced column is never also cleared or omitted */
                        ck_assert_int_eq(cs_reg_col_policy(e, r->column), 0);
                }
        }
        /* spot checks of the declared references */
        const cs_entity_t *g = cs_reg_by_name("group");
        ck_assert_int_eq(cs_reg_ref(g, "parents")->kind, CS_REF_ID_LIST);
        ck_assert_str_eq(cs_reg_ref(g, "children")->target, "civicrm_group");
        ck_assert_str_eq(cs_reg_ref(g, "saved_search_id")->target, "civicrm_saved_search");
        const cs_entity_t *et = cs_reg_by_name("entity_tag");
        ck_assert_int_eq(cs_reg_ref(et, "entity_id")->kind, CS_REF_POLY);
        ck_assert_int_eq(cs_reg_ref(et, "entity_id")->required, 1);
        ck_assert(cs_reg_poly_target_ok(et, "civicrm_activity"));
        /* phase 3c: CiviCRM's tag_used_for also names cases and files */
        ck_assert(cs_reg_poly_target_ok(et, "civicrm_case"));
        ck_assert(cs_reg_poly_target_ok(et, "civicrm_file"));
        ck_assert(!cs_reg_poly_target_ok(et, "civicrm_grant"));
        const cs_entity_t *note = cs_reg_by_name("note");
        ck_assert(cs_reg_poly_target_ok(note, "civicrm_note"));
        ck_assert(cs_reg_poly_target_ok(note, "civicrm_relationship"));
        ck_assert(cs_reg_poly_target_ok(note, "civicrm_contribution"));
        ck_assert(cs_reg_poly_target_ok(note, "civicrm_participant"));
        ck_assert(!cs_reg_poly_target_ok(note, "civicrm_case"));
        /* the phase-3c owners take their notes and tags with them */
        ck_assert(cs_reg_poly_owned_by("civicrm_note", "civicrm_contribution"));
        ck_assert(cs_reg_poly_owned_by("civicrm_entity_tag", "civicrm_case"));
        ck_assert(!cs_reg_poly_owned_by("civicrm_note", "civicrm_contact"));
        ck_assert(!cs_reg_poly_owned_by("civicrm_entity_tag", "civicrm_activity"));
        ck_assert(!cs_reg_poly_target_ok(cs_reg_by_name("contact"), "civicrm_contact"));
        ck_assert_str_eq(cs_reg_ref(cs_reg_by_name("address"), "master_id")->target, "civicrm_address");
        ck_assert_str_eq(cs_reg_ref(cs_reg_by_name("activity"), "phone_id")->target, "civicrm_phone");
        ck_assert_str_eq(cs_reg_ref(cs_reg_by_name("group_contact"), "email_id")->target, "civicrm_email");
        ck_assert_ptr_null(cs_reg_ref(cs_reg_by_name("activity"), "source_record_id"));
        ck_assert_ptr_null(cs_reg_ref(cs_reg_by_name("contact"), "prefix_id"));
        ck_assert_ptr_null(cs_reg_ref(cs_reg_by_name("relationship"), "relationship_type_id"));
        ck_assert_ptr_null(cs_reg_ref(cs_reg_by_name("address"), "country_id"));
        ck_assert_int_eq(cs_reg_ref(cs_reg_by_name("relationship"), "contact_id_b")->required, 1);
        ck_assert_int_eq(cs_reg_ref(cs_reg_by_name("contact"), "employer_id")->required, 0);
}
END_TEST

/* What an ACL's or a profile join's polymorphic id is, per table name. */
START_TEST(poly_cases_resolve)
{
        const cs_entity_t *acl = cs_reg_by_name("acl");
        const cs_entity_t *role = cs_reg_by_name("acl_entity_role");
        const cs_entity_t *uj = cs_reg_by_name("uf_join");
        const cs_ref_t *who = cs_reg_ref(acl, "entity_id");
        const cs_ref_t *what = cs_reg_ref(acl, "object_id");
        const char *t;

        ck_assert_ptr_nonnull(acl);
        ck_assert_int_eq(cs_reg_poly_resolve(acl, who, "civicrm_acl_role", 1, &t), CS_POLY_PASS);
        ck_assert_ptr_null(t);
        ck_assert_int_eq(cs_reg_poly_resolve(acl, who, "civicrm_acl_role", 0, &t), CS_POLY_PASS);
        ck_assert_int_eq(cs_reg_poly_resolve(acl, who, "civicrm_group", 4, &t), CS_POLY_TRANSLATE);
        ck_assert_str_eq(t, "civicrm_group");
        ck_assert_int_eq(cs_reg_poly_resolve(acl, who, "civicrm_contact", 4, &t), CS_POLY_TRANSLATE);
        ck_assert_str_eq(t, "civicrm_contact");
        ck_assert_int_eq(cs_reg_poly_resolve(acl, who, "civicrm_case", 4, &t), CS_POLY_REJECT);
        ck_assert_int_eq(cs_reg_poly_resolve(acl, who, NULL, 4, &t), CS_POLY_REJECT);
        /* CiviCRM names groups 'civicrm_saved_search' in ACLs; 0 = all groups */
        ck_assert_int_eq(cs_reg_poly_resolve(acl, what, "civicrm_saved_search", 3, &t), CS_POLY_TRANSLATE);
        ck_assert_str_eq(t, "civicrm_group");
        ck_assert_int_eq(cs_reg_poly_resolve(acl, what, "civicrm_saved_search", 0, &t), CS_POLY_PASS);
        ck_assert_int_eq(cs_reg_poly_resolve(acl, what, "civicrm_uf_group", 3, &t), CS_POLY_PASS);
        ck_assert_int_eq(cs_reg_poly_resolve(acl, what, "civicrm_custom_group", 3, &t), CS_POLY_PASS);
        /* events are synced since phase 3b; 0 = all events */
        ck_assert_int_eq(cs_reg_poly_resolve(acl, what, "civicrm_event", 3, &t), CS_POLY_TRANSLATE);
        ck_assert_str_eq(t, "civicrm_event");
        ck_assert_int_eq(cs_reg_poly_resolve(acl, what, "civicrm_event", 0, &t), CS_POLY_PASS);
        /* a permission name with no id ("Core ACL" rows) */
        ck_assert_int_eq(cs_reg_poly_resolve(acl, what, "access CiviCRM", -1, &t), CS_POLY_PASS);
        ck_assert_int_eq(cs_reg_poly_resolve(acl, what, "access CiviCRM", 2, &t), CS_POLY_REJECT);
        ck_assert_int_eq(cs_reg_poly_resolve(role, cs_reg_ref(role, "entity_id"),
                                             "civicrm_group", 1, &t), CS_POLY_TRANSLATE);
        ck_assert_ptr_null(cs_reg_ref(role, "acl_role_id")); /* an option value */
        ck_assert_int_eq(cs_reg_poly_resolve(uj, cs_reg_ref(uj, "entity_id"),
                                             "civicrm_event", 6, &t), CS_POLY_TRANSLATE);
        /* surveys are synced since phase 3c */
        ck_assert_int_eq(cs_reg_poly_resolve(uj, cs_reg_ref(uj, "entity_id"),
                                             "civicrm_survey", 6, &t), CS_POLY_TRANSLATE);
        /* contribution pages are synced since phase 3a: translated */
        ck_assert_int_eq(cs_reg_poly_resolve(uj, cs_reg_ref(uj, "entity_id"),
                                             "civicrm_contribution_page", 1, &t), CS_POLY_TRANSLATE);
        ck_assert_ptr_null(cs_reg_ref(uj, "uf_group_id")); /* metadata */
        /* entities without cases keep their poly_targets */
        const cs_entity_t *et = cs_reg_by_name("entity_tag");
        ck_assert_int_eq(cs_reg_poly_resolve(et, cs_reg_ref(et, "entity_id"),
                                             "civicrm_activity", 2, &t), CS_POLY_TRANSLATE);
        ck_assert_int_eq(cs_reg_poly_resolve(et, cs_reg_ref(et, "entity_id"),
                                             "civicrm_case", 2, &t), CS_POLY_TRANSLATE);
        ck_assert_str_eq(t, "civicrm_case");
        ck_assert_int_eq(cs_reg_poly_resolve(et, cs_reg_ref(et, "entity_id"),
                                             "civicrm_grant", 2, &t), CS_POLY_REJECT);
        ck_assert_str_eq(cs_reg_poly_action_name(CS_POLY_DEFER), "deferred");
}
END_TEST

/* Phase 3a: type-name references (civicrm_pcp.page_type 'contribute' +
 * page_id) as POLY cases whose values are type names, the later-phase
 * owners of polymorphic rows, reserved price sets, credentials. */
/* Phase 3b: self-references, list and serialized metadata columns, the
 * polymorphic owners that go with their owner, and the membership type
 * policy (metadata pointing at data is handed to the master's own row). */
START_TEST(phase3b_rules)
{
        const cs_entity_t *p = cs_reg_by_name("participant");
        const cs_entity_t *m = cs_reg_by_name("membership");
        const cs_entity_t *ev = cs_reg_by_name("event");
        const cs_entity_t *re = cs_reg_by_name("recurring_entity");
        const char *t = NULL, *c = NULL, *r = NULL;

        ck_assert_str_eq(cs_reg_ref(p, "registered_by_id")->target, "civicrm_participant");
        ck_assert_str_eq(cs_reg_ref(m, "owner_membership_id")->target, "civicrm_membership");
        ck_assert_str_eq(cs_reg_ref(ev, "parent_event_id")->target, "civicrm_event");
        ck_assert_int_eq(cs_reg_ref(p, "registered_by_id")->required, 0);
        ck_assert_ptr_null(cs_reg_ref(p, "role_id")); /* metadata list */
        ck_assert_int_eq(cs_reg_id_text("civicrm_participant", "role_id")->policy,
                         CS_IDTEXT_METADATA);
        ck_assert_int_eq(cs_reg_id_text("civicrm_membership_block",
                                        "membership_types")->policy, CS_IDTEXT_METADATA);
        ck_assert_int_eq(cs_reg_col_policy(ev, "loc_block_id"), 0);
        ck_assert_str_eq(cs_reg_ref(ev, "loc_block_id")->target, "civicrm_loc_block");
        ck_assert_int_eq(cs_reg_col_policy(p, "cart_id"), CS_COL_CLEAR);
        ck_assert_str_eq(cs_reg_by_name("participant_payment")->parent, "participant");
        ck_assert_str_eq(cs_reg_by_name("membership_log")->parent, "membership");
        /* two POLY references on one table column */
        ck_assert_int_eq(cs_reg_poly_resolve(re, cs_reg_ref(re, "parent_id"),
                                             "civicrm_event", 3, &t), CS_POLY_TRANSLATE);
        ck_assert_int_eq(cs_reg_poly_resolve(re, cs_reg_ref(re, "entity_id"),
                                             "civicrm_activity", 3, &t), CS_POLY_TRANSLATE);
        ck_assert_int_eq(cs_reg_poly_resolve(re, cs_reg_ref(re, "entity_id"),
                                             "civicrm_case", 3, &t), CS_POLY_REJECT);
        ck_assert_int_eq(cs_reg_poly_owned("civicrm_tell_friend"), 1);
        ck_assert_int_eq(cs_reg_poly_owned("civicrm_discount"), 1);
        ck_assert_int_eq(cs_reg_poly_owned("civicrm_participant"), 0);
        ck_assert_int_eq(cs_reg_meta_reassigned(0, &t, &c, &r), 0);
        ck_assert_str_eq(t, "civicrm_membership_type");
        ck_assert_str_eq(c, "member_of_contact_id");
        ck_assert_ptr_nonnull(strstr(r, "civicrm_domain"));
        ck_assert_int_eq(cs_reg_meta_reassigned(1, &t, &c, &r), -1);
}
END_TEST

START_TEST(type_name_and_later_owners)
{
        const cs_entity_t *pcp = cs_reg_by_name("pcp");
        const cs_entity_t *blk = cs_reg_by_name("pcp_block");
        const cs_entity_t *li = cs_reg_by_name("line_item");
        const cs_ref_t *r = cs_reg_ref(pcp, "page_id");
        const char *t = NULL;

        ck_assert_ptr_nonnull(r);
        ck_assert_int_eq(r->kind, CS_REF_POLY);
        ck_assert_str_eq(r->table_column, "page_type");
        ck_assert_int_eq(r->required, 1);
        ck_assert_int_eq(cs_reg_poly_resolve(pcp, r, "contribute", 3, &t), CS_POLY_TRANSLATE);
        ck_assert_str_eq(t, "civicrm_contribution_page");
        ck_assert_int_eq(cs_reg_poly_resolve(pcp, r, "event", 3, &t), CS_POLY_TRANSLATE);
        ck_assert_str_eq(t, "civicrm_event");
        /* a type name, not a table name */
        ck_assert_int_eq(cs_reg_poly_resolve(pcp, r, "civicrm_contribution_page", 3, &t),
                         CS_POLY_REJECT);
        ck_assert_int_eq(cs_reg_poly_resolve(pcp, r, "Contribute", 3, &t), CS_POLY_REJECT);
        r = cs_reg_ref(blk, "target_entity_id");
        ck_assert_int_eq(cs_reg_poly_resolve(blk, r, "contribute", 1, &t), CS_POLY_TRANSLATE);
        ck_assert_str_eq(t, "civicrm_contribution_page");
        r = cs_reg_ref(blk, "entity_id");
        ck_assert_int_eq(cs_reg_poly_resolve(blk, r, "civicrm_contribution_page", 1, &t),
                         CS_POLY_TRANSLATE);
        /* line items: contributions, participants and memberships (3b) */
        r = cs_reg_ref(li, "entity_id");
        ck_assert_int_eq(cs_reg_poly_resolve(li, r, "civicrm_contribution", 5, &t),
                         CS_POLY_TRANSLATE);
        ck_assert_int_eq(cs_reg_poly_resolve(li, r, "civicrm_participant", 5, &t),
                         CS_POLY_TRANSLATE);
        ck_assert_str_eq(t, "civicrm_participant");
        ck_assert_int_eq(cs_reg_poly_resolve(li, r, "civicrm_membership", 5, &t),
                         CS_POLY_TRANSLATE);
        ck_assert_int_eq(cs_reg_poly_resolve(li, r, "civicrm_contact", 5, &t),
                         CS_POLY_REJECT);
        /* reserved price sets are site metadata, the child's own are data */
        ck_assert_ptr_nonnull(cs_reg_site_rows("civicrm_price_set"));
        ck_assert_ptr_nonnull(strstr(cs_reg_by_name("price_set")->row_filter, "is_reserved"));
        ck_assert_ptr_nonnull(cs_reg_site_rows("civicrm_price_field_value"));
        ck_assert_ptr_null(cs_reg_site_rows("civicrm_contribution"));
        /* credentials: the payment token is cleared, its table never synced */
        ck_assert_int_eq(cs_reg_col_policy(cs_reg_by_name("contribution_recur"),
                                           "payment_token_id"), CS_COL_CLEAR);
        ck_assert_int_eq(cs_reg_table_class("civicrm_payment_token"), CS_TCLASS_CREDENTIALS);
        ck_assert_int_eq(cs_reg_unique(cs_reg_by_name("contribution"), "trxn_id")->policy,
                         CS_UNIQUE_QUALIFY);
        ck_assert_int_eq(cs_reg_unique(cs_reg_by_name("contribution_recur"), "invoice_id")->policy,
                         CS_UNIQUE_QUALIFY);
        ck_assert_ptr_nonnull(cs_reg_unique(cs_reg_by_name("price_set"), "name"));
}
END_TEST

START_TEST(children_and_order)
{
        size_t n;
        const cs_entity_t *all = cs_reg_entities(&n);
        for (size_t i = 0; i < n; i++) {
                const cs_entity_t *e = &all[i];
                if (!e->parent) {
                        ck_assert_ptr_null(e->parent_column);
                        continue;
                }
                const cs_entity_t *root = cs_reg_by_name(e->parent);
                ck_assert_msg(root != NULL, "%s: parent %s missing", e->name, e->parent);
                ck_assert_ptr_null(root->parent); /* one level only */
                ck_assert_uint_lt(index_of(root), i); /* roots come first */
                ck_assert_ptr_nonnull(e->parent_column);
                const cs_ref_t *r = cs_reg_ref(e, e->parent_column);
                ck_assert_msg(r && r->kind == CS_REF_ENTITY && r->required &&
                              strcmp(r->target, root->table) == 0,
                              "%s.%s must be a required ref to %s", e->name, e->parent_column,
                              root->table);
                ck_assert_ptr_null(e->change_column); /* children change with the root */
        }
        const cs_entity_t *kids[8];
        size_t k = cs_reg_children(cs_reg_by_name("contact"), kids, 8);
        ck_assert_uint_eq(k, 5);
        ck_assert_str_eq(kids[0]->name, "email");
        ck_assert_str_eq(kids[1]->name, "phone");
        ck_assert_str_eq(kids[2]->name, "address");
        ck_assert_str_eq(kids[3]->name, "im");
        ck_assert_str_eq(kids[4]->name, "website");
        ck_assert_uint_eq(cs_reg_children(cs_reg_by_name("contact"), kids, 2), 2);
        k = cs_reg_children(cs_reg_by_name("activity"), kids, 8);
        ck_assert_uint_eq(k, 1);
        ck_assert_str_eq(kids[0]->name, "activity_contact");
        ck_assert_uint_eq(cs_reg_children(cs_reg_by_name("note"), kids, 8), 0);
        /* notes, group memberships and entity tags are top-level documents */
        ck_assert_ptr_null(cs_reg_by_name("note")->parent);
        ck_assert_ptr_null(cs_reg_by_name("group_contact")->parent);
        ck_assert_ptr_null(cs_reg_by_name("entity_tag")->parent);
        /* dependency order where there is no cycle */
        ck_assert_uint_lt(index_of(cs_reg_by_name("saved_search")), index_of(cs_reg_by_name("group")));
        ck_assert_uint_lt(index_of(cs_reg_by_name("group")), index_of(cs_reg_by_name("group_contact")));
        ck_assert_uint_lt(index_of(cs_reg_by_name("tag")), index_of(cs_reg_by_name("entity_tag")));
        ck_assert_uint_lt(index_of(cs_reg_by_name("relationship")), index_of(cs_reg_by_name("activity")));
        /* change columns */
        ck_assert_str_eq(cs_reg_by_name("contact")->change_column, "modified_date");
        ck_assert_str_eq(cs_reg_by_name("note")->change_column, "modified_date");
        ck_assert_str_eq(cs_reg_by_name("activity")->change_column, "modified_date");
        ck_assert_str_eq(cs_reg_by_name("saved_search")->change_column, "modified_date");
        ck_assert_ptr_null(cs_reg_by_name("relationship")->change_column);
        ck_assert_ptr_null(cs_reg_by_name("group")->change_column);
}
END_TEST

/* Phase 3c: a mailing's recipients are a group or an earlier mailing;
 * a survey's profile join is translated; nested rows under case and mailing. */
START_TEST(phase3c_descriptors)
{
        const cs_entity_t *mg = cs_reg_by_name("mailing_group");
        const cs_ref_t *r = cs_reg_ref(mg, "entity_id");
        const cs_entity_t *uj = cs_reg_by_name("uf_join");
        const cs_entity_t *kids[8];
        const char *t;

        ck_assert_int_eq(cs_reg_poly_resolve(mg, r, "civicrm_group", 5, &t), CS_POLY_TRANSLATE);
        ck_assert_str_eq(t, "civicrm_group");
        ck_assert_int_eq(cs_reg_poly_resolve(mg, r, "civicrm_mailing", 1, &t), CS_POLY_TRANSLATE);
        ck_assert_str_eq(t, "civicrm_mailing");
        ck_assert_int_eq(cs_reg_poly_resolve(mg, r, "civicrm_contact", 1, &t), CS_POLY_REJECT);
        ck_assert_int_eq(cs_reg_poly_resolve(uj, cs_reg_ref(uj, "entity_id"), "civicrm_survey",
                                             1, &t), CS_POLY_TRANSLATE);
        ck_assert_str_eq(t, "civicrm_survey");
        ck_assert_uint_eq(cs_reg_children(cs_reg_by_name("case"), kids, 8), 2);
        ck_assert_str_eq(kids[0]->name, "case_contact");
        ck_assert_str_eq(kids[1]->name, "case_activity");
        ck_assert_uint_eq(cs_reg_children(cs_reg_by_name("mailing"), kids, 8), 1);
        ck_assert_str_eq(kids[0]->name, "mailing_trackable_url");
        ck_assert_str_eq(cs_reg_ref(cs_reg_by_name("campaign"), "parent_id")->target,
                         "civicrm_campaign");
        ck_assert_ptr_null(cs_reg_by_table("civicrm_mailing_job"));
        ck_assert_ptr_null(cs_reg_by_table("civicrm_mailing_event_queue"));
}
END_TEST

START_TEST(col_policies)
{
        const cs_entity_t *c = cs_reg_by_name("contact");
        ck_assert_int_eq(cs_reg_col_policy(c, "api_key"), CS_COL_OMIT);
        ck_assert_int_eq(cs_reg_col_policy(c, "hash"), CS_COL_OMIT);
        ck_assert_int_eq(cs_reg_col_policy(c, "display_name"), 0);
        const cs_entity_t *g = cs_reg_by_name("group");
        static const char *const cleared[] = { "where_clause", "select_tables", "where_tables",
                                               "cache_date", "refresh_date" };
        for (size_t i = 0; i < 5; i++)
                ck_assert_int_eq(cs_reg_col_policy(g, cleared[i]), CS_COL_CLEAR);
        ck_assert_int_eq(cs_reg_col_policy(g, "parents"), 0);
        /* phase 3c: references to cases and campaigns are translated now */
        ck_assert_int_eq(cs_reg_col_policy(cs_reg_by_name("relationship"), "case_id"), 0);
        ck_assert_str_eq(cs_reg_ref(cs_reg_by_name("relationship"), "case_id")->target,
                         "civicrm_case");
        ck_assert_int_eq(cs_reg_col_policy(cs_reg_by_name("activity"), "campaign_id"), 0);
        ck_assert_str_eq(cs_reg_ref(cs_reg_by_name("activity"), "campaign_id")->target,
                         "civicrm_campaign");
        ck_assert_str_eq(cs_reg_ref(cs_reg_by_name("contribution"), "campaign_id")->target,
                         "civicrm_campaign");
        ck_assert_int_eq(cs_reg_col_policy(cs_reg_by_name("mailing"), "hash"), CS_COL_OMIT);
        ck_assert_int_eq(cs_reg_col_policy(cs_reg_by_name("mailing"), "msg_template_id"),
                         CS_COL_CLEAR);
        ck_assert_ptr_nonnull(cs_reg_unique(cs_reg_by_name("campaign"), "external_identifier"));
        ck_assert_int_eq(cs_reg_col_policy(cs_reg_by_name("activity"), "source_record_id"), 0);
        ck_assert_int_eq(cs_reg_col_policy(cs_reg_by_name("saved_search"), "mapping_id"), CS_COL_CLEAR);
        ck_assert_int_eq(cs_reg_col_policy(cs_reg_by_name("saved_search"), "form_values"), 0);
        ck_assert_int_eq(cs_reg_col_policy(cs_reg_by_name("group_contact"), "location_id"), 0);
        ck_assert_str_eq(cs_reg_ref(cs_reg_by_name("group_contact"), "location_id")->target,
                         "civicrm_loc_block");
        ck_assert_int_eq(cs_reg_col_policy(NULL, "x"), 0);
        /* every rule has a reason */
        size_t n;
        const cs_entity_t *all = cs_reg_entities(&n);
        for (size_t i = 0; i < n; i++)
                for (const cs_col_rule_t *r = all[i].col_rules; r && r->column; r++)
                        ck_assert_msg(r->why && r->why[0], "%s.%s: no reason", all[i].name, r->column);
        /* uniques */
        ck_assert_ptr_nonnull(cs_reg_unique(c, "external_identifier"));
        ck_assert_ptr_null(cs_reg_unique(c, "hash"));
        ck_assert_ptr_nonnull(cs_reg_unique(g, "name"));
        ck_assert_ptr_nonnull(cs_reg_unique(g, "title"));
        ck_assert_ptr_nonnull(cs_reg_unique(cs_reg_by_name("tag"), "name"));
        ck_assert_int_eq(cs_reg_unique(cs_reg_by_name("saved_search"), "name")->policy, CS_UNIQUE_QUALIFY);
        ck_assert_ptr_null(cs_reg_unique(cs_reg_by_name("group_contact"), "contact_id"));
}
END_TEST

/* The registry fits the capacity limits every program checks at start-up. */
START_TEST(registry_within_capacity)
{
        char err[256] = "";

        ck_assert_msg(cs_reg_check(err, sizeof(err)) == 0, "%s", err);
}
END_TEST

/* Legacy sources and the change log are declarative data in the registry:
 * every descriptor is complete and consistent. */
START_TEST(legacy_descriptors_consistent)
{
        size_t n, legacy = 0;
        const cs_entity_t *e = cs_reg_entities(&n);
        const cs_change_log_t *log = cs_reg_change_log();

        ck_assert_ptr_nonnull(log);
        ck_assert_str_eq(log->table, "civicrm_log");
        ck_assert(log->id_column && log->time_column && log->table_column &&
                  log->row_column);
        for (size_t i = 0; i < n; i++) {
                const cs_legacy_t *lg = e[i].legacy;
                size_t cols = 0, br = 0, req = 0;

                if (!lg)
                        continue;
                legacy++;
                while (lg->columns[cols])
                        cols++;
                ck_assert_uint_gt(cols, 1);
                ck_assert_str_eq(lg->columns[0], "id");
                ck_assert_int_ge(lg->id_scale, 1);
                for (const cs_table_column_t *r = lg->requires; r->table; r++) {
                        ck_assert_ptr_nonnull(r->column);
                        req++;
                }
                ck_assert_uint_gt(req, 0);
                for (const cs_legacy_branch_t *b = lg->branches; b->table; b++) {
                        ck_assert_ptr_nonnull(b->parent);
                        for (size_t c = 0; c < cols; c++)
                                ck_assert_msg(b->exprs[c] && b->exprs[c][0],
                                              "%s: branch %s has no expression "
                                              "for %s", e[i].name, b->table,
                                              lg->columns[c]);
                        br++;
                }
                ck_assert_uint_ge(br, 1);
                ck_assert_uint_le(br, CS_LIMIT_SOURCE_BRANCHES);
                ck_assert_uint_le((size_t)lg->id_scale, 64);
                if (lg->absorbs_entity) {
                        ck_assert_ptr_nonnull(cs_reg_by_name(lg->absorbs_entity));
                        ck_assert_ptr_nonnull(lg->absorbs_column);
                }
                ck_assert_ptr_nonnull(lg->summary);
                ck_assert_ptr_nonnull(lg->era);
        }
        /* 4.2/4.3 children: activity contacts. */
        ck_assert_uint_eq(legacy, 1);
        ck_assert_ptr_nonnull(cs_reg_by_name("activity_contact")->legacy);
        ck_assert_int_eq(cs_reg_by_name("activity_contact")->legacy->id_scale, 4);
        /* A fresh install's seed: the domain contact and its email (kept)
         * and the tags. */
        ck_assert_str_eq(cs_reg_seed("civicrm_contact")->keep_table, "civicrm_domain");
        ck_assert_ptr_null(cs_reg_seed("civicrm_contact")->owner_column);
        ck_assert_str_eq(cs_reg_seed("civicrm_email")->keep_table, "civicrm_domain");
        ck_assert_str_eq(cs_reg_seed("civicrm_email")->owner_column, "contact_id");
        ck_assert_ptr_null(cs_reg_seed("civicrm_tag")->keep_table);
        ck_assert_ptr_null(cs_reg_seed("civicrm_phone"));
        ck_assert_ptr_null(cs_reg_seed(NULL));
}
END_TEST

START_TEST(qualify_fits)
{
        char out[128];
        ck_assert_int_eq(cs_reg_qualify("P1", "Administrators", 14, 64, out, sizeof(out)), 17);
        ck_assert_str_eq(out, "P1:Administrators");
        ck_assert_int_eq(cs_reg_qualify("P1", "", 0, 64, out, sizeof(out)), 3);
        ck_assert_str_eq(out, "P1:");
        /* exactly max_chars fits without a hash */
        ck_assert_int_eq(cs_reg_qualify("P1", "abcdefg", 7, 10, out, sizeof(out)), 10);
        ck_assert_str_eq(out, "P1:abcdefg");
        /* max_chars 0: no limit */
        ck_assert_int_eq(cs_reg_qualify("P1", "abcdefg", 7, 0, out, sizeof(out)), 10);
        /* out too small */
        ck_assert_int_eq(cs_reg_qualify("P1", "abcdefg", 7, 64, out, 10), -1);
        ck_assert_int_eq(cs_reg_qualify("P1", "abcdefg", 7, 64, out, 11), 10);
        /* characters, not bytes: 4 two-byte characters fit in 7 chars */
        ck_assert_int_eq(cs_reg_qualify("P1", "éééé", 8, 7, out, sizeof(out)), 11);
        ck_assert_str_eq(out, "P1:éééé");
}
END_TEST

START_TEST(qualify_truncates_with_hash)
{
        char out[128], out2[128];
        const char *v = "Summer Program Volunteers of the Greater Metropolitan Area 2021";
        int n = cs_reg_qualify("P1", v, strlen(v), 32, out, sizeof(out));
        ck_assert_int_eq(n, 32);
        ck_assert_uint_eq(strlen(out), 32);
        ck_assert(strncmp(out, "P1:Summer Program Volun~", 24) == 0);
        ck_assert_int_eq(out[23], '~');
        for (int i = 24; i < 32; i++)
                ck_assert_msg(strchr("0123456789abcdef", out[i]), "bad hex in %s", out);
        /* deterministic */
        ck_assert_int_eq(cs_reg_qualify("P1", v, strlen(v), 32, out2, sizeof(out2)), 32);
        ck_assert_str_eq(out, out2);
        /* the hash is FNV-1a 32 of the full value: fixed on every platform */
        ck_assert_int_eq(cs_reg_qualify("P1", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 41, 14, out, sizeof(out)), 14);
        ck_assert_str_eq(out, "P1:aa~ec613944"); /* FNV-1a 32 of 41 x "a" */
}
END_TEST

START_TEST(qualify_utf8_boundary)
{
        char out[128];
        /* "P1:" (3) + head + "~xxxxxxxx" (9) in 15 chars: 3 characters of head */
        const char *v = "€€€€€€€€€€€€€€€€€€€€"; /* 20 x 3 bytes */
        int n = cs_reg_qualify("P1", v, strlen(v), 15, out, sizeof(out));
        ck_assert_int_eq(n, 3 + 9 + 9);
        ck_assert(strncmp(out, "P1:€€€~", 3 + 9 + 1) == 0);
        /* mixed widths: never cuts inside a character */
        const char *w = "a😀b😀c😀d😀e😀fa😀b😀c😀d😀e😀fa😀b😀c😀d😀e😀f";
        for (size_t max = 12; max < 20; max++) {
                n = cs_reg_qualify("P1", w, strlen(w), max, out, sizeof(out));
                ck_assert_int_ge(n, 0);
                size_t chars = 0;
                for (int i = 0; i < n; i++)
                        if (((unsigned char)out[i] & 0xC0) != 0x80)
                                chars++;
                ck_assert_uint_le(chars, max);
                const char *tilde = strrchr(out, '~');
                ck_assert_ptr_nonnull(tilde);
                /* the byte before "~" ends a character */
                unsigned char last = (unsigned char)tilde[-1];
                ck_assert_msg(last < 0x80 || (last & 0xC0) == 0x80, "cut inside a character");
                ck_assert_msg(!(last >= 0xC0), "lead byte before ~");
                if (last >= 0x80) /* a 4-byte emoji must be complete */
                        ck_assert(memcmp(tilde - 4, "😀", 4) == 0);
        }
        /* too small to hold prefix and hash */
        ck_assert_int_eq(cs_reg_qualify("P1", w, strlen(w), 11, out, sizeof(out)), -1);
}
END_TEST

START_TEST(qualify_distinct_long_values)
{
        char a[128], b[128];
        const char *x = "Newsletter Subscribers for the Northern Region Chapter - list A";
        const char *y = "Newsletter Subscribers for the Northern Region Chapter - list B";
        ck_assert_int_eq(cs_reg_qualify("P1", x, strlen(x), 40, a, sizeof(a)), 40);
        ck_assert_int_eq(cs_reg_qualify("P1", y, strlen(y), 40, b, sizeof(b)), 40);
        ck_assert_str_ne(a, b);
        ck_assert(strncmp(a, b, 31) == 0); /* same head, different hash */
        /* many values sharing a long head all stay distinct */
        char seen[200][64];
        for (int i = 0; i < 200; i++) {
                char v[96];
                snprintf(v, sizeof(v), "A very long group title that is shared by many groups #%03d", i);
                ck_assert_int_eq(cs_reg_qualify("P7", v, strlen(v), 40, seen[i], sizeof(seen[i])), 40);
                for (int j = 0; j < i; j++)
                        ck_assert_str_ne(seen[i], seen[j]);
        }
        /* a value with an embedded NUL is hashed over its full length */
        ck_assert_int_eq(cs_reg_qualify("P1", "xxxxxxxxxxxxxxxxxxxx\0a", 22, 20, a, sizeof(a)), 20);
        ck_assert_int_eq(cs_reg_qualify("P1", "xxxxxxxxxxxxxxxxxxxx\0b", 22, 20, b, sizeof(b)), 20);
        ck_assert_str_ne(a, b);
}
END_TEST

START_TEST(qualify_size_rule)
{
        size_t max = 0;
        char out[256 * 4 + 1];
        const char *four = "😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀"; /* 20 x 4 bytes */

        /* A known length is the limit; none (0 or less) is 255. */
        ck_assert_uint_eq(cs_reg_qualify_size(64, &max), 257);
        ck_assert_uint_eq(max, 64);
        ck_assert_uint_eq(cs_reg_qualify_size(0, &max), 1021);
        ck_assert_uint_eq(max, 255);
        ck_assert_uint_eq(cs_reg_qualify_size(-1, &max), 1021);
        ck_assert_uint_eq(max, 255);
        /* The size holds the widest value that fits the limit... */
        size_t size = cs_reg_qualify_size(22, &max);
        ck_assert_int_eq(cs_reg_qualify("P", four, strlen(four), max, out, size),
                         2 + 80);
        /* ...and the truncated form of any longer one. */
        size = cs_reg_qualify_size(21, &max);
        ck_assert_int_eq(cs_reg_qualify("P", four, strlen(four), max, out, size),
                         2 + 10 * 4 + 9);
}
END_TEST

Suite *registry_suite(void)
{
        Suite *s = suite_create("registry");
        TCase *tc = tcase_create("entities");
        tcase_add_test(tc, every_phase1_table_present);
        tcase_add_test(tc, table_views);
        tcase_add_test(tc, refs_name_registered_tables);
        tcase_add_test(tc, poly_cases_resolve);
        tcase_add_test(tc, children_and_order);
        tcase_add_test(tc, type_name_and_later_owners);
        tcase_add_test(tc, phase3b_rules);
        tcase_add_test(tc, col_policies);
        tcase_add_test(tc, phase3c_descriptors);
        tcase_add_test(tc, registry_within_capacity);
        tcase_add_test(tc, legacy_descriptors_consistent);
        suite_add_tcase(s, tc);
        tc = tcase_create("qualify");
        tcase_add_test(tc, qualify_fits);
        tcase_add_test(tc, qualify_truncates_with_hash);
        tcase_add_test(tc, qualify_utf8_boundary);
        tcase_add_test(tc, qualify_distinct_long_values);
        tcase_add_test(tc, qualify_size_rule);
        suite_add_tcase(s, tc);
        return s;
}
