/*
 * test_callers.c - Criterion unit tests for the callers chain (Elixir's
 * $callers) that every task records and baton_task_info / baton_pool_list
 * report: struct baton_task_info's callers[], ncallers and
 * callers_truncated (baton/pool.h).
 *
 * A chain is kernel thread ids, nearest first: the thread that started
 * the task, then, if that thread was running a task body, the thread that
 * started that body's task, and so on.  Bodies record the thread they run
 * on (gettid) for the test thread to compare; the test thread does every
 * assertion.  Bodies block on gates the test opens, so what is listed is
 * known; each test makes its own pool with enough workers for the bodies
 * that block at once.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <baton/future.h>
#include <baton/pool.h>
#include <baton/stream.h>
#include <baton/supervisor.h>
#include <baton/task.h>

#include "unit.h"

#define LONG_MS 60000

TestSuite(callers, .fini = check_leaks);

/* The listed task with this label (the nth), or NULL. */
static const struct baton_task_info *
find(const struct baton_task_info *infos, ptrdiff_t n, const char *label,
     int nth)
{
	for (ptrdiff_t i = 0; i < n; i++) {
		if (infos[i].label != NULL &&
		    strcmp(infos[i].label, label) == 0 && nth-- == 0)
			return &infos[i];
	}
	return NULL;
}

/* Asserts a chain equal to want[0..n), not truncated. */
static void
assert_chain(const struct baton_task_info *info, const pid_t *want,
	     unsigned int n, const char *what)
{
	cr_assert_not_null(info, "%s: not listed", what);
	cr_assert_eq(info->ncallers, n, "%s: %u callers, want %u", what,
		     info->ncallers, n);
	for (unsigned int k = 0; k < n; k++)
		cr_assert_eq(info->callers[k], want[k],
			     "%s: callers[%u] = %d, want %d", what, k,
			     (int)info->callers[k], (int)want[k]);
	cr_assert_eq(info->callers_truncated, false, "%s: truncated", what);
}

static baton_task
spawn_labelled(baton_pool *pool, baton_task_fn fn, void *arg,
	       const char *label)
{
	struct baton_task_opts o = { .pool = pool, .label = label,
				     .destroy = count_free };
	baton_task t;

	cr_assert_eq(baton_task_async_opts(&t, fn, arg, &o), 0);
	return t;
}

/* ------------------------------------------------------------------ */
/* A task started by a plain thread                                    */
/* ------------------------------------------------------------------ */

Test(callers, a_task_started_by_a_plain_thread_has_that_thread_alone,
     .timeout = 15)
{
	struct gate gate = GATE_INIT;
	baton_pool *pool = make_pool(1);
	struct baton_task_info infos[4], info;
	pid_t me = gettid();
	struct gated g;
	baton_task t;
	ptrdiff_t n;

	gated_init(&g, &gate, 1);
	t = spawn_labelled(pool, gated_body, &g, "top");
	wait_for(&g.started, 1);
	n = baton_pool_list(pool, infos, 4);
	cr_assert_eq(n, 1);
	assert_chain(find(infos, n, "top", 0), &me, 1, "top (pool_list)");
	cr_assert_eq(baton_task_info(&t, &info), 0);
	assert_chain(&info, &me, 1, "top (task_info)");
	gate_open(&gate);
	cr_assert_eq(baton_task_await(&t, LONG_MS, NULL, NULL), 0);
	baton_pool_destroy(pool);
}

Test(callers, a_completed_task_has_no_callers, .timeout = 15)
{
	struct baton_task_info info;
	baton_task t;
	void *v;

	cr_assert_eq(baton_task_completed(&t, new_int(1), free), 0);
	cr_assert_eq(baton_task_info(&t, &info), 0);
	cr_assert_eq(info.ncallers, 0);
	cr_assert_eq(baton_task_await(&t, 0, &v, NULL), 0);
	free(v);
}

Test(callers, an_ignored_task_keeps_its_callers_though_it_has_no_owner,
     .timeout = 15)
{
	struct gate gate = GATE_INIT;
	baton_pool *pool = make_pool(1);
	struct baton_task_info infos[4];
	pid_t me = gettid();
	struct gated g;
	baton_task t;
	ptrdiff_t n;

	gated_init(&g, &gate, 1);
	t = spawn_labelled(pool, gated_body, &g, "ignored");
	wait_for(&g.started, 1);
	cr_assert_eq(baton_task_ignore(&t, NULL, NULL), BATON_NOREPLY);
	n = baton_pool_list(pool, infos, 4);
	cr_assert_eq(n, 1);
	cr_assert_eq(infos[0].owner_tid, 0, "ignored: no owner any more");
	assert_chain(&infos[0], &me, 1, "ignored");
	gate_open(&gate);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&destroyed), 1);
}

static void *
double_it_future(void *arg)
{
	(void)arg;
	return new_int(21);
}

/* ------------------------------------------------------------------ */
/* Nested tasks, futures and fire-and-forget tasks                     */
/* ------------------------------------------------------------------ */

/*
 * Three levels, each started in the body above it, each blocked on the
 * gate until the test has looked; level 1 also starts a future and a
 * fire-and-forget task, which block too.
 */
struct nest {
	baton_pool *pool;
	struct gate *gate;
	atomic_int runner[3]; /* the thread each level's body ran on */
	atomic_int started;   /* bodies (and extras) that started */
};

static struct nest *the_nest;

void *nest_body(void *arg);

static void *
extra_body(void *arg)
{
	(void)arg;
	atomic_fetch_add(&the_nest->started, 1);
	gate_wait(the_nest->gate);
	return NULL;
}

void *
nest_body(void *arg)
{
	int level = (int)(intptr_t)arg;
	struct nest *ns = the_nest;
	static const char *const labels[3] = { "l0", "l1", "l2" };
	struct baton_task_opts o = { .pool = ns->pool };
	baton_future *f = NULL;
	baton_task child;
	bool nested = level < 2;

	atomic_store(&ns->runner[level], gettid());
	if (nested) {
		o.label = labels[level + 1];
		if (baton_task_async_opts(&child, nest_body,
					  (void *)(intptr_t)(level + 1),
					  &o) != 0)
			return NULL;
	}
	if (level == 1) {
		o.label = "future";
		(void)baton_future_start(&f, extra_body, NULL, &o);
		o.label = "started";
		(void)baton_task_start(extra_body, NULL, &o);
	}
	atomic_fetch_add(&ns->started, 1);
	gate_wait(ns->gate);
	if (nested)
		(void)baton_task_await(&child, BATON_INFINITY, NULL, NULL);
	if (f != NULL) {
		(void)baton_future_wait(f, BATON_INFINITY);
		baton_future_unref(f);
	}
	return NULL;
}

Test(callers,
     a_task_started_in_a_body_records_the_whole_chain_nearest_first,
     .timeout = 15)
{
	struct gate gate = GATE_INIT;
	struct nest ns = { .gate = &gate };
	struct baton_task_info infos[8];
	pid_t me = gettid(), want[3];
	baton_task t;
	ptrdiff_t n;

	ns.pool = make_pool(6);
	the_nest = &ns;
	t = spawn_labelled(ns.pool, nest_body, (void *)0, "l0");
	wait_for(&ns.started, 5); /* three levels, the future, the start */
	n = baton_pool_list(ns.pool, infos, 8);
	cr_assert_eq(n, 5, "listed %td", n);

	want[0] = me;
	assert_chain(find(infos, n, "l0", 0), want, 1, "l0");
	want[0] = (pid_t)atomic_load(&ns.runner[0]);
	want[1] = me;
	assert_chain(find(infos, n, "l1", 0), want, 2, "l1");
	want[0] = (pid_t)atomic_load(&ns.runner[1]);
	want[1] = (pid_t)atomic_load(&ns.runner[0]);
	want[2] = me;
	assert_chain(find(infos, n, "l2", 0), want, 3, "l2");
	/* A future and a start from the same body carry the same chain. */
	assert_chain(find(infos, n, "future", 0), want, 3, "future");
	assert_chain(find(infos, n, "started", 0), want, 3, "started");

	gate_open(&gate);
	cr_assert_eq(baton_task_await(&t, LONG_MS, NULL, NULL), 0);
	baton_pool_destroy(ns.pool);
}

/*
 * A chain deeper than BATON_CALLERS_MAX: body d starts body d + 1, reads
 * its child's info through the handle, then awaits it.
 */
#define DEEP (BATON_CALLERS_MAX + 4)

struct deep {
	baton_pool *pool;
	atomic_int runner[DEEP];
	struct baton_task_info info[DEEP];
};

static struct deep *the_deep;

static void *
deep_body(void *arg)
{
	int d = (int)(intptr_t)arg;
	struct baton_task_opts o = { .pool = the_deep->pool };
	baton_task child;

	atomic_store(&the_deep->runner[d], gettid());
	if (d + 1 == DEEP)
		return NULL;
	if (baton_task_async_opts(&child, deep_body, (void *)(intptr_t)(d + 1),
				  &o) != 0)
		return NULL;
	(void)baton_task_info(&child, &the_deep->info[d + 1]);
	(void)baton_task_await(&child, BATON_INFINITY, NULL, NULL);
	return NULL;
}

Test(callers, a_chain_past_the_cap_keeps_the_nearest_and_says_truncated,
     .timeout = 15)
{
	static struct deep dp;
	pid_t me = gettid();
	baton_task t;

	dp.pool = make_pool(1); /* nested awaits help: one thread is enough */
	the_deep = &dp;
	cr_assert_eq(baton_task_async_opts(&t, deep_body, (void *)0,
					   &(struct baton_task_opts){
					       .pool = dp.pool }),
		     0);
	cr_assert_eq(baton_task_info(&t, &dp.info[0]), 0);
	cr_assert_eq(baton_task_await(&t, LONG_MS, NULL, NULL), 0);

	for (int d = 0; d < DEEP; d++) {
		const struct baton_task_info *in = &dp.info[d];
		unsigned int want_n = d + 1 < BATON_CALLERS_MAX
		    ? (unsigned int)d + 1
		    : BATON_CALLERS_MAX;

		cr_assert_eq(in->ncallers, want_n, "depth %d: %u callers", d,
			     in->ncallers);
		cr_assert_eq(in->callers_truncated, d + 1 > BATON_CALLERS_MAX,
			     "depth %d: truncated %d", d,
			     in->callers_truncated);
		for (unsigned int k = 0; k < want_n; k++) {
			pid_t want = (int)k < d
			    ? (pid_t)atomic_load(&dp.runner[d - 1 - (int)k])
			    : me;

			cr_assert_eq(in->callers[k], want,
				     "depth %d: callers[%u] = %d, want %d", d,
				     k, (int)in->callers[k], (int)want);
		}
	}
	baton_pool_destroy(dp.pool);
}

/*
 * The chain is a copy: a parent that ended, was consumed and whose cell
 * was recycled leaves its child's chain intact.
 */
struct orphan {
	baton_pool *pool;
	struct gate *gate;
	atomic_int runner;
	atomic_int started;
};

static struct orphan *the_orphan;

static void *
orphan_child(void *arg)
{
	if (arg == NULL)
		return NULL; /* a recycling round's child */
	atomic_store(&the_orphan->started, 1);
	gate_wait(the_orphan->gate);
	return NULL;
}

/* arg non-NULL: the parent under test; NULL: a recycling round. */
static void *
orphan_parent(void *arg)
{
	struct baton_task_opts o = { .pool = the_orphan->pool };

	if (arg != NULL) {
		atomic_store(&the_orphan->runner, gettid());
		o.label = "orphan";
	}
	(void)baton_task_start(orphan_child, arg, &o);
	return new_int(1);
}

Test(callers, a_chain_outlives_the_parent_task_that_started_it,
     .timeout = 30)
{
	struct gate gate = GATE_INIT;
	struct orphan orph = { .gate = &gate };
	struct baton_task_info infos[8];
	pid_t me = gettid(), want[2];
	baton_task t;
	ptrdiff_t n;
	void *v;

	orph.pool = make_pool(2);
	the_orphan = &orph;
	t = spawn_labelled(orph.pool, orphan_parent, &orph, "parent");
	cr_assert_eq(baton_task_await(&t, LONG_MS, &v, NULL), 0);
	free(v);
	wait_for(&orph.started, 1);
	/* Recycle cells, the parent's among them, with nested chains. */
	for (int i = 0; i < 300; i++) {
		t = spawn_labelled(orph.pool, orphan_parent, NULL, NULL);
		cr_assert_eq(baton_task_await(&t, LONG_MS, &v, NULL), 0);
		free(v);
	}
	n = baton_pool_list(orph.pool, infos, 8);
	want[0] = (pid_t)atomic_load(&orph.runner);
	want[1] = me;
	assert_chain(find(infos, n, "orphan", 0), want, 2, "orphan");
	gate_open(&gate);
	baton_pool_destroy(orph.pool);
}

static atomic_int then_started;

static void *
then_step(void *value, void *ctx)
{
	atomic_store(&then_started, 1);
	gate_wait(ctx);
	return new_int(int_of(value) + 1);
}

Test(callers, a_continuation_names_the_thread_that_chained_it,
     .timeout = 15)
{
	struct gate gate = GATE_INIT;
	struct baton_task_opts o = { .label = "input", .destroy = free };
	struct baton_task_info infos[4];
	baton_future *f, *g;
	pid_t me = gettid();
	ptrdiff_t n;

	o.pool = make_pool(1);
	cr_assert_eq(baton_future_start(&f, double_it_future, NULL, &o), 0);
	o.label = "continuation";
	cr_assert_eq(baton_future_then(&g, f, then_step, &gate, &o), 0);
	wait_for(&then_started, 1);
	n = baton_pool_list(o.pool, infos, 4);
	assert_chain(find(infos, n, "continuation", 0), &me, 1,
		     "continuation");
	gate_open(&gate);
	cr_assert_eq(baton_future_wait(g, LONG_MS), 0);
	baton_future_unref(g);
	baton_future_unref(f);
	baton_pool_destroy(o.pool);
}

/* ------------------------------------------------------------------ */
/* Streams and supervisors                                             */
/* ------------------------------------------------------------------ */

struct reader {
	baton_stream *stream;
	struct gate *gate;
	atomic_int started;
	atomic_int runner;
	int got;
};

static struct reader *the_reader;

static void *
stream_item(void *arg)
{
	atomic_fetch_add(&the_reader->started, 1);
	gate_wait(the_reader->gate);
	return new_int(*(int *)arg);
}

/* Reads a stream built by the test thread, inside a task body. */
static void *
read_stream(void *arg)
{
	struct baton_stream_item it;

	(void)arg;
	atomic_store(&the_reader->runner, gettid());
	while (baton_stream_next(the_reader->stream, &it) == 0) {
		if (it.status == 0) {
			free(it.value);
			the_reader->got++;
		}
	}
	baton_stream_destroy(the_reader->stream);
	return NULL;
}

Test(callers,
     stream_items_name_the_thread_reading_the_stream_not_the_builder,
     .timeout = 15)
{
	struct gate gate = GATE_INIT;
	struct reader rd = { .gate = &gate };
	struct baton_stream_opts so = BATON_STREAM_OPTS_INIT;
	struct baton_task_info infos[8];
	baton_pool *pool = make_pool(4);
	int in[2] = { 1, 2 };
	void *inputs[2] = { &in[0], &in[1] };
	pid_t me = gettid(), want[2];
	baton_task t;
	ptrdiff_t n;

	the_reader = &rd;
	so.pool = pool;
	so.max_concurrency = 2;
	so.destroy = free;
	cr_assert_eq(baton_task_async_stream(&rd.stream, inputs, 2,
					     stream_item, &so),
		     0);
	t = spawn_labelled(pool, read_stream, NULL, "reader");
	wait_for(&rd.started, 2);
	n = baton_pool_list(pool, infos, 8);
	want[0] = (pid_t)atomic_load(&rd.runner);
	want[1] = me;
	cr_assert_neq(want[0], me);
	assert_chain(find(infos, n, "baton_stream", 0), want, 2, "item 0");
	assert_chain(find(infos, n, "baton_stream", 1), want, 2, "item 1");
	gate_open(&gate);
	cr_assert_eq(baton_task_await(&t, LONG_MS, NULL, NULL), 0);
	cr_assert_eq(rd.got, 2);
	baton_pool_destroy(pool);
}

struct restarted {
	baton_supervisor *sup;
	struct gate *gate;
	atomic_int runs;
	atomic_int runner;
};

static struct restarted *the_restarted;

/* Returns at once the first time (and is restarted), then blocks. */
static void *
permanent_child(void *arg)
{
	(void)arg;
	if (atomic_fetch_add(&the_restarted->runs, 1) == 0)
		return NULL;
	gate_wait(the_restarted->gate);
	return NULL;
}

static void *
start_permanent(void *arg)
{
	struct baton_child_opts co = BATON_CHILD_OPTS_INIT;

	(void)arg;
	atomic_store(&the_restarted->runner, gettid());
	co.restart = BATON_RESTART_PERMANENT;
	co.label = "permanent";
	if (baton_supervisor_start_child_opts(the_restarted->sup,
					      permanent_child, NULL, &co) != 0)
		return NULL;
	return new_int(1);
}

Test(callers, a_restarted_supervisor_child_keeps_its_first_chain,
     .timeout = 15)
{
	struct gate gate = GATE_INIT;
	struct restarted rs = { .gate = &gate };
	struct baton_supervisor_opts so = BATON_SUPERVISOR_OPTS_INIT;
	struct baton_task_info infos[4];
	baton_pool *pool = make_pool(3);
	pid_t me = gettid(), want[2];
	baton_task t;
	ptrdiff_t n;
	void *v;

	the_restarted = &rs;
	so.pool = pool;
	cr_assert_eq(baton_supervisor_create(&rs.sup, &so), 0);
	t = spawn_labelled(pool, start_permanent, NULL, "starter");
	cr_assert_eq(baton_task_await(&t, LONG_MS, &v, NULL), 0);
	free(v);
	wait_for(&rs.runs, 2); /* the restart is running */
	n = baton_supervisor_children(rs.sup, infos, 4);
	cr_assert_eq(n, 1);
	want[0] = (pid_t)atomic_load(&rs.runner);
	want[1] = me;
	assert_chain(&infos[0], want, 2, "restarted child");
	gate_open(&gate);
	baton_supervisor_destroy(rs.sup);
	baton_pool_destroy(pool);
}
