/* xmalloc.c - `xmalloc [WORKERS [BATCHES [SIZE]]]`: blocks made by some threads and freed by
 * others, in the shape of mimalloc-bench's "xmalloc-test" (its bench/xmalloc-test/
 * xmalloc-test.c, after Lever and Boreham's USENIX 2000 test; mimalloc-bench runs it as
 * `xmalloc-test -w $procs -t 5 -s 64`; this is its shape, not its code).
 * - WORKERS allocator threads (default 2) only allocate and WORKERS releaser threads only free;
 *   the main thread starts them (a releaser, then an allocator, WORKERS times) and waits.
 * - An allocator mallocs a batch: a struct of a link and 4096 block pointers (32,776 B, a
 *   medium block), then 4096 blocks of SIZE bytes (default 64), each memset on its first
 *   min(SIZE, 128) bytes to its index in the batch mod 256, and pushes the batch.
 * - Batches go on one LIFO stack, under a mutex with two condition variables, which holds at
 *   most 100 batches: an allocator waits while it is full, a releaser while it is empty. Any
 *   releaser takes any allocator's batch, the one pushed last.
 * - A releaser frees the batch's blocks in index order, then the batch struct itself, and adds
 *   4096 to its counter (a malloc'd array, a cache line per releaser, as the original's).
 * Every free is remote: the blocks, and the medium batch struct, were allocated by another
 * thread. Nothing reads the blocks after the memset.
 *
 * Differences, for a fixed amount of work (our runner times the whole run): the original runs
 * for a fixed time (-t 5) and reports frees per second; here the allocators make BATCHES
 * batches in all (default 25000, about 3 s under glibc on two cores), claiming them one at a
 * time from a shared counter so that the faster one makes more, as in the original, and the
 * releasers free them all. So the stack drains at the end instead of being freed by the main
 * thread after the clock stops, and the main thread waits in pthread_join instead of waking
 * every millisecond to look at the clock. SIZE must be positive (the original's -s -1, random
 * sizes, is not modelled). `xmalloc 2 25000 64` stands for the original's invocation; quick:
 * `xmalloc 2 4000`.
 * The only check reads nothing the original does not: each thread sums the block pointers it
 * writes to or reads from the batches, and the sums must agree at the end (a batch clobbered
 * or lost on its way). Output: the blocks made and freed on stdout; ns per freed block and the
 * resident set at the end on stderr. */
#include "bench_util.h"

#include <pthread.h>

#define BLOCKS_PER_BATCH 4096
#define STACK_LIMIT      100 /* batches the stack holds at most */
#define MEMSET_LIMIT     128 /* bytes of a block the allocator writes at most */

struct batch {
    struct batch *next;
    void *blocks[BLOCKS_PER_BATCH];
};

/* The releasers' counters, malloc'd and a cache line each, as in the original. */
struct counter {
    long freed __attribute__((aligned(64)));
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
    struct batch *top;
    long depth; /* batches on the stack */
    long taken; /* batches popped so far: the releasers stop at total_batches */
} stack = {
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0};

static long total_batches, claimed_batches;
static size_t block_size;
static struct counter *counters;
/* Sums of block pointers written (made) and read (freed), and the blocks made. */
static uint64_t pointers_made, pointers_freed, blocks_made;

static void push_batch(struct batch *b) {
    pthread_mutex_lock(&stack.lock);
    while (stack.depth >= STACK_LIMIT)
        pthread_cond_wait(&stack.not_full, &stack.lock);
    b->next = stack.top;
    stack.top = b;
    stack.depth++;
    pthread_cond_signal(&stack.not_empty);
    pthread_mutex_unlock(&stack.lock);
}

/* The batch pushed last, or NULL once every batch has been taken. */
static struct batch *pop_batch(void) {
    pthread_mutex_lock(&stack.lock);
    while (stack.top == NULL && stack.taken < total_batches)
        pthread_cond_wait(&stack.not_empty, &stack.lock);
    struct batch *b = stack.top;
    if (b != NULL) {
        stack.top = b->next;
        stack.depth--;
        stack.taken++;
        pthread_cond_signal(&stack.not_full);
        /* the last batch: a releaser still waiting for one must wake up and stop */
        if (stack.taken == total_batches) pthread_cond_broadcast(&stack.not_empty);
    }
    pthread_mutex_unlock(&stack.lock);
    return b;
}

/* One more batch to make? The allocators share the total, first come first served. */
static int claim_batch(void) {
    return __atomic_fetch_add(&claimed_batches, 1, __ATOMIC_RELAXED) < total_batches;
}

static void *allocator(void *arg) {
    (void)arg;
    size_t written = block_size < MEMSET_LIMIT ? block_size : MEMSET_LIMIT;
    uint64_t sum = 0, made = 0;
    while (claim_batch()) {
        struct batch *b = malloc(sizeof *b);
        if (b == NULL) die("xmalloc: malloc of a batch failed");
        for (int i = 0; i < BLOCKS_PER_BATCH; i++) {
            void *p = malloc(block_size);
            if (p == NULL) die("xmalloc: malloc failed");
            memset(p, i % 256, written);
            b->blocks[i] = p;
            sum += (uintptr_t)p;
        }
        made += BLOCKS_PER_BATCH;
        push_batch(b);
    }
    __atomic_fetch_add(&pointers_made, sum, __ATOMIC_RELAXED);
    __atomic_fetch_add(&blocks_made, made, __ATOMIC_RELAXED);
    return NULL;
}

static void *releaser(void *arg) {
    struct counter *mine = &counters[(intptr_t)arg];
    uint64_t sum = 0;
    for (struct batch *b; (b = pop_batch()) != NULL;) {
        for (int i = 0; i < BLOCKS_PER_BATCH; i++) {
            sum += (uintptr_t)b->blocks[i];
            free(b->blocks[i]);
        }
        free(b);
        mine->freed += BLOCKS_PER_BATCH;
    }
    __atomic_fetch_add(&pointers_freed, sum, __ATOMIC_RELAXED);
    return NULL;
}

int main(int argc, char **argv) {
    long workers = arg_long(argc, argv, 1, 2);
    total_batches = arg_long(argc, argv, 2, 25000);
    block_size = (size_t)arg_long(argc, argv, 3, 64);
    /* the original mallocs its thread handles and counters: so do we */
    pthread_t *threads = malloc((size_t)workers * 2 * sizeof *threads);
    counters = malloc((size_t)workers * sizeof *counters);
    if (threads == NULL || counters == NULL) die("xmalloc: malloc failed");
    for (long w = 0; w < workers; w++)
        counters[w].freed = 0;

    double t0 = now_sec();
    for (long w = 0; w < workers; w++)
        if (pthread_create(&threads[2 * w], NULL, releaser, (void *)(intptr_t)w) != 0 ||
            pthread_create(&threads[2 * w + 1], NULL, allocator, NULL) != 0)
            die("xmalloc: pthread_create failed");
    for (long t = 0; t < 2 * workers; t++)
        pthread_join(threads[t], NULL);
    double elapsed = now_sec() - t0;

    long freed = 0;
    for (long w = 0; w < workers; w++)
        freed += counters[w].freed;
    metric("ns_per_free", elapsed * 1e9 / (double)(freed > 0 ? freed : 1));
    metric("rss_mib", rss_mib());
    printf("xmalloc: %ld allocators, %ld releasers, %zu B blocks, %ld batches of %d: made %llu "
           "blocks, freed %ld\n",
           workers, workers, block_size, total_batches, BLOCKS_PER_BATCH,
           (unsigned long long)blocks_made, freed);
    int bad = pointers_made != pointers_freed || (uint64_t)freed != blocks_made;
    if (bad) fprintf(stderr, "xmalloc: the blocks freed are not the blocks made\n");
    free(threads);
    free(counters);
    return bad;
}
