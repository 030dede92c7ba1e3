/*
 * completion_set.c - a set of futures handed back in the order they
 * complete (Java's ExecutorCompletionService, tokio's JoinSet).
 *
 * Design notes
 * ============
 * State, all under `lock` (a baton__lock: the sections are a few
 * pointer moves):
 *
 *	head, tail   FIFO of entries whose future has completed and that
 *	             next() has not handed back yet
 *	size         futures added and not handed back (pending + in FIFO);
 *	             also read without the lock by baton_completion_set_size
 *	destroyed    set by destroy; callbacks that fire later see it
 *
 * An entry (one per add) holds the set's reference on its future.  add()
 * counts it in `size` first, then registers a completion callback on the
 * future whose context is the entry: the callback appends the entry to
 * the FIFO and bumps the `ready` event count (ck_ec32), which next()
 * sleeps on.  Counting before registering matters: the callback may run
 * at once, and a next() must never pop an entry that is not counted.
 * next() pops under the lock, so concurrent callers get different
 * futures; it returns -ENOENT when `size` is zero, and otherwise sleeps
 * on `ready` with the snapshot taken before it looked, so an append
 * between the look and the sleep wakes it (the append and the snapshot
 * are ordered by the lock).
 *
 * Lifetime.  The set's memory is shared by its owner and by every
 * callback not yet run: `refs` counts the owner (until destroy) plus one
 * per registered callback, and the last release frees it.  destroy()
 * never waits for pending futures: it marks the set destroyed and
 * releases the futures in the FIFO; a callback that fires afterwards
 * releases its own future and entry instead of appending.  So each
 * future reference the set took is released exactly once: by next()'s
 * caller (handed over), by destroy (completed, not handed back), or by
 * its late callback (pending at destroy).
 *
 * Ordering: a callback runs after its future's completion (cell.c), and
 * appends under the lock that next() pops under: the completion
 * happens-before next() returns the future.
 */
#include <stdlib.h>

#include "alloc.h"
#include "baton/combinators.h"
#include "cell.h"
#include "lock.h"

#define CELL(f) ((struct baton__cell *)(void *)(f))
#define FUTURE(c) ((baton_future *)(void *)(c))

struct entry {
	struct baton__cell *future;          /* the set's reference */
	struct baton_completion_set *set;
	struct entry *next;
};

struct baton_completion_set {
	struct baton__lock lock;
	struct entry *head, **tail;          /* completed, not handed back */
	atomic_size_t size;                  /* written under lock */
	bool destroyed;                      /* under lock */
	atomic_uint refs;                    /* owner + pending callbacks */
	struct ck_ec32 ready;                /* bumped on every append */
};

static void
set_release(struct baton_completion_set *set)
{
	/* acq_rel: the last holder sees every section of the others. */
	if (atomic_fetch_sub_explicit(&set->refs, 1, memory_order_acq_rel) ==
	    1)
		free(set);
}

int
baton_completion_set_create(baton_completion_set **out)
{
	struct baton_completion_set *set;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	set = baton__malloc(sizeof(*set));
	if (set == NULL)
		return -ENOMEM;
	set->lock = (struct baton__lock)BATON__LOCK_INIT;
	set->head = NULL;
	set->tail = &set->head;
	atomic_init(&set->size, 0);
	set->destroyed = false;
	atomic_init(&set->refs, 1); /* the owner's, until destroy */
	ck_ec32_init(&set->ready, 0);
	*out = set;
	return 0;
}

static void
entry_done(struct baton__cell *cell, void *arg)
{
	struct entry *e = arg;
	struct baton_completion_set *set = e->set;
	bool kept;

	(void)cell;
	baton__lock_acquire(&set->lock);
	kept = !set->destroyed;
	if (kept) {
		e->next = NULL;
		*set->tail = e;
		set->tail = &e->next;
	}
	baton__lock_release(&set->lock);
	if (kept) {
		/* The lock release above orders the append before the add. */
		baton__ec_signal(&set->ready);
	} else {
		/* Detached by destroy: ours to release (not the last ref). */
		baton__cell_unref(e->future);
		free(e);
	}
	set_release(set); /* this callback's count */
}

int
baton_completion_set_add(baton_completion_set *set, baton_future *f)
{
	struct baton__callback *node;
	struct entry *e;

	if (set == NULL || f == NULL)
		return -EINVAL;
	e = baton__malloc(sizeof(*e));
	node = baton__malloc(sizeof(*node));
	if (e == NULL || node == NULL) {
		free(e);
		free(node);
		return -ENOMEM;
	}
	*e = (struct entry){ baton__cell_ref(CELL(f)), set, NULL };
	/* relaxed: the owner's count keeps the set alive meanwhile. */
	atomic_fetch_add_explicit(&set->refs, 1, memory_order_relaxed);
	baton__lock_acquire(&set->lock);
	/* relaxed: written under the lock; size() only wants a snapshot. */
	atomic_store_explicit(&set->size,
			      atomic_load_explicit(&set->size,
						   memory_order_relaxed) + 1,
			      memory_order_relaxed);
	baton__lock_release(&set->lock);
	*node = (struct baton__callback){ entry_done, e, NULL };
	if (!baton__cell_add_callback(CELL(f), node)) {
		free(node);
		entry_done(CELL(f), e);
	}
	return 0;
}

int
baton_completion_set_next(baton_completion_set *set, int timeout_ms,
			  baton_future **out)
{
	struct baton__deadline deadline;
	bool started = false, expired = false;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (set == NULL || baton__timeout_check(timeout_ms) != 0)
		return -EINVAL;
	for (;;) {
		/* Before looking: an append after the look moves it. */
		uint32_t seen = ck_ec32_value(&set->ready);
		struct entry *e;
		size_t size;

		baton__lock_acquire(&set->lock);
		e = set->head;
		size = atomic_load_explicit(&set->size, memory_order_relaxed);
		if (e != NULL) {
			set->head = e->next;
			if (set->head == NULL)
				set->tail = &set->head;
			/* relaxed: written under the lock. */
			atomic_store_explicit(&set->size, size - 1,
					      memory_order_relaxed);
		}
		baton__lock_release(&set->lock);
		if (e != NULL) {
			*out = FUTURE(e->future); /* the set's reference */
			free(e);
			return 0;
		}
		if (size == 0)
			return -ENOENT;
		if (timeout_ms == 0 || expired)
			return -ETIMEDOUT;
		if (!started) {
			baton__deadline_init(&deadline, timeout_ms);
			started = true;
		}
		/* On a timeout, look once more: a late append still counts. */
		if (baton__ec_wait(&set->ready, seen, &deadline) != 0)
			expired = true;
	}
}

size_t
baton_completion_set_size(const baton_completion_set *set)
{
	if (set == NULL)
		return 0;
	/* relaxed: a snapshot; the count is written under the lock. */
	return atomic_load_explicit(
	    &((baton_completion_set *)(uintptr_t)set)->size,
	    memory_order_relaxed);
}

void
baton_completion_set_destroy(baton_completion_set *set)
{
	struct entry *e;

	if (set == NULL)
		return;
	baton__lock_acquire(&set->lock);
	set->destroyed = true;
	e = set->head;
	set->head = NULL;
	set->tail = &set->head;
	baton__lock_release(&set->lock);
	while (e != NULL) {
		struct entry *next = e->next;

		baton__cell_unref(e->future);
		free(e);
		e = next;
	}
	set_release(set); /* the owner's count */
}
