/*
 * pool_monitor_walk_race.c - the monitor's walk of the workers racing
 * their retirement (a plain program: it runs under ASan and TSan).
 *
 * The monitor walks the worker list without the pool's registry lock
 * (growth.c, monitor_scan); a worker that retires meanwhile must wait for
 * the walk's end before it unlists and frees its record.  An elastic pool
 * (base 1, ceiling 64, no keep-alive, detect_ms 1) gets bursts of tasks,
 * two in three sleeping 2-4 ms outside baton (so the monitor walks while
 * work is queued) and the rest trivial, and its threads retire the moment
 * they find the queue empty.  In a fault-injection build (CI's ASan
 * build) baton_test_slow_walk makes each walk pause at every record, so
 * walks last milliseconds and retirements land inside them: a worker
 * that unlisted and freed itself mid-walk is an ASan report (checked: it
 * is, with worker_unregister's wait for the walk removed).  Counted per
 * burst: every task ran exactly once; at the end, the blocked count
 * settles to 0, bodies were found blocked and threads retired.
 *
 *	pool_monitor_walk_race  (BATON_STRESS_SCALE sizes the run)
 */
#include <baton.h>
#include <baton/testing.h>

#include "stress.h"

#define BURST_MAX 192

static atomic_uint ran[BURST_MAX];

struct job {
	unsigned int index;
	long sleep_us; /* 0: trivial */
};

static void *
job_body(void *arg)
{
	struct job *j = arg;

	if (j->sleep_us > 0)
		stress_sleep_us(j->sleep_us);
	/* relaxed: read by the owner after it awaited the task. */
	atomic_fetch_add_explicit(&ran[j->index], 1, memory_order_relaxed);
	return NULL;
}

/* One burst: n tasks on pool, all awaited; false on a failure. */
static bool
burst(baton_pool *pool, struct stress_rng *rng, unsigned int b)
{
	static struct job jobs[BURST_MAX];
	static baton_task tasks[BURST_MAX];
	struct baton_task_opts to = { .pool = pool };
	unsigned int n = 32 + (unsigned int)stress_rng_below(rng,
							      BURST_MAX - 32);
	int rc;

	for (unsigned int i = 0; i < n; i++) {
		atomic_store_explicit(&ran[i], 0, memory_order_relaxed);
		jobs[i] = (struct job){
			i, stress_rng_below(rng, 3) == 0
			       ? 0
			       : 2000 + (long)stress_rng_below(rng, 2000)
		};
		if ((rc = baton_task_async_opts(&tasks[i], job_body, &jobs[i],
						&to)) != 0) {
			stress_fail("burst %u: async %u: %d", b, i, rc);
			n = i;
			break;
		}
	}
	for (unsigned int i = 0; i < n; i++) {
		if ((rc = baton_task_await(&tasks[i], 60000, NULL, NULL)) != 0)
			stress_fail("burst %u: await %u: %d", b, i, rc);
	}
	for (unsigned int i = 0; i < n; i++) {
		unsigned int c = atomic_load_explicit(&ran[i],
						      memory_order_relaxed);

		if (c != 1)
			stress_fail("burst %u: task %u ran %u times", b, i, c);
	}
	atomic_fetch_add_explicit(&stress_progress, 1, memory_order_relaxed);
	return stress_failed() == 0;
}

int
main(void)
{
	struct baton_pool_opts opts = BATON_POOL_OPTS_INIT;
	struct baton_pool_stats st;
	struct stress_rng rng;
	unsigned int bursts = (unsigned int)stress_scaled(60, 10), b;
	uint64_t seed = stress_seed();
	double t0 = stress_now();
	baton_pool *pool;
	int rc;

	printf("pool_monitor_walk_race: seed %" PRIu64 "\n", seed);
	stress_rng_init(&rng, seed, 0);
#ifdef BATON_FAULT_INJECTION
	baton_test_slow_walk(100);
#endif
	opts.workers = 1;
	opts.max_threads = 64;
	opts.keep_alive_ms = 0;
	opts.detect_ms = 1;
	if ((rc = baton_pool_create_opts(&pool, &opts)) != 0) {
		fprintf(stderr, "pool_create: %d\n", rc);
		return 1;
	}
	stress_watchdog_start();
	stress_watchdog_arm("pool_monitor_walk_race", 240, 60, NULL);
	for (b = 0; b < bursts && burst(pool, &rng, b); b++)
		if (stress_rng_below(&rng, 2) == 0)
			stress_sleep_us((long)stress_rng_below(&rng, 2000));
	/* A body's end is counted just after its owner saw the result. */
	while (baton_pool_stats(pool, &st) == 0 && st.blocked != 0)
		sched_yield();
	if (st.blocked != 0 || st.peak_threads > opts.max_threads)
		stress_fail("blocked %u, peak %u of %u", st.blocked,
			    st.peak_threads, opts.max_threads);
	if (st.detected == 0 || st.retired == 0)
		stress_fail("no race made: %" PRIu64 " bodies found blocked, "
			    "%" PRIu64 " threads retired", st.detected,
			    st.retired);
	if ((rc = baton_pool_destroy(pool)) != 0)
		stress_fail("destroy: %d", rc);
	stress_watchdog_disarm();
	stress_watchdog_stop();
	printf("pool_monitor_walk_race: %u bursts, %" PRIu64 " found blocked, "
	       "%" PRIu64 " retired, peak %u threads in %.2f s: %s\n",
	       b, st.detected, st.retired, st.peak_threads,
	       stress_now() - t0, stress_failed() ? "FAILED" : "ok");
	return stress_failed() ? 1 : 0;
}
