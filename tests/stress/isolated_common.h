/*
 * isolated_common.h - what the isolated_* stress programs share: pipes
 * created before baton_isolated_init() (so every worker inherits them)
 * for handshakes between the test and its bodies, a few bodies, and
 * checks.
 *
 * started: a body writes its pid there when it is running (the test
 *          reads it: a handshake, not a sleep).
 * release: a body blocks reading one byte from it (the test writes).
 */
#ifndef BATON_TESTS_ISOLATED_COMMON_H
#define BATON_TESTS_ISOLATED_COMMON_H

#include <baton.h>
#include <poll.h>
#include <signal.h>
#include <sys/pidfd.h>
#include <sys/types.h>

#include "stress.h"

static int started_pipe[2] = { -1, -1 }, release_pipe[2] = { -1, -1 };

#define CHECK(cond, ...)                                                     \
	do {                                                                 \
		if (!(cond))                                                 \
			stress_fail(__VA_ARGS__);                            \
	} while (0)

static inline void
iso_pipes(void)
{
	if (pipe(started_pipe) != 0 || pipe(release_pipe) != 0) {
		perror("pipe");
		exit(2);
	}
}

static unsigned iso_workers;

/*
 * Starts the runtime first thing in main, with the pipes made before,
 * then the watchdog for the whole program (limit_s).
 */
static inline void
iso_init(const char *name, unsigned workers, size_t recycle_after,
	 double limit_s)
{
	struct baton_isolated_config cfg = { workers, recycle_after };

	if (recycle_after == 0)
		cfg.recycle_after = BATON_NO_LIMIT; /* the tests' "never" */
	int r;

	iso_pipes();
	r = baton_isolated_init(&cfg);
	if (r != 0) {
		fprintf(stderr, "baton_isolated_init: %d\n", r);
		exit(2);
	}
	iso_workers = workers;
	stress_watchdog_start();
	stress_watchdog_arm(name, limit_s, 30, NULL);
}

/* In a body: tell the test we run. */
static inline void
body_started(void)
{
	int pid = getpid();

	(void)!write(started_pipe[1], &pid, sizeof(pid));
}

/* In the test: the pid of the next body that started (5 s bound). */
static inline int
wait_started(void)
{
	struct pollfd pf = { .fd = started_pipe[0], .events = POLLIN };
	int pid = 0;

	if (poll(&pf, 1, 5000) != 1 ||
	    read(started_pipe[0], &pid, sizeof(pid)) != sizeof(pid)) {
		stress_fail("no body started within 5 s");
		return 0;
	}
	return pid;
}

static inline void
release(int n)
{
	for (int i = 0; i < n; i++)
		(void)!write(release_pipe[1], "r", 1);
}

/* Whether pid (opened as pidfd before) is dead within ms. */
static inline bool
dies_within(int pidfd, int ms)
{
	struct pollfd pf = { .fd = pidfd, .events = POLLIN };

	return poll(&pf, 1, ms) == 1;
}

/* Polls the runtime's stats until pred holds (bounded: 5 s). */
static inline bool
stats_until(bool (*pred)(const struct baton_isolated_stats *, void *),
	    void *ctx, struct baton_isolated_stats *st)
{
	double until = stress_now() + 5.0;

	do {
		baton_isolated_stats(st);
		if (pred(st, ctx))
			return true;
		stress_sleep_us(1000);
	} while (stress_now() < until);
	return false;
}

static inline bool
all_live(const struct baton_isolated_stats *st, void *ctx)
{
	return st->live_workers == *(unsigned *)ctx &&
	       st->tasks == st->resolved;
}

/* Bodies ----------------------------------------------------------- */

#define BATON_ISO_UNUSED __attribute__((unused))

/* Never set: keeps the compiler from calling the spin loops endless. */
static volatile int never_set;

BATON_ISO_UNUSED static int
body_echo(const void *a, size_t n, void *out, size_t *ol)
{
	memcpy(out, a, n);
	*ol = n;
	return 0;
}

BATON_ISO_UNUSED static int
body_pid(const void *a, size_t n, void *out, size_t *ol)
{
	int pid = getpid();

	(void)a;
	(void)n;
	memcpy(out, &pid, sizeof(pid));
	*ol = sizeof(pid);
	return 0;
}

/* Waits for a release byte, then echoes. */
BATON_ISO_UNUSED static int
body_gated(const void *a, size_t n, void *out, size_t *ol)
{
	char c;

	body_started();
	(void)!read(release_pipe[0], &c, 1);
	return body_echo(a, n, out, ol);
}

BATON_ISO_UNUSED static int
body_segv(const void *a, size_t n, void *out, size_t *ol)
{
	/* Not NULL itself: UBSan would stop a NULL load before it faults. */
	volatile uintptr_t bad = 16;

	(void)a, (void)n, (void)out, (void)ol;
	return *(volatile int *)bad;
}

BATON_ISO_UNUSED static int
body_abort(const void *a, size_t n, void *out, size_t *ol)
{
	(void)a, (void)n, (void)out, (void)ol;
	abort();
}

BATON_ISO_UNUSED static int
body_exit7(const void *a, size_t n, void *out, size_t *ol)
{
	(void)a, (void)n, (void)out, (void)ol;
	_exit(7);
}

BATON_ISO_UNUSED static int
body_error(const void *a, size_t n, void *out, size_t *ol)
{
	(void)a, (void)n, (void)out, (void)ol;
	return 42;
}

/* Runs until killed. */
BATON_ISO_UNUSED static int
body_spin(const void *a, size_t n, void *out, size_t *ol)
{
	(void)a, (void)n, (void)out, (void)ol;
	body_started();
	while (!never_set)
		;
	return 0;
}

/* Blocks in read() on a pipe nobody writes. */
BATON_ISO_UNUSED static int
body_block(const void *a, size_t n, void *out, size_t *ol)
{
	int p[2];
	char c;

	(void)a, (void)n, (void)out, (void)ol;
	if (pipe(p) != 0)
		return errno;
	body_started();
	(void)!read(p[0], &c, 1);
	return 0;
}

/* Waits until every worker is back and every task resolved; *st then. */
static inline void
iso_settle(struct baton_isolated_stats *st)
{
	CHECK(stats_until(all_live, &iso_workers, st),
	      "not settled: %u live workers of %u, %lu tasks, %lu resolved",
	      st->live_workers, iso_workers, (unsigned long)st->tasks,
	      (unsigned long)st->resolved);
}

/* Settles, stops the runtime and the watchdog; main's exit status. */
static inline int
iso_finish(const char *name)
{
	struct baton_isolated_stats st;

	iso_settle(&st);
	stress_watchdog_disarm();
	baton_isolated_fini();
	stress_watchdog_stop();
	printf("%s: spawned=%lu died=%lu killed=%lu recycled=%lu tasks=%lu "
	       "resolved=%lu failures=%d\n",
	       name, (unsigned long)st.spawned, (unsigned long)st.died,
	       (unsigned long)st.killed, (unsigned long)st.recycled,
	       (unsigned long)st.tasks, (unsigned long)st.resolved,
	       stress_failed());
	return stress_failed() ? 1 : 0;
}

#endif /* BATON_TESTS_ISOLATED_COMMON_H */
