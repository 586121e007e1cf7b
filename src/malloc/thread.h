/* thread.h - a thread's heap over its life: set-up on its first slow call (the registry of
 * live heaps, the exit key), and at exit its slabs abandoned and its counters merged. */
#ifndef ASLAB_MALLOC_THREAD_H
#define ASLAB_MALLOC_THREAD_H

#include "heap.h"

#pragma GCC visibility push(hidden)

/* Once per process, at set-up: the key whose destructor runs at each thread's exit. */
int aslab__thread_global_init(void);
/* Makes the calling thread's heap live if it is new; 1 if it is live now, 0 while it is being
 * set up (a nested call) or after the thread's exit destructor ran. */
int aslab__thread_setup(void);
/* What every heap (the live heaps and those merged at exit) counted for cls: out[0] blocks
 * allocated, out[1] blocks freed into other owners' slabs; and out[2] blocks out in the slabs
 * of live heaps and abandoned slabs (a walk of their lists, less what remote lists hold: exact
 * when the other threads are quiet, as at exit). */
void aslab__thread_counts(unsigned cls, uint64_t out[3]);
/* Gives back the free blocks the calling thread holds while their slabs count them out: its
 * kept lists' to their owners (kept.c), its last freed medium blocks to their slabs
 * (medium.h). At exit, malloc_trim and each memory-return round. */
void aslab__heap_give_back_held(void);

void aslab__rec_lock(aslab__heap_rec *rec);
void aslab__rec_unlock(aslab__heap_rec *rec);

/* refill.c: the calling thread's partial and full lists of a class; its record's lock held */
void aslab__heap_list_push(unsigned cls, aslab__mslab *m, unsigned list);
void aslab__heap_list_unlink(unsigned cls, aslab__mslab *m);

/* empty.c: slabs the owner's frees emptied, kept for its next current slab. Keeps m (empty,
 * on no list) if rec may keep more, 1 if it did; takes one of class cls, or NULL. rec's lock
 * held for both. */
int aslab__empty_keep(aslab__heap_rec *rec, aslab__mslab *m);
aslab__mslab *aslab__empty_take(aslab__heap_rec *rec, unsigned cls);
/* Gives every slab rec keeps back to the pool: taking rec's lock, or with it held. */
void aslab__empty_give_back(aslab__heap_rec *rec);
void aslab__empty_give_back_locked(aslab__heap_rec *rec);
/* A record parked by an exiting thread for the next new one (thread.c): m, its current slab
 * with no block out, joins the kept ones up to a larger bound than aslab__empty_keep's (1 if
 * it did); every kept slab's owner word says `tag`. rec's lock held for both. */
int aslab__empty_park(aslab__heap_rec *rec, aslab__mslab *m);
void aslab__empty_set_owner(aslab__heap_rec *rec, void *tag);
/* Every live record's kept empty slabs back to the pool (the memory-return round, trim). */
void aslab__thread_give_back_empty(void);

void aslab__thread_fork_prepare(void);
void aslab__thread_fork_parent(void);
/* The child's one thread keeps its heap; the others' heaps leave the registry (their slabs
 * stay theirs: blocks of them freed in the child are not reused). */
void aslab__thread_fork_child(void);

#pragma GCC visibility pop
#endif
