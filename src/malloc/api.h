/* api.h - what each malloc entry point does, for preload/override.c to export. malloc and
 * free are inline here so that the exported symbols hold the whole fast path. */
#ifndef ASLAB_MALLOC_API_H
#define ASLAB_MALLOC_API_H

#include "fallback.h"
#include "heap.h"
#include "medium.h"

#include <stddef.h>

/* ---- api.c ---- */
void aslab__api_init(void);                      /* once, at heap set-up */
void *aslab__malloc_cold(size_t size);           /* above ASLAB_MEDIUM_MAX: large */
void aslab__large_free(void *p, const char *fn); /* any pointer outside aslab's regions */
void *aslab__api_calloc(size_t n, size_t size);
void *aslab__api_realloc(void *p, size_t size);
void *aslab__api_reallocarray(void *p, size_t n, size_t size);
void *aslab__api_memalign(size_t align, size_t size); /* memalign: rounds align up */
void *aslab__api_aligned_alloc(size_t align, size_t size);
int aslab__api_posix_memalign(void **out, size_t align, size_t size);
void *aslab__api_valloc(size_t size);
void *aslab__api_pvalloc(size_t size);
size_t aslab__api_usable_size(void *p);
void aslab__api_free_sized(void *p, size_t size, const char *fn);

static inline __attribute__((always_inline)) void *aslab__api_malloc(size_t size) {
    if (ASLAB__LIKELY(size <= ASLAB_SMALL_MAX)) return aslab__malloc_small(size);
    if (ASLAB__LIKELY(size <= ASLAB_MEDIUM_MAX)) return aslab__malloc_medium(size);
    return aslab__malloc_cold(size);
}

/* Frees p, in no class's region (byte is its map byte, 0 when none of ours): a directly
 * mapped block, the fallback's, a foreign one, or NULL. */
void aslab__free_cold(void *p, unsigned byte, const char *fn);

/* Frees p by its map byte: one compare finds the small classes (the map's bytes above
 * ASLAB_MAP_SMALL_BIAS), a second the medium ones; every other pointer (NULL and foreign ones
 * included) goes to the cold path. Out of line, so that free's fast path (aslab__free_kept)
 * needs no register saved. */
void aslab__free_by_map(void *p, const char *fn);

/* The fast path first: a block of a lent slab of a class with a kept list goes onto the list
 * (heap.h, aslab__free_kept); anything else by the map. */
static inline __attribute__((always_inline)) void aslab__api_free(void *p, const char *fn) {
    if (ASLAB__LIKELY(aslab__free_kept(p, fn))) return;
    aslab__free_by_map(p, fn);
}

#endif
