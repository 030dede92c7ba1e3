/*
 * stream_abandon_race.c - a supervised stream that fails on max_children
 * while a worker is taking its first item (a plain program: it runs under
 * ASan and ThreadSanitizer in CI).
 *
 * Each round, one gated child holds one of the supervisor's two places;
 * a supervised stream then starts item 0 (the second place) and finds no
 * place for item 1, so next() fails with -EAGAIN and abandons item 0.  A
 * pool worker is claiming item 0 at about that moment.  Whichever side
 * wins, item 0 must have left the group when next() returns (Elixir's
 * killed task does): the count is 1, the gated child alone.  A stream
 * that decides from a look at the item's state, before its claim, loses
 * the item to a worker in between and leaves it counted until its body
 * ends.  Checked per round; item bodies and the child are let go at the
 * end of the round, and every value is freed exactly once.
 *
 *	stream_abandon_race        (BATON_STRESS_SCALE sizes the rounds)
 */
#include <baton.h>

#include "stress.h"

static atomic_int gate_open_flag, bodies_in, values_live;
static const int inputs[3] = { 0, 1, 2 };
static void *const item_inputs[3] = { (void *)&inputs[0],
				      (void *)&inputs[1],
				      (void *)&inputs[2] };

static void
value_free(void *v)
{
	atomic_fetch_sub_explicit(&values_live, 1, memory_order_relaxed);
	free(v);
}

/* Waits for the round's gate, then returns a counted value. */
static void *
gated(void *arg)
{
	int *v;

	(void)arg;
	atomic_fetch_add_explicit(&bodies_in, 1, memory_order_relaxed);
	/* acquire: pairs with the round's release store. */
	while (!atomic_load_explicit(&gate_open_flag, memory_order_acquire))
		sched_yield();
	v = malloc(sizeof(*v));
	if (v == NULL) {
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	atomic_fetch_add_explicit(&values_live, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&bodies_in, 1, memory_order_relaxed);
	return v;
}

/* Spins until the supervisor counts at most n children (bounded). */
static bool
count_drops_to(baton_supervisor *sup, size_t n)
{
	double until = stress_now() + 10.0;

	while (baton_supervisor_count(sup) > n) {
		if (stress_now() > until)
			return false;
		sched_yield();
	}
	return true;
}

int
main(void)
{
	uint64_t rounds = stress_scaled(STRESS_TSAN ? 2000 : 20000, 50);
	struct baton_task_opts counted = { .destroy = value_free };
	struct baton_supervisor_opts so = BATON_SUPERVISOR_OPTS_INIT;
	struct stress_rng rng;
	unsigned long refused = 0, counted_wrong = 0, item0_ran = 0;
	baton_supervisor *sup;
	baton_pool *pool;

	stress_rng_init(&rng, stress_seed(), 0);
	if (baton_pool_create(&pool, 4) != 0) {
		fprintf(stderr, "pool_create failed\n");
		return 1;
	}
	so.pool = pool;
	so.max_children = 2;
	if (baton_supervisor_create(&sup, &so) != 0) {
		fprintf(stderr, "supervisor_create failed\n");
		return 1;
	}
	stress_watchdog_start();
	stress_watchdog_arm("stream_abandon_race", 240, 30, NULL);
	for (uint64_t r = 0; r < rounds && !stress_failed(); r++) {
		struct baton_stream_opts o = BATON_STREAM_OPTS_INIT;
		struct baton_stream_item it;
		baton_stream *s;
		size_t count;
		int rc;

		atomic_store_explicit(&gate_open_flag, 0, memory_order_relaxed);
		if (baton_supervisor_start_child(sup, gated, NULL, &counted) !=
		    0) {
			stress_fail("round %" PRIu64 ": start_child failed",
				    r);
			break;
		}
		/* The child has its place; let it be on a worker, or not. */
		for (uint64_t k = stress_rng_below(&rng, 64); k > 0; k--)
			sched_yield();
		o.max_concurrency = 2;
		o.destroy = value_free;
		o.timeout_ms = 10000;
		if (baton_supervisor_async_stream_nolink(
			sup, &s, item_inputs, 3, gated, &o) != 0) {
			stress_fail("round %" PRIu64 ": async_stream failed", r);
			break;
		}
		rc = baton_stream_next(s, &it);
		count = baton_supervisor_count(sup);
		if (rc == -EAGAIN && it.index == 1) {
			refused++;
			if (count != 1) {
				counted_wrong++;
				stress_fail("round %" PRIu64 ": %zu children "
					    "after the stream failed "
					    "(want 1: item 0 left)",
					    r, count);
			}
		} else {
			stress_fail("round %" PRIu64 ": next = %d, index %zu "
				    "(want -EAGAIN on item 1)",
				    r, rc, it.index);
		}
		baton_stream_destroy(s);
		if (atomic_load_explicit(&bodies_in, memory_order_relaxed) > 1)
			item0_ran++;
		/* release: the bodies see the round over. */
		atomic_store_explicit(&gate_open_flag, 1, memory_order_release);
		if (!count_drops_to(sup, 0))
			stress_fail("round %" PRIu64 ": the group never "
				    "emptied", r);
		while (atomic_load_explicit(&bodies_in, memory_order_relaxed) >
		       0)
			sched_yield();
		stress_progress_add(1);
	}
	stress_watchdog_disarm();
	stress_watchdog_stop();
	baton_supervisor_destroy(sup);
	baton_pool_destroy(pool);
	if (atomic_load_explicit(&values_live, memory_order_relaxed) != 0)
		stress_fail("%d values never freed",
			    atomic_load_explicit(&values_live,
						 memory_order_relaxed));
	printf("stream_abandon_race: %" PRIu64 " rounds, %lu refused, "
	       "%lu with item 0 on a worker, %lu miscounted\n",
	       rounds, refused, item0_ran, counted_wrong);
	return stress_failed() ? 1 : 0;
}
