/* stress.c - a multi-threaded randomized stress test of the malloc API.
 *
 * Worker threads live in slots. Each thread allocates (malloc, calloc, aligned_alloc,
 * posix_memalign), reallocs, frees (free, free_sized when the C library has it) and hands
 * blocks to other slots' inboxes, so that many frees are cross-thread; it exits after a
 * random number of operations, leaving part of its blocks to the next thread of its slot,
 * and the main thread starts a new one. Every block is filled with a pattern derived from its
 * address and a generation counter and checked before every realloc (and the preserved
 * prefix after it) and before every free.
 *
 * Each thread's random stream is a function of --seed and the thread's serial number, so a
 * run with --threads 1 is reproducible; with more threads, the interleaving is not.
 *
 *   stress [--seed N] [--seconds S] [--threads T] [--max-size BYTES]
 *
 * Exit status 0 only if no check failed and no allocation failed.
 */
#define _GNU_SOURCE
#include "util.h"

#include <aslab.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

/* Present when the program is linked with aslab (and free_sized when the C library has it). */
extern void free_sized(void *p, size_t size) __attribute__((weak));
extern void free_aligned_sized(void *p, size_t align, size_t size) __attribute__((weak));

#define MAX_SLOTS      64
#define LIVE_MAX       1024
#define LIVE_BYTES_MAX ((size_t)32 << 20)
#define INBOX_CAP      512
#define REPORT_MAX     20

typedef struct object {
    void *p;
    size_t size;
    uint64_t seed;
    uint32_t owner; /* serial of the thread that allocated it */
    uint32_t align; /* alignment asked for; 0 = malloc's own */
} object;

typedef struct inbox {
    pthread_mutex_t lock;
    size_t count;
    object items[INBOX_CAP];
} inbox;

/* A slot outlives its threads: its live blocks pass from one thread to the next. */
typedef struct slot {
    pthread_t thread;
    uint32_t serial; /* of the slot's current thread; threads count from 1, main is 0 */
    int started;     /* a thread was created here and not joined yet */
    atomic_int done; /* the thread has finished */
    size_t nlive, live_bytes;
    object live[LIVE_MAX];
    inbox box;
} slot;

typedef struct counters {
    uint64_t allocs, frees, reallocs, handed, cross_frees, failures, alloc_failures;
} counters;

typedef struct worker {
    slot *home;
    uint32_t serial;
    uint64_t generation;
    rng r;
    counters c;
} worker;

static struct {
    uint64_t seed;
    double seconds;
    unsigned threads;
    size_t max_size;
} opt = {1, 10.0, 8, (size_t)6 << 20};

static slot slots[MAX_SLOTS];
static atomic_int stop;
static atomic_int reports;
static pthread_mutex_t totals_lock = PTHREAD_MUTEX_INITIALIZER;
static counters totals;
static uint64_t threads_created, spawn_failures;

static void fail(counters *c, const char *what, const object *o, size_t offset) {
    c->failures++;
    if (atomic_fetch_add(&reports, 1) >= REPORT_MAX) return;
    fprintf(stderr, "stress: FAIL %s: block %p size %zu align %u owner %u offset %zu\n", what, o->p,
            o->size, o->align, o->owner, offset);
}

static void counters_add(counters *to, const counters *from) {
    to->allocs += from->allocs, to->frees += from->frees;
    to->reallocs += from->reallocs, to->handed += from->handed;
    to->cross_frees += from->cross_frees, to->failures += from->failures;
    to->alloc_failures += from->alloc_failures;
}

/* A size spread evenly over the powers of two in [lo, hi]. */
static size_t log_uniform(rng *r, size_t lo, size_t hi) {
    unsigned bits = 0;
    while (((size_t)2 << bits) <= hi / lo)
        bits++;
    size_t base = lo << rng_below(r, bits + 1);
    size_t top = base * 2 - 1 < hi ? base * 2 - 1 : hi;
    return rng_range(r, base, top);
}

/* A size at the edge of a class above 16 KiB: 16384 or a medium class (eight per doubling
 * to 1 MiB, issue 13), -1, itself or +1. */
static size_t medium_edge(rng *r) {
    uint64_t cls = rng_below(r, 49);
    if (cls == 48) return 16384 - 1 + rng_below(r, 3);
    size_t group = (size_t)16384 << (cls / 8);
    return group + (cls % 8 + 1) * (group / 8) - 1 + rng_below(r, 3);
}

/* Most requests small, some medium (16 KiB to 1 MiB, aslab's own classes since issue 13;
 * the fallback's before), a few of several MiB. */
static size_t draw_size(rng *r) {
    uint64_t u = rng_below(r, 1000);
    size_t size;
    if (u < 5)
        size = 0;
    else if (u < 745)
        size = rng_range(r, 1, 256);
    else if (u < 948)
        size = log_uniform(r, 257, 16384);
    else if (u < 993)
        size = log_uniform(r, 16385, 1 << 20);
    else if (u < 998)
        size = medium_edge(r);
    else
        size = log_uniform(r, (1 << 20) + 1, 6 << 20);
    return size < opt.max_size ? size : opt.max_size;
}

static void check_block(counters *c, const object *o, const char *when) {
    size_t bad = pattern_check(o->p, o->size, o->seed);
    if (bad != SIZE_MAX) fail(c, when, o, bad);
}

/* A new block's promises: alignment, usable size, zeroes from calloc. Then its pattern. */
static void adopt(worker *w, object *o, int zeroed) {
    uintptr_t align = o->align != 0 ? o->align : 16;
    if ((uintptr_t)o->p % align != 0) fail(&w->c, "misaligned block", o, 0);
    if (malloc_usable_size(o->p) < o->size) fail(&w->c, "usable size below request", o, 0);
    if (zeroed) {
        size_t bad = zero_check(o->p, o->size);
        if (bad != SIZE_MAX) fail(&w->c, "calloc block not zero", o, bad);
    }
    o->seed = pattern_seed(o->p, w->generation++);
    pattern_fill(o->p, o->size, o->seed);
}

static void *call_alloc(worker *w, size_t size, uint32_t *align, int *zeroed) {
    uint64_t kind = rng_below(&w->r, 10);
    *align = 0, *zeroed = 0;
    if (kind == 0 || kind == 1) {
        *zeroed = 1;
        return kind == 0 ? calloc(1, size) : calloc(size, 1);
    }
    if (kind == 2 || kind == 3) {
        *align = 1u << rng_range(&w->r, 3, rng_below(&w->r, 8) == 0 ? 16 : 12);
        if (kind == 2) return aligned_alloc(*align, size);
        void *p = NULL;
        return posix_memalign(&p, *align, size) == 0 ? p : NULL;
    }
    return malloc(size);
}

static void op_alloc(worker *w) {
    slot *s = w->home;
    object o = {.size = draw_size(&w->r), .owner = w->serial};
    int zeroed;
    o.p = call_alloc(w, o.size, &o.align, &zeroed);
    w->c.allocs++;
    if (o.p == NULL) {
        w->c.alloc_failures++;
        return;
    }
    adopt(w, &o, zeroed);
    s->live[s->nlive++] = o;
    s->live_bytes += o.size;
}

/* Checks and frees a block this thread holds (it left the live array already). */
static void release_block(worker *w, const object *o) {
    check_block(&w->c, o, "corrupted before free");
    int sized = rng_below(&w->r, 2) == 0;
    if (sized && o->align == 0 && free_sized != NULL)
        free_sized(o->p, o->size);
    else if (sized && o->align != 0 && free_aligned_sized != NULL)
        free_aligned_sized(o->p, o->align, o->size);
    else
        free(o->p);
    w->c.frees++;
    if (o->owner != w->serial) w->c.cross_frees++;
}

static object take_live(slot *s, size_t i) {
    object o = s->live[i];
    s->live[i] = s->live[--s->nlive];
    s->live_bytes -= o.size;
    return o;
}

static void op_free(worker *w) {
    object o = take_live(w->home, rng_below(&w->r, w->home->nlive));
    release_block(w, &o);
}

/* Near the old size half the time, so that in-place reallocs happen too. */
static size_t realloc_size(worker *w, size_t old) {
    if (rng_below(&w->r, 100) == 0) return 0;
    if (rng_below(&w->r, 2) == 0) return draw_size(&w->r);
    size_t delta = (size_t)rng_below(&w->r, 64);
    return rng_below(&w->r, 2) == 0 || old < delta + 1 ? old + delta : old - delta;
}

static void op_realloc(worker *w) {
    slot *s = w->home;
    size_t i = rng_below(&w->r, s->nlive);
    object o = s->live[i];
    size_t size = realloc_size(w, o.size);
    check_block(&w->c, &o, "corrupted before realloc");
    w->c.reallocs++;
    void *p = realloc(o.p, size);
    if (size == 0 && p == NULL) { /* glibc and aslab: freed */
        (void)take_live(s, i);
        w->c.frees++;
        return;
    }
    if (p == NULL) {
        w->c.alloc_failures++;
        return;
    }
    object moved = {.p = p, .size = size, .seed = o.seed, .owner = o.owner};
    size_t keep = o.size < size ? o.size : size;
    size_t bad = pattern_check(p, keep, o.seed);
    if (bad != SIZE_MAX) fail(&w->c, "realloc lost the preserved prefix", &moved, bad);
    if (o.owner != w->serial && p != o.p) w->c.cross_frees++;
    moved.owner = w->serial;
    adopt(w, &moved, 0);
    s->live[i] = moved;
    s->live_bytes += size - o.size;
}

/* Gives a block to another slot; frees it here when that inbox is full. */
static void op_hand(worker *w) {
    object o = take_live(w->home, rng_below(&w->r, w->home->nlive));
    inbox *to = &slots[rng_below(&w->r, opt.threads)].box;
    pthread_mutex_lock(&to->lock);
    int room = to->count < INBOX_CAP;
    if (room) to->items[to->count++] = o;
    pthread_mutex_unlock(&to->lock);
    if (room)
        w->c.handed++;
    else
        release_block(w, &o);
}

/* Most received blocks are freed at once (cross-thread); the rest join the live set. */
static void drain_inbox(worker *w) {
    slot *s = w->home;
    object got[INBOX_CAP];
    pthread_mutex_lock(&s->box.lock);
    size_t n = s->box.count;
    memcpy(got, s->box.items, n * sizeof got[0]);
    s->box.count = 0;
    pthread_mutex_unlock(&s->box.lock);
    for (size_t i = 0; i < n; i++) {
        int keep = rng_below(&w->r, 10) < 3 && s->nlive < LIVE_MAX;
        if (!keep) {
            release_block(w, &got[i]);
            continue;
        }
        check_block(&w->c, &got[i], "corrupted in transit");
        s->live[s->nlive++] = got[i];
        s->live_bytes += got[i].size;
    }
}

static void one_op(worker *w) {
    slot *s = w->home;
    uint64_t u = rng_below(&w->r, 100);
    int full = s->nlive == LIVE_MAX || s->live_bytes > LIVE_BYTES_MAX;
    if (s->nlive == 0 || (u < 45 && !full))
        op_alloc(w);
    else if (u < 72)
        op_free(w);
    else if (u < 88)
        op_realloc(w);
    else
        op_hand(w);
}

/* At exit: a third of the blocks freed, a third handed on, the rest left to the successor. */
static void retire(worker *w) {
    slot *s = w->home;
    drain_inbox(w);
    size_t n = s->nlive;
    for (size_t i = 0; i < n / 3 && s->nlive > 0; i++)
        op_free(w);
    for (size_t i = 0; i < n / 3 && s->nlive > 0; i++)
        op_hand(w);
}

static void *worker_main(void *arg) {
    worker w = {.home = arg};
    w.serial = w.home->serial;
    w.r.state = mix64(opt.seed ^ mix64(w.serial));
    w.generation = (uint64_t)w.serial << 40;
    uint64_t lifetime = rng_range(&w.r, 500, 20000);
    for (uint64_t i = 0; i < lifetime && !atomic_load_explicit(&stop, memory_order_relaxed); i++) {
        if (i % 64 == 0) drain_inbox(&w);
        one_op(&w);
    }
    retire(&w);
    pthread_mutex_lock(&totals_lock);
    counters_add(&totals, &w.c);
    pthread_mutex_unlock(&totals_lock);
    atomic_store(&w.home->done, 1);
    return NULL;
}

static void spawn(slot *s) {
    s->serial = (uint32_t)threads_created + 1;
    atomic_store(&s->done, 0);
    if (pthread_create(&s->thread, NULL, worker_main, s) != 0) {
        spawn_failures++;
        return;
    }
    s->started = 1;
    threads_created++;
}

/* The main thread frees what is left when time is up: every such free is cross-thread. */
static void cleanup(void) {
    worker w = {.serial = 0};
    w.r.state = mix64(opt.seed);
    for (unsigned i = 0; i < opt.threads; i++) {
        w.home = &slots[i];
        drain_inbox(&w);
        while (w.home->nlive > 0)
            op_free(&w);
        drain_inbox(&w);
    }
    counters_add(&totals, &w.c);
}

/* Keeps every slot busy: a finished thread is joined and replaced until time is up. */
static void supervise(void) {
    double start = now_seconds(), next_report = start + 10;
    for (;;) {
        double now = now_seconds();
        if (now - start >= opt.seconds) break;
        for (unsigned i = 0; i < opt.threads; i++) {
            slot *s = &slots[i];
            if (s->started && !atomic_load(&s->done)) continue;
            if (s->started) pthread_join(s->thread, NULL);
            s->started = 0;
            spawn(s);
        }
        if (now >= next_report) {
            fprintf(stderr, "stress: %.0f s, %llu threads created\n", now - start,
                    (unsigned long long)threads_created);
            next_report += 10;
        }
        sleep_seconds(0.0005);
    }
    atomic_store(&stop, 1);
    for (unsigned i = 0; i < opt.threads; i++)
        if (slots[i].started) pthread_join(slots[i].thread, NULL);
}

static int parse_args(int argc, char **argv) {
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *name = argv[i], *value = argv[i + 1];
        if (strcmp(name, "--seed") == 0)
            opt.seed = strtoull(value, NULL, 0);
        else if (strcmp(name, "--seconds") == 0)
            opt.seconds = strtod(value, NULL);
        else if (strcmp(name, "--threads") == 0)
            opt.threads = (unsigned)strtoul(value, NULL, 0);
        else if (strcmp(name, "--max-size") == 0)
            opt.max_size = strtoull(value, NULL, 0);
        else
            return -1;
    }
    if (argc % 2 == 0 || opt.threads == 0 || opt.threads > MAX_SLOTS) return -1;
    return 0;
}

static void print_summary(double elapsed) {
    const counters *t = &totals;
    printf("stress[%s]: seed %llu, %.1f s, %u thread slots, free_sized %s\n", STRESS_ALLOCATOR,
           (unsigned long long)opt.seed, elapsed, opt.threads,
           free_sized != NULL ? "used" : "not in this C library");
    uint64_t ops = t->allocs + t->frees + t->reallocs; /* calls into the allocator */
    printf("  ops %llu (%.0f ops/s): allocs %llu, frees %llu, reallocs %llu; handed over %llu\n",
           (unsigned long long)ops, (double)ops / elapsed, (unsigned long long)t->allocs,
           (unsigned long long)t->frees, (unsigned long long)t->reallocs,
           (unsigned long long)t->handed);
    printf("  cross-thread frees %llu (%.1f%% of frees), threads created %llu\n",
           (unsigned long long)t->cross_frees,
           t->frees != 0 ? 100.0 * (double)t->cross_frees / (double)t->frees : 0.0,
           (unsigned long long)threads_created);
    printf("  verification failures %llu, allocation failures %llu, spawn failures %llu\n",
           (unsigned long long)t->failures, (unsigned long long)t->alloc_failures,
           (unsigned long long)spawn_failures);
}

int main(int argc, char **argv) {
    if (parse_args(argc, argv) != 0) {
        fprintf(stderr, "usage: %s [--seed N] [--seconds S] [--threads 1..%d] [--max-size B]\n",
                argv[0], MAX_SLOTS);
        return 2;
    }
    for (unsigned i = 0; i < MAX_SLOTS; i++)
        pthread_mutex_init(&slots[i].box.lock, NULL);
    double start = now_seconds();
    supervise();
    cleanup();
    print_summary(now_seconds() - start);
    return totals.failures == 0 && totals.alloc_failures == 0 ? 0 : 1;
}
