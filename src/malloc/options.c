/* options.c - parses the ASLAB_* variables without allocating. */
#include "options.h"

#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

aslab__options_t aslab__options = {
    .stats = 0, .decay_ms = 1000, .tcache = 1, .dirty_max_mb = 8, .background = 0};

/* Before libc has set `environ` (a malloc from a .preinit_array function, as the clang
 * sanitizer runtimes make), the ASLAB_* entries come from /proc/self/environ instead. */
#define PROC_ENTRIES 8
static char proc_entries[PROC_ENTRIES][128];
static char *proc_environ[PROC_ENTRIES + 1];

static char **environ_from_proc(void) {
    char chunk[512], entry[128];
    size_t len = 0, count = 0;
    ssize_t got;
    int fd = open("/proc/self/environ", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    while ((got = read(fd, chunk, sizeof chunk)) > 0)
        for (ssize_t i = 0; i < got; i++) {
            if (chunk[i] != '\0') {
                if (len < sizeof entry) entry[len] = chunk[i];
                len++;
                continue;
            }
            if (len >= 6 && len < sizeof entry && count < PROC_ENTRIES &&
                strncmp(entry, "ASLAB_", 6) == 0) {
                memcpy(proc_entries[count], entry, len);
                proc_entries[count][len] = '\0';
                proc_environ[count] = proc_entries[count];
                count++;
            }
            len = 0;
        }
    close(fd);
    proc_environ[count] = NULL;
    return proc_environ;
}

static char **env;

/* The value of NAME=value in the environment, or NULL. */
static const char *env_value(const char *name) {
    if (env == NULL) return NULL;
    for (char **entry = env; *entry != NULL; entry++) {
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
    env = environ != NULL ? environ : environ_from_proc();
    aslab__options.stats = env_int("ASLAB_STATS", 0) != 0;
    aslab__options.decay_ms = env_int("ASLAB_DECAY_MS", 1000);
    if (aslab__options.decay_ms < -1) aslab__options.decay_ms = -1;
    aslab__options.tcache = env_int("ASLAB_TCACHE", 1) != 0;
    aslab__options.dirty_max_mb = env_int("ASLAB_DIRTY_MAX_MB", 8);
    if (aslab__options.dirty_max_mb < -1) aslab__options.dirty_max_mb = -1;
    aslab__options.background = env_int("ASLAB_BACKGROUND_THREAD", 0) != 0;
}
