/* test_keep_policy.c - when a thread keeps the blocks of other threads' slabs that it frees
 * (src/malloc/kept.c, "Keeping pays only where blocks travel one way"): a thread that takes
 * in about as many as it allocates keeps them; one that only frees them, or mostly frees its
 * own, sends them home, where the owner's mallocs get them back; and a keeper whose traffic
 * changes stops keeping at the next window. */
#include "test_suites.h"
#include "test_util.h"
#include "tm_keep.h"

#include <pthread.h>
#include <stdlib.h>

#define SIZE 100 /* one small class; its kept list holds more than a window (16 KiB of it) */

typedef void *thread_fn(void *);

/* Runs fn in a thread of its own (a fresh heap, every class sending home) and returns what
 * it returned, as an int. */
static int in_thread(thread_fn *fn, void *arg) {
    pthread_t thread;
    void *result = NULL;
    if (pthread_create(&thread, NULL, fn, arg) != 0) return -1;
    pthread_join(thread, &result);
    return (int)(intptr_t)result;
}

static void *becomes_keeper(void *arg) {
    (void)arg;
    return (void *)(intptr_t)tm_make_keeper(SIZE);
}

static void *probes(void *arg) {
    (void)arg;
    free(malloc(SIZE)); /* set up */
    return (void *)(intptr_t)tm_keeps(SIZE);
}

static void test_fresh_thread_sends_home(void) {
    CU_ASSERT_EQUAL(in_thread(probes, NULL), 0);
}

static void test_pipeline_stage_keeps(void) {
    CU_ASSERT_EQUAL(in_thread(becomes_keeper, NULL), 1);
}

/* Frees n of others' blocks, mallocing `own` blocks of its own (and freeing them) before
 * each; returns whether it keeps at the end. */
static int free_foreign(void **blocks, size_t n, int own) {
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < own; k++)
            free(malloc(SIZE));
        free(blocks[i]);
    }
    return tm_keeps(SIZE);
}

/* The owner makes 2 windows' worth of blocks; a consumer that never mallocs the class frees
 * them all, and stays until the owner has looked (an exiting thread gives back what it kept).
 * It must not keep them, and they must reach the owner: its next mallocs hand most of them
 * out again (all but what its free list held already). A consumer that kept them would hold
 * 16 KiB of them, more than a window. */
typedef struct owner_case {
    void **blocks;
    size_t n;
    int consumer_kept, back, bad;
    pthread_barrier_t freed, looked;
} owner_case;

static void *consume(void *arg) {
    owner_case *o = arg;
    free(malloc(SIZE)); /* set up, as any thread that frees has */
    for (size_t i = 0; i < o->n; i++)
        free(o->blocks[i]);
    pthread_barrier_wait(&o->freed);
    pthread_barrier_wait(&o->looked);
    o->consumer_kept = tm_keeps(SIZE);
    return NULL;
}

static void *owner(void *arg) {
    owner_case *o = arg;
    for (size_t i = 0; i < o->n; i++)
        o->blocks[i] = malloc(SIZE);
    pthread_t consumer;
    if (pthread_create(&consumer, NULL, consume, o) != 0) return (void *)(intptr_t)-1;
    pthread_barrier_wait(&o->freed);
    void **again = calloc(o->n, sizeof *again);
    o->bad += again == NULL;
    for (size_t i = 0; again != NULL && i < o->n; i++) {
        again[i] = malloc(SIZE);
        o->bad += again[i] == NULL;
        for (size_t j = 0; j < o->n; j++)
            if (again[i] == o->blocks[j]) o->back++;
    }
    pthread_barrier_wait(&o->looked);
    pthread_join(consumer, NULL);
    for (size_t i = 0; again != NULL && i < o->n; i++)
        free(again[i]);
    free(again);
    return NULL;
}

static void test_consumer_sends_home(void) {
    static owner_case o;
    o = (owner_case){.n = 2 * tm_keep_window()};
    o.blocks = malloc(o.n * sizeof *o.blocks);
    CU_ASSERT_FATAL(o.blocks != NULL);
    pthread_barrier_init(&o.freed, NULL, 2);
    pthread_barrier_init(&o.looked, NULL, 2);
    CU_ASSERT_EQUAL(in_thread(owner, &o), 0);
    pthread_barrier_destroy(&o.freed);
    pthread_barrier_destroy(&o.looked);
    CU_ASSERT_EQUAL(o.consumer_kept, 0);
    CU_ASSERT_EQUAL(o.bad, 0);
    CU_ASSERT(o.back >= (int)tm_keep_window());
    free(o.blocks);
}

/* A thread that mallocs four blocks of its own for each of another's it frees (most of its
 * frees are of its own blocks: oversub's shape) sends them home. */
static void *mostly_own(void *arg) {
    size_t n = *(size_t *)arg;
    tm_partner *pt = tm_partner_start(SIZE, n);
    if (pt == NULL) return (void *)(intptr_t)-1;
    free(malloc(SIZE));
    int keeps = free_foreign(tm_partner_blocks(pt), n, 4);
    tm_partner_finish(pt);
    return (void *)(intptr_t)keeps;
}

static void test_mostly_own_sends_home(void) {
    size_t n = 2 * tm_keep_window();
    CU_ASSERT_EQUAL(in_thread(mostly_own, &n), 0);
}

/* A keeper that then only frees others' blocks stops keeping at the next window's end. */
static void *keeper_turns_consumer(void *arg) {
    size_t n = *(size_t *)arg;
    if (!tm_make_keeper(SIZE)) return (void *)(intptr_t)-1;
    tm_partner *pt = tm_partner_start(SIZE, n);
    if (pt == NULL) return (void *)(intptr_t)-1;
    int keeps = free_foreign(tm_partner_blocks(pt), n, 0);
    tm_partner_finish(pt);
    return (void *)(intptr_t)keeps;
}

static void test_keeper_stops(void) {
    size_t n = tm_keep_window();
    CU_ASSERT_EQUAL(in_thread(keeper_turns_consumer, &n), 0);
}

CU_TestInfo test_keep_policy_tests[] = {
    {"a new thread sends others' blocks home", test_fresh_thread_sends_home},
    {"a thread that frees others' blocks as fast as it mallocs keeps them",
     test_pipeline_stage_keeps},
    {"one that only frees them sends them home; their owner mallocs them again",
     test_consumer_sends_home},
    {"one that mostly frees its own sends them home", test_mostly_own_sends_home},
    {"a keeper that turns consumer stops keeping at the window's end", test_keeper_stops},
    CU_TEST_INFO_NULL,
};
