/* os.c - Linux: mmap, mremap, madvise, clock_gettime, getrusage, /proc/self/statm, the process's
 * identity, files, write, abort. */
#define _GNU_SOURCE /* program_invocation_short_name, strerrordesc_np */
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

static void *map_anywhere(void *hint, size_t size, int prot) {
    void *p = mmap(hint, size, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* Where the last aligned mapping larger than a page went: the next one is asked for just
 * below it. Linux places mappings top-down, so the room below the lowest mapping is usually
 * free, and an address given without MAP_FIXED is taken when its range is free and never
 * replaces anything. A hit is one mmap where the over-mapping below costs an mmap and one or
 * two munmaps of the slack, each of which takes the address space's lock for writing and
 * stalls the page faults of every other thread (mstress 4 50 20: 399 mmap and munmap calls -> 309).
 * A race between threads only costs a miss. */
static uintptr_t next_below;

static void *map_below_last(size_t size, size_t align, int prot) {
    uintptr_t last = __atomic_load_n(&next_below, __ATOMIC_RELAXED);
    if (last <= size || last - size < align) return NULL; /* none yet, or no room below */
    char *want = (char *)((last - size) & ~(uintptr_t)(align - 1));
    char *got = map_anywhere(want, size, prot);
    if (got != NULL && ((uintptr_t)got & (align - 1)) != 0) {
        munmap(got, size);
        got = NULL;
    }
    return got;
}

/* `size` is rounded up to whole pages: munmap takes page-aligned addresses only, so the tail
 * after an unrounded size would stay mapped (it failed with EINVAL). A page's alignment is
 * every mapping's; a larger one is tried just below the last, then made by mapping `align`
 * bytes more and trimming the slack. */
static void *map_aligned(size_t size, size_t align, int prot) {
    size_t page = aslab__os_page_size();
    if (size > SIZE_MAX - page) return NULL;
    size = (size + page - 1) & ~(page - 1);
    if (align <= page) return map_anywhere(NULL, size, prot);
    char *block = map_below_last(size, align, prot);
    if (block == NULL) {
        size_t span = size + align; /* room to slide to the next aligned address */
        if (span < size) return NULL;
        char *raw = map_anywhere(NULL, span, prot);
        if (raw == NULL) return NULL;
        block = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
        size_t head = (size_t)(block - raw), tail = span - head - size;
        if (head != 0) munmap(raw, head);
        if (tail != 0) munmap(block + size, tail);
    }
    __atomic_store_n(&next_below, (uintptr_t)block, __ATOMIC_RELAXED);
    return block;
}

void *aslab__os_map_aligned(size_t size, size_t align) {
    return map_aligned(size, align, PROT_READ | PROT_WRITE);
}

void *aslab__os_reserve_aligned(size_t size, size_t align) {
    return map_aligned(size, align, PROT_NONE);
}

void *aslab__os_reserve_readable(size_t size, size_t align) {
    return map_aligned(size, align, PROT_READ);
}

int aslab__os_remap_in_place(void *addr, size_t size, size_t new_size) {
    return mremap(addr, size, new_size, 0) == addr ? 0 : -1;
}

int aslab__os_remap_to(void *addr, size_t size, size_t new_size, void *to) {
    return mremap(addr, size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, to) == to ? 0 : -1;
}

void aslab__os_unmap(void *addr, size_t size) {
    munmap(addr, size);
}

int aslab__os_map_fixed_readonly(void *addr, size_t size) {
    return mmap(addr, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1,
                0) == addr;
}

int aslab__os_make_writable(void *addr, size_t size) {
    int saved_errno = errno; /* the caller recovers: not the program's error */
    int ok = mprotect(addr, size, PROT_READ | PROT_WRITE) == 0;
    errno = saved_errno;
    return ok;
}

int aslab__os_inner_pages(uintptr_t start, uintptr_t end, uintptr_t *lo, uintptr_t *hi) {
    uintptr_t page = aslab__os_page_size();
    *lo = (start + page - 1) & ~(page - 1);
    *hi = end & ~(page - 1);
    return *hi > *lo;
}

uint64_t aslab__os_discards, aslab__os_discarded_bytes;

/* What the kernel refuses to drop (locked pages: mlock, EINVAL) is cleared instead, so that
 * discarded memory reads zero either way: calloc counts on it (arena.h, medium.c). */
void aslab__os_discard(void *addr, size_t size) {
    __atomic_add_fetch(&aslab__os_discards, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&aslab__os_discarded_bytes, size, __ATOMIC_RELAXED);
    int saved_errno = errno;
    if (madvise(addr, size, MADV_DONTNEED) != 0) memset(addr, 0, size);
    errno = saved_errno;
}

void aslab__os_release(void *addr, size_t size) {
    int saved_errno = errno;
    (void)madvise(addr, size, MADV_DONTNEED);
    errno = saved_errno;
}

int aslab__os_residency(void *addr, size_t size, unsigned char *vec) {
    return mincore(addr, size, vec);
}

/* Why: on the development machine (a VM) a page that a write faults in costs about 4.3 us,
 * one that MADV_POPULATE_WRITE maps 2.2 us, and a page already resident costs the call as
 * much to walk as memset takes to clear it (64 MiB: 70 ms by memset's faults, 37 ms
 * populated; 3.8 ms walked when resident). So it asks only when the range's last page is not
 * resident (mincore: no page touched), which tells a fresh or discarded block from a reused
 * one, whose pages are resident, in one call that reads page tables only. mstress, whose
 * calloc'd blocks of 1-32 MiB come from the fallback's fresh memory: 5% faster (docs/STATUS.md,
 * session 34). Older kernels say EINVAL, a seccomp filter may say EPERM: then never again. */
#define PREFAULT_MIN ((size_t)65536)

static int prefault_refused;

int aslab__os_prefault(void *addr, size_t size) {
    uintptr_t lo, hi, page = aslab__os_page_size();
    if (size < PREFAULT_MIN || __atomic_load_n(&prefault_refused, __ATOMIC_RELAXED) ||
        !aslab__os_inner_pages((uintptr_t)addr, (uintptr_t)addr + size, &lo, &hi))
        return 0;
    int saved_errno = errno, asked = 0;
    unsigned char last = 1;
    if (aslab__os_residency((void *)(hi - page), page, &last) == 0 && !(last & 1)) {
        asked = 1;
        if (madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE) != 0 &&
            (errno == EINVAL || errno == ENOSYS || errno == EPERM))
            __atomic_store_n(&prefault_refused, 1, __ATOMIC_RELAXED);
    }
    errno = saved_errno;
    return asked;
}

uint64_t aslab__os_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t aslab__os_coarse_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static char overcommit_mode = '0'; /* as last read */

/* In .data, beside the variables the set-up writes anyway, not in .rodata: the set-up opens
 * it, and the kernel's read of a path in .rodata maps 64 KiB of .rodata into every process
 * (docs/footprint.md). */
static char overcommit_path[] = "/proc/sys/vm/overcommit_memory";

static int overcommit_always(void) {
    char mode = '0';
    int fd = open(overcommit_path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, &mode, 1) != 1) mode = '0';
        close(fd);
    }
    __atomic_store_n(&overcommit_mode, mode, __ATOMIC_RELAXED);
    return mode == '1';
}

int aslab__os_strict_overcommit(void) {
    return __atomic_load_n(&overcommit_mode, __ATOMIC_RELAXED) == '2';
}

int aslab__os_populated(void *page) {
    unsigned char vec = 0;
    return aslab__os_residency(page, aslab__os_page_size(), &vec) == 0 && (vec & 1);
}

size_t aslab__os_request_limit(void) {
    size_t limit = SIZE_MAX / 2;
    struct rlimit as;
    if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY && as.rlim_cur < limit)
        limit = (size_t)as.rlim_cur;
    struct sysinfo info;
    if (!overcommit_always() && sysinfo(&info) == 0) {
        size_t memory = ((size_t)info.totalram + info.totalswap) * info.mem_unit;
        if (memory != 0 && memory < limit) limit = memory;
    }
    return limit;
}

size_t aslab__os_page_size(void) {
    static size_t page;
    if (page == 0) page = (size_t)sysconf(_SC_PAGESIZE);
    return page;
}

size_t aslab__os_peak_rss_kib(void) {
    struct rusage usage;
    return getrusage(RUSAGE_SELF, &usage) == 0 ? (size_t)usage.ru_maxrss : 0;
}

size_t aslab__os_rss_kib(void) {
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t got = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (got <= 0) return 0;
    buf[got] = '\0';
    const char *p = buf;
    while (*p != ' ' && *p != '\0')
        p++; /* skip the total size; resident comes second */
    size_t pages = 0;
    while (*p == ' ')
        p++;
    while (*p >= '0' && *p <= '9')
        pages = pages * 10 + (size_t)(*p++ - '0');
    return pages * (aslab__os_page_size() / 1024);
}

static int err_fd = STDERR_FILENO;

void aslab__os_keep_stderr(void) {
    int fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 200);
    if (fd >= 0) err_fd = fd;
}

void aslab__os_write(int fd, const char *text, size_t len) {
    while (len > 0) {
        ssize_t done = write(fd, text, len);
        if (done < 0 && errno == EINTR) continue;
        if (done <= 0) return;
        text += done;
        len -= (size_t)done;
    }
}

void aslab__os_write_err(const char *text, size_t len) {
    aslab__os_write(err_fd, text, len);
}

int aslab__os_open_append(const char *path) {
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    return fd >= 0 ? fd : -errno;
}

void aslab__os_close(int fd) {
    close(fd);
}

const char *aslab__os_error_text(int err) {
    const char *text = strerrordesc_np(err); /* untranslated: no locale data to load */
    return text != NULL ? text : "unknown error";
}

int64_t aslab__os_pid(void) {
    return (int64_t)getpid();
}

const char *aslab__os_program_name(void) {
    static char comm[32];
    const char *name = program_invocation_short_name; /* argv[0]'s last part, set by libc */
    if (name != NULL && name[0] != '\0') return name;
    int fd = open("/proc/self/comm", O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, comm, sizeof comm - 1) : -1;
    if (fd >= 0) close(fd);
    comm[got > 0 ? got : 0] = '\0';
    comm[strcspn(comm, "\n")] = '\0';
    return comm[0] != '\0' ? comm : "?";
}

size_t aslab__os_cwd(char *buf, size_t cap) {
    return getcwd(buf, cap) != NULL ? strlen(buf) : 0; /* into buf: glibc allocates nothing */
}

static size_t append(char *line, size_t n, size_t cap, const char *text) {
    while (*text != '\0' && n < cap)
        line[n++] = *text++;
    return n;
}

__attribute__((noreturn)) void aslab__os_fatal(const char *fn, const char *fault,
                                               const void *address) {
    static const char digits[] = "0123456789abcdef";
    char line[200];
    size_t n = append(line, 0, 160, "aslab: ");
    n = append(line, n, 160, fn);
    n = append(line, n, 160, ": ");
    n = append(line, n, 160, fault);
    n = append(line, n, 160, " 0x");
    uintptr_t value = (uintptr_t)address;
    int shift = (int)sizeof value * 8 - 4;
    while (shift > 0 && ((value >> shift) & 0xf) == 0)
        shift -= 4;
    for (; shift >= 0; shift -= 4)
        line[n++] = digits[(value >> shift) & 0xf];
    line[n++] = '\n';
    aslab__os_write_err(line, n);
    abort();
}
