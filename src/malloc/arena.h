/* arena.h - where the malloc's slabs live, and the ownership test for any pointer.
 *
 * The arena hands out slabs in regions of ASLAB_REGION_SIZE bytes, each mapped aligned to
 * its size and dedicated to one size class. A flat byte map, indexed by address >> 22 over
 * the 48-bit user address space, holds the class (1..64) of every region we own and 0 elsewhere:
 * so "is this pointer ours, and of which class" is one load that cannot fault, made before
 * any slab header is read. Regions are mapped one at a time as classes grow (no giant
 * reservation, so RLIMIT_AS limits are respected), and never unmapped, so a map entry never
 * goes stale. Directly mapped blocks (direct.h) mark their entries too, with their own value.
 *
 * Slabs the core gives back are marked free and dirty and queued, oldest first, each with
 * the time it went free. Every call of the slab hooks then applies purge.h's policy to the
 * queue: past the cap, the oldest slabs are discarded (MADV_DONTNEED) in a batch; slabs free
 * for the decay time are discarded; malloc_trim discards them all.
 */
#ifndef ASLAB_MALLOC_ARENA_H
#define ASLAB_MALLOC_ARENA_H

#include <stddef.h>
#include <stdint.h>

#pragma GCC visibility push(hidden) /* internal to the library: no GOT */

#define ASLAB_REGION_SHIFT 22
#define ASLAB_REGION_SIZE  ((size_t)1 << ASLAB_REGION_SHIFT)
/* 48 bits: x86-64 with 4-level paging (47) and arm64's default user space (48). A kernel with
 * 57-bit addresses hands out addresses above 2^47 only to a mapping that asks for them with a
 * hint; one that comes back above the map anyway is given back (region_memory), and every
 * address above it reads as foreign. The map is 64 MiB of address space, touched only where
 * regions are. */
#define ASLAB_ADDRESS_BITS 48
#define ASLAB_MAP_ENTRIES  ((size_t)1 << (ASLAB_ADDRESS_BITS - ASLAB_REGION_SHIFT))

extern uint8_t aslab__region_class[ASLAB_MAP_ENTRIES];

/* The map's value for the entries of a directly mapped block (direct.h): no size class is
 * numbered so high. Unlike a region's, these entries go back to 0 when the block is unmapped
 * (before the munmap, so an entry never reads 255 over memory that is gone). */
#define ASLAB_MAP_DIRECT 255

/* Sets every entry of [start, start + size) to `value` (start aligned to ASLAB_REGION_SIZE;
 * the whole range below 2^ASLAB_ADDRESS_BITS: see aslab__arena_map_covers). */
void aslab__arena_map_set(const void *start, size_t size, uint8_t value);
/* Nonzero when the map has entries for all of [start, start + size). */
int aslab__arena_map_covers(const void *start, size_t size);

/* The class (1..) of the region p lies in, or 0 when it is none of ours (NULL included).
 * One load that never faults. */
static inline unsigned aslab__owner_class(const void *p) {
    uintptr_t index = (uintptr_t)p >> ASLAB_REGION_SHIFT;
    return index < ASLAB_MAP_ENTRIES ? aslab__region_class[index] : 0;
}

/* The class the calling thread is about to fetch slabs for; the core's hooks carry only a
 * size, so the malloc says which class before each core call that may grow a cache. */
void aslab__arena_set_class(unsigned cls);

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
} aslab__arena_stats;
void aslab__arena_stats_get(aslab__arena_stats *out);

void aslab__arena_fork_prepare(void);
void aslab__arena_fork_parent(void);
void aslab__arena_fork_child(void);

#pragma GCC visibility pop
#endif
