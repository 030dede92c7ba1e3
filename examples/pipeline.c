/*
 * pipeline.c - futures started in one thread and awaited in others, through
 * a bounded baton queue: the hand-off that Elixir's Task refuses.
 *
 * Shows: main starts N shareable futures and pushes each, mostly still
 * pending, into a queue of 1024 that releases whatever is left in it; K
 * consumer threads take them, drain the queue once it is closed, and stop
 * on -EPIPE.  Then a strict task and a future, handed to another thread
 * while their bodies run: the task is refused there at once (its owner
 * still awaits it); the future is awaited there.
 *
 * Run:   build/examples/pipeline [items] [consumers]     (1000000 2)
 * Prints, for example:
 *   1000000 futures (991468 pushed pending), taken 509217 + 490783
 *   in 0.62 s: 1.6 M items/s, checksum ok
 *   strict task, awaited by another thread: -EPERM in 2 us; by its owner: 0
 *   shareable future, awaited by another thread: 0, value 42
 */
#include <baton.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct consumer {
	pthread_t t; baton_queue *q; int ok; unsigned long taken; uint64_t sum;
};
struct handoff { baton_queue *q; int strict, shared; double us; void *v; };

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* The computation: twice its argument; for NULL, 42 after 100 ms. */
static void *
compute(void *arg)
{
	if (arg != NULL)
		return (void *)((uintptr_t)arg * 2);
	nanosleep(&(struct timespec){ .tv_nsec = 100000000 }, NULL);
	return (void *)42;
}

static void *
consume(void *arg)
{
	struct consumer *c = arg;
	void *f, *v;
	int r;

	while ((r = baton_queue_pop(c->q, &f)) == 0) {
		/* Any thread holding a reference may wait on a future. */
		if (baton_future_take(f, BATON_INFINITY, &v, NULL) == 0)
			c->sum += (uintptr_t)v, c->taken++;
		baton_future_unref(f);
	}
	c->ok = r == -EPIPE; /* closed and drained */
	return NULL;
}

static void *
receive(void *arg)
{
	struct handoff *h = arg;
	void *task, *f;

	if ((h->strict = h->shared = baton_queue_pop(h->q, &task)) != 0 ||
	    (h->shared = baton_queue_pop(h->q, &f)) != 0)
		return NULL;
	h->us = now_us();
	/* Not the task's owner: refused at once, the task left untouched. */
	h->strict = baton_task_await(task, BATON_DEFAULT_TIMEOUT, &h->v, NULL);
	h->us = now_us() - h->us;
	h->shared = baton_future_take(f, BATON_DEFAULT_TIMEOUT, &h->v, NULL);
	baton_future_unref(f);
	return NULL;
}

int
main(int argc, char **argv)
{
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
	unsigned long pending = 0, taken = 0;
	int k = argc > 2 ? atoi(argv[2]) : 2, ok = 1, r;
	struct consumer c[16] = { 0 };
	struct handoff h = { 0 };
	baton_future *f;
	baton_task task;
	baton_queue *q;
	uint64_t sum = 0;
	void *v = NULL;
	double t = now_us();

	k = k < 1 || k > 16 ? 2 : k;
	/* Futures left inside are released with the queue: nothing leaks. */
	if ((r = baton_queue_create(&q, 1024, baton_future_release)) != 0)
		goto fail;
	for (int i = 0; i < k; i++) {
		c[i].q = q;
		if ((r = -pthread_create(&c[i].t, NULL, consume, &c[i])) != 0)
			goto fail;
	}
	for (uintptr_t i = 1; i <= n; i++) {
		if ((r = baton_future_start(&f, compute, (void *)i, NULL)) != 0)
			goto fail;
		pending += !baton_future_is_done(f);
		/* The reference travels; if a push fails, it is still ours. */
		if ((r = baton_queue_push(q, f)) != 0) {
			baton_future_unref(f);
			goto fail;
		}
	}
	if ((r = baton_queue_close(q)) != 0) /* consumers drain, then -EPIPE */
		goto fail;
	printf("%lu futures (%lu pushed pending), taken", n, pending);
	for (int i = 0; i < k; i++) {
		if ((r = -pthread_join(c[i].t, NULL)) != 0)
			goto fail;
		printf("%s %lu", i ? " +" : "", c[i].taken);
		taken += c[i].taken, sum += c[i].sum, ok &= c[i].ok;
	}
	t = (now_us() - t) / 1e6;
	baton_queue_destroy(q);
	ok &= taken == n && sum == (uint64_t)n * (n + 1);
	printf("\nin %.2f s: %.1f M items/s, checksum %s\n", t,
	       (double)taken / t / 1e6, ok ? "ok" : "MISMATCH");

	/* Side by side: both pushed while their bodies still run (100 ms). */
	if ((r = baton_queue_create(&h.q, 2, NULL)) != 0 ||
	    (r = baton_task_async(&task, compute, NULL)) != 0 ||
	    (r = baton_queue_push(h.q, &task)) != 0 ||
	    (r = baton_future_start(&f, compute, NULL, NULL)) != 0 ||
	    (r = baton_queue_push(h.q, f)) != 0 ||
	    (r = -pthread_create(&c[0].t, NULL, receive, &h)) != 0 ||
	    (r = -pthread_join(c[0].t, NULL)) != 0)
		goto fail;
	baton_queue_destroy(h.q);
	printf("strict task, awaited by another thread: %s in %.0f us; ",
	       h.strict == -EPERM ? "-EPERM" : strerror(-h.strict), h.us);
	/* At once: nowhere near the 5 s a silent timeout would have taken. */
	ok &= h.strict == -EPERM && h.us < 1e6 && h.shared == 0 &&
	    h.v == (void *)42;
	r = baton_task_await(&task, BATON_DEFAULT_TIMEOUT, &v, NULL);
	printf("by its owner: %d\nshareable future, awaited by another thread: "
	       "%d, value %ju\n", r, h.shared, (uintmax_t)(uintptr_t)h.v);
	return ok && r == 0 && v == (void *)42 ? 0 : 1;
fail:
	fprintf(stderr, "pipeline: %s\n", strerror(-r));
	return 1;
}
