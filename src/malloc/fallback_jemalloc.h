/* fallback_jemalloc.h - aslab's private copy of jemalloc (Debian's libjemalloc_pic.a, linked
 * in): its entry points under the names the Makefile gives them, and the record of the
 * memory it maps.
 *
 * The Makefile renames every public jemalloc name N in the copy to aslab__je_N and sends
 * the calls it makes to read its configuration (secure_getenv, readlink), to map memory
 * (mmap, munmap) and to libm (exp, log, round) to the aslab__je_* functions below; the
 * library then keeps all of it local.
 * A program's own jemalloc (mallocx, malloc_conf, MALLOC_CONF) never meets this one.
 *
 * Every byte the copy hands out lies in a granule (2 MiB, aligned) that it mapped through
 * aslab__je_mmap and that stays its own until the process ends; a bit per granule says so.
 * "Is this pointer a block of our jemalloc" is then a bounds check and one load that cannot
 * fault, and exact: no other mapping can share a granule with it.
 */
#ifndef ASLAB_MALLOC_FALLBACK_JEMALLOC_H
#define ASLAB_MALLOC_FALLBACK_JEMALLOC_H

#include "arena.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#pragma GCC visibility push(hidden)

/* ---- the copy's entry points (renamed by the Makefile) ---- */
void *aslab__je_mallocx(size_t size, int flags);
void *aslab__je_rallocx(void *p, size_t size, int flags);
void aslab__je_dallocx(void *p, int flags);
size_t aslab__je_sallocx(const void *p, int flags);
int aslab__je_mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);

/* ---- the calls the copy makes, answered by aslab ---- */
char *aslab__je_getenv(const char *name);
ssize_t aslab__je_readlink(const char *path, char *buf, size_t size);
void *aslab__je_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t offset);
int aslab__je_munmap(void *addr, size_t len);
/* libm's exp, log and round, for the copy's heap profiler (fallback_jemalloc_math.c) */
double aslab__je_exp(double x);
double aslab__je_log(double x);
double aslab__je_round(double x);

/* ---- the granules the copy has mapped ---- */
#define ASLAB__JE_GRANULE_SHIFT 21
#define ASLAB__JE_GRANULE       ((size_t)1 << ASLAB__JE_GRANULE_SHIFT)
#define ASLAB__JE_GRANULES      ((size_t)1 << (ASLAB_ADDRESS_BITS - ASLAB__JE_GRANULE_SHIFT))

extern uint64_t aslab__je_granule_map[ASLAB__JE_GRANULES / 64];

/* Nonzero when p lies in memory the copy mapped: a block of ours, or nobody's. */
static inline int aslab__je_owns(const void *p) {
    uintptr_t granule = (uintptr_t)p >> ASLAB__JE_GRANULE_SHIFT;
    if (granule >= ASLAB__JE_GRANULES) return 0;
    uint64_t word = __atomic_load_n(&aslab__je_granule_map[granule / 64], __ATOMIC_RELAXED);
    return (int)((word >> (granule % 64)) & 1);
}

#pragma GCC visibility pop
#endif
