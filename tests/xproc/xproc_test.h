/*
 * xproc_test.h - what the cross-process tests share: checks that exit the
 * process, fork helpers (the child adopts the segment and reports through
 * its exit status), and a child that waits for a byte on a pipe.
 *
 * The tests link libbaton statically with src/xproc/xproc.h in reach, so a
 * test can act as a process that dies inside a locked section.
 */
#ifndef BATON_TESTS_XPROC_TEST_H
#define BATON_TESTS_XPROC_TEST_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <baton.h>

#define CHECK(c)                                                          \
	do {                                                              \
		if (!(c)) {                                               \
			fprintf(stderr, "%s:%d: [%d] CHECK failed: %s\n",     \
				__FILE__, __LINE__, (int)getpid(), #c);   \
			fflush(stderr);                                   \
			_exit(3);                                         \
		}                                                         \
	} while (0)

#define CHECK_EQ(a, b)                                                    \
	do {                                                              \
		long long a_ = (long long)(a), b_ = (long long)(b);       \
		if (a_ != b_) {                                           \
			fprintf(stderr,                                   \
				"%s:%d: [%d] CHECK %s == %s failed: "     \
				"%lld != %lld\n",                         \
				__FILE__, __LINE__, (int)getpid(), #a,    \
				#b, a_, b_);                              \
			fflush(stderr);                                   \
			_exit(3);                                         \
		}                                                         \
	} while (0)

static inline double
xt_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* fork(), with the child killed if this process dies (no orphans left
 * pausing forever after a failed CHECK). */
static inline pid_t
xt_fork(void)
{
	pid_t parent = getpid(), pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0 && (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 ||
			 getppid() != parent))
		_exit(5);
	return pid;
}

/* Forks a child that adopts seg, runs fn(seg, arg) and exits with it. */
static inline pid_t
xt_spawn(baton_shm *seg, int (*fn)(baton_shm *, void *), void *arg)
{
	pid_t pid = xt_fork();

	if (pid == 0) {
		int r = baton_shm_adopt(seg);

		if (r != 0) {
			fprintf(stderr, "adopt: %d\n", r);
			_exit(4);
		}
		_exit(fn(seg, arg));
	}
	return pid;
}

/* Reaps pid; returns its exit status, or 128 + signal. */
static inline int
xt_reap(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		CHECK(errno == EINTR);
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

/* A one-byte handshake over a pipe. */
struct xt_pipe {
	int fd[2];
};

static inline void
xt_pipe_init(struct xt_pipe *p)
{
	CHECK(pipe(p->fd) == 0);
}

static inline void
xt_signal(struct xt_pipe *p)
{
	char c = 1;

	CHECK(write(p->fd[1], &c, 1) == 1);
}

static inline void
xt_await(struct xt_pipe *p)
{
	char c;
	ssize_t n;

	while ((n = read(p->fd[0], &c, 1)) < 0 && errno == EINTR)
		;
	CHECK(n == 1);
}

static inline void
xt_pipe_close(struct xt_pipe *p)
{
	close(p->fd[0]);
	close(p->fd[1]);
}

/* The whole segment is back to empty: every future freed, no items. */
static inline void
xt_balanced(baton_shm *seg, unsigned max_futures)
{
	struct baton_shm_stats st;

	CHECK(baton_shm_reap(seg) >= 0);
	CHECK_EQ(baton_shm_stats(seg, &st), 0);
	CHECK_EQ(st.futures_free, max_futures);
	CHECK_EQ(st.queued_items, 0);
	CHECK_EQ(st.procs_dead, 0);
}

#endif /* BATON_TESTS_XPROC_TEST_H */
