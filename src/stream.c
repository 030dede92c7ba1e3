/*
 * stream.c - Elixir's Task.async_stream: a bounded-concurrency map over an
 * array, handed back one element at a time by baton_stream_next.
 *
 * Design notes
 * ============
 * Two objects.  The stream (struct baton_stream) is the owner's
 * bookkeeping: one slot per input read, read and written by the owner thread
 * only, so it needs no atomics.  The hub (struct hub) is what item bodies
 * and completion hooks touch: the inputs, each item's start time, a stack
 * of finished items and the event count the owner sleeps on.  A body may
 * outlive the stream (an abandoned body runs until it returns), so the hub
 * is refcounted: one reference for the stream, one per submitted cell,
 * dropped by that cell's on_done hook, or, when a supervised kill
 * completed the cell while its body still ran, by whichever of the hook
 * and the body's end comes second (`leaving`).  The last one frees it.
 * tests/models/stream_hub.pml checks this hand-off against the kill.
 *
 * Items are strict-task cells built here rather than with
 * baton__task_spawn, because on_done must be set before submission.  Each
 * cell is owned by the stream's owner thread (baton__own), so, as for any
 * strict task, an owner that exits without destroying its stream stops
 * the items it left behind and releases the stream's references to them.
 * A cell runs item_main, which records the start time and calls fn; the
 * label "baton_stream" names it in baton_pool_list.
 *
 * Inputs: an array is copied in at creation (`ended` at once); a
 * generator is asked for one input at a time by refill(), only when that
 * input can start right away, so an endless generator is read on demand.
 * Per-input state grows with the inputs read: slots[] and ready[] are
 * the owner's and are reallocated; the hub's items live in fixed chunks
 * of ITEM_CHUNK (cells point at them, so they never move), reached
 * through a chunk table that only the owner reads; each item knows its
 * index, so item_done never needs the table.
 *
 * Laziness: as an Elixir stream runs where it is enumerated, creating a
 * stream starts nothing and binds no thread.  The first thread to call
 * next() becomes the owner (`owner` and `link` are set then, once); only
 * then are items submitted.  A stream nobody has read yet may be
 * destroyed by any thread.
 *
 * The owner: a thread record lives in thread-local storage, and a thread
 * started after the owner exited may get the same address, so comparing
 * records is not enough.  The stream also owns a `link`: a finished,
 * never-submitted cell.  When the owner exits, thread.c frees it with its
 * other tasks and its generation moves on; a stream whose link is gone
 * has no owner any more.  Then next() is -EPERM for every thread, and
 * destroy() from any thread frees the stream's memory without touching
 * its cells (the owner's exit already released them).
 *
 * Slot states (owner only):
 *
 *	IDLE --submitted--> LIVE --drained from the done stack--> READY
 *	LIVE --deadline passed, KILL_TASK--> KILLED
 *	IDLE --the pool refused it (shut down)--> REFUSED
 *	READY, KILLED, REFUSED --handed out by next()--> GONE
 *	anything holding a cell --EXIT failure or destroy--> GONE
 *
 * Items are submitted in index order.  LIVE slots are also listed in
 * live[], and there are never more than max_concurrency of them: that is
 * the concurrency limit.  A slot leaves the window when the owner drains
 * its completion (so the limit is never exceeded, merely approached late),
 * or when it is killed.  A killed body that ignores baton_should_stop may
 * still be running after its slot has left the window, as with every
 * abandonment in baton: one stuck body must never stall the stream.
 *
 * Completion: on_done runs on the completing thread after DONE is
 * published; it pushes the item on the hub's done stack (a Treiber stack
 * of indices) and bumps the hub's event count.  The owner snapshots the
 * count, takes the whole stack with one exchange (no ABA: only the owner
 * pops, and each item is pushed once), and sleeps on the count only if it
 * still has to, so no completion is ever missed.  Ordered mode hands slots
 * out in index order; unordered mode hands them out through ready[] in
 * the order the owner drained them (each batch reversed back into
 * completion order).
 *
 * Timeouts: an item's clock starts when item_main runs, not when it was
 * submitted (the pool may queue it behind other work).  The owner keeps
 * check_at, a lower bound on the earliest deadline of any LIVE item:
 * min(deadlines of the items seen started, last scan + timeout), since an
 * item that starts after a scan expires after that bound.  Only once the
 * clock passes check_at does it scan live[] (O(window)), and it never
 * sleeps past check_at; so bodies need not wake the owner when they start.
 * Deadlines are enforced inside baton_stream_next, and an element already
 * available is handed out before any deadline is looked at (as Elixir's
 * stream emits buffered replies before it reads its mailbox).  With
 * BATON_STREAM_EXIT the expired item with the earliest deadline is the one
 * reported.
 *
 * Helping: as in baton__cell_wait, an owner that waits without a time
 * limit, or that is itself a pool worker, runs a queued item on its own
 * stack instead of sleeping, so a stream consumed inside a task on a
 * saturated pool cannot deadlock.  That item's timeout cannot be enforced
 * while it runs there.  A body run that way that calls back into its own
 * stream gets -EDEADLK from next (destroy ignores it).
 *
 * Who frees what: handing an element over marks its value taken
 * (baton__cell_outcome) and drops the stream's cell reference.  Abandoning
 * a cell (KILL_TASK, EXIT, destroy) asks it to stop, claims it if it is
 * still queued (its body then never runs), and drops the stream's
 * reference; the last unref, here or on the worker once the body returns,
 * frees a value nobody took through opts->destroy, exactly once (cell.c).
 * The stream frees its own arrays and its link in destroy; the hub goes
 * with its last reference.  A stream whose owner exited holds no cell
 * references any more (thread.c dropped them), so destroy from any thread
 * then frees only its memory.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "baton/stream.h"
#include "baton/supervisor.h"
#include "task_internal.h"

#define NSEC_PER_MSEC INT64_C(1000000)
#define NSEC_PER_SEC INT64_C(1000000000)
#define NONE SIZE_MAX

enum slot_state {
	SLOT_IDLE,
	SLOT_LIVE,
	SLOT_READY,
	SLOT_KILLED,
	SLOT_REFUSED,
	SLOT_GONE
};

struct hub;

/* Hub items come in chunks that never move: cells point at them. */
#define ITEM_CHUNK 64

struct hub_item {
	struct hub *hub;
	void *input;
	_Atomic int64_t started_ns; /* 0 until item_main runs */
	size_t done_next;           /* done-stack link: index + 1, 0 ends */
	size_t idx;                 /* its index */
	/*
	 * The body's end and an item_done that found the body still
	 * running each add one: the second drops the cell's hub reference.
	 */
	atomic_uint leaving;
	/* Linked to an owner that traps exits: its notices (a reference). */
	struct baton__links *links;
};

struct hub {
	atomic_size_t refs;
	struct ck_ec32 ev;       /* bumped once per finished item */
	atomic_size_t done_top;  /* done stack: index + 1, 0 when empty */
	baton_task_fn fn;
	bool timed;              /* record start times */
	/* The table grows on the owner only; nobody else reads it. */
	struct hub_item **chunks;
	size_t nchunks;
};

struct slot {
	struct baton__cell *cell; /* LIVE, READY: the stream's reference */
	size_t live_at;           /* LIVE: position in live[] */
	enum slot_state state;
};

struct baton_stream {
	struct baton__thread *owner; /* NULL until the first next() */
	struct baton__cell *link; /* owned by owner; freed when it exits */
	uint64_t link_gen;
	struct hub *hub;
	baton_pool *pool;
	baton_supervisor *sup;    /* supervised items: their group (a ref) */
	bool linked;              /* items send exit notices (link.h) */
	baton_destroy_fn destroy;
	size_t n;                 /* inputs known so far */
	size_t cap;               /* slots, ready and hub items allocated */
	baton_stream_gen_fn gen;  /* NULL: the inputs were an array */
	void *gen_ctx;
	bool ended;               /* every input is known (n is final) */
	size_t max;               /* the window */
	int64_t timeout_ns;       /* < 0: none */
	bool unordered;
	enum baton_stream_on_timeout on_timeout;

	size_t next_start;        /* first IDLE slot */
	size_t next_emit;         /* ordered: the next slot handed out */
	size_t emitted;
	bool over;                /* failed, or everything handed out */
	bool closed;              /* the pool refused a submission */
	bool busy;                /* inside next(): a helped body re-entered */
	int64_t check_at;         /* bound on the earliest LIVE deadline */

	struct slot *slots;       /* n */
	size_t *live;             /* max: indices of LIVE slots */
	size_t nlive;
	size_t *ready;            /* unordered: n, a FIFO of indices */
	size_t ready_head, ready_tail;
};

static const struct baton__reason timeout_reason = BATON__REASON(
    BATON_EXIT_TIMEOUT, ETIMEDOUT, "async_stream item timed out");

static const struct baton__reason refused_reason = BATON__REASON(
    BATON_EXIT_SHUTDOWN, EPIPE, "pool shut down before the item started");

static const struct baton__reason killed_reason = BATON__REASON(
    BATON_EXIT_KILLED, ECANCELED, "killed by its stream");

static const struct baton__reason max_children_reason = BATON__REASON(
    BATON_EXIT_ERROR, EAGAIN, "supervisor at max_children");

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

static void
hub_unref(struct hub *hub)
{
	/* acq_rel: the last holder sees every use the others made of it. */
	if (atomic_fetch_sub_explicit(&hub->refs, 1, memory_order_acq_rel) !=
	    1)
		return;
	for (size_t k = 0; k < hub->nchunks; k++)
		free(hub->chunks[k]);
	free(hub->chunks);
	free(hub);
}

/* Item i (owner only: reads the chunk table). */
static struct hub_item *
item_at(struct hub *hub, size_t i)
{
	return &hub->chunks[i / ITEM_CHUNK][i % ITEM_CHUNK];
}

/* The body of every item's cell: fn(input), with the clock started. */
static void *
item_main(void *arg)
{
	struct hub_item *it = arg;
	struct hub *hub = it->hub;
	void *value;

	if (hub->timed) {
		int64_t t = now_ns();

		/* relaxed: a timestamp; seeing it late only delays a scan. */
		atomic_store_explicit(&it->started_ns, t > 0 ? t : 1,
				      memory_order_relaxed);
	}
	value = hub->fn(it->input);
	/* An outside completion may have left the hub to us (item_done). */
	if (atomic_fetch_add_explicit(&it->leaving, 1, memory_order_acq_rel) ==
	    1)
		hub_unref(hub);
	return value;
}

/* on_done: runs once per cell, on the completing thread, after DONE. */
static void
item_done(struct baton__cell *cell, void *ctx)
{
	struct hub_item *it = ctx;
	struct hub *hub = it->hub;
	size_t idx = it->idx;
	/* relaxed: only a first guess for the CAS below. */
	size_t top = atomic_load_explicit(&hub->done_top, memory_order_relaxed);

	if (it->links != NULL) {
		/* Linked: a trapping owner hears of a failure (link.c). */
		baton__links_deliver(it->links, cell);
		baton__links_unref(it->links);
		it->links = NULL;
	}
	do {
		it->done_next = top;
		/* release: the drain that takes it sees the link and result. */
	} while (!atomic_compare_exchange_weak_explicit(
	    &hub->done_top, &top, idx + 1, memory_order_release,
	    memory_order_relaxed));
	baton__ec_signal(&hub->ev);
	/*
	 * Completed from outside (a supervised kill) while a worker is in
	 * item_main: the body still reads the hub, so the second of the two
	 * to leave drops the reference.  A body not yet entered never is:
	 * the kill asked it to stop first (baton__cell_kill).  acq_rel: the
	 * one that drops sees the other's use of the hub.
	 */
	if (baton__cell_in_body(cell) &&
	    atomic_fetch_add_explicit(&it->leaving, 1, memory_order_acq_rel) ==
		0)
		return;
	hub_unref(hub);
}

static bool
cell_done(struct baton__cell *cell)
{
	/* acquire: pairs with the completion's release store of DONE. */
	return atomic_load_explicit(&cell->state, memory_order_acquire) ==
	    BATON_TASK_DONE;
}

/* Stops waiting for a cell: its value, if nobody took it, is freed. */
static void
abandon(const struct baton_stream *s, struct baton__cell *cell)
{
	/* Unlinked first: an abandoned item sends no exit notice (link.c). */
	baton__disown(cell);
	if (!cell_done(cell)) {
		/*
		 * A supervised child leaves its group now, as Elixir's killed
		 * task does: settled KILLED, its body abandoned (the hub stays
		 * the body's until it ends: item_done).  Otherwise: a queued
		 * item is claimed here and completes without running; a
		 * running one is left to finish.
		 */
		if (s->sup != NULL)
			baton__cell_kill(cell, &killed_reason);
		else
			(void)baton__cell_stop_queued(cell);
	}
	baton__cell_unref(cell);
}

static void
live_add(struct baton_stream *s, size_t i)
{
	s->slots[i].live_at = s->nlive;
	s->live[s->nlive++] = i;
}

static void
live_remove(struct baton_stream *s, size_t i)
{
	size_t at = s->slots[i].live_at;
	size_t last = s->live[--s->nlive];

	s->live[at] = last;
	s->slots[last].live_at = at;
}

/* An element is ready to be handed out (unordered: queue it). */
static void
make_ready(struct baton_stream *s, size_t i, enum slot_state state)
{
	s->slots[i].state = state;
	if (s->unordered)
		s->ready[s->ready_tail++] = i;
}

static int
submit(struct baton_stream *s, size_t i)
{
	struct hub_item *it = item_at(s->hub, i);
	struct baton__cell *cell;
	int r;

	cell = baton__cell_alloc_body(item_main, it, "baton_stream",
				      s->destroy, 0);
	if (cell == NULL)
		return -ENOMEM;
	baton__cell_set_callers(cell, s->owner->tid);
	/* relaxed: the stream's own reference keeps the hub alive. */
	atomic_fetch_add_explicit(&s->hub->refs, 1, memory_order_relaxed);
	baton__own(s->owner, cell);
	/* On the owner thread: its own trap_exit setting decides. */
	it->links = s->linked ? baton__links_trapping() : NULL;
	if (s->sup != NULL) {
		r = baton__supervisor_adopt(s->sup, cell, s->pool, item_done,
					    it);
	} else {
		cell->on_done = item_done;
		cell->on_done_ctx = it;
		r = baton__pool_submit(s->pool, cell);
	}
	if (r != 0) {
		/* Never queued: on_done will not run, so drop its reference. */
		baton__disown(cell);
		baton__links_unref(it->links);
		it->links = NULL;
		/* relaxed: the stream's reference remains; never the last. */
		atomic_fetch_sub_explicit(&s->hub->refs, 1,
					  memory_order_relaxed);
		baton__cell_unref(cell);
		return r;
	}
	s->slots[i].cell = cell;
	s->slots[i].state = SLOT_LIVE;
	live_add(s, i);
	return 0;
}

/* Makes room for `need` inputs (owner only).  0 or -ENOMEM. */
static int
grow(struct baton_stream *s, size_t need)
{
	struct hub *hub = s->hub;
	size_t cap = s->cap, chunks;

	if (need <= cap)
		return 0;
	while (cap < need)
		cap = cap < ITEM_CHUNK ? ITEM_CHUNK : 2 * cap;
	chunks = (cap + ITEM_CHUNK - 1) / ITEM_CHUNK;
	if (chunks > hub->nchunks) {
		struct hub_item **t = realloc(hub->chunks,
					      chunks * sizeof(*t));

		if (t == NULL)
			return -ENOMEM;
		hub->chunks = t;
		while (hub->nchunks < chunks) {
			t[hub->nchunks] = baton__calloc(ITEM_CHUNK,
							sizeof(**t));
			if (t[hub->nchunks] == NULL)
				return -ENOMEM;
			hub->nchunks++;
		}
	}
	{
		struct slot *sl = realloc(s->slots, cap * sizeof(*sl));

		if (sl == NULL)
			return -ENOMEM;
		memset(sl + s->cap, 0, (cap - s->cap) * sizeof(*sl));
		s->slots = sl;
	}
	if (s->unordered) {
		size_t *r = realloc(s->ready, cap * sizeof(*r));

		if (r == NULL)
			return -ENOMEM;
		s->ready = r;
	}
	s->cap = cap;
	return 0;
}

/* Appends one input (room was made by grow). */
static void
add_input(struct baton_stream *s, void *input)
{
	struct hub_item *it = item_at(s->hub, s->n);

	it->hub = s->hub;
	it->input = input;
	atomic_init(&it->started_ns, 0);
	atomic_init(&it->leaving, 0);
	it->done_next = 0;
	it->links = NULL;
	it->idx = s->n++;
}

/*
 * Asks the generator for the next input, on demand.  true if one was
 * added; false at its end (then `ended`) or without memory (*r).
 */
static bool
pull(struct baton_stream *s, int *r)
{
	void *input;

	if (s->ended)
		return false;
	if ((*r = grow(s, s->n + 1)) != 0)
		return false;
	if (!s->gen(s->gen_ctx, &input)) {
		s->ended = true;
		return false;
	}
	add_input(s, input);
	return true;
}

/*
 * Starts items in index order until the window is full.  Once the pool
 * (or the supervisor: shut down) refuses one, every item left is
 * reported as refused.  Returns 0, -ENOMEM with the item left IDLE for
 * a later call to retry, or -EAGAIN: the supervisor is at max_children
 * (the item is left IDLE; the caller fails the stream).
 */
static int
refill(struct baton_stream *s)
{
	for (;;) {
		size_t i = s->next_start;
		int r = 0;

		if (i == s->n) {
			/*
			 * Pull an input only when it can start now (or, once
			 * the pool refused, when all before it were handed
			 * out): an endless generator is never drained.
			 */
			if (s->closed ? s->emitted < s->next_start
				      : s->nlive == s->max)
				break;
			if (!pull(s, &r)) {
				if (r != 0)
					return r;
				break;
			}
		}

		if (!s->closed) {
			if (s->nlive == s->max)
				break;
			r = submit(s, i);
			if (r == -EPIPE)
				s->closed = true;
			else if (r != 0)
				return r;
		}
		if (s->closed)
			make_ready(s, i, SLOT_REFUSED);
		s->next_start++;
	}
	return 0;
}

/* Takes every finished item off the done stack: LIVE becomes READY. */
static void
drain(struct baton_stream *s)
{
	struct hub *hub = s->hub;
	size_t top, prev = 0;

	/* acquire: pairs with item_done's release; results are visible. */
	top = atomic_exchange_explicit(&s->hub->done_top, 0,
				       memory_order_acquire);
	while (top != 0) { /* the stack is newest first: reverse it */
		size_t next = item_at(hub, top - 1)->done_next;

		item_at(hub, top - 1)->done_next = prev;
		prev = top;
		top = next;
	}
	for (top = prev; top != 0; top = item_at(hub, top - 1)->done_next) {
		size_t i = top - 1;

		/* Killed, or claimed by abandon(): not waited for any more. */
		if (s->slots[i].state != SLOT_LIVE)
			continue;
		live_remove(s, i);
		make_ready(s, i, SLOT_READY);
	}
}

/* The index of the element next() can hand out now, or NONE. */
static size_t
available(const struct baton_stream *s)
{
	enum slot_state st;

	if (s->unordered)
		return s->ready_head < s->ready_tail ? s->ready[s->ready_head]
						     : NONE;
	if (s->next_emit >= s->next_start)
		return NONE;
	st = s->slots[s->next_emit].state;
	return (st == SLOT_READY || st == SLOT_KILLED || st == SLOT_REFUSED)
	    ? s->next_emit
	    : NONE;
}

static void
emit(struct baton_stream *s, size_t i, struct baton_stream_item *item)
{
	struct slot *slot = &s->slots[i];

	item->index = i;
	item->input = item_at(s->hub, i)->input;
	item->value = NULL;
	/* Not a compound literal: a value's item writes no text. */
	baton__reason_clear(&item->reason);
	switch (slot->state) {
	case SLOT_READY:
		item->status = baton__cell_outcome(slot->cell, &item->value,
						   &item->reason);
		baton__disown(slot->cell);
		baton__cell_unref(slot->cell);
		slot->cell = NULL;
		break;
	case SLOT_KILLED:
		item->status = BATON_EXITED;
		baton__reason_export(&item->reason, &timeout_reason);
		break;
	default: /* SLOT_REFUSED */
		item->status = BATON_EXITED;
		baton__reason_export(&item->reason, &refused_reason);
		break;
	}
	slot->state = SLOT_GONE;
	if (s->unordered)
		s->ready_head++;
	else
		s->next_emit++;
	s->emitted++;
}

/* Abandons every cell the stream still holds; nothing new will start. */
static void
abandon_all(struct baton_stream *s)
{
	for (size_t i = 0; i < s->next_start; i++) {
		if (s->slots[i].cell != NULL) {
			abandon(s, s->slots[i].cell);
			s->slots[i].cell = NULL;
		}
		s->slots[i].state = SLOT_GONE;
	}
	s->nlive = 0;
	s->ready_head = s->ready_tail;
	s->next_start = s->n;
}

/*
 * Ends the stream on item `index`: *item reports it EXITED with reason,
 * the running items are stopped, and the stream is over.  Returns rc.
 */
static int
fail_stream(struct baton_stream *s, struct baton_stream_item *item,
	    size_t index, const struct baton__reason *reason, int rc)
{
	item->index = index;
	item->input = item_at(s->hub, index)->input;
	item->status = BATON_EXITED;
	item->value = NULL;
	baton__reason_export(&item->reason, reason);
	abandon_all(s);
	s->over = true;
	return rc;
}

/*
 * Scans the LIVE items for passed deadlines.  KILL_TASK abandons them and
 * queues them as timed out; EXIT fails the stream (-ETIMEDOUT, *item
 * names the item).  Recomputes check_at.
 */
static int
expire(struct baton_stream *s, int64_t now, struct baton_stream_item *item)
{
	int64_t bound = now + s->timeout_ns, worst_at = INT64_MAX;
	size_t worst = NONE;

	/* Backwards: live_remove moves an already visited entry into k. */
	for (size_t k = s->nlive; k-- > 0;) {
		size_t i = s->live[k];
		struct baton__cell *cell = s->slots[i].cell;
		/* relaxed: a timestamp; a late one only means a later scan. */
		int64_t started = atomic_load_explicit(
		    &item_at(s->hub, i)->started_ns, memory_order_relaxed);
		int64_t at = started + s->timeout_ns;

		if (started == 0)
			continue; /* it will expire after `bound` */
		if (at > now) {
			if (at < bound)
				bound = at;
			continue;
		}
		if (cell_done(cell))
			continue; /* its on_done is on the way */
		if (s->on_timeout == BATON_STREAM_EXIT) {
			if (at < worst_at || (at == worst_at && i < worst)) {
				worst_at = at;
				worst = i;
			}
			continue;
		}
		live_remove(s, i);
		abandon(s, cell);
		s->slots[i].cell = NULL;
		make_ready(s, i, SLOT_KILLED);
	}
	/*
	 * timeout 0: items not started yet expire as soon as they start, so
	 * the bound is `now`; look again a millisecond later, not at once.
	 */
	s->check_at = bound > now ? bound : now + NSEC_PER_MSEC;
	if (worst == NONE)
		return 0;
	return fail_stream(s, item, worst, &timeout_reason, -ETIMEDOUT);
}

/*
 * The supervisor was at max_children when an item had to start: as
 * Elixir's supervised stream exits, the stream fails (-EAGAIN, *item
 * names the item that could not start) and its running items are
 * stopped.
 */
static int
fail_max_children(struct baton_stream *s, struct baton_stream_item *item)
{
	return fail_stream(s, item, s->next_start, &max_children_reason,
			   -EAGAIN);
}

/* Runs a queued item on this thread if waiting could deadlock the pool. */
static bool
help(struct baton_stream *s)
{
	if (s->timeout_ns >= 0 && !baton__block_hooked())
		return false;
	for (size_t k = 0; k < s->nlive; k++) {
		size_t i = s->unordered ? s->live[k] : s->next_emit;
		struct baton__cell *cell = s->slots[i].cell;

		/* relaxed: a hint; baton__cell_run's CAS decides. */
		if (s->slots[i].state == SLOT_LIVE &&
		    atomic_load_explicit(&cell->state, memory_order_relaxed) ==
			BATON_TASK_QUEUED &&
		    baton__cell_run(cell))
			return true;
		if (!s->unordered)
			break; /* ordered: only the head is worth it */
	}
	return false;
}

static int
next_element(struct baton_stream *s, struct baton_stream_item *item)
{
	struct baton__deadline deadline = { .infinite = true };
	bool spun = false;

	for (;;) {
		uint32_t seen = ck_ec32_value(&s->hub->ev);
		size_t i;
		int r;

		drain(s);
		r = refill(s);
		if (r == -EAGAIN)
			return fail_max_children(s, item);
		if ((i = available(s)) != NONE) {
			emit(s, i, item);
			return 0;
		}
		if (s->ended && s->emitted == s->n) {
			s->over = true; /* the generator ran out */
			return -EPIPE;
		}
		if (s->timeout_ns >= 0) {
			int64_t now = now_ns();

			if (now >= s->check_at) {
				if (expire(s, now, item) != 0)
					return -ETIMEDOUT;
				continue; /* killed items may be ready now */
			}
			deadline.infinite = false;
			deadline.at = (struct timespec){
				(time_t)(s->check_at / NSEC_PER_SEC),
				(long)(s->check_at % NSEC_PER_SEC)
			};
		}
		/* Nothing to wait for: only a failed refill leaves that. */
		if (s->nlive == 0)
			return r != 0 ? r : -ENOMEM;
		if (help(s))
			continue;
		if (!spun) {
			spun = true;
			if (baton__spin_for_change(NULL, &s->hub->ev, seen))
				continue;
		}
		(void)baton__ec_wait(&s->hub->ev, seen, &deadline);
	}
}

/* Whether the calling thread owns s: same record, and still alive. */
static bool
owned_by_caller(const baton_stream *s)
{
	/* acquire: pairs with the generation's release when link is freed. */
	return s->owner != NULL && baton__thread_self() == s->owner &&
	    atomic_load_explicit(&s->link->gen, memory_order_acquire) ==
	    s->link_gen;
}

/*
 * The first next(): the calling thread becomes the owner.  Its link is a
 * finished, never-submitted cell it owns (see the design notes).
 */
static int
bind_owner(struct baton_stream *s)
{
	struct baton__thread *self = baton__thread_self();

	s->link = baton__cell_alloc();
	if (s->link == NULL)
		return -ENOMEM;
	/* relaxed: never submitted; only this thread and cell.c see it. */
	atomic_store_explicit(&s->link->state, BATON_TASK_DONE,
			      memory_order_relaxed);
	atomic_store_explicit(&s->link->label, "baton_stream",
			      memory_order_relaxed);
	baton__own(self, s->link);
	/* relaxed: our own allocation; we read back what alloc wrote. */
	s->link_gen = atomic_load_explicit(&s->link->gen, memory_order_relaxed);
	s->owner = self;
	return 0;
}

int
baton_stream_next(baton_stream *s, struct baton_stream_item *item)
{
	int r;

	if (s == NULL || item == NULL)
		return -EINVAL;
	if (s->owner == NULL && (r = bind_owner(s)) != 0)
		return r;
	if (!owned_by_caller(s))
		return -EPERM;
	if (s->busy)
		return -EDEADLK;
	if (s->over || (s->ended && s->emitted == s->n)) {
		s->over = true;
		return -EPIPE;
	}
	s->busy = true;
	r = next_element(s, item);
	s->busy = false;
	return r;
}

static void
stream_free(baton_stream *s)
{
	if (s->link != NULL && owned_by_caller(s)) {
		baton__disown(s->link);
		baton__cell_unref(s->link);
	}
	hub_unref(s->hub);
	baton__pool_unref(s->pool);
	if (s->sup != NULL)
		baton__supervisor_unref(s->sup);
	free(s->slots);
	free(s->live);
	free(s->ready);
	free(s);
}

/*
 * What every constructor shares: an empty, lazy stream.  sup: its items
 * are that supervisor's children (NULL: none); linked: a failed item
 * sends its owner an exit notice if the owner traps exits.
 */
static int
stream_new(baton_stream **out, baton_task_fn fn,
	   const struct baton_stream_opts *opts, size_t max_hint,
	   baton_supervisor *sup, bool linked)
{
	struct baton_stream_opts o = BATON_STREAM_OPTS_INIT;
	baton_stream *s;
	struct hub *hub;

	if (out != NULL)
		*out = NULL;
	if (opts != NULL)
		o = *opts;
	if (out == NULL || fn == NULL ||
	    baton__timeout_check(o.timeout_ms) != 0 ||
	    o.max_concurrency == 0 ||
	    (unsigned int)o.on_timeout > BATON_STREAM_KILL_TASK)
		return -EINVAL;
	/* As a supervised task's: its own pool, else the supervisor's. */
	if (o.pool == NULL && sup != NULL)
		o.pool = baton__supervisor_pool(sup);
	if (o.pool == NULL && (o.pool = baton_pool_default()) == NULL)
		return -ENOMEM;
	if (o.max_concurrency == BATON_SCHEDULERS) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		o.max_concurrency = cpus > 0 ? (unsigned int)cpus : 1;
	}
	hub = baton__calloc(1, sizeof(*hub));
	s = baton__calloc(1, sizeof(*s));
	if (hub == NULL || s == NULL) {
		free(hub);
		free(s);
		return -ENOMEM;
	}
	atomic_init(&hub->refs, 1);
	ck_ec32_init(&hub->ev, 0);
	atomic_init(&hub->done_top, 0);
	hub->fn = fn;
	hub->timed = o.timeout_ms != BATON_INFINITY;

	s->hub = hub;
	s->pool = o.pool;
	s->linked = linked;
	/*
	 * The pool's memory, and the supervisor's, outlive a destroy of
	 * either: later items then get -EPIPE.
	 */
	if ((s->sup = sup) != NULL)
		baton__supervisor_ref(sup);
	baton__pool_ref(s->pool);
	s->destroy = o.destroy;
	s->max = o.max_concurrency < max_hint ? o.max_concurrency : max_hint;
	s->unordered = o.unordered;
	s->on_timeout = o.on_timeout;
	s->timeout_ns = o.timeout_ms == BATON_INFINITY
	    ? -1
	    : (int64_t)o.timeout_ms * NSEC_PER_MSEC;
	/* No item has started yet: none can expire before this. */
	s->check_at = s->timeout_ns >= 0 ? now_ns() + s->timeout_ns
					 : INT64_MAX;
	s->live = baton__calloc(s->max > 0 ? s->max : 1, sizeof(*s->live));
	if (s->live == NULL) {
		stream_free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

static int
from_array(baton_stream **out, void *const *inputs, size_t n,
	   baton_task_fn fn, const struct baton_stream_opts *opts,
	   baton_supervisor *sup, bool linked)
{
	baton_stream *s;
	int r;

	if (n > 0 && inputs == NULL) {
		if (out != NULL)
			*out = NULL;
		return -EINVAL;
	}
	if ((r = stream_new(out, fn, opts, n, sup, linked)) != 0)
		return r;
	s = *out;
	if (grow(s, n) != 0) {
		stream_free(s);
		*out = NULL;
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		add_input(s, inputs[i]);
	s->ended = true;
	/* Lazy: nothing starts before the first next(). */
	return 0;
}

static int
from_gen(baton_stream **out, baton_stream_gen_fn gen, void *ctx,
	 baton_task_fn fn, const struct baton_stream_opts *opts,
	 baton_supervisor *sup, bool linked)
{
	int r;

	if (gen == NULL) {
		if (out != NULL)
			*out = NULL;
		return -EINVAL;
	}
	if ((r = stream_new(out, fn, opts, SIZE_MAX, sup, linked)) != 0)
		return r;
	(*out)->gen = gen;
	(*out)->gen_ctx = ctx;
	return 0;
}

int
baton_task_async_stream(baton_stream **out, void *const *inputs, size_t n,
			baton_task_fn fn, const struct baton_stream_opts *opts)
{
	return from_array(out, inputs, n, fn, opts, NULL, true);
}

int
baton_task_async_stream_gen(baton_stream **out, baton_stream_gen_fn gen,
			    void *ctx, baton_task_fn fn,
			    const struct baton_stream_opts *opts)
{
	return from_gen(out, gen, ctx, fn, opts, NULL, true);
}

/* A supervised stream needs its supervisor. */
static int
no_supervisor(baton_stream **out)
{
	if (out != NULL)
		*out = NULL;
	return -EINVAL;
}

int
baton_supervisor_async_stream(baton_supervisor *sup, baton_stream **out,
			      void *const *inputs, size_t n, baton_task_fn fn,
			      const struct baton_stream_opts *opts)
{
	return sup == NULL ? no_supervisor(out)
			   : from_array(out, inputs, n, fn, opts, sup, true);
}

int
baton_supervisor_async_stream_gen(baton_supervisor *sup, baton_stream **out,
				  baton_stream_gen_fn gen, void *ctx,
				  baton_task_fn fn,
				  const struct baton_stream_opts *opts)
{
	return sup == NULL ? no_supervisor(out)
			   : from_gen(out, gen, ctx, fn, opts, sup, true);
}

int
baton_supervisor_async_stream_nolink(baton_supervisor *sup,
				     baton_stream **out, void *const *inputs,
				     size_t n, baton_task_fn fn,
				     const struct baton_stream_opts *opts)
{
	return sup == NULL ? no_supervisor(out)
			   : from_array(out, inputs, n, fn, opts, sup, false);
}

int
baton_supervisor_async_stream_nolink_gen(
    baton_supervisor *sup, baton_stream **out, baton_stream_gen_fn gen,
    void *ctx, baton_task_fn fn, const struct baton_stream_opts *opts)
{
	return sup == NULL ? no_supervisor(out)
			   : from_gen(out, gen, ctx, fn, opts, sup, false);
}

void
baton_stream_destroy(baton_stream *s)
{
	if (s == NULL)
		return;
	/* acquire: pairs with the generation's release when link is freed. */
	if (s->owner == NULL ||
	    atomic_load_explicit(&s->link->gen, memory_order_acquire) !=
		s->link_gen) {
		/*
		 * Never read (nothing started), or the owner exited and
		 * released every cell: free the rest.
		 */
		stream_free(s);
		return;
	}
	/* Not the owner, or a body run by next() on the owner's stack. */
	if (baton__thread_self() != s->owner || s->busy)
		return;
	abandon_all(s);
	stream_free(s);
}
