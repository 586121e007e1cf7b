#!/bin/bash
# commit_limit.sh PROGRAM LIB: PROGRAM (commit_limit.c) under LD_PRELOAD=LIB, at small,
# medium, large and direct sizes, with the kernel's commit limit strict and 768 MiB above what
# is committed now (vm.overcommit_memory=2, vm.overcommit_kbytes). Changes those two sysctls
# for a few seconds and restores them on any exit: root only, skipped elsewhere (or where
# /proc/sys is read-only, as in most containers).
set -u
program=$1 lib=$2
vm=/proc/sys/vm
if [ "$(id -u)" != 0 ] || ! [ -w $vm/overcommit_memory ] || ! [ -w $vm/overcommit_kbytes ]; then
    echo "commit_limit: skipped (needs root and a writable $vm)"
    exit 0
fi
mode=$(cat $vm/overcommit_memory) kbytes=$(cat $vm/overcommit_kbytes) ratio=$(cat $vm/overcommit_ratio)
restore() {
    echo "$ratio" > $vm/overcommit_ratio
    [ "$kbytes" != 0 ] && echo "$kbytes" > $vm/overcommit_kbytes
    echo "$mode" > $vm/overcommit_memory
}
trap restore EXIT INT TERM HUP
committed=$(awk '/^Committed_AS:/ {print $2}' /proc/meminfo)
echo $((committed + 768 * 1024)) > $vm/overcommit_kbytes || exit 1
echo 2 > $vm/overcommit_memory || exit 1
rc=0
for size in 100 3000 200000 5000000 50000000; do
    LD_PRELOAD=$lib timeout 60 "$program" $size || { echo "commit_limit: size $size: FAIL (exit $?)"; rc=1; }
done
exit $rc
