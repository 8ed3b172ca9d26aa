#!/bin/bash
# demo.sh — end-to-end civisync demo: two children -> Kafka (mock broker) -> one master, on throwaway services.
#
# Run by `make demo` (after `make all`). Steps:
#   1. start MariaDB + civisync-broker (topics civisync.alpha, civisync.beta, civisync.dead-letter)
#   2. create master civisync_master (empty: schema + seed), child_alpha (variant 1, 200
#      contacts) and child_beta (variant 2, 150 contacts)
#   3. complete sync of both children, one consumer pass (--once)
#   4. report: per prefix and entity table, child rows / mapped ids / master rows reached
#      through mapping_master_<prefix>, and the master's row totals
#   5. the same sync again: the master must not change (row counts and checksums)
# Environment: CS_KEEP_TMP=1 keeps the temp dir (configs, logs, data dir);
#              CS_DEMO_ALPHA_CONTACTS / CS_DEMO_BETA_CONTACTS override the sizes.
# Exit status: 0 when every step succeeded; 1 naming the failed step otherwise.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo" || exit 1
# shellcheck source=tests/lib/services.sh
. "$here/lib/services.sh"

MASTER=civisync_master
PREFIXES=(alpha beta)
declare -A CHILD_DB=([alpha]=child_alpha [beta]=child_beta)
declare -A VARIANT=([alpha]=1 [beta]=2)
declare -A CONTACTS=([alpha]=${CS_DEMO_ALPHA_CONTACTS:-200} [beta]=${CS_DEMO_BETA_CONTACTS:-150})
STEP_NO=0

say() { printf '\n== %s\n' "$*"; }
fail() { echo "demo: FAILED at step '$1'${2:+: $2}" >&2; exit 1; }

# step NAME CMD...: runs CMD with its output in $CS_TEST_TMPDIR/logs/NN-NAME.log;
# on failure prints the log tail and exits 1 naming the step. Prints CMD's last stdout line.
step() {
        local name=$1; shift
        STEP_NO=$((STEP_NO + 1))
        local log; log=$(printf '%s/logs/%02d-%s.log' "$CS_TEST_TMPDIR" "$STEP_NO" "${name//[^A-Za-z0-9_.-]/_}")
        local t0=$SECONDS
        printf '  %-44s ' "$name"
        "$@" >"$log.out" 2>"$log.err"
        local rc=$?
        if [ $rc -ne 0 ]; then
                echo "FAILED (exit $rc)"
                echo "---- stderr (tail) ----" >&2; tail -n 25 "$log.err" >&2
                echo "---- stdout (tail) ----" >&2; tail -n 10 "$log.out" >&2
                fail "$name" "exit status $rc, logs in $log.{out,err}"
        fi
        echo "ok ($((SECONDS - t0)) s) $(tail -n 1 "$log.out" | cut -c1-100)"
}

sql() { cs_sql "$@"; }

# Writes the producer config for PREFIX; prints its path.
write_producer_conf() {
        local p=$1 f="$CS_TEST_TMPDIR/$1.cfg"
        mkdir -p "$CS_TEST_TMPDIR/state-$p"
        cat >"$f" <<EOF
# producer config for the demo child ${CHILD_DB[$p]} (written by tests/demo.sh)
prefix = "$p";
state_dir = "$CS_TEST_TMPDIR/state-$p";
child = {
        socket = "$CS_TEST_MYSQL_SOCKET";
        user = "$CS_TEST_MYSQL_USER";
        password = "$CS_TEST_MYSQL_PASSWORD";
        database = "${CHILD_DB[$p]}";
};
kafka = {
        brokers = "$CS_TEST_BROKERS";
        topic_prefix = "civisync.";
        properties = (
                ("client.id", "civisync-demo-produce-$p")
        );
};
EOF
        echo "$f"
}

write_consumer_conf() {
        local f="$CS_TEST_TMPDIR/consumer.cfg"
        cat >"$f" <<EOF
# consumer config for the demo master $MASTER (written by tests/demo.sh)
prefixes = [ "alpha", "beta" ];
master = {
        socket = "$CS_TEST_MYSQL_SOCKET";
        user = "$CS_TEST_MYSQL_USER";
        password = "$CS_TEST_MYSQL_PASSWORD";
        database = "$MASTER";
};
kafka = {
        brokers = "$CS_TEST_BROKERS";
        group = "civisync-demo-master";
        topic_prefix = "civisync.";
        dead_letter_topic = "civisync.dead-letter";
        properties = (
                ("client.id", "civisync-demo-consume"),
                ("session.timeout.ms", "6000")
        );
};
EOF
        echo "$f"
}

sync_all() {   # one complete sync of every child, then one consumer pass
        local p
        for p in "${PREFIXES[@]}"; do
                step "produce $p --complete" "$CS_BIN/civisync-produce" -c "$CS_TEST_TMPDIR/$p.cfg" --complete
        done
        step "consume --once" "$CS_BIN/civisync-consume" -c "$CS_TEST_TMPDIR/consumer.cfg" --once
}

# Prints "table<TAB>rows" for every base table of the master (sorted).
master_counts() {
        local t
        for t in $(sql -e "SELECT table_name FROM information_schema.tables
                           WHERE table_schema = '$MASTER' AND table_type = 'BASE TABLE' ORDER BY 1"); do
                printf '%s\t%s\n' "$t" "$(sql "$MASTER" -e "SELECT COUNT(*) FROM \`$t\`")"
        done | LC_ALL=C sort
}

# Prints "table<TAB>checksum" for the master's civicrm_* tables.
master_checksums() {
        local tables
        tables=$(sql -e "SELECT GROUP_CONCAT(CONCAT('\`', table_name, '\`') ORDER BY table_name)
                         FROM information_schema.tables
                         WHERE table_schema = '$MASTER' AND table_name LIKE 'civicrm\\_%'")
        sql "$MASTER" -e "CHECKSUM TABLE $tables EXTENDED"
}

# Per prefix and entity table: rows in the child, ids in mapping_master_<prefix>, and master
# rows actually reached through the mapping.
report_mapping() {
        local p map t child mapped reached total_m=0
        printf '\n  %-8s %-28s %10s %10s %14s\n' prefix entity_table "child rows" "mapped" "master rows"
        printf '  %-8s %-28s %10s %10s %14s\n' -------- ---------------------------- ---------- ---------- --------------
        for p in "${PREFIXES[@]}"; do
                map="mapping_master_$p"
                if [ "$(sql -e "SELECT COUNT(*) FROM information_schema.tables
                                WHERE table_schema='$MASTER' AND table_name='$map'")" != 1 ]; then
                        printf '  %-8s (no %s table in the master)\n' "$p" "$map"
                        continue
                fi
                while IFS=$'\t' read -r t mapped; do
                        [[ "$t" =~ ^[A-Za-z0-9_]{1,64}$ ]] || { printf '  %-8s %-28s (odd entity_table)\n' "$p" "$t"; continue; }
                        child=$(sql "${CHILD_DB[$p]}" -e "SELECT COUNT(*) FROM \`$t\`" 2>/dev/null || echo "?")
                        reached=$(sql "$MASTER" -e "SELECT COUNT(*) FROM \`$map\` m JOIN \`$t\` x
                                  ON x.id = m.master_entity_id WHERE m.entity_table = '$t'" 2>/dev/null || echo "?")
                        printf '  %-8s %-28s %10s %10s %14s\n' "$p" "$t" "$child" "$mapped" "$reached"
                done < <(sql "$MASTER" -e "SELECT entity_table, COUNT(*) FROM \`$map\` GROUP BY entity_table ORDER BY entity_table")
                total_m=$(sql "$MASTER" -e "SELECT COUNT(*) FROM \`$map\`")
                printf '  %-8s %-28s %10s %10s\n' "$p" "(mapping table size)" "" "$total_m"
        done
}

# ---------------------------------------------------------------------------------------
trap cs_services_stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for prog in civisync-produce civisync-consume civisync-broker; do
        [ -x "$repo/bin/$prog" ] || fail "check programs" "bin/$prog missing (run make all)"
done

say "1. services"
export CS_BROKER_ARGS="--topic civisync.alpha --topic civisync.beta --topic civisync.dead-letter ${CS_BROKER_ARGS:-}"
# shellcheck disable=SC2119  # no arguments: the demo always needs the broker
cs_services_start || fail "start services"
mkdir -p "$CS_TEST_TMPDIR/logs"
echo "  MariaDB socket $CS_TEST_MYSQL_SOCKET (port $CS_TEST_MYSQL_PORT), broker $CS_TEST_BROKERS"
echo "  temp dir $CS_TEST_TMPDIR"

say "2. databases"
step "create master $MASTER" tests/lib/make-db.sh "$MASTER" --schema 5
for p in "${PREFIXES[@]}"; do
        step "create ${CHILD_DB[$p]} (${CONTACTS[$p]} contacts)" tests/lib/make-db.sh "${CHILD_DB[$p]}" --schema 5 \
                --child "${VARIANT[$p]}" --contacts "${CONTACTS[$p]}"
        write_producer_conf "$p" >/dev/null
done
write_consumer_conf >/dev/null
echo "  configs: $CS_TEST_TMPDIR/{alpha,beta,consumer}.cfg"

say "3. complete sync of alpha and beta"
master_counts >"$CS_TEST_TMPDIR/counts-0"
sync_all

say "4. what landed in $MASTER"
report_mapping
master_counts >"$CS_TEST_TMPDIR/counts-1"
master_checksums >"$CS_TEST_TMPDIR/checksums-1"

say "5. the same sync again (must change nothing)"
sync_all
master_counts >"$CS_TEST_TMPDIR/counts-2"
master_checksums >"$CS_TEST_TMPDIR/checksums-2"
printf '\n  %-32s %10s %12s %12s\n' table "empty" "after sync" "after again"
printf '  %-32s %10s %12s %12s\n' -------------------------------- ---------- ------------ ------------
LC_ALL=C join -t $'\t' "$CS_TEST_TMPDIR/counts-1" "$CS_TEST_TMPDIR/counts-2" |
        LC_ALL=C join -t $'\t' -a 2 -e 0 -o 0,1.2,2.2,2.3 "$CS_TEST_TMPDIR/counts-0" - |
        while IFS=$'\t' read -r t a b c; do
                mark=""
                if [ "$b" != "$c" ]; then
                        case "$t" in civisync_*) mark="  (consumer bookkeeping)" ;; *) mark="  <-- changed" ;; esac
                fi
                printf '  %-32s %10s %12s %12s%s\n' "$t" "$a" "$b" "$c" "$mark"
        done
tot() { awk -F'\t' '{s += $2} END {print s + 0}' "$1"; }
printf '  %-32s %10s %12s %12s\n' TOTAL "$(tot "$CS_TEST_TMPDIR/counts-0")" \
        "$(tot "$CS_TEST_TMPDIR/counts-1")" "$(tot "$CS_TEST_TMPDIR/counts-2")"
# civisync_* tables are the consumer's own bookkeeping (e.g. one row per replayed generation);
# the CiviCRM tables and the id mappings must not change.
if ! cmp -s <(grep -v '^civisync_' "$CS_TEST_TMPDIR/counts-1") <(grep -v '^civisync_' "$CS_TEST_TMPDIR/counts-2"); then
        fail "idempotent re-sync" "row counts changed (see the table above)"
fi
if ! cmp -s "$CS_TEST_TMPDIR/checksums-1" "$CS_TEST_TMPDIR/checksums-2"; then
        diff "$CS_TEST_TMPDIR/checksums-1" "$CS_TEST_TMPDIR/checksums-2" | sed 's/^/  /' >&2
        fail "idempotent re-sync" "table checksums changed"
fi
echo "  re-sync left the master unchanged (row counts of civicrm_* and mapping tables, CHECKSUM TABLE of every civicrm_* table)"

# --- further steps (incremental runs, resync after child changes) go here ---

say "done"
exit 0
