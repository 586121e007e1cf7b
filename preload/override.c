/* override.c - the exported malloc API: every symbol a program or library may call, each a
 * thin shell over src/malloc/api.h. Nothing else lives here. In the jemalloc build the
 * __libc_* names glibc exports are aslab's too, so that code calling them by name and
 * freeing through free() (or the reverse) stays consistent. */
#include "../src/malloc/api.h"
#include "../src/malloc/heap.h"
#include "../src/malloc/stats_api.h"

#include <errno.h>
#include <malloc.h>
#include <stddef.h>

#define EXPORT __attribute__((visibility("default")))

EXPORT void *malloc(size_t size) {
    return aslab__api_malloc(size);
}
EXPORT void free(void *p) {
    aslab__api_free(p, "free()");
}
EXPORT void *calloc(size_t n, size_t size) {
    return aslab__api_calloc(n, size);
}
EXPORT void *realloc(void *p, size_t size) {
    return aslab__api_realloc(p, size);
}
EXPORT void *reallocarray(void *p, size_t n, size_t size) {
    return aslab__api_reallocarray(p, n, size);
}
EXPORT int posix_memalign(void **out, size_t align, size_t size) {
    return aslab__api_posix_memalign(out, align, size);
}
EXPORT void *aligned_alloc(size_t align, size_t size) {
    return aslab__api_aligned_alloc(align, size);
}
EXPORT void *memalign(size_t align, size_t size) {
    return aslab__api_memalign(align, size);
}
EXPORT void *valloc(size_t size) {
    return aslab__api_valloc(size);
}
EXPORT void *pvalloc(size_t size) {
    return aslab__api_pvalloc(size);
}
EXPORT size_t malloc_usable_size(void *p) {
    return aslab__api_usable_size(p);
}
EXPORT void free_sized(void *p, size_t size) {
    aslab__api_free_sized(p, size, "free_sized()");
}
EXPORT void free_aligned_sized(void *p, size_t align, size_t size) {
    (void)align;
    aslab__api_free_sized(p, size, "free_aligned_sized()");
}

EXPORT int malloc_trim(size_t pad) {
    (void)pad;
    return aslab__trim();
}
EXPORT struct mallinfo2 mallinfo2(void) {
    return aslab__mallinfo2();
}
EXPORT struct mallinfo mallinfo(void) {
    struct mallinfo2 big = aslab__mallinfo2();
    struct mallinfo small = {0};
#define CLAMP(field) small.field = big.field > INT32_MAX ? INT32_MAX : (int)big.field
    CLAMP(arena), CLAMP(ordblks), CLAMP(smblks), CLAMP(hblks), CLAMP(hblkhd);
    CLAMP(usmblks), CLAMP(fsmblks), CLAMP(uordblks), CLAMP(fordblks), CLAMP(keepcost);
#undef CLAMP
    return small;
}
EXPORT void malloc_stats(void) {
    aslab__stats_print();
}
/* No glibc tunable applies to aslab's heap: say so (0 = not done), as glibc does for an
 * unknown parameter. ASLAB_* variables are the settings. */
EXPORT int mallopt(int param, int value) {
    (void)param, (void)value;
    return 0;
}

#ifndef ASLAB_FALLBACK_LIBC
/* The same functions under a second name (GCC also copies malloc's attributes to it). */
#if defined(__clang__)
#define ALIAS(name) __attribute__((alias(#name), visibility("default")))
#else
#define ALIAS(name) __attribute__((alias(#name), copy(name), visibility("default")))
#endif
void *__libc_malloc(size_t size) ALIAS(malloc);
void __libc_free(void *p) ALIAS(free);
void *__libc_calloc(size_t n, size_t size) ALIAS(calloc);
void *__libc_realloc(void *p, size_t size) ALIAS(realloc);
void *__libc_memalign(size_t align, size_t size) ALIAS(memalign);
void *__libc_valloc(size_t size) ALIAS(valloc);
void *__libc_pvalloc(size_t size) ALIAS(pvalloc);
#undef ALIAS
#endif
