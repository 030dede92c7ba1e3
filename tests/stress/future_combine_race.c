/*
 * future_combine_race.c - combinators and the completion set racing the
 * completion of their inputs, as a plain executable so ThreadSanitizer
 * can watch the combined cells, their contexts and the set.
 *
 * Every fulfilled input carries a malloc'd value with a counting
 * destructor; a fulfil that loses (the input was cancelled first) frees
 * its value itself.  Values are never taken from the inputs, so each one
 * is freed by the destructor exactly when the last reference to its
 * input goes: references held by combined futures, their lists and the
 * set included.  After each scenario, made == destroyed: nothing leaked
 * (a leaked reference keeps a value alive) and nothing freed twice (ASan
 * and TSan watch the frees).
 *
 * Scenarios:
 *   combine   per round, N promises completed (fulfilled, failed, broken
 *             or cancelled, in random order with jitter) by COMPLETERS
 *             threads, while the main thread builds all / any / first-k
 *             over them, sometimes cancels a combined future, sometimes
 *             waits for it or takes its list; each outcome is checked
 *             against the inputs' outcomes once every input is complete.
 *   set_drain ADDERS threads add futures to one completion set, completing
 *             them before or after adding, or handing the promise to a
 *             completer thread through a baton queue; the main thread
 *             drains with next(); every future comes back exactly once.
 *   set_destroy  per round, a set gets pending futures, a few are drained,
 *             the set is destroyed while another thread completes the
 *             rest.
 */
#include <baton.h>
#include <baton/combinators.h>

#include "stress.h"

#define N		8
#define COMPLETERS	3

static atomic_long made, destroyed;

static void
destroy_value(void *v)
{
	free(v);
	atomic_fetch_add_explicit(&destroyed, 1, memory_order_relaxed);
}

/* How an input was completed. */
enum fate { FULFILLED, FAILED, BROKEN, CANCELLED };

static const char *const fate_names[] = { "fulfilled", "failed", "broken",
					  "cancelled" };

/*
 * Completes a promise one way or another (cancelling through f, unless f
 * is NULL); returns what it became.  BROKEN: the caller's
 * baton_promise_destroy breaks it.
 */
static enum fate
complete(baton_promise *p, baton_future *f, int code, struct stress_rng *rng)
{
	struct baton_exit_reason why =
	    BATON_EXIT_REASON(BATON_EXIT_ERROR, code, "planned");
	uint64_t pick = stress_rng_below(rng, 10);
	int *v;

	if (pick < 6) {
		v = malloc(sizeof(*v));
		*v = code;
		atomic_fetch_add_explicit(&made, 1, memory_order_relaxed);
		if (baton_promise_fulfil(p, v, destroy_value) == 0)
			return FULFILLED;
		destroy_value(v); /* lost to a cancel: still ours */
		return CANCELLED;
	}
	if (pick < 8 || (pick < 9 && f == NULL))
		return baton_promise_fail(p, &why) == 0 ? FAILED : CANCELLED;
	if (pick < 9)
		return baton_future_cancel(f) == 0 ? CANCELLED : BROKEN;
	return BROKEN; /* the promise is destroyed below, uncompleted */
}

/* ------------------------------------------------------------------ */
/* combine                                                              */

struct round {
	baton_promise *p[N];
	baton_future *f[N];
	_Atomic int fate[N];
};

static struct round rnd;
static pthread_barrier_t start_barrier, end_barrier;
static atomic_bool combine_over;

static void *
completer(void *arg)
{
	uintptr_t id = (uintptr_t)arg;
	struct stress_rng rng;

	stress_rng_init(&rng, stress_seed(), 100 + id);
	for (;;) {
		size_t mine[N], nmine = 0;

		pthread_barrier_wait(&start_barrier);
		if (atomic_load_explicit(&combine_over, memory_order_relaxed))
			return NULL;
		for (size_t i = id; i < N; i += COMPLETERS)
			mine[nmine++] = i;
		while (nmine > 0) { /* random order */
			size_t j = stress_rng_below(&rng, nmine);
			size_t i = mine[j];
			enum fate fate;

			mine[j] = mine[--nmine];
			stress_jitter(&rng);
			fate = complete(rnd.p[i], rnd.f[i], 1000 + (int)i,
					&rng);
			baton_promise_destroy(rnd.p[i]);
			atomic_store_explicit(&rnd.fate[i], (int)fate,
					      memory_order_relaxed);
		}
		stress_progress_add(1);
		pthread_barrier_wait(&end_barrier);
	}
}

enum kind { ALL, ANY, FIRST };

struct combo {
	enum kind kind;
	size_t k;
	baton_future *f;
	int cancel_r;          /* baton_future_cancel's result, or 1: none */
	bool took;
	struct baton_future_list *list;
};

static bool
is_input(baton_future *f)
{
	for (size_t i = 0; i < N; i++)
		if (rnd.f[i] == f)
			return true;
	return false;
}

static size_t
input_index(baton_future *f)
{
	for (size_t i = 0; i < N; i++)
		if (rnd.f[i] == f)
			return i;
	return N;
}

/* Checks a complete combined future against its inputs' fates. */
static void
check(struct combo *c)
{
	size_t ok = 0, bad = 0;
	struct baton_exit_reason why = { 0 };
	struct baton_future_list *l;
	void *v = NULL;
	int r;

	for (size_t i = 0; i < N; i++) {
		if (atomic_load_explicit(&rnd.fate[i],
					 memory_order_relaxed) == FULFILLED)
			ok++;
		else
			bad++;
	}
	if (!baton_future_is_done(c->f)) {
		stress_fail("kind %d k %zu: not done with every input done",
			    c->kind, c->k);
		return;
	}
	if (c->took) {
		r = 0;
		v = c->list;
	} else {
		r = baton_future_borrow(c->f, 0, &v, &why);
	}
	if (r == 0) {
		bool want = c->kind == ALL ? bad == 0 : ok >= c->k;
		size_t n = c->kind == ALL ? N : c->k;

		l = v;
		if (!want || c->cancel_r == 0)
			stress_fail("kind %d k %zu: succeeded (ok %zu, "
				    "cancel %d)", c->kind, c->k, ok,
				    c->cancel_r);
		if (l == NULL || l->n != n) {
			stress_fail("kind %d: list of %zu, want %zu", c->kind,
				    l == NULL ? 0 : l->n, n);
			return;
		}
		for (size_t i = 0; i < l->n; i++) {
			size_t at = input_index(l->items[i]);

			if (!is_input(l->items[i]) ||
			    (c->kind == ALL && at != i) ||
			    atomic_load_explicit(&rnd.fate[at],
						 memory_order_relaxed) !=
				FULFILLED)
				stress_fail("kind %d: item %zu is wrong",
					    c->kind, i);
			for (size_t j = 0; j < i; j++)
				if (c->kind != ALL &&
				    l->items[j] == l->items[i])
					stress_fail("first: duplicate item");
		}
		return;
	}
	if (c->kind == ALL ? bad == 0 : ok >= c->k) {
		/* Only a cancel of the combination can explain a failure. */
		if (c->cancel_r != 0 || r != BATON_EXITED ||
		    why.code != ECANCELED)
			stress_fail("kind %d k %zu: failed (r %d code %d) "
				    "with enough successes", c->kind, c->k, r,
				    why.code);
		return;
	}
	if (r == -EPIPE) {
		bool any_broken = false;

		for (size_t i = 0; i < N; i++)
			any_broken |= atomic_load_explicit(
					  &rnd.fate[i],
					  memory_order_relaxed) == BROKEN;
		if (!any_broken)
			stress_fail("kind %d: -EPIPE without a broken input",
				    c->kind);
		return;
	}
	if (r != BATON_EXITED) {
		stress_fail("kind %d: borrow returned %d", c->kind, r);
		return;
	}
	if (why.code == ECANCELED) {
		bool any_cancelled = c->cancel_r == 0;

		for (size_t i = 0; i < N; i++)
			any_cancelled |= atomic_load_explicit(
					     &rnd.fate[i],
					     memory_order_relaxed) == CANCELLED;
		if (!any_cancelled)
			stress_fail("kind %d: cancelled, but nothing was",
				    c->kind);
		return;
	}
	if (why.code < 1000 || why.code >= 1000 + N ||
	    atomic_load_explicit(&rnd.fate[why.code - 1000],
				 memory_order_relaxed) != FAILED)
		stress_fail("kind %d: failed with code %d, not an input's",
			    c->kind, why.code);
}

static void
combine_round(struct stress_rng *rng)
{
	struct combo c[4];
	size_t nc = 0;

	for (size_t i = 0; i < N; i++) {
		if (baton_promise_create(&rnd.p[i], &rnd.f[i]) != 0)
			stress_fail("promise_create");
		atomic_store_explicit(&rnd.fate[i], -1, memory_order_relaxed);
	}
	pthread_barrier_wait(&start_barrier); /* completers start now */

	for (size_t j = 0; j < 4; j++) {
		struct combo *x = &c[nc];
		int r;

		*x = (struct combo){ .kind = (enum kind)stress_rng_below(rng,
									 3),
				     .cancel_r = 1 };
		switch (x->kind) {
		case ALL:
			x->k = N;
			r = baton_future_all(&x->f, rnd.f, N);
			break;
		case ANY:
			x->k = 1;
			r = baton_future_any(&x->f, rnd.f, N);
			break;
		default:
			x->k = 1 + stress_rng_below(rng, N);
			r = baton_future_first(&x->f, rnd.f, N, x->k);
			break;
		}
		if (r != 0) {
			stress_fail("combine: %d", r);
			continue;
		}
		nc++;
		stress_jitter(rng);
		switch (stress_rng_below(rng, 4)) {
		case 0:
			x->cancel_r = baton_future_cancel(x->f);
			if (x->cancel_r != 0 && x->cancel_r != -EALREADY)
				stress_fail("cancel: %d", x->cancel_r);
			break;
		case 1: { /* wait here, racing the completers */
			void *v;

			if (baton_future_wait(x->f, BATON_INFINITY) != 0)
				stress_fail("wait");
			if (baton_future_take(x->f, 0, &v, NULL) == 0) {
				x->took = true;
				x->list = v;
			}
			break;
		}
		case 2: /* released before it completes, sometimes */
			if (stress_rng_below(rng, 2) == 0) {
				baton_future_unref(x->f);
				nc--;
			}
			break;
		default:
			break;
		}
	}

	pthread_barrier_wait(&end_barrier); /* every input complete */
	for (size_t j = 0; j < nc; j++) {
		check(&c[j]);
		if (c[j].took)
			baton_future_list_free(c[j].list);
		baton_future_unref(c[j].f);
	}
	for (size_t i = 0; i < N; i++)
		baton_future_unref(rnd.f[i]);
	stress_progress_add(1);
}

static void
run_combine(struct stress_rng *rng, long rounds)
{
	pthread_t th[COMPLETERS];
	long fates[4] = { 0 };

	pthread_barrier_init(&start_barrier, NULL, COMPLETERS + 1);
	pthread_barrier_init(&end_barrier, NULL, COMPLETERS + 1);
	atomic_store(&combine_over, false);
	for (uintptr_t i = 0; i < COMPLETERS; i++)
		stress_thread_create(&th[i], completer, (void *)i);
	for (long r = 0; r < rounds; r++) {
		combine_round(rng);
		for (size_t i = 0; i < N; i++)
			fates[atomic_load_explicit(&rnd.fate[i],
						   memory_order_relaxed)]++;
	}
	atomic_store(&combine_over, true);
	pthread_barrier_wait(&start_barrier);
	for (int i = 0; i < COMPLETERS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&start_barrier);
	pthread_barrier_destroy(&end_barrier);
	printf("future_combine_race combine inputs: %s=%ld %s=%ld %s=%ld "
	       "%s=%ld\n",
	       fate_names[0], fates[0], fate_names[1], fates[1],
	       fate_names[2], fates[2], fate_names[3], fates[3]);
}

/* ------------------------------------------------------------------ */
/* set_drain                                                            */

#define ADDERS 3

struct adder {
	baton_completion_set *set;
	baton_queue *handoff;
	long count;
	uintptr_t id;
};

static void *
adder(void *arg)
{
	struct adder *a = arg;
	struct stress_rng rng;

	stress_rng_init(&rng, stress_seed(), 200 + a->id);
	for (long i = 0; i < a->count; i++) {
		baton_promise *p;
		baton_future *f;
		uint64_t how = stress_rng_below(&rng, 3);

		if (baton_promise_create(&p, &f) != 0) {
			stress_fail("promise_create");
			continue;
		}
		if (how == 0)
			complete(p, f, 1, &rng);
		if (baton_completion_set_add(a->set, f) != 0)
			stress_fail("set_add");
		if (how == 1) {
			stress_jitter(&rng);
			complete(p, f, 1, &rng);
		}
		baton_future_unref(f);
		if (how == 2 && baton_queue_push(a->handoff, p) == 0)
			continue; /* the completer completes it */
		baton_promise_destroy(p);
	}
	return NULL;
}

static void *
queue_completer(void *arg)
{
	baton_queue *q = arg;
	struct stress_rng rng;
	void *p;

	stress_rng_init(&rng, stress_seed(), 300);
	while (baton_queue_pop(q, &p) == 0) {
		stress_jitter(&rng);
		/* The future may be gone: complete by promise only. */
		if (stress_rng_below(&rng, 4) != 0) {
			int *v = malloc(sizeof(*v));

			*v = 2;
			atomic_fetch_add_explicit(&made, 1,
						  memory_order_relaxed);
			if (baton_promise_fulfil(p, v, destroy_value) != 0)
				destroy_value(v);
		}
		baton_promise_destroy(p);
	}
	return NULL;
}

static void
destroy_promise(void *p)
{
	baton_promise_destroy(p);
}

static void
run_set_drain(struct stress_rng *rng, long rounds)
{
	baton_completion_set *set;
	baton_queue *q;
	struct adder a[ADDERS];
	pthread_t th[ADDERS], qc[2];
	long want = 0, got = 0, enoent = 0;

	(void)rng;
	if (baton_completion_set_create(&set) != 0 ||
	    baton_queue_create(&q, 64, destroy_promise) != 0) {
		stress_fail("create");
		return;
	}
	for (int i = 0; i < 2; i++)
		stress_thread_create(&qc[i], queue_completer, q);
	for (uintptr_t i = 0; i < ADDERS; i++) {
		a[i] = (struct adder){ set, q, rounds, i };
		want += rounds;
		stress_thread_create(&th[i], adder, &a[i]);
	}
	while (got < want) {
		baton_future *f;
		int r = baton_completion_set_next(set, 100, &f);

		if (r == -ENOENT || r == -ETIMEDOUT) {
			enoent++;
			sched_yield();
			continue;
		}
		if (r != 0) {
			stress_fail("next: %d", r);
			break;
		}
		if (!baton_future_is_done(f))
			stress_fail("next handed back a pending future");
		baton_future_unref(f);
		got++;
		stress_progress_add(1);
	}
	for (int i = 0; i < ADDERS; i++)
		pthread_join(th[i], NULL);
	baton_queue_close(q);
	for (int i = 0; i < 2; i++)
		pthread_join(qc[i], NULL);
	if (baton_completion_set_size(set) != 0)
		stress_fail("set not empty: %zu",
			    baton_completion_set_size(set));
	baton_completion_set_destroy(set);
	baton_queue_destroy(q);
	printf("future_combine_race set_drain got=%ld want=%ld "
	       "empty_polls=%ld\n", got, want, enoent);
	if (got != want)
		stress_fail("set_drain: got %ld of %ld", got, want);
}

/* ------------------------------------------------------------------ */
/* set_destroy                                                          */

struct late {
	baton_promise *p[N];
	size_t from;
	struct stress_rng rng;
};

static void *
complete_late(void *arg)
{
	struct late *l = arg;

	for (size_t i = l->from; i < N; i++) {
		stress_jitter(&l->rng);
		complete(l->p[i], NULL, 3, &l->rng);
		baton_promise_destroy(l->p[i]);
	}
	return NULL;
}

static void
run_set_destroy(struct stress_rng *rng, long rounds)
{
	long drained = 0;

	for (long r = 0; r < rounds; r++) {
		baton_completion_set *set;
		baton_future *f[N];
		struct late l;
		pthread_t th;
		size_t early = stress_rng_below(rng, N);

		if (baton_completion_set_create(&set) != 0) {
			stress_fail("create");
			return;
		}
		stress_rng_init(&l.rng, stress_rng_next(rng), (uint64_t)r);
		for (size_t i = 0; i < N; i++) {
			if (baton_promise_create(&l.p[i], &f[i]) != 0 ||
			    baton_completion_set_add(set, f[i]) != 0)
				stress_fail("set_destroy: add");
			baton_future_unref(f[i]);
		}
		for (size_t i = 0; i < early; i++) {
			complete(l.p[i], NULL, 3, rng);
			baton_promise_destroy(l.p[i]);
		}
		l.from = early;
		stress_thread_create(&th, complete_late, &l);
		for (size_t i = stress_rng_below(rng, early + 1); i > 0;
		     i--) {
			baton_future *g;

			if (baton_completion_set_next(set, 0, &g) == 0) {
				baton_future_unref(g);
				drained++;
			}
		}
		stress_jitter(rng);
		baton_completion_set_destroy(set);
		pthread_join(th, NULL);
		stress_progress_add(1);
	}
	printf("future_combine_race set_destroy drained=%ld\n", drained);
}

struct scenario {
	const char *name;
	long rounds;
	void (*run)(struct stress_rng *rng, long rounds);
};

int
main(void)
{
	static const struct scenario scenarios[] = {
		{ "combine", 20000, run_combine },
		{ "set_drain", 20000, run_set_drain },
		{ "set_destroy", 5000, run_set_destroy },
	};
	uint64_t seed = stress_seed();

	printf("future_combine_race seed=0x%" PRIx64 "\n", seed);
	stress_watchdog_start();
	for (size_t s = 0; s < sizeof(scenarios) / sizeof(scenarios[0]); s++) {
		const struct scenario *sc = &scenarios[s];
		long rounds = (long)stress_scaled((uint64_t)sc->rounds, 20);
		struct stress_rng rng;
		double t0 = stress_now();
		long m, d;

		stress_rng_init(&rng, seed, s);
		atomic_store(&made, 0);
		atomic_store(&destroyed, 0);
		stress_watchdog_arm(sc->name, 120, 20, NULL);
		sc->run(&rng, rounds);
		m = atomic_load(&made);
		d = atomic_load(&destroyed);
		printf("future_combine_race %-12s rounds=%ld made=%ld "
		       "destroyed=%ld %s %.2fs\n",
		       sc->name, rounds, m, d, m == d ? "ok" : "MISMATCH",
		       stress_now() - t0);
		if (m != d)
			stress_fail("%s: %ld values made, %ld destroyed",
				    sc->name, m, d);
	}
	stress_watchdog_disarm();
	stress_watchdog_stop();
	return stress_failed() ? 1 : 0;
}
