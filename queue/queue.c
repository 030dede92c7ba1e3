/*
 * queue.c - baton's bounded, closable blocking queue.
 *
 * Design notes
 * ============
 * Storage: an array of exactly `capacity` slots, each a sequence number
 * and an item (Vyukov's bounded MPMC queue).  Two 64-bit tickets count
 * every push (`tail`) and every pop (`head`) ever claimed; ticket t uses
 * slot t mod capacity.  A slot is free for push ticket t when its sequence
 * is 2t, holds ticket t's item when it is 2t + 1, and is handed on to push
 * ticket t + capacity when the popper stores 2(t + capacity).  (Doubled,
 * so that "full for t" and "free for t + 1" differ even at capacity 1.)  Sequence numbers are
 * per slot, so producers and consumers meet only on the slot lines they
 * hand to each other, never on a shared counter.
 *
 * Claiming: a push first checks that its next k slots are free (their
 * sequence numbers say so), then claims those k tickets with one CAS on
 * `tail`; a pop checks that its next k slots are full, then claims them
 * with one CAS on `head`.  The CAS is the linearisation point.  A thread
 * never holds a ticket while it waits: once claimed, its slots are ready,
 * so no chain of claimed-but-unfinished slots forms when threads
 * outnumber cores.  A slot that is not ready while the tickets say it
 * should be (a pusher that claimed but has not written yet, a popper that
 * claimed but has not read yet) is waited out without a claim
 * (baton__wait_change): a few instructions, unless that thread was
 * preempted.  So try_ calls are exact: never -EAGAIN while a completed
 * push is inside, nor while there is room.
 *
 * The other side's ticket: a push reads `head` only when its slot looks
 * full, a pop reads `tail` only when its slot looks empty; the slot's own
 * sequence number is the cached copy.  In the common case a push touches
 * the producers' line and one slot line, and a pop the consumers' line
 * and one slot line.
 *
 * Close: bit 0 of `tail` (tickets count in steps of 2).  close sets it
 * with an atomic OR, so a push either claimed its ticket before the close
 * (its item is in, and is drained by pops or close_discard) or sees the
 * bit in its CAS and keeps its item.  A pop that finds tail's ticket equal
 * to head and the bit set returns -EPIPE.
 *
 * Blocking: a call that cannot proceed spins briefly on an adaptive budget
 * (a futex round trip costs 30-60 us), then links a record into its
 * side's wait line (waitq.c) and sleeps on the record's own word.  The
 * claim CAS is seq_cst and is followed by a seq_cst load of the other
 * side's waiter count; the waiter increments that count (seq_cst RMW)
 * and then re-checks the tickets (seq_cst loads): a Dekker pair, so no
 * wake-up is lost, and a busy queue pays neither a fence nor a shared
 * write for it (tests/models/queue_wait.pml).  Wakes are one per item.
 *
 * Destroy under waiters: every call that goes past its first attempt
 * counts itself in `blocked` until its last access to the queue.
 * destroy closes the queue, wakes both lines, and waits for `blocked` to
 * reach zero before it frees anything.
 *
 * Who frees what: a pushed item belongs to the queue until a pop hands it
 * out; clear and close_discard hand items to a callback or the
 * destructor; destroy runs the destructor on whatever is left.  Each item
 * goes to exactly one place, because each ticket is claimed by one CAS.
 *
 * Rendezvous (capacity 0) has no slots: see rendezvous.c.
 */
#include "baton/queue.h"

#include <errno.h>
#include <sched.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "queue_impl.h"

static int
create_ring(baton_queue *q, size_t capacity)
{
	/* aligned_alloc wants a multiple of the alignment. */
	size_t bytes = (capacity * sizeof(*q->slots) + CACHELINE - 1) &
	    ~(size_t)(CACHELINE - 1);

	q->slots = baton__aligned_alloc(CACHELINE, bytes);
	if (q->slots == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < capacity; i++) {
		atomic_init(&q->slots[i].seq, 2 * i);
		atomic_init(&q->slots[i].item, NULL);
	}
	q->mask = (capacity & (capacity - 1)) == 0 ? capacity - 1 : 0;
	return 0;
}

int
baton_queue_create(baton_queue **out, size_t capacity,
		   baton_destroy_fn item_destroy)
{
	baton_queue *q;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (capacity > BATON_QUEUE_MAX_CAPACITY)
		return -EINVAL;

	q = baton__aligned_alloc(CACHELINE, sizeof(*q));
	if (q == NULL)
		return -ENOMEM;
	memset(q, 0, sizeof(*q));
	q->capacity = capacity;
	q->destroy = item_destroy;
	if (capacity > 0 && create_ring(q, capacity) != 0) {
		free(q);
		return -ENOMEM;
	}
	atomic_init(&q->tail, 0);
	atomic_init(&q->head, 0);
	atomic_init(&q->pushers.count, 0);
	atomic_init(&q->poppers.count, 0);
	atomic_init(&q->blocked, 0);
	*out = q;
	return 0;
}

static inline struct slot *
slot_of(const baton_queue *q, uint64_t ticket)
{
	return &q->slots[q->mask != 0 || q->capacity == 1
			     ? ticket & q->mask
			     : ticket % q->capacity];
}

/* How many of slots t, t+1, ... (at most n) are in state 2 * ticket + odd. */
static inline uint64_t
count_ready(const baton_queue *q, uint64_t t, size_t n, unsigned odd)
{
	uint64_t k = 0;

	/*
	 * acquire: a free slot's last item was read by its popper before
	 * we overwrite it; a full slot's item is visible before we read it.
	 */
	while (k < n && atomic_load_explicit(&slot_of(q, t + k)->seq,
					     memory_order_acquire) ==
			    2 * (t + k) + odd)
		k++;
	return k;
}

/*
 * Appends as many of items[0..n) as fit now.  Returns how many (0 when
 * full) or -EPIPE.
 */
static ptrdiff_t
ring_push(baton_queue *q, void *const *items, size_t n)
{
	/* relaxed: the CAS below validates it.  The word's own type: the
	 * CAS writes it back through a pointer. */
	unsigned long long t = atomic_load_explicit(&q->tail,
						    memory_order_relaxed);
	uint64_t pos, k, seq;

	for (;;) {
		if (t & TAIL_CLOSED)
			return -EPIPE;
		pos = t >> 1;
		k = count_ready(q, pos, n, 0);
		if (k == 0) {
			/* relaxed: only a hint of what to re-read. */
			seq = atomic_load_explicit(&slot_of(q, pos)->seq,
						   memory_order_relaxed);
			if (seq < 2 * pos) {
				/* Looks full: only now read the head. */
				if (pos - atomic_load_explicit(
					      &q->head, memory_order_acquire) >=
				    q->capacity) {
					t = atomic_load_explicit(
					    &q->tail, memory_order_relaxed);
					if ((t >> 1) == pos &&
					    !(t & TAIL_CLOSED))
						return 0;
					continue;
				}
				/* A popper still reads the slot: wait. */
				baton__wait_change(&slot_of(q, pos)->seq, seq);
			}
			/* Else another push took `pos`: catch up. */
			t = atomic_load_explicit(&q->tail,
						 memory_order_relaxed);
			continue;
		}
		/*
		 * seq_cst: the linearisation point, and the signaller's
		 * half of the Dekker pair with a popper that links itself.
		 * The k slots checked free stay free: only the pusher that
		 * holds their tickets fills them.
		 */
		if (atomic_compare_exchange_weak_explicit(
			&q->tail, &t, t + 2 * k, memory_order_seq_cst,
			memory_order_relaxed))
			break;
	}
	for (uint64_t i = 0; i < k; i++) {
		struct slot *s = slot_of(q, pos + i);

		/* relaxed: published by the release store of seq. */
		atomic_store_explicit(&s->item, items[i], memory_order_relaxed);
		/* release: the popper that sees the odd number sees the item. */
		atomic_store_explicit(&s->seq, 2 * (pos + i) + 1,
				      memory_order_release);
	}
	if (baton__waitq_has_waiters(&q->poppers))
		baton__waitq_wake(&q->poppers, (unsigned)k, BATON__W_WOKEN);
	return (ptrdiff_t)k;
}

/*
 * Takes up to n present items.  Returns how many (0 when empty and open)
 * or -EPIPE (closed and empty).
 */
static ptrdiff_t
ring_pop(baton_queue *q, void **items, size_t n)
{
	/* relaxed: the CAS below validates it (the word's own type, as in
	 * ring_push). */
	unsigned long long h = atomic_load_explicit(&q->head,
						    memory_order_relaxed);
	uint64_t t, k, seq;

	for (;;) {
		k = count_ready(q, h, n, 1);
		if (k == 0) {
			/* relaxed: only a hint of what to re-read. */
			seq = atomic_load_explicit(&slot_of(q, h)->seq,
						   memory_order_relaxed);
			if (seq <= 2 * h) {
				/* Looks empty: only now read the tail. */
				t = atomic_load_explicit(&q->tail,
							 memory_order_acquire);
				if ((t >> 1) <= h) {
					if (atomic_load_explicit(
						&q->head,
						memory_order_relaxed) != h) {
						h = atomic_load_explicit(
						    &q->head,
						    memory_order_relaxed);
						continue;
					}
					/*
					 * The bit and the ticket come from
					 * one load: every push before the
					 * close has its ticket below it.
					 */
					return (t & TAIL_CLOSED) ? -EPIPE : 0;
				}
				/* A pusher still writes the slot: wait. */
				baton__wait_change(&slot_of(q, h)->seq, seq);
			}
			/* Else another pop took `h`: catch up. */
			h = atomic_load_explicit(&q->head,
						 memory_order_relaxed);
			continue;
		}
		/* seq_cst: as in ring_push, with the pushers' line. */
		if (atomic_compare_exchange_weak_explicit(
			&q->head, &h, h + k, memory_order_seq_cst,
			memory_order_relaxed))
			break;
	}
	for (uint64_t i = 0; i < k; i++) {
		struct slot *s = slot_of(q, h + i);

		items[i] = atomic_load_explicit(&s->item,
						memory_order_relaxed);
		/* release: the slot goes to push ticket h + i + capacity. */
		atomic_store_explicit(&s->seq, 2 * (h + i + q->capacity),
				      memory_order_release);
	}
	if (baton__waitq_has_waiters(&q->pushers))
		baton__waitq_wake(&q->pushers, (unsigned)k, BATON__W_WOKEN);
	return (ptrdiff_t)k;
}

/* Whether a push could make progress now (room, or closed: -EPIPE). */
static bool
push_ready(void *arg)
{
	baton_queue *q = arg;
	/* seq_cst: the waiter's loads of its Dekker pair (see notes). */
	uint64_t t = atomic_load_explicit(&q->tail, memory_order_seq_cst);

	return (t & TAIL_CLOSED) ||
	    (t >> 1) - atomic_load_explicit(&q->head, memory_order_seq_cst) <
	    q->capacity;
}

/* Whether a pop could make progress now (an item, or closed). */
static bool
pop_ready(void *arg)
{
	baton_queue *q = arg;
	/* seq_cst: as push_ready. */
	uint64_t t = atomic_load_explicit(&q->tail, memory_order_seq_cst);

	return (t & TAIL_CLOSED) ||
	    (t >> 1) > atomic_load_explicit(&q->head, memory_order_seq_cst);
}

/*
 * The spin before a wait watches the one slot the caller needs next, not
 * the other side's ticket: the slot's line moves once per item anyway,
 * while a spinner re-reading `tail` would steal its line from every push.
 * The tickets (for close, and for a slot taken by someone else) are read
 * only every 64 polls.
 */
struct spin_ctx {
	baton_queue *q;
	enum baton__dir dir;
	unsigned polls;
};

static bool
slot_ready(void *arg)
{
	struct spin_ctx *c = arg;
	baton_queue *q = c->q;
	uint64_t t;

	if (++c->polls % 64 == 0)
		return baton__ready(q, c->dir);
	if (c->dir == BATON__PUSH) {
		/* relaxed: a hint; the attempt that follows decides. */
		t = atomic_load_explicit(&q->tail, memory_order_relaxed) >> 1;
		return atomic_load_explicit(&slot_of(q, t)->seq,
					    memory_order_relaxed) == 2 * t;
	}
	t = atomic_load_explicit(&q->head, memory_order_relaxed);
	return atomic_load_explicit(&slot_of(q, t)->seq,
				    memory_order_relaxed) == 2 * t + 1;
}

ptrdiff_t
baton__attempt(baton_queue *q, enum baton__dir dir, void **items, size_t n)
{
	if (q->capacity == 0)
		return baton__rv_attempt(q, dir, items, n);
	return dir == BATON__PUSH ? ring_push(q, items, n)
				  : ring_pop(q, items, n);
}

bool
baton__ready(baton_queue *q, enum baton__dir dir)
{
	if (q->capacity == 0)
		return baton__rv_ready(q, dir);
	return dir == BATON__PUSH ? push_ready(q) : pop_ready(q);
}


/*
 * The blocking part of every push and pop variant, after a first attempt
 * failed.  Returns what the last attempt gave, or -ETIMEDOUT/-ECANCELED.
 */
static ptrdiff_t
wait_and_transfer(baton_queue *q, enum baton__dir dir, void **items,
		  size_t n, int timeout_ms, baton_queue_cancel *cancel)
{
	struct baton__waitq *wq = dir == BATON__PUSH ? &q->pushers
						    : &q->poppers;
	atomic_uint word;
	struct baton__waiter w = { .word = &word };
	struct cancel_link link = { .word = &word };
	struct baton__deadline deadline;
	unsigned why;
	ptrdiff_t r;

	/* relaxed: destroy's wait reads it; the waker's lock orders it. */
	atomic_fetch_add_explicit(&q->blocked, 1, memory_order_relaxed);
	baton__deadline_init(&deadline, timeout_ms);
	if (q->capacity > 0 &&
	    baton__spin_until(dir == BATON__PUSH ? &q->push_spin : &q->pop_spin,
			      slot_ready, &(struct spin_ctx){ q, dir, 0 })) {
		r = baton__attempt(q, dir, items, n);
		if (r != 0)
			goto out;
	}
	for (;;) {
		/* relaxed: no claimer can see the record yet. */
		atomic_store_explicit(&word, BATON__W_WAITING,
				      memory_order_relaxed);
		if (!baton__cancel_enter(cancel, &link)) {
			r = -ECANCELED;
			break;
		}
		if (q->capacity == 0) {
			/* A rendezvous matches partners under its locks. */
			r = baton__rv_wait(q, dir, items, &w, &deadline);
			baton__cancel_leave(cancel, &link);
			if (r != 0)
				break;
			continue;
		}
		baton__waitq_link(wq, &w);
		if (!baton__ready(q, dir))
			baton__waiter_sleep(&word, &deadline, 0);
		why = BATON__W_REASON(baton__waiter_finish(&wq->lock, wq, &w));
		baton__cancel_leave(cancel, &link);
		if (why == BATON__W_CANCELLED) {
			r = -ECANCELED;
			break;
		}
		r = baton__attempt(q, dir, items, n);
		if (r != 0)
			break;
		if (why == BATON__W_TIMEDOUT ||
		    (!deadline.infinite && baton__deadline_expired(&deadline))) {
			r = -ETIMEDOUT;
			break;
		}
	}
out:
	/* release: our last access to q happens-before destroy's free. */
	atomic_fetch_sub_explicit(&q->blocked, 1, memory_order_release);
	return r;
}

/*
 * Every push and pop variant.  `busy` is -EAGAIN for try_ calls (never
 * wait) and -ETIMEDOUT for the others.
 */
static ptrdiff_t
transfer(baton_queue *q, enum baton__dir dir, void **items, size_t n,
	 int timeout_ms, int busy, baton_queue_cancel *cancel)
{
	ptrdiff_t r;

	if (q == NULL || (items == NULL && n > 0))
		return -EINVAL;
	if (baton__timeout_check(timeout_ms) != 0)
		return -EINVAL;
	if (n == 0)
		return 0;
	if (baton__cancel_fired(cancel))
		return -ECANCELED;
	/*
	 * A blocking rendezvous call for one item goes straight to its wait,
	 * which looks for a partner and links itself under one acquisition
	 * of the rendezvous lock: a first attempt would take that lock once
	 * more for nothing whenever the partner is not waiting yet.
	 */
	if (q->capacity == 0 && n == 1 && busy != -EAGAIN && timeout_ms != 0)
		return wait_and_transfer(q, dir, items, n, timeout_ms, cancel);
	r = baton__attempt(q, dir, items, n);
	if (r != 0)
		return r;
	if (busy == -EAGAIN || timeout_ms == 0)
		return busy;
	return wait_and_transfer(q, dir, items, n, timeout_ms, cancel);
}

static int
one(ptrdiff_t r)
{
	return r > 0 ? 0 : (int)r;
}

int
baton_queue_push(baton_queue *q, void *item)
{
	return one(transfer(q, BATON__PUSH, &item, 1, BATON_INFINITY,
			    -ETIMEDOUT, NULL));
}

int
baton_queue_try_push(baton_queue *q, void *item)
{
	return one(transfer(q, BATON__PUSH, &item, 1, 0, -EAGAIN, NULL));
}

int
baton_queue_push_timed(baton_queue *q, void *item, int timeout_ms)
{
	return one(transfer(q, BATON__PUSH, &item, 1, timeout_ms, -ETIMEDOUT,
			    NULL));
}

int
baton_queue_push_cancellable(baton_queue *q, void *item, int timeout_ms,
			     baton_queue_cancel *cancel)
{
	if (cancel == NULL)
		return -EINVAL;
	return one(transfer(q, BATON__PUSH, &item, 1, timeout_ms, -ETIMEDOUT,
			    cancel));
}

int
baton_queue_pop(baton_queue *q, void **item)
{
	if (item == NULL)
		return -EINVAL;
	return one(transfer(q, BATON__POP, item, 1, BATON_INFINITY,
			    -ETIMEDOUT, NULL));
}

int
baton_queue_try_pop(baton_queue *q, void **item)
{
	if (item == NULL)
		return -EINVAL;
	return one(transfer(q, BATON__POP, item, 1, 0, -EAGAIN, NULL));
}

int
baton_queue_pop_timed(baton_queue *q, void **item, int timeout_ms)
{
	if (item == NULL)
		return -EINVAL;
	return one(transfer(q, BATON__POP, item, 1, timeout_ms, -ETIMEDOUT,
			    NULL));
}

int
baton_queue_pop_cancellable(baton_queue *q, void **item, int timeout_ms,
			    baton_queue_cancel *cancel)
{
	if (item == NULL || cancel == NULL)
		return -EINVAL;
	return one(transfer(q, BATON__POP, item, 1, timeout_ms, -ETIMEDOUT,
			    cancel));
}

/*
 * ring_push never writes to the array; transfer shares one signature for
 * both directions, hence the cast.
 */
ptrdiff_t
baton_queue_push_many(baton_queue *q, void *const *items, size_t n)
{
	return transfer(q, BATON__PUSH, (void **)items, n, BATON_INFINITY,
			-ETIMEDOUT, NULL);
}

ptrdiff_t
baton_queue_try_push_many(baton_queue *q, void *const *items, size_t n)
{
	return transfer(q, BATON__PUSH, (void **)items, n, 0, -EAGAIN, NULL);
}

ptrdiff_t
baton_queue_push_many_timed(baton_queue *q, void *const *items, size_t n,
			    int timeout_ms)
{
	return transfer(q, BATON__PUSH, (void **)items, n, timeout_ms,
			-ETIMEDOUT, NULL);
}

ptrdiff_t
baton_queue_pop_many(baton_queue *q, void **items, size_t n)
{
	return transfer(q, BATON__POP, items, n, BATON_INFINITY, -ETIMEDOUT,
			NULL);
}

ptrdiff_t
baton_queue_try_pop_many(baton_queue *q, void **items, size_t n)
{
	return transfer(q, BATON__POP, items, n, 0, -EAGAIN, NULL);
}

ptrdiff_t
baton_queue_pop_many_timed(baton_queue *q, void **items, size_t n,
			   int timeout_ms)
{
	return transfer(q, BATON__POP, items, n, timeout_ms, -ETIMEDOUT,
			NULL);
}

int
baton_queue_close(baton_queue *q)
{
	if (q == NULL)
		return -EINVAL;
	/* seq_cst: a push's CAS either precedes this or sees the bit. */
	atomic_fetch_or_explicit(&q->tail, TAIL_CLOSED, memory_order_seq_cst);
	/* Every blocked pusher and popper wakes and looks again. */
	if (q->capacity == 0) {
		/* A rendezvous guards both lines with the pushers' lock. */
		baton__lock_acquire(&q->pushers.lock);
		baton__waitq_wake_locked(&q->pushers, 0, BATON__W_CLOSED);
		baton__waitq_wake_locked(&q->poppers, 0, BATON__W_CLOSED);
		baton__lock_release(&q->pushers.lock);
	} else {
		baton__waitq_wake(&q->pushers, 0, BATON__W_CLOSED);
		baton__waitq_wake(&q->poppers, 0, BATON__W_CLOSED);
	}
	return 0;
}

/*
 * Hands up to `limit` items present now to fn or the destructor; returns
 * how many.
 */
static ptrdiff_t
discard(baton_queue *q, baton_queue_item_fn fn, void *ctx, uint64_t limit)
{
	ptrdiff_t count = 0;
	void *item;

	while ((uint64_t)count < limit &&
	       baton__attempt(q, BATON__POP, &item, 1) == 1) {
		count++;
		if (fn != NULL)
			fn(item, ctx);
		else if (q->destroy != NULL)
			q->destroy(item);
	}
	return count;
}

ptrdiff_t
baton_queue_close_discard(baton_queue *q, baton_queue_item_fn fn, void *ctx)
{
	if (q == NULL)
		return -EINVAL;
	baton_queue_close(q);
	return discard(q, fn, ctx, UINT64_MAX);
}

ptrdiff_t
baton_queue_clear(baton_queue *q, baton_queue_item_fn fn, void *ctx)
{
	if (q == NULL)
		return -EINVAL;
	if (q->capacity == 0)
		return 0;
	/* Only what is inside now: racing pushers cannot keep it going. */
	return discard(q, fn, ctx, baton_queue_size(q));
}

int
baton_queue_peek(const baton_queue *q, void **item)
{
	uint64_t h, t;

	if (q == NULL || item == NULL)
		return -EINVAL;
	for (;;) {
		/* acquire: the slot checks below are at or after this head. */
		h = atomic_load_explicit(&q->head, memory_order_acquire);
		t = atomic_load_explicit(&q->tail, memory_order_acquire);
		/* A rendezvous never holds an item. */
		if (q->capacity == 0 || (t >> 1) <= h)
			return (t & TAIL_CLOSED) ? -EPIPE : -EAGAIN;
		const struct slot *s = slot_of(q, h);
		void *got;

		/* A claimed push may not have written its item yet. */
		unsigned long long seq = atomic_load_explicit(
		    &s->seq, memory_order_acquire);
		if (seq != 2 * h + 1) {
			if (seq <= 2 * h)
				baton__wait_change(&s->seq, seq);
			continue;
		}
		got = atomic_load_explicit(&s->item, memory_order_relaxed);
		/*
		 * acquire (fence): the item read above happens before the
		 * head re-read; if head is still h, the slot still held
		 * ticket h's item when we read it.
		 */
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&q->head, memory_order_relaxed) == h) {
			*item = got;
			return 0;
		}
	}
}

void
baton_queue_destroy(baton_queue *q)
{
	if (q == NULL)
		return;
	if (atomic_load_explicit(&q->blocked, memory_order_relaxed) != 0) {
		baton_queue_close(q);
		/*
		 * acquire: each leaver's decrement (release) is its last
		 * access; after seeing zero nothing touches q but us.
		 */
		while (atomic_load_explicit(&q->blocked,
					    memory_order_acquire) != 0)
			sched_yield();
	}
	if (q->capacity > 0)
		discard(q, NULL, NULL, UINT64_MAX);
	free(q->slots);
	free(q);
}

size_t
baton_queue_size(const baton_queue *q)
{
	uint64_t h, t;

	if (q == NULL || q->capacity == 0)
		return 0;
	/* relaxed: a snapshot; head first, so t >= h. */
	h = atomic_load_explicit(&q->head, memory_order_relaxed);
	t = atomic_load_explicit(&q->tail, memory_order_relaxed) >> 1;
	if (t < h)
		return 0;
	return t - h < q->capacity ? (size_t)(t - h) : q->capacity;
}

size_t
baton_queue_capacity(const baton_queue *q)
{
	return q == NULL ? 0 : q->capacity;
}

size_t
baton_queue_waiters(const baton_queue *q)
{
	/* relaxed: a snapshot. */
	return q == NULL ? 0
			 : atomic_load_explicit(&q->blocked,
						memory_order_relaxed);
}

bool
baton_queue_is_closed(const baton_queue *q)
{
	/* acquire: a true answer happens-after the close. */
	return q != NULL &&
	    (atomic_load_explicit(&q->tail, memory_order_acquire) &
	     TAIL_CLOSED);
}
