/*
 * executor.h - internal: what the executor's files share: the pool,
 * its worker records, and the calls between pool.c (queue, watch,
 * workers), growth.c (threads added while bodies block, the monitor) and
 * default_pool.c (the default pool, exit and fork).
 */
#ifndef BATON_SRC_EXECUTOR_EXECUTOR_H
#define BATON_SRC_EXECUTOR_EXECUTOR_H

#include <pthread.h>
#include <time.h>

#include "cell.h"
#include "gate.h"
#include "lock.h"
#include "task_internal.h"

#define CACHELINE 64
#define MAX_WORKERS 1024

enum worker_state {
	W_IDLE,    /* looking for work, spinning or parked */
	W_RUNNING, /* in a body */
	W_BLOCKED, /* in a body, asleep inside baton (the hook said so) */
	W_STUCK    /* in a body, off the CPU for a while (the monitor saw) */
};

/* One per worker thread; its first line is written by that thread only. */
struct worker {
	alignas(CACHELINE) atomic_uint state; /* enum worker_state */
	atomic_uint_fast64_t bodies;          /* outermost bodies started */
	baton_pool *pool;
	struct baton__block_hook hook;       /* runtime: sleeping in baton */
	struct baton__cell_thread_hooks cell_hooks; /* cell: publish, code */
	baton_pool *watching;           /* whose idle watch this worker holds */
	struct baton__cell *finishing;  /* the outermost body it runs */
	clockid_t cpu_clock;
	bool has_clock;
	/* The monitor's notes, under pool->reg. */
	uint64_t seen_bodies;
	int64_t seen_cpu_ns, seen_at_ns;
	bool judged; /* this body spent a whole window on a CPU */
	struct worker *prev, *next;     /* pool->workers */
};

struct baton_pool {
	/*
	 * The idle watch: NULL when no worker watches; WATCHED(pool) when
	 * one idle worker spins, ready to take a cell; or a cell a submitter
	 * handed straight to that worker.  One line, one RMW each way.
	 */
	alignas(CACHELINE) _Atomic(struct baton__cell *) watch;
	/* Cells a watcher took from a submitter's hand (queue estimate). */
	atomic_uint_fast64_t handed;

	/* Submitters: the head of the intrusive queue (the watcher polls it). */
	alignas(CACHELINE) _Atomic(struct baton__cell *) head;

	/* Submitters' counter, away from the lines idle workers poll. */
	alignas(CACHELINE) atomic_uint_fast64_t spawned;

	/* Read by every submitter, written when a worker sleeps or wakes. */
	alignas(CACHELINE) atomic_int sleepers;
	atomic_bool closing;
	unsigned int fork_gen; /* baton__fork_gen when it was created */

	/* Workers: the tail end, under the consumer lock. */
	alignas(CACHELINE) struct baton__lock consumers;
	struct baton__cell *tail;
	/* The last pop left the queue empty: a hint read without the lock. */
	atomic_bool drained;
	/* Cells popped, under the lock (queue estimate); read racily. */
	atomic_uint_fast64_t popped;
	struct baton__cell stub;

	/* Idle workers. */
	alignas(CACHELINE) struct ck_ec32 work;
	struct baton__gate idle_gate;
	atomic_uint parked; /* asleep in the gate or as the leader */

	/* Awaiters of this pool's cells. */
	alignas(CACHELINE) struct baton__spinner await_spin;

	/* Written by workers as bodies end; relaxed. */
	alignas(CACHELINE) atomic_uint_fast64_t completed;
	atomic_uint_fast64_t failed;
	atomic_uint_fast64_t cancelled;

	/* Threads: the list and the counts change under reg. */
	alignas(CACHELINE) pthread_mutex_t reg;
	pthread_cond_t exited;  /* threads reached 0 while closing */
	struct worker *workers; /* registered (started) workers */
	atomic_uint threads;    /* alive or starting */
	atomic_uint blocked;    /* workers W_BLOCKED or W_STUCK */
	atomic_uint peak;
	atomic_uint_fast64_t retired, spawn_failed;
	atomic_uint_fast64_t detected; /* bodies the monitor found stuck */
	/* Threads the monitor asked for that new threads start (a tree). */
	atomic_uint spawn_debt;

	/* The monitor. */
	struct ck_ec32 monitor_ev;
	atomic_bool monitor_parked;
	pthread_t monitor;
	bool has_monitor;

	struct baton__exec exec; /* what its cells call (cell.h) */
	atomic_uint refs; /* the creator's, plus what binds work to it */
	/* What a new thread runs (pool.c's worker loop; growth.c starts it). */
	void *(*worker_main)(void *worker);
	bool is_default; /* set by default_pool.c before it is published */
	unsigned int base, max_threads;
	long keep_alive_ns;
	long stuck_ns; /* 0: never count a body as stuck */
	size_t stack_size;

	/*
	 * Under reg, with `workers` (last, so the lines above keep their
	 * layout): how many are listed, and the monitor's walk of the list
	 * without reg (growth.c, monitor_scan): new workers list themselves
	 * at its head meanwhile, and a worker leaving the list waits on
	 * scan_done while `scanning`.
	 */
	atomic_uint listed;
	bool scanning;
	pthread_cond_t scan_done;
};

/*
 * Bumped in the child after every fork: a pool made before it has no
 * threads in the child.
 */
extern atomic_uint baton__pool_fork_gen;

#define POOL_OF(ex) \
	((baton_pool *)((char *)(ex) - offsetof(struct baton_pool, exec)))

/*
 * How long an idle worker watches for new work before it parks (about a
 * futex sleep and wake-up here); its first glance, unbroken; and each
 * later glance, after which it offers the CPU to a runnable thread
 * (pool.c, watch_spin).
 */
#define WATCH_SPIN_NS 20000L
#define WATCH_FIRST_NS 5000L
#define WATCH_GLANCE_NS 1000L

/* CLOCK_MONOTONIC in nanoseconds: the monitor's ticks, the watch's end. */
static inline int64_t
baton__mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* The watch's "a worker watches, nothing handed yet" mark: never queued. */
#define WATCHED(pool) (&(pool)->stub)

/* Whether the queue looks empty: its head is the stub after the last pop. */
static inline bool
queue_looks_empty(baton_pool *pool, memory_order order)
{
	return atomic_load_explicit(&pool->head, order) == &pool->stub;
}

/* pool.c: 0 if opts are valid, else -EINVAL. */
int baton__pool_opts_check(const struct baton_pool_opts *opts);
/*
 * At exit: closes the pool to new work, stops and joins its monitor,
 * but waits for no body.
 */
void baton__pool_close_at_exit(baton_pool *pool);
/* pool.c: whether the caller is one of pool's threads. */
bool baton__pool_is_own_thread(baton_pool *pool);

/* growth.c */
/* Starts up to n threads now, within max_threads; how many started. */
unsigned int baton__pool_grow(baton_pool *pool, unsigned int n);
/* A new thread's first act: start up to two of the threads still owed. */
void baton__pool_pay_spawn_debt(baton_pool *pool);
/* Installs the worker's runtime blocking hook (enter, leave, can_grow). */
void baton__pool_block_hook_init(struct worker *w);
/* Wakes the monitor if it sleeps (a worker left its parked idle). */
void baton__pool_wake_monitor(baton_pool *pool);
/* The monitor thread's main. */
void *baton__pool_monitor_main(void *arg);
/* The thread ceiling the system allows, for max_threads AUTO. */
unsigned int baton__pool_default_ceiling(unsigned int base);

#endif /* BATON_SRC_EXECUTOR_EXECUTOR_H */
