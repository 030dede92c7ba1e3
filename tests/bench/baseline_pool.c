/*
 * baseline_pool.c - a fixed pool of threads with a mutex-and-condvar job
 * queue and a mutex-and-condvar result cell per job, written the way a
 * careful programmer would write it without lock-free tricks.
 *
 * Design notes
 * ============
 * Queue: a singly linked FIFO of jobs (head, tail) under `lock`; `idle`
 * counts workers parked on `work`.  A submitter appends under the lock and
 * signals one worker, after unlocking, only if one is parked: a busy pool
 * makes no futex call per job (as baseline_queue.c does).  The pool
 * outlives every call, so signalling after the unlock is safe.
 *
 * Result cell: each job has its own mutex, condvar, `done` and `waiting`.
 * The worker publishes the value and signals under the job's lock, and
 * only if the waiter is parked: the waiter frees the job as soon as it
 * sees `done`, so a signal after the unlock could touch freed memory.
 *
 * Who frees what: submit allocates a job, baseline_job_wait frees it.
 */
#include "baseline_pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct baseline_job {
	struct baseline_job *next;
	void *(*fn)(void *);
	void *arg;
	void *value;
	bool done;
	bool waiting;
	pthread_mutex_t lock;
	pthread_cond_t cv;
};

struct baseline_pool {
	pthread_mutex_t lock;
	pthread_cond_t work;
	struct baseline_job *head, *tail;
	unsigned idle;
	bool closing;
	unsigned nthreads;
	pthread_t *threads;
};

static void *
worker(void *arg)
{
	struct baseline_pool *p = arg;
	struct baseline_job *j;
	void *v;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (p->head == NULL && !p->closing) {
			p->idle++;
			pthread_cond_wait(&p->work, &p->lock);
			p->idle--;
		}
		if (p->head == NULL)
			break; /* closing and drained */
		j = p->head;
		p->head = j->next;
		if (p->head == NULL)
			p->tail = NULL;
		pthread_mutex_unlock(&p->lock);

		v = j->fn(j->arg);
		pthread_mutex_lock(&j->lock);
		j->value = v;
		j->done = true;
		if (j->waiting)
			pthread_cond_signal(&j->cv);
		pthread_mutex_unlock(&j->lock);

		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static void
stop(struct baseline_pool *p, unsigned started)
{
	pthread_mutex_lock(&p->lock);
	p->closing = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < started; i++)
		pthread_join(p->threads[i], NULL);
}

int
baseline_pool_create(baseline_pool **out, unsigned workers)
{
	struct baseline_pool *p;

	if (out == NULL || workers == 0)
		return -EINVAL;
	*out = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return -ENOMEM;
	if ((p->threads = calloc(workers, sizeof(*p->threads))) == NULL) {
		free(p);
		return -ENOMEM;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	p->nthreads = workers;
	for (unsigned i = 0; i < workers; i++) {
		if (pthread_create(&p->threads[i], NULL, worker, p) != 0) {
			stop(p, i);
			free(p->threads);
			free(p);
			return -EAGAIN;
		}
	}
	*out = p;
	return 0;
}

void
baseline_pool_destroy(baseline_pool *p)
{
	if (p == NULL)
		return;
	stop(p, p->nthreads);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
	free(p->threads);
	free(p);
}

int
baseline_pool_submit(baseline_pool *p, void *(*fn)(void *), void *arg,
		     baseline_job **job)
{
	struct baseline_job *j = malloc(sizeof(*j));
	bool wake;

	if (j == NULL)
		return -ENOMEM;
	j->next = NULL;
	j->fn = fn;
	j->arg = arg;
	j->value = NULL;
	j->done = false;
	j->waiting = false;
	pthread_mutex_init(&j->lock, NULL);
	pthread_cond_init(&j->cv, NULL);

	pthread_mutex_lock(&p->lock);
	if (p->closing) {
		pthread_mutex_unlock(&p->lock);
		pthread_cond_destroy(&j->cv);
		pthread_mutex_destroy(&j->lock);
		free(j);
		return -EPIPE;
	}
	if (p->tail != NULL)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	wake = p->idle > 0;
	pthread_mutex_unlock(&p->lock);
	if (wake)
		pthread_cond_signal(&p->work);
	*job = j;
	return 0;
}

void
baseline_job_wait(baseline_job *j, void **value)
{
	pthread_mutex_lock(&j->lock);
	while (!j->done) {
		j->waiting = true;
		pthread_cond_wait(&j->cv, &j->lock);
	}
	pthread_mutex_unlock(&j->lock);
	*value = j->value;
	pthread_cond_destroy(&j->cv);
	pthread_mutex_destroy(&j->lock);
	free(j);
}
