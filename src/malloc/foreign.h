/* foreign.h - pointers that reach free, realloc or malloc_usable_size but are neither
 * aslab's (outside its regions) nor its jemalloc's (outside the memory that copy mapped).
 *
 * The one honest source of such pointers is another allocator in the same process whose
 * blocks meet aslab's free. Under LD_PRELOAD, a program that links Debian's libjemalloc.so.2
 * itself (redis does) gets blocks from that jemalloc's mallocx, while free, realloc and
 * malloc_usable_size resolve to aslab's. Those blocks go back to the program's jemalloc
 * (its dallocx and sallocx). Without one, the pointer is no allocator's that aslab knows of:
 * one line naming the fault and the address, then abort; freeing it anywhere would corrupt
 * something. */
#ifndef ASLAB_MALLOC_FOREIGN_H
#define ASLAB_MALLOC_FOREIGN_H

#include <stddef.h>

#pragma GCC visibility push(hidden)

void aslab__foreign_free(void *p, const char *fn);
size_t aslab__foreign_usable_size(void *p, const char *fn);

#pragma GCC visibility pop
#endif
