/* lock.c - the portable locks: none, and a test-and-test-and-set spinlock. Both build
 * freestanding; the spinlock uses the compiler's atomic builtins only. */
#include "aslab.h"
#include "cpu_relax.h"

static void nolock_init(void *state) {
    (void)state;
}
static void nolock_op(void *state) {
    (void)state;
}
static int nolock_try(void *state) {
    (void)state;
    return 1;
}

const aslab_lock_ops aslab_nolock = {0, nolock_init, nolock_op, nolock_op, nolock_try};

#if __STDC_HOSTED__ && defined(__unix__)
#include <sched.h>
/* Hosted: after a long spin give the CPU to the holder, which may be preempted. */
static void spin_yield(void) {
    (void)sched_yield();
}
#else
static void spin_yield(void) {}
#endif

static void spin_init(void *state) {
    __atomic_store_n((unsigned *)state, 0u, __ATOMIC_RELAXED);
}

static int spin_try(void *state) {
    return !__atomic_exchange_n((unsigned *)state, 1u, __ATOMIC_ACQUIRE);
}

/* Spins on a plain load (no cache-line ping-pong), backing off exponentially. */
static void spin_lock(void *state) {
    unsigned *word = state;
    unsigned backoff = 1;
    while (!spin_try(state)) {
        while (__atomic_load_n(word, __ATOMIC_RELAXED) != 0) {
            for (unsigned i = 0; i < backoff; i++)
                aslab__cpu_relax();
            if (backoff < 1024)
                backoff <<= 1;
            else
                spin_yield();
        }
    }
}

static void spin_unlock(void *state) {
    __atomic_store_n((unsigned *)state, 0u, __ATOMIC_RELEASE);
}

const aslab_lock_ops aslab_spinlock = {sizeof(unsigned), spin_init, spin_lock, spin_unlock,
                                       spin_try};
