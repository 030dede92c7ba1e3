/*
 * queue_rendezvous_stress.c - rendezvous handovers, cancellation and
 * destroy-under-waiters racing each other, for ThreadSanitizer and ASan.
 *
 * Scenarios:
 *   rendezvous  P pushers and C poppers over a capacity-0 queue, with
 *               blocking, timed (0-2 ms), try_ and cancellable calls; a
 *               canceller thread fires and resets a handle shared by the
 *               cancellable calls.  Each item is handed over exactly once
 *               (per-producer bitmaps), per-producer order holds for each
 *               popper, and a push that returned -ECANCELED, -ETIMEDOUT or
 *               -EAGAIN kept its item (pushed again later).
 *   cancel      the same over a ring of capacity 1..4.
 *   select      producers push into two queues (one a rendezvous);
 *               selecting consumers pop from both (with a 0-2 ms timeout
 *               or none, sometimes a push case back into a third queue
 *               that a plain consumer drains), racing plain poppers and
 *               the closes: every item is taken exactly once, by exactly
 *               one case.
 *   destroy     rounds of: N threads block in push (full queue) or pop
 *               (empty queue, or rendezvous), the main thread waits until
 *               baton_queue_waiters says they all block, then destroys the
 *               queue; each must return -EPIPE, and the destructor must
 *               run once per queued item.
 *
 * Run: BATON_STRESS_SCALE=100 ./queue_rendezvous_stress
 * Output: one summary line per scenario.
 */
#include <baton/queue.h>

#include "stress.h"

#define MAXT 8

struct run {
	baton_queue *q;
	baton_queue_cancel *cancel;
	int np, nc;
	uint64_t per_producer;
	uint64_t seed;
	struct stress_bitmap seen;
	atomic_int producers_left;
	atomic_bool stop_cancel;
	atomic_ulong cancelled, timeouts;
};

struct worker {
	alignas(STRESS_CACHELINE) pthread_t thread;
	struct run *run;
	int id;
	struct stress_sum sum;
	uint64_t next_seq[MAXT];
};

static void *
producer_main(void *arg)
{
	struct worker *w = arg;
	struct run *r = w->run;
	struct stress_rng rng;
	uint64_t seq = 0;

	stress_rng_init(&rng, r->seed, 100 + (uint64_t)w->id);
	while (seq < r->per_producer) {
		void *item = stress_item((uint64_t)w->id, seq);
		int rc;

		switch (stress_rng_below(&rng, 4)) {
		case 0:
			rc = baton_queue_push(r->q, item);
			break;
		case 1:
			rc = baton_queue_push_timed(
			    r->q, item, (int)stress_rng_below(&rng, 3));
			break;
		case 2:
			rc = baton_queue_try_push(r->q, item);
			break;
		default:
			rc = baton_queue_push_cancellable(r->q, item,
							  BATON_INFINITY,
							  r->cancel);
			break;
		}
		if (rc == 0) {
			stress_sum_add(&w->sum, item);
			seq++;
			stress_progress_add(1);
		} else if (rc == -ECANCELED) {
			atomic_fetch_add_explicit(&r->cancelled, 1,
						  memory_order_relaxed);
		} else if (rc == -ETIMEDOUT || rc == -EAGAIN) {
			atomic_fetch_add_explicit(&r->timeouts, 1,
						  memory_order_relaxed);
			if (rc == -EAGAIN)
				sched_yield();
		} else {
			stress_fail("producer %d: push returned %d", w->id, rc);
			break;
		}
	}
	/* acq_rel: the last producer's close follows every push. */
	if (atomic_fetch_sub_explicit(&r->producers_left, 1,
				      memory_order_acq_rel) == 1)
		baton_queue_close(r->q);
	return NULL;
}

static void *
consumer_main(void *arg)
{
	struct worker *w = arg;
	struct run *r = w->run;
	struct stress_rng rng;

	stress_rng_init(&rng, r->seed, 200 + (uint64_t)w->id);
	for (;;) {
		void *item = NULL;
		uint64_t pid, seq;
		int rc;

		switch (stress_rng_below(&rng, 4)) {
		case 0:
			rc = baton_queue_pop(r->q, &item);
			break;
		case 1:
			rc = baton_queue_pop_timed(
			    r->q, &item, (int)stress_rng_below(&rng, 3));
			break;
		case 2:
			rc = baton_queue_try_pop(r->q, &item);
			break;
		default:
			rc = baton_queue_pop_cancellable(r->q, &item,
							 BATON_INFINITY,
							 r->cancel);
			break;
		}
		if (rc == -EPIPE)
			break;
		if (rc == -ECANCELED || rc == -ETIMEDOUT || rc == -EAGAIN) {
			if (rc == -EAGAIN)
				sched_yield();
			continue;
		}
		if (rc != 0 ||
		    !stress_item_decode(item, (uint64_t)r->np, &pid, &seq)) {
			stress_fail("consumer %d: pop returned %d, item %p",
				    w->id, rc, item);
			break;
		}
		if (!stress_bitmap_mark(&r->seen, pid, seq))
			stress_fail("item %" PRIu64 ":%" PRIu64 " twice", pid,
				    seq);
		if (seq < w->next_seq[pid])
			stress_fail("consumer %d: producer %" PRIu64
				    " out of order", w->id, pid);
		w->next_seq[pid] = seq + 1;
		stress_sum_add(&w->sum, item);
	}
	return NULL;
}

static void *
canceller_main(void *arg)
{
	struct run *r = arg;

	while (!atomic_load_explicit(&r->stop_cancel, memory_order_acquire)) {
		baton_queue_cancel_fire(r->cancel);
		stress_sleep_us(50);
		baton_queue_cancel_reset(r->cancel);
		stress_sleep_us(200);
	}
	return NULL;
}

static void
transfer_scenario(const char *name, size_t capacity, int np, int nc,
		  uint64_t items, uint64_t seed)
{
	struct worker ws[2 * MAXT];
	struct stress_sum in = { 0 }, out = { 0 };
	pthread_t canceller;
	struct run r;
	double t0 = stress_now();
	char label[120];

	memset(&r, 0, sizeof(r));
	memset(ws, 0, sizeof(ws));
	r.np = np;
	r.nc = nc;
	r.per_producer = items / (uint64_t)np;
	r.seed = seed;
	atomic_init(&r.producers_left, np);
	if (baton_queue_create(&r.q, capacity, NULL) != 0 ||
	    baton_queue_cancel_create(&r.cancel) != 0) {
		stress_fail("create failed");
		return;
	}
	stress_bitmap_init(&r.seen, (uint64_t)np, r.per_producer);
	snprintf(label, sizeof(label), "%s %dp%dc cap%zu items=%" PRIu64, name,
		 np, nc, capacity, r.per_producer * (uint64_t)np);
	stress_watchdog_arm(label, STRESS_TSAN ? 600 : 200, 20, NULL);
	pthread_create(&canceller, NULL, canceller_main, &r);
	for (int i = 0; i < np + nc; i++) {
		ws[i].run = &r;
		ws[i].id = i < np ? i : i - np;
		pthread_create(&ws[i].thread, NULL,
			       i < np ? producer_main : consumer_main, &ws[i]);
	}
	for (int i = 0; i < np + nc; i++) {
		pthread_join(ws[i].thread, NULL);
		stress_sum_merge(i < np ? &in : &out, &ws[i].sum);
	}
	atomic_store_explicit(&r.stop_cancel, true, memory_order_release);
	pthread_join(canceller, NULL);
	stress_watchdog_disarm();
	for (int p = 0; p < np; p++) {
		uint64_t missing = stress_bitmap_first_missing(&r.seen,
							       (uint64_t)p,
							       r.per_producer);

		if (missing != r.per_producer)
			stress_fail("%s: producer %d item %" PRIu64
				    " never popped", label, p, missing);
	}
	if (in.count != out.count || in.sum != out.sum || in.xor != out.xor)
		stress_fail("%s: pushed %" PRIu64 ", popped %" PRIu64, label,
			    in.count, out.count);
	printf("%s %s %.2fs (%lu cancelled, %lu timeouts/eagain)\n", label,
	       stress_failed() ? "FAILED" : "ok", stress_now() - t0,
	       atomic_load(&r.cancelled), atomic_load(&r.timeouts));
	stress_bitmap_free(&r.seen);
	baton_queue_cancel_destroy(r.cancel);
	baton_queue_destroy(r.q);
}

/* select: fan-in over a ring and a rendezvous, racing plain poppers. */

struct sel_run {
	baton_queue *in[2], *echo;
	int np;
	uint64_t per_producer;
	uint64_t seed;
	struct stress_bitmap seen;
	atomic_int open_inputs;
};

struct sel_worker {
	alignas(STRESS_CACHELINE) pthread_t thread;
	struct sel_run *r;
	int id;
	struct stress_sum sum;
};

static void *
sel_producer(void *arg)
{
	struct sel_worker *w = arg;
	baton_queue *q = w->r->in[w->id % 2];

	for (uint64_t s = 0; s < w->r->per_producer; s++) {
		void *item = stress_item((uint64_t)w->id, s);

		if (baton_queue_push(q, item) != 0) {
			stress_fail("select producer: push failed");
			break;
		}
		stress_sum_add(&w->sum, item);
		stress_progress_add(1);
	}
	return NULL;
}

static void
sel_take(struct sel_run *r, struct sel_worker *w, void *item)
{
	uint64_t pid, seq;

	if (!stress_item_decode(item, (uint64_t)r->np, &pid, &seq) ||
	    !stress_bitmap_mark(&r->seen, pid, seq))
		stress_fail("select: item %p invalid or taken twice", item);
	stress_sum_add(&w->sum, item);
}

static void *
sel_consumer(void *arg)
{
	struct sel_worker *w = arg;
	struct sel_run *r = w->r;
	struct stress_rng rng;
	void *held = NULL;
	bool holding = false;

	stress_rng_init(&rng, r->seed, 300 + (uint64_t)w->id);
	for (;;) {
		struct baton_queue_case cs[3] = {
			{ .kind = BATON_QUEUE_CASE_POP, .queue = r->in[0] },
			{ .kind = BATON_QUEUE_CASE_POP, .queue = r->in[1] },
			{ .kind = BATON_QUEUE_CASE_PUSH, .queue = r->echo,
			  .item = held },
		};
		/*
		 * 0-2 ms, or (one in four) no timeout: a lost wake-up then
		 * stalls the consumers, and the watchdog tells.
		 */
		int t = (int)stress_rng_below(&rng, 4);
		int i = baton_queue_select(cs, holding ? 3 : 2,
					   t == 3 ? BATON_INFINITY : t);

		if (i == -ETIMEDOUT)
			continue;
		if (i < 0) {
			stress_fail("select returned %d", i);
			break;
		}
		if (i == 2) {
			if (cs[2].result != 0)
				stress_fail("echo push: %d", cs[2].result);
			holding = false;
			continue;
		}
		if (cs[i].result == -EPIPE) {
			if (r->in[0] == r->in[1] || baton_queue_is_closed(
			    r->in[1 - i]))
				break;
			/* one input left: spin on the other alone */
			continue;
		}
		if (!holding && stress_rng_below(&rng, 4) == 0) {
			/* pass it on through the echo queue instead */
			held = cs[i].item;
			holding = true;
			continue;
		}
		sel_take(r, w, cs[i].item);
	}
	if (holding && baton_queue_push(r->echo, held) != 0)
		stress_fail("echo push after the inputs closed failed");
	return NULL;
}

static void *
sel_echo(void *arg)
{
	struct sel_worker *w = arg;
	void *item;
	int rc;

	while ((rc = baton_queue_pop(w->r->echo, &item)) == 0)
		sel_take(w->r, w, item);
	return NULL;
}

static void *
sel_plain(void *arg)
{
	struct sel_worker *w = arg;
	void *item;
	int rc;

	bool timed = false;

	/* Every other pop without a timeout (see sel_consumer). */
	while ((rc = (timed = !timed)
			 ? baton_queue_pop_timed(w->r->in[w->id % 2], &item, 1)
			 : baton_queue_pop(w->r->in[w->id % 2], &item)) !=
	    -EPIPE) {
		if (rc == 0)
			sel_take(w->r, w, item);
	}
	return NULL;
}

static void
select_scenario(uint64_t items, uint64_t seed)
{
	enum { NP = 4, NSEL = 2, NPLAIN = 2 };
	struct sel_worker ws[NP + NSEL + NPLAIN + 1];
	struct stress_sum in = { 0 }, out = { 0 };
	struct sel_run r;
	double t0 = stress_now();
	int n = NP + NSEL + NPLAIN + 1;

	memset(&r, 0, sizeof(r));
	memset(ws, 0, sizeof(ws));
	r.np = NP;
	r.per_producer = items / NP;
	r.seed = seed;
	if (baton_queue_create(&r.in[0], 16, NULL) != 0 ||
	    baton_queue_create(&r.in[1], 0, NULL) != 0 ||
	    baton_queue_create(&r.echo, 4, NULL) != 0) {
		stress_fail("create failed");
		return;
	}
	stress_bitmap_init(&r.seen, NP, r.per_producer);
	stress_watchdog_arm("select", STRESS_TSAN ? 600 : 200, 20, NULL);
	for (int i = 0; i < n; i++) {
		void *(*fn)(void *) = i < NP ? sel_producer
		    : i < NP + NSEL	     ? sel_consumer
		    : i < n - 1		     ? sel_plain
					     : sel_echo;

		ws[i].r = &r;
		ws[i].id = i;
		pthread_create(&ws[i].thread, NULL, fn, &ws[i]);
	}
	for (int i = 0; i < NP; i++) {
		pthread_join(ws[i].thread, NULL);
		stress_sum_merge(&in, &ws[i].sum);
	}
	baton_queue_close(r.in[0]);
	baton_queue_close(r.in[1]);
	for (int i = NP; i < n - 1; i++)
		pthread_join(ws[i].thread, NULL);
	baton_queue_close(r.echo);
	pthread_join(ws[n - 1].thread, NULL);
	for (int i = NP; i < n; i++)
		stress_sum_merge(&out, &ws[i].sum);
	stress_watchdog_disarm();
	if (in.count != out.count || in.sum != out.sum || in.xor != out.xor)
		stress_fail("select: pushed %" PRIu64 ", taken %" PRIu64,
			    in.count, out.count);
	printf("select %dp %dsel %dplain items=%" PRIu64 " %s %.2fs\n", NP,
	       NSEL, NPLAIN, in.count, stress_failed() ? "FAILED" : "ok",
	       stress_now() - t0);
	stress_bitmap_free(&r.seen);
	for (int i = 0; i < 2; i++)
		baton_queue_destroy(r.in[i]);
	baton_queue_destroy(r.echo);
}

/* destroy: threads blocked in q when it is destroyed. */

static atomic_int destroyed_items;

static void
count_destroy(void *item)
{
	(void)item;
	atomic_fetch_add_explicit(&destroyed_items, 1, memory_order_relaxed);
}

struct blocked {
	alignas(STRESS_CACHELINE) pthread_t thread;
	baton_queue *q;
	baton_queue_cancel *cancel;
	int kind;
	int rc;
};

static void *
blocked_main(void *arg)
{
	struct blocked *b = arg;
	void *item = NULL;

	switch (b->kind) {
	case 0:
		b->rc = baton_queue_push(b->q, &b->rc);
		break;
	case 1:
		b->rc = baton_queue_push_cancellable(b->q, &b->rc,
						     BATON_INFINITY, b->cancel);
		break;
	case 2:
		b->rc = baton_queue_pop(b->q, &item);
		break;
	default:
		b->rc = baton_queue_pop_timed(b->q, &item, 60000);
		break;
	}
	return NULL;
}

static void
destroy_scenario(uint64_t rounds, uint64_t seed)
{
	struct stress_rng rng;
	baton_queue_cancel *cancel;
	double t0 = stress_now();
	uint64_t woken = 0;

	stress_rng_init(&rng, seed, 7);
	if (baton_queue_cancel_create(&cancel) != 0) {
		stress_fail("cancel_create failed");
		return;
	}
	stress_watchdog_arm("destroy", STRESS_TSAN ? 600 : 120, 20, NULL);
	for (uint64_t i = 0; i < rounds && !stress_failed(); i++) {
		struct blocked bs[MAXT];
		size_t cap = (size_t)stress_rng_below(&rng, 3);
		bool pushers = stress_rng_below(&rng, 2);
		int n = 1 + (int)stress_rng_below(&rng, 4);
		baton_queue *q;

		atomic_store(&destroyed_items, 0);
		if (baton_queue_create(&q, cap, count_destroy) != 0) {
			stress_fail("create failed");
			break;
		}
		for (size_t k = 0; pushers && k < cap; k++)
			baton_queue_try_push(q, NULL);
		for (int k = 0; k < n; k++) {
			bs[k].q = q;
			bs[k].cancel = cancel;
			bs[k].kind = (pushers ? 0 : 2) +
			    (int)stress_rng_below(&rng, 2);
			bs[k].rc = 1;
			pthread_create(&bs[k].thread, NULL, blocked_main,
				       &bs[k]);
		}
		while (baton_queue_waiters(q) < (size_t)n)
			sched_yield();
		baton_queue_destroy(q);
		for (int k = 0; k < n; k++) {
			pthread_join(bs[k].thread, NULL);
			if (bs[k].rc != -EPIPE)
				stress_fail("destroy round %" PRIu64
					    ": a blocked call returned %d",
					    i, bs[k].rc);
			woken++;
		}
		if (atomic_load(&destroyed_items) != (pushers ? (int)cap : 0))
			stress_fail("destroy round %" PRIu64 ": %d items "
				    "destroyed, %zu queued", i,
				    atomic_load(&destroyed_items),
				    pushers ? cap : 0);
		stress_progress_add(1);
	}
	stress_watchdog_disarm();
	baton_queue_cancel_destroy(cancel);
	printf("destroy rounds=%" PRIu64 " woken=%" PRIu64 " %s %.2fs\n",
	       rounds, woken, stress_failed() ? "FAILED" : "ok",
	       stress_now() - t0);
}

int
main(void)
{
	uint64_t seed = stress_seed();
	uint64_t items = stress_scaled(200000, 2000);

	printf("queue_rendezvous_stress: seed %" PRIu64 " scale %d%%\n", seed,
	       stress_scale());
	stress_watchdog_start();
	transfer_scenario("rendezvous", 0, 1, 1, items / 4, seed);
	transfer_scenario("rendezvous", 0, 4, 4, items / 4, seed + 1);
	transfer_scenario("cancel", 1, 2, 2, items, seed + 2);
	transfer_scenario("cancel", 4, 4, 4, items, seed + 3);
	select_scenario(items, seed + 5);
	destroy_scenario(stress_scaled(2000, 50), seed + 4);
	stress_watchdog_stop();
	return stress_failed() ? 1 : 0;
}
