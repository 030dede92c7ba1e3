/*
 * test_time.c - the one place baton turns a millisecond timeout into an
 * absolute CLOCK_MONOTONIC deadline (src/runtime/wait.c): a boundary table for
 * the arithmetic (normalised tv_nsec, carries, saturation instead of
 * overflow) and the timeout validation every public call shares.
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdint.h>
#include <time.h>

#include "baton/common.h"
#include "wait.h"

#include "unit.h"

#define NS 1000000000L
#define TMAX ((time_t)(((uint64_t)1 << (sizeof(time_t) * CHAR_BIT - 1)) - 1))

struct row {
	struct timespec now;
	int64_t ms;
	struct timespec want;
};

static const struct row table[] = {
	{ { 0, 0 }, 0, { 0, 0 } },
	{ { 0, 0 }, 1, { 0, 1000000 } },
	{ { 0, NS - 1 }, 0, { 0, NS - 1 } },
	{ { 0, NS - 1 }, 1, { 1, 999999 } },
	{ { 0, 999000000 }, 1, { 1, 0 } },
	{ { 5, 500000000 }, 500, { 6, 0 } },
	{ { 5, 500000000 }, 1500, { 7, 0 } },
	{ { 7, 1 }, 999, { 7, 999000001 } },
	{ { 5, 0 }, INT_MAX, { 5 + 2147483, 647000000 } },
	{ { 1000, NS - 1 }, INT_MAX, { 1000 + 2147484, 646999999 } },
	/* Saturation: never wrap into the past. */
	{ { TMAX - 1, 0 }, 5000, { TMAX, NS - 1 } },
	{ { TMAX, 0 }, 1, { TMAX, 1000000 } }, /* still representable */
	{ { TMAX, 0 }, 1000, { TMAX, NS - 1 } },
	{ { TMAX, NS - 1 }, INT_MAX, { TMAX, NS - 1 } },
	{ { TMAX - 3, NS - 1 }, 2001, { TMAX, 999999 } },
	{ { TMAX - 3, NS - 1 }, 3001, { TMAX, NS - 1 } },
};

Test(time, timespec_add_ms_boundary_table, .timeout = 10)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		struct timespec got =
		    baton__timespec_add_ms(table[i].now, table[i].ms);

		cr_assert(got.tv_nsec >= 0 && got.tv_nsec < NS,
			  "row %zu: tv_nsec %ld not normalised", i,
			  (long)got.tv_nsec);
		cr_assert(got.tv_sec == table[i].want.tv_sec &&
			      got.tv_nsec == table[i].want.tv_nsec,
			  "row %zu: got {%lld, %ld}, want {%lld, %ld}", i,
			  (long long)got.tv_sec, (long)got.tv_nsec,
			  (long long)table[i].want.tv_sec,
			  (long)table[i].want.tv_nsec);
	}
}

Test(time, sums_are_monotonic_in_the_timeout, .timeout = 10)
{
	struct timespec now = { 12345, 999999999 }, prev = now;

	for (int64_t ms = 0; ms < 5000; ms += 7) {
		struct timespec t = baton__timespec_add_ms(now, ms);

		cr_assert(t.tv_sec > prev.tv_sec ||
			  (t.tv_sec == prev.tv_sec && t.tv_nsec >= prev.tv_nsec));
		prev = t;
	}
}

Test(time, timeouts_accept_infinity_zero_and_positive_only, .timeout = 10)
{
	cr_assert_eq(baton__timeout_check(BATON_INFINITY), 0);
	cr_assert_eq(baton__timeout_check(0), 0);
	cr_assert_eq(baton__timeout_check(1), 0);
	cr_assert_eq(baton__timeout_check(INT_MAX), 0);
	cr_assert_eq(baton__timeout_check(-2), -EINVAL);
	cr_assert_eq(baton__timeout_check(INT_MIN), -EINVAL);
}

Test(time, deadlines_are_on_the_monotonic_clock_and_never_early, .timeout = 10)
{
	struct baton__deadline forever, now, later;
	struct timespec t0, t1;

	baton__deadline_init(&forever, BATON_INFINITY);
	cr_assert(forever.infinite);
	cr_assert(!baton__deadline_expired(&forever));

	baton__deadline_init(&now, 0);
	cr_assert(baton__deadline_expired(&now));

	clock_gettime(CLOCK_MONOTONIC, &t0);
	baton__deadline_init(&later, 30);
	cr_assert(!later.infinite);
	while (!baton__deadline_expired(&later))
		;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_assert((t1.tv_sec - t0.tv_sec) * 1000000000LL +
		      (t1.tv_nsec - t0.tv_nsec) >= 30000000LL,
		  "a 30 ms deadline expired early");
}

Test(time, a_huge_timeout_does_not_overflow_the_deadline, .timeout = 10)
{
	struct baton__deadline d;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	baton__deadline_init(&d, INT_MAX);
	cr_assert(d.at.tv_sec >= now.tv_sec + 2147483 - 1);
	cr_assert(!baton__deadline_expired(&d));
}
