#!/usr/bin/env bash
# aslab-run.sh BUILD_DIR: make test-aslab-run. Runs BUILD_DIR/aslab-run in each case of
# README.md's aslab-run table and with each option, and checks its stderr, stdout and exit
# status. The programs: malloc_prog.c built with glibc's malloc, dynamically (aslab-run must
# make its malloc aslab's) and statically (aslab-run must say that it cannot). Prints one
# PASS/FAIL line per case; exits 1 if any failed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FAILED=0

# expect NAME STATUS STDERR_PATTERN STDOUT_PATTERN -- COMMAND...: runs COMMAND and checks
# its exit status, and that stderr and stdout match the extended regular expressions
# (whole output; '' = empty).
expect() {
    local name=$1 want_status=$2 want_err=$3 want_out=$4 status=0 problems=()
    shift 5
    "$@" >"$WORK/out" 2>"$WORK/err" || status=$?
    [ "$status" = "$want_status" ] || problems+=("exit status $status, expected $want_status")
    matches "$WORK/err" "$want_err" || problems+=("stderr: $(head -c 600 "$WORK/err")")
    matches "$WORK/out" "$want_out" || problems+=("stdout: $(head -c 600 "$WORK/out")")
    if [ ${#problems[@]} -eq 0 ]; then
        echo "PASS $name"
    else
        echo "FAIL $name"
        printf '    %s\n' "${problems[@]}"
        FAILED=1
    fi
}

# matches FILE PATTERN: the whole of FILE (newlines as spaces) matches PATTERN.
matches() {
    local text
    text=$(tr '\n' ' ' <"$1")
    text=${text% }
    [[ $text =~ ^($2)$ ]]
}

main() {
    if [ $# -ne 1 ] || [ ! -x "$1/aslab-run" ]; then
        echo "usage: $0 BUILD_DIR (with aslab-run built: make malloc)" >&2
        exit 2
    fi
    local run lib report='.*aslab: heap statistics.*'
    run=$(cd "$1" && pwd)/aslab-run
    lib=$(cd "$1" && pwd)/libaslab_malloc.so.0
    WORK=$(mktemp -d)
    trap 'rm -rf "$WORK"' EXIT
    unset LD_PRELOAD ASLAB_STATS
    cc -O1 "$HERE/malloc_prog.c" -o "$WORK/dynamic"
    cc -O1 -static "$HERE/malloc_prog.c" -o "$WORK/static"
    mkdir "$WORK/dir"
    printf '#!/bin/sh\necho hi\n' >"$WORK/not executable"
    chmod 644 "$WORK/not executable"
    seq 2000 -1 1 >"$WORK/lines with spaces"
    sed "s|^LIB=.*|LIB=\"$WORK/missing.so\"|" "$run" >"$WORK/aslab-run-nolib"
    chmod +x "$WORK/aslab-run-nolib"

    expect "a dynamic program's malloc is aslab's" 0 '' 'malloc: aslab' -- "$run" "$WORK/dynamic"
    expect "the program's exit status" 7 '' '' -- "$run" sh -c 'exit 7'
    expect "arguments pass unchanged" 0 '' 'a b\|\|c\|' -- "$run" printf '%s|' 'a b' '' c
    # shellcheck disable=SC2016 # the child's $LD_PRELOAD
    expect "LD_PRELOAD already set is kept" 0 '' "$lib:libm.so.6" -- \
        env LD_PRELOAD=libm.so.6 "$run" sh -c 'echo "$LD_PRELOAD"'
    expect "no command: usage, 2" 2 'usage: aslab-run .*' '' -- "$run"
    expect "unknown option: usage, 2" 2 'usage: aslab-run .*aslab-run: unknown option --bogus' '' \
        -- "$run" --bogus true
    expect "--help" 0 '' 'usage: aslab-run .*--stats.*--compare.*' -- "$run" --help
    expect "--version" 0 '' "aslab-run [0-9]+\.[0-9]+\.[0-9]+ \($lib\)" -- "$run" --version
    expect "command not found: 127" 127 'aslab-run: no-such-command-x: command not found' '' \
        -- "$run" no-such-command-x
    expect "no such file: 127" 127 'aslab-run: /nonexistent: No such file or directory' '' \
        -- "$run" /nonexistent
    expect "-- then a command that starts with -" 127 'aslab-run: -x: command not found' '' \
        -- "$run" -- -x
    expect "not executable: 126" 126 "aslab-run: $WORK/not executable: Permission denied" '' \
        -- "$run" "$WORK/not executable"
    expect "a directory: 126" 126 "aslab-run: $WORK/dir: Is a directory" '' -- "$run" "$WORK/dir"
    expect "the library missing: 125" 125 "aslab-run: $WORK/missing.so is missing .*" '' \
        -- "$WORK/aslab-run-nolib" true
    expect "a static program: said, and run" 1 \
        "aslab-run: $WORK/static is statically linked: aslab cannot enter it" \
        'malloc: not aslab .*' -- "$run" "$WORK/static"
    cp "$WORK/dynamic" "$WORK/setuid" && chmod u+s "$WORK/setuid"
    expect "a set-user-ID program: said, and run" 0 \
        "aslab-run: $WORK/setuid is set-user-ID or set-group-ID: the loader ignores .*" \
        'malloc: aslab' -- "$run" "$WORK/setuid"
    expect "a script: nothing said" 0 '' 'hi' -- "$run" sh -c 'echo hi'
    expect "--stats: the report at exit" 0 "$report" '1 2 3 .* 2000' -- \
        "$run" --stats sort -n "$WORK/lines with spaces"
    expect "no --stats: no report" 0 '' 'malloc: aslab' -- "$run" "$WORK/dynamic"
    expect "--compare: both runs, the ratio, peak RSS" 0 '' \
        "aslab-run --compare: sort -n $WORK/lines\\\\ with\\\\ spaces .*median glibc .* s wall .* MiB peak RSS median aslab .* s wall .* MiB peak RSS ratio glibc/aslab: .*output: identical in all 2 runs .*PASS.*$report" \
        -- env RUNS=1 "$run" --compare sort -n "$WORK/lines with spaces"
    expect "--compare: outputs that differ fail" 1 '' '.*FAIL .*output differs.*' -- \
        env RUNS=1 "$run" --compare "$WORK/dynamic"
    expect "--compare: command not found" 127 'aslab-run: no-such-command-x: command not found' \
        '' -- "$run" --compare no-such-command-x
    return "$FAILED"
}

main "$@"
