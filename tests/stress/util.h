/* util.h - what the stress programs share: a seeded generator, block patterns derived from an
 * address and a generation, the resident set size, a clock, output that never allocates, and
 * the value of a command-line option.
 *
 * A block's pattern is a function of a 64-bit seed (its address mixed with a generation
 * counter) and the byte offset only, so after realloc moves a block the preserved prefix is
 * checked against the seed it had before the move.
 */
#ifndef STRESS_UTIL_H
#define STRESS_UTIL_H

/* Which malloc the program was linked with, for its report (rules.mk says). */
#ifndef STRESS_ALLOCATOR
#define STRESS_ALLOCATOR "libc"
#endif

#include "../tools/rss.h"
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define GOLDEN 0x9e3779b97f4a7c15ull

/* splitmix64: one 64-bit state, good enough for picking operations and sizes. */
typedef struct rng {
    uint64_t state;
} rng;

static inline uint64_t mix64(uint64_t x) {
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static inline uint64_t rng_next(rng *r) {
    r->state += GOLDEN;
    return mix64(r->state);
}

/* Uniform enough in [0, n); 0 when n is 0. */
static inline uint64_t rng_below(rng *r, uint64_t n) {
    return n == 0 ? 0 : rng_next(r) % n;
}

/* Uniform in [lo, hi]. */
static inline uint64_t rng_range(rng *r, uint64_t lo, uint64_t hi) {
    return lo + rng_below(r, hi - lo + 1);
}

static inline uint64_t pattern_seed(const void *p, uint64_t generation) {
    return mix64((uint64_t)(uintptr_t)p ^ mix64(generation + GOLDEN));
}

static inline uint64_t pattern_word(uint64_t seed, size_t word) {
    return seed + (uint64_t)word * GOLDEN;
}

static inline void pattern_fill(void *p, size_t n, uint64_t seed) {
    unsigned char *b = p;
    size_t words = n / 8;
    for (size_t i = 0; i < words; i++) {
        uint64_t w = pattern_word(seed, i);
        memcpy(b + i * 8, &w, 8);
    }
    uint64_t tail = pattern_word(seed, words);
    memcpy(b + words * 8, &tail, n % 8);
}

/* The offset of the first byte that differs from the pattern, or SIZE_MAX if none does. */
static inline size_t pattern_check(const void *p, size_t n, uint64_t seed) {
    const unsigned char *b = p;
    size_t words = n / 8;
    for (size_t i = 0; i < words; i++) {
        uint64_t w = pattern_word(seed, i), got;
        memcpy(&got, b + i * 8, 8);
        if (got != w) {
            size_t at = i * 8;
            while (b[at] == (unsigned char)(w >> (8 * (at % 8))))
                at++;
            return at;
        }
    }
    uint64_t tail = pattern_word(seed, words);
    for (size_t at = words * 8; at < n; at++)
        if (b[at] != (unsigned char)(tail >> (8 * (at % 8)))) return at;
    return SIZE_MAX;
}

/* The offset of the first non-zero byte, or SIZE_MAX. */
static inline size_t zero_check(const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0) return i;
    return SIZE_MAX;
}

static inline double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void sleep_seconds(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* The resident set in KiB (read with no allocation); 0 if unknown. */
static inline size_t rss_kib(void) {
    return test_rss_kib();
}

/* write(2) of a NUL-terminated string: safe in a forked child and inside allocator trouble. */
static inline void write_str(int fd, const char *s) {
    size_t len = strlen(s);
    while (len > 0) {
        ssize_t done = write(fd, s, len);
        if (done <= 0) return;
        s += done;
        len -= (size_t)done;
    }
}

/* The number after option argv[*i] (which *i then names); exits 2, saying so, if none. */
static inline long long option_value(const char *prog, int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "%s: %s needs a value\n", prog, argv[*i]);
        exit(2);
    }
    return strtoll(argv[++*i], NULL, 0);
}

/* The options of a program that takes only `--bound-mib B`: B, or 0 without it; a usage line
 * and exit 2 for anything else. */
static inline long long bound_mib_option(const char *prog, int argc, char **argv) {
    long long bound_mib = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--bound-mib") != 0) {
            fprintf(stderr, "usage: %s [--bound-mib B]\n", prog);
            exit(2);
        }
        bound_mib = option_value(prog, argc, argv, &i);
    }
    return bound_mib;
}

#endif
