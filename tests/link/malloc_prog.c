/* The link test's malloc program: some real work through malloc, calloc, realloc and free,
 * then the proof that the malloc it got is aslab's: malloc_stats() prints aslab's report
 * ("aslab: heap statistics ..."), where glibc's prints "Arena 0:". Prints "malloc: aslab"
 * and exits 0, or says what it found and exits 1. Run it without ASLAB_STATS: with it, aslab
 * writes its reports to a copy of stderr taken at start, which the capture here misses. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCKS 2000

/* Blocks of many sizes (small classes and the fallback's), each filled and checked. */
static int work(void) {
    static unsigned char *blocks[BLOCKS];
    for (size_t i = 0; i < BLOCKS; i++) {
        size_t size = 1 + (i * 37) % (i % 100 == 0 ? 100000 : 2000);
        blocks[i] = i % 3 ? malloc(size) : calloc(1, size);
        if (blocks[i] == NULL || malloc_usable_size(blocks[i]) < size) return 0;
        if (i % 3 == 0 && blocks[i][size - 1] != 0) return 0;
        memset(blocks[i], (int)(i & 0xff), size);
    }
    for (size_t i = 0; i < BLOCKS; i += 2) {
        unsigned char *grown = realloc(blocks[i], 3000);
        if (grown == NULL || grown[0] != (i & 0xff)) return 0;
        blocks[i] = grown;
    }
    for (size_t i = 0; i < BLOCKS; i++)
        free(blocks[i]);
    return 1;
}

/* The first line malloc_stats() writes to stderr, caught in a temporary file. */
static void malloc_stats_first_line(char *line, int size) {
    FILE *capture = tmpfile();
    int saved = dup(STDERR_FILENO);
    line[0] = '\0';
    if (capture == NULL || saved < 0) return;
    fflush(stderr);
    dup2(fileno(capture), STDERR_FILENO);
    malloc_stats();
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(capture);
    if (fgets(line, size, capture) == NULL) line[0] = '\0';
    line[strcspn(line, "\n")] = '\0';
    fclose(capture);
}

int main(void) {
    char line[256];
    if (!work()) {
        printf("malloc: a block was lost or corrupted\n");
        return 1;
    }
    malloc_stats_first_line(line, sizeof line);
    if (strncmp(line, "aslab", 5) != 0) {
        printf("malloc: not aslab (malloc_stats says \"%s\")\n", line);
        return 1;
    }
    printf("malloc: aslab\n");
    return 0;
}
