/* test_fork.c - fork while 8 threads malloc and free without pause. The busy threads work
 * in bursts that take and give back whole slabs, so that the pool's, the core's and the
 * arena's locks are often held when the main thread forks. Each of 50 children first takes a burst
 * of every class the busy threads use (a lock held at fork time and not handled would hang it),
 * then allocates and frees a few thousand blocks of mixed sizes (slabs, the fallback, calloc,
 * realloc), does that again on a thread of its own, and exits 0 if every block held its
 * data. A hung child is killed at its time limit and fails the test; the busy threads check
 * their own blocks too. The same storm runs again with ASLAB_DECAY_MS=0, where every emptied
 * slab goes to the OS at once. (Without aslab's atfork handlers both tests fail.) */
#include "test_child.h"
#include "test_suites.h"
#include "test_util.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#define BUSY_THREADS     8
#define FORKS            50
#define CHILD_OPS        4000
#define CHILD_TIMEOUT_MS 10000
#define LIVE             128 /* blocks a churning thread holds at most */
#define CHECKED          64  /* bytes of each block filled and checked */
#define BURST            300 /* several pages of blocks of a class: the slow paths run */

/* The busy threads' classes: aslab's locks are what fork must take care of. */
static const size_t burst_sizes[] = {24, 96, 400, 1500, 6000, 12000};
#define N_BURST_SIZES (sizeof burst_sizes / sizeof *burst_sizes)

static int stop_busy;

/* Mostly small, some of every small class, one in sixteen from the fallback. */
static size_t churn_size(uint64_t r) {
    switch (r % 16) { /* never 0: realloc(p, 0) would free p */
    case 0:
        return TM_SMALL_MAX + 1 + (size_t)(r >> 8) % 200000;
    case 1:
        return 1 + (size_t)(r >> 8) % TM_SMALL_MAX;
    default:
        return 1 + (size_t)(r >> 8) % 512;
    }
}

static size_t checked(size_t size) {
    return size < CHECKED ? size : CHECKED;
}

/* BURST blocks of one size, allocated, then checked and freed: the slabs are taken and
 * given back. Each block holds its own address and the key in its first
 * 16 bytes (every class has that much): a cheap check, so that the busy threads spend
 * their time in malloc and free. Returns the failures. */
static int burst(size_t size, uint64_t key) {
    uint64_t *blocks[BURST];
    int bad = 0;
    for (size_t i = 0; i < BURST; i++) {
        blocks[i] = malloc(size);
        if (blocks[i] == NULL)
            bad++;
        else
            blocks[i][0] = (uintptr_t)blocks[i], blocks[i][1] = key;
    }
    for (size_t i = 0; i < BURST; i++) {
        if (blocks[i] == NULL) continue;
        bad += blocks[i][0] != (uintptr_t)blocks[i] || blocks[i][1] != key;
        free(blocks[i]);
    }
    return bad;
}

/* Replaces the block in one slot: checks and frees the old, allocates (malloc, calloc or
 * realloc) and fills the new; returns the failures. */
static int churn_step(void **live, size_t *sizes, uint64_t r) {
    size_t slot = (size_t)(r >> 40) % LIVE, size = churn_size(r);
    int bad = 0;
    if (live[slot] != NULL && !tm_intact(live[slot], checked(sizes[slot]), slot)) bad++;
    if (r % 7 == 0 && live[slot] != NULL) {
        void *p = realloc(live[slot], size);
        if (p == NULL) return bad + 1;
        live[slot] = p;
    } else {
        free(live[slot]);
        live[slot] = r % 7 == 1 ? calloc(1, size) : malloc(size);
        if (live[slot] == NULL) return bad + 1;
        if (r % 7 == 1 && !tm_all_zero(live[slot], size)) bad++;
    }
    sizes[slot] = size;
    tm_fill(live[slot], checked(size), slot);
    return bad;
}

/* `ops` steps, then frees everything; returns the failures. */
static int churn(uint64_t seed, long ops) {
    void *live[LIVE] = {0};
    size_t sizes[LIVE] = {0};
    int bad = 0;
    for (long i = 0; i < ops; i++)
        bad += churn_step(live, sizes, tm_random(&seed));
    for (size_t slot = 0; slot < LIVE; slot++) {
        if (live[slot] != NULL && !tm_intact(live[slot], checked(sizes[slot]), slot)) bad++;
        free(live[slot]);
    }
    return bad;
}

static void *busy_main(void *arg) {
    uint64_t seed = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;
    uintptr_t bad = 0;
    while (!__atomic_load_n(&stop_busy, __ATOMIC_RELAXED)) {
        uint64_t r = tm_random(&seed);
        bad += (uintptr_t)burst(burst_sizes[r % N_BURST_SIZES], r);
    }
    return (void *)bad;
}

static void *child_thread(void *arg) {
    return (void *)(uintptr_t)churn((uint64_t)(uintptr_t)arg, CHILD_OPS / 4);
}

static void fork_child(void *arg) {
    uint64_t seed = (uint64_t)(uintptr_t)arg;
    int bad = 0;
    for (size_t i = 0; i < N_BURST_SIZES; i++)
        bad += burst(burst_sizes[i], seed + i);
    bad += churn(seed, CHILD_OPS);
    pthread_t thread;
    void *result = NULL;
    if (pthread_create(&thread, NULL, child_thread, (void *)(uintptr_t)(seed + 1)) != 0) _exit(2);
    pthread_join(thread, &result);
    _exit(bad != 0 || result != NULL ? 1 : 0);
}

/* Forks `forks` times while BUSY_THREADS threads work; returns 0 if every child exited 0
 * and every busy thread's blocks held their data. No CUnit: test_scenarios.c runs it too. */
int tm_fork_under_load(int forks) {
    pthread_t busy[BUSY_THREADS];
    int started = 0, failed = 0;
    stop_busy = 0;
    while (started < BUSY_THREADS &&
           pthread_create(&busy[started], NULL, busy_main, (void *)(uintptr_t)(started + 1)) == 0)
        started++;
    for (uintptr_t i = 0; i < (uintptr_t)forks && !failed && started == BUSY_THREADS; i++) {
        tm_child c;
        tm_child_run(&c, fork_child, (void *)(1000 + i), CHILD_TIMEOUT_MS);
        failed = !tm_child_exited(&c, 0);
        if (failed) tm_child_dump(&c, "fork under load");
    }
    __atomic_store_n(&stop_busy, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < started; i++) {
        void *bad;
        pthread_join(busy[i], &bad);
        failed |= bad != NULL;
    }
    return failed || started != BUSY_THREADS;
}

static void test_fork_under_load(void) {
    CU_ASSERT_EQUAL(tm_fork_under_load(FORKS), 0);
}

/* With ASLAB_DECAY_MS=0 every slab that empties goes to the OS at once, through the pool's
 * and the arena's locks: one of them is held at many a fork, so a child that inherited one
 * held would hang. */
static void test_fork_with_decay_now(void) {
    static const char *const now[] = {"ASLAB_DECAY_MS=0", NULL};
    tm_child c;
    tm_child_scenario(&c, "fork", now, 0, TM_CHILD_TIMEOUT_MS);
    if (!tm_child_exited(&c, 0)) tm_child_dump(&c, "fork with ASLAB_DECAY_MS=0");
    CU_ASSERT(tm_child_exited(&c, 0));
}

CU_TestInfo test_fork_tests[] = {
    {"fork 50 times while 8 threads malloc and free", test_fork_under_load},
    {"the same with ASLAB_DECAY_MS=0", test_fork_with_decay_now},
    CU_TEST_INFO_NULL,
};
