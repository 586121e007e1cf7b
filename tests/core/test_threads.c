/* test_threads.c - many threads sharing clones of a spinlock cache and a futexlock cache.
 * Each thread allocates, writes a key pattern over every object and checks it before the
 * free, frees in a seeded random order, and passes a share of its objects to other threads
 * through a mutex-protected exchange so that they are freed cross-thread. The main thread
 * drops its own handles while the workers run. Worker threads never call CUnit: they
 * count failures, and the main thread asserts on the counts. */
#include "test_hooks.h"
#include "test_suites.h"
#include "test_util.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#define THREADS      20
#define OPS          20000 /* per thread, half before the main thread's release, half after */
#define LIVE_MAX     48    /* objects a thread holds at most */
#define EXCHANGE_MAX 256
#define OBJ_SIZE     56
#define N_CACHES     2

typedef struct record {
    void *obj;
    int cache;
    uint64_t key; /* thread id, sequence number and a per-object random key */
} record;

typedef struct shared {
    aslab_cache *caches[N_CACHES]; /* the main thread's handles */
    size_t slab[N_CACHES], align[N_CACHES];
    pthread_barrier_t cloned, released;
    pthread_mutex_t mutex;
    record exchange[EXCHANGE_MAX];
    size_t exchanged;
    atomic_size_t allocs, frees, cross_thread_frees, bad_patterns, bad_objects, errors;
} shared;

typedef struct worker {
    shared *sh;
    pthread_t thread;
    uint64_t id, seq, rng;
    aslab_cache *caches[N_CACHES]; /* this thread's clones */
    record live[LIVE_MAX];
    size_t n_live;
} worker;

static void free_record(shared *sh, record rec) {
    if (!tu_intact(rec.obj, OBJ_SIZE, rec.key)) atomic_fetch_add(&sh->bad_patterns, 1);
    if (aslab_free(rec.obj, sh->slab[rec.cache]) != ASLAB_OK) atomic_fetch_add(&sh->errors, 1);
    atomic_fetch_add(&sh->frees, 1);
}

static void alloc_one(worker *w, uint64_t r) {
    shared *sh = w->sh;
    record rec = {NULL, (int)((r >> 32) % N_CACHES), 0};
    if (aslab_alloc(w->caches[rec.cache], &rec.obj) != ASLAB_OK) {
        atomic_fetch_add(&sh->errors, 1);
        return;
    }
    /* No ledger lookup here: the ledger's mutex would order the threads and hide races. */
    if ((uintptr_t)rec.obj % sh->align[rec.cache] != 0) atomic_fetch_add(&sh->bad_objects, 1);
    rec.key = w->id << 48 | (w->seq++ & 0xffffffff) << 16 | (r & 0xffff);
    tu_fill(rec.obj, OBJ_SIZE, rec.key);
    w->live[w->n_live++] = rec;
    atomic_fetch_add(&sh->allocs, 1);
}

/* Offers rec to the other threads; returns 0 if the exchange is full. */
static int give_away(shared *sh, record rec) {
    pthread_mutex_lock(&sh->mutex);
    int room = sh->exchanged < EXCHANGE_MAX;
    if (room) sh->exchange[sh->exchanged++] = rec;
    pthread_mutex_unlock(&sh->mutex);
    return room;
}

/* Frees one record a thread gave away, if there is one. */
static void take_one(worker *w, uint64_t r) {
    shared *sh = w->sh;
    record rec = {NULL, 0, 0};
    pthread_mutex_lock(&sh->mutex);
    if (sh->exchanged > 0) {
        size_t i = (size_t)(r % sh->exchanged);
        rec = sh->exchange[i];
        sh->exchange[i] = sh->exchange[--sh->exchanged];
    }
    pthread_mutex_unlock(&sh->mutex);
    if (rec.obj == NULL) return;
    if (rec.key >> 48 != w->id) atomic_fetch_add(&sh->cross_thread_frees, 1);
    free_record(sh, rec);
}

/* Drops a random live object: a quarter go to the exchange, the rest are freed here. */
static void drop_one(worker *w, uint64_t r) {
    size_t i = (size_t)(r % w->n_live);
    record rec = w->live[i];
    w->live[i] = w->live[--w->n_live];
    if ((r >> 40) % 4 != 0 || !give_away(w->sh, rec)) free_record(w->sh, rec);
}

static void run_ops(worker *w, int ops) {
    for (int op = 0; op < ops; op++) {
        uint64_t r = tu_random(&w->rng);
        if ((r >> 20) % 8 == 0)
            take_one(w, r);
        else if (w->n_live == 0 || (w->n_live < LIVE_MAX && (r >> 24) % 2 == 0))
            alloc_one(w, r);
        else
            drop_one(w, r);
    }
}

static void *worker_main(void *arg) {
    worker *w = arg;
    shared *sh = w->sh;
    for (int c = 0; c < N_CACHES; c++) {
        w->caches[c] = aslab_cache_clone(sh->caches[c]);
        if (w->caches[c] == NULL) atomic_fetch_add(&sh->errors, 1);
    }
    pthread_barrier_wait(&sh->cloned);
    if (w->caches[0] != NULL && w->caches[1] != NULL) run_ops(w, OPS / 2);
    pthread_barrier_wait(&sh->released);
    if (w->caches[0] != NULL && w->caches[1] != NULL) run_ops(w, OPS - OPS / 2);
    while (w->n_live > 0)
        drop_one(w, tu_random(&w->rng));
    for (int c = 0; c < N_CACHES; c++)
        if (w->caches[c] != NULL && aslab_cache_release(w->caches[c]) != ASLAB_OK)
            atomic_fetch_add(&sh->errors, 1);
    return NULL;
}

static void start_workers(shared *sh, worker *workers) {
    for (int i = 0; i < THREADS; i++) {
        workers[i] = (worker){.sh = sh, .id = (uint64_t)i + 1};
        workers[i].rng = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1); /* reproducible */
        CU_ASSERT_EQUAL_FATAL(pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]),
                              0);
    }
}

static void test_threads_share_caches(void) {
    static shared sh;
    static worker workers[THREADS];
    sh = (shared){.slab = {4096, 8192}, .align = {8, 16}};
    sh.caches[0] = tu_create(OBJ_SIZE, 8, 4096, &aslab_spinlock);
    sh.caches[1] = tu_create(OBJ_SIZE, 16, 8192, &aslab_futexlock);
    pthread_mutex_init(&sh.mutex, NULL);
    pthread_barrier_init(&sh.cloned, NULL, THREADS + 1);
    pthread_barrier_init(&sh.released, NULL, THREADS + 1);
    start_workers(&sh, workers);
    pthread_barrier_wait(&sh.cloned);
    for (int c = 0; c < N_CACHES; c++)
        CU_ASSERT_EQUAL(aslab_cache_release(sh.caches[c]), ASLAB_OK);
    pthread_barrier_wait(&sh.released);
    for (int i = 0; i < THREADS; i++)
        CU_ASSERT_EQUAL(pthread_join(workers[i].thread, NULL), 0);
    while (sh.exchanged > 0)
        free_record(&sh, sh.exchange[--sh.exchanged]);
    CU_ASSERT_EQUAL(atomic_load(&sh.bad_patterns), 0);
    CU_ASSERT_EQUAL(atomic_load(&sh.bad_objects), 0);
    CU_ASSERT_EQUAL(atomic_load(&sh.errors), 0);
    CU_ASSERT_EQUAL(atomic_load(&sh.allocs), atomic_load(&sh.frees));
    CU_ASSERT(atomic_load(&sh.cross_thread_frees) > 0);
    CU_ASSERT(atomic_load(&sh.allocs) >= THREADS * OPS / 4);
    CU_ASSERT_EQUAL(th_outstanding(), 0);
    pthread_barrier_destroy(&sh.cloned);
    pthread_barrier_destroy(&sh.released);
    pthread_mutex_destroy(&sh.mutex);
}

/* ---- the futex lock's counts, and a lock initialised afresh in a fork child ---- */

static uint64_t held_lock[2];

static void *lock_after_holder(void *arg) {
    (void)arg;
    aslab_futexlock.lock(held_lock); /* the holder keeps it 100 ms: this thread sleeps */
    aslab_futexlock.unlock(held_lock);
    return NULL;
}

static void test_futex_counts(void) {
    unsigned sleeps = 1, wakes = 1;
    aslab_futexlock.init(held_lock);
    aslab_futexlock.lock(held_lock);
    aslab_futexlock.unlock(held_lock);
    aslab_futexlock_counts(held_lock, &sleeps, &wakes);
    CU_ASSERT_EQUAL(sleeps, 0);
    CU_ASSERT_EQUAL(wakes, 0);
    aslab_futexlock.lock(held_lock);
    pthread_t waiter;
    CU_ASSERT_FATAL(pthread_create(&waiter, NULL, lock_after_holder, NULL) == 0);
    struct timespec nap = {0, 100 * 1000 * 1000};
    nanosleep(&nap, NULL);
    aslab_futexlock.unlock(held_lock);
    pthread_join(waiter, NULL);
    aslab_futexlock_counts(held_lock, &sleeps, &wakes);
    CU_ASSERT(sleeps >= 1);
    CU_ASSERT(wakes >= 1);
    aslab_futexlock.init(held_lock); /* what a fork child does: the counts start again */
    aslab_futexlock_counts(held_lock, &sleeps, &wakes);
    CU_ASSERT_EQUAL(sleeps + wakes, 0);
}

/* ---- the futex lock keeps the caller's errno ---- */

#define ERRNO_MARK 4321

static volatile sig_atomic_t poked;
static int waiter_errno;

static void on_poke(int sig) {
    (void)sig;
    poked = 1;
}

static void *lock_keeping_errno(void *arg) {
    (void)arg;
    errno = ERRNO_MARK;
    aslab_futexlock.lock(held_lock); /* sleeps; the signal cuts the sleep short (EINTR) */
    aslab_futexlock.unlock(held_lock);
    waiter_errno = errno;
    return NULL;
}

/* A thread asleep on the lock is sent a signal whose handler does not restart calls, so its
 * futex wait fails with EINTR and it sleeps again (two sleeps counted); once it has the lock,
 * errno is what it set before. */
static void test_futex_keeps_errno(void) {
    struct sigaction poke = {.sa_handler = on_poke}, old;
    sigemptyset(&poke.sa_mask);
    CU_ASSERT_FATAL(sigaction(SIGUSR1, &poke, &old) == 0);
    unsigned sleeps = 0, wakes = 0;
    aslab_futexlock.init(held_lock);
    aslab_futexlock.lock(held_lock);
    pthread_t waiter;
    CU_ASSERT_FATAL(pthread_create(&waiter, NULL, lock_keeping_errno, NULL) == 0);
    struct timespec nap = {0, 50 * 1000 * 1000};
    nanosleep(&nap, NULL);
    pthread_kill(waiter, SIGUSR1);
    nanosleep(&nap, NULL);
    aslab_futexlock.unlock(held_lock);
    pthread_join(waiter, NULL);
    sigaction(SIGUSR1, &old, NULL);
    aslab_futexlock_counts(held_lock, &sleeps, &wakes);
    CU_ASSERT(poked);
    CU_ASSERT(sleeps >= 2);
    CU_ASSERT_EQUAL(waiter_errno, ERRNO_MARK);
}

static void test_lock_reinit(void) {
    aslab_cache *cache = NULL;
    void *obj = NULL;
    CU_ASSERT_FATAL(aslab_cache_create(&cache, 64, 8, 4096, &aslab_futexlock) == ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_cache_lock(cache), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_cache_lock_reinit(cache), ASLAB_OK); /* held: now free again */
    CU_ASSERT_EQUAL(aslab_alloc(cache, &obj), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_free(obj, 4096), ASLAB_OK);
    CU_ASSERT_PTR_NOT_NULL(aslab_cache_lock_state(cache));
    CU_ASSERT_PTR_NULL(aslab_cache_lock_state(NULL));
    CU_ASSERT_EQUAL(aslab_cache_lock_reinit(NULL), ASLAB_ERR_INVALID_ARGUMENT);
    aslab_cache_release(cache);
}

CU_TestInfo test_threads_tests[] = {
    {"threads share caches", test_threads_share_caches},
    {"the futex lock counts sleeps and wake-ups", test_futex_counts},
    {"the futex lock keeps the caller's errno", test_futex_keeps_errno},
    {"a lock initialised afresh (fork child) is free", test_lock_reinit},
    CU_TEST_INFO_NULL,
};
