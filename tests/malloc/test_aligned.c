/* test_aligned.c - posix_memalign, aligned_alloc, memalign, valloc and pvalloc: every power
 * of two up to 64 KiB with several sizes and several blocks live at once, page alignment
 * and rounding, and the EINVAL / ENOMEM contracts of each. */
#include "test_suites.h"
#include "test_util.h"

#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define MAX_ALIGN (64 * TM_KIB)
#define LIVE      4 /* blocks live at once per (alignment, size): no lucky reuse */

typedef void *(*aligned_fn)(size_t align, size_t size);

static void *via_posix_memalign(size_t align, size_t size) {
    void *p = NULL;
    return posix_memalign(&p, align, size) == 0 ? p : NULL;
}

/* Allocates LIVE blocks of `size` aligned to `align`, fills their usable bytes, then checks
 * and frees them; returns the failures. */
static int check_aligned(aligned_fn fn, const char *name, size_t align, size_t size) {
    void *blocks[LIVE];
    int bad = 0;
    for (int i = 0; i < LIVE; i++) {
        void *p = blocks[i] = fn(align, size);
        bad +=
            tm_check(p != NULL && tm_aligned(p, align), "%s(%zu, %zu) = %p", name, align, size, p);
        if (p == NULL) continue;
        bad += tm_check(malloc_usable_size(p) >= size, "%s(%zu, %zu): usable %zu", name, align,
                        size, malloc_usable_size(p));
        tm_fill(p, malloc_usable_size(p), align ^ (size << 20) ^ (size_t)i);
    }
    for (int i = 0; i < LIVE; i++) {
        void *p = blocks[i];
        if (p == NULL) continue;
        bad += tm_check(tm_intact(p, malloc_usable_size(p), align ^ (size << 20) ^ (size_t)i),
                        "%s(%zu, %zu): block %p overwritten", name, align, size, p);
        free(p);
    }
    return bad;
}

static void *via_valloc(size_t align, size_t size) {
    (void)align; /* the page size */
    return valloc(size);
}

static int check_all_alignments(aligned_fn fn, const char *name, size_t min_align) {
    int bad = 0;
    for (size_t align = min_align; align <= MAX_ALIGN; align *= 2) {
        const size_t sizes[] = {1, align / 2 + 1, align, align + 1, 3 * align + 5, 100, 0};
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
            bad += check_aligned(fn, name, align, sizes[i]);
    }
    return bad;
}

static void test_posix_memalign_alignments(void) {
    CU_ASSERT_EQUAL(check_all_alignments(via_posix_memalign, "posix_memalign", sizeof(void *)), 0);
}

static void test_aligned_alloc_alignments(void) {
    CU_ASSERT_EQUAL(check_all_alignments(aligned_alloc, "aligned_alloc", 1), 0);
}

static void test_memalign_alignments(void) {
    CU_ASSERT_EQUAL(check_all_alignments(memalign, "memalign", 1), 0);
}

/* memalign, like glibc's, rounds an alignment that is not a power of two up to one. */
static void test_memalign_rounds_alignment(void) {
    int bad = 0;
    for (int i = 0; i < LIVE; i++) {
        void *p = memalign(tm_opaque(24), 100), *q = memalign(tm_opaque(3000), 10);
        bad += tm_check(tm_aligned(p, 32) && tm_aligned(q, 4096), "memalign: %p %p", p, q);
        free(p);
        free(q);
    }
    CU_ASSERT_EQUAL(bad, 0);
}

static void test_valloc_pvalloc(void) {
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t sizes[] = {0, 1, page - 1, page, page + 1, 3 * page + 17, 100000};
    int bad = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        size_t n = sizes[i], rounded = n == 0 ? page : (n + page - 1) / page * page;
        bad += check_aligned(via_valloc, "valloc", page, n);
        void *p = pvalloc(n);
        bad += tm_check(p != NULL && tm_aligned(p, page), "pvalloc(%zu) = %p", n, p);
        bad += tm_check(malloc_usable_size(p) >= rounded, "pvalloc(%zu): usable %zu < %zu", n,
                        malloc_usable_size(p), rounded);
        tm_fill(p, rounded, n); /* the whole rounded size is the caller's */
        bad += tm_check(tm_intact(p, rounded, n), "pvalloc(%zu) bytes do not stick", n);
        free(p);
    }
    CU_ASSERT_EQUAL(bad, 0);
}

/* A bad alignment is EINVAL, reported in the result: errno and *memptr stay as they were. */
static void test_posix_memalign_einval(void) {
    const size_t bad_aligns[] = {0, 3, sizeof(void *) / 2, 1, 12, 24, 48, 96, 4095, SIZE_MAX};
    void *sentinel = &sentinel;
    for (size_t i = 0; i < sizeof bad_aligns / sizeof *bad_aligns; i++) {
        void *p = sentinel;
        errno = 1234;
        int rc = posix_memalign(&p, tm_opaque(bad_aligns[i]), 64);
        tm_check(rc == EINVAL, "posix_memalign(%zu) = %d", bad_aligns[i], rc);
        CU_ASSERT_EQUAL(rc, EINVAL);
        CU_ASSERT_PTR_EQUAL(p, sentinel);
        CU_ASSERT_EQUAL(errno, 1234);
    }
}

static void test_posix_memalign_enomem(void) {
    void *sentinel = &sentinel, *p = sentinel;
    errno = 1234;
    CU_ASSERT_EQUAL(posix_memalign(&p, 64, tm_opaque(SIZE_MAX)), ENOMEM);
    CU_ASSERT_EQUAL(posix_memalign(&p, 16, tm_opaque((size_t)1 << 45)), ENOMEM);
    CU_ASSERT_EQUAL(posix_memalign(&p, tm_opaque((size_t)1 << 63), 16), ENOMEM);
    CU_ASSERT_PTR_EQUAL(p, sentinel);
    CU_ASSERT_EQUAL(errno, 1234);
}

static void test_aligned_alloc_einval(void) {
    const size_t bad_aligns[] = {0, 3, 6, 24, 48, 96, 4095, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad_aligns / sizeof *bad_aligns; i++) {
        errno = 0;
        void *p = aligned_alloc(tm_opaque(bad_aligns[i]), 64);
        tm_check(p == NULL && errno == EINVAL, "aligned_alloc(%zu) = %p", bad_aligns[i], p);
        CU_ASSERT_PTR_NULL(p);
        CU_ASSERT_EQUAL(errno, EINVAL);
        free(p);
    }
}

static void expect_enomem(void *p) {
    CU_ASSERT_PTR_NULL(p);
    CU_ASSERT_EQUAL(errno, ENOMEM);
    free(p);
}

static void test_aligned_enomem(void) {
    size_t huge = tm_opaque((size_t)1 << 45);
    errno = 0, expect_enomem(aligned_alloc(64, huge));
    errno = 0, expect_enomem(aligned_alloc(8, huge));
    errno = 0, expect_enomem(memalign(4096, huge));
    errno = 0, expect_enomem(valloc(huge));
    errno = 0, expect_enomem(pvalloc(huge));
    errno = 0, expect_enomem(pvalloc(tm_opaque(SIZE_MAX)));
    errno = 0, expect_enomem(pvalloc(tm_opaque(SIZE_MAX - 4095)));
}

CU_TestInfo test_aligned_tests[] = {
    {"posix_memalign: every power of two to 64 KiB", test_posix_memalign_alignments},
    {"aligned_alloc: every power of two to 64 KiB", test_aligned_alloc_alignments},
    {"memalign: every power of two to 64 KiB", test_memalign_alignments},
    {"memalign rounds a bad alignment up", test_memalign_rounds_alignment},
    {"valloc, pvalloc: page-aligned, pvalloc rounds up", test_valloc_pvalloc},
    {"posix_memalign EINVAL: memptr and errno untouched", test_posix_memalign_einval},
    {"posix_memalign ENOMEM: memptr and errno untouched", test_posix_memalign_enomem},
    {"aligned_alloc EINVAL for non-powers of two", test_aligned_alloc_einval},
    {"aligned family: impossible sizes are ENOMEM", test_aligned_enomem},
    CU_TEST_INFO_NULL,
};
