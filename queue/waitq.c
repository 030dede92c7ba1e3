/*
 * waitq.c - wait lines for the queue's blocked callers, and the
 * cancellation handle.
 *
 * Design notes
 * ============
 * Each side of a queue (pushers, poppers) has a FIFO line of waiter
 * records under a small lock.  A record lives on the stack of the call
 * that waits; the call links it, re-checks its condition, sleeps on its
 * own word (a futex), and unlinks it under the lock before it returns.
 * Anyone holding the line's lock may touch a linked record.  A signaller
 * claims a record and unlinks it under the lock, then wakes it after the
 * unlock, so the sleeper never wakes into a held lock; the owner of a
 * record claimed by its line returns without the lock (see
 * baton__waiter_finish), so the wake may land on a dead word, which is a
 * spurious wake-up at worst, and every sleeper re-checks its word.
 *
 * A waiter's word starts at WAITING and is claimed once, by a CAS, by
 * whichever event comes first: a signaller (WOKEN), close or destroy
 * (CLOSED), its cancellation handle (CANCELLED), its own deadline
 * (TIMEDOUT), or a rendezvous partner (HANDED).  A signaller whose CAS
 * fails moves on to the next record, so a waiter that times out or is
 * cancelled never swallows a wake-up meant for the line: no pass-on
 * is needed.  Wakes are wake-one (n per batch), so sixteen sleeping
 * poppers and one push wake one thread, not sixteen.
 *
 * Lost wake-ups: a waiter increments `count` (seq_cst RMW) when it links,
 * then re-checks the queue with seq_cst loads; a signaller publishes its
 * change with a seq_cst RMW (the ticket CAS) and then loads `count`
 * seq_cst.  In the single total order of seq_cst operations one of the
 * two sees the other (tests/models/queue_wait.pml).  On x86-64 both loads
 * are plain moves and the RMWs are locked instructions already paid for:
 * a busy queue pays no fence and writes no shared line for wake-ups.
 *
 * A cancellation handle keeps its own list of the calls waiting with it,
 * under its own lock, with the same rule: the call leaves the list before
 * it returns, so fire may wake the word under that lock.
 */
#include "waitq.h"

#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "alloc.h"
#include "baton/queue.h"

void
baton__waitq_link_locked(struct baton__waitq *wq, struct baton__waiter *w)
{
	w->next = NULL;
	w->prev = wq->tail;
	if (wq->tail != NULL)
		wq->tail->next = w;
	else
		wq->head = w;
	wq->tail = w;
	w->linked = true;
	/* seq_cst: the waiter's half of the Dekker pair (see notes). */
	atomic_fetch_add_explicit(&wq->count, 1, memory_order_seq_cst);
}

void
baton__waitq_link(struct baton__waitq *wq, struct baton__waiter *w)
{
	baton__lock_acquire(&wq->lock);
	baton__waitq_link_locked(wq, w);
	baton__lock_release(&wq->lock);
}

bool
baton__waitq_unlink_locked(struct baton__waitq *wq, struct baton__waiter *w)
{
	if (!w->linked)
		return false;
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		wq->head = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	else
		wq->tail = w->prev;
	w->linked = false;
	/* relaxed: the lock orders the list; the count is only a hint. */
	atomic_fetch_sub_explicit(&wq->count, 1, memory_order_relaxed);
	return true;
}

bool
baton__waitq_unlink(struct baton__waitq *wq, struct baton__waiter *w)
{
	bool was;

	baton__lock_acquire(&wq->lock);
	was = baton__waitq_unlink_locked(wq, w);
	baton__lock_release(&wq->lock);
	return was;
}

static void
futex_wake_one(atomic_uint *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

bool
baton__word_claim(atomic_uint *word, unsigned val, unsigned *prev,
		  memory_order success)
{
	/* relaxed: the CAS decides. */
	unsigned v = atomic_load_explicit(word, memory_order_relaxed);

	while (BATON__W_OPEN(v)) {
		if (atomic_compare_exchange_weak_explicit(
			word, &v, val, success, memory_order_relaxed)) {
			*prev = v;
			return true;
		}
	}
	*prev = v;
	return false;
}

bool
baton__waiter_claim(atomic_uint *word, unsigned reason)
{
	unsigned prev;

	/* release: the woken thread sees what the waker did before. */
	if (!baton__word_claim(word, reason, &prev, memory_order_release))
		return false;
	if (prev == BATON__W_SLEEPING)
		futex_wake_one(word);
	return true;
}

bool
baton__waiter_claim_later(atomic_uint *word, unsigned reason,
			  struct baton__wakes *b)
{
	unsigned prev;

	/* release: the woken thread sees what the waker did before. */
	if (!baton__word_claim(word, reason, &prev, memory_order_release))
		return false;
	/* A spinning owner needs no system call. */
	if (prev == BATON__W_SLEEPING)
		b->words[b->n++] = word;
	return true;
}

void
baton__wakes_flush(struct baton__wakes *b)
{
	for (unsigned i = 0; i < b->n; i++)
		futex_wake_one(b->words[i]);
	b->n = 0;
}

/*
 * Claims up to n records (0: all) and collects their words, stopping when
 * the batch is full.  Returns how many it claimed.
 */
static unsigned
claim_locked(struct baton__waitq *wq, unsigned n, unsigned reason,
	     struct baton__wakes *b)
{
	struct baton__waiter *w;
	unsigned claimed = 0;

	while ((w = wq->head) != NULL && (n == 0 || claimed < n) &&
	       baton__wakes_room(b)) {
		/* Read before the claim: after it, w may be gone. */
		atomic_uint *word = w->word;
		unsigned tag = w->tag;

		baton__waitq_unlink_locked(wq, w);
		/*
		 * release: the woken thread sees what the waker did.  A
		 * select's records share one word: the tag says which.
		 */
		if (baton__waiter_claim_later(
			word, reason | tag << BATON__W_TAG_SHIFT, b))
			claimed++;
	}
	return claimed;
}

unsigned
baton__waitq_wake_locked(struct baton__waitq *wq, unsigned n,
			 unsigned reason)
{
	struct baton__wakes b = { 0 };
	unsigned woken = 0;

	/* The caller holds the lock: wake as we go (records stay alive). */
	do {
		woken += claim_locked(wq, n == 0 ? 0 : n - woken, reason, &b);
		baton__wakes_flush(&b);
	} while (wq->head != NULL && (n == 0 || woken < n));
	return woken;
}

unsigned
baton__waitq_wake(struct baton__waitq *wq, unsigned n, unsigned reason)
{
	struct baton__wakes b = { 0 };
	unsigned woken = 0, got;
	bool full;

	do {
		baton__lock_acquire(&wq->lock);
		got = claim_locked(wq, n == 0 ? 0 : n - woken, reason, &b);
		/* A full batch may have stopped the claims early. */
		full = !baton__wakes_room(&b);
		baton__lock_release(&wq->lock);
		/*
		 * Woken after the unlock, so that the sleeper does not wake
		 * into a held lock.  A claimed record was unlinked by us and
		 * its owner never takes the lock again, so its frame may be
		 * gone by now: a wake on a dead word is at worst a spurious
		 * wake-up of a later sleeper there, which re-checks its word.
		 */
		baton__wakes_flush(&b);
		woken += got;
	} while (full && (n == 0 || woken < n));
	return woken;
}

unsigned
baton__waiter_finish(struct baton__lock *lock, struct baton__waitq *wq,
		     struct baton__waiter *w)
{
	unsigned v;

	/* acquire: if a claim won, see what the claimer did before it. */
	if (baton__word_claim(w->word, BATON__W_LEFT, &v,
			      memory_order_acquire))
		v = BATON__W_LEFT;
	else /* acquire: as above; a claimed word never changes again. */
		v = atomic_load_explicit(w->word, memory_order_acquire);
	/* A line's own claim unlinked the record; any other did not. */
	switch (BATON__W_REASON(v)) {
	case BATON__W_LEFT:
	case BATON__W_CANCELLED:
	case BATON__W_TIMEDOUT:
		baton__lock_acquire(lock);
		baton__waitq_unlink_locked(wq, w);
		baton__lock_release(lock);
		break;
	default:
		break;
	}
	return v;
}

static void
futex_wait_until(atomic_uint *word, unsigned expected,
		 const struct baton__deadline *d)
{
	/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline. */
	syscall(SYS_futex, word, FUTEX_WAIT_BITSET_PRIVATE, expected,
		d->infinite ? NULL : &d->at, NULL, FUTEX_BITSET_MATCH_ANY);
}

static bool
word_claimed(void *arg)
{
	/* relaxed: the caller re-reads with acquire. */
	return !BATON__W_OPEN(atomic_load_explicit((atomic_uint *)arg,
						   memory_order_relaxed));
}

unsigned
baton__waiter_sleep(atomic_uint *word, const struct baton__deadline *d,
		    long spin_ns)
{
	unsigned v = BATON__W_WAITING;

	if (spin_ns > 0)
		baton__spin_until_ns(word_claimed, word,
				     baton__deadline_left_ns(d, spin_ns));
	/* Announce the sleep: only now does a claimer pay a futex wake. */
	if (!atomic_compare_exchange_strong_explicit(
		word, &v, BATON__W_SLEEPING, memory_order_acquire,
		memory_order_acquire))
		return v;
	for (;;) {
		/* acquire: pairs with the claimer's release. */
		v = atomic_load_explicit(word, memory_order_acquire);
		if (v != BATON__W_SLEEPING)
			return v;
		if (baton__deadline_expired(d)) {
			/* acquire: if another claim won, see its writes. */
			if (atomic_compare_exchange_strong_explicit(
				word, &v, BATON__W_TIMEDOUT,
				memory_order_acquire, memory_order_acquire))
				return BATON__W_TIMEDOUT;
			return v;
		}
		futex_wait_until(word, BATON__W_SLEEPING, d);
	}
}

void
baton__wait_change(const _Atomic(unsigned long long) *seq,
		   unsigned long long seen)
{
	/*
	 * The slot's ticket was claimed by a thread that has not finished
	 * with it yet: a few instructions away, unless it was preempted,
	 * so spin a little, then give the CPU away once; the caller looks
	 * at the queue again either way.
	 */
	for (unsigned i = 0; i < 128; i++) {
		/* relaxed: the caller re-reads what it needs. */
		if (atomic_load_explicit(seq, memory_order_relaxed) != seen)
			return;
		ck_pr_stall();
	}
	sched_yield();
}

/* The cancellation handle. */

int
baton_queue_cancel_create(baton_queue_cancel **out)
{
	baton_queue_cancel *c;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	c = baton__malloc(sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	atomic_init(&c->fired, false);
	atomic_init(&c->lock.state, 0);
	c->links = NULL;
	*out = c;
	return 0;
}

void
baton_queue_cancel_destroy(baton_queue_cancel *c)
{
	free(c);
}

int
baton_queue_cancel_fire(baton_queue_cancel *c)
{
	if (c == NULL)
		return -EINVAL;
	/* release: a call that sees the flag sees what preceded the fire. */
	atomic_store_explicit(&c->fired, true, memory_order_release);
	/* Under the lock, the list is complete: late comers see the flag. */
	baton__lock_acquire(&c->lock);
	for (struct cancel_link *l = c->links; l != NULL; l = l->next)
		baton__waiter_claim(l->word, BATON__W_CANCELLED);
	baton__lock_release(&c->lock);
	return 0;
}

int
baton_queue_cancel_reset(baton_queue_cancel *c)
{
	if (c == NULL)
		return -EINVAL;
	/* relaxed: a reset orders nothing; the caller's own sync does. */
	atomic_store_explicit(&c->fired, false, memory_order_relaxed);
	return 0;
}

bool
baton_queue_cancel_is_fired(const baton_queue_cancel *c)
{
	return baton__cancel_fired(c);
}

bool
baton__cancel_fired(const baton_queue_cancel *c)
{
	/* acquire: pairs with fire's release. */
	return c != NULL &&
	    atomic_load_explicit(&((baton_queue_cancel *)c)->fired,
				 memory_order_acquire);
}

bool
baton__cancel_enter(struct baton_queue_cancel *c, struct cancel_link *l)
{
	if (c == NULL)
		return true;
	baton__lock_acquire(&c->lock);
	/* relaxed: fire sets the flag before taking this lock. */
	if (atomic_load_explicit(&c->fired, memory_order_relaxed)) {
		baton__lock_release(&c->lock);
		return false;
	}
	l->prev = NULL;
	l->next = c->links;
	if (c->links != NULL)
		c->links->prev = l;
	c->links = l;
	baton__lock_release(&c->lock);
	return true;
}

void
baton__cancel_leave(struct baton_queue_cancel *c, struct cancel_link *l)
{
	if (c == NULL)
		return;
	baton__lock_acquire(&c->lock);
	if (l->prev != NULL)
		l->prev->next = l->next;
	else
		c->links = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
	baton__lock_release(&c->lock);
}
