/*
 * link.c - Elixir's links in C: linked fire-and-forget tasks stopped when
 * their starter exits, and a per-thread mailbox of exit notices (the
 * trap_exit form of a linked task's failure).
 *
 * Design notes
 * ============
 * Each thread that traps exits or starts a linked task gets a record
 * (struct baton__links), reached from thread-local storage.  It holds,
 * under `lock`: `alive` (the thread has not exited), the mailbox (a FIFO
 * of notices) and the start_link tasks still in flight (a doubly linked
 * list of `struct linked` nodes, one per task).  `ev` is bumped after
 * each notice is queued; the owner snapshots it before it looks at the
 * mailbox and sleeps only while it still holds the snapshot, so no notice
 * is missed.
 *
 * Noticing the thread's exit without a hook in thread.c: the record owns
 * a sentinel cell, a finished, never-submitted cell, owned by the thread
 * with CELL_NOLINK, whose untaken value is the record and whose
 * destructor is thread_gone().  When the thread exits, thread.c releases
 * every cell it owns; the sentinel's last reference runs thread_gone()
 * on the exiting thread (NOLINK: it is not reported to the orphan hook).
 * thread_gone() marks the record dead, asks every start_link task in
 * flight to stop (a queued one then completes without running its body),
 * frees the notices nobody took and drops the thread's reference.
 *
 * Completion: a linked cell's on_done runs once on the completing thread,
 * after DONE.  For an async task (on_done = baton__links_task_done, ctx =
 * the record) it queues a notice if the task failed and its owner has not
 * consumed it (consuming unlinks, as Task.ignore does).  For a start_link
 * task (linked_done) it also unlinks the node.  A node is in the list
 * from before its cell is submitted until its on_done, so thread_gone()
 * only ever touches cells whose on_done has not run yet: the completing
 * thread's reference keeps them alive; the list holds no reference.
 *
 * Who frees what: the record is refcounted, one reference for the thread
 * (dropped by thread_gone()) and one per linked task in flight (dropped
 * by its on_done); the last one frees it.  Notices are freed by the
 * thread that takes them, or by thread_gone().  A notice that cannot be
 * allocated is dropped (the failure still reaches an await).
 */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "baton/link.h"
#include "lock.h"
#include "task_internal.h"

struct notice {
	struct notice *next;
	struct baton_exit_notice n;
};

struct linked {
	struct linked *prev, *next;  /* under the record's lock */
	struct baton__cell *cell;
	struct baton__links *links;  /* holds a reference */
	bool trap;                   /* the starter trapped exits then */
};

struct baton__links {
	atomic_uint refs;           /* the thread + one per task in flight */
	struct baton__lock lock;
	bool alive;                 /* under lock */
	struct notice *head, *tail; /* under lock: the mailbox */
	struct linked *linked;      /* under lock: start_link in flight */
	struct ck_ec32 ev;          /* bumped after each notice */
	bool trapping;              /* the thread's own setting */
};

/*
 * The calling thread's record, or NULL.  initial-exec: every owned spawn
 * reads it (thread.c's reason).
 */
static _Thread_local struct baton__links *self_links
    __attribute__((tls_model("initial-exec")));

static struct baton__links *
links_ref(struct baton__links *links)
{
	/* relaxed: the caller already holds a reference. */
	atomic_fetch_add_explicit(&links->refs, 1, memory_order_relaxed);
	return links;
}

void
baton__links_unref(struct baton__links *links)
{
	/* acq_rel: the last holder sees every other holder's writes. */
	if (links != NULL &&
	    atomic_fetch_sub_explicit(&links->refs, 1, memory_order_acq_rel) ==
		1)
		free(links);
}

/* The sentinel's destructor: runs on the exiting thread (see above). */
static void
thread_gone(void *arg)
{
	struct baton__links *links = arg;
	struct notice *n;

	baton__lock_acquire(&links->lock);
	links->alive = false;
	for (struct linked *l = links->linked; l != NULL; l = l->next)
		baton__cell_request_stop(l->cell);
	n = links->head;
	links->head = links->tail = NULL;
	baton__lock_release(&links->lock);
	while (n != NULL) {
		struct notice *next = n->next;

		free(n);
		n = next;
	}
	if (self_links == links)
		self_links = NULL;
	baton__links_unref(links);
}

/* The calling thread's record, made on first use; NULL without memory. */
static struct baton__links *
links_self(void)
{
	struct baton__links *links = self_links;
	struct baton__cell *sentinel;

	if (links != NULL)
		return links;
	links = baton__calloc(1, sizeof(*links));
	if (links == NULL)
		return NULL;
	sentinel = baton__cell_alloc();
	if (sentinel == NULL) {
		free(links);
		return NULL;
	}
	atomic_init(&links->refs, 1);
	links->lock = (struct baton__lock)BATON__LOCK_INIT;
	links->alive = true;
	ck_ec32_init(&links->ev, 0);
	/* relaxed: never submitted; only this thread and cell.c see it. */
	atomic_store_explicit(&sentinel->label, "baton_link",
			      memory_order_relaxed);
	atomic_store_explicit(&sentinel->flags, CELL_NOLINK,
			      memory_order_relaxed);
	sentinel->value = links;
	sentinel->destroy = thread_gone;
	atomic_store_explicit(&sentinel->state, BATON_TASK_DONE,
			      memory_order_relaxed);
	baton__own(baton__thread_self(), sentinel);
	self_links = links;
	return links;
}

struct baton__links *
baton__links_trapping(void)
{
	struct baton__links *links = self_links;

	return links != NULL && links->trapping ? links_ref(links) : NULL;
}

/* Queues a notice of the cell's failure (not exit(NORMAL)). */
static void
deliver(struct baton__links *links, struct baton__cell *cell)
{
	struct notice *n;

	if (cell->reason.kind == BATON_EXIT_NORMAL)
		return;
	n = baton__malloc(sizeof(*n));
	if (n == NULL)
		return;
	n->next = NULL;
	baton__cell_info(cell, &n->n.task);
	/* A copy: the notice outlives the cell. */
	baton__reason_export(&n->n.reason, &cell->reason);
	baton__lock_acquire(&links->lock);
	if (links->alive) {
		if (links->tail != NULL)
			links->tail->next = n;
		else
			links->head = n;
		links->tail = n;
		n = NULL;
	}
	baton__lock_release(&links->lock);
	free(n); /* the thread is gone: nobody will read it */
	baton__ec_signal(&links->ev);
}

void
baton__links_deliver(struct baton__links *links, struct baton__cell *cell)
{
	/*
	 * Consumed (awaited, ignored, shut down): no longer linked.
	 * relaxed: a consume racing the completion may go either way.
	 */
	if (atomic_load_explicit(&cell->owner, memory_order_relaxed) != NULL)
		deliver(links, cell);
}

void
baton__links_task_done(struct baton__cell *cell, void *ctx)
{
	baton__links_deliver(ctx, cell);
	baton__links_unref(ctx);
}

/* Takes a start_link node off its record's list. */
static void
unlist(struct baton__links *links, struct linked *l)
{
	baton__lock_acquire(&links->lock);
	if (l->prev != NULL)
		l->prev->next = l->next;
	else
		links->linked = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
	baton__lock_release(&links->lock);
}

/* on_done of a start_link task: unlinks its node, then as above. */
static void
linked_done(struct baton__cell *cell, void *ctx)
{
	struct linked *l = ctx;
	struct baton__links *links = l->links;

	unlist(links, l);
	/* No handle to consume it: a trapping starter hears every failure. */
	if (l->trap)
		deliver(links, cell);
	free(l);
	baton__links_unref(links);
}

int
baton_trap_exits(bool on)
{
	struct baton__links *links = on ? links_self() : self_links;

	if (links == NULL)
		return on ? -ENOMEM : 0;
	links->trapping = on;
	return 0;
}

int
baton_exit_notice_next(int timeout_ms, struct baton_exit_notice *out)
{
	struct baton__links *links = self_links;
	struct baton__deadline deadline;
	bool timed = false;

	if (out == NULL || baton__timeout_check(timeout_ms) != 0)
		return -EINVAL;
	if (links == NULL)
		return -ENOENT;
	for (;;) {
		/* Snapshot first: a notice queued later moves the count. */
		uint32_t seen = ck_ec32_value(&links->ev);
		struct notice *n;

		baton__lock_acquire(&links->lock);
		n = links->head;
		if (n != NULL && (links->head = n->next) == NULL)
			links->tail = NULL;
		baton__lock_release(&links->lock);
		if (n != NULL) {
			*out = n->n;
			free(n);
			return 0;
		}
		if (!links->trapping)
			return -ENOENT;
		if (!timed) {
			baton__deadline_init(&deadline, timeout_ms);
			timed = true;
		}
		if (timeout_ms == 0 ||
		    baton__ec_wait(&links->ev, seen, &deadline) != 0) {
			if (baton__deadline_expired(&deadline) ||
			    timeout_ms == 0)
				return -ETIMEDOUT;
		}
	}
}

int
baton_task_start_link(baton_task_fn fn, void *arg,
		      const struct baton_task_opts *opts)
{
	struct baton__links *links;
	struct baton__cell *cell;
	struct linked *l;
	baton_pool *pool;
	int r;

	r = baton__task_prepare(&cell, &pool, fn, arg, opts, 0);
	if (r != 0)
		return r;
	links = links_self();
	l = baton__malloc(sizeof(*l));
	if (links == NULL || l == NULL) {
		free(l);
		baton__cell_unref(cell);
		return -ENOMEM;
	}
	l->cell = cell;
	l->links = links_ref(links);
	l->trap = links->trapping;
	cell->on_done = linked_done;
	cell->on_done_ctx = l;
	/* Listed before it can complete: linked_done unlists it. */
	baton__lock_acquire(&links->lock);
	l->prev = NULL;
	l->next = links->linked;
	if (links->linked != NULL)
		links->linked->prev = l;
	links->linked = l;
	baton__lock_release(&links->lock);
	r = baton__task_submit(pool, cell);
	if (r != 0) {
		/* Never queued (and freed): on_done will not run; unlist. */
		unlist(links, l);
		free(l);
		baton__links_unref(links);
		return r;
	}
	/* The queue's reference is enough: l is on_done's from here on. */
	baton__cell_unref(cell);
	return 0;
}
