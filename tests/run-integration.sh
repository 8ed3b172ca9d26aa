#!/bin/bash
# run-integration.sh — run a Check integration-test binary against throwaway MariaDB + civisync-broker.
#
# Usage: tests/run-integration.sh BINARY [ARGS...]
#   Starts the services (tests/lib/services.sh), exports CS_TEST_* / CS_BIN for the binary,
#   runs it and exits with its exit code; services are always stopped afterwards.
#   CS_NO_BROKER=1  start MariaDB only (no civisync-broker)
#   CS_KEEP_TMP=1   keep the temp dir (data dir, logs) for post-mortem
# Exit codes: the binary's own; 1 if the binary is missing or the services fail to start.
set -u

if [ $# -lt 1 ]; then
        echo "usage: tests/run-integration.sh BINARY [ARGS...]" >&2
        exit 1
fi
bin=$1
shift
if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then
        echo "run-integration: test binary '$bin' does not exist or is not executable (build it first)" >&2
        exit 1
fi
case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/services.sh
. "$here/lib/services.sh"

trap cs_services_stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_args=()
[ "${CS_NO_BROKER:-0}" = 1 ] && start_args+=(--no-broker)
if ! cs_services_start "${start_args[@]}"; then
        echo "run-integration: FAILED to start test services (MariaDB/civisync-broker); not running $bin" >&2
        exit 1
fi

# The binary finds tests/lib/make-db.sh relative to the repository root.
cd "$here/.." || exit 1
"$bin" "$@"
rc=$?
if [ $rc -ne 0 ]; then
        echo "run-integration: $bin exited with status $rc" >&2
fi
exit $rc
