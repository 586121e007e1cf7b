/* test_util.h - helpers shared by the malloc suites: fill patterns, sizes the optimiser
 * cannot see through, the documented size classes, heap figures (mallinfo2, malloc_stats, RSS), and
 * the entry points that glibc's headers do not declare.
 *
 * The test binary's malloc IS aslab's (static link), so every helper here that allocates
 * goes through the allocator under test; helpers assert nothing, so threads may use them.
 */
#ifndef TM_UTIL_H
#define TM_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define TM_KIB            ((size_t)1024)
#define TM_MIB            ((size_t)1024 * 1024)
#define TM_SMALL_MAX      ((size_t)16384) /* larger requests go to the fallback (size_class.h) */
#define TM_CLASSES        64              /* size classes up to TM_SMALL_MAX */
#define TM_SMALL_SLAB     (64 * TM_KIB)   /* slab size of every class up to 1 KiB (size_class.c) */
#define TM_MEDIUM_TOP     (1024 * TM_KIB) /* the largest medium class (issue 13) */
#define TM_MEDIUM_CLASSES 48              /* 18 KiB .. 1 MiB, eight per doubling */
/* Request sizes at the edges of the classes above TM_SMALL_MAX: 16384 and each medium class
 * size, each -1, itself and +1 (the last one is 1 MiB + 1). */
#define TM_MEDIUM_EDGES   (3 + 3 * TM_MEDIUM_CLASSES)

/* The start of the slab that p, a block of a class up to 1 KiB, lies in (those classes' slabs
 * are TM_SMALL_SLAB bytes; larger classes have larger slabs). */
static inline uintptr_t tm_small_slab_of(const void *p) {
    return (uintptr_t)p & ~(uintptr_t)(TM_SMALL_SLAB - 1);
}

/* C23 and glibc-internal names that glibc 2.36's headers do not declare; aslab exports them. */
void free_sized(void *p, size_t size);
void free_aligned_sized(void *p, size_t align, size_t size);
void *__libc_malloc(size_t size);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t size);
void *__libc_memalign(size_t align, size_t size);
void __libc_free(void *p);

/* n, laundered through a volatile: no constant folding of malloc(SIZE_MAX), no
 * -Walloc-size-larger-than warning. */
size_t tm_opaque(size_t n);

/* The class size that size_class.h documents for a request of n <= TM_SMALL_MAX bytes:
 * steps of 16 up to 256, then eighths of each power of two; the medium classes of issue 13
 * continue the same eighths up to TM_MEDIUM_TOP. */
size_t tm_class_size(size_t n);

/* Fills edges[TM_MEDIUM_EDGES] with those sizes, smallest first; returns how many it wrote
 * (TM_MEDIUM_EDGES when tm_class_size agrees with the table of issue 13). */
size_t tm_medium_edges(size_t *edges);

/* xorshift64: reproducible and fast; the state must not be zero. */
static inline uint64_t tm_random(uint64_t *state) {
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

/* A check inside a loop: 0 if ok, else 1 after printing the message (the first 20 of the
 * run), so that the caller sums the failures and asserts once on the sum. */
int tm_check(int ok, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* Writes a pattern derived from key over n bytes of p; tm_intact checks it. */
void tm_fill(void *p, size_t n, uint64_t key);
int tm_intact(const void *p, size_t n, uint64_t key);
int tm_all_zero(const void *p, size_t n);
/* The same for blocks of up to megabytes, a word at a time (p 8-byte aligned): byte i of
 * the pattern depends on key and i only, so a prefix checks against the same key. */
void tm_fill_words(void *p, size_t n, uint64_t key);
int tm_intact_words(const void *p, size_t n, uint64_t key);
int tm_zero_words(const void *p, size_t n);
static inline int tm_aligned(const void *p, size_t align) {
    return (uintptr_t)p % align == 0;
}

/* mallinfo2's uordblks: bytes handed out (small blocks and the fallback's). */
size_t tm_in_use(void);
/* The regions of slabs aslab has mapped, read from malloc_stats' report (0 if unreadable). */
size_t tm_regions(void);
/* Resident set of this process in KiB, from /proc/self/statm. */
size_t tm_rss_kib(void);
/* Monotonic time in milliseconds. */
uint64_t tm_now_ms(void);

/* From malloc_stats' row of the class of exactly `size` bytes: the slabs lent out now (held
 * by threads or abandoned) and the lock count (slabs lent and returned, class-lock
 * acquisitions, all so far); 1 if the row was found. Not for concurrent callers. */
int tm_class_figures(unsigned size, unsigned long long *slabs, unsigned long long *locks);
/* The same row's requests and remote frees (blocks other threads freed that went home). */
int tm_class_remote(unsigned size, unsigned long long *requests, unsigned long long *remote);

/* Finds the row of the class of `size` bytes in a malloc_stats table; 1 if found. */
int tm_stats_row(const char *table, unsigned size, unsigned long long *requests, size_t *live);

#endif /* TM_UTIL_H */
