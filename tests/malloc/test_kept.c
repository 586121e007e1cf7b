/* test_kept.c - blocks a thread frees into slabs another thread owns, kept for the freeing
 * thread's own mallocs (src/malloc/kept.c) once it keeps that class (tm_make_keeper): the
 * freeing thread gets them back, each once and intact; they go back to their owner when the
 * keeper exits or trims, so the owner's slabs can return; and a ring of threads that pass
 * blocks on keeps every block whole. test_keep_policy.c tests when a thread keeps. */
#include "test_suites.h"
#include "test_util.h"
#include "tm_keep.h"

#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BLOCKS 16 /* of one class: with OWN, fewer than its kept list holds at first (32) */
#define SIZE   100

typedef struct handover {
    void *blocks[BLOCKS];
    void *again[BLOCKS]; /* what the keeper's mallocs returned afterwards */
    int bad;
    int trim; /* the keeper calls malloc_trim before it exits */
} handover;

static pthread_barrier_t made, done;

/* Makes the blocks and stays until the keeper is done: blocks of a slab whose owner has left
 * are not kept. */
static void *make_blocks(void *arg) {
    handover *h = arg;
    for (int i = 0; i < BLOCKS; i++) {
        h->blocks[i] = malloc(SIZE);
        if (h->blocks[i] != NULL) tm_fill(h->blocks[i], SIZE, (uint64_t)i);
    }
    pthread_barrier_wait(&made);
    pthread_barrier_wait(&done);
    return NULL;
}

static int was_handed_over(const handover *h, const void *p) {
    for (int i = 0; i < BLOCKS; i++)
        if (h->blocks[i] == p) return 1;
    return 0;
}

/* Frees the other thread's blocks, then mallocs as many of the same class: each block it gets
 * must be whole and distinct, and (kept) one of those it freed. */
static void *free_then_malloc(void *arg) {
    handover *h = arg;
    h->bad += !tm_make_keeper(SIZE);
    for (int i = 0; i < BLOCKS; i++) {
        h->bad += h->blocks[i] == NULL || !tm_intact(h->blocks[i], SIZE, (uint64_t)i);
        free(h->blocks[i]);
    }
    for (int i = 0; i < BLOCKS; i++) {
        h->again[i] = malloc(SIZE);
        if (h->again[i] == NULL) {
            h->bad++;
            continue;
        }
        tm_fill(h->again[i], SIZE, 1000 + (uint64_t)i);
        for (int j = 0; j < i; j++)
            h->bad += h->again[j] == h->again[i];
    }
    for (int i = 0; i < BLOCKS; i++)
        h->bad += !tm_intact(h->again[i], SIZE, 1000 + (uint64_t)i);
    return NULL;
}

static void test_keeper_reuses(void) {
    static handover h;
    memset(&h, 0, sizeof h);
    pthread_t maker, keeper;
    pthread_barrier_init(&made, NULL, 2);
    pthread_barrier_init(&done, NULL, 2);
    CU_ASSERT_FATAL(pthread_create(&maker, NULL, make_blocks, &h) == 0);
    pthread_barrier_wait(&made);
    CU_ASSERT_FATAL(pthread_create(&keeper, NULL, free_then_malloc, &h) == 0);
    pthread_join(keeper, NULL);
    pthread_barrier_wait(&done);
    pthread_join(maker, NULL);
    pthread_barrier_destroy(&made);
    pthread_barrier_destroy(&done);
    CU_ASSERT_EQUAL(h.bad, 0);
    int reused = 0;
    for (int i = 0; i < BLOCKS; i++)
        reused += was_handed_over(&h, h.again[i]);
    /* every one came from the kept list: without it they would wait on the maker's remote
     * list, and the keeper's mallocs would come from a slab of its own */
    CU_ASSERT_EQUAL(reused, BLOCKS);
    for (int i = 0; i < BLOCKS; i++)
        free(h.again[i]);
}

/* The owner stays; the keeper frees the owner's blocks and leaves (or trims and stays): the
 * blocks must reach the owner's slabs, which then empty and go back. */
static pthread_barrier_t phase;

static void *free_and_leave(void *arg) {
    handover *h = arg;
    h->bad += !tm_make_keeper(SIZE);
    for (int i = 0; i < BLOCKS; i++) {
        h->bad += !tm_intact(h->blocks[i], SIZE, (uint64_t)i);
        free(h->blocks[i]);
    }
    if (h->trim) malloc_trim(0);
    pthread_barrier_wait(&phase); /* the owner looks */
    pthread_barrier_wait(&phase);
    return NULL;
}

#define MANY (64 * 1024) /* 6.4 MiB of blocks: dozens of slabs */

static void keeper_gives_back(int trim) {
    static void *many[MANY];
    static handover h;
    memset(&h, 0, sizeof h);
    h.trim = trim;
    size_t before = mallinfo2().arena;
    for (int i = 0; i < MANY; i++)
        many[i] = malloc(SIZE);
    for (int i = 0; i < BLOCKS; i++) { /* the keeper's share: the last blocks made */
        h.blocks[i] = many[MANY - BLOCKS + i];
        tm_fill(h.blocks[i], SIZE, (uint64_t)i);
    }
    for (int i = 0; i < MANY - BLOCKS; i++)
        free(many[i]);
    pthread_t keeper;
    pthread_barrier_init(&phase, NULL, 2);
    CU_ASSERT_FATAL(pthread_create(&keeper, NULL, free_and_leave, &h) == 0);
    pthread_barrier_wait(&phase);
    if (trim) { /* the keeper is alive, its list given back by its trim */
        malloc_trim(0);
        CU_ASSERT(mallinfo2().arena < before + 2 * TM_MIB);
    }
    pthread_barrier_wait(&phase);
    pthread_join(keeper, NULL);
    malloc_trim(0);
    CU_ASSERT(mallinfo2().arena < before + 2 * TM_MIB);
    CU_ASSERT_EQUAL(h.bad, 0);
    pthread_barrier_destroy(&phase);
}

static void test_keeper_exits(void) {
    keeper_gives_back(0);
}

static void test_keeper_trims(void) {
    keeper_gives_back(1);
}

/* ---- the keeper's own blocks, freed while its kept list is the one malloc pops ---- */

#define OWN   16                  /* of the keeper's current slab, one kept live to the end */
#define AFTER (BLOCKS + 64 + OWN) /* mallocs that must hand every freed one out again */

typedef struct own_case {
    handover h;
    int trim; /* malloc_trim between the frees and the mallocs */
    int bad, back;
} own_case;

/* Frees a block of its current slab with the kept list in front (src/malloc/hot.c: the free
 * reaches the slab's own state while the thread's copy holds the list); the next mallocs must
 * hand each such block out again, once, intact. */
static void *free_own_while_keeping(void *arg) {
    own_case *c = arg;
    static void *own[OWN], *got[AFTER];
    c->bad += !tm_make_keeper(SIZE);
    for (int i = 0; i < OWN; i++) {
        own[i] = malloc(SIZE);
        if (own[i] == NULL) c->bad++;
        if (own[i] != NULL) tm_fill(own[i], SIZE, 2000 + (uint64_t)i);
    }
    for (int i = 0; i < BLOCKS; i++) { /* the maker's blocks: kept */
        c->bad += !tm_intact(c->h.blocks[i], SIZE, (uint64_t)i);
        free(c->h.blocks[i]);
    }
    for (int i = 0; i < OWN - 1; i++)
        free(own[i]);
    if (c->trim) malloc_trim(0);
    for (int n = 0; n < AFTER; n++) {
        got[n] = malloc(SIZE);
        if (got[n] == NULL) {
            c->bad++;
            continue;
        }
        tm_fill(got[n], SIZE, 3000 + (uint64_t)n);
        c->bad += got[n] == own[OWN - 1];
        for (int j = 0; j < n; j++)
            c->bad += got[j] == got[n];
        for (int i = 0; i < OWN - 1; i++)
            c->back += got[n] == own[i];
    }
    c->bad += !tm_intact(own[OWN - 1], SIZE, 2000 + OWN - 1);
    for (int n = 0; n < AFTER; n++) {
        c->bad += got[n] != NULL && !tm_intact(got[n], SIZE, 3000 + (uint64_t)n);
        free(got[n]);
    }
    free(own[OWN - 1]);
    return NULL;
}

static void own_blocks_come_back(int trim) {
    static own_case c;
    memset(&c, 0, sizeof c);
    c.trim = trim;
    pthread_t maker, keeper;
    pthread_barrier_init(&made, NULL, 2);
    pthread_barrier_init(&done, NULL, 2);
    CU_ASSERT_FATAL(pthread_create(&maker, NULL, make_blocks, &c.h) == 0);
    pthread_barrier_wait(&made);
    CU_ASSERT_FATAL(pthread_create(&keeper, NULL, free_own_while_keeping, &c) == 0);
    pthread_join(keeper, NULL);
    pthread_barrier_wait(&done);
    pthread_join(maker, NULL);
    pthread_barrier_destroy(&made);
    pthread_barrier_destroy(&done);
    CU_ASSERT_EQUAL(c.bad, 0);
    CU_ASSERT_EQUAL(c.back, OWN - 1);
}

static void test_own_while_keeping(void) {
    own_blocks_come_back(0);
}

static void test_own_while_keeping_trim(void) {
    own_blocks_come_back(1);
}

/* ---- a ring: each thread frees what the previous one made, and makes as many ---- */

#define RING_THREADS 4
#define RING_ROUNDS  400
#define RING_PARCEL  64

typedef struct ring_slot {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    void *parcel[RING_PARCEL];
    uint64_t keys[RING_PARCEL];
    int full;
} ring_slot;

static ring_slot ring[RING_THREADS];
static int ring_bad;

static size_t ring_size(uint64_t key) {
    return 1 + (key * 0x9e3779b97f4a7c15ull >> 40) % 2048;
}

static void ring_put(ring_slot *s, void **parcel, const uint64_t *keys) {
    pthread_mutex_lock(&s->lock);
    while (s->full)
        pthread_cond_wait(&s->changed, &s->lock);
    memcpy(s->parcel, parcel, sizeof s->parcel);
    memcpy(s->keys, keys, sizeof s->keys);
    s->full = 1;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
}

static void ring_take_and_free(ring_slot *s) {
    pthread_mutex_lock(&s->lock);
    while (!s->full)
        pthread_cond_wait(&s->changed, &s->lock);
    for (int i = 0; i < RING_PARCEL; i++) {
        if (!tm_intact(s->parcel[i], ring_size(s->keys[i]), s->keys[i]))
            __atomic_add_fetch(&ring_bad, 1, __ATOMIC_RELAXED);
        free(s->parcel[i]);
    }
    s->full = 0;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
}

static void *ring_member(void *arg) {
    int id = (int)(intptr_t)arg;
    void *parcel[RING_PARCEL];
    uint64_t keys[RING_PARCEL];
    for (int r = 0; r < RING_ROUNDS; r++) {
        for (int i = 0; i < RING_PARCEL; i++) {
            keys[i] = ((uint64_t)id << 40) | ((uint64_t)r << 16) | (uint64_t)i;
            parcel[i] = malloc(ring_size(keys[i]));
            if (parcel[i] == NULL) {
                __atomic_add_fetch(&ring_bad, 1, __ATOMIC_RELAXED);
                return NULL;
            }
            tm_fill(parcel[i], ring_size(keys[i]), keys[i]);
        }
        ring_put(&ring[(id + 1) % RING_THREADS], parcel, keys);
        ring_take_and_free(&ring[id]);
    }
    return NULL;
}

static void test_ring(void) {
    pthread_t threads[RING_THREADS];
    size_t start = tm_in_use();
    ring_bad = 0;
    for (int t = 0; t < RING_THREADS; t++) {
        pthread_mutex_init(&ring[t].lock, NULL);
        pthread_cond_init(&ring[t].changed, NULL);
        ring[t].full = 0;
    }
    for (int t = 0; t < RING_THREADS; t++)
        CU_ASSERT_FATAL(pthread_create(&threads[t], NULL, ring_member, (void *)(intptr_t)t) == 0);
    for (int t = 0; t < RING_THREADS; t++)
        pthread_join(threads[t], NULL);
    CU_ASSERT_EQUAL(ring_bad, 0);
    CU_ASSERT(tm_in_use() < start + 2 * TM_MIB); /* every kept block went back at exit */
}

CU_TestInfo test_kept_tests[] = {
    {"a thread's mallocs reuse the blocks of others it freed, each once", test_keeper_reuses},
    {"kept blocks go back when the keeper exits: the owner's slabs return", test_keeper_exits},
    {"... and when it calls malloc_trim", test_keeper_trims},
    {"its own blocks freed while it keeps come back, each once", test_own_while_keeping},
    {"... with a malloc_trim between", test_own_while_keeping_trim},
    {"a ring of 4 threads, each freeing what the previous made, 1 B-2 KiB", test_ring},
    CU_TEST_INFO_NULL,
};
