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
 * deadline.  clamp_slice(), given as ck_ec's predicate, clamps each slice,
 * so a timed wait ends on time rather than at the end of a slice.  The
 * multi-producer protocol loses no wakeup, so the first slice is long.
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
 * How long a waiter spins before it parks: about a third of a futex
 * sleep/wake round trip (30-60 us here), i.e. ~1000 pauses of ~15 ns.
 * Spinning any shorter lets two threads ping-pong through futex sleeps
 * whenever one falls briefly behind.
 */
#ifndef BATON_SPIN_PAUSES
#define BATON_SPIN_PAUSES 1024
#endif

/* ck_ec's own spin before and after flagging: we spun already. */
#define EC_BUSY_LOOP_ITER 16

/* Threads spinning right now, process-wide; see may_spin(). */
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

/* ck_ec predicate: never ends the wait, only clamps a slice to the deadline. */
static int
clamp_slice(const struct ck_ec_wait_state *state, struct timespec *slice)
{
	const struct timespec *deadline = state->data;

	if (deadline != NULL && timespec_before(*deadline, *slice))
		*slice = *deadline;
	return 0;
}

/*
 * Spinning helps only while a core is free to run the thread we wait for:
 * at most one spinner fewer than there are CPUs, so that oversubscribed
 * waiters park at once instead of stealing the CPU from the thread they
 * wait for.
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

bool
baton__spin_for_change(struct ck_ec32 *ec, uint32_t seen)
{
	bool moved = false;

	/* relaxed: the count is a heuristic; it orders nothing. */
	if (atomic_fetch_add_explicit(&spinners, 1, memory_order_relaxed) <
	    max_spinners()) {
		for (int i = 0; i < BATON_SPIN_PAUSES; i++) {
			if (ck_ec32_value(ec) != seen) {
				moved = true;
				break;
			}
			ck_pr_stall();
		}
	}
	atomic_fetch_sub_explicit(&spinners, 1, memory_order_relaxed);
	return moved;
}

int
baton__ec_wait(struct ck_ec32 *ec, uint32_t seen,
	       const struct baton__deadline *d)
{
	const struct timespec *at = d->infinite ? NULL : &d->at;

	for (;;) {
		if (ck_ec32_wait_pred(ec, &baton__ec_mode, seen, clamp_slice,
				      (void *)at, at) == 0)
			return 0;
		if (baton__deadline_expired(d))
			return -ETIMEDOUT;
	}
}
