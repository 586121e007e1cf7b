/* kvcache.c - `kvcache [VALUES [OPS [SIZE]]]`: a key-value cache whose values are overwritten at
 * random, as redis's SET on random keys does: VALUES live values (default 150000) of SIZE bytes
 * (default 280, one size class) take OPS overwrites (default 5000000), each the old value's
 * stamp checked, the value freed, a new one allocated and stamped. One thread.
 *
 * Every slab of the class is full after the fill, and each overwrite frees a block of a random
 * one of them: an allocator that gives that block back to its slab and then allocates from the
 * slab that has a free block pays a slab change per overwrite, where one that keeps the thread's
 * freed blocks for its next malloc (a thread cache) pays nothing. stdout carries a checksum of
 * the stamps. */
#include "bench_util.h"

static void *new_value(size_t size, uint64_t tag) {
    void *p = malloc(size);
    if (p == NULL) die("kvcache: malloc failed");
    stamp(p, size, tag);
    return p;
}

int main(int argc, char **argv) {
    long values = arg_long(argc, argv, 1, 150000), ops = arg_long(argc, argv, 2, 5000000);
    size_t size = (size_t)arg_long(argc, argv, 3, 280);
    if (size < 16) die("kvcache: SIZE must be at least 16");
    void **value = bench_array((size_t)values * sizeof *value);
    uint64_t *tag = bench_array((size_t)values * sizeof *tag);
    uint64_t rng = 0x9E3779B97F4A7C15ULL, sum = 0, bad = 0;
    for (long i = 0; i < values; i++)
        value[i] = new_value(size, tag[i] = rng_next(&rng));
    double t0 = now_sec();
    for (long k = 0; k < ops; k++) {
        long i = (long)rng_below(&rng, (uint64_t)values);
        if (stamp_ok(value[i], size, tag[i]))
            sum += tag[i] >> 32;
        else
            bad++;
        free(value[i]);
        value[i] = new_value(size, tag[i] = rng_next(&rng));
    }
    metric("ns_per_op", (now_sec() - t0) * 1e9 / (double)ops);
    metric("rss_mib", rss_mib());
    for (long i = 0; i < values; i++)
        free(value[i]);
    printf("kvcache: %ld values of %zu bytes, %ld overwrites, checksum %llu, corrupt %llu\n",
           values, size, ops, (unsigned long long)sum, (unsigned long long)bad);
    return bad != 0;
}
