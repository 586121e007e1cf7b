/* test_own_kept.c - the thread's own blocks freed into its full slabs wait on its kept list
 * (src/malloc/kept.c, "the thread's own blocks"; heap.h aslab__kept_own), one at a time,
 * instead of moving their slab to the partial list: malloc hands the kept one out once the
 * current slab runs dry, before any slab change; each block comes back once and intact; and
 * the statistics count them as free.
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

/* ---- the order: the kept block first, then the slabs ---- */

/* Frees a1 and a2 of the first full slab and b of the second, in the order a1, b, a2. Moved to
 * the partial list (in the order they gained a block), the slabs would be made current in
 * turn: a2 and a1, then b. Kept (one block at a time: a1; b and a2 then go to their slabs), a1
 * is the first malloc's once the current slab's free list runs dry, and the slabs follow when
 * its never-used blocks do: a1, b, a2, with the current slab's blocks between. */
static void *order_case(void *arg) {
    filled *f = arg;
    fill_two_slabs(f);
    if (f->bad) return NULL;
    void *a1 = f->block[0], *a2 = f->block[1], *b = f->block[f->slab2];
    f->block[0] = f->block[1] = f->block[f->slab2] = NULL;
    free(a1);
    free(b);
    free(a2);
    void *want[3] = {a1, b, a2}, *got[3] = {NULL, NULL, NULL};
    int seen = 0;
    while (seen < 3 && f->n < MAX_OUT) {
        void *p = malloc(SIZE);
        if (p == NULL) {
            f->bad++;
            break;
        }
        tm_fill(p, SIZE, (uint64_t)f->n);
        if (p == a1 || p == a2 || p == b) got[seen++] = p;
        f->block[f->n++] = p;
    }
    for (int i = 0; i < 3; i++)
        f->bad += got[i] != want[i];
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

CU_TestInfo test_own_kept_tests[] = {
    {"a block freed into a full slab is the next malloc's once the current slab runs dry",
     test_kept_first},
    {"each comes back once, intact, and counts as free while it waits", test_each_once},
    {"the thread's exit gives them back", test_given_back_at_exit},
    CU_TEST_INFO_NULL,
};
