/* foreign.c - blocks of the program's own jemalloc, and pointers of no allocator (foreign.h).
 *
 * The program's jemalloc is found through weak references to its public dallocx and sallocx:
 * aslab's copy of jemalloc goes by other names (aslab__je_*), so in the process these names
 * can only be the program's. Resolved by the linker (a static link with -ljemalloc) or by the
 * dynamic linker when the library is loaded (LD_PRELOAD); unresolved, they are NULL. No dlsym:
 * it allocates, and this runs inside free. A jemalloc loaded later with dlopen is not seen,
 * nor one built with a prefix (je_dallocx): their blocks get the abort. */
#include "foreign.h"

#include "os.h"

#ifndef ASLAB_FALLBACK_LIBC /* the libc fallback takes every pointer: glibc's checks apply */

extern void dallocx(void *p, int flags) __attribute__((weak, visibility("default")));
extern size_t sallocx(const void *p, int flags) __attribute__((weak, visibility("default")));

static const char no_owner[] =
    "invalid pointer (not allocated by aslab, and no jemalloc of the program's to take it)";

void aslab__foreign_free(void *p, const char *fn) {
    if (dallocx == NULL) aslab__os_fatal(fn, no_owner, p);
    dallocx(p, 0);
}

size_t aslab__foreign_usable_size(void *p, const char *fn) {
    if (sallocx == NULL) aslab__os_fatal(fn, no_owner, p);
    return sallocx(p, 0);
}

#endif
