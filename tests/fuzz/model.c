/*
 * model.c - the reference model behind api_fuzz: the input reader, the
 * token ledger, the model of futures (reference counts by holder, the
 * completion cascade through callbacks and continuations) and the checks
 * that run after every operation.
 *
 * Design notes
 * ============
 * The model runs before each call: it records which tokens the call must
 * destroy (tok_expect_destroy) or drop without a destructor
 * (tok_expect_orphan), and which callbacks must run, in order, with what
 * a peek from inside them returns (cblog).  token_destroy and on_done_cb
 * compare what happens with that record as it happens, and end_op checks
 * that all of it happened.
 *
 * A future record's references are counted by holder: the fuzzer (held),
 * queue slots (qrefs), the promise, pending user callbacks (ucb),
 * continuations' contexts (trefs: a continuation holds its input until it
 * completes) and, for a pending continuation, the callback node on its
 * input (noderef).  When the sum reaches zero the record is freed and its
 * untaken value destroyed, exactly as the library's last unref does.
 *
 * Completion (complete()) follows the library's order: publish the state,
 * release a continuation's input (its on_done), then run the callbacks in
 * registration order, recursing into continuations; each callback's
 * reference is dropped right after it runs.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "cell.h" /* baton__cell_for_each_live: the real prototype */
#include "fuzz.h"

unsigned int op_no;
const char *op_name = "setup";
bool trace;

/* ---- input ----------------------------------------------------------- */

const uint8_t *in_p;
size_t in_n, in_i;

uint8_t
u8(void)
{
	return in_i < in_n ? in_p[in_i++] : 0;
}

/* ---- tokens ---------------------------------------------------------- */

struct tokslot toks[MAX_TOKENS];
unsigned int ntoks;
static unsigned int expect_null_destroys;
static unsigned int destroys_expected, destroys_seen;

/* Tokens the library dropped without a destructor: freed after the op. */
static struct token *orphans[MAX_TOKENS];
static unsigned int norphans;

/* A fresh token owned by the fuzzer, or NULL (a valid item) if exhausted. */
struct token *
tok_new(void)
{
	struct token *t;

	if (ntoks == MAX_TOKENS)
		return NULL;
	t = malloc(sizeof(*t));
	CHECK(t != NULL);
	t->magic = TOKEN_MAGIC;
	t->id = ntoks;
	toks[ntoks].p = t;
	toks[ntoks].owner = OWN_FUZZ;
	toks[ntoks].expect_destroy = false;
	ntoks++;
	return t;
}

/* Either a fresh token or, when sel says so, NULL. */
struct token *
item_new(uint8_t sel)
{
	return (sel & 7) == 7 ? NULL : tok_new();
}

void
tok_check_live(const struct token *t)
{
	CHECK(t->magic == TOKEN_MAGIC); /* ASan catches a freed token here */
	CHECK(t->id < ntoks);
	CHECK(toks[t->id].p == t);
}

/* The fuzzer frees a token it owns. */
void
tok_free(struct token *t)
{
	if (t == NULL)
		return;
	tok_check_live(t);
	CHECK_EQ(toks[t->id].owner, OWN_FUZZ);
	toks[t->id].owner = OWN_NONE;
	t->magic = 0;
	free(t);
}

/* A token passes from the fuzzer to the library. */
void
tok_give(struct token *t)
{
	if (t == NULL)
		return;
	tok_check_live(t);
	CHECK_EQ(toks[t->id].owner, OWN_FUZZ);
	toks[t->id].owner = OWN_LIB;
}

/* The library handed a token back (the model already checked which). */
void
tok_back(struct token *t)
{
	if (t == NULL)
		return;
	tok_check_live(t);
	CHECK_EQ(toks[t->id].owner, OWN_LIB);
	toks[t->id].owner = OWN_FUZZ;
}

/* The model predicts that this op makes the library destroy t. */
void
tok_expect_destroy(struct token *t)
{
	if (t == NULL) {
		expect_null_destroys++;
		return;
	}
	CHECK_EQ(toks[t->id].owner, OWN_LIB);
	CHECK(!toks[t->id].expect_destroy);
	toks[t->id].expect_destroy = true;
	destroys_expected++;
}

/* The model predicts that the library drops t without a destructor. */
void
tok_expect_orphan(struct token *t)
{
	if (t == NULL)
		return;
	CHECK_EQ(toks[t->id].owner, OWN_LIB);
	orphans[norphans++] = t;
}

/* The item and value destructor handed to the library. */
void
token_destroy(void *item)
{
	struct token *t = item;

	if (t == NULL) {
		CHECK(expect_null_destroys > 0);
		expect_null_destroys--;
		return;
	}
	tok_check_live(t);
	CHECK_EQ(toks[t->id].owner, OWN_LIB);
	CHECK(toks[t->id].expect_destroy);
	toks[t->id].expect_destroy = false;
	toks[t->id].owner = OWN_NONE;
	destroys_seen++;
	t->magic = 0;
	free(t);
}

/* token_clone's controls (ops_future.c), reset by begin_op. */
bool clone_fails;
unsigned int clones_expected, clones_seen;

/* ---- the model's state --------------------------------------------- */

struct mqueue queues[MAX_QUEUES];
struct mfuture futs[MAX_FUTURES];

const struct baton_exit_reason cancelled_reason =
    BATON_EXIT_REASON(BATON_EXIT_SHUTDOWN, ECANCELED, "cancelled");
const struct baton_exit_reason broken_reason =
    BATON_EXIT_REASON(BATON_EXIT_SHUTDOWN, EPIPE, "broken promise");

struct cbexpect cblog[MAX_LOG];
unsigned int cblog_n, cblog_pos;
uint32_t next_ctx;

struct mtask tasks[MAX_TASKS];
baton_task stale[MAX_STALE];
unsigned int nstale;

/* Whether a handle was zeroed (consumed through it). */
bool
zero_handle_check(const baton_task *h)
{
	static const baton_task zero;

	return memcmp(h, &zero, sizeof(zero)) == 0;
}

void
remember_stale(baton_task h)
{
	stale[nstale % MAX_STALE] = h;
	nstale++;
}

/* ---- future model operations ------------------------------------------- */

int
refs(const struct mfuture *m)
{
	return m->held + m->qrefs + m->trefs + m->noderef + m->ucb +
	    (m->promise_live ? 1 : 0);
}

int
find_future(const baton_future *f)
{
	for (int i = 0; i < MAX_FUTURES; i++) {
		if (futs[i].live && futs[i].f == f)
			return i;
	}
	return -1;
}

/* Frees the record if no reference is left, as the last unref does. */
void
maybe_free(int i)
{
	struct mfuture *m = &futs[i];

	CHECK(refs(m) >= 0);
	if (refs(m) > 0)
		return;
	CHECK(m->state != F_PENDING);
	CHECK_EQ(m->ncbs, 0);
	if (m->state == F_FULFILLED && !m->taken && m->value != NULL) {
		if (m->has_destroy)
			tok_expect_destroy(m->value);
		else
			tok_expect_orphan(m->value);
	}
	m->live = false;
}

/* What a peek (or a borrow of a completed future) returns. */
int
expected_access(const struct mfuture *m, void **value,
		struct baton_exit_reason *reason)
{
	switch (m->state) {
	case F_PENDING:
		return -EAGAIN;
	case F_BROKEN:
		return -EPIPE;
	case F_FAILED:
		*reason = m->reason;
		return BATON_EXITED;
	case F_FULFILLED:
		if (m->taken)
			return -EALREADY;
		*value = m->value;
		return 0;
	}
	return -EINVAL;
}

/* The model's side of a callback that runs now (see on_done_cb). */
void
expect_callback(const struct mfuture *m, uint32_t ctx)
{
	struct cbexpect *e;

	CHECK(cblog_n < MAX_LOG);
	e = &cblog[cblog_n++];
	e->f = m->f;
	e->ctx = ctx;
	e->value = NULL;
	e->peek = expected_access(m, &e->value, &e->reason);
}

/*
 * Completes record i as the library does: publish the state, release a
 * continuation's input, then run the callbacks in registration order.
 */
void
complete(int i, enum fstate st, const struct baton_exit_reason *reason)
{
	struct mfuture *m = &futs[i];
	struct cbent cbs[MAX_CBS];
	int ncbs;

	CHECK(m->state == F_PENDING);
	m->state = st;
	if (reason != NULL)
		m->reason = *reason;
	if (m->parent >= 0) {
		int p = m->parent;

		m->parent = -1;
		futs[p].trefs--;
		maybe_free(p);
	}
	ncbs = m->ncbs;
	memcpy(cbs, m->cbs, sizeof(cbs));
	m->ncbs = 0;
	for (int k = 0; k < ncbs; k++) {
		if (!cbs[k].derived) {
			expect_callback(m, cbs[k].ctx);
			m->ucb--;
			maybe_free(i);
			continue;
		}
		int d = cbs[k].target;

		CHECK(futs[d].live);
		if (futs[d].state == F_PENDING) {
			/* A continuation is never submitted by the fuzzer. */
			CHECK(st != F_FULFILLED);
			complete(d, st, &m->reason);
		}
		futs[d].noderef = 0;
		maybe_free(d);
	}
}

bool
has_pending_continuation(const struct mfuture *m)
{
	for (int k = 0; k < m->ncbs; k++) {
		if (m->cbs[k].derived &&
		    futs[m->cbs[k].target].state == F_PENDING)
			return true;
	}
	return false;
}

int
free_future_slot(uint8_t sel)
{
	for (int k = 0; k < MAX_FUTURES; k++) {
		int i = (sel + k) % MAX_FUTURES;

		if (!futs[i].live)
			return i;
	}
	return -1;
}

void
future_init(int i, baton_future *f)
{
	struct mfuture *m = &futs[i];

	/* A live cell is never handed out twice. */
	CHECK(f != NULL);
	CHECK(find_future(f) < 0);
	memset(m, 0, sizeof(*m));
	m->live = true;
	m->f = f;
	m->parent = -1;
	m->held = 1;
}

/* A record the fuzzer holds a reference to, near sel, or -1. */
int
pick_held(uint8_t sel)
{
	for (int k = 0; k < MAX_FUTURES; k++) {
		int i = (sel + k) % MAX_FUTURES;

		if (futs[i].live && futs[i].held > 0)
			return i;
	}
	return -1;
}

int
pick_promise(uint8_t sel)
{
	for (int k = 0; k < MAX_FUTURES; k++) {
		int i = (sel + k) % MAX_FUTURES;

		if (futs[i].live && futs[i].promise_live)
			return i;
	}
	return -1;
}

/* ---- checks after every op ----------------------------------------------- */

static void
count_cell(struct baton__cell *cell, uint64_t gen, void *ctx)
{
	(void)cell;
	(void)gen;
	(*(unsigned int *)ctx)++;
}

unsigned int
live_cells(void)
{
	unsigned int n = 0;

	baton__cell_for_each_live(NULL, count_cell, &n);
	return n;
}

uint64_t
now_ns(void)
{
	struct timespec ts;

	CHECK(clock_gettime(CLOCK_MONOTONIC, &ts) == 0);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

unsigned int waits_left;

bool
may_wait(void)
{
	if (waits_left == 0)
		return false;
	waits_left--;
	return true;
}

/* common.h: a timed call never returns -ETIMEDOUT before its timeout. */
void
check_waited(uint64_t t0, int ms)
{
	uint64_t waited = now_ns() - t0;

	if (waited < (uint64_t)ms * 1000000u) {
		fprintf(stderr, "api_fuzz: timed out after %llu ns of %d ms\n",
			(unsigned long long)waited, ms);
		CHECK(!"a timed wait expired early");
	}
}

void
begin_op(const char *name)
{
	op_name = name;
	cblog_n = cblog_pos = 0;
	destroys_expected = destroys_seen = 0;
	expect_null_destroys = 0;
	norphans = 0;
	clones_expected = clones_seen = 0;
}

void
end_op(void)
{
	unsigned int model_cells = 0;

	CHECK_EQ(cblog_pos, cblog_n);
	CHECK_EQ(destroys_seen, destroys_expected);
	CHECK_EQ(expect_null_destroys, 0);
	CHECK_EQ(clones_seen, clones_expected);
	for (unsigned int k = 0; k < norphans; k++) {
		tok_back(orphans[k]);
		tok_free(orphans[k]);
	}
	norphans = 0;

	for (int i = 0; i < MAX_QUEUES; i++) {
		struct mqueue *mq = &queues[i];

		if (!mq->live)
			continue;
		CHECK_EQ(baton_queue_size(mq->q), mq->n);
		CHECK_EQ(baton_queue_capacity(mq->q), mq->cap);
		CHECK_EQ(baton_queue_is_closed(mq->q), mq->closed);
	}
	for (int i = 0; i < MAX_FUTURES; i++) {
		if (!futs[i].live)
			continue;
		model_cells++;
		CHECK(refs(&futs[i]) > 0);
		CHECK_EQ(baton_future_is_done(futs[i].f),
			 futs[i].state != F_PENDING);
		if (futs[i].promise_live)
			CHECK_EQ(baton_promise_is_cancelled(futs[i].p),
				 futs[i].stop);
	}
	for (int i = 0; i < MAX_TASKS; i++)
		model_cells += tasks[i].live;
	CHECK_EQ(live_cells(), model_cells);
	if (trace)
		fprintf(stderr, "op #%u %s: ok (%u live cells)\n", op_no,
			op_name, model_cells);
	op_no++;
}

