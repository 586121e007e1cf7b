/* core_model.c - the fuzzer's hooks, its checking lock, and the slab and object tables. */
#include "core_model.h"

#include "slab.h" /* the header sizes, for the geometry the README promises */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

model M;

void die(const char *format, ...) {
    va_list args;
    va_start(args, format);
    fputs("fuzz_core: ", stderr);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
    abort();
}

/* ---- the lock: 8 bytes of state, a flag and a marker ---- */

typedef struct lock_state {
    uint32_t held, marker;
} lock_state;

static void lock_init(void *state) {
    lock_state *s = state;
    if (s->held != 0 || s->marker != 0) die("lock state not zeroed before init");
    s->marker = 0x10c4;
}

static void lock_lock(void *state) {
    lock_state *s = state;
    if (s->marker != 0x10c4) die("lock state corrupted: %#x", s->marker);
    if (s->held) die("cache lock taken while held (self-deadlock)");
    s->held = 1;
    M.locks_held++;
}

static void lock_unlock(void *state) {
    lock_state *s = state;
    if (!s->held) die("cache lock released while not held");
    s->held = 0;
    M.locks_held--;
}

static int lock_trylock(void *state) {
    lock_state *s = state;
    if (s->held) return 0;
    lock_lock(state);
    return 1;
}

const aslab_lock_ops model_lock = {sizeof(lock_state), lock_init, lock_lock, lock_unlock,
                                   lock_trylock};

/* ---- the hooks ---- */

static model_slab *slab_record(void *block, uintptr_t base, size_t size, int misaligned) {
    model_slab *s = &M.slabs[M.nslabs++];
    *s = (model_slab){base, block, size, M.hook_cache, ++M.gen, misaligned};
    M.slab_bytes += size;
    return s;
}

/* A block off the slab alignment: the core must hand it straight back. */
static void *alloc_misaligned(size_t size) {
    char *block = aligned_alloc(size, 2 * size);
    if (block == NULL) die("out of memory in the harness");
    M.injected_alloc = ASLAB_ERR_ALIGNMENT_MISMATCH;
    return (void *)slab_record(block, (uintptr_t)block + size / 2, size, 1)->base;
}

static void *hook_alloc(size_t size, size_t align) {
    if (size != align || (size & (size - 1)) != 0 || size < ASLAB_MIN_SLAB_SIZE)
        die("alloc hook asked for size %zu align %zu", size, align);
    if (M.locks_held != 0) die("alloc hook called with a cache lock held");
    M.alloc_calls++;
    int refuse = M.nslabs == MAX_SLABS || M.slab_bytes + 2 * size > SLAB_BYTES_MAX;
    if (refuse || M.fail_allocs > 0) {
        M.fail_allocs -= !refuse && M.fail_allocs > 0;
        M.injected_alloc = ASLAB_ERR_OUT_OF_MEMORY;
        return NULL;
    }
    if (M.misalign_allocs > 0) {
        M.misalign_allocs--;
        return alloc_misaligned(size);
    }
    void *block = aligned_alloc(align, size);
    if (block == NULL) die("out of memory in the harness");
    /* The core must not count on zeroed memory: junk in the header, the bitmap, the first slots. */
    memset(block, 0xa5, size < 16384 ? size : 16384);
    return (void *)slab_record(block, (uintptr_t)block, size, 0)->base;
}

static aslab_error hook_free(void *slab, size_t size, size_t align) {
    if (M.locks_held != 0) die("free hook called with a cache lock held");
    model_slab *s = slab_find((uintptr_t)slab);
    if (s == NULL) die("free hook given %p, which the alloc hook never returned", slab);
    if (size != s->size || align != s->size)
        die("free hook given size %zu align %zu for a slab of %zu", size, align, s->size);
    if (!s->misaligned && *(uintptr_t *)slab != 0)
        die("slab %p handed back with its magic still set", slab);
    int fail = M.fail_frees > 0 && !s->misaligned;
    if (fail) {
        M.fail_frees--;
        M.injected_free = 1;
        if (s->cache >= 0) M.caches[s->cache].free_errors++;
    }
    free(s->block);
    M.slab_bytes -= s->size;
    *s = M.slabs[--M.nslabs];
    return fail ? ASLAB_ERR_INVALID_ARGUMENT : ASLAB_OK;
}

ASLAB_DEFINE_ALLOCATION_HOOKS(hook_alloc, hook_free);

/* ---- tables ---- */

void model_reset(void) {
    if (M.nslabs != 0) die("%zu slabs still out at the end of the input", M.nslabs);
    if (M.nlive != 0 || M.locks_held != 0) die("model not empty at reset");
    memset(&M, 0, sizeof M);
    M.hook_cache = -1;
}

model_slab *slab_find(uintptr_t base) {
    for (size_t i = 0; i < M.nslabs; i++)
        if (M.slabs[i].base == base) return &M.slabs[i];
    return NULL;
}

model_slab *slab_holding(int c, uintptr_t addr) {
    model_slab *s = slab_find(addr & ~(uintptr_t)(M.caches[c].slab_size - 1));
    return s != NULL && s->cache == c && !s->misaligned ? s : NULL;
}

size_t slabs_of(int c) {
    size_t n = 0;
    for (size_t i = 0; i < M.nslabs; i++)
        n += M.slabs[i].cache == c;
    return n;
}

/* The first index whose address is >= addr. */
static size_t obj_lower_bound(uintptr_t addr) {
    size_t lo = 0, hi = M.nlive;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (M.live[mid].addr < addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

size_t obj_find(uintptr_t addr) {
    size_t i = obj_lower_bound(addr);
    return i < M.nlive && M.live[i].addr == addr ? i : SIZE_MAX;
}

size_t obj_insert(uintptr_t addr, size_t size, int cache, uint32_t seed) {
    size_t i = obj_lower_bound(addr);
    if (i < M.nlive && M.live[i].addr < addr + size)
        die("new object %#lx+%zu overlaps live object %#lx", (unsigned long)addr, size,
            (unsigned long)M.live[i].addr);
    if (i > 0 && M.live[i - 1].addr + M.live[i - 1].size > addr)
        die("new object %#lx overlaps live object %#lx+%zu", (unsigned long)addr,
            (unsigned long)M.live[i - 1].addr, M.live[i - 1].size);
    memmove(&M.live[i + 1], &M.live[i], (M.nlive - i) * sizeof M.live[0]);
    M.live[i] = (model_obj){addr, size, cache, seed};
    M.nlive++;
    M.caches[cache].live++;
    return i;
}

void obj_remove(size_t index) {
    M.caches[M.live[index].cache].live--;
    memmove(&M.live[index], &M.live[index + 1], (M.nlive - index - 1) * sizeof M.live[0]);
    M.nlive--;
}

/* ---- the answers the README promises ---- */

static size_t round_up(size_t value, size_t align) {
    return (value + align - 1) & ~(align - 1);
}

/* One slot fits after `header` bytes and the smallest bitmap (one 32-bit word). */
static int one_slot_fits(size_t header, size_t stride, size_t align, size_t slab_size) {
    return round_up(header + sizeof(uint32_t), align) + stride <= slab_size;
}

size_t model_data_min(int master) {
    return (master ? sizeof(aslab__master) : sizeof(aslab__slab)) + sizeof(uint32_t);
}

size_t model_slots_end(uintptr_t base) {
    const aslab__slab *slab = (const aslab__slab *)base;
    const aslab__master *master = slab->master;
    return slab->data_offset + (size_t)slab->capacity * master->stride;
}

static int pow2(size_t x) {
    return x != 0 && (x & (x - 1)) == 0;
}

aslab_error expect_create(size_t obj_size, size_t obj_align, size_t slab_size,
                          const aslab_lock_ops *lock) {
    if (lock == NULL) lock = &aslab_nolock;
    if (obj_size == 0 || !pow2(obj_align) || !pow2(slab_size)) return ASLAB_ERR_INVALID_ARGUMENT;
    if (slab_size < ASLAB_MIN_SLAB_SIZE || slab_size > ASLAB_MAX_SLAB_SIZE)
        return ASLAB_ERR_INVALID_ARGUMENT;
    if (obj_size > slab_size || obj_align >= slab_size) return ASLAB_ERR_INVALID_ARGUMENT;
    if (lock->size > ASLAB_LOCK_MAX || !lock->init || !lock->lock || !lock->unlock)
        return ASLAB_ERR_INVALID_ARGUMENT;
    size_t align = obj_align < 4 ? 4 : obj_align, stride = round_up(obj_size, align);
    if (!one_slot_fits(sizeof(aslab__master), stride, align, slab_size) ||
        !one_slot_fits(sizeof(aslab__slab), stride, align, slab_size))
        return ASLAB_ERR_INVALID_ARGUMENT;
    return ASLAB_OK;
}
