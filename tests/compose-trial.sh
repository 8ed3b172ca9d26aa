#!/bin/bash
# compose-trial.sh — the docker-compose.yml trial's data path without Docker: its database init, then a sync through it.
#
# Run by `make compose-trial` (part of `make test`). Docker is not needed: on the harness's
# throwaway MariaDB and embedded broker (tests/lib/services.sh), for child-db and master-db
# this does what the mariadb image's entrypoint does on first start, with what
# `docker-compose config` resolves for that service: creates MARIADB_DATABASE, then in the
# order of their names pipes every mounted /docker-entrypoint-initdb.d/*.sql into it and
# sources every *.sh (with docker_process_sql and mysql_note, the entrypoint's functions,
# and the service's environment); MARIADB_USER, when set, gets ALL on the database as the
# image does. Then it checks:
#   - the child's account can SELECT and cannot INSERT (read-only, docs/OPERATIONS.md §2);
#   - the child holds the demo contacts and the master only the seed's contact;
#   - civisync-produce as the child's account, then civisync-consume --once as the master's
#     account, brings the child's rows to the master, and civisync-verify reports no difference.
# Exit status: 0 when all of that held; 1 naming the failed step.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo" || exit 1
# shellcheck source=tests/lib/services.sh
. "$here/lib/services.sh"

die() { echo "compose-trial: FAILED: $*" >&2; exit 1; }
say() { echo "compose-trial: $*" >&2; }

for t in docker-compose python3; do
        command -v "$t" >/dev/null 2>&1 || die "$t not found (make deps)"
done
for p in civisync-produce civisync-consume civisync-verify civisync-broker; do
        [ -x "bin/$p" ] || die "bin/$p not built (make all)"
done

PW_ENV=(MASTER_ROOT_PASSWORD=trial-m-root MASTER_DB_PASSWORD="trial-m-'db\\"
        CHILD_ROOT_PASSWORD=trial-c-root CHILD_DB_PASSWORD="trial-c-'db\\"
        CIVISYNC_DEMO_CONTACTS=40)
empty_env=$(mktemp /tmp/civisync-compose-trial.XXXXXX) || exit 1
resolved=$(env "${PW_ENV[@]}" docker-compose --env-file "$empty_env" -f docker-compose.yml config) ||
        { rm -f "$empty_env"; die "docker-compose config"; }
rm -f "$empty_env"

# service_env SERVICE: prints `export K='V'` lines of the service's environment.
# service_mounts SERVICE: prints TARGET<TAB>SOURCE for its bind mounts, sorted by target.
service_env() {
        printf '%s\n' "$resolved" | python3 -c '
import shlex, sys, yaml
e = yaml.safe_load(sys.stdin)["services"][sys.argv[1]].get("environment") or {}
for k, v in e.items():
    print("export %s=%s" % (k, shlex.quote(str(v))))' "$1"
}
service_mounts() {
        printf '%s\n' "$resolved" | python3 -c '
import sys, yaml
binds = []
for v in yaml.safe_load(sys.stdin)["services"][sys.argv[1]].get("volumes") or []:
    if isinstance(v, dict):            # long syntax
        if v.get("type") == "bind":
            binds.append((v["target"], v["source"]))
    elif v.startswith("/"):            # SOURCE:TARGET[:MODE], the source made absolute
        binds.append(tuple(reversed(v.split(":")[:2])))
for target, source in sorted(binds):
    print("%s\t%s" % (target, source))' "$1"
}

CS_TEST_QUIET=1
CS_BROKER_ARGS="--topic civisync.P1:3 --topic civisync.dead-letter:1"
cs_services_trap
cs_services_start || die "could not start MariaDB and the broker"

# init_service SERVICE DB: the image entrypoint's first-start initialisation, into DB.
init_service() {
        local svc=$1 db=$2 target source
        (
                eval "$(service_env "$svc")" || exit 1
                export MARIADB_DATABASE="$db"
                mysql_note() { echo "compose-trial: [$svc] $*" >&2; }
                mysql_error() { echo "compose-trial: [$svc] ERROR: $*" >&2; exit 1; }
                docker_process_sql() {
                        mariadb --no-defaults --socket="$CS_TEST_MYSQL_SOCKET" -u"$(id -un)" \
                                --database="$MARIADB_DATABASE" "$@"
                }
                _cs_admin_sql -e "CREATE DATABASE \`$db\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" ||
                        exit 1
                # The image's own account: MARIADB_USER gets ALL on MARIADB_DATABASE.
                if [ -n "${MARIADB_USER:-}" ] && [ -n "${MARIADB_PASSWORD:-}" ]; then
                        mysql_note "MARIADB_USER $MARIADB_USER: GRANT ALL on $db"
                        local pw=${MARIADB_PASSWORD//\\/\\\\}
                        pw=${pw//\'/\\\'}
                        _cs_admin_sql -e "CREATE USER '$MARIADB_USER'@'%' IDENTIFIED BY '$pw';
                                GRANT ALL ON \`$db\`.* TO '$MARIADB_USER'@'%';" || exit 1
                fi
                # Paths the init scripts read from other mounts (e.g. /civisync-fixtures/) are
                # rewritten to their sources on this host.
                local map=() t s
                while IFS=$'\t' read -r t s; do
                        case "$t" in /docker-entrypoint-initdb.d/*) ;; *) map+=(-e "s|$t|$s|g") ;; esac
                done < <(service_mounts "$svc")
                while IFS=$'\t' read -r target source; do
                        case "$target" in
                        /docker-entrypoint-initdb.d/*.sql)
                                mysql_note "running $target ($source)"
                                docker_process_sql <"$source" || mysql_error "$target failed" ;;
                        /docker-entrypoint-initdb.d/*.sh)
                                mysql_note "sourcing $target ($source)"
                                # shellcheck disable=SC1090
                                . <(sed "${map[@]}" -e '' "$source") || mysql_error "$target failed" ;;
                        esac
                done < <(service_mounts "$svc")
        ) || die "initialising $svc"
}

CHILD=trial_child
MASTER=trial_master
init_service child-db "$CHILD"
init_service master-db "$MASTER"

pw_of() { local e; for e in "${PW_ENV[@]}"; do [ "${e%%=*}" = "$1" ] && printf '%s' "${e#*=}"; done; }
as_user() {   # as_user USER PASSWORD DB SQL: runs SQL over TCP as that account
        mariadb --no-defaults -h127.0.0.1 -P"$CS_TEST_MYSQL_PORT" -u"$1" -p"$2" \
                --batch --skip-column-names "$3" -e "$4"
}
reader_pw=$(pw_of CHILD_DB_PASSWORD)
writer_pw=$(pw_of MASTER_DB_PASSWORD)

child_contacts=$(as_user civisync_reader "$reader_pw" "$CHILD" "SELECT COUNT(*) FROM civicrm_contact") ||
        die "the child's reader cannot SELECT"
[ "$child_contacts" -ge 40 ] || die "the child holds $child_contacts contacts, want the 40 demo contacts and more"
if as_user civisync_reader "$reader_pw" "$CHILD" \
        "INSERT INTO civicrm_tag (name, label) VALUES ('trial', 'trial')" 2>/dev/null; then
        die "the child's reader could INSERT: it is not read-only"
fi
grants=$(_cs_admin_sql -e "SHOW GRANTS FOR 'civisync_reader'@'%'" | grep -v '^GRANT USAGE')
[ "$grants" = "GRANT SELECT ON \`$CHILD\`.* TO \`civisync_reader\`@\`%\`" ] ||
        die "the child's reader has other grants than SELECT: $grants"
master_before=$(as_user civisync_writer "$writer_pw" "$MASTER" "SELECT COUNT(*) FROM civicrm_contact") ||
        die "the master's writer cannot SELECT"
say "child: $child_contacts contacts, reader SELECT only; master: $master_before contact(s) (the seed's)"

umask 077
printf '%s' "$reader_pw" >"$CS_TEST_TMPDIR/child.pw"
printf '%s' "$writer_pw" >"$CS_TEST_TMPDIR/master.pw"
cat >"$CS_TEST_TMPDIR/producer.cfg" <<EOF
prefix = "P1";
state_dir = "$CS_TEST_TMPDIR/state";
child = { host = "127.0.0.1"; port = $CS_TEST_MYSQL_PORT; user = "civisync_reader";
          password_file = "$CS_TEST_TMPDIR/child.pw"; database = "$CHILD"; };
kafka = { brokers = "$CS_TEST_BROKERS"; topic_prefix = "civisync."; };
EOF
cat >"$CS_TEST_TMPDIR/consumer.cfg" <<EOF
prefixes = [ "P1" ];
master = { host = "127.0.0.1"; port = $CS_TEST_MYSQL_PORT; user = "civisync_writer";
           password_file = "$CS_TEST_TMPDIR/master.pw"; database = "$MASTER"; };
kafka = { brokers = "$CS_TEST_BROKERS"; group = "civisync-master";
          topic_prefix = "civisync."; dead_letter_topic = "civisync.dead-letter";
          properties = ( ("session.timeout.ms", "6000") ); };
EOF
mkdir -p "$CS_TEST_TMPDIR/state"
bin/civisync-produce -c "$CS_TEST_TMPDIR/producer.cfg" -q >"$CS_TEST_TMPDIR/produce.out" 2>"$CS_TEST_TMPDIR/produce.err" ||
        { tail -n 20 "$CS_TEST_TMPDIR/produce.err" >&2; die "civisync-produce as the child's reader"; }
bin/civisync-consume -c "$CS_TEST_TMPDIR/consumer.cfg" --once -q >"$CS_TEST_TMPDIR/consume.out" 2>"$CS_TEST_TMPDIR/consume.err" ||
        { tail -n 20 "$CS_TEST_TMPDIR/consume.err" >&2; die "civisync-consume --once as the master's writer"; }
mapped=$(as_user civisync_writer "$writer_pw" "$MASTER" \
        "SELECT COUNT(*) FROM mapping_master_P1 WHERE entity_table = 'civicrm_contact'") ||
        die "no mapping_master_P1 on the master"
master_after=$(as_user civisync_writer "$writer_pw" "$MASTER" "SELECT COUNT(*) FROM civicrm_contact")
[ "$mapped" -ge 40 ] && [ "$master_after" -gt "$master_before" ] ||
        die "after the sync the master maps $mapped child contacts and holds $master_after contacts"
bin/civisync-verify --child-config "$CS_TEST_TMPDIR/producer.cfg" --master-config "$CS_TEST_TMPDIR/consumer.cfg" \
        >"$CS_TEST_TMPDIR/verify.out" 2>&1 ||
        { tail -n 20 "$CS_TEST_TMPDIR/verify.out" >&2; die "civisync-verify found differences"; }
echo "compose-trial: ok: child $child_contacts contacts (reader SELECT only) -> master $master_before -> $master_after contacts ($mapped mapped); verify: $(tail -n 1 "$CS_TEST_TMPDIR/verify.out")"
exit 0
