/*
 * test_future.c - Criterion unit tests for baton/future.h (shareable
 * futures and promises).
 *
 * One test per behaviour of the contract in include/baton/future.h, named
 * as a sentence.  Criterion forks a child per test, so globals start fresh;
 * the test thread does every assertion, and other threads (waiters,
 * fulfillers, callbacks, task bodies) only record what they saw in shared
 * structs for the test thread to check.
 *
 * Synchronisation is by handshakes: a body announces that it started and
 * waits on a gate the test opens; a helper thread announces that it is
 * about to wait.  A sleep appears only to give a thread that announced
 * itself time to block inside a call (the test then checks it has not
 * returned), or inside a body to make it slow.
 *
 * Values are malloc'd ints freed by count_free, which counts its calls: a
 * value nobody took must be freed exactly once, never early (the counts
 * are checked at the points where the contract fixes them), and
 * AddressSanitizer catches a second free or a leak.  Values that a test
 * takes, copies made by a clone function, and values a failed completion
 * leaves with the caller are freed with plain free(), so they never show
 * in the count.  Tests that use a private pool destroy it before their
 * final count: destroy joins the workers, and a worker drops its
 * reference to a future right after the body returns.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <errno.h>
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

#include <baton/future.h>
#include <baton/pool.h>
#include <baton/queue.h>
#include <baton/task.h>

#include "unit.h"

/* A long timeout that no passing test ever waits out. */
#define LONG_MS		10000

/* ------------------------------------------------------------------ */
/* Helpers (the shared ones are in unit.h)                             */
/* ------------------------------------------------------------------ */

static int
destroyed_now(void)
{
	return atomic_load(&destroyed);
}

/* A clone function that counts its calls. */
static atomic_int clones;

static void *
clone_int(const void *value)
{
	int *p = malloc(sizeof(*p));

	atomic_fetch_add(&clones, 1);
	if (p != NULL)
		*p = int_of(value);
	return p;
}

static void *
clone_fails(const void *value)
{
	(void)value;
	atomic_fetch_add(&clones, 1);
	return NULL;
}

/* Starts fn(arg) on pool; the value is freed through count_free. */
static baton_future *
start_on(baton_pool *pool, baton_task_fn fn, void *arg)
{
	struct baton_task_opts o = { .pool = pool, .destroy = count_free };
	baton_future *f = SENTINEL;
	int rc = baton_future_start(&f, fn, arg, &o);

	cr_assert_eq(rc, 0, "baton_future_start returned %d", rc);
	cr_assert_not_null(f);
	cr_assert_neq(f, SENTINEL);
	return f;
}

static void
make_promise(baton_promise **p, baton_future **f)
{
	int rc;

	*p = SENTINEL;
	*f = SENTINEL;
	rc = baton_promise_create(p, f);
	cr_assert_eq(rc, 0, "baton_promise_create returned %d", rc);
	cr_assert_not_null(*p);
	cr_assert_not_null(*f);
}

/* A completed future holding new_int(value), freed through count_free. */
static baton_future *
completed_future(int value)
{
	baton_promise *p;
	baton_future *f;

	make_promise(&p, &f);
	cr_assert_eq(baton_promise_fulfil(p, new_int(value), count_free), 0);
	baton_promise_destroy(p);
	return f;
}

static void
assert_cancelled(int rc, const struct baton_exit_reason *why)
{
	cr_assert_eq(rc, BATON_EXITED, "expected BATON_EXITED, got %d", rc);
	cr_assert_eq(why->kind, BATON_EXIT_SHUTDOWN, "kind %d", why->kind);
	cr_assert_eq(why->code, ECANCELED, "code %d", why->code);
}

/* ------------------------------------------------------------------ */
/* Task bodies                                                         */
/* ------------------------------------------------------------------ */

static void *
double_it(void *arg)
{
	return new_int(2 * (int)(intptr_t)arg);
}

/*
 * Occupies a pool worker until the gate opens; its value is freed with
 * plain free(), outside the count.
 */
static baton_future *
block_worker(baton_pool *pool, struct gated *g)
{
	struct baton_task_opts o = { .pool = pool, .destroy = free };
	baton_future *f = NULL;

	cr_assert_eq(baton_future_start(&f, gated_body, g, &o), 0);
	wait_for(&g->started, 1);
	return f;
}

/* A body that counts its runs. */
static atomic_int runs;

static void *
counted_body(void *arg)
{
	atomic_fetch_add(&runs, 1);
	return new_int((int)(intptr_t)arg);
}

/*
 * A cooperative body: polls baton_should_stop(), then lingers for
 * linger_ms (so a caller returning early would be caught), sets
 * `returning` as its last act and returns a value.
 */
struct coop {
	int value;
	int linger_ms;
	atomic_int started;
	atomic_int saw_stop;
	atomic_int returning;
};

static void *
coop_body(void *arg)
{
	struct coop *c = arg;

	atomic_store_explicit(&c->started, 1, memory_order_release);
	while (!baton_should_stop())
		sleep_ms(1);
	atomic_store(&c->saw_stop, 1);
	if (c->linger_ms > 0)
		sleep_ms(c->linger_ms);
	atomic_store_explicit(&c->returning, 1, memory_order_release);
	return new_int(c->value);
}

/* A body that fails through baton_exit, after a gate. */
struct exiter {
	struct gate *gate;
	atomic_int started;
	atomic_int exit_rc;
};

static const char exit_message[] = "the body gave up";

static void *
exiting_body(void *arg)
{
	struct exiter *e = arg;

	atomic_store_explicit(&e->started, 1, memory_order_release);
	gate_wait(e->gate);
	atomic_store(&e->exit_rc,
		     baton_exit(BATON_EXIT_ERROR, 77, exit_message));
	return new_int(1); /* the library frees it: nobody's value */
}

/* ------------------------------------------------------------------ */
/* Waiter threads                                                      */
/* ------------------------------------------------------------------ */

enum op { OP_WAIT, OP_BORROW, OP_TAKE, OP_COPY };

#define MAX_REPEAT 4

/*
 * A thread that calls one waiting operation `repeat` times on its own
 * reference, records each result, and drops the reference if told to.
 */
struct waiter {
	baton_future *f;
	enum op op;
	int timeout_ms;
	int repeat;
	bool unref_after;
	atomic_int started;
	atomic_int done;
	int rc[MAX_REPEAT];
	void *value[MAX_REPEAT];
	struct baton_exit_reason why[MAX_REPEAT];
	int64_t returned_ns;	/* when the last call returned */
	pthread_t th;
};

static void *
waiter_main(void *arg)
{
	struct waiter *w = arg;

	atomic_store_explicit(&w->started, 1, memory_order_release);
	for (int i = 0; i < w->repeat; i++) {
		w->value[i] = SENTINEL;
		memset(&w->why[i], 0, sizeof(w->why[i]));
		switch (w->op) {
		case OP_WAIT:
			w->rc[i] = baton_future_wait(w->f, w->timeout_ms);
			break;
		case OP_BORROW:
			w->rc[i] = baton_future_borrow(w->f, w->timeout_ms,
						       &w->value[i],
						       &w->why[i]);
			break;
		case OP_TAKE:
			w->rc[i] = baton_future_take(w->f, w->timeout_ms,
						     &w->value[i], &w->why[i]);
			break;
		case OP_COPY:
			w->rc[i] = baton_future_copy(w->f, w->timeout_ms,
						     clone_int, &w->value[i],
						     &w->why[i]);
			break;
		}
	}
	w->returned_ns = now_ns();
	if (w->unref_after)
		baton_future_unref(w->f);
	atomic_store_explicit(&w->done, 1, memory_order_release);
	return NULL;
}

static void
waiter_start(struct waiter *w, baton_future *f, enum op op, int timeout_ms,
	     int repeat, bool unref_after)
{
	memset(w, 0, sizeof(*w));
	w->f = f;
	w->op = op;
	w->timeout_ms = timeout_ms;
	w->repeat = repeat;
	w->unref_after = unref_after;
	spawn_thread(&w->th, waiter_main, w);
}

/* ------------------------------------------------------------------ */
/* Start, borrow, take, copy                                           */
/* ------------------------------------------------------------------ */

Test(future, start_then_borrow_lends_the_same_value_every_time,
     .timeout = 15)
{
	baton_pool *pool = make_pool(2);
	baton_future *f = start_on(pool, double_it, TOK(21));
	void *v1 = SENTINEL, *v2 = SENTINEL, *v3 = SENTINEL;

	cr_assert_eq(baton_future_borrow(f, LONG_MS, &v1, NULL), 0);
	cr_assert_eq(int_of(v1), 42);
	cr_assert_eq(baton_future_borrow(f, BATON_INFINITY, &v2, NULL), 0);
	cr_assert_eq(baton_future_borrow(f, 0, &v3, NULL), 0);
	cr_assert_eq(v1, v2, "a borrow lends the value in place");
	cr_assert_eq(v1, v3);
	cr_assert_eq(baton_future_wait(f, 0), 0);
	cr_assert(baton_future_is_done(f));
	cr_assert_eq(destroyed_now(), 0, "borrowing never frees the value");
	baton_future_unref(f);
	baton_pool_destroy(pool);
	cr_assert_eq(destroyed_now(), 1,
		     "the untaken value is freed once, by the last reference");
}

Test(future, take_hands_the_value_over_and_the_destructor_never_runs,
     .timeout = 15)
{
	baton_pool *pool = make_pool(2);
	baton_future *f = start_on(pool, double_it, TOK(5));
	void *v = SENTINEL;

	cr_assert_eq(baton_future_take(f, LONG_MS, &v, NULL), 0);
	cr_assert_eq(int_of(v), 10);
	baton_future_unref(f);
	baton_pool_destroy(pool);
	cr_assert_eq(destroyed_now(), 0, "a taken value is the taker's");
	free(v);
}

Test(future, borrow_copy_take_and_peek_after_a_take_return_ealready,
     .timeout = 15)
{
	baton_future *f = completed_future(7);
	void *v = SENTINEL, *w = SENTINEL;

	cr_assert_eq(baton_future_take(f, 0, &v, NULL), 0);
	cr_assert_eq(int_of(v), 7);
	cr_assert_eq(baton_future_take(f, 0, &w, NULL), -EALREADY);
	cr_assert_eq(baton_future_borrow(f, LONG_MS, &w, NULL), -EALREADY);
	cr_assert_eq(baton_future_copy(f, LONG_MS, clone_int, &w, NULL),
		     -EALREADY);
	cr_assert_eq(baton_future_peek(f, &w, NULL), -EALREADY);
	cr_assert_eq(atomic_load(&clones), 0, "no clone of a taken value");
	cr_assert_eq(w, SENTINEL, "a failed access leaves *value alone");
	cr_assert_eq(baton_future_wait(f, 0), 0, "still complete");
	baton_future_unref(f);
	cr_assert_eq(destroyed_now(), 0);
	free(v);
}

Test(future, copy_calls_clone_once_per_caller_and_the_copies_are_independent,
     .timeout = 15)
{
	baton_pool *pool = make_pool(2);
	struct gate gate = GATE_INIT;
	struct gated g;
	struct waiter w[3];
	baton_future *f;
	void *c1 = SENTINEL, *c2 = SENTINEL, *orig = SENTINEL;

	gated_init(&g, &gate, 42);
	f = start_on(pool, gated_body, &g);
	for (int i = 0; i < 3; i++)
		waiter_start(&w[i], baton_future_ref(f), OP_COPY, LONG_MS, 1,
			     true);
	for (int i = 0; i < 3; i++)
		wait_for(&w[i].started, 1);
	gate_open(&gate);
	cr_assert_eq(baton_future_copy(f, LONG_MS, clone_int, &c1, NULL), 0);
	cr_assert_eq(baton_future_copy(f, LONG_MS, clone_int, &c2, NULL), 0);
	for (int i = 0; i < 3; i++)
		join_thread(w[i].th);
	cr_assert_eq(baton_future_borrow(f, 0, &orig, NULL), 0);

	cr_assert_eq(atomic_load(&clones), 5, "one clone per copy call");
	cr_assert_neq(c1, c2);
	cr_assert_neq(c1, orig);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(w[i].rc[0], 0, "copier %d got %d", i, w[i].rc[0]);
		cr_assert_neq(w[i].value[0], orig);
		cr_assert_neq(w[i].value[0], c1);
		cr_assert_eq(int_of(w[i].value[0]), 42);
	}
	/* Independent: changing one copy changes neither the rest nor the
	 * original. */
	*(int *)c1 = -1;
	cr_assert_eq(int_of(c2), 42);
	cr_assert_eq(int_of(orig), 42);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(int_of(w[i].value[0]), 42);
		free(w[i].value[0]);
	}
	free(c1);
	free(c2);
	cr_assert_eq(destroyed_now(), 0);
	baton_future_unref(f);
	baton_pool_destroy(pool);
	cr_assert_eq(destroyed_now(), 1, "copies leave the original's fate "
					 "unchanged: freed once");
}

Test(future, copy_with_a_failing_clone_returns_enomem_and_keeps_the_value,
     .timeout = 15)
{
	baton_future *f = completed_future(3);
	void *c = SENTINEL, *v = SENTINEL;

	cr_assert_eq(baton_future_copy(f, 0, clone_fails, &c, NULL), -ENOMEM);
	cr_assert_eq(atomic_load(&clones), 1);
	cr_assert_eq(baton_future_borrow(f, 0, &v, NULL), 0);
	cr_assert_eq(int_of(v), 3);
	cr_assert_eq(baton_future_copy(f, 0, clone_int, &c, NULL), 0,
		     "a later copy still works");
	cr_assert_eq(int_of(c), 3);
	free(c);
	cr_assert_eq(destroyed_now(), 0);
	baton_future_unref(f);
	cr_assert_eq(destroyed_now(), 1);
}

Test(future, several_threads_wait_on_the_same_future_many_times,
     .timeout = 15)
{
	static const enum op ops[] = { OP_WAIT, OP_BORROW, OP_COPY,
				       OP_BORROW, OP_WAIT, OP_BORROW };
	enum { N = sizeof(ops) / sizeof(ops[0]) };
	baton_pool *pool = make_pool(2);
	struct gate gate = GATE_INIT;
	struct gated g;
	struct waiter w[N];
	baton_future *f;
	void *mine = SENTINEL;

	gated_init(&g, &gate, 42);
	f = start_on(pool, gated_body, &g);
	for (int i = 0; i < N; i++)
		waiter_start(&w[i], baton_future_ref(f), ops[i],
			     i % 2 ? BATON_INFINITY : LONG_MS, 3, true);
	for (int i = 0; i < N; i++)
		wait_for(&w[i].started, 1);
	sleep_ms(20); /* let them block */
	for (int i = 0; i < N; i++)
		cr_assert_eq(atomic_load(&w[i].done), 0,
			     "waiter %d returned before completion", i);
	gate_open(&gate);
	for (int i = 0; i < N; i++)
		join_thread(w[i].th);

	cr_assert_eq(baton_future_borrow(f, 0, &mine, NULL), 0);
	for (int i = 0; i < N; i++) {
		for (int k = 0; k < 3; k++) {
			cr_assert_eq(w[i].rc[k], 0, "waiter %d call %d: %d", i,
				     k, w[i].rc[k]);
			if (ops[i] == OP_BORROW)
				cr_assert_eq(w[i].value[k], mine);
			if (ops[i] == OP_COPY) {
				cr_assert_neq(w[i].value[k], mine);
				cr_assert_eq(int_of(w[i].value[k]), 42);
				free(w[i].value[k]);
			}
		}
	}
	cr_assert_eq(int_of(mine), 42);
	cr_assert_eq(destroyed_now(), 0,
		     "six references dropped, one left: nothing freed");
	baton_future_unref(f);
	baton_pool_destroy(pool);
	cr_assert_eq(destroyed_now(), 1);
}

Test(future, take_has_exactly_one_winner, .timeout = 15)
{
	enum { N = 8 };
	baton_pool *pool = make_pool(2);
	struct gate gate = GATE_INIT;
	struct gated g;
	struct waiter w[N];
	baton_future *f;
	int winners = 0;
	void *won = NULL;

	gated_init(&g, &gate, 42);
	f = start_on(pool, gated_body, &g);
	for (int i = 0; i < N; i++)
		waiter_start(&w[i], baton_future_ref(f), OP_TAKE, LONG_MS, 1,
			     true);
	for (int i = 0; i < N; i++)
		wait_for(&w[i].started, 1);
	gate_open(&gate);
	for (int i = 0; i < N; i++)
		join_thread(w[i].th);
	for (int i = 0; i < N; i++) {
		if (w[i].rc[0] == 0) {
			winners++;
			won = w[i].value[0];
		} else {
			cr_assert_eq(w[i].rc[0], -EALREADY,
				     "taker %d got %d", i, w[i].rc[0]);
			cr_assert_eq(w[i].value[0], SENTINEL);
		}
	}
	cr_assert_eq(winners, 1, "%d takers won", winners);
	cr_assert_eq(int_of(won), 42);
	baton_future_unref(f);
	baton_pool_destroy(pool);
	cr_assert_eq(destroyed_now(), 0, "the winner owns the value");
	free(won);
}

/* ------------------------------------------------------------------ */
/* Polling and timeouts                                                */
/* ------------------------------------------------------------------ */

Test(future, is_done_and_peek_report_eagain_while_pending, .timeout = 15)
{
	baton_pool *pool = make_pool(2);
	struct gate gate = GATE_INIT;
	struct gated g;
	struct baton_exit_reason why =
	    BATON_EXIT_REASON(BATON_EXIT_KILLED, 1, "untouched");
	baton_future *f;
	void *v = SENTINEL;

	gated_init(&g, &gate, 42);
	f = start_on(pool, gated_body, &g);
	wait_for(&g.started, 1);
	cr_assert_not(baton_future_is_done(f));
	cr_assert_eq(baton_future_peek(f, &v, &why), -EAGAIN);
	cr_assert_eq(v, SENTINEL);
	cr_assert_eq(why.kind, BATON_EXIT_KILLED, "reason untouched");
	gate_open(&gate);
	cr_assert_eq(baton_future_wait(f, LONG_MS), 0);
	cr_assert(baton_future_is_done(f));
	cr_assert_eq(baton_future_peek(f, &v, NULL), 0);
	cr_assert_eq(int_of(v), 42);
	baton_future_unref(f);
	baton_pool_destroy(pool);
	cr_assert_eq(destroyed_now(), 1);
}

Test(future, wait_with_a_zero_timeout_polls_without_blocking, .timeout = 15)
{
	baton_promise *p;
	baton_future *f;
	void *v = SENTINEL;
	int64_t t0;

	make_promise(&p, &f);
	t0 = now_ns();
	cr_assert_eq(baton_future_wait(f, 0), -ETIMEDOUT);
	cr_assert_eq(baton_future_borrow(f, 0, &v, NULL), -ETIMEDOUT);
	cr_assert_eq(baton_future_take(f, 0, &v, NULL), -ETIMEDOUT);
	cr_assert_eq(baton_future_copy(f, 0, clone_int, &v, NULL),
		     -ETIMEDOUT);
	cr_assert_lt(ms_since(t0), PROMPT_MS, "polls must not block");
	cr_assert_eq(v, SENTINEL);
	cr_assert_eq(atomic_load(&clones), 0);

	cr_assert_eq(baton_promise_fulfil(p, new_int(9), count_free), 0);
	cr_assert_eq(baton_future_wait(f, 0), 0);
	cr_assert_eq(baton_future_take(f, 0, &v, NULL), 0,
		     "a timed-out take took nothing");
	cr_assert_eq(int_of(v), 9);
	free(v);
	baton_promise_destroy(p);
	baton_future_unref(f);
	cr_assert_eq(destroyed_now(), 0);
}

Test(future, timed_waits_never_return_before_their_timeout, .timeout = 15)
{
	static const int timeouts[] = { 1, 7, 30, 80 };
	baton_promise *p;
	baton_future *f;

	make_promise(&p, &f);
	for (size_t i = 0; i < sizeof(timeouts) / sizeof(timeouts[0]); i++) {
		int ms = timeouts[i];

		for (int op = OP_WAIT; op <= OP_COPY; op++) {
			void *v = SENTINEL;
			int64_t t0 = now_ns(), elapsed;
			int rc = -1;

			switch ((enum op)op) {
			case OP_WAIT:
				rc = baton_future_wait(f, ms);
				break;
			case OP_BORROW:
				rc = baton_future_borrow(f, ms, &v, NULL);
				break;
			case OP_TAKE:
				rc = baton_future_take(f, ms, &v, NULL);
				break;
			case OP_COPY:
				rc = baton_future_copy(f, ms, clone_int, &v,
						       NULL);
				break;
			}
			elapsed = now_ns() - t0;
			cr_assert_eq(rc, -ETIMEDOUT, "op %d, %d ms: %d", op,
				     ms, rc);
			cr_assert_geq(elapsed, (int64_t)ms * NSEC_PER_MSEC,
				      "op %d returned after %lld ns of a %d ms "
				      "timeout", op, (long long)elapsed, ms);
			cr_assert_eq(v, SENTINEL);
		}
	}
	baton_promise_destroy(p);
	baton_future_unref(f);
}

Test(future, bad_arguments_return_einval, .timeout = 15)
{
	baton_future *f = completed_future(1), *out = SENTINEL;
	baton_promise *p = SENTINEL;
	void *v = SENTINEL;
	struct baton_exit_reason normal =
	    BATON_EXIT_REASON(BATON_EXIT_NORMAL, 0, NULL);

	cr_assert_eq(baton_future_start(NULL, double_it, NULL, NULL), -EINVAL);
	cr_assert_eq(baton_future_start(&out, NULL, NULL, NULL), -EINVAL);
	cr_assert_null(out, "*out is set to NULL first");
	cr_assert_eq(baton_future_wait(NULL, 0), -EINVAL);
	cr_assert_eq(baton_future_wait(f, -2), -EINVAL);
	cr_assert_eq(baton_future_borrow(f, -5, &v, NULL), -EINVAL);
	cr_assert_eq(baton_future_borrow(f, 0, NULL, NULL), -EINVAL);
	cr_assert_eq(baton_future_take(NULL, 0, &v, NULL), -EINVAL);
	cr_assert_eq(baton_future_copy(f, 0, NULL, &v, NULL), -EINVAL);
	cr_assert_eq(baton_future_peek(NULL, &v, NULL), -EINVAL);
	cr_assert_eq(baton_future_peek(f, NULL, NULL), -EINVAL);
	cr_assert_eq(baton_future_on_done(f, NULL, NULL, NULL), -EINVAL);
	cr_assert_eq(baton_future_on_done(NULL, (baton_future_cb)1, NULL,
					  NULL),
		     -EINVAL);
	out = SENTINEL;
	cr_assert_eq(baton_future_then(&out, NULL, (baton_then_fn)1, NULL,
				       NULL),
		     -EINVAL);
	cr_assert_null(out);
	cr_assert_eq(baton_future_then(NULL, f, (baton_then_fn)1, NULL, NULL),
		     -EINVAL);
	cr_assert_eq(baton_future_cancel(NULL), -EINVAL);
	cr_assert_eq(baton_future_cancel_wait(NULL, 0), -EINVAL);
	cr_assert_eq(baton_future_cancel_wait(f, -3), -EINVAL);
	cr_assert_eq(baton_promise_create(NULL, &out), -EINVAL);
	cr_assert_eq(baton_promise_create(&p, NULL), -EINVAL);
	cr_assert_eq(baton_promise_fulfil(NULL, NULL, NULL), -EINVAL);
	cr_assert_eq(baton_promise_fail(NULL, &normal), -EINVAL);
	cr_assert_not(baton_future_is_done(NULL));
	cr_assert_not(baton_promise_is_cancelled(NULL));
	cr_assert_eq(v, SENTINEL);
	baton_promise_destroy(NULL);
	baton_future_unref(f);
	cr_assert_eq(destroyed_now(), 1);
}

/* ------------------------------------------------------------------ */
/* References                                                          */
/* ------------------------------------------------------------------ */

Test(future, unref_of_a_pending_future_returns_at_once_and_frees_the_value_later,
     .timeout = 15)
{
	baton_pool *pool = make_pool(2);
	struct gate gate = GATE_INIT;
	struct gated g;
	baton_future *f;
	int64_t t0;

	gated_init(&g, &gate, 42);
	f = start_on(pool, gated_body, &g);
	wait_for(&g.started, 1);
	t0 = now_ns();
	baton_future_unref(f);
	cr_assert_lt(ms_since(t0), PROMPT_MS, "unref must not block");
	cr_assert_eq(atomic_load(&g.finished), 0,
		     "unref returned before the body finished");
	cr_assert_eq(destroyed_now(), 0);
	gate_open(&gate);
	wait_for(&g.finished, 1);
	baton_pool_destroy(pool); /* joins: the worker's unref is done */
	cr_assert_eq(destroyed_now(), 1,
		     "the value that arrived after the last handle went is "
		     "freed exactly once");
	cr_assert_eq(atomic_load(&g.saw_stop), 0,
		     "dropping a reference does not cancel the work");
}

Test(future, unref_of_a_pending_promise_future_frees_the_value_once_it_arrives,
     .timeout = 15)
{
	baton_promise *p;
	baton_future *f;

	make_promise(&p, &f);
	baton_future_unref(f);
	cr_assert_eq(baton_promise_fulfil(p, new_int(1), count_free), 0);
	cr_assert_eq(destroyed_now(), 0, "the promise still holds the cell");
	baton_promise_destroy(p);
	cr_assert_eq(destroyed_now(), 1);
}

Test(future, the_last_unref_frees_an_untaken_value_exactly_once,
     .timeout = 15)
{
	baton_future *f = completed_future(5);

	for (int i = 0; i < 3; i++)
		cr_assert_eq(baton_future_ref(f), f);
	for (int i = 0; i < 3; i++) {
		baton_future_unref(f);
		cr_assert_eq(destroyed_now(), 0, "freed after %d of 4 unrefs",
			     i + 1);
	}
	baton_future_unref(f);
	cr_assert_eq(destroyed_now(), 1);
}

Test(future, ref_returns_its_argument_and_unref_of_null_is_a_no_op,
     .timeout = 15)
{
	baton_future *f = completed_future(5);

	cr_assert_eq(baton_future_ref(f), f);
	cr_assert_null(baton_future_ref(NULL));
	baton_future_unref(NULL);
	baton_future_release(NULL);
	baton_future_unref(f);
	baton_future_unref(f);
	cr_assert_eq(destroyed_now(), 1);
}

/* ------------------------------------------------------------------ */
/* Futures in queues                                                   */
/* ------------------------------------------------------------------ */

Test(future, a_destroyed_queue_releases_the_futures_inside, .timeout = 15)
{
	baton_pool *pool = make_pool(2);
	struct gate gate = GATE_INIT;
	struct gated g;
	baton_queue *q = NULL;

	gated_init(&g, &gate, 42);
	cr_assert_eq(baton_queue_create(&q, 8, baton_future_release), 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(baton_queue_push(q, completed_future(i)), 0);
	cr_assert_eq(baton_queue_push(q, start_on(pool, gated_body, &g)), 0);
	wait_for(&g.started, 1);
	baton_queue_destroy(q);
	cr_assert_eq(destroyed_now(), 3,
		     "each completed future's value freed once");
	gate_open(&gate);
	baton_pool_destroy(pool);
	cr_assert_eq(destroyed_now(), 4,
		     "the pending one's value freed when it arrived");
}

Test(future, close_discard_releases_the_futures_inside, .timeout = 15)
{
	baton_queue *q = NULL;
	baton_future *kept = completed_future(99);
	void *v = SENTINEL;

	cr_assert_eq(baton_queue_create(&q, 8, baton_future_release), 0);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(baton_queue_push(q, completed_future(i)), 0);
	/* A second reference travels too: releasing it frees nothing. */
	cr_assert_eq(baton_queue_push(q, baton_future_ref(kept)), 0);
	cr_assert_eq(baton_queue_close_discard(q, NULL, NULL), 5);
	cr_assert_eq(destroyed_now(), 4);
	baton_queue_destroy(q);
	cr_assert_eq(destroyed_now(), 4);
	cr_assert_eq(baton_future_borrow(kept, 0, &v, NULL), 0);
	cr_assert_eq(int_of(v), 99);
	baton_future_unref(kept);
	cr_assert_eq(destroyed_now(), 5);
}

struct relay {
	baton_pool *pool;
	baton_queue *q;
	struct gated *g;
	atomic_int pushed;
	atomic_int popped;
	int push_rc, pop_rc, take_rc;
	void *value;
};

static void *
relay_producer(void *arg)
{
	struct relay *r = arg;
	struct baton_task_opts o = { .pool = r->pool, .destroy = count_free };
	baton_future *f = NULL;

	r->push_rc = baton_future_start(&f, gated_body, r->g, &o);
	if (r->push_rc == 0) {
		r->push_rc = baton_queue_push(r->q, f);
		if (r->push_rc != 0)
			baton_future_unref(f);
	}
	atomic_store_explicit(&r->pushed, 1, memory_order_release);
	return NULL;
}

static void *
relay_consumer(void *arg)
{
	struct relay *r = arg;
	void *item = NULL;

	r->value = SENTINEL;
	r->pop_rc = baton_queue_pop_timed(r->q, &item, LONG_MS);
	atomic_store_explicit(&r->popped, 1, memory_order_release);
	if (r->pop_rc != 0)
		return NULL;
	r->take_rc = baton_future_take(item, LONG_MS, &r->value, NULL);
	baton_future_unref(item);
	return NULL;
}

Test(future, a_pending_future_travels_through_a_queue_to_another_thread,
     .timeout = 15)
{
	baton_pool *pool = make_pool(2);
	struct gate gate = GATE_INIT;
	struct gated g;
	struct relay r = { 0 };
	pthread_t prod, cons;

	gated_init(&g, &gate, 42);
	r.pool = pool;
	r.g = &g;
	r.take_rc = -1;
	cr_assert_eq(baton_queue_create(&r.q, 4, baton_future_release), 0);
	spawn_thread(&cons, relay_consumer, &r);
	spawn_thread(&prod, relay_producer, &r);
	join_thread(prod);
	cr_assert_eq(r.push_rc, 0);
	wait_for(&r.popped, 1);
	cr_assert_eq(r.pop_rc, 0);
	cr_assert_eq(atomic_load(&g.finished), 0,
		     "the future crossed the queue while pending");
	gate_open(&gate);
	join_thread(cons);
	cr_assert_eq(r.take_rc, 0, "consumer's take: %d", r.take_rc);
	cr_assert_eq(int_of(r.value), 42);
	free(r.value);
	baton_queue_destroy(r.q);
	baton_pool_destroy(pool);
	cr_assert_eq(destroyed_now(), 0);
}

/* ------------------------------------------------------------------ */
/* Promises                                                            */
/* ------------------------------------------------------------------ */

struct fulfiller {
	baton_promise *p;
	atomic_int *go;		/* waits for it to reach 1, if not NULL */
	int value;
	int rc;
	atomic_int tid;
};

static void *
fulfiller_main(void *arg)
{
	struct fulfiller *fl = arg;

	if (fl->go != NULL)
		wait_for(fl->go, 1);
	atomic_store(&fl->tid, gettid());
	fl->rc = baton_promise_fulfil(fl->p, new_int(fl->value), count_free);
	return NULL;
}

Test(future, a_promise_fulfilled_from_another_thread_completes_the_future,
     .timeout = 15)
{
	baton_promise *p;
	baton_future *f;
	struct waiter w;
	atomic_int go = 0;
	struct fulfiller fl = { .go = &go, .value = 31 };
	pthread_t th;
	void *v = SENTINEL;

	make_promise(&p, &f);
	fl.p = p;
	waiter_start(&w, baton_future_ref(f), OP_BORROW, LONG_MS, 1, true);
	wait_for(&w.started, 1);
	spawn_thread(&th, fulfiller_main, &fl);
	atomic_store_explicit(&go, 1, memory_order_release);
	cr_assert_eq(baton_future_take(f, LONG_MS, &v, NULL), 0);
	join_thread(th);
	join_thread(w.th);
	cr_assert_eq(fl.rc, 0);
	cr_assert_eq(int_of(v), 31);
	cr_assert(w.rc[0] == 0 || w.rc[0] == -EALREADY,
		  "the borrower got %d", w.rc[0]);
	free(v);
	baton_promise_destroy(p);
	baton_future_unref(f);
	cr_assert_eq(destroyed_now(), 0);
}

Test(future, the_first_completion_wins_and_later_ones_keep_their_value,
     .timeout = 15)
{
	struct baton_exit_reason err =
	    BATON_EXIT_REASON(BATON_EXIT_ERROR, 5, "late");
	baton_promise *p;
	baton_future *f;
	void *second = new_int(2), *v = SENTINEL;

	make_promise(&p, &f);
	cr_assert_eq(baton_promise_fulfil(p, new_int(1), count_free), 0);
	cr_assert_eq(baton_promise_fulfil(p, second, count_free), -EALREADY);
	cr_assert_eq(baton_promise_fail(p, &err), -EALREADY);
	cr_assert_eq(baton_future_borrow(f, 0, &v, NULL), 0);
	cr_assert_eq(int_of(v), 1, "the first value stays");
	cr_assert_eq(int_of(second), 2, "the loser's value is untouched");
	free(second); /* still the caller's */
	baton_promise_destroy(p);
	cr_assert_eq(destroyed_now(), 0);
	baton_future_unref(f);
	cr_assert_eq(destroyed_now(), 1, "only the winning value is freed");
}

Test(future, a_failure_first_refuses_a_later_fulfil, .timeout = 15)
{
	struct baton_exit_reason err =
	    BATON_EXIT_REASON(BATON_EXIT_ERROR, 5, "first");
	struct baton_exit_reason why = { 0 };
	baton_promise *p;
	baton_future *f;
	void *late = new_int(2), *v = SENTINEL;

	make_promise(&p, &f);
	cr_assert_eq(baton_promise_fail(p, &err), 0);
	cr_assert_eq(baton_promise_fulfil(p, late, count_free), -EALREADY);
	cr_assert_eq(baton_future_borrow(f, 0, &v, &why), BATON_EXITED);
	cr_assert_eq(why.code, 5);
	free(late);
	baton_promise_destroy(p);
	baton_future_unref(f);
	cr_assert_eq(destroyed_now(), 0);
}

Test(future, fail_with_a_reason_reports_exited_with_that_reason,
     .timeout = 15)
{
	static const char msg[] = "disk on fire";
	struct baton_exit_reason err =
	    BATON_EXIT_REASON(BATON_EXIT_ERROR, 42, msg);
	baton_promise *p;
	baton_future *f;
	void *v = SENTINEL;

	make_promise(&p, &f);
	cr_assert_eq(baton_promise_fail(p, &err), 0);
	cr_assert_eq(baton_future_wait(f, 0), 0, "a failure completes it");
	for (int op = OP_BORROW; op <= OP_COPY + 1; op++) {
		struct baton_exit_reason why = { 0 };
		int rc;

		if (op == OP_BORROW)
			rc = baton_future_borrow(f, 0, &v, &why);
		else if (op == OP_TAKE)
			rc = baton_future_take(f, 0, &v, &why);
		else if (op == OP_COPY)
			rc = baton_future_copy(f, 0, clone_int, &v, &why);
		else
			rc = baton_future_peek(f, &v, &why);
		cr_assert_eq(rc, BATON_EXITED, "op %d: %d", op, rc);
		cr_assert_eq(why.kind, BATON_EXIT_ERROR);
		cr_assert_eq(why.code, 42);
		cr_assert_eq(why.message, msg);
	}
	cr_assert_eq(v, SENTINEL);
	cr_assert_eq(atomic_load(&clones), 0);
	/* Other kinds go through too. */
	baton_promise_destroy(p);
	baton_future_unref(f);
	make_promise(&p, &f);
	err = (struct baton_exit_reason)BATON_EXIT_REASON(BATON_EXIT_TIMEOUT, 0,
							 NULL);
	cr_assert_eq(baton_promise_fail(p, &err), 0);
	{
		struct baton_exit_reason why = { 0 };

		cr_assert_eq(baton_future_take(f, 0, &v, &why), BATON_EXITED);
		cr_assert_eq(why.kind, BATON_EXIT_TIMEOUT);
	}
	baton_promise_destroy(p);
	baton_future_unref(f);
}

Test(future, fail_with_normal_returns_einval_and_leaves_the_future_pending,
     .timeout = 15)
{
	struct baton_exit_reason normal =
	    BATON_EXIT_REASON(BATON_EXIT_NORMAL, 0, "fine");
	struct baton_exit_reason bogus =
	    BATON_EXIT_REASON((enum baton_exit_kind)99, 0, NULL);
	baton_promise *p;
	baton_future *f;
	void *v = SENTINEL;

	make_promise(&p, &f);
	cr_assert_eq(baton_promise_fail(p, &normal), -EINVAL);
	cr_assert_eq(baton_promise_fail(p, &bogus), -EINVAL);
	cr_assert_eq(baton_promise_fail(p, NULL), -EINVAL);
	cr_assert_not(baton_future_is_done(f));
	cr_assert_eq(baton_promise_fulfil(p, new_int(8), count_free), 0);
	cr_assert_eq(baton_future_borrow(f, 0, &v, NULL), 0);
	cr_assert_eq(int_of(v), 8);
	baton_promise_destroy(p);
	baton_future_unref(f);
	cr_assert_eq(destroyed_now(), 1);
}

Test(future, a_destroyed_promise_breaks_its_future_for_blocked_and_later_waiters,
     .timeout = 15)
{
	static const enum op ops[] = { OP_BORROW, OP_TAKE, OP_WAIT, OP_COPY };
	enum { N = sizeof(ops) / sizeof(ops[0]) };
	baton_promise *p;
	baton_future *f;
	struct waiter w[N];
	void *v = SENTINEL;
	int64_t destroyed_at;

	make_promise(&p, &f);
	for (int i = 0; i < N; i++)
		waiter_start(&w[i], baton_future_ref(f), ops[i],
			     i % 2 ? BATON_INFINITY : LONG_MS, 1, true);
	for (int i = 0; i < N; i++)
		wait_for(&w[i].started, 1);
	sleep_ms(BLOCK_CHECK_MS);
	for (int i = 0; i < N; i++)
		cr_assert_eq(atomic_load(&w[i].done), 0,
			     "waiter %d returned while the promise lived", i);
	destroyed_at = now_ns();
	baton_promise_destroy(p);
	for (int i = 0; i < N; i++)
		join_thread(w[i].th);
	for (int i = 0; i < N; i++) {
		int want = ops[i] == OP_WAIT ? 0 : -EPIPE;

		cr_assert_eq(w[i].rc[0], want, "waiter %d (op %d): %d", i,
			     ops[i], w[i].rc[0]);
		cr_assert_lt((w[i].returned_ns - destroyed_at) / NSEC_PER_MSEC,
			     PROMPT_MS, "waiter %d woke late", i);
	}
	/* Later waiters get it at once too. */
	cr_assert(baton_future_is_done(f));
	cr_assert_eq(baton_future_wait(f, LONG_MS), 0);
	cr_assert_eq(baton_future_borrow(f, LONG_MS, &v, NULL), -EPIPE);
	cr_assert_eq(baton_future_take(f, BATON_INFINITY, &v, NULL), -EPIPE);
	cr_assert_eq(baton_future_copy(f, LONG_MS, clone_int, &v, NULL),
		     -EPIPE);
	cr_assert_eq(baton_future_peek(f, &v, NULL), -EPIPE);
	cr_assert_eq(baton_future_cancel(f), -EALREADY);
	cr_assert_eq(v, SENTINEL);
	baton_future_unref(f);
	cr_assert_eq(destroyed_now(), 0);
}

/* ------------------------------------------------------------------ */
/* Callbacks                                                           */
/* ------------------------------------------------------------------ */

struct cb_rec {
	atomic_int calls;
	atomic_int tid;
	atomic_int peek_rc;
	atomic_int peek_value;
	atomic_int destroyed_then;	/* destructor count when it ran */
	baton_future *f;		/* the future it was registered on */
	atomic_int same_future;
};

static void
cb_init(struct cb_rec *c, baton_future *f)
{
	memset(c, 0, sizeof(*c));
	c->f = f;
	atomic_store(&c->peek_rc, -1);
	atomic_store(&c->peek_value, -1);
}

static void
record_cb(baton_future *f, void *ctx)
{
	struct cb_rec *c = ctx;
	void *v = NULL;
	int rc;

	atomic_store(&c->tid, gettid());
	atomic_store(&c->same_future, f == c->f);
	rc = baton_future_peek(f, &v, NULL);
	atomic_store(&c->peek_rc, rc);
	if (rc == 0)
		atomic_store(&c->peek_value, int_of(v));
	atomic_store(&c->destroyed_then, destroyed_now());
	atomic_fetch_add_explicit(&c->calls, 1, memory_order_release);
}

Test(future,
     callbacks_registered_before_completion_each_run_once_on_the_completing_thread,
     .timeout = 15)
{
	enum { N = 5 };
	baton_promise *p;
	baton_future *f;
	struct cb_rec cb[N];
	struct fulfiller fl = { .value = 11 };
	pthread_t th;

	make_promise(&p, &f);
	for (int i = 0; i < N; i++) {
		cb_init(&cb[i], f);
		cr_assert_eq(baton_future_on_done(f, record_cb, &cb[i], NULL),
			     0);
	}
	for (int i = 0; i < N; i++)
		cr_assert_eq(atomic_load(&cb[i].calls), 0, "ran early");
	fl.p = p;
	spawn_thread(&th, fulfiller_main, &fl);
	join_thread(th);
	cr_assert_eq(fl.rc, 0);
	for (int i = 0; i < N; i++) {
		cr_assert_eq(atomic_load(&cb[i].calls), 1,
			     "callback %d ran %d times", i,
			     atomic_load(&cb[i].calls));
		cr_assert_eq(atomic_load(&cb[i].tid), atomic_load(&fl.tid),
			     "callback %d ran off the completing thread", i);
		cr_assert(atomic_load(&cb[i].same_future));
		cr_assert_eq(atomic_load(&cb[i].peek_rc), 0,
			     "completion happens-before the callback");
		cr_assert_eq(atomic_load(&cb[i].peek_value), 11);
	}
	baton_promise_destroy(p);
	baton_future_unref(f);
	for (int i = 0; i < N; i++)
		cr_assert_eq(atomic_load(&cb[i].calls), 1, "ran again");
	cr_assert_eq(destroyed_now(), 1);
}

Test(future, a_callback_registered_after_completion_runs_before_on_done_returns,
     .timeout = 15)
{
	baton_future *f = completed_future(12);
	struct cb_rec cb;

	cb_init(&cb, f);
	cr_assert_eq(baton_future_on_done(f, record_cb, &cb, NULL), 0);
	cr_assert_eq(atomic_load(&cb.calls), 1, "it ran before the return");
	cr_assert_eq(atomic_load(&cb.tid), gettid(), "in the caller");
	cr_assert_eq(atomic_load(&cb.peek_value), 12);
	baton_future_unref(f);
	cr_assert_eq(atomic_load(&cb.calls), 1);
	cr_assert_eq(destroyed_now(), 1);
}

Test(future, a_callback_with_a_pool_runs_on_a_pool_worker, .timeout = 15)
{
	baton_pool *pool = make_pool(2);
	baton_future *done = completed_future(13);
	baton_promise *p;
	baton_future *f;
	struct cb_rec before, after;

	/* Registered after completion. */
	cb_init(&after, done);
	cr_assert_eq(baton_future_on_done(done, record_cb, &after, pool), 0);
	wait_for(&after.calls, 1);
	cr_assert_neq(atomic_load(&after.tid), gettid(),
		      "a pooled callback runs on a worker, not the caller");
	cr_assert_eq(atomic_load(&after.peek_value), 13);

	/* Registered before completion; the test thread completes. */
	make_promise(&p, &f);
	cb_init(&before, f);
	cr_assert_eq(baton_future_on_done(f, record_cb, &before, pool), 0);
	cr_assert_eq(baton_promise_fulfil(p, new_int(14), count_free), 0);
	wait_for(&before.calls, 1);
	cr_assert_neq(atomic_load(&before.tid), gettid(),
		      "not on the completing thread either");
	cr_assert_eq(atomic_load(&before.peek_value), 14);

	baton_promise_destroy(p);
	baton_future_unref(f);
	baton_future_unref(done);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&after.calls), 1);
	cr_assert_eq(atomic_load(&before.calls), 1);
	cr_assert_eq(destroyed_now(), 2);
}

Test(future, the_future_stays_alive_until_its_callback_ran, .timeout = 15)
{
	baton_pool *pool = make_pool(1);
	struct gate gate = GATE_INIT;
	struct gated blocker;
	baton_future *busy;
	baton_promise *p;
	baton_future *f;
	struct cb_rec cb;

	/* The pool's only worker is busy: the callback must wait for it. */
	gated_init(&blocker, &gate, 0);
	busy = block_worker(pool, &blocker);
	make_promise(&p, &f);
	cb_init(&cb, f);
	cr_assert_eq(baton_future_on_done(f, record_cb, &cb, pool), 0);
	baton_future_unref(f); /* the caller lets go right after */
	cr_assert_eq(baton_promise_fulfil(p, new_int(15), count_free), 0);
	baton_promise_destroy(p);
	cr_assert_eq(atomic_load(&cb.calls), 0);
	cr_assert_eq(destroyed_now(), 0,
		     "freed before its callback ran: the callback holds it");
	gate_open(&gate);
	wait_for(&cb.calls, 1);
	cr_assert_eq(atomic_load(&cb.peek_rc), 0);
	cr_assert_eq(atomic_load(&cb.peek_value), 15);
	cr_assert_eq(atomic_load(&cb.destroyed_then), 0);
	baton_future_unref(busy);
	baton_pool_destroy(pool);
	cr_assert_eq(destroyed_now(), 1, "freed once, after the callback");
}

/* ------------------------------------------------------------------ */
/* Continuations                                                       */
/* ------------------------------------------------------------------ */

static atomic_int then_calls;

static void *
add_ctx(void *value, void *ctx)
{
	atomic_fetch_add(&then_calls, 1);
	return new_int(int_of(value) + (int)(intptr_t)ctx);
}

static void *
times_ctx(void *value, void *ctx)
{
	atomic_fetch_add(&then_calls, 1);
	return new_int(int_of(value) * (int)(intptr_t)ctx);
}

static baton_future *
then_on(baton_future *f, baton_then_fn fn, int k, baton_pool *pool)
{
	struct baton_task_opts o = { .pool = pool, .destroy = count_free };
	baton_future *d = SENTINEL;
	int rc = baton_future_then(&d, f, fn, TOK(k), &o);

	cr_assert_eq(rc, 0, "baton_future_then returned %d", rc);
	cr_assert_not_null(d);
	return d;
}

Test(future, a_chain_of_three_thens_computes_the_right_value, .timeout = 15)
{
	baton_pool *pool = make_pool(2);
	struct gate gate = GATE_INIT;
	struct gated g;
	baton_future *f0, *f1, *f2, *f3;
	void *v = SENTINEL;

	gated_init(&g, &gate, 5);
	f0 = start_on(pool, gated_body, &g);
	f1 = then_on(f0, add_ctx, 1, pool);     /* 6 */
	f2 = then_on(f1, times_ctx, 10, pool);  /* 60 */
	f3 = then_on(f2, add_ctx, -3, NULL);    /* 57, on the default pool */
	/* The chain holds what it needs: drop the intermediate handles. */
	baton_future_unref(f0);
	baton_future_unref(f1);
	baton_future_unref(f2);
	cr_assert_eq(atomic_load(&then_calls), 0, "ran before its input");
	gate_open(&gate);
	cr_assert_eq(baton_future_take(f3, LONG_MS, &v, NULL), 0);
	cr_assert_eq(int_of(v), 57);
	cr_assert_eq(atomic_load(&then_calls), 3);
	free(v);
	baton_future_unref(f3);
	/*
	 * f3's completer, a default pool worker that destroy does not join,
	 * releases f2 (the last reference to its value) only after the take
	 * may have seen f3 done.
	 */
	wait_for(&destroyed, 3);
	baton_pool_destroy(pool);
	cr_assert_eq(destroyed_now(), 3,
		     "the three intermediate values are freed once each");
}

Test(future, then_on_a_failed_input_fails_the_same_way_without_running_fn,
     .timeout = 15)
{
	static const char msg[] = "input failed";
	struct baton_exit_reason err =
	    BATON_EXIT_REASON(BATON_EXIT_ERROR, 9, msg);
	baton_promise *p;
	baton_future *f, *early, *late;
	baton_future *both[2];

	make_promise(&p, &f);
	early = then_on(f, add_ctx, 1, NULL);
	cr_assert_eq(baton_promise_fail(p, &err), 0);
	late = then_on(f, add_ctx, 1, NULL);
	both[0] = early;
	both[1] = late;
	for (int i = 0; i < 2; i++) {
		struct baton_exit_reason why = { 0 };
		void *v = SENTINEL;

		cr_assert_eq(baton_future_borrow(both[i], LONG_MS, &v, &why),
			     BATON_EXITED, "then %d", i);
		cr_assert_eq(why.kind, BATON_EXIT_ERROR);
		cr_assert_eq(why.code, 9);
		cr_assert_eq(why.message, msg);
		baton_future_unref(both[i]);
	}
	cr_assert_eq(atomic_load(&then_calls), 0, "fn never runs");
	baton_promise_destroy(p);
	baton_future_unref(f);
}

Test(future, then_on_a_broken_promise_reports_epipe, .timeout = 15)
{
	baton_promise *p;
	baton_future *f, *early, *late;
	void *v = SENTINEL;

	make_promise(&p, &f);
	early = then_on(f, add_ctx, 1, NULL);
	baton_promise_destroy(p);
	late = then_on(f, add_ctx, 1, NULL);
	cr_assert_eq(baton_future_borrow(early, LONG_MS, &v, NULL), -EPIPE);
	cr_assert_eq(baton_future_take(late, LONG_MS, &v, NULL), -EPIPE);
	cr_assert_eq(v, SENTINEL);
	cr_assert_eq(atomic_load(&then_calls), 0);
	baton_future_unref(early);
	baton_future_unref(late);
	baton_future_unref(f);
}

Test(future, then_on_a_cancelled_input_fails_with_shutdown_ecanceled,
     .timeout = 15)
{
	baton_promise *p;
	baton_future *f, *d;
	struct baton_exit_reason why = { 0 };
	void *v = SENTINEL;

	make_promise(&p, &f);
	d = then_on(f, add_ctx, 1, NULL);
	cr_assert_eq(baton_future_cancel(f), 0);
	assert_cancelled(baton_future_borrow(d, LONG_MS, &v, &why), &why);
	cr_assert_eq(atomic_load(&then_calls), 0);
	baton_future_unref(d);
	baton_promise_destroy(p);
	baton_future_unref(f);
}

Test(future, cancelling_a_then_leaves_its_input_alone_and_fn_never_runs,
     .timeout = 15)
{
	baton_promise *p;
	baton_future *f, *d;
	struct baton_exit_reason why = { 0 };
	void *v = SENTINEL;

	make_promise(&p, &f);
	d = then_on(f, add_ctx, 1, NULL);
	cr_assert_eq(baton_future_cancel(d), 0);
	cr_assert(baton_future_is_done(d),
		  "a continuation waiting for its input completes at once");
	assert_cancelled(baton_future_borrow(d, 0, &v, &why), &why);
	cr_assert_not(baton_future_is_done(f));
	cr_assert_not(baton_promise_is_cancelled(p));
	cr_assert_eq(baton_promise_fulfil(p, new_int(4), count_free), 0);
	cr_assert_eq(baton_future_borrow(f, 0, &v, NULL), 0);
	cr_assert_eq(int_of(v), 4);
	baton_future_unref(d);
	baton_promise_destroy(p);
	baton_future_unref(f);
	cr_assert_eq(atomic_load(&then_calls), 0);
	cr_assert_eq(destroyed_now(), 1);
}

/*
 * The completing thread of a continuation publishes it as done, then
 * releases the continuation's input (running the input value's destructor
 * if that was the last reference), and only then runs the continuation's
 * callbacks.  A destructor that blocks holds the completer right there:
 * is_done() is already true, and a callback registered now must still
 * run at once, in the caller, before on_done returns.
 */
struct window {
	struct gate *gate;
	atomic_int entered;
};

static struct window *the_window;

static void
blocking_destroy(void *item)
{
	atomic_store_explicit(&the_window->entered, 1, memory_order_release);
	gate_wait(the_window->gate);
	count_free(item);
}

static struct gate *then_gate;

static void *
gated_add_ctx(void *value, void *ctx)
{
	gate_wait(then_gate);
	return add_ctx(value, ctx);
}

Test(future,
     a_callback_registered_once_is_done_is_true_runs_before_on_done_returns,
     .timeout = 15)
{
	baton_pool *pool = make_pool(1);
	struct gate destroy_gate = GATE_INIT, fn_gate = GATE_INIT;
	struct window w = { .gate = &destroy_gate };
	baton_promise *p;
	baton_future *f, *d;
	struct cb_rec cb;
	int calls_at_return, tid_at_return;
	void *v = SENTINEL;

	the_window = &w;
	then_gate = &fn_gate;
	make_promise(&p, &f);
	d = then_on(f, gated_add_ctx, 1, pool);
	baton_future_unref(f); /* the continuation holds its input */
	cr_assert_eq(baton_promise_fulfil(p, new_int(1), blocking_destroy), 0);
	baton_promise_destroy(p); /* now the continuation's is the last */
	gate_open(&fn_gate);
	/* d's completer is inside its completion, freeing the input. */
	wait_for(&w.entered, 1);
	cr_assert(baton_future_is_done(d));
	cr_assert_eq(baton_future_wait(d, 0), 0);
	cb_init(&cb, d);
	cr_assert_eq(baton_future_on_done(d, record_cb, &cb, NULL), 0);
	calls_at_return = atomic_load(&cb.calls);
	tid_at_return = atomic_load(&cb.tid);
	gate_open(&destroy_gate);
	wait_for(&cb.calls, 1);
	cr_assert_eq(baton_future_take(d, LONG_MS, &v, NULL), 0);
	cr_assert_eq(int_of(v), 2);
	free(v);
	baton_future_unref(d);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&cb.calls), 1);
	cr_assert_eq(destroyed_now(), 1);
	/*
	 * The completer was still inside its completion (its on_done hook,
	 * before the callback list closes) when is_done() turned true: a
	 * callback registered then still runs here, before on_done
	 * returns, not later on the completing thread.
	 */
	cr_assert_eq(calls_at_return, 1,
		     "is_done() was true, yet the callback had not run when "
		     "on_done returned (it ran later on the completing "
		     "thread)");
	cr_assert_eq(tid_at_return, gettid());
}

/* ------------------------------------------------------------------ */
/* Cancellation                                                        */
/* ------------------------------------------------------------------ */

Test(future, cancel_of_a_queued_future_never_runs_its_body, .timeout = 15)
{
	baton_pool *pool = make_pool(1);
	struct gate gate = GATE_INIT;
	struct gated blocker;
	baton_future *busy, *f;
	struct waiter w;
	struct baton_exit_reason why = { 0 };
	void *v = SENTINEL;

	gated_init(&blocker, &gate, 0);
	busy = block_worker(pool, &blocker);
	f = start_on(pool, counted_body, TOK(3));
	/* A timed waiter never helps: it is blocked when the cancel comes. */
	waiter_start(&w, baton_future_ref(f), OP_BORROW, LONG_MS, 1, true);
	wait_for(&w.started, 1);
	cr_assert_eq(baton_future_cancel(f), 0);
	cr_assert(baton_future_is_done(f), "a queued future completes at once");
	assert_cancelled(baton_future_borrow(f, 0, &v, &why), &why);
	join_thread(w.th);
	assert_cancelled(w.rc[0], &w.why[0]);
	cr_assert_eq(baton_future_cancel(f), -EALREADY);
	gate_open(&gate);
	baton_future_unref(busy);
	baton_future_unref(f);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&runs), 0, "the body never ran");
	cr_assert_eq(destroyed_now(), 0);
}

Test(future, cancel_of_a_running_cooperative_body_ends_it_cancelled_and_frees_its_value,
     .timeout = 15)
{
	baton_pool *pool = make_pool(2);
	struct coop c = { .value = 99 };
	baton_future *f = start_on(pool, coop_body, &c);
	struct baton_exit_reason why = { 0 };
	void *v = SENTINEL;

	wait_for(&c.started, 1);
	cr_assert_eq(baton_future_cancel(f), 0);
	cr_assert_eq(baton_future_wait(f, LONG_MS), 0);
	cr_assert(atomic_load(&c.saw_stop), "the body saw baton_should_stop");
	assert_cancelled(baton_future_borrow(f, 0, &v, &why), &why);
	assert_cancelled(baton_future_take(f, 0, &v, &why), &why);
	cr_assert_eq(v, SENTINEL);
	cr_assert_eq(destroyed_now(), 1,
		     "the value the cancelled body returned is freed");
	cr_assert_eq(baton_future_cancel(f), -EALREADY);
	baton_future_unref(f);
	baton_pool_destroy(pool);
	cr_assert_eq(destroyed_now(), 1, "and only once");
}

Test(future, cancel_of_a_completed_future_returns_ealready_and_keeps_the_value,
     .timeout = 15)
{
	baton_pool *pool = make_pool(2);
	baton_future *f = start_on(pool, double_it, TOK(8));
	void *v = SENTINEL;

	cr_assert_eq(baton_future_wait(f, LONG_MS), 0);
	cr_assert_eq(baton_future_cancel(f), -EALREADY);
	cr_assert_eq(baton_future_cancel_wait(f, 0), 0,
		     "nothing to wait for");
	cr_assert_eq(baton_future_borrow(f, 0, &v, NULL), 0);
	cr_assert_eq(int_of(v), 16);
	cr_assert_eq(destroyed_now(), 0);
	cr_assert_eq(baton_future_take(f, 0, &v, NULL), 0);
	free(v);
	baton_future_unref(f);
	baton_pool_destroy(pool);
	cr_assert_eq(destroyed_now(), 0);
}

Test(future, cancel_of_a_promise_future_wakes_waiters_and_refuses_a_later_fulfil,
     .timeout = 15)
{
	baton_promise *p;
	baton_future *f;
	struct waiter w;
	struct baton_exit_reason why = { 0 };
	void *late = new_int(6), *v = SENTINEL;

	make_promise(&p, &f);
	waiter_start(&w, baton_future_ref(f), OP_TAKE, BATON_INFINITY, 1,
		     true);
	wait_for(&w.started, 1);
	cr_assert_not(baton_promise_is_cancelled(p));
	cr_assert_eq(baton_future_cancel(f), 0);
	join_thread(w.th);
	assert_cancelled(w.rc[0], &w.why[0]);
	cr_assert(baton_promise_is_cancelled(p));
	cr_assert_eq(baton_promise_fulfil(p, late, count_free), -EALREADY);
	cr_assert_eq(int_of(late), 6, "the refused value is the caller's");
	assert_cancelled(baton_future_peek(f, &v, &why), &why);
	free(late);
	baton_promise_destroy(p);
	baton_future_unref(f);
	cr_assert_eq(destroyed_now(), 0);
}

Test(future, cancel_wait_returns_only_after_the_body_returned, .timeout = 15)
{
	baton_pool *pool = make_pool(2);
	struct coop c = { .value = 5, .linger_ms = 50 };
	baton_future *f = start_on(pool, coop_body, &c);
	struct baton_exit_reason why = { 0 };
	void *v = SENTINEL;

	wait_for(&c.started, 1);
	cr_assert_eq(baton_future_cancel_wait(f, LONG_MS), 0);
	cr_assert(atomic_load_explicit(&c.returning, memory_order_acquire),
		  "cancel_wait returned while the body was still running");
	assert_cancelled(baton_future_peek(f, &v, &why), &why);
	baton_future_unref(f);
	baton_pool_destroy(pool);
	cr_assert_eq(destroyed_now(), 1);
}

Test(future, cancel_wait_times_out_while_the_body_ignores_stop,
     .timeout = 15)
{
	baton_pool *pool = make_pool(2);
	struct gate gate = GATE_INIT;
	struct gated g;
	baton_future *f;
	struct baton_exit_reason why = { 0 };
	void *v = SENTINEL;
	int64_t t0, elapsed;

	gated_init(&g, &gate, 21);
	f = start_on(pool, gated_body, &g);
	wait_for(&g.started, 1);
	t0 = now_ns();
	cr_assert_eq(baton_future_cancel_wait(f, 50), -ETIMEDOUT);
	elapsed = now_ns() - t0;
	cr_assert_geq(elapsed, 50 * NSEC_PER_MSEC, "early: %lld ns",
		      (long long)elapsed);
	cr_assert_not(baton_future_is_done(f),
		      "a running body completes the cancel when it returns");
	cr_assert_eq(baton_future_cancel_wait(f, 0), -ETIMEDOUT);
	gate_open(&gate);
	cr_assert_eq(baton_future_cancel_wait(f, LONG_MS), 0);
	cr_assert(atomic_load(&g.saw_stop));
	assert_cancelled(baton_future_borrow(f, 0, &v, &why), &why);
	cr_assert_eq(destroyed_now(), 1, "its late value was freed");
	baton_future_unref(f);
	baton_pool_destroy(pool);
	cr_assert_eq(destroyed_now(), 1);
}

/* ------------------------------------------------------------------ */
/* Strict task to future                                               */
/* ------------------------------------------------------------------ */

Test(future, task_to_future_moves_the_task_into_a_future_another_thread_awaits,
     .timeout = 15)
{
	baton_pool *pool = make_pool(2);
	struct gate gate = GATE_INIT;
	struct gated g;
	struct baton_task_opts o = { .pool = pool, .destroy = count_free };
	struct baton_task_info info;
	baton_task t, copy;
	baton_future *f = SENTINEL, *again = SENTINEL;
	struct waiter w;
	void *v = SENTINEL;

	gated_init(&g, &gate, 42);
	cr_assert_eq(baton_task_async_opts(&t, gated_body, &g, &o), 0);
	copy = t;
	cr_assert_eq(baton_task_to_future(&t, &f), 0);
	cr_assert_not_null(f);
	cr_assert_neq(f, SENTINEL);
	/* The handle and every copy of it are consumed. */
	cr_assert_eq(baton_task_await(&t, 0, &v, NULL), -ESTALE);
	cr_assert_eq(baton_task_await(&copy, 0, &v, NULL), -ESTALE);
	cr_assert_eq(baton_task_info(&copy, &info), -ESTALE);
	cr_assert_eq(baton_task_ignore(&copy, NULL, NULL), -ESTALE);
	cr_assert_eq(baton_task_to_future(&copy, &again), -ESTALE);
	cr_assert_null(again);
	cr_assert_eq(v, SENTINEL);

	/* Another thread awaits it: the owner rule no longer applies. */
	waiter_start(&w, baton_future_ref(f), OP_TAKE, LONG_MS, 1, true);
	wait_for(&w.started, 1);
	gate_open(&gate);
	join_thread(w.th);
	cr_assert_eq(w.rc[0], 0, "the other thread's take: %d", w.rc[0]);
	cr_assert_eq(int_of(w.value[0]), 42);
	cr_assert_eq(atomic_load(&g.saw_stop), 0);
	free(w.value[0]);
	baton_future_unref(f);
	baton_pool_destroy(pool);
	cr_assert_eq(destroyed_now(), 0);
}

struct converter {
	baton_task *task;
	int rc;
	baton_future *out;
};

static void *
converter_main(void *arg)
{
	struct converter *cv = arg;

	cv->out = SENTINEL;
	cv->rc = baton_task_to_future(cv->task, &cv->out);
	return NULL;
}

Test(future, task_to_future_from_a_non_owner_returns_eperm, .timeout = 15)
{
	baton_pool *pool = make_pool(2);
	struct baton_task_opts o = { .pool = pool, .destroy = count_free };
	baton_task t;
	struct converter cv;
	pthread_t th;
	void *v = SENTINEL;

	cr_assert_eq(baton_task_async_opts(&t, double_it, TOK(4), &o), 0);
	cv.task = &t;
	spawn_thread(&th, converter_main, &cv);
	join_thread(th);
	cr_assert_eq(cv.rc, -EPERM);
	cr_assert_null(cv.out, "*out is set to NULL first");
	cr_assert_eq(baton_task_await(&t, LONG_MS, &v, NULL), 0,
		     "the owner still has its task");
	cr_assert_eq(int_of(v), 8);
	free(v);
	baton_pool_destroy(pool);
	cr_assert_eq(destroyed_now(), 0);
}

struct leaver {
	baton_pool *pool;
	struct gated *g;
	int rc;
	baton_future *f;
};

static void *
leaver_main(void *arg)
{
	struct leaver *l = arg;
	struct baton_task_opts o = { .pool = l->pool, .destroy = count_free };
	baton_task t;

	l->rc = baton_task_async_opts(&t, gated_body, l->g, &o);
	if (l->rc == 0)
		l->rc = baton_task_to_future(&t, &l->f);
	return NULL; /* exits: a still-owned task would be stopped now */
}

Test(future, a_converted_task_is_not_stopped_when_its_owner_thread_exits,
     .timeout = 15)
{
	baton_pool *pool = make_pool(2);
	struct gate gate = GATE_INIT;
	struct gated g;
	struct leaver l = { .pool = pool, .g = &g };
	pthread_t th;
	void *v = SENTINEL;

	gated_init(&g, &gate, 17);
	spawn_thread(&th, leaver_main, &l);
	join_thread(th);
	cr_assert_eq(l.rc, 0);
	wait_for(&g.started, 1);
	gate_open(&gate);
	cr_assert_eq(baton_future_take(l.f, LONG_MS, &v, NULL), 0);
	cr_assert_eq(int_of(v), 17);
	cr_assert_eq(atomic_load(&g.saw_stop), 0,
		     "the future is linked to nobody");
	free(v);
	baton_future_unref(l.f);
	baton_pool_destroy(pool);
	cr_assert_eq(destroyed_now(), 0);
}

/* ------------------------------------------------------------------ */
/* Failing bodies                                                      */
/* ------------------------------------------------------------------ */

Test(future, a_body_calling_baton_exit_fails_every_waiter_with_its_reason,
     .timeout = 15)
{
	static const enum op ops[] = { OP_BORROW, OP_TAKE, OP_COPY, OP_BORROW };
	enum { N = sizeof(ops) / sizeof(ops[0]) };
	baton_pool *pool = make_pool(2);
	struct gate gate = GATE_INIT;
	struct exiter e = { .gate = &gate };
	baton_future *f = start_on(pool, exiting_body, &e);
	struct waiter w[N];
	struct baton_exit_reason why = { 0 };
	void *v = SENTINEL;

	for (int i = 0; i < N; i++)
		waiter_start(&w[i], baton_future_ref(f), ops[i], LONG_MS, 2,
			     true);
	for (int i = 0; i < N; i++)
		wait_for(&w[i].started, 1);
	wait_for(&e.started, 1);
	gate_open(&gate);
	for (int i = 0; i < N; i++)
		join_thread(w[i].th);
	cr_assert_eq(atomic_load(&e.exit_rc), 0);
	for (int i = 0; i < N; i++) {
		for (int k = 0; k < 2; k++) {
			cr_assert_eq(w[i].rc[k], BATON_EXITED,
				     "waiter %d call %d: %d", i, k,
				     w[i].rc[k]);
			cr_assert_eq(w[i].why[k].kind, BATON_EXIT_ERROR);
			cr_assert_eq(w[i].why[k].code, 77);
			cr_assert_eq(w[i].why[k].message, exit_message);
			cr_assert_eq(w[i].value[k], SENTINEL);
		}
	}
	cr_assert_eq(baton_future_peek(f, &v, &why), BATON_EXITED);
	cr_assert_eq(why.code, 77);
	cr_assert_eq(atomic_load(&clones), 0);
	cr_assert_eq(destroyed_now(), 1,
		     "what the failed body returned is nobody's: freed");
	baton_future_unref(f);
	baton_pool_destroy(pool);
	cr_assert_eq(destroyed_now(), 1);
}

static void *
must_not_run(void *value, void *ctx)
{
	(void)ctx;
	cr_assert_fail("a continuation ran on an input that exited");
	return value;
}

static void *
exits_normal_with_value(void *arg)
{
	(void)arg;
	baton_exit(BATON_EXIT_NORMAL, 0, "nothing to say");
	return new_int(5); /* returned after the exit: nobody's */
}

Test(future, a_body_that_exits_normal_is_an_exit_for_every_reader,
     .timeout = 15)
{
	struct baton_task_opts o = { .destroy = count_free };
	struct baton_exit_reason why =
	    BATON_EXIT_REASON(BATON_EXIT_ERROR, 0, NULL);
	baton_future *f, *g;
	void *v = SENTINEL;

	cr_assert_eq(baton_future_start(&f, exits_normal_with_value, NULL, &o),
		     0);
	cr_assert_eq(baton_future_then(&g, f, must_not_run, NULL, NULL), 0);
	cr_assert_eq(baton_future_take(f, 10000, &v, &why), BATON_EXITED);
	cr_assert_eq(why.kind, BATON_EXIT_NORMAL);
	cr_assert_eq(v, SENTINEL, "an exit hands no value over");
	/* A continuation does not run on it: it exits the same way. */
	cr_assert_eq(baton_future_wait(g, 10000), 0);
	cr_assert_eq(baton_future_peek(g, &v, &why), BATON_EXITED);
	cr_assert_eq(why.kind, BATON_EXIT_NORMAL);
	baton_future_unref(g);
	baton_future_unref(f);
	/* Freed by the last reference: maybe the worker's, just after. */
	wait_for(&destroyed, 1);
	cr_assert_eq(atomic_load(&destroyed), 1, "the body's value is freed");
}
