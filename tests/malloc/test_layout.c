/* test_layout.c - where a small slab's blocks lie: a lent slab hands its never-used blocks out
 * from a slot its address picks (its colour), so that the first blocks of many classes do not
 * share the few L1 sets that slot 0 of every slab maps to; and it still hands every slot out
 * once, the ones before the colour last, whatever its colour; blocks freed at random come
 * back lowest address first within their slab (list_order.c); and a thread's partial slab is
 * used before its current slab's never-used blocks (refill.c). */
#include "test_child.h"
#include "test_suites.h"
#include "test_util.h"

#include <CUnit/CUnit.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLASSES     24 /* 16 B to 384 B, every 16 */
#define LINE        64
#define PAGE        4096
#define SLABS_WORTH 3 /* slabs of one class filled in one thread */
#define BLOCK       48
#define BLOCKS      ((int)(SLABS_WORTH * TM_SMALL_SLAB / BLOCK))
/* refilled after random frees: enough slabs that most come back from partial ones */
#define REFILLED    (8 * (int)(TM_SMALL_SLAB / BLOCK))

/* A new thread's first block of each class: its slabs are new to it, lent for it. */
static void *first_blocks(void *arg) {
    void **first = arg;
    for (int i = 0; i < CLASSES; i++)
        first[i] = malloc((size_t)(i + 1) * 16);
    return NULL;
}

/* Without colours the first blocks sat at slot 0 of their slabs, the same offset in a page
 * for every class (4 offsets at most, by the classes' alignments). */
static void test_first_blocks_spread_over_lines(void) {
    void *first[CLASSES];
    pthread_t t;
    CU_ASSERT_FATAL(pthread_create(&t, NULL, first_blocks, first) == 0);
    pthread_join(t, NULL);
    char seen[PAGE / LINE] = {0};
    int lines = 0;
    for (int i = 0; i < CLASSES; i++) {
        CU_ASSERT_PTR_NOT_NULL_FATAL(first[i]);
        unsigned line = (unsigned)((uintptr_t)first[i] % PAGE / LINE);
        lines += !seen[line];
        seen[line] = 1;
    }
    CU_ASSERT(lines >= CLASSES / 2);
    for (int i = 0; i < CLASSES; i++)
        free(first[i]);
}

static int by_address(const void *a, const void *b) {
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return (x > y) - (x < y);
}

/* Fills several slabs of one class: every block is distinct, none overlaps the next, each
 * keeps what was written to it; and every slab that holds one of the blocks but not the
 * last (the last may be current, partly used) is wholly used: the run from its colour to
 * its end and the one from slot 0 to its colour together cover it. */
static void *fill_slabs(void *arg) {
    void **blocks = arg;
    for (int i = 0; i < BLOCKS; i++) {
        blocks[i] = malloc(BLOCK);
        if (blocks[i] != NULL) tm_fill(blocks[i], BLOCK, (uint64_t)i);
    }
    return NULL;
}

static void test_every_slot_once(void) {
    void **blocks = calloc(BLOCKS, sizeof *blocks);
    CU_ASSERT_PTR_NOT_NULL_FATAL(blocks);
    /* Blocks this thread freed wait on its kept lists, each holding a slot of its slab, which
     * may be an exited thread's that the filling thread adopts: given back first. */
    malloc_trim(0);
    pthread_t t;
    CU_ASSERT_FATAL(pthread_create(&t, NULL, fill_slabs, blocks) == 0);
    pthread_join(t, NULL);
    int bad = 0;
    for (int i = 0; i < BLOCKS; i++)
        bad += tm_check(blocks[i] != NULL && tm_intact(blocks[i], BLOCK, (uint64_t)i),
                        "block %d missing or overwritten", i);
    CU_ASSERT_EQUAL_FATAL(bad, 0);
    void *last = blocks[BLOCKS - 1];
    qsort(blocks, BLOCKS, sizeof *blocks, by_address);
    for (int i = 1; i < BLOCKS; i++)
        bad += tm_check((uintptr_t)blocks[i] - (uintptr_t)blocks[i - 1] >= BLOCK,
                        "blocks %p and %p overlap", blocks[i - 1], blocks[i]);
    /* blocks per slab, for every slab but the last block's */
    uintptr_t last_slab = (uintptr_t)last & ~(TM_SMALL_SLAB - 1);
    int run = 0, full = -1;
    for (int i = 0; i <= BLOCKS; i++) {
        uintptr_t slab = i < BLOCKS ? (uintptr_t)blocks[i] & ~(TM_SMALL_SLAB - 1) : 0;
        uintptr_t prev = i > 0 ? (uintptr_t)blocks[i - 1] & ~(TM_SMALL_SLAB - 1) : 0;
        if (i > 0 && slab != prev) {
            if (prev != last_slab) {
                if (full < 0) full = run; /* every whole slab holds as many */
                bad +=
                    tm_check(run == full, "a used-up slab holds %d blocks, another %d", run, full);
            }
            run = 0;
        }
        run++;
    }
    CU_ASSERT(full > (int)(TM_SMALL_SLAB / BLOCK) * 9 / 10);
    CU_ASSERT_EQUAL(bad, 0);
    for (int i = 0; i < BLOCKS; i++)
        free(blocks[i]);
    free(blocks);
}

/* What refill_after_frees saw. */
typedef struct refill_run {
    void **blocks;
    void (*free_half)(struct refill_run *run); /* which blocks it frees, in which order */
    int freed;
    int ascents, descents; /* of each block against the one before it, of the same slab */
} refill_run;

/* Frees every other block of run's, lowest index (and address, within a slab) first. */
static void free_every_other(refill_run *run) {
    for (int i = 0; i < REFILLED; i += 2) {
        free(run->blocks[i]);
        run->blocks[i] = NULL;
        run->freed++;
    }
}

/* Frees a random half of run's blocks, one at most once. */
static void free_random_half(refill_run *run) {
    uint64_t rng = 0x9E3779B97F4A7C15ULL;
    for (int k = 0; k < REFILLED / 2; k++) {
        int i = (int)(tm_random(&rng) % REFILLED);
        if (run->blocks[i] == NULL) continue;
        free(run->blocks[i]);
        run->blocks[i] = NULL;
        run->freed++;
    }
}

/* Fills slabs, frees half of the blocks (run's free_half), gives the kept blocks back
 * (malloc_trim), and allocates as many again, noting the order of each block against the one
 * before when both are of the same slab, in every slab but the one still current at the fill's
 * end (its list is in free order). */
static void *refill_after_frees(void *arg) {
    refill_run *run = arg;
    void **blocks = run->blocks;
    for (int i = 0; i < REFILLED; i++)
        blocks[i] = malloc(BLOCK);
    uintptr_t current = (uintptr_t)blocks[REFILLED - 1] & ~(TM_SMALL_SLAB - 1);
    run->free_half(run);
    malloc_trim(0);
    uintptr_t prev = 0;
    for (int i = 0; i < REFILLED; i++) {
        if (blocks[i] != NULL) continue;
        uintptr_t p = (uintptr_t)(blocks[i] = malloc(BLOCK));
        if ((p & ~(TM_SMALL_SLAB - 1)) == current) continue;
        if (((p ^ prev) & ~(TM_SMALL_SLAB - 1)) == 0)
            *(p > prev ? &run->ascents : &run->descents) += 1;
        prev = p;
    }
    for (int i = 0; i < REFILLED; i++)
        free(blocks[i]);
    return NULL;
}

/* Before, a slab's blocks came back in the order they were freed: about half of them below the
 * one before. */
static void refill_in_thread(refill_run *run) {
    malloc_trim(0); /* as in test_every_slot_once */
    pthread_t t;
    CU_ASSERT_FATAL(pthread_create(&t, NULL, refill_after_frees, run) == 0);
    pthread_join(t, NULL);
}

static void test_random_frees_come_back_in_address_order(void) {
    refill_run run = {.blocks = calloc(REFILLED, sizeof(void *)), .free_half = free_random_half};
    CU_ASSERT_PTR_NOT_NULL_FATAL(run.blocks);
    refill_in_thread(&run);
    CU_ASSERT(run.freed > REFILLED / 4);
    CU_ASSERT(run.ascents > REFILLED / 8);
    CU_ASSERT_EQUAL(tm_check(run.descents == 0, "%d of %d blocks came back below the one before",
                             run.descents, run.ascents + run.descents),
                    0);
    free(run.blocks);
}

/* Blocks freed in address order are as local as the rebuild would make them, so their lists
 * stay as they are (list_order.c, list_runs_local): a slab whose blocks went to it one by one,
 * lowest first (the free-only phase's own blocks, batch.c), hands them back highest first.
 * Before, every such slab's list was rebuilt (a read of the whole slab), and no block came back
 * below the one before. */
static void test_ordered_frees_keep_their_order(void) {
    refill_run run = {.blocks = calloc(REFILLED, sizeof(void *)), .free_half = free_every_other};
    CU_ASSERT_PTR_NOT_NULL_FATAL(run.blocks);
    refill_in_thread(&run);
    CU_ASSERT_EQUAL(run.freed, REFILLED / 2);
    CU_ASSERT_EQUAL(tm_check(run.descents > REFILLED / 8,
                             "%d of %d blocks came back below the one before: lists rebuilt",
                             run.descents, run.ascents + run.descents),
                    0);
    free(run.blocks);
}

/* ---- partial slabs before never-used blocks ---- */

/* A class with no kept list (above 2 KiB) that no other test uses: 10,240 B, in slabs of
 * 1 MiB (64 slots at least, a power of two: size_class.c). */
#define TAIL_SIZE 10000
#define TAIL_SLAB (1024 * TM_KIB)
#define TAIL_MAX  256 /* more than a slab holds */

static uintptr_t tail_slab(const void *p) {
    return (uintptr_t)p & ~(uintptr_t)(TAIL_SLAB - 1);
}

/* The scenario partial-first, in a fresh process (no slab of the class to adopt): blocks until
 * one comes from a second slab, which is then current with never-used blocks left; a block of
 * the first slab, spent, freed (the slab turns partial); two more mallocs. Prints whether the
 * first took the freed block and whether the second came from the second slab's never-used
 * blocks rather than from a third slab. */
int tm_partial_first(void) {
    static void *blocks[TAIL_MAX];
    int n = 1;
    if ((blocks[0] = malloc(TAIL_SIZE)) == NULL) return 1;
    while (n < TAIL_MAX && (blocks[n] = malloc(TAIL_SIZE)) != NULL &&
           tail_slab(blocks[n]) == tail_slab(blocks[0]))
        n++;
    if (n == TAIL_MAX || blocks[n] == NULL) {
        printf("FAIL no second slab after %d blocks\n", n);
        return 1;
    }
    uintptr_t second = tail_slab(blocks[n++]), freed = (uintptr_t)blocks[0];
    free(blocks[0]);
    void *again = malloc(TAIL_SIZE), *next = malloc(TAIL_SIZE);
    printf("reused %d tail %d\n", (uintptr_t)again == freed,
           next != NULL && tail_slab(next) == second);
    blocks[0] = again;
    free(next);
    for (int i = 0; i < n; i++)
        free(blocks[i]);
    return 0;
}

/* Before, the current slab handed out its never-used blocks first (reused 0), and a slab it
 * would make current again was the freed one's. */
static void test_partial_slab_before_never_used_blocks(void) {
    tm_child c;
    tm_child_scenario(&c, "partial-first", NULL, 0, TM_CHILD_TIMEOUT_MS);
    if (!tm_child_exited(&c, 0)) tm_child_dump(&c, "partial-first");
    CU_ASSERT_FATAL(tm_child_exited(&c, 0));
    int reused = -1, tail = -1;
    CU_ASSERT_EQUAL_FATAL(sscanf(c.out, "reused %d tail %d", &reused, &tail), 2);
    CU_ASSERT_EQUAL(reused, 1); /* the partial slab's free block, not a never-used one */
    CU_ASSERT_EQUAL(tail, 1);   /* the slab that stepped aside is used again before a new one */
}

CU_TestInfo test_layout_tests[] = {
    {"first blocks of many classes spread over a page's lines",
     test_first_blocks_spread_over_lines},
    {"every slot of a slab handed out once, whatever its colour", test_every_slot_once},
    {"blocks freed at random come back lowest address first, slab by slab",
     test_random_frees_come_back_in_address_order},
    {"blocks freed in address order are not sorted again", test_ordered_frees_keep_their_order},
    {"a partial slab's free blocks before the current slab's never-used ones",
     test_partial_slab_before_never_used_blocks},
    CU_TEST_INFO_NULL,
};
