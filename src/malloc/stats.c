/* stats.c - the report of ASLAB_STATS and malloc_stats(): per size class, the requests
 * served, objects live and at peak, slabs and their bytes; the fallback's share; the
 * process's peak RSS. Its first line names the process. Written with write(2), from a stack
 * buffer per line, to stderr or (the exit report) to ASLAB_STATS_FILE. */
#include "direct.h"
#include "fallback.h"
#include "heap.h"
#include "large.h"
#include "options.h"
#include "os.h"
#include "stats_api.h"
#include "pool.h"
#include "thread.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

uint64_t aslab__fallback_requests; /* updated with relaxed atomics by the entry points */

/* The exit report gathers in a buffer and leaves in one write, so that the reports of
 * several processes appended to one file (ASLAB_STATS=all) do not interleave. Outside it
 * (malloc_stats) no sink is set and each line goes to stderr as it is made. */
typedef struct sink {
    int fd; /* -1: stderr (the copy os.c keeps) */
    size_t len;
    char buf[32768]; /* 112 classes' rows and the rest fit with room to spare */
} sink;
static __thread sink *current_sink ASLAB_TLS;

static void sink_flush(sink *s) {
    if (s->fd < 0)
        aslab__os_write_err(s->buf, s->len);
    else
        aslab__os_write(s->fd, s->buf, s->len);
    s->len = 0;
}

static void say(const char *format, ...) {
    char line[256];
    va_list args;
    va_start(args, format);
    /* va_start is just above; the analyzer loses it. */
    /* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized) */
    int n = vsnprintf(line, sizeof line, format, args);
    va_end(args);
    if (n <= 0) return;
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    if (line[len - 1] != '\n') line[len - 1] = '\n'; /* cut short: still one line */
    sink *s = current_sink;
    if (s == NULL) {
        aslab__os_write_err(line, len);
        return;
    }
    if (s->len + len > sizeof s->buf) sink_flush(s);
    memcpy(s->buf + s->len, line, len);
    s->len += len;
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
    size_t size = aslab__classes[cls].size, slab = aslab__class_slab_size(cls);
    unsigned sleeps, wakes;
    aslab__pool_lock_counts(cls, &sleeps, &wakes);
    /* lock acquisitions: the core cache's (one per slab lent or returned) and the class's */
    uint64_t locks = __atomic_load_n(&ps->slabs_lent, __ATOMIC_RELAXED) +
                     __atomic_load_n(&ps->slabs_returned, __ATOMIC_RELAXED) +
                     __atomic_load_n(&ps->lock_taken, __ATOMIC_RELAXED);
    say("%5u %6zu %12llu %10llu %6zu %6llu %9.1f %10llu %6llu %6u %6u\n", cls, size,
        (unsigned long long)t.allocs, (unsigned long long)t.live, t.slabs_lent,
        (unsigned long long)__atomic_load_n(&ps->slabs_out_peak, __ATOMIC_RELAXED),
        mib(t.slabs * slab), (unsigned long long)t.frees_remote, (unsigned long long)locks, sleeps,
        wakes);
    *slab_bytes += t.slabs * slab;
    *live_bytes += t.live * size;
    return t.allocs;
}

void aslab__stats_print(void) {
    say("aslab: heap statistics of pid %lld (%s), fallback: %s\n", (long long)aslab__os_pid(),
        aslab__os_program_name(), aslab__fallback_name);
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
    say("arena: %zu slabs taken, %zu given back; its lock slept %u times, woke %u\n", arena.takes,
        arena.gives, arena.sleeps, arena.wakes);
    say("fallback (%s): %llu requests (%.1f%% of all), %.1f MiB allocated, %.1f MiB mapped\n",
        aslab__fallback_name, (unsigned long long)large, share, mib(fb_allocated), mib(fb_mapped));
    aslab__direct_stats direct;
    aslab__direct_stats_get(&direct);
    say("direct: %llu blocks mapped, %zu live in %.1f MiB; reallocs %llu in place, %llu moved; "
        "realloc maps beyond %.1f MiB\n",
        (unsigned long long)direct.requests, direct.blocks, mib(direct.mapped),
        (unsigned long long)direct.resized, (unsigned long long)direct.moved,
        mib(aslab__direct_realloc_min()));
    say("discards: %llu calls, %.1f MiB\n",
        (unsigned long long)__atomic_load_n(&aslab__os_discards, __ATOMIC_RELAXED),
        mib((size_t)__atomic_load_n(&aslab__os_discarded_bytes, __ATOMIC_RELAXED)));
    say("process: peak RSS %.1f MiB\n", (double)aslab__os_peak_rss_kib() / 1024.0);
}

/* ---- ASLAB_STATS at exit: who reports, and where ---- */

/* ASLAB_STATS_FILE, made absolute at set-up (the program may change directory before it
 * exits); "%p" is replaced at exit, in the process that reports. */
static char file_template[4096];
static int file_error; /* an errno when the template could not be kept */

void aslab__stats_prepare(void) {
    aslab__os_keep_stderr();
    const char *path = aslab__options.stats_file;
    if (path == NULL) return;
    size_t n = path[0] == '/' ? 0 : aslab__os_cwd(file_template, sizeof file_template);
    if (n != 0 && file_template[n - 1] != '/' && n < sizeof file_template) file_template[n++] = '/';
    size_t len = strlen(path);
    if (n + len >= sizeof file_template) {
        file_error = ENAMETOOLONG;
        return;
    }
    memcpy(file_template + n, path, len + 1);
}

/* The template with %p = pid and %% = %, into out; 0 when it does not fit. */
static int expand_template(char *out, size_t cap) {
    char pid[24];
    snprintf(pid, sizeof pid, "%lld", (long long)aslab__os_pid());
    size_t n = 0;
    for (const char *t = file_template; *t != '\0'; t++) {
        const char *piece = t; /* one character, or the pid */
        size_t len = 1;
        if (t[0] == '%' && t[1] == 'p')
            piece = pid, len = strlen(pid), t++;
        else if (t[0] == '%' && t[1] == '%')
            t++;
        if (n + len >= cap) return 0;
        memcpy(out + n, piece, len);
        n += len;
    }
    out[n] = '\0';
    return 1;
}

/* The descriptor the exit report goes to: the file, or stderr with a line that says why. */
static int report_fd(void) {
    char path[sizeof file_template + 32];
    if (aslab__options.stats_file == NULL) return -1;
    int fd = -ENAMETOOLONG;
    if (!file_error && expand_template(path, sizeof path)) fd = aslab__os_open_append(path);
    if (fd >= 0) return fd;
    say("aslab: cannot open ASLAB_STATS_FILE=%s (%s); the report goes to stderr\n",
        file_error || fd == -ENAMETOOLONG ? aslab__options.stats_file : path,
        aslab__os_error_text(-fd));
    return -1;
}

void aslab__stats_at_exit(void) {
    static sink exit_sink; /* once per process, from the library's destructor */
    int stats = aslab__options.stats;
    if (stats == ASLAB__STATS_OFF) return;
    if (stats == ASLAB__STATS_SELF && aslab__os_pid() != aslab__options.read_by)
        return; /* a fork */
    int fd = report_fd();
    exit_sink.fd = fd; /* -1: stderr */
    exit_sink.len = 0;
    current_sink = &exit_sink;
    aslab__stats_print();
    sink_flush(&exit_sink);
    current_sink = NULL;
    if (fd >= 0) aslab__os_close(fd);
}

/* mallinfo2 in aslab's terms: arena = bytes of slabs held by the class caches, uordblks =
 * bytes of small blocks handed out (thread caches excluded where known) plus the
 * fallback's allocated bytes and the directly mapped blocks', fordblks = free slots in those
 * slabs plus dirty free slabs, hblkhd = bytes the fallback and the direct blocks have mapped,
 * hblks = the direct blocks (glibc counts its mmapped chunks), plus 1 if the fallback maps. */
struct mallinfo2 aslab__mallinfo2(void) {
    struct mallinfo2 info = {0};
    for (unsigned cls = 1; cls <= ASLAB_NUM_CLASSES; cls++) {
        class_totals t;
        if (!class_totals_get(cls, &t)) continue;
        size_t size = aslab__classes[cls].size, slab = aslab__class_slab_size(cls);
        info.arena += t.slabs * slab;
        info.uordblks += t.live * size;
        info.fordblks += t.slabs * slab - (t.live * size < t.slabs * slab ? t.live * size : 0);
        info.ordblks += t.slabs;
    }
    aslab__arena_stats arena;
    aslab__arena_stats_get(&arena);
    info.fordblks += arena.dirty_bytes;
    size_t fb_allocated, fb_mapped, parked = aslab__large_parked_bytes();
    aslab__fb_stats(&fb_allocated, &fb_mapped);
    info.uordblks += fb_allocated > parked ? fb_allocated - parked : 0; /* parked: free */
    info.fordblks += parked;
    aslab__direct_stats direct;
    aslab__direct_stats_get(&direct);
    size_t live_mapped = direct.mapped > direct.spare ? direct.mapped - direct.spare : 0;
    info.uordblks += live_mapped > direct.blocks * ASLAB_DIRECT_HEADER
                         ? live_mapped - direct.blocks * ASLAB_DIRECT_HEADER
                         : 0;
    info.fordblks += direct.spare; /* a freed block's mapping, kept */
    info.hblkhd = fb_mapped + direct.mapped;
    info.hblks = direct.blocks + (fb_mapped != 0);
    return info;
}
