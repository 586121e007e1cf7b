/* burst.c - `burst [THREADS [ROUNDS [BLOCKS]]]`: threads started in bursts. Each round starts
 * THREADS threads (default 200) back to back and joins them; each thread mallocs BLOCKS blocks
 * (default 200) of 16 B to 7.5 KiB, stamps and checks them, frees them and exits. ROUNDS
 * rounds (default 20). A server that spawns a thread per request, or a pool that grows in a
 * burst, has this shape: every thread is new to the allocator, lives for tens of
 * microseconds, and most of its cost is what the allocator does at a thread's first call and
 * at its exit. Reports the time per thread and how many were alive at once at most. */
#include "bench_util.h"

#include <pthread.h>

static long blocks_per_thread;
static int alive, alive_max;

#define BURST_TAG(size) ((uint64_t)0xb5a7c0deU << 32 | (uint64_t)(size))

static void note_alive(int delta) {
    int now = __atomic_add_fetch(&alive, delta, __ATOMIC_RELAXED);
    int seen = __atomic_load_n(&alive_max, __ATOMIC_RELAXED);
    while (now > seen && !__atomic_compare_exchange_n(&alive_max, &seen, now, 0, __ATOMIC_RELAXED,
                                                      __ATOMIC_RELAXED)) {
    }
}

struct worker {
    pthread_t tid;
    uint64_t seed, sum, bad;
} PER_THREAD;

static void *worker(void *arg) {
    struct worker *w = arg;
    uint64_t rng = w->seed;
    void *held[512];
    size_t sizes[512];
    note_alive(1);
    for (long i = 0; i < blocks_per_thread; i++) {
        sizes[i] = rng_size_log_uniform(&rng, 4, 13, 0) * 15 / 16;
        if (sizes[i] < 16) sizes[i] = 16;
        if ((held[i] = malloc(sizes[i])) == NULL) die("burst: malloc failed");
        stamp(held[i], sizes[i], BURST_TAG(sizes[i]));
    }
    for (long i = 0; i < blocks_per_thread; i++) {
        if (!stamp_ok(held[i], sizes[i], BURST_TAG(sizes[i]))) w->bad++;
        w->sum += sizes[i];
        free(held[i]);
    }
    note_alive(-1);
    return NULL;
}

int main(int argc, char **argv) {
    long threads = arg_long(argc, argv, 1, 200), rounds = arg_long(argc, argv, 2, 20);
    blocks_per_thread = arg_long(argc, argv, 3, 200);
    if (blocks_per_thread > 512) die("burst: at most 512 blocks a thread");
    struct worker *w = bench_array((size_t)threads * sizeof *w);
    uint64_t sum = 0, bad = 0;
    double t0 = now_sec();
    for (long r = 0; r < rounds; r++) {
        for (long t = 0; t < threads; t++) {
            w[t].seed = 0x9E3779B97F4A7C15ULL * (uint64_t)(r * threads + t + 1);
            if (pthread_create(&w[t].tid, NULL, worker, &w[t]) != 0)
                die("burst: pthread_create failed");
        }
        for (long t = 0; t < threads; t++) {
            pthread_join(w[t].tid, NULL);
            sum += w[t].sum;
            bad += w[t].bad;
            w[t].sum = w[t].bad = 0;
        }
    }
    metric("us_per_thread", (now_sec() - t0) * 1e6 / (double)(threads * rounds));
    metric("alive_max", alive_max);
    metric("rss_mib", rss_mib());
    printf("burst: %ld threads in %ld rounds, %ld blocks each, checksum %llu, corrupt %llu\n",
           threads * rounds, rounds, blocks_per_thread, (unsigned long long)sum,
           (unsigned long long)bad);
    return bad != 0;
}
