/*
 * pool.c - the executor: worker threads, the submission queue, idling,
 * creation and shutdown.
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
 * front of the queue (the reap op the pool gives its cells), never
 * running anyone else's.
 *
 * Idling and the watch: one idle worker at a time holds the pool's
 * watch and spins (about what a park and wake-up would cost, yielding the
 * CPU between glances: watch_spin) before it parks, so an idle pool soon
 * uses no CPU; the other
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
 * run everything already queued, then exit; destroy waits for them.  A task
 * that submits a subtask while its pool shuts down either gets -EPIPE or
 * pushes (or hands over: a watcher queues or runs what it holds before
 * it exits) before its own worker's final drain, so nothing is stranded;
 * submitting from outside the pool while destroying it is the caller's
 * race (documented).  A completion that submits a continuation while
 * another thread destroys the pool checks `closing` again after its push:
 * if the pool closed meanwhile, it runs what is left itself, and destroy
 * does the same once its workers are gone, so a push that landed after
 * the workers' final drain is never stranded.  A pool is refcounted:
 * what binds work to a pool past the call that named it (a continuation,
 * a callback, a stream, a supervisor) holds a reference, so a destroyed
 * pool's memory stays valid for them and their submissions get -EPIPE
 * (then run inline).
 *
 * Threads beyond the base and the monitor that adds them: growth.c.  The
 * default pool, exit and fork: default_pool.c.
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "executor.h"

/*
 * Bumped in the child after every fork (default_pool.c): a pool made
 * before it has no threads in the child.
 */
atomic_uint baton__pool_fork_gen;

/* The worker record of the calling thread, if it is a pool worker. */
static _Thread_local struct worker *self_worker
    __attribute__((tls_model("initial-exec")));

static void
push(baton_pool *pool, struct baton__cell *cell)
{
	struct baton__cell *prev;

	atomic_store_explicit(&cell->next, NULL, memory_order_relaxed);
	/*
	 * seq_cst: orders the cell's contents before its publication, and
	 * the head's move before the watch and sleepers checks that follow
	 * (Dekker pairs with idle_wait and watch_give_back).
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

	/* relaxed: an estimate for the monitor; the lock serialises writers. */
	if (cell != NULL)
		atomic_store_explicit(
		    &pool->popped,
		    atomic_load_explicit(&pool->popped, memory_order_relaxed) + 1,
		    memory_order_relaxed);

	/* relaxed: a hint (watch_take); written only on change. */
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

static void
exec_reap(struct baton__exec *ex, int max)
{
	baton_pool *pool = POOL_OF(ex);
	struct baton__cell *cell;

	if (!baton__lock_try_acquire(&pool->consumers))
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

/*
 * Runs what is left in a closed pool's queue on this thread: for a
 * submitter that saw `closing` only after its push (its cell may have
 * landed after the workers' final drain), and for destroy once its
 * workers have gone.  A cell between a submitter's exchange and its link
 * is waited for: that submitter is about to finish.
 */
static void
drain_closed(baton_pool *pool)
{
	struct baton__cell *cell;

	for (;;) {
		if ((cell = pop(pool)) != NULL) {
			baton__cell_run(cell);
			baton__cell_unref(cell); /* the queue's reference */
			continue;
		}
		/* seq_cst: as the push's exchange. */
		if (queue_looks_empty(pool, memory_order_seq_cst))
			return;
		sched_yield();
	}
}

int
baton__pool_submit(baton_pool *pool, struct baton__cell *cell)
{
	struct baton__cell *watched = WATCHED(pool);

	/* acquire: a pool seen closing stays closed. */
	if (atomic_load_explicit(&pool->closing, memory_order_acquire))
		return -EPIPE;
	/* relaxed: only this process's own fork handler changes it. */
	if (pool->fork_gen != atomic_load_explicit(&baton__pool_fork_gen,
						   memory_order_relaxed))
		return -ECHILD; /* made before fork: no threads here */
	/* release: introspection that sees the pool sees the callers set
	 * before (baton__cell_for_each_live). */
	atomic_store_explicit(&cell->exec, &pool->exec, memory_order_release);
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
	 * seq_cst: after the push (Dekker pair with stop_workers' store).  A
	 * pool that closed meanwhile may have drained before our cell was
	 * linked: whatever is left runs here (a continuation or callback
	 * bound to the pool holds a reference, so the pool is still ours).
	 */
	if (atomic_load_explicit(&pool->closing, memory_order_seq_cst)) {
		drain_closed(pool);
		return 0;
	}
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

static bool
exec_pickup_soon(struct baton__exec *ex)
{
	baton_pool *pool = POOL_OF(ex);

	/* relaxed: a hint for whether spinning may pay. */
	return atomic_load_explicit(&pool->watch, memory_order_relaxed) !=
		NULL ||
	    atomic_load_explicit(&pool->sleepers, memory_order_relaxed) > 0;
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

static void
watch_take(struct worker *self, baton_pool *pool)
{
	/*
	 * Only when the last pop left the queue empty (the consumers' own
	 * line: the head is the submitters'): otherwise the next pop finds
	 * work and nobody needs watching.  relaxed: the watch is taken before the
	 * DONE it precedes is published, so an owner that sees the result
	 * and submits finds the watch up and hands its cell over.
	 */
	if (atomic_load_explicit(&pool->watch, memory_order_relaxed) != NULL ||
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

static void
watch_give_back(struct worker *self)
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

static struct baton__spinner *
exec_await_spinner(struct baton__exec *ex)
{
	return &POOL_OF(ex)->await_spin;
}

static void
exec_count_outcome(struct baton__exec *ex,
		   const struct baton__reason *reason)
{
	baton_pool *pool = POOL_OF(ex);

	/* relaxed: counters order nothing. */
	atomic_fetch_add_explicit(reason->kind == BATON_EXIT_NORMAL
				      ? &pool->completed
				      : &pool->failed,
				  1, memory_order_relaxed);
}

static void
exec_count_cancel(struct baton__exec *ex)
{
	atomic_fetch_add_explicit(&POOL_OF(ex)->cancelled, 1,
				  memory_order_relaxed);
}

static const struct baton__exec_ops exec_ops = {
	.reap = exec_reap,
	.pickup_soon = exec_pickup_soon,
	.await_spinner = exec_await_spinner,
	.count_outcome = exec_count_outcome,
	.count_cancel = exec_count_cancel,
};

#define WORKER_OF_CELL_HOOKS(h) \
	((struct worker *)((char *)(h) - offsetof(struct worker, cell_hooks)))

/*
 * The outermost body's completion is about to show: take the watch now
 * (watch_take), so the owner's next submission is handed over.  Not when
 * the cell has an on_done (program code runs before the result shows).
 */
static void
cell_publishing(struct baton__cell_thread_hooks *h, struct baton__cell *cell)
{
	struct worker *w = WORKER_OF_CELL_HOOKS(h);

	if (w->finishing == cell && cell->on_done == NULL)
		watch_take(w, w->pool);
}

/* Program code may block: the watch is never held across it. */
static void
cell_program_code(struct baton__cell_thread_hooks *h)
{
	watch_give_back(WORKER_OF_CELL_HOOKS(h));
}

/* Runs a cell a worker took; the watch is not held across a body. */
static void
run_taken(struct worker *w, struct baton__cell *cell)
{
	watch_give_back(w);
	/* relaxed: the worker's own line; the monitor reads it racily. */
	atomic_store_explicit(&w->bodies,
			      atomic_load_explicit(&w->bodies,
						   memory_order_relaxed) + 1,
			      memory_order_relaxed);
	atomic_store_explicit(&w->state, W_RUNNING, memory_order_relaxed);
	w->finishing = cell;
	baton__cell_run(cell);
	w->finishing = NULL;
	if (atomic_exchange_explicit(&w->state, W_IDLE,
				     memory_order_relaxed) == W_STUCK)
		atomic_fetch_sub_explicit(&w->pool->blocked, 1,
					  memory_order_relaxed);
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
 * The watch's spin.  A watcher is speculation: it bets that work comes
 * before a park and wake-up would pay off, so after a first unbroken
 * glance (an owner that submits as soon as it sees a result meets it
 * there, as before) it yields the CPU between short glances rather than
 * hold it for the whole watch.  With a thread of the program runnable on
 * the same CPU (a submitter's peer, the process at the other end of a
 * segment's queue), holding it made that thread wait out the watch: on
 * two vCPUs the cross-process handoff round trip took 75-118 us, each
 * side's watcher taking the CPU its peer needed, and takes 28-39 us with
 * the yields (bench_xproc, same runs).  sched_yield returns at once when
 * nothing else is runnable.  The clock is read only after the first
 * glance: before it, the read alone cost the spawn-await loop ~90 ns.
 */
static void
watch_spin(baton_pool *pool)
{
	int64_t end;

	if (baton__spin_until_ns(watch_ready, pool, WATCH_FIRST_NS))
		return;
	end = baton__mono_ns() + WATCH_SPIN_NS - WATCH_FIRST_NS;
	for (;;) {
		if (baton__spin_until_ns(watch_ready, pool, WATCH_GLANCE_NS))
			return;
		if (baton__mono_ns() >= end)
			return;
		sched_yield();
	}
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

/*
 * Takes one thread out of the pool if it has more than its base: the
 * caller then exits.  Under reg, so destroy sees the count and the list
 * agree.
 */
static bool
try_retire(struct worker *w)
{
	baton_pool *pool = w->pool;
	bool retire;

	pthread_mutex_lock(&pool->reg);
	retire = atomic_load_explicit(&pool->threads, memory_order_relaxed) >
	    pool->base;
	if (retire) {
		atomic_fetch_sub_explicit(&pool->threads, 1,
					  memory_order_relaxed);
		atomic_fetch_add_explicit(&pool->retired, 1,
					  memory_order_relaxed);
	}
	pthread_mutex_unlock(&pool->reg);
	return retire;
}

/* The deadline an idle thread parks to: keep-alive if it is an extra. */
static struct baton__deadline
idle_deadline(baton_pool *pool)
{
	struct baton__deadline d = { .infinite = true };
	struct timespec now;

	/* relaxed: a stale count only delays or hastens a retirement check. */
	if (atomic_load_explicit(&pool->threads, memory_order_relaxed) >
	    pool->base) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		d.infinite = false;
		d.at = baton__timespec_add_ms(now,
					      pool->keep_alive_ns / 1000000);
	}
	return d;
}

/* Left the parked idle: count it and let the monitor look again. */
static void
unpark(baton_pool *pool)
{
	/* seq_cst: before wake_monitor's flag check (Dekker pair). */
	atomic_fetch_sub_explicit(&pool->parked, 1, memory_order_seq_cst);
	baton__pool_wake_monitor(pool);
}

/*
 * Sleeps until work may have arrived or the pool is closing.  Returns
 * false if this thread retired (its keep-alive passed with nothing to
 * do, and the pool has more than its base).
 */
static bool
idle_wait(struct worker *w)
{
	baton_pool *pool = w->pool;
	struct baton__deadline deadline;
	struct baton__cell *cell;
	int r;

	/*
	 * One idle worker watches for new work before parking (for
	 * WATCH_SPIN_NS), so a steady trickle of tasks never pays a futex
	 * wake; the others park at once rather than take CPU from the
	 * submitters.  It may hold the watch already (taken as its last body
	 * finished).
	 */
	if (w->watching == pool || watch_begin(pool)) {
		w->watching = NULL;
		watch_spin(pool);
		/*
		 * A cell handed over: run it at once.  Whoever queued behind
		 * it found the watch occupied and woke the leader (submit).
		 */
		if ((cell = watch_end(pool)) != NULL) {
			/* relaxed: an estimate (queued_estimate). */
			atomic_fetch_add_explicit(&pool->handed, 1,
						  memory_order_relaxed);
			run_taken(w, cell);
			return true;
		}
		/* A real look after watch_end: the spin's glance was relaxed. */
		if ((cell = pop(pool)) != NULL) {
			run_taken(w, cell);
			return true;
		}
	}
	deadline = idle_deadline(pool);
	/* seq_cst: counted before the monitor's all-parked check. */
	atomic_fetch_add_explicit(&pool->parked, 1, memory_order_seq_cst);
	r = baton__gate_enter(&pool->idle_gate, &deadline);
	if (r != 0) {
		unpark(pool);
		/* -EPIPE: opened, closing; -ETIMEDOUT: kept alive long enough. */
		return r == -EPIPE || !try_retire(w);
	}
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
		r = baton__ec_wait_until(&pool->work, ticket, &deadline,
					 queue_ready, pool);
		atomic_fetch_sub_explicit(&pool->sleepers, 1,
					  memory_order_relaxed);
		cell = pop(pool);
		if (cell != NULL ||
		    atomic_load_explicit(&pool->closing, memory_order_acquire))
			break;
		if (r == -ETIMEDOUT) {
			/* Leave first: the next idle worker takes over. */
			baton__gate_leave(&pool->idle_gate);
			unpark(pool);
			return !try_retire(w);
		}
	}
	/* Leave first: the next idle worker takes over as the leader. */
	baton__gate_leave(&pool->idle_gate);
	unpark(pool);
	if (cell != NULL)
		run_taken(w, cell);
	return true;
}

static void
worker_register(struct worker *w)
{
	baton_pool *pool = w->pool;

	pthread_mutex_lock(&pool->reg);
	w->prev = NULL;
	w->next = pool->workers;
	if (pool->workers != NULL)
		pool->workers->prev = w;
	pool->workers = w;
	/* relaxed: under reg; the monitor reads it for an estimate. */
	atomic_fetch_add_explicit(&pool->listed, 1, memory_order_relaxed);
	pthread_mutex_unlock(&pool->reg);
}

/* Unlists the worker; `counted`: its thread slot is still held. */
static void
worker_unregister(struct worker *w, bool counted)
{
	baton_pool *pool = w->pool;

	pthread_mutex_lock(&pool->reg);
	/* The monitor may be reading this record and its neighbours. */
	while (pool->scanning)
		pthread_cond_wait(&pool->scan_done, &pool->reg);
	atomic_fetch_sub_explicit(&pool->listed, 1, memory_order_relaxed);
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		pool->workers = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	if (counted)
		atomic_fetch_sub_explicit(&pool->threads, 1,
					  memory_order_relaxed);
	if (atomic_load_explicit(&pool->threads, memory_order_relaxed) == 0 &&
	    pool->workers == NULL)
		pthread_cond_broadcast(&pool->exited);
	/* Nothing of the pool's is touched after this unlock. */
	pthread_mutex_unlock(&pool->reg);
}


static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	baton_pool *pool = w->pool;
	struct baton__cell *cell;
	bool closing, retired = false;

	self_worker = w;
	w->has_clock = pthread_getcpuclockid(pthread_self(),
					     &w->cpu_clock) == 0;
	baton__pool_block_hook_init(w);
	w->cell_hooks = (struct baton__cell_thread_hooks){ cell_publishing,
							   cell_program_code };
	baton__cell_set_thread_hooks(&w->cell_hooks);
	/* The tree first: registering may wait for the monitor's scan. */
	baton__pool_pay_spawn_debt(pool);
	worker_register(w);
	for (;;) {
		/*
		 * acquire: pairs with destroy's release; once closing is
		 * seen, the pops below see every submission made before it.
		 */
		closing = atomic_load_explicit(&pool->closing,
					       memory_order_acquire);
		while ((cell = pop(pool)) != NULL)
			run_taken(w, cell);
		if (closing) {
			if (w->watching == NULL)
				break;
			/* A cell handed to us goes to the queue: drain again. */
			watch_give_back(w);
			continue;
		}
		if (!idle_wait(w)) {
			retired = true;
			break;
		}
	}
	baton__block_hook_set(NULL);
	baton__cell_set_thread_hooks(NULL);
	self_worker = NULL;
	/*
	 * Orphans of tasks this thread started, and its cell cache, now:
	 * the thread-exit destructor would run them after the pool may be
	 * gone.  Then it unlists itself and touches the pool no more
	 * (detached: nobody joins it).
	 */
	baton__thread_exit_now();
	worker_unregister(w, !retired);
	free(w);
	return NULL;
}

/* Closes the pool and waits for its threads. */
static void
stop_workers(baton_pool *pool)
{
	/*
	 * seq_cst: workers that see closing see everything queued, and a
	 * submitter whose push comes later sees closing (baton__pool_submit).
	 */
	atomic_store_explicit(&pool->closing, true, memory_order_seq_cst);
	baton__gate_open(&pool->idle_gate);
	baton__ec_signal(&pool->work);
	baton__ec_signal(&pool->monitor_ev);
	if (pool->has_monitor)
		pthread_join(pool->monitor, NULL);
	pthread_mutex_lock(&pool->reg);
	while (atomic_load_explicit(&pool->threads, memory_order_relaxed) > 0 ||
	       pool->workers != NULL)
		pthread_cond_wait(&pool->exited, &pool->reg);
	pthread_mutex_unlock(&pool->reg);
	/* A push that raced the workers' final drain. */
	drain_closed(pool);
}

void
baton__pool_close_at_exit(baton_pool *pool)
{
	/* release: as in stop_workers. */
	atomic_store_explicit(&pool->closing, true, memory_order_release);
	baton__ec_signal(&pool->monitor_ev);
	if (pool->has_monitor) {
		/* It runs no program code: it ends at its next look. */
		pthread_join(pool->monitor, NULL);
		pool->has_monitor = false;
	}
}

static void
pool_free(baton_pool *pool)
{
	pthread_cond_destroy(&pool->scan_done);
	pthread_cond_destroy(&pool->exited);
	pthread_mutex_destroy(&pool->reg);
	free(pool);
}

void
baton__pool_ref(baton_pool *pool)
{
	/* relaxed: the caller holds a reference already. */
	if (pool != NULL)
		atomic_fetch_add_explicit(&pool->refs, 1,
					  memory_order_relaxed);
}

void
baton__pool_unref(baton_pool *pool)
{
	/* acq_rel: the last holder sees every use of the pool. */
	if (pool != NULL && atomic_fetch_sub_explicit(&pool->refs, 1,
						      memory_order_acq_rel) ==
				1)
		pool_free(pool);
}

/* The base threads opts asks for (BATON_POOL_AUTO: one per CPU). */
static unsigned int
base_of(const struct baton_pool_opts *opts)
{
	long cpus;

	if (opts->workers != BATON_POOL_AUTO)
		return opts->workers;
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	return cpus > 0 ? (unsigned int)cpus : 1;
}

int
baton__pool_opts_check(const struct baton_pool_opts *opts)
{
	if (opts == NULL || opts->workers == 0 ||
	    (opts->workers > MAX_WORKERS && opts->workers != BATON_POOL_AUTO) ||
	    opts->keep_alive_ms < 0 || opts->stack_size == 0 ||
	    (opts->stack_size < (size_t)PTHREAD_STACK_MIN) ||
	    (opts->detect_ms < 1 && opts->detect_ms != BATON_INFINITY) ||
	    opts->detect_ms > 60000 ||
	    (opts->max_threads != BATON_POOL_AUTO &&
	     opts->max_threads < base_of(opts)))
		return -EINVAL;
	return 0;
}

int
baton_pool_create_opts(baton_pool **out, const struct baton_pool_opts *opts)
{
	static const struct baton_pool_opts defaults = BATON_POOL_OPTS_INIT;
	baton_pool *pool;
	unsigned int workers;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (opts == NULL)
		opts = &defaults;
	if (baton__pool_opts_check(opts) != 0)
		return -EINVAL;
	workers = base_of(opts);
	pool = baton__aligned_alloc(CACHELINE, sizeof(*pool));
	if (pool == NULL)
		return -ENOMEM;
	memset(pool, 0, sizeof(*pool));
	atomic_init(&pool->head, &pool->stub);
	atomic_init(&pool->drained, true);
	pool->tail = &pool->stub;
	atomic_init(&pool->stub.next, NULL);
	ck_ec32_init(&pool->work, 0);
	ck_ec32_init(&pool->monitor_ev, 0);
	atomic_init(&pool->refs, 1);
	pool->exec.ops = &exec_ops;
	pool->worker_main = worker_main;
	pool->fork_gen = atomic_load_explicit(&baton__pool_fork_gen,
					      memory_order_relaxed);
	pool->base = workers;
	pool->max_threads = opts->max_threads != BATON_POOL_AUTO
	    ? opts->max_threads
	    : baton__pool_default_ceiling(workers);
	if (pool->max_threads < workers)
		pool->max_threads = workers;
	pool->keep_alive_ns = (long)opts->keep_alive_ms * 1000000L;
	pool->stuck_ns = opts->detect_ms == BATON_INFINITY
	    ? 0
	    : (long)opts->detect_ms * 1000000L;
	pool->stack_size = opts->stack_size == BATON_POOL_STACK_AUTO
	    ? 0
	    : opts->stack_size;
	if (pthread_mutex_init(&pool->reg, NULL) != 0)
		goto no_reg;
	if (pthread_cond_init(&pool->exited, NULL) != 0)
		goto no_exited;
	if (pthread_cond_init(&pool->scan_done, NULL) != 0)
		goto no_scan_done;
	/* A fixed pool (max_threads == workers) needs no monitor. */
	if (baton__pool_grow(pool, workers) < workers ||
	    (pool->max_threads > workers &&
	     baton__pthread_create(&pool->monitor, NULL,
				   baton__pool_monitor_main,
				   pool) != 0)) {
		stop_workers(pool);
		pool_free(pool);
		return -EAGAIN;
	}
	pool->has_monitor = pool->max_threads > workers;
	*out = pool;
	return 0;

no_scan_done:
	pthread_cond_destroy(&pool->exited);
no_exited:
	pthread_mutex_destroy(&pool->reg);
no_reg:
	free(pool);
	return -ENOMEM;
}

int
baton_pool_create(baton_pool **out, unsigned int workers)
{
	struct baton_pool_opts opts = BATON_POOL_OPTS_INIT;

	if (out != NULL)
		*out = NULL;
	if (workers > MAX_WORKERS)
		return -EINVAL;
	/* A fixed pool: exactly the threads asked for (0: one per CPU). */
	if (workers == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		workers = cpus > 0 ? (unsigned int)cpus : 1;
	}
	opts.workers = workers;
	opts.max_threads = workers;
	return baton_pool_create_opts(out, &opts);
}

int
baton_pool_destroy(baton_pool *pool)
{
	if (pool == NULL)
		return 0;
	if (pool->is_default)
		return -EINVAL;
	if (baton__pool_is_own_thread(pool))
		return -EDEADLK;
	stop_workers(pool);
	baton__pool_unref(pool);
	return 0;
}

static void
count_live(struct baton__cell *cell, uint64_t gen, void *ctx)
{
	(void)cell;
	(void)gen;
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
	out->workers = pool->base;
	out->max_threads = pool->max_threads;
	out->threads = atomic_load_explicit(&pool->threads,
					    memory_order_relaxed);
	out->peak_threads = atomic_load_explicit(&pool->peak,
						 memory_order_relaxed);
	out->retired = atomic_load_explicit(&pool->retired,
					    memory_order_relaxed);
	out->blocked = atomic_load_explicit(&pool->blocked,
					    memory_order_relaxed);
	out->spawn_failed = atomic_load_explicit(&pool->spawn_failed,
						 memory_order_relaxed);
	out->detected = atomic_load_explicit(&pool->detected,
					     memory_order_relaxed);
	out->live = 0;
	baton__cell_for_each_live(&pool->exec, count_live, &out->live);
	return 0;
}

struct list_ctx {
	struct baton_task_info *infos;
	size_t n, count;
};

static void
list_one(struct baton__cell *cell, uint64_t gen, void *arg)
{
	struct list_ctx *ctx = arg;

	if (ctx->count >= ctx->n)
		return;
	baton__cell_info(cell, &ctx->infos[ctx->count]);
	/*
	 * Freed and reused while we copied it: the snapshot mixes two lives
	 * (a new task's cleared chain under an old one's pool, say), so the
	 * slot is reused for the next cell.  task_race's callers scenario
	 * saw a chain of 0 under TSan before this check.
	 */
	if (baton__cell_still_live(cell, gen))
		ctx->count++;
}

ptrdiff_t
baton_pool_list(baton_pool *pool, struct baton_task_info *infos, size_t n)
{
	struct list_ctx ctx = { infos, n, 0 };

	if (pool == NULL || (infos == NULL && n > 0))
		return -EINVAL;
	baton__cell_for_each_live(&pool->exec, list_one, &ctx);
	return (ptrdiff_t)ctx.count;
}

bool
baton__pool_is_own_thread(baton_pool *pool)
{
	return self_worker != NULL && self_worker->pool == pool;
}

