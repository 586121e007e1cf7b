/* secure_env.c - a set-user-ID program linked with aslab takes no ASLAB_* options from its
 * environment (secure_env.sh runs it both ways). It says whether the loader put it in secure
 * mode (AT_SECURE), allocates and frees blocks of every kind, and exits; with ASLAB_STATS=1
 * and ASLAB_STATS_FILE set, an aslab that read them appends its exit report to that file. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

int main(void) {
    static const size_t sizes[] = {16, 1000, 100000, 3 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        char *volatile p = malloc(sizes[i]);
        if (p == NULL) return 1;
        memset(p, 1, sizes[i]);
        free(p);
    }
    printf("secure %lu\n", getauxval(AT_SECURE));
    return 0;
}
