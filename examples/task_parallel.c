/*
 * task_parallel.c - two 1-second computations: one after the other, then
 * in parallel with async/await.
 *
 * Shows: the lesson's timing demo.  Run back to back, two computations of
 * one second take two seconds; started as two strict tasks on a pool of
 * two workers and then awaited, they take one.  The pool is created with
 * two workers explicitly, so the result does not depend on the CPU count
 * (the computations sleep, as Process.sleep does in the lesson).  Fails
 * unless the two computations were seen asleep at once (counted, not
 * timed: a loaded machine slows the run, not the overlap).
 *
 * Run:   build/examples/task_parallel
 * Prints, for example:
 *   sequential: 2.000 s
 *   parallel:   1.000 s
 */
#include <baton.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Computations asleep now, and the most at once. */
static atomic_int asleep, most_asleep;

/* The "expensive" computation: one second, then its argument back. */
static void *
computation(void *arg)
{
	int now = atomic_fetch_add(&asleep, 1) + 1;
	int most = atomic_load(&most_asleep);

	while (now > most &&
	       !atomic_compare_exchange_weak(&most_asleep, &most, now))
		;
	nanosleep(&(struct timespec){ .tv_sec = 1 }, NULL);
	atomic_fetch_sub(&asleep, 1);
	return arg;
}

int
main(void)
{
	baton_task t1, t2;
	baton_pool *pool;
	void *v1, *v2;
	double start, seq, par;
	int r;

	if ((r = baton_pool_create(&pool, 2)) != 0) {
		fprintf(stderr, "pool_create: %s\n", strerror(-r));
		return 1;
	}
	struct baton_task_opts opts = { .pool = pool };

	start = now_s();
	v1 = computation((void *)1);
	v2 = computation((void *)2);
	seq = now_s() - start;
	printf("sequential: %.3f s\n", seq);

	atomic_store(&most_asleep, 0);
	start = now_s();
	if ((r = baton_task_async_opts(&t1, computation, (void *)1, &opts)) ||
	    (r = baton_task_async_opts(&t2, computation, (void *)2, &opts))) {
		fprintf(stderr, "async: %s\n", strerror(-r));
		return 1;
	}
	if ((r = baton_task_await(&t1, BATON_DEFAULT_TIMEOUT, &v1, NULL)) ||
	    (r = baton_task_await(&t2, BATON_DEFAULT_TIMEOUT, &v2, NULL))) {
		fprintf(stderr, "await: %d (%s)\n", r, r < 0 ? strerror(-r) : "exited");
		return 1;
	}
	par = now_s() - start;
	printf("parallel:   %.3f s\n", par);
	baton_pool_destroy(pool);

	if ((uintptr_t)v1 != 1 || (uintptr_t)v2 != 2) {
		fprintf(stderr, "wrong values back\n");
		return 1;
	}
	if (atomic_load(&most_asleep) < 2) {
		fprintf(stderr, "the tasks did not run in parallel\n");
		return 1;
	}
	return 0;
}
