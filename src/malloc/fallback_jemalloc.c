/* fallback_jemalloc.c - the fallback on jemalloc's *allocx API, served by aslab's private
 * copy of jemalloc (fallback_jemalloc.h): its options, the configuration sources it no
 * longer sees, and the calls. A pointer outside the copy's memory is not its to free: it
 * goes to foreign.c instead, where dallocx would have crashed on it. */
#include "fallback.h"

#include "fallback_jemalloc.h"
#include "foreign.h"
#include "os.h"

#include <errno.h>
#include <jemalloc/jemalloc.h> /* MALLOCX_* and MALLCTL_ARENAS_ALL only: the names are ours */
#include <stdio.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

const char aslab__fallback_name[] = "jemalloc";

/* The copy's options, and its only source of options (see aslab__je_getenv). Its time-based
 * decay purges large blocks while a program is still cycling through them: a loop over
 * 5-25 MiB blocks ran 10x slower than under glibc, every page faulted in again (with a 10 s
 * decay too: its decay follows the growth of the free pages, not their age, and a loop that
 * reuses them shows none). large.c purges it instead, past ASLAB_DIRTY_MAX_MB and once its
 * free pages are ASLAB_DECAY_MS old (docs/memory-return.md), and malloc_trim at once.
 * dss:disabled and retain:true keep every byte it hands out in memory it mapped
 * through aslab__je_mmap, which is what tells its blocks from a foreign allocator's.
 * tcache:false: it serves only blocks over 1 MiB, which no thread cache holds, and a thread
 * that leaves with a cache makes jemalloc purge every free page of its arena once no thread
 * uses it (tcache_destroy: a forced decay, whatever the decay options say), so that programs
 * whose threads come and go faulted their large blocks in again and again (make stress).
 * narenas:1: with jemalloc's arena per thread (four per CPU), a big block one thread freed
 * stayed in that thread's arena, resident, while another thread's request for the same size
 * mapped and faulted in fresh pages (mstress: 322 MiB peak RSS, 50 MiB of it such pages;
 * 273 MiB with one arena). One lock for all is cheap beside what a block over 1 MiB costs
 * the program that touches it (256 page faults or more).
 * trust_madvise:true: at its set-up jemalloc maps a page to check that MADV_DONTNEED zeroes
 * pages, and when that mapping is refused (the commit limit of strict overcommit, reached: the
 * set-up often comes then, as aslab's regions run out) it wrote to MAP_FAILED: SIGSEGV where
 * glibc returns NULL. aslab's own calloc counts on MADV_DONTNEED zeroing pages as well. */
const char *aslab__je_malloc_conf = "dirty_decay_ms:-1,muzzy_decay_ms:-1,dss:disabled,retain:true,"
                                    "tcache:false,narenas:1,trust_madvise:true";

/* jemalloc also reads MALLOC_CONF (through secure_getenv) and the name /etc/malloc.conf
 * points to (through readlink). Those configure the program's own jemalloc, if it has one;
 * they would override aslab's options above, so the copy sees neither. */
char *aslab__je_getenv(const char *name) {
    (void)name;
    return NULL;
}

ssize_t aslab__je_readlink(const char *path, char *buf, size_t size) {
    (void)path, (void)buf, (void)size;
    errno = ENOENT;
    return -1;
}

/* The copy sets itself up at its first call (its constructor is removed: Makefile), and the
 * set-up maps a page to test MADV_DONTNEED and writes to it without checking that the mapping
 * succeeded: with the address space exhausted (RLIMIT_AS) that first call crashed. So until a
 * call has succeeded, one is made only when a probe finds room for the set-up (SETUP_ROOM of
 * address space, mapped and unmapped at once; the set-up maps 2 MiB for the test and 2 MiB
 * for its first base block, while its own stack is mapped: below), and the caller gets ENOMEM
 * otherwise. */
#define SETUP_ROOM ((size_t)4 << 20)

static int ready; /* a call of the copy succeeded: it has set itself up */

/* The set-up (malloc_init_hard) has a stack frame of 11 KiB, its configuration buffers, and
 * runs in whichever thread first needs the fallback: a thread made with a small stack (16
 * KiB, PTHREAD_STACK_MIN) died there where glibc's malloc serves it
 * (tests/stress/small_stack.c). So it runs on a stack of its own, mapped for it and unmapped
 * after (the two contexts at its far end); the calls after it are shallow. */
#define SETUP_STACK ((size_t)64 << 10)

typedef struct setup_frame {
    ucontext_t caller, setup;
} setup_frame;

static void set_up_copy(void) {
    unsigned arenas = 0;
    size_t len = sizeof arenas;
    if (aslab__je_mallctl("arenas.narenas", &arenas, &len, NULL, 0) == 0)
        __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
}

static void set_up_on_own_stack(void) {
    char *stack = aslab__os_map_aligned(SETUP_STACK, aslab__os_page_size());
    if (stack == NULL) return; /* the call itself sets the copy up */
    setup_frame *f = (setup_frame *)(void *)stack;
    size_t below = (sizeof *f + 63) & ~(size_t)63;
    if (getcontext(&f->setup) == 0) {
        f->setup.uc_stack.ss_sp = stack + below;
        f->setup.uc_stack.ss_size = SETUP_STACK - below;
        f->setup.uc_link = &f->caller;
        makecontext(&f->setup, set_up_copy, 0);
        swapcontext(&f->caller, &f->setup);
    }
    aslab__os_unmap(stack, SETUP_STACK);
}

static int room_to_set_up(void) {
    if (__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) return 1;
    void *probe = aslab__os_reserve_aligned(SETUP_ROOM + SETUP_STACK, aslab__os_page_size());
    if (probe == NULL) {
        errno = ENOMEM;
        return 0;
    }
    aslab__os_unmap(probe, SETUP_ROOM + SETUP_STACK);
    set_up_on_own_stack();
    return 1;
}

static void *settled(void *p) {
    if (p != NULL) __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    return p;
}

/* The copy's mallocx, only when it is set up or has room to set itself up. The set-up (on its
 * own stack, or inside mallocx when that stack could not be mapped) makes system calls and
 * parses the copy's options, which sets errno to 0, something no library function may do: a
 * block handed out leaves errno as it was. The caller sets ENOMEM for NULL. */
static void *je_new(size_t size, int flags) {
    int saved_errno = errno;
    if (!room_to_set_up()) return NULL;
    void *p = settled(aslab__je_mallocx(size, flags));
    if (p != NULL) errno = saved_errno;
    return p;
}

/* Its mallctl; the statistics and purges of a copy that never set itself up read 0 and do
 * nothing (it holds nothing). */
static int je_ctl(const char *name, void *old, size_t *old_len, void *new, size_t new_len) {
    if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) return -1;
    return aslab__je_mallctl(name, old, old_len, new, new_len);
}

void *aslab__fb_malloc(size_t size) {
    return je_new(size, 0);
}
/* Zeroed by memset, as glibc's calloc zeroes a chunk of its heap: jemalloc's MALLOCX_ZERO
 * zeroes a reused block's pages by discarding them (MADV_DONTNEED), a system call and then a
 * fault per page that the program writes anyway (make stress: 0.30 -> 0.61 M ops/s). A block
 * from fresh memory has its pages mapped in one call first (os.h, aslab__os_prefault). A
 * block over ASLAB_DIRECT_MALLOC_MIN is mapped directly, its pages fresh, and never comes
 * here unless that mapping failed. */
void *aslab__fb_calloc(size_t size) {
    void *p = je_new(size, 0);
    if (p != NULL) {
        aslab__os_prefault(p, size);
        memset(p, 0, size);
    }
    return p;
}
void *aslab__fb_aligned(size_t align, size_t size) {
    return je_new(size, MALLOCX_ALIGN(align));
}

/* A foreign block moves into the copy: its own allocator frees it. */
static void *move_foreign(void *p, size_t size) {
    size_t old = aslab__foreign_usable_size(p, "realloc()");
    void *fresh = je_new(size, 0);
    if (fresh == NULL) return NULL;
    memcpy(fresh, p, old < size ? old : size);
    aslab__foreign_free(p, "realloc()");
    return fresh;
}

void *aslab__fb_realloc(void *p, size_t size) {
    if (!aslab__je_owns(p)) return move_foreign(p, size);
    return aslab__je_rallocx(p, size, 0);
}
void aslab__fb_free(void *p, const char *fn) {
    if (!aslab__je_owns(p)) {
        aslab__foreign_free(p, fn);
        return;
    }
    aslab__je_dallocx(p, 0);
}
int aslab__fb_owns(const void *p) {
    return aslab__je_owns(p);
}
size_t aslab__fb_usable_size(void *p, const char *fn) {
    if (!aslab__je_owns(p)) return aslab__foreign_usable_size(p, fn);
    return aslab__je_sallocx(p, 0);
}

void aslab__fb_stats(size_t *allocated, size_t *mapped) {
    uint64_t epoch = 1;
    size_t len = sizeof epoch;
    *allocated = *mapped = 0;
    je_ctl("epoch", &epoch, &len, &epoch, len); /* refresh the statistics */
    len = sizeof(size_t);
    je_ctl("stats.allocated", allocated, &len, NULL, 0);
    len = sizeof(size_t);
    je_ctl("stats.mapped", mapped, &len, NULL, 0);
}

size_t aslab__fb_dirty_bytes(void) {
    char name[64];
    uint64_t epoch = 1;
    size_t len = sizeof epoch, pages = 0;
    je_ctl("epoch", &epoch, &len, &epoch, len); /* refresh the statistics */
    snprintf(name, sizeof name, "stats.arenas.%u.pdirty", (unsigned)MALLCTL_ARENAS_ALL);
    len = sizeof pages;
    if (je_ctl(name, &pages, &len, NULL, 0) != 0) return 0;
    return pages * (size_t)sysconf(_SC_PAGESIZE);
}

int aslab__fb_trim(void) {
    char name[64];
    snprintf(name, sizeof name, "arena.%u.purge", (unsigned)MALLCTL_ARENAS_ALL);
    return je_ctl(name, NULL, NULL, NULL, 0) == 0;
}

static void decay_now(void) {
    ssize_t zero = 0;
    unsigned arenas = 0;
    size_t len = sizeof arenas;
    if (!room_to_set_up()) return;
    /* arenas to come */
    if (aslab__je_mallctl("arenas.dirty_decay_ms", NULL, NULL, &zero, sizeof zero) == 0)
        __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    aslab__je_mallctl("arenas.muzzy_decay_ms", NULL, NULL, &zero, sizeof zero);
    aslab__je_mallctl("arenas.narenas", &arenas, &len, NULL, 0);
    for (unsigned i = 0; i < arenas; i++) { /* arenas that exist (the others fail: fine) */
        char name[64];
        snprintf(name, sizeof name, "arena.%u.dirty_decay_ms", i);
        aslab__je_mallctl(name, NULL, NULL, &zero, sizeof zero);
        snprintf(name, sizeof name, "arena.%u.muzzy_decay_ms", i);
        aslab__je_mallctl(name, NULL, NULL, &zero, sizeof zero);
    }
}

/* At start-up, with room to set the copy up; the program's errno as it was. */
void aslab__fb_decay_now(void) {
    int saved_errno = errno;
    decay_now();
    errno = saved_errno;
}
