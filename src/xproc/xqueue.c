/*
 * xqueue.c - a bounded, closable queue of future ids in a segment.
 *
 * Design notes
 * ============
 * A queue is a ring of (slot index, generation) pairs with a head index and
 * a count, both always in range of its capacity (checked on every read).
 * Queue states: FREE -> OPEN -> CLOSED -> FREE (destroy).  Flags: EOF (the
 * last producer left or died) and NOCONS (the last consumer did); both are
 * sticky, like close.
 *
 * Every push and pop is one section under the segment lock, logged: the
 * ring entry, the count and the moved reference (the pusher's row count
 * goes down, the popper's up; slot.refs is unchanged, since the queue holds
 * the reference in between) change together or, if the process dies before
 * the commit, not at all.  So a producer killed inside a push publishes
 * nothing, and a consumer killed after its pop holds the reference in its
 * own row, where its cleanup releases it: never lost, never twice.  This is
 * why the queue does not use ck_ring's MPMC protocol, whose producers spin on
 * each other's publish store (a producer killed between its CAS and its
 * publish wedges every later producer).
 *
 * Batches (push_many, pop_many) take the lock once and commit each item as
 * its own section, so a process killed inside one has moved a prefix, each
 * item whole; the log stays small whatever the batch.  They let the lock
 * go every X_HOLD_MAX items, so no hold outlasts a few microseconds.
 * `seq` moves once per hold, after its last item: a waiter spinning on it
 * costs the hold one line transfer, not one per item.  A process killed
 * between its last item and that bump leaves a waiter to its slice
 * (BATON_SHM_CHECK_MS), and the cleanup's own change wakes everyone.
 *
 * Waiting: `seq` moves on every change (push, pop, close, a role ending),
 * and its bit 0 says someone sleeps on it (wait.c).  A waiter reads it
 * under the lock, spins (wait.c: adaptive, at most spin_ns), then sleeps
 * on it (wait.c's flag protocol) in slices of BATON_SHM_CHECK_MS; before
 * each sleep it checks the liveness of the processes whose role it
 * depends on (producers for a popper, consumers for a pusher) and cleans
 * after a dead one, which sets EOF/NOCONS.
 */
#include "xproc.h"

#if defined(__linux__)

#include <errno.h>
#include <time.h>

#include "wait.h"

/* Resolves a queue id; under the lock or not (fields re-read later). */
static int
queue_get(baton_shm *seg, uint64_t id, uint32_t *qi)
{
	uint32_t i = (uint32_t)id, gen = (uint32_t)(id >> 32);
	struct xqueue *x;

	if (gen == 0 || i >= seg->l.max_queues)
		return -EINVAL;
	x = xq_at(seg, i);
	if (xld_acq(&x->gen) != gen || xld(&x->state) == Q_FREE)
		return -ESTALE;
	*qi = i;
	return 0;
}

/* Under the lock: capacity, head and count, each checked. */
static int
queue_shape(baton_shm *seg, struct xqueue *x, uint32_t *cap, uint32_t *head,
	    uint32_t *count)
{
	*cap = xld(&x->cap);
	*head = xld(&x->head);
	*count = xld(&x->count);
	if (*cap == 0 || *cap > seg->l.queue_capacity || *head >= *cap ||
	    *count > *cap)
		return -EPROTO;
	return 0;
}

int
baton_shm_queue_create(baton_shm *seg, size_t capacity, baton_shm_queue *out)
{
	struct xhdr *h;
	uint32_t gen;
	int r = baton__xcheck(seg);

	if (out != NULL)
		out->id = 0;
	if (r != 0)
		return r;
	if (out == NULL || capacity == 0 || capacity > seg->l.queue_capacity)
		return -EINVAL;
	h = xhdr(seg);
	baton__xlock(seg);
	for (uint32_t q = 0; q < seg->l.max_queues; q++) {
		struct xqueue *x = xq_at(seg, q);

		if (xld(&x->state) != Q_FREE)
			continue;
		gen = xld(&h->gen) + 1;
		if (gen == 0)
			gen = 1;
		baton__xset(seg, &h->gen, gen);
		baton__xset(seg, &x->cap, (uint32_t)capacity);
		baton__xset(seg, &x->head, 0);
		baton__xset(seg, &x->count, 0);
		baton__xset(seg, &x->nprod, 0);
		baton__xset(seg, &x->ncons, 0);
		baton__xset(seg, &x->flags, 0);
		baton__xset(seg, &x->state, Q_OPEN);
		baton__xset(seg, &x->gen, gen);
		baton__xcommit(seg);
		baton__xunlock(seg);
		out->id = xid(q, gen);
		return 0;
	}
	baton__xunlock(seg);
	return -ENOSPC;
}

static void
wake_all(struct xqueue *x)
{
	baton__xfutex_wake(&x->seq, INT_MAX);
}

/* Under the lock: bumps seq (part of the open section); true if a
 * sleeper flagged the value replaced (wake it after the unlock). */
static bool
changed(baton_shm *seg, struct xqueue *x)
{
	return (baton__xseq_bump(seg, &x->seq) & X_SEQ_SLEEPERS) != 0;
}

static int
roles_change(baton_shm *seg, baton_shm_queue q, unsigned roles, bool join)
{
	struct xqueue *x;
	uint32_t qi, cur, flags;
	xu32 *role;
	int r = baton__xcheck(seg);

	if (r != 0)
		return r;
	if (roles == 0 || (roles & ~(BATON_SHM_PRODUCER | BATON_SHM_CONSUMER)))
		return -EINVAL;
	baton__xlock(seg);
	r = queue_get(seg, q.id, &qi);
	if (r != 0) {
		baton__xunlock(seg);
		return r;
	}
	x = xq_at(seg, qi);
	role = xrole_at(seg, qi, seg->me);
	cur = xld(role);
	flags = xld(&x->flags);
	for (unsigned bit = BATON_SHM_PRODUCER; bit <= BATON_SHM_CONSUMER;
	     bit <<= 1) {
		xu32 *n = bit == BATON_SHM_PRODUCER ? &x->nprod : &x->ncons;
		uint32_t gone = bit == BATON_SHM_PRODUCER ? QF_EOF : QF_NOCONS;

		if (!(roles & bit) || (join == ((cur & bit) != 0)))
			continue;
		if (join) {
			baton__xset(seg, n, xld(n) + 1);
			cur |= bit;
		} else {
			uint32_t v = xld(n) > 0 ? xld(n) - 1 : 0;

			baton__xset(seg, n, v);
			if (v == 0)
				flags |= gone;
			cur &= ~bit;
		}
	}
	baton__xset(seg, role, cur);
	baton__xset(seg, &x->flags, flags);
	changed(seg, x);
	baton__xcommit(seg);
	baton__xunlock(seg);
	wake_all(x);
	return 0;
}

int
baton_shm_queue_join(baton_shm *seg, baton_shm_queue q, unsigned roles)
{
	return roles_change(seg, q, roles, true);
}

int
baton_shm_queue_leave(baton_shm *seg, baton_shm_queue q, unsigned roles)
{
	return roles_change(seg, q, roles, false);
}

/* Cleans after any dead process holding `role` on queue qi. */
static void
check_peers(baton_shm *seg, uint32_t qi, unsigned role)
{
	for (uint32_t row = 0; row < seg->l.max_procs; row++) {
		if (row == seg->me || !(xld(xrole_at(seg, qi, row)) & role))
			continue;
		if (!baton__xalive(seg, row)) {
			baton__xlock(seg);
			baton__xclean(seg, row);
			baton__xunlock(seg);
		}
	}
}

/*
 * Waits for seq to move from seen.  0 (look again), -EAGAIN (timeout_ms
 * 0) or -ETIMEDOUT.  spun: whether this call's wait already had its spin;
 * the first wait starts the deadline d, so a call that never waits never
 * reads the clock.
 */
static int
wait_change(baton_shm *seg, uint32_t qi, uint32_t seen, int timeout_ms,
	    struct baton__deadline *d, unsigned watch, bool *spun)
{
	struct xqueue *x = xq_at(seg, qi);
	long left;

	if (timeout_ms == 0)
		return -EAGAIN;
	if (!*spun) {
		baton__deadline_init(d, timeout_ms);
		*spun = true;
		if (baton__xspin(seg, &seg->queue_spin, &x->seq, seen,
				 ~X_SEQ_SLEEPERS, d))
			return 0;
	}
	check_peers(seg, qi, watch);
	if ((xld_acq(&x->seq) ^ seen) & ~X_SEQ_SLEEPERS)
		return 0;
	left = baton__deadline_left_ns(d, BATON_SHM_CHECK_MS * 1000000L);
	if (left == 0)
		return -ETIMEDOUT;
	baton__xseq_sleep(&x->seq, seen, left);
	return 0;
}

/*
 * Ends a batch call's hold: returns seq as the hold left it (what a wait
 * then watches), unlocks, and wakes the sleepers if the hold's change
 * replaced a flagged seq.
 */
static uint32_t
hold_end(baton_shm *seg, struct xqueue *x, bool flagged)
{
	uint32_t seen = xld(&x->seq);

	baton__xunlock(seg);
	if (flagged)
		wake_all(x);
	return seen;
}

/*
 * Under the lock: appends fs[0..n) while they fit, one committed section
 * per item, so a producer killed mid-call has pushed a prefix.  Stops at
 * the first item that is not this process's to push; *err says why.
 * Returns how many went in; *flagged if a sleeper needs waking.
 */
static size_t
push_locked(baton_shm *seg, uint32_t qi, const baton_shm_future *fs,
	    size_t n, bool *flagged, int *err)
{
	struct xqueue *x = xq_at(seg, qi);
	uint32_t cap, head, count, fi;
	size_t k = 0;

	*err = queue_shape(seg, x, &cap, &head, &count);
	/* The ring lines this hold will write (8 entries a line). */
	for (uint32_t j = 0; *err == 0 && j < n && count + j < cap; j += 8)
		xprefetchw(xring_at(seg, qi, (head + count + j) % cap));
	for (; *err == 0 && k < n && count < cap; k++, count++) {
		xu32 *mine, *ring;

		*err = baton__xslot_get(seg, fs[k].id, &fi, true);
		if (*err != 0)
			break;
		mine = xref_at(seg, fi, seg->me);
		ring = xring_at(seg, qi, (head + count) % cap);
		baton__xset(seg, ring, fi);
		baton__xset(seg, ring + 1, (uint32_t)(fs[k].id >> 32));
		baton__xset(seg, &x->count, count + 1);
		baton__xset(seg, mine, xld(mine) - 1);
		baton__xcommit(seg);
	}
	if (k > 0) {
		*flagged = changed(seg, x);
		baton__xcommit(seg);
	}
	return k;
}

static size_t
hold_max(size_t left)
{
	return left < X_HOLD_MAX ? left : X_HOLD_MAX;
}

ptrdiff_t
baton_shm_queue_push_many(baton_shm *seg, baton_shm_queue q,
			  const baton_shm_future *fs, size_t n,
			  int timeout_ms)
{
	struct baton__deadline d;
	struct xqueue *x;
	uint32_t qi, fi, seen;
	bool spun = false, flagged;
	size_t k = 0, got;
	int r = baton__xcheck(seg);

	if (r != 0)
		return r;
	if ((fs == NULL && n > 0) || baton__timeout_check(timeout_ms) != 0)
		return -EINVAL;
	while (k < n) {
		baton__xlock(seg);
		r = queue_get(seg, q.id, &qi);
		if (r == 0)
			r = baton__xslot_get(seg, fs[k].id, &fi, true);
		if (r == 0) {
			x = xq_at(seg, qi);
			if (xld(&x->state) != Q_OPEN ||
			    (xld(&x->flags) & QF_NOCONS))
				r = -EPIPE;
		}
		if (r != 0) {
			baton__xunlock(seg);
			break;
		}
		flagged = false;
		got = push_locked(seg, qi, fs + k, hold_max(n - k), &flagged,
				  &r);
		seen = hold_end(seg, x, flagged);
		k += got;
		if (got == X_HOLD_MAX)
			continue; /* a full hold: take the lock again */
		if (k > 0 || r != 0)
			break;
		r = wait_change(seg, qi, seen, timeout_ms, &d,
				BATON_SHM_CONSUMER, &spun);
		if (r != 0)
			return r;
	}
	return k > 0 ? (ptrdiff_t)k : r;
}

int
baton_shm_queue_push(baton_shm *seg, baton_shm_queue q, baton_shm_future f,
		     int timeout_ms)
{
	ptrdiff_t k = baton_shm_queue_push_many(seg, q, &f, 1, timeout_ms);

	return k < 0 ? (int)k : 0;
}

/*
 * Under the lock: takes up to n of the oldest items into out, one
 * committed section per item (a consumer killed mid-call holds what it
 * took in its own row).  A corrupt item ends the run: it is dropped with
 * -EPROTO in *err if it comes first in the call (first: nothing taken by
 * an earlier hold), else left for the next call.
 */
static size_t
pop_locked(baton_shm *seg, uint32_t qi, baton_shm_future *out, size_t n,
	   bool first, bool *flagged, int *err)
{
	struct xqueue *x = xq_at(seg, qi);
	uint32_t cap, head, count, fi, gen;
	size_t k = 0;

	*err = queue_shape(seg, x, &cap, &head, &count);
	/* The slots this hold will hand out: the taker writes them next. */
	for (uint32_t j = 0; *err == 0 && j < n && j < count; j++)
		xslot_prefetch(seg, xld(xring_at(seg, qi, (head + j) % cap)));
	for (; *err == 0 && k < n && count > 0; k++) {
		bool good;

		fi = xld(xring_at(seg, qi, head));
		gen = xld(xring_at(seg, qi, head) + 1);
		good = fi < seg->l.max_futures && gen != 0 &&
		       xld(&xslot_at(seg, fi)->gen) == gen;
		if (!good && (k > 0 || !first))
			break;
		head = (head + 1) % cap;
		count--;
		baton__xset(seg, &x->head, head);
		baton__xset(seg, &x->count, count);
		if (good) {
			xu32 *mine = xref_at(seg, fi, seg->me);

			baton__xset(seg, mine, xld(mine) + 1);
			out[k].id = xid(fi, gen);
		} else {
			*err = -EPROTO; /* a corrupt item is dropped */
		}
		baton__xcommit(seg);
	}
	if (k > 0) {
		*flagged = changed(seg, x);
		baton__xcommit(seg);
	}
	return *err == 0 ? k : 0;
}

ptrdiff_t
baton_shm_queue_pop_many(baton_shm *seg, baton_shm_queue q,
			 baton_shm_future *out, size_t n, int timeout_ms)
{
	struct baton__deadline d;
	struct xqueue *x;
	uint32_t qi, seen;
	bool spun = false, flagged, ended;
	size_t k = 0, got;
	int r = baton__xcheck(seg);

	for (size_t i = 0; out != NULL && i < n; i++)
		out[i].id = 0;
	if (r != 0)
		return r;
	if ((out == NULL && n > 0) || baton__timeout_check(timeout_ms) != 0)
		return -EINVAL;
	while (k < n) {
		baton__xlock(seg);
		r = queue_get(seg, q.id, &qi);
		if (r != 0) {
			baton__xunlock(seg);
			break;
		}
		x = xq_at(seg, qi);
		flagged = false;
		got = pop_locked(seg, qi, out + k, hold_max(n - k), k == 0,
				 &flagged, &r);
		ended = xld(&x->state) != Q_OPEN || (xld(&x->flags) & QF_EOF);
		seen = hold_end(seg, x, flagged);
		k += got;
		if (got == X_HOLD_MAX)
			continue; /* a full hold: take the lock again */
		if (k > 0 || r != 0)
			break;
		if (ended)
			return -EPIPE;
		r = wait_change(seg, qi, seen, timeout_ms, &d,
				BATON_SHM_PRODUCER, &spun);
		if (r != 0)
			return r;
	}
	return k > 0 ? (ptrdiff_t)k : r;
}

int
baton_shm_queue_pop(baton_shm *seg, baton_shm_queue q, baton_shm_future *out,
		    int timeout_ms)
{
	ptrdiff_t k = baton_shm_queue_pop_many(seg, q, out, 1, timeout_ms);

	return k < 0 ? (int)k : 0;
}

/* Closes; with discard, releases the items left.  Returns how many. */
static int
close_queue(baton_shm *seg, baton_shm_queue q, bool discard, bool destroy)
{
	struct xqueue *x;
	uint32_t qi, cap, head, count;
	int r = baton__xcheck(seg), n = 0;

	if (r != 0)
		return r;
	baton__xlock(seg);
	r = queue_get(seg, q.id, &qi);
	if (r != 0) {
		baton__xunlock(seg);
		return r;
	}
	x = xq_at(seg, qi);
	baton__xset(seg, &x->state, Q_CLOSED);
	changed(seg, x);
	baton__xcommit(seg);
	while (discard && queue_shape(seg, x, &cap, &head, &count) == 0 &&
	       count > 0) {
		uint32_t fi = xld(xring_at(seg, qi, head));
		uint32_t gen = xld(xring_at(seg, qi, head) + 1);

		baton__xset(seg, &x->head, (head + 1) % cap);
		baton__xset(seg, &x->count, count - 1);
		if (fi < seg->l.max_futures && gen != 0 &&
		    xld(&xslot_at(seg, fi)->gen) == gen)
			baton__xslot_release(seg, fi, UINT32_MAX, 1);
		changed(seg, x);
		baton__xcommit(seg);
		n++;
	}
	if (destroy) {
		for (uint32_t row = 0; row < seg->l.max_procs; row++) {
			baton__xset(seg, xrole_at(seg, qi, row), 0);
			baton__xcommit(seg);
		}
		baton__xset(seg, &x->count, 0);
		baton__xset(seg, &x->gen, 0);
		baton__xset(seg, &x->state, Q_FREE);
		changed(seg, x);
		baton__xcommit(seg);
	}
	baton__xunlock(seg);
	wake_all(x);
	return n;
}

int
baton_shm_queue_close(baton_shm *seg, baton_shm_queue q)
{
	int r = close_queue(seg, q, false, false);

	return r < 0 ? r : 0;
}

int
baton_shm_queue_close_discard(baton_shm *seg, baton_shm_queue q)
{
	return close_queue(seg, q, true, false);
}

int
baton_shm_queue_destroy(baton_shm *seg, baton_shm_queue q)
{
	int r = close_queue(seg, q, true, true);

	return r < 0 ? r : 0;
}

int
baton_shm_queue_depth(baton_shm *seg, baton_shm_queue q)
{
	uint32_t qi, count;
	int r = baton__xcheck(seg);

	if (r == 0)
		r = queue_get(seg, q.id, &qi);
	if (r != 0)
		return r;
	/* Under the lock: a committed count, never a half-done section's. */
	baton__xlock(seg);
	count = xld(&xq_at(seg, qi)->count);
	baton__xunlock(seg);
	return count <= seg->l.queue_capacity ? (int)count : -EPROTO;
}

#endif /* __linux__ */
