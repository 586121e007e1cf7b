/* direct.h - directly mapped blocks: a large block in a mapping of its own, which realloc
 * resizes with mremap (the pages move with their page tables, nothing is copied) and free
 * unmaps (nothing stays resident). glibc serves its mmapped chunks the same way. A program
 * that takes back what it frees (the refault allowance, purge.h) has its last freed mapping
 * kept as the spare for its next request, for at most the decay time (direct.c).
 *
 * Layout: the mapping starts on an entry of the arena's map (ASLAB_REGION_SIZE) and covers
 * whole entries; a header of ASLAB_DIRECT_HEADER bytes opens it and the block fills the rest
 * (its usable size). Pages never written cost address space only.
 *
 * Ownership, O(1) and fault-free: while the mapping lives, each of its entries in the map
 * reads ASLAB_MAP_DIRECT, and since it covers them whole no other block (the fallback's, a
 * foreign one) lies in them. The header is read only for a pointer whose entry reads so: it
 * must sit at the start of the pointer's entry and carry the magic for its own address, and
 * the pointer must be the block's start, else the call aborts with one line. The entries are
 * set after the header is written and cleared before the pages are unmapped.
 *
 * Each block is its owner's alone: no lock and no list (a fork copies the mappings as they
 * are); the statistics are relaxed atomic counters.
 */
#ifndef ASLAB_MALLOC_DIRECT_H
#define ASLAB_MALLOC_DIRECT_H

#include "size_class.h"

#include <stddef.h>
#include <stdint.h>

#pragma GCC visibility push(hidden)

/* Keeps the block 64-byte aligned (a cache line; the malloc promises 16). */
#define ASLAB_DIRECT_HEADER 64

/* No request of this size or less is directly mapped: smaller ones have classes of their
 * own, and a direct block shrunk to it moves there. */
#define ASLAB_DIRECT_MIN ASLAB_MEDIUM_MAX

/* malloc and calloc map a block directly beyond ASLAB_DIRECT_MALLOC_MIN. realloc moves a
 * block that is not directly mapped into one when it grows it beyond a threshold that starts
 * at ASLAB_DIRECT_REALLOC_MIN and rises, as glibc's mmap threshold does, to the size of each
 * direct block up to ASLAB_DIRECT_MALLOC_MIN that is freed: a program that frees such blocks
 * asks for them again, and the fallback keeps freed blocks warm (parked or pooled) where an
 * unmapped block's pages must be faulted in anew. docs/memory-return.md has the measurements.
 * Both are overridable (-D) so that a measuring build can try others. */
#ifndef ASLAB_DIRECT_REALLOC_MIN
#define ASLAB_DIRECT_REALLOC_MIN ASLAB_DIRECT_MIN
#endif
#ifndef ASLAB_DIRECT_MALLOC_MIN
#define ASLAB_DIRECT_MALLOC_MIN ((size_t)32 << 20)
#endif

/* realloc's threshold now: a block grown beyond it is moved into a direct one. */
size_t aslab__direct_realloc_min(void);

/* A block of `size` bytes (> ASLAB_DIRECT_MIN), zero-filled if `zeroed` (a new mapping always
 * is), or NULL when the OS refuses. */
void *aslab__direct_malloc(size_t size, int zeroed);
/* p's map entry reads ASLAB_MAP_DIRECT: checks p (see above) on behalf of fn, and unmaps it,
 * or keeps its mapping as the spare (direct.c) while the program takes back what it frees. */
void aslab__direct_free(void *p, const char *fn);
/* The round: the spare goes once it has been spare for the decay time. */
void aslab__direct_round(uint64_t now);
/* malloc_trim: the spare goes now; nonzero if there was one. */
int aslab__direct_trim(void);
/* p's map entry reads ASLAB_MAP_DIRECT: checks p, returns the bytes it may use. */
size_t aslab__direct_usable_size(void *p, const char *fn);
/* Resizes the direct block p to `size` (> ASLAB_DIRECT_MIN) with mremap: in place when the
 * addresses after it are free (or when it shrinks), else moved to a new range. NULL when the
 * OS refuses, p left as it was. */
void *aslab__direct_realloc(void *p, size_t size);

typedef struct aslab__direct_stats {
    size_t blocks, mapped; /* live blocks, and the bytes of every mapping (the spare's too) */
    size_t spare;          /* the spare mapping's bytes (no block: free memory) */
    uint64_t requests;     /* blocks mapped, ever */
    uint64_t resized;      /* reallocs served in place (the mapping grown, shrunk or kept) */
    uint64_t moved;        /* reallocs that moved the mapping to new addresses */
} aslab__direct_stats;
void aslab__direct_stats_get(aslab__direct_stats *out);

#pragma GCC visibility pop
#endif
