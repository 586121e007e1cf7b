#!/bin/sh
# callgrind_pairs.sh PAIR_LOOP - instructions per alloc+free pair, aslab against glibc malloc,
# counted by callgrind inside pair_loop's run_pairs. Each figure is
# (Ir at N2 - Ir at N1) / (N2 - N1): set-up and first-touch costs, equal in both runs, cancel.
# Builds nothing; PAIR_LOOP is the path of a built pair_loop.
set -eu
bin=${1:?usage: callgrind_pairs.sh PATH/TO/pair_loop}
n1=10000
n2=20000
tmp=$(mktemp -d "${TMPDIR:-/tmp}/callgrind_pairs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

run() { # MODE SIZE N: leaves the count in $tmp/MODE.SIZE.N.out
    out="$tmp/$1.$2.$3.out"
    if ! valgrind --tool=callgrind --toggle-collect=run_pairs --callgrind-out-file="$out" \
        "$bin" "$1" "$2" "$3" >"$out.log" 2>&1; then
        cat "$out.log" >&2
        exit 1
    fi
}
count() { awk '/^(summary|totals):/ { print $2; exit }' "$tmp/$1.$2.$3.out"; }
per_pair() { echo "$(count "$1" "$2" $n1) $(count "$1" "$2" $n2) $((n2 - n1))"; }

echo "instructions per alloc+free pair (callgrind, run_pairs only, (Ir@$n2 - Ir@$n1) / $((n2 - n1)))"
printf '%6s %17s %17s %12s\n' size 'aslab instr/pair' 'glibc instr/pair' 'glibc/aslab'
for size in 16 64 256 1024; do
    for mode in aslab malloc; do
        run $mode $size $n1
        run $mode $size $n2
    done
    echo "$size $(per_pair aslab "$size") $(per_pair malloc "$size")" |
        awk '{ a = ($3 - $2) / $4; g = ($6 - $5) / $7
               printf "%6d %17.1f %17.1f %12.2f\n", $1, a, g, g / a }'
done
