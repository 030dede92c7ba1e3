/*
 * task_race.c - strict tasks racing their own completion, as a plain
 * executable so ThreadSanitizer can watch the result cell and the pool.
 *
 * Every body returns a malloc'd value.  Each round ends in exactly one of
 * two ways: the awaiter takes the value (and frees it), or nobody does and
 * the destructor frees it.  After each scenario the private pool is
 * destroyed (joining every body), and taken + destroyed must equal the
 * number of bodies that returned a value: nothing lost, nothing freed
 * twice (ASan and TSan watch the frees).
 *
 * Scenarios:
 *   await_timeout     await with 0-1 ms against a body finishing around then
 *   shutdown          shutdown with 0 ms against completion
 *   yield_then_await  yield 0 ms, then await forever
 *   ignore            ignore right after spawning
 *   non_owner         a second thread's await (-EPERM) races completion;
 *                     the owner then awaits and gets the value
 *   owner_exit        threads spawn tasks and exit without awaiting
 *   nested            1-worker pool, bodies spawn and await subtasks
 *   await_many_fail   await_many where one task fails; others destroyed
 *   links             trapping threads start linked tasks (some failing),
 *                     read some exit notices, and exit with tasks and
 *                     notices in flight
 *   callers           the nested trees on 2 workers while another thread
 *                     lists the pool: every chain it copies is whole
 *                     (1 to 5 callers, none 0) although cells and their
 *                     chains are freed and reused under it
 */
#include <baton.h>

#include "stress.h"

static atomic_long destroyed, taken, bodies;

static void
destroy_value(void *v)
{
	free(v);
	atomic_fetch_add_explicit(&destroyed, 1, memory_order_relaxed);
}

static void
take(void *v)
{
	free(v);
	atomic_fetch_add_explicit(&taken, 1, memory_order_relaxed);
}

/* Spins for arg iterations, then returns a fresh value. */
static void *
body(void *arg)
{
	uintptr_t spins = (uintptr_t)arg;
	int *v;

	for (volatile uintptr_t i = 0; i < spins; i++)
		;
	v = malloc(sizeof(*v));
	*v = 42;
	atomic_fetch_add_explicit(&bodies, 1, memory_order_relaxed);
	stress_progress_add(1);
	return v;
}

static void *
failing_body(void *arg)
{
	(void)arg;
	baton_exit(BATON_EXIT_ERROR, 7, "planned failure");
	return body(NULL); /* returned value goes to the destructor */
}

static baton_pool *pool;

static struct baton_task_opts
opts(void)
{
	return (struct baton_task_opts){ .pool = pool,
					 .destroy = destroy_value };
}

static void
expect(int r, int a, int b, const char *what)
{
	if (r != a && r != b)
		stress_fail("%s: unexpected %d", what, r);
}

static void
await_timeout(struct stress_rng *rng, long rounds)
{
	struct baton_task_opts o = opts();

	for (long i = 0; i < rounds; i++) {
		baton_task t;
		void *v;
		int r;

		r = baton_task_async_opts(&t, body,
					  (void *)stress_rng_below(rng, 2000),
					  &o);
		expect(r, 0, 0, "async");
		r = baton_task_await(&t, (int)stress_rng_below(rng, 2), &v,
				     NULL);
		expect(r, 0, -ETIMEDOUT, "await");
		if (r == 0)
			take(v);
	}
}

static void
shutdown_race(struct stress_rng *rng, long rounds)
{
	struct baton_task_opts o = opts();

	for (long i = 0; i < rounds; i++) {
		baton_task t;
		struct baton_exit_reason why;
		void *v;
		int r;

		baton_task_async_opts(&t, body,
				      (void *)stress_rng_below(rng, 2000), &o);
		r = baton_task_shutdown(&t, 0, &v, &why);
		/* A reply, nil, or Elixir's {:exit, :killed} at the timeout. */
		if (r == 0)
			take(v);
		else if (r == BATON_EXITED && why.kind != BATON_EXIT_KILLED)
			stress_fail("shutdown: reason %d", why.kind);
		else if (r != BATON_EXITED && r != BATON_NOREPLY)
			stress_fail("shutdown: %d", r);
	}
}

static void
yield_then_await(struct stress_rng *rng, long rounds)
{
	struct baton_task_opts o = opts();

	for (long i = 0; i < rounds; i++) {
		baton_task t;
		void *v;
		int r;

		baton_task_async_opts(&t, body,
				      (void *)stress_rng_below(rng, 2000), &o);
		r = baton_task_yield(&t, 0, &v, NULL);
		expect(r, 0, -ETIMEDOUT, "yield");
		if (r == -ETIMEDOUT)
			r = baton_task_await(&t, BATON_INFINITY, &v, NULL);
		expect(r, 0, 0, "await after yield");
		if (r == 0)
			take(v);
	}
}

static void
ignore_race(struct stress_rng *rng, long rounds)
{
	struct baton_task_opts o = opts();

	for (long i = 0; i < rounds; i++) {
		baton_task t;
		void *v;
		int r;

		baton_task_async_opts(&t, body,
				      (void *)stress_rng_below(rng, 2000), &o);
		/* A reply that arrived is handed back; else it runs on. */
		r = baton_task_ignore(&t, &v, NULL);
		expect(r, 0, BATON_NOREPLY, "ignore");
		if (r == 0)
			take(v);
	}
}

struct handoff {
	baton_task task;
	atomic_int ready, done;
	int seen;
};

static void *
intruder(void *arg)
{
	struct handoff *h = arg;
	void *v;

	while (!atomic_load_explicit(&h->ready, memory_order_acquire))
		;
	h->seen = baton_task_await(&h->task, BATON_INFINITY, &v, NULL);
	atomic_store_explicit(&h->done, 1, memory_order_release);
	return NULL;
}

static void
non_owner(struct stress_rng *rng, long rounds)
{
	struct baton_task_opts o = opts();

	for (long i = 0; i < rounds; i++) {
		struct handoff h = { 0 };
		pthread_t th;
		void *v;
		int r;

		pthread_create(&th, NULL, intruder, &h);
		baton_task_async_opts(&h.task, body,
				      (void *)stress_rng_below(rng, 2000), &o);
		atomic_store_explicit(&h.ready, 1, memory_order_release);
		pthread_join(th, NULL);
		if (h.seen != -EPERM)
			stress_fail("non-owner await gave %d", h.seen);
		r = baton_task_await(&h.task, BATON_INFINITY, &v, NULL);
		expect(r, 0, 0, "owner await after intruder");
		if (r == 0)
			take(v);
	}
}

static void *
leave_tasks_behind(void *arg)
{
	struct baton_task_opts o = opts();
	long n = (long)(intptr_t)arg;

	for (long i = 0; i < n; i++) {
		baton_task t;

		baton_task_async_opts(&t, body, (void *)(uintptr_t)(i % 500),
				      &o);
	}
	return NULL; /* exits owning them all */
}

static void
owner_exit(long rounds)
{
	pthread_t th[4];

	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, leave_tasks_behind,
			       (void *)(intptr_t)(rounds / 4));
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
}

static void *
nest(void *arg)
{
	uintptr_t depth = (uintptr_t)arg;
	struct baton_task_opts o = opts();
	baton_task t[2];
	void *v;

	if (depth == 0)
		return body(NULL);
	for (int i = 0; i < 2; i++)
		baton_task_async_opts(&t[i], nest, (void *)(depth - 1), &o);
	for (int i = 0; i < 2; i++) {
		if (baton_task_await(&t[i], BATON_DEFAULT_TIMEOUT, &v, NULL) ==
		    0)
			take(v);
		else
			stress_fail("nested await failed");
	}
	return body(NULL);
}

static void
nested(long rounds)
{
	for (long i = 0; i < rounds; i++) {
		baton_task t;
		void *v;
		struct baton_task_opts o = opts();

		baton_task_async_opts(&t, nest, (void *)3, &o);
		if (baton_task_await(&t, BATON_DEFAULT_TIMEOUT, &v, NULL) != 0)
			stress_fail("nested root failed");
		else
			take(v);
	}
}

static void
await_many_fail(struct stress_rng *rng, long rounds)
{
	struct baton_task_opts o = opts();

	for (long i = 0; i < rounds; i++) {
		baton_task t[8];
		void *vals[8];
		size_t bad = 99, which = stress_rng_below(rng, 8);
		struct baton_exit_reason why;
		int r;

		for (size_t k = 0; k < 8; k++)
			baton_task_async_opts(&t[k],
					      k == which ? failing_body : body,
					      (void *)stress_rng_below(rng,
								       2000),
					      &o);
		r = baton_task_await_many(t, 8, BATON_DEFAULT_TIMEOUT, vals,
					  &bad, &why);
		if (r != BATON_EXITED || bad != which || why.code != 7)
			stress_fail("await_many: r=%d bad=%zu want %zu", r,
				    bad, which);
	}
}

/* A thread that traps exits, starts linked tasks and leaves mid-flight. */
static void *
trap_and_leave(void *arg)
{
	struct baton_task_opts o = opts();
	long n = (long)(intptr_t)arg;
	struct baton_exit_notice note;
	long failed = 0, heard = 0;

	if (baton_trap_exits(true) != 0)
		stress_fail("trap_exits");
	for (long i = 0; i < n; i++) {
		baton_task t;
		bool fail = i % 3 == 0;
		void *v;

		failed += fail;
		if (i % 2) {
			baton_task_start_link(fail ? failing_body : body,
					      (void *)(uintptr_t)(i % 500), &o);
			continue;
		}
		baton_task_async_opts(&t, fail ? failing_body : body,
				      (void *)(uintptr_t)(i % 500), &o);
		/* Some are awaited (consumed), some left to the exit. */
		if (i % 4 == 0 && baton_task_await(&t, BATON_INFINITY, &v,
						   NULL) == 0)
			take(v);
		while (baton_exit_notice_next(0, &note) == 0)
			heard++;
	}
	if (heard > failed)
		stress_fail("links: %ld notices for %ld failures", heard,
			    failed);
	return NULL; /* exits with linked tasks and notices in flight */
}

static void
links(struct stress_rng *rng, long rounds)
{
	pthread_t th[4];

	(void)rng;
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, trap_and_leave,
			       (void *)(intptr_t)(rounds / 4));
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
}

static atomic_bool listing;

/* Lists the pool until told to stop, checking every chain it copies. */
static void *
lister(void *arg)
{
	struct baton_task_info infos[64];
	long seen = 0;

	(void)arg;
	while (atomic_load_explicit(&listing, memory_order_relaxed)) {
		ptrdiff_t n = baton_pool_list(pool, infos, 64);

		for (ptrdiff_t i = 0; i < n; i++) {
			const struct baton_task_info *in = &infos[i];

			/* A tree of depth 3 under one root: at most 5. */
			if (in->ncallers < 1 || in->ncallers > 5 ||
			    in->callers_truncated)
				stress_fail("callers: a chain of %u%s",
					    in->ncallers,
					    in->callers_truncated
						? ", truncated"
						: "");
			for (unsigned int k = 0; k < in->ncallers; k++)
				if (in->callers[k] == 0)
					stress_fail("callers: [%u] is 0", k);
			seen += in->ncallers > 1;
		}
	}
	return (void *)(intptr_t)seen;
}

static void
callers_race(struct stress_rng *rng, long rounds)
{
	pthread_t th;
	void *seen;

	(void)rng;
	atomic_store(&listing, true);
	pthread_create(&th, NULL, lister, NULL);
	nested(rounds);
	atomic_store(&listing, false);
	pthread_join(th, &seen);
	if ((intptr_t)seen == 0 && stress_scale() >= 100)
		printf("task_race callers: the lister saw no nested chain\n");
}

struct scenario {
	const char *name;
	long rounds;
	unsigned int workers;
	void (*run)(struct stress_rng *rng, long rounds);
};

static void
run_owner_exit(struct stress_rng *rng, long rounds)
{
	(void)rng;
	owner_exit(rounds);
}

static void
run_nested(struct stress_rng *rng, long rounds)
{
	(void)rng;
	nested(rounds);
}

int
main(void)
{
	static const struct scenario scenarios[] = {
		{ "await_timeout", 20000, 2, await_timeout },
		{ "shutdown", 20000, 2, shutdown_race },
		{ "yield_then_await", 20000, 2, yield_then_await },
		{ "ignore", 20000, 2, ignore_race },
		{ "non_owner", 2000, 2, non_owner },
		{ "owner_exit", 20000, 2, run_owner_exit },
		{ "nested", 2000, 1, run_nested },
		{ "await_many_fail", 5000, 2, await_many_fail },
		{ "links", 20000, 2, links },
		{ "callers", 2000, 2, callers_race },
	};
	uint64_t seed = stress_seed();

	stress_watchdog_start();
	for (size_t s = 0; s < sizeof(scenarios) / sizeof(scenarios[0]); s++) {
		const struct scenario *sc = &scenarios[s];
		long rounds = (long)stress_scaled((uint64_t)sc->rounds, 20);
		struct stress_rng rng;
		double t0 = stress_now();
		long d, k, b;

		stress_rng_init(&rng, seed, s);
		atomic_store(&destroyed, 0);
		atomic_store(&taken, 0);
		atomic_store(&bodies, 0);
		stress_watchdog_arm(sc->name, 120, 20, NULL);
		if (baton_pool_create(&pool, sc->workers) != 0) {
			stress_fail("pool create");
			break;
		}
		sc->run(&rng, rounds);
		baton_pool_destroy(pool); /* joins every body */
		d = atomic_load(&destroyed);
		k = atomic_load(&taken);
		b = atomic_load(&bodies);
		printf("task_race %-16s rounds=%ld bodies=%ld taken=%ld "
		       "destroyed=%ld %s %.2fs\n",
		       sc->name, rounds, b, k, d,
		       d + k == b ? "ok" : "MISMATCH", stress_now() - t0);
		if (d + k != b)
			stress_fail("%s: %ld taken + %ld destroyed != %ld "
				    "values", sc->name, k, d, b);
	}
	stress_watchdog_stop();
	return stress_failed() ? 1 : 0;
}
