/*
 * cell.c - the result cell: one refcounted core behind strict tasks and
 * shareable futures, and the type-stable allocator that recycles cells.
 *
 * Design notes
 * ============
 * State machine (cell->state):
 *
 *	QUEUED --claim (CAS)--> RUNNING --complete--> DONE
 *
 * Exactly one thread wins the claim: a pool worker that popped the cell,
 * or an awaiter helping (running a queued cell itself instead of sleeping,
 * which is what keeps a saturated pool from deadlocking when tasks await
 * subtasks).  A cell asked to stop (CELL_STOP) before it was claimed never
 * runs its body: the claimer completes it as SHUTDOWN.  Completion writes
 * value and reason, then stores DONE with release semantics and bumps the
 * `done` event count, so every awaiter that sees DONE sees the result.
 *
 * References: the handle (task or future) holds one, the pool's queue
 * holds one until the worker that pops it is done with it.  The last
 * unref frees a value nobody took (CELL_TAKEN unset) through its
 * destructor, exactly once, then frees the cell.  So releasing a pending
 * handle never blocks: the result is freed when the body returns.  The
 * same last unref releases the cell's reason and body reason, which may
 * own a formatted text (reason.c): one count each, so a text is freed
 * once whichever cell, forwarded or not, goes last.
 *
 * Awaiting: an awaiter that may not run the body (a bounded wait from
 * outside the pool) spins on the `done` line only, then parks on it.
 * The cell's three cache lines (cell.h) keep that polling off the line
 * the worker writes while it claims, runs and completes the body, so a
 * spawn-await round trip moves few lines between cores.  The spin is a
 * fixed ~60 us when an idle worker is about to take the cell (a pickup,
 * at worst a futex wake-up, plus the body), else the pool's adaptive
 * budget: an adaptive budget alone learns from failed spins that parking
 * is cheaper, and once both sides park every handoff costs two wake-ups.
 *
 * Allocation: cells come from chunks that are never returned to malloc
 * while the process runs (type-stable memory).  A generation counter, odd
 * while the cell is in use, is bumped on every free and alloc; handles
 * carry it, so a stale handle is detected by reading memory that is still
 * a cell, never freed memory.  The same property lets introspection walk
 * every chunk without locks.  Each thread keeps a small cache of free
 * cells; the shared free list is touched once per CACHE_BATCH cells.
 *
 * Callers (Elixir's $callers): callers[0], the starting thread, sits in
 * the run line; the rest of the chain is copied from the body running on
 * the starting thread into a block of its own, so the chain never points
 * at another cell (a parent may be recycled long before its child ends).
 * Only cells started inside a body have a block.  Introspection reads a
 * block concurrently with the cell's free, so blocks are freed, and read,
 * under callers_lock; cells without one never take it.
 */
#include "cell.h"

#include <assert.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "lock.h"

#define CHUNK_CELLS 128
#define CALLBACKS_CLOSED ((struct baton__callback *)1)
#define CACHE_MAX 64
#define CACHE_BATCH 32

struct chunk {
	struct chunk *next;
	struct baton__cell cells[CHUNK_CELLS];
};

static_assert(sizeof(struct baton__cell) == 3 * BATON__CACHELINE,
	      "a cell is three cache lines");
static_assert(offsetof(struct baton__cell, done) == BATON__CACHELINE &&
		  offsetof(struct baton__cell, gen) == 2 * BATON__CACHELINE,
	      "the run, done and owner lines are separate");

/*
 * Under AddressSanitizer a free cell's run and done lines are poisoned,
 * so a stale future or promise pointer that reads or writes them is
 * reported; the owner line (generation, free-list link) stays readable,
 * as stale task handles and introspection read it.  And a freed cell
 * waits in a FIFO quarantine of QUARANTINE cells before it is reused, so
 * a stale pointer is caught even after later frees, not only until the
 * next allocation recycles the cell.
 */
#if defined(__SANITIZE_ADDRESS__)
#define CELL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CELL_ASAN 1
#endif
#endif
#ifdef CELL_ASAN
#include <sanitizer/asan_interface.h>
#define QUARANTINE 4096
#define POISONED_BYTES offsetof(struct baton__cell, gen)

static struct baton__lock quarantine_lock = BATON__LOCK_INIT;
static struct baton__cell *quarantine[QUARANTINE];
static size_t quarantine_next, quarantine_len;

/*
 * Poisons cell and queues it; returns the oldest quarantined cell to
 * reuse, or NULL.  Under the lock, which introspection holds while it
 * walks the cells, so it never reads a cell being poisoned.
 */
static struct baton__cell *
quarantine_swap(struct baton__cell *cell)
{
	struct baton__cell *out = NULL;

	baton__lock_acquire(&quarantine_lock);
	ASAN_POISON_MEMORY_REGION(cell, POISONED_BYTES);
	if (quarantine_len == QUARANTINE)
		out = quarantine[quarantine_next];
	else
		quarantine_len++;
	quarantine[quarantine_next] = cell;
	quarantine_next = (quarantine_next + 1) % QUARANTINE;
	baton__lock_release(&quarantine_lock);
	return out;
}
#endif

/*
 * Each thread's cache of free cells, and the hooks its executor installed
 * (initial-exec: read on every alloc, free and publish).
 */
#define FAST_TLS __attribute__((tls_model("initial-exec")))
struct cell_cache {
	unsigned int n;
	bool keyed;  /* its thread's exit will flush it (cache_key) */
	bool closed; /* flushed at thread exit: frees go to the shared list */
	struct baton__cell *cells[CACHE_MAX];
};
static _Thread_local struct cell_cache cache FAST_TLS;
/* The body running on this thread, innermost (helping nests them). */
static _Thread_local struct baton__cell *running FAST_TLS;
static pthread_key_t cache_key;
static bool cache_key_made;
static pthread_once_t cache_key_once = PTHREAD_ONCE_INIT;

struct baton__cell *
baton__cell_running(void)
{
	return running;
}

/* Thread exit: the cache goes back; later frees skip it. */
static void
cache_exit(void *arg)
{
	struct cell_cache *self = arg;

	baton__cell_cache_flush();
	self->closed = true;
}

static void
make_cache_key(void)
{
	/* Without the key a thread's cache is stranded at exit, not lost. */
	cache_key_made = baton__pthread_key_create(&cache_key, cache_exit) == 0;
}
static _Thread_local struct baton__cell_thread_hooks *thread_hooks FAST_TLS;

void
baton__cell_set_thread_hooks(struct baton__cell_thread_hooks *h)
{
	thread_hooks = h;
}

/* About to run code of the program's: the executor may need to know. */
static inline void
program_code(void)
{
	struct baton__cell_thread_hooks *h = thread_hooks;

	if (h != NULL)
		h->program_code(h);
}

/*
 * Chains past callers[0] are freed and read under this lock (see the
 * design notes).  `lost` stands for a chain whose memory ran out: only
 * callers[0] is known; it is never freed.
 */
static struct baton__lock callers_lock = BATON__LOCK_INIT;
static struct baton__callers lost_callers = { 0, true, { 0 } };

/* Prepend-only list of every chunk, walked by introspection. */
static _Atomic(struct chunk *) chunks;
static struct baton__lock free_lock = BATON__LOCK_INIT;
static struct baton__cell *free_list;

/* Refills the thread's cache from the shared list or a new chunk. */
static bool
refill(struct cell_cache *self)
{
	struct chunk *c;

	if (!self->keyed) {
		self->keyed = true;
		pthread_once(&cache_key_once, make_cache_key);
		if (cache_key_made)
			(void)pthread_setspecific(cache_key, self);
	}
	baton__lock_acquire(&free_lock);
	while (free_list != NULL && self->n < CACHE_BATCH) {
		self->cells[self->n++] = free_list;
		free_list = free_list->free_next;
	}
	baton__lock_release(&free_lock);
	if (self->n > 0)
		return true;

	/* Aligned: each cell's lines are its own (see cell.h). */
	c = baton__aligned_alloc(BATON__CACHELINE, sizeof(*c));
	if (c == NULL)
		return false;
	memset(c, 0, sizeof(*c));
	for (int i = CHUNK_CELLS - 1; i >= CACHE_BATCH; i--) {
		c->cells[i].free_next = (i + 1 < CHUNK_CELLS)
		    ? &c->cells[i + 1] : NULL;
	}
	baton__lock_acquire(&free_lock);
	c->cells[CHUNK_CELLS - 1].free_next = free_list;
	free_list = &c->cells[CACHE_BATCH];
	baton__lock_release(&free_lock);
	for (int i = 0; i < CACHE_BATCH; i++)
		self->cells[self->n++] = &c->cells[i];

	/* release: introspection that finds the chunk sees zeroed cells. */
	c->next = atomic_load_explicit(&chunks, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(&chunks, &c->next, c,
						      memory_order_release,
						      memory_order_relaxed))
		;
	return true;
}

struct baton__cell *
baton__cell_alloc(void)
{
	struct cell_cache *self = &cache;
	struct baton__cell *cell;

	/* The fail point: a test can fail an allocation the cache serves. */
	if (baton__fail_point() || (self->n == 0 && !refill(self)))
		return NULL;
	cell = self->cells[--self->n];
	/*
	 * release fence: the writer's half of baton__cell_still_live.  An
	 * introspecting reader that sees any field reset below and then
	 * fences sees the generation cell_free bumped, and drops what it read.
	 */
	BATON__SEQ_FENCE(memory_order_release);
#ifdef CELL_ASAN
	ASAN_UNPOISON_MEMORY_REGION(cell, POISONED_BYTES);
#else
	/* The next allocation's lines, while this one is filled in. */
	if (self->n > 0)
		baton__cell_prefetch(self->cells[self->n - 1], true);
#endif
	atomic_store_explicit(&cell->refs, 1, memory_order_relaxed);
	atomic_store_explicit(&cell->state, BATON_TASK_QUEUED,
			      memory_order_relaxed);
	atomic_store_explicit(&cell->flags, 0, memory_order_relaxed);
	ck_ec32_init(&cell->done, 0);
	atomic_store_explicit(&cell->published, 0, memory_order_relaxed);
	atomic_store_explicit(&cell->consumed, false, memory_order_relaxed);
	atomic_store_explicit(&cell->next, NULL, memory_order_relaxed);
	atomic_store_explicit(&cell->exec, NULL, memory_order_relaxed);
	atomic_store_explicit(&cell->fn, NULL, memory_order_relaxed);
	atomic_store_explicit(&cell->label, NULL, memory_order_relaxed);
	atomic_store_explicit(&cell->owner_tid, 0, memory_order_relaxed);
	atomic_store_explicit(&cell->caller_tid, 0, memory_order_relaxed);
	atomic_store_explicit(&cell->callers, NULL, memory_order_relaxed);
	cell->arg = NULL;
	cell->value = NULL;
	cell->destroy = NULL;
	cell->reason = baton__reason_normal;
	cell->body_reason = baton__reason_normal;
	atomic_store_explicit(&cell->callbacks, NULL, memory_order_relaxed);
	atomic_store_explicit(&cell->owner, NULL, memory_order_relaxed);
	cell->owned_prev = cell->owned_next = NULL;
	cell->listed = false;
	cell->outer = NULL;
	cell->on_done = NULL;
	cell->on_done_ctx = NULL;
	/*
	 * release: a reader that sees the odd generation sees the fields.
	 * A plain store, not an RMW: only the thread holding a free cell
	 * ever changes its generation.
	 */
	atomic_store_explicit(&cell->gen,
			      atomic_load_explicit(&cell->gen,
						   memory_order_relaxed) + 1,
			      memory_order_release);
	return cell;
}

struct baton__cell *
baton__cell_alloc_body(baton_task_fn fn, void *arg, const char *label,
		       baton_destroy_fn destroy, unsigned int flags)
{
	struct baton__cell *cell = baton__cell_alloc();

	if (cell == NULL)
		return NULL;
	baton__cell_set_body(cell, fn, arg, label, destroy);
	/* relaxed: published with the cell (its submission). */
	atomic_store_explicit(&cell->flags, flags, memory_order_relaxed);
	return cell;
}

void
baton__cell_set_body(struct baton__cell *cell, baton_task_fn fn, void *arg,
		     const char *label, baton_destroy_fn destroy)
{
	/* relaxed: published with the cell (its submission or handle). */
	atomic_store_explicit(&cell->fn, fn, memory_order_relaxed);
	cell->arg = arg;
	atomic_store_explicit(&cell->label, label, memory_order_relaxed);
	cell->destroy = destroy;
}

static void callers_free(struct baton__cell *cell);

/* Publishes a fresh cell's chain past callers[0]. */
static void
callers_publish(struct baton__cell *cell, struct baton__callers *ext)
{
	/* release: a reader that loads the pointer sees the block filled. */
	atomic_store_explicit(&cell->callers, ext, memory_order_release);
}

void
baton__cell_set_callers(struct baton__cell *cell, pid_t tid)
{
	struct baton__cell *parent = running;
	struct baton__callers *from, *ext;
	unsigned int keep;
	pid_t ptid;

	/* relaxed: published with the cell (its submission or handle). */
	atomic_store_explicit(&cell->caller_tid, tid, memory_order_relaxed);
	if (parent == NULL)
		return;
	/*
	 * relaxed: set before the parent was submitted, which this thread's
	 * claim of it saw; the running body keeps the parent and its block
	 * alive.
	 */
	ptid = atomic_load_explicit(&parent->caller_tid, memory_order_relaxed);
	if (ptid == 0)
		return;
	from = atomic_load_explicit(&parent->callers, memory_order_relaxed);
	if ((ext = baton__malloc(sizeof(*ext))) == NULL) {
		callers_publish(cell, &lost_callers);
		return;
	}
	/* The parent's caller, then its chain: nearest first. */
	ext->tids[0] = ptid;
	keep = from == NULL ? 0 : from->n;
	ext->truncated = from != NULL && from->truncated;
	if (keep > BATON_CALLERS_MAX - 2) {
		keep = BATON_CALLERS_MAX - 2; /* the oldest are dropped */
		ext->truncated = true;
	}
	if (keep > 0)
		memcpy(&ext->tids[1], from->tids, keep * sizeof(pid_t));
	ext->n = 1 + keep;
	callers_publish(cell, ext);
}

void
baton__cell_copy_callers(struct baton__cell *cell, struct baton__cell *from)
{
	/* relaxed: `from` is held by the caller, its chain fixed since. */
	struct baton__callers *src = atomic_load_explicit(
	    &from->callers, memory_order_relaxed);
	struct baton__callers *ext = src;

	callers_free(cell); /* a chain set_callers gave it */
	atomic_store_explicit(&cell->caller_tid,
			      atomic_load_explicit(&from->caller_tid,
						   memory_order_relaxed),
			      memory_order_relaxed);
	if (src != NULL && src != &lost_callers) {
		if ((ext = baton__malloc(sizeof(*ext))) == NULL)
			ext = &lost_callers;
		else
			*ext = *src;
	}
	if (ext != NULL)
		callers_publish(cell, ext);
}

/* Frees a cell's chain block, out of introspection's sight. */
static void
callers_free(struct baton__cell *cell)
{
	/* relaxed: the last reference's holder sees its own cell's fields. */
	struct baton__callers *ext = atomic_load_explicit(
	    &cell->callers, memory_order_relaxed);

	if (ext == NULL)
		return;
	baton__lock_acquire(&callers_lock);
	atomic_store_explicit(&cell->callers, NULL, memory_order_relaxed);
	baton__lock_release(&callers_lock);
	if (ext != &lost_callers)
		free(ext);
}

struct baton__cell *
baton__cell_alloc_done(void *value, baton_destroy_fn destroy)
{
	struct baton__cell *cell = baton__cell_alloc_pending();

	if (cell == NULL)
		return NULL;
	cell->destroy = destroy;
	baton__cell_settle(cell, value, &baton__reason_normal);
	return cell;
}

struct baton__cell *
baton__cell_alloc_pending(void)
{
	struct baton__cell *cell = baton__cell_alloc();

	/* relaxed: published with the cell itself. */
	if (cell != NULL)
		atomic_store_explicit(&cell->state, BATON_TASK_RUNNING,
				      memory_order_relaxed);
	return cell;
}

bool
baton__cell_requeue(struct baton__cell *cell)
{
	unsigned int running = BATON_TASK_RUNNING;

	/* acq_rel: against a cancel's claim of the completion. */
	return atomic_compare_exchange_strong_explicit(
	    &cell->state, &running, BATON_TASK_QUEUED, memory_order_acq_rel,
	    memory_order_relaxed);
}

void
baton__cell_publish_broken(struct baton__cell *cell,
			   const struct baton__reason *reason)
{
	/* relaxed: published by the release store of DONE. */
	atomic_fetch_or_explicit(&cell->flags, CELL_BROKEN,
				 memory_order_relaxed);
	cell->reason = *reason;
	baton__cell_publish(cell);
}

void
baton__cell_publish_failure_of(struct baton__cell *cell,
			       const struct baton__cell *input)
{
	/* relaxed: set before input's DONE, which the caller saw. */
	unsigned int how = atomic_load_explicit(&input->flags,
						memory_order_relaxed) &
	    (CELL_BROKEN | CELL_EXITED);

	/* relaxed: published by the release store of DONE. */
	if (how != 0)
		atomic_fetch_or_explicit(&cell->flags, how,
					 memory_order_relaxed);
	cell->value = NULL;
	/* Counted: input may be freed long before this cell. */
	baton__reason_copy(&cell->reason, &input->reason);
	baton__cell_publish(cell);
}

static void
cell_free(struct baton__cell *cell)
{
	struct cell_cache *self = &cache;

	callers_free(cell);
	/* release: stale handles and introspection see the cell as free. */
	atomic_store_explicit(&cell->gen,
			      atomic_load_explicit(&cell->gen,
						   memory_order_relaxed) + 1,
			      memory_order_release);
#ifdef CELL_ASAN
	if ((cell = quarantine_swap(cell)) == NULL)
		return;
#endif
	if (self->closed) {
		baton__lock_acquire(&free_lock);
		cell->free_next = free_list;
		free_list = cell;
		baton__lock_release(&free_lock);
		return;
	}
	if (self->n == CACHE_MAX) {
		baton__lock_acquire(&free_lock);
		while (self->n > CACHE_MAX - CACHE_BATCH) {
			struct baton__cell *c = self->cells[--self->n];

			c->free_next = free_list;
			free_list = c;
		}
		baton__lock_release(&free_lock);
	}
	self->cells[self->n++] = cell;
}

/* Returns the thread's cached cells to the shared list (thread exit). */
void
baton__cell_cache_flush(void)
{
	struct cell_cache *self = &cache;

	baton__lock_acquire(&free_lock);
	while (self->n > 0) {
		struct baton__cell *c = self->cells[--self->n];

		c->free_next = free_list;
		free_list = c;
	}
	baton__lock_release(&free_lock);
}

void
baton__cell_fork_prepare(void)
{
	baton__lock_acquire(&callers_lock);
	baton__lock_acquire(&free_lock);
}

void
baton__cell_fork_done(void)
{
	baton__lock_release(&free_lock);
	baton__lock_release(&callers_lock);
}

void
baton__cell_unref(struct baton__cell *cell)
{
	/* acq_rel: the last holder sees every write made under the others. */
	if (atomic_fetch_sub_explicit(&cell->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (atomic_load_explicit(&cell->state, memory_order_relaxed) ==
		BATON_TASK_DONE &&
	    !(atomic_load_explicit(&cell->flags, memory_order_relaxed) &
	      CELL_TAKEN) &&
	    cell->value != NULL && cell->destroy != NULL) {
		program_code();
		cell->destroy(cell->value);
	}
	/*
	 * The texts this cell holds (a forward holds its own count).  Test
	 * first: a value's cell, the common case, makes no call; alloc
	 * resets both reasons anyway.
	 */
	if (cell->reason.owned)
		baton__reason_release(&cell->reason);
	if (cell->body_reason.owned)
		baton__reason_release(&cell->body_reason);
	cell_free(cell);
}

static void
run_callbacks(struct baton__cell *cell)
{
	/* acq_rel: take every registration; later ones see CLOSED. */
	struct baton__callback *list = atomic_exchange_explicit(
	    &cell->callbacks, CALLBACKS_CLOSED, memory_order_acq_rel);
	struct baton__callback *ordered = NULL;

	if (list != NULL)
		program_code();
	while (list != NULL) { /* a stack: reverse into registration order */
		struct baton__callback *next = list->next;

		list->next = ordered;
		ordered = list;
		list = next;
	}
	while (ordered != NULL) {
		struct baton__callback *next = ordered->next;

		ordered->fn(cell, ordered->ctx);
		free(ordered);
		ordered = next;
	}
}

bool
baton__cell_add_callback(struct baton__cell *cell, struct baton__callback *cb)
{
	/* acquire: a CLOSED list means the completion is visible. */
	struct baton__callback *head = atomic_load_explicit(
	    &cell->callbacks, memory_order_acquire);

	do {
		if (head == CALLBACKS_CLOSED)
			return false;
		cb->next = head;
		/* release: the node is complete before it is reachable. */
	} while (!atomic_compare_exchange_weak_explicit(
	    &cell->callbacks, &head, cb, memory_order_release,
	    memory_order_acquire));
	return true;
}

bool
baton__cell_claim_completion(struct baton__cell *cell)
{
	unsigned int expected = BATON_TASK_RUNNING;

	/* acquire: the winner alone fills the result. */
	return atomic_compare_exchange_strong_explicit(
	    &cell->state, &expected, CELL_COMPLETING, memory_order_acquire,
	    memory_order_relaxed);
}

void
baton__cell_publish(struct baton__cell *cell)
{
	struct baton__cell_thread_hooks *h = thread_hooks;

	/*
	 * A worker finishing its outermost body goes back to look for work
	 * right after this; saying so before DONE is visible spares the
	 * owner's next submission a wake-up (pool.c, "The watch").
	 */
	if (h != NULL)
		h->publishing(h, cell);
	/* release: whoever sees DONE sees value, reason and flags. */
	atomic_store_explicit(&cell->state, BATON_TASK_DONE,
			      memory_order_release);
	if (cell->on_done != NULL)
		cell->on_done(cell, cell->on_done_ctx);
	run_callbacks(cell);
	/* release: an awaiter that sees it sees the whole completion. */
	atomic_store_explicit(&cell->published, 1, memory_order_release);
	baton__ec_signal(&cell->done);
}

bool
baton__cell_settle(struct baton__cell *cell, void *value,
		   const struct baton__reason *reason)
{
	if (!baton__cell_claim_completion(cell))
		return false;
	cell->value = value;
	cell->reason = *reason;
	baton__cell_publish(cell);
	return true;
}

const struct baton__reason baton__cancelled =
    BATON__REASON(BATON_EXIT_SHUTDOWN, ECANCELED, "cancelled");

bool
baton__cell_settle_cancelled(struct baton__cell *cell)
{
	if (!baton__cell_claim_completion(cell))
		return false;
	cell->value = NULL;
	cell->reason = baton__cancelled;
	/* relaxed: published with DONE. */
	atomic_fetch_or_explicit(&cell->flags, CELL_CANCEL_WON,
				 memory_order_relaxed);
	baton__cell_publish(cell);
	return true;
}

/*
 * The body returned value; `flags` are the cell's flags as the body's
 * end cleared IN_BODY (one RMW: a cancel either came before it, and voids
 * the result, or after it, and finds no body running).
 */
static void
complete_from_body(struct baton__cell *cell, void *value, unsigned int flags)
{
	/* Moved out: the body's text is now this call's to pass or drop. */
	struct baton__reason reason = cell->body_reason;

	cell->body_reason = baton__reason_normal;
	if (flags & CELL_CANCELLED) {
		/* A future cancel voids whatever the body returns. */
		if (value != NULL && cell->destroy != NULL)
			cell->destroy(value);
		baton__reason_release(&reason);
		baton__cell_settle_cancelled(cell);
		return;
	}
	if (reason.kind != BATON_EXIT_NORMAL) {
		/* The body exited with a reason: its return value is nobody's. */
		if (value != NULL && cell->destroy != NULL)
			cell->destroy(value);
		value = NULL;
	}
	if (!baton__cell_settle(cell, value, &reason)) {
		/* Someone else completed it first: value and text are ours. */
		baton__reason_release(&reason);
		if (value != NULL && cell->destroy != NULL)
			cell->destroy(value);
	}
}

bool
baton__cell_run(struct baton__cell *cell)
{
	static const struct baton__reason stopped = BATON__REASON(
	    BATON_EXIT_SHUTDOWN, ECANCELED, "stopped before it ran");
	unsigned int expected = BATON_TASK_QUEUED;
	struct baton__exec *ex;
	struct baton__cell *outer;
	unsigned int flags;
	void *value;

	/* acq_rel: one claimer; it sees what the spawner wrote. */
	if (!atomic_compare_exchange_strong_explicit(
		&cell->state, &expected, BATON_TASK_RUNNING,
		memory_order_acq_rel, memory_order_relaxed))
		return false;
	/*
	 * Announce the body unless a stop came first, by a CAS on `flags`:
	 * the stop is a read-modify-write of the same word, so a canceller
	 * either sees IN_BODY (and waits for it to clear) or we see STOP.
	 * IN_BODY is never set for a body that will not run, not even for
	 * a moment: an on_done that finds it set after an outside
	 * completion knows the body still runs (stream.c's item_done).
	 * acq_rel on success, acquire on a failure or a stop seen: the
	 * stopper's writes are ours either way.
	 */
	flags = atomic_load_explicit(&cell->flags, memory_order_acquire);
	while (!(flags & CELL_STOP) &&
	       !atomic_compare_exchange_weak_explicit(
		   &cell->flags, &flags, flags | CELL_IN_BODY,
		   memory_order_acq_rel, memory_order_acquire))
		;
	if (flags & CELL_STOP) {
		/* Counted as cancelled when the stop was requested. */
		if (flags & CELL_CANCELLED)
			baton__cell_settle_cancelled(cell);
		else
			baton__cell_settle(cell, NULL, &stopped);
		return true;
	}
	/*
	 * The chain of bodies on this thread, for -EDEADLK; `outer` is
	 * written only when nested, so the worker's outermost body leaves
	 * the owner's line alone (alloc set it NULL).
	 */
	outer = running;
	if (outer != NULL)
		cell->outer = outer;
	running = cell;
	value = atomic_load_explicit(&cell->fn, memory_order_relaxed)(cell->arg);
	running = outer;
	/* relaxed: set at submit, before the claim this thread made. */
	ex = atomic_load_explicit(&cell->exec, memory_order_relaxed);
	if (ex != NULL)
		ex->ops->count_outcome(ex, &cell->body_reason);
	/*
	 * acq_rel: cancel_wait, seeing it clear, sees the body's effects;
	 * and the old flags decide whether a cancel came first.
	 */
	flags = atomic_fetch_and_explicit(&cell->flags, ~CELL_IN_BODY,
					  memory_order_acq_rel);
	complete_from_body(cell, value, flags);
	return true;
}

unsigned int
baton__cell_stop(struct baton__cell *cell, unsigned int also)
{
	/* acq_rel: pairs with baton__cell_run's announcement of the body. */
	unsigned int old = atomic_fetch_or_explicit(
	    &cell->flags, CELL_STOP | also, memory_order_acq_rel);

	struct baton__exec *ex;

	if (!(old & CELL_STOP) &&
	    atomic_load_explicit(&cell->state, memory_order_relaxed) !=
		BATON_TASK_DONE &&
	    (ex = atomic_load_explicit(&cell->exec, memory_order_relaxed)) !=
		NULL)
		ex->ops->count_cancel(ex);
	return old;
}

void
baton__cell_kill(struct baton__cell *cell, const struct baton__reason *reason)
{
	static const struct baton__deadline never = { .infinite = true };

	/* A claim here sees our own CELL_STOP: never runs the body. */
	if (!baton__cell_stop_queued(cell))
		(void)baton__cell_settle(cell, NULL, reason);
	/*
	 * Whoever won the completion has published it, or is publishing it
	 * now: this thread, a worker that claimed the cell and then saw our
	 * stop, the body's own end, or another kill (whose settle can beat
	 * the stop path of a claim made here: tests/models/stream_hub.pml
	 * found that).  Wait for on_done and the callbacks, so the cell has
	 * ended when this call returns, whoever ended it.
	 */
	while (!baton__cell_published(cell)) {
		uint32_t seen = ck_ec32_value(&cell->done);

		if (baton__cell_published(cell))
			break;
		(void)baton__ec_wait(&cell->done, seen, &never);
	}
}

/*
 * How long an awaiter spins for an idle worker to take its cell: a futex
 * wake-up takes 30-60 us here.
 */
#define PICKUP_SPIN_NS 60000L

/*
 * Spins until `done` moves from `seen`; true if it did.  Never past the
 * deadline: a poll (timeout 0) does not spin at all.
 */
static bool
spin_for_publish(struct baton__cell *cell, uint32_t seen,
		 const struct baton__deadline *deadline)
{
	struct baton__exec *ex = atomic_load_explicit(&cell->exec,
						      memory_order_relaxed);
	long left = baton__deadline_left_ns(deadline, PICKUP_SPIN_NS);

	if (left == 0)
		return false;
	if (left < PICKUP_SPIN_NS || (ex != NULL && ex->ops->pickup_soon(ex)))
		return baton__spin_for_change_ns(&cell->done, seen, left);
	return baton__spin_for_change(
	    ex != NULL ? ex->ops->await_spinner(ex) : NULL, &cell->done,
	    seen);
}

int
baton__cell_wait(struct baton__cell *cell,
		 const struct baton__deadline *deadline, bool may_help)
{
	bool help = may_help &&
	    (deadline->infinite || baton__block_hooked());
	bool spun = false;

	for (;;) {
		uint32_t seen = ck_ec32_value(&cell->done);
		unsigned int s;

		if (baton__cell_published(cell))
			return 0;
		if (!help && !spun) {
			spun = true;
			/*
			 * Spin on the done line only, so the worker keeps the
			 * run line to itself (cell.h).  With an idle worker to
			 * take the cell, the wait is a pickup (at worst a
			 * wake-up) plus the body: a fixed spin.  Otherwise the
			 * pool's adaptive budget, which learns how long bodies
			 * take.
			 */
			if (spin_for_publish(cell, seen, deadline))
				continue;
		}
		/*
		 * acquire: pairs with the release store of DONE, which comes
		 * before the callbacks run (one may await its own cell).
		 */
		s = atomic_load_explicit(&cell->state, memory_order_acquire);
		if (s == BATON_TASK_DONE)
			return 0;
		if (s == BATON_TASK_QUEUED && help && baton__cell_run(cell)) {
			struct baton__exec *ex = atomic_load_explicit(
			    &cell->exec, memory_order_relaxed);

			/* Helpers outrun workers: keep the queue from piling up. */
			if (ex != NULL)
				ex->ops->reap(ex, 8);
			/*
			 * Not `return 0`: a cancel may have won the completion
			 * while we ran the stop path, and be still filling the
			 * result (SPIN model tests/models/result_cell.pml found
			 * this).  Look again: DONE, or wait for its publish.
			 */
			continue;
		}
		if (!spun) {
			spun = true;
			if (spin_for_publish(cell, seen, deadline))
				continue;
		}
		if (baton__ec_wait(&cell->done, seen, deadline) != 0)
			return atomic_load_explicit(&cell->state,
						    memory_order_acquire) ==
				BATON_TASK_DONE
			    ? 0
			    : -ETIMEDOUT;
	}
}

int
baton__cell_outcome(struct baton__cell *cell, void **value,
		    struct baton_exit_reason *reason)
{
	/*
	 * One RMW, not a load and then an RMW: the run line is fetched once
	 * and for writing.  Marking TAKEN before looking is harmless: a
	 * failed or broken cell's value is NULL (an exited one's is undone
	 * below).  relaxed: BROKEN was set
	 * before the completion the caller observed; only the unref that
	 * frees the cell reads TAKEN.
	 */
	unsigned int flags =
	    value != NULL ? atomic_fetch_or_explicit(&cell->flags, CELL_TAKEN,
						     memory_order_relaxed)
			  : atomic_load_explicit(&cell->flags,
						 memory_order_relaxed);

	if (flags & CELL_BROKEN)
		return -EPIPE;
	if (cell->reason.kind != BATON_EXIT_NORMAL || (flags & CELL_EXITED)) {
		/*
		 * An exit with reason NORMAL keeps what its body returned:
		 * not taken, so the last unref frees it.  relaxed: as above.
		 */
		if ((flags & CELL_EXITED) && value != NULL &&
		    !(flags & CELL_TAKEN))
			atomic_fetch_and_explicit(&cell->flags, ~CELL_TAKEN,
						  memory_order_relaxed);
		if (reason != NULL)
			baton__reason_export(reason, &cell->reason);
		return BATON_EXITED;
	}
	if (value != NULL)
		*value = cell->value;
	return 0;
}

/* Copies the callers chain into a snapshot (zeroed by the caller). */
static void
callers_info(struct baton__cell *cell, struct baton_task_info *info)
{
	/* relaxed: a snapshot; the chain is fixed before it is shared. */
	pid_t tid = atomic_load_explicit(&cell->caller_tid,
					 memory_order_relaxed);
	struct baton__callers *ext;

	if (tid == 0)
		return;
	info->callers[0] = tid;
	info->ncallers = 1;
	/* relaxed: only a hint that the lock is worth taking. */
	if (atomic_load_explicit(&cell->callers, memory_order_relaxed) == NULL)
		return;
	baton__lock_acquire(&callers_lock);
	/* acquire: pairs with callers_publish; under the lock, not freed. */
	ext = atomic_load_explicit(&cell->callers, memory_order_acquire);
	if (ext != NULL) {
		unsigned int n = ext->n < BATON_CALLERS_MAX - 1
		    ? ext->n
		    : BATON_CALLERS_MAX - 1;

		memcpy(&info->callers[1], ext->tids, n * sizeof(pid_t));
		info->ncallers = 1 + n;
		info->callers_truncated = ext->truncated;
	}
	baton__lock_release(&callers_lock);
}

void
baton__cell_info(struct baton__cell *cell, struct baton_task_info *info)
{
	const void *fn;
	Dl_info dl;

	fn = (const void *)(uintptr_t)atomic_load_explicit(
	    &cell->fn, memory_order_relaxed);
	memset(info, 0, sizeof(*info));
	info->fn = fn;
	info->label = atomic_load_explicit(&cell->label, memory_order_relaxed);
	info->owner_tid = atomic_load_explicit(&cell->owner_tid,
					       memory_order_relaxed);
	info->state = (enum baton_task_state)atomic_load_explicit(
	    &cell->state, memory_order_relaxed);
	if ((unsigned int)info->state == CELL_COMPLETING)
		info->state = BATON_TASK_RUNNING;
	info->stop_requested = atomic_load_explicit(
				   &cell->flags, memory_order_relaxed) &
	    CELL_STOP;
	callers_info(cell, info);
	if (fn != NULL && dladdr(fn, &dl) != 0 && dl.dli_sname != NULL)
		snprintf(info->function, sizeof(info->function), "%s",
			 dl.dli_sname);
	else
		snprintf(info->function, sizeof(info->function), "%p", fn);
}

void
baton__cell_for_each_live(struct baton__exec *ex,
			  void (*fn)(struct baton__cell *, uint64_t, void *),
			  void *ctx)
{
#ifdef CELL_ASAN
	/* A cell seen live is not poisoned while we read it (see above). */
	baton__lock_acquire(&quarantine_lock);
#endif
	/* acquire: pairs with refill's release; the chunk is initialised. */
	for (struct chunk *c = atomic_load_explicit(&chunks,
						    memory_order_acquire);
	     c != NULL; c = c->next) {
		for (int i = 0; i < CHUNK_CELLS; i++) {
			struct baton__cell *cell = &c->cells[i];
			/* acquire: pairs with alloc's release of the gen. */
			uint64_t gen = atomic_load_explicit(
			    &cell->gen, memory_order_acquire);

			if (!(gen & 1))
				continue;
			/* acquire: pairs with the submitter's release, so the
			 * chain set before the cell was submitted is seen. */
			if (ex != NULL &&
			    atomic_load_explicit(&cell->exec,
						 memory_order_acquire) != ex)
				continue;
			fn(cell, gen, ctx);
		}
	}
#ifdef CELL_ASAN
	baton__lock_release(&quarantine_lock);
#endif
}
