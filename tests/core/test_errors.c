/* test_errors.c - every error code reached through the public API, and calls with bad
 * arguments that must fail cleanly: nothing allocated, nothing changed. */
#include "test_hooks.h"
#include "test_suites.h"
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

#define SLAB TU_SLAB

/* The error of creating such a cache; a cache made by mistake is released again. */
static aslab_error create_error(size_t obj_size, size_t obj_align, size_t slab_size,
                                const aslab_lock_ops *lock) {
    aslab_cache *cache = NULL;
    aslab_error err = aslab_cache_create(&cache, obj_size, obj_align, slab_size, lock);
    if (err == ASLAB_OK) CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
    return err;
}

/* Fills the master exactly; returns how many objects that took. */
static size_t fill_master(aslab_cache *cache, void **objs, size_t max) {
    size_t n = tu_stats(cache).capacity;
    CU_ASSERT_FATAL(n <= max);
    CU_ASSERT_EQUAL_FATAL(tu_alloc_n(cache, objs, n), n);
    CU_ASSERT_EQUAL(tu_stats(cache).slabs, 1);
    return n;
}

static void test_create_rejects_bad_sizes(void) {
    const aslab_error inval = ASLAB_ERR_INVALID_ARGUMENT;
    CU_ASSERT_EQUAL(create_error(0, 8, SLAB, NULL), inval);
    CU_ASSERT_EQUAL(create_error(SIZE_MAX, 8, SLAB, NULL), inval);
    CU_ASSERT_EQUAL(create_error(SIZE_MAX - 2, 4, SLAB, NULL), inval);
    CU_ASSERT_EQUAL(create_error(16, 0, SLAB, NULL), inval);
    CU_ASSERT_EQUAL(create_error(16, 3, SLAB, NULL), inval);
    CU_ASSERT_EQUAL(create_error(16, 12, SLAB, NULL), inval);
    CU_ASSERT_EQUAL(create_error(16, (size_t)1 << (sizeof(size_t) * 8 - 1), SLAB, NULL), inval);
    CU_ASSERT_EQUAL(create_error(16, 8, 0, NULL), inval);
    CU_ASSERT_EQUAL(create_error(16, 8, 4095, NULL), inval);
    CU_ASSERT_EQUAL(create_error(16, 8, 3 * 1024, NULL), inval);
    CU_ASSERT_EQUAL(create_error(16, 8, ASLAB_MIN_SLAB_SIZE / 2, NULL), inval);
    CU_ASSERT_EQUAL(create_error(16, 8, ASLAB_MAX_SLAB_SIZE * 2, NULL), inval);
    CU_ASSERT_EQUAL(th_allocs(), 0); /* all refused before asking the hook */
}

static void test_create_rejects_objects_that_do_not_fit(void) {
    const aslab_error inval = ASLAB_ERR_INVALID_ARGUMENT;
    CU_ASSERT_EQUAL(create_error(SLAB, 8, SLAB, NULL), inval);
    CU_ASSERT_EQUAL(create_error(SLAB - 4, 4, SLAB, NULL), inval);
    CU_ASSERT_EQUAL(create_error(SLAB + 1, 8, SLAB, NULL), inval);
    CU_ASSERT_EQUAL(create_error(8, SLAB, SLAB, NULL), inval); /* slot 0 would be past the end */
    CU_ASSERT_EQUAL(create_error(8, 2 * SLAB, SLAB, NULL), inval);
    CU_ASSERT_EQUAL(th_outstanding(), 0);
    /* The edges that do fit. */
    CU_ASSERT_EQUAL(create_error(SLAB / 2, 8, SLAB, NULL), ASLAB_OK);
    CU_ASSERT_EQUAL(create_error(8, SLAB / 2, SLAB, NULL), ASLAB_OK);
    CU_ASSERT_EQUAL(create_error(1, 1, ASLAB_MIN_SLAB_SIZE, NULL), ASLAB_OK);
}

static void test_create_rejects_bad_locks(void) {
    aslab_lock_ops lock = tu_counting_lock;
    lock.size = ASLAB_LOCK_MAX + 1;
    CU_ASSERT_EQUAL(create_error(16, 8, SLAB, &lock), ASLAB_ERR_INVALID_ARGUMENT);
    lock.size = SIZE_MAX;
    CU_ASSERT_EQUAL(create_error(16, 8, SLAB, &lock), ASLAB_ERR_INVALID_ARGUMENT);
    lock = tu_counting_lock;
    lock.init = NULL;
    CU_ASSERT_EQUAL(create_error(16, 8, SLAB, &lock), ASLAB_ERR_INVALID_ARGUMENT);
    lock = tu_counting_lock;
    lock.lock = NULL;
    CU_ASSERT_EQUAL(create_error(16, 8, SLAB, &lock), ASLAB_ERR_INVALID_ARGUMENT);
    lock = tu_counting_lock;
    lock.unlock = NULL;
    CU_ASSERT_EQUAL(create_error(16, 8, SLAB, &lock), ASLAB_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(th_allocs(), 0);
    /* The largest state, and no trylock, are fine. */
    lock = tu_counting_lock;
    lock.size = ASLAB_LOCK_MAX;
    lock.trylock = NULL;
    CU_ASSERT_EQUAL(create_error(16, 8, SLAB, &lock), ASLAB_OK);
}

static void test_create_rejects_null_out(void) {
    CU_ASSERT_EQUAL(aslab_cache_create(NULL, 16, 8, SLAB, NULL), ASLAB_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(th_allocs(), 0);
}

static void test_create_out_of_memory(void) {
    th_fail_allocs(0, 1);
    CU_ASSERT_EQUAL(create_error(16, 8, SLAB, NULL), ASLAB_ERR_OUT_OF_MEMORY);
    CU_ASSERT_EQUAL(th_outstanding(), 0);
    CU_ASSERT_EQUAL(create_error(16, 8, SLAB, NULL), ASLAB_OK); /* the injection is spent */
}

static void test_create_alignment_mismatch(void) {
    th_misalign_allocs(1);
    CU_ASSERT_EQUAL(create_error(16, 8, SLAB, &aslab_spinlock), ASLAB_ERR_ALIGNMENT_MISMATCH);
    CU_ASSERT_EQUAL(th_allocs(), 1);
    CU_ASSERT_EQUAL(th_frees(), 1); /* the misaligned block went straight back */
    CU_ASSERT_EQUAL(th_outstanding(), 0);
    CU_ASSERT_EQUAL(create_error(16, 8, SLAB, &aslab_spinlock), ASLAB_OK);
}

static void test_alloc_rejects_null(void) {
    aslab_cache *cache = tu_create(16, 8, SLAB, NULL);
    aslab_cache_stats before = tu_stats(cache);
    void *obj = NULL;
    CU_ASSERT_EQUAL(aslab_alloc(NULL, &obj), ASLAB_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(aslab_alloc(cache, NULL), ASLAB_ERR_INVALID_ARGUMENT);
    aslab_cache_stats after = tu_stats(cache);
    CU_ASSERT(tu_stats_equal(&before, &after));
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
}

/* Fills the master, then makes the alloc that needs a slave meet the injected failure. */
static void check_slave_failure(void (*inject)(void), aslab_error expected) {
    void *objs[256], *extra = NULL;
    aslab_cache *cache = tu_create(40, 8, SLAB, &aslab_spinlock);
    size_t n = fill_master(cache, objs, 256);
    aslab_cache_stats before = tu_stats(cache);
    size_t outstanding = th_outstanding();
    inject();
    CU_ASSERT_EQUAL(aslab_alloc(cache, &extra), expected);
    aslab_cache_stats after = tu_stats(cache);
    CU_ASSERT(tu_stats_equal(&before, &after));
    CU_ASSERT_EQUAL(th_outstanding(), outstanding);
    CU_ASSERT_EQUAL(aslab_alloc(cache, &extra), ASLAB_OK); /* the next try attaches a slave */
    CU_ASSERT_EQUAL(tu_stats(cache).slabs, 2);
    CU_ASSERT_EQUAL(aslab_free(extra, SLAB), ASLAB_OK);
    CU_ASSERT_EQUAL(tu_free_n(objs, n, SLAB), 0);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
}

static void fail_one_alloc(void) {
    th_fail_allocs(0, 1);
}
static void misalign_one_alloc(void) {
    th_misalign_allocs(1);
}

static void test_alloc_out_of_memory_for_slave(void) {
    check_slave_failure(fail_one_alloc, ASLAB_ERR_OUT_OF_MEMORY);
}

static void test_alloc_alignment_mismatch_for_slave(void) {
    check_slave_failure(misalign_one_alloc, ASLAB_ERR_ALIGNMENT_MISMATCH);
    CU_ASSERT_EQUAL(th_allocs(), th_frees()); /* the misaligned block came back too */
}

static aslab_error smaller_size_code(const void *obj, size_t smaller) {
    return tu_slab_of(obj, smaller) == tu_slab_of(obj, SLAB) ? ASLAB_ERR_WRONG_SLAB_SIZE
                                                             : ASLAB_ERR_NOT_A_SLAB;
}

static void test_free_rejects_bad_slab_sizes(void) {
    void *objs[256];
    aslab_cache *cache = tu_create(40, 8, SLAB, NULL);
    size_t n = fill_master(cache, objs, 256);
    aslab_cache_stats before = tu_stats(cache);
    CU_ASSERT_EQUAL(aslab_free(NULL, SLAB), ASLAB_ERR_INVALID_POINTER);
    for (size_t i = 0; i < n; i++) {
        CU_ASSERT_EQUAL(aslab_free(objs[i], 0), ASLAB_ERR_INVALID_ARGUMENT);
        CU_ASSERT_EQUAL(aslab_free(objs[i], SLAB - 1), ASLAB_ERR_INVALID_ARGUMENT);
        CU_ASSERT_EQUAL(aslab_free(objs[i], SLAB + SLAB / 2), ASLAB_ERR_INVALID_ARGUMENT);
        CU_ASSERT_EQUAL(aslab_free(objs[i], ASLAB_MIN_SLAB_SIZE / 2), ASLAB_ERR_INVALID_ARGUMENT);
        /* Smaller than the real slab: the mask lands on the real header (a wrong slab size)
         * or inside the slab, where no header is (not a slab). */
        CU_ASSERT_EQUAL(aslab_free(objs[i], SLAB / 2), smaller_size_code(objs[i], SLAB / 2));
        CU_ASSERT_EQUAL(aslab_free(objs[i], ASLAB_MIN_SLAB_SIZE),
                        smaller_size_code(objs[i], ASLAB_MIN_SLAB_SIZE));
    }
    aslab_cache_stats after = tu_stats(cache);
    CU_ASSERT(tu_stats_equal(&before, &after));
    CU_ASSERT_EQUAL(tu_free_n(objs, n, SLAB), 0);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
}

static void test_double_free_code(void) {
    void *obj;
    aslab_cache *cache = tu_create(16, 8, SLAB, NULL);
    CU_ASSERT_EQUAL_FATAL(aslab_alloc(cache, &obj), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_free(obj, SLAB), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_free(obj, SLAB), ASLAB_ERR_DOUBLE_FREE);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
}

static void test_null_handles(void) {
    aslab_cache *cache = tu_create(16, 8, SLAB, NULL);
    aslab_cache_stats st;
    void *objs[4];
    CU_ASSERT_EQUAL(aslab_cache_release(NULL), ASLAB_ERR_INVALID_ARGUMENT);
    CU_ASSERT_PTR_NULL(aslab_cache_clone(NULL));
    CU_ASSERT_NOT_EQUAL(aslab_cache_stats_get(NULL, &st), ASLAB_OK);
    CU_ASSERT_NOT_EQUAL(aslab_cache_stats_get(cache, NULL), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_cache_trim(NULL), 0);
    CU_ASSERT_EQUAL(aslab_alloc_bulk(NULL, objs, 4), 0);
    CU_ASSERT_EQUAL(aslab_alloc_bulk(cache, NULL, 4), 0);
    CU_ASSERT_EQUAL(aslab_free_bulk(NULL, 0, SLAB), ASLAB_OK);
    CU_ASSERT_EQUAL(tu_stats(cache).objects_in_use, 0);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
}

/* A zeroed, slab-aligned block posing as a handle: never a cache. */
static void test_fake_handle(void) {
    const size_t size = 64 * 1024;
    aslab_cache *fake = aligned_alloc(size, size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fake);
    memset(fake, 0, size);
    aslab_cache_stats st;
    void *obj = NULL, *objs[2];
    CU_ASSERT_PTR_NULL(aslab_cache_clone(fake));
    CU_ASSERT_EQUAL(aslab_cache_release(fake), ASLAB_ERR_NOT_A_SLAB);
    CU_ASSERT_EQUAL(aslab_alloc(fake, &obj), ASLAB_ERR_NOT_A_SLAB);
    CU_ASSERT_EQUAL(aslab_cache_stats_get(fake, &st), ASLAB_ERR_NOT_A_SLAB);
    CU_ASSERT_EQUAL(aslab_cache_trim(fake), 0);
    CU_ASSERT_EQUAL(aslab_alloc_bulk(fake, objs, 2), 0);
    CU_ASSERT_EQUAL(th_allocs(), 0);
    free(fake);
}

/* A free-hook error still counts the slab as handed back, and is counted. */
static void test_free_hook_error_counted(void) {
    void *objs[256], *extra;
    aslab_cache *cache = tu_create(40, 8, SLAB, NULL);
    size_t n = fill_master(cache, objs, 256);
    CU_ASSERT_EQUAL_FATAL(aslab_alloc(cache, &extra), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_free(extra, SLAB), ASLAB_OK); /* the slave stays, in the reserve */
    th_fail_frees(1);
    CU_ASSERT_EQUAL(aslab_cache_trim(cache), 1);
    aslab_cache_stats st = tu_stats(cache);
    CU_ASSERT_EQUAL(st.hook_free_errors, 1);
    CU_ASSERT_EQUAL(st.slabs, 1);
    CU_ASSERT_EQUAL(th_outstanding(), 1);
    CU_ASSERT_EQUAL(tu_free_n(objs, n, SLAB), 0);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
}

static void test_strerror(void) {
    const aslab_error codes[] = {ASLAB_OK,
                                 ASLAB_ERR_OUT_OF_MEMORY,
                                 ASLAB_ERR_INVALID_POINTER,
                                 ASLAB_ERR_DOUBLE_FREE,
                                 ASLAB_ERR_ALIGNMENT_MISMATCH,
                                 ASLAB_ERR_INVALID_ARGUMENT,
                                 ASLAB_ERR_SLAB_LENT,
                                 ASLAB_ERR_NOT_A_SLAB,
                                 ASLAB_ERR_WRONG_SLAB_SIZE,
                                 ASLAB_ERR_NOT_SLOT_START,
                                 ASLAB_ERR_INDEX_OUT_OF_RANGE,
                                 ASLAB_ERR_CORRUPT_FREELIST,
                                 ASLAB_ERR_RELEASED_HANDLE,
                                 ASLAB_ERR_SLAB_NOT_LENT};
    const size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        CU_ASSERT_EQUAL(codes[i], (aslab_error)i); /* values are stable: new codes at the end */
        const char *text = aslab_strerror(codes[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(text);
        CU_ASSERT(text[0] != '\0');
        for (size_t j = 0; j < i; j++)
            CU_ASSERT(strcmp(text, aslab_strerror(codes[j])) != 0);
    }
    CU_ASSERT_PTR_NOT_NULL(aslab_strerror((aslab_error)99));
    CU_ASSERT_PTR_NOT_NULL(aslab_strerror((aslab_error)-1));
}

CU_TestInfo test_errors_tests[] = {
    {"create rejects bad sizes", test_create_rejects_bad_sizes},
    {"create rejects objects that do not fit", test_create_rejects_objects_that_do_not_fit},
    {"create rejects bad locks", test_create_rejects_bad_locks},
    {"create rejects a NULL out", test_create_rejects_null_out},
    {"create: out of memory", test_create_out_of_memory},
    {"create: alignment mismatch", test_create_alignment_mismatch},
    {"alloc rejects NULL", test_alloc_rejects_null},
    {"alloc: out of memory for a slave", test_alloc_out_of_memory_for_slave},
    {"alloc: alignment mismatch for a slave", test_alloc_alignment_mismatch_for_slave},
    {"free rejects bad slab sizes", test_free_rejects_bad_slab_sizes},
    {"free: double free", test_double_free_code},
    {"NULL handles", test_null_handles},
    {"a fake handle", test_fake_handle},
    {"free-hook error counted", test_free_hook_error_counted},
    {"strerror", test_strerror},
    CU_TEST_INFO_NULL,
};
