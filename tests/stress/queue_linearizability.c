/*
 * queue_linearizability.c - small-history linearizability checking of
 * baton's queue against a sequential model of a bounded FIFO with close.
 *
 * Each history: a fresh queue of capacity 0, 1 or 2 (random; 0 is a
 * rendezvous, see "Rendezvous" below), three threads
 * (the main thread is one) each running three random operations from
 * try_push, push_timed (0-2 ms), try_pop, pop_timed (0-2 ms) and, rarely,
 * close, with random short stalls (spins, sometimes sched_yield) before
 * each.  Every pushed value is distinct.  Each operation records an
 * invocation and a response ticket from one global counter, its return
 * code and the value it popped.  When the three threads are done, the main
 * thread drains the queue with try_pop until it fails; those pops (and the
 * failing one, -EAGAIN or -EPIPE, which tells whether the queue is closed)
 * must be exactly what the model holds at the end.
 *
 * The check is Wing & Gong's search: depth-first over every order of the
 * nine operations that respects real time (A precedes B when A's response
 * ticket is below B's invocation ticket), applying each to the model and
 * keeping only orders in which every operation returns what it really
 * returned.  A dead end (set of operations done, model state) is memoised,
 * so the search stays tiny even on a failure.
 *
 * The model:
 *	try_push    closed: -EPIPE; full: -EAGAIN; else 0, appended
 *	push_timed  closed: -EPIPE; full: -ETIMEDOUT; else 0, appended
 *	try_pop     an item: 0 with the head; else closed: -EPIPE;
 *	            else -EAGAIN
 *	pop_timed   an item: 0 with the head; else closed: -EPIPE;
 *	            else -ETIMEDOUT
 *	close       0, closed from then on (idempotent)
 * A timed call may wait, so it can take effect anywhere in its interval:
 * -ETIMEDOUT is accepted wherever the model is full (push) or empty (pop)
 * and open, and a success wherever the model allows it.  A loaded machine
 * can therefore stretch the timeouts but never fail the check.  Separately,
 * a -ETIMEDOUT must not come back before its timeout has elapsed
 * (CLOCK_MONOTONIC around the call; common.h promises it).
 *
 * Rendezvous (capacity 0): the model holds nothing; a push succeeds only
 * together with the pop that took its value, so the search applies such
 * a pair as one step, at a point where both are pending (both minimal)
 * and the queue is open.  Alone, an operation can only fail: -EPIPE once
 * closed, else -EAGAIN (try_) or -ETIMEDOUT (timed).  A success without a
 * partner, a handover between calls that never overlapped, or a success
 * after the close is not linearizable.
 *
 * The tickets: one fetch-add before the call and one after.  Under
 * ThreadSanitizer on x86 they are relaxed, so that they add no
 * happens-before edge between operations (which would hide a missing one
 * in the queue); x86's locked fetch-add is still a full barrier in
 * hardware, so the ticket order is the real-time order.  Elsewhere they
 * are sequentially consistent, which orders them in every memory model.
 *
 * Running: the main thread and two helpers, each pinned to its own CPU
 * where there are enough (pin_thread), run the histories in rounds of
 * BATCH: the main thread plans BATCH histories (each on its own queue),
 * a barrier starts the round, the threads line up (line_up) before each
 * history and run their three operations, and a second barrier ends the
 * round; the main thread then drains and checks each history.  Separate
 * queues are separate objects, so batching changes nothing in what is
 * checked; it only spreads the barriers' futex round trips over BATCH
 * histories.  A quarter of the timed calls may wait 1 or 2 ms, so that
 * blocked calls get woken by other threads' pushes, pops and closes (the
 * woken= count); those that nobody satisfies wait out their time, which
 * is most of the run time (about 35 s at scale 100 on the loaded
 * 2-CPU test machine; 3 s under TSan at scale 5).
 *
 * Output: one summary line: histories checked; shapes, the distinct
 * outcome shapes (per kind of operation, how many succeeded / -EAGAIN /
 * -ETIMEDOUT / -EPIPE, plus capacity, items left and closed); exact, the
 * distinct exact outcomes (each thread's results in program order, popped
 * values by producer thread); overlapping, histories in which operations
 * of two threads overlapped in time; woken, timed calls satisfied by
 * another thread while they waited; the search's node count; and per
 * kind, ok/-EAGAIN/-ETIMEDOUT/-EPIPE tallies.  On the first history that
 * is not linearizable (or whose timeout came early): that history, by
 * invocation ticket, with the drain, and exit 1.  BATON_STRESS_SEED
 * replays the plans (not the interleavings).
 */
#include <baton.h>

#include "stress.h"

#define NTHREADS 3
#define OPS_PER_THREAD 3
#define NOPS (NTHREADS * OPS_PER_THREAD)
#define MAX_CAPACITY 2
/* Histories per round between the two barriers (see "Running"). */
#define BATCH 8

enum op_kind { TRY_PUSH, PUSH_TIMED, TRY_POP, POP_TIMED, CLOSE, NKINDS };

static const char *const kind_names[NKINDS] = {
	"try_push", "push_timed", "try_pop", "pop_timed", "close"
};

enum stall { STALL_NONE, STALL_SPIN, STALL_YIELD };

struct op {
	/* The plan, written by the main thread before the start barrier. */
	enum op_kind kind;
	enum stall stall;
	unsigned int spins;
	int timeout_ms;
	unsigned int value; /* pushes: 1..NOPS, distinct */

	/* The outcome, written by the thread that ran it. */
	int rc;
	unsigned int popped; /* a pop that returned 0: the value, else 0 */
	uint64_t inv, resp;  /* tickets */
	double t_inv, t_resp;
};

struct history {
	uint64_t number;
	uint64_t tag; /* the high bits of every value pointer it pushes */
	size_t capacity;
	baton_queue *q;
	struct op ops[NTHREADS][OPS_PER_THREAD];
	/* The drain: one pop past the capacity, so an overfull queue shows. */
	unsigned int drained[MAX_CAPACITY + 2];
	int ndrained;
	int drain_rc; /* -EAGAIN (open) or -EPIPE (closed); 0: overfull */
};

/*
 * The current round, handed over by the barriers: the main thread writes
 * the plans before the start barrier and reads the outcomes after the
 * finish barrier.
 */
static struct history batch[BATCH];
static int batch_len;
static bool stop;
static pthread_barrier_t start_line, finish_line;
static atomic_long destroyed_items;

#if STRESS_TSAN && (defined(__x86_64__) || defined(__i386__))
#define TICKET_ORDER memory_order_relaxed
#else
#define TICKET_ORDER memory_order_seq_cst
#endif
static _Atomic uint64_t ticket;

static uint64_t
take_ticket(void)
{
	/* The order: see the header comment. */
	return atomic_fetch_add_explicit(&ticket, 1, TICKET_ORDER);
}

static void *
value_ptr(const struct history *h, unsigned int id)
{
	return (void *)(uintptr_t)(h->tag | id);
}

/* The value id of a popped pointer: 0xff if it is not one of h's. */
static unsigned int
value_id(const struct history *h, void *p)
{
	uint64_t v = (uint64_t)(uintptr_t)p;

	if ((v & ~(uint64_t)0xff) != h->tag || (v & 0xff) == 0 ||
	    (v & 0xff) > NOPS)
		return 0xff;
	return (unsigned int)(v & 0xff);
}

static void
count_destroyed(void *item)
{
	(void)item;
	/* relaxed: a tally, read after the threads are joined. */
	atomic_fetch_add_explicit(&destroyed_items, 1, memory_order_relaxed);
}

/* ------------------------------------------------------------------ */
/* Running a history                                                    */

static void
stall(const struct op *o)
{
	switch (o->stall) {
	case STALL_NONE:
		break;
	case STALL_SPIN:
		for (unsigned int i = o->spins; i > 0; i--)
			atomic_signal_fence(memory_order_seq_cst);
		break;
	case STALL_YIELD:
		sched_yield();
		break;
	}
}

static void
run_op(struct history *h, struct op *o)
{
	void *item = NULL;

	stall(o);
	o->t_inv = stress_now();
	o->inv = take_ticket();
	switch (o->kind) {
	case TRY_PUSH:
		o->rc = baton_queue_try_push(h->q, value_ptr(h, o->value));
		break;
	case PUSH_TIMED:
		o->rc = baton_queue_push_timed(h->q, value_ptr(h, o->value),
					       o->timeout_ms);
		break;
	case TRY_POP:
		o->rc = baton_queue_try_pop(h->q, &item);
		break;
	case POP_TIMED:
		o->rc = baton_queue_pop_timed(h->q, &item, o->timeout_ms);
		break;
	case CLOSE:
	case NKINDS:
		o->rc = baton_queue_close(h->q);
		break;
	}
	o->resp = take_ticket();
	o->t_resp = stress_now();
	o->popped = 0;
	if ((o->kind == TRY_POP || o->kind == POP_TIMED) && o->rc == 0)
		o->popped = value_id(h, item);
}

/*
 * Arrivals at each history's start, over the whole run.  A thread's
 * three operations take a few microseconds, less than a futex wake-up, so
 * threads that merely left a barrier would run their histories one after
 * the other.  Each thread yields until all three have arrived, for at most
 * ARRIVAL_WAIT_S: yielding, not spinning, because two of the three share
 * a CPU on a 2-CPU machine (pin_thread).  relaxed: it only lines the
 * threads up; it must not order their operations (the queue's job).
 */
static atomic_ulong arrived;
#define ARRIVAL_WAIT_S 100e-6

static void
line_up(unsigned long *histories_started)
{
	unsigned long all = ++*histories_started * NTHREADS;
	double until = stress_now() + ARRIVAL_WAIT_S;

	atomic_fetch_add_explicit(&arrived, 1, memory_order_relaxed);
	while (atomic_load_explicit(&arrived, memory_order_relaxed) < all &&
	       stress_now() < until)
		sched_yield();
}

static void
run_round(int t, unsigned long *histories_started)
{
	for (int k = 0; k < batch_len; k++) {
		line_up(histories_started);
		for (int i = 0; i < OPS_PER_THREAD; i++)
			run_op(&batch[k], &batch[k].ops[t][i]);
	}
}

/*
 * Pins thread t to the t-th CPU of the process's affinity mask (modulo its
 * size).  Left alone, the scheduler of a busy machine wakes all three
 * threads on one CPU, where they take turns: measured on the 2-CPU test
 * machine under load, no two operations that do not wait overlapped in
 * 5,000 histories; pinned, about half the histories overlap.
 */
static void
pin_thread(int t)
{
	cpu_set_t mask, one;
	int seen = 0, count;

	if (sched_getaffinity(0, sizeof(mask), &mask) != 0)
		return;
	count = CPU_COUNT(&mask);
	if (count < 2)
		return;
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &mask) || seen++ != t % count)
			continue;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		/* Best effort: an unpinned run is as valid, only less mixed. */
		(void)pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
		return;
	}
}

static void
barrier(pthread_barrier_t *b)
{
	int rc = pthread_barrier_wait(b);

	if (rc != 0 && rc != PTHREAD_BARRIER_SERIAL_THREAD) {
		fprintf(stderr, "pthread_barrier_wait: %d\n", rc);
		exit(2);
	}
}

static void *
helper_main(void *arg)
{
	int t = (int)(intptr_t)arg;
	unsigned long started = 0;

	pin_thread(t);
	for (;;) {
		barrier(&start_line);
		if (stop)
			return NULL;
		run_round(t, &started);
		barrier(&finish_line);
	}
}

/* ------------------------------------------------------------------ */
/* Planning                                                             */

static void
plan(struct history *h, struct stress_rng *rng, uint64_t number)
{
	unsigned int next_value = 1;

	memset(h, 0, sizeof(*h));
	h->number = number;
	h->tag = (number + 1) << 8;
	h->capacity = (size_t)stress_rng_below(rng, MAX_CAPACITY + 1);
	for (int t = 0; t < NTHREADS; t++) {
		for (int i = 0; i < OPS_PER_THREAD; i++) {
			struct op *o = &h->ops[t][i];
			uint64_t k = stress_rng_below(rng, 37);
			uint64_t s = stress_rng_below(rng, 16);
			uint64_t w = stress_rng_below(rng, 16);

			/* close about once in 37 operations: rarely */
			o->kind = k == 36 ? CLOSE : (enum op_kind)(k / 9);
			if (o->kind == TRY_PUSH || o->kind == PUSH_TIMED)
				o->value = next_value++;
			/*
			 * 0 ms 3/4, 1 ms 3/16, 2 ms 1/16: a timed call that
			 * nobody satisfies waits its timeout out, and those
			 * waits set the run time.
			 */
			o->timeout_ms = w < 12 ? 0 : w < 15 ? 1 : 2;
			if (s < 8) {
				o->stall = STALL_NONE;
			} else if (s < 14) {
				o->stall = STALL_SPIN;
				o->spins = (unsigned int)stress_rng_below(rng,
									  4000);
			} else {
				o->stall = STALL_YIELD;
			}
		}
	}
}

/* ------------------------------------------------------------------ */
/* The model and the search                                             */

struct model {
	bool closed;
	unsigned int n;
	unsigned int items[MAX_CAPACITY];
};

/* The history being checked, its operations in one array. */
static const struct history *cur;
static const struct op *flat[NOPS];

/*
 * A rendezvous (capacity 0) holds nothing: a push succeeds only together
 * with the pop that takes its value, so search() applies such a pair in
 * one step (rv_partner).  Alone, an operation can only fail: -EPIPE once
 * closed; before, -EAGAIN or -ETIMEDOUT (no partner at that point).
 */
static bool
apply_rendezvous(struct model *m, const struct op *o)
{
	switch (o->kind) {
	case TRY_PUSH:
	case TRY_POP:
		return o->rc == (m->closed ? -EPIPE : -EAGAIN);
	case PUSH_TIMED:
	case POP_TIMED:
		return o->rc == (m->closed ? -EPIPE : -ETIMEDOUT);
	case CLOSE:
	case NKINDS:
		break;
	}
	if (o->rc != 0)
		return false;
	m->closed = true;
	return true;
}

/* Applies o to m; false if the model cannot return what o returned. */
static bool
apply(struct model *m, const struct op *o)
{
	if (cur->capacity == 0 && (o->kind == CLOSE || o->rc != 0))
		return apply_rendezvous(m, o);
	switch (o->kind) {
	case TRY_PUSH:
	case PUSH_TIMED:
		if (m->closed)
			return o->rc == -EPIPE;
		if (m->n == cur->capacity)
			return o->rc == (o->kind == TRY_PUSH ? -EAGAIN
							     : -ETIMEDOUT);
		if (o->rc != 0)
			return false;
		m->items[m->n++] = o->value;
		return true;
	case TRY_POP:
	case POP_TIMED:
		if (m->n > 0) {
			if (o->rc != 0 || o->popped != m->items[0])
				return false;
			m->n--;
			for (unsigned int i = 0; i < m->n; i++)
				m->items[i] = m->items[i + 1];
			return true;
		}
		if (m->closed)
			return o->rc == -EPIPE;
		return o->rc == (o->kind == TRY_POP ? -EAGAIN : -ETIMEDOUT);
	case CLOSE:
	case NKINDS:
		if (o->rc != 0)
			return false;
		m->closed = true;
		return true;
	}
	return false;
}

/* The end state: the drain must pop exactly the model's items, in order. */
static bool
end_matches(const struct model *m)
{
	if ((unsigned int)cur->ndrained != m->n)
		return false;
	for (unsigned int i = 0; i < m->n; i++)
		if (cur->drained[i] != m->items[i])
			return false;
	return cur->drain_rc == (m->closed ? -EPIPE : -EAGAIN);
}

/*
 * Dead ends already explored, keyed by (operations done, model state),
 * stamped per history so nothing needs clearing.  With nine operations
 * there are at most 512 masks times two item orders.
 */
#define MEMO_SIZE 4096
static struct {
	uint64_t key;
	uint64_t stamp;
} memo[MEMO_SIZE];
static uint64_t memo_stamp;

static uint64_t
memo_key(unsigned int done, const struct model *m)
{
	uint64_t k = done | (uint64_t)m->closed << NOPS |
	    (uint64_t)m->n << (NOPS + 1);

	for (unsigned int i = 0; i < m->n; i++)
		k |= (uint64_t)m->items[i] << (NOPS + 3 + 8 * i);
	return k;
}

static bool
memo_seen(uint64_t key, bool insert)
{
	size_t i = (size_t)(stress_mix(key) & (MEMO_SIZE - 1));

	for (size_t probes = 0; probes < MEMO_SIZE; probes++) {
		if (memo[i].stamp != memo_stamp) {
			if (insert) {
				memo[i].stamp = memo_stamp;
				memo[i].key = key;
			}
			return false;
		}
		if (memo[i].key == key)
			return true;
		i = (i + 1) & (MEMO_SIZE - 1);
	}
	return false; /* full: only slower */
}

static unsigned long search_nodes;

static bool
is_push(const struct op *o)
{
	return o->kind == TRY_PUSH || o->kind == PUSH_TIMED;
}

/*
 * In a rendezvous, the index of the operation that completed with flat[i]
 * (the pop that took its value, the push whose value it took), or -1.
 */
static int
rv_partner(int i)
{
	const struct op *o = flat[i];

	for (int j = 0; j < NOPS; j++) {
		const struct op *p = flat[j];

		if (j == i || p->rc != 0 || p->kind == CLOSE ||
		    is_push(p) == is_push(o))
			continue;
		if (is_push(o) ? p->popped == o->value
			       : o->popped == p->value)
			return j;
	}
	return -1;
}

/* Whether flat[i] may go next: no pending op responded before it began. */
static bool
minimal(unsigned int done, int i)
{
	for (int j = 0; j < NOPS; j++)
		if (j != i && !(done & (1u << j)) &&
		    flat[j]->resp < flat[i]->inv)
			return false;
	return true;
}

static bool
search(unsigned int done, const struct model *m)
{
	uint64_t key;

	search_nodes++;
	if (done == (1u << NOPS) - 1)
		return end_matches(m);
	key = memo_key(done, m);
	if (memo_seen(key, false))
		return false;
	for (int i = 0; i < NOPS; i++) {
		struct model next = *m;
		unsigned int both = 1u << i;

		if (done & (1u << i) || !minimal(done, i))
			continue;
		if (cur->capacity == 0 && flat[i]->kind != CLOSE &&
		    flat[i]->rc == 0) {
			/*
			 * A handover: push and pop take effect together, at
			 * a point inside both (both minimal), queue open.
			 */
			int j = rv_partner(i);

			if (j < 0 || (done & (1u << j)) || !minimal(done, j) ||
			    m->closed)
				continue;
			both |= 1u << j;
		} else if (!apply(&next, flat[i])) {
			continue;
		}
		if (search(done | both, &next))
			return true;
	}
	memo_seen(key, true);
	return false;
}

static void
select_history(const struct history *h)
{
	cur = h;
	for (int t = 0; t < NTHREADS; t++)
		for (int i = 0; i < OPS_PER_THREAD; i++)
			flat[t * OPS_PER_THREAD + i] = &h->ops[t][i];
}

static bool
linearizable(const struct history *h)
{
	struct model m = { 0 };

	select_history(h);
	memo_stamp++;
	return search(0, &m);
}

/* ------------------------------------------------------------------ */
/* Reporting                                                            */

static const char *
rc_name(int rc)
{
	switch (rc) {
	case 0:
		return "0";
	case -EAGAIN:
		return "-EAGAIN";
	case -ETIMEDOUT:
		return "-ETIMEDOUT";
	case -EPIPE:
		return "-EPIPE";
	case -EINVAL:
		return "-EINVAL";
	default:
		return "?";
	}
}

static int
thread_of(const struct op *o)
{
	return (int)((o - &cur->ops[0][0]) / OPS_PER_THREAD);
}

static int
by_invocation(const void *a, const void *b)
{
	const struct op *x = *(const struct op *const *)a;
	const struct op *y = *(const struct op *const *)b;

	return x->inv < y->inv ? -1 : x->inv > y->inv;
}

/* Prints the selected history, by invocation ticket. */
static void
dump_history(void)
{
	const struct op *sorted[NOPS];
	uint64_t base = UINT64_MAX;

	for (int i = 0; i < NOPS; i++) {
		sorted[i] = flat[i];
		if (flat[i]->inv < base)
			base = flat[i]->inv;
	}
	qsort(sorted, NOPS, sizeof(sorted[0]), by_invocation);
	fprintf(stderr, "history %" PRIu64 ": capacity %zu; [invocation, "
		"response] tickets, less %" PRIu64 ":\n", cur->number,
		cur->capacity, base);
	for (int i = 0; i < NOPS; i++) {
		const struct op *o = sorted[i];

		fprintf(stderr, "  T%d [%3" PRIu64 ", %3" PRIu64 "] %-10s",
			thread_of(o), o->inv - base, o->resp - base,
			kind_names[o->kind]);
		if (o->kind == TRY_PUSH || o->kind == PUSH_TIMED)
			fprintf(stderr, " v%-2u", o->value);
		else
			fprintf(stderr, "    ");
		if (o->kind == PUSH_TIMED || o->kind == POP_TIMED)
			fprintf(stderr, " %d ms", o->timeout_ms);
		else
			fprintf(stderr, "     ");
		fprintf(stderr, " -> %-10s", rc_name(o->rc));
		if (o->popped == 0xff)
			fprintf(stderr, " (not a value of this history)");
		else if (o->popped != 0)
			fprintf(stderr, " v%u", o->popped);
		fprintf(stderr, "  %.1f us\n", (o->t_resp - o->t_inv) * 1e6);
	}
	fprintf(stderr, "  then the drain popped:");
	for (int i = 0; i < cur->ndrained; i++)
		fprintf(stderr, " v%u", cur->drained[i]);
	fprintf(stderr, " then %s\n", rc_name(cur->drain_rc));
}

/* An op's result class: 0 done, 1-3 popped T0-T2's value, 4-7 errors. */
static unsigned int
result_class(const struct op *o)
{
	if (o->rc == 0) {
		if (o->popped == 0)
			return 0;
		for (int t = 0; t < NTHREADS; t++)
			for (int i = 0; i < OPS_PER_THREAD; i++)
				if (cur->ops[t][i].value == o->popped &&
				    (cur->ops[t][i].kind == TRY_PUSH ||
				     cur->ops[t][i].kind == PUSH_TIMED))
					return 1 + (unsigned int)t;
		return 7;
	}
	switch (o->rc) {
	case -EAGAIN:
		return 4;
	case -ETIMEDOUT:
		return 5;
	case -EPIPE:
		return 6;
	default:
		return 7;
	}
}

/* 0 success, 1 -EAGAIN, 2 -ETIMEDOUT, 3 -EPIPE, 4 anything else. */
static unsigned int
coarse_result(const struct op *o)
{
	unsigned int c = result_class(o);

	return c <= 3 ? 0 : c - 3;
}

/* The end state: capacity, items drained, closed. */
static uint64_t
end_state(void)
{
	return (uint64_t)cur->capacity << 3 |
	    (uint64_t)cur->ndrained << 1 | (cur->drain_rc == -EPIPE);
}

/*
 * The outcome shape: how many operations of each kind ended with each
 * coarse result, whoever ran them and in whatever order, plus the end
 * state.  Hashed (25 counters do not fit a word); a collision would only
 * undercount.
 */
static uint64_t
shape_of(void)
{
	unsigned char tally[NKINDS][5] = { { 0 } };
	uint64_t s = end_state();

	for (int i = 0; i < NOPS; i++)
		tally[flat[i]->kind][coarse_result(flat[i])]++;
	for (int k = 0; k < NKINDS; k++)
		for (int r = 0; r < 5; r++)
			s = stress_mix(s ^ ((uint64_t)tally[k][r] << 8 |
					    (uint64_t)(k * 5 + r)));
	return s;
}

/*
 * The exact outcome: each thread's operations in program order, each as
 * its kind and result class (a popped value by its producer thread), plus
 * the end state: 6 bits per operation, 54 + 4 bits.
 */
static uint64_t
exact_outcome_of(void)
{
	uint64_t s = 0;

	for (int i = 0; i < NOPS; i++)
		s = s << 6 |
		    (uint64_t)(flat[i]->kind * 8 + result_class(flat[i]));
	return s << 4 | end_state();
}

/* A set of 64-bit keys: open addressing; stops growing at half full. */
#define SET_SIZE ((size_t)1 << 18)
struct key_set {
	uint64_t *keys;
	unsigned long n;
	bool zero; /* 0 marks an empty slot: it is kept aside */
};

static void
set_init(struct key_set *set)
{
	set->keys = calloc(SET_SIZE, sizeof(*set->keys));
	set->n = 0;
	set->zero = false;
	if (set->keys == NULL) {
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
}

static void
set_add(struct key_set *set, uint64_t key)
{
	size_t i = (size_t)(stress_mix(key) & (SET_SIZE - 1));

	if (key == 0) {
		set->n += !set->zero;
		set->zero = true;
		return;
	}
	while (set->keys[i] != 0) {
		if (set->keys[i] == key)
			return;
		i = (i + 1) & (SET_SIZE - 1);
	}
	if (set->n < SET_SIZE / 2) {
		set->keys[i] = key;
		set->n++;
	}
}

/* Whether two operations of different threads overlapped in time. */
static bool
overlapping(void)
{
	for (int a = 0; a < NOPS; a++)
		for (int b = a + 1; b < NOPS; b++)
			if (thread_of(flat[a]) != thread_of(flat[b]) &&
			    flat[a]->inv < flat[b]->resp &&
			    flat[b]->inv < flat[a]->resp)
				return true;
	return false;
}

/*
 * Whether a timed call that waited was satisfied by another thread: it
 * succeeded (or saw the close) and another thread's operation ran wholly
 * inside it.  Counts the wake-up paths the histories exercised.
 */
static bool
woken(const struct op *o)
{
	bool push = o->kind == PUSH_TIMED;

	if ((o->kind != PUSH_TIMED && o->kind != POP_TIMED) ||
	    o->timeout_ms == 0 || (o->rc != 0 && o->rc != -EPIPE))
		return false;
	for (int i = 0; i < NOPS; i++) {
		const struct op *p = flat[i];
		bool p_push = p->kind == TRY_PUSH || p->kind == PUSH_TIMED;

		/* A pop for a push, a push for a pop, or a close. */
		if (thread_of(p) != thread_of(o) && p->inv > o->inv &&
		    p->resp < o->resp && (p_push != push || p->kind == CLOSE))
			return true;
	}
	return false;
}

/* Per kind, how many ended with each coarse result. */
static unsigned long tallies[NKINDS][5];

/* common.h: a timed call never returns -ETIMEDOUT before its timeout. */
static bool
timeouts_honoured(void)
{
	bool ok = true;

	for (int i = 0; i < NOPS; i++) {
		const struct op *o = flat[i];
		double ms = (o->t_resp - o->t_inv) * 1e3;

		if (o->rc == -ETIMEDOUT && ms < o->timeout_ms) {
			stress_fail("history %" PRIu64 ": %s returned "
				    "-ETIMEDOUT after %.3f ms, before its "
				    "%d ms", cur->number,
				    kind_names[o->kind], ms, o->timeout_ms);
			ok = false;
		}
		tallies[o->kind][coarse_result(o)]++;
	}
	return ok;
}

/* The watchdog's dump: read racily, the program is about to exit. */
static atomic_ulong round_first;

static void
watchdog_dump(void)
{
	fprintf(stderr, "stuck in the round of histories from %lu\n",
		atomic_load_explicit(&round_first, memory_order_relaxed));
}

/* ------------------------------------------------------------------ */

/* Drains h single-threaded (the end state), destroys its queue. */
static void
drain(struct history *h)
{
	void *item;
	int rc = 0;

	h->ndrained = 0;
	while (h->ndrained < MAX_CAPACITY + 2) {
		rc = baton_queue_try_pop(h->q, &item);
		if (rc != 0)
			break;
		h->drained[h->ndrained++] = value_id(h, item);
	}
	h->drain_rc = rc;
	if (baton_queue_size(h->q) != 0)
		stress_fail("history %" PRIu64 ": size %zu after the drain",
			    h->number, baton_queue_size(h->q));
	baton_queue_destroy(h->q);
	h->q = NULL;
}

int
main(void)
{
	uint64_t seed = stress_seed();
	uint64_t histories = stress_scaled(100000, 200), n = 0;
	unsigned long overlapped = 0, woke = 0, started = 0;
	pthread_t helpers[NTHREADS - 1];
	struct key_set shapes, exact;
	struct stress_rng rng;
	double t0 = stress_now();
	bool bad = false;

	printf("queue_linearizability: seed %" PRIu64 " scale %d%%%s\n",
	       seed, stress_scale(), STRESS_TSAN ? " (tsan)" : "");
	set_init(&shapes);
	set_init(&exact);
	stress_rng_init(&rng, seed, 0);
	if (pthread_barrier_init(&start_line, NULL, NTHREADS) != 0 ||
	    pthread_barrier_init(&finish_line, NULL, NTHREADS) != 0) {
		fprintf(stderr, "pthread_barrier_init failed\n");
		return 2;
	}
	/* Before pinning, so that the watchdog inherits no affinity. */
	stress_watchdog_start();
	for (int t = 1; t < NTHREADS; t++)
		stress_thread_create(&helpers[t - 1], helper_main,
				     (void *)(intptr_t)t);
	pin_thread(0);
	/* 230 s at scale 100, under the meson timeout; a hang: 30 s. */
	stress_watchdog_arm("random_ops", 30 + 2.0 * stress_scale(), 30,
			    watchdog_dump);

	while (n < histories && !bad) {
		batch_len = 0;
		atomic_store_explicit(&round_first, n, memory_order_relaxed);
		while (batch_len < BATCH && n + (uint64_t)batch_len <
		       histories) {
			struct history *h = &batch[batch_len];
			int rc;

			plan(h, &rng, n + (uint64_t)batch_len);
			rc = baton_queue_create(&h->q, h->capacity,
						count_destroyed);
			if (rc != 0) {
				fprintf(stderr, "baton_queue_create: %d\n",
					rc);
				return 2;
			}
			batch_len++;
		}
		barrier(&start_line);
		run_round(0, &started);
		barrier(&finish_line);

		for (int k = 0; k < batch_len; k++) {
			struct history *h = &batch[k];

			drain(h);
			if (bad)
				continue;
			if (!linearizable(h)) {
				stress_fail("history %" PRIu64 " is not "
					    "linearizable", h->number);
				dump_history();
				bad = true;
				continue;
			}
			if (!timeouts_honoured()) {
				dump_history();
				bad = true;
				continue;
			}
			n++;
			overlapped += overlapping();
			for (int i = 0; i < NOPS; i++)
				woke += woken(flat[i]);
			set_add(&shapes, shape_of());
			set_add(&exact, exact_outcome_of());
		}
		stress_progress_add((unsigned long)batch_len);
	}

	stop = true;
	barrier(&start_line);
	for (int t = 1; t < NTHREADS; t++)
		pthread_join(helpers[t - 1], NULL);
	stress_watchdog_disarm();
	stress_watchdog_stop();
	if (atomic_load(&destroyed_items) != 0)
		stress_fail("%ld items reached the destructor after the "
			    "drain", atomic_load(&destroyed_items));

	/* Per kind: ok / -EAGAIN / -ETIMEDOUT / -EPIPE; other must be 0. */
	printf("queue_linearizability random_ops histories=%" PRIu64
	       " shapes=%lu exact=%lu overlapping=%lu woken=%lu"
	       " search_nodes=%lu"
	       " try_push=%lu/%lu/-/%lu push_timed=%lu/-/%lu/%lu"
	       " try_pop=%lu/%lu/-/%lu pop_timed=%lu/-/%lu/%lu close=%lu"
	       " other=%lu %s %.2fs\n",
	       n, shapes.n, exact.n, overlapped, woke, search_nodes,
	       tallies[TRY_PUSH][0], tallies[TRY_PUSH][1],
	       tallies[TRY_PUSH][3], tallies[PUSH_TIMED][0],
	       tallies[PUSH_TIMED][2], tallies[PUSH_TIMED][3],
	       tallies[TRY_POP][0], tallies[TRY_POP][1], tallies[TRY_POP][3],
	       tallies[POP_TIMED][0], tallies[POP_TIMED][2],
	       tallies[POP_TIMED][3], tallies[CLOSE][0],
	       tallies[TRY_PUSH][4] + tallies[PUSH_TIMED][4] +
		   tallies[TRY_POP][4] + tallies[POP_TIMED][4] +
		   tallies[CLOSE][4],
	       stress_failed() ? "FAILED" : "ok", stress_now() - t0);
	pthread_barrier_destroy(&start_line);
	pthread_barrier_destroy(&finish_line);
	free(shapes.keys);
	free(exact.keys);
	return stress_failed() ? 1 : 0;
}
