/* reuse_age.c - `reuse_age [SLOTS [OPS [MAX_SIZE]]]`: how long ago each block malloc hands out
 * was freed, under whatever allocator is preloaded. A diagnostic, not a timed benchmark: it
 * explains timings. One thread replaces random blocks (16 B to MAX_SIZE, default 2048) in an
 * array of SLOTS (default 2048), OPS times (default 2000000), and for each new block looks up
 * the replacement at which its address was last freed. A block freed a few replacements ago
 * is likely still in the cache; one freed thousands ago is not, and the program's first touch
 * of it misses. Whether that decides a timing is for a timed run to show: in session 13
 * (docs/STATUS.md) aslab handed out older blocks than tcmalloc here, and a build that made
 * its ages tcmalloc's ran no faster on the ring shapes. The histogram is printed in powers of
 * four; "fresh" counts addresses never freed before.
 *
 * The bookkeeping (an open-addressing table of addresses) comes from mmap, outside the
 * allocator under test; a run that would fill more than 3/4 of it stops with a message. */
#include "bench_util.h"

#define TABLE_BITS 22 /* 4 M entries: well above the distinct addresses of the default run */
#define BUCKETS    9  /* < 4^1, < 4^2, ..., < 4^8, and more */

typedef struct freed_at {
    uintptr_t address;
    long op; /* the replacement that freed it, from 1 */
} freed_at;

static freed_at *table;
static size_t used; /* entries taken */
static long max_size;

/* The entry of `address`, made empty (op 0) when it has none. */
static freed_at *entry_of(uintptr_t address) {
    size_t mask = ((size_t)1 << TABLE_BITS) - 1;
    size_t i = (size_t)((address * 0x9E3779B97F4A7C15ULL) >> (64 - TABLE_BITS));
    while (table[i].address != 0 && table[i].address != address)
        i = (i + 1) & mask;
    if (table[i].address == 0) {
        if (++used > mask / 4 * 3) die("reuse_age: too many distinct addresses; fewer OPS");
        table[i].address = address;
    }
    return &table[i];
}

/* A request size, 16 B to max_size. */
static size_t draw_size(uint64_t *rng) {
    return 16 + rng_below(rng, (uint64_t)max_size - 15);
}

static unsigned bucket_of(long age) {
    unsigned b = 0;
    for (long bound = 4; age >= bound && b < BUCKETS - 1; bound *= 4)
        b++;
    return b;
}

int main(int argc, char **argv) {
    long slots = arg_long(argc, argv, 1, 2048), ops = arg_long(argc, argv, 2, 2000000);
    max_size = arg_long(argc, argv, 3, 2048);
    if (max_size < 16) die("reuse_age: MAX_SIZE must be at least 16");
    table = bench_array(((size_t)1 << TABLE_BITS) * sizeof *table);
    void **slot = bench_array((size_t)slots * sizeof *slot);
    uint64_t rng = 0x9E3779B97F4A7C15ULL;
    long hist[BUCKETS] = {0}, fresh = 0;
    for (long i = 0; i < slots; i++)
        if ((slot[i] = malloc(draw_size(&rng))) == NULL) die("reuse_age: malloc failed");
    for (long k = 1; k <= ops; k++) {
        long i = (long)rng_below(&rng, (uint64_t)slots);
        free(slot[i]);
        entry_of((uintptr_t)slot[i])->op = k;
        if ((slot[i] = malloc(draw_size(&rng))) == NULL) die("reuse_age: malloc failed");
        freed_at *e = entry_of((uintptr_t)slot[i]);
        if (e->op == 0)
            fresh++;
        else
            hist[bucket_of(k - e->op)]++;
    }
    printf("reuse_age: %ld slots, %ld replacements, sizes 16-%ld B; blocks freed this many "
           "replacements before they were handed out again:\n",
           slots, ops, max_size);
    for (unsigned b = 0; b < BUCKETS; b++)
        if (b < BUCKETS - 1)
            printf("  < %-8ld %9ld\n", 1L << (2 * (b + 1)), hist[b]);
        else
            printf("  more       %9ld\n", hist[b]);
    printf("  fresh      %9ld\n", fresh);
    for (long i = 0; i < slots; i++)
        free(slot[i]);
    return 0;
}
