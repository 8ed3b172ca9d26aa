/* registry_contribute.h — phase-3a (CiviContribute) descriptors, defined in registry_contribute.c and listed in registry.c's entities[]. */
#ifndef CS_REGISTRY_CONTRIBUTE_H
#define CS_REGISTRY_CONTRIBUTE_H

#include "registry.h"

extern const cs_ref_t cs_contribution_page_refs[], cs_contribution_widget_refs[],
        cs_premiums_refs[], cs_premiums_product_refs[], cs_price_set_refs[],
        cs_price_field_refs[], cs_price_field_value_refs[],
        cs_price_set_entity_refs[], cs_pcp_block_refs[], cs_pcp_refs[],
        cs_contribution_recur_refs[], cs_contribution_refs[],
        cs_contribution_soft_refs[], cs_contribution_product_refs[],
        cs_financial_trxn_refs[], cs_line_item_refs[], cs_financial_item_refs[],
        cs_entity_financial_trxn_refs[], cs_pledge_refs[],
        cs_pledge_payment_refs[], cs_pledge_block_refs[];
extern const cs_unique_t cs_contribution_uniques[], cs_price_set_uniques[];
extern const cs_col_rule_t cs_contribution_page_rules[], cs_contribution_rules[],
        cs_contribution_recur_rules[], cs_pledge_rules[];
extern const char *const cs_page_targets[];
extern const char *const cs_price_set_entity_targets[];
extern const char *const cs_pcp_block_targets[];
extern const char *const cs_pcp_targets[];
extern const char *const cs_line_item_targets[];
extern const char *const cs_financial_item_targets[];
extern const char *const cs_entity_financial_trxn_targets[];

/* Row filters: a child's own price sets are data; reserved ones
 * (is_reserved = 1, the same ids on every site) are site metadata. */
extern const char cs_price_set_own[], cs_price_field_own[],
        cs_price_field_value_own[];
/* ... and the complement: the reserved rows, metadata of the gate. */
extern const char cs_price_set_site[], cs_price_field_site[],
        cs_price_field_value_site[];

#endif
