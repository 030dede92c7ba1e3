/*
 * queue_oversubscribed.c - far more threads than cores must not convoy:
 * the queue keeps moving items every second.
 *
 * Configurations: 16P/16C and 64P/64C, capacity 1024 and 16, each run for
 * a few seconds (3 s at scale 100, never under 2 s).  Every second the main
 * thread samples the number of items moved and FAILS if a one-second window
 * moved fewer than 1,000.  Then it closes the queue and checks
 * conservation: every item a producer generated was popped exactly once
 * or is still held by its producer (the push that met the close), and each
 * consumer saw each producer's items in order.
 *
 * Run: BATON_STRESS_SCALE=100 ./queue_oversubscribed   (BATON_STRESS_SEED=n)
 * Output: queue_oversubscribed 64p64c cap16 3.0s items=... ok ... items/s
 */
#include <baton/queue.h>

#include "stress.h"

#define MAX_BATCH 8
#define MIN_PER_SECOND 1000

struct run {
	baton_queue *q;
	int np, nc;
	uint64_t seed;
	struct stress_bitmap seen;
};

struct producer {
	alignas(STRESS_CACHELINE) pthread_t thread;
	struct run *run;
	int id;
	uint64_t generated; /* seqs [0, generated) were created */
	uint64_t owned;
	bool hit_cap;
};

struct consumer {
	alignas(STRESS_CACHELINE) pthread_t thread;
	struct run *run;
	int id;
	uint64_t *next_seq;
	uint64_t popped_local;
	/* Sampled by the main thread while the consumer runs. */
	atomic_uint_fast64_t moved;
};

static void *
producer_main(void *arg)
{
	struct producer *p = arg;
	struct run *run = p->run;
	baton_queue *q = run->q;
	uint64_t cap = run->seen.bits_per_producer, seq = 0;
	struct stress_rng rng;
	void *batch[MAX_BATCH];

	stress_rng_init(&rng, run->seed, 1000 + (uint64_t)p->id);
	for (;;) {
		size_t b = 1 + (size_t)stress_rng_below(&rng, MAX_BATCH);
		ptrdiff_t k;
		uint64_t pick = stress_rng_below(&rng, 8);

		if (seq + b > cap) {
			/* Out of bitmap: stop generating (never expected). */
			p->hit_cap = true;
			break;
		}
		for (size_t i = 0; i < b; i++)
			batch[i] = stress_item((uint64_t)p->id, seq + i);
		if (pick < 4) {
			b = 1;
			k = baton_queue_push(q, batch[0]);
			k = k == 0 ? 1 : k;
		} else if (pick < 6) {
			k = baton_queue_push_many(q, batch, b);
		} else if (pick < 7) {
			b = 1;
			k = baton_queue_push_timed(q, batch[0], 1);
			k = k == 0 ? 1 : k;
		} else {
			k = baton_queue_push_many_timed(q, batch, b, 1);
		}
		if (k == -EPIPE) {
			/* The batch met the close: still ours. */
			for (size_t i = 0; i < b; i++) {
				if (!stress_bitmap_mark(&run->seen,
							(uint64_t)p->id,
							seq + i))
					stress_fail("producer %d: held seq %"
						    PRIu64 " already popped",
						    p->id, seq + i);
			}
			p->owned = b;
			seq += b;
			break;
		}
		if (k == -ETIMEDOUT)
			continue; /* the same seqs are reused next time */
		if (k <= 0 || (size_t)k > b) {
			stress_fail("producer %d: push returned %td", p->id, k);
			break;
		}
		seq += (uint64_t)k;
	}
	p->generated = seq;
	return NULL;
}

static void *
consumer_main(void *arg)
{
	struct consumer *c = arg;
	struct run *run = c->run;
	baton_queue *q = run->q;
	struct stress_rng rng;
	void *buf[MAX_BATCH];

	stress_rng_init(&rng, run->seed, 2000 + (uint64_t)c->id);
	for (;;) {
		uint64_t pick = stress_rng_below(&rng, 8);
		ptrdiff_t k;

		if (pick < 4) {
			k = baton_queue_pop(q, &buf[0]);
			k = k == 0 ? 1 : k;
		} else if (pick < 6) {
			k = baton_queue_pop_many(
			    q, buf, 1 + (size_t)stress_rng_below(&rng,
								 MAX_BATCH));
		} else if (pick < 7) {
			k = baton_queue_pop_timed(q, &buf[0], 1);
			k = k == 0 ? 1 : k;
		} else {
			k = baton_queue_pop_many_timed(q, buf, MAX_BATCH, 1);
		}
		if (k == -EPIPE)
			break;
		if (k == -ETIMEDOUT)
			continue;
		if (k <= 0 || k > MAX_BATCH) {
			stress_fail("consumer %d: pop returned %td", c->id, k);
			break;
		}
		for (ptrdiff_t i = 0; i < k; i++) {
			uint64_t pid, seq;

			if (!stress_item_decode(buf[i], (uint64_t)run->np,
						&pid, &seq)) {
				stress_fail("consumer %d: corrupt item %p",
					    c->id, buf[i]);
				continue;
			}
			if (seq < c->next_seq[pid])
				stress_fail("consumer %d: producer %" PRIu64
					    " seq %" PRIu64 " out of order",
					    c->id, pid, seq);
			c->next_seq[pid] = seq + 1;
			if (!stress_bitmap_mark(&run->seen, pid, seq))
				stress_fail("consumer %d: producer %" PRIu64
					    " seq %" PRIu64 " popped twice",
					    c->id, pid, seq);
		}
		c->popped_local += (uint64_t)k;
		/* relaxed: sampled for throughput only. */
		atomic_store_explicit(&c->moved, c->popped_local,
				      memory_order_relaxed);
		if ((c->popped_local & 255) < (uint64_t)k)
			stress_progress_add(256);
	}
	return NULL;
}

static uint64_t
moved(struct consumer *cs, int nc)
{
	uint64_t sum = 0;

	for (int i = 0; i < nc; i++)
		sum += atomic_load_explicit(&cs[i].moved,
					    memory_order_relaxed);
	return sum;
}

static struct run *current;

static void
dump_state(void)
{
	if (current != NULL)
		fprintf(stderr, "  queue size %zu, closed %d, seed %" PRIu64
			"\n", baton_queue_size(current->q),
			(int)baton_queue_is_closed(current->q), current->seed);
}

static void
run_config(int np, int nc, size_t cap, double seconds, uint64_t seed)
{
	struct run run = { .np = np, .nc = nc, .seed = seed };
	struct producer *ps = calloc((size_t)np, sizeof(*ps));
	struct consumer *cs = calloc((size_t)nc, sizeof(*cs));
	uint64_t generated = 0, owned = 0, popped = 0, prev = 0, total;
	double t0, tprev, min_rate = 1e30, dt;
	int failed_before = stress_failed(), rc, windows = 0;
	char name[128];

	if (ps == NULL || cs == NULL) {
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	snprintf(name, sizeof(name), "queue_oversubscribed %dp%dc cap%zu", np,
		 nc, cap);
	rc = baton_queue_create(&run.q, cap, NULL);
	if (rc != 0) {
		stress_fail("%s: create: %d", name, rc);
		return;
	}
	/*
	 * Sequence numbers per producer: room for 40 M items/s in total
	 * (the ring queue moves ~30 M/s here even at 64P/64C), and 4x a
	 * fair share for each producer, since the scheduler favours some
	 * (a producer hitting the end fails the run rather than wrapping).
	 */
	stress_bitmap_init(&run.seen, (uint64_t)np,
			   (uint64_t)(seconds * 160e6 / np) + 65536);
	current = &run;
	stress_watchdog_arm(name, seconds + (STRESS_TSAN ? 300 : 60), 20,
			    dump_state);

	for (int i = 0; i < nc; i++) {
		cs[i].run = &run;
		cs[i].id = i;
		cs[i].next_seq = calloc((size_t)np, sizeof(uint64_t));
		if (cs[i].next_seq == NULL) {
			fprintf(stderr, "out of memory\n");
			exit(2);
		}
		stress_thread_create(&cs[i].thread, consumer_main, &cs[i]);
	}
	for (int i = 0; i < np; i++) {
		ps[i].run = &run;
		ps[i].id = i;
		stress_thread_create(&ps[i].thread, producer_main, &ps[i]);
	}

	/* The throughput watchdog: one sample per second. */
	t0 = tprev = stress_now();
	while (tprev - t0 < seconds - 0.001) {
		double now, rate;
		uint64_t m;

		stress_sleep_us(1000000);
		now = stress_now();
		m = moved(cs, nc);
		rate = (double)(m - prev) / (now - tprev);
		windows++;
		if (rate < min_rate)
			min_rate = rate;
		if (rate < MIN_PER_SECOND)
			stress_fail("%s: window %d (%.1f-%.1f s) moved only %"
				    PRIu64 " items (%.0f/s < %d/s)", name,
				    windows, tprev - t0, now - t0, m - prev,
				    rate, MIN_PER_SECOND);
		prev = m;
		tprev = now;
	}
	dt = tprev - t0;
	total = prev;

	rc = baton_queue_close(run.q);
	if (rc != 0)
		stress_fail("%s: close: %d", name, rc);
	for (int i = 0; i < np; i++) {
		pthread_join(ps[i].thread, NULL);
		generated += ps[i].generated;
		owned += ps[i].owned;
		if (ps[i].hit_cap)
			stress_fail("%s: producer %d ran out of sequence "
				    "numbers (test too small)", name, i);
	}
	for (int i = 0; i < nc; i++) {
		pthread_join(cs[i].thread, NULL);
		popped += cs[i].popped_local;
		free(cs[i].next_seq);
	}
	stress_watchdog_disarm();
	current = NULL;

	/* Conservation. */
	if (popped + owned != generated)
		stress_fail("%s: popped %" PRIu64 " + held %" PRIu64
			    " != generated %" PRIu64, name, popped, owned,
			    generated);
	for (int i = 0; i < np; i++) {
		uint64_t got = stress_bitmap_count(&run.seen, (uint64_t)i,
						   ps[i].generated);

		if (got != ps[i].generated)
			stress_fail("%s: producer %d: %" PRIu64 " of %" PRIu64
				    " accounted for; first lost seq %" PRIu64,
				    name, i, got, ps[i].generated,
				    stress_bitmap_first_missing(
					&run.seen, (uint64_t)i,
					ps[i].generated));
	}
	if (baton_queue_size(run.q) != 0)
		stress_fail("%s: size %zu after draining", name,
			    baton_queue_size(run.q));

	printf("%s %.1fs items=%" PRIu64 " %s %.0f items/s (slowest window "
	       "%.0f/s; %" PRIu64 " more after sampling, held at close %" PRIu64 ")\n",
	       name, dt, total,
	       stress_failed() == failed_before ? "ok" : "FAILED",
	       (double)total / dt, min_rate, popped - total, owned);
	fflush(stdout);

	baton_queue_destroy(run.q);
	stress_bitmap_free(&run.seen);
	free(ps);
	free(cs);
}

int
main(void)
{
	static const int threads[] = { 16, 64 };
	static const size_t caps[] = { 1024, 16 };
	uint64_t seed = stress_seed();
	double seconds = 3.0 * stress_scale() / 100.0;

	if (seconds < 2.0)
		seconds = 2.0;
	if (seconds > 30.0)
		seconds = 30.0;
	printf("queue_oversubscribed: seed %" PRIu64 " scale %d%% %.0f s per "
	       "configuration, %ld cpus%s\n", seed, stress_scale(),
	       seconds, sysconf(_SC_NPROCESSORS_ONLN),
	       STRESS_TSAN ? " (tsan)" : "");
	fflush(stdout);
	stress_watchdog_start();
	for (size_t t = 0; t < sizeof(threads) / sizeof(threads[0]); t++)
		for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++)
			run_config(threads[t], threads[t], caps[c],
				   seconds, seed);
	stress_watchdog_stop();
	if (stress_failed()) {
		printf("queue_oversubscribed: FAILED (%d failures, seed %"
		       PRIu64 ")\n", stress_failed(), seed);
		return 1;
	}
	return 0;
}
