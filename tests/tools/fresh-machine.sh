#!/usr/bin/env bash
# tests/tools/fresh-machine.sh - do the README's two commands pass on a fresh Debian 12?
#
# Builds a minimal Debian 12 root (debootstrap --variant=minbase, from the Debian mirror this
# machine's apt uses; cached as a tarball), clones this checkout's HEAD into it (so uncommitted
# work is not tested), installs only the prerequisites README.md names (its `apt-get install`
# line under "Set-up", without recommends), and runs the README's commands in it with chroot.
# Each command gets a root of its own, so that neither hides a package the other forgot.
# Needs root, network to the mirror and several minutes: not part of `make test`.
#
#   tests/tools/fresh-machine.sh [--only run|test] [--keep] [--refresh]
#     --only run|test   run one of the two commands
#     --keep            keep the roots for inspection (their paths are printed at the end)
#     --refresh         rebuild the cached root and forget the cached packages
#
# Cache: ${XDG_CACHE_HOME:-$HOME/.cache}/aslab/: the minbase tarball, the .deb files the last
# runs downloaded (copied into each new root, so that a second root downloads nothing), and
# the last output of each command (fresh-<command>.log).
#
# Everything runs in a mount namespace of its own (unshare): the chroot's mounts are invisible
# outside it, so that no other process can trip on them and no `rm -rf` can reach through them
# into the real /dev. On every exit (and INT, TERM) the chroot's processes are killed and its
# mounts undone (lazily if busy) before the roots are removed.
set -euo pipefail

SUITE=bookworm
REPO=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/aslab
COMMANDS=(run test)
KEEP=
REFRESH=

usage() {
    sed -n '11,14s/^# \{0,1\}//p' "$0" >&2
    exit 2
}

ARGS=("$@")
while [ $# -gt 0 ]; do
    case $1 in
    --only)
        if [ $# -lt 2 ] || [[ $2 != run && $2 != test ]]; then usage; fi
        COMMANDS=("$2")
        shift 2
        ;;
    --keep) KEEP=yes; shift ;;
    --refresh) REFRESH=yes; shift ;;
    *) usage ;;
    esac
done

if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "fresh-machine: needs root (chroot, mount)" >&2; exit 1; }
    exec sudo "$BASH" "$0" "${ARGS[@]}"
fi
for tool in debootstrap git unshare chroot; do
    command -v $tool >/dev/null ||
        { echo "fresh-machine: needs $tool (apt-get install $tool)" >&2; exit 1; }
done

# Re-enter in a private mount namespace (the same process: signals reach this script).
if [ "${ASLAB_FRESH_NS:-}" != 1 ]; then
    exec unshare --mount --propagation private env ASLAB_FRESH_NS=1 "$BASH" "$0" "${ARGS[@]}"
fi

log() { echo "fresh-machine: $*"; }
now() { date +%s; }
script_start=$(now)

# ---- the Debian mirrors this machine uses ------------------------------------------------

# Prints "URI SUITE" for each deb entry of the apt sources, one-line (.list) and deb822
# (.sources) formats alike.
apt_entries() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        sed 's/#.*//; s/\[[^]]*\]//' "$f" | awk '$1 == "deb" { print $2, $3 }'
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && enabled != "no")
                    for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++) print u[i], s[j]
                types = ""; enabled = ""; nu = ns = 0
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            { key = tolower($1); sub(/:$/, "", key); $1 = "" }
            key == "types"   { types = $0 }
            key == "enabled" { enabled = $2 }
            key == "uris"    { nu = split($0, u, " ") }
            key == "suites"  { ns = split($0, s, " ") }
            END { flush() }' "$f"
    done
}

# A Debian suite by codename or by class; anything else (a vendor's repository) is not Debian.
DEBIAN_SUITE='^(buster|bullseye|bookworm|trixie|forky|sid|oldstable|stable|testing|unstable)'
first_uri() { apt_entries | awk -v re="$DEBIAN_SUITE$1\$" '$2 ~ re { print $1; exit }'; }
MIRROR=$(first_uri '(-updates|-backports)?')
SECURITY=$(first_uri '(-security|/updates)')
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY=${SECURITY:-http://deb.debian.org/debian-security}

# ---- mounts and clean-up -----------------------------------------------------------------

WORK=$(mktemp -d /var/tmp/aslab-fresh.XXXXXX)
ROOTS=()

# Every mount point under $1, deepest first.
mounts_under() {
    awk -v dir="$1/" 'index($5, dir) == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

unmount_all() {
    local dir=$1 m
    for m in $(mounts_under "$dir"); do
        umount "$m" 2>/dev/null || umount -l "$m" ||
            log "could not unmount $m"
    done
}

# The processes whose root is $1, killed before unmounting (a mount they use is busy).
kill_leftovers() {
    local root=$1 d i left
    for ((i = 0; i < 10; i++)); do
        left=
        for d in /proc/[0-9]*; do
            [ "$(readlink "$d/root" 2>/dev/null)" = "$root" ] || continue
            kill -KILL "${d#/proc/}" 2>/dev/null && left=yes
        done
        [ -n "$left" ] || return 0
        sleep 0.5
    done
    log "processes still running in $root after SIGKILL"
}

# shellcheck disable=SC2317 # called by the trap
cleanup() {
    local status=$? root
    set +e
    trap - EXIT INT TERM
    for root in "${ROOTS[@]}"; do kill_leftovers "$root"; done
    unmount_all "$WORK"
    rm -f "${TARBALL:-}.$$"
    if [ -n "$(mounts_under "$WORK")" ]; then
        log "still mounted under $WORK, left in place:"; mounts_under "$WORK"
    elif [ -n "$KEEP" ]; then
        rm -rf "$WORK/minbase"
        log "kept: ${ROOTS[*]} (enter one with chroot; mount /proc, /dev first as needed)"
    else
        rm -rf "$WORK"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mount_system() {
    local root=$1
    mount -t proc proc "$root/proc"
    mount -t sysfs sysfs "$root/sys"
    mount --bind /dev "$root/dev"
    mount --bind /dev/pts "$root/dev/pts"
    mount -t tmpfs -o mode=1777 shm "$root/dev/shm"
}

unmount_system() {
    kill_leftovers "$1"
    unmount_all "$1"
}

# ---- the minimal root, cached --------------------------------------------------------------

ARCH=$(dpkg --print-architecture)
TARBALL=$CACHE/$SUITE-minbase-$ARCH.tar.gz
DEBS=$CACHE/debs
mkdir -p "$CACHE" "$DEBS"
[ -z "$REFRESH" ] || rm -f "$TARBALL" "$DEBS"/*.deb

if [ ! -s "$TARBALL" ]; then
    log "debootstrap --variant=minbase $SUITE from $MIRROR"
    start=$(now)
    if ! debootstrap --variant=minbase "$SUITE" "$WORK/minbase" "$MIRROR" \
        >"$WORK/debootstrap.log" 2>&1; then
        tail -n 20 "$WORK/debootstrap.log" >&2
        log "debootstrap failed"
        exit 1
    fi
    unmount_all "$WORK/minbase"
    tar -C "$WORK/minbase" -czf "$TARBALL.$$" . && mv "$TARBALL.$$" "$TARBALL"
    rm -rf "$WORK/minbase"
    log "root built in $(($(now) - start)) s, cached as $TARBALL"
fi

HEAD=$(git -C "$REPO" rev-parse HEAD)
[ -z "$(git -C "$REPO" status --porcelain)" ] ||
    log "note: uncommitted changes in $REPO are not tested (HEAD ${HEAD:0:12} is)"

# A new root for one command, in $root: unpacked, apt pointed at the mirrors, the repository
# cloned.
new_root() {
    root=$WORK/root-$1
    mkdir "$root"
    ROOTS+=("$root")
    tar -C "$root" -xzf "$TARBALL"
    cat >"$root/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY $SUITE-security main
EOF
    cp -L /etc/resolv.conf "$root/etc/resolv.conf"
    cp -l "$DEBS"/*.deb "$root/var/cache/apt/archives/" 2>/dev/null ||
        cp "$DEBS"/*.deb "$root/var/cache/apt/archives/" 2>/dev/null || true
    git clone -q --no-local "$REPO" "$root/root/aslab"
    git -C "$root/root/aslab" checkout -q --detach "$HEAD"
}

# Runs a shell command line in the root as root, with a fresh machine's environment. In the
# background, so that a signal to this shell is handled at once (the trap kills the rest).
in_root() {
    local root=$1
    shift
    chroot "$root" /usr/bin/env -i HOME=/root TERM="${TERM:-dumb}" \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        /bin/bash -c "$*" </dev/null &
    wait $!
}

# The README's prerequisites: the `apt-get install` line of its set-up section.
prerequisites() {
    sed -n '/^## Set-up/,/^## [^S]/p' "$1/README.md" |
        grep -o 'apt-get install [a-z0-9 .+-]*' | head -n 1 | sed 's/apt-get install //'
}

# Before either command, a plain `make` must stop with one line that names the missing
# packages and `make deps` (and no `cc: No such file` from a compiler not yet there).
check_plain_make() {
    local root=$1 out status=0
    out=$(in_root "$root" "cd /root/aslab && make 2>&1") || status=$?
    log "plain make: exit $status: $out"
    if [ $status -eq 0 ] || [ "$(echo "$out" | wc -l)" -ne 1 ] ||
        ! grep -q 'missing Debian packages .*make deps' <<<"$out"; then
        RESULT[plain]="FAILED: expected one line naming the missing packages and make deps"
    fi
}

declare -A RESULT
RESULT[plain]="passed: stops at once, naming the missing packages and make deps"
for cmd in "${COMMANDS[@]}"; do
    new_root "$cmd"
    pkgs=$(prerequisites "$root/root/aslab")
    if [ -z "$pkgs" ]; then
        log "README.md names no prerequisites (an \`apt-get install\` under Set-up)"
        exit 1
    fi
    mount_system "$root"
    log "root $root: apt-get install $pkgs (the README's prerequisites)"
    start=$(now)
    in_root "$root" "export DEBIAN_FRONTEND=noninteractive; apt-get update -qq &&
        apt-get install -y -qq --no-install-recommends $pkgs >/dev/null" ||
        { log "installing the prerequisites failed"; exit 1; }
    log "prerequisites installed in $(($(now) - start)) s"
    check_plain_make "$root"

    log "make $cmd (in /root/aslab at ${HEAD:0:12}; output also in $CACHE/fresh-$cmd.log)"
    start=$(now)
    status=0
    { in_root "$root" "cd /root/aslab && make $cmd" 2>&1 | tee "$CACHE/fresh-$cmd.log"; } &
    wait $! || status=$?
    verdict=passed
    [ $status -eq 0 ] || verdict="FAILED (exit $status)"
    # 128+N: make itself died of signal N, which nothing in the commands sends it: say which.
    [ $status -le 128 ] || verdict="FAILED (killed by SIG$(kill -l $((status - 128))))"
    RESULT[$cmd]="$verdict in $(($(now) - start)) s"
    log "make $cmd ${RESULT[$cmd]}"

    cp -ln "$root"/var/cache/apt/archives/*.deb "$DEBS/" 2>/dev/null ||
        cp -n "$root"/var/cache/apt/archives/*.deb "$DEBS/" 2>/dev/null || true
    unmount_system "$root"
    [ -n "$KEEP" ] || rm -rf "$root"
done

echo
failed=0
for cmd in plain "${COMMANDS[@]}"; do
    label="make $cmd"
    [ "$cmd" != plain ] || label="plain make"
    printf 'fresh-machine: %-10s %s\n' "$label" "${RESULT[$cmd]}"
    [[ ${RESULT[$cmd]} == passed* ]] || failed=1
done
log "$(($(now) - script_start)) s in all (Debian $SUITE minbase, a fresh root for each command)"
exit $failed
