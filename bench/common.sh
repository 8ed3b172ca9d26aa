# common.sh — helpers shared by bench/bench.sh and bench/contribute.sh (source it; no side effects).
# shellcheck shell=bash disable=SC2034  # the T_* P_* C_* results are read by the sourcing script
#
# Globals the functions read at call time: LOGS (log dir), TIMEFMT (/usr/bin/time format),
# CLK_TCK, repo, the CS_TEST_* environment of tests/lib/services.sh; broken() appends to
# BROKEN / BROKEN_WHY; row() appends to the F_* arrays (one figure of the results table).

say() { printf 'bench: %s\n' "$*" >&2; }
broken() { BROKEN=1; BROKEN_WHY+=("$*"); say "BROKEN: $*"; }
now() { date +%s.%N; }
fsub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
fdiv() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print ""; else printf "%.3f", a / b }'; }
fmt() { awk -v a="$1" -v d="${2:-2}" 'BEGIN { printf "%." d "f", a }'; }

# CPU seconds (user+system) used so far by PID (0 if gone).
cpu_of() {
        awk -v t="$CLK_TCK" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat" 2>/dev/null || echo 0
}
db_cpu() { cpu_of "${_CS_MARIADBD_PID:-0}"; }
# "read_requests reads" of mariadbd's InnoDB buffer pool so far (global counters).
bp_now() {
        cs_sql -e "SHOW GLOBAL STATUS WHERE Variable_name IN ('Innodb_buffer_pool_read_requests', 'Innodb_buffer_pool_reads')" 2>/dev/null |
                awk -F'\t' '$1 == "Innodb_buffer_pool_read_requests" { q = $2 } $1 == "Innodb_buffer_pool_reads" { r = $2 } END { print q + 0, r + 0 }'
}
# bp_rate "REQ0 READS0": the hit rate in % since that bp_now (logical reads not served
# from disk), e.g. 99.87; empty when there were no reads.
bp_rate() {
        local q0 r0 q1 r1
        read -r q0 r0 <<<"$1"; read -r q1 r1 < <(bp_now)
        awk -v q="$((q1 - q0))" -v r="$((r1 - r0))" 'BEGIN { if (q > 0) printf "%.2f", 100 * (1 - r / q) }'
}
broker_cpu() { cpu_of "${_CS_BROKER_PID:-0}"; }

# timed NAME CMD...: runs CMD with stdout/stderr in $LOGS/NAME.{out,err} under /usr/bin/time;
# sets T_WALL T_RSS_KIB T_CPU and returns CMD's exit status.
timed() {
        local name=$1; shift
        /usr/bin/time -f "$TIMEFMT" -o "$LOGS/$name.time" "$@" >"$LOGS/$name.out" 2>"$LOGS/$name.err"
        local rc=$?
        read -r T_WALL T_RSS_KIB u s < <(tail -n 1 "$LOGS/$name.time")
        T_CPU=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
        if [ $rc -ne 0 ]; then
                say "$name failed (exit $rc); stderr tail:"
                tail -n 15 "$LOGS/$name.err" >&2
        fi
        return $rc
}

write_producer_conf() {   # PREFIX DB -> path
        local p=$1 db=$2 f="$CS_TEST_TMPDIR/produce-$1.cfg"
        mkdir -p "$CS_TEST_TMPDIR/state-$p"
        cat >"$f" <<EOF
# bench producer config for child $db (written by bench/$(basename "$0"))
prefix = "$p";
state_dir = "$CS_TEST_TMPDIR/state-$p";
child = {
        socket = "$CS_TEST_MYSQL_SOCKET";
        user = "$CS_TEST_MYSQL_USER";
        password = "$CS_TEST_MYSQL_PASSWORD";
        database = "$db";
};
kafka = {
        brokers = "$CS_TEST_BROKERS";
        topic_prefix = "civisync.";
        properties = (
                ("compression.type", "lz4"),
                ("client.id", "civisync-bench-produce-$p")
        );
};
EOF
        echo "$f"
}

write_consumer_conf() {   # PREFIX DB GROUP -> path
        local p=$1 db=$2 g=$3 f="$CS_TEST_TMPDIR/consume-$1.cfg"
        cat >"$f" <<EOF
# bench consumer config for master $db (written by bench/$(basename "$0"))
prefixes = [ "$p" ];
master = {
        socket = "$CS_TEST_MYSQL_SOCKET";
        user = "$CS_TEST_MYSQL_USER";
        password = "$CS_TEST_MYSQL_PASSWORD";
        database = "$db";
};
kafka = {
        brokers = "$CS_TEST_BROKERS";
        group = "$g";
        topic_prefix = "civisync.";
        dead_letter_topic = "civisync.bench-dead-letter";
        properties = (
                ("client.id", "civisync-bench-consume-$p"),
                ("session.timeout.ms", "6000")
        );
};
EOF
        echo "$f"
}

# Parses the producer summary line in FILE: sets P_GEN P_MSGS P_BYTES P_UPSERTS P_DELETES.
parse_producer() {
        local line; line=$(grep '^civisync-produce: prefix' "$1" | tail -n 1)
        P_GEN=$(sed -n 's/.* generation \([0-9]*\):.*/\1/p' <<<"$line")
        P_MSGS=$(sed -n 's/.*; \([0-9]*\) messages, .*/\1/p' <<<"$line")
        P_BYTES=$(sed -n 's/.* messages, \([0-9]*\) bytes, .*/\1/p' <<<"$line")
        local pairs; pairs=$(sed -n 's/.* generation [0-9]*:\(.*\) (upserts\/deletes).*/\1/p' <<<"$line")
        P_UPSERTS=$(tr ',' '\n' <<<"$pairs" | awk '{ split($2, a, "/"); s += a[1] } END { print s + 0 }')
        P_DELETES=$(tr ',' '\n' <<<"$pairs" | awk '{ split($2, a, "/"); s += a[2] } END { print s + 0 }')
        [ -n "$line" ] && [ -n "$P_GEN" ] && [ -n "$P_MSGS" ]
}
# "entity<TAB>upserts" from the producer summary line in FILE.
producer_counts() {
        grep '^civisync-produce: prefix' "$1" | tail -n 1 |
                sed -n 's/.* generation [0-9]*:\(.*\) (upserts\/deletes).*/\1/p' | tr ',' '\n' |
                awk 'NF == 2 { split($2, a, "/"); printf "civicrm_%s\t%s\n", $1, a[1] }'
}
# Parses the consumer summary line in FILE: sets C_DOCS C_ROWS C_DELETED C_REJECTED.
parse_consumer() {
        local line; line=$(grep '^civisync-consume: ' "$1" | tail -n 1)
        C_DOCS=$(sed -n 's/^civisync-consume: \([0-9]*\) documents.*/\1/p' <<<"$line")
        C_ROWS=$(sed -n 's/.* \([0-9]*\) rows upserted.*/\1/p' <<<"$line")
        C_DELETED=$(sed -n 's/.* \([0-9]*\) rows deleted.*/\1/p' <<<"$line")
        C_REJECTED=$(sed -n 's/.* \([0-9]*\) rejected.*/\1/p' <<<"$line")
        [ -n "$C_DOCS" ] && [ -n "$C_ROWS" ]
}

row() {   # key name value unit measured-text target baseline ratio result
        F_KEY+=("$1"); F_NAME+=("$2"); F_VALUE+=("$3"); F_UNIT+=("$4"); F_MEAS+=("$5")
        F_TARGET+=("$6"); F_BASE+=("$7"); F_RATIO+=("$8"); F_RESULT+=("$9")
}
passfail() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 <= b + 0) ? "PASS" : "FAIL" }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

jstr() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\t'/ }; printf '"%s"' "$s"; }
jnum() { if [[ "$1" =~ ^-?[0-9]+(\.[0-9]+)?$ ]]; then printf '%s' "$1"; else printf 'null'; fi; }

# Prints the F_* figures as the results table, the PASS/FAIL count and the BROKEN reasons.
print_figures() {
        local w i x npass nfail
        w=48
        printf "%-${w}s %-62s %-24s %-12s %-10s %s\n" figure measured target baseline ratio result
        printf "%-${w}s %-62s %-24s %-12s %-10s %s\n" "$(printf '%*s' $w '' | tr ' ' -)" "$(printf '%62s' '' | tr ' ' -)" \
                "------------------------" "------------" "----------" "------"
        for i in "${!F_NAME[@]}"; do
                printf "%-${w}s %-62s %-24s %-12s %-10s %s\n" "${F_NAME[$i]}" "${F_MEAS[$i]}" "${F_TARGET[$i]}" \
                        "${F_BASE[$i]}" "${F_RATIO[$i]}" "${F_RESULT[$i]}"
        done
        echo
        npass=0 nfail=0; for x in "${F_RESULT[@]}"; do case $x in PASS) npass=$((npass + 1)) ;; FAIL|BROKEN) nfail=$((nfail + 1)) ;; esac; done
        echo "targets: $npass PASS, $nfail FAIL/BROKEN. The machine may be shared: absolute times are noisy; ratios within one run are the figures to compare."
        [ $BROKEN = 1 ] && printf 'BROKEN run: %s\n' "${BROKEN_WHY[@]}"
}

# Prints the JSON tail of a results file: "],\n  \"figures\": [...],\n  \"raw\": {R...}\n}" (the
# caller has printed the opening members up to "broken_reasons": [ ...).
json_figures_raw() {
        local i kk vv val keys=()
        printf '],\n  "figures": [\n'
        for i in "${!F_NAME[@]}"; do
                printf '    {"key": %s, "figure": %s, "value": %s, "unit": %s, "measured": %s, "target": %s, "baseline": %s, "ratio": %s, "result": %s}%s\n' \
                        "$(jstr "${F_KEY[$i]}")" "$(jstr "${F_NAME[$i]}")" "$(jnum "${F_VALUE[$i]}")" "$(jstr "${F_UNIT[$i]}")" \
                        "$(jstr "${F_MEAS[$i]}")" "$(jstr "${F_TARGET[$i]}")" "$(jstr "${F_BASE[$i]}")" "$(jstr "${F_RATIO[$i]}")" \
                        "$(jstr "${F_RESULT[$i]}")" "$([ "$i" -lt $((${#F_NAME[@]} - 1)) ] && echo ,)"
        done
        printf '  ],\n  "raw": {\n'
        keys=()
        [ ${#R[@]} -gt 0 ] && mapfile -t keys < <(printf '%s\n' "${!R[@]}" | LC_ALL=C sort -t. -k1,1n -k2)
        for i in "${!keys[@]}"; do
                kk=${keys[$i]} vv=${R[${keys[$i]}]}
                if [[ "$vv" =~ ^-?[0-9]+(\.[0-9]+)?$ ]]; then val=$vv; else val=$(jstr "$vv"); fi
                printf '    %s: %s%s\n' "$(jstr "$kk")" "$val" "$([ "$i" -lt $((${#keys[@]} - 1)) ] && echo ,)"
        done
        printf '  }\n}\n'
}

# bench_finish JSON FORMAT MEMBERS [WRONG_GLOB]: writes the results file JSON (format FORMAT;
# MEMBERS: the run's own members, pre-formatted lines such as '  "contacts": 100000,\n',
# placed before "broken"), says where, then exits: 1 when the run is BROKEN or a correctness
# figure failed (a master_matches_child figure, or a key matching WRONG_GLOB), else 0. A fast
# benchmark of a wrong result is not a result.
bench_finish() {
        local json=$1 format=$2 members=$3 glob=${4:-} i wrong=0
        {
                printf '{\n  "format": %s,\n  "started": %s,\n  "commit": %s,\n' "$(jstr "$format")" \
                        "$(jstr "$START_ISO")" "$(jstr "$COMMIT$DIRTY")"
                printf '  "host": %s,\n  "cpus": %s,\n  "load_before": %s,\n  "load_after": %s,\n' \
                        "$(jstr "$(hostname)")" "$(nproc)" "$(jstr "$LOAD_BEFORE")" "$(jstr "$LOAD_AFTER")"
                printf '%b' "$members"
                printf '  "broken": %s,\n' "$([ "$BROKEN" = 1 ] && echo true || echo false)"
                printf '  "broken_reasons": ['
                for i in "${!BROKEN_WHY[@]}"; do
                        printf '%s%s' "$([ "$i" -gt 0 ] && echo ', ')" "$(jstr "${BROKEN_WHY[$i]}")"
                done
                json_figures_raw
        } >"$json"
        say "results written to ${json#"$repo"/}"
        [ "$KEEP" = 1 ] && say "logs kept in $LOGS"
        for i in "${!F_KEY[@]}"; do
                case "${F_KEY[$i]}:${F_RESULT[$i]}" in
                *master_matches_child*:FAIL) wrong=1 ;;
                *:FAIL) [ -n "$glob" ] && [[ "${F_KEY[$i]}" == $glob ]] && wrong=1 ;;
                esac
        done
        [ $wrong = 1 ] && say "FAILED: the master does not match the child (see the table)"
        { [ "$BROKEN" = 1 ] || [ $wrong = 1 ]; } && exit 1
        exit 0
}

# bench_services_start NAME: a private TMPDIR (inherited by mariadbd as its tmpdir: the large
# generator and dump steps spill internal temporary tables to disk, and /tmp is shared with
# other servers), the throwaway MariaDB + broker (tests/lib/services.sh), stopped and removed
# on exit; sets BENCH_TMPDIR, LOGS and CLK_TCK. Exits 1 (naming NAME) when they do not start.
bench_services_start() {
        local name=$1
        BENCH_TMPDIR=$(mktemp -d /tmp/civisync-bench-tmp.XXXXXX) || exit 1
        export TMPDIR="$BENCH_TMPDIR"
        trap 'cs_services_stop; rm -rf -- "$BENCH_TMPDIR"' EXIT
        trap 'say "interrupted"; exit 1' INT TERM
        export CS_TEST_QUIET=1
        cs_services_start || { echo "$name: could not start MariaDB + broker" >&2; exit 1; }
        LOGS="$CS_TEST_TMPDIR/bench"
        mkdir -p "$LOGS"
        CLK_TCK=$(getconf CLK_TCK)
}
