/* decay.h - returning free slabs to the OS after a delay, with no call from the program.
 * A background thread, started the first time a slab goes free, sleeps until the oldest
 * dirty slab is ASLAB_DECAY_MS old and discards it; every ASLAB__FALLBACK_PURGE_MS it also
 * has the fallback give its free pages back. It is started the first time a slab or a
 * fallback block is freed. With a delay of 0 the arena discards at once and no thread is
 * started; with -1 only malloc_trim discards. */
#ifndef ASLAB_MALLOC_DECAY_H
#define ASLAB_MALLOC_DECAY_H

#include <stdint.h>

int64_t aslab__decay_ms(void);
/* A slab just went dirty: make sure somebody will discard it. Call with no lock held. */
void aslab__decay_kick(void);
/* In a forked child: the thread did not survive the fork. */
void aslab__decay_fork_child(void);

#endif
