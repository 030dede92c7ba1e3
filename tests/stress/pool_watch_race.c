/*
 * pool_watch_race.c - the executor's idle watch and wake-ups under races,
 * as a plain executable so ThreadSanitizer can watch them.
 *
 * An idle worker holds the pool's watch; a submitter hands its cell
 * straight to it with one CAS, or queues it and wakes the sleeping leader
 * only once the leader has flagged the event count (src/pool.c).  A cell
 * lost on either path never runs: its awaiter times out, or the counts
 * below disagree.  Every body bumps `ran`; every scenario checks that
 * each task ran exactly once (a per-task bitmap) and that every await
 * got its own value back.
 *
 * Scenarios (each on pools of 1, 2 and 4 workers):
 *   ping_pong      spawn+await one task at a time: the watch handoff
 *   bursts         bursts of tasks with idle gaps between them, long
 *                  enough for the workers to give up spinning and park:
 *                  the leader's wake-up without a signal per submission
 *   submitters     4 threads spawn+await at once: CASes racing on the watch
 *   destroy        a task handed to a watching worker, then the pool
 *                  destroyed at once: the handed cell must still run
 */
#include <baton.h>

#include "stress.h"

/* A wait no passing round comes near; a lost cell trips it. */
#define LOST_MS 10000

static atomic_uint_fast64_t ran;
static _Atomic unsigned char *seen; /* per task id: runs of its body */
static unsigned int nworkers;       /* the scenario's pool size */
static uint64_t nseen;

static void *
body(void *arg)
{
	uint64_t id = (uint64_t)(uintptr_t)arg;

	if (id < nseen)
		/* relaxed: read after the pool is destroyed (joined). */
		atomic_fetch_add_explicit(&seen[id], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&ran, 1, memory_order_relaxed);
	stress_progress_add(1);
	return arg;
}

static void
reset(uint64_t n)
{
	free((void *)seen);
	seen = calloc(n, sizeof(*seen));
	if (seen == NULL) {
		stress_fail("out of memory");
		exit(1);
	}
	nseen = n;
	atomic_store(&ran, 0);
}

/* Spawns task id on pool and awaits it; false (reported) on failure. */
static bool
spawn_await(baton_pool *pool, uint64_t id)
{
	struct baton_task_opts opts = { .pool = pool };
	baton_task task;
	void *value = NULL;
	int rc;

	rc = baton_task_async_opts(&task, body, (void *)(uintptr_t)id, &opts);
	if (rc != 0) {
		stress_fail("async %" PRIu64 ": %d", id, rc);
		return false;
	}
	rc = baton_task_await(&task, LOST_MS, &value, NULL);
	if (rc != 0 || value != (void *)(uintptr_t)id) {
		stress_fail("await %" PRIu64 ": rc %d value %p", id, rc, value);
		return false;
	}
	return true;
}

static void
ping_pong(baton_pool *pool, uint64_t n, struct stress_rng *rng)
{
	(void)rng;
	for (uint64_t i = 0; i < n && !stress_failed(); i++)
		spawn_await(pool, i);
}

#define BURST_MAX 64

static void
bursts(baton_pool *pool, uint64_t n, struct stress_rng *rng)
{
	struct baton_task_opts opts = { .pool = pool };
	baton_task tasks[BURST_MAX];
	void *values[BURST_MAX];
	uint64_t id = 0;

	while (id < n && !stress_failed()) {
		size_t k = 1 + (size_t)stress_rng_below(rng, BURST_MAX);
		int rc;

		if (k > n - id)
			k = (size_t)(n - id);
		for (size_t j = 0; j < k; j++) {
			rc = baton_task_async_opts(&tasks[j], body,
						   (void *)(uintptr_t)(id + j),
						   &opts);
			if (rc != 0) {
				stress_fail("async: %d", rc);
				return;
			}
		}
		rc = baton_task_await_many(tasks, k, LOST_MS, values, NULL,
					   NULL);
		if (rc != 0) {
			stress_fail("await_many of %zu: %d", k, rc);
			return;
		}
		for (size_t j = 0; j < k; j++) {
			if (values[j] != (void *)(uintptr_t)(id + j))
				stress_fail("burst value %zu wrong", j);
		}
		id += k;
		/* 0-400 us idle: past the spin budgets, so workers park. */
		if (stress_rng_below(rng, 4) != 0)
			stress_sleep_us((long)stress_rng_below(rng, 400));
	}
}

#define SUBMITTERS 4

struct submitter {
	pthread_t thread;
	baton_pool *pool;
	uint64_t first, n;
};

static void *
submitter_main(void *arg)
{
	struct submitter *s = arg;

	for (uint64_t i = 0; i < s->n && !stress_failed(); i++)
		spawn_await(s->pool, s->first + i);
	return NULL;
}

static void
submitters(baton_pool *pool, uint64_t n, struct stress_rng *rng)
{
	struct submitter s[SUBMITTERS];

	(void)rng;
	for (int i = 0; i < SUBMITTERS; i++) {
		s[i].pool = pool;
		s[i].first = n / SUBMITTERS * (uint64_t)i;
		s[i].n = n / SUBMITTERS;
		if (pthread_create(&s[i].thread, NULL, submitter_main, &s[i]))
			stress_fail("pthread_create");
	}
	for (int i = 0; i < SUBMITTERS; i++)
		pthread_join(s[i].thread, NULL);
}

/*
 * Each round: a fresh pool, one ping-pong so a worker holds the watch,
 * then a few tasks submitted and the pool destroyed at once.  Destroy
 * joins the workers, which must have run every task, handed or queued.
 */
static void
destroy(baton_pool *unused, uint64_t n, struct stress_rng *rng)
{
	uint64_t id = 0;

	(void)unused;
	while (id < n && !stress_failed()) {
		baton_pool *pool;
		struct baton_task_opts opts;
		baton_task tasks[4];
		size_t k = 1 + (size_t)stress_rng_below(rng, 4);
		void *value;

		if (baton_pool_create(&pool, nworkers) != 0) {
			stress_fail("pool create");
			return;
		}
		opts = (struct baton_task_opts){ .pool = pool };
		if (k > n - id)
			k = (size_t)(n - id);
		if (!spawn_await(pool, id++) || k == 1) {
			baton_pool_destroy(pool);
			continue;
		}
		k--;
		for (size_t j = 0; j < k; j++) {
			if (baton_task_async_opts(&tasks[j], body,
						  (void *)(uintptr_t)(id + j),
						  &opts) != 0)
				stress_fail("async before destroy");
		}
		baton_pool_destroy(pool);
		/* Every body has returned: awaits answer at once. */
		for (size_t j = 0; j < k; j++) {
			int rc = baton_task_await(&tasks[j], 0, &value, NULL);

			if (rc != 0 || value != (void *)(uintptr_t)(id + j))
				stress_fail("task %" PRIu64 " after destroy: "
					    "rc %d", id + j, rc);
		}
		id += k;
	}
}

struct scenario {
	const char *name;
	uint64_t tasks;
	void (*run)(baton_pool *pool, uint64_t n, struct stress_rng *rng);
};

int
main(void)
{
	static const struct scenario scenarios[] = {
		{ "ping_pong", 100000, ping_pong },
		{ "bursts", 100000, bursts },
		{ "submitters", 100000, submitters },
		{ "destroy", 5000, destroy },
	};
	static const unsigned int workers[] = { 1, 2, 4 };
	uint64_t seed = stress_seed();

	stress_watchdog_start();
	for (size_t s = 0; s < sizeof(scenarios) / sizeof(scenarios[0]); s++) {
		for (size_t w = 0; w < sizeof(workers) / sizeof(workers[0]);
		     w++) {
			const struct scenario *sc = &scenarios[s];
			uint64_t n = stress_scaled(sc->tasks, 40);
			uint64_t once = 0, twice = 0;
			struct stress_rng rng;
			baton_pool *pool = NULL;
			double t0 = stress_now();

			n -= n % SUBMITTERS;
			nworkers = workers[w];
			stress_rng_init(&rng, seed, s * 8 + w);
			reset(n);
			stress_watchdog_arm(sc->name, 120, 20, NULL);
			if (sc->run != destroy &&
			    baton_pool_create(&pool, workers[w]) != 0) {
				stress_fail("pool create");
				break;
			}
			sc->run(pool, n, &rng);
			baton_pool_destroy(pool); /* joins every body */
			for (uint64_t i = 0; i < n; i++) {
				once += seen[i] == 1;
				twice += seen[i] > 1;
			}
			printf("pool_watch_race %-10s workers=%u tasks=%" PRIu64
			       " ran=%" PRIu64 " once=%" PRIu64
			       " twice=%" PRIu64 " %s %.2fs\n",
			       sc->name, workers[w],
			       n, (uint64_t)atomic_load(&ran), once, twice,
			       once == n && twice == 0 ? "ok" : "MISMATCH",
			       stress_now() - t0);
			if (once != n || twice != 0)
				stress_fail("%s: %" PRIu64 " of %" PRIu64
					    " ran once, %" PRIu64 " twice",
					    sc->name, once, n, twice);
			if (stress_failed())
				break;
		}
		if (stress_failed())
			break;
	}
	stress_watchdog_stop();
	free((void *)seen);
	return stress_failed() ? 1 : 0;
}
