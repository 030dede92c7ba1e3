/*
 * growth.c - the executor's threads beyond its base: added while bodies
 * block, retired (by the workers themselves, pool.c) when idle.
 *
 * Design notes
 * ============
 * Blocking bodies (Go hands a blocked thread's processor to another
 * thread; this is the same idea with threads for processors): a pool has
 * `base` workers (one per CPU by default) and may grow to `max_threads`.
 * Each worker has a small record of its own (struct worker, one line)
 * saying whether it is idle, running a body, blocked in baton, or stuck.
 *   - Blocked in baton: every event-count sleep in baton (a queue, a
 *     future, an await) calls the worker's blocking hook (runtime
 *     wait.h).  If work is queued and no idle worker will take it, the
 *     blocking worker wakes a sleeper or starts a thread before it
 *     sleeps: no detection delay.
 *   - Stuck anywhere else (read, nanosleep, a mutex, a long syscall): a
 *     monitor thread looks every TICK_NS while work is queued.  A worker
 *     that has run the same body for detect_ms (2 ms) and got less than a
 *     quarter of that time on a CPU (its thread CPU clock) is stuck; a
 *     CPU-bound body keeps its clock moving and is never counted, so
 *     CPU-bound work is not oversubscribed.
 *   - The monitor then starts threads until base + blocked run, and when
 *     every body it could judge (one that ran a whole window) was
 *     blocked, it doubles the thread count: a flood of sleeping bodies
 *     reaches its full width in a few ticks instead of one thread per
 *     tick.  Bodies too young to judge are no evidence: counting them as
 *     running stopped the doubling whenever a new thread had just taken
 *     work, which in a flood is always.
 *   - Growth is bounded by the queued work less the threads that will
 *     take some of it (owed by the creation tree, or started and not yet
 *     listed).  A new thread pays its share of the tree before listing
 *     itself, so the tree never waits for the monitor's scan.
 *   - Idle threads beyond `base` retire after `keep_alive`, so an idle
 *     process returns to its base threads; the monitor itself sleeps
 *     while every worker is parked, so an idle pool uses no CPU.
 *   - Past max_threads, work queues as before.  A thread that cannot be
 *     created is counted (stats) and the work runs on the threads that
 *     exist.
 * Thread counts change under `reg` (a mutex: creation and retirement
 * are slow paths anyway), so destroy can wait for the last thread.  The
 * monitor's walk of the workers does not hold it (reading thousands of
 * CPU clocks takes milliseconds, while new threads must list themselves
 * and take work): it raises `scanning`, and only leaving the list waits
 * for the walk's end.  A scan is skipped while the threads already
 * coming cover the queued work.
 * Threads are detached: an exiting worker does its thread-exit work
 * (thread.c's orphans, its cell cache) itself, then unlists itself under
 * `reg` and touches the pool no more, so destroy returns after every
 * thread's exit work without joining anyone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "alloc.h"
#include "executor.h"

#define CEILING_CAP 16384u

/* The monitor's period. */
#define TICK_NS 1000000L

/* Cells queued or handed but not yet taken: an estimate, never negative. */
static uint64_t
queued_estimate(baton_pool *pool)
{
	/* relaxed: three counters read racily; the monitor only estimates. */
	uint64_t in = atomic_load_explicit(&pool->spawned, memory_order_relaxed);
	uint64_t out = atomic_load_explicit(&pool->popped,
					    memory_order_relaxed) +
	    atomic_load_explicit(&pool->handed, memory_order_relaxed);

	return in > out ? in - out : 0;
}

/* Wakes the monitor if it sleeps (a worker left its parked idle). */
void
baton__pool_wake_monitor(baton_pool *pool)
{
	/* seq_cst: after the caller's parked decrement (Dekker pair). */
	if (atomic_load_explicit(&pool->monitor_parked, memory_order_seq_cst))
		baton__ec_signal(&pool->monitor_ev);
}

/*
 * Starts up to n threads, within max_threads; returns how many started.
 * A thread that cannot be created is counted and ends the attempt: the
 * work runs on the threads that exist.
 */
unsigned int
baton__pool_grow(baton_pool *pool, unsigned int n)
{
	unsigned int started = 0;
	pthread_attr_t attr;
	bool attr_ok;

	attr_ok = pthread_attr_init(&attr) == 0;
	if (attr_ok) {
		(void)pthread_attr_setdetachstate(&attr,
						  PTHREAD_CREATE_DETACHED);
		if (pool->stack_size != 0)
			(void)pthread_attr_setstacksize(&attr,
							pool->stack_size);
	}
	while (started < n) {
		struct worker *w;
		pthread_t tid;
		unsigned int t, peak;

		/* relaxed: the CAS alone keeps threads <= max_threads. */
		t = atomic_load_explicit(&pool->threads, memory_order_relaxed);
		do {
			if (t >= pool->max_threads)
				goto out;
		} while (!atomic_compare_exchange_weak_explicit(
		    &pool->threads, &t, t + 1, memory_order_relaxed,
		    memory_order_relaxed));
		/*
		 * relaxed: a statistic, raised before the thread can run, so
		 * whoever sees its work done sees the peak.
		 */
		peak = atomic_load_explicit(&pool->peak, memory_order_relaxed);
		while (peak < t + 1 &&
		       !atomic_compare_exchange_weak_explicit(
			   &pool->peak, &peak, t + 1, memory_order_relaxed,
			   memory_order_relaxed))
			;
		w = baton__aligned_alloc(CACHELINE, sizeof(*w));
		if (w != NULL) {
			memset(w, 0, sizeof(*w));
			w->pool = pool;
		}
		if (w == NULL ||
		    baton__pthread_create(&tid, attr_ok ? &attr : NULL,
					  pool->worker_main, w) != 0) {
			free(w);
			/* Give the slot back; destroy may be waiting for 0. */
			pthread_mutex_lock(&pool->reg);
			if (atomic_fetch_sub_explicit(&pool->threads, 1,
						      memory_order_relaxed) ==
			    1)
				pthread_cond_broadcast(&pool->exited);
			pthread_mutex_unlock(&pool->reg);
			atomic_fetch_add_explicit(&pool->spawn_failed, 1,
						  memory_order_relaxed);
			break;
		}
		started++;
	}
out:
	if (attr_ok)
		pthread_attr_destroy(&attr);
	return started;
}

/*
 * Starts n threads without making the caller create them all: it
 * creates one and leaves the rest as a debt that each new thread pays
 * down by starting up to two more (pay_spawn_debt), so thousands of
 * threads are created by a tree of threads on every CPU at once.
 */
static void
grow_spread(baton_pool *pool, unsigned int n)
{
	if (n == 0)
		return;
	/* relaxed: the debt is claimed with CAS; it orders nothing. */
	if (n > 1)
		atomic_fetch_add_explicit(&pool->spawn_debt, n - 1,
					  memory_order_relaxed);
	if (baton__pool_grow(pool, 1) == 0)
		atomic_store_explicit(&pool->spawn_debt, 0,
				      memory_order_relaxed);
}

/* A new thread's first act: start up to two of the threads still owed. */
void
baton__pool_pay_spawn_debt(baton_pool *pool)
{
	for (int k = 0; k < 2; k++) {
		/* relaxed: as in grow_spread. */
		unsigned int d = atomic_load_explicit(&pool->spawn_debt,
						      memory_order_relaxed);

		do {
			if (d == 0)
				return;
		} while (!atomic_compare_exchange_weak_explicit(
		    &pool->spawn_debt, &d, d - 1, memory_order_relaxed,
		    memory_order_relaxed));
		if (atomic_load_explicit(&pool->closing,
					 memory_order_relaxed) ||
		    baton__pool_grow(pool, 1) == 0) {
			/* At the ceiling, failing, or closing: forget it. */
			atomic_store_explicit(&pool->spawn_debt, 0,
					      memory_order_relaxed);
			return;
		}
	}
}

/*
 * A worker is about to sleep inside baton while in a body.  If work is
 * queued and nobody idle will take it, hand it on now: wake the sleeping
 * leader, or start a thread.
 */
static void
compensate(baton_pool *pool)
{
	if (queue_looks_empty(pool, memory_order_seq_cst) ||
	    atomic_load_explicit(&pool->closing, memory_order_relaxed))
		return;
	/* A watcher spinning, not yet handed a cell, looks at the queue. */
	if (atomic_load_explicit(&pool->watch, memory_order_seq_cst) ==
	    WATCHED(pool))
		return;
	if (atomic_load_explicit(&pool->parked, memory_order_seq_cst) > 0) {
		baton__ec_signal(&pool->work);
		return;
	}
	/* relaxed: an estimate; a thread too many retires when idle. */
	if (atomic_load_explicit(&pool->threads, memory_order_relaxed) <
	    pool->base + atomic_load_explicit(&pool->blocked,
					      memory_order_relaxed))
		(void)baton__pool_grow(pool, 1);
}

#define WORKER_OF(h) \
	((struct worker *)((char *)(h) - offsetof(struct worker, hook)))

static void
hook_enter(struct baton__block_hook *h)
{
	struct worker *w = WORKER_OF(h);
	unsigned int s = W_RUNNING;

	/* relaxed: the state is this thread's; the monitor only reads it. */
	if (atomic_compare_exchange_strong_explicit(&w->state, &s, W_BLOCKED,
						    memory_order_relaxed,
						    memory_order_relaxed)) {
		/* seq_cst: counted before compensate looks at the idle. */
		atomic_fetch_add_explicit(&w->pool->blocked, 1,
					  memory_order_seq_cst);
		compensate(w->pool);
	} else if (s == W_STUCK) {
		/* Counted already by the monitor. */
		atomic_compare_exchange_strong_explicit(
		    &w->state, &s, W_BLOCKED, memory_order_relaxed,
		    memory_order_relaxed);
	}
}

static void
hook_leave(struct baton__block_hook *h)
{
	struct worker *w = WORKER_OF(h);
	unsigned int s = W_BLOCKED;

	/* relaxed: as in hook_enter. */
	if (atomic_compare_exchange_strong_explicit(&w->state, &s, W_RUNNING,
						    memory_order_relaxed,
						    memory_order_relaxed))
		atomic_fetch_sub_explicit(&w->pool->blocked, 1,
					  memory_order_relaxed);
}

static bool
hook_can_grow(struct baton__block_hook *h)
{
	baton_pool *pool = WORKER_OF(h)->pool;

	/* relaxed: a hint for whether to help instead of sleeping. */
	return atomic_load_explicit(&pool->threads, memory_order_relaxed) <
		pool->max_threads ||
	    atomic_load_explicit(&pool->parked, memory_order_relaxed) > 0;
}

/* What the monitor makes of one running worker. */
enum look {
	LOOK_YOUNG, /* its body has not run for a whole window yet */
	LOOK_CPU,   /* it spent the last window on a CPU: CPU-bound */
	LOOK_STUCK  /* it spent the last window off the CPUs: blocked */
};

/* The monitor's look at one running worker. */
static enum look
looks_stuck(struct worker *w, int64_t now)
{
	uint64_t bodies = atomic_load_explicit(&w->bodies,
					       memory_order_relaxed);
	struct timespec cpu;
	int64_t cpu_ns;

	if (!w->has_clock || clock_gettime(w->cpu_clock, &cpu) != 0)
		return LOOK_CPU;
	cpu_ns = (int64_t)cpu.tv_sec * 1000000000 + cpu.tv_nsec;
	if (bodies != w->seen_bodies) {
		/* A new body since the last look: start timing it. */
		w->seen_bodies = bodies;
		w->seen_at_ns = now;
		w->seen_cpu_ns = cpu_ns;
		w->judged = false;
		return LOOK_YOUNG;
	}
	if (w->pool->stuck_ns == 0)
		return LOOK_CPU;
	if (now - w->seen_at_ns < w->pool->stuck_ns)
		return w->judged ? LOOK_CPU : LOOK_YOUNG;
	if ((cpu_ns - w->seen_cpu_ns) * 4 < now - w->seen_at_ns)
		return LOOK_STUCK;
	/* On the CPU: CPU-bound, not stuck.  Time the next stretch. */
	w->seen_at_ns = now;
	w->seen_cpu_ns = cpu_ns;
	w->judged = true;
	return LOOK_CPU;
}

/*
 * Threads that will take queued work without the monitor's help: of
 * `threads`, those not among the `seen` listed ones (started, not yet
 * listed: they pop before they park), and those the creation tree still
 * owes.  relaxed: the debt is an estimate, as the counts passed in are.
 */
static unsigned int
threads_coming(baton_pool *pool, unsigned int threads, unsigned int seen)
{
	return (threads > seen ? threads - seen : 0) +
	    atomic_load_explicit(&pool->spawn_debt, memory_order_relaxed);
}

/* One look at the pool: count the stuck, add threads if work waits. */
static void
monitor_scan(baton_pool *pool)
{
	uint64_t queued = queued_estimate(pool);
	unsigned int idle = 0, running = 0, newly = 0, walked = 0;
	unsigned int threads, listed, blocked, want, coming;
	struct worker *head;
	int64_t now;

	/* relaxed: counters read racily for an estimate. */
	threads = atomic_load_explicit(&pool->threads, memory_order_relaxed);
	listed = atomic_load_explicit(&pool->listed, memory_order_relaxed);
	if (queued == 0 || queued <= threads_coming(pool, threads, listed))
		return;
	now = baton__mono_ns();
	/*
	 * The walk reads each running worker's CPU clock (a system call, 1+
	 * us here): thousands of them take milliseconds, during which new
	 * threads must still list themselves and take work.  So reg is held
	 * only to take the head and to raise `scanning`: workers that list
	 * themselves meanwhile go before that head, and one that would leave
	 * the list (the only change to the records walked) waits for the
	 * walk's end (worker_unregister).
	 */
	pthread_mutex_lock(&pool->reg);
	pool->scanning = true;
	head = pool->workers;
	pthread_mutex_unlock(&pool->reg);
	for (struct worker *w = head; w != NULL; w = w->next) {
		unsigned int s = atomic_load_explicit(&w->state,
						      memory_order_relaxed);

		walked++;
		baton__test_walk_pause();
		if (s == W_IDLE) {
			idle++;
		} else if (s == W_RUNNING) {
			enum look look = looks_stuck(w, now);

			/* relaxed: a lost race with the body's end is harmless;
			 * run_taken's exchange settles the count. */
			if (look == LOOK_STUCK &&
			    atomic_compare_exchange_strong_explicit(
				&w->state, &s, W_STUCK, memory_order_relaxed,
				memory_order_relaxed)) {
				atomic_fetch_add_explicit(&pool->blocked, 1,
							  memory_order_relaxed);
				atomic_fetch_add_explicit(&pool->detected, 1,
							  memory_order_relaxed);
				newly++;
			} else if (look == LOOK_CPU) {
				running++;
			}
		}
	}
	pthread_mutex_lock(&pool->reg);
	pool->scanning = false;
	pthread_cond_broadcast(&pool->scan_done);
	threads = atomic_load_explicit(&pool->threads, memory_order_relaxed);
	pthread_mutex_unlock(&pool->reg);
	if (idle > 0) {
		/* Someone idle: make sure it looks (it may be asleep). */
		baton__ec_signal(&pool->work);
		return;
	}
	blocked = atomic_load_explicit(&pool->blocked, memory_order_relaxed);
	/*
	 * Threads still owed from the last growth, and those started but
	 * not walked (not yet listed, or listed during the walk), count as
	 * started: each will take queued work.
	 */
	coming = threads_coming(pool, threads, walked);
	if (queued <= coming)
		return;
	queued -= coming;
	threads += atomic_load_explicit(&pool->spawn_debt,
					memory_order_relaxed);
	want = pool->base + blocked > threads ? pool->base + blocked - threads
					      : 0;
	/*
	 * Every body that ran a whole window blocked, none was seen on a
	 * CPU: double (the queued work bounds it).  Bodies too young to
	 * judge are no evidence either way.
	 */
	if (running == 0 && newly > 0 && want < threads)
		want = threads;
	if (want > queued)
		want = (unsigned int)queued;
	grow_spread(pool, want);
}

/* Whether every thread of the pool is parked idle: nothing to watch. */
static bool
all_parked(baton_pool *pool)
{
	/* seq_cst: after monitor_parked is set (Dekker pair with unpark). */
	return atomic_load_explicit(&pool->parked, memory_order_seq_cst) >=
	    atomic_load_explicit(&pool->threads, memory_order_seq_cst);
}

void *
baton__pool_monitor_main(void *arg)
{
	baton_pool *pool = arg;

	for (;;) {
		uint32_t ticket = ck_ec32_value(&pool->monitor_ev);
		struct baton__deadline tick = { .infinite = true };
		struct timespec now;

		if (atomic_load_explicit(&pool->closing, memory_order_acquire))
			break;
		/* seq_cst: flag, then look (Dekker pair with unpark). */
		atomic_store_explicit(&pool->monitor_parked, true,
				      memory_order_seq_cst);
		if (!all_parked(pool)) {
			atomic_store_explicit(&pool->monitor_parked, false,
					      memory_order_relaxed);
			clock_gettime(CLOCK_MONOTONIC, &now);
			tick.infinite = false;
			tick.at = now;
			tick.at.tv_nsec += TICK_NS;
			if (tick.at.tv_nsec >= 1000000000L) {
				tick.at.tv_sec++;
				tick.at.tv_nsec -= 1000000000L;
			}
		}
		(void)baton__ec_wait(&pool->monitor_ev, ticket, &tick);
		atomic_store_explicit(&pool->monitor_parked, false,
				      memory_order_relaxed);
		if (atomic_load_explicit(&pool->closing, memory_order_acquire))
			break;
		monitor_scan(pool);
	}
	return NULL;
}

/* The thread ceiling the system allows us, if the caller leaves it to us. */
unsigned int
baton__pool_default_ceiling(unsigned int base)
{
	unsigned long limit = CEILING_CAP;
	struct rlimit rl;
	FILE *f;
	unsigned long v;

	/* A quarter of the system's threads and of its memory maps (a
	 * thread's stack and guard are two), half of our user's processes. */
	if ((f = fopen("/proc/sys/kernel/threads-max", "r")) != NULL) {
		if (fscanf(f, "%lu", &v) == 1 && v / 4 < limit)
			limit = v / 4;
		fclose(f);
	}
	/* Every thread takes a pid: half of pid_max. */
	if ((f = fopen("/proc/sys/kernel/pid_max", "r")) != NULL) {
		if (fscanf(f, "%lu", &v) == 1 && v / 2 < limit)
			limit = v / 2;
		fclose(f);
	}
	if ((f = fopen("/proc/sys/vm/max_map_count", "r")) != NULL) {
		if (fscanf(f, "%lu", &v) == 1 && v / 4 < limit)
			limit = v / 4;
		fclose(f);
	}
	if (getrlimit(RLIMIT_NPROC, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 2 < limit)
		limit = rl.rlim_cur / 2;
	return limit > base ? (unsigned int)limit : base;
}

void
baton__pool_block_hook_init(struct worker *w)
{
	w->hook = (struct baton__block_hook){ hook_enter, hook_leave,
					      hook_can_grow };
	baton__block_hook_set(&w->hook);
}

