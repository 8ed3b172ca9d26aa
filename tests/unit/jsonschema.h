/* jsonschema.h — a small JSON Schema (draft-07 subset) validator used by the unit tests. */
#ifndef CS_TEST_JSONSCHEMA_H
#define CS_TEST_JSONSCHEMA_H

#include <stddef.h>
#include <jansson.h>

/* Validates instance against schema (both BORROWED). Supported keywords:
 * type (string or array), required, properties, additionalProperties (bool
 * or schema), patternProperties (POSIX ERE), items (one schema), minItems,
 * enum, const, minimum, pattern (POSIX ERE), oneOf, anyOf, $ref
 * ("#/definitions/<name>"), boolean schemas; annotations $schema, $id,
 * $comment, title, description and definitions are ignored. Any other
 * keyword is an error, so a schema cannot silently rely on an unsupported
 * keyword. Returns 0 when valid, else -1 with errstr naming the instance
 * path and the failing keyword. */
int jsv_validate(const json_t *schema, const json_t *instance, char *errstr,
                 size_t errstr_size);

#endif
