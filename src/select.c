/*
 * select.c - waiting on several queues (push and pop cases) and futures
 * at once, Go's select.
 *
 * Design notes
 * ============
 * A select first tries every case once, without waiting, starting at a
 * random case so that no case starves; the first that can proceed fires
 * (a push or pop that moved its item, a queue found closed, a completed
 * future).  Only that case touches its queue: the others are never
 * attempted after one fired, so no item is taken for a case not chosen.
 *
 * To wait, the select links one waiter record per queue case into that
 * queue's line (waitq.c), all sharing one word, each tagged with its case
 * index; for a future case it registers an on_done callback that claims
 * the same word.  Whichever event claims the word first (a line's wake,
 * close, a rendezvous partner, a future's completion, the deadline) wins;
 * the others find it claimed and move on to their next waiter, so a
 * queue wakes a selector at most once.  The select then unlinks every
 * record, and tries the case whose line woke it first (a wake is owed to
 * an item there; trying another case first could strand that item with
 * other sleepers), then the others from a new random start.  A rendezvous
 * partner moves the item through the record itself (HANDED): that case
 * fired.
 *
 * The word lives in a small heap block, not on the stack, because a future
 * callback can run long after the select returned (on_done cannot be
 * withdrawn): the block is reference-counted, one reference for the
 * select and one per registered callback.  A future that never completes
 * keeps its callbacks, one block per select call that waited on it.
 *
 * Layering: select stands above both things it waits on.  The queue
 * (queue/) is a floor below it and knows nothing of select beyond the
 * tag a waiter record carries: this file links records into a queue's
 * lines and attempts through the queue's internal verbs (queue_impl.h,
 * waitq.h).  Futures (future.c) are another floor below it, used through
 * their public API only (is_done, on_done), never the cell.  No lower
 * layer calls up into this file.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "alloc.h"
#include "baton/future.h"
#include "queue_impl.h"

#define MAX_CASES 64

struct select_state {
	atomic_uint word;
	atomic_uint refs;
};

static void
state_unref(struct select_state *st)
{
	/* acq_rel: the last owner sees every other owner's accesses. */
	if (atomic_fetch_sub_explicit(&st->refs, 1, memory_order_acq_rel) == 1)
		free(st);
}

/* A future case's on_done: claims the select's word for its case. */
struct future_hook {
	struct select_state *st;
	unsigned tag;
};

static void
future_done(baton_future *f, void *ctx)
{
	struct future_hook *h = ctx;

	(void)f;
	baton__waiter_claim(&h->st->word,
			    BATON__W_WOKEN | h->tag << BATON__W_TAG_SHIFT);
	state_unref(h->st);
	free(h);
}

static unsigned
random_start(size_t n)
{
	static _Thread_local uint64_t x;

	if (x == 0) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		x = (uint64_t)(uintptr_t)&x ^ (uint64_t)ts.tv_nsec ^
		    ((uint64_t)ts.tv_sec << 32) ^ 0x9e3779b97f4a7c15ull;
	}
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return (unsigned)(x % n);
}

/* Tries case i without waiting; true if it fired (c->result set). */
static bool
try_case(struct baton_queue_case *c)
{
	ptrdiff_t r;

	switch (c->kind) {
	case BATON_QUEUE_CASE_PUSH:
	case BATON_QUEUE_CASE_POP:
		if (c->queue == NULL)
			return false;
		r = baton__attempt(c->queue,
				   c->kind == BATON_QUEUE_CASE_PUSH ? BATON__PUSH
								    : BATON__POP,
				   &c->item, 1);
		if (r == 0)
			return false;
		c->result = r > 0 ? 0 : (int)r;
		return true;
	case BATON_QUEUE_CASE_FUTURE:
		if (c->future == NULL || !baton_future_is_done(c->future))
			return false;
		c->result = 0;
		return true;
	default:
		return false;
	}
}

/* One round over every case from `first`; the index that fired, or -1. */
static int
try_all(struct baton_queue_case *cases, size_t n, size_t first)
{
	for (size_t k = 0; k < n; k++) {
		size_t i = (first + k) % n;

		if (try_case(&cases[i]))
			return (int)i;
	}
	return -1;
}

static bool
case_ready(struct baton_queue_case *c)
{
	switch (c->kind) {
	case BATON_QUEUE_CASE_PUSH:
		return c->queue != NULL && baton__ready(c->queue, BATON__PUSH);
	case BATON_QUEUE_CASE_POP:
		return c->queue != NULL && baton__ready(c->queue, BATON__POP);
	case BATON_QUEUE_CASE_FUTURE:
		return c->future != NULL && baton_future_is_done(c->future);
	default:
		return false;
	}
}

/* The lock that guards a case's line: a rendezvous uses one for both. */
static struct baton__lock *
line_lock(baton_queue *q, enum baton__dir dir)
{
	return q->capacity == 0 ? &q->pushers.lock : &baton__line(q, dir)->lock;
}

static enum baton__dir
dir_of(const struct baton_queue_case *c)
{
	return c->kind == BATON_QUEUE_CASE_PUSH ? BATON__PUSH : BATON__POP;
}

static int
check_cases(const struct baton_queue_case *cases, size_t n)
{
	if (cases == NULL || n == 0 || n > MAX_CASES)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		const struct baton_queue_case *c = &cases[i];

		switch (c->kind) {
		case BATON_QUEUE_CASE_PUSH:
		case BATON_QUEUE_CASE_POP:
			/* A select cannot be its own rendezvous partner. */
			for (size_t j = 0; c->queue != NULL &&
			     c->queue->capacity == 0 && j < n; j++)
				if (cases[j].queue == c->queue &&
				    cases[j].kind != c->kind &&
				    cases[j].kind != BATON_QUEUE_CASE_FUTURE)
					return -EINVAL;
			break;
		case BATON_QUEUE_CASE_FUTURE:
			break;
		default:
			return -EINVAL;
		}
	}
	return 0;
}

/* Counts the select among each queue's blocked callers (destroy waits). */
static void
count_blocked(struct baton_queue_case *cases, size_t n, int delta)
{
	for (size_t i = 0; i < n; i++) {
		if (cases[i].kind == BATON_QUEUE_CASE_FUTURE ||
		    cases[i].queue == NULL)
			continue;
		if (delta > 0)
			/* relaxed: as in wait_and_transfer. */
			atomic_fetch_add_explicit(&cases[i].queue->blocked, 1,
						  memory_order_relaxed);
		else
			/* release: our last access happens-before a free. */
			atomic_fetch_sub_explicit(&cases[i].queue->blocked, 1,
						  memory_order_release);
	}
}

/*
 * Links the records; returns false (nothing left linked) if a rendezvous
 * partner was already waiting, so that the caller tries again at once.
 */
static void
link_all(struct baton_queue_case *cases, size_t n, struct baton__waiter *w,
	 struct select_state *st)
{
	for (size_t i = 0; i < n; i++) {
		struct baton_queue_case *c = &cases[i];

		w[i] = (struct baton__waiter){ .word = &st->word,
					       .tag = (unsigned)i };
		if (c->kind == BATON_QUEUE_CASE_FUTURE || c->queue == NULL)
			continue;
		baton__lock_acquire(line_lock(c->queue, dir_of(c)));
		if (c->kind == BATON_QUEUE_CASE_PUSH)
			w[i].item = c->item;
		baton__waitq_link_locked(baton__line(c->queue, dir_of(c)),
					 &w[i]);
		baton__lock_release(line_lock(c->queue, dir_of(c)));
	}
}

static void
unlink_all(struct baton_queue_case *cases, size_t n, struct baton__waiter *w)
{
	for (size_t i = 0; i < n; i++) {
		struct baton_queue_case *c = &cases[i];

		if (c->kind == BATON_QUEUE_CASE_FUTURE || c->queue == NULL)
			continue;
		baton__lock_acquire(line_lock(c->queue, dir_of(c)));
		baton__waitq_unlink_locked(baton__line(c->queue, dir_of(c)),
					   &w[i]);
		baton__lock_release(line_lock(c->queue, dir_of(c)));
	}
}

/* Registers the future cases' callbacks; -ENOMEM if one cannot be. */
static int
hook_futures(struct baton_queue_case *cases, size_t n,
	     struct select_state *st)
{
	for (size_t i = 0; i < n; i++) {
		struct future_hook *h;

		if (cases[i].kind != BATON_QUEUE_CASE_FUTURE ||
		    cases[i].future == NULL)
			continue;
		h = baton__malloc(sizeof(*h));
		if (h == NULL)
			return -ENOMEM;
		h->st = st;
		h->tag = (unsigned)i;
		/* relaxed: the registration publishes the block. */
		atomic_fetch_add_explicit(&st->refs, 1, memory_order_relaxed);
		if (baton_future_on_done(cases[i].future, future_done, h,
					 NULL) != 0) {
			atomic_fetch_sub_explicit(&st->refs, 1,
						  memory_order_relaxed);
			free(h);
			return -ENOMEM;
		}
	}
	return 0;
}

int
baton_queue_select(struct baton_queue_case *cases, size_t n, int timeout_ms)
{
	struct baton__waiter w[MAX_CASES];
	struct baton__deadline deadline;
	struct select_state *st;
	unsigned v, why;
	int fired, rc;

	if (check_cases(cases, n) != 0 || baton__timeout_check(timeout_ms) != 0)
		return -EINVAL;
	fired = try_all(cases, n, random_start(n));
	if (fired >= 0 || timeout_ms == 0)
		return fired >= 0 ? fired : -ETIMEDOUT;

	st = baton__malloc(sizeof(*st));
	if (st == NULL)
		return -ENOMEM;
	atomic_init(&st->refs, 1);
	atomic_init(&st->word, BATON__W_WAITING);
	rc = hook_futures(cases, n, st);
	if (rc != 0) {
		/* Hooks already registered keep the block until they run. */
		state_unref(st);
		return rc;
	}
	baton__deadline_init(&deadline, timeout_ms);
	count_blocked(cases, n, 1);
	for (;;) {
		bool ready = false;

		link_all(cases, n, w, st);
		/* seq_cst loads after the links: the Dekker pair, per line. */
		for (size_t i = 0; i < n && !ready; i++)
			ready = case_ready(&cases[i]);
		if (!ready)
			baton__waiter_sleep(&st->word, &deadline, 0);
		/* Claim the word for ourselves unless an event did. */
		if (!baton__word_claim(&st->word, BATON__W_LEFT, &v,
				       memory_order_acquire))
			v = atomic_load_explicit(&st->word,
						 memory_order_acquire);
		else
			v = BATON__W_LEFT;
		unlink_all(cases, n, w);
		why = BATON__W_REASON(v);
		if (why == BATON__W_HANDED) {
			/* A rendezvous partner moved the item already. */
			fired = (int)BATON__W_TAG(v);
			if (cases[fired].kind == BATON_QUEUE_CASE_POP)
				cases[fired].item = w[fired].item;
			cases[fired].result = 0;
			break;
		}
		/* The case whose line woke us first: a wake is owed there. */
		if ((why == BATON__W_WOKEN || why == BATON__W_CLOSED) &&
		    try_case(&cases[BATON__W_TAG(v)])) {
			fired = (int)BATON__W_TAG(v);
			break;
		}
		fired = try_all(cases, n, random_start(n));
		if (fired >= 0)
			break;
		if (why == BATON__W_TIMEDOUT || baton__deadline_expired(&deadline)) {
			fired = -ETIMEDOUT;
			break;
		}
		/* Woken for nothing (barged, or spurious): wait again. */
		atomic_store_explicit(&st->word, BATON__W_WAITING,
				      memory_order_relaxed);
	}
	count_blocked(cases, n, -1);
	state_unref(st);
	return fired;
}
