#!/bin/bash
# run-integration-parallel.sh — run the integration suites on JOBS workers, each with its own services.
#
# Usage: tests/run-integration-parallel.sh [-j JOBS] BINARY
#   BINARY --list names the suites. Each worker is one tests/run-integration.sh (its own throwaway
#   MariaDB + civisync-broker on random loopback ports) running tests/lib/it-worker.sh, which takes
#   the next suite from a shared queue and runs BINARY with CK_RUN_SUITE=that suite, until the
#   queue is empty. Most of a suite's time is spent waiting (timeouts, polls, the server), so
#   two workers on two cores take about half the wall time of one.
#   The queue is taken in --list order: the slowest suites come first in tests/integration/main.c,
#   so that no long suite starts last.
#   Each suite's output is kept and printed whole, in --list order, once all workers are done;
#   a one-line progress report is printed as each suite ends.
#   IT_SUITES="a b ...": only these suites (each must be one --list names).
#   CK_RUN_SUITE set: only that suite runs (one worker). CK_RUN_CASE is passed through.
#   CS_KEEP_TMP=1: keep the queue directory (per-suite logs) and the services' temp dirs.
# Exit codes: 0 every suite ran and passed; 1 a suite failed, ran no test, or was never run
# (a worker's services failed to start); 2 usage.
set -u

jobs=2
if [ "${1:-}" = "-j" ]; then
        jobs=${2:-}
        shift 2 || true
fi
case "$jobs" in
        [1-9] | [1-9][0-9]) ;;
        *)
                echo "run-integration-parallel: -j needs a number of workers (1-99), got '$jobs'" >&2
                exit 2
                ;;
esac
if [ $# -ne 1 ]; then
        echo "usage: tests/run-integration-parallel.sh [-j JOBS] BINARY" >&2
        exit 2
fi
bin=$1
if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then
        echo "run-integration-parallel: test binary '$bin' does not exist or is not executable (build it first)" >&2
        exit 1
fi
case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [ -n "${CK_RUN_SUITE:-}" ]; then
        suites=$CK_RUN_SUITE
        jobs=1
elif ! suites=$("$bin" --list) || [ -z "$suites" ]; then
        echo "run-integration-parallel: '$bin --list' named no suites" >&2
        exit 1
elif [ -n "${IT_SUITES:-}" ]; then
        for s in $IT_SUITES; do
                if ! grep -qxF -- "$s" <<<"$suites"; then
                        echo "run-integration-parallel: IT_SUITES names '$s', which is not a suite (known: $(echo $suites))" >&2
                        exit 2
                fi
        done
        suites=$(printf '%s\n' $IT_SUITES)
fi
nsuites=$(printf '%s\n' "$suites" | wc -l)
[ "$jobs" -gt "$nsuites" ] && jobs=$nsuites

qdir=$(mktemp -d /tmp/civisync-itq.XXXXXX) || exit 1
printf '%s\n' "$suites" >"$qdir/queue"
echo 0 >"$qdir/next"
: >"$qdir/progress"
unset CK_RUN_SUITE

pids=()
tail_pid=
stop_workers() {
        local p
        for p in "${pids[@]}"; do
                kill -TERM -- "-$p" 2>/dev/null
        done
        [ -n "$tail_pid" ] && kill "$tail_pid" 2>/dev/null
        wait
}
trap 'stop_workers; exit 130' INT
trap 'stop_workers; exit 143' TERM

started=$(date +%s)
echo "integration: $nsuites suites on $jobs workers (queue $qdir)"
tail -n +1 -f "$qdir/progress" &
tail_pid=$!
set -m # each worker in its own process group, so that an interrupt stops all it started
for ((w = 1; w <= jobs; w++)); do
        CS_IT_WORKER=$w CS_IT_QUEUE=$qdir CS_IT_BINARY=$bin \
                "$here/run-integration.sh" "$here/lib/it-worker.sh" >"$qdir/worker.$w.log" 2>&1 &
        pids+=($!)
done
set +m
rc=0
for ((w = 1; w <= jobs; w++)); do
        if ! wait "${pids[$((w - 1))]}"; then
                # Its services did not start (or it was stopped): the suites it
                # did not take ran on the other workers; one it held is
                # reported below as never run.
                echo "integration: worker $w failed (its log follows); the other workers took its share of the queue"
                cat "$qdir/worker.$w.log"
        fi
done
sleep 1 # tail -f polls once a second: let it print the last progress line
kill "$tail_pid" 2>/dev/null
wait "$tail_pid" 2>/dev/null
tail_pid=
trap - INT TERM

# Every suite's own output, in --list order, then one summary line each.
checks=0
failures=0
summary=""
while IFS= read -r s; do
        log="$qdir/suite.$s.log"
        if [ ! -f "$qdir/suite.$s.rc" ]; then
                summary+="  $s: NEVER RAN (no worker reached it; see the worker logs above)"$'\n'
                rc=1
                continue
        fi
        cat "$log"
        src=$(cat "$qdir/suite.$s.rc")
        secs=$(cat "$qdir/suite.$s.secs")
        line=$(grep -E '^[0-9]+%: Checks: [0-9]+' "$log" | tail -1)
        n=$(sed -nE 's/^[0-9]+%: Checks: ([0-9]+).*/\1/p' <<<"$line")
        f=$(sed -nE 's/.*Failures: ([0-9]+), Errors: ([0-9]+).*/\1 \2/p' <<<"$line")
        if [ -n "$f" ]; then nf=$((${f% *} + ${f#* })); else nf=1; fi
        if [ -z "$n" ] || [ "$n" -eq 0 ]; then
                summary+="  $s: RAN NO TEST (exit $src; is the suite's name in main.c the one given to suite_create?)"$'\n'
                rc=1
                continue
        fi
        checks=$((checks + n))
        failures=$((failures + nf))
        if [ "$src" -ne 0 ] || [ "$nf" -ne 0 ]; then
                summary+="  $s: FAILED, $n checks, $nf failures/errors, exit $src, ${secs} s"$'\n'
                rc=1
        else
                summary+="  $s: ok, $n checks, ${secs} s"$'\n'
        fi
done <"$qdir/queue"
echo "integration summary ($(($(date +%s) - started)) s wall, $jobs workers):"
printf '%s' "$summary"
echo "integration: Checks: $checks, Failures: $failures"
if [ "${CS_KEEP_TMP:-0}" = 1 ]; then
        echo "integration: logs kept in $qdir"
else
        rm -rf -- "$qdir"
fi
exit $rc
