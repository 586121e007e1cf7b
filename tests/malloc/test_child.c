/* test_child.c - forked and re-executed children, with captured output and a time limit. */
#define _GNU_SOURCE
#include "test_child.h"

#include "test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Appends what fd has to buf (truncating at cap, reading on); returns 0 at end of file. */
static int drain(int fd, char *buf, size_t *len, size_t cap) {
    char chunk[4096];
    ssize_t got = read(fd, chunk, sizeof chunk);
    if (got < 0) return errno == EINTR || errno == EAGAIN;
    if (got == 0) return 0;
    size_t room = cap - 1 - *len, keep = (size_t)got < room ? (size_t)got : room;
    memcpy(buf + *len, chunk, keep);
    *len += keep;
    buf[*len] = '\0';
    return 1;
}

/* Reads both pipes until the child has closed them or the deadline passes. */
static void collect_output(tm_child *c, int out, int err, uint64_t deadline) {
    struct pollfd fds[2] = {{out, POLLIN, 0}, {err, POLLIN, 0}};
    while (fds[0].fd >= 0 || fds[1].fd >= 0) {
        uint64_t now = tm_now_ms();
        if (now >= deadline) return;
        int ready = poll(fds, 2, (int)(deadline - now));
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) return;
        if (fds[0].revents && !drain(out, c->out, &c->out_len, sizeof c->out)) fds[0].fd = -1;
        if (fds[1].revents && !drain(err, c->err, &c->err_len, sizeof c->err)) fds[1].fd = -1;
    }
}

/* Reaps the child, killing it if it is still running at the deadline. */
static void wait_child(tm_child *c, pid_t pid, uint64_t deadline) {
    for (;;) {
        pid_t done = waitpid(pid, &c->status, WNOHANG);
        if (done == pid) {
            c->finished = 1;
            return;
        }
        if (done < 0 && errno != EINTR) return;
        if (tm_now_ms() >= deadline) break;
        usleep(1000);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, &c->status, 0) < 0 && errno == EINTR) {
    }
}

static int open_pipes(int out[2], int err[2]) {
    if (pipe2(out, O_CLOEXEC) != 0) return -1;
    if (pipe2(err, O_CLOEXEC) == 0) return 0;
    close(out[0]), close(out[1]);
    return -1;
}

/* In the child: no core file for the aborts we provoke, output into the pipes. */
static void child_enter(const int out[2], const int err[2]) {
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
}

void tm_child_run(tm_child *c, void (*fn)(void *), void *arg, int timeout_ms) {
    int out[2], err[2];
    memset(c, 0, sizeof *c);
    if (open_pipes(out, err) != 0) return;
    fflush(NULL); /* nothing buffered may be written twice */
    pid_t pid = fork();
    if (pid == 0) {
        child_enter(out, err);
        fn(arg);
        fflush(NULL);
        _exit(0);
    }
    close(out[1]), close(err[1]);
    if (pid > 0) {
        uint64_t deadline = tm_now_ms() + (uint64_t)timeout_ms;
        c->started = 1;
        collect_output(c, out[0], err[0], deadline);
        wait_child(c, pid, deadline);
    }
    close(out[0]), close(err[0]);
}

typedef struct exec_args {
    const char *name;
    char **envp;
    size_t as_limit;
} exec_args;

static void exec_self(void *arg) {
    const exec_args *a = arg;
    struct rlimit limit;
    if (a->as_limit != 0 && getrlimit(RLIMIT_AS, &limit) == 0) {
        limit.rlim_cur = a->as_limit; /* the hard limit stays: the scenario may raise it back */
        setrlimit(RLIMIT_AS, &limit);
    }
    char *argv[] = {"test_malloc", "--scenario", (char *)a->name, NULL};
    execve("/proc/self/exe", argv, a->envp);
    _exit(127);
}

/* Our environment without ASLAB_* variables, then `extra`; built before the fork. */
static char **scenario_env(const char *const *extra) {
    size_t n = 0, k = 0;
    for (char **e = environ; *e != NULL; e++)
        n++;
    for (const char *const *x = extra; x != NULL && *x != NULL; x++)
        n++;
    char **envp = calloc(n + 1, sizeof *envp);
    if (envp == NULL) return NULL;
    for (char **e = environ; *e != NULL; e++)
        if (strncmp(*e, "ASLAB_", 6) != 0) envp[k++] = *e;
    for (const char *const *x = extra; x != NULL && *x != NULL; x++)
        envp[k++] = (char *)*x;
    return envp;
}

void tm_child_scenario(tm_child *c, const char *name, const char *const *env, size_t as_limit,
                       int timeout_ms) {
    exec_args args = {name, scenario_env(env), as_limit};
    if (args.envp == NULL) {
        memset(c, 0, sizeof *c);
        return;
    }
    tm_child_run(c, exec_self, &args, timeout_ms);
    free(args.envp);
}

int tm_child_exited(const tm_child *c, int code) {
    return c->finished && WIFEXITED(c->status) && WEXITSTATUS(c->status) == code;
}

int tm_child_killed_by(const tm_child *c, int sig) {
    return c->finished && WIFSIGNALED(c->status) && WTERMSIG(c->status) == sig;
}

void tm_child_dump(const tm_child *c, const char *what) {
    if (!c->started)
        fprintf(stderr, "\n%s: the child could not be started\n", what);
    else if (!c->finished)
        fprintf(stderr, "\n%s: the child was killed after its time limit\n", what);
    else if (WIFSIGNALED(c->status))
        fprintf(stderr, "\n%s: the child died of signal %d\n", what, WTERMSIG(c->status));
    else
        fprintf(stderr, "\n%s: the child exited with %d\n", what, WEXITSTATUS(c->status));
    fprintf(stderr, "  stdout: [%s]\n  stderr: [%s]\n", c->out, c->err);
}

int tm_child_run_clean(void (*fn)(void *), void *arg, const char *what) {
    tm_child c;
    tm_child_run(&c, fn, arg, TM_CHILD_TIMEOUT_MS);
    int ok = tm_child_exited(&c, 0) && c.err_len == 0;
    if (!ok) tm_child_dump(&c, what);
    return ok;
}
