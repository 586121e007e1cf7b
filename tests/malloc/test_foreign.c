/* test_foreign.c - pointers aslab did not make. The test binary links Debian's libjemalloc.so
 * itself, as a program with its own jemalloc does (redis): its mallocx is that jemalloc's, not
 * aslab's private copy. Such blocks lie outside aslab's regions and outside the memory of its
 * copy: free, realloc and malloc_usable_size hand them back to the program's jemalloc, whose
 * per-thread byte counters show that it got them. aslab's own blocks, small or large, never
 * reach it. glibc's __libc_* names are aslab's own in the jemalloc build, so they mix freely
 * with free(). (Pointers of no allocator: tests/isolation, in a process without a jemalloc.) */
#include "test_suites.h"
#include "test_util.h"

#ifndef ASLAB_FALLBACK_LIBC
#include <jemalloc/jemalloc.h>
#include <stdint.h>
#include <string.h>

/* Bytes jemalloc has freed on this thread so far. */
static uint64_t jemalloc_freed(void) {
    uint64_t bytes = 0;
    size_t len = sizeof bytes;
    CU_ASSERT_EQUAL(mallctl("thread.deallocated", &bytes, &len, NULL, 0), 0);
    return bytes;
}

static void test_free_goes_to_jemalloc(void) {
    const size_t sizes[] = {8, 100, 5000, 100000, 3 * TM_MIB};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        void *p = mallocx(sizes[i], 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        size_t real = sallocx(p, 0);
        uint64_t before = jemalloc_freed();
        free(p);
        CU_ASSERT_EQUAL(jemalloc_freed() - before, real);
    }
}

/* And the reverse: aslab's blocks, small or from its own copy of jemalloc, never reach the
 * program's jemalloc. */
static void test_own_blocks_stay_out_of_jemalloc(void) {
    void *p = malloc(100), *q = calloc(10, 10), *large = malloc(100000);
    void *aligned = aligned_alloc(4096, 8192);
    CU_ASSERT_PTR_NOT_NULL_FATAL(large);
    CU_ASSERT_PTR_NOT_NULL_FATAL(aligned);
    uint64_t before = jemalloc_freed();
    free(p);
    free(q);
    free(large);
    free(aligned);
    CU_ASSERT_EQUAL(jemalloc_freed(), before);
}

static void test_usable_size_of_foreign(void) {
    const size_t sizes[] = {1, 100, 4000, 20000, TM_MIB};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        void *p = mallocx(sizes[i], MALLOCX_ALIGN(64));
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        CU_ASSERT_EQUAL(malloc_usable_size(p), sallocx(p, 0));
        CU_ASSERT(malloc_usable_size(p) >= sizes[i]);
        dallocx(p, 0);
    }
}

/* realloc of the program's jemalloc block moves it into aslab (a small size: exactly the class
 * size) and gives the old block back to that jemalloc; the data follows. */
static void test_realloc_of_foreign(void) {
    const size_t from[] = {300, 300, 100000, TM_MIB};
    const size_t to[] = {100, 200000, 16, 2 * TM_MIB};
    for (size_t i = 0; i < sizeof from / sizeof *from; i++) {
        void *p = mallocx(from[i], 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        tm_fill(p, from[i], i);
        uint64_t before = jemalloc_freed();
        void *q = realloc(p, to[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(q);
        CU_ASSERT(tm_intact(q, from[i] < to[i] ? from[i] : to[i], i));
        if (to[i] <= TM_SMALL_MAX) CU_ASSERT_EQUAL(malloc_usable_size(q), tm_class_size(to[i]));
        CU_ASSERT(jemalloc_freed() - before >= from[i]); /* its jemalloc got p back */
        before = jemalloc_freed();
        free(q);
        CU_ASSERT_EQUAL(jemalloc_freed(), before); /* q is aslab's */
    }
    void *p = mallocx(50, 0);
    uint64_t before = jemalloc_freed();
    CU_ASSERT_PTR_NULL(realloc(p, 0));
    CU_ASSERT(jemalloc_freed() - before >= 50);
}

/* __libc_malloc and friends are aslab's: their blocks are of aslab's classes, and free()
 * and __libc_free() take each other's blocks back for reuse. */
static void test_libc_names_mix(void) {
    void *p = __libc_malloc(100);
    CU_ASSERT_EQUAL(malloc_usable_size(p), 112);
    free(p);
    void *q = malloc(100);
    CU_ASSERT_PTR_EQUAL(q, p);
    __libc_free(q);
    void *t = malloc(100);
    CU_ASSERT_PTR_EQUAL(t, q);
    char *r = __libc_calloc(10, 10);
    CU_ASSERT(r != NULL && tm_all_zero(r, 100));
    r = __libc_realloc(r, 1000);
    CU_ASSERT(r != NULL && tm_all_zero(r, 100));
    void *s = __libc_memalign(64, 100);
    CU_ASSERT(s != NULL && tm_aligned(s, 64));
    free(t);
    free(r);
    __libc_free(s);
}

CU_TestInfo test_foreign_tests[] = {
    {"free of the program's jemalloc block goes to that jemalloc", test_free_goes_to_jemalloc},
    {"free of aslab's blocks does not reach the program's jemalloc",
     test_own_blocks_stay_out_of_jemalloc},
    {"malloc_usable_size of a jemalloc block", test_usable_size_of_foreign},
    {"realloc of a jemalloc block, small and large", test_realloc_of_foreign},
    {"__libc_* names and free() mix", test_libc_names_mix},
    CU_TEST_INFO_NULL,
};
#else
CU_TestInfo test_foreign_tests[] = {CU_TEST_INFO_NULL}; /* the jemalloc build's behaviour */
#endif
