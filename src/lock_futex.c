/* lock_futex.c - a Linux futex lock (4 bytes) that sleeps under contention. Outside the
 * freestanding set: it makes system calls.
 * States: 0 free, 1 held, 2 held with possible sleepers (the classic three-state mutex). */
#include "aslab.h"
#include "cpu_relax.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

static void futex_wait(unsigned *word, unsigned expected) {
    (void)syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake_one(unsigned *word) {
    (void)syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void futex_init(void *state) {
    __atomic_store_n((unsigned *)state, 0u, __ATOMIC_RELAXED);
}

static int futex_try(void *state) {
    unsigned expected = 0;
    return __atomic_compare_exchange_n((unsigned *)state, &expected, 1u, 0, __ATOMIC_ACQUIRE,
                                       __ATOMIC_RELAXED);
}

/* Spins briefly first: critical sections here last tens of nanoseconds, far less than a
 * sleep and a wake-up. Only then marks the lock contended and sleeps. */
static void futex_lock(void *state) {
    unsigned *word = state;
    for (int spin = 0; spin < 200; spin++) {
        if (__atomic_load_n(word, __ATOMIC_RELAXED) == 0 && futex_try(state)) return;
        aslab__cpu_relax();
    }
    while (__atomic_exchange_n(word, 2u, __ATOMIC_ACQUIRE) != 0)
        futex_wait(word, 2);
}

static void futex_unlock(void *state) {
    unsigned *word = state;
    if (__atomic_exchange_n(word, 0u, __ATOMIC_RELEASE) == 2) futex_wake_one(word);
}

const aslab_lock_ops aslab_futexlock = {sizeof(unsigned), futex_init, futex_lock, futex_unlock,
                                        futex_try};
