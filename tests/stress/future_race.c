/*
 * future_race.c - shareable futures and promises racing their own
 * completion, as a plain executable so ThreadSanitizer can watch the
 * result cell, the callbacks and the reference counts.
 *
 * Every value is a malloc'd struct value carrying its round's tag, made by
 * new_value (counted as created).  It ends in exactly one of three ways:
 * someone takes it (taken), nobody does and the library runs its
 * destructor (destroyed), or a completion that lost a race hands it back
 * to its caller (kept).  After each scenario the private pool is destroyed
 * (joining every body and every pooled callback) and created must equal
 * taken + destroyed + kept: nothing lost, nothing freed twice (ASan and
 * TSan watch the frees).  Readers check the tag of every value they see,
 * so a value read without a happens-before edge from its completion shows
 * up as a TSan report or a wrong tag.
 *
 * Helper threads form a crew, started and collected once per round under
 * a mutex (the same edges pthread_create/join would give).  Racing sides
 * meet at a spin barrier right before the race, then only the library
 * orders them.
 *
 * Scenarios:
 *   many_awaiters      1..64 threads wait/borrow/copy/peek one future while
 *                      it completes (promise or body); every reference,
 *                      the promise and the pool's are dropped in random
 *                      order; the value is freed exactly once
 *   take_vs_take       2..8 takers: exactly one winner per round
 *   unref_vs_complete  the last reference goes while the value arrives
 *   cancel_vs_fulfil   a promise fulfilled by one thread while another
 *                      cancels: exactly one wins; the win ratio is printed
 *                      and a side that never wins (1000+ rounds) fails
 *   cancel_vs_body     cancel against a running body finishing
 *   destroy_vs_await   a promise destroyed while 1..4 threads await it:
 *                      all get -EPIPE, none hangs
 *   callback_vs_complete  callbacks registered (inline or on the pool)
 *                      while the future completes: each runs exactly once,
 *                      sees the value, and one registered after completion
 *                      runs before on_done returns
 *
 * Races need the threads on two CPUs at once.  On a machine so loaded that
 * the two sides only take turns, every side still wins sometimes, but
 * nothing races: cancel_vs_fulfil prints how many rounds really overlapped
 * (both calls in flight at once).  FUTURE_RACE_ONLY=<scenario> runs one.
 *
 * Library bugs these checks catch (timing-dependent: they show when the
 * threads really overlap; see the analysis at each check):
 *   cancel_vs_fulfil      baton_promise_is_cancelled() true after the
 *                         fulfil won and cancel returned -EALREADY
 *   cancel_vs_body        cancel returned -EALREADY ("nothing changes"),
 *                         yet the future ended cancelled and the body's
 *                         value was destroyed
 *   callback_vs_complete  a callback registered after is_done() turned
 *                         true had not run when on_done returned (also
 *                         reproduced deterministically in test_future.c)
 */
#include <baton.h>

#include <sys/types.h>

#include "stress.h"

#define MAX_CREW 64

/* ------------------------------------------------------------------ */
/* Values                                                              */

struct value {
	uint64_t tag;
	bool marked; /* counted in marked_destroyed too */
};

static atomic_long created, taken, destroyed, kept;
static atomic_long marked_destroyed;
/* Copies made by baton_future_copy and freed by their callers. */
static atomic_long clones, copies_freed;

static void *
new_value(uint64_t tag)
{
	struct value *v = malloc(sizeof(*v));

	if (v == NULL) {
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	v->tag = tag;
	v->marked = false;
	/* relaxed: tallies, read after the threads are joined. */
	atomic_fetch_add_explicit(&created, 1, memory_order_relaxed);
	return v;
}

static void
destroy_value(void *v)
{
	if (((struct value *)v)->marked)
		atomic_fetch_add_explicit(&marked_destroyed, 1,
					  memory_order_relaxed);
	free(v);
	atomic_fetch_add_explicit(&destroyed, 1, memory_order_relaxed);
}

/* A value whose destruction a round checks on its own. */
static void *
new_marked_value(uint64_t tag)
{
	struct value *v = new_value(tag);

	v->marked = true;
	return v;
}

static void
take_value(void *v)
{
	free(v);
	atomic_fetch_add_explicit(&taken, 1, memory_order_relaxed);
}

static void
keep_value(void *v)
{
	free(v);
	atomic_fetch_add_explicit(&kept, 1, memory_order_relaxed);
}

static void *
clone_value(const void *v)
{
	struct value *c = malloc(sizeof(*c));

	if (c != NULL) {
		*c = *(const struct value *)v;
		atomic_fetch_add_explicit(&clones, 1, memory_order_relaxed);
	}
	return c;
}

static void
check_tag(const void *v, uint64_t tag, const char *what)
{
	if (v == NULL)
		stress_fail("%s: NULL value", what);
	else if (((const struct value *)v)->tag != tag)
		stress_fail("%s: tag %" PRIu64 ", want %" PRIu64, what,
			    ((const struct value *)v)->tag, tag);
}

/* A body: spins (low 16 bits of arg), returns a value tagged arg >> 16. */
static void *
body(void *arg)
{
	uint64_t a = (uint64_t)(uintptr_t)arg;

	for (volatile uint64_t i = 0; i < (a & 0xffff); i++)
		;
	stress_progress_add(1);
	return new_value(a >> 16);
}

static void *
body_arg(uint64_t tag, uint64_t spins)
{
	return (void *)(uintptr_t)((tag << 16) | (spins & 0xffff));
}

static baton_pool *pool;

static struct baton_task_opts
opts(void)
{
	return (struct baton_task_opts){ .pool = pool,
					 .destroy = destroy_value };
}

static baton_future *
start(uint64_t tag, uint64_t spins)
{
	struct baton_task_opts o = opts();
	baton_future *f = NULL;
	int r = baton_future_start(&f, body, body_arg(tag, spins), &o);

	if (r != 0) {
		fprintf(stderr, "baton_future_start: %d\n", r);
		exit(2);
	}
	return f;
}

static void
promise(baton_promise **p, baton_future **f)
{
	int r = baton_promise_create(p, f);

	if (r != 0) {
		fprintf(stderr, "baton_promise_create: %d\n", r);
		exit(2);
	}
}

/* Spins a random short while: the knob that moves a race's meeting point. */
static void
spin_below(struct stress_rng *rng, uint64_t n)
{
	for (volatile uint64_t i = stress_rng_below(rng, n); i > 0; i--)
		;
}

/* ------------------------------------------------------------------ */
/* The crew                                                            */

struct crew {
	pthread_mutex_t mu;
	pthread_cond_t go, done;
	unsigned long gen;
	int nthreads, active, finished, parties;
	bool quit;
	void (*fn)(int idx, void *arg);
	void *arg;
	atomic_int arrived;
	pthread_t th[MAX_CREW];
	struct crew_member {
		struct crew *crew;
		int idx;
	} who[MAX_CREW];
};

/* Waits for every party of the round (crew members and maybe main). */
static void
crew_arrive(struct crew *c)
{
	unsigned int n = 0;

	/* acq_rel: a barrier; it orders only what came before the race. */
	atomic_fetch_add_explicit(&c->arrived, 1, memory_order_acq_rel);
	/*
	 * Spin a good while before yielding: a party that yields early lets
	 * the others run their side of the race alone on its CPU, and the
	 * "race" degenerates into taking turns.
	 */
	while (atomic_load_explicit(&c->arrived, memory_order_acquire) <
	       c->parties) {
		if (++n % 8192 == 0)
			sched_yield();
	}
}

static void *
crew_main(void *arg)
{
	struct crew_member *m = arg;
	struct crew *c = m->crew;
	int idx = m->idx;
	unsigned long seen = 0;

	for (;;) {
		void (*fn)(int, void *);
		void *fn_arg;

		pthread_mutex_lock(&c->mu);
		while (c->gen == seen && !c->quit)
			pthread_cond_wait(&c->go, &c->mu);
		if (c->quit) {
			pthread_mutex_unlock(&c->mu);
			return NULL;
		}
		seen = c->gen;
		if (idx >= c->active) {
			pthread_mutex_unlock(&c->mu);
			continue;
		}
		fn = c->fn;
		fn_arg = c->arg;
		pthread_mutex_unlock(&c->mu);
		fn(idx, fn_arg);
		pthread_mutex_lock(&c->mu);
		if (++c->finished == c->active)
			pthread_cond_signal(&c->done);
		pthread_mutex_unlock(&c->mu);
	}
}

static void
crew_init(struct crew *c, int nthreads)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->go, NULL);
	pthread_cond_init(&c->done, NULL);
	c->nthreads = nthreads;
	for (int i = 0; i < nthreads; i++) {
		c->who[i].crew = c;
		c->who[i].idx = i;
		stress_thread_create(&c->th[i], crew_main, &c->who[i]);
	}
}

static void
crew_fini(struct crew *c)
{
	pthread_mutex_lock(&c->mu);
	c->quit = true;
	pthread_cond_broadcast(&c->go);
	pthread_mutex_unlock(&c->mu);
	for (int i = 0; i < c->nthreads; i++)
		pthread_join(c->th[i], NULL);
	pthread_cond_destroy(&c->go);
	pthread_cond_destroy(&c->done);
	pthread_mutex_destroy(&c->mu);
}

/*
 * Starts fn(idx, arg) on crew members 0..active-1.  parties: how many
 * threads meet at crew_arrive (0 if nobody calls it).
 */
static void
crew_start(struct crew *c, int active, void (*fn)(int, void *), void *arg,
	   int parties)
{
	pthread_mutex_lock(&c->mu);
	c->active = active;
	c->finished = 0;
	c->fn = fn;
	c->arg = arg;
	c->parties = parties;
	atomic_store_explicit(&c->arrived, 0, memory_order_relaxed);
	c->gen++;
	pthread_cond_broadcast(&c->go);
	pthread_mutex_unlock(&c->mu);
}

static void
crew_wait(struct crew *c)
{
	pthread_mutex_lock(&c->mu);
	while (c->finished < c->active)
		pthread_cond_wait(&c->done, &c->mu);
	pthread_mutex_unlock(&c->mu);
}

static struct crew crew;

/* ------------------------------------------------------------------ */
/* many_awaiters                                                       */

enum access { A_WAIT, A_BORROW, A_BORROW_TIMED, A_COPY, A_PEEK, A_NOPS };

struct awaiters {
	baton_future *ref[MAX_CREW];
	enum access op[MAX_CREW];
	uint64_t seed[MAX_CREW];
	uint64_t tag;
};

static void
await_one(int idx, void *arg)
{
	struct awaiters *a = arg;
	baton_future *f = a->ref[idx];
	struct stress_rng rng;
	void *v = NULL;
	int r;

	stress_rng_init(&rng, a->seed[idx], (uint64_t)idx);
	stress_jitter(&rng);
	switch (a->op[idx]) {
	case A_WAIT:
		r = baton_future_wait(f, BATON_INFINITY);
		if (r == 0)
			r = baton_future_borrow(f, 0, &v, NULL);
		break;
	case A_BORROW:
		r = baton_future_borrow(f, BATON_INFINITY, &v, NULL);
		break;
	case A_BORROW_TIMED:
		do
			r = baton_future_borrow(
			    f, (int)stress_rng_below(&rng, 3), &v, NULL);
		while (r == -ETIMEDOUT);
		break;
	case A_COPY:
		r = baton_future_copy(f, BATON_INFINITY, clone_value, &v,
				      NULL);
		if (r == 0) {
			check_tag(v, a->tag, "copy");
			free(v);
			atomic_fetch_add_explicit(&copies_freed, 1,
						  memory_order_relaxed);
			v = NULL;
			r = baton_future_borrow(f, 0, &v, NULL);
		}
		break;
	default:
		while ((r = baton_future_peek(f, &v, NULL)) == -EAGAIN)
			sched_yield();
		break;
	}
	if (r != 0)
		stress_fail("many_awaiters: access %d gave %d", a->op[idx], r);
	else
		check_tag(v, a->tag, "many_awaiters");
	stress_jitter(&rng);
	baton_future_unref(f);
}

static void
many_awaiters(struct stress_rng *rng, long rounds)
{
	static struct awaiters a;

	crew_init(&crew, MAX_CREW);
	for (long i = 0; i < rounds; i++) {
		int n = 1 + (int)stress_rng_below(rng, MAX_CREW);
		bool use_promise = stress_rng_below(rng, 2);
		bool unref_early = stress_rng_below(rng, 2);
		long before = atomic_load_explicit(&marked_destroyed,
						   memory_order_relaxed);
		baton_promise *p = NULL;
		baton_future *f;

		a.tag = (uint64_t)i;
		if (use_promise)
			promise(&p, &f);
		else
			f = start(a.tag, stress_rng_below(rng, 4000));
		for (int k = 0; k < n; k++) {
			a.ref[k] = baton_future_ref(f);
			a.op[k] = (enum access)stress_rng_below(rng, A_NOPS);
			a.seed[k] = stress_rng_next(rng);
		}
		crew_start(&crew, n, await_one, &a, 0);
		if (unref_early) {
			stress_jitter(rng);
			baton_future_unref(f);
		}
		if (use_promise) {
			stress_jitter(rng);
			if (baton_promise_fulfil(p, new_marked_value(a.tag),
						 destroy_value) != 0)
				stress_fail("many_awaiters: fulfil failed");
			if (stress_rng_below(rng, 2))
				stress_jitter(rng);
			baton_promise_destroy(p);
		}
		if (!unref_early) {
			stress_jitter(rng);
			baton_future_unref(f);
		}
		crew_wait(&crew);
		/*
		 * With a promise every reference is gone now: its value
		 * (the only marked one) was freed exactly once.
		 */
		if (use_promise &&
		    atomic_load_explicit(&marked_destroyed,
					 memory_order_relaxed) != before + 1)
			stress_fail("many_awaiters: round %ld freed its value "
				    "%ld times",
				    i,
				    atomic_load_explicit(&marked_destroyed,
							 memory_order_relaxed) -
					before);
		stress_progress_add(1);
	}
	crew_fini(&crew);
}

/* ------------------------------------------------------------------ */
/* take_vs_take                                                        */

struct takers {
	baton_future *ref[MAX_CREW];
	uint64_t seed[MAX_CREW];
	uint64_t tag;
	atomic_int wins, losses;
};

static void
take_one(int idx, void *arg)
{
	struct takers *t = arg;
	baton_future *f = t->ref[idx];
	struct stress_rng rng;
	void *v = NULL;
	int r;

	stress_rng_init(&rng, t->seed[idx], (uint64_t)idx);
	crew_arrive(&crew);
	spin_below(&rng, 500);
	if (stress_rng_below(&rng, 2)) {
		r = baton_future_take(f, BATON_INFINITY, &v, NULL);
	} else {
		do
			r = baton_future_take(f, (int)stress_rng_below(&rng, 2),
					      &v, NULL);
		while (r == -ETIMEDOUT);
	}
	if (r == 0) {
		check_tag(v, t->tag, "take");
		take_value(v);
		atomic_fetch_add_explicit(&t->wins, 1, memory_order_relaxed);
	} else if (r == -EALREADY) {
		atomic_fetch_add_explicit(&t->losses, 1, memory_order_relaxed);
	} else {
		stress_fail("take_vs_take: take gave %d", r);
	}
	stress_jitter(&rng);
	baton_future_unref(f);
}

static void
take_vs_take(struct stress_rng *rng, long rounds)
{
	static struct takers t;

	crew_init(&crew, 8);
	for (long i = 0; i < rounds; i++) {
		int n = 2 + (int)stress_rng_below(rng, 7);
		bool use_promise = stress_rng_below(rng, 2);
		baton_promise *p = NULL;
		baton_future *f;

		t.tag = (uint64_t)i;
		atomic_store_explicit(&t.wins, 0, memory_order_relaxed);
		atomic_store_explicit(&t.losses, 0, memory_order_relaxed);
		if (use_promise)
			promise(&p, &f);
		else
			f = start(t.tag, stress_rng_below(rng, 2000));
		for (int k = 0; k < n; k++) {
			t.ref[k] = baton_future_ref(f);
			t.seed[k] = stress_rng_next(rng);
		}
		baton_future_unref(f);
		crew_start(&crew, n, take_one, &t, n + (use_promise ? 1 : 0));
		if (use_promise) {
			crew_arrive(&crew);
			spin_below(rng, 500);
			if (baton_promise_fulfil(p, new_value(t.tag),
						 destroy_value) != 0)
				stress_fail("take_vs_take: fulfil failed");
			baton_promise_destroy(p);
		}
		crew_wait(&crew);
		if (atomic_load_explicit(&t.wins, memory_order_relaxed) != 1 ||
		    atomic_load_explicit(&t.losses, memory_order_relaxed) !=
			n - 1)
			stress_fail("take_vs_take: round %ld: %d winners, %d "
				    "losers of %d",
				    i, atomic_load(&t.wins),
				    atomic_load(&t.losses), n);
		stress_progress_add(1);
	}
	crew_fini(&crew);
}

/* ------------------------------------------------------------------ */
/* unref_vs_complete                                                   */

struct completer {
	baton_promise *p;
	baton_future *extra; /* a second reference to drop, or NULL */
	uint64_t tag, seed;
};

static void
complete_and_let_go(int idx, void *arg)
{
	struct completer *c = arg;
	struct stress_rng rng;

	stress_rng_init(&rng, c->seed, (uint64_t)idx);
	crew_arrive(&crew);
	spin_below(&rng, 1000);
	if (baton_promise_fulfil(c->p, new_value(c->tag), destroy_value) != 0)
		stress_fail("unref_vs_complete: fulfil failed");
	if (c->extra != NULL) {
		/* Race the main thread's unref with this one. */
		baton_future_unref(c->extra);
		spin_below(&rng, 300);
		baton_promise_destroy(c->p);
	} else {
		baton_promise_destroy(c->p);
	}
}

static void
unref_vs_complete(struct stress_rng *rng, long rounds)
{
	static struct completer c;

	crew_init(&crew, 1);
	for (long i = 0; i < rounds; i++) {
		baton_future *f;

		switch (stress_rng_below(rng, 3)) {
		case 0: /* a body finishing against the only handle's unref */
			f = start((uint64_t)i, stress_rng_below(rng, 3000));
			spin_below(rng, 3000);
			baton_future_unref(f);
			break;
		default: /* a promise: fulfil + destroy against unref */
			promise(&c.p, &f);
			c.tag = (uint64_t)i;
			c.seed = stress_rng_next(rng);
			c.extra = stress_rng_below(rng, 2)
			    ? baton_future_ref(f) : NULL;
			crew_start(&crew, 1, complete_and_let_go, &c, 2);
			crew_arrive(&crew);
			spin_below(rng, 1000);
			baton_future_unref(f);
			crew_wait(&crew);
			break;
		}
		stress_progress_add(1);
	}
	crew_fini(&crew);
}

/* ------------------------------------------------------------------ */
/* cancel_vs_fulfil                                                    */

struct fulfil_side {
	baton_promise *p;
	uint64_t tag, seed;
	uint64_t spread;
	int rc;
	double t0, t1; /* around the fulfil: did the two calls overlap? */
};

static void
fulfil_side(int idx, void *arg)
{
	struct fulfil_side *s = arg;
	struct stress_rng rng;
	void *v;

	stress_rng_init(&rng, s->seed, (uint64_t)idx);
	v = new_value(s->tag);
	crew_arrive(&crew);
	spin_below(&rng, s->spread);
	s->t0 = stress_now();
	s->rc = baton_promise_fulfil(s->p, v, destroy_value);
	s->t1 = stress_now();
	if (s->rc != 0) {
		/* Refused: the value must still be ours, untouched. */
		check_tag(v, s->tag, "refused fulfil");
		keep_value(v);
	}
}

static void
cancel_vs_fulfil(struct stress_rng *rng, long rounds)
{
	static struct fulfil_side s;
	long fulfil_wins = 0, cancel_wins = 0, flagged = 0, overlapped = 0;

	crew_init(&crew, 1);
	s.spread = 400;
	for (long i = 0; i < rounds; i++) {
		struct baton_exit_reason why = { 0 };
		baton_future *f;
		void *v = NULL;
		int rc, out;
		bool cancelled_flag;
		double t0, t1;

		promise(&s.p, &f);
		s.tag = (uint64_t)i;
		s.seed = stress_rng_next(rng);
		crew_start(&crew, 1, fulfil_side, &s, 2);
		crew_arrive(&crew);
		spin_below(rng, s.spread);
		t0 = stress_now();
		rc = baton_future_cancel(f);
		t1 = stress_now();
		crew_wait(&crew);
		/*
		 * Whether both calls were in flight at once: on a machine
		 * too loaded to run the two threads together, both sides
		 * still win (in turns) but nothing really raced.
		 */
		if (t0 <= s.t1 && s.t0 <= t1)
			overlapped++;

		if ((rc == 0) == (s.rc == 0) ||
		    (rc != 0 && rc != -EALREADY) ||
		    (s.rc != 0 && s.rc != -EALREADY))
			stress_fail("cancel_vs_fulfil: round %ld: cancel %d, "
				    "fulfil %d: exactly one must win",
				    i, rc, s.rc);
		out = baton_future_peek(f, &v, &why);
		cancelled_flag = baton_promise_is_cancelled(s.p);
		if (s.rc == 0) {
			fulfil_wins++;
			if (out != 0)
				stress_fail("cancel_vs_fulfil: fulfil won but "
					    "peek gave %d",
					    out);
			else
				check_tag(v, s.tag, "fulfilled");
			/*
			 * The promise's future was fulfilled, not cancelled;
			 * baton_promise_is_cancelled must say so.
			 *
			 * LIBRARY BUG: baton_future_cancel checks is_done()
			 * (state == DONE), then sets CELL_STOP|CELL_CANCELLED
			 * unconditionally (baton__cell_stop), then tries to
			 * settle.  A fulfil that claimed the cell (RUNNING ->
			 * COMPLETING) before that check but had not yet
			 * stored DONE makes the settle fail: cancel returns
			 * -EALREADY, yet CELL_STOP stays set, and
			 * baton_promise_is_cancelled() (which reads CELL_STOP)
			 * reports a fulfilled future as cancelled.
			 */
			if (cancelled_flag) {
				flagged++;
				stress_fail("cancel_vs_fulfil: round %ld: "
					    "fulfil won (cancel -EALREADY) "
					    "but baton_promise_is_cancelled "
					    "is true",
					    i);
			}
			if (stress_rng_below(rng, 2) &&
			    baton_future_take(f, 0, &v, NULL) == 0)
				take_value(v);
		} else {
			cancel_wins++;
			if (out != BATON_EXITED ||
			    why.kind != BATON_EXIT_SHUTDOWN ||
			    why.code != ECANCELED)
				stress_fail("cancel_vs_fulfil: cancel won but "
					    "peek gave %d (kind %d code %d)",
					    out, why.kind, why.code);
			if (!cancelled_flag)
				stress_fail("cancel_vs_fulfil: cancel won but "
					    "baton_promise_is_cancelled is "
					    "false");
		}
		baton_promise_destroy(s.p);
		baton_future_unref(f);
		stress_progress_add(1);
	}
	crew_fini(&crew);
	printf("future_race cancel_vs_fulfil    fulfil_wins=%ld "
	       "cancel_wins=%ld ratio=%.3f overlapped=%ld "
	       "is_cancelled_after_fulfil=%ld\n",
	       fulfil_wins, cancel_wins,
	       rounds > 0 ? (double)fulfil_wins / (double)rounds : 0.0,
	       overlapped, flagged);
	if (rounds >= 1000 && (fulfil_wins == 0 || cancel_wins == 0))
		stress_fail("cancel_vs_fulfil: degenerate race over %ld "
			    "rounds: fulfil won %ld, cancel won %ld",
			    rounds, fulfil_wins, cancel_wins);
}

/* ------------------------------------------------------------------ */
/* cancel_vs_body                                                      */

/*
 * The tag (plus one) of the body that is running, and the tag the
 * canceller released: a handshake so that both sides are on a CPU when
 * they race (a loaded machine otherwise runs the short body to its end
 * before the canceller is scheduled).  Relaxed: timing only, they order
 * nothing the library should order.
 */
static atomic_ulong running_tag, go_tag, ack_tag;

#define WAIT_FOR_GO 0x8000u

/*
 * As body: announces itself; with WAIT_FOR_GO in arg, waits for the go and
 * acknowledges it; spins (arg's low 15 bits), returns a value.
 */
static void *
tracked_body(void *arg)
{
	uint64_t a = (uint64_t)(uintptr_t)arg;
	unsigned long tag = (unsigned long)(a >> 16) + 1;
	unsigned int n = 0;

	atomic_store_explicit(&running_tag, tag, memory_order_relaxed);
	if (a & WAIT_FOR_GO) {
		while (atomic_load_explicit(&go_tag, memory_order_relaxed) !=
		       tag) {
			if (++n % 256 == 0)
				sched_yield();
		}
		atomic_store_explicit(&ack_tag, tag, memory_order_relaxed);
	}
	for (volatile uint64_t i = 0; i < (a & 0x7fff); i++)
		;
	stress_progress_add(1);
	return new_value(a >> 16);
}

static void
cancel_vs_body(struct stress_rng *rng, long rounds)
{
	long value_wins = 0, cancel_wins = 0, queued = 0;

	for (long i = 0; i < rounds; i++) {
		struct baton_task_opts o = opts();
		struct baton_exit_reason why = { 0 };
		baton_future *f = NULL;
		void *v = NULL;
		unsigned int n = 0;
		unsigned int mode = (unsigned int)stress_rng_below(rng, 4);
		uint64_t spins = stress_rng_below(rng, mode == 1 ? 600 : 3000);
		int rc, out;

		if (baton_future_start(&f, tracked_body,
				       body_arg((uint64_t)i,
						spins | (mode == 1
							     ? WAIT_FOR_GO
							     : 0)),
				       &o) != 0) {
			stress_fail("cancel_vs_body: start failed");
			break;
		}
		if (mode == 0) {
			queued++; /* at once: usually still queued */
		} else {
			/* Wait until the body runs. */
			while (atomic_load_explicit(&running_tag,
						    memory_order_relaxed) !=
			       (unsigned long)i + 1) {
				if (++n % 256 == 0)
					sched_yield();
			}
		}
		if (mode == 1) {
			/* Both sides on a CPU, then both spin a while. */
			atomic_store_explicit(&go_tag, (unsigned long)i + 1,
					      memory_order_relaxed);
			while (atomic_load_explicit(&ack_tag,
						    memory_order_relaxed) !=
			       (unsigned long)i + 1) {
				if (++n % 256 == 0)
					sched_yield();
			}
			spin_below(rng, 600);
		} else if (mode > 1) {
			/* Free-running: aim about where the body ends. */
			spin_below(rng, 2 * spins + 1);
		}
		rc = baton_future_cancel(f);
		/* A body a worker claimed anyway must not wait forever. */
		atomic_store_explicit(&go_tag, (unsigned long)i + 1,
				      memory_order_relaxed);
		if (rc != 0 && rc != -EALREADY)
			stress_fail("cancel_vs_body: cancel gave %d", rc);
		if (stress_rng_below(rng, 2))
			out = baton_future_wait(f, BATON_INFINITY);
		else
			out = baton_future_cancel_wait(f, BATON_INFINITY);
		if (out != 0)
			stress_fail("cancel_vs_body: wait gave %d", out);
		out = baton_future_take(f, 0, &v, &why);
		if (out == 0) {
			value_wins++;
			check_tag(v, (uint64_t)i, "cancel_vs_body");
			take_value(v);
			if (rc == 0)
				stress_fail("cancel_vs_body: round %ld: "
					    "cancel returned 0 but the value "
					    "was delivered",
					    i);
		} else if (out == BATON_EXITED &&
			   why.kind == BATON_EXIT_SHUTDOWN &&
			   why.code == ECANCELED) {
			cancel_wins++;
			/*
			 * -EALREADY promises "nothing changes": the body's
			 * value must then have been delivered.
			 *
			 * LIBRARY BUG: baton__cell_run clears CELL_IN_BODY
			 * after the body returns, then complete_from_body
			 * reads CELL_CANCELLED to decide whether to void the
			 * value.  A cancel whose fetch_or lands between the
			 * two sees no CELL_IN_BODY, so it tries to settle the
			 * cell itself; meanwhile complete_from_body sees
			 * CELL_CANCELLED, destroys the body's value and
			 * settles first with the cancelled reason.  The
			 * cancel's settle fails and it returns -EALREADY,
			 * although it is exactly what cancelled the future.
			 */
			if (rc == -EALREADY)
				stress_fail("cancel_vs_body: round %ld: "
					    "cancel returned -EALREADY but "
					    "the future ended cancelled",
					    i);
		} else {
			stress_fail("cancel_vs_body: take gave %d (kind %d "
				    "code %d)",
				    out, why.kind, why.code);
		}
		baton_future_unref(f);
		stress_progress_add(1);
	}
	printf("future_race cancel_vs_body      value_wins=%ld "
	       "cancel_wins=%ld (aimed at the queue %ld)\n",
	       value_wins, cancel_wins, queued);
}

/* ------------------------------------------------------------------ */
/* destroy_vs_await                                                    */

struct broken {
	baton_future *ref[MAX_CREW];
	enum access op[MAX_CREW];
	uint64_t seed[MAX_CREW];
};

static void
await_broken(int idx, void *arg)
{
	struct broken *b = arg;
	baton_future *f = b->ref[idx];
	struct stress_rng rng;
	void *v = NULL;
	int r;

	stress_rng_init(&rng, b->seed[idx], (uint64_t)idx);
	crew_arrive(&crew);
	spin_below(&rng, 1000);
	switch (b->op[idx]) {
	case A_WAIT:
		r = baton_future_wait(f, BATON_INFINITY);
		if (r != 0)
			stress_fail("destroy_vs_await: wait gave %d", r);
		r = baton_future_borrow(f, 0, &v, NULL);
		break;
	case A_BORROW:
		r = baton_future_borrow(f, BATON_INFINITY, &v, NULL);
		break;
	case A_BORROW_TIMED:
		do
			r = baton_future_take(f, (int)stress_rng_below(&rng, 3),
					      &v, NULL);
		while (r == -ETIMEDOUT);
		break;
	case A_COPY:
		r = baton_future_copy(f, BATON_INFINITY, clone_value, &v,
				      NULL);
		break;
	default:
		while ((r = baton_future_peek(f, &v, NULL)) == -EAGAIN)
			sched_yield();
		break;
	}
	if (r != -EPIPE)
		stress_fail("destroy_vs_await: access %d gave %d, want -EPIPE",
			    b->op[idx], r);
	baton_future_unref(f);
}

static void
destroy_vs_await(struct stress_rng *rng, long rounds)
{
	static struct broken b;

	crew_init(&crew, 4);
	for (long i = 0; i < rounds; i++) {
		int n = 1 + (int)stress_rng_below(rng, 4);
		baton_promise *p;
		baton_future *f;

		promise(&p, &f);
		for (int k = 0; k < n; k++) {
			b.ref[k] = baton_future_ref(f);
			b.op[k] = (enum access)stress_rng_below(rng, A_NOPS);
			b.seed[k] = stress_rng_next(rng);
		}
		if (stress_rng_below(rng, 2)) {
			baton_future_unref(f);
			f = NULL;
		}
		crew_start(&crew, n, await_broken, &b, n + 1);
		crew_arrive(&crew);
		spin_below(rng, 1000);
		baton_promise_destroy(p);
		crew_wait(&crew);
		baton_future_unref(f);
		stress_progress_add(1);
	}
	crew_fini(&crew);
}

/* ------------------------------------------------------------------ */
/* callback_vs_complete                                                */

#define CB_PER_REGISTRAR 4
#define REGISTRARS 3

struct cb_slot {
	atomic_int runs;
	atomic_int tid;
	uint64_t tag;
	baton_future *f;
};

struct registrars {
	baton_future *ref[REGISTRARS];
	uint64_t seed[REGISTRARS];
	int count[REGISTRARS];
	struct cb_slot slot[REGISTRARS][CB_PER_REGISTRAR];
	bool pooled[REGISTRARS][CB_PER_REGISTRAR];
	pid_t completer_tid;
	pid_t reg_tid[REGISTRARS];
	bool eager[REGISTRARS]; /* first registration as soon as is_done */
	uint64_t tag;
};

static atomic_long cb_registered, cb_ran, cb_late;

static void
record_cb(baton_future *f, void *ctx)
{
	struct cb_slot *s = ctx;
	void *v = NULL;
	int r;

	if (f != s->f)
		stress_fail("callback: got another future");
	r = baton_future_peek(f, &v, NULL);
	if (r != 0)
		stress_fail("callback: peek gave %d", r);
	else
		check_tag(v, s->tag, "callback");
	atomic_store_explicit(&s->tid, gettid(), memory_order_relaxed);
	atomic_fetch_add_explicit(&cb_ran, 1, memory_order_relaxed);
	/* release: the round's reader of runs sees tid. */
	if (atomic_fetch_add_explicit(&s->runs, 1, memory_order_release) != 0)
		stress_fail("callback ran twice");
}

static void
register_some(int idx, void *arg)
{
	struct registrars *g = arg;
	baton_future *f = g->ref[idx];
	struct stress_rng rng;
	pid_t me = gettid();

	stress_rng_init(&rng, g->seed[idx], (uint64_t)idx);
	g->reg_tid[idx] = me;
	crew_arrive(&crew);
	for (int k = 0; k < g->count[idx]; k++) {
		struct cb_slot *s = &g->slot[idx][k];
		bool pooled = g->pooled[idx][k];
		bool done_before;
		int r;

		if (k == 0 && g->eager[idx]) {
			unsigned int n = 0;

			/* Aim just after the completion is published. */
			while (!baton_future_is_done(f)) {
				if (++n % 64 == 0)
					sched_yield();
			}
		} else {
			spin_below(&rng, 400);
		}
		done_before = baton_future_is_done(f);
		r = baton_future_on_done(f, record_cb, s, pooled ? pool : NULL);
		if (r != 0) {
			stress_fail("on_done gave %d", r);
			continue;
		}
		atomic_fetch_add_explicit(&cb_registered, 1,
					  memory_order_relaxed);
		if (pooled || !done_before)
			continue;
		/*
		 * Registered after completion: ran here, already.
		 *
		 * LIBRARY BUG: baton__cell_publish stores DONE first, then
		 * runs the cell's on_done hook, then closes the callback
		 * list (run_callbacks' exchange).  A registration between
		 * the DONE store and the exchange, by a caller that already
		 * saw is_done() true, is queued and runs later on the
		 * completing thread, after on_done returned, breaking "if f
		 * has already completed, at once on the calling thread".
		 */
		if (atomic_load_explicit(&s->runs, memory_order_acquire) != 1) {
			atomic_fetch_add_explicit(&cb_late, 1,
						  memory_order_relaxed);
			stress_fail("callback_vs_complete: registered after "
				    "completion (is_done was true) but had "
				    "not run when on_done returned");
		} else if (atomic_load_explicit(&s->tid,
						memory_order_relaxed) != me) {
			stress_fail("callback_vs_complete: registered after "
				    "completion but ran on another thread");
		}
	}
	baton_future_unref(f);
}

static void
callback_vs_complete(struct stress_rng *rng, long rounds)
{
	static struct registrars g;

	crew_init(&crew, REGISTRARS);
	for (long i = 0; i < rounds; i++) {
		int n = 1 + (int)stress_rng_below(rng, REGISTRARS);
		baton_promise *p;
		baton_future *f;

		promise(&p, &f);
		g.tag = (uint64_t)i;
		g.completer_tid = gettid();
		for (int k = 0; k < n; k++) {
			g.ref[k] = baton_future_ref(f);
			g.seed[k] = stress_rng_next(rng);
			g.eager[k] = stress_rng_below(rng, 2);
			g.count[k] = 1 + (int)stress_rng_below(
					     rng, CB_PER_REGISTRAR);
			for (int j = 0; j < g.count[k]; j++) {
				struct cb_slot *s = &g.slot[k][j];

				atomic_store_explicit(&s->runs, 0,
						      memory_order_relaxed);
				atomic_store_explicit(&s->tid, 0,
						      memory_order_relaxed);
				s->tag = g.tag;
				s->f = f;
				g.pooled[k][j] = stress_rng_below(rng, 3) == 0;
			}
		}
		crew_start(&crew, n, register_some, &g, n + 1);
		crew_arrive(&crew);
		spin_below(rng, 1500);
		if (baton_promise_fulfil(p, new_value(g.tag), destroy_value) !=
		    0)
			stress_fail("callback_vs_complete: fulfil failed");
		baton_promise_destroy(p);
		stress_jitter(rng);
		baton_future_unref(f);
		crew_wait(&crew);
		/* Pooled callbacks may still be on their way. */
		for (int k = 0; k < n; k++) {
			for (int j = 0; j < g.count[k]; j++) {
				struct cb_slot *s = &g.slot[k][j];
				int runs;

				while ((runs = atomic_load_explicit(
					    &s->runs, memory_order_acquire)) ==
				       0)
					sched_yield();
				if (runs != 1)
					stress_fail("callback ran %d times",
						    runs);
				if (!g.pooled[k][j]) {
					pid_t t = atomic_load_explicit(
					    &s->tid, memory_order_relaxed);

					if (t != g.completer_tid &&
					    t != g.reg_tid[k])
						stress_fail("inline callback "
							    "ran on a third "
							    "thread");
				}
			}
		}
		stress_progress_add(1);
	}
	crew_fini(&crew);
	printf("future_race callback_vs_complete registered=%ld ran=%ld "
	       "late=%ld\n",
	       atomic_load(&cb_registered), atomic_load(&cb_ran),
	       atomic_load(&cb_late));
}

/* ------------------------------------------------------------------ */
/* Driver                                                              */

struct scenario {
	const char *name;
	long rounds; /* at scale 100 */
	void (*run)(struct stress_rng *rng, long rounds);
};

int
main(void)
{
	static const struct scenario scenarios[] = {
		{ "many_awaiters", 3000, many_awaiters },
		{ "take_vs_take", 12000, take_vs_take },
		{ "unref_vs_complete", 40000, unref_vs_complete },
		{ "cancel_vs_fulfil", 40000, cancel_vs_fulfil },
		{ "cancel_vs_body", 20000, cancel_vs_body },
		{ "destroy_vs_await", 20000, destroy_vs_await },
		{ "callback_vs_complete", 20000, callback_vs_complete },
	};
	uint64_t seed = stress_seed();
	/* FUTURE_RACE_ONLY=name runs one scenario (to reproduce a failure). */
	const char *only = getenv("FUTURE_RACE_ONLY");

	printf("future_race seed=%#" PRIx64 " scale=%d%s\n", seed,
	       stress_scale(), STRESS_TSAN ? " (tsan)" : "");
	stress_watchdog_start();
	for (size_t s = 0; s < sizeof(scenarios) / sizeof(scenarios[0]); s++) {
		const struct scenario *sc = &scenarios[s];
		long rounds = (long)stress_scaled((uint64_t)sc->rounds, 20);
		struct stress_rng rng;
		double t0 = stress_now();
		long c, k, d, kp, failed_before = stress_failed();

		if (only != NULL && *only != '\0' && strcmp(only, sc->name) != 0)
			continue;
		stress_rng_init(&rng, seed, s);
		atomic_store(&created, 0);
		atomic_store(&taken, 0);
		atomic_store(&destroyed, 0);
		atomic_store(&kept, 0);
		stress_watchdog_arm(sc->name, 120, 20, NULL);
		if (baton_pool_create(&pool, 2) != 0) {
			stress_fail("pool create");
			break;
		}
		sc->run(&rng, rounds);
		baton_pool_destroy(pool); /* joins every body and callback */
		pool = NULL;
		stress_watchdog_disarm();
		c = atomic_load(&created);
		k = atomic_load(&taken);
		d = atomic_load(&destroyed);
		kp = atomic_load(&kept);
		if (c != k + d + kp)
			stress_fail("%s: %ld created != %ld taken + %ld "
				    "destroyed + %ld kept",
				    sc->name, c, k, d, kp);
		printf("future_race %-20s rounds=%ld created=%ld taken=%ld "
		       "destroyed=%ld kept=%ld %s %.2fs\n",
		       sc->name, rounds, c, k, d, kp,
		       c == k + d + kp && stress_failed() == failed_before
			   ? "ok"
			   : "FAIL",
		       stress_now() - t0);
		fflush(stdout);
	}
	stress_watchdog_stop();
	if (atomic_load(&clones) != atomic_load(&copies_freed))
		stress_fail("copies: %ld cloned, %ld freed",
			    atomic_load(&clones), atomic_load(&copies_freed));
	if (atomic_load(&cb_registered) != atomic_load(&cb_ran))
		stress_fail("callbacks: %ld registered, %ld ran",
			    atomic_load(&cb_registered), atomic_load(&cb_ran));
	return stress_failed() ? 1 : 0;
}
