/*
 * rendezvous.pml - SPIN model of the wake protocol of baton's rendezvous
 * queue (capacity 0, Go's unbuffered channel).
 *
 * What it models, one Promela statement per atomic instruction of the C
 * code (plain loads and stores separate; read-modify-writes one step):
 *
 *   queue/rendezvous.c  match_locked (unlink the other line's head, write
 *                       or read the record's item, claim its word HANDED,
 *                       a sleeping partner's wake into the batch),
 *                       baton__rv_attempt (the try_ calls: the closed bit,
 *                       then match under the lock, the wakes after the
 *                       unlock, again while the batch was full),
 *                       baton__rv_wait (under the lock: the closed bit,
 *                       match, else link; then the spin, the yields, the
 *                       sleep, finish, the word's reason as the result)
 *   queue/queue.c       transfer (the fired check; a blocking call goes
 *                       straight to its wait, a try_ call to one attempt),
 *                       wait_and_transfer's rendezvous loop (reset the
 *                       word, enter the cancellation handle, rv_wait, leave,
 *                       again on CLOSED), baton_queue_close's rendezvous
 *                       branch (fetch_or of the closed bit, then under the
 *                       rendezvous lock baton__waitq_wake_locked on both
 *                       lines)
 *   queue/waitq.c       baton__waiter_claim_later and baton__word_claim
 *                       (one CAS from WAITING or SLEEPING; SLEEPING means a
 *                       futex wake is owed), claim_locked and
 *                       baton__waitq_wake_locked (claims stop when the
 *                       batch of wakes is full; the batch is flushed; again
 *                       while the line is not empty), baton__wakes_flush,
 *                       baton__waiter_sleep (WAITING -> SLEEPING, the
 *                       futex wait, the self-claimed TIMEDOUT),
 *                       baton__waiter_finish (claim LEFT, else read the
 *                       reason; unlink under the lock if the line's own
 *                       claim did not), baton_queue_cancel_fire (flag,
 *                       then under the handle's lock claim CANCELLED and
 *                       wake at once), baton__cancel_enter / _leave
 *
 * The batch: BATON__WAKES_MAX is 16 in C; here it is BATCH (default 1),
 * so that three waiters in one line need several batches (SCEN 2 runs with
 * BATCH=1 and BATCH=2).  A spinning waiter's claim takes no room in the
 * batch (it owes no futex wake); a sleeping one's does.
 *
 * The rendezvous lock (the pushers' line lock, which guards both lines and
 * every linked record) is a real lock here, `lock`: a critical section is
 * cut into steps so that each holds at most one access to a word that is
 * not protected by the lock (a waiter word, the closed bit, a futex);
 * the lock's acquire joins the step after it and its release the step
 * before it (they commute with the protected accesses around them).  The
 * cancellation handle's lock is `clk`, the same way.  Which record of a
 * line a claimer takes is left to the checker (FIFO in C is one choice).
 *
 * Memory model: sequentially consistent.  Items move through the records
 * under the lock and are published to a woken owner by the claim's
 * release and read after its acquire (MUTANT_LATE_ITEM shows that the
 * item must be written before the claim).
 *
 * Futexes are exact: a wait compares the word and enqueues the thread in
 * one step, and only a wake on that word dequeues it.  A wake made after
 * the unlock may land on a word whose owner has returned and is waiting
 * again (in a later call): that is a spurious wake-up, as in C.  Up to
 * SPURIOUS (default 1) other spurious wake-ups per run.  A lost wake-up
 * ends with a thread asleep forever: an invalid end state.
 *
 * The spin and the yields: up to SPINS (default 1) looks at the word,
 * stopping early when it is claimed or when the adaptive budget runs out
 * (the checker's choice); then the sleep, whose CAS to SLEEPING fails if
 * the word was claimed meanwhile.
 *
 * Deadlines: a timed call's deadline may pass while it sleeps or where the
 * C code reads the clock, at most TIMEOUTS (default 1) times per run.
 *
 * Properties (see check.sh for the runs):
 *   - no lost wake-up, close wakes every waiter: every run ends with every
 *     thread finished (no invalid end state);
 *   - each item is taken exactly once or returned to its pusher: it is
 *     claimed (handed over) at most once; a push returns success only if
 *     its item was handed to a waiting popper, and any failure only if it
 *     was not; a popper returns the very item handed to it, once; at the
 *     end every item handed over was popped;
 *   - a record is touched by a claimer only while its owner's call is
 *     still running (no use after return) and is never linked twice;
 *   - -EPIPE only after close, -ECANCELED only after a fire, -ETIMEDOUT
 *     only after the deadline; both lines and counts empty at the end.
 *
 * Switches (spin -D...):
 *   SCEN=1..7    the scenario (see init below), BATCH=n the wake batch,
 *   SPINS=n, SPURIOUS=n, TIMEOUTS=n (above),
 *   WITNESS=1    asserts that no thread ever sleeps on its futex: must FAIL;
 *   WITNESS=2    asserts that close never needs a second batch: must FAIL
 *                (SCEN 2 does exercise the batching);
 *   MUTANT_LATE_ITEM          a pusher writes the item into the popper's
 *                             record after its claim: FAIL (assertion);
 *   MUTANT_WAKE_BEFORE_CLAIM  the claimer wakes a sleeping partner before
 *                             its CAS publishes the handoff: FAIL (lost
 *                             wake-up);
 *   MUTANT_SKIP_SLEEPER       the claim does not look at what it replaced:
 *                             a sleeping partner gets no futex wake: FAIL;
 *   MUTANT_NO_ANNOUNCE        a waiter sleeps without marking its word
 *                             SLEEPING, so the claimer owes no wake: FAIL;
 *   MUTANT_CLOSED_UNLOCKED    rv_wait reads the closed bit before taking
 *                             the lock: close's wake passes before the
 *                             link: FAIL (lost wake-up);
 *   MUTANT_ONE_BATCH          close claims one batch of a line only: FAIL;
 *   MUTANT_OLD_BATCH          close goes on only while a round claimed
 *                             exactly a batch (the loop condition of the
 *                             old baton__waitq_wake): a round that also
 *                             claimed a spinner stops early: FAIL;
 *   MUTANT_IGNORE_CLAIM       match counts a record whose claim failed (its
 *                             owner was cancelled or timed out): a
 *                             try_push succeeds with nobody taking the
 *                             item: FAIL (assertion);
 *   MUTANT_NO_UNLINK          finish leaves a cancelled record linked: a
 *                             partner claims a record after its call
 *                             returned: FAIL (assertion).
 */

#ifndef SCEN
#define SCEN 1
#endif
#ifndef BATCH
#define BATCH 1
#endif
#ifndef SPINS
#define SPINS 0
#endif
#ifndef SPURIOUS
#define SPURIOUS 1
#endif
#ifndef TIMEOUTS
#define TIMEOUTS 1
#endif

#define NPROC 5		/* init (pid 0) + up to four threads */
#define NITEMS 3
#define PUSH 0
#define POP 1

/* Waiter words (waitq.h). */
#define WAITING 0
#define WOKEN 1
#define CLOSED 2
#define CANCELLED 3
#define TIMEDOUT 4
#define HANDED 5
#define LEFT 6
#define SLEEPING 7
#define OPEN(v) ((v) == WAITING || (v) == SLEEPING)

/* Results (the C code's return values). */
#define R_AGAIN 0	/* rv_wait: closed while waiting, look again */
#define R_OK 1
#define R_EPIPE 2
#define R_ETIMEDOUT 3
#define R_ECANCELED 4
#define R_EAGAIN 5

/* How a thread's call waits. */
#define M_BLOCK 0	/* push / pop: no deadline */
#define M_TRY 1		/* try_push / try_pop */
#define M_TIMED 2	/* push_timed / pop_timed */
#define M_CANCEL 3	/* push_cancellable / pop_cancellable, no deadline */

/* The queue: tail's closed bit, the rendezvous lock, the two lines. */
bool closed;
byte lock;		/* 0: free; else the holder's pid */
byte linked[2];		/* bit p: p's record is in line PUSH / POP */
byte count[2];

/* Each thread's waiter word, record item and futex state. */
byte word[NPROC];
byte witem[NPROC];
bool asleep[NPROC];
byte spurious = SPURIOUS;
byte tmo = TIMEOUTS;

/* The one cancellation handle. */
bool fired;
byte clk;		/* its lock */
byte clinks;		/* bit p: p's call is in its list */

/* Ghosts. */
bool alive[NPROC];	/* p is inside wait_and_transfer: its record lives */
byte handed[NPROC];	/* the item last handed to popper p */
byte taken[NITEMS + 1];	/* claims that moved item x to a popper */
byte popped[NITEMS + 1];
bool push_ok[NITEMS + 1];
bool push_failed[NITEMS + 1];
#ifdef WITNESS
bool ever_slept;
bool second_batch;
#endif

/* ---- futexes on the waiter words ------------------------------------ */

inline futex_wait(val)
{
	atomic {
		if
		:: timed && expired -> skip
		:: else ->
			if
			:: word[_pid] == (val) ->
				asleep[_pid] = true;
#if defined(WITNESS) && WITNESS == 1
				ever_slept = true;
				assert(!ever_slept)
#else
				skip
#endif
			:: else -> skip
			fi
		fi
	}
	if
	:: !asleep[_pid] -> skip
	:: atomic { asleep[_pid] && spurious > 0 ->
		spurious--; asleep[_pid] = false }
	:: atomic { asleep[_pid] && timed && tmo > 0 ->
		tmo--; expired = true; asleep[_pid] = false }
	fi
}

inline futex_wake(q)
{
	asleep[q] = false
}

/* The clock, read by a timed call: its deadline may pass right here. */
inline deadline_check()
{
	if
	:: atomic { timed && !expired && tmo > 0 -> tmo--; expired = true }
	:: skip
	fi
}

/* One record of the bit set `mask`, the checker's choice, into p. */
inline pick(mask)
{
	if
	:: (mask) & 2 -> p = 1
	:: (mask) & 4 -> p = 2
	:: (mask) & 8 -> p = 3
	:: (mask) & 16 -> p = 4
	fi
}

/* ---- waitq.c --------------------------------------------------------- */

/*
 * baton__waiter_claim_later(word[p], val, b): one CAS; a sleeping owner's
 * wake goes into the batch (pend, bn).  Inside the caller's atomic step.
 */
inline claim_later(val)
{
	if
	:: OPEN(word[p]) ->
#ifdef MUTANT_SKIP_SLEEPER
		skip;
#else
		if
		:: word[p] == SLEEPING -> pend = pend | (1 << p); bn++
		:: else -> skip
		fi;
#endif
		word[p] = val;
		ok = true
	:: else -> ok = false
	fi
}

/* baton__wakes_flush: one futex wake per word in the batch. */
inline flush()
{
	if :: pend & 2 -> futex_wake(1) :: else -> skip fi;
	if :: pend & 4 -> futex_wake(2) :: else -> skip fi;
	if :: pend & 8 -> futex_wake(3) :: else -> skip fi;
	if :: pend & 16 -> futex_wake(4) :: else -> skip fi;
	pend = 0;
	bn = 0
}

/* baton__waitq_wake_locked(line, 0, CLOSED): the lock is held. */
inline wake_locked(line)
{
	bn = 0;
	pend = 0;
	do
	:: /* claim_locked: until the line is empty or the batch full */
		k = 0;
		do
		:: linked[line] == 0 || bn >= BATCH -> break
		:: else ->
			atomic {
				pick(linked[line]);
				assert(alive[p]);
				linked[line] = linked[line] & ~(1 << p);
				count[line]--;
				claim_later(CLOSED);
				if :: ok -> k++ :: else -> skip fi
			}
		od;
		flush();
#if defined(MUTANT_ONE_BATCH)
		break
#elif defined(MUTANT_OLD_BATCH)
		if
		:: k == BATCH -> skip
		:: else -> break
		fi
#else
		if
		:: linked[line] != 0 ->
#if defined(WITNESS) && WITNESS == 2
			second_batch = true;
			assert(!second_batch)
#else
			skip
#endif
		:: else -> break
		fi
#endif
	od
}

/* baton__waiter_sleep(word, d, 0) */
inline waiter_sleep()
{
#ifdef MUTANT_NO_ANNOUNCE
	do
	:: word[_pid] != WAITING -> break
	:: else ->
		deadline_check();
		if
		:: timed && expired ->
			atomic { if :: word[_pid] == WAITING -> word[_pid] = TIMEDOUT :: else -> skip fi };
			break
		:: else -> futex_wait(WAITING)
		fi
	od
#else
	atomic {
		if
		:: word[_pid] == WAITING -> word[_pid] = SLEEPING
		:: else -> skip
		fi
	}
	do
	:: word[_pid] != SLEEPING -> break
	:: else ->
		deadline_check();
		if
		:: timed && expired ->
			atomic { if :: word[_pid] == SLEEPING -> word[_pid] = TIMEDOUT :: else -> skip fi };
			break
		:: else -> futex_wait(SLEEPING)
		fi
	od
#endif
}

/* baton__waiter_finish: v is the word's final value. */
inline finish(dir)
{
	atomic {
		if
		:: OPEN(word[_pid]) -> word[_pid] = LEFT
		:: else -> skip
		fi;
		v = word[_pid]
	}
	if
#ifdef MUTANT_NO_UNLINK
	:: v == LEFT || v == TIMEDOUT ->
#else
	:: v == LEFT || v == CANCELLED || v == TIMEDOUT ->
#endif
		atomic {
			lock == 0 ->
			if
			:: linked[dir] & (1 << _pid) ->
				linked[dir] = linked[dir] & ~(1 << _pid);
				count[dir]--
			:: else -> skip
			fi
		}
	:: else -> skip
	fi
}

/* ---- rendezvous.c ------------------------------------------------------ */

/*
 * match_locked(q, dir, &x, 1, b): the lock is held.  k: items moved; for
 * a pop, got: the item taken.
 */
inline match(dir, x)
{
	k = 0;
	do
	:: k != 0 || bn >= BATCH || linked[1 - dir] == 0 -> break
	:: else ->
#ifdef MUTANT_WAKE_BEFORE_CLAIM
		atomic {
			pick(linked[1 - dir]);
			assert(alive[p]);
			linked[1 - dir] = linked[1 - dir] & ~(1 << p);
			count[1 - dir]--;
			if
			:: dir == PUSH -> witem[p] = x
			:: else -> got = witem[p]
			fi;
			c = word[p]
		}
		if :: c == SLEEPING -> futex_wake(p) :: else -> skip fi;
		atomic {
			if
			:: OPEN(word[p]) -> word[p] = HANDED; ok = true
			:: else -> ok = false
			fi;
#else
		atomic {
			pick(linked[1 - dir]);
			assert(alive[p]);
			linked[1 - dir] = linked[1 - dir] & ~(1 << p);
			count[1 - dir]--;
			if
#ifdef MUTANT_LATE_ITEM
			:: dir == PUSH -> skip
#else
			:: dir == PUSH -> witem[p] = x
#endif
			:: else -> got = witem[p]
			fi;
			claim_later(HANDED);
#endif
			if
			:: ok && dir == PUSH ->
				taken[x]++; assert(taken[x] == 1); handed[p] = x
			:: ok && dir == POP ->
				taken[got]++; assert(got != 0 && taken[got] == 1)
			:: else -> skip
			fi
		}
#ifdef MUTANT_LATE_ITEM
		if :: ok && dir == PUSH -> witem[p] = x :: else -> skip fi;
#endif
#ifdef MUTANT_IGNORE_CLAIM
		k++
#else
		if :: ok -> k++ :: else -> skip fi
#endif
	od
}

/* baton__rv_attempt(q, dir, &x, 1): a try_ call's one attempt. */
inline rv_attempt(dir, x)
{
	c = closed;
	if
	:: c -> r = R_EPIPE
	:: else ->
		r = 0;
		do
		:: bn = 0;
		   pend = 0;
		   atomic { lock == 0 -> lock = _pid };
		   match(dir, x);
		   bfull = (bn >= BATCH);
		   lock = 0;
		   flush();
		   r = r + k;
		   if
		   :: bfull && r < 1 -> skip
		   :: else -> break
		   fi
		od
	fi
}

/* The spin on the side's budget, then the yields: looks at the word. */
inline spin()
{
	sp = 0;
	do
	:: !OPEN(word[_pid]) -> break
	:: sp < SPINS -> sp++
	:: break
	od
}

/* baton__rv_wait(q, dir, &x, &w, d): one blocking round. */
inline rv_wait(dir, x)
{
	bn = 0;
	pend = 0;
#ifdef MUTANT_CLOSED_UNLOCKED
	c = closed;
	atomic { lock == 0 -> lock = _pid };
#else
	atomic { lock == 0 -> lock = _pid; c = closed };
#endif
	if
	:: c -> lock = 0; r = R_EPIPE
	:: else ->
		match(dir, x);
		if
		:: k != 0 -> lock = 0; flush(); r = R_OK
		:: else ->
			atomic {	/* the item, the link, the unlock */
				if :: dir == PUSH -> witem[_pid] = x :: else -> skip fi;
				assert(!(linked[dir] & (1 << _pid)));
				linked[dir] = linked[dir] | (1 << _pid);
				count[dir]++;
				lock = 0
			}
			spin();
			waiter_sleep();
			finish(dir);
			if
			:: v == HANDED ->
				if
				:: dir == POP ->
					got = witem[_pid];
					assert(got != 0 && got == handed[_pid])
				:: else -> skip
				fi;
				r = R_OK
			:: v == CANCELLED -> r = R_ECANCELED
			:: v == TIMEDOUT -> r = R_ETIMEDOUT
			:: else -> r = R_AGAIN
			fi
		fi
	fi
}

/* ---- queue.c ----------------------------------------------------------- */

/* wait_and_transfer's rendezvous loop (n = 1). */
inline wait_and_transfer(dir, x)
{
	alive[_pid] = true;
	witem[_pid] = 0;	/* w = { .word = &word }: item NULL */
	do
	:: word[_pid] = WAITING;
	   r = 0;
	   if
	   :: mode == M_CANCEL ->	/* baton__cancel_enter */
		atomic {
			clk == 0 ->
			if
			:: fired -> r = R_ECANCELED
			:: else -> clinks = clinks | (1 << _pid)
			fi
		}
	   :: else -> skip
	   fi;
	   if
	   :: r != 0 -> break
	   :: else -> skip
	   fi;
	   rv_wait(dir, x);
	   if
	   :: mode == M_CANCEL ->	/* baton__cancel_leave */
		atomic { clk == 0 -> clinks = clinks & ~(1 << _pid) }
	   :: else -> skip
	   fi;
	   if
	   :: r != 0 -> break
	   :: else -> skip
	   fi
	od;
	alive[_pid] = false
}

/* transfer(q, dir, &x, 1, ...) for the call `mode`. */
inline transfer(dir, x)
{
	timed = (mode == M_TIMED);
	expired = false;
	r = 0;
	if
	:: mode == M_CANCEL ->
		c = fired;
		if :: c -> r = R_ECANCELED :: else -> skip fi
	:: else -> skip
	fi;
	if
	:: r != 0 -> skip
	:: r == 0 && mode == M_TRY ->
		rv_attempt(dir, x);
		if :: r == 0 -> r = R_EAGAIN :: else -> skip fi
	:: r == 0 && mode != M_TRY ->
		wait_and_transfer(dir, x)
	fi
}

#define LOCALS \
	byte r, k, p, v, c, bn, pend, got, sp, mode; \
	bool ok, bfull, timed, expired

/* ---- threads ----------------------------------------------------------- */

/* Pushes first..last, the first with `first_mode`, then blocking. */
proctype pusher(byte first; byte last; byte first_mode)
{
	LOCALS;
	byte x;

	x = first;
	mode = first_mode;
	do
	:: x > last -> break
	:: else ->
		transfer(PUSH, x);
		if
		:: r == R_OK -> assert(taken[x] == 1); push_ok[x] = true
		:: else ->
			assert(taken[x] == 0);
			assert(r != R_EPIPE || closed);
			assert(r != R_ECANCELED || fired);
			assert(r != R_ETIMEDOUT || (timed && expired));
			assert(r != R_EAGAIN || mode == M_TRY);
			push_failed[x] = true
		fi;
		x++;
		mode = M_BLOCK
	od
}

/*
 * Pops n items (n == 0: until -EPIPE), the first call with `first_mode`,
 * the others blocking.
 */
proctype popper(byte n; byte first_mode)
{
	LOCALS;
	byte done;

	done = 0;
	mode = first_mode;
	do
	:: n != 0 && done == n -> break
	:: else ->
		got = 0;
		transfer(POP, 0);
		if
		:: r == R_OK ->
			atomic {
				assert(got != 0 && taken[got] == 1);
				popped[got]++;
				assert(popped[got] == 1)
			};
			done++
		:: r == R_EPIPE -> assert(closed); break
		:: r == R_ETIMEDOUT -> assert(timed && expired)
		:: r == R_ECANCELED -> assert(fired)
		:: r == R_EAGAIN -> assert(mode == M_TRY)
		fi;
		mode = M_BLOCK
	od
}

/* baton_queue_close, rendezvous branch. */
proctype closer()
{
	LOCALS;

	closed = true;		/* fetch_or of TAIL_CLOSED */
	atomic { lock == 0 -> lock = _pid };
	wake_locked(PUSH);
	wake_locked(POP);
	lock = 0
}

/* baton_queue_cancel_fire. */
proctype canceller()
{
	LOCALS;
	byte m;

	fired = true;
	atomic { clk == 0 -> clk = _pid; m = clinks };
	do
	:: m == 0 -> break
	:: else ->
		pick(m);
		m = m & ~(1 << p);
		atomic {	/* baton__waiter_claim: CAS, then wake at once */
			assert(alive[p]);
			c = word[p];
			if
			:: OPEN(c) -> word[p] = CANCELLED
			:: else -> skip
			fi
		}
		if :: c == SLEEPING -> futex_wake(p) :: else -> skip fi
	od;
	clk = 0
}

init {
	byte i;

	atomic {
#if SCEN == 1
		/* handoff: one pusher, one popper, both blocking */
		run pusher(1, 2, M_BLOCK);
		run popper(2, M_BLOCK)
#elif SCEN == 2
		/* close wakes three blocked poppers, in batches of BATCH */
		run popper(0, M_BLOCK);
		run popper(0, M_BLOCK);
		run popper(0, M_BLOCK);
		run closer()
#elif SCEN == 3
		/* close races the handoffs: a push fails or its item is popped */
		run pusher(1, 2, M_BLOCK);
		run popper(0, M_BLOCK);
		run closer()
#elif SCEN == 4
		/* try_push and a cancelled popper; close ends it */
		run pusher(1, 2, M_TRY);
		run popper(0, M_CANCEL);
		run canceller();
		run closer()
#elif SCEN == 5
		/* a timed push and a try_pop; close ends it */
		run pusher(1, 2, M_TIMED);
		run popper(0, M_TRY);
		run closer()
#elif SCEN == 6
		/* two pushers wait in line for one popper */
		run pusher(1, 1, M_BLOCK);
		run pusher(2, 2, M_BLOCK);
		run popper(2, M_BLOCK)
#elif SCEN == 7
		/* a cancelled pusher keeps its item; a try_pop; close ends it */
		run pusher(1, 2, M_CANCEL);
		run popper(0, M_TRY);
		run canceller();
		run closer()
#endif
	}
	/* Every thread has finished (else: an invalid end state). */
	(_nr_pr == 1);
	/* Each item handed over once and popped, or returned to its pusher. */
	i = 1;
	do
	:: i > NITEMS -> break
	:: else ->
		assert(!(push_ok[i] && push_failed[i]));
		assert(popped[i] == taken[i]);
		assert(push_ok[i] == (taken[i] == 1));
		i++
	od;
	assert(linked[PUSH] == 0 && linked[POP] == 0);
	assert(count[PUSH] == 0 && count[POP] == 0);
	assert(lock == 0 && clk == 0)
}
