/*
 * rendezvous.c - the queue of capacity 0 (Go's unbuffered channel): a push
 * completes only when a popper takes its item.
 *
 * Design notes
 * ============
 * No storage: the item moves through the waiter records of the two wait
 * lines (queue_impl.h), both guarded by one lock (the pushers' line lock),
 * so that a pusher and a popper arriving together always find each other:
 * each looks at the other line and links itself into its own in one
 * critical section.
 *
 * A pusher that finds a popper waiting writes the item into the popper's
 * record and claims its word HANDED; a popper that finds a pusher waiting
 * reads the item from the pusher's record and claims its word HANDED.
 * The claim is a CAS from WAITING, so it races cleanly with the waiter's
 * own timeout, its cancellation and close: if the claim fails, the item
 * was never moved and the claimer tries the next record.  A pusher woken
 * by anything but HANDED still holds its item.
 *
 * Close: the bit in `tail` (queue.c) and a CLOSED claim of every waiter;
 * later pushes fail with -EPIPE, and pops, having nothing buffered, too.
 * A push_many hands over as many items as poppers are waiting (blocking
 * only for the first); a pop_many takes from as many waiting pushers.
 *
 * Cost: a handoff to a waiting partner is one CAS on its word, plus a
 * futex wake only if the partner went to sleep, made after the lock is
 * released (struct baton__wakes): woken under the lock, a partner on the
 * same CPU preempted the waker and then spun and slept on the lock it
 * held, three context switches per item.  A waiter spins on its side's
 * adaptive budget (a running partner is back within a microsecond; the
 * budget shrinks while spins fail, when the partner is descheduled), then
 * yields the CPU a few times (a partner runnable on this CPU then takes
 * the item with no futex call on either side: one context switch per
 * item), and only then sleeps.  Threads cannot do what Go's scheduler
 * does, switching from the blocked sender to the receiver in user space
 * on one core: measured against Go's unbuffered channel on a loaded
 * 2-vCPU VM, a context switch per item is the floor when the partner is
 * not running at the same time.
 *
 * Model: tests/models/rendezvous.pml checks the handoff, the sleep and
 * wake, cancellation and close's batched wakes; change it with them.
 */
#include <errno.h>
#include <sched.h>

#include "queue_impl.h"

/* How many times a waiter whose spin failed yields before it sleeps. */
#define RV_YIELDS 3

static bool
word_claimed(void *arg)
{
	/* relaxed: baton__waiter_sleep re-reads it with acquire. */
	return !BATON__W_OPEN(atomic_load_explicit((atomic_uint *)arg,
						   memory_order_relaxed));
}

static bool
closed(baton_queue *q)
{
	/* acquire: pairs with close's RMW. */
	return atomic_load_explicit(&q->tail, memory_order_acquire) &
	    TAIL_CLOSED;
}

static unsigned
handed(const struct baton__waiter *w)
{
	return BATON__W_HANDED | w->tag << BATON__W_TAG_SHIFT;
}

/*
 * Moves items with the waiters of the other line; rendezvous lock held.
 * The sleeping partners' wakes go into b (made after the unlock); stops
 * when b is full.
 */
static ptrdiff_t
match_locked(baton_queue *q, enum baton__dir dir, void **items, size_t n,
	     struct baton__wakes *b)
{
	struct baton__waitq *other = dir == BATON__PUSH ? &q->poppers
						       : &q->pushers;
	struct baton__waiter *w;
	size_t k = 0;

	while (k < n && (w = other->head) != NULL && baton__wakes_room(b)) {
		baton__waitq_unlink_locked(other, w);
		if (dir == BATON__PUSH) {
			w->item = items[k];
			/* The claim's release publishes the item; a select's
			 * records share its word, the tag says which case. */
			if (baton__waiter_claim_later(w->word, handed(w), b))
				k++;
		} else {
			void *item = w->item;

			if (baton__waiter_claim_later(w->word, handed(w), b))
				items[k++] = item;
		}
	}
	return (ptrdiff_t)k;
}

ptrdiff_t
baton__rv_attempt(baton_queue *q, enum baton__dir dir, void **items,
		  size_t n)
{
	struct baton__wakes b = { 0 };
	ptrdiff_t k = 0, got;
	bool full;

	if (closed(q))
		return -EPIPE;
	do {
		baton__lock_acquire(&q->pushers.lock);
		got = match_locked(q, dir, items + k, n - (size_t)k, &b);
		full = !baton__wakes_room(&b);
		baton__lock_release(&q->pushers.lock);
		/* After the unlock: a partner woken on this CPU would
		 * otherwise preempt us and spin on the lock we hold. */
		baton__wakes_flush(&b);
		k += got;
	} while (full && k < (ptrdiff_t)n);
	return k;
}

bool
baton__rv_ready(baton_queue *q, enum baton__dir dir)
{
	/* seq_cst: the counts are the other side's records. */
	return closed(q) ||
	    atomic_load_explicit(dir == BATON__PUSH ? &q->poppers.count
						    : &q->pushers.count,
				 memory_order_seq_cst) != 0;
}

ptrdiff_t
baton__rv_wait(baton_queue *q, enum baton__dir dir, void **items,
	       struct baton__waiter *w, const struct baton__deadline *d)
{
	struct baton__waitq *own = baton__line(q, dir);
	struct baton__wakes b = { 0 };
	unsigned why;
	ptrdiff_t k;

	baton__lock_acquire(&q->pushers.lock);
	/* Under the lock: close's wake of our line comes after the link. */
	if (closed(q)) {
		baton__lock_release(&q->pushers.lock);
		return -EPIPE;
	}
	k = match_locked(q, dir, items, 1, &b);
	if (k != 0) {
		baton__lock_release(&q->pushers.lock);
		baton__wakes_flush(&b);
		return k;
	}
	if (dir == BATON__PUSH)
		w->item = items[0];
	baton__waitq_link_locked(own, w);
	baton__lock_release(&q->pushers.lock);

	/*
	 * A running partner comes back within a microsecond or two: spin on
	 * the side's adaptive budget, which shrinks when spins fail (the
	 * partner is descheduled, and spinning only delays it).
	 */
	if (!baton__spin_until(dir == BATON__PUSH ? &q->push_spin
						  : &q->pop_spin,
			       word_claimed, w->word)) {
		for (int i = 0; i < RV_YIELDS && !word_claimed(w->word); i++)
			sched_yield();
	}
	baton__waiter_sleep(w->word, d, 0);
	why = BATON__W_REASON(baton__waiter_finish(&q->pushers.lock, own, w));
	switch (why) {
	case BATON__W_HANDED:
		if (dir == BATON__POP)
			items[0] = w->item;
		return 1;
	case BATON__W_CANCELLED:
		return -ECANCELED;
	case BATON__W_TIMEDOUT:
		return -ETIMEDOUT;
	default:
		return 0; /* CLOSED: look again, which finds -EPIPE */
	}
}
