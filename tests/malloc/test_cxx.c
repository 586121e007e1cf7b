/* test_cxx.c - C++'s operator new and delete, called from C by their mangled names: every
 * form lands in aslab (blocks of its classes, reused after delete), the nothrow forms return
 * NULL for impossible sizes, the aligned forms align, and a throwing new that cannot throw
 * (no C++ runtime in this program) aborts instead of returning NULL. */
#include "test_child.h"
#include "test_suites.h"
#include "test_util.h"

#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

void *_Znwm(size_t size);
void *_Znam(size_t size);
void *_ZnwmRKSt9nothrow_t(size_t size, const void *tag);
void *_ZnamRKSt9nothrow_t(size_t size, const void *tag);
void *_ZnwmSt11align_val_t(size_t size, size_t align);
void *_ZnamSt11align_val_t(size_t size, size_t align);
void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, size_t align, const void *tag);
void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, size_t align, const void *tag);
void _ZdlPv(void *p);
void _ZdaPv(void *p);
void _ZdlPvm(void *p, size_t size);
void _ZdaPvm(void *p, size_t size);
void _ZdlPvRKSt9nothrow_t(void *p, const void *tag);
void _ZdaPvRKSt9nothrow_t(void *p, const void *tag);
void _ZdlPvSt11align_val_t(void *p, size_t align);
void _ZdaPvSt11align_val_t(void *p, size_t align);
void _ZdlPvmSt11align_val_t(void *p, size_t size, size_t align);
void _ZdaPvmSt11align_val_t(void *p, size_t size, size_t align);
void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t align, const void *tag);
void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t align, const void *tag);

static const char nothrow_tag; /* std::nothrow is an empty tag: any address does */

typedef void *(*new_fn)(size_t size);
typedef void (*delete_fn)(void *p, size_t size);

static void delete_plain(void *p, size_t size) {
    (void)size, _ZdlPv(p);
}
static void delete_array(void *p, size_t size) {
    (void)size, _ZdaPv(p);
}
static void delete_nothrow(void *p, size_t size) {
    (void)size, _ZdlPvRKSt9nothrow_t(p, &nothrow_tag);
}
static void delete_array_nothrow(void *p, size_t size) {
    (void)size, _ZdaPvRKSt9nothrow_t(p, &nothrow_tag);
}

/* new then delete of every size class: the block is aslab's and comes back for reuse. */
static int new_delete_pairs(new_fn alloc, delete_fn release, const char *name) {
    int bad = 0;
    for (size_t n = 0; n <= TM_SMALL_MAX; n = tm_class_size(n) + 1) {
        void *p = alloc(n);
        bad += tm_check(p != NULL && malloc_usable_size(p) == tm_class_size(n), "%s(%zu) = %p",
                        name, n, p);
        if (p == NULL) continue;
        tm_fill(p, n, n);
        release(p, n);
        void *q = alloc(n);
        bad += tm_check(q == p, "%s(%zu): the delete did not free %p", name, n, p);
        release(q, n);
    }
    void *big = alloc(TM_MIB);
    bad += tm_check(big != NULL && malloc_usable_size(big) >= TM_MIB, "%s(1 MiB)", name);
    release(big, TM_MIB);
    return bad;
}

static void test_new_delete(void) {
    CU_ASSERT_EQUAL(new_delete_pairs(_Znwm, delete_plain, "new"), 0);
    CU_ASSERT_EQUAL(new_delete_pairs(_Znam, delete_array, "new[]"), 0);
    CU_ASSERT_EQUAL(new_delete_pairs(_Znwm, delete_nothrow, "new/nothrow delete"), 0);
    CU_ASSERT_EQUAL(new_delete_pairs(_Znam, delete_array_nothrow, "new[]/nothrow delete[]"), 0);
}

static void test_sized_delete(void) {
    CU_ASSERT_EQUAL(new_delete_pairs(_Znwm, _ZdlPvm, "new/sized delete"), 0);
    CU_ASSERT_EQUAL(new_delete_pairs(_Znam, _ZdaPvm, "new[]/sized delete[]"), 0);
}

static void test_nothrow_new(void) {
    const size_t huge[] = {SIZE_MAX, (size_t)PTRDIFF_MAX + 1, (size_t)1 << 45};
    for (size_t i = 0; i < 3; i++) {
        size_t n = tm_opaque(huge[i]);
        CU_ASSERT_PTR_NULL(_ZnwmRKSt9nothrow_t(n, &nothrow_tag));
        CU_ASSERT_PTR_NULL(_ZnamRKSt9nothrow_t(n, &nothrow_tag));
        CU_ASSERT_PTR_NULL(_ZnwmSt11align_val_tRKSt9nothrow_t(n, 64, &nothrow_tag));
        CU_ASSERT_PTR_NULL(_ZnamSt11align_val_tRKSt9nothrow_t(n, 4096, &nothrow_tag));
    }
    void *p = _ZnwmRKSt9nothrow_t(100, &nothrow_tag), *q = _ZnamRKSt9nothrow_t(0, &nothrow_tag);
    CU_ASSERT(p != NULL && q != NULL);
    _ZdlPvRKSt9nothrow_t(p, &nothrow_tag);
    _ZdaPvRKSt9nothrow_t(q, &nothrow_tag);
}

/* The aligned forms, nothrow ones wrapped to share a signature. */
typedef void *(*aligned_new_fn)(size_t size, size_t align);
typedef void (*aligned_delete_fn)(void *p, size_t size, size_t align);

static void *new_nothrow_aligned(size_t size, size_t align) {
    return _ZnwmSt11align_val_tRKSt9nothrow_t(size, align, &nothrow_tag);
}
static void *new_array_nothrow_aligned(size_t size, size_t align) {
    return _ZnamSt11align_val_tRKSt9nothrow_t(size, align, &nothrow_tag);
}
static void delete_aligned(void *p, size_t size, size_t align) {
    (void)size, _ZdlPvSt11align_val_t(p, align);
}
static void delete_array_aligned(void *p, size_t size, size_t align) {
    (void)size, _ZdaPvSt11align_val_t(p, align);
}
static void delete_nothrow_aligned(void *p, size_t size, size_t align) {
    (void)size, _ZdlPvSt11align_val_tRKSt9nothrow_t(p, align, &nothrow_tag);
}
static void delete_array_nothrow_aligned(void *p, size_t size, size_t align) {
    (void)size, _ZdaPvSt11align_val_tRKSt9nothrow_t(p, align, &nothrow_tag);
}

static const aligned_new_fn aligned_news[] = {_ZnwmSt11align_val_t, _ZnamSt11align_val_t,
                                              new_nothrow_aligned, new_array_nothrow_aligned};
static const aligned_delete_fn aligned_deletes[] = {
    delete_aligned,       _ZdlPvmSt11align_val_t, _ZdaPvmSt11align_val_t,
    delete_array_aligned, delete_nothrow_aligned, delete_array_nothrow_aligned};

/* Every aligned new with every aligned delete (4 x 6 pairs) for one size and alignment. */
static int aligned_pairs(size_t size, size_t align) {
    int bad = 0;
    for (size_t n = 0; n < 4; n++)
        for (size_t d = 0; d < 6; d++) {
            void *p = aligned_news[n](size, align);
            bad += tm_check(p != NULL && tm_aligned(p, align) && malloc_usable_size(p) >= size,
                            "aligned new %zu (%zu, %zu) = %p", n, size, align, p);
            if (p == NULL) continue;
            tm_fill(p, size, d);
            aligned_deletes[d](p, size, align);
        }
    return bad;
}

static void test_aligned_new(void) {
    size_t before = tm_in_use();
    int bad = 0;
    for (size_t align = 16; align <= 64 * TM_KIB; align *= 2) {
        const size_t sizes[] = {1, align - 1, align, 3 * align + 1};
        for (size_t i = 0; i < 4; i++)
            bad += aligned_pairs(sizes[i], align);
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT(tm_in_use() < before + TM_MIB); /* every delete freed its block */
}

static void throwing_new_child(void *arg) {
    void *p =
        arg != NULL ? _ZnwmSt11align_val_t(tm_opaque(SIZE_MAX), 64) : _Znwm(tm_opaque(SIZE_MAX));
    _exit(p == NULL ? 3 : 4); /* returned: NULL or, worse, a block */
}

/* A throwing new must never return NULL: with no C++ runtime to throw through, it aborts. */
static void test_throwing_new_aborts(void) {
    for (int aligned = 0; aligned < 2; aligned++) {
        tm_child c;
        tm_child_run(&c, throwing_new_child, aligned ? &c : NULL, TM_CHILD_TIMEOUT_MS);
        if (!tm_child_killed_by(&c, SIGABRT)) tm_child_dump(&c, "operator new(SIZE_MAX)");
        CU_ASSERT(tm_child_killed_by(&c, SIGABRT));
    }
}

CU_TestInfo test_cxx_tests[] = {
    {"new/delete, new[]/delete[], nothrow deletes", test_new_delete},
    {"sized delete and delete[]", test_sized_delete},
    {"nothrow new: NULL for impossible sizes", test_nothrow_new},
    {"aligned new and every aligned delete", test_aligned_new},
    {"throwing new without a C++ runtime aborts", test_throwing_new_aborts},
    CU_TEST_INFO_NULL,
};
