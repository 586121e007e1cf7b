/* test_misuse.c - heap misuse that aslab must stop at once: each runs in a forked child
 * whose stderr comes back through a pipe, and must kill it with SIGABRT after exactly one
 * line, "aslab: <function>: <fault> 0x<address>". The blocks are allocated by the parent,
 * so it knows every address; the child misuses its copy of them. */
#include "../../src/malloc/arena.h"
#include "../../src/slab.h"
#include "test_child.h"
#include "test_suites.h"
#include "test_util.h"
#include "tm_keep.h"

#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void _ZdlPv(void *p);

typedef struct misuse {
    char *p;     /* the block, or the address, misused */
    size_t size; /* a size for the calls that take one */
} misuse;

/* Runs fn in a child and asserts the abort and its one line. */
static void expect_fault(void (*fn)(void *), misuse m, const char *call, const char *fault,
                         const void *address) {
    char want[256];
    snprintf(want, sizeof want, "aslab: %s: %s 0x%" PRIxPTR "\n", call, fault, (uintptr_t)address);
    tm_child c;
    tm_child_run(&c, fn, &m, TM_CHILD_TIMEOUT_MS);
    int ok = tm_child_killed_by(&c, SIGABRT) && strcmp(c.err, want) == 0;
    if (!ok) {
        fprintf(stderr, "\n  expected stderr: %s", want);
        tm_child_dump(&c, call);
    }
    CU_ASSERT(tm_child_killed_by(&c, SIGABRT));
    CU_ASSERT_STRING_EQUAL(c.err, want);
}

/* As expect_fault, for a fault whose address the test cannot know (a block the allocator picks). */
static void expect_fault_somewhere(void (*fn)(void *), misuse m, const char *call,
                                   const char *fault) {
    char want[256];
    int n = snprintf(want, sizeof want, "aslab: %s: %s 0x", call, fault);
    tm_child c;
    tm_child_run(&c, fn, &m, TM_CHILD_TIMEOUT_MS);
    int ok = tm_child_killed_by(&c, SIGABRT) && strncmp(c.err, want, (size_t)n) == 0;
    if (!ok) {
        fprintf(stderr, "\n  expected stderr: %s...\n", want);
        tm_child_dump(&c, call);
    }
    CU_ASSERT(ok);
}

static void double_free(void *arg) {
    misuse *m = arg;
    free(m->p);
    free(m->p);
}

static void test_double_free(void) {
    misuse m = {malloc(40), 0};
    expect_fault(double_free, m, "free()", "double free detected", m.p);
    free(m.p);
}

/* The first free and malloc_trim (the thread gives back what it can) come before the
 * second: the check must not depend on where the freed block sits. A neighbour stays live
 * so that the slab is not handed back. */
static void double_free_flushed(void *arg) {
    misuse *m = arg;
    free(m->p);
    malloc_trim(0);
    free(m->p);
}

/* A medium block's first free holds it as its class's last freed block (medium.h); the
 * second must find it free there, and once a free of another block of the class has moved
 * it onto its slab's list. (malloc_trim's move: double_free_flushed.) */
static void medium_double_free_displaced(void *arg) {
    misuse *m = arg;
    void *other = malloc(m->size);
    free(m->p);
    free(other);
    free(m->p);
}

static void test_medium_double_free(void) {
    void *neighbour = malloc(100 * TM_KIB); /* keeps the slab lent through malloc_trim */
    misuse m = {malloc(100 * TM_KIB), 100 * TM_KIB};
    expect_fault(double_free, m, "free()", "double free detected", m.p);
    expect_fault(medium_double_free_displaced, m, "free()", "double free detected", m.p);
    expect_fault(double_free_flushed, m, "free()", "double free detected", m.p);
    free(m.p);
    free(neighbour);
}

static void test_double_free_after_flush(void) {
    void *neighbour = malloc(40);
    misuse m = {malloc(40), 0};
    expect_fault(double_free_flushed, m, "free()", "double free detected", m.p);
    free(m.p);
    free(neighbour);
}

/* A medium block whose pages malloc_trim discarded: word 1, where a free block's key was, now
 * reads 0, so the slab's own record of discarded blocks must catch the second free, from the
 * owner or from another thread, and the other calls on a freed block. 64 KiB blocks start on a
 * page, so their first page goes too. A neighbour stays live so that the slab stays. */
#define DISCARDED_SIZE (64 * 1024)

static void *free_elsewhere(void *p);

static void discarded_double_free(void *arg) {
    misuse *m = arg;
    free(m->p);
    malloc_trim(0);
    free(m->p);
}

/* The same through the thread's kept list, which a free takes without reading the slab's
 * `clean` bit: the discard gave word 1 its key back. Without it the second free went onto the
 * list and the next two mallocs returned the block twice. */
static void discarded_double_free_listed(void *arg) {
    misuse *m = arg;
    malloc_trim(0);                   /* the class's list empty, whatever it held */
    free(malloc(DISCARDED_SIZE));     /* a malloc, then a free: the list takes frees */
    void *x = malloc(DISCARDED_SIZE); /* and is empty again */
    free(m->p);                       /* onto the list */
    malloc_trim(0);                   /* the list goes back, the block's pages go */
    free(m->p);                       /* the list has room again */
    free(x);
}

static void discarded_double_free_remote(void *arg) {
    misuse *m = arg;
    free(m->p);
    malloc_trim(0);
    pthread_t thread;
    if (pthread_create(&thread, NULL, free_elsewhere, m->p) == 0) pthread_join(thread, NULL);
}

static void discarded_usable_size(void *arg) {
    misuse *m = arg;
    free(m->p);
    malloc_trim(0);
    m->size = malloc_usable_size(m->p);
}

static void discarded_realloc(void *arg) {
    misuse *m = arg;
    free(m->p);
    malloc_trim(0);
    m->p = realloc(m->p, 100);
}

static void expect_discarded_fault(void (*fn)(void *), const char *call, const char *fault) {
    void *neighbour = malloc(DISCARDED_SIZE);
    misuse m = {malloc(DISCARDED_SIZE), DISCARDED_SIZE};
    expect_fault(fn, m, call, fault, m.p);
    free(m.p);
    free(neighbour);
}

static void test_discarded_double_free(void) {
    expect_discarded_fault(discarded_double_free, "free()", "double free detected");
    /* the listed case: the block between live neighbours, so that its slab stays */
    void *row[4];
    for (int i = 0; i < 4; i++)
        row[i] = malloc(DISCARDED_SIZE);
    misuse listed = {row[1], DISCARDED_SIZE};
    expect_fault(discarded_double_free_listed, listed, "free()", "double free detected", row[1]);
    for (int i = 0; i < 4; i++)
        free(row[i]);
    expect_discarded_fault(discarded_double_free_remote, "free()", "double free detected");
    expect_discarded_fault(discarded_usable_size, "malloc_usable_size()", "block already freed");
    expect_discarded_fault(discarded_realloc, "realloc()", "block already freed");
}

static void free_address(void *arg) {
    free(((misuse *)arg)->p);
}

static void usable_size_of_address(void *arg) {
    misuse *m = arg;
    m->size = malloc_usable_size(m->p);
}

static void realloc_address(void *arg) {
    misuse *m = arg;
    m->p = realloc(m->p, 24);
}

/* p, which is no block's start, is refused with `fault` by free, malloc_usable_size and
 * realloc alike: each checks the pointer its own way (usable size without free's path). */
static void expect_refused_everywhere(char *p, const char *fault) {
    misuse m = {p, 0};
    expect_fault(free_address, m, "free()", fault, p);
    expect_fault(usable_size_of_address, m, "malloc_usable_size()", fault, p);
    expect_fault(realloc_address, m, "realloc()", fault, p);
}

static void test_interior_pointer(void) {
    char *block = malloc(40), *medium = malloc(20000);
    expect_refused_everywhere(block + 8, "invalid pointer (not the start of a block)");
    expect_refused_everywhere(block + 16, "invalid pointer (not the start of a block)");
    expect_refused_everywhere(medium + 4096, "invalid pointer (not the start of a block)");
    free(medium);
    free(block);
}

/* Slabs of the 64-byte class are TM_SMALL_SLAB bytes and start with their header. The
 * README gives a header pointer the same answer as an interior one. */
static void test_slab_header_pointer(void) {
    char *block = malloc(64);
    char *header = (char *)((uintptr_t)block & ~(uintptr_t)(TM_SMALL_SLAB - 1));
    expect_refused_everywhere(header + 16, "invalid pointer (not the start of a block)");
    free(block);
}

#define DEAD_SLAB_SIZE (64 * TM_KIB) /* of the class of 1000 bytes: 4 slabs a region */

/* A slab of one of our regions that is not live (never used, or handed back), found by
 * reading headers. */
static char *dead_slab_in_region_of(const void *block) {
    uintptr_t region = (uintptr_t)block & ~(uintptr_t)(ASLAB_REGION_SIZE - 1);
    for (uintptr_t slab = region; slab < region + ASLAB_REGION_SIZE; slab += DEAD_SLAB_SIZE) {
        const aslab__slab *header = (const aslab__slab *)slab;
        if (header->magic != aslab__magic_for(header) &&
            header->magic != aslab__lent_magic_for(header))
            return (char *)slab;
    }
    return NULL;
}

/* Both a pointer inside a dead slab and one where its slot 0 would start (which passes the
 * slot test, so that only the slab's liveness refuses it); the class's slots start at the
 * same offset in every slab, found from a live block. */
static void test_dead_slab_pointer(void) {
    char *block = malloc(1000), *dead = dead_slab_in_region_of(block);
    size_t first = ((uintptr_t)block & (DEAD_SLAB_SIZE - 1)) % malloc_usable_size(block);
    if (dead != NULL) {
        expect_refused_everywhere(dead + 4096, "invalid pointer (no live aslab slab there)");
        expect_refused_everywhere(dead + first, "invalid pointer (no live aslab slab there)");
    } else
        fprintf(stderr, "\n  skipped: every slab of the region is live\n");
    free(block);
}

static void free_sized_call(void *arg) {
    misuse *m = arg;
    free_sized(m->p, m->size);
}

static void test_free_sized_too_large(void) {
    misuse small = {malloc(40), 49}; /* class 48 */
    expect_fault(free_sized_call, small, "free_sized()", "size larger than the block", small.p);
    free(small.p);
    misuse large = {malloc(100000), 0};
    large.size = malloc_usable_size(large.p) + 1;
    expect_fault(free_sized_call, large, "free_sized()", "size larger than the block", large.p);
    free(large.p);
}

static void realloc_freed(void *arg) {
    misuse *m = arg;
    free(m->p);
    m->p = realloc(m->p, 100);
}

static void test_realloc_freed(void) {
    misuse m = {malloc(40), 0};
    expect_fault(realloc_freed, m, "realloc()", "block already freed", m.p);
    free(m.p);
}

static void usable_size_freed(void *arg) {
    misuse *m = arg;
    free(m->p);
    m->size = malloc_usable_size(m->p);
}

/* Small classes with a kept list (the table of lent slabs answers the size: api.c), without
 * one, and medium ones (the map's path). */
static void test_usable_size_freed(void) {
    static const size_t sizes[] = {16, 40, 1000, 2048, 8000, 16384, 40000};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        misuse m = {malloc(sizes[i]), 0};
        expect_fault(usable_size_freed, m, "malloc_usable_size()", "block already freed", m.p);
        free(m.p);
    }
}

/* A block of the fallback (over 1 MiB, or aligned beyond 64 KiB) freed twice: jemalloc
 * would take it back twice and later hand out overlapping blocks; its freed mark (large.c)
 * stops the second free, whether the first one parked the block, pooled it or discarded its
 * pages. */
#define BIG_BLOCK (2 * TM_MIB)

static void big_double_free(void *arg) {
    misuse *m = arg;
    free(m->p);
    free(m->p);
}

/* The same once the program cycles through big blocks: the first free parks the block. */
static void big_double_free_parked(void *arg) {
    for (int i = 0; i < 2; i++) {
        char *volatile cycle = malloc(BIG_BLOCK);
        if (cycle != NULL) cycle[0] = 1;
        free(cycle);
    }
    big_double_free(arg);
}

static void big_realloc_freed(void *arg) {
    misuse *m = arg;
    free(m->p);
    m->p = realloc(m->p, 3 * TM_MIB);
}

static void big_usable_size_freed(void *arg) {
    misuse *m = arg;
    free(m->p);
    m->size = malloc_usable_size(m->p);
}

static void test_big_block_freed(void) {
    misuse m = {malloc(BIG_BLOCK), BIG_BLOCK};
    expect_fault(big_double_free, m, "free()", "double free detected", m.p);
    expect_fault(big_double_free_parked, m, "free()", "double free detected", m.p);
    expect_fault(big_realloc_freed, m, "realloc()", "block already freed", m.p);
    expect_fault(big_usable_size_freed, m, "malloc_usable_size()", "block already freed", m.p);
    free(m.p);
    misuse aligned = {aligned_alloc(128 * TM_KIB, 4096), 4096};
    expect_fault(big_double_free, aligned, "free()", "double free detected", aligned.p);
    free(aligned.p);
}

/* The block freed last, freed again after a write after free wiped its key (and link): the
 * head of its slab's list (a class with no kept list) or the class's held block (a medium
 * class whose list a free-only phase stopped) says it is free. Before, the list looped on it
 * and the next two mallocs returned it both. (A kept list's head is not checked, as glibc's
 * tcache checks none: it would cost free's fast path.) */
static void wiped_double_free(void *arg) {
    misuse *m = arg;
    free(m->p);
    memset(m->p, 0, 16);
    free(m->p);
}

#define MEDIUM_WIPED 100000 /* its class's list holds 2 blocks */

/* Two frees fill the medium class's list and stop it (a free-only phase, kept.c): the third
 * block is held as the class's last freed block (medium.h). */
static void medium_wiped_double_free(void *arg) {
    misuse *m = arg;
    char **blocks = (char **)m->p;
    free(blocks[0]);
    free(blocks[1]);
    misuse held = {blocks[2], 0};
    wiped_double_free(&held);
}

static void test_double_free_key_wiped(void) {
    misuse small = {malloc(3000), 0}; /* above 2 KiB: no kept list */
    expect_fault(wiped_double_free, small, "free()", "double free detected", small.p);
    free(small.p);
    char *blocks[3];
    for (int i = 0; i < 3; i++)
        blocks[i] = malloc(MEDIUM_WIPED);
    misuse medium = {(char *)blocks, 0};
    expect_fault(medium_wiped_double_free, medium, "free()", "double free detected", blocks[2]);
    for (int i = 0; i < 3; i++)
        free(blocks[i]);
}

/* A pointer inside a fallback block, not at its start: jemalloc freed the block it falls in
 * (16 bytes in) or crashed without a word (a few pages in, a page it never registered), and
 * sized it as 8 bytes; the set of the program's blocks (large_live.h) stops all three. */
static void big_free_inside(void *arg) {
    misuse *m = arg;
    free(m->p + m->size);
}

static void big_realloc_inside(void *arg) {
    misuse *m = arg;
    m->p = realloc(m->p + m->size, 3 * TM_MIB);
}

static void big_usable_size_inside(void *arg) {
    misuse *m = arg;
    m->size = malloc_usable_size(m->p + m->size);
}

static void test_big_block_inside(void) {
    char *big = malloc(BIG_BLOCK);
    /* Written, as a program writes its block: an earlier fallback block may have started at
     * one of the offsets below (jemalloc starts large blocks at a random line of their first
     * page) and left its freed mark there, which would name the fault a double free. */
    memset(big, 0x5a, BIG_BLOCK);
    static const size_t offsets[] = {16, 64, 3 * 4096 + 16, 8192};
    for (size_t i = 0; i < sizeof offsets / sizeof *offsets; i++) {
        misuse m = {big, offsets[i]};
        const char *fault = "invalid pointer (not the start of a block)";
        expect_fault(big_free_inside, m, "free()", fault, big + offsets[i]);
        expect_fault(big_realloc_inside, m, "realloc()", fault, big + offsets[i]);
        expect_fault(big_usable_size_inside, m, "malloc_usable_size()", fault, big + offsets[i]);
    }
    CU_ASSERT(malloc_usable_size(big) >= BIG_BLOCK); /* the block itself untouched */
    free(big);
}

static void double_delete(void *arg) {
    misuse *m = arg;
    _ZdlPv(m->p);
    _ZdlPv(m->p);
}

static void test_double_delete(void) {
    misuse m = {malloc(40), 0};
    expect_fault(double_delete, m, "operator delete", "double free detected", m.p);
    free(m.p);
}

/* A dangling write into a freed block plants an address in its free-list link; the next
 * malloc of its class must stop instead of handing that address out. */
static char planted[64];

static void dangling_write(void *arg) {
    misuse *m = arg;
    free(m->p);
    *(void **)m->p = planted;
    for (int i = 0; i < 2; i++)
        if (malloc(m->size) == planted) fprintf(stderr, "malloc returned the planted address\n");
}

static void test_dangling_write(void) {
    static const size_t sizes[] = {16, 48, 100, 256, 1000, 1024, 4096};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        misuse m = {malloc(sizes[i]), sizes[i]};
        expect_fault(dangling_write, m, "malloc()", "corrupted free list (a write after free?)",
                     m.p);
        free(m.p);
    }
}

/* The same in a slab that is not the current one, the block deep in its list: the pop that
 * reaches it, once the slab is current again, stops. */
#define SPREAD_BLOCKS 5000 /* of 48 B: p's slab is full and left behind */
#define FREED_AFTER   10   /* blocks freed after p, in front of it on the list */
static void *spread[SPREAD_BLOCKS];

static void dangling_write_not_current(void *arg) {
    misuse *m = arg;
    free(m->p);
    *(void **)m->p = planted;
    for (int i = 1; i <= FREED_AFTER; i++)
        free(spread[i]);
    for (int i = 0; i < SPREAD_BLOCKS; i++)
        if (malloc(m->size) == planted) fprintf(stderr, "malloc returned the planted address\n");
}

/* Runs fn in a child over SPREAD_BLOCKS fresh blocks of 48 B (p the first), where malloc must
 * stop on a corrupted free list: at p, or (anywhere) at a block the allocator picks. */
static void expect_list_fault_on_spread(void (*fn)(void *), int anywhere) {
    for (int i = 0; i < SPREAD_BLOCKS; i++)
        spread[i] = malloc(48);
    misuse m = {spread[0], 48};
    if (anywhere)
        expect_fault_somewhere(fn, m, "malloc()", "corrupted free list (a write after free?)");
    else
        expect_fault(fn, m, "malloc()", "corrupted free list (a write after free?)", m.p);
    for (int i = 0; i < SPREAD_BLOCKS; i++)
        free(spread[i]);
}

static void test_dangling_write_not_current(void) {
    expect_list_fault_on_spread(dangling_write_not_current, 0);
}

static void *free_elsewhere(void *p) {
    free(p);
    return NULL;
}

/* The same in a slab whose list malloc puts in address order as the slab becomes current
 * again (list_order.c): a third of the slab's blocks freed, p among them, and given back to
 * the slab (malloc_trim) before the write; the rebuild, which would write over the planted
 * link, stops at it. */
static void dangling_write_reordered(void *arg) {
    misuse *m = arg;
    free(m->p);
    for (int i = 3; i < SPREAD_BLOCKS / 3; i += 3)
        free(spread[i]);
    malloc_trim(0);
    *(void **)m->p = planted;
    for (int i = 0; i < SPREAD_BLOCKS; i++)
        if (malloc(m->size) == planted) fprintf(stderr, "malloc returned the planted address\n");
}

static void test_dangling_write_reordered(void) {
    expect_list_fault_on_spread(dangling_write_reordered, 0);
}

/* The rebuild tells free blocks by the key in their word 1, and takes the marks for the list
 * when there are as many as the slab has listed. A dangling write that wipes a listed block's
 * key, while a block of the same slab freed by another thread waits on the remote list (with
 * its key), keeps the counts equal: the rebuild must still stop rather than list that block,
 * which its owner would then hand out twice. */
static void wiped_key_with_remote_block(void *arg) {
    misuse *m = arg;
    uintptr_t slab = (uintptr_t)m->p & ~(TM_SMALL_SLAB - 1);
    static void *chosen[SPREAD_BLOCKS];
    int n = 0;
    void *remote = NULL;
    for (int i = 0; i < SPREAD_BLOCKS; i++) {
        if (((uintptr_t)spread[i] & ~(TM_SMALL_SLAB - 1)) != slab) continue;
        if (i % 3 == 0)
            chosen[n++] = spread[i];
        else if (remote == NULL)
            remote = spread[i];
    }
    if (n < 2) return;
    /* freed from both ends in turn, so that the list jumps across the slab and is rebuilt (a
     * list that runs through it in address order is left as it is: list_order.c) */
    for (int lo = 0, hi = n - 1; lo <= hi; lo++, hi--) {
        free(chosen[lo]);
        if (hi != lo) free(chosen[hi]);
    }
    void *wiped = chosen[1];
    malloc_trim(0); /* the freed blocks onto the slab's list */
    pthread_t thread;
    if (pthread_create(&thread, NULL, free_elsewhere, remote) != 0) return;
    pthread_join(thread, NULL); /* its exit gives the block back: the slab's remote list */
    ((uintptr_t *)wiped)[1] = 0;
    for (int i = 0; i < SPREAD_BLOCKS; i++)
        if (malloc(m->size) == remote) fprintf(stderr, "malloc handed the remote block out\n");
}

static void test_wiped_key_with_remote_block(void) {
    expect_list_fault_on_spread(wiped_key_with_remote_block, 1);
}

/* A dangling write through the remote list: another thread frees the block, the write
 * follows, and the owner's malloc finds the link when it pops the block. */
static void dangling_write_remote(void *arg) {
    misuse *m = arg;
    pthread_t thread;
    if (pthread_create(&thread, NULL, free_elsewhere, m->p) != 0) return;
    pthread_join(thread, NULL);
    *(void **)m->p = planted;
    for (int i = 0; i < 1000000; i++)
        if (malloc(m->size) == planted) fprintf(stderr, "malloc returned the planted address\n");
}

static void test_dangling_write_remote(void) {
    misuse m = {malloc(48), 48};
    expect_fault(dangling_write_remote, m, "malloc()", "corrupted free list (a write after free?)",
                 m.p);
    free(m.p);
}

/* A block another thread frees is kept for that thread's own mallocs once it keeps the class
 * (kept.c; tm_make_keeper): a second free by it, and a dangling write before its next malloc,
 * must be caught there too. */
static void *keep_and_free_twice(void *p) {
    tm_make_keeper(48);
    free(p);
    free(p);
    return NULL;
}

static void *keep_and_plant(void *arg) {
    misuse *m = arg;
    tm_make_keeper(m->size);
    free(m->p);
    *(void **)m->p = planted;
    for (int i = 0; i < 2; i++)
        if (malloc(m->size) == planted) fprintf(stderr, "malloc returned the planted address\n");
    return NULL;
}

static void kept_double_free(void *arg) {
    pthread_t thread;
    if (pthread_create(&thread, NULL, keep_and_free_twice, ((misuse *)arg)->p) == 0)
        pthread_join(thread, NULL);
}

static void kept_dangling_write(void *arg) {
    pthread_t thread;
    if (pthread_create(&thread, NULL, keep_and_plant, arg) == 0) pthread_join(thread, NULL);
}

static void test_kept_block(void) {
    misuse m = {malloc(48), 48};
    expect_fault(kept_double_free, m, "free()", "double free detected", m.p);
    expect_fault(kept_dangling_write, m, "malloc()", "corrupted free list (a write after free?)",
                 m.p);
    free(m.p);
}

/* A slab the thread's frees emptied is kept for its next current slab (empty.c). A second free
 * of one of its blocks, whose double-free key a write after free wiped, finds the slab with no
 * block out, when the block reaches it. The blocks fill three slabs; the middle one is neither a
 * slab the thread had before nor its current one at the end. */
#define EMPTIED_SIZE   480
#define EMPTIED_BLOCKS (3 * (int)(TM_SMALL_SLAB / EMPTIED_SIZE))
static void *emptied[EMPTIED_BLOCKS];

static void free_in_emptied_slab(void *arg) {
    misuse *m = arg;
    for (int i = 0; i < EMPTIED_BLOCKS; i++)
        free(emptied[i]);
    ((uintptr_t *)m->p)[1] = 0; /* the write after free */
    free(m->p);
    /* In a free-only phase the thread's own blocks reach their slabs a batch at a time
     * (kept.c's FREE_ONLY_ROOM): the trim gives this one back now. */
    malloc_trim(0);
}

static void test_free_into_emptied_slab(void) {
    for (int i = 0; i < EMPTIED_BLOCKS; i++)
        emptied[i] = malloc(EMPTIED_SIZE);
    misuse m = {emptied[EMPTIED_BLOCKS / 2], EMPTIED_SIZE};
    uintptr_t slab = (uintptr_t)m.p & ~(uintptr_t)(TM_SMALL_SLAB - 1);
    expect_fault(free_in_emptied_slab, m, "free()", "more blocks freed than allocated in this slab",
                 (void *)slab);
    for (int i = 0; i < EMPTIED_BLOCKS; i++)
        free(emptied[i]);
}

/* A free-only phase (kept.c: the list filled twice with no malloc of the class between) sends
 * the thread's own blocks to their slabs: a block in the page of the one freed before by free's
 * own copy of the phase's common case (heap.h, aslab__batch_free_inline), any other by batch.c.
 * A second free is a double free either way. The phase begins within the first few hundred
 * frees (the list's second fill, its room 32 blocks at first). The blocks are freed in
 * allocation order up to
 * block `phase_last`, whose slab keeps the block after it (so the slab is not emptied and
 * given back); then phase_last again, or a block of its slab two pages before it. */
#define PHASE_SIZE   64
#define PHASE_BLOCKS 30000 /* the list's own room is 4096 blocks of 64 B: filled twice early */
#define PHASE_BACK   128   /* blocks: two pages of 64 B */
static void *phase_blocks[PHASE_BLOCKS];
static int phase_last;

static void free_twice_in_phase(void *arg) {
    misuse *m = arg;
    for (int i = 0; i <= phase_last; i++)
        free(phase_blocks[i]);
    free(m->p);
}

/* The last block to free: late in the phase, the blocks PHASE_BACK before it to the one after
 * it in its slab, the one before it in its page. */
static int phase_last_block(void) {
    for (int k = PHASE_BLOCKS - 2; k > PHASE_BLOCKS / 2; k--) {
        uintptr_t slab = tm_small_slab_of(phase_blocks[k]);
        if (tm_small_slab_of(phase_blocks[k + 1]) != slab ||
            tm_small_slab_of(phase_blocks[k - PHASE_BACK]) != slab ||
            ((uintptr_t)phase_blocks[k] ^ (uintptr_t)phase_blocks[k - 1]) >> 12 != 0)
            continue;
        int same = 1;
        for (int i = k - PHASE_BACK; i < k && same; i++)
            same = tm_small_slab_of(phase_blocks[i]) == slab;
        if (same) return k;
    }
    return -1;
}

static void test_double_free_in_phase(void) {
    for (int i = 0; i < PHASE_BLOCKS; i++)
        phase_blocks[i] = malloc(PHASE_SIZE);
    phase_last = phase_last_block();
    CU_ASSERT_FATAL(phase_last > 0);
    misuse in_page = {phase_blocks[phase_last], PHASE_SIZE};
    misuse back = {phase_blocks[phase_last - PHASE_BACK], PHASE_SIZE};
    expect_fault(free_twice_in_phase, in_page, "free()", "double free detected", in_page.p);
    expect_fault(free_twice_in_phase, back, "free()", "double free detected", back.p);
    for (int i = 0; i < PHASE_BLOCKS; i++)
        free(phase_blocks[i]);
}

/* Word 1 of a live block holding one half of the free key, the other half not: free looks
 * at the half first (heap.h, aslab__carries_key) and must not take the block for a freed one.
 * Small sizes (kept lists and slabs), a size without a kept list, and medium ones; by the
 * thread that made them and by another. */
static const size_t half_key_sizes[] = {16, 24, 48, 1024, 3000, 20000, 300000};
#define HALF_KEY_SIZES (sizeof half_key_sizes / sizeof half_key_sizes[0])

/* The free key, as a freed block's word 1 shows it (heap.h, aslab__list_push_block). */
static uintptr_t free_key(void) {
    uintptr_t *b = malloc(64);
    free(b);
    return b[1];
}

static void *plant_half_key(size_t size, int high) {
    uintptr_t key = free_key();
    uint32_t *w = malloc(size);
    w[2] = high ? ~(uint32_t)key : (uint32_t)key;
    w[3] = high ? (uint32_t)(key >> 32) : ~(uint32_t)(key >> 32);
    return w;
}

static void *free_all(void *arg) {
    void **blocks = arg;
    for (size_t i = 0; i < 2 * HALF_KEY_SIZES; i++)
        free(blocks[i]);
    return NULL;
}

static void half_key_frees(void *arg) {
    (void)arg;
    void *mine[2 * HALF_KEY_SIZES], *theirs[2 * HALF_KEY_SIZES];
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < 2 * HALF_KEY_SIZES; i++) {
            mine[i] = plant_half_key(half_key_sizes[i / 2], (int)(i % 2));
            theirs[i] = plant_half_key(half_key_sizes[i / 2], (int)(i % 2));
        }
        free_all(mine);
        pthread_t t;
        if (pthread_create(&t, NULL, free_all, theirs) != 0) abort();
        pthread_join(t, NULL);
    }
    malloc_trim(0);
}

static void test_half_key_not_freed(void) {
    CU_ASSERT(tm_child_run_clean(half_key_frees, NULL, "free of blocks holding half the free key"));
}

/* A free of the address next to the block malloc handed out last, in a fresh process: the
 * slab never handed that block out (it is threaded onto the free list, or the next never-used
 * one), and must not list it: malloc would hand it out twice. Before the fix, 4 KiB and larger
 * blocks came out twice. */
static void expect_unused_refused(size_t size, const char *side, const char *fault) {
    char size_var[32], side_var[32];
    snprintf(size_var, sizeof size_var, "TM_SIZE=%zu", size);
    snprintf(side_var, sizeof side_var, "TM_SIDE=%s", side);
    const char *env[] = {size_var, side_var, NULL};
    tm_child c;
    tm_child_scenario(&c, "free-unused", env, 0, TM_CHILD_TIMEOUT_MS);
    /* the address the scenario printed, then the one line naming it (any fault if NULL) */
    char want[256];
    int address_len = (int)strcspn(c.out, "\n");
    if (fault != NULL)
        snprintf(want, sizeof want, "aslab: free(): %s %.*s\n", fault, address_len, c.out);
    else
        snprintf(want, sizeof want, "aslab: free(): ");
    size_t err_len = strlen(c.err);
    int one_line = err_len > 0 && strchr(c.err, '\n') == c.err + err_len - 1;
    int named = fault != NULL ? strcmp(c.err, want) == 0 : strncmp(c.err, want, strlen(want)) == 0;
    int ok = tm_child_killed_by(&c, SIGABRT) && address_len > 0 && one_line && named;
    if (!ok) {
        fprintf(stderr, "\n  %s of a %zu-byte block: expected %s%s", side, size, want,
                fault != NULL ? "" : "...\n");
        tm_child_dump(&c, "free-unused");
    }
    CU_ASSERT(ok);
}

static void test_free_unused_neighbour(void) {
    static const size_t sizes[] = {48, 400, 1000, 2048, 4096, 12288, 20000, 100000, 1 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        expect_unused_refused(sizes[i], "after", "double free detected");
    /* the address before a new slab's first block: the never-used block before its colour
     * (pool.c) or, at colour 0, the slab's header (64 + 128 bytes: a 48-byte step back stays
     * inside the slab; a larger one may leave its region, for the program's jemalloc here) */
    expect_unused_refused(48, "before", NULL);
}

CU_TestInfo test_misuse_tests[] = {
    {"double free of a small block", test_double_free},
    {"double free of a block back in its slab", test_double_free_after_flush},
    {"double free of a medium block: held as the last freed, displaced, given back",
     test_medium_double_free},
    {"free, usable size and realloc of interior pointers", test_interior_pointer},
    {"free, usable size and realloc of a pointer into a slab header", test_slab_header_pointer},
    {"free, usable size and realloc of a pointer into a dead slab", test_dead_slab_pointer},
    {"free_sized with a size larger than the block", test_free_sized_too_large},
    {"realloc of a freed small block", test_realloc_freed},
    {"malloc_usable_size of freed small and medium blocks", test_usable_size_freed},
    {"double operator delete", test_double_delete},
    {"double free, realloc and usable size of a freed block of the fallback", test_big_block_freed},
    {"free, realloc and usable size of a pointer inside a block of the fallback",
     test_big_block_inside},
    {"the block freed last freed again, its key wiped (no kept list; medium)",
     test_double_free_key_wiped},
    {"double free, usable size and realloc of a discarded medium block",
     test_discarded_double_free},
    {"a write after free plants a link: malloc stops, 16 B to 4 KiB", test_dangling_write},
    {"the same in a slab that is not the current one", test_dangling_write_not_current},
    {"the same in a slab whose list is put in address order", test_dangling_write_reordered},
    {"a wiped key in such a slab, another block of it on the remote list",
     test_wiped_key_with_remote_block},
    {"the same in a block freed by another thread", test_dangling_write_remote},
    {"double free and a write after free of a block another thread keeps", test_kept_block},
    {"a second free into a slab the thread emptied and keeps, its key wiped",
     test_free_into_emptied_slab},
    {"a block holding one half of the free key in word 1 is freed, not taken for a double free",
     test_half_key_not_freed},
    {"double free in a free-only phase: in the page of the block before, and not",
     test_double_free_in_phase},
    {"a free of the never-used block next to the last one handed out, 48 B to 1 MiB",
     test_free_unused_neighbour},
    CU_TEST_INFO_NULL,
};
