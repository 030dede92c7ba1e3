/*
 * pool.c - the executor: worker threads, the submission queue, idling.
 *
 * Design notes
 * ============
 * Submission queue: an intrusive multi-producer queue threaded through
 * the cells themselves (Vyukov's MPSC node queue), so submitting allocates
 * nothing and takes no lock: one atomic exchange on the head, then a store
 * linking the previous node.  A submitter never waits for another, however
 * many threads submit on however few cores (ck_ring's MPMC enqueue would
 * make them wait for each other in turn; see queue.c).  A submitter
 * preempted between its exchange and its link delays consumers only, and
 * only until it runs again; a worker that finds the queue momentarily
 * unlinked treats it as empty and is woken by that submitter's signal.
 *
 * Workers take cells one at a time under a short spin-then-park lock (the
 * queue has a single-consumer end).  A cell popped by a worker may already
 * have been claimed by a helping awaiter (cell.c); the worker then only
 * drops the queue's reference.  Such finished cells would pile up in the
 * queue whenever the workers are not scheduled (a consumer that helps can
 * outrun them by far), so a helper also reaps finished cells from the
 * front of the queue (baton__pool_reap), never running anyone else's.
 *
 * Idling: a worker that finds no work spins for a few microseconds
 * watching the queue head, then joins the idle gate (queue/gate.c): one
 * idle worker, the leader, sleeps on the `work` event count; the others
 * sleep in the gate, and each leave wakes one more.  Submitters signal
 * `work` only when the leader has announced itself in `sleepers` and no
 * worker is spinning (the spinner will take the task), so neither a busy
 * pool nor a steady trickle pays a wake-up syscall per task.  The announcement and the
 * submitter's check are both sequentially consistent around the queue
 * update (a Dekker pair), so either the leader sees the new cell or the
 * submitter sees the leader.
 *
 * Shutdown: `closing` makes new submissions fail with -EPIPE; the workers
 * run everything already queued, then exit; destroy joins them.  A task
 * that submits a subtask while its pool shuts down either gets -EPIPE or
 * pushes before its own worker's final drain, so nothing is stranded;
 * submitting from outside the pool while destroying it is the caller's
 * race (documented).
 *
 * The default pool is created once (pthread_once).  At exit, an atexit
 * handler asks every task still on it to stop (queued ones then never
 * run), waits for running bodies to return, and joins the workers.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "cell.h"
#include "gate.h"
#include "lock.h"
#include "task_internal.h"

#define CACHELINE 64
#define MAX_WORKERS 1024

struct baton_pool {
	/* Submitters: the head of the intrusive queue (idle workers poll it). */
	alignas(CACHELINE) _Atomic(struct baton__cell *) head;

	/* Submitters' counter, away from the line idle workers poll. */
	alignas(CACHELINE) atomic_uint_fast64_t spawned;

	/* Read by every submitter, written when a worker sleeps or wakes. */
	alignas(CACHELINE) atomic_int sleepers;
	atomic_bool closing;

	/* Workers: the tail end, under the consumer lock. */
	alignas(CACHELINE) struct baton__lock consumers;
	struct baton__cell *tail;
	struct baton__cell stub;

	/* Idle workers. */
	alignas(CACHELINE) struct ck_ec32 work;
	atomic_bool spinning; /* one idle worker at a time spins */
	struct baton__spinner idle_spin;
	struct baton__gate idle_gate;

	/* Awaiters of this pool's cells. */
	alignas(CACHELINE) struct baton__spinner await_spin;

	/* Written by workers as bodies end; relaxed. */
	alignas(CACHELINE) atomic_uint_fast64_t completed;
	atomic_uint_fast64_t failed;
	atomic_uint_fast64_t cancelled;

	unsigned int nworkers;
	pthread_t *threads;
};

static void
push(baton_pool *pool, struct baton__cell *cell)
{
	struct baton__cell *prev;

	atomic_store_explicit(&cell->next, NULL, memory_order_relaxed);
	/* acq_rel: orders the cell's contents before its publication. */
	prev = atomic_exchange_explicit(&pool->head, cell, memory_order_acq_rel);
	/* seq_cst: the link must precede the sleepers check (Dekker pair). */
	atomic_store_explicit(&prev->next, cell, memory_order_seq_cst);
}

/* Pops one cell, or NULL if none is (fully) linked yet.  Consumer lock held. */
static struct baton__cell *
pop_locked(baton_pool *pool)
{
	struct baton__cell *tail = pool->tail;
	/* acquire: pairs with the link store in push. */
	struct baton__cell *next = atomic_load_explicit(&tail->next,
							memory_order_acquire);

	if (tail == &pool->stub) {
		if (next == NULL)
			return NULL;
		pool->tail = next;
		tail = next;
		next = atomic_load_explicit(&tail->next, memory_order_acquire);
	}
	if (next != NULL) {
		pool->tail = next;
		return tail;
	}
	/* tail is the last linked cell; is it the head too? */
	if (tail != atomic_load_explicit(&pool->head, memory_order_acquire))
		return NULL; /* a submitter is between exchange and link */
	push(pool, &pool->stub);
	next = atomic_load_explicit(&tail->next, memory_order_acquire);
	if (next != NULL) {
		pool->tail = next;
		return tail;
	}
	return NULL;
}

static struct baton__cell *
pop(baton_pool *pool)
{
	struct baton__cell *cell;

	baton__lock_acquire(&pool->consumers);
	cell = pop_locked(pool);
	baton__lock_release(&pool->consumers);
	return cell;
}

/* The cell the next pop would return, if linked.  Consumer lock held. */
static struct baton__cell *
peek_locked(baton_pool *pool)
{
	struct baton__cell *tail = pool->tail;

	if (tail != &pool->stub)
		return tail;
	/* acquire: pairs with the link store in push. */
	return atomic_load_explicit(&tail->next, memory_order_acquire);
}

void
baton__pool_reap(baton_pool *pool, int max)
{
	struct baton__cell *cell;

	if (pool == NULL || !baton__lock_try_acquire(&pool->consumers))
		return;
	while (max-- > 0 && (cell = peek_locked(pool)) != NULL &&
	       atomic_load_explicit(&cell->state, memory_order_relaxed) !=
		   BATON_TASK_QUEUED &&
	       (cell = pop_locked(pool)) != NULL) {
		/* Claimed by a helper long ago: only the queue's reference. */
		baton__lock_release(&pool->consumers);
		baton__cell_unref(cell);
		if (!baton__lock_try_acquire(&pool->consumers))
			return;
	}
	baton__lock_release(&pool->consumers);
}

int
baton__pool_submit(baton_pool *pool, struct baton__cell *cell)
{
	/* acquire: a pool seen closing stays closed. */
	if (atomic_load_explicit(&pool->closing, memory_order_acquire))
		return -EPIPE;
	atomic_store_explicit(&cell->pool, pool, memory_order_relaxed);
	/* The queue's reference, dropped by the worker that pops the cell. */
	baton__cell_ref(cell);
	atomic_fetch_add_explicit(&pool->spawned, 1, memory_order_relaxed);
	push(pool, cell);
	/*
	 * seq_cst: the other half of the Dekker pairs with idle_wait.  A
	 * spinning worker will see the new head, so the sleeping leader is
	 * left alone: a wake-up here costs the submitter a syscall and the
	 * pool two context switches for a task the spinner takes anyway.
	 */
	if (atomic_load_explicit(&pool->sleepers, memory_order_seq_cst) > 0 &&
	    !atomic_load_explicit(&pool->spinning, memory_order_seq_cst))
		baton__ec_signal(&pool->work);
	return 0;
}

static void
run_popped(struct baton__cell *cell)
{
	baton__cell_run(cell);
	baton__cell_unref(cell);
}

struct head_watch {
	baton_pool *pool;
	struct baton__cell *seen;
};

/* Whether the queue's head moved (a submission) or the pool is closing. */
static bool
head_moved(void *arg)
{
	struct head_watch *w = arg;

	/* relaxed: a hint; the pop that follows decides. */
	return atomic_load_explicit(&w->pool->head, memory_order_relaxed) !=
		w->seen ||
	    atomic_load_explicit(&w->pool->closing, memory_order_relaxed);
}

/* Sleeps until work may have arrived or the pool is closing. */
static void
idle_wait(baton_pool *pool)
{
	struct baton__deadline forever = { .infinite = true };
	struct head_watch watch = {
		pool, atomic_load_explicit(&pool->head, memory_order_relaxed)
	};
	struct baton__cell *cell;

	/*
	 * One idle worker watches for new work before parking (on the pool's
	 * adaptive budget), so a steady trickle of tasks never pays a futex
	 * wake; the others park at once rather than take CPU from the
	 * submitters.  relaxed: the flag only rations spinning.
	 */
	if (!atomic_exchange_explicit(&pool->spinning, true,
				      memory_order_relaxed)) {
		bool moved = baton__spin_until(&pool->idle_spin, head_moved,
					       &watch);

		/*
		 * seq_cst, and a last real look after it: a submitter that
		 * saw us spinning did not wake the leader, so either we find
		 * its cell here or it sees the flag down (Dekker pair).  A
		 * pop, not a glance at the head: a cell pushed before we took
		 * `seen` would not move the head again.
		 */
		atomic_store_explicit(&pool->spinning, false,
				      memory_order_seq_cst);
		if (moved)
			return;
		if ((cell = pop(pool)) != NULL) {
			run_popped(cell);
			return;
		}
	}
	if (baton__gate_enter(&pool->idle_gate, &forever) != 0)
		return; /* opened: closing */
	for (;;) {
		uint32_t ticket = ck_ec32_value(&pool->work);

		/* seq_cst: announce before the last look (Dekker pair). */
		atomic_fetch_add_explicit(&pool->sleepers, 1,
					  memory_order_seq_cst);
		cell = pop(pool);
		if (cell != NULL ||
		    atomic_load_explicit(&pool->closing, memory_order_acquire)) {
			atomic_fetch_sub_explicit(&pool->sleepers, 1,
						  memory_order_relaxed);
			break;
		}
		baton__ec_wait(&pool->work, ticket, &forever);
		atomic_fetch_sub_explicit(&pool->sleepers, 1,
					  memory_order_relaxed);
		cell = pop(pool);
		if (cell != NULL ||
		    atomic_load_explicit(&pool->closing, memory_order_acquire))
			break;
	}
	/* Leave first: the next idle worker takes over the watch. */
	baton__gate_leave(&pool->idle_gate);
	if (cell != NULL)
		run_popped(cell);
}

static void *
worker_main(void *arg)
{
	baton_pool *pool = arg;
	struct baton__cell *cell;
	bool closing;

	baton__thread_self()->worker = true;
	for (;;) {
		/*
		 * acquire: pairs with destroy's release; once closing is
		 * seen, the pops below see every submission made before it.
		 */
		closing = atomic_load_explicit(&pool->closing,
					       memory_order_acquire);
		while ((cell = pop(pool)) != NULL)
			run_popped(cell);
		if (closing)
			return NULL;
		idle_wait(pool);
	}
}

static void
stop_workers(baton_pool *pool, unsigned int started)
{
	/* release: workers that see closing see everything queued. */
	atomic_store_explicit(&pool->closing, true, memory_order_release);
	baton__gate_open(&pool->idle_gate);
	baton__ec_signal(&pool->work);
	for (unsigned int i = 0; i < started; i++)
		pthread_join(pool->threads[i], NULL);
}

int
baton_pool_create(baton_pool **out, unsigned int workers)
{
	baton_pool *pool;
	long cpus;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (workers > MAX_WORKERS)
		return -EINVAL;
	if (workers == 0) {
		cpus = sysconf(_SC_NPROCESSORS_ONLN);
		workers = cpus > 0 ? (unsigned int)cpus : 1;
	}
	pool = baton__aligned_alloc(CACHELINE, sizeof(*pool));
	if (pool == NULL)
		return -ENOMEM;
	memset(pool, 0, sizeof(*pool));
	pool->threads = baton__calloc(workers, sizeof(*pool->threads));
	if (pool->threads == NULL) {
		free(pool);
		return -ENOMEM;
	}
	atomic_init(&pool->head, &pool->stub);
	pool->tail = &pool->stub;
	atomic_init(&pool->stub.next, NULL);
	ck_ec32_init(&pool->work, 0);
	pool->nworkers = workers;
	for (unsigned int i = 0; i < workers; i++) {
		if (baton__pthread_create(&pool->threads[i], NULL,
					  worker_main, pool) != 0) {
			stop_workers(pool, i);
			free(pool->threads);
			free(pool);
			return -EAGAIN;
		}
	}
	*out = pool;
	return 0;
}

void
baton_pool_destroy(baton_pool *pool)
{
	if (pool == NULL)
		return;
	stop_workers(pool, pool->nworkers);
	free(pool->threads);
	free(pool);
}

static baton_pool *default_pool;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void
stop_one(struct baton__cell *cell, void *ctx)
{
	(void)ctx;
	baton__cell_request_stop(cell);
}

static void
destroy_default(void)
{
	baton__cell_for_each_live(default_pool, stop_one, NULL);
	baton_pool_destroy(default_pool);
	default_pool = NULL;
}

static void
create_default(void)
{
	if (baton_pool_create(&default_pool, 0) == 0)
		atexit(destroy_default);
}

baton_pool *
baton_pool_default(void)
{
	pthread_once(&default_once, create_default);
	return default_pool;
}

struct baton__spinner *
baton__pool_await_spinner(baton_pool *pool)
{
	return pool != NULL ? &pool->await_spin : NULL;
}

void
baton__pool_count_outcome(baton_pool *pool,
			  const struct baton_exit_reason *reason)
{
	if (pool == NULL)
		return;
	/* relaxed: counters order nothing. */
	atomic_fetch_add_explicit(reason->kind == BATON_EXIT_NORMAL
				      ? &pool->completed
				      : &pool->failed,
				  1, memory_order_relaxed);
}

void
baton__pool_count_cancel(baton_pool *pool)
{
	if (pool != NULL)
		atomic_fetch_add_explicit(&pool->cancelled, 1,
					  memory_order_relaxed);
}

static void
count_live(struct baton__cell *cell, void *ctx)
{
	(void)cell;
	(*(size_t *)ctx)++;
}

int
baton_pool_stats(baton_pool *pool, struct baton_pool_stats *out)
{
	if (pool == NULL || out == NULL)
		return -EINVAL;
	out->spawned = atomic_load_explicit(&pool->spawned,
					    memory_order_relaxed);
	out->completed = atomic_load_explicit(&pool->completed,
					      memory_order_relaxed);
	out->failed = atomic_load_explicit(&pool->failed,
					   memory_order_relaxed);
	out->cancelled = atomic_load_explicit(&pool->cancelled,
					      memory_order_relaxed);
	out->workers = pool->nworkers;
	out->live = 0;
	baton__cell_for_each_live(pool, count_live, &out->live);
	return 0;
}

struct list_ctx {
	struct baton_task_info *infos;
	size_t n, count;
};

static void
list_one(struct baton__cell *cell, void *arg)
{
	struct list_ctx *ctx = arg;

	if (ctx->count < ctx->n)
		baton__cell_info(cell, &ctx->infos[ctx->count++]);
}

ptrdiff_t
baton_pool_list(baton_pool *pool, struct baton_task_info *infos, size_t n)
{
	struct list_ctx ctx = { infos, n, 0 };

	if (pool == NULL || (infos == NULL && n > 0))
		return -EINVAL;
	baton__cell_for_each_live(pool, list_one, &ctx);
	return (ptrdiff_t)ctx.count;
}
