/* stats.c - the report of ASLAB_STATS=1 and malloc_stats(): per size class, the requests
 * served, objects live and at peak, slabs and their bytes; the fallback's share; the
 * process's peak RSS. Written with write(2) from a stack buffer. */
#include "fallback.h"
#include "heap.h"
#include "large.h"
#include "os.h"
#include "stats_api.h"
#include "tcache.h"

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

/* One row per class that saw any traffic; returns the class's requests. */
static uint64_t print_class(unsigned cls, size_t *slab_bytes, size_t *live_bytes) {
    aslab_cache_stats st = {0};
    aslab__class_counters *c = &aslab__counters[cls];
    uint64_t requests = __atomic_load_n(&c->requests, __ATOMIC_RELAXED);
    if (aslab__class_cache[cls] == NULL ||
        aslab_cache_stats_get(aslab__class_cache[cls], &st) != ASLAB_OK)
        return 0;
    if (requests == 0 && st.objects_in_use == 0 && st.slabs <= 1) return 0;
    size_t size = aslab__classes[cls].size, slab = (size_t)1 << aslab__classes[cls].slab_shift;
    size_t cached = aslab__tcache_cached(cls);
    size_t live = st.objects_in_use > cached ? st.objects_in_use - cached : 0;
    say("%5u %6zu %12llu %10zu %10lld %7zu %10.1f\n", cls, size, (unsigned long long)requests, live,
        (long long)__atomic_load_n(&c->peak_out, __ATOMIC_RELAXED), st.slabs, mib(st.slabs * slab));
    *slab_bytes += st.slabs * slab;
    *live_bytes += live * size;
    return requests;
}

void aslab__stats_print(void) {
    aslab__tcache_merge_requests();
    say("aslab: heap statistics (fallback: %s)\n", aslab__fallback_name);
    say("%5s %6s %12s %10s %10s %7s %10s\n", "class", "size", "requests", "live", "peak", "slabs",
        "slab MiB");
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
        aslab_cache_stats st;
        if (aslab__class_cache[cls] == NULL ||
            aslab_cache_stats_get(aslab__class_cache[cls], &st) != ASLAB_OK)
            continue;
        size_t size = aslab__classes[cls].size, slab = (size_t)1 << aslab__classes[cls].slab_shift;
        size_t cached = aslab__tcache_cached(cls);
        size_t live = st.objects_in_use > cached ? st.objects_in_use - cached : 0;
        info.arena += st.slabs * slab;
        info.uordblks += live * size;
        info.fordblks += (st.capacity - live) * size;
        info.ordblks += st.slabs;
    }
    aslab__arena_stats arena;
    aslab__arena_stats_get(&arena);
    info.fordblks += arena.dirty_bytes;
    size_t fb_allocated, fb_mapped, parked = aslab__large_parked_bytes();
    aslab__fb_stats(&fb_allocated, &fb_mapped);
    info.uordblks += fb_allocated > parked ? fb_allocated - parked : 0; /* parked: free */
    info.fordblks += parked;
    info.hblkhd = fb_mapped;
    info.hblks = fb_mapped != 0;
    return info;
}
