/* test_own_kept.c - the thread's own blocks freed into slabs other than its current one wait
 * on its kept list (src/malloc/kept.c, "the thread's own blocks") while it keeps no other
 * thread's blocks of the class: malloc hands them out at once, the last freed first; each
 * comes back once and intact; the statistics count them as free; a free-only phase gives the
 * list back to the slabs, so that they can empty; and the thread's exit gives them back.
 * Each case runs in a thread of its own, so that its heap starts with no slab of the class. */
#include "test_suites.h"
#include "test_util.h"

#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#define SIZE      100 /* the 112-byte class: 64 KiB slabs, under 600 blocks each */
#define SLAB_MASK (~(uintptr_t)0xffff)
#define MAX_OUT   4096 /* blocks a case may hold: more than three slabs' worth */

typedef struct filled {
    void *block[MAX_OUT];
    int n;     /* blocks allocated */
    int slab2; /* the first block of the second slab */
    int slab3; /* the first block of the third slab: the first two are full */
    int bad;
} filled;

static uintptr_t slab_of(const void *p) {
    return (uintptr_t)p & SLAB_MASK;
}

/* Allocates blocks of SIZE, each filled, until they fill two slabs and start a third. */
static void fill_two_slabs(filled *f) {
    f->n = f->slab2 = f->slab3 = 0;
    while (f->slab3 == 0 && f->n < MAX_OUT) {
        void *p = malloc(SIZE);
        if (p == NULL) {
            f->bad++;
            return;
        }
        tm_fill(p, SIZE, (uint64_t)f->n);
        if (f->n > 0 && slab_of(p) != slab_of(f->block[f->n - 1])) {
            if (f->slab2 == 0)
                f->slab2 = f->n;
            else
                f->slab3 = f->n;
        }
        f->block[f->n++] = p;
    }
    f->bad += f->slab3 == 0;
}

static void free_all(filled *f) {
    for (int i = 0; i < f->n; i++)
        if (f->block[i] != NULL) {
            f->bad += !tm_intact(f->block[i], SIZE, (uint64_t)i);
            free(f->block[i]);
        }
}

/* ---- the order: the last freed first, before the current slab's blocks ---- */

/* Frees a1 and a2 of the first full slab and b of the second, in the order a1, b, a2. Moved to
 * the partial list (in the order they gained a block), the slabs would be made current in
 * turn once the current slab ran dry. On the kept list, they are the next three mallocs', the
 * last freed first: a2, b, a1. */
static void *order_case(void *arg) {
    filled *f = arg;
    fill_two_slabs(f);
    if (f->bad) return NULL;
    void *a1 = f->block[0], *a2 = f->block[1], *b = f->block[f->slab2];
    f->block[0] = f->block[1] = f->block[f->slab2] = NULL;
    free(a1);
    free(b);
    free(a2);
    void *want[3] = {a2, b, a1};
    for (int i = 0; i < 3 && f->n < MAX_OUT; i++) {
        void *p = malloc(SIZE);
        if (p == NULL) {
            f->bad++;
            break;
        }
        tm_fill(p, SIZE, (uint64_t)f->n);
        f->bad += p != want[i];
        f->block[f->n++] = p;
    }
    free_all(f);
    return NULL;
}

static void run_case(void *(*fn)(void *), filled *f) {
    pthread_t t;
    f->bad = 0;
    CU_ASSERT_FATAL(pthread_create(&t, NULL, fn, f) == 0);
    pthread_join(t, NULL);
    CU_ASSERT_EQUAL(f->bad, 0);
}

static void test_kept_first(void) {
    static filled f;
    run_case(order_case, &f);
}

/* ---- every block once, intact, and counted free meanwhile ---- */

#define FREED 120 /* of the full slabs' blocks: the first is kept, the rest go to their slabs */

/* Frees every fourth block of the two full slabs (FREED of them); the statistics must count
 * them free at once; then allocates until each has come back, checking that no block is handed
 * out twice and that every block still held kept its contents. */
static void *reuse_case(void *arg) {
    filled *f = arg;
    static void *freed[FREED];
    fill_two_slabs(f);
    if (f->bad) return NULL;
    size_t before = tm_in_use();
    int nfreed = 0;
    for (int i = 0; i < f->slab3 && nfreed < FREED; i += 4) {
        freed[nfreed++] = f->block[i];
        f->block[i] = NULL;
        free(freed[nfreed - 1]);
    }
    f->bad += nfreed != FREED;
    f->bad += before - tm_in_use() < (size_t)FREED * SIZE; /* counted free, kept or not */
    int back = 0, start = f->n;
    while (back < FREED && f->n < MAX_OUT) {
        void *p = malloc(SIZE);
        if (p == NULL) {
            f->bad++;
            break;
        }
        for (int j = start; j < f->n; j++)
            f->bad += f->block[j] == p;
        for (int j = 0; j < nfreed; j++)
            back += freed[j] == p;
        tm_fill(p, SIZE, (uint64_t)f->n);
        f->block[f->n++] = p;
    }
    f->bad += back != FREED;
    free_all(f);
    return NULL;
}

static void test_each_once(void) {
    static filled f;
    run_case(reuse_case, &f);
}

/* ---- given back when the thread exits: the slabs can go ---- */

/* Frees every block, the full slabs' first (those wait on the kept list) and exits: the exit
 * gives the kept blocks back, so nothing of the case stays in use. */
static void *exit_case(void *arg) {
    filled *f = arg;
    fill_two_slabs(f);
    free_all(f);
    return NULL;
}

static void test_given_back_at_exit(void) {
    static filled f;
    size_t start = tm_in_use();
    run_case(exit_case, &f);
    CU_ASSERT(tm_in_use() <= start);
}

/* ---- a free-only phase: the list goes back, so that the slabs can empty ---- */

/* Of SIZE: more than twice what may stay lent after the phase: the empty slabs a thread keeps
 * (1 MiB: 16 of them), its current one, and one for each block still in its batch (batch.c:
 * under 16) */
#define PHASE_SLABS  80
#define PHASE_BLOCKS (PHASE_SLABS * 600)

typedef struct phase {
    void *block[PHASE_BLOCKS];
    int n, bad;
    unsigned long long slabs_full, slabs_freed; /* the class's lent slabs, as malloc_stats says */
} phase;

/* Allocates PHASE_SLABS slabs' worth of blocks, then frees them all in a random order with no
 * malloc between: the list fills, and once frees have found it full OWN_STREAK times in a row
 * it goes back to the slabs, and the frees after it go to their slabs (a batch at a time).
 * The slabs then empty but those the batch's last blocks hold: the thread keeps 16 of them,
 * the rest go back to the pool. With the list still
 * holding its blocks (up to 1024, from every slab), no slab could empty. */
static void *phase_case(void *arg) {
    phase *ph = arg;
    unsigned long long locks;
    for (ph->n = 0; ph->n < PHASE_BLOCKS; ph->n++)
        if ((ph->block[ph->n] = malloc(SIZE)) == NULL) {
            ph->bad++;
            return NULL;
        }
    ph->bad += !tm_class_figures(tm_class_size(SIZE), &ph->slabs_full, &locks);
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    for (int i = ph->n; i > 0; i--) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        int j = (int)((rng >> 33) % (uint64_t)i);
        void *p = ph->block[j];
        ph->block[j] = ph->block[i - 1];
        free(p);
    }
    ph->bad += !tm_class_figures(tm_class_size(SIZE), &ph->slabs_freed, &locks);
    return NULL;
}

static void test_free_only_phase(void) {
    static phase ph;
    pthread_t t;
    CU_ASSERT_FATAL(pthread_create(&t, NULL, phase_case, &ph) == 0);
    pthread_join(t, NULL);
    CU_ASSERT_EQUAL(ph.bad, 0);
    CU_ASSERT(ph.slabs_full >= PHASE_SLABS);
    CU_ASSERT(ph.slabs_freed + PHASE_SLABS / 2 <= ph.slabs_full);
}

CU_TestInfo test_own_kept_tests[] = {
    {"own blocks of other slabs are the next mallocs', the last freed first", test_kept_first},
    {"each comes back once, intact, and counts as free while it waits", test_each_once},
    {"the thread's exit gives them back", test_given_back_at_exit},
    {"a free-only phase gives the list back: the slabs empty", test_free_only_phase},
    CU_TEST_INFO_NULL,
};
