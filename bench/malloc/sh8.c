/* sh8.c - `sh8 [THREADS [ITERATIONS [FOREIGN [HEAP]]]]`: MicroQuill's SmartHeap benchmark
 * sh8bench in the shape mimalloc-bench builds and runs it ("sh8benchN": SH8BENCH.C with its
 * bench/shbench/sh8bench.patch, built with BENCH, SYS_MULTI_THREAD and NDEBUG and run as
 * `sh8bench $procsx2`, so every other parameter takes its default; this is its shape, not its
 * code). `sh8` with no arguments is that invocation on 2 cores: THREADS 4 workers, ITERATIONS
 * 700,000 shared out (175,000 each), FOREIGN 10,000,000 main-thread blocks, HEAP 1,000,000
 * slots shared out (250,000 each). Quick size: `sh8 4 70000 1000000`, a tenth of both volumes
 * (scale FOREIGN with ITERATIONS, or the workers end before the main thread has made its
 * blocks and leave most of them unfreed).
 *
 * - The main thread mallocs its bookkeeping (the thread ids, the workers' records and an array
 *   of FOREIGN slots, zeroed), starts the workers, and while they run mallocs FOREIGN blocks of
 *   8 B one after another, writing into each its slot's address before publishing it in the
 *   slot. It frees none of them. FOREIGN is rounded down to a multiple of THREADS^2.
 * - The slots form THREADS regions, each cut into THREADS chunks; worker t frees chunk t of
 *   every region in slot order (625,000 of each region, 2.5 M in all). At the top of each
 *   iteration it frees on from where it stopped until it meets a slot the main thread has not
 *   filled yet, or has freed its share. So every cross-thread free is of a block of one thread
 *   that only allocates, most of them early in the run: worker 0 trails the main thread from
 *   its first block, worker t waits until it passes slot t * 625,000.
 * - Each worker mallocs an array of HEAP / THREADS slots (it is part of the heap, as in the
 *   original) and runs ITERATIONS / THREADS iterations. Iteration i takes entry i % 12 of this
 *   (size x count) cycle: 16x5000, 48x1000, 72x100, 148x100, 200x100, 520x10, 1056x5, 4096x3,
 *   9162, 34562, 168524, 8x1000 (the original's table from its second entry, which is where its
 *   pre-increment starts), 7321 steps and 413,016 B a cycle, 56 B a block on average.
 * - A step mallocs a block of that size into the next slot and writes its first and last byte,
 *   skipping the window of kept slots. When the slots are used up the step mallocs nothing: it
 *   moves the window up a fifth (back to the bottom after the top; the first is the bottom) and
 *   frees every block outside it, those below it in allocation order, those above in reverse.
 *   So the first 250,000 mallocs fill every slot, and from then on 200,000 mallocs alternate
 *   with 200,000 frees, 50,000 to 250,000 blocks live (about 14 MB at the most).
 * - The workers end holding their array and its live blocks (the original's clean-up is
 *   compiled out); the main thread joins them in reverse order and frees its bookkeeping,
 *   including the slot array, but not the blocks of it the workers did not reach.
 * At full scale a worker mallocs 106,767,810 blocks (in 106,768,343 steps, 533 of them
 * wraps) and frees 106,600,000 of them: 427 M worker mallocs and 10 M of the main thread's.
 * The clock runs, as the original's, from the workers' start to the main thread's last free;
 * ns_per_malloc on stderr is that time over every thread's mallocs. wrap_cpu_s is the workers'
 * CPU time in their wraps (the free-only phases) and worker_cpu_s in all, each thread's own
 * clock read around each wrap: how the allocator's frees and mallocs share the run, which the
 * wall time of 4 threads on 2 cores does not say (docs/thread-owned-slabs.md, "In allocation
 * order", session 40).
 *
 * Checks (the original has none under NDEBUG): the first word of every block holds the address
 * of the slot that holds it (the original writes a zero byte there, the same store), read back
 * just before the block's free, on the line free touches anyway; a block handed out twice while
 * live carries the later slot's address for both. Differences: the slots are published and
 * read with release and acquire atomics (on x86 the same plain moves as the original's
 * volatile accesses); a failed malloc dies. Stdout holds the counts, which do not depend on
 * timing; how many of the main thread's blocks the workers freed does (all of them at full
 * scale), so it goes to stderr as foreign_freed. */
#include "bench_util.h"

#include <pthread.h>
#include <sys/resource.h>

#define FOREIGN_SIZE 8 /* the first size of the original's table */
#define KEPT_PARTS   5 /* each wrap keeps a fifth of a worker's slots */

struct size_run {
    size_t size;
    long count;
};

static const struct size_run size_table[] = {
    {8, 1000}, {16, 5000}, {48, 1000}, {72, 100}, {148, 100}, {200, 100},
    {520, 10}, {1056, 5},  {4096, 3},  {9162, 1}, {34562, 1}, {168524, 1},
};
#define TABLE_LEN ((long)(sizeof size_table / sizeof size_table[0]))

/* The shape, fixed before the workers start. */
static long iterations, heap_slots, region_slots, chunk_slots;
static void **foreign_slots; /* the main thread's blocks; a slot is NULL until filled */

struct worker {
    long index;
    uint64_t mallocs, frees, foreign_freed, bad;
    double wrap_cpu_s, worker_cpu_s; /* the thread's CPU time in its wraps, and in all */
};

/* The calling thread's CPU time: a phase's own cost, which wall time on a machine with fewer
 * cores than threads is not. */
static double thread_cpu_sec(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Where a worker is in its share of the main thread's blocks. */
struct foreign_cursor {
    long next;     /* the next slot to free */
    long left;     /* frees still to do */
    long in_chunk; /* frees left in the current chunk */
};

/* A worker's slots: next is the next to fill, [keep_start, keep_end) the window of blocks the
 * last wrap kept, which filling skips. */
struct own_slots {
    char **slot;
    long next, keep_start, keep_end;
};

/* Frees the block in *slot, checking that it still names the slot. */
static void free_checked(void **slot, void *block, struct worker *w) {
    void *tag;
    memcpy(&tag, block, sizeof tag);
    w->bad += tag != (void *)slot;
    free(block);
}

/* Frees the main thread's blocks from the cursor on, up to the first slot not filled yet. */
static void free_foreign_burst(struct foreign_cursor *c, struct worker *w) {
    while (c->left > 0) {
        void **slot = &foreign_slots[c->next];
        void *block = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
        if (block == NULL) return;
        free_checked(slot, block, w);
        w->foreign_freed++;
        c->next++;
        c->left--;
        if (--c->in_chunk == 0) { /* on to this worker's chunk of the next region */
            c->in_chunk = chunk_slots;
            c->next += region_slots - chunk_slots;
        }
    }
}

/* The wrap: moves the kept window up a fifth and frees every block outside it, those below in
 * allocation order, those above in reverse. */
static void wrap(struct own_slots *s, struct worker *w) {
    s->keep_start = s->keep_end >= heap_slots ? 0 : s->keep_end;
    s->keep_end = s->keep_start + heap_slots / KEPT_PARTS;
    if (s->keep_end > heap_slots) s->keep_end = heap_slots;
    for (long i = 0; i < s->keep_start; i++)
        free_checked((void **)&s->slot[i], s->slot[i], w);
    for (long i = heap_slots - 1; i >= s->keep_end; i--)
        free_checked((void **)&s->slot[i], s->slot[i], w);
    w->frees += (uint64_t)(s->keep_start + heap_slots - s->keep_end);
    s->next = 0;
}

/* One step: a malloc into the next free slot, or a wrap when the slots are used up. */
static void own_step(struct own_slots *s, size_t size, struct worker *w) {
    if (s->next == s->keep_start) s->next = s->keep_end;
    if (s->next >= heap_slots) {
        double t0 = thread_cpu_sec();
        wrap(s, w);
        w->wrap_cpu_s += thread_cpu_sec() - t0;
        return;
    }
    char **slot = &s->slot[s->next++];
    char *p = malloc(size);
    if (p == NULL) die("sh8: malloc failed");
    p[size - 1] = 0; /* the original's last byte; an 8 B block's tag covers it next */
    memcpy(p, &slot, sizeof slot);
    *slot = p;
    w->mallocs++;
}

static void *run_worker(void *arg) {
    /* counted on the stack: the records share cache lines (the original's workers count nothing) */
    struct worker mine = *(struct worker *)arg, *w = &mine;
    double cpu0 = thread_cpu_sec();
    struct foreign_cursor c = {chunk_slots * w->index, foreign_slots ? region_slots : 0,
                               chunk_slots};
    struct own_slots s = {malloc((size_t)heap_slots * sizeof(char *)), 0, heap_slots, heap_slots};
    if (s.slot == NULL) die("sh8: malloc of a worker's slots failed");
    long entry = 0;
    for (long i = 0; i < iterations; i++) {
        free_foreign_burst(&c, w);
        if (++entry == TABLE_LEN) entry = 0;
        for (long n = size_table[entry].count; n > 0; n--)
            own_step(&s, size_table[entry].size, w);
    }
    mine.worker_cpu_s = thread_cpu_sec() - cpu0;
    *(struct worker *)arg = mine;
    return NULL; /* s.slot and its live blocks stay allocated, as in the original */
}

/* The main thread's blocks, each naming its slot, published in slot order. */
static void make_foreign_blocks(long count) {
    for (long i = 0; i < count; i++) {
        void **block = malloc(FOREIGN_SIZE);
        if (block == NULL) die("sh8: malloc of a main-thread block failed");
        *block = &foreign_slots[i];
        __atomic_store_n(&foreign_slots[i], (void *)block, __ATOMIC_RELEASE);
    }
}

static double peak_rss_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

int main(int argc, char **argv) {
    long threads = arg_long(argc, argv, 1, 4), total_iterations = arg_long(argc, argv, 2, 700000);
    long foreign = arg_long(argc, argv, 3, 10000000), heap = arg_long(argc, argv, 4, 1000000);
    foreign = foreign / (threads * threads) * (threads * threads);
    iterations = total_iterations / threads;
    heap_slots = heap / threads;
    region_slots = foreign / threads;
    chunk_slots = region_slots / threads;

    pthread_t *tids = malloc((size_t)threads * sizeof *tids);
    if (foreign > 0) foreign_slots = malloc((size_t)foreign * sizeof *foreign_slots);
    struct worker *w = malloc((size_t)threads * sizeof *w);
    if (tids == NULL || w == NULL || (foreign > 0 && foreign_slots == NULL))
        die("sh8: malloc of the bookkeeping failed");
    if (foreign > 0) memset(foreign_slots, 0, (size_t)foreign * sizeof *foreign_slots);

    double t0 = now_sec();
    for (long t = 0; t < threads; t++) {
        w[t] = (struct worker){.index = t};
        if (pthread_create(&tids[t], NULL, run_worker, &w[t]) != 0)
            die("sh8: pthread_create failed");
    }
    make_foreign_blocks(foreign);
    double filled = now_sec() - t0;
    uint64_t mallocs = 0, frees = 0, foreign_freed = 0, bad = 0;
    double wrap_cpu = 0, worker_cpu = 0;
    for (long t = threads - 1; t >= 0; t--) {
        pthread_join(tids[t], NULL);
        wrap_cpu += w[t].wrap_cpu_s;
        worker_cpu += w[t].worker_cpu_s;
        mallocs += w[t].mallocs;
        frees += w[t].frees;
        foreign_freed += w[t].foreign_freed;
        bad += w[t].bad;
    }
    free(tids);
    free(foreign_slots);
    free(w);
    double elapsed = now_sec() - t0;

    metric("ns_per_malloc", elapsed * 1e9 / (double)(mallocs + (uint64_t)foreign));
    metric("elapsed_s", elapsed);
    metric("main_fill_s", filled);
    metric("wrap_cpu_s", wrap_cpu); /* the free-only phases, all workers */
    metric("worker_cpu_s", worker_cpu);
    metric("foreign_freed", (double)foreign_freed);
    metric("rss_mib", rss_mib());
    metric("peak_rss_mib", peak_rss_mib());
    printf("sh8: %ld threads x %ld iterations, %ld slots each, %ld main-thread blocks; "
           "worker mallocs %llu, frees %llu, left live %llu; corrupt %llu\n",
           threads, iterations, heap_slots, foreign, (unsigned long long)mallocs,
           (unsigned long long)frees, (unsigned long long)(mallocs - frees),
           (unsigned long long)bad);
    return bad != 0;
}
