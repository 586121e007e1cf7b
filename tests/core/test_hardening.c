/* test_hardening.c - what the core does with memory the program corrupted or handles it
 * already gave up: a dangling write into a freed slot (the free-list link checked on every
 * pop, the slab quarantined), alloc on a released handle, and a failed ASLAB_AUTOFREE. */
#include "test_hooks.h"
#include "test_suites.h"
#include "test_util.h"

#define SLAB TU_SLAB
#define OBJ  64

/* ---- ASLAB_AUTOFREE's handler: this program's own, strong definition ---- */

static struct {
    size_t calls;
    void *obj;
    aslab_error err;
} autofree_failures;

void aslab_autofree_failed(void *obj, aslab_error err) {
    autofree_failures.calls++;
    autofree_failures.obj = obj;
    autofree_failures.err = err;
}

/* ---- helpers ---- */

/* A cache and its first objects: slot 0, 1, ... of the master, in order (a fresh slab hands
 * out fresh slots in index order). */
static aslab_cache *cache_with_slots(void **objs, size_t n) {
    aslab_cache *cache = tu_create(OBJ, 8, SLAB, NULL);
    CU_ASSERT_EQUAL_FATAL(tu_alloc_n(cache, objs, n), n);
    for (size_t i = 1; i < n; i++)
        CU_ASSERT_EQUAL_FATAL((char *)objs[i] - (char *)objs[i - 1], OBJ);
    return cache;
}

/* A dangling write: the program stores `link` into the first 4 bytes of a freed slot. */
static void dangling_write(void *freed, uint32_t link) {
    *(uint32_t *)freed = link;
}

/* The corrupt slab is quarantined: the next alloc serves from a new slave, frees into the
 * quarantined slab are refused, and after the release the master (here the quarantined slab,
 * with objects counted in it) is leaked on purpose: the test hands it back itself. */
static void check_quarantined_then_finish(aslab_cache *cache, void **live, size_t n_live) {
    aslab_cache_stats st = tu_stats(cache);
    CU_ASSERT_EQUAL(st.slabs_quarantined, 1);
    void *obj = NULL;
    CU_ASSERT_EQUAL_FATAL(aslab_alloc(cache, &obj), ASLAB_OK);
    CU_ASSERT_NOT_EQUAL(tu_slab_of(obj, SLAB), (uintptr_t)cache);
    CU_ASSERT_EQUAL(aslab_free(obj, SLAB), ASLAB_OK);
    for (size_t i = 0; i < n_live; i++)
        CU_ASSERT_EQUAL(aslab_free(live[i], SLAB), ASLAB_ERR_CORRUPT_FREELIST);
    aslab_cache_stats after = tu_stats(cache);
    CU_ASSERT_EQUAL(after.objects_in_use, st.objects_in_use);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
    CU_ASSERT_EQUAL(th_outstanding(), 1); /* the master, kept for the objects counted in it */
    CU_ASSERT_EQUAL(aslab_hook_slab_free(cache, SLAB, SLAB), ASLAB_OK);
}

/* ---- corrupt free lists ---- */

/* Issue 14's case: a link 144 KiB past the slab would have been followed. */
static void test_link_past_the_slab(void) {
    void *objs[3], *out = &autofree_failures;
    aslab_cache *cache = cache_with_slots(objs, 3);
    CU_ASSERT_EQUAL(aslab_free(objs[0], SLAB), ASLAB_OK);
    dangling_write(objs[0], (uint32_t)(144 * 1024 / OBJ));
    aslab_cache_stats before = tu_stats(cache);
    CU_ASSERT_EQUAL(aslab_alloc(cache, &out), ASLAB_ERR_CORRUPT_FREELIST);
    CU_ASSERT_PTR_EQUAL(out, &autofree_failures); /* nothing handed out */
    aslab_cache_stats after = tu_stats(cache);
    CU_ASSERT_EQUAL(after.objects_in_use, before.objects_in_use);
    CU_ASSERT_EQUAL(after.hook_allocs, before.hook_allocs);
    check_quarantined_then_finish(cache, objs + 1, 2);
}

/* A link inside the slab but to a slot never handed out (>= fresh) is refused too. */
static void test_link_to_a_fresh_slot(void) {
    void *objs[3], *out = NULL;
    aslab_cache *cache = cache_with_slots(objs, 3);
    CU_ASSERT_EQUAL(aslab_free(objs[1], SLAB), ASLAB_OK);
    dangling_write(objs[1], 3); /* fresh == 3 */
    CU_ASSERT_EQUAL(aslab_alloc(cache, &out), ASLAB_ERR_CORRUPT_FREELIST);
    CU_ASSERT_PTR_NULL(out);
    void *live[] = {objs[0], objs[2]};
    check_quarantined_then_finish(cache, live, 2);
}

/* A link back to the slot itself: the slot is handed out once, and the second pop finds it
 * allocated in the bitmap. */
static void test_link_to_itself(void) {
    void *objs[2], *a = NULL, *b = NULL;
    aslab_cache *cache = cache_with_slots(objs, 2);
    CU_ASSERT_EQUAL(aslab_free(objs[1], SLAB), ASLAB_OK);
    dangling_write(objs[1], 1);
    CU_ASSERT_EQUAL(aslab_alloc(cache, &a), ASLAB_OK);
    CU_ASSERT_PTR_EQUAL(a, objs[1]);
    CU_ASSERT_EQUAL(aslab_alloc(cache, &b), ASLAB_ERR_CORRUPT_FREELIST);
    CU_ASSERT_PTR_NULL(b);
    check_quarantined_then_finish(cache, objs, 2);
}

/* A link to a live object: following it would hand one slot to two owners. */
static void test_link_to_a_live_slot(void) {
    void *objs[3], *a = NULL, *b = NULL;
    aslab_cache *cache = cache_with_slots(objs, 3);
    CU_ASSERT_EQUAL(aslab_free(objs[0], SLAB), ASLAB_OK);
    dangling_write(objs[0], 2); /* objs[2] is live */
    CU_ASSERT_EQUAL(aslab_alloc(cache, &a), ASLAB_OK);
    CU_ASSERT_PTR_EQUAL(a, objs[0]);
    CU_ASSERT_EQUAL(aslab_alloc(cache, &b), ASLAB_ERR_CORRUPT_FREELIST);
    CU_ASSERT_PTR_NULL(b);
    check_quarantined_then_finish(cache, objs, 3);
}

/* A list cut short (NO_SLOT written) in a slab with no fresh slot left: the count says a slot
 * is free, the list has none. Without the check the next slot would be past the last. */
static void test_list_cut_short(void) {
    static void *objs[SLAB / OBJ];
    aslab_cache *cache = tu_create(OBJ, 8, SLAB, NULL);
    size_t n = tu_stats(cache).capacity;
    CU_ASSERT_EQUAL_FATAL(tu_alloc_n(cache, objs, n), n);
    CU_ASSERT_EQUAL(tu_stats(cache).slabs, 1);
    CU_ASSERT_EQUAL(aslab_free(objs[0], SLAB), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_free(objs[1], SLAB), ASLAB_OK); /* the list: 1, 0 */
    dangling_write(objs[1], UINT32_MAX);
    void *a = NULL, *b = NULL;
    CU_ASSERT_EQUAL(aslab_alloc(cache, &a), ASLAB_OK);
    CU_ASSERT_PTR_EQUAL(a, objs[1]);
    CU_ASSERT_EQUAL(aslab_alloc(cache, &b), ASLAB_ERR_CORRUPT_FREELIST);
    CU_ASSERT_PTR_NULL(b);
    check_quarantined_then_finish(cache, objs + 1, n - 1);
}

/* aslab_alloc_bulk stops at the corrupt link: what it got is good, and the status says why. */
static void test_bulk_stops_at_a_corrupt_link(void) {
    void *objs[3], *got_objs[8];
    aslab_cache *cache = cache_with_slots(objs, 3);
    CU_ASSERT_EQUAL(aslab_free(objs[0], SLAB), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_free(objs[1], SLAB), ASLAB_OK); /* the list: 1, 0 */
    dangling_write(objs[0], 1000);
    size_t got = 99;
    CU_ASSERT_EQUAL(aslab_alloc_bulk_status(cache, got_objs, 8, &got), ASLAB_ERR_CORRUPT_FREELIST);
    CU_ASSERT_EQUAL(got, 1);
    CU_ASSERT_PTR_EQUAL(got_objs[0], objs[1]);
    CU_ASSERT_EQUAL(tu_stats(cache).slabs_quarantined, 1);
    /* Another slab serves the rest; the plain call just counts. */
    CU_ASSERT_EQUAL(aslab_alloc_bulk(cache, got_objs + 1, 4), 4);
    CU_ASSERT_EQUAL(tu_free_n(got_objs + 1, 4, SLAB), 0);
    void *live[] = {objs[1], objs[2]};
    check_quarantined_then_finish(cache, live, 2);
}

static void test_bulk_status_arguments(void) {
    aslab_cache *cache = tu_create(OBJ, 8, SLAB, NULL);
    void *objs[4];
    size_t got = 99;
    CU_ASSERT_EQUAL(aslab_alloc_bulk_status(cache, objs, 4, NULL), ASLAB_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(aslab_alloc_bulk_status(NULL, objs, 4, &got), ASLAB_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(got, 0);
    CU_ASSERT_EQUAL(aslab_alloc_bulk_status(cache, NULL, 4, &got), ASLAB_ERR_INVALID_ARGUMENT);
    th_fail_allocs(0, 1);
    CU_ASSERT_EQUAL(aslab_alloc_bulk_status(cache, objs, 4, &got), ASLAB_OK);
    CU_ASSERT_EQUAL(got, 4); /* the master has room: no hook call */
    CU_ASSERT_EQUAL(tu_free_n(objs, 4, SLAB), 0);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
}

/* ---- released handles ---- */

static void check_released_handle(const aslab_lock_ops *lock) {
    aslab_cache *cache = tu_create(OBJ, 8, SLAB, lock);
    void *obj, *more = NULL, *objs[2];
    aslab_slab_loan loan;
    size_t got = 99;
    CU_ASSERT_EQUAL_FATAL(aslab_alloc(cache, &obj), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK); /* the object keeps it alive */
    CU_ASSERT_EQUAL(aslab_alloc(cache, &more), ASLAB_ERR_RELEASED_HANDLE);
    CU_ASSERT_PTR_NULL(more);
    CU_ASSERT_EQUAL(aslab_alloc_bulk(cache, objs, 2), 0);
    CU_ASSERT_EQUAL(aslab_alloc_bulk_status(cache, objs, 2, &got), ASLAB_ERR_RELEASED_HANDLE);
    CU_ASSERT_EQUAL(got, 0);
    CU_ASSERT_EQUAL(aslab_slab_lend(cache, NULL, &loan), ASLAB_ERR_RELEASED_HANDLE);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_ERR_RELEASED_HANDLE);
    CU_ASSERT_PTR_NULL(aslab_cache_clone(cache));
    CU_ASSERT_EQUAL(tu_stats(cache).objects_in_use, 1);
    CU_ASSERT_EQUAL(th_outstanding(), 1);
    CU_ASSERT_EQUAL(aslab_free(obj, SLAB), ASLAB_OK); /* the last object ends it */
    CU_ASSERT_EQUAL(th_outstanding(), 0);
}

static void test_released_handle(void) {
    check_released_handle(NULL);
    check_released_handle(&aslab_spinlock);
}

/* ---- ASLAB_AUTOFREE ---- */

static void test_autofree_failure_is_reported(void) {
    aslab_cache *cache = tu_create(OBJ, 8, 4096, NULL);
    void *obj;
    CU_ASSERT_EQUAL_FATAL(aslab_alloc(cache, &obj), ASLAB_OK);
    autofree_failures.calls = 0;
    {
        void *p ASLAB_AUTOFREE(4096) = obj;
        CU_ASSERT_EQUAL(aslab_free(p, 4096), ASLAB_OK); /* freed by hand: the scope's free fails */
    }
    CU_ASSERT_EQUAL(autofree_failures.calls, 1);
    CU_ASSERT_PTR_EQUAL(autofree_failures.obj, obj);
    CU_ASSERT_EQUAL(autofree_failures.err, ASLAB_ERR_DOUBLE_FREE);
    {
        void *q ASLAB_AUTOFREE(4096) = NULL; /* NULL is left alone */
        (void)q;
    }
    CU_ASSERT_EQUAL(autofree_failures.calls, 1);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
}

CU_TestInfo test_hardening_tests[] = {
    {"a link past the slab", test_link_past_the_slab},
    {"a link to a fresh slot", test_link_to_a_fresh_slot},
    {"a link to itself", test_link_to_itself},
    {"a link to a live slot", test_link_to_a_live_slot},
    {"a list cut short", test_list_cut_short},
    {"bulk stops at a corrupt link", test_bulk_stops_at_a_corrupt_link},
    {"bulk status arguments", test_bulk_status_arguments},
    {"a released handle", test_released_handle},
    {"a failed ASLAB_AUTOFREE is reported", test_autofree_failure_is_reported},
    CU_TEST_INFO_NULL,
};
