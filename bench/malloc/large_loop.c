/* large_loop.c - `large_loop [ITERATIONS [TOUCH [MIN_MIB MAX_MIB]]]`: allocates a block of
 * 5-25 MiB (uniform, seeded; MIN_MIB to MAX_MIB when given), writes it, frees it; ITERATIONS
 * times (default 400). TOUCH says how it is written: 1 (default) writes every byte (memset),
 * 0 one byte per 4 KiB page (faults dominate, the harshest case for an allocator that gives
 * freed pages back at once).
 *
 * The pattern that made a return-freed-pages-at-once policy ten times slower than glibc:
 * every page of every block faulted in again. It is the check on the fallback's memory
 * return (docs/memory-return.md); compare wall time and minor faults with glibc's, e.g.
 *   /usr/bin/time -f '%e s %R faults %M KiB' build/bench/large_loop
 *   /usr/bin/time -f '%e s %R faults %M KiB' env LD_PRELOAD=build/libaslab_malloc.so \
 *       build/bench/large_loop
 */
#include "bench_util.h"

int main(int argc, char **argv) {
    long iterations = arg_long(argc, argv, 1, 400);
    int touch_all = argc > 2 ? atoi(argv[2]) != 0 : 1;
    size_t min = (size_t)arg_long(argc, argv, 3, 5) << 20, max = (size_t)arg_long(argc, argv, 4, 25)
                                                                 << 20;
    if (max < min) die("large_loop: MAX_MIB below MIN_MIB");
    uint64_t rng = 0x9E3779B97F4A7C15ULL, sum = 0;
    double start = now_sec();
    for (long i = 0; i < iterations; i++) {
        size_t size = min + (size_t)rng_below(&rng, max - min);
        unsigned char *p = malloc(size);
        if (p == NULL) die("large_loop: malloc failed");
        if (touch_all)
            memset(p, (int)(i & 0xff), size);
        else
            for (size_t at = 0; at < size; at += 4096)
                p[at] = (unsigned char)i;
        __asm__ volatile("" : : "r"(p) : "memory"); /* the writes happen: free is not told */
        sum += p[size / 2] + p[size - 1];
        free(p);
    }
    printf("large_loop: %ld blocks, checksum %llu\n", iterations, (unsigned long long)sum);
    metric("seconds", now_sec() - start);
    metric("rss_end_mib", rss_mib());
    return 0;
}
