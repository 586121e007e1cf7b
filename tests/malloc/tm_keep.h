/* tm_keep.h - whether a thread keeps the blocks of other threads' slabs that it frees
 * (src/malloc/kept.c decides it per size class, at the end of each window of such frees, by
 * the thread's own mallocs of the class meanwhile), and making it keep them, for the tests of
 * what keeping does. */
#ifndef TM_KEEP_H
#define TM_KEEP_H

#include <stddef.h>

/* Frees of others' blocks of one class that make up a window of the decision. */
size_t tm_keep_window(void);

/* A thread that mallocs n blocks of `size` bytes (NULL where one failed) and stays alive until
 * tm_partner_finish: blocks of a slab whose owner has left are never kept. NULL if it could
 * not be started. */
typedef struct tm_partner tm_partner;
tm_partner *tm_partner_start(size_t size, size_t n);
void **tm_partner_blocks(tm_partner *pt);
void tm_partner_finish(tm_partner *pt);

/* 1 when the calling thread keeps the blocks of others' slabs of size's class, seen from
 * outside: it gives back what it kept (malloc_trim), frees a block a partner made and mallocs
 * one, which is that block only if it was kept (the malloc pops the kept list first). Counts
 * in the window as 1 malloc and up to 2 frees of others' blocks (the probe's own block is one
 * when it was kept). */
int tm_keeps(size_t size);

/* Makes the calling thread a keeper of size's class the way a stage of a pipeline becomes
 * one: a partner makes a window's worth of blocks, and the caller frees each while it mallocs
 * one of its own; then it frees its own, and gives back by malloc_trim the one it kept. The
 * caller must not have freed others' blocks of the class before (its first window is this
 * one). Returns tm_keeps(size). */
int tm_make_keeper(size_t size);

#endif
