/* clear.h - how calloc zeroes a block that may hold old data without bringing into memory
 * the pages that nobody wrote. */
#ifndef ASLAB_MALLOC_CLEAR_H
#define ASLAB_MALLOC_CLEAR_H

#include <stddef.h>

/* Zeroes [p, p + n) (p 8-byte aligned), writing only the 4 KiB granules that hold a nonzero
 * byte. A granule that reads zero is left alone: if no one ever wrote it, reading it mapped
 * the kernel's shared zero page, which no process is charged for, and it stays out of the
 * program's resident memory until the program itself writes it. Returns how many granules
 * (or parts of one at either end) held data; *granules, how many there were. */
size_t aslab__clear_written(void *p, size_t n, size_t *granules);

#endif
