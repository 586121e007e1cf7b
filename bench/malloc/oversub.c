/* oversub.c - `oversub [THREADS [OPS [SLOTS]]]`: more threads than cores. THREADS threads
 * (default 8) share OPS operations (default 16000000, split evenly, so 8 and 32 threads do
 * the same work). Each replaces random blocks (16-2048 B) in a private array of SLOTS
 * (default 2048); one operation in 32 instead swaps a new block into a shared array of 256
 * and frees the block it took out, which another thread allocated. With threads preempted
 * at any point, an allocator that spins on a lock held by a descheduled thread loses here. */
#include "bench_util.h"

#include <pthread.h>

#define SHARED 256

static void *shared[SHARED];
static long ops_per_thread, nslots;
static pthread_barrier_t start;

/* The tag carries the size in its low half: any thread can check the block. */
#define OVERSUB_TAG(size) ((uint64_t)0xed558ccdU << 32 | (uint64_t)(size))

static void *new_block(size_t size) {
    uint32_t *p = malloc(size);
    if (p == NULL) die("oversub: malloc failed");
    stamp(p, size, OVERSUB_TAG(size));
    return p;
}

/* The block's size if its stamp is intact, 0 if not; frees it either way. */
static uint64_t check_free(uint32_t *p) {
    uint32_t size = p[0]; /* little-endian: the tag's low half */
    int ok = size >= 16 && size <= 2048 && stamp_ok(p, size, OVERSUB_TAG(size));
    free(p);
    return ok ? size : 0;
}

struct worker {
    pthread_t tid;
    uint64_t seed, sum, bad;
} PER_THREAD;

static void *worker(void *arg) {
    struct worker *w = arg;
    uint64_t rng = w->seed;
    void **mine = calloc((size_t)nslots, sizeof *mine);
    if (mine == NULL) die("oversub: calloc failed");
    for (long i = 0; i < nslots; i++)
        mine[i] = new_block(16 + rng_below(&rng, 2033));
    pthread_barrier_wait(&start);
    for (long k = 0; k < ops_per_thread; k++) {
        size_t size = 16 + rng_below(&rng, 2033);
        if ((k & 31) == 31) {
            long i = (long)rng_below(&rng, SHARED);
            uint32_t *old = __atomic_exchange_n(&shared[i], new_block(size), __ATOMIC_ACQ_REL);
            if (old != NULL && check_free(old) == 0) w->bad++;
        } else {
            long i = (long)rng_below(&rng, (uint64_t)nslots);
            uint64_t got = check_free(mine[i]);
            if (got == 0) w->bad++;
            w->sum += got;
            mine[i] = new_block(size);
        }
    }
    for (long i = 0; i < nslots; i++) {
        uint64_t got = check_free(mine[i]);
        if (got == 0) w->bad++;
        w->sum += got;
    }
    free(mine);
    return NULL;
}

int main(int argc, char **argv) {
    long threads = arg_long(argc, argv, 1, 8), ops = arg_long(argc, argv, 2, 16000000);
    nslots = arg_long(argc, argv, 3, 2048);
    ops_per_thread = ops / threads;
    struct worker *w = bench_array((size_t)threads * sizeof *w);
    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    for (long t = 0; t < threads; t++) {
        w[t].seed = 0x9E3779B97F4A7C15ULL * (uint64_t)(t + 1);
        if (pthread_create(&w[t].tid, NULL, worker, &w[t]) != 0)
            die("oversub: pthread_create failed");
    }
    pthread_barrier_wait(&start);
    double t0 = now_sec();
    uint64_t sum = 0, bad = 0;
    for (long t = 0; t < threads; t++) {
        pthread_join(w[t].tid, NULL);
        sum += w[t].sum;
        bad += w[t].bad;
    }
    metric("ns_per_op", (now_sec() - t0) * 1e9 / (double)(threads * ops_per_thread));
    metric("rss_mib", rss_mib());
    for (int i = 0; i < SHARED; i++)
        if (shared[i] != NULL && check_free(shared[i]) == 0) bad++;
    printf("oversub: %ld threads, %ld operations, checksum %llu, corrupt %llu\n", threads,
           threads * ops_per_thread, (unsigned long long)sum, (unsigned long long)bad);
    return bad != 0;
}
