/* decay.c - the background thread that discards free slabs once they are old enough. */
#include "decay.h"

#include "arena.h"
#include "fallback.h"
#include "heap.h"
#include "options.h"
#include "os.h"

#include <pthread.h>
#include <signal.h>
#include <time.h>

static int started; /* 0 no thread, 1 running; changed with atomics */

int64_t aslab__decay_ms(void) {
    return aslab__options.decay_ms;
}

static void sleep_ms(uint64_t ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static void *decay_main(void *arg) {
    (void)arg;
    const uint64_t decay = (uint64_t)aslab__options.decay_ms;
    uint64_t fallback_due = aslab__os_now_ms() + ASLAB__FALLBACK_PURGE_MS;
    uint64_t release_due = 0;
    for (;;) {
        uint64_t due = aslab__arena_next_due();
        sleep_ms(due == UINT64_MAX ? decay : due + 1);
        uint64_t now = aslab__os_now_ms();
        if (now >= release_due) { /* the caches' reserves, once a round: dirty now, gone next */
            aslab__heap_release_empty();
            release_due = now + decay;
        }
        aslab__arena_purge(decay);
        if (aslab__os_now_ms() >= fallback_due) {
            aslab__fb_trim();
            fallback_due = aslab__os_now_ms() + ASLAB__FALLBACK_PURGE_MS;
        }
    }
    return NULL;
}

/* The thread blocks every signal, so that no signal meant for the program lands on it. */
void aslab__decay_kick(void) {
    if (aslab__options.decay_ms <= 0 || __atomic_load_n(&started, __ATOMIC_ACQUIRE)) return;
    int expected = 0;
    if (!__atomic_compare_exchange_n(&started, &expected, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
        return;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_t thread;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, (size_t)64 * 1024);
    if (pthread_create(&thread, &attr, decay_main, NULL) != 0)
        __atomic_store_n(&started, 0, __ATOMIC_RELEASE); /* retried at the next free slab */
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void aslab__decay_fork_child(void) {
    __atomic_store_n(&started, 0, __ATOMIC_RELAXED);
}
