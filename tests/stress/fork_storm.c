/* fork_storm.c - fork safety: the main thread forks again and again while allocating threads
 * run. Each child checks and frees the blocks the parent's threads had published at the
 * moment of the fork (so it frees blocks of threads that do not exist in it), runs a few
 * thousand operations of its own, creates one thread that does the same, and calls _exit.
 * The parent waits for each child with a deadline: a child that has not exited by then is
 * deadlocked (a lock held across fork); it is killed and the run fails.
 *
 *   fork_storm [--forks N] [--threads T] [--timeout S] [--seed N]
 */
#define _GNU_SOURCE
#include "util.h"

#include <aslab.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_THREADS 32
#define PUBLISHED   64 /* blocks each thread keeps visible to a child */
#define CHURN       64 /* private blocks of a churn loop */
#define HEADER      16 /* a block starts with its size and seed; the pattern follows */

enum { CHILD_OK = 0, CHILD_CORRUPT = 3, CHILD_NO_THREAD = 4, CHILD_NO_MEMORY = 5, CHILD_WAKES = 6 };

static struct {
    unsigned forks, threads;
    double timeout;
    uint64_t seed;
} opt = {1000, 8, 10.0, 1};

static _Atomic(void *) published[MAX_THREADS][PUBLISHED];
static atomic_int stop;
static atomic_ullong parent_ops, parent_failures;

/* Mostly small, one in 32 beyond aslab's 16 KiB limit. */
static size_t draw_size(rng *r) {
    if (rng_below(r, 32) == 0) return rng_range(r, 16385, 64 << 10);
    return rng_range(r, HEADER, 2048);
}

static void *make_block(rng *r, uint64_t generation) {
    size_t size = draw_size(r);
    unsigned char *p = malloc(size);
    if (p == NULL) return NULL;
    uint64_t header[2] = {size, pattern_seed(p, generation)};
    memcpy(p, header, HEADER);
    pattern_fill(p + HEADER, size - HEADER, header[1]);
    return p;
}

/* Checks a block made by make_block and frees it; 0 if it was intact. */
static int drop_block(void *block) {
    unsigned char *p = block;
    uint64_t header[2];
    memcpy(header, p, HEADER);
    int bad = header[0] < HEADER || header[0] > (64 << 10) ||
              pattern_check(p + HEADER, header[0] - HEADER, header[1]) != SIZE_MAX;
    free(p);
    return bad;
}

/* ops rounds over `CHURN` private slots: free what is there, or make a block; 0 if all was
 * intact and every allocation succeeded. */
static int churn(rng *r, uint64_t ops) {
    void *blocks[CHURN] = {0};
    int bad = 0;
    for (uint64_t i = 0; i < ops; i++) {
        void **slot = &blocks[rng_below(r, CHURN)];
        if (*slot != NULL) {
            bad |= drop_block(*slot);
            *slot = NULL;
        } else if ((*slot = make_block(r, i)) == NULL) {
            bad = 1;
        }
    }
    for (unsigned i = 0; i < CHURN; i++)
        if (blocks[i] != NULL) bad |= drop_block(blocks[i]);
    return bad;
}

/* The allocating threads run all the time, at the lowest priority (nice is per thread on
 * Linux): children and the forking thread get the CPU first, so a fork costs ~1 ms. */
static void *parent_thread(void *arg) {
    unsigned index = (unsigned)(uintptr_t)arg;
    setpriority(PRIO_PROCESS, (id_t)gettid(), 19);
    rng r = {mix64(opt.seed ^ mix64(index + 1))};
    uint64_t generation = (uint64_t)index << 40;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        void *fresh = make_block(&r, generation++);
        void *old = atomic_exchange(&published[index][rng_below(&r, PUBLISHED)], fresh);
        int bad = fresh == NULL || (old != NULL && drop_block(old));
        bad |= churn(&r, 16);
        atomic_fetch_add_explicit(&parent_ops, 34, memory_order_relaxed);
        if (bad) atomic_fetch_add(&parent_failures, 1);
    }
    return NULL;
}

static void *child_thread(void *arg) {
    rng *r = arg;
    return (void *)(uintptr_t)churn(r, 500);
}

/* Under aslab: the most futex wake-ups one class's locks have made, from malloc_stats()'s last
 * column ("wakes"); 0 under another malloc. A lock the child re-initialised after fork makes
 * none while the child has one thread. A lock word that kept a sleeper count of the parent's
 * threads would make every unlock a system call: the child first takes and gives back a slab
 * of every class six times (each a lock and an unlock of the class's locks), so that such a
 * lock shows several wake-ups, not one. The row is printed when it has any. */
static unsigned long class_lock_wakes(void) {
    for (int round = 0; round < 6; round++) { /* every class: a slab taken, given back */
        for (size_t size = 16; size <= 16384; size += size < 256 ? 16 : size / 8) {
            void *block = malloc(size);
            free(block);
        }
        malloc_trim(0);
    }
    static char report[65536];
    int fds[2], saved = dup(STDERR_FILENO);
    if (saved < 0 || pipe(fds) != 0) return 0;
    dup2(fds[1], STDERR_FILENO);
    malloc_stats();
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fds[1]);
    ssize_t got, len = 0;
    while (len < (ssize_t)sizeof report - 1 &&
           (got = read(fds[0], report + len, sizeof report - 1 - (size_t)len)) > 0)
        len += got;
    close(fds[0]);
    report[len] = '\0';
    if (strncmp(report, "aslab: heap statistics", 22) != 0) return 0;
    unsigned long most = 0;
    for (char *line = strtok(report, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        char *last = strrchr(line, ' ');
        unsigned long wakes = line[0] == ' ' && last != NULL ? strtoul(last + 1, NULL, 10) : 0;
        if (wakes != 0) fprintf(stderr, "fork_storm: child %d: %s\n", (int)getpid(), line);
        if (wakes > most) most = wakes;
    }
    return most;
}

/* In the child: the parent's threads are gone, their published blocks are ours to free. */
static void child_main(unsigned iteration) {
    int bad = 0;
    for (unsigned t = 0; t < opt.threads; t++)
        for (unsigned k = 0; k < PUBLISHED; k++) {
            void *p = atomic_load(&published[t][k]);
            if (p != NULL) bad |= drop_block(p);
        }
    rng r = {mix64(opt.seed ^ mix64(iteration) ^ GOLDEN)};
    bad |= churn(&r, 1500);
    if (class_lock_wakes() >= 3) _exit(CHILD_WAKES);
    rng thread_rng = {rng_next(&r)};
    pthread_t thread;
    void *thread_bad = NULL;
    if (pthread_create(&thread, NULL, child_thread, &thread_rng) != 0) _exit(CHILD_NO_THREAD);
    pthread_join(thread, &thread_bad);
    bad |= thread_bad != NULL;
    bad |= churn(&r, 500);
    _exit(bad ? CHILD_CORRUPT : CHILD_OK);
}

/* waitpid with a deadline; returns 1 and the status when the child exited, 0 when it had to
 * be killed. */
static int wait_bounded(pid_t pid, int *status) {
    double deadline = now_seconds() + opt.timeout, nap = 0.00005;
    for (;;) {
        pid_t got = waitpid(pid, status, WNOHANG);
        if (got == pid) return 1;
        if (got < 0 && errno != EINTR) return 0;
        if (now_seconds() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, status, 0);
            return 0;
        }
        sleep_seconds(nap);
        nap = nap < 0.0005 ? nap * 2 : nap;
    }
}

static void describe_child(unsigned iteration, pid_t pid, int status) {
    if (WIFEXITED(status))
        fprintf(stderr, "fork_storm: FAIL fork %u: child %d exited with %d (%s)\n", iteration,
                (int)pid, WEXITSTATUS(status),
                WEXITSTATUS(status) == CHILD_CORRUPT     ? "a block was corrupt or missing"
                : WEXITSTATUS(status) == CHILD_NO_THREAD ? "pthread_create failed"
                : WEXITSTATUS(status) == CHILD_WAKES
                    ? "a class lock made futex wake-ups while the child had one thread"
                    : "?");
    else if (WIFSIGNALED(status))
        fprintf(stderr, "fork_storm: FAIL fork %u: child %d killed by signal %d\n", iteration,
                (int)pid, WTERMSIG(status));
}

/* Forks opt.forks times; returns the number of failed children, stopping at the first hang. */
static unsigned fork_loop(unsigned *done, unsigned *hung) {
    unsigned failed = 0;
    for (*done = 0; *done < opt.forks && failed < 10; (*done)++) {
        pid_t pid = fork();
        if (pid == 0) child_main(*done);
        if (pid < 0) {
            perror("fork_storm: fork");
            return failed + 1;
        }
        int status = 0;
        if (!wait_bounded(pid, &status)) {
            fprintf(stderr,
                    "fork_storm: FAIL fork %u: child %d still running after %.0f s "
                    "(deadlock?); killed\n",
                    *done, (int)pid, opt.timeout);
            (*hung)++;
            return failed + 1;
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != CHILD_OK) {
            describe_child(*done, pid, status);
            failed++;
        }
    }
    return failed;
}

/* Threads that live a moment: each sets its heap up, takes slabs of several classes and exits,
 * handing them back, so that at any fork some thread is likely in set-up, in a slow path or
 * waiting on a lock the fork handlers hold (a sleeper the child must not inherit). */
static void *short_lived(void *arg) {
    static const size_t sizes[] = {24, 96, 640, 2500, 9000};
    void *blocks[5][40];
    (void)arg;
    for (int s = 0; s < 5; s++)
        for (int i = 0; i < 40; i++)
            blocks[s][i] = malloc(sizes[s]);
    for (int s = 0; s < 5; s++)
        for (int i = 0; i < 40; i++)
            free(blocks[s][i]);
    return NULL;
}

static void *spawner(void *arg) {
    (void)arg;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        pthread_t t[4];
        int made = 0;
        for (; made < 4 && pthread_create(&t[made], NULL, short_lived, NULL) == 0; made++) {
        }
        for (int i = 0; i < made; i++)
            pthread_join(t[i], NULL);
    }
    return NULL;
}

static int parse_args(int argc, char **argv) {
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--forks") == 0)
            opt.forks = (unsigned)strtoul(argv[i + 1], NULL, 0);
        else if (strcmp(argv[i], "--threads") == 0)
            opt.threads = (unsigned)strtoul(argv[i + 1], NULL, 0);
        else if (strcmp(argv[i], "--timeout") == 0)
            opt.timeout = strtod(argv[i + 1], NULL);
        else if (strcmp(argv[i], "--seed") == 0)
            opt.seed = strtoull(argv[i + 1], NULL, 0);
        else
            return -1;
    }
    return argc % 2 == 0 || opt.threads > MAX_THREADS ? -1 : 0;
}

int main(int argc, char **argv) {
    if (parse_args(argc, argv) != 0) {
        fprintf(stderr, "usage: %s [--forks N] [--threads 0..%d] [--timeout S] [--seed N]\n",
                argv[0], MAX_THREADS);
        return 2;
    }
    pthread_t threads[MAX_THREADS];
    for (unsigned t = 0; t < opt.threads; t++)
        pthread_create(&threads[t], NULL, parent_thread, (void *)(uintptr_t)t);
    pthread_t spawn;
    int spawning = pthread_create(&spawn, NULL, spawner, NULL) == 0;
    sleep_seconds(0.05); /* let every thread publish blocks */
    double start = now_seconds();
    unsigned done = 0, hung = 0, failed = fork_loop(&done, &hung);
    double elapsed = now_seconds() - start;
    atomic_store(&stop, 1);
    for (unsigned t = 0; t < opt.threads; t++)
        pthread_join(threads[t], NULL);
    if (spawning) pthread_join(spawn, NULL);
    for (unsigned t = 0; t < opt.threads; t++)
        for (unsigned k = 0; k < PUBLISHED; k++) {
            void *p = atomic_load(&published[t][k]);
            if (p != NULL && drop_block(p)) atomic_fetch_add(&parent_failures, 1);
        }
    printf("fork_storm[%s]: %u forks in %.1f s (%.2f ms each) while %u threads allocated "
           "(%llu ops)\n",
           STRESS_ALLOCATOR, done, elapsed, done ? 1000 * elapsed / done : 0.0, opt.threads,
           (unsigned long long)parent_ops);
    printf("  failed children %u, hung children %u, parent verification failures %llu\n", failed,
           hung, (unsigned long long)parent_failures);
    return failed == 0 && parent_failures == 0 && done == opt.forks ? 0 : 1;
}
