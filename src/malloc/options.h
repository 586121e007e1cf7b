/* options.h - settings from ASLAB_* environment variables, read once at start-up straight
 * from `environ` (no getenv, no allocation). Each is documented in the README. */
#ifndef ASLAB_MALLOC_OPTIONS_H
#define ASLAB_MALLOC_OPTIONS_H

#include <stdint.h>

typedef struct aslab__options_t {
    int stats;        /* ASLAB_STATS=1: print a per-class report at exit */
    int64_t decay_ms; /* ASLAB_DECAY_MS: age before a free slab is discarded; 0 now, -1 never */
    int tcache;       /* ASLAB_TCACHE=0: no thread caches, every call takes the class lock */
    /* ASLAB_DIRTY_MAX_MB: MiB of free pages each pool keeps resident at most; -1 no cap */
    int64_t dirty_max_mb;
    /* ASLAB_BACKGROUND_THREAD=1: a thread of aslab's returns memory while the program idles */
    int background;
} aslab__options_t;

extern aslab__options_t aslab__options;

void aslab__options_read(void);

#endif
