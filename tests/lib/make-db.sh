#!/bin/bash
# make-db.sh — create a CiviCRM test database (schema + seed [+ generated child data]) on the harness server.
#
# Usage: make-db.sh NAME --schema 5|4.2 [--child VARIANT [--contacts N]] [--replace]
#        make-db.sh NAME --schema full [--seed empty-site|demo-site] [--replace]
#   NAME         database to create (utf8mb4_unicode_ci); [A-Za-z0-9_]{1,64}
#   --schema     5    -> tests/fixtures/civicrm-5-phase1.sql   + seed.sql
#                4.2  -> tests/fixtures/civicrm-4.2-phase1.sql + seed-4.2.sql
#                full -> tests/fixtures/civicrm-5-full.sql (all 153 CiviCRM 5.39 tables) + the --seed
#   --seed S     (schema full only) empty-site -> seed-5-empty-site.sql (the installer's seed, default);
#                demo-site -> demo-site-5.sql (the installer's demo site: ~200 contacts and all of their
#                data in every table, plus 3 custom-value tables)
#   --child V    also load generated child data with @cs_variant=V (integer >= 1):
#                schema 5 -> child-data.sql (@cs_contacts=N, default 200);
#                schema 4.2 -> child-data-4.2.sql (small legacy child; same @cs_contacts)
#   --replace    drop NAME first if it exists (default: fail if it exists)
# Without --child (and with --seed empty-site) the database is an empty master (schema + seed only).
# Needs the CS_TEST_* environment exported by tests/lib/services.sh (cs_services_start).
# Any SQL error or warning fails the run (exit 1) naming the database and the file.
set -u

die() { echo "make-db.sh: ERROR: $*" >&2; exit 1; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fixtures="${CS_TEST_FIXTURES:-$(cd "$here/../fixtures" && pwd)}"

name="" schema="" seed="" variant="" contacts=200 replace=0
while [ $# -gt 0 ]; do
        case "$1" in
        --schema) [ $# -ge 2 ] || die "--schema needs a value"; schema=$2; shift 2 ;;
        --seed) [ $# -ge 2 ] || die "--seed needs a value"; seed=$2; shift 2 ;;
        --child) [ $# -ge 2 ] || die "--child needs a value"; variant=$2; shift 2 ;;
        --contacts) [ $# -ge 2 ] || die "--contacts needs a value"; contacts=$2; shift 2 ;;
        --replace) replace=1; shift ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        -*) die "unknown option '$1'" ;;
        *) [ -z "$name" ] || die "more than one database name ('$name', '$1')"; name=$1; shift ;;
        esac
done

[ -n "$name" ] || die "usage: make-db.sh NAME --schema 5|4.2|full [--seed empty-site|demo-site] [--child VARIANT [--contacts N]] [--replace]"
[[ "$name" =~ ^[A-Za-z0-9_]{1,64}$ ]] || die "invalid database name '$name'"
case "$schema" in
5) schema_file=civicrm-5-phase1.sql; seed_file=seed.sql; child_file=child-data.sql ;;
4.2) schema_file=civicrm-4.2-phase1.sql; seed_file=seed-4.2.sql; child_file=child-data-4.2.sql ;;
full)
        schema_file=civicrm-5-full.sql; child_file=""
        case "${seed:-empty-site}" in
        empty-site) seed_file=seed-5-empty-site.sql ;;
        demo-site) seed_file=demo-site-5.sql ;;
        *) die "--seed must be empty-site or demo-site (got '$seed')" ;;
        esac
        [ -z "$variant" ] || die "--child needs --schema 5 or 4.2 (the full schema's child is --seed demo-site)"
        ;;
*) die "--schema must be 5, 4.2 or full (got '$schema')" ;;
esac
[ -z "$seed" ] || [ "$schema" = full ] || die "--seed needs --schema full"
if [ -n "$variant" ]; then
        if ! [[ "$variant" =~ ^[0-9]+$ ]] || [ "$variant" -lt 1 ]; then
                die "--child VARIANT must be an integer >= 1 (got '$variant')"
        fi
        if ! [[ "$contacts" =~ ^[0-9]+$ ]] || [ "$contacts" -lt 20 ]; then
                die "--contacts must be an integer >= 20 (got '$contacts')"
        fi
fi
[ -n "${CS_TEST_MYSQL_SOCKET:-}" ] || die "CS_TEST_MYSQL_SOCKET is not set (source tests/lib/services.sh and run cs_services_start)"

sqlc() {
        mariadb --no-defaults --socket="$CS_TEST_MYSQL_SOCKET" \
                -u"${CS_TEST_MYSQL_USER:-civisync}" -p"${CS_TEST_MYSQL_PASSWORD:-civisync}" \
                --default-character-set=utf8mb4 --batch --skip-column-names "$@"
}

# load FILE [prelude SQL]: sources FILE into $name; fails on any error or warning (notes are ok).
load() {
        local file="$fixtures/$1" prelude="${2:-}" out rc
        [ -r "$file" ] || die "db $name: fixture $file not readable"
        out=$( { [ -z "$prelude" ] || printf '%s\n' "$prelude"; cat "$file"; } |
                sqlc --show-warnings "$name" 2>&1 )
        rc=$?
        if [ $rc -ne 0 ]; then
                printf '%s\n' "$out" | tail -n 20 >&2
                die "db $name: loading $file failed (mariadb exit $rc)"
        fi
        if printf '%s\n' "$out" | grep -q '^Warning\|^Error'; then
                printf '%s\n' "$out" | grep '^Warning\|^Error' | head -n 20 >&2
                die "db $name: loading $file produced warnings"
        fi
}

if [ $replace = 1 ]; then
        sqlc -e "DROP DATABASE IF EXISTS \`$name\`" || die "db $name: DROP DATABASE failed"
fi
sqlc -e "CREATE DATABASE \`$name\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" ||
        die "db $name: CREATE DATABASE failed (exists already? use --replace)"
load "$schema_file"
load "$seed_file"
if [ -n "$variant" ]; then
        load "$child_file" "SET @cs_variant=$variant, @cs_contacts=$contacts;"
fi
exit 0
