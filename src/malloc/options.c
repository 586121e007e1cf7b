/* options.c - parses the ASLAB_* variables without allocating. */
#include "options.h"

#include <stddef.h>

extern char **environ;

aslab__options_t aslab__options = {.stats = 0, .decay_ms = 1000, .tcache = 1};

/* The value of NAME=value in environ, or NULL. */
static const char *env_value(const char *name) {
    if (environ == NULL) return NULL;
    for (char **entry = environ; *entry != NULL; entry++) {
        const char *e = *entry, *n = name;
        while (*n != '\0' && *e == *n)
            e++, n++;
        if (*n == '\0' && *e == '=') return e + 1;
    }
    return NULL;
}

/* A decimal integer, optionally negative; `fallback` when absent or malformed. */
static int64_t env_int(const char *name, int64_t fallback) {
    const char *v = env_value(name);
    if (v == NULL || *v == '\0') return fallback;
    int negative = *v == '-';
    if (negative) v++;
    int64_t value = 0;
    for (; *v != '\0'; v++) {
        if (*v < '0' || *v > '9' || value > INT64_MAX / 10 - 9) return fallback;
        value = value * 10 + (*v - '0');
    }
    return negative ? -value : value;
}

void aslab__options_read(void) {
    aslab__options.stats = env_int("ASLAB_STATS", 0) != 0;
    aslab__options.decay_ms = env_int("ASLAB_DECAY_MS", 1000);
    if (aslab__options.decay_ms < -1) aslab__options.decay_ms = -1;
    aslab__options.tcache = env_int("ASLAB_TCACHE", 1) != 0;
}
