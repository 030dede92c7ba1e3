/*
 * fault_injection.c - every allocation, thread and key creation inside
 * baton, failed one at a time: each failure must give a documented error
 * (or be absorbed), run every destructor exactly once, and leave every
 * object destroyable.  Built only with -Dfault_injection=true; run it in
 * an ASan build so that LeakSanitizer checks, at exit, that nothing leaked.
 *
 * For each scenario: one run with nothing armed counts its fallible calls,
 * N; then for every k in 1..N a run with baton_test_fail_after(k).  After
 * each run every value a body or the test created must have been freed
 * exactly once (a counter and a magic word per value; ASan sees double
 * frees), the default pool must hold no live cell (cells are never
 * returned to malloc, so LeakSanitizer cannot see a leaked one), and the
 * scenario itself checks each return code against the header's
 * documented errors.  A run's failure is "covered" if the armed
 * call really failed (the count of fallible calls can vary by a few from
 * run to run: cells come from per-thread caches).
 *
 * first_use runs in a fresh child process per k (fork, before this process
 * starts any thread), because the thread key and the default pool are
 * created once per process: it fails them on first use and checks that
 * baton keeps working or fails cleanly, and never touches a thread key
 * that is not its own.
 *
 * Output: one line per scenario, "fault <scenario> sites covered k/N ok",
 * then the source lines that were failed; a total line; exit status 1 on
 * any failure.  FAULT_VERBOSE=1 prints every run.
 */
#include <baton.h>
#include <baton/testing.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TOK(i) ((void *)(uintptr_t)(i))
#define UNTOK(p) ((long)(uintptr_t)(p))
#define MAGIC 0x5eedf00du
#define DEAD 0xdeadbeefu
#define QUIESCE_MS 10000
#define MANY 70 /* > 64: await_many and yield_many allocate */

/* ---- values with a destructor that counts -------------------------- */

struct value {
	unsigned int magic;
	long n;
};

static atomic_long values_live; /* created and not yet freed */
static atomic_long runs;        /* task bodies that ran */
static atomic_long callbacks;   /* future callbacks that ran */
static atomic_long failures_hooked; /* supervisor on_failure calls */

static const char *cur_scenario = "";
static long cur_k;
static atomic_int run_failures; /* callbacks and destructors check too */
static bool verbose;

static void
fail_at(int line, const char *fmt, ...)
{
	va_list ap;
	const char *site = baton_test_failed_site();

	fprintf(stderr, "FAIL %s k=%ld (failed site %s), line %d: ",
		cur_scenario, cur_k, site != NULL ? site : "none", line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	run_failures++;
}

#define CHECK(cond, ...)                                 \
	do {                                             \
		if (!(cond))                             \
			fail_at(__LINE__, __VA_ARGS__);  \
	} while (0)

/* The scenario goes on only if the call succeeded. */
#define EXPECT_OK_OR(r, ...)                                              \
	do {                                                              \
		int r_ = (r);                                             \
		if (r_ != 0) {                                            \
			int ok_[] = { __VA_ARGS__ };                      \
			bool found_ = false;                              \
			for (size_t i_ = 0;                               \
			     i_ < sizeof(ok_) / sizeof(ok_[0]); i_++)     \
				found_ |= r_ == ok_[i_];                  \
			CHECK(found_, "%s returned %d", #r, r_);          \
		}                                                         \
	} while (0)

static void *
value_new(long n)
{
	struct value *v = malloc(sizeof(*v));

	if (v == NULL)
		abort(); /* the test's own memory is never injected */
	v->magic = MAGIC;
	v->n = n;
	atomic_fetch_add(&values_live, 1);
	return v;
}

static void
value_destroy(void *p)
{
	struct value *v = p;

	if (v == NULL || v->magic != MAGIC) {
		fail_at(__LINE__, "destructor got a bad value %p", p);
		return;
	}
	v->magic = DEAD;
	free(v);
	atomic_fetch_sub(&values_live, 1);
}

/* A value handed to the test: check it, then free it. */
static void
value_take(void *p, long expect)
{
	struct value *v = p;

	if (v == NULL || v->magic != MAGIC) {
		fail_at(__LINE__, "took a bad value %p", p);
		return;
	}
	CHECK(v->n == expect, "value %ld, expected %ld", v->n, expect);
	value_destroy(v);
}

static long
value_n(const void *p)
{
	const struct value *v = p;

	return v != NULL && v->magic == MAGIC ? v->n : -1;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Waits until *counter == want; false after QUIESCE_MS. */
static bool
wait_count(atomic_long *counter, long want)
{
	for (int waited = 0; waited < QUIESCE_MS; waited++) {
		if (atomic_load(counter) == want)
			return true;
		sleep_ms(1);
	}
	return atomic_load(counter) == want;
}

/*
 * Cells are never returned to malloc, so LeakSanitizer cannot see a leaked
 * one: the default pool's count of live cells must come back to 0.
 */
static size_t
live_cells(void)
{
	struct baton_pool_stats st;

	for (int waited = 0; waited < QUIESCE_MS; waited++) {
		if (baton_pool_stats(baton_pool_default(), &st) != 0)
			return SIZE_MAX;
		if (st.live == 0)
			return 0;
		sleep_ms(1);
	}
	return st.live;
}

static void
wait_runs(long want)
{
	CHECK(wait_count(&runs, want), "%ld bodies ran, expected %ld",
	      atomic_load(&runs), want);
}

/* ---- task bodies ---------------------------------------------------- */

static void *
body_value(void *arg)
{
	atomic_fetch_add(&runs, 1);
	return value_new(UNTOK(arg));
}

/* Runs until asked to stop (a supervisor's shutdown). */
static void *
body_until_stopped(void *arg)
{
	atomic_fetch_add(&runs, 1);
	while (!baton_should_stop())
		sleep_ms(1);
	return value_new(UNTOK(arg));
}

static void *
add_one(void *value, void *ctx)
{
	(void)ctx;
	return value_new(value_n(value) + 1);
}

static void
count_callback(baton_future *f, void *ctx)
{
	(void)ctx;
	CHECK(baton_future_is_done(f), "callback before completion");
	atomic_fetch_add(&callbacks, 1);
}

static void
count_failure(const struct baton_task_info *child,
	      const struct baton_exit_reason *reason, void *ctx)
{
	(void)child;
	(void)reason;
	(void)ctx;
	atomic_fetch_add(&failures_hooked, 1);
}

static const struct baton_task_opts value_opts = {
	.label = "fault", .destroy = value_destroy
};

/* A task handle left zeroed by a failed call is stale. */
static void
check_zeroed(const baton_task *t)
{
	static const baton_task zero;

	CHECK(memcmp(t, &zero, sizeof(zero)) == 0,
	      "a failed call left the handle set");
}

/* ---- scenarios -------------------------------------------------------- */

static void
scen_queue(void)
{
	baton_queue *q = (baton_queue *)&q;
	void *item;
	int r;

	r = baton_queue_create(&q, 8, value_destroy);
	if (r != 0) {
		CHECK(r == -ENOMEM && q == NULL, "create: %d, q %p", r,
		      (void *)q);
		return;
	}
	for (long i = 0; i < 5; i++)
		CHECK(baton_queue_push(q, value_new(i)) == 0, "push");
	CHECK(baton_queue_pop(q, &item) == 0, "pop");
	value_take(item, 0);
	baton_queue_destroy(q); /* the destructor frees the other four */
}

static void
scen_pool(void)
{
	struct baton_task_opts opts = value_opts;
	struct baton_pool_stats st;
	baton_pool *pool = (baton_pool *)&pool;
	baton_task t;
	void *v;
	int r;

	r = baton_pool_create(&pool, 3);
	if (r != 0) {
		CHECK((r == -ENOMEM || r == -EAGAIN) && pool == NULL,
		      "create: %d, pool %p", r, (void *)pool);
		return;
	}
	opts.pool = pool;
	r = baton_task_async_opts(&t, body_value, TOK(7), &opts);
	EXPECT_OK_OR(r, -ENOMEM);
	if (r == 0) {
		CHECK(baton_task_await(&t, BATON_INFINITY, &v, NULL) == 0,
		      "await");
		value_take(v, 7);
	} else {
		check_zeroed(&t);
	}
	CHECK(baton_pool_stats(pool, &st) == 0 && st.workers == 3 &&
		  st.spawned == (r == 0 ? 1u : 0u),
	      "stats: %u workers, %lu spawned", st.workers,
	      (unsigned long)st.spawned);
	baton_pool_destroy(pool);
	CHECK(atomic_load(&runs) == (r == 0), "bodies ran: %ld",
	      atomic_load(&runs));
}

/* Blocks inside baton until the future it is given completes. */
static void *
body_wait_future(void *arg)
{
	atomic_fetch_add(&runs, 1);
	(void)baton_future_wait(arg, BATON_INFINITY);
	return NULL;
}

/*
 * An elastic pool whose only base thread blocks: the thread it adds for
 * the queued task may fail to start (its allocation or its creation);
 * then the task runs once the blocked body returns, on the thread that
 * exists.
 */
static void
scen_pool_growth(void)
{
	struct baton_pool_opts po = BATON_POOL_OPTS_INIT;
	struct baton_task_opts opts = value_opts;
	struct baton_pool_stats st;
	baton_pool *pool;
	baton_promise *pr;
	baton_future *f;
	baton_task a, b;
	void *v;
	int r, rb;

	po.workers = 1;
	po.max_threads = 4;
	r = baton_pool_create_opts(&pool, &po);
	if (r != 0) {
		CHECK((r == -ENOMEM || r == -EAGAIN) && pool == NULL,
		      "create: %d", r);
		return;
	}
	opts.pool = pool;
	r = baton_promise_create(&pr, &f);
	EXPECT_OK_OR(r, -ENOMEM);
	if (r != 0) {
		CHECK(baton_pool_destroy(pool) == 0, "destroy");
		return;
	}
	r = baton_task_async_opts(&a, body_wait_future, f, &opts);
	EXPECT_OK_OR(r, -ENOMEM);
	/* Once a blocks, b can only run on a thread the pool adds. */
	while (r == 0 && baton_pool_stats(pool, &st) == 0 && st.blocked == 0)
		sched_yield();
	rb = baton_task_async_opts(&b, body_value, TOK(9), &opts);
	EXPECT_OK_OR(rb, -ENOMEM);
	/* A failed start is retried on the next look, or b waits for a. */
	if (rb == 0 && baton_task_yield(&b, 1000, &v, NULL) == 0) {
		value_take(v, 9);
		rb = 1; /* taken */
	}
	CHECK(baton_promise_fulfil(pr, NULL, NULL) == 0, "fulfil");
	if (r == 0)
		CHECK(baton_task_await(&a, BATON_INFINITY, NULL, NULL) == 0,
		      "await a");
	if (rb == 0) {
		CHECK(baton_task_await(&b, BATON_INFINITY, &v, NULL) == 0,
		      "await b");
		value_take(v, 9);
	}
	CHECK(baton_pool_stats(pool, &st) == 0 && st.threads >= 1 &&
		  st.threads <= 4,
	      "stats: %u threads", st.threads);
	baton_future_unref(f);
	CHECK(baton_pool_destroy(pool) == 0, "destroy");
	CHECK(atomic_load(&runs) == (r == 0) + (rb >= 0), "bodies ran: %ld",
	      atomic_load(&runs));
}

static void
scen_async_await(void)
{
	baton_task t;
	void *v;
	int r;

	r = baton_task_async_opts(&t, body_value, TOK(3), &value_opts);
	EXPECT_OK_OR(r, -ENOMEM);
	if (r != 0) {
		check_zeroed(&t);
		return;
	}
	CHECK(baton_task_await(&t, BATON_INFINITY, &v, NULL) == 0, "await");
	value_take(v, 3);
	CHECK(baton_task_await(&t, 0, &v, NULL) == -ESTALE, "second await");
}

static void
scen_async_ignore(void)
{
	baton_task t;
	int r;

	r = baton_task_async_opts(&t, body_value, TOK(4), &value_opts);
	EXPECT_OK_OR(r, -ENOMEM);
	if (r != 0) {
		check_zeroed(&t);
		return;
	}
	CHECK(baton_task_ignore(&t, NULL, NULL) >= 0, "ignore");
	wait_runs(1); /* its value then goes to the destructor */
}

static void
scen_start(void)
{
	int r;

	r = baton_task_start(body_value, TOK(5), &value_opts);
	EXPECT_OK_OR(r, -ENOMEM);
	if (r == 0) {
		wait_runs(1);
		return;
	}
	sleep_ms(5); /* on failure fn never runs */
	CHECK(atomic_load(&runs) == 0, "a refused body ran");
}

static void
scen_completed(void)
{
	baton_task t;
	void *v = value_new(6), *got;
	int r;

	r = baton_task_completed(&t, v, value_destroy);
	EXPECT_OK_OR(r, -ENOMEM);
	if (r != 0) {
		check_zeroed(&t);
		value_take(v, 6); /* still the caller's */
		return;
	}
	CHECK(baton_task_await(&t, 0, &got, NULL) == 0 && got == v, "await");
	value_take(got, 6);
}

/* Spawns up to MANY tasks; returns how many were started. */
static size_t
spawn_many(baton_task *tasks)
{
	size_t m = 0;
	int r = 0;

	while (m < MANY &&
	       (r = baton_task_async_opts(&tasks[m], body_value, TOK(m),
					  &value_opts)) == 0)
		m++;
	if (m < MANY) {
		EXPECT_OK_OR(r, -ENOMEM);
		check_zeroed(&tasks[m]);
	}
	return m;
}

static void
scen_await_many(void)
{
	baton_task tasks[MANY];
	void *values[MANY];
	size_t m = spawn_many(tasks), failed_at = 0;
	int r;

	r = baton_task_await_many(tasks, m, BATON_INFINITY, values, &failed_at,
				  NULL);
	EXPECT_OK_OR(r, -ENOMEM);
	if (r == 0) {
		for (size_t i = 0; i < m; i++)
			value_take(values[i], (long)i);
		return;
	}
	/* Nothing consumed: every handle still awaits normally. */
	for (size_t i = 0; i < m; i++) {
		void *v;

		CHECK(baton_task_await(&tasks[i], BATON_INFINITY, &v, NULL) ==
			  0,
		      "await %zu after a failed await_many", i);
		value_take(v, (long)i);
	}
}

static bool
wait_all_done(const baton_task *tasks, size_t m)
{
	struct baton_task_info info;

	for (int waited = 0; waited < QUIESCE_MS; waited++) {
		size_t i = 0;

		while (i < m && baton_task_info(&tasks[i], &info) == 0 &&
		       info.state == BATON_TASK_DONE)
			i++;
		if (i == m)
			return true;
		sleep_ms(1);
	}
	return false;
}

static void
scen_yield_many(void)
{
	struct baton_yield_many_opts opts = { BATON_INFINITY, BATON_NO_LIMIT,
					      BATON_ON_TIMEOUT_NOTHING };
	struct baton_yield_result results[MANY];
	baton_task tasks[MANY];
	size_t m = spawn_many(tasks);
	ptrdiff_t replied;

	/*
	 * Every task finished first: yield_many's only fallible call comes
	 * before its wait, and that wait can scan past the end of its array
	 * when the last tasks finish during the scan (task_many.c; covered by
	 * tests/unit/test_task.c, not by this test).
	 */
	CHECK(wait_all_done(tasks, m), "tasks never finished");
	replied = baton_task_yield_many(tasks, m, &opts, results);
	if (replied < 0) {
		EXPECT_OK_OR((int)replied, -ENOMEM);
		/* Nothing consumed: ignore them, the destructor frees. */
		for (size_t i = 0; i < m; i++)
			CHECK(baton_task_ignore(&tasks[i], NULL, NULL) >= 0, "ignore %zu",
			      i);
		wait_runs((long)m);
		return;
	}
	CHECK((size_t)replied == m, "%td of %zu replied", replied, m);
	for (size_t i = 0; i < m; i++) {
		CHECK(results[i].status == 0, "status %d", results[i].status);
		if (results[i].status == 0)
			value_take(results[i].value, (long)i);
	}
}

static void
scen_supervisor(void)
{
	struct baton_supervisor_opts opts = { .on_failure = count_failure,
					      .max_children = BATON_NO_LIMIT };
	baton_supervisor *sup = (baton_supervisor *)&sup;
	baton_task t;
	void *v;
	int r;

	r = baton_supervisor_create(&sup, &opts);
	if (r != 0) {
		CHECK(r == -ENOMEM && sup == NULL, "create: %d", r);
		return;
	}
	/* Two children that run until the shutdown stops them. */
	for (long i = 0; i < 2; i++)
		EXPECT_OK_OR(baton_supervisor_start_child(sup,
							  body_until_stopped,
							  TOK(10 + i),
							  &value_opts),
			     -ENOMEM);
	r = baton_supervisor_async_nolink(sup, &t, body_value, TOK(12),
					  &value_opts);
	EXPECT_OK_OR(r, -ENOMEM);
	if (r == 0) {
		/* Unbounded: helps if both workers are busy. */
		CHECK(baton_task_await(&t, BATON_INFINITY, &v, NULL) == 0,
		      "await");
		value_take(v, 12);
	} else {
		check_zeroed(&t);
	}
	baton_supervisor_destroy(sup); /* shuts down: the children stop */
}

static void
run_stream(bool unordered)
{
	struct baton_stream_opts opts = {
		.max_concurrency = 2, .unordered = unordered,
		.timeout_ms = BATON_INFINITY, .destroy = value_destroy
	};
	void *inputs[5];
	int seen[5] = { 0 };
	struct baton_stream_item item;
	baton_stream *s = (baton_stream *)&s;
	int r, retries = 0;

	for (long i = 0; i < 5; i++)
		inputs[i] = TOK(20 + i);
	r = baton_task_async_stream(&s, inputs, 5, body_value, &opts);
	if (r != 0) {
		CHECK(r == -ENOMEM && s == NULL, "async_stream: %d", r);
		return;
	}
	for (;;) {
		r = baton_stream_next(s, &item);
		if (r == -EPIPE)
			break;
		if (r == -ENOMEM && retries++ < 100)
			continue; /* documented as retryable */
		CHECK(r == 0, "next: %d", r);
		if (r != 0)
			break;
		CHECK(item.index < 5 && item.status == 0, "item %zu status %d",
		      item.index, item.status);
		if (item.index < 5 && item.status == 0) {
			seen[item.index]++;
			value_take(item.value, 20 + (long)item.index);
		}
	}
	for (int i = 0; i < 5; i++)
		CHECK(seen[i] == 1, "item %d handed out %d times", i, seen[i]);
	baton_stream_destroy(s);
}

static void
scen_async_stream(void)
{
	run_stream(false);
}

static void
scen_async_stream_unordered(void)
{
	run_stream(true);
}

static void
scen_future_chain(void)
{
	baton_pool *pool = baton_pool_default();
	baton_promise *p = (baton_promise *)&p;
	baton_future *f = (baton_future *)&f, *f2 = NULL, *f3 = NULL, *last;
	long registered = 0, expect;
	void *v;
	int r;

	r = baton_promise_create(&p, &f);
	if (r != 0) {
		CHECK(r == -ENOMEM && p == NULL && f == NULL,
		      "promise_create: %d", r);
		return;
	}
	r = baton_future_then(&f2, f, add_one, NULL, &value_opts);
	EXPECT_OK_OR(r, -ENOMEM);
	CHECK((r == 0) == (f2 != NULL), "then: %d, out %p", r, (void *)f2);
	if (f2 != NULL) {
		r = baton_future_then(&f3, f2, add_one, NULL, &value_opts);
		EXPECT_OK_OR(r, -ENOMEM);
		CHECK((r == 0) == (f3 != NULL), "then: %d", r);
	}
	last = f3 != NULL ? f3 : f2 != NULL ? f2 : f;
	/* Before completion: on the pool (dispatched by fulfil), inline. */
	r = baton_future_on_done(f, count_callback, NULL, pool);
	EXPECT_OK_OR(r, -ENOMEM);
	registered += r == 0;
	r = baton_future_on_done(last, count_callback, NULL, NULL);
	EXPECT_OK_OR(r, -ENOMEM);
	registered += r == 0;

	CHECK(baton_promise_fulfil(p, value_new(1), value_destroy) == 0,
	      "fulfil");
	baton_promise_destroy(p);

	/* After completion: dispatched at once. */
	r = baton_future_on_done(f, count_callback, NULL, pool);
	EXPECT_OK_OR(r, -ENOMEM);
	registered += r == 0;

	/* The last link first: then bodies borrow their input's value. */
	expect = last == f3 ? 3 : last == f2 ? 2 : 1;
	CHECK(baton_future_take(last, BATON_INFINITY, &v, NULL) == 0, "take");
	value_take(v, expect);
	CHECK(wait_count(&callbacks, registered), "%ld of %ld callbacks ran",
	      atomic_load(&callbacks), registered);
	baton_future_unref(f3);
	baton_future_unref(f2);
	baton_future_unref(f); /* the destructor frees 1 unless it was taken */
}

static void
scen_promise(void)
{
	baton_promise *p = (baton_promise *)&p;
	baton_future *f = (baton_future *)&f;
	void *v;
	int r;

	r = baton_promise_create(&p, &f);
	if (r != 0) {
		CHECK(r == -ENOMEM && p == NULL && f == NULL,
		      "promise_create: %d", r);
	} else {
		CHECK(baton_promise_fulfil(p, value_new(30), value_destroy) ==
			  0,
		      "fulfil");
		CHECK(baton_future_take(f, 0, &v, NULL) == 0, "take");
		value_take(v, 30);
		baton_promise_destroy(p);
		baton_future_unref(f);
	}

	/* A promise dropped unfulfilled: its future is broken. */
	r = baton_promise_create(&p, &f);
	if (r != 0) {
		CHECK(r == -ENOMEM && p == NULL && f == NULL,
		      "promise_create: %d", r);
	} else {
		baton_promise_destroy(p);
		CHECK(baton_future_take(f, 0, &v, NULL) == -EPIPE, "broken");
		baton_future_unref(f);
	}

	r = baton_future_start(&f, body_value, TOK(31), &value_opts);
	EXPECT_OK_OR(r, -ENOMEM);
	CHECK((r == 0) == (f != NULL), "future_start: %d", r);
	if (r == 0) {
		CHECK(baton_future_take(f, BATON_INFINITY, &v, NULL) == 0,
		      "take");
		value_take(v, 31);
		baton_future_unref(f);
	}
}

static void
scen_task_to_future(void)
{
	baton_future *f = (baton_future *)&f;
	baton_task t;
	void *v;
	int r;

	r = baton_task_async_opts(&t, body_value, TOK(40), &value_opts);
	EXPECT_OK_OR(r, -ENOMEM);
	if (r == 0) {
		CHECK(baton_task_to_future(&t, &f) == 0 && f != NULL,
		      "to_future");
		CHECK(baton_task_ignore(&t, NULL, NULL) == -ESTALE, "handle not consumed");
		CHECK(baton_future_take(f, BATON_INFINITY, &v, NULL) == 0,
		      "take");
		value_take(v, 40);
		baton_future_unref(f);
	} else {
		check_zeroed(&t);
	}

	/* Not taken: the last unref runs the destructor. */
	r = baton_task_async_opts(&t, body_value, TOK(41), &value_opts);
	EXPECT_OK_OR(r, -ENOMEM);
	if (r == 0) {
		CHECK(baton_task_to_future(&t, &f) == 0, "to_future");
		CHECK(baton_future_wait(f, BATON_INFINITY) == 0, "wait");
		baton_future_unref(f);
	}
}

/* ---- the driver ----------------------------------------------------- */

struct scenario {
	const char *name;
	void (*fn)(void);
};

static const struct scenario scenarios[] = {
	{ "queue", scen_queue },
	{ "pool", scen_pool },
	{ "pool_growth", scen_pool_growth },
	{ "async_await", scen_async_await },
	{ "async_ignore", scen_async_ignore },
	{ "start", scen_start },
	{ "completed", scen_completed },
	{ "await_many", scen_await_many },
	{ "yield_many", scen_yield_many },
	{ "supervisor", scen_supervisor },
	{ "async_stream", scen_async_stream },
	{ "async_stream_unordered", scen_async_stream_unordered },
	{ "future_chain", scen_future_chain },
	{ "promise", scen_promise },
	{ "task_to_future", scen_task_to_future },
};

/* Distinct failed sites of one scenario, with how often each failed. */
struct sites {
	const char *site[64];
	int count[64];
	int n;
};

static void
sites_add(struct sites *s, const char *site)
{
	int i;

	if (site == NULL)
		return;
	for (i = 0; i < s->n; i++) {
		if (strcmp(s->site[i], site) == 0)
			break;
	}
	if (i == s->n) {
		if (s->n == 64)
			return;
		s->site[s->n] = site;
		s->count[s->n++] = 0;
	}
	s->count[i]++;
}

static void
sites_print(const struct sites *s)
{
	printf("  failed:");
	for (int i = 0; i < s->n; i++) {
		const char *site = s->site[i];

		while (strncmp(site, "../", 3) == 0)
			site += 3;
		printf(" %s(x%d)", site, s->count[i]);
	}
	printf(s->n == 0 ? " nothing\n" : "\n");
}

/*
 * One run with the k-th fallible call failing (k 0: none).  Returns
 * whether it passed; *calls is how many fallible calls it made.
 */
static bool
run_once(const struct scenario *sc, long k, long *calls, bool *fired,
	 struct sites *sites)
{
	long ran_before;
	size_t live;

	cur_scenario = sc->name;
	cur_k = k;
	run_failures = 0;
	atomic_store(&runs, 0);
	atomic_store(&callbacks, 0);
	baton_test_reset();
	baton_test_fail_after(k);
	sc->fn();
	baton_test_fail_after(0);
	/* Whatever is still in flight must let go of every value. */
	CHECK(wait_count(&values_live, 0), "%ld values never freed",
	      atomic_load(&values_live));
	live = live_cells();
	CHECK(live == 0, "%zu cells of the default pool still live", live);
	ran_before = atomic_load(&runs);
	sleep_ms(1);
	CHECK(atomic_load(&runs) == ran_before,
	      "a body ran after the scenario ended");
	*calls = baton_test_fallible_calls();
	*fired = baton_test_failed_site() != NULL;
	if (sites != NULL)
		sites_add(sites, baton_test_failed_site());
	if (verbose)
		printf("  %s k=%ld: %ld calls, failed %s: %s\n", sc->name, k,
		       *calls, *fired ? baton_test_failed_site() : "nothing",
		       run_failures == 0 ? "ok" : "FAIL");
	atomic_store(&values_live, 0); /* a failed run must not spill over */
	return run_failures == 0;
}

static long total_covered, total_sites;
static int total_failed;

static void
report(const char *name, long covered, long n, int failed,
       const struct sites *sites)
{
	printf("fault %s sites covered %ld/%ld %s\n", name, covered, n,
	       failed == 0 ? "ok" : "FAILED");
	sites_print(sites);
	fflush(stdout);
	total_covered += covered;
	total_sites += n;
	total_failed += failed;
}

static void
run_scenario(const struct scenario *sc)
{
	struct sites sites = { .n = 0 };
	long n, calls, covered = 0;
	int failed = 0;
	bool fired;

	if (!run_once(sc, 0, &n, &fired, NULL))
		failed++;
	for (long k = 1; k <= n; k++) {
		if (!run_once(sc, k, &calls, &fired, &sites))
			failed++;
		covered += fired;
	}
	report(sc->name, covered, n, failed, &sites);
}

/* ---- first use, in a fresh process per k ----------------------------- */

/*
 * The first baton calls of a process: the thread key (one per process),
 * a cell chunk, then the default pool and its workers.  A thread key of
 * the program's own, created first, must keep its value.
 */
static int
first_use_child(long k, int out_fd)
{
	static int mine_value;
	pthread_key_t mine;
	baton_task t;
	void *v = value_new(50), *got;
	long calls;
	int r;

	cur_scenario = "first_use";
	cur_k = k;
	CHECK(pthread_key_create(&mine, NULL) == 0, "own key");
	CHECK(pthread_setspecific(mine, &mine_value) == 0, "own value");
	baton_test_reset();
	baton_test_fail_after(k);

	r = baton_task_completed(&t, v, value_destroy);
	EXPECT_OK_OR(r, -ENOMEM);
	if (r == 0) {
		CHECK(baton_task_await(&t, 0, &got, NULL) == 0, "await");
		value_take(got, 50);
	} else {
		value_take(v, 50);
	}
	r = baton_task_async_opts(&t, body_value, TOK(51), &value_opts);
	EXPECT_OK_OR(r, -ENOMEM);
	if (r == 0) {
		CHECK(baton_task_await(&t, BATON_INFINITY, &got, NULL) == 0,
		      "await");
		value_take(got, 51);
	}
	baton_test_fail_after(0);
	CHECK(pthread_getspecific(mine) == &mine_value,
	      "baton overwrote the program's thread key %u", (unsigned)mine);
	CHECK(atomic_load(&values_live) == 0, "%ld values live",
	      atomic_load(&values_live));
	calls = baton_test_fallible_calls();
	if (baton_test_failed_site() != NULL) {
		const char *site = baton_test_failed_site();

		(void)!write(out_fd, site, strlen(site));
	}
	(void)!write(out_fd, "\n", 1);
	(void)!write(out_fd, &calls, sizeof(calls));
	/* exit, not _exit: the default pool's atexit and LeakSanitizer run. */
	return run_failures == 0 ? 0 : 1;
}

static bool
first_use_run(long k, long *calls, char *site, size_t site_size)
{
	int fds[2], status;
	char buf[512];
	size_t got = 0;
	ssize_t r;
	pid_t pid;
	char *nl;

	fflush(stdout);
	fflush(stderr);
	if (pipe(fds) != 0)
		return false;
	pid = fork();
	if (pid < 0)
		return false;
	if (pid == 0) {
		close(fds[0]);
		exit(first_use_child(k, fds[1]));
	}
	close(fds[1]);
	while (got < sizeof(buf) &&
	       (r = read(fds[0], buf + got, sizeof(buf) - got)) > 0)
		got += (size_t)r;
	close(fds[0]);
	if (waitpid(pid, &status, 0) != pid)
		return false;
	*calls = 0;
	site[0] = '\0';
	nl = memchr(buf, '\n', got);
	if (nl != NULL && (size_t)(nl - buf) + 1 + sizeof(*calls) <= got) {
		size_t len = (size_t)(nl - buf);

		if (len >= site_size)
			len = site_size - 1;
		memcpy(site, buf, len);
		site[len] = '\0';
		memcpy(calls, nl + 1, sizeof(*calls));
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "FAIL first_use k=%ld: child status %d\n", k,
			status);
		return false;
	}
	if (verbose)
		printf("  first_use k=%ld: %ld calls, failed %s: ok\n", k,
		       *calls, site[0] != '\0' ? site : "nothing");
	return true;
}

static void
run_first_use(void)
{
	static char names[64][128];
	struct sites sites = { .n = 0 };
	long n, calls, covered = 0;
	int failed = 0, i;

	if (!first_use_run(0, &n, names[0], sizeof(names[0])))
		failed++;
	for (long k = 1; k <= n; k++) {
		char site[128];

		if (!first_use_run(k, &calls, site, sizeof(site)))
			failed++;
		if (site[0] == '\0')
			continue;
		covered++;
		/* The child's text, kept here once per distinct site. */
		for (i = 0; i < sites.n; i++) {
			if (strcmp(sites.site[i], site) == 0)
				break;
		}
		if (i == sites.n && i < 64)
			snprintf(names[i], sizeof(names[i]), "%s", site);
		if (i < 64)
			sites_add(&sites, i < sites.n ? sites.site[i]
						      : names[i]);
	}
	report("first_use", covered, n, failed, &sites);
}

int
main(void)
{
	baton_task t;
	void *v;

	verbose = getenv("FAULT_VERBOSE") != NULL;
	/* Before this process starts any thread: it forks. */
	run_first_use();

	/* The default pool, made once, with nothing armed. */
	cur_scenario = "warm-up";
	baton_test_reset();
	CHECK(baton_pool_default() != NULL, "no default pool");
	CHECK(baton_task_async_opts(&t, body_value, TOK(1), &value_opts) == 0,
	      "async");
	CHECK(baton_task_await(&t, BATON_INFINITY, &v, NULL) == 0, "await");
	value_take(v, 1);
	if (run_failures != 0)
		return 1;

	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		run_scenario(&scenarios[i]);

	printf("fault total: %zu scenarios, sites covered %ld/%ld, %d failed "
	       "runs\n",
	       sizeof(scenarios) / sizeof(scenarios[0]) + 1, total_covered,
	       total_sites, total_failed);
	return total_failed == 0 ? 0 : 1;
}
