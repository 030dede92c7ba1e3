/*
 * baton/stream.h - Elixir's Task.async_stream: a bounded-concurrency map.
 *
 * Overview
 * ========
 * Runs fn(inputs[i]) for every input on a pool, at most max_concurrency at
 * a time, and hands each outcome back through baton_stream_next, in input
 * order (default) or as they finish.  Each element carries its index and
 * input with either a value or an exit reason (Elixir's {:ok, v} /
 * {:exit, reason}, with :zip_input_on_exit always on).
 *
 *	baton_stream *s;
 *	struct baton_stream_item it;
 *	baton_task_async_stream(&s, inputs, n, fn, NULL);
 *	while (baton_stream_next(s, &it) == 0)
 *		it.status == 0 ? use(it.value) : report(it.index, &it.reason);
 *	baton_stream_destroy(s);
 *
 * Each item has its own timeout (default BATON_DEFAULT_TIMEOUT), counted
 * from when it starts running.  When one expires, on_timeout decides:
 * BATON_STREAM_EXIT fails the whole stream (Elixir's default :exit: the
 * remaining items are asked to stop, baton_stream_next returns -ETIMEDOUT
 * and then -EPIPE), BATON_STREAM_KILL_TASK reports that item as
 * BATON_EXITED with kind BATON_EXIT_TIMEOUT and goes on.
 *
 * A stream is lazy, as Elixir's: creating it starts nothing.  It runs
 * where it is read: the first thread to call baton_stream_next becomes
 * its owner (it may be another thread than the creator), and only then
 * are items started.  Like a strict task, it then belongs to that thread.
 * If the owner exits, its items are stopped and released with its other
 * tasks, and the stream has no owner: next returns -EPERM to every thread
 * and any thread may destroy it.  Halting early (destroy before the end)
 * stops the running items and frees their results.
 *
 * Links: as Elixir's, the items are linked to the owner.  An item that
 * fails is reported in the stream (status BATON_EXITED) and, if the
 * owner traps exits (baton/link.h), also sent to its exit notices, as
 * Elixir's linked task's {:EXIT, pid, reason}; an item the stream
 * abandoned (a timeout, destroy) sends none.  Under a supervisor
 * (baton_supervisor_async_stream and _nolink, baton/supervisor.h), the
 * items are that supervisor's children.
 *
 * Helping: when the owner waits without limit (timeout BATON_INFINITY) or
 * is itself a pool worker, it runs a still-queued item on its own thread
 * instead of sleeping, so a stream read inside a task on a one-worker pool
 * cannot deadlock; an item run that way cannot be timed out.
 *
 * The pool must outlive the stream: items are submitted as next refills
 * the window.
 */
#ifndef BATON_STREAM_H
#define BATON_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"
#include "pool.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct baton_stream baton_stream;

enum baton_stream_on_timeout {
	BATON_STREAM_EXIT = 0,    /* fail the stream (Elixir's :exit) */
	BATON_STREAM_KILL_TASK    /* report the item as timed out, go on */
};

/*
 * Options (see BATON_STREAM_OPTS_INIT; as every baton opts struct, a
 * field set to 0 means 0, and a NULL opts pointer means the INIT values).
 */
struct baton_stream_opts {
	baton_pool *pool;              /* NULL: the default pool */
	unsigned int max_concurrency;  /* >= 1; BATON_SCHEDULERS: one per
					  online CPU (Elixir's default) */
	bool unordered;                /* true: as they finish */
	int timeout_ms;                /* per item; 0 times out at once;
					  BATON_INFINITY: none */
	enum baton_stream_on_timeout on_timeout;
	baton_destroy_fn destroy;      /* frees values nobody takes */
};

/* max_concurrency: one per online CPU, Elixir's System.schedulers_online. */
#define BATON_SCHEDULERS 0xffffffffu

/*
 * Elixir's defaults: the default pool, max_concurrency = schedulers,
 * ordered, 5000 ms per item, on_timeout :exit, no destructor.
 */
#define BATON_STREAM_OPTS_INIT                                               \
	{ NULL, BATON_SCHEDULERS, false, BATON_DEFAULT_TIMEOUT,              \
	  BATON_STREAM_EXIT, NULL }

/* One element of the stream. */
struct baton_stream_item {
	size_t index;   /* position in inputs */
	void *input;    /* inputs[index] */
	int status;     /* 0: value; BATON_EXITED: reason */
	void *value;    /* status 0: handed over to the caller */
	/*
	 * status BATON_EXITED: filled (the body's text, or an item timed
	 * out: TIMEOUT, ETIMEDOUT, when on_timeout is KILL_TASK or when
	 * next returns -ETIMEDOUT with the item that timed out); status 0:
	 * cleared (kind NORMAL, text ""), the text buffer not zeroed.
	 */
	struct baton_exit_reason reason;
};

/*
 * Starts the stream over inputs[0..n) (the array is copied; the inputs
 * themselves are passed to fn untouched).  opts NULL: the INIT defaults.
 *
 * Pointers: sets *out to NULL first, then to a stream the caller may hand
 * to the thread that reads it.
 * Blocking: no; nothing runs yet.  Errors: -EINVAL (max_concurrency 0, a
 * bad timeout or on_timeout, ...), -ENOMEM.  A pool shut down shows up
 * as items reported BATON_EXITED/SHUTDOWN (EPIPE) by next.
 * Thread safety: any thread.
 * Ordering: the call happens-before every fn call.
 */
BATON_API int baton_task_async_stream(baton_stream **out,
				      void *const *inputs, size_t n,
				      baton_task_fn fn,
				      const struct baton_stream_opts *opts);

/*
 * An input generator: sets *input and returns true, or returns false
 * when there are no more inputs (it is then not called again).  Called on
 * the owner thread, inside baton_stream_next, only when an item can start.
 */
typedef bool (*baton_stream_gen_fn)(void *ctx, void **input);

/*
 * As baton_task_async_stream, but the inputs come from gen(ctx), asked
 * for one at a time, on demand, as the window has room: the input may be
 * endless, and the reader stops it by destroying the stream.  The
 * stream's memory grows by a few words per input read.
 *
 * Errors: -EINVAL (gen or fn NULL, bad options), -ENOMEM.
 * Thread safety: any thread; gen runs on the owner thread.
 * Ordering: each gen call happens-before the fn call on its input.
 */
BATON_API int baton_task_async_stream_gen(baton_stream **out,
					  baton_stream_gen_fn gen, void *ctx,
					  baton_task_fn fn,
					  const struct baton_stream_opts *opts);

/*
 * Waits for the next element and fills *item.  Returns 0, -EPIPE once
 * every element was returned (or after a failure was reported),
 * -ETIMEDOUT when an item's timeout expired with BATON_STREAM_EXIT (the
 * stream is then failed: item->index and item->input tell which one),
 * -EAGAIN when a supervised stream's supervisor was at max_children as
 * an item had to start (the stream is then failed the same way; see
 * baton_supervisor_async_stream),
 * -EDEADLK when an item the owner runs itself calls back into its own
 * stream, -ENOMEM when starting the next item failed with nothing in
 * flight (retryable).  A timeout_ms of 0 times every item out as soon
 * as it starts (Elixir's timeout: 0), unless it is already done.
 *
 * Pointers: borrows s; hands item->value over on status 0.
 * Blocking: until the next element is ready.
 * Errors: -EINVAL, -EPERM (not the owner), -ENOMEM (the first call could
 * not bind its thread as the owner; retryable).
 * Thread safety: the owner thread only; the first call makes its thread
 * the owner.
 * Ordering: fn's return happens-before its element is returned.
 */
BATON_API int baton_stream_next(baton_stream *s,
				struct baton_stream_item *item);

/*
 * Stops the stream: items not started never run, running ones are asked
 * to stop and abandoned, values nobody took are freed through the
 * destructor.  NULL is a no-op.
 *
 * Pointers: consumes s.  Blocking: no.
 * Thread safety: the owner thread only, or any thread while nobody has
 * read it (another thread's call is ignored and leaks nothing but the
 * stream itself).
 */
BATON_API void baton_stream_destroy(baton_stream *s);

#ifdef __cplusplus
}
#endif

#endif /* BATON_STREAM_H */
