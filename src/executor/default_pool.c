/*
 * default_pool.c - the pool that tasks use when they name none, and what
 * a process's exit and fork() do to the executor.
 *
 * Design notes
 * ============
 * The default pool is created once.  At exit, its handler asks every task
 * still on it to stop (queued ones then never run) and closes it, but
 * waits for nobody: a body blocked forever cannot hold up exit (the BEAM
 * does not wait for its processes when it halts either).  After fork(),
 * the child forgets the parent's default pool (its threads do not exist
 * there) and makes a new one on first use; a pool created before the
 * fork refuses submissions in the child (-ECHILD).
 *
 * fork() is made safe for the child by holding, across it, the locks a
 * child would need first: this file's own and the cell allocator's.
 */
#include <stdlib.h>

#include "executor.h"



static _Atomic(baton_pool *) default_pool;

static struct baton_pool_opts default_opts = BATON_POOL_OPTS_INIT;

static pthread_mutex_t default_lock = PTHREAD_MUTEX_INITIALIZER;

static bool default_made;

static void
stop_one(struct baton__cell *cell, uint64_t gen, void *ctx)
{
	(void)gen;
	(void)ctx;
	baton__cell_request_stop(cell);
}

/*
 * At exit: stop what is queued, close, and wait for nobody.  The pool's
 * memory stays (threads may still be in bodies until the process ends).
 */
static void
close_default(void)
{
	/* acquire: as in baton_pool_default. */
	baton_pool *pool = atomic_load_explicit(&default_pool,
						memory_order_acquire);

	if (pool == NULL)
		return;
	baton__cell_for_each_live(&pool->exec, stop_one, NULL);
	baton__pool_close_at_exit(pool);
}

/* fork(): the allocator's lock must not be held mid-update in the child. */
static void
fork_prepare(void)
{
	pthread_mutex_lock(&default_lock);
	baton__cell_fork_prepare();
}

static void
fork_parent(void)
{
	baton__cell_fork_done();
	pthread_mutex_unlock(&default_lock);
}

static void
fork_child(void)
{
	baton__cell_fork_done();
	/* The parent's threads do not exist here: forget its pools. */
	atomic_fetch_add_explicit(&baton__pool_fork_gen, 1, memory_order_relaxed);
	atomic_store_explicit(&default_pool, NULL, memory_order_relaxed);
	default_made = false;
	pthread_mutex_unlock(&default_lock);
}

/*
 * At load: exit and fork handlers, before any pool exists, so that a
 * child forked from a program with only pools of its own still forgets
 * them (baton__pool_fork_gen).
 */
__attribute__((constructor)) static void
register_process_hooks(void)
{
	(void)atexit(close_default);
	(void)pthread_atfork(fork_prepare, fork_parent, fork_child);
}

baton_pool *
baton_pool_default(void)
{
	/* acquire: pairs with the release below; the pool is complete. */
	baton_pool *pool = atomic_load_explicit(&default_pool,
						memory_order_acquire);

	if (pool != NULL)
		return pool;
	pthread_mutex_lock(&default_lock);
	if (!default_made) {
		/* A failure is final for the process, as documented. */
		default_made = true;
		if (baton_pool_create_opts(&pool, &default_opts) == 0) {
			pool->is_default = true; /* destroy refuses it */
			/* release: a reader that sees it sees it whole. */
			atomic_store_explicit(&default_pool, pool,
					      memory_order_release);
		}
	}
	pool = atomic_load_explicit(&default_pool, memory_order_relaxed);
	pthread_mutex_unlock(&default_lock);
	return pool;
}

int
baton_pool_set_default_opts(const struct baton_pool_opts *opts)
{
	int r = 0;

	if (baton__pool_opts_check(opts) != 0)
		return -EINVAL;
	pthread_mutex_lock(&default_lock);
	if (default_made)
		r = -EBUSY;
	else
		default_opts = *opts;
	pthread_mutex_unlock(&default_lock);
	return r;
}
