/*
 * task_timeout.c - await's timeout: the default 5 seconds, then a longer one.
 *
 * Shows: the lesson's Task.await(Task.async(fn -> Process.sleep(6000) end))
 * failing at the default 5000 ms, and the same work awaited with 7000 ms
 * succeeding.  Where Elixir exits the caller and kills the linked task,
 * baton returns -ETIMEDOUT, consumes the handle and asks the task to stop;
 * the body sleeps in small steps and checks baton_should_stop(), so it
 * returns right away instead of sleeping out its 6 seconds.
 *
 * Run:   build/examples/task_timeout          (takes about 11 s)
 * Prints, for example:
 *   await(task, 5000): -ETIMEDOUT (Connection timed out) after 5.00 s
 *   the handle is consumed: await again gives -ESTALE
 *   the task saw baton_should_stop() and returned after 5.00 s
 *   await(task, 7000): "done" after 6.00 s
 */
#include <baton.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct sleeper {
	bool stopped;      /* asked to stop before its 6 s were up */
	double ran_for;    /* seconds, published by `ended` */
	atomic_bool ended;
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Six seconds of "work", in 10 ms steps, stopping early when asked. */
static void *
sleepy(void *arg)
{
	struct sleeper *s = arg;
	double start = now_s();

	while (now_s() - start < 6.0) {
		if (baton_should_stop()) {
			s->stopped = true;
			break;
		}
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	}
	s->ran_for = now_s() - start;
	/* release: main reads stopped and ran_for after seeing ended. */
	atomic_store_explicit(&s->ended, true, memory_order_release);
	return "done";
}

int
main(void)
{
	static struct sleeper s[2];
	baton_task t;
	void *v;
	double start;
	int r;

	start = now_s();
	if ((r = baton_task_async(&t, sleepy, &s[0])) != 0)
		goto fail;
	r = baton_task_await(&t, BATON_DEFAULT_TIMEOUT, &v, NULL);
	printf("await(task, 5000): %s (%s) after %.2f s\n",
	       r == -ETIMEDOUT ? "-ETIMEDOUT" : "?", strerror(-r), now_s() - start);
	if (r != -ETIMEDOUT || now_s() - start < 5.0)
		return 1;
	if (baton_task_await(&t, BATON_DEFAULT_TIMEOUT, &v, NULL) != -ESTALE)
		return 1;
	puts("the handle is consumed: await again gives -ESTALE");

	/* The body should notice within a step; give it a second. */
	for (int i = 0; i < 100 && !atomic_load(&s[0].ended); i++)
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	if (!atomic_load_explicit(&s[0].ended, memory_order_acquire) ||
	    !s[0].stopped) {
		fprintf(stderr, "the timed-out task did not stop promptly\n");
		return 1;
	}
	printf("the task saw baton_should_stop() and returned after %.2f s\n",
	       s[0].ran_for);

	start = now_s();
	if ((r = baton_task_async(&t, sleepy, &s[1])) != 0)
		goto fail;
	if ((r = baton_task_await(&t, 7000, &v, NULL)) != 0)
		goto fail;
	printf("await(task, 7000): \"%s\" after %.2f s\n", (const char *)v,
	       now_s() - start);
	return strcmp(v, "done") == 0 && !s[1].stopped ? 0 : 1;
fail:
	fprintf(stderr, "baton: %d (%s)\n", r, r < 0 ? strerror(-r) : "exited");
	return 1;
}
