/* test_realloc.c - realloc and reallocarray: NULL and 0, growing and shrinking through every
 * size class, moving between aslab's slabs and the fallback, failures that keep the block. */
#include "test_suites.h"
#include "test_util.h"

#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>

static void test_realloc_null(void) {
    void *p = realloc(NULL, 100), *q = realloc(NULL, 0);
    CU_ASSERT_PTR_NOT_NULL(p);
    CU_ASSERT_PTR_NOT_NULL(q);
    CU_ASSERT(malloc_usable_size(p) >= 100);
    free(p);
    free(q);
}

/* realloc(p, 0) frees p and returns NULL (glibc's behaviour): the block comes back next. */
static void test_realloc_zero_frees(void) {
    void *p = malloc(48);
    CU_ASSERT_PTR_NULL(realloc(p, 0));
    void *q = malloc(48);
    CU_ASSERT_PTR_EQUAL(q, p);
    free(q);
    size_t before = tm_in_use();
    for (int i = 0; i < 1000; i++)
        CU_ASSERT_PTR_NULL(realloc(malloc(200000), 0));
    CU_ASSERT(tm_in_use() < before + TM_MIB);
}

/* Reallocates p from `old` to `size` bytes, checks the kept prefix, refills with `key`. */
static void *resize(void *p, size_t old, size_t size, uint64_t key, int *bad) {
    void *q = realloc(p, size);
    if (q == NULL) {
        *bad += tm_check(0, "realloc(%p, %zu) failed", p, size);
        return p;
    }
    size_t kept = old < size ? old : size;
    *bad += tm_check(tm_intact(q, kept, key - 1), "realloc %zu -> %zu lost data", old, size);
    *bad += tm_check(malloc_usable_size(q) >= size, "realloc to %zu: usable %zu", size,
                     malloc_usable_size(q));
    tm_fill(q, size, key);
    return q;
}

static void test_realloc_grow_classes(void) {
    int bad = 0;
    uint64_t key = 1;
    size_t old = 1;
    void *p = malloc(old);
    tm_fill(p, old, key++);
    for (size_t n = 2; n <= TM_SMALL_MAX; n = n < 64 ? n + 7 : tm_class_size(n) + 1) {
        p = resize(p, old, n, key++, &bad);
        old = n;
    }
    free(p);
    CU_ASSERT_EQUAL(bad, 0);
}

static void test_realloc_shrink_classes(void) {
    int bad = 0;
    uint64_t key = 1;
    size_t old = TM_SMALL_MAX;
    void *p = malloc(old);
    tm_fill(p, old, key++);
    for (size_t n = old - 1; n >= 1; n = n > 300 ? n * 7 / 8 : n - 5) {
        p = resize(p, old, n, key++, &bad);
        old = n;
        if (n <= 5) break;
    }
    free(p);
    CU_ASSERT_EQUAL(bad, 0);
}

/* A new size in the block's own class keeps the block where it is. */
static void test_realloc_same_class_in_place(void) {
    void *p = malloc(100); /* class 112 */
    CU_ASSERT_PTR_EQUAL(realloc(p, 97), p);
    CU_ASSERT_PTR_EQUAL(realloc(p, 112), p);
    CU_ASSERT_PTR_EQUAL(realloc(p, 100), p);
    free(p);
}

/* Small -> fallback -> larger fallback -> small -> fallback: the data follows the block. */
static void test_realloc_to_and_from_fallback(void) {
    static const size_t steps[] = {1000, 100000, 5 * TM_MIB, 200, 20000, TM_SMALL_MAX, 40, 17000};
    int bad = 0;
    size_t old = steps[0];
    void *p = malloc(old);
    tm_fill(p, old, 0);
    for (size_t i = 1; i < sizeof steps / sizeof *steps; i++) {
        p = resize(p, old, steps[i], i, &bad);
        if (steps[i] <= TM_SMALL_MAX) /* back in a slab: exactly the class size */
            bad += tm_check(malloc_usable_size(p) == tm_class_size(steps[i]),
                            "realloc to %zu: usable %zu", steps[i], malloc_usable_size(p));
        old = steps[i];
    }
    free(p);
    CU_ASSERT_EQUAL(bad, 0);
}

/* A realloc that cannot be served returns NULL with ENOMEM and leaves the block intact. */
static void test_realloc_failure_keeps_block(void) {
    const size_t huge[] = {SIZE_MAX, (size_t)PTRDIFF_MAX + 1, (size_t)1 << 45};
    const size_t sizes[] = {100, 100000};
    for (size_t s = 0; s < 2; s++) {
        void *p = malloc(sizes[s]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        tm_fill(p, sizes[s], s);
        for (size_t h = 0; h < 3; h++) {
            errno = 0;
            CU_ASSERT_PTR_NULL(realloc(p, tm_opaque(huge[h])));
            CU_ASSERT_EQUAL(errno, ENOMEM);
        }
        CU_ASSERT(tm_intact(p, sizes[s], s));
        free(p);
    }
}

static void test_reallocarray(void) {
    char *p = reallocarray(NULL, 10, 10);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    tm_fill(p, 100, 7);
    p = reallocarray(p, 300, 10);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT(tm_intact(p, 100, 7));
    const size_t counts[] = {SIZE_MAX / 2 + 1, (size_t)1 << 32}, sizes[] = {2, (size_t)1 << 32};
    for (int i = 0; i < 2; i++) {
        errno = 0;
        char *q = reallocarray(p, tm_opaque(counts[i]), tm_opaque(sizes[i]));
        CU_ASSERT_PTR_NULL(q);
        CU_ASSERT_EQUAL(errno, ENOMEM);
        if (q != NULL) p = q;
    }
    CU_ASSERT(tm_intact(p, 100, 7)); /* still ours, unchanged */
    free(p);
}

CU_TestInfo test_realloc_tests[] = {
    {"realloc(NULL, n) is malloc(n)", test_realloc_null},
    {"realloc(p, 0) frees p, returns NULL", test_realloc_zero_frees},
    {"realloc grows through every class, data kept", test_realloc_grow_classes},
    {"realloc shrinks through every class, data kept", test_realloc_shrink_classes},
    {"realloc within the block's class stays in place", test_realloc_same_class_in_place},
    {"realloc to and from the fallback (> 16 KiB)", test_realloc_to_and_from_fallback},
    {"realloc failure: NULL, ENOMEM, block intact", test_realloc_failure_keeps_block},
    {"reallocarray: growth, overflow is NULL/ENOMEM", test_reallocarray},
    CU_TEST_INFO_NULL,
};
