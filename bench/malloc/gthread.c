/* gthread.c - `gthread [THREADS [ITERS]]`: the shape of glibc's bench-malloc-thread as
 * mimalloc-bench builds and runs it ("glibc-thread": its bench/glibc-bench/bench-malloc-thread.c,
 * run as `glibc-thread $procs`, 2 threads here; this is its shape, not its code).
 * THREADS threads (default 2) each own 1024 slots, all empty at the start. Every iteration
 * a thread takes the next slot number and the next size from two tables shared by all
 * threads, frees the slot's block (free(NULL) while the slot is still empty), mallocs a block
 * of that size into it and writes each of its bytes (byte i gets i). No block crosses threads
 * and nothing is freed at the end: the last blocks stay live until the process exits.
 * - sizes: 8000 drawn once from an inverse-square distribution on [4, 32768] B (half of them
 *   at most 7 B, 33 above 1 KiB, a mean of 39 B), used in a cycle from the second entry on;
 * - slots: 4096 drawn once uniform in [0, 1024), used in a cycle the same way;
 * both tables come from libc's rand() with its default seed (the original never calls srand),
 * sizes first, so they are the original's tables exactly, under every allocator.
 * The original runs for 2 s (an alarm) and reports the iterations it did; here every thread
 * does ITERS iterations (default 60,000,000, ~2 s under glibc on 2 cores), so that the wall time
 * measures it. `gthread 2` is the original's invocation at a fixed volume; `gthread 2 10000000`
 * is a quick size. Added check: before a block is freed its first and last bytes are compared
 * with what was written (a thread's blocks total ~40 KiB, so these reads hit the L1 or L2
 * cache); a block that changed counts as corrupt and the exit status is 1. With THREADS = 1
 * the original runs the loop in the main thread; here it is always a thread of its own. */
#include "bench_util.h"

#include <pthread.h>

#define SLOTS     1024
#define NUM_SIZES 8000
#define NUM_SLOTS (SLOTS * 4)
#define MIN_SIZE  4.0f
#define MAX_SIZE  32768.0f

static unsigned size_table[NUM_SIZES];
static unsigned slot_table[NUM_SLOTS];
static long iters;

struct worker {
    pthread_t tid;
    void **slots;    /* the working set, outside the allocator as the original's is */
    unsigned *sizes; /* our bookkeeping for the check */
    uint64_t checksum, bad;
} PER_THREAD;

/* Inverse square on [MIN_SIZE, MAX_SIZE]: the inverse of the distribution function is
 * 1 / (1/MIN + r (1/MAX - 1/MIN)), computed in float as the original does (its powf(x, -1)
 * truncates to the same integers as 1/x for every value rand() can give: checked). */
static unsigned block_size(int rand_value) {
    float r = (float)rand_value / (float)RAND_MAX;
    float lo = 1.0f / MIN_SIZE, hi = 1.0f / MAX_SIZE;
    return (unsigned)(1.0f / ((hi - lo) * r + lo));
}

static void fill_tables(void) {
    for (int i = 0; i < NUM_SIZES; i++)
        size_table[i] = block_size(rand());
    for (int i = 0; i < NUM_SLOTS; i++)
        slot_table[i] = (unsigned)(rand() % SLOTS);
}

/* The original's cursors advance before they are read, so entry 0 comes last in each cycle. */
static unsigned next_entry(unsigned *cursor, unsigned n) {
    *cursor = *cursor + 1 >= n ? 0 : *cursor + 1;
    return *cursor;
}

static int block_intact(const unsigned char *p, unsigned size) {
    return p[0] == 0 && p[size - 1] == (unsigned char)(size - 1);
}

static void *run_worker(void *arg) {
    struct worker *w = arg;
    unsigned slot_cursor = 0, size_cursor = 0;
    uint64_t sum = 0, bad = 0;
    for (long n = 0; n < iters; n++) {
        unsigned slot = slot_table[next_entry(&slot_cursor, NUM_SLOTS)];
        unsigned size = size_table[next_entry(&size_cursor, NUM_SIZES)];
        unsigned char *old = w->slots[slot];
        if (old != NULL && !block_intact(old, w->sizes[slot])) bad++;
        free(old);
        unsigned char *p = malloc(size);
        if (p == NULL) die("gthread: malloc failed");
        for (unsigned i = 0; i < size; i++)
            p[i] = (unsigned char)i;
        w->slots[slot] = p;
        w->sizes[slot] = size;
        sum = sum * 31 + size + slot;
    }
    w->checksum = sum;
    w->bad = bad;
    return NULL;
}

int main(int argc, char **argv) {
    long threads = arg_long(argc, argv, 1, 2);
    iters = arg_long(argc, argv, 2, 60000000);
    fill_tables();
    struct worker *w = bench_array((size_t)threads * sizeof *w);
    for (long t = 0; t < threads; t++) {
        w[t].slots = bench_array(SLOTS * sizeof *w[t].slots);
        w[t].sizes = bench_array(SLOTS * sizeof *w[t].sizes);
    }
    double t0 = now_sec();
    for (long t = 0; t < threads; t++)
        if (pthread_create(&w[t].tid, NULL, run_worker, &w[t]) != 0)
            die("gthread: pthread_create failed");
    uint64_t checksum = 0, bad = 0;
    for (long t = 0; t < threads; t++) {
        pthread_join(w[t].tid, NULL);
        checksum = checksum * 1000003 + w[t].checksum;
        bad += w[t].bad;
    }
    double elapsed = now_sec() - t0;
    metric("ns_per_iteration", elapsed * 1e9 / ((double)iters * (double)threads));
    metric("rss_mib", rss_mib());
    printf("gthread: %ld threads, %ld iterations each, checksum %016llx, corrupt blocks %llu\n",
           threads, iters, (unsigned long long)checksum, (unsigned long long)bad);
    return bad != 0;
}
