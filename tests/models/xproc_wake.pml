/*
 * xproc_wake.pml - SPIN model of how a queue's waiters in a segment sleep
 * and are woken (src/xproc/wait.c, src/xproc/xqueue.c).
 *
 * What it models, one Promela statement per atomic instruction of the C
 * code (plain loads and stores separate; RMWs one step):
 *
 *   src/xproc/xqueue.c  baton_shm_queue_pop: under the segment lock, take
 *                       an item or read `seq`; wait_change: the spin (one
 *                       optional look at seq), then baton__xseq_sleep.
 *                       baton_shm_queue_push: under the lock, add the item
 *                       and change seq (changed -> baton__xseq_bump); after
 *                       the unlock, the futex wake if the replaced word
 *                       had the sleepers' bit.
 *   src/xproc/wait.c    baton__xseq_bump: one exchange of seq with count
 *                       + 2, bit clear.  baton__xseq_sleep: CAS seq from
 *                       the value read under the lock to value | bit (if
 *                       it moved: look again), then the shared futex wait
 *                       on value | bit.
 *
 * seq is modelled as a count and a separate bit `flag` that change
 * together in one atomic step wherever the C code changes the one word in
 * one instruction.
 *
 * Memory model: sequentially consistent (one word carries the protocol;
 * its RMWs are totally ordered in C11 too).  The segment lock is modelled
 * by making each locked section one atomic step.  Futexes are exact: a
 * wait compares the word and enqueues in one step; a wake dequeues every
 * sleeper on the word.  No spurious wake-ups and no timeouts: the C code
 * sleeps in BATON_SHM_CHECK_MS slices, so a lost wake-up there is a delay
 * of a slice, not a hang; here it is a thread asleep forever, which SPIN
 * reports as an invalid end state.  Rollbacks of the undo log and liveness
 * checks are not modelled (the cleaner's change wakes every sleeper).
 *
 * Scenario: one pusher pushes NITEMS items (default 2); NPOP poppers
 * (default 2) each pop NITEMS / NPOP.
 *
 * Properties: every popper finishes (no invalid end state: no lost
 * wake-up); every item is popped exactly once (counted at the end).
 *
 * Switches (spin -D...):
 *   WITNESS=1             asserts that no popper ever sleeps: must FAIL
 *                         (the runs are not vacuous);
 *   MUTANT_PLAIN_BUMP     the change loads seq and stores count + 2 (two
 *                         steps, as a logged plain store would): a bit
 *                         set in between is overwritten unseen: FAIL;
 *   MUTANT_NO_FLAG        the sleeper sleeps without setting the bit: FAIL;
 *   MUTANT_SEPARATE_FLAG  the first design: a flag in its own word, set
 *                         by the sleeper (exchange) before its futex wait
 *                         on seq and cleared by the waker (exchange) after
 *                         its unlock, waking if it was set.  A waker late
 *                         with its clear erases the flag of a sleeper that
 *                         already saw its change: FAIL.
 */

#ifndef NITEMS
#define NITEMS 2
#endif
#ifndef NPOP
#define NPOP 2
#endif

byte items = 0;		/* items in the queue (under the lock) */
byte seq = 0;		/* seq's count */
bit flag = 0;		/* seq's bit 0 (or, MUTANT_SEPARATE_FLAG, its own word) */
byte asleep = 0;	/* bit i: popper i sleeps on seq */
byte popped = 0;
byte pushed = 0;

proctype pusher()
{
	bit old;
#ifdef MUTANT_PLAIN_BUMP
	byte s;
#endif

	do
	:: pushed < NITEMS ->
#if defined(MUTANT_SEPARATE_FLAG)
		atomic { items++; seq++; pushed++ };
		atomic { old = flag; flag = 0 };
#elif defined(MUTANT_PLAIN_BUMP)
		/* the locked section, its seq store split in load and store */
		s = seq;
		atomic { old = flag; items++; pushed++ };
		atomic { seq = s + 1; flag = 0 };
#else
		/* the locked section; the bump is one exchange of the word */
		atomic { items++; pushed++; seq++; old = flag; flag = 0 };
#endif
		if
		:: old -> asleep = 0	/* futex wake, every sleeper */
		:: else -> skip
		fi
	:: else -> break
	od
}

proctype popper(byte me)
{
	byte seen, got = 0;

	do
	:: got == NITEMS / NPOP -> break
	:: else ->
		/* baton_shm_queue_pop: the locked section. */
		atomic {
			if
			:: items > 0 -> items--; got++; popped++; seen = 255
			:: else -> seen = seq
			fi
		};
		if
		:: seen == 255 -> skip	/* took one */
		:: else ->
			/* The spin: maybe one look at seq. */
			if
			:: seq != seen -> goto again
			:: true -> skip
			fi;
#if defined(MUTANT_SEPARATE_FLAG)
			flag = 1;
#elif !defined(MUTANT_NO_FLAG)
			/* baton__xseq_sleep: CAS seen -> seen | bit. */
			atomic {
				if
				:: seq != seen -> goto again
				:: else -> flag = 1
				fi
			};
#endif
			/* The futex wait: compare and enqueue in one step
			 * (on seen | bit, or plain seen where no bit is set). */
			atomic {
				if
#if defined(MUTANT_SEPARATE_FLAG) || defined(MUTANT_NO_FLAG)
				:: seq == seen ->
#else
				:: seq == seen && flag ->
#endif
					asleep = asleep | (1 << me)
				:: else -> skip
				fi
			};
#ifdef WITNESS
			assert((asleep & (1 << me)) == 0);
#endif
			/* Blocked until a wake clears our bit. */
			(asleep & (1 << me)) == 0;
again:		skip
		fi
	od
}

init
{
	atomic {
		run pusher();
		byte i = 0;
		do
		:: i < NPOP -> run popper(i); i++
		:: else -> break
		od
	};
	(_nr_pr == 1);
	assert(popped == NITEMS && items == 0)
}
