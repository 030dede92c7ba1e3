/*
 * task_many.c - await_many and yield_many: many strict tasks, one deadline.
 *
 * Design notes
 * ============
 * Both calls check every handle first (resolvable, owned by the caller,
 * no task listed twice) and refuse the whole call, consuming nothing, if
 * one is bad: a half-consumed list would leave the caller unable to tell
 * which handles are still alive.
 *
 * Waiting: the caller waits on one pending task at a time, in input order,
 * in slices of at most SLICE_MS; between slices it looks at the others, so
 * a task that fails (await_many) or a reply that completes the `limit`
 * (yield_many) out of order is noticed within a slice, not only when its
 * turn comes.  A task that finishes within the first slice costs no
 * scanning at all, so 100,000 trivial tasks are collected in one pass.
 *
 * yield_many's limit: the replies reported are chosen from one snapshot
 * of which tasks are DONE, the first `limit` in input order; a task that
 * finishes after the snapshot, or past the limit, is left untouched (not
 * consumed), so no reply is lost and exactly `limit` are reported.
 */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "task_internal.h"

#define SLICE_MS 1

/*
 * How far ahead a pass over many cells asks for their lines: 100,000
 * cells are 19 MB, far more than a core's L2.
 */
#define PREFETCH_AHEAD 8

/* Asks for cells[i + PREFETCH_AHEAD]'s lines, if there is one. */
static inline void
prefetch_ahead(struct baton__cell **cells, size_t i, size_t n, bool write)
{
	if (i + PREFETCH_AHEAD < n)
		baton__cell_prefetch(cells[i + PREFETCH_AHEAD], write);
}

/* Resolves every handle into cells[], refusing duplicates. */
static int
resolve_all(baton_task *tasks, size_t n, struct baton__cell **cells)
{
	size_t marked = 0;
	int r = 0;

	if (n > 0 && tasks == NULL)
		return -EINVAL;
	while (marked < n) {
		if (marked + PREFETCH_AHEAD < n &&
		    tasks[marked + PREFETCH_AHEAD].cell_ != NULL)
			baton__cell_prefetch(tasks[marked + PREFETCH_AHEAD].cell_,
					     false);
		r = baton__task_resolve_owned(&tasks[marked], &cells[marked]);
		if (r == 0 && cells[marked]->listed)
			r = -EINVAL; /* listed twice */
		if (r != 0)
			break;
		cells[marked++]->listed = true;
	}
	for (size_t j = 0; j < marked; j++)
		cells[j]->listed = false;
	return r;
}

static bool
done(struct baton__cell *cell)
{
	/* acquire: pairs with the completion's release store. */
	return atomic_load_explicit(&cell->state, memory_order_acquire) ==
	    BATON_TASK_DONE;
}

static bool
failed(struct baton__cell *cell)
{
	return done(cell) && baton__task_failed(cell);
}

/* Waits on cell until DONE, the deadline, or one slice has passed. */
static int
wait_slice(struct baton__cell *cell, const struct baton__deadline *deadline)
{
	struct baton__deadline slice;

	baton__deadline_init(&slice, SLICE_MS);
	if (!deadline->infinite &&
	    (deadline->at.tv_sec < slice.at.tv_sec ||
	     (deadline->at.tv_sec == slice.at.tv_sec &&
	      deadline->at.tv_nsec < slice.at.tv_nsec)))
		slice = *deadline;
	/*
	 * Never help (run a queued body here) while the pool can run it on
	 * another thread: a long body run here would hold this wait past
	 * another task's failure or the `limit`.  Only a worker whose pool
	 * cannot grow helps, so nested waits never deadlock.
	 */
	return baton__cell_wait(cell, &slice, !baton__block_can_grow());
}

/* Stops and consumes every task: what a failed await_many leaves. */
static void
abandon_all(baton_task *tasks, struct baton__cell **cells, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!done(cells[i]))
			baton__cell_request_stop(cells[i]);
		baton__task_consume(&tasks[i], cells[i]);
	}
}

int
baton_task_await_many(baton_task *tasks, size_t n, int timeout_ms,
		      void **values, size_t *failed_at,
		      struct baton_exit_reason *reason)
{
	struct baton__cell *stack[64], **cells = stack;
	struct baton__deadline deadline;
	int r;

	if ((n > 0 && values == NULL) || baton__timeout_check(timeout_ms) != 0)
		return -EINVAL;
	if (n > 64 && (cells = baton__malloc(n * sizeof(*cells))) == NULL)
		return -ENOMEM;
	r = resolve_all(tasks, n, cells);
	if (r != 0)
		goto out;

	baton__deadline_init(&deadline, timeout_ms);
	for (size_t i = 0; i < n; i++) {
		prefetch_ahead(cells, i, n, false);
		while (!done(cells[i])) {
			if (wait_slice(cells[i], &deadline) == 0)
				break;
			for (size_t j = i + 1; j < n; j++) {
				if (failed(cells[j])) {
					i = j;
					goto fail;
				}
			}
			if (baton__deadline_expired(&deadline)) {
				if (failed_at != NULL)
					*failed_at = i;
				abandon_all(tasks, cells, n);
				r = -ETIMEDOUT;
				goto out;
			}
		}
		if (failed(cells[i])) {
fail:
			if (failed_at != NULL)
				*failed_at = i;
			if (reason != NULL)
				baton__reason_export(reason,
						     &cells[i]->reason);
			abandon_all(tasks, cells, n);
			r = BATON_EXITED;
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		prefetch_ahead(cells, i, n, true);
		baton__task_outcome(cells[i], &values[i], NULL);
		baton__task_consume(&tasks[i], cells[i]);
	}
out:
	if (cells != stack)
		free(cells);
	return r;
}

static size_t
count_done(struct baton__cell **cells, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += done(cells[i]);
	return k;
}

/* The first not-DONE cell, or n. */
static size_t
first_pending(struct baton__cell **cells, size_t n)
{
	size_t i = 0;

	while (i < n && done(cells[i]))
		i++;
	return i;
}

/* What on_timeout does to task i, which did not reply in time. */
static bool
apply_on_timeout(enum baton_on_timeout on_timeout, baton_task *task,
		 struct baton__cell *cell, struct baton_yield_result *res)
{
	switch (on_timeout) {
	case BATON_ON_TIMEOUT_NOTHING:
		break;
	case BATON_ON_TIMEOUT_IGNORE:
		baton__task_consume(task, cell);
		break;
	case BATON_ON_TIMEOUT_KILL:
		/* Elixir: shutdown(task, :brutal_kill); nil unless it replied. */
		res->status = baton__task_shutdown(cell, task, 0, true,
						   &res->value, &res->reason);
		if (res->status != BATON_NOREPLY)
			return true; /* its reply raced in after all */
		res->status = -ETIMEDOUT;
		break;
	}
	return false;
}

ptrdiff_t
baton_task_yield_many(baton_task *tasks, size_t n,
		      const struct baton_yield_many_opts *opts,
		      struct baton_yield_result *results)
{
	struct baton_yield_many_opts o = BATON_YIELD_MANY_OPTS_INIT;
	struct baton__cell *stack[64], **cells = stack;
	struct baton__deadline deadline;
	ptrdiff_t replied = 0;
	size_t want, taken = 0;
	bool *snap = NULL, snap_stack[64];
	int r;

	if (opts != NULL)
		o = *opts;
	if ((n > 0 && results == NULL) || baton__timeout_check(o.timeout_ms) ||
	    o.limit == 0 || (unsigned int)o.on_timeout > BATON_ON_TIMEOUT_KILL)
		return -EINVAL;
	snap = snap_stack;
	if (n > 64 && ((cells = baton__malloc(n * sizeof(*cells))) == NULL ||
		       (snap = baton__malloc(n * sizeof(*snap))) == NULL)) {
		replied = -ENOMEM;
		goto out;
	}
	r = resolve_all(tasks, n, cells);
	if (r != 0) {
		replied = r;
		goto out;
	}

	want = o.limit > n ? n : o.limit;
	baton__deadline_init(&deadline, o.timeout_ms);
	while (count_done(cells, n) < want) {
		size_t i = first_pending(cells, n);

		if (i == n)
			continue; /* the rest finished since the count */
		if (o.timeout_ms == 0)
			break;
		r = wait_slice(cells[i], &deadline);
		if (r == -ETIMEDOUT && baton__deadline_expired(&deadline))
			break;
	}

	/*
	 * One snapshot decides what is reported: at most `want` replies, the
	 * first finished in input order.  A limit reached leaves the rest
	 * alone (Elixir); otherwise on_timeout applies to every task that
	 * did not reply in time.
	 */
	for (size_t i = 0; i < n; i++) {
		snap[i] = taken < want && done(cells[i]);
		taken += snap[i];
	}
	if (o.limit != BATON_NO_LIMIT && taken >= want)
		o.on_timeout = BATON_ON_TIMEOUT_NOTHING;
	for (size_t i = 0; i < n; i++) {
		struct baton_yield_result *res = &results[i];

		/* Not memset: the reason's text is written only on failure. */
		res->status = 0;
		res->value = NULL;
		baton__reason_clear(&res->reason);
		if (snap[i]) {
			res->status = baton__task_outcome(
			    cells[i], &res->value, &res->reason);
			baton__task_consume(&tasks[i], cells[i]);
			replied++;
			continue;
		}
		res->status = -ETIMEDOUT;
		replied += apply_on_timeout(o.on_timeout, &tasks[i], cells[i],
					    res);
	}
out:
	if (cells != stack)
		free(cells);
	if (snap != snap_stack)
		free(snap);
	return replied;
}
