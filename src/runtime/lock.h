/*
 * lock.h - internal: a small mutual-exclusion lock that spins briefly and
 * then parks on a futex.  For critical sections of a few instructions that
 * must not convoy when threads outnumber cores.
 */
#ifndef BATON_RUNTIME_LOCK_H
#define BATON_RUNTIME_LOCK_H

#include <stdatomic.h>
#include <stdbool.h>

/* 0: free; 1: held; 2: held, and a thread may be parked on it. */
struct baton__lock {
	atomic_uint state;
};

#define BATON__LOCK_INIT { 0 }

void baton__lock_acquire_slow(struct baton__lock *l);
void baton__lock_wake(struct baton__lock *l);

static inline void
baton__lock_acquire(struct baton__lock *l)
{
	unsigned int free_state = 0;

	/* acquire: the section sees what the previous holder wrote. */
	if (!atomic_compare_exchange_strong_explicit(&l->state, &free_state, 1,
						     memory_order_acquire,
						     memory_order_relaxed))
		baton__lock_acquire_slow(l);
}

/* Takes the lock only if it is free right now. */
static inline bool
baton__lock_try_acquire(struct baton__lock *l)
{
	unsigned int free_state = 0;

	/* acquire: as baton__lock_acquire. */
	return atomic_compare_exchange_strong_explicit(
	    &l->state, &free_state, 1, memory_order_acquire,
	    memory_order_relaxed);
}

static inline void
baton__lock_release(struct baton__lock *l)
{
	/* release: publishes the section to the next holder. */
	if (atomic_exchange_explicit(&l->state, 0, memory_order_release) == 2)
		baton__lock_wake(l);
}

#endif /* BATON_RUNTIME_LOCK_H */
