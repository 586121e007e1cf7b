/* randsize.c - `randsize [SLOTS [OPS [THREADS]]]`: a working set of SLOTS live blocks (default
 * 4000) of random sizes from 16 B to 1 MiB, and OPS random replacements (default 2000000):
 * free the block in a random slot after checking its stamp, allocate one of a new random
 * size and stamp it (its first and last word: the blocks' other pages are never touched).
 * Sizes are log-uniform, every doubling from 16 B to 1 MiB equally likely: by count small
 * blocks dominate (half are below 1 KiB), by bytes the medium ones (16 KiB to 1 MiB) do, as in
 * programs that mix objects with I/O buffers and growing tables (issue 13). THREADS (1 or 2,
 * default 1) share the work: each runs SLOTS/THREADS slots and OPS/THREADS replacements of
 * its own, with its own seed, so the output is the same on every allocator. The time and the
 * resident set are taken around the replacements alone, all threads' together. */
#include "bench_util.h"

#include <pthread.h>

#define MIN_SHIFT   4  /* 16 B */
#define MAX_SHIFT   20 /* 1 MiB, the largest size drawn */
#define MAX_THREADS 2

/* The top doubling includes 1 MiB itself. */
static size_t random_size(uint64_t *rng) {
    return rng_size_log_uniform(rng, MIN_SHIFT, MAX_SHIFT, 1);
}

typedef struct worker {
    int id;
    long slots, ops;
    uint64_t sum, bad;
} PER_THREAD worker;

/* Passed when every worker's blocks are allocated, then when its replacements are done. */
static pthread_barrier_t phase;
static double elapsed, resident; /* measured by worker 0 between the two */

static void replace_all(worker *w, void **obj, uint32_t *size, uint64_t *tag, uint64_t *rng) {
    for (long k = 0; k < w->ops; k++) {
        long i = (long)rng_below(rng, (uint64_t)w->slots);
        if (stamp_ok(obj[i], size[i], tag[i]))
            w->sum += tag[i] >> 32;
        else
            w->bad++;
        free(obj[i]);
        size[i] = (uint32_t)random_size(rng);
        tag[i] = rng_next(rng);
        if ((obj[i] = malloc(size[i])) == NULL) die("randsize: malloc failed");
        stamp(obj[i], size[i], tag[i]);
    }
}

static void *worker_main(void *arg) {
    worker *w = arg;
    void **obj = bench_array((size_t)w->slots * sizeof *obj);
    uint32_t *size = bench_array((size_t)w->slots * sizeof *size);
    uint64_t *tag = bench_array((size_t)w->slots * sizeof *tag);
    uint64_t rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(w->id + 1);
    for (long i = 0; i < w->slots; i++) {
        size[i] = (uint32_t)random_size(&rng);
        tag[i] = rng_next(&rng);
        if ((obj[i] = malloc(size[i])) == NULL) die("randsize: malloc failed");
        stamp(obj[i], size[i], tag[i]);
    }
    pthread_barrier_wait(&phase);
    double t0 = now_sec();
    replace_all(w, obj, size, tag, &rng);
    pthread_barrier_wait(&phase);
    if (w->id == 0) elapsed = now_sec() - t0, resident = rss_mib();
    for (long i = 0; i < w->slots; i++) {
        if (!stamp_ok(obj[i], size[i], tag[i])) w->bad++;
        free(obj[i]);
    }
    return NULL;
}

int main(int argc, char **argv) {
    long slots = arg_long(argc, argv, 1, 4000), ops = arg_long(argc, argv, 2, 2000000);
    long threads = arg_long(argc, argv, 3, 1);
    if (threads > MAX_THREADS || slots < threads) die("randsize: THREADS is 1 or 2, <= SLOTS");
    worker w[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    pthread_barrier_init(&phase, NULL, (unsigned)threads);
    for (int t = 0; t < threads; t++)
        w[t] = (worker){t, slots / threads, ops / threads, 0, 0};
    for (int t = 1; t < threads; t++)
        if (pthread_create(&tid[t], NULL, worker_main, &w[t]) != 0) die("randsize: no thread");
    worker_main(&w[0]); /* the main thread is worker 0 */
    for (int t = 1; t < threads; t++)
        pthread_join(tid[t], NULL);
    metric("ns_per_replacement", elapsed * 1e9 / (double)(ops / threads * threads));
    metric("rss_mib", resident);
    uint64_t sum = 0, bad = 0;
    for (int t = 0; t < threads; t++)
        sum += w[t].sum, bad += w[t].bad;
    printf("randsize: %ld slots, %ld replacements, %ld threads, checksum %llu, corrupt %llu\n",
           slots, ops, threads, (unsigned long long)sum, (unsigned long long)bad);
    return bad != 0;
}
