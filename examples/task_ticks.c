/*
 * task_ticks.c - two tasks ticking in parallel, then awaited.
 *
 * Shows: the lesson's tick/tock clock.  Two strict tasks run at once on a
 * pool of two workers, each printing twice with a pause in between; the
 * owner then awaits both and prints their responses.  The example checks
 * that the two bodies ran at once (each saw the other start: a handshake,
 * not a clock) and that each response came back.
 *
 * Run:   build/examples/task_ticks
 * Prints (the ticks and tocks may interleave in another order):
 *   task 1: "tick"
 *   task 2: "tock"
 *   task 1: "tick"
 *   task 2: "tock"
 *   Task 1 Response: "tick"
 *   Task 2 Response: "tock"
 *   the tasks ran side by side for 0.40 s (each took 0.40 s)
 */
#include <baton.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Bodies that have started: each waits (10 s at most) to see both. */
static atomic_int started;

struct clock_task {
	int id;
	const char *word;
	double start, end; /* read by the owner after await: ordered by it */
	bool met;          /* saw the other body running at the same time */
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *
tick(void *arg)
{
	struct clock_task *c = arg;

	c->start = now_s();
	/*
	 * A handshake, not a clock: both bodies are running at once only
	 * if each sees the other start.  Run one after the other, the
	 * first would wait out the 10 s and report it.
	 */
	atomic_fetch_add(&started, 1);
	for (int ms = 0; ms < 10000 && atomic_load(&started) < 2; ms++)
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	c->met = atomic_load(&started) == 2;
	for (int i = 0; i < 2; i++) {
		printf("task %d: \"%s\"\n", c->id, c->word);
		fflush(stdout);
		nanosleep(&(struct timespec){ .tv_nsec = 200000000 }, NULL);
	}
	c->end = now_s();
	return (void *)c->word; /* IO.inspect returns what it printed */
}

int
main(void)
{
	struct clock_task c[2] = { { 1, "tick", 0, 0, false },
				  { 2, "tock", 0, 0, false } };
	baton_task t[2];
	baton_pool *pool;
	int r;

	/* Two workers, so the two tasks run side by side on any machine. */
	if ((r = baton_pool_create(&pool, 2)) != 0) {
		fprintf(stderr, "pool_create: %s\n", strerror(-r));
		return 1;
	}
	struct baton_task_opts opts = { .pool = pool };
	for (int i = 0; i < 2; i++) {
		if ((r = baton_task_async_opts(&t[i], tick, &c[i], &opts)) != 0) {
			fprintf(stderr, "async: %s\n", strerror(-r));
			return 1;
		}
	}
	for (int i = 0; i < 2; i++) {
		void *v;

		r = baton_task_await(&t[i], BATON_DEFAULT_TIMEOUT, &v, NULL);
		if (r != 0) {
			fprintf(stderr, "await task %d: %d\n", i + 1, r);
			return 1;
		}
		printf("Task %d Response: \"%s\"\n", i + 1, (const char *)v);
		if (strcmp(v, c[i].word) != 0)
			return 1;
	}
	baton_pool_destroy(pool);

	double lo = c[0].start > c[1].start ? c[0].start : c[1].start;
	double hi = c[0].end < c[1].end ? c[0].end : c[1].end;
	double each = c[0].end - c[0].start;

	printf("the tasks ran side by side for %.2f s (each took %.2f s)\n",
	       hi - lo, each);
	if (!c[0].met || !c[1].met) {
		fprintf(stderr, "the tasks did not run in parallel\n");
		return 1;
	}
	return 0;
}
