/* test_keep_policy.c - what a thread's kept list takes (src/malloc/kept.c, "Every free onto
 * the list"): every free of a small block, another thread's or its own, while the list has
 * room; when a free fills it, the blocks after the half freed last go back if the thread
 * malloced the class since the list last filled, and otherwise (a free-only phase) all of
 * them, and frees of the class stop going onto the list until its next malloc of the class.
 * A thread that freed mostly its own blocks then gives them to their slabs a batch at a time
 * (batch.c); one that frees others' blocks (a consumer) sends them home, where their owner's
 * mallocs get them back. */
#include "test_child.h"
#include "test_suites.h"
#include "test_util.h"
#include "tm_keep.h"

#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#define SIZE 100 /* one small class */

typedef void *thread_fn(void *);

/* Runs fn in a thread of its own (a fresh heap) and returns what it returned, as an int. */
static int in_thread(thread_fn *fn, void *arg) {
    pthread_t thread;
    void *result = NULL;
    if (pthread_create(&thread, NULL, fn, arg) != 0) return -1;
    pthread_join(thread, &result);
    return (int)(intptr_t)result;
}

static void *probes(void *arg) {
    (void)arg;
    free(malloc(SIZE)); /* set up */
    return (void *)(intptr_t)tm_keeps(SIZE);
}

static void test_fresh_thread_keeps(void) {
    CU_ASSERT_EQUAL(in_thread(probes, NULL), 1);
}

/* The owner makes twice a list's room of blocks; a consumer that mallocs the class once frees
 * them all, and stays until the owner has looked (an exiting thread gives back what it kept).
 * Its list fills, keeps half, fills again with no malloc of the class between: all of it goes
 * back, and the rest of its frees go home too. The owner's next mallocs (twice as many, past
 * what its current slab has left) hand them out again. */
typedef struct owner_case {
    void **blocks;
    size_t n;
    int consumer_kept, back, bad;
    pthread_barrier_t freed, looked;
} owner_case;

static void *consume(void *arg) {
    owner_case *o = arg;
    free(malloc(SIZE)); /* set up, as any thread that frees has */
    for (size_t i = 0; i < o->n; i++)
        free(o->blocks[i]);
    pthread_barrier_wait(&o->freed);
    pthread_barrier_wait(&o->looked);
    o->consumer_kept = tm_keeps(SIZE);
    return NULL;
}

static void *owner(void *arg) {
    owner_case *o = arg;
    for (size_t i = 0; i < o->n; i++)
        o->blocks[i] = malloc(SIZE);
    pthread_t consumer;
    if (pthread_create(&consumer, NULL, consume, o) != 0) return (void *)(intptr_t)-1;
    pthread_barrier_wait(&o->freed);
    void **again = calloc(2 * o->n, sizeof *again); /* past what its current slab has left */
    o->bad += again == NULL;
    for (size_t i = 0; again != NULL && i < 2 * o->n; i++) {
        again[i] = malloc(SIZE);
        o->bad += again[i] == NULL;
        for (size_t j = 0; j < o->n; j++)
            if (again[i] == o->blocks[j]) o->back++;
    }
    pthread_barrier_wait(&o->looked);
    pthread_join(consumer, NULL);
    for (size_t i = 0; again != NULL && i < 2 * o->n; i++)
        free(again[i]);
    free(again);
    return NULL;
}

static void test_consumer_sends_home(void) {
    static owner_case o;
    o = (owner_case){.n = 2 * tm_list_room(SIZE)};
    o.blocks = malloc(o.n * sizeof *o.blocks);
    CU_ASSERT_FATAL(o.blocks != NULL);
    pthread_barrier_init(&o.freed, NULL, 2);
    pthread_barrier_init(&o.looked, NULL, 2);
    CU_ASSERT_EQUAL(in_thread(owner, &o), 0);
    pthread_barrier_destroy(&o.freed);
    pthread_barrier_destroy(&o.looked);
    CU_ASSERT_EQUAL(o.consumer_kept, 0);
    CU_ASSERT_EQUAL(o.bad, 0);
    CU_ASSERT(o.back >= (int)(o.n * 3 / 4)); /* a consumer that held a list's worth: n / 2 */
    free(o.blocks);
}

/* n blocks of SIZE (an array from calloc), or NULL with none held. */
static void **own_blocks(size_t n) {
    void **blocks = calloc(n, sizeof *blocks);
    for (size_t i = 0; blocks != NULL && i < n; i++)
        if ((blocks[i] = malloc(SIZE)) == NULL) {
            while (i-- > 0)
                free(blocks[i]);
            free(blocks);
            return NULL;
        }
    return blocks;
}

/* Its own blocks: a list that a free fills after a malloc of the class keeps the half freed
 * last, so that the next malloc gets the last one back. */
static void *fills_once(void *arg) {
    (void)arg;
    size_t room = tm_list_room(SIZE);
    void **blocks = own_blocks(room);
    if (blocks == NULL) return (void *)(intptr_t)-1;
    for (size_t i = 0; i < room; i++)
        free(blocks[i]);
    void *first = malloc(SIZE), *second = malloc(SIZE);
    int bad = first != blocks[room - 1] || second != blocks[room - 2];
    free(second);
    free(first);
    free(blocks);
    return (void *)(intptr_t)bad;
}

static void test_full_list_keeps_half(void) {
    CU_ASSERT_EQUAL(in_thread(fills_once, NULL), 0);
}

/* A free-only phase of the thread's own blocks (the list fills twice with no malloc of the
 * class between) gives the list back and stops frees of the class going onto it: they wait in
 * the thread's batch (batch.c, 16 blocks of any class) and go to their slabs a batch at a
 * time, and another thread's block freed now is not kept either. Freed in random order over
 * many slabs, the blocks reach their slabs: all of those slabs go back but the few that the
 * batch still holds, none after a trim, and the bytes in use are those of before (a waiting
 * block counts as free). The next malloc of the class opens the list again. (A consumer's
 * free-only phase, of others' blocks, stops the list too: test_consumer_sends_home.) */
#define BATCH_BLOCKS 16
#define PHASE_SLABS  64
/* Emptied slabs the thread keeps for its next current slab (empty.c: 1 MiB of 64 KiB slabs),
 * and the current one. */
#define HELD_SLABS   17

static void free_at_random(void **blocks, size_t n) {
    uint64_t rng = 0x2545F4914F6CDD1DULL;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(tm_random(&rng) % (i + 1));
        void *t = blocks[i];
        blocks[i] = blocks[j];
        blocks[j] = t;
    }
    for (size_t i = 0; i < n; i++)
        free(blocks[i]);
}

/* The class's lent slabs now, as malloc_stats says (ULLONG_MAX if it cannot). */
static unsigned long long slabs_lent(unsigned cls) {
    unsigned long long slabs, locks;
    return tm_class_figures(cls, &slabs, &locks) ? slabs : ~0ULL;
}

static void *free_only_phase(void *arg) {
    (void)arg;
    unsigned cls = (unsigned)tm_class_size(SIZE);
    /* a small class's slab holds 64 KiB at least; 13 more, so that some wait in the batch */
    size_t n = PHASE_SLABS * (65536 / cls) + 13;
    unsigned long long before = slabs_lent(cls);
    size_t in_use = tm_in_use();
    void **blocks = own_blocks(n);
    if (blocks == NULL) return (void *)(intptr_t)-1;
    free_at_random(blocks, n);
    free(blocks);
    size_t in_use_after = tm_in_use(); /* the blocks the batch holds count as free */
    int bad = tm_check(in_use_after + 512 >= in_use && in_use_after <= in_use + 512,
                       "%zu bytes in use after the phase, %zu before", in_use_after, in_use);
    unsigned long long after = slabs_lent(cls);
    bad |=
        tm_check(after <= before + HELD_SLABS + BATCH_BLOCKS,
                 "%llu slabs lent after the phase, %llu before its %zu blocks", after, before, n);
    malloc_trim(0);
    after = slabs_lent(cls);
    bad |=
        tm_check(after <= before + 1, "%llu slabs lent after a trim, %llu before", after, before);
    bad |= tm_check(tm_keeps(SIZE) == 0, "a free-only phase did not stop the list");
    bad |= tm_check(tm_keeps(SIZE) == 1, "a malloc did not open the list again");
    return (void *)(intptr_t)bad;
}

static void test_free_only_phase_batches(void) {
    CU_ASSERT_EQUAL(in_thread(free_only_phase, NULL), 0);
}

/* A free-only phase's frees go straight to the slab a free of the phase went to last, while the
 * thread owns it with blocks out (heap.h, batch_slab). Here the phase's last free empties that
 * slab, which goes back to the pool (the thread keeps 16 emptied slabs, and these are more);
 * another thread is lent it, fills it (it goes onto that thread's full list) and hands one of
 * its blocks to the first thread, still in its phase. That free must go home to the slab's new
 * owner: pushed onto the slab as the phase's, it would take the slab off its owner's full list
 * under the wrong record's lock. Both threads then free all they hold, and the slabs go back. In
 * a child, where a broken list cannot reach the other tests. */
#define HANDOVER_BLOCKS (40 * (TM_SMALL_SLAB / SIZE))
static void *handover_mine[HANDOVER_BLOCKS], *handover_theirs[HANDOVER_BLOCKS];
static struct {
    int stage; /* 1: the phase emptied `slab`; 2: `block` is the other thread's; 3: freed */
    uintptr_t slab;
    void *block;
} handover;

static void wait_stage(int stage) {
    while (__atomic_load_n(&handover.stage, __ATOMIC_ACQUIRE) != stage)
        sched_yield();
}

static void set_stage(int stage) {
    __atomic_store_n(&handover.stage, stage, __ATOMIC_RELEASE);
}

/* Mallocs until it has a block of the emptied slab, and on until the slab is spent. */
static void *handover_lender(void *arg) {
    (void)arg;
    wait_stage(1);
    size_t n = 0;
    while (n < HANDOVER_BLOCKS) {
        void *b = handover_theirs[n++] = malloc(SIZE);
        if (handover.block == NULL && tm_small_slab_of(b) == handover.slab)
            handover.block = b;
        else if (handover.block != NULL && tm_small_slab_of(b) != handover.slab)
            break;
    }
    set_stage(2);
    wait_stage(3);
    for (size_t i = 0; i < n; i++)
        if (handover_theirs[i] != handover.block) free(handover_theirs[i]);
    return NULL;
}

/* The phase: its blocks freed highest first, so that the first slab empties last. No malloc
 * of the class from there to the free of the other thread's block (the phase would end). Then
 * mallocs of the class, which must not reach that slab: its owner is the other thread, which
 * still holds it full. A push onto the slab's own list would have taken it off that thread's
 * full list onto this one's partial list, and made it this thread's next current slab once its
 * own current slab (the last it allocated) runs out. */
static void *handover_phase(void *arg) {
    (void)arg;
    for (size_t i = 0; i < HANDOVER_BLOCKS; i++)
        if ((handover_mine[i] = malloc(SIZE)) == NULL) abort();
    for (size_t i = HANDOVER_BLOCKS; i-- > 0;)
        free(handover_mine[i]);
    handover.slab = tm_small_slab_of(handover_mine[0]);
    set_stage(1);
    wait_stage(2);
    if (handover.block != NULL) free(handover.block);
    size_t n = 2 * TM_SMALL_SLAB / SIZE, reached = 0;
    for (size_t i = 0; i < n; i++)
        if ((handover_mine[i] = malloc(SIZE)) == NULL ||
            tm_small_slab_of(handover_mine[i]) == handover.slab)
            reached++;
    for (size_t i = 0; i < n; i++)
        free(handover_mine[i]);
    if (reached != 0)
        fprintf(stderr, "%zu of %zu mallocs reached the other thread's slab\n", reached, n);
    set_stage(3);
    return NULL;
}

static void handover_run(void *arg) {
    (void)arg;
    unsigned cls = (unsigned)tm_class_size(SIZE);
    unsigned long long before, after, locks;
    if (!tm_class_figures(cls, &before, &locks)) before = ~0ULL;
    pthread_t phase, lender;
    if (pthread_create(&lender, NULL, handover_lender, NULL) != 0 ||
        pthread_create(&phase, NULL, handover_phase, NULL) != 0)
        abort();
    pthread_join(phase, NULL);
    pthread_join(lender, NULL);
    if (handover.block == NULL) fprintf(stderr, "the emptied slab was not lent again\n");
    malloc_trim(0);
    if (!tm_class_figures(cls, &after, &locks) || after > before + 1)
        fprintf(stderr, "%llu slabs lent after both threads freed all, %llu before\n", after,
                before);
}

static void test_phase_slab_lent_again(void) {
    CU_ASSERT(
        tm_child_run_clean(handover_run, NULL, "a phase's emptied slab lent to another thread"));
}

/* The call that ends a free-only phase: a malloc of the class by any of its ways in. */
enum phase_end { END_BY_MALLOC, END_BY_CALLOC, END_BY_REALLOC, END_BY_MEMALIGN };

static void *allocate_by(enum phase_end way) {
    switch (way) {
    case END_BY_MALLOC:
        return malloc(SIZE);
    case END_BY_CALLOC:
        return calloc(1, SIZE);
    case END_BY_REALLOC:
        return realloc(NULL, SIZE);
    default:
        return memalign(16, SIZE);
    }
}

/* The phase ends at the class's next malloc, with no trim between (a trim gives every list
 * back and ends it too): its frees go onto the list again, so that the block freed after it is
 * the one the following malloc gets. Were the frees still batched, that block would wait in
 * the batch (it is in another page than the phase's last) and the malloc get another. */
static void *phase_ends_at_malloc(void *arg) {
    enum phase_end way = *(const enum phase_end *)arg;
    size_t n = PHASE_SLABS * (65536 / (unsigned)tm_class_size(SIZE));
    void **blocks = own_blocks(n);
    if (blocks == NULL) return (void *)(intptr_t)-1;
    for (size_t i = 0; i < n; i++) /* in allocation order: each goes to its slab at once */
        free(blocks[i]);
    free(blocks);
    void *first = allocate_by(way), *second = malloc(SIZE);
    free(second);
    void *third = malloc(SIZE);
    int bad = tm_check(first != NULL && second != NULL && third == second,
                       "way %d: the free after the phase's end was not kept (%p, then %p)",
                       (int)way, second, third);
    free(third);
    free(first);
    return (void *)(intptr_t)bad;
}

static void test_phase_ends_at_malloc(void) {
    for (enum phase_end way = END_BY_MALLOC; way <= END_BY_MEMALIGN; way++)
        CU_ASSERT_EQUAL(in_thread(phase_ends_at_malloc, &way), 0);
}

/* A thread that frees its own blocks in bulk (a list, a request's objects): n of them, freed,
 * malloced and freed again, three times. The list starts small, so the first phase fills it
 * and gives the thread's own blocks back to their slabs; the list then grows, and from the
 * second phase on every block of the phase stays on it: the mallocs get the blocks back in the
 * reverse order of their frees. Without the growth the phase fills the list and sends it to
 * the slabs. */
#define BULK_ROUNDS 3

static void *bulk_own(void *arg) {
    size_t n = *(const size_t *)arg;
    void **blocks = own_blocks(n), **again = calloc(n, sizeof *again);
    int bad = blocks == NULL || again == NULL;
    for (int round = 0; !bad && round < BULK_ROUNDS; round++) {
        for (size_t i = 0; i < n; i++)
            free(blocks[i]);
        size_t out_of_order = 0;
        for (size_t i = 0; i < n; i++) {
            again[i] = malloc(SIZE);
            out_of_order += again[i] != blocks[n - 1 - i];
        }
        if (round > 0)
            bad |= tm_check(out_of_order == 0, "round %d: %zu of %zu blocks not the list's", round,
                            out_of_order, n);
        void **t = blocks;
        blocks = again;
        again = t;
    }
    for (size_t i = 0; blocks != NULL && i < n; i++)
        free(blocks[i]);
    free(blocks);
    free(again);
    return (void *)(intptr_t)bad;
}

/* Three quarters of a full list's worth: the list grows from its start to its full room. */
static void test_own_bulk_grows_list(void) {
    size_t n = tm_list_room(SIZE) * 3 / 4;
    CU_ASSERT_EQUAL(in_thread(bulk_own, &n), 0);
}

/* One and a half: a batch of the thread's own larger than the full room (glibc's
 * bench-malloc-simple frees 1,600 blocks at a time) makes the list grow past it. */
static void test_own_bulk_grows_past_full_room(void) {
    size_t n = tm_list_room(SIZE) * 3 / 2;
    CU_ASSERT(n < tm_list_own_room(SIZE));
    CU_ASSERT_EQUAL(in_thread(bulk_own, &n), 0);
}

/* A thread that frees another thread's blocks, mallocing the class between: its list keeps
 * half a full list's worth at most, since the blocks it gives back go home (their owner can
 * use them), and stays that size. Each of two phases frees 5/4 of the list's start room of a
 * live partner's blocks, then mallocs as many: the list filled at its start room, kept the half
 * freed last, then took a quarter more, and only those come back; a list that had grown
 * would hold the whole second phase. */
static void *keeps_others(void *arg) {
    (void)arg;
    size_t start = tm_list_start_room(SIZE), n = start + start / 4;
    tm_partner *pt = tm_partner_start(SIZE, 2 * n);
    void **mine = calloc(2 * n, sizeof *mine);
    if (pt == NULL || mine == NULL) {
        if (pt != NULL) tm_partner_finish(pt);
        free(mine);
        return (void *)(intptr_t)-1;
    }
    void **theirs = tm_partner_blocks(pt);
    free(malloc(SIZE)); /* a malloc of the class: the phases' fills are not free-only ones */
    malloc_trim(0);     /* and no block of its own on the list */
    int bad = 0;
    for (int phase = 0; phase < 2; phase++) {
        for (size_t i = 0; i < n; i++)
            free(theirs[phase * n + i]);
        size_t back = 0;
        for (size_t i = 0; i < n; i++) {
            void *p = mine[phase * n + i] = malloc(SIZE);
            for (size_t j = 0; j < n; j++)
                back += p == theirs[phase * n + j];
        }
        size_t expected = start / 2 + (n - start);
        bad |= tm_check(back == expected, "phase %d: %zu of the partner's %zu blocks back, not %zu",
                        phase, back, n, expected);
    }
    for (size_t i = 0; i < 2 * n; i++)
        free(mine[i]);
    free(mine);
    tm_partner_finish(pt);
    return (void *)(intptr_t)bad;
}

static void test_others_keep_start_room(void) {
    CU_ASSERT_EQUAL(in_thread(keeps_others, NULL), 0);
}

CU_TestInfo test_keep_policy_tests[] = {
    {"a new thread keeps another thread's block for its next malloc", test_fresh_thread_keeps},
    {"one that only frees others' blocks sends them home; their owner mallocs them again",
     test_consumer_sends_home},
    {"a list filled after a malloc keeps the half freed last", test_full_list_keeps_half},
    {"a free-only phase of its own blocks: a batch at a time to their slabs; stopped until a "
     "malloc",
     test_free_only_phase_batches},
    {"a free-only phase ends at the class's next malloc, calloc, realloc or memalign",
     test_phase_ends_at_malloc},
    {"a slab a free-only phase emptied, lent to another thread: its block freed in the phase "
     "goes home",
     test_phase_slab_lent_again},
    {"own blocks freed in bulk: the list grows until a phase stays on it",
     test_own_bulk_grows_list},
    {"own blocks in batches larger than its full room: the list grows past it",
     test_own_bulk_grows_past_full_room},
    {"others' blocks: the list keeps half its full room, and does not grow",
     test_others_keep_start_room},
    CU_TEST_INFO_NULL,
};
