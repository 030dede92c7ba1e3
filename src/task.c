/*
 * task.c - strict tasks: the owner-only face of the result cell.
 *
 * Design notes
 * ============
 * A baton_task is {cell, generation}.  Every call first resolves it: a
 * NULL cell, a generation that no longer matches, or a cell whose handle
 * was consumed (`consumed`: the cell itself may live on while a worker
 * holds it) is -ESTALE (cells are type-stable, so reading a stale one is
 * safe).  Calls that only the
 * owner may make then compare the cell's owner with the caller's thread
 * record: -EDEADLK if the caller is running that very task, -EPERM if it
 * is not the owner.  These checks happen before anything is changed, so a
 * refused call leaves the task exactly as it was.
 *
 * Consuming a task (await, shutdown, ignore, a timed-out await) removes it
 * from its owner's list, zeroes the caller's handle and drops the handle's
 * reference.  If the body is still running, its reference keeps the cell
 * alive, and the last unref frees the value through its destructor: a
 * result nobody takes is freed exactly once, never leaked.
 *
 * Stopping is cooperative (CELL_STOP, read by baton_should_stop) plus
 * abandonment: a task asked to stop before it started never runs its body.
 *
 * Outcomes (baton__task_outcome): a body that called baton_exit(NORMAL)
 * (CELL_EXITED) settled like a return, value and all; the strict face
 * reports it as BATON_EXITED/NORMAL and never hands that value over, so
 * the last unref frees it.
 *
 * Shutdown (Elixir's reply-or-nil): whether a completion came before the
 * stop is read from the flags the stop request replaced.  A body running
 * then (CELL_IN_BODY) completes after the stop: its value is no reply
 * (BATON_NOREPLY, value freed).  A cell already DONE, or whose body had
 * already returned (RUNNING without IN_BODY: cell_run clears IN_BODY with
 * one RMW before it settles), replied first: its value is handed over.
 * A cell claimed but not yet in its body sees the stop when it announces
 * the body, and settles as SHUTDOWN: nil either way.
 */
#include <string.h>

#include "cell.h"
#include "task_internal.h"

int
baton__task_resolve(const baton_task *task, struct baton__cell **out)
{
	struct baton__cell *cell;

	if (task == NULL)
		return -EINVAL;
	cell = task->cell_;
	if (cell == NULL || !(task->gen_ & 1))
		return -ESTALE;
	/* acquire: pairs with the release of the generation in alloc/free. */
	if (atomic_load_explicit(&cell->gen, memory_order_acquire) !=
	    task->gen_)
		return -ESTALE;
	/*
	 * The cell may outlive its handle (a worker's reference): a consumed
	 * handle's copies are stale from the moment it was consumed.
	 * relaxed: the flag is set by the owner, before anything it frees.
	 */
	if (atomic_load_explicit(&cell->consumed, memory_order_relaxed))
		return -ESTALE;
	*out = cell;
	return 0;
}

int
baton__task_resolve_owned(const baton_task *task, struct baton__cell **out)
{
	struct baton__thread *self;
	struct baton__cell *cell;
	int r;

	r = baton__task_resolve(task, &cell);
	if (r != 0)
		return r;
	self = baton__thread_self();
	/* Awaiting a body running on this very thread (maybe further out). */
	for (struct baton__cell *c = baton__cell_running(); c != NULL;
	     c = c->outer) {
		if (c == cell)
			return -EDEADLK;
	}
	/* relaxed: only ever equal to our own record if we set it. */
	if (atomic_load_explicit(&cell->owner, memory_order_relaxed) != self)
		return -EPERM;
	*out = cell;
	return 0;
}

void
baton__task_consume(baton_task *task, struct baton__cell *cell)
{
	/* relaxed: only makes later resolutions of copies fail. */
	atomic_store_explicit(&cell->consumed, true, memory_order_relaxed);
	baton__disown(cell);
	memset(task, 0, sizeof(*task));
	baton__cell_unref(cell);
}

int
baton__task_prepare(struct baton__cell **out, baton_pool **pool,
		    baton_task_fn fn, void *arg,
		    const struct baton_task_opts *opts, unsigned int flags)
{
	struct baton__cell *cell;

	*out = NULL;
	*pool = opts != NULL ? opts->pool : NULL;
	if (fn == NULL)
		return -EINVAL;
	if (*pool == NULL && (*pool = baton_pool_default()) == NULL)
		return -ENOMEM;
	cell = baton__cell_alloc_body(fn, arg,
				      opts != NULL ? opts->label : NULL,
				      opts != NULL ? opts->destroy : NULL,
				      flags);
	if (cell == NULL)
		return -ENOMEM;
	baton__cell_set_callers(cell, baton__thread_self()->tid);
	*out = cell;
	return 0;
}

int
baton__task_submit(baton_pool *pool, struct baton__cell *cell)
{
	int r = baton__pool_submit(pool, cell);

	if (r != 0) {
		/* Never queued, never run: nothing of the caller's is kept. */
		baton__disown(cell);
		baton__cell_unref(cell);
	}
	return r;
}

int
baton__spawn_cell(struct baton__cell **out, baton_task_fn fn, void *arg,
		  const struct baton_task_opts *opts, bool owned,
		  unsigned int flags)
{
	struct baton__links *links = NULL;
	struct baton__cell *cell;
	baton_pool *pool;
	int r;

	*out = NULL;
	r = baton__task_prepare(&cell, &pool, fn, arg, opts, flags);
	if (r != 0)
		return r;
	if (owned) {
		baton__own(baton__thread_self(), cell);
		/* Linked to a thread that traps exits: tell it of a failure. */
		if ((links = baton__links_trapping()) != NULL) {
			cell->on_done = baton__links_task_done;
			cell->on_done_ctx = links;
		}
	}
	r = baton__task_submit(pool, cell);
	if (r != 0) {
		baton__links_unref(links);
		return r;
	}
	*out = cell;
	return 0;
}

static int
spawn(baton_task *out, baton_task_fn fn, void *arg,
      const struct baton_task_opts *opts, bool owned, unsigned int flags)
{
	struct baton__cell *cell;
	int r;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (owned && out == NULL)
		return -EINVAL;
	r = baton__spawn_cell(&cell, fn, arg, opts, owned, flags);
	if (r != 0)
		return r;
	if (!owned) {
		baton__cell_unref(cell);
		return 0;
	}
	out->cell_ = cell;
	out->gen_ = atomic_load_explicit(&cell->gen, memory_order_relaxed);
	return 0;
}

int
baton__task_spawn(baton_task *out, baton_task_fn fn, void *arg,
		  const struct baton_task_opts *opts, unsigned int flags)
{
	return spawn(out, fn, arg, opts, true, flags);
}

int
baton_task_async(baton_task *out, baton_task_fn fn, void *arg)
{
	return spawn(out, fn, arg, NULL, true, 0);
}

int
baton_task_async_opts(baton_task *out, baton_task_fn fn, void *arg,
		      const struct baton_task_opts *opts)
{
	return spawn(out, fn, arg, opts, true, 0);
}

int
baton_task_start(baton_task_fn fn, void *arg,
		 const struct baton_task_opts *opts)
{
	return spawn(NULL, fn, arg, opts, false, 0);
}

int
baton_task_completed(baton_task *out, void *value, baton_destroy_fn destroy)
{
	struct baton__cell *cell;

	if (out == NULL)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	cell = baton__cell_alloc_done(value, destroy);
	if (cell == NULL)
		return -ENOMEM;
	baton__own(baton__thread_self(), cell);
	out->cell_ = cell;
	out->gen_ = atomic_load_explicit(&cell->gen, memory_order_relaxed);
	return 0;
}

int
baton__task_outcome(struct baton__cell *cell, void **value,
		    struct baton_exit_reason *reason)
{
	return baton__cell_outcome(cell, value, reason);
}

bool
baton__task_failed(struct baton__cell *cell)
{
	return baton__cell_failed(cell);
}

/* Waits for the cell under a timeout; 0 once DONE, else -ETIMEDOUT. */
int
baton__task_wait(struct baton__cell *cell, int timeout_ms)
{
	struct baton__deadline deadline;

	if (baton__cell_published(cell))
		return 0;
	baton__deadline_init(&deadline, timeout_ms);
	return baton__cell_wait(cell, &deadline, true);
}

int
baton_task_await(baton_task *task, int timeout_ms, void **value,
		 struct baton_exit_reason *reason)
{
	struct baton__cell *cell;
	int r;

	if ((r = baton__task_resolve_owned(task, &cell)) != 0)
		return r;
	if (baton__timeout_check(timeout_ms) != 0)
		return -EINVAL;
	if (baton__task_wait(cell, timeout_ms) != 0) {
		/* Elixir's linked task dies with its caller: ask it to stop. */
		baton__cell_request_stop(cell);
		baton__task_consume(task, cell);
		return -ETIMEDOUT;
	}
	r = baton__task_outcome(cell, value, reason);
	baton__task_consume(task, cell);
	return r;
}

int
baton_task_yield(baton_task *task, int timeout_ms, void **value,
		 struct baton_exit_reason *reason)
{
	struct baton__cell *cell;
	int r;

	if ((r = baton__task_resolve_owned(task, &cell)) != 0)
		return r;
	if (baton__timeout_check(timeout_ms) != 0)
		return -EINVAL;
	if (baton__task_wait(cell, timeout_ms) != 0)
		return -ETIMEDOUT; /* still running, still the caller's */
	r = baton__task_outcome(cell, value, reason);
	baton__task_consume(task, cell);
	return r;
}

static bool
is_done(struct baton__cell *cell)
{
	/* acquire: pairs with the completion's release store of DONE. */
	return atomic_load_explicit(&cell->state, memory_order_acquire) ==
	    BATON_TASK_DONE;
}

/*
 * What shutdown reports for a DONE cell.  replied: it completed before
 * the stop was asked, so a value is a reply; after it, a value is nil.
 * SHUTDOWN (including "stopped before it ran") is nil whenever it came.
 */
static int
shutdown_outcome(struct baton__cell *cell, bool replied, void **value,
		 struct baton_exit_reason *reason)
{
	struct baton_exit_reason why;
	int r;

	if (!replied && !baton__task_failed(cell))
		return BATON_NOREPLY; /* not taken: the last unref frees it */
	r = baton__task_outcome(cell, value, &why);
	if (r == BATON_EXITED) {
		if (why.kind == BATON_EXIT_SHUTDOWN)
			return BATON_NOREPLY;
		if (reason != NULL)
			*reason = why;
	}
	return r;
}

static const struct baton__reason killed_at_timeout = BATON__REASON(
    BATON_EXIT_KILLED, ETIMEDOUT, "killed at shutdown's timeout");

int
baton__task_shutdown(struct baton__cell *cell, baton_task *task,
		     int timeout_ms, bool brutal, void **value,
		     struct baton_exit_reason *reason)
{
	bool replied = is_done(cell);
	int r;

	if (!replied) {
		unsigned int old = baton__cell_stop(cell, 0);

		/* No body running at the stop: it returned, or never will. */
		replied = !(old & CELL_IN_BODY) &&
		    atomic_load_explicit(&cell->state, memory_order_relaxed) !=
			BATON_TASK_QUEUED;
		/* A cell still queued is claimed here and settles SHUTDOWN. */
		baton__cell_run(cell);
		if (baton__task_wait(cell, brutal ? 0 : timeout_ms) != 0) {
			/* Elixir kills it: nil if brutal, else {:exit, :killed}. */
			baton__task_consume(task, cell);
			if (brutal)
				return BATON_NOREPLY;
			if (reason != NULL)
				baton__reason_export(reason,
						     &killed_at_timeout);
			return BATON_EXITED;
		}
	}
	r = shutdown_outcome(cell, replied, value, reason);
	baton__task_consume(task, cell);
	return r;
}

int
baton_task_shutdown(baton_task *task, int timeout_ms, void **value,
		    struct baton_exit_reason *reason)
{
	struct baton__cell *cell;
	int r;

	if ((r = baton__task_resolve_owned(task, &cell)) != 0)
		return r;
	if (baton__timeout_check(timeout_ms) != 0)
		return -EINVAL;
	return baton__task_shutdown(cell, task, timeout_ms, false, value,
				    reason);
}

int
baton_task_shutdown_brutal(baton_task *task, void **value,
			   struct baton_exit_reason *reason)
{
	struct baton__cell *cell;
	int r;

	if ((r = baton__task_resolve_owned(task, &cell)) != 0)
		return r;
	return baton__task_shutdown(cell, task, 0, true, value, reason);
}

int
baton_task_ignore(baton_task *task, void **value,
		  struct baton_exit_reason *reason)
{
	struct baton__cell *cell;
	int r;

	if ((r = baton__task_resolve_owned(task, &cell)) != 0)
		return r;
	/* Elixir hands a reply already in the mailbox back. */
	r = is_done(cell) ? baton__task_outcome(cell, value, reason)
			  : BATON_NOREPLY;
	baton__task_consume(task, cell);
	return r;
}

int
baton_task_info(const baton_task *task, struct baton_task_info *info)
{
	struct baton__cell *cell;
	int r;

	if (info == NULL)
		return -EINVAL;
	if ((r = baton__task_resolve(task, &cell)) != 0)
		return r;
	baton__cell_info(cell, info);
	return 0;
}
