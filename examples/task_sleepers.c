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
 * Fails unless at least a tenth of the sleeps overlapped (counted in the
 * bodies, not timed: a loaded machine or a sanitizer slows the run, not
 * the overlap); two fixed workers would reach two.
 *
 * Run:   build/examples/task_sleepers
 * Prints, for example:
 *   sequential (projected): 200.0 s
 *   parallel:               0.231 s for 1000 tasks
 *   threads: 1006 at the peak, 2 base
 *   asleep at once: 1000 at the most
 */
#include <baton.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TASKS 1000
#define SLEEP_MS 200
#define MIN_OVERLAP (TASKS / 10)

/* Bodies asleep now, and the most at once. */
static atomic_int asleep, most_asleep;

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
	int now = atomic_fetch_add(&asleep, 1) + 1;
	int most = atomic_load(&most_asleep);

	while (now > most &&
	       !atomic_compare_exchange_weak(&most_asleep, &most, now))
		;
	while (nanosleep(&ts, &ts) != 0)
		;
	atomic_fetch_sub(&asleep, 1);
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
	printf("asleep at once: %d at the most\n", atomic_load(&most_asleep));
	if (atomic_load(&most_asleep) < MIN_OVERLAP) {
		fprintf(stderr, "the sleeps did not overlap (fewer than %d)\n",
			MIN_OVERLAP);
		return 1;
	}
	return 0;
}
