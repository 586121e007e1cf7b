/* walk.c - `walk [OBJECTS [ROUNDS [SIZE]]]`: objects walked in the order they were allocated,
 * after churn. OBJECTS blocks (default 1000000) of SIZE bytes (default 48) are allocated into
 * an array and stamped; each of ROUNDS rounds (default 10) frees half of them, chosen at
 * random, allocates them again into the same slots, and then reads every block's stamp in
 * array order, five times over. The model is an interpreter's heap (CPython under
 * PYTHONMALLOC=malloc): lists of objects whose members die at random and are replaced, then
 * iterated. What the allocator decides is where the replacements land: near the blocks
 * around them in the array (jemalloc hands out a slab's lowest free slot first), or in the
 * order the program freed them, scattered. The walks' own time goes to stderr as
 * walk_ns_per_block; stdout carries the checksum. */
#include "bench_util.h"

#define PASSES 5

static uint64_t tag_of(size_t i) {
    return 0x5851F42D4C957F2DULL * (uint64_t)(i + 1);
}

/* Frees half of the blocks, chosen at random (a slot may be drawn twice: it is freed once),
 * and allocates every freed slot again in array order. */
static void churn(void **obj, size_t n, size_t size, uint64_t *rng, uint64_t *bad) {
    for (size_t k = 0; k < n / 2; k++) {
        size_t i = rng_below(rng, n);
        if (obj[i] == NULL) continue;
        if (!stamp_ok(obj[i], size, tag_of(i))) (*bad)++;
        free(obj[i]);
        obj[i] = NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (obj[i] == NULL) {
            if ((obj[i] = malloc(size)) == NULL) die("walk: malloc failed");
            stamp(obj[i], size, tag_of(i));
        }
}

/* Reads every block's first word in array order, PASSES times; the sum of what it read. */
static uint64_t walk_all(void *const *obj, size_t n) {
    uint64_t sum = 0;
    for (int pass = 0; pass < PASSES; pass++)
        for (size_t i = 0; i < n; i++)
            sum += *(const volatile uint64_t *)obj[i];
    return sum;
}

int main(int argc, char **argv) {
    size_t n = (size_t)arg_long(argc, argv, 1, 1000000);
    long rounds = arg_long(argc, argv, 2, 10);
    size_t size = (size_t)arg_long(argc, argv, 3, 48);
    if (size < 16) die("walk: SIZE must be at least 16");
    void **obj = bench_array(n * sizeof *obj);
    uint64_t rng = 0x9E3779B97F4A7C15ULL, sum = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        if ((obj[i] = malloc(size)) == NULL) die("walk: malloc failed");
        stamp(obj[i], size, tag_of(i));
    }
    double walking = 0;
    for (long r = 0; r < rounds; r++) {
        churn(obj, n, size, &rng, &bad);
        double t0 = now_sec();
        sum += walk_all(obj, n);
        walking += now_sec() - t0;
    }
    for (size_t i = 0; i < n; i++) {
        if (!stamp_ok(obj[i], size, tag_of(i))) bad++;
        free(obj[i]);
    }
    metric("walk_ns_per_block", walking * 1e9 / ((double)rounds * PASSES * (double)n));
    metric("rss_mib", rss_mib());
    printf("walk: %zu blocks of %zu B, %ld rounds, checksum %llu, corrupt %llu\n", n, size, rounds,
           (unsigned long long)sum, (unsigned long long)bad);
    return bad != 0;
}
