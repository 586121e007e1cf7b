/* tm_keep.h - whether a thread keeps the blocks of other threads' slabs that it frees (a live
 * thread does, on the class's kept list while frees go onto it: src/malloc/kept.c), seen from
 * outside, for the tests of what keeping does. */
#ifndef TM_KEEP_H
#define TM_KEEP_H

#include <stddef.h>
#include <stdint.h>

/* Blocks a kept list of size's class holds at its full room: kept.c's 64 KiB of blocks, 8 to
 * 1024 of them. */
size_t tm_list_room(size_t size);
/* ... and the most it grows to while the blocks it gives back are mostly the thread's own:
 * 256 KiB of them, 8192 at most. */
size_t tm_list_own_room(size_t size);
/* ... and at first, until it gives the thread's own blocks back (kept.c, "Its room"): 32 KiB
 * of them, 32 at most. */
size_t tm_list_start_room(size_t size);

/* A thread that mallocs n blocks of `size` bytes (NULL where one failed) and stays alive until
 * tm_partner_finish: blocks of a slab whose owner has left are kept as any, but a test of
 * whose block comes back wants the owner alive. NULL if it could not be started. */
typedef struct tm_partner tm_partner;
tm_partner *tm_partner_start(size_t size, size_t n);
void **tm_partner_blocks(tm_partner *pt);
void tm_partner_finish(tm_partner *pt);

/* 1 when the calling thread keeps the blocks of others' slabs of size's class, seen from
 * outside: it gives back what it kept (malloc_trim), frees a block a partner made and mallocs
 * one, which is that block only if it was kept (the malloc pops the kept list first). */
int tm_keeps(size_t size);

/* Sets the calling thread's heap up and returns tm_keeps(size): a live thread keeps. */
int tm_make_keeper(size_t size);

#endif
