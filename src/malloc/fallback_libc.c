/* fallback_libc.c - the fallback on glibc's own allocator, through the __libc_* names that
 * glibc exports for exactly this purpose (a library that wraps malloc). */
#include "fallback.h"

#include <stdint.h>
#include <string.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_memalign(size_t align, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void __libc_free(void *p);

const char aslab__fallback_name[] = "glibc";

void *aslab__fb_malloc(size_t size) {
    return __libc_malloc(size);
}
void *aslab__fb_calloc(size_t size) {
    return __libc_calloc(1, size);
}
void *aslab__fb_aligned(size_t align, size_t size) {
    return __libc_memalign(align, size);
}
void *aslab__fb_realloc(void *p, size_t size) {
    return __libc_realloc(p, size);
}
void aslab__fb_free(void *p, const char *fn) {
    (void)fn;
    __libc_free(p);
}

/* In this build every pointer outside aslab's regions is glibc's. */
int aslab__fb_owns(const void *p) {
    (void)p;
    return 1;
}

/* glibc's malloc_usable_size is aslab's in this process, so read the chunk header as glibc
 * lays it out: the size word before the block, flag bits below 8, IS_MMAPPED = 2; a mapped
 * chunk has two words of overhead, a heap chunk one. */
size_t aslab__fb_usable_size(void *p, const char *fn) {
    (void)fn;
    size_t word;
    memcpy(&word, (char *)p - sizeof word, sizeof word);
    size_t chunk = word & ~(size_t)7;
    return chunk - ((word & 2) ? 2 : 1) * sizeof(size_t);
}

void aslab__fb_stats(size_t *allocated, size_t *mapped) {
    *allocated = *mapped = 0;
}

/* glibc trims its heap top and unmaps its mmapped chunks itself: it keeps no count to ask. */
size_t aslab__fb_dirty_bytes(void) {
    return 0;
}

/* glibc's malloc_trim is aslab's in this process; glibc trims its own heap as it frees. */
int aslab__fb_trim(void) {
    return 0;
}

void aslab__fb_decay_now(void) {}
void aslab__fb_tables_init(void) {}
void aslab__fb_fork_child(void) {}
