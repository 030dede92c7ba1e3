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
 * Idling and the watch: one idle worker at a time holds the pool's
 * watch and spins (about what a park and wake-up would cost) before it
 * parks, so an idle pool soon uses no CPU; the other
 * idle workers sleep: one leader on the `work` event count, the rest in
 * the idle gate (src/runtime/gate.c), each leave waking one more.  The watch
 * is one word: NULL (nobody watches), WATCHED (a worker watches), or a
 * cell a submitter handed straight to the watcher with one CAS, skipping
 * the queue, its lock and any wake-up.  A worker whose last body is
 * about to complete takes the watch before it publishes the result, so
 * an owner that sees the result and submits at once hands the next cell
 * over: the spawn-await ping-pong costs no syscall and few cache-line
 * transfers.  The watch is given back before the worker runs code of
 * the program's (a body, a callback, a destructor); a cell handed over
 * meanwhile is queued then.  Submitters that queue signal `work` only
 * when the leader sleeps and no idle watcher (one not already handed a
 * cell) will look at the queue.  Ending the watch (an
 * exchange) and the submitter's check are sequentially consistent around
 * the queue update (Dekker pairs), so either the watcher or the leader
 * sees each queued cell, or the submitter wakes the leader.
 *
 * Shutdown: `closing` makes new submissions fail with -EPIPE; the workers
 * run everything already queued, then exit; destroy joins them.  A task
 * that submits a subtask while its pool shuts down either gets -EPIPE or
 * pushes (or hands over: a watcher queues or runs what it holds before
 * it exits) before its own worker's final drain, so nothing is stranded;
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
	/*
	 * The idle watch: NULL when no worker watches; WATCHED(pool) when
	 * one idle worker spins, ready to take a cell; or a cell a submitter
	 * handed straight to that worker.  One line, one RMW each way.
	 */
	alignas(CACHELINE) _Atomic(struct baton__cell *) watch;

	/* Submitters: the head of the intrusive queue (the watcher polls it). */
	alignas(CACHELINE) _Atomic(struct baton__cell *) head;

	/* Submitters' counter, away from the lines idle workers poll. */
	alignas(CACHELINE) atomic_uint_fast64_t spawned;

	/* Read by every submitter, written when a worker sleeps or wakes. */
	alignas(CACHELINE) atomic_int sleepers;
	atomic_bool closing;

	/* Workers: the tail end, under the consumer lock. */
	alignas(CACHELINE) struct baton__lock consumers;
	struct baton__cell *tail;
	/* The last pop left the queue empty: a hint read without the lock. */
	atomic_bool drained;
	struct baton__cell stub;

	/* Idle workers. */
	alignas(CACHELINE) struct ck_ec32 work;
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

/*
 * How long the watcher spins before it parks: about what parking and
 * being woken costs here (a futex round trip is 30-60 us), so the spin
 * wastes at most what it can save.  Not adaptive: a budget that shrinks
 * after failed spins ends with the watcher parked for every task of a
 * spawn-await loop whose owner is a little slower than usual.
 */
#define WATCH_SPIN_NS 20000L

/* The watch's "a worker watches, nothing handed yet" mark: never queued. */
#define WATCHED(pool) (&(pool)->stub)

static void
push(baton_pool *pool, struct baton__cell *cell)
{
	struct baton__cell *prev;

	atomic_store_explicit(&cell->next, NULL, memory_order_relaxed);
	/*
	 * seq_cst: orders the cell's contents before its publication, and
	 * the head's move before the watch and sleepers checks that follow
	 * (Dekker pairs with idle_wait and baton__pool_watch_give_back).
	 */
	prev = atomic_exchange_explicit(&pool->head, cell, memory_order_seq_cst);
	/* seq_cst: the link must precede the sleepers check (Dekker pair). */
	atomic_store_explicit(&prev->next, cell, memory_order_seq_cst);
}

/* Unlinks one cell, or NULL if none is (fully) linked yet.  Lock held. */
static struct baton__cell *
take_locked(baton_pool *pool)
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

/* Pops one cell, or NULL; notes whether the queue was left empty.  Lock held. */
static struct baton__cell *
pop_locked(baton_pool *pool)
{
	struct baton__cell *cell = take_locked(pool);
	bool drained = cell == NULL || pool->tail == &pool->stub;

	/* relaxed: a hint (baton__pool_watch_take); written only on change. */
	if (atomic_load_explicit(&pool->drained, memory_order_relaxed) !=
	    drained)
		atomic_store_explicit(&pool->drained, drained,
				      memory_order_relaxed);
	return cell;
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
	struct baton__cell *watched = WATCHED(pool);

	/* acquire: a pool seen closing stays closed. */
	if (atomic_load_explicit(&pool->closing, memory_order_acquire))
		return -EPIPE;
	atomic_store_explicit(&cell->pool, pool, memory_order_relaxed);
	/* The queue's reference, dropped by the worker that runs the cell. */
	baton__cell_ref(cell);
	atomic_fetch_add_explicit(&pool->spawned, 1, memory_order_relaxed);
	/*
	 * A watching worker takes the cell from our hand: no queue, no
	 * wake-up.  seq_cst: publishes the cell's contents to the watcher's
	 * exchange, and orders against its giving the watch back.
	 */
	if (atomic_load_explicit(&pool->watch, memory_order_relaxed) ==
		watched &&
	    atomic_compare_exchange_strong_explicit(&pool->watch, &watched,
						    cell, memory_order_seq_cst,
						    memory_order_relaxed))
		return 0;
	push(pool, cell);
	/*
	 * seq_cst: the other half of the Dekker pairs with idle_wait and
	 * give-back.  An idle watcher (the watch still WATCHED, nothing
	 * handed to it) looks at the queue before it parks, so the sleeping
	 * leader is left alone: a wake-up here costs the submitter a syscall
	 * and the pool two context switches for a task the watcher takes
	 * anyway.  A watcher that was handed a cell is about to run it, so
	 * the leader is woken for ours.  And only once the leader has flagged
	 * the event count: until then its last look (queue_ready, below)
	 * still finds the cell, and the leader waking up takes ~50 us, in
	 * which hundreds of submitters would otherwise each bump the count.
	 */
	if (atomic_load_explicit(&pool->sleepers, memory_order_seq_cst) > 0 &&
	    atomic_load_explicit(&pool->watch, memory_order_seq_cst) !=
		WATCHED(pool))
		baton__ec_signal_waiters(&pool->work);
	return 0;
}

bool
baton__pool_pickup_soon(baton_pool *pool)
{
	/* relaxed: a hint for whether spinning may pay. */
	return pool != NULL &&
	    (atomic_load_explicit(&pool->watch, memory_order_relaxed) != NULL ||
	     atomic_load_explicit(&pool->sleepers, memory_order_relaxed) > 0);
}

/*
 * Takes up the watch if nobody holds it.  relaxed: the exchange in
 * watch_end orders what matters; a taker at publish is ordered before the
 * DONE it publishes by program order.
 */
static bool
watch_begin(baton_pool *pool)
{
	struct baton__cell *none = NULL;

	return atomic_compare_exchange_strong_explicit(
	    &pool->watch, &none, WATCHED(pool), memory_order_relaxed,
	    memory_order_relaxed);
}

/* Whether the queue looks empty: its head is the stub after the last pop. */
static bool
queue_looks_empty(baton_pool *pool, memory_order order)
{
	return atomic_load_explicit(&pool->head, order) == &pool->stub;
}

void
baton__pool_watch_take(struct baton__thread *self, baton_pool *pool)
{
	/*
	 * Only when the last pop left the queue empty (the consumers' own
	 * line: the head is the submitters'): otherwise the next pop finds
	 * work and nobody needs watching.  relaxed: the watch is taken before the
	 * DONE it precedes is published, so an owner that sees the result
	 * and submits finds the watch up and hands its cell over.
	 */
	if (pool == NULL ||
	    atomic_load_explicit(&pool->watch, memory_order_relaxed) != NULL ||
	    !atomic_load_explicit(&pool->drained, memory_order_relaxed) ||
	    !watch_begin(pool))
		return;
	self->watching = pool;
}

/*
 * Ends the watch: returns the cell handed over meanwhile, or NULL.
 * seq_cst: a submitter either handed its cell before this (returned
 * here) or finds the watch down and queues it, and then either sees no
 * watcher and wakes a sleeper, or queued before this and is seen by the
 * caller's look at the queue (Dekker pairs with submit).
 */
static struct baton__cell *
watch_end(baton_pool *pool)
{
	struct baton__cell *c = atomic_exchange_explicit(&pool->watch, NULL,
							 memory_order_seq_cst);

	return c == WATCHED(pool) ? NULL : c;
}

/* Wakes a sleeper if work is queued: this worker is off to run a body. */
static void
wake_for_queued(baton_pool *pool)
{
	/* seq_cst: after watch_end (Dekker pair, see there). */
	if (atomic_load_explicit(&pool->sleepers, memory_order_seq_cst) > 0 &&
	    !queue_looks_empty(pool, memory_order_seq_cst))
		baton__ec_signal_waiters(&pool->work);
}

void
baton__pool_watch_give_back(struct baton__thread *self)
{
	baton_pool *pool = self->watching;
	struct baton__cell *handed;

	if (pool == NULL)
		return;
	self->watching = NULL;
	/* A cell handed to us meanwhile goes to the queue for the others. */
	if ((handed = watch_end(pool)) != NULL)
		push(pool, handed);
	wake_for_queued(pool);
}

/* Runs a cell a worker took; the watch is not held across a body. */
static void
run_taken(struct baton__cell *cell)
{
	baton__pool_watch_give_back(baton__thread_self());
	baton__cell_run(cell);
	baton__cell_unref(cell);
}

/* What the watcher spins for: a handed cell, a queued one, or closing. */
static bool
watch_ready(void *arg)
{
	baton_pool *pool = arg;

	/* relaxed: hints; the exchange and the pop that follow decide. */
	return atomic_load_explicit(&pool->watch, memory_order_relaxed) !=
		WATCHED(pool) ||
	    !queue_looks_empty(pool, memory_order_relaxed) ||
	    atomic_load_explicit(&pool->closing, memory_order_relaxed);
}

/*
 * The leader's last look before it sleeps, made after it flagged `work`:
 * a submitter that saw no flag skipped the signal (Dekker pair).
 */
static bool
queue_ready(void *arg)
{
	baton_pool *pool = arg;

	return !queue_looks_empty(pool, memory_order_seq_cst) ||
	    atomic_load_explicit(&pool->closing, memory_order_acquire);
}

/* Sleeps until work may have arrived or the pool is closing. */
static void
idle_wait(baton_pool *pool)
{
	struct baton__deadline forever = { .infinite = true };
	struct baton__thread *self = baton__thread_self();
	struct baton__cell *cell;

	/*
	 * One idle worker watches for new work before parking (for
	 * WATCH_SPIN_NS), so a steady trickle of tasks never pays a futex
	 * wake; the others park at once rather than take CPU from the
	 * submitters.  It may hold the watch already (taken as its last body
	 * finished).
	 */
	if (self->watching == pool || watch_begin(pool)) {
		self->watching = NULL;
		baton__spin_until_ns(watch_ready, pool, WATCH_SPIN_NS);
		/*
		 * A cell handed over: run it at once.  Whoever queued behind
		 * it found the watch occupied and woke the leader (submit).
		 */
		if ((cell = watch_end(pool)) != NULL) {
			run_taken(cell);
			return;
		}
		/* A real look after watch_end: the spin's glance was relaxed. */
		if ((cell = pop(pool)) != NULL) {
			run_taken(cell);
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
		baton__ec_wait_until(&pool->work, ticket, &forever,
				     queue_ready, pool);
		atomic_fetch_sub_explicit(&pool->sleepers, 1,
					  memory_order_relaxed);
		cell = pop(pool);
		if (cell != NULL ||
		    atomic_load_explicit(&pool->closing, memory_order_acquire))
			break;
	}
	/* Leave first: the next idle worker takes over as the leader. */
	baton__gate_leave(&pool->idle_gate);
	if (cell != NULL)
		run_taken(cell);
}

static void *
worker_main(void *arg)
{
	baton_pool *pool = arg;
	struct baton__thread *self = baton__thread_self();
	struct baton__cell *cell;
	bool closing;

	self->worker = true;
	for (;;) {
		/*
		 * acquire: pairs with destroy's release; once closing is
		 * seen, the pops below see every submission made before it.
		 */
		closing = atomic_load_explicit(&pool->closing,
					       memory_order_acquire);
		while ((cell = pop(pool)) != NULL)
			run_taken(cell);
		if (closing) {
			if (self->watching == NULL)
				return NULL;
			/* A cell handed to us goes to the queue: drain again. */
			baton__pool_watch_give_back(self);
			continue;
		}
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
	atomic_init(&pool->drained, true);
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
