/* stats_api.h - the statistics the malloc API reports: mallinfo2, and the ASLAB_STATS
 * report at exit (malloc_stats' report itself is declared in heap.h). */
#ifndef ASLAB_MALLOC_STATS_API_H
#define ASLAB_MALLOC_STATS_API_H

#include <malloc.h>

struct mallinfo2 aslab__mallinfo2(void);

/* At set-up, when ASLAB_STATS asks for a report: keeps stderr, and ASLAB_STATS_FILE as an
 * absolute path. Does not allocate. */
void aslab__stats_prepare(void);
/* From the library's destructor: the report, if this process is one that ASLAB_STATS asks
 * it of (options.h), to ASLAB_STATS_FILE or stderr. */
void aslab__stats_at_exit(void);

#endif
