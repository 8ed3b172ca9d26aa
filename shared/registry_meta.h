/* registry_meta.h — the registry's knowledge of metadata rows (registry_meta.c). */
#ifndef CIVISYNC_REGISTRY_META_H
#define CIVISYNC_REGISTRY_META_H

#include <stddef.h>

/* The metadata table that a data column names by id ("location_type_id" ->
 * "civicrm_location_type"), or NULL. Static. */
const char *cs_reg_meta_ref(const char *column);
/* The data table that metadata column table.column points at (a child's
 * contact or group, translated through the mapping), or NULL. Static. */
const char *cs_reg_meta_translated(const char *table, const char *column);
/* The i-th metadata table the gate sends before the others (referenced
 * before referencing), or NULL past the last. Static. */
const char *cs_reg_meta_send_first(size_t i);

/* The i-th metadata column that names a child's data row and can be
 * neither NULL nor removed with it (NOT NULL, ON DELETE RESTRICT): when
 * the consumer deletes the row it names, the metadata row is handed to
 * the master's own row that `replacement` (static SQL, one value) selects.
 * 0 with *table, *column, *replacement set, or -1 past the last. Static. */
int cs_reg_meta_reassigned(size_t i, const char **table, const char **column,
                           const char **replacement);

#endif
