#!/bin/bash
# fresh-check.sh — `make demo` on a bare Debian 12 (debootstrap minbase + make + git), from the committed HEAD.
#
# Run by `make fresh-check` (not part of `make test`: it downloads ~300 MB and takes minutes).
# Steps:
#   1. debootstrap --variant=minbase bookworm into $FRESH_CACHE/bookworm-minbase.tar
#      (done once; later runs unpack the cached tarball, so every run starts clean)
#   2. unpack it into a new temp root under $FRESH_CACHE, mount /proc, /sys, /dev, /dev/pts
#   3. inside the root: apt-get install make git, nothing else
#   4. git clone the repository's committed HEAD (a git bundle copied in) and run `make demo`
#      as root, exactly as README tells a newcomer to
#   5. unmount everything and remove the temp root, also on failure or Ctrl-C
# Uncommitted changes are NOT tested (the clone is of HEAD); the script says so when the tree is dirty.
# Needs: root, debootstrap, tar, git, and Debian's archive reachable.
# Environment:
#   FRESH_CACHE   cache and work directory (default /var/tmp/civisync-fresh-check)
#   FRESH_MIRROR  Debian mirror (default http://deb.debian.org/debian)
#   FRESH_SUITE   suite (default bookworm)
#   FRESH_KEEP=1  keep the temp root afterwards (it is still unmounted)
#   FRESH_REBUILD=1  debootstrap again instead of using the cached tarball
# Exit status: 0 when `make demo` passed in the fresh root; 1 otherwise (the failing step is named).
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cache=${FRESH_CACHE:-/var/tmp/civisync-fresh-check}
mirror=${FRESH_MIRROR:-http://deb.debian.org/debian}
suite=${FRESH_SUITE:-bookworm}
tarball="$cache/$suite-minbase.tar"
root=""
mounted=()

say() { printf 'fresh-check: %s\n' "$*" >&2; }
die() { say "FAILED: $*"; exit 1; }

# Ends the processes still running inside $root (by pid), then unmounts in reverse order.
cleanup() {
        local rc=$? pid i
        [ -n "$root" ] || return $rc
        for pid in $(ls /proc | grep -E '^[0-9]+$'); do
                if [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$root" ]; then
                        say "ending pid $pid left in the root"
                        kill -KILL "$pid" 2>/dev/null
                fi
        done
        for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
                umount "${mounted[$i]}" 2>/dev/null || umount -l "${mounted[$i]}" ||
                        say "could not unmount ${mounted[$i]}"
        done
        mounted=()
        if grep -q " $root/" /proc/mounts || grep -q " $root " /proc/mounts; then
                say "something is still mounted under $root: NOT removing it"
        elif [ "${FRESH_KEEP:-0}" = 1 ]; then
                say "kept $root (FRESH_KEEP=1)"
        else
                rm -rf --one-file-system -- "$root"
        fi
        return $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot and mount do); try: sudo make fresh-check"
for t in debootstrap chroot tar git mount umount; do
        command -v "$t" >/dev/null 2>&1 || die "$t not found (apt-get install debootstrap)"
done
git -C "$repo" rev-parse --verify -q HEAD >/dev/null || die "$repo is not a git checkout with a commit"
if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
        say "note: the working tree has uncommitted changes; only the committed HEAD is tested"
fi
mkdir -p "$cache" || die "cannot create $cache"

t_start=$SECONDS
if [ ! -s "$tarball" ] || [ "${FRESH_REBUILD:-0}" = 1 ]; then
        build=$(mktemp -d "$cache/debootstrap.XXXXXX") || die "mktemp in $cache"
        say "debootstrap --variant=minbase $suite from $mirror (once; cached in $tarball)"
        if ! debootstrap --variant=minbase "$suite" "$build" "$mirror" >"$cache/debootstrap.log" 2>&1; then
                tail -n 20 "$cache/debootstrap.log" >&2
                rm -rf --one-file-system -- "$build"
                die "debootstrap failed (log $cache/debootstrap.log)"
        fi
        tar -C "$build" -cf "$tarball.part" . && mv "$tarball.part" "$tarball" ||
                die "could not write $tarball"
        rm -rf --one-file-system -- "$build"
fi

root=$(mktemp -d "$cache/root.XXXXXX") || die "mktemp in $cache"
say "unpacking $tarball into $root"
tar -C "$root" -xf "$tarball" || die "could not unpack $tarball"
chmod 0755 "$root"

# mnt TYPE-OR-BIND SOURCE TARGET
mnt() {
        local how=$1 src=$2 dst="$root$3"
        mkdir -p "$dst"
        if [ "$how" = bind ]; then
                mount --bind "$src" "$dst" || die "mount --bind $src $dst"
        else
                mount -t "$how" "$src" "$dst" || die "mount -t $how $dst"
        fi
        mounted+=("$dst")
}
mnt proc proc /proc
mnt sysfs sysfs /sys
mnt bind /dev /dev
mnt bind /dev/pts /dev/pts
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
# debootstrap names only the main suite; add its updates as an installed system has them.
cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
EOF

git -C "$repo" bundle create "$root/root/civisync.bundle" HEAD 2>/dev/null ||
        die "git bundle of HEAD failed"
head_id=$(git -C "$repo" rev-parse --short HEAD)

in_root() { chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"; }

say "inside the root: apt-get install make git (nothing else)"
in_root /bin/sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends make git' \
        >"$cache/apt.log" 2>&1 || { tail -n 20 "$cache/apt.log" >&2; die "apt-get install make git (log $cache/apt.log)"; }
in_root /bin/sh -c 'for t in cc pkg-config mariadbd; do command -v $t && exit 1; done; exit 0' >/dev/null ||
        die "the fresh root already has a build tool: it is not bare"

say "inside the root: git clone (HEAD $head_id) && make demo"
in_root /bin/bash -c 'set -e
        cd /root
        git clone -q civisync.bundle civisync
        cd civisync
        git log -1 --format="fresh-check: testing %h %s"
        make demo' 2>&1 | tee "$cache/make-demo.log"
rc=${PIPESTATUS[0]}
[ "$rc" = 0 ] || die "make demo exited $rc in the fresh root (log $cache/make-demo.log)"
say "PASSED: make demo on a fresh $suite minbase with make and git, HEAD $head_id, $((SECONDS - t_start)) s"
exit 0
