/* test_threads.c - objects crossing threads and threads ending. Thread A mallocs 100k
 * objects and ends, thread B frees them all and ends: the heap's use returns to where it
 * was, and a second round needs no new region (the first round's memory serves it).
 * A producer and a consumer do the same concurrently. 200 threads end while their caches
 * hold objects: the caches go back, the heap does not grow per thread. A thread that
 * allocates from a TLS destructor running after aslab's own leaks nothing either. Worker
 * threads never call CUnit: they count failures, the test thread asserts on the counts. */
#include "test_suites.h"
#include "test_util.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#define XT_OBJECTS   100000
#define EXIT_BATCH   8  /* threads alive at once */
#define EXIT_BATCHES 25 /* 200 threads */
#define SLACK        (512 * TM_KIB)

typedef struct xt_round {
    void **objs;      /* objs[0, published) are ready for the consumer */
    size_t published; /* atomic */
    size_t bad;       /* the consumer's failed checks */
} xt_round;

static size_t xt_size(size_t i) {
    return 16 + (i * 2654435761u) % 241;
}

static void *xt_producer(void *arg) {
    xt_round *r = arg;
    for (size_t i = 0; i < XT_OBJECTS; i++) {
        void *p = malloc(xt_size(i));
        if (p != NULL) tm_fill(p, xt_size(i), i);
        r->objs[i] = p;
        __atomic_store_n(&r->published, i + 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

static void *xt_consumer(void *arg) {
    xt_round *r = arg;
    for (size_t done = 0; done < XT_OBJECTS;) {
        size_t ready = __atomic_load_n(&r->published, __ATOMIC_ACQUIRE);
        if (ready == done) sched_yield();
        for (; done < ready; done++) {
            void *p = r->objs[done];
            r->bad += p == NULL || !tm_intact(p, xt_size(done), done);
            free(p);
        }
    }
    return NULL;
}

/* One round: the producer and the consumer one after the other, or side by side. */
static void xt_run(xt_round *r, int concurrent) {
    pthread_t producer, consumer;
    r->published = r->bad = 0;
    CU_ASSERT_FATAL(pthread_create(&producer, NULL, xt_producer, r) == 0);
    if (!concurrent) pthread_join(producer, NULL);
    CU_ASSERT_FATAL(pthread_create(&consumer, NULL, xt_consumer, r) == 0);
    if (concurrent) pthread_join(producer, NULL);
    pthread_join(consumer, NULL);
    CU_ASSERT_EQUAL(r->bad, 0);
}

static void test_cross_thread_free(void) {
    xt_round r = {malloc(XT_OBJECTS * sizeof(void *)), 0, 0};
    CU_ASSERT_FATAL(r.objs != NULL);
    size_t start = tm_in_use();
    xt_run(&r, 0);
    size_t after_first = tm_in_use(), regions_first = tm_regions();
    xt_run(&r, 0);
    size_t after_second = tm_in_use(), regions_second = tm_regions();
    free(r.objs);
    CU_ASSERT(after_first < start + SLACK);
    CU_ASSERT(after_second < start + SLACK);
    CU_ASSERT(regions_first != 0);
    CU_ASSERT_EQUAL(regions_second, regions_first); /* round 1's memory served round 2 */
}

static void test_cross_thread_concurrent(void) {
    xt_round r = {malloc(XT_OBJECTS * sizeof(void *)), 0, 0};
    CU_ASSERT_FATAL(r.objs != NULL);
    size_t start = tm_in_use();
    for (int round = 0; round < 3; round++)
        xt_run(&r, 1);
    size_t end = tm_in_use();
    free(r.objs);
    CU_ASSERT(end < start + SLACK);
}

/* Allocates and frees a spread of classes: the thread ends with its caches full. */
static void *exit_worker(void *arg) {
    static const size_t sizes[] = {24, 200, 1500, 9000};
    size_t *bad = arg;
    void *objs[64];
    for (size_t s = 0; s < 4; s++) {
        for (size_t i = 0; i < 64; i++) {
            objs[i] = malloc(sizes[s]);
            if (objs[i] != NULL) memset(objs[i], 0x3c, sizes[s]);
        }
        for (size_t i = 0; i < 64; i++) {
            __atomic_add_fetch(bad, objs[i] == NULL, __ATOMIC_RELAXED);
            free(objs[i]);
        }
    }
    return NULL;
}

/* Runs `batches` batches of EXIT_BATCH threads of fn. */
static void run_threads(void *(*fn)(void *), void *arg, int batches) {
    for (int b = 0; b < batches; b++) {
        pthread_t threads[EXIT_BATCH];
        for (int i = 0; i < EXIT_BATCH; i++)
            CU_ASSERT_FATAL(pthread_create(&threads[i], NULL, fn, arg) == 0);
        for (int i = 0; i < EXIT_BATCH; i++)
            pthread_join(threads[i], NULL);
    }
}

static void test_thread_exit_returns_cache(void) {
    size_t bad = 0;
    run_threads(exit_worker, &bad, 1); /* the classes and their slabs exist now */
    size_t start = tm_in_use();
    run_threads(exit_worker, &bad, EXIT_BATCHES / 2);
    size_t half = tm_in_use();
    run_threads(exit_worker, &bad, EXIT_BATCHES - EXIT_BATCHES / 2);
    size_t end = tm_in_use();
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT(half < start + SLACK);
    CU_ASSERT(end < start + SLACK);
}

/* A TLS destructor of a key created after aslab's runs after aslab has flushed the thread's
 * cache; what it allocates and frees then must not be stranded. `first` says whether the
 * thread allocated before (its cache is dead by then) or not at all (set up during exit). */
static pthread_key_t late_key;

static void late_destructor(void *value) {
    void *objs[100];
    (void)value;
    for (int i = 0; i < 100; i++)
        objs[i] = malloc(64 + (size_t)i % 4 * 300);
    for (int i = 0; i < 100; i++)
        free(objs[i]);
}

static void *late_worker(void *arg) {
    if (arg != NULL) exit_worker(arg);
    pthread_setspecific(late_key, &late_key);
    return NULL;
}

static void test_thread_exit_late_destructor(void) {
    size_t bad = 0;
    CU_ASSERT_FATAL(pthread_key_create(&late_key, late_destructor) == 0);
    run_threads(late_worker, &bad, 1);
    size_t start = tm_in_use();
    run_threads(late_worker, &bad, EXIT_BATCHES / 2);
    run_threads(late_worker, NULL, EXIT_BATCHES / 2);
    size_t end = tm_in_use();
    pthread_key_delete(late_key);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT(end < start + SLACK);
}

/* ---- errno across calls that contend ---- */

#define ERRNO_THREADS 4
#define ERRNO_ROUNDS  3000
#define ERRNO_SLOTS   64

static void *errno_slots[ERRNO_SLOTS];

/* Small, medium and (one in 16) fallback sizes: every lock a malloc or free may meet. */
static size_t errno_size(uint64_t *rng) {
    uint64_t r = tm_random(rng);
    if (r % 16 == 0) return 2 * TM_MIB + (size_t)(r >> 40) % TM_MIB;
    if (r % 4 == 0) return 16 * TM_KIB + (size_t)(r >> 40) % TM_MIB;
    return 16 + (size_t)(r >> 40) % (4 * TM_KIB);
}

/* Each call is made with errno set to a value of the thread's own; a call that succeeds
 * leaves it so. Blocks go through shared slots, so most frees are of another thread's. */
static void *errno_worker(void *arg) {
    uintptr_t id = (uintptr_t)arg, changed = 0;
    uint64_t rng = 0x9e3779b97f4a7c15ull * (id + 1);
    for (int i = 0; i < ERRNO_ROUNDS; i++) {
        int mark = 1000 + (int)id * ERRNO_ROUNDS + i;
        size_t size = errno_size(&rng);
        errno = mark;
        char *p = malloc(size);
        changed += errno != mark;
        if (p == NULL) continue;
        p[0] = p[size - 1] = (char)i;
        void *old =
            __atomic_exchange_n(&errno_slots[tm_random(&rng) % ERRNO_SLOTS], p, __ATOMIC_ACQ_REL);
        errno = mark;
        free(old);
        changed += errno != mark;
    }
    return (void *)changed;
}

static void test_errno_kept_under_contention(void) {
    pthread_t t[ERRNO_THREADS];
    uintptr_t changed = 0;
    for (uintptr_t i = 0; i < ERRNO_THREADS; i++)
        CU_ASSERT_FATAL(pthread_create(&t[i], NULL, errno_worker, (void *)i) == 0);
    for (int i = 0; i < ERRNO_THREADS; i++) {
        void *result = NULL;
        pthread_join(t[i], &result);
        changed += (uintptr_t)result;
    }
    for (int i = 0; i < ERRNO_SLOTS; i++) {
        free(errno_slots[i]);
        errno_slots[i] = NULL;
    }
    tm_check(changed == 0, "%zu calls changed errno", (size_t)changed);
    CU_ASSERT_EQUAL(changed, 0);
}

CU_TestInfo test_threads_tests[] = {
    {"cross-thread free of 100k objects, reused, no leak", test_cross_thread_free},
    {"concurrent producer and consumer, no leak", test_cross_thread_concurrent},
    {"200 exiting threads give their caches back", test_thread_exit_returns_cache},
    {"allocations in a late TLS destructor are not stranded", test_thread_exit_late_destructor},
    {"errno kept by every call of 4 threads that contend", test_errno_kept_under_contention},
    CU_TEST_INFO_NULL,
};
