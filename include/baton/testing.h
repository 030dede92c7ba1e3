/*
 * baton/testing.h - fault injection, for tests: make the n-th next
 * allocation, thread creation or key creation inside baton fail, or
 * widen a race window (baton_test_slow_walk).
 *
 * Overview
 * ========
 * Present only in a build configured with -Dfault_injection=true (which
 * defines BATON_FAULT_INJECTION for the library and its tests); otherwise
 * this header declares nothing.  It is never installed.
 *
 *	baton_test_reset();
 *	run_scenario();                        count the fallible calls
 *	n = baton_test_fallible_calls();
 *	for (k = 1; k <= n; k++) {
 *		baton_test_reset();
 *		baton_test_fail_after(k);      the k-th call fails
 *		run_scenario();                a clean error, or success
 *	}
 *
 * Invariants: exactly one fallible call fails per baton_test_fail_after(n)
 * with n >= 1, the n-th one made after it by any thread; every later call
 * succeeds.  A failed allocation returns NULL (errno ENOMEM), a failed
 * pthread_create or pthread_key_create returns EAGAIN.  The counter and
 * the countdown are process-wide, so a scenario whose fallible calls race
 * between threads fails whichever call comes n-th.
 */
#ifndef BATON_TESTING_H
#define BATON_TESTING_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef BATON_FAULT_INJECTION

/*
 * Arms the countdown: the n-th next fallible call (n >= 1) fails and
 * every later one succeeds.  0 (or a negative n) disarms it.
 * Thread safety: any thread.  Ordering: relaxed; arm it before starting
 * the work it is meant for.
 */
BATON_API void baton_test_fail_after(long n);

/*
 * How many fallible calls were made, by any thread, since the last
 * baton_test_reset (or since the process started).
 * Thread safety: any thread.  Ordering: relaxed snapshot.
 */
BATON_API long baton_test_fallible_calls(void);

/*
 * Disarms the countdown and zeroes the counter and the failed site.
 * Thread safety: any thread.  Ordering: relaxed.
 */
BATON_API void baton_test_reset(void);

/*
 * The call that the countdown failed, as "file:line" of baton's source,
 * or NULL if none failed since the last reset.
 * Pointers: returns a static string.  Thread safety: any thread.
 * Ordering: relaxed snapshot.
 */
BATON_API const char *baton_test_failed_site(void);

/*
 * Widens a race window for tests: every pool monitor's walk of its
 * workers (src/executor/growth.c) sleeps us microseconds at each worker
 * record it reads, so workers retire while a walk is in progress.  0
 * (the default, or a negative us) turns it off.
 * Thread safety: any thread.  Ordering: relaxed; a walk under way may
 * still use the old value.
 */
BATON_API void baton_test_slow_walk(long us);

#endif /* BATON_FAULT_INJECTION */

#ifdef __cplusplus
}
#endif

#endif /* BATON_TESTING_H */
