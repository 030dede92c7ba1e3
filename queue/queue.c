/*
 * queue.c - baton's bounded, closable blocking queue.
 *
 * Design notes
 * ============
 * Storage is a Concurrency Kit ring of pointers (ck_ring), sized to the
 * next power of two above the capacity (ck_ring holds size - 1).  The exact
 * capacity is enforced by the producers, not by the ring.
 *
 * Producers are serialised by a spin-then-park lock (lock.c) and enqueue
 * with ck_ring's single-producer routine.  ck_ring's MPMC enqueue would
 * make every producer spin until each earlier producer published, which
 * convoys badly when threads outnumber cores (measured on this 2-core
 * machine: from ~10^6 to under 100 items/s at 16P/16C); a parked producer
 * costs nothing.  Being serialised, a producer can read the ring's size
 * exactly enough to enforce the capacity: consumers only shrink it.
 *
 * Consumers use ck_ring's MPMC dequeue: lock-free, a CAS on the consumer
 * head.  Its slot read is speculative (the slot may be reused before the
 * CAS fails); the value is then discarded, which is why the ThreadSanitizer
 * build suppresses exactly that read.
 *
 * Blocking: two event counts (wait.c), `items` for poppers and `space`
 * for pushers.  A push bumps `items` only if a popper has flagged it as
 * waited on, and a pop bumps `space` likewise, after a full fence; the
 * waiter's ck_ec predicate re-checks the ring after flagging (a Dekker
 * pair, see wait.h), so no wakeup is lost and a busy queue never writes
 * an event count.  Close bumps both unconditionally.  A thread that must
 * wait first spins, on an adaptive budget, watching the ring (a futex
 * round trip costs 30-60 us); then it joins its side's gate (gate.c), a
 * wake-one line whose leader alone sleeps on the event count, because
 * ck_ec wakes every sleeper on every signal.  Close opens both gates for
 * good, waking every blocked thread.
 *
 * Close: `closed` is set under the producer lock, so a push either
 * completed before the close (and its item is drained by pops or
 * close_discard) or sees the flag (and keeps its item).  A consumer that
 * reads `closed` with acquire semantics therefore sees every item pushed
 * before the close, and returns -EPIPE only if the ring is then empty.
 *
 * Who frees what: a pushed item belongs to the queue until a pop hands it
 * out; close_discard hands leftovers to its callback or the destructor;
 * destroy runs the destructor on whatever is left.  Each item goes to
 * exactly one place, because each slot is claimed by one successful CAS.
 *
 * Layout: fields written by producers, by consumers, and read by all sit
 * on separate cache lines (ck_ring pads its own heads).
 */
#include "baton/queue.h"

#include <ck_ring.h>
#include <errno.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "gate.h"
#include "lock.h"
#include "wait.h"

#define CACHELINE 64

struct baton_queue {
	/* Read by everyone; written only at create and once by close. */
	struct ck_ring_buffer *slots;
	size_t capacity;
	baton_destroy_fn destroy;
	atomic_bool closed;

	/* Consumer head, producer tail, each on its own line (ck_ring). */
	alignas(CACHELINE) struct ck_ring ring;

	/* Written by producers on every push. */
	alignas(CACHELINE) struct baton__lock producers;
	struct ck_ec32 items;

	/* Written by consumers on every pop. */
	alignas(CACHELINE) struct ck_ec32 space;

	/* Written only by threads about to block. */
	alignas(CACHELINE) struct baton__gate push_gate;
	struct baton__spinner push_spin;
	alignas(CACHELINE) struct baton__gate pop_gate;
	struct baton__spinner pop_spin;
};

enum direction { PUSH, POP };

static unsigned int
ring_size_for(size_t capacity)
{
	unsigned int size = 2;

	while (size < capacity + 1)
		size <<= 1;
	return size;
}

int
baton_queue_create(baton_queue **out, size_t capacity,
		   baton_destroy_fn item_destroy)
{
	baton_queue *q;
	unsigned int size;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (capacity == 0 || capacity > BATON_QUEUE_MAX_CAPACITY)
		return -EINVAL;

	q = baton__aligned_alloc(CACHELINE, sizeof(*q));
	if (q == NULL)
		return -ENOMEM;
	memset(q, 0, sizeof(*q));
	size = ring_size_for(capacity);
	q->slots = baton__calloc(size, sizeof(*q->slots));
	if (q->slots == NULL) {
		free(q);
		return -ENOMEM;
	}
	q->capacity = capacity;
	q->destroy = item_destroy;
	atomic_init(&q->closed, false);
	ck_ring_init(&q->ring, size);
	atomic_init(&q->producers.state, 0);
	ck_ec32_init(&q->items, 0);
	ck_ec32_init(&q->space, 0);
	atomic_init(&q->push_gate.word, 0);
	atomic_init(&q->pop_gate.word, 0);
	*out = q;
	return 0;
}

/* Takes one item if present; never leaves a speculative value in *item. */
static bool
take_one(baton_queue *q, void **item)
{
	void *got;

	if (!ck_ring_dequeue_mpmc(&q->ring, q->slots, &got))
		return false;
	*item = got;
	return true;
}

void
baton_queue_destroy(baton_queue *q)
{
	void *item;

	if (q == NULL)
		return;
	while (take_one(q, &item)) {
		if (q->destroy != NULL)
			q->destroy(item);
	}
	free(q->slots);
	free(q);
}

/*
 * Appends as many of items[0..n) as fit now.  Returns how many (0 when
 * full) or -EPIPE.
 */
static ptrdiff_t
push_some(baton_queue *q, void *const *items, size_t n)
{
	size_t room, k;

	/* acquire: a push after a close fails without touching the lock. */
	if (atomic_load_explicit(&q->closed, memory_order_acquire))
		return -EPIPE;
	baton__lock_acquire(&q->producers);
	/* relaxed: close writes the flag under this lock. */
	if (atomic_load_explicit(&q->closed, memory_order_relaxed)) {
		baton__lock_release(&q->producers);
		return -EPIPE;
	}
	/* Consumers only shrink the ring, so this room is never overstated. */
	room = q->capacity - ck_ring_size(&q->ring);
	k = n < room ? n : room;
	for (size_t i = 0; i < k; i++)
		ck_ring_enqueue_spmc(&q->ring, q->slots, items[i]);
	baton__lock_release(&q->producers);
	if (k > 0)
		baton__ec_signal_waiters(&q->items);
	return (ptrdiff_t)k;
}

/*
 * Takes up to n present items.  Returns how many (0 when empty and open)
 * or -EPIPE (closed and empty).
 */
static ptrdiff_t
pop_some(baton_queue *q, void **items, size_t n)
{
	size_t k = 0;

	while (k < n && take_one(q, &items[k]))
		k++;
	if (k == 0) {
		/*
		 * acquire: pairs with close's release; every item pushed
		 * before the close is visible to the second look.
		 */
		if (!atomic_load_explicit(&q->closed, memory_order_acquire))
			return 0;
		while (k < n && take_one(q, &items[k]))
			k++;
		if (k == 0)
			return -EPIPE;
	}
	baton__ec_signal_waiters(&q->space);
	return (ptrdiff_t)k;
}

static ptrdiff_t
attempt(baton_queue *q, enum direction dir, void **items, size_t n)
{
	return dir == PUSH ? push_some(q, items, n) : pop_some(q, items, n);
}

/* Whether a push could make progress now (room, or closed: -EPIPE). */
static bool
push_ready(void *arg)
{
	baton_queue *q = arg;

	/* relaxed: a hint; the attempt that follows decides. */
	return ck_ring_size(&q->ring) < q->capacity ||
	    atomic_load_explicit(&q->closed, memory_order_relaxed);
}

/* Whether a pop could make progress now (an item, or closed). */
static bool
pop_ready(void *arg)
{
	baton_queue *q = arg;

	return ck_ring_size(&q->ring) > 0 ||
	    atomic_load_explicit(&q->closed, memory_order_relaxed);
}

/*
 * The one blocking loop behind every push and pop variant.  `busy` is
 * -EAGAIN for try_ calls (never wait) and -ETIMEDOUT for the others.
 */
static ptrdiff_t
transfer(baton_queue *q, enum direction dir, void **items, size_t n,
	 int timeout_ms, int busy)
{
	struct ck_ec32 *ec;
	struct baton__gate *gate;
	struct baton__deadline deadline;
	baton__ready_fn ready;
	uint32_t seen;
	ptrdiff_t r;
	int waited;

	if (q == NULL || (items == NULL && n > 0))
		return -EINVAL;
	if (baton__timeout_check(timeout_ms) != 0)
		return -EINVAL;
	if (n == 0)
		return 0;

	r = attempt(q, dir, items, n);
	if (r != 0)
		return r;
	if (busy == -EAGAIN || timeout_ms == 0)
		return busy;

	ec = dir == PUSH ? &q->space : &q->items;
	gate = dir == PUSH ? &q->push_gate : &q->pop_gate;
	ready = dir == PUSH ? push_ready : pop_ready;
	baton__deadline_init(&deadline, timeout_ms);

	if (baton__spin_until(dir == PUSH ? &q->push_spin : &q->pop_spin,
			      ready, q)) {
		r = attempt(q, dir, items, n);
		if (r != 0)
			return r;
	}

	waited = baton__gate_enter(gate, &deadline);
	if (waited != 0) {
		/* -EPIPE: closed; the last attempt drains or fails. */
		r = attempt(q, dir, items, n);
		return r != 0 ? r : waited;
	}
	for (;;) {
		seen = ck_ec32_value(ec);
		/* Re-check after the snapshot: a change from here on wakes us. */
		r = attempt(q, dir, items, n);
		if (r != 0)
			break;
		if (baton__ec_wait_until(ec, seen, &deadline, ready, q) != 0) {
			r = attempt(q, dir, items, n);
			if (r == 0)
				r = -ETIMEDOUT;
			break;
		}
	}
	baton__gate_leave(gate);
	return r;
}

static int
one(ptrdiff_t r)
{
	return r > 0 ? 0 : (int)r;
}

int
baton_queue_push(baton_queue *q, void *item)
{
	return one(transfer(q, PUSH, &item, 1, BATON_INFINITY, -ETIMEDOUT));
}

int
baton_queue_try_push(baton_queue *q, void *item)
{
	return one(transfer(q, PUSH, &item, 1, 0, -EAGAIN));
}

int
baton_queue_push_timed(baton_queue *q, void *item, int timeout_ms)
{
	return one(transfer(q, PUSH, &item, 1, timeout_ms, -ETIMEDOUT));
}

int
baton_queue_pop(baton_queue *q, void **item)
{
	if (item == NULL)
		return -EINVAL;
	return one(transfer(q, POP, item, 1, BATON_INFINITY, -ETIMEDOUT));
}

int
baton_queue_try_pop(baton_queue *q, void **item)
{
	if (item == NULL)
		return -EINVAL;
	return one(transfer(q, POP, item, 1, 0, -EAGAIN));
}

int
baton_queue_pop_timed(baton_queue *q, void **item, int timeout_ms)
{
	if (item == NULL)
		return -EINVAL;
	return one(transfer(q, POP, item, 1, timeout_ms, -ETIMEDOUT));
}

/*
 * push_some never writes to the array; transfer shares one signature for
 * both directions, hence the cast.
 */
ptrdiff_t
baton_queue_push_many(baton_queue *q, void *const *items, size_t n)
{
	return transfer(q, PUSH, (void **)items, n, BATON_INFINITY,
			-ETIMEDOUT);
}

ptrdiff_t
baton_queue_try_push_many(baton_queue *q, void *const *items, size_t n)
{
	return transfer(q, PUSH, (void **)items, n, 0, -EAGAIN);
}

ptrdiff_t
baton_queue_push_many_timed(baton_queue *q, void *const *items, size_t n,
			    int timeout_ms)
{
	return transfer(q, PUSH, (void **)items, n, timeout_ms, -ETIMEDOUT);
}

ptrdiff_t
baton_queue_pop_many(baton_queue *q, void **items, size_t n)
{
	return transfer(q, POP, items, n, BATON_INFINITY, -ETIMEDOUT);
}

ptrdiff_t
baton_queue_try_pop_many(baton_queue *q, void **items, size_t n)
{
	return transfer(q, POP, items, n, 0, -EAGAIN);
}

ptrdiff_t
baton_queue_pop_many_timed(baton_queue *q, void **items, size_t n,
			   int timeout_ms)
{
	return transfer(q, POP, items, n, timeout_ms, -ETIMEDOUT);
}

int
baton_queue_close(baton_queue *q)
{
	if (q == NULL)
		return -EINVAL;
	/* Under the producer lock: no push straddles the close (see notes). */
	baton__lock_acquire(&q->producers);
	/* release: pairs with the acquire loads in push_some and pop_some. */
	atomic_store_explicit(&q->closed, true, memory_order_release);
	baton__lock_release(&q->producers);
	/* Wake every blocked pusher and popper: they re-check the flag. */
	baton__gate_open(&q->push_gate);
	baton__gate_open(&q->pop_gate);
	baton__ec_signal(&q->items);
	baton__ec_signal(&q->space);
	return 0;
}

ptrdiff_t
baton_queue_close_discard(baton_queue *q, baton_queue_item_fn fn, void *ctx)
{
	ptrdiff_t count = 0;
	void *item;

	if (q == NULL)
		return -EINVAL;
	baton_queue_close(q);
	while (take_one(q, &item)) {
		count++;
		if (fn != NULL)
			fn(item, ctx);
		else if (q->destroy != NULL)
			q->destroy(item);
	}
	return count;
}

size_t
baton_queue_size(const baton_queue *q)
{
	size_t size;

	if (q == NULL)
		return 0;
	/* The two heads are read apart, so a snapshot may overshoot. */
	size = ck_ring_size(&q->ring);
	return size < q->capacity ? size : q->capacity;
}

size_t
baton_queue_capacity(const baton_queue *q)
{
	return q == NULL ? 0 : q->capacity;
}

bool
baton_queue_is_closed(const baton_queue *q)
{
	/* acquire: a true answer happens-after the close. */
	return q != NULL &&
	    atomic_load_explicit(&q->closed, memory_order_acquire);
}
