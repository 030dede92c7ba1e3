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
 * shut down at exit.
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
 * - Awaiting never deadlocks a saturated pool: a pool worker that awaits a
 *   task still queued runs it itself (helping), whatever its timeout, so a
 *   task that spawns and awaits subtasks completes even on a one-worker
 *   pool.  Any thread that waits without a time limit helps the same way;
 *   a bounded wait from outside the pool never runs a body, so its timeout
 *   holds.
 * - Every task records its function, an optional label and its owner
 *   thread; baton_pool_list shows the live ones (the C counterpart of
 *   Elixir's $initial_call and $callers).
 */
#ifndef BATON_POOL_H
#define BATON_POOL_H

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

/* A snapshot of one live task, for debugging and monitoring. */
struct baton_task_info {
	const void *fn;         /* the task's function */
	char function[64];      /* its symbol name (dladdr), or its address */
	const char *label;      /* the label given at spawn, or NULL */
	pid_t owner_tid;        /* owner thread's kernel id; 0 if none */
	enum baton_task_state state;
	bool stop_requested;    /* shutdown, timeout or owner exit asked */
};

/* Counters since the pool was created. */
struct baton_pool_stats {
	uint64_t spawned;   /* tasks and futures submitted */
	uint64_t completed; /* bodies that returned normally */
	uint64_t failed;    /* bodies that exited with a reason */
	uint64_t cancelled; /* tasks asked to stop before or while running */
	size_t live;        /* tasks not yet released */
	unsigned int workers;
};

/*
 * Creates a pool of `workers` threads (0: one per online CPU).
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
 * Shuts the pool down: new submissions fail with -EPIPE, every task
 * already queued still runs (its owner can still await it), running tasks
 * are left to finish, then the workers are joined.  Results nobody takes
 * are freed through their destructors as their handles are released; a
 * handle may outlive the pool.  NULL is a no-op.
 *
 * Pointers: consumes pool.
 * Blocking: until queued and running work has finished.
 * Thread safety: any thread except one of this pool's workers; not
 * concurrently with itself.  Do not destroy the default pool.
 * Ordering: every task body of the pool happens-before the return.
 */
BATON_API void baton_pool_destroy(baton_pool *pool);

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
