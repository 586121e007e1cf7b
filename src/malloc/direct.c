/* direct.c - directly mapped blocks (direct.h): mapping one, checking a pointer to one,
 * resizing it with mremap, unmapping it. */
#include "direct.h"

#include "arena.h"
#include "large.h"
#include "os.h"
#include "purge.h"

#include <errno.h>
#include <string.h>

typedef struct direct_header {
    uintptr_t magic;   /* DIRECT_KEY ^ the header's own address: a copied header is told apart */
    size_t map_size;   /* bytes mapped, whole map entries, the header's included */
    size_t asked;      /* the size last asked for: what a shrink discards the pages beyond */
    uint64_t since_ms; /* the spare's: when it was freed */
} direct_header;

_Static_assert(sizeof(direct_header) <= ASLAB_DIRECT_HEADER, "the header fits before the block");
_Static_assert(ASLAB_DIRECT_HEADER % 64 == 0, "blocks are 64-byte aligned");

#define DIRECT_KEY ((uintptr_t)0x6a09e667f3bcc909ull)
#define SPARE_KEY  ((uintptr_t)0xbb67ae8584caa73bull) /* the spare's header: no block */
#define ENTRY_MASK ((uintptr_t)ASLAB_REGION_SIZE - 1)

static size_t blocks, mapped;
static uint64_t requests, resized, moved;
static size_t realloc_min = ASLAB_DIRECT_REALLOC_MIN; /* aslab__direct_realloc_min */
static direct_header *spare;     /* a freed block's mapping kept for the next request, or NULL */
static size_t spare_bytes;       /* its mapping's bytes, counted in `mapped` too */
static aslab__squeezed unmapped; /* mappings unmapped at their free: a request soon after
                                  * takes back what they held (the refault allowance) */

static uintptr_t magic_for(const direct_header *h) {
    return DIRECT_KEY ^ (uintptr_t)h;
}

static char *block_of(direct_header *h) {
    return (char *)h + ASLAB_DIRECT_HEADER;
}

/* The mapping a block of `size` bytes needs: whole entries; 0 when no mapping could hold it. */
static size_t map_size_for(size_t size) {
    if (size > SIZE_MAX - ASLAB_DIRECT_HEADER - ENTRY_MASK) return 0;
    return (size + ASLAB_DIRECT_HEADER + ENTRY_MASK) & ~ENTRY_MASK;
}

static void count_mapped(long blocks_delta, size_t add, size_t remove) {
    if (blocks_delta != 0) __atomic_add_fetch(&blocks, (size_t)blocks_delta, __ATOMIC_RELAXED);
    __atomic_add_fetch(&mapped, add - remove, __ATOMIC_RELAXED);
}

/* p's entry reads ASLAB_MAP_DIRECT, so the entry is mapped: a block's header opens it when p
 * is a block's start. The position is checked before the header is read. */
static direct_header *header_of(void *p, const char *fn) {
    direct_header *h = (direct_header *)((uintptr_t)p & ~ENTRY_MASK);
    if ((char *)p != block_of(h))
        aslab__os_fatal(fn, "invalid pointer (not the start of a block)", p);
    if (h->magic == (SPARE_KEY ^ (uintptr_t)h)) aslab__os_fatal(fn, "block already freed", p);
    if (h->magic != magic_for(h))
        aslab__os_fatal(fn, "invalid pointer (no directly mapped block starts there)", p);
    return h;
}

/* ---- the spare mapping ----
 * A program that frees a direct block and soon asks for another faults every page of the new
 * one in (13,000 for a 51 MiB block). When the refault allowance (purge.h) says the program
 * takes back what was returned, the freed mapping is kept, pages and all, as the spare: its
 * map entries stay (reading ASLAB_MAP_DIRECT, so a stale pointer into it is checked, not
 * followed elsewhere) and its header says it holds no block. The next request it fits takes
 * it (shrunk to size, cleared where it was written if asked zeroed); the round unmaps it once
 * it has been spare for the decay time, malloc_trim at once. One slot, swapped atomically:
 * no lock to hold across fork. */

static void unmap_mapping(direct_header *h) {
    size_t map = h->map_size;
    aslab__arena_map_set(h, map, 0);
    aslab__os_unmap(h, map);
    count_mapped(0, 0, map);
}

/* Puts h (or NULL) in the slot and returns what was there. spare_bytes follows with the
 * sizes of the headers the caller owns: h before the exchange, the old one after it. */
static direct_header *spare_swap(direct_header *h) {
    if (h != NULL) __atomic_add_fetch(&spare_bytes, h->map_size, __ATOMIC_RELAXED);
    direct_header *old = __atomic_exchange_n(&spare, h, __ATOMIC_ACQ_REL);
    if (old != NULL) __atomic_sub_fetch(&spare_bytes, old->map_size, __ATOMIC_RELAXED);
    return old;
}

/* Puts h in the slot; a spare it displaces is unmapped. */
static void spare_put(direct_header *h) {
    direct_header *old = spare_swap(h);
    if (old != NULL) unmap_mapping(old);
}

/* The spare if it can hold a block needing `map` bytes and is at most twice that, else
 * NULL (and the spare stays). */
static direct_header *spare_take(size_t map) {
    direct_header *h = spare_swap(NULL);
    if (h == NULL || (h->map_size >= map && h->map_size / 2 <= map)) return h;
    spare_put(h);
    return NULL;
}

static void shrink(direct_header *h, size_t map, size_t size);

/* The bytes of h's block that may not be zero: to the end of the page holding the last byte
 * its last size asked for. The pages past it are (a shrink discards what it leaves behind). */
static size_t maybe_written(direct_header *h) {
    uintptr_t page = aslab__os_page_size(), block = (uintptr_t)block_of(h);
    return ((block + h->asked + page - 1) & ~(page - 1)) - block;
}

/* The block of the spare h, sized and cleared for a request of `size` (map bytes): calloc
 * clears only what may have been written. */
static void *spare_reuse(direct_header *h, size_t map, size_t size, int zeroed) {
    size_t written = maybe_written(h);
    shrink(h, map, size);
    if (zeroed) memset(block_of(h), 0, written < size ? written : size);
    h->magic = magic_for(h);
    h->asked = size;
    count_mapped(1, 0, 0);
    __atomic_add_fetch(&requests, 1, __ATOMIC_RELAXED);
    return block_of(h);
}

void aslab__direct_round(uint64_t now) {
    direct_header *h = spare_swap(NULL);
    if (h == NULL) return;
    if (now - h->since_ms >= aslab__purge_age())
        unmap_mapping(h);
    else
        spare_put(h);
}

int aslab__direct_trim(void) {
    direct_header *h = spare_swap(NULL);
    if (h != NULL) unmap_mapping(h);
    return h != NULL;
}

/* ---- blocks ---- */

static void *map_new(size_t map, size_t size) {
    int saved_errno = errno; /* a refusal is the caller's to report, or to recover from */
    direct_header *h = aslab__os_map_aligned(map, ASLAB_REGION_SIZE);
    if (h == NULL && aslab__direct_trim()) /* the spare's address space, under RLIMIT_AS */
        h = aslab__os_map_aligned(map, ASLAB_REGION_SIZE);
    errno = saved_errno;
    if (h == NULL) return NULL;
    if (!aslab__arena_map_covers(h, map)) { /* beyond the map: could not be told apart */
        aslab__os_unmap(h, map);
        return NULL;
    }
    *h = (direct_header){magic_for(h), map, size, 0};
    aslab__arena_map_set(h, map, ASLAB_MAP_DIRECT);
    count_mapped(1, map, 0);
    __atomic_add_fetch(&requests, 1, __ATOMIC_RELAXED);
    return block_of(h);
}

void *aslab__direct_malloc(size_t size, int zeroed) {
    size_t map = map_size_for(size);
    if (map == 0) return NULL;
    aslab__squeezed_take(&unmapped, map);
    direct_header *h = spare_take(map);
    return h != NULL ? spare_reuse(h, map, size, zeroed) : map_new(map, size);
}

size_t aslab__direct_realloc_min(void) {
    return __atomic_load_n(&realloc_min, __ATOMIC_RELAXED);
}

/* A block of `size` bytes was freed: realloc maps no block that size or smaller any more. */
static void raise_realloc_min(size_t size) {
    size_t now = __atomic_load_n(&realloc_min, __ATOMIC_RELAXED);
    while (size > now && size <= ASLAB_DIRECT_MALLOC_MIN &&
           !__atomic_compare_exchange_n(&realloc_min, &now, size, 1, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
        ;
}

/* Kept as the spare while the program takes back what it returned (the refault allowance
 * has room for the block's pages) or, for a block of up to the allowance's most, cycles big
 * blocks (large.c), else unmapped. The second spares a program that frees its first direct
 * block in the middle of such a cycle the faults of the next (session 36's model of mstress,
 * whose blocks reached 51 MiB: 57.7 k -> 46.5 k faults; mimalloc-bench's own mstress makes
 * none above 5 MiB, docs/STATUS.md session 37); a process that has not
 * cycled still sees the pages go at once, and one that cycles 1 MiB blocks keeps no 1 GiB
 * array it frees. */
static int keeps_as_spare(size_t asked) {
    return asked <= aslab__purge_allowance() ||
           (asked <= ASLAB_PURGE_ALLOWANCE_MAX && aslab__large_cycling());
}

void aslab__direct_free(void *p, const char *fn) {
    direct_header *h = header_of(p, fn);
    raise_realloc_min(h->asked);
    count_mapped(-1, 0, 0);
    if (keeps_as_spare(h->asked)) {
        h->magic = SPARE_KEY ^ (uintptr_t)h;
        h->since_ms = aslab__purge_now();
        spare_put(h);
        return;
    }
    aslab__squeezed_add(&unmapped, h->map_size);
    unmap_mapping(h);
}

size_t aslab__direct_usable_size(void *p, const char *fn) {
    return header_of(p, fn)->map_size - ASLAB_DIRECT_HEADER;
}

/* The pages of the block past `size` that the last size asked for reached, given back: a
 * shrink leaves nothing resident that a free would not. */
static void discard_beyond(direct_header *h, size_t size) {
    uintptr_t page = aslab__os_page_size(), block = (uintptr_t)block_of(h);
    uintptr_t from = (block + size + page - 1) & ~(page - 1);
    uintptr_t to = (block + h->asked + page - 1) & ~(page - 1);
    uintptr_t end = (uintptr_t)h + h->map_size;
    if (to > end) to = end;
    if (to > from) aslab__os_discard((void *)from, to - from);
}

/* To `map` bytes or fewer: the entries past it are cleared, then unmapped. */
static void shrink(direct_header *h, size_t map, size_t size) {
    size_t old = h->map_size;
    if (map < old) {
        aslab__arena_map_set((char *)h + map, old - map, 0);
        aslab__os_remap_in_place(h, old, map); /* a shrink cannot fail */
        h->map_size = map;
        count_mapped(0, 0, old - map);
    }
    if (size < h->asked) discard_beyond(h, size);
}

/* Grows the mapping to `map` bytes where it is; 0 when the addresses after it are taken. */
static int grow_in_place(direct_header *h, size_t map) {
    size_t old = h->map_size;
    if (!aslab__arena_map_covers(h, map) || aslab__os_remap_in_place(h, old, map) != 0) return 0;
    aslab__arena_map_set((char *)h + old, map - old, ASLAB_MAP_DIRECT);
    h->map_size = map;
    count_mapped(0, map - old, 0);
    return 1;
}

/* Moves the mapping, grown to `map` bytes, onto addresses reserved for it, aligned as a new
 * one's; its old entries are cleared first and set again if the move fails. */
static direct_header *move_grown(direct_header *h, size_t map) {
    direct_header *to = aslab__os_reserve_aligned(map, ASLAB_REGION_SIZE);
    if (to == NULL) return NULL;
    if (!aslab__arena_map_covers(to, map)) {
        aslab__os_unmap(to, map);
        return NULL;
    }
    size_t old = h->map_size;
    aslab__arena_map_set(h, old, 0);
    if (aslab__os_remap_to(h, old, map, to) != 0) {
        /* mremap checks the map count and the limits before it unmaps the reservation (it
         * does so to fail cleanly): only a failure to allocate kernel memory comes after. */
        aslab__os_unmap(to, map);
        aslab__arena_map_set(h, old, ASLAB_MAP_DIRECT);
        return NULL;
    }
    to->magic = magic_for(to);
    to->map_size = map;
    aslab__arena_map_set(to, map, ASLAB_MAP_DIRECT);
    count_mapped(0, map, old);
    return to;
}

void *aslab__direct_realloc(void *p, size_t size) {
    direct_header *h = header_of(p, "realloc()");
    size_t map = map_size_for(size);
    if (map == 0) return NULL;
    int saved_errno = errno;
    if (map <= h->map_size) {
        shrink(h, map, size);
    } else if (!grow_in_place(h, map)) {
        h = move_grown(h, map);
        errno = saved_errno;
        if (h == NULL) return NULL;
        __atomic_add_fetch(&moved, 1, __ATOMIC_RELAXED);
        h->asked = size;
        return block_of(h);
    }
    errno = saved_errno;
    __atomic_add_fetch(&resized, 1, __ATOMIC_RELAXED);
    h->asked = size;
    return p;
}

void aslab__direct_stats_get(aslab__direct_stats *out) {
    out->blocks = __atomic_load_n(&blocks, __ATOMIC_RELAXED);
    out->mapped = __atomic_load_n(&mapped, __ATOMIC_RELAXED);
    out->spare = __atomic_load_n(&spare_bytes, __ATOMIC_RELAXED);
    out->requests = __atomic_load_n(&requests, __ATOMIC_RELAXED);
    out->resized = __atomic_load_n(&resized, __ATOMIC_RELAXED);
    out->moved = __atomic_load_n(&moved, __ATOMIC_RELAXED);
}
