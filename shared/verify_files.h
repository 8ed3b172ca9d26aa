/* verify_files.h — civisync-verify's comparison of the synced files' bytes: the child's files_dir against the master's <files_dir>/<PREFIX>/. */
#ifndef CS_VERIFY_FILES_H
#define CS_VERIFY_FILES_H

#include <stddef.h>
#include <stdio.h>
#include <mysql.h>

typedef struct cs_vfiles_s {
        long long compared;        /* child files read and looked for on the master */
        long long same;
        long long differ;          /* master's bytes missing or different: differences */
        long long child_unreadable;/* not carried by the producer (missing, above
                                      its max_file_bytes, refused): it reports
                                      them; not counted as differences */
        long long unmapped;        /* file rows without a master row (verify's rows
                                      already count them) */
} cs_vfiles_t;

/* For every synced civicrm_file row of the child (the registry's filter)
 * that the mapping names: reads child_dir/<uri> and
 * master_dir/<master uri> (which must be "<prefix>/<uri>") and compares
 * the bytes of the files the producer carries (at most max_bytes, its
 * max_file_bytes), printing up to limit differences to out (limit 0: all).
 * Read-only. 0, or -1 with errstr on a database error. */
int cs_verify_files(MYSQL *child, MYSQL *master, const char *prefix,
                    const char *child_dir, const char *master_dir,
                    size_t max_bytes, long limit, FILE *out, cs_vfiles_t *res, char *errstr,
                    size_t errstr_size);

#endif
