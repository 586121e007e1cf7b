/* list_order.c - a small slab's free list put back in address order as the slab becomes its
 * owner's current one again.
 *
 * A slab's free list is in the order its blocks were freed. After a program frees blocks at
 * random (an interpreter's objects dying, a cache evicting), that order is random, and so are
 * the addresses malloc then hands out: blocks the program allocates one after another (and
 * later walks in that order) lie scattered over the slab. jemalloc hands out a slab's lowest
 * free slot first, from a bitmap. Here a partial slab's list is rebuilt lowest address first as
 * the slab is made current again, when at least a quarter of it is free (docs/thread-owned-
 * slabs.md, "Address order", has the measurements): the free blocks are found by the key in
 * their word 1, read from the slab's start up (the hardware prefetches it), not by a walk of the
 * list, which misses at every link. A list whose first links already step through the slab a
 * little at a time (blocks freed in the order they were handed out, or against it) is left as
 * it is: sh8bench's slabs were read whole for nothing at every wrap (session 39).
 */
#include "heap.h"

/* The most slots a small slab holds: 64 KiB of 16-byte blocks (size_class.c). */
#define MAX_SMALL_SLOTS 4096
#define BITS            64
/* Blocks under the smallest page size: no block can hold a whole page, so none can be one the
 * program has made unreadable with mprotect, whose word 1 the read below would fault on. */
#define SIZE_LIMIT      4096
/* A slab with fewer free blocks, or under a quarter of it free, keeps its list as it is: the
 * order saves less than the read of the whole slab costs (mixed, zmalloc). */
#define MIN_LISTED      16
#define MIN_FREE_FRAC   4

/* Links read from a list's head to tell blocks freed in address order from blocks freed at
 * random (list_runs_local). */
#define SAMPLED_LINKS  8
#define LOCAL_DISTANCE ((uintptr_t)4096)

typedef struct free_map {
    uint64_t bits[MAX_SMALL_SLOTS / BITS];
    uint32_t words; /* the words of bits in use */
} free_map;

/* Marks in map every slot of m whose word 1 holds the free key; how many. A read of the slab
 * from its start up, which the hardware prefetches, where a walk of the list would miss at
 * every link. It reads word 1 of live blocks too, which their holders may be writing in other
 * threads: a value read there decides nothing but that the block is not free (the key is only
 * ever stored in free blocks and cleared as they are handed out), hence no TSan report. */
__attribute__((no_sanitize("thread"))) static uint32_t mark_free(const aslab__mslab *m,
                                                                 uint32_t capacity, free_map *map) {
    const char *slot = (const char *)m->first;
    uintptr_t key = aslab__keys.free;
    uint32_t found = 0;
    for (uint32_t w = 0; w < map->words; w++) {
        uint64_t bits = 0;
        uint32_t n = capacity - w * BITS < BITS ? capacity - w * BITS : BITS;
        for (uint32_t b = 0; b < n; b++, slot += m->size)
            bits |= (uint64_t)(((const uintptr_t *)slot)[1] == key) << b;
        map->bits[w] = bits;
        found += (uint32_t)__builtin_popcountll(bits);
    }
    return found;
}

/* Whether `link`, an old link (decoded) or the list's head, names a block of m marked in map: a
 * slot's start inside the slab (tested first, so that the slot test is exact), marked. */
static int names_marked(const aslab__mslab *m, const free_map *map, uintptr_t link) {
    if (aslab__link_stray(link, &m->hot) != 0) return 0;
    uint32_t slot = aslab__slot_by_byte((const void *)link, m->first, aslab__map_byte(m->cls));
    return slot != UINT32_MAX && (map->bits[slot / BITS] >> (slot % BITS)) & 1;
}

/* Relinks the blocks marked in map, lowest address at the head. The marks are the list only if
 * every block on it carries the key: so the list's head, and each marked block's old link
 * (unless it is the list's end), must name a marked block, which a planted address or a key a
 * dangling write wiped fails (then the pop that would have reached the block stops malloc
 * here). With the counts equal, that proves the marks are the list: no block on a kept or
 * remote list is taken for a listed one. */
static void relink(aslab__mslab *m, const free_map *map) {
    uintptr_t end = (uintptr_t)m, next = end;
    if (!names_marked(m, map, (uintptr_t)m->free)) aslab__list_fault(m->free);
    for (uint32_t w = map->words; w-- > 0;) {
        for (uint64_t bits = map->bits[w]; bits != 0;) {
            unsigned top = BITS - 1 - (unsigned)__builtin_clzll(bits);
            bits &= ~((uint64_t)1 << top);
            uintptr_t *block = (uintptr_t *)(m->first + ((size_t)w * BITS + top) * m->size);
            uintptr_t old = aslab__link_encode(block[0], block);
            if (old != end && !names_marked(m, map, old)) aslab__list_fault(block);
            block[0] = aslab__link_encode(next, block);
            next = (uintptr_t)block;
        }
    }
    m->free = (void *)next;
}

/* Whether m's list runs through the slab in address order already, or against it: each of its
 * first SAMPLED_LINKS links names a block less than LOCAL_DISTANCE from the one before. Blocks
 * freed in the order they were handed out (a program freeing an array or a batch in order:
 * sh8bench's wraps) come back as local as the rebuild would make them, and the rebuild's read
 * of the whole slab is saved; blocks freed at random pass with a chance of about (2 pages in
 * the slab's pages)^SAMPLED_LINKS. */
static int list_runs_local(aslab__mslab *m) {
    uintptr_t *block = m->free;
    for (int i = 0; i < SAMPLED_LINKS && (void *)block != (void *)m; i++) {
        uintptr_t *next = aslab__list_next(&m->hot, block, "malloc()");
        if ((void *)next == (void *)m) return 0; /* shorter than its count: relink judges it */
        if ((uintptr_t)next - (uintptr_t)block + LOCAL_DISTANCE >= 2 * LOCAL_DISTANCE) return 0;
        block = next;
    }
    return 1;
}

void aslab__list_order(aslab__mslab *m) {
    uint32_t capacity = aslab__checks[m->cls].capacity;
    if (m->size >= SIZE_LIMIT || capacity > MAX_SMALL_SLOTS) return;
    /* Every slot handed out once: a slab comes to the partial list from the full one. */
    if (aslab__has_never_used(m)) return;
    uint32_t listed = capacity - m->used;
    if (listed < MIN_LISTED || listed * MIN_FREE_FRAC < capacity || list_runs_local(m)) return;
    free_map map;
    map.words = (capacity + BITS - 1) / BITS;
    /* Free blocks on a kept list or the remote list carry the key too: then the marks are not
     * the list, and the list stays as it is. */
    if (mark_free(m, capacity, &map) == listed) relink(m, &map);
}
