/* arena.c - regions of slabs for the core caches: the allocation hooks, the ownership map,
 * and discarding free slabs. One lock guards the regions; it is taken only when a core cache
 * gains or loses a slab, never on a malloc or free fast path. */
#include "arena.h"

#include "aslab.h"
#include "decay.h"
#include "os.h"
#include "size_class.h"

#include <errno.h>

#define MAX_REGIONS 16384 /* 64 GiB of small objects */
#define HASH_SIZE   ((size_t)2 * MAX_REGIONS)

typedef struct region {
    char *base;
    struct region *next_nonfull; /* the class's regions that have a free slab */
    struct region *next_dirty;   /* regions with free slabs not yet discarded */
    uint64_t free_mask;          /* slabs not held by the core */
    uint64_t dirty_mask;         /* free slabs whose pages may be resident */
    uint64_t dirty_since_ms;     /* when dirty_mask last became non-zero */
    uint8_t cls, slab_shift, on_nonfull, on_dirty;
} region;

uint8_t aslab__region_class[ASLAB_MAP_ENTRIES];

static region regions[MAX_REGIONS];
static size_t region_count;
static uint16_t region_hash[HASH_SIZE]; /* region index + 1, keyed by address >> 22 */
static region *nonfull[ASLAB_CLASS_SLOTS];
static region *dirty_list;
static size_t slabs_live, slab_bytes_live, dirty_bytes;
static uint64_t arena_lock[2];
static __thread unsigned hint_class __attribute__((tls_model("initial-exec")));

static void lock(void) {
    aslab_futexlock.lock(arena_lock);
}
static void unlock(void) {
    aslab_futexlock.unlock(arena_lock);
}

void aslab__arena_set_class(unsigned cls) {
    hint_class = cls;
}

static size_t hash_slot(uintptr_t key) {
    return (size_t)((key * 2654435761u) % HASH_SIZE);
}

static void hash_insert(uintptr_t key, size_t index) {
    size_t slot = hash_slot(key);
    while (region_hash[slot] != 0)
        slot = (slot + 1) % HASH_SIZE;
    region_hash[slot] = (uint16_t)(index + 1);
}

static region *hash_find(uintptr_t key) {
    for (size_t slot = hash_slot(key); region_hash[slot] != 0; slot = (slot + 1) % HASH_SIZE) {
        region *r = &regions[region_hash[slot] - 1];
        if ((uintptr_t)r->base >> ASLAB_REGION_SHIFT == key) return r;
    }
    return NULL;
}

static uint64_t all_slabs_mask(unsigned slab_shift) {
    unsigned count = 1u << (ASLAB_REGION_SHIFT - slab_shift);
    return count >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << count) - 1;
}

/* Regions are mapped CHUNK_REGIONS at a time (one mmap for 16 classes' first regions: a
 * short-lived process touching 20 classes makes 2 mappings, not 20), or one at a time when
 * the address-space limit refuses a chunk. Lock held. */
#define CHUNK_REGIONS 16
static char *chunk_next, *chunk_end;

static char *region_memory(void) {
    if (chunk_next == chunk_end) {
        size_t size = CHUNK_REGIONS * ASLAB_REGION_SIZE;
        char *chunk = aslab__os_map_aligned(size, ASLAB_REGION_SIZE);
        if (chunk == NULL) {
            size = ASLAB_REGION_SIZE;
            chunk = aslab__os_map_aligned(size, ASLAB_REGION_SIZE);
        }
        if (chunk == NULL) return NULL;
        chunk_next = chunk;
        chunk_end = chunk + size;
    }
    char *base = chunk_next;
    chunk_next += ASLAB_REGION_SIZE;
    return base;
}

/* Gives r (holding no slab) to class cls: its map byte, slab size and lists. Lock held. */
static void region_assign(region *r, unsigned cls) {
    r->cls = (uint8_t)cls;
    r->slab_shift = (uint8_t)aslab__classes[cls].slab_shift;
    r->free_mask = all_slabs_mask(r->slab_shift);
    r->dirty_mask = 0;
    __atomic_store_n(&aslab__region_class[(uintptr_t)r->base >> ASLAB_REGION_SHIFT], (uint8_t)cls,
                     __ATOMIC_RELEASE);
    r->next_nonfull = nonfull[cls];
    nonfull[cls] = r;
    r->on_nonfull = 1;
}

static size_t region_discard(region *r);

/* When no region can be mapped (RLIMIT_AS, or the region table is full), a region of
 * another class that holds no slab changes class, so memory freed in one class can serve
 * another. Only dangling pointers can point into it. O(regions), on that failure only.
 * Lock held. */
static region *region_recycle(unsigned cls) {
    for (size_t i = 0; i < region_count; i++) {
        region *r = &regions[i];
        if (r->cls == cls || r->free_mask != all_slabs_mask(r->slab_shift)) continue;
        region **link = &nonfull[r->cls];
        while (*link != r)
            link = &(*link)->next_nonfull; /* a free region is listed */
        *link = r->next_nonfull;
        region_discard(r);
        region_assign(r, cls);
        return r;
    }
    return NULL;
}

/* One more region for class cls: a new mapping, else a recycled region. Lock held. */
static region *region_new(unsigned cls) {
    int saved_errno = errno; /* a refused mapping is not the caller's error if we recover */
    char *base = region_count < MAX_REGIONS ? region_memory() : NULL;
    if (base == NULL) {
        region *r = region_recycle(cls);
        if (r != NULL) errno = saved_errno;
        return r;
    }
    size_t index = region_count++;
    region *r = &regions[index];
    r->base = base;
    hash_insert((uintptr_t)base >> ASLAB_REGION_SHIFT, index);
    region_assign(r, cls);
    return r;
}

/* Takes a free slab of r, preferring one whose pages are still resident. Lock held. */
static void *region_take(region *r) {
    uint64_t pick = r->dirty_mask != 0 ? r->dirty_mask : r->free_mask;
    unsigned bit = (unsigned)__builtin_ctzll(pick);
    size_t size = (size_t)1 << r->slab_shift;
    if (r->dirty_mask & ((uint64_t)1 << bit)) dirty_bytes -= size;
    r->free_mask &= ~((uint64_t)1 << bit);
    r->dirty_mask &= ~((uint64_t)1 << bit);
    if (r->free_mask == 0) { /* r is the head of its class's list */
        nonfull[r->cls] = r->next_nonfull;
        r->on_nonfull = 0;
    }
    slabs_live++;
    slab_bytes_live += size;
    return r->base + ((size_t)bit << r->slab_shift);
}

static void *arena_slab_alloc(size_t size, size_t align) {
    unsigned cls = hint_class;
    if (cls == 0 || cls > ASLAB_NUM_CLASSES || size != align ||
        size != (size_t)1 << aslab__classes[cls].slab_shift)
        return NULL;
    lock();
    region *r = nonfull[cls] != NULL ? nonfull[cls] : region_new(cls);
    void *slab = r != NULL ? region_take(r) : NULL;
    unlock();
    return slab;
}

/* Discards r's dirty slabs, coalescing neighbours into one call. Lock held. */
static size_t region_discard(region *r) {
    size_t size = (size_t)1 << r->slab_shift, done = 0;
    uint64_t mask = r->dirty_mask;
    while (mask != 0) {
        unsigned first = (unsigned)__builtin_ctzll(mask), last = first;
        while (last + 1 < 64 && (mask & ((uint64_t)1 << (last + 1))))
            last++;
        size_t bytes = (size_t)(last - first + 1) * size;
        aslab__os_discard(r->base + (size_t)first * size, bytes);
        done += bytes;
        mask &= last + 1 < 64 ? ~((((uint64_t)1 << (last + 1)) - 1)) : 0;
    }
    r->dirty_mask = 0;
    dirty_bytes -= done;
    return done;
}

static aslab_error arena_slab_free(void *slab, size_t size, size_t align) {
    uintptr_t key = (uintptr_t)slab >> ASLAB_REGION_SHIFT;
    (void)align;
    lock();
    region *r = key < ASLAB_MAP_ENTRIES && aslab__region_class[key] ? hash_find(key) : NULL;
    if (r == NULL || size != (size_t)1 << r->slab_shift) {
        unlock();
        return ASLAB_ERR_INVALID_POINTER;
    }
    uint64_t bit = (uint64_t)1 << (((uintptr_t)slab - (uintptr_t)r->base) >> r->slab_shift);
    r->free_mask |= bit;
    r->dirty_mask |= bit;
    slabs_live--;
    slab_bytes_live -= size;
    dirty_bytes += size;
    if (!r->on_nonfull) {
        r->next_nonfull = nonfull[r->cls];
        nonfull[r->cls] = r;
        r->on_nonfull = 1;
    }
    if (!r->on_dirty) {
        r->dirty_since_ms = aslab__os_now_ms();
        r->next_dirty = dirty_list;
        dirty_list = r;
        r->on_dirty = 1;
    }
    if (aslab__decay_ms() == 0) region_discard(r);
    unlock();
    aslab__decay_kick();
    return ASLAB_OK;
}

ASLAB_DEFINE_ALLOCATION_HOOKS(arena_slab_alloc, arena_slab_free);

size_t aslab__arena_purge(uint64_t min_age_ms) {
    size_t done = 0;
    lock();
    uint64_t now = aslab__os_now_ms();
    region **link = &dirty_list;
    while (*link != NULL) {
        region *r = *link;
        if (r->dirty_mask != 0 && now - r->dirty_since_ms < min_age_ms) {
            link = &r->next_dirty;
            continue;
        }
        done += region_discard(r);
        *link = r->next_dirty;
        r->on_dirty = 0;
    }
    unlock();
    return done;
}

uint64_t aslab__arena_next_due(uint64_t decay_ms) {
    uint64_t due = UINT64_MAX;
    lock();
    uint64_t now = aslab__os_now_ms();
    for (region *r = dirty_list; r != NULL; r = r->next_dirty) {
        uint64_t age = now - r->dirty_since_ms;
        uint64_t wait = age >= decay_ms ? 0 : decay_ms - age;
        if (wait < due) due = wait;
    }
    unlock();
    return due;
}

void aslab__arena_stats_get(aslab__arena_stats *out) {
    lock();
    out->regions = region_count;
    out->mapped = region_count * ASLAB_REGION_SIZE;
    out->slabs_live = slabs_live;
    out->slab_bytes = slab_bytes_live;
    out->dirty_bytes = dirty_bytes;
    unlock();
}

void aslab__arena_fork_prepare(void) {
    lock();
}
void aslab__arena_fork_parent(void) {
    unlock();
}
void aslab__arena_fork_child(void) {
    aslab_futexlock.init(arena_lock);
}
