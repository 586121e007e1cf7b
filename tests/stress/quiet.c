/* quiet.c - a process under aslab has only the threads it made. After small and large
 * blocks are allocated and freed (slabs emptied, blocks over 16 KiB freed) and 1.5 s of
 * idling, /proc/self/task must hold one entry and unshare(CLONE_NEWUSER), which the kernel
 * refuses to a process with more than one thread, must succeed.
 *
 *   quiet [--no-unshare]       the checks above (make runs the glibc build first: where the
 *                              kernel refuses unshare there too, it exits 77 and the aslab
 *                              run skips that check with --no-unshare)
 *   quiet --background         ASLAB_BACKGROUND_THREAD=1: after a malloc on the main
 *                              thread the process has two threads, and a fork child that
 *                              mallocs has two of its own
 */
#define _GNU_SOURCE
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define SMALL_BLOCKS (64 * 1024) /* of 16..1024 bytes: many slabs empty when freed */
#define LARGE_BLOCKS 64          /* of 20 KiB .. 4 MiB */

/* Entries of /proc/self/task (one per thread); -1 if /proc cannot tell. Read with
 * getdents64 into a stack buffer: opendir would malloc, and a malloc may be the very call
 * that starts a thread. */
static int thread_count(void) {
    char buf[4096];
    int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC), count = 0;
    if (fd < 0) return -1;
    long got;
    while ((got = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0)
        for (long at = 0; at < got;) {
            const struct dirent64 *e = (const struct dirent64 *)(buf + at);
            count += e->d_name[0] != '.';
            at += e->d_reclen;
        }
    close(fd);
    return got < 0 ? -1 : count;
}

/* malloc and free of `size` bytes that the compiler may not fold away (it may drop a
 * free(malloc(n)) pair, or a block written and freed unread). */
static int malloc_free(size_t size, int fill) {
    char *volatile p = malloc(size);
    if (p == NULL) return -1;
    memset(p, fill, size);
    __asm__ volatile("" : : "r"(p) : "memory");
    free(p);
    return 0;
}

/* Small blocks, then large ones, all written and freed; returns 0 if every malloc worked. */
static int churn(void) {
    static void *small[SMALL_BLOCKS];
    rng r = {mix64(7)};
    for (size_t i = 0; i < SMALL_BLOCKS; i++) {
        size_t size = rng_range(&r, 16, 1024);
        if ((small[i] = malloc(size)) == NULL) return -1;
        memset(small[i], 1, size);
    }
    for (size_t i = 0; i < SMALL_BLOCKS; i++)
        free(small[i]);
    for (int i = 0; i < LARGE_BLOCKS; i++)
        if (malloc_free(rng_range(&r, 20 * 1024, 4 << 20), 2) != 0) return -1;
    return 0;
}

static int check_quiet(int try_unshare) {
    if (churn() != 0) {
        printf("quiet: FAIL: out of memory\n");
        return 1;
    }
    sleep_seconds(1.5);
    int threads = thread_count();
    int ok = threads == 1;
    printf("quiet: after small and large frees and 1.5 s idle: %d thread(s): %s\n", threads,
           ok ? "ok" : "FAIL (a thread the program did not make)");
    if (!try_unshare) {
        printf("quiet: unshare(CLONE_NEWUSER) not tried (refused under glibc too)\n");
        return ok ? 0 : 1;
    }
    if (unshare(CLONE_NEWUSER) != 0) {
        int err = errno;
        printf("quiet: unshare(CLONE_NEWUSER): %s: %s\n", strerror(err),
               err == EINVAL ? "FAIL (the process is not single-threaded)" : "refused (skip)");
        return err == EINVAL ? 1 : 77;
    }
    printf("quiet: unshare(CLONE_NEWUSER): ok\n");
    return ok ? 0 : 1;
}

/* ASLAB_BACKGROUND_THREAD=1: a malloc beyond the size classes (over 1 MiB) is always a malloc
 * slow path of the main thread. */
static int check_background(void) {
    if (malloc_free(2 << 20, 0) != 0) return 1;
    int parent = thread_count();
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        int before = thread_count();
        _exit(malloc_free(2 << 20, 0) == 0 && before == 1 && thread_count() == 2 ? 0 : 1);
    }
    int status = 1;
    waitpid(child, &status, 0);
    int child_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    printf("quiet --background: %d threads after a malloc; a fork child %s\n", parent,
           child_ok ? "starts its own" : "FAIL: starts none, or had one already");
    return parent == 2 && child_ok ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--background") == 0) return check_background();
    return check_quiet(!(argc > 1 && strcmp(argv[1], "--no-unshare") == 0));
}
