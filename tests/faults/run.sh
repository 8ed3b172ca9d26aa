#!/bin/bash
# run.sh — civisync's fault and bad-input suite (make faults): crashes, outages, hostile documents.
#
# Usage: tests/faults/run.sh [--short] [--only NAME[,NAME...]]
#   --short   the form run by `make test`: fewer kill points, smaller children,
#             one master restart
#   --only    run only these scenarios: kill_complete kill_incremental producer_kill
#             broker_outage master_restart concurrent two_consumers hostile hostile_big
#             fk_nested_delete input_kill
# Environment:
#   FAULTS_SEED=N     replay the random kill points of an earlier run (printed at start)
#   FAULTS_TOOL=PATH  the helper program (default build/tests/faults-tool)
#   FAULTS_LOG_DIR    where logs go (default build/faults); kept after the run
#   CS_BIN, CS_KEEP_TMP as for tests/lib/services.sh
# Exit status: 0 when every check passed, 1 otherwise.
set -u
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo" || exit 1

MODE=full
ONLY=""
while [ $# -gt 0 ]; do
        case "$1" in
        --short) MODE=short; shift ;;
        --only) ONLY=",$2,"; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument '$1'" >&2; exit 2 ;;
        esac
done

TOOL=${FAULTS_TOOL:-$repo/build/tests/faults-tool}
export CS_BIN=${CS_BIN:-$repo/bin}   # before services.sh: the mode probe below needs it
LOGS=${FAULTS_LOG_DIR:-$repo/build/faults}
SEED=${FAULTS_SEED:-$(( $(date +%s) % 1000000 ))}
if [ ! -x "$TOOL" ]; then
        echo "run.sh: $TOOL not built (make faults builds it)" >&2
        exit 1
fi
rm -rf "$LOGS"
mkdir -p "$LOGS"

# shellcheck source=tests/lib/services.sh
. "$repo/tests/lib/services.sh"
export CS_TEST_QUIET=1

# ---------------------------------------------------------------- reporting
KILLS=0          # consumer/producer SIGKILLs survived (converged afterwards)
OUTAGES=0        # broker / master outages survived
H_SENT=0 H_DLQ=0 H_OTHER=0
DIFFS=0          # child-vs-master differences at the end of every scenario
FAILED=()        # failed checks
CHECKS=0

say() { echo "faults: $*"; }
ok() { CHECKS=$((CHECKS + 1)); echo "  ok   $*"; }
bad() { CHECKS=$((CHECKS + 1)); FAILED+=("$*"); echo "  FAIL $*"; }
check() { # check DESCRIPTION COMMAND...
        local what=$1; shift
        if "$@"; then ok "$what"; else bad "$what"; fi
}
want() { [ -z "$ONLY" ] || [[ "$ONLY" == *",$1,"* ]]; }

# A random delay below $1 ms in RAND_MS, from the seeded sequence. It must
# run in the main shell: bash reseeds RANDOM in every subshell, so a draw in
# $(...) would neither advance the sequence nor replay with FAULTS_SEED.
# Every draw is logged to $LOGS/delays (two runs with one seed: same file).
rand_ms() {
        if [ "$BASHPID" != "$$" ]; then
                bad "rand_ms called in a subshell: FAULTS_SEED could not replay it"
        fi
        RAND_MS=$(( (RANDOM * 32768 + RANDOM) % $1 ))
        echo "$1 $RAND_MS" >>"$LOGS/delays"
}
sleep_ms() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }

sql() { cs_sql "$@"; }

# ---------------------------------------------------------------- configs
producer_conf() { # PREFIX CHILD_DB -> path
        local f="$CS_TEST_TMPDIR/producer-$1.cfg"
        cat >"$f" <<EOF
prefix = "$1";
state_dir = "$CS_TEST_TMPDIR/state";
child = { socket = "$CS_TEST_MYSQL_SOCKET"; user = "$CS_TEST_MYSQL_USER"; password = "$CS_TEST_MYSQL_PASSWORD"; database = "$2"; };
kafka = { brokers = "$CS_TEST_BROKERS"; };
EOF
        echo "$f"
}
consumer_conf() { # NAME MASTER_DB GROUP PREFIX DLQ_TOPIC [TOPIC_PREFIX] -> path
        local f="$CS_TEST_TMPDIR/consumer-$1.cfg" pl="prefixes = [\"$4\"];"
        [ "$4" = "*" ] && pl=""
        cat >"$f" <<EOF
$pl
master = { socket = "$CS_TEST_MYSQL_SOCKET"; user = "$CS_TEST_MYSQL_USER"; password = "$CS_TEST_MYSQL_PASSWORD"; database = "$2"; };
kafka = { brokers = "$CS_TEST_BROKERS"; group = "$3"; topic_prefix = "${6:-civisync.}";
  dead_letter_topic = "$5";
  properties = ( ("session.timeout.ms", "6000") ); };
EOF
        echo "$f"
}

# Incremental mode, once the producer has it; until then --complete after
# the child changed (the consumer's sweep path).
if "$CS_BIN/civisync-produce" --help 2>&1 | grep -q "incremental sync: not available"; then
        INCR_ARGS=(--complete)
        INCR_NOTE="producer has no incremental mode yet: incremental rounds use --complete (sweep path)"
else
        INCR_ARGS=()
        INCR_NOTE="incremental rounds use the producer's incremental mode"
fi

produce() { # CONF LOGNAME [ARGS...]: runs the producer, returns its status
        local conf=$1 name=$2; shift 2
        "$CS_BIN/civisync-produce" -c "$conf" "$@" >>"$LOGS/$name.out" 2>>"$LOGS/$name.err"
}
consume_once() { # CONF LOGNAME
        "$CS_BIN/civisync-consume" -c "$1" --once >>"$LOGS/$2.out" 2>>"$LOGS/$2.err"
}

# The oracle: child and master, normalized (faults-tool dump), must be equal.
# Adds the number of differing lines to DIFFS; the diff is kept in the logs.
verify() { # CHILD_DB MASTER_DB PREFIX LABEL
        local c="$LOGS/$4.child.dump" m="$LOGS/$4.master.dump" n
        if ! "$TOOL" dump child "$1" "$3" >"$c" || ! "$TOOL" dump master "$2" "$3" >"$m"; then
                bad "$4: oracle dump failed"
                DIFFS=$((DIFFS + 1))
                return 1
        fi
        diff "$c" "$m" >"$LOGS/$4.diff"
        n=$(grep -c '^[<>]' "$LOGS/$4.diff")
        DIFFS=$((DIFFS + n))
        if [ "$n" = 0 ]; then
                ok "$4: child = master ($(wc -l <"$c") rows compared)"
        else
                bad "$4: $n differing rows child vs master (see $LOGS/$4.diff)"
                return 1
        fi
}

dlq_count() { # TOPIC -> number of dead letters
        "$TOOL" dlq "$CS_TEST_BROKERS" "$1" | wc -l
}

# Waits until FILE contains PATTERN (max SECONDS); 0 if seen.
wait_log() {
        local file=$1 pat=$2 secs=$3 n=0
        while [ $n -lt $((secs * 10)) ]; do
                grep -q -- "$pat" "$file" 2>/dev/null && return 0
                sleep 0.1
                n=$((n + 1))
        done
        return 1
}

mapped() { # MASTER PREFIX -> "refreshed/total": mapping rows of the newest generation / all
        sql "$1" -e "SELECT CONCAT(SUM(m.generation = x.g), '/', COUNT(*))
                FROM mapping_master_$2 m JOIN (SELECT MAX(generation) g FROM mapping_master_$2) x" 2>/dev/null || echo 0
}

# Waits until the master's prefix completed generation GEN (max SECONDS).
wait_completed() { # MASTER PREFIX GEN SECONDS
        local n=0 got
        while [ $n -lt $(($4 * 2)) ]; do
                got=$(sql "$1" -e "SELECT completed_generation FROM civisync_prefix WHERE prefix = '$2'" 2>/dev/null)
                [ "${got:-0}" -ge "$3" ] 2>/dev/null && return 0
                sleep 0.5
                n=$((n + 1))
        done
        return 1
}

state_gen() { # PREFIX -> generation in the state file
        sed -n 's/^  "generation": \([0-9]*\).*/\1/p' "$CS_TEST_TMPDIR/state/$1.state.json" 2>/dev/null
}

# Changes a child: updates, inserts (with emails) and deletes, tagged by ROUND.
# Rows that other roots' rows reference (an email named by a membership's
# email_id, a phone named by an activity, an address shared through
# master_id) are not deleted here: that case is scenario fk_nested_delete.
mutate_child() { # DB ROUND
        sql "$1" -e "
          UPDATE civicrm_contact SET first_name = CONCAT('R$2-', id), nick_name = 'round $2'
            WHERE id % 11 = $2 AND contact_type = 'Individual';
          UPDATE civicrm_email SET email = CONCAT('r$2.', id, '@changed.example.org') WHERE id % 13 = $2;
          CREATE TEMPORARY TABLE keep_c (id int PRIMARY KEY)
            SELECT DISTINCT e.contact_id AS id FROM civicrm_email e JOIN civicrm_group_contact g ON g.email_id = e.id
            UNION SELECT p.contact_id FROM civicrm_phone p JOIN civicrm_activity a ON a.phone_id = p.id
            UNION SELECT d.contact_id FROM civicrm_address d JOIN civicrm_address s ON s.master_id = d.id;
          DELETE FROM civicrm_email WHERE id % 29 = $2
            AND id NOT IN (SELECT email_id FROM civicrm_group_contact WHERE email_id IS NOT NULL);
          DELETE FROM civicrm_phone WHERE id % 31 = $2
            AND id NOT IN (SELECT phone_id FROM civicrm_activity WHERE phone_id IS NOT NULL);
          DELETE FROM civicrm_group_contact WHERE id % 17 = $2;
          DELETE FROM civicrm_entity_tag WHERE id % 19 = $2;
          CREATE TEMPORARY TABLE gone (id int PRIMARY KEY)
            SELECT id FROM civicrm_contact WHERE id % 37 = $2 AND id > 10 AND id NOT IN (SELECT id FROM keep_c);
          UPDATE civicrm_contact SET employer_id = NULL WHERE employer_id IN (SELECT id FROM gone);
          UPDATE civicrm_contact SET primary_contact_id = NULL WHERE primary_contact_id IN (SELECT id FROM gone);
          DELETE FROM civicrm_note WHERE entity_table = 'civicrm_relationship' AND entity_id IN
            (SELECT id FROM civicrm_relationship WHERE contact_id_a IN (SELECT id FROM gone)
                                                 OR contact_id_b IN (SELECT id FROM gone));
          DELETE FROM civicrm_note WHERE entity_table = 'civicrm_contact' AND entity_id IN (SELECT id FROM gone);
          DELETE FROM civicrm_entity_tag WHERE entity_table = 'civicrm_contact' AND entity_id IN (SELECT id FROM gone);
          DELETE FROM civicrm_contact WHERE id IN (SELECT id FROM gone);
          DELETE FROM civicrm_note WHERE entity_table = 'civicrm_note' AND entity_id NOT IN (SELECT id FROM (SELECT id FROM civicrm_note) n);
          DELETE FROM civicrm_note WHERE entity_table = 'civicrm_note' AND entity_id NOT IN (SELECT id FROM (SELECT id FROM civicrm_note) n);
          DELETE FROM civicrm_note WHERE entity_table = 'civicrm_note' AND entity_id NOT IN (SELECT id FROM (SELECT id FROM civicrm_note) n);
          INSERT INTO civicrm_contact (contact_type, first_name, last_name, display_name, sort_name, source)
            SELECT 'Individual', CONCAT('New$2-', id), 'Inserted', CONCAT('New$2-', id, ' Inserted'),
                   CONCAT('Inserted, New$2-', id), 'faults' FROM civicrm_contact WHERE id % 53 = $2;
          INSERT INTO civicrm_email (contact_id, location_type_id, email, is_primary)
            SELECT id, 1, CONCAT('new', id, '@inserted.example.org'), 1 FROM civicrm_contact
            WHERE first_name LIKE 'New$2-%';"
}

# A nested row deleted on the child after the row of another root that
# named it was cleared (as CiviCRM does): the membership's email_id is set
# NULL, then the email is deleted (was a bug: fixed, see docs/FAULTS.md).
scenario_fk_nested_delete() {
        say "nested rows deleted after another root's reference to them was cleared"
        tests/lib/make-db.sh fk_child --schema 5 --child 5 --contacts 200 >/dev/null || { bad "make-db fk"; return; }
        tests/lib/make-db.sh fk_master --schema 5 >/dev/null
        cs_broker_ctl "topic civisync.fk:1"
        cs_broker_ctl "topic faults.dlq-fk:1"
        local prod cons n
        prod=$(producer_conf fk fk_child)
        cons=$(consumer_conf fk fk_master g_fk fk faults.dlq-fk)
        check "fk: producer" produce "$prod" fk-produce --complete
        check "fk: consumer" consume_once "$cons" fk-consume
        n=$(sql fk_child -e "SELECT COUNT(*) FROM civicrm_group_contact WHERE email_id IS NOT NULL")
        sql fk_child -e "CREATE TEMPORARY TABLE e (id int PRIMARY KEY) SELECT email_id AS id FROM civicrm_group_contact WHERE email_id IS NOT NULL;
                         UPDATE civicrm_group_contact SET email_id = NULL WHERE email_id IS NOT NULL;
                         DELETE FROM civicrm_email WHERE id IN (SELECT id FROM e);" || bad "fk: child change"
        check "fk: producer after $n emails named by memberships were deleted" produce "$prod" fk-produce "${INCR_ARGS[@]}"
        check "fk: consumer" consume_once "$cons" fk-consume
        check "fk: no dead letters (got $(dlq_count faults.dlq-fk))" test "$(dlq_count faults.dlq-fk)" = 0
        verify fk_child fk_master fk fk-nested-delete
}

# Starts a consumer in the background: sets CPID.
start_consumer() { # CONF LOGNAME [--once]
        "$CS_BIN/civisync-consume" -c "$1" ${3:-} >>"$LOGS/$2.out" 2>>"$LOGS/$2.err" &
        CPID=$!
}

# One SIGKILL of a --once consumer at a random point after its assignment.
# Returns 0 when it was killed mid-run (its wait status says SIGKILL), 2 when
# it had finished cleanly already, 1 (a failed check) when it had exited
# with an error before the kill or was not killed by the SIGKILL.
kill_point() { # CONF LOGNAME MASTER PREFIX MAXDELAY_MS INDEX
        local conf=$1 log=$2 master=$3 prefix=$4 max=$5 idx=$6 delay before after st
        local errf="$LOGS/$log.err" mark
        mark=$( { wc -l <"$errf"; } 2>/dev/null || echo 0)
        start_consumer "$conf" "$log" --once
        local n=0
        while [ $n -lt 300 ]; do
                tail -n +"$((mark + 1))" "$errf" 2>/dev/null | grep -q "assigned" && break
                kill -0 "$CPID" 2>/dev/null || break
                sleep 0.1
                n=$((n + 1))
        done
        rand_ms "$max"
        delay=$RAND_MS
        before=$(mapped "$master" "$prefix")
        sleep_ms "$delay"
        if ! kill -0 "$CPID" 2>/dev/null; then
                wait "$CPID"
                st=$?
                echo "    kill point $idx: consumer finished (exit $st) before the kill at +${delay} ms"
                if [ "$st" != 0 ]; then
                        bad "kill point $idx: the consumer exited $st before its kill (a crash is not a finish; see $errf)"
                        return 1
                fi
                return 2
        fi
        kill -KILL "$CPID" 2>/dev/null
        wait "$CPID" 2>/dev/null
        st=$?
        after=$(mapped "$master" "$prefix")
        if [ "$st" != 137 ]; then
                bad "kill point $idx: the consumer was not killed by the SIGKILL (wait status $st)"
                return 1
        fi
        echo "    kill point $idx: SIGKILL at +${delay} ms after assignment (mapping rows of the newest generation/all: $before -> $after)"
        echo "$idx $delay $after" >>"$LOGS/$log.points"
        return 0
}

# ---------------------------------------------------------------- scenarios

scenario_kill_complete() { # N CONTACTS MAX_DELAY_MS
        local n=$1 contacts=$2 i=0 rc gen conf ref
        say "consumer SIGKILL at $n points during complete syncs ($contacts contacts)"
        tests/lib/make-db.sh kc_child --schema 5 --child 1 --contacts "$contacts" >/dev/null || { bad "make-db kc"; return; }
        tests/lib/make-db.sh kc_master --schema 5 >/dev/null
        tests/lib/make-db.sh kc_ref --schema 5 >/dev/null
        cs_broker_ctl "topic civisync.kc:4"
        cs_broker_ctl "topic faults.dlq-kc:1"
        KC_PROD=$(producer_conf kc kc_child)
        KC_CONS=$(consumer_conf kc kc_master g_kc kc faults.dlq-kc)
        ref=$(consumer_conf kcref kc_ref g_kcref kc faults.dlq-kcref)
        check "kc: producer --complete" produce "$KC_PROD" kc-produce --complete
        gen=$(state_gen kc)
        # The oracle's other half: the same topic, uninterrupted, into kc_ref.
        check "kc: uninterrupted reference consumer" consume_once "$ref" kc-ref
        # N kills, and more (up to 3N) until they landed in at least two
        # distinct progress states, one of them with rows mapped: on a
        # loaded machine the first kills may all come before the first
        # commit. The checks after the loop fail if even 3N did not get there.
        local want_distinct=$(( n / 4 > 2 ? n / 4 : 2 ))
        while [ $i -lt "$n" ] || { [ $i -lt $((3 * n)) ] &&
                { [ "$(awk '{print $3}' "$LOGS/kc-consume.points" 2>/dev/null | sort -u | wc -l)" -lt "$want_distinct" ] ||
                  ! awk '$3 != "NULL" && $3 !~ /^0\// {f = 1} END {exit !f}' "$LOGS/kc-consume.points" 2>/dev/null; }; }; do
                kill_point "$KC_CONS" kc-consume kc_master kc "$3" $((i + 1))
                rc=$?
                if [ $rc = 0 ]; then
                        i=$((i + 1))
                        KILLS=$((KILLS + 1))
                elif [ $rc = 1 ]; then
                        i=$((i + 1))
                else
                        # The sync finished between kills: start another one.
                        produce "$KC_PROD" kc-produce --complete || bad "kc: producer rerun"
                fi
        done
        check "kc: consumer converges after $i kills" consume_once "$KC_CONS" kc-consume
        verify kc_child kc_master kc kill-complete
        "$TOOL" dump master kc_master kc --unmapped >"$LOGS/kc.master-u.dump"
        "$TOOL" dump master kc_ref kc --unmapped >"$LOGS/kc.ref-u.dump"
        check "kc: killed master = uninterrupted master (normalized, incl. the master's own rows)" \
                cmp -s "$LOGS/kc.master-u.dump" "$LOGS/kc.ref-u.dump"
        check "kc: no dead letters" test "$(dlq_count faults.dlq-kc)" = 0
        check "kc: nothing parked" test "$(sql kc_master -e 'SELECT (SELECT COUNT(*) FROM civisync_parked) + (SELECT COUNT(*) FROM civisync_parked_doc)')" = 0
        # The kills landed at different points of the run: at least two
        # (a quarter of them in the full form) distinct mapping states, and
        # at least one inside a sync (some rows mapped, not the final state).
        local distinct inside final
        final=$(mapped kc_master kc)
        distinct=$(awk '{print $3}' "$LOGS/kc-consume.points" 2>/dev/null | sort -u | wc -l)
        inside=$(awk -v f="$final" '$3 != f && $3 != "NULL" && $3 !~ /^0\// {n++} END {print n + 0}' \
                "$LOGS/kc-consume.points" 2>/dev/null)
        say "  $i kill points, $distinct distinct progress states at the kills, $inside inside a sync (final $final; seed $SEED)"
        check "kc: $distinct distinct progress states at the kills (want >= $want_distinct)" \
                test "$distinct" -ge "$want_distinct"
        check "kc: $inside kill(s) inside a sync (some rows mapped, not all; want >= 1)" \
                test "${inside:-0}" -ge 1
}

# civisync-consume --input F (its reader thread parses ahead of the apply)
# SIGKILLed at random points; then one run to the end. The master must equal
# the child and, byte for byte, a master the same file was applied to
# uninterrupted.
# The first of POINTS (mapping row counts at the kills) strictly between 0
# and the reference master's count, or nothing.
ik_inside() { # POINTS
        local all
        all=$(sql ik_ref -e "SELECT COUNT(*) FROM mapping_master_ik" 2>/dev/null || echo 0)
        for p in $1; do
                if [ "$p" -gt 0 ] && [ "$p" -lt "$all" ]; then echo "$p"; return; fi
        done
}

consume_input() { # CONF LOGNAME FILE PREFIX
        "$CS_BIN/civisync-consume" -c "$1" --input "$3" --prefix "$4" >>"$LOGS/$2.out" 2>>"$LOGS/$2.err"
}

scenario_input_kill() { # N CONTACTS MAX_DELAY_MS (after the first rows are mapped)
        local n=$1 contacts=$2 i=0 tries=0 delay st f="$CS_TEST_TMPDIR/ik.ndjson" prod cons ref pid
        local points="" final inside
        say "consumer --input SIGKILLed at $n points ($contacts contacts)"
        tests/lib/make-db.sh ik_child --schema 5 --child 1 --contacts "$contacts" >/dev/null || { bad "make-db ik"; return; }
        tests/lib/make-db.sh ik_master --schema 5 >/dev/null
        tests/lib/make-db.sh ik_ref --schema 5 >/dev/null
        prod=$(producer_conf ik ik_child)
        cons=$(consumer_conf ik ik_master g_ik ik faults.dlq-ik)
        ref=$(consumer_conf ikref ik_ref g_ikref ik faults.dlq-ik)
        check "ik: producer --complete --output" produce "$prod" ik-produce --complete --output "$f"
        check "ik: uninterrupted --input into the reference master" \
                consume_input "$ref" ik-ref "$f" ik
        # n kills, and more (up to 3n runs) until one landed inside the
        # apply (some rows mapped, not all): the first ones may all come
        # while the consumer still connects.
        while { [ $i -lt "$n" ] || [ -z "$(ik_inside "$points")" ]; } && [ $tries -lt $((3 * n)) ]; do
                tries=$((tries + 1))
                "$CS_BIN/civisync-consume" -c "$cons" --input "$f" --prefix ik \
                        >>"$LOGS/ik-consume.out" 2>>"$LOGS/ik-consume.err" &
                pid=$!
                # from the moment the first rows are mapped (at once when an
                # earlier run mapped them): a random point of the apply
                local w=0
                until [ "$(sql ik_master -e "SELECT COUNT(*) FROM mapping_master_ik" 2>/dev/null || echo 0)" -gt 0 ] ||
                      ! kill -0 "$pid" 2>/dev/null || [ $w -gt 500 ]; do
                        sleep 0.02
                        w=$((w + 1))
                done
                rand_ms "$3"
                delay=$RAND_MS
                sleep_ms "$delay"
                kill -KILL "$pid" 2>/dev/null
                wait "$pid" 2>/dev/null
                st=$?
                if [ "$st" = 137 ]; then
                        local now_mapped
                        i=$((i + 1))
                        KILLS=$((KILLS + 1))
                        now_mapped=$(sql ik_master -e "SELECT COUNT(*) FROM mapping_master_ik" 2>/dev/null || echo 0)
                        points="$points $now_mapped"
                        echo "    input kill $i: SIGKILL +${delay} ms after the first rows were mapped (mapping rows: $now_mapped)"
                elif [ "$st" = 0 ]; then
                        echo "    input kill: the run had finished (exit 0) before +${delay} ms"
                else
                        bad "input kill: the consumer exited $st before its kill (see $LOGS/ik-consume.err)"
                        i=$((i + 1))
                fi
        done
        check "ik: $i of $n kills landed mid-run (in $tries runs)" test "$i" -ge "$n"
        final=$(sql ik_ref -e "SELECT COUNT(*) FROM mapping_master_ik")
        inside=$(ik_inside "$points")
        check "ik: a kill inside the apply (mapping rows at the kills:$points; all: $final)" test -n "$inside"
        check "ik: a last --input run completes" consume_input "$cons" ik-consume "$f" ik
        verify ik_child ik_master ik input-kill
        "$TOOL" dump master ik_master ik --unmapped >"$LOGS/ik.master-u.dump"
        "$TOOL" dump master ik_ref ik --unmapped >"$LOGS/ik.ref-u.dump"
        check "ik: killed master = uninterrupted master (normalized, incl. the master's own rows)" \
                cmp -s "$LOGS/ik.master-u.dump" "$LOGS/ik.ref-u.dump"
        check "ik: nothing parked" test "$(sql ik_master -e 'SELECT (SELECT COUNT(*) FROM civisync_parked) + (SELECT COUNT(*) FROM civisync_parked_doc)')" = 0
        rm -f "$f"
}

scenario_kill_incremental() { # ROUNDS KILLS_PER_ROUND MAX_DELAY_MS
        local rounds=$1 per=$2 r i rc
        say "consumer SIGKILL during incremental syncs: $rounds rounds x $per kills ($INCR_NOTE)"
        [ -n "${KC_PROD:-}" ] || { bad "kill_incremental needs kill_complete first"; return; }
        for r in $(seq 1 "$rounds"); do
                mutate_child kc_child "$r" || bad "mutate child round $r"
                check "kc round $r: producer" produce "$KC_PROD" kc-produce "${INCR_ARGS[@]}"
                i=0
                while [ $i -lt "$per" ]; do
                        kill_point "$KC_CONS" kc-consume kc_master kc "$3" "r$r.$((i + 1))"
                        rc=$?
                        if [ $rc = 0 ]; then
                                i=$((i + 1))
                                KILLS=$((KILLS + 1))
                        elif [ $rc = 1 ]; then
                                i=$((i + 1))
                        else
                                mutate_child kc_child $((r + 20 + i))
                                produce "$KC_PROD" kc-produce "${INCR_ARGS[@]}" || bad "kc round $r: producer rerun"
                        fi
                done
                check "kc round $r: consumer converges" consume_once "$KC_CONS" kc-consume
                verify kc_child kc_master kc "kill-incremental-r$r"
        done
        check "kc: still no dead letters" test "$(dlq_count faults.dlq-kc)" = 0
}

scenario_producer_kill() { # N MAX_DELAY_MS
        local n=$1 i=0 tries=0 killed=0 delay st before
        say "producer SIGKILL mid-run ($n times)"
        [ -n "${KC_PROD:-}" ] || { bad "producer_kill needs kill_complete first"; return; }
        mutate_child kc_child 40
        # Until n kills landed (at most 3n runs): a run that finished before
        # its delay is not a kill, and the scenario must prove n kills.
        while [ $killed -lt "$n" ] && [ $tries -lt $((3 * n)) ]; do
                tries=$((tries + 1))
                i=$tries
                cp "$CS_TEST_TMPDIR/state/kc.state.json" "$LOGS/kc.state.before"
                before=$( { wc -l <"$LOGS/pk-produce.err"; } 2>/dev/null || echo 0)
                "$CS_BIN/civisync-produce" -c "$KC_PROD" --complete >>"$LOGS/pk-produce.out" 2>>"$LOGS/pk-produce.err" &
                local pid=$!
                local w=0
                until tail -n +"$((before + 1))" "$LOGS/pk-produce.err" | grep -q "complete sync of prefix" ||
                      ! kill -0 $pid 2>/dev/null || [ $w -gt 100 ]; do sleep 0.05; w=$((w + 1)); done
                rand_ms "$2"
                delay=$RAND_MS
                sleep_ms "$delay"
                kill -KILL $pid 2>/dev/null
                wait $pid 2>/dev/null
                st=$?
                if [ "$st" = 137 ]; then
                        killed=$((killed + 1))
                        echo "    producer kill $i: SIGKILL at +${delay} ms into the replay (wait status 137)"
                        check "producer kill $i: state file byte-identical" cmp -s "$LOGS/kc.state.before" "$CS_TEST_TMPDIR/state/kc.state.json"
                        KILLS=$((KILLS + 1))
                elif [ "$st" = 0 ]; then
                        echo "    producer kill $i: the run had finished (exit 0) before +${delay} ms"
                else
                        bad "producer kill $i: the run exited $st before its kill (see $LOGS/pk-produce.err)"
                fi
        done
        check "producer: $killed of $n kills landed mid-run (in $tries runs)" test "$killed" = "$n"
        check "producer: the run after the kills succeeds (lock released)" produce "$KC_PROD" pk-produce --complete
        check "producer: state advanced by that run" test "$(state_gen kc)" != "$(sed -n 's/^  "generation": \([0-9]*\).*/\1/p' "$LOGS/kc.state.before")"
        check "producer: consumer converges" consume_once "$KC_CONS" kc-consume
        verify kc_child kc_master kc producer-kill
}

scenario_broker_outage() {
        local st
        say "broker down / refusing writes for the producer's run"
        [ -n "${KC_PROD:-}" ] || { bad "broker_outage needs kill_complete first"; return; }
        local -a fast=(-X message.timeout.ms=6000 -X socket.connection.setup.timeout.ms=2000)
        local what
        for what in "broker-down 1" "produce-errors 100000 NOT_ENOUGH_REPLICAS" "produce-errors 100000 TOPIC_AUTHORIZATION_FAILED"; do
                mutate_child kc_child 41
                cp "$CS_TEST_TMPDIR/state/kc.state.json" "$LOGS/kc.state.before"
                # The fault is in place before the producer starts (the
                # broker has answered the control command): injected after
                # the start, it sometimes did not take hold before the run
                # had delivered everything, and the scenario flaked.
                cs_broker_ctl "$what"
                "$CS_BIN/civisync-produce" -c "$KC_PROD" --complete "${fast[@]}" >>"$LOGS/bo-produce.out" 2>>"$LOGS/bo-produce.err"
                st=$?
                case "$what" in
                broker-down*) cs_broker_ctl "broker-up 1" ;;
                *) cs_broker_ctl "clear-errors" ;;
                esac
                check "producer under '$what': exit 1 (got $st)" test "$st" = 1
                check "producer under '$what': state unchanged" cmp -s "$LOGS/kc.state.before" "$CS_TEST_TMPDIR/state/kc.state.json"
                check "producer after '$what' recovered: exit 0" produce "$KC_PROD" bo-produce --complete
                check "consumer after '$what'" consume_once "$KC_CONS" kc-consume
                if verify kc_child kc_master kc "broker-$(echo "$what" | tr ' ' _)"; then
                        [ "$st" = 1 ] && OUTAGES=$((OUTAGES + 1))
                fi
        done
}

restart_mariadb() { # stops the harness's mariadbd and starts it again (same datadir, socket, port)
        local me n=0
        me=$(id -un)
        mariadb-admin --no-defaults --socket="$CS_TEST_MYSQL_SOCKET" -u"$me" shutdown >/dev/null 2>&1
        while kill -0 "$_CS_MARIADBD_PID" 2>/dev/null && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
        wait "$_CS_MARIADBD_PID" 2>/dev/null
        echo "    master MariaDB stopped; down for ${1}s"
        sleep "$1"
        cs_mariadbd_launch
        n=0
        until mariadb-admin --no-defaults --socket="$CS_TEST_MYSQL_SOCKET" -u"$me" --connect-timeout=2 ping >/dev/null 2>&1; do
                sleep 0.1
                n=$((n + 1))
                [ $n -gt 300 ] && { bad "mariadbd did not come back"; return 1; }
        done
        echo "    master MariaDB is back"
}

scenario_master_restart() {
        local n=$1 contacts=$2 i gen delay
        say "master MariaDB stopped and restarted under a running consumer ($n outages)"
        tests/lib/make-db.sh mr_child --schema 5 --child 2 --contacts "$contacts" >/dev/null || { bad "make-db mr"; return; }
        tests/lib/make-db.sh mr_master --schema 5 >/dev/null
        cs_broker_ctl "topic civisync.mr:4"
        cs_broker_ctl "topic faults.dlq-mr:1"
        local prod cons
        prod=$(producer_conf mr mr_child)
        cons=$(consumer_conf mr mr_master g_mr mr faults.dlq-mr)
        for i in $(seq 1 "$n"); do
                [ "$i" -gt 1 ] && mutate_child mr_child "$i"
                check "mr $i: producer" produce "$prod" mr-produce --complete
                gen=$(state_gen mr)
                start_consumer "$cons" mr-consume
                wait_log "$LOGS/mr-consume.err" "complete sync generation $gen begins" 60
                # Mid-apply: a short random delay after the generation began
                # (the consumer applies a 2000-contact child in seconds), and
                # the outage must begin before the generation completed.
                rand_ms 300; delay=$RAND_MS
                sleep_ms "$delay"
                local done_gen
                done_gen=$(sql mr_master -e "SELECT completed_generation FROM civisync_prefix WHERE prefix = 'mr'" 2>/dev/null)
                echo "    outage $i at +${delay} ms into generation $gen (mapping rows $(mapped mr_master mr))"
                check "mr $i: the outage began before generation $gen completed" test "${done_gen:-0}" != "$gen"
                restart_mariadb 3
                local w=0 alive=1
                until wait_completed mr_master mr "$gen" 1; do
                        if ! kill -0 "$CPID" 2>/dev/null; then alive=0; break; fi
                        w=$((w + 1))
                        [ $w -gt 180 ] && break
                done
                if [ $alive = 0 ]; then
                        wait "$CPID"
                        bad "mr $i: the consumer died during the outage (exit status $?); restarting it as a supervisor would"
                        start_consumer "$cons" mr-consume
                fi
                if wait_completed mr_master mr "$gen" 180; then
                        ok "mr $i: the consumer completed generation $gen after the restart"
                else
                        bad "mr $i: generation $gen not completed within 180 s after the restart"
                fi
                kill -TERM "$CPID" 2>/dev/null
                wait "$CPID"
                check "mr $i: consumer (daemon) exits 0 on SIGTERM" test $? = 0
                if verify mr_child mr_master mr "master-restart-$i"; then OUTAGES=$((OUTAGES + 1)); fi
        done
        check "mr: retries were logged" grep -q "retrying the batch" "$LOGS/mr-consume.err"
        check "mr: no dead letters" test "$(dlq_count faults.dlq-mr)" = 0
        check "mr: no rejected documents in the log" test "$(grep -c 'rejected to' "$LOGS/mr-consume.err")" = 0
}

scenario_concurrent() {
        local contacts=$1 pid i=0 gen
        say "child written to during a complete sync ($contacts contacts)"
        tests/lib/make-db.sh cw_child --schema 5 --child 3 --contacts "$contacts" >/dev/null || { bad "make-db cw"; return; }
        tests/lib/make-db.sh cw_master --schema 5 >/dev/null
        cs_broker_ctl "topic civisync.cw:4"
        cs_broker_ctl "topic faults.dlq-cw:1"
        local prod cons lo hi
        prod=$(producer_conf cw cw_child)
        cons=$(consumer_conf cw cw_master g_cw cw faults.dlq-cw)
        lo=$(sql cw_child -e "SELECT MIN(id) FROM civicrm_contact WHERE contact_type = 'Individual'")
        hi=$(sql cw_child -e "SELECT MAX(id) FROM civicrm_contact WHERE contact_type = 'Individual'")
        sql cw_child -e "UPDATE civicrm_contact SET nick_name = 'tx-0' WHERE id IN ($lo, $hi)"
        "$CS_BIN/civisync-produce" -c "$prod" --complete >>"$LOGS/cw-produce.out" 2>>"$LOGS/cw-produce.err" &
        pid=$!
        # Each transaction keeps two invariants: contacts lo and hi (first and
        # last in keyset order) share one nick_name, and pair contacts come in twos.
        while kill -0 $pid 2>/dev/null; do
                i=$((i + 1))
                sql cw_child -e "START TRANSACTION;
                  UPDATE civicrm_contact SET nick_name = 'tx-$i' WHERE id = $lo;
                  INSERT INTO civicrm_contact (contact_type, first_name, last_name, sort_name, display_name)
                    VALUES ('Individual', 'pair-$i-a', 'Concurrent', 'Concurrent, a', 'a Concurrent'),
                           ('Individual', 'pair-$i-b', 'Concurrent', 'Concurrent, b', 'b Concurrent');
                  UPDATE civicrm_contact SET nick_name = 'tx-$i' WHERE id = $hi;
                  COMMIT;" || bad "concurrent write $i"
        done
        wait $pid
        check "cw: producer exit 0 under $i concurrent transactions" test $? = 0
        check "cw: consumer" consume_once "$cons" cw-consume
        local a b pa pb
        a=$(sql cw_master -e "SELECT c.nick_name FROM civicrm_contact c JOIN mapping_master_cw m ON m.master_entity_id = c.id AND m.entity_table = 'civicrm_contact' WHERE m.child_entity_id = $lo")
        b=$(sql cw_master -e "SELECT c.nick_name FROM civicrm_contact c JOIN mapping_master_cw m ON m.master_entity_id = c.id AND m.entity_table = 'civicrm_contact' WHERE m.child_entity_id = $hi")
        pa=$(sql cw_master -e "SELECT COUNT(*) FROM civicrm_contact WHERE first_name LIKE 'pair-%-a'")
        pb=$(sql cw_master -e "SELECT COUNT(*) FROM civicrm_contact WHERE first_name LIKE 'pair-%-b'")
        echo "    $i concurrent transactions; snapshot saw nick_name '$a' / '$b', $pa/$pb pair rows"
        check "cw: snapshot consistent (first and last contact from one transaction: '$a' = '$b')" test -n "$a" -a "$a" = "$b"
        check "cw: snapshot consistent (pairs whole: $pa = $pb)" test "$pa" = "$pb"
        check "cw: the next sync: producer" produce "$prod" cw-produce "${INCR_ARGS[@]}"
        check "cw: the next sync: consumer" consume_once "$cons" cw-consume
        a=$(sql cw_master -e "SELECT c.nick_name FROM civicrm_contact c JOIN mapping_master_cw m ON m.master_entity_id = c.id AND m.entity_table = 'civicrm_contact' WHERE m.child_entity_id = $lo")
        check "cw: the next sync caught the last concurrent write ('$a' = 'tx-$i')" test "$a" = "tx-$i"
        verify cw_child cw_master cw concurrent
        check "cw: no dead letters" test "$(dlq_count faults.dlq-cw)" = 0
}

scenario_two_consumers() {
        local contacts=$1 gen delay pa pb
        say "two consumers in one group, one SIGKILLed mid-batch ($contacts contacts)"
        tests/lib/make-db.sh tc_child --schema 5 --child 4 --contacts "$contacts" >/dev/null || { bad "make-db tc"; return; }
        tests/lib/make-db.sh tc_master --schema 5 >/dev/null
        cs_broker_ctl "topic civisync.tc:4"
        cs_broker_ctl "topic faults.dlq-tc:1"
        local prod cons
        prod=$(producer_conf tc tc_child)
        cons=$(consumer_conf tc tc_master g_tc tc faults.dlq-tc)
        check "tc: producer" produce "$prod" tc-produce --complete
        gen=$(state_gen tc)
        start_consumer "$cons" tc-a
        pa=$CPID
        start_consumer "$cons" tc-b
        pb=$CPID
        wait_log "$LOGS/tc-a.err" "assigned" 60
        wait_log "$LOGS/tc-b.err" "assigned" 60
        # Mid-sync: once the first batch is committed (rows are mapped), a
        # short random delay, then the kill, while the generation is open.
        local n=0 done_gen
        while [ $n -lt 600 ] && [ "$(sql tc_master -e "SELECT COUNT(*) FROM mapping_master_tc" 2>/dev/null || echo 0)" = "0" ]; do
                sleep 0.05
                n=$((n + 1))
        done
        rand_ms 250; delay=$RAND_MS
        sleep_ms "$delay"
        local b_assigned_before
        b_assigned_before=$(grep -c 'assigned civisync.tc' "$LOGS/tc-b.err")
        kill -KILL $pa 2>/dev/null
        wait $pa 2>/dev/null
        done_gen=$(sql tc_master -e "SELECT completed_generation FROM civisync_prefix WHERE prefix = 'tc'" 2>/dev/null)
        echo "    consumer A SIGKILLed ${delay} ms after the first rows were mapped (mapping rows $(mapped tc_master tc))"
        check "tc: A was killed before generation $gen completed" test "${done_gen:-0}" != "$gen"
        if wait_completed tc_master tc "$gen" 180; then
                ok "tc: consumer B took over A's partitions and completed generation $gen"
                KILLS=$((KILLS + 1))
        else
                bad "tc: generation $gen not completed by consumer B within 180 s"
        fi
        # A may have applied all of its partitions before the kill, so B can
        # complete the generation before the group notices A is gone (the
        # session timeout, 6 s): wait for the reassignment itself.
        n=0
        while [ $n -lt 600 ] && [ "$(grep -c 'assigned civisync.tc' "$LOGS/tc-b.err")" -le "$b_assigned_before" ]; do
                sleep 0.1
                n=$((n + 1))
        done
        check "tc: B was reassigned more partitions after the kill ($b_assigned_before assignment lines before it)" \
                test "$(grep -c 'assigned civisync.tc' "$LOGS/tc-b.err")" -gt "$b_assigned_before"
        kill -TERM $pb 2>/dev/null
        wait $pb
        check "tc: consumer B exits 0 on SIGTERM" test $? = 0
        verify tc_child tc_master tc two-consumers
        check "tc: no dead letters" test "$(dlq_count faults.dlq-tc)" = 0
}

# Checksums every table of DB except those named (one per line: "table checksum").
checksums() { # DB [EXCLUDED...]
        local db=$1 t; shift
        for t in $(sql "$db" -e "SHOW TABLES"); do
                [[ " $* " == *" $t "* ]] && continue
                sql "$db" -e "CHECKSUM TABLE \`$t\` EXTENDED"
        done
}

# Normalized rows of prefix H on the master, without the rows of the test's
# own new contacts (child ids 900000+).
h_rows() { "$TOOL" dump master h_master H --unmapped | awk -F'\t' '$1 == "U" || $2 < 900000'; }

scenario_hostile() {
        say "hostile documents on hostile.H (raw producer)"
        tests/lib/make-db.sh h_child --schema 5 --child 2 --contacts 40 >/dev/null || { bad "make-db h"; return; }
        tests/lib/make-db.sh h_master --schema 5 >/dev/null
        cs_broker_ctl "topic hostile.H:2"
        cs_broker_ctl "topic hostile.dead-letter:1"
        HP=$(producer_conf H h_child)
        # No allow-list: the consumer subscribes by pattern ^hostile\.[A-Za-z0-9_]{1,32}$.
        HC=$(consumer_conf h h_master g_h '*' hostile.dead-letter hostile.)
        check "hostile: baseline produced to a file" produce "$HP" h-produce --complete --output "$CS_TEST_TMPDIR/h.ndjson"
        check "hostile: baseline sent raw" "$TOOL" send "$CS_TEST_BROKERS" hostile.H "$CS_TEST_TMPDIR/h.ndjson" baseline "$LOGS/h.baseline.tsv"
        check "hostile: baseline consumed" consume_once "$HC" h-consume
        verify h_child h_master H hostile-baseline
        checksums h_master civicrm_contact mapping_master_H civisync_prefix civisync_replay_end civisync_parked civisync_parked_doc civisync_dead_letter civisync_offset civisync_file >"$LOGS/h.checksums.before"
        h_rows >"$LOGS/h.rows.before"
        local mark; mark=$(wc -l <"$LOGS/h-consume.err")

        check "hostile: documents sent" "$TOOL" send "$CS_TEST_BROKERS" hostile.H "$CS_TEST_TMPDIR/h.ndjson" attack "$LOGS/h.manifest.tsv"
        "$CS_BIN/civisync-consume" -c "$HC" --once >>"$LOGS/h-consume.out" 2>>"$LOGS/h-consume.err"
        check "hostile: consumer ran through every hostile document (exit 0)" test $? = 0
        tail -n +"$((mark + 1))" "$LOGS/h-consume.err" >"$LOGS/h-consume.attack.err"
        "$TOOL" dlq "$CS_TEST_BROKERS" hostile.dead-letter >"$LOGS/h.dlq.tsv"

        # Every DLQ document is on the dead-letter topic with its headers, and logged.
        local topic part off expect name detail n_dlq=0 n_other=0 n_sent=0 missing=0
        while IFS=$'\t' read -r topic part off expect name detail; do
                case "$expect" in RESEND|VALID|BASELINE) continue ;; esac
                n_sent=$((n_sent + 1))
                if [ "$expect" = DLQ ]; then
                        local hit
                        hit=$(awk -F'\t' -v t="$topic" -v p="$part" -v o="$off" '$1 == t && $2 == p && $3 == o && $6 != "" && $6 != "-"' "$LOGS/h.dlq.tsv" | head -n 1)
                        if [ -n "$hit" ] && grep -q "$topic \[$part\] offset $off .*rejected to hostile.dead-letter" "$LOGS/h-consume.attack.err"; then
                                n_dlq=$((n_dlq + 1))
                                echo "    DLQ   $name: $(echo "$hit" | cut -f6 | cut -c1-110)"
                        else
                                missing=$((missing + 1))
                                bad "hostile $name (offset $off): not on the dead-letter topic with headers, or no log line"
                        fi
                        continue
                fi
                n_other=$((n_other + 1))
                if awk -F'\t' -v t="$topic" -v p="$part" -v o="$off" '$1 == t && $2 == p && $3 == o' "$LOGS/h.dlq.tsv" | grep -q .; then
                        bad "hostile $name: dead-lettered, expected $expect"
                        continue
                fi
                case "$expect" in
                APPLIED)
                        check "hostile $name: applied verbatim as data (child id $detail)" \
                                test "$(sql h_master -e "SELECT COUNT(*) FROM civicrm_contact c JOIN mapping_master_H m ON m.entity_table = 'civicrm_contact' AND m.master_entity_id = c.id WHERE m.child_entity_id = $detail")" = 1 ;;
                PARKED_DOC)
                        check "hostile $name: parked in civisync_parked_doc" \
                                test "$(sql h_master -e "SELECT COUNT(*) FROM civisync_parked_doc WHERE prefix = 'H' AND doc_key = '$detail' AND target_child_id = 8888888")" = 1 ;;
                PARKED_REF)
                        check "hostile $name: row applied, reference parked in civisync_parked" \
                                test "$(sql h_master -e "SELECT COUNT(*) FROM civisync_parked WHERE prefix = 'H' AND child_entity_id = $detail AND column_name = 'employer_id' AND target_child_id = 7777777")" = 1 ;;
                NOOP)
                        # Not dead-lettered (checked above); no mapping row names
                        # the id, the consumer read past it (the valid document
                        # after it applied) and the checksums below show that
                        # nothing else changed.
                        check "hostile $name: a no-op (no mapping for child id 987654)" \
                                test "$(sql h_master -e "SELECT COUNT(*) FROM mapping_master_H WHERE child_entity_id = 987654")" = 0 ;;
                IGNORED)
                        check "hostile $name: ignored with a warning" grep -q "end of generation $detail ignored" "$LOGS/h-consume.attack.err"
                        check "hostile $name: no replay_end row for it" test "$(sql h_master -e "SELECT COUNT(*) FROM civisync_replay_end WHERE prefix = 'H' AND generation = $detail")" = 0 ;;
                LAST_ERROR)
                        check "hostile $name: error in civisync_prefix.last_error" \
                                test "$(sql h_master -e "SELECT COUNT(*) FROM civisync_prefix WHERE prefix = 'H' AND completed_generation = $detail AND last_error LIKE '%contact sent 999999%'")" = 1
                        check "hostile $name: logged" grep -q "end marker counts differ" "$LOGS/h-consume.attack.err" ;;
                GENERATION)
                        check "hostile $name: generation $detail begun, logged" grep -q "complete sync generation $detail begins" "$LOGS/h-consume.attack.err" ;;
                NOT_CONSUMED)
                        check "hostile $name: never consumed (not subscribed), no dead letter" \
                                test "$(awk -F'\t' -v t="$topic" '$1 == t' "$LOGS/h.dlq.tsv" | wc -l)" = 0
                        check "hostile $name: the consumer never assigned $topic" \
                                test "$(grep -c "assigned $topic" "$LOGS/h-consume.err")" = 0 ;;
                esac
        done <"$LOGS/h.manifest.tsv"
        check "hostile: no dead letter beyond the expected ones" test "$(wc -l <"$LOGS/h.dlq.tsv")" = "$n_dlq"
        # The reset that never got an end leaves the prefix in that generation.
        local gc
        gc=$(awk -F'\t' '$5 == "reset-with-no-end" {print $6}' "$LOGS/h.manifest.tsv")
        check "hostile: reset with no end: generation $gc current, nothing swept, not completed" \
                test "$(sql h_master -e "SELECT generation = $gc AND completed_generation < $gc FROM civisync_prefix WHERE prefix = 'H'")" = 1
        # Injection strings stored byte for byte.
        check "hostile: injection strings stored byte for byte" test "$(sql h_master -e "
                SELECT c.first_name = 'Robert''); DROP TABLE civicrm_contact;--' AND c.last_name = ''' OR ''1''=''1'
                   AND c.nick_name = '\\\\''; SHUTDOWN; -- \`x\` \"y\" %s %n _%'
                   AND c.external_identifier = 'H:ext''; DELETE FROM civicrm_contact; --'
                FROM civicrm_contact c JOIN mapping_master_H m ON m.entity_table = 'civicrm_contact' AND m.master_entity_id = c.id
                WHERE m.child_entity_id = 900201")" = 1
        check "hostile: escaped NUL stored as a NUL byte" test "$(sql h_master -e "
                SELECT HEX(c.first_name) FROM civicrm_contact c JOIN mapping_master_H m ON m.entity_table = 'civicrm_contact' AND m.master_entity_id = c.id
                WHERE m.child_entity_id = 900203")" = "6E756C0062797465"
        # Every valid document interleaved with the hostile ones applied.
        local nvalid
        nvalid=$(awk -F'\t' '$4 == "VALID"' "$LOGS/h.manifest.tsv" | wc -l)
        check "hostile: all $nvalid interleaved valid documents applied (the consumer kept going)" test "$(sql h_master -e "
                SELECT COUNT(*) FROM civicrm_contact c JOIN mapping_master_H m ON m.entity_table = 'civicrm_contact' AND m.master_entity_id = c.id
                WHERE m.child_entity_id BETWEEN 900101 AND 900199 AND c.first_name = CONCAT('Valid-', m.child_entity_id - 900100)")" = "$nvalid"
        # Nothing else on the master changed.
        checksums h_master civicrm_contact mapping_master_H civisync_prefix civisync_replay_end civisync_parked civisync_parked_doc civisync_dead_letter civisync_offset civisync_file >"$LOGS/h.checksums.after"
        check "hostile: every other master table unchanged (CHECKSUM TABLE, $(wc -l <"$LOGS/h.checksums.after") tables)" \
                cmp -s "$LOGS/h.checksums.before" "$LOGS/h.checksums.after"
        h_rows >"$LOGS/h.rows.after"
        check "hostile: every contact/mapping row outside the test's own new ids unchanged (incl. the master's own rows)" \
                cmp -s "$LOGS/h.rows.before" "$LOGS/h.rows.after"
        H_SENT=$((H_SENT + n_sent))
        H_DLQ=$((H_DLQ + n_dlq))
        H_OTHER=$((H_OTHER + n_other))
        say "  hostile: $n_sent sent, $n_dlq dead-lettered, $n_other handled otherwise, $missing missing"
}

# A 10 MB document (above max_document_bytes): must be dead-lettered and the
# consumer must keep going.
scenario_hostile_big() {
        say "hostile: a 10 MB document on hostile.H partition 1"
        [ -n "${HC:-}" ] || { bad "hostile_big needs hostile first"; return; }
        local mark before st
        mark=$(wc -l <"$LOGS/h-consume.err")
        before=$(wc -l <"$LOGS/h.dlq.tsv")
        check "hostile-big: sent" "$TOOL" send "$CS_TEST_BROKERS" hostile.H "$CS_TEST_TMPDIR/h.ndjson" big "$LOGS/h.big.tsv"
        H_SENT=$((H_SENT + 1))
        "$CS_BIN/civisync-consume" -c "$HC" --once >>"$LOGS/h-consume.out" 2>>"$LOGS/h-consume.err"
        st=$?
        check "hostile-big: consumer keeps going (exit 0; got $st)" test "$st" = 0
        "$TOOL" dlq "$CS_TEST_BROKERS" hostile.dead-letter >"$LOGS/h.dlq.tsv"
        if [ "$(awk -F'\t' '$1 == "hostile.H" && $2 == "1" && $3 == "0"' "$LOGS/h.dlq.tsv" | wc -l)" -ge 1 ]; then
                ok "hostile-big: the 10 MB document is on the dead-letter topic"
                H_DLQ=$((H_DLQ + 1))
        else
                bad "hostile-big: the 10 MB document is not on the dead-letter topic ($(tail -n +"$((mark + 1))" "$LOGS/h-consume.err" | grep -m1 'ERROR' | cut -c1-160))"
        fi
        check "hostile-big: the valid document after it applied" test "$(sql h_master -e "
                SELECT COUNT(*) FROM mapping_master_H WHERE entity_table = 'civicrm_contact' AND child_entity_id = 900190")" = 1
}

# ---------------------------------------------------------------- main
trap 'cs_services_stop' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
started=$(date +%s)
if ! cs_services_start; then
        echo "faults: FAILED to start MariaDB / civisync-broker" >&2
        exit 1
fi
RANDOM=$SEED
say "mode $MODE, seed $SEED (FAULTS_SEED=$SEED replays the kill points), logs in $LOGS"
if [ "$MODE" = short ]; then
        want kill_complete && scenario_kill_complete 4 600 1000
        want kill_incremental && scenario_kill_incremental 1 2 1500
        want producer_kill && scenario_producer_kill 2 150
        want broker_outage && scenario_broker_outage
        want master_restart && scenario_master_restart 1 2000
        want concurrent && scenario_concurrent 600
        want two_consumers && scenario_two_consumers 2000
        want hostile && scenario_hostile
        want hostile_big && scenario_hostile_big
        want fk_nested_delete && scenario_fk_nested_delete
        want input_kill && scenario_input_kill 3 1500 600
else
        want kill_complete && scenario_kill_complete 20 3000 2500
        want kill_incremental && scenario_kill_incremental 4 5 2500
        want producer_kill && scenario_producer_kill 3 700
        want broker_outage && scenario_broker_outage
        want master_restart && scenario_master_restart 2 2000
        want concurrent && scenario_concurrent 3000
        want two_consumers && scenario_two_consumers 3000
        want hostile && scenario_hostile
        want hostile_big && scenario_hostile_big
        want fk_nested_delete && scenario_fk_nested_delete
        want input_kill && scenario_input_kill 10 3000 3000
fi

echo
echo "faults ($MODE, seed $SEED, $(( $(date +%s) - started )) s):"
echo "  kill points survived:        $KILLS"
echo "  outages survived:            $OUTAGES"
echo "  hostile documents sent:      $H_SENT (dead-lettered $H_DLQ, handled otherwise $H_OTHER)"
echo "  verify differences:          $DIFFS"
echo "  checks: $CHECKS, failed: ${#FAILED[@]}"
for f in "${FAILED[@]}"; do echo "    FAILED: $f"; done
[ ${#FAILED[@]} = 0 ] && [ "$DIFFS" = 0 ]
