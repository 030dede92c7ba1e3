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
 */
#include <errno.h>

#include "queue_impl.h"

/* How long a linked waiter spins before it sleeps. */
#define RV_SPIN_NS 50000L

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

/* Moves items with the waiters of the other line; rendezvous lock held. */
static ptrdiff_t
match_locked(baton_queue *q, enum baton__dir dir, void **items, size_t n)
{
	struct baton__waitq *other = dir == BATON__PUSH ? &q->poppers
						       : &q->pushers;
	struct baton__waiter *w;
	size_t k = 0;

	while (k < n && (w = other->head) != NULL) {
		baton__waitq_unlink_locked(other, w);
		if (dir == BATON__PUSH) {
			w->item = items[k];
			/* The claim's release publishes the item; a select's
			 * records share its word, the tag says which case. */
			if (baton__waiter_claim(w->word, handed(w)))
				k++;
		} else {
			void *item = w->item;

			if (baton__waiter_claim(w->word, handed(w)))
				items[k++] = item;
		}
	}
	return (ptrdiff_t)k;
}

ptrdiff_t
baton__rv_attempt(baton_queue *q, enum baton__dir dir, void **items,
		  size_t n)
{
	ptrdiff_t k;

	if (closed(q))
		return -EPIPE;
	baton__lock_acquire(&q->pushers.lock);
	k = match_locked(q, dir, items, n);
	baton__lock_release(&q->pushers.lock);
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
	unsigned why;
	ptrdiff_t k;

	baton__lock_acquire(&q->pushers.lock);
	/* Under the lock: close's wake of our line comes after the link. */
	if (closed(q)) {
		baton__lock_release(&q->pushers.lock);
		return -EPIPE;
	}
	k = match_locked(q, dir, items, 1);
	if (k != 0) {
		baton__lock_release(&q->pushers.lock);
		return k;
	}
	if (dir == BATON__PUSH)
		w->item = items[0];
	baton__waitq_link_locked(own, w);
	baton__lock_release(&q->pushers.lock);

	/* A partner usually comes within a futex round trip: spin first. */
	baton__waiter_sleep(w->word, d, RV_SPIN_NS);
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
