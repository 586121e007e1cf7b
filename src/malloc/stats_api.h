/* stats_api.h - the statistics the malloc API reports: mallinfo2 (and the ASLAB_STATS
 * report, declared in heap.h). */
#ifndef ASLAB_MALLOC_STATS_API_H
#define ASLAB_MALLOC_STATS_API_H

#include <malloc.h>

struct mallinfo2 aslab__mallinfo2(void);

#endif
