#!/bin/bash
# latency.sh — `make bench-latency`: real-time sync latency (child commit -> master commit) under a steady write load, with --follow and a consumer daemon.
#
# Usage: bench/latency.sh [--rate N] [--seconds N] [--contacts N] [--keep]
#   --rate N       changes per second on the child (default 200)
#   --seconds N    duration of the load (default 60)
#   --contacts N   contacts of the generated child (default 1000)
#   --keep         keep the temp dir (logs, configs; CS_KEEP_TMP=1)
# Environment: BENCH_LATENCY (path of the load/measure helper built from bench/latency.c,
#              default build/bench/civisync-bench-latency).
#
# On a throwaway MariaDB + civisync-broker (tests/lib/services.sh): a child and an empty master,
# civisync-produce --install-triggers, civisync-consume as a daemon, civisync-produce --follow
# (follow_interval_ms default 200); once the start-up reconciliation has reached the master,
# bench/latency.c drives the load and prints p50/p95/p99/max. Then the producer's and the
# consumer's CPU are sampled over IDLE_S seconds with nothing changing. Not a timed test: the
# figures are printed, the goals (p99 <= 1 s, p50 <= 300 ms) are shown beside them.
# Exit status: 0 when the run completed (goals may be missed), 1 when it broke.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo" || exit 1

RATE=200 SECONDS_=60 CONTACTS=1000 KEEP=0 IDLE_S=10
while [ $# -gt 0 ]; do
        case "$1" in
        --rate) RATE=${2:-}; shift 2 || break ;;
        --seconds) SECONDS_=${2:-}; shift 2 || break ;;
        --contacts) CONTACTS=${2:-}; shift 2 || break ;;
        --keep) KEEP=1; shift ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) echo "bench-latency: unknown argument '$1' (see --help)" >&2; exit 2 ;;
        esac
done
for v in "$RATE" "$SECONDS_" "$CONTACTS"; do
        [[ "$v" =~ ^[0-9]+$ ]] && [ "$v" -ge 1 ] || { echo "bench-latency: numbers must be integers >= 1" >&2; exit 2; }
done
[ "$KEEP" = 1 ] && export CS_KEEP_TMP=1
LATENCY=${BENCH_LATENCY:-$repo/build/bench/civisync-bench-latency}
for p in civisync-produce civisync-consume civisync-broker; do
        [ -x "$repo/bin/$p" ] || { echo "bench-latency: bin/$p missing (run make all)" >&2; exit 1; }
done
[ -x "$LATENCY" ] || { echo "bench-latency: $LATENCY missing (make bench-latency builds it)" >&2; exit 1; }

# shellcheck source=tests/lib/services.sh
. "$repo/tests/lib/services.sh"
PIDS=()
cleanup() {
        local p
        for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
        for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
        cs_services_stop
}
trap cleanup EXIT
trap 'echo "bench-latency: interrupted" >&2; exit 1' INT TERM
say() { printf 'bench-latency: %s\n' "$*" >&2; }
export CS_TEST_QUIET=1
cs_services_start || { echo "bench-latency: could not start MariaDB + broker" >&2; exit 1; }
LOGS="$CS_TEST_TMPDIR/latency"
mkdir -p "$LOGS" "$CS_TEST_TMPDIR/state"
CLK_TCK=$(getconf CLK_TCK)
cpu_of() { awk -v t="$CLK_TCK" '{ printf "%.3f", ($14 + $15) / t }' "/proc/$1/stat" 2>/dev/null || echo 0; }

CHILD=lat_child MASTER=lat_master PREFIX=LAT
tests/lib/make-db.sh "$MASTER" --schema 5 || exit 1
tests/lib/make-db.sh "$CHILD" --schema 5 --child 1 --contacts "$CONTACTS" || exit 1
cs_broker_ctl "topic civisync.$PREFIX:1" || { say "cannot create the topic"; exit 1; }
PCONF="$CS_TEST_TMPDIR/produce.cfg" CCONF="$CS_TEST_TMPDIR/consume.cfg"
cat >"$PCONF" <<EOT
prefix = "$PREFIX";
state_dir = "$CS_TEST_TMPDIR/state";
child = { socket = "$CS_TEST_MYSQL_SOCKET"; user = "$CS_TEST_MYSQL_USER";
          password = "$CS_TEST_MYSQL_PASSWORD"; database = "$CHILD"; };
kafka = { brokers = "$CS_TEST_BROKERS"; };
EOT
cat >"$CCONF" <<EOT
prefixes = [ "$PREFIX" ];
master = { socket = "$CS_TEST_MYSQL_SOCKET"; user = "$CS_TEST_MYSQL_USER";
           password = "$CS_TEST_MYSQL_PASSWORD"; database = "$MASTER"; };
kafka = { brokers = "$CS_TEST_BROKERS"; group = "bench-latency-$$";
          dead_letter_topic = "civisync.bench-dead-letter";
          properties = ( ("session.timeout.ms", "6000")${BENCH_CONSUMER_PROPS:-} ); };
EOT
bin/civisync-produce -c "$PCONF" --install-triggers >"$LOGS/install.out" 2>"$LOGS/install.err" ||
        { say "--install-triggers failed:"; cat "$LOGS/install.err" >&2; exit 1; }
bin/civisync-consume -c "$CCONF" >"$LOGS/consume.out" 2>"$LOGS/consume.err" &
CPID=$!; PIDS+=("$CPID")
bin/civisync-produce -c "$PCONF" --follow -v >"$LOGS/follow.out" 2>"$LOGS/follow.err" &
PPID_=$!; PIDS+=("$PPID_")
say "child $CHILD ($CONTACTS contacts), consumer pid $CPID, follow pid $PPID_; waiting for the start-up sync"
want=$(cs_sql "$CHILD" -N -e "SELECT COUNT(*) FROM civicrm_contact")
for _ in $(seq 1 600); do
        got=$(cs_sql "$MASTER" -N -e "SELECT COUNT(*) FROM mapping_master_$PREFIX WHERE entity_table = 'civicrm_contact'" 2>/dev/null || echo 0)
        [ "$got" = "$want" ] && break
        kill -0 "$PPID_" 2>/dev/null && kill -0 "$CPID" 2>/dev/null || { say "a daemon died:"; tail -n 5 "$LOGS"/*.err >&2; exit 1; }
        sleep 0.5
done
[ "$got" = "$want" ] || { say "the start-up sync did not reach the master ($got of $want contacts)"; exit 1; }
sleep 2
say "load: $RATE changes/s for $SECONDS_ s (40% insert, 40% update, 20% delete of contacts)"
p_cpu0=$(cpu_of "$PPID_") t_load0=$(date +%s.%N)
"$LATENCY" --socket "$CS_TEST_MYSQL_SOCKET" --user "$CS_TEST_MYSQL_USER" \
        --password "$CS_TEST_MYSQL_PASSWORD" --child "$CHILD" --master "$MASTER" \
        --rate "$RATE" --seconds "$SECONDS_" | tee "$LOGS/latency.out" || { say "the load helper failed"; exit 1; }
p_cpu1=$(cpu_of "$PPID_") t_load1=$(date +%s.%N)
outbox=$(cs_sql "$CHILD" -N -e "SELECT COUNT(*) FROM civisync_outbox")
sleep 2
i_p0=$(cpu_of "$PPID_") i_c0=$(cpu_of "$CPID") t0=$(date +%s.%N)
sleep "$IDLE_S"
i_p1=$(cpu_of "$PPID_") i_c1=$(cpu_of "$CPID") t1=$(date +%s.%N)
awk -v a="$p_cpu0" -v b="$p_cpu1" -v s="$t_load0" -v e="$t_load1" \
        'BEGIN { printf "producer CPU under load: %.1f %% of one core\n", 100 * (b - a) / (e - s) }'
awk -v a="$i_p0" -v b="$i_p1" -v c="$i_c0" -v d="$i_c1" -v s="$t0" -v e="$t1" -v n="$IDLE_S" \
        'BEGIN { printf "idle CPU over %d s: producer %.2f %%, consumer %.2f %% of one core\n", n, 100 * (b - a) / (e - s), 100 * (d - c) / (e - s) }'
echo "outbox rows left after the load: $outbox"
echo "goals: p99 <= 1000 ms, p50 <= 300 ms (child commit -> master commit, see docs/BENCHMARK.md)"
kill -TERM "$PPID_"; wait "$PPID_"; prc=$?
kill -TERM "$CPID"; wait "$CPID"; crc=$?
PIDS=()
[ "$prc" = 0 ] && [ "$crc" = 0 ] || { say "exit status: follow $prc, consumer $crc"; tail -n 5 "$LOGS"/follow.err "$LOGS"/consume.err >&2; exit 1; }
exit 0
