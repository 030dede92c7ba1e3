/*
 * wait.c - how a cross-process waiter spins before it sleeps.
 *
 * Design notes
 * ============
 * A futex sleep and wake-up between two processes costs 30-60 us on the
 * VMs baton is measured on; a cache-line round trip costs about 0.1 us.
 * A waiter whose peer is running answers much sooner by watching the word
 * than by sleeping on it, and a pipe's reader always sleeps: spinning
 * briefly is how a handoff beats a pipe.  So every wait in a segment (a
 * slot's state, a queue's seq) first spins on its word, then sleeps on
 * the shared futex as before.
 *
 * How long: at most the handle's spin_ns (default BATON_SHM_SPIN_NS, about
 * one sleep and wake-up), adapted per handle and per kind of wait: a spin
 * that sees the change doubles the next budget (up to spin_ns), one that
 * does not halves it (down to spin_ns / 16), so a waiter whose peer is
 * slow or descheduled soon stops burning the CPU the peer needs.  The
 * spin goes through baton__spin_until_ns, which lets no more threads of
 * this process spin at once than there are CPUs; it never outlasts the
 * caller's deadline.  The budget is a heuristic: relaxed loads and stores,
 * a lost update only mis-sizes one spin.
 *
 * Sleeping and waking a queue's waiters.  The queue's futex word `seq`
 * counts changes in steps of 2; bit 0 (X_SEQ_SLEEPERS) says someone sleeps
 * on the current value.  A sleeper sets the bit with a CAS from the value
 * it read under the lock (failing if the count moved: then it looks
 * again) and futex-waits on value | bit.  A change (under the lock)
 * replaces the word with one exchange (count + 2, bit clear) and calls the
 * futex wake after its unlock only if the word it replaced had the bit.
 * Flag and count live in one word, so a change clears exactly the flags
 * set on the value it replaces: a sleeper that flags the new value is
 * left for the next change.  Before this, a count of sleepers in its own
 * word stayed non-zero while a woken sleeper waited to be scheduled, and
 * every push and pop meanwhile made a futile wake system call (268,000
 * wakes for 7,000 sleeps in one streaming run on a loaded machine).  A
 * flag in its own word that wakers clear instead loses wake-ups: a waker
 * late with its clear erases the flag of a sleeper that already saw its
 * change (tests/models/xproc_wake.pml, MUTANT_SEPARATE_FLAG, found it).
 * A rollback of the undo log (a dead owner's section) may restore the
 * word without a sleeper's bit: that sleeper wakes at the end of its
 * slice (BATON_SHM_CHECK_MS), and the cleaner's own change wakes all.
 *
 * The segment lock spins too (lock.c), with no budget to adapt: always
 * up to spin_ns.  Its sections are short and bounded (batch calls re-take
 * the lock every X_HOLD_MAX items), so a spin that misses means a
 * descheduled owner, not a slow one; halving the budget there made the
 * lock bistable, one streaming run in three falling to futex sleeps on
 * every batch (2.0-2.4 M values/s against 5.3).
 *
 * Slots keep a count of sleepers next to their state word (a slot
 * completes once, so there is no stream of futile wakes to avoid).
 *
 * Who frees what: nothing is allocated.
 */
#include "xproc.h"

#if defined(__linux__)

#include "wait.h"

struct watch {
	xu32 *word;
	uint32_t seen, mask;
};

static bool
moved(void *ctx)
{
	struct watch *w = ctx;

	/* acquire: pairs with the release store that changed the word.
	 * A queue sleeper's flag bit is not a change. */
	return (atomic_load_explicit(w->word, memory_order_acquire) &
		w->mask) != (w->seen & w->mask);
}

bool
baton__xspin(baton_shm *seg, atomic_long *budget, xu32 *word, uint32_t seen,
	     uint32_t mask, const struct baton__deadline *d)
{
	struct watch w = { word, seen, mask };
	long max = seg->spin_ns, b, left;
	bool ok;

	if (max <= 0)
		return false;
	/* relaxed: a heuristic (see the notes). */
	b = budget != NULL ? atomic_load_explicit(budget, memory_order_relaxed)
			   : max;
	if (b <= 0 || b > max)
		b = max;
	left = baton__deadline_left_ns(d, b);
	if (left == 0)
		return false;
	ok = baton__spin_until_ns(moved, &w, left);
	if (budget == NULL)
		return ok;
	b = ok ? b * 2 : b / 2;
	if (b > max)
		b = max;
	if (b < max / 16)
		b = max / 16;
	atomic_store_explicit(budget, b, memory_order_relaxed);
	return ok;
}

uint32_t
baton__xseq_bump(baton_shm *seg, xu32 *seq)
{
	uint32_t old = xld(seq) & ~X_SEQ_SLEEPERS;

	/* Logged as a plain store would be (the old count, no bit), then
	 * one exchange, so a sleeper's CAS in between is seen, not lost.
	 * release (in baton__xlog): the log entry before the word. */
	baton__xlog(seg, seq, old);
	return atomic_exchange_explicit(seq, old + 2, memory_order_release);
}

int
baton__xseq_sleep(xu32 *seq, uint32_t seen, long ns)
{
	uint32_t v = seen & ~X_SEQ_SLEEPERS;

	/* relaxed: one word; the futex compare re-reads it. */
	if (!atomic_compare_exchange_strong_explicit(
		seq, &v, v | X_SEQ_SLEEPERS, memory_order_relaxed,
		memory_order_relaxed) &&
	    v != (seen | X_SEQ_SLEEPERS))
		return 0; /* moved: look again */
	return baton__xfutex_wait(seq, seen | X_SEQ_SLEEPERS, ns);
}

void
baton__xcount_sleep(xu32 *sleepers, xu32 *word, uint32_t seen, long ns)
{
	/* seq_cst: ordered with baton__xcount_wake's RMW on this word: if
	 * the waker's is first, ours reads from it and the futex compare
	 * sees its change; if ours is, the waker sees the count. */
	atomic_fetch_add_explicit(sleepers, 1, memory_order_seq_cst);
	baton__xfutex_wait(word, seen, ns);
	atomic_fetch_sub_explicit(sleepers, 1, memory_order_relaxed);
}

void
baton__xcount_wake(xu32 *sleepers, xu32 *word)
{
	/* seq_cst RMW, not a load (no fence: TSan cannot see one). */
	if (atomic_fetch_add_explicit(sleepers, 0, memory_order_seq_cst) != 0)
		baton__xfutex_wake(word, INT_MAX);
}

#endif /* __linux__ */
