/*
 * ops_queue.c - api_fuzz's queue operations, each checked against a plain
 * array FIFO with a capacity and a closed flag.
 *
 * Design notes
 * ============
 * A queue holds either fresh tokens (NULL items too) or references to
 * future records (the fuzzer moves one of its references into the queue,
 * and gets it back from a pop or a discard callback).  Blocking and timed
 * variants are only called when push_expect/pop_expect say they return at
 * once; the try and zero-timeout variants are called in every state.  The
 * one exception is a rare timed(1 ms) call on a full (push) or empty (pop)
 * open queue: with a single thread it must expire, and not early, which
 * takes the waiting path (spin, gate, event count) through to its end.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"

void
q_destroy_model(struct mqueue *mq)
{
	for (size_t k = 0; k < mq->n; k++) {
		void *it = mq->items[k];

		if (!mq->futq) {
			if (mq->nodestroy)
				tok_expect_orphan(it);
			else
				tok_expect_destroy(it);
		} else if (it != NULL) {
			int i = find_future(it);

			CHECK(i >= 0);
			futs[i].qrefs--;
			if (mq->nodestroy)
				futs[i].held++; /* dropped: ours again */
			else
				maybe_free(i);
		}
	}
	mq->n = 0;
}

void
op_queue_create(void)
{
	uint8_t qi = u8() % MAX_QUEUES, b = u8();
	struct mqueue *mq = &queues[qi];
	baton_destroy_fn fn;
	baton_queue *q = (baton_queue *)&q; /* must be reset to NULL */
	int r;

	begin_op("queue_create");
	if (mq->live)
		DONE();
	memset(mq, 0, sizeof(*mq));
	mq->cap = 1 + (b & 7);
	mq->futq = b & 8;
	mq->nodestroy = b & 16;
	fn = mq->nodestroy ? NULL
	     : mq->futq   ? baton_future_release
			  : token_destroy;
	switch (b >> 5) {
	case 6: {
		/* A rendezvous: alone, a thread never finds a partner. */
		void *item = NULL;

		r = baton_queue_create(&q, 0, fn);
		CHECK_EQ(r, 0);
		CHECK_EQ(baton_queue_try_push(q, NULL), -EAGAIN);
		CHECK_EQ(baton_queue_try_pop(q, &item), -EAGAIN);
		CHECK_EQ(baton_queue_peek(q, &item), -EAGAIN);
		CHECK_EQ(baton_queue_clear(q, NULL, NULL), 0);
		CHECK_EQ(baton_queue_close(q), 0);
		CHECK_EQ(baton_queue_try_push(q, NULL), -EPIPE);
		CHECK_EQ(baton_queue_try_pop(q, &item), -EPIPE);
		baton_queue_destroy(q);
		q = (baton_queue *)&q;
		r = baton_queue_create(&q, BATON_QUEUE_MAX_CAPACITY + 1, fn);
		CHECK_EQ(r, -EINVAL);
		CHECK(q == NULL);
		break;
	}
	case 7:
		CHECK_EQ(baton_queue_create(NULL, mq->cap, fn), -EINVAL);
		break;
	default:
		r = baton_queue_create(&q, mq->cap, fn);
		CHECK_EQ(r, 0);
		CHECK(q != NULL);
		mq->q = q;
		mq->live = true;
		break;
	}
	end_op();
}

/* close_discard's callback: items come back in FIFO order. */
static struct {
	struct mqueue *mq;
	void *expect[MAX_QCAP];
	size_t n, pos;
} discard;

static void
discard_cb(void *item, void *ctx)
{
	CHECK(ctx == &discard);
	CHECK(discard.pos < discard.n);
	CHECK(item == discard.expect[discard.pos]);
	discard.pos++;
	if (!discard.mq->futq) {
		tok_back(item);
		tok_free(item);
	}
}

static struct mqueue *
pick_queue(void)
{
	uint8_t qi = u8() % MAX_QUEUES;

	return queues[qi].live ? &queues[qi] : NULL;
}

void
op_queue_destroy(void)
{
	struct mqueue *mq = pick_queue();

	begin_op("queue_destroy");
	if (mq == NULL) {
		baton_queue_destroy(NULL);
		DONE();
	}
	q_destroy_model(mq);
	baton_queue_destroy(mq->q);
	mq->live = false;
	end_op();
}

/*
 * Builds up to n items for a push into mq: fresh tokens (or NULL) for a
 * token queue, held future references for a future queue.
 */
static size_t
make_items(struct mqueue *mq, void **items, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		uint8_t sel = u8();

		if (!mq->futq) {
			items[k] = item_new(sel);
			continue;
		}
		if ((sel & 15) == 15) {
			items[k] = NULL;
			continue;
		}
		int i = pick_held(sel);

		if (i < 0)
			return k;
		futs[i].held--; /* reserved; given back if not pushed */
		items[k] = futs[i].f;
	}
	return n;
}

/* Items [from, n) were not pushed: they are still the fuzzer's. */
static void
unpushed(struct mqueue *mq, void **items, size_t from, size_t n)
{
	for (size_t k = from; k < n; k++) {
		if (!mq->futq) {
			tok_free(items[k]);
		} else if (items[k] != NULL) {
			int i = find_future(items[k]);

			CHECK(i >= 0);
			futs[i].held++;
		}
	}
}

static void
pushed(struct mqueue *mq, void **items, size_t k)
{
	for (size_t j = 0; j < k; j++) {
		CHECK(mq->n < mq->cap);
		mq->items[mq->n++] = items[j];
		if (!mq->futq) {
			tok_give(items[j]);
		} else if (items[j] != NULL) {
			int i = find_future(items[j]);

			CHECK(i >= 0);
			futs[i].qrefs++;
		}
	}
}

/* Model: what a push of n items returns, and how many it appends. */
static ptrdiff_t
push_expect(const struct mqueue *mq, size_t n, int busy)
{
	if (n == 0)
		return 0;
	if (mq->closed)
		return -EPIPE;
	if (mq->n == mq->cap)
		return busy;
	return (ptrdiff_t)(n < mq->cap - mq->n ? n : mq->cap - mq->n);
}

static ptrdiff_t
pop_expect(const struct mqueue *mq, size_t n, int busy)
{
	if (n == 0)
		return 0;
	if (mq->n > 0)
		return (ptrdiff_t)(n < mq->n ? n : mq->n);
	if (mq->closed)
		return -EPIPE;
	return busy;
}

void
op_queue_push(void)
{
	struct mqueue *mq = pick_queue();
	uint8_t v = u8();
	void *item;
	ptrdiff_t want;
	uint64_t t0;
	int r;

	begin_op("queue_push");
	if (mq == NULL)
		DONE();
	if (make_items(mq, &item, 1) == 0)
		DONE();
	/* Blocking and timed variants only where the model says no wait. */
	bool ready = push_expect(mq, 1, 0) != 0;

	switch (v % 5) {
	case 0:
		op_name = "queue_try_push";
		want = push_expect(mq, 1, -EAGAIN);
		r = baton_queue_try_push(mq->q, item);
		break;
	case 1:
		op_name = "queue_push_timed(0)";
		want = push_expect(mq, 1, -ETIMEDOUT);
		r = baton_queue_push_timed(mq->q, item, 0);
		break;
	case 2:
		op_name = "queue_push_timed(bad)";
		want = -EINVAL;
		r = baton_queue_push_timed(mq->q, item, v & 8 ? -2 : -1000);
		break;
	case 3:
		if (ready) {
			op_name = "queue_push_timed(5)";
			want = push_expect(mq, 1, -ETIMEDOUT);
			r = baton_queue_push_timed(mq->q, item, 5);
			break;
		}
		if ((v & 0x40) && may_wait()) {
			/* A real wait: it must time out, and not early. */
			op_name = "queue_push_timed(1)";
			want = push_expect(mq, 1, -ETIMEDOUT);
			t0 = now_ns();
			r = baton_queue_push_timed(mq->q, item, 1);
			if (r == -ETIMEDOUT)
				check_waited(t0, 1);
			break;
		}
		/* fall through */
	default:
		if (ready) {
			op_name = "queue_push";
			want = push_expect(mq, 1, -ETIMEDOUT);
			r = baton_queue_push(mq->q, item);
		} else {
			op_name = "queue_try_push";
			want = push_expect(mq, 1, -EAGAIN);
			r = baton_queue_try_push(mq->q, item);
		}
		break;
	}
	CHECK_EQ(r, want > 0 ? 0 : want);
	if (want > 0)
		pushed(mq, &item, 1);
	else
		unpushed(mq, &item, 0, 1);
	end_op();
}

void
op_queue_push_many(void)
{
	struct mqueue *mq = pick_queue();
	uint8_t v = u8();
	size_t n = u8() % (MAX_BATCH + 1);
	void *items[MAX_BATCH];
	ptrdiff_t want, r;
	uint64_t t0;

	begin_op("queue_push_many");
	if (mq == NULL)
		DONE();
	n = make_items(mq, items, n);
	bool ready = push_expect(mq, n, 0) != 0;

	switch (v % 5) {
	case 0:
		op_name = "queue_try_push_many";
		want = push_expect(mq, n, -EAGAIN);
		r = baton_queue_try_push_many(mq->q, n ? items : NULL, n);
		break;
	case 1:
		op_name = "queue_push_many_timed(0)";
		want = push_expect(mq, n, -ETIMEDOUT);
		r = baton_queue_push_many_timed(mq->q, items, n, 0);
		break;
	case 2:
		op_name = "queue_push_many(bad)";
		if (n > 0) {
			want = -EINVAL;
			r = baton_queue_try_push_many(mq->q, NULL, n);
		} else {
			want = -EINVAL;
			r = baton_queue_push_many_timed(mq->q, items, n, -7);
		}
		break;
	case 3:
		if (ready) {
			op_name = "queue_push_many_timed(5)";
			want = push_expect(mq, n, -ETIMEDOUT);
			r = baton_queue_push_many_timed(mq->q, items, n, 5);
			break;
		}
		if ((v & 0x40) && may_wait()) {
			/* A real wait: it must time out, and not early. */
			op_name = "queue_push_many_timed(1)";
			want = push_expect(mq, n, -ETIMEDOUT);
			t0 = now_ns();
			r = baton_queue_push_many_timed(mq->q, items, n, 1);
			if (r == -ETIMEDOUT)
				check_waited(t0, 1);
			break;
		}
		/* fall through */
	default:
		if (ready) {
			op_name = "queue_push_many";
			want = push_expect(mq, n, -ETIMEDOUT);
			r = baton_queue_push_many(mq->q, items, n);
		} else {
			op_name = "queue_try_push_many";
			want = push_expect(mq, n, -EAGAIN);
			r = baton_queue_try_push_many(mq->q, items, n);
		}
		break;
	}
	CHECK_EQ(r, want);
	if (want > 0) {
		pushed(mq, items, (size_t)want);
		unpushed(mq, items, (size_t)want, n);
	} else {
		unpushed(mq, items, 0, n);
	}
	end_op();
}

/* Items [0, k) were popped: check them against the model's oldest. */
static void
popped(struct mqueue *mq, void **items, size_t k)
{
	CHECK(k <= mq->n);
	for (size_t j = 0; j < k; j++) {
		CHECK(items[j] == mq->items[j]);
		if (!mq->futq) {
			tok_back(items[j]);
			tok_free(items[j]);
		} else if (items[j] != NULL) {
			int i = find_future(items[j]);

			CHECK(i >= 0);
			futs[i].qrefs--;
			futs[i].held++;
		}
	}
	memmove(mq->items, mq->items + k, (mq->n - k) * sizeof(void *));
	mq->n -= k;
}

void
op_queue_pop(void)
{
	struct mqueue *mq = pick_queue();
	uint8_t v = u8();
	void *sentinel = &sentinel;
	void *item = sentinel;
	ptrdiff_t want;
	uint64_t t0;
	int r;

	begin_op("queue_pop");
	if (mq == NULL)
		DONE();
	bool ready = pop_expect(mq, 1, 0) != 0;

	switch (v % 6) {
	case 0:
		op_name = "queue_try_pop";
		want = pop_expect(mq, 1, -EAGAIN);
		r = baton_queue_try_pop(mq->q, &item);
		break;
	case 1:
		op_name = "queue_pop_timed(0)";
		want = pop_expect(mq, 1, -ETIMEDOUT);
		r = baton_queue_pop_timed(mq->q, &item, 0);
		break;
	case 2:
		op_name = "queue_pop(bad)";
		want = -EINVAL;
		switch ((v >> 3) % 4) {
		case 0:
			r = baton_queue_try_pop(mq->q, NULL);
			break;
		case 1:
			r = baton_queue_pop(mq->q, NULL);
			break;
		case 2:
			r = baton_queue_pop_timed(mq->q, NULL, 0);
			break;
		default:
			r = baton_queue_pop_timed(mq->q, &item, -3);
			break;
		}
		break;
	case 3:
		if (ready) {
			op_name = "queue_pop_timed(5)";
			want = pop_expect(mq, 1, -ETIMEDOUT);
			r = baton_queue_pop_timed(mq->q, &item, 5);
			break;
		}
		if ((v & 0x40) && may_wait()) {
			/* A real wait: it must time out, and not early. */
			op_name = "queue_pop_timed(1)";
			want = pop_expect(mq, 1, -ETIMEDOUT);
			t0 = now_ns();
			r = baton_queue_pop_timed(mq->q, &item, 1);
			if (r == -ETIMEDOUT)
				check_waited(t0, 1);
			break;
		}
		/* fall through */
	default:
		if (ready) {
			op_name = "queue_pop";
			want = pop_expect(mq, 1, -ETIMEDOUT);
			r = baton_queue_pop(mq->q, &item);
		} else {
			op_name = "queue_try_pop";
			want = pop_expect(mq, 1, -EAGAIN);
			r = baton_queue_try_pop(mq->q, &item);
		}
		break;
	}
	CHECK_EQ(r, want > 0 ? 0 : want);
	if (want > 0)
		popped(mq, &item, 1);
	else
		CHECK(item == sentinel); /* untouched on failure */
	end_op();
}

void
op_queue_pop_many(void)
{
	struct mqueue *mq = pick_queue();
	uint8_t v = u8();
	size_t n = u8() % (MAX_BATCH + 1);
	void *items[MAX_BATCH];
	ptrdiff_t want, r;
	uint64_t t0;

	begin_op("queue_pop_many");
	if (mq == NULL)
		DONE();
	bool ready = pop_expect(mq, n, 0) != 0;

	switch (v % 5) {
	case 0:
		op_name = "queue_try_pop_many";
		want = pop_expect(mq, n, -EAGAIN);
		r = baton_queue_try_pop_many(mq->q, n ? items : NULL, n);
		break;
	case 1:
		op_name = "queue_pop_many_timed(0)";
		want = pop_expect(mq, n, -ETIMEDOUT);
		r = baton_queue_pop_many_timed(mq->q, items, n, 0);
		break;
	case 2:
		op_name = "queue_pop_many(bad)";
		want = -EINVAL;
		if (n > 0)
			r = baton_queue_pop_many_timed(mq->q, NULL, n, 0);
		else
			r = baton_queue_pop_many_timed(mq->q, items, n, -2);
		break;
	case 3:
		if (ready) {
			op_name = "queue_pop_many_timed(5)";
			want = pop_expect(mq, n, -ETIMEDOUT);
			r = baton_queue_pop_many_timed(mq->q, items, n, 5);
			break;
		}
		if ((v & 0x40) && may_wait()) {
			/* A real wait: it must time out, and not early. */
			op_name = "queue_pop_many_timed(1)";
			want = pop_expect(mq, n, -ETIMEDOUT);
			t0 = now_ns();
			r = baton_queue_pop_many_timed(mq->q, items, n, 1);
			if (r == -ETIMEDOUT)
				check_waited(t0, 1);
			break;
		}
		/* fall through */
	default:
		if (ready) {
			op_name = "queue_pop_many";
			want = pop_expect(mq, n, -ETIMEDOUT);
			r = baton_queue_pop_many(mq->q, items, n);
		} else {
			op_name = "queue_try_pop_many";
			want = pop_expect(mq, n, -EAGAIN);
			r = baton_queue_try_pop_many(mq->q, items, n);
		}
		break;
	}
	CHECK_EQ(r, want);
	if (want > 0)
		popped(mq, items, (size_t)want);
	end_op();
}

void
op_queue_close(void)
{
	struct mqueue *mq = pick_queue();
	uint8_t v = u8();
	bool clearing;
	int r;

	begin_op("queue_close");
	if (mq == NULL) {
		CHECK_EQ(baton_queue_close(NULL), -EINVAL);
		CHECK_EQ(baton_queue_close_discard(NULL, NULL, NULL), -EINVAL);
		DONE();
	}
	if (!(v & 1)) {
		void *head = (void *)&head;

		/* peek: the model's head, left in place. */
		r = baton_queue_peek(mq->q, &head);
		if (mq->n > 0) {
			CHECK_EQ(r, 0);
			CHECK(head == mq->items[0]);
		} else {
			CHECK_EQ(r, mq->closed ? -EPIPE : -EAGAIN);
		}
		CHECK_EQ(baton_queue_close(mq->q), 0);
		mq->closed = true;
		DONE();
	}
	/* v & 4: clear, which empties the same way but leaves it open. */
	clearing = v & 4;
	if (clearing)
		op_name = "queue_clear";
	else
		op_name = "queue_close_discard";
	size_t n = mq->n;

	if (v & 2) {
		/* Handed back to the callback, in FIFO order. */
		discard.mq = mq;
		memcpy(discard.expect, mq->items, n * sizeof(void *));
		discard.n = n;
		discard.pos = 0;
		for (size_t k = 0; k < n; k++) {
			if (mq->futq && mq->items[k] != NULL) {
				int i = find_future(mq->items[k]);

				CHECK(i >= 0);
				futs[i].qrefs--;
				futs[i].held++;
			}
		}
		mq->n = 0;
		CHECK_EQ(clearing ? baton_queue_clear(mq->q, discard_cb,
						      &discard)
				  : baton_queue_close_discard(mq->q, discard_cb,
							      &discard),
			 n);
		CHECK_EQ(discard.pos, n);
	} else {
		q_destroy_model(mq);
		CHECK_EQ(clearing ? baton_queue_clear(mq->q, NULL, NULL)
				  : baton_queue_close_discard(mq->q, NULL, NULL),
			 n);
	}
	if (!clearing)
		mq->closed = true;
	CHECK_EQ(baton_queue_is_closed(mq->q), mq->closed);
	end_op();
}

void
op_queue_null(void)
{
	void *item = NULL;

	begin_op("queue_null_args");
	CHECK_EQ(baton_queue_try_push(NULL, NULL), -EINVAL);
	CHECK_EQ(baton_queue_push_timed(NULL, NULL, 0), -EINVAL);
	CHECK_EQ(baton_queue_try_pop(NULL, &item), -EINVAL);
	CHECK_EQ(baton_queue_pop_timed(NULL, &item, 0), -EINVAL);
	CHECK_EQ(baton_queue_try_push_many(NULL, &item, 1), -EINVAL);
	CHECK_EQ(baton_queue_try_pop_many(NULL, &item, 1), -EINVAL);
	CHECK_EQ(baton_queue_size(NULL), 0);
	CHECK_EQ(baton_queue_capacity(NULL), 0);
	CHECK_EQ(baton_queue_waiters(NULL), 0);
	CHECK_EQ(baton_queue_peek(NULL, &item), -EINVAL);
	CHECK_EQ(baton_queue_clear(NULL, NULL, NULL), -EINVAL);
	CHECK(!baton_queue_is_closed(NULL));
	end_op();
}

