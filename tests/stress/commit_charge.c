/* commit_charge.c - what a process under aslab charges to the kernel's commit limit.
 *
 * Under vm.overcommit_memory=2 every private writable mapping is charged to the commit limit
 * when it is made, touched or not, and a mapping past the limit is refused. aslab's 512 MiB
 * byte map, as .bss, was charged whole: 546 MiB a process against glibc's 10, and 3 of 40
 * processes started where glibc ran all 40 (docs/plan-strict-overcommit.md); its other tables
 * in .bss, 26 MiB more, until session 27 (29.7 MB here; 5.1 MB since). This program
 * allocates blocks of every kind, then sums the mappings /proc/self/smaps flags accountable
 * ("ac"), which is what the kernel charges, and fails above --bound-mib. (Under mode 2 the
 * kernel charges MAP_NORESERVE mappings too, which this mode's flags leave out: aslab's
 * regions and direct blocks, memory in use.)
 *
 *   commit_charge [--bound-mib B]   (B 0: report only)
 */
#define _GNU_SOURCE
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The sum of the sizes of the accountable mappings, in KiB; 0 if smaps cannot be read. */
static size_t accountable_kib(void) {
    FILE *f = fopen("/proc/self/smaps", "r");
    if (f == NULL) return 0;
    char line[512];
    size_t size = 0, total = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "Size:", 5) == 0) size = strtoul(line + 5, NULL, 10);
        if (strncmp(line, "VmFlags:", 8) == 0 && strstr(line, " ac") != NULL) total += size;
    }
    fclose(f);
    return total;
}

int main(int argc, char **argv) {
    long long bound_mib = bound_mib_option("commit_charge", argc, argv);
    static const size_t sizes[] = {16, 200, 3000, 100000, 900000, 3 << 20, 40 << 20};
    void *blocks[sizeof sizes / sizeof *sizes];
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        blocks[i] = malloc(sizes[i]);
        if (blocks[i] == NULL) return 1;
        memset(blocks[i], 1, sizes[i]);
    }
    size_t kib = accountable_kib();
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        free(blocks[i]);
    int over = bound_mib > 0 && kib > (size_t)bound_mib << 10;
    printf("commit_charge: %zu KiB charged to the commit limit (bound %lld MiB)%s\n", kib,
           bound_mib,
           kib == 0 ? ": smaps unreadable"
           : over   ? ": FAIL"
                    : "");
    return kib == 0 || over;
}
