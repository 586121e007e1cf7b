/* large_loop.c - `large_loop [ITERATIONS [TOUCH [MIN_MIB MAX_MIB [THREADS]]]]`: allocates a
 * block of 5-25 MiB (uniform, seeded; MIN_MIB to MAX_MIB when given), writes it, frees it;
 * ITERATIONS times (default 400), in each of THREADS threads at once (default 1; each its own
 * seed). TOUCH says how it is written: 1 (default) writes every byte (memset), 0 one byte per
 * 4 KiB page (faults dominate, the harshest case for an allocator that gives freed pages back
 * at once), 2 its first and last bytes only (the allocator's own cost per block, and any lock
 * that threads cycling big blocks share).
 *
 * The pattern that made a return-freed-pages-at-once policy ten times slower than glibc:
 * every page of every block faulted in again. It is the check on the fallback's memory
 * return (docs/memory-return.md); compare wall time and minor faults with glibc's, e.g.
 *   /usr/bin/time -f '%e s %R faults %M KiB' build/bench/large_loop
 *   /usr/bin/time -f '%e s %R faults %M KiB' env LD_PRELOAD=build/libaslab_malloc.so \
 *       build/bench/large_loop
 * and with threads, e.g. `large_loop 1000000 2 1 4 2` (two threads cycling 1-4 MiB blocks).
 */
#include "bench_util.h"

#include <pthread.h>

struct loop {
    pthread_t tid;
    long iterations;
    int touch;
    size_t min, max;
    uint64_t rng, sum;
} PER_THREAD;

static void write_block(unsigned char *p, size_t size, int touch, long i) {
    if (touch == 1)
        memset(p, (int)(i & 0xff), size);
    else if (touch == 0)
        for (size_t at = 0; at < size; at += 4096)
            p[at] = (unsigned char)i;
    else
        p[0] = p[size - 1] = (unsigned char)i;
}

static void *run_loop(void *arg) {
    struct loop *l = arg;
    for (long i = 0; i < l->iterations; i++) {
        size_t size = l->min + (size_t)rng_below(&l->rng, l->max - l->min);
        unsigned char *p = malloc(size);
        if (p == NULL) die("large_loop: malloc failed");
        write_block(p, size, l->touch, i);
        __asm__ volatile("" : : "r"(p) : "memory"); /* the writes happen: free is not told */
        l->sum += p[size - 1] + (l->touch == 2 ? p[0] : p[size / 2]);
        free(p);
    }
    return NULL;
}

int main(int argc, char **argv) {
    long iterations = arg_long(argc, argv, 1, 400), threads = arg_long(argc, argv, 5, 1);
    int touch = argc > 2 ? atoi(argv[2]) : 1;
    size_t min = (size_t)arg_long(argc, argv, 3, 5) << 20, max = (size_t)arg_long(argc, argv, 4, 25)
                                                                 << 20;
    if (max < min) die("large_loop: MAX_MIB below MIN_MIB");
    if (touch < 0 || touch > 2) die("large_loop: TOUCH is 0, 1 or 2");
    struct loop *loops = bench_array((size_t)threads * sizeof *loops);
    double start = now_sec();
    for (long t = 0; t < threads; t++) {
        loops[t] = (struct loop){.iterations = iterations, .touch = touch, .min = min, .max = max};
        loops[t].rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(t + 1);
        if (pthread_create(&loops[t].tid, NULL, run_loop, &loops[t]) != 0)
            die("large_loop: pthread_create failed");
    }
    uint64_t sum = 0;
    for (long t = 0; t < threads; t++) {
        pthread_join(loops[t].tid, NULL);
        sum += loops[t].sum;
    }
    printf("large_loop: %ld blocks in %ld threads, checksum %llu\n", iterations * threads, threads,
           (unsigned long long)sum);
    metric("seconds", now_sec() - start);
    metric("rss_end_mib", rss_mib());
    return 0;
}
