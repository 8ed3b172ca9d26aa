#!/bin/bash
# compose-check.sh — validates the docker-compose.yml local trial without Docker (run by `make test`).
#
# 1. `docker-compose config -q` passes with the four passwords set (dummy values), and fails
#    naming the variable when one is missing: no silent `change-me` default.
# 2. On the resolved file (`docker-compose config`, read with python3-yaml, which
#    docker-compose itself depends on):
#    - both databases load the project's CiviCRM schema and seed into
#      /docker-entrypoint-initdb.d, the child also the demo rows; every mounted file exists;
#    - no MARIADB_USER (the image grants it ALL); the child's account is a reader, the
#      master's a writer (conf/docker/initdb/account.sh);
#    - Kafka has a fixed CLUSTER_ID; every civisync container runs with init: true;
#    - no environment value holds a default password.
# 3. The image's build stage installs the build packages only (make deps-build), and
#    .dockerignore keeps .git, build output, tests and .env out of the build context.
# Exit status: 0 when every check passed; 1 naming each failure.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo" || exit 1
compose=${COMPOSE_FILE_UNDER_TEST:-docker-compose.yml}
bad=0
fail() { echo "compose-check: FAILED: $*" >&2; bad=1; }

for t in docker-compose python3; do
        command -v "$t" >/dev/null 2>&1 || { echo "compose-check: $t not found (make deps)" >&2; exit 1; }
done
pw_env=(MASTER_ROOT_PASSWORD=check-m-root MASTER_DB_PASSWORD=check-m-db
        CHILD_ROOT_PASSWORD=check-c-root CHILD_DB_PASSWORD=check-c-db)
# Resolve the file with the project directory's .env ignored (a developer's own .env must
# neither hide nor supply a missing variable).
empty_env=$(mktemp /tmp/civisync-compose-check.XXXXXX) || exit 1
trap 'rm -f -- "$empty_env"' EXIT
dc() { env -u MASTER_ROOT_PASSWORD -u MASTER_DB_PASSWORD -u CHILD_ROOT_PASSWORD \
        -u CHILD_DB_PASSWORD "$@" docker-compose --env-file "$empty_env" -f "$compose" config; }

if ! resolved=$(dc "${pw_env[@]}" 2>&1); then
        printf '%s\n' "$resolved" >&2
        echo "compose-check: FAILED: docker-compose config with every password set" >&2
        exit 1
fi
for v in MASTER_ROOT_PASSWORD MASTER_DB_PASSWORD CHILD_ROOT_PASSWORD CHILD_DB_PASSWORD; do
        env_without=()
        for e in "${pw_env[@]}"; do [ "${e%%=*}" = "$v" ] || env_without+=("$e"); done
        if out=$(dc "${env_without[@]}" 2>&1); then
                fail "docker-compose config passes without $v (a silent default?)"
        elif ! printf '%s\n' "$out" | grep -q "$v"; then
                fail "without $v, docker-compose config fails without naming it: $(printf '%s' "$out" | tail -n 1)"
        fi
done

printf '%s\n' "$resolved" | python3 -c '
import os, sys, yaml
doc = yaml.safe_load(sys.stdin)
svc = doc.get("services", {})
bad = []
def env(name):
    e = svc.get(name, {}).get("environment", {}) or {}
    if isinstance(e, list):
        e = dict(x.split("=", 1) if "=" in x else (x, "") for x in e)
    return e
def mounts(name):
    out = {}
    for v in svc.get(name, {}).get("volumes", []) or []:
        if isinstance(v, dict):
            out[v.get("target")] = (v.get("type"), v.get("source"))
        else:
            parts = v.split(":")
            out[parts[1]] = ("bind" if parts[0].startswith(("/", ".")) else "volume", parts[0])
    return out
init = "/docker-entrypoint-initdb.d/"
want = {
    "master-db": {init + "10-civicrm-schema.sql": "tests/fixtures/civicrm-5-phase1.sql",
                  init + "20-civicrm-seed.sql": "tests/fixtures/seed.sql",
                  init + "40-account.sh": "conf/docker/initdb/account.sh"},
    "child-db": {init + "10-civicrm-schema.sql": "tests/fixtures/civicrm-5-phase1.sql",
                 init + "20-civicrm-seed.sql": "tests/fixtures/seed.sql",
                 init + "30-child-data.sh": "conf/docker/initdb/child-data.sh",
                 "/civisync-fixtures/child-data.sql": "tests/fixtures/child-data.sql",
                 init + "40-account.sh": "conf/docker/initdb/account.sh"},
}
role = {"master-db": "writer", "child-db": "reader"}
for name, files in want.items():
    if name not in svc:
        bad.append("no service %s" % name); continue
    m = mounts(name)
    for target, src in files.items():
        got = m.get(target)
        if not got or not (got[1] or "").endswith("/" + src):
            bad.append("%s: %s is not mounted from %s (have %s)" % (name, target, src, got))
    for target, (kind, source) in m.items():
        if kind == "bind" and not os.path.exists(source):
            bad.append("%s: mounted file %s does not exist" % (name, source))
    e = env(name)
    if "MARIADB_USER" in e:
        bad.append("%s: MARIADB_USER is set (the image grants it ALL on the database)" % name)
    if e.get("CIVISYNC_DB_ROLE") != role[name]:
        bad.append("%s: CIVISYNC_DB_ROLE is %r, want %r" % (name, e.get("CIVISYNC_DB_ROLE"), role[name]))
if not env("kafka").get("CLUSTER_ID"):
    bad.append("kafka: no fixed CLUSTER_ID")
for name, s in svc.items():
    if "build" in s and s.get("init") is not True:
        bad.append("%s: civisync container without init: true (PID 1 must pass SIGTERM on)" % name)
    for k, v in env(name).items():
        if "change-me" in str(v):
            bad.append("%s: %s has a default password %r" % (name, k, v))
for b in bad:
    print("compose-check: FAILED: " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
' || bad=1

dockerfile=conf/docker/Dockerfile
grep -q 'make deps-build' "$dockerfile" || fail "$dockerfile does not build with make deps-build"
if grep -Eq 'make (.* )?deps( |$)' "$dockerfile"; then
        fail "$dockerfile runs make deps (installs the test suite's packages)"
fi
if [ ! -f .dockerignore ]; then
        fail "no .dockerignore (the build context would hold .git, build output and .env)"
else
        for p in .git bin build 'build-*' tests .env; do
                grep -qx -- "$p" .dockerignore || fail ".dockerignore does not exclude $p"
        done
fi

[ $bad = 0 ] || exit 1
echo "compose-check: ok: $compose resolves with the passwords and refuses without them; schema, seed and demo rows mounted; reader/writer accounts; CLUSTER_ID; init; build stage and .dockerignore"
exit 0
