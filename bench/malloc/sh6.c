/* sh6.c - `sh6 [THREADS [REPEATS]]`: small blocks of a fixed size sequence, freed a pass at a
 * time from a ring of pointer slots, a fifth of them kept one pass longer, with a leak that
 * grows the heap all run. The shape of MicroQuill's sh6bench as mimalloc-bench builds it (its
 * bench/shbench/sh6bench.patch: BENCH=1, SYS_MULTI_THREAD=1, every prompt answered with its
 * default) and runs it ("sh6benchN": `sh6bench $procsx2`, 4 threads on 2 cores); this is its
 * shape, not its code. `sh6 4` reproduces that invocation (`sh6 4 2500` says the same).
 *
 * - The call count of 10000 is divided by THREADS (default 4, at most 1000): each thread has
 *   SLOTS = 10000 / THREADS pointer slots (2500), in an array it mallocs, and runs REPEATS
 *   repeats (default SLOTS, 2500; the original ties the two, this model lets REPEATS scale the
 *   volume down while the slots stay as they are). THREADS = 1 runs on the main thread, as the
 *   original does.
 * - A repeat mallocs 19,300 blocks: for each base 1, 2, 4, 7, 11, ..., 709 (the next base is
 *   base * 3 / 2 + 1, below 1000), the sizes base, base / 2, ..., 1, each size 250 times in a
 *   row below 100 B and 50 times from 100 B: 57% of blocks are <= 8 B, 69% <= 16 B, the mean
 *   23 B, the largest 709 B. The first and last byte of every block are written.
 * - Each malloc'd pointer goes into the next slot. The slots hold a kept range of SLOTS / 5
 *   slots from the previous pass, which the cursor jumps over; when the cursor reaches the
 *   end, the pass ends: the slots below the next kept range are freed in allocation order,
 *   those above it in reverse order (from the top down), and the kept range moves up by a
 *   fifth, back to slot 0 after the top. A kept block thus lives one pass more than the rest.
 * - The jump is taken only when the cursor steps onto the kept range after a store, so when
 *   the kept range starts at slot 0 (every fifth pass) the pass stores over its 500 pointers
 *   and allocates 2500 blocks instead of 2000: 500 blocks in 10,500 (4.8%) are never freed,
 *   and each thread's heap grows all run (about 2.3 M blocks per thread at full size).
 * - At the end a thread frees the slots below its cursor, then its slot array.
 * Threads share nothing: no block crosses threads. Volume: THREADS * REPEATS * 19,300 mallocs
 * (193 M at full size).
 *
 * What this adds: the first byte of a block holds a tag of its slot (the original writes 0
 * there), read back when the block is freed; a mismatch counts as corrupt. That byte's line
 * is the one a free touches anyway (a header beside it, or a free-list link in it), so the
 * check adds no cache misses. The last byte is written 0, as in the original. */
#include "bench_util.h"

#include <pthread.h>

#define CALL_COUNT    10000 /* the original's call count, shared out among the threads */
#define MAX_BASE      1000  /* sizes stay below the original's max block size */
#define MAX_THREADS   1000
#define MAX_RUNS      128 /* runs of one size per repeat: 86 */
#define SMALL_RUN     250 /* blocks in a row of a size below 100 B */
#define LARGE_RUN     50  /* ... of 100 B or more */
#define RUN_THRESHOLD 100

struct run {
    int size, count;
};

/* One repeat's sizes, the same for every thread. */
static struct run runs[MAX_RUNS];
static int run_count;
static long slots_per_thread, repeats;

struct tally {
    uint64_t mallocs, frees, bad;
};

struct worker {
    pthread_t tid;
    struct tally tally;
} PER_THREAD;

/* The ring of slots a thread keeps its pointers in; the kept range is [kept_lo, kept_hi). */
struct slots {
    char **ptr;
    size_t n, cursor, kept_lo, kept_hi;
};

static void build_size_sequence(void) {
    for (int base = 1; base < MAX_BASE; base = base * 3 / 2 + 1)
        for (int size = base; size > 0; size /= 2) {
            if (run_count == MAX_RUNS) die("sh6: too many runs");
            runs[run_count++] = (struct run){size, size < RUN_THRESHOLD ? SMALL_RUN : LARGE_RUN};
        }
}

/* The byte a block in slot i starts with: neighbouring slots differ. */
static inline unsigned char slot_tag(size_t i) {
    return (unsigned char)(i * 167 + 1);
}

static inline void free_slot(struct slots *s, size_t i, struct tally *t) {
    char *p = s->ptr[i];
    t->bad += (unsigned char)p[0] != slot_tag(i);
    free(p);
    t->frees++;
}

/* The cursor reached the top: move the kept range up a fifth (to slot 0 after the top), free
 * what lies below it in allocation order and what lies above it from the top down. The old
 * kept range is among the freed; the blocks in the new one live through the next pass. */
static void end_pass(struct slots *s, struct tally *t) {
    size_t lo = s->kept_hi < s->n ? s->kept_hi : 0;
    size_t hi = lo + s->n / 5 < s->n ? lo + s->n / 5 : s->n;
    for (size_t i = 0; i < lo; i++)
        free_slot(s, i, t);
    for (size_t i = s->n; i > hi; i--)
        free_slot(s, i - 1, t);
    s->kept_lo = lo;
    s->kept_hi = hi;
    s->cursor = 0;
}

static inline void place(struct slots *s, char *p, struct tally *t) {
    s->ptr[s->cursor++] = p;
    /* Checked only after the store, as in the original: a kept range at slot 0 is never
     * jumped over, and the pass writes over (leaks) its pointers. */
    if (s->cursor == s->kept_lo) s->cursor = s->kept_hi;
    if (s->cursor >= s->n) end_pass(s, t);
}

static void run_repeat(struct slots *s, struct tally *t) {
    for (int r = 0; r < run_count; r++) {
        int size = runs[r].size;
        for (int k = 0; k < runs[r].count; k++) {
            char *p = malloc((size_t)size);
            if (p == NULL) die("sh6: out of memory");
            p[size - 1] = 0;
            p[0] = (char)slot_tag(s->cursor);
            t->mallocs++;
            place(s, p, t);
        }
    }
}

static void *bench_thread(void *arg) {
    struct worker *w = arg;
    size_t n = (size_t)slots_per_thread;
    /* the original mallocs its slot array: part of the shape */
    struct slots s = {malloc(n * sizeof(char *)), n, 0, n, n};
    if (s.ptr == NULL) die("sh6: out of memory");
    for (long r = 0; r < repeats; r++)
        run_repeat(&s, &w->tally);
    /* Only the slots below the cursor: the rest were freed or are leaked. */
    for (size_t i = 0; i < s.cursor; i++)
        free_slot(&s, i, &w->tally);
    free(s.ptr);
    return NULL;
}

static void run_threads(struct worker *w, long threads) {
    if (threads == 1) {
        bench_thread(&w[0]);
        return;
    }
    /* the original mallocs its thread ids too */
    pthread_t *ids = malloc((size_t)threads * sizeof *ids);
    if (ids == NULL) die("sh6: out of memory");
    for (long t = 0; t < threads; t++)
        if (pthread_create(&ids[t], NULL, bench_thread, &w[t]) != 0)
            die("sh6: pthread_create failed");
    for (long t = threads; t > 0; t--)
        pthread_join(ids[t - 1], NULL);
    free(ids);
}

int main(int argc, char **argv) {
    long threads = arg_long(argc, argv, 1, 4);
    if (threads > MAX_THREADS) die("sh6: at most 1000 threads");
    slots_per_thread = CALL_COUNT / threads;
    repeats = arg_long(argc, argv, 2, slots_per_thread);
    build_size_sequence();
    struct worker *w = bench_array((size_t)threads * sizeof *w);

    double t0 = now_sec();
    run_threads(w, threads);
    double elapsed = now_sec() - t0;

    struct tally sum = {0, 0, 0};
    for (long t = 0; t < threads; t++) {
        sum.mallocs += w[t].tally.mallocs;
        sum.frees += w[t].tally.frees;
        sum.bad += w[t].tally.bad;
    }
    metric("ns_per_malloc", elapsed * 1e9 / (double)sum.mallocs);
    metric("rss_mib", rss_mib());
    printf("sh6: %ld threads, %ld slots, %ld repeats, %llu mallocs, %llu frees, %llu never freed, "
           "corrupt %llu\n",
           threads, slots_per_thread, repeats, (unsigned long long)sum.mallocs,
           (unsigned long long)sum.frees, (unsigned long long)(sum.mallocs - sum.frees),
           (unsigned long long)sum.bad);
    return sum.bad != 0;
}
