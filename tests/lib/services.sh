# services.sh — start/stop a throwaway MariaDB server and civisync-broker for tests (source it).
#
# Usage:
#   . tests/lib/services.sh
#   cs_services_trap            # = trap cs_services_stop EXIT; INT/TERM -> exit 130/143
#   cs_services_start [--no-broker] || exit 1
#   cs_sql DB -e "SELECT ..."   # SQL as the civisync user (utf8mb4, batch, no headers)
#   cs_broker_ctl "topic NAME:PARTITIONS"   # command to the broker's control FIFO
#   cs_services_stop            # idempotent; also what the EXIT trap runs
#   cs_mariadbd_launch          # (re)starts the server after a stop (the fault suite)
#
# Exports after cs_services_start:
#   CS_TEST_TMPDIR          temp dir (removed by cs_services_stop unless CS_KEEP_TMP=1)
#   CS_TEST_MYSQL_SOCKET    unix socket of the test server
#   CS_TEST_MYSQL_PORT      loopback TCP port of the test server (bound to 127.0.0.1)
#   CS_TEST_MYSQL_USER      civisync   (ALL PRIVILEGES on localhost and 127.0.0.1)
#   CS_TEST_MYSQL_PASSWORD  civisync
#   CS_TEST_BROKERS         bootstrap address printed by civisync-broker ("" with --no-broker)
#   CS_TEST_BROKER_CONTROL  the broker's --control FIFO: write "topic NAME:PARTITIONS\n" etc.
#   CS_TEST_FIXTURES        absolute path of tests/fixtures
#   CS_BIN                  absolute path of the repo's bin/ (kept if already set)
#   CS_TEST_TLS_DIR         the server's test CA and certificates (tests/lib/make-tls.sh);
#                           the server accepts TLS (not required); unset if openssl is missing
# Optional input:
#   CS_BROKER_ARGS          extra arguments for civisync-broker (word-split), e.g.
#                           "--topic civisync.alpha --topic civisync.beta"
#   CS_MARIADBD_ARGS        extra mariadbd options (word-split), e.g.
#                           "--innodb-autoinc-lock-mode=2 --auto-increment-increment=2"
#   CS_KEEP_TMP=1           keep the temp dir (data dir, logs, configs) after stop
#   CS_TEST_QUIET=1         suppress progress messages
#
# Test-speed settings (NOT for production): innodb_flush_log_at_trx_commit=2 (no fsync per
# commit), a 256M buffer pool, skip-name-resolve. Durability across a crash is irrelevant
# for a throwaway server that is deleted after the run.

_cs_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
_cs_repo_dir=$(cd "$_cs_lib_dir/../.." && pwd)

_cs_say() { [ "${CS_TEST_QUIET:-0}" = 1 ] || echo "services: $*" >&2; }
_cs_err() { echo "services: ERROR: $*" >&2; }

# Prints a loopback TCP port that nothing is listening on.
_cs_free_port() {
        local tries=0 port
        while [ $tries -lt 200 ]; do
                port=$(( 20000 + (RANDOM * 32768 + RANDOM + $$ + tries) % 40000 ))
                tries=$((tries + 1))
                if command -v ss >/dev/null 2>&1; then
                        if ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then
                                continue
                        fi
                fi
                # A successful connect means something listens there.
                if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
                        continue
                fi
                echo "$port"
                return 0
        done
        return 1
}

# Admin client (unix_socket auth as the invoking OS user, who owns the server).
_cs_admin_sql() {
        mariadb --no-defaults --socket="$CS_TEST_MYSQL_SOCKET" -u"$(id -un)" \
                --default-character-set=utf8mb4 --batch --skip-column-names "$@"
}

# Starts the test mariadbd in the background on $CS_TEST_TMPDIR/data, the
# socket and $CS_TEST_MYSQL_PORT, and sets _CS_MARIADBD_PID. The one place
# its options are spelled (cs_services_start, and the fault suite's restart).
# Its temporary files go to its own $CS_TEST_TMPDIR/tmp (nothing else on the
# machine shares them); $CS_MARIADBD_ARGS adds options (word-split).
cs_mariadbd_launch() {
        local mariadbd_bin; mariadbd_bin=$(command -v mariadbd || echo /usr/sbin/mariadbd)
        local tls=()
        [ -n "${CS_TEST_TLS_DIR:-}" ] && tls=(--ssl-ca="$CS_TEST_TLS_DIR/ca.pem"
                --ssl-cert="$CS_TEST_TLS_DIR/server-cert.pem" --ssl-key="$CS_TEST_TLS_DIR/server-key.pem")
        # Its own tmpdir: a mariadbd starting up deletes every #sql* file in its
        # tmpdir, so servers of parallel runs sharing /tmp lose each other's
        # temporary tables ("Error on delete of '/tmp/#sql-temptable-...'").
        mkdir -p "$CS_TEST_TMPDIR/tmp"
        # shellcheck disable=SC2086
        "$mariadbd_bin" --no-defaults --datadir="$CS_TEST_TMPDIR/data" "${tls[@]}" \
                --tmpdir="$CS_TEST_TMPDIR/tmp" ${CS_MARIADBD_ARGS:-} \
                --socket="$CS_TEST_MYSQL_SOCKET" --port="$CS_TEST_MYSQL_PORT" --bind-address=127.0.0.1 \
                --user="$(id -un)" --pid-file="$CS_TEST_TMPDIR/mariadbd.pid" \
                --log-error="$CS_TEST_TMPDIR/mariadbd.err" \
                --innodb-buffer-pool-size=256M --innodb-flush-log-at-trx-commit=2 \
                --innodb-log-file-size=256M \
                --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
                --skip-name-resolve --max-allowed-packet=64M \
                </dev/null >/dev/null 2>&1 &
        _CS_MARIADBD_PID=$!
}

cs_services_start() {
        local want_broker=1 arg
        for arg in "$@"; do
                case "$arg" in
                --no-broker) want_broker=0 ;;
                *) _cs_err "cs_services_start: unknown argument '$arg'"; return 1 ;;
                esac
        done
        local me; me=$(id -un)
        local need
        for need in mariadb-install-db mariadbd mariadb mariadb-admin; do
                if ! command -v "$need" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$need" ]; then
                        _cs_err "$need not found (install mariadb-server/mariadb-client: make deps)"
                        return 1
                fi
        done

        CS_TEST_TMPDIR=$(mktemp -d /tmp/civisync-test.XXXXXX) || { _cs_err "mktemp failed"; return 1; }
        chmod 0755 "$CS_TEST_TMPDIR"
        export CS_TEST_TMPDIR
        export CS_TEST_FIXTURES="$_cs_repo_dir/tests/fixtures"
        export CS_BIN="${CS_BIN:-$_cs_repo_dir/bin}"
        export CS_TEST_MYSQL_SOCKET="$CS_TEST_TMPDIR/mysql.sock"
        export CS_TEST_MYSQL_USER=civisync
        export CS_TEST_MYSQL_PASSWORD=civisync
        export CS_TEST_BROKERS=""
        export CS_TEST_BROKER_CONTROL=""
        local datadir="$CS_TEST_TMPDIR/data"
        local errlog="$CS_TEST_TMPDIR/mariadbd.err"
        mkdir -p "$datadir"
        unset CS_TEST_TLS_DIR
        if command -v openssl >/dev/null 2>&1 &&
           "$_cs_lib_dir/make-tls.sh" "$CS_TEST_TMPDIR/tls" 2>"$CS_TEST_TMPDIR/tls.log"; then
                export CS_TEST_TLS_DIR="$CS_TEST_TMPDIR/tls"
        fi

        _cs_say "initialising data dir in $datadir"
        # The bootstrap server gets the run's own tmpdir too (passed on to
        # mariadbd): with /tmp, two runs initialising at once (the parallel
        # integration workers start together) deleted each other's temporary
        # tables and one mariadb-install-db failed.
        mkdir -p "$CS_TEST_TMPDIR/tmp"
        if ! mariadb-install-db --no-defaults --datadir="$datadir" \
                --tmpdir="$CS_TEST_TMPDIR/tmp" \
                --auth-root-authentication-method=socket --user="$me" \
                --skip-test-db --force >"$CS_TEST_TMPDIR/install-db.log" 2>&1; then
                _cs_err "mariadb-install-db failed; its errors, then its log tail:"
                grep -m 10 -iE '\[error\]|error:' "$CS_TEST_TMPDIR/install-db.log" >&2
                tail -n 20 "$CS_TEST_TMPDIR/install-db.log" >&2
                return 1
        fi

        local port started=0 _try
        for _try in 1 2 3; do
                port=$(_cs_free_port) || { _cs_err "no free loopback port found"; return 1; }
                export CS_TEST_MYSQL_PORT="$port"
                cs_mariadbd_launch
                echo "$_CS_MARIADBD_PID" >"$CS_TEST_TMPDIR/mariadbd.launcher.pid"
                _cs_say "mariadbd pid $_CS_MARIADBD_PID, port $port, socket $CS_TEST_MYSQL_SOCKET"
                local waited=0
                while [ $waited -lt 300 ]; do    # 300 x 0.1 s = 30 s
                        if ! kill -0 "$_CS_MARIADBD_PID" 2>/dev/null; then
                                break
                        fi
                        if mariadb-admin --no-defaults --socket="$CS_TEST_MYSQL_SOCKET" -u"$me" \
                                --connect-timeout=2 ping >/dev/null 2>&1; then
                                started=1
                                break
                        fi
                        sleep 0.1
                        waited=$((waited + 1))
                done
                [ $started = 1 ] && break
                if kill -0 "$_CS_MARIADBD_PID" 2>/dev/null; then
                        _cs_err "mariadbd did not answer within 30 s; error log tail:"
                        tail -n 30 "$errlog" >&2
                        return 1
                fi
                if grep -q "Address already in use\|Can't start server: Bind" "$errlog" 2>/dev/null; then
                        _cs_say "port $port taken meanwhile, retrying"
                        continue
                fi
                _cs_err "mariadbd exited during startup; error log tail:"
                tail -n 30 "$errlog" >&2
                return 1
        done
        if [ $started != 1 ]; then
                _cs_err "mariadbd could not start; error log tail:"
                tail -n 30 "$errlog" >&2
                return 1
        fi

        if ! _cs_admin_sql -e "
                CREATE USER IF NOT EXISTS 'civisync'@'localhost' IDENTIFIED BY 'civisync';
                CREATE USER IF NOT EXISTS 'civisync'@'127.0.0.1' IDENTIFIED BY 'civisync';
                GRANT ALL PRIVILEGES ON *.* TO 'civisync'@'localhost' WITH GRANT OPTION;
                GRANT ALL PRIVILEGES ON *.* TO 'civisync'@'127.0.0.1' WITH GRANT OPTION;
                FLUSH PRIVILEGES;"; then
                _cs_err "could not create the civisync user"
                return 1
        fi
        # Smoke test both transports with the test account.
        if ! mariadb --no-defaults -h127.0.0.1 -P"$port" -ucivisync -pcivisync -e 'SELECT 1' >/dev/null 2>&1; then
                _cs_err "civisync user cannot log in over 127.0.0.1:$port"
                return 1
        fi

        if [ $want_broker = 1 ]; then
                local broker="$CS_BIN/civisync-broker"
                if [ ! -x "$broker" ]; then
                        _cs_err "$broker not found or not executable (run make all)"
                        return 1
                fi
                local bootstrap="$CS_TEST_TMPDIR/bootstrap"
                : >"$bootstrap"
                CS_TEST_BROKER_CONTROL="$CS_TEST_TMPDIR/broker.ctl"
                export CS_TEST_BROKER_CONTROL
                # shellcheck disable=SC2086  # CS_BROKER_ARGS is word-split on purpose
                "$broker" --bootstrap-file "$bootstrap" --control "$CS_TEST_BROKER_CONTROL" \
                        ${CS_BROKER_ARGS:-} \
                        </dev/null >"$CS_TEST_TMPDIR/broker.log" 2>&1 &
                _CS_BROKER_PID=$!
                echo "$_CS_BROKER_PID" >"$CS_TEST_TMPDIR/broker.pid"
                local w=0
                while [ ! -s "$bootstrap" ] && [ $w -lt 100 ]; do   # 10 s
                        if ! kill -0 "$_CS_BROKER_PID" 2>/dev/null; then
                                break
                        fi
                        sleep 0.1
                        w=$((w + 1))
                done
                if [ ! -s "$bootstrap" ]; then
                        _cs_err "civisync-broker did not write $bootstrap within 10 s; log tail:"
                        tail -n 20 "$CS_TEST_TMPDIR/broker.log" >&2
                        return 1
                fi
                sleep 0.1   # let the writer finish the line
                CS_TEST_BROKERS=$(head -n 1 "$bootstrap" | tr -d '[:space:]')
                export CS_TEST_BROKERS
                _cs_say "broker pid $_CS_BROKER_PID at $CS_TEST_BROKERS"
        fi
        _cs_say "services up (tmp $CS_TEST_TMPDIR)"
        return 0
}

# Sends SIG to PID, waits up to TENTHS x 0.1 s for it to go, then SIGKILLs it.
_cs_stop_pid() {
        local pid=$1 tenths=$2 n=0
        [ -n "$pid" ] || return 0
        kill -0 "$pid" 2>/dev/null || return 0
        kill -TERM "$pid" 2>/dev/null
        while kill -0 "$pid" 2>/dev/null && [ $n -lt "$tenths" ]; do
                sleep 0.1
                n=$((n + 1))
        done
        if kill -0 "$pid" 2>/dev/null; then
                _cs_say "pid $pid ignored SIGTERM, sending SIGKILL"
                kill -KILL "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null
        return 0
}

cs_services_stop() {
        local rc=$?   # keep the caller's status when used as an EXIT trap
        [ -n "${CS_TEST_TMPDIR:-}" ] || return $rc
        if [ -n "${_CS_BROKER_PID:-}" ]; then
                _cs_stop_pid "$_CS_BROKER_PID" 50
                _CS_BROKER_PID=""
        fi
        if [ -n "${_CS_MARIADBD_PID:-}" ]; then
                if kill -0 "$_CS_MARIADBD_PID" 2>/dev/null; then
                        mariadb-admin --no-defaults --socket="$CS_TEST_MYSQL_SOCKET" -u"$(id -un)" \
                                --connect-timeout=2 shutdown >/dev/null 2>&1
                        local n=0
                        while kill -0 "$_CS_MARIADBD_PID" 2>/dev/null && [ $n -lt 200 ]; do
                                sleep 0.1
                                n=$((n + 1))
                        done
                        _cs_stop_pid "$_CS_MARIADBD_PID" 50
                fi
                _CS_MARIADBD_PID=""
        fi
        if [ "${CS_KEEP_TMP:-0}" = 1 ]; then
                _cs_say "keeping $CS_TEST_TMPDIR (CS_KEEP_TMP=1)"
        else
                case "$CS_TEST_TMPDIR" in
                /tmp/civisync-test.*) rm -rf -- "$CS_TEST_TMPDIR" ;;
                esac
        fi
        CS_TEST_TMPDIR=""
        return $rc
}

# Installs the usual traps: stop the services on exit; INT/TERM exit the script (130/143),
# which then runs the EXIT trap. (A bare `trap cs_services_stop INT` would stop the services
# and let the script carry on without them.)
cs_services_trap() {
        trap cs_services_stop EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
}

# Runs SQL as the civisync test user: cs_sql [DB] [mariadb args...] (reads stdin if no -e).
cs_sql() {
        mariadb --no-defaults --socket="$CS_TEST_MYSQL_SOCKET" -u"$CS_TEST_MYSQL_USER" \
                -p"$CS_TEST_MYSQL_PASSWORD" --default-character-set=utf8mb4 --batch --skip-column-names "$@"
}

# Sends one control command to the running civisync-broker, e.g.
#   cs_broker_ctl "topic civisync.alpha:3"   cs_broker_ctl "broker-down 1"
# The broker polls its FIFO every ~100 ms, so this waits 0.4 s afterwards.
cs_broker_ctl() {
        if [ -z "${CS_TEST_BROKER_CONTROL:-}" ] || [ ! -p "$CS_TEST_BROKER_CONTROL" ]; then
                _cs_err "cs_broker_ctl: no broker control FIFO (started with --no-broker?)"
                return 1
        fi
        local log="$CS_TEST_TMPDIR/broker.log" before w=0
        before=$(wc -l <"$log")
        printf '%s\n' "$*" >"$CS_TEST_BROKER_CONTROL" || return 1
        # Wait for the broker's answer to this command in its log (it polls
        # the FIFO every 100 ms), so a fault is in force before the caller
        # goes on.
        while [ $w -lt 100 ]; do
                if tail -n +"$((before + 1))" "$log" |
                        grep -q 'control: \|created topic \|cannot create topic '; then
                        return 0
                fi
                sleep 0.1
                w=$((w + 1))
        done
        _cs_err "cs_broker_ctl: no answer from the broker to '$*' within 10 s"
        return 1
}
