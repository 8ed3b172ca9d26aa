/* registry_campaign.h — phase-3c (campaigns, surveys, grants, cases, mailings) descriptors, defined in registry_campaign.c and listed in registry.c's entities[]. */
#ifndef CS_REGISTRY_CAMPAIGN_H
#define CS_REGISTRY_CAMPAIGN_H

#include "registry.h"

extern const cs_ref_t cs_campaign_refs[], cs_campaign_group_refs[],
        cs_survey_refs[], cs_grant_refs[], cs_case_refs[],
        cs_case_contact_refs[], cs_case_activity_refs[], cs_mailing_refs[],
        cs_mailing_group_refs[], cs_mailing_trackable_url_refs[],
        cs_mailing_abtest_refs[];
extern const cs_unique_t cs_campaign_uniques[];
extern const cs_col_rule_t cs_mailing_rules[];
extern const char *const cs_campaign_group_targets[];
extern const char *const cs_mailing_group_targets[];

#endif
