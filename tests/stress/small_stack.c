/* small_stack.c - threads made with the smallest stack POSIX allows still allocate.
 *
 * glibc carves every thread's static TLS (the TLS of the program and of every library loaded
 * at start, LD_PRELOAD ones included) out of the stack the thread was given, so each byte of
 * an allocator's static TLS is a byte less of every thread's stack. A program that makes its
 * threads with PTHREAD_STACK_MIN (16 KiB here) has about 8 KiB of it under glibc; aslab's
 * 10 KiB of static TLS (until session 26) left nothing, and such a thread died in its first
 * malloc. Two checks:
 *
 *   - the static TLS of every module loaded besides the program and the C library (the
 *     preloaded allocator) is at most --tls-max bytes (dl_iterate_phdr's PT_TLS);
 *   - in a child process (so that a crash is reported, not just suffered), threads on stacks
 *     of --stack bytes that first use --use bytes of it themselves call malloc, calloc,
 *     realloc, posix_memalign and free at small, medium and large sizes, and free a block
 *     another thread made; some run one after another, some side by side.
 *
 *   small_stack [--stack BYTES] [--use BYTES] [--tls-max BYTES]
 *
 * Exit status 0 when both checks pass. Runs under any allocator through LD_PRELOAD.
 */
#define _GNU_SOURCE
#include "util.h"

#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEQUENTIAL 8
#define TOGETHER   4

static size_t stack_bytes = 16384, use_bytes = 512, tls_max = 7168;
static size_t tls_over; /* bytes of static TLS above tls_max, summed over modules */

static int module_tls(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    (void)arg;
    const char *name = info->dlpi_name;
    /* the program itself has an empty name; the C library and the loader are not ours */
    if (name[0] == '\0' || strstr(name, "/libc.so") || strstr(name, "/ld-linux")) return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_TLS) continue;
        printf("small_stack: %s has %zu bytes of static TLS (at most %zu)\n", name,
               (size_t)ph->p_memsz, tls_max);
        if (ph->p_memsz > tls_max) tls_over += ph->p_memsz - tls_max;
    }
    return 0;
}

/* Uses `bytes` of the calling thread's stack, as a program's own frames would. */
static __attribute__((noinline)) void use_stack(size_t bytes) {
    char *volatile area = __builtin_alloca(bytes);
    memset(area, 0x5a, bytes);
    __asm__ volatile("" : : "r"(area) : "memory");
}

/* One block of each kind, written and freed; 0 if every call worked. */
static int allocate_all(void *given) {
    static const size_t sizes[] = {16, 100, 1024, 2048, 16384, 65536, 300000, 2 << 20};
    int bad = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        char *p = malloc(sizes[i]), *z = calloc(1, sizes[i]);
        void *a = NULL;
        bad |= p == NULL || z == NULL || zero_check(z, sizes[i]) != SIZE_MAX ||
               posix_memalign(&a, 4096, sizes[i]) != 0;
        if (p != NULL) memset(p, 1, sizes[i]);
        char *r = realloc(p, sizes[i] * 2);
        bad |= r == NULL || (r != NULL && r[sizes[i] - 1] != 1);
        free(r != NULL ? r : p);
        free(z);
        free(a);
    }
    free(given);
    return bad;
}

static void *worker(void *given) {
    use_stack(use_bytes);
    return (void *)(intptr_t)allocate_all(given);
}

static int run_threads(int count) {
    pthread_attr_t attr;
    pthread_t threads[TOGETHER];
    int bad = 0;
    pthread_attr_init(&attr);
    if (pthread_attr_setstacksize(&attr, stack_bytes) != 0) return 1;
    for (int i = 0; i < count; i++)
        if (pthread_create(&threads[i], &attr, worker, malloc(48)) != 0) return 1;
    for (int i = 0; i < count; i++) {
        void *status = NULL;
        pthread_join(threads[i], &status);
        bad |= status != NULL;
    }
    pthread_attr_destroy(&attr);
    return bad;
}

static int child(void) {
    for (int i = 0; i < SEQUENTIAL; i++)
        if (run_threads(1) != 0) return 1;
    return run_threads(TOGETHER);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--stack") == 0)
            stack_bytes = (size_t)option_value("small_stack", argc, argv, &i);
        else if (strcmp(argv[i], "--use") == 0)
            use_bytes = (size_t)option_value("small_stack", argc, argv, &i);
        else if (strcmp(argv[i], "--tls-max") == 0)
            tls_max = (size_t)option_value("small_stack", argc, argv, &i);
        else {
            fprintf(stderr, "usage: small_stack [--stack B] [--use B] [--tls-max B]\n");
            return 2;
        }
    }
    free(malloc(1)); /* the allocator set up before the checks */
    dl_iterate_phdr(module_tls, NULL);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) _exit(child());
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) return 1;
    int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (WIFSIGNALED(status))
        printf("small_stack: FAIL: a thread on a %zu-byte stack using %zu of it died of signal "
               "%d (%s)\n",
               stack_bytes, use_bytes, WTERMSIG(status), strsignal(WTERMSIG(status)));
    else if (!ok)
        printf("small_stack: FAIL: a call failed in a thread on a %zu-byte stack\n", stack_bytes);
    if (tls_over != 0) printf("small_stack: FAIL: static TLS %zu bytes over the limit\n", tls_over);
    if (ok && tls_over == 0)
        printf("small_stack: %d threads on %zu-byte stacks, %zu bytes of each used first: ok\n",
               SEQUENTIAL + TOGETHER, stack_bytes, use_bytes);
    return ok && tls_over == 0 ? 0 : 1;
}
