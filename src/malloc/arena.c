/* arena.c - regions of slabs for the core caches: the allocation hooks, the ownership map,
 * and discarding free slabs. One lock guards the regions; it is taken only when a core cache
 * gains or loses a slab, never on a malloc or free fast path. When to discard is purge.c's
 * policy; how is here: the dirty slabs form one queue, oldest first, and every hook call
 * enforces the cap and the age on it. */
#include "arena.h"

#include "aslab.h"
#include "lazy_table.h"
#include "os.h"
#include "purge.h"
#include "size_class.h"

#include <errno.h>
#include <sched.h>

#define MAX_REGIONS ((size_t)64 << (30 - ASLAB_REGION_SHIFT)) /* 64 GiB of small objects */
#define HASH_SIZE   ((size_t)2 * MAX_REGIONS)

typedef struct region {
    char *base;
    struct region *next_nonfull; /* the class's regions that have a free slab */
    uint64_t free_mask;          /* slabs not held by the core */
    uint64_t dirty_mask;         /* free slabs whose pages may be resident, each queued */
    uint64_t squeezed_mask;      /* free slabs the cap discarded young, not taken since */
    uint64_t squeezed_ms;        /* when the cap last discarded one of them */
    uint8_t cls, slab_shift, on_nonfull;
    uint8_t shift;      /* log2 of the region's size: ASLAB_REGION_SHIFT, or a larger slab's */
    uint32_t committed; /* its bytes made writable, from its base (see region_commit) */
} region;

/* A dirty slab's place in the queue lives in the slab itself, after the magic word (which
 * the core has zeroed, so that stale pointers into the slab do not validate; the node
 * leaves it zero). Blocks start past the slab header, so a dangling pointer to a block
 * cannot reach the node; a stray write that does is caught by the check word. */
typedef struct dirty_node {
    uintptr_t check; /* NODE_KEY ^ the node's address */
    struct dirty_node *prev, *next;
    uint64_t since_ms; /* when the slab went free */
    struct region *owner;
} dirty_node;

#define NODE_OFFSET sizeof(uintptr_t)
#define NODE_KEY    ((uintptr_t)0x3c6ef372fe94f82bull)

aslab__region_index aslab__regions;

/* The shift of a region merged into its neighbour (region_merge): its entry stays in the table
 * and the hash, but names no memory of its own any more (hash_find and the recycling pass
 * over it). */
#define ABSORBED 0

/* The table of regions and its hash (16 MiB of .bss) are lazy tables (lazy_table.h): charged
 * and locked a page at a time as regions are entered. */
static region regions[MAX_REGIONS];
static size_t region_count;
static uint32_t region_hash[HASH_SIZE]; /* region index + 1, keyed by address >> 18 */
static uint64_t regions_writable[ASLAB__LAZY_WORDS(sizeof regions)];
static uint64_t hash_writable[ASLAB__LAZY_WORDS(sizeof region_hash)];
static aslab__lazy_table regions_table = ASLAB__LAZY_TABLE(regions, regions_writable);
static aslab__lazy_table hash_table = ASLAB__LAZY_TABLE(region_hash, hash_writable);
static region *nonfull[ASLAB_CLASS_SLOTS];
static dirty_node *oldest, *newest; /* the queue of dirty slabs, in the order they went free */
static size_t slabs_live, slab_bytes_live, dirty_bytes, mapped_bytes, slab_takes, slab_gives;
static aslab__peak live_peak; /* slab_bytes_live's recent peak, for the cap (purge.h) */
static uint64_t arena_lock[2];
static __thread int discard_frees __attribute__((tls_model("initial-exec")));
/* The last slab this thread's core calls took that reads zero (aslab__arena_zero_note). */
static __thread void *zero_slab __attribute__((tls_model("initial-exec")));

static void lock(void) {
    aslab_futexlock.lock(arena_lock);
}
static void unlock(void) {
    aslab_futexlock.unlock(arena_lock);
}

void aslab__arena_discard_frees(int on) {
    discard_frees = on;
}

void *aslab__arena_zero_note(void) {
    void *slab = zero_slab;
    zero_slab = NULL;
    return slab;
}

/* The key itself, modulo the size: regions are mapped side by side, so their entries fill
 * neighbouring slots, and the table's pages are touched as the regions are (a scattering hash
 * touched a page per region: 2 MiB resident for 1 GiB of regions). Keys a multiple of
 * HASH_SIZE apart (128 GiB of address space) share a slot and probe on. */
static size_t hash_slot(uintptr_t key) {
    return (size_t)(key % HASH_SIZE);
}

/* The free slot where key's entry goes. */
static size_t hash_free_slot(uintptr_t key) {
    size_t slot = hash_slot(key);
    while (region_hash[slot] != 0)
        slot = (slot + 1) % HASH_SIZE;
    return slot;
}

static region *hash_find(uintptr_t key) {
    for (size_t slot = hash_slot(key); region_hash[slot] != 0; slot = (slot + 1) % HASH_SIZE) {
        region *r = &regions[region_hash[slot] - 1];
        if (r->shift != ABSORBED && (uintptr_t)r->base >> ASLAB_REGION_SHIFT == key) return r;
    }
    return NULL;
}

/* A region is ASLAB_REGION_SIZE, or one slab when the class's slabs are larger (a medium
 * class's, up to 16 MiB): it then spans several entries of the byte map. */
static unsigned region_shift_for(unsigned cls) {
    unsigned slab_shift = aslab__classes[cls].slab_shift;
    return slab_shift > ASLAB_REGION_SHIFT ? slab_shift : ASLAB_REGION_SHIFT;
}

static uint64_t all_slabs_mask(const region *r) {
    unsigned count = 1u << (r->shift - r->slab_shift);
    return count >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << count) - 1;
}

/* ---- region memory: writable, or made writable as it is used ----
 * Regions are mapped writable whole, as they always were, unless the process pays for
 * writable memory it never touches: under strict overcommit (vm.overcommit_memory=2), which
 * charges every writable private mapping to the commit limit, or under mlockall's
 * MCL_FUTURE, where the kernel faults in and locks every page of a writable mapping as it is
 * made (a 16 MiB slab for one 600 KiB block). The first is read at set-up; the second shows
 * as a page of a new mapping resident before anyone touched it, and that mapping is made
 * again read-only at once. From then on (for good) region memory is reserved read-only (zero
 * pages: a stray pointer's slab header reads zero, as the ownership test needs, and never
 * faults) and made writable (mprotect) as the arena hands it out: a slab of a region whole
 * when the core first takes it (slabs are taken lowest first, so what is writable is a
 * region's first bytes), a larger slab, its own region (a medium class's, or a small class's
 * above 4 KiB), from its start, COMMIT_GRAIN at a time or a block at a time, as its owner
 * hands its never-used blocks out (aslab__arena_commit). Read-only memory is neither charged
 * nor locked. What was made writable stays so. A refusal (ENOMEM at the limit) fails the
 * slab, or the block, as a mapping refused. The calls cost: `ls` made 45 more (+3% of its
 * time), which is why a process that pays for neither maps writable memory. */
#define COMMIT_GRAIN ASLAB_REGION_SIZE

static int commit_lazily; /* set for good once either shows, by a thread mapping regions */

int aslab__arena_commits_lazily(void) {
    return __atomic_load_n(&commit_lazily, __ATOMIC_RELAXED);
}

/* Makes r's first `bytes` (rounded up to `grain`, a power of two, at most r's size) writable;
 * 0 when the OS refused. Lock held. */
static int region_commit_by(region *r, size_t bytes, size_t grain) {
    size_t size = (size_t)1 << r->shift;
    bytes = bytes < size - grain ? (bytes + grain - 1) & ~(grain - 1) : size;
    if (bytes <= r->committed) return 1;
    if (!aslab__os_make_writable(r->base + r->committed, bytes - r->committed)) return 0;
    r->committed = (uint32_t)bytes;
    return 1;
}

/* As region_commit_by, rounded up to a slab, or to COMMIT_GRAIN in a larger slab: what its
 * owner's never-used blocks are made writable by. */
static int region_commit(region *r, size_t bytes) {
    size_t slab = (size_t)1 << r->slab_shift;
    return region_commit_by(r, bytes, slab < COMMIT_GRAIN ? slab : COMMIT_GRAIN);
}

/* The bytes of slab `bit` of r that are writable, from its start: what a discard may touch
 * (aslab__os_discard clears what it cannot discard, which a read-only page would not allow). */
static size_t slab_committed(const region *r, unsigned bit) {
    size_t size = (size_t)1 << r->slab_shift, start = (size_t)bit << r->slab_shift;
    if (r->committed <= start) return 0;
    return r->committed - start < size ? r->committed - start : size;
}

/* Regions are mapped CHUNK_REGIONS at a time (one mmap for 16 classes' first regions: a
 * short-lived process touching 20 classes makes 2 mappings, not 20), or one at a time when
 * the address-space limit refuses a chunk. The chunk is under the lock; the mappings are made
 * outside it (fresh_map). */
#define CHUNK_REGIONS 16
static char *chunk_next, *chunk_end;
static int chunk_writable; /* the chunk was mapped writable */

/* Maps `size` bytes aligned to `align` for regions: writable (*writable 1), or reserved
 * read-only while commit_lazily. */
static char *region_mapping(size_t size, size_t align, int *writable) {
    if (!aslab__arena_commits_lazily() && aslab__os_strict_overcommit())
        __atomic_store_n(&commit_lazily, 1, __ATOMIC_RELAXED);
    *writable = 0;
    if (aslab__arena_commits_lazily()) return aslab__os_reserve_readable(size, align);
    char *p = aslab__os_map_aligned(size, align);
    if (p == NULL) return NULL;
    *writable = 1;
    if (aslab__os_populated(p + size - aslab__os_page_size())) { /* MCL_FUTURE */
        __atomic_store_n(&commit_lazily, 1, __ATOMIC_RELAXED);
        if (aslab__os_map_fixed_readonly(p, size)) *writable = 0; /* its pages go */
    }
    return p;
}

/* As region_mapping, or NULL when the kernel places them beyond the byte map (they are given
 * back: the fallback serves instead). */
static char *mapping_below_limit(size_t size, size_t align, int *writable) {
    char *p = region_mapping(size, align, writable);
    if (p != NULL && !aslab__arena_map_covers(p, size)) {
        aslab__os_unmap(p, size);
        p = NULL;
    }
    return p;
}

/* Memory for regions, mapped with the lock released: a chunk, or one region larger than
 * ASLAB_REGION_SIZE. base is NULL when there is none. */
typedef struct fresh_mapping {
    char *base;
    size_t size;
    int writable;
} fresh_mapping;

/* Maps what a new region of 2^shift bytes needs, the lock not held: mmap, munmap of the
 * alignment's slack and mincore take the kernel's lock of the address space, which every page
 * fault and every new thread's stack take too, and a holder of the arena's lock that waits
 * there makes every thread that needs a slab wait behind it (threads started in bursts queued
 * there: docs/thread-owned-slabs.md, "Threads that come and go"). */
static void fresh_map(unsigned shift, fresh_mapping *f) {
    if (shift > ASLAB_REGION_SHIFT) {
        f->size = (size_t)1 << shift;
        f->base = mapping_below_limit(f->size, f->size, &f->writable);
        return;
    }
    f->size = CHUNK_REGIONS * ASLAB_REGION_SIZE;
    f->base = mapping_below_limit(f->size, ASLAB_REGION_SIZE, &f->writable);
    if (f->base == NULL) {
        f->size = ASLAB_REGION_SIZE;
        f->base = mapping_below_limit(f->size, ASLAB_REGION_SIZE, &f->writable);
    }
}

/* A new region of 2^shift bytes, or NULL; *writable says whether all of it is writable. A
 * small one comes from the chunk, and f becomes the chunk when it is used up; a larger one is
 * f. What it takes of f leaves f's base NULL. Lock held. */
static char *region_memory(unsigned shift, fresh_mapping *f, int *writable) {
    char *base;
    if (shift > ASLAB_REGION_SHIFT) {
        base = f->base;
        *writable = f->writable;
        f->base = NULL;
        return base;
    }
    if (chunk_next == chunk_end && f->base != NULL) {
        chunk_next = f->base;
        chunk_end = f->base + f->size;
        chunk_writable = f->writable;
        f->base = NULL;
    }
    if (chunk_next == chunk_end) return NULL;
    base = chunk_next;
    chunk_next += ASLAB_REGION_SIZE;
    *writable = chunk_writable;
    return base;
}

/* r, which has a free slab now, joins its class's list if it is not on it. Lock held. */
static void nonfull_add(region *r) {
    if (r->on_nonfull) return;
    r->next_nonfull = nonfull[r->cls];
    nonfull[r->cls] = r;
    r->on_nonfull = 1;
}

/* Gives r (holding no slab) to class cls: its map byte, slab size and lists. Lock held. */
static void region_assign(region *r, unsigned cls) {
    r->cls = (uint8_t)cls;
    r->slab_shift = (uint8_t)aslab__classes[cls].slab_shift;
    r->free_mask = all_slabs_mask(r);
    r->dirty_mask = 0;
    r->squeezed_mask = 0;
    size_t first = (uintptr_t)r->base >> ASLAB_REGION_SHIFT;
    for (size_t i = 0; i < (size_t)1 << (r->shift - ASLAB_REGION_SHIFT); i++)
        __atomic_store_n(&aslab__regions.map[first + i], aslab__map_byte(cls), __ATOMIC_RELEASE);
    nonfull_add(r); /* never on a list here: new, or withdrawn from its old class's */
}

static size_t region_discard(region *r);

/* ---- recycling: free regions change class when no region can be mapped ----
 * When no region can be mapped (RLIMIT_AS, or the region table is full), regions of other
 * classes that hold no slab change class, so memory freed in one class can serve another.
 * Regions differ in size (a class whose slabs are larger than ASLAB_REGION_SIZE has regions
 * of one slab each), so a free region larger than the class needs is split into regions of
 * its size, and free regions smaller than that which together fill an aligned region of its
 * size are merged into one. Only dangling pointers can point into them. O(regions), on that
 * failure only. Lock held throughout. */

static size_t regions_absorbed; /* entries that are ABSORBED */

static int region_is_free(const region *r) {
    return r->shift != ABSORBED && r->free_mask == all_slabs_mask(r);
}

/* Takes r, which holds no slab, off its class's list and discards its dirty slabs. */
static void region_withdraw(region *r) {
    region **link = &nonfull[r->cls];
    while (*link != r)
        link = &(*link)->next_nonfull; /* a free region is listed */
    *link = r->next_nonfull;
    r->on_nonfull = 0;
    region_discard(r);
}

/* A new entry in the table for the region at `base` of 2^shift bytes; NULL when it is full
 * or the OS refused to make the page of the entry or its hash slot writable. */
static region *region_entry(char *base, unsigned shift) {
    if (region_count == MAX_REGIONS) return NULL;
    size_t index = region_count, slot = hash_free_slot((uintptr_t)base >> ASLAB_REGION_SHIFT);
    if (!aslab__lazy_writable(&regions_table, &regions[index], &regions[index + 1]) ||
        !aslab__lazy_writable(&hash_table, &region_hash[slot], &region_hash[slot + 1]))
        return NULL;
    region_count++;
    region *r = &regions[index];
    *r = (region){.base = base, .shift = (uint8_t)shift};
    region_hash[slot] = (uint32_t)(index + 1);
    return r;
}

/* Free region r, now of 2^shift bytes (its size, or the first part of it), to class cls. A
 * region that grows (region_merge) keeps its writable prefix: the rest comes as it is used. */
static region *region_reassign(region *r, unsigned shift, unsigned cls) {
    region_withdraw(r);
    r->shift = (uint8_t)shift;
    if (r->committed > (size_t)1 << shift) r->committed = (uint32_t)1 << shift;
    region_assign(r, cls);
    return r;
}

/* Splits free region r into regions of 2^shift bytes, all given to cls; r is the first. All
 * of r is made writable first: every piece then is, whatever its class needs. */
static region *region_split(region *r, unsigned shift, unsigned cls) {
    size_t pieces = (size_t)1 << (r->shift - shift);
    if (pieces > 64 || MAX_REGIONS - region_count < pieces - 1 ||
        !region_commit(r, (size_t)1 << r->shift))
        return NULL;
    region *made[64]; /* pieces - 1 <= 63: a region holds at most 64 slabs */
    for (size_t i = 1; i < pieces; i++) {
        made[i - 1] = region_entry(r->base + (i << shift), shift);
        if (made[i - 1] == NULL) { /* the pieces entered so far name no memory: r still does */
            for (size_t j = 0; j + 1 < i; j++, regions_absorbed++)
                made[j]->shift = ABSORBED;
            return NULL;
        }
    }
    for (size_t i = 0; i + 1 < pieces; i++) {
        made[i]->committed = (uint32_t)1 << shift;
        region_assign(made[i], cls);
    }
    return region_reassign(r, shift, cls);
}

/* The free region of 2^shift bytes at `base`, or NULL. */
static region *free_region_at(char *base, unsigned shift) {
    region *r = hash_find((uintptr_t)base >> ASLAB_REGION_SHIFT);
    return r != NULL && r->base == base && r->shift == shift && region_is_free(r) ? r : NULL;
}

/* Merges r, free and aligned to 2^shift, with the free regions of its size that follow it up
 * to 2^shift bytes into one region given to cls; NULL when one of them is missing or in use. */
static region *region_merge(region *r, unsigned shift, unsigned cls) {
    size_t piece = (size_t)1 << r->shift, pieces = (size_t)1 << (shift - r->shift);
    for (size_t i = 1; i < pieces; i++)
        if (free_region_at(r->base + i * piece, r->shift) == NULL) return NULL;
    for (size_t i = 1; i < pieces; i++) {
        region *q = free_region_at(r->base + i * piece, r->shift);
        region_withdraw(q);
        q->shift = ABSORBED;
        regions_absorbed++;
    }
    return region_reassign(r, shift, cls);
}

static region *region_recycle(unsigned cls) {
    unsigned shift = region_shift_for(cls);
    for (size_t i = 0; i < region_count; i++) {
        region *r = &regions[i], *got = NULL;
        if (r->cls == cls || !region_is_free(r)) continue;
        if (r->shift == shift)
            got = region_reassign(r, shift, cls);
        else if (r->shift > shift)
            got = region_split(r, shift, cls);
        else if (((uintptr_t)r->base & (((uintptr_t)1 << shift) - 1)) == 0)
            got = region_merge(r, shift, cls);
        if (got != NULL) return got;
    }
    return NULL;
}

/* One more region for class cls from memory mapped already (the chunk, or f), else, if
 * `may_recycle`, a recycled region. Lock held. */
static region *region_new(unsigned cls, fresh_mapping *f, int may_recycle) {
    unsigned shift = region_shift_for(cls);
    int writable = 0;
    char *base = region_count < MAX_REGIONS ? region_memory(shift, f, &writable) : NULL;
    if (base == NULL) return may_recycle ? region_recycle(cls) : NULL;
    region *r = region_entry(base, shift);
    if (r == NULL) { /* the OS refused the entry's page: a chunk's region stays unused */
        if (shift > ASLAB_REGION_SHIFT) f->base = base; /* unmapped by the caller */
        return NULL;
    }
    r->committed = writable ? (uint32_t)1 << shift : 0;
    mapped_bytes += (size_t)1 << shift;
    region_assign(r, cls);
    return r;
}

static size_t slab_bytes(const region *r) {
    return (size_t)1 << r->slab_shift;
}

static dirty_node *node_of(const region *r, unsigned bit) {
    return (dirty_node *)(r->base + ((size_t)bit << r->slab_shift) + NODE_OFFSET);
}

static void node_check(const dirty_node *node) {
    if (node->check != (NODE_KEY ^ (uintptr_t)node))
        aslab__os_fatal("free()", "heap corruption: a free slab's header was overwritten",
                        (const char *)node - NODE_OFFSET);
}

/* Queues slab `bit` of r, dirty since `since`, as the newest. Lock held. */
static void dirty_push(region *r, unsigned bit, uint64_t since) {
    dirty_node *node = node_of(r, bit);
    *node = (dirty_node){NODE_KEY ^ (uintptr_t)node, newest, NULL, since, r};
    if (newest != NULL)
        newest->next = node;
    else
        oldest = node;
    newest = node;
    r->dirty_mask |= (uint64_t)1 << bit;
    dirty_bytes += slab_bytes(r);
}

/* Takes slab `bit` of r off the queue; its pages stay as they are. Lock held. */
static void dirty_unlink(region *r, unsigned bit) {
    dirty_node *node = node_of(r, bit);
    node_check(node);
    if (node->prev != NULL) node_check(node->prev);
    if (node->next != NULL) node_check(node->next);
    *(node->prev != NULL ? &node->prev->next : &oldest) = node->next;
    *(node->next != NULL ? &node->next->prev : &newest) = node->prev;
    r->dirty_mask &= ~((uint64_t)1 << bit);
    dirty_bytes -= slab_bytes(r);
}

/* Slab `bit` of r, taken clean at `now`: if the cap discarded it within the decay time, the
 * cap was too tight for this program (purge.h, the refault allowance). Lock held. */
static void squeeze_check(region *r, unsigned bit, uint64_t now) {
    uint64_t one = (uint64_t)1 << bit;
    if (!(r->squeezed_mask & one)) return;
    r->squeezed_mask &= ~one;
    if (now - r->squeezed_ms < aslab__purge_age()) aslab__purge_refault(slab_bytes(r), now);
}

/* Takes a free slab of r, preferring one whose pages are still resident, made writable (NULL
 * when the OS refused: nothing changed). A slab that is not dirty was never written since its
 * region was mapped, or was discarded since (os.h): it reads zero, and the calling thread's
 * note says so. Lock held. */
static void *region_take(region *r, uint64_t now) {
    int dirty = r->dirty_mask != 0;
    unsigned bit = (unsigned)__builtin_ctzll(dirty ? r->dirty_mask : r->free_mask);
    /* a slab of a region whole; a larger one its header's page, the rest as it is used (a
     * class's first slab, which the core keeps for its cache's header, is never used) */
    size_t start = (size_t)bit << r->slab_shift, page = aslab__os_page_size();
    if (r->slab_shift <= ASLAB_REGION_SHIFT ? !region_commit(r, start + 1)
                                            : !region_commit_by(r, start + page, page))
        return NULL;
    if (dirty)
        dirty_unlink(r, bit);
    else
        squeeze_check(r, bit, now);
    r->free_mask &= ~((uint64_t)1 << bit);
    if (r->free_mask == 0) { /* r is the head of its class's list */
        nonfull[r->cls] = r->next_nonfull;
        r->on_nonfull = 0;
    }
    slabs_live++;
    slab_takes++;
    slab_bytes_live += slab_bytes(r);
    char *slab = r->base + ((size_t)bit << r->slab_shift);
    zero_slab = dirty ? NULL : slab;
    return slab;
}

/* Takes dirty slab `bit` of r off the queue for a discard by the cap or the age at `now`,
 * marking it squeezed where the cap took it young. Lock held. */
static void discard_unlink(region *r, unsigned bit, uint64_t now) {
    if (now - node_of(r, bit)->since_ms < aslab__purge_age()) { /* the cap's, not the age's */
        r->squeezed_mask |= (uint64_t)1 << bit;
        r->squeezed_ms = now;
    }
    dirty_unlink(r, bit);
}

/* How many dirty, wholly writable slabs of r follow slab `bit` without a gap, each taken off
 * the queue for the discard that takes `bit`. Lock held. */
static unsigned discard_followers(region *r, unsigned bit, uint64_t now) {
    unsigned n = 0;
    while (bit + n + 1 < 64 && (r->dirty_mask >> (bit + n + 1) & 1) &&
           slab_committed(r, bit + n + 1) == slab_bytes(r)) {
        discard_unlink(r, bit + n + 1, now);
        n++;
    }
    return n;
}

/* ---- discards with the lock released ----
 * madvise takes the kernel's lock of the address space and flushes the other cores' TLBs: a
 * holder of the arena's lock that made the call kept every thread that needed a slab waiting
 * (threads started in bursts: 777 calls in a run, 210 sleeps on the lock). So the slabs to
 * discard are chosen under the lock and taken out of their regions' free slabs, as if lent,
 * so that nobody takes one while its pages go; the calls are made with the lock released;
 * then, under the lock again, the slabs are free once more, clean. A region whose free slabs
 * are all being discarded may stay on its class's list meanwhile: the head of the list is
 * passed over while it has none (nonfull_head). */

#define BATCH_RUNS 16

typedef struct discard_run {
    region *r;
    uint64_t bits; /* the slabs of r the run covers */
    char *start;
    size_t bytes; /* what is writable of them, from start: what the call discards */
} discard_run;

typedef struct discard_batch {
    unsigned n;
    discard_run run[BATCH_RUNS];
} discard_batch;

/* Batches in flight: chosen, and not yet free again. Lock held to change or read it. */
static unsigned batches_out;

/* The slabs `bits` of r, writable for `bytes` from `start`, leave r's free slabs until the
 * batch is done. Lock held; b has room. */
static void batch_add(discard_batch *b, region *r, uint64_t bits, char *start, size_t bytes) {
    if (b->n == 0) batches_out++;
    r->free_mask &= ~bits;
    b->run[b->n++] = (discard_run){r, bits, start, bytes};
}

/* The calls, one per run of neighbours in address (runs of neighbouring regions join). Lock
 * not held. */
static void batch_discard(const discard_batch *b) {
    char *start = NULL;
    size_t bytes = 0;
    for (unsigned i = 0; i < b->n; i++) {
        const discard_run *run = &b->run[i];
        if (run->bytes == 0) continue;
        if (bytes != 0 && start + bytes == run->start) {
            bytes += run->bytes;
            continue;
        }
        if (bytes != 0) aslab__os_discard(start, bytes);
        start = run->start, bytes = run->bytes;
    }
    if (bytes != 0) aslab__os_discard(start, bytes);
}

/* The batch's slabs are free again, and read zero. Lock held. */
static void batch_restore(discard_batch *b) {
    for (unsigned i = 0; i < b->n; i++) {
        region *r = b->run[i].r;
        r->free_mask |= b->run[i].bits;
        nonfull_add(r);
    }
    if (b->n != 0) batches_out--;
    b->n = 0;
}

/* The class's first region with a free slab, passing over those whose free slabs are all in a
 * batch. Lock held. */
static region *nonfull_head(unsigned cls) {
    region *r;
    while ((r = nonfull[cls]) != NULL && r->free_mask == 0) {
        nonfull[cls] = r->next_nonfull;
        r->on_nonfull = 0;
    }
    return r;
}

/* Chooses the oldest dirty slabs while there are more than `down_to` bytes of them, or the
 * oldest has been free `min_age` ms, and while b has room: a slab's dirty neighbours after it
 * in its region go with it, younger or not, since slabs of many classes go free in turn, and
 * the queue's neighbours in time are then never neighbours in address (frag's last phase:
 * 17,341 calls of one slab each). Returns the bytes. Lock held. */
static size_t discard_oldest(size_t down_to, uint64_t min_age, uint64_t now, discard_batch *b) {
    size_t done = 0;
    while (oldest != NULL && b->n < BATCH_RUNS &&
           (dirty_bytes > down_to || now - oldest->since_ms >= min_age)) {
        node_check(oldest);
        region *r = oldest->owner;
        char *slab = (char *)oldest - NODE_OFFSET;
        size_t size = slab_bytes(r);
        unsigned bit = (unsigned)((size_t)(slab - r->base) >> r->slab_shift);
        discard_unlink(r, bit, now);
        size_t writable = slab_committed(r, bit);
        uint64_t bits = (uint64_t)1 << bit;
        if (writable == size) { /* else a large slab in part writable: alone, and no further */
            unsigned more = discard_followers(r, bit, now);
            bits |= (((uint64_t)1 << more) - 1) << (bit + 1);
            writable = size += size * more;
        }
        batch_add(b, r, bits, slab, writable);
        done += size;
    }
    return done;
}

/* What every hook call does last: the cap, then the age. The clock is read under the lock,
 * so the queue's stamps never decrease. Lock held. */
static void enforce(uint64_t now, discard_batch *b) {
    size_t peak = aslab__peak_note(&live_peak, slab_bytes_live, now);
    if (dirty_bytes > aslab__purge_cap(slab_bytes_live, peak))
        discard_oldest(aslab__purge_target(slab_bytes_live, peak), UINT64_MAX, now, b);
    if (oldest != NULL && now - oldest->since_ms >= aslab__purge_age())
        discard_oldest(SIZE_MAX, aslab__purge_age(), now, b);
}

/* After a hook call's unlock: b's discards, then more while a full batch left the cap or the
 * age unmet. Lock not held. */
static void batch_finish(discard_batch *b) {
    while (b->n != 0) {
        int full = b->n == BATCH_RUNS;
        batch_discard(b);
        lock();
        batch_restore(b);
        if (full) enforce(aslab__purge_now(), b);
        unlock();
    }
}

/* The class's alloc hook: context is the class. */
static void *arena_slab_alloc(void *context, size_t size, size_t align) {
    unsigned cls = (unsigned)(uintptr_t)context;
    if (cls == 0 || cls > ASLAB_NUM_CLASSES || size != align ||
        size != (size_t)1 << aslab__classes[cls].slab_shift)
        return NULL;
    int saved_errno = errno; /* a refused mapping is not the caller's error if we recover */
    fresh_mapping f = {NULL, 0, 0};
    discard_batch b = {0};
    lock();
    region *r = nonfull_head(cls);
    if (r == NULL) r = region_new(cls, &f, 0);
    if (r == NULL) {
        unlock();
        fresh_map(region_shift_for(cls), &f);
        lock();
        if ((r = nonfull_head(cls)) == NULL) r = region_new(cls, &f, 1);
    }
    uint64_t now = aslab__purge_now();
    void *slab = r != NULL ? region_take(r, now) : NULL;
    enforce(now, &b);
    unlock();
    if (f.base != NULL) aslab__os_unmap(f.base, f.size); /* another thread mapped first */
    batch_finish(&b);
    if (slab != NULL) errno = saved_errno;
    return slab;
}

/* Discards r's dirty slabs, coalescing neighbours into one call. Lock held. */
static size_t region_discard(region *r) {
    size_t size = slab_bytes(r), done = 0;
    uint64_t mask = r->dirty_mask;
    while (mask != 0) {
        unsigned first = (unsigned)__builtin_ctzll(mask), last = first;
        while (last + 1 < 64 && (mask & ((uint64_t)1 << (last + 1))))
            last++;
        for (unsigned bit = first; bit <= last; bit++)
            dirty_unlink(r, bit);
        size_t bytes = (size_t)(last - first + 1) * size, start = (size_t)first * size;
        if (start < r->committed)
            aslab__os_discard(r->base + start,
                              r->committed - start < bytes ? r->committed - start : bytes);
        done += bytes;
        mask &= last + 1 < 64 ? ~((((uint64_t)1 << (last + 1)) - 1)) : 0;
    }
    return done;
}

/* A slab back from the core goes to the queue as the newest dirty slab, or straight to the
 * OS when the decay is 0 or the heap says it has idled for the decay time already. */
static aslab_error arena_slab_free(void *context, void *slab, size_t size, size_t align) {
    uintptr_t key = (uintptr_t)slab >> ASLAB_REGION_SHIFT;
    (void)context, (void)align;
    lock();
    uint64_t now = aslab__purge_now();
    region *r = key < ASLAB_MAP_ENTRIES && aslab__regions.map[key] ? hash_find(key) : NULL;
    if (r == NULL || size != slab_bytes(r)) {
        unlock();
        return ASLAB_ERR_INVALID_POINTER;
    }
    unsigned bit = (unsigned)(((uintptr_t)slab - (uintptr_t)r->base) >> r->slab_shift);
    discard_batch b = {0};
    slabs_live--;
    slab_gives++;
    slab_bytes_live -= size;
    if (aslab__purge_at_once() || discard_frees) { /* free once discarded (batch_restore) */
        batch_add(&b, r, (uint64_t)1 << bit, slab, slab_committed(r, bit));
    } else {
        r->free_mask |= (uint64_t)1 << bit;
        nonfull_add(r);
        dirty_push(r, bit, now);
    }
    enforce(now, &b);
    unlock();
    batch_finish(&b);
    return ASLAB_OK;
}

const aslab_slab_hooks aslab__arena_class_hooks = {arena_slab_alloc, arena_slab_free};

/* The program-wide pair the core's link asks for. Every cache of the malloc names the class
 * hooks above instead, so this pair serves none: a cache created without its class is refused
 * its slabs, and since no slab ever comes from here, none can come back. */
static void *no_class_slab(size_t size, size_t align) {
    (void)size, (void)align;
    return NULL;
}

static aslab_error no_class_slab_free(void *slab, size_t size, size_t align) {
    (void)slab, (void)size, (void)align;
    return ASLAB_ERR_INVALID_POINTER;
}

ASLAB_DEFINE_ALLOCATION_HOOKS(no_class_slab, no_class_slab_free);

size_t aslab__arena_commit(void *slab, size_t bytes) {
    lock();
    region *r = hash_find((uintptr_t)slab >> ASLAB_REGION_SHIFT);
    size_t writable = 0;
    if (r != NULL) {
        size_t offset = (size_t)((char *)slab - r->base);
        (void)region_commit(r, offset + bytes);
        writable = slab_committed(r, (unsigned)(offset >> r->slab_shift));
    }
    unlock();
    return writable;
}

/* ---- the map under strict overcommit (docs/plan-strict-overcommit.md) ----
 * The map is 512 MiB of .bss, read at a fixed address by every free, and touched a page per
 * GiB of regions: a lazy table (lazy_table.h; as plain .bss it was charged whole to the commit
 * limit at start: under vm.overcommit_memory=2, 3 of 40 processes started). A page of it is
 * made writable by aslab__arena_map_covers, which every writer of a new entry calls before
 * any step it could not undo (and whose first call maps the table again: a direct block can
 * come before the set-up); a refusal fails the region or the direct block, which the fallback
 * then serves. */

static uint64_t map_writable[ASLAB__LAZY_WORDS(sizeof aslab__regions.map)];
static aslab__lazy_table map_table = ASLAB__LAZY_TABLE(aslab__regions.map, map_writable);

int aslab__arena_map_covers(const void *start, size_t size) {
    uintptr_t first = (uintptr_t)start, last = first + size - 1;
    return size != 0 && last >= first && last >> ASLAB_REGION_SHIFT < ASLAB_MAP_ENTRIES &&
           aslab__lazy_writable(&map_table, &aslab__regions.map[first >> ASLAB_REGION_SHIFT],
                                &aslab__regions.map[(last >> ASLAB_REGION_SHIFT) + 1]);
}

/* Release stores: a thread that reads the value and then the block's header sees the header
 * written before the entry was set. */
void aslab__arena_map_set(const void *start, size_t size, uint8_t value) {
    uintptr_t first = (uintptr_t)start >> ASLAB_REGION_SHIFT;
    uintptr_t end = ((uintptr_t)start + size + ASLAB_REGION_SIZE - 1) >> ASLAB_REGION_SHIFT;
    for (uintptr_t index = first; index < end; index++)
        __atomic_store_n(&aslab__regions.map[index], value, __ATOMIC_RELEASE);
}

size_t aslab__arena_purge(uint64_t min_age) {
    discard_batch b = {0};
    size_t done = 0;
    do {
        lock();
        batch_restore(&b);
        done += discard_oldest(SIZE_MAX, min_age, aslab__purge_now(), &b);
        unlock();
        batch_discard(&b);
    } while (b.n != 0);
    return done;
}

uint64_t aslab__arena_next_due(void) {
    lock();
    uint64_t now = aslab__purge_now(), age = aslab__purge_age();
    uint64_t due = UINT64_MAX;
    if (oldest != NULL && age != UINT64_MAX)
        due = now - oldest->since_ms >= age ? 0 : age - (now - oldest->since_ms);
    unlock();
    return due;
}

void aslab__arena_stats_get(aslab__arena_stats *out) {
    lock();
    out->regions = region_count - regions_absorbed;
    out->mapped = mapped_bytes;
    out->slabs_live = slabs_live;
    out->slab_bytes = slab_bytes_live;
    out->dirty_bytes = dirty_bytes;
    out->takes = slab_takes;
    out->gives = slab_gives;
    unlock();
    aslab_futexlock_counts(arena_lock, &out->sleeps, &out->wakes);
}

void aslab__arena_tables_init(void) {
    aslab__lazy_prepare(&map_table);
    aslab__lazy_prepare(&regions_table);
    aslab__lazy_prepare(&hash_table);
}

/* No batch is in flight in the child: its slabs would never be free again there. */
void aslab__arena_fork_prepare(void) {
    lock();
    while (batches_out != 0) {
        unlock();
        sched_yield();
        lock();
    }
}
void aslab__arena_fork_parent(void) {
    unlock();
}
void aslab__arena_fork_child(void) {
    aslab_futexlock.init(arena_lock);
    aslab__lazy_fork_child(&map_table);
    aslab__lazy_fork_child(&regions_table);
    aslab__lazy_fork_child(&hash_table);
}

void aslab__arena_lent_set(const void *slab, size_t size, uintptr_t entry, int lent) {
    for (uintptr_t at = (uintptr_t)slab; at < (uintptr_t)slab + size;
         at += (uintptr_t)1 << ASLAB_LENT_SHIFT) {
        uintptr_t *slot = &aslab__regions.lent_first[(uint32_t)at >> ASLAB_LENT_SHIFT];
        if (lent) {
            __atomic_store_n(slot, entry, __ATOMIC_RELEASE);
            continue;
        }
        uintptr_t mine = entry; /* a slab 4 GiB away may have the entry now: leave it */
        __atomic_compare_exchange_n(slot, &mine, 0, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED);
    }
}
