/*
 * task_internal.h - internal: what task.c shares with the files that build
 * on strict tasks (task_many.c, stream.c, supervisor.c).
 */
#ifndef BATON_SRC_TASK_INTERNAL_H
#define BATON_SRC_TASK_INTERNAL_H

#include "cell.h"

/* Handle -> live cell, or -EINVAL / -ESTALE. */
int baton__task_resolve(const baton_task *task, struct baton__cell **out);
/* As above, and the caller must own it: -EDEADLK, -EPERM. */
int baton__task_resolve_owned(const baton_task *task,
			      struct baton__cell **out);
/* Disowns, zeroes the handle, drops the handle's reference. */
void baton__task_consume(baton_task *task, struct baton__cell *cell);
/*
 * A new cell for fn(arg) with opts and CELL_* flags, not yet submitted;
 * *pool is where it goes.  -EINVAL (fn NULL), -ENOMEM.
 */
int baton__task_prepare(struct baton__cell **out, baton_pool **pool,
			baton_task_fn fn, void *arg,
			const struct baton_task_opts *opts, unsigned int flags);
/* Submits a prepared cell; on failure disowns and frees it (-EPIPE). */
int baton__task_submit(baton_pool *pool, struct baton__cell *cell);
/*
 * Allocates and submits a cell running fn(arg): *out holds the caller's
 * reference.  owned: the calling thread owns it (a strict task), and if
 * the thread traps exits, the task is linked to it (link.c).
 */
int baton__spawn_cell(struct baton__cell **out, baton_task_fn fn, void *arg,
		      const struct baton_task_opts *opts, bool owned,
		      unsigned int flags);
/* Starts an owned task with extra CELL_* flags (e.g. CELL_NOLINK). */
int baton__task_spawn(baton_task *out, baton_task_fn fn, void *arg,
		      const struct baton_task_opts *opts, unsigned int flags);
/* 0 once the cell is DONE, -ETIMEDOUT after timeout_ms (checked). */
int baton__task_wait(struct baton__cell *cell, int timeout_ms);
/*
 * The body of baton_task_shutdown (brutal: _brutal's), for a resolved,
 * owned cell.
 */
int baton__task_shutdown(struct baton__cell *cell, baton_task *task,
			 int timeout_ms, bool brutal, void **value,
			 struct baton_exit_reason *reason);
/*
 * A DONE cell's outcome as the strict face reports it: as
 * baton__cell_outcome, but an exit(NORMAL) (CELL_EXITED) is BATON_EXITED
 * with kind NORMAL and its value is never handed over.
 */
int baton__task_outcome(struct baton__cell *cell, void **value,
			struct baton_exit_reason *reason);
/* A DONE cell exited with a reason (exit(NORMAL) included). */
bool baton__task_failed(struct baton__cell *cell);
/*
 * Queues a cell on a pool (takes the queue's own reference).  -EPIPE: the
 * pool is shut down; -ECHILD: it was made before a fork (no threads here).
 */
int baton__pool_submit(baton_pool *pool, struct baton__cell *cell);
/* A reference that keeps a pool's memory valid past its destroy. */
void baton__pool_ref(baton_pool *pool);
void baton__pool_unref(baton_pool *pool);

/* Links (link.c): a thread's exit notices and linked tasks. */
struct baton__links;
/* The calling thread's record if it traps exits (a new reference). */
struct baton__links *baton__links_trapping(void);
void baton__links_unref(struct baton__links *links); /* NULL: no-op */
/*
 * If the cell failed and is still owned (linked), queues an exit notice
 * for links' thread.  On the completing thread, after DONE.
 */
void baton__links_deliver(struct baton__links *links,
			  struct baton__cell *cell);
/* cell->on_done for a linked task: deliver, then drop ctx's reference. */
void baton__links_task_done(struct baton__cell *cell, void *ctx);

/* Supervisors (supervisor.c), for the supervised streams of stream.c. */
struct baton_supervisor;
/*
 * Makes an owned, prepared cell (its on_done unset) a temporary child of
 * sup and submits it on pool: counted, listed, reported to on_failure and
 * stopped with the group like any child.  then(cell, ctx) runs once, on
 * the completing thread, after the group let go of the child.  The
 * caller keeps its reference.  -EPIPE (shut down), -EAGAIN (at
 * max_children), -ENOMEM, or the pool's refusal; then nothing changed
 * and `then` never runs.
 */
int baton__supervisor_adopt(struct baton_supervisor *sup,
			    struct baton__cell *cell, baton_pool *pool,
			    void (*then)(struct baton__cell *cell, void *ctx),
			    void *then_ctx);
/* The pool given at creation (NULL: the default pool). */
baton_pool *baton__supervisor_pool(struct baton_supervisor *sup);
/* A reference that keeps a supervisor's memory valid past its destroy. */
void baton__supervisor_ref(struct baton_supervisor *sup);
void baton__supervisor_unref(struct baton_supervisor *sup);

#endif /* BATON_SRC_TASK_INTERNAL_H */
