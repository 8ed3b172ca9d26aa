/* input.c — civisync-consume --input: applies an NDJSON file or stdin (civisync-produce --output) batch by batch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "log.h"
#include "loop.h"

/* One NDJSON record of cs_loop_input, owned. */
typedef struct input_rec_s {
        char *key;
        char *value;    /* NULL = tombstone */
        size_t value_len;
        long lineno;
} input_rec_t;

/* Splits a line as civisync-produce --output writes it,
 * {"key":K,"partition":P,"value":DOC}, without parsing DOC: the head
 * (everything before ,"value": closed by a brace) is parsed, and DOC's
 * text is handed to the apply, which parses it once. The first ,"value":
 * of a line cannot be inside a string (its quote would be escaped), and it
 * is a member of the record only when the head parses as an object. A line
 * of another shape returns 0 (the caller parses it whole); 1 on success,
 * -1 when out of memory. */
static int input_split(const char *line, size_t len, input_rec_t *rec)
{
        static const char sep[] = ",\"value\":";
        const char *v = memmem(line, len, sep, sizeof(sep) - 1), *end;
        json_t *head, *key;
        char *head_text;
        int rc = 0;

        if (!v || line[0] != '{')
                return 0;
        end = line + len;
        while (end > v && (end[-1] == '\n' || end[-1] == '\r' ||
                           end[-1] == ' ' || end[-1] == '\t'))
                end--;
        if (end == v || end[-1] != '}')
                return 0;
        end--;          /* the record's closing brace */
        if (!(head_text = malloc((size_t)(v - line) + 2)))
                return -1;
        memcpy(head_text, line, (size_t)(v - line));
        head_text[v - line] = '}';
        head_text[v - line + 1] = '\0';
        head = json_loadb(head_text, (size_t)(v - line) + 1, 0, NULL);
        free(head_text);
        v += sizeof(sep) - 1;
        while (v < end && (*v == ' ' || *v == '\t'))
                v++;
        if (head && json_is_object(head) &&
            json_is_string(key = json_object_get(head, "key")) &&
            !json_object_get(head, "value") && v < end) {
                size_t vlen = (size_t)(end - v);
                if (!(rec->key = strdup(json_string_value(key)))) {
                        rc = -1;
                } else if (vlen == 4 && !memcmp(v, "null", 4)) {
                        rec->value = NULL;
                        rec->value_len = 0;
                        rc = 1;
                } else if (!(rec->value = malloc(vlen + 1))) {
                        free(rec->key);
                        rec->key = NULL;
                        rc = -1;
                } else {
                        memcpy(rec->value, v, vlen);
                        rec->value[vlen] = '\0';
                        rec->value_len = vlen;
                        rc = 1;
                }
        }
        json_decref(head);
        return rc;
}

/* Applies and commits the buffered records (one transaction). */
static int input_flush(cs_apply_t *ap, const char *path, const char *prefix,
                       input_rec_t *recs, cs_apply_msg_t *msgs, size_t n,
                       char *errstr, size_t errstr_size)
{
        char why[1024];
        int rc = 0;

        for (size_t i = 0; i < n; i++)
                msgs[i] = (cs_apply_msg_t){
                        .prefix = prefix, .key = recs[i].key,
                        .key_len = strlen(recs[i].key), .value = recs[i].value,
                        .value_len = recs[i].value_len };
        if (cs_apply_begin(ap, errstr, errstr_size) != CS_APPLY_OK)
                return -1;
        if (cs_apply_messages(ap, msgs, n, why, sizeof(why)) != CS_APPLY_OK) {
                snprintf(errstr, errstr_size, "%s:%ld..%ld: %s", path,
                         recs[0].lineno, recs[n - 1].lineno, why);
                cs_apply_rollback(ap);
                rc = -1;
        } else if (cs_apply_commit(ap, errstr, errstr_size) != CS_APPLY_OK) {
                rc = -1;
        }
        for (size_t i = 0; i < n; i++) {
                if (msgs[i].rejected && rc == 0)
                        cs_error("%s:%ld: rejected: %s", path, recs[i].lineno,
                                 msgs[i].rejected);
                free(msgs[i].rejected);
                msgs[i].rejected = NULL;
        }
        return rc;
}

int cs_loop_input(const cs_consumer_conf_t *conf, cs_apply_t *ap,
                  const char *path, const char *prefix, char *errstr,
                  size_t errstr_size)
{
        int from_stdin = !strcmp(path, "-");
        FILE *fp = from_stdin ? stdin : fopen(path, "r");
        size_t batch = (size_t)conf->batch_documents, n = 0;
        input_rec_t *recs = calloc(batch, sizeof(*recs));
        cs_apply_msg_t *msgs = calloc(batch, sizeof(*msgs));
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        long lineno = 0;
        int rc = -1;

        if (!fp) {
                snprintf(errstr, errstr_size, "%s: %m", path);
                goto done;
        }
        if (!recs || !msgs) {
                snprintf(errstr, errstr_size, "out of memory");
                goto done;
        }
        if (cs_apply_prepare_prefix(ap, prefix, errstr, errstr_size) != CS_APPLY_OK)
                goto done;
        if (from_stdin)
                path = "stdin";
        while ((len = getline(&line, &cap, fp)) > 0) {
                json_error_t jerr;
                json_t *rec, *key, *value;
                int split;

                lineno++;
                if (from_stdin && line[len - 1] != '\n') {
                        /* A writer that died mid-line. */
                        snprintf(errstr, errstr_size, "%s:%ld: truncated "
                                 "record (no end of line)", path, lineno);
                        goto done;
                }
                recs[n].lineno = lineno;
                if ((split = input_split(line, (size_t)len, &recs[n])) == -1) {
                        snprintf(errstr, errstr_size, "out of memory");
                        goto done;
                }
                if (split == 1)
                        goto parsed;
                if (!(rec = json_loadb(line, (size_t)len, JSON_ALLOW_NUL, &jerr)) ||
                    !json_is_string(key = json_object_get(rec, "key")) ||
                    !(value = json_object_get(rec, "value"))) {
                        snprintf(errstr, errstr_size, "%s:%ld: not a civisync "
                                 "NDJSON record (%s)", path, lineno,
                                 rec ? "needs key and value" : jerr.text);
                        json_decref(rec);
                        goto done;
                }
                recs[n].key = strdup(json_string_value(key));
                recs[n].value = json_is_null(value) ? NULL :
                                json_dumps(value, JSON_COMPACT | JSON_PRESERVE_ORDER);
                recs[n].value_len = recs[n].value ? strlen(recs[n].value) : 0;
                if (!recs[n].key || (!json_is_null(value) && !recs[n].value)) {
                        json_decref(rec);
                        n++;
                        snprintf(errstr, errstr_size, "out of memory");
                        goto done;
                }
                json_decref(rec);
parsed:
                if (++n == batch) {
                        if (input_flush(ap, path, prefix, recs, msgs, n, errstr,
                                        errstr_size) == -1)
                                goto done;
                        for (size_t i = 0; i < n; i++) {
                                free(recs[i].key);
                                free(recs[i].value);
                        }
                        n = 0;
                }
                if (cs_loop_stopping()) {
                        snprintf(errstr, errstr_size, "interrupted at %s:%ld "
                                 "(applied up to the last batch; re-running the "
                                 "file is harmless)", path, lineno);
                        goto done;
                }
        }
        if (n && input_flush(ap, path, prefix, recs, msgs, n, errstr,
                             errstr_size) == -1)
                goto done;
        if (lineno == 0 && cs_apply_begin(ap, errstr, errstr_size) == CS_APPLY_OK &&
            cs_apply_commit(ap, errstr, errstr_size) != CS_APPLY_OK)
                goto done;
        rc = cs_apply_stats(ap)->rejected ? -1 : 0;
        if (rc == -1)
                snprintf(errstr, errstr_size, "%s: %lld record(s) rejected (see log)",
                         path, cs_apply_stats(ap)->rejected);
done:
        for (size_t i = 0; recs && i < n; i++) {
                free(recs[i].key);
                free(recs[i].value);
        }
        free(recs);
        free(msgs);
        free(line);
        if (fp && !from_stdin)
                fclose(fp);
        return rc;
}
