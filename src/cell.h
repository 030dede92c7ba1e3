/*
 * cell.h - internal: the refcounted result cell behind strict tasks and
 * shareable futures, and the per-thread record that owns tasks.
 */
#ifndef BATON_SRC_CELL_H
#define BATON_SRC_CELL_H

#include <ck_ec.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "baton/pool.h"
#include "baton/task.h"
#include "reason.h"
#include "wait.h"

/* cell->flags */
#define CELL_STOP 1u     /* asked to stop: shutdown, timeout, owner exit */
#define CELL_TAKEN 2u    /* the value was handed to someone */
#define CELL_NOLINK 4u   /* not stopped when its owner thread exits */
#define CELL_IN_BODY 16u /* a thread is inside the body (cancel_wait) */
#define CELL_BROKEN 32u  /* a promise dropped without completing */
#define CELL_CANCELLED 64u /* a future cancel: the body's result is void */
#define CELL_CANCEL_WON 128u /* it completed as cancelled by a cancel */
#define CELL_EXITED 256u /* baton_exit(NORMAL): exited, no value (task.c) */

/* cell->state beyond enum baton_task_state: one completer is filling it. */
#define CELL_COMPLETING 3u

/* A completion callback (cell.c runs and frees it). */
struct baton__callback {
	void (*fn)(struct baton__cell *cell, void *ctx);
	void *ctx;
	struct baton__callback *next;
};

struct baton__thread;
struct baton__exec;

/*
 * What a cell asks of the executor that runs it.  The executor (pool.c)
 * sets cell->exec at submit; the cell calls up only through these, never
 * by name, so the cell layer stands below the executor.
 */
struct baton__exec_ops {
	/* Drops up to max already-claimed cells from the front of its queue. */
	void (*reap)(struct baton__exec *ex, int max);
	/* Whether an idle worker will take the next queued cell soon. */
	bool (*pickup_soon)(struct baton__exec *ex);
	/* The adaptive spin budget of awaiters of its cells. */
	struct baton__spinner *(*await_spinner)(struct baton__exec *ex);
	/* A body ended with reason; a cell was asked to stop (counters). */
	void (*count_outcome)(struct baton__exec *ex,
			      const struct baton__reason *reason);
	void (*count_cancel)(struct baton__exec *ex);
};

struct baton__exec {
	const struct baton__exec_ops *ops;
};

/*
 * What the cell tells the thread running it (installed per thread by the
 * executor in its workers; cell.c calls them if set).
 *   publishing: a completion of `cell` is about to be made visible;
 *   program_code: the cell is about to run code of the program's (a
 *   callback, a destructor), which may block.
 */
struct baton__cell_thread_hooks {
	void (*publishing)(struct baton__cell_thread_hooks *h,
			   struct baton__cell *cell);
	void (*program_code)(struct baton__cell_thread_hooks *h);
};

/* Installs (NULL: removes) the calling thread's hooks. */
void baton__cell_set_thread_hooks(struct baton__cell_thread_hooks *h);

/*
 * Three cache lines, laid out by who writes them while an awaiter spins:
 * the run line changes as the body is claimed, run and completed; the
 * done line holds the event count awaiters poll, which the completer
 * touches once, so polling never steals the run line from the worker
 * mid-body; the owner line is the spawner's and the queue's.
 */
#define BATON__CACHELINE 64

struct baton__cell {
	/* --- The run line. --- */
	atomic_uint refs;
	atomic_uint state;            /* enum baton_task_state */
	atomic_uint flags;            /* CELL_* */
	/*
	 * The thread that started the cell (callers[0] of its chain; 0:
	 * none recorded).  Here, in the run line's padding, because the
	 * spawner writes this line at alloc anyway.
	 */
	_Atomic pid_t caller_tid;

	/* Completion callbacks; CALLBACKS_CLOSED once they have run. */
	alignas(8) _Atomic(struct baton__callback *) callbacks;

	/*
	 * The result: written by the one completer before state = DONE.
	 * Both reasons may own a text (reason.h): the cell releases them
	 * when its last reference goes.
	 */
	void *value;
	struct baton__reason reason;
	/* What baton_exit recorded: the body's thread only. */
	struct baton__reason body_reason;

	/* --- The done line: polled by awaiters, read-mostly otherwise. --- */
	alignas(BATON__CACHELINE) struct ck_ec32 done; /* bumped once, last */
	/*
	 * Set (release) just before `done` is bumped, after the callbacks
	 * ran: lets an awaiter see the completion without reading the run
	 * line.  DONE in `state` comes first and stays the truth.
	 */
	atomic_uint published;
	_Atomic(struct baton__exec *) exec; /* set at submit (pool.c) */

	/* The body, read by introspection concurrently: atomics. */
	_Atomic(baton_task_fn) fn;
	void *arg;
	_Atomic(const char *) label;
	baton_destroy_fn destroy;

	/*
	 * Called once on the completing thread right after DONE is
	 * published (supervisor children, stream items); set before the
	 * cell is submitted.
	 */
	void (*on_done)(struct baton__cell *cell, void *ctx);
	void *on_done_ctx;

	/* --- The owner line. --- */
	/*
	 * Bumped (by 2) when the cell is freed; odd while in use.  Handles
	 * carry the generation they were given, so a stale one is detected:
	 * cells are type-stable (never returned to malloc while baton runs).
	 */
	alignas(BATON__CACHELINE) _Atomic uint64_t gen;
	union {
		/* In use: the pool's submission queue (pool.c). */
		_Atomic(struct baton__cell *) next;
		/* Free: the free list (cell.c). */
		struct baton__cell *free_next;
	};

	/* Strict face: the owner thread and its list of owned cells. */
	_Atomic(struct baton__thread *) owner; /* read by non-owners */
	struct baton__cell *owned_prev, *owned_next; /* owner thread only */
	_Atomic pid_t owner_tid;
	bool listed; /* owner thread only: duplicate check in *_many calls */
	/* The strict handle was consumed: its copies are stale. */
	atomic_bool consumed;

	/* The body this one interrupted on its thread (helping); that thread only. */
	struct baton__cell *outer;
	/*
	 * The rest of the callers chain past caller_tid, out of line, only
	 * for a cell started inside a body (NULL otherwise); freed with the
	 * cell, under callers_lock (cell.c), so introspection never reads
	 * a freed chain.
	 */
	_Atomic(struct baton__callers *) callers;
};

/*
 * A cell's callers beyond callers[0] (Elixir's $callers, nearest first):
 * tids[0] started the body that started the cell, tids[1] started that
 * body's task, and so on.  Immutable once the cell is published.
 */
struct baton__callers {
	unsigned int n;
	bool truncated; /* older callers were dropped (BATON_CALLERS_MAX) */
	pid_t tids[BATON_CALLERS_MAX - 1];
};

/*
 * One per thread that uses baton, created on first use (thread.c): the
 * strict tasks it owns and the body it runs.  The executor keeps its own
 * per-worker record (pool.c) and the allocator its own cache (cell.c).
 */
struct baton__thread {
	pid_t tid;
	struct baton__cell *owned;    /* tasks started here, not consumed */
};

/* The body running on the calling thread, innermost; NULL if none. */
struct baton__cell *baton__cell_running(void);

/* The calling thread's record (thread-local storage; never NULL). */
struct baton__thread *baton__thread_self(void);

/*
 * Does now what thread exit would do for the calling thread (its owned
 * tasks become orphans, its cell cache goes back): for a thread that
 * must finish that work before it says it has gone (pool workers).
 */
void baton__thread_exit_now(void);

/* Adds / removes a cell from its owner's list: owner thread only. */
void baton__own(struct baton__thread *self, struct baton__cell *cell);
void baton__disown(struct baton__cell *cell);

/*
 * A fresh cell: one reference, state QUEUED, flags 0, fields zeroed.
 * NULL on allocation failure.
 */
struct baton__cell *baton__cell_alloc(void);

/*
 * A fresh cell that will run fn(arg): one reference, QUEUED, with its
 * label (introspection), the destructor of a value nobody takes, and
 * initial CELL_* flags.  NULL on allocation failure.
 */
struct baton__cell *baton__cell_alloc_body(baton_task_fn fn, void *arg,
					   const char *label,
					   baton_destroy_fn destroy,
					   unsigned int flags);

/*
 * Gives a fresh cell, not yet shared with another thread, its body (fn
 * may be NULL: none yet), label and destructor.
 */
void baton__cell_set_body(struct baton__cell *cell, baton_task_fn fn,
			  void *arg, const char *label,
			  baton_destroy_fn destroy);

/*
 * Records that the thread with kernel id `tid` (the caller's) is starting
 * a fresh cell, not yet submitted: callers[0] is tid and, if the calling
 * thread is running a body, the rest is that body's own chain (copied,
 * nearest first, at most BATON_CALLERS_MAX in all; older ones are dropped
 * and the chain marked truncated).  Without memory for the copy, only
 * callers[0] is kept (marked truncated): a chain is debugging data and
 * never fails a start.
 */
void baton__cell_set_callers(struct baton__cell *cell, pid_t tid);

/*
 * Gives a fresh cell the same callers chain as `from` (a live cell the
 * caller holds), replacing any it was given: a supervisor's restart
 * keeps its first start's chain.
 */
void baton__cell_copy_callers(struct baton__cell *cell,
			      struct baton__cell *from);

/*
 * A fresh cell already DONE with value (destroy frees it if nobody takes
 * it).  NULL on allocation failure (value stays the caller's).
 */
struct baton__cell *baton__cell_alloc_done(void *value,
					   baton_destroy_fn destroy);

/*
 * A fresh cell with no body, RUNNING: nobody may claim it to run;
 * completers race (a promise, a combinator's output, a continuation
 * waiting for its input).  NULL on allocation failure.
 */
struct baton__cell *baton__cell_alloc_pending(void);

/*
 * A pending cell whose input arrived goes back to QUEUED, so a worker
 * (or a helper) can run its body: RUNNING -> QUEUED, once.  False if a
 * completer (a cancel) won first.
 */
bool baton__cell_requeue(struct baton__cell *cell);

/*
 * After a successful baton__cell_claim_completion: completes the cell
 * as broken (a promise dropped, or an input that was) with reason, and
 * publishes it.
 */
void baton__cell_publish_broken(struct baton__cell *cell,
				const struct baton__reason *reason);

/*
 * After a successful baton__cell_claim_completion: completes the cell as
 * the failed (or broken) DONE cell `input` did: same reason, broken or
 * exited as it was; a text is shared (counted), never copied.  Publishes it.
 */
void baton__cell_publish_failure_of(struct baton__cell *cell,
				    const struct baton__cell *input);

/* Whether a DONE cell completed broken.  relaxed: read after DONE. */
static inline bool
baton__cell_is_broken(const struct baton__cell *cell)
{
	return atomic_load_explicit(&cell->flags, memory_order_relaxed) &
	    CELL_BROKEN;
}

/*
 * Whether a DONE cell failed: a reason other than NORMAL, or an exit
 * with reason NORMAL (baton_exit(NORMAL): no value, Elixir's
 * exit(:normal)).  relaxed: read after DONE.
 */
static inline bool
baton__cell_failed(const struct baton__cell *cell)
{
	return cell->reason.kind != BATON_EXIT_NORMAL ||
	    (atomic_load_explicit(&cell->flags, memory_order_relaxed) &
	     CELL_EXITED);
}

/*
 * Inside a body (its own thread): whether it called baton_exit or
 * baton_exitf, so that body_reason holds its exit.
 */
static inline bool
baton__cell_body_exited(const struct baton__cell *cell)
{
	return cell->body_reason.kind != BATON_EXIT_NORMAL ||
	    (atomic_load_explicit(&cell->flags, memory_order_relaxed) &
	     CELL_EXITED);
}

/* Returns the calling thread's cached free cells (its exit does it). */
void baton__cell_cache_flush(void);

/*
 * Asks for a cell's lines ahead of use (write: for writing), so a loop
 * over many cells overlaps their cache misses.  A hint; never faults.
 */
static inline void
baton__cell_prefetch(const struct baton__cell *cell, bool write)
{
	const char *p = (const char *)cell;

	if (write) {
		__builtin_prefetch(p, 1);
		__builtin_prefetch(p + BATON__CACHELINE, 1);
		__builtin_prefetch(p + 2 * BATON__CACHELINE, 1);
	} else {
		__builtin_prefetch(p);
		__builtin_prefetch(p + BATON__CACHELINE);
		__builtin_prefetch(p + 2 * BATON__CACHELINE);
	}
}

/*
 * Whether the completion is published, callbacks run (acquire: the
 * result is visible).  Reads only the done line; DONE in `state` comes
 * earlier.
 */
static inline bool
baton__cell_published(struct baton__cell *cell)
{
	return atomic_load_explicit(&cell->published, memory_order_acquire);
}

/* Releases a reference; the last one frees an untaken value and the cell. */
void baton__cell_unref(struct baton__cell *cell);

static inline struct baton__cell *
baton__cell_ref(struct baton__cell *cell)
{
	/* relaxed: the caller already holds a reference. */
	atomic_fetch_add_explicit(&cell->refs, 1, memory_order_relaxed);
	return cell;
}

/*
 * Runs the body if the cell is still QUEUED (claiming it), on the calling
 * thread, and completes the cell.  Returns whether this call ran it.
 */
bool baton__cell_run(struct baton__cell *cell);

/*
 * Completes a RUNNING cell with value and reason, once: false (nothing
 * changed) if another completer won.  Publishes DONE, runs on_done and
 * the callbacks, wakes waiters.  An owned reason's count passes to the
 * cell on true; on false the caller still holds it.
 */
bool baton__cell_settle(struct baton__cell *cell, void *value,
			const struct baton__reason *reason);

/*
 * The two halves of settle, for completers that set more than value and
 * reason (a promise sets the destructor): claim RUNNING -> COMPLETING
 * (false if another completer won), fill the result, then publish.
 */
bool baton__cell_claim_completion(struct baton__cell *cell);
void baton__cell_publish(struct baton__cell *cell);

/* The reason a cancelled future reports: SHUTDOWN, ECANCELED. */
extern const struct baton__reason baton__cancelled;

/*
 * Completes a RUNNING cell as cancelled by a cancel (CELL_CANCEL_WON),
 * once: false if another completer won.
 */
bool baton__cell_settle_cancelled(struct baton__cell *cell);

/*
 * Registers a callback; false if the cell has completed and its callbacks
 * already ran (the caller then runs it itself).
 */
bool baton__cell_add_callback(struct baton__cell *cell,
			      struct baton__callback *cb);

/*
 * Waits until the cell is DONE or the deadline passes (-ETIMEDOUT).  With
 * may_help, if the cell is still queued and the wait is unbounded or the
 * caller is a pool worker, runs it on the calling thread instead
 * (helping); that returns when the body does, even past the deadline.  A
 * wait on one of many cells passes may_help only when the executor
 * cannot run the cell elsewhere (baton__block_can_grow is false).
 */
int baton__cell_wait(struct baton__cell *cell,
		     const struct baton__deadline *deadline, bool may_help);

/*
 * Sets CELL_STOP and `also`; a queued cell will then never run its body.
 * Returns the flags as they were (CELL_IN_BODY: a body is running).
 */
unsigned int baton__cell_stop(struct baton__cell *cell, unsigned int also);

static inline void
baton__cell_request_stop(struct baton__cell *cell)
{
	(void)baton__cell_stop(cell, 0);
}

/*
 * Asks the cell to stop, then claims it if still queued: it completes as
 * SHUTDOWN without running its body, on this thread.  True if this call
 * claimed it; a body that a worker holds is left to finish.
 */
static inline bool
baton__cell_stop_queued(struct baton__cell *cell)
{
	baton__cell_request_stop(cell);
	return baton__cell_run(cell);
}

/*
 * Ends a cell the caller holds a reference on, now: asks it to stop, then
 * claims it if still queued (it completes as SHUTDOWN without running its
 * body, on this thread), else settles it with `reason`, abandoning a body
 * that a worker holds.  The stop comes first, so a body that has not yet
 * been entered never is (baton__cell_run sees CELL_STOP), and a body that
 * is still running when on_done sees the cell DONE shows CELL_IN_BODY
 * (baton__cell_in_body).  A completion that wins the race stands, and
 * is waited for: on return the cell is published (on_done and the
 * callbacks have run), on whichever thread completed it.  Blocks only
 * for that other thread's publish.
 */
void baton__cell_kill(struct baton__cell *cell,
		      const struct baton__reason *reason);

/*
 * Whether a thread is inside the cell's body (acquire: a body that has
 * ended, ended before).  From on_done after an outside completion: true
 * means the body still runs and may touch what its arg points to.
 */
static inline bool
baton__cell_in_body(struct baton__cell *cell)
{
	return atomic_load_explicit(&cell->flags, memory_order_acquire) &
	       CELL_IN_BODY;
}

/*
 * Hands a DONE cell's outcome over: 0 with the value (marking it taken, if
 * value is not NULL), or BATON_EXITED with the reason exported (reason.h)
 * into *reason; -EPIPE if broken.  *reason is written on BATON_EXITED only.
 */
int baton__cell_outcome(struct baton__cell *cell, void **value,
			struct baton_exit_reason *reason);

/* Fills a task info snapshot from a live cell. */
void baton__cell_info(struct baton__cell *cell, struct baton_task_info *info);

/*
 * Calls fn for every live cell run by ex (NULL: every live cell), with
 * the generation it was seen live at.  The cell may be freed and reused
 * while fn reads it: fn checks baton__cell_still_live before it trusts
 * what it read.
 */
void baton__cell_for_each_live(struct baton__exec *ex,
			       void (*fn)(struct baton__cell *, uint64_t gen,
					  void *),
			       void *ctx);

/*
 * The fences of that seqlock.  GCC refuses atomic_thread_fence under
 * -fsanitize=thread (TSan does not model fences); every read they order
 * is an atomic, so TSan has no race to see, and on x86, where CI's TSan
 * build runs, loads and stores keep program order: a compiler barrier
 * stands in.
 */
#if defined(__SANITIZE_THREAD__)
#define BATON__SEQ_FENCE(order) atomic_signal_fence(order)
#else
#define BATON__SEQ_FENCE(order) atomic_thread_fence(order)
#endif

/*
 * After reading a cell's fields (atomics) that for_each_live showed live
 * at gen: whether they all belong to that life, not to a later one (a
 * seqlock's check; cell_alloc's release fence is the writer's half).
 */
static inline bool
baton__cell_still_live(const struct baton__cell *cell, uint64_t gen)
{
	/* acquire fence: the reads above come before the generation's. */
	BATON__SEQ_FENCE(memory_order_acquire);
	return atomic_load_explicit(&cell->gen, memory_order_relaxed) == gen;
}

/*
 * fork(): the allocator's shared free list is locked across the fork, so
 * the child never inherits it mid-update (pool.c's atfork handlers).
 */
void baton__cell_fork_prepare(void);
void baton__cell_fork_done(void);

#endif /* BATON_SRC_CELL_H */
