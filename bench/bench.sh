#!/bin/bash
# bench.sh — `make bench`: times civisync complete/incremental sync against dump-and-load and reports one table + JSON.
#
# Usage: bench/bench.sh [--contacts N] [--small M] [--partitions P|auto] [--kafka auto|yes|no] [--no-pipe] [--keep]
#   --contacts N     size of the large child (default 100000)
#   --small M        size of the small child used for the growth checks (default N/10;
#                    below 20 contacts only one size is run and growth checks print n/a)
#   --partitions P   partitions of the Kafka topics (default auto: enough that the mock
#                    broker's ~5 MB-per-partition log holds the whole complete sync, 8..64)
#   --kafka WHEN     run the Kafka steps (4, 5): auto (default) = only up to 300000 contacts,
#                    above that the mock broker cannot hold a complete sync and only the
#                    file and pipe paths run (make bench N=1000000)
#   --no-pipe        skip step 3b (the pipe path) at every size (a shorter run at 1M)
#   --keep           keep the temp dir (logs, configs, NDJSON files; CS_KEEP_TMP=1)
# Environment: BENCH_LAG (path of the lag helper, default build/bench/civisync-bench-lag,
#              built from bench/lag.c if missing), BENCH_TIMEOUT (seconds to wait for a
#              sync to finish, default 120 + N/40).
#
# What it does, per size (small first, then large), on a throwaway MariaDB + civisync-broker
# started through tests/lib/services.sh and stopped at the end:
#   1. generate the child (tests/lib/make-db.sh, set-based) and time it
#   2. baseline: mariadb-dump --no-create-info --insert-ignore of the 17 phase-1 tables piped
#      into mariadb for an empty copy of the schema (schema + seed), timed
#   3. file transport: civisync-produce --complete --output F, then civisync-consume --input F
#      into an empty master, each under /usr/bin/time (wall, peak RSS, CPU)
#   3b. pipe: civisync-produce --complete --output - | civisync-consume --input - into another
#      empty master (the two overlap, as dump and load do), each under /usr/bin/time; the
#      clock covers the whole pipe
#   4. Kafka: the consumer runs as a daemon (joined before the clock starts), then
#      civisync-produce --complete; the clock stops when the master's civisync_prefix.
#      completed_generation equals the producer's generation AND the group's committed
#      offsets reach the end of every partition (bench/lag.c). A consumer that reports an
#      offset out of range (the mock dropped data) makes the run BROKEN.
#   5. incremental (if the producer supports it): nothing changed, then bench/change-1pct.sql
#      and again; each timed from producer start to zero consumer lag.
#   6. checks: the master's mapping table has as many rows per table as the child has
#      (a mismatch is a FAIL row "master matches child", e.g. documents sent to the dead letter).
# Prints one table (figure, target, baseline, ratio, PASS/FAIL) and writes it as JSON to
# bench/results/<UTC timestamp>.json. Exit status: 0 when every measurement ran (performance
# targets may FAIL), 1 when a run itself broke (a program failed or timed out, the broker
# dropped data) or a correctness check failed (master != child).
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo" || exit 1

N=100000 SMALL="" PARTS=auto KEEP=0 KAFKA=auto PIPE=1
while [ $# -gt 0 ]; do
        case "$1" in
        --contacts) N=${2:-}; shift 2 || break ;;
        --small) SMALL=${2:-}; shift 2 || break ;;
        --partitions) PARTS=${2:-}; shift 2 || break ;;
        --kafka) KAFKA=${2:-}; shift 2 || break ;;
        --keep) KEEP=1; shift ;;
        --no-pipe) PIPE=0; shift ;;
        -h|--help) sed -n '2,37p' "$0"; exit 0 ;;
        *) echo "bench: unknown argument '$1' (see --help)" >&2; exit 2 ;;
        esac
done
[[ "$N" =~ ^[0-9]+$ ]] && [ "$N" -ge 20 ] || { echo "bench: --contacts must be an integer >= 20" >&2; exit 2; }
[ -n "$SMALL" ] || SMALL=$((N / 10))
[[ "$SMALL" =~ ^[0-9]+$ ]] || { echo "bench: --small must be an integer" >&2; exit 2; }
[[ "$PARTS" == auto || "$PARTS" =~ ^[0-9]+$ ]] || { echo "bench: --partitions must be a number or auto" >&2; exit 2; }
[[ "$KAFKA" =~ ^(auto|yes|no)$ ]] || { echo "bench: --kafka must be auto, yes or no" >&2; exit 2; }
# Above this many contacts the mock broker (~5 MB per partition, 64 partitions at most here)
# cannot hold a complete sync: --kafka auto runs the file and pipe paths only.
KAFKA_AUTO_MAX=300000
kafka_for() { [ "$KAFKA" = yes ] || { [ "$KAFKA" = auto ] && [ "$1" -le $KAFKA_AUTO_MAX ]; }; }
SIZES=("$N")
[ "$SMALL" -ge 20 ] && [ "$SMALL" -lt "$N" ] && SIZES=("$SMALL" "$N")
[ "$KEEP" = 1 ] && export CS_KEEP_TMP=1

# shellcheck source=tests/lib/services.sh
. "$repo/tests/lib/services.sh"
MAKEDB="$repo/tests/lib/make-db.sh"
LAG=${BENCH_LAG:-$repo/build/bench/civisync-bench-lag}
TIMEFMT='%e %M %U %S'   # wall s, peak RSS KiB, user s, system s
BROKEN=0
declare -A R   # results: R[<size>.<name>] = value
declare -a BROKEN_WHY=()

# shellcheck source=bench/common.sh
. "$here/common.sh"

for need in mariadb mariadb-dump /usr/bin/time; do
        command -v "$need" >/dev/null 2>&1 || { echo "bench: $need not found (run make deps)" >&2; exit 1; }
done
for p in civisync-produce civisync-consume civisync-broker; do
        [ -x "$repo/bin/$p" ] || { echo "bench: bin/$p missing (run make all)" >&2; exit 1; }
done
if [ ! -x "$LAG" ]; then
        mkdir -p "$(dirname "$LAG")"
        # shellcheck disable=SC2046
        cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wformat=2 $(pkg-config --cflags rdkafka) \
                -o "$LAG" "$here/lag.c" $(pkg-config --libs rdkafka) || { echo "bench: cannot build $LAG" >&2; exit 1; }
fi

# The 17 phase-1 tables (registry order) and the row filters the registry applies.
TABLES=(civicrm_contact civicrm_email civicrm_phone civicrm_address civicrm_im civicrm_website
        civicrm_saved_search civicrm_group civicrm_group_nesting civicrm_group_organization
        civicrm_group_contact civicrm_tag civicrm_relationship civicrm_activity
        civicrm_activity_contact civicrm_entity_tag civicrm_note)
filter_of() {
        case "$1" in
        civicrm_entity_tag) echo "WHERE entity_table IN ('civicrm_contact','civicrm_activity')" ;;
        civicrm_note) echo "WHERE entity_table IN ('civicrm_contact','civicrm_relationship','civicrm_note','civicrm_activity')" ;;
        esac
}

bench_services_start bench
say "services up: MariaDB $CS_TEST_MYSQL_SOCKET, broker $CS_TEST_BROKERS; logs in $LOGS"

# "table<TAB>count" for the 17 tables of DB, with the registry filters.
count_rows() {
        local db=$1 t q=""
        for t in "${TABLES[@]}"; do
                [ -n "$q" ] && q="$q UNION ALL "
                q="$q SELECT '$t', COUNT(*) FROM \`$t\` $(filter_of "$t")"
        done
        cs_sql "$db" -e "$q"
}
sum_col2() { awk -F'\t' '{ s += $2 } END { print s + 0 }'; }


# Compares the child's row counts (17 tables) with the rows of mapping_master_PREFIX in MASTER.
# Prints "ok" or "mismatch: table child/mapped ..." (also logged); a mismatch is a
# correctness FAIL in the table, not a broken run.
check_mapping() {
        local child=$1 master=$2 prefix=$3 what=$4 bad="" t c m
        declare -A mapped=()
        while IFS=$'\t' read -r t m; do mapped[$t]=$m; done < <(cs_sql "$master" -e \
                "SELECT entity_table, COUNT(*) FROM \`mapping_master_$prefix\` GROUP BY entity_table" 2>/dev/null)
        while IFS=$'\t' read -r t c; do
                m=${mapped[$t]:-0}
                if [ "$c" != "$m" ]; then
                        say "$what: $t: child has $c rows, mapping_master_$prefix has $m"
                        bad="$bad ${t#civicrm_} $c/$m"
                fi
        done < <(count_rows "$child")
        if [ -n "$bad" ]; then echo "mismatch (child/mapped):$bad"; else echo ok; fi
}

# Lag of GROUP on TOPIC: prints the number (empty on error).
lag_of() {
        local out; out=$("$LAG" "$CS_TEST_BROKERS" "$1" "$2" 2>&1)
        printf '%s %s\n' "$(date +%T.%N)" "$out" >>"$LOGS/lag.log"
        awk '/^lag / { print $2 }' <<<"$out"
}

CONSUMER_PID="" CONSUMER_TIME_PID=""
consumer_lost_data() { grep -q "no longer on the broker\|OFFSET_OUT_OF_RANGE\|out of range" "$LOGS/$1.err" 2>/dev/null; }

# Starts the consumer daemon NAME with CONF under /usr/bin/time; waits until it owns
# PARTS partitions. Returns 1 if it did not get them within 60 s.
start_consumer() {
        local name=$1 conf=$2 parts=$3 w=0
        /usr/bin/time -f "$TIMEFMT" -o "$LOGS/$name.time" \
                "$repo/bin/civisync-consume" -c "$conf" >"$LOGS/$name.out" 2>"$LOGS/$name.err" &
        CONSUMER_TIME_PID=$!
        while [ $w -lt 600 ]; do
                [ -z "$CONSUMER_PID" ] && CONSUMER_PID=$(pgrep -P "$CONSUMER_TIME_PID" 2>/dev/null | head -n 1)
                if [ "$(grep -c 'assigned .* from offset' "$LOGS/$name.err" 2>/dev/null)" -ge "$parts" ]; then
                        return 0
                fi
                kill -0 "$CONSUMER_TIME_PID" 2>/dev/null || break
                sleep 0.1
                w=$((w + 1))
        done
        say "consumer $name did not get its $parts partitions within 60 s; stderr tail:"
        tail -n 15 "$LOGS/$name.err" >&2
        return 1
}
# Stops the consumer daemon (SIGTERM to the consumer itself, not to time); sets T_* and C_*.
stop_consumer() {
        local name=$1 rc
        [ -n "$CONSUMER_PID" ] && kill -TERM "$CONSUMER_PID" 2>/dev/null
        wait "$CONSUMER_TIME_PID"
        rc=$?
        read -r T_WALL T_RSS_KIB u s < <(tail -n 1 "$LOGS/$name.time")
        T_CPU=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
        CONSUMER_PID="" CONSUMER_TIME_PID=""
        return $rc
}

# Waits until COND_CMD succeeds, the consumer NAME dies or loses data, or the timeout.
# Returns 0 (done), 1 (consumer died / lost data), 2 (timeout).
wait_until() {
        local name=$1 limit=$2; shift 2
        local start=$SECONDS
        while :; do
                "$@" && return 0
                if consumer_lost_data "$name"; then
                        say "consumer $name: offset out of range (the mock broker dropped data the consumer had not read)"
                        return 1
                fi
                if ! kill -0 "$CONSUMER_TIME_PID" 2>/dev/null; then
                        say "consumer $name exited early; stderr tail:"
                        tail -n 15 "$LOGS/$name.err" >&2
                        return 1
                fi
                [ $((SECONDS - start)) -ge "$limit" ] && return 2
                sleep 0.2
        done
}
complete_done() {   # MASTER PREFIX GEN GROUP TOPIC
        local g; g=$(cs_sql "$1" -e "SELECT completed_generation FROM civisync_prefix WHERE prefix = '$2'" 2>/dev/null)
        [ "$g" = "$3" ] || return 1
        [ "$(lag_of "$4" "$5")" = 0 ]
}
lag_zero() { [ "$(lag_of "$1" "$2")" = 0 ]; }

# Incremental runs through the file path (sizes where the Kafka steps are skipped): nothing
# changed, then bench/change-1pct.sql; each is civisync-produce --output F then
# civisync-consume --input F into the file sync's master, timed as the sum of the two.
file_incremental() {   # S CHILD PRODUCER_CONF CONSUMER_CONF PREFIX MASTER
        local S=$1 child=$2 fconf=$3 fcconf=$4 pf=$5 mfile=$6 kind f
        R[$S.incr_status]=ok R[$S.incr_transport]=file
        for kind in none 1pct; do
                if [ "$kind" = 1pct ]; then
                        if ! cs_sql "$child" <"$here/change-1pct.sql" >"$LOGS/change-$S.out" 2>"$LOGS/change-$S.err"; then
                                tail -n 5 "$LOGS/change-$S.err" >&2
                                broken "N=$S: bench/change-1pct.sql failed"
                                return 1
                        fi
                        R[$S.changed_rows]=$(awk '{ s += $1 } END { print s + 0 }' "$LOGS/change-$S.out")
                        say "incremental (file): changed ${R[$S.changed_rows]} rows of 1% of the contacts"
                fi
                f="$CS_TEST_TMPDIR/$pf-incr-$kind.ndjson"
                say "incremental (file, $kind changed)"
                if timed "produce-incr-$kind-$S" "$repo/bin/civisync-produce" -c "$fconf" --output "$f" &&
                        parse_producer "$LOGS/produce-incr-$kind-$S.out"; then
                        local ps=$T_WALL
                        R[$S.incr_${kind}_prod_s]=$T_WALL R[$S.incr_${kind}_prod_rss_kib]=$T_RSS_KIB
                        R[$S.incr_${kind}_msgs]=${P_MSGS:-} R[$S.incr_${kind}_deletes]=${P_DELETES:-}
                        if timed "consume-incr-$kind-$S" "$repo/bin/civisync-consume" -c "$fcconf" --input "$f" --prefix "$pf"; then
                                R[$S.incr_${kind}_s]=$(awk -v a="$ps" -v b="$T_WALL" 'BEGIN { printf "%.2f", a + b }')
                                say "incremental (file, $kind): ${R[$S.incr_${kind}_s]} s (produce $ps s + consume $T_WALL s)"
                        else
                                broken "N=$S: civisync-consume --input (incremental, $kind changed) failed"
                                return 1
                        fi
                else
                        broken "N=$S: civisync-produce --output (incremental, $kind changed) failed"
                        return 1
                fi
                rm -f "$f"
        done
        R[$S.check_incr]=$(check_mapping "$child" "$mfile" "$pf" "N=$S after incremental (file)")
}

# Is the producer's incremental mode available? (today it refuses with "not available")
incremental_available() {
        local conf=$1 out
        out=$("$repo/bin/civisync-produce" -c "$conf" --dry-run 2>&1 >/dev/null)
        local rc=$?
        if [ $rc -eq 2 ] && grep -qi "not available\|--complete" <<<"$out"; then
                return 1
        fi
        return 0
}

bench_size() {
        local S=$1 child="bench_child_$1" base="bench_base_$1" mfile="bench_mfile_$1"
        local mkafka="bench_mkafka_$1" mpipe="bench_mpipe_$1" pf="f$1" pk="k$1" pp="p$1"
        local t0 t1 d0 b0 bp0 rows parts
        say "==== N = $S contacts ===="

        # 1. generate
        say "generating child $child"
        t0=$(now)
        if ! "$MAKEDB" "$child" --schema 5 --child 1 --contacts "$S" --replace \
                >"$LOGS/gen-$S.out" 2>"$LOGS/gen-$S.err"; then
                tail -n 15 "$LOGS/gen-$S.err" >&2
                broken "N=$S: generating the child failed"
                return 1
        fi
        t1=$(now)
        R[$S.gen_s]=$(fsub "$t1" "$t0")
        count_rows "$child" >"$LOGS/child-rows-$S.tsv"
        rows=$(sum_col2 <"$LOGS/child-rows-$S.tsv")
        R[$S.rows]=$rows
        R[$S.root_docs]=$(cs_sql "$child" -e "SELECT (SELECT COUNT(*) FROM civicrm_contact) + (SELECT COUNT(*) FROM civicrm_activity)")
        say "child: $rows rows in 17 tables, generated in ${R[$S.gen_s]} s"

        # 2. baseline: dump-and-load
        "$MAKEDB" "$base" --schema 5 --replace >/dev/null 2>"$LOGS/base-$S.err" || {
                broken "N=$S: creating $base failed"; return 1; }
        say "baseline: mariadb-dump | mariadb"
        d0=$(db_cpu); bp0=$(bp_now); t0=$(now)
        mariadb-dump --no-defaults --socket="$CS_TEST_MYSQL_SOCKET" -u"$CS_TEST_MYSQL_USER" \
                -p"$CS_TEST_MYSQL_PASSWORD" --default-character-set=utf8mb4 --single-transaction \
                --no-create-info --insert-ignore --skip-triggers "$child" "${TABLES[@]}" 2>"$LOGS/dump-$S.err" |
                cs_sql "$base" 2>"$LOGS/load-$S.err"
        local st=("${PIPESTATUS[@]}")
        t1=$(now)
        R[$S.base_s]=$(fsub "$t1" "$t0")
        R[$S.base_db_cpu]=$(fsub "$(db_cpu)" "$d0")
        R[$S.base_bp_hit]=$(bp_rate "$bp0")
        if [ "${st[0]}" != 0 ] || [ "${st[1]}" != 0 ]; then
                cat "$LOGS/dump-$S.err" "$LOGS/load-$S.err" | tail -n 10 >&2
                broken "N=$S: dump-and-load failed (exit ${st[*]})"
        elif ! diff -q <(count_rows "$child") <(count_rows "$base") >/dev/null; then
                broken "N=$S: dump-and-load copy has different row counts"
        fi
        say "baseline: ${R[$S.base_s]} s"

        # 3. file transport
        local fconf fcconf ndjson="$CS_TEST_TMPDIR/$pf.ndjson"
        fconf=$(write_producer_conf "$pf" "$child")
        "$MAKEDB" "$mfile" --schema 5 --replace >/dev/null 2>"$LOGS/mfile-$S.err" || {
                broken "N=$S: creating $mfile failed"; return 1; }
        fcconf=$(write_consumer_conf "$pf" "$mfile" "bench-unused-$pf")
        say "file transport: produce --output"
        d0=$(db_cpu); bp0=$(bp_now)
        if timed "produce-file-$S" "$repo/bin/civisync-produce" -c "$fconf" --complete --output "$ndjson" &&
                parse_producer "$LOGS/produce-file-$S.out"; then
                R[$S.file_prod_s]=$T_WALL R[$S.file_prod_rss_kib]=$T_RSS_KIB R[$S.file_prod_cpu]=$T_CPU
                R[$S.file_msgs]=$P_MSGS R[$S.file_bytes]=$(stat -c %s "$ndjson")
                R[$S.file_prod_db_cpu]=$(fsub "$(db_cpu)" "$d0")
                say "file transport: consume --input"
                d0=$(db_cpu)
                if timed "consume-file-$S" "$repo/bin/civisync-consume" -c "$fcconf" --input "$ndjson" --prefix "$pf" &&
                        parse_consumer "$LOGS/consume-file-$S.out"; then
                        R[$S.file_cons_s]=$T_WALL R[$S.file_cons_rss_kib]=$T_RSS_KIB R[$S.file_cons_cpu]=$T_CPU
                        R[$S.file_cons_rows]=$C_ROWS
                        R[$S.file_cons_db_cpu]=$(fsub "$(db_cpu)" "$d0")
                        R[$S.file_total_s]=$(awk -v a="${R[$S.file_prod_s]}" -v b="$T_WALL" 'BEGIN { printf "%.2f", a + b }')
                        R[$S.file_bp_hit]=$(bp_rate "$bp0")
                        R[$S.check_file]=$(check_mapping "$child" "$mfile" "$pf" "N=$S file transport")
                else
                        broken "N=$S: civisync-consume --input failed"
                fi
        else
                broken "N=$S: civisync-produce --output failed"
        fi
        rm -f "$ndjson"

        # 3b. pipe: produce --output - | consume --input -, overlapped
        local pconf pcconf
        if [ "$PIPE" = 0 ]; then
                say "pipe: skipped (--no-pipe)"
                R[$S.pipe_status]="skipped (--no-pipe)"
        else
        pconf=$(write_producer_conf "$pp" "$child")
        "$MAKEDB" "$mpipe" --schema 5 --replace >/dev/null 2>"$LOGS/mpipe-$S.err" || {
                broken "N=$S: creating $mpipe failed"; return 1; }
        pcconf=$(write_consumer_conf "$pp" "$mpipe" "bench-unused-$pp")
        say "pipe: produce --output - | consume --input -"
        d0=$(db_cpu); bp0=$(bp_now); t0=$(now)
        /usr/bin/time -f "$TIMEFMT" -o "$LOGS/produce-pipe-$S.time" \
                "$repo/bin/civisync-produce" -c "$pconf" --complete --output - 2>"$LOGS/produce-pipe-$S.err" |
                /usr/bin/time -f "$TIMEFMT" -o "$LOGS/consume-pipe-$S.time" \
                "$repo/bin/civisync-consume" -c "$pcconf" --input - --prefix "$pp" \
                >"$LOGS/consume-pipe-$S.out" 2>"$LOGS/consume-pipe-$S.err"
        local pst=("${PIPESTATUS[@]}")
        t1=$(now)
        if [ "${pst[0]}" = 0 ] && [ "${pst[1]}" = 0 ] && parse_producer "$LOGS/produce-pipe-$S.err" &&
                parse_consumer "$LOGS/consume-pipe-$S.out"; then
                local u sy
                R[$S.pipe_total_s]=$(fsub "$t1" "$t0")
                R[$S.pipe_db_cpu]=$(fsub "$(db_cpu)" "$d0")
                R[$S.pipe_bp_hit]=$(bp_rate "$bp0")
                read -r R[$S.pipe_prod_s] R[$S.pipe_prod_rss_kib] u sy < <(tail -n 1 "$LOGS/produce-pipe-$S.time")
                R[$S.pipe_prod_cpu]=$(awk -v u="$u" -v s="$sy" 'BEGIN { printf "%.2f", u + s }')
                read -r R[$S.pipe_cons_s] R[$S.pipe_cons_rss_kib] u sy < <(tail -n 1 "$LOGS/consume-pipe-$S.time")
                R[$S.pipe_cons_cpu]=$(awk -v u="$u" -v s="$sy" 'BEGIN { printf "%.2f", u + s }')
                R[$S.pipe_msgs]=$P_MSGS R[$S.pipe_cons_rows]=$C_ROWS
                R[$S.check_pipe]=$(check_mapping "$child" "$mpipe" "$pp" "N=$S pipe")
                say "pipe: ${R[$S.pipe_total_s]} s"
        else
                say "pipe failed (exit ${pst[*]}); stderr tails:"
                tail -n 5 "$LOGS/produce-pipe-$S.err" "$LOGS/consume-pipe-$S.err" >&2
                broken "N=$S: civisync-produce --output - | civisync-consume --input - failed (exit ${pst[*]})"
        fi
        cs_sql -e "DROP DATABASE IF EXISTS \`$mpipe\`" 2>/dev/null
        fi
        if ! kafka_for "$S"; then
                say "kafka: skipped at N=$S (--kafka $KAFKA; the mock broker holds ~5 MB per partition)"
                R[$S.kafka_status]="skipped (--kafka $KAFKA$([ "$KAFKA" = auto ] && echo ": N > $KAFKA_AUTO_MAX"))"
                if [ -n "${R[$S.check_file]:-}" ]; then
                        file_incremental "$S" "$child" "$fconf" "$fcconf" "$pf" "$mfile"
                else
                        R[$S.incr_status]="not run (Kafka skipped, file sync broke)"
                fi
                cs_sql -e "DROP DATABASE IF EXISTS \`$base\`; DROP DATABASE IF EXISTS \`$mfile\`" 2>/dev/null
                return 0
        fi

        # 4. Kafka, complete sync, producer and consumer concurrently
        parts=$PARTS
        if [ "$parts" = auto ]; then
                # The mock keeps ~5 MB per partition; size the topics so that the largest
                # complete sync of this run fits at 2.5 MB per partition even if the consumer
                # has read nothing (the NDJSON size, scaled to the largest N, is an upper
                # bound: lz4 makes the stored batches smaller). Decided once, on the first
                # size, and used for every size so that their times compare.
                if [ -z "${AUTO_PARTS:-}" ]; then
                        local bytes=${R[$S.file_bytes]:-$((S * 6000))}
                        bytes=$(awk -v b="$bytes" -v s="$S" -v n="$N" 'BEGIN { printf "%d", b / s * n }')
                        AUTO_PARTS=$(( (bytes + 2500000 - 1) / 2500000 ))
                        [ "$AUTO_PARTS" -lt 8 ] && AUTO_PARTS=8
                        [ "$AUTO_PARTS" -gt 64 ] && AUTO_PARTS=64
                fi
                parts=$AUTO_PARTS
        fi
        R[$S.partitions]=$parts
        local topic="civisync.$pk" group="bench-$pk-$$" kconf kcconf
        cs_broker_ctl "topic $topic:$parts" || { broken "N=$S: cannot create topic $topic"; return 1; }
        kconf=$(write_producer_conf "$pk" "$child")
        "$MAKEDB" "$mkafka" --schema 5 --replace >/dev/null 2>"$LOGS/mkafka-$S.err" || {
                broken "N=$S: creating $mkafka failed"; return 1; }
        kcconf=$(write_consumer_conf "$pk" "$mkafka" "$group")
        say "kafka: starting the consumer daemon ($parts partitions)"
        if ! start_consumer "consume-kafka-$S" "$kcconf" "$parts"; then
                broken "N=$S: the Kafka consumer did not start"
                stop_consumer "consume-kafka-$S"
                return 1
        fi
        say "kafka: civisync-produce --complete"
        local limit=${BENCH_TIMEOUT:-$((120 + S / 40))}
        d0=$(db_cpu); b0=$(broker_cpu); bp0=$(bp_now); t0=$(now)
        if timed "produce-kafka-$S" "$repo/bin/civisync-produce" -c "$kconf" --complete &&
                parse_producer "$LOGS/produce-kafka-$S.out"; then
                R[$S.kafka_prod_s]=$T_WALL R[$S.kafka_prod_rss_kib]=$T_RSS_KIB R[$S.kafka_prod_cpu]=$T_CPU
                R[$S.kafka_msgs]=$P_MSGS R[$S.kafka_bytes]=$P_BYTES R[$S.kafka_docs_rows]=$P_UPSERTS
                producer_counts "$LOGS/produce-kafka-$S.out" >"$LOGS/produced-$S.tsv"
                say "kafka: producer done in $T_WALL s; waiting for the master (timeout $limit s)"
                wait_until "consume-kafka-$S" "$limit" complete_done "$mkafka" "$pk" "$P_GEN" "$group" "$topic"
                case $? in
                0) t1=$(now)
                   R[$S.kafka_e2e_s]=$(fsub "$t1" "$t0")
                   R[$S.kafka_db_cpu]=$(fsub "$(db_cpu)" "$d0")
                   R[$S.kafka_broker_cpu]=$(fsub "$(broker_cpu)" "$b0")
                   R[$S.kafka_bp_hit]=$(bp_rate "$bp0")
                   say "kafka: complete sync end to end ${R[$S.kafka_e2e_s]} s"
                   R[$S.check_kafka]=$(check_mapping "$child" "$mkafka" "$pk" "N=$S kafka") ;;
                1) if consumer_lost_data "consume-kafka-$S"; then
                           R[$S.kafka_data_lost]=1
                           broken "N=$S: Kafka complete sync lost data (offset out of range: the consumer fell more than the mock's ~5 MB per partition behind; try --partitions $((parts * 2)))"
                   else
                           broken "N=$S: the Kafka consumer exited during the complete sync"
                   fi ;;
                2) broken "N=$S: Kafka complete sync did not finish within $limit s (lag $(lag_of "$group" "$topic"))" ;;
                esac
        else
                broken "N=$S: civisync-produce --complete (Kafka) failed"
        fi

        # 5. incremental
        if [ -z "${R[$S.kafka_e2e_s]:-}" ]; then
                R[$S.incr_status]="not run (complete sync broke)"
        elif ! incremental_available "$kconf"; then
                R[$S.incr_status]="n/a (incremental mode not available)"
                say "incremental: n/a (the producer has no incremental mode yet)"
        else
                R[$S.incr_status]=ok
                local kind
                for kind in none 1pct; do
                        if [ "$kind" = 1pct ]; then
                                if ! cs_sql "$child" <"$here/change-1pct.sql" >"$LOGS/change-$S.out" 2>"$LOGS/change-$S.err"; then
                                        tail -n 5 "$LOGS/change-$S.err" >&2
                                        broken "N=$S: bench/change-1pct.sql failed"
                                        break
                                fi
                                R[$S.changed_rows]=$(awk '{ s += $1 } END { print s + 0 }' "$LOGS/change-$S.out")
                                say "incremental: changed ${R[$S.changed_rows]} rows of 1% of the contacts"
                        fi
                        say "incremental ($kind changed)"
                        d0=$(db_cpu); t0=$(now)
                        if timed "produce-incr-$kind-$S" "$repo/bin/civisync-produce" -c "$kconf"; then
                                parse_producer "$LOGS/produce-incr-$kind-$S.out" || true
                                R[$S.incr_${kind}_prod_s]=$T_WALL
                                R[$S.incr_${kind}_prod_rss_kib]=$T_RSS_KIB
                                R[$S.incr_${kind}_msgs]=${P_MSGS:-}
                                R[$S.incr_${kind}_deletes]=${P_DELETES:-}
                                [ "${R[$S.kafka_prod_rss_kib]:-0}" -lt "$T_RSS_KIB" ] && R[$S.kafka_prod_rss_kib]=$T_RSS_KIB
                                wait_until "consume-kafka-$S" "$limit" lag_zero "$group" "$topic"
                                case $? in
                                0) t1=$(now)
                                   R[$S.incr_${kind}_s]=$(fsub "$t1" "$t0")
                                   R[$S.incr_${kind}_db_cpu]=$(fsub "$(db_cpu)" "$d0")
                                   say "incremental ($kind): ${R[$S.incr_${kind}_s]} s end to end" ;;
                                1) broken "N=$S: incremental ($kind): the consumer lost data or exited" ;;
                                2) broken "N=$S: incremental ($kind) did not drain within $limit s" ;;
                                esac
                        else
                                broken "N=$S: civisync-produce (incremental, $kind changed) failed"
                                break
                        fi
                done
                if [ -n "${R[$S.incr_1pct_s]:-}" ]; then
                        R[$S.check_incr]=$(check_mapping "$child" "$mkafka" "$pk" "N=$S after incremental")
                fi
        fi

        # stop the consumer daemon: its peak RSS covers complete + incremental
        stop_consumer "consume-kafka-$S"
        local crc=$?
        R[$S.kafka_cons_rss_kib]=$T_RSS_KIB R[$S.kafka_cons_cpu]=$T_CPU
        if parse_consumer "$LOGS/consume-kafka-$S.out"; then
                R[$S.kafka_cons_rows]=$C_ROWS R[$S.kafka_cons_rejected]=$C_REJECTED R[$S.kafka_cons_deleted]=$C_DELETED
        fi
        if [ $crc -ne 0 ] && [ "${R[$S.kafka_data_lost]:-0}" != 1 ]; then
                say "consumer exit status $crc; stderr tail:"; tail -n 10 "$LOGS/consume-kafka-$S.err" >&2
                broken "N=$S: the Kafka consumer exited with status $crc"
        fi
        # free the disk space of this size's databases
        cs_sql -e "DROP DATABASE IF EXISTS \`$base\`; DROP DATABASE IF EXISTS \`$mfile\`" 2>/dev/null
        return 0
}

START_ISO=$(date -u +%Y-%m-%dT%H:%M:%SZ)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
BENCH_T0=$SECONDS
for S in "${SIZES[@]}"; do
        bench_size "$S"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- the table
declare -a F_NAME F_MEAS F_TARGET F_BASE F_RATIO F_RESULT F_KEY F_VALUE F_UNIT
RSS_LIMIT_MIB=64

for S in "${SIZES[@]}"; do
        k="n${S}"
        v=${R[$S.gen_s]:-}
        row "$k.generate_s" "N=$S generate child (${R[$S.rows]:-?} rows)" "$v" s "${v:+$(fmt "$v") s}" "-" "-" "-" info
        b=${R[$S.base_s]:-}
        row "$k.dump_load_s" "N=$S dump-and-load baseline" "$b" s \
                "${b:+$(fmt "$b") s, $(fmt "$(fdiv "${R[$S.rows]:-0}" "$b")" 0) rows/s}" "-" "-" "-" info
        # complete, Kafka
        v=${R[$S.kafka_e2e_s]:-}
        if [ -n "$v" ] && [ -n "$b" ]; then
                r=$(fdiv "$v" "$b")
                row "$k.complete_kafka_s" "N=$S complete sync, Kafka, end to end" "$v" s \
                        "$(fmt "$v") s, $(fmt "$(fdiv "${R[$S.rows]}" "$v")" 0) rows/s" \
                        "<= 2.0 x baseline" "$(fmt "$b") s" "$(fmt "$r") x" "$(passfail "$r" 2.0)"
        elif [ -n "${R[$S.kafka_status]:-}" ]; then
                row "$k.complete_kafka_s" "N=$S complete sync, Kafka, end to end" "" s \
                        "${R[$S.kafka_status]}" "<= 2.0 x baseline" "${b:+$(fmt "$b") s}" "-" n/a
        else
                row "$k.complete_kafka_s" "N=$S complete sync, Kafka, end to end" "" s \
                        "$([ "${R[$S.kafka_data_lost]:-0}" = 1 ] && echo "DATA LOST (offset out of range)" || echo "n/a (run broke)")" \
                        "<= 2.0 x baseline" "${b:+$(fmt "$b") s}" "-" BROKEN
        fi
        v=${R[$S.kafka_prod_s]:-}
        row "$k.producer_docs_per_s" "N=$S   producer (Kafka)" "$(fdiv "${R[$S.kafka_msgs]:-0}" "${v:-0}")" docs/s \
                "${v:+$(fmt "$(fdiv "${R[$S.kafka_msgs]}" "$v")" 0) docs/s ($(fmt "$(fdiv "${R[$S.kafka_docs_rows]}" "$v")" 0) rows/s, $(fmt "$v") s, cpu ${R[$S.kafka_prod_cpu]} s)}" \
                "-" "-" "-" info
        # rows/s over the complete sync only: the rows of the complete sync's documents
        # (all applied: see "master matches child") / end-to-end time. The consumer's own
        # totals (upserts, rejected, CPU) cover its whole life, incremental runs included.
        v=${R[$S.kafka_e2e_s]:-}
        row "$k.consumer_rows_per_s" "N=$S   consumer (Kafka)" "$(fdiv "${R[$S.kafka_docs_rows]:-0}" "${v:-0}")" rows/s \
                "${v:+$(fmt "$(fdiv "${R[$S.kafka_docs_rows]:-0}" "$v")" 0) rows/s (cpu ${R[$S.kafka_cons_cpu]:-?} s, mariadbd ${R[$S.kafka_db_cpu]:-?} s; ${R[$S.kafka_cons_rejected]:-?} rejected in all)}" \
                "-" "-" "-" info
        # complete, file
        v=${R[$S.file_total_s]:-}
        if [ -n "$v" ] && [ -n "$b" ]; then
                r=$(fdiv "$v" "$b")
                row "$k.complete_file_s" "N=$S complete sync, file (produce + consume)" "$v" s \
                        "$(fmt "$v") s (produce $(fmt "${R[$S.file_prod_s]}") s = $(fmt "$(fdiv "${R[$S.file_msgs]}" "${R[$S.file_prod_s]}")" 0) docs/s; consume $(fmt "${R[$S.file_cons_s]}") s = $(fmt "$(fdiv "${R[$S.file_cons_rows]}" "${R[$S.file_cons_s]}")" 0) rows/s)" \
                        "<= 2.0 x baseline" "$(fmt "$b") s" "$(fmt "$r") x" "$(passfail "$r" 2.0)"
        else
                row "$k.complete_file_s" "N=$S complete sync, file (produce + consume)" "" s "n/a (run broke)" \
                        "<= 2.0 x baseline" "${b:+$(fmt "$b") s}" "-" BROKEN
        fi
        # complete, pipe (producer and consumer overlapped)
        v=${R[$S.pipe_total_s]:-}
        if [ -n "$v" ] && [ -n "$b" ]; then
                r=$(fdiv "$v" "$b")
                row "$k.complete_pipe_s" "N=$S complete sync, pipe (produce | consume)" "$v" s \
                        "$(fmt "$v") s, $(fmt "$(fdiv "${R[$S.rows]}" "$v")" 0) rows/s (cpu: produce ${R[$S.pipe_prod_cpu]} s, consume ${R[$S.pipe_cons_cpu]} s, mariadbd ${R[$S.pipe_db_cpu]} s)" \
                        "<= 2.0 x baseline" "$(fmt "$b") s" "$(fmt "$r") x" "$(passfail "$r" 2.0)"
        elif [ -n "${R[$S.pipe_status]:-}" ]; then
                row "$k.complete_pipe_s" "N=$S complete sync, pipe (produce | consume)" "" s "${R[$S.pipe_status]}" \
                        "<= 2.0 x baseline" "${b:+$(fmt "$b") s}" "-" n/a
        else
                row "$k.complete_pipe_s" "N=$S complete sync, pipe (produce | consume)" "" s "n/a (run broke)" \
                        "<= 2.0 x baseline" "${b:+$(fmt "$b") s}" "-" BROKEN
        fi
        # mariadbd's buffer pool: logical reads served from memory, per step
        bp=""
        for m in base:dump-and-load file:file pipe:pipe kafka:Kafka; do
                v=${R[$S.${m%%:*}_bp_hit]:-}
                [ -n "$v" ] && bp="$bp${bp:+, }${m#*:} $v %"
        done
        row "$k.buffer_pool_hit" "N=$S mariadbd buffer-pool hit rate" "${R[$S.pipe_bp_hit]:-}" % \
                "${bp:-n/a}" "-" "-" "-" info
        # incremental (through Kafka; through the file path where the Kafka steps are skipped,
        # compared then with the file path's complete sync). Nothing changed: <= 2 s up to
        # 100k contacts, <= 10 s above (issue #19 sets 10 s at 1M).
        c=${R[$S.kafka_e2e_s]:-} none_max=2
        [ "$S" -gt 100000 ] && none_max=10
        if [ "${R[$S.incr_transport]:-}" = file ]; then
                c=${R[$S.file_total_s]:-}
        fi
        if [ "${R[$S.incr_status]:-}" = ok ]; then
                v=${R[$S.incr_1pct_s]:-}
                if [ -n "$v" ]; then
                        r=$(fdiv "$v" "$c")
                        row "$k.incremental_1pct_s" "N=$S incremental, 1% changed (${R[$S.changed_rows]:-?} rows${R[$S.incr_transport]:+, ${R[$S.incr_transport]}})" "$v" s \
                                "$(fmt "$v") s (${R[$S.incr_1pct_msgs]:-?} docs)" "<= 10% of complete" "$(fmt "$c") s" \
                                "$(fmt "$(awk -v r="$r" 'BEGIN { print r * 100 }')" 1) %" "$(passfail "$r" 0.10)"
                else
                        row "$k.incremental_1pct_s" "N=$S incremental, 1% changed" "" s "n/a (run broke)" "<= 10% of complete" "${c:+$(fmt "$c") s}" "-" BROKEN
                fi
                v=${R[$S.incr_none_s]:-}
                if [ -n "$v" ]; then
                        row "$k.incremental_none_s" "N=$S incremental, nothing changed${R[$S.incr_transport]:+ (${R[$S.incr_transport]})}" "$v" s \
                                "$(fmt "$v") s (${R[$S.incr_none_msgs]:-?} docs)" "<= $none_max s" "-" "-" "$(passfail "$v" "$none_max")"
                else
                        row "$k.incremental_none_s" "N=$S incremental, nothing changed" "" s "n/a (run broke)" "<= $none_max s" "-" "-" BROKEN
                fi
        else
                ist=${R[$S.incr_status]:-not run}
                row "$k.incremental_1pct_s" "N=$S incremental, 1% changed" "" s "$ist" "<= 10% of complete" "${c:+$(fmt "$c") s}" "-" "n/a"
                row "$k.incremental_none_s" "N=$S incremental, nothing changed" "" s "$ist" "<= $none_max s" "-" "-" "n/a"
        fi
        # correctness: every child row has a master row (mapping counts per table)
        for chk in kafka:"Kafka complete" file:"file complete" pipe:"pipe complete" incr:"after incremental"; do
                ck=${chk%%:*} cl=${chk#*:} cv=${R[$S.check_${ck}]:-}
                if [ -z "$cv" ]; then
                        row "$k.master_matches_child_$ck" "N=$S master = child, $cl" "" "" "n/a (not run)" \
                                "mapped rows = child rows" "-" "-" "n/a"
                else
                        row "$k.master_matches_child_$ck" "N=$S master = child, $cl" "$([ "$cv" = ok ] && echo 1 || echo 0)" "" \
                                "$cv" "mapped rows = child rows" "-" "-" "$([ "$cv" = ok ] && echo PASS || echo FAIL)"
                fi
        done
        # memory
        for prog in prod cons; do
                name=$([ $prog = prod ] && echo producer || echo consumer)
                for mode in kafka file pipe; do
                        kib=${R[$S.${mode}_${prog}_rss_kib]:-}
                        if [ -z "$kib" ] && [ $mode = kafka ] && [ -n "${R[$S.kafka_status]:-}" ]; then
                                row "$k.${name}_rss_${mode}_mib" "N=$S $name peak RSS ($mode)" "" MiB "${R[$S.kafka_status]}" "<= $RSS_LIMIT_MIB MiB" "-" "-" n/a
                        elif [ -z "$kib" ] && [ $mode = pipe ] && [ -n "${R[$S.pipe_status]:-}" ]; then
                                row "$k.${name}_rss_${mode}_mib" "N=$S $name peak RSS ($mode)" "" MiB "${R[$S.pipe_status]}" "<= $RSS_LIMIT_MIB MiB" "-" "-" n/a
                        elif [ -n "$kib" ]; then
                                row "$k.${name}_rss_${mode}_mib" "N=$S $name peak RSS ($mode)" "$(mib "$kib")" MiB \
                                        "$(mib "$kib") MiB" "<= $RSS_LIMIT_MIB MiB" "-" "-" "$(passfail "$(mib "$kib")" $RSS_LIMIT_MIB)"
                        else
                                row "$k.${name}_rss_${mode}_mib" "N=$S $name peak RSS ($mode)" "" MiB "n/a (run broke)" "<= $RSS_LIMIT_MIB MiB" "-" "-" BROKEN
                        fi
                done
        done
done

# growth between the two sizes
if [ ${#SIZES[@]} = 2 ]; then
        s=${SIZES[0]} l=${SIZES[1]}
        f=$(fdiv "$l" "$s")
        for what in kafka_e2e_s:"complete, Kafka, time" file_total_s:"complete, file, time" pipe_total_s:"complete, pipe, time" base_s:"dump-and-load time"; do
                key=${what%%:*} label=${what#*:}
                a=${R[$s.$key]:-} z=${R[$l.$key]:-}
                if [ "$key" = kafka_e2e_s ] && [ -n "${R[$l.kafka_status]:-}${R[$s.kafka_status]:-}" ]; then
                        row "growth.$key" "growth $l/$s: $label" "" x "n/a (Kafka skipped)" "<= $(fmt "$f" 0) x" "-" "-" n/a
                elif [ "$key" = pipe_total_s ] && [ "$PIPE" = 0 ]; then
                        row "growth.$key" "growth $l/$s: $label" "" x "n/a (--no-pipe)" "<= $(fmt "$f" 0) x" "-" "-" n/a
                elif [ -n "$a" ] && [ -n "$z" ]; then
                        r=$(fdiv "$z" "$a")
                        res=$([ "$key" = base_s ] && echo info || passfail "$r" "$f")
                        row "growth.$key" "growth $l/$s: $label" "$r" x "$(fmt "$r") x ($(fmt "$z") s / $(fmt "$a") s)" \
                                "$([ "$key" = base_s ] && echo "-" || echo "<= $(fmt "$f" 0) x")" "-" "$(fmt "$r") x" "$res"
                else
                        row "growth.$key" "growth $l/$s: $label" "" x "n/a (run broke)" "<= $(fmt "$f" 0) x" "-" "-" BROKEN
                fi
        done
        # RSS: "the same within noise" = at most +10% or +4 MiB, whichever is larger
        for prog in prod cons; do
                name=$([ $prog = prod ] && echo producer || echo consumer)
                for mode in kafka file pipe; do
                        a=${R[$s.${mode}_${prog}_rss_kib]:-} z=${R[$l.${mode}_${prog}_rss_kib]:-}
                        if [ $mode = kafka ] && [ -n "${R[$l.kafka_status]:-}${R[$s.kafka_status]:-}" ]; then
                                row "growth.${name}_rss_${mode}" "growth $l/$s: $name RSS ($mode)" "" x "n/a (Kafka skipped)" \
                                        "same within noise" "-" "-" n/a
                        elif [ $mode = pipe ] && [ "$PIPE" = 0 ]; then
                                row "growth.${name}_rss_${mode}" "growth $l/$s: $name RSS ($mode)" "" x "n/a (--no-pipe)" \
                                        "same within noise" "-" "-" n/a
                        elif [ -n "$a" ] && [ -n "$z" ]; then
                                allowed=$(awk -v a="$a" 'BEGIN { x = a * 0.10; if (x < 4096) x = 4096; printf "%d", a + x }')
                                row "growth.${name}_rss_${mode}" "growth $l/$s: $name RSS ($mode)" "$(fdiv "$z" "$a")" x \
                                        "$(mib "$z") MiB vs $(mib "$a") MiB" "same within noise (<= +10% or +4 MiB)" "$(mib "$a") MiB" \
                                        "$(fmt "$(fdiv "$z" "$a")") x" "$(passfail "$z" "$allowed")"
                        else
                                row "growth.${name}_rss_${mode}" "growth $l/$s: $name RSS ($mode)" "" x "n/a (run broke)" \
                                        "same within noise" "-" "-" BROKEN
                        fi
                done
        done
else
        row "growth" "growth checks" "" "" "n/a (only one size run; use --contacts >= 200)" "-" "-" "-" "n/a"
fi

COMMIT=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$([ -n "$(git -C "$repo" status --porcelain -- producer consumer shared 2>/dev/null)" ] && echo "+uncommitted changes" || echo "")
{
        echo
        echo "civisync benchmark $START_ISO  commit $COMMIT$DIRTY  sizes ${SIZES[*]} contacts  partitions $(for S in "${SIZES[@]}"; do printf '%s ' "${R[$S.partitions]:-?}"; done)"
        echo "host $(hostname) $(nproc) CPUs, load $LOAD_BEFORE before / $LOAD_AFTER after; total bench time $((SECONDS - BENCH_T0)) s"
        echo
        print_figures
} | tee "$LOGS/table.txt"

# ---------------------------------------------------------------- JSON
mkdir -p "$here/results"
bench_finish "$here/results/$STAMP.json" civisync-bench-1 "  \"sizes\": [$(IFS=,; echo "${SIZES[*]}")],\n"
