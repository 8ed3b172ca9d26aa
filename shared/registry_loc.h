/* registry_loc.h — event locations: civicrm_loc_block and the contact-less address/email/phone/IM rows, a second view of those tables (registry_loc.c). */
#ifndef CS_REGISTRY_LOC_H
#define CS_REGISTRY_LOC_H

#include "registry.h"

/* The row filter of the location-block views: rows no contact owns. */
#define CS_LOC_ROW_FILTER "`contact_id` IS NULL"

extern const cs_ref_t cs_loc_address_refs[], cs_loc_row_refs[],
        cs_loc_block_refs[];

#endif
