/* core_model.h - what fuzz_core believes about the core, to check every answer against:
 *
 * - slabs: every block the alloc hook handed out and the free hook has not taken back, with
 *   the cache it was fetched for and a generation number (a block at a reused address is a
 *   new generation, so a stale pointer into it is never mistaken for one into the old one);
 * - live objects, sorted by address, each with its cache and the seed of its contents;
 * - caches: the handle, the parameters, references, live objects, free-hook errors injected.
 *
 * The hooks also inject failures (NULL, a misaligned block, an error from the free hook) on
 * request, and check what the core promises them: size == align == slab size, no cache lock
 * held, a block's magic cleared before it comes back. The model lock checks that the core
 * never takes a lock it holds and never drops one it does not hold.
 */
#ifndef FUZZ_CORE_MODEL_H
#define FUZZ_CORE_MODEL_H

#include <aslab.h>
#include <stddef.h>
#include <stdint.h>

#define MAX_CACHES     6
#define MAX_LIVE       2048
#define MAX_SLABS      1024
#define SLAB_BYTES_MAX ((size_t)64 << 20)

typedef struct model_slab {
    uintptr_t base; /* what the hook returned */
    void *block;    /* what it got from aligned_alloc (differs for a misaligned block) */
    size_t size;
    int cache;
    uint32_t gen;
    int misaligned;
} model_slab;

typedef struct model_obj {
    uintptr_t addr;
    size_t size;
    int cache;
    uint32_t seed;
} model_obj;

typedef struct model_cache {
    aslab_cache *handle; /* NULL: the slot is free */
    size_t obj_size, obj_align, slab_size, stride;
    unsigned refs;
    size_t live;
    size_t free_errors; /* free-hook errors injected on this cache's slaves */
} model_cache;

typedef struct model {
    model_cache caches[MAX_CACHES];
    model_obj live[MAX_LIVE];
    size_t nlive;
    model_slab slabs[MAX_SLABS];
    size_t nslabs, slab_bytes;
    uint32_t gen, seed;
    /* hook control: the cache the next fetch is for, failures to inject, what was injected */
    int hook_cache;
    unsigned fail_allocs, misalign_allocs, fail_frees;
    unsigned alloc_calls;
    aslab_error injected_alloc;
    int injected_free;
    unsigned locks_held;
} model;

extern model M;
extern const aslab_lock_ops model_lock;

__attribute__((noreturn, format(printf, 1, 2))) void die(const char *format, ...);

/* Resets the model for a new input; fails if anything of the last one is left. */
void model_reset(void);
model_slab *slab_find(uintptr_t base);
/* The slab of cache c that holds addr, or NULL. */
model_slab *slab_holding(int c, uintptr_t addr);
size_t slabs_of(int c);

/* Live objects: the index of addr, or SIZE_MAX. */
size_t obj_find(uintptr_t addr);
/* Adds an object after checking that it overlaps none; returns its index. */
size_t obj_insert(uintptr_t addr, size_t size, int cache, uint32_t seed);
void obj_remove(size_t index);

/* The lowest offset a slot can have in a master (master != 0) or a slave slab. */
size_t model_data_min(int master);
/* The offset just past the last slot of the live slab at base (read from its header). */
size_t model_slots_end(uintptr_t base);

/* The expected answer of aslab_cache_create before the hook is asked: OK or
 * ASLAB_ERR_INVALID_ARGUMENT. */
aslab_error expect_create(size_t obj_size, size_t obj_align, size_t slab_size,
                          const aslab_lock_ops *lock);

/* Before each core call: which cache a fetch would be for; no failure injected yet. */
static inline void hook_begin(int cache) {
    M.hook_cache = cache;
    M.injected_alloc = ASLAB_OK;
    M.injected_free = 0;
}

#endif
