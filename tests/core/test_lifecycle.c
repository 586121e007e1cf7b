/* test_lifecycle.c - a cache's life: create, the slot stride, clones, release, and the
 * hierarchy going back to the hook exactly when the last handle and the last object are
 * gone, in either order and from any thread. */
#include "test_hooks.h"
#include "test_suites.h"
#include "test_util.h"

#include <pthread.h>
#include <stdlib.h>

#define SLAB     TU_SLAB
#define MAX_OBJS 1024

static void test_create_and_release(void) {
    aslab_cache *cache = tu_create(40, 8, SLAB, NULL);
    aslab_cache_stats st = tu_stats(cache);
    CU_ASSERT_EQUAL(st.slabs, 1);
    CU_ASSERT_EQUAL(st.empty_slabs, 1);
    CU_ASSERT_EQUAL(st.objects_in_use, 0);
    CU_ASSERT(st.capacity >= 1 && st.capacity < SLAB / 40);
    CU_ASSERT_EQUAL(st.hook_allocs, 1);
    CU_ASSERT_EQUAL(st.hook_frees, 0);
    CU_ASSERT_EQUAL(st.hook_free_errors, 0);
    CU_ASSERT_EQUAL(th_outstanding(), 1);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
    CU_ASSERT_EQUAL(th_outstanding(), 0);
    CU_ASSERT_EQUAL(th_frees(), 1);
}

/* The stride: obj_size rounded up to max(obj_align, 4). */
static void test_slot_stride(void) {
    static const struct {
        size_t size, align, stride;
    } cases[] = {{1, 1, 4},   {3, 2, 4},   {5, 1, 8},    {5, 4, 8},   {8, 8, 8},
                 {12, 8, 16}, {24, 8, 24}, {10, 16, 16}, {4, 64, 64}, {100, 32, 128}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        aslab_cache *cache = tu_create(cases[i].size, cases[i].align, SLAB, NULL);
        CU_ASSERT_EQUAL(tu_stats(cache).obj_size, cases[i].stride);
        CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
    }
}

static void test_clone_shares_the_cache(void) {
    aslab_cache *cache = tu_create(40, 8, SLAB, &aslab_spinlock);
    aslab_cache *clone = aslab_cache_clone(cache);
    CU_ASSERT_PTR_EQUAL(clone, cache);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
    CU_ASSERT_EQUAL(th_outstanding(), 1); /* the clone keeps it */
    void *obj;
    CU_ASSERT_EQUAL_FATAL(aslab_alloc(clone, &obj), ASLAB_OK);
    CU_ASSERT_EQUAL(tu_stats(clone).objects_in_use, 1);
    CU_ASSERT_EQUAL(aslab_free(obj, SLAB), ASLAB_OK);
    CU_ASSERT_EQUAL(th_outstanding(), 1);
    CU_ASSERT_EQUAL(aslab_cache_release(clone), ASLAB_OK);
    CU_ASSERT_EQUAL(th_outstanding(), 0);
}

/* Objects across three slabs outlive the handle; the master stays until the last one. */
static void test_objects_outlive_the_handle(void) {
    void *objs[MAX_OBJS];
    aslab_cache *cache = tu_create(40, 8, SLAB, NULL);
    size_t n = 0;
    while (tu_stats(cache).slabs < 3) {
        CU_ASSERT_FATAL(n < MAX_OBJS);
        CU_ASSERT_EQUAL_FATAL(aslab_alloc(cache, &objs[n]), ASLAB_OK);
        n++;
    }
    CU_ASSERT_EQUAL(th_outstanding(), 3);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
    CU_ASSERT_EQUAL(th_outstanding(), 3);
    uint64_t seed = 0x1234;
    tu_shuffle(objs, n, &seed);
    for (size_t i = 0; i < n; i++) {
        CU_ASSERT(th_outstanding() >= 1);
        CU_ASSERT_EQUAL(aslab_free(objs[i], SLAB), ASLAB_OK);
    }
    CU_ASSERT_EQUAL(th_outstanding(), 0);
}

/* Four events end a cache with two handles and two objects; in every order, the
 * hierarchy must go back at the fourth and not before. */
static void run_ending(const int order[4]) {
    aslab_cache *handles[2];
    void *objs[2];
    handles[0] = tu_create(40, 8, SLAB, &aslab_futexlock);
    handles[1] = aslab_cache_clone(handles[0]);
    CU_ASSERT_PTR_NOT_NULL_FATAL(handles[1]);
    CU_ASSERT_EQUAL_FATAL(tu_alloc_n(handles[0], objs, 2), 2);
    for (int step = 0; step < 4; step++) {
        CU_ASSERT_EQUAL(th_outstanding(), 1);
        int event = order[step];
        if (event < 2) CU_ASSERT_EQUAL(aslab_cache_release(handles[event]), ASLAB_OK);
        if (event >= 2) CU_ASSERT_EQUAL(aslab_free(objs[event - 2], SLAB), ASLAB_OK);
    }
    CU_ASSERT_EQUAL(th_outstanding(), 0);
}

/* Steps order to the next permutation in lexicographic order; 0 after the last. */
static int next_permutation(int *order, int n) {
    int i = n - 2;
    while (i >= 0 && order[i] >= order[i + 1])
        i--;
    if (i < 0) return 0;
    int j = n - 1;
    while (order[j] <= order[i])
        j--;
    int tmp = order[i];
    order[i] = order[j];
    order[j] = tmp;
    for (int lo = i + 1, hi = n - 1; lo < hi; lo++, hi--) {
        tmp = order[lo];
        order[lo] = order[hi];
        order[hi] = tmp;
    }
    return 1;
}

static void test_last_handle_or_object_ends_it(void) {
    int order[4] = {0, 1, 2, 3}, orders = 0;
    do {
        run_ending(order);
        orders++;
    } while (next_permutation(order, 4));
    CU_ASSERT_EQUAL(orders, 24);
}

typedef struct freer_arg {
    void **objs;
    size_t n;
    aslab_cache *release; /* released after the frees, if not NULL */
    pthread_barrier_t *start;
    size_t errors;
} freer_arg;

static void *freer(void *p) {
    freer_arg *arg = p;
    if (arg->start != NULL) pthread_barrier_wait(arg->start);
    arg->errors = tu_free_n(arg->objs, arg->n, SLAB);
    if (arg->release != NULL) arg->errors += aslab_cache_release(arg->release) != ASLAB_OK;
    return NULL;
}

static void run_freer(freer_arg *arg) {
    pthread_t thread;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&thread, NULL, freer, arg), 0);
    CU_ASSERT_EQUAL(pthread_join(thread, NULL), 0);
    CU_ASSERT_EQUAL(arg->errors, 0);
}

/* Released here, freed there: the other thread's last free hands everything back. */
static void test_objects_freed_by_another_thread(void) {
    void *objs[MAX_OBJS];
    aslab_cache *cache = tu_create(40, 8, SLAB, &aslab_spinlock);
    size_t n = tu_stats(cache).capacity + 10;
    CU_ASSERT_EQUAL_FATAL(tu_alloc_n(cache, objs, n), n);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
    CU_ASSERT_EQUAL(th_outstanding(), 2);
    freer_arg arg = {objs, n, NULL, NULL, 0};
    run_freer(&arg);
    CU_ASSERT_EQUAL(th_outstanding(), 0);
}

/* The other thread holds the last handle and releases it after freeing its objects. */
static void test_clone_released_by_another_thread(void) {
    void *objs[MAX_OBJS];
    aslab_cache *cache = tu_create(40, 8, SLAB, &aslab_futexlock);
    size_t n = tu_stats(cache).capacity + 10;
    CU_ASSERT_EQUAL_FATAL(tu_alloc_n(cache, objs, n), n);
    freer_arg arg = {objs, n, aslab_cache_clone(cache), NULL, 0};
    CU_ASSERT_PTR_NOT_NULL_FATAL(arg.release);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
    run_freer(&arg);
    CU_ASSERT_EQUAL(th_outstanding(), 0);
}

/* The last free there races the last release here; whichever is last ends the cache. */
static void test_release_races_last_free(void) {
    void *objs[MAX_OBJS];
    pthread_barrier_t start;
    for (int round = 0; round < 50; round++) {
        aslab_cache *cache = tu_create(40, 8, SLAB, &aslab_spinlock);
        size_t n = tu_stats(cache).capacity + 3;
        CU_ASSERT_EQUAL_FATAL(tu_alloc_n(cache, objs, n), n);
        CU_ASSERT_EQUAL_FATAL(pthread_barrier_init(&start, NULL, 2), 0);
        freer_arg arg = {objs, n, NULL, &start, 0};
        pthread_t thread;
        CU_ASSERT_EQUAL_FATAL(pthread_create(&thread, NULL, freer, &arg), 0);
        pthread_barrier_wait(&start);
        CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
        CU_ASSERT_EQUAL(pthread_join(thread, NULL), 0);
        CU_ASSERT_EQUAL(arg.errors, 0);
        CU_ASSERT_EQUAL(th_outstanding(), 0);
        pthread_barrier_destroy(&start);
    }
}

CU_TestInfo test_lifecycle_tests[] = {
    {"create and release", test_create_and_release},
    {"slot stride", test_slot_stride},
    {"a clone shares the cache", test_clone_shares_the_cache},
    {"objects outlive the handle", test_objects_outlive_the_handle},
    {"the last handle or object ends it, any order", test_last_handle_or_object_ends_it},
    {"objects freed by another thread", test_objects_freed_by_another_thread},
    {"clone released by another thread", test_clone_released_by_another_thread},
    {"release races the last free", test_release_races_last_free},
    CU_TEST_INFO_NULL,
};
