/*
 * baseline_queue.c - a mutex-and-condvar bounded queue, written as well as
 * that design allows, so that beating it means something.
 *
 * Design notes
 * ============
 * State: a ring of `cap` slots, `head` (next to pop), `tail` (next to
 * fill), `count`, `closed`, and two waiter counts.  Everything is guarded
 * by `lock`; there are no atomics.
 *
 * Waiting: a thread that must block increments its waiter count, waits on
 * its condition variable, and decrements the count when it wakes, all under
 * the lock.  So a thread that changes the state under the lock sees exactly
 * who is parked (or about to park: pthread_cond_wait releases the lock
 * atomically), and signals only when somebody is; the common uncontended
 * case makes no futex call at all.
 *
 * Signalling happens after unlocking: glibc does not morph waits, so a
 * thread woken while the signaller still holds the lock would only block
 * again on the mutex.  This is safe because the waiter registered under the
 * lock before we looked at the count, and every waiter re-checks its
 * predicate in a loop.
 *
 * One signal per item moved (capped by the number of waiters), so no
 * thundering herd; close broadcasts, since every waiter must see it.
 *
 * Because a signal may follow the unlock, the queue must outlive every call
 * in progress: destroy only after joining its users (the benchmark does).
 *
 * Who frees what: the queue never owns items; destroy drops leftovers.
 */
#include "baseline_queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct baseline_queue {
	pthread_mutex_t lock;
	pthread_cond_t not_full;
	pthread_cond_t not_empty;
	size_t cap;
	size_t head;
	size_t tail;
	size_t count;
	size_t push_waiters;
	size_t pop_waiters;
	bool closed;
	void **ring;
};

int
baseline_queue_create(baseline_queue **out, size_t capacity)
{
	baseline_queue *q;
	int rc;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (capacity == 0 || capacity > SIZE_MAX / sizeof(void *))
		return -EINVAL;

	q = calloc(1, sizeof(*q));
	if (q == NULL)
		return -ENOMEM;
	q->ring = malloc(capacity * sizeof(void *));
	if (q->ring == NULL) {
		free(q);
		return -ENOMEM;
	}
	q->cap = capacity;

	rc = pthread_mutex_init(&q->lock, NULL);
	if (rc != 0)
		goto fail_lock;
	rc = pthread_cond_init(&q->not_full, NULL);
	if (rc != 0)
		goto fail_full;
	rc = pthread_cond_init(&q->not_empty, NULL);
	if (rc != 0)
		goto fail_empty;
	*out = q;
	return 0;

fail_empty:
	pthread_cond_destroy(&q->not_full);
fail_full:
	pthread_mutex_destroy(&q->lock);
fail_lock:
	free(q->ring);
	free(q);
	return -rc;
}

void
baseline_queue_destroy(baseline_queue *q)
{
	if (q == NULL)
		return;
	pthread_cond_destroy(&q->not_empty);
	pthread_cond_destroy(&q->not_full);
	pthread_mutex_destroy(&q->lock);
	free(q->ring);
	free(q);
}

/* Wakes up to n threads parked on cv, of the `waiters` seen under the lock. */
static void
wake(pthread_cond_t *cv, size_t n, size_t waiters)
{
	if (n >= waiters) {
		if (waiters == 1)
			pthread_cond_signal(cv);
		else if (waiters > 1)
			pthread_cond_broadcast(cv);
		return;
	}
	while (n-- > 0)
		pthread_cond_signal(cv);
}

int
baseline_queue_push(baseline_queue *q, void *item)
{
	size_t waiters;

	pthread_mutex_lock(&q->lock);
	while (q->count == q->cap && !q->closed) {
		q->push_waiters++;
		pthread_cond_wait(&q->not_full, &q->lock);
		q->push_waiters--;
	}
	if (q->closed) {
		pthread_mutex_unlock(&q->lock);
		return -EPIPE;
	}
	q->ring[q->tail] = item;
	if (++q->tail == q->cap)
		q->tail = 0;
	q->count++;
	waiters = q->pop_waiters;
	pthread_mutex_unlock(&q->lock);

	if (waiters > 0)
		pthread_cond_signal(&q->not_empty);
	return 0;
}

int
baseline_queue_pop(baseline_queue *q, void **item)
{
	size_t waiters;

	pthread_mutex_lock(&q->lock);
	while (q->count == 0 && !q->closed) {
		q->pop_waiters++;
		pthread_cond_wait(&q->not_empty, &q->lock);
		q->pop_waiters--;
	}
	if (q->count == 0) {
		pthread_mutex_unlock(&q->lock);
		return -EPIPE;
	}
	*item = q->ring[q->head];
	if (++q->head == q->cap)
		q->head = 0;
	q->count--;
	waiters = q->push_waiters;
	pthread_mutex_unlock(&q->lock);

	if (waiters > 0)
		pthread_cond_signal(&q->not_full);
	return 0;
}

ptrdiff_t
baseline_queue_push_many(baseline_queue *q, void *const *items, size_t n)
{
	size_t k, first, waiters;

	if (n == 0)
		return 0;
	pthread_mutex_lock(&q->lock);
	while (q->count == q->cap && !q->closed) {
		q->push_waiters++;
		pthread_cond_wait(&q->not_full, &q->lock);
		q->push_waiters--;
	}
	if (q->closed) {
		pthread_mutex_unlock(&q->lock);
		return -EPIPE;
	}
	k = q->cap - q->count;
	if (k > n)
		k = n;
	/* Two copies at most: up to the end of the ring, then from slot 0. */
	first = q->cap - q->tail;
	if (first > k)
		first = k;
	memcpy(&q->ring[q->tail], items, first * sizeof(void *));
	memcpy(&q->ring[0], items + first, (k - first) * sizeof(void *));
	q->tail += k;
	if (q->tail >= q->cap)
		q->tail -= q->cap;
	q->count += k;
	waiters = q->pop_waiters;
	pthread_mutex_unlock(&q->lock);

	wake(&q->not_empty, k, waiters);
	return (ptrdiff_t)k;
}

ptrdiff_t
baseline_queue_pop_many(baseline_queue *q, void **items, size_t n)
{
	size_t k, first, waiters;

	if (n == 0)
		return 0;
	pthread_mutex_lock(&q->lock);
	while (q->count == 0 && !q->closed) {
		q->pop_waiters++;
		pthread_cond_wait(&q->not_empty, &q->lock);
		q->pop_waiters--;
	}
	if (q->count == 0) {
		pthread_mutex_unlock(&q->lock);
		return -EPIPE;
	}
	k = q->count < n ? q->count : n;
	first = q->cap - q->head;
	if (first > k)
		first = k;
	memcpy(items, &q->ring[q->head], first * sizeof(void *));
	memcpy(items + first, &q->ring[0], (k - first) * sizeof(void *));
	q->head += k;
	if (q->head >= q->cap)
		q->head -= q->cap;
	q->count -= k;
	waiters = q->push_waiters;
	pthread_mutex_unlock(&q->lock);

	wake(&q->not_full, k, waiters);
	return (ptrdiff_t)k;
}

int
baseline_queue_close(baseline_queue *q)
{
	size_t push_waiters, pop_waiters;

	pthread_mutex_lock(&q->lock);
	q->closed = true;
	push_waiters = q->push_waiters;
	pop_waiters = q->pop_waiters;
	pthread_mutex_unlock(&q->lock);

	if (push_waiters > 0)
		pthread_cond_broadcast(&q->not_full);
	if (pop_waiters > 0)
		pthread_cond_broadcast(&q->not_empty);
	return 0;
}
