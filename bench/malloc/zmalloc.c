/* zmalloc.c - `zmalloc [SLOTS [OPS]]`: a program that counts its own memory as redis does.
 * Redis's zmalloc asks malloc_usable_size of every block it allocates and of every block it
 * frees, and keeps the sum (its used_memory); its strings grow by realloc, asked again. Here
 * SLOTS live blocks (default 200000) of log-uniform sizes from 16 B to 4 KiB (strings, dict
 * entries, small objects: by count most are under 256 B) take OPS random replacements
 * (default 4000000): the old block's size asked and subtracted, its stamp checked, the block
 * freed, a new one allocated, asked, added and stamped; one replacement in 8 is instead a
 * growth by half again through realloc. Single-threaded, as redis's main thread. Blocks of many
 * slabs of many classes are freed in no order, so what a free or a size query reads besides
 * the block itself decides the time. stdout carries a checksum of the stamps (the same on
 * every allocator); the count the program kept, which depends on the allocator's block sizes,
 * goes to stderr as a metric. */
#include "bench_util.h"

#include <malloc.h>

#define MIN_SHIFT   4  /* 16 B */
#define MAX_SHIFT   12 /* 4 KiB, the largest size drawn */
#define GROW_ONE_IN 8

typedef struct table {
    void **obj;
    uint32_t *size;
    uint64_t *tag;
    size_t used; /* the sum of the live blocks' usable sizes, as zmalloc keeps it */
    uint64_t sum, bad;
} table;

static void *counted_malloc(table *t, size_t size) {
    void *p = malloc(size);
    if (p == NULL) die("zmalloc: malloc failed");
    t->used += malloc_usable_size(p);
    return p;
}

static void counted_free(table *t, void *p) {
    t->used -= malloc_usable_size(p);
    free(p);
}

/* The block in slot i grows by half again, as a string appended to: realloc, asked again. */
static void grow(table *t, long i, uint64_t *rng) {
    size_t old = malloc_usable_size(t->obj[i]), size = t->size[i] + t->size[i] / 2 + 1;
    void *p = realloc(t->obj[i], size);
    if (p == NULL) die("zmalloc: realloc failed");
    t->used += malloc_usable_size(p) - old;
    t->obj[i] = p;
    t->size[i] = (uint32_t)size;
    t->tag[i] = rng_next(rng);
    stamp(p, size, t->tag[i]);
}

static void replace(table *t, long i, uint64_t *rng) {
    if (stamp_ok(t->obj[i], t->size[i], t->tag[i]))
        t->sum += t->tag[i] >> 32;
    else
        t->bad++;
    counted_free(t, t->obj[i]);
    t->size[i] = (uint32_t)rng_size_log_uniform(rng, MIN_SHIFT, MAX_SHIFT, 0);
    t->tag[i] = rng_next(rng);
    t->obj[i] = counted_malloc(t, t->size[i]);
    stamp(t->obj[i], t->size[i], t->tag[i]);
}

int main(int argc, char **argv) {
    long slots = arg_long(argc, argv, 1, 200000), ops = arg_long(argc, argv, 2, 4000000);
    if (slots < 1) die("zmalloc: SLOTS must be at least 1");
    table t = {bench_array((size_t)slots * sizeof *t.obj),
               bench_array((size_t)slots * sizeof *t.size),
               bench_array((size_t)slots * sizeof *t.tag),
               0,
               0,
               0};
    uint64_t rng = 0x9E3779B97F4A7C15ULL;
    for (long i = 0; i < slots; i++) {
        t.size[i] = (uint32_t)rng_size_log_uniform(&rng, MIN_SHIFT, MAX_SHIFT, 0);
        t.tag[i] = rng_next(&rng);
        t.obj[i] = counted_malloc(&t, t.size[i]);
        stamp(t.obj[i], t.size[i], t.tag[i]);
    }
    double t0 = now_sec();
    for (long k = 0; k < ops; k++) {
        long i = (long)rng_below(&rng, (uint64_t)slots);
        if (rng_below(&rng, GROW_ONE_IN) == 0 && t.size[i] < ((size_t)1 << MAX_SHIFT))
            grow(&t, i, &rng);
        else
            replace(&t, i, &rng);
    }
    metric("ns_per_op", (now_sec() - t0) * 1e9 / (double)ops);
    metric("rss_mib", rss_mib());
    metric("used_mib", (double)t.used / (1 << 20));
    for (long i = 0; i < slots; i++)
        counted_free(&t, t.obj[i]);
    printf("zmalloc: %ld slots, %ld operations, checksum %llu, corrupt %llu\n", slots, ops,
           (unsigned long long)t.sum, (unsigned long long)t.bad);
    return t.bad != 0;
}
