/* test_child.h - running a piece of a test in a child process: a forked function (misuse
 * that must abort, a fork under load) or this very binary re-executed with a scenario and
 * a chosen environment (start-up options). The child's stdout and stderr come back through
 * pipes; a child that outlives its time limit is killed and reported as such.
 */
#ifndef TM_CHILD_H
#define TM_CHILD_H

#include <stddef.h>

#define TM_CHILD_TIMEOUT_MS 20000 /* generous: a deadlock, not a slow machine, should hit it */

typedef struct tm_child {
    int started;                /* fork succeeded */
    int finished;               /* it ended by itself within the limit; else it was killed */
    int status;                 /* from waitpid */
    char out[8192], err[32768]; /* what it wrote, NUL-terminated (truncated if longer) */
    size_t out_len, err_len;
} tm_child;

/* Runs fn(arg) in a forked child with no core dump; the child flushes stdio and _exit(0)s if
 * fn returns. Waits up to timeout_ms. */
void tm_child_run(tm_child *child, void (*fn)(void *), void *arg, int timeout_ms);

/* Runs `this-binary --scenario name` with this environment minus every ASLAB_* variable,
 * plus `env` (NULL-terminated; NULL for none), under a soft RLIMIT_AS of as_limit unless it is
 * 0 (the hard limit stays as it is). */
void tm_child_scenario(tm_child *child, const char *name, const char *const *env, size_t as_limit,
                       int timeout_ms);

int tm_child_exited(const tm_child *child, int code);
int tm_child_killed_by(const tm_child *child, int sig);

/* Runs fn(arg) in a child as tm_child_run does; 1 if it exited with 0 and wrote nothing to
 * stderr, else 0 after printing how it ended (tm_child_dump, as `what`). */
int tm_child_run_clean(void (*fn)(void *), void *arg, const char *what);

/* Prints how the child ended and what it wrote, to make a failed assertion readable. */
void tm_child_dump(const tm_child *child, const char *what);

#endif /* TM_CHILD_H */
