/* test_entry_points.c - malloc, free, calloc, malloc_usable_size and the sized frees at
 * their edges: size 0, NULL, impossible sizes, every small class, reuse after free. */
#include "test_suites.h"
#include "test_util.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FAST_MS 250 /* "at once": an impossible request must not map or touch anything */

/* The class sizes of size_class.h, smallest first. */
static size_t class_sizes[TM_CLASSES];
static size_t n_classes;

static void collect_classes(void) {
    n_classes = 0;
    for (size_t n = 1; n <= TM_SMALL_MAX; n = tm_class_size(n) + 1)
        class_sizes[n_classes++] = tm_class_size(n);
}

static void test_malloc_zero(void) {
    void *p = malloc(0), *q = malloc(0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    CU_ASSERT_PTR_NOT_EQUAL(p, q);
    CU_ASSERT_EQUAL(malloc_usable_size(p), 16); /* the smallest class */
    memset(p, 0x5a, malloc_usable_size(p));
    free(p);
    free(q);
}

static void test_free_null(void) {
    errno = 1234;
    free(NULL);
    free_sized(NULL, 0);
    free_aligned_sized(NULL, 64, 0);
    CU_ASSERT_EQUAL(malloc_usable_size(NULL), 0);
    CU_ASSERT_EQUAL(errno, 1234);
}

/* free leaves errno alone, as glibc's does since 2.33 (programs rely on it in cleanups). */
static void test_free_keeps_errno(void) {
    void *small = malloc(100), *large = malloc(100000);
    errno = 4321;
    free(small);
    free(large);
    CU_ASSERT_EQUAL(errno, 4321);
}

static void test_malloc_alignment_and_size(void) {
    int bad = 0;
    for (size_t n = 0; n <= TM_SMALL_MAX; n++) {
        void *p = malloc(n);
        size_t want = tm_class_size(n), got = malloc_usable_size(p);
        bad += tm_check(p != NULL && tm_aligned(p, 16), "malloc(%zu) = %p", n, p);
        bad +=
            tm_check(got == want, "usable size of malloc(%zu) = %zu, class is %zu", n, got, want);
        if (p != NULL) memset(p, 0xee, got);
        free(p);
    }
    CU_ASSERT_EQUAL(bad, 0);
}

/* Every usable byte of every live block is the block's own: no two blocks overlap. */
static void test_usable_bytes_are_own(void) {
    enum { PER_CLASS = 64 };
    static void *blocks[TM_CLASSES][PER_CLASS];
    int bad = 0;
    collect_classes();
    for (size_t c = 0; c < n_classes; c++)
        for (size_t i = 0; i < PER_CLASS; i++) {
            void *p = blocks[c][i] = malloc(class_sizes[c] - (i % 16));
            CU_ASSERT_PTR_NOT_NULL_FATAL(p);
            tm_fill(p, malloc_usable_size(p), c << 8 | i);
        }
    for (size_t c = 0; c < n_classes; c++)
        for (size_t i = 0; i < PER_CLASS; i++) {
            void *p = blocks[c][i];
            bad += tm_check(tm_intact(p, malloc_usable_size(p), c << 8 | i),
                            "block %p of class %zu overwritten", p, class_sizes[c]);
            free(p);
        }
    CU_ASSERT_EQUAL(n_classes, TM_CLASSES);
    CU_ASSERT_EQUAL(bad, 0);
}

static void test_usable_size_large(void) {
    static const size_t sizes[] = {TM_SMALL_MAX + 1, 20000,  32768,   65535,      65536,
                                   100001,           262144, 1000003, 4 * TM_MIB, 9 * TM_MIB + 7};
    int bad = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        void *p = malloc(sizes[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        size_t usable = malloc_usable_size(p);
        bad += tm_check(usable >= sizes[i], "usable size of malloc(%zu) = %zu", sizes[i], usable);
        bad += tm_check(tm_aligned(p, 16), "malloc(%zu) = %p", sizes[i], p);
        tm_fill(p, usable, i);
        bad += tm_check(tm_intact(p, usable, i), "malloc(%zu): bytes do not stick", sizes[i]);
        free(p);
    }
    CU_ASSERT_EQUAL(bad, 0);
}

/* calloc must zero a block that a previous owner dirtied: dirty, free, calloc, check. */
static int calloc_zeroes(size_t n, size_t count, int must_reuse) {
    size_t total = n * count;
    unsigned char *p = malloc(total);
    if (p == NULL) return tm_check(0, "malloc(%zu) failed", total);
    memset(p, 0xa5, malloc_usable_size(p));
    free(p);
    unsigned char *q = calloc(count, n);
    int bad = tm_check(q != NULL, "calloc(%zu, %zu) failed", count, n);
    if (q == NULL) return bad;
    bad += tm_check(!must_reuse || q == p, "calloc(%zu, %zu) did not reuse %p", count, n, p);
    bad += tm_check(tm_all_zero(q, total), "calloc(%zu, %zu) = %p is not zeroed", count, n, q);
    free(q);
    return bad;
}

static void test_calloc_zeroes_reused(void) {
    int bad = 0;
    collect_classes();
    for (size_t c = 0; c < n_classes; c++) {
        bad += calloc_zeroes(class_sizes[c], 1, 1);     /* the last free is the next malloc */
        bad += calloc_zeroes(class_sizes[c] - 1, 1, 1); /* a request below the class size */
    }
    bad += calloc_zeroes(8, 100, 1);
    bad += calloc_zeroes(TM_SMALL_MAX + 1, 1, 0);
    bad += calloc_zeroes(1000, 1000, 0);
    bad += calloc_zeroes(3 * TM_MIB, 1, 0);
    CU_ASSERT_EQUAL(bad, 0);
}

static void expect_enomem(void *p, const char *what) {
    int ok = p == NULL && errno == ENOMEM;
    tm_check(ok, "%s = %p, errno %d", what, p, errno);
    CU_ASSERT(ok);
    free(p);
}

static void test_calloc_overflow(void) {
    size_t half = tm_opaque(SIZE_MAX / 2 + 1);
    errno = 0;
    expect_enomem(calloc(half, 2), "calloc(SIZE_MAX / 2 + 1, 2)");
    errno = 0;
    expect_enomem(calloc(2, half), "calloc(2, SIZE_MAX / 2 + 1)");
    errno = 0;
    expect_enomem(calloc(tm_opaque(SIZE_MAX), tm_opaque(SIZE_MAX)), "calloc(SIZE_MAX, SIZE_MAX)");
    errno = 0;
    expect_enomem(calloc(tm_opaque((1ul << 32) + 1), tm_opaque(1ul << 32)), "calloc(2^32+1, 2^32)");
    void *p = calloc(0, tm_opaque(SIZE_MAX)); /* 0 bytes: no overflow, a unique block */
    CU_ASSERT_PTR_NOT_NULL(p);
    free(p);
}

/* Requests no machine can grant fail with ENOMEM, at once and without touching memory. */
static void test_impossible_sizes(void) {
    const size_t sizes[] = {SIZE_MAX, (size_t)PTRDIFF_MAX + 1, (size_t)1 << 45, PTRDIFF_MAX,
                            SIZE_MAX - 4095};
    size_t rss = tm_rss_kib();
    uint64_t start = tm_now_ms();
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        errno = 0;
        expect_enomem(malloc(tm_opaque(sizes[i])), "malloc(huge)");
        errno = 0;
        expect_enomem(calloc(1, tm_opaque(sizes[i])), "calloc(1, huge)");
    }
    CU_ASSERT(tm_now_ms() - start < FAST_MS);
    CU_ASSERT(tm_rss_kib() < rss + 1024);
}

/* A sized free really frees: the next malloc of the size gets the block back. */
static void test_free_sized_small(void) {
    int bad = 0;
    collect_classes();
    for (size_t c = 0; c < n_classes; c++) {
        size_t n = class_sizes[c] - 3;
        void *p = malloc(n);
        free_sized(p, n);
        void *q = malloc(n);
        bad += tm_check(q == p, "free_sized(%p, %zu) did not free it", p, n);
        free_sized(q, class_sizes[c]); /* the class size is what malloc_usable_size says */
        void *r = aligned_alloc(16, n);
        free_aligned_sized(r, 16, n);
        void *s = malloc(n);
        bad += tm_check(s == r, "free_aligned_sized(%p, 16, %zu) did not free it", r, n);
        free(s);
    }
    CU_ASSERT_EQUAL(bad, 0);
}

/* Blocks of the fallback: a loop that frees what it allocates does not grow the heap. */
static void test_free_sized_large(void) {
    size_t before = tm_in_use();
    for (int i = 0; i < 2000; i++) {
        size_t n = 300000 + (size_t)i;
        void *p = malloc(n), *q = aligned_alloc(4096, n);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        CU_ASSERT_PTR_NOT_NULL_FATAL(q);
        free_sized(p, n);
        free_aligned_sized(q, 4096, n);
    }
    for (int i = 0; i < 20000; i++) {
        void *p = aligned_alloc(64, 200); /* over-aligned: the fallback's */
        free_aligned_sized(p, 64, 200);
    }
    size_t after = tm_in_use();
    CU_ASSERT(after < before + TM_MIB);
}

/* Blocks of every small class and a few medium ones, many of each, so that the first of a
 * class lie in slabs that are no longer current when the last is allocated. */
#define ASKED_PER_CLASS 200
#define ASKED_MEDIUM    4

typedef struct asked {
    void *block[TM_CLASSES + ASKED_MEDIUM][ASKED_PER_CLASS];
    size_t size[TM_CLASSES + ASKED_MEDIUM];
    size_t classes;
    int bad;
} asked;

/* Every block's usable size is its class's, whoever asks. */
static void *ask_all(void *arg) {
    asked *a = arg;
    for (size_t c = 0; c < a->classes; c++)
        for (size_t i = 0; i < ASKED_PER_CLASS; i++)
            a->bad += tm_check(malloc_usable_size(a->block[c][i]) == a->size[c],
                               "usable size of block %zu of class %zu: %zu", i, a->size[c],
                               malloc_usable_size(a->block[c][i]));
    return NULL;
}

/* malloc_usable_size knows a block of the asking thread's current slab without reading the
 * slab's header, and any other by its header: both answer the class size, in the thread that
 * allocated the blocks (current and older slabs) and in one that never allocated. */
static void test_usable_size_anywhere(void) {
    collect_classes();
    static asked a;
    a.classes = n_classes + ASKED_MEDIUM;
    a.bad = 0;
    for (size_t c = 0; c < a.classes; c++) {
        a.size[c] = c < n_classes ? class_sizes[c]
                                  : tm_class_size(TM_SMALL_MAX + 1 + (c - n_classes) * 7000);
        for (size_t i = 0; i < ASKED_PER_CLASS; i++)
            CU_ASSERT_PTR_NOT_NULL_FATAL(a.block[c][i] = malloc(a.size[c]));
    }
    ask_all(&a);
    pthread_t thread;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&thread, NULL, ask_all, &a), 0);
    pthread_join(thread, NULL);
    CU_ASSERT_EQUAL(a.bad, 0);
    for (size_t c = 0; c < a.classes; c++)
        for (size_t i = 0; i < ASKED_PER_CLASS; i++)
            free(a.block[c][i]);
}

CU_TestInfo test_entry_points_tests[] = {
    {"malloc(0) gives distinct 16-byte blocks", test_malloc_zero},
    {"free(NULL) and sized frees of NULL do nothing", test_free_null},
    {"free keeps errno", test_free_keeps_errno},
    {"every small size: 16-aligned, usable size is its class", test_malloc_alignment_and_size},
    {"usable bytes of live blocks never overlap", test_usable_bytes_are_own},
    {"large blocks: usable size >= request, writable", test_usable_size_large},
    {"usable size of blocks of current and older slabs, from any thread",
     test_usable_size_anywhere},
    {"calloc zeroes a dirtied, reused block", test_calloc_zeroes_reused},
    {"calloc overflow: NULL, ENOMEM", test_calloc_overflow},
    {"impossible sizes: NULL, ENOMEM, at once", test_impossible_sizes},
    {"free_sized, free_aligned_sized: small blocks are reused", test_free_sized_small},
    {"free_sized, free_aligned_sized: large blocks do not leak", test_free_sized_large},
    CU_TEST_INFO_NULL,
};
