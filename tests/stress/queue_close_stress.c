/*
 * queue_close_stress.c - closing a busy queue loses nothing and
 * duplicates nothing.
 *
 * Each round runs P producers and C consumers (P = C in {1, 2, 4, 8}) on a
 * queue of capacity 1, 16 or 1024, and a closer thread that, at a random
 * moment (a random number of pushed items, then a random pause), does one
 * of:
 *   close      consumers drain the queue to -EPIPE; destroy finds nothing;
 *   discard    close_discard with a handback callback, racing the
 *              consumers; a second close_discard returns 0;
 *   leftover   consumers quit after a random quota, close leaves the rest
 *              in the queue, and destroy runs the item destructor on it;
 *   destruct   close_discard without a callback: the item destructor gets
 *              the leftovers; destroy then finds nothing.
 * Producers stop at the first -EPIPE and keep the items they never pushed.
 *
 * Proof: every item a producer generated is marked exactly once in a
 * per-producer bitmap, by exactly one of: a pop, the handback callback, the
 * item destructor, or its producer (never pushed).  Counts per destination
 * must add up, each consumer sees each producer's items in order, and the
 * destructor is never called where nothing may be left.
 *
 * Run: BATON_STRESS_SCALE=100 ./queue_close_stress   (BATON_STRESS_SEED=n)
 * Output: one line per round type, then a total.
 */
#include <baton/queue.h>

#include "stress.h"

#define MAX_THREADS 8
#define MAX_BATCH 8

enum kind { K_CLOSE, K_DISCARD, K_LEFTOVER, K_DESTRUCT, K_COUNT };

static const char *const kind_names[K_COUNT] = {
	"close", "discard", "leftover", "destruct"
};

/* Where an item ended up. */
enum dest { D_POPPED, D_HANDED, D_DESTROYED, D_OWNED, D_COUNT };

struct round {
	baton_queue *q;
	int index;
	enum kind kind;
	int np, nc;
	size_t cap;
	uint64_t seed;
	uint64_t n[MAX_THREADS];
	uint64_t total;
	uint64_t close_target;
	struct stress_bitmap seen;
	atomic_uint_fast64_t dest[D_COUNT];
	atomic_uint_fast64_t pushed;
	atomic_int producers_done;
	ptrdiff_t discarded, discarded_again;
	uint64_t destroy_calls_at_destroy;
	char name[160];
};

struct producer {
	alignas(STRESS_CACHELINE) pthread_t thread;
	struct round *r;
	int id;
	bool got_epipe;
};

struct consumer {
	alignas(STRESS_CACHELINE) pthread_t thread;
	struct round *r;
	int id;
	uint64_t quota; /* K_LEFTOVER: stop after this many */
	uint64_t next_seq[MAX_THREADS];
	uint64_t popped;
};

/* The round the item destructor and the dump refer to (one at a time). */
static struct round *current;

static void
count_dest(struct round *r, enum dest d, uint64_t n)
{
	/* relaxed: tallies, read after every thread is joined. */
	atomic_fetch_add_explicit(&r->dest[d], n, memory_order_relaxed);
}

static void
mark(struct round *r, void *item, enum dest d, const char *who)
{
	uint64_t pid, seq;

	if (!stress_item_decode(item, (uint64_t)r->np, &pid, &seq) ||
	    seq >= r->n[pid]) {
		stress_fail("%s: %s got corrupt item %p", r->name, who, item);
		return;
	}
	if (!stress_bitmap_mark(&r->seen, pid, seq))
		stress_fail("%s: producer %" PRIu64 " seq %" PRIu64
			    " accounted twice (second: %s)", r->name, pid, seq,
			    who);
	count_dest(r, d, 1);
}

static void
item_destroy(void *item)
{
	mark(current, item, D_DESTROYED, "item destructor");
}

static void
handback(void *item, void *ctx)
{
	mark(ctx, item, D_HANDED, "close_discard callback");
}

static void *
producer_main(void *arg)
{
	struct producer *p = arg;
	struct round *r = p->r;
	baton_queue *q = r->q;
	uint64_t n = r->n[p->id], seq = 0;
	struct stress_rng rng;
	void *batch[MAX_BATCH];

	stress_rng_init(&rng, r->seed, 100 + (uint64_t)p->id);
	while (seq < n) {
		size_t b = 1 + (size_t)stress_rng_below(&rng, MAX_BATCH);
		int t = (int)stress_rng_below(&rng, 3);
		ptrdiff_t k;

		if (b > n - seq)
			b = (size_t)(n - seq);
		for (size_t i = 0; i < b; i++)
			batch[i] = stress_item((uint64_t)p->id, seq + i);
		switch (stress_rng_below(&rng, 6)) {
		case 0:
			k = baton_queue_push(q, batch[0]);
			k = k == 0 ? 1 : k;
			break;
		case 1:
			k = baton_queue_push_timed(q, batch[0], t);
			k = k == 0 ? 1 : k;
			break;
		case 2:
			k = baton_queue_try_push(q, batch[0]);
			k = k == 0 ? 1 : k;
			break;
		case 3:
			k = baton_queue_push_many(q, batch, b);
			break;
		case 4:
			k = baton_queue_push_many_timed(q, batch, b, t);
			break;
		default:
			k = baton_queue_try_push_many(q, batch, b);
			break;
		}
		if (k == -EPIPE) {
			p->got_epipe = true;
			break;
		}
		if (k == -ETIMEDOUT)
			continue;
		if (k == -EAGAIN) {
			sched_yield();
			continue;
		}
		if (k <= 0 || (size_t)k > b) {
			stress_fail("%s: producer %d: push returned %td",
				    r->name, p->id, k);
			break;
		}
		seq += (uint64_t)k;
		/* relaxed: the closer's trigger only, orders nothing. */
		atomic_fetch_add_explicit(&r->pushed, (uint64_t)k,
					  memory_order_relaxed);
	}
	if (p->got_epipe) {
		/* A closed queue stays closed. */
		if (baton_queue_push_timed(q, stress_item((uint64_t)p->id, seq),
					   1) != -EPIPE)
			stress_fail("%s: producer %d: push after -EPIPE did "
				    "not fail", r->name, p->id);
	}
	/* Never pushed: still ours. */
	for (uint64_t s = seq; s < n; s++)
		mark(r, stress_item((uint64_t)p->id, s), D_OWNED, "producer");
	atomic_fetch_add_explicit(&r->producers_done, 1, memory_order_relaxed);
	stress_progress_add(1);
	return NULL;
}

static void *
consumer_main(void *arg)
{
	struct consumer *c = arg;
	struct round *r = c->r;
	baton_queue *q = r->q;
	struct stress_rng rng;
	void *buf[MAX_BATCH];

	stress_rng_init(&rng, r->seed, 200 + (uint64_t)c->id);
	while (c->popped < c->quota) {
		size_t b = 1 + (size_t)stress_rng_below(&rng, MAX_BATCH);
		int t = (int)stress_rng_below(&rng, 3);
		ptrdiff_t k;

		if (b > c->quota - c->popped)
			b = (size_t)(c->quota - c->popped);
		switch (stress_rng_below(&rng, 6)) {
		case 0:
			k = baton_queue_pop(q, &buf[0]);
			k = k == 0 ? 1 : k;
			break;
		case 1:
			k = baton_queue_pop_timed(q, &buf[0], t);
			k = k == 0 ? 1 : k;
			break;
		case 2:
			k = baton_queue_try_pop(q, &buf[0]);
			k = k == 0 ? 1 : k;
			break;
		case 3:
			k = baton_queue_pop_many(q, buf, b);
			break;
		case 4:
			k = baton_queue_pop_many_timed(q, buf, b, t);
			break;
		default:
			k = baton_queue_try_pop_many(q, buf, b);
			break;
		}
		if (k == -EPIPE)
			break;
		if (k == -ETIMEDOUT)
			continue;
		if (k == -EAGAIN) {
			sched_yield();
			continue;
		}
		if (k <= 0 || (size_t)k > b) {
			stress_fail("%s: consumer %d: pop returned %td",
				    r->name, c->id, k);
			break;
		}
		for (ptrdiff_t i = 0; i < k; i++) {
			uint64_t pid, seq;

			if (stress_item_decode(buf[i], (uint64_t)r->np, &pid,
					       &seq)) {
				if (seq < c->next_seq[pid])
					stress_fail("%s: consumer %d: "
						    "producer %" PRIu64
						    " seq %" PRIu64 " out of "
						    "order", r->name, c->id,
						    pid, seq);
				c->next_seq[pid] = seq + 1;
			}
			mark(r, buf[i], D_POPPED, "pop");
		}
		c->popped += (uint64_t)k;
	}
	stress_progress_add(1);
	return NULL;
}

static void *
closer_main(void *arg)
{
	struct round *r = arg;
	struct stress_rng rng;
	uint64_t last = 0;
	double last_change = stress_now();
	ptrdiff_t d;

	stress_rng_init(&rng, r->seed, 300);
	/*
	 * Wait for a random amount of pushing (possibly all of it); give up
	 * waiting once pushing has stalled (e.g. full with consumers gone).
	 */
	for (;;) {
		uint64_t now_pushed = atomic_load_explicit(
		    &r->pushed, memory_order_relaxed);

		if (now_pushed >= r->close_target ||
		    atomic_load_explicit(&r->producers_done,
					 memory_order_relaxed) == r->np)
			break;
		if (now_pushed != last) {
			last = now_pushed;
			last_change = stress_now();
		} else if (stress_now() - last_change > 0.005) {
			break;
		}
		sched_yield();
	}
	stress_jitter(&rng);

	switch (r->kind) {
	case K_CLOSE:
	case K_LEFTOVER:
		if (baton_queue_close(r->q) != 0 ||
		    baton_queue_close(r->q) != 0)
			stress_fail("%s: close failed", r->name);
		break;
	case K_DISCARD:
		r->discarded = baton_queue_close_discard(r->q, handback, r);
		/* Nothing can be pushed after a close: nothing left now. */
		r->discarded_again = baton_queue_close_discard(r->q, handback,
							       r);
		break;
	default:
		d = baton_queue_close_discard(r->q, NULL, NULL);
		r->discarded = d;
		break;
	}
	if (!baton_queue_is_closed(r->q))
		stress_fail("%s: not closed after close", r->name);
	stress_progress_add(1);
	return NULL;
}

static void
dump_state(void)
{
	struct round *r = current;

	if (r == NULL)
		return;
	fprintf(stderr, "  round %d kind %s seed %" PRIu64 ": size %zu, "
		"closed %d, pushed %" PRIuFAST64 ", producers done %d\n",
		r->index, kind_names[r->kind], r->seed,
		baton_queue_size(r->q), (int)baton_queue_is_closed(r->q),
		atomic_load_explicit(&r->pushed, memory_order_relaxed),
		atomic_load_explicit(&r->producers_done,
				     memory_order_relaxed));
}

struct totals {
	uint64_t rounds, items, dest[D_COUNT];
	double seconds;
};

static void
run_round(int index, uint64_t master_seed, uint64_t max_items,
	  struct totals *tot)
{
	static const int shapes[] = { 1, 2, 4, 8 };
	static const size_t caps[] = { 1, 16, 1024 };
	struct round *r = calloc(1, sizeof(*r));
	struct producer ps[MAX_THREADS];
	struct consumer cs[MAX_THREADS];
	pthread_t closer;
	struct stress_rng rng;
	uint64_t dest[D_COUNT], sum = 0, maxn = 0;
	int failed_before = stress_failed(), rc;
	double t0;

	if (r == NULL) {
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	memset(ps, 0, sizeof(ps));
	memset(cs, 0, sizeof(cs));
	r->index = index;
	r->seed = stress_mix(master_seed + (uint64_t)index);
	stress_rng_init(&rng, r->seed, 0);
	r->kind = (enum kind)(index % K_COUNT);
	r->np = r->nc = shapes[stress_rng_below(&rng, 4)];
	r->cap = caps[stress_rng_below(&rng, 3)];
	for (int i = 0; i < r->np; i++) {
		r->n[i] = 1 + stress_rng_below(&rng, max_items);
		r->total += r->n[i];
		if (r->n[i] > maxn)
			maxn = r->n[i];
	}
	r->close_target = stress_rng_below(&rng, r->total + r->total / 8 + 1);
	snprintf(r->name, sizeof(r->name),
		 "queue_close round %d %s %dp%dc cap%zu items=%" PRIu64, index,
		 kind_names[r->kind], r->np, r->nc, r->cap, r->total);
	stress_bitmap_init(&r->seen, (uint64_t)r->np, maxn);
	rc = baton_queue_create(&r->q, r->cap, item_destroy);
	if (rc != 0) {
		stress_fail("%s: create: %d", r->name, rc);
		exit(1);
	}
	current = r;
	stress_watchdog_arm(r->name, STRESS_TSAN ? 300 : 60, 20, dump_state);

	t0 = stress_now();
	for (int i = 0; i < r->nc; i++) {
		cs[i].r = r;
		cs[i].id = i;
		cs[i].quota = r->kind == K_LEFTOVER ?
		    stress_rng_below(&rng, r->total / (uint64_t)r->nc + 1) :
		    UINT64_MAX;
		stress_thread_create(&cs[i].thread, consumer_main, &cs[i]);
	}
	for (int i = 0; i < r->np; i++) {
		ps[i].r = r;
		ps[i].id = i;
		stress_thread_create(&ps[i].thread, producer_main, &ps[i]);
	}
	stress_thread_create(&closer, closer_main, r);
	for (int i = 0; i < r->np; i++)
		pthread_join(ps[i].thread, NULL);
	for (int i = 0; i < r->nc; i++)
		pthread_join(cs[i].thread, NULL);
	pthread_join(closer, NULL);

	/* Whatever is still inside goes to the item destructor now. */
	r->destroy_calls_at_destroy =
	    atomic_load_explicit(&r->dest[D_DESTROYED], memory_order_relaxed);
	baton_queue_destroy(r->q);
	r->destroy_calls_at_destroy =
	    atomic_load_explicit(&r->dest[D_DESTROYED],
				 memory_order_relaxed) -
	    r->destroy_calls_at_destroy;
	stress_watchdog_disarm();
	current = NULL;

	for (int d = 0; d < D_COUNT; d++) {
		dest[d] = atomic_load_explicit(&r->dest[d],
					       memory_order_relaxed);
		sum += dest[d];
	}
	if (sum != r->total)
		stress_fail("%s: popped %" PRIu64 " + handed back %" PRIu64
			    " + destroyed %" PRIu64 " + owned %" PRIu64
			    " != generated %" PRIu64, r->name, dest[D_POPPED],
			    dest[D_HANDED], dest[D_DESTROYED], dest[D_OWNED],
			    r->total);
	for (int i = 0; i < r->np; i++) {
		uint64_t got = stress_bitmap_count(&r->seen, (uint64_t)i,
						   r->n[i]);

		if (got != r->n[i])
			stress_fail("%s: producer %d: %" PRIu64 " of %" PRIu64
				    " items accounted for; first lost seq %"
				    PRIu64, r->name, i, got, r->n[i],
				    stress_bitmap_first_missing(
					&r->seen, (uint64_t)i, r->n[i]));
	}
	switch (r->kind) {
	case K_CLOSE:
		if (dest[D_HANDED] != 0 || dest[D_DESTROYED] != 0)
			stress_fail("%s: graceful close left %" PRIu64
				    " items for destroy", r->name,
				    dest[D_DESTROYED]);
		break;
	case K_DISCARD:
		if (r->discarded < 0 || (uint64_t)r->discarded != dest[D_HANDED])
			stress_fail("%s: close_discard returned %td, callback "
				    "ran %" PRIu64 " times", r->name,
				    r->discarded, dest[D_HANDED]);
		if (r->discarded_again != 0)
			stress_fail("%s: second close_discard returned %td",
				    r->name, r->discarded_again);
		if (dest[D_DESTROYED] != 0)
			stress_fail("%s: destructor ran %" PRIu64 " times "
				    "despite a handback callback", r->name,
				    dest[D_DESTROYED]);
		break;
	case K_LEFTOVER:
		if (dest[D_HANDED] != 0 ||
		    r->destroy_calls_at_destroy != dest[D_DESTROYED])
			stress_fail("%s: destructor calls outside destroy",
				    r->name);
		break;
	default:
		if (r->discarded < 0 ||
		    (uint64_t)r->discarded != dest[D_DESTROYED] ||
		    r->destroy_calls_at_destroy != 0 || dest[D_HANDED] != 0)
			stress_fail("%s: close_discard(NULL) returned %td, "
				    "destructor ran %" PRIu64 " times, %" PRIu64
				    " of them in destroy", r->name,
				    r->discarded, dest[D_DESTROYED],
				    r->destroy_calls_at_destroy);
		break;
	}
	if (stress_failed() != failed_before)
		fprintf(stderr, "  (failed round %d: seed %" PRIu64
			", close after %" PRIu64 " pushes)\n", index, r->seed,
			r->close_target);

	tot[r->kind].rounds++;
	tot[r->kind].items += r->total;
	tot[r->kind].seconds += stress_now() - t0;
	for (int d = 0; d < D_COUNT; d++)
		tot[r->kind].dest[d] += dest[d];
	stress_bitmap_free(&r->seen);
	free(r);
}

int
main(void)
{
	uint64_t seed = stress_seed();
	uint64_t rounds = stress_scaled(200, 40);
	uint64_t max_items = STRESS_TSAN ? 1000 : 5000;
	struct totals tot[K_COUNT];
	double t0 = stress_now();

	memset(tot, 0, sizeof(tot));
	printf("queue_close_stress: seed %" PRIu64 " scale %d%% rounds %"
	       PRIu64 "%s\n", seed, stress_scale(), rounds,
	       STRESS_TSAN ? " (tsan)" : "");
	fflush(stdout);
	stress_watchdog_start();
	for (uint64_t i = 0; i < rounds; i++)
		run_round((int)i, seed, max_items, tot);
	stress_watchdog_stop();
	for (int k = 0; k < K_COUNT; k++)
		printf("queue_close %-8s rounds=%" PRIu64 " items=%" PRIu64
		       " popped=%" PRIu64 " handed=%" PRIu64 " destroyed=%"
		       PRIu64 " owned=%" PRIu64 " %s %.2fs\n", kind_names[k],
		       tot[k].rounds, tot[k].items, tot[k].dest[D_POPPED],
		       tot[k].dest[D_HANDED], tot[k].dest[D_DESTROYED],
		       tot[k].dest[D_OWNED], stress_failed() ? "FAILED" : "ok",
		       tot[k].seconds);
	printf("queue_close_stress: %s %.2fs seed %" PRIu64 "\n",
	       stress_failed() ? "FAILED" : "ok", stress_now() - t0, seed);
	return stress_failed() ? 1 : 0;
}
