/*
 * wait.h - internal: deadlines, futex calls and Concurrency Kit event-count
 * waits, shared by the queue and the executor.
 */
#ifndef BATON_RUNTIME_WAIT_H
#define BATON_RUNTIME_WAIT_H

#include <ck_ec.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* An absolute CLOCK_MONOTONIC deadline, or none (wait forever). */
struct baton__deadline {
	struct timespec at;
	bool infinite;
};

/*
 * Validates a public millisecond timeout: BATON_INFINITY or >= 0.
 * Returns 0 or -EINVAL.
 */
int baton__timeout_check(int timeout_ms);

/*
 * Converts a checked timeout to a deadline, once, at the start of a wait.
 * Saturates instead of overflowing.
 */
void baton__deadline_init(struct baton__deadline *d, int timeout_ms);

/* now + ms, normalised, saturating at the largest time_t. */
struct timespec baton__timespec_add_ms(struct timespec now, int64_t ms);

/* Whether the deadline has passed (never true for an infinite one). */
bool baton__deadline_expired(const struct baton__deadline *d);

/*
 * Nanoseconds until the deadline, at most cap (cap if infinite; 0 if
 * past).  For short caps (below a second): a deadline more than a
 * second away gives cap.
 */
long baton__deadline_left_ns(const struct baton__deadline *d, long cap);

/* Event-count mode used everywhere: multi-producer, futex-backed ops. */
extern const struct ck_ec_mode baton__ec_mode;

/* A condition a waiter polls: true once waiting can stop. */
typedef bool (*baton__ready_fn)(void *ctx);

/* The adaptive spin budget of one waiting site (zero-initialised). */
struct baton__spinner {
	atomic_uint budget;
};

/*
 * Spins until ready(ctx) holds or the site's budget runs out (sp NULL: a
 * fixed budget), unless as many threads as CPUs spin already.  True if
 * ready.  Adapts the budget.
 */
bool baton__spin_until(struct baton__spinner *sp, baton__ready_fn ready,
		       void *ctx);

/*
 * Spins until ready(ctx) holds or about `ns` nanoseconds have passed
 * (CLOCK_MONOTONIC), unless as many threads as CPUs spin already.  True
 * if ready.  For waits known to be short or a wake-up away, where an
 * adaptive budget would learn the wrong lesson.
 */
bool baton__spin_until_ns(baton__ready_fn ready, void *ctx, long ns);

/* Spins while ec's value is still `seen`, for about ns nanoseconds. */
bool baton__spin_for_change_ns(struct ck_ec32 *ec, uint32_t seen, long ns);

/*
 * Spins while ec's value is still `seen` (on sp's budget; NULL: fixed);
 * true if it moved.
 */
bool baton__spin_for_change(struct baton__spinner *sp, struct ck_ec32 *ec,
			    uint32_t seen);

/*
 * Sleeps until ec's value differs from `seen` (0), or the deadline passes
 * (-ETIMEDOUT, never early).  Does not spin first.
 */
int baton__ec_wait(struct ck_ec32 *ec, uint32_t seen,
		   const struct baton__deadline *d);

/*
 * As baton__ec_wait, but also returns 0 as soon as ready(ctx) holds.  A
 * signaller that skips signalling when ck_ec32_has_waiters() is false
 * (baton__ec_signal_waiters) must pair with a waiter whose `ready` sees
 * its change.
 */
int baton__ec_wait_until(struct ck_ec32 *ec, uint32_t seen,
			 const struct baton__deadline *d,
			 baton__ready_fn ready, void *ready_ctx);

/*
 * Signals ec's waiters only if one has flagged it (see baton__ec_wait).
 * The caller must have made its change visible with an atomic
 * read-modify-write (a lock release, a CAS) just before: ck's
 * atomic-to-load fence then completes the Dekker pair.  On x86-64 that
 * fence is free, since locked instructions already serialise; a full
 * mfence here measured as the queue's single largest per-item cost.
 */
static inline void
baton__ec_signal_waiters(struct ck_ec32 *ec)
{
	ck_pr_fence_atomic_load();
	if (ck_ec32_has_waiters(ec))
		ck_ec32_add(ec, &baton__ec_mode, 1);
}

/* Signals ec's waiters that something changed: wakes every sleeper. */
static inline void
baton__ec_signal(struct ck_ec32 *ec)
{
	ck_ec32_add(ec, &baton__ec_mode, 1);
}

/*
 * The blocking hook: how the executor learns that one of its threads is
 * about to sleep inside baton (a queue, a future, an await), so it can
 * run queued work on another thread meanwhile.  The runtime calls up
 * through this pointer only, never by name: the executor installs it in
 * each of its threads (thread-local), and every event-count sleep
 * (baton__ec_wait, baton__ec_wait_until) calls enter before its first
 * sleep and leave when it returns.  Spins and lock waits do not count:
 * they are short by design.
 */
struct baton__block_hook {
	void (*enter)(struct baton__block_hook *hook);
	void (*leave)(struct baton__block_hook *hook);
	/*
	 * Whether blocking this thread still leaves its executor able to
	 * run queued work (another thread idles, or one can be added).
	 * A waiter that gets false may run the work itself (helping).
	 */
	bool (*can_grow)(struct baton__block_hook *hook);
};

/* Installs (or, with NULL, removes) the calling thread's hook. */
void baton__block_hook_set(struct baton__block_hook *hook);

/* Whether the calling thread has a hook (it is an executor's thread). */
bool baton__block_hooked(void);

/* Whether a wait by the calling thread leaves its executor able to run
 * queued work: true for threads without a hook. */
bool baton__block_can_grow(void);

/* Futex wait on a 32-bit word while it holds `expected`; may wake early. */
void baton__futex_wait(atomic_uint *word, unsigned int expected);

/* Wakes up to n threads waiting on word. */
void baton__futex_wake(atomic_uint *word, int n);

#endif /* BATON_RUNTIME_WAIT_H */
