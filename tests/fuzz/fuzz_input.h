/* fuzz_input.h - reading a fuzzer's input as a stream of small numbers. Past the end every
 * read gives 0, so any input is a complete program of operations. */
#ifndef FUZZ_INPUT_H
#define FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct fuzz_input {
    const uint8_t *data;
    size_t size, pos;
} fuzz_input;

static inline int in_more(const fuzz_input *in) {
    return in->pos < in->size;
}

static inline uint8_t in_u8(fuzz_input *in) {
    return in->pos < in->size ? in->data[in->pos++] : 0;
}

static inline uint16_t in_u16(fuzz_input *in) {
    uint16_t lo = in_u8(in);
    return (uint16_t)(lo | (uint16_t)in_u8(in) << 8);
}

static inline uint32_t in_u32(fuzz_input *in) {
    uint32_t lo = in_u16(in);
    return lo | (uint32_t)in_u16(in) << 16;
}

/* An index below n (n > 0). */
static inline size_t in_index(fuzz_input *in, size_t n) {
    return n <= 256 ? in_u8(in) % n : in_u16(in) % n;
}

/* A 32-bit mix for contents the fuzzer cannot steer byte by byte. */
static inline uint32_t mix32(uint32_t x) {
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    return x ^ (x >> 16);
}

/* Contents derived from a seed: a window of a fixed table of mixed bytes, starting at an
 * offset the seed picks. Filling and checking are memcpy and memcmp, so that the harness's own
 * loops add no coverage tracing per byte. */
#define PATTERN_LEN ((size_t)1 << 16)

static inline const uint8_t *pattern_table(void) {
    static uint8_t table[2 * PATTERN_LEN]; /* the second half repeats the first */
    static int ready;
    if (!ready) {
        for (size_t i = 0; i < PATTERN_LEN; i += 4) {
            uint32_t w = mix32((uint32_t)i + 0x9e3779b9u);
            memcpy(table + i, &w, 4);
            memcpy(table + PATTERN_LEN + i, &w, 4);
        }
        ready = 1;
    }
    return table;
}

static inline void fill_seeded(void *p, size_t n, uint32_t seed) {
    const uint8_t *table = pattern_table();
    for (size_t done = 0; done < n; done += PATTERN_LEN) {
        size_t len = n - done < PATTERN_LEN ? n - done : PATTERN_LEN;
        memcpy((uint8_t *)p + done, table + (seed + done) % PATTERN_LEN, len);
    }
}

/* The offset of the first byte that differs from fill_seeded(seed), or SIZE_MAX. */
static inline size_t check_seeded(const void *p, size_t n, uint32_t seed) {
    const uint8_t *table = pattern_table(), *b = p;
    for (size_t done = 0; done < n; done += PATTERN_LEN) {
        size_t len = n - done < PATTERN_LEN ? n - done : PATTERN_LEN;
        const uint8_t *want = table + (seed + done) % PATTERN_LEN;
        if (memcmp(b + done, want, len) == 0) continue;
        for (size_t k = 0; k < len; k++)
            if (b[done + k] != want[k]) return done + k;
    }
    return SIZE_MAX;
}

/* The offset of the first non-zero byte, or SIZE_MAX. */
static inline size_t zero_check(const void *p, size_t n) {
    static const uint8_t zeros[4096];
    const uint8_t *b = p;
    for (size_t done = 0; done < n; done += sizeof zeros) {
        size_t len = n - done < sizeof zeros ? n - done : sizeof zeros;
        if (memcmp(b + done, zeros, len) == 0) continue;
        for (size_t k = 0; k < len; k++)
            if (b[done + k] != 0) return done + k;
    }
    return SIZE_MAX;
}

#endif
