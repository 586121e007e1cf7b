/* purge.h - when free memory goes back to the OS, with no thread of aslab's own and no call
 * from the program (docs/memory-return.md gives the measurements behind it).
 *
 * Two pools keep free pages resident ("dirty") so that the program can have them again
 * without page faults: the arena's empty slabs (arena.c) and the large blocks freed to the
 * fallback (large.c). Each pool keeps its own "how" and asks here "when":
 * - the cap: a pool holds at most ASLAB_DIRTY_MAX_MB, or an eighth of what the program
 *   holds in it when that is more. The slow path that takes it past the cap discards a batch
 *   at once, down to aslab__purge_target(), oldest pages first where the pool can tell;
 * - the refault allowance: when a pool hands out again memory that the cap discarded within
 *   the decay time, the cap was too tight for this program (threads that come and go and
 *   take back what the ones before them gave): every pool's cap grows by what was taken
 *   again, up to 64 MiB or what the pool gave back under its recent peak in use, for four
 *   decay times after the last such refault;
 * - the age: a page free for ASLAB_DECAY_MS is discarded by the next slow path that looks
 *   (one read of the coarse clock); 0 discards at once, -1 never;
 * - the round: once per ASLAB_DECAY_MS, the first slow path of the heap that finds it due
 *   (malloc's slow path, a large malloc or free) runs the heap's round: the class caches'
 *   reserves go back, each pool drops what is old.
 * Nothing here calls the arena, the fallback or the heap: they call in. Reads the options,
 * and the clock through os.h.
 */
#ifndef ASLAB_MALLOC_PURGE_H
#define ASLAB_MALLOC_PURGE_H

#include <stddef.h>
#include <stdint.h>

#pragma GCC visibility push(hidden)

/* Now, in milliseconds of the coarse monotonic clock (the vDSO: no system call). */
uint64_t aslab__purge_now(void);
/* ASLAB_DECAY_MS=0: a page is discarded as soon as it is free. */
int aslab__purge_at_once(void);
/* How long a page may stay free and resident, in ms: ASLAB_DECAY_MS, UINT64_MAX for -1. */
uint64_t aslab__purge_age(void);
/* A pool's most dirty bytes while `active` bytes of its memory are in use and `peak` were at
 * most lately (SIZE_MAX: no cap): ASLAB_DIRTY_MAX_MB, or an eighth of the active bytes when
 * that is more (a cap of 0 stays 0), plus the refault allowance up to 64 MiB or `peak` less
 * `active`; and what a batch brings it down to. */
size_t aslab__purge_cap(size_t active, size_t peak);
size_t aslab__purge_target(size_t active, size_t peak);
/* A pool is handing out again, at `now`, `bytes` that the cap discarded within the decay
 * time: the refault allowance grows by as much (nothing without an age). */
void aslab__purge_refault(size_t bytes, uint64_t now);
/* The most the allowance gives a pool beyond its headroom (purge.c), and the
 * largest free block kept for a program that only shows it cycles big blocks (direct.c). */
#define ASLAB_PURGE_ALLOWANCE_MAX ((size_t)64 << 20)
/* The allowance now, in bytes, up to ASLAB_PURGE_ALLOWANCE_MAX (0 when it has lapsed). */
size_t aslab__purge_allowance(void);

/* A pool's recent peak of bytes in use, for its cap's allowance: the most it had in use,
 * forgotten once it has not had as much for as long as the allowance holds. Guarded by the
 * pool's lock (the arena's). */
typedef struct aslab__peak {
    size_t bytes;
    uint64_t ms;
} aslab__peak;
/* Notes `active` bytes in use at `now`; returns the recent peak. */
size_t aslab__peak_note(aslab__peak *p, size_t active, uint64_t now);

/* Bytes a pool discarded for its cap and when it last did, for pools that cannot tell which
 * memory comes back (large.c's big blocks, direct.c's mappings; the arena marks its slabs
 * one by one). Zero-initialised; relaxed atomics, no lock. */
typedef struct aslab__squeezed {
    size_t bytes;
    uint64_t ms;
} aslab__squeezed;
void aslab__squeezed_add(aslab__squeezed *s, size_t bytes);
/* The pool is about to hand out `bytes` that may fault in: as much of what it discarded
 * within the decay time counts as taken back (aslab__purge_refault) and leaves the count. */
void aslab__squeezed_take(aslab__squeezed *s, size_t bytes);
/* Whether the round is due at `now`: returns 1 to the one caller that should run it; then
 * *idle is 1 when the program ran no slow path for the decay time before this one (so what
 * the caches reserve has idled that long and may go at once). `program` says the caller is
 * the program's slow path, whose time is recorded, not the background thread. */
int aslab__purge_round_due(uint64_t now, int program, int *idle);
/* Milliseconds until the next round is due (for the optional background thread). */
uint64_t aslab__purge_round_wait(uint64_t now);

#pragma GCC visibility pop
#endif
