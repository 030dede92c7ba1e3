/*
 * queue_wait.pml - SPIN model of the blocking protocol of baton's queue.
 *
 * What it models, one Promela statement per atomic instruction of the C
 * code (plain loads and stores are separate statements; read-modify-writes
 * are one atomic step):
 *
 *   queue/queue.c   ring_push() / ring_pop() for one item (slot sequence
 *                   numbers 2t / 2t+1, tickets with the closed bit in bit
 *                   0 of tail), push_ready() / pop_ready(),
 *                   wait_and_transfer(), baton_queue_close()
 *   queue/waitq.c   baton__waitq_link(), baton__waitq_wake() (claim under
 *                   the line's lock, futex wake after it),
 *                   baton__waiter_sleep() (WAITING -> SLEEPING, futex
 *                   sleep, self-claimed TIMEDOUT), baton__waiter_finish()
 *
 * Memory model: sequentially consistent.  The C code makes the one
 * store->load pair that matters (the claim CAS, then the load of the other
 * side's waiter count; the count increment, then the loads of the tickets)
 * out of seq_cst RMWs and seq_cst loads, which C11 orders in one total
 * order: SC is exactly what it asks of the hardware.  The acquire/release
 * pairs on slot sequence numbers only publish data.
 *
 * The line lock is modelled by making each critical section (link, the
 * claim loop of a wake, the unlink in finish) one atomic step; wake order
 * within a line is left to the checker (FIFO in C is one of its choices).
 * Futexes are exact: futex_wait compares the word and enqueues the thread
 * atomically, futex_wake dequeues it.  Spurious wakeups are allowed, at
 * most SPURIOUS per run; a lost wakeup therefore ends with a thread
 * asleep forever, which SPIN reports as an invalid end state.
 *
 * Deadlines: a timed pop (SCEN 5) has a deadline that may pass while it
 * sleeps or where the C code reads the clock (at most TIMEOUTS times per
 * run); a pop that timed out pops again without a deadline.
 *
 * Simplifications: compare-exchange-weak is strong; the spin before
 * linking is one optional poll of the ready predicate; items are single
 * (n = 1); a slot that is not ready while the tickets say it should be is
 * re-examined at once (baton__wait_change's spin is a retry).
 *
 * Properties (see check.sh for the runs):
 *   - no lost wakeup, close wakes every waiter: every run ends with every
 *     thread finished (no invalid end state);
 *   - nothing lost or duplicated, exact capacity: each item is popped at
 *     most once (assertion at the read), never more than CAP items are
 *     inside; at the end every pushed item was popped exactly once or is
 *     still in its slot, and an item whose push returned -EPIPE is
 *     nowhere;
 *   - a pop returns -EPIPE only once the queue is closed and empty.
 *
 * Switches (spin -D...):
 *   SCEN=1..6    the scenario (see init below), CAP=1|2 the capacity,
 *   SPURIOUS=n   spurious wakeups allowed per run (default 1),
 *   TIMEOUTS=n   deadlines that may pass per run (default 1),
 *   WITNESS=1    asserts that no thread ever sleeps on its futex: must
 *                FAIL (the runs are not vacuous);
 *   MUTANT_NO_RECHECK    a waiter sleeps without re-checking the queue
 *                        after linking itself: must FAIL (lost wakeup);
 *   MUTANT_EARLY_CHECK   ring_push reads the poppers' count before its
 *                        claim CAS (the Dekker order broken): must FAIL;
 *   MUTANT_NO_ANNOUNCE   a waiter sleeps on its word without marking it
 *                        SLEEPING, so a claimer skips the futex wake:
 *                        must FAIL;
 *   BATCH=n              baton__waitq_wake's batch of futex wakes (16 in
 *                        C; without BATCH one batch holds every waiter);
 *                        SCEN=6 has three poppers block and a closer;
 *   MUTANT_OLD_BATCH     (with BATCH) a wake goes on only while a round
 *                        claimed exactly BATCH waiters, the condition
 *                        before commit c9939df: a round that also claimed
 *                        a spinner stops early: must FAIL (lost wakeup).
 */

#ifndef CAP
#define CAP 1
#endif
#ifndef SCEN
#define SCEN 1
#endif
#ifndef SPURIOUS
#define SPURIOUS 1
#endif
#ifndef TIMEOUTS
#define TIMEOUTS 1
#endif

#if SCEN == 6
#define NPROC 5		/* init (pid 0) + four threads */
#else
#define NPROC 4		/* init (pid 0) + three threads */
#endif
#define NITEMS 3
#define PUSH 0
#define POP 1

/* Waiter words (waitq.h). */
#define WAITING 0
#define WOKEN 1
#define CLOSED 2
#define TIMEDOUT 4
#define LEFT 6
#define SLEEPING 7
#define OPEN(v) ((v) == WAITING || (v) == SLEEPING)

/* Results of one attempt: 0 (would block), 1 (moved), or these. */
#define R_EPIPE 2
#define R_ETIMEDOUT 3

/* The ring. */
byte tail;		/* ticket * 2 | closed */
byte head;
byte seq[CAP];
byte item[CAP];

/* The wait lines: a bit per pid, and the counts the fast paths read. */
byte linked[2];
byte count[2];

/* Each thread's waiter word and futex state. */
byte word[NPROC];
bool asleep[NPROC];
byte spurious = SPURIOUS;
byte tmo = TIMEOUTS;

/* Ghosts. */
byte popped[NITEMS + 1];
bool pushed_ok[NITEMS + 1];
bool push_failed[NITEMS + 1];
byte inside;		/* items claimed in and not yet claimed out */
#ifdef WITNESS
bool ever_slept;
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
#ifdef WITNESS
				ever_slept = true
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

inline futex_wake(p)
{
	asleep[p] = false
}

/* The clock, read by a timed call: its deadline may pass right here. */
inline deadline_check()
{
	if
	:: atomic { timed && !expired && tmo > 0 -> tmo--; expired = true }
	:: skip
	fi
}

/* ---- waitq.c --------------------------------------------------------- */

/* baton__waitq_wake(line, n, reason); n == 0: all. */
#ifndef BATCH
/* One batch holds every waiter: one critical section claims them all. */
inline wake(line, n, reason)
{
	nwake = 0;
	pending = 0;
	atomic {	/* under the line's lock */
		do
		:: linked[line] == 0 || (n != 0 && nwake == n) -> break
		:: else ->
			if
			:: linked[line] & 2 -> p = 1
			:: linked[line] & 4 -> p = 2
			:: linked[line] & 8 -> p = 3
			fi;
			linked[line] = linked[line] & ~(1 << p);
			count[line]--;
			if
			:: OPEN(word[p]) ->
				if
				:: word[p] == SLEEPING -> pending = pending | (1 << p)
				:: else -> skip
				fi;
				word[p] = reason;
				nwake++
			:: else -> skip
			fi
		od
	}
	/* after the unlock: the futex wakes */
	if :: pending & 2 -> futex_wake(1) :: else -> skip fi;
	if :: pending & 4 -> futex_wake(2) :: else -> skip fi;
	if :: pending & 8 -> futex_wake(3) :: else -> skip fi
}
#else
/*
 * With a batch of BATCH wakes (16 in C): claims stop when the batch holds
 * BATCH sleepers (a spinner's claim takes no room); the batch is woken
 * after the unlock; again while the batch was full.
 */
inline wake(line, n, reason)
{
	nwake = 0;
	do
	:: bn = 0;
	   nround = 0;
	   pending = 0;
	   atomic {	/* claim_locked, under the line's lock */
		do
		:: linked[line] == 0 || (n != 0 && nwake == n) || bn >= BATCH ->
			break
		:: else ->
			if
			:: linked[line] & 2 -> p = 1
			:: linked[line] & 4 -> p = 2
			:: linked[line] & 8 -> p = 3
			:: linked[line] & 16 -> p = 4
			fi;
			linked[line] = linked[line] & ~(1 << p);
			count[line]--;
			if
			:: OPEN(word[p]) ->
				if
				:: word[p] == SLEEPING ->
					pending = pending | (1 << p); bn++
				:: else -> skip
				fi;
				word[p] = reason;
				nwake++;
				nround++
			:: else -> skip
			fi
		od
	   }
	   /* after the unlock: the futex wakes */
	   if :: pending & 2 -> futex_wake(1) :: else -> skip fi;
	   if :: pending & 4 -> futex_wake(2) :: else -> skip fi;
	   if :: pending & 8 -> futex_wake(3) :: else -> skip fi;
	   if :: pending & 16 -> futex_wake(4) :: else -> skip fi;
#ifdef MUTANT_OLD_BATCH
	   /* the old loop condition: a round that claimed a batch exactly */
	   if
	   :: nround == BATCH && (n == 0 || nwake < n) -> skip
	   :: else -> break
	   fi
#else
	   if
	   :: bn >= BATCH && (n == 0 || nwake < n) -> skip
	   :: else -> break
	   fi
#endif
	od
}
#endif

/* ---- queue.c: one non-blocking attempt -------------------------------- */

inline ring_push(x)
{
	r = 0;
	ok = false;
#ifdef MUTANT_EARLY_CHECK
	c = count[POP];
#endif
	do
	:: t = tail;
	   if
	   :: t & 1 -> r = R_EPIPE; break
	   :: else -> skip
	   fi;
	   s = seq[(t >> 1) % CAP];
	   if
	   :: s == 2 * (t >> 1) ->
		atomic {
			if
			:: tail == t -> tail = t + 2; ok = true;
				inside++; assert(inside <= CAP)
			:: else -> ok = false
			fi
		}
		if
		:: ok -> break
		:: else -> skip
		fi
	   :: s < 2 * (t >> 1) ->
		/* looks full: read head, then tail again */
		h = head;
		if
		:: (t >> 1) - h >= CAP ->
			if
			:: tail == t -> break	/* full: r = 0 */
			:: else -> skip
			fi
		:: else -> skip		/* a popper still reads: retry */
		fi
	   :: else -> skip		/* another push took the ticket */
	   fi
	od;
	if
	:: r == 0 && ok ->
		item[(t >> 1) % CAP] = x;
		seq[(t >> 1) % CAP] = 2 * (t >> 1) + 1;
		pushed_ok[x] = true;
		r = 1;
#ifndef MUTANT_EARLY_CHECK
		c = count[POP];
#endif
		if
		:: c != 0 -> wake(POP, 1, WOKEN)
		:: else -> skip
		fi
	:: else -> skip
	fi
}

inline ring_pop()
{
	r = 0;
	ok = false;
	do
	:: h = head;
	   s = seq[h % CAP];
	   if
	   :: s == 2 * h + 1 ->
		atomic {
			if
			:: head == h -> head = h + 1; ok = true; inside--
			:: else -> ok = false
			fi
		}
		if
		:: ok -> break
		:: else -> skip
		fi
	   :: s < 2 * h + 1 ->
		/* looks empty: read tail */
		t = tail;
		if
		:: (t >> 1) <= h ->
			if
			:: head == h ->
				if
				:: t & 1 -> r = R_EPIPE
				:: else -> skip
				fi;
				ok = false;
				break
			:: else -> skip
			fi
		:: else -> skip		/* a pusher still writes: retry */
		fi
	   :: else -> skip		/* another pop took it */
	   fi
	od;
	if
	:: r == 0 && ok ->
		got = item[h % CAP];
		item[h % CAP] = 0;
		seq[h % CAP] = 2 * (h + CAP);
		assert(got != 0);
		atomic { popped[got]++; assert(popped[got] == 1) }
		r = 1;
		c = count[PUSH];
		if
		:: c != 0 -> wake(PUSH, 1, WOKEN)
		:: else -> skip
		fi
	:: else -> skip
	fi
}

inline attempt(dir, x)
{
	if
	:: dir == PUSH -> ring_push(x)
	:: else -> ring_pop()
	fi
}

/* push_ready / pop_ready: the tickets, after linking. */
inline ready(dir)
{
	t = tail;
	h = head;
	if
	:: dir == PUSH -> rdy = (t & 1) || (t >> 1) - h < CAP
	:: else -> rdy = (t & 1) || (t >> 1) > h
	fi
}

/* ---- queue.c: wait_and_transfer --------------------------------------- */

inline transfer(dir, x)
{
	attempt(dir, x);
	if
	:: r == 0 && timed && expired -> r = R_ETIMEDOUT
	:: r == 0 && !(timed && expired) ->
		/* the spin before linking: one optional poll */
		if
		:: ready(dir);
		   if
		   :: rdy -> attempt(dir, x)
		   :: else -> skip
		   fi
		:: skip
		fi;
		do
		:: r != 0 -> break
		:: else ->
			word[_pid] = WAITING;
			atomic {	/* baton__waitq_link */
				linked[dir] = linked[dir] | (1 << _pid);
				count[dir]++
			}
#ifdef MUTANT_NO_RECHECK
			rdy = false;
#else
			ready(dir);
#endif
			if
			:: rdy -> skip
			:: else ->
				/* baton__waiter_sleep */
#ifdef MUTANT_NO_ANNOUNCE
				v = word[_pid];
				do
				:: v != WAITING -> break
				:: else ->
					deadline_check();
					if
					:: timed && expired ->
						atomic { if :: word[_pid] == WAITING -> word[_pid] = TIMEDOUT :: else -> skip fi };
						break
					:: else -> futex_wait(WAITING); v = word[_pid]
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
			fi;
			/* baton__waiter_finish */
			atomic {
				if
				:: OPEN(word[_pid]) -> word[_pid] = LEFT
				:: else -> skip
				fi;
				v = word[_pid]
			}
			if
			:: v == LEFT || v == TIMEDOUT ->
				atomic {
					if
					:: linked[dir] & (1 << _pid) ->
						linked[dir] = linked[dir] & ~(1 << _pid);
						count[dir]--
					:: else -> skip
					fi
				}
			:: else -> skip
			fi;
			attempt(dir, x);
			if
			:: r == 0 && (v == TIMEDOUT || (timed && expired)) ->
				r = R_ETIMEDOUT
			:: else -> skip
			fi
		od
	:: else -> skip
	fi
}

inline close_queue()
{
	atomic { tail = tail | 1 };
	wake(PUSH, 0, CLOSED);
	wake(POP, 0, CLOSED)
}

/* ---- threads ---------------------------------------------------------- */

/* Pushes items first..last (blocking); records -EPIPE. */
proctype pusher(byte first; byte last)
{
	byte t, h, s, c, p, v, got, nwake, pending, x, r, bn, nround;
	bool ok, rdy, timed, expired;

	x = first;
	do
	:: x > last -> break
	:: else ->
		transfer(PUSH, x);
		if
		:: r == R_EPIPE -> push_failed[x] = true
		:: else -> assert(r == 1)
		fi;
		x++
	od
}

/*
 * Pops n items (n == 0: until -EPIPE); with `timed_first`, the first pop
 * has a deadline and, if it times out, is retried without one.
 */
proctype popper(byte n; bool timed_first)
{
	byte t, h, s, c, p, v, got, nwake, pending, k, r, bn, nround;
	bool ok, rdy, timed, expired;

	timed = timed_first;
	k = 0;
	do
	:: n != 0 && k == n -> break
	:: else ->
		transfer(POP, 0);
		if
		:: r == R_ETIMEDOUT -> assert(timed && expired); timed = false
		:: r == R_EPIPE -> assert(tail & 1); break
		:: else -> assert(r == 1); k++; timed = false
		fi
	od
}

proctype closer()
{
	byte p, nwake, pending, bn, nround;

	close_queue()
}

proctype push_then_close(byte x)
{
	byte t, h, s, c, p, v, got, nwake, pending, r, bn, nround;
	bool ok, rdy, timed, expired;

	transfer(PUSH, x);
	close_queue()
}

init {
	byte i;

	d_step {
		i = 0;
		do
		:: i < CAP -> seq[i] = 2 * i; i++
		:: else -> break
		od
	}
	atomic {
#if SCEN == 1
		/* handoff: one pusher, one popper */
		run pusher(1, 3);
		run popper(3, false)
#elif SCEN == 2
		/* close wakes blocked poppers: two pop until -EPIPE */
		run popper(0, false);
		run popper(0, false);
		run push_then_close(1)
#elif SCEN == 3
		/* close wakes blocked pushers: nobody pops */
		run pusher(1, 2);
		run pusher(3, 3);
		run closer()
#elif SCEN == 4
		/* two producers, one consumer */
		run pusher(1, 2);
		run pusher(3, 3);
		run popper(3, false)
#elif SCEN == 5
		/* a timed pop */
		run pusher(1, 2);
		run popper(2, true)
#elif SCEN == 6
		/* close wakes three blocked poppers, in batches (-DBATCH=1) */
		run popper(0, false);
		run popper(0, false);
		run popper(0, false);
		run closer()
#endif
	}
	/* Every thread has finished (else: an invalid end state). */
	(_nr_pr == 1);
	/* Nothing lost, nothing duplicated, failed pushes left nothing. */
	i = 1;
	do
	:: i > NITEMS -> break
	:: else ->
		if
		:: pushed_ok[i] ->
			assert(popped[i] == 1 ||
			    (popped[i] == 0 && (item[0] == i || item[CAP - 1] == i)))
		:: else -> assert(popped[i] == 0)
		fi;
		assert(!(pushed_ok[i] && push_failed[i]));
		i++
	od;
	assert(count[PUSH] == 0 && count[POP] == 0);
#ifdef WITNESS
	assert(!ever_slept);
#endif
}
