/* registry_campaign.c — phase-3c descriptors (CiviCampaign, CiviGrant, CiviCase, CiviMail): references, polymorphic cases, collision and column rules. */
#include "registry_campaign.h"
#include <string.h>

#define REF(col, tgt, req) { (col), CS_REF_ENTITY, (tgt), NULL, (req), NULL }
#define POLYC(col, tcol, req, cases) { (col), CS_REF_POLY, NULL, (tcol), (req), (cases) }
#define REF_END { NULL, CS_REF_ENTITY, NULL, NULL, 0, NULL }
#define CASE_END { NULL, CS_POLY_REJECT, NULL, 0, NULL }
#define UNIQ_END { NULL, CS_UNIQUE_QUALIFY }
#define RULE_END { NULL, CS_COL_OMIT, NULL }

/* ---- polymorphic cases ------------------------------------------------- */

/* civicrm_campaign_group: the groups a campaign targets (group_type
 * 'Include'); CiviCRM writes entity_table 'civicrm_group' only. */
static const cs_poly_case_t campaign_group_cases[] = {
        { "civicrm_group", CS_POLY_TRANSLATE, "civicrm_group", 0,
          "a group of the prefix" },
        CASE_END
};
/* civicrm_mailing_group: the recipients of a mailing, included or excluded
 * by group, or by the recipients of an earlier mailing. */
static const cs_poly_case_t mailing_group_cases[] = {
        { "civicrm_group", CS_POLY_TRANSLATE, "civicrm_group", 0,
          "a group (static or smart) of the prefix" },
        { "civicrm_mailing", CS_POLY_TRANSLATE, "civicrm_mailing", 0,
          "an earlier mailing of the prefix (its recipients)" },
        CASE_END
};

/* ---- references ------------------------------------------------------ */

const cs_ref_t cs_campaign_refs[] = {
        REF("parent_id", "civicrm_campaign", 0),
        REF("created_id", "civicrm_contact", 0),
        REF("last_modified_id", "civicrm_contact", 0),
        REF_END
};
const cs_ref_t cs_campaign_group_refs[] = {
        REF("campaign_id", "civicrm_campaign", 1),
        POLYC("entity_id", "entity_table", 0, campaign_group_cases),
        REF_END
};
const cs_ref_t cs_survey_refs[] = {
        REF("campaign_id", "civicrm_campaign", 0),
        REF("created_id", "civicrm_contact", 0),
        REF("last_modified_id", "civicrm_contact", 0),
        REF_END
};
const cs_ref_t cs_grant_refs[] = {
        REF("contact_id", "civicrm_contact", 1),
        REF_END
};
const cs_ref_t cs_case_refs[] = {
        REF_END
};
const cs_ref_t cs_case_contact_refs[] = {
        REF("case_id", "civicrm_case", 1),
        REF("contact_id", "civicrm_contact", 1),
        REF_END
};
const cs_ref_t cs_case_activity_refs[] = {
        REF("case_id", "civicrm_case", 1),
        REF("activity_id", "civicrm_activity", 1),
        REF_END
};
const cs_ref_t cs_mailing_refs[] = {
        REF("created_id", "civicrm_contact", 0),
        REF("scheduled_id", "civicrm_contact", 0),
        REF("approver_id", "civicrm_contact", 0),
        REF("campaign_id", "civicrm_campaign", 0),
        REF_END
};
const cs_ref_t cs_mailing_group_refs[] = {
        REF("mailing_id", "civicrm_mailing", 1),
        POLYC("entity_id", "entity_table", 1, mailing_group_cases),
        REF_END
};
const cs_ref_t cs_mailing_trackable_url_refs[] = {
        REF("mailing_id", "civicrm_mailing", 1),
        REF_END
};
const cs_ref_t cs_mailing_abtest_refs[] = {
        REF("mailing_id_a", "civicrm_mailing", 0),
        REF("mailing_id_b", "civicrm_mailing", 0),
        REF("mailing_id_c", "civicrm_mailing", 0),
        REF("created_id", "civicrm_contact", 0),
        REF_END
};

/* ---- polymorphic targets ------------------------------------------------ */

const char *const cs_campaign_group_targets[] = { "civicrm_group", NULL };
const char *const cs_mailing_group_targets[] = {
        "civicrm_group", "civicrm_mailing", NULL
};

/* ---- unique columns and column rules ----------------------------------- */

const cs_unique_t cs_campaign_uniques[] = {
        { "external_identifier", CS_UNIQUE_QUALIFY }, UNIQ_END
};

/* A mailing's delivery state lives in the job tables, which are never
 * synced (docs/FORMAT.md §21): the row itself carries only its content,
 * its schedule as information, and no secret. */
const cs_col_rule_t cs_mailing_rules[] = {
        { "hash", CS_COL_OMIT,
          "key validating this site's mailing links (view, unsubscribe): a "
          "secret of the child, never leaves it" },
        { "msg_template_id", CS_COL_CLEAR,
          "references civicrm_msg_template, configuration of the site: not synced" },
        { "sms_provider_id", CS_COL_CLEAR,
          "references civicrm_sms_provider, credentials of the site: not synced" },
        RULE_END
};

/* ---- CiviCRM's case triggers ------------------------------------------- */

/* CRM_Case_BAO_Case's static triggers: an activity updated or deleted
 * bumps civicrm_case.modified_date of the cases it belongs to (its
 * civicrm_case_activity rows). The case's own document carries the
 * child's value; the consumer keeps it (apply_stamp.c). */
static const cs_bump_t bumps[] = {
        { "civicrm_activity", "civicrm_case", "modified_date",
          "SELECT case_id FROM civicrm_case_activity WHERE activity_id = ?" },
        { NULL, NULL, NULL, NULL }
};

const cs_bump_t *cs_reg_bump(const char *table)
{
        for (size_t i = 0; table && bumps[i].table; i++)
                if (!strcmp(bumps[i].table, table))
                        return &bumps[i];
        return NULL;
}

/* ---- notes and entity tags of the phase-3 owners ------------------------ */

/* CiviCRM removes them with their owner: a case's or a file's tags (the
 * civi.dao.preDelete listener CRM_Core_BAO_EntityTag::preDeleteOtherEntity),
 * a participant's or a contribution's note (deleteParticipant,
 * deleteContribution). Phase-1 owners' notes and tags keep going by their
 * own tombstones. */
static const struct {
        const char *table, *owner;
} owned_by[] = {
        { "civicrm_entity_tag", "civicrm_case" },
        { "civicrm_entity_tag", "civicrm_file" },
        { "civicrm_note", "civicrm_participant" },
        { "civicrm_note", "civicrm_contribution" },
        { NULL, NULL }
};

int cs_reg_poly_owned_by(const char *table, const char *owner)
{
        for (size_t i = 0; table && owner && owned_by[i].table; i++)
                if (!strcmp(owned_by[i].table, table) &&
                    !strcmp(owned_by[i].owner, owner))
                        return 1;
        return 0;
}
