#!/bin/bash
# it-worker.sh — one worker of tests/run-integration-parallel.sh: run queued suites until none is left.
#
# Started by tests/run-integration.sh (so CS_TEST_* describe this worker's own services), with
#   CS_IT_QUEUE   the queue directory: 'queue' (suite names, one per line), 'next' (index of the next
#                 suite to take, guarded by flock on 'lock')
#   CS_IT_BINARY  the integration test binary
#   CS_IT_WORKER  this worker's number (for the progress lines)
# For each suite it writes suite.NAME.log (the binary's output), suite.NAME.rc and suite.NAME.secs,
# and appends one line to 'progress'.
# Exit code: 0 when the queue is empty (suite failures are in the .rc files, not here).
set -u
q=${CS_IT_QUEUE:?}
bin=${CS_IT_BINARY:?}
total=$(wc -l <"$q/queue")

take_next() {
        local i
        exec 9>"$q/lock"
        flock 9
        i=$(cat "$q/next")
        echo $((i + 1)) >"$q/next"
        flock -u 9
        exec 9>&-
        [ "$i" -lt "$total" ] || return 1
        sed -n "$((i + 1))p" "$q/queue"
}

while suite=$(take_next); do
        t0=$(date +%s)
        CK_RUN_SUITE=$suite "$bin" >"$q/suite.$suite.log" 2>&1
        rc=$?
        t=$(($(date +%s) - t0))
        echo "$t" >"$q/suite.$suite.secs"
        echo "$rc" >"$q/suite.$suite.rc"
        result=$(grep -E '^[0-9]+%: Checks:' "$q/suite.$suite.log" | tail -1)
        # The parallel runner prints the progress file as it grows (our stdout is the worker log).
        echo "integration: [worker ${CS_IT_WORKER:-?}] $suite: ${result:-no result line} (exit $rc, $t s)" >>"$q/progress"
done
exit 0
