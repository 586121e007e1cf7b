/* lock_futex.c - a Linux futex lock (12 bytes) that sleeps under contention. Outside the
 * freestanding set: it makes system calls.
 * The word: bit 0 = held; the rest counts sleepers (2 each). An unlock makes a system call
 * only when somebody sleeps, unlike the classic 0/1/2 mutex, whose word stays "contended"
 * once anyone has slept, so that every later unlock pays for a wake-up. Beside the word, the
 * sleeps and wake-ups so far (aslab_futexlock_counts): contention any machine can show. */
#include "aslab.h"
#include "cpu_relax.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#define HELD    1u
#define SLEEPER 2u

typedef struct futex_state {
    unsigned word;
    unsigned sleeps; /* futex waits made (relaxed; only ever grows) */
    unsigned wakes;  /* futex wake-ups made */
} futex_state;

_Static_assert(sizeof(futex_state) <= ASLAB_LOCK_MAX, "the futex lock fits a cache's lock state");

/* The calls keep the caller's errno: a wait fails with EAGAIN when the word moved before the
 * kernel looked, and with EINTR when a signal came, both ordinary outcomes here, and a lock
 * taken inside malloc must not change what the program's errno says (a contended class lock
 * once turned a program's errno into EAGAIN across a successful malloc). */
static void futex_wait(unsigned *word, unsigned expected) {
    int saved = errno;
    (void)syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
    errno = saved;
}

static void futex_wake_one(unsigned *word) {
    int saved = errno;
    (void)syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    errno = saved;
}

static void futex_init(void *state) {
    futex_state *f = state;
    __atomic_store_n(&f->word, 0u, __ATOMIC_RELAXED);
    __atomic_store_n(&f->sleeps, 0u, __ATOMIC_RELAXED);
    __atomic_store_n(&f->wakes, 0u, __ATOMIC_RELAXED);
}

/* Takes the lock if it is free, keeping the sleeper count; `leave` sleepers less. */
static int take_if_free(unsigned *word, unsigned leave) {
    unsigned seen = __atomic_load_n(word, __ATOMIC_RELAXED);
    return !(seen & HELD) && __atomic_compare_exchange_n(word, &seen, (seen - leave) | HELD, 0,
                                                         __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

static int futex_try(void *state) {
    return take_if_free(state, 0);
}

/* Spins briefly first: critical sections here last tens of nanoseconds, far less than a
 * sleep and a wake-up. Then registers as a sleeper and sleeps until the lock is free. */
static void futex_lock(void *state) {
    unsigned *word = state;
    for (int spin = 0; spin < 200; spin++) {
        if (take_if_free(word, 0)) return;
        aslab__cpu_relax();
    }
    __atomic_add_fetch(word, SLEEPER, __ATOMIC_RELAXED);
    for (;;) {
        if (take_if_free(word, SLEEPER)) return;
        unsigned seen = __atomic_load_n(word, __ATOMIC_RELAXED);
        if (seen & HELD) { /* returns at once if the word moved */
            __atomic_add_fetch(&((futex_state *)state)->sleeps, 1u, __ATOMIC_RELAXED);
            futex_wait(word, seen);
        }
    }
}

static void futex_unlock(void *state) {
    unsigned *word = state;
    if (__atomic_sub_fetch(word, HELD, __ATOMIC_RELEASE) != 0) {
        __atomic_add_fetch(&((futex_state *)state)->wakes, 1u, __ATOMIC_RELAXED);
        futex_wake_one(word);
    }
}

const aslab_lock_ops aslab_futexlock = {sizeof(futex_state), futex_init, futex_lock, futex_unlock,
                                        futex_try};

void aslab_futexlock_counts(const void *state, unsigned *sleeps, unsigned *wakes) {
    const futex_state *f = state;
    *sleeps = __atomic_load_n(&f->sleeps, __ATOMIC_RELAXED);
    *wakes = __atomic_load_n(&f->wakes, __ATOMIC_RELAXED);
}
