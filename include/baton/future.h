/*
 * baton/future.h - shareable futures and promises: refcounted result cells
 * that any thread may await, many times, and that can travel through a
 * queue while still pending.
 *
 * Overview
 * ========
 * This is the half of baton that Elixir's Task refuses (a task can only be
 * awaited by the process that started it) and that ExFuture offers:
 *
 *	baton_future *f;
 *	baton_future_async(&f, compute, arg, free);     runs on the pool
 *	baton_queue_push(q, f);                         the reference travels
 *	...another thread...
 *	baton_queue_pop(q, (void **)&f);
 *	if (baton_future_take(f, 1000, &v, &why) == 0) { use(v); free(v); }
 *	baton_future_unref(f);             frees the value if nobody took it
 *
 * Who frees the value: the caller that takes it, or else the destructor
 * given where the work is started (baton_future_async's destroy, or
 * opts->destroy for baton_future_start and baton_future_then, or the
 * promise's fulfil).  Without a destructor a value nobody takes is not
 * freed: baton_future_async makes the choice an argument that cannot be
 * left out by accident (NULL only for values that own nothing).
 *
 * A future is the same result cell as a strict task (src/cell.c), with
 * sharing rules instead of owner rules:
 * - Any thread holding a reference may wait on it, any number of times.
 * - The value can be borrowed (valid while the borrower holds a reference
 *   and nobody takes it), taken (moved out: exactly one caller wins, the
 *   others get -EALREADY), or copied with a clone function.
 * - The value's destructor runs exactly once, when the last reference
 *   goes, unless someone took the value.  Dropping the last reference of a
 *   pending future never blocks: the value is freed when it arrives.
 * - A promise completes its future from any thread; the first completion
 *   wins, later ones get -EALREADY and keep their value.  A promise
 *   destroyed without completing breaks its future: waiters get -EPIPE,
 *   never a hang.
 * - Cancellation asks the work to stop (baton_should_stop() in the body; a
 *   queued body never runs) and completes the future as cancelled
 *   (BATON_EXITED, kind BATON_EXIT_SHUTDOWN, code ECANCELED) if it had not
 *   completed, once no body is running; futures derived from it with
 *   then/all/any then fail the same way.  baton_future_cancel_wait also
 *   waits until the body has returned.
 *
 * Results of the waiting calls, as for strict tasks: 0 (value), BATON_EXITED
 * (the work failed; reason filled), or a negative errno: -ETIMEDOUT,
 * -EPIPE (broken promise), -EALREADY (value already taken), -EINVAL.
 * *reason is written on BATON_EXITED only (never on -ETIMEDOUT): each
 * reader gets its own copy of the text (baton/task.h), so a reason read
 * from a future stays valid after the future is released.
 */
#ifndef BATON_FUTURE_H
#define BATON_FUTURE_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"
#include "pool.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct baton_future baton_future;
typedef struct baton_promise baton_promise;

/*
 * Starts fn(arg) on the default pool and returns a future for its value;
 * destroy(value) runs exactly once when the last reference goes if nobody
 * took the value (also when the body's value arrives after everyone let
 * go, is returned after baton_exit, or comes from a cancelled body).  Pass
 * free for a malloc'd value, your own destructor for a structure, or NULL
 * only when the value owns nothing (an integer cast to a pointer, static
 * data).  The body may call baton_should_stop() and baton_exit().
 *
 *	baton_future *f;
 *	if (baton_future_async(&f, checksum, path, free) != 0) ...;
 *
 * Pointers: sets *out to NULL first, then to a new reference; arg is passed
 * to fn untouched.  Blocking: no.  Errors: -EINVAL (out or fn NULL),
 * -ENOMEM, -EPIPE (the default pool is shut down); on failure fn never
 * runs.  Thread safety: any thread.  Ordering: the call happens-before fn.
 */
BATON_API int baton_future_async(baton_future **out, baton_task_fn fn,
				 void *arg, baton_destroy_fn destroy);

/*
 * As baton_future_async, with options: a pool (opts NULL or opts->pool
 * NULL: the default pool), a label, and the value's destructor in
 * opts->destroy.  With opts NULL or opts->destroy NULL, a value nobody
 * takes is NOT freed: give one for any value that owns memory, e.g.
 * &(struct baton_task_opts){ .pool = p, .destroy = free }.
 *
 * Pointers: sets *out to NULL first, then to a new reference.
 * Blocking: no.  Errors: -EINVAL, -ENOMEM, -EPIPE; on failure fn never
 * runs.  Thread safety: any thread.  Ordering: the call happens-before fn.
 */
BATON_API int baton_future_start(baton_future **out, baton_task_fn fn,
				 void *arg,
				 const struct baton_task_opts *opts);

/* Returns f (a new reference).  NULL-safe.  Any thread; relaxed. */
BATON_API baton_future *baton_future_ref(baton_future *f);

/*
 * Drops a reference; NULL is a no-op.  The last one frees a value nobody
 * took through its destructor (now, or when a pending value arrives).
 * Never blocks.  Pointers: consumes the reference.  Any thread; acq_rel.
 */
BATON_API void baton_future_unref(baton_future *f);

/*
 * baton_future_unref as a baton_destroy_fn, for containers of futures:
 * baton_queue_create(&q, 1024, baton_future_release) makes a queue that
 * releases the futures left inside it when destroyed or discarded.
 */
BATON_API void baton_future_release(void *future);

/*
 * Waits up to timeout_ms (BATON_INFINITY; 0 polls) for the future to
 * complete, without touching its value.  0 when complete (successfully or
 * not), -ETIMEDOUT.  Waiting never cancels the work.  Helps: a waiter
 * without a time limit runs the body itself if it is still queued.
 * Pointers: borrows f.  Blocking: up to timeout_ms.  Thread safety: any
 * thread holding a reference.  Ordering: completion happens-before a 0
 * return.
 */
BATON_API int baton_future_wait(baton_future *f, int timeout_ms);

/*
 * Waits as baton_future_wait, then lends the value: *value stays valid
 * while the caller holds its reference and nobody takes it (do not mix
 * borrowing and taking on the same future unless the program orders
 * them).  Returns 0, BATON_EXITED (reason filled), -EPIPE (broken
 * promise), -EALREADY (taken), -ETIMEDOUT, -EINVAL.
 * Pointers: borrows f; lends the value.  Any thread with a reference.
 * Ordering: as baton_future_wait.
 */
BATON_API int baton_future_borrow(baton_future *f, int timeout_ms,
				  void **value,
				  struct baton_exit_reason *reason);

/*
 * Waits, then moves the value out: exactly one caller among all takers
 * gets 0 and the value (its destructor will not run; the value is now the
 * caller's); every other gets -EALREADY.  Other results as borrow.
 * Pointers: borrows f; hands the value over.  Any thread with a reference.
 * Ordering: as baton_future_wait.
 */
BATON_API int baton_future_take(baton_future *f, int timeout_ms, void **value,
				struct baton_exit_reason *reason);

/*
 * Waits, then stores clone(value) in *copy: every caller gets its own
 * copy (clone returns NULL for failure: -ENOMEM).  Other results as
 * borrow.  Pointers: borrows f; hands the copy over.  Any thread with a
 * reference.  Ordering: as baton_future_wait.
 */
BATON_API int baton_future_copy(baton_future *f, int timeout_ms,
				void *(*clone)(const void *value),
				void **copy, struct baton_exit_reason *reason);

/* Whether the future has completed.  Any thread; acquire. */
BATON_API bool baton_future_is_done(const baton_future *f);

/*
 * Non-blocking borrow: -EAGAIN while pending, else as baton_future_borrow.
 * Any thread with a reference.
 */
BATON_API int baton_future_peek(baton_future *f, void **value,
				struct baton_exit_reason *reason);

/* A completion callback; f is borrowed for the duration of the call. */
typedef void (*baton_future_cb)(baton_future *f, void *ctx);

/*
 * Registers cb(f, ctx) to run once f completes: on the completing thread,
 * or, if f has already completed, at once on the calling thread (before
 * this call returns).  With pool not NULL the callback runs on that pool
 * instead (or, if it cannot be handed to the pool because memory ran out
 * or the pool is shut down, even destroyed, on the completing thread: the
 * registration keeps the pool's memory valid).  Any number may be
 * registered; each runs exactly once.
 * Errors: -EINVAL, -ENOMEM (cb will not run).
 * Pointers: borrows f (the future is kept alive until cb has run).
 * Thread safety: any thread with a reference.
 * Ordering: completion happens-before cb.
 */
BATON_API int baton_future_on_done(baton_future *f, baton_future_cb cb,
				   void *ctx, baton_pool *pool);

/* A continuation: receives the input's value, borrowed. */
typedef void *(*baton_then_fn)(void *value, void *ctx);

/*
 * A new future for fn(value of f, ctx), run on a pool (opts may be NULL)
 * once f succeeds; if that pool has been shut down (even destroyed) by
 * then, fn runs on the thread that completes f.  fn's value is freed
 * through opts->destroy if nobody takes it (opts NULL: not freed; pass
 * &(struct baton_task_opts){ .destroy = free } for a malloc'd value).  If
 * f fails, is broken or cancelled, the new future fails the same way
 * without running fn.  Cancelling the new future does not cancel f.
 * Pointers: borrows f (the new future keeps its own reference); sets *out
 * to a new reference.  Errors: -EINVAL, -ENOMEM.  Any thread.
 * Ordering: f's completion happens-before fn.
 */
BATON_API int baton_future_then(baton_future **out, baton_future *f,
				baton_then_fn fn, void *ctx,
				const struct baton_task_opts *opts);

/*
 * Asks the work behind f to stop and completes f as cancelled
 * (BATON_EXITED / SHUTDOWN / ECANCELED): at once if no body is running (a
 * body still queued never runs; a promise or a continuation still waiting
 * for its input completes now), or when a running body returns (it sees
 * baton_should_stop(); whatever it returns is freed).  Returns 0, or
 * -EALREADY if f had already completed (nothing changes).
 * Pointers: borrows f.  Blocking: no.  Any thread with a reference.
 * Ordering: happens-before baton_should_stop() returning true.
 */
BATON_API int baton_future_cancel(baton_future *f);

/*
 * baton_future_cancel, then waits up to timeout_ms until the body (if one
 * ever started) has returned.  0, or -ETIMEDOUT with the body still
 * running.  Blocking: up to timeout_ms.  Any thread with a reference.
 */
BATON_API int baton_future_cancel_wait(baton_future *f, int timeout_ms);

/*
 * Creates a promise and its future.
 * Pointers: sets *promise and *future to NULL first, then to a new promise
 * (the caller completes or destroys it) and a new future reference.
 * Errors: -EINVAL, -ENOMEM.  Any thread.
 */
BATON_API int baton_promise_create(baton_promise **promise,
				   baton_future **future);

/*
 * Completes the future with value (destroy frees it if nobody takes it).
 * -EALREADY if the future already completed (fulfilled, failed or
 * cancelled): value stays the caller's.  Does not consume the promise.
 * Thread safety: any thread.  Ordering: happens-before every wait that
 * observes the completion.
 */
BATON_API int baton_promise_fulfil(baton_promise *promise, void *value,
				   baton_destroy_fn destroy);

/*
 * Completes the future as failed with reason (kind other than NORMAL).
 * A reason with a message keeps it (static text, by address); one with
 * message NULL and a non-empty text (a reason another baton call filled,
 * say) has its text copied, up to BATON_EXIT_TEXT_MAX bytes whether
 * terminated or not, and owned by the result: readers get it in their
 * own copy's text.
 * Pointers: borrows promise and reason (nothing is kept of reason but
 * its parts and a copy of its text).  Blocking: no.
 * Errors: -EALREADY as fulfil; -EINVAL; -ENOMEM (no room for the text;
 * the future is still pending).  Any thread.  Ordering: as fulfil.
 */
BATON_API int baton_promise_fail(baton_promise *promise,
				 const struct baton_exit_reason *reason);

/*
 * Completes the future as failed with kind, code and a message formatted
 * as by printf (cut as baton_exitf cuts it, and owned by the result as
 * baton_exitf's text is).
 * Pointers: borrows promise and fmt.  Blocking: no.
 * Errors: -EINVAL (NULL promise or fmt, kind NORMAL or unknown);
 * -EALREADY as fulfil; -ENOMEM (the future is still pending).
 * Thread safety: any thread.  Ordering: as fulfil.
 */
BATON_API int baton_promise_failf(baton_promise *promise,
				  enum baton_exit_kind kind, int code,
				  const char *fmt, ...) BATON_PRINTF(4, 5);

/* As baton_promise_failf, with a va_list (the caller va_ends it). */
BATON_API int baton_promise_vfailf(baton_promise *promise,
				   enum baton_exit_kind kind, int code,
				   const char *fmt, va_list ap)
    BATON_PRINTF(4, 0);

/* Whether the promise's future was cancelled.  Any thread; acquire. */
BATON_API bool baton_promise_is_cancelled(const baton_promise *promise);

/*
 * Releases the promise; if its future never completed, it is broken:
 * every waiter gets -EPIPE.  NULL is a no-op.  Pointers: consumes promise.
 * Any thread (one call per promise).
 */
BATON_API void baton_promise_destroy(baton_promise *promise);

/*
 * Turns a strict task into a shareable future: ownership moves to the
 * future (a new reference in *out) and the task handle is consumed; later
 * use of it is -ESTALE.  The task stays linked to nobody: its owner's exit
 * no longer stops it.
 * Errors: -EPERM (not the owner), -ESTALE, -EDEADLK, -EINVAL.
 * Thread safety: the task's owner only.
 */
BATON_API int baton_task_to_future(baton_task *task, baton_future **out);

#ifdef __cplusplus
}
#endif

#endif /* BATON_FUTURE_H */
