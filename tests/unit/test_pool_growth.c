/*
 * test_pool_growth.c - Criterion unit tests for the executor's growth
 * while bodies block, and for a pool's lifecycle (destroy, exit, fork):
 * the "Blocking bodies" part of include/baton/pool.h's Overview and
 * baton_pool_destroy's contract.  What exit and fork() do is tested by
 * plain programs (a whole process has to exit or fork):
 * tests/stress/exit_while_blocked.c and tests/stress/fork_child.c.
 *
 * Every test synchronises by handshakes (flags, gates, promises the test
 * completes) and asserts on counts the pool reports (baton_pool_stats);
 * none measures time.  A test that waits for the pool to do something
 * (grow, retire) waits for a count, bounded by the Criterion timeout.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <baton.h>

#include "unit.h"

#define LONG_MS 10000

TestSuite(pool_growth, .fini = check_leaks);

/* An elastic pool: `base` threads, growing to `max`. */
static baton_pool *
elastic_pool(unsigned int base, unsigned int max, int keep_alive_ms)
{
	struct baton_pool_opts o = BATON_POOL_OPTS_INIT;
	baton_pool *pool;
	int rc;

	o.workers = base;
	o.max_threads = max;
	o.keep_alive_ms = keep_alive_ms;
	rc = baton_pool_create_opts(&pool, &o);
	cr_assert_eq(rc, 0, "baton_pool_create_opts returned %d", rc);
	return pool;
}

static struct baton_pool_stats
stats_of(baton_pool *pool)
{
	struct baton_pool_stats st;

	cr_assert_eq(baton_pool_stats(pool, &st), 0);
	return st;
}

static baton_task
spawn_on(baton_pool *pool, baton_task_fn fn, void *arg)
{
	struct baton_task_opts o = { .pool = pool };
	baton_task t;
	int rc = baton_task_async_opts(&t, fn, arg, &o);

	cr_assert_eq(rc, 0, "baton_task_async_opts returned %d", rc);
	return t;
}

static atomic_int started, ran;

/* Blocks inside baton: waits for the future it is given. */
static void *
wait_future_body(void *arg)
{
	atomic_fetch_add(&started, 1);
	cr_assert_eq(baton_future_wait(arg, LONG_MS), 0);
	return NULL;
}

static void *
count_body(void *arg)
{
	(void)arg;
	atomic_fetch_add(&ran, 1);
	return NULL;
}

static void *
return_arg(void *arg)
{
	return arg;
}

/* Blocks outside baton: reads one byte from a pipe. */
static void *
read_pipe_body(void *arg)
{
	char c;

	atomic_fetch_add(&started, 1);
	cr_assert_eq(read(*(int *)arg, &c, 1), 1);
	return NULL;
}

Test(pool_growth, a_body_blocked_in_baton_hands_queued_work_on_at_once,
     .timeout = 30)
{
	struct baton_pool_opts o = BATON_POOL_OPTS_INIT;
	baton_pool *pool;
	baton_promise *pr;
	baton_future *f;
	baton_task t0, t1;
	struct baton_pool_stats st;

	/* No monitor detection: only the blocking hook can add a thread. */
	o.workers = 1;
	o.max_threads = 8;
	o.detect_ms = BATON_INFINITY;
	cr_assert_eq(baton_pool_create_opts(&pool, &o), 0);
	cr_assert_eq(baton_promise_create(&pr, &f), 0);
	t0 = spawn_on(pool, wait_future_body, f);
	wait_for(&started, 1);
	t1 = spawn_on(pool, count_body, NULL);
	/* The only base thread is blocked: another one must run t1. */
	wait_for(&ran, 1);
	st = stats_of(pool);
	cr_assert_eq(st.blocked, 1, "blocked %u", st.blocked);
	cr_assert_eq(st.threads, 2, "threads %u", st.threads);
	cr_assert_eq(st.detected, 0, "detected %lu", (unsigned long)st.detected);
	cr_assert_eq(baton_promise_fulfil(pr, NULL, NULL), 0);
	cr_assert_eq(baton_task_await(&t0, LONG_MS, NULL, NULL), 0);
	cr_assert_eq(baton_task_await(&t1, LONG_MS, NULL, NULL), 0);
	/* Counted back as t0's body ends, just after its result shows. */
	while (stats_of(pool).blocked != 0)
		sched_yield();
	baton_future_unref(f);
	cr_assert_eq(baton_pool_destroy(pool), 0);
}

Test(pool_growth, a_body_blocked_in_read_is_detected_and_work_goes_on,
     .timeout = 30)
{
	baton_pool *pool = elastic_pool(1, 8, LONG_MS);
	int fds[2];
	baton_task t0, t1;
	struct baton_pool_stats st;

	cr_assert_eq(pipe(fds), 0);
	t0 = spawn_on(pool, read_pipe_body, &fds[0]);
	wait_for(&started, 1);
	t1 = spawn_on(pool, count_body, NULL);
	wait_for(&ran, 1);
	st = stats_of(pool);
	cr_assert_geq(st.detected, 1, "detected %lu",
		      (unsigned long)st.detected);
	cr_assert_geq(st.peak_threads, 2);
	cr_assert_eq(write(fds[1], "x", 1), 1);
	cr_assert_eq(baton_task_await(&t0, LONG_MS, NULL, NULL), 0);
	cr_assert_eq(baton_task_await(&t1, LONG_MS, NULL, NULL), 0);
	close(fds[0]);
	close(fds[1]);
	cr_assert_eq(baton_pool_destroy(pool), 0);
}

Test(pool_growth, a_fixed_pool_never_grows, .timeout = 30)
{
	baton_pool *pool;
	baton_promise *pr;
	baton_future *f;
	baton_task t0, t1;

	cr_assert_eq(baton_pool_create(&pool, 1), 0);
	cr_assert_eq(baton_promise_create(&pr, &f), 0);
	t0 = spawn_on(pool, wait_future_body, f);
	wait_for(&started, 1);
	t1 = spawn_on(pool, count_body, NULL);
	/* t1 stays queued behind the blocked worker. */
	cr_assert_eq(baton_task_yield(&t1, BLOCK_CHECK_MS, NULL, NULL),
		     -ETIMEDOUT);
	cr_assert_eq(atomic_load(&ran), 0);
	cr_assert_eq(stats_of(pool).threads, 1);
	cr_assert_eq(baton_promise_fulfil(pr, NULL, NULL), 0);
	cr_assert_eq(baton_task_await(&t0, LONG_MS, NULL, NULL), 0);
	cr_assert_eq(baton_task_await(&t1, LONG_MS, NULL, NULL), 0);
	cr_assert_eq(stats_of(pool).peak_threads, 1);
	baton_future_unref(f);
	cr_assert_eq(baton_pool_destroy(pool), 0);
}

#define BLOCKERS 6

Test(pool_growth, extra_threads_retire_after_the_keep_alive, .timeout = 30)
{
	baton_pool *pool = elastic_pool(1, 16, 50);
	baton_promise *pr;
	baton_future *f;
	baton_task t[BLOCKERS];
	struct baton_pool_stats st;

	cr_assert_eq(baton_promise_create(&pr, &f), 0);
	for (int i = 0; i < BLOCKERS; i++)
		t[i] = spawn_on(pool, wait_future_body, f);
	/* Every one blocks at once: each needs a thread of its own. */
	wait_for(&started, BLOCKERS);
	cr_assert_geq(stats_of(pool).threads, BLOCKERS);
	cr_assert_eq(baton_promise_fulfil(pr, NULL, NULL), 0);
	for (int i = 0; i < BLOCKERS; i++)
		cr_assert_eq(baton_task_await(&t[i], LONG_MS, NULL, NULL), 0);
	/* Back to the base once the extras have idled 50 ms. */
	do {
		st = stats_of(pool);
		sched_yield();
	} while (st.threads > 1);
	cr_assert_eq(st.threads, 1);
	cr_assert_geq(st.retired, BLOCKERS - 1);
	cr_assert_geq(st.peak_threads, BLOCKERS);
	baton_future_unref(f);
	cr_assert_eq(baton_pool_destroy(pool), 0);
}

#define FLOOD 128

/*
 * Bodies blocked outside baton, far more than the threads: the pool
 * grows until every one runs, and never past the work it has (threads
 * being created count as taking work already).
 */
Test(pool_growth, a_flood_of_blocked_bodies_grows_to_the_work_and_no_further,
     .timeout = 30)
{
	baton_pool *pool = elastic_pool(1, 4 * FLOOD, 10000);
	baton_task t[FLOOD];
	char bytes[FLOOD] = { 0 };
	int fds[2];

	cr_assert_eq(pipe(fds), 0);
	atomic_store(&started, 0);
	for (int i = 0; i < FLOOD; i++)
		t[i] = spawn_on(pool, read_pipe_body, &fds[0]);
	wait_for(&started, FLOOD);
	cr_assert_leq(stats_of(pool).peak_threads, FLOOD + 1, "peak %u",
		      stats_of(pool).peak_threads);
	cr_assert_eq(write(fds[1], bytes, FLOOD), FLOOD);
	for (int i = 0; i < FLOOD; i++)
		cr_assert_eq(baton_task_await(&t[i], LONG_MS, NULL, NULL), 0);
	cr_assert_leq(stats_of(pool).peak_threads, FLOOD + 1);
	close(fds[0]);
	close(fds[1]);
	cr_assert_eq(baton_pool_destroy(pool), 0);
}

Test(pool_growth, past_the_ceiling_work_queues, .timeout = 30)
{
	baton_pool *pool = elastic_pool(1, 3, LONG_MS);
	baton_promise *pr;
	baton_future *f;
	baton_task t[BLOCKERS];

	cr_assert_eq(baton_promise_create(&pr, &f), 0);
	for (int i = 0; i < BLOCKERS; i++)
		t[i] = spawn_on(pool, wait_future_body, f);
	wait_for(&started, 3);
	/* Three threads, three blocked bodies; the other three wait. */
	cr_assert_eq(baton_task_yield(&t[BLOCKERS - 1], BLOCK_CHECK_MS, NULL,
				      NULL),
		     -ETIMEDOUT);
	cr_assert_eq(atomic_load(&started), 3);
	cr_assert_eq(stats_of(pool).threads, 3);
	cr_assert_eq(baton_promise_fulfil(pr, NULL, NULL), 0);
	for (int i = 0; i < BLOCKERS; i++)
		cr_assert_eq(baton_task_await(&t[i], LONG_MS, NULL, NULL), 0);
	cr_assert_eq(atomic_load(&started), BLOCKERS);
	cr_assert_leq(stats_of(pool).peak_threads, 3);
	baton_future_unref(f);
	cr_assert_eq(baton_pool_destroy(pool), 0);
}

/* A body that awaits three subtasks together, on its own pool. */
static void *
nested_many_body(void *arg)
{
	baton_pool *pool = arg;
	baton_task sub[3];
	void *v[3];

	for (int i = 0; i < 3; i++)
		sub[i] = spawn_on(pool, count_body, NULL);
	cr_assert_eq(baton_task_await_many(sub, 3, BATON_INFINITY, v, NULL,
					   NULL),
		     0);
	return NULL;
}

Test(pool_growth, await_many_nested_in_a_one_thread_pool_never_deadlocks,
     .timeout = 30)
{
	baton_pool *pool;
	baton_task t;

	/* Fixed: the nested wait cannot hand its subtasks on; it helps. */
	cr_assert_eq(baton_pool_create(&pool, 1), 0);
	t = spawn_on(pool, nested_many_body, pool);
	cr_assert_eq(baton_task_await(&t, LONG_MS, NULL, NULL), 0);
	cr_assert_eq(atomic_load(&ran), 3);
	cr_assert_eq(baton_pool_destroy(pool), 0);
}

static struct gate hold = GATE_INIT;

static void *
hold_body(void *arg)
{
	(void)arg;
	atomic_fetch_add(&started, 1);
	gate_wait(&hold);
	return NULL;
}

static void *
fail_body(void *arg)
{
	(void)arg;
	baton_exit(BATON_EXIT_ERROR, 7, "failed");
	return NULL;
}

Test(pool_growth, await_many_never_runs_a_queued_body_it_would_wait_on,
     .timeout = 30)
{
	baton_pool *pool = elastic_pool(1, 8, LONG_MS);
	baton_task blocker, list[2];
	struct baton_exit_reason why;
	size_t failed = 99;
	void *v[2];

	/* The base thread is held; list[0] (held too) queues behind it. */
	blocker = spawn_on(pool, hold_body, NULL);
	wait_for(&started, 1);
	list[0] = spawn_on(pool, hold_body, NULL);
	list[1] = spawn_on(pool, fail_body, NULL);
	/*
	 * Running list[0] here (helping) would hold this call until the
	 * gate opens, which only happens after it returns.
	 */
	cr_assert_eq(baton_task_await_many(list, 2, BATON_INFINITY, v, &failed,
					   &why),
		     BATON_EXITED);
	cr_assert_eq(failed, 1);
	cr_assert_eq(why.code, 7);
	gate_open(&hold);
	cr_assert_eq(baton_task_await(&blocker, LONG_MS, NULL, NULL), 0);
	cr_assert_eq(baton_pool_destroy(pool), 0);
}

/* ---------------------------------------------------------------- */
/* Lifecycle                                                          */
/* ---------------------------------------------------------------- */

Test(pool_growth, the_default_pool_cannot_be_destroyed, .timeout = 30)
{
	baton_pool *d = baton_pool_default();
	baton_task t;

	cr_assert_not_null(d);
	cr_assert_eq(baton_pool_destroy(d), -EINVAL);
	/* Still fully usable. */
	cr_assert_eq(baton_task_async(&t, count_body, NULL), 0);
	cr_assert_eq(baton_task_await(&t, LONG_MS, NULL, NULL), 0);
}

static void *
destroy_own_pool_body(void *arg)
{
	return (void *)(intptr_t)baton_pool_destroy(arg);
}

Test(pool_growth, a_pool_cannot_be_destroyed_from_its_own_thread,
     .timeout = 30)
{
	baton_pool *pool = elastic_pool(1, 4, LONG_MS);
	baton_task t = spawn_on(pool, destroy_own_pool_body, pool);
	void *v;

	cr_assert_eq(baton_task_await(&t, LONG_MS, &v, NULL), 0);
	cr_assert_eq((intptr_t)v, -EDEADLK);
	/* Nothing changed: the pool still runs work. */
	t = spawn_on(pool, count_body, NULL);
	cr_assert_eq(baton_task_await(&t, LONG_MS, NULL, NULL), 0);
	cr_assert_eq(baton_pool_destroy(pool), 0);
}

static void *
twice(void *value, void *ctx)
{
	(void)ctx;
	atomic_fetch_add(&ran, 1);
	return value;
}

static void
on_done_cb(baton_future *f, void *ctx)
{
	(void)f;
	(void)ctx;
	atomic_fetch_add(&ran, 1);
}

Test(pool_growth, work_bound_to_a_destroyed_pool_runs_on_the_completer,
     .timeout = 30)
{
	baton_pool *pool = elastic_pool(1, 4, LONG_MS);
	struct baton_task_opts o = { .pool = pool };
	baton_promise *pr;
	baton_future *f, *g;
	void *v;

	cr_assert_eq(baton_promise_create(&pr, &f), 0);
	cr_assert_eq(baton_future_then(&g, f, twice, NULL, &o), 0);
	cr_assert_eq(baton_future_on_done(f, on_done_cb, NULL, pool), 0);
	cr_assert_eq(baton_pool_destroy(pool), 0);
	/* The continuation and the callback run here, not on freed memory. */
	cr_assert_eq(baton_promise_fulfil(pr, TOK(21), NULL), 0);
	cr_assert_eq(atomic_load(&ran), 2);
	cr_assert_eq(baton_future_take(g, LONG_MS, &v, NULL), 0);
	cr_assert_eq(v, TOK(21));
	baton_future_unref(g);
	baton_future_unref(f);
}

Test(pool_growth, pool_options_are_checked, .timeout = 30)
{
	struct baton_pool_opts o = BATON_POOL_OPTS_INIT;
	baton_pool *pool = (baton_pool *)&o;

	o.workers = 2;
	o.max_threads = 1; /* below the base */
	cr_assert_eq(baton_pool_create_opts(&pool, &o), -EINVAL);
	cr_assert_null(pool);
	/* Zero means zero: no threads, no stack. */
	o = (struct baton_pool_opts)BATON_POOL_OPTS_INIT;
	o.workers = 0;
	cr_assert_eq(baton_pool_create_opts(&pool, &o), -EINVAL);
	o = (struct baton_pool_opts)BATON_POOL_OPTS_INIT;
	o.stack_size = 0;
	cr_assert_eq(baton_pool_create_opts(&pool, &o), -EINVAL);
	o = (struct baton_pool_opts)BATON_POOL_OPTS_INIT;
	o.keep_alive_ms = -1;
	cr_assert_eq(baton_pool_create_opts(&pool, &o), -EINVAL);
	o = (struct baton_pool_opts)BATON_POOL_OPTS_INIT;
	o.detect_ms = 0;
	cr_assert_eq(baton_pool_create_opts(&pool, &o), -EINVAL);
	o.detect_ms = BATON_INFINITY;
	cr_assert_eq(baton_pool_create_opts(&pool, &o), 0);
	cr_assert_eq(baton_pool_destroy(pool), 0);
	/* NULL opts: the defaults, an elastic pool. */
	cr_assert_eq(baton_pool_create_opts(&pool, NULL), 0);
	cr_assert_gt(stats_of(pool).max_threads, stats_of(pool).workers);
	cr_assert_eq(baton_pool_destroy(pool), 0);
	cr_assert_eq(baton_pool_set_default_opts(NULL), -EINVAL);
	(void)baton_pool_default();
	o = (struct baton_pool_opts)BATON_POOL_OPTS_INIT;
	cr_assert_eq(baton_pool_set_default_opts(&o), -EBUSY);
}

Test(pool_growth, a_supervisor_outliving_its_pool_gets_epipe, .timeout = 30)
{
	struct baton_supervisor_opts so = BATON_SUPERVISOR_OPTS_INIT;
	baton_pool *pool = elastic_pool(1, 4, LONG_MS);
	baton_supervisor *sup;

	so.pool = pool;
	cr_assert_eq(baton_supervisor_create(&sup, &so), 0);
	cr_assert_eq(baton_pool_destroy(pool), 0);
	/* Its pool's memory is still its to read: a clean refusal. */
	cr_assert_eq(baton_supervisor_start_child(sup, count_body, NULL, NULL),
		     -EPIPE);
	baton_supervisor_destroy(sup);
	cr_assert_eq(atomic_load(&ran), 0);
}

Test(pool_growth, a_stream_outliving_its_pool_reports_its_items_refused,
     .timeout = 30)
{
	struct baton_stream_opts sto = BATON_STREAM_OPTS_INIT;
	void *inputs[2] = { TOK(1), TOK(2) };
	struct baton_stream_item item;
	baton_pool *pool = elastic_pool(1, 4, LONG_MS);
	baton_stream *s;

	sto.pool = pool;
	/* Lazy: nothing is submitted before the first next. */
	cr_assert_eq(baton_task_async_stream(&s, inputs, 2, return_arg, &sto),
		     0);
	cr_assert_eq(baton_pool_destroy(pool), 0);
	cr_assert_eq(baton_stream_next(s, &item), 0);
	cr_assert_eq(item.status, BATON_EXITED);
	cr_assert_eq(item.reason.kind, BATON_EXIT_SHUTDOWN);
	cr_assert_eq(item.reason.code, EPIPE);
	baton_stream_destroy(s);
}
