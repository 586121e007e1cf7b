/* tsan_remote.c - the malloc's cross-thread paths under ThreadSanitizer. TSan replaces the
 * program's malloc with its own, so this program calls aslab's internal entry points
 * (src/malloc/api.h) directly, with the library's sources built with -fsanitize=thread:
 * producers allocate blocks of every small class, consumers check and free them (remote
 * frees onto the producers' slabs, or kept by the consumer, whose next malloc takes them back),
 * producers exit while consumers still hold their blocks (abandoned slabs, adopted by later
 * producers). Then two threads free their own blocks and some of each other's in a free-only
 * phase (batch.c). Then threads cycle through big blocks (each parks its own, large.c; a thread of
 * the next round takes what one of the last left), while one of them trims (every parked
 * block evicted under the others' feet), every free looking its block up in the set of big
 * blocks without a lock while others change it (large_live.c). Last, bursts of short-lived
 * threads (parked records, discards outside the arena's lock) while one of each burst trims.
 * Exits 0 when every block checked out. */
#include "../../src/malloc/api.h"
#include "pc_queue.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRODUCERS 2
#define CONSUMERS 2
#define ROUNDS    3
#define BLOCKS    20000 /* per producer per round */
#define RING      1024

static pc_queue q;

static size_t bad; /* atomic */

static size_t size_of(size_t i) {
    return 1 + (i * 2654435761u) % (i % 16 == 0 ? 16384 : 1024);
}

static void *producer(void *arg) {
    size_t seed = (size_t)arg;
    for (size_t i = 0; i < BLOCKS; i++) {
        size_t size = size_of(seed + i);
        unsigned char *p = aslab__api_malloc(size);
        if (p == NULL) {
            __atomic_add_fetch(&bad, 1, __ATOMIC_RELAXED);
            continue;
        }
        memset(p, (int)(size & 0xff), size);
        if (i % 4 == 0)
            aslab__api_free(p, "free()"); /* a local free between remote ones */
        else
            pc_put(&q, p, size);
    }
    pc_producer_done(&q);
    return NULL;
}

/* Whether p's `size` bytes all hold size's low byte, as its maker filled them. */
static int block_intact(const unsigned char *p, size_t size) {
    for (size_t i = 0; i < size; i++)
        if (p[i] != (unsigned char)(size & 0xff)) return 0;
    return 1;
}

/* Frees p, counting it bad if it is not intact. */
static void free_checked(unsigned char *p, size_t size) {
    if (!block_intact(p, size)) __atomic_add_fetch(&bad, 1, __ATOMIC_RELAXED);
    aslab__api_free(p, "free()");
}

static void *consumer(void *arg) {
    void *p;
    uint64_t size;
    (void)arg;
    while (pc_take(&q, &p, &size)) {
        free_checked(p, size);
        /* the consumer's malloc of the class hands the block it just freed (kept: it is the
         * producer's) straight back, to be written and freed again */
        unsigned char *again = aslab__api_malloc(size);
        if (again == NULL) {
            __atomic_add_fetch(&bad, 1, __ATOMIC_RELAXED);
            continue;
        }
        memset(again, 0x5a, size);
        aslab__api_free(again, "free()");
    }
    return NULL;
}

/* Two threads free what they allocated, mostly their own blocks and a quarter of the
 * other's, with no malloc between (a free-only phase: the frees go to the thread's batch and
 * reach their slabs, or their owner's remote list, a batch at a time, batch.c), while the
 * other does the same; then each mallocs and frees again (the phase ends). */
#define BATCHERS      2
#define BATCHER_OWN   12000
#define BATCHER_SHARE (BATCHER_OWN / 4)

typedef struct batcher {
    unsigned char *own[BATCHER_OWN];
    size_t size[BATCHER_OWN];
} batcher;

static batcher batchers[BATCHERS];
static pthread_barrier_t batch_barrier;

static void *batch_freer(void *arg) {
    size_t id = (size_t)arg;
    batcher *mine = &batchers[id], *other = &batchers[(id + 1) % BATCHERS];
    for (size_t i = 0; i < BATCHER_OWN; i++) {
        mine->size[i] = size_of(id * BATCHER_OWN + i) % 2048 + 1;
        mine->own[i] = aslab__api_malloc(mine->size[i]);
        if (mine->own[i] != NULL) memset(mine->own[i], (int)(mine->size[i] & 0xff), mine->size[i]);
    }
    pthread_barrier_wait(&batch_barrier);
    /* the first quarter of each array is the other thread's to free */
    for (size_t i = BATCHER_SHARE; i < BATCHER_OWN; i++) {
        if (mine->own[i] != NULL) free_checked(mine->own[i], mine->size[i]);
        size_t j = (i - BATCHER_SHARE) / 3; /* 0 .. BATCHER_SHARE - 1 */
        if (i % 3 == 0 && other->own[j] != NULL) free_checked(other->own[j], other->size[j]);
    }
    for (size_t i = 0; i < 8; i++) /* the phase ends: mallocs of the classes again */
        aslab__api_free(aslab__api_malloc(size_of(i) % 2048 + 1), "free()");
    pthread_barrier_wait(&batch_barrier);
    return NULL;
}

static void batch_rounds(void) {
    pthread_t t[BATCHERS];
    pthread_barrier_init(&batch_barrier, NULL, BATCHERS);
    for (size_t i = 0; i < BATCHERS; i++)
        pthread_create(&t[i], NULL, batch_freer, (void *)i);
    for (int i = 0; i < BATCHERS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&batch_barrier);
}

#define CYCLERS 3
#define CYCLES  2000

/* Cycles through blocks of 1-4 MiB (the thread's own sizes), writing the first and last
 * bytes; thread 0 calls malloc_trim's entry now and then. */
static void *cycler(void *arg) {
    size_t id = (size_t)arg, base = (id % CYCLERS + 1) << 20;
    for (size_t i = 0; i < CYCLES; i++) {
        size_t size = base + (i % 4) * 4096;
        unsigned char *p = aslab__api_malloc(size);
        if (p == NULL) {
            __atomic_add_fetch(&bad, 1, __ATOMIC_RELAXED);
            continue;
        }
        p[0] = p[size - 1] = (unsigned char)i;
        if (p[0] != p[size - 1]) __atomic_add_fetch(&bad, 1, __ATOMIC_RELAXED);
        aslab__api_free(p, "free()");
        if (id == 0 && i % 256 == 0) aslab__trim();
    }
    return NULL;
}

/* The first big block is made here, before the threads: it is the private jemalloc's first
 * call, and its set-up, safe for threads that call at once, makes late callers spin on a
 * state that TSan cannot see (jemalloc is not built with it), which it then reports as a
 * race on the locks the set-up initialises. scenario fallback-first runs that case for real. */
static void cycle_rounds(void) {
    aslab__api_free(aslab__api_malloc(2 << 20), "free()");
    for (int round = 0; round < 2; round++) {
        pthread_t t[CYCLERS];
        for (size_t i = 0; i < CYCLERS; i++)
            pthread_create(&t[i], NULL, cycler, (void *)(i + (size_t)round * CYCLERS));
        for (int i = 0; i < CYCLERS; i++)
            pthread_join(t[i], NULL);
    }
}

/* ---- bursts: short-lived threads, each a few blocks of every small class ----
 * An exiting thread parks its record with its emptied slabs and the next one takes it (thread.c);
 * the rest go back to the arena, whose discards run with its lock released (arena.c), while
 * thread 0 of each round trims: parked records given back, every dirty slab discarded, under
 * the other threads' feet. */
#define BURST_THREADS 8
#define BURST_ROUNDS  6
#define BURST_BLOCKS  48

static void *burst_thread(void *arg) {
    size_t id = (size_t)arg;
    unsigned char *held[BURST_BLOCKS];
    for (size_t i = 0; i < BURST_BLOCKS; i++) {
        size_t size = 16 + (i * 337 + id * 61) % 8000;
        held[i] = aslab__api_malloc(size);
        if (held[i] == NULL) {
            __atomic_add_fetch(&bad, 1, __ATOMIC_RELAXED);
            continue;
        }
        memset(held[i], (int)(id + i), size);
        held[i][0] = (unsigned char)(size >> 8), held[i][1] = (unsigned char)size;
    }
    if (id % BURST_THREADS == 0) aslab__trim();
    for (size_t i = 0; i < BURST_BLOCKS; i++) {
        unsigned char *p = held[i];
        if (p == NULL) continue;
        size_t size = (size_t)p[0] << 8 | p[1];
        if (p[size - 1] != (unsigned char)(id + i)) __atomic_add_fetch(&bad, 1, __ATOMIC_RELAXED);
        aslab__api_free(p, "free()");
    }
    return NULL;
}

static void burst_rounds(void) {
    for (size_t round = 0; round < BURST_ROUNDS; round++) {
        pthread_t t[BURST_THREADS];
        for (size_t i = 0; i < BURST_THREADS; i++)
            pthread_create(&t[i], NULL, burst_thread, (void *)(round * BURST_THREADS + i));
        for (int i = 0; i < BURST_THREADS; i++)
            pthread_join(t[i], NULL);
    }
}

/* `tsan_remote --bursts` runs the bursts alone: make runs it under ASLAB_DECAY_MS=0 too, where
 * every slab given back to the arena is discarded at once, in a batch of its own. */
int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--bursts") == 0) {
        burst_rounds();
        printf("tsan_remote --bursts: %d bursts of %d threads, %zu bad blocks\n", BURST_ROUNDS,
               BURST_THREADS, bad);
        return bad != 0;
    }
    for (int round = 0; round < ROUNDS; round++) {
        pthread_t p[PRODUCERS], c[CONSUMERS];
        pc_init(&q, RING, PRODUCERS);
        for (int i = 0; i < CONSUMERS; i++)
            pthread_create(&c[i], NULL, consumer, NULL);
        for (int i = 0; i < PRODUCERS; i++)
            pthread_create(&p[i], NULL, producer,
                           (void *)((size_t)(round * PRODUCERS + i) * BLOCKS));
        for (int i = 0; i < PRODUCERS; i++)
            pthread_join(p[i], NULL);
        for (int i = 0; i < CONSUMERS; i++)
            pthread_join(c[i], NULL);
    }
    batch_rounds();
    cycle_rounds();
    burst_rounds();
    printf("tsan_remote: %d rounds of %d producers and %d consumers, %d threads freeing in "
           "batches, 2 rounds of %d threads cycling big blocks, %d bursts of %d threads, %zu bad "
           "blocks\n",
           ROUNDS, PRODUCERS, CONSUMERS, BATCHERS, CYCLERS, BURST_ROUNDS, BURST_THREADS, bad);
    return bad != 0;
}
