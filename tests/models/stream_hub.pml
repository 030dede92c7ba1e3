/*
 * stream_hub.pml - SPIN model of a supervised stream item killed while a
 * worker takes it: who drops the item's reference on the stream's hub
 * (src/stream.c), and how the kill ends the cell (src/cell.c).
 *
 * What it models, one Promela statement per atomic instruction of the C
 * code (plain loads and stores separate; RMWs and CASes one step):
 *
 *   src/cell.c    baton__cell_run: the claim (CAS QUEUED -> RUNNING), the
 *                 announcement of the body (a CAS loop that sets IN_BODY
 *                 only on a word without STOP), the stop path (settle
 *                 "stopped") or the body, then the fetch_and that clears
 *                 IN_BODY and the body's completion.  baton__cell_settle:
 *                 the claim RUNNING -> COMPLETING, then the publish (DONE,
 *                 on_done, `published`).  baton__cell_kill: request the
 *                 stop (fetch_or STOP), claim a queued cell, else settle
 *                 KILLED; then wait for whoever won to publish.
 *   src/stream.c  item_main: reads the hub (its prologue), calls fn, then
 *                 fetch_add on `leaving` (the second to leave drops).
 *                 item_done (on_done): uses the hub (the done stack, the
 *                 event count), then, if the body still runs (IN_BODY),
 *                 fetch_add on `leaving` and drops only if second; else
 *                 drops.  abandon (supervised): baton__cell_kill after a
 *                 look at DONE; the stream's own reference is dropped at
 *                 once after (the destroy that frees the hub soonest).
 *
 * The hub is one refcount: the stream's reference and the cell's (the one
 * item_done or item_main drops).  A use of the hub after the count
 * reached 0 is a use-after-free; a count above 0 when everyone is done is
 * a leak; the count going below 0 is a double drop.  The supervisor's
 * group is the cell's on_done: "left the group" is `published`.
 *
 * Memory model: sequentially consistent (the protocol is carried by RMWs
 * on `state`, `flags` and `leaving`, which C11 orders totally per word).
 *
 * Scenario: one worker that runs the cell, one stream owner that kills it
 * (if not DONE) and then drops its own hub reference.  The body may end
 * at any point (its gate is modelled by the interleaving).  KILLERS=2
 * adds the supervisor's shutdown killing the same child at the same time
 * (supervisor.c end_child: the same baton__cell_kill, no hub reference).
 *
 * Properties: no use of a freed hub (assertions at every use), no double
 * drop, no leak (checked when both are done), and the item has left the
 * group (published) when the kill returns.
 *
 * Switches (spin -D...):
 *   WITNESS=1                   asserts that item_done never leaves the
 *                               hub to the body: must FAIL (the hand-off
 *                               is reached);
 *   MUTANT_FETCH_OR_ANNOUNCE    the old announcement: fetch_or IN_BODY,
 *                               then, on STOP, fetch_and it away; a kill
 *                               in between leaves the hub to a body that
 *                               never runs: FAIL (leak);
 *   MUTANT_NO_HANDOFF           item_done always drops: the hub is freed
 *                               under a running body: FAIL;
 *   MUTANT_SETTLE_FIRST         the old kill: settle a RUNNING cell, then
 *                               stop: a worker that claimed but has not
 *                               announced runs the body after the hub
 *                               went: FAIL;
 *   MUTANT_NO_PUBLISH_WAIT      the kill returns without waiting for the
 *                               publish of a completion another thread
 *                               won: the item is still in the group when
 *                               the kill returns: FAIL.  (The first C
 *                               version waited only when its own settle
 *                               lost; with KILLERS=2 the other kill's
 *                               settle can beat the stop path of a claim
 *                               the first made, and the first returned
 *                               early: this model found it.)
 */

#ifndef KILLERS
#define KILLERS 1
#endif

#define QUEUED     0
#define RUNNING    1
#define COMPLETING 2
#define DONE       3

#define F_STOP    1
#define F_IN_BODY 2

byte state = QUEUED;
byte flags = 0;
bool published = false;

byte hub_refs = 2;     /* the stream's and the cell's */
bool hub_freed = false;
byte leaving = 0;
bool worker_done = false, owner_done = false;

#define USE_HUB assert(!hub_freed)

inline hub_unref()
{
	atomic {
		assert(hub_refs > 0);
		hub_refs--;
		if
		:: hub_refs == 0 -> hub_freed = true
		:: else -> skip
		fi
	}
}

/* item_done, on the thread that published the cell. */
inline item_done(l_old, l_flags)
{
	USE_HUB;	/* the done stack and the event count */
	l_flags = flags;
	if
#ifndef MUTANT_NO_HANDOFF
	:: (l_flags & F_IN_BODY) != 0 ->
		atomic { USE_HUB; l_old = leaving; leaving++ };
		if
		:: l_old == 0 ->
#if WITNESS
			assert(false);
#endif
			skip	/* the body drops it */
		:: else -> hub_unref()
		fi
#endif
	:: else -> hub_unref()
	fi
}

/* baton__cell_settle: won says whether this call completed the cell. */
inline settle(won, l_old, l_flags)
{
	atomic {
		if
		:: state == RUNNING -> state = COMPLETING; won = true
		:: else -> won = false
		fi
	}
	if
	:: won ->
		state = DONE;
		item_done(l_old, l_flags);
		published = true
	:: else -> skip
	fi
}

/* baton__cell_run: ran says whether this call claimed the cell. */
inline cell_run(ran, won, f, l_old, l_flags)
{
	atomic {
		if
		:: state == QUEUED -> state = RUNNING; ran = true
		:: else -> ran = false
		fi
	}
	if
	:: ran ->
#ifdef MUTANT_FETCH_OR_ANNOUNCE
		atomic { f = flags; flags = flags | F_IN_BODY };
		if
		:: (f & F_STOP) != 0 ->
			atomic { flags = flags & ~F_IN_BODY }
		:: else -> skip
		fi;
#else
		atomic {
			f = flags;
			if
			:: (f & F_STOP) == 0 -> flags = flags | F_IN_BODY
			:: else -> skip
			fi
		};
#endif
		if
		:: (f & F_STOP) != 0 ->
			settle(won, l_old, l_flags)	/* "stopped before it ran" */
		:: else ->
			/* item_main: the prologue reads the hub, fn runs */
			USE_HUB;
			/* its end: the second to leave drops */
			atomic { USE_HUB; l_old = leaving; leaving++ };
			if
			:: l_old == 1 -> hub_unref()
			:: else -> skip
			fi;
			atomic { flags = flags & ~F_IN_BODY };
			settle(won, l_old, l_flags)	/* the body's value */
		fi
	:: else -> skip
	fi
}

/* baton__cell_kill */
inline kill(ran, won, f, l_old, l_flags)
{
	atomic { flags = flags | F_STOP };
	cell_run(ran, won, f, l_old, l_flags);
	if
	:: !ran -> settle(won, l_old, l_flags)
	:: else -> skip
	fi;
#ifndef MUTANT_NO_PUBLISH_WAIT
	published	/* blocks until the winner's publish */
#else
	skip
#endif
}

proctype worker()
{
	bool ran, won;
	byte f, l_old, l_flags;

	cell_run(ran, won, f, l_old, l_flags);
	worker_done = true
}

proctype owner()
{
	bool ran, won;
	byte f, l_old, l_flags, s;

	s = state;	/* abandon's cell_done look */
	if
	:: s != DONE ->
#ifdef MUTANT_SETTLE_FIRST
		s = state;
		if
		:: s == RUNNING -> settle(won, l_old, l_flags)
		:: else -> skip
		fi;
		atomic { flags = flags | F_STOP };
		cell_run(ran, won, f, l_old, l_flags);
#else
		kill(ran, won, f, l_old, l_flags);
		/* the kill has returned: the item has left the group */
		assert(published);
#endif
	:: else -> skip
	fi;
	/* the stream's own reference (destroy) */
	hub_unref();
	owner_done = true
}

#if KILLERS == 2
bool sup_done = false;

/* The supervisor's shutdown killing the same child (end_child). */
proctype sup_killer()
{
	bool ran, won;
	byte f, l_old, l_flags;

	kill(ran, won, f, l_old, l_flags);
	assert(published);
	sup_done = true
}
#endif

init {
	atomic {
		run worker();
		run owner();
#if KILLERS == 2
		run sup_killer();
#endif
	};
	(worker_done && owner_done);
#if KILLERS == 2
	sup_done;
#endif
	assert(hub_refs == 0 && hub_freed)	/* no leak */
}
