/*
 * test_queue.c - Criterion unit tests for baton/queue.h.
 *
 * One test per behaviour of the contract in include/baton/queue.h, named as
 * a sentence.  Criterion forks a child per test, so globals start fresh; the
 * test thread does every assertion, and worker threads only record what
 * they saw (struct op) for the test thread to check after joining them.
 *
 * Threads synchronise by handshakes (the started flag, a start gate).  The
 * one exception is a test that must prove a thread is really blocked: it
 * checks that the thread has NOT returned after a short bounded wait
 * (BLOCK_CHECK_MS), then releases it and joins it.
 *
 * Items are either tokens (small integers cast to pointers, never
 * dereferenced) or malloc'd blocks, so that AddressSanitizer reports an
 * item that is freed twice or leaked.
 */
#include <criterion/criterion.h>

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

#include <baton/future.h>
#include <baton/queue.h>

#include "unit.h"

/* A long timeout that no test ever waits out. */
#define LONG_MS		60000

#define OP_MAX_ITEMS	8
#define NTHREADS	4

/* ------------------------------------------------------------------ */
/* Helpers (the shared ones are in unit.h)                             */
/* ------------------------------------------------------------------ */

static void
wait_until_set(atomic_int *flag)
{
	/* Bounded by the test's Criterion timeout. */
	while (!atomic_load_explicit(flag, memory_order_acquire))
		sched_yield();
}

/* Counts destructor calls per token, for tokens below MAX_TOKENS. */
#define MAX_TOKENS 64
static atomic_int token_destroyed[MAX_TOKENS];

static void
count_token(void *item)
{
	size_t t = UNTOK(item);

	atomic_fetch_add(&destroyed, 1);
	if (t < MAX_TOKENS)
		atomic_fetch_add(&token_destroyed[t], 1);
}

static baton_queue *
make_queue(size_t capacity, baton_destroy_fn item_destroy)
{
	baton_queue *q = NULL;
	int rc = baton_queue_create(&q, capacity, item_destroy);

	cr_assert_eq(rc, 0, "create(capacity %zu) returned %d", capacity, rc);
	cr_assert_not_null(q);
	return q;
}

static void
push_tokens(baton_queue *q, size_t first, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		int rc = baton_queue_try_push(q, TOK(first + i));

		cr_assert_eq(rc, 0, "try_push of token %zu returned %d",
		    first + i, rc);
	}
}

static void
expect_pop_tokens(baton_queue *q, size_t first, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		void *item = SENTINEL;
		int rc = baton_queue_try_pop(q, &item);

		cr_assert_eq(rc, 0, "try_pop for token %zu returned %d",
		    first + i, rc);
		cr_assert_eq(UNTOK(item), first + i,
		    "popped token %zu, expected %zu", UNTOK(item), first + i);
	}
}

/* A call made by a worker thread, and what it returned. */
enum op_kind {
	OP_PUSH,
	OP_PUSH_TIMED,
	OP_PUSH_MANY,
	OP_PUSH_MANY_TIMED,
	OP_POP,
	OP_POP_TIMED,
	OP_POP_MANY,
	OP_POP_MANY_TIMED,
	OP_PUSH_CANCELLABLE,
	OP_POP_CANCELLABLE,
};

struct op {
	pthread_t thread;
	baton_queue *q;
	enum op_kind kind;
	int timeout_ms;
	void *item;			/* pushed, or popped into */
	void *items[OP_MAX_ITEMS];	/* for the _many calls */
	size_t n;
	ptrdiff_t rc;
	int64_t elapsed_ns;		/* how long the call took */
	baton_queue_cancel *cancel;	/* for the _cancellable calls */
	atomic_int started;
	atomic_int done;
};

static void
op_init(struct op *op, baton_queue *q, enum op_kind kind, int timeout_ms)
{
	memset(op, 0, sizeof(*op));
	op->q = q;
	op->kind = kind;
	op->timeout_ms = timeout_ms;
	op->item = SENTINEL;
	for (size_t i = 0; i < OP_MAX_ITEMS; i++)
		op->items[i] = SENTINEL;
	op->n = 1;
	op->rc = INT_MIN;
	atomic_init(&op->started, 0);
	atomic_init(&op->done, 0);
}

static void *
op_main(void *arg)
{
	struct op *op = arg;
	ptrdiff_t rc = INT_MIN;
	int64_t t0;

	atomic_store_explicit(&op->started, 1, memory_order_release);
	t0 = now_ns();
	switch (op->kind) {
	case OP_PUSH:
		rc = baton_queue_push(op->q, op->item);
		break;
	case OP_PUSH_TIMED:
		rc = baton_queue_push_timed(op->q, op->item, op->timeout_ms);
		break;
	case OP_PUSH_MANY:
		rc = baton_queue_push_many(op->q, op->items, op->n);
		break;
	case OP_PUSH_MANY_TIMED:
		rc = baton_queue_push_many_timed(op->q, op->items, op->n,
		    op->timeout_ms);
		break;
	case OP_POP:
		rc = baton_queue_pop(op->q, &op->item);
		break;
	case OP_POP_TIMED:
		rc = baton_queue_pop_timed(op->q, &op->item, op->timeout_ms);
		break;
	case OP_POP_MANY:
		rc = baton_queue_pop_many(op->q, op->items, op->n);
		break;
	case OP_POP_MANY_TIMED:
		rc = baton_queue_pop_many_timed(op->q, op->items, op->n,
		    op->timeout_ms);
		break;
	case OP_PUSH_CANCELLABLE:
		rc = baton_queue_push_cancellable(op->q, op->item,
		    op->timeout_ms, op->cancel);
		break;
	case OP_POP_CANCELLABLE:
		rc = baton_queue_pop_cancellable(op->q, &op->item,
		    op->timeout_ms, op->cancel);
		break;
	}
	op->elapsed_ns = now_ns() - t0;
	op->rc = rc;
	atomic_store_explicit(&op->done, 1, memory_order_release);
	return NULL;
}

/* Starts the call in a new thread and returns once the thread is in it. */
static void
op_start(struct op *op)
{
	spawn_thread(&op->thread, op_main, op);
	wait_until_set(&op->started);
}

static bool
op_returned(struct op *op)
{
	return atomic_load_explicit(&op->done, memory_order_acquire) != 0;
}

static ptrdiff_t
op_join(struct op *op)
{
	join_thread(op->thread);
	return op->rc;
}

/*
 * Gives the started ops BLOCK_CHECK_MS to return, then asserts that none
 * did.  A failure leaves threads running; the forked test process dies.
 */
static void
assert_ops_blocked(struct op *ops, size_t count, const char *what)
{
	sleep_ms(BLOCK_CHECK_MS);
	for (size_t i = 0; i < count; i++)
		cr_assert(!op_returned(&ops[i]),
		    "%s %zu returned %td instead of blocking", what, i,
		    ops[i].rc);
}

/* Waits (bounded by the test's timeout) until n threads block in q. */
static void
wait_for_waiters(baton_queue *q, size_t n)
{
	while (baton_queue_waiters(q) < n)
		sched_yield();
}

/*
 * try_push on a rendezvous queue whose waiting popper was just counted:
 * baton_queue_waiters counts a pop or a select a little before its record
 * is linked, and only a linked record is a partner.  So -EAGAIN is tried
 * again until the partner is there (at most 5 s); any other result, or
 * a partner that never shows, is returned.
 */
static int
try_push_to_counted_partner(baton_queue *q, void *item)
{
	int64_t t0 = now_ns();
	int r;

	while ((r = baton_queue_try_push(q, item)) == -EAGAIN &&
	       ms_since(t0) < 5000)
		sched_yield();
	return r;
}

/* A leaked queue or item fails the test (see unit.h). */
TestSuite(queue, .fini = check_leaks);

/* ------------------------------------------------------------------ */
/* create, capacity                                                    */
/* ------------------------------------------------------------------ */

Test(queue, create_with_zero_capacity_makes_a_rendezvous_queue,
    .timeout = 10)
{
	baton_queue *q = NULL;

	cr_assert_eq(baton_queue_create(&q, 0, NULL), 0);
	cr_assert_not_null(q);
	cr_assert_eq(baton_queue_capacity(q), 0);
	cr_assert_eq(baton_queue_size(q), 0);
	cr_assert_eq(baton_queue_try_push(q, TOK(1)), -EAGAIN);
	baton_queue_destroy(q);
}

Test(queue, create_rejects_null_out, .timeout = 10)
{
	cr_assert_eq(baton_queue_create(NULL, 4, NULL), -EINVAL);
	cr_assert_eq(baton_queue_create(NULL, 4, free), -EINVAL);
}

Test(queue, create_rejects_capacity_above_max, .timeout = 10)
{
	baton_queue *q = TOK(1);

	cr_assert_eq(baton_queue_create(&q, BATON_QUEUE_MAX_CAPACITY + 1,
	    NULL), -EINVAL);
	cr_assert_null(q, "*out must be set to NULL on failure");

	q = TOK(1);
	cr_assert_eq(baton_queue_create(&q, SIZE_MAX, NULL), -EINVAL);
	cr_assert_null(q, "*out must be set to NULL on failure");
}

Test(queue, create_makes_an_empty_open_queue_of_the_given_capacity,
    .timeout = 10)
{
	static const size_t caps[] = { 1, 2, 3, 7, 8, 1000, 1025 };

	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		baton_queue *q = make_queue(caps[i], NULL);

		cr_assert_eq(baton_queue_capacity(q), caps[i]);
		cr_assert_eq(baton_queue_size(q), 0);
		cr_assert(!baton_queue_is_closed(q));
		baton_queue_destroy(q);
	}
}

Test(queue, capacity_is_exact, .timeout = 10)
{
	static const size_t big[] = { 100, 127, 128, 129, 1000, 1024, 1025 };
	size_t caps[64 + sizeof(big) / sizeof(big[0])];
	size_t ncaps = 0;

	for (size_t c = 1; c <= 64; c++)
		caps[ncaps++] = c;
	for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++)
		caps[ncaps++] = big[i];

	for (size_t i = 0; i < ncaps; i++) {
		size_t cap = caps[i];
		baton_queue *q = make_queue(cap, NULL);
		void *item = SENTINEL;

		for (size_t k = 0; k < cap; k++)
			cr_assert_eq(baton_queue_try_push(q, TOK(k + 1)), 0,
			    "capacity %zu: push %zu of %zu failed", cap,
			    k + 1, cap);
		cr_assert_eq(baton_queue_try_push(q, TOK(cap + 1)), -EAGAIN,
		    "capacity %zu: a push beyond capacity fitted", cap);
		cr_assert_eq(baton_queue_size(q), cap,
		    "capacity %zu: size() is %zu", cap,
		    baton_queue_size(q));

		cr_assert_eq(baton_queue_try_pop(q, &item), 0);
		cr_assert_eq(UNTOK(item), 1);
		cr_assert_eq(baton_queue_try_push(q, TOK(cap + 1)), 0,
		    "capacity %zu: no room after a pop", cap);
		cr_assert_eq(baton_queue_try_push(q, TOK(cap + 2)), -EAGAIN,
		    "capacity %zu: two pushes fitted after one pop", cap);
		cr_assert_eq(baton_queue_size(q), cap);

		/* Everything that went in comes out, in order. */
		expect_pop_tokens(q, 2, cap);
		cr_assert_eq(baton_queue_try_pop(q, &item), -EAGAIN);
		baton_queue_destroy(q);
	}
}

/* ------------------------------------------------------------------ */
/* Items and order                                                     */
/* ------------------------------------------------------------------ */

Test(queue, null_is_a_valid_item, .timeout = 10)
{
	baton_queue *q = make_queue(2, NULL);
	void *item = SENTINEL;

	cr_assert_eq(baton_queue_push(q, NULL), 0);
	cr_assert_eq(baton_queue_size(q), 1);
	cr_assert_eq(baton_queue_pop(q, &item), 0);
	cr_assert_null(item);

	cr_assert_eq(baton_queue_try_push(q, NULL), 0);
	item = SENTINEL;
	cr_assert_eq(baton_queue_try_pop(q, &item), 0);
	cr_assert_null(item);

	cr_assert_eq(baton_queue_push_timed(q, NULL, 0), 0);
	item = SENTINEL;
	cr_assert_eq(baton_queue_pop_timed(q, &item, 0), 0);
	cr_assert_null(item);

	cr_assert_eq(baton_queue_size(q), 0);
	baton_queue_destroy(q);
}

Test(queue, pops_return_items_in_push_order, .timeout = 10)
{
	baton_queue *q = make_queue(16, NULL);

	push_tokens(q, 1, 16);
	expect_pop_tokens(q, 1, 16);
	baton_queue_destroy(q);
}

Test(queue, order_survives_wrapping_around_many_times, .timeout = 10)
{
	static const size_t caps[] = { 1, 2, 3, 5, 7, 8, 16, 33 };

	for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
		size_t cap = caps[c];
		baton_queue *q = make_queue(cap, NULL);
		size_t next_in = 1, next_out = 1;

		/* Varying fill levels walk head and tail round the ring. */
		for (size_t round = 0; round < 1000; round++) {
			size_t fill = 1 + round % cap;

			push_tokens(q, next_in, fill);
			next_in += fill;
			expect_pop_tokens(q, next_out, fill);
			next_out += fill;
			cr_assert_eq(baton_queue_size(q), 0);
		}
		/* Keep a partial backlog while wrapping, too. */
		push_tokens(q, next_in, (cap + 1) / 2);
		next_in += (cap + 1) / 2;
		for (size_t round = 0; round < 1000; round++) {
			push_tokens(q, next_in, cap / 2);
			next_in += cap / 2;
			expect_pop_tokens(q, next_out, cap / 2);
			next_out += cap / 2;
		}
		expect_pop_tokens(q, next_out, next_in - next_out);
		baton_queue_destroy(q);
	}
}

/* ------------------------------------------------------------------ */
/* try_ and _timed variants                                            */
/* ------------------------------------------------------------------ */

Test(queue, try_pop_on_empty_queue_is_eagain, .timeout = 10)
{
	baton_queue *q = make_queue(4, NULL);
	void *item = SENTINEL;

	cr_assert_eq(baton_queue_try_pop(q, &item), -EAGAIN);
	cr_assert_eq(item, SENTINEL, "a failed pop wrote *item");
	baton_queue_destroy(q);
}

Test(queue, try_push_on_full_queue_is_eagain, .timeout = 10)
{
	baton_queue *q = make_queue(3, NULL);

	push_tokens(q, 1, 3);
	cr_assert_eq(baton_queue_try_push(q, TOK(4)), -EAGAIN);
	cr_assert_eq(baton_queue_size(q), 3);
	expect_pop_tokens(q, 1, 3);
	baton_queue_destroy(q);
}

Test(queue, pop_timed_with_zero_timeout_on_empty_queue_times_out_at_once,
    .timeout = 10)
{
	baton_queue *q = make_queue(4, NULL);
	void *item = SENTINEL;
	int64_t t0 = now_ns();

	cr_assert_eq(baton_queue_pop_timed(q, &item, 0), -ETIMEDOUT);
	cr_assert_lt(now_ns() - t0, NSEC_PER_SEC,
	    "a 0 ms pop_timed waited");
	cr_assert_eq(item, SENTINEL, "a failed pop wrote *item");
	baton_queue_destroy(q);
}

Test(queue, push_timed_with_zero_timeout_on_full_queue_times_out_at_once,
    .timeout = 10)
{
	baton_queue *q = make_queue(2, NULL);
	int64_t t0;

	push_tokens(q, 1, 2);
	t0 = now_ns();
	cr_assert_eq(baton_queue_push_timed(q, TOK(3), 0), -ETIMEDOUT);
	cr_assert_lt(now_ns() - t0, NSEC_PER_SEC,
	    "a 0 ms push_timed waited");
	cr_assert_eq(baton_queue_size(q), 2);
	expect_pop_tokens(q, 1, 2);
	baton_queue_destroy(q);
}

Test(queue, timed_calls_with_zero_timeout_succeed_when_they_can,
    .timeout = 10)
{
	baton_queue *q = make_queue(1, NULL);
	void *item = SENTINEL;

	cr_assert_eq(baton_queue_push_timed(q, TOK(1), 0), 0);
	cr_assert_eq(baton_queue_pop_timed(q, &item, 0), 0);
	cr_assert_eq(UNTOK(item), 1);
	baton_queue_destroy(q);
}

Test(queue, pop_timed_never_times_out_early, .timeout = 10)
{
	static const int timeouts[] = { 1, 2, 10, 50 };
	baton_queue *q = make_queue(4, NULL);

	for (size_t i = 0; i < sizeof(timeouts) / sizeof(timeouts[0]); i++) {
		int ms = timeouts[i];
		void *item = SENTINEL;
		int64_t t0 = now_ns(), elapsed;
		int rc = baton_queue_pop_timed(q, &item, ms);

		elapsed = now_ns() - t0;
		cr_assert_eq(rc, -ETIMEDOUT, "pop_timed(%d ms) returned %d",
		    ms, rc);
		cr_assert_geq(elapsed, ms * NSEC_PER_MSEC,
		    "pop_timed(%d ms) gave up after %lld ns", ms,
		    (long long)elapsed);
		cr_assert_lt(elapsed, ms * NSEC_PER_MSEC + 5 * NSEC_PER_SEC,
		    "pop_timed(%d ms) took %lld ns", ms, (long long)elapsed);
		cr_assert_eq(item, SENTINEL, "a failed pop wrote *item");
	}
	baton_queue_destroy(q);
}

Test(queue, push_timed_never_times_out_early, .timeout = 10)
{
	static const int timeouts[] = { 1, 2, 10, 50 };
	baton_queue *q = make_queue(1, NULL);

	push_tokens(q, 1, 1);
	for (size_t i = 0; i < sizeof(timeouts) / sizeof(timeouts[0]); i++) {
		int ms = timeouts[i];
		int64_t t0 = now_ns(), elapsed;
		int rc = baton_queue_push_timed(q, TOK(2), ms);

		elapsed = now_ns() - t0;
		cr_assert_eq(rc, -ETIMEDOUT, "push_timed(%d ms) returned %d",
		    ms, rc);
		cr_assert_geq(elapsed, ms * NSEC_PER_MSEC,
		    "push_timed(%d ms) gave up after %lld ns", ms,
		    (long long)elapsed);
		cr_assert_lt(elapsed, ms * NSEC_PER_MSEC + 5 * NSEC_PER_SEC,
		    "push_timed(%d ms) took %lld ns", ms, (long long)elapsed);
	}
	cr_assert_eq(baton_queue_size(q), 1);
	expect_pop_tokens(q, 1, 1);
	baton_queue_destroy(q);
}

Test(queue, pop_timed_rejects_negative_timeouts_and_takes_nothing,
    .timeout = 10)
{
	static const int bad[] = { -2, -3, -1000, INT_MIN };
	baton_queue *q = make_queue(4, NULL);

	push_tokens(q, 1, 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		void *item = SENTINEL;

		cr_assert_eq(baton_queue_pop_timed(q, &item, bad[i]), -EINVAL,
		    "pop_timed(%d ms) did not return -EINVAL", bad[i]);
		cr_assert_eq(item, SENTINEL, "a failed pop wrote *item");
		cr_assert_eq(baton_queue_size(q), 1,
		    "pop_timed(%d ms) took the item", bad[i]);
	}
	expect_pop_tokens(q, 1, 1);
	baton_queue_destroy(q);
}

Test(queue, push_timed_rejects_negative_timeouts_and_takes_nothing,
    .timeout = 10)
{
	static const int bad[] = { -2, -3, -1000, INT_MIN };
	baton_queue *q = make_queue(4, count_free);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		void *item = new_int((int)i);

		cr_assert_eq(baton_queue_push_timed(q, item, bad[i]), -EINVAL,
		    "push_timed(%d ms) did not return -EINVAL", bad[i]);
		cr_assert_eq(baton_queue_size(q), 0,
		    "push_timed(%d ms) took the item", bad[i]);
		free(item);	/* still ours */
	}
	baton_queue_destroy(q);
	cr_assert_eq(atomic_load(&destroyed), 0);
}

Test(queue, many_timed_calls_reject_negative_timeouts_and_take_nothing,
    .timeout = 10)
{
	static const int bad[] = { -2, INT_MIN };
	baton_queue *q = make_queue(4, NULL);
	void *in[2] = { TOK(7), TOK(8) };

	push_tokens(q, 1, 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		void *out[2] = { SENTINEL, SENTINEL };

		cr_assert_eq(baton_queue_push_many_timed(q, in, 2, bad[i]),
		    -EINVAL, "push_many_timed(%d ms)", bad[i]);
		cr_assert_eq(baton_queue_pop_many_timed(q, out, 2, bad[i]),
		    -EINVAL, "pop_many_timed(%d ms)", bad[i]);
		cr_assert_eq(out[0], SENTINEL);
		cr_assert_eq(baton_queue_size(q), 1);
	}
	expect_pop_tokens(q, 1, 1);
	baton_queue_destroy(q);
}

Test(queue, pop_timed_with_int_max_timeout_waits_for_an_item, .timeout = 10)
{
	baton_queue *q = make_queue(4, NULL);
	struct op op;

	op_init(&op, q, OP_POP_TIMED, INT_MAX);
	op_start(&op);
	/* An overflowing deadline would return -ETIMEDOUT at once. */
	assert_ops_blocked(&op, 1, "pop_timed(INT_MAX)");
	cr_assert_eq(baton_queue_push(q, TOK(42)), 0);
	cr_assert_eq(op_join(&op), 0);
	cr_assert_eq(UNTOK(op.item), 42);
	baton_queue_destroy(q);
}

Test(queue, push_timed_with_int_max_timeout_waits_for_space, .timeout = 10)
{
	baton_queue *q = make_queue(1, NULL);
	struct op op;

	push_tokens(q, 1, 1);
	op_init(&op, q, OP_PUSH_TIMED, INT_MAX);
	op.item = TOK(2);
	op_start(&op);
	assert_ops_blocked(&op, 1, "push_timed(INT_MAX)");
	expect_pop_tokens(q, 1, 1);
	cr_assert_eq(op_join(&op), 0);
	expect_pop_tokens(q, 2, 1);
	baton_queue_destroy(q);
}

/* ------------------------------------------------------------------ */
/* Blocking                                                            */
/* ------------------------------------------------------------------ */

Test(queue, blocked_push_on_full_queue_wakes_when_a_consumer_pops,
    .timeout = 10)
{
	baton_queue *q = make_queue(1, NULL);
	struct op op;

	push_tokens(q, 1, 1);
	op_init(&op, q, OP_PUSH, 0);
	op.item = TOK(2);
	op_start(&op);
	assert_ops_blocked(&op, 1, "push");
	expect_pop_tokens(q, 1, 1);
	cr_assert_eq(op_join(&op), 0);
	expect_pop_tokens(q, 2, 1);
	baton_queue_destroy(q);
}

Test(queue, blocked_pop_on_empty_queue_wakes_when_a_producer_pushes,
    .timeout = 10)
{
	baton_queue *q = make_queue(2, NULL);
	struct op op;

	op_init(&op, q, OP_POP, 0);
	op_start(&op);
	assert_ops_blocked(&op, 1, "pop");
	cr_assert_eq(baton_queue_push(q, TOK(5)), 0);
	cr_assert_eq(op_join(&op), 0);
	cr_assert_eq(UNTOK(op.item), 5);
	cr_assert_eq(baton_queue_size(q), 0);
	baton_queue_destroy(q);
}

Test(queue, infinite_pop_timed_wakes_when_a_producer_pushes, .timeout = 10)
{
	baton_queue *q = make_queue(2, NULL);
	struct op op;

	op_init(&op, q, OP_POP_TIMED, BATON_INFINITY);
	op_start(&op);
	assert_ops_blocked(&op, 1, "pop_timed(BATON_INFINITY)");
	cr_assert_eq(baton_queue_push(q, TOK(6)), 0);
	cr_assert_eq(op_join(&op), 0);
	cr_assert_eq(UNTOK(op.item), 6);
	baton_queue_destroy(q);
}

Test(queue, infinite_push_timed_wakes_when_a_consumer_pops, .timeout = 10)
{
	baton_queue *q = make_queue(1, NULL);
	struct op op;

	push_tokens(q, 1, 1);
	op_init(&op, q, OP_PUSH_TIMED, BATON_INFINITY);
	op.item = TOK(2);
	op_start(&op);
	assert_ops_blocked(&op, 1, "push_timed(BATON_INFINITY)");
	expect_pop_tokens(q, 1, 1);
	cr_assert_eq(op_join(&op), 0);
	expect_pop_tokens(q, 2, 1);
	baton_queue_destroy(q);
}

Test(queue, timed_pop_wakes_when_a_producer_pushes_before_the_timeout,
    .timeout = 10)
{
	baton_queue *q = make_queue(2, NULL);
	struct op op;

	op_init(&op, q, OP_POP_TIMED, LONG_MS);
	op_start(&op);
	assert_ops_blocked(&op, 1, "pop_timed(60 s)");
	cr_assert_eq(baton_queue_push(q, TOK(9)), 0);
	cr_assert_eq(op_join(&op), 0);
	cr_assert_eq(UNTOK(op.item), 9);
	baton_queue_destroy(q);
}

/*
 * Asserts that tokens[0..count) are first, first + 1, ... first + count - 1
 * in some order (several threads raced for them).
 */
static void
assert_token_set(void *const *tokens, size_t count, size_t first)
{
	unsigned char seen[MAX_TOKENS] = { 0 };

	cr_assert_leq(first + count, MAX_TOKENS);
	for (size_t i = 0; i < count; i++) {
		size_t t = UNTOK(tokens[i]);

		cr_assert(t >= first && t < first + count,
		    "unexpected token %zu", t);
		cr_assert_eq(seen[t], 0, "token %zu delivered twice", t);
		seen[t] = 1;
	}
}

Test(queue, several_blocked_poppers_all_wake_as_items_arrive, .timeout = 10)
{
	baton_queue *q = make_queue(NTHREADS, NULL);
	struct op ops[NTHREADS];
	void *got[NTHREADS];

	for (size_t i = 0; i < NTHREADS; i++) {
		op_init(&ops[i], q, OP_POP, 0);
		op_start(&ops[i]);
	}
	assert_ops_blocked(ops, NTHREADS, "popper");
	for (size_t i = 0; i < NTHREADS; i++)
		cr_assert_eq(baton_queue_push(q, TOK(i + 1)), 0);
	for (size_t i = 0; i < NTHREADS; i++) {
		cr_assert_eq(op_join(&ops[i]), 0, "popper %zu returned %td",
		    i, ops[i].rc);
		got[i] = ops[i].item;
	}
	assert_token_set(got, NTHREADS, 1);
	cr_assert_eq(baton_queue_size(q), 0);
	baton_queue_destroy(q);
}

Test(queue, one_batch_push_wakes_as_many_blocked_poppers_as_it_has_items,
    .timeout = 10)
{
	baton_queue *q = make_queue(NTHREADS, NULL);
	static const enum op_kind kinds[NTHREADS] = {
		OP_POP, OP_POP_TIMED, OP_POP, OP_POP_TIMED,
	};
	struct op ops[NTHREADS];
	void *batch[NTHREADS], *got[NTHREADS];

	for (size_t i = 0; i < NTHREADS; i++) {
		op_init(&ops[i], q, kinds[i], LONG_MS);
		op_start(&ops[i]);
		batch[i] = TOK(i + 1);
	}
	assert_ops_blocked(ops, NTHREADS, "popper");
	cr_assert_eq(baton_queue_push_many(q, batch, NTHREADS), NTHREADS);
	for (size_t i = 0; i < NTHREADS; i++) {
		cr_assert_eq(op_join(&ops[i]), 0, "popper %zu returned %td",
		    i, ops[i].rc);
		got[i] = ops[i].item;
	}
	assert_token_set(got, NTHREADS, 1);
	baton_queue_destroy(q);
}

Test(queue, several_blocked_pushers_all_complete_as_space_appears,
    .timeout = 10)
{
	baton_queue *q = make_queue(2, NULL);
	struct op ops[NTHREADS];
	void *got[NTHREADS];

	push_tokens(q, 1, 2);
	for (size_t i = 0; i < NTHREADS; i++) {
		op_init(&ops[i], q, i % 2 ? OP_PUSH_TIMED : OP_PUSH, LONG_MS);
		ops[i].item = TOK(10 + i);
		op_start(&ops[i]);
	}
	assert_ops_blocked(ops, NTHREADS, "pusher");
	/* The two old items first, then the pushers' in some order. */
	expect_pop_tokens(q, 1, 2);
	for (size_t i = 0; i < NTHREADS; i++) {
		got[i] = SENTINEL;
		cr_assert_eq(baton_queue_pop(q, &got[i]), 0);
	}
	for (size_t i = 0; i < NTHREADS; i++)
		cr_assert_eq(op_join(&ops[i]), 0, "pusher %zu returned %td",
		    i, ops[i].rc);
	assert_token_set(got, NTHREADS, 10);
	cr_assert_eq(baton_queue_size(q), 0);
	baton_queue_destroy(q);
}

Test(queue, several_timed_poppers_all_time_out_and_none_early,
    .timeout = 10)
{
	baton_queue *q = make_queue(4, NULL);
	struct op ops[NTHREADS];

	for (size_t i = 0; i < NTHREADS; i++) {
		op_init(&ops[i], q, i % 2 ? OP_POP_MANY_TIMED : OP_POP_TIMED,
		    50);
		op_start(&ops[i]);
	}
	for (size_t i = 0; i < NTHREADS; i++) {
		cr_assert_eq(op_join(&ops[i]), -ETIMEDOUT,
		    "popper %zu returned %td", i, ops[i].rc);
		cr_assert_geq(ops[i].elapsed_ns, 50 * NSEC_PER_MSEC,
		    "popper %zu gave up after %lld ns", i,
		    (long long)ops[i].elapsed_ns);
	}
	baton_queue_destroy(q);
}

Test(queue, several_timed_pushers_all_time_out_and_none_early,
    .timeout = 10)
{
	baton_queue *q = make_queue(1, NULL);
	struct op ops[NTHREADS];

	push_tokens(q, 1, 1);
	for (size_t i = 0; i < NTHREADS; i++) {
		op_init(&ops[i], q, i % 2 ? OP_PUSH_MANY_TIMED : OP_PUSH_TIMED,
		    50);
		ops[i].item = ops[i].items[0] = TOK(10 + i);
		op_start(&ops[i]);
	}
	for (size_t i = 0; i < NTHREADS; i++) {
		cr_assert_eq(op_join(&ops[i]), -ETIMEDOUT,
		    "pusher %zu returned %td", i, ops[i].rc);
		cr_assert_geq(ops[i].elapsed_ns, 50 * NSEC_PER_MSEC,
		    "pusher %zu gave up after %lld ns", i,
		    (long long)ops[i].elapsed_ns);
	}
	expect_pop_tokens(q, 1, 1);
	cr_assert_eq(baton_queue_size(q), 0);
	baton_queue_destroy(q);
}

Test(queue, timed_pop_behind_a_blocked_pop_still_times_out, .timeout = 10)
{
	baton_queue *q = make_queue(2, NULL);
	struct op first, timed;

	op_init(&first, q, OP_POP, 0);
	op_start(&first);
	assert_ops_blocked(&first, 1, "pop");
	op_init(&timed, q, OP_POP_TIMED, 50);
	op_start(&timed);
	cr_assert_eq(op_join(&timed), -ETIMEDOUT);
	cr_assert_geq(timed.elapsed_ns, 50 * NSEC_PER_MSEC);
	cr_assert_eq(timed.item, SENTINEL);
	/* The untimed pop is still waiting, and still gets the next item. */
	cr_assert(!op_returned(&first), "pop returned %td", first.rc);
	cr_assert_eq(baton_queue_push(q, TOK(7)), 0);
	cr_assert_eq(op_join(&first), 0);
	cr_assert_eq(UNTOK(first.item), 7);
	baton_queue_destroy(q);
}

Test(queue, blocked_pop_still_wakes_after_a_timed_pop_ahead_of_it_gives_up,
    .timeout = 10)
{
	baton_queue *q = make_queue(2, NULL);
	struct op timed, second;

	op_init(&timed, q, OP_POP_TIMED, 200);
	op_start(&timed);
	op_init(&second, q, OP_POP, 0);
	op_start(&second);
	cr_assert_eq(op_join(&timed), -ETIMEDOUT);
	cr_assert_geq(timed.elapsed_ns, 200 * NSEC_PER_MSEC);
	assert_ops_blocked(&second, 1, "pop");
	cr_assert_eq(baton_queue_push(q, TOK(8)), 0);
	cr_assert_eq(op_join(&second), 0);
	cr_assert_eq(UNTOK(second.item), 8);
	baton_queue_destroy(q);
}

Test(queue, timed_push_behind_a_blocked_push_still_times_out, .timeout = 10)
{
	baton_queue *q = make_queue(1, NULL);
	struct op first, timed;

	push_tokens(q, 1, 1);
	op_init(&first, q, OP_PUSH, 0);
	first.item = TOK(2);
	op_start(&first);
	assert_ops_blocked(&first, 1, "push");
	op_init(&timed, q, OP_PUSH_TIMED, 50);
	timed.item = TOK(3);
	op_start(&timed);
	cr_assert_eq(op_join(&timed), -ETIMEDOUT);
	cr_assert_geq(timed.elapsed_ns, 50 * NSEC_PER_MSEC);
	cr_assert(!op_returned(&first), "push returned %td", first.rc);
	expect_pop_tokens(q, 1, 1);
	cr_assert_eq(op_join(&first), 0);
	expect_pop_tokens(q, 2, 1);
	cr_assert_eq(baton_queue_size(q), 0);
	baton_queue_destroy(q);
}

/* ------------------------------------------------------------------ */
/* close                                                               */
/* ------------------------------------------------------------------ */

Test(queue, is_closed_reports_close, .timeout = 10)
{
	baton_queue *q = make_queue(2, NULL);

	cr_assert(!baton_queue_is_closed(q));
	cr_assert_eq(baton_queue_close(q), 0);
	cr_assert(baton_queue_is_closed(q));
	baton_queue_destroy(q);
}

Test(queue, close_is_idempotent, .timeout = 10)
{
	baton_queue *q = make_queue(4, NULL);

	push_tokens(q, 1, 2);
	cr_assert_eq(baton_queue_close(q), 0);
	cr_assert_eq(baton_queue_close(q), 0);
	cr_assert_eq(baton_queue_close(q), 0);
	cr_assert(baton_queue_is_closed(q));
	/* A second close neither discards nor duplicates anything. */
	cr_assert_eq(baton_queue_size(q), 2);
	expect_pop_tokens(q, 1, 2);
	baton_queue_destroy(q);
}

Test(queue,
    pushes_after_close_fail_with_epipe_and_leave_the_item_with_the_caller,
    .timeout = 10)
{
	baton_queue *q = make_queue(4, count_free);
	void *item = new_int(1);
	void *batch[3] = { new_int(2), new_int(3), new_int(4) };

	cr_assert_eq(baton_queue_close(q), 0);
	cr_assert_eq(baton_queue_push(q, item), -EPIPE);
	cr_assert_eq(baton_queue_try_push(q, item), -EPIPE);
	cr_assert_eq(baton_queue_push_timed(q, item, 0), -EPIPE);
	cr_assert_eq(baton_queue_push_timed(q, item, 10), -EPIPE);
	cr_assert_eq(baton_queue_push_timed(q, item, BATON_INFINITY), -EPIPE);
	cr_assert_eq(baton_queue_push_many(q, batch, 3), -EPIPE);
	cr_assert_eq(baton_queue_try_push_many(q, batch, 3), -EPIPE);
	cr_assert_eq(baton_queue_push_many_timed(q, batch, 3, 0), -EPIPE);
	cr_assert_eq(baton_queue_push_many_timed(q, batch, 3, BATON_INFINITY),
	    -EPIPE);
	cr_assert_eq(baton_queue_size(q), 0);

	baton_queue_destroy(q);
	cr_assert_eq(atomic_load(&destroyed), 0,
	    "the queue destroyed items whose push failed");
	/* Still ours: a double free here would mean the queue freed them. */
	cr_assert_eq(*(int *)item, 1);
	free(item);
	for (size_t i = 0; i < 3; i++) {
		cr_assert_eq(*(int *)batch[i], (int)i + 2);
		free(batch[i]);
	}
}

Test(queue, pushes_to_a_closed_full_queue_fail_with_epipe_not_eagain,
    .timeout = 10)
{
	baton_queue *q = make_queue(2, NULL);
	void *batch[1] = { TOK(9) };

	push_tokens(q, 1, 2);
	cr_assert_eq(baton_queue_close(q), 0);
	cr_assert_eq(baton_queue_try_push(q, TOK(3)), -EPIPE);
	cr_assert_eq(baton_queue_push(q, TOK(3)), -EPIPE);
	cr_assert_eq(baton_queue_push_timed(q, TOK(3), 10), -EPIPE);
	cr_assert_eq(baton_queue_try_push_many(q, batch, 1), -EPIPE);
	cr_assert_eq(baton_queue_push_many(q, batch, 1), -EPIPE);
	cr_assert_eq(baton_queue_size(q), 2);
	expect_pop_tokens(q, 1, 2);
	baton_queue_destroy(q);
}

Test(queue, pops_drain_a_closed_queue_in_order_then_fail_with_epipe,
    .timeout = 10)
{
	baton_queue *q = make_queue(8, NULL);
	void *item;
	void *out[4];

	/* Wrap round first, so the drained items straddle the ring's end. */
	push_tokens(q, 100, 6);
	expect_pop_tokens(q, 100, 6);
	push_tokens(q, 1, 7);
	cr_assert_eq(baton_queue_close(q), 0);

	item = SENTINEL;
	cr_assert_eq(baton_queue_pop(q, &item), 0);
	cr_assert_eq(UNTOK(item), 1);
	item = SENTINEL;
	cr_assert_eq(baton_queue_try_pop(q, &item), 0);
	cr_assert_eq(UNTOK(item), 2);
	item = SENTINEL;
	cr_assert_eq(baton_queue_pop_timed(q, &item, 0), 0);
	cr_assert_eq(UNTOK(item), 3);
	item = SENTINEL;
	cr_assert_eq(baton_queue_pop_timed(q, &item, BATON_INFINITY), 0);
	cr_assert_eq(UNTOK(item), 4);
	cr_assert_eq(baton_queue_pop_many(q, out, 2), 2);
	cr_assert_eq(UNTOK(out[0]), 5);
	cr_assert_eq(UNTOK(out[1]), 6);
	cr_assert_eq(baton_queue_try_pop_many(q, out, 4), 1);
	cr_assert_eq(UNTOK(out[0]), 7);
	cr_assert_eq(baton_queue_size(q), 0);

	item = SENTINEL;
	cr_assert_eq(baton_queue_pop(q, &item), -EPIPE);
	cr_assert_eq(baton_queue_try_pop(q, &item), -EPIPE);
	cr_assert_eq(baton_queue_pop_timed(q, &item, 0), -EPIPE);
	cr_assert_eq(baton_queue_pop_timed(q, &item, 10), -EPIPE);
	cr_assert_eq(baton_queue_pop_timed(q, &item, BATON_INFINITY), -EPIPE);
	cr_assert_eq(item, SENTINEL, "a failed pop wrote *item");
	out[0] = SENTINEL;
	cr_assert_eq(baton_queue_pop_many(q, out, 4), -EPIPE);
	cr_assert_eq(baton_queue_try_pop_many(q, out, 4), -EPIPE);
	cr_assert_eq(baton_queue_pop_many_timed(q, out, 4, 0), -EPIPE);
	cr_assert_eq(baton_queue_pop_many_timed(q, out, 4, BATON_INFINITY),
	    -EPIPE);
	cr_assert_eq(out[0], SENTINEL, "a failed pop_many wrote items[0]");
	baton_queue_destroy(q);
}

static void
close_wakes_blocked_poppers_of(const enum op_kind *kinds, int timeout_ms)
{
	baton_queue *q = make_queue(4, NULL);
	struct op ops[NTHREADS];

	for (size_t i = 0; i < NTHREADS; i++) {
		op_init(&ops[i], q, kinds[i], timeout_ms);
		ops[i].n = OP_MAX_ITEMS;
		op_start(&ops[i]);
	}
	assert_ops_blocked(ops, NTHREADS, "popper");
	cr_assert_eq(baton_queue_close(q), 0);
	for (size_t i = 0; i < NTHREADS; i++) {
		ptrdiff_t rc = op_join(&ops[i]);

		cr_assert_eq(rc, -EPIPE, "popper %zu returned %td", i, rc);
		cr_assert_eq(ops[i].item, SENTINEL);
		cr_assert_eq(ops[i].items[0], SENTINEL);
	}
	baton_queue_destroy(q);
}

Test(queue, close_wakes_blocked_poppers, .timeout = 10)
{
	static const enum op_kind kinds[NTHREADS] = {
		OP_POP, OP_POP, OP_POP, OP_POP,
	};

	close_wakes_blocked_poppers_of(kinds, 0);
}

Test(queue, close_wakes_poppers_blocked_with_a_long_timeout, .timeout = 10)
{
	static const enum op_kind kinds[NTHREADS] = {
		OP_POP_TIMED, OP_POP_TIMED, OP_POP_TIMED, OP_POP_TIMED,
	};

	close_wakes_blocked_poppers_of(kinds, LONG_MS);
}

Test(queue, close_wakes_blocked_batch_poppers, .timeout = 10)
{
	static const enum op_kind kinds[NTHREADS] = {
		OP_POP_MANY, OP_POP_MANY, OP_POP_MANY_TIMED, OP_POP_MANY_TIMED,
	};

	close_wakes_blocked_poppers_of(kinds, LONG_MS);
}

/*
 * More blocked callers than a close wakes in one batch (16 futex words),
 * closed as soon as all are linked (the last perhaps still spinning):
 * every one returns -EPIPE, or the test times out.  Poppers on an empty
 * queue and pushers on a full one, buffered and rendezvous.  Which
 * records spin when the close lands is up to the scheduler; the batch
 * boundary cases are pinned down in test_waitq.c.
 */
#define CROWD 24

static void
close_wakes_a_crowd_of(size_t capacity, enum op_kind kind)
{
	for (int round = 0; round < 6; round++) {
		baton_queue *q = make_queue(capacity, NULL);
		struct op ops[CROWD];

		/* Pushers need a full queue; poppers an empty one. */
		for (size_t i = 0; kind == OP_PUSH && i < capacity; i++)
			cr_assert_eq(baton_queue_push(q, TOK(i)), 0);
		for (size_t i = 0; i < CROWD; i++) {
			op_init(&ops[i], q, kind, 0);
			ops[i].item = TOK(i);
			op_start(&ops[i]);
		}
		wait_for_waiters(q, CROWD);
		cr_assert_eq(baton_queue_close(q), 0);
		for (size_t i = 0; i < CROWD; i++) {
			ptrdiff_t rc = op_join(&ops[i]);

			cr_assert_eq(rc, -EPIPE, "round %d: caller %zu "
				     "returned %td", round, i, rc);
		}
		baton_queue_destroy(q);
	}
}

Test(queue, close_wakes_a_crowd_of_poppers_larger_than_a_wake_batch,
     .timeout = 10)
{
	close_wakes_a_crowd_of(4, OP_POP);
	close_wakes_a_crowd_of(0, OP_POP);
}

Test(queue, close_wakes_a_crowd_of_pushers_larger_than_a_wake_batch,
     .timeout = 10)
{
	close_wakes_a_crowd_of(2, OP_PUSH);
	close_wakes_a_crowd_of(0, OP_PUSH);
}

/*
 * Fills a queue of capacity 2 with malloc'd items, blocks NTHREADS pushers
 * of malloc'd items on it, then closes it with close_discard (discard) or
 * close: every pusher returns -EPIPE and still owns its item.
 */
static void
close_wakes_blocked_pushers_of(const enum op_kind *kinds, int timeout_ms,
    bool discard)
{
	baton_queue *q = make_queue(2, count_free);
	struct op ops[NTHREADS];

	cr_assert_eq(baton_queue_push(q, new_int(-1)), 0);
	cr_assert_eq(baton_queue_push(q, new_int(-2)), 0);
	for (size_t i = 0; i < NTHREADS; i++) {
		op_init(&ops[i], q, kinds[i], timeout_ms);
		ops[i].item = new_int((int)i);
		ops[i].items[0] = ops[i].item;
		ops[i].n = 1;
		op_start(&ops[i]);
	}
	assert_ops_blocked(ops, NTHREADS, "pusher");
	if (discard)
		cr_assert_eq(baton_queue_close_discard(q, NULL, NULL), 2);
	else
		cr_assert_eq(baton_queue_close(q), 0);

	for (size_t i = 0; i < NTHREADS; i++) {
		ptrdiff_t rc = op_join(&ops[i]);

		cr_assert_eq(rc, -EPIPE, "pusher %zu returned %td", i, rc);
	}
	if (discard) {
		cr_assert_eq(atomic_load(&destroyed), 2);
	} else {
		/* The two items that were in stay there, in order. */
		void *item = NULL;

		cr_assert_eq(baton_queue_size(q), 2);
		cr_assert_eq(baton_queue_try_pop(q, &item), 0);
		cr_assert_eq(*(int *)item, -1);
		free(item);
		cr_assert_eq(baton_queue_try_pop(q, &item), 0);
		cr_assert_eq(*(int *)item, -2);
		free(item);
		cr_assert_eq(atomic_load(&destroyed), 0);
	}
	cr_assert_eq(baton_queue_size(q), 0);
	baton_queue_destroy(q);
	cr_assert_eq(atomic_load(&destroyed), discard ? 2 : 0,
	    "the queue destroyed a pusher's item");
	/* Still the pushers': a double free would mean the queue freed it. */
	for (size_t i = 0; i < NTHREADS; i++) {
		cr_assert_eq(*(int *)ops[i].item, (int)i);
		free(ops[i].item);
	}
}

Test(queue, close_wakes_blocked_pushers_and_leaves_their_items_with_them,
    .timeout = 10)
{
	static const enum op_kind kinds[NTHREADS] = {
		OP_PUSH, OP_PUSH, OP_PUSH, OP_PUSH,
	};

	close_wakes_blocked_pushers_of(kinds, 0, false);
}

Test(queue, close_wakes_pushers_blocked_with_a_long_timeout, .timeout = 10)
{
	static const enum op_kind kinds[NTHREADS] = {
		OP_PUSH_TIMED, OP_PUSH_TIMED, OP_PUSH_TIMED, OP_PUSH_TIMED,
	};

	close_wakes_blocked_pushers_of(kinds, LONG_MS, false);
}

Test(queue, close_wakes_blocked_batch_pushers, .timeout = 10)
{
	static const enum op_kind kinds[NTHREADS] = {
		OP_PUSH_MANY, OP_PUSH_MANY, OP_PUSH_MANY_TIMED,
		OP_PUSH_MANY_TIMED,
	};

	close_wakes_blocked_pushers_of(kinds, LONG_MS, false);
}

/* ------------------------------------------------------------------ */
/* close_discard                                                       */
/* ------------------------------------------------------------------ */

Test(queue, close_discard_destroys_each_remaining_item_exactly_once,
    .timeout = 10)
{
	baton_queue *q = make_queue(4, count_token);
	void *item = SENTINEL;

	/* Wrap round, so the leftovers straddle the ring's end. */
	push_tokens(q, 1, 4);
	expect_pop_tokens(q, 1, 3);
	push_tokens(q, 5, 3);	/* leftovers: 4, 5, 6, 7 */

	cr_assert_eq(baton_queue_close_discard(q, NULL, NULL), 4);
	cr_assert_eq(atomic_load(&destroyed), 4);
	for (size_t t = 0; t < MAX_TOKENS; t++)
		cr_assert_eq(atomic_load(&token_destroyed[t]),
		    t >= 4 && t <= 7 ? 1 : 0,
		    "token %zu destroyed %d times", t,
		    atomic_load(&token_destroyed[t]));
	cr_assert(baton_queue_is_closed(q));
	cr_assert_eq(baton_queue_size(q), 0);
	cr_assert_eq(baton_queue_try_pop(q, &item), -EPIPE);
	cr_assert_eq(baton_queue_try_push(q, TOK(8)), -EPIPE);

	baton_queue_destroy(q);
	cr_assert_eq(atomic_load(&destroyed), 4,
	    "destroy ran the destructor again on discarded items");
}

Test(queue, close_discard_frees_malloced_leftovers_once, .timeout = 10)
{
	baton_queue *q = make_queue(8, count_free);

	for (int i = 0; i < 5; i++)
		cr_assert_eq(baton_queue_push(q, new_int(i)), 0);
	cr_assert_eq(baton_queue_close_discard(q, NULL, NULL), 5);
	cr_assert_eq(atomic_load(&destroyed), 5);
	baton_queue_destroy(q);
	cr_assert_eq(atomic_load(&destroyed), 5);
}

struct handback {
	void *items[MAX_TOKENS];
	size_t count;
	void *ctx_seen;
};

static void
record_handback(void *item, void *ctx)
{
	struct handback *hb = ctx;

	hb->ctx_seen = ctx;
	if (hb->count < MAX_TOKENS)
		hb->items[hb->count] = item;
	hb->count++;
}

Test(queue, close_discard_hands_items_back_in_order_without_destroying_them,
    .timeout = 10)
{
	baton_queue *q = make_queue(4, count_token);
	struct handback hb = { .count = 0 };
	void *item = SENTINEL;

	push_tokens(q, 1, 4);
	expect_pop_tokens(q, 1, 2);
	push_tokens(q, 5, 2);	/* leftovers, wrapped: 3, 4, 5, 6 */

	cr_assert_eq(baton_queue_close_discard(q, record_handback, &hb), 4);
	cr_assert_eq(hb.count, 4);
	cr_assert_eq(hb.ctx_seen, &hb, "fn did not receive ctx");
	for (size_t i = 0; i < 4; i++)
		cr_assert_eq(UNTOK(hb.items[i]), i + 3,
		    "handed back token %zu at %zu, expected %zu",
		    UNTOK(hb.items[i]), i, i + 3);
	cr_assert_eq(atomic_load(&destroyed), 0,
	    "close_discard with fn also ran the destructor");
	cr_assert(baton_queue_is_closed(q));
	cr_assert_eq(baton_queue_size(q), 0);
	cr_assert_eq(baton_queue_try_pop(q, &item), -EPIPE);

	baton_queue_destroy(q);
	cr_assert_eq(atomic_load(&destroyed), 0);
}

Test(queue, close_discard_hands_null_items_back, .timeout = 10)
{
	baton_queue *q = make_queue(4, count_token);
	struct handback hb = { .count = 0 };

	push_tokens(q, 1, 1);
	cr_assert_eq(baton_queue_push(q, NULL), 0);
	push_tokens(q, 2, 1);
	cr_assert_eq(baton_queue_close_discard(q, record_handback, &hb), 3);
	cr_assert_eq(hb.count, 3);
	cr_assert_eq(UNTOK(hb.items[0]), 1);
	cr_assert_null(hb.items[1]);
	cr_assert_eq(UNTOK(hb.items[2]), 2);
	baton_queue_destroy(q);
	cr_assert_eq(atomic_load(&destroyed), 0);
}

Test(queue, close_discard_without_destructor_or_fn_still_empties_the_queue,
    .timeout = 10)
{
	baton_queue *q = make_queue(8, NULL);
	void *item = SENTINEL;

	push_tokens(q, 1, 6);
	cr_assert_eq(baton_queue_close_discard(q, NULL, NULL), 6);
	cr_assert(baton_queue_is_closed(q));
	cr_assert_eq(baton_queue_size(q), 0);
	cr_assert_eq(baton_queue_try_pop(q, &item), -EPIPE);
	cr_assert_eq(baton_queue_pop(q, &item), -EPIPE);
	cr_assert_eq(item, SENTINEL);
	baton_queue_destroy(q);
}

Test(queue, close_discard_on_an_empty_queue_returns_zero_and_closes,
    .timeout = 10)
{
	baton_queue *q = make_queue(8, count_token);

	cr_assert_eq(baton_queue_close_discard(q, NULL, NULL), 0);
	cr_assert(baton_queue_is_closed(q));
	cr_assert_eq(atomic_load(&destroyed), 0);
	baton_queue_destroy(q);
}

Test(queue, close_discard_is_idempotent, .timeout = 10)
{
	baton_queue *q = make_queue(8, count_token);
	struct handback hb = { .count = 0 };

	push_tokens(q, 1, 3);
	cr_assert_eq(baton_queue_close_discard(q, NULL, NULL), 3);
	cr_assert_eq(baton_queue_close_discard(q, NULL, NULL), 0);
	cr_assert_eq(baton_queue_close_discard(q, record_handback, &hb), 0);
	cr_assert_eq(hb.count, 0);
	cr_assert_eq(atomic_load(&destroyed), 3);
	cr_assert_eq(baton_queue_close(q), 0);
	cr_assert(baton_queue_is_closed(q));
	baton_queue_destroy(q);
	cr_assert_eq(atomic_load(&destroyed), 3);
}

Test(queue, close_discard_after_close_discards_the_leftovers, .timeout = 10)
{
	baton_queue *q = make_queue(8, count_token);

	push_tokens(q, 1, 5);
	cr_assert_eq(baton_queue_close(q), 0);
	expect_pop_tokens(q, 1, 2);
	cr_assert_eq(baton_queue_close_discard(q, NULL, NULL), 3);
	cr_assert_eq(atomic_load(&destroyed), 3);
	for (size_t t = 3; t <= 5; t++)
		cr_assert_eq(atomic_load(&token_destroyed[t]), 1);
	baton_queue_destroy(q);
	cr_assert_eq(atomic_load(&destroyed), 3);
}

Test(queue, close_discard_wakes_blocked_poppers, .timeout = 10)
{
	baton_queue *q = make_queue(4, count_token);
	struct op ops[NTHREADS];
	static const enum op_kind kinds[NTHREADS] = {
		OP_POP, OP_POP_TIMED, OP_POP_MANY, OP_POP_MANY_TIMED,
	};

	for (size_t i = 0; i < NTHREADS; i++) {
		op_init(&ops[i], q, kinds[i], LONG_MS);
		ops[i].n = OP_MAX_ITEMS;
		op_start(&ops[i]);
	}
	assert_ops_blocked(ops, NTHREADS, "popper");
	cr_assert_eq(baton_queue_close_discard(q, NULL, NULL), 0);
	for (size_t i = 0; i < NTHREADS; i++) {
		ptrdiff_t rc = op_join(&ops[i]);

		cr_assert_eq(rc, -EPIPE, "popper %zu returned %td", i, rc);
	}
	baton_queue_destroy(q);
}

Test(queue, close_discard_wakes_blocked_pushers, .timeout = 10)
{
	static const enum op_kind kinds[NTHREADS] = {
		OP_PUSH, OP_PUSH_TIMED, OP_PUSH_MANY, OP_PUSH_MANY_TIMED,
	};

	close_wakes_blocked_pushers_of(kinds, LONG_MS, true);
}

/* ------------------------------------------------------------------ */
/* destroy                                                             */
/* ------------------------------------------------------------------ */

Test(queue, destroy_runs_the_destructor_once_per_leftover_item, .timeout = 10)
{
	baton_queue *q = make_queue(4, count_token);

	push_tokens(q, 1, 4);
	expect_pop_tokens(q, 1, 3);
	push_tokens(q, 5, 3);	/* leftovers, wrapped: 4, 5, 6, 7 */
	baton_queue_destroy(q);
	cr_assert_eq(atomic_load(&destroyed), 4);
	for (size_t t = 0; t < MAX_TOKENS; t++)
		cr_assert_eq(atomic_load(&token_destroyed[t]),
		    t >= 4 && t <= 7 ? 1 : 0,
		    "token %zu destroyed %d times", t,
		    atomic_load(&token_destroyed[t]));
}

Test(queue, destroy_frees_malloced_leftovers_once, .timeout = 10)
{
	baton_queue *q = make_queue(8, count_free);
	void *item = NULL;

	for (int i = 0; i < 6; i++)
		cr_assert_eq(baton_queue_push(q, new_int(i)), 0);
	cr_assert_eq(baton_queue_pop(q, &item), 0);
	cr_assert_eq(*(int *)item, 0);
	free(item);
	cr_assert_eq(baton_queue_close(q), 0);
	baton_queue_destroy(q);
	cr_assert_eq(atomic_load(&destroyed), 5);
}

Test(queue, destroy_of_an_empty_queue_runs_no_destructor, .timeout = 10)
{
	baton_queue *q = make_queue(8, count_token);

	push_tokens(q, 1, 3);
	expect_pop_tokens(q, 1, 3);
	baton_queue_destroy(q);
	cr_assert_eq(atomic_load(&destroyed), 0);
}

Test(queue, destroy_null_is_a_no_op, .timeout = 10)
{
	baton_queue_destroy(NULL);
}

Test(queue, destroy_without_destructor_leaves_items_alone, .timeout = 10)
{
	baton_queue *q = make_queue(8, NULL);
	int stack_items[3] = { 1, 2, 3 };

	for (size_t i = 0; i < 3; i++)
		cr_assert_eq(baton_queue_push(q, &stack_items[i]), 0);
	cr_assert_eq(baton_queue_push(q, NULL), 0);
	baton_queue_destroy(q);
	cr_assert_eq(stack_items[0] + stack_items[1] + stack_items[2], 6);
}

/* ------------------------------------------------------------------ */
/* push_many, pop_many                                                 */
/* ------------------------------------------------------------------ */

Test(queue, many_calls_with_zero_items_return_zero, .timeout = 10)
{
	baton_queue *q = make_queue(2, NULL);
	void *items[2] = { TOK(1), TOK(2) };

	/* On an empty queue: pops would block, so 0 must not wait. */
	cr_assert_eq(baton_queue_pop_many(q, items, 0), 0);
	cr_assert_eq(baton_queue_try_pop_many(q, items, 0), 0);
	cr_assert_eq(baton_queue_pop_many_timed(q, items, 0, 0), 0);
	cr_assert_eq(baton_queue_pop_many(q, NULL, 0), 0);
	cr_assert_eq(baton_queue_push_many(q, items, 0), 0);
	cr_assert_eq(baton_queue_push_many(q, NULL, 0), 0);
	cr_assert_eq(baton_queue_size(q), 0);

	/* On a full queue: pushes would block, so 0 must not wait. */
	push_tokens(q, 1, 2);
	cr_assert_eq(baton_queue_push_many(q, items, 0), 0);
	cr_assert_eq(baton_queue_try_push_many(q, items, 0), 0);
	cr_assert_eq(baton_queue_push_many_timed(q, items, 0, 0), 0);
	cr_assert_eq(baton_queue_push_many_timed(q, NULL, 0, 0), 0);
	cr_assert_eq(baton_queue_size(q), 2);
	expect_pop_tokens(q, 1, 2);
	baton_queue_destroy(q);
}

Test(queue, many_calls_reject_a_null_array, .timeout = 10)
{
	baton_queue *q = make_queue(4, NULL);

	cr_assert_eq(baton_queue_push_many(q, NULL, 1), -EINVAL);
	cr_assert_eq(baton_queue_try_push_many(q, NULL, 2), -EINVAL);
	cr_assert_eq(baton_queue_push_many_timed(q, NULL, 3, 0), -EINVAL);
	cr_assert_eq(baton_queue_size(q), 0);

	push_tokens(q, 1, 1);
	cr_assert_eq(baton_queue_pop_many(q, NULL, 1), -EINVAL);
	cr_assert_eq(baton_queue_try_pop_many(q, NULL, 2), -EINVAL);
	cr_assert_eq(baton_queue_pop_many_timed(q, NULL, 3, 0), -EINVAL);
	cr_assert_eq(baton_queue_size(q), 1, "a rejected pop_many took items");
	expect_pop_tokens(q, 1, 1);
	baton_queue_destroy(q);
}

Test(queue, push_many_pushes_only_what_fits_contiguously_and_in_order,
    .timeout = 10)
{
	baton_queue *q = make_queue(8, NULL);
	void *items[10];
	void *item = SENTINEL;

	for (size_t i = 0; i < 10; i++)
		items[i] = TOK(i + 6);
	push_tokens(q, 1, 5);
	/* Room for 3 of 10: returns 3 at once, without waiting for more. */
	cr_assert_eq(baton_queue_push_many(q, items, 10), 3);
	cr_assert_eq(baton_queue_size(q), 8);
	cr_assert_eq(baton_queue_try_push(q, TOK(99)), -EAGAIN);
	expect_pop_tokens(q, 1, 8);	/* 1..5, then items[0..3) */
	cr_assert_eq(baton_queue_try_pop(q, &item), -EAGAIN);

	/* The try_ and _timed variants do the same. */
	push_tokens(q, 0, 6);	/* 0..5, then items[0..2) = 6, 7 */
	cr_assert_eq(baton_queue_try_push_many(q, items, 10), 2);
	expect_pop_tokens(q, 0, 8);
	push_tokens(q, 1, 7);
	cr_assert_eq(baton_queue_push_many_timed(q, items, 10, LONG_MS), 1);
	expect_pop_tokens(q, 1, 7);
	expect_pop_tokens(q, 6, 1);
	baton_queue_destroy(q);
}

Test(queue, push_many_into_an_empty_queue_pushes_everything, .timeout = 10)
{
	baton_queue *q = make_queue(8, NULL);
	void *items[8];

	for (size_t i = 0; i < 8; i++)
		items[i] = TOK(i + 1);
	cr_assert_eq(baton_queue_push_many(q, items, 8), 8);
	cr_assert_eq(baton_queue_size(q), 8);
	expect_pop_tokens(q, 1, 8);
	baton_queue_destroy(q);
}

Test(queue, try_push_many_on_full_queue_is_eagain, .timeout = 10)
{
	baton_queue *q = make_queue(3, NULL);
	void *items[2] = { TOK(10), TOK(11) };

	push_tokens(q, 1, 3);
	cr_assert_eq(baton_queue_try_push_many(q, items, 2), -EAGAIN);
	cr_assert_eq(baton_queue_size(q), 3);
	expect_pop_tokens(q, 1, 3);
	baton_queue_destroy(q);
}

Test(queue, push_many_timed_on_full_queue_times_out, .timeout = 10)
{
	baton_queue *q = make_queue(3, NULL);
	void *items[2] = { TOK(10), TOK(11) };
	int64_t t0, elapsed;

	push_tokens(q, 1, 3);
	cr_assert_eq(baton_queue_push_many_timed(q, items, 2, 0), -ETIMEDOUT);
	t0 = now_ns();
	cr_assert_eq(baton_queue_push_many_timed(q, items, 2, 10), -ETIMEDOUT);
	elapsed = now_ns() - t0;
	cr_assert_geq(elapsed, 10 * NSEC_PER_MSEC,
	    "push_many_timed(10 ms) gave up after %lld ns",
	    (long long)elapsed);
	cr_assert_eq(baton_queue_size(q), 3);
	expect_pop_tokens(q, 1, 3);
	baton_queue_destroy(q);
}

Test(queue, pop_many_takes_up_to_n_present_items_in_order, .timeout = 10)
{
	baton_queue *q = make_queue(8, NULL);
	void *out[8];

	push_tokens(q, 1, 5);
	for (size_t i = 0; i < 8; i++)
		out[i] = SENTINEL;
	cr_assert_eq(baton_queue_pop_many(q, out, 3), 3);
	for (size_t i = 0; i < 3; i++)
		cr_assert_eq(UNTOK(out[i]), i + 1);
	cr_assert_eq(out[3], SENTINEL, "pop_many wrote past n");

	/* Fewer present than asked for: returns what is there, at once. */
	for (size_t i = 0; i < 8; i++)
		out[i] = SENTINEL;
	cr_assert_eq(baton_queue_pop_many(q, out, 8), 2);
	cr_assert_eq(UNTOK(out[0]), 4);
	cr_assert_eq(UNTOK(out[1]), 5);
	cr_assert_eq(out[2], SENTINEL, "pop_many wrote past what it took");
	cr_assert_eq(baton_queue_size(q), 0);

	push_tokens(q, 6, 2);
	cr_assert_eq(baton_queue_try_pop_many(q, out, 8), 2);
	cr_assert_eq(UNTOK(out[0]), 6);
	cr_assert_eq(UNTOK(out[1]), 7);
	push_tokens(q, 8, 2);
	cr_assert_eq(baton_queue_pop_many_timed(q, out, 1, 0), 1);
	cr_assert_eq(UNTOK(out[0]), 8);
	cr_assert_eq(baton_queue_pop_many_timed(q, out, 8, LONG_MS), 1);
	cr_assert_eq(UNTOK(out[0]), 9);
	baton_queue_destroy(q);
}

Test(queue, many_calls_keep_order_across_wrap_around, .timeout = 10)
{
	static const size_t caps[] = { 1, 3, 8, 13 };

	for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
		size_t cap = caps[c];
		baton_queue *q = make_queue(cap, NULL);
		size_t next_in = 1, next_out = 1;

		for (size_t round = 0; round < 500; round++) {
			void *in[16], *out[16];
			size_t want = 1 + round % 16;
			ptrdiff_t pushed, popped;

			for (size_t i = 0; i < want; i++)
				in[i] = TOK(next_in + i);
			pushed = baton_queue_push_many(q, in, want);
			cr_assert_gt(pushed, 0);
			cr_assert_leq((size_t)pushed, want);
			next_in += (size_t)pushed;

			popped = baton_queue_pop_many(q, out, 1 + round % 7);
			cr_assert_gt(popped, 0);
			for (size_t i = 0; i < (size_t)popped; i++)
				cr_assert_eq(UNTOK(out[i]), next_out + i,
				    "capacity %zu round %zu: got %zu, want %zu",
				    cap, round, UNTOK(out[i]), next_out + i);
			next_out += (size_t)popped;
			cr_assert_eq(baton_queue_size(q), next_in - next_out);
		}
		expect_pop_tokens(q, next_out, next_in - next_out);
		baton_queue_destroy(q);
	}
}

Test(queue, try_pop_many_on_empty_queue_is_eagain, .timeout = 10)
{
	baton_queue *q = make_queue(4, NULL);
	void *out[2] = { SENTINEL, SENTINEL };

	cr_assert_eq(baton_queue_try_pop_many(q, out, 2), -EAGAIN);
	cr_assert_eq(out[0], SENTINEL);
	baton_queue_destroy(q);
}

Test(queue, pop_many_timed_on_empty_queue_times_out, .timeout = 10)
{
	baton_queue *q = make_queue(4, NULL);
	void *out[2] = { SENTINEL, SENTINEL };
	int64_t t0, elapsed;

	cr_assert_eq(baton_queue_pop_many_timed(q, out, 2, 0), -ETIMEDOUT);
	t0 = now_ns();
	cr_assert_eq(baton_queue_pop_many_timed(q, out, 2, 10), -ETIMEDOUT);
	elapsed = now_ns() - t0;
	cr_assert_geq(elapsed, 10 * NSEC_PER_MSEC,
	    "pop_many_timed(10 ms) gave up after %lld ns",
	    (long long)elapsed);
	cr_assert_eq(out[0], SENTINEL);
	baton_queue_destroy(q);
}

Test(queue, pop_many_drains_a_closed_queue_then_fails_with_epipe,
    .timeout = 10)
{
	baton_queue *q = make_queue(8, NULL);
	void *in[3] = { TOK(1), TOK(2), TOK(3) };
	void *out[8];

	push_tokens(q, 1, 5);
	cr_assert_eq(baton_queue_close(q), 0);
	cr_assert_eq(baton_queue_push_many(q, in, 3), -EPIPE);
	cr_assert_eq(baton_queue_pop_many(q, out, 2), 2);
	cr_assert_eq(UNTOK(out[0]), 1);
	cr_assert_eq(UNTOK(out[1]), 2);
	cr_assert_eq(baton_queue_pop_many(q, out, 8), 3);
	cr_assert_eq(UNTOK(out[0]), 3);
	cr_assert_eq(UNTOK(out[1]), 4);
	cr_assert_eq(UNTOK(out[2]), 5);
	cr_assert_eq(baton_queue_pop_many(q, out, 8), -EPIPE);
	cr_assert_eq(baton_queue_try_pop_many(q, out, 8), -EPIPE);
	cr_assert_eq(baton_queue_pop_many_timed(q, out, 8, LONG_MS), -EPIPE);
	baton_queue_destroy(q);
}

Test(queue, blocked_pop_many_wakes_on_push, .timeout = 10)
{
	baton_queue *q = make_queue(4, NULL);
	struct op op;

	op_init(&op, q, OP_POP_MANY, 0);
	op.n = 4;
	op_start(&op);
	assert_ops_blocked(&op, 1, "pop_many");
	cr_assert_eq(baton_queue_push(q, TOK(3)), 0);
	cr_assert_eq(op_join(&op), 1);
	cr_assert_eq(UNTOK(op.items[0]), 3);
	cr_assert_eq(op.items[1], SENTINEL);
	baton_queue_destroy(q);
}

Test(queue, blocked_pop_many_timed_wakes_on_push, .timeout = 10)
{
	baton_queue *q = make_queue(4, NULL);
	struct op op;

	op_init(&op, q, OP_POP_MANY_TIMED, LONG_MS);
	op.n = 4;
	op_start(&op);
	assert_ops_blocked(&op, 1, "pop_many_timed");
	cr_assert_eq(baton_queue_push(q, TOK(3)), 0);
	cr_assert_eq(op_join(&op), 1);
	cr_assert_eq(UNTOK(op.items[0]), 3);
	baton_queue_destroy(q);
}

Test(queue, blocked_push_many_wakes_on_pop, .timeout = 10)
{
	baton_queue *q = make_queue(2, NULL);
	struct op op;

	push_tokens(q, 1, 2);
	op_init(&op, q, OP_PUSH_MANY, 0);
	op.items[0] = TOK(3);
	op.items[1] = TOK(4);
	op.items[2] = TOK(5);
	op.n = 3;
	op_start(&op);
	assert_ops_blocked(&op, 1, "push_many");
	expect_pop_tokens(q, 1, 1);
	/* Exactly one slot is free until it returns: k must be 1. */
	cr_assert_eq(op_join(&op), 1);
	expect_pop_tokens(q, 2, 2);
	baton_queue_destroy(q);
}

/* ------------------------------------------------------------------ */
/* NULL handles and arguments                                          */
/* ------------------------------------------------------------------ */

Test(queue, every_call_rejects_a_null_queue, .timeout = 10)
{
	void *item = SENTINEL;
	void *items[2] = { TOK(1), TOK(2) };

	cr_assert_eq(baton_queue_push(NULL, TOK(1)), -EINVAL);
	cr_assert_eq(baton_queue_try_push(NULL, TOK(1)), -EINVAL);
	cr_assert_eq(baton_queue_push_timed(NULL, TOK(1), 0), -EINVAL);
	cr_assert_eq(baton_queue_push_timed(NULL, TOK(1), BATON_INFINITY),
	    -EINVAL);
	cr_assert_eq(baton_queue_pop(NULL, &item), -EINVAL);
	cr_assert_eq(baton_queue_try_pop(NULL, &item), -EINVAL);
	cr_assert_eq(baton_queue_pop_timed(NULL, &item, 0), -EINVAL);
	cr_assert_eq(baton_queue_pop_timed(NULL, &item, BATON_INFINITY),
	    -EINVAL);
	cr_assert_eq(item, SENTINEL);
	cr_assert_eq(baton_queue_push_many(NULL, items, 2), -EINVAL);
	cr_assert_eq(baton_queue_try_push_many(NULL, items, 2), -EINVAL);
	cr_assert_eq(baton_queue_push_many_timed(NULL, items, 2, 0), -EINVAL);
	cr_assert_eq(baton_queue_pop_many(NULL, items, 2), -EINVAL);
	cr_assert_eq(baton_queue_try_pop_many(NULL, items, 2), -EINVAL);
	cr_assert_eq(baton_queue_pop_many_timed(NULL, items, 2, 0), -EINVAL);
	cr_assert_eq(baton_queue_close(NULL), -EINVAL);
	cr_assert_eq(baton_queue_close_discard(NULL, NULL, NULL), -EINVAL);
	cr_assert_eq(baton_queue_close_discard(NULL, record_handback, items),
	    -EINVAL);
	cr_assert_eq(baton_queue_size(NULL), 0);
	cr_assert_eq(baton_queue_capacity(NULL), 0);
	cr_assert(!baton_queue_is_closed(NULL));
	baton_queue_destroy(NULL);
}

Test(queue, pops_reject_a_null_item_pointer_and_take_nothing, .timeout = 10)
{
	baton_queue *q = make_queue(4, NULL);

	push_tokens(q, 1, 1);
	cr_assert_eq(baton_queue_pop(q, NULL), -EINVAL);
	cr_assert_eq(baton_queue_try_pop(q, NULL), -EINVAL);
	cr_assert_eq(baton_queue_pop_timed(q, NULL, 0), -EINVAL);
	cr_assert_eq(baton_queue_pop_timed(q, NULL, BATON_INFINITY), -EINVAL);
	cr_assert_eq(baton_queue_size(q), 1);
	expect_pop_tokens(q, 1, 1);
	baton_queue_destroy(q);
}

/* ------------------------------------------------------------------ */
/* Several threads                                                     */
/* ------------------------------------------------------------------ */

#define FIFO_PRODUCERS	2
#define FIFO_PER_THREAD	5000

struct producer {
	pthread_t thread;
	baton_queue *q;
	size_t id;
	atomic_int *go;
	int failed_rc;		/* first failing push's return, or 0 */
};

/* Item (seq, id) travels as the token seq * FIFO_PRODUCERS + id + 1. */
static void *
producer_main(void *arg)
{
	struct producer *p = arg;

	wait_until_set(p->go);
	for (size_t seq = 0; seq < FIFO_PER_THREAD; seq++) {
		int rc = baton_queue_push(p->q,
		    TOK(seq * FIFO_PRODUCERS + p->id + 1));

		if (rc != 0) {
			p->failed_rc = rc;
			break;
		}
	}
	return NULL;
}

static void
start_producers(struct producer *ps, size_t count, baton_queue *q,
    atomic_int *go)
{
	for (size_t i = 0; i < count; i++) {
		ps[i].q = q;
		ps[i].id = i;
		ps[i].go = go;
		ps[i].failed_rc = 0;
		cr_assert_eq(pthread_create(&ps[i].thread, NULL, producer_main,
		    &ps[i]), 0);
	}
}

Test(queue, each_producers_items_arrive_in_its_order, .timeout = 10)
{
	baton_queue *q = make_queue(16, NULL);
	struct producer ps[FIFO_PRODUCERS];
	size_t next_seq[FIFO_PRODUCERS] = { 0 };
	atomic_int go;
	size_t bad_token = 0, bad_index = 0;
	int pop_rc = 0;

	atomic_init(&go, 0);
	start_producers(ps, FIFO_PRODUCERS, q, &go);
	atomic_store_explicit(&go, 1, memory_order_release);

	/* Record the first mismatch; assert after joining the producers. */
	for (size_t i = 0; i < FIFO_PRODUCERS * FIFO_PER_THREAD; i++) {
		void *item = SENTINEL;
		size_t tok, id, seq;

		pop_rc = baton_queue_pop(q, &item);
		if (pop_rc != 0)
			break;
		tok = UNTOK(item) - 1;
		id = tok % FIFO_PRODUCERS;
		seq = tok / FIFO_PRODUCERS;
		if (seq != next_seq[id] && bad_token == 0) {
			bad_token = tok + 1;
			bad_index = i;
		}
		next_seq[id] = seq + 1;
	}
	if (pop_rc != 0)
		baton_queue_close(q);	/* release the producers */
	for (size_t i = 0; i < FIFO_PRODUCERS; i++)
		cr_assert_eq(pthread_join(ps[i].thread, NULL), 0);

	cr_assert_eq(pop_rc, 0, "pop returned %d", pop_rc);
	for (size_t i = 0; i < FIFO_PRODUCERS; i++)
		cr_assert_eq(ps[i].failed_rc, 0, "producer %zu: push gave %d",
		    i, ps[i].failed_rc);
	cr_assert_eq(bad_token, 0, "pop %zu: token %zu arrived out of order",
	    bad_index, bad_token);
	for (size_t i = 0; i < FIFO_PRODUCERS; i++)
		cr_assert_eq(next_seq[i], FIFO_PER_THREAD);
	cr_assert_eq(baton_queue_size(q), 0);
	baton_queue_destroy(q);
}

#define BATCH_LEN	4
#define BATCHES		100

struct batcher {
	pthread_t thread;
	baton_queue *q;
	size_t id;
	atomic_int *go;
	ptrdiff_t bad_rc;	/* a push_many return other than BATCH_LEN */
};

/* Item pos of batch b of producer id travels as this token. */
static size_t
batch_token(size_t id, size_t b, size_t pos)
{
	return (b * FIFO_PRODUCERS + id) * BATCH_LEN + pos + 1;
}

static void *
batcher_main(void *arg)
{
	struct batcher *p = arg;
	void *batch[BATCH_LEN];

	wait_until_set(p->go);
	for (size_t b = 0; b < BATCHES; b++) {
		ptrdiff_t rc;

		for (size_t pos = 0; pos < BATCH_LEN; pos++)
			batch[pos] = TOK(batch_token(p->id, b, pos));
		rc = baton_queue_push_many(p->q, batch, BATCH_LEN);
		if (rc != BATCH_LEN) {
			p->bad_rc = rc;
			break;
		}
	}
	return NULL;
}

Test(queue, batches_pushed_by_racing_producers_stay_contiguous,
    .timeout = 10)
{
	/* Room for everything, so every push_many appends its whole batch. */
	baton_queue *q = make_queue(FIFO_PRODUCERS * BATCHES * BATCH_LEN,
	    NULL);
	struct batcher ps[FIFO_PRODUCERS];
	size_t next_batch[FIFO_PRODUCERS] = { 0 };
	atomic_int go;

	atomic_init(&go, 0);
	for (size_t i = 0; i < FIFO_PRODUCERS; i++) {
		ps[i].q = q;
		ps[i].id = i;
		ps[i].go = &go;
		ps[i].bad_rc = 0;
		cr_assert_eq(pthread_create(&ps[i].thread, NULL, batcher_main,
		    &ps[i]), 0);
	}
	atomic_store_explicit(&go, 1, memory_order_release);
	for (size_t i = 0; i < FIFO_PRODUCERS; i++) {
		cr_assert_eq(pthread_join(ps[i].thread, NULL), 0);
		cr_assert_eq(ps[i].bad_rc, 0,
		    "producer %zu: push_many gave %td", i, ps[i].bad_rc);
	}

	cr_assert_eq(baton_queue_size(q),
	    FIFO_PRODUCERS * BATCHES * BATCH_LEN);
	for (size_t n = 0; n < FIFO_PRODUCERS * BATCHES; n++) {
		void *out[BATCH_LEN];
		size_t first, id, b;

		cr_assert_eq(baton_queue_try_pop_many(q, out, BATCH_LEN),
		    BATCH_LEN);
		first = UNTOK(out[0]) - 1;
		cr_assert_eq(first % BATCH_LEN, 0,
		    "batch %zu starts mid-batch (token %zu)", n, first + 1);
		id = first / BATCH_LEN % FIFO_PRODUCERS;
		b = first / BATCH_LEN / FIFO_PRODUCERS;
		cr_assert_eq(b, next_batch[id],
		    "producer %zu: batch %zu came before batch %zu", id, b,
		    next_batch[id]);
		next_batch[id]++;
		for (size_t pos = 0; pos < BATCH_LEN; pos++)
			cr_assert_eq(UNTOK(out[pos]), batch_token(id, b, pos),
			    "batch %zu of producer %zu was split", b, id);
	}
	cr_assert_eq(baton_queue_size(q), 0);
	baton_queue_destroy(q);
}

#define XO_CONSUMERS	2
#define XO_TOTAL	(FIFO_PRODUCERS * FIFO_PER_THREAD)

struct consumer {
	pthread_t thread;
	baton_queue *q;
	unsigned char *seen;	/* XO_TOTAL + 1 counters */
	size_t popped;
	int final_rc;
};

static void *
consumer_main(void *arg)
{
	struct consumer *c = arg;
	void *item;
	int rc;

	while ((rc = baton_queue_pop(c->q, &item)) == 0) {
		size_t tok = UNTOK(item);

		if (tok <= XO_TOTAL && c->seen[tok] < UCHAR_MAX)
			c->seen[tok]++;
		c->popped++;
	}
	c->final_rc = rc;
	return NULL;
}

Test(queue, every_item_is_popped_exactly_once_with_several_threads,
    .timeout = 10)
{
	baton_queue *q = make_queue(8, NULL);
	struct producer ps[FIFO_PRODUCERS];
	struct consumer cs[XO_CONSUMERS];
	atomic_int go;
	size_t total = 0;

	for (size_t i = 0; i < XO_CONSUMERS; i++) {
		cs[i].q = q;
		cs[i].seen = calloc(XO_TOTAL + 1, 1);
		cr_assert_not_null(cs[i].seen);
		cs[i].popped = 0;
		cs[i].final_rc = 0;
		cr_assert_eq(pthread_create(&cs[i].thread, NULL, consumer_main,
		    &cs[i]), 0);
	}
	atomic_init(&go, 0);
	start_producers(ps, FIFO_PRODUCERS, q, &go);
	atomic_store_explicit(&go, 1, memory_order_release);
	for (size_t i = 0; i < FIFO_PRODUCERS; i++)
		cr_assert_eq(pthread_join(ps[i].thread, NULL), 0);
	/* Every push returned: the consumers drain the rest, then -EPIPE. */
	cr_assert_eq(baton_queue_close(q), 0);
	for (size_t i = 0; i < XO_CONSUMERS; i++)
		cr_assert_eq(pthread_join(cs[i].thread, NULL), 0);

	for (size_t i = 0; i < FIFO_PRODUCERS; i++)
		cr_assert_eq(ps[i].failed_rc, 0);
	for (size_t i = 0; i < XO_CONSUMERS; i++) {
		cr_assert_eq(cs[i].final_rc, -EPIPE);
		total += cs[i].popped;
	}
	cr_assert_eq(total, XO_TOTAL);
	for (size_t tok = 1; tok <= XO_TOTAL; tok++) {
		unsigned n = 0;

		for (size_t i = 0; i < XO_CONSUMERS; i++)
			n += cs[i].seen[tok];
		cr_assert_eq(n, 1, "token %zu popped %u times", tok, n);
	}
	for (size_t i = 0; i < XO_CONSUMERS; i++)
		free(cs[i].seen);
	baton_queue_destroy(q);
}

/* ------------------------------------------------------------------ */
/* peek, clear, waiters                                                */
/* ------------------------------------------------------------------ */

Test(queue, peek_returns_the_oldest_item_and_leaves_it_in_place,
    .timeout = 10)
{
	baton_queue *q = make_queue(4, NULL);
	void *item = SENTINEL;

	push_tokens(q, 1, 3);
	cr_assert_eq(baton_queue_peek(q, &item), 0);
	cr_assert_eq(UNTOK(item), 1);
	cr_assert_eq(baton_queue_peek(q, &item), 0);
	cr_assert_eq(UNTOK(item), 1);
	cr_assert_eq(baton_queue_size(q), 3);
	expect_pop_tokens(q, 1, 1);
	cr_assert_eq(baton_queue_peek(q, &item), 0);
	cr_assert_eq(UNTOK(item), 2);
	baton_queue_destroy(q);
}

Test(queue, peek_on_empty_is_eagain_then_epipe_once_closed, .timeout = 10)
{
	baton_queue *q = make_queue(2, NULL);
	void *item = SENTINEL;

	cr_assert_eq(baton_queue_peek(q, &item), -EAGAIN);
	cr_assert_eq(item, SENTINEL, "*item must be untouched on failure");
	push_tokens(q, 7, 1);
	baton_queue_close(q);
	cr_assert_eq(baton_queue_peek(q, &item), 0, "a closed queue still "
	    "holds what was pushed before the close");
	cr_assert_eq(UNTOK(item), 7);
	expect_pop_tokens(q, 7, 1);
	cr_assert_eq(baton_queue_peek(q, &item), -EPIPE);
	cr_assert_eq(baton_queue_peek(NULL, &item), -EINVAL);
	cr_assert_eq(baton_queue_peek(q, NULL), -EINVAL);
	baton_queue_destroy(q);
}

Test(queue, peek_sees_a_null_item, .timeout = 10)
{
	baton_queue *q = make_queue(2, NULL);
	void *item = SENTINEL;

	cr_assert_eq(baton_queue_push(q, NULL), 0);
	cr_assert_eq(baton_queue_peek(q, &item), 0);
	cr_assert_null(item);
	baton_queue_destroy(q);
}

Test(queue, clear_destroys_the_items_and_keeps_the_queue_open,
    .timeout = 10)
{
	baton_queue *q = make_queue(8, count_token);

	push_tokens(q, 1, 5);
	cr_assert_eq(baton_queue_clear(q, NULL, NULL), 5);
	cr_assert_eq(atomic_load(&destroyed), 5);
	for (size_t t = 1; t <= 5; t++)
		cr_assert_eq(atomic_load(&token_destroyed[t]), 1);
	cr_assert_eq(baton_queue_size(q), 0);
	cr_assert(!baton_queue_is_closed(q), "clear must not close");
	push_tokens(q, 10, 8);
	expect_pop_tokens(q, 10, 8);
	cr_assert_eq(baton_queue_clear(q, NULL, NULL), 0);
	baton_queue_destroy(q);
	cr_assert_eq(atomic_load(&destroyed), 5);
}

struct handed {
	size_t n;
	size_t tokens[16];
};

static void
hand_back(void *item, void *ctx)
{
	struct handed *h = ctx;

	h->tokens[h->n++] = UNTOK(item);
}

Test(queue, clear_hands_items_back_in_order_without_destroying_them,
    .timeout = 10)
{
	baton_queue *q = make_queue(4, count_token);
	struct handed h = { 0 };

	push_tokens(q, 3, 4);
	cr_assert_eq(baton_queue_clear(q, hand_back, &h), 4);
	cr_assert_eq(h.n, 4);
	for (size_t i = 0; i < 4; i++)
		cr_assert_eq(h.tokens[i], 3 + i);
	cr_assert_eq(atomic_load(&destroyed), 0);
	cr_assert_eq(baton_queue_clear(NULL, NULL, NULL), -EINVAL);
	baton_queue_destroy(q);
}

Test(queue, clear_lets_blocked_pushers_in, .timeout = 10)
{
	baton_queue *q = make_queue(2, count_token);
	struct op op;

	push_tokens(q, 1, 2);
	op_init(&op, q, OP_PUSH, 0);
	op.item = TOK(9);
	op_start(&op);
	wait_for_waiters(q, 1);
	cr_assert_eq(baton_queue_clear(q, NULL, NULL), 2);
	cr_assert_eq(op_join(&op), 0);
	expect_pop_tokens(q, 9, 1);
	baton_queue_destroy(q);
}

Test(queue, waiters_counts_blocked_calls, .timeout = 10)
{
	baton_queue *q = make_queue(1, NULL);
	struct op ops[2];

	cr_assert_eq(baton_queue_waiters(q), 0);
	cr_assert_eq(baton_queue_waiters(NULL), 0);
	for (size_t i = 0; i < 2; i++) {
		op_init(&ops[i], q, OP_POP, 0);
		op_start(&ops[i]);
	}
	wait_for_waiters(q, 2);
	push_tokens(q, 1, 1);
	cr_assert_eq(baton_queue_push(q, TOK(2)), 0);
	for (size_t i = 0; i < 2; i++)
		cr_assert_eq(op_join(&ops[i]), 0);
	cr_assert_eq(baton_queue_waiters(q), 0);
	baton_queue_destroy(q);
}

/* ------------------------------------------------------------------ */
/* rendezvous (capacity 0)                                             */
/* ------------------------------------------------------------------ */

Test(queue, rendezvous_try_calls_fail_without_a_partner, .timeout = 10)
{
	baton_queue *q = make_queue(0, NULL);
	void *item = SENTINEL;
	void *items[2] = { TOK(1), TOK(2) };

	cr_assert_eq(baton_queue_try_push(q, TOK(1)), -EAGAIN);
	cr_assert_eq(baton_queue_try_pop(q, &item), -EAGAIN);
	cr_assert_eq(baton_queue_try_push_many(q, items, 2), -EAGAIN);
	cr_assert_eq(baton_queue_push_timed(q, TOK(1), 0), -ETIMEDOUT);
	cr_assert_eq(baton_queue_pop_timed(q, &item, 0), -ETIMEDOUT);
	cr_assert_eq(baton_queue_peek(q, &item), -EAGAIN);
	cr_assert_eq(baton_queue_clear(q, NULL, NULL), 0);
	cr_assert_eq(item, SENTINEL);
	baton_queue_destroy(q);
}

Test(queue, rendezvous_push_completes_only_when_a_pop_takes_the_item,
    .timeout = 10)
{
	baton_queue *q = make_queue(0, NULL);
	struct op op;
	void *item = SENTINEL;

	op_init(&op, q, OP_PUSH, 0);
	op.item = TOK(5);
	op_start(&op);
	wait_for_waiters(q, 1);
	assert_ops_blocked(&op, 1, "rendezvous push");
	cr_assert_eq(baton_queue_size(q), 0);
	cr_assert_eq(baton_queue_pop(q, &item), 0);
	cr_assert_eq(UNTOK(item), 5);
	cr_assert_eq(op_join(&op), 0);
	baton_queue_destroy(q);
}

Test(queue, rendezvous_try_push_hands_the_item_to_a_waiting_pop,
    .timeout = 10)
{
	baton_queue *q = make_queue(0, NULL);
	struct op op;

	op_init(&op, q, OP_POP, 0);
	op_start(&op);
	wait_for_waiters(q, 1);
	cr_assert_eq(try_push_to_counted_partner(q, TOK(8)), 0);
	cr_assert_eq(op_join(&op), 0);
	cr_assert_eq(UNTOK(op.item), 8);
	cr_assert_eq(baton_queue_try_push(q, TOK(9)), -EAGAIN,
	    "the popper is gone: no partner any more");
	baton_queue_destroy(q);
}

Test(queue, rendezvous_pop_many_takes_from_every_waiting_pusher,
    .timeout = 10)
{
	baton_queue *q = make_queue(0, NULL);
	struct op ops[3];
	void *items[4] = { SENTINEL, SENTINEL, SENTINEL, SENTINEL };
	size_t seen = 0;

	for (size_t i = 0; i < 3; i++) {
		op_init(&ops[i], q, OP_PUSH, 0);
		ops[i].item = TOK(1 + i);
		op_start(&ops[i]);
		wait_for_waiters(q, i + 1);
	}
	cr_assert_eq(baton_queue_try_pop_many(q, items, 4), 3);
	for (size_t i = 0; i < 3; i++) {
		cr_assert_eq(op_join(&ops[i]), 0);
		seen |= (size_t)1 << UNTOK(items[i]);
	}
	cr_assert_eq(seen, 0xe, "each pusher's item exactly once");
	cr_assert_eq(UNTOK(items[0]), 1, "the longest waiter goes first");
	baton_queue_destroy(q);
}

Test(queue, rendezvous_close_fails_a_blocked_push_and_keeps_its_item,
    .timeout = 10)
{
	baton_queue *q = make_queue(0, count_token);
	struct op push, pop;
	void *item = SENTINEL;

	op_init(&push, q, OP_PUSH, 0);
	push.item = TOK(4);
	op_start(&push);
	wait_for_waiters(q, 1);
	baton_queue_close(q);
	cr_assert_eq(op_join(&push), -EPIPE);
	cr_assert_eq(baton_queue_pop(q, &item), -EPIPE);
	cr_assert_eq(baton_queue_push(q, TOK(1)), -EPIPE);
	op_init(&pop, q, OP_POP, 0);
	op_start(&pop);
	cr_assert_eq(op_join(&pop), -EPIPE);
	baton_queue_destroy(q);
	cr_assert_eq(atomic_load(&destroyed), 0, "no item was in the queue");
}

Test(queue, rendezvous_close_wakes_a_blocked_pop, .timeout = 10)
{
	baton_queue *q = make_queue(0, NULL);
	struct op op;

	op_init(&op, q, OP_POP_TIMED, LONG_MS);
	op_start(&op);
	wait_for_waiters(q, 1);
	baton_queue_close(q);
	cr_assert_eq(op_join(&op), -EPIPE);
	cr_assert_eq(op.item, SENTINEL);
	baton_queue_destroy(q);
}

Test(queue, rendezvous_timed_push_times_out_and_keeps_its_item,
    .timeout = 10)
{
	baton_queue *q = make_queue(0, NULL);
	void *item = SENTINEL;
	int64_t t0 = now_ns();

	cr_assert_eq(baton_queue_push_timed(q, TOK(3), 30), -ETIMEDOUT);
	cr_assert_geq(now_ns() - t0, 30 * 1000000LL, "timed out early");
	cr_assert_eq(baton_queue_try_pop(q, &item), -EAGAIN,
	    "a timed-out push left nothing behind");
	baton_queue_destroy(q);
}

Test(queue, rendezvous_moves_many_items_between_threads_in_order,
    .timeout = 10)
{
	baton_queue *q = make_queue(0, NULL);
	struct op ops[1];
	void *item;

	/* One pusher thread at a time keeps the order checkable. */
	for (size_t i = 1; i <= 100; i++) {
		op_init(&ops[0], q, OP_PUSH, 0);
		ops[0].item = TOK(i);
		op_start(&ops[0]);
		cr_assert_eq(baton_queue_pop(q, &item), 0);
		cr_assert_eq(UNTOK(item), i);
		cr_assert_eq(op_join(&ops[0]), 0);
	}
	baton_queue_destroy(q);
}

/* ------------------------------------------------------------------ */
/* cancellation                                                        */
/* ------------------------------------------------------------------ */

static baton_queue_cancel *
make_cancel(void)
{
	baton_queue_cancel *c = TOK(1);

	cr_assert_eq(baton_queue_cancel_create(&c), 0);
	cr_assert_not_null(c);
	cr_assert(!baton_queue_cancel_is_fired(c));
	return c;
}

Test(queue, cancel_interrupts_a_blocked_pop_and_leaves_the_queue_open,
    .timeout = 10)
{
	baton_queue *q = make_queue(2, NULL);
	baton_queue_cancel *c = make_cancel();
	struct op op;

	op_init(&op, q, OP_POP_CANCELLABLE, BATON_INFINITY);
	op.cancel = c;
	op_start(&op);
	wait_for_waiters(q, 1);
	cr_assert_eq(baton_queue_cancel_fire(c), 0);
	cr_assert_eq(op_join(&op), -ECANCELED);
	cr_assert_eq(op.item, SENTINEL, "*item untouched");
	cr_assert(!baton_queue_is_closed(q));
	push_tokens(q, 1, 2);
	expect_pop_tokens(q, 1, 2);
	baton_queue_cancel_destroy(c);
	baton_queue_destroy(q);
}

Test(queue, cancel_interrupts_a_blocked_push_which_keeps_its_item,
    .timeout = 10)
{
	baton_queue *q = make_queue(1, count_token);
	baton_queue_cancel *c = make_cancel();
	struct op op;

	push_tokens(q, 1, 1);
	op_init(&op, q, OP_PUSH_CANCELLABLE, LONG_MS);
	op.item = TOK(2);
	op.cancel = c;
	op_start(&op);
	wait_for_waiters(q, 1);
	baton_queue_cancel_fire(c);
	cr_assert_eq(op_join(&op), -ECANCELED);
	cr_assert_eq(baton_queue_size(q), 1);
	expect_pop_tokens(q, 1, 1);
	cr_assert_eq(baton_queue_try_pop(q, &op.item), -EAGAIN,
	    "the cancelled push must not have gone in");
	baton_queue_cancel_destroy(c);
	baton_queue_destroy(q);
	cr_assert_eq(atomic_load(&destroyed), 0);
}

Test(queue, cancel_interrupts_only_the_calls_that_use_the_handle,
    .timeout = 10)
{
	baton_queue *q = make_queue(1, NULL);
	baton_queue_cancel *c = make_cancel(), *other = make_cancel();
	struct op mine, theirs;

	op_init(&mine, q, OP_POP_CANCELLABLE, BATON_INFINITY);
	mine.cancel = c;
	op_init(&theirs, q, OP_POP_CANCELLABLE, BATON_INFINITY);
	theirs.cancel = other;
	op_start(&mine);
	op_start(&theirs);
	wait_for_waiters(q, 2);
	baton_queue_cancel_fire(c);
	cr_assert_eq(op_join(&mine), -ECANCELED);
	assert_ops_blocked(&theirs, 1, "pop with another handle");
	cr_assert_eq(baton_queue_push(q, TOK(6)), 0);
	cr_assert_eq(op_join(&theirs), 0);
	cr_assert_eq(UNTOK(theirs.item), 6);
	baton_queue_cancel_destroy(c);
	baton_queue_cancel_destroy(other);
	baton_queue_destroy(q);
}

Test(queue, a_fired_handle_fails_later_calls_until_reset, .timeout = 10)
{
	baton_queue *q = make_queue(1, NULL);
	baton_queue_cancel *c = make_cancel();
	void *item = SENTINEL;

	baton_queue_cancel_fire(c);
	baton_queue_cancel_fire(c);
	cr_assert(baton_queue_cancel_is_fired(c));
	cr_assert_eq(baton_queue_pop_cancellable(q, &item, LONG_MS, c),
	    -ECANCELED);
	cr_assert_eq(baton_queue_push_cancellable(q, TOK(1), LONG_MS, c),
	    -ECANCELED, "a fired handle fails even a push that would fit");
	cr_assert_eq(baton_queue_size(q), 0);
	cr_assert_eq(baton_queue_cancel_reset(c), 0);
	cr_assert(!baton_queue_cancel_is_fired(c));
	cr_assert_eq(baton_queue_push_cancellable(q, TOK(1), LONG_MS, c), 0);
	cr_assert_eq(baton_queue_pop_cancellable(q, &item, 0, c), 0);
	cr_assert_eq(UNTOK(item), 1);
	cr_assert_eq(baton_queue_pop_cancellable(q, &item, 5, c),
	    -ETIMEDOUT);
	baton_queue_cancel_destroy(c);
	baton_queue_destroy(q);
}

Test(queue, cancel_calls_reject_null_arguments, .timeout = 10)
{
	baton_queue *q = make_queue(1, NULL);
	baton_queue_cancel *c = make_cancel();
	void *item;

	cr_assert_eq(baton_queue_cancel_create(NULL), -EINVAL);
	cr_assert_eq(baton_queue_cancel_fire(NULL), -EINVAL);
	cr_assert_eq(baton_queue_cancel_reset(NULL), -EINVAL);
	cr_assert(!baton_queue_cancel_is_fired(NULL));
	baton_queue_cancel_destroy(NULL);
	cr_assert_eq(baton_queue_push_cancellable(q, TOK(1), 0, NULL),
	    -EINVAL);
	cr_assert_eq(baton_queue_pop_cancellable(q, &item, 0, NULL), -EINVAL);
	cr_assert_eq(baton_queue_pop_cancellable(q, NULL, 0, c), -EINVAL);
	cr_assert_eq(baton_queue_push_cancellable(NULL, TOK(1), 0, c),
	    -EINVAL);
	cr_assert_eq(baton_queue_push_cancellable(q, TOK(1), -5, c), -EINVAL);
	cr_assert_eq(baton_queue_size(q), 0);
	baton_queue_cancel_destroy(c);
	baton_queue_destroy(q);
}

Test(queue, cancel_interrupts_a_rendezvous_push, .timeout = 10)
{
	baton_queue *q = make_queue(0, NULL);
	baton_queue_cancel *c = make_cancel();
	struct op op;
	void *item = SENTINEL;

	op_init(&op, q, OP_PUSH_CANCELLABLE, BATON_INFINITY);
	op.item = TOK(3);
	op.cancel = c;
	op_start(&op);
	wait_for_waiters(q, 1);
	baton_queue_cancel_fire(c);
	cr_assert_eq(op_join(&op), -ECANCELED);
	cr_assert_eq(baton_queue_try_pop(q, &item), -EAGAIN);
	baton_queue_cancel_destroy(c);
	baton_queue_destroy(q);
}

/* ------------------------------------------------------------------ */
/* destroy under blocked callers (issue 12, item 5)                    */
/* ------------------------------------------------------------------ */

Test(queue, destroy_wakes_blocked_poppers_with_epipe, .timeout = 10)
{
	baton_queue *q = make_queue(4, NULL);
	struct op ops[3];

	for (size_t i = 0; i < 3; i++) {
		op_init(&ops[i], q, i == 0 ? OP_POP : i == 1 ? OP_POP_TIMED
		    : OP_POP_MANY, LONG_MS);
		op_start(&ops[i]);
	}
	wait_for_waiters(q, 3);
	baton_queue_destroy(q);
	for (size_t i = 0; i < 3; i++) {
		cr_assert_eq(op_join(&ops[i]), -EPIPE);
		cr_assert_eq(ops[i].item, SENTINEL);
	}
}

Test(queue, destroy_wakes_blocked_pushers_which_keep_their_items,
    .timeout = 10)
{
	baton_queue *q = make_queue(2, count_token);
	struct op ops[3];

	push_tokens(q, 1, 2);
	for (size_t i = 0; i < 3; i++) {
		op_init(&ops[i], q, i == 2 ? OP_PUSH_TIMED : OP_PUSH, LONG_MS);
		ops[i].item = TOK(10 + i);
		op_start(&ops[i]);
	}
	wait_for_waiters(q, 3);
	baton_queue_destroy(q);
	for (size_t i = 0; i < 3; i++)
		cr_assert_eq(op_join(&ops[i]), -EPIPE);
	cr_assert_eq(atomic_load(&destroyed), 2, "only the queued items");
	cr_assert_eq(atomic_load(&token_destroyed[1]), 1);
	cr_assert_eq(atomic_load(&token_destroyed[2]), 1);
}

Test(queue, destroy_wakes_blocked_rendezvous_and_cancellable_callers,
    .timeout = 10)
{
	baton_queue *q = make_queue(0, NULL);
	baton_queue_cancel *c = make_cancel();
	struct op ops[2];

	op_init(&ops[0], q, OP_PUSH_CANCELLABLE, BATON_INFINITY);
	ops[0].cancel = c;
	ops[0].item = TOK(1);
	op_init(&ops[1], q, OP_PUSH, 0);
	ops[1].item = TOK(2);
	op_start(&ops[0]);
	op_start(&ops[1]);
	wait_for_waiters(q, 2);
	baton_queue_destroy(q);
	cr_assert_eq(op_join(&ops[0]), -EPIPE);
	cr_assert_eq(op_join(&ops[1]), -EPIPE);
	baton_queue_cancel_destroy(c);
}

/* ------------------------------------------------------------------ */
/* select                                                              */
/* ------------------------------------------------------------------ */

static struct baton_queue_case
pop_case(baton_queue *q)
{
	return (struct baton_queue_case){ .kind = BATON_QUEUE_CASE_POP,
					  .queue = q, .item = SENTINEL };
}

static struct baton_queue_case
push_case(baton_queue *q, void *item)
{
	return (struct baton_queue_case){ .kind = BATON_QUEUE_CASE_PUSH,
					  .queue = q, .item = item };
}

Test(queue, select_fires_the_one_ready_pop_case, .timeout = 10)
{
	baton_queue *a = make_queue(2, NULL), *b = make_queue(2, NULL);
	struct baton_queue_case cs[2] = { pop_case(a), pop_case(b) };

	push_tokens(b, 4, 1);
	cr_assert_eq(baton_queue_select(cs, 2, 0), 1);
	cr_assert_eq(cs[1].result, 0);
	cr_assert_eq(UNTOK(cs[1].item), 4);
	cr_assert_eq(cs[0].item, SENTINEL, "the other case took nothing");
	cr_assert_eq(baton_queue_select(cs, 2, 0), -ETIMEDOUT);
	baton_queue_destroy(a);
	baton_queue_destroy(b);
}

Test(queue, select_takes_exactly_one_item_when_several_cases_are_ready,
    .timeout = 10)
{
	baton_queue *a = make_queue(8, NULL), *b = make_queue(8, NULL);
	unsigned fired[2] = { 0, 0 };

	for (int round = 0; round < 200; round++) {
		struct baton_queue_case cs[2] = { pop_case(a), pop_case(b) };
		int i;

		if (baton_queue_size(a) == 0)
			push_tokens(a, 1, 1);
		if (baton_queue_size(b) == 0)
			push_tokens(b, 2, 1);
		i = baton_queue_select(cs, 2, LONG_MS);
		cr_assert(i == 0 || i == 1);
		cr_assert_eq(UNTOK(cs[i].item), (size_t)i + 1);
		cr_assert_eq(cs[1 - i].item, SENTINEL);
		fired[i]++;
		cr_assert_eq(baton_queue_size(a) + baton_queue_size(b), 1,
		    "exactly one item taken");
	}
	/* Random start: both fire (each below 1 in 2^100 to starve). */
	cr_assert(fired[0] > 20 && fired[1] > 20, "fired %u / %u", fired[0],
	    fired[1]);
	baton_queue_destroy(a);
	baton_queue_destroy(b);
}

Test(queue, select_push_case_goes_into_the_queue_with_room, .timeout = 10)
{
	baton_queue *full = make_queue(1, NULL), *room = make_queue(1, NULL);
	struct baton_queue_case cs[2] = { push_case(full, TOK(1)),
					  push_case(room, TOK(2)) };

	push_tokens(full, 9, 1);
	cr_assert_eq(baton_queue_select(cs, 2, LONG_MS), 1);
	expect_pop_tokens(room, 2, 1);
	expect_pop_tokens(full, 9, 1);
	cr_assert_eq(baton_queue_size(full), 0, "no push for the other case");
	baton_queue_destroy(full);
	baton_queue_destroy(room);
}

Test(queue, select_times_out_and_polls, .timeout = 10)
{
	baton_queue *a = make_queue(1, NULL);
	struct baton_queue_case cs[2] = { pop_case(a),
		{ .kind = BATON_QUEUE_CASE_POP, .queue = NULL } };
	int64_t t0 = now_ns();

	cr_assert_eq(baton_queue_select(cs, 2, 0), -ETIMEDOUT);
	cr_assert_eq(baton_queue_select(cs, 2, 30), -ETIMEDOUT);
	cr_assert_geq(now_ns() - t0, 30 * 1000000LL, "timed out early");
	cr_assert_eq(baton_queue_waiters(a), 0);
	cr_assert_eq(baton_queue_select(NULL, 1, 0), -EINVAL);
	cr_assert_eq(baton_queue_select(cs, 0, 0), -EINVAL);
	cr_assert_eq(baton_queue_select(cs, 2, -2), -EINVAL);
	cs[0].kind = 99;
	cr_assert_eq(baton_queue_select(cs, 2, 0), -EINVAL);
	baton_queue_destroy(a);
}

struct selector {
	pthread_t thread;
	struct baton_queue_case cs[3];
	size_t n;
	int timeout_ms;
	int rc;
	atomic_int done;
};

static void *
selector_main(void *arg)
{
	struct selector *s = arg;

	s->rc = baton_queue_select(s->cs, s->n, s->timeout_ms);
	atomic_store_explicit(&s->done, 1, memory_order_release);
	return NULL;
}

static void
selector_start(struct selector *s)
{
	atomic_init(&s->done, 0);
	spawn_thread(&s->thread, selector_main, s);
}

Test(queue, blocked_select_wakes_on_a_push_to_either_queue, .timeout = 10)
{
	baton_queue *a = make_queue(2, NULL), *b = make_queue(2, NULL);
	struct selector s = { .cs = { pop_case(a), pop_case(b) }, .n = 2,
			      .timeout_ms = BATON_INFINITY };

	selector_start(&s);
	wait_for_waiters(b, 1);
	cr_assert_eq(baton_queue_push(b, TOK(3)), 0);
	join_thread(s.thread);
	cr_assert_eq(s.rc, 1);
	cr_assert_eq(UNTOK(s.cs[1].item), 3);
	cr_assert_eq(baton_queue_waiters(a), 0);
	cr_assert_eq(baton_queue_size(a) + baton_queue_size(b), 0);
	baton_queue_destroy(a);
	baton_queue_destroy(b);
}

Test(queue, select_fires_a_closed_queue_as_closed, .timeout = 10)
{
	baton_queue *a = make_queue(2, NULL), *b = make_queue(2, NULL);
	struct selector s = { .cs = { pop_case(a), push_case(b, TOK(5)) },
			      .n = 2, .timeout_ms = LONG_MS };

	push_tokens(b, 1, 2);
	selector_start(&s);
	wait_for_waiters(a, 1);
	baton_queue_close(a);
	join_thread(s.thread);
	cr_assert_eq(s.rc, 0);
	cr_assert_eq(s.cs[0].result, -EPIPE);
	cr_assert_eq(baton_queue_size(b), 2, "the push case did nothing");
	baton_queue_close(b);
	struct baton_queue_case c = push_case(b, TOK(6));
	cr_assert_eq(baton_queue_select(&c, 1, 0), 0);
	cr_assert_eq(c.result, -EPIPE, "a closed push case fires as closed");
	baton_queue_destroy(a);
	baton_queue_destroy(b);
}

Test(queue, two_selectors_on_one_queue_take_one_item_each, .timeout = 10)
{
	baton_queue *a = make_queue(4, NULL), *other = make_queue(1, NULL);
	struct selector s[2];

	for (int i = 0; i < 2; i++) {
		s[i] = (struct selector){ .cs = { pop_case(a),
						  pop_case(other) },
					  .n = 2, .timeout_ms = LONG_MS };
		selector_start(&s[i]);
	}
	wait_for_waiters(a, 2);
	cr_assert_eq(baton_queue_push(a, TOK(1)), 0);
	cr_assert_eq(baton_queue_push(a, TOK(2)), 0);
	join_thread(s[0].thread);
	join_thread(s[1].thread);
	cr_assert_eq(s[0].rc, 0);
	cr_assert_eq(s[1].rc, 0);
	cr_assert_eq(UNTOK(s[0].cs[0].item) + UNTOK(s[1].cs[0].item), 3);
	cr_assert_eq(baton_queue_size(a), 0);
	baton_queue_destroy(a);
	baton_queue_destroy(other);
}

Test(queue, select_with_a_plain_popper_never_strands_an_item,
    .timeout = 10)
{
	baton_queue *a = make_queue(1, NULL), *b = make_queue(1, NULL);

	for (int round = 0; round < 50; round++) {
		struct selector s = { .cs = { pop_case(a), pop_case(b) },
				      .n = 2, .timeout_ms = LONG_MS };
		struct op pop;

		op_init(&pop, a, OP_POP_TIMED, LONG_MS);
		selector_start(&s);
		op_start(&pop);
		wait_for_waiters(a, 2);
		/* Two items, two waiters: both must get one. */
		cr_assert_eq(baton_queue_push(a, TOK(1)), 0);
		cr_assert_eq(baton_queue_push(a, TOK(2)), 0);
		cr_assert_eq(op_join(&pop), 0);
		join_thread(s.thread);
		cr_assert_eq(s.rc, 0);
		cr_assert_eq(UNTOK(s.cs[0].item) + UNTOK(pop.item), 3);
	}
	baton_queue_destroy(a);
	baton_queue_destroy(b);
}

Test(queue, select_over_a_future_fires_when_it_completes, .timeout = 10)
{
	baton_queue *a = make_queue(1, NULL);
	baton_promise *pr;
	baton_future *f;
	struct selector s;

	cr_assert_eq(baton_promise_create(&pr, &f), 0);
	s = (struct selector){ .cs = { pop_case(a),
		{ .kind = BATON_QUEUE_CASE_FUTURE, .future = f } },
		.n = 2, .timeout_ms = LONG_MS };
	selector_start(&s);
	wait_for_waiters(a, 1);
	cr_assert_eq(baton_promise_fulfil(pr, TOK(7), NULL), 0);
	join_thread(s.thread);
	cr_assert_eq(s.rc, 1);
	cr_assert_eq(s.cs[1].result, 0);
	cr_assert(baton_future_is_done(f));
	cr_assert_eq(s.cs[0].item, SENTINEL);
	/* A completed future fires at once, even in a poll. */
	cr_assert_eq(baton_queue_select(&s.cs[1], 1, 0), 0);
	baton_promise_destroy(pr);
	baton_future_unref(f);
	baton_queue_destroy(a);
}

Test(queue, select_on_a_rendezvous_hands_over_through_the_case,
    .timeout = 10)
{
	baton_queue *rv = make_queue(0, NULL), *b = make_queue(1, NULL);
	struct selector s = { .cs = { pop_case(rv), pop_case(b) }, .n = 2,
			      .timeout_ms = LONG_MS };
	struct baton_queue_case both[2] = { pop_case(rv),
					    push_case(rv, TOK(1)) };

	selector_start(&s);
	wait_for_waiters(rv, 1);
	cr_assert_eq(try_push_to_counted_partner(rv, TOK(6)), 0,
	    "a selecting popper is a waiting partner");
	join_thread(s.thread);
	cr_assert_eq(s.rc, 0);
	cr_assert_eq(UNTOK(s.cs[0].item), 6);
	cr_assert_eq(baton_queue_select(both, 2, 0), -EINVAL);
	baton_queue_destroy(rv);
	baton_queue_destroy(b);
}

/*
 * Lets a waiter reach its wait: baton_queue_waiters counts a select or a
 * pop as soon as its first attempt failed, a little before its record is
 * linked (a pop spins first).
 * Only the interleaving a test aims at depends on this pause, never its
 * assertions: they hold whichever way the threads run.
 */
static void
let_waiters_link(void)
{
	sleep_ms(20);
}

Test(queue, two_selectors_woken_through_different_queues_get_one_item_each,
    .timeout = 10)
{
	for (int round = 0; round < 20; round++) {
		baton_queue *a = make_queue(4, NULL), *b = make_queue(4, NULL);
		struct selector s[2];

		for (int i = 0; i < 2; i++) {
			s[i] = (struct selector){ .cs = { pop_case(a),
							  pop_case(b) },
						  .n = 2,
						  .timeout_ms = LONG_MS };
			selector_start(&s[i]);
		}
		wait_for_waiters(a, 2);
		let_waiters_link();
		/*
		 * The push to b wakes the first selector in b's line; the push
		 * to a then finds that selector's record on a already claimed
		 * and must wake the other one, not count the lost claim.
		 */
		cr_assert_eq(baton_queue_push(b, TOK(2)), 0);
		cr_assert_eq(baton_queue_push(a, TOK(1)), 0);
		join_thread(s[0].thread);
		join_thread(s[1].thread);
		cr_assert(s[0].rc >= 0 && s[1].rc >= 0, "rc %d / %d", s[0].rc,
		    s[1].rc);
		cr_assert_eq(UNTOK(s[0].cs[s[0].rc].item) +
				 UNTOK(s[1].cs[s[1].rc].item),
		    3, "each selector took one of the two items");
		cr_assert_eq(baton_queue_size(a) + baton_queue_size(b), 0);
		baton_queue_destroy(a);
		baton_queue_destroy(b);
	}
}

Test(queue, select_woken_by_one_queue_never_strands_its_item, .timeout = 10)
{
	for (int round = 0; round < 12; round++) {
		baton_queue *a = make_queue(4, NULL), *b = make_queue(4, NULL);
		struct selector s = { .cs = { pop_case(a), pop_case(b) },
				      .n = 2, .timeout_ms = LONG_MS };
		size_t sum, pushed = 1 + 2;
		struct op pop;
		void *item;

		selector_start(&s);
		wait_for_waiters(a, 1);
		let_waiters_link();
		op_init(&pop, a, OP_POP, 0);
		op_start(&pop);
		wait_for_waiters(a, 2);
		let_waiters_link();
		/*
		 * The push to a wakes the selector (first in a's line); b then
		 * holds an item too.  Had the selector taken b's, a's item would
		 * sit unseen by the popper whose wake the selector used up, and
		 * the popper would block for ever (the test's timeout).
		 */
		cr_assert_eq(baton_queue_push(a, TOK(1)), 0);
		cr_assert_eq(baton_queue_push(b, TOK(2)), 0);
		join_thread(s.thread);
		cr_assert(s.rc == 0 || s.rc == 1);
		if (baton_queue_size(a) == 0 && !op_returned(&pop)) {
			/* a's item went to the selector: release the popper. */
			cr_assert_eq(baton_queue_push(a, TOK(4)), 0);
			pushed += 4;
		}
		cr_assert_eq(op_join(&pop), 0);
		/* Every item once: the selector's, the popper's, the rest. */
		sum = UNTOK(s.cs[s.rc].item) + UNTOK(pop.item);
		while (baton_queue_try_pop(a, &item) == 0 ||
		       baton_queue_try_pop(b, &item) == 0)
			sum += UNTOK(item);
		cr_assert_eq(sum, pushed);
		baton_queue_destroy(a);
		baton_queue_destroy(b);
	}
}

/* A selector that says when it is about to select. */
struct racing_selector {
	struct selector s;
	atomic_int go;
};

static void *
racing_selector_main(void *arg)
{
	struct racing_selector *r = arg;

	atomic_store_explicit(&r->go, 1, memory_order_release);
	return selector_main(&r->s);
}

/*
 * Waits for the flag without giving the CPU away, so that the short spin
 * after it lands near the other thread's first steps.
 */
static void
spin_until_set(atomic_int *flag)
{
	/* Bounded by the test's Criterion timeout. */
	while (!atomic_load_explicit(flag, memory_order_acquire))
		;
}

/* Nothing to a microsecond or so, varying by round. */
static void
short_spin(unsigned round)
{
	for (volatile unsigned i = 0; i < (round * 7u) % 500u; i++)
		;
}

Test(queue, select_racing_a_close_always_fires_it_as_closed, .timeout = 10)
{
	for (unsigned round = 0; round < 400; round++) {
		baton_queue *a = make_queue(2, NULL), *b = make_queue(2, NULL);
		struct racing_selector r = {
			.s = { .cs = { pop_case(a), pop_case(b) }, .n = 2,
			       .timeout_ms = BATON_INFINITY }
		};

		atomic_init(&r.s.done, 0);
		atomic_init(&r.go, 0);
		spawn_thread(&r.s.thread, racing_selector_main, &r);
		spin_until_set(&r.go);
		short_spin(round);
		/* Lands before, during or after the selector's linking. */
		baton_queue_close(round % 2 ? a : b);
		join_thread(r.s.thread);
		cr_assert_eq(r.s.rc, (int)(round % 2 ? 0 : 1), "round %u",
		    round);
		cr_assert_eq(r.s.cs[r.s.rc].result, -EPIPE);
		cr_assert_eq(baton_queue_waiters(a) + baton_queue_waiters(b),
		    0);
		baton_queue_destroy(a);
		baton_queue_destroy(b);
	}
}

struct racing_fulfil {
	baton_promise *pr;
	unsigned round;
	atomic_int *go;
};

static void *
racing_fulfil_main(void *arg)
{
	struct racing_fulfil *f = arg;

	spin_until_set(f->go);
	short_spin(f->round);
	(void)baton_promise_fulfil(f->pr, TOK(7), NULL);
	return NULL;
}

Test(queue, select_racing_a_future_completion_always_fires_it,
    .timeout = 10)
{
	for (unsigned round = 0; round < 400; round++) {
		baton_queue *a = make_queue(1, NULL);
		baton_promise *pr;
		baton_future *f;
		struct racing_selector r;
		struct racing_fulfil rf;
		pthread_t ft;

		cr_assert_eq(baton_promise_create(&pr, &f), 0);
		r = (struct racing_selector){
			.s = { .cs = { pop_case(a),
				       { .kind = BATON_QUEUE_CASE_FUTURE,
					 .future = f } },
			       .n = 2, .timeout_ms = BATON_INFINITY }
		};
		atomic_init(&r.s.done, 0);
		atomic_init(&r.go, 0);
		rf = (struct racing_fulfil){ pr, round, &r.go };
		spawn_thread(&ft, racing_fulfil_main, &rf);
		spawn_thread(&r.s.thread, racing_selector_main, &r);
		join_thread(ft);
		join_thread(r.s.thread);
		cr_assert_eq(r.s.rc, 1, "round %u", round);
		cr_assert_eq(r.s.cs[1].result, 0);
		cr_assert_eq(r.s.cs[0].item, SENTINEL);
		baton_promise_destroy(pr);
		baton_future_unref(f);
		baton_queue_destroy(a);
	}
}

Test(queue, destroy_wakes_a_blocked_select, .timeout = 10)
{
	baton_queue *a = make_queue(1, NULL);
	struct selector s = { .cs = { pop_case(a) }, .n = 1,
			      .timeout_ms = BATON_INFINITY };

	selector_start(&s);
	wait_for_waiters(a, 1);
	baton_queue_destroy(a);
	join_thread(s.thread);
	cr_assert_eq(s.rc, 0);
	cr_assert_eq(s.cs[0].result, -EPIPE);
}
