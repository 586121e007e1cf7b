/* larson.c - `larson [THREADS [SLOTS [OPS]]]`: a server simulation after Larson & Krishnan:
 * THREADS threads (default 4) each replace OPS random blocks (default 4000000) of a shared
 * array of SLOTS blocks (default 20000) of 16-512 B: swap a new stamped block into a random
 * slot (an atomic exchange) and check and free the old one, which another thread most likely
 * allocated. Every thread both allocates and frees remotely, all at once. */
#include "bench_util.h"

#include <pthread.h>

static void **slot;
static long nslots, ops_per_thread;

/* A block's stamp derives from its size, stored in the block: any thread can check it. */
/* The tag carries the size in its low half: any thread can check the block. */
#define LARSON_TAG(size) ((uint64_t)0x5bd1e995U << 32 | (uint64_t)(size))

static void *new_block(uint64_t *rng) {
    size_t size = 16 + rng_below(rng, 497);
    uint32_t *p = malloc(size);
    if (p == NULL) die("larson: malloc failed");
    stamp(p, size, LARSON_TAG(size));
    return p;
}

static int block_ok(const uint32_t *p) {
    uint32_t size = p[0]; /* little-endian: the tag's low half */
    return size >= 16 && size <= 512 && stamp_ok(p, size, LARSON_TAG(size));
}

struct worker {
    pthread_t tid;
    uint64_t seed, bad;
} PER_THREAD;

static void *worker(void *arg) {
    struct worker *w = arg;
    uint64_t rng = w->seed;
    for (long k = 0; k < ops_per_thread; k++) {
        long i = (long)rng_below(&rng, (uint64_t)nslots);
        void *old = __atomic_exchange_n(&slot[i], new_block(&rng), __ATOMIC_ACQ_REL);
        if (!block_ok(old)) w->bad++;
        free(old);
    }
    return NULL;
}

int main(int argc, char **argv) {
    long threads = arg_long(argc, argv, 1, 4);
    nslots = arg_long(argc, argv, 2, 20000);
    ops_per_thread = arg_long(argc, argv, 3, 4000000);
    slot = bench_array((size_t)nslots * sizeof *slot);
    struct worker *w = bench_array((size_t)threads * sizeof *w);
    uint64_t rng = 42, bad = 0;
    for (long i = 0; i < nslots; i++)
        slot[i] = new_block(&rng);
    double t0 = now_sec();
    for (long t = 0; t < threads; t++) {
        w[t].seed = 0x9E3779B97F4A7C15ULL * (uint64_t)(t + 1);
        if (pthread_create(&w[t].tid, NULL, worker, &w[t]) != 0)
            die("larson: pthread_create failed");
    }
    for (long t = 0; t < threads; t++) {
        pthread_join(w[t].tid, NULL);
        bad += w[t].bad;
    }
    metric("ns_per_replacement", (now_sec() - t0) * 1e9 / (double)(threads * ops_per_thread));
    metric("rss_mib", rss_mib());
    for (long i = 0; i < nslots; i++) {
        if (!block_ok(slot[i])) bad++;
        free(slot[i]);
    }
    printf("larson: %ld threads, %ld slots, %ld replacements, corrupt %llu\n", threads, nslots,
           threads * ops_per_thread, (unsigned long long)bad);
    return bad != 0;
}
