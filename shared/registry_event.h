/* registry_event.h — phase-3b (CiviEvent, CiviMember) descriptors, defined in registry_event.c and listed in registry.c's entities[]. */
#ifndef CS_REGISTRY_EVENT_H
#define CS_REGISTRY_EVENT_H

#include "registry.h"

extern const cs_ref_t cs_event_refs[], cs_discount_refs[], cs_participant_refs[],
        cs_participant_payment_refs[], cs_membership_refs[],
        cs_membership_log_refs[], cs_membership_payment_refs[],
        cs_membership_block_refs[], cs_tell_friend_refs[],
        cs_recurring_entity_refs[];
extern const cs_col_rule_t cs_event_rules[], cs_participant_rules[],
        cs_membership_rules[];
extern const char *const cs_event_targets[];
extern const char *const cs_page_only_targets[];
extern const char *const cs_page_or_event_targets[];
extern const char *const cs_recurring_targets[];

#endif
