/*
 * test_stream.c - Criterion unit tests for baton/stream.h.
 *
 * One test per behaviour of baton_task_async_stream, named as a sentence.
 * Criterion forks a child per test, so globals start fresh; the test thread
 * does every assertion, bodies only record what they saw in atomics.
 *
 * Inputs are tokens (small integers cast to pointers, never dereferenced);
 * values are malloc'd ints, so AddressSanitizer reports a value that is
 * leaked or freed twice.  Destructor calls are counted.
 *
 * Bodies synchronise with the test by handshakes (flags, counters); the
 * sleeps in some bodies are work that takes time, never synchronisation.
 * A body that "never returns" loops until baton_should_stop(), so that
 * the pool can still be shut down at the end of the test.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <baton/link.h>
#include <baton/pool.h>
#include <baton/stream.h>
#include <baton/task.h>

#include "unit.h"

#define MAX_INPUTS	128

/* ------------------------------------------------------------------ */
/* Helpers (the shared ones are in unit.h)                             */
/* ------------------------------------------------------------------ */

static void *inputs[MAX_INPUTS];

static void
init_inputs(void)
{
	for (size_t i = 0; i < MAX_INPUTS; i++)
		inputs[i] = TOK(i);
}

/* Waits until *counter reaches want; bounded by the Criterion timeout. */
static void
wait_for_count(atomic_size_t *counter, size_t want)
{
	while (atomic_load(counter) < want)
		sched_yield();
}

static void
wait_until_set(atomic_bool *flag)
{
	while (!atomic_load(flag))
		sched_yield();
}

/* A body that must not return before it is asked to stop. */
static void
spin_until_stopped(void)
{
	while (!baton_should_stop())
		sched_yield();
}

static void *
new_value(size_t v)
{
	size_t *p = malloc(sizeof(*p));

	cr_assert_not_null(p);
	*p = v;
	return p;
}

static baton_stream *
make_stream(size_t n, baton_task_fn fn, const struct baton_stream_opts *opts)
{
	baton_stream *s = NULL;
	int rc;

	init_inputs();
	rc = baton_task_async_stream(&s, inputs, n, fn, opts);
	cr_assert_eq(rc, 0, "async_stream(n %zu) returned %d", n, rc);
	cr_assert_not_null(s);
	return s;
}

/* Takes one element that must be a value; checks and frees it. */
static void
expect_value(baton_stream *s, size_t index, size_t value)
{
	struct baton_stream_item it;
	int rc = baton_stream_next(s, &it);

	cr_assert_eq(rc, 0, "next for item %zu returned %d", index, rc);
	cr_assert_eq(it.index, index, "got item %zu, expected %zu", it.index,
	    index);
	cr_assert_eq(UNTOK(it.input), index);
	cr_assert_eq(it.status, 0, "item %zu: status %d", index, it.status);
	cr_assert_not_null(it.value);
	cr_assert_eq(*(size_t *)it.value, value);
	free(it.value);
}

static void
expect_end(baton_stream *s)
{
	struct baton_stream_item it;

	cr_assert_eq(baton_stream_next(s, &it), -EPIPE);
	cr_assert_eq(baton_stream_next(s, &it), -EPIPE, "-EPIPE is sticky");
}

/* ------------------------------------------------------------------ */
/* Bodies                                                              */
/* ------------------------------------------------------------------ */

/* Doubles its input; later inputs finish sooner. */
static void *
double_it(void *arg)
{
	size_t i = UNTOK(arg);

	sleep_ms((int)((MAX_INPUTS - i) % 4));
	return new_value(2 * i);
}

/* Item 0 waits for `released`; the others double their input. */
static atomic_bool released;

static void *
zero_waits(void *arg)
{
	size_t i = UNTOK(arg);

	if (i == 0) {
		while (!atomic_load(&released) && !baton_should_stop())
			sched_yield();
	}
	return new_value(2 * i);
}

/* Counts concurrently running bodies; the first window meets. */
#define WINDOW 3
static atomic_size_t running, max_running;

static void *
count_running(void *arg)
{
	size_t i = UNTOK(arg);
	size_t now = atomic_fetch_add(&running, 1) + 1;
	size_t seen = atomic_load(&max_running);

	while (now > seen && !atomic_compare_exchange_weak(&max_running,
							   &seen, now))
		;
	if (i < WINDOW) {
		/* The first window runs at once: wait for all of it. */
		while (atomic_load(&max_running) < WINDOW &&
		    !baton_should_stop())
			sched_yield();
	} else {
		sleep_ms(1);
	}
	atomic_fetch_sub(&running, 1);
	return new_value(2 * i);
}

static void *
sleep_100ms(void *arg)
{
	sleep_ms(100);
	return new_value(2 * UNTOK(arg));
}

/* Item 2 runs until asked to stop; the others return at once. */
static atomic_bool saw_stop;

static void *
two_hangs(void *arg)
{
	size_t i = UNTOK(arg);

	if (i == 2) {
		spin_until_stopped();
		atomic_store(&saw_stop, true);
	}
	return new_value(2 * i);
}

/*
 * Item 0 returns once item 1 has started; items 1 and up run until they
 * are asked to stop.
 */
static atomic_bool one_started;
static atomic_size_t ran, stopped;

static void *
one_and_on_hang(void *arg)
{
	size_t i = UNTOK(arg);

	atomic_fetch_add(&ran, 1);
	if (i == 0) {
		wait_until_set(&one_started);
		return new_value(0);
	}
	if (i == 1)
		atomic_store(&one_started, true);
	spin_until_stopped();
	atomic_fetch_add(&stopped, 1);
	return new_value(2 * i);
}

/* Item 2 exits with a reason (and returns a value nobody may see). */
static void *
two_fails(void *arg)
{
	size_t i = UNTOK(arg);

	if (i == 2) {
		baton_exit(BATON_EXIT_ERROR, 42, "boom");
		return new_value(999);
	}
	return new_value(2 * i);
}

/* Items 0 and 1 return at once; the others run until asked to stop. */
static void *
two_quick_then_hang(void *arg)
{
	size_t i = UNTOK(arg);

	atomic_fetch_add(&ran, 1);
	if (i >= 2)
		spin_until_stopped();
	return new_value(2 * i);
}

/* Items 0 and 4 return at once; the others run until asked to stop. */
static void *
zero_and_four_quick(void *arg)
{
	size_t i = UNTOK(arg);

	atomic_fetch_add(&ran, 1);
	if (i != 0 && i != 4)
		spin_until_stopped();
	return new_value(2 * i);
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

Test(stream, ordered_results_follow_input_order, .timeout = 10)
{
	baton_pool *pool = make_pool(4);
	baton_stream *s = make_stream(32, double_it,
	    &(struct baton_stream_opts){ .pool = pool, .max_concurrency = 4,
	    .timeout_ms = BATON_DEFAULT_TIMEOUT });

	for (size_t i = 0; i < 32; i++)
		expect_value(s, i, 2 * i);
	expect_end(s);
	baton_stream_destroy(s);
	baton_pool_destroy(pool);
}

Test(stream, unordered_returns_every_element_once, .timeout = 10)
{
	bool seen[64] = { false };
	baton_stream *s = make_stream(64, double_it,
	    &(struct baton_stream_opts){ .unordered = true,
	    .max_concurrency = 5, .timeout_ms = BATON_INFINITY });

	for (size_t k = 0; k < 64; k++) {
		struct baton_stream_item it;
		int rc = baton_stream_next(s, &it);

		cr_assert_eq(rc, 0, "next #%zu returned %d", k, rc);
		cr_assert_lt(it.index, 64);
		cr_assert_not(seen[it.index], "item %zu returned twice",
		    it.index);
		seen[it.index] = true;
		cr_assert_eq(UNTOK(it.input), it.index);
		cr_assert_eq(it.status, 0);
		cr_assert_eq(*(size_t *)it.value, 2 * it.index);
		free(it.value);
	}
	expect_end(s);
	baton_stream_destroy(s);
}

Test(stream, unordered_hands_out_finished_items_before_slow_ones,
     .timeout = 10)
{
	baton_pool *pool = make_pool(4);
	baton_stream *s = make_stream(4, zero_waits,
	    &(struct baton_stream_opts){ .pool = pool, .unordered = true,
	    .max_concurrency = 4,
	    .timeout_ms = BATON_DEFAULT_TIMEOUT });
	bool seen[4] = { false };
	struct baton_stream_item it;

	/* Item 0 cannot finish before this returns. */
	cr_assert_eq(baton_stream_next(s, &it), 0);
	cr_assert_neq(it.index, 0, "the slow item came first");
	seen[it.index] = true;
	free(it.value);
	atomic_store(&released, true);
	for (size_t k = 1; k < 4; k++) {
		cr_assert_eq(baton_stream_next(s, &it), 0);
		cr_assert_not(seen[it.index]);
		seen[it.index] = true;
		cr_assert_eq(*(size_t *)it.value, 2 * it.index);
		free(it.value);
	}
	expect_end(s);
	baton_stream_destroy(s);
	baton_pool_destroy(pool);
}

Test(stream, max_concurrency_is_never_exceeded, .timeout = 10)
{
	baton_pool *pool = make_pool(8);
	baton_stream *s = make_stream(40, count_running,
	    &(struct baton_stream_opts){ .pool = pool,
	    .max_concurrency = WINDOW,
	    .timeout_ms = BATON_DEFAULT_TIMEOUT });

	for (size_t i = 0; i < 40; i++)
		expect_value(s, i, 2 * i);
	expect_end(s);
	cr_assert_eq(atomic_load(&max_running), WINDOW,
	    "at most %d bodies should run at once, and the first %d did; "
	    "saw %zu", WINDOW, WINDOW, atomic_load(&max_running));
	baton_stream_destroy(s);
	baton_pool_destroy(pool);
}

Test(stream, timeout_counts_from_when_the_item_starts_running,
     .timeout = 10)
{
	/*
	 * One worker, four items of 100 ms each, all in the window: the last
	 * one starts 300 ms after it was submitted, so a 250 ms clock that
	 * started at submission would expire.
	 */
	baton_pool *pool = make_pool(1);
	baton_stream *s = make_stream(4, sleep_100ms,
	    &(struct baton_stream_opts){ .pool = pool, .max_concurrency = 4,
	    .timeout_ms = 250 });

	for (size_t i = 0; i < 4; i++)
		expect_value(s, i, 2 * i);
	expect_end(s);
	baton_stream_destroy(s);
	baton_pool_destroy(pool);
}

Test(stream, kill_task_reports_the_timed_out_item_and_goes_on,
     .timeout = 10)
{
	baton_pool *pool = make_pool(4);
	baton_stream *s;
	struct baton_stream_item it;
	int64_t t0 = now_ns();

	s = make_stream(5, two_hangs, &(struct baton_stream_opts){
	    .pool = pool, .max_concurrency = 5, .timeout_ms = 100,
	    .on_timeout = BATON_STREAM_KILL_TASK, .destroy = count_free });
	expect_value(s, 0, 0);
	expect_value(s, 1, 2);
	cr_assert_eq(baton_stream_next(s, &it), 0);
	cr_assert_geq(now_ns() - t0, 100 * NSEC_PER_MSEC,
	    "the item timed out early");
	cr_assert_eq(it.index, 2);
	cr_assert_eq(UNTOK(it.input), 2);
	cr_assert_eq(it.status, BATON_EXITED);
	cr_assert_eq(it.reason.kind, BATON_EXIT_TIMEOUT);
	cr_assert_null(it.value);
	expect_value(s, 3, 6);
	expect_value(s, 4, 8);
	expect_end(s);
	baton_stream_destroy(s);

	/* The abandoned body was asked to stop; its value freed once. */
	wait_until_set(&saw_stop);
	wait_for(&destroyed, 1);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&destroyed), 1);
}

Test(stream, exit_on_timeout_fails_the_stream_and_stops_the_others,
     .timeout = 10)
{
	baton_pool *pool = make_pool(4);
	baton_stream *s;
	struct baton_stream_item it;

	s = make_stream(6, one_and_on_hang, &(struct baton_stream_opts){
	    .pool = pool, .max_concurrency = 2, .timeout_ms = 100,
	    .on_timeout = BATON_STREAM_EXIT, .destroy = count_free });
	expect_value(s, 0, 0);
	/*
	 * Handing item 0 over submitted item 2: let it start before item 1
	 * times out, or the failure stops it still queued and it never runs.
	 */
	wait_for_count(&ran, 3);
	memset(&it, 0, sizeof(it));
	cr_assert_eq(baton_stream_next(s, &it), -ETIMEDOUT);
	cr_assert_eq(it.index, 1, "the first item to expire is item 1");
	cr_assert_eq(UNTOK(it.input), 1);
	expect_end(s);

	/* Items 1 and 2 were running: stopped, values freed; 3-5 never ran. */
	wait_for_count(&stopped, 2);
	wait_for(&destroyed, 2);
	baton_stream_destroy(s);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&ran), 3);
	cr_assert_eq(atomic_load(&destroyed), 2);
}

Test(stream, failing_body_is_reported_with_its_reason_index_and_input,
     .timeout = 10)
{
	baton_stream *s;
	struct baton_stream_item it;

	s = make_stream(4, two_fails, &(struct baton_stream_opts){
	    .max_concurrency = 2, .destroy = count_free,
	    .timeout_ms = BATON_DEFAULT_TIMEOUT });
	expect_value(s, 0, 0);
	expect_value(s, 1, 2);
	cr_assert_eq(baton_stream_next(s, &it), 0);
	cr_assert_eq(it.index, 2);
	cr_assert_eq(UNTOK(it.input), 2);
	cr_assert_eq(it.status, BATON_EXITED);
	cr_assert_eq(it.reason.kind, BATON_EXIT_ERROR);
	cr_assert_eq(it.reason.code, 42);
	cr_assert_str_eq(it.reason.message, "boom");
	cr_assert_null(it.value);
	/* What the failed body returned went to the destructor. */
	cr_assert_eq(atomic_load(&destroyed), 1);
	expect_value(s, 3, 6);
	expect_end(s);
	baton_stream_destroy(s);
}

Test(stream, destroy_mid_stream_frees_every_value_exactly_once,
     .timeout = 10)
{
	baton_pool *pool = make_pool(4);
	baton_stream *s;

	s = make_stream(20, zero_and_four_quick, &(struct baton_stream_opts){
	    .pool = pool, .max_concurrency = 4, .destroy = count_free,
	    .timeout_ms = BATON_DEFAULT_TIMEOUT });
	/* Taken: the caller frees it. */
	expect_value(s, 0, 0);
	/* Items 1-4 fill the window; 4 finishes, nobody takes it. */
	wait_for_count(&ran, 5);
	baton_stream_destroy(s);

	/* Items 1-4 each leave one value, freed once; 5-19 never ran. */
	wait_for(&destroyed, 4);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&ran), 5);
	cr_assert_eq(atomic_load(&destroyed), 4);
}

Test(stream, destroy_never_runs_items_that_had_not_started, .timeout = 10)
{
	/* One worker, held by item 2: items 3 and 4 wait in its queue. */
	baton_pool *pool = make_pool(1);
	baton_stream *s;

	s = make_stream(5, two_quick_then_hang, &(struct baton_stream_opts){
	    .pool = pool, .max_concurrency = 5, .destroy = count_free,
	    .timeout_ms = BATON_DEFAULT_TIMEOUT });
	expect_value(s, 0, 0); /* lazy: the first next() starts them */
	wait_for_count(&ran, 3);
	baton_stream_destroy(s);
	/* Item 1 finished untaken, item 2 was stopped. */
	wait_for(&destroyed, 2);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&ran), 3);
	cr_assert_eq(atomic_load(&destroyed), 2);
}

struct foreign {
	baton_stream *s;
	int next_rc;
};

static void *
foreign_thread(void *arg)
{
	struct foreign *f = arg;
	struct baton_stream_item it;

	f->next_rc = baton_stream_next(f->s, &it);
	baton_stream_destroy(f->s); /* ignored: not the owner */
	return NULL;
}

static void *
destroy_only(void *arg)
{
	baton_stream_destroy(((struct foreign *)arg)->s);
	return NULL;
}

/* Counts its runs; returns 2 * input. */
static void *
counted_double(void *arg)
{
	atomic_fetch_add(&ran, 1);
	return new_value(2 * UNTOK(arg));
}

Test(stream, non_owner_next_gets_eperm_and_destroy_is_ignored,
     .timeout = 10)
{
	struct foreign f = { 0 };
	pthread_t th;

	f.s = make_stream(3, double_it, NULL);
	expect_value(f.s, 0, 0); /* the first next() makes this the owner */
	cr_assert_eq(pthread_create(&th, NULL, foreign_thread, &f), 0);
	cr_assert_eq(pthread_join(th, NULL), 0);
	cr_assert_eq(f.next_rc, -EPERM);
	/* Untouched for its owner. */
	for (size_t i = 1; i < 3; i++)
		expect_value(f.s, i, 2 * i);
	expect_end(f.s);
	baton_stream_destroy(f.s);
}

Test(stream, empty_input_ends_at_once_with_epipe, .timeout = 10)
{
	baton_stream *s = NULL;

	cr_assert_eq(baton_task_async_stream(&s, NULL, 0, double_it, NULL),
	    0);
	cr_assert_not_null(s);
	expect_end(s);
	baton_stream_destroy(s);
}

Test(stream, bad_arguments_are_rejected_with_einval, .timeout = 10)
{
	baton_stream *s = (baton_stream *)TOK(1);
	struct baton_stream_item it;

	init_inputs();
	cr_assert_eq(baton_task_async_stream(NULL, inputs, 1, double_it,
	    NULL), -EINVAL);
	cr_assert_eq(baton_task_async_stream(&s, inputs, 1, NULL, NULL),
	    -EINVAL);
	cr_assert_null(s, "*out is NULL after a failure");
	cr_assert_eq(baton_task_async_stream(&s, NULL, 1, double_it, NULL),
	    -EINVAL);
	cr_assert_eq(baton_task_async_stream(&s, inputs, 1, double_it,
	    &(struct baton_stream_opts){ .timeout_ms = -5,
	    .max_concurrency = BATON_SCHEDULERS }), -EINVAL);
	cr_assert_eq(baton_task_async_stream(&s, inputs, 1, double_it,
	    &(struct baton_stream_opts){
	    .on_timeout = (enum baton_stream_on_timeout)7,
	    .max_concurrency = BATON_SCHEDULERS, .timeout_ms = BATON_DEFAULT_TIMEOUT }), -EINVAL);
	cr_assert_null(s);
	cr_assert_eq(baton_stream_next(NULL, &it), -EINVAL);

	s = make_stream(1, double_it, NULL);
	cr_assert_eq(baton_stream_next(s, NULL), -EINVAL);
	expect_value(s, 0, 0);
	baton_stream_destroy(s);
	baton_stream_destroy(NULL);
}

/* Sums a stream over its input; runs as a task on a one-worker pool. */
static baton_pool *inner_pool;

static void *
sum_stream(void *arg)
{
	baton_stream *s = NULL;
	struct baton_stream_item it;
	size_t sum = 0;

	(void)arg;
	if (baton_task_async_stream(&s, inputs, 8, double_it,
	    &(struct baton_stream_opts){ .pool = inner_pool,
	    .max_concurrency = 4,
	    .timeout_ms = BATON_DEFAULT_TIMEOUT }) != 0)
		return NULL;
	while (baton_stream_next(s, &it) == 0) {
		if (it.status == 0) {
			sum += *(size_t *)it.value;
			free(it.value);
		}
	}
	baton_stream_destroy(s);
	return new_value(sum);
}

Test(stream, stream_inside_a_task_on_a_one_worker_pool_completes,
     .timeout = 10)
{
	baton_task t;
	void *v = NULL;

	init_inputs();
	inner_pool = make_pool(1);
	cr_assert_eq(baton_task_async_opts(&t, sum_stream, NULL,
	    &(struct baton_task_opts){ .pool = inner_pool }), 0);
	/* The only worker consumes the stream: it must run its items. */
	cr_assert_eq(baton_task_await(&t, BATON_INFINITY, &v, NULL), 0);
	cr_assert_not_null(v);
	cr_assert_eq(*(size_t *)v, 2 * (0 + 1 + 2 + 3 + 4 + 5 + 6 + 7));
	free(v);
	baton_pool_destroy(inner_pool);
}

/* A body that the owner runs itself tries to re-enter its stream. */
static baton_stream *reentered;
static atomic_int reenter_rc;
static atomic_bool blocker_go, blocker_started;

static void *
blocker(void *arg)
{
	(void)arg;
	atomic_store(&blocker_started, true);
	wait_until_set(&blocker_go);
	return NULL;
}

static void *
reenter(void *arg)
{
	struct baton_stream_item it;

	atomic_store(&reenter_rc, baton_stream_next(reentered, &it));
	baton_stream_destroy(reentered); /* ignored while next() runs */
	return new_value(2 * UNTOK(arg));
}

Test(stream, a_body_run_by_its_owner_cannot_reenter_the_stream,
     .timeout = 10)
{
	baton_pool *pool = make_pool(1);
	baton_task t;

	/* Keep the only worker busy so the owner helps (no time limit). */
	cr_assert_eq(baton_task_async_opts(&t, blocker, NULL,
	    &(struct baton_task_opts){ .pool = pool }), 0);
	/* Running, not queued: the worker could take the item before it. */
	wait_until_set(&blocker_started);
	reentered = make_stream(1, reenter, &(struct baton_stream_opts){
	    .pool = pool, .timeout_ms = BATON_INFINITY,
	    .max_concurrency = BATON_SCHEDULERS });
	expect_value(reentered, 0, 0);
	cr_assert_eq(atomic_load(&reenter_rc), -EDEADLK);
	expect_end(reentered);
	baton_stream_destroy(reentered);
	atomic_store(&blocker_go, true);
	cr_assert_eq(baton_task_await(&t, BATON_INFINITY, NULL, NULL), 0);
	baton_pool_destroy(pool);
}

/* A thread that starts a stream and exits without destroying it. */
static baton_stream *orphaned;

static void *
start_and_leave(void *arg)
{
	(void)arg;
	if (baton_task_async_stream(&orphaned, inputs, 6, one_and_on_hang,
	    &(struct baton_stream_opts){ .max_concurrency = 2,
	    .destroy = count_free,
	    .timeout_ms = BATON_DEFAULT_TIMEOUT }) == 0) {
		struct baton_stream_item it;

		/* Reading it makes this thread the owner; item 0 is ours. */
		if (baton_stream_next(orphaned, &it) == 0)
			free(it.value);
		wait_until_set(&one_started);
		/*
		 * Item 0 may have been popped but not yet started: leaving
		 * now would stop it before it ran.  Wait until it has run.
		 */
		wait_for_count(&ran, 2);
	}
	return NULL;
}

static void *
try_next(void *arg)
{
	struct baton_stream_item it;

	*(int *)arg = baton_stream_next(orphaned, &it);
	return NULL;
}

Test(stream, an_exited_owner_stops_its_items_and_leaves_the_stream_ownerless,
     .timeout = 10)
{
	pthread_t th;
	int rc = 0;

	init_inputs();
	cr_assert_eq(pthread_create(&th, NULL, start_and_leave, NULL), 0);
	cr_assert_eq(pthread_join(th, NULL), 0);
	cr_assert_not_null(orphaned);
	/* Items 0 and 1 ran; item 1 was stopped and its value freed. */
	wait_for_count(&stopped, 1);
	wait_for(&destroyed, 1);
	/* A later thread (maybe on the owner's old record) is refused. */
	cr_assert_eq(pthread_create(&th, NULL, try_next, &rc), 0);
	cr_assert_eq(pthread_join(th, NULL), 0);
	cr_assert_eq(rc, -EPERM);
	cr_assert_eq(try_next(&rc), NULL);
	cr_assert_eq(rc, -EPERM);
	/* Ownerless: any thread may free it. */
	baton_stream_destroy(orphaned);
	/*
	 * Items 0 and 1 ran.  Item 2 may have started too: handing item 0
	 * over refilled the window, and a pool that adds a thread while
	 * item 1 spins (under valgrind it looks blocked) can run it before
	 * the owner left.  Nothing past the window ever starts.
	 */
	cr_assert_geq(atomic_load(&ran), 2);
	cr_assert_leq(atomic_load(&ran), 3);
}

/* ------------------------------------------------------------------ */
/* Issue 13, item 6: one rule for option structs                       */
/* ------------------------------------------------------------------ */

/* A body that runs until asked to stop. */
static void *
hang_until_stopped(void *arg)
{
	spin_until_stopped();
	return new_value(UNTOK(arg));
}

/* Elixir's timeout: 0 times an item out as soon as it runs. */
Test(stream, a_timeout_of_zero_times_an_item_out_at_once, .timeout = 10)
{
	baton_pool *pool = make_pool(2);
	struct baton_stream_opts o = BATON_STREAM_OPTS_INIT;
	struct baton_stream_item it;
	baton_stream *s;
	int64_t t0;

	o.pool = pool;
	o.timeout_ms = 0;
	o.destroy = count_free;
	t0 = now_ns();
	s = make_stream(1, hang_until_stopped, &o);
	cr_assert_eq(baton_stream_next(s, &it), -ETIMEDOUT);
	cr_assert_lt(now_ns() - t0, PROMPT_MS * NSEC_PER_MSEC,
	    "timeout 0 waited like the 5000 ms default");
	cr_assert_eq(it.index, 0);
	cr_assert_eq(baton_stream_next(s, &it), -EPIPE);
	baton_stream_destroy(s);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&destroyed), 1);
}

Test(stream, opts_init_is_elixirs_defaults_and_zero_concurrency_is_einval,
     .timeout = 10)
{
	struct baton_stream_opts o = BATON_STREAM_OPTS_INIT;
	struct baton_stream_opts zero;
	baton_stream *s = (baton_stream *)&s;

	cr_assert_null(o.pool);
	cr_assert_eq(o.max_concurrency, BATON_SCHEDULERS);
	cr_assert_eq(o.unordered, false);
	cr_assert_eq(o.timeout_ms, BATON_DEFAULT_TIMEOUT);
	cr_assert_eq(o.on_timeout, BATON_STREAM_EXIT);
	cr_assert_null(o.destroy);
	init_inputs();
	memset(&zero, 0, sizeof(zero));
	cr_assert_eq(baton_task_async_stream(&s, inputs, 1, double_it, &zero),
	    -EINVAL, "max_concurrency 0 must be refused");
	cr_assert_null(s);
	o.max_concurrency = 0;
	cr_assert_eq(baton_task_async_stream(&s, inputs, 1, double_it, &o),
	    -EINVAL);
}

/* ------------------------------------------------------------------ */
/* Issue 13, item 7: a stream is lazy and runs where it is read        */
/* ------------------------------------------------------------------ */

struct consumer {
	baton_stream *s;
	size_t sum;
	int end_rc;
};

static void *
consume_all(void *arg)
{
	struct consumer *c = arg;
	struct baton_stream_item it;
	int rc;

	while ((rc = baton_stream_next(c->s, &it)) == 0) {
		c->sum += *(size_t *)it.value;
		free(it.value);
	}
	c->end_rc = rc;
	baton_stream_destroy(c->s); /* the consumer owns it */
	return NULL;
}

Test(stream, nothing_runs_before_the_first_next_and_the_reader_owns_it,
     .timeout = 10)
{
	baton_pool *pool = make_pool(2);
	struct baton_stream_opts o = BATON_STREAM_OPTS_INIT;
	struct consumer c = { NULL, 0, 0 };
	pthread_t th;

	o.pool = pool;
	o.max_concurrency = 2;
	c.s = make_stream(6, counted_double, &o);
	sleep_ms(BLOCK_CHECK_MS);
	cr_assert_eq(atomic_load(&ran), 0, "a stream started before it was read");
	cr_assert_eq(pthread_create(&th, NULL, consume_all, &c), 0);
	cr_assert_eq(pthread_join(th, NULL), 0);
	cr_assert_eq(c.end_rc, -EPIPE);
	cr_assert_eq(c.sum, 2 * (0 + 1 + 2 + 3 + 4 + 5));
	cr_assert_eq(atomic_load(&ran), 6);
	baton_pool_destroy(pool);
}

Test(stream, a_stream_never_read_runs_nothing_and_any_thread_may_free_it,
     .timeout = 10)
{
	baton_pool *pool = make_pool(1);
	struct baton_stream_opts o = BATON_STREAM_OPTS_INIT;
	struct foreign f = { 0 };
	pthread_t th;

	o.pool = pool;
	f.s = make_stream(3, counted_double, &o);
	/* Another thread's destroy of an unread stream frees it. */
	cr_assert_eq(pthread_create(&th, NULL, destroy_only, &f), 0);
	cr_assert_eq(pthread_join(th, NULL), 0);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&ran), 0);
}

/* Item 7: input produced on demand, possibly endless. */
struct counting_gen {
	size_t next, limit; /* limit SIZE_MAX: endless */
	size_t calls;
};

static bool
count_up(void *ctx, void **input)
{
	struct counting_gen *g = ctx;

	g->calls++;
	if (g->next == g->limit)
		return false;
	*input = TOK(g->next++);
	return true;
}

Test(stream, a_finite_generator_is_mapped_in_order_and_then_ends,
     .timeout = 10)
{
	baton_pool *pool = make_pool(2);
	struct baton_stream_opts o = BATON_STREAM_OPTS_INIT;
	struct counting_gen g = { 0, 5, 0 };
	baton_stream *s = NULL;

	o.pool = pool;
	o.max_concurrency = 2;
	cr_assert_eq(baton_task_async_stream_gen(&s, count_up, &g, double_it,
	    &o), 0);
	cr_assert_eq(g.calls, 0, "the generator ran before the first next");
	for (size_t i = 0; i < 5; i++)
		expect_value(s, i, 2 * i);
	expect_end(s);
	cr_assert_eq(g.calls, 6, "five inputs and the end");
	baton_stream_destroy(s);
	baton_pool_destroy(pool);
	cr_assert_eq(baton_task_async_stream_gen(&s, NULL, &g, double_it,
	    NULL), -EINVAL);
}

/* A body that returns at once for inputs below 3, else waits for a stop. */
static void *
first_three_then_hang(void *arg)
{
	size_t i = UNTOK(arg);

	atomic_fetch_add(&ran, 1);
	if (i >= 3)
		spin_until_stopped();
	return new_value(2 * i);
}

Test(stream, an_endless_generator_is_read_on_demand_and_stopped_by_destroy,
     .timeout = 10)
{
	baton_pool *pool = make_pool(4);
	struct baton_stream_opts o = BATON_STREAM_OPTS_INIT;
	struct counting_gen g = { 0, SIZE_MAX, 0 };
	baton_stream *s = NULL;

	o.pool = pool;
	o.max_concurrency = 3;
	o.destroy = count_free;
	cr_assert_eq(baton_task_async_stream_gen(&s, count_up, &g,
	    first_three_then_hang, &o), 0);
	for (size_t i = 0; i < 3; i++)
		expect_value(s, i, 2 * i);
	/* Items 3, 4, 5 fill the window and hang; nothing more is read. */
	wait_for_count(&ran, 6);
	sleep_ms(BLOCK_CHECK_MS);
	cr_assert_leq(g.next, 6, "the generator was read %zu ahead", g.next);
	/* Halting early stops the running items and frees their values. */
	baton_stream_destroy(s);
	wait_for(&destroyed, 3);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&ran), 6);
	cr_assert_eq(atomic_load(&destroyed), 3);
}

/* ------------------------------------------------------------------ */
/* Links                                                               */
/* ------------------------------------------------------------------ */

/* Fails for input 1 (and abandons a stop request for input 2). */
static void *
fail_1_hang_2(void *arg)
{
	size_t i = UNTOK(arg);

	if (i == 1) {
		baton_exit(BATON_EXIT_ERROR, EIO, "item 1 failed");
		return NULL;
	}
	if (i == 2) {
		spin_until_stopped();
		baton_exit(BATON_EXIT_ERROR, ECANCELED, "item 2 stopped");
		return NULL;
	}
	return new_value(i);
}

Test(stream, items_are_linked_a_trapping_owner_hears_a_failure,
     .timeout = 10)
{
	struct baton_stream_opts o = BATON_STREAM_OPTS_INIT;
	struct baton_stream_item it;
	struct baton_exit_notice n;
	baton_stream *s;

	cr_assert_eq(baton_trap_exits(true), 0);
	o.pool = make_pool(3);
	o.max_concurrency = 3;
	o.timeout_ms = 100;
	o.on_timeout = BATON_STREAM_KILL_TASK;
	s = make_stream(3, fail_1_hang_2, &o);
	expect_value(s, 0, 0);
	cr_assert_eq(baton_stream_next(s, &it), 0);
	cr_assert_eq(it.status, BATON_EXITED);
	cr_assert_eq(it.reason.code, EIO);
	cr_assert_eq(baton_stream_next(s, &it), 0);
	cr_assert_eq(it.reason.kind, BATON_EXIT_TIMEOUT);
	expect_end(s);
	baton_stream_destroy(s);
	baton_pool_destroy(o.pool); /* item 2's body has ended, and failed */
	/* Queued before the stream handed the element out: a poll finds it. */
	cr_assert_eq(baton_exit_notice_next(0, &n), 0);
	cr_assert_eq(n.reason.code, EIO);
	cr_assert_str_eq(n.task.label, "baton_stream");
	/* Item 2, killed at its timeout, was unlinked by the stream. */
	cr_assert_eq(baton_exit_notice_next(0, &n), -ETIMEDOUT);
}
