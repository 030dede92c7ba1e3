/*
 * test_combinators.c - Criterion unit tests for baton/combinators.h:
 * all, any, first-k, and the completion set.
 *
 * One test per behaviour of the contract, named as a sentence.  Criterion
 * forks a child per test, so globals start fresh; the test thread does
 * every assertion, helper threads only record what they saw.
 *
 * Inputs are promises' futures: the test completes them, in the order it
 * wants, from the test thread or from helper threads, so no test depends
 * on timing.  Helper threads synchronise by handshakes (counters and
 * gates); a sleep appears only to prove that a blocked call has not
 * returned yet, or to let a timeout expire.
 *
 * Values are malloc'd ints freed by count_free, which counts its calls:
 * every value must be freed exactly once, after every reference went
 * (AddressSanitizer reports a leak or a second free, and works inside
 * Criterion's children).  A value still alive proves that some reference
 * to its future (held by a combined future, a list or a set) leaked.
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

#include <baton/combinators.h>
#include <baton/future.h>
#include <baton/pool.h>
#include <baton/task.h>

#include "unit.h"

#define MAXN		64

/* A long timeout that no passing test ever waits out. */
#define LONG_MS		10000

/* ------------------------------------------------------------------ */
/* Helpers (the shared ones are in unit.h)                             */
/* ------------------------------------------------------------------ */

/* n promises and their futures. */
struct inputs {
	size_t n;
	baton_promise *p[MAXN];
	baton_future *f[MAXN];
};

static void
make_inputs(struct inputs *in, size_t n)
{
	cr_assert_leq(n, MAXN);
	in->n = n;
	for (size_t i = 0; i < n; i++) {
		int r = baton_promise_create(&in->p[i], &in->f[i]);

		cr_assert_eq(r, 0, "baton_promise_create returned %d", r);
	}
}

static void
fulfil(struct inputs *in, size_t i, int value)
{
	int r = baton_promise_fulfil(in->p[i], new_int(value), count_free);

	cr_assert_eq(r, 0, "fulfil(%zu) returned %d", i, r);
}

static void
fail(struct inputs *in, size_t i, int code)
{
	struct baton_exit_reason why =
	    BATON_EXIT_REASON(BATON_EXIT_ERROR, code, "failed");
	int r = baton_promise_fail(in->p[i], &why);

	cr_assert_eq(r, 0, "fail(%zu) returned %d", i, r);
}

/* Destroys every promise (breaking the pending ones), drops the futures. */
static void
drop_inputs(struct inputs *in)
{
	for (size_t i = 0; i < in->n; i++) {
		baton_promise_destroy(in->p[i]);
		baton_future_unref(in->f[i]);
	}
	in->n = 0;
}

/* The combined future's list, borrowed; fails the test otherwise. */
static struct baton_future_list *
list_of(baton_future *f)
{
	struct baton_exit_reason why = { 0 };
	void *v = NULL;
	int r = baton_future_borrow(f, LONG_MS, &v, &why);

	cr_assert_eq(r, 0, "borrow returned %d (kind %d code %d)", r,
		     why.kind, why.code);
	cr_assert_not_null(v);
	return v;
}

/* Waits for f and expects a failure with this kind and code. */
static void
expect_failure(baton_future *f, enum baton_exit_kind kind, int code)
{
	struct baton_exit_reason why = { 0 };
	void *v = NULL;
	int r = baton_future_borrow(f, LONG_MS, &v, &why);

	cr_assert_eq(r, BATON_EXITED, "borrow returned %d", r);
	cr_assert_eq(why.kind, kind, "kind %d, expected %d", why.kind, kind);
	cr_assert_eq(why.code, code, "code %d, expected %d", why.code, code);
}

static int
value_of(baton_future *f)
{
	void *v = NULL;
	int r = baton_future_borrow(f, LONG_MS, &v, NULL);

	cr_assert_eq(r, 0, "borrow of an input returned %d", r);
	return *(int *)v;
}

static void *
int_body(void *arg)
{
	return new_int((int)(uintptr_t)arg);
}

/* A leaked context, list, set or value fails the test (see unit.h). */
TestSuite(all, .fini = check_leaks);
TestSuite(any, .fini = check_leaks);
TestSuite(first, .fini = check_leaks);
TestSuite(propagation, .fini = check_leaks);
TestSuite(ownership, .fini = check_leaks);
TestSuite(completion_set, .fini = check_leaks);

/* ------------------------------------------------------------------ */
/* all                                                                 */
/* ------------------------------------------------------------------ */

Test(all, succeeds_with_the_inputs_in_input_order, .timeout = 10)
{
	struct inputs in;
	baton_future *all = NULL;
	struct baton_future_list *l;

	make_inputs(&in, 3);
	cr_assert_eq(baton_future_all(&all, in.f, 3), 0);
	cr_assert_not_null(all);
	fulfil(&in, 2, 20);
	fulfil(&in, 0, 0);
	cr_assert_not(baton_future_is_done(all));
	fulfil(&in, 1, 10);
	cr_assert(baton_future_is_done(all));
	l = list_of(all);
	cr_assert_eq(l->n, 3);
	for (size_t i = 0; i < 3; i++) {
		cr_assert_eq(l->items[i], in.f[i], "item %zu", i);
		cr_assert_eq(value_of(l->items[i]), (int)i * 10);
	}
	baton_future_unref(all);
	drop_inputs(&in);
	cr_assert_eq(atomic_load(&destroyed), 3);
}

Test(all, fails_with_the_first_failure_in_time_while_others_pend,
     .timeout = 10)
{
	struct inputs in;
	baton_future *all = NULL;

	make_inputs(&in, 4);
	cr_assert_eq(baton_future_all(&all, in.f, 4), 0);
	fulfil(&in, 1, 1);
	fail(&in, 2, 7); /* not the first index; 0 and 3 still pending */
	cr_assert(baton_future_is_done(all));
	expect_failure(all, BATON_EXIT_ERROR, 7);
	fail(&in, 0, 8); /* a later failure changes nothing */
	fulfil(&in, 3, 3);
	expect_failure(all, BATON_EXIT_ERROR, 7);
	baton_future_unref(all);
	drop_inputs(&in);
	cr_assert_eq(atomic_load(&destroyed), 2);
}

Test(all, of_zero_inputs_succeeds_at_once_with_an_empty_list, .timeout = 10)
{
	baton_future *all = NULL;
	struct baton_future_list *l;

	cr_assert_eq(baton_future_all(&all, NULL, 0), 0);
	cr_assert(baton_future_is_done(all));
	l = list_of(all);
	cr_assert_eq(l->n, 0);
	baton_future_unref(all);
}

Test(all, of_inputs_already_complete_succeeds_at_once, .timeout = 10)
{
	struct inputs in;
	baton_future *all = NULL;

	make_inputs(&in, 2);
	fulfil(&in, 0, 0);
	fulfil(&in, 1, 1);
	cr_assert_eq(baton_future_all(&all, in.f, 2), 0);
	cr_assert(baton_future_is_done(all));
	cr_assert_eq(list_of(all)->n, 2);
	baton_future_unref(all);
	drop_inputs(&in);
	cr_assert_eq(atomic_load(&destroyed), 2);
}

Test(all, of_the_same_future_twice_lists_it_twice, .timeout = 10)
{
	struct inputs in;
	baton_future *all = NULL;
	baton_future *twice[2];
	struct baton_future_list *l;

	make_inputs(&in, 1);
	twice[0] = twice[1] = in.f[0];
	cr_assert_eq(baton_future_all(&all, twice, 2), 0);
	fulfil(&in, 0, 5);
	l = list_of(all);
	cr_assert_eq(l->n, 2);
	cr_assert_eq(l->items[0], in.f[0]);
	cr_assert_eq(l->items[1], in.f[0]);
	baton_future_unref(all);
	drop_inputs(&in);
	cr_assert_eq(atomic_load(&destroyed), 1);
}

Test(all, of_pool_futures_waits_for_every_body, .timeout = 10)
{
	baton_pool *pool = NULL;
	struct baton_task_opts o = { .destroy = count_free };
	baton_future *f[8], *all = NULL;
	struct baton_future_list *l;

	cr_assert_eq(baton_pool_create(&pool, 2), 0);
	o.pool = pool;
	for (size_t i = 0; i < 8; i++) {
		cr_assert_eq(baton_future_start(&f[i], int_body,
						(void *)(uintptr_t)i, &o),
			     0);
	}
	cr_assert_eq(baton_future_all(&all, f, 8), 0);
	l = list_of(all);
	cr_assert_eq(l->n, 8);
	for (size_t i = 0; i < 8; i++)
		cr_assert_eq(value_of(l->items[i]), (int)i);
	baton_future_unref(all);
	for (size_t i = 0; i < 8; i++)
		baton_future_unref(f[i]);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&destroyed), 8);
}

Test(all, rejects_bad_arguments, .timeout = 10)
{
	struct inputs in;
	baton_future *out = (baton_future *)&in;
	baton_future *with_null[2];

	make_inputs(&in, 2);
	with_null[0] = in.f[0];
	with_null[1] = NULL;
	cr_assert_eq(baton_future_all(NULL, in.f, 2), -EINVAL);
	cr_assert_eq(baton_future_all(&out, NULL, 2), -EINVAL);
	cr_assert_null(out, "*out is set to NULL first");
	cr_assert_eq(baton_future_all(&out, with_null, 2), -EINVAL);
	cr_assert_eq(baton_future_any(&out, in.f, 0), -EINVAL);
	cr_assert_eq(baton_future_any(&out, with_null, 2), -EINVAL);
	cr_assert_eq(baton_future_first(&out, in.f, 2, 0), -EINVAL);
	cr_assert_eq(baton_future_first(&out, in.f, 2, 3), -EINVAL);
	cr_assert_eq(baton_future_first(&out, NULL, 2, 1), -EINVAL);
	cr_assert_null(out);
	drop_inputs(&in);
}

/* ------------------------------------------------------------------ */
/* any                                                                 */
/* ------------------------------------------------------------------ */

Test(any, succeeds_on_the_first_success, .timeout = 10)
{
	struct inputs in;
	baton_future *any = NULL;
	struct baton_future_list *l;

	make_inputs(&in, 3);
	cr_assert_eq(baton_future_any(&any, in.f, 3), 0);
	fail(&in, 0, 1);
	cr_assert_not(baton_future_is_done(any));
	fulfil(&in, 2, 22);
	cr_assert(baton_future_is_done(any));
	fulfil(&in, 1, 11); /* too late to matter */
	l = list_of(any);
	cr_assert_eq(l->n, 1);
	cr_assert_eq(l->items[0], in.f[2]);
	cr_assert_eq(value_of(l->items[0]), 22);
	baton_future_unref(any);
	drop_inputs(&in);
	cr_assert_eq(atomic_load(&destroyed), 2);
}

Test(any, fails_only_when_every_input_failed_with_the_last_reason,
     .timeout = 10)
{
	struct inputs in;
	baton_future *any = NULL;

	make_inputs(&in, 3);
	cr_assert_eq(baton_future_any(&any, in.f, 3), 0);
	fail(&in, 1, 1);
	fail(&in, 2, 2);
	cr_assert_not(baton_future_is_done(any));
	fail(&in, 0, 3);
	expect_failure(any, BATON_EXIT_ERROR, 3);
	baton_future_unref(any);
	drop_inputs(&in);
}

/* ------------------------------------------------------------------ */
/* first                                                               */
/* ------------------------------------------------------------------ */

Test(first, succeeds_with_k_inputs_in_completion_order, .timeout = 10)
{
	struct inputs in;
	baton_future *first = NULL;
	struct baton_future_list *l;

	make_inputs(&in, 5);
	cr_assert_eq(baton_future_first(&first, in.f, 5, 3), 0);
	fulfil(&in, 4, 4);
	fail(&in, 0, 9);
	fulfil(&in, 1, 1);
	cr_assert_not(baton_future_is_done(first));
	fulfil(&in, 3, 3);
	cr_assert(baton_future_is_done(first));
	fulfil(&in, 2, 2);
	l = list_of(first);
	cr_assert_eq(l->n, 3);
	cr_assert_eq(l->items[0], in.f[4]);
	cr_assert_eq(l->items[1], in.f[1]);
	cr_assert_eq(l->items[2], in.f[3]);
	baton_future_unref(first);
	drop_inputs(&in);
	cr_assert_eq(atomic_load(&destroyed), 4);
}

Test(first, fails_as_soon_as_k_successes_are_impossible, .timeout = 10)
{
	struct inputs in;
	baton_future *first = NULL;

	make_inputs(&in, 4);
	cr_assert_eq(baton_future_first(&first, in.f, 4, 3), 0);
	fail(&in, 3, 30);
	fulfil(&in, 0, 0);
	cr_assert_not(baton_future_is_done(first));
	fail(&in, 1, 10); /* two of four failed: three cannot succeed */
	cr_assert(baton_future_is_done(first));
	expect_failure(first, BATON_EXIT_ERROR, 10);
	fulfil(&in, 2, 2);
	expect_failure(first, BATON_EXIT_ERROR, 10);
	baton_future_unref(first);
	drop_inputs(&in);
	cr_assert_eq(atomic_load(&destroyed), 2);
}

Test(first, with_k_equal_to_n_waits_for_every_input, .timeout = 10)
{
	struct inputs in;
	baton_future *first = NULL;
	struct baton_future_list *l;

	make_inputs(&in, 3);
	cr_assert_eq(baton_future_first(&first, in.f, 3, 3), 0);
	fulfil(&in, 1, 1);
	fulfil(&in, 2, 2);
	cr_assert_not(baton_future_is_done(first));
	fulfil(&in, 0, 0);
	l = list_of(first);
	cr_assert_eq(l->n, 3);
	cr_assert_eq(l->items[0], in.f[1]);
	cr_assert_eq(l->items[1], in.f[2]);
	cr_assert_eq(l->items[2], in.f[0]);
	baton_future_unref(first);
	drop_inputs(&in);
	cr_assert_eq(atomic_load(&destroyed), 3);
}

/* ------------------------------------------------------------------ */
/* Propagation and cancellation                                        */
/* ------------------------------------------------------------------ */

Test(propagation, a_broken_input_makes_the_combination_broken, .timeout = 10)
{
	struct inputs in;
	baton_future *all = NULL, *any = NULL, *first = NULL;
	void *v = NULL;

	make_inputs(&in, 2);
	cr_assert_eq(baton_future_all(&all, in.f, 2), 0);
	cr_assert_eq(baton_future_any(&any, in.f, 2), 0);
	cr_assert_eq(baton_future_first(&first, in.f, 2, 2), 0);
	baton_promise_destroy(in.p[1]); /* broken */
	in.p[1] = NULL;
	cr_assert_eq(baton_future_borrow(all, LONG_MS, &v, NULL), -EPIPE);
	cr_assert_eq(baton_future_borrow(first, LONG_MS, &v, NULL), -EPIPE);
	cr_assert_not(baton_future_is_done(any), "one input is left");
	baton_promise_destroy(in.p[0]);
	in.p[0] = NULL;
	cr_assert_eq(baton_future_borrow(any, LONG_MS, &v, NULL), -EPIPE);
	baton_future_unref(all);
	baton_future_unref(any);
	baton_future_unref(first);
	drop_inputs(&in);
}

Test(propagation, cancelling_an_input_fails_the_combination_as_cancelled,
     .timeout = 10)
{
	struct inputs in;
	baton_future *all = NULL;

	make_inputs(&in, 3);
	cr_assert_eq(baton_future_all(&all, in.f, 3), 0);
	fulfil(&in, 0, 0);
	cr_assert_eq(baton_future_cancel(in.f[1]), 0);
	expect_failure(all, BATON_EXIT_SHUTDOWN, ECANCELED);
	cr_assert_not(baton_future_is_done(in.f[2]), "siblings not cancelled");
	fulfil(&in, 2, 2);
	baton_future_unref(all);
	drop_inputs(&in);
	cr_assert_eq(atomic_load(&destroyed), 2);
}

Test(propagation, cancelling_the_combination_does_not_cancel_the_inputs,
     .timeout = 10)
{
	struct inputs in;
	baton_future *all = NULL, *first = NULL;

	make_inputs(&in, 3);
	cr_assert_eq(baton_future_all(&all, in.f, 3), 0);
	cr_assert_eq(baton_future_first(&first, in.f, 3, 2), 0);
	fulfil(&in, 0, 0);
	cr_assert_eq(baton_future_cancel(all), 0);
	cr_assert_eq(baton_future_cancel(first), 0);
	expect_failure(all, BATON_EXIT_SHUTDOWN, ECANCELED);
	expect_failure(first, BATON_EXIT_SHUTDOWN, ECANCELED);
	cr_assert_eq(baton_future_cancel(all), -EALREADY);
	for (size_t i = 1; i < 3; i++) {
		cr_assert_not(baton_future_is_done(in.f[i]));
		cr_assert_not(baton_promise_is_cancelled(in.p[i]));
	}
	/* Later completions find the combination complete: no change. */
	fulfil(&in, 1, 1);
	fulfil(&in, 2, 2);
	expect_failure(all, BATON_EXIT_SHUTDOWN, ECANCELED);
	expect_failure(first, BATON_EXIT_SHUTDOWN, ECANCELED);
	cr_assert_eq(value_of(in.f[2]), 2);
	baton_future_unref(all);
	baton_future_unref(first);
	drop_inputs(&in);
	cr_assert_eq(atomic_load(&destroyed), 3);
}

Test(propagation, a_combination_of_combinations_propagates_failure,
     .timeout = 10)
{
	struct inputs in;
	baton_future *inner[2] = { NULL, NULL }, *outer = NULL;

	make_inputs(&in, 4);
	cr_assert_eq(baton_future_all(&inner[0], in.f, 2), 0);
	cr_assert_eq(baton_future_any(&inner[1], in.f + 2, 2), 0);
	cr_assert_eq(baton_future_all(&outer, inner, 2), 0);
	fulfil(&in, 0, 0);
	fulfil(&in, 1, 1);
	fulfil(&in, 3, 3);
	cr_assert_eq(list_of(outer)->n, 2);
	baton_future_unref(outer);
	baton_future_unref(inner[0]);
	baton_future_unref(inner[1]);

	cr_assert_eq(baton_future_all(&inner[0], in.f, 2), 0);
	cr_assert_eq(baton_future_any(&inner[1], in.f + 2, 1), 0);
	cr_assert_eq(baton_future_all(&outer, inner, 2), 0);
	fail(&in, 2, 42);
	expect_failure(outer, BATON_EXIT_ERROR, 42);
	baton_future_unref(outer);
	baton_future_unref(inner[0]);
	baton_future_unref(inner[1]);
	drop_inputs(&in);
	cr_assert_eq(atomic_load(&destroyed), 3);
}

/* ------------------------------------------------------------------ */
/* Ownership                                                           */
/* ------------------------------------------------------------------ */

Test(ownership, values_and_references_are_released_exactly_once,
     .timeout = 10)
{
	struct inputs in;
	baton_future *c[4];

	make_inputs(&in, 6);
	cr_assert_eq(baton_future_all(&c[0], in.f, 6), 0);
	cr_assert_eq(baton_future_any(&c[1], in.f, 6), 0);
	cr_assert_eq(baton_future_first(&c[2], in.f, 6, 4), 0);
	cr_assert_eq(baton_future_first(&c[3], in.f, 6, 2), 0);
	/* Drop our own references while everything is pending. */
	for (size_t i = 0; i < 6; i++) {
		baton_future_unref(in.f[i]);
		in.f[i] = NULL;
	}
	baton_future_unref(c[0]);
	baton_future_unref(c[2]);
	for (size_t i = 0; i < 6; i++) {
		fulfil(&in, i, (int)i);
		baton_promise_destroy(in.p[i]);
	}
	/* c[1] holds input 0, c[3] inputs 0 and 1; the rest are gone. */
	cr_assert_eq(atomic_load(&destroyed), 4);
	cr_assert_eq(list_of(c[1])->n, 1);
	cr_assert_eq(list_of(c[3])->n, 2);
	baton_future_unref(c[1]);
	cr_assert_eq(atomic_load(&destroyed), 4, "c[3] still holds input 0");
	baton_future_unref(c[3]);
	cr_assert_eq(atomic_load(&destroyed), 6);
}

Test(ownership, a_pending_combination_released_early_frees_all_later,
     .timeout = 10)
{
	struct inputs in;
	baton_future *all = NULL;

	make_inputs(&in, 3);
	cr_assert_eq(baton_future_all(&all, in.f, 3), 0);
	baton_future_unref(all);
	fulfil(&in, 1, 1);
	fail(&in, 0, 5);
	fulfil(&in, 2, 2);
	drop_inputs(&in);
	cr_assert_eq(atomic_load(&destroyed), 2);
}

Test(ownership, the_list_can_be_taken_and_freed_with_list_free,
     .timeout = 10)
{
	struct inputs in;
	baton_future *all = NULL;
	struct baton_future_list *l = NULL;
	void *v = NULL;

	make_inputs(&in, 3);
	cr_assert_eq(baton_future_all(&all, in.f, 3), 0);
	for (size_t i = 0; i < 3; i++)
		fulfil(&in, i, (int)i * 100);
	cr_assert_eq(baton_future_take(all, LONG_MS, &v, NULL), 0);
	l = v;
	cr_assert_eq(baton_future_take(all, LONG_MS, &v, NULL), -EALREADY);
	baton_future_unref(all);
	drop_inputs(&in);
	cr_assert_eq(atomic_load(&destroyed), 0, "the list holds the inputs");
	for (size_t i = 0; i < 3; i++)
		cr_assert_eq(value_of(l->items[i]), (int)i * 100);
	baton_future_list_free(l);
	cr_assert_eq(atomic_load(&destroyed), 3);
	baton_future_list_free(NULL);
}

/* Completes promises from another thread while the test builds. */
struct racer {
	struct inputs *in;
	atomic_int go;
};

static void *
complete_all(void *arg)
{
	struct racer *r = arg;

	wait_for(&r->go, 1);
	for (size_t i = 0; i < r->in->n; i++) {
		if (i % 3 == 2)
			baton_promise_fulfil(r->in->p[i], NULL, NULL);
		else
			baton_promise_fulfil(r->in->p[i], new_int((int)i),
					     count_free);
	}
	return NULL;
}

Test(ownership, building_while_inputs_complete_on_another_thread,
     .timeout = 10)
{
	for (int round = 0; round < 50; round++) {
		struct inputs in;
		struct racer r = { &in, 0 };
		baton_future *all = NULL, *first = NULL;
		pthread_t th;

		make_inputs(&in, MAXN);
		cr_assert_eq(pthread_create(&th, NULL, complete_all, &r), 0);
		atomic_store_explicit(&r.go, 1, memory_order_release);
		cr_assert_eq(baton_future_all(&all, in.f, MAXN), 0);
		cr_assert_eq(baton_future_first(&first, in.f, MAXN, 10), 0);
		cr_assert_eq(list_of(all)->n, MAXN);
		cr_assert_eq(list_of(first)->n, 10);
		pthread_join(th, NULL);
		baton_future_unref(all);
		baton_future_unref(first);
		drop_inputs(&in);
	}
	cr_assert_eq(atomic_load(&destroyed), 50 * (MAXN - MAXN / 3));
}

/* ------------------------------------------------------------------ */
/* Completion set                                                      */
/* ------------------------------------------------------------------ */

static baton_completion_set *
make_set(void)
{
	baton_completion_set *set = NULL;

	cr_assert_eq(baton_completion_set_create(&set), 0);
	cr_assert_not_null(set);
	return set;
}

Test(completion_set, hands_futures_back_in_completion_order, .timeout = 10)
{
	static const size_t order[] = { 3, 0, 4, 2, 1 };
	baton_completion_set *set = make_set();
	struct inputs in;

	make_inputs(&in, 5);
	for (size_t i = 0; i < 5; i++)
		cr_assert_eq(baton_completion_set_add(set, in.f[i]), 0);
	cr_assert_eq(baton_completion_set_size(set), 5);
	for (size_t i = 0; i < 5; i++)
		fulfil(&in, order[i], (int)order[i]);
	for (size_t i = 0; i < 5; i++) {
		baton_future *f = NULL;

		cr_assert_eq(baton_completion_set_next(set, LONG_MS, &f), 0);
		cr_assert_eq(f, in.f[order[i]], "position %zu", i);
		cr_assert_eq(value_of(f), (int)order[i]);
		baton_future_unref(f);
		cr_assert_eq(baton_completion_set_size(set), 4 - i);
	}
	baton_completion_set_destroy(set);
	drop_inputs(&in);
	cr_assert_eq(atomic_load(&destroyed), 5);
}

Test(completion_set, next_is_enoent_when_nothing_is_left, .timeout = 10)
{
	baton_completion_set *set = make_set();
	struct inputs in;
	baton_future *f = (baton_future *)set;

	cr_assert_eq(baton_completion_set_next(set, BATON_INFINITY, &f),
		     -ENOENT);
	cr_assert_null(f);
	make_inputs(&in, 1);
	fulfil(&in, 0, 0); /* already complete when added */
	cr_assert_eq(baton_completion_set_add(set, in.f[0]), 0);
	cr_assert_eq(baton_completion_set_next(set, 0, &f), 0);
	cr_assert_eq(f, in.f[0]);
	baton_future_unref(f);
	cr_assert_eq(baton_completion_set_next(set, BATON_INFINITY, &f),
		     -ENOENT);
	cr_assert_eq(baton_completion_set_size(set), 0);
	baton_completion_set_destroy(set);
	drop_inputs(&in);
	cr_assert_eq(atomic_load(&destroyed), 1);
}

Test(completion_set, next_times_out_while_futures_pend, .timeout = 10)
{
	baton_completion_set *set = make_set();
	struct inputs in;
	baton_future *f = NULL;
	int64_t t0;

	make_inputs(&in, 1);
	cr_assert_eq(baton_completion_set_add(set, in.f[0]), 0);
	cr_assert_eq(baton_completion_set_next(set, 0, &f), -ETIMEDOUT);
	t0 = now_ns();
	cr_assert_eq(baton_completion_set_next(set, 50, &f), -ETIMEDOUT);
	cr_assert_geq(ms_since(t0), 50, "never early");
	cr_assert_null(f);
	cr_assert_eq(baton_completion_set_size(set), 1);
	baton_completion_set_destroy(set);
	drop_inputs(&in); /* breaks it after the set is gone */
}

Test(completion_set, rejects_bad_arguments, .timeout = 10)
{
	baton_completion_set *set = make_set();
	baton_future *f = NULL;

	cr_assert_eq(baton_completion_set_create(NULL), -EINVAL);
	cr_assert_eq(baton_completion_set_add(NULL, f), -EINVAL);
	cr_assert_eq(baton_completion_set_add(set, NULL), -EINVAL);
	cr_assert_eq(baton_completion_set_next(set, -2, &f), -EINVAL);
	cr_assert_eq(baton_completion_set_next(set, 0, NULL), -EINVAL);
	cr_assert_eq(baton_completion_set_next(NULL, 0, &f), -EINVAL);
	cr_assert_eq(baton_completion_set_size(NULL), 0);
	baton_completion_set_destroy(NULL);
	baton_completion_set_destroy(set);
}

struct waiter {
	baton_completion_set *set;
	atomic_int started, done;
	int r;
	baton_future *f;
};

static void *
wait_next(void *arg)
{
	struct waiter *w = arg;

	atomic_store_explicit(&w->started, 1, memory_order_release);
	w->r = baton_completion_set_next(w->set, LONG_MS, &w->f);
	atomic_store_explicit(&w->done, 1, memory_order_release);
	return NULL;
}

Test(completion_set, a_blocked_next_wakes_when_a_future_completes,
     .timeout = 10)
{
	baton_completion_set *set = make_set();
	struct waiter w = { .set = set };
	struct inputs in;
	pthread_t th;

	make_inputs(&in, 2);
	cr_assert_eq(baton_completion_set_add(set, in.f[0]), 0);
	cr_assert_eq(baton_completion_set_add(set, in.f[1]), 0);
	cr_assert_eq(pthread_create(&th, NULL, wait_next, &w), 0);
	wait_for(&w.started, 1);
	sleep_ms(BLOCK_CHECK_MS);
	cr_assert_eq(atomic_load(&w.done), 0, "next() returned too early");
	fulfil(&in, 1, 1);
	pthread_join(th, NULL);
	cr_assert_eq(w.r, 0);
	cr_assert_eq(w.f, in.f[1]);
	baton_future_unref(w.f);
	baton_completion_set_destroy(set);
	fulfil(&in, 0, 0);
	drop_inputs(&in);
	cr_assert_eq(atomic_load(&destroyed), 2);
}

#define ADDERS		4
#define PER_ADDER	200

struct adder {
	baton_completion_set *set;
	atomic_int *go;
	int id;
	int failures;
};

static void *
add_and_complete(void *arg)
{
	struct adder *a = arg;

	wait_for(a->go, 1);
	for (int i = 0; i < PER_ADDER; i++) {
		baton_promise *p;
		baton_future *f;
		bool early = i % 3 == 0;

		if (baton_promise_create(&p, &f) != 0) {
			a->failures++;
			continue;
		}
		if (early)
			baton_promise_fulfil(p, new_int(a->id * PER_ADDER + i),
					     count_free);
		if (baton_completion_set_add(a->set, f) != 0)
			a->failures++;
		baton_future_unref(f);
		if (!early)
			baton_promise_fulfil(p, new_int(a->id * PER_ADDER + i),
					     count_free);
		baton_promise_destroy(p);
	}
	return NULL;
}

Test(completion_set, many_threads_adding_and_one_draining_balance,
     .timeout = 10)
{
	baton_completion_set *set = make_set();
	struct adder a[ADDERS];
	pthread_t th[ADDERS];
	atomic_int go = 0;
	static bool seen[ADDERS * PER_ADDER];
	int got = 0;

	for (int i = 0; i < ADDERS; i++) {
		a[i] = (struct adder){ set, &go, i, 0 };
		cr_assert_eq(pthread_create(&th[i], NULL, add_and_complete,
					    &a[i]),
			     0);
	}
	atomic_store_explicit(&go, 1, memory_order_release);
	while (got < ADDERS * PER_ADDER) {
		baton_future *f = NULL;
		int r = baton_completion_set_next(set, 100, &f);
		int v;

		if (r == -ENOENT || r == -ETIMEDOUT) {
			sched_yield(); /* the adders are not done yet */
			continue;
		}
		cr_assert_eq(r, 0, "next returned %d", r);
		cr_assert(baton_future_is_done(f));
		v = value_of(f);
		cr_assert(v >= 0 && v < ADDERS * PER_ADDER);
		cr_assert_not(seen[v], "value %d handed back twice", v);
		seen[v] = true;
		baton_future_unref(f);
		got++;
	}
	for (int i = 0; i < ADDERS; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(a[i].failures, 0);
	}
	cr_assert_eq(baton_completion_set_size(set), 0);
	{
		baton_future *none = NULL;

		cr_assert_eq(baton_completion_set_next(set, 0, &none),
			     -ENOENT);
	}
	baton_completion_set_destroy(set);
	cr_assert_eq(atomic_load(&destroyed), ADDERS * PER_ADDER);
}

#define TAKERS		4
#define TAKEN_EACH	100

struct taker {
	baton_completion_set *set;
	atomic_int *ready;
	baton_future *got[TAKEN_EACH];
	int n, bad;
};

static void *
take_some(void *arg)
{
	struct taker *t = arg;

	atomic_fetch_add_explicit(t->ready, 1, memory_order_release);
	while (t->n < TAKEN_EACH) {
		int r = baton_completion_set_next(t->set, LONG_MS,
						  &t->got[t->n]);

		if (r != 0) {
			t->bad = r;
			return NULL;
		}
		t->n++;
	}
	return NULL;
}

Test(completion_set, concurrent_next_callers_get_distinct_futures,
     .timeout = 10)
{
	baton_completion_set *set = make_set();
	struct taker t[TAKERS];
	pthread_t th[TAKERS];
	atomic_int ready = 0;
	baton_promise *p[TAKERS * TAKEN_EACH];
	baton_future *f[TAKERS * TAKEN_EACH];
	const int total = TAKERS * TAKEN_EACH;

	for (int i = 0; i < total; i++) {
		cr_assert_eq(baton_promise_create(&p[i], &f[i]), 0);
		cr_assert_eq(baton_completion_set_add(set, f[i]), 0);
	}
	for (int i = 0; i < TAKERS; i++) {
		t[i] = (struct taker){ .set = set, .ready = &ready };
		cr_assert_eq(pthread_create(&th[i], NULL, take_some, &t[i]),
			     0);
	}
	wait_for(&ready, TAKERS);
	for (int i = 0; i < total; i++)
		cr_assert_eq(baton_promise_fulfil(p[i], new_int(i),
						  count_free),
			     0);
	for (int i = 0; i < TAKERS; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(t[i].bad, 0, "taker %d: next returned %d", i,
			     t[i].bad);
		cr_assert_eq(t[i].n, TAKEN_EACH);
	}
	{
		static bool seen[TAKERS * TAKEN_EACH];

		for (int i = 0; i < TAKERS; i++) {
			for (int j = 0; j < TAKEN_EACH; j++) {
				int v = value_of(t[i].got[j]);

				cr_assert_not(seen[v], "%d twice", v);
				seen[v] = true;
				baton_future_unref(t[i].got[j]);
			}
		}
	}
	cr_assert_eq(baton_completion_set_size(set), 0);
	baton_completion_set_destroy(set);
	for (int i = 0; i < total; i++) {
		baton_promise_destroy(p[i]);
		baton_future_unref(f[i]);
	}
	cr_assert_eq(atomic_load(&destroyed), total);
}

Test(completion_set, destroy_with_pending_futures_neither_blocks_nor_leaks,
     .timeout = 10)
{
	baton_completion_set *set = make_set();
	struct inputs in;
	baton_future *f = NULL;

	make_inputs(&in, 6);
	for (size_t i = 0; i < 6; i++)
		cr_assert_eq(baton_completion_set_add(set, in.f[i]), 0);
	fulfil(&in, 0, 0);
	fulfil(&in, 1, 1); /* 0 handed back, 1 left in the FIFO */
	cr_assert_eq(baton_completion_set_next(set, 0, &f), 0);
	cr_assert_eq(f, in.f[0]);
	baton_future_unref(f);
	/* Our own references go: the set's are the last ones on 1 and 2-5. */
	for (size_t i = 0; i < 6; i++) {
		baton_future_unref(in.f[i]);
		in.f[i] = NULL;
	}
	baton_completion_set_destroy(set); /* 2-5 pending: must not block */
	cr_assert_eq(atomic_load(&destroyed), 0, "the promises hold them");
	baton_promise_destroy(in.p[0]);
	baton_promise_destroy(in.p[1]);
	cr_assert_eq(atomic_load(&destroyed), 2);
	fulfil(&in, 2, 2);
	fail(&in, 3, 3);
	fulfil(&in, 4, 4);
	for (size_t i = 2; i < 6; i++)
		baton_promise_destroy(in.p[i]); /* 5 breaks */
	cr_assert_eq(atomic_load(&destroyed), 4);
}

Test(completion_set, takes_its_own_reference_on_each_future, .timeout = 10)
{
	baton_completion_set *set = make_set();
	struct inputs in;
	baton_future *f = NULL;

	make_inputs(&in, 1);
	cr_assert_eq(baton_completion_set_add(set, in.f[0]), 0);
	baton_future_unref(in.f[0]);
	fulfil(&in, 0, 9);
	baton_promise_destroy(in.p[0]);
	cr_assert_eq(atomic_load(&destroyed), 0, "the set holds it");
	cr_assert_eq(baton_completion_set_next(set, LONG_MS, &f), 0);
	cr_assert_eq(value_of(f), 9);
	baton_future_unref(f);
	cr_assert_eq(atomic_load(&destroyed), 1);
	baton_completion_set_destroy(set);
}
