#!/bin/bash
# install-check.sh — `make install` into a scratch DESTDIR with a non-default PREFIX, then checks what landed.
#
# Run by `make install-check` (part of `make test`, after the build). Checks:
#   - bin/ holds exactly civisync-produce, -consume, -topics, -verify (never the test-only
#     civisync-broker);
#   - the installed systemd unit's ExecStart and the cron example's PATH name $PREFIX/bin, and
#     neither mentions /usr/local any more;
#   - every relative link of the installed Markdown files points to an installed file.
# Exit status: 0 when every check passed; 1 naming each failure.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo" || exit 1
prefix=/opt/civisync-install-check
dest=$(mktemp -d /tmp/civisync-install-check.XXXXXX) || exit 1
trap 'rm -rf -- "$dest"' EXIT
bad=0
fail() { echo "install-check: FAILED: $*" >&2; bad=1; }

if ! make --no-print-directory -s install DESTDIR="$dest" PREFIX="$prefix" >"$dest.log" 2>&1; then
        cat "$dest.log" >&2; rm -f "$dest.log"
        echo "install-check: FAILED: make install DESTDIR=$dest PREFIX=$prefix" >&2
        exit 1
fi
rm -f "$dest.log"
root="$dest$prefix"

want="civisync-consume civisync-produce civisync-restore civisync-topics civisync-verify"
have=$(cd "$root/bin" && ls | sort | tr '\n' ' ' | sed 's/ $//')
[ "$have" = "$want" ] || fail "$prefix/bin holds '$have', want '$want'"

unit="$root/share/civisync/conf/civisync-consume.service"
if [ ! -f "$unit" ]; then
        fail "systemd unit not installed ($unit)"
else
        exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
        case "$exec_start" in
        "$prefix/bin/civisync-consume "*) ;;
        *) fail "unit's ExecStart is '$exec_start', want $prefix/bin/civisync-consume ..." ;;
        esac
        [ -x "$root/bin/civisync-consume" ] || fail "unit's program $root/bin/civisync-consume not installed"
        ! grep -n '/usr/local' "$unit" >&2 || fail "installed unit still names /usr/local (above)"
fi
cron="$root/share/civisync/conf/civisync.cron.example"
grep -q "^PATH=$prefix/bin:" "$cron" 2>/dev/null || fail "installed cron example's PATH does not start with $prefix/bin"

# Relative Markdown links: [text](target) with target not a URL and not a pure anchor.
while IFS= read -r md; do
        dir=$(dirname "$md")
        while IFS= read -r target; do
                target=${target%%#*}
                [ -n "$target" ] || continue
                case "$target" in *://* | mailto:*) continue ;; esac
                [ -e "$dir/$target" ] || fail "${md#"$root"/}: link to '$target', which is not installed"
        done < <(grep -o '\]([^)]*)' "$md" | sed 's/^](//; s/)$//')
done < <(find "$root/share/doc/civisync" -name '*.md')

[ $bad = 0 ] || exit 1
echo "install-check: ok: $want in $prefix/bin, unit and cron point at $prefix/bin, manual links resolve"
exit 0
