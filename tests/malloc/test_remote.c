/* test_remote.c - blocks that cross threads under thread-owned slabs: producers and consumers
 * over every size class, a thread that exits while others still hold (and later free) its
 * blocks, and fork while other threads free blocks they did not allocate. Every block is
 * checked before it is freed; worker threads count failures, the test thread asserts. */
#include "test_suites.h"
#include "pc_queue.h"
#include "test_util.h"

#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PC_PRODUCERS 3
#define PC_CONSUMERS 2
#define PC_BLOCKS    60000 /* per producer */
#define PC_RING      4096
#define SLACK        (2 * TM_MIB)

/* Sizes cycle through every small class, 1 to 16384 bytes, most of them small. */
static size_t pc_size(uint64_t i) {
    uint64_t h = i * 0x9e3779b97f4a7c15ull;
    return (h >> 60) == 0 ? 1 + (h >> 20) % 16384 : 1 + (h >> 20) % 1024;
}

static pc_queue queue;
static int producer_ids[PC_PRODUCERS];

static void *pc_producer(void *arg) {
    uint64_t base = (uint64_t) * (int *)arg * PC_BLOCKS;
    for (uint64_t i = base; i < base + PC_BLOCKS; i++) {
        void *p = malloc(pc_size(i));
        if (p == NULL) {
            __atomic_add_fetch(&queue.bad, 1, __ATOMIC_RELAXED);
            continue;
        }
        tm_fill(p, pc_size(i), i);
        if (i % 3 == 0) { /* some blocks are freed by their own thread, interleaved */
            free(p);
            continue;
        }
        pc_put(&queue, p, i);
    }
    pc_producer_done(&queue);
    return NULL;
}

static void *pc_consumer(void *arg) {
    void *p;
    uint64_t key;
    (void)arg;
    while (pc_take(&queue, &p, &key)) {
        if (!tm_intact(p, pc_size(key), key)) __atomic_add_fetch(&queue.bad, 1, __ATOMIC_RELAXED);
        free(p);
    }
    return NULL;
}

static void test_producers_consumers(void) {
    pthread_t producers[PC_PRODUCERS], consumers[PC_CONSUMERS];
    size_t start = tm_in_use();
    for (int round = 0; round < 2; round++) {
        pc_init(&queue, PC_RING, PC_PRODUCERS);
        for (int i = 0; i < PC_CONSUMERS; i++)
            CU_ASSERT_FATAL(pthread_create(&consumers[i], NULL, pc_consumer, NULL) == 0);
        for (int i = 0; i < PC_PRODUCERS; i++) {
            producer_ids[i] = round * PC_PRODUCERS + i;
            CU_ASSERT_FATAL(pthread_create(&producers[i], NULL, pc_producer, &producer_ids[i]) ==
                            0);
        }
        for (int i = 0; i < PC_PRODUCERS; i++)
            pthread_join(producers[i], NULL);
        for (int i = 0; i < PC_CONSUMERS; i++)
            pthread_join(consumers[i], NULL);
        CU_ASSERT_EQUAL(queue.bad, 0);
    }
    CU_ASSERT(tm_in_use() < start + SLACK); /* every block freed: nothing counts as live */
}

/* ---- a thread exits while others hold its blocks; they free them later ---- */

#define ORPHANS 20000

static void *orphan_maker(void *arg) {
    void **blocks = arg;
    for (size_t i = 0; i < ORPHANS; i++) {
        blocks[i] = malloc(pc_size(i));
        if (blocks[i] != NULL) tm_fill(blocks[i], pc_size(i), i);
    }
    return NULL;
}

typedef struct orphan_range {
    void **blocks;
    size_t from, to, bad;
} orphan_range;

static void *orphan_freer(void *arg) {
    orphan_range *r = arg;
    for (size_t i = r->from; i < r->to; i++) {
        r->bad += r->blocks[i] == NULL || !tm_intact(r->blocks[i], pc_size(i), i);
        free(r->blocks[i]);
    }
    return NULL;
}

static void test_exited_owner(void) {
    void **blocks = calloc(ORPHANS, sizeof *blocks);
    CU_ASSERT_FATAL(blocks != NULL);
    size_t start = tm_in_use();
    for (int round = 0; round < 3; round++) {
        pthread_t maker, freer;
        CU_ASSERT_FATAL(pthread_create(&maker, NULL, orphan_maker, blocks) == 0);
        pthread_join(maker, NULL); /* gone: its slabs are abandoned with live blocks */
        orphan_range half = {blocks, 0, ORPHANS / 2, 0}, rest = {blocks, ORPHANS / 2, ORPHANS, 0};
        CU_ASSERT_FATAL(pthread_create(&freer, NULL, orphan_freer, &rest) == 0);
        orphan_freer(&half);
        pthread_join(freer, NULL);
        CU_ASSERT_EQUAL(half.bad + rest.bad, 0);
    }
    free(blocks);
    CU_ASSERT(tm_in_use() < start + SLACK);
}

/* ---- fork while other threads free blocks allocated elsewhere ---- */

#define FORK_ROUNDS 40

static int forking;

static void *remote_freer(void *arg) {
    (void)arg;
    void *mine[64];
    while (__atomic_load_n(&forking, __ATOMIC_RELAXED)) {
        for (int i = 0; i < 64; i++)
            mine[i] = malloc(pc_size((uint64_t)i));
        pc_queue *q = &queue;
        void *p;
        uint64_t key;
        for (int i = 0; i < 64 && pc_take(q, &p, &key); i++)
            free(p);
        for (int i = 0; i < 64; i++)
            free(mine[i]);
    }
    return NULL;
}

static int child_works(void) {
    void *blocks[1000];
    for (int i = 0; i < 1000; i++)
        if ((blocks[i] = malloc(pc_size((uint64_t)i))) == NULL) return 1;
    for (int i = 0; i < 1000; i++)
        free(blocks[i]);
    return 0;
}

static void test_fork_with_remote_frees(void) {
    pthread_t threads[2];
    pc_init(&queue, PC_RING, 1);
    forking = 1;
    for (int i = 0; i < 2; i++)
        CU_ASSERT_FATAL(pthread_create(&threads[i], NULL, remote_freer, NULL) == 0);
    int failed = 0;
    for (int round = 0; round < FORK_ROUNDS; round++) {
        for (int i = 0; i < 256; i++) {
            void *p = malloc(pc_size((uint64_t)i));
            if (p != NULL) pc_put(&queue, p, (uint64_t)i);
        }
        pid_t pid = fork();
        if (pid == 0) _exit(child_works());
        int status = 0;
        failed += pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
                  WEXITSTATUS(status) != 0;
    }
    __atomic_store_n(&forking, 0, __ATOMIC_RELAXED);
    pc_producer_done(&queue);
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    void *p;
    uint64_t key;
    while (pc_take(&queue, &p, &key))
        free(p);
    CU_ASSERT_EQUAL(failed, 0);
}

/* ---- a producer that stays alive but quiet: the blocks another thread frees come back to
 * the pool without any call from the producer ---- */

#define QUIET_BLOCKS 40000 /* of 256 bytes: 10 MB, about 160 slabs */

static pthread_barrier_t quiet_phase;

static void *quiet_producer(void *arg) {
    void **blocks = arg;
    for (size_t i = 0; i < QUIET_BLOCKS; i++)
        blocks[i] = malloc(256);
    pthread_barrier_wait(&quiet_phase); /* handed over */
    pthread_barrier_wait(&quiet_phase); /* the test has measured: exit */
    return NULL;
}

static void test_quiet_owner(void) {
    void **blocks = calloc(QUIET_BLOCKS, sizeof *blocks);
    pthread_t producer;
    CU_ASSERT_FATAL(blocks != NULL);
    pthread_barrier_init(&quiet_phase, NULL, 2);
    /* Empty slabs earlier tests left in the class caches go back to the arena, or the producer
     * could take them without the caches growing (whether a round had given them back yet
     * depended on timing). */
    malloc_trim(0);
    size_t before = mallinfo2().arena;
    CU_ASSERT_FATAL(pthread_create(&producer, NULL, quiet_producer, blocks) == 0);
    pthread_barrier_wait(&quiet_phase);
    size_t full = mallinfo2().arena;
    size_t bad = 0;
    for (size_t i = 0; i < QUIET_BLOCKS; i++) {
        bad += blocks[i] == NULL;
        free(blocks[i]);
    }
    size_t after = mallinfo2().arena;
    pthread_barrier_wait(&quiet_phase);
    pthread_join(producer, NULL);
    free(blocks);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(
        tm_check(full > before + 8 * TM_MIB, "the caches grew by %zu bytes only", full - before),
        0);
    CU_ASSERT(after < before + SLACK); /* its current slab and the class's reserve at most */
}

CU_TestInfo test_remote_tests[] = {
    {"3 producers, 2 consumers, every class, blocks checked", test_producers_consumers},
    {"an exited thread's blocks freed later by two others", test_exited_owner},
    {"fork 40 times while threads free others' blocks", test_fork_with_remote_frees},
    {"a quiet owner's slabs return when others free their blocks", test_quiet_owner},
    CU_TEST_INFO_NULL,
};
