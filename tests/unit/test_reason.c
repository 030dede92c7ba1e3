/*
 * test_reason.c - exit reasons with formatted messages (baton_exitf,
 * baton_promise_failf), through every reader: strict tasks (await,
 * yield, shutdown, ignore, await_many, yield_many), futures (borrow,
 * take, copy, peek, then and the combinators forwarding a failure),
 * stream items, supervisor callbacks and exit notices.  Also: the text
 * is cut with the marker and always terminated, a copy outlives the
 * result, and the reason is left untouched on -ETIMEDOUT.  Leaks and
 * double frees of the text are the sanitizers' and valgrind's to see
 * (check_leaks after each test under ASan).
 */
#include "unit.h"

#include <stdio.h>

#include <baton/combinators.h>
#include <baton/future.h>
#include <baton/link.h>
#include <baton/stream.h>
#include <baton/supervisor.h>

#define LONG_MS 10000

/* A reason full of junk: a call that must not write it keeps this. */
static void
poison(struct baton_exit_reason *r)
{
	memset(r, 'x', sizeof(*r));
	r->kind = (enum baton_exit_kind)77;
	r->code = -77;
}

static void
assert_poisoned(const struct baton_exit_reason *r)
{
	struct baton_exit_reason p;

	poison(&p);
	cr_assert_eq(r->kind, p.kind, "kind written: %d", r->kind);
	cr_assert_eq(r->code, p.code, "code written: %d", r->code);
	cr_assert(memcmp(r->text, p.text, sizeof(p.text)) == 0,
		  "text written on a call that must not fill it");
}

/* Fails with a formatted message naming its input; returns a value
 * (malloc'd) that the exit makes nobody's: it must be freed. */
static void *
failing_body(void *arg)
{
	int id = (int)UNTOK(arg);

	cr_assert_eq(baton_exitf(BATON_EXIT_ERROR, EIO, "input %d: %s", id,
				 "checksum mismatch"),
		     0);
	return new_int(id);
}

static void
assert_failed_with(const struct baton_exit_reason *r, int id)
{
	char want[64];

	snprintf(want, sizeof(want), "input %d: checksum mismatch", id);
	cr_assert_eq(r->kind, BATON_EXIT_ERROR, "kind %d", r->kind);
	cr_assert_eq(r->code, EIO, "code %d", r->code);
	cr_assert_null(r->message, "a formatted text has no static message");
	cr_assert_str_eq(r->text, want);
}

static void *
value_body(void *arg)
{
	return new_int((int)UNTOK(arg));
}

/* Waits on a gate, then fails with a text. */
static struct gate late_gate = GATE_INIT;
static atomic_int late_started;
static void *
late_failing_body(void *arg)
{
	atomic_fetch_add(&late_started, 1);
	gate_wait(&late_gate);
	return failing_body(arg);
}

/* Until the task has finished (the test's timeout bounds it). */
static void
wait_done(const baton_task *t)
{
	struct baton_task_info info;

	for (;;) {
		cr_assert_eq(baton_task_info(t, &info), 0);
		if (info.state == BATON_TASK_DONE)
			return;
		sleep_ms(1);
	}
}

static void *
clone_int(const void *v)
{
	return new_int(int_of(v));
}

static void *
failing_then(void *value, void *ctx)
{
	(void)ctx;
	(void)value; /* borrowed: f frees it */
	return failing_body(TOK(13));
}

static struct baton_task_opts
freeing_opts(baton_pool *pool)
{
	struct baton_task_opts o = BATON_TASK_OPTS_INIT;

	o.pool = pool;
	o.destroy = count_free;
	return o;
}

TestSuite(reason, .fini = check_leaks);

/* ---- the text itself ------------------------------------------------ */

static char long_text[3 * BATON_EXIT_TEXT_MAX];

static void *
long_body(void *arg)
{
	(void)arg;
	memset(long_text, 'a', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	baton_exitf(BATON_EXIT_ERROR, 1, "%s", long_text);
	return NULL;
}

Test(reason, a_long_text_is_cut_with_the_marker_and_terminated)
{
	struct baton_exit_reason why;
	baton_task t;
	size_t n;

	poison(&why);
	cr_assert_eq(baton_task_async(&t, long_body, NULL), 0);
	cr_assert_eq(baton_task_await(&t, LONG_MS, NULL, &why), BATON_EXITED);
	n = strnlen(why.text, sizeof(why.text));
	cr_assert_eq(n, BATON_EXIT_TEXT_MAX - 1, "length %zu", n);
	cr_assert_str_eq(why.text + n - 3, BATON_EXIT_TRUNCATED);
	cr_assert_eq(why.text[0], 'a');
	cr_assert_eq(why.text[n - 4], 'a');
}

/* Exactly MAX-1 bytes fit: no marker. */
static void *
exact_body(void *arg)
{
	char s[BATON_EXIT_TEXT_MAX];

	(void)arg;
	memset(s, 'b', sizeof(s) - 1);
	s[sizeof(s) - 1] = '\0';
	baton_exitf(BATON_EXIT_ERROR, 1, "%s", s);
	return NULL;
}

Test(reason, a_text_that_fits_exactly_is_not_cut)
{
	struct baton_exit_reason why;
	baton_task t;

	poison(&why);
	cr_assert_eq(baton_task_async(&t, exact_body, NULL), 0);
	cr_assert_eq(baton_task_await(&t, LONG_MS, NULL, &why), BATON_EXITED);
	cr_assert_eq(strnlen(why.text, sizeof(why.text)),
		     BATON_EXIT_TEXT_MAX - 1);
	cr_assert_eq(why.text[BATON_EXIT_TEXT_MAX - 2], 'b');
}

/* A cut never splits a UTF-8 character ("é" is two bytes). */
static void *
utf8_body(void *arg)
{
	char s[2 * BATON_EXIT_TEXT_MAX];
	size_t i = 0;

	(void)arg;
	s[i++] = 'x'; /* odd offset: a naive cut lands mid-character */
	while (i + 2 < sizeof(s)) {
		s[i++] = (char)0xc3;
		s[i++] = (char)0xa9;
	}
	s[i] = '\0';
	baton_exitf(BATON_EXIT_ERROR, 1, "%s", s);
	return NULL;
}

Test(reason, a_cut_keeps_whole_utf8_characters)
{
	struct baton_exit_reason why;
	baton_task t;
	size_t n;

	cr_assert_eq(baton_task_async(&t, utf8_body, NULL), 0);
	cr_assert_eq(baton_task_await(&t, LONG_MS, NULL, &why), BATON_EXITED);
	n = strlen(why.text);
	cr_assert_str_eq(why.text + n - 3, BATON_EXIT_TRUNCATED);
	/* Before the marker: a whole character (its last byte is 0xa9). */
	cr_assert_eq((unsigned char)why.text[n - 4], 0xa9, "byte %#x",
		     (unsigned char)why.text[n - 4]);
}

/* A static reason: message by address, and a copy of it in text. */
static const char static_msg[] = "disk gone";
static void *
static_body(void *arg)
{
	(void)arg;
	baton_exit(BATON_EXIT_ERROR, ENODEV, static_msg);
	return NULL;
}

Test(reason, a_static_message_keeps_its_address_and_fills_text)
{
	struct baton_exit_reason why;
	baton_task t;

	poison(&why);
	cr_assert_eq(baton_task_async(&t, static_body, NULL), 0);
	cr_assert_eq(baton_task_await(&t, LONG_MS, NULL, &why), BATON_EXITED);
	cr_assert_eq(why.message, static_msg);
	cr_assert_str_eq(why.text, static_msg);
	cr_assert_eq(why.code, ENODEV);
}

/* A later exit replaces an earlier text (which is freed: check_leaks). */
static void *
twice_body(void *arg)
{
	(void)arg;
	baton_exitf(BATON_EXIT_ERROR, 1, "first %d", 1);
	baton_exitf(BATON_EXIT_TIMEOUT, 2, "second %d", 2);
	return NULL;
}

Test(reason, a_second_exit_replaces_the_first_text)
{
	struct baton_exit_reason why;
	baton_task t;

	cr_assert_eq(baton_task_async(&t, twice_body, NULL), 0);
	cr_assert_eq(baton_task_await(&t, LONG_MS, NULL, &why), BATON_EXITED);
	cr_assert_eq(why.kind, BATON_EXIT_TIMEOUT);
	cr_assert_eq(why.code, 2);
	cr_assert_str_eq(why.text, "second 2");
}

Test(reason, exitf_outside_a_body_or_with_bad_arguments_is_einval)
{
	cr_assert_eq(baton_exitf(BATON_EXIT_ERROR, 1, "x"), -EINVAL);
	cr_assert_eq(baton_exit(BATON_EXIT_ERROR, 1, NULL), -EINVAL);
}

static void *
bad_exitf_body(void *arg)
{
	(void)arg;
	cr_assert_eq(baton_exitf(BATON_EXIT_ERROR, 1, NULL), -EINVAL);
	cr_assert_eq(baton_exitf(BATON_EXIT_NOPROC, 1, "x"), -EINVAL);
	cr_assert_eq(baton_exitf((enum baton_exit_kind)99, 1, "x"), -EINVAL);
	return new_int(5);
}

Test(reason, a_refused_exitf_records_nothing)
{
	void *v;
	baton_task t;

	cr_assert_eq(baton_task_async(&t, bad_exitf_body, NULL), 0);
	cr_assert_eq(baton_task_await(&t, LONG_MS, &v, NULL), 0);
	cr_assert_eq(int_of(v), 5);
	free(v);
}

/* ---- strict tasks -------------------------------------------------- */

Test(reason, await_and_yield_copy_the_text_and_free_the_value)
{
	baton_pool *pool = make_pool(2);
	struct baton_task_opts o = freeing_opts(pool);
	struct baton_exit_reason why, copy;
	baton_task t;

	atomic_store(&destroyed, 0);
	cr_assert_eq(baton_task_async_opts(&t, failing_body, TOK(1), &o), 0);
	cr_assert_eq(baton_task_await(&t, LONG_MS, NULL, &why), BATON_EXITED);
	assert_failed_with(&why, 1);
	copy = why; /* a plain value: valid after the result is gone */
	cr_assert_eq(baton_task_async_opts(&t, failing_body, TOK(2), &o), 0);
	cr_assert_eq(baton_task_yield(&t, LONG_MS, NULL, &why), BATON_EXITED);
	assert_failed_with(&why, 2);
	baton_pool_destroy(pool);
	assert_failed_with(&copy, 1);
	cr_assert_eq(atomic_load(&destroyed), 2, "the exits' values freed");
}

Test(reason, reason_is_untouched_on_etimedout)
{
	baton_pool *pool = make_pool(1);
	struct baton_task_opts o = freeing_opts(pool);
	struct baton_exit_reason why;
	baton_task t;

	/* yield: times out, the task lives on. */
	cr_assert_eq(baton_task_async_opts(&t, late_failing_body, TOK(3), &o),
		     0);
	poison(&why);
	cr_assert_eq(baton_task_yield(&t, 20, NULL, &why), -ETIMEDOUT);
	assert_poisoned(&why);
	/* await: times out and consumes it. */
	cr_assert_eq(baton_task_await(&t, 20, NULL, &why), -ETIMEDOUT);
	assert_poisoned(&why);
	gate_open(&late_gate);
	baton_pool_destroy(pool); /* the abandoned text is freed: leaks */
}

Test(reason, shutdown_and_ignore_hand_over_a_text_that_arrived)
{
	struct baton_task_opts o = freeing_opts(NULL);
	struct baton_exit_reason why;
	baton_task t;

	cr_assert_eq(baton_task_async_opts(&t, failing_body, TOK(4), &o), 0);
	cr_assert_eq(baton_task_yield(&t, LONG_MS, NULL, NULL), BATON_EXITED,
		     "yield to let it finish (reason NULL)");
	cr_assert_eq(baton_task_async_opts(&t, failing_body, TOK(5), &o), 0);
	wait_done(&t);
	poison(&why);
	cr_assert_eq(baton_task_shutdown(&t, LONG_MS, NULL, &why),
		     BATON_EXITED);
	assert_failed_with(&why, 5);
	cr_assert_eq(baton_task_async_opts(&t, failing_body, TOK(6), &o), 0);
	wait_done(&t);
	poison(&why);
	cr_assert_eq(baton_task_ignore(&t, NULL, &why), BATON_EXITED);
	assert_failed_with(&why, 6);
}

Test(reason, shutdown_at_its_timeout_reports_a_static_killed_reason)
{
	baton_pool *pool = make_pool(1);
	struct baton_exit_reason why;
	baton_task t;
	struct gate g = GATE_INIT;
	struct gated held;

	gated_init(&held, &g, 1);
	cr_assert_eq(baton_task_async_opts(&t, gated_body, &held,
					   &(struct baton_task_opts){
					       .pool = pool,
					       .destroy = count_free }),
		     0);
	wait_for(&held.started, 1);
	poison(&why);
	cr_assert_eq(baton_task_shutdown(&t, 20, NULL, &why), BATON_EXITED);
	cr_assert_eq(why.kind, BATON_EXIT_KILLED);
	cr_assert_eq(why.code, ETIMEDOUT);
	cr_assert_not_null(why.message);
	cr_assert_str_eq(why.text, why.message);
	gate_open(&g);
	baton_pool_destroy(pool);
}

Test(reason, await_many_reports_the_failed_tasks_text)
{
	baton_pool *pool = make_pool(2);
	struct baton_task_opts o = freeing_opts(pool);
	struct baton_exit_reason why;
	baton_task t[3];
	void *values[3];
	size_t failed = 99;

	cr_assert_eq(baton_task_async_opts(&t[0], value_body, TOK(0), &o), 0);
	cr_assert_eq(baton_task_async_opts(&t[1], failing_body, TOK(7), &o),
		     0);
	cr_assert_eq(baton_task_async_opts(&t[2], value_body, TOK(2), &o), 0);
	poison(&why);
	cr_assert_eq(baton_task_await_many(t, 3, LONG_MS, values, &failed,
					   &why),
		     BATON_EXITED);
	cr_assert_eq(failed, 1);
	assert_failed_with(&why, 7);
	baton_pool_destroy(pool);
}

Test(reason, await_many_leaves_the_reason_untouched_on_etimedout)
{
	baton_pool *pool = make_pool(1);
	struct baton_task_opts o = freeing_opts(pool);
	struct baton_exit_reason why;
	baton_task t[1];
	void *values[1];

	cr_assert_eq(baton_task_async_opts(&t[0], late_failing_body, TOK(8),
					   &o),
		     0);
	poison(&why);
	cr_assert_eq(baton_task_await_many(t, 1, 20, values, NULL, &why),
		     -ETIMEDOUT);
	assert_poisoned(&why);
	gate_open(&late_gate);
	baton_pool_destroy(pool);
}

Test(reason, yield_many_fills_failures_and_clears_the_rest)
{
	baton_pool *pool = make_pool(2);
	struct baton_task_opts o = freeing_opts(pool);
	struct baton_yield_many_opts yo = BATON_YIELD_MANY_OPTS_INIT;
	struct baton_yield_result res[3];
	baton_task t[3];

	cr_assert_eq(baton_task_async_opts(&t[0], value_body, TOK(0), &o), 0);
	cr_assert_eq(baton_task_async_opts(&t[1], failing_body, TOK(9), &o),
		     0);
	cr_assert_eq(baton_task_async_opts(&t[2], late_failing_body, TOK(10),
					   &o),
		     0);
	/* A reply still on its way at the timeout would not be reported. */
	wait_done(&t[0]);
	wait_done(&t[1]);
	yo.timeout_ms = 200;
	yo.on_timeout = BATON_ON_TIMEOUT_IGNORE;
	for (int i = 0; i < 3; i++)
		poison(&res[i].reason);
	cr_assert_eq(baton_task_yield_many(t, 3, &yo, res), 2);
	cr_assert_eq(res[0].status, 0);
	cr_assert_eq(int_of(res[0].value), 0);
	free(res[0].value);
	cr_assert_eq(res[0].reason.kind, BATON_EXIT_NORMAL);
	cr_assert_str_eq(res[0].reason.text, "", "a value's reason is empty");
	cr_assert_eq(res[1].status, BATON_EXITED);
	assert_failed_with(&res[1].reason, 9);
	/* -ETIMEDOUT: documented as cleared (kind NORMAL, text ""). */
	cr_assert_eq(res[2].status, -ETIMEDOUT);
	cr_assert_eq(res[2].reason.kind, BATON_EXIT_NORMAL);
	cr_assert_eq(res[2].reason.code, 0);
	cr_assert_null(res[2].reason.message);
	cr_assert_str_eq(res[2].reason.text, "");
	gate_open(&late_gate);
	baton_pool_destroy(pool);
}

/* ---- futures --------------------------------------------------------- */

Test(reason, every_future_reader_gets_its_own_copy)
{
	struct baton_exit_reason a, b, c, d;
	baton_future *f;
	void *v;

	cr_assert_eq(baton_future_async(&f, failing_body, TOK(11),
					count_free),
		     0);
	poison(&a);
	cr_assert_eq(baton_future_borrow(f, LONG_MS, &v, &a), BATON_EXITED);
	cr_assert_eq(baton_future_take(f, LONG_MS, &v, &b), BATON_EXITED);
	cr_assert_eq(baton_future_copy(f, LONG_MS, clone_int, &v, &c),
		     BATON_EXITED);
	cr_assert_eq(baton_future_peek(f, &v, &d), BATON_EXITED);
	baton_future_unref(f); /* the result and its text go */
	assert_failed_with(&a, 11);
	assert_failed_with(&b, 11);
	assert_failed_with(&c, 11);
	assert_failed_with(&d, 11);
}

Test(reason, a_future_reader_leaves_the_reason_untouched_on_etimedout)
{
	baton_promise *p;
	baton_future *f;
	struct baton_exit_reason why;
	void *v;

	cr_assert_eq(baton_promise_create(&p, &f), 0);
	poison(&why);
	cr_assert_eq(baton_future_borrow(f, 10, &v, &why), -ETIMEDOUT);
	cr_assert_eq(baton_future_take(f, 0, &v, &why), -ETIMEDOUT);
	assert_poisoned(&why);
	baton_promise_destroy(p);
	cr_assert_eq(baton_future_borrow(f, 0, &v, &why), -EPIPE);
	assert_poisoned(&why);
	baton_future_unref(f);
}

static void *
never_then(void *value, void *ctx)
{
	(void)value;
	(void)ctx;
	cr_assert_fail("a continuation of a failure must not run");
	return NULL;
}

Test(reason, then_forwards_the_text_and_outlives_its_input)
{
	baton_future *f, *g, *h;
	struct baton_exit_reason why;
	void *v;

	cr_assert_eq(baton_future_async(&f, failing_body, TOK(12), free), 0);
	cr_assert_eq(baton_future_then(&g, f, never_then, NULL, NULL), 0);
	cr_assert_eq(baton_future_then(&h, g, never_then, NULL, NULL), 0);
	cr_assert_eq(baton_future_wait(h, LONG_MS), 0);
	/* The input goes first: the forwarded text must survive it. */
	baton_future_unref(f);
	baton_future_unref(g);
	poison(&why);
	cr_assert_eq(baton_future_take(h, 0, &v, &why), BATON_EXITED);
	assert_failed_with(&why, 12);
	baton_future_unref(h);
}

Test(reason, a_continuation_may_fail_with_its_own_text)
{
	baton_future *f, *g;
	struct baton_exit_reason why;
	void *v;

	cr_assert_eq(baton_future_async(&f, value_body, TOK(13), free), 0);
	cr_assert_eq(baton_future_then(&g, f, failing_then, NULL,
				       &(struct baton_task_opts){
					   .destroy = free }),
		     0);
	cr_assert_eq(baton_future_take(g, LONG_MS, &v, &why), BATON_EXITED);
	assert_failed_with(&why, 13);
	baton_future_unref(f);
	baton_future_unref(g);
}

Test(reason, all_and_any_forward_the_failing_inputs_text)
{
	baton_future *in[2], *all, *any;
	struct baton_exit_reason why;
	void *v;

	cr_assert_eq(baton_future_async(&in[0], failing_body, TOK(14), free),
		     0);
	cr_assert_eq(baton_future_async(&in[1], failing_body, TOK(14), free),
		     0);
	cr_assert_eq(baton_future_all(&all, in, 2), 0);
	cr_assert_eq(baton_future_any(&any, in, 2), 0);
	baton_future_unref(in[0]);
	baton_future_unref(in[1]);
	poison(&why);
	cr_assert_eq(baton_future_take(all, LONG_MS, &v, &why), BATON_EXITED);
	assert_failed_with(&why, 14);
	poison(&why);
	cr_assert_eq(baton_future_take(any, LONG_MS, &v, &why), BATON_EXITED);
	assert_failed_with(&why, 14);
	baton_future_unref(all);
	baton_future_unref(any);
}

Test(reason, promise_failf_formats_and_promise_fail_copies_a_text)
{
	baton_promise *p, *q;
	baton_future *f, *g;
	struct baton_exit_reason why, fwd;
	void *v;

	cr_assert_eq(baton_promise_create(&p, &f), 0);
	cr_assert_eq(baton_promise_failf(p, BATON_EXIT_NORMAL, 1, "x"),
		     -EINVAL);
	cr_assert_eq(baton_promise_failf(p, BATON_EXIT_ERROR, 1, NULL),
		     -EINVAL);
	cr_assert_eq(baton_promise_failf(p, BATON_EXIT_ERROR, EIO,
					 "input %d: %s", 15,
					 "checksum mismatch"),
		     0);
	cr_assert_eq(baton_promise_failf(p, BATON_EXIT_ERROR, 1, "again"),
		     -EALREADY, "the text of a refused failf is dropped");
	cr_assert_eq(baton_future_take(f, 0, &v, &why), BATON_EXITED);
	assert_failed_with(&why, 15);
	baton_promise_destroy(p);
	baton_future_unref(f);

	/* Forward a reader's copy into another promise: the text is copied
	 * even when it is not terminated within the buffer. */
	cr_assert_eq(baton_promise_create(&q, &g), 0);
	fwd = why;
	memset(fwd.text, 'z', sizeof(fwd.text)); /* no NUL at all */
	cr_assert_eq(baton_promise_fail(q, &fwd), 0);
	poison(&why);
	cr_assert_eq(baton_future_take(g, 0, &v, &why), BATON_EXITED);
	cr_assert_null(why.message);
	cr_assert_eq(strnlen(why.text, sizeof(why.text)),
		     BATON_EXIT_TEXT_MAX - 1);
	cr_assert_str_eq(why.text + BATON_EXIT_TEXT_MAX - 4,
			 BATON_EXIT_TRUNCATED);
	baton_promise_destroy(q);
	baton_future_unref(g);
}

Test(reason, a_cancel_that_wins_frees_the_bodys_text)
{
	baton_pool *pool = make_pool(1);
	baton_future *f;
	struct baton_exit_reason why;
	void *v;

	cr_assert_eq(baton_future_start(&f, late_failing_body, TOK(16),
					&(struct baton_task_opts){
					    .pool = pool,
					    .destroy = free }),
		     0);
	wait_for(&late_started, 1); /* running: the cancel voids its exit */
	cr_assert_eq(baton_future_cancel(f), 0);
	gate_open(&late_gate);
	cr_assert_eq(baton_future_cancel_wait(f, LONG_MS), 0);
	cr_assert_eq(baton_future_take(f, 0, &v, &why), BATON_EXITED);
	cr_assert_eq(why.kind, BATON_EXIT_SHUTDOWN);
	cr_assert_eq(why.code, ECANCELED);
	cr_assert_str_eq(why.text, "cancelled");
	baton_future_unref(f);
	baton_pool_destroy(pool);
}

/* ---- streams, supervisors, exit notices ------------------------------ */

static void *
odd_fails(void *arg)
{
	return UNTOK(arg) % 2 ? failing_body(arg) : value_body(arg);
}

Test(reason, stream_items_carry_the_text_and_values_carry_none)
{
	void *inputs[4] = { TOK(0), TOK(1), TOK(2), TOK(3) };
	struct baton_stream_opts o = BATON_STREAM_OPTS_INIT;
	struct baton_stream_item it;
	baton_stream *s;
	int seen = 0;

	o.destroy = free;
	o.max_concurrency = 2;
	cr_assert_eq(baton_task_async_stream(&s, inputs, 4, odd_fails, &o), 0);
	poison(&it.reason);
	while (baton_stream_next(s, &it) == 0) {
		if (it.index % 2) {
			cr_assert_eq(it.status, BATON_EXITED);
			assert_failed_with(&it.reason, (int)it.index);
		} else {
			cr_assert_eq(it.status, 0);
			cr_assert_str_eq(it.reason.text, "");
			free(it.value);
		}
		seen++;
		poison(&it.reason);
	}
	cr_assert_eq(seen, 4);
	baton_stream_destroy(s);
}

static struct baton_exit_reason sup_seen;
static atomic_int sup_calls;

static void
on_failure(const struct baton_task_info *child,
	   const struct baton_exit_reason *reason, void *ctx)
{
	(void)child;
	(void)ctx;
	sup_seen = *reason;
	atomic_fetch_add(&sup_calls, 1);
}

Test(reason, a_supervisors_callback_gets_the_text)
{
	struct baton_supervisor_opts so = BATON_SUPERVISOR_OPTS_INIT;
	struct baton_exit_reason why;
	baton_supervisor *sup;
	baton_task t;

	so.on_failure = on_failure;
	cr_assert_eq(baton_supervisor_create(&sup, &so), 0);
	cr_assert_eq(baton_supervisor_async_nolink(sup, &t, failing_body,
						   TOK(17),
						   &(struct baton_task_opts){
						       .destroy = free }),
		     0);
	cr_assert_eq(baton_task_await(&t, LONG_MS, NULL, &why), BATON_EXITED);
	assert_failed_with(&why, 17);
	wait_for(&sup_calls, 1);
	assert_failed_with(&sup_seen, 17);
	cr_assert_eq(baton_supervisor_shutdown(sup, LONG_MS), 0);
	baton_supervisor_destroy(sup);
}

Test(reason, an_exit_notice_carries_the_text)
{
	struct baton_exit_notice n;

	cr_assert_eq(baton_trap_exits(true), 0);
	cr_assert_eq(baton_task_start_link(failing_body, TOK(18),
					   &(struct baton_task_opts){
					       .destroy = free }),
		     0);
	poison(&n.reason);
	cr_assert_eq(baton_exit_notice_next(LONG_MS, &n), 0);
	assert_failed_with(&n.reason, 18);
	poison(&n.reason);
	cr_assert_eq(baton_exit_notice_next(0, &n), -ETIMEDOUT);
	assert_poisoned(&n.reason);
	cr_assert_eq(baton_trap_exits(false), 0);
}
