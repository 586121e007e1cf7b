/* replace.c - `replace [BLOCKS [OPS]]`: larson's loop without its threads. One thread replaces
 * random blocks of an array of BLOCKS (default 20000) live blocks of 16-512 B, OPS times
 * (default 10000000): the old block's stamp checked, the block freed, a new one of a random
 * size allocated and stamped.
 *
 * Nearly every free is of a block in a slab the thread does not allocate from at the moment
 * (its blocks spread over every slab of every class), and the working set (5 MB at the
 * default) fits the last-level cache but not the L2: an allocator whose free has to read and
 * write per-slab state there pays for it in misses, where one that keeps the thread's freed
 * blocks for its next malloc (a thread cache) writes only the block. aslab trailed tcmalloc
 * by a third here (docs/thread-owned-slabs.md, "The thread's own blocks on the kept list").
 * `ns_per_op` on stderr; stdout carries a checksum of the stamps. */
#include "bench_util.h"

#define MIN_SIZE 16
#define MAX_SIZE 512

/* A block's tag carries its size in its low half, so that the check needs nothing else. */
static void *new_block(uint64_t *rng) {
    size_t size = MIN_SIZE + rng_below(rng, MAX_SIZE - MIN_SIZE + 1);
    void *p = malloc(size);
    if (p == NULL) die("replace: malloc failed");
    stamp(p, size, (rng_next(rng) & ~(uint64_t)0xffffffff) | size);
    return p;
}

/* Adds the block's check value to *sum when its stamp holds; 0 when it does not. */
static int block_ok(const void *p, uint64_t *sum) {
    uint64_t tag;
    memcpy(&tag, p, sizeof tag);
    size_t size = (uint32_t)tag;
    if (size < MIN_SIZE || size > MAX_SIZE || !stamp_ok(p, size, tag)) return 0;
    *sum += tag >> 32;
    return 1;
}

int main(int argc, char **argv) {
    long blocks = arg_long(argc, argv, 1, 20000), ops = arg_long(argc, argv, 2, 10000000);
    void **block = bench_array((size_t)blocks * sizeof *block);
    uint64_t rng = 0x9E3779B97F4A7C15ULL, sum = 0, bad = 0;
    for (long i = 0; i < blocks; i++)
        block[i] = new_block(&rng);
    double t0 = now_sec();
    for (long k = 0; k < ops; k++) {
        long i = (long)rng_below(&rng, (uint64_t)blocks);
        bad += !block_ok(block[i], &sum);
        free(block[i]);
        block[i] = new_block(&rng);
    }
    metric("ns_per_op", (now_sec() - t0) * 1e9 / (double)ops);
    metric("rss_mib", rss_mib());
    for (long i = 0; i < blocks; i++) {
        bad += !block_ok(block[i], &sum);
        free(block[i]);
    }
    printf("replace: %ld blocks of %d-%d bytes, %ld replacements, checksum %llu, corrupt %llu\n",
           blocks, MIN_SIZE, MAX_SIZE, ops, (unsigned long long)sum, (unsigned long long)bad);
    return bad != 0;
}
