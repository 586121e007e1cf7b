/* arena.h - where the malloc's slabs live, and the ownership test for any pointer.
 *
 * The arena hands out slabs in regions of ASLAB_REGION_SIZE bytes, each mapped aligned to
 * its size and dedicated to one size class. A flat byte map, indexed by address >> 18 over
 * the user address space, holds a byte naming the class of every region we own
 * (aslab__map_byte) and 0 elsewhere: so "is this pointer ours, and of which class" is one
 * load that cannot fault, made before any slab header is read. Regions are mapped a chunk at a
 * time as classes grow (no reservation beyond the map's own address space, so RLIMIT_AS
 * limits are respected), and never unmapped, so a map entry never goes stale. Directly mapped
 * blocks (direct.h) mark their entries too, with their own value.
 *
 * Slabs the core gives back are marked free and dirty and queued, oldest first, each with
 * the time it went free. Every call of the slab hooks then applies purge.h's policy to the
 * queue: past the cap, the oldest slabs are discarded (MADV_DONTNEED) in a batch; slabs free
 * for the decay time are discarded; malloc_trim discards them all.
 */
#ifndef ASLAB_MALLOC_ARENA_H
#define ASLAB_MALLOC_ARENA_H

#include "aslab.h"
#include "size_class.h"

#include <stddef.h>
#include <stdint.h>

#pragma GCC visibility push(hidden) /* internal to the library: no GOT */

/* Regions are 256 KiB (512 KiB off x86-64), so that the slabs of many classes share each
 * 2 MiB of address space: the page-table entries of a 2 MiB range sit in one page-table page,
 * and a program that touches the current slabs of 40 classes at once (random sizes) walks the
 * page tables of 5 such ranges instead of 40 (a class's region holds its first slabs, so every
 * class in use costs at least one range). Measured in session 19 on this machine's virtual
 * machine, where a TLB miss walks two levels of tables: with 4 MiB regions, bulk (batches of
 * mixed sizes, one thread) ran 1.2x as long, its simulated cache misses and instructions the
 * same (docs/thread-owned-slabs.md, "Regions of 256 KiB"). */
#if defined(__x86_64__)
#define ASLAB_REGION_SHIFT 18
#else
#define ASLAB_REGION_SHIFT 19
#endif
#define ASLAB_REGION_SIZE ((size_t)1 << ASLAB_REGION_SHIFT)
/* 47 bits on x86-64 (4-level paging; a kernel with 57-bit addresses hands out addresses above
 * 2^47 only to a mapping that asks for them with a hint), 48 elsewhere (arm64's default user
 * space). A mapping that comes back above the map anyway is given back (region_memory), and
 * every address above it reads as foreign. The map is 512 MiB of address space, touched only
 * where regions are (a page of it per 1 GiB of regions). */
#if defined(__x86_64__)
#define ASLAB_ADDRESS_BITS 47
#else
#define ASLAB_ADDRESS_BITS 48
#endif
#define ASLAB_MAP_ENTRIES ((size_t)1 << (ASLAB_ADDRESS_BITS - ASLAB_REGION_SHIFT))

/* The table of lent slabs (free's fast path, heap.h aslab__free_kept): per 64 KiB of address
 * space (the least a slab spans) modulo 4 GiB, slot 0's address of the lent slab that covers
 * it (of a small class with a kept list, or a medium class), with the class in its top 7 bits
 * (above every user address), or 0. A block's entry names its own slab while the slab is
 * lent, unless a slab a multiple of 4 GiB away was lent later: then its frees take the path
 * that reads the map (and, for a slab that is not the thread's current one, the header). */
#define ASLAB_LENT_SHIFT       16
#define ASLAB_LENT_SLOTS       ((size_t)1 << 16)
#define ASLAB_LENT_CLASS_SHIFT 57

/* Finding a pointer's slab: per region the map's byte, and per byte the mask that takes a
 * pointer to its slab's start (~(slab size - 1) of the byte's class) and the class's slot test
 * (heap.h, aslab__class_check). One object, so that the free path reaches them all from one
 * base address, and indexes the tables with the byte it read. */
typedef struct aslab__region_index {
    uintptr_t lent_first[ASLAB_LENT_SLOTS]; /* aslab__lent_entry; first, at no offset */
    uintptr_t slab_mask[256];
    uint64_t slot_magic[256];
    uint64_t slot_bound[256];
    uint64_t slot_offset[256]; /* of a lent slab's slot 0 from its start */
    /* The slot test's constants by class (not map byte), for the table of lent slabs' entries:
     * the magic, the bound, and (class << ASLAB_LENT_CLASS_SHIFT) * magic modulo 2^64, which
     * the test of p less an entry (slot 0 with the class above it) adds back (heap.h,
     * aslab__free_kept). Class 0's are 0: an empty entry passes no test. */
    uint64_t lent_magic[128];
    uint64_t lent_bound[128];
    uint64_t lent_adjust[128];
    /* slab_mask by class (not map byte), for the paths that know the class: one load, where
     * the byte would take five instructions to compute first */
    uintptr_t class_slab_mask[128];
    uint8_t map[ASLAB_MAP_ENTRIES];
} aslab__region_index;

extern aslab__region_index aslab__regions;

/* The map's bytes, so that free sorts a pointer with one compare per kind: a small class's
 * is its number plus ASLAB_MAP_SMALL_BIAS (192..255), a medium class's its number plus
 * ASLAB_MAP_MEDIUM_BIAS (128..175); below them ASLAB_MAP_DIRECT for a directly mapped block
 * (whose entries go back to 0 when the block is unmapped, before the munmap, so that an entry
 * never reads it over memory that is gone), and 0, not ours. ASLAB_MAP_DIRECT is also what
 * aslab__owner_class says for it: above every class's number. */
#define ASLAB_MAP_SMALL_BIAS  (255 - ASLAB_SMALL_CLASSES)
#define ASLAB_MAP_MEDIUM_BIAS (128 - ASLAB_SMALL_CLASSES - 1)
#define ASLAB_MAP_MEDIUM_MIN  128
#define ASLAB_MAP_DIRECT      127
_Static_assert(ASLAB_NUM_CLASSES < ASLAB_MAP_DIRECT &&
                   ASLAB_NUM_CLASSES + ASLAB_MAP_MEDIUM_BIAS <= ASLAB_MAP_SMALL_BIAS,
               "the map's bytes name one thing each");

static inline uint8_t aslab__map_byte(unsigned cls) {
    return (uint8_t)(cls +
                     (cls <= ASLAB_SMALL_CLASSES ? ASLAB_MAP_SMALL_BIAS : ASLAB_MAP_MEDIUM_BIAS));
}

/* Whether a map byte that is not a small class's names a medium class. */
static inline int aslab__byte_is_medium(unsigned byte) {
    return byte >= ASLAB_MAP_MEDIUM_MIN;
}

/* The class a map byte names (as aslab__owner_class). */
static inline unsigned aslab__map_class(unsigned byte) {
    if (byte > ASLAB_MAP_SMALL_BIAS) return byte - ASLAB_MAP_SMALL_BIAS;
    return byte >= ASLAB_MAP_MEDIUM_MIN ? byte - ASLAB_MAP_MEDIUM_BIAS : byte;
}

/* p's byte in the map: 0 when p is none of ours (NULL included). One load that never faults. */
static inline unsigned aslab__map_read(const void *p) {
    uintptr_t index = (uintptr_t)p >> ASLAB_REGION_SHIFT;
    return index < ASLAB_MAP_ENTRIES ? aslab__regions.map[index] : 0;
}

/* The table's entry for p's 64 KiB of address space. The index is the address's bits 16-31:
 * one 32-bit shift. */
static inline uintptr_t aslab__lent_entry(const void *p) {
    return __atomic_load_n(&aslab__regions.lent_first[(uint32_t)(uintptr_t)p >> ASLAB_LENT_SHIFT],
                           __ATOMIC_RELAXED);
}

/* Enters the small slab [slab, slab + size) in the table of lent slabs with `entry` (slot 0's
 * address with the class in its low bits), or (lent 0) takes it out where the entry is still
 * its own. */
void aslab__arena_lent_set(const void *slab, size_t size, uintptr_t entry, int lent);

/* The class (1..) of the region p lies in, ASLAB_MAP_DIRECT for a directly mapped block, or
 * 0 when it is none of ours. */
static inline unsigned aslab__owner_class(const void *p) {
    return aslab__map_class(aslab__map_read(p));
}

/* Sets every entry of [start, start + size) to `value` (start aligned to ASLAB_REGION_SIZE;
 * the whole range below 2^ASLAB_ADDRESS_BITS: see aslab__arena_map_covers). */
void aslab__arena_map_set(const void *start, size_t size, uint8_t value);
/* Nonzero when the map has entries for all of [start, start + size), made writable (arena.c:
 * the map under strict overcommit); 0 also when the OS refused that. */
int aslab__arena_map_covers(const void *start, size_t size);

/* Makes the first `bytes` of slab (a lent slab) writable, if they were not (arena.c: memory
 * reserved, then made writable as it is used); returns how many of its bytes are, from its
 * start: fewer than asked when the OS refused. Only a slab larger than ASLAB_REGION_SIZE has
 * any that are not. */
size_t aslab__arena_commit(void *slab, size_t bytes);
/* Whether the arena may hand out slabs that are not writable whole (strict overcommit or
 * MCL_FUTURE seen); while it is 0, every slab is. */
int aslab__arena_commits_lazily(void);

/* The hooks of every class's cache (init.c): the context is the class number, so that the
 * arena knows which class's regions a slab comes from. */
extern const aslab_slab_hooks aslab__arena_class_hooks;

/* Takes the calling thread's note of the last slab its core calls took from the arena that
 * reads zero (never written since mapped, or discarded since), and clears it; NULL when the
 * last slab taken was dirty, or none was. A core call that grows a cache and lends the slab
 * it grew in one hold of its lock (aslab_slab_lend) lends a slab that reads zero when the
 * note names it: the malloc clears the note before such a call and reads it after. */
void *aslab__arena_zero_note(void);

/* While `on`, the slabs the calling thread hands back are discarded at once rather than
 * queued: the heap sets it when it gives back reserves that have idled for the decay time. */
void aslab__arena_discard_frees(int on);
/* Discards every slab free for at least `min_age` ms; returns the bytes discarded. */
size_t aslab__arena_purge(uint64_t min_age);
/* Milliseconds until the oldest dirty slab is old, or UINT64_MAX when none will be. */
uint64_t aslab__arena_next_due(void);

typedef struct aslab__arena_stats {
    size_t regions;     /* regions mapped */
    size_t mapped;      /* their bytes */
    size_t slabs_live;  /* slabs held by the core caches */
    size_t slab_bytes;  /* their bytes */
    size_t dirty_bytes; /* free slabs not yet discarded */
    size_t takes;       /* slabs handed to the core caches, ever */
    size_t gives;       /* slabs they gave back, ever */
    unsigned sleeps;    /* futex waits on the arena's lock (one lock for every class) */
    unsigned wakes;     /* futex wake-ups it made */
} aslab__arena_stats;
void aslab__arena_stats_get(aslab__arena_stats *out);

/* At set-up: the arena's tables in .bss cost nothing until written (lazy_table.h). */
void aslab__arena_tables_init(void);

void aslab__arena_fork_prepare(void);
void aslab__arena_fork_parent(void);
void aslab__arena_fork_child(void);

#pragma GCC visibility pop
#endif
