/*
 * baton/supervisor.h - Elixir's Task.Supervisor: a group of tasks whose
 * failures are reported rather than propagated.
 *
 * Overview
 * ========
 *	baton_supervisor *sup;
 *	struct baton_supervisor_opts o = BATON_SUPERVISOR_OPTS_INIT;
 *	o.max_children = 100;
 *	o.on_failure = log_it;
 *	baton_supervisor_create(&sup, &o);
 *	baton_supervisor_async_nolink(sup, &t, fn, arg, NULL);
 *	baton_supervisor_start_child(sup, fn, arg, NULL);
 *	baton_supervisor_async_stream_nolink(sup, &s, inputs, n, fn, NULL);
 *	baton_supervisor_count(sup);  baton_supervisor_children(sup, ...);
 *	baton_supervisor_shutdown(sup, 5000);
 *	baton_supervisor_destroy(sup);
 *
 * A child that exits with a reason is reported to on_failure, on the
 * thread that completed it (the worker that ran it, or the thread that
 * stopped it before it ran), as soon as it ends: failures reach whoever
 * supervises the work promptly, not when (or if) someone awaits it.  A
 * nolink task is still a strict task: its starter owns it and may await
 * it, but it is not linked to that thread: it is not stopped when the
 * thread exits.
 *
 * As in Elixir, a child's reply can reach its awaiter a moment before the
 * supervisor has seen the child end: right after an await, count() may
 * still include it (and a start at max_children may still get -EAGAIN).
 *
 * Restarts: start_child_opts takes Elixir's restart values.  A temporary
 * child (the default) is never restarted; a transient one is restarted
 * when it exits with a reason other than NORMAL or SHUTDOWN; a permanent
 * one whenever it ends, value or not.  A restart runs fn(arg) again, as a
 * new child, from the thread that completed the old one.  More than
 * max_restarts restarts within max_seconds (Elixir's restart intensity,
 * 3 in 5 s) and the supervisor gives up as Elixir's exits: it shuts down
 * (starts get -EPIPE, every child is asked to stop, queued ones never
 * run) and baton_supervisor_alive() turns false.
 *
 * Where C differs from Elixir.  Elixir kills children; a thread cannot be
 * killed, so baton abandons them: the child's result is settled at once
 * with the reason Elixir's awaiter would see (SHUTDOWN for
 * terminate_child, KILLED for brutal or timed-out shutdown), its owner's
 * await returns that, on_failure hears it, the child leaves the group,
 * and the body, asked to stop (baton_should_stop), runs on until it
 * returns; its value then goes to the destructor.  A child still queued
 * never runs; it reports SHUTDOWN ("stopped before it ran") even for a
 * brutal shutdown, since there is no process to kill yet.
 *
 * A task's own opts->pool wins over the supervisor's pool.  Calling
 * shutdown or destroy from a child or from on_failure deadlocks (it waits
 * for itself); do not.
 */
#ifndef BATON_SUPERVISOR_H
#define BATON_SUPERVISOR_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"
#include "pool.h"
#include "stream.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct baton_supervisor baton_supervisor;

/*
 * Called when a child exits with a reason other than normal.  reason is
 * lent for the call (copy *reason to keep it: the copy, text included,
 * is a plain value).  A child that times out in its awaiter is not
 * reported by that: only its own end is.
 */
typedef void (*baton_failure_fn)(const struct baton_task_info *child,
				 const struct baton_exit_reason *reason,
				 void *ctx);

/*
 * Options (see BATON_SUPERVISOR_OPTS_INIT; as every baton opts struct, a
 * field set to 0 means 0, and a NULL opts pointer means the INIT values).
 */
struct baton_supervisor_opts {
	baton_pool *pool;        /* NULL: the default pool */
	size_t max_children;     /* BATON_NO_LIMIT (Elixir's :infinity);
				    0 refuses every child */
	baton_failure_fn on_failure; /* NULL: none */
	void *ctx;
	unsigned int max_restarts; /* restart intensity: at most this many */
	unsigned int max_seconds;  /* ... restarts within this many seconds */
};

/*
 * Elixir's defaults: the default pool, max_children :infinity, no hook,
 * max_restarts 3, max_seconds 5.
 */
#define BATON_SUPERVISOR_OPTS_INIT { NULL, BATON_NO_LIMIT, NULL, NULL, 3, 5 }

/* Elixir's restart values for start_child. */
enum baton_restart {
	BATON_RESTART_TEMPORARY = 0, /* never restarted (Task.Supervisor's) */
	BATON_RESTART_TRANSIENT,     /* restarted after an abnormal exit */
	BATON_RESTART_PERMANENT      /* restarted whenever it ends */
};

/* start_child_opts' options (see BATON_CHILD_OPTS_INIT). */
struct baton_child_opts {
	baton_pool *pool;          /* NULL: the supervisor's pool */
	const char *label;         /* static string, for introspection */
	baton_destroy_fn destroy;  /* frees a value the child returns */
	enum baton_restart restart;
};

/* The defaults: the supervisor's pool, no label, temporary. */
#define BATON_CHILD_OPTS_INIT { NULL, NULL, NULL, BATON_RESTART_TEMPORARY }

/*
 * Creates a supervisor (opts NULL: the INIT defaults).  Pointers: sets
 * *out to NULL first, then to a new
 * supervisor the caller owns.  Errors: -EINVAL, -ENOMEM.
 * Thread safety: any thread.
 */
BATON_API int baton_supervisor_create(baton_supervisor **out,
				      const struct baton_supervisor_opts *opts);

/*
 * Starts a supervised strict task owned by the caller but not linked to
 * it (Elixir's async_nolink): the caller may await it; its failure is also
 * reported to on_failure.  Errors: -EINVAL, -ENOMEM, -EAGAIN (at
 * max_children), -EPIPE (shut down).  On failure fn never runs.
 * Thread safety: any thread.  Ordering: the call happens-before fn.
 */
BATON_API int baton_supervisor_async_nolink(baton_supervisor *sup,
					    baton_task *out, baton_task_fn fn,
					    void *arg,
					    const struct baton_task_opts *opts);

/*
 * Elixir's Task.Supervisor.async: as async_nolink, but linked to the
 * caller like baton_task_async: the task is stopped when the caller
 * thread exits, and its failure is also sent to the caller's exit notices
 * (baton/link.h).  Errors as async_nolink.
 * Thread safety: any thread.  Ordering: the call happens-before fn.
 */
BATON_API int baton_supervisor_async(baton_supervisor *sup, baton_task *out,
				     baton_task_fn fn, void *arg,
				     const struct baton_task_opts *opts);

/*
 * Starts a supervised fire-and-forget child (Elixir's start_child); a
 * value it returns goes to opts->destroy.  Errors as async_nolink.
 * Thread safety: any thread.
 */
BATON_API int baton_supervisor_start_child(baton_supervisor *sup,
					   baton_task_fn fn, void *arg,
					   const struct baton_task_opts *opts);

/*
 * As start_child, with Elixir's restart value (opts NULL: the INIT
 * defaults).  Errors as async_nolink, and -EINVAL for an unknown restart.
 * Thread safety: any thread.
 */
BATON_API int baton_supervisor_start_child_opts(
    baton_supervisor *sup, baton_task_fn fn, void *arg,
    const struct baton_child_opts *opts);

/*
 * Elixir's Task.Supervisor.async_stream: baton_task_async_stream (or
 * _gen, for inputs from a generator) whose items run as children of sup.
 * The stream behaves as baton/stream.h says (lazy, owned by the thread
 * that reads it, ordered or not, per-item timeouts, destroy halts it),
 * and each item is a temporary child: counted by count and children,
 * reported to on_failure, stopped by shutdown (its element then reports
 * that exit: SHUTDOWN, or KILLED for brutal or timed-out shutdown).
 * Items run on opts->pool if set, else on the supervisor's pool.
 *
 * Linked, as Task.Supervisor.async_stream: a failed item is reported in
 * the stream (status BATON_EXITED, Elixir's {:exit, reason} for a
 * caller that traps exits) and also sent to the reading thread's exit
 * notices if that thread traps exits (baton/link.h); items are stopped
 * when the reading thread exits.
 *
 * max_children: an item that cannot start because the supervisor is at
 * max_children fails the whole stream, as Elixir's stream exits:
 * baton_stream_next returns -EAGAIN with item->index naming it (status
 * BATON_EXITED, reason ERROR/EAGAIN "supervisor at max_children"), the
 * running items are stopped and leave the group, and every later call
 * returns -EPIPE.  Keep max_concurrency at most max_children less the
 * group's other children.  An item abandoned by the stream (a
 * BATON_STREAM_KILL_TASK timeout, a failure, destroy) leaves the group at
 * once, settled KILLED, as Elixir kills it; its body is asked to stop.
 * A supervisor shut down (or given up) refuses later items: they are
 * reported as by a shut-down pool (BATON_EXITED/SHUTDOWN, EPIPE).
 *
 * Pointers: borrows sup (the stream keeps the supervisor's memory alive
 * until it is destroyed), inputs (copied) and opts; sets *out to NULL
 * first, then to the new stream.
 * Blocking: no; nothing starts before the first baton_stream_next.
 * Errors: -EINVAL (sup NULL, and as baton_task_async_stream), -ENOMEM.
 * Thread safety: any thread; the stream then belongs to its reader.
 * Ordering: the call happens-before every fn call; an item's end
 * happens-before its on_failure call, which happens-before the stream
 * hands its element out.
 */
BATON_API int baton_supervisor_async_stream(
    baton_supervisor *sup, baton_stream **out, void *const *inputs, size_t n,
    baton_task_fn fn, const struct baton_stream_opts *opts);
BATON_API int baton_supervisor_async_stream_gen(
    baton_supervisor *sup, baton_stream **out, baton_stream_gen_fn gen,
    void *ctx, baton_task_fn fn, const struct baton_stream_opts *opts);

/*
 * Elixir's Task.Supervisor.async_stream_nolink: as
 * baton_supervisor_async_stream, but the items are not linked to the
 * reading thread: a failed item is reported in the stream only (status
 * BATON_EXITED with its reason, Elixir's {:exit, reason}), never sent to
 * the reader's exit notices.  As Elixir's stream monitor does, the
 * items are still stopped when the reading thread exits or the stream
 * is destroyed.  max_children, pools, errors and ordering as
 * baton_supervisor_async_stream.
 * Thread safety: any thread; the stream then belongs to its reader.
 */
BATON_API int baton_supervisor_async_stream_nolink(
    baton_supervisor *sup, baton_stream **out, void *const *inputs, size_t n,
    baton_task_fn fn, const struct baton_stream_opts *opts);
BATON_API int baton_supervisor_async_stream_nolink_gen(
    baton_supervisor *sup, baton_stream **out, baton_stream_gen_fn gen,
    void *ctx, baton_task_fn fn, const struct baton_stream_opts *opts);

/* Children not yet finished (queued or running).  Any thread. */
BATON_API size_t baton_supervisor_count(baton_supervisor *sup);

/*
 * Lists up to n unfinished children.  Returns how many were written or
 * -EINVAL.  Any thread; a relaxed snapshot.
 */
BATON_API ptrdiff_t baton_supervisor_children(baton_supervisor *sup,
					      struct baton_task_info *infos,
					      size_t n);

/*
 * Elixir's terminate_child: ends one child (named by a handle from
 * async/async_nolink, or a copy of it) at once.  It has left the group
 * (count, children) when the call returns, is not restarted, and its
 * owner's await reports BATON_EXITED/SHUTDOWN, unless its reply came
 * first.  A child not started yet never runs; a running body is asked to
 * stop and abandoned (see the overview).  Does not consume the handle:
 * its owner still awaits it.  Errors: -EINVAL, -ESTALE, -ESRCH (not a
 * child of sup, or already ended).  Blocking: only while another thread
 * that completed the child at the same moment (its worker, its body's
 * end, a shutdown) finishes that completion, on_failure included.
 * Thread safety: any thread.
 * Ordering: the request happens-before baton_should_stop() sees it.
 */
BATON_API int baton_supervisor_terminate_child(baton_supervisor *sup,
					       const baton_task *child);

/*
 * Shuts the group down: no new children (-EPIPE), every child is asked to
 * stop, and the call waits up to timeout_ms for all of them to end.
 * Returns 0, or -ETIMEDOUT when children were still running at the
 * timeout: Elixir kills those, so baton settles them as KILLED (their
 * owners' awaits and on_failure see it) and abandons their bodies, whose
 * results are freed when they end.  Blocking: up to timeout_ms.
 * Thread safety: any thread but a child or on_failure.
 * Ordering: a 0 return happens-after every child's body and its
 * on_failure call.
 */
BATON_API int baton_supervisor_shutdown(baton_supervisor *sup,
					int timeout_ms);

/*
 * Shuts the group down as Elixir's shutdown: :brutal_kill: without
 * waiting, every running child is settled as KILLED and abandoned (queued
 * ones never run: SHUTDOWN).  Returns 0 or -EINVAL.
 * Thread safety: any thread but a child or on_failure.
 */
BATON_API int baton_supervisor_shutdown_brutal(baton_supervisor *sup);

/*
 * Whether the supervisor still takes children: false once it was shut
 * down, or gave up after too many restarts.  Any thread; a snapshot.
 */
BATON_API bool baton_supervisor_alive(baton_supervisor *sup);

/*
 * Shuts down (waiting without limit) and frees the supervisor.  NULL is a
 * no-op.  Pointers: consumes sup.  Thread safety: any thread, not a child.
 */
BATON_API void baton_supervisor_destroy(baton_supervisor *sup);

#ifdef __cplusplus
}
#endif

#endif /* BATON_SUPERVISOR_H */
