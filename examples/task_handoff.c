/*
 * task_handoff.c - the seed post's failure, made prompt: a strict task
 * handed through a queue cannot be awaited by the thread that receives it.
 *
 * Shows: main starts a strict task and pushes a copy of its handle through
 * a baton queue to a consumer thread.  In Elixir before 1.2 the consumer's
 * await silently timed out after 5 s; baton refuses it at once with -EPERM
 * and leaves the task untouched.  The consumer sends the handle back, and
 * the owner awaits it and gets the value.
 *
 * Run:   build/examples/task_handoff
 * Prints, for example:
 *   consumer: await -> -EPERM (Operation not permitted) in 2 us
 *   owner: await -> 0, value 42
 */
#include <baton.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct consumer {
	baton_queue *in, *out; /* handles travel main -> consumer -> main */
	int result;            /* what the consumer's await returned */
	double micros;
};

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void *
answer(void *arg)
{
	(void)arg;
	nanosleep(&(struct timespec){ .tv_nsec = 300000000 }, NULL);
	return (void *)(uintptr_t)42; /* still running when the consumer tries */
}

static void *
consume(void *arg)
{
	struct consumer *c = arg;
	void *item, *v = NULL;

	c->result = 1; /* not run */
	if (baton_queue_pop(c->in, &item) != 0)
		return NULL;
	double start = now_us();
	c->result = baton_task_await(item, BATON_DEFAULT_TIMEOUT, &v, NULL);
	c->micros = now_us() - start;
	/* Not ours to await: hand it back to its owner. */
	if (baton_queue_push(c->out, item) != 0)
		free(item);
	return NULL;
}

int
main(void)
{
	struct consumer c = {0};
	baton_task *handle;
	pthread_t thread;
	void *item, *v = NULL;
	int r;

	if ((r = baton_queue_create(&c.in, 1, free)) != 0 ||
	    (r = baton_queue_create(&c.out, 1, free)) != 0)
		goto fail;
	if (pthread_create(&thread, NULL, consume, &c) != 0 ||
	    (handle = malloc(sizeof(*handle))) == NULL)
		return 1;
	if ((r = baton_task_async(handle, answer, NULL)) != 0)
		goto fail;
	if ((r = baton_queue_push(c.in, handle)) != 0)
		goto fail;
	if ((r = baton_queue_pop_timed(c.out, &item, 5000)) != 0)
		goto fail;
	pthread_join(thread, NULL);
	printf("consumer: await -> %s (%s) in %.0f us\n",
	       c.result == -EPERM ? "-EPERM" : "?", strerror(-c.result), c.micros);

	/* The owner can still await the handle that came back. */
	r = baton_task_await(item, BATON_DEFAULT_TIMEOUT, &v, NULL);
	printf("owner: await -> %d, value %ju\n", r, (uintmax_t)(uintptr_t)v);
	free(item);
	baton_queue_destroy(c.in);
	baton_queue_destroy(c.out);
	/* "At once": far below the 300 ms the body still had to run. */
	return c.result == -EPERM && c.micros < 100000 && r == 0 &&
	    (uintptr_t)v == 42 ? 0 : 1;
fail:
	fprintf(stderr, "baton: %s\n", strerror(-r));
	return 1;
}
