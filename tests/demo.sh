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
#   6. SQL edits in child_alpha (rename, phone added, email deleted, group membership added,
#      tag removed, note added, one contact hard-deleted, one trashed), an incremental
#      producer run (summary + wall time), one consumer pass, the edits shown on the master
#   7. an incremental run with nothing changed: 0 documents, and its wall time
#   8. civisync-verify of alpha and beta: both must report 0 differences
#   9. civisync-consume --status
#  10. drift: three alpha rows deleted in the master; verify sees it; --resync alpha --once
#      repairs it (verify: 0 differences); beta's mapping table and rows are unchanged
#  11. disaster recovery: child_beta dropped, recreated empty (schema + seed) and rebuilt from
#      the master by civisync-restore; verify: 0 differences; --rebuild-state, then an
#      incremental run sends nothing
#  12. real time: --install-triggers on child_alpha, civisync-consume as a daemon and
#      civisync-produce --follow; a rename on the child reaches the master (time shown);
#      both stop on SIGTERM with exit 0; --remove-triggers
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
STEP_SECS=0
STEP_LOG=""
declare -A VERIFY_LINE=()
export LC_NUMERIC=C   # EPOCHREALTIME and awk use a decimal point

say() { printf '\n== %s\n' "$*"; }
fail() { echo "demo: FAILED at step '$1'${2:+: $2}" >&2; exit 1; }

# step NAME CMD...: runs CMD with its output in $CS_TEST_TMPDIR/logs/NN-NAME.log;
# on failure prints the log tail and exits 1 naming the step. Prints CMD's last stdout line.
# Sets STEP_SECS (wall time, seconds with 2 decimals) and STEP_LOG (log path without .out/.err).
step() {
        local name=$1; shift
        STEP_NO=$((STEP_NO + 1))
        local log; log=$(printf '%s/logs/%02d-%s.log' "$CS_TEST_TMPDIR" "$STEP_NO" "${name//[^A-Za-z0-9_.-]/_}")
        local t0=$EPOCHREALTIME
        printf '  %-44s ' "$name"
        "$@" >"$log.out" 2>"$log.err"
        local rc=$?
        STEP_SECS=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
        STEP_LOG=$log
        if [ $rc -ne 0 ]; then
                echo "FAILED (exit $rc)"
                echo "---- stderr (tail) ----" >&2; tail -n 25 "$log.err" >&2
                echo "---- stdout (tail) ----" >&2; tail -n 10 "$log.out" >&2
                fail "$name" "exit status $rc, logs in $log.{out,err}"
        fi
        echo "ok ($STEP_SECS s) $(tail -n 1 "$log.out" | cut -c1-100)"
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
# The apply rate: rows upserted over the time from the first reset applied
# to the last end marker applied (the consumer's log), i.e. without the
# group join before it.
apply_secs=$(awk '/complete sync generation .* begins/ && !t0 { t0 = $1 }
                  / complete: / { t1 = $1 }
                  END { print t0, t1 }' "$STEP_LOG.err" |
             { read -r a b; [ -n "$b" ] && echo $(( $(date -d "$b" +%s%N) - $(date -d "$a" +%s%N) )); })
apply_rows=$(grep -o '[0-9]* rows upserted' "$STEP_LOG.out" | tail -n 1 | cut -d' ' -f1)
if [ -n "$apply_secs" ] && [ "${apply_rows:-0}" -gt 0 ] && [ "$apply_secs" -gt 0 ]; then
        awk -v r="$apply_rows" -v ns="$apply_secs" 'BEGIN {
                printf "  applied %d rows in %.2f s = %.0f rows/s (first reset to last end marker)\n",
                       r, ns / 1e9, r / (ns / 1e9) }'
fi

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

# --- further steps: incremental runs, verify, status, resync after drift on the master ---

A=alpha
ADB=${CHILD_DB[alpha]}
CONS="$CS_TEST_TMPDIR/consumer.cfg"

# master id of child row ID of TABLE for PREFIX, or "" when unmapped.
master_id() {
        sql "$MASTER" -e "SELECT master_entity_id FROM \`mapping_master_$1\`
                          WHERE entity_table = '$2' AND child_entity_id = $3"
}
# COUNT(*) on DB for a WHERE clause (ids only come from this script's own queries).
count_where() { sql "$1" -e "SELECT COUNT(*) FROM \`$2\` WHERE $3"; }
# Content checksum of every master row PREFIX maps to: per entity table, row count and
# BIT_XOR of CRC32 over all columns, of the master rows reached through the mapping.
prefix_rows_checksum() {
        local p=$1 t cols
        for t in $(sql "$MASTER" -e "SELECT DISTINCT entity_table FROM \`mapping_master_$p\` ORDER BY 1"); do
                [[ "$t" =~ ^[A-Za-z0-9_]{1,64}$ ]] || continue
                cols=$(sql -e "SELECT GROUP_CONCAT(CONCAT('QUOTE(x.\`', column_name, '\`)') ORDER BY ordinal_position)
                               FROM information_schema.columns WHERE table_schema = '$MASTER' AND table_name = '$t'")
                printf '%s\t%s\n' "$t" "$(sql "$MASTER" -e "SELECT CONCAT(COUNT(*), ' rows, crc ', COALESCE(BIT_XOR(CRC32(CONCAT_WS('|', $cols))), 0))
                        FROM \`mapping_master_$p\` m JOIN \`$t\` x ON x.id = m.master_entity_id WHERE m.entity_table = '$t'")"
        done
}
# One row of the "edits on the master" table; marks MISMATCH (and fails the demo after the
# table) when the child's and the master's values differ.
EDIT_BAD=0
show_edit() {   # show_edit WHAT CHILD MASTER
        local mark=ok
        if [ "$2" != "$3" ]; then mark="MISMATCH"; EDIT_BAD=1; fi
        printf '  %-52s %-24s %-24s %s\n' "$1" "$2" "$3" "$mark"
}

say "6. edits in $ADB made directly in SQL, then an incremental run"
# Pick the rows to edit from the data (works for any --contacts size).
# The hard delete does what CiviCRM's contact delete does before the row goes: clear the
# employer_id/primary_contact_id pointing at it, delete its entity tags, its notes and the
# notes on its relationships; the FOREIGN KEYs then cascade (emails, relationships, ...).
# The contact to hard-delete: the organization (not the domain's) employing the most contacts.
DEL=$(sql "$ADB" -e "SELECT e.id FROM civicrm_contact e JOIN civicrm_contact c ON c.employer_id = e.id
                     WHERE e.id NOT IN (SELECT contact_id FROM civicrm_domain WHERE contact_id IS NOT NULL)
                     GROUP BY e.id ORDER BY COUNT(*) DESC, e.id LIMIT 1")
# Six distinct live individuals with an email, none employed by DEL.
mapfile -t IND < <(sql "$ADB" -e "SELECT c.id FROM civicrm_contact c
                     WHERE c.contact_type = 'Individual' AND c.is_deleted = 0
                       AND (c.employer_id IS NULL OR c.employer_id <> ${DEL:-0})
                       AND EXISTS (SELECT 1 FROM civicrm_email e WHERE e.contact_id = c.id)
                     ORDER BY c.id LIMIT 6")
if [ -z "$DEL" ] || [ "${#IND[@]}" != 6 ]; then
        fail "pick rows to edit" "child too small (need an employer and 6 individuals)"
fi
REN=${IND[0]} PHO=${IND[1]} EML=${IND[2]} GRP=${IND[3]} NOTE=${IND[4]} TRASH=${IND[5]}
EMAIL_ID=$(sql "$ADB" -e "SELECT MIN(id) FROM civicrm_email WHERE contact_id = $EML")
GROUP_ID=$(sql "$ADB" -e "SELECT MIN(id) FROM civicrm_group WHERE saved_search_id IS NULL
                          AND id NOT IN (SELECT group_id FROM civicrm_group_contact WHERE contact_id = $GRP)")
ETAG=$(sql "$ADB" -e "SELECT et.id FROM civicrm_entity_tag et JOIN civicrm_contact c ON c.id = et.entity_id
                      WHERE et.entity_table = 'civicrm_contact' AND c.id NOT IN ($DEL, $TRASH)
                      ORDER BY et.id LIMIT 1")
ETAG_CONTACT=$(sql "$ADB" -e "SELECT entity_id FROM civicrm_entity_tag WHERE id = $ETAG")
if [ -z "$EMAIL_ID" ] || [ -z "$GROUP_ID" ] || [ -z "$ETAG" ]; then
        fail "pick rows to edit" "no email/group/entity tag to edit"
fi
DEL_MASTER=$(master_id $A civicrm_contact "$DEL")
DEL_EMPLOYEES=$(count_where "$ADB" civicrm_contact "employer_id = $DEL")
REN_NAME="Renata Q. Renamed"
step "edit $ADB (SQL)" sql "$ADB" -e "
        UPDATE civicrm_contact SET first_name = 'Renata', middle_name = 'Q.', last_name = 'Renamed',
               display_name = '$REN_NAME', sort_name = 'Renamed, Renata' WHERE id = $REN;
        INSERT INTO civicrm_phone (contact_id, location_type_id, is_primary, phone, phone_numeric, phone_type_id)
               VALUES ($PHO, 2, 0, '+1 555 0100 42', '155501004', 2);
        DELETE FROM civicrm_email WHERE id = $EMAIL_ID;
        INSERT INTO civicrm_group_contact (group_id, contact_id, status) VALUES ($GROUP_ID, $GRP, 'Added');
        DELETE FROM civicrm_entity_tag WHERE id = $ETAG;
        INSERT INTO civicrm_note (entity_table, entity_id, note, contact_id, subject, privacy)
               VALUES ('civicrm_contact', $NOTE, 'Added by the civisync demo', $NOTE, 'Demo note', '0');
        UPDATE civicrm_contact SET employer_id = NULL WHERE employer_id = $DEL;
        UPDATE civicrm_contact SET primary_contact_id = NULL WHERE primary_contact_id = $DEL;
        DELETE FROM civicrm_entity_tag WHERE entity_table = 'civicrm_contact' AND entity_id = $DEL;
        DELETE FROM civicrm_note WHERE entity_table = 'civicrm_contact' AND entity_id = $DEL;
        DELETE n FROM civicrm_note n JOIN civicrm_relationship r ON r.id = n.entity_id
               WHERE n.entity_table = 'civicrm_relationship' AND $DEL IN (r.contact_id_a, r.contact_id_b);
        DELETE FROM civicrm_contact WHERE id = $DEL;
        UPDATE civicrm_contact SET is_deleted = 1 WHERE id = $TRASH;
        SELECT 'edits applied';"
echo "  renamed contact $REN, phone added to $PHO, email $EMAIL_ID of $EML deleted, $GRP added to group $GROUP_ID,"
echo "  entity tag $ETAG of $ETAG_CONTACT removed, note added on $NOTE, $TRASH trashed (is_deleted = 1),"
echo "  organization $DEL hard-deleted (its $DEL_EMPLOYEES employees' employer_id cleared first)"
step "produce $A (incremental)" "$CS_BIN/civisync-produce" -c "$CS_TEST_TMPDIR/$A.cfg"
INCR_SUMMARY=$(tail -n 1 "$STEP_LOG.out") INCR_SECS=$STEP_SECS
step "consume --once" "$CS_BIN/civisync-consume" -c "$CONS" --once
CONSUME_SUMMARY=$(tail -n 1 "$STEP_LOG.out")
echo "  incremental run: $INCR_SUMMARY"
echo "  incremental run wall time: $INCR_SECS s"
echo "  consumer: $CONSUME_SUMMARY"

# The edits as seen on the master (through mapping_master_alpha).
m_of() { master_id $A civicrm_contact "$1"; }
printf '\n  %-52s %-24s %-24s\n' "edit (child contact id)" child master
printf '  %-52s %-24s %-24s\n' ---------------------------------------------------- ------------------------ ------------------------
m=$(m_of "$REN")
show_edit "renamed $REN: display_name (master id $m)" \
        "$(sql "$ADB" -e "SELECT display_name FROM civicrm_contact WHERE id = $REN")" \
        "$(sql "$MASTER" -e "SELECT display_name FROM civicrm_contact WHERE id = ${m:-0}")"
m=$(m_of "$PHO")
show_edit "phone added to $PHO: phones" "$(count_where "$ADB" civicrm_phone "contact_id = $PHO")" \
        "$(count_where "$MASTER" civicrm_phone "contact_id = ${m:-0}")"
m=$(m_of "$EML")
show_edit "email $EMAIL_ID of $EML deleted: emails" "$(count_where "$ADB" civicrm_email "contact_id = $EML")" \
        "$(count_where "$MASTER" civicrm_email "contact_id = ${m:-0}")"
m=$(m_of "$GRP")
show_edit "$GRP added to a group: memberships" "$(count_where "$ADB" civicrm_group_contact "contact_id = $GRP")" \
        "$(count_where "$MASTER" civicrm_group_contact "contact_id = ${m:-0}")"
m=$(m_of "$ETAG_CONTACT")
show_edit "tag removed from $ETAG_CONTACT: entity tags" \
        "$(count_where "$ADB" civicrm_entity_tag "entity_table = 'civicrm_contact' AND entity_id = $ETAG_CONTACT")" \
        "$(count_where "$MASTER" civicrm_entity_tag "entity_table = 'civicrm_contact' AND entity_id = ${m:-0}")"
m=$(m_of "$NOTE")
show_edit "note added on $NOTE: notes" \
        "$(count_where "$ADB" civicrm_note "entity_table = 'civicrm_contact' AND entity_id = $NOTE")" \
        "$(count_where "$MASTER" civicrm_note "entity_table = 'civicrm_contact' AND entity_id = ${m:-0}")"
m=$(m_of "$TRASH")
show_edit "trashed $TRASH: is_deleted" "$(sql "$ADB" -e "SELECT is_deleted FROM civicrm_contact WHERE id = $TRASH")" \
        "$(sql "$MASTER" -e "SELECT is_deleted FROM civicrm_contact WHERE id = ${m:-0}")"
show_edit "hard-deleted $DEL: contact rows (master id $DEL_MASTER)" "$(count_where "$ADB" civicrm_contact "id = $DEL")" \
        "$(count_where "$MASTER" civicrm_contact "id = ${DEL_MASTER:-0}")"
show_edit "hard-deleted $DEL: mapping entries" "0" "$(count_where "$MASTER" "mapping_master_$A" \
        "entity_table = 'civicrm_contact' AND child_entity_id = $DEL")"
show_edit "hard-deleted $DEL: master contacts employed by it" "$(count_where "$ADB" civicrm_contact "employer_id = $DEL")" \
        "$(count_where "$MASTER" civicrm_contact "employer_id = ${DEL_MASTER:-0}")"
[ $EDIT_BAD = 0 ] || fail "incremental edits on the master" "see MISMATCH above"

say "7. incremental run with nothing changed"
step "produce $A (incremental, no change)" "$CS_BIN/civisync-produce" -c "$CS_TEST_TMPDIR/$A.cfg"
NOCHANGE_SUMMARY=$(tail -n 1 "$STEP_LOG.out") NOCHANGE_SECS=$STEP_SECS
echo "  no-change run (0 documents expected): $NOCHANGE_SUMMARY"
echo "  no-change incremental run wall time: $NOCHANGE_SECS s"
# The summary counts what was sent as "N messages" (documents + tombstones): must be 0.
[[ "$NOCHANGE_SUMMARY" =~ [^0-9]0\ (messages|documents)[^A-Za-z] ]] ||
        fail "incremental run with nothing changed" "expected '0 messages' (0 documents) in the summary"

say "8. civisync-verify: every child against the master"
for p in "${PREFIXES[@]}"; do
        step "verify $p" "$CS_BIN/civisync-verify" --child-config "$CS_TEST_TMPDIR/$p.cfg" --master-config "$CONS"
        VERIFY_LINE[$p]=$(tail -n 1 "$STEP_LOG.out")
done
for p in "${PREFIXES[@]}"; do echo "  ${VERIFY_LINE[$p]}"; done

say "9. civisync-consume --status"
step "consume --status" "$CS_BIN/civisync-consume" -c "$CONS" --status
sed 's/^/  | /' "$STEP_LOG.out"

say "10. drift on the master, repaired by --resync $A (offset reset)"
# Three alpha rows deleted directly in the master: an email, a phone and a group membership
# of mapped contacts (their mapping entries stay, pointing at nothing).
DRIFT_EMAIL=$(sql "$MASTER" -e "SELECT MIN(master_entity_id) FROM \`mapping_master_$A\` m JOIN civicrm_email x
                                ON x.id = m.master_entity_id WHERE m.entity_table = 'civicrm_email'")
DRIFT_PHONE=$(sql "$MASTER" -e "SELECT MIN(master_entity_id) FROM \`mapping_master_$A\` m JOIN civicrm_phone x
                                ON x.id = m.master_entity_id WHERE m.entity_table = 'civicrm_phone'")
DRIFT_GC=$(sql "$MASTER" -e "SELECT MIN(master_entity_id) FROM \`mapping_master_$A\` m JOIN civicrm_group_contact x
                             ON x.id = m.master_entity_id WHERE m.entity_table = 'civicrm_group_contact'")
B_MAP_BEFORE=$(sql "$MASTER" -e "CHECKSUM TABLE \`mapping_master_beta\` EXTENDED" | cut -f2)
prefix_rows_checksum beta >"$CS_TEST_TMPDIR/beta-rows-before"
step "delete 3 $A rows in $MASTER (SQL)" sql "$MASTER" -e "
        DELETE FROM civicrm_email WHERE id = $DRIFT_EMAIL;
        DELETE FROM civicrm_phone WHERE id = $DRIFT_PHONE;
        DELETE FROM civicrm_group_contact WHERE id = $DRIFT_GC;
        SELECT 'deleted master email $DRIFT_EMAIL, phone $DRIFT_PHONE, group_contact $DRIFT_GC'"
# verify must now see the drift (exit 1 = differences): run it outside step().
"$CS_BIN/civisync-verify" --child-config "$CS_TEST_TMPDIR/$A.cfg" --master-config "$CONS" \
        >"$CS_TEST_TMPDIR/logs/verify-drift.out" 2>"$CS_TEST_TMPDIR/logs/verify-drift.err"
rc=$?
printf '  %-44s exit %s: %s\n' "verify $A (after the drift)" "$rc" "$(tail -n 1 "$CS_TEST_TMPDIR/logs/verify-drift.out")"
[ $rc = 1 ] || fail "verify $A after the drift" "expected exit 1 (differences), got $rc"
step "consume --resync $A --once" "$CS_BIN/civisync-consume" -c "$CONS" --resync "$A" --once
RESYNC_SUMMARY=$(tail -n 1 "$STEP_LOG.out")
step "verify $A (after the resync)" "$CS_BIN/civisync-verify" --child-config "$CS_TEST_TMPDIR/$A.cfg" --master-config "$CONS"
RESYNC_VERIFY=$(tail -n 1 "$STEP_LOG.out")
step "verify beta (after the resync)" "$CS_BIN/civisync-verify" --child-config "$CS_TEST_TMPDIR/beta.cfg" --master-config "$CONS"
B_MAP_AFTER=$(sql "$MASTER" -e "CHECKSUM TABLE \`mapping_master_beta\` EXTENDED" | cut -f2)
prefix_rows_checksum beta >"$CS_TEST_TMPDIR/beta-rows-after"
echo "  resync: $RESYNC_SUMMARY"
echo "  $RESYNC_VERIFY"
printf '  CHECKSUM TABLE mapping_master_beta: before %s, after %s\n' "$B_MAP_BEFORE" "$B_MAP_AFTER"
if [ -z "$B_MAP_BEFORE" ] || [ "$B_MAP_BEFORE" != "$B_MAP_AFTER" ]; then
        fail "resync $A" "mapping_master_beta changed"
fi
if ! cmp -s "$CS_TEST_TMPDIR/beta-rows-before" "$CS_TEST_TMPDIR/beta-rows-after"; then
        diff "$CS_TEST_TMPDIR/beta-rows-before" "$CS_TEST_TMPDIR/beta-rows-after" | sed 's/^/  /' >&2
        fail "resync $A" "master rows mapped from beta changed"
fi
echo "  beta's master rows unchanged: $(wc -l <"$CS_TEST_TMPDIR/beta-rows-after") tables, $(awk -F'\t' '{split($2, a, " "); s += a[1]} END {print s + 0}' "$CS_TEST_TMPDIR/beta-rows-after") rows, same content checksums"

B=beta
BDB=${CHILD_DB[beta]}
say "11. disaster recovery: $B's database lost, rebuilt from the master (civisync-restore)"
step "drop $BDB, create it empty (schema + seed)" bash -c "
        tests/lib/make-db.sh '$BDB' --schema 5 --replace && echo 'fresh CiviCRM install in $BDB'"
step "restore $B --dry-run" "$CS_BIN/civisync-restore" --master-config "$CONS" --prefix "$B" \
        --into "$CS_TEST_TMPDIR/$B.cfg" --dry-run
step "restore $B" "$CS_BIN/civisync-restore" --master-config "$CONS" --prefix "$B" \
        --into "$CS_TEST_TMPDIR/$B.cfg"
grep -E '^(civicrm_contact|civicrm_email|civicrm_group):' "$STEP_LOG.out" | sed 's/^/  | /'
step "verify $B (restored)" "$CS_BIN/civisync-verify" --child-config "$CS_TEST_TMPDIR/$B.cfg" --master-config "$CONS"
RESTORE_VERIFY=$(tail -n 1 "$STEP_LOG.out")
step "produce $B --rebuild-state" "$CS_BIN/civisync-produce" -c "$CS_TEST_TMPDIR/$B.cfg" --rebuild-state
step "produce $B (incremental after restore)" "$CS_BIN/civisync-produce" -c "$CS_TEST_TMPDIR/$B.cfg"
RESTORE_INCR=$(tail -n 1 "$STEP_LOG.out")
case "$RESTORE_INCR" in
*"; 0 messages,"*) ;;
*) fail "produce $B after the restore" "expected 0 messages: $RESTORE_INCR" ;;
esac

say "12. real time: civisync-produce --follow beside civisync-consume as a daemon"
# Triggers record alpha's changes in civisync_outbox; --follow sends them every 200 ms.
step "install triggers in $ADB" "$CS_BIN/civisync-produce" -c "$CS_TEST_TMPDIR/$A.cfg" --install-triggers
"$CS_BIN/civisync-consume" -c "$CONS" >"$CS_TEST_TMPDIR/logs/follow-consume.out" 2>"$CS_TEST_TMPDIR/logs/follow-consume.err" &
FOLLOW_CONS_PID=$!
"$CS_BIN/civisync-produce" -c "$CS_TEST_TMPDIR/$A.cfg" --follow >"$CS_TEST_TMPDIR/logs/follow.out" 2>"$CS_TEST_TMPDIR/logs/follow.err" &
FOLLOW_PID=$!
trap 'kill -TERM $FOLLOW_PID $FOLLOW_CONS_PID 2>/dev/null; cs_services_stop' EXIT
for _ in $(seq 1 300); do   # the start-up reconciliation (an incremental run), the consumer's join
        grep -q 'reconciliation (' "$CS_TEST_TMPDIR/logs/follow.err" &&
                grep -q 'assigned ' "$CS_TEST_TMPDIR/logs/follow-consume.err" && break
        kill -0 $FOLLOW_PID 2>/dev/null || fail "--follow" "exited early: $(tail -n 3 "$CS_TEST_TMPDIR/logs/follow.err")"
        sleep 0.2
done
RT_CID=$(sql "$ADB" -e "SELECT MAX(id) FROM civicrm_contact")
step "edit $ADB: contact $RT_CID renamed (SQL)" sql "$ADB" -e "
        UPDATE civicrm_contact SET first_name = 'Realtime' WHERE id = $RT_CID;
        SELECT 'contact $RT_CID: first_name = Realtime'"
RT_T0=$EPOCHREALTIME RT_MID=$(master_id $A civicrm_contact "$RT_CID") RT_OK=0
for _ in $(seq 1 300); do
        [ "$(count_where "$MASTER" civicrm_contact "id = $RT_MID AND first_name = 'Realtime'")" = 1 ] && { RT_OK=1; break; }
        sleep 0.05
done
RT_SECS=$(awk -v a="$RT_T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
[ $RT_OK = 1 ] || fail "--follow" "the rename did not reach $MASTER within 15 s"
echo "  on the master (contact $RT_MID) after $RT_SECS s, no producer or consumer run started"
kill -TERM $FOLLOW_PID; wait $FOLLOW_PID || fail "--follow" "exit status $? on SIGTERM"
kill -TERM $FOLLOW_CONS_PID; wait $FOLLOW_CONS_PID || fail "consume (daemon)" "exit status $? on SIGTERM"
trap cs_services_stop EXIT
echo "  $(tail -n 1 "$CS_TEST_TMPDIR/logs/follow.out")"
step "remove triggers from $ADB" "$CS_BIN/civisync-produce" -c "$CS_TEST_TMPDIR/$A.cfg" --remove-triggers

say "figures"
echo "  incremental run after the edits:  $INCR_SUMMARY  ($INCR_SECS s)"
echo "  no-change incremental run:        $NOCHANGE_SUMMARY  ($NOCHANGE_SECS s)"
for p in "${PREFIXES[@]}"; do echo "  ${VERIFY_LINE[$p]}"; done
echo "  after drift + --resync $A:        $RESYNC_VERIFY"
echo "  after restoring $B:               $RESTORE_VERIFY"
echo "  real time (--follow), child -> master: $RT_SECS s"
echo "  demo total: $SECONDS s"

say "done"
exit 0
