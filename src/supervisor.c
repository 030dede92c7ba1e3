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
 * Adoption.  A supervised stream (stream.c) builds its items' cells
 * itself and hands each to baton__supervisor_adopt, which lists it as a
 * temporary child like any other (max_children, count, children,
 * on_failure, shutdown) with a `then` hook: child_done calls it after
 * on_failure and before nlive drops, so the stream hears of the item
 * after the group has let go of it, and a shutdown's return
 * happens-after it.
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
	struct baton__links *links; /* async (linked): its owner's notices */
	/* Adopted cells (baton__supervisor_adopt): their own hook, or NULL. */
	void (*then)(struct baton__cell *cell, void *ctx);
	void *then_ctx;
	bool terminated;           /* under sup->lock: never restarted */
	/* What a restart starts again (start_child_opts). */
	enum baton_restart restart;
	struct baton_child_opts opts;
	baton_task_fn fn;
	void *arg;
};

struct baton_supervisor {
	struct baton__lock lock;
	struct child *head;   /* unfinished children, under lock */
	size_t nchildren;     /* listed children, under lock */
	size_t nlive;         /* hooks not yet finished, under lock */
	bool closed;          /* shut down, under lock */
	struct ck_ec32 ended; /* bumped after each nlive decrement */
	atomic_uint refs;     /* creator + one per live child */
	atomic_bool alive;    /* false once closed (a snapshot for users) */

	/* Restart intensity, under lock: the last max_restarts restarts. */
	int64_t *restarts;    /* a ring of CLOCK_MONOTONIC times, in ns */
	unsigned int rhead, rcount;

	/* Set at creation, read-only afterwards. */
	baton_pool *pool;
	size_t max_children;
	baton_failure_fn on_failure;
	void *ctx;
	unsigned int max_restarts;
	int64_t max_ns;
};

static const struct baton__reason terminated_reason = BATON__REASON(
    BATON_EXIT_SHUTDOWN, ECANCELED, "terminated by its supervisor");

static const struct baton__reason killed_reason = BATON__REASON(
    BATON_EXIT_KILLED, ECANCELED, "killed by its supervisor");

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

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
	if (atomic_fetch_sub_explicit(&sup->refs, 1, memory_order_acq_rel) ==
	    1) {
		baton__pool_unref(sup->pool);
		free(sup->restarts);
		free(sup);
	}
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

/* Closes the group to new children.  Lock held. */
static void
close_locked(baton_supervisor *sup)
{
	sup->closed = true;
	/* relaxed: a snapshot for baton_supervisor_alive. */
	atomic_store_explicit(&sup->alive, false, memory_order_relaxed);
}

/* Whether a child that ended with `reason` is started again. */
static bool
wants_restart(const struct child *c, const struct baton__reason *reason,
	      bool exited)
{
	switch (c->restart) {
	case BATON_RESTART_PERMANENT:
		return true;
	case BATON_RESTART_TRANSIENT:
		/* Elixir: not after :normal or :shutdown. */
		return !exited && reason->kind != BATON_EXIT_NORMAL &&
		    reason->kind != BATON_EXIT_SHUTDOWN;
	default:
		return false;
	}
}

/*
 * Records a restart if the intensity allows it: fewer than max_restarts
 * in the last max_seconds.  Lock held.
 */
static bool
restart_allowed(baton_supervisor *sup)
{
	int64_t now = now_ns();

	if (sup->max_restarts == 0)
		return false;
	/* The ring is full: its oldest entry is the one about to go. */
	if (sup->rcount == sup->max_restarts &&
	    now - sup->restarts[sup->rhead] < sup->max_ns)
		return false;
	sup->restarts[sup->rhead] = now;
	sup->rhead = (sup->rhead + 1) % sup->max_restarts;
	if (sup->rcount < sup->max_restarts)
		sup->rcount++;
	return true;
}

static int start(baton_supervisor *sup, baton_task *out, baton_task_fn fn,
		 void *arg, const struct baton_child_opts *opts,
		 unsigned int how, struct baton__cell *like);
static void stop_all(baton_supervisor *sup);

#define START_UNOWNED 0u /* start_child */
#define START_NOLINK 1u  /* async_nolink */
#define START_LINKED 2u  /* async */

/* cell->on_done: runs once, on the completing thread, just after DONE. */
static void
child_done(struct baton__cell *cell, void *arg)
{
	struct child *c = arg;
	baton_supervisor *sup = c->sup;
	/* Written by this very thread (the body or the claimer). */
	const struct baton__reason *reason = &cell->reason;
	struct baton_exit_reason why;
	struct baton_task_info info;
	bool restart = false, gave_up = false;

	baton__lock_acquire(&sup->lock);
	list_remove(sup, c);
	if (!c->terminated && !sup->closed &&
	    wants_restart(c, reason, baton__task_failed(cell) &&
					 reason->kind == BATON_EXIT_NORMAL)) {
		restart = restart_allowed(sup);
		if (!restart) {
			/* Too many restarts: the supervisor gives up. */
			close_locked(sup);
			gave_up = true;
		}
	}
	baton__lock_release(&sup->lock);

	if (c->links != NULL) {
		baton__links_deliver(c->links, cell);
		baton__links_unref(c->links);
	}
	if (reason->kind != BATON_EXIT_NORMAL && sup->on_failure != NULL) {
		baton__cell_info(cell, &info);
		/* The callback's copy: a failure path, so the text is copied. */
		baton__reason_export(&why, reason);
		sup->on_failure(&info, &why, sup->ctx);
	}
	/* Before nlive drops: shutdown's return happens-after it too. */
	if (c->then != NULL)
		c->then(cell, c->then_ctx);
	if (restart)
		(void)start(sup, NULL, c->fn, c->arg, &c->opts,
			    START_UNOWNED | (unsigned int)c->restart << 4,
			    cell);
	if (gave_up)
		stop_all(sup);

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
	struct baton_supervisor_opts o = BATON_SUPERVISOR_OPTS_INIT;
	baton_supervisor *sup;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (opts != NULL)
		o = *opts;
	sup = baton__calloc(1, sizeof(*sup));
	if (sup == NULL)
		return -ENOMEM;
	if (o.max_restarts > 0 &&
	    (sup->restarts = baton__calloc(o.max_restarts,
					   sizeof(*sup->restarts))) == NULL) {
		free(sup);
		return -ENOMEM;
	}
	sup->lock = (struct baton__lock)BATON__LOCK_INIT;
	ck_ec32_init(&sup->ended, 0);
	atomic_init(&sup->refs, 1);
	atomic_init(&sup->alive, true);
	sup->pool = o.pool;
	/* Its memory outlives a destroy: later children then get -EPIPE. */
	baton__pool_ref(sup->pool);
	sup->max_children = o.max_children;
	sup->on_failure = o.on_failure;
	sup->ctx = o.ctx;
	sup->max_restarts = o.max_restarts;
	sup->max_ns = (int64_t)o.max_seconds * 1000000000;
	*out = sup;
	return 0;
}

/*
 * Lists child c (whose cell's on_done is child_done) and submits its
 * cell, or neither: -EPIPE (shut down), -EAGAIN (at max_children), or
 * the pool's refusal.
 */
static int
admit(baton_supervisor *sup, struct child *c, struct baton__cell *cell,
      baton_pool *pool)
{
	int r;

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
	return r;
}

/*
 * Starts a child.  how: START_UNOWNED (start_child, with the restart
 * value in bits 4 and up), START_NOLINK (async_nolink: owned by the
 * caller, CELL_NOLINK) or START_LINKED (async: owned and linked).  like:
 * the child this one restarts (its callers chain is kept), or NULL.
 */
static int
start(baton_supervisor *sup, baton_task *out, baton_task_fn fn, void *arg,
      const struct baton_child_opts *opts, unsigned int how,
      struct baton__cell *like)
{
	struct baton_task_opts topts = { opts->pool, opts->label,
					 opts->destroy };
	bool owned = (how & 3u) != START_UNOWNED;
	struct baton__cell *cell;
	struct child *c;
	baton_pool *pool;
	uint64_t gen;
	int r;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (sup == NULL || fn == NULL || (owned && out == NULL))
		return -EINVAL;
	if (topts.pool == NULL)
		topts.pool = sup->pool;
	c = baton__calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	r = baton__task_prepare(&cell, &pool, fn, arg, &topts,
				(how & 3u) == START_NOLINK ? CELL_NOLINK : 0);
	if (r != 0) {
		free(c);
		return r;
	}
	if (like != NULL)
		baton__cell_copy_callers(cell, like);
	cell->on_done = child_done;
	cell->on_done_ctx = c;
	c->sup = sup;
	c->fn = fn;
	c->arg = arg;
	c->opts = *opts;
	c->restart = (enum baton_restart)(how >> 4);
	/* relaxed: this thread allocated the cell. */
	gen = atomic_load_explicit(&cell->gen, memory_order_relaxed);
	c->gen = gen;
	if (owned) {
		baton__own(baton__thread_self(), cell);
		c->cell = baton__cell_ref(cell);
		if ((how & 3u) == START_LINKED)
			c->links = baton__links_trapping();
	} else {
		c->cell = cell; /* the first reference is the group's */
	}

	r = admit(sup, c, cell, pool);
	if (r != 0) {
		/* Never queued, never run: nothing of the caller's is kept. */
		if (owned) {
			baton__disown(cell);
			baton__cell_unref(cell);
		}
		baton__cell_unref(cell);
		baton__links_unref(c->links);
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
baton__supervisor_adopt(baton_supervisor *sup, struct baton__cell *cell,
			baton_pool *pool,
			void (*then)(struct baton__cell *cell, void *ctx),
			void *then_ctx)
{
	struct child *c = baton__calloc(1, sizeof(*c));
	int r;

	if (c == NULL)
		return -ENOMEM;
	c->sup = sup;
	c->cell = baton__cell_ref(cell); /* the group's own reference */
	/* relaxed: the caller allocated the cell. */
	c->gen = atomic_load_explicit(&cell->gen, memory_order_relaxed);
	c->restart = BATON_RESTART_TEMPORARY;
	c->then = then;
	c->then_ctx = then_ctx;
	cell->on_done = child_done;
	cell->on_done_ctx = c;
	r = admit(sup, c, cell, pool);
	if (r != 0) {
		/* Never queued: the caller's cell is as it gave it. */
		cell->on_done = NULL;
		cell->on_done_ctx = NULL;
		baton__cell_unref(c->cell);
		free(c);
	}
	return r;
}

baton_pool *
baton__supervisor_pool(baton_supervisor *sup)
{
	return sup->pool;
}

void
baton__supervisor_ref(baton_supervisor *sup)
{
	(void)sup_ref(sup);
}

void
baton__supervisor_unref(baton_supervisor *sup)
{
	sup_unref(sup);
}

/* A task's options as a temporary child's. */
static struct baton_child_opts
child_opts(const struct baton_task_opts *opts)
{
	struct baton_child_opts o = BATON_CHILD_OPTS_INIT;

	if (opts != NULL) {
		o.pool = opts->pool;
		o.label = opts->label;
		o.destroy = opts->destroy;
	}
	return o;
}

int
baton_supervisor_async_nolink(baton_supervisor *sup, baton_task *out,
			      baton_task_fn fn, void *arg,
			      const struct baton_task_opts *opts)
{
	struct baton_child_opts o = child_opts(opts);

	return start(sup, out, fn, arg, &o, START_NOLINK, NULL);
}

int
baton_supervisor_async(baton_supervisor *sup, baton_task *out,
		       baton_task_fn fn, void *arg,
		       const struct baton_task_opts *opts)
{
	struct baton_child_opts o = child_opts(opts);

	return start(sup, out, fn, arg, &o, START_LINKED, NULL);
}

int
baton_supervisor_start_child(baton_supervisor *sup, baton_task_fn fn,
			     void *arg, const struct baton_task_opts *opts)
{
	struct baton_child_opts o = child_opts(opts);

	return start(sup, NULL, fn, arg, &o, START_UNOWNED, NULL);
}

int
baton_supervisor_start_child_opts(baton_supervisor *sup, baton_task_fn fn,
				  void *arg,
				  const struct baton_child_opts *opts)
{
	struct baton_child_opts o = BATON_CHILD_OPTS_INIT;

	if (opts != NULL)
		o = *opts;
	if ((unsigned int)o.restart > BATON_RESTART_PERMANENT)
		return -EINVAL;
	return start(sup, NULL, fn, arg, &o,
		     START_UNOWNED | (unsigned int)o.restart << 4, NULL);
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

bool
baton_supervisor_alive(baton_supervisor *sup)
{
	/* relaxed: a snapshot. */
	return sup != NULL &&
	    atomic_load_explicit(&sup->alive, memory_order_relaxed);
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
 * Ends a cell we hold a reference on, now (baton__cell_kill): a queued
 * one is claimed here and completes as SHUTDOWN without running its body;
 * a running body is abandoned with `reason`, settled before this call
 * returns, so a reply after it is no reply.  child_done then runs on this
 * thread, unless a reply won the race.  reason NULL: only stop and claim
 * (a running body is left to finish).  Lock not held.
 */
static void
end_child(struct baton__cell *cell, const struct baton__reason *reason)
{
	if (reason == NULL)
		(void)baton__cell_stop_queued(cell);
	else
		baton__cell_kill(cell, reason);
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
			c->terminated = true;
			found = baton__cell_ref(cell);
			break;
		}
	}
	baton__lock_release(&sup->lock);
	if (found == NULL)
		return -ESRCH;
	end_child(found, &terminated_reason);
	baton__cell_unref(found);
	return 0;
}

/*
 * Takes a reference on every listed child (all, or only the queued ones)
 * and ends each (end_child) outside the lock.  Without memory for the
 * snapshot, does nothing (the workers complete them instead).
 */
static void
for_each_child(baton_supervisor *sup, bool queued_only,
	       const struct baton__reason *reason)
{
	struct baton__cell **cells;
	size_t n, k = 0;

	baton__lock_acquire(&sup->lock);
	n = sup->nchildren;
	baton__lock_release(&sup->lock);
	/* Called once `closed` is set: the list only shrinks; n bounds it. */
	if (n == 0 || (cells = baton__malloc(n * sizeof(*cells))) == NULL)
		return;
	baton__lock_acquire(&sup->lock);
	for (struct child *c = sup->head; c != NULL && k < n; c = c->next) {
		/* relaxed: a stale QUEUED only costs a failed claim. */
		if (!queued_only ||
		    atomic_load_explicit(&c->cell->state,
					 memory_order_relaxed) ==
			BATON_TASK_QUEUED)
			cells[k++] = baton__cell_ref(c->cell);
	}
	baton__lock_release(&sup->lock);
	for (size_t i = 0; i < k; i++) {
		end_child(cells[i], reason);
		baton__cell_unref(cells[i]);
	}
	free(cells);
}

/* Closed: asks every child to stop; claims the queued ones.  Unlocked. */
static void
stop_all(baton_supervisor *sup)
{
	baton__lock_acquire(&sup->lock);
	for (struct child *c = sup->head; c != NULL; c = c->next)
		baton__cell_request_stop(c->cell);
	baton__lock_release(&sup->lock);
	for_each_child(sup, true, NULL);
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
	close_locked(sup);
	baton__lock_release(&sup->lock);
	stop_all(sup);

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
			if (n == 0)
				return 0;
			/* Elixir kills what is left: settle it as KILLED. */
			for_each_child(sup, false, &killed_reason);
			return -ETIMEDOUT;
		}
	}
}

int
baton_supervisor_shutdown_brutal(baton_supervisor *sup)
{
	if (sup == NULL)
		return -EINVAL;
	baton__lock_acquire(&sup->lock);
	close_locked(sup);
	baton__lock_release(&sup->lock);
	for_each_child(sup, false, &killed_reason);
	return 0;
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
