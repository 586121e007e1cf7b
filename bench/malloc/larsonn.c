/* larsonn.c - `larsonn [GENERATIONS [THREADS [SLOTS [ROUNDS]]]]`: the shape of mimalloc-bench's
 * "larsonN" (its bench/larson/larson.cpp, which mimalloc-bench runs as
 * `larson 5 8 1000 5000 100 4141 $procs`, $procs = 2 here; this is its shape, not its code).
 * - The main thread allocates THREADS x SLOTS blocks (default 2 x 5000) of 8-999 B, uniform,
 *   shuffles the array, and replaces 4 x THREADS x SLOTS random blocks (free a random slot's
 *   block, allocate a new one); none of these blocks is written.
 * - Each of THREADS threads then owns a disjoint slice of SLOTS slots. One generation is
 *   ROUNDS x SLOTS (default 100 x 5000) iterations: pick a random slot of the slice, free its
 *   block, allocate one of 8-999 B, write its byte 0, read it back, write byte 1. The freed block
 *   is not read. At the end of a generation the thread starts its successor on the same slice
 *   (the same RNG state) and exits without being joined, so nearly every block a thread frees
 *   was allocated by a dead thread: the allocator's thread exit and abandoned-heap paths run
 *   once per generation per slice.
 * Differences from the original, all deliberate:
 * - malloc/free instead of C++ new[]/delete[] (this is a C suite);
 * - a fixed GENERATIONS generations per slice (default 250: about 3 s under glibc here, some
 *   12 ns a replacement) instead of a fixed 5 s, so that the runner's wall time measures the
 *   work; the last generation of each slice signals the main thread through a counter and a
 *   condition variable (no join, nothing in the hot path); as in the original, no generation
 *   is ever joined (their stacks stay mapped, as the original's do);
 * - xorshift64* (bench_util.h) instead of the original's lran2, which costs several divisions
 *   per number; sizes are 8 + a value below 992, as the original's min + rand % (max - min);
 * - the byte read back is counted when it is not 'a', and after the timed phase each block
 *   written by a worker has its two bytes checked (10,000 reads, outside the timing).
 * The defaults reproduce the original's invocation (bar its 5 s). Quick size: `larsonn 50`.
 * stderr: ns_per_replacement (parallel wall time / all threads' replacements) and rss_mib. */
#include "bench_util.h"

#include <pthread.h>

#define MIN_SIZE       8
#define SIZE_RANGE     992 /* the original's max - min: sizes 8-999 */
#define SEED           4141
#define WARMUP_PASSES  4
#define WARM_FLAG      0x80000000U /* a slot still holding a warm-up block (never written) */
#define CHECKSUM_PRIME 0x100000001b3ULL

/* One slice of the slot array and the state its chain of generations hands down. */
struct slice {
    char **block;
    uint32_t *size;
    long slots, iterations, generations_left, replaced, bad;
    uint64_t rng;
} __attribute__((aligned(128)));

static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static long slices_done;

static uint32_t random_size(uint64_t *rng) {
    return MIN_SIZE + (uint32_t)rng_below(rng, SIZE_RANGE);
}

static char *alloc_block(uint32_t size) {
    char *p = malloc(size);
    if (p == NULL) die("larsonn: malloc failed");
    return p;
}

/* The main thread's warm-up over all slots: fill, shuffle, then random replacements. */
static void warm_up(char **block, uint32_t *size, long n, uint64_t *rng) {
    for (long i = 0; i < n; i++) {
        size[i] = random_size(rng);
        block[i] = alloc_block(size[i]);
    }
    for (long left = n; left > 0; left--) {
        long victim = (long)rng_below(rng, (uint64_t)left);
        char *b = block[victim];
        uint32_t s = size[victim];
        block[victim] = block[left - 1], size[victim] = size[left - 1];
        block[left - 1] = b, size[left - 1] = s;
    }
    for (long k = 0; k < WARMUP_PASSES * n; k++) {
        long victim = (long)rng_below(rng, (uint64_t)n);
        free(block[victim]);
        size[victim] = random_size(rng);
        block[victim] = alloc_block(size[victim]);
    }
    for (long i = 0; i < n; i++)
        size[i] |= WARM_FLAG;
}

static void *generation(void *arg);

static void start_generation(struct slice *s) {
    pthread_t tid; /* never joined, as in the original */
    if (pthread_create(&tid, NULL, generation, s) != 0) die("larsonn: pthread_create failed");
}

static void *generation(void *arg) {
    struct slice *s = arg;
    uint64_t rng = s->rng;
    long bad = 0;
    for (long k = 0; k < s->iterations; k++) {
        long victim = (long)rng_below(&rng, (uint64_t)s->slots);
        free(s->block[victim]);
        uint32_t size = random_size(&rng);
        volatile char *p = alloc_block(size);
        s->block[victim] = (char *)p;
        s->size[victim] = size;
        p[0] = 'a';
        bad += p[0] != 'a';
        p[1] = 'b';
    }
    s->rng = rng;
    s->replaced += s->iterations;
    s->bad += bad;
    if (--s->generations_left > 0) {
        start_generation(s); /* the successor takes the slice; this thread exits */
    } else {
        pthread_mutex_lock(&done_lock);
        slices_done++;
        pthread_cond_signal(&done_cond);
        pthread_mutex_unlock(&done_lock);
    }
    return NULL;
}

/* Checks the worker-written blocks and hashes every slot's size: neither depends on timing. */
static uint64_t final_check(char **block, const uint32_t *size, long n, long *bad) {
    uint64_t sum = 0xcbf29ce484222325ULL;
    for (long i = 0; i < n; i++) {
        if (!(size[i] & WARM_FLAG)) *bad += block[i][0] != 'a' || block[i][1] != 'b';
        sum = (sum ^ size[i]) * CHECKSUM_PRIME;
    }
    return sum;
}

int main(int argc, char **argv) {
    long generations = arg_long(argc, argv, 1, 250), threads = arg_long(argc, argv, 2, 2);
    long slots = arg_long(argc, argv, 3, 5000), rounds = arg_long(argc, argv, 4, 100);
    long n = threads * slots, replaced = 0, bad = 0;
    char **block = bench_array((size_t)n * sizeof *block);
    uint32_t *size = bench_array((size_t)n * sizeof *size);
    struct slice *slice = bench_array((size_t)threads * sizeof *slice);
    uint64_t rng = 0x9E3779B97F4A7C15ULL * SEED;
    warm_up(block, size, n, &rng);
    for (long t = 0; t < threads; t++)
        slice[t] = (struct slice){.block = block + t * slots,
                                  .size = size + t * slots,
                                  .slots = slots,
                                  .iterations = rounds * slots,
                                  .generations_left = generations,
                                  .rng = rng_next(&rng) | 1};
    double t0 = now_sec();
    for (long t = 0; t < threads; t++)
        start_generation(&slice[t]);
    pthread_mutex_lock(&done_lock);
    while (slices_done < threads)
        pthread_cond_wait(&done_cond, &done_lock);
    pthread_mutex_unlock(&done_lock);
    double elapsed = now_sec() - t0;
    for (long t = 0; t < threads; t++)
        replaced += slice[t].replaced, bad += slice[t].bad;
    metric("ns_per_replacement", elapsed * 1e9 / (double)replaced);
    metric("rss_mib", rss_mib());
    uint64_t sum = final_check(block, size, n, &bad);
    printf("larsonn: %ld threads, %ld generations each, %ld replacements, checksum %016llx, "
           "corrupt %ld\n",
           threads, generations, replaced, (unsigned long long)sum, bad);
    return bad != 0;
}
