/* doc_via.c — checks nested rows that name a row nested beside them (custom values of an address, in the contact document). */
#include "doc.h"

#include <stdio.h>
#include <string.h>

/* Every nested row of a cs_reg_parent_via entity in children (an array of
 * inspected documents) names, in its parent column, a row of its via
 * entity nested in the same document (custom values of an address: that
 * address). 0, or -1 with errstr. */
int cs_doc_check_via_rows(const json_t *children, const char *id, char *errstr,
                           size_t errstr_size)
{
        size_t i, j;
        json_t *c, *o;

        json_array_foreach(children, i, c) {
                const cs_entity_t *ent = cs_reg_by_name(json_string_value(json_object_get(c, CS_F_ENTITY)));
                const cs_entity_t *via = cs_reg_parent_via(ent);
                json_int_t want;
                int found = 0;

                if (!via)
                        continue;
                want = json_integer_value(json_object_get(c, ent->parent_column));
                json_array_foreach(children, j, o) {
                        const char *oname = json_string_value(json_object_get(o, CS_F_ENTITY));
                        if (oname && !strcmp(oname, via->name) &&
                            json_integer_value(json_object_get(o, CS_F_CHILD_ID)) == want) {
                                found = 1;
                                break;
                        }
                }
                if (!found) {
                        snprintf(errstr, errstr_size, "document %s: nested %s row %s "
                                 "%" JSON_INTEGER_FORMAT " names no %s nested in the "
                                 "same document", id, ent->name, ent->parent_column,
                                 want, via->name);
                        return -1;
                }
        }
        return 0;
}
