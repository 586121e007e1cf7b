#!/usr/bin/env bash
# redis.sh REQUESTS - redis-server under the allocator in BENCH_PRELOAD, driven by
# redis-benchmark over loopback only (127.0.0.1, a private port, protected mode, no
# persistence). The server is started and stopped here; the clients run on glibc.
#
# 1. loads 50000 hashes, lists and strings from a generated command stream (redis-cli --pipe)
#    and prints what a deterministic probe reads back (stdout, compared between allocators);
# 2. runs redis-benchmark: REQUESTS requests per test, 20 clients, random keys, 256-byte
#    values (its throughput report goes to stderr, never compared);
# 3. prints the server's CPU seconds as `metric server_cpu_s` (stderr), then SHUTDOWN NOSAVE,
#    waits for the server, prints its log to stderr (the runner looks for "cannot be
#    preloaded" and aslab's statistics there).
#
# Debian's redis-server is linked with libjemalloc: with BENCH_PRELOAD empty it would run on
# jemalloc, so the glibc run preloads libc.so.6 itself, which puts glibc's malloc first.
set -euo pipefail
requests=${1:?usage: redis.sh REQUESTS}
preload=${BENCH_PRELOAD:-/lib/x86_64-linux-gnu/libc.so.6}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/aslab-redis.XXXXXX")
server_pid=
port=

cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -9 "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# A private port: try random ones until a server starts on one.
for _ in 1 2 3 4 5 6 7 8; do
    port=$((20000 + RANDOM % 30000))
    LD_PRELOAD=$preload redis-server --bind 127.0.0.1 --port "$port" --protected-mode yes \
        --save '' --appendonly no --daemonize no --logfile '' --dir "$tmp" \
        >"$tmp/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 100); do
        if redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1; then break 2; fi
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.05
    done
    wait "$server_pid" 2>/dev/null || true
    server_pid=
done
if [ -z "$server_pid" ]; then
    cat "$tmp/server.log" >&2 || true
    echo "redis.sh: could not start redis-server on a private port" >&2
    exit 1
fi
cli() { redis-cli -h 127.0.0.1 -p "$port" "$@"; }

awk 'BEGIN {
    for (i = 0; i < 50000; i++) {
        printf "HSET obj:%d name n%d score %d payload %0" (i % 200 + 1) "d\r\n", i, i, i * 7, i
        printf "RPUSH list:%d %d %d %d\r\n", i % 1000, i, i * 2, i * 3
        printf "SET str:%d %0" (i % 300 + 10) "d\r\n", i, i
    }
}' | cli --pipe >/dev/null
echo "redis: dbsize after load $(cli dbsize)"
echo "redis: probe $(cli hget obj:4242 score) $(cli llen list:7) $(cli strlen str:299) $(cli hlen obj:1)"

redis-benchmark -h 127.0.0.1 -p "$port" -n "$requests" -c 20 -r 100000 -d 256 -q \
    -t set,get,incr,lpush,rpop,sadd,hset,spop,zadd,lrange_100,mset 2>&1 |
    tr '\r' '\n' | grep 'requests per second' >&2 || true
echo "redis: probe after benchmark $(cli hget obj:4242 score) $(cli strlen str:299)"

# The server's own CPU time (all its threads, user + system), before it stops: the part of
# the run the allocator under test can change. The wall time also holds the clients', which
# run on glibc, and both share this machine's two cores, so it moves with the scheduling
# (runs of one allocator spread by 20% here); bench/results/latest.md lists this metric.
stat=$(cat "/proc/$server_pid/stat" 2>/dev/null || true)
if [ -n "$stat" ]; then
    read -r -a fields <<<"${stat##*) }" # after the command name, which may hold spaces
    ticks=$((fields[11] + fields[12]))   # utime and stime: fields 14 and 15 of stat(5)
    awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "metric server_cpu_s %.2f\n", t / hz }' >&2
fi

cli shutdown nosave >/dev/null 2>&1 || true
status=0
wait "$server_pid" || status=$?
server_pid=
cat "$tmp/server.log" >&2
echo "redis: server exit status $status"
