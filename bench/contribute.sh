#!/bin/bash
# contribute.sh — `make bench-contribute`: complete sync of a contributions-heavy child against dump-and-load.
#
# Usage: bench/contribute.sh [--contacts N] [--no-pipe] [--keep]
#   --contacts N   contacts of the child (default 100000), 3 contributions each with their
#                  financial rows (bench/contribute-data.sql: about 20 rows per contact)
#   --no-pipe      skip the pipe path (produce --output - | consume --input -)
#   --keep         keep the temp dir (logs, configs; CS_KEEP_TMP=1)
#
# On a throwaway MariaDB (tests/lib/services.sh; its broker only fills the configs), with the full CiviCRM schema
# (tests/fixtures/civicrm-5-full.sql + seed-5-empty-site.sql) on the child and every master:
#   1. generate the child: make-db.sh --schema full, then bench/contribute-data.sql (timed)
#   2. baseline: mariadb-dump --no-create-info --insert-ignore of the synced tables below,
#      piped into mariadb for an empty full-schema site (timed)
#   3. file: civisync-produce --complete --output F, then civisync-consume --input F into an
#      empty full-schema master (each under /usr/bin/time)
#   4. pipe: civisync-produce --complete --output - | civisync-consume --input - into another
#   5. checks after each sync: civisync-verify (every synced entity and the metadata tables)
#      must say "0 differences", and per table: child rows = rows of mapping_master_<prefix>.
# The Kafka path is not run: the embedded broker keeps ~5 MB per partition and this child's
# complete sync is ~1.2 GB of NDJSON at 100k (docs/BENCHMARK.md).
# Prints one table and writes it as JSON to bench/results/<UTC timestamp>-contribute.json.
# Exit status: 0 when every step ran (performance targets may FAIL), 1 when a step broke or
# a check failed (verify differences, row counts), 2 on a usage error.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo" || exit 1

N=100000 KEEP=0 PIPE=1
while [ $# -gt 0 ]; do
        case "$1" in
        --contacts) N=${2:-}; shift 2 || break ;;
        --no-pipe) PIPE=0; shift ;;
        --keep) KEEP=1; shift ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) echo "bench-contribute: unknown argument '$1' (see --help)" >&2; exit 2 ;;
        esac
done
[[ "$N" =~ ^[0-9]+$ ]] && [ "$N" -ge 20 ] || { echo "bench-contribute: --contacts must be an integer >= 20" >&2; exit 2; }
[ "$KEEP" = 1 ] && export CS_KEEP_TMP=1

# shellcheck source=tests/lib/services.sh
. "$repo/tests/lib/services.sh"
MAKEDB="$repo/tests/lib/make-db.sh"
TIMEFMT='%e %M %U %S'   # wall s, peak RSS KiB, user s, system s
BROKEN=0
declare -A R   # results: R[<N>.<name>] = value
declare -a BROKEN_WHY=()
declare -a F_NAME F_MEAS F_TARGET F_BASE F_RATIO F_RESULT F_KEY F_VALUE F_UNIT
# shellcheck source=bench/common.sh
. "$here/common.sh"

for need in mariadb mariadb-dump /usr/bin/time; do
        command -v "$need" >/dev/null 2>&1 || { echo "bench-contribute: $need not found (run make deps)" >&2; exit 1; }
done
for p in civisync-produce civisync-consume civisync-verify; do
        [ -x "$repo/bin/$p" ] || { echo "bench-contribute: bin/$p missing (run make all)" >&2; exit 1; }
done

# The tables the generated child fills and civisync syncs (the seed's tags too), then every
# other phase-3a table (empty here, dumped all the same): the baseline copies exactly these.
TABLES=(civicrm_contact civicrm_email civicrm_tag civicrm_contribution_recur civicrm_contribution
        civicrm_contribution_soft civicrm_financial_trxn civicrm_line_item civicrm_financial_item
        civicrm_entity_financial_trxn
        civicrm_contribution_page civicrm_contribution_widget civicrm_product civicrm_premiums
        civicrm_premiums_product civicrm_price_set civicrm_price_field civicrm_price_field_value
        civicrm_price_set_entity civicrm_pcp_block civicrm_pcp civicrm_contribution_product
        civicrm_pledge civicrm_pledge_payment civicrm_pledge_block)
# The first 10 get a row-count line each.
NCOUNTED=10

bench_services_start bench-contribute
say "services up: MariaDB $CS_TEST_MYSQL_SOCKET; logs in $LOGS"

# "table<TAB>count" for the counted tables of DB.
count_rows() {
        local db=$1 t q=""
        for t in "${TABLES[@]:0:$NCOUNTED}"; do
                [ -n "$q" ] && q="$q UNION ALL "
                q="$q SELECT '$t', COUNT(*) FROM \`$t\`"
        done
        cs_sql "$db" -e "$q"
}

# check_sync WHAT CHILD MASTER PREFIX PRODCONF CONSCONF: runs civisync-verify (every synced
# entity and the metadata tables) and compares, per counted table, the child's rows with the
# rows of mapping_master_PREFIX (one per child row the master holds). Sets R[$N.check_WHAT]
# ("ok" or what differs), R[$N.verify_WHAT] (verify's summary line) and R[$N.master_WHAT.<table>].
check_sync() {
        local what=$1 child=$2 master=$3 prefix=$4 pconf=$5 cconf=$6 bad="" t c m
        local -A mapped=()
        say "$what: civisync-verify"
        if timed "verify-$what" "$repo/bin/civisync-verify" --child-config "$pconf" --master-config "$cconf"; then
                R[$N.verify_${what}_s]=$T_WALL
        else
                bad="$bad verify-exit"
        fi
        R[$N.verify_$what]=$(grep "^verify $prefix: .* differences .* entities" "$LOGS/verify-$what.out" | tail -n 1)
        grep -q "^verify $prefix: 0 differences" "$LOGS/verify-$what.out" || bad="$bad verify"
        grep -q "^verify $prefix: metadata: 0 differences" "$LOGS/verify-$what.out" || bad="$bad verify-metadata"
        while IFS=$'\t' read -r t m; do mapped[$t]=$m; done < <(cs_sql "$master" -e \
                "SELECT entity_table, COUNT(*) FROM \`mapping_master_$prefix\` GROUP BY entity_table" 2>/dev/null)
        while IFS=$'\t' read -r t c; do
                m=${mapped[$t]:-0}
                R[$N.master_$what.$t]=$m
                if [ "$m" != "$c" ]; then
                        say "$what: $t: child has $c rows, mapping_master_$prefix has $m"
                        bad="$bad ${t#civicrm_} $c/$m"
                fi
        done <"$LOGS/child-rows.tsv"
        if [ -n "$bad" ]; then R[$N.check_$what]="mismatch:$bad"; else R[$N.check_$what]=ok; fi
        say "$what: ${R[$N.verify_$what]:-no verify summary}; row counts ${R[$N.check_$what]}"
}

# 1. generate
START_ISO=$(date -u +%Y-%m-%dT%H:%M:%SZ)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
BENCH_T0=$SECONDS
child="bcontrib_child" base="bcontrib_base" mfile="bcontrib_mfile" mpipe="bcontrib_mpipe"
say "==== N = $N contacts, about $((3 * N)) contributions ===="
say "generating child $child"
t0=$(now)
if ! "$MAKEDB" "$child" --schema full --replace >"$LOGS/gen.out" 2>"$LOGS/gen.err"; then
        tail -n 15 "$LOGS/gen.err" >&2
        echo "bench-contribute: creating the child failed" >&2; exit 1
fi
out=$( { printf 'SET @cs_contacts = %d;\n' "$N"; cat "$here/contribute-data.sql"; } |
        cs_sql --show-warnings "$child" 2>&1 )
if [ $? -ne 0 ] || grep -q '^Warning\|^Error\|^ERROR' <<<"$out"; then
        grep '^Warning\|^Error\|^ERROR' <<<"$out" | head -n 10 >&2
        echo "bench-contribute: bench/contribute-data.sql failed or warned" >&2; exit 1
fi
t1=$(now)
R[$N.gen_s]=$(fsub "$t1" "$t0")
count_rows "$child" >"$LOGS/child-rows.tsv"
for t in "${TABLES[@]:0:$NCOUNTED}"; do
        R[$N.child.$t]=$(awk -F'\t' -v t="$t" '$1 == t { print $2 }' "$LOGS/child-rows.tsv")
done
R[$N.rows]=$(awk -F'\t' '{ s += $2 } END { print s + 0 }' "$LOGS/child-rows.tsv")
say "child: ${R[$N.rows]} rows, generated in ${R[$N.gen_s]} s"

# 2. baseline: dump-and-load
"$MAKEDB" "$base" --schema full --replace >/dev/null 2>"$LOGS/base.err" || {
        echo "bench-contribute: creating $base failed" >&2; exit 1; }
say "baseline: mariadb-dump | mariadb"
d0=$(db_cpu); t0=$(now)
mariadb-dump --no-defaults --socket="$CS_TEST_MYSQL_SOCKET" -u"$CS_TEST_MYSQL_USER" \
        -p"$CS_TEST_MYSQL_PASSWORD" --default-character-set=utf8mb4 --single-transaction \
        --no-create-info --insert-ignore --skip-triggers "$child" "${TABLES[@]}" 2>"$LOGS/dump.err" |
        cs_sql "$base" 2>"$LOGS/load.err"
st=("${PIPESTATUS[@]}")
t1=$(now)
R[$N.base_s]=$(fsub "$t1" "$t0")
R[$N.base_db_cpu]=$(fsub "$(db_cpu)" "$d0")
if [ "${st[0]}" != 0 ] || [ "${st[1]}" != 0 ]; then
        cat "$LOGS/dump.err" "$LOGS/load.err" | tail -n 10 >&2
        broken "dump-and-load failed (exit ${st[*]})"
        unset "R[$N.base_s]"
elif ! diff -q <(count_rows "$child") <(count_rows "$base") >/dev/null; then
        broken "the dump-and-load copy has different row counts"
fi
cs_sql -e "DROP DATABASE IF EXISTS \`$base\`" 2>/dev/null
say "baseline: ${R[$N.base_s]:-?} s"

# 3. file
pf="cf$N" ndjson="$CS_TEST_TMPDIR/cf.ndjson"
fconf=$(write_producer_conf "$pf" "$child")
"$MAKEDB" "$mfile" --schema full --replace >/dev/null 2>"$LOGS/mfile.err" || {
        echo "bench-contribute: creating $mfile failed" >&2; exit 1; }
fcconf=$(write_consumer_conf "$pf" "$mfile" "bench-unused-$pf")
say "file: produce --output"
if timed "produce-file" "$repo/bin/civisync-produce" -c "$fconf" --complete --output "$ndjson" &&
        parse_producer "$LOGS/produce-file.out"; then
        R[$N.file_prod_s]=$T_WALL R[$N.file_prod_rss_kib]=$T_RSS_KIB R[$N.file_prod_cpu]=$T_CPU
        R[$N.file_msgs]=$P_MSGS R[$N.file_bytes]=$(stat -c %s "$ndjson") R[$N.file_upserts]=$P_UPSERTS
        say "file: consume --input (${R[$N.file_bytes]} bytes, $P_MSGS documents)"
        d0=$(db_cpu)
        if timed "consume-file" "$repo/bin/civisync-consume" -c "$fcconf" --input "$ndjson" --prefix "$pf" &&
                parse_consumer "$LOGS/consume-file.out"; then
                R[$N.file_cons_s]=$T_WALL R[$N.file_cons_rss_kib]=$T_RSS_KIB R[$N.file_cons_cpu]=$T_CPU
                R[$N.file_cons_rows]=$C_ROWS R[$N.file_cons_rejected]=$C_REJECTED
                R[$N.file_cons_db_cpu]=$(fsub "$(db_cpu)" "$d0")
                R[$N.file_total_s]=$(awk -v a="${R[$N.file_prod_s]}" -v b="$T_WALL" 'BEGIN { printf "%.2f", a + b }')
                say "file: ${R[$N.file_total_s]} s"
                check_sync file "$child" "$mfile" "$pf" "$fconf" "$fcconf"
        else
                broken "civisync-consume --input failed"
        fi
else
        broken "civisync-produce --output failed"
fi
rm -f "$ndjson"
cs_sql -e "DROP DATABASE IF EXISTS \`$mfile\`" 2>/dev/null

# 4. pipe
if [ "$PIPE" = 1 ]; then
        pp="cp$N"
        pconf=$(write_producer_conf "$pp" "$child")
        "$MAKEDB" "$mpipe" --schema full --replace >/dev/null 2>"$LOGS/mpipe.err" || {
                echo "bench-contribute: creating $mpipe failed" >&2; exit 1; }
        pcconf=$(write_consumer_conf "$pp" "$mpipe" "bench-unused-$pp")
        say "pipe: produce --output - | consume --input -"
        d0=$(db_cpu); t0=$(now)
        /usr/bin/time -f "$TIMEFMT" -o "$LOGS/produce-pipe.time" \
                "$repo/bin/civisync-produce" -c "$pconf" --complete --output - 2>"$LOGS/produce-pipe.err" |
                /usr/bin/time -f "$TIMEFMT" -o "$LOGS/consume-pipe.time" \
                "$repo/bin/civisync-consume" -c "$pcconf" --input - --prefix "$pp" \
                >"$LOGS/consume-pipe.out" 2>"$LOGS/consume-pipe.err"
        pst=("${PIPESTATUS[@]}")
        t1=$(now)
        if [ "${pst[0]}" = 0 ] && [ "${pst[1]}" = 0 ] && parse_producer "$LOGS/produce-pipe.err" &&
                parse_consumer "$LOGS/consume-pipe.out"; then
                R[$N.pipe_total_s]=$(fsub "$t1" "$t0")
                R[$N.pipe_db_cpu]=$(fsub "$(db_cpu)" "$d0")
                read -r R[$N.pipe_prod_s] R[$N.pipe_prod_rss_kib] u sy < <(tail -n 1 "$LOGS/produce-pipe.time")
                R[$N.pipe_prod_cpu]=$(awk -v u="$u" -v s="$sy" 'BEGIN { printf "%.2f", u + s }')
                read -r R[$N.pipe_cons_s] R[$N.pipe_cons_rss_kib] u sy < <(tail -n 1 "$LOGS/consume-pipe.time")
                R[$N.pipe_cons_cpu]=$(awk -v u="$u" -v s="$sy" 'BEGIN { printf "%.2f", u + s }')
                R[$N.pipe_msgs]=$P_MSGS R[$N.pipe_cons_rows]=$C_ROWS
                say "pipe: ${R[$N.pipe_total_s]} s"
                check_sync pipe "$child" "$mpipe" "$pp" "$pconf" "$pcconf"
        else
                say "pipe failed (exit ${pst[*]}); stderr tails:"
                tail -n 5 "$LOGS/produce-pipe.err" "$LOGS/consume-pipe.err" >&2
                broken "civisync-produce --output - | civisync-consume --input - failed (exit ${pst[*]})"
        fi
        cs_sql -e "DROP DATABASE IF EXISTS \`$mpipe\`" 2>/dev/null
fi
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- the table
RSS_LIMIT_MIB=64
k="contrib_n$N" b=${R[$N.base_s]:-} rows=${R[$N.rows]}
v=${R[$N.gen_s]}
row "$k.generate_s" "N=$N generate child ($rows rows)" "$v" s "$(fmt "$v") s" "-" "-" "-" info
row "$k.dump_load_s" "N=$N dump-and-load baseline" "$b" s \
        "${b:+$(fmt "$b") s, $(fmt "$(fdiv "$rows" "$b")" 0) rows/s (mariadbd ${R[$N.base_db_cpu]} s CPU)}" "-" "-" "-" info
v=${R[$N.file_total_s]:-}
if [ -n "$v" ] && [ -n "$b" ]; then
        r=$(fdiv "$v" "$b")
        row "$k.complete_file_s" "N=$N complete sync, file (produce + consume)" "$v" s \
                "$(fmt "$v") s (produce $(fmt "${R[$N.file_prod_s]}") s = $(fmt "$(fdiv "${R[$N.file_msgs]}" "${R[$N.file_prod_s]}")" 0) docs/s; consume $(fmt "${R[$N.file_cons_s]}") s = $(fmt "$(fdiv "${R[$N.file_cons_rows]}" "${R[$N.file_cons_s]}")" 0) rows/s)" \
                "<= 2.0 x baseline" "$(fmt "$b") s" "$(fmt "$r") x" "$(passfail "$r" 2.0)"
else
        row "$k.complete_file_s" "N=$N complete sync, file (produce + consume)" "" s "n/a (run broke)" \
                "<= 2.0 x baseline" "${b:+$(fmt "$b") s}" "-" BROKEN
fi
if [ "$PIPE" = 1 ]; then
        v=${R[$N.pipe_total_s]:-}
        if [ -n "$v" ] && [ -n "$b" ]; then
                r=$(fdiv "$v" "$b")
                row "$k.complete_pipe_s" "N=$N complete sync, pipe (produce | consume)" "$v" s \
                        "$(fmt "$v") s, $(fmt "$(fdiv "$rows" "$v")" 0) rows/s (cpu: produce ${R[$N.pipe_prod_cpu]} s, consume ${R[$N.pipe_cons_cpu]} s, mariadbd ${R[$N.pipe_db_cpu]} s)" \
                        "<= 2.0 x baseline" "$(fmt "$b") s" "$(fmt "$r") x" "$(passfail "$r" 2.0)"
        else
                row "$k.complete_pipe_s" "N=$N complete sync, pipe (produce | consume)" "" s "n/a (run broke)" \
                        "<= 2.0 x baseline" "${b:+$(fmt "$b") s}" "-" BROKEN
        fi
fi
row "$k.complete_kafka_s" "N=$N complete sync, Kafka" "" s \
        "not run (embedded broker: ~5 MB per partition)" "<= 2.0 x baseline" "${b:+$(fmt "$b") s}" "-" n/a
paths=(file); [ "$PIPE" = 1 ] && paths+=(pipe)
for w in "${paths[@]}"; do
        cv=${R[$N.check_$w]:-}
        if [ -z "$cv" ]; then
                row "$k.master_matches_child_$w" "N=$N master = child, $w (civisync-verify)" "" "" "n/a (not run)" \
                        "0 differences, rows equal" "-" "-" BROKEN
        else
                row "$k.master_matches_child_$w" "N=$N master = child, $w (civisync-verify)" "$([ "$cv" = ok ] && echo 1 || echo 0)" "" \
                        "$([ "$cv" = ok ] && echo "0 differences (verify $(fmt "${R[$N.verify_${w}_s]:-0}" 1) s), rows equal" || echo "$cv")" \
                        "0 differences, rows equal" "-" "-" "$([ "$cv" = ok ] && echo PASS || echo FAIL)"
        fi
done
for t in "${TABLES[@]:0:$NCOUNTED}"; do
        c=${R[$N.child.$t]} meas="child $c" res=PASS
        for w in "${paths[@]}"; do
                m=${R[$N.master_$w.$t]:-}
                meas="$meas, mapped ${m:-?} ($w)"
                [ "$m" = "$c" ] || res=FAIL
        done
        row "$k.rows.$t" "N=$N rows $t" "$c" rows "$meas" "master = child" "-" "-" "$res"
done
for prog in prod cons; do
        name=$([ $prog = prod ] && echo producer || echo consumer)
        for w in "${paths[@]}"; do
                kib=${R[$N.${w}_${prog}_rss_kib]:-}
                if [ -n "$kib" ]; then
                        row "$k.${name}_rss_${w}_mib" "N=$N $name peak RSS ($w)" "$(mib "$kib")" MiB \
                                "$(mib "$kib") MiB" "<= $RSS_LIMIT_MIB MiB" "-" "-" "$(passfail "$(mib "$kib")" $RSS_LIMIT_MIB)"
                else
                        row "$k.${name}_rss_${w}_mib" "N=$N $name peak RSS ($w)" "" MiB "n/a (run broke)" "<= $RSS_LIMIT_MIB MiB" "-" "-" BROKEN
                fi
        done
done

COMMIT=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$([ -n "$(git -C "$repo" status --porcelain -- producer consumer shared bench 2>/dev/null)" ] && echo "+uncommitted changes" || echo "")
{
        echo
        echo "civisync contributions benchmark $START_ISO  commit $COMMIT$DIRTY  $N contacts, ${R[$N.child.civicrm_contribution]} contributions"
        echo "host $(hostname) $(nproc) CPUs, load $LOAD_BEFORE before / $LOAD_AFTER after; total bench time $((SECONDS - BENCH_T0)) s"
        echo
        print_figures
} | tee "$LOGS/table.txt"

mkdir -p "$here/results"
bench_finish "$here/results/$STAMP-contribute.json" civisync-bench-contribute-1 \
        "  \"contacts\": $N,\n" '*.rows.*'
