/*
 * isolated_kill.c - a kill is a kill.  A body in an endless loop or
 * blocked in read() is really stopped (its worker process dies, seen
 * through a pidfd opened by the test) at an await timeout, at a shutdown
 * that runs out of time, at a brutal shutdown and when its owner thread
 * exits; a cooperative body answers a shutdown with its value; yield
 * leaves the body running; ignore frees the worker when the body ends;
 * await_many and yield_many (KILL) stop the rest.  After each, a fresh
 * worker takes the place of the killed one.
 */
#include <pthread.h>

#include "isolated_common.h"

#define WORKERS 2

/* Starts fn, waits until it runs, returns a pidfd for its worker. */
static int
start_running(baton_isolated *t, baton_isolated_fn fn, const char *name)
{
	int r = baton_isolated_async(t, fn, "", 0), pid, fd;

	CHECK(r == 0, "%s: async %d", name, r);
	pid = wait_started();
	fd = pidfd_open(pid, 0);
	CHECK(fd >= 0, "%s: pidfd_open(%d)", name, pid);
	return fd;
}

static void
killed(const char *name, int pidfd)
{
	CHECK(dies_within(pidfd, 5000), "%s: the worker is still alive",
	      name);
	close(pidfd);
	printf("%s: worker killed\n", name);
}

static int
body_polite(const void *a, size_t n, void *out, size_t *ol)
{
	(void)a, (void)n;
	body_started();
	while (!baton_isolated_should_stop())
		;
	memcpy(out, "stopped", 8);
	*ol = 8;
	return 0;
}

/* Spins without a word on the started pipe: it may never start at all
 * (await_many), and a stale pid there would mislead the next scenario. */
static int
body_quiet_spin(const void *a, size_t n, void *out, size_t *ol)
{
	(void)a, (void)n, (void)out, (void)ol;
	while (!never_set)
		;
	return 0;
}

/* Says it runs, then echoes at once. */
static int
body_announced_echo(const void *a, size_t n, void *out, size_t *ol)
{
	body_started();
	return body_echo(a, n, out, ol);
}

static void *
owner_thread(void *arg)
{
	baton_isolated t;

	*(int *)arg = start_running(&t, body_spin, "owner exit");
	return NULL; /* exits owning t: its key destructor kills it */
}

static void
scenarios(void)
{
	struct baton_isolated_value v;
	struct baton_exit_reason why;
	baton_isolated t, many[3];
	struct baton_isolated_result res[3];
	struct baton_yield_many_opts yo = { 500, BATON_NO_LIMIT,
					    BATON_ON_TIMEOUT_KILL };
	struct baton_isolated_stats st;
	double t0;
	pthread_t th;
	int fd, fds[2], r;
	size_t failed = 99;

	fd = start_running(&t, body_spin, "await timeout");
	t0 = stress_now();
	r = baton_isolated_await(&t, 100, &v, &why);
	CHECK(r == -ETIMEDOUT && stress_now() - t0 >= 0.099,
	      "await timeout: %d", r);
	CHECK(baton_isolated_await(&t, 0, NULL, NULL) == -ESTALE,
	      "await timeout consumes");
	killed("await timeout (endless loop)", fd);

	fd = start_running(&t, body_spin, "shutdown");
	r = baton_isolated_shutdown(&t, 100, &v, &why);
	CHECK(r == BATON_EXITED && why.kind == BATON_EXIT_KILLED,
	      "shutdown: %d kind %d", r, why.kind);
	killed("shutdown after its timeout (endless loop)", fd);

	fd = start_running(&t, body_block, "brutal");
	r = baton_isolated_shutdown_brutal(&t, &v, &why);
	CHECK(r == BATON_NOREPLY, "brutal: %d", r);
	killed("brutal shutdown (blocked in read)", fd);

	fd = start_running(&t, body_polite, "polite");
	r = baton_isolated_shutdown(&t, 5000, &v, &why);
	CHECK(r == BATON_NOREPLY, "cooperative shutdown: %d", r);
	CHECK(!dies_within(fd, 0), "cooperative shutdown killed the worker");
	close(fd);
	printf("cooperative shutdown: the body stopped, its worker lives\n");

	stress_thread_create(&th, owner_thread, &fd);
	pthread_join(th, NULL);
	killed("owner thread exit", fd);

	r = baton_isolated_async(&t, body_gated, "g", 2);
	wait_started();
	CHECK(baton_isolated_yield(&t, 50, &v, NULL) == -ETIMEDOUT,
	      "yield times out");
	release(1);
	r = baton_isolated_yield(&t, 5000, &v, NULL);
	CHECK(r == 0 && strcmp(v.data, "g") == 0, "yield again: %d", r);
	if (r == 0)
		free(v.data);
	printf("yield: timed out, body ran on, then its value\n");

	r = baton_isolated_async(&t, body_gated, "i", 2);
	wait_started();
	CHECK(baton_isolated_ignore(&t, NULL, NULL) == BATON_NOREPLY,
	      "ignore");
	release(1);
	printf("ignore: body released\n");

	/* await_many: the crash at index 1 wins; index 2 is killed. */
	baton_isolated_async(&many[0], body_echo, "a", 2);
	baton_isolated_async(&many[1], body_segv, "", 0);
	fds[0] = -1;
	r = baton_isolated_async(&many[2], body_quiet_spin, "", 0);
	r = baton_isolated_await_many(many, 3, 5000, NULL, &failed, &why);
	CHECK(r == BATON_EXITED && failed == 1 && why.code == SIGSEGV,
	      "await_many: %d failed %zu", r, failed);
	CHECK(baton_isolated_await(&many[2], 0, NULL, NULL) == -ESTALE,
	      "await_many consumed the rest");
	printf("await_many: first crash wins, the rest consumed\n");

	/* Every worker up first, and the healthy body seen running before
	 * the clock starts: a slow worker start (ASan, TSan, a loaded VM)
	 * must not leave it unfinished at the timeout. */
	iso_settle(&st);
	baton_isolated_async(&many[0], body_announced_echo, "y", 2);
	wait_started();
	fds[0] = start_running(&many[1], body_spin, "yield_many");
	r = baton_isolated_yield_many(many, 2, &yo, res);
	CHECK(r == 1 && res[0].status == 0 &&
		  res[1].status == BATON_EXITED &&
		  res[1].reason.kind == BATON_EXIT_KILLED,
	      "yield_many: %d (%d, %d: %s)", r, res[0].status, res[1].status,
	      res[0].status == BATON_EXITED ? res[0].reason.message : "-");
	if (res[0].status == 0)
		free(res[0].value.data);
	killed("yield_many on_timeout KILL", fds[0]);
	(void)fds;
}

int
main(void)
{
	struct baton_isolated_stats st;

	iso_init("isolated_kill", WORKERS, 0, 60);
	scenarios();
	iso_settle(&st);
	CHECK(st.killed >= 5, "killed %lu", (unsigned long)st.killed);
	return iso_finish("isolated_kill");
}
