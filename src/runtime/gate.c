/*
 * gate.c - a wake-one line for the blocked threads of one side of a queue.
 *
 * Design notes
 * ============
 * Concurrency Kit's event counts wake every sleeper on each signal.  With
 * sixteen consumers asleep on an empty queue, one push would wake sixteen
 * threads to take one item: a thundering herd that, on two cores, cut
 * throughput to ~10^4 items/s in a prototype.  So at most one thread per
 * side, the leader, sleeps on the event count; the others wait here, in
 * the gate, which wakes one thread per leave, like a futex mutex.
 *
 * The word holds three bits:
 *   HELD      a leader holds the gate;
 *   SLEEPERS  a thread may be asleep on the word (a leave must wake one);
 *   OPEN      the queue closed: the gate never blocks again.
 * Every update preserves OPEN, so a thread that checked the word and then
 * sleeps on it is woken by gate_open's futex wake or finds the word changed.
 *
 * A thread woken from its sleep cannot know whether others still sleep, so
 * it takes the gate with SLEEPERS set (Drepper's "mutex 2" rule): its leave
 * then wakes the next one.  A waiter that times out may have swallowed the
 * wakeup meant for the line, so on its way out it passes one on.  Spurious
 * wakeups cost a re-check, never correctness.
 */
#include "gate.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#define GATE_HELD 1u
#define GATE_SLEEPERS 2u
#define GATE_OPEN 4u

static void
sleep_on(struct baton__gate *g, unsigned int expected,
	 const struct baton__deadline *d)
{
	/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline. */
	syscall(SYS_futex, &g->word, FUTEX_WAIT_BITSET_PRIVATE, expected,
		d->infinite ? NULL : &d->at, NULL, FUTEX_BITSET_MATCH_ANY);
}

static void
wake(struct baton__gate *g, int n)
{
	syscall(SYS_futex, &g->word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/* A waiter giving up makes sure the line does not stall behind it. */
static void
pass_wakeup_on(struct baton__gate *g)
{
	/* relaxed: we only choose between marking and waking. */
	unsigned int w = atomic_load_explicit(&g->word, memory_order_relaxed);

	while (!(w & GATE_OPEN)) {
		if (!(w & GATE_HELD)) {
			wake(g, 1);
			return;
		}
		/* relaxed: the leader's leave reads SLEEPERS and wakes. */
		if (atomic_compare_exchange_weak_explicit(
			&g->word, &w, w | GATE_SLEEPERS,
			memory_order_relaxed, memory_order_relaxed))
			return;
	}
}

int
baton__gate_enter(struct baton__gate *g, const struct baton__deadline *d)
{
	unsigned int taken = GATE_HELD;
	/* acquire: the leader sees what the previous leader did. */
	unsigned int w = atomic_load_explicit(&g->word, memory_order_acquire);

	for (;;) {
		if (w & GATE_OPEN)
			return -EPIPE;
		if (!(w & GATE_HELD)) {
			/* acquire: as above. */
			if (atomic_compare_exchange_weak_explicit(
				&g->word, &w, w | taken, memory_order_acquire,
				memory_order_acquire))
				return 0;
			continue;
		}
		if (!(w & GATE_SLEEPERS) &&
		    !atomic_compare_exchange_weak_explicit(
			&g->word, &w, w | GATE_SLEEPERS, memory_order_acquire,
			memory_order_acquire))
			continue;
		sleep_on(g, w | GATE_SLEEPERS, d);
		/* Woken, maybe not alone: keep the next wakeup owed. */
		taken = GATE_HELD | GATE_SLEEPERS;
		if (baton__deadline_expired(d)) {
			pass_wakeup_on(g);
			return -ETIMEDOUT;
		}
		w = atomic_load_explicit(&g->word, memory_order_acquire);
	}
}

void
baton__gate_leave(struct baton__gate *g)
{
	/* release: the next leader sees what this one did.  Keeps OPEN. */
	unsigned int w = atomic_fetch_and_explicit(&g->word, GATE_OPEN,
						   memory_order_release);

	if ((w & GATE_SLEEPERS) && !(w & GATE_OPEN))
		wake(g, 1);
}

void
baton__gate_open(struct baton__gate *g)
{
	/* release: a waiter that sees OPEN sees the queue's closed flag. */
	atomic_fetch_or_explicit(&g->word, GATE_OPEN, memory_order_release);
	wake(g, INT_MAX);
}
