/* bench_core.c - the speed of the aslab core, with glibc malloc alongside.
 * a. ns per alloc+free pair of 64-byte objects for each lock and slab size, on 1 thread and
 *    on 2 threads sharing one cache (clones of one handle), so that the lock is contended.
 * b. ns per steady-state replacement (free a random live object, allocate another in its
 *    place) of 16-byte objects with 10^3, 10^5 and 10^7 objects live: flat if O(1).
 * Every figure is the median of REPS timed runs after a warm-up, with min and max. The
 * program asserts nothing about time: the machine may be shared and noisy. */
#include "aslab.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define REPS        5
#define CHUNK       256 /* pairs between two looks at the stop flag */
#define PAIR_SIZE   64
#define STEADY_SIZE 16
#define STEADY_SLAB ((size_t)65536)

static double rep_seconds = 0.2;    /* a: length of one timed run */
static size_t steady_ops = 2000000; /* b: replacements per timed run */

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void die(const char *what) {
    fprintf(stderr, "bench_core: %s failed\n", what);
    exit(1);
}

static void check(aslab_error err, const char *what) {
    if (err == ASLAB_OK) return;
    fprintf(stderr, "bench_core: %s: %s\n", what, aslab_strerror(err));
    exit(1);
}

typedef struct summary {
    double med, min, max;
} summary;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static summary summarize(double *v) {
    qsort(v, REPS, sizeof *v, cmp_double);
    return (summary){v[REPS / 2], v[0], v[REPS - 1]};
}

/* ---- a. alloc+free pairs ---------------------------------------------------------------- */

typedef struct worker {
    _Alignas(64) aslab_cache *cache; /* NULL: glibc malloc */
    size_t slab_size;
    pthread_barrier_t *start;
    atomic_int *stop;
    void *volatile sink; /* keeps every pair observable */
    uint64_t pairs;
    double ns;
} worker;

static void *pair_worker(void *arg) {
    worker *w = arg;
    aslab_cache *cache = w->cache;
    size_t slab_size = w->slab_size;
    uint64_t pairs = 0;
    pthread_barrier_wait(w->start);
    double t0 = now_ns();
    do {
        for (int i = 0; i < CHUNK; i++) {
            void *p;
            if (cache == NULL) {
                if ((p = malloc(PAIR_SIZE)) == NULL) die("malloc");
                w->sink = p;
                free(p);
            } else {
                check(aslab_alloc(cache, &p), "aslab_alloc");
                w->sink = p;
                check(aslab_free(p, slab_size), "aslab_free");
            }
        }
        pairs += CHUNK;
    } while (!atomic_load_explicit(w->stop, memory_order_relaxed));
    w->ns = now_ns() - t0;
    w->pairs = pairs;
    return NULL;
}

/* One timed run of `seconds`: ns per pair per thread, and the aggregate Mpairs/s. */
static void pair_run(worker *w, int threads, double seconds, double *ns, double *mpairs) {
    pthread_t tid[2];
    pthread_barrier_t start;
    atomic_int stop = 0;
    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    for (int t = 0; t < threads; t++) {
        w[t].start = &start;
        w[t].stop = &stop;
        if (pthread_create(&tid[t], NULL, pair_worker, &w[t]) != 0) die("pthread_create");
    }
    pthread_barrier_wait(&start);
    struct timespec d = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&d, NULL);
    atomic_store(&stop, 1);
    double per_thread = 0, pairs = 0, longest = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        per_thread += w[t].ns / (double)w[t].pairs / threads;
        pairs += (double)w[t].pairs;
        if (w[t].ns > longest) longest = w[t].ns;
    }
    pthread_barrier_destroy(&start);
    *ns = per_thread;
    *mpairs = pairs / longest * 1e3;
}

/* One table row; lock NULL means glibc malloc. Two threads share one cache through a clone,
 * except with aslab_nolock, which cannot be shared: each thread then has its own cache. */
static double pair_row(const aslab_lock_ops *lock, const char *name, size_t slab_size, int threads,
                       double malloc_ns) {
    worker w[2] = {{0}};
    for (int t = 0; t < threads; t++) {
        w[t].slab_size = slab_size;
        if (lock == NULL) continue;
        if (t == 0 || lock == &aslab_nolock)
            check(aslab_cache_create(&w[t].cache, PAIR_SIZE, 8, slab_size, lock), "create");
        else if ((w[t].cache = aslab_cache_clone(w[0].cache)) == NULL)
            die("aslab_cache_clone");
    }
    double ns[REPS], mpairs[REPS], unused;
    pair_run(w, threads, rep_seconds / 4, &unused, &unused);
    for (int r = 0; r < REPS; r++)
        pair_run(w, threads, rep_seconds, &ns[r], &mpairs[r]);
    for (int t = 0; t < threads; t++)
        if (w[t].cache != NULL) check(aslab_cache_release(w[t].cache), "release");

    summary s = summarize(ns), agg = summarize(mpairs);
    char slab[24] = "-";
    if (lock != NULL) snprintf(slab, sizeof slab, "%zuK", slab_size / 1024);
    printf("%-18s %5s %7d %9.1f %7.1f %7.1f %11.1f %12.2f\n", name, slab, threads, s.med, s.min,
           s.max, agg.med, (malloc_ns > 0 ? malloc_ns : s.med) / s.med);
    return s.med;
}

static void bench_pairs(void) {
    static const struct {
        const aslab_lock_ops *lock;
        const char *name[2]; /* on 1 thread, on 2 */
    } locks[] = {
        {&aslab_nolock, {"nolock", "nolock (private)"}},
        {&aslab_spinlock, {"spinlock", "spinlock"}},
        {&aslab_futexlock, {"futexlock", "futexlock"}},
    };
    static const size_t slabs[] = {4096, 65536};
    printf("a. alloc+free pairs of %d-byte objects; ns per pair per thread: median, min, max of "
           "%d runs of %.2f s\n",
           PAIR_SIZE, REPS, rep_seconds);
    printf("%-18s %5s %7s %9s %7s %7s %11s %12s\n", "allocator", "slab", "threads", "ns/pair",
           "min", "max", "Mpairs/s", "malloc/this");
    for (int threads = 1; threads <= 2; threads++) {
        double malloc_ns = pair_row(NULL, "glibc malloc", 0, threads, 0);
        for (size_t l = 0; l < sizeof locks / sizeof locks[0]; l++)
            for (size_t s = 0; s < sizeof slabs / sizeof slabs[0]; s++)
                pair_row(locks[l].lock, locks[l].name[threads - 1], slabs[s], threads, malloc_ns);
    }
}

/* ---- b. steady state with many live objects --------------------------------------------- */

enum steady_mode { STEADY_ASLAB, STEADY_MALLOC, STEADY_TOUCH };

/* xorshift64, then a multiply-shift into [0, n): no division on the timed path. */
static inline uint32_t next_index(uint64_t *x, uint32_t n) {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return (uint32_t)(((*x >> 32) * (uint64_t)n) >> 32);
}

/* ns per replacement of a random live object; STEADY_TOUCH only writes to it, to show what
 * the random accesses alone cost. The same seed gives every mode the same index sequence. */
static double steady_run(enum steady_mode mode, aslab_cache *cache, void **live, uint32_t n,
                         uint64_t seed) {
    uint64_t x = seed;
    double t0 = now_ns();
    for (size_t i = 0; i < steady_ops; i++) {
        uint32_t k = next_index(&x, n);
        if (mode == STEADY_ASLAB) {
            check(aslab_free(live[k], STEADY_SLAB), "aslab_free");
            check(aslab_alloc(cache, &live[k]), "aslab_alloc");
        } else if (mode == STEADY_MALLOC) {
            free(live[k]);
            if ((live[k] = malloc(STEADY_SIZE)) == NULL) die("malloc");
        } else {
            ++*(volatile uint32_t *)live[k];
        }
    }
    return (now_ns() - t0) / (double)steady_ops;
}

static summary steady_reps(enum steady_mode mode, aslab_cache *cache, void **live, uint32_t n) {
    double ns[REPS];
    steady_run(mode, cache, live, n, 0x9e3779b97f4a7c15u);
    for (int r = 0; r < REPS; r++)
        ns[r] = steady_run(mode, cache, live, n, 0x2545f4914f6cdd1du * (uint64_t)(r + 1));
    return summarize(ns);
}

static void steady_row(uint32_t n, double *aslab_first) {
    void **live = malloc(n * sizeof *live);
    aslab_cache *cache;
    if (live == NULL) die("malloc");
    check(aslab_cache_create(&cache, STEADY_SIZE, 8, STEADY_SLAB, &aslab_nolock), "create");
    for (uint32_t i = 0; i < n; i++) {
        check(aslab_alloc(cache, &live[i]), "aslab_alloc");
        memset(live[i], 0, STEADY_SIZE);
    }
    summary a = steady_reps(STEADY_ASLAB, cache, live, n);
    summary t = steady_reps(STEADY_TOUCH, cache, live, n);
    check(aslab_free_bulk(live, n, STEADY_SLAB), "aslab_free_bulk");
    check(aslab_cache_release(cache), "release");

    for (uint32_t i = 0; i < n; i++)
        if ((live[i] = malloc(STEADY_SIZE)) == NULL) die("malloc");
    summary m = steady_reps(STEADY_MALLOC, NULL, live, n);
    for (uint32_t i = 0; i < n; i++)
        free(live[i]);
    free(live);

    if (*aslab_first == 0) *aslab_first = a.med;
    printf("%10u %9.1f %6.1f-%-6.1f %9.1f %6.1f-%-6.1f %12.2f %10.2f %9.1f\n", n, a.med, a.min,
           a.max, m.med, m.min, m.max, m.med / a.med, a.med / *aslab_first, t.med);
    fflush(stdout);
}

static void bench_steady(void) {
    static const uint32_t counts[] = {1000, 100000, 10000000};
    double aslab_first = 0;
    printf("\nb. steady state: free a random live object, allocate a replacement; %d-byte "
           "objects,\n   aslab_nolock cache with %zuK slabs; ns per replacement: median, "
           "min-max of %d runs of %zu\n",
           STEADY_SIZE, STEADY_SLAB / 1024, REPS, steady_ops);
    printf("%10s %9s %13s %9s %13s %12s %10s %9s\n", "live", "aslab ns", "min-max", "malloc ns",
           "min-max", "malloc/aslab", "vs 1st row", "touch ns");
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        steady_row(counts[i], &aslab_first);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") != 0) {
            fprintf(stderr, "usage: %s [--quick]\n", argv[0]);
            return 2;
        }
        rep_seconds = 0.02;
        steady_ops = 200000;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("aslab core benchmark: %ld online CPUs; no timing is asserted, read medians and "
           "ratios\n\n",
           sysconf(_SC_NPROCESSORS_ONLN));
    bench_pairs();
    bench_steady();
    return 0;
}
