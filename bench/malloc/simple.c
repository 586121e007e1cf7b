/* simple.c - `simple [PAIRS [SIZE]]`: batches of malloc and free of one fixed size, in the shape
 * of glibc's bench-malloc-simple as mimalloc-bench runs it ("glibc-simple": its
 * bench/glibc-bench/bench-malloc-simple.c, run with no arguments; this is its shape, not its
 * code). `simple` with no arguments reproduces that invocation.
 *
 * Three sizes in turn: SIZE, 2 * SIZE, 4 * SIZE bytes (SIZE default 16: 16, 32, 64 B). For each
 * size the main thread mallocs an array of 1600 slots (the original mallocs it too), then runs
 * four phases, each a pass of four batch sizes n = 25, 100, 400, 1600, and each batch size
 * PAIRS / n rounds (PAIRS default 2,000,000: 80,000, 20,000, 5,000 and 1,250 rounds, 2 M pairs
 * per batch size and phase):
 * - a warm-up pass in the main thread, then a second pass there;
 * - a pass in a new thread, which uses the main thread's slots and is joined;
 * - a pass in the main thread again, now that the process has had a second thread.
 * A round mallocs n blocks into the slots, writing every byte of each block (byte g gets g)
 * as soon as it is allocated, then frees the first half of the slots oldest first and the
 * rest newest first: the first block freed is the first allocated, the last freed is the one
 * in the middle. Nothing else lives, so a round's blocks are all the heap holds. 96 M pairs at
 * the defaults. The main thread is single-threaded only until the first size's thread
 * starts: glibc keeps its multi-threaded path (locked arena operations) for the rest of the
 * process, so the later sizes' first main passes run on it too, as in the original.
 *
 * The bytes are written through the slot, as the original writes them: a char store may
 * alias the slot, so the compiler reloads the block's address for every byte and cannot
 * vectorise the loop, and the writes cost what they cost there. The original reads nothing;
 * the only addition is a check of the first and last byte of the first and last block of
 * each round, just before they are freed (two loads a round, from blocks still in cache).
 *
 * stdout: the sizes, the pairs per kind of phase and the bad blocks found (nonzero exit if
 * any). stderr: ns per malloc+free pair over the whole run (wall time, thread start and join
 * included) and per kind of phase: the main thread while the process is single-threaded
 * (the first size's warm-up and second pass), the new threads, and the main thread after a
 * thread has existed; rss_mib at the end. PAIRS scales the volume (200000 for a quick run). */
#include "bench_util.h"

#include <pthread.h>

#define DEFAULT_PAIRS 2000000 /* pairs per batch size and phase */
#define DEFAULT_SIZE  16
#define SIZES         3 /* SIZE, then doubled twice */
#define BATCH_SIZES   4
#define MAX_BATCH     1600

static const int batch_sizes[BATCH_SIZES] = {25, 100, 400, MAX_BATCH};

enum phase_kind { MAIN_SINGLE, THREAD, MAIN_MULTI, PHASE_KINDS };
static const char *const kind_names[PHASE_KINDS] = {"main_st", "thread", "main_mt"};

struct run {
    long pairs_per_batch_size;
    size_t size;
    char **slots;
    int had_thread; /* the process has had a second thread: glibc's path changed for good */
    double seconds[PHASE_KINDS];
    uint64_t pairs[PHASE_KINDS];
    uint64_t bad;
};

/* Every byte of the block in *slot gets its offset, written through the slot as the
 * original's loop does (see the header). */
static inline void fill_through_slot(char **slot, size_t size) {
    for (size_t g = 0; g < size; g++)
        (*slot)[g] = (char)g;
}

static int block_ok(const char *block, size_t size) {
    return block[0] == 0 && block[size - 1] == (char)(size - 1);
}

/* `rounds` rounds of n blocks; the number of bad blocks seen. */
static uint64_t run_batches(char **slots, size_t size, int n, long rounds) {
    uint64_t bad = 0;
    for (long r = 0; r < rounds; r++) {
        for (int i = 0; i < n; i++) {
            slots[i] = malloc(size);
            if (slots[i] == NULL) die("simple: malloc failed");
            fill_through_slot(&slots[i], size);
        }
        bad += !block_ok(slots[0], size) + !block_ok(slots[n - 1], size);
        for (int i = 0; i < n / 2; i++) /* first half: oldest first */
            free(slots[i]);
        for (int i = n - 1; i >= n / 2; i--) /* second half: newest first */
            free(slots[i]);
    }
    return bad;
}

/* One pass over the batch sizes, counted and timed as `kind`. */
static void run_pass(struct run *run, enum phase_kind kind) {
    double t0 = now_sec();
    for (int b = 0; b < BATCH_SIZES; b++) {
        int n = batch_sizes[b];
        long rounds = run->pairs_per_batch_size / n;
        run->bad += run_batches(run->slots, run->size, n, rounds);
        run->pairs[kind] += (uint64_t)rounds * (uint64_t)n;
    }
    run->seconds[kind] += now_sec() - t0;
}

static enum phase_kind main_kind(const struct run *run) {
    return run->had_thread ? MAIN_MULTI : MAIN_SINGLE;
}

static void *thread_pass(void *arg) {
    run_pass(arg, THREAD);
    return NULL;
}

/* The four phases of one size, in the original's order. */
static void run_size(struct run *run, size_t size) {
    run->size = size;
    run->slots = malloc(MAX_BATCH * sizeof *run->slots);
    if (run->slots == NULL) die("simple: malloc failed");
    run_pass(run, main_kind(run)); /* warm-up */
    run_pass(run, main_kind(run));
    pthread_t tid;
    if (pthread_create(&tid, NULL, thread_pass, run) != 0) die("simple: pthread_create failed");
    pthread_join(tid, NULL);
    run->had_thread = 1;
    run_pass(run, main_kind(run));
    free(run->slots);
}

int main(int argc, char **argv) {
    long pairs = arg_long(argc, argv, 1, DEFAULT_PAIRS);
    size_t size = (size_t)arg_long(argc, argv, 2, DEFAULT_SIZE);
    struct run run = {.pairs_per_batch_size = pairs};
    double t0 = now_sec();
    for (int s = 0; s < SIZES; s++)
        run_size(&run, size << s);
    double seconds = now_sec() - t0;

    uint64_t total = 0;
    for (int k = 0; k < PHASE_KINDS; k++) {
        char name[64];
        total += run.pairs[k];
        snprintf(name, sizeof name, "ns_per_pair_%s", kind_names[k]);
        if (run.pairs[k] > 0) metric(name, run.seconds[k] * 1e9 / (double)run.pairs[k]);
    }
    if (total > 0) metric("ns_per_pair", seconds * 1e9 / (double)total);
    metric("rss_mib", rss_mib());
    printf("simple: sizes %zu %zu %zu B, batches 25 100 400 1600, %llu pairs (main single-threaded "
           "%llu, thread %llu, main multi-threaded %llu), bad blocks %llu\n",
           size, size << 1, size << 2, (unsigned long long)total,
           (unsigned long long)run.pairs[MAIN_SINGLE], (unsigned long long)run.pairs[THREAD],
           (unsigned long long)run.pairs[MAIN_MULTI], (unsigned long long)run.bad);
    return run.bad != 0;
}
