/* test_medium_threads.c - blocks from 16 KiB to 1 MiB that cross threads (issue 13):
 * producers hand them to consumers, which realloc some (a block another thread owns moves
 * or stays) and free them all; threads that exit leave their blocks to the main thread.
 * Every block is checked before it is freed; worker threads count failures, the test thread
 * asserts. */
#include "pc_queue.h"
#include "test_suites.h"
#include "test_util.h"

#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>

#define PRODUCERS 2
#define CONSUMERS 2
#define BLOCKS    4000 /* per producer */
#define RING      64   /* blocks in flight: a few MiB */
#define EXITS     24   /* threads that exit with their blocks live */
#define LEFT      64   /* blocks each leaves behind */

static size_t edges[TM_MEDIUM_EDGES];
static size_t n_edges;

/* Medium sizes: every edge in turn, and between them sizes spread evenly over the doublings
 * from 16 KiB to 1 MiB; a few small ones, so that small and medium slabs interleave. */
static size_t medium_size(uint64_t i) {
    uint64_t h = (i + 1) * 0x9e3779b97f4a7c15ull;
    if (i % 2 == 0) return edges[(i / 2) % n_edges];
    if ((h >> 60) == 0) return 1 + (h >> 20) % TM_SMALL_MAX;
    size_t base = TM_SMALL_MAX << ((h >> 8) % 6);
    return base + 1 + (h >> 24) % base;
}

/* ---- producers and consumers ---- */

static pc_queue queue;

static void count_bad(size_t *bad, int failed) {
    if (failed) __atomic_add_fetch(bad, 1, __ATOMIC_RELAXED);
}

static void *producer(void *arg) {
    uint64_t first = (uint64_t)(uintptr_t)arg * BLOCKS;
    for (uint64_t id = first; id < first + BLOCKS; id++) {
        size_t size = medium_size(id);
        void *p = malloc(size);
        count_bad(&queue.bad, tm_check(p != NULL, "malloc(%zu) failed", size));
        if (p == NULL) continue;
        tm_fill_words(p, size, id);
        if (id % 4 == 0) { /* some are freed by their own thread, between the others */
            free(p);
            continue;
        }
        pc_put(&queue, p, id);
    }
    pc_producer_done(&queue);
    return NULL;
}

/* Checks each block it takes; every third is first realloc'd to another medium size (the
 * producer's block grows, shrinks or moves here) and checked again. */
static void *consumer(void *arg) {
    (void)arg;
    void *p;
    uint64_t id;
    while (pc_take(&queue, &p, &id)) {
        size_t size = medium_size(id);
        count_bad(&queue.bad, tm_check(tm_intact_words(p, size, id),
                                       "block %p of %zu bytes changed in transit", p, size));
        if (id % 3 == 0) {
            size_t to = medium_size(id + 7);
            void *q = realloc(p, to);
            count_bad(&queue.bad, tm_check(q != NULL, "realloc(%p, %zu) failed", p, to));
            if (q != NULL) {
                size_t kept = size < to ? size : to;
                count_bad(&queue.bad,
                          tm_check(tm_intact_words(q, kept, id),
                                   "realloc %zu -> %zu on another thread lost data", size, to));
                p = q;
            }
        }
        free(p);
    }
    return NULL;
}

static void test_medium_handoff(void) {
    pthread_t producers[PRODUCERS], consumers[CONSUMERS];
    n_edges = tm_medium_edges(edges);
    pc_init(&queue, RING, PRODUCERS);
    size_t in_use = tm_in_use();
    for (uintptr_t i = 0; i < CONSUMERS; i++)
        CU_ASSERT_FATAL(pthread_create(&consumers[i], NULL, consumer, NULL) == 0);
    for (uintptr_t i = 0; i < PRODUCERS; i++)
        CU_ASSERT_FATAL(pthread_create(&producers[i], NULL, producer, (void *)i) == 0);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(producers[i], NULL);
    for (int i = 0; i < CONSUMERS; i++)
        pthread_join(consumers[i], NULL);
    CU_ASSERT_EQUAL(queue.bad, 0);
    CU_ASSERT_EQUAL(queue.head, queue.tail);
    size_t after = tm_in_use(); /* everything was freed: nothing may stay counted */
    tm_check(after < in_use + 4 * TM_MIB, "in use %zu before, %zu after", in_use, after);
    CU_ASSERT(after < in_use + 4 * TM_MIB);
}

/* ---- threads that exit with blocks live ---- */

typedef struct leaver {
    uint64_t first;
    void *blocks[LEFT];
} leaver;

static void *leave_blocks(void *arg) {
    leaver *l = arg;
    for (uint64_t i = 0; i < LEFT; i++) {
        size_t size = medium_size(l->first + i);
        void *p = l->blocks[i] = malloc(size);
        if (p != NULL) tm_fill_words(p, size, l->first + i);
        if (i % 8 == 7) free(l->blocks[i - 1]), l->blocks[i - 1] = NULL; /* holes */
    }
    return NULL;
}

static int check_and_free(leaver *l) {
    int bad = 0;
    for (uint64_t i = 0; i < LEFT; i++) {
        if (i % 8 == 6) continue; /* freed by the thread */
        size_t size = medium_size(l->first + i);
        void *p = l->blocks[i];
        bad += tm_check(p != NULL && tm_intact_words(p, size, l->first + i),
                        "block %p of %zu bytes from an exited thread changed", p, size);
        free(p);
    }
    return bad;
}

/* Each round a thread allocates and exits; the main thread frees the previous round's
 * blocks while this round's are live, so that its frees and the next thread's mallocs meet
 * the slabs the exited threads left. */
static void test_medium_thread_exit(void) {
    static leaver rounds[EXITS];
    int bad = 0;
    n_edges = tm_medium_edges(edges);
    size_t in_use = tm_in_use();
    for (int r = 0; r < EXITS; r++) {
        pthread_t thread;
        rounds[r].first = (uint64_t)r * LEFT * 3;
        CU_ASSERT_FATAL(pthread_create(&thread, NULL, leave_blocks, &rounds[r]) == 0);
        pthread_join(thread, NULL);
        if (r > 0) bad += check_and_free(&rounds[r - 1]);
    }
    bad += check_and_free(&rounds[EXITS - 1]);
    CU_ASSERT_EQUAL(bad, 0);
    size_t after = tm_in_use();
    tm_check(after < in_use + 4 * TM_MIB, "in use %zu before, %zu after", in_use, after);
    CU_ASSERT(after < in_use + 4 * TM_MIB);
}

CU_TestInfo test_medium_threads_tests[] = {
    {"medium blocks handed between threads, realloc'd, freed", test_medium_handoff},
    {"medium blocks of exited threads freed by another", test_medium_thread_exit},
    CU_TEST_INFO_NULL,
};
