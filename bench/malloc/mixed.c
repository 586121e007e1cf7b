/* mixed.c - `mixed [SLOTS [OPS]]`: a working set of SLOTS live blocks (default 262144, about
 * 200 MiB, far beyond the CPU caches) of randomly mixed sizes, and OPS random replacements
 * (default 20000000): free the block in a random slot after checking its stamp, allocate
 * one of a new random size and stamp it. Sizes: 60% 16-128 B, 30% 128-1024 B, 9% 1-8 KiB,
 * 1% 8-32 KiB. Measures malloc and free when their metadata and the blocks are cold. */
#include "bench_util.h"

static size_t random_size(uint64_t *rng) {
    uint64_t r = rng_below(rng, 100);
    if (r < 60) return 16 + rng_below(rng, 113);
    if (r < 90) return 128 + rng_below(rng, 897);
    if (r < 99) return 1024 + rng_below(rng, 7169);
    return 8192 + rng_below(rng, 24577);
}

int main(int argc, char **argv) {
    long slots = arg_long(argc, argv, 1, 262144), ops = arg_long(argc, argv, 2, 20000000);
    void **obj = bench_array((size_t)slots * sizeof *obj);
    uint32_t *size = bench_array((size_t)slots * sizeof *size);
    uint64_t *tag = bench_array((size_t)slots * sizeof *tag);
    uint64_t rng = 0x9E3779B97F4A7C15ULL, sum = 0, bad = 0;
    for (long i = 0; i < slots; i++) {
        size[i] = (uint32_t)random_size(&rng);
        tag[i] = rng_next(&rng);
        if ((obj[i] = malloc(size[i])) == NULL) die("mixed: malloc failed");
        stamp(obj[i], size[i], tag[i]);
    }
    double t0 = now_sec();
    for (long k = 0; k < ops; k++) {
        long i = (long)rng_below(&rng, (uint64_t)slots);
        if (stamp_ok(obj[i], size[i], tag[i]))
            sum += tag[i] >> 32;
        else
            bad++;
        free(obj[i]);
        size[i] = (uint32_t)random_size(&rng);
        tag[i] = rng_next(&rng);
        if ((obj[i] = malloc(size[i])) == NULL) die("mixed: malloc failed");
        stamp(obj[i], size[i], tag[i]);
    }
    metric("ns_per_replacement", (now_sec() - t0) * 1e9 / (double)ops);
    metric("rss_mib", rss_mib());
    for (long i = 0; i < slots; i++) {
        if (!stamp_ok(obj[i], size[i], tag[i])) bad++;
        free(obj[i]);
    }
    printf("mixed: %ld slots, %ld replacements, checksum %llu, corrupt %llu\n", slots, ops,
           (unsigned long long)sum, (unsigned long long)bad);
    return bad != 0;
}
