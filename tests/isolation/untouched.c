/* untouched.c - run with libaslab_malloc.so preloaded and no ASLAB_* variable: a program that
 * mallocs and frees maps none of the library's read-only data (the segment after its code:
 * .rodata and the unwind tables). Its first touch would map 64 KiB of it, and nothing the
 * set-up or the small paths do needs it (docs/footprint.md). Reads /proc/self/maps for the
 * library's mappings and /proc/self/pagemap for which of their pages are present; prints the
 * counts and exits 1 if a page of that segment is present, 2 if it cannot tell. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LIBRARY "libaslab_malloc.so"

/* Pages of [lo, hi) present in this process's page tables; -1 if pagemap cannot be read. */
static long present_pages(int pagemap, unsigned long lo, unsigned long hi) {
    long present = 0;
    for (unsigned long page = lo; page < hi; page += 4096) {
        uint64_t entry;
        if (pread(pagemap, &entry, sizeof entry, (off_t)(page / 4096 * sizeof entry)) !=
            (ssize_t)sizeof entry)
            return -1;
        present += (long)(entry >> 63);
    }
    return present;
}

int main(void) {
    for (int i = 0; i < 100; i++) /* a few blocks of a few classes, freed */
        free(malloc((size_t)(16 + 48 * i)));
    FILE *maps = fopen("/proc/self/maps", "r");
    int pagemap = open("/proc/self/pagemap", O_RDONLY);
    if (maps == NULL || pagemap < 0) {
        puts("untouched: /proc/self/maps or pagemap unreadable");
        return 2;
    }
    char line[512];
    int after_code = 0, checked = 0, bad = 0;
    while (fgets(line, sizeof line, maps) != NULL) {
        unsigned long lo, hi;
        char perms[8];
        if (strstr(line, LIBRARY) == NULL || sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3)
            continue;
        if (strcmp(perms, "r-xp") == 0) {
            after_code = 1;
            continue;
        }
        if (!after_code) continue;
        long present = present_pages(pagemap, lo, hi);
        if (present < 0) break; /* checked stays 0: cannot tell */
        printf("untouched: the read-only data after the code: %ld of %lu pages present\n", present,
               (hi - lo) / 4096);
        checked = 1;
        bad = present != 0;
        break;
    }
    fclose(maps);
    close(pagemap);
    if (!checked) {
        puts("untouched: " LIBRARY " not mapped, or no segment after its code");
        return 2;
    }
    return bad;
}
