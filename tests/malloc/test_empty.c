/* test_empty.c - slabs that their owner's frees emptied (empty.c): kept for the thread's next
 * batch rather than given back and borrowed again, and still given back when the thread goes
 * quiet (the memory-return round, malloc_trim, run by any thread); left at its exit to the
 * next thread that starts, until the round or a trim. Read through
 * malloc_stats' row of one class: the slabs lent out now and the count of loans, returns and
 * class-lock acquisitions. */
#include "test_suites.h"
#include "test_util.h"

#include <CUnit/CUnit.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>

#define SIZE    480 /* a class no other suite uses much: its figures are this suite's */
#define BATCH   600 /* 4.4 of its 64 KiB slabs */
#define BATCHES 10

typedef struct figures {
    unsigned long long slabs, locks;
} figures;

static figures class_figures(void) {
    figures f = {0, 0};
    if (!tm_class_figures(SIZE, &f.slabs, &f.locks)) f.slabs = f.locks = ~0ull;
    return f;
}

/* Allocates BATCH blocks, checks them and frees them all, in allocation order (the slabs
 * empty one after the other, the current one last); the number of blocks found damaged. */
static int one_batch(uint64_t key) {
    void *blocks[BATCH];
    int bad = 0;
    for (int i = 0; i < BATCH; i++) {
        blocks[i] = malloc(SIZE);
        if (blocks[i] != NULL) tm_fill(blocks[i], SIZE, key + (uint64_t)i);
    }
    for (int i = 0; i < BATCH; i++) {
        bad += blocks[i] == NULL || !tm_intact(blocks[i], SIZE, key + (uint64_t)i);
        free(blocks[i]);
    }
    return bad;
}

typedef struct batches_case {
    figures warm, after;
    int bad;
} batches_case;

static void *run_batches(void *arg) {
    batches_case *c = arg;
    c->bad += one_batch(1);
    c->warm = class_figures();
    for (int b = 0; b < BATCHES; b++)
        c->bad += one_batch(1000u * (uint64_t)(b + 2));
    c->after = class_figures();
    return NULL;
}

/* Given back, the emptied slabs were borrowed again: a loan and a return each, about 8 per
 * batch. Kept, the batches after the first take none (the memory-return round may run once
 * meanwhile and give them back: a few). */
static void test_batches_reuse_emptied_slabs(void) {
    batches_case c = {0};
    pthread_t t;
    CU_ASSERT_FATAL(pthread_create(&t, NULL, run_batches, &c) == 0);
    pthread_join(t, NULL);
    CU_ASSERT_EQUAL(c.bad, 0);
    CU_ASSERT_FATAL(c.warm.locks != ~0ull && c.after.locks != ~0ull);
    CU_ASSERT(c.after.locks - c.warm.locks <= 10);
}

typedef struct quiet_case {
    pthread_barrier_t done, go;
    int bad;
} quiet_case;

static void *batch_then_wait(void *arg) {
    quiet_case *q = arg;
    q->bad += one_batch(7);
    pthread_barrier_wait(&q->done);
    pthread_barrier_wait(&q->go); /* quiet: no malloc, no free */
    return NULL;
}

/* A thread that emptied its slabs and went quiet keeps them until another thread runs the
 * round or trims; after, it holds at most its current slab of the class. */
static void test_quiet_thread_gives_back_at_trim(void) {
    static quiet_case q;
    q = (quiet_case){.bad = 0};
    pthread_barrier_init(&q.done, NULL, 2);
    pthread_barrier_init(&q.go, NULL, 2);
    malloc_trim(0); /* no record parked by an earlier test's thread, whose slabs it would take */
    figures before = class_figures();
    pthread_t t;
    CU_ASSERT_FATAL(pthread_create(&t, NULL, batch_then_wait, &q) == 0);
    pthread_barrier_wait(&q.done);
    figures kept = class_figures();
    malloc_trim(0);
    figures trimmed = class_figures();
    pthread_barrier_wait(&q.go);
    pthread_join(t, NULL);
    figures gone = class_figures();
    pthread_barrier_destroy(&q.done);
    pthread_barrier_destroy(&q.go);
    CU_ASSERT_EQUAL(q.bad, 0);
    CU_ASSERT_FATAL(before.slabs != ~0ull);
    CU_ASSERT(kept.slabs >= before.slabs + 3);    /* the emptied ones, kept */
    CU_ASSERT(trimmed.slabs <= before.slabs + 1); /* its current one at most */
    CU_ASSERT(gone.slabs <= before.slabs + 1);    /* its exit parks that one for the next */
}

static void *batch_and_exit(void *arg) {
    *(int *)arg = one_batch(11);
    return NULL;
}

static void batch_in_thread(int *bad) {
    pthread_t t;
    CU_ASSERT_FATAL(pthread_create(&t, NULL, batch_and_exit, bad) == 0);
    pthread_join(t, NULL);
}

/* An exiting thread leaves what it kept, its current slab with it, on its record for the next
 * thread that starts, which takes no loan for the same batch (without, it borrowed 5 slabs and
 * gave them back, each through the class lock); malloc_trim gives them back. */
static void test_exit_leaves_slabs_to_next_thread(void) {
    malloc_trim(0); /* no record parked by an earlier test: the next exit parks */
    figures before = class_figures();
    int bad_first = -1, bad_next = -1;
    batch_in_thread(&bad_first);
    figures parked = class_figures();
    batch_in_thread(&bad_next);
    figures reused = class_figures();
    malloc_trim(0);
    figures trimmed = class_figures();
    CU_ASSERT_EQUAL(bad_first, 0);
    CU_ASSERT_EQUAL(bad_next, 0);
    CU_ASSERT_FATAL(before.slabs != ~0ull);
    CU_ASSERT(parked.slabs >= before.slabs + 4); /* 4.4 slabs' worth of blocks, all emptied */
    CU_ASSERT(reused.locks - parked.locks <= 2); /* no loan, no return */
    CU_ASSERT(reused.slabs == parked.slabs);
    CU_ASSERT(trimmed.slabs <= before.slabs);
}

CU_TestInfo test_empty_tests[] = {
    {"batches larger than a slab reuse the slabs they emptied", test_batches_reuse_emptied_slabs},
    {"a quiet thread's emptied slabs go back at another's malloc_trim",
     test_quiet_thread_gives_back_at_trim},
    {"an exiting thread leaves its emptied slabs to the next thread, until malloc_trim",
     test_exit_leaves_slabs_to_next_thread},
    CU_TEST_INFO_NULL,
};
