/*
 * pool_growth_race.c - the executor's growth while bodies block, racing
 * retirement and destroy (a plain program: it runs under ThreadSanitizer).
 *
 * Each round makes an elastic pool (base 1 or 2, ceiling 4..32, a 1 ms
 * keep-alive, so threads are added and retired all the time) and starts
 * tasks of four kinds: ones that block inside baton (a future wait), ones
 * that sleep outside it (nanosleep: the monitor must find them), ones that
 * spin on the CPU, and trivial ones.  Half the rounds destroy the pool
 * while extra threads are retiring; the other half await everything
 * first.  Checked per round: every task ran exactly once (a per-task
 * count), the pool's blocked count is back to 0, its threads never passed
 * the ceiling, and (TSan) no race.
 *
 *	pool_growth_race        (BATON_STRESS_SCALE sizes the rounds)
 */
#include <baton.h>

#include "stress.h"

#define MAX_TASKS 512

static atomic_uint ran[MAX_TASKS];

struct job {
	unsigned int index;
	unsigned int kind;
	baton_future *gate;
};

static void *
job_body(void *arg)
{
	struct job *j = arg;
	volatile uint64_t x = j->index;

	switch (j->kind) {
	case 0: /* blocks inside baton until the round's gate opens */
		(void)baton_future_wait(j->gate, BATON_INFINITY);
		break;
	case 1: /* blocks outside baton */
		stress_sleep_us(200 + (j->index % 7) * 100);
		break;
	case 2: /* CPU */
		for (unsigned i = 0; i < 20000; i++)
			x = x * 6364136223846793005u + 1;
		break;
	default:
		break;
	}
	/* relaxed: read after every task was awaited. */
	atomic_fetch_add_explicit(&ran[j->index], 1, memory_order_relaxed);
	return NULL;
}

static void
round_once(struct stress_rng *rng, unsigned int round)
{
	struct baton_pool_opts o = BATON_POOL_OPTS_INIT;
	static struct job jobs[MAX_TASKS];
	static baton_task tasks[MAX_TASKS];
	struct baton_task_opts to = { 0 };
	struct baton_pool_stats st;
	unsigned int n = 64 + (unsigned int)stress_rng_below(rng, MAX_TASKS - 64);
	baton_pool *pool;
	baton_promise *pr;
	baton_future *gate;
	int rc;

	o.workers = 1 + round % 2;
	o.max_threads = 4 + (unsigned int)stress_rng_below(rng, 29);
	o.keep_alive_ms = 1;
	if ((rc = baton_pool_create_opts(&pool, &o)) != 0) {
		stress_fail("round %u: create: %d", round, rc);
		return;
	}
	if ((rc = baton_promise_create(&pr, &gate)) != 0) {
		stress_fail("round %u: promise: %d", round, rc);
		return;
	}
	to.pool = pool;
	for (unsigned int i = 0; i < n; i++) {
		atomic_store_explicit(&ran[i], 0, memory_order_relaxed);
		jobs[i] = (struct job){ i, (unsigned int)stress_rng_below(rng, 4),
					gate };
		if ((rc = baton_task_async_opts(&tasks[i], job_body, &jobs[i],
						&to)) != 0) {
			stress_fail("round %u: async %u: %d", round, i, rc);
			n = i;
			break;
		}
		if (i == n / 2)
			stress_jitter(rng);
	}
	stress_jitter(rng);
	if (baton_promise_fulfil(pr, NULL, NULL) != 0)
		stress_fail("round %u: fulfil", round);
	for (unsigned int i = 0; i < n; i++) {
		if ((rc = baton_task_await(&tasks[i], 60000, NULL, NULL)) != 0)
			stress_fail("round %u: await %u: %d", round, i, rc);
	}
	/*
	 * A worker counts its body's end just after the awaiter saw the
	 * result: the blocked count settles to 0 within moments (the
	 * watchdog bounds the wait).
	 */
	while (baton_pool_stats(pool, &st) == 0 && st.blocked != 0)
		sched_yield();
	if (st.blocked != 0 || st.peak_threads > o.max_threads)
		stress_fail("round %u: blocked %u, peak %u of %u", round,
			    st.blocked, st.peak_threads, o.max_threads);
	/* Odd rounds: destroy while extra threads retire. */
	if (round % 2 == 0)
		stress_sleep_us(2000);
	if ((rc = baton_pool_destroy(pool)) != 0)
		stress_fail("round %u: destroy: %d", round, rc);
	baton_future_unref(gate);
	for (unsigned int i = 0; i < n; i++) {
		unsigned int c = atomic_load_explicit(&ran[i],
						      memory_order_relaxed);

		if (c != 1)
			stress_fail("round %u: task %u ran %u times", round, i,
				    c);
	}
	atomic_fetch_add_explicit(&stress_progress, 1, memory_order_relaxed);
}

int
main(void)
{
	struct stress_rng rng;
	unsigned int rounds = (unsigned int)stress_scaled(40, 4);
	double t0 = stress_now();
	uint64_t seed = stress_seed();

	printf("pool_growth_race: seed %" PRIu64 "\n", seed);
	stress_rng_init(&rng, seed, 0);
	stress_watchdog_start();
	stress_watchdog_arm("pool_growth_race", 240, 60, NULL);
	for (unsigned int r = 0; r < rounds && stress_failed() == 0; r++)
		round_once(&rng, r);
	stress_watchdog_disarm();
	stress_watchdog_stop();
	printf("pool_growth_race: %u rounds in %.2f s: %s\n", rounds,
	       stress_now() - t0, stress_failed() ? "FAILED" : "ok");
	return stress_failed() ? 1 : 0;
}
