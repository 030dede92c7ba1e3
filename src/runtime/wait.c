/*
 * wait.c - how baton threads sleep: deadlines, futexes, event counts.
 *
 * Design notes
 * ============
 * Every public timeout is a relative int in milliseconds.  It is checked
 * (BATON_INFINITY or >= 0) before anything else happens, and turned into
 * an absolute CLOCK_MONOTONIC deadline once, only when a call really has to
 * wait, so the fast paths never read the clock.
 *
 * Blocking goes through Concurrency Kit event counts (ck_ec32) in
 * multi-producer mode: the signalling side always does an atomic add
 * (ck_ec32_add), which also wakes sleepers when a waiter has flagged the
 * counter.  The waiting side snapshots the counter, re-checks its
 * condition, and then asks ck_ec to wait for a change.  ck_ec spins for
 * busy_loop_iter pauses before it flags the counter and parks on a futex,
 * so a handoff that completes within a few microseconds never pays a
 * futex round trip (30-60 us on these machines).
 *
 * ck_ec's slow path sleeps in growing slices (initial_wait_ns, scaled)
 * during its first second, without clamping a slice to the caller's
 * deadline.  before_sleep(), given as ck_ec's predicate, clamps each slice,
 * so a timed wait ends on time rather than at the end of a slice.  The
 * multi-producer protocol loses no wakeup, so the first slice is long.
 *
 * Signalling only when someone waits: a signaller may skip the atomic add
 * when ck_ec32_has_waiters() is false, provided it issues a full fence
 * between publishing its change and reading the flag, and the waiter
 * passes a `ready` predicate that re-checks the condition.  ck_ec calls
 * it after flagging the counter and before each sleep, so this is a
 * Dekker pair: either the signaller sees the flag and signals, or the
 * waiter's predicate sees the change.
 *
 * ck_ec reports a timeout when its clock says the deadline passed;
 * baton__ec_wait re-checks on the same clock and returns -ETIMEDOUT only
 * then, so a timed call never returns early.
 */
#include "wait.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "baton/common.h"

#define NSEC_PER_SEC 1000000000L
#define TIME_T_MAX ((time_t)(((uint64_t)1 << (sizeof(time_t) * CHAR_BIT - 1)) - 1))

/*
 * Spinning.  A waiter spins before it parks, because a futex sleep/wake
 * round trip costs 30-60 us here.  But on two busy cores a spinner steals
 * the CPU from the thread it waits for, so each waiting site keeps an
 * adaptive budget (struct baton__spinner): it grows toward twice the
 * spin that recently succeeded and halves after a spin that did not, so
 * spinning pays off or fades to almost nothing.  And no more threads spin
 * at once than there are CPUs.
 */
#ifndef SPIN_MIN
#define SPIN_MIN 32u
#endif
#define SPIN_START 256u
#define SPIN_MAX 4096u

/* Fixed budget for sites without a spinner of their own. */
#ifndef BATON_SPIN_PAUSES
#define BATON_SPIN_PAUSES 1024
#endif

/* ck_ec's own spin before and after flagging: we spun already. */
#define EC_BUSY_LOOP_ITER 16

/* Threads spinning right now, process-wide; see max_spinners(). */
static atomic_int spinners;

int
baton__timeout_check(int timeout_ms)
{
	return (timeout_ms >= 0 || timeout_ms == BATON_INFINITY) ? 0 : -EINVAL;
}

struct timespec
baton__timespec_add_ms(struct timespec now, int64_t ms)
{
	int64_t sec = ms / 1000;
	long nsec = (long)(ms % 1000) * 1000000L;

	now.tv_nsec += nsec;
	if (now.tv_nsec >= NSEC_PER_SEC) {
		now.tv_nsec -= NSEC_PER_SEC;
		sec++;
	}
	if (now.tv_sec > TIME_T_MAX - sec) {
		now.tv_sec = TIME_T_MAX;
		now.tv_nsec = NSEC_PER_SEC - 1;
	} else {
		now.tv_sec += (time_t)sec;
	}
	return now;
}

void
baton__deadline_init(struct baton__deadline *d, int timeout_ms)
{
	struct timespec now;

	d->infinite = timeout_ms < 0;
	if (d->infinite)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	d->at = baton__timespec_add_ms(now, timeout_ms);
}

static bool
timespec_before(struct timespec a, struct timespec b)
{
	return a.tv_sec < b.tv_sec ||
	    (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

bool
baton__deadline_expired(const struct baton__deadline *d)
{
	struct timespec now;

	if (d->infinite)
		return false;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return !timespec_before(now, d->at);
}

long
baton__deadline_left_ns(const struct baton__deadline *d, long cap)
{
	struct timespec now;
	long left;

	if (d->infinite)
		return cap;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!timespec_before(now, d->at))
		return 0;
	if (d->at.tv_sec - now.tv_sec > 1)
		return cap; /* no overflow for far deadlines */
	left = (long)(d->at.tv_sec - now.tv_sec) * NSEC_PER_SEC +
	    (d->at.tv_nsec - now.tv_nsec);
	return left < cap ? left : cap;
}

void
baton__futex_wait(atomic_uint *word, unsigned int expected)
{
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

void
baton__futex_wake(atomic_uint *word, int n)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

static int
ec_gettime(const struct ck_ec_ops *ops, struct timespec *out)
{
	(void)ops;
	return clock_gettime(CLOCK_MONOTONIC, out);
}

static void
ec_wait32(const struct ck_ec_wait_state *state, const uint32_t *word,
	  uint32_t expected, const struct timespec *deadline)
{
	(void)state;
	/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline. */
	syscall(SYS_futex, word, FUTEX_WAIT_BITSET_PRIVATE, expected,
		deadline, NULL, FUTEX_BITSET_MATCH_ANY);
}

static void
ec_wake32(const struct ck_ec_ops *ops, const uint32_t *word)
{
	(void)ops;
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static void
ec_wait64(const struct ck_ec_wait_state *state, const uint64_t *word,
	  uint64_t expected, const struct timespec *deadline)
{
	/* ck_ec64 keeps its futex word in the low half (little endian). */
	ec_wait32(state, (const uint32_t *)word, (uint32_t)expected, deadline);
}

static void
ec_wake64(const struct ck_ec_ops *ops, const uint64_t *word)
{
	ec_wake32(ops, (const uint32_t *)word);
}

static const struct ck_ec_ops ec_ops = {
	.gettime = ec_gettime,
	.wait32 = ec_wait32,
	.wait64 = ec_wait64,
	.wake32 = ec_wake32,
	.wake64 = ec_wake64,
	.busy_loop_iter = EC_BUSY_LOOP_ITER,
	.initial_wait_ns = 1000000000u,
};

const struct ck_ec_mode baton__ec_mode = {
	.ops = &ec_ops,
	.single_producer = false,
};

/*
 * At most as many spinners as CPUs: beyond that, a spinner only delays
 * the thread it waits for.
 */
static int
max_spinners(void)
{
	static atomic_int cached;
	/* relaxed: a racy first computation gives the same answer. */
	int n = atomic_load_explicit(&cached, memory_order_relaxed);

	if (n == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		n = cpus > 1 ? (int)cpus : 1;
		atomic_store_explicit(&cached, n, memory_order_relaxed);
	}
	return n;
}

/*
 * Takes a spinning slot: false if as many threads as CPUs spin already.
 * Either way the caller gives it back with spin_slot_put.  relaxed: the
 * count only rations spinning; it orders nothing.
 */
static bool
spin_slot_take(void)
{
	return atomic_fetch_add_explicit(&spinners, 1, memory_order_relaxed) <
	    max_spinners();
}

static void
spin_slot_put(void)
{
	atomic_fetch_sub_explicit(&spinners, 1, memory_order_relaxed);
}

bool
baton__spin_until(struct baton__spinner *sp, baton__ready_fn ready,
		  void *ctx)
{
	unsigned int budget = BATON_SPIN_PAUSES, i = 0;
	bool ok = false;

	if (sp != NULL) {
		/* relaxed: the budget is a heuristic; it orders nothing. */
		budget = atomic_load_explicit(&sp->budget,
					      memory_order_relaxed);
		if (budget == 0)
			budget = SPIN_START;
	}
	if (spin_slot_take()) {
		for (; i < budget; i++) {
			if (ready(ctx)) {
				ok = true;
				break;
			}
			ck_pr_stall();
		}
	}
	spin_slot_put();
	if (sp != NULL) {
		budget = ok ? (budget * 3 + 2 * i + SPIN_MIN) / 4 : budget / 2;
		budget = budget < SPIN_MIN ? SPIN_MIN
		    : budget > SPIN_MAX    ? SPIN_MAX
					   : budget;
		atomic_store_explicit(&sp->budget, budget,
				      memory_order_relaxed);
	}
	return ok;
}

static long
now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)t.tv_sec * NSEC_PER_SEC + t.tv_nsec;
}

bool
baton__spin_until_ns(baton__ready_fn ready, void *ctx, long ns)
{
	bool ok = false;

	if (spin_slot_take()) {
		long end = now_ns() + ns;

		/* The clock is read every 64 pauses: about 1 us here. */
		for (unsigned int i = 1;; i++) {
			if (ready(ctx)) {
				ok = true;
				break;
			}
			ck_pr_stall();
			if (i % 64 == 0 && now_ns() >= end)
				break;
		}
	}
	spin_slot_put();
	return ok;
}

struct ec_moved {
	struct ck_ec32 *ec;
	uint32_t seen;
};

static bool
ec_moved(void *arg)
{
	struct ec_moved *m = arg;

	return ck_ec32_value(m->ec) != m->seen;
}

bool
baton__spin_for_change(struct baton__spinner *sp, struct ck_ec32 *ec,
		       uint32_t seen)
{
	struct ec_moved m = { ec, seen };

	return baton__spin_until(sp, ec_moved, &m);
}

struct wait_ctx {
	const struct timespec *deadline;
	baton__ready_fn ready;
	void *ready_ctx;
};

/*
 * ck_ec's predicate, called before every sleep once the counter is
 * flagged: ends the wait if the caller's condition already holds (the
 * signaller may have skipped the signal, seeing no flag: see wait.h), and
 * clamps the sleep to the caller's deadline.
 */
static int
before_sleep(const struct ck_ec_wait_state *state, struct timespec *slice)
{
	const struct wait_ctx *w = state->data;

	if (w->ready != NULL && w->ready(w->ready_ctx))
		return 1;
	if (w->deadline != NULL && timespec_before(*w->deadline, *slice))
		*slice = *w->deadline;
	return 0;
}

/*
 * The calling thread's blocking hook (wait.h).  initial-exec: read on
 * every sleep, from the library that defines it.
 */
static _Thread_local struct baton__block_hook *block_hook
    __attribute__((tls_model("initial-exec")));

void
baton__block_hook_set(struct baton__block_hook *hook)
{
	block_hook = hook;
}

bool
baton__block_hooked(void)
{
	return block_hook != NULL;
}

bool
baton__block_can_grow(void)
{
	struct baton__block_hook *h = block_hook;

	return h == NULL || h->can_grow(h);
}

int
baton__ec_wait(struct ck_ec32 *ec, uint32_t seen,
	       const struct baton__deadline *d)
{
	return baton__ec_wait_until(ec, seen, d, NULL, NULL);
}

int
baton__ec_wait_until(struct ck_ec32 *ec, uint32_t seen,
		     const struct baton__deadline *d, baton__ready_fn ready,
		     void *ready_ctx)
{
	struct wait_ctx w = { d->infinite ? NULL : &d->at, ready, ready_ctx };
	struct baton__block_hook *hook = block_hook;
	int r;

	if (hook != NULL)
		hook->enter(hook);
	for (;;) {
		r = ck_ec32_wait_pred(ec, &baton__ec_mode, seen, before_sleep,
				      &w, w.deadline);
		if (r >= 0) {
			r = 0; /* moved (0) or ready (1) */
			break;
		}
		if (baton__deadline_expired(d)) {
			r = -ETIMEDOUT;
			break;
		}
	}
	if (hook != NULL)
		hook->leave(hook);
	return r;
}

bool
baton__spin_for_change_ns(struct ck_ec32 *ec, uint32_t seen, long ns)
{
	struct ec_moved m = { ec, seen };

	return baton__spin_until_ns(ec_moved, &m, ns);
}
