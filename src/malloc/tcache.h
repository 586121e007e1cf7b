/* tcache.h - the thread cache's slow paths and per-thread life cycle (see heap.h for the
 * structure and the fast paths), and the per-class counters they keep. */
#ifndef ASLAB_MALLOC_TCACHE_H
#define ASLAB_MALLOC_TCACHE_H

#include "heap.h"

typedef struct aslab__class_counters {
    uint64_t requests; /* allocations served (merged from threads in batches) */
    int64_t out;       /* objects taken from the class cache and not given back */
    int64_t peak_out;  /* the most that ever were */
} aslab__class_counters;

extern aslab__class_counters aslab__counters[ASLAB_CLASS_SLOTS];

/* Creates the key whose destructor empties an exiting thread's cache. Once, at init. */
int aslab__tcache_global_init(void);
/* Empties every bin of the calling thread into the class caches (malloc_trim). */
void aslab__tcache_flush_all(void);
/* Objects held in the calling thread's cache for cls. */
size_t aslab__tcache_cached(unsigned cls);
/* Adds the calling thread's request counts to the global ones. */
void aslab__tcache_merge_requests(void);

#endif
