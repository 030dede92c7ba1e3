/*
 * xproc_lock.pml - SPIN model of how the segment lock is taken over from
 * a dead owner (src/xproc/lock.c: baton__xlock, baton__xowner_alive,
 * identity; src/xproc/shm.c: take_row, baton_shm_detach).
 *
 * What it models, one Promela statement per atomic instruction of the C
 * code (plain loads separate; a CAS or exchange one step):
 *
 *   baton__xlock   CAS the lock word from 0 to our identity; on failure,
 *                  with the word v it read, judge v's owner
 *                  (baton__xowner_alive) and, if dead, CAS the word from
 *                  v to ours (a takeover: then clean up after the owner's
 *                  row); if alive, wait for the word to change (a poll
 *                  here: the C code sleeps in slices and judges again).
 *   baton__xowner_alive
 *                  a pid identity: the pid's liveness.  A row identity:
 *                  the row's incarnation (a load) must give the same
 *                  identity, then the row's state and occupant (loads)
 *                  must be alive.
 *   cleanup        (under the lock) a row whose occupant is dead is
 *                  retired: incarnation + 1, row free.
 *   take_row       (attach) under the lock held by pid, a free row gets
 *                  the new process; from then on it locks by row identity.
 *   detach         the process's last section retires its own row, then
 *                  unlocks.
 *
 * One row (R).  Identities: a row's is 1 + 2 * incarnation (odd); a pid's
 * is 64 + pid.  Memory is sequentially consistent; futexes, the undo log
 * and its rollback are not modelled (a takeover's rollback is the C
 * code's; what matters here is who holds the lock).
 *
 * Scenarios (SCEN):
 *   1  recycle: O (pid 0) occupies the row and dies holding the lock.  W
 *      and C (pids 1, 2) take the lock, either may take it over and clean
 *      the row; N (pid 3) attaches once the row is free (getting it), then
 *      takes the lock by its row identity.
 *   2  detach: D (pid 0) occupies the row and detaches (its last section
 *      frees its row) while W (pid 1) takes the lock.
 *
 * Property: mutual exclusion among the living (`holders` counts the live
 * processes inside the lock; a death inside it leaves the count).
 *
 * Switches (spin -D...):
 *   MUTANT_ROW_ONLY        a row identity without the incarnation (the
 *                          first design): W judges O dead, C takes over and
 *                          cleans, N gets the row and locks under the same
 *                          word, W's CAS from O's word succeeds: FAIL;
 *   MUTANT_DETACH_BY_ROW   detach holds the lock by its row identity: its
 *                          row is freed inside the section, so a taker
 *                          judges it dead and takes over: FAIL;
 *   WITNESS=1              asserts no takeover ever happens: must FAIL in
 *                          scenario 1 (the runs are not vacuous).
 */

#ifndef SCEN
#define SCEN 1
#endif
#ifndef WITNESS
#define WITNESS 0
#endif

#define P_FREE 0
#define P_ALIVE 1

#ifdef MUTANT_ROW_ONLY
#define ROW_ID(inc) 1
#else
#define ROW_ID(inc) (1 + 2 * (inc))
#endif
#define PID_ID(p) (64 + (p))

byte lock;          /* 0 or the owner's identity */
byte row_inc;       /* the row's incarnation */
byte row_state;     /* P_FREE or P_ALIVE */
byte row_pid;       /* its occupant */
bool alive[4];
byte holders;       /* live processes inside the lock */
bool took_over;

/* baton__xowner_alive(v): dead set to the judgement; separate loads. */
inline judge(v, dead, t, s, p)
{
	if
	:: v >= 64 ->
		dead = !alive[v - 64]
	:: else ->
		t = row_inc;
		if
		:: ROW_ID(t) != v ->
			dead = true /* another incarnation: its owner retired */
		:: else ->
			s = row_state;
			p = row_pid;
			dead = (s != P_ALIVE || !alive[p])
		fi
	fi
}

/* baton__xlock as `me`; over set if it took the lock from a dead owner. */
inline take(me, over, v, dead, t, s, p)
{
	over = false;
	do
	:: atomic { lock == 0 -> lock = me }; break
	:: atomic { lock != 0 -> v = lock };
		judge(v, dead, t, s, p);
		if
		:: dead ->
			if
			:: atomic { lock == v -> lock = me; over = true }
			:: atomic { lock != v -> skip }
			fi;
			if
			:: over -> break
			:: else -> skip
			fi
		:: else -> skip /* alive: wait and judge again */
		fi
	od;
	holders++;
	assert(holders == 1)
}

inline unlock()
{
	holders--;
	lock = 0
}

/* Under the lock, after a takeover: retire the row if its occupant died. */
inline clean()
{
	if
	:: row_state == P_ALIVE && !alive[row_pid] ->
		row_inc++;
		row_state = P_FREE
	:: else -> skip
	fi
}

#if SCEN == 1

proctype O()
{
	/* Holds the lock by its row identity from the start (init). */
	atomic { alive[0] = false; holders-- } /* kill -9 inside a section */
}

proctype Taker(byte who)
{
	bool over, dead;
	byte v, t, s, p;

	take(PID_ID(who), over, v, dead, t, s, p);
	if
	:: over ->
		took_over = true;
		assert(!WITNESS);
		clean()
	:: else -> skip
	fi;
	unlock()
}

proctype N()
{
	bool over, dead;
	byte v, t, s, p, mine;

	row_state == P_FREE; /* attach once the row is free */
	take(PID_ID(3), over, v, dead, t, s, p);
	if
	:: row_state == P_FREE ->
		row_pid = 3;
		row_state = P_ALIVE;
		mine = row_inc
	:: else -> skip
	fi;
	unlock();
	take(ROW_ID(mine), over, v, dead, t, s, p);
	unlock()
}

init
{
	atomic {
		alive[0] = true; alive[1] = true; alive[2] = true;
		alive[3] = true;
		row_state = P_ALIVE; row_pid = 0; row_inc = 0;
		lock = ROW_ID(0); holders = 1;
		run O();
		run Taker(1);
		run Taker(2);
		run N()
	}
}

#else /* SCEN 2 */

proctype D()
{
	bool over, dead;
	byte v, t, s, p;

#ifdef MUTANT_DETACH_BY_ROW
	take(ROW_ID(0), over, v, dead, t, s, p);
#else
	take(PID_ID(0), over, v, dead, t, s, p);
#endif
	row_inc++;          /* baton__xretire of its own row */
	row_state = P_FREE;
	unlock()
}

proctype W()
{
	bool over, dead;
	byte v, t, s, p;

	take(PID_ID(1), over, v, dead, t, s, p);
	unlock()
}

init
{
	atomic {
		alive[0] = true; alive[1] = true;
		row_state = P_ALIVE; row_pid = 0; row_inc = 0;
		run D();
		run W()
	}
}

#endif
