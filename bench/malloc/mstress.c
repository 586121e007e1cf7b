/* mstress.c - `mstress [THREADS [SCALE [ROUNDS]]]`: a multi-threaded allocation stress in the
 * shape of mimalloc-bench's "mstress" (its bench/mstress/mstress.c, which mimalloc-bench runs as
 * `mstress $procs 50 25`; this is its shape, not its code). Each of ROUNDS rounds (default 10)
 * starts THREADS threads (default 4) and joins them, so threads come and go all the time.
 * Thread t makes 100 * SCALE * (t % 8 + 1) short-lived blocks (SCALE default 50) and half as
 * many retained ones, in a random order:
 * - a short-lived block is 1-16 words, a retained one 1-64 words, sizes linear in powers of two
 *   (uniform in the power); 2 blocks in 100 are scaled up: of those, 2 in 100 by 10,000, 11 in
 *   100 of the rest by 1,000, the others by 100 (the largest 5 MiB; a 40-word block is made 41,
 *   as the original does to dodge a size glibc's threads use);
 * - every block comes from malloc and is filled word by word; it is checked word by word when
 *   it is freed (a block that changed under the program counts as corrupt);
 * - after each step, a random short-lived block is freed 67 times in 100, and 26 times in 100
 *   one is swapped with a random entry of a shared array of 1,000 (an atomic exchange): blocks
 *   cross threads, and outlive the thread that made them;
 * - the thread's own array of short-lived blocks grows by realloc, a large block.
 * A thread frees its retained blocks, then its short-lived ones, then both arrays as it ends.
 * Between rounds the main thread frees 51 in 100 of the shared array's blocks, and all of them
 * at the end. The odds are the original's: its `chance(p)` is `random % 100 <= p`, p + 1 in
 * 100. Every thread both allocates and frees, sizes range from 8 B to 5 MiB, and a thread's
 * set-up and exit are part of the cost. */
#include "bench_util.h"

#include <pthread.h>

#define TRANSFERS    1000
#define COOKIE       0xbf58476d1ce4e5b9ULL
#define GROW_BY      100000 /* entries the short-lived array grows by */
#define SHORT_SHIFT  5      /* short-lived blocks: 1 << (0..4) words */
#define RETAIN_SHIFT 7      /* retained blocks: 1 << (0..6) words */
#define DODGED_WORDS 40     /* the original makes such a block one word longer */

static void *transfer[TRANSFERS];
static long scale;

struct worker {
    pthread_t tid;
    uint64_t seed, made, bad;
} PER_THREAD;

/* The original's odds: true p + 1 times in 100. */
static int chance(uint64_t *rng, unsigned p) {
    return rng_below(rng, 100) <= p;
}

/* Words of a block drawn as `words`: 2 in 100 scaled up. */
static size_t scaled_words(uint64_t *rng, size_t words) {
    if (chance(rng, 1)) {
        if (chance(rng, 1))
            words *= 10000;
        else if (chance(rng, 10))
            words *= 1000;
        else
            words *= 100;
    }
    return words == DODGED_WORDS ? words + 1 : words;
}

static uint64_t *make_block(uint64_t *rng, unsigned max_shift, uint64_t *made) {
    size_t words = scaled_words(rng, (size_t)1 << rng_below(rng, max_shift));
    uint64_t *p = malloc(words * sizeof *p);
    if (p == NULL) die("mstress: malloc failed");
    for (size_t i = 0; i < words; i++)
        p[i] = (words - i) ^ COOKIE;
    (*made)++;
    return p;
}

/* Checks and frees p (NULL is allowed); the number of words found wrong. */
static uint64_t check_free(uint64_t *p) {
    if (p == NULL) return 0;
    uint64_t bad = 0, words = p[0] ^ COOKIE;
    for (size_t i = 0; i < words; i++)
        bad += (p[i] ^ COOKIE) != words - i;
    free(p);
    return bad;
}

static void *stress(void *arg) {
    struct worker *w = arg;
    uint64_t rng = w->seed;
    long tid = (long)(w->seed % 8);
    long allocs = 100 * scale * (tid + 1), retain = allocs / 2;
    size_t top = 0, room = 0, kept_top = 0;
    uint64_t **live = NULL, **kept = malloc((size_t)retain * sizeof *kept);
    if (kept == NULL && retain > 0) die("mstress: malloc failed");
    while (allocs > 0 || retain > 0) {
        if (retain == 0 || (chance(&rng, 50) && allocs > 0)) {
            if (top == room) {
                room += GROW_BY;
                live = realloc(live, room * sizeof *live);
                if (live == NULL) die("mstress: realloc failed");
            }
            live[top++] = make_block(&rng, SHORT_SHIFT, &w->made);
            allocs--;
        } else {
            kept[kept_top++] = make_block(&rng, RETAIN_SHIFT, &w->made);
            retain--;
        }
        if (chance(&rng, 66) && top > 0) {
            size_t i = rng_below(&rng, top);
            w->bad += check_free(live[i]);
            live[i] = NULL;
        }
        if (chance(&rng, 25) && top > 0) {
            size_t i = rng_below(&rng, top), j = rng_below(&rng, TRANSFERS);
            live[i] = __atomic_exchange_n(&transfer[j], live[i], __ATOMIC_ACQ_REL);
        }
    }
    for (size_t i = 0; i < kept_top; i++)
        w->bad += check_free(kept[i]);
    for (size_t i = 0; i < top; i++)
        w->bad += check_free(live[i]);
    free(kept);
    free(live);
    return NULL;
}
/* Frees the shared array's blocks, each with probability percent. */
static uint64_t drain(uint64_t *rng, unsigned percent) {
    uint64_t bad = 0;
    for (int i = 0; i < TRANSFERS; i++)
        if (chance(rng, percent))
            bad += check_free(__atomic_exchange_n(&transfer[i], NULL, __ATOMIC_ACQ_REL));
    return bad;
}

int main(int argc, char **argv) {
    long threads = arg_long(argc, argv, 1, 4), rounds = arg_long(argc, argv, 3, 10);
    scale = arg_long(argc, argv, 2, 50);
    struct worker *w = bench_array((size_t)threads * sizeof *w);
    uint64_t made = 0, bad = 0, rng = 0x2545F4914F6CDD1DULL;
    double t0 = now_sec();
    for (long r = 0; r < rounds; r++) {
        for (long t = 0; t < threads; t++) {
            /* the seed's residue mod 8 is the thread's number: how much it does */
            w[t].seed = (0x9E3779B97F4A7C15ULL * (uint64_t)(r * threads + t + 1)) / 8 * 8 +
                        (uint64_t)(t % 8);
            w[t].made = w[t].bad = 0;
            if (pthread_create(&w[t].tid, NULL, stress, &w[t]) != 0)
                die("mstress: pthread_create failed");
        }
        for (long t = 0; t < threads; t++) {
            pthread_join(w[t].tid, NULL);
            made += w[t].made;
            bad += w[t].bad;
        }
        bad += drain(&rng, r + 1 == rounds ? 100 : 50);
    }
    metric("ns_per_object", (now_sec() - t0) * 1e9 / (double)made);
    metric("rss_mib", rss_mib());
    printf("mstress: %ld threads, %ld rounds, %llu blocks, corrupt words %llu\n", threads, rounds,
           (unsigned long long)made, (unsigned long long)bad);
    return bad != 0;
}
