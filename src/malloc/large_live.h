/* large_live.h - the fallback's blocks in the program's hands: a set of their start
 * addresses, so that free, realloc and malloc_usable_size of a pointer inside one of them,
 * not at its start, abort with one line as glibc's do.
 *
 * Why a set of our own: jemalloc, given a pointer into its memory, frees or sizes whatever
 * block its page belongs to. A pointer 16 bytes into a 2 MiB block freed that block
 * silently (the program's later use of it a use after free), and one a few pages in, whose
 * page jemalloc never registered, crashed inside it with no message; malloc_usable_size
 * returned a size of 8. Its blocks carry no header of aslab's to check (jemalloc lays them
 * out), and they are few and large (over 1 MiB, or any size while a thread's heap is not
 * live), so a hash set costs nothing their use would notice: a lookup when the program frees
 * one, an insertion when the fallback hands one out (a parked block stays in the set: it
 * carries the freed mark meanwhile, large.c). */
#ifndef ASLAB_MALLOC_LARGE_LIVE_H
#define ASLAB_MALLOC_LARGE_LIVE_H

#pragma GCC visibility push(hidden)

/* Notes p, a block the fallback just handed to the program; returns p (NULL passes). If the
 * set cannot grow (the OS refused a mapping), it stops telling: from then on every pointer
 * counts as a block's start, and the checks are jemalloc's own (none), rather than a
 * malloc failing for the set's sake or a live block being refused. */
void *aslab__large_live_add(void *p);
/* Takes p out of the set; 0 if it was not there (freed already, or not a block's start). */
int aslab__large_live_remove(void *p);
/* Whether p is in the set. */
int aslab__large_live_has(void *p);
/* p leaves the set and q (a block realloc moved p to) joins it, if p was there. */
void aslab__large_live_replace(void *p, void *q);

void aslab__large_live_fork_prepare(void);
void aslab__large_live_fork_parent(void);
void aslab__large_live_fork_child(void);

#pragma GCC visibility pop
#endif
