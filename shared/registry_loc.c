/* registry_loc.c — event locations: civicrm_loc_block's references to its contact-less address, email, phone and IM rows, and how two entities share one table (views). */
#include "registry_loc.h"

#include <stdio.h>
#include <string.h>

#define REF(col, tgt, req) { (col), CS_REF_ENTITY, (tgt), NULL, (req), NULL }
#define REF_END { NULL, CS_REF_ENTITY, NULL, NULL, 0, NULL }

/* A location-block address: contact_id is NULL (the view's row filter) but
 * declared, so that a row that gains a contact is still translated;
 * master_id (a shared address) names another address. */
const cs_ref_t cs_loc_address_refs[] = {
        REF("contact_id", "civicrm_contact", 0),
        REF("master_id", "civicrm_address", 0),
        REF_END
};
const cs_ref_t cs_loc_row_refs[] = {
        REF("contact_id", "civicrm_contact", 0),
        REF_END
};
/* Every slot of a location block names a contact-less row of its table;
 * each waits (parked) until that row is mapped. */
const cs_ref_t cs_loc_block_refs[] = {
        REF("address_id", "civicrm_address", 0),
        REF("email_id", "civicrm_email", 0),
        REF("phone_id", "civicrm_phone", 0),
        REF("im_id", "civicrm_im", 0),
        REF("address_2_id", "civicrm_address", 0),
        REF("email_2_id", "civicrm_email", 0),
        REF("phone_2_id", "civicrm_phone", 0),
        REF("im_2_id", "civicrm_im", 0),
        REF_END
};

/* ---- views: one table, several entities --------------------------------- */

const cs_entity_t *cs_reg_root_by_table(const char *table)
{
        size_t count;
        const cs_entity_t *ents = cs_reg_entities(&count);

        for (size_t i = 0; table && i < count; i++)
                if (!ents[i].parent && strcmp(ents[i].table, table) == 0)
                        return &ents[i];
        return NULL;
}

size_t cs_reg_views(const char *table)
{
        size_t count, n = 0;
        const cs_entity_t *ents = cs_reg_entities(&count);

        for (size_t i = 0; table && i < count; i++)
                if (strcmp(ents[i].table, table) == 0)
                        n++;
        return n;
}

const char *cs_reg_view_key(const cs_entity_t *ent)
{
        return cs_reg_by_table(ent->table) == ent ? ent->table : ent->name;
}

const char *cs_reg_view_filter(const cs_entity_t *ent, char *out, size_t size)
{
        int n;

        if (!ent || cs_reg_views(ent->table) < 2)
                return NULL;
        if (ent->row_filter)
                n = snprintf(out, size, "%s", ent->row_filter);
        else if (ent->parent_column)
                n = snprintf(out, size, "`%s` IS NOT NULL", ent->parent_column);
        else
                return NULL;
        return n < 0 || (size_t)n >= size ? NULL : out;
}
