/* decay.h - the optional background thread (ASLAB_BACKGROUND_THREAD=1), for programs that
 * want an idle process to shrink with no call at all. Off by default: the slow paths return
 * memory without it (purge.h), and a process under aslab has only the threads it made.
 *
 * The thread runs the round function it is given, then sleeps for as long as it says
 * (at most a second). When to start it is the caller's choice (heap.c: a malloc slow path
 * of the main thread after set-up, never free); it is started once per process, with every
 * signal blocked, so that no signal meant for the program lands on it. A fork child has no
 * thread until it starts its own. */
#ifndef ASLAB_MALLOC_DECAY_H
#define ASLAB_MALLOC_DECAY_H

#include <stdint.h>

#pragma GCC visibility push(hidden)

/* One round of returning memory; returns the milliseconds until the next is due. */
typedef uint64_t (*aslab__decay_round_fn)(void);

/* Starts the thread unless it runs already. */
void aslab__decay_start(aslab__decay_round_fn round);
/* In a forked child: the thread did not survive the fork. */
void aslab__decay_fork_child(void);

#pragma GCC visibility pop
#endif
