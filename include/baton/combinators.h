/*
 * baton/combinators.h - futures made of futures: all, any, first-N, and a
 * completion set that hands futures back in the order they complete.
 *
 * Overview
 * ========
 *	baton_future *all;
 *	baton_future_all(&all, inputs, n);            inputs are borrowed
 *	r = baton_future_borrow(all, 5000, &v, &why); one deadline for all
 *	struct baton_future_list *list = v;           list->items[i]: input i
 *
 *	baton_completion_set *set;
 *	baton_completion_set_create(&set);
 *	baton_completion_set_add(set, f1); ...
 *	while (baton_completion_set_next(set, 1000, &f) == 0) { ...; unref f; }
 *
 * A combined future holds its own reference on every input and never
 * cancels them: other threads may be waiting on them too.  Cancelling a
 * combined future completes it as cancelled; an input that is cancelled
 * or fails makes it fail as described below (propagation).  The value of
 * a combined future is a struct baton_future_list of new references, with
 * a destructor that releases them: take it to keep the references, or let
 * the last unref of the combined future release them.
 */
#ifndef BATON_COMBINATORS_H
#define BATON_COMBINATORS_H

#include <stddef.h>

#include "common.h"
#include "future.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A combined future's value: n references to input futures.  items points
 * into the same allocation (not a flexible array member, so the header
 * stays valid C++).
 */
struct baton_future_list {
	size_t n;
	baton_future **items;
};

/* Releases every reference in the list and frees it (a baton_destroy_fn). */
BATON_API void baton_future_list_free(void *list);

/*
 * A future that succeeds once every input has succeeded (value: the n
 * inputs, in input order), or fails as soon as one input fails, is broken
 * or is cancelled, with that input's reason (the first failure in time
 * wins).  n == 0 succeeds at once with an empty list.
 * Pointers: borrows inputs; sets *out to a new reference.
 * Errors: -EINVAL (NULL out, inputs NULL with n > 0, a NULL input),
 * -ENOMEM.  Thread safety: any thread.
 * Ordering: every input's completion happens-before a successful wait.
 */
BATON_API int baton_future_all(baton_future **out,
			       baton_future *const *inputs, size_t n);

/*
 * A future that succeeds when the first input succeeds (value: a list of
 * one, that input), or fails once every input has failed (with the last
 * failure's reason).  n must be at least 1.  Otherwise as baton_future_all.
 */
BATON_API int baton_future_any(baton_future **out,
			       baton_future *const *inputs, size_t n);

/*
 * A future that succeeds when k inputs have succeeded (value: those k, in
 * the order they completed), or fails as soon as fewer than k can still
 * succeed (with the failure that made it impossible).  1 <= k <= n.
 * Otherwise as baton_future_all.
 */
BATON_API int baton_future_first(baton_future **out,
				 baton_future *const *inputs, size_t n,
				 size_t k);

typedef struct baton_completion_set baton_completion_set;

/*
 * Creates an empty completion set (Java's ExecutorCompletionService,
 * tokio's JoinSet): futures go in in any order and come back out in the
 * order they complete.
 * Pointers: sets *out to NULL first, then to a new set the caller owns.
 * Errors: -EINVAL, -ENOMEM.  Thread safety: any thread.
 */
BATON_API int baton_completion_set_create(baton_completion_set **out);

/*
 * Adds f; the set takes a reference of its own (the caller keeps its own).
 * Errors: -EINVAL, -ENOMEM.  Thread safety: any thread.
 * Ordering: none beyond the future's own.
 */
BATON_API int baton_completion_set_add(baton_completion_set *set,
				       baton_future *f);

/*
 * Waits up to timeout_ms for the next future to complete and hands it over
 * in *out (the set's reference becomes the caller's).  Futures come out in
 * completion order.  Returns 0, -ETIMEDOUT, -ENOENT (the set holds no
 * futures: every one added was handed back), -EINVAL.
 * Blocking: up to timeout_ms.  Thread safety: any thread; concurrent
 * callers each get different futures.
 * Ordering: the future's completion happens-before the return.
 */
BATON_API int baton_completion_set_next(baton_completion_set *set,
					int timeout_ms, baton_future **out);

/* Futures added and not yet handed back.  Any thread; a snapshot. */
BATON_API size_t baton_completion_set_size(const baton_completion_set *set);

/*
 * Destroys the set, releasing its references (pending futures are
 * detached, never waited for).  NULL is a no-op.  Pointers: consumes set.
 * Thread safety: no other thread may be using the set.
 */
BATON_API void baton_completion_set_destroy(baton_completion_set *set);

#ifdef __cplusplus
}
#endif

#endif /* BATON_COMBINATORS_H */
