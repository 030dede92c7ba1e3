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
 * Progress
 * --------
 * Consumers are lock-free with respect to each other: a consumer preempted
 * anywhere never stops another consumer from taking a present item.
 * Producers are serialised by a short internal critical section (spin, then
 * park): a producer preempted inside it delays other producers, never
 * consumers.  This is deliberate: Concurrency Kit's MPMC enqueue makes every
 * producer spin until each earlier producer has published, which convoys
 * when threads outnumber cores; parking serialised producers does not.
 * Blocking uses Concurrency Kit event counts over futex: a waiter spins
 * briefly, then sleeps; an idle waiter uses no CPU.
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

/*
 * A callback that receives an item handed back by baton_queue_close_discard.
 * The callback owns the item from then on.
 */
typedef void (*baton_queue_item_fn)(void *item, void *ctx);

/* The largest capacity baton_queue_create accepts. */
#define BATON_QUEUE_MAX_CAPACITY ((size_t)1 << 30)

/*
 * Creates an empty, open queue holding at most `capacity` items.
 * `item_destroy` (may be NULL) is run on items that nobody pops, by
 * baton_queue_close_discard and baton_queue_destroy.
 *
 * Pointers: sets *out to NULL first, then to a new queue that the caller
 * owns and must release with baton_queue_destroy.
 * Blocking: never.
 * Errors: -EINVAL if out is NULL or capacity is 0 or above
 * BATON_QUEUE_MAX_CAPACITY; -ENOMEM.
 * Thread safety: any thread.
 * Ordering: none; publish the handle to other threads as you would any data.
 */
BATON_API int baton_queue_create(baton_queue **out, size_t capacity,
				 baton_destroy_fn item_destroy);

/*
 * Destroys the queue, running the item destructor on every item still
 * inside.  NULL is a no-op.
 *
 * Pointers: consumes q.
 * Blocking: never.
 * Thread safety: no other thread may be using q, or be about to; close it
 * and join its users first.
 * Ordering: none.
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
