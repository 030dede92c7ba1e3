/*
 * baton/queue.h - a bounded, closable blocking queue of pointers.
 *
 * Overview
 * ========
 * A FIFO of void * items with an exact capacity, for any number of producer
 * and consumer threads: Elixir's BlockingQueue for C threads, plus what it
 * lacks (close, try and timed variants, batches, a destructor for leftovers).
 *
 *	baton_queue *q;
 *	if (baton_queue_create(&q, 1024, free) != 0) ...;
 *	producer:  if (baton_queue_push(q, item) != 0) free(item);
 *	consumer:  while (baton_queue_pop(q, &item) == 0) use(item);
 *	shutdown:  baton_queue_close(q);  join threads;  baton_queue_destroy(q);
 *
 * Invariants
 * ----------
 * - The queue never holds more than its capacity, exactly as given.
 * - Items pushed by one thread are popped in the order that thread pushed
 *   them; the items of one push_many call stay contiguous.
 * - Every item pushed successfully is, exactly once, either returned by a
 *   pop, handed to close_discard's callback, or passed to the item
 *   destructor (by close_discard or destroy).  An item whose push failed
 *   still belongs to the caller.  NULL is a valid item.
 * - After baton_queue_close, every push fails with -EPIPE, and pops return
 *   what is left, then -EPIPE.  Every blocked thread wakes at once.
 *
 * Ordering
 * --------
 * A successful push happens-before the pop that returns its item.  A close
 * happens-before every -EPIPE that it causes.  Pops that drain a closed
 * queue see every item whose push returned 0.
 *
 * Rendezvous
 * ----------
 * A queue created with capacity 0 holds nothing (Go's unbuffered channel):
 * a push completes only when a pop takes its item, and try_push succeeds
 * only if a pop is already waiting (try_pop: only if a push is).  Close,
 * timeouts and cancellation work as for any queue; a push that fails still
 * owns its item.  peek and clear find nothing; size is 0.
 *
 * Interrupting one waiter
 * -----------------------
 * baton_queue_push_cancellable and baton_queue_pop_cancellable take a
 * baton_queue_cancel handle; baton_queue_cancel_fire makes every call
 * waiting with it return -ECANCELED at once (Java's interrupt), and every
 * later call with it, until baton_queue_cancel_reset.  Nothing is pushed or
 * popped by a call that returns -ECANCELED; the queue stays open.
 *
 * Progress
 * --------
 * Each push claims a ticket with one CAS on the producers' cache line, each
 * pop with one CAS on the consumers' line; items move through per-slot
 * sequence numbers (a bounded MPMC ring), so producers and consumers touch
 * different lines in the common case.  A thread preempted between claiming
 * its ticket and finishing with its slot delays only the thread that needs
 * that slot next (which spins briefly, then yields).  Blocking: a waiter
 * spins briefly, then sleeps on its own futex in a FIFO line; each item
 * wakes at most one sleeper, and an idle waiter uses no CPU.
 */
#ifndef BATON_QUEUE_H
#define BATON_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct baton_queue baton_queue;

/* A handle that interrupts the cancellable calls waiting with it. */
typedef struct baton_queue_cancel baton_queue_cancel;

/* A future (baton/future.h), for baton_queue_select's future cases. */
typedef struct baton_future baton_future;

/* What one case of baton_queue_select waits for. */
enum baton_queue_case_kind {
	BATON_QUEUE_CASE_PUSH = 1, /* push `item` into `queue` */
	BATON_QUEUE_CASE_POP,      /* pop from `queue` into `item` */
	BATON_QUEUE_CASE_FUTURE,   /* `future` completes */
};

/*
 * One case of a select.  Set kind and queue (push: and item) or future;
 * a NULL queue or future makes a case that never fires (Go's nil
 * channel).  On return, the fired case's `result` is 0 (pushed, popped
 * into `item`, or the future completed) or -EPIPE (its queue is closed:
 * a push keeps its item; a pop found it closed and empty).
 */
struct baton_queue_case {
	int kind;
	baton_queue *queue;
	void *item;
	baton_future *future;
	int result;
};

/*
 * A callback that receives an item handed back by baton_queue_close_discard.
 * The callback owns the item from then on.
 */
typedef void (*baton_queue_item_fn)(void *item, void *ctx);

/* The largest capacity baton_queue_create accepts. */
#define BATON_QUEUE_MAX_CAPACITY ((size_t)1 << 30)

/*
 * Creates an empty, open queue holding at most `capacity` items; capacity
 * 0 makes a rendezvous queue (see Rendezvous above).  `item_destroy` (may
 * be NULL) is run on items that nobody pops, by baton_queue_clear,
 * baton_queue_close_discard and baton_queue_destroy.
 *
 * Pointers: sets *out to NULL first, then to a new queue that the caller
 * owns and must release with baton_queue_destroy.
 * Blocking: never.
 * Errors: -EINVAL if out is NULL or capacity is above
 * BATON_QUEUE_MAX_CAPACITY; -ENOMEM.
 * Thread safety: any thread.
 * Ordering: none; publish the handle to other threads as you would any data.
 */
BATON_API int baton_queue_create(baton_queue **out, size_t capacity,
				 baton_destroy_fn item_destroy);

/*
 * Destroys the queue, running the item destructor on every item still
 * inside.  NULL is a no-op.  Threads blocked in a push or pop of q (or
 * their _many, _timed and _cancellable forms) are woken as by
 * baton_queue_close and return -EPIPE (a blocked push keeps its item);
 * destroy waits until every one of them has left the queue before it
 * frees anything.
 *
 * Pointers: consumes q.
 * Blocking: only while woken waiters leave (a few instructions each).
 * Thread safety: other threads may be blocked in q, but no call may start
 * on q once destroy has begun, nor race it outside its blocking part (a
 * try_ call, a close, a size): join or stop such users first.
 * Ordering: every woken waiter's return happens-before the free.
 */
BATON_API void baton_queue_destroy(baton_queue *q);

/*
 * Appends item, blocking while the queue is full.
 *
 * Pointers: borrows q; on success hands item to the queue; on failure item
 * still belongs to the caller.
 * Blocking: while full.
 * Errors: -EINVAL if q is NULL; -EPIPE if the queue is or becomes closed.
 * Thread safety: any thread.
 * Ordering: a successful push happens-before the pop that returns item.
 */
BATON_API int baton_queue_push(baton_queue *q, void *item);

/*
 * As baton_queue_push, but never waits for space.
 *
 * Errors: -EINVAL; -EPIPE if closed; -EAGAIN if full.
 * Blocking: never waits for space or for consumers (it may wait out another
 * producer's few-instruction critical section).
 * Thread safety: any thread.
 * Ordering: as baton_queue_push.
 */
BATON_API int baton_queue_try_push(baton_queue *q, void *item);

/*
 * As baton_queue_push, waiting at most timeout_ms milliseconds for space
 * (BATON_INFINITY: no limit; 0: do not wait).
 *
 * Errors: -EINVAL (also for a negative timeout other than BATON_INFINITY);
 * -EPIPE if closed; -ETIMEDOUT if still full when the timeout expired.
 * Blocking: up to timeout_ms.
 * Thread safety: any thread.
 * Ordering: as baton_queue_push.
 */
BATON_API int baton_queue_push_timed(baton_queue *q, void *item,
				     int timeout_ms);

/*
 * As baton_queue_push_timed, and also interrupted by `cancel`: if cancel
 * has fired (baton_queue_cancel_fire), before or during the wait, the call
 * returns -ECANCELED and pushes nothing.  A push that completes while the
 * handle fires may return 0: the item is then in the queue.
 *
 * Pointers: borrows q and cancel; item as baton_queue_push.
 * Errors: -EINVAL (also if cancel is NULL); -EPIPE; -ETIMEDOUT;
 * -ECANCELED (item still the caller's).
 * Blocking: up to timeout_ms, or until cancel fires.
 * Thread safety: any thread; any number of calls may share one handle.
 * Ordering: as baton_queue_push; a fire happens-before the -ECANCELED it
 * causes.
 */
BATON_API int baton_queue_push_cancellable(baton_queue *q, void *item,
					   int timeout_ms,
					   baton_queue_cancel *cancel);

/*
 * Removes the oldest item and stores it in *item, blocking while the queue
 * is empty and open.
 *
 * Pointers: borrows q; on success hands the item to the caller; *item is
 * untouched on failure.
 * Blocking: while empty and open.
 * Errors: -EINVAL if q or item is NULL; -EPIPE once the queue is closed and
 * empty.
 * Thread safety: any thread.
 * Ordering: the push of the returned item happens-before this return.
 */
BATON_API int baton_queue_pop(baton_queue *q, void **item);

/*
 * As baton_queue_pop, but never waits.
 *
 * Errors: -EINVAL; -EPIPE if closed and empty; -EAGAIN if empty and open.
 * Blocking: never.
 * Thread safety: any thread.
 * Ordering: as baton_queue_pop.
 */
BATON_API int baton_queue_try_pop(baton_queue *q, void **item);

/*
 * As baton_queue_pop, waiting at most timeout_ms milliseconds
 * (BATON_INFINITY: no limit; 0: do not wait).
 *
 * Errors: -EINVAL; -EPIPE if closed and empty; -ETIMEDOUT if still empty
 * when the timeout expired.
 * Blocking: up to timeout_ms.
 * Thread safety: any thread.
 * Ordering: as baton_queue_pop.
 */
BATON_API int baton_queue_pop_timed(baton_queue *q, void **item,
				    int timeout_ms);

/*
 * As baton_queue_pop_timed, and also interrupted by `cancel` (see
 * baton_queue_push_cancellable): -ECANCELED, nothing taken, *item
 * untouched.
 *
 * Pointers: borrows q and cancel; as baton_queue_pop otherwise.
 * Errors: -EINVAL (also if cancel is NULL); -EPIPE; -ETIMEDOUT;
 * -ECANCELED.
 * Blocking: up to timeout_ms, or until cancel fires.
 * Thread safety: any thread; any number of calls may share one handle.
 * Ordering: as baton_queue_pop; a fire happens-before the -ECANCELED it
 * causes.
 */
BATON_API int baton_queue_pop_cancellable(baton_queue *q, void **item,
					  int timeout_ms,
					  baton_queue_cancel *cancel);

/*
 * Appends up to n items in one step: waits until at least one fits, then
 * appends items[0..k) for the largest k <= n that fits without waiting
 * again, contiguously and in order.  Returns k.
 *
 * Pointers: borrows q and the array; hands items[0..k) to the queue; the
 * rest still belong to the caller.
 * Blocking: while full.
 * Errors: 0 if n is 0; -EINVAL if q is NULL or items is NULL with n > 0;
 * -EPIPE if the queue is or becomes closed before any item was appended.
 * Thread safety: any thread.
 * Ordering: each push happens-before the pop that returns its item.
 */
BATON_API ptrdiff_t baton_queue_push_many(baton_queue *q, void *const *items,
					  size_t n);

/* As baton_queue_push_many, never waiting: -EAGAIN if full. */
BATON_API ptrdiff_t baton_queue_try_push_many(baton_queue *q,
					      void *const *items, size_t n);

/* As baton_queue_push_many, waiting at most timeout_ms: -ETIMEDOUT. */
BATON_API ptrdiff_t baton_queue_push_many_timed(baton_queue *q,
						void *const *items, size_t n,
						int timeout_ms);

/*
 * Removes up to n items in one step: waits until at least one is present,
 * then takes the oldest k <= n that are present without waiting again,
 * into items[0..k).  Returns k.
 *
 * Pointers: borrows q; hands the k items to the caller.
 * Blocking: while empty and open.
 * Errors: 0 if n is 0; -EINVAL if q is NULL or items is NULL with n > 0;
 * -EPIPE once the queue is closed and empty.
 * Thread safety: any thread.
 * Ordering: as baton_queue_pop, for each item.
 */
BATON_API ptrdiff_t baton_queue_pop_many(baton_queue *q, void **items,
					 size_t n);

/* As baton_queue_pop_many, never waiting: -EAGAIN if empty and open. */
BATON_API ptrdiff_t baton_queue_try_pop_many(baton_queue *q, void **items,
					     size_t n);

/* As baton_queue_pop_many, waiting at most timeout_ms: -ETIMEDOUT. */
BATON_API ptrdiff_t baton_queue_pop_many_timed(baton_queue *q, void **items,
					       size_t n, int timeout_ms);

/*
 * Closes the queue gracefully: later pushes fail with -EPIPE, pops drain
 * what is left and then fail with -EPIPE, and every thread blocked in a push
 * or pop wakes at once.  Idempotent.
 *
 * Pointers: borrows q.
 * Blocking: never waits for consumers or space (it may wait out a
 * producer's few-instruction critical section).
 * Errors: -EINVAL if q is NULL.
 * Thread safety: any thread, concurrently with any push or pop.
 * Ordering: happens-before every -EPIPE it causes; every push that
 * returned 0 before the close is drained by pops or close_discard.
 */
BATON_API int baton_queue_close(baton_queue *q);

/*
 * Closes the queue (as baton_queue_close) and discards every item left in
 * it: each is passed to fn(item, ctx) if fn is not NULL (handing it back),
 * else to the queue's item destructor if it has one.  Returns how many
 * items were discarded.  Idempotent: a second call discards whatever a
 * racing push left, usually nothing.  Items that concurrent pops take are
 * theirs; each item goes to exactly one place.
 *
 * Pointers: borrows q; hands each discarded item to fn or the destructor.
 * Blocking: never waits for consumers.
 * Errors: -EINVAL if q is NULL.
 * Thread safety: any thread, concurrently with any push or pop.
 * Ordering: as baton_queue_close.
 */
BATON_API ptrdiff_t baton_queue_close_discard(baton_queue *q,
					      baton_queue_item_fn fn,
					      void *ctx);

/*
 * Stores the oldest item in *item without removing it.  The item still
 * belongs to the queue: another thread may pop (and free) it at any time,
 * so only dereference it if no other thread pops from q.
 *
 * Pointers: borrows q; *item is a borrowed pointer; untouched on error.
 * Blocking: never (it may wait out a push's few-instruction publication).
 * Errors: -EINVAL if q or item is NULL; -EAGAIN if empty and open; -EPIPE
 * if closed and empty.  A rendezvous queue is always empty.
 * Thread safety: any thread.
 * Ordering: the push of the item happens-before this return.
 */
BATON_API int baton_queue_peek(const baton_queue *q, void **item);

/*
 * Discards the items in the queue now, oldest first, keeping it open (and
 * closed if it was): each is passed to fn(item, ctx) if fn is not NULL
 * (handing it back), else to the item destructor if there is one.  Items
 * pushed while it runs may stay.  Returns how many were discarded.
 *
 * Pointers: borrows q; hands each item to fn or the destructor.
 * Blocking: never waits for producers or consumers.
 * Errors: -EINVAL if q is NULL.
 * Thread safety: any thread, concurrently with any push or pop; each item
 * goes to exactly one place.
 * Ordering: as a pop, for each item.
 */
BATON_API ptrdiff_t baton_queue_clear(baton_queue *q, baton_queue_item_fn fn,
				      void *ctx);

/*
 * The number of threads blocked in a push or pop of q (past their first
 * attempt, spinning or asleep): a snapshot.  0 if q is NULL.
 * Thread safety: any thread.  Ordering: none (relaxed).
 */
BATON_API size_t baton_queue_waiters(const baton_queue *q);

/*
 * Creates a cancellation handle, not fired.
 *
 * Pointers: sets *out to NULL first, then to a new handle that the caller
 * owns and must release with baton_queue_cancel_destroy.
 * Blocking: never.
 * Errors: -EINVAL if out is NULL; -ENOMEM.
 * Thread safety: any thread.
 * Ordering: none.
 */
BATON_API int baton_queue_cancel_create(baton_queue_cancel **out);

/*
 * Destroys a handle.  NULL is a no-op.
 * Pointers: consumes c.
 * Thread safety: no call may be using c.
 * Ordering: none.
 */
BATON_API void baton_queue_cancel_destroy(baton_queue_cancel *c);

/*
 * Fires c: every cancellable call waiting with c returns -ECANCELED now,
 * and every later one at once, until baton_queue_cancel_reset.  The queues
 * involved are unaffected.  Idempotent.
 *
 * Pointers: borrows c.
 * Blocking: never (waking a sleeper is a system call).
 * Errors: -EINVAL if c is NULL.
 * Thread safety: any thread, concurrently with the calls it interrupts.
 * Ordering: release: happens-before each -ECANCELED it causes.
 */
BATON_API int baton_queue_cancel_fire(baton_queue_cancel *c);

/*
 * Un-fires c, so later calls with it wait again.
 * Errors: -EINVAL if c is NULL.
 * Thread safety: any thread; calls racing the reset may or may not see it.
 * Ordering: none (relaxed).
 */
BATON_API int baton_queue_cancel_reset(baton_queue_cancel *c);

/*
 * Whether c has fired (and not been reset since).  false if c is NULL.
 * Thread safety: any thread.
 * Ordering: acquire: a true result happens-after the fire.
 */
BATON_API bool baton_queue_cancel_is_fired(const baton_queue_cancel *c);

/*
 * Waits until one of cases[0..n) can proceed, lets exactly that one
 * proceed, and returns its index (Go's select).  A push case fires when its
 * item went in, a pop case when it took an item, either when its queue is
 * closed (result -EPIPE); a future case when the future has completed (the
 * select takes nothing from it).  If several can proceed, the first tried
 * wins, and each call starts at a random case, so no case starves.  No
 * case but the returned one touches its queue: no item is taken for, and
 * none pushed by, a case not chosen.  timeout_ms 0 only polls (Go's
 * default case), BATON_INFINITY waits for ever.  Rendezvous queues work as
 * elsewhere: a push case completes only when a pop takes its item.
 *
 * Pointers: borrows cases, each queue and each future; a fired push case
 * hands its item to the queue, a fired pop case hands the popped item to
 * the caller in cases[i].item.  Waiting on a pending future registers a
 * completion callback (baton_future_on_done) that stays with the future
 * until it completes, about 50 bytes per such select call.
 * Blocking: up to timeout_ms.
 * Errors: -EINVAL (cases NULL, n 0 or above 64, an unknown kind, a
 * negative timeout other than BATON_INFINITY, or a push and a pop case on
 * one rendezvous queue); -ETIMEDOUT (no case could proceed in time);
 * -ENOMEM (nothing was done).
 * Thread safety: any thread; the cases array is the caller's.  Queues may
 * be closed or destroyed (waking it with -EPIPE, as for a pop) while it
 * waits.
 * Ordering: as the fired case's push, pop or baton_future_is_done.
 */
BATON_API int baton_queue_select(struct baton_queue_case *cases, size_t n,
				 int timeout_ms);

/*
 * The number of items in the queue: a snapshot, exact only when no other
 * thread is pushing or popping.  0 if q is NULL.
 * Thread safety: any thread.  Ordering: none (relaxed).
 */
BATON_API size_t baton_queue_size(const baton_queue *q);

/* The capacity given at creation; 0 if q is NULL.  Any thread. */
BATON_API size_t baton_queue_capacity(const baton_queue *q);

/*
 * Whether the queue has been closed.  false if q is NULL.
 * Thread safety: any thread.
 * Ordering: acquire: a true result happens-after the close.
 */
BATON_API bool baton_queue_is_closed(const baton_queue *q);

#ifdef __cplusplus
}
#endif

#endif /* BATON_QUEUE_H */
