/*
 * result_cell.pml - SPIN model of baton's result cell (src/cell.c) and of
 * the future / promise operations on it (src/future.c).
 *
 * What it models, one Promela statement per atomic instruction of the C
 * code (plain loads and stores are separate statements; read-modify-writes
 * are one atomic step):
 *
 *   src/cell.c    baton__cell_run (claim QUEUED -> RUNNING, the IN_BODY
 *                 announcement, the body, complete_from_body),
 *                 baton__cell_claim_completion / _settle / _publish,
 *                 run_callbacks, baton__cell_add_callback, baton__cell_stop,
 *                 baton__cell_wait (helping, then the `done` event count),
 *                 baton__cell_unref (the last one destroys an untaken value
 *                 and frees the cell)
 *   src/future.c  baton_future_cancel / _cancel_wait, baton_future_take
 *                 (access_value TAKE), baton_future_on_done and its
 *                 dispatch, baton_promise_fulfil / _fail / _destroy
 *   src/pool.c    run_popped: the worker's run, then the queue's unref
 *   ck_ec32       the `done` counter: ck_ec32_add and the waiter's flag,
 *                 as in queue_wait.pml
 *
 * Memory model: sequentially consistent.  Every load, store and RMW is one
 * step of one global interleaving; x86-TSO store buffering (and weaker
 * models) are NOT modelled: the acquire/release pairs of the C code are
 * assumed to provide the orders the model takes for granted.  The mutant
 * MUTANT_EARLY_PUBLISH shows what the release store of DONE must order.
 *
 * Futexes as in queue_wait.pml: exact sleep/wake with at most SPURIOUS
 * spurious wakeups, so a lost wakeup ends in an invalid end state.
 *
 * The value: the body's return value (V_BODY) and a promise's value
 * (V_FULFIL) are tracked as resources: born LIVE, then DESTROYED (the
 * destructor ran) or TAKEN (a taker owns it), each exactly once.  The cell
 * is freed by setting `freed`; every access to a cell field asserts !freed
 * (a use after free: cells are recycled, type-stable memory).
 *
 * Properties:
 *   - exactly one completion (publish asserts completions == 1; the end
 *     check asserts it happened);
 *   - each value is destroyed exactly once or taken exactly once, never
 *     both, never neither (assertions at every transition, end check);
 *   - no thread touches the cell after the last unref (assert !freed on
 *     every access), and the cell is freed exactly once, after DONE;
 *   - a cell whose body is running never completes (publish asserts the
 *     body is not running): a cancel of a running body completes only
 *     when the body returned;
 *   - a waiter that saw DONE sees the result: a NORMAL outcome carries a
 *     LIVE value;
 *   - every waiter wakes: no invalid end state.
 *
 * Scenarios (-DSCEN=n):
 *   1  a future with a body: a pool worker (run, unref), the owner (take
 *      or drop the handle), and a second holder (on_done callback, then
 *      cancel or cancel_wait, then a racing take, then unref);
 *   2  a promise: the completer (fulfil, fail, or nothing, then
 *      promise_destroy), the future's holder (take or drop), and a second
 *      holder (on_done, cancel, unref);
 *   3  a future with a body, stopped two ways at once: a pool worker, the
 *      owner (cancel_wait, then take) and a second holder (on_done, a
 *      plain stop request as at shutdown or owner exit, then take).
 *
 * HELP_WAITS_FOR_DONE (default 1, src/cell.c since f6ed5e9): after a help
 * that ran the cell, baton__cell_wait goes on waiting until the cell is
 * DONE.  0 is the code before that fix, which returned 0 at once although
 * a cancel could have won the completion and still be filling the result:
 * the bug this model found (see the README), kept as a mutant.
 *
 * Mutants (must FAIL):
 *   MUTANT_EARLY_PUBLISHED  `published` (the awaiters' shortcut) is stored
 *                           right after the claim, before value and reason
 *                           (a relaxed store, or one moved up);
 *   MUTANT_EARLY_PUBLISH    DONE is stored right after the claim, before
 *                           value and reason (a relaxed publish);
 *   MUTANT_NO_INBODY_CHECK  baton_future_cancel settles even when it saw
 *                           CELL_IN_BODY (completes under a running body);
 *   MUTANT_SPLIT_ANNOUNCE   baton__cell_run tests CELL_STOP with a load and
 *                           then announces CELL_IN_BODY with a separate
 *                           RMW (the STOP/IN_BODY pair is no longer one
 *                           read-modify-write of one word).
 */

#ifndef SCEN
#define SCEN 1
#endif

/*
 * What baton__cell_wait does after a help that ran the cell: 1 waits on
 * until the cell is DONE (src/cell.c since the fix), 0 returns at once
 * (the bug this model found, kept as a mutant that must fail).
 */
#ifndef HELP_WAITS_FOR_DONE
#define HELP_WAITS_FOR_DONE 1
#endif
#ifndef SPURIOUS
#define SPURIOUS 1
#endif

#define NPROC 4
#define NONE 255

/* enum baton_task_state, plus CELL_COMPLETING */
#define QUEUED 0
#define RUNNING 1
#define DONE 2
#define COMPLETING 3

/* CELL_* flags */
#define F_STOP 1
#define F_TAKEN 2
#define F_IN_BODY 16
#define F_BROKEN 32
#define F_CANCELLED 64
#define F_CANCEL_WON 128

/* reason.kind, with the non-normal ones told apart for the checks */
#define NORMAL 0
#define R_CANCELLED 1   /* SHUTDOWN, ECANCELED, "cancelled" */
#define R_STOPPED 2     /* SHUTDOWN, "stopped before it ran" */
#define R_BROKEN 3      /* SHUTDOWN, EPIPE, "broken promise" */
#define R_FAILED 4      /* promise_fail's reason */

/* cell->callbacks: empty, one node, CALLBACKS_CLOSED */
#define CB_EMPTY 0
#define CB_ONE 1
#define CB_CLOSED 2

/* values */
#define V_NULL 0
#define V_BODY 1
#define V_FULFIL 2
#define UNBORN 0
#define LIVE 1
#define DESTROYED 2
#define TAKEN 3

#define FLAG 128
#define VAL 127

/* results */
#define OK 0
#define EALREADY 1
#define EXITED 2
#define EPIPE 3

/* The cell. */
byte state;
byte flags;
byte refs;
byte value;
bool has_destroy;
byte reason;
byte callbacks;
byte done_ec;
bool published;	/* stored after the callbacks, before done_ec moves */

byte waitq[NPROC];
byte spurious = SPURIOUS;

/* The pool's queue holds the cell (and a reference) until popped. */
bool in_queue;

/* Ghosts. */
bool freed;
byte completions;
bool body_running;
bool body_ran;
byte vstate[3];

/* Every access to a cell field goes through one of these. */
#define ALIVE assert(!freed)
#define LOAD(dst, field) atomic { ALIVE; dst = field }
#define STORE(field, val) atomic { ALIVE; field = val }

inline destroy_value(v)
{
	atomic { assert(vstate[v] == LIVE); vstate[v] = DESTROYED }
}

/* ---- futex on the done counter ----------------------------------------- */

inline futex_wait_done(expected)
{
	atomic {
		ALIVE;
		if
		:: done_ec == (expected) -> waitq[_pid] = 1
		:: else -> skip
		fi
	}
	if
	:: waitq[_pid] == NONE -> skip
	:: atomic { waitq[_pid] != NONE && spurious > 0 ->
		spurious--; waitq[_pid] = NONE }
	fi
}

inline futex_wake_all_done()
{
	d_step {
		ALIVE;
		if :: waitq[1] == 1 -> waitq[1] = NONE :: else -> skip fi;
		if :: waitq[2] == 1 -> waitq[2] = NONE :: else -> skip fi;
		if :: waitq[3] == 1 -> waitq[3] = NONE :: else -> skip fi
	}
}

/* baton__ec_signal(&cell->done): ck_ec32_add, wake if flagged. */
inline ec_signal_done()
{
	atomic { ALIVE; old = done_ec; done_ec = done_ec + 1 };
	if
	:: (old & FLAG) != 0 ->
		atomic { ALIVE; done_ec = done_ec & VAL };
		futex_wake_all_done()
	:: else -> skip
	fi
}

/* baton__ec_wait(&cell->done, seen, infinite): ck_ec32_wait_pred, no pred */
inline ec_wait_done()
{
	ecdone = false;
	LOAD(cur, done_ec);
	ecdone = ((cur & VAL) != seen);
	do
	:: ecdone -> break
	:: else ->
		LOAD(cur, done_ec);	/* wait_easy(unflagged) */
		if
		:: cur == (seen | FLAG) -> skip
		:: cur == seen ->
			atomic {
				ALIVE;
				if
				:: done_ec == seen -> done_ec = seen | FLAG
				:: else -> ecdone = (done_ec != (seen | FLAG))
				fi
			}
		:: else -> ecdone = true
		fi;
		if
		:: !ecdone ->
			LOAD(cur, done_ec);	/* wait_easy(flagged) */
			ecdone = (cur != (seen | FLAG))
		:: else -> skip
		fi;
		do
		:: ecdone -> break
		:: else ->
			futex_wait_done(seen | FLAG);
			LOAD(cur, done_ec);
			if
			:: cur != (seen | FLAG) -> break
			:: else -> skip
			fi
		od;
		if
		:: !ecdone ->
			LOAD(cur, done_ec);
			ecdone = ((cur & VAL) != seen)
		:: else -> skip
		fi
	od
}

/* ---- references ------------------------------------------------------- */

inline cell_ref()
{
	atomic { ALIVE; refs++ }	/* relaxed fetch_add */
}

inline cell_unref()
{
	atomic { ALIVE; old = refs; refs-- };	/* acq_rel fetch_sub */
	if
	:: old == 1 ->
		LOAD(s, state);
		assert(s == DONE);	/* in these scenarios: freed only after completion */
		LOAD(f, flags);
		if
		:: (f & F_TAKEN) == 0 ->
			LOAD(v, value);
			if
			:: v != V_NULL ->
				LOAD(d, has_destroy);
				if
				:: d -> destroy_value(v)
				:: else -> skip
				fi
			:: else -> skip
			fi
		:: else -> skip
		fi;
		atomic { ALIVE; freed = true }	/* cell_free: gen bump */
	:: else -> skip
	fi
}

/* ---- completion ------------------------------------------------------- */

/* A registered user callback (user_cb_fired -> dispatch, pool NULL). */
inline user_callback()
{
	LOAD(s, state);		/* the callback looks at its future */
	assert(s == DONE);
	cell_unref()		/* the callback's reference */
}

inline run_callbacks()
{
	atomic { ALIVE; cbl = callbacks; callbacks = CB_CLOSED };	/* acq_rel xchg */
	assert(cbl != CB_CLOSED);
	if
	:: cbl == CB_ONE -> user_callback()
	:: else -> skip
	fi
}

inline claim_completion()
{
	atomic {
		ALIVE;
		if
		:: state == RUNNING -> state = COMPLETING; won = true
		:: else -> won = false
		fi
	}
}

inline store_done()
{
	atomic {
		ALIVE;
		assert(!body_running);
		assert(state == COMPLETING);
		state = DONE;
		completions++;
		assert(completions == 1)
	}
}

/* baton__cell_publish (its on_done is NULL in these scenarios) */
inline publish()
{
#ifndef MUTANT_EARLY_PUBLISH
	store_done();
#endif
	LOAD(d, has_destroy);	/* stands for the on_done read; a cell field */
	run_callbacks();
#ifndef MUTANT_EARLY_PUBLISHED
	STORE(published, true);	/* release: the awaiters' shortcut */
#endif
	ec_signal_done()
}

/* baton__cell_settle(cell, sv, sr); won says whether it completed. */
inline settle(sv, sr)
{
	claim_completion();
	if
	:: won ->
#ifdef MUTANT_EARLY_PUBLISH
		store_done();
#endif
#ifdef MUTANT_EARLY_PUBLISHED
		STORE(published, true);
#endif
		STORE(value, sv);
		STORE(reason, sr);
		publish()
	:: else -> skip
	fi
}

/* baton__cell_settle_cancelled */
inline settle_cancelled()
{
	claim_completion();
	if
	:: won ->
#ifdef MUTANT_EARLY_PUBLISH
		store_done();
#endif
#ifdef MUTANT_EARLY_PUBLISHED
		STORE(published, true);
#endif
		STORE(value, V_NULL);
		STORE(reason, R_CANCELLED);
		atomic { ALIVE; flags = flags | F_CANCEL_WON };
		publish()
	:: else -> skip
	fi
}

/*
 * complete_from_body(cell, V_BODY, f): f holds the flags as the body's
 * end cleared IN_BODY; the body's reason is NORMAL (it did not exit).
 */
inline complete_from_body()
{
	if
	:: (f & F_CANCELLED) != 0 ->
		LOAD(d, has_destroy);
		if
		:: d -> destroy_value(V_BODY)	/* a cancel voids the result */
		:: else -> skip
		fi;
		settle_cancelled()
	:: else ->
		settle(V_BODY, NORMAL);
		if
		:: !won ->
			LOAD(d, has_destroy);
			if
			:: d -> destroy_value(V_BODY)	/* another completer won */
			:: else -> skip
			fi
		:: else -> skip
		fi
	fi
}

/* baton__cell_run: ran says whether this call claimed the cell. */
inline cell_run()
{
	atomic {
		ALIVE;
		if
		:: state == QUEUED -> state = RUNNING; ran = true
		:: else -> ran = false
		fi
	}
	if
	:: ran ->
#ifdef MUTANT_SPLIT_ANNOUNCE
		LOAD(f, flags);
		atomic { ALIVE; flags = flags | F_IN_BODY };
#else
		/* the CAS loop: IN_BODY only if no stop came first (acq_rel) */
		atomic {
			ALIVE; f = flags;
			if
			:: (f & F_STOP) == 0 -> flags = flags | F_IN_BODY
			:: else -> skip
			fi
		};
#endif
		if
		:: (f & F_STOP) != 0 ->
			if
			:: (f & F_CANCELLED) != 0 -> settle_cancelled()
			:: else -> settle(V_NULL, R_STOPPED)
			fi
		:: else ->
			/* the body: runs, returns its value */
			body_running = true;
			atomic { body_running = false; body_ran = true; vstate[V_BODY] = LIVE };
			/* acq_rel fetch_and: the old flags say if a cancel came first */
			atomic { ALIVE; f = flags; flags = flags & ~F_IN_BODY };
			complete_from_body()
		fi
	:: else -> skip
	fi
}

/*
 * the executor's reap op (pool.c exec_reap, 8 cells) after a help: under the consumers lock
 * (a try-lock: it may give up), pops a queued cell a helper already
 * claimed and drops the queue's reference.
 */
inline pool_reap()
{
	LOAD(v, has_destroy);	/* stands for the cell->pool read */
	if
	:: atomic {
		in_queue && state != QUEUED ->
			ALIVE;	/* the queue's reference keeps it */
			in_queue = false
		};
		cell_unref()
	:: skip	/* lock busy, or nothing claimed at the head */
	fi
}

/* baton__cell_stop(cell, also): was = the flags as they were. */
inline cell_stop(also)
{
	atomic { ALIVE; was = flags; flags = flags | F_STOP | also };
	if
	:: (was & F_STOP) == 0 ->
		LOAD(s, state)	/* counts the cancel unless DONE */
	:: else -> skip
	fi
}

/* baton__cell_wait with an infinite deadline: helps a queued cell. */
inline cell_wait()
{
	do
	:: LOAD(cur, done_ec);
		seen = cur & VAL;
		LOAD(s, published);	/* acquire: the shortcut, before state */
		if
		:: s -> break
		:: else -> skip
		fi;
		LOAD(s, state);		/* acquire */
		if
		:: s == DONE -> break
		:: s == QUEUED ->
			cell_run();
			if
			:: ran ->
				pool_reap();
#if HELP_WAITS_FOR_DONE
				skip	/* `continue`: look again, wait for DONE */
#else
				break	/* the old `return 0`, DONE or not */
#endif
			:: else -> skip
			fi
		:: else -> skip
		fi;
		ec_wait_done()
	od
}

/* baton_future_wait(f, BATON_INFINITY) */
inline future_wait()
{
	LOAD(s, state);
	if
	:: s == DONE -> skip
	:: else -> cell_wait()
	fi
}

/* access_value(TAKE) on a DONE cell */
inline access_take()
{
	LOAD(f, flags);
	if
	:: (f & F_BROKEN) != 0 -> res = EPIPE
	:: else ->
		LOAD(rs, reason);
		if
		:: rs != NORMAL -> res = EXITED
		:: else ->
			atomic { ALIVE; f = flags; flags = flags | F_TAKEN };
			if
			:: (f & F_TAKEN) != 0 -> res = EALREADY
			:: else ->
				atomic {
					ALIVE;
					v = value;
					/* a NORMAL outcome seen after DONE has its value */
					assert(v != V_NULL && vstate[v] == LIVE);
					vstate[v] = TAKEN
				};
				res = OK
			fi
		fi
	fi
}

inline future_take()
{
	future_wait();
	access_take()
}

/* baton_future_on_done(f, cb, ctx, NULL) */
inline future_on_done()
{
	cell_ref();		/* the callback's own reference */
	LOAD(s, state);		/* baton_future_is_done: then run it now */
	if
	:: s == DONE -> cbl = CB_CLOSED
	:: else -> LOAD(cbl, callbacks)	/* acquire */
	fi;
	do
	:: cbl == CB_CLOSED -> break
	:: else ->
		atomic {
			ALIVE;
			if
			:: callbacks == cbl -> callbacks = CB_ONE; cbl = CB_ONE
			:: else -> cbl = callbacks
			fi
		};
		if
		:: cbl == CB_ONE -> break
		:: else -> skip
		fi
	od;
	if
	:: cbl == CB_CLOSED -> user_callback()	/* dispatch on the spot */
	:: else -> skip
	fi
}

/* baton_future_cancel */
inline future_cancel()
{
	LOAD(s, state);
	if
	:: s == DONE -> res = EALREADY
	:: else ->
		cell_stop(F_CANCELLED);
		cell_run();
		if
		:: ran -> res = OK
#ifndef MUTANT_NO_INBODY_CHECK
		:: !ran && (was & F_IN_BODY) != 0 -> res = OK
		:: !ran && (was & F_IN_BODY) == 0 ->
#else
		:: !ran ->
#endif
			settle_cancelled();
			res = (won -> OK : EALREADY)
		fi
	fi
}

/* baton_promise_fulfil(promise, V_FULFIL, destroy) */
inline promise_fulfil()
{
	vstate[V_FULFIL] = LIVE;	/* the caller's value */
	claim_completion();
	if
	:: won ->
#ifdef MUTANT_EARLY_PUBLISH
		store_done();
#endif
#ifdef MUTANT_EARLY_PUBLISHED
		STORE(published, true);
#endif
		STORE(value, V_FULFIL);
		STORE(has_destroy, true);
		publish()
	:: else ->
		destroy_value(V_FULFIL)	/* -EALREADY: the value stays the caller's */
	fi
}

inline promise_destroy()
{
	claim_completion();
	if
	:: won ->
#ifdef MUTANT_EARLY_PUBLISH
		store_done();
#endif
#ifdef MUTANT_EARLY_PUBLISHED
		STORE(published, true);
#endif
		atomic { ALIVE; flags = flags | F_BROKEN };
		STORE(reason, R_BROKEN);
		publish()
	:: else -> skip
	fi;
	cell_unref()
}

#define LOCALS \
	byte old, s, f, v, cur, seen, cbl, was, rs, bv, res; \
	bool d, won, ran, ecdone

proctype worker()
{
	LOCALS;

	/* pop (under the consumers lock), then run_popped */
	if
	:: atomic { in_queue -> in_queue = false };
		cell_run();
		cell_unref()
	:: atomic { !in_queue -> skip }	/* a helper reaped it */
	fi
}

proctype owner()
{
	LOCALS;

#if SCEN == 3
	future_cancel();	/* baton_future_cancel_wait, then take */
	future_take();
#else
	if
	:: future_take();
		assert(res == OK || res == EXITED || res == EALREADY || res == EPIPE)
	:: skip		/* drops a pending handle */
	fi;
#endif
	cell_unref()
}

proctype canceller()
{
	LOCALS;

	future_on_done();
#if SCEN == 3
	cell_stop(0);		/* baton__cell_request_stop: shutdown, owner exit */
	future_take();
#else
	future_cancel();
#if SCEN == 1
	if
	:: future_take()	/* cancel_wait, then a take racing the owner's */
	:: skip
	fi;
#endif
#endif
	cell_unref()
}

proctype completer()
{
	LOCALS;

	if
	:: promise_fulfil()
	:: settle(V_NULL, R_FAILED)	/* baton_promise_fail */
	:: skip
	fi;
	promise_destroy()
}

init {
	byte i;

	i = 0;
	do
	:: i < NPROC -> waitq[i] = NONE; i++
	:: else -> break
	od;

#if SCEN == 1 || SCEN == 3
	state = QUEUED;
	in_queue = true;
	refs = 3;		/* handle, queue, the second holder's ref */
	has_destroy = true;	/* opts->destroy */
	atomic {
		run worker();
		run owner();
		run canceller()
	}
#else
	state = RUNNING;	/* baton_promise_create */
	refs = 3;		/* promise, future, the second holder's ref */
	atomic {
		run completer();
		run owner();
		run canceller()
	}
#endif

	(_nr_pr == 1);
	assert(freed);
	assert(completions == 1);
	assert(vstate[V_BODY] != LIVE && vstate[V_FULFIL] != LIVE);
	assert(!body_ran || vstate[V_BODY] != UNBORN)
}
