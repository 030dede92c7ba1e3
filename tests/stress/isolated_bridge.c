/*
 * isolated_bridge.c - isolated work under the thread layers through
 * baton_isolated_run: a baton_task_async_stream whose items run isolated
 * (every 10th crashes: only that element exits, with SIGSEGV, and the
 * others deliver), and a supervisor whose children run isolated (a crash
 * reaches on_failure as SIGSEGV; terminate_child kills a runaway worker).
 */
#include "isolated_common.h"

static int
body_triple(const void *a, size_t n, void *out, size_t *ol)
{
	uint64_t x;

	memcpy(&x, a, sizeof(x));
	if (x % 10 == 5)
		return body_segv(a, n, out, ol);
	x *= 3;
	memcpy(out, &x, sizeof(x));
	*ol = sizeof(x);
	return 0;
}

/* A strict task body that runs its work isolated. */
static void *
item(void *input)
{
	uint64_t x = (uint64_t)(uintptr_t)input;
	struct baton_isolated_value v;
	struct baton_exit_reason why;
	int r = baton_isolated_run(body_triple, &x, sizeof(x), NULL,
				   BATON_INFINITY, &v, &why);

	if (r != 0) {
		baton_exit(r == BATON_EXITED ? why.kind : BATON_EXIT_ERROR,
			   r == BATON_EXITED ? why.code : -r,
			   r == BATON_EXITED ? why.message : "isolated_run");
		return NULL;
	}
	memcpy(&x, v.data, sizeof(x));
	free(v.data);
	return (void *)(uintptr_t)x;
}

static void *
runaway(void *arg)
{
	struct baton_exit_reason why;
	int r = baton_isolated_run(body_spin, "", 0, NULL, BATON_INFINITY,
				   NULL, &why);

	(void)arg;
	if (r == BATON_EXITED)
		baton_exit(why.kind == BATON_EXIT_NORMAL ? BATON_EXIT_ERROR
							 : why.kind,
			   why.code, why.message);
	return NULL;
}

static atomic_int failures_seen, segv_seen;

/* A pool of our own, destroyed at the end (the default one lives on,
 * which ThreadSanitizer reports as a thread leak). */
static baton_pool *pool;

static void
on_failure(const struct baton_task_info *child,
	   const struct baton_exit_reason *reason, void *ctx)
{
	(void)child, (void)ctx;
	atomic_fetch_add(&failures_seen, 1);
	if (reason->code == SIGSEGV)
		atomic_fetch_add(&segv_seen, 1);
}

static void
stream(void)
{
	enum { N = 40 };
	void *inputs[N];
	struct baton_stream_opts o = BATON_STREAM_OPTS_INIT;
	struct baton_stream_item it;
	baton_stream *s;
	int ok = 0, crashed = 0, r;

	for (uintptr_t i = 0; i < N; i++)
		inputs[i] = (void *)i;
	o.pool = pool;
	o.max_concurrency = 2;
	o.on_timeout = BATON_STREAM_KILL_TASK;
	r = baton_task_async_stream(&s, inputs, N, item, &o);
	CHECK(r == 0, "async_stream: %d", r);
	while ((r = baton_stream_next(s, &it)) == 0) {
		if (it.status == 0 &&
		    (uintptr_t)it.value == 3 * (uintptr_t)it.input)
			ok++;
		else if (it.status == BATON_EXITED &&
			 it.reason.code == SIGSEGV &&
			 (uintptr_t)it.input % 10 == 5)
			crashed++;
		else
			stress_fail("stream item %zu: %d", it.index,
				    it.status);
	}
	CHECK(r == -EPIPE && ok == N - N / 10 && crashed == N / 10,
	      "stream: end %d, %d ok, %d crashed", r, ok, crashed);
	baton_stream_destroy(s);
	printf("isolated stream: %d values, %d crashed elements\n", ok,
	       crashed);
}

static void
supervised(void)
{
	struct baton_supervisor_opts so = BATON_SUPERVISOR_OPTS_INIT;
	struct baton_exit_reason why;
	baton_supervisor *sup;
	baton_task t;
	void *v;
	int r, fd;

	so.pool = pool;
	so.on_failure = on_failure;
	r = baton_supervisor_create(&sup, &so);
	CHECK(r == 0, "supervisor_create: %d", r);
	r = baton_supervisor_start_child(sup, item, (void *)(uintptr_t)5,
					 NULL);
	CHECK(r == 0, "start_child: %d", r);
	r = baton_supervisor_async_nolink(sup, &t, runaway, NULL, NULL);
	CHECK(r == 0, "async_nolink: %d", r);
	fd = pidfd_open(wait_started(), 0);
	r = baton_supervisor_terminate_child(sup, &t);
	CHECK(r == 0, "terminate_child: %d", r);
	r = baton_task_await(&t, 5000, &v, &why);
	CHECK(r == BATON_EXITED && why.kind == BATON_EXIT_SHUTDOWN,
	      "terminated child: %d kind %d", r, why.kind);
	CHECK(fd >= 0 && dies_within(fd, 5000),
	      "terminate_child left the worker running");
	if (fd >= 0)
		close(fd);
	r = baton_supervisor_shutdown(sup, 5000);
	CHECK(r == 0, "supervisor_shutdown: %d", r);
	CHECK(atomic_load(&segv_seen) == 1 && atomic_load(&failures_seen) == 2,
	      "on_failure: %d SIGSEGV of %d", atomic_load(&segv_seen),
	      atomic_load(&failures_seen));
	baton_supervisor_destroy(sup);
	printf("supervisor: crash reported as SIGSEGV, terminate_child "
	       "killed the worker\n");
}

int
main(void)
{
	int r;

	iso_init("isolated_bridge", 2, 0, 60);
	r = baton_pool_create(&pool, 2);
	CHECK(r == 0, "pool_create: %d", r);
	stream();
	supervised();
	baton_pool_destroy(pool);
	return iso_finish("isolated_bridge");
}
