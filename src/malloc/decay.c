/* decay.c - the optional background thread that runs the memory-return round. */
#include "decay.h"

#include <pthread.h>
#include <signal.h>
#include <time.h>

#define LONGEST_SLEEP_MS 1000

static int started;                    /* 0 no thread, 1 started; changed with atomics */
static aslab__decay_round_fn round_fn; /* set before the thread starts, never changed after */

static void sleep_ms(uint64_t ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static void *decay_main(void *arg) {
    (void)arg;
    for (;;) {
        uint64_t wait = round_fn();
        sleep_ms(wait < 1 ? 1 : wait > LONGEST_SLEEP_MS ? LONGEST_SLEEP_MS : wait);
    }
    return NULL;
}

void aslab__decay_start(aslab__decay_round_fn round) {
    if (__atomic_load_n(&started, __ATOMIC_ACQUIRE)) return;
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
    round_fn = round;
    if (pthread_create(&thread, &attr, decay_main, NULL) != 0)
        __atomic_store_n(&started, 0, __ATOMIC_RELEASE); /* retried at the next call */
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void aslab__decay_fork_child(void) {
    __atomic_store_n(&started, 0, __ATOMIC_RELAXED);
}
