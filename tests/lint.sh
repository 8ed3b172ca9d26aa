#!/bin/bash
# lint.sh — repository checks for `make lint` (run by `make test`): tracked build output, file size, source rules.
#
# Every check runs, each offender is named, and the exit status is 1 when any check failed
# (0 otherwise). The file list is `git ls-files` (what a clone holds), so untracked build
# directories in a working tree are not offenders.
#
# Adding a check: write a function lint_NAME that prints one line per offender (and nothing
# when the tree is clean), and add NAME to CHECKS below with a one-line description.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo" || exit 1

MAX_C_LINES=1200   # docs/STYLE: no .c over ~1,200 lines; split a module along its sections

if ! files=$(git ls-files 2>/dev/null) || [ -z "$files" ]; then
        echo "lint: $repo is not a git checkout (git ls-files failed); lint needs one" >&2
        exit 1
fi

# (a) No build output is tracked: no build*/ or bin/ path, no object, archive or shared
# library by name, and no ELF file or ar archive by content whatever its name.
lint_build_output() {
        local f magic
        while IFS= read -r f; do
                case "$f" in
                build/* | build-*/* | bin/*) echo "$f: build output path is tracked"; continue ;;
                *.o | *.a | *.so | *.so.*) echo "$f: object or library file is tracked"; continue ;;
                esac
                [ -f "$f" ] || continue
                magic=$(LC_ALL=C head -c 7 -- "$f" 2>/dev/null | tr -d '\0')
                case "$magic" in
                $'\x7f'ELF*) echo "$f: ELF binary is tracked" ;;
                '!<arch>') echo "$f: ar archive is tracked" ;;
                esac
        done <<<"$files"
}

# (b) No .c file over MAX_C_LINES lines.
lint_c_size() {
        local f n
        while IFS= read -r f; do
                case "$f" in *.c) ;; *) continue ;; esac
                [ -f "$f" ] || continue
                n=$(wc -l <"$f")
                [ "$n" -le $MAX_C_LINES ] || echo "$f: $n lines (limit $MAX_C_LINES)"
        done <<<"$files"
}

# (c) The consumer and the shared library never turn foreign key checks off: parking and
# the sweep rely on the master refusing a row whose reference is missing.
lint_fk_checks() {
        local f
        while IFS= read -r f; do
                case "$f" in consumer/*.[ch] | consumer/*/*.[ch] | shared/*.[ch]) ;; *) continue ;; esac
                grep -Hni 'foreign_key_checks' -- "$f" | sed 's/$/  (foreign key checks must stay on)/'
        done <<<"$files"
}

# (d) The registry is the only place that knows CiviCRM's shape: no civicrm_* string literal
# in shared/ producer/ consumer/ topics/ outside shared/registry.c and shared/registry_*.c (tests/lint/civicrm-names.sh).
lint_civicrm_names() {
        "$here/lint/civicrm-names.sh" "$repo"
}

CHECKS=(
        "build_output:no build output in git ls-files"
        "c_size:no .c file over $MAX_C_LINES lines"
        "fk_checks:consumer and shared code never mention foreign_key_checks"
        "civicrm_names:no CiviCRM table name in a string literal outside shared/registry.c and shared/registry_*.c"
)

failed=0
for entry in "${CHECKS[@]}"; do
        name=${entry%%:*}
        what=${entry#*:}
        out=$("lint_$name")
        if [ -n "$out" ]; then
                echo "lint: FAILED $name ($what):"
                printf '%s\n' "$out" | sed 's/^/  /'
                failed=1
        else
                echo "lint: ok     $name ($what)"
        fi
done
[ $failed = 0 ] || { echo "lint: FAILED (see above)" >&2; exit 1; }
exit 0
