/*
 * baton/pool.h - the executor: a pool of worker threads that runs strict
 * tasks and shareable futures.
 *
 * Overview
 * ========
 *	baton_pool *pool;
 *	baton_pool_create(&pool, 4);          4 workers (0: one per CPU)
 *	baton_task_async_opts(&t, fn, arg, &(struct baton_task_opts){
 *		.pool = pool });
 *	...
 *	baton_pool_destroy(pool);             runs what is queued, joins
 *
 * Most programs never create a pool: tasks started without one run on the
 * default pool, created on first use with one worker per online CPU and
 * closed at exit (without waiting for running bodies: a body blocked
 * forever cannot hold up exit).
 *
 * Blocking bodies: a body that sleeps, reads, waits on a lock, a queue, a
 * future or another task does not hold back queued work.  A pool keeps
 * its base threads (one per CPU) and adds threads while its bodies
 * block, up to a ceiling (baton_pool_opts.max_threads; by default sized
 * from the system's limits, at most 16384):
 *   - blocking inside baton (queue and future waits, awaits) counts at
 *     once: before the thread sleeps, queued work goes to another thread;
 *   - blocking anywhere else (read, nanosleep, a mutex) is detected by a
 *     monitor within about 2 ms (3 ms at worst; detect_ms): a body that
 *     has had less than a quarter of that time on a CPU counts as
 *     blocked.  A
 *     CPU-bound body never does, so CPU-bound work runs about one thread
 *     per CPU;
 *   - when every busy thread blocks, the pool doubles its threads each
 *     tick (bounded by the queued work), so thousands of sleeping bodies
 *     run side by side within tens of milliseconds;
 *   - an idle thread beyond the base retires after keep_alive_ms (10 s by
 *     default): an idle process returns to its base threads and, once
 *     every thread sleeps, the monitor sleeps too (no CPU);
 *   - at the ceiling, work queues; a thread that cannot be created is
 *     counted (baton_pool_stats) and work runs on the threads that exist.
 * After fork(), the child gets a new default pool on first use; a pool
 * created before the fork refuses work in the child (-ECHILD).
 *
 * Invariants
 * ----------
 * - Submission is lock-free: a submitter never waits for another
 *   submitter, however many threads submit on however few cores.
 * - One idle worker spins for about what a sleep and wake-up would cost
 *   (~20 us), then sleeps; the others sleep at once: an idle pool uses no
 *   CPU.  A task submitted while a worker spins is handed straight to it
 *   (one CAS: no queue, no lock, no wake-up); a worker finishing its last
 *   task takes up that watch before it publishes the result, so a
 *   spawn-then-await loop costs no system call per task.  Tasks start
 *   roughly in submission order; no order is promised.
 * - Awaiting never deadlocks a saturated pool: a pool worker that awaits
 *   one task still queued runs it itself (helping), whatever its timeout,
 *   so a task that spawns and awaits subtasks completes even on a
 *   one-worker pool.  Any thread that awaits one task without a time
 *   limit helps the same way; a bounded wait from outside the pool never
 *   runs a body, so its timeout holds.  Waits on many tasks at once
 *   (await_many, yield_many, completion sets) never help unless the pool
 *   is at its ceiling: they sleep (the pool adds a thread for the queued
 *   work) and so return on the first failure or on `limit` even while
 *   another task is still queued.
 * - Every task records its function, an optional label, its owner
 *   thread and the chain of threads that started it (a task started
 *   inside another task's body records that task's chain too);
 *   baton_pool_list shows the live ones (the C counterpart of Elixir's
 *   $initial_call and $callers).
 */
#ifndef BATON_POOL_H
#define BATON_POOL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct baton_pool baton_pool;

/* Where a task is in its life. */
enum baton_task_state {
	BATON_TASK_QUEUED,  /* waiting for a worker (or a helping awaiter) */
	BATON_TASK_RUNNING, /* its function is running */
	BATON_TASK_DONE     /* finished; its result waits to be taken */
};

/* The most callers a task records (struct baton_task_info.callers). */
#define BATON_CALLERS_MAX 16

/* A snapshot of one live task, for debugging and monitoring. */
struct baton_task_info {
	const void *fn;         /* the task's function */
	char function[64];      /* its symbol name (dladdr), or its address */
	const char *label;      /* the label given at spawn, or NULL */
	pid_t owner_tid;        /* owner thread's kernel id; 0 if none */
	enum baton_task_state state;
	bool stop_requested;    /* shutdown, timeout or owner exit asked */
	/*
	 * Elixir's $callers, nearest first, as kernel thread ids:
	 * callers[0] is the thread that started the task (a strict task's
	 * owner when it started; for a stream item, the thread reading the
	 * stream); when that thread was running a task body at the time,
	 * callers[1] is the thread that started that body's task, and so
	 * on outwards.  A pool worker runs many bodies, so an id may recur.
	 * ncallers is 0 for a cell nobody started (a completed task, a
	 * promise).  Past BATON_CALLERS_MAX the oldest callers are dropped
	 * and callers_truncated is set (also when memory for the chain ran
	 * out: then only callers[0] is kept).  The chain is fixed at start:
	 * a restarted supervisor child keeps its first start's chain.
	 */
	pid_t callers[BATON_CALLERS_MAX];
	unsigned int ncallers;
	bool callers_truncated;
};

/* Counters since the pool was created. */
struct baton_pool_stats {
	uint64_t spawned;   /* tasks and futures submitted */
	uint64_t completed; /* bodies that returned normally */
	uint64_t failed;    /* bodies that exited with a reason */
	uint64_t cancelled; /* tasks asked to stop before or while running */
	size_t live;        /* tasks not yet released */
	unsigned int workers;      /* base threads (the pool's size) */
	unsigned int max_threads;  /* the ceiling */
	unsigned int threads;      /* threads now, base and extra */
	unsigned int peak_threads; /* most threads at once */
	uint64_t retired;          /* extra threads retired when idle */
	unsigned int blocked;      /* workers blocked in a body now */
	uint64_t detected;         /* bodies found blocked outside baton */
	uint64_t spawn_failed;     /* extra threads that could not start */
};

/*
 * "Choose for me", for the fields of struct baton_pool_opts that say so
 * (not zero: as in every baton opts struct, zero means zero).
 */
#define BATON_POOL_AUTO UINT_MAX
#define BATON_POOL_STACK_AUTO SIZE_MAX

/*
 * How a pool is sized.  Start from BATON_POOL_OPTS_INIT and change what
 * you need; a NULL opts pointer means BATON_POOL_OPTS_INIT.  As in every
 * baton opts struct, zero means zero (workers 0 is -EINVAL; keep_alive_ms
 * 0 retires an idle extra thread at once).
 */
struct baton_pool_opts {
	/* Base threads, always kept; BATON_POOL_AUTO: one per online CPU. */
	unsigned int workers;
	/*
	 * The ceiling on threads, base included, that the pool may reach
	 * while its bodies block; BATON_POOL_AUTO: a quarter of the
	 * system's thread and memory-map limits, half of pid_max and of
	 * RLIMIT_NPROC, at most 16384.  Equal to workers: a fixed pool that never grows.
	 */
	unsigned int max_threads;
	/* An idle thread beyond the base retires after this long (>= 0). */
	int keep_alive_ms;
	/* Each thread's stack in bytes; BATON_POOL_STACK_AUTO: the system's. */
	size_t stack_size;
	/*
	 * How long a body must have been mostly off the CPU to count as
	 * blocked outside baton (1..60000 ms; 2 by default).  BATON_INFINITY:
	 * never: only blocking inside baton adds threads.
	 */
	int detect_ms;
};

#define BATON_POOL_OPTS_INIT { BATON_POOL_AUTO, BATON_POOL_AUTO, 10000, \
			       BATON_POOL_STACK_AUTO, 2 }

/*
 * Creates a fixed pool of exactly `workers` threads (0: one per online
 * CPU): it never adds threads, so a body that blocks holds its thread
 * (awaiting one task still helps; see the Overview).  For a pool that
 * grows while its bodies block, as the default pool does, use
 * baton_pool_create_opts.
 *
 * Pointers: sets *out to NULL first, then to a new pool the caller owns.
 * Blocking: no (starts the threads).
 * Errors: -EINVAL (out NULL, workers > 1024); -ENOMEM; -EAGAIN (a thread
 * could not be started; nothing is left behind).
 * Thread safety: any thread.
 * Ordering: none.
 */
BATON_API int baton_pool_create(baton_pool **out, unsigned int workers);

/*
 * Creates a pool sized by opts (NULL: BATON_POOL_OPTS_INIT): its base
 * threads start now; more start while bodies block (see the Overview).
 *
 * Pointers: sets *out to NULL first, then to a new pool the caller owns;
 * borrows opts.
 * Blocking: no (starts the threads).
 * Errors: -EINVAL (out NULL, workers 0 or > 1024, max_threads below
 * workers, keep_alive_ms < 0, stack_size 0 or below the system's minimum,
 * detect_ms out of range); -ENOMEM; -EAGAIN (a base thread could not be
 * started; nothing is left behind).
 * Thread safety: any thread.
 * Ordering: none.
 */
BATON_API int baton_pool_create_opts(baton_pool **out,
				     const struct baton_pool_opts *opts);

/*
 * Sets how the default pool will be sized when it is created (on first
 * use).  Call it early, before anything starts a task.
 *
 * Pointers: borrows opts (copied).
 * Errors: -EINVAL (opts NULL or invalid, as baton_pool_create_opts);
 * -EBUSY (the default pool exists already: nothing changed).
 * Thread safety: any thread.  Ordering: none.
 */
BATON_API int baton_pool_set_default_opts(const struct baton_pool_opts *opts);

/*
 * Shuts the pool down: new submissions fail with -EPIPE, every task
 * already queued still runs (its owner can still await it), running tasks
 * are left to finish, then the workers are gone.  Results nobody takes
 * are freed through their destructors as their handles are released; a
 * handle may outlive the pool.  Work bound to the pool beyond the call
 * that named it (a continuation, an on_done callback, a stream, a
 * supervisor) keeps the pool's memory alive: such work that comes due
 * after the shutdown runs on the thread that makes it due (a callback,
 * a continuation) or fails with -EPIPE (a new stream element or child).
 * NULL is a no-op (0).
 *
 * Pointers: consumes pool (on success).
 * Blocking: until queued and running work has finished.
 * Errors: -EINVAL (the default pool, which lives until the process
 * ends); -EDEADLK (called from one of this pool's own threads, which
 * would wait for itself).  Either way nothing changed.
 * Thread safety: any thread but this pool's own; not concurrently with
 * itself.
 * Ordering: every task body of the pool happens-before the return.
 */
BATON_API int baton_pool_destroy(baton_pool *pool);

/*
 * The default pool, created on first use (one worker per online CPU) and
 * shut down at exit.  Returns NULL only if it could not be created; that
 * failure is final for the process (calls that need the default pool then
 * return -ENOMEM): create a pool of your own to retry.
 *
 * Pointers: returns a borrowed pointer; never destroy it.
 * Thread safety: any thread.  Ordering: none.
 */
BATON_API baton_pool *baton_pool_default(void);

/*
 * Fills *out with the pool's counters.
 * Errors: -EINVAL.  Thread safety: any thread.  Ordering: relaxed
 * snapshot.
 */
BATON_API int baton_pool_stats(baton_pool *pool, struct baton_pool_stats *out);

/*
 * Lists up to n live tasks of the pool (queued, running, or finished but
 * not yet released) into infos.  Returns how many were written; the total
 * may be larger (baton_pool_stats().live).
 *
 * Pointers: borrows pool and infos.
 * Blocking: no.  Errors: -EINVAL.
 * Thread safety: any thread.  Ordering: a relaxed snapshot; a task may
 * change state while it is being read.
 */
BATON_API ptrdiff_t baton_pool_list(baton_pool *pool,
				    struct baton_task_info *infos, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* BATON_POOL_H */
