#!/bin/bash
# secure_env.sh BUILD - a set-user-ID program takes no ASLAB_* options from its caller.
#
# ASLAB_STATS_FILE names a file the exit report is appended to; in a set-user-ID program
# (owned here by nobody, run by root) the caller would choose a file that only the program's
# owner may write. The same binary runs twice with ASLAB_STATS=1 and ASLAB_STATS_FILE in a
# directory the owner may write: as a plain copy, which must write the report (the options
# work), and set-user-ID, which must run in secure mode and write none. Needs root (to chown);
# skips, saying why, without it or where the file system ignores the set-user-ID bit.
set -u
build=$1
prog=$build/secure_env
dir=$(mktemp -d "$build/secure_env.XXXXXX")
trap 'rm -rf "$dir"' EXIT
if [ "$(id -u)" != 0 ]; then
    echo "test-secure-env: skipped (needs root to make a set-user-ID copy)"
    exit 0
fi
owner=$(id -u nobody 2>/dev/null || echo 65534)
chmod 755 "$dir"
mkdir "$dir/out" && chmod 777 "$dir/out"
cp "$prog" "$dir/plain"
cp "$prog" "$dir/setuid" && chown "$owner" "$dir/setuid" && chmod 4755 "$dir/setuid"

run() { # run NAME: the program with the options; its stdout
    ASLAB_STATS=1 ASLAB_STATS_FILE="$dir/out/$1.report" "$dir/$1" 2>"$dir/$1.err"
}

out=$(run plain)
if [ "$out" != "secure 0" ] ||
    ! grep -q "heap statistics" "$dir/out/plain.report" 2>/dev/null; then
    echo "test-secure-env: FAIL: the plain copy wrote no report ($out)"; exit 1
fi
out=$(run setuid)
if [ "$out" = "secure 0" ]; then
    echo "test-secure-env: skipped (the set-user-ID bit is ignored here: a nosuid mount?)"
    exit 0
fi
if [ "$out" != "secure 1" ]; then
    echo "test-secure-env: FAIL: the set-user-ID copy did not run ($out)"
    cat "$dir/setuid.err"
    exit 1
fi
if [ -e "$dir/out/setuid.report" ] || grep -q "heap statistics" "$dir/setuid.err"; then
    echo "test-secure-env: FAIL: the set-user-ID copy took ASLAB_STATS_FILE from its caller"
    exit 1
fi
echo "test-secure-env: the plain copy wrote its report; the set-user-ID copy (secure mode) took no option"
