/*
 * baseline_queue.h - the textbook bounded blocking queue that baton's queue
 * is measured against: a ring of void * under one pthread mutex with two
 * condition variables.  Benchmark-only; not part of libbaton.
 *
 * Overview
 * ========
 * The same contract as baton/queue.h for the calls the benchmark uses:
 * push and pop block, the _many variants move as many items as fit
 * without waiting again, and close makes pushes fail with -EPIPE while
 * pops drain what is left and then fail with -EPIPE.
 *
 *	baseline_queue *q;
 *	if (baseline_queue_create(&q, 1024) != 0) ...;
 *	producer:  baseline_queue_push(q, item);
 *	consumer:  while (baseline_queue_pop(q, &item) == 0) use(item);
 *	shutdown:  baseline_queue_close(q);  join;  baseline_queue_destroy(q);
 */
#ifndef BASELINE_QUEUE_H
#define BASELINE_QUEUE_H

#include <stddef.h>

typedef struct baseline_queue baseline_queue;

/*
 * Creates an empty, open queue of exactly `capacity` slots.
 * Errors: -EINVAL (out NULL, capacity 0), -ENOMEM, or a pthread error.
 * Thread safety: any thread.  Ordering: none.
 */
int baseline_queue_create(baseline_queue **out, size_t capacity);

/*
 * Frees the queue; items still inside are dropped.  NULL is a no-op.
 * Thread safety: nobody else may use q.  Ordering: none.
 */
void baseline_queue_destroy(baseline_queue *q);

/*
 * Appends item, blocking while full.  -EPIPE if closed.
 * Thread safety: any thread; may block.
 * Ordering: a push happens-before the pop that returns its item.
 */
int baseline_queue_push(baseline_queue *q, void *item);

/*
 * Removes the oldest item into *item, blocking while empty and open.
 * -EPIPE once closed and empty.
 * Thread safety: any thread; may block.  Ordering: as push.
 */
int baseline_queue_pop(baseline_queue *q, void **item);

/*
 * Waits for room, then appends the largest prefix of items[0..n) that
 * fits; returns its length.  0 if n is 0; -EPIPE if closed.
 * Thread safety: any thread; may block.  Ordering: as push.
 */
ptrdiff_t baseline_queue_push_many(baseline_queue *q, void *const *items,
				   size_t n);

/*
 * Waits for an item, then takes up to n of the oldest ones; returns how
 * many.  0 if n is 0; -EPIPE once closed and empty.
 * Thread safety: any thread; may block.  Ordering: as push.
 */
ptrdiff_t baseline_queue_pop_many(baseline_queue *q, void **items, size_t n);

/*
 * Closes the queue and wakes every blocked thread.  Idempotent.
 * Thread safety: any thread.
 * Ordering: happens-before every -EPIPE it causes.
 */
int baseline_queue_close(baseline_queue *q);

#endif /* BASELINE_QUEUE_H */
