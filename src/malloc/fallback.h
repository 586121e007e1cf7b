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
/* Nonzero when p (not aslab's) is the fallback's own block, not a foreign one: large.c
 * parks, counts and discards only those. */
int aslab__fb_owns(const void *p);
/* Bytes the fallback has handed out and holds from the OS (0 when it cannot tell). */
void aslab__fb_stats(size_t *allocated, size_t *mapped);
/* Bytes of free pages the fallback keeps resident, by its own count (0 when it cannot
 * tell); a slow call (about 15 us with jemalloc): large.c asks only past the cap. */
size_t aslab__fb_dirty_bytes(void);

/* Gives all its free pages back to the OS now; nonzero if it could. */
int aslab__fb_trim(void);
/* ASLAB_DECAY_MS=0: the fallback returns freed pages at once too. */
void aslab__fb_decay_now(void);
/* At set-up: the fallback's tables in .bss cost nothing until written (lazy_table.h). */
void aslab__fb_tables_init(void);
/* In a fork child, after the fallback's own handlers: its tables' state (lazy_table.h). */
void aslab__fb_fork_child(void);

#endif
