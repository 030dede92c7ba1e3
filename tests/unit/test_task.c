/*
 * test_task.c - Criterion unit tests for baton/task.h (strict tasks).
 *
 * One test per behaviour of the contract in include/baton/task.h, named as
 * a sentence.  Criterion forks a child per test, so globals start fresh; the
 * test thread does every assertion, and other threads (task bodies, helper
 * threads playing a non-owner or a second owner) only record what they saw
 * in shared structs for the test thread to check.
 *
 * Synchronisation is by handshakes: a body announces that it started
 * (`started`), waits on a gate the test opens, or polls baton_should_stop().
 * A sleep appears only to prove that a blocked call has NOT returned yet,
 * or inside a body to make it slow.
 *
 * Values are malloc'd ints freed by count_free, which counts its calls:
 * every result nobody took must be freed exactly once (AddressSanitizer
 * catches a second free or a leak).  Most tests use a private pool and
 * destroy it before counting: destroy joins the workers, and a worker drops
 * its reference to a task right after the body returns, so by then every
 * abandoned value has been freed.
 *
 * Functions whose names the tests look up through baton_task_info or the
 * orphan hook are non-static and the executable is linked with
 * export_dynamic, because dladdr only sees the dynamic symbol table.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <baton/link.h>
#include <baton/pool.h>
#include <baton/task.h>

#include "unit.h"

/* A long timeout that no passing test ever waits out. */
#define LONG_MS		10000

/* ------------------------------------------------------------------ */
/* Helpers (the shared ones are in unit.h)                             */
/* ------------------------------------------------------------------ */

static void
spin_us(int us)
{
	int64_t until = now_ns() + (int64_t)us * 1000;

	while (now_ns() < until)
		continue;
}

static struct baton_task_opts
opts_on(baton_pool *pool)
{
	return (struct baton_task_opts){ .pool = pool, .destroy = count_free };
}

static baton_task
spawn_on(baton_pool *pool, baton_task_fn fn, void *arg)
{
	struct baton_task_opts o = opts_on(pool);
	baton_task t;
	int rc = baton_task_async_opts(&t, fn, arg, &o);

	cr_assert_eq(rc, 0, "baton_task_async_opts returned %d", rc);
	return t;
}

/*
 * Fills the stack below the caller with a non-canonical address pattern,
 * so that a call made right after it that reads one of its own
 * uninitialised locals as a pointer faults at once instead of by luck.
 */
static void __attribute__((noinline))
scribble_stack(void)
{
	volatile unsigned char junk[8192];

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = 0xa5;
}

/* ------------------------------------------------------------------ */
/* Task bodies                                                         */
/* ------------------------------------------------------------------ */

static void *
double_it(void *arg)
{
	return new_int(2 * (int)(intptr_t)arg);
}

static void *
return_arg(void *arg)
{
	return arg;
}

/*
 * A cooperative body: runs until asked to stop, then either returns its
 * value (a reply that races in) or exits with a SHUTDOWN reason.
 */
struct coop {
	int value;
	bool exit_on_stop;
	atomic_int started;
	atomic_int saw_stop;
	atomic_int finished;
};

static void
coop_init(struct coop *c, int value, bool exit_on_stop)
{
	memset(c, 0, sizeof(*c));
	c->value = value;
	c->exit_on_stop = exit_on_stop;
}

static void *
coop_body(void *arg)
{
	struct coop *c = arg;

	atomic_store_explicit(&c->started, 1, memory_order_release);
	while (!baton_should_stop())
		sleep_ms(1);
	atomic_store(&c->saw_stop, 1);
	if (c->exit_on_stop)
		baton_exit(BATON_EXIT_SHUTDOWN, ECANCELED, "stopped on request");
	atomic_store_explicit(&c->finished, 1, memory_order_release);
	return new_int(c->value);
}

/* A body that fails: baton_exit(ERROR, code, message), returns a value. */
static void *
failing_body(void *arg)
{
	int rc = baton_exit(BATON_EXIT_ERROR, (int)(intptr_t)arg,
			    "the body failed");

	return new_int(rc);
}

/* Records what baton_should_stop and baton_exit say inside a body. */
struct probe {
	atomic_int stop_at_start;
	atomic_int exit_bad_kind_rc;
};

static void *
probe_body(void *arg)
{
	struct probe *p = arg;

	atomic_store(&p->stop_at_start, baton_should_stop());
	atomic_store(&p->exit_bad_kind_rc,
		     baton_exit((enum baton_exit_kind)99, 0, "no such kind"));
	return new_int(7);
}

/* The body the introspection tests look up by name (non-static). */
void *the_function_symbol_name(void *arg);

void *
the_function_symbol_name(void *arg)
{
	return gated_body(arg);
}

/* ------------------------------------------------------------------ */
/* Calls made from another thread                                      */
/* ------------------------------------------------------------------ */

enum call_kind {
	CALL_AWAIT,
	CALL_YIELD,
	CALL_SHUTDOWN,
	CALL_SHUTDOWN_BRUTAL,
	CALL_IGNORE,
	CALL_INFO,
};

struct call {
	enum call_kind kind;
	baton_task task;	/* a copy of the owner's handle */
	int timeout_ms;
	int rc;
	void *value;
	struct baton_task_info info;
	int64_t elapsed_ms;
};

static void *
call_main(void *arg)
{
	struct call *c = arg;
	int64_t start = now_ns();

	switch (c->kind) {
	case CALL_AWAIT:
		c->rc = baton_task_await(&c->task, c->timeout_ms, &c->value,
					 NULL);
		break;
	case CALL_YIELD:
		c->rc = baton_task_yield(&c->task, c->timeout_ms, &c->value,
					 NULL);
		break;
	case CALL_SHUTDOWN:
		c->rc = baton_task_shutdown(&c->task, c->timeout_ms, &c->value,
					    NULL);
		break;
	case CALL_SHUTDOWN_BRUTAL:
		c->rc = baton_task_shutdown_brutal(&c->task, &c->value, NULL);
		break;
	case CALL_IGNORE:
		c->rc = baton_task_ignore(&c->task, &c->value, NULL);
		break;
	case CALL_INFO:
		c->rc = baton_task_info(&c->task, &c->info);
		break;
	}
	c->elapsed_ms = ms_since(start);
	return NULL;
}

/* Makes the call on a fresh thread (never the task's owner) and joins it. */
static struct call
call_from_other_thread(enum call_kind kind, const baton_task *task,
		       int timeout_ms)
{
	struct call c;
	pthread_t th;

	memset(&c, 0, sizeof(c));
	c.kind = kind;
	c.task = *task;
	c.timeout_ms = timeout_ms;
	c.rc = INT_MIN;
	c.value = SENTINEL;
	cr_assert_eq(pthread_create(&th, NULL, call_main, &c), 0);
	cr_assert_eq(pthread_join(th, NULL), 0);
	return c;
}

/*
 * Another thread that owns a task: it starts one, publishes the handle,
 * keeps it until released, then awaits it and records the outcome.
 */
struct foreign {
	pthread_t thread;
	baton_pool *pool;
	baton_task task;
	struct gate release;
	atomic_int ready;
	int spawn_rc;
	int await_rc;
	void *value;
};

static void *
foreign_main(void *arg)
{
	struct foreign *f = arg;
	struct baton_task_opts o = { .pool = f->pool, .destroy = count_free };

	f->spawn_rc = baton_task_async_opts(&f->task, double_it, TOK(21), &o);
	atomic_store_explicit(&f->ready, 1, memory_order_release);
	gate_wait(&f->release);
	f->await_rc = baton_task_await(&f->task, LONG_MS, &f->value, NULL);
	return NULL;
}

static void
foreign_start(struct foreign *f, baton_pool *pool)
{
	memset(f, 0, sizeof(*f));
	f->pool = pool;
	f->release = (struct gate)GATE_INIT;
	f->await_rc = INT_MIN;
	cr_assert_eq(pthread_create(&f->thread, NULL, foreign_main, f), 0);
	wait_for(&f->ready, 1);
	cr_assert_eq(f->spawn_rc, 0, "the foreign owner's async returned %d",
		     f->spawn_rc);
}

/* Lets the foreign owner await its task; checks it still got the value. */
static void
foreign_finish(struct foreign *f)
{
	gate_open(&f->release);
	cr_assert_eq(pthread_join(f->thread, NULL), 0);
	cr_assert_eq(f->await_rc, 0,
		     "the foreign owner's own await returned %d", f->await_rc);
	cr_assert_not_null(f->value);
	cr_assert_eq(int_of(f->value), 42);
	free(f->value);
}

/* ------------------------------------------------------------------ */
/* Constants, async and await                                          */
/* ------------------------------------------------------------------ */

Test(task, default_timeout_is_elixirs_5000_ms_and_infinity_is_minus_one,
     .timeout = 15)
{
	cr_assert_eq(BATON_DEFAULT_TIMEOUT, 5000);
	cr_assert_eq(BATON_INFINITY, -1);
	cr_assert_eq(BATON_EXITED, 1);
	cr_assert_gt(BATON_EXITED, 0, "BATON_EXITED must differ from errors");
}

Test(task, async_then_await_hands_the_value_over, .timeout = 15)
{
	baton_task t;
	void *v = SENTINEL;
	int rc;

	rc = baton_task_async(&t, double_it, TOK(21));
	cr_assert_eq(rc, 0, "async returned %d", rc);
	rc = baton_task_await(&t, BATON_DEFAULT_TIMEOUT, &v, NULL);
	cr_assert_eq(rc, 0, "await returned %d", rc);
	cr_assert_not_null(v);
	cr_assert_eq(int_of(v), 42);
	free(v);
}

Test(task, await_zeroes_the_handle_it_consumes, .timeout = 15)
{
	baton_task t, zero;
	void *v = NULL;

	memset(&zero, 0, sizeof(zero));
	cr_assert_eq(baton_task_async(&t, double_it, TOK(1)), 0);
	cr_assert_eq(baton_task_await(&t, LONG_MS, &v, NULL), 0);
	cr_assert_eq(memcmp(&t, &zero, sizeof(t)), 0,
		     "a consumed handle must be zeroed");
	free(v);
}

Test(task, async_opts_runs_the_task_on_the_given_pool, .timeout = 15)
{
	baton_pool *pool = make_pool(2);
	struct baton_pool_stats st;
	baton_task t;
	void *v = NULL;

	t = spawn_on(pool, double_it, TOK(5));
	cr_assert_eq(baton_task_await(&t, LONG_MS, &v, NULL), 0);
	cr_assert_eq(int_of(v), 10);
	free(v);
	cr_assert_eq(baton_pool_stats(pool, &st), 0);
	cr_assert_eq(st.spawned, 1, "the pool saw %ju spawns",
		     (uintmax_t)st.spawned);
	baton_pool_destroy(pool);
}

Test(task, async_opts_with_null_opts_uses_the_default_pool, .timeout = 15)
{
	struct baton_pool_stats before, after;
	baton_pool *def = baton_pool_default();
	baton_task t;
	void *v = NULL;

	cr_assert_not_null(def);
	cr_assert_eq(baton_pool_stats(def, &before), 0);
	cr_assert_eq(baton_task_async_opts(&t, double_it, TOK(3), NULL), 0);
	cr_assert_eq(baton_task_await(&t, LONG_MS, &v, NULL), 0);
	cr_assert_eq(int_of(v), 6);
	free(v);
	cr_assert_eq(baton_pool_stats(def, &after), 0);
	cr_assert_eq(after.spawned, before.spawned + 1);
}

Test(task, null_is_a_value_and_is_handed_over_without_the_destructor,
     .timeout = 15)
{
	baton_pool *pool = make_pool(1);
	baton_task t = spawn_on(pool, return_arg, NULL);
	void *v = SENTINEL;

	cr_assert_eq(baton_task_await(&t, LONG_MS, &v, NULL), 0);
	cr_assert_null(v);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&destroyed), 0);
}

Test(task, await_with_a_null_value_pointer_frees_the_value_once,
     .timeout = 15)
{
	baton_pool *pool = make_pool(1);
	baton_task t = spawn_on(pool, double_it, TOK(4));

	cr_assert_eq(baton_task_await(&t, LONG_MS, NULL, NULL), 0);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&destroyed), 1,
		     "the dropped value was freed %d times",
		     atomic_load(&destroyed));
}

Test(task, await_hands_the_value_over_and_never_destroys_it, .timeout = 15)
{
	baton_pool *pool = make_pool(2);
	baton_task t = spawn_on(pool, double_it, TOK(8));
	void *v = NULL;

	cr_assert_eq(baton_task_await(&t, LONG_MS, &v, NULL), 0);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&destroyed), 0);
	cr_assert_eq(int_of(v), 16);
	free(v);
}

Test(task, await_with_infinity_waits_for_a_slow_body, .timeout = 15)
{
	struct gate gate = GATE_INIT;
	struct gated g;
	baton_pool *pool = make_pool(1);
	baton_task t;
	void *v = NULL;

	gated_init(&g, &gate, 9);
	t = spawn_on(pool, gated_body, &g);
	wait_for(&g.started, 1);
	sleep_ms(BLOCK_CHECK_MS); /* still blocked: INFINITY has no deadline */
	gate_open(&gate);
	cr_assert_eq(baton_task_await(&t, BATON_INFINITY, &v, NULL), 0);
	cr_assert_eq(int_of(v), 9);
	free(v);
	baton_pool_destroy(pool);
}

Test(task, await_with_infinity_helps_by_running_a_queued_task_itself,
     .timeout = 15)
{
	struct gate block = GATE_INIT, open_gate = GATE_INIT;
	struct gated blocker, queued;
	baton_pool *pool = make_pool(1);
	baton_task tb, tq;
	void *v = NULL;

	gate_open(&open_gate);
	gated_init(&blocker, &block, 1);
	gated_init(&queued, &open_gate, 2);
	tb = spawn_on(pool, gated_body, &blocker);
	wait_for(&blocker.started, 1);
	/* The only worker is blocked: tq can only run if the awaiter helps. */
	tq = spawn_on(pool, gated_body, &queued);
	cr_assert_eq(baton_task_await(&tq, BATON_INFINITY, &v, NULL), 0);
	cr_assert_eq(int_of(v), 2);
	cr_assert_eq(atomic_load(&queued.tid), gettid(),
		     "the queued task ran on %d, not on the awaiter %d",
		     atomic_load(&queued.tid), (int)gettid());
	free(v);
	gate_open(&block);
	cr_assert_eq(baton_task_await(&tb, LONG_MS, NULL, NULL), 0);
	baton_pool_destroy(pool);
}

/* Each body waits at a barrier for the other: only parallel runs finish. */
static void *
meet_at_barrier(void *arg)
{
	int rc = pthread_barrier_wait(arg);

	return new_int(rc == 0 || rc == PTHREAD_BARRIER_SERIAL_THREAD);
}

Test(task, two_tasks_run_in_parallel_on_two_workers, .timeout = 15)
{
	baton_pool *pool = make_pool(2);
	pthread_barrier_t barrier;
	baton_task t1, t2;
	void *v1 = NULL, *v2 = NULL;

	cr_assert_eq(pthread_barrier_init(&barrier, NULL, 2), 0);
	t1 = spawn_on(pool, meet_at_barrier, &barrier);
	t2 = spawn_on(pool, meet_at_barrier, &barrier);
	cr_assert_eq(baton_task_await(&t1, LONG_MS, &v1, NULL), 0);
	cr_assert_eq(baton_task_await(&t2, LONG_MS, &v2, NULL), 0);
	cr_assert_eq(int_of(v1), 1);
	cr_assert_eq(int_of(v2), 1);
	free(v1);
	free(v2);
	baton_pool_destroy(pool);
	pthread_barrier_destroy(&barrier);
}

/* ------------------------------------------------------------------ */
/* Await timing out                                                    */
/* ------------------------------------------------------------------ */

Test(task,
     await_timing_out_returns_etimedout_no_earlier_than_the_timeout,
     .timeout = 15)
{
	baton_pool *pool = make_pool(1);
	struct coop c;
	baton_task t;
	void *v = SENTINEL;
	int64_t start, ms;
	int rc;

	coop_init(&c, 5, false);
	t = spawn_on(pool, coop_body, &c);
	wait_for(&c.started, 1);
	start = now_ns();
	rc = baton_task_await(&t, 150, &v, NULL);
	ms = ms_since(start);
	cr_assert_eq(rc, -ETIMEDOUT, "await returned %d", rc);
	cr_assert_geq(ms, 150, "await timed out after %jd ms, before 150",
		      (intmax_t)ms);
	cr_assert_eq(v, SENTINEL, "a timed-out await must not touch *value");
	baton_pool_destroy(pool);
}

Test(task,
     await_timing_out_asks_the_body_to_stop_consumes_the_handle_and_frees_the_value_once,
     .timeout = 15)
{
	baton_pool *pool = make_pool(1);
	struct coop c;
	baton_task t;
	void *v = SENTINEL;
	int rc;

	coop_init(&c, 5, false);
	t = spawn_on(pool, coop_body, &c);
	wait_for(&c.started, 1);
	cr_assert_eq(baton_should_stop(), false);
	rc = baton_task_await(&t, 50, &v, NULL);
	cr_assert_eq(rc, -ETIMEDOUT, "await returned %d", rc);
	rc = baton_task_await(&t, LONG_MS, &v, NULL);
	cr_assert_eq(rc, -ESTALE, "await after a timeout returned %d", rc);
	/* The body sees the stop request and returns: handshake on it. */
	wait_for(&c.finished, 1);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&c.saw_stop), 1);
	cr_assert_eq(atomic_load(&destroyed), 1,
		     "the abandoned value was freed %d times",
		     atomic_load(&destroyed));
}

Test(task, a_slow_body_awaited_with_a_short_timeout_is_abandoned_and_freed,
     .timeout = 15)
{
	/* The seed's 6 s task against the 5 s default, scaled down 50x. */
	struct gate gate = GATE_INIT;
	baton_pool *pool = make_pool(1);
	struct gated g;
	baton_task t;
	int64_t start, ms;
	int rc;

	gated_init(&g, &gate, 1);
	t = spawn_on(pool, gated_body, &g);
	wait_for(&g.started, 1);
	start = now_ns();
	rc = baton_task_await(&t, 100, NULL, NULL);
	ms = ms_since(start);
	cr_assert_eq(rc, -ETIMEDOUT);
	cr_assert_geq(ms, 100);
	gate_open(&gate); /* the body ignores the stop; it ends on its own */
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&g.saw_stop), 1,
		     "the abandoned body was not asked to stop");
	cr_assert_eq(atomic_load(&destroyed), 1);
}

struct queued_owner {
	baton_pool *pool;
	struct gated *body;
	int rc;
};

static void *
queued_owner_main(void *arg)
{
	struct queued_owner *q = arg;
	struct baton_task_opts o = opts_on(q->pool);
	baton_task t;

	q->rc = baton_task_async_opts(&t, gated_body, q->body, &o);
	return NULL; /* exits owning t, still queued */
}

Test(task, a_queued_task_abandoned_by_its_exiting_owner_never_runs,
     .timeout = 15)
{
	struct gate block = GATE_INIT, open_gate = GATE_INIT;
	struct gated blocker, queued;
	struct queued_owner q;
	baton_pool *pool = make_pool(1);
	pthread_t th;
	baton_task tb;

	gate_open(&open_gate);
	gated_init(&blocker, &block, 1);
	gated_init(&queued, &open_gate, 2);
	tb = spawn_on(pool, gated_body, &blocker);
	wait_for(&blocker.started, 1);
	q = (struct queued_owner){ pool, &queued, INT_MIN };
	cr_assert_eq(pthread_create(&th, NULL, queued_owner_main, &q), 0);
	cr_assert_eq(pthread_join(th, NULL), 0);
	cr_assert_eq(q.rc, 0);
	gate_open(&block);
	cr_assert_eq(baton_task_await(&tb, LONG_MS, NULL, NULL), 0);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&queued.started), 0,
		     "a task asked to stop before it started ran anyway");
	cr_assert_eq(atomic_load(&destroyed), 1); /* the blocker's value */
}

/* ------------------------------------------------------------------ */
/* Ownership: only the owner may await                                 */
/* ------------------------------------------------------------------ */

Test(task, non_owner_await_gets_eperm_at_once_and_owner_still_can,
     .timeout = 15)
{
	struct gate gate = GATE_INIT;
	baton_pool *pool = make_pool(1);
	struct gated g;
	struct call c;
	baton_task t;
	void *v = NULL;

	gated_init(&g, &gate, 11);
	t = spawn_on(pool, gated_body, &g);
	c = call_from_other_thread(CALL_AWAIT, &t, 3000);
	cr_assert_eq(c.rc, -EPERM, "non-owner await returned %d", c.rc);
	cr_assert_lt(c.elapsed_ms, PROMPT_MS,
		     "non-owner await took %jd ms: a silent wait, not -EPERM",
		     (intmax_t)c.elapsed_ms);
	cr_assert_eq(c.value, SENTINEL);
	gate_open(&gate);
	cr_assert_eq(baton_task_await(&t, LONG_MS, &v, NULL), 0);
	cr_assert_eq(int_of(v), 11);
	free(v);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&g.saw_stop), 0,
		     "a refused call must not ask the task to stop");
}

Test(task, non_owner_await_of_a_finished_task_gets_eperm_and_owner_still_can,
     .timeout = 15)
{
	baton_task t;
	struct call c;
	void *v = NULL;

	cr_assert_eq(baton_task_completed(&t, new_int(3), count_free), 0);
	c = call_from_other_thread(CALL_AWAIT, &t, 0);
	cr_assert_eq(c.rc, -EPERM);
	cr_assert_eq(baton_task_await(&t, 0, &v, NULL), 0);
	cr_assert_eq(int_of(v), 3);
	free(v);
	cr_assert_eq(atomic_load(&destroyed), 0);
}

Test(task,
     non_owner_yield_shutdown_brutal_and_ignore_get_eperm_and_leave_the_task,
     .timeout = 15)
{
	static const enum call_kind kinds[] = {
		CALL_YIELD, CALL_SHUTDOWN, CALL_SHUTDOWN_BRUTAL, CALL_IGNORE,
	};
	struct gate gate = GATE_INIT;
	baton_pool *pool = make_pool(1);
	struct gated g;
	baton_task t;
	void *v = NULL;

	gated_init(&g, &gate, 12);
	t = spawn_on(pool, gated_body, &g);
	wait_for(&g.started, 1);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		struct call c = call_from_other_thread(kinds[i], &t, 3000);

		cr_assert_eq(c.rc, -EPERM, "non-owner call %d returned %d",
			     (int)kinds[i], c.rc);
		cr_assert_lt(c.elapsed_ms, PROMPT_MS,
			     "non-owner call %d took %jd ms", (int)kinds[i],
			     (intmax_t)c.elapsed_ms);
	}
	gate_open(&gate);
	cr_assert_eq(baton_task_await(&t, LONG_MS, &v, NULL), 0);
	cr_assert_eq(int_of(v), 12);
	free(v);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&g.saw_stop), 0,
		     "a non-owner shutdown must not reach the task");
	cr_assert_eq(atomic_load(&destroyed), 0);
}

Test(task, non_owner_may_read_the_task_info, .timeout = 15)
{
	struct gate gate = GATE_INIT;
	baton_pool *pool = make_pool(1);
	struct gated g;
	struct call c;
	baton_task t;

	gated_init(&g, &gate, 1);
	t = spawn_on(pool, gated_body, &g);
	wait_for(&g.started, 1);
	c = call_from_other_thread(CALL_INFO, &t, 0);
	cr_assert_eq(c.rc, 0, "info from a non-owner returned %d", c.rc);
	cr_assert_eq(c.info.owner_tid, gettid());
	cr_assert_eq(c.info.state, BATON_TASK_RUNNING);
	gate_open(&gate);
	cr_assert_eq(baton_task_await(&t, LONG_MS, NULL, NULL), 0);
	baton_pool_destroy(pool);
}

/* ------------------------------------------------------------------ */
/* Stale and invalid handles                                           */
/* ------------------------------------------------------------------ */

Test(task, second_await_is_estale, .timeout = 15)
{
	baton_task t;
	void *v = NULL, *v2 = SENTINEL;

	cr_assert_eq(baton_task_async(&t, double_it, TOK(2)), 0);
	cr_assert_eq(baton_task_await(&t, LONG_MS, &v, NULL), 0);
	cr_assert_eq(baton_task_await(&t, LONG_MS, &v2, NULL), -ESTALE);
	cr_assert_eq(v2, SENTINEL);
	free(v);
}

Test(task, await_after_ignore_is_estale, .timeout = 15)
{
	baton_pool *pool = make_pool(1);
	baton_task t = spawn_on(pool, double_it, TOK(2));

	cr_assert_geq(baton_task_ignore(&t, NULL, NULL), 0);
	cr_assert_eq(baton_task_await(&t, LONG_MS, NULL, NULL), -ESTALE);
	cr_assert_eq(baton_task_ignore(&t, NULL, NULL), -ESTALE);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&destroyed), 1);
}

Test(task, await_after_shutdown_is_estale, .timeout = 15)
{
	baton_pool *pool = make_pool(1);
	struct coop c;
	baton_task t;
	int rc;

	coop_init(&c, 1, true);
	t = spawn_on(pool, coop_body, &c);
	rc = baton_task_shutdown(&t, LONG_MS, NULL, NULL);
	cr_assert_eq(rc, BATON_NOREPLY, "shutdown returned %d", rc);
	cr_assert_eq(baton_task_await(&t, LONG_MS, NULL, NULL), -ESTALE);
	cr_assert_eq(baton_task_shutdown(&t, 0, NULL, NULL), -ESTALE);
	baton_pool_destroy(pool);
}

Test(task, every_call_on_a_zeroed_handle_is_estale, .timeout = 15)
{
	struct baton_task_info info;
	struct baton_exit_reason why;
	baton_task t;
	void *v = SENTINEL;

	memset(&t, 0, sizeof(t));
	cr_assert_eq(baton_task_await(&t, 0, &v, &why), -ESTALE);
	cr_assert_eq(baton_task_yield(&t, 0, &v, &why), -ESTALE);
	cr_assert_eq(baton_task_shutdown(&t, 0, &v, &why), -ESTALE);
	cr_assert_eq(baton_task_shutdown_brutal(&t, &v, &why), -ESTALE);
	cr_assert_eq(baton_task_ignore(&t, NULL, NULL), -ESTALE);
	cr_assert_eq(baton_task_info(&t, &info), -ESTALE);
	cr_assert_eq(v, SENTINEL);
}

Test(task, copies_of_an_awaited_handle_are_stale, .timeout = 15)
{
	struct baton_task_info info;
	baton_pool *pool = make_pool(1);
	baton_task t, copy1, copy2;
	void *v = NULL;

	t = spawn_on(pool, double_it, TOK(6));
	copy1 = t;
	copy2 = t;
	cr_assert_eq(baton_task_await(&t, LONG_MS, &v, NULL), 0);
	free(v);
	/* Joining the workers makes sure no worker still holds the task. */
	baton_pool_destroy(pool);
	cr_assert_eq(baton_task_await(&copy1, 0, NULL, NULL), -ESTALE);
	cr_assert_eq(baton_task_yield(&copy1, 0, NULL, NULL), -ESTALE);
	cr_assert_eq(baton_task_shutdown(&copy1, 0, NULL, NULL), -ESTALE);
	cr_assert_eq(baton_task_ignore(&copy1, NULL, NULL), -ESTALE);
	cr_assert_eq(baton_task_info(&copy2, &info), -ESTALE);
}

Test(task, copies_of_a_handle_consumed_while_its_body_runs_are_stale,
     .timeout = 15)
{
	/*
	 * task.h: "once consumed (awaited, ignored, shut down) every copy of
	 * it is stale, and using one returns -ESTALE".  Here the body is
	 * still running when the handle is consumed.
	 */
	struct gate gate = GATE_INIT;
	struct baton_task_info info;
	baton_pool *pool = make_pool(1);
	struct gated g;
	baton_task t, copy;
	int rc_await, rc_info;

	gated_init(&g, &gate, 1);
	t = spawn_on(pool, gated_body, &g);
	wait_for(&g.started, 1);
	copy = t;
	cr_assert_eq(baton_task_ignore(&t, NULL, NULL), BATON_NOREPLY);
	rc_await = baton_task_await(&copy, 0, NULL, NULL);
	rc_info = baton_task_info(&copy, &info);
	gate_open(&gate);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&destroyed), 1);
	cr_expect_eq(rc_await, -ESTALE,
		     "await on a copy of an ignored handle returned %d", rc_await);
	cr_expect_eq(rc_info, -ESTALE,
		     "info on a copy of an ignored handle returned %d", rc_info);
}

Test(task, null_arguments_are_einval, .timeout = 15)
{
	struct baton_task_info info;
	struct baton_yield_result res[1];
	baton_task t;
	void *v = SENTINEL;
	int rc;

	memset(&t, 0xff, sizeof(t));
	rc = baton_task_async(&t, NULL, NULL);
	cr_assert_eq(rc, -EINVAL, "async with a NULL fn returned %d", rc);
	cr_assert_null(t.cell_, "a failed async must zero *out");
	cr_assert_eq(t.gen_, 0);
	cr_assert_eq(baton_task_async(NULL, double_it, NULL), -EINVAL);
	cr_assert_eq(baton_task_async_opts(NULL, double_it, NULL, NULL),
		     -EINVAL);
	cr_assert_eq(baton_task_async_opts(&t, NULL, NULL, NULL), -EINVAL);
	cr_assert_eq(baton_task_start(NULL, NULL, NULL), -EINVAL);
	cr_assert_eq(baton_task_completed(NULL, NULL, NULL), -EINVAL);
	cr_assert_eq(baton_task_await(NULL, 0, &v, NULL), -EINVAL);
	cr_assert_eq(baton_task_yield(NULL, 0, &v, NULL), -EINVAL);
	cr_assert_eq(baton_task_shutdown(NULL, 0, &v, NULL), -EINVAL);
	cr_assert_eq(baton_task_shutdown_brutal(NULL, &v, NULL), -EINVAL);
	cr_assert_eq(baton_task_ignore(NULL, NULL, NULL), -EINVAL);
	cr_assert_eq(baton_task_info(NULL, &info), -EINVAL);
	cr_assert_eq(v, SENTINEL);

	cr_assert_eq(baton_task_async(&t, double_it, TOK(1)), 0);
	cr_assert_eq(baton_task_info(&t, NULL), -EINVAL);
	cr_assert_eq(baton_task_await_many(&t, 1, 0, NULL, NULL, NULL),
		     -EINVAL);
	cr_assert_eq(baton_task_await_many(NULL, 1, 0, &v, NULL, NULL),
		     -EINVAL);
	cr_assert_eq(baton_task_yield_many(&t, 1, NULL, NULL), -EINVAL);
	cr_assert_eq(baton_task_yield_many(NULL, 1, NULL, res), -EINVAL);
	/* None of that consumed the task. */
	cr_assert_eq(baton_task_await(&t, LONG_MS, &v, NULL), 0);
	cr_assert_eq(int_of(v), 2);
	free(v);
}

Test(task, a_bad_timeout_is_einval_and_consumes_nothing, .timeout = 15)
{
	struct baton_yield_many_opts yo = { .timeout_ms = -2,
		.limit = BATON_NO_LIMIT };
	struct baton_yield_result res[1];
	baton_task t;
	void *v = SENTINEL;

	cr_assert_eq(baton_task_async(&t, double_it, TOK(10)), 0);
	cr_assert_eq(baton_task_await(&t, -2, &v, NULL), -EINVAL);
	cr_assert_eq(baton_task_yield(&t, -2, &v, NULL), -EINVAL);
	cr_assert_eq(baton_task_shutdown(&t, -2, &v, NULL), -EINVAL);
	cr_assert_eq(baton_task_await(&t, INT_MIN, &v, NULL), -EINVAL);
	cr_assert_eq(baton_task_await_many(&t, 1, -2, &v, NULL, NULL),
		     -EINVAL);
	cr_assert_eq(baton_task_yield_many(&t, 1, &yo, res), -EINVAL);
	yo = (struct baton_yield_many_opts){
		.timeout_ms = 0,
		.on_timeout = (enum baton_on_timeout)7,
			.limit = BATON_NO_LIMIT };
	cr_assert_eq(baton_task_yield_many(&t, 1, &yo, res), -EINVAL,
		     "an unknown on_timeout must be refused");
	cr_assert_eq(v, SENTINEL);
	cr_assert_eq(baton_task_await(&t, LONG_MS, &v, NULL), 0);
	cr_assert_eq(int_of(v), 20);
	free(v);
}

/* ------------------------------------------------------------------ */
/* A task awaiting itself                                              */
/* ------------------------------------------------------------------ */

struct self_await {
	baton_task self;	/* published by the owner after async */
	atomic_int published;
	int await_rc, yield_rc, shutdown_rc, brutal_rc, ignore_rc;
	int many_rc, yield_many_rc;
	bool try_many;
};

static void *
self_await_body(void *arg)
{
	struct self_await *s = arg;
	baton_task copy;

	wait_for(&s->published, 1);
	copy = s->self;
	s->await_rc = baton_task_await(&copy, 100, NULL, NULL);
	s->yield_rc = baton_task_yield(&copy, 0, NULL, NULL);
	s->shutdown_rc = baton_task_shutdown(&copy, 0, NULL, NULL);
	s->brutal_rc = baton_task_shutdown_brutal(&copy, NULL, NULL);
	s->ignore_rc = baton_task_ignore(&copy, NULL, NULL);
	if (s->try_many) {
		struct baton_yield_result res[1];
		void *values[1];

		scribble_stack();
		s->many_rc = baton_task_await_many(&copy, 1, 0, values, NULL,
						   NULL);
		scribble_stack();
		s->yield_many_rc = (int)baton_task_yield_many(&copy, 1, NULL,
							      res);
	}
	return new_int(77);
}

Test(task, a_task_awaiting_itself_gets_edeadlk_and_is_left_intact,
     .timeout = 15)
{
	baton_pool *pool = make_pool(2);
	struct self_await s;
	baton_task t;
	void *v = NULL;

	memset(&s, 0, sizeof(s));
	t = spawn_on(pool, self_await_body, &s);
	s.self = t;
	atomic_store_explicit(&s.published, 1, memory_order_release);
	cr_assert_eq(baton_task_await(&t, LONG_MS, &v, NULL), 0);
	cr_assert_eq(s.await_rc, -EDEADLK, "self await returned %d",
		     s.await_rc);
	cr_assert_eq(s.yield_rc, -EDEADLK, "self yield returned %d",
		     s.yield_rc);
	cr_assert_eq(s.shutdown_rc, -EDEADLK, "self shutdown returned %d",
		     s.shutdown_rc);
	cr_assert_eq(s.brutal_rc, -EDEADLK, "self brutal shutdown returned %d",
		     s.brutal_rc);
	cr_assert_eq(s.ignore_rc, -EDEADLK, "self ignore returned %d",
		     s.ignore_rc);
	cr_assert_eq(int_of(v), 77);
	free(v);
	baton_pool_destroy(pool);
}

Test(task, a_task_awaiting_itself_in_a_list_gets_edeadlk, .timeout = 15)
{
	baton_pool *pool = make_pool(2);
	struct self_await s;
	baton_task t;
	void *v = NULL;

	memset(&s, 0, sizeof(s));
	s.try_many = true;
	t = spawn_on(pool, self_await_body, &s);
	s.self = t;
	atomic_store_explicit(&s.published, 1, memory_order_release);
	cr_assert_eq(baton_task_await(&t, LONG_MS, &v, NULL), 0);
	cr_assert_eq(s.many_rc, -EDEADLK, "self await_many returned %d",
		     s.many_rc);
	cr_assert_eq(s.yield_many_rc, -EDEADLK,
		     "self yield_many returned %d", s.yield_many_rc);
	free(v);
	baton_pool_destroy(pool);
}

/* ------------------------------------------------------------------ */
/* baton_exit and baton_should_stop                                    */
/* ------------------------------------------------------------------ */

Test(task,
     baton_exit_in_a_body_is_reported_with_kind_code_and_message_and_the_return_value_is_destroyed,
     .timeout = 15)
{
	baton_pool *pool = make_pool(1);
	struct baton_exit_reason why =
	    BATON_EXIT_REASON(BATON_EXIT_NORMAL, -1, NULL);
	baton_task t = spawn_on(pool, failing_body, TOK(42));
	void *v = SENTINEL;
	int rc;

	rc = baton_task_await(&t, LONG_MS, &v, &why);
	cr_assert_eq(rc, BATON_EXITED, "await returned %d", rc);
	cr_assert_eq(why.kind, BATON_EXIT_ERROR);
	cr_assert_eq(why.code, 42);
	cr_assert_not_null(why.message);
	cr_assert_str_eq(why.message, "the body failed");
	cr_assert_eq(v, SENTINEL, "an exited task hands no value over");
	cr_assert_eq(baton_task_await(&t, 0, NULL, NULL), -ESTALE);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&destroyed), 1,
		     "the exited body's return value was freed %d times",
		     atomic_load(&destroyed));
}

Test(task, await_of_an_exited_task_with_a_null_reason_still_says_exited,
     .timeout = 15)
{
	struct baton_task_opts o = { .destroy = count_free };
	baton_task t;

	cr_assert_eq(baton_task_async_opts(&t, failing_body, TOK(1), &o), 0);
	cr_assert_eq(baton_task_await(&t, LONG_MS, NULL, NULL), BATON_EXITED);
}

Test(task, baton_exit_outside_a_task_is_einval, .timeout = 15)
{
	cr_assert_eq(baton_exit(BATON_EXIT_ERROR, 1, "no task here"), -EINVAL);
	cr_assert_eq(baton_exit(BATON_EXIT_SHUTDOWN, 0, NULL), -EINVAL);
}

Test(task, baton_exit_with_an_unknown_kind_is_einval, .timeout = 15)
{
	baton_pool *pool = make_pool(1);
	struct probe p;
	baton_task t;
	void *v = NULL;
	int rc;

	memset(&p, 0, sizeof(p));
	t = spawn_on(pool, probe_body, &p);
	rc = baton_task_await(&t, LONG_MS, &v, NULL);
	cr_assert_eq(rc, 0, "a body whose baton_exit calls were refused "
		     "returned normally, but await said %d", rc);
	cr_assert_eq(int_of(v), 7);
	free(v);
	cr_assert_eq(atomic_load(&p.exit_bad_kind_rc), -EINVAL);
	baton_pool_destroy(pool);
}

Test(task, should_stop_is_false_outside_a_task_and_in_a_fresh_body,
     .timeout = 15)
{
	baton_pool *pool = make_pool(1);
	struct probe p;
	baton_task t;

	cr_assert_eq(baton_should_stop(), false);
	memset(&p, 0, sizeof(p));
	atomic_store(&p.stop_at_start, -1);
	t = spawn_on(pool, probe_body, &p);
	cr_assert_eq(baton_task_await(&t, LONG_MS, NULL, NULL), 0);
	cr_assert_eq(atomic_load(&p.stop_at_start), 0);
	baton_pool_destroy(pool);
}

Test(task, exit_kind_names_are_short_and_stable, .timeout = 15)
{
	cr_assert_str_eq(baton_exit_kind_name(BATON_EXIT_NORMAL), "normal");
	cr_assert_str_eq(baton_exit_kind_name(BATON_EXIT_ERROR), "error");
	cr_assert_str_eq(baton_exit_kind_name(BATON_EXIT_SHUTDOWN),
			 "shutdown");
	cr_assert_str_eq(baton_exit_kind_name(BATON_EXIT_TIMEOUT), "timeout");
	cr_assert_str_eq(baton_exit_kind_name(BATON_EXIT_KILLED), "killed");
	cr_assert_not_null(baton_exit_kind_name((enum baton_exit_kind)99),
			   "an unknown kind still gets a printable name");
}

/* ------------------------------------------------------------------ */
/* Yield                                                               */
/* ------------------------------------------------------------------ */

Test(task, yield_times_out_keeps_the_task_and_a_later_yield_gets_the_value,
     .timeout = 15)
{
	struct gate gate = GATE_INIT;
	baton_pool *pool = make_pool(1);
	struct gated g;
	baton_task t;
	void *v = SENTINEL;
	int64_t start, ms;
	int rc;

	gated_init(&g, &gate, 31);
	t = spawn_on(pool, gated_body, &g);
	wait_for(&g.started, 1);
	start = now_ns();
	rc = baton_task_yield(&t, 100, &v, NULL);
	ms = ms_since(start);
	cr_assert_eq(rc, -ETIMEDOUT, "yield returned %d", rc);
	cr_assert_geq(ms, 100, "yield timed out after %jd ms", (intmax_t)ms);
	cr_assert_eq(v, SENTINEL);
	cr_assert_eq(baton_task_yield(&t, 0, &v, NULL), -ETIMEDOUT,
		     "a second yield must still see the task");
	gate_open(&gate);
	rc = baton_task_yield(&t, LONG_MS, &v, NULL);
	cr_assert_eq(rc, 0, "yield after the body finished returned %d", rc);
	cr_assert_eq(int_of(v), 31);
	free(v);
	cr_assert_eq(baton_task_yield(&t, 0, NULL, NULL), -ESTALE);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&g.saw_stop), 0,
		     "a yield that timed out must not ask the task to stop");
}

Test(task, yield_that_timed_out_can_be_followed_by_await, .timeout = 15)
{
	struct gate gate = GATE_INIT;
	baton_pool *pool = make_pool(1);
	struct gated g;
	baton_task t;
	void *v = NULL;

	gated_init(&g, &gate, 5);
	t = spawn_on(pool, gated_body, &g);
	wait_for(&g.started, 1);
	cr_assert_eq(baton_task_yield(&t, 10, &v, NULL), -ETIMEDOUT);
	gate_open(&gate);
	cr_assert_eq(baton_task_await(&t, LONG_MS, &v, NULL), 0);
	cr_assert_eq(int_of(v), 5);
	free(v);
	baton_pool_destroy(pool);
}

Test(task, yield_that_timed_out_can_be_followed_by_ignore, .timeout = 15)
{
	struct gate gate = GATE_INIT;
	baton_pool *pool = make_pool(1);
	struct gated g;
	baton_task t;

	gated_init(&g, &gate, 5);
	t = spawn_on(pool, gated_body, &g);
	wait_for(&g.started, 1);
	cr_assert_eq(baton_task_yield(&t, 0, NULL, NULL), -ETIMEDOUT);
	cr_assert_eq(baton_task_ignore(&t, NULL, NULL), BATON_NOREPLY);
	gate_open(&gate);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&g.finished), 1);
	cr_assert_eq(atomic_load(&destroyed), 1);
}

Test(task, yield_reports_an_exited_task, .timeout = 15)
{
	struct baton_task_opts o = { .destroy = count_free };
	struct baton_exit_reason why;
	baton_task t;

	cr_assert_eq(baton_task_async_opts(&t, failing_body, TOK(9), &o), 0);
	cr_assert_eq(baton_task_yield(&t, LONG_MS, NULL, &why), BATON_EXITED);
	cr_assert_eq(why.kind, BATON_EXIT_ERROR);
	cr_assert_eq(why.code, 9);
}

Test(task, yield_or_shutdown_idiom_stops_a_slow_task, .timeout = 15)
{
	baton_pool *pool = make_pool(1);
	struct baton_exit_reason why;
	struct coop c;
	baton_task t;
	void *v = SENTINEL;
	int rc;

	coop_init(&c, 3, true);
	t = spawn_on(pool, coop_body, &c);
	wait_for(&c.started, 1);
	rc = baton_task_yield(&t, 50, &v, &why);
	if (rc == -ETIMEDOUT)
		rc = baton_task_shutdown(&t, LONG_MS, &v, &why);
	cr_assert_eq(rc, BATON_NOREPLY, "yield || shutdown returned %d", rc);
	cr_assert_eq(v, SENTINEL);
	cr_assert_eq(baton_task_await(&t, 0, NULL, NULL), -ESTALE);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&c.saw_stop), 1);
	cr_assert_eq(atomic_load(&destroyed), 1);
}

Test(task, yield_or_shutdown_idiom_returns_a_fast_value_from_yield,
     .timeout = 15)
{
	baton_task t;
	void *v = NULL;
	int rc;

	cr_assert_eq(baton_task_async(&t, double_it, TOK(50)), 0);
	rc = baton_task_yield(&t, LONG_MS, &v, NULL);
	if (rc == -ETIMEDOUT)
		rc = baton_task_shutdown(&t, LONG_MS, &v, NULL);
	cr_assert_eq(rc, 0);
	cr_assert_eq(int_of(v), 100);
	free(v);
}

/* ------------------------------------------------------------------ */
/* Shutdown                                                            */
/* ------------------------------------------------------------------ */

/* Elixir: {:DOWN, _, _, _, :shutdown} after shutdown is nil. */
Test(task, shutdown_of_a_body_that_exits_with_shutdown_reports_no_reply,
     .timeout = 15)
{
	baton_pool *pool = make_pool(1);
	struct baton_exit_reason why =
	    BATON_EXIT_REASON(BATON_EXIT_NORMAL, 0, NULL);
	struct coop c;
	baton_task t;
	void *v = SENTINEL;
	int rc;

	coop_init(&c, 4, true);
	t = spawn_on(pool, coop_body, &c);
	wait_for(&c.started, 1);
	rc = baton_task_shutdown(&t, LONG_MS, &v, &why);
	cr_assert_eq(rc, BATON_NOREPLY, "shutdown returned %d", rc);
	cr_assert_eq(why.kind, BATON_EXIT_NORMAL, "reason left untouched");
	cr_assert_eq(v, SENTINEL);
	cr_assert_eq(atomic_load(&c.saw_stop), 1,
		     "shutdown waited for the body, so the body saw the stop");
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&destroyed), 1,
		     "the exited body's return value must be freed once");
}

/* A value returned after the stop was asked is no reply: nil, freed. */
Test(task,
     shutdown_of_a_body_that_returns_after_the_stop_reports_no_reply_and_frees_the_value,
     .timeout = 15)
{
	baton_pool *pool = make_pool(1);
	struct coop c;
	baton_task t;
	void *v = SENTINEL;
	int rc;

	coop_init(&c, 44, false); /* returns its value when asked to stop */
	t = spawn_on(pool, coop_body, &c);
	wait_for(&c.started, 1);
	rc = baton_task_shutdown(&t, LONG_MS, &v, NULL);
	cr_assert_eq(rc, BATON_NOREPLY, "shutdown returned %d", rc);
	cr_assert_eq(v, SENTINEL);
	cr_assert_eq(atomic_load(&c.finished), 1, "shutdown waited for it");
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&destroyed), 1,
		     "the value returned after the stop must be freed once");
}

/* A body asked to stop that fails instead reports its own reason. */
static void *
error_on_stop_body(void *arg)
{
	struct coop *c = arg;

	atomic_store_explicit(&c->started, 1, memory_order_release);
	while (!baton_should_stop())
		sleep_ms(1);
	baton_exit(BATON_EXIT_ERROR, EIO, "failed while stopping");
	return new_int(c->value);
}

Test(task, shutdown_of_a_body_that_fails_reports_its_exit_reason,
     .timeout = 15)
{
	baton_pool *pool = make_pool(1);
	struct baton_exit_reason why =
	    BATON_EXIT_REASON(BATON_EXIT_NORMAL, 0, NULL);
	struct coop c;
	baton_task t;
	void *v = SENTINEL;
	int rc;

	coop_init(&c, 5, false);
	t = spawn_on(pool, error_on_stop_body, &c);
	wait_for(&c.started, 1);
	rc = baton_task_shutdown(&t, LONG_MS, &v, &why);
	cr_assert_eq(rc, BATON_EXITED, "shutdown returned %d", rc);
	cr_assert_eq(why.kind, BATON_EXIT_ERROR);
	cr_assert_eq(why.code, EIO);
	cr_assert_eq(v, SENTINEL);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&destroyed), 1);
}

Test(task, shutdown_brutal_of_a_task_that_already_failed_reports_its_reason,
     .timeout = 15)
{
	baton_pool *pool = make_pool(1);
	struct baton_exit_reason why =
	    BATON_EXIT_REASON(BATON_EXIT_NORMAL, 0, NULL);
	struct baton_task_info info;
	baton_task t = spawn_on(pool, failing_body, TOK(9));

	do {
		cr_assert_eq(baton_task_info(&t, &info), 0);
		sched_yield();
	} while (info.state != BATON_TASK_DONE);
	cr_assert_eq(baton_task_shutdown_brutal(&t, NULL, &why), BATON_EXITED);
	cr_assert_eq(why.kind, BATON_EXIT_ERROR);
	cr_assert_eq(why.code, 9);
	baton_pool_destroy(pool);
}

Test(task, shutdown_of_a_finished_task_returns_its_value, .timeout = 15)
{
	baton_pool *pool = make_pool(1);
	struct baton_task_info info;
	baton_task t = spawn_on(pool, double_it, TOK(13));
	void *v = NULL;
	int rc;

	do {
		cr_assert_eq(baton_task_info(&t, &info), 0);
		sched_yield();
	} while (info.state != BATON_TASK_DONE);
	rc = baton_task_shutdown(&t, 0, &v, NULL);
	cr_assert_eq(rc, 0, "shutdown of a finished task returned %d", rc);
	cr_assert_eq(int_of(v), 26);
	free(v);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&destroyed), 0);
}

Test(task, shutdown_of_a_queued_task_never_runs_it_and_reports_no_reply,
     .timeout = 15)
{
	struct gate block = GATE_INIT, open_gate = GATE_INIT;
	struct baton_exit_reason why =
	    BATON_EXIT_REASON(BATON_EXIT_NORMAL, 0, NULL);
	struct gated blocker, queued;
	baton_pool *pool = make_pool(1);
	baton_task tb, tq;
	void *v = SENTINEL;
	int64_t start;
	int rc;

	gate_open(&open_gate);
	gated_init(&blocker, &block, 1);
	gated_init(&queued, &open_gate, 2);
	tb = spawn_on(pool, gated_body, &blocker);
	wait_for(&blocker.started, 1);
	tq = spawn_on(pool, gated_body, &queued);
	start = now_ns();
	rc = baton_task_shutdown(&tq, LONG_MS, &v, &why);
	cr_assert_lt(ms_since(start), PROMPT_MS,
		     "a queued task is dropped at once, not waited for");
	cr_assert_eq(rc, BATON_NOREPLY, "shutdown returned %d", rc);
	cr_assert_eq(why.kind, BATON_EXIT_NORMAL, "reason left untouched");
	cr_assert_eq(v, SENTINEL);
	cr_assert_eq(baton_task_await(&tq, 0, NULL, NULL), -ESTALE);
	gate_open(&block);
	cr_assert_eq(baton_task_await(&tb, LONG_MS, NULL, NULL), 0);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&queued.started), 0,
		     "the shut-down queued task ran its body");
	cr_assert_eq(atomic_load(&destroyed), 1); /* the blocker's value */
}

/* Elixir kills it at the timeout and reports {:exit, :killed}. */
Test(task,
     shutdown_timing_out_on_a_body_that_ignores_stop_reports_killed_and_frees_the_value_later,
     .timeout = 15)
{
	struct gate gate = GATE_INIT;
	baton_pool *pool = make_pool(1);
	struct baton_exit_reason why =
	    BATON_EXIT_REASON(BATON_EXIT_NORMAL, 0, NULL);
	struct gated g;
	baton_task t;
	void *v = SENTINEL;
	int64_t start, ms;
	int rc;

	gated_init(&g, &gate, 1);
	t = spawn_on(pool, gated_body, &g);
	wait_for(&g.started, 1);
	start = now_ns();
	rc = baton_task_shutdown(&t, 100, &v, &why);
	ms = ms_since(start);
	cr_assert_eq(rc, BATON_EXITED, "shutdown returned %d", rc);
	cr_assert_eq(why.kind, BATON_EXIT_KILLED);
	cr_assert_geq(ms, 100, "shutdown gave up after %jd ms", (intmax_t)ms);
	cr_assert_eq(v, SENTINEL);
	cr_assert_eq(baton_task_await(&t, 0, NULL, NULL), -ESTALE);
	cr_assert_eq(atomic_load(&destroyed), 0,
		     "the body has not returned yet: nothing to free");
	gate_open(&gate);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&g.saw_stop), 1);
	cr_assert_eq(atomic_load(&destroyed), 1,
		     "the abandoned value was freed %d times",
		     atomic_load(&destroyed));
}

Test(task, shutdown_brutal_abandons_a_running_body_at_once, .timeout = 15)
{
	struct gate gate = GATE_INIT;
	baton_pool *pool = make_pool(1);
	struct gated g;
	baton_task t;
	void *v = SENTINEL;
	int64_t start;
	int rc;

	gated_init(&g, &gate, 1);
	t = spawn_on(pool, gated_body, &g);
	wait_for(&g.started, 1);
	start = now_ns();
	rc = baton_task_shutdown_brutal(&t, &v, NULL);
	cr_assert_lt(ms_since(start), PROMPT_MS);
	cr_assert_eq(rc, BATON_NOREPLY, "brutal shutdown returned %d", rc);
	cr_assert_eq(v, SENTINEL);
	cr_assert_eq(baton_task_await(&t, 0, NULL, NULL), -ESTALE);
	gate_open(&gate);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&g.saw_stop), 1);
	cr_assert_eq(atomic_load(&destroyed), 1);
}

Test(task, shutdown_brutal_of_a_finished_task_returns_its_value,
     .timeout = 15)
{
	baton_task t;
	void *v = NULL;

	cr_assert_eq(baton_task_completed(&t, new_int(8), count_free), 0);
	cr_assert_eq(baton_task_shutdown_brutal(&t, &v, NULL), 0);
	cr_assert_eq(int_of(v), 8);
	free(v);
	cr_assert_eq(atomic_load(&destroyed), 0);
}

Test(task, shutdown_brutal_of_a_queued_task_reports_no_reply, .timeout = 15)
{
	struct gate block = GATE_INIT, open_gate = GATE_INIT;
	struct baton_exit_reason why =
	    BATON_EXIT_REASON(BATON_EXIT_NORMAL, 0, NULL);
	struct gated blocker, queued;
	baton_pool *pool = make_pool(1);
	baton_task tb, tq;

	gate_open(&open_gate);
	gated_init(&blocker, &block, 1);
	gated_init(&queued, &open_gate, 2);
	tb = spawn_on(pool, gated_body, &blocker);
	wait_for(&blocker.started, 1);
	tq = spawn_on(pool, gated_body, &queued);
	cr_assert_eq(baton_task_shutdown_brutal(&tq, NULL, &why),
		     BATON_NOREPLY);
	cr_assert_eq(why.kind, BATON_EXIT_NORMAL, "reason left untouched");
	gate_open(&block);
	cr_assert_eq(baton_task_await(&tb, LONG_MS, NULL, NULL), 0);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&queued.started), 0);
}

/* ------------------------------------------------------------------ */
/* Ignore, start, completed                                            */
/* ------------------------------------------------------------------ */

Test(task, ignore_lets_the_body_run_to_completion_and_frees_its_value_once,
     .timeout = 15)
{
	struct gate gate = GATE_INIT;
	baton_pool *pool = make_pool(1);
	struct gated g;
	baton_task t;

	gated_init(&g, &gate, 1);
	t = spawn_on(pool, gated_body, &g);
	wait_for(&g.started, 1);
	cr_assert_eq(baton_task_ignore(&t, NULL, NULL), BATON_NOREPLY);
	cr_assert_eq(baton_task_await(&t, 0, NULL, NULL), -ESTALE);
	gate_open(&gate);
	wait_for(&g.finished, 1);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&g.saw_stop), 0,
		     "ignore stops tracking; it does not stop the task");
	cr_assert_eq(atomic_load(&destroyed), 1,
		     "the ignored value was freed %d times",
		     atomic_load(&destroyed));
}

Test(task, ignore_of_a_finished_task_frees_its_value_once, .timeout = 15)
{
	baton_pool *pool = make_pool(1);
	struct baton_task_info info;
	baton_task t = spawn_on(pool, double_it, TOK(1));

	do {
		cr_assert_eq(baton_task_info(&t, &info), 0);
		sched_yield();
	} while (info.state != BATON_TASK_DONE);
	cr_assert_eq(baton_task_ignore(&t, NULL, NULL), 0);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&destroyed), 1);
}

struct started_rec {
	atomic_int ran;
	int arg_seen;
};

static void *
fire_and_forget_body(void *arg)
{
	struct started_rec *r = arg;

	r->arg_seen = 1;
	atomic_store_explicit(&r->ran, 1, memory_order_release);
	return new_int(1);
}

Test(task, start_runs_fire_and_forget_and_frees_the_returned_value,
     .timeout = 15)
{
	baton_pool *pool = make_pool(1);
	struct baton_task_opts o = opts_on(pool);
	struct started_rec r;

	memset(&r, 0, sizeof(r));
	cr_assert_eq(baton_task_start(fire_and_forget_body, &r, &o), 0);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&r.ran), 1);
	cr_assert_eq(r.arg_seen, 1);
	cr_assert_eq(atomic_load(&destroyed), 1,
		     "the fire-and-forget value was freed %d times",
		     atomic_load(&destroyed));
}

static atomic_int started_on_default;

static void *
note_default_run(void *arg)
{
	(void)arg;
	atomic_fetch_add_explicit(&started_on_default, 1,
				  memory_order_release);
	return NULL;
}

Test(task, start_with_null_opts_runs_on_the_default_pool, .timeout = 15)
{
	cr_assert_eq(baton_task_start(note_default_run, NULL, NULL), 0);
	wait_for(&started_on_default, 1);
}

Test(task, a_task_started_with_start_is_not_reported_as_an_orphan,
     .timeout = 15)
{
	/* start has no owner, so nothing links it to the starting thread. */
	baton_pool *pool = make_pool(1);
	struct baton_task_opts o = opts_on(pool);
	struct started_rec r;

	memset(&r, 0, sizeof(r));
	cr_assert_eq(baton_task_start(fire_and_forget_body, &r, &o), 0);
	wait_for(&r.ran, 1);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&destroyed), 1);
}

Test(task, completed_value_is_awaited_at_once, .timeout = 15)
{
	baton_task t;
	void *v = NULL;
	int64_t start;

	cr_assert_eq(baton_task_completed(&t, new_int(99), count_free), 0);
	start = now_ns();
	cr_assert_eq(baton_task_await(&t, 0, &v, NULL), 0);
	cr_assert_lt(ms_since(start), PROMPT_MS);
	cr_assert_eq(int_of(v), 99);
	free(v);
	cr_assert_eq(atomic_load(&destroyed), 0);
	cr_assert_eq(baton_task_await(&t, 0, NULL, NULL), -ESTALE);
}

Test(task, completed_then_ignore_destroys_the_value_once, .timeout = 15)
{
	baton_task t;

	cr_assert_eq(baton_task_completed(&t, new_int(1), count_free), 0);
	cr_assert_eq(baton_task_ignore(&t, NULL, NULL), 0);
	cr_assert_eq(atomic_load(&destroyed), 1);
	cr_assert_eq(baton_task_ignore(&t, NULL, NULL), -ESTALE);
	cr_assert_eq(atomic_load(&destroyed), 1);
}

Test(task, completed_is_owned_by_the_calling_thread, .timeout = 15)
{
	struct baton_task_info info;
	struct call c;
	baton_task t;

	cr_assert_eq(baton_task_completed(&t, TOK(5), NULL), 0);
	cr_assert_eq(baton_task_info(&t, &info), 0);
	cr_assert_eq(info.owner_tid, gettid());
	cr_assert_eq(info.state, BATON_TASK_DONE);
	c = call_from_other_thread(CALL_AWAIT, &t, 0);
	cr_assert_eq(c.rc, -EPERM);
	cr_assert_eq(baton_task_yield(&t, 0, &c.value, NULL), 0);
	cr_assert_eq(c.value, TOK(5));
}

Test(task, completed_values_mix_with_pending_ones_in_await_many,
     .timeout = 15)
{
	baton_task ts[3];
	void *vals[3] = { NULL, NULL, NULL };

	cr_assert_eq(baton_task_completed(&ts[0], new_int(1), count_free), 0);
	cr_assert_eq(baton_task_async(&ts[1], double_it, TOK(1)), 0);
	cr_assert_eq(baton_task_completed(&ts[2], new_int(3), count_free), 0);
	cr_assert_eq(baton_task_await_many(ts, 3, LONG_MS, vals, NULL, NULL),
		     0);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(int_of(vals[i]), i + 1);
		free(vals[i]);
	}
}

/* ------------------------------------------------------------------ */
/* await_many                                                          */
/* ------------------------------------------------------------------ */

Test(task, await_many_over_1_to_5_doubled_gives_2_4_6_8_10_in_input_order,
     .timeout = 15)
{
	baton_task ts[5];
	void *vals[5] = { NULL };
	int rc;

	for (int i = 0; i < 5; i++)
		cr_assert_eq(baton_task_async(&ts[i], double_it,
					      TOK(i + 1)), 0);
	rc = baton_task_await_many(ts, 5, BATON_DEFAULT_TIMEOUT, vals, NULL,
				   NULL);
	cr_assert_eq(rc, 0, "await_many returned %d", rc);
	for (int i = 0; i < 5; i++) {
		cr_assert_eq(int_of(vals[i]), 2 * (i + 1),
			     "values[%d] is %d", i, int_of(vals[i]));
		free(vals[i]);
		cr_assert_eq(baton_task_await(&ts[i], 0, NULL, NULL), -ESTALE);
	}
}

/* Finishes after the task before it in the list has finished. */
struct chained {
	atomic_int *prev_done;	/* NULL for the last one to start */
	atomic_int done;
	int value;
};

static void *
chained_body(void *arg)
{
	struct chained *c = arg;

	if (c->prev_done != NULL)
		wait_for(c->prev_done, 1);
	atomic_store_explicit(&c->done, 1, memory_order_release);
	return new_int(c->value);
}

Test(task, await_many_returns_values_in_input_order_whatever_the_finish_order,
     .timeout = 15)
{
	/*
	 * Task 4 finishes first, then 3, ..., task 0 last.  Each body waits
	 * for the next, so every task needs a worker of its own.
	 */
	baton_pool *pool = make_pool(5);
	struct chained c[5];
	baton_task ts[5];
	void *vals[5] = { NULL };

	for (int i = 0; i < 5; i++) {
		c[i].prev_done = i < 4 ? &c[i + 1].done : NULL;
		atomic_init(&c[i].done, 0);
		c[i].value = 100 + i;
	}
	for (int i = 0; i < 5; i++)
		ts[i] = spawn_on(pool, chained_body, &c[i]);
	cr_assert_eq(baton_task_await_many(ts, 5, LONG_MS, vals, NULL, NULL),
		     0);
	for (int i = 0; i < 5; i++) {
		cr_assert_eq(int_of(vals[i]), 100 + i);
		free(vals[i]);
	}
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&destroyed), 0);
}

Test(task, await_many_of_more_than_64_tasks_keeps_input_order, .timeout = 15)
{
	enum { N = 300 };
	baton_pool *pool = make_pool(2);
	baton_task ts[N];
	void *vals[N];

	for (int i = 0; i < N; i++)
		ts[i] = spawn_on(pool, double_it, TOK(i));
	cr_assert_eq(baton_task_await_many(ts, N, LONG_MS, vals, NULL, NULL),
		     0);
	for (int i = 0; i < N; i++) {
		cr_assert_eq(int_of(vals[i]), 2 * i);
		free(vals[i]);
	}
	baton_pool_destroy(pool);
}

Test(task, await_many_of_no_tasks_returns_0, .timeout = 15)
{
	void *vals[1] = { SENTINEL };

	cr_assert_eq(baton_task_await_many(NULL, 0, 0, vals, NULL, NULL), 0);
	cr_assert_eq(vals[0], SENTINEL);
}

Test(task,
     await_many_reports_the_first_failure_with_its_index_and_consumes_the_others,
     .timeout = 15)
{
	baton_pool *pool = make_pool(2);
	struct baton_exit_reason why =
	    BATON_EXIT_REASON(BATON_EXIT_NORMAL, 0, NULL);
	struct gate open_gate = GATE_INIT;
	struct gated first, last;
	struct coop c;
	baton_task ts[4];
	void *vals[4] = { SENTINEL, SENTINEL, SENTINEL, SENTINEL };
	size_t failed = 99;
	int rc;

	coop_init(&c, 3, false);
	gate_open(&open_gate);
	gated_init(&first, &open_gate, 2);
	gated_init(&last, &open_gate, 8);
	/*
	 * Task 0 has returned before task 1 can fail: otherwise the failure
	 * may stop it while still queued, and its value never exists (seen
	 * under valgrind).
	 */
	ts[0] = spawn_on(pool, gated_body, &first);
	wait_for(&first.finished, 1);
	ts[1] = spawn_on(pool, failing_body, TOK(17));
	ts[2] = spawn_on(pool, coop_body, &c); /* runs until asked to stop */
	ts[3] = spawn_on(pool, gated_body, &last);
	wait_for(&c.started, 1);
	rc = baton_task_await_many(ts, 4, LONG_MS, vals, &failed, &why);
	cr_assert_eq(rc, BATON_EXITED, "await_many returned %d", rc);
	cr_assert_eq(failed, 1, "failed index is %zu", failed);
	cr_assert_eq(why.kind, BATON_EXIT_ERROR);
	cr_assert_eq(why.code, 17);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(vals[i], SENTINEL, "values[] must not be filled");
		cr_assert_eq(baton_task_await(&ts[i], 0, NULL, NULL), -ESTALE,
			     "task %d was not consumed", i);
	}
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&c.saw_stop), 1,
		     "the unfinished task was not asked to stop");
	/*
	 * Task 0's value, the failed body's return, the stopped body's
	 * value, and task 3's if it ran before the list was abandoned (if
	 * it was still queued, it never runs).
	 */
	cr_assert_eq(atomic_load(&destroyed), 3 + atomic_load(&last.started),
		     "%d values freed", atomic_load(&destroyed));
}

Test(task, await_many_notices_a_later_failure_while_an_earlier_task_runs,
     .timeout = 15)
{
	baton_pool *pool = make_pool(2);
	struct baton_exit_reason why =
	    BATON_EXIT_REASON(BATON_EXIT_NORMAL, 0, NULL);
	struct coop c;
	baton_task ts[2];
	void *vals[2];
	size_t failed = 99;
	int64_t start;
	int rc;

	coop_init(&c, 3, false);
	ts[0] = spawn_on(pool, coop_body, &c);
	wait_for(&c.started, 1);
	ts[1] = spawn_on(pool, failing_body, TOK(5));
	start = now_ns();
	rc = baton_task_await_many(ts, 2, 3000, vals, &failed, &why);
	cr_assert_lt(ms_since(start), PROMPT_MS,
		     "a failure must end await_many early, not at the deadline");
	cr_assert_eq(rc, BATON_EXITED);
	cr_assert_eq(failed, 1);
	cr_assert_eq(why.code, 5);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&c.saw_stop), 1);
	cr_assert_eq(atomic_load(&destroyed), 2);
}

/* Waits (by polling the info) until the task is DONE. */
static void
wait_done(const baton_task *t)
{
	struct baton_task_info info;

	do {
		cr_assert_eq(baton_task_info(t, &info), 0);
		sched_yield();
	} while (info.state != BATON_TASK_DONE);
}

Test(task,
     await_many_timing_out_reports_the_first_unfinished_task_and_consumes_all,
     .timeout = 15)
{
	baton_pool *pool = make_pool(3);
	struct coop c1, c2;
	baton_task ts[3];
	void *vals[3] = { SENTINEL, SENTINEL, SENTINEL };
	size_t failed = 99;
	int64_t start, ms;
	int rc;

	coop_init(&c1, 1, false);
	coop_init(&c2, 2, false);
	ts[0] = spawn_on(pool, double_it, TOK(1));
	ts[1] = spawn_on(pool, coop_body, &c1);
	ts[2] = spawn_on(pool, coop_body, &c2);
	wait_for(&c1.started, 1);
	wait_for(&c2.started, 1);
	wait_done(&ts[0]); /* queued at the deadline, it would never run */
	start = now_ns();
	rc = baton_task_await_many(ts, 3, 150, vals, &failed, NULL);
	ms = ms_since(start);
	cr_assert_eq(rc, -ETIMEDOUT, "await_many returned %d", rc);
	cr_assert_geq(ms, 150, "await_many timed out after %jd ms",
		      (intmax_t)ms);
	cr_assert_eq(failed, 1, "failed index is %zu", failed);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(vals[i], SENTINEL);
		cr_assert_eq(baton_task_await(&ts[i], 0, NULL, NULL), -ESTALE);
	}
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&c1.saw_stop), 1);
	cr_assert_eq(atomic_load(&c2.saw_stop), 1);
	cr_assert_eq(atomic_load(&destroyed), 3, "%d values freed",
		     atomic_load(&destroyed));
}

Test(task, await_many_with_a_duplicated_handle_is_einval_and_consumes_nothing,
     .timeout = 15)
{
	baton_task ts[3];
	void *vals[3] = { SENTINEL, SENTINEL, SENTINEL };
	void *v = NULL;

	cr_assert_eq(baton_task_async(&ts[0], double_it, TOK(1)), 0);
	cr_assert_eq(baton_task_async(&ts[1], double_it, TOK(2)), 0);
	ts[2] = ts[0];
	cr_assert_eq(baton_task_await_many(ts, 3, LONG_MS, vals, NULL, NULL),
		     -EINVAL);
	cr_assert_eq(vals[0], SENTINEL);
	/* Nothing was consumed: a second call without the duplicate works. */
	cr_assert_eq(baton_task_await_many(ts, 2, LONG_MS, vals, NULL, NULL),
		     0);
	cr_assert_eq(int_of(vals[0]), 2);
	cr_assert_eq(int_of(vals[1]), 4);
	free(vals[0]);
	free(vals[1]);
	cr_assert_eq(baton_task_await(&ts[2], 0, &v, NULL), -ESTALE);
}

Test(task, await_many_with_a_handle_owned_by_another_thread_is_eperm,
     .timeout = 15)
{
	baton_pool *pool = make_pool(2);
	struct foreign f;
	baton_task ts[2];
	void *vals[2] = { SENTINEL, SENTINEL };
	void *v = NULL;
	int rc;

	foreign_start(&f, pool);
	ts[0] = spawn_on(pool, double_it, TOK(3));
	ts[1] = f.task;
	scribble_stack();
	rc = baton_task_await_many(ts, 2, LONG_MS, vals, NULL, NULL);
	cr_assert_eq(rc, -EPERM, "await_many returned %d", rc);
	cr_assert_eq(vals[0], SENTINEL);
	cr_assert_eq(baton_task_await(&ts[0], LONG_MS, &v, NULL), 0,
		     "the owned task must not have been consumed");
	cr_assert_eq(int_of(v), 6);
	free(v);
	foreign_finish(&f);
	baton_pool_destroy(pool);
}

Test(task, await_many_with_a_stale_handle_is_estale_and_consumes_nothing,
     .timeout = 15)
{
	baton_task ts[2];
	void *vals[2] = { SENTINEL, SENTINEL };
	void *v = NULL;
	int rc;

	cr_assert_eq(baton_task_async(&ts[0], double_it, TOK(3)), 0);
	memset(&ts[1], 0, sizeof(ts[1]));
	scribble_stack();
	rc = baton_task_await_many(ts, 2, LONG_MS, vals, NULL, NULL);
	cr_assert_eq(rc, -ESTALE, "await_many returned %d", rc);
	cr_assert_eq(baton_task_await(&ts[0], LONG_MS, &v, NULL), 0);
	cr_assert_eq(int_of(v), 6);
	free(v);
}

/* ------------------------------------------------------------------ */
/* yield_many                                                          */
/* ------------------------------------------------------------------ */

Test(task, yield_many_reports_every_reply_in_input_order, .timeout = 15)
{
	baton_pool *pool = make_pool(5); /* a worker per chained task */
	struct chained c[4];
	baton_task ts[5];
	struct baton_yield_result res[5];
	struct baton_yield_many_opts o = { .timeout_ms = LONG_MS,
		.limit = BATON_NO_LIMIT };
	ptrdiff_t n;

	for (int i = 0; i < 4; i++) {
		c[i].prev_done = i < 3 ? &c[i + 1].done : NULL;
		atomic_init(&c[i].done, 0);
		c[i].value = 10 + i;
	}
	for (int i = 0; i < 4; i++)
		ts[i] = spawn_on(pool, chained_body, &c[i]);
	ts[4] = spawn_on(pool, failing_body, TOK(3));
	n = baton_task_yield_many(ts, 5, &o, res);
	cr_assert_eq(n, 5, "yield_many returned %td", n);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(res[i].status, 0);
		cr_assert_eq(int_of(res[i].value), 10 + i);
		free(res[i].value);
		cr_assert_eq(baton_task_await(&ts[i], 0, NULL, NULL), -ESTALE);
	}
	cr_assert_eq(res[4].status, BATON_EXITED);
	cr_assert_eq(res[4].reason.kind, BATON_EXIT_ERROR);
	cr_assert_eq(res[4].reason.code, 3);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&destroyed), 1); /* the failed body's */
}

Test(task, yield_many_with_null_opts_waits_for_every_reply, .timeout = 15)
{
	baton_task ts[3];
	struct baton_yield_result res[3];

	for (int i = 0; i < 3; i++)
		cr_assert_eq(baton_task_async(&ts[i], double_it, TOK(i)), 0);
	cr_assert_eq(baton_task_yield_many(ts, 3, NULL, res), 3);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(res[i].status, 0);
		cr_assert_eq(int_of(res[i].value), 2 * i);
		free(res[i].value);
	}
}

Test(task,
     yield_many_with_a_limit_returns_once_enough_replied_and_leaves_the_rest,
     .timeout = 15)
{
	struct gate gate = GATE_INIT;
	baton_pool *pool = make_pool(3);
	struct gated a, c;
	baton_task ts[4];
	struct baton_yield_result res[4];
	struct baton_yield_many_opts o = {
		.timeout_ms = 3000, .limit = 2,
		.on_timeout = BATON_ON_TIMEOUT_NOTHING,
	};
	void *v = NULL;
	int64_t start;
	ptrdiff_t n;

	gated_init(&a, &gate, 100);
	gated_init(&c, &gate, 300);
	ts[0] = spawn_on(pool, gated_body, &a);
	ts[1] = spawn_on(pool, double_it, TOK(1));
	ts[2] = spawn_on(pool, gated_body, &c);
	ts[3] = spawn_on(pool, double_it, TOK(3));
	wait_for(&a.started, 1);
	wait_for(&c.started, 1);
	start = now_ns();
	n = baton_task_yield_many(ts, 4, &o, res);
	cr_assert_lt(ms_since(start), PROMPT_MS,
		     "yield_many did not return once the limit was reached");
	cr_assert_eq(n, 2, "yield_many returned %td", n);
	cr_assert_eq(res[0].status, -ETIMEDOUT);
	cr_assert_eq(res[1].status, 0);
	cr_assert_eq(int_of(res[1].value), 2);
	cr_assert_eq(res[2].status, -ETIMEDOUT);
	cr_assert_eq(res[3].status, 0);
	cr_assert_eq(int_of(res[3].value), 6);
	free(res[1].value);
	free(res[3].value);
	gate_open(&gate);
	cr_assert_eq(baton_task_await(&ts[0], LONG_MS, &v, NULL), 0,
		     "a task left by the limit must stay awaitable");
	cr_assert_eq(int_of(v), 100);
	free(v);
	cr_assert_eq(baton_task_await(&ts[2], LONG_MS, &v, NULL), 0);
	cr_assert_eq(int_of(v), 300);
	free(v);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&a.saw_stop), 0);
	cr_assert_eq(atomic_load(&destroyed), 0);
}

Test(task, yield_many_on_timeout_nothing_leaves_pending_tasks_alive,
     .timeout = 15)
{
	struct gate gate = GATE_INIT;
	baton_pool *pool = make_pool(2);
	struct gated g;
	baton_task ts[2];
	struct baton_yield_result res[2];
	struct baton_yield_many_opts o = {
		.timeout_ms = 100, .on_timeout = BATON_ON_TIMEOUT_NOTHING,
			.limit = BATON_NO_LIMIT };
	int64_t start, ms;
	ptrdiff_t n;

	gated_init(&g, &gate, 7);
	ts[0] = spawn_on(pool, double_it, TOK(2));
	ts[1] = spawn_on(pool, gated_body, &g);
	wait_for(&g.started, 1);
	/* A reply still on its way at the timeout would not be reported. */
	wait_done(&ts[0]);
	start = now_ns();
	n = baton_task_yield_many(ts, 2, &o, res);
	ms = ms_since(start);
	cr_assert_eq(n, 1, "yield_many returned %td", n);
	cr_assert_geq(ms, 100, "yield_many returned after %jd ms",
		      (intmax_t)ms);
	cr_assert_eq(res[0].status, 0);
	cr_assert_eq(int_of(res[0].value), 4);
	free(res[0].value);
	cr_assert_eq(res[1].status, -ETIMEDOUT);
	/* Yield again on what is left. */
	gate_open(&gate);
	o.timeout_ms = LONG_MS;
	n = baton_task_yield_many(&ts[1], 1, &o, res);
	cr_assert_eq(n, 1);
	cr_assert_eq(res[0].status, 0);
	cr_assert_eq(int_of(res[0].value), 7);
	free(res[0].value);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&g.saw_stop), 0);
	cr_assert_eq(atomic_load(&destroyed), 0);
}

Test(task, yield_many_with_zero_timeout_polls, .timeout = 15)
{
	struct gate gate = GATE_INIT;
	baton_pool *pool = make_pool(1);
	struct gated g;
	baton_task ts[1];
	struct baton_yield_result res[1];
	struct baton_yield_many_opts o = { .timeout_ms = 0,
		.limit = BATON_NO_LIMIT };
	int64_t start;
	ptrdiff_t n;

	gated_init(&g, &gate, 1);
	ts[0] = spawn_on(pool, gated_body, &g);
	wait_for(&g.started, 1);
	start = now_ns();
	n = baton_task_yield_many(ts, 1, &o, res);
	cr_assert_lt(ms_since(start), PROMPT_MS);
	cr_assert_eq(n, 0);
	cr_assert_eq(res[0].status, -ETIMEDOUT);
	gate_open(&gate);
	cr_assert_eq(baton_task_await(&ts[0], LONG_MS, NULL, NULL), 0);
	baton_pool_destroy(pool);
}

Test(task,
     yield_many_on_timeout_ignore_consumes_pending_tasks_and_frees_their_values_later,
     .timeout = 15)
{
	struct gate gate = GATE_INIT;
	baton_pool *pool = make_pool(2);
	struct gated g;
	baton_task ts[2];
	struct baton_yield_result res[2];
	struct baton_yield_many_opts o = {
		.timeout_ms = 50, .on_timeout = BATON_ON_TIMEOUT_IGNORE,
			.limit = BATON_NO_LIMIT };
	ptrdiff_t n;

	gated_init(&g, &gate, 7);
	ts[0] = spawn_on(pool, double_it, TOK(2));
	ts[1] = spawn_on(pool, gated_body, &g);
	wait_for(&g.started, 1);
	/* A reply still on its way at the timeout would not be reported. */
	wait_done(&ts[0]);
	n = baton_task_yield_many(ts, 2, &o, res);
	cr_assert_eq(n, 1);
	cr_assert_eq(res[0].status, 0);
	free(res[0].value);
	cr_assert_eq(res[1].status, -ETIMEDOUT);
	cr_assert_eq(baton_task_await(&ts[1], 0, NULL, NULL), -ESTALE,
		     "an ignored task must be consumed");
	cr_assert_eq(atomic_load(&destroyed), 0);
	gate_open(&gate);
	wait_for(&g.finished, 1);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&g.saw_stop), 0,
		     "ignore lets the task run on");
	cr_assert_eq(atomic_load(&destroyed), 1);
}

/* Elixir: a task killed by yield_many reports nil, not an exit. */
Test(task, yield_many_on_timeout_kill_reports_no_reply_and_asks_the_task_to_stop,
     .timeout = 15)
{
	struct gate gate = GATE_INIT;
	baton_pool *pool = make_pool(2);
	struct gated g;
	baton_task ts[2];
	struct baton_yield_result res[2];
	struct baton_yield_many_opts o = {
		.timeout_ms = 50, .on_timeout = BATON_ON_TIMEOUT_KILL,
			.limit = BATON_NO_LIMIT };
	ptrdiff_t n;

	gated_init(&g, &gate, 7);
	ts[0] = spawn_on(pool, double_it, TOK(2));
	ts[1] = spawn_on(pool, gated_body, &g);
	wait_for(&g.started, 1);
	/* A reply still on its way at the timeout would not be reported. */
	wait_done(&ts[0]);
	n = baton_task_yield_many(ts, 2, &o, res);
	cr_assert_eq(n, 1, "yield_many returned %td", n);
	cr_assert_eq(res[0].status, 0);
	free(res[0].value);
	cr_assert_eq(res[1].status, -ETIMEDOUT, "status %d", res[1].status);
	cr_assert_null(res[1].value);
	cr_assert_eq(baton_task_await(&ts[1], 0, NULL, NULL), -ESTALE);
	gate_open(&gate);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&g.saw_stop), 1);
	cr_assert_eq(atomic_load(&destroyed), 1);
}

Test(task, yield_many_kill_of_a_queued_task_never_runs_it, .timeout = 15)
{
	struct gate block = GATE_INIT, open_gate = GATE_INIT;
	struct gated blocker, queued;
	baton_pool *pool = make_pool(1);
	baton_task tb, tq;
	struct baton_yield_result res[1];
	struct baton_yield_many_opts o = {
		.timeout_ms = 0, .on_timeout = BATON_ON_TIMEOUT_KILL,
			.limit = BATON_NO_LIMIT };

	gate_open(&open_gate);
	gated_init(&blocker, &block, 1);
	gated_init(&queued, &open_gate, 2);
	tb = spawn_on(pool, gated_body, &blocker);
	wait_for(&blocker.started, 1);
	tq = spawn_on(pool, gated_body, &queued);
	cr_assert_eq(baton_task_yield_many(&tq, 1, &o, res), 0);
	cr_assert_eq(res[0].status, -ETIMEDOUT);
	cr_assert_eq(baton_task_await(&tq, 0, NULL, NULL), -ESTALE);
	gate_open(&block);
	cr_assert_eq(baton_task_await(&tb, LONG_MS, NULL, NULL), 0);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&queued.started), 0);
}

Test(task, yield_many_with_a_bad_handle_is_refused_and_consumes_nothing,
     .timeout = 15)
{
	baton_pool *pool = make_pool(2);
	struct foreign f;
	baton_task ts[3];
	struct baton_yield_result res[3];
	struct baton_yield_many_opts o = { .timeout_ms = LONG_MS,
		.limit = BATON_NO_LIMIT };
	baton_task dup[2], stale[2], foreign[2];
	ptrdiff_t n;

	foreign_start(&f, pool);
	ts[0] = spawn_on(pool, double_it, TOK(1));
	ts[1] = spawn_on(pool, double_it, TOK(2));
	dup[0] = ts[0];
	dup[1] = ts[0];
	n = baton_task_yield_many(dup, 2, &o, res);
	cr_assert_eq(n, -EINVAL, "a duplicated handle gave %td", n);
	stale[0] = ts[0];
	memset(&stale[1], 0, sizeof(stale[1]));
	scribble_stack();
	n = baton_task_yield_many(stale, 2, &o, res);
	cr_assert_eq(n, -ESTALE, "a stale handle gave %td", n);
	foreign[0] = ts[1];
	foreign[1] = f.task;
	scribble_stack();
	n = baton_task_yield_many(foreign, 2, &o, res);
	cr_assert_eq(n, -EPERM, "a foreign handle gave %td", n);
	n = baton_task_yield_many(ts, 2, &o, res);
	cr_assert_eq(n, 2, "the refused calls consumed something: %td", n);
	free(res[0].value);
	free(res[1].value);
	foreign_finish(&f);
	baton_pool_destroy(pool);
}

/* ------------------------------------------------------------------ */
/* Links: the owner thread exits                                       */
/* ------------------------------------------------------------------ */

#define MAX_ORPHANS 8

struct orphan_log {
	atomic_int calls;
	char function[MAX_ORPHANS][64];
	bool stop_requested[MAX_ORPHANS];
	pid_t hook_tid[MAX_ORPHANS];
};

static void
orphan_hook(const struct baton_task_info *info, void *ctx)
{
	struct orphan_log *log = ctx;
	int i = atomic_fetch_add(&log->calls, 1);

	if (i < MAX_ORPHANS) {
		memcpy(log->function[i], info->function,
		       sizeof(log->function[i]));
		log->stop_requested[i] = info->stop_requested;
		log->hook_tid[i] = gettid();
	}
}

/* The orphans' bodies, looked up by name (non-static). */
void *orphan_body_a(void *arg);
void *orphan_body_b(void *arg);

void *
orphan_body_a(void *arg)
{
	return coop_body(arg);
}

void *
orphan_body_b(void *arg)
{
	return double_it(arg);
}

struct owner_thread {
	baton_pool *pool;
	struct coop a1, a2;
	pid_t tid;
	int rc;
};

static void *
owner_main(void *arg)
{
	struct owner_thread *o = arg;
	struct baton_task_opts opts = opts_on(o->pool);
	struct baton_task_info info;
	baton_task ta1, ta2, tb, awaited;

	o->tid = gettid();
	o->rc = baton_task_async_opts(&ta1, orphan_body_a, &o->a1, &opts);
	o->rc |= baton_task_async_opts(&ta2, orphan_body_a, &o->a2, &opts);
	o->rc |= baton_task_async_opts(&tb, orphan_body_b, TOK(1), &opts);
	/* An awaited task is no orphan. */
	o->rc |= baton_task_async_opts(&awaited, orphan_body_b, TOK(2), &opts);
	o->rc |= baton_task_await(&awaited, LONG_MS, NULL, NULL);
	wait_for(&o->a1.started, 1);
	wait_for(&o->a2.started, 1);
	/* Let tb finish: a finished task nobody awaited is an orphan too. */
	do {
		o->rc |= baton_task_info(&tb, &info);
		sched_yield();
	} while (o->rc == 0 && info.state != BATON_TASK_DONE);
	return NULL; /* exits owning ta1, ta2 and tb */
}

Test(task,
     owner_thread_exit_stops_its_tasks_frees_their_values_and_reports_each_orphan_once,
     .timeout = 15)
{
	struct orphan_log log;
	struct owner_thread o;
	pthread_t th;
	int a = 0, b = 0;

	memset(&log, 0, sizeof(log));
	memset(&o, 0, sizeof(o));
	o.pool = make_pool(3);
	coop_init(&o.a1, 1, false);
	coop_init(&o.a2, 2, false);
	baton_set_orphan_hook(orphan_hook, &log);
	cr_assert_eq(pthread_create(&th, NULL, owner_main, &o), 0);
	cr_assert_eq(pthread_join(th, NULL), 0);
	cr_assert_eq(o.rc, 0, "the owner thread's calls failed");
	/* Both cooperative orphans see the stop and return. */
	wait_for(&o.a1.finished, 1);
	wait_for(&o.a2.finished, 1);
	baton_pool_destroy(o.pool);
	baton_set_orphan_hook(NULL, NULL);

	cr_assert_eq(atomic_load(&o.a1.saw_stop), 1);
	cr_assert_eq(atomic_load(&o.a2.saw_stop), 1);
	/* Three orphan values; the awaited value was dropped by its await. */
	cr_assert_eq(atomic_load(&destroyed), 4, "%d values freed",
		     atomic_load(&destroyed));
	cr_assert_eq(atomic_load(&log.calls), 3, "the hook ran %d times",
		     atomic_load(&log.calls));
	for (int i = 0; i < 3; i++) {
		if (strcmp(log.function[i], "orphan_body_a") == 0)
			a++;
		else if (strcmp(log.function[i], "orphan_body_b") == 0)
			b++;
		else
			cr_assert_fail("the hook saw function \"%s\"",
				       log.function[i]);
		cr_assert(log.stop_requested[i],
			  "the orphan was reported before it was asked to stop");
		cr_assert_eq(log.hook_tid[i], o.tid,
			     "the hook runs on the exiting thread");
	}
	cr_assert_eq(a, 2);
	cr_assert_eq(b, 1);
}

Test(task, orphans_are_still_stopped_and_freed_without_a_hook, .timeout = 15)
{
	struct owner_thread o;
	pthread_t th;

	memset(&o, 0, sizeof(o));
	o.pool = make_pool(3);
	coop_init(&o.a1, 1, false);
	coop_init(&o.a2, 2, false);
	baton_set_orphan_hook(NULL, NULL);
	cr_assert_eq(pthread_create(&th, NULL, owner_main, &o), 0);
	cr_assert_eq(pthread_join(th, NULL), 0);
	cr_assert_eq(o.rc, 0);
	wait_for(&o.a1.finished, 1);
	wait_for(&o.a2.finished, 1);
	baton_pool_destroy(o.pool);
	cr_assert_eq(atomic_load(&o.a1.saw_stop), 1);
	cr_assert_eq(atomic_load(&destroyed), 4);
}

/* ------------------------------------------------------------------ */
/* Introspection                                                       */
/* ------------------------------------------------------------------ */

Test(task, task_info_names_the_function_label_owner_and_state, .timeout = 15)
{
	struct gate block = GATE_INIT, gate = GATE_INIT;
	struct gated blocker, g;
	struct baton_task_opts o;
	struct baton_task_info info;
	baton_pool *pool = make_pool(1);
	baton_task tb, t;

	gated_init(&blocker, &block, 0);
	gated_init(&g, &gate, 1);
	tb = spawn_on(pool, gated_body, &blocker);
	wait_for(&blocker.started, 1);
	o = opts_on(pool);
	o.label = "the label";
	cr_assert_eq(baton_task_async_opts(&t, the_function_symbol_name, &g,
					   &o), 0);

	cr_assert_eq(baton_task_info(&t, &info), 0);
	cr_assert_eq(info.state, BATON_TASK_QUEUED);
	cr_assert_eq(info.fn, (const void *)(uintptr_t)the_function_symbol_name);
	cr_assert_str_eq(info.function, "the_function_symbol_name");
	cr_assert_not_null(info.label);
	cr_assert_str_eq(info.label, "the label");
	cr_assert_eq(info.owner_tid, gettid());
	cr_assert_eq(info.stop_requested, false);

	gate_open(&block);
	wait_for(&g.started, 1);
	cr_assert_eq(baton_task_info(&t, &info), 0);
	cr_assert_eq(info.state, BATON_TASK_RUNNING);
	cr_assert_str_eq(info.function, "the_function_symbol_name");

	gate_open(&gate);
	do {
		cr_assert_eq(baton_task_info(&t, &info), 0);
		sched_yield();
	} while (info.state != BATON_TASK_DONE);
	cr_assert_eq(info.owner_tid, gettid());
	cr_assert_eq(baton_task_await(&t, 0, NULL, NULL), 0);
	cr_assert_eq(baton_task_info(&t, &info), -ESTALE);
	cr_assert_eq(baton_task_await(&tb, LONG_MS, NULL, NULL), 0);
	baton_pool_destroy(pool);
}

Test(task, task_info_without_a_label_has_a_null_label, .timeout = 15)
{
	struct baton_task_info info;
	baton_task t;

	cr_assert_eq(baton_task_completed(&t, NULL, NULL), 0);
	cr_assert_eq(baton_task_info(&t, &info), 0);
	cr_assert_null(info.label);
	cr_assert_eq(info.state, BATON_TASK_DONE);
	cr_assert_eq(baton_task_ignore(&t, NULL, NULL), 0);
}

/* ------------------------------------------------------------------ */
/* Races: each value is handed over or freed, exactly once             */
/* ------------------------------------------------------------------ */

#define RACE_ROUNDS 600

static atomic_int race_freed[RACE_ROUNDS];
static atomic_int race_ran[RACE_ROUNDS];

static void
race_free(void *item)
{
	int i = *(int *)item;

	if (i >= 0 && i < RACE_ROUNDS)
		atomic_fetch_add(&race_freed[i], 1);
	free(item);
}

/* Busy for a round-dependent few hundred microseconds, ignoring stop. */
static void *
race_body(void *arg)
{
	int i = (int)(intptr_t)arg;

	atomic_fetch_add(&race_ran[i], 1);
	spin_us((i * 37) % 1500);
	return new_int(i);
}

Test(task, await_timing_out_as_the_task_completes_hands_over_or_frees_once,
     .timeout = 15)
{
	baton_pool *pool = make_pool(2);
	struct baton_task_opts o = { .pool = pool, .destroy = race_free };
	int taken[RACE_ROUNDS] = { 0 };
	int timed_out = 0, got = 0;

	for (int i = 0; i < RACE_ROUNDS; i++) {
		baton_task t;
		void *v = NULL;
		int rc;

		cr_assert_eq(baton_task_async_opts(&t, race_body, TOK(i), &o),
			     0);
		rc = baton_task_await(&t, i % 2, &v, NULL);
		if (rc == 0) {
			cr_assert_eq(int_of(v), i);
			taken[i]++;
			got++;
			free(v);
		} else {
			cr_assert_eq(rc, -ETIMEDOUT, "round %d: await %d", i,
				     rc);
			timed_out++;
		}
	}
	baton_pool_destroy(pool);
	for (int i = 0; i < RACE_ROUNDS; i++) {
		int freed = atomic_load(&race_freed[i]);
		int ran = atomic_load(&race_ran[i]);

		cr_assert_leq(ran, 1, "round %d ran %d times", i, ran);
		cr_assert_eq(taken[i] + freed, ran,
			     "round %d: taken %d, freed %d, ran %d", i,
			     taken[i], freed, ran);
		cr_assert(taken[i] == 1 || ran == freed,
			  "round %d: a timed-out value was not freed", i);
	}
	cr_log_info("await race: %d values taken, %d timed out", got,
		    timed_out);
	cr_assert_eq(got + timed_out, RACE_ROUNDS);
}

Test(task, shutdown_racing_completion_hands_over_or_frees_once, .timeout = 15)
{
	baton_pool *pool = make_pool(2);
	struct baton_task_opts o = { .pool = pool, .destroy = race_free };
	int taken[RACE_ROUNDS] = { 0 }, killed[RACE_ROUNDS] = { 0 };
	int outcomes[3] = { 0, 0, 0 };

	for (int i = 0; i < RACE_ROUNDS; i++) {
		struct baton_exit_reason why;
		baton_task t;
		void *v = NULL;
		int rc;

		cr_assert_eq(baton_task_async_opts(&t, race_body, TOK(i), &o),
			     0);
		spin_us((i * 53) % 1200);
		if (i % 2)
			rc = baton_task_shutdown(&t, 1, &v, &why);
		else
			rc = baton_task_shutdown_brutal(&t, &v, &why);
		switch (rc) {
		case 0:
			cr_assert_eq(int_of(v), i);
			taken[i] = 1;
			free(v);
			outcomes[0]++;
			break;
		case BATON_EXITED: /* still running at the timeout: killed */
			cr_assert(i % 2, "round %d: brutal gave an exit", i);
			cr_assert_eq(why.kind, BATON_EXIT_KILLED);
			killed[i] = 1;
			outcomes[1]++;
			break;
		case BATON_NOREPLY: /* stopped before it ran, or after */
			outcomes[2]++;
			break;
		default:
			cr_assert_fail("round %d: shutdown returned %d", i, rc);
		}
	}
	baton_pool_destroy(pool);
	for (int i = 0; i < RACE_ROUNDS; i++) {
		int freed = atomic_load(&race_freed[i]);
		int ran = atomic_load(&race_ran[i]);

		if (!taken[i] && !killed[i]) {
			/* nil: it never ran, or its value went to the destructor */
			cr_assert_eq(freed, ran, "round %d: ran %d, freed %d",
				     i, ran, freed);
		} else {
			cr_assert_eq(ran, 1, "round %d ran %d times", i, ran);
			cr_assert_eq(taken[i] + freed, 1,
				     "round %d: taken %d, freed %d", i,
				     taken[i], freed);
		}
	}
	cr_log_info("shutdown race: %d values, %d killed, %d nil",
		    outcomes[0], outcomes[1], outcomes[2]);
}

/*
 * yield_many's last replies racing its wake-up: 62 finished tasks and two
 * running ones that finish a few microseconds apart, so that the second
 * often completes while yield_many is still looking at the list after the
 * first woke it.  Every round, both must be reported.
 */
struct pair_race {
	atomic_int *go;
	int delay_ns;
};

static void *
pair_body(void *arg)
{
	struct pair_race *p = arg;
	int64_t until;

	wait_for(p->go, 1);
	until = now_ns() + p->delay_ns;
	while (now_ns() < until)
		continue;
	return NULL;
}

/*
 * Rounds alternate between 64 tasks (the most yield_many keeps on its
 * stack: a scan past the end leaves the array, which AddressSanitizer
 * reports) and 48 (a scan past the end reads a slot of that array that
 * scribble_stack filled, which faults in any build).
 */
#define PAIR_MAX 64

Test(task, yield_many_racing_the_last_replies_reports_every_task,
     .timeout = 15)
{
	baton_pool *pool = make_pool(2);
	int64_t until = now_ns() + 6 * NSEC_PER_SEC; /* on a slow machine */

	for (int round = 0; round < 80000 && now_ns() < until; round++) {
		size_t ntasks = round % 2 ? 48 : PAIR_MAX;
		atomic_int go = 0;
		struct pair_race p0 = { &go, 0 };
		/* Released together, or up to 1.5 us apart. */
		struct pair_race p1 = {
			&go, round / 2 % 2 ? (round / 4 % 16) * 100 : 0
		};
		struct baton_yield_result res[PAIR_MAX];
		struct baton_yield_many_opts o = { .timeout_ms = LONG_MS,
			.limit = BATON_NO_LIMIT };
		baton_task ts[PAIR_MAX];
		ptrdiff_t n;

		for (size_t i = 0; i < ntasks - 2; i++)
			cr_assert_eq(baton_task_completed(&ts[i], NULL, NULL),
				     0);
		ts[ntasks - 2] = spawn_on(pool, pair_body, &p0);
		ts[ntasks - 1] = spawn_on(pool, pair_body, &p1);
		atomic_store_explicit(&go, 1, memory_order_release);
		scribble_stack();
		n = baton_task_yield_many(ts, ntasks, &o, res);
		cr_assert_eq(n, (ptrdiff_t)ntasks,
			     "round %d: yield_many returned %td", round, n);
		for (size_t i = 0; i < ntasks; i++)
			cr_assert_eq(res[i].status, 0, "round %d: task %zu: %d",
				     round, i, res[i].status);
	}
	baton_pool_destroy(pool);
}

/* ------------------------------------------------------------------ */
/* Issue 13: where baton followed Elixir less closely                  */
/* ------------------------------------------------------------------ */

/* Item 1: limit 1 over three finished tasks reports one, touches none else. */
Test(task, yield_many_with_limit_reports_exactly_limit_replies_and_leaves_the_rest,
     .timeout = 15)
{
	baton_pool *pool = make_pool(1);
	struct baton_exit_reason why;
	struct baton_yield_result res[3];
	struct baton_yield_many_opts o = BATON_YIELD_MANY_OPTS_INIT;
	baton_task ts[3];
	void *v = NULL;

	cr_assert_eq(baton_task_completed(&ts[0], new_int(1), count_free), 0);
	ts[1] = spawn_on(pool, failing_body, TOK(6));
	cr_assert_eq(baton_task_completed(&ts[2], new_int(3), count_free), 0);
	wait_done(&ts[1]);
	o.timeout_ms = LONG_MS;
	o.limit = 1;
	cr_assert_eq(baton_task_yield_many(ts, 3, &o, res), 1);
	cr_assert_eq(res[0].status, 0);
	cr_assert_eq(int_of(res[0].value), 1);
	free(res[0].value);
	cr_assert_eq(res[1].status, -ETIMEDOUT, "a second reply was reported");
	cr_assert_eq(res[2].status, -ETIMEDOUT, "a third reply was reported");
	/* Not consumed: a later call still gets the failure and the value. */
	cr_assert_eq(baton_task_await(&ts[1], 0, NULL, &why), BATON_EXITED,
		     "the failure past the limit was consumed");
	cr_assert_eq(why.code, 6);
	cr_assert_eq(baton_task_await(&ts[2], 0, &v, NULL), 0);
	cr_assert_eq(int_of(v), 3);
	free(v);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&destroyed), 1); /* the failed body's value */
}

/* Item 6: the INIT macro holds Elixir's defaults; a zeroed limit is 0. */
Test(task, yield_many_opts_init_is_elixirs_defaults_and_a_zero_limit_is_einval,
     .timeout = 15)
{
	struct baton_yield_many_opts init = BATON_YIELD_MANY_OPTS_INIT;
	struct baton_yield_many_opts zero;
	struct baton_yield_result res[1];
	baton_task t;
	void *v = NULL;

	cr_assert_eq(init.timeout_ms, 5000);
	cr_assert_eq(init.limit, BATON_NO_LIMIT);
	cr_assert_eq(init.on_timeout, BATON_ON_TIMEOUT_NOTHING);
	memset(&zero, 0, sizeof(zero));
	cr_assert_eq(baton_task_completed(&t, new_int(4), count_free), 0);
	cr_assert_eq(baton_task_yield_many(&t, 1, &zero, res), -EINVAL,
		     "limit 0 is not 'no limit'");
	cr_assert_eq(baton_task_await(&t, 0, &v, NULL), 0);
	free(v);
}

/*
 * ISSUE-13 ITEM 4 (the fix is the lead's: src/pool.c grows the pool while
 * a body blocks; awaiters do not run queued bodies).  On a pool of one
 * base worker busy with a long body, a failing task queued behind it must
 * still end an await_many without a time limit at once.  The long body
 * gives up after 3 s, so a regression fails on the elapsed time instead
 * of hanging.  (A fixed pool, baton_pool_create, cannot grow: there the
 * call waits for the long body.)
 */
static baton_pool *
one_worker_growing_pool(void)
{
	struct baton_pool_opts o = BATON_POOL_OPTS_INIT;
	baton_pool *pool = NULL;

	o.workers = 1;
	o.max_threads = 4;
	cr_assert_eq(baton_pool_create_opts(&pool, &o), 0);
	return pool;
}

struct capped {
	atomic_int started;
	atomic_int release;
};

static void *
capped_body(void *arg)
{
	struct capped *c = arg;
	int64_t until = now_ns() + 3 * NSEC_PER_SEC;

	atomic_store_explicit(&c->started, 1, memory_order_release);
	while (!atomic_load(&c->release) && !baton_should_stop() &&
	       now_ns() < until)
		sleep_ms(1);
	return new_int(1);
}

Test(task, issue13_item4_await_many_infinity_returns_on_a_failure_queued_behind_a_long_body,
     .timeout = 15)
{
	baton_pool *pool = one_worker_growing_pool();
	struct baton_exit_reason why;
	struct capped c = { 0, 0 };
	baton_task ts[3];
	void *values[3];
	size_t failed = 99;
	int64_t start, ms;
	int rc;

	ts[0] = spawn_on(pool, capped_body, &c);
	wait_for(&c.started, 1);
	ts[1] = spawn_on(pool, double_it, TOK(1));
	ts[2] = spawn_on(pool, failing_body, TOK(8));
	start = now_ns();
	rc = baton_task_await_many(ts, 3, BATON_INFINITY, values, &failed,
				   &why);
	ms = ms_since(start);
	atomic_store(&c.release, 1);
	cr_assert_eq(rc, BATON_EXITED, "await_many returned %d", rc);
	cr_assert_eq(failed, 2);
	cr_assert_eq(why.code, 8);
	cr_assert_lt(ms, PROMPT_MS, "await_many took %jd ms", (intmax_t)ms);
	baton_pool_destroy(pool);
}

Test(task, issue13_item4_yield_many_infinity_returns_on_the_limit_queued_behind_a_long_body,
     .timeout = 15)
{
	baton_pool *pool = one_worker_growing_pool();
	struct capped c = { 0, 0 };
	struct gate gate = GATE_INIT;
	struct gated held;
	struct baton_yield_result res[3];
	struct baton_yield_many_opts o = BATON_YIELD_MANY_OPTS_INIT;
	baton_task ts[3];
	int64_t start, ms;
	ptrdiff_t n;
	void *v = NULL;

	gated_init(&held, &gate, 12);
	ts[0] = spawn_on(pool, capped_body, &c);
	wait_for(&c.started, 1);
	ts[1] = spawn_on(pool, double_it, TOK(5));
	/*
	 * Task 2 is held until the call returns: the pool may run it on a
	 * thread of its own, and a reply from it first would be the one
	 * reported.
	 */
	ts[2] = spawn_on(pool, gated_body, &held);
	o.timeout_ms = BATON_INFINITY;
	o.limit = 1;
	start = now_ns();
	n = baton_task_yield_many(ts, 3, &o, res);
	ms = ms_since(start);
	atomic_store(&c.release, 1);
	gate_open(&gate);
	cr_assert_eq(n, 1, "yield_many returned %td", n);
	cr_assert_lt(ms, PROMPT_MS, "yield_many took %jd ms", (intmax_t)ms);
	cr_assert_eq(res[0].status, -ETIMEDOUT);
	cr_assert_eq(res[1].status, 0);
	cr_assert_eq(int_of(res[1].value), 10);
	free(res[1].value);
	cr_assert_eq(res[2].status, -ETIMEDOUT);
	cr_assert_eq(baton_task_await(&ts[0], LONG_MS, &v, NULL), 0);
	free(v);
	cr_assert_eq(baton_task_await(&ts[2], LONG_MS, &v, NULL), 0);
	cr_assert_eq(int_of(v), 12);
	free(v);
	baton_pool_destroy(pool);
}

/* Item 5: Elixir's exit(:normal) is an exit with reason normal. */
static void *
exit_normal_body(void *arg)
{
	/* Refused: returning NULL as a value makes the test fail. */
	if (baton_exit(BATON_EXIT_NORMAL, 0, "done early") != 0)
		return NULL;
	return new_int((int)(intptr_t)arg); /* nobody's: to the destructor */
}

Test(task, a_body_that_exits_normal_is_awaited_as_an_exit_with_reason_normal,
     .timeout = 15)
{
	baton_pool *pool = make_pool(1);
	struct baton_exit_reason why =
	    BATON_EXIT_REASON(BATON_EXIT_ERROR, 0, NULL);
	baton_task t = spawn_on(pool, exit_normal_body, TOK(3));
	void *v = SENTINEL;

	cr_assert_eq(baton_task_await(&t, LONG_MS, &v, &why), BATON_EXITED);
	cr_assert_eq(why.kind, BATON_EXIT_NORMAL);
	cr_assert_str_eq(why.message, "done early");
	cr_assert_eq(v, SENTINEL, "an exit hands no value over");
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&destroyed), 1);
}

Test(task, yield_and_await_many_report_an_exit_normal_as_an_exit,
     .timeout = 15)
{
	baton_pool *pool = make_pool(2);
	struct baton_exit_reason why =
	    BATON_EXIT_REASON(BATON_EXIT_ERROR, 0, NULL);
	baton_task ts[2];
	void *values[2];
	size_t failed = 99;

	/*
	 * The reply must be in before the failure: a task still queued when
	 * await_many fails is stopped unrun, and its value never made.
	 */
	ts[0] = spawn_on(pool, double_it, TOK(1));
	wait_done(&ts[0]);
	ts[1] = spawn_on(pool, exit_normal_body, TOK(2));
	cr_assert_eq(baton_task_await_many(ts, 2, LONG_MS, values, &failed,
					   &why), BATON_EXITED);
	cr_assert_eq(failed, 1);
	cr_assert_eq(why.kind, BATON_EXIT_NORMAL);
	ts[0] = spawn_on(pool, exit_normal_body, TOK(2));
	why.kind = BATON_EXIT_ERROR;
	cr_assert_eq(baton_task_yield(&ts[0], LONG_MS, NULL, &why),
		     BATON_EXITED);
	cr_assert_eq(why.kind, BATON_EXIT_NORMAL);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&destroyed), 3);
}

/* Item 11: ignore hands a reply that already arrived back. */
Test(task, ignore_of_a_finished_task_returns_its_reply, .timeout = 15)
{
	baton_pool *pool = make_pool(1);
	baton_task t = spawn_on(pool, double_it, TOK(21));
	void *v = SENTINEL;

	wait_done(&t);
	cr_assert_eq(baton_task_ignore(&t, &v, NULL), 0);
	cr_assert_eq(int_of(v), 42);
	free(v);
	cr_assert_eq(baton_task_await(&t, 0, NULL, NULL), -ESTALE);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&destroyed), 0, "the reply was destroyed");
}

Test(task, ignore_of_a_failed_task_returns_its_exit_reason, .timeout = 15)
{
	baton_pool *pool = make_pool(1);
	struct baton_exit_reason why =
	    BATON_EXIT_REASON(BATON_EXIT_NORMAL, 0, NULL);
	baton_task t = spawn_on(pool, failing_body, TOK(5));
	void *v = SENTINEL;

	wait_done(&t);
	cr_assert_eq(baton_task_ignore(&t, &v, &why), BATON_EXITED);
	cr_assert_eq(why.kind, BATON_EXIT_ERROR);
	cr_assert_eq(why.code, 5);
	cr_assert_eq(v, SENTINEL);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&destroyed), 1);
}

/* Item 8: links.  A start_link task is stopped when its starter exits. */
struct linker {
	baton_pool *pool;
	struct coop *c;
	int rc;
};

static void *
start_linked_and_exit(void *arg)
{
	struct linker *l = arg;
	struct baton_task_opts o = opts_on(l->pool);

	l->rc = baton_task_start_link(coop_body, l->c, &o);
	if (l->rc == 0)
		wait_for(&l->c->started, 1);
	return NULL;
}

/* As coop_body, but also returns once c->finished is set from outside. */
static void *
coop_or_released(void *arg)
{
	struct coop *c = arg;

	atomic_store_explicit(&c->started, 1, memory_order_release);
	while (!baton_should_stop() && !atomic_load(&c->finished))
		sleep_ms(1);
	atomic_store(&c->saw_stop, baton_should_stop());
	return new_int(c->value);
}

static void *
start_unlinked_and_exit(void *arg)
{
	struct linker *l = arg;
	struct baton_task_opts o = opts_on(l->pool);

	l->rc = baton_task_start(coop_or_released, l->c, &o);
	if (l->rc == 0)
		wait_for(&l->c->started, 1);
	return NULL;
}

Test(task, a_start_link_task_is_stopped_when_its_starter_exits,
     .timeout = 15)
{
	baton_pool *pool = make_pool(2);
	struct coop linked, unlinked;
	struct linker a = { pool, &linked, INT_MIN };
	struct linker b = { pool, &unlinked, INT_MIN };
	pthread_t th;

	coop_init(&linked, 1, false);
	coop_init(&unlinked, 2, false);
	spawn_thread(&th, start_linked_and_exit, &a);
	join_thread(th);
	cr_assert_eq(a.rc, 0);
	wait_for(&linked.finished, 1);
	cr_assert_eq(atomic_load(&linked.saw_stop), 1);
	spawn_thread(&th, start_unlinked_and_exit, &b);
	join_thread(th);
	cr_assert_eq(b.rc, 0);
	sleep_ms(BLOCK_CHECK_MS);
	atomic_store(&unlinked.finished, 1);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&unlinked.saw_stop), 0,
		     "baton_task_start is not linked");
	cr_assert_eq(atomic_load(&destroyed), 2);
}

/* gated_body, then a failure with code 3. */
static void *
gated_failing(void *arg)
{
	void *v = gated_body(arg);

	baton_exit(BATON_EXIT_ERROR, 3, "failed after the gate");
	return v;
}

/* A trapping owner hears of a linked task's failure without awaiting. */
Test(task, a_trapping_owner_gets_an_exit_notice_for_a_failed_linked_task,
     .timeout = 15)
{
	baton_pool *pool = make_pool(1);
	struct baton_task_opts o = opts_on(pool);
	struct baton_exit_notice n;
	baton_task quiet, loud, ignored;
	struct gate g = GATE_INIT;
	struct gated held;

	cr_assert_eq(baton_exit_notice_next(0, &n), -ENOENT,
		     "not trapping, nothing queued");
	quiet = spawn_on(pool, failing_body, TOK(1)); /* before trapping */
	cr_assert_eq(baton_trap_exits(true), 0);
	cr_assert_eq(baton_exit_notice_next(0, NULL), -EINVAL);
	gated_init(&held, &g, 3);
	ignored = spawn_on(pool, gated_failing, &held); /* unlinked by ignore */
	cr_assert_eq(baton_task_ignore(&ignored, NULL, NULL), BATON_NOREPLY);
	cr_assert_eq(baton_task_async_opts(&loud, failing_body, TOK(2), &o), 0);
	cr_assert_eq(baton_task_start_link(failing_body, TOK(4), &o), 0);
	gate_open(&g);
	for (int k = 0; k < 2; k++) {
		cr_assert_eq(baton_exit_notice_next(LONG_MS, &n), 0);
		cr_assert_eq(n.reason.kind, BATON_EXIT_ERROR);
		cr_assert(n.reason.code == 2 || n.reason.code == 4,
			  "notice for code %d", n.reason.code);
		cr_assert_eq(n.task.fn, (const void *)(uintptr_t)failing_body);
	}
	cr_assert_eq(baton_exit_notice_next(50, &n), -ETIMEDOUT,
		     "only linked tasks started while trapping send notices");
	cr_assert_eq(baton_task_await(&loud, 0, NULL, NULL), BATON_EXITED,
		     "the notice does not consume the task");
	cr_assert_eq(baton_task_await(&quiet, LONG_MS, NULL, NULL),
		     BATON_EXITED);
	cr_assert_eq(baton_trap_exits(false), 0);
	baton_pool_destroy(pool);
}
