/*
 * task_sleepers.c - the lesson's "two tasks that each sleep 1 s finish in
 * 1 s", at scale: 1,000 strict tasks that each sleep 200 ms, on the
 * default pool, awaited with await_many.
 *
 * Shows: a body that blocks (here nanosleep, which baton cannot see)
 * does not hold back the queued work.  The default pool keeps one
 * thread per CPU and adds threads while its bodies block, so the 1,000
 * sleeps overlap as 1,000 Elixir processes would: about 0.2 s, not the
 * 200 s they take one after the other (or 100 s on two fixed workers).
 * Fails if the parallel run took 2 s or more (ten times the sleep).
 *
 * Run:   build/examples/task_sleepers
 * Prints, for example:
 *   sequential (projected): 200.0 s
 *   parallel:               0.231 s for 1000 tasks
 *   threads: 1006 at the peak, 2 base
 */
#include <baton.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TASKS 1000
#define SLEEP_MS 200

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sleeps SLEEP_MS, then hands its argument back. */
static void *
sleeper(void *arg)
{
	struct timespec ts = { 0, SLEEP_MS * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
	return arg;
}

int
main(void)
{
	static baton_task tasks[TASKS];
	static void *values[TASKS];
	struct baton_pool_stats st;
	double t0, took;
	int r;

	printf("sequential (projected): %.1f s\n", TASKS * SLEEP_MS / 1000.0);
	t0 = now_s();
	for (size_t i = 0; i < TASKS; i++) {
		if ((r = baton_task_async(&tasks[i], sleeper,
					  (void *)(i + 1))) != 0) {
			fprintf(stderr, "baton_task_async: %d\n", r);
			return 1;
		}
	}
	r = baton_task_await_many(tasks, TASKS, BATON_INFINITY, values, NULL,
				  NULL);
	took = now_s() - t0;
	if (r != 0) {
		fprintf(stderr, "baton_task_await_many: %d\n", r);
		return 1;
	}
	for (size_t i = 0; i < TASKS; i++) {
		if (values[i] != (void *)(i + 1)) {
			fprintf(stderr, "task %zu: wrong value\n", i);
			return 1;
		}
	}
	printf("parallel:               %.3f s for %d tasks\n", took, TASKS);
	if (baton_pool_stats(baton_pool_default(), &st) == 0)
		printf("threads: %u at the peak, %u base\n", st.peak_threads,
		       st.workers);
	if (took >= 2.0) {
		fprintf(stderr, "too slow: the sleeps did not overlap\n");
		return 1;
	}
	return 0;
}
