/*
 * ops_future.c - api_fuzz's promise and future operations.
 *
 * Design notes
 * ============
 * Futures come from promises (completed by the fuzzer, so completion is
 * deterministic), from completed tasks (ops_task.c) and from then() on an
 * input that has failed, is broken, was cancelled or is still pending.
 * Nothing runs on a pool: a pending input with a pending continuation is
 * never fulfilled (the continuation would be submitted), and a fulfilled
 * input never gets a continuation.  The waiting calls use a zero timeout
 * on a pending future (now and then 1 ms, which must expire, and not
 * early), and any timeout on a complete one (it must return at once).
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"

/* A clone function for baton_future_copy; fails when asked to. */
static void *
token_clone(const void *value)
{
	const struct token *t = value;

	tok_check_live(t);
	CHECK_EQ(toks[t->id].owner, OWN_LIB);
	clones_seen++;
	if (clone_fails)
		return NULL;
	return tok_new();
}

/*
 * The on_done callback: runs exactly when, and in the order, the model
 * said (cblog), with its future complete and peekable.
 */
static void
on_done_cb(baton_future *f, void *ctx)
{
	void *v = NULL;
	struct baton_exit_reason why = { 0 };
	int r;

	CHECK(cblog_pos < cblog_n);
	CHECK(f == cblog[cblog_pos].f);
	CHECK_EQ((uint32_t)(uintptr_t)ctx, cblog[cblog_pos].ctx);
	CHECK(baton_future_is_done(f));
	r = baton_future_peek(f, &v, &why);
	CHECK_EQ(r, cblog[cblog_pos].peek);
	if (r == 0)
		CHECK(v == cblog[cblog_pos].value);
	if (r == BATON_EXITED) {
		CHECK_EQ(why.kind, cblog[cblog_pos].reason.kind);
		CHECK_EQ(why.code, cblog[cblog_pos].reason.code);
	}
	cblog_pos++;
}

static void *
then_fn(void *value, void *ctx)
{
	(void)value;
	(void)ctx;
	/* A continuation of an input that never succeeds never runs. */
	CHECK(!"then() body ran");
	return NULL;
}

void
op_promise_create(void)
{
	uint8_t sel = u8(), v = u8();
	baton_promise *p = (baton_promise *)&p;
	baton_future *f = (baton_future *)&f;
	int i = free_future_slot(sel);

	begin_op("promise_create");
	if ((v & 15) == 15) {
		CHECK_EQ(baton_promise_create(NULL, &f), -EINVAL);
		CHECK_EQ(baton_promise_create(&p, NULL), -EINVAL);
		DONE();
	}
	if (i < 0)
		DONE();
	CHECK_EQ(baton_promise_create(&p, &f), 0);
	CHECK(p != NULL);
	future_init(i, f);
	futs[i].p = p;
	futs[i].promise_live = true;
	end_op();
}

void
op_promise_fulfil(void)
{
	int i = pick_promise(u8());
	uint8_t v = u8();
	struct mfuture *m;
	struct token *t;
	int want;

	begin_op("promise_fulfil");
	if (i < 0) {
		CHECK_EQ(baton_promise_fulfil(NULL, NULL, NULL), -EINVAL);
		DONE();
	}
	m = &futs[i];
	/* A fulfilled input would submit its continuation to a pool. */
	if (has_pending_continuation(m))
		DONE();
	t = item_new(v);
	tok_give(t);
	if (m->state == F_PENDING) {
		want = 0;
		m->value = t;
		m->has_destroy = !(v & 8);
		complete(i, F_FULFILLED, NULL);
	} else {
		want = -EALREADY;
	}
	CHECK_EQ(baton_promise_fulfil(m->p, t,
				      (v & 8) ? NULL : token_destroy),
		 want);
	if (want != 0) {
		tok_back(t);
		tok_free(t);
	}
	end_op();
}

static const char *const messages[] = { NULL, "boom", "" };

void
op_promise_fail(void)
{
	int i = pick_promise(u8());
	uint8_t v = u8(), code = u8();
	struct baton_exit_reason why;
	struct mfuture *m;
	int want;

	begin_op("promise_fail");
	why.kind = (enum baton_exit_kind)(v % 6);
	why.code = code;
	why.message = messages[(v >> 3) % 3];
	if (i < 0) {
		CHECK_EQ(baton_promise_fail(NULL, &why), -EINVAL);
		DONE();
	}
	m = &futs[i];
	if ((v >> 5) == 7) {
		CHECK_EQ(baton_promise_fail(m->p, NULL), -EINVAL);
		DONE();
	}
	if (why.kind == BATON_EXIT_NORMAL || why.kind > BATON_EXIT_KILLED) {
		want = -EINVAL;
	} else if (m->state == F_PENDING) {
		want = 0;
		complete(i, F_FAILED, &why);
	} else {
		want = -EALREADY;
	}
	CHECK_EQ(baton_promise_fail(m->p, &why), want);
	end_op();
}

void
op_promise_destroy(void)
{
	int i = pick_promise(u8());
	struct mfuture *m;

	begin_op("promise_destroy");
	if (i < 0) {
		baton_promise_destroy(NULL);
		CHECK(!baton_promise_is_cancelled(NULL));
		DONE();
	}
	m = &futs[i];
	if (m->state == F_PENDING)
		complete(i, F_BROKEN, &broken_reason);
	m->promise_live = false;
	maybe_free(i);
	baton_promise_destroy(m->p);
	end_op();
}

void
op_future_ref(void)
{
	int i = pick_held(u8());
	uint8_t v = u8();

	begin_op("future_ref");
	if (i < 0) {
		CHECK(baton_future_ref(NULL) == NULL);
		baton_future_unref(NULL);
		baton_future_release(NULL);
		DONE();
	}
	if (v & 1) {
		op_name = "future_unref";
		futs[i].held--;
		maybe_free(i);
		if (v & 2)
			baton_future_release(futs[i].f);
		else
			baton_future_unref(futs[i].f);
	} else {
		CHECK(baton_future_ref(futs[i].f) == futs[i].f);
		futs[i].held++;
	}
	end_op();
}

/*
 * A timeout for a wait: any when the model says the future is complete
 * (the wait returns at once), else 0, or rarely 1 ms (a real wait that
 * must expire, and not early).
 */
static int
wait_timeout(const struct mfuture *m, uint8_t v)
{
	if (m->state == F_PENDING)
		return (v & 0x70) == 0x60 && may_wait() ? 1 : 0;
	switch (v % 4) {
	case 0:
		return 0;
	case 1:
		return 5;
	case 2:
		return BATON_INFINITY;
	default:
		return BATON_DEFAULT_TIMEOUT;
	}
}

void
op_future_wait(void)
{
	int i = pick_held(u8());
	uint8_t v = u8();
	struct mfuture *m;

	begin_op("future_wait");
	if (i < 0) {
		CHECK_EQ(baton_future_wait(NULL, 0), -EINVAL);
		CHECK(!baton_future_is_done(NULL));
		DONE();
	}
	m = &futs[i];
	if ((v >> 4) == 15) {
		CHECK_EQ(baton_future_wait(m->f, -2), -EINVAL);
		DONE();
	}
	int timeout = wait_timeout(m, v);
	uint64_t t0 = now_ns();

	CHECK_EQ(baton_future_wait(m->f, timeout),
		 m->state == F_PENDING ? -ETIMEDOUT : 0);
	if (m->state == F_PENDING)
		check_waited(t0, timeout);
	CHECK_EQ(baton_future_is_done(m->f), m->state != F_PENDING);
	end_op();
}

static void
check_reason(const struct baton_exit_reason *got,
	     const struct baton_exit_reason *want)
{
	CHECK_EQ(got->kind, want->kind);
	CHECK_EQ(got->code, want->code);
	if (want->message == NULL)
		CHECK(got->message == NULL);
	else
		CHECK(got->message != NULL &&
		      strcmp(got->message, want->message) == 0);
}

/* borrow, take, copy and peek share one model. */
void
op_future_access(void)
{
	int i = pick_held(u8());
	uint8_t v = u8(), how = u8();
	struct baton_exit_reason why = { 0 }, want_why = { 0 };
	void *sentinel = &sentinel;
	void *value = sentinel, *want_value = NULL;
	struct mfuture *m;
	int want, r, timeout;
	uint64_t t0 = now_ns();

	begin_op("future_access");
	if (i < 0) {
		CHECK_EQ(baton_future_peek(NULL, &value, NULL), -EINVAL);
		CHECK_EQ(baton_future_borrow(NULL, 0, &value, NULL), -EINVAL);
		CHECK_EQ(baton_future_take(NULL, 0, &value, NULL), -EINVAL);
		DONE();
	}
	m = &futs[i];
	timeout = wait_timeout(m, v);
	want = expected_access(m, &want_value, &want_why);
	if (want == -EAGAIN && how % 4 != 3)
		want = -ETIMEDOUT; /* the waiting calls time out */
	switch (how % 4) {
	case 0:
		op_name = "future_borrow";
		if ((v >> 4) == 15) {
			CHECK_EQ(baton_future_borrow(m->f, 0, NULL, &why),
				 -EINVAL);
			DONE();
		}
		r = baton_future_borrow(m->f, timeout, &value,
					(v & 4) ? NULL : &why);
		break;
	case 1:
		op_name = "future_take";
		if ((v >> 4) == 15) {
			CHECK_EQ(baton_future_take(m->f, 0, NULL, &why),
				 -EINVAL);
			DONE();
		}
		if (want == 0) {
			m->taken = true;
			tok_back(want_value);
		}
		r = baton_future_take(m->f, timeout, &value,
				      (v & 4) ? NULL : &why);
		break;
	case 2:
		op_name = "future_copy";
		if ((v >> 4) == 15) {
			CHECK_EQ(baton_future_copy(m->f, 0, NULL, &value,
						   &why),
				 -EINVAL);
			DONE();
		}
		/* Without a token left, token_clone can only fail. */
		clone_fails = (v & 8) != 0 || ntoks == MAX_TOKENS;
		if (want == 0 && want_value != NULL) {
			clones_expected = 1;
			if (clone_fails)
				want = -ENOMEM;
		}
		r = baton_future_copy(m->f, timeout, token_clone, &value,
				      (v & 4) ? NULL : &why);
		break;
	default:
		op_name = "future_peek";
		r = baton_future_peek(m->f, &value, (v & 4) ? NULL : &why);
		break;
	}
	CHECK_EQ(r, want);
	if (r == -ETIMEDOUT)
		check_waited(t0, timeout);
	if (r == BATON_EXITED && !(v & 4))
		check_reason(&why, &want_why);
	if (r == 0 && how % 4 == 2) {
		/* A copy: a fresh token, or NULL for a NULL value. */
		if (want_value == NULL) {
			CHECK(value == NULL);
		} else {
			CHECK(value != NULL && value != want_value);
			tok_free(value);
		}
	} else if (r == 0) {
		CHECK(value == want_value);
		if (value != NULL)
			tok_check_live(value);
		if (how % 4 == 1)
			tok_free(value);
	} else if (!(how % 4 == 2 && r == -ENOMEM)) {
		CHECK(value == sentinel);
	}
	end_op();
}

void
op_future_cancel(void)
{
	int i = pick_held(u8());
	uint8_t v = u8();
	struct mfuture *m;
	int want;

	begin_op("future_cancel");
	if (i < 0) {
		CHECK_EQ(baton_future_cancel(NULL), -EINVAL);
		CHECK_EQ(baton_future_cancel_wait(NULL, 0), -EINVAL);
		DONE();
	}
	m = &futs[i];
	if ((v & 7) == 7) {
		op_name = "future_cancel_wait(bad)";
		CHECK_EQ(baton_future_cancel_wait(m->f, -2), -EINVAL);
		DONE();
	}
	if (m->state == F_PENDING) {
		want = 0;
		m->stop = true;
		complete(i, F_FAILED, &cancelled_reason);
	} else {
		want = -EALREADY;
	}
	if (v & 1) {
		op_name = "future_cancel_wait";
		CHECK_EQ(baton_future_cancel_wait(m->f, (v & 2) ? 0 : 5), 0);
	} else {
		CHECK_EQ(baton_future_cancel(m->f), want);
	}
	end_op();
}

void
op_future_on_done(void)
{
	int i = pick_held(u8());
	struct mfuture *m;

	begin_op("future_on_done");
	if (i < 0) {
		CHECK_EQ(baton_future_on_done(NULL, on_done_cb, NULL, NULL),
			 -EINVAL);
		DONE();
	}
	m = &futs[i];
	CHECK_EQ(baton_future_on_done(m->f, NULL, NULL, NULL), -EINVAL);
	if (m->ncbs == MAX_CBS)
		DONE();
	uint32_t ctx = next_ctx++;

	if (m->state == F_PENDING) {
		m->cbs[m->ncbs++] = (struct cbent){ false, -1, ctx };
		m->ucb++;
	} else {
		/* Runs at once, on this thread, before on_done returns. */
		expect_callback(m, ctx);
	}
	CHECK_EQ(baton_future_on_done(m->f, on_done_cb,
				      (void *)(uintptr_t)ctx, NULL),
		 0);
	end_op();
}

void
op_future_then(void)
{
	int i = pick_held(u8());
	uint8_t sel = u8();
	baton_future *d = (baton_future *)&d;
	struct mfuture *m;
	int j;

	begin_op("future_then");
	if (i < 0) {
		CHECK_EQ(baton_future_then(&d, NULL, then_fn, NULL, NULL),
			 -EINVAL);
		CHECK(d == NULL);
		DONE();
	}
	m = &futs[i];
	if ((sel & 15) == 15) {
		CHECK_EQ(baton_future_then(NULL, m->f, then_fn, NULL, NULL),
			 -EINVAL);
		CHECK_EQ(baton_future_then(&d, m->f, NULL, NULL, NULL),
			 -EINVAL);
		CHECK(d == NULL);
		DONE();
	}
	/* A succeeded input would run the continuation on a pool. */
	if (m->state == F_FULFILLED || m->ncbs == MAX_CBS)
		DONE();
	j = free_future_slot(sel);
	if (j < 0)
		DONE();
	/* Options without a pool: a label, and a destructor never used. */
	struct baton_task_opts opts = { NULL, "then", token_destroy };

	CHECK_EQ(baton_future_then(&d, m->f, then_fn, NULL,
				   (sel & 0x30) == 0x10 ? &opts : NULL),
		 0);
	future_init(j, d);
	futs[j].parent = i;
	futs[j].noderef = 1;
	m->trefs++;
	if (m->state == F_PENDING) {
		m->cbs[m->ncbs++] = (struct cbent){ true, j, 0 };
	} else {
		/*
		 * Already settled: the continuation fails at once.  The model
		 * runs after the call here; nothing in it is observable.
		 */
		complete(j, m->state, &m->reason);
		futs[j].noderef = 0;
	}
	end_op();
}


/*
 * Many short-lived futures in one operation, more than a thread's cell
 * cache holds: the allocator spills to the shared free list, refills from
 * it and carves new chunks.  Every cell must come back, and every value
 * be destroyed once.
 */
#define BULK_MAX 160

void
op_future_bulk(void)
{
	uint8_t v = u8();
	unsigned int n = 1 + u8() % BULK_MAX, live = live_cells();
	baton_promise *p[BULK_MAX];
	baton_future *f[BULK_MAX];

	begin_op("future_bulk");
	for (unsigned int k = 0; k < n; k++) {
		CHECK_EQ(baton_promise_create(&p[k], &f[k]), 0);
		CHECK(find_future(f[k]) < 0);
		if (v & 1) {
			struct token *t = tok_new();

			tok_give(t);
			CHECK_EQ(baton_promise_fulfil(p[k], t, token_destroy), 0);
			tok_expect_destroy(t);
		}
	}
	CHECK_EQ(live_cells(), live + n);
	for (unsigned int j = 0; j < n; j++) {
		unsigned int k = (v & 2) ? n - 1 - j : j;

		if (v & 4) {
			baton_future_unref(f[k]);
			baton_promise_destroy(p[k]);
		} else {
			baton_promise_destroy(p[k]);
			baton_future_unref(f[k]);
		}
	}
	end_op();
}
