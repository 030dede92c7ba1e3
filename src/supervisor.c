/*
 * supervisor.c - Elixir's Task.Supervisor: a group of strict tasks whose
 * failures are reported to a hook instead of propagated.
 *
 * Design notes
 * ============
 * State.  The supervisor keeps one `struct child` per unfinished child in
 * a doubly linked list under `lock`, with `nchildren` (the list's length:
 * what count, children and max_children see), `nlive` (children whose
 * completion hook has not finished yet: what shutdown waits for) and
 * `closed` (set once by shutdown; starts then fail with -EPIPE).  A child
 * moves through
 *
 *	listed --cell DONE--> unlisted, hook running --hook ends--> gone
 *
 * nchildren drops at the first arrow, nlive at the second.  The `ended`
 * event count is bumped after every nlive decrement; shutdown snapshots
 * it, then reads nlive under the lock, and sleeps only while the count
 * still holds the snapshot, so no decrement is missed.  A child is named
 * by its cell and the cell's generation, so a recycled cell is never
 * mistaken for a child that ended.
 *
 * Starting.  The cell is allocated and filled here (as task.c's spawn()
 * does) because its on_done hook must be set before the cell is queued:
 * baton__task_spawn queues at once.  Under the lock: the closed and
 * max_children checks, listing the child, and baton__pool_submit, so a
 * failed submit is undone atomically (nobody ever sees the slot taken)
 * and a shutdown that set `closed` sees every child that got in.  The
 * submit never waits, so holding the lock across it is harmless; a
 * worker that runs the cell at once merely waits for the lock in the
 * hook.  A child runs on the task's opts->pool if given, else on the
 * supervisor's pool, else on the default pool.
 *
 * Completion.  cell->on_done (child_done) runs once, on the thread that
 * completed the cell, just after the core published DONE.  It unlists the
 * child, calls on_failure unlocked for a reason other than NORMAL, then
 * decrements nlive and bumps `ended`.  So shutdown's return happens-after
 * every on_failure call of the children it waited for.  Corollary: a
 * thread that saw DONE (an await returned) may still find the child
 * listed for a moment, until the hook has run.
 *
 * Stopping.  terminate_child and shutdown set CELL_STOP and then claim a
 * still-queued cell themselves (baton__cell_run): a cell asked to stop
 * before it was claimed completes as SHUTDOWN without running its body, so
 * it leaves the group at once and never waits for a busy worker.  That
 * claim runs child_done on the caller's thread, so it is never done under
 * `lock`.
 *
 * Lock order.  `lock` is a leaf: nothing else is acquired while it is
 * held except the pool's lock-free submission (which takes no lock) and,
 * in children(), dladdr's loader lock inside baton__cell_info.  on_failure
 * and baton__cell_run (which may call child_done) run unlocked.
 *
 * Who frees what.
 * - Cells: each listed child holds its own reference (struct child.cell),
 *   so the group can stop and list a child after its owner consumed the
 *   handle; child_done drops it.  That is never the last reference: the
 *   thread completing the cell holds one (the queue's, a helping
 *   awaiter's handle, or ours in sweep/terminate).  An async_nolink
 *   handle holds the cell's first reference, as a strict task's does; a
 *   start_child cell's first reference is the group's.
 * - struct child: allocated by the starter, freed by child_done (or by
 *   the starter if the start failed).
 * - The supervisor: refcounted.  The creator holds one reference, dropped
 *   by destroy; each child holds one from its start to the very end of
 *   child_done.  destroy waits (shutdown, no limit) until nlive is 0, but
 *   the last hooks may still be bumping `ended` then; whichever reference
 *   goes last frees the memory, so a hook never touches freed memory.
 */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "baton/supervisor.h"
#include "cell.h"
#include "lock.h"
#include "task_internal.h"

struct child {
	struct child *prev, *next; /* under sup->lock */
	struct baton__cell *cell;  /* the group's reference */
	uint64_t gen;              /* the cell's generation when started */
	baton_supervisor *sup;     /* holds a reference on it */
};

struct baton_supervisor {
	struct baton__lock lock;
	struct child *head;   /* unfinished children, under lock */
	size_t nchildren;     /* listed children, under lock */
	size_t nlive;         /* hooks not yet finished, under lock */
	bool closed;          /* shut down, under lock */
	struct ck_ec32 ended; /* bumped after each nlive decrement */
	atomic_uint refs;     /* creator + one per live child */

	/* Set at creation, read-only afterwards. */
	baton_pool *pool;
	size_t max_children;
	baton_failure_fn on_failure;
	void *ctx;
};

static baton_supervisor *
sup_ref(baton_supervisor *sup)
{
	/* relaxed: the caller already holds a reference. */
	atomic_fetch_add_explicit(&sup->refs, 1, memory_order_relaxed);
	return sup;
}

static void
sup_unref(baton_supervisor *sup)
{
	/* acq_rel: the last holder sees every other holder's writes. */
	if (atomic_fetch_sub_explicit(&sup->refs, 1, memory_order_acq_rel) == 1)
		free(sup);
}

/* Lists a child.  Lock held. */
static void
list_add(baton_supervisor *sup, struct child *c)
{
	c->prev = NULL;
	c->next = sup->head;
	if (sup->head != NULL)
		sup->head->prev = c;
	sup->head = c;
	sup->nchildren++;
	sup->nlive++;
}

/* Unlists a child (nlive is left to the caller).  Lock held. */
static void
list_remove(baton_supervisor *sup, struct child *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		sup->head = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	sup->nchildren--;
}

/* cell->on_done: runs once, on the completing thread, just after DONE. */
static void
child_done(struct baton__cell *cell, void *arg)
{
	struct child *c = arg;
	baton_supervisor *sup = c->sup;
	/* Written by this very thread (the body or the claimer). */
	struct baton_exit_reason reason = cell->reason;
	struct baton_task_info info;

	baton__lock_acquire(&sup->lock);
	list_remove(sup, c);
	baton__lock_release(&sup->lock);

	if (reason.kind != BATON_EXIT_NORMAL && sup->on_failure != NULL) {
		baton__cell_info(cell, &info);
		sup->on_failure(&info, &reason, sup->ctx);
	}

	baton__lock_acquire(&sup->lock);
	sup->nlive--;
	baton__lock_release(&sup->lock);
	/* After the decrement: wakes a shutdown that read the old nlive. */
	baton__ec_signal(&sup->ended);

	free(c);
	/* Never the last reference: the completing thread holds one. */
	baton__cell_unref(cell);
	/* Last: the supervisor may be freed here. */
	sup_unref(sup);
}

int
baton_supervisor_create(baton_supervisor **out,
			const struct baton_supervisor_opts *opts)
{
	baton_supervisor *sup;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	sup = baton__calloc(1, sizeof(*sup));
	if (sup == NULL)
		return -ENOMEM;
	sup->lock = (struct baton__lock)BATON__LOCK_INIT;
	ck_ec32_init(&sup->ended, 0);
	atomic_init(&sup->refs, 1);
	sup->max_children = BATON_NO_LIMIT;
	if (opts != NULL) {
		sup->pool = opts->pool;
		sup->max_children = opts->max_children;
		sup->on_failure = opts->on_failure;
		sup->ctx = opts->ctx;
	}
	*out = sup;
	return 0;
}

/*
 * Starts a child: owned by the caller with CELL_NOLINK if out is not NULL
 * (async_nolink), unowned otherwise (start_child).
 */
static int
start(baton_supervisor *sup, baton_task *out, baton_task_fn fn, void *arg,
      const struct baton_task_opts *opts)
{
	baton_pool *pool = opts != NULL ? opts->pool : NULL;
	struct baton__cell *cell;
	struct child *c;
	uint64_t gen;
	int r;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (sup == NULL || fn == NULL)
		return -EINVAL;
	if (pool == NULL)
		pool = sup->pool;
	if (pool == NULL && (pool = baton_pool_default()) == NULL)
		return -ENOMEM;
	c = baton__malloc(sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	cell = baton__cell_alloc();
	if (cell == NULL) {
		free(c);
		return -ENOMEM;
	}
	atomic_store_explicit(&cell->fn, fn, memory_order_relaxed);
	cell->arg = arg;
	if (opts != NULL) {
		atomic_store_explicit(&cell->label, opts->label,
				      memory_order_relaxed);
		cell->destroy = opts->destroy;
	}
	cell->on_done = child_done;
	cell->on_done_ctx = c;
	c->sup = sup;
	/* relaxed: this thread allocated the cell. */
	gen = atomic_load_explicit(&cell->gen, memory_order_relaxed);
	c->gen = gen;
	if (out != NULL) {
		/* relaxed: published to the pool by the submission. */
		atomic_store_explicit(&cell->flags, CELL_NOLINK,
				      memory_order_relaxed);
		baton__own(baton__thread_self(), cell);
		c->cell = baton__cell_ref(cell);
	} else {
		c->cell = cell; /* the first reference is the group's */
	}

	baton__lock_acquire(&sup->lock);
	if (sup->closed) {
		r = -EPIPE;
	} else if (sup->nchildren >= sup->max_children) {
		r = -EAGAIN;
	} else {
		list_add(sup, c);
		r = baton__pool_submit(pool, cell);
		if (r == 0) {
			/*
			 * The hook may already be running, but it needs the
			 * lock before it can drop this reference.
			 */
			sup_ref(sup);
		} else {
			list_remove(sup, c);
			sup->nlive--;
		}
	}
	baton__lock_release(&sup->lock);

	if (r != 0) {
		/* Never queued, never run: nothing of the caller's is kept. */
		if (out != NULL) {
			baton__disown(cell);
			baton__cell_unref(cell);
		}
		baton__cell_unref(cell);
		free(c);
		return r;
	}
	/* c is the hook's now: the child may have ended and freed it. */
	if (out != NULL) {
		out->cell_ = cell;
		out->gen_ = gen;
	}
	return 0;
}

int
baton_supervisor_async_nolink(baton_supervisor *sup, baton_task *out,
			      baton_task_fn fn, void *arg,
			      const struct baton_task_opts *opts)
{
	if (out == NULL)
		return -EINVAL;
	return start(sup, out, fn, arg, opts);
}

int
baton_supervisor_start_child(baton_supervisor *sup, baton_task_fn fn,
			     void *arg, const struct baton_task_opts *opts)
{
	return start(sup, NULL, fn, arg, opts);
}

size_t
baton_supervisor_count(baton_supervisor *sup)
{
	size_t n;

	if (sup == NULL)
		return 0;
	baton__lock_acquire(&sup->lock);
	n = sup->nchildren;
	baton__lock_release(&sup->lock);
	return n;
}

ptrdiff_t
baton_supervisor_children(baton_supervisor *sup,
			  struct baton_task_info *infos, size_t n)
{
	size_t i = 0;

	if (sup == NULL || (infos == NULL && n > 0))
		return -EINVAL;
	baton__lock_acquire(&sup->lock);
	for (struct child *c = sup->head; c != NULL && i < n; c = c->next)
		baton__cell_info(c->cell, &infos[i++]);
	baton__lock_release(&sup->lock);
	return (ptrdiff_t)i;
}

/*
 * Stops a cell we hold a reference on: a queued one is claimed here and
 * completes as SHUTDOWN without running its body (child_done then runs on
 * this thread).  Lock not held.
 */
static void
stop_and_claim(struct baton__cell *cell)
{
	baton__cell_request_stop(cell);
	/* Sees our own CELL_STOP: never runs the body here. */
	baton__cell_run(cell);
}

int
baton_supervisor_terminate_child(baton_supervisor *sup,
				 const baton_task *child)
{
	struct baton__cell *cell, *found = NULL;
	int r;

	if (sup == NULL)
		return -EINVAL;
	if ((r = baton__task_resolve(child, &cell)) != 0)
		return r;
	baton__lock_acquire(&sup->lock);
	for (struct child *c = sup->head; c != NULL; c = c->next) {
		/*
		 * A listed child's cell cannot be recycled (we hold a
		 * reference), so equal generations mean the same task.
		 */
		if (c->cell == cell && c->gen == child->gen_) {
			found = baton__cell_ref(cell);
			break;
		}
	}
	baton__lock_release(&sup->lock);
	if (found == NULL)
		return -ESRCH;
	stop_and_claim(found);
	baton__cell_unref(found);
	return 0;
}

/*
 * Claims every still-queued child so that it completes now as SHUTDOWN.
 * Called after `closed` was set, so the list can only shrink: n bounds it.
 * Without memory for the snapshot the workers complete them instead.
 */
static void
sweep_queued(baton_supervisor *sup, size_t n)
{
	struct baton__cell **cells;
	size_t k = 0;

	if (n == 0 || (cells = baton__malloc(n * sizeof(*cells))) == NULL)
		return;
	baton__lock_acquire(&sup->lock);
	for (struct child *c = sup->head; c != NULL && k < n; c = c->next) {
		/* relaxed: a stale QUEUED only costs a failed claim. */
		if (atomic_load_explicit(&c->cell->state,
					 memory_order_relaxed) ==
		    BATON_TASK_QUEUED)
			cells[k++] = baton__cell_ref(c->cell);
	}
	baton__lock_release(&sup->lock);
	for (size_t i = 0; i < k; i++) {
		stop_and_claim(cells[i]);
		baton__cell_unref(cells[i]);
	}
	free(cells);
}

int
baton_supervisor_shutdown(baton_supervisor *sup, int timeout_ms)
{
	struct baton__deadline deadline;
	bool timed = false;
	size_t n;

	if (sup == NULL || baton__timeout_check(timeout_ms) != 0)
		return -EINVAL;
	baton__lock_acquire(&sup->lock);
	sup->closed = true;
	for (struct child *c = sup->head; c != NULL; c = c->next)
		baton__cell_request_stop(c->cell);
	n = sup->nchildren;
	baton__lock_release(&sup->lock);
	sweep_queued(sup, n);

	for (;;) {
		/* Snapshot first: a later decrement moves the count past it. */
		uint32_t seen = ck_ec32_value(&sup->ended);

		baton__lock_acquire(&sup->lock);
		n = sup->nlive;
		baton__lock_release(&sup->lock);
		if (n == 0)
			return 0;
		if (!timed) {
			/* The clock is read only when we really wait. */
			baton__deadline_init(&deadline, timeout_ms);
			timed = true;
		}
		if (baton__ec_wait(&sup->ended, seen, &deadline) != 0) {
			baton__lock_acquire(&sup->lock);
			n = sup->nlive;
			baton__lock_release(&sup->lock);
			return n == 0 ? 0 : -ETIMEDOUT;
		}
	}
}

void
baton_supervisor_destroy(baton_supervisor *sup)
{
	if (sup == NULL)
		return;
	(void)baton_supervisor_shutdown(sup, BATON_INFINITY);
	/* Children's hooks may still be finishing: they hold references. */
	sup_unref(sup);
}
