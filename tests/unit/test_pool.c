/*
 * test_pool.c - Criterion unit tests for baton/pool.h (the executor).
 *
 * One test per behaviour of the contract in include/baton/pool.h, named as
 * a sentence.  Criterion forks a child per test, so globals start fresh; the
 * test thread does every assertion, and task bodies or submitter threads
 * only record what they saw for the test thread to check.
 *
 * Synchronisation is by handshakes (started flags, gates the test opens).
 * Sleeps appear only to prove that a call has NOT returned yet, and in the
 * idle-CPU test, whose subject is what a pool does while nothing happens.
 *
 * Functions that baton_pool_list must name are non-static and the
 * executable is linked with export_dynamic (dladdr reads the dynamic
 * symbol table only).
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <baton/pool.h>
#include <baton/task.h>

#include "unit.h"

/* A long timeout that no passing test ever waits out. */
#define LONG_MS		10000

/* ------------------------------------------------------------------ */
/* Helpers (the shared ones are in unit.h)                             */
/* ------------------------------------------------------------------ */

static baton_task
spawn_on(baton_pool *pool, baton_task_fn fn, void *arg, const char *label)
{
	struct baton_task_opts o = {
		.pool = pool, .label = label, .destroy = count_free,
	};
	baton_task t;
	int rc = baton_task_async_opts(&t, fn, arg, &o);

	cr_assert_eq(rc, 0, "baton_task_async_opts returned %d", rc);
	return t;
}

static struct baton_pool_stats
stats_of(baton_pool *pool)
{
	struct baton_pool_stats st;

	memset(&st, 0xff, sizeof(st));
	cr_assert_eq(baton_pool_stats(pool, &st), 0);
	return st;
}

/*
 * A worker drops its reference to a task just after the body returns, so
 * `live` reaches its final value a moment after the last await.
 */
static struct baton_pool_stats
stats_once_live_is(baton_pool *pool, size_t live)
{
	struct baton_pool_stats st;

	for (;;) {
		st = stats_of(pool);
		if (st.live == live)
			return st;
		sched_yield();
	}
}

/* ------------------------------------------------------------------ */
/* Task bodies                                                         */
/* ------------------------------------------------------------------ */

static void *
double_it(void *arg)
{
	return new_int(2 * (int)(intptr_t)arg);
}

static void *
failing_body(void *arg)
{
	baton_exit(BATON_EXIT_ERROR, (int)(intptr_t)arg, "failed");
	return new_int(0);
}

/* Runs until asked to stop, then exits with a SHUTDOWN reason. */
static void *
coop_body(void *arg)
{
	atomic_int *started = arg;

	atomic_store_explicit(started, 1, memory_order_release);
	while (!baton_should_stop())
		sleep_ms(1);
	baton_exit(BATON_EXIT_SHUTDOWN, ECANCELED, "stopped");
	return NULL;
}

/* The bodies baton_pool_list must name (non-static). */
void *pool_list_blocking_body(void *arg);
void *pool_list_queued_body(void *arg);

void *
pool_list_blocking_body(void *arg)
{
	return gated_body(arg);
}

void *
pool_list_queued_body(void *arg)
{
	return double_it(arg);
}

/* ------------------------------------------------------------------ */
/* Creation and destruction                                            */
/* ------------------------------------------------------------------ */

Test(pool, create_starts_the_requested_number_of_workers, .timeout = 15)
{
	static const unsigned int counts[] = { 1, 2, 5 };

	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		baton_pool *pool = make_pool(counts[i]);
		struct baton_pool_stats st = stats_of(pool);

		cr_assert_eq(st.workers, counts[i], "workers %u, asked %u",
			     st.workers, counts[i]);
		cr_assert_eq(st.spawned, 0);
		cr_assert_eq(st.completed, 0);
		cr_assert_eq(st.failed, 0);
		cr_assert_eq(st.cancelled, 0);
		cr_assert_eq(st.live, 0);
		baton_pool_destroy(pool);
	}
}

Test(pool, create_with_zero_workers_starts_one_per_online_cpu, .timeout = 15)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	baton_pool *pool = make_pool(0);
	struct baton_pool_stats st = stats_of(pool);

	cr_assert_gt(cpus, 0);
	cr_assert_eq(st.workers, (unsigned int)cpus, "workers %u, cpus %ld",
		     st.workers, cpus);
	baton_pool_destroy(pool);
}

Test(pool, create_accepts_1024_workers_and_refuses_1025, .timeout = 15)
{
	baton_pool *pool = (baton_pool *)TOK(1);
	int rc;

	rc = baton_pool_create(&pool, 1025);
	cr_assert_eq(rc, -EINVAL, "1025 workers: %d", rc);
	cr_assert_null(pool, "a failed create must set *out to NULL");
	pool = (baton_pool *)TOK(1);
	rc = baton_pool_create(&pool, UINT_MAX);
	cr_assert_eq(rc, -EINVAL);
	cr_assert_null(pool);
	rc = baton_pool_create(&pool, 1024);
	if (rc == -EAGAIN) {
		cr_log_warn("1024 threads could not be started here");
		cr_assert_null(pool);
		return;
	}
	cr_assert_eq(rc, 0, "1024 workers: %d", rc);
	cr_assert_eq(stats_of(pool).workers, 1024);
	baton_pool_destroy(pool);
}

Test(pool, create_rejects_a_null_out, .timeout = 15)
{
	cr_assert_eq(baton_pool_create(NULL, 1), -EINVAL);
	cr_assert_eq(baton_pool_create(NULL, 0), -EINVAL);
}

Test(pool, destroy_of_null_is_a_noop, .timeout = 15)
{
	baton_pool_destroy(NULL);
}

Test(pool, destroy_of_an_unused_pool_returns_at_once, .timeout = 15)
{
	baton_pool *pool = make_pool(4);

	baton_pool_destroy(pool);
}

struct destroyer {
	baton_pool *pool;
	atomic_int returned;
};

static void *
destroyer_main(void *arg)
{
	struct destroyer *d = arg;

	baton_pool_destroy(d->pool);
	atomic_store_explicit(&d->returned, 1, memory_order_release);
	return NULL;
}

Test(pool,
     destroy_runs_the_tasks_still_queued_and_their_owner_can_await_them,
     .timeout = 15)
{
	enum { QUEUED = 5 };
	struct gate block = GATE_INIT;
	struct gated blocker;
	struct destroyer d;
	baton_task tb, tq[QUEUED], never_awaited;
	pthread_t th;
	void *v = NULL;

	memset(&d, 0, sizeof(d));
	d.pool = make_pool(1);
	gated_init(&blocker, &block, 1000);
	tb = spawn_on(d.pool, gated_body, &blocker, NULL);
	wait_for(&blocker.started, 1);
	for (int i = 0; i < QUEUED; i++)
		tq[i] = spawn_on(d.pool, double_it, TOK(i), NULL);
	never_awaited = spawn_on(d.pool, double_it, TOK(50), NULL);

	cr_assert_eq(pthread_create(&th, NULL, destroyer_main, &d), 0);
	sleep_ms(BLOCK_CHECK_MS);
	cr_assert_eq(atomic_load(&d.returned), 0,
		     "destroy returned while a task was still running");
	gate_open(&block);
	cr_assert_eq(pthread_join(th, NULL), 0);

	/* Every body has returned: the results are there, no waiting. */
	cr_assert_eq(baton_task_await(&tb, 0, &v, NULL), 0);
	cr_assert_eq(int_of(v), 1000);
	free(v);
	for (int i = 0; i < QUEUED; i++) {
		int rc = baton_task_await(&tq[i], 0, &v, NULL);

		cr_assert_eq(rc, 0, "queued task %d: await returned %d", i, rc);
		cr_assert_eq(int_of(v), 2 * i);
		free(v);
	}
	cr_assert_eq(atomic_load(&destroyed), 0);
	/* A handle may outlive its pool; releasing it frees the value. */
	cr_assert_geq(baton_task_ignore(&never_awaited, NULL, NULL), 0);
	cr_assert_eq(atomic_load(&destroyed), 1);
}

/* ------------------------------------------------------------------ */
/* Helping: tasks that await subtasks never deadlock the pool          */
/* ------------------------------------------------------------------ */

#define TREE_DEPTH 3
#define TREE_NODES 15 /* 1 + 2 + 4 + 8 */

struct tree {
	baton_pool *pool;
	int timeout_ms;
	atomic_int nodes;
	atomic_int errors;
	pid_t tids[TREE_NODES];
};

struct node {
	struct tree *tree;
	int level;
};

static void *
tree_node(void *arg)
{
	struct node *n = arg;
	struct tree *tr = n->tree;
	int k = atomic_fetch_add(&tr->nodes, 1);
	struct node kids[2];
	baton_task t[2];
	intptr_t sum = 0;

	if (k < TREE_NODES)
		tr->tids[k] = gettid();
	if (n->level == TREE_DEPTH)
		return TOK(1);
	for (int i = 0; i < 2; i++) {
		struct baton_task_opts o = { .pool = tr->pool };

		kids[i] = (struct node){ tr, n->level + 1 };
		if (baton_task_async_opts(&t[i], tree_node, &kids[i], &o) != 0) {
			atomic_fetch_add(&tr->errors, 1);
			return TOK(0);
		}
	}
	for (int i = 0; i < 2; i++) {
		void *v = NULL;

		if (baton_task_await(&t[i], tr->timeout_ms, &v, NULL) != 0)
			atomic_fetch_add(&tr->errors, 1);
		else
			sum += (intptr_t)v;
	}
	return (void *)sum;
}

static void
run_tree(int timeout_ms)
{
	struct tree tr;
	struct node root;
	baton_task t;
	void *v = NULL;
	int rc;

	memset(&tr, 0, sizeof(tr));
	tr.pool = make_pool(1);
	tr.timeout_ms = timeout_ms;
	root = (struct node){ &tr, 0 };
	cr_assert_eq(baton_task_async_opts(&t, tree_node, &root,
					   &(struct baton_task_opts){
						   .pool = tr.pool }), 0);
	/* A bounded await from the test thread never helps: the root runs
	 * on the worker. */
	rc = baton_task_await(&t, LONG_MS, &v, NULL);
	cr_assert_eq(rc, 0, "the root task's await returned %d", rc);
	cr_assert_eq(atomic_load(&tr.errors), 0, "%d subtask awaits failed",
		     atomic_load(&tr.errors));
	cr_assert_eq(UNTOK(v), 8, "the tree summed %zu leaves", UNTOK(v));
	cr_assert_eq(atomic_load(&tr.nodes), TREE_NODES);
	for (int i = 0; i < TREE_NODES; i++)
		cr_assert_eq(tr.tids[i], tr.tids[0],
			     "node %d ran on %d, the worker is %d", i,
			     (int)tr.tids[i], (int)tr.tids[0]);
	cr_assert_neq(tr.tids[0], gettid());
	baton_pool_destroy(tr.pool);
}

Test(pool,
     a_one_worker_pool_completes_a_task_awaiting_subtasks_three_levels_deep,
     .timeout = 15)
{
	run_tree(BATON_INFINITY);
}

Test(pool, a_one_worker_pool_helps_even_when_subtasks_are_awaited_with_a_timeout,
     .timeout = 15)
{
	run_tree(BATON_DEFAULT_TIMEOUT);
}

/* ------------------------------------------------------------------ */
/* Statistics                                                          */
/* ------------------------------------------------------------------ */

Test(pool, stats_count_a_known_workload, .timeout = 15)
{
	baton_pool *pool = make_pool(2);
	struct baton_pool_stats st;
	baton_task ts[7];
	void *v;

	for (int i = 0; i < 5; i++)
		ts[i] = spawn_on(pool, double_it, TOK(i), NULL);
	ts[5] = spawn_on(pool, failing_body, TOK(1), NULL);
	ts[6] = spawn_on(pool, failing_body, TOK(2), NULL);
	for (int i = 0; i < 5; i++) {
		cr_assert_eq(baton_task_await(&ts[i], LONG_MS, &v, NULL), 0);
		free(v);
	}
	cr_assert_eq(baton_task_await(&ts[5], LONG_MS, NULL, NULL),
		     BATON_EXITED);
	cr_assert_eq(baton_task_await(&ts[6], LONG_MS, NULL, NULL),
		     BATON_EXITED);
	st = stats_once_live_is(pool, 0);
	cr_assert_eq(st.spawned, 7, "spawned %ju", (uintmax_t)st.spawned);
	cr_assert_eq(st.completed, 5, "completed %ju",
		     (uintmax_t)st.completed);
	cr_assert_eq(st.failed, 2, "failed %ju", (uintmax_t)st.failed);
	cr_assert_eq(st.cancelled, 0, "cancelled %ju",
		     (uintmax_t)st.cancelled);
	cr_assert_eq(st.workers, 2);
	baton_pool_destroy(pool);
}

Test(pool, stats_count_live_tasks_until_they_are_released, .timeout = 15)
{
	struct gate gate = GATE_INIT;
	baton_pool *pool = make_pool(1);
	struct gated g1, g2;
	baton_task t1, t2, done;
	struct baton_pool_stats st;

	gated_init(&g1, &gate, 1);
	gated_init(&g2, &gate, 2);
	t1 = spawn_on(pool, gated_body, &g1, NULL);
	/* Running before t2 is queued: no start order is promised. */
	wait_for(&g1.started, 1);
	t2 = spawn_on(pool, gated_body, &g2, NULL);
	cr_assert_eq(baton_task_completed(&done, NULL, NULL), 0);
	st = stats_of(pool);
	cr_assert_eq(st.live, 2, "live %zu: one running, one queued", st.live);
	cr_assert_eq(st.spawned, 2);
	gate_open(&gate);
	cr_assert_eq(baton_task_await(&t1, LONG_MS, NULL, NULL), 0);
	/* t2, finished but not yet awaited, is still live. */
	wait_for(&g2.finished, 1);
	st = stats_once_live_is(pool, 1);
	/* The body's flag is set just before it returns, the count after. */
	while (st.completed < 2) {
		sched_yield();
		st = stats_of(pool);
	}
	cr_assert_eq(st.completed, 2);
	cr_assert_eq(st.live, 1, "live %zu", st.live);
	cr_assert_eq(baton_task_await(&t2, LONG_MS, NULL, NULL), 0);
	stats_once_live_is(pool, 0);
	cr_assert_geq(baton_task_ignore(&done, NULL, NULL), 0);
	baton_pool_destroy(pool);
}

Test(pool, stats_count_a_running_task_stopped_by_shutdown_as_one_cancellation,
     .timeout = 15)
{
	baton_pool *pool = make_pool(1);
	struct baton_pool_stats st;
	atomic_int started = 0;
	baton_task t = spawn_on(pool, coop_body, &started, NULL);

	wait_for(&started, 1);
	cr_assert_eq(baton_task_shutdown(&t, LONG_MS, NULL, NULL),
		     BATON_NOREPLY);
	st = stats_once_live_is(pool, 0);
	cr_assert_eq(st.cancelled, 1, "cancelled %ju",
		     (uintmax_t)st.cancelled);
	cr_assert_eq(st.spawned, 1);
	cr_assert_eq(st.completed, 0);
	baton_pool_destroy(pool);
}

Test(pool, stats_count_a_queued_task_stopped_by_shutdown_as_one_cancellation,
     .timeout = 15)
{
	struct gate block = GATE_INIT;
	baton_pool *pool = make_pool(1);
	struct baton_pool_stats st;
	struct gated blocker;
	baton_task tb, tq;

	gated_init(&blocker, &block, 1);
	tb = spawn_on(pool, gated_body, &blocker, NULL);
	wait_for(&blocker.started, 1);
	tq = spawn_on(pool, double_it, TOK(1), NULL);
	cr_assert_eq(baton_task_shutdown(&tq, LONG_MS, NULL, NULL),
		     BATON_NOREPLY);
	gate_open(&block);
	cr_assert_eq(baton_task_await(&tb, LONG_MS, NULL, NULL), 0);
	st = stats_once_live_is(pool, 0);
	cr_assert_eq(st.spawned, 2);
	cr_assert_eq(st.completed, 1, "completed %ju",
		     (uintmax_t)st.completed);
	cr_expect_eq(st.failed, 0, "a body that never ran cannot have failed");
	cr_expect_eq(st.cancelled, 1,
		     "one task was stopped, but cancelled is %ju",
		     (uintmax_t)st.cancelled);
	baton_pool_destroy(pool);
}

Test(pool, stats_and_list_reject_null_arguments, .timeout = 15)
{
	struct baton_pool_stats st;
	struct baton_task_info info[1];
	baton_pool *pool = make_pool(1);

	cr_assert_eq(baton_pool_stats(NULL, &st), -EINVAL);
	cr_assert_eq(baton_pool_stats(pool, NULL), -EINVAL);
	cr_assert_eq(baton_pool_list(NULL, info, 1), -EINVAL);
	cr_assert_eq(baton_pool_list(pool, NULL, 1), -EINVAL);
	cr_assert_eq(baton_pool_list(pool, NULL, 0), 0);
	baton_pool_destroy(pool);
}

/* ------------------------------------------------------------------ */
/* Introspection                                                       */
/* ------------------------------------------------------------------ */

static const struct baton_task_info *
find_by_label(const struct baton_task_info *infos, ptrdiff_t n,
	      const char *label, int nth)
{
	for (ptrdiff_t i = 0; i < n; i++) {
		if (infos[i].label != NULL &&
		    strcmp(infos[i].label, label) == 0 && nth-- == 0)
			return &infos[i];
	}
	return NULL;
}

Test(pool,
     list_shows_a_blocked_task_running_and_the_queued_ones_with_function_label_and_owner,
     .timeout = 15)
{
	struct gate gate = GATE_INIT;
	baton_pool *pool = make_pool(1);
	baton_pool *other = make_pool(1);
	struct baton_task_info infos[8];
	const struct baton_task_info *b, *q;
	struct gated g;
	baton_task tb, tq[2], tother;
	ptrdiff_t n;

	gated_init(&g, &gate, 1);
	tb = spawn_on(pool, pool_list_blocking_body, &g, "blocker");
	wait_for(&g.started, 1);
	tq[0] = spawn_on(pool, pool_list_queued_body, TOK(1), "queued");
	tq[1] = spawn_on(pool, pool_list_queued_body, TOK(2), "queued");
	tother = spawn_on(other, double_it, TOK(3), "elsewhere");

	memset(infos, 0, sizeof(infos));
	n = baton_pool_list(pool, infos, 8);
	cr_assert_eq(n, 3, "listed %td tasks", n);
	cr_assert_null(find_by_label(infos, n, "elsewhere", 0),
		       "another pool's task was listed");

	b = find_by_label(infos, n, "blocker", 0);
	cr_assert_not_null(b);
	cr_assert_str_eq(b->function, "pool_list_blocking_body");
	cr_assert_eq(b->fn, (const void *)(uintptr_t)pool_list_blocking_body);
	cr_assert_eq(b->owner_tid, gettid());
	cr_assert_eq(b->state, BATON_TASK_RUNNING);
	cr_assert_eq(b->stop_requested, false);
	for (int i = 0; i < 2; i++) {
		q = find_by_label(infos, n, "queued", i);
		cr_assert_not_null(q, "queued task %d not listed", i);
		cr_assert_str_eq(q->function, "pool_list_queued_body");
		cr_assert_eq(q->owner_tid, gettid());
		cr_assert_eq(q->state, BATON_TASK_QUEUED);
	}

	/* A shorter array gets fewer entries. */
	n = baton_pool_list(pool, infos, 2);
	cr_assert_eq(n, 2);
	n = baton_pool_list(pool, infos, 0);
	cr_assert_eq(n, 0);

	gate_open(&gate);
	cr_assert_eq(baton_task_await(&tb, LONG_MS, NULL, NULL), 0);
	cr_assert_eq(baton_task_await(&tq[0], LONG_MS, NULL, NULL), 0);
	cr_assert_eq(baton_task_await(&tq[1], LONG_MS, NULL, NULL), 0);
	cr_assert_eq(baton_task_await(&tother, LONG_MS, NULL, NULL), 0);
	stats_once_live_is(pool, 0);
	cr_assert_eq(baton_pool_list(pool, infos, 8), 0);
	baton_pool_destroy(other);
	baton_pool_destroy(pool);
}

Test(pool, list_shows_a_finished_unawaited_task_as_done, .timeout = 15)
{
	baton_pool *pool = make_pool(1);
	struct baton_task_info infos[4];
	baton_task t = spawn_on(pool, double_it, TOK(1), "finished");
	ptrdiff_t n;

	do {
		n = baton_pool_list(pool, infos, 4);
		cr_assert_eq(n, 1);
		sched_yield();
	} while (infos[0].state != BATON_TASK_DONE);
	cr_assert_str_eq(infos[0].label, "finished");
	cr_assert_geq(baton_task_ignore(&t, NULL, NULL), 0);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&destroyed), 1);
}

/* ------------------------------------------------------------------ */
/* Idling and load                                                     */
/* ------------------------------------------------------------------ */

Test(pool, an_idle_pool_uses_no_cpu, .timeout = 15)
{
	baton_pool *pool = make_pool(2);
	baton_task t = spawn_on(pool, double_it, TOK(1), NULL);
	int64_t cpu0, wall0, cpu, wall;
	void *v = NULL;

	cr_assert_eq(baton_task_await(&t, LONG_MS, &v, NULL), 0);
	free(v);
	sleep_ms(200);
	cpu0 = ns_of(CLOCK_PROCESS_CPUTIME_ID);
	wall0 = ns_of(CLOCK_MONOTONIC);
	sleep_ms(300);
	cpu = ns_of(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
	wall = ns_of(CLOCK_MONOTONIC) - wall0;
	cr_log_info("idle pool: %jd us CPU over %jd us", (intmax_t)(cpu / 1000),
		    (intmax_t)(wall / 1000));
	cr_assert_lt(cpu * 20, wall,
		     "an idle pool used %jd us of CPU in %jd us (>= 5%%)",
		     (intmax_t)(cpu / 1000), (intmax_t)(wall / 1000));
	baton_pool_destroy(pool);
}

#define SUBMITTERS 8
#define PER_SUBMITTER 20000
#define BATCH 64

static void *
plus_one(void *arg)
{
	return (void *)((uintptr_t)arg + 1);
}

struct submitter {
	pthread_t thread;
	baton_pool *pool;
	int timeout_ms;
	atomic_int *go;
	uint64_t sum;
	int errors;
	int first_error;
};

static void *
submitter_main(void *arg)
{
	struct submitter *s = arg;
	struct baton_task_opts o = { .pool = s->pool };
	baton_task ts[BATCH];

	wait_for(s->go, 1);
	for (int i = 0; i < PER_SUBMITTER; i += BATCH) {
		int k = PER_SUBMITTER - i < BATCH ? PER_SUBMITTER - i : BATCH;

		for (int j = 0; j < k; j++) {
			int rc = baton_task_async_opts(&ts[j], plus_one,
						       TOK(i + j), &o);

			if (rc != 0) {
				if (s->errors++ == 0)
					s->first_error = rc;
				k = j;
				break;
			}
		}
		for (int j = 0; j < k; j++) {
			void *v = NULL;
			int rc = baton_task_await(&ts[j], s->timeout_ms, &v,
						  NULL);

			if (rc != 0) {
				if (s->errors++ == 0)
					s->first_error = rc;
				continue;
			}
			s->sum += UNTOK(v);
		}
	}
	return NULL;
}

Test(pool, many_submitters_on_a_two_worker_pool_all_finish_with_correct_sums,
     .timeout = 15)
{
	baton_pool *pool = make_pool(2);
	struct submitter s[SUBMITTERS];
	atomic_int go = 0;
	/* sum of (i + 1) for i in [0, PER_SUBMITTER) */
	uint64_t want = (uint64_t)PER_SUBMITTER * (PER_SUBMITTER + 1) / 2;
	struct baton_pool_stats st;

	for (int i = 0; i < SUBMITTERS; i++) {
		memset(&s[i], 0, sizeof(s[i]));
		s[i].pool = pool;
		s[i].go = &go;
		/* Half wait forever (and help), half with Elixir's default. */
		s[i].timeout_ms = i % 2 ? BATON_INFINITY : BATON_DEFAULT_TIMEOUT;
		cr_assert_eq(pthread_create(&s[i].thread, NULL, submitter_main,
					    &s[i]), 0);
	}
	atomic_store_explicit(&go, 1, memory_order_release);
	for (int i = 0; i < SUBMITTERS; i++)
		cr_assert_eq(pthread_join(s[i].thread, NULL), 0);
	for (int i = 0; i < SUBMITTERS; i++) {
		cr_assert_eq(s[i].errors, 0,
			     "submitter %d: %d errors, the first %d", i,
			     s[i].errors, s[i].first_error);
		cr_assert_eq(s[i].sum, want, "submitter %d summed %ju", i,
			     (uintmax_t)s[i].sum);
	}
	st = stats_once_live_is(pool, 0);
	cr_assert_eq(st.spawned, (uint64_t)SUBMITTERS * PER_SUBMITTER);
	cr_assert_eq(st.completed, (uint64_t)SUBMITTERS * PER_SUBMITTER);
	baton_pool_destroy(pool);
}

/* ------------------------------------------------------------------ */
/* The default pool                                                    */
/* ------------------------------------------------------------------ */

Test(pool, default_pool_is_the_same_pointer_on_every_call, .timeout = 15)
{
	baton_pool *a = baton_pool_default();
	baton_pool *b = baton_pool_default();

	cr_assert_not_null(a);
	cr_assert_eq(a, b);
}

static void *
call_default(void *arg)
{
	*(baton_pool **)arg = baton_pool_default();
	return NULL;
}

Test(pool, default_pool_is_shared_by_every_thread_and_has_one_worker_per_cpu,
     .timeout = 15)
{
	baton_pool *got[4];
	pthread_t th[4];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	for (int i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, call_default,
					    &got[i]), 0);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(pthread_join(th[i], NULL), 0);
	for (int i = 0; i < 4; i++) {
		cr_assert_not_null(got[i]);
		cr_assert_eq(got[i], baton_pool_default());
	}
	cr_assert_eq(stats_of(got[0]).workers, (unsigned int)cpus);
}

Test(pool, tasks_started_without_a_pool_run_on_the_default_pool,
     .timeout = 15)
{
	baton_pool *def = baton_pool_default();
	struct baton_pool_stats before = stats_of(def), after;
	baton_task t;
	void *v = NULL;

	cr_assert_eq(baton_task_async(&t, double_it, TOK(2)), 0);
	cr_assert_eq(baton_task_await(&t, LONG_MS, &v, NULL), 0);
	cr_assert_eq(int_of(v), 4);
	free(v);
	after = stats_of(def);
	cr_assert_eq(after.spawned, before.spawned + 1);
}
