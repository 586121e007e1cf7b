/* thread_churn.c - thread caches must not leak as threads come and go. Creates many short
 * threads, a few at a time; each allocates and frees blocks of many size classes, frees a
 * parcel of blocks left by an earlier (now dead) thread, leaves a parcel of its own, and
 * exits. Some threads only free, some never allocate. The resident set at the end must be
 * within a bound of the resident set after the first 100 threads.
 *
 *   thread_churn [--threads N] [--concurrent C] [--bound-mib M] [--seed N]
 */
#define _GNU_SOURCE
#include "util.h"

#include <aslab.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_CONCURRENT 64
#define BLOCKS         256 /* blocks a thread allocates */
#define PARCEL         16  /* blocks a thread leaves to a later one */
#define PARCELS_MAX    64
#define BASELINE_AFTER 100

typedef struct block {
    void *p;
    size_t size;
    uint64_t seed;
} block;

static struct {
    unsigned threads, concurrent;
    size_t bound_mib;
    uint64_t seed;
} opt = {10000, 4, 16, 1};

/* Parcels waiting for a later thread: a stack under a mutex. */
static pthread_mutex_t parcels_lock = PTHREAD_MUTEX_INITIALIZER;
static block parcels[PARCELS_MAX][PARCEL];
static unsigned parcel_count;
static atomic_ullong failures, cross_frees, allocations;

static size_t draw_size(rng *r) {
    uint64_t u = rng_below(r, 100);
    if (u < 90) return rng_range(r, 1, 1024);
    if (u < 98) return rng_range(r, 1025, 16384);
    return rng_range(r, 16385, 128 << 10);
}

static int make(rng *r, block *b, uint64_t generation) {
    b->size = draw_size(r);
    b->p = malloc(b->size);
    if (b->p == NULL) return -1;
    b->seed = pattern_seed(b->p, generation);
    pattern_fill(b->p, b->size, b->seed);
    return 0;
}

static void drop(const block *b) {
    if (pattern_check(b->p, b->size, b->seed) != SIZE_MAX) {
        atomic_fetch_add(&failures, 1);
        fprintf(stderr, "thread_churn: FAIL block %p of %zu bytes corrupted\n", b->p, b->size);
    }
    free(b->p);
}

static int take_parcel(block out[PARCEL]) {
    pthread_mutex_lock(&parcels_lock);
    int got = parcel_count > 0;
    if (got) memcpy(out, parcels[--parcel_count], sizeof parcels[0]);
    pthread_mutex_unlock(&parcels_lock);
    return got;
}

/* Leaves a parcel for a later thread; 0 if the stack was full and the caller keeps it. */
static int leave_parcel(const block in[PARCEL]) {
    pthread_mutex_lock(&parcels_lock);
    int room = parcel_count < PARCELS_MAX;
    if (room) memcpy(parcels[parcel_count++], in, sizeof parcels[0]);
    pthread_mutex_unlock(&parcels_lock);
    return room;
}

/* Allocates BLOCKS blocks, frees all but a parcel in random order, leaves the parcel. */
static void allocate_and_free(rng *r, uint64_t generation) {
    block blocks[BLOCKS];
    unsigned n = 0;
    for (; n < BLOCKS; n++)
        if (make(r, &blocks[n], generation + n) != 0) break;
    atomic_fetch_add(&allocations, n);
    if (n < BLOCKS) atomic_fetch_add(&failures, 1);
    while (n > PARCEL) {
        unsigned i = (unsigned)rng_below(r, n);
        drop(&blocks[i]);
        blocks[i] = blocks[--n];
    }
    if (n == PARCEL && leave_parcel(blocks)) return;
    for (unsigned i = 0; i < n; i++)
        drop(&blocks[i]);
}

static void *churn_thread(void *arg) {
    uint64_t index = (uintptr_t)arg;
    rng r = {mix64(opt.seed ^ mix64(index))};
    uint64_t kind = rng_below(&r, 16); /* 0: never allocates; 1: only frees */
    block parcel[PARCEL];
    if (kind != 0 && take_parcel(parcel)) {
        for (unsigned i = 0; i < PARCEL; i++)
            drop(&parcel[i]);
        atomic_fetch_add(&cross_frees, PARCEL);
    }
    if (kind > 1) allocate_and_free(&r, index << 20);
    return NULL;
}

static void drain_parcels(void) {
    block parcel[PARCEL];
    while (take_parcel(parcel))
        for (unsigned i = 0; i < PARCEL; i++)
            drop(&parcel[i]);
}

/* Runs opt.threads threads, opt.concurrent at a time; fills *baseline after the first 100. */
static int run(size_t *baseline) {
    pthread_t ring[MAX_CONCURRENT];
    for (unsigned i = 0; i < opt.threads; i++) {
        unsigned at = i % opt.concurrent;
        if (i >= opt.concurrent) pthread_join(ring[at], NULL);
        if (i == BASELINE_AFTER + opt.concurrent) *baseline = rss_kib();
        if (i % 1000 == 0 && i > 0)
            fprintf(stderr, "thread_churn: %u threads, RSS %zu KiB\n", i, rss_kib());
        if (pthread_create(&ring[at], NULL, churn_thread, (void *)(uintptr_t)i) != 0) {
            fprintf(stderr, "thread_churn: FAIL pthread_create at thread %u\n", i);
            for (unsigned k = 0; k < opt.concurrent && k < i; k++)
                if (k != at) pthread_join(ring[k], NULL);
            return -1;
        }
    }
    for (unsigned k = 0; k < opt.concurrent && k < opt.threads; k++)
        pthread_join(ring[k], NULL);
    return 0;
}

static int parse_args(int argc, char **argv) {
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--threads") == 0)
            opt.threads = (unsigned)strtoul(argv[i + 1], NULL, 0);
        else if (strcmp(argv[i], "--concurrent") == 0)
            opt.concurrent = (unsigned)strtoul(argv[i + 1], NULL, 0);
        else if (strcmp(argv[i], "--bound-mib") == 0)
            opt.bound_mib = strtoull(argv[i + 1], NULL, 0);
        else if (strcmp(argv[i], "--seed") == 0)
            opt.seed = strtoull(argv[i + 1], NULL, 0);
        else
            return -1;
    }
    if (argc % 2 == 0 || opt.concurrent == 0 || opt.concurrent > MAX_CONCURRENT) return -1;
    return opt.threads < BASELINE_AFTER + 2 * opt.concurrent ? -1 : 0;
}

int main(int argc, char **argv) {
    if (parse_args(argc, argv) != 0) {
        fprintf(stderr,
                "usage: %s [--threads N>=%d] [--concurrent 1..%d] [--bound-mib M] "
                "[--seed N]\n",
                argv[0], BASELINE_AFTER + 2 * 4, MAX_CONCURRENT);
        return 2;
    }
    size_t baseline = 0;
    double start = now_seconds();
    int err = run(&baseline);
    size_t end = rss_kib();
    drain_parcels();
    double elapsed = now_seconds() - start;
    long growth = (long)end - (long)baseline;
    int ok = err == 0 && failures == 0 && growth <= (long)opt.bound_mib * 1024;
    printf("thread_churn[%s]: %u threads (%u at a time) in %.1f s, %llu blocks allocated, "
           "%llu freed by a later thread\n",
           STRESS_ALLOCATOR, opt.threads, opt.concurrent, elapsed, (unsigned long long)allocations,
           (unsigned long long)cross_frees);
    printf("  RSS after %d threads %zu KiB, at the end %zu KiB: %+ld KiB (bound +%zu MiB), "
           "verification failures %llu: %s\n",
           BASELINE_AFTER, baseline, end, growth, opt.bound_mib, (unsigned long long)failures,
           ok ? "ok" : "FAIL");
    return ok ? 0 : 1;
}
