/* frag.c - `frag [MIB [IDLE_MS]]`: allocates MIB MiB (default 1024) of mixed small blocks
 * (16-1024 B, skewed small), frees 90% of them in random order, and reports the resident
 * set at the peak, after the frees, after IDLE_MS ms without any call (default 0: skipped),
 * and after malloc_trim(0). The survivors pin scattered pages: how much does each allocator
 * give back? malloc_trim is glibc's symbol; under a preloaded allocator it is that
 * allocator's if it exports one, else glibc's, which trims only glibc's own heap. The figures
 * are the growth of the resident set since the start minus the bookkeeping arrays the
 * benchmark itself has touched by then (16 bytes per block at most). */
#include "bench_util.h"

#include <malloc.h>

static size_t random_size(uint64_t *rng) {
    uint64_t r = rng_below(rng, 100);
    if (r < 50) return 16 + rng_below(rng, 49);
    if (r < 85) return 64 + rng_below(rng, 193);
    return 256 + rng_below(rng, 769);
}

int main(int argc, char **argv) {
    long mib = arg_long(argc, argv, 1, 1024), idle_ms = argc > 2 ? atol(argv[2]) : 0;
    size_t target = (size_t)mib << 20, cap = target / 16 + 1, n = 0, bytes = 0;
    void **obj = bench_array(cap * sizeof *obj);
    uint32_t *size = bench_array(cap * sizeof *size);
    uint32_t *order = bench_array(cap * sizeof *order);
    uint64_t rng = 0x9E3779B97F4A7C15ULL, sum = 0, bad = 0;
    double rss0 = rss_mib();
    while (bytes < target) {
        size[n] = (uint32_t)random_size(&rng);
        if ((obj[n] = malloc(size[n])) == NULL) die("frag: malloc failed");
        stamp(obj[n], size[n], n);
        bytes += size[n++];
    }
    /* obj and size are touched up to n now, order too from the shuffle on. */
    double books = (double)n * (sizeof *obj + sizeof *size) / 1048576.0;
    metric("rss_peak_mib", rss_mib() - rss0 - books);
    books += (double)n * sizeof *order / 1048576.0;
    for (size_t i = 0; i < n; i++)
        order[i] = (uint32_t)i;
    for (size_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
        size_t j = rng_below(&rng, i + 1);
        uint32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    size_t freed = n / 10 * 9;
    for (size_t k = 0; k < freed; k++) {
        size_t i = order[k];
        if (!stamp_ok(obj[i], size[i], i)) bad++;
        free(obj[i]);
        obj[i] = NULL;
    }
    metric("rss_after_free_mib", rss_mib() - rss0 - books);
    if (idle_ms > 0) {
        struct timespec ts = {idle_ms / 1000, idle_ms % 1000 * 1000000L};
        nanosleep(&ts, NULL);
        metric("rss_after_idle_mib", rss_mib() - rss0 - books);
    }
    malloc_trim(0);
    metric("rss_after_trim_mib", rss_mib() - rss0 - books);
    for (size_t i = 0; i < n; i++) {
        if (obj[i] == NULL) continue;
        if (stamp_ok(obj[i], size[i], i))
            sum += size[i];
        else
            bad++;
        free(obj[i]);
    }
    printf("frag: %zu blocks, %zu MiB, %zu freed at random, %llu bytes survived, corrupt %llu\n", n,
           bytes >> 20, freed, (unsigned long long)sum, (unsigned long long)bad);
    return bad != 0;
}
