/*
 * task_start.c - fire-and-forget: baton_task_start.
 *
 * Shows: Elixir's Task.start.  The body runs on a pool worker with no owner
 * and no result, and the caller does not wait for it: main prints while the
 * task is still running.  A small handshake (a mutex, a condition variable
 * and a stage number) fixes the order of the lines and lets main exit only
 * after the body has run.
 *
 * Run:   build/examples/task_start
 * Prints:
 *   parent keeps running
 *   task ran!
 *   the task ran on another thread and finished
 */
#include <baton.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Static, never destroyed: safe to touch until the very last instruction. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int stage; /* 0 start, 1 main printed, 2 task printed */
static pthread_t ran_on;

/* Waits up to 5 s for the stage; false if it never came. */
static bool
wait_for(int want)
{
	struct timespec deadline;
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 5;
	pthread_mutex_lock(&lock);
	while (stage < want && r == 0)
		r = pthread_cond_timedwait(&changed, &lock, &deadline);
	bool ok = stage >= want;
	pthread_mutex_unlock(&lock);
	return ok;
}

static void
advance(int to)
{
	pthread_mutex_lock(&lock);
	stage = to;
	pthread_cond_broadcast(&changed);
	pthread_mutex_unlock(&lock);
}

static void *
body(void *arg)
{
	(void)arg;
	if (!wait_for(1)) /* main's line comes first */
		return NULL;
	puts("task ran!");
	fflush(stdout);
	ran_on = pthread_self();
	advance(2);
	return NULL;
}

int
main(void)
{
	int r;

	/* No handle comes back: nobody owns, awaits or frees this task. */
	if ((r = baton_task_start(body, NULL, NULL)) != 0) {
		fprintf(stderr, "task_start: %s\n", strerror(-r));
		return 1;
	}
	/* The task is running (waiting for stage 1), and so is main. */
	puts("parent keeps running");
	fflush(stdout);
	advance(1);
	if (!wait_for(2)) {
		fprintf(stderr, "the task never ran\n");
		return 1;
	}
	if (pthread_equal(ran_on, pthread_self())) {
		fprintf(stderr, "the task ran on main's thread\n");
		return 1;
	}
	puts("the task ran on another thread and finished");
	return 0;
}
