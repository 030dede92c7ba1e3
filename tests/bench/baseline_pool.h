/*
 * baseline_pool.h - the textbook thread pool that baton's strict tasks are
 * measured against: a fixed set of worker threads taking jobs from one
 * FIFO under a pthread mutex and condition variable, each job carrying a
 * result cell with its own mutex and condition variable.  Benchmark-only;
 * not part of libbaton.
 *
 * Overview
 * ========
 *	baseline_pool *p;
 *	baseline_job *j;
 *	void *v;
 *	if (baseline_pool_create(&p, 4) != 0) ...;
 *	if (baseline_pool_submit(p, fn, arg, &j) != 0) ...;
 *	baseline_job_wait(j, &v);          blocks, then frees the job
 *	baseline_pool_destroy(p);          runs what is queued, joins
 *
 * Every submitted job runs exactly once; every job must be waited for
 * exactly once (that frees it).
 */
#ifndef BASELINE_POOL_H
#define BASELINE_POOL_H

typedef struct baseline_pool baseline_pool;
typedef struct baseline_job baseline_job;

/*
 * Starts `workers` threads (at least 1).
 * Errors: -EINVAL, -ENOMEM, -EAGAIN (a thread could not be started).
 * Thread safety: any thread.  Ordering: none.
 */
int baseline_pool_create(baseline_pool **out, unsigned workers);

/*
 * Runs every job still queued, then joins the workers and frees the pool.
 * Thread safety: not concurrently with submit.  Ordering: every job's body
 * happens-before the return.
 */
void baseline_pool_destroy(baseline_pool *pool);

/*
 * Queues fn(arg); *job receives the handle to wait on.
 * Errors: -ENOMEM (fn never runs), -EPIPE (pool shutting down).
 * Thread safety: any thread.  Ordering: the call happens-before fn.
 */
int baseline_pool_submit(baseline_pool *pool, void *(*fn)(void *),
			 void *arg, baseline_job **job);

/*
 * Blocks until the job has run, stores its return value in *value, and
 * frees the job (consumes it).
 * Thread safety: one waiter per job.  Ordering: fn's return
 * happens-before this return.
 */
void baseline_job_wait(baseline_job *job, void **value);

#endif /* BASELINE_POOL_H */
