/*
 * test_strerror.c - baton_strerror prints every code baton returns in
 * baton's meaning, and never libc's.
 */
#include <string.h>

#include <baton.h>

#include "unit.h"

/* The complete list in include/baton/common.h (check_errors.py keeps the
 * two in step with src/ and queue/). */
static const int returned[] = {
	-EINVAL, -ENOMEM, -EAGAIN, -ETIMEDOUT, -EPIPE, -EPERM,
	-ESTALE, -EDEADLK, -EALREADY, -ENOENT, -ESRCH, -EBUSY, -ECHILD,
	-ENOSYS, -EBADF, -EBADMSG, -EPROTO, -EUSERS, -EEXIST, -ENOSPC,
	-EMSGSIZE, -EIO, -ECANCELED, -E2BIG,
};
#define NRETURNED (sizeof returned / sizeof returned[0])

static const char unknown[] = "not a baton error code";

Test(strerror, every_returned_code_has_its_own_text)
{
	for (size_t i = 0; i < NRETURNED; i++) {
		const char *s = baton_strerror(returned[i]);
		cr_assert_not_null(s);
		cr_assert_str_neq(s, unknown, "code %d", returned[i]);
		cr_assert_str_neq(s, strerror(-returned[i]), "code %d",
				  returned[i]);
		for (size_t j = 0; j < i; j++)
			cr_assert_str_neq(s, baton_strerror(returned[j]),
					  "codes %d and %d", returned[i],
					  returned[j]);
	}
}

Test(strerror, names_the_errno_in_the_text)
{
	cr_assert_not_null(strstr(baton_strerror(-ESTALE), "(-ESTALE)"));
	cr_assert_not_null(strstr(baton_strerror(-EPIPE), "(-EPIPE)"));
	cr_assert_not_null(strstr(baton_strerror(-EPERM), "not the owner"));
	cr_assert_not_null(strstr(baton_strerror(-ESTALE), "stale handle"));
}

Test(strerror, exited_is_not_eperm)
{
	cr_assert_eq(BATON_EXITED, EPERM); /* why strerror cannot print it */
	cr_assert_str_neq(baton_strerror(BATON_EXITED),
			  baton_strerror(-EPERM));
	cr_assert_not_null(strstr(baton_strerror(BATON_EXITED),
				  "BATON_EXITED"));
	cr_assert_str_eq(baton_strerror(0), "success");
	cr_assert_str_neq(baton_strerror(BATON_NOREPLY),
			  baton_strerror(-ENOENT));
	cr_assert_not_null(strstr(baton_strerror(BATON_NOREPLY),
				  "BATON_NOREPLY"));
}

Test(strerror, anything_else_is_unknown_never_null)
{
	static const int others[] = { 3, EPIPE, -ENOTSUP, -100000, 100000,
				      -2147483647 - 1 };
	for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
		cr_assert_str_eq(baton_strerror(others[i]), unknown,
				 "code %d", others[i]);
}

/* A real return, printed: a try_pop on an empty queue. */
Test(strerror, prints_what_a_call_returned)
{
	baton_queue *q;
	void *item;
	cr_assert_eq(baton_queue_create(&q, 4, NULL), 0);
	cr_assert_str_eq(baton_strerror(baton_queue_try_pop(q, &item)),
			 baton_strerror(-EAGAIN));
	baton_queue_close(q);
	cr_assert_str_eq(baton_strerror(baton_queue_try_pop(q, &item)),
			 "closed, shut down or broken promise (-EPIPE)");
	baton_queue_destroy(q);
}
