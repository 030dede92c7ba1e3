/*
 * test_future_async.c - baton_future_async: the value's destructor given
 * where the work is started frees a value nobody took, exactly once, in
 * every way a future can end; a taken value is the taker's.
 *
 * Values are malloc'd ints; count_free (unit.h) counts and frees them.  A
 * worker drops its reference just after the body returns, so the test
 * waits for the count (bounded by the Criterion timeout), then checks
 * that it does not grow past one.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include <baton.h>

#include "unit.h"

TestSuite(future_async, .fini = check_leaks, .timeout = 30);

static void *
make_value(void *arg)
{
	return new_int((int)(intptr_t)arg);
}

static void *
exit_with_value(void *arg)
{
	(void)arg;
	baton_exit(BATON_EXIT_ERROR, EIO, "failed, but returned memory");
	return new_int(7);
}

static void
settled_at_one(void)
{
	wait_for(&destroyed, 1);
	sleep_ms(20); /* a second free would land now */
	cr_assert_eq(atomic_load(&destroyed), 1);
}

Test(future_async, value_nobody_took_is_freed_once)
{
	baton_future *f;
	void *v;

	cr_assert_eq(baton_future_async(&f, make_value, (void *)42,
					count_free), 0);
	cr_assert_eq(baton_future_borrow(f, BATON_INFINITY, &v, NULL), 0);
	cr_assert_eq(int_of(v), 42);
	baton_future_unref(f);
	settled_at_one();
}

Test(future_async, taken_value_is_the_takers)
{
	baton_future *f;
	void *v;

	cr_assert_eq(baton_future_async(&f, make_value, (void *)5,
					count_free), 0);
	cr_assert_eq(baton_future_take(f, BATON_INFINITY, &v, NULL), 0);
	baton_future_unref(f);
	sleep_ms(20);
	cr_assert_eq(atomic_load(&destroyed), 0);
	cr_assert_eq(int_of(v), 5);
	free(v);
}

Test(future_async, released_while_pending_frees_on_arrival)
{
	struct gate gate = GATE_INIT;
	struct gated g;
	baton_future *f;

	gated_init(&g, &gate, 9);
	cr_assert_eq(baton_future_async(&f, gated_body, &g, count_free), 0);
	wait_for(&g.started, 1);
	baton_future_unref(f); /* never blocks; the body is still running */
	cr_assert_eq(atomic_load(&destroyed), 0);
	gate_open(&gate);
	settled_at_one();
}

Test(future_async, cancelled_and_exited_bodies_values_are_freed)
{
	struct gate gate = GATE_INIT;
	struct gated g;
	struct baton_exit_reason why;
	baton_future *f, *e;
	void *v;

	gated_init(&g, &gate, 1);
	cr_assert_eq(baton_future_async(&f, gated_body, &g, count_free), 0);
	wait_for(&g.started, 1);
	cr_assert_eq(baton_future_cancel(f), 0);
	gate_open(&gate);
	cr_assert_eq(baton_future_borrow(f, BATON_INFINITY, &v, &why),
		     BATON_EXITED);
	baton_future_unref(f);
	settled_at_one();

	cr_assert_eq(baton_future_async(&e, exit_with_value, NULL,
					count_free), 0);
	cr_assert_eq(baton_future_borrow(e, BATON_INFINITY, &v, &why),
		     BATON_EXITED);
	cr_assert_eq(why.code, EIO);
	baton_future_unref(e);
	wait_for(&destroyed, 2);
}

Test(future_async, null_destroy_is_for_values_that_own_nothing)
{
	baton_future *f;
	void *v;

	cr_assert_eq(baton_future_async(&f, make_value, (void *)3, NULL), 0);
	cr_assert_eq(baton_future_take(f, BATON_INFINITY, &v, NULL), 0);
	free(v);
	baton_future_unref(f);
	cr_assert_eq(atomic_load(&destroyed), 0);
}

Test(future_async, bad_arguments_start_nothing)
{
	baton_future *f = (baton_future *)&f;

	cr_assert_eq(baton_future_async(NULL, make_value, NULL, free),
		     -EINVAL);
	cr_assert_eq(baton_future_async(&f, NULL, NULL, free), -EINVAL);
	cr_assert_null(f);
}
