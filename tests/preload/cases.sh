# shellcheck shell=bash
# cases.sh - the programs test-preload runs, one function each, sourced by run.sh.
#
# A case runs in an empty directory of its own, under `set -e`, and prints to stdout what
# must be the same under glibc and under aslab. Every command under test is prefixed with
# "${RUN[@]}": `timeout env` for the glibc run, with LD_PRELOAD and ASLAB_STATS=all added for
# the aslab run. Helpers without the prefix (sha256sum, file writing) always run on glibc.
# Inputs shared by both runs are in $INPUT; the test binaries are in $BIN.
# MIN_REQUESTS[case] is the fewest small requests every aslab process of the case must show.

# shellcheck disable=SC2034 # read by run.sh
declare -A MIN_REQUESTS=([python3]=1000000)

case_python3() {
    "${RUN[@]}" PYTHONMALLOC=malloc PYTHONHASHSEED=0 /usr/bin/python3 "$HERE/alloc_heavy.py"
}

case_cxx() { "${RUN[@]}" "$BIN/churn"; }

case_threads() { "${RUN[@]}" "$BIN/threads"; }

case_sort() {
    "${RUN[@]}" LC_ALL=C.UTF-8 sort "$INPUT/lines"
    "${RUN[@]}" LC_ALL=C sort -t ' ' -k3,3n -k1,1r "$INPUT/lines" | sha256sum
}

case_sort_parallel() {
    "${RUN[@]}" LC_ALL=C sort --parallel=2 "$INPUT/lines"
    "${RUN[@]}" LC_ALL=C sort --parallel=2 -S 1M -T . -k2 "$INPUT/lines" | sha256sum
}

case_xz() {
    "${RUN[@]}" xz -T2 --block-size=1MiB -3 -c "$INPUT/lines" >data.xz
    sha256sum <data.xz
    "${RUN[@]}" xz -T2 -d -c data.xz | sha256sum
}

case_zstd() {
    "${RUN[@]}" zstd -q -T2 -B1M -12 -c "$INPUT/lines" >data.zst
    sha256sum <data.zst
    "${RUN[@]}" zstd -q -T2 -d -c data.zst | sha256sum
}

# Writes round $1 of the git case's work tree: every file in round 0; afterwards a third of
# them rewritten, 20 new ones and one removed.
git_write_round() {
    local round=$1 i line first=0
    ((round == 0)) || first=$((300 + 20 * (round - 1)))
    mkdir -p d0 d1 d2 d3 d4 d5 d6 d7 d8 d9
    for ((i = 0; i < 300 + 20 * round; i++)); do
        ((round == 0 || i % 3 == round % 3 || i >= first)) || continue
        for ((line = 0; line < 40; line++)); do
            echo "file $i round $round line $line value $((i * line % 97))"
        done >"d$((i % 10))/f$i.txt"
    done
    ((round == 0)) || rm -f "d$((round % 10))/f$((round * 7)).txt"
}

case_git() {
    export HOME=$PWD GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
    export GIT_AUTHOR_NAME=aslab GIT_AUTHOR_EMAIL=aslab@example.org
    export GIT_COMMITTER_NAME=aslab GIT_COMMITTER_EMAIL=aslab@example.org
    export GIT_AUTHOR_DATE='2024-01-01T00:00:00 +0000'
    export GIT_COMMITTER_DATE=$GIT_AUTHOR_DATE
    "${RUN[@]}" git init -q -b main repo
    cd repo || return 1
    local round
    for round in 0 1 2 3 4; do
        git_write_round "$round"
        "${RUN[@]}" git add -A
        "${RUN[@]}" git commit -q -m "round $round"
    done
    "${RUN[@]}" git log --stat --format='%H %an %ad %s'
    "${RUN[@]}" git diff --stat HEAD~4 HEAD
    "${RUN[@]}" git gc -q
    "${RUN[@]}" git count-objects -v | grep -E '^(count|in-pack|packs|garbage):'
    "${RUN[@]}" git cat-file --batch-all-objects --batch-check
    "${RUN[@]}" git fsck --full --no-progress
    "${RUN[@]}" git rev-list --objects --all | sha256sum
}
