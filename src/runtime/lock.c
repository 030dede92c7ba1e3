/*
 * lock.c - the slow path of baton's spin-then-park lock.
 *
 * Design notes
 * ============
 * The classic three-state futex mutex (0 free, 1 held, 2 held and
 * contended).  A thread that finds the lock held spins for a short while,
 * since the sections it guards are a few instructions long; then it marks
 * the lock contended and parks.  The holder wakes one parked thread on
 * release if the lock was marked.  A holder preempted inside its section
 * therefore costs the other threads a sleep, not a spin: this is what keeps
 * the queue's producers from convoying when threads outnumber cores.
 *
 * The lock is not fair; it does not need to be for the queue, whose
 * blocking waits happen outside it.
 */
#include "lock.h"

#include <ck_pr.h>

#include "wait.h"

#define SPIN_TRIES 64

void
baton__lock_acquire_slow(struct baton__lock *l)
{
	unsigned int expected;

	for (int i = 0; i < SPIN_TRIES; i++) {
		ck_pr_stall();
		expected = 0;
		/* relaxed load first: spin on a shared line, CAS only when free. */
		if (atomic_load_explicit(&l->state, memory_order_relaxed) == 0 &&
		    atomic_compare_exchange_weak_explicit(
			&l->state, &expected, 1, memory_order_acquire,
			memory_order_relaxed))
			return;
	}
	/*
	 * acquire: as the fast path.  Taking the lock as 2 (not 1) keeps
	 * any other parked thread's wakeup owed on our release.
	 */
	while (atomic_exchange_explicit(&l->state, 2, memory_order_acquire) != 0)
		baton__futex_wait(&l->state, 2);
}

void
baton__lock_wake(struct baton__lock *l)
{
	baton__futex_wake(&l->state, 1);
}
