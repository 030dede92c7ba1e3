/*
 * queue_mpmc_stress.c - many producers and consumers move millions of
 * distinct items through one baton_queue; nothing may be lost, duplicated
 * or reordered per producer.
 *
 * Scenarios: P producers / C consumers in {1/1, 2/2, 4/4, 8/8} x capacity
 * {1, 1024}.  Each thread has a role that picks the API it uses: blocking
 * push/pop, push_many/pop_many with small random batches, timed variants
 * with 0-2 ms timeouts that retry on -ETIMEDOUT, or a random mix of every
 * variant including try_.  Roles rotate with the scenario.
 *
 * Checks: every item is popped exactly once (per-producer bitmaps, atomic
 * test-and-set), counts and sum/xor checksums match, and each consumer
 * sees each producer's sequence numbers strictly increasing.
 *
 * Run: BATON_STRESS_SCALE=100 ./queue_mpmc_stress   (BATON_STRESS_SEED=n)
 * Output: queue_mpmc 4p4c cap1 items=400000 ok 0.25s (1.60 M items/s; ...)
 */
#include <baton/queue.h>

#include "stress.h"

#define MAX_BATCH 16

enum role { ROLE_BLOCKING, ROLE_MANY, ROLE_TIMED, ROLE_MIXED, ROLE_COUNT };

static const char *const role_names[ROLE_COUNT] = {
	"blocking", "many", "timed", "mixed"
};

/* The operations a role draws from. */
enum op { OP_ONE, OP_MANY, OP_TIMED, OP_TRY, OP_MANY_TIMED, OP_TRY_MANY };

struct run {
	baton_queue *q;
	int np, nc;
	uint64_t seed;
	int index;
	struct stress_bitmap seen;
};

struct producer {
	alignas(STRESS_CACHELINE) pthread_t thread;
	struct run *run;
	int id;
	enum role role;
	uint64_t n;
	struct stress_sum pushed;
	uint64_t timeouts, eagains;
};

struct consumer {
	alignas(STRESS_CACHELINE) pthread_t thread;
	struct run *run;
	int id;
	enum role role;
	uint64_t *next_seq; /* per producer: the lowest acceptable seq */
	struct stress_sum popped;
	uint64_t timeouts, eagains;
};

static enum op
pick_op(enum role role, struct stress_rng *rng)
{
	switch (role) {
	case ROLE_BLOCKING:
		return OP_ONE;
	case ROLE_MANY:
		return OP_MANY;
	case ROLE_TIMED:
		return stress_rng_below(rng, 2) ? OP_TIMED : OP_MANY_TIMED;
	default:
		return (enum op)stress_rng_below(rng, 6);
	}
}

static void *
producer_main(void *arg)
{
	struct producer *p = arg;
	baton_queue *q = p->run->q;
	struct stress_rng rng;
	void *batch[MAX_BATCH];
	uint64_t seq = 0;

	stress_rng_init(&rng, p->run->seed,
	    ((uint64_t)p->run->index << 32) | (1000 + (uint64_t)p->id));
	while (seq < p->n) {
		enum op op = pick_op(p->role, &rng);
		size_t b = 1 + (size_t)stress_rng_below(&rng, 8);
		int t = (int)stress_rng_below(&rng, 3);
		ptrdiff_t k;

		if (b > p->n - seq)
			b = (size_t)(p->n - seq);
		for (size_t i = 0; i < b; i++)
			batch[i] = stress_item((uint64_t)p->id, seq + i);
		switch (op) {
		case OP_ONE:
			k = baton_queue_push(q, batch[0]) == 0 ? 1 : -1;
			break;
		case OP_TIMED:
			k = baton_queue_push_timed(q, batch[0], t);
			k = k == 0 ? 1 : k;
			break;
		case OP_TRY:
			k = baton_queue_try_push(q, batch[0]);
			k = k == 0 ? 1 : k;
			break;
		case OP_MANY:
			k = baton_queue_push_many(q, batch, b);
			break;
		case OP_MANY_TIMED:
			k = baton_queue_push_many_timed(q, batch, b, t);
			break;
		default:
			k = baton_queue_try_push_many(q, batch, b);
			break;
		}
		if (k == -ETIMEDOUT) {
			p->timeouts++;
			continue;
		}
		if (k == -EAGAIN) {
			p->eagains++;
			sched_yield();
			continue;
		}
		if (k <= 0 || (size_t)k > b) {
			stress_fail("producer %d: op %d returned %td at seq %"
				    PRIu64, p->id, (int)op, k, seq);
			break;
		}
		for (ptrdiff_t i = 0; i < k; i++)
			stress_sum_add(&p->pushed, batch[i]);
		seq += (uint64_t)k;
	}
	return NULL;
}

static void
consume(struct consumer *c, void *item)
{
	struct run *run = c->run;
	uint64_t pid, seq;

	if (!stress_item_decode(item, (uint64_t)run->np, &pid, &seq)) {
		stress_fail("consumer %d: corrupt item %p", c->id, item);
		return;
	}
	if (seq < c->next_seq[pid])
		stress_fail("consumer %d: producer %" PRIu64 " seq %" PRIu64
			    " after seq %" PRIu64 " (order)", c->id, pid,
			    seq, c->next_seq[pid] - 1);
	c->next_seq[pid] = seq + 1;
	if (!stress_bitmap_mark(&run->seen, pid, seq))
		stress_fail("consumer %d: producer %" PRIu64 " seq %" PRIu64
			    " popped twice (or out of range)", c->id, pid, seq);
	stress_sum_add(&c->popped, item);
	if ((c->popped.count & 63) == 0)
		stress_progress_add(64);
}

static void *
consumer_main(void *arg)
{
	struct consumer *c = arg;
	baton_queue *q = c->run->q;
	struct stress_rng rng;
	void *buf[MAX_BATCH];

	stress_rng_init(&rng, c->run->seed,
	    ((uint64_t)c->run->index << 32) | (2000 + (uint64_t)c->id));
	for (;;) {
		enum op op = pick_op(c->role, &rng);
		size_t b = 1 + (size_t)stress_rng_below(&rng, MAX_BATCH);
		int t = (int)stress_rng_below(&rng, 3);
		ptrdiff_t k;

		switch (op) {
		case OP_ONE:
			k = baton_queue_pop(q, &buf[0]);
			k = k == 0 ? 1 : k;
			break;
		case OP_TIMED:
			k = baton_queue_pop_timed(q, &buf[0], t);
			k = k == 0 ? 1 : k;
			break;
		case OP_TRY:
			k = baton_queue_try_pop(q, &buf[0]);
			k = k == 0 ? 1 : k;
			break;
		case OP_MANY:
			k = baton_queue_pop_many(q, buf, b);
			break;
		case OP_MANY_TIMED:
			k = baton_queue_pop_many_timed(q, buf, b, t);
			break;
		default:
			k = baton_queue_try_pop_many(q, buf, b);
			break;
		}
		if (k == -EPIPE)
			break;
		if (k == -ETIMEDOUT) {
			c->timeouts++;
			continue;
		}
		if (k == -EAGAIN) {
			c->eagains++;
			sched_yield();
			continue;
		}
		if (k <= 0 || (size_t)k > b) {
			stress_fail("consumer %d: op %d returned %td", c->id,
				    (int)op, k);
			break;
		}
		for (ptrdiff_t i = 0; i < k; i++)
			consume(c, buf[i]);
	}
	return NULL;
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
run_scenario(int index, int np, int nc, size_t cap, uint64_t total,
	     uint64_t seed)
{
	struct run run = { .np = np, .nc = nc, .seed = seed, .index = index };
	struct producer *ps = calloc((size_t)np, sizeof(*ps));
	struct consumer *cs = calloc((size_t)nc, sizeof(*cs));
	struct stress_sum in = { 0 }, out = { 0 };
	uint64_t timeouts = 0, eagains = 0, per = total / (uint64_t)np;
	char name[128];
	double t0, dt;
	int failed_before = stress_failed(), rc;
	void *item;

	if (ps == NULL || cs == NULL) {
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	snprintf(name, sizeof(name), "queue_mpmc %dp%dc cap%zu items=%" PRIu64,
		 np, nc, cap, total);
	rc = baton_queue_create(&run.q, cap, NULL);
	if (rc != 0) {
		stress_fail("%s: create: %d", name, rc);
		return;
	}
	stress_bitmap_init(&run.seen, (uint64_t)np, per + 1);
	current = &run;
	stress_watchdog_arm(name, STRESS_TSAN ? 900 : 300, 30, dump_state);

	t0 = stress_now();
	for (int i = 0; i < nc; i++) {
		cs[i].run = &run;
		cs[i].id = i;
		cs[i].role = (enum role)((i + index + 1) % ROLE_COUNT);
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
		ps[i].role = (enum role)((i + index) % ROLE_COUNT);
		ps[i].n = per + ((uint64_t)i < total % (uint64_t)np ? 1 : 0);
		stress_thread_create(&ps[i].thread, producer_main, &ps[i]);
	}
	for (int i = 0; i < np; i++) {
		pthread_join(ps[i].thread, NULL);
		stress_sum_merge(&in, &ps[i].pushed);
		timeouts += ps[i].timeouts;
		eagains += ps[i].eagains;
	}
	rc = baton_queue_close(run.q);
	if (rc != 0)
		stress_fail("%s: close: %d", name, rc);
	for (int i = 0; i < nc; i++) {
		pthread_join(cs[i].thread, NULL);
		stress_sum_merge(&out, &cs[i].popped);
		timeouts += cs[i].timeouts;
		eagains += cs[i].eagains;
		free(cs[i].next_seq);
	}
	dt = stress_now() - t0;
	stress_watchdog_disarm();
	current = NULL;

	/* Everything was produced, and popped exactly once. */
	if (in.count != total)
		stress_fail("%s: produced %" PRIu64 " of %" PRIu64, name,
			    in.count, total);
	if (out.count != in.count || out.sum != in.sum || out.xor != in.xor)
		stress_fail("%s: pushed count/sum/xor %" PRIu64 "/%#" PRIx64
			    "/%#" PRIx64 " != popped %" PRIu64 "/%#" PRIx64
			    "/%#" PRIx64, name, in.count, in.sum, in.xor,
			    out.count, out.sum, out.xor);
	for (int i = 0; i < np; i++) {
		uint64_t got = stress_bitmap_count(&run.seen, (uint64_t)i,
						   ps[i].n);

		if (got != ps[i].n)
			stress_fail("%s: producer %d: %" PRIu64 " of %" PRIu64
				    " items popped; first missing seq %" PRIu64,
				    name, i, got, ps[i].n,
				    stress_bitmap_first_missing(
					&run.seen, (uint64_t)i, ps[i].n));
	}
	/* Closed and drained. */
	if (baton_queue_size(run.q) != 0)
		stress_fail("%s: size %zu after draining", name,
			    baton_queue_size(run.q));
	if ((rc = baton_queue_try_pop(run.q, &item)) != -EPIPE)
		stress_fail("%s: try_pop after drain: %d", name, rc);
	if ((rc = baton_queue_push(run.q, NULL)) != -EPIPE)
		stress_fail("%s: push after close: %d", name, rc);

	printf("%s %s %.2fs (%.2f M items/s; roles p0=%s c0=%s; "
	       "%" PRIu64 " timeouts, %" PRIu64 " eagain)\n", name,
	       stress_failed() == failed_before ? "ok" : "FAILED", dt,
	       (double)total / dt / 1e6, role_names[ps[0].role],
	       role_names[cs[0].role], timeouts, eagains);
	fflush(stdout);

	baton_queue_destroy(run.q);
	stress_bitmap_free(&run.seen);
	free(ps);
	free(cs);
}

int
main(void)
{
	static const int pc[] = { 1, 2, 4, 8 };
	static const size_t caps[] = { 1, 1024 };
	uint64_t seed = stress_seed();
	int index = 0;

	printf("queue_mpmc_stress: seed %" PRIu64 " scale %d%%%s\n", seed,
	       stress_scale(), STRESS_TSAN ? " (tsan)" : "");
	stress_watchdog_start();
	for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
		for (size_t i = 0; i < sizeof(pc) / sizeof(pc[0]); i++) {
			/*
			 * Capacity 1 is one handoff per item, often through a
			 * futex wake (20 k to 2 M items/s here): fewer items.
			 */
			uint64_t items = caps[c] == 1 ? 400000 : 4000000;

			run_scenario(index++, pc[i], pc[i], caps[c],
				     stress_scaled(items, 1000), seed);
		}
	}
	stress_watchdog_stop();
	if (stress_failed()) {
		printf("queue_mpmc_stress: FAILED (%d failures, seed %" PRIu64
		       ")\n", stress_failed(), seed);
		return 1;
	}
	return 0;
}
