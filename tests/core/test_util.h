/* test_util.h - helpers shared by the core tests: seeded randomness, fill patterns, cache
 * and stats shortcuts, and a counting lock whose calls the tests can audit.
 *
 * Helpers that assert do so with CUnit, so they run on the test's own thread only.
 */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <aslab.h>
#include <stddef.h>
#include <stdint.h>

#define TU_SLAB      4096 /* the slab size of tests that do not care */
#define TU_MAX(a, b) ((a) > (b) ? (a) : (b))

/* xorshift64: reproducible and fast; the state must not be zero. */
static inline uint64_t tu_random(uint64_t *state) {
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

void tu_shuffle(void **items, size_t n, uint64_t *state);
/* Sorts pointers by address. */
void tu_sort(void **items, size_t n);

/* Writes a pattern derived from key over all `size` bytes of obj; tu_intact checks it. */
void tu_fill(void *obj, size_t size, uint64_t key);
int tu_intact(const void *obj, size_t size, uint64_t key);

static inline uintptr_t tu_slab_of(const void *obj, size_t slab_size) {
    return (uintptr_t)obj & ~(uintptr_t)(slab_size - 1);
}

/* Creates a cache, failing the test at once if that fails. */
aslab_cache *tu_create(size_t obj_size, size_t obj_align, size_t slab_size,
                       const aslab_lock_ops *lock);
/* The cache's stats, after asserting the invariants every snapshot must satisfy. */
aslab_cache_stats tu_stats(aslab_cache *cache);
int tu_stats_equal(const aslab_cache_stats *a, const aslab_cache_stats *b);
/* Allocates n objects one by one; returns how many it got. */
size_t tu_alloc_n(aslab_cache *cache, void **objs, size_t n);
/* Frees n objects, counting the frees that did not return ASLAB_OK. */
size_t tu_free_n(void *const *objs, size_t n, size_t slab_size);

/* A spin lock of 8 bytes that counts its calls and any misuse: init on a state that is not
 * zeroed or not 8-aligned, lock or unlock on a state init never saw, unlock of a lock not
 * held. Copy the ops to vary size or drop an operation. */
extern const aslab_lock_ops tu_counting_lock;
typedef struct tu_lock_counts {
    size_t inits, locks, unlocks, trylocks, misuses;
} tu_lock_counts;
tu_lock_counts tu_lock_counts_get(void);

#endif /* TEST_UTIL_H */
