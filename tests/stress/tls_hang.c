/* tls_hang.c - joining threads must not hang. The program dlopens a library with 64 KiB of
 * __thread data (tls_block.c), then runs and joins 20 threads, one at a time, on stacks it
 * mapped itself (pthread_attr_setstack); each touches the library's TLS, which glibc
 * allocates with malloc: a block over 16 KiB per thread. glibc frees that block from inside
 * pthread_join while it holds its stack-cache lock, which pthread_create takes too: a free
 * that starts a thread hangs there for ever. Nothing else frees a large block first, so the
 * first large free of the process is that one (the old decay thread was started by the
 * first). With --own-free each thread also frees a large block of its own. A watchdog turns
 * a hang into a failure with a message: a parent process that kills the test after the
 * timeout (an alarm in the process itself would not do: the old thread start blocked
 * every signal around pthread_create).
 *
 *   tls_hang LIBRARY [--threads N] [--timeout S] [--own-free]
 */
#define _GNU_SOURCE
#include "util.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define STACK_SIZE (256 * 1024)

static unsigned (*touch)(unsigned seed);
static int own_free;

static void *thread_main(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    unsigned sum = touch(seed);
    if (own_free) {
        unsigned char *big = malloc(20 * 1024 + seed); /* over 16 KiB: the large path */
        if (big == NULL) return (void *)1;
        memset(big, (int)seed, 20 * 1024 + seed);
        sum += big[seed];
        free(big);
    }
    return (void *)(uintptr_t)(sum == 0xffffffffu);
}

/* One thread on a stack of our own; 0 when it ran and was joined. */
static int run_one(unsigned seed) {
    void *stack =
        mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (stack == MAP_FAILED) return -1;
    pthread_attr_t attr;
    pthread_t thread;
    void *result = NULL;
    pthread_attr_init(&attr);
    int err = pthread_attr_setstack(&attr, stack, STACK_SIZE);
    if (err == 0) err = pthread_create(&thread, &attr, thread_main, (void *)(uintptr_t)seed);
    if (err == 0) err = pthread_join(thread, &result);
    pthread_attr_destroy(&attr);
    munmap(stack, STACK_SIZE); /* the thread is gone: glibc is done with its stack */
    return err != 0 || result != NULL ? -1 : 0;
}

static int run_all(const char *library, unsigned threads) {
    void *lib = dlopen(library, RTLD_NOW);
    if (lib == NULL || (touch = (unsigned (*)(unsigned))dlsym(lib, "tls_block_touch")) == NULL) {
        fprintf(stderr, "tls_hang: FAIL: %s\n", dlerror());
        return 1;
    }
    for (unsigned i = 0; i < threads; i++)
        if (run_one(i + 1) != 0) {
            fprintf(stderr, "tls_hang: FAIL: thread %u could not be created or joined\n", i);
            return 1;
        }
    return 0;
}

/* The parent waits for the child that runs the test; after `timeout` seconds it kills it. */
static int watch(pid_t child, unsigned timeout) {
    int status;
    double start = now_seconds();
    while (waitpid(child, &status, WNOHANG) == 0) {
        if (now_seconds() - start > timeout) {
            kill(child, SIGKILL);
            waitpid(child, &status, 0);
            fprintf(stderr,
                    "tls_hang: FAIL: threads not joined within %u s: a hang in "
                    "pthread_join (a free that waits for glibc's stack-cache lock?)\n",
                    timeout);
            return 1;
        }
        sleep_seconds(0.05);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int main(int argc, char **argv) {
    unsigned threads = 20, timeout = 30;
    if (argc < 2) {
        fprintf(stderr, "usage: %s LIBRARY [--threads N] [--timeout S] [--own-free]\n", argv[0]);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        const char *value = i + 1 < argc ? argv[i + 1] : "0";
        if (strcmp(argv[i], "--own-free") == 0)
            own_free = 1;
        else if (strcmp(argv[i], "--threads") == 0 && ++i)
            threads = (unsigned)atoi(value);
        else if (strcmp(argv[i], "--timeout") == 0 && ++i)
            timeout = (unsigned)atoi(value);
    }
    fflush(stdout);
    pid_t child = fork();
    if (child < 0) {
        perror("tls_hang: fork");
        return 1;
    }
    if (child == 0) _exit(run_all(argv[1], threads));
    if (watch(child, timeout) != 0) return 1;
    printf("tls_hang: %u threads on their own stacks, each with 64 KiB of dlopened TLS%s, "
           "joined: ok\n",
           threads, own_free ? " and a large free" : "");
    return 0;
}
