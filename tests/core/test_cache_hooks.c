/* test_cache_hooks.c - caches with hooks of their own (aslab_cache_config.hooks): every slab
 * of the hierarchy, the master's included, comes from them and goes back to them with the
 * cache's context, the global hooks are never called, and a table without both functions is
 * refused. The global hooks' ledger (test_hooks.h) checks the "never": its counts stay 0. */
#include "test_hooks.h"
#include "test_suites.h"
#include "test_util.h"

#include <pthread.h>
#include <stdlib.h>

#define SLAB     TU_SLAB
#define OBJ      40
#define MAX_OBJS 2048

/* One pool of slabs: what its hooks were asked, with whose context. */
typedef struct pool {
    pthread_mutex_t mutex;
    size_t allocs, frees, live, foreign; /* foreign: a call that carried another context */
    unsigned fail_allocs, misalign_allocs, error_frees;
} pool;

static void pool_init(pool *p) {
    *p = (pool){.mutex = PTHREAD_MUTEX_INITIALIZER};
}

/* The context is the pool itself, so a call that reaches the wrong pool shows. */
static void *pool_alloc(void *context, size_t size, size_t align) {
    pool *p = context;
    pthread_mutex_lock(&p->mutex);
    void *block = NULL;
    if (size != align || size != SLAB) {
        p->foreign++;
    } else if (p->fail_allocs > 0) {
        p->fail_allocs--;
    } else if (p->misalign_allocs > 0) {
        p->misalign_allocs--;
        char *base = aligned_alloc(SLAB, 2 * SLAB);
        if (base != NULL) block = base + 64;
    } else {
        block = aligned_alloc(SLAB, SLAB);
    }
    if (block != NULL) p->allocs++, p->live++;
    pthread_mutex_unlock(&p->mutex);
    return block;
}

static aslab_error pool_free(void *context, void *slab, size_t size, size_t align) {
    pool *p = context;
    pthread_mutex_lock(&p->mutex);
    if (size != align || size != SLAB) p->foreign++;
    free((void *)((uintptr_t)slab & ~(uintptr_t)(SLAB - 1))); /* a misaligned one's base too */
    p->frees++, p->live--;
    aslab_error err = ASLAB_OK;
    if (p->error_frees > 0) p->error_frees--, err = ASLAB_ERR_INVALID_POINTER;
    pthread_mutex_unlock(&p->mutex);
    return err;
}

static const aslab_slab_hooks pool_hooks = {pool_alloc, pool_free};

static aslab_error create_in(pool *p, aslab_cache **out) {
    const aslab_cache_config config = {.obj_size = OBJ,
                                       .obj_align = 8,
                                       .slab_size = SLAB,
                                       .lock = &aslab_spinlock,
                                       .hooks = &pool_hooks,
                                       .hooks_context = p};
    return aslab_cache_create_config(out, &config);
}

/* Two caches, two pools: each pool sees its own cache's slabs alone, from the master's
 * allocation to the last slab's return, and the global hooks see nothing. */
static void test_slabs_from_own_hooks(void) {
    pool a, b;
    pool_init(&a);
    pool_init(&b);
    aslab_cache *ca = NULL, *cb = NULL;
    CU_ASSERT_EQUAL_FATAL(create_in(&a, &ca), ASLAB_OK);
    CU_ASSERT_EQUAL_FATAL(create_in(&b, &cb), ASLAB_OK);
    CU_ASSERT_EQUAL(a.allocs, 1); /* the master */
    CU_ASSERT_EQUAL(b.allocs, 1);
    static void *objs[MAX_OBJS];
    size_t n = tu_alloc_n(ca, objs, MAX_OBJS);
    CU_ASSERT_EQUAL_FATAL(n, MAX_OBJS);
    size_t slabs = tu_stats(ca).slabs;
    CU_ASSERT(slabs > 1);
    CU_ASSERT_EQUAL(a.live, slabs);
    CU_ASSERT_EQUAL(b.live, 1);
    CU_ASSERT_EQUAL(tu_free_n(objs, n, SLAB), 0);
    CU_ASSERT_EQUAL(aslab_cache_trim(ca), ASLAB_EMPTY_RESERVE); /* the rest went as freed */
    CU_ASSERT_EQUAL(a.frees, slabs - 1);
    CU_ASSERT_EQUAL(a.live, 1); /* the master stays while the handle does */
    CU_ASSERT_EQUAL(aslab_cache_release(ca), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_cache_release(cb), ASLAB_OK);
    CU_ASSERT_EQUAL(a.live, 0);
    CU_ASSERT_EQUAL(a.allocs, a.frees);
    CU_ASSERT_EQUAL(b.live, 0);
    CU_ASSERT_EQUAL(a.foreign + b.foreign, 0);
    CU_ASSERT_EQUAL(th_allocs(), 0);
    CU_ASSERT_EQUAL(th_frees(), 0);
}

/* Objects outlive the handle: the master goes back to the cache's own hooks when the last
 * object is freed after the release. */
static void test_master_back_to_own_hooks(void) {
    pool p;
    pool_init(&p);
    aslab_cache *cache = NULL;
    CU_ASSERT_EQUAL_FATAL(create_in(&p, &cache), ASLAB_OK);
    void *obj = NULL;
    CU_ASSERT_EQUAL_FATAL(aslab_alloc(cache, &obj), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
    CU_ASSERT_EQUAL(p.live, 1);
    CU_ASSERT_EQUAL(aslab_free(obj, SLAB), ASLAB_OK);
    CU_ASSERT_EQUAL(p.live, 0);
    CU_ASSERT_EQUAL(th_frees(), 0);
}

/* The own hooks' failures are answered as the global ones' are. */
static void test_own_hooks_failures(void) {
    pool p;
    pool_init(&p);
    aslab_cache *cache = NULL;
    p.fail_allocs = 1;
    CU_ASSERT_EQUAL(create_in(&p, &cache), ASLAB_ERR_OUT_OF_MEMORY);
    p.misalign_allocs = 1;
    CU_ASSERT_EQUAL(create_in(&p, &cache), ASLAB_ERR_ALIGNMENT_MISMATCH);
    CU_ASSERT_EQUAL(p.live, 0); /* the misaligned block went back to the pool */
    CU_ASSERT_EQUAL_FATAL(create_in(&p, &cache), ASLAB_OK);
    static void *objs[MAX_OBJS];
    size_t fits = tu_stats(cache).capacity;
    CU_ASSERT_EQUAL_FATAL(tu_alloc_n(cache, objs, fits), fits);
    p.fail_allocs = 1;
    void *more = NULL;
    CU_ASSERT_EQUAL(aslab_alloc(cache, &more), ASLAB_ERR_OUT_OF_MEMORY); /* a slave was needed */
    CU_ASSERT_EQUAL_FATAL(aslab_alloc(cache, &more), ASLAB_OK);
    p.error_frees = 1;
    CU_ASSERT_EQUAL(aslab_free(more, SLAB), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_cache_trim(cache), 1);
    CU_ASSERT_EQUAL(tu_stats(cache).hook_free_errors, 1);
    CU_ASSERT_EQUAL(tu_free_n(objs, fits, SLAB), 0);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
    CU_ASSERT_EQUAL(p.live, 0);
    CU_ASSERT_EQUAL(th_allocs() + th_frees(), 0);
}

static aslab_error nothing_freed(void *context, void *slab, size_t size, size_t align) {
    (void)context, (void)slab, (void)size, (void)align;
    return ASLAB_ERR_INVALID_POINTER;
}

/* A table must have both functions; NULL hooks mean the global pair, whatever the context. */
static void test_own_hooks_arguments(void) {
    aslab_cache *cache = NULL;
    const aslab_slab_hooks no_alloc = {NULL, nothing_freed}, no_free = {pool_alloc, NULL};
    aslab_cache_config config = {
        .obj_size = OBJ, .obj_align = 8, .slab_size = SLAB, .hooks = &no_alloc};
    CU_ASSERT_EQUAL(aslab_cache_create_config(&cache, &config), ASLAB_ERR_INVALID_ARGUMENT);
    config.hooks = &no_free;
    CU_ASSERT_EQUAL(aslab_cache_create_config(&cache, &config), ASLAB_ERR_INVALID_ARGUMENT);
    config.hooks = NULL;
    config.hooks_context = &config; /* ignored */
    CU_ASSERT_EQUAL_FATAL(aslab_cache_create_config(&cache, &config), ASLAB_OK);
    CU_ASSERT_EQUAL(th_allocs(), 1);
    CU_ASSERT_EQUAL(th_block_size(cache), SLAB);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
    CU_ASSERT_EQUAL(th_frees(), 1);
}

/* Threads share a cache with its own hooks: slabs lent and returned, objects allocated and
 * freed, every hook call with the cache's context. */
#define THREADS 4
#define ROUNDS  200

static void *lend_and_alloc(void *arg) {
    aslab_cache *cache = arg;
    void *objs[64];
    for (int r = 0; r < ROUNDS; r++) {
        aslab_slab_loan loan;
        if (aslab_slab_lend(cache, NULL, &loan) != ASLAB_OK) return (void *)1;
        size_t n = 0;
        while (n < 64 && aslab_alloc(cache, &objs[n]) == ASLAB_OK)
            n++;
        if (aslab_slab_return(loan.slab, SLAB) != ASLAB_OK) return (void *)1;
        for (size_t i = 0; i < n; i++)
            if (aslab_free(objs[i], SLAB) != ASLAB_OK) return (void *)1;
        if (r % 16 == 0) aslab_cache_trim(cache);
    }
    return NULL;
}

static void test_own_hooks_threads(void) {
    pool p;
    pool_init(&p);
    aslab_cache *cache = NULL;
    CU_ASSERT_EQUAL_FATAL(create_in(&p, &cache), ASLAB_OK);
    pthread_t tids[THREADS];
    for (int i = 0; i < THREADS; i++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&tids[i], NULL, lend_and_alloc, cache), 0);
    for (int i = 0; i < THREADS; i++) {
        void *failed = NULL;
        pthread_join(tids[i], &failed);
        CU_ASSERT_PTR_NULL(failed);
    }
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
    CU_ASSERT_EQUAL(p.live, 0);
    CU_ASSERT(p.allocs > 1);
    CU_ASSERT_EQUAL(p.foreign, 0);
    CU_ASSERT_EQUAL(th_allocs() + th_frees(), 0);
}

CU_TestInfo test_cache_hooks_tests[] = {
    {"slabs from the cache's own hooks, none from the global", test_slabs_from_own_hooks},
    {"the master back to the own hooks after the handle", test_master_back_to_own_hooks},
    {"the own hooks' failures", test_own_hooks_failures},
    {"a table needs both functions", test_own_hooks_arguments},
    {"threads on a cache with its own hooks", test_own_hooks_threads},
    CU_TEST_INFO_NULL,
};
