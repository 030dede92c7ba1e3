/*
 * test_stale.c - a future or promise pointer used after its last
 * reference is gone.  Such a pointer names a recycled cell; C cannot make
 * that an error code (the pointer carries no generation, unlike a task
 * handle, which gets -ESTALE), so baton makes it visible to
 * AddressSanitizer instead: a free cell's lines are poisoned and kept out
 * of reuse for a while (src/cell.c).  These tests run the misuse and
 * expect ASan to end the process (exit status 1, ASan's default); in a
 * build without ASan they are skipped.
 */
#include <criterion/criterion.h>

#include <baton.h>

#include "unit.h"

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN 1
#endif
#endif

#ifdef HAVE_ASAN
#define STALE_EXIT 1
#else
#define STALE_EXIT 0
#endif

static void *
seven(void *arg)
{
	(void)arg;
	return TOK(7);
}

Test(stale, a_future_used_after_its_last_unref_is_reported,
     .exit_code = STALE_EXIT, .timeout = 30)
{
	baton_future *f, *other;
	void *v;

#ifndef HAVE_ASAN
	cr_skip_test("needs AddressSanitizer");
#endif
	cr_assert_eq(baton_future_start(&f, seven, NULL, NULL), 0);
	cr_assert_eq(baton_future_wait(f, 10000), 0);
	baton_future_unref(f);
	/* Other futures come and go: f's cell must not be handed out. */
	for (int i = 0; i < 100; i++) {
		cr_assert_eq(baton_future_start(&other, seven, NULL, NULL), 0);
		cr_assert_eq(baton_future_take(other, 10000, &v, NULL), 0);
		baton_future_unref(other);
	}
	(void)baton_future_take(f, 0, &v, NULL); /* ASan: use after free */
	cr_assert_fail("the stale take was not reported");
}

Test(stale, a_promise_used_after_its_destroy_is_reported,
     .exit_code = STALE_EXIT, .timeout = 30)
{
	baton_promise *p;
	baton_future *f;

#ifndef HAVE_ASAN
	cr_skip_test("needs AddressSanitizer");
#endif
	cr_assert_eq(baton_promise_create(&p, &f), 0);
	baton_future_unref(f);
	baton_promise_destroy(p);
	(void)baton_promise_fulfil(p, TOK(1), NULL); /* ASan: use after free */
	cr_assert_fail("the stale fulfil was not reported");
}
