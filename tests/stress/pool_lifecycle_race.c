/*
 * pool_lifecycle_race.c - the adversarial lifecycle cases, raced (a plain
 * program: it runs under ASan and ThreadSanitizer in CI).
 *
 * Each round creates a private elastic pool, binds work to it past the
 * calls that name it (continuations with then(); in odd rounds also
 * callbacks with on_done()), and then, from two threads at once, destroys the pool and
 * completes the promises the bound work waits for, in a random order.
 * Bodies meanwhile try to destroy their own pool (-EDEADLK) and the
 * default pool (-EINVAL).  Checked per round: every continuation and
 * every callback ran exactly once (on the pool, or on the completing
 * thread once the pool was gone), every value was freed exactly once,
 * and every misuse got its error code; ASan sees any access to a freed
 * pool.
 *
 *	pool_lifecycle_race        (BATON_STRESS_SCALE sizes the rounds)
 */
#include <baton.h>

#include "stress.h"

#define BOUND 16

static atomic_int then_ran, cb_ran, values_live, misuse_ok, misuse_bad;

static void
value_free(void *v)
{
	atomic_fetch_sub_explicit(&values_live, 1, memory_order_relaxed);
	free(v);
}

static void *
value_new(void)
{
	int *v = malloc(sizeof(*v));

	if (v == NULL) {
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	atomic_fetch_add_explicit(&values_live, 1, memory_order_relaxed);
	return v;
}

static void *
then_body(void *value, void *ctx)
{
	(void)value;
	(void)ctx;
	atomic_fetch_add_explicit(&then_ran, 1, memory_order_relaxed);
	return value_new();
}

static void
on_done(baton_future *f, void *ctx)
{
	(void)f;
	(void)ctx;
	atomic_fetch_add_explicit(&cb_ran, 1, memory_order_relaxed);
}

/* A body that tries both forbidden destroys. */
static void *
misuse_body(void *pool)
{
	int own = baton_pool_destroy(pool);
	int def = baton_pool_destroy(baton_pool_default());

	atomic_fetch_add_explicit(own == -EDEADLK && def == -EINVAL
				      ? &misuse_ok
				      : &misuse_bad,
				  1, memory_order_relaxed);
	return NULL;
}

struct round {
	baton_pool *pool;
	baton_promise *pr[BOUND];
	struct stress_rng rng;
};

static void *
fulfil_all(void *arg)
{
	struct round *r = arg;

	for (int i = 0; i < BOUND; i++) {
		if (stress_rng_below(&r->rng, 4) == 0)
			stress_jitter(&r->rng);
		if (baton_promise_fulfil(r->pr[i], value_new(), value_free) != 0)
			stress_fail("fulfil %d", i);
	}
	return NULL;
}

static void
round_once(struct stress_rng *rng, unsigned int n)
{
	struct baton_pool_opts po = BATON_POOL_OPTS_INIT;
	struct round r;
	baton_future *in[BOUND], *out[BOUND];
	baton_task misuse;
	pthread_t th;
	int rc;

	po.workers = 1;
	po.max_threads = 4;
	po.keep_alive_ms = 1;
	if (baton_pool_create_opts(&r.pool, &po) != 0) {
		stress_fail("round %u: create", n);
		return;
	}
	stress_rng_init(&r.rng, stress_rng_next(rng), n);
	struct baton_task_opts to = { .pool = r.pool, .destroy = value_free };
	for (int i = 0; i < BOUND; i++) {
		/* Odd rounds add callbacks: each holds the pool on its own. */
		if (baton_promise_create(&r.pr[i], &in[i]) != 0 ||
		    baton_future_then(&out[i], in[i], then_body, NULL, &to) != 0 ||
		    (n % 2 == 1 &&
		     baton_future_on_done(in[i], on_done, NULL, r.pool) != 0)) {
			stress_fail("round %u: bind %d", n, i);
			return;
		}
	}
	if ((rc = baton_task_async_opts(&misuse, misuse_body, r.pool, &to)) != 0)
		stress_fail("round %u: misuse spawn %d", n, rc);
	else if ((rc = baton_task_await(&misuse, 30000, NULL, NULL)) != 0)
		stress_fail("round %u: misuse await %d", n, rc);
	/* Destroy and completions race. */
	stress_thread_create(&th, fulfil_all, &r);
	stress_jitter(rng);
	if ((rc = baton_pool_destroy(r.pool)) != 0)
		stress_fail("round %u: destroy %d", n, rc);
	pthread_join(th, NULL);
	for (int i = 0; i < BOUND; i++) {
		void *v;

		if ((rc = baton_future_take(out[i], 30000, &v, NULL)) != 0)
			stress_fail("round %u: continuation %d: %d", n, i, rc);
		else
			value_free(v);
		baton_future_unref(out[i]);
		baton_future_unref(in[i]);
		baton_promise_destroy(r.pr[i]);
	}
	atomic_fetch_add_explicit(&stress_progress, 1, memory_order_relaxed);
}

int
main(void)
{
	uint64_t seed = stress_seed();
	unsigned int rounds = (unsigned int)stress_scaled(300, 20);
	double t0 = stress_now();
	struct stress_rng rng;
	int want;

	printf("pool_lifecycle_race: seed %" PRIu64 "\n", seed);
	stress_rng_init(&rng, seed, 0);
	stress_watchdog_start();
	stress_watchdog_arm("pool_lifecycle_race", 240, 60, NULL);
	for (unsigned int n = 0; n < rounds && stress_failed() == 0; n++)
		round_once(&rng, n);
	stress_watchdog_disarm();
	stress_watchdog_stop();
	want = (int)rounds * BOUND;
	if (atomic_load(&then_ran) != want ||
	    atomic_load(&cb_ran) != (int)(rounds / 2) * BOUND)
		stress_fail("ran %d continuations and %d callbacks, want %d "
			    "and %d", atomic_load(&then_ran),
			    atomic_load(&cb_ran), want,
			    (int)(rounds / 2) * BOUND);
	if (atomic_load(&values_live) != 0)
		stress_fail("%d values never freed", atomic_load(&values_live));
	if (atomic_load(&misuse_ok) != (int)rounds || atomic_load(&misuse_bad))
		stress_fail("misuse: %d ok, %d wrong codes",
			    atomic_load(&misuse_ok), atomic_load(&misuse_bad));
	printf("pool_lifecycle_race: %u rounds, %d bound each, in %.2f s: %s\n",
	       rounds, BOUND, stress_now() - t0,
	       stress_failed() ? "FAILED" : "ok");
	return stress_failed() ? 1 : 0;
}
