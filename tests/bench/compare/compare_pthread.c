/*
 * compare_pthread.c - plain POSIX threads in the comparison benchmarks
 * (see compare.h): what a C programmer writes without a library.
 *
 * Systems
 * =======
 *   pthread   pthread_create + pthread_join per task (latency only: M
 *             unjoined threads at once do not fit in a default system).
 *   baseline  ../baseline_pool.c (one worker per CPU, a mutex+condvar job
 *             FIFO, a mutex+condvar result cell per job) and
 *             ../baseline_queue.c (a mutex+condvar bounded ring), the
 *             baselines of bench_task and bench_queue, compiled in
 *             unchanged.  Throughput: M submits, then M waits in order.
 *             Pipeline: each job pointer travels through a
 *             baseline_queue; the consumer waits for it and frees it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "baseline_pool.h"
#include "baseline_queue.h"

#include "compare.h"

static baseline_pool *pool;

static void *
pt_spawn_await(void *arg)
{
	pthread_t th;
	void *v = NULL;
	int rc;

	if ((rc = pthread_create(&th, NULL, cmp_body, arg)) != 0)
		cmp_fail("pthread", "pthread_create", rc);
	if ((rc = pthread_join(th, &v)) != 0)
		cmp_fail("pthread", "pthread_join", rc);
	return v;
}

static int
bl_init(void)
{
	return baseline_pool_create(&pool, cmp_cpus());
}

static void
bl_fini(void)
{
	baseline_pool_destroy(pool);
}

static void *
bl_spawn_await(void *arg)
{
	baseline_job *j;
	void *v;
	int rc;

	if ((rc = baseline_pool_submit(pool, cmp_body, arg, &j)) != 0)
		cmp_fail("baseline", "baseline_pool_submit", rc);
	baseline_job_wait(j, &v);
	return v;
}

static baseline_job **jobs;
static size_t njobs;

static void
bl_spawn_many(size_t m, void **values)
{
	size_t i;
	int rc;

	if (njobs < m) {
		free(jobs);
		if ((jobs = calloc(m, sizeof(*jobs))) == NULL)
			cmp_fail("baseline", "calloc", -ENOMEM);
		njobs = m;
	}
	for (i = 0; i < m; i++) {
		rc = baseline_pool_submit(pool, cmp_body,
					  (void *)(uintptr_t)(i + 1), &jobs[i]);
		if (rc != 0)
			cmp_fail("baseline", "baseline_pool_submit", rc);
	}
	for (i = 0; i < m; i++)
		baseline_job_wait(jobs[i], &values[i]);
}

static void *
q_create(size_t capacity, unsigned producers, unsigned consumers)
{
	baseline_queue *q;
	int rc;

	(void)producers;
	(void)consumers;
	if ((rc = baseline_queue_create(&q, capacity)) != 0)
		cmp_fail("baseline", "baseline_queue_create", rc);
	return q;
}

static void *
pl_create(size_t capacity)
{
	return q_create(capacity, 1, 1);
}

static void
q_destroy(void *q)
{
	baseline_queue_destroy(q);
}

static void
q_produce(void *q, const struct cmp_producer *p)
{
	uint64_t seq;
	int rc;

	for (seq = 1; seq <= p->n; seq++) {
		if ((rc = baseline_queue_push(q, cmp_item(p, seq))) != 0)
			cmp_fail("baseline", "baseline_queue_push", rc);
	}
}

static void
q_consume(void *q, struct cmp_consumer *c)
{
	void *item;
	uint64_t i;
	int rc;

	for (i = 0; i < c->n; i++) {
		if ((rc = baseline_queue_pop(q, &item)) != 0)
			cmp_fail("baseline", "baseline_queue_pop", rc);
		cmp_take(c, item);
	}
}

static void
pl_produce(void *pl, uint64_t n)
{
	baseline_job *j;
	uint64_t i;
	int rc;

	for (i = 1; i <= n; i++) {
		rc = baseline_pool_submit(pool, cmp_body, (void *)(uintptr_t)i,
					  &j);
		if (rc != 0)
			cmp_fail("baseline", "baseline_pool_submit", rc);
		if ((rc = baseline_queue_push(pl, j)) != 0)
			cmp_fail("baseline", "baseline_queue_push", rc);
	}
}

static uint64_t
pl_consume(void *pl, uint64_t n)
{
	uint64_t i, wrong = 0;
	void *j, *v;
	int rc;

	for (i = 1; i <= n; i++) {
		if ((rc = baseline_queue_pop(pl, &j)) != 0)
			cmp_fail("baseline", "baseline_queue_pop", rc);
		baseline_job_wait(j, &v);
		wrong += v != (void *)(uintptr_t)i;
	}
	return wrong;
}

static void
fini(void)
{
	bl_fini();
	free(jobs);
}

const struct cmp_system cmp_systems[] = {
	{
		.name = "pthread",
		.spawn_await = pt_spawn_await,
	},
	{
		.name = "baseline",
		.init = bl_init,
		.fini = fini,
		.spawn_await = bl_spawn_await,
		.spawn_many = bl_spawn_many,
		.q_create = q_create,
		.q_destroy = q_destroy,
		.q_produce = q_produce,
		.q_consume = q_consume,
		.pl_create = pl_create,
		.pl_destroy = q_destroy,
		.pl_produce = pl_produce,
		.pl_consume = pl_consume,
	},
};
const size_t cmp_nsystems = sizeof(cmp_systems) / sizeof(cmp_systems[0]);
