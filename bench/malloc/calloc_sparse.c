/* calloc_sparse.c - `calloc_sparse [COUNT [ROUNDS]]`: a program that callocs big tables and
 * fills only a few entries of each (hash tables, sparse arrays, buffers sized for the worst
 * case). Each of ROUNDS rounds (default 20) callocs COUNT blocks (default 400) of 16 KiB to
 * 1 MiB (log-uniform, seeded), writes one word in every 16 KiB of each, checks that a few
 * other words read zero, and frees them all. An allocator that knows which memory is fresh
 * leaves the untouched pages alone; one that clears every block writes, and faults in, all
 * of them. The peak RSS and the time tell which (the first round is where fresh memory is;
 * later rounds show what freed blocks cost). */
#include "bench_util.h"

#define MIN_SHIFT 14 /* 16 KiB */
#define MAX_SHIFT 20 /* 1 MiB */
#define STRIDE    16384

static size_t draw_size(uint64_t *rng) {
    unsigned shift = MIN_SHIFT + (unsigned)rng_below(rng, MAX_SHIFT - MIN_SHIFT);
    size_t base = (size_t)1 << shift;
    return base + (size_t)rng_below(rng, base);
}

/* Writes one word per STRIDE bytes; returns how many of the words between read nonzero. */
static long sparse_use(uint64_t *p, size_t size, uint64_t tag) {
    long bad = 0;
    size_t words = size / sizeof *p, step = STRIDE / sizeof *p;
    for (size_t i = 0; i < words; i += step) {
        bad += p[i] != 0;
        bad += i + step / 2 < words && p[i + step / 2] != 0;
        p[i] = tag ^ i;
    }
    bad += p[words - 1] != 0 && (words - 1) % step != 0;
    return bad;
}

int main(int argc, char **argv) {
    long count = arg_long(argc, argv, 1, 400), rounds = arg_long(argc, argv, 2, 20);
    uint64_t **blocks = bench_array((size_t)count * sizeof *blocks);
    uint64_t rng = 0x5eed, bytes = 0;
    long bad = 0;
    double start = now_sec();
    for (long r = 0; r < rounds; r++) {
        for (long i = 0; i < count; i++) {
            size_t size = draw_size(&rng);
            blocks[i] = calloc(1, size);
            if (blocks[i] == NULL) die("calloc_sparse: calloc failed");
            bad += sparse_use(blocks[i], size, (uint64_t)i);
            bytes += size;
        }
        for (long i = 0; i < count; i++)
            free(blocks[i]);
    }
    metric("seconds", now_sec() - start);
    metric("rss_end_mib", rss_mib());
    printf("calloc_sparse: %ld rounds of %ld blocks, %llu MiB asked, nonzero words %ld\n", rounds,
           count, (unsigned long long)(bytes >> 20), bad);
    return bad != 0;
}
