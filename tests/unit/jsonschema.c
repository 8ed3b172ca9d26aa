/* jsonschema.c — a small JSON Schema (draft-07 subset) validator used by the unit tests. */
#include "jsonschema.h"

#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
        const json_t *root;
        char *err;
        size_t err_size;
        int depth;
} jsv_ctx_t;

__attribute__((format(printf, 3, 4)))
static int fail(jsv_ctx_t *c, const char *path, const char *fmt, ...)
{
        char msg[600];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        snprintf(c->err, c->err_size, "%s: %s", path[0] ? path : "(root)", msg);
        return -1;
}

/* 1 if s matches the ERE pattern, 0 if not, -1 if the pattern is bad. */
static int ere_match(const char *pattern, const char *s)
{
        regex_t re;
        if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
                return -1;
        int rc = regexec(&re, s, 0, NULL, 0) == 0;
        regfree(&re);
        return rc;
}

static int type_ok(const char *t, const json_t *v)
{
        if (!strcmp(t, "object")) return json_is_object(v);
        if (!strcmp(t, "array")) return json_is_array(v);
        if (!strcmp(t, "string")) return json_is_string(v);
        if (!strcmp(t, "integer")) return json_is_integer(v);
        if (!strcmp(t, "number")) return json_is_number(v);
        if (!strcmp(t, "boolean")) return json_is_boolean(v);
        if (!strcmp(t, "null")) return json_is_null(v);
        return 0;
}

static int validate(jsv_ctx_t *c, const json_t *s, const json_t *v, const char *path);

static int validate(jsv_ctx_t *c, const json_t *s, const json_t *v, const char *path)
{
        if (json_is_true(s))
                return 0;
        if (json_is_false(s))
                return fail(c, path, "schema false rejects every value");
        if (!json_is_object(s))
                return fail(c, path, "schema is not an object or boolean");
        if (++c->depth > 64) {
                c->depth--;
                return fail(c, path, "schema recursion too deep");
        }
        int rc = -1;
        const char *kw;
        json_t *a;
        json_t *ref = json_object_get(s, "$ref");
        if (ref) {
                const char *r = json_string_value(ref);
                const char *pfx = "#/definitions/";
                json_t *target = NULL;
                if (r && !strncmp(r, pfx, strlen(pfx)))
                        target = json_object_get(json_object_get(c->root, "definitions"),
                                                 r + strlen(pfx));
                if (!target) {
                        fail(c, path, "unresolvable $ref %s", r ? r : "(not a string)");
                        goto out;
                }
                rc = validate(c, target, v, path);
                goto out;
        }
        json_object_foreach((json_t *)s, kw, a) {
                if (!strcmp(kw, "$schema") || !strcmp(kw, "$id") || !strcmp(kw, "$comment") ||
                    !strcmp(kw, "title") || !strcmp(kw, "description") ||
                    !strcmp(kw, "definitions") || !strcmp(kw, "properties") ||
                    !strcmp(kw, "patternProperties") || !strcmp(kw, "additionalProperties"))
                        continue; /* object keywords are handled together below */
                if (!strcmp(kw, "type")) {
                        int ok = 0;
                        if (json_is_string(a)) {
                                ok = type_ok(json_string_value(a), v);
                        } else {
                                size_t i;
                                json_t *t;
                                json_array_foreach(a, i, t)
                                        ok |= type_ok(json_string_value(t) ? json_string_value(t) : "", v);
                        }
                        if (!ok) {
                                char *d = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY);
                                fail(c, path, "type: expected %s", d ? d : "?");
                                free(d);
                                goto out;
                        }
                } else if (!strcmp(kw, "enum")) {
                        size_t i;
                        json_t *e;
                        int ok = 0;
                        json_array_foreach(a, i, e) ok |= json_equal(e, (json_t *)v);
                        if (!ok) {
                                fail(c, path, "enum: value not allowed");
                                goto out;
                        }
                } else if (!strcmp(kw, "const")) {
                        if (!json_equal(a, (json_t *)v)) {
                                fail(c, path, "const: value differs");
                                goto out;
                        }
                } else if (!strcmp(kw, "minimum")) {
                        if (json_is_number(v) && json_number_value(v) < json_number_value(a)) {
                                fail(c, path, "minimum: value too small");
                                goto out;
                        }
                } else if (!strcmp(kw, "pattern")) {
                        if (json_is_string(v)) {
                                int m = ere_match(json_string_value(a), json_string_value(v));
                                if (m < 0) {
                                        fail(c, path, "bad pattern %s", json_string_value(a));
                                        goto out;
                                }
                                if (!m) {
                                        fail(c, path, "pattern: does not match %s",
                                             json_string_value(a));
                                        goto out;
                                }
                        }
                } else if (!strcmp(kw, "minItems")) {
                        if (json_is_array(v) &&
                            (json_int_t)json_array_size(v) < json_integer_value(a)) {
                                fail(c, path, "minItems: too few items");
                                goto out;
                        }
                } else if (!strcmp(kw, "items")) {
                        if (json_is_array(v)) {
                                size_t i;
                                json_t *e;
                                json_array_foreach(v, i, e) {
                                        char p[512];
                                        snprintf(p, sizeof(p), "%s[%zu]", path, i);
                                        if (validate(c, a, e, p))
                                                goto out;
                                }
                        }
                } else if (!strcmp(kw, "required")) {
                        if (json_is_object(v)) {
                                size_t i;
                                json_t *e;
                                json_array_foreach(a, i, e) {
                                        if (!json_object_get(v, json_string_value(e))) {
                                                fail(c, path, "required: missing %s",
                                                     json_string_value(e));
                                                goto out;
                                        }
                                }
                        }
                } else if (!strcmp(kw, "oneOf") || !strcmp(kw, "anyOf")) {
                        size_t i, hits = 0;
                        json_t *e;
                        char first[512] = "";
                        json_array_foreach(a, i, e) {
                                if (validate(c, e, v, path) == 0)
                                        hits++;
                                else if (!first[0])
                                        snprintf(first, sizeof(first), "%s", c->err);
                        }
                        int one = !strcmp(kw, "oneOf");
                        if (hits == 0) {
                                fail(c, path, "no alternative matched (first: %s)", first);
                                goto out;
                        }
                        if (one && hits > 1) {
                                fail(c, path, "oneOf: more than one alternative matched");
                                goto out;
                        }
                } else {
                        fail(c, path, "unsupported schema keyword %s", kw);
                        goto out;
                }
        }
        if (json_is_object(v)) {
                json_t *props = json_object_get(s, "properties");
                json_t *pprops = json_object_get(s, "patternProperties");
                json_t *addl = json_object_get(s, "additionalProperties");
                const char *k;
                json_t *fv;
                json_object_foreach((json_t *)v, k, fv) {
                        char p[512];
                        snprintf(p, sizeof(p), "%s/%s", path, k);
                        int matched = 0;
                        json_t *ps = props ? json_object_get(props, k) : NULL;
                        if (ps) {
                                matched = 1;
                                if (validate(c, ps, fv, p))
                                        goto out;
                        }
                        if (pprops) {
                                const char *pat;
                                json_t *psch;
                                json_object_foreach(pprops, pat, psch) {
                                        int m = ere_match(pat, k);
                                        if (m < 0) {
                                                fail(c, path, "bad pattern %s", pat);
                                                goto out;
                                        }
                                        if (m) {
                                                matched = 1;
                                                if (validate(c, psch, fv, p))
                                                        goto out;
                                        }
                                }
                        }
                        if (!matched && addl) {
                                if (json_is_false(addl)) {
                                        fail(c, p, "additionalProperties: field not allowed");
                                        goto out;
                                }
                                if (validate(c, addl, fv, p))
                                        goto out;
                        }
                }
        }
        rc = 0;
out:
        c->depth--;
        return rc;
}

int jsv_validate(const json_t *schema, const json_t *instance, char *errstr,
                 size_t errstr_size)
{
        jsv_ctx_t c = { schema, errstr, errstr_size, 0 };
        if (errstr_size)
                errstr[0] = '\0';
        return validate(&c, schema, instance, "");
}
