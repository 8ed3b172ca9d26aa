#!/bin/bash
# profile.sh — profiles civisync-produce --output and civisync-consume --input (perf, mariadbd too) on a generated child.
#
# Usage: bench/profile.sh [--contacts N] [--out DIR]      (default N=10000, DIR=/tmp/civisync-profile)
# Starts its own MariaDB (tests/lib/services.sh, no broker), generates the child, then records
#   DIR/produce.perf   perf record -g of civisync-produce --complete --output F
#   DIR/consume.perf   perf record -g of civisync-consume --input F into an empty master
#   DIR/mariadbd.perf  perf record -g -p <mariadbd> while the consumer runs
# and writes the top of each report (DIR/*.txt, self and children). Stops the server at the end.
# Needs perf (linux-perf / linux-tools) and a kernel that allows it (perf_event_paranoid <= 2).
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
N=10000 OUT=/tmp/civisync-profile
while [ $# -gt 0 ]; do
        case "$1" in
        --contacts) N=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "profile: unknown argument '$1'" >&2; exit 2 ;;
        esac
done
command -v perf >/dev/null || { echo "profile: perf not found" >&2; exit 1; }
mkdir -p "$OUT"
# shellcheck source=tests/lib/services.sh
. "$repo/tests/lib/services.sh"
trap 'cs_services_stop' EXIT
export CS_TEST_QUIET=1
cs_services_start --no-broker || exit 1
"$repo/tests/lib/make-db.sh" pchild --schema 5 --child 1 --contacts "$N" || exit 1
"$repo/tests/lib/make-db.sh" pmaster --schema 5 || exit 1
mkdir -p "$CS_TEST_TMPDIR/state"
cat >"$CS_TEST_TMPDIR/p.cfg" <<EOF
# profile producer config (bench/profile.sh)
prefix = "prof";
state_dir = "$CS_TEST_TMPDIR/state";
child = { socket = "$CS_TEST_MYSQL_SOCKET"; user = "$CS_TEST_MYSQL_USER";
          password = "$CS_TEST_MYSQL_PASSWORD"; database = "pchild"; };
kafka = { brokers = "127.0.0.1:1"; };
EOF
cat >"$CS_TEST_TMPDIR/c.cfg" <<EOF
# profile consumer config (bench/profile.sh)
master = { socket = "$CS_TEST_MYSQL_SOCKET"; user = "$CS_TEST_MYSQL_USER";
           password = "$CS_TEST_MYSQL_PASSWORD"; database = "pmaster"; };
kafka = { brokers = "127.0.0.1:1"; };
EOF
F="$CS_TEST_TMPDIR/prof.ndjson"
perf record -q -g -o "$OUT/produce.perf" -- "$repo/bin/civisync-produce" -c "$CS_TEST_TMPDIR/p.cfg" \
        --complete --output "$F" || exit 1
perf record -q -g -o "$OUT/mariadbd.perf" -p "$_CS_MARIADBD_PID" 2>/dev/null &
dbperf=$!
sleep 0.5
perf record -q -g -o "$OUT/consume.perf" -- "$repo/bin/civisync-consume" -c "$CS_TEST_TMPDIR/c.cfg" \
        --input "$F" --prefix prof || exit 1
kill -INT "$dbperf"; wait "$dbperf"
for p in produce consume mariadbd; do
        perf report -i "$OUT/$p.perf" --stdio --no-children --percent-limit 1.5 -g none \
                --sort dso,symbol 2>/dev/null | grep -v '^$' | head -45 >"$OUT/$p.self.txt"
        perf report -i "$OUT/$p.perf" --stdio --children --percent-limit 4 -g none \
                --sort symbol 2>/dev/null | grep -v '^$' | head -60 >"$OUT/$p.children.txt"
done
echo "profile: reports in $OUT (*.self.txt, *.children.txt); raw data *.perf"
