/*
 * future.c - shareable futures and promises: the sharing face of the
 * result cell (cell.c), where task.c is the owner-only face.
 *
 * Design notes
 * ============
 * A baton_future * is a struct baton__cell *, and every future reference
 * is a cell reference: ref and unref are the cell's.  A baton_promise * is
 * the same cell seen from the completing side; the promise holds a
 * reference of its own until baton_promise_destroy.
 *
 * Completion happens once.  A body's return, a promise's fulfil or fail, a
 * cancel, a broken promise and a continuation's failed input all race to
 * claim the cell (RUNNING -> COMPLETING, cell.c); the winner fills value,
 * reason and flags, then publishes DONE.  A loser keeps what it brought: a
 * fulfil gets -EALREADY and its value stays the caller's; a body's late
 * value goes to the destructor.
 *
 * Taking: CELL_TAKEN is set by an atomic OR, so among many takers exactly
 * one sees it clear and wins; the last unref then skips the destructor.
 * Borrowing and copying read the value in place and are only as safe as
 * the program's ordering between them and any take (documented).
 *
 * Cancellation: CELL_STOP and CELL_CANCELLED are raised first (the body
 * sees baton_should_stop); a queued body is then claimed here and never
 * runs; a cell with no body running (a promise, a continuation waiting for
 * its input) is completed as cancelled on the spot; a running body
 * completes it as cancelled when it returns, its value freed (never
 * earlier: the body may be using what completion releases).  So
 * cancel_wait is cancel plus a wait for completion.  Continuations and
 * combinators fail when their input fails, so cancelling an input
 * propagates to everything derived from it.
 *
 * Continuations (then): the derived cell starts RUNNING with no body
 * submitted, so nobody can help-run it early; a callback on the input
 * either completes it with the input's failure, or moves it to QUEUED and
 * submits it.  Its context (the input reference, fn, ctx) is released by
 * the derived cell's on_done hook, which runs exactly once, whichever way
 * the cell completes.
 */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "baton/future.h"
#include "task_internal.h"

#define CELL(f) ((struct baton__cell *)(void *)(f))
#define FUTURE(c) ((baton_future *)(void *)(c))

static const struct baton__reason broken =
    BATON__REASON(BATON_EXIT_SHUTDOWN, EPIPE, "broken promise");

int
baton_future_start(baton_future **out, baton_task_fn fn, void *arg,
		   const struct baton_task_opts *opts)
{
	struct baton__cell *cell;
	int r;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	r = baton__spawn_cell(&cell, fn, arg, opts, false, 0);
	if (r == 0)
		*out = FUTURE(cell);
	return r;
}

baton_future *
baton_future_ref(baton_future *f)
{
	if (f != NULL)
		baton__cell_ref(CELL(f));
	return f;
}

void
baton_future_unref(baton_future *f)
{
	if (f != NULL)
		baton__cell_unref(CELL(f));
}

void
baton_future_release(void *future)
{
	baton_future_unref(future);
}

bool
baton_future_is_done(const baton_future *f)
{
	/* acquire: pairs with the release store of DONE. */
	return f != NULL &&
	    atomic_load_explicit(&CELL(f)->state, memory_order_acquire) ==
		BATON_TASK_DONE;
}

int
baton_future_wait(baton_future *f, int timeout_ms)
{
	struct baton__deadline deadline;

	if (f == NULL || baton__timeout_check(timeout_ms) != 0)
		return -EINVAL;
	if (baton_future_is_done(f))
		return 0;
	if (timeout_ms == 0)
		return -ETIMEDOUT;
	baton__deadline_init(&deadline, timeout_ms);
	return baton__cell_wait(CELL(f), &deadline, true);
}

enum access { BORROW, TAKE, COPY };

/* The outcome of a DONE cell, lent, moved or cloned. */
static int
access_value(struct baton__cell *cell, enum access how, void **value,
	     void *(*clone)(const void *), struct baton_exit_reason *reason)
{
	/* relaxed: the flags below were set before DONE was published. */
	unsigned int flags = atomic_load_explicit(&cell->flags,
						  memory_order_relaxed);

	if (flags & CELL_BROKEN)
		return -EPIPE;
	if (cell->reason.kind != BATON_EXIT_NORMAL || (flags & CELL_EXITED)) {
		if (reason != NULL)
			baton__reason_export(reason, &cell->reason);
		return BATON_EXITED;
	}
	switch (how) {
	case TAKE:
		/* relaxed: exactly one taker sees the bit clear. */
		flags = atomic_fetch_or_explicit(&cell->flags, CELL_TAKEN,
						 memory_order_relaxed);
		if (flags & CELL_TAKEN)
			return -EALREADY;
		*value = cell->value;
		return 0;
	case BORROW:
		if (flags & CELL_TAKEN)
			return -EALREADY;
		*value = cell->value;
		return 0;
	case COPY:
		if (flags & CELL_TAKEN)
			return -EALREADY;
		if (cell->value == NULL) {
			*value = NULL;
			return 0;
		}
		*value = clone(cell->value);
		return *value != NULL ? 0 : -ENOMEM;
	}
	return -EINVAL;
}

static int
wait_and_access(baton_future *f, int timeout_ms, enum access how,
		void **value, void *(*clone)(const void *),
		struct baton_exit_reason *reason)
{
	int r;

	if (value == NULL || (how == COPY && clone == NULL))
		return -EINVAL;
	r = baton_future_wait(f, timeout_ms);
	if (r != 0)
		return r;
	return access_value(CELL(f), how, value, clone, reason);
}

int
baton_future_borrow(baton_future *f, int timeout_ms, void **value,
		    struct baton_exit_reason *reason)
{
	return wait_and_access(f, timeout_ms, BORROW, value, NULL, reason);
}

int
baton_future_take(baton_future *f, int timeout_ms, void **value,
		  struct baton_exit_reason *reason)
{
	return wait_and_access(f, timeout_ms, TAKE, value, NULL, reason);
}

int
baton_future_copy(baton_future *f, int timeout_ms,
		  void *(*clone)(const void *value), void **copy,
		  struct baton_exit_reason *reason)
{
	return wait_and_access(f, timeout_ms, COPY, copy, clone, reason);
}

int
baton_future_peek(baton_future *f, void **value,
		  struct baton_exit_reason *reason)
{
	if (f == NULL || value == NULL)
		return -EINVAL;
	if (!baton_future_is_done(f))
		return -EAGAIN;
	return access_value(CELL(f), BORROW, value, NULL, reason);
}

/* A user callback waiting for its future. */
struct user_cb {
	struct baton__callback node; /* first: cell.c frees the node */
	baton_future_cb cb;
	void *ctx;
	baton_pool *pool;
};

struct pooled_cb {
	baton_future_cb cb;
	void *ctx;
	struct baton__cell *cell;
};

static void *
run_pooled_cb(void *arg)
{
	struct pooled_cb p = *(struct pooled_cb *)arg;

	free(arg);
	p.cb(FUTURE(p.cell), p.ctx);
	baton__cell_unref(p.cell);
	return NULL;
}

/* Runs a user callback now, or hands it to its pool; drops its reference. */
static void
dispatch(struct baton__cell *cell, baton_future_cb cb, void *ctx,
	 baton_pool *pool)
{
	struct baton_task_opts opts = { .pool = pool, .label = "on_done" };
	struct pooled_cb *p;

	if (pool != NULL && (p = baton__malloc(sizeof(*p))) != NULL) {
		*p = (struct pooled_cb){ cb, ctx, cell };
		if (baton_task_start(run_pooled_cb, p, &opts) == 0)
			return;
		free(p); /* the pool is shut down: run it here */
	}
	cb(FUTURE(cell), ctx);
	baton__cell_unref(cell);
}

static void
user_cb_fired(struct baton__cell *cell, void *arg)
{
	struct user_cb *u = arg;

	dispatch(cell, u->cb, u->ctx, u->pool);
	baton__pool_unref(u->pool); /* taken in baton_future_on_done */
}

int
baton_future_on_done(baton_future *f, baton_future_cb cb, void *ctx,
		     baton_pool *pool)
{
	struct user_cb *u;

	if (f == NULL || cb == NULL)
		return -EINVAL;
	u = baton__malloc(sizeof(*u));
	if (u == NULL)
		return -ENOMEM;
	*u = (struct user_cb){ { user_cb_fired, u, NULL }, cb, ctx, pool };
	/* The callback's own reference: the future lives until cb ran. */
	baton__cell_ref(CELL(f));
	/*
	 * And the pool's memory, which a destroy before the completion
	 * must not free under us: the callback then runs here (-EPIPE).
	 */
	baton__pool_ref(pool);
	/*
	 * Already done: run it now, as documented, even if the completer is
	 * still draining the list (it publishes DONE before it closes it).
	 */
	if (baton_future_is_done(f) ||
	    !baton__cell_add_callback(CELL(f), &u->node)) {
		free(u);
		dispatch(CELL(f), cb, ctx, pool);
		baton__pool_unref(pool);
	}
	return 0;
}

int
baton_future_cancel(baton_future *f)
{
	struct baton__cell *cell = CELL(f);
	unsigned int was;

	if (f == NULL)
		return -EINVAL;
	if (baton_future_is_done(f))
		return -EALREADY;
	was = baton__cell_stop(cell, CELL_CANCELLED);
	/* A queued body is claimed here and completes cancelled, unrun. */
	if (baton__cell_run(cell))
		return 0;
	/*
	 * A running body completes the cell as cancelled when it returns
	 * (cell.c decides by the same RMW order on the flags word); settling
	 * now would free what the body still uses.  A claimer that has not
	 * announced its body yet will see CELL_STOP and never run it, so
	 * settling is safe then.
	 */
	if (was & CELL_IN_BODY)
		return 0;
	if (baton__cell_settle_cancelled(cell))
		return 0;
	/*
	 * Another completer won the claim; it may have completed the cell
	 * as cancelled because of this very request (a worker that claimed
	 * the body just before us and then saw CELL_STOP).  Its result is
	 * published within a few instructions: wait for it and tell.
	 */
	while (!baton_future_is_done(f))
		ck_pr_stall();
	/* relaxed: published with DONE, which is_done acquired. */
	return (atomic_load_explicit(&cell->flags, memory_order_relaxed) &
		CELL_CANCEL_WON)
	    ? 0
	    : -EALREADY;
}

int
baton_future_cancel_wait(baton_future *f, int timeout_ms)
{
	if (f == NULL || baton__timeout_check(timeout_ms) != 0)
		return -EINVAL;
	(void)baton_future_cancel(f);
	/* Completion now comes when the body (if any) has returned. */
	return baton_future_wait(f, timeout_ms);
}

/* ---- promises ------------------------------------------------------ */

int
baton_promise_create(baton_promise **promise, baton_future **future)
{
	struct baton__cell *cell;

	if (promise == NULL || future == NULL)
		return -EINVAL;
	*promise = NULL;
	*future = NULL;
	cell = baton__cell_alloc_pending();
	if (cell == NULL)
		return -ENOMEM;
	baton__cell_ref(cell); /* one for the promise, one for the future */
	*promise = (baton_promise *)(void *)cell;
	*future = FUTURE(cell);
	return 0;
}

int
baton_promise_fulfil(baton_promise *promise, void *value,
		     baton_destroy_fn destroy)
{
	struct baton__cell *cell = CELL(promise);

	if (promise == NULL)
		return -EINVAL;
	if (!baton__cell_claim_completion(cell))
		return -EALREADY;
	cell->value = value;
	cell->destroy = destroy;
	baton__cell_publish(cell);
	return 0;
}

/* Completes as failed with r, whose text the cell takes (or we drop). */
static int
settle_failed(baton_promise *promise, struct baton__reason *r)
{
	if (baton__cell_settle(CELL(promise), NULL, r))
		return 0;
	baton__reason_release(r);
	return -EALREADY;
}

int
baton_promise_fail(baton_promise *promise,
		   const struct baton_exit_reason *reason)
{
	struct baton__reason r;
	int err;

	if (promise == NULL || reason == NULL ||
	    reason->kind == BATON_EXIT_NORMAL ||
	    (unsigned int)reason->kind > BATON_EXIT_KILLED)
		return -EINVAL;
	if ((err = baton__reason_import(&r, reason)) != 0)
		return err;
	return settle_failed(promise, &r);
}

int
baton_promise_vfailf(baton_promise *promise, enum baton_exit_kind kind,
		     int code, const char *fmt, va_list ap)
{
	struct baton__reason r;

	if (promise == NULL || fmt == NULL || kind == BATON_EXIT_NORMAL ||
	    (unsigned int)kind > BATON_EXIT_KILLED)
		return -EINVAL;
	if (baton__reason_vformat(&r, kind, code, fmt, ap) != 0)
		return -ENOMEM; /* nothing held: r is static */
	return settle_failed(promise, &r);
}

int
baton_promise_failf(baton_promise *promise, enum baton_exit_kind kind,
		    int code, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = baton_promise_vfailf(promise, kind, code, fmt, ap);
	va_end(ap);
	return r;
}

bool
baton_promise_is_cancelled(const baton_promise *promise)
{
	/* acquire: the flag is set by the cancel that completed it. */
	return promise != NULL &&
	    (atomic_load_explicit(&CELL(promise)->flags,
				  memory_order_acquire) &
	     CELL_CANCEL_WON);
}

void
baton_promise_destroy(baton_promise *promise)
{
	struct baton__cell *cell = CELL(promise);

	if (promise == NULL)
		return;
	if (baton__cell_claim_completion(cell))
		baton__cell_publish_broken(cell, &broken);
	baton__cell_unref(cell);
}

/* ---- strict task to future ----------------------------------------- */

int
baton_task_to_future(baton_task *task, baton_future **out)
{
	struct baton__cell *cell;
	int r;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if ((r = baton__task_resolve_owned(task, &cell)) != 0)
		return r;
	/* The handle's reference becomes the future's. */
	baton__cell_ref(cell);
	baton__task_consume(task, cell);
	*out = FUTURE(cell);
	return 0;
}

/* ---- continuations --------------------------------------------------- */

struct then_ctx {
	struct baton__cell *input;
	baton_then_fn fn;
	void *ctx;
	baton_pool *pool;
};

static void *
then_body(void *arg)
{
	struct then_ctx *t = arg;

	return t->fn(t->input->value, t->ctx);
}

/* on_done of the derived cell: runs once, however it completed. */
static void
then_release(struct baton__cell *derived, void *arg)
{
	struct then_ctx *t = arg;

	(void)derived;
	baton__cell_unref(t->input);
	baton__pool_unref(t->pool);
	free(t);
}

static void
input_done(struct baton__cell *input, void *arg)
{
	struct baton__cell *derived = arg;
	struct then_ctx *t = derived->arg;

	if (baton__cell_is_broken(input) || baton__cell_failed(input)) {
		if (baton__cell_claim_completion(derived))
			baton__cell_publish_failure_of(derived, input);
	} else if (baton__cell_requeue(derived)) {
		/* Unless a cancel completed it meanwhile. */
		baton_pool *pool = t->pool != NULL ? t->pool
						   : baton_pool_default();

		/*
		 * No pool to run it (shut down, or made before a fork): it
		 * runs here, on the completing thread, as on_done's callbacks
		 * do.
		 */
		if (pool == NULL || baton__pool_submit(pool, derived) != 0)
			baton__cell_run(derived);
	}
	baton__cell_unref(derived); /* the callback's reference */
}

int
baton_future_then(baton_future **out, baton_future *f, baton_then_fn fn,
		  void *ctx, const struct baton_task_opts *opts)
{
	struct baton__cell *derived;
	struct baton__callback *node;
	struct then_ctx *t;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (f == NULL || fn == NULL)
		return -EINVAL;
	t = baton__malloc(sizeof(*t));
	node = baton__malloc(sizeof(*node));
	derived = baton__cell_alloc_pending();
	if (t == NULL || node == NULL || derived == NULL) {
		free(t);
		free(node);
		if (derived != NULL)
			baton__cell_unref(derived);
		return -ENOMEM;
	}
	*t = (struct then_ctx){ baton__cell_ref(CELL(f)), fn, ctx,
				opts != NULL ? opts->pool : NULL };
	/* Until the continuation ends: its pool may be destroyed first. */
	baton__pool_ref(t->pool);
	baton__cell_set_body(derived, then_body, t,
			     opts != NULL ? opts->label : NULL,
			     opts != NULL ? opts->destroy : NULL);
	baton__cell_set_callers(derived, baton__thread_self()->tid);
	derived->on_done = then_release;
	derived->on_done_ctx = t;
	/* Pending (RUNNING) until its input is done: nobody runs it early. */
	*node = (struct baton__callback){ input_done,
					  baton__cell_ref(derived), NULL };
	if (!baton__cell_add_callback(CELL(f), node)) {
		free(node);
		input_done(CELL(f), derived);
	}
	*out = FUTURE(derived);
	return 0;
}
