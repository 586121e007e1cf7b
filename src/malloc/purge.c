/* purge.c - the memory-return policy: the clock, the cap, the age, the round. */
#include "purge.h"

#include "options.h"
#include "os.h"

/* Discarding a batch down to 3/4 of the cap: a program that hovers at the cap pays one
 * madvise per quarter of the cap it frees, not one per slab. */
#define TARGET_NUM 3
#define TARGET_DEN 4

/* A pool may keep free pages up to this share of what it has in use, whatever the cap says:
 * a program whose heap is large and churns (threads that come and go, each taking and giving
 * back slabs) would otherwise fault its own free pages in again and again under a cap of a
 * few MiB, and an eighth keeps the peak's overshoot small (jemalloc's old lg_dirty_mult of 3,
 * active:dirty >= 8:1, is the same rule). */
#define ACTIVE_SHARE_DEN 8

/* The refault allowance (purge.h): memory the cap discarded young and the program asked for
 * again within the decay time raises the cap by as much, until BOOST_HOLD decay times pass
 * without such a refault. It counts up to BOOST_CEILING; a pool's cap takes up to
 * ASLAB_PURGE_ALLOWANCE_MAX of it, or up to the pool's headroom when that is more: what it gave
 * back under its recent peak of bytes in use (the peak less what is in use now), so that the free
 * pages it keeps for the program never take it past that peak. 64 MiB is where glibc's trim
 * threshold stops rising (twice its largest dynamic mmap threshold, which rises as a program frees
 * mmapped chunks it then asks for again): a program that shows it reuses what was returned keeps up
 * to that much more. The headroom is for a large heap that churns: mstress's rounds of threads give
 * back and take again hundreds of MiB of slabs, and held to 64 MiB the arena's cap discarded
 * 330-500 MiB that the program faulted in again within the decay time (docs/memory-return.md,
 * "A refault allowance that scales"). */
#define BOOST_CEILING ((size_t)1 << 40)
#define BOOST_HOLD    4

static size_t boost;              /* bytes the cap grows by while it holds */
static uint64_t boost_ms;         /* the last refault */
static uint64_t next_round_ms;    /* when the round is due next; 0 before the first */
static uint64_t last_activity_ms; /* the heap's last slow path */

uint64_t aslab__purge_now(void) {
    return aslab__os_coarse_ms();
}

int aslab__purge_at_once(void) {
    return aslab__options.decay_ms == 0;
}

uint64_t aslab__purge_age(void) {
    int64_t decay = aslab__options.decay_ms;
    return decay < 0 ? UINT64_MAX : (uint64_t)decay;
}

/* How long the allowance and a pool's peak hold: BOOST_HOLD decay times (for ever without an
 * age). */
static uint64_t hold_ms(void) {
    uint64_t age = aslab__purge_age();
    return age > UINT64_MAX / BOOST_HOLD ? UINT64_MAX : age * BOOST_HOLD;
}

/* With no age (ASLAB_DECAY_MS 0 or -1) the cap is the only rule and stays as set. */
void aslab__purge_refault(size_t bytes, uint64_t now) {
    int64_t decay = aslab__options.decay_ms;
    if (decay <= 0) return;
    size_t was = __atomic_load_n(&boost, __ATOMIC_RELAXED);
    if (now - __atomic_load_n(&boost_ms, __ATOMIC_RELAXED) >= hold_ms()) was = 0;
    __atomic_store_n(&boost, was + bytes < BOOST_CEILING ? was + bytes : BOOST_CEILING,
                     __ATOMIC_RELAXED);
    __atomic_store_n(&boost_ms, now, __ATOMIC_RELAXED);
}

/* The bytes refaults have earned: 0 once BOOST_HOLD decay times passed since the last one. */
static size_t earned(void) {
    size_t bytes = __atomic_load_n(&boost, __ATOMIC_RELAXED);
    if (bytes == 0) return 0;
    uint64_t since = aslab__purge_now() - __atomic_load_n(&boost_ms, __ATOMIC_RELAXED);
    return since < hold_ms() ? bytes : 0;
}

static size_t at_most(size_t bytes, size_t most) {
    return bytes < most ? bytes : most;
}

size_t aslab__purge_allowance(void) {
    return at_most(earned(), ASLAB_PURGE_ALLOWANCE_MAX);
}

size_t aslab__peak_note(aslab__peak *p, size_t active, uint64_t now) {
    if (active >= p->bytes || now - p->ms >= hold_ms()) {
        p->bytes = active;
        p->ms = now;
    }
    return p->bytes;
}

void aslab__squeezed_add(aslab__squeezed *s, size_t bytes) {
    __atomic_add_fetch(&s->bytes, bytes, __ATOMIC_RELAXED);
    __atomic_store_n(&s->ms, aslab__purge_now(), __ATOMIC_RELAXED);
}

void aslab__squeezed_take(aslab__squeezed *s, size_t bytes) {
    uint64_t now = aslab__purge_now();
    size_t had = __atomic_load_n(&s->bytes, __ATOMIC_RELAXED), taken;
    do {
        if (had == 0 || now - __atomic_load_n(&s->ms, __ATOMIC_RELAXED) >= aslab__purge_age())
            return;
        taken = bytes < had ? bytes : had;
    } while (!__atomic_compare_exchange_n(&s->bytes, &had, had - taken, 1, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
    aslab__purge_refault(taken, now);
}

size_t aslab__purge_cap(size_t active, size_t peak) {
    int64_t mb = aslab__options.dirty_max_mb;
    if (mb <= 0) return mb < 0 ? SIZE_MAX : 0;
    size_t cap = (size_t)mb << 20, share = active / ACTIVE_SHARE_DEN;
    size_t headroom = peak > active ? peak - active : 0;
    size_t allowance = at_most(
        earned(), headroom > ASLAB_PURGE_ALLOWANCE_MAX ? headroom : ASLAB_PURGE_ALLOWANCE_MAX);
    return (share > cap ? share : cap) + allowance;
}

size_t aslab__purge_target(size_t active, size_t peak) {
    size_t cap = aslab__purge_cap(active, peak);
    return cap == SIZE_MAX ? cap : cap / TARGET_DEN * TARGET_NUM;
}

/* The activity stamp is written only when the millisecond changes, so that threads in their
 * slow paths at once do not bounce its cache line on every call. The round is claimed with
 * a compare-and-swap: one caller per period runs it. Without an age (decay 0 or -1) there is
 * no round: the reserves then go back on malloc_trim only, as the pages do. */
int aslab__purge_round_due(uint64_t now, int program, int *idle) {
    int64_t decay = aslab__options.decay_ms;
    uint64_t last = __atomic_load_n(&last_activity_ms, __ATOMIC_RELAXED);
    if (program && last != now) __atomic_store_n(&last_activity_ms, now, __ATOMIC_RELAXED);
    if (decay <= 0) return 0;
    uint64_t due = __atomic_load_n(&next_round_ms, __ATOMIC_RELAXED);
    if (now < due) return 0;
    if (!__atomic_compare_exchange_n(&next_round_ms, &due, now + (uint64_t)decay, 0,
                                     __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        return 0;
    *idle = last != 0 && now - last >= (uint64_t)decay;
    return 1;
}

uint64_t aslab__purge_round_wait(uint64_t now) {
    int64_t decay = aslab__options.decay_ms;
    if (decay <= 0) return UINT64_MAX;
    uint64_t due = __atomic_load_n(&next_round_ms, __ATOMIC_RELAXED);
    return now >= due ? 0 : due - now;
}
