/*
 * waitq.h - internal: the lines in which threads blocked on a queue wait,
 * one record per waiting call, and the cancellation handle that can
 * interrupt one of them.
 */
#ifndef BATON_QUEUE_WAITQ_H
#define BATON_QUEUE_WAITQ_H

#include <stdatomic.h>
#include <stdbool.h>

#include "lock.h"
#include "wait.h"

/* What a waiter's word says; the first writer (a CAS from WAITING) wins. */
enum {
	BATON__W_WAITING = 0,
	BATON__W_WOKEN,     /* a signaller picked it: look again */
	BATON__W_CLOSED,    /* close or destroy: look again, expect -EPIPE */
	BATON__W_CANCELLED, /* its cancellation handle fired */
	BATON__W_TIMEDOUT,  /* its own deadline passed */
	BATON__W_HANDED,    /* rendezvous: the item moved through the record */
	BATON__W_LEFT,      /* its owner stopped waiting on its own */
	BATON__W_SLEEPING,  /* unclaimed, and its owner sleeps on the futex */
};

/* Whether a word is still unclaimed (WAITING or SLEEPING). */
#define BATON__W_OPEN(v) ((v) == BATON__W_WAITING || (v) == BATON__W_SLEEPING)

/*
 * Claims an unclaimed word for `val`: true, with *prev its old value
 * (SLEEPING: the owner needs a futex wake), or false if already claimed.
 */
bool baton__word_claim(atomic_uint *word, unsigned val, unsigned *prev,
		       memory_order success);

/*
 * One blocked call's entry in a wait line.  `word` is the state word of the
 * waiting thread (select shares one word between several records); the
 * record lives on the waiting thread's stack and is unlinked by that
 * thread, under the line's lock, before it returns.
 */
struct baton__waiter {
	atomic_uint *word;
	struct baton__waiter *prev, *next;
	bool linked;
	void *item;   /* rendezvous: the item offered or received */
	unsigned tag; /* select: which case this record stands for */
};

/* A claimed word holds reason | tag << BATON__W_TAG_SHIFT. */
#define BATON__W_TAG_SHIFT 4
#define BATON__W_REASON(v) ((v) & ((1u << BATON__W_TAG_SHIFT) - 1))
#define BATON__W_TAG(v) ((v) >> BATON__W_TAG_SHIFT)

/* A FIFO line of waiters; `count` is what the fast paths read. */
struct baton__waitq {
	atomic_uint count;
	struct baton__lock lock;
	struct baton__waiter *head, *tail;
};

struct baton_queue_cancel {
	atomic_bool fired;
	struct baton__lock lock;
	struct cancel_link *links; /* the calls waiting with this handle */
};

/* A waiting call's entry in its cancellation handle's list. */
struct cancel_link {
	atomic_uint *word;
	struct cancel_link *prev, *next;
};

/*
 * Appends w.  The count's increment is a seq_cst read-modify-write, so a
 * seq_cst re-check of the condition after this call pairs with a
 * signaller's seq_cst RMW followed by baton__waitq_has_waiters (Dekker).
 */
void baton__waitq_link(struct baton__waitq *wq, struct baton__waiter *w);

/* Removes w if it is still linked; true if it was. */
bool baton__waitq_unlink(struct baton__waitq *wq, struct baton__waiter *w);

/* The same three with wq's lock (or a lock standing for it) held. */
void baton__waitq_link_locked(struct baton__waitq *wq,
			      struct baton__waiter *w);
bool baton__waitq_unlink_locked(struct baton__waitq *wq,
				struct baton__waiter *w);
unsigned baton__waitq_wake_locked(struct baton__waitq *wq, unsigned n,
				  unsigned reason);

/*
 * Wakes up to n waiters with `reason` (every one if n is 0), skipping
 * those another event claimed first.  Returns how many it woke.
 */
unsigned baton__waitq_wake(struct baton__waitq *wq, unsigned n,
			   unsigned reason);

/*
 * Whether anyone waits.  seq_cst: a plain load on x86-64; called right
 * after the caller's seq_cst RMW that published its change, it completes
 * the Dekker pair with baton__waitq_link (no fence needed).
 */
static inline bool
baton__waitq_has_waiters(struct baton__waitq *wq)
{
	return atomic_load_explicit(&wq->count, memory_order_seq_cst) != 0;
}

/*
 * Claims a waiter's word for `reason` (CAS from WAITING) and wakes it.
 * False if another event claimed it first.  Call with the lock that keeps
 * the record alive (its line's, or its cancellation handle's).
 */
bool baton__waiter_claim(atomic_uint *word, unsigned reason);

/*
 * Futex wakes owed to claimed words, made after the lock that kept the
 * records alive is released, so that the woken thread does not run into
 * a held lock (on one CPU, a wake under the lock preempts its holder).
 * A record's owner may return as soon as its word is claimed: a wake on
 * a dead word is at worst a spurious wake-up of a later sleeper there,
 * which re-checks its word.
 */
#define BATON__WAKES_MAX 16
struct baton__wakes {
	unsigned n;
	atomic_uint *words[BATON__WAKES_MAX];
};

/* Whether b has room for another wake. */
static inline bool
baton__wakes_room(const struct baton__wakes *b)
{
	return b->n < BATON__WAKES_MAX;
}

/*
 * As baton__waiter_claim, but a sleeping owner's wake goes into b (which
 * must have room) instead of being made now.
 */
bool baton__waiter_claim_later(atomic_uint *word, unsigned reason,
			       struct baton__wakes *b);

/* Makes the wakes in b and empties it. */
void baton__wakes_flush(struct baton__wakes *b);

/*
 * Ends a wait on w: claims the word for the owner (LEFT) unless something
 * claimed it first, unlinks w under `lock` unless its line's claim did,
 * and returns the word's final value (reason | tag).
 */
unsigned baton__waiter_finish(struct baton__lock *lock,
			      struct baton__waitq *wq,
			      struct baton__waiter *w);

/*
 * Sleeps until *word is claimed (returns the new value) or the deadline
 * passes (claims TIMEDOUT for itself; returns it, or whatever claimed the
 * word first).  With `spin_ns`, spins that long first, so that a claim
 * soon after costs neither side a system call.
 */
unsigned baton__waiter_sleep(atomic_uint *word,
			     const struct baton__deadline *d, long spin_ns);

/*
 * Enters a waiting call into c's list.  False (nothing entered) if c has
 * fired: the call must return -ECANCELED.  c may be NULL (true).
 */
bool baton__cancel_enter(struct baton_queue_cancel *c, struct cancel_link *l);

/* Takes the call out of c's list again (c may be NULL). */
void baton__cancel_leave(struct baton_queue_cancel *c, struct cancel_link *l);

/* Whether c has fired (c may be NULL: false).  Acquire. */
bool baton__cancel_fired(const struct baton_queue_cancel *c);

/*
 * Spins a little while a slot's sequence number is still `seen`, then
 * yields once if it did not move.
 */
void baton__wait_change(const _Atomic(unsigned long long) *seq,
			unsigned long long seen);

#endif /* BATON_QUEUE_WAITQ_H */
