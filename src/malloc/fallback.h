/* fallback.h - the allocator behind aslab: large and over-aligned requests, and every
 * pointer outside aslab's regions. jemalloc's non-standard API by default
 * (fallback_jemalloc.c); glibc's __libc_* functions with `make FALLBACK=libc`
 * (fallback_libc.c). Neither is ever reached through the public malloc symbols, which are
 * aslab's own. */
#ifndef ASLAB_MALLOC_FALLBACK_H
#define ASLAB_MALLOC_FALLBACK_H

#include <stddef.h>

extern const char aslab__fallback_name[];

void *aslab__fb_malloc(size_t size);                /* size > 0 */
void *aslab__fb_calloc(size_t size);                /* zeroed; size > 0 */
void *aslab__fb_aligned(size_t align, size_t size); /* align a power of two; size > 0 */
void *aslab__fb_realloc(void *p, size_t size);      /* p and size non-zero; NULL leaves p */
/* p non-NULL and not aslab's: the fallback's, or foreign (foreign.h), which aborts naming fn
 * unless the program's own jemalloc takes it. */
void aslab__fb_free(void *p, const char *fn);
size_t aslab__fb_usable_size(void *p, const char *fn);
/* Bytes the fallback has handed out and holds from the OS (0 when it cannot tell). */
void aslab__fb_stats(size_t *allocated, size_t *mapped);
/* How often the decay thread hands the fallback's free memory back to the OS. */
#define ASLAB__FALLBACK_PURGE_MS 10000

/* Gives free memory back to the OS now; nonzero if it could. */
int aslab__fb_trim(void);
/* ASLAB_DECAY_MS=0: the fallback returns freed pages at once too (no decay thread runs). */
void aslab__fb_decay_now(void);

#endif
