/* stats.c - the report of ASLAB_STATS=1 and malloc_stats(): per size class, the requests
 * served, objects live and at peak, slabs and their bytes; the fallback's share; the
 * process's peak RSS. Written with write(2) from a stack buffer. */
#include "fallback.h"
#include "heap.h"
#include "os.h"
#include "stats_api.h"
#include "pool.h"
#include "thread.h"

#include <stdarg.h>
#include <stdio.h>

uint64_t aslab__fallback_requests; /* updated with relaxed atomics by the entry points */

static void say(const char *format, ...) {
    char line[256];
    va_list args;
    va_start(args, format);
    /* va_start is just above; the analyzer loses it. */
    /* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized) */
    int n = vsnprintf(line, sizeof line, format, args);
    va_end(args);
    if (n > 0) aslab__os_write_err(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static double mib(size_t bytes) {
    return (double)bytes / (1024.0 * 1024.0);
}

/* What the report says of one class. */
typedef struct class_totals {
    uint64_t allocs, frees_remote, live;
    size_t slabs;      /* slabs of the class's core cache, lent or not, its master included */
    size_t slabs_lent; /* of those, held by threads or abandoned */
} class_totals;

static int class_totals_get(unsigned cls, class_totals *out) {
    aslab_cache_stats st = {0};
    if (aslab__class_cache[cls] == NULL ||
        aslab_cache_stats_get(aslab__class_cache[cls], &st) != ASLAB_OK)
        return 0;
    uint64_t counts[3] = {0, 0, 0};
    aslab__thread_counts(cls, counts);
    out->allocs = counts[0];
    out->frees_remote = counts[1];
    out->live = counts[2];
    out->slabs = st.slabs;
    out->slabs_lent = st.slabs_lent;
    return 1;
}

/* One row per class that saw any traffic; returns the class's requests. */
static uint64_t print_class(unsigned cls, size_t *slab_bytes, size_t *live_bytes) {
    class_totals t;
    if (!class_totals_get(cls, &t) || (t.allocs == 0 && t.slabs <= 1)) return 0;
    const aslab__class_stats *ps = &aslab__pool_stats[cls];
    size_t size = aslab__classes[cls].size, slab = (size_t)1 << aslab__classes[cls].slab_shift;
    unsigned sleeps, wakes;
    aslab__pool_lock_counts(cls, &sleeps, &wakes);
    say("%5u %6zu %12llu %10llu %6zu %6llu %9.1f %10llu %6llu %6u %6u\n", cls, size,
        (unsigned long long)t.allocs, (unsigned long long)t.live, t.slabs_lent,
        (unsigned long long)__atomic_load_n(&ps->slabs_out_peak, __ATOMIC_RELAXED),
        mib(t.slabs * slab), (unsigned long long)t.frees_remote,
        (unsigned long long)(__atomic_load_n(&ps->slabs_lent, __ATOMIC_RELAXED) +
                             __atomic_load_n(&ps->slabs_returned, __ATOMIC_RELAXED) +
                             __atomic_load_n(&ps->lock_taken, __ATOMIC_RELAXED)),
        sleeps, wakes);
    *slab_bytes += t.slabs * slab;
    *live_bytes += t.live * size;
    return t.allocs;
}

void aslab__stats_print(void) {
    say("aslab: heap statistics (fallback: %s)\n", aslab__fallback_name);
    say("%5s %6s %12s %10s %6s %6s %9s %10s %6s %6s %6s\n", "class", "size", "requests", "live",
        "slabs", "peak", "slab MiB", "remote", "locks", "sleeps", "wakes");
    uint64_t small = 0;
    size_t slab_bytes = 0, live_bytes = 0;
    for (unsigned cls = 1; cls <= ASLAB_NUM_CLASSES; cls++)
        small += print_class(cls, &slab_bytes, &live_bytes);
    uint64_t large = __atomic_load_n(&aslab__fallback_requests, __ATOMIC_RELAXED);
    size_t fb_allocated, fb_mapped;
    aslab__fb_stats(&fb_allocated, &fb_mapped);
    aslab__arena_stats arena;
    aslab__arena_stats_get(&arena);
    double share = small + large ? 100.0 * (double)large / (double)(small + large) : 0.0;
    say("small: %llu requests, %.1f MiB live in %.1f MiB of slabs; %zu regions, %.1f MiB "
        "dirty\n",
        (unsigned long long)small, mib(live_bytes), mib(slab_bytes), arena.regions,
        mib(arena.dirty_bytes));
    say("fallback (%s): %llu requests (%.1f%% of all), %.1f MiB allocated, %.1f MiB mapped\n",
        aslab__fallback_name, (unsigned long long)large, share, mib(fb_allocated), mib(fb_mapped));
    say("process: peak RSS %.1f MiB\n", (double)aslab__os_peak_rss_kib() / 1024.0);
}

/* mallinfo2 in aslab's terms: arena = bytes of slabs held by the class caches, uordblks =
 * bytes of small blocks handed out (thread caches excluded where known) plus the
 * fallback's allocated bytes, fordblks = free slots in those slabs plus dirty free slabs,
 * hblkhd = bytes the fallback has mapped. */
struct mallinfo2 aslab__mallinfo2(void) {
    struct mallinfo2 info = {0};
    for (unsigned cls = 1; cls <= ASLAB_NUM_CLASSES; cls++) {
        class_totals t;
        if (!class_totals_get(cls, &t)) continue;
        size_t size = aslab__classes[cls].size, slab = (size_t)1 << aslab__classes[cls].slab_shift;
        info.arena += t.slabs * slab;
        info.uordblks += t.live * size;
        info.fordblks += t.slabs * slab - (t.live * size < t.slabs * slab ? t.live * size : 0);
        info.ordblks += t.slabs;
    }
    aslab__arena_stats arena;
    aslab__arena_stats_get(&arena);
    info.fordblks += arena.dirty_bytes;
    size_t fb_allocated, fb_mapped;
    aslab__fb_stats(&fb_allocated, &fb_mapped);
    info.uordblks += fb_allocated;
    info.hblkhd = fb_mapped;
    info.hblks = fb_mapped != 0;
    return info;
}
