/*
 * queue_wait.pml - SPIN model of the blocking protocol of baton's queue.
 *
 * What it models, one Promela statement per atomic instruction of the C
 * code (plain loads and stores are separate statements; read-modify-writes
 * are one atomic step):
 *
 *   queue/queue.c   transfer(), push_some(), pop_some(), take_one(),
 *                   push_ready() / pop_ready(), baton_queue_close()
 *   src/runtime/wait.c    baton__ec_wait_until() with before_sleep(), and the
 *                   ck_ec32 calls it makes (ck_ec32_wait_pred and its slow
 *                   path: wait_easy, upgrade, exponential_backoff's
 *                   pred-then-sleep loop; ck_ec32_add and ck_ec32_wake)
 *   src/runtime/wait.h    baton__ec_signal_waiters(), baton__ec_signal()
 *   src/runtime/gate.c    baton__gate_enter() / _leave() / _open(), and
 *                   pass_wakeup_on() when a timed waiter gives up
 *   src/runtime/lock.h,c  the three-state futex lock the producers hold
 *   ck_ring.h       ck_ring_size, enqueue_spmc (serialised producer),
 *                   dequeue_mpmc (CAS on c_head, speculative slot read)
 *
 * Memory model: sequentially consistent.  Every load, store and RMW is one
 * step of one global interleaving; x86-TSO store buffering (and weaker
 * models) are NOT modelled.  The C code's fences and acquire/release
 * annotations are assumed to deliver SC for the Dekker pairs (the lock
 * release is a locked xchg, the flag upgrade a locked cmpxchg); that part
 * is argued in the C comments, not checked here.
 *
 * Futexes are modelled exactly: futex_wait atomically compares the word
 * and, if equal, enqueues the thread; it then blocks until a futex_wake on
 * that word dequeues it (wake one: any one sleeper, chosen by the checker;
 * wake all: every sleeper).  Spurious wakeups (signals, ck_ec's finite
 * backoff slices) are allowed, at most SPURIOUS of them per run, so that a
 * lost wakeup still ends in a state where a thread sleeps forever: SPIN
 * reports it as an invalid end state (a deadlock).
 *
 * Deadlines: a timed call (SCEN 5 and 6) has a deadline that may pass at
 * any point where the C code looks at the clock (ck_ec's check_deadline,
 * baton__deadline_expired after a gate sleep) or while it sleeps; once
 * passed it stays passed, and its futex waits return at once.  At most
 * TIMEOUTS (default 1) deadlines pass per run; a caller whose pop timed
 * out pops again without a deadline, so every run still has an end.
 *
 * Simplifications: compare-exchange-weak is strong; the adaptive spin
 * before the gate is one poll of the ready predicate at a point the
 * checker chooses (or none), and the lock's 64-try spin is one try; items
 * are single (n = 1); the many-item calls are not modelled.
 *
 * Properties (see check.sh for the runs):
 *   - no lost wakeup / close wakes every waiter: every run ends with every
 *     thread finished (no invalid end state), under every interleaving;
 *   - nothing lost or duplicated: each item is popped at most once
 *     (assertion at the winning CAS), and at the end every pushed item was
 *     popped exactly once or is still in the ring, and an item whose push
 *     returned -EPIPE is nowhere;
 *   - a pop returns -EPIPE only with the ring empty and the queue closed;
 *     pushes and pops in scenarios without a close all succeed, and a
 *     timed one returns an item or -ETIMEDOUT after its deadline passed;
 *   - no livelock: with -DNP, no cycle without a completed operation.
 *
 * Switches (spin -D...):
 *   SCEN=1..6    the scenario (see init below), CAP=1|2 the capacity,
 *   SPURIOUS=n   spurious wakeups allowed per run (default 1),
 *   TIMEOUTS=n   deadlines that may pass per run (default 1),
 *   NO_SPINPOLL  leave out the spin before the gate (a smaller model),
 *   LOCK_ABSTRACT  the producer lock as one test-and-set (no futex),
 *   WITNESS=n    a reachability witness (see the end of init),
 *   MUTANT_NO_RECHECK   before_sleep() does not call the ready predicate
 *                       (a flagged waiter sleeps without re-checking the
 *                       ring): must FAIL with a lost wakeup;
 *   MUTANT_EARLY_FLAG   push_some reads the items counter's waiter flag
 *                       before it enqueues (the Dekker order broken, as a
 *                       missing fence would on weak hardware): must FAIL;
 *   MUTANT_NO_PASS_ON   a gate waiter that times out passes no wakeup on:
 *                       must FAIL in SCEN 6.
 */

#ifndef CAP
#define CAP 1
#endif
#if CAP == 1
#define RING 2
#else
#define RING 4
#endif
#define MASK (RING - 1)

#ifndef SCEN
#define SCEN 1
#endif
#ifndef SPURIOUS
#define SPURIOUS 1
#endif
#ifndef TIMEOUTS
#define TIMEOUTS 1	/* deadlines that may pass per run (timed ops only) */
#endif

#define NPROC 4      /* init (pid 0) + three threads */
#define NONE 255
#define NITEMS 4

/* Futex words, one array so that futex ops can take an index. */
#define W_LOCK 0
#define PUSH 0
#define POP 1
#define EC(d) (1 + (d))     /* EC(PUSH): q->space, EC(POP): q->items */
#define GATE(d) (3 + (d))   /* GATE(PUSH): push_gate, GATE(POP): pop_gate */
#define NWORDS 5

/* ck_ec32: bit 31 is the waiter flag; here bit 7 (values stay tiny). */
#define FLAG 128
#define VAL 127

#define G_HELD 1
#define G_SLEEPERS 2
#define G_OPEN 4

/* Results: 0 (would block), k = 1, -EPIPE, -ETIMEDOUT. */
#define R_NONE 0
#define R_OK 1
#define R_EPIPE 2
#define R_ETIMEDOUT 3

/* Script operations. */
#define OP_END 0
#define OP_POP 1      /* one blocking pop; must return an item */
#define OP_POPALL 2   /* blocking pops until -EPIPE */
#define OP_CLOSE 3
#define OP_POPT 4     /* a timed pop; after -ETIMEDOUT, an untimed one */
#define OP_GATE 5     /* the pop gate alone: enter, then leave */
#define OP_GATET 6    /* the same with a deadline (gives up on -ETIMEDOUT) */
#define OP_PUSH 10    /* OP_PUSH + item: one blocking push */
#define OP_PUSHT 20   /* OP_PUSHT + item: timed, then untimed if it timed out */
/* (No scenario uses OP_PUSHT: a timed pusher among blocked ones passed
   10^8 states; the timed paths are shared with the pop side.) */
#define MAXOPS 4

byte w[NWORDS];
byte waitq[NPROC];          /* the futex word a thread sleeps on, or NONE */
byte spurious = SPURIOUS;
byte tmo = TIMEOUTS;

/* ck_ring: free-running indices (no wrap within a run), slots by mask. */
byte c_head;
byte p_tail;
byte slot[RING];
bool closed;

byte script[3 * MAXOPS];

/* Ghosts. */
#ifdef WITNESS
/*
 * Reachability witnesses (check.sh expects each to FAIL): -DWITNESS=n
 * asserts at the end that situation n never happened, so a violation
 * proves the model reaches it (the runs are not vacuous).
 */
bool slept[NWORDS];          /* some thread really slept on this word */
byte maxasleep;              /* most threads asleep at once */
#define WITNESS_SLEPT(id) \
	slept[id] = true; \
	if \
	:: (waitq[1] != NONE) + (waitq[2] != NONE) + (waitq[3] != NONE) > \
	    maxasleep -> \
		maxasleep = (waitq[1] != NONE) + (waitq[2] != NONE) + \
		    (waitq[3] != NONE) \
	:: else -> skip \
	fi
bool passed_on, leader_timed_out;
#define WITNESS_PASSED_ON passed_on = true
#define WITNESS_LEADER_TIMED_OUT leader_timed_out = true
#else
#define WITNESS_SLEPT(id) skip
#define WITNESS_PASSED_ON skip
#define WITNESS_LEADER_TIMED_OUT skip
#endif
byte popped[NITEMS + 1];
bool pushed_ok[NITEMS + 1];
bool push_failed[NITEMS + 1];

/* ---- futexes --------------------------------------------------------- */

/*
 * tw: the wait has the caller's deadline (gate and event-count waits of a
 * timed call; the lock's waits never do).  Past the deadline such a wait
 * returns at once; while asleep, the deadline may pass (once per run, see
 * TIMEOUTS), which ends the sleep.
 */
inline futex_wait(id, expected, tw)
{
	atomic {
		if
		:: tw && expired -> skip
		:: else ->
			if
			:: w[id] == (expected) ->
				waitq[_pid] = id;
				WITNESS_SLEPT(id)
			:: else -> skip
			fi
		fi
	}
	if
	:: waitq[_pid] == NONE -> skip
	:: atomic { waitq[_pid] != NONE && spurious > 0 ->
		spurious--; waitq[_pid] = NONE }
	:: atomic { waitq[_pid] != NONE && tw && tmo > 0 ->
		tmo--; expired = true; waitq[_pid] = NONE }
	fi
}

/* baton__deadline_expired for a timed call: time may pass right here. */
inline deadline_check()
{
	if
	:: atomic { timed && !expired && tmo > 0 -> tmo--; expired = true }
	:: skip
	fi
}

inline futex_wake_one(id)
{
	atomic {
		if
		:: waitq[1] == id -> waitq[1] = NONE
		:: waitq[2] == id -> waitq[2] = NONE
		:: waitq[3] == id -> waitq[3] = NONE
		:: else -> skip
		fi
	}
}

inline futex_wake_all(id)
{
	d_step {
		if :: waitq[1] == id -> waitq[1] = NONE :: else -> skip fi;
		if :: waitq[2] == id -> waitq[2] = NONE :: else -> skip fi;
		if :: waitq[3] == id -> waitq[3] = NONE :: else -> skip fi
	}
}

/* ---- lock.h / lock.c ------------------------------------------------- */

#ifdef LOCK_ABSTRACT
inline lock_acquire()
{
	atomic { w[W_LOCK] == 0 -> w[W_LOCK] = 1 }
}
inline lock_release()
{
	w[W_LOCK] = 0
}
#else
inline lock_acquire()
{
	/* baton__lock_acquire: CAS 0 -> 1 */
	atomic {
		if
		:: w[W_LOCK] == 0 -> w[W_LOCK] = 1; ok = true
		:: else -> ok = false
		fi
	}
	if
	:: ok -> skip
	:: else ->
		/* acquire_slow: a spin try (relaxed load, then CAS) */
		if
		:: w[W_LOCK] == 0 ->
			atomic {
				if
				:: w[W_LOCK] == 0 -> w[W_LOCK] = 1; ok = true
				:: else -> skip
				fi
			}
		:: else -> skip
		fi;
		do
		:: ok -> break
		:: else ->
			atomic { old = w[W_LOCK]; w[W_LOCK] = 2 };	/* xchg */
			if
			:: old == 0 -> ok = true
			:: else -> futex_wait(W_LOCK, 2, false)
			fi
		od
	fi
}

inline lock_release()
{
	atomic { old = w[W_LOCK]; w[W_LOCK] = 0 };	/* xchg */
	if
	:: old == 2 -> futex_wake_one(W_LOCK)
	:: else -> skip
	fi
}
#endif

/* ---- ck_ec32 (multi-producer mode) ----------------------------------- */

inline ec_add(e)
{
	/* ck_ec32_add_mp: lock xadd */
	atomic { old = w[e]; w[e] = w[e] + 1 };
	if
	:: (old & FLAG) != 0 ->
		/* ck_ec32_wake: clear the flag (lock and), then futex wake */
		w[e] = w[e] & VAL;
		futex_wake_all(e)
	:: else -> skip
	fi
}

/* baton__ec_signal_waiters: ck_ec32_has_waiters, then add if flagged. */
inline signal_waiters(e)
{
	if
	:: (w[e] & FLAG) != 0 -> ec_add(e)
	:: else -> skip
	fi
}

/* ---- ck_ring --------------------------------------------------------- */

inline ring_size()
{
	cc = c_head;
	pp = p_tail;
	sz = (pp - cc) & MASK
}

/* take_one: ck_ring_dequeue_mpmc */
inline take_one()
{
	got = false;
	cc = c_head;
	do
	:: pp = p_tail;
		if
		:: cc == pp -> break
		:: else -> skip
		fi;
		it = slot[cc & MASK];	/* speculative: may be stale */
		atomic {
			if
			:: c_head == cc ->
				c_head = cc + 1;
				got = true;
				assert(it != 0 && popped[it] == 0);
				popped[it] = 1
			:: else -> cc = c_head
			fi
		}
		if
		:: got -> break
		:: else -> skip
		fi
	od
}

/* ---- queue.c --------------------------------------------------------- */

/*
 * Dead scratch locals are reset (a local-only step), so that states that
 * differ only in a stale temporary are not told apart.
 */
inline scrub()
{
	atomic {
		cc = 0; pp = 0; it = 0; sz = 0; old = 0; gw = 0; cur = 0;
		got = false; ok = false; taken = 0
	}
}

inline push_some()
{
	r = R_NONE;
	if
	:: closed -> r = R_EPIPE	/* acquire load before the lock */
	:: else ->
		lock_acquire();
		if
		:: closed ->
			lock_release();
			r = R_EPIPE
		:: else ->
			ring_size();
#ifdef MUTANT_EARLY_FLAG
			/* the mutant: has_waiters read before the enqueue */
			flagged = ((w[EC(POP)] & FLAG) != 0);
#endif
			if
			:: sz < CAP ->
				/* ck_ring_enqueue_spmc */
				cc = c_head;
				assert(((p_tail + 1) & MASK) != (cc & MASK));
				slot[p_tail & MASK] = item;
				atomic { p_tail = p_tail + 1; pushed_ok[item] = true };
				r = R_OK
			:: else -> skip
			fi;
			lock_release()
		fi;
		if
		:: r == R_OK ->
#ifdef MUTANT_EARLY_FLAG
			if
			:: flagged -> ec_add(EC(POP))
			:: else -> skip
			fi
#else
			signal_waiters(EC(POP))
#endif
		:: else -> skip
		fi
	fi
}

inline pop_some()
{
	take_one();
	if
	:: got -> r = R_OK
	:: else ->
		if
		:: !closed -> r = R_NONE
		:: else ->
			take_one();
			if
			:: got -> r = R_OK
			:: else ->
				r = R_EPIPE;
				assert(closed && c_head == p_tail)
			fi
		fi
	fi;
	if
	:: r == R_OK -> signal_waiters(EC(PUSH))
	:: else -> skip
	fi
}

inline attempt()
{
	if
	:: dir == PUSH -> push_some()
	:: else -> pop_some()
	fi;
	scrub()
}

/* push_ready / pop_ready */
inline ready()
{
	ring_size();
	if
	:: dir == POP -> rdy = (sz > 0)
	:: else -> rdy = (sz < CAP)
	fi;
	if
	:: !rdy -> rdy = closed
	:: else -> skip
	fi;
	scrub()
}

/* ---- gate.c (infinite deadline) --------------------------------------- */

/* A waiter giving up makes sure the line does not stall behind it. */
inline pass_wakeup_on()
{
#ifndef MUTANT_NO_PASS_ON
	gw = w[GATE(dir)];	/* relaxed */
	do
	:: (gw & G_OPEN) != 0 -> break
	:: (gw & G_OPEN) == 0 && (gw & G_HELD) == 0 ->
		WITNESS_PASSED_ON;
		futex_wake_one(GATE(dir));
		break
	:: (gw & G_OPEN) == 0 && (gw & G_HELD) != 0 ->
		atomic {
			if
			:: w[GATE(dir)] == gw -> w[GATE(dir)] = gw | G_SLEEPERS; ok = true
			:: else -> gw = w[GATE(dir)]; ok = false
			fi
		};
		if
		:: ok -> break
		:: else -> skip
		fi
	od
#else
	skip	/* the mutant: a waiter that timed out passes nothing on */
#endif
}

inline gate_enter()
{
	taken = G_HELD;
	gw = w[GATE(dir)];
	do
	:: (gw & G_OPEN) != 0 -> waited = R_EPIPE; break
	:: (gw & G_OPEN) == 0 && (gw & G_HELD) == 0 ->
		atomic {
			if
			:: w[GATE(dir)] == gw -> w[GATE(dir)] = gw | taken; ok = true
			:: else -> gw = w[GATE(dir)]; ok = false
			fi
		}
		if
		:: ok -> waited = R_NONE; break
		:: else -> skip
		fi
	:: (gw & G_OPEN) == 0 && (gw & G_HELD) != 0 ->
		ok = true;
		if
		:: (gw & G_SLEEPERS) == 0 ->
			atomic {
				if
				:: w[GATE(dir)] == gw -> w[GATE(dir)] = gw | G_SLEEPERS
				:: else -> gw = w[GATE(dir)]; ok = false
				fi
			}
		:: else -> skip
		fi;
		if
		:: ok ->
			futex_wait(GATE(dir), gw | G_SLEEPERS, timed);
			taken = G_HELD | G_SLEEPERS;
			deadline_check();
			if
			:: expired ->
				pass_wakeup_on();
				waited = R_ETIMEDOUT;
				break
			:: else -> gw = w[GATE(dir)]
			fi
		:: else -> skip
		fi
	od
}

inline gate_leave()
{
	atomic { gw = w[GATE(dir)]; w[GATE(dir)] = w[GATE(dir)] & G_OPEN };
	if
	:: (gw & G_SLEEPERS) != 0 && (gw & G_OPEN) == 0 ->
		futex_wake_one(GATE(dir))
	:: else -> skip
	fi
}

inline gate_open(g)
{
	w[g] = w[g] | G_OPEN;	/* lock or */
	futex_wake_all(g)
}

/* ---- wait.c: baton__ec_wait_until, infinite deadline -------------------- */

inline ec_wait_until()
{
	ecdone = false;
	ectimeout = false;
	/* ck_ec32_wait_pred's inline check, then the slow path's entry check */
	if
	:: (w[EC(dir)] & VAL) != seen -> ecdone = true
	:: else -> skip
	fi;
	if
	:: !ecdone ->
		if
		:: (w[EC(dir)] & VAL) != seen -> ecdone = true
		:: else -> skip
		fi
	:: else -> skip
	fi;
	do
	:: ecdone -> break
	:: else ->
		cur = w[EC(dir)];	/* wait_easy(unflagged) */
		/* ck_ec32_upgrade */
		if
		:: cur == (seen | FLAG) -> skip
		:: cur == seen ->
			atomic {
				if
				:: w[EC(dir)] == seen -> w[EC(dir)] = seen | FLAG
				:: else -> ecdone = (w[EC(dir)] != (seen | FLAG))
				fi
			}
		:: else -> ecdone = true
		fi;
		if
		:: !ecdone ->
			cur = w[EC(dir)];	/* wait_easy(flagged) */
			ecdone = (cur != (seen | FLAG))
		:: else -> skip
		fi;
		/* exponential_backoff: before_sleep (pred), then a sleep slice */
		do
		:: ecdone -> break
		:: else ->
			/* check_deadline: ck returns -1, and so -ETIMEDOUT */
			deadline_check();
			if
			:: expired -> ecdone = true; ectimeout = true; break
			:: else -> skip
			fi;
#ifndef MUTANT_NO_RECHECK
			ready();
			if
			:: rdy -> ecdone = true; break
			:: else -> skip
			fi;
#endif
			futex_wait(EC(dir), seen | FLAG, timed);
			if
			:: w[EC(dir)] != (seen | FLAG) -> break
			:: else -> skip	/* slice over or spurious: pred again */
			fi
		od;
		if
		:: !ecdone -> ecdone = ((w[EC(dir)] & VAL) != seen)
		:: else -> skip	/* else a spurious change: redo the slow path */
		fi
	od
}

/* ---- transfer(): one blocking push or pop ------------------------------- */

/*
 * transfer() is written as a loop around a single attempt() (one copy of
 * push_some/pop_some in the generated verifier instead of four), with a
 * phase saying what comes before and after the attempt:
 */
#define P_FIRST 0	/* the first attempt */
#define P_SPUN 1	/* the attempt after the spin saw ready() */
#define P_ENTER 2	/* join the gate, then attempt */
#define P_OPENED 3	/* the gate was open (closed): one last attempt */
#define P_LEADER 4	/* holds the gate: snapshot, attempt, ec wait */
#define P_LAST 5	/* holds the gate, timed out: one last attempt */

inline transfer()
{
	phase = P_FIRST;
	do
	:: if
		:: phase == P_ENTER ->
			gate_enter();
			scrub();
			phase = (waited != R_NONE -> P_OPENED : P_LEADER)
		:: else -> skip
		fi;
		if
		:: phase == P_LEADER ->
			/* Re-check after the snapshot: a change from here on wakes us. */
			seen = w[EC(dir)] & VAL	/* ck_ec32_value */
		:: else -> skip
		fi;
		attempt();
		if
		:: r != R_NONE -> break
		:: else -> skip
		fi;
		if
		:: phase == P_FIRST ->
#ifndef NO_SPINPOLL
			/* baton__spin_until: one poll that saw ready, or none */
			if
			:: ready()
			:: rdy = false
			fi;
#else
			rdy = false;
#endif
			phase = (rdy -> P_SPUN : P_ENTER)
		:: phase == P_SPUN -> phase = P_ENTER
		:: phase == P_OPENED -> r = waited; break	/* -EPIPE, -ETIMEDOUT */
		:: phase == P_LEADER ->
			ec_wait_until();
			if
			:: ectimeout -> WITNESS_LEADER_TIMED_OUT; phase = P_LAST
			:: else -> skip
			fi
		:: phase == P_LAST -> r = R_ETIMEDOUT; break
		fi
	od;
	if
	:: phase == P_LEADER || phase == P_LAST ->
		gate_leave();
		scrub()
	:: else -> skip
	fi
}

proctype thread(byte me)
{
	byte pc, op, phase;
	byte dir, item, r, sz, cc, pp, it, old, gw, taken, waited, seen, cur;
	bool got, ok, rdy, ecdone, ectimeout, timed, expired;
#ifdef MUTANT_EARLY_FLAG
	bool flagged;
#endif

	do
	:: op = script[me * MAXOPS + pc];
		if
		:: op == OP_END -> break
		:: op == OP_GATE || op == OP_GATET ->
			dir = POP;
			timed = (op == OP_GATET);
			gate_enter();
			if
			:: waited == R_NONE -> gate_leave()
			:: else -> assert(timed && waited == R_ETIMEDOUT)
			fi;
			scrub()
		:: op == OP_CLOSE ->
			/* baton_queue_close */
			lock_acquire();
			closed = true;
			lock_release();
			gate_open(GATE(PUSH));
			gate_open(GATE(POP));
			ec_add(EC(POP));
			ec_add(EC(PUSH))
		:: else ->
			if
			:: op > OP_PUSHT -> dir = PUSH; item = op - OP_PUSHT; timed = true
			:: op > OP_PUSH && op < OP_PUSHT -> dir = PUSH; item = op - OP_PUSH
			:: op == OP_POPT -> dir = POP; timed = true
			:: else -> dir = POP
			fi;
			do
			:: transfer();
				if
				:: r == R_ETIMEDOUT ->
					/* the caller tries again, without a deadline */
					assert(timed && expired);
					timed = false;
					expired = false
				:: r != R_ETIMEDOUT && op == OP_POPALL && r == R_OK -> skip
				:: else -> break
				fi
			od;
			if
			:: r == R_EPIPE && dir == PUSH -> push_failed[item] = true
			:: r == R_EPIPE && op == OP_POPALL -> skip
			:: else -> assert(r == R_OK)
			fi
		fi;
progress_op:	atomic {
			pc++;
			dir = 0; item = 0; r = 0; waited = 0; seen = 0; phase = 0;
			rdy = false; ecdone = false; ectimeout = false;
			timed = false; expired = false
		}
	od
}

init {
	byte i, k, inring;

	i = 0;
	do
	:: i < NPROC -> waitq[i] = NONE; i++
	:: else -> break
	od;

#if SCEN == 1
	/* Both sides block: one producer of two items, two consumers. */
	script[0 * MAXOPS + 0] = OP_PUSH + 1;
	script[0 * MAXOPS + 1] = OP_PUSH + 2;
	script[1 * MAXOPS + 0] = OP_POP;
	script[2 * MAXOPS + 0] = OP_POP;
#elif SCEN == 2
	/* Close wakes the poppers: one item then close; two drainers. */
	script[0 * MAXOPS + 0] = OP_PUSH + 1;
	script[0 * MAXOPS + 1] = OP_CLOSE;
	script[1 * MAXOPS + 0] = OP_POPALL;
	script[2 * MAXOPS + 0] = OP_POPALL;
#elif SCEN == 3
	/*
	 * Close wakes the pushers: two producers of three items (so with
	 * capacity 1 both can block, one in the gate), a closer that drains.
	 */
	script[0 * MAXOPS + 0] = OP_PUSH + 1;
	script[0 * MAXOPS + 1] = OP_PUSH + 2;
	script[1 * MAXOPS + 0] = OP_PUSH + 3;
	script[2 * MAXOPS + 0] = OP_CLOSE;
	script[2 * MAXOPS + 1] = OP_POPALL;
#elif SCEN == 4
	/* Two producers contend for the lock and the push gate. */
	script[0 * MAXOPS + 0] = OP_PUSH + 1;
	script[1 * MAXOPS + 0] = OP_PUSH + 2;
	script[2 * MAXOPS + 0] = OP_POP;
	script[2 * MAXOPS + 1] = OP_POP;
#elif SCEN == 5
	/*
	 * A timed popper: its deadline may pass anywhere (in the gate, asleep
	 * or just woken; as the leader), after which it pops untimed.
	 */
	script[0 * MAXOPS + 0] = OP_PUSH + 1;
	script[0 * MAXOPS + 1] = OP_PUSH + 2;
	script[1 * MAXOPS + 0] = OP_POP;
	script[2 * MAXOPS + 0] = OP_POPT;
#elif SCEN == 6
	/*
	 * The gate alone: three threads enter and leave, one with a deadline.
	 * A waiter that times out right after the leader's leave woke it has
	 * swallowed the line's wakeup and must pass it on (pass_wakeup_on).
	 * (In the queue that takes four threads: a leader, two gate waiters
	 * and a producer.)
	 */
	script[0 * MAXOPS + 0] = OP_GATE;
	script[1 * MAXOPS + 0] = OP_GATE;
	script[2 * MAXOPS + 0] = OP_GATET;
#endif

	atomic {
		run thread(0);
		run thread(1);
		run thread(2)
	}

	/* Everyone returned: check what became of each item. */
	(_nr_pr == 1);
	i = 1;
	do
	:: i <= NITEMS ->
		inring = 0;
		k = c_head;
		do
		:: k < p_tail ->
			if
			:: slot[k & MASK] == i -> inring++
			:: else -> skip
			fi;
			k++
		:: else -> break
		od;
		if
		:: pushed_ok[i] -> assert(!push_failed[i] && popped[i] + inring == 1)
		:: else -> assert(popped[i] == 0 && inring == 0)
		fi;
		i++
	:: else -> break
	od;
#if WITNESS == 1
	/* a popper slept in the gate while the leader slept on items */
	assert(!(slept[GATE(POP)] && slept[EC(POP)] && maxasleep >= 2))
#elif WITNESS == 2
	/* a pusher slept in the gate while the leader slept on space */
	assert(!(slept[GATE(PUSH)] && slept[EC(PUSH)] && maxasleep >= 2))
#elif WITNESS == 3
	/* a thread parked on the producer lock */
	assert(!slept[W_LOCK])
#elif WITNESS == 4
	/* three threads asleep at once */
	assert(maxasleep < 3)
#elif WITNESS == 5
	/* a gate waiter timed out and passed a wakeup on (woke one) */
	assert(!passed_on)
#elif WITNESS == 6
	/* the leader timed out on the event count */
	assert(!leader_timed_out)
#endif
}
