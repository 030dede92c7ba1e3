/*
 * queue_wake_race.c - a blocked pop or push always wakes: no lost wakeup.
 *
 * Each round runs four cases between the main thread and one helper,
 * starting together at a barrier, the main thread acting after a random
 * pause (none, spins, a yield, or a sleep long enough for the helper to
 * have parked on the futex):
 *   pop_wake    helper pops an empty queue; main pushes one item; the
 *               helper must get exactly that item;
 *   push_wake   capacity 1, full; helper pushes; main pops; the helper's
 *               push must complete, and its item come out next;
 *   close_pop   helper pops an empty queue; main closes (or
 *               close_discards); the helper must get -EPIPE;
 *   close_push  capacity 1, full; helper pushes; main closes; the helper
 *               must get -EPIPE, and only the first item is in the queue.
 * The helper uses every blocking variant (plain, timed with a long or
 * infinite timeout, _many).  A lost wakeup either hangs (the watchdog
 * fails the run) or, since ck_ec re-checks after its first 1 s sleep,
 * shows as a wake latency over 0.5 s, which fails too.
 *
 * Run: BATON_STRESS_SCALE=100 ./queue_wake_race   (BATON_STRESS_SEED=n)
 * Output: one line per case with the worst wake latency.
 */
#include <baton/queue.h>

#include "stress.h"

#define SLOW_WAKE_S 0.5

enum scase { C_POP_WAKE, C_PUSH_WAKE, C_CLOSE_POP, C_CLOSE_PUSH, C_COUNT };

static const char *const case_names[C_COUNT] = {
	"pop_wake", "push_wake", "close_pop", "close_push"
};

#define ITEM_A ((void *)(uintptr_t)0xa0a0)
#define ITEM_B ((void *)(uintptr_t)0xb0b0)

/* Written by main before the start barrier, read by the helper after. */
struct job {
	baton_queue *q;
	enum scase c;
	int variant;
	bool quit;
	/* Written by the helper before the end barrier. */
	ptrdiff_t rc;
	void *got;
	double returned_at;
};

static struct job job;
static pthread_barrier_t start_line, finish_line;
static uint64_t round_no;
static uint64_t seed;

/* What the watchdog prints on a hang (relaxed: diagnostics only). */
static atomic_uint_fast64_t now_round;
static atomic_int now_case, now_variant;

static void
dump_state(void)
{
	fprintf(stderr, "  round %" PRIuFAST64 " case %s variant %d seed %"
		PRIu64 ": the helper never returned\n",
		atomic_load_explicit(&now_round, memory_order_relaxed),
		case_names[atomic_load_explicit(&now_case,
						memory_order_relaxed)],
		atomic_load_explicit(&now_variant, memory_order_relaxed),
		seed);
}

static void *
helper_main(void *arg)
{
	(void)arg;
	for (;;) {
		void *item = NULL, *arr[4] = { NULL, NULL, NULL, NULL };
		ptrdiff_t rc;

		pthread_barrier_wait(&start_line);
		if (job.quit)
			return NULL;
		if (job.c == C_POP_WAKE || job.c == C_CLOSE_POP) {
			switch (job.variant) {
			case 0:
				rc = baton_queue_pop(job.q, &item);
				break;
			case 1:
				rc = baton_queue_pop_timed(job.q, &item,
							   BATON_INFINITY);
				break;
			case 2:
				rc = baton_queue_pop_timed(job.q, &item,
							   60000);
				break;
			default:
				rc = baton_queue_pop_many(job.q, arr, 4);
				if (rc == 1)
					rc = 0;
				else if (rc > 1)
					rc = -1000 - rc; /* more than pushed */
				item = arr[0];
				break;
			}
		} else {
			void *b = ITEM_B;

			switch (job.variant) {
			case 0:
				rc = baton_queue_push(job.q, b);
				break;
			case 1:
				rc = baton_queue_push_timed(job.q, b,
							    BATON_INFINITY);
				break;
			case 2:
				rc = baton_queue_push_timed(job.q, b, 60000);
				break;
			default:
				rc = baton_queue_push_many(job.q, &b, 1);
				if (rc == 1)
					rc = 0;
				break;
			}
		}
		job.returned_at = stress_now();
		job.rc = rc;
		job.got = item;
		pthread_barrier_wait(&finish_line);
	}
}

/* The main thread's pause; a quarter of the time long enough to park. */
static void
pause_before_acting(struct stress_rng *rng)
{
	switch (stress_rng_below(rng, 8)) {
	case 0:
		break;
	case 1:
		for (uint64_t i = stress_rng_below(rng, 2000); i > 0; i--)
			atomic_signal_fence(memory_order_seq_cst);
		break;
	case 2:
		sched_yield();
		break;
	case 3:
	case 4:
	case 5:
		stress_sleep_us((long)stress_rng_below(rng, 50));
		break;
	default:
		stress_sleep_us(100 + (long)stress_rng_below(rng, 200));
		break;
	}
}

struct stats {
	uint64_t runs;
	double worst, total;
};

static void
run_case(enum scase c, struct stress_rng *rng, struct stats *st)
{
	baton_queue *q;
	void *item = NULL;
	double acted_at, latency;
	bool discard = stress_rng_below(rng, 2) != 0;
	ptrdiff_t d = 0;
	int rc;

	rc = baton_queue_create(&q, c == C_PUSH_WAKE || c == C_CLOSE_PUSH ? 1 :
				    (size_t)1 << stress_rng_below(rng, 11),
				NULL);
	if (rc != 0) {
		stress_fail("create: %d", rc);
		exit(1);
	}
	if ((c == C_PUSH_WAKE || c == C_CLOSE_PUSH) &&
	    baton_queue_try_push(q, ITEM_A) != 0) {
		stress_fail("prefill failed");
		exit(1);
	}
	job.q = q;
	job.c = c;
	job.variant = (int)stress_rng_below(rng, 4);
	job.rc = 12345;
	atomic_store_explicit(&now_round, round_no, memory_order_relaxed);
	atomic_store_explicit(&now_case, (int)c, memory_order_relaxed);
	atomic_store_explicit(&now_variant, job.variant, memory_order_relaxed);
	job.got = NULL;

	pthread_barrier_wait(&start_line);
	pause_before_acting(rng);
	switch (c) {
	case C_POP_WAKE:
		rc = stress_rng_below(rng, 2) ? baton_queue_push(q, ITEM_A) :
		    baton_queue_try_push(q, ITEM_A);
		if (rc != 0)
			stress_fail("round %" PRIu64 " pop_wake: push %d",
				    round_no, rc);
		break;
	case C_PUSH_WAKE:
		rc = stress_rng_below(rng, 2) ? baton_queue_pop(q, &item) :
		    baton_queue_try_pop(q, &item);
		if (rc != 0 || item != ITEM_A)
			stress_fail("round %" PRIu64 " push_wake: pop %d "
				    "item %p", round_no, rc, item);
		break;
	default:
		if (discard)
			d = baton_queue_close_discard(q, NULL, NULL);
		else
			rc = baton_queue_close(q);
		if (rc != 0 || d < 0)
			stress_fail("round %" PRIu64 " %s: close %d/%td",
				    round_no, case_names[c], rc, d);
		break;
	}
	acted_at = stress_now();
	pthread_barrier_wait(&finish_line);

	latency = job.returned_at - acted_at;
	if (latency < 0)
		latency = 0; /* the helper did not need the main thread */
	if (latency > SLOW_WAKE_S)
		stress_fail("round %" PRIu64 " %s variant %d: the blocked "
			    "helper woke %.3f s after the main thread acted "
			    "(lost wakeup?)", round_no, case_names[c],
			    job.variant, latency);
	st->runs++;
	st->total += latency;
	if (latency > st->worst)
		st->worst = latency;

	switch (c) {
	case C_POP_WAKE:
		if (job.rc != 0 || job.got != ITEM_A)
			stress_fail("round %" PRIu64 " pop_wake variant %d: "
				    "pop returned %td item %p", round_no,
				    job.variant, job.rc, job.got);
		break;
	case C_PUSH_WAKE:
		if (job.rc != 0)
			stress_fail("round %" PRIu64 " push_wake variant %d: "
				    "push returned %td", round_no, job.variant,
				    job.rc);
		item = NULL;
		rc = baton_queue_try_pop(q, &item);
		if (rc != 0 || item != ITEM_B)
			stress_fail("round %" PRIu64 " push_wake: then pop "
				    "%d item %p", round_no, rc, item);
		break;
	case C_CLOSE_POP:
		if (job.rc != -EPIPE)
			stress_fail("round %" PRIu64 " close_pop variant %d: "
				    "pop returned %td, not -EPIPE", round_no,
				    job.variant, job.rc);
		if (discard && d != 0)
			stress_fail("round %" PRIu64 " close_pop: discarded "
				    "%td from an empty queue", round_no, d);
		break;
	default:
		if (job.rc != -EPIPE)
			stress_fail("round %" PRIu64 " close_push variant %d: "
				    "push returned %td, not -EPIPE", round_no,
				    job.variant, job.rc);
		if (discard) {
			if (d != 1)
				stress_fail("round %" PRIu64 " close_push: "
					    "discarded %td, not 1", round_no, d);
		} else {
			item = NULL;
			rc = baton_queue_pop(q, &item);
			if (rc != 0 || item != ITEM_A)
				stress_fail("round %" PRIu64 " close_push: "
					    "drain %d item %p", round_no, rc,
					    item);
		}
		rc = baton_queue_pop(q, &item);
		if (rc != -EPIPE)
			stress_fail("round %" PRIu64 " close_push: pop after "
				    "drain %d", round_no, rc);
		break;
	}
	baton_queue_destroy(q);
}

int
main(void)
{
	uint64_t rounds = stress_scaled(10000, 200);
	struct stats st[C_COUNT];
	struct stress_rng rng;
	pthread_t helper;
	double t0 = stress_now();
	char name[96];

	seed = stress_seed();
	memset(st, 0, sizeof(st));
	stress_rng_init(&rng, seed, 0);
	printf("queue_wake_race: seed %" PRIu64 " scale %d%% rounds %" PRIu64
	       "%s\n", seed, stress_scale(), rounds,
	       STRESS_TSAN ? " (tsan)" : "");
	fflush(stdout);
	pthread_barrier_init(&start_line, NULL, 2);
	pthread_barrier_init(&finish_line, NULL, 2);
	stress_watchdog_start();
	stress_thread_create(&helper, helper_main, NULL);
	snprintf(name, sizeof(name), "queue_wake_race rounds=%" PRIu64,
		 rounds);
	stress_watchdog_arm(name, STRESS_TSAN ? 900 : 300, 10, dump_state);
	for (round_no = 0; round_no < rounds; round_no++) {
		for (int c = 0; c < C_COUNT; c++)
			run_case((enum scase)c, &rng, &st[c]);
		stress_progress_add(1);
	}
	job.quit = true;
	pthread_barrier_wait(&start_line);
	pthread_join(helper, NULL);
	stress_watchdog_disarm();
	stress_watchdog_stop();
	for (int c = 0; c < C_COUNT; c++)
		printf("queue_wake_race %-10s rounds=%" PRIu64 " %s worst wake "
		       "%.3f ms, mean %.3f ms\n", case_names[c], st[c].runs,
		       stress_failed() ? "FAILED" : "ok", st[c].worst * 1e3,
		       st[c].runs ? st[c].total / (double)st[c].runs * 1e3 :
		       0.0);
	printf("queue_wake_race: %s %.2fs seed %" PRIu64 "\n",
	       stress_failed() ? "FAILED" : "ok", stress_now() - t0, seed);
	pthread_barrier_destroy(&start_line);
	pthread_barrier_destroy(&finish_line);
	return stress_failed() ? 1 : 0;
}
