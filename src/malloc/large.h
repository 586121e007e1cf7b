/* large.h - blocks the fallback serves (over 16 KiB, over-aligned, foreign): which stay
 * resident once freed, and for how long. purge.h says when; this is the how for the
 * fallback, as arena.c is for slabs. Directly mapped blocks (direct.h: malloc beyond 32 MiB,
 * realloc beyond its threshold) never come here: they are unmapped when freed.
 *
 * - The pool: a freed block goes back to the fallback with its pages (jemalloc's own decay
 *   is off: it faulted a loop over 5-25 MiB blocks in again on every round). The bytes freed
 *   and not yet taken again are counted; past the cap the fallback's free pages are purged
 *   in one call (after a check of its own count), and at a round once the oldest of them is
 *   ASLAB_DECAY_MS old.
 * - The parked blocks: a program that frees a block of PARK_MIN or more and soon after asks
 *   for another is cycling through big blocks. While it does, the largest block a thread
 *   freed is kept aside in the thread's slot (parked, not freed) and handed to its next
 *   request that it fits, its pages and cache lines still warm, as the top of glibc's
 *   per-thread arenas is; a request its own cannot serve takes another thread's that fits
 *   (a thread that exited leaves its block). A parked block may exceed the cap while the
 *   program cycles (up to ASLAB_LARGE_PARK_MAX); unused for ASLAB_DECAY_MS, it is freed with
 *   its pages discarded at a round, and at once when the fallback cannot serve a request.
 * - A block of PARK_MIN or more that is not parked goes to the pool if it fits under the
 *   cap, and otherwise has its pages discarded as it is freed, as glibc unmaps its mmapped
 *   chunks. (Until session 38 only while the program cycled: a program's first big frees,
 *   before it can show that it cycles, were all discarded.)
 * - The freed mark: a block the program frees gets its first word set to the free key mixed
 *   with its address, so that a second free, realloc or malloc_usable_size of it aborts
 *   instead of letting jemalloc take it back twice (it checks nothing, and would later hand
 *   out overlapping blocks). A discarded block keeps the page that holds the mark.
 * - The set of the program's blocks (large_live.h): a pointer into the fallback's memory that
 *   is not the start of a block the fallback handed out and did not get back aborts too
 *   (jemalloc freed the block it fell in, or crashed without a word).
 * Each slot has its own lock; the cycle's times and the pool's counts are relaxed atomics.
 */
#ifndef ASLAB_MALLOC_LARGE_H
#define ASLAB_MALLOC_LARGE_H

#include <stddef.h>
#include <stdint.h>

#pragma GCC visibility push(hidden)

/* Blocks this large or larger can be parked, or discarded at once. */
#define ASLAB_LARGE_PARK_MIN ((size_t)1 << 20)
/* ... and none larger than this is parked: glibc keeps no chunk above its largest mmap
 * threshold either, and a parked block holds address space (RLIMIT_AS) as well as pages. */
#define ASLAB_LARGE_PARK_MAX ((size_t)32 << 20)

/* A block of `size` bytes (not 0) from the parked block or the fallback, zeroed if asked;
 * NULL if neither has one. Every block the fallback hands out comes through here or
 * aslab__large_aligned, so that the bytes the program holds there are counted. */
void *aslab__large_get(size_t size, int zeroed);
/* The fallback's block of `size` bytes (not 0) aligned to `align`, or NULL. */
void *aslab__large_aligned(size_t align, size_t size);
/* The fallback's realloc of p (not NULL) to `size` (not 0); what it frees on the way (the
 * old block when it moves, the tail when it shrinks) is counted in the pool. A foreign
 * block is the fallback's business alone, here and in aslab__large_put. */
void *aslab__large_realloc(void *p, size_t size);
/* The usable size of p (not aslab's) for fn (realloc, malloc_usable_size, free_sized):
 * aborts with "block already freed" when p is a fallback block the program freed and whose
 * freed mark is still there (large.c). */
size_t aslab__large_usable_size(void *p, const char *fn);
/* Frees p (not NULL, not aslab's) on behalf of fn: parked, pooled or discarded; aborts with
 * "double free detected" when p carries the freed mark. */
void aslab__large_put(void *p, const char *fn);
/* The round: the parked block and the pool, if old by `now`, go back to the OS. */
void aslab__large_round(uint64_t now);
/* Whether the program cycles big blocks: it asked for one within the decay time of a big
 * free, no longer ago than the decay time (never with ASLAB_DECAY_MS=0). */
int aslab__large_cycling(void);
/* Bytes of the parked block (free to the program, allocated to the fallback). */
size_t aslab__large_parked_bytes(void);
/* malloc_trim: both go back now; nonzero if anything could be returned. */
int aslab__large_trim(void);

void aslab__large_fork_prepare(void);
void aslab__large_fork_parent(void);
void aslab__large_fork_child(void);

#pragma GCC visibility pop
#endif
