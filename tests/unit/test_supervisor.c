/*
 * test_supervisor.c - Criterion unit tests for baton/supervisor.h.
 *
 * One test per behaviour of Elixir's Task.Supervisor as baton carries it,
 * named as a sentence.  Criterion forks a child per test, so globals start
 * fresh; the test thread does every assertion, and task bodies and hooks
 * only record what they saw.
 *
 * Threads synchronise by handshakes: counters under a mutex that a body
 * bumps ("I started") and the test waits for, and gates a body blocks on
 * until the test opens them.  Each test creates its own pool so that the
 * number of workers (hence which children run and which stay queued) is
 * known.  Values are malloc'd, and freed by the test or by a counting
 * destructor, so AddressSanitizer reports one freed twice or leaked.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <baton/pool.h>
#include <baton/link.h>
#include <baton/supervisor.h>
#include <baton/task.h>

#include "unit.h"

/* A function's address as introspection reports it (baton_task_info.fn). */
#define FNPTR(f)	((const void *)(uintptr_t)(f))

/* A long timeout that no test ever waits out. */
#define LONG_MS		60000

/* ------------------------------------------------------------------ */
/* Helpers (the shared ones are in unit.h)                             */
/* ------------------------------------------------------------------ */

/* A counter that threads can wait on. */
struct counter {
	pthread_mutex_t m;
	pthread_cond_t c;
	int n;
};

#define COUNTER_INIT { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 }

static void
counter_add(struct counter *k)
{
	pthread_mutex_lock(&k->m);
	k->n++;
	pthread_cond_broadcast(&k->c);
	pthread_mutex_unlock(&k->m);
}

static int
counter_get(struct counter *k)
{
	int n;

	pthread_mutex_lock(&k->m);
	n = k->n;
	pthread_mutex_unlock(&k->m);
	return n;
}

/* Waits until the counter reaches n; bounded by the test's timeout. */
static void
counter_wait(struct counter *k, int n)
{
	pthread_mutex_lock(&k->m);
	while (k->n < n)
		pthread_cond_wait(&k->c, &k->m);
	pthread_mutex_unlock(&k->m);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Waits until the supervisor counts at most n children.  The group drops a
 * child in the completion hook, just after the cell is DONE, so a thread
 * whose await returned may still see it counted for a moment.
 */
static void
count_wait_at_most(baton_supervisor *sup, size_t n)
{
	while (baton_supervisor_count(sup) > n)
		sched_yield();
}

/*
 * Destructor for values nobody took: counts, then frees.  A counter (not
 * unit.h's count_free) so that a test can block until it reaches n.
 */
static struct counter values_destroyed = COUNTER_INIT;

static void
destroy_int(void *p)
{
	free(p);
	counter_add(&values_destroyed);
}

/* What on_failure saw. */
#define MAX_FAILURES 16

static struct counter failures = COUNTER_INIT;
static pthread_mutex_t failure_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	struct baton_task_info info;
	struct baton_exit_reason reason;
	pthread_t thread;
	void *ctx;
} failure_log[MAX_FAILURES];

static void
record_failure(const struct baton_task_info *info,
	       const struct baton_exit_reason *reason, void *ctx)
{
	int i;

	pthread_mutex_lock(&failure_lock);
	i = counter_get(&failures);
	if (i < MAX_FAILURES) {
		failure_log[i].info = *info;
		failure_log[i].reason = *reason;
		failure_log[i].thread = pthread_self();
		failure_log[i].ctx = ctx;
	}
	counter_add(&failures);
	pthread_mutex_unlock(&failure_lock);
}

static int ctx_token;

static baton_supervisor *
make_sup(baton_pool *pool, size_t max_children)
{
	struct baton_supervisor_opts o = BATON_SUPERVISOR_OPTS_INIT;
	baton_supervisor *sup;

	o.pool = pool;
	o.max_children = max_children;
	o.on_failure = record_failure;
	o.ctx = &ctx_token;
	cr_assert_eq(baton_supervisor_create(&sup, &o), 0);
	cr_assert_not_null(sup);
	return sup;
}

static const struct baton_task_opts counted = { .destroy = destroy_int };

/* ------------------------------------------------------------------ */
/* Task bodies                                                         */
/* ------------------------------------------------------------------ */

static struct counter started = COUNTER_INIT;
static struct gate gate = GATE_INIT;
static atomic_int ran;

static void *
return_42(void *arg)
{
	(void)arg;
	atomic_fetch_add(&ran, 1);
	return new_int(42);
}

static pthread_t failing_thread;

static void *
fail_with_error(void *arg)
{
	(void)arg;
	failing_thread = pthread_self();
	cr_assert_eq(baton_exit(BATON_EXIT_ERROR, 7, "boom"), 0);
	return new_int(-1); /* nobody's: freed through the destructor */
}

/* Says it started, then waits for `arg` (a gate), ignoring stop requests. */
static void *
gated(void *arg)
{
	counter_add(&started);
	gate_wait(arg);
	return new_int(1);
}

/* Says it started, then runs until asked to stop; returns normally. */
static void *
cooperative(void *arg)
{
	(void)arg;
	counter_add(&started);
	while (!baton_should_stop())
		sched_yield();
	return new_int(2);
}


/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

Test(supervisor, create_and_calls_reject_bad_arguments, .timeout = 10)
{
	baton_supervisor *sup = (baton_supervisor *)&ctx_token;
	baton_task t = { 0 };

	cr_assert_eq(baton_supervisor_create(NULL, NULL), -EINVAL);
	cr_assert_eq(baton_supervisor_create(&sup, NULL), 0);
	cr_assert_eq(baton_supervisor_async_nolink(NULL, &t, return_42, NULL,
						   NULL), -EINVAL);
	cr_assert_eq(baton_supervisor_async_nolink(sup, NULL, return_42, NULL,
						   NULL), -EINVAL);
	cr_assert_eq(baton_supervisor_async_nolink(sup, &t, NULL, NULL, NULL),
		     -EINVAL);
	cr_assert_null(t.cell_);
	cr_assert_eq(baton_supervisor_start_child(NULL, return_42, NULL, NULL),
		     -EINVAL);
	cr_assert_eq(baton_supervisor_start_child(sup, NULL, NULL, NULL),
		     -EINVAL);
	cr_assert_eq(baton_supervisor_count(NULL), 0);
	cr_assert_eq(baton_supervisor_children(NULL, NULL, 0), -EINVAL);
	cr_assert_eq(baton_supervisor_children(sup, NULL, 1), -EINVAL);
	cr_assert_eq(baton_supervisor_children(sup, NULL, 0), 0);
	cr_assert_eq(baton_supervisor_terminate_child(NULL, &t), -EINVAL);
	cr_assert_eq(baton_supervisor_terminate_child(sup, NULL), -EINVAL);
	cr_assert_eq(baton_supervisor_shutdown(NULL, 0), -EINVAL);
	cr_assert_eq(baton_supervisor_shutdown(sup, -2), -EINVAL);
	cr_assert_eq(atomic_load(&ran), 0);
	baton_supervisor_destroy(sup);
	baton_supervisor_destroy(NULL);
}

Test(supervisor, async_nolink_result_is_awaited_by_its_owner, .timeout = 10)
{
	baton_pool *pool = make_pool(2);
	baton_supervisor *sup = make_sup(pool, BATON_NO_LIMIT);
	struct baton_task_info info;
	baton_task t;
	void *v = NULL;

	cr_assert_eq(baton_supervisor_async_nolink(sup, &t, return_42, NULL,
						   &counted), 0);
	cr_assert_eq(baton_task_info(&t, &info), 0);
	cr_assert_eq(info.owner_tid, gettid());
	cr_assert_eq(baton_task_await(&t, LONG_MS, &v, NULL), 0);
	cr_assert_eq(*(int *)v, 42);
	free(v);
	cr_assert_null(t.cell_, "await consumes the handle");
	count_wait_at_most(sup, 0);
	cr_assert_eq(baton_supervisor_shutdown(sup, LONG_MS), 0);
	baton_supervisor_destroy(sup);
	baton_pool_destroy(pool);
	cr_assert_eq(counter_get(&values_destroyed), 0,
		     "a taken value is the owner's");
	cr_assert_eq(counter_get(&failures), 0);
}

Test(supervisor, failures_are_reported_not_propagated, .timeout = 10)
{
	baton_pool *pool = make_pool(2);
	baton_supervisor *sup = make_sup(pool, BATON_NO_LIMIT);
	struct baton_exit_reason why = { 0 };
	baton_task bad, good;
	void *v = NULL;

	cr_assert_eq(baton_supervisor_async_nolink(sup, &bad, fail_with_error,
		     NULL, &(struct baton_task_opts){ .label = "bad",
		     .destroy = destroy_int }), 0);
	cr_assert_eq(baton_supervisor_async_nolink(sup, &good, return_42, NULL,
						   &counted), 0);

	/* The awaiter sees the same reason. */
	cr_assert_eq(baton_task_await(&bad, LONG_MS, &v, &why), BATON_EXITED);
	cr_assert_null(v);
	cr_assert_eq(why.kind, BATON_EXIT_ERROR);
	cr_assert_eq(why.code, 7);
	cr_assert_str_eq(why.message, "boom");
	cr_assert_eq(baton_task_await(&good, LONG_MS, &v, NULL), 0);
	free(v);

	/* The hook runs right after completion, on the completing thread. */
	counter_wait(&failures, 1);
	cr_assert_eq(baton_supervisor_shutdown(sup, LONG_MS), 0);
	cr_assert_eq(counter_get(&failures), 1, "a normal exit is no failure");
	cr_assert_eq(failure_log[0].reason.kind, BATON_EXIT_ERROR);
	cr_assert_eq(failure_log[0].reason.code, 7);
	cr_assert_str_eq(failure_log[0].reason.message, "boom");
	cr_assert_eq(failure_log[0].info.fn, FNPTR(fail_with_error));
	cr_assert_str_eq(failure_log[0].info.label, "bad");
	cr_assert_eq(failure_log[0].ctx, &ctx_token);
	cr_assert(pthread_equal(failure_log[0].thread, failing_thread));
	baton_supervisor_destroy(sup);
	baton_pool_destroy(pool);
	cr_assert_eq(counter_get(&values_destroyed), 1,
		     "the failed body's return value is destroyed once");
}

Test(supervisor, start_child_runs_and_its_value_is_destroyed, .timeout = 10)
{
	baton_pool *pool = make_pool(2);
	baton_supervisor *sup = make_sup(pool, BATON_NO_LIMIT);

	cr_assert_eq(baton_supervisor_start_child(sup, return_42, NULL,
						  &counted), 0);
	counter_wait(&values_destroyed, 1);
	cr_assert_eq(baton_supervisor_shutdown(sup, LONG_MS), 0);
	cr_assert_eq(baton_supervisor_count(sup), 0);
	baton_supervisor_destroy(sup);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&ran), 1);
	cr_assert_eq(counter_get(&values_destroyed), 1);
	cr_assert_eq(counter_get(&failures), 0);
}

Test(supervisor, max_children_gives_eagain_and_a_finished_child_frees_a_slot,
     .timeout = 10)
{
	struct gate gate1 = GATE_INIT, gate2 = GATE_INIT;
	baton_pool *pool = make_pool(4);
	baton_supervisor *sup = make_sup(pool, 2);
	baton_task a, c;
	void *v;

	cr_assert_eq(baton_supervisor_async_nolink(sup, &a, gated, &gate1,
						   &counted), 0);
	cr_assert_eq(baton_supervisor_start_child(sup, gated, &gate2,
						  &counted), 0);
	cr_assert_eq(baton_supervisor_count(sup), 2);
	/*
	 * Both bodies are running before anything is refused or shut down:
	 * a child still queued at shutdown would never run, and its value
	 * would never exist (seen under valgrind).
	 */
	counter_wait(&started, 2);

	/* Full: refused, fn never runs, nothing is kept. */
	c.cell_ = (void *)&ctx_token;
	cr_assert_eq(baton_supervisor_async_nolink(sup, &c, return_42, NULL,
						   &counted), -EAGAIN);
	cr_assert_null(c.cell_, "a failed start zeroes the handle");
	cr_assert_eq(baton_supervisor_start_child(sup, return_42, NULL,
						  &counted), -EAGAIN);
	cr_assert_eq(baton_supervisor_count(sup), 2);

	/* One child ends: its slot is free again. */
	gate_open(&gate1);
	cr_assert_eq(baton_task_await(&a, LONG_MS, &v, NULL), 0);
	free(v);
	count_wait_at_most(sup, 1);
	cr_assert_eq(baton_supervisor_async_nolink(sup, &c, return_42, NULL,
						   &counted), 0);
	cr_assert_eq(baton_task_await(&c, LONG_MS, &v, NULL), 0);
	cr_assert_eq(*(int *)v, 42);
	free(v);

	gate_open(&gate2);
	cr_assert_eq(baton_supervisor_shutdown(sup, LONG_MS), 0);
	baton_supervisor_destroy(sup);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&ran), 1, "refused starts never ran");
	cr_assert_eq(counter_get(&values_destroyed), 1, "start_child's value");
}

Test(supervisor, count_and_children_reflect_running_children, .timeout = 10)
{
	baton_pool *pool = make_pool(4);
	baton_supervisor *sup = make_sup(pool, BATON_NO_LIMIT);
	struct baton_task_info infos[8];
	bool seen_a = false, seen_b = false, seen_c = false;
	baton_task a, b;
	void *v;

	cr_assert_eq(baton_supervisor_count(sup), 0);
	cr_assert_eq(baton_supervisor_children(sup, infos, 8), 0);
	cr_assert_eq(baton_supervisor_async_nolink(sup, &a, gated, &gate,
		     &(struct baton_task_opts){ .label = "a",
		     .destroy = destroy_int }), 0);
	cr_assert_eq(baton_supervisor_async_nolink(sup, &b, gated, &gate,
		     &(struct baton_task_opts){ .label = "b",
		     .destroy = destroy_int }), 0);
	cr_assert_eq(baton_supervisor_start_child(sup, gated, &gate,
		     &(struct baton_task_opts){ .label = "c",
		     .destroy = destroy_int }), 0);
	counter_wait(&started, 3);

	cr_assert_eq(baton_supervisor_count(sup), 3);
	cr_assert_eq(baton_supervisor_children(sup, infos, 8), 3);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(infos[i].fn, FNPTR(gated));
		cr_assert_eq(infos[i].state, BATON_TASK_RUNNING);
		cr_assert_not(infos[i].stop_requested);
		cr_assert_not_null(infos[i].label);
		if (strcmp(infos[i].label, "a") == 0 ||
		    strcmp(infos[i].label, "b") == 0) {
			cr_assert_eq(infos[i].owner_tid, gettid());
			if (infos[i].label[0] == 'a')
				seen_a = true;
			else
				seen_b = true;
		} else {
			cr_assert_str_eq(infos[i].label, "c");
			cr_assert_eq(infos[i].owner_tid, 0, "no owner");
			seen_c = true;
		}
	}
	cr_assert(seen_a && seen_b && seen_c);
	cr_assert_eq(baton_supervisor_children(sup, infos, 1), 1);

	/* The owner consumed a handle: the group still tracks the child. */
	cr_assert_geq(baton_task_ignore(&a, NULL, NULL), 0);
	cr_assert_eq(baton_supervisor_count(sup), 3);

	gate_open(&gate);
	cr_assert_eq(baton_task_await(&b, LONG_MS, &v, NULL), 0);
	free(v);
	count_wait_at_most(sup, 0);
	cr_assert_eq(baton_supervisor_children(sup, infos, 8), 0);
	baton_supervisor_destroy(sup);
	baton_pool_destroy(pool);
	cr_assert_eq(counter_get(&values_destroyed), 2, "a (ignored) and c");
}

/*
 * Elixir's terminate_child: the child is gone when the call returns, and
 * its owner's await sees {:exit, :shutdown}; the body, asked to stop, is
 * abandoned and its late value freed.
 */
Test(supervisor, terminate_child_ends_a_running_child_before_it_returns,
     .timeout = 10)
{
	baton_pool *pool = make_pool(2);
	baton_supervisor *sup = make_sup(pool, BATON_NO_LIMIT);
	struct baton_exit_reason why;
	baton_task t, u, copy;

	cr_assert_eq(baton_supervisor_async_nolink(sup, &t, cooperative, NULL,
						   &counted), 0);
	cr_assert_eq(baton_supervisor_async_nolink(sup, &u, gated, &gate,
						   &counted), 0);
	counter_wait(&started, 2);
	copy = t;

	cr_assert_eq(baton_supervisor_terminate_child(sup, &copy), 0);
	cr_assert_eq(baton_supervisor_count(sup), 1,
		     "a terminated child is still listed");
	cr_assert_eq(baton_task_await(&t, LONG_MS, NULL, &why), BATON_EXITED,
		     "the handle was not consumed");
	cr_assert_eq(why.kind, BATON_EXIT_SHUTDOWN);
	cr_assert_eq(counter_get(&failures), 1);

	/* Even a body that ignores the stop leaves the group at once. */
	cr_assert_eq(baton_supervisor_terminate_child(sup, &u), 0);
	cr_assert_eq(baton_supervisor_count(sup), 0);
	cr_assert_eq(baton_task_await(&u, 0, NULL, &why), BATON_EXITED);
	cr_assert_eq(why.kind, BATON_EXIT_SHUTDOWN);
	cr_assert_eq(baton_supervisor_terminate_child(sup, &copy), -ESTALE);

	gate_open(&gate);
	cr_assert_eq(baton_supervisor_shutdown(sup, LONG_MS), 0);
	baton_supervisor_destroy(sup);
	baton_pool_destroy(pool);
	cr_assert_eq(counter_get(&failures), 2);
	cr_assert_eq(counter_get(&values_destroyed), 2,
		     "the abandoned bodies' values are freed once");
}

Test(supervisor, terminate_child_means_a_queued_child_never_runs,
     .timeout = 10)
{
	baton_pool *pool = make_pool(1);
	baton_supervisor *sup = make_sup(pool, BATON_NO_LIMIT);
	struct baton_exit_reason why;
	baton_task busy, queued;
	void *v;

	/* The only worker is busy, so the second child stays queued. */
	cr_assert_eq(baton_supervisor_async_nolink(sup, &busy, gated, &gate,
						   &counted), 0);
	counter_wait(&started, 1);
	cr_assert_eq(baton_supervisor_async_nolink(sup, &queued, return_42,
		     NULL, &(struct baton_task_opts){ .label = "queued",
		     .destroy = destroy_int }), 0);
	cr_assert_eq(baton_supervisor_count(sup), 2);

	/* Claimed and completed as SHUTDOWN at once, on this thread. */
	cr_assert_eq(baton_supervisor_terminate_child(sup, &queued), 0);
	cr_assert_eq(baton_supervisor_count(sup), 1);
	cr_assert_eq(counter_get(&failures), 1);
	cr_assert_eq(failure_log[0].reason.kind, BATON_EXIT_SHUTDOWN);
	cr_assert_str_eq(failure_log[0].info.label, "queued");
	cr_assert(pthread_equal(failure_log[0].thread, pthread_self()));
	cr_assert_eq(baton_task_await(&queued, LONG_MS, NULL, &why),
		     BATON_EXITED);
	cr_assert_eq(why.kind, BATON_EXIT_SHUTDOWN);

	gate_open(&gate);
	cr_assert_eq(baton_task_await(&busy, LONG_MS, &v, NULL), 0);
	free(v);
	baton_supervisor_destroy(sup);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&ran), 0, "the queued body never ran");
	cr_assert_eq(counter_get(&failures), 1);
	cr_assert_eq(counter_get(&values_destroyed), 0);
}

Test(supervisor, terminate_child_refuses_what_is_not_its_child,
     .timeout = 10)
{
	baton_pool *pool = make_pool(2);
	baton_supervisor *sup = make_sup(pool, BATON_NO_LIMIT), *other = make_sup(pool, BATON_NO_LIMIT);
	baton_task mine, theirs, plain, stale = { 0 }, copy;
	void *v;

	cr_assert_eq(baton_task_async_opts(&plain, gated, &gate,
		     &(struct baton_task_opts){ .pool = pool,
		     .destroy = destroy_int }), 0);
	cr_assert_eq(baton_supervisor_async_nolink(sup, &mine, return_42, NULL,
						   &counted), 0);
	/*
	 * Two workers: `mine` ends before `theirs` starts.  Otherwise the two
	 * gated bodies may take both (no start order is promised) and leave
	 * `mine` queued until the gate opens, after the wait for its end.
	 */
	count_wait_at_most(sup, 0);
	cr_assert_eq(baton_supervisor_async_nolink(other, &theirs, gated,
						   &gate, &counted), 0);

	cr_assert_eq(baton_supervisor_terminate_child(sup, &stale), -ESTALE);
	cr_assert_eq(baton_supervisor_terminate_child(sup, &plain), -ESRCH);
	cr_assert_eq(baton_supervisor_terminate_child(sup, &theirs), -ESRCH);

	/* A child that ended is no longer a child; a consumed one is stale. */
	copy = mine;
	count_wait_at_most(sup, 0);
	cr_assert_eq(baton_supervisor_terminate_child(sup, &mine), -ESRCH);
	cr_assert_eq(baton_task_await(&mine, LONG_MS, &v, NULL), 0);
	free(v);

	gate_open(&gate);
	cr_assert_eq(baton_task_await(&plain, LONG_MS, &v, NULL), 0);
	free(v);
	cr_assert_eq(baton_task_await(&theirs, LONG_MS, &v, NULL), 0);
	free(v);
	/*
	 * A worker may hold the queue's reference on `mine` for a moment
	 * after the await; once the pool is joined the cell is surely freed.
	 */
	baton_pool_destroy(pool);
	cr_assert_eq(baton_supervisor_terminate_child(sup, &copy), -ESTALE);
	baton_supervisor_destroy(sup);
	baton_supervisor_destroy(other);
	cr_assert_eq(counter_get(&values_destroyed), 0);
}

Test(supervisor, shutdown_stops_every_child_and_returns_zero, .timeout = 10)
{
	baton_pool *pool = make_pool(2);
	baton_supervisor *sup = make_sup(pool, BATON_NO_LIMIT);
	struct baton_exit_reason why;
	baton_task t[4];
	int normal = 0, stopped = 0;
	void *v;

	/* Two run (one worker each), two stay queued behind them. */
	cr_assert_eq(baton_supervisor_async_nolink(sup, &t[0], cooperative,
						   NULL, &counted), 0);
	cr_assert_eq(baton_supervisor_async_nolink(sup, &t[1], cooperative,
						   NULL, &counted), 0);
	counter_wait(&started, 2);
	cr_assert_eq(baton_supervisor_async_nolink(sup, &t[2], cooperative,
						   NULL, &counted), 0);
	cr_assert_eq(baton_supervisor_start_child(sup, cooperative, NULL,
						  &counted), 0);
	cr_assert_eq(baton_supervisor_async_nolink(sup, &t[3], cooperative,
						   NULL, &counted), 0);
	cr_assert_eq(baton_supervisor_count(sup), 5);

	cr_assert_eq(baton_supervisor_shutdown(sup, LONG_MS), 0);
	cr_assert_eq(baton_supervisor_count(sup), 0);
	cr_assert_eq(counter_get(&started), 2, "queued children never ran");
	/* Every hook has returned by then. */
	cr_assert_eq(counter_get(&failures), 3);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(failure_log[i].reason.kind, BATON_EXIT_SHUTDOWN);

	for (int i = 0; i < 4; i++) {
		int r = baton_task_await(&t[i], LONG_MS, &v, &why);

		if (r == 0) {
			cr_assert_eq(*(int *)v, 2);
			free(v);
			normal++;
		} else {
			cr_assert_eq(r, BATON_EXITED);
			cr_assert_eq(why.kind, BATON_EXIT_SHUTDOWN);
			stopped++;
		}
	}
	cr_assert_eq(normal, 2);
	cr_assert_eq(stopped, 2);
	baton_supervisor_destroy(sup);
	baton_pool_destroy(pool);
	cr_assert_eq(counter_get(&values_destroyed), 0);
}

Test(supervisor, shutdown_kills_at_its_timeout_a_child_that_ignores_stop,
     .timeout = 10)
{
	baton_pool *pool = make_pool(2);
	baton_supervisor *sup = make_sup(pool, BATON_NO_LIMIT);
	struct baton_exit_reason why;
	struct baton_task_info info;
	baton_task t;
	int64_t t0;
	void *v;

	cr_assert_eq(baton_supervisor_async_nolink(sup, &t, gated, &gate,
						   &counted), 0);
	cr_assert_eq(baton_supervisor_start_child(sup, gated, &gate,
						  &counted), 0);
	counter_wait(&started, 2);

	t0 = now_ms();
	cr_assert_eq(baton_supervisor_shutdown(sup, 50), -ETIMEDOUT);
	cr_assert_geq(now_ms() - t0, 50, "never early");
	/* Elixir kills them at the timeout: gone, and their owners see it. */
	cr_assert_eq(baton_supervisor_count(sup), 0, "killed, so gone");
	cr_assert_eq(baton_supervisor_children(sup, &info, 1), 0);
	cr_assert_eq(baton_task_await(&t, 0, &v, &why), BATON_EXITED);
	cr_assert_eq(why.kind, BATON_EXIT_KILLED);
	cr_assert_eq(counter_get(&failures), 2);
	cr_assert_eq(failure_log[0].reason.kind, BATON_EXIT_KILLED);
	cr_assert_eq(baton_supervisor_shutdown(sup, 0), 0);
	cr_assert_eq(baton_supervisor_start_child(sup, return_42, NULL,
						  &counted), -EPIPE);

	/* Released: the abandoned bodies' values go to the destructor. */
	gate_open(&gate);
	baton_supervisor_destroy(sup);
	baton_pool_destroy(pool);
	cr_assert_eq(counter_get(&values_destroyed), 2);
	cr_assert_eq(atomic_load(&ran), 0);
}

Test(supervisor, starts_fail_with_epipe_after_shutdown, .timeout = 10)
{
	baton_pool *pool = make_pool(1);
	baton_supervisor *sup = make_sup(pool, BATON_NO_LIMIT);
	baton_task t;

	cr_assert_eq(baton_supervisor_shutdown(sup, 0), 0);
	t.cell_ = (void *)&ctx_token;
	cr_assert_eq(baton_supervisor_async_nolink(sup, &t, return_42, NULL,
						   &counted), -EPIPE);
	cr_assert_null(t.cell_);
	cr_assert_eq(baton_supervisor_start_child(sup, return_42, NULL,
						  &counted), -EPIPE);
	cr_assert_eq(baton_supervisor_count(sup), 0);
	cr_assert_eq(baton_supervisor_shutdown(sup, LONG_MS), 0, "idempotent");
	baton_supervisor_destroy(sup);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&ran), 0);
	cr_assert_eq(counter_get(&values_destroyed), 0);
}

Test(supervisor, a_task_pool_option_overrides_the_supervisor_pool,
     .timeout = 10)
{
	baton_pool *mine = make_pool(1), *theirs = make_pool(1);
	baton_supervisor *sup = make_sup(theirs, BATON_NO_LIMIT);
	struct baton_pool_stats st;
	baton_task t;
	void *v;

	cr_assert_eq(baton_supervisor_async_nolink(sup, &t, return_42, NULL,
		     &(struct baton_task_opts){ .pool = mine,
		     .destroy = destroy_int }), 0);
	cr_assert_eq(baton_task_await(&t, LONG_MS, &v, NULL), 0);
	free(v);
	cr_assert_eq(baton_supervisor_start_child(sup, return_42, NULL,
						  &counted), 0);
	count_wait_at_most(sup, 0); /* destroy would stop it if queued */
	baton_supervisor_destroy(sup);
	cr_assert_eq(baton_pool_stats(mine, &st), 0);
	cr_assert_eq(st.spawned, 1);
	cr_assert_eq(baton_pool_stats(theirs, &st), 0);
	cr_assert_eq(st.spawned, 1);
	baton_pool_destroy(mine);
	baton_pool_destroy(theirs);
	cr_assert_eq(atomic_load(&ran), 2);
	cr_assert_eq(counter_get(&values_destroyed), 1);
}

/* The owner thread of the link test: starts both tasks, waits, exits. */
struct owner_args {
	baton_supervisor *sup;
	baton_pool *pool;
};

static atomic_int saw_stop_nolink = -1, saw_stop_linked = -1;

static void *
report_stop_nolink(void *arg)
{
	counter_add(&started);
	gate_wait(arg);
	atomic_store(&saw_stop_nolink, baton_should_stop());
	return new_int(3);
}

static void *
report_stop_linked(void *arg)
{
	counter_add(&started);
	gate_wait(arg);
	atomic_store(&saw_stop_linked, baton_should_stop());
	return new_int(4);
}

static struct counter orphans = COUNTER_INIT;
static const void *orphan_fn;

static void
count_orphan(const struct baton_task_info *info, void *ctx)
{
	(void)ctx;
	orphan_fn = info->fn;
	counter_add(&orphans);
}

static void *
owner_main(void *arg)
{
	struct owner_args *a = arg;
	baton_task nolink, linked;

	if (baton_supervisor_async_nolink(a->sup, &nolink, report_stop_nolink,
					  &gate, &counted) != 0)
		return (void *)1;
	if (baton_task_async_opts(&linked, report_stop_linked, &gate,
				  &(struct baton_task_opts){ .pool = a->pool,
				  .destroy = destroy_int }) != 0)
		return (void *)2;
	/* Both bodies run before the owner leaves without awaiting. */
	counter_wait(&started, 2);
	return NULL;
}

Test(supervisor, a_nolink_task_survives_its_owner_thread_exit, .timeout = 10)
{
	struct owner_args a = { .pool = make_pool(2) };
	pthread_t owner;
	void *r;

	a.sup = make_sup(a.pool, BATON_NO_LIMIT);
	baton_set_orphan_hook(count_orphan, NULL);
	cr_assert_eq(pthread_create(&owner, NULL, owner_main, &a), 0);
	cr_assert_eq(pthread_join(owner, &r), 0);
	cr_assert_null(r);

	/* The owner is gone: only the linked task was asked to stop. */
	cr_assert_eq(counter_get(&orphans), 1);
	cr_assert_eq(orphan_fn, FNPTR(report_stop_linked));
	cr_assert_eq(baton_supervisor_count(a.sup), 1);
	gate_open(&gate);
	counter_wait(&values_destroyed, 2);
	cr_assert_eq(atomic_load(&saw_stop_nolink), 0, "not linked");
	cr_assert_eq(atomic_load(&saw_stop_linked), 1, "linked: stopped");
	cr_assert_eq(baton_supervisor_shutdown(a.sup, LONG_MS), 0);
	baton_supervisor_destroy(a.sup);
	baton_pool_destroy(a.pool);
	baton_set_orphan_hook(NULL, NULL);
	cr_assert_eq(counter_get(&values_destroyed), 2,
		     "both values, once each");
	cr_assert_eq(counter_get(&failures), 0);
}

static void *
fail_with_value(void *arg)
{
	(void)arg;
	baton_exit(BATON_EXIT_ERROR, 1, NULL);
	return new_int(5);
}

Test(supervisor, the_destructor_runs_exactly_once_in_every_path,
     .timeout = 10)
{
	baton_pool *pool = make_pool(1);
	baton_supervisor *sup = make_sup(pool, BATON_NO_LIMIT);
	struct gate gate1 = GATE_INIT;
	baton_task busy, ignored, failed, taken, dropped, never;
	void *v;

	/* Behind the busy worker, in FIFO order. */
	cr_assert_eq(baton_supervisor_async_nolink(sup, &busy, gated, &gate1,
						   &counted), 0);
	counter_wait(&started, 1);
	cr_assert_eq(baton_supervisor_async_nolink(sup, &ignored, return_42,
						   NULL, &counted), 0);
	cr_assert_eq(baton_supervisor_async_nolink(sup, &failed,
						   fail_with_value, NULL,
						   &counted), 0);
	cr_assert_eq(baton_supervisor_async_nolink(sup, &taken, return_42,
						   NULL, &counted), 0);
	cr_assert_eq(baton_supervisor_async_nolink(sup, &dropped, return_42,
						   NULL, &counted), 0);
	cr_assert_eq(baton_supervisor_async_nolink(sup, &never, return_42,
						   NULL, &counted), 0);
	cr_assert_eq(baton_supervisor_start_child(sup, return_42, NULL,
						  &counted), 0);

	cr_assert_geq(baton_task_ignore(&ignored, NULL, NULL), 0);             /* +1 */
	cr_assert_eq(baton_supervisor_terminate_child(sup, &never), 0); /* 0 */
	gate_open(&gate1);
	cr_assert_eq(baton_task_await(&busy, LONG_MS, NULL, NULL), 0); /* +1 */
	cr_assert_eq(baton_task_await(&failed, LONG_MS, &v, NULL),
		     BATON_EXITED);                               /* +1 */
	cr_assert_eq(baton_task_await(&taken, LONG_MS, &v, NULL), 0);  /* 0 */
	free(v);
	cr_assert_eq(baton_task_await(&dropped, LONG_MS, NULL, NULL),
		     0);                                          /* +1 */
	cr_assert_eq(baton_task_await(&never, LONG_MS, &v, NULL),
		     BATON_EXITED);                               /* 0 */
	/*
	 * `never` was completed by terminate_child, not by the worker: the
	 * start_child child may still be queued.  Let it run before the
	 * supervisor's shutdown (which would stop it unrun).
	 */
	while (atomic_load(&ran) < 4)
		sched_yield();
	baton_supervisor_destroy(sup);                          /* child: +1 */
	baton_pool_destroy(pool);
	cr_assert_eq(counter_get(&values_destroyed), 5, "destroyed %d, ran %d",
		     counter_get(&values_destroyed), atomic_load(&ran));
	cr_assert_eq(atomic_load(&ran), 4, "all but the terminated one");
	cr_assert_eq(counter_get(&failures), 2, "failed and never");
}

/* Racing starters and completions never exceed max_children. */
#define RACE_THREADS	4
#define RACE_CHILDREN	300
#define RACE_MAX	8

static atomic_int running, peak;

static void *
count_running(void *arg)
{
	int now = atomic_fetch_add(&running, 1) + 1;
	int seen = atomic_load(&peak);

	(void)arg;
	while (now > seen && !atomic_compare_exchange_weak(&peak, &seen, now))
		;
	sched_yield();
	atomic_fetch_sub(&running, 1);
	return new_int(6);
}

static void *
race_starter(void *arg)
{
	baton_supervisor *sup = arg;
	intptr_t refused = 0;

	for (int i = 0; i < RACE_CHILDREN; i++) {
		int r;

		while ((r = baton_supervisor_start_child(sup, count_running,
							 NULL, &counted)) ==
		       -EAGAIN) {
			refused++;
			sched_yield();
		}
		if (r != 0)
			return (void *)(intptr_t)-1;
	}
	return (void *)refused;
}

Test(supervisor, racing_starters_never_exceed_max_children, .timeout = 10)
{
	baton_pool *pool = make_pool(RACE_MAX * 2);
	baton_supervisor *sup = make_sup(pool, RACE_MAX);
	pthread_t th[RACE_THREADS];

	for (int i = 0; i < RACE_THREADS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, race_starter, sup),
			     0);
	for (int i = 0; i < RACE_THREADS; i++) {
		void *r;

		cr_assert_eq(pthread_join(th[i], &r), 0);
		cr_assert_geq((intptr_t)r, 0);
	}
	/* Let every child finish: shutdown would stop the queued ones. */
	count_wait_at_most(sup, 0);
	cr_assert_eq(baton_supervisor_shutdown(sup, LONG_MS), 0);
	baton_supervisor_destroy(sup);
	baton_pool_destroy(pool);
	cr_assert_leq(atomic_load(&peak), RACE_MAX);
	cr_assert_eq(counter_get(&values_destroyed),
		     RACE_THREADS * RACE_CHILDREN);
	cr_assert_eq(counter_get(&failures), 0);
}

/* Issue 13, item 6: INIT holds Elixir's defaults; 0 children means 0. */
Test(supervisor, opts_init_is_unlimited_and_zero_max_children_refuses_every_child,
     .timeout = 10)
{
	struct baton_supervisor_opts o = BATON_SUPERVISOR_OPTS_INIT;
	baton_supervisor *sup;
	baton_task t;
	void *v;

	cr_assert_null(o.pool);
	cr_assert_eq(o.max_children, BATON_NO_LIMIT);
	cr_assert_null(o.on_failure);
	o.max_children = 0;
	cr_assert_eq(baton_supervisor_create(&sup, &o), 0);
	cr_assert_eq(baton_supervisor_async_nolink(sup, &t, return_42, NULL,
						   NULL), -EAGAIN);
	cr_assert_eq(baton_supervisor_start_child(sup, return_42, NULL, NULL),
		     -EAGAIN);
	baton_supervisor_destroy(sup);
	cr_assert_eq(baton_supervisor_create(&sup, NULL), 0);
	cr_assert_eq(baton_supervisor_async_nolink(sup, &t, return_42, NULL,
						   NULL), 0);
	cr_assert_eq(baton_task_await(&t, 5000, &v, NULL), 0);
	free(v); /* no destructor given: the value is the awaiter's to free */
	baton_supervisor_destroy(sup);
	cr_assert_eq(atomic_load(&ran), 1);
}

/* ------------------------------------------------------------------ */
/* Issue 13, item 10: restarts, brutal shutdown, linked children       */
/* ------------------------------------------------------------------ */

/* Fails while fewer than *arg runs happened, then returns normally. */
static struct counter runs = COUNTER_INIT;

static void *
fails_at_first(void *arg)
{
	int until = (int)(intptr_t)arg;

	counter_add(&runs);
	if (counter_get(&runs) <= until)
		baton_exit(BATON_EXIT_ERROR, EIO, "not yet");
	return NULL;
}

static struct baton_child_opts
restarting(enum baton_restart restart)
{
	struct baton_child_opts o = BATON_CHILD_OPTS_INIT;

	o.restart = restart;
	return o;
}

Test(supervisor, a_transient_child_is_restarted_until_it_exits_normally,
     .timeout = 10)
{
	baton_pool *pool = make_pool(1);
	baton_supervisor *sup = make_sup(pool, BATON_NO_LIMIT);
	struct baton_child_opts o = restarting(BATON_RESTART_TRANSIENT);

	cr_assert_eq(baton_supervisor_start_child_opts(sup, fails_at_first,
						       (void *)2, &o), 0);
	counter_wait(&runs, 3);
	count_wait_at_most(sup, 0);
	cr_assert_eq(baton_supervisor_shutdown(sup, LONG_MS), 0);
	cr_assert_eq(counter_get(&runs), 3, "two failures, one success");
	cr_assert_eq(counter_get(&failures), 2);
	cr_assert(baton_supervisor_alive(sup) == false, "shut down");
	baton_supervisor_destroy(sup);
	baton_pool_destroy(pool);
}

Test(supervisor, a_temporary_child_is_never_restarted, .timeout = 10)
{
	baton_pool *pool = make_pool(1);
	baton_supervisor *sup = make_sup(pool, BATON_NO_LIMIT);

	cr_assert_eq(baton_supervisor_start_child_opts(sup, fails_at_first,
						       (void *)5, NULL), 0);
	counter_wait(&failures, 1);
	count_wait_at_most(sup, 0);
	cr_assert_eq(baton_supervisor_shutdown(sup, LONG_MS), 0);
	cr_assert_eq(counter_get(&runs), 1);
	baton_supervisor_destroy(sup);
	baton_pool_destroy(pool);
}

/* Elixir: more than 3 restarts in 5 s and the supervisor gives up. */
Test(supervisor, too_many_restarts_make_the_supervisor_give_up,
     .timeout = 10)
{
	baton_pool *pool = make_pool(1);
	baton_supervisor *sup = make_sup(pool, BATON_NO_LIMIT);
	struct baton_child_opts o = restarting(BATON_RESTART_PERMANENT);

	cr_assert(baton_supervisor_alive(sup));
	/* Permanent: restarted even after a normal return. */
	cr_assert_eq(baton_supervisor_start_child_opts(sup, fails_at_first,
						       (void *)0, &o), 0);
	counter_wait(&runs, 4);
	while (baton_supervisor_alive(sup))
		sched_yield();
	count_wait_at_most(sup, 0);
	cr_assert_eq(counter_get(&runs), 4, "1 start + max_restarts 3");
	cr_assert_eq(baton_supervisor_start_child(sup, return_42, NULL,
						  &counted), -EPIPE);
	baton_supervisor_destroy(sup);
	baton_pool_destroy(pool);
	cr_assert_eq(counter_get(&failures), 0);
}

/* Elixir's shutdown: :brutal_kill: owners see killed, at once. */
Test(supervisor, brutal_shutdown_gives_the_owners_killed_at_once,
     .timeout = 10)
{
	baton_pool *pool = make_pool(1);
	baton_supervisor *sup = make_sup(pool, BATON_NO_LIMIT);
	struct baton_exit_reason why;
	baton_task running, queued;
	int64_t t0;

	cr_assert_eq(baton_supervisor_async_nolink(sup, &running, gated, &gate,
						   &counted), 0);
	counter_wait(&started, 1);
	cr_assert_eq(baton_supervisor_async_nolink(sup, &queued, return_42,
						   NULL, &counted), 0);
	t0 = now_ms();
	cr_assert_eq(baton_supervisor_shutdown_brutal(sup), 0);
	cr_assert_lt(now_ms() - t0, PROMPT_MS);
	cr_assert_eq(baton_supervisor_count(sup), 0);
	cr_assert(!baton_supervisor_alive(sup));
	cr_assert_eq(baton_task_await(&running, 0, NULL, &why), BATON_EXITED);
	cr_assert_eq(why.kind, BATON_EXIT_KILLED);
	cr_assert_eq(baton_task_await(&queued, 0, NULL, &why), BATON_EXITED);
	cr_assert_eq(why.kind, BATON_EXIT_SHUTDOWN, "never started");
	gate_open(&gate);
	baton_supervisor_destroy(sup);
	baton_pool_destroy(pool);
	cr_assert_eq(atomic_load(&ran), 0);
	cr_assert_eq(counter_get(&values_destroyed), 1, "the killed body's");
}

/* Task.Supervisor.async is linked: stopped when its owner exits. */
struct owner_exit {
	baton_supervisor *sup;
	baton_task linked, nolink;
};

static void *
start_two_and_exit(void *arg)
{
	struct owner_exit *o = arg;

	cr_assert_eq(baton_supervisor_async(o->sup, &o->linked, cooperative,
					    NULL, &counted), 0);
	cr_assert_eq(baton_supervisor_async_nolink(o->sup, &o->nolink, gated,
						   &gate, &counted), 0);
	counter_wait(&started, 2); /* both run before their owner leaves */
	return NULL;
}

Test(supervisor, async_children_are_linked_and_nolink_ones_are_not,
     .timeout = 10)
{
	baton_pool *pool = make_pool(2);
	struct owner_exit o = { make_sup(pool, BATON_NO_LIMIT), { 0 }, { 0 } };
	pthread_t th;

	cr_assert_eq(pthread_create(&th, NULL, start_two_and_exit, &o), 0);
	cr_assert_eq(pthread_join(th, NULL), 0);
	/* The owner is gone: the linked child is asked to stop and ends. */
	count_wait_at_most(o.sup, 1);
	cr_assert_eq(baton_supervisor_count(o.sup), 1, "nolink runs on");
	gate_open(&gate);
	count_wait_at_most(o.sup, 0);
	baton_supervisor_destroy(o.sup);
	baton_pool_destroy(pool);
	cr_assert_eq(counter_get(&values_destroyed), 2);
}

/* A linked child's failure reaches its trapping owner without an await. */
static void *
fail_now(void *arg)
{
	(void)arg;
	baton_exit(BATON_EXIT_ERROR, EIO, "linked failure");
	return NULL;
}

Test(supervisor, a_linked_child_failure_is_an_exit_notice_for_its_owner,
     .timeout = 10)
{
	baton_pool *pool = make_pool(1);
	baton_supervisor *sup = make_sup(pool, BATON_NO_LIMIT);
	struct baton_exit_notice n;
	baton_task t, quiet;

	cr_assert_eq(baton_trap_exits(true), 0);
	cr_assert_eq(baton_supervisor_async(sup, &t, fail_now, NULL, NULL), 0);
	cr_assert_eq(baton_supervisor_async_nolink(sup, &quiet, fail_now, NULL,
						   NULL), 0);
	cr_assert_eq(baton_exit_notice_next(LONG_MS, &n), 0);
	cr_assert_eq(n.reason.kind, BATON_EXIT_ERROR);
	cr_assert_eq(n.reason.code, EIO);
	cr_assert_eq(n.task.fn, (const void *)(uintptr_t)fail_now);
	count_wait_at_most(sup, 0);
	cr_assert_eq(baton_exit_notice_next(0, &n), -ETIMEDOUT,
		     "an async_nolink child is not linked");
	cr_assert_eq(baton_task_await(&t, 0, NULL, NULL), BATON_EXITED);
	cr_assert_eq(baton_task_await(&quiet, 0, NULL, NULL), BATON_EXITED);
	baton_supervisor_destroy(sup);
	baton_pool_destroy(pool);
}

/* ------------------------------------------------------------------ */
/* async_stream and async_stream_nolink                                */
/* ------------------------------------------------------------------ */

/* A stream item: fails for input 2, else returns input * 10. */
static void *
item_fail_on_2(void *arg)
{
	int v = *(int *)arg;

	if (v == 2) {
		baton_exit(BATON_EXIT_ERROR, EIO, "item 2 failed");
		return NULL;
	}
	return new_int(v * 10);
}

static int item_in[6] = { 1, 2, 3, 4, 5, 6 };
static void *item_inputs[6] = { &item_in[0], &item_in[1], &item_in[2],
				&item_in[3], &item_in[4], &item_in[5] };

/* Reads a whole stream of 4 (items 1..4), checking item 2 failed. */
static void
read_fail_on_2(baton_stream *s)
{
	struct baton_stream_item it;

	for (int i = 0; i < 4; i++) {
		cr_assert_eq(baton_stream_next(s, &it), 0);
		cr_assert_eq(it.index, (size_t)i);
		if (i == 1) {
			cr_assert_eq(it.status, BATON_EXITED);
			cr_assert_eq(it.reason.kind, BATON_EXIT_ERROR);
			cr_assert_eq(it.reason.code, EIO);
		} else {
			cr_assert_eq(it.status, 0);
			cr_assert_eq(int_of(it.value), (i + 1) * 10);
			free(it.value);
		}
	}
	cr_assert_eq(baton_stream_next(s, &it), -EPIPE);
}

Test(supervisor, async_stream_nolink_reports_a_crash_in_the_stream_only,
     .timeout = 10)
{
	baton_pool *pool = make_pool(2);
	baton_supervisor *sup = make_sup(pool, BATON_NO_LIMIT);
	struct baton_exit_notice n;
	baton_stream *s;

	cr_assert_eq(baton_trap_exits(true), 0);
	cr_assert_eq(baton_supervisor_async_stream_nolink(sup, &s, item_inputs,
							  4, item_fail_on_2,
							  NULL),
		     0);
	read_fail_on_2(s);
	baton_stream_destroy(s);
	/* A supervised child: on_failure heard it, before the stream did. */
	cr_assert_eq(counter_get(&failures), 1);
	cr_assert_eq(failure_log[0].reason.code, EIO);
	cr_assert_eq(baton_supervisor_count(sup), 0);
	cr_assert_eq(baton_exit_notice_next(0, &n), -ETIMEDOUT,
		     "a nolink item sent an exit notice");
	baton_supervisor_destroy(sup);
	baton_pool_destroy(pool);
}

Test(supervisor, async_stream_is_linked_a_crash_reaches_a_trapping_reader,
     .timeout = 10)
{
	baton_pool *pool = make_pool(2);
	baton_supervisor *sup = make_sup(pool, BATON_NO_LIMIT);
	struct baton_exit_notice n;
	baton_stream *s;

	cr_assert_eq(baton_trap_exits(true), 0);
	cr_assert_eq(baton_supervisor_async_stream(sup, &s, item_inputs, 4,
						   item_fail_on_2, NULL),
		     0);
	read_fail_on_2(s);
	baton_stream_destroy(s);
	/* Queued before the stream handed the element out: a poll finds it. */
	cr_assert_eq(baton_exit_notice_next(0, &n), 0);
	cr_assert_eq(n.reason.kind, BATON_EXIT_ERROR);
	cr_assert_eq(n.reason.code, EIO);
	cr_assert_str_eq(n.task.label, "baton_stream");
	cr_assert_eq(baton_exit_notice_next(0, &n), -ETIMEDOUT, "one failure");
	cr_assert_eq(counter_get(&failures), 1);
	baton_supervisor_destroy(sup);
	baton_pool_destroy(pool);
}

Test(supervisor, supervised_streams_reject_a_null_supervisor, .timeout = 10)
{
	baton_stream *s = (baton_stream *)&s;

	cr_assert_eq(baton_supervisor_async_stream(NULL, &s, item_inputs, 1,
						   item_fail_on_2, NULL),
		     -EINVAL);
	cr_assert_null(s);
	s = (baton_stream *)&s;
	cr_assert_eq(baton_supervisor_async_stream_nolink_gen(
			 NULL, &s, NULL, NULL, item_fail_on_2, NULL),
		     -EINVAL);
	cr_assert_null(s);
}

/* Says it started, tracks how many run at once, waits for the gate. */
static atomic_int running_now, running_peak;

static void *
gated_item(void *arg)
{
	int now = atomic_fetch_add(&running_now, 1) + 1;
	int peak = atomic_load(&running_peak);

	while (now > peak &&
	       !atomic_compare_exchange_weak(&running_peak, &peak, now))
		;
	counter_add(&started);
	gate_wait(&gate);
	atomic_fetch_sub(&running_now, 1);
	return new_int(*(int *)arg);
}

struct stream_reader {
	baton_stream *s;
	int ok, exited, refused, killed, last;
};

/* Reads a stream to its end on its own thread (which then owns it). */
static void *
read_all(void *arg)
{
	struct stream_reader *r = arg;
	struct baton_stream_item it;

	while ((r->last = baton_stream_next(r->s, &it)) == 0) {
		if (it.status == 0) {
			r->ok++;
			free(it.value);
		} else if (it.reason.code == EPIPE) {
			r->refused++;
		} else if (it.reason.kind == BATON_EXIT_KILLED) {
			r->killed++;
		} else {
			r->exited++;
		}
	}
	baton_stream_destroy(r->s);
	return NULL;
}

Test(supervisor,
     stream_items_are_children_counted_and_listed_within_max_children,
     .timeout = 10)
{
	baton_pool *pool = make_pool(4);
	baton_supervisor *sup = make_sup(pool, 3);
	struct baton_stream_opts so = BATON_STREAM_OPTS_INIT;
	struct stream_reader r = { 0 };
	struct baton_task_info infos[8];
	pthread_t th;

	so.max_concurrency = 3;
	so.destroy = destroy_int;
	cr_assert_eq(baton_supervisor_async_stream_nolink(sup, &r.s,
							  item_inputs, 6,
							  gated_item, &so),
		     0);
	cr_assert_eq(baton_supervisor_count(sup), 0, "lazy: nothing yet");
	cr_assert_eq(pthread_create(&th, NULL, read_all, &r), 0);
	counter_wait(&started, 3);
	cr_assert_eq(baton_supervisor_count(sup), 3);
	cr_assert_eq(baton_supervisor_children(sup, infos, 8), 3);
	for (int i = 0; i < 3; i++)
		cr_assert_str_eq(infos[i].label, "baton_stream");
	gate_open(&gate);
	cr_assert_eq(pthread_join(th, NULL), 0);
	cr_assert_eq(r.last, -EPIPE);
	cr_assert_eq(r.ok, 6);
	cr_assert_leq(atomic_load(&running_peak), 3);
	count_wait_at_most(sup, 0);
	cr_assert_eq(counter_get(&failures), 0);
	baton_supervisor_destroy(sup);
	baton_pool_destroy(pool);
}

Test(supervisor, a_stream_item_past_max_children_fails_the_stream_with_eagain,
     .timeout = 20)
{
	baton_pool *pool = make_pool(4);
	baton_supervisor *sup = make_sup(pool, 2);
	struct baton_stream_opts so = BATON_STREAM_OPTS_INIT;
	struct baton_stream_item it;
	baton_stream *s;

	/* Another child holds one of the two places. */
	cr_assert_eq(baton_supervisor_start_child(sup, gated, &gate, &counted),
		     0);
	counter_wait(&started, 1);
	so.max_concurrency = 2;
	so.destroy = destroy_int;
	/* Without the limit, next would wait on the gate: bound it. */
	so.timeout_ms = 3000;
	cr_assert_eq(baton_supervisor_async_stream(sup, &s, item_inputs, 3,
						   gated_item, &so),
		     0);
	cr_assert_eq(baton_stream_next(s, &it), -EAGAIN);
	cr_assert_eq(it.index, 1, "the item that could not start");
	cr_assert_eq(it.input, item_inputs[1]);
	cr_assert_eq(it.status, BATON_EXITED);
	cr_assert_eq(it.reason.code, EAGAIN);
	/* Item 0 was stopped and has left the group already. */
	cr_assert_eq(baton_supervisor_count(sup), 1);
	cr_assert_eq(baton_stream_next(s, &it), -EPIPE);
	baton_stream_destroy(s);
	gate_open(&gate);
	baton_supervisor_destroy(sup);
	baton_pool_destroy(pool);
	/* The other child's value, and item 0's if it ran. */
	cr_assert_eq(counter_get(&values_destroyed),
		     1 + (counter_get(&started) > 1));
}

Test(supervisor, a_killed_stream_item_leaves_the_group_at_once,
     .timeout = 10)
{
	baton_pool *pool = make_pool(3);
	baton_supervisor *sup = make_sup(pool, BATON_NO_LIMIT);
	struct baton_stream_opts so = BATON_STREAM_OPTS_INIT;
	struct baton_stream_item it;
	struct baton_exit_notice n;
	baton_stream *s;

	/* Linked, to a trapping reader: a killed item is no exit notice. */
	cr_assert_eq(baton_trap_exits(true), 0);
	so.max_concurrency = 1;
	so.timeout_ms = 50;
	so.on_timeout = BATON_STREAM_KILL_TASK;
	so.destroy = destroy_int;
	cr_assert_eq(baton_supervisor_async_stream(sup, &s, item_inputs, 1,
						   gated_item, &so),
		     0);
	cr_assert_eq(baton_stream_next(s, &it), 0);
	cr_assert_eq(it.status, BATON_EXITED);
	cr_assert_eq(it.reason.kind, BATON_EXIT_TIMEOUT);
	/* Its body still waits on the gate, but the child is gone. */
	cr_assert_eq(baton_supervisor_count(sup), 0);
	cr_assert_eq(counter_get(&failures), 1);
	cr_assert_eq(failure_log[0].reason.kind, BATON_EXIT_KILLED);
	cr_assert_eq(baton_stream_next(s, &it), -EPIPE);
	baton_stream_destroy(s);
	gate_open(&gate);
	baton_supervisor_destroy(sup);
	baton_pool_destroy(pool);
	cr_assert_eq(counter_get(&values_destroyed), 1);
	cr_assert_eq(baton_exit_notice_next(0, &n), -ETIMEDOUT);
}

/* A stream item that returns its input at once. */
static void *
quick_item(void *arg)
{
	return new_int(*(int *)arg);
}

/*
 * Halting a linked stream with an item still queued: the item never runs
 * and sends its trapping reader no exit notice (it was unlinked first).
 * The pool's one worker is held by a blocker, so item 0 runs on the
 * reader (helping: timeout BATON_INFINITY) and item 1 stays queued.
 */
static void
halt_with_a_queued_item(baton_supervisor *sup, baton_pool *pool)
{
	struct baton_stream_opts so = BATON_STREAM_OPTS_INIT;
	struct baton_stream_item it;
	baton_stream *s;

	so.pool = pool;
	so.max_concurrency = 2;
	so.timeout_ms = BATON_INFINITY;
	so.destroy = destroy_int;
	if (sup != NULL)
		cr_assert_eq(baton_supervisor_async_stream(sup, &s, item_inputs,
							   2, quick_item, &so),
			     0);
	else
		cr_assert_eq(baton_task_async_stream(&s, item_inputs, 2,
						     quick_item, &so),
			     0);
	cr_assert_eq(baton_stream_next(s, &it), 0);
	cr_assert_eq(it.index, 0);
	free(it.value);
	baton_stream_destroy(s);
}

Test(supervisor, a_stream_halted_early_sends_its_reader_no_exit_notice,
     .timeout = 10)
{
	baton_pool *pool = make_pool(1);
	baton_supervisor *sup = make_sup(pool, BATON_NO_LIMIT);
	struct baton_exit_notice n;
	baton_task blocker;

	cr_assert_eq(baton_trap_exits(true), 0);
	cr_assert_eq(baton_task_async_opts(&blocker, gated, &gate,
					   &(struct baton_task_opts){
					       .pool = pool,
					       .destroy = destroy_int }),
		     0);
	counter_wait(&started, 1);
	halt_with_a_queued_item(NULL, pool);
	halt_with_a_queued_item(sup, pool);
	cr_assert_eq(baton_supervisor_count(sup), 0);
	gate_open(&gate);
	cr_assert_eq(baton_task_await(&blocker, LONG_MS, NULL, NULL), 0);
	baton_supervisor_destroy(sup);
	baton_pool_destroy(pool);
	cr_assert_eq(baton_exit_notice_next(0, &n), -ETIMEDOUT);
	/* The blocker's value (not taken): item 1 never ran. */
	cr_assert_eq(counter_get(&values_destroyed), 1);
}

/* Reads one element of a nolink stream, then exits without destroying it. */
static atomic_int saw_stop;

static void *
until_stopped(void *arg)
{
	if (*(int *)arg == 1)
		return new_int(1);
	counter_add(&started);
	while (!baton_should_stop())
		sched_yield();
	atomic_store(&saw_stop, 1);
	return new_int(2);
}

static void *
read_one_and_exit(void *arg)
{
	struct baton_stream_item it;

	cr_assert_eq(baton_stream_next(arg, &it), 0);
	free(it.value);
	counter_wait(&started, 1);
	return NULL; /* exits owning the stream, item 1 still running */
}

Test(supervisor, a_nolink_stream_still_stops_its_items_when_its_reader_exits,
     .timeout = 10)
{
	baton_pool *pool = make_pool(2);
	baton_supervisor *sup = make_sup(pool, BATON_NO_LIMIT);
	struct baton_stream_opts so = BATON_STREAM_OPTS_INIT;
	baton_stream *s;
	pthread_t th;

	so.max_concurrency = 2;
	so.destroy = destroy_int;
	cr_assert_eq(baton_supervisor_async_stream_nolink(sup, &s, item_inputs,
							  2, until_stopped,
							  &so),
		     0);
	cr_assert_eq(pthread_create(&th, NULL, read_one_and_exit, s), 0);
	cr_assert_eq(pthread_join(th, NULL), 0);
	count_wait_at_most(sup, 0);
	cr_assert_eq(atomic_load(&saw_stop), 1);
	baton_stream_destroy(s); /* its owner is gone: frees only memory */
	baton_supervisor_destroy(sup);
	baton_pool_destroy(pool);
	cr_assert_eq(counter_get(&values_destroyed), 1);
}
