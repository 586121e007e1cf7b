/* test_lend.c - a cache as a pool of whole slabs: aslab_slab_lend and aslab_slab_return, the
 * owner recorded in a lent slab, the header reserve, what the core refuses while a slab is
 * out, the hierarchy's lifetime with loans outstanding, and threads lending concurrently. */
#include "test_hooks.h"
#include "test_suites.h"
#include "test_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define SLAB     TU_SLAB
#define OBJ      48
#define MAX_OBJS 1024

/* Asserts what every loan of `cache` must satisfy: an aligned slave, slots inside it after
 * the header (and the reserve), the cache's stride. */
static void check_loan(aslab_cache *cache, const aslab_slab_loan *loan, size_t reserve) {
    uintptr_t slab = (uintptr_t)loan->slab;
    CU_ASSERT_EQUAL(slab % SLAB, 0);
    CU_ASSERT_PTR_NOT_EQUAL(loan->slab, (void *)cache); /* the master is never lent */
    CU_ASSERT_EQUAL(loan->stride, tu_stats(cache).obj_size);
    CU_ASSERT(loan->capacity >= 1);
    uintptr_t slots = (uintptr_t)loan->slots;
    CU_ASSERT(slots >= slab + ASLAB_SLAB_HEADER_SIZE + reserve);
    CU_ASSERT(slots + loan->capacity * loan->stride <= slab + SLAB);
    uintptr_t want = reserve == 0 ? 0 : slab + ASLAB_SLAB_HEADER_SIZE;
    CU_ASSERT_EQUAL((uintptr_t)loan->reserve, want);
}

/* Writes over every slot of a loan, as a borrower does, and checks it reads back. */
static int use_every_slot(const aslab_slab_loan *loan, uint64_t key) {
    for (size_t i = 0; i < loan->capacity; i++)
        tu_fill((char *)loan->slots + i * loan->stride, loan->stride, key + i);
    for (size_t i = 0; i < loan->capacity; i++)
        if (!tu_intact((char *)loan->slots + i * loan->stride, loan->stride, key + i)) return 0;
    return 1;
}

static void test_lend_and_return_cycles(void) {
    aslab_cache *cache = tu_create(OBJ, 8, SLAB, &aslab_spinlock);
    aslab_slab_loan loan, first;
    CU_ASSERT_EQUAL_FATAL(aslab_slab_lend(cache, NULL, &first), ASLAB_OK);
    check_loan(cache, &first, 0);
    CU_ASSERT(use_every_slot(&first, 1));
    aslab_cache_stats st = tu_stats(cache);
    CU_ASSERT_EQUAL(st.slabs, 2);
    CU_ASSERT_EQUAL(st.slabs_lent, 1);
    CU_ASSERT_EQUAL(st.objects_in_use, first.capacity);
    CU_ASSERT_EQUAL(aslab_slab_return(first.slab, SLAB), ASLAB_OK);
    for (int cycle = 0; cycle < 100; cycle++) {
        CU_ASSERT_EQUAL_FATAL(aslab_slab_lend(cache, &cycle, &loan), ASLAB_OK);
        CU_ASSERT_PTR_EQUAL(loan.slab, first.slab); /* the returned slab is kept and lent again */
        CU_ASSERT(use_every_slot(&loan, (uint64_t)cycle << 20));
        CU_ASSERT_EQUAL(aslab_slab_return(loan.slab, SLAB), ASLAB_OK);
    }
    st = tu_stats(cache);
    CU_ASSERT_EQUAL(st.slabs_lent, 0);
    CU_ASSERT_EQUAL(st.objects_in_use, 0);
    CU_ASSERT_EQUAL(st.hook_allocs, 2);
    CU_ASSERT_EQUAL(st.empty_slabs, 2);
    /* A returned slab serves aslab_alloc like any other. */
    void *objs[MAX_OBJS];
    size_t n = tu_alloc_n(cache, objs, MAX_OBJS / 4);
    CU_ASSERT_EQUAL(tu_free_n(objs, n, SLAB), 0);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
}

/* Empty slaves left by aslab_free are lent before the hook is asked; then the cache grows. */
static void test_lend_takes_empty_slabs_first(void) {
    aslab_cache *cache = tu_create(OBJ, 8, SLAB, NULL);
    void *objs[MAX_OBJS];
    size_t n = tu_alloc_n(cache, objs, 3 * SLAB / OBJ); /* the master and at least 2 slaves */
    CU_ASSERT_EQUAL(tu_free_n(objs, n, SLAB), 0);
    aslab_cache_stats st = tu_stats(cache);
    CU_ASSERT_EQUAL_FATAL(st.empty_slabs, 3); /* the master and the reserve of 2 */
    size_t frees = st.hook_frees;
    aslab_slab_loan loans[3];
    for (int i = 0; i < 2; i++) {
        CU_ASSERT_EQUAL_FATAL(aslab_slab_lend(cache, NULL, &loans[i]), ASLAB_OK);
        check_loan(cache, &loans[i], 0);
    }
    CU_ASSERT_EQUAL(tu_stats(cache).hook_allocs, st.hook_allocs);
    CU_ASSERT_EQUAL(tu_stats(cache).empty_slabs, 1); /* the master stays */
    CU_ASSERT_EQUAL_FATAL(aslab_slab_lend(cache, NULL, &loans[2]), ASLAB_OK);
    check_loan(cache, &loans[2], 0);
    CU_ASSERT_EQUAL(tu_stats(cache).hook_allocs, st.hook_allocs + 1);
    CU_ASSERT_EQUAL(tu_stats(cache).slabs_lent, 3);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(aslab_slab_return(loans[i].slab, SLAB), ASLAB_OK);
    st = tu_stats(cache);
    CU_ASSERT_EQUAL(st.slabs_lent, 0);
    CU_ASSERT_EQUAL(st.empty_slabs, 3); /* the third slave went back: beyond the reserve */
    CU_ASSERT_EQUAL(st.hook_frees, frees + 1);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
}

/* A cache whose only slab is the master grows to lend; a failing hook leaves it unchanged. */
static void test_lend_grows_and_hook_failure(void) {
    aslab_cache *cache = tu_create(OBJ, 8, SLAB, &aslab_futexlock);
    aslab_cache_stats before = tu_stats(cache);
    aslab_slab_loan loan = {0};
    th_fail_allocs(0, 1);
    CU_ASSERT_EQUAL(aslab_slab_lend(cache, NULL, &loan), ASLAB_ERR_OUT_OF_MEMORY);
    CU_ASSERT_PTR_NULL(loan.slab);
    aslab_cache_stats after = tu_stats(cache);
    CU_ASSERT(tu_stats_equal(&before, &after));
    CU_ASSERT_EQUAL_FATAL(aslab_slab_lend(cache, NULL, &loan), ASLAB_OK);
    check_loan(cache, &loan, 0);
    CU_ASSERT_EQUAL(tu_stats(cache).hook_allocs, 2);
    CU_ASSERT_EQUAL(aslab_slab_return(loan.slab, SLAB), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
}

/* While lent, the core refuses to free into the slab, and never hands its slots out. */
static void test_free_into_a_lent_slab(void) {
    aslab_cache *cache = tu_create(OBJ, 8, SLAB, NULL);
    aslab_slab_loan loan;
    CU_ASSERT_EQUAL_FATAL(aslab_slab_lend(cache, NULL, &loan), ASLAB_OK);
    aslab_cache_stats before = tu_stats(cache);
    void *slot0 = loan.slots;
    void *last = (char *)loan.slots + (loan.capacity - 1) * loan.stride;
    CU_ASSERT_EQUAL(aslab_free(slot0, SLAB), ASLAB_ERR_SLAB_LENT);
    CU_ASSERT_EQUAL(aslab_free(last, SLAB), ASLAB_ERR_SLAB_LENT);
    CU_ASSERT_EQUAL(aslab_free((char *)slot0 + 1, SLAB), ASLAB_ERR_SLAB_LENT);
    void *both[2] = {slot0, last};
    CU_ASSERT_EQUAL(aslab_free_bulk(both, 2, SLAB), ASLAB_ERR_SLAB_LENT);
    aslab_cache_stats after = tu_stats(cache);
    CU_ASSERT(tu_stats_equal(&before, &after));
    void *objs[MAX_OBJS];
    size_t n = tu_alloc_n(cache, objs, 2 * SLAB / OBJ);
    for (size_t i = 0; i < n; i++)
        CU_ASSERT_NOT_EQUAL(tu_slab_of(objs[i], SLAB), (uintptr_t)loan.slab);
    CU_ASSERT_EQUAL(tu_free_n(objs, n, SLAB), 0);
    CU_ASSERT_EQUAL(aslab_slab_return(loan.slab, SLAB), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
}

static void test_return_refuses_what_is_not_lent(void) {
    aslab_cache *cache = tu_create(OBJ, 8, SLAB, NULL);
    aslab_slab_loan loan;
    void *obj;
    CU_ASSERT_EQUAL(aslab_slab_lend(NULL, NULL, &loan), ASLAB_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(aslab_slab_lend(cache, NULL, NULL), ASLAB_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL_FATAL(aslab_alloc(cache, &obj), ASLAB_OK);
    CU_ASSERT_EQUAL_FATAL(aslab_slab_lend(cache, NULL, &loan), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_slab_return(NULL, SLAB), ASLAB_ERR_INVALID_POINTER);
    CU_ASSERT_EQUAL(aslab_slab_return(cache, SLAB), ASLAB_ERR_SLAB_NOT_LENT); /* the master */
    CU_ASSERT_EQUAL(aslab_slab_return(loan.slots, SLAB), ASLAB_ERR_INVALID_POINTER);
    CU_ASSERT_EQUAL(aslab_slab_return(loan.slab, SLAB / 2), ASLAB_ERR_WRONG_SLAB_SIZE);
    CU_ASSERT_EQUAL(aslab_slab_return(loan.slab, SLAB + 1), ASLAB_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(tu_stats(cache).slabs_lent, 1);
    CU_ASSERT_EQUAL(aslab_slab_return(loan.slab, SLAB), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_slab_return(loan.slab, SLAB), ASLAB_ERR_SLAB_NOT_LENT); /* twice */
    CU_ASSERT_EQUAL(tu_stats(cache).slabs_lent, 0);
    CU_ASSERT_EQUAL(tu_stats(cache).objects_in_use, 1);
    CU_ASSERT_EQUAL(aslab_free(obj, SLAB), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
}

static void test_owner_get_and_set(void) {
    aslab_cache *cache = tu_create(OBJ, 8, SLAB, &aslab_spinlock);
    int me, other;
    void *owner = &other;
    aslab_slab_loan loan, unowned;
    CU_ASSERT_EQUAL_FATAL(aslab_slab_lend(cache, &me, &loan), ASLAB_OK);
    CU_ASSERT_EQUAL_FATAL(aslab_slab_lend(cache, NULL, &unowned), ASLAB_OK);
    void *slot = (char *)loan.slots + (loan.capacity / 2) * loan.stride;
    CU_ASSERT_EQUAL(aslab_slab_owner(slot, SLAB, &owner), ASLAB_OK);
    CU_ASSERT_PTR_EQUAL(owner, &me);
    CU_ASSERT_EQUAL(aslab_slab_owner(loan.slab, SLAB, &owner), ASLAB_OK);
    CU_ASSERT_PTR_EQUAL(owner, &me);
    CU_ASSERT_EQUAL(aslab_slab_owner(unowned.slots, SLAB, &owner), ASLAB_OK);
    CU_ASSERT_PTR_NULL(owner);
    CU_ASSERT_EQUAL(aslab_slab_set_owner(slot, SLAB, &other), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_slab_owner(loan.slots, SLAB, &owner), ASLAB_OK);
    CU_ASSERT_PTR_EQUAL(owner, &other);
    /* What is not a lent slab has no owner. */
    void *obj;
    CU_ASSERT_EQUAL_FATAL(aslab_alloc(cache, &obj), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_slab_owner(obj, SLAB, &owner), ASLAB_ERR_SLAB_NOT_LENT);
    CU_ASSERT_EQUAL(aslab_slab_set_owner(obj, SLAB, &me), ASLAB_ERR_SLAB_NOT_LENT);
    CU_ASSERT_EQUAL(aslab_slab_owner(NULL, SLAB, &owner), ASLAB_ERR_INVALID_POINTER);
    CU_ASSERT_EQUAL(aslab_slab_owner(slot, SLAB, NULL), ASLAB_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(aslab_slab_owner(slot, 3000, &owner), ASLAB_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(aslab_free(obj, SLAB), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_slab_return(loan.slab, SLAB), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_slab_owner(slot, SLAB, &owner), ASLAB_ERR_SLAB_NOT_LENT);
    CU_ASSERT_EQUAL(aslab_slab_return(unowned.slab, SLAB), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
}

/* The last handle goes while slabs are lent: the master stays until the last return. */
static void test_release_with_loans_outstanding(void) {
    aslab_cache *cache = tu_create(OBJ, 8, SLAB, &aslab_spinlock);
    aslab_slab_loan a, b;
    CU_ASSERT_EQUAL_FATAL(aslab_slab_lend(cache, NULL, &a), ASLAB_OK);
    CU_ASSERT_EQUAL_FATAL(aslab_slab_lend(cache, NULL, &b), ASLAB_OK);
    CU_ASSERT_EQUAL(th_outstanding(), 3);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
    CU_ASSERT_EQUAL(th_frees(), 0); /* the master is empty but holds the loans' hierarchy */
    CU_ASSERT_EQUAL(th_outstanding(), 3);
    CU_ASSERT_EQUAL(aslab_slab_return(a.slab, SLAB), ASLAB_OK);
    CU_ASSERT_EQUAL(th_frees(), 1); /* no handle: nothing is kept in reserve */
    CU_ASSERT_EQUAL(th_block_size(a.slab), 0);
    CU_ASSERT_EQUAL(th_outstanding(), 2);
    CU_ASSERT_EQUAL(aslab_slab_return(b.slab, SLAB), ASLAB_OK);
    CU_ASSERT_EQUAL(th_frees(), 3); /* the last slave and the master */
    CU_ASSERT_EQUAL(th_outstanding(), 0);
}

static void test_stats_count_loans(void) {
    aslab_cache *cache = tu_create(OBJ, 8, SLAB, NULL);
    aslab_slab_loan loans[3];
    size_t capacity = tu_stats(cache).capacity, lent_slots = 0;
    for (size_t i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL_FATAL(aslab_slab_lend(cache, NULL, &loans[i]), ASLAB_OK);
        aslab_cache_stats st = tu_stats(cache);
        CU_ASSERT_EQUAL(st.slabs_lent, i + 1);
        CU_ASSERT_EQUAL(st.slabs, i + 2);
        capacity += loans[i].capacity;
        lent_slots += loans[i].capacity;
        CU_ASSERT_EQUAL(st.capacity, capacity);
        CU_ASSERT_EQUAL(st.objects_in_use, lent_slots); /* every slot of a lent slab */
    }
    for (size_t i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(aslab_slab_return(loans[i].slab, SLAB), ASLAB_OK);
        CU_ASSERT_EQUAL(tu_stats(cache).slabs_lent, 2 - i);
    }
    CU_ASSERT_EQUAL(tu_stats(cache).objects_in_use, 0);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
}

#define RESERVE_ASKED 100
#define RESERVE       128 /* RESERVE_ASKED rounded up to 64 */

static aslab_cache *create_with_reserve(size_t reserve) {
    aslab_cache *cache = NULL;
    const aslab_cache_config config = {.obj_size = OBJ,
                                       .obj_align = 8,
                                       .slab_size = SLAB,
                                       .lock = &aslab_spinlock,
                                       .header_reserve = reserve};
    CU_ASSERT_EQUAL_FATAL(aslab_cache_create_config(&cache, &config), ASLAB_OK);
    return cache;
}

/* The reserve after a slave's header: the core never touches it, lent or not, and slots
 * start after it. */
static void test_header_reserve_untouched(void) {
    aslab_cache *cache = create_with_reserve(RESERVE_ASKED);
    aslab_slab_loan loan;
    CU_ASSERT_EQUAL_FATAL(aslab_slab_lend(cache, NULL, &loan), ASLAB_OK);
    check_loan(cache, &loan, RESERVE);
    tu_fill(loan.reserve, RESERVE, 0x5eed);
    CU_ASSERT(use_every_slot(&loan, 7));
    CU_ASSERT_EQUAL(aslab_slab_return(loan.slab, SLAB), ASLAB_OK);
    /* The slab now serves aslab_alloc, once the master is full: its only empty slave. */
    size_t master_capacity = tu_stats(cache).capacity - loan.capacity;
    void *objs[MAX_OBJS];
    size_t n = tu_alloc_n(cache, objs, master_capacity + loan.capacity);
    CU_ASSERT_EQUAL_FATAL(tu_stats(cache).slabs, 2);
    for (size_t i = 0; i < n; i++) {
        uintptr_t at = (uintptr_t)objs[i];
        if (tu_slab_of(objs[i], SLAB) == (uintptr_t)cache) continue;
        CU_ASSERT_EQUAL(tu_slab_of(objs[i], SLAB), (uintptr_t)loan.slab);
        CU_ASSERT(at >= (uintptr_t)loan.slab + ASLAB_SLAB_HEADER_SIZE + RESERVE);
        tu_fill(objs[i], OBJ, i);
    }
    CU_ASSERT(tu_intact(loan.reserve, RESERVE, 0x5eed));
    CU_ASSERT_EQUAL(tu_free_n(objs, n, SLAB), 0);
    CU_ASSERT_EQUAL(tu_stats(cache).slabs, 2); /* kept in reserve */
    CU_ASSERT(tu_intact(loan.reserve, RESERVE, 0x5eed));
    aslab_slab_loan again;
    CU_ASSERT_EQUAL_FATAL(aslab_slab_lend(cache, NULL, &again), ASLAB_OK);
    CU_ASSERT_PTR_EQUAL(again.slab, loan.slab);
    CU_ASSERT(tu_intact(again.reserve, RESERVE, 0x5eed));
    CU_ASSERT_EQUAL(aslab_slab_return(again.slab, SLAB), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
}

static void test_header_reserve_arguments(void) {
    aslab_cache *plain = tu_create(OBJ, 8, SLAB, NULL);
    aslab_cache *none = create_with_reserve(0);
    aslab_cache *reserved = create_with_reserve(64);
    CU_ASSERT_EQUAL(tu_stats(none).capacity, tu_stats(plain).capacity);
    aslab_slab_loan a, b, c;
    CU_ASSERT_EQUAL_FATAL(aslab_slab_lend(plain, NULL, &a), ASLAB_OK);
    CU_ASSERT_EQUAL_FATAL(aslab_slab_lend(none, NULL, &b), ASLAB_OK);
    CU_ASSERT_EQUAL_FATAL(aslab_slab_lend(reserved, NULL, &c), ASLAB_OK);
    CU_ASSERT_EQUAL(a.capacity, b.capacity);
    CU_ASSERT_PTR_NULL(b.reserve);
    check_loan(reserved, &c, 64);
    CU_ASSERT(c.capacity < b.capacity); /* 64 bytes of slots fewer: one slot and a bit */
    CU_ASSERT_EQUAL(aslab_slab_return(a.slab, SLAB), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_slab_return(b.slab, SLAB), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_slab_return(c.slab, SLAB), ASLAB_OK);
    aslab_cache *cache = NULL;
    aslab_cache_config too_big = {.obj_size = OBJ,
                                  .obj_align = 8,
                                  .slab_size = SLAB,
                                  .header_reserve = SLAB - ASLAB_SLAB_HEADER_SIZE};
    CU_ASSERT_EQUAL(aslab_cache_create_config(&cache, &too_big), ASLAB_ERR_INVALID_ARGUMENT);
    too_big.header_reserve = SIZE_MAX;
    CU_ASSERT_EQUAL(aslab_cache_create_config(&cache, &too_big), ASLAB_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(aslab_cache_create_config(&cache, NULL), ASLAB_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(aslab_cache_create_config(NULL, &too_big), ASLAB_ERR_INVALID_ARGUMENT);
    CU_ASSERT_PTR_NULL(cache);
    CU_ASSERT_EQUAL(aslab_cache_release(plain), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_cache_release(none), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_cache_release(reserved), ASLAB_OK);
}

/* ---- threads ---- */

#define LENDERS 4
#define ROUNDS  2000
#define HELD    3 /* loans a thread holds at most */

typedef struct lend_shared {
    aslab_cache *cache;
    atomic_size_t errors, bad_owners, bad_slots, lends;
} lend_shared;

typedef struct lender {
    lend_shared *sh;
    pthread_t thread;
    uint64_t rng;
} lender;

/* Checks a held loan: its owner is this thread, its slots hold what it wrote. */
static void check_held(lender *l, const aslab_slab_loan *loan, uint64_t key) {
    void *owner = NULL;
    if (aslab_slab_owner(loan->slots, SLAB, &owner) != ASLAB_OK || owner != l)
        atomic_fetch_add(&l->sh->bad_owners, 1);
    if (!tu_intact(loan->slots, loan->capacity * loan->stride, key))
        atomic_fetch_add(&l->sh->bad_slots, 1);
}

static void *lender_main(void *arg) {
    lender *l = arg;
    lend_shared *sh = l->sh;
    aslab_slab_loan held[HELD];
    uint64_t keys[HELD];
    size_t n = 0;
    for (int round = 0; round < ROUNDS; round++) {
        uint64_t r = tu_random(&l->rng);
        if (n < HELD && (n == 0 || r % 2 == 0)) {
            if (aslab_slab_lend(sh->cache, l, &held[n]) != ASLAB_OK) {
                atomic_fetch_add(&sh->errors, 1);
                continue;
            }
            keys[n] = r;
            tu_fill(held[n].slots, held[n].capacity * held[n].stride, r);
            n++;
            atomic_fetch_add(&sh->lends, 1);
        } else {
            size_t i = (size_t)(r >> 8) % n;
            check_held(l, &held[i], keys[i]);
            if (aslab_slab_return(held[i].slab, SLAB) != ASLAB_OK) atomic_fetch_add(&sh->errors, 1);
            held[i] = held[--n];
            keys[i] = keys[n];
        }
    }
    while (n > 0) {
        n--;
        check_held(l, &held[n], keys[n]);
        if (aslab_slab_return(held[n].slab, SLAB) != ASLAB_OK) atomic_fetch_add(&sh->errors, 1);
    }
    return NULL;
}

static void lend_concurrently(const aslab_lock_ops *lock) {
    static lend_shared sh;
    static lender lenders[LENDERS];
    sh = (lend_shared){.cache = tu_create(OBJ, 8, SLAB, lock)};
    for (int i = 0; i < LENDERS; i++) {
        lenders[i] = (lender){.sh = &sh, .rng = 0x2545f4914f6cdd1dull * (uint64_t)(i + 1)};
        CU_ASSERT_EQUAL_FATAL(pthread_create(&lenders[i].thread, NULL, lender_main, &lenders[i]),
                              0);
    }
    /* The main thread allocates and frees through the same cache meanwhile. */
    void *objs[64];
    for (int round = 0; round < 200; round++) {
        size_t n = tu_alloc_n(sh.cache, objs, 64);
        CU_ASSERT_EQUAL(tu_free_n(objs, n, SLAB), 0);
    }
    for (int i = 0; i < LENDERS; i++)
        CU_ASSERT_EQUAL(pthread_join(lenders[i].thread, NULL), 0);
    CU_ASSERT_EQUAL(atomic_load(&sh.errors), 0);
    CU_ASSERT_EQUAL(atomic_load(&sh.bad_owners), 0);
    CU_ASSERT_EQUAL(atomic_load(&sh.bad_slots), 0);
    CU_ASSERT(atomic_load(&sh.lends) >= LENDERS * ROUNDS / 4);
    aslab_cache_stats st = tu_stats(sh.cache);
    CU_ASSERT_EQUAL(st.slabs_lent, 0);
    CU_ASSERT_EQUAL(st.objects_in_use, 0);
    CU_ASSERT_EQUAL(aslab_cache_release(sh.cache), ASLAB_OK);
}

static void test_threads_lend_concurrently(void) {
    lend_concurrently(&aslab_spinlock);
    lend_concurrently(&aslab_futexlock);
}

CU_TestInfo test_lend_tests[] = {
    {"lend and return cycles", test_lend_and_return_cycles},
    {"lend takes empty slabs first, then grows", test_lend_takes_empty_slabs_first},
    {"lend grows; a failing hook changes nothing", test_lend_grows_and_hook_failure},
    {"free into a lent slab is refused", test_free_into_a_lent_slab},
    {"return refuses what is not lent", test_return_refuses_what_is_not_lent},
    {"owner get and set", test_owner_get_and_set},
    {"release with loans outstanding", test_release_with_loans_outstanding},
    {"stats count loans", test_stats_count_loans},
    {"header reserve untouched", test_header_reserve_untouched},
    {"header reserve arguments", test_header_reserve_arguments},
    {"threads lend concurrently", test_threads_lend_concurrently},
    CU_TEST_INFO_NULL,
};
