/* commit_limit.c - a process that runs into the commit limit of strict overcommit.
 *
 * Under vm.overcommit_memory=2 a mapping past the commit limit is refused. A program that
 * allocates until malloc says no must get NULL and ENOMEM, and, once it frees what it took,
 * be served again. Under aslab it died of SIGSEGV at every size: the private jemalloc, set up
 * when aslab's regions ran out, wrote to the page it had just failed to map (session 27).
 * commit_limit.sh sets the limit (root only) and runs this under aslab for each size.
 *
 *   commit_limit SIZE
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BLOCKS (1 << 24)

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: commit_limit SIZE\n");
        return 2;
    }
    size_t size = strtoul(argv[1], NULL, 10), n = 0;
    void **blocks = calloc(MAX_BLOCKS, sizeof *blocks); /* before the limit is near */
    if (blocks == NULL) return 2;
    errno = 0;
    while (n < MAX_BLOCKS && (blocks[n] = malloc(size)) != NULL)
        memset(blocks[n++], 1, size < 4096 ? size : 4096);
    int refused = n < MAX_BLOCKS && errno == ENOMEM;
    while (n > 0)
        free(blocks[--n]);
    void *again = malloc(size);
    int ok = refused && again != NULL;
    printf("commit_limit: blocks of %zu bytes until NULL (%s), freed, one more: %s%s\n", size,
           refused ? "ENOMEM" : "not ENOMEM", again != NULL ? "served" : "NULL",
           ok ? "" : ": FAIL");
    free(again);
    return !ok;
}
