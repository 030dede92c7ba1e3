/*
 * compare_baton.c - baton in the comparison benchmarks (see compare.h).
 *
 * Systems
 * =======
 *   baton           strict tasks on the default pool (one worker per CPU),
 *                   awaited with BATON_DEFAULT_TIMEOUT, as the task.h
 *                   overview shows: a timed await never runs the task
 *                   itself, so a worker runs every body.  Throughput:
 *                   baton_task_async M times, then baton_task_await_many.
 *                   Queue: baton_queue_push / baton_queue_pop.  Pipeline:
 *                   baton_future_start, the pending future pushed through
 *                   a baton_queue, popped and taken (timed) by the
 *                   consumer, as the future.h overview shows.
 *   baton_infinity  the same awaits and takes with BATON_INFINITY: an
 *                   awaiter that finds the body still queued runs it
 *                   itself (helping), as oneTBB's task_group::wait does.
 *                   Its queue is baton's, so it has no queue entry.
 */
#include <stdint.h>
#include <stdlib.h>

#include "baton/future.h"
#include "baton/queue.h"
#include "baton/task.h"

#include "compare.h"

static void *
await_one(const char *sys, int timeout_ms, void *arg)
{
	baton_task t;
	void *v = NULL;
	int rc;

	if ((rc = baton_task_async(&t, cmp_body, arg)) != 0)
		cmp_fail(sys, "baton_task_async", rc);
	if ((rc = baton_task_await(&t, timeout_ms, &v, NULL)) != 0)
		cmp_fail(sys, "baton_task_await", rc);
	return v;
}

static void *
timed_spawn_await(void *arg)
{
	return await_one("baton", BATON_DEFAULT_TIMEOUT, arg);
}

static void *
infinity_spawn_await(void *arg)
{
	return await_one("baton_infinity", BATON_INFINITY, arg);
}

/* Handles for spawn_many: grown once (in the unmeasured run), reused. */
static baton_task *tasks;
static size_t ntasks;

static void
many(const char *sys, int timeout_ms, size_t m, void **values)
{
	size_t i, failed = 0;
	int rc;

	if (ntasks < m) {
		free(tasks);
		if ((tasks = calloc(m, sizeof(*tasks))) == NULL)
			cmp_fail(sys, "calloc", -ENOMEM);
		ntasks = m;
	}
	for (i = 0; i < m; i++) {
		rc = baton_task_async(&tasks[i], cmp_body,
				      (void *)(uintptr_t)(i + 1));
		if (rc != 0)
			cmp_fail(sys, "baton_task_async", rc);
	}
	rc = baton_task_await_many(tasks, m, timeout_ms, values, &failed,
				   NULL);
	if (rc != 0)
		cmp_fail(sys, "baton_task_await_many", rc);
}

static void
timed_spawn_many(size_t m, void **values)
{
	many("baton", BATON_DEFAULT_TIMEOUT, m, values);
}

static void
infinity_spawn_many(size_t m, void **values)
{
	many("baton_infinity", BATON_INFINITY, m, values);
}

static void
fini(void)
{
	free(tasks);
	tasks = NULL;
	ntasks = 0;
}

/* The queue workload. */

static void *
q_create(size_t capacity, unsigned producers, unsigned consumers)
{
	baton_queue *q;
	int rc;

	(void)producers;
	(void)consumers;
	if ((rc = baton_queue_create(&q, capacity, NULL)) != 0)
		cmp_fail("baton", "baton_queue_create", rc);
	return q;
}

static void
q_destroy(void *q)
{
	baton_queue_destroy(q);
}

static void
q_produce(void *q, const struct cmp_producer *p)
{
	uint64_t seq;
	int rc;

	for (seq = 1; seq <= p->n; seq++) {
		if ((rc = baton_queue_push(q, cmp_item(p, seq))) != 0)
			cmp_fail("baton", "baton_queue_push", rc);
	}
}

static void
q_consume(void *q, struct cmp_consumer *c)
{
	void *item;
	uint64_t i;
	int rc;

	for (i = 0; i < c->n; i++) {
		if ((rc = baton_queue_pop(q, &item)) != 0)
			cmp_fail("baton", "baton_queue_pop", rc);
		cmp_take(c, item);
	}
}

/* The pipeline: pending futures through a baton_queue. */

static void *
pl_create(size_t capacity)
{
	baton_queue *q;
	int rc;

	/* Futures left inside (none, if all goes well) are released. */
	rc = baton_queue_create(&q, capacity, baton_future_release);
	if (rc != 0)
		cmp_fail("baton", "baton_queue_create", rc);
	return q;
}

static void
pl_destroy(void *pl)
{
	baton_queue_destroy(pl);
}

static void
pl_produce(void *pl, uint64_t n)
{
	baton_future *f;
	uint64_t i;
	int rc;

	for (i = 1; i <= n; i++) {
		rc = baton_future_start(&f, cmp_body, (void *)(uintptr_t)i,
					NULL);
		if (rc != 0)
			cmp_fail("baton", "baton_future_start", rc);
		if ((rc = baton_queue_push(pl, f)) != 0)
			cmp_fail("baton", "baton_queue_push", rc);
	}
}

static uint64_t
consume(const char *sys, int timeout_ms, void *pl, uint64_t n)
{
	uint64_t i, wrong = 0;
	void *f, *v;
	int rc;

	for (i = 1; i <= n; i++) {
		if ((rc = baton_queue_pop(pl, &f)) != 0)
			cmp_fail(sys, "baton_queue_pop", rc);
		if ((rc = baton_future_take(f, timeout_ms, &v, NULL)) != 0)
			cmp_fail(sys, "baton_future_take", rc);
		wrong += v != (void *)(uintptr_t)i;
		baton_future_unref(f);
	}
	return wrong;
}

static uint64_t
timed_pl_consume(void *pl, uint64_t n)
{
	return consume("baton", BATON_DEFAULT_TIMEOUT, pl, n);
}

static uint64_t
infinity_pl_consume(void *pl, uint64_t n)
{
	return consume("baton_infinity", BATON_INFINITY, pl, n);
}

const struct cmp_system cmp_systems[] = {
	{
		.name = "baton",
		.fini = fini,
		.spawn_await = timed_spawn_await,
		.spawn_many = timed_spawn_many,
		.q_create = q_create,
		.q_destroy = q_destroy,
		.q_produce = q_produce,
		.q_consume = q_consume,
		.q_rendezvous = true,
		.pl_create = pl_create,
		.pl_destroy = pl_destroy,
		.pl_produce = pl_produce,
		.pl_consume = timed_pl_consume,
	},
	{
		.name = "baton_infinity",
		.spawn_await = infinity_spawn_await,
		.spawn_many = infinity_spawn_many,
		.pl_create = pl_create,
		.pl_destroy = pl_destroy,
		.pl_produce = pl_produce,
		.pl_consume = infinity_pl_consume,
	},
};
const size_t cmp_nsystems = sizeof(cmp_systems) / sizeof(cmp_systems[0]);
