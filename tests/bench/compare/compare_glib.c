/*
 * compare_glib.c - GLib in the comparison benchmarks (see compare.h).
 *
 * System "glib"
 * =============
 * Tasks: one exclusive GThreadPool of one thread per CPU (exclusive: its
 * threads start at once and stay, as baton's pool's do).  GLib has no
 * future or task handle for a thread pool, so a job carries its own result
 * cell, written the careful way with GLib's primitives: a GMutex and GCond
 * per job, the worker signalling only when the waiter has parked (as
 * ../baseline_pool.c does).  Latency: the job lives on the awaiting
 * thread's stack.  Throughput: M jobs in an array, g_thread_pool_push for
 * each, and one completion latch (an atomic countdown, then a GMutex and
 * GCond) instead of M cells: the cheapest way GLib offers to wait for all.
 *
 * Queue: GAsyncQueue, g_async_queue_push / g_async_queue_pop.  It is
 * UNBOUNDED (the capacity is ignored: producers never wait) and has no
 * close.
 *
 * Pipeline: a heap job per item, pushed to the pool, then its pointer
 * pushed through a GAsyncQueue (unbounded); the consumer pops it, waits on
 * its cell and frees it.
 */
#include <stdint.h>
#include <stdlib.h>

#include <glib.h>

#include "compare.h"

/* A completion latch for many jobs. */
struct latch {
	gint left;
	GMutex lock;
	GCond cond;
	gboolean done;
	gboolean waiting;
};

struct job {
	void *arg;
	void *value;
	struct latch *latch; /* NULL: the job is its own result cell */
	GMutex lock;
	GCond cond;
	gboolean done;
	gboolean waiting;
};

static GThreadPool *pool;
static struct latch latch; /* spawn_many's: one batch at a time */
static struct job *batch;
static size_t nbatch;

static void
run(gpointer data, gpointer user_data)
{
	struct job *j = data;
	struct latch *l = j->latch;
	void *v = cmp_body(j->arg);

	(void)user_data;
	if (l != NULL) {
		j->value = v;
		/* Full barrier: the value is published before the count. */
		if (!g_atomic_int_dec_and_test(&l->left))
			return;
		g_mutex_lock(&l->lock);
		l->done = TRUE;
		if (l->waiting)
			g_cond_signal(&l->cond);
		g_mutex_unlock(&l->lock);
		return;
	}
	/* Signal under the lock: the waiter frees the job once done. */
	g_mutex_lock(&j->lock);
	j->value = v;
	j->done = TRUE;
	if (j->waiting)
		g_cond_signal(&j->cond);
	g_mutex_unlock(&j->lock);
}

static void
job_init(struct job *j, void *arg)
{
	j->arg = arg;
	j->value = NULL;
	j->latch = NULL;
	g_mutex_init(&j->lock);
	g_cond_init(&j->cond);
	j->done = FALSE;
	j->waiting = FALSE;
}

static void *
job_wait(struct job *j)
{
	g_mutex_lock(&j->lock);
	while (!j->done) {
		j->waiting = TRUE;
		g_cond_wait(&j->cond, &j->lock);
	}
	g_mutex_unlock(&j->lock);
	g_cond_clear(&j->cond);
	g_mutex_clear(&j->lock);
	return j->value;
}

static void
push_job(struct job *j)
{
	GError *err = NULL;

	if (!g_thread_pool_push(pool, j, &err))
		cmp_fail("glib", err != NULL ? err->message
					     : "g_thread_pool_push", 0);
}

static int
init(void)
{
	GError *err = NULL;

	pool = g_thread_pool_new(run, NULL, (gint)cmp_cpus(), TRUE, &err);
	if (pool == NULL)
		cmp_fail("glib", err != NULL ? err->message
					     : "g_thread_pool_new", 0);
	g_mutex_init(&latch.lock);
	g_cond_init(&latch.cond);
	return 0;
}

static void
fini(void)
{
	g_thread_pool_free(pool, FALSE, TRUE);
	g_cond_clear(&latch.cond);
	g_mutex_clear(&latch.lock);
	free(batch);
}

static void *
spawn_await(void *arg)
{
	struct job j;

	job_init(&j, arg);
	push_job(&j);
	return job_wait(&j);
}

static void
spawn_many(size_t m, void **values)
{
	size_t i;

	if (nbatch < m) {
		free(batch);
		if ((batch = calloc(m, sizeof(*batch))) == NULL)
			cmp_fail("glib", "calloc", 0);
		nbatch = m;
	}
	g_atomic_int_set(&latch.left, (gint)m);
	latch.done = FALSE;
	latch.waiting = FALSE;
	for (i = 0; i < m; i++) {
		batch[i].arg = (void *)(uintptr_t)(i + 1);
		batch[i].latch = &latch;
		push_job(&batch[i]);
	}
	g_mutex_lock(&latch.lock);
	while (!latch.done) {
		latch.waiting = TRUE;
		g_cond_wait(&latch.cond, &latch.lock);
	}
	g_mutex_unlock(&latch.lock);
	for (i = 0; i < m; i++)
		values[i] = batch[i].value;
}

static void *
q_create(size_t capacity, unsigned producers, unsigned consumers)
{
	(void)capacity; /* GAsyncQueue has no bound */
	(void)producers;
	(void)consumers;
	return g_async_queue_new();
}

static void *
pl_create(size_t capacity)
{
	(void)capacity;
	return g_async_queue_new();
}

static void
q_destroy(void *q)
{
	g_async_queue_unref(q);
}

static void
q_produce(void *q, const struct cmp_producer *p)
{
	uint64_t seq;

	for (seq = 1; seq <= p->n; seq++)
		g_async_queue_push(q, cmp_item(p, seq));
}

static void
q_consume(void *q, struct cmp_consumer *c)
{
	uint64_t i;

	for (i = 0; i < c->n; i++)
		cmp_take(c, g_async_queue_pop(q));
}

static void
pl_produce(void *pl, uint64_t n)
{
	struct job *j;
	uint64_t i;

	for (i = 1; i <= n; i++) {
		j = g_new(struct job, 1);
		job_init(j, (void *)(uintptr_t)i);
		push_job(j);
		g_async_queue_push(pl, j);
	}
}

static uint64_t
pl_consume(void *pl, uint64_t n)
{
	uint64_t i, wrong = 0;
	struct job *j;

	for (i = 1; i <= n; i++) {
		j = g_async_queue_pop(pl);
		wrong += job_wait(j) != (void *)(uintptr_t)i;
		g_free(j);
	}
	return wrong;
}

const struct cmp_system cmp_systems[] = {
	{
		.name = "glib",
		.init = init,
		.fini = fini,
		.spawn_await = spawn_await,
		.spawn_many = spawn_many,
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
