/* test_util.c - helpers shared by the malloc suites. */
#define _GNU_SOURCE /* memfd_create */
#include "test_util.h"

#include "../tools/rss.h"

#include <fcntl.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

size_t tm_opaque(size_t n) {
    volatile size_t laundered = n;
    return laundered;
}

size_t tm_class_size(size_t n) {
    if (n <= 256) return n <= 16 ? 16 : (n + 15) & ~(size_t)15;
    size_t base = 256;
    while (n > 2 * base)
        base *= 2; /* base < n <= 2 * base */
    size_t step = base / 8;
    return (n + step - 1) / step * step;
}

size_t tm_medium_edges(size_t *edges) {
    size_t n = 0;
    edges[n++] = TM_SMALL_MAX - 1, edges[n++] = TM_SMALL_MAX, edges[n++] = TM_SMALL_MAX + 1;
    for (size_t c = tm_class_size(TM_SMALL_MAX + 1); c <= TM_MEDIUM_TOP && n < TM_MEDIUM_EDGES;
         c = tm_class_size(c + 1))
        edges[n++] = c - 1, edges[n++] = c, edges[n++] = c + 1;
    return n;
}

int tm_check(int ok, const char *format, ...) {
    static int printed;
    if (ok) return 0;
    if (__atomic_fetch_add(&printed, 1, __ATOMIC_RELAXED) < 20) {
        va_list args;
        va_start(args, format);
        fputs("\n  check failed: ", stderr);
        vfprintf(stderr, format, args);
        fputc('\n', stderr);
        va_end(args);
    }
    return 1;
}

static uint8_t pattern_byte(uint64_t key, size_t i) {
    return (uint8_t)((key >> (8 * (i % 8))) ^ (i * 0x9d) ^ (i >> 8));
}

void tm_fill(void *p, size_t n, uint64_t key) {
    uint8_t *bytes = p;
    for (size_t i = 0; i < n; i++)
        bytes[i] = pattern_byte(key, i);
}

int tm_intact(const void *p, size_t n, uint64_t key) {
    const uint8_t *bytes = p;
    for (size_t i = 0; i < n; i++)
        if (bytes[i] != pattern_byte(key, i)) return 0;
    return 1;
}

int tm_all_zero(const void *p, size_t n) {
    const uint8_t *bytes = p;
    for (size_t i = 0; i < n; i++)
        if (bytes[i] != 0) return 0;
    return 1;
}

/* splitmix64's finaliser: a key per block whose words share no simple relation. */
static uint64_t word_key(uint64_t key) {
    key = (key ^ (key >> 30)) * 0xbf58476d1ce4e5b9ull;
    key = (key ^ (key >> 27)) * 0x94d049bb133111ebull;
    return key ^ (key >> 31);
}

static uint64_t pattern_word(uint64_t base, size_t i) {
    return base + i * 0x9e3779b97f4a7c15ull;
}

void tm_fill_words(void *p, size_t n, uint64_t key) {
    uint64_t base = word_key(key), *words = p;
    size_t i = 0;
    for (; i < n / 8; i++)
        words[i] = pattern_word(base, i);
    uint64_t tail = pattern_word(base, i);
    for (size_t b = i * 8; b < n; b++)
        ((uint8_t *)p)[b] = (uint8_t)(tail >> (8 * (b % 8)));
}

int tm_intact_words(const void *p, size_t n, uint64_t key) {
    uint64_t base = word_key(key);
    const uint64_t *words = p;
    size_t i = 0;
    for (; i < n / 8; i++)
        if (words[i] != pattern_word(base, i)) return 0;
    uint64_t tail = pattern_word(base, i);
    for (size_t b = i * 8; b < n; b++)
        if (((const uint8_t *)p)[b] != (uint8_t)(tail >> (8 * (b % 8)))) return 0;
    return 1;
}

int tm_zero_words(const void *p, size_t n) {
    const uint64_t *words = p;
    uint64_t any = 0;
    for (size_t i = 0; i < n / 8; i++)
        any |= words[i];
    for (size_t b = n / 8 * 8; b < n; b++)
        any |= ((const uint8_t *)p)[b];
    return any == 0;
}

size_t tm_in_use(void) {
    return mallinfo2().uordblks;
}

size_t tm_rss_kib(void) {
    return test_rss_kib();
}

uint64_t tm_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int tm_stats_row(const char *table, unsigned size, unsigned long long *requests, size_t *live) {
    for (const char *line = table; line != NULL; line = strchr(line, '\n')) {
        unsigned cls, row_size;
        line += *line == '\n';
        if (sscanf(line, "%u %u %llu %zu", &cls, &row_size, requests, live) == 4 &&
            row_size == size)
            return 1;
    }
    return 0;
}

/* malloc_stats' report, into report[size] (terminated); 0 if it could not be read. */
static int stats_report(char *report, size_t size) {
    int fd = memfd_create("malloc_stats", MFD_CLOEXEC), saved = dup(STDERR_FILENO);
    if (fd < 0 || saved < 0) return 0;
    fflush(stderr);
    dup2(fd, STDERR_FILENO);
    malloc_stats();
    dup2(saved, STDERR_FILENO);
    close(saved);
    ssize_t got = pread(fd, report, size - 1, 0);
    close(fd);
    if (got <= 0) return 0;
    report[got] = '\0';
    return 1;
}

/* A class's row of malloc_stats' table, as the columns say. */
typedef struct class_row {
    unsigned long long requests, live, slabs, peak, remote, locks;
} class_row;

static int class_row_of(unsigned size, class_row *row) {
    static char report[65536]; /* every class's row: callers are not concurrent */
    if (!stats_report(report, sizeof report)) return 0;
    for (const char *line = report; line != NULL; line = strchr(line, '\n')) {
        unsigned cls, row_size;
        double mib;
        line += *line == '\n';
        if (sscanf(line, "%u %u %llu %llu %llu %llu %lf %llu %llu", &cls, &row_size, &row->requests,
                   &row->live, &row->slabs, &row->peak, &mib, &row->remote, &row->locks) == 9 &&
            row_size == size)
            return 1;
    }
    return 0;
}

int tm_class_figures(unsigned size, unsigned long long *slabs, unsigned long long *locks) {
    class_row row;
    if (!class_row_of(size, &row)) return 0;
    *slabs = row.slabs;
    *locks = row.locks;
    return 1;
}

int tm_class_remote(unsigned size, unsigned long long *requests, unsigned long long *remote) {
    class_row row;
    if (!class_row_of(size, &row)) return 0;
    *requests = row.requests;
    *remote = row.remote;
    return 1;
}

size_t tm_regions(void) {
    char report[16384];
    if (!stats_report(report, sizeof report)) return 0;
    const char *small = strstr(report, "MiB of slabs; ");
    size_t regions = 0;
    if (small == NULL || sscanf(small, "MiB of slabs; %zu regions", &regions) != 1) return 0;
    return regions;
}
