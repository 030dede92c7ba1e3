/*
 * baton/link.h - Elixir's links, in the form C allows: linked
 * fire-and-forget tasks, and exit notices a thread can wait on.
 *
 * Overview
 * ========
 * In Elixir a task started with async or start_link is linked to its
 * starter: if the starter dies, the task dies; if the task crashes, the
 * starter dies too, unless it traps exits (Process.flag(:trap_exit,
 * true)), and then the crash arrives as an {:EXIT, pid, reason} message.
 * C cannot kill a thread, so baton keeps the first direction and gives
 * every thread the trap_exit form of the second:
 *
 *	baton_trap_exits(true);                     this thread traps exits
 *	baton_task_start_link(watchdog, NULL, NULL);
 *	baton_task_async(&t, work, arg);
 *	struct baton_exit_notice n;
 *	while (baton_exit_notice_next(0, &n) == 0)  poll, or wait with a timeout
 *		log_failure(n.task.function, &n.reason);
 *
 * - Starter exits: a start_link task is asked to stop (baton_should_stop)
 *   when the thread that started it exits, exactly like an async task
 *   its owner never awaited; a start_link task still queued never runs.
 * - Task fails: a linked task (baton_task_async, baton_task_start_link,
 *   baton_supervisor_async, and the items of baton_task_async_stream and
 *   baton_supervisor_async_stream; not async_nolink, start, start_child
 *   or async_stream_nolink) that a trapping thread started sends that
 *   thread an exit notice as soon as it ends with a reason other than
 *   NORMAL, whether or not the thread ever awaits it (a stream item is
 *   started by the thread reading the stream, and its notice is queued
 *   before the stream hands its element out).  A task the thread has
 *   consumed (awaited, ignored, shut down; a stream item handed out or
 *   abandoned) is no longer linked: as Task.ignore unlinks, it sends
 *   none.
 *   Threads that do not trap exits get no notices: the failure is seen by
 *   await, as before (Elixir would have crashed the starter instead).
 * - The mailbox belongs to its thread; notices left in it when the thread
 *   exits are freed.  Only tasks started while the thread traps exits
 *   send notices.
 */
#ifndef BATON_LINK_H
#define BATON_LINK_H

#include <stdbool.h>

#include "common.h"
#include "pool.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One exit notice: Elixir's {:EXIT, pid, reason}. */
struct baton_exit_notice {
	struct baton_task_info task;     /* the task, as it ended */
	struct baton_exit_reason reason; /* why (never kind NORMAL), with
					    the body's text: a copy that
					    outlives the task */
};

/*
 * Turns trapping exits on or off for the calling thread.  Tasks linked to
 * it and started while it traps send it exit notices.
 * Returns 0, or -ENOMEM (the mailbox could not be made; nothing changed).
 * Thread safety: the calling thread's own setting.  Ordering: none.
 */
BATON_API int baton_trap_exits(bool on);

/*
 * Takes the oldest exit notice of the calling thread, waiting up to
 * timeout_ms (0 polls; BATON_INFINITY) for one.  Returns 0 and fills
 * *out, -ETIMEDOUT (none came), -EINVAL (out NULL, bad timeout) or
 * -ENOENT (the thread does not trap exits and has no notices left).
 * Blocking: up to timeout_ms.
 * Thread safety: the calling thread's own mailbox.
 * Ordering: the task's end happens-before its notice is returned.
 */
BATON_API int baton_exit_notice_next(int timeout_ms,
				     struct baton_exit_notice *out);

/*
 * Elixir's Task.start_link: fire-and-forget as baton_task_start (no
 * result; a returned value goes to opts->destroy), but linked to the
 * calling thread: asked to stop when that thread exits, and reporting its
 * failure as an exit notice if the thread traps exits.
 * Errors: -EINVAL, -ENOMEM, -EPIPE; on failure fn never runs.
 * Thread safety: any thread.  Ordering: the call happens-before fn.
 */
BATON_API int baton_task_start_link(baton_task_fn fn, void *arg,
				    const struct baton_task_opts *opts);

#ifdef __cplusplus
}
#endif

#endif /* BATON_LINK_H */
