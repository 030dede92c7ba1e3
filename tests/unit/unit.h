/*
 * unit.h - what the Criterion unit suites in tests/unit share.
 *
 * Every test_*.c here includes this header, once (each is the only
 * translation unit of its executable).  It holds:
 *
 *  - The timeout scale.  A PRE_ALL report hook multiplies every test's
 *    `.timeout` (and a suite's, where TestSuite sets one) by the number in
 *    the environment variable BATON_TEST_TIMEOUT_SCALE before any test
 *    runs, so that a slow runner such as valgrind can run the suites
 *    without their per-test limits going off:
 *
 *        BATON_TEST_TIMEOUT_SCALE=20 meson test -C build --suite unit \
 *            --timeout-multiplier 10 \
 *            --wrap='valgrind --trace-children=yes --max-threads=1100 ...'
 *
 *    (test_pool starts a pool of 1024 workers: valgrind's default of 500
 *    threads aborts it, and starting them takes it ~50 s, so test_pool
 *    needs a scale of at least 4 there.)
 *
 *    The value is any positive number, fractions included (0.5 halves the
 *    limits); when it is absent or empty the limits stay as written, and
 *    when it is not a positive finite number the runner says so on stderr
 *    and also leaves them alone.  Only Criterion's own limits scale:
 *    meson's per-executable timeout is --timeout-multiplier's business,
 *    Criterion's --timeout option is left as given, and the bounds that
 *    tests assert on elapsed time (BLOCK_CHECK_MS, PROMPT_MS, ...) do not
 *    change.
 *
 *  - Helpers that more than one suite had its own copy of: clocks and
 *    sleeps, waiting for an atomic flag, starting and joining a thread
 *    under assertion, a gate, the counting destructor (count_free and its
 *    counter `destroyed`), malloc'd int values, a task body that waits on
 *    a gate (struct gated), a pool of N workers, and the per-test
 *    LeakSanitizer check (a no-op without AddressSanitizer).
 *
 * The helpers are static inline (and the counter is marked unused), so a
 * suite that needs only some of them compiles warning-free with -Werror
 * and gets no code for the rest.  Waits that spin (wait_for) have no
 * bound of their own: the test's Criterion timeout bounds them.
 */
#ifndef BATON_TESTS_UNIT_H
#define BATON_TESTS_UNIT_H

#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <criterion/internal/ordered-set.h>
#include <criterion/logging.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <baton/pool.h>
#include <baton/task.h>

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_LSAN 1
#endif
#endif

#ifdef HAVE_LSAN
#include <sanitizer/lsan_interface.h>
#endif

/* ------------------------------------------------------------------ */
/* Timeout scale                                                       */
/* ------------------------------------------------------------------ */

/* BATON_TEST_TIMEOUT_SCALE as a factor: 1 when absent, empty or invalid. */
static inline double
unit_timeout_scale(void)
{
	const char *s = getenv("BATON_TEST_TIMEOUT_SCALE");
	char *end;
	double k;

	if (s == NULL || *s == '\0')
		return 1;
	errno = 0;
	k = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(k > 0) ||
	    !isfinite(k)) {
		cr_log_warn("BATON_TEST_TIMEOUT_SCALE=\"%s\" is not a positive "
			    "number: test timeouts are not scaled", s);
		return 1;
	}
	return k;
}

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	double k = unit_timeout_scale();

	if (k == 1)
		return;
	FOREACH_SET(struct criterion_suite_set *s, set->suites) {
		if (s->suite.data != NULL && s->suite.data->timeout > 0)
			s->suite.data->timeout *= k;
		FOREACH_SET(struct criterion_test *t, s->tests) {
			if (t->data != NULL && t->data->timeout > 0)
				t->data->timeout *= k;
		}
	}
}

/* ------------------------------------------------------------------ */
/* Constants                                                           */
/* ------------------------------------------------------------------ */

/* Tokens: small integers cast to pointers, never dereferenced. */
#define TOK(i)		((void *)(uintptr_t)(i))
#define UNTOK(p)	((size_t)(uintptr_t)(p))

/* What a call leaves in *value (or *item) when it must not touch it. */
#define SENTINEL	TOK(0xdead)

/* How long a thread must stay in a call to count as blocked. */
#define BLOCK_CHECK_MS	100

/* "At once": far below any timeout the call was given. */
#define PROMPT_MS	1000

#define NSEC_PER_MSEC	INT64_C(1000000)
#define NSEC_PER_SEC	INT64_C(1000000000)

/* ------------------------------------------------------------------ */
/* Time                                                                */
/* ------------------------------------------------------------------ */

static inline int64_t
ns_of(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

/* CLOCK_MONOTONIC in nanoseconds. */
static inline int64_t
now_ns(void)
{
	return ns_of(CLOCK_MONOTONIC);
}

static inline int64_t
ms_since(int64_t start_ns)
{
	return (now_ns() - start_ns) / NSEC_PER_MSEC;
}

static inline void
sleep_ms(int ms)
{
	struct timespec ts = {
		.tv_sec = ms / 1000,
		.tv_nsec = (long)(ms % 1000) * 1000000L,
	};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		continue;
}

/* ------------------------------------------------------------------ */
/* Threads and handshakes                                              */
/* ------------------------------------------------------------------ */

/* Waits until *flag reaches n; bounded by the test's Criterion timeout. */
static inline void
wait_for(atomic_int *flag, int n)
{
	while (atomic_load_explicit(flag, memory_order_acquire) < n)
		sched_yield();
}

static inline void
spawn_thread(pthread_t *th, void *(*fn)(void *), void *arg)
{
	int rc = pthread_create(th, NULL, fn, arg);

	cr_assert_eq(rc, 0, "pthread_create returned %d", rc);
}

static inline void
join_thread(pthread_t th)
{
	int rc = pthread_join(th, NULL);

	cr_assert_eq(rc, 0, "pthread_join returned %d", rc);
}

/* A gate: threads wait on it until the test opens it, once and for all. */
struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool open;
};

#define GATE_INIT { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false }

static inline void
gate_wait(struct gate *g)
{
	pthread_mutex_lock(&g->mu);
	while (!g->open)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
}

static inline void
gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->mu);
	g->open = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

/* ------------------------------------------------------------------ */
/* Values                                                              */
/* ------------------------------------------------------------------ */

/* Counts every count_free call (Criterion forks per test: starts at 0). */
static atomic_int destroyed __attribute__((unused));

/* The destructor for values nobody took: counts, then frees. */
static inline void
count_free(void *item)
{
	atomic_fetch_add(&destroyed, 1);
	free(item);
}

/* A malloc'd int: a value whose leak or double free the sanitizer sees. */
static inline void *
new_int(int value)
{
	int *p = malloc(sizeof(*p));

	cr_assert_not_null(p);
	*p = value;
	return p;
}

static inline int
int_of(const void *p)
{
	return *(const int *)p;
}

/* ------------------------------------------------------------------ */
/* A gated task body                                                   */
/* ------------------------------------------------------------------ */

/*
 * A body that says it started, waits on a gate, then returns
 * new_int(value), recording what it saw for the test thread to check.
 */
struct gated {
	struct gate *gate;
	int value;
	atomic_int started;
	atomic_int finished;
	atomic_int saw_stop;	/* baton_should_stop() after the gate */
	atomic_int tid;		/* the thread it ran on */
};

static inline void
gated_init(struct gated *g, struct gate *gate, int value)
{
	memset(g, 0, sizeof(*g));
	g->gate = gate;
	g->value = value;
}

static inline void *
gated_body(void *arg)
{
	struct gated *g = arg;

	atomic_store(&g->tid, gettid());
	atomic_store_explicit(&g->started, 1, memory_order_release);
	gate_wait(g->gate);
	atomic_store(&g->saw_stop, baton_should_stop());
	atomic_store_explicit(&g->finished, 1, memory_order_release);
	return new_int(g->value);
}

/* ------------------------------------------------------------------ */
/* Pools and leaks                                                     */
/* ------------------------------------------------------------------ */

static inline baton_pool *
make_pool(unsigned int workers)
{
	baton_pool *pool = NULL;
	int rc = baton_pool_create(&pool, workers);

	cr_assert_eq(rc, 0, "baton_pool_create(%u) returned %d", workers, rc);
	cr_assert_not_null(pool);
	return pool;
}

/*
 * Criterion's test processes exit without LeakSanitizer's exit-time check
 * failing the test, so a suite checks after each test (TestSuite(name,
 * .fini = check_leaks)): a leak aborts the teardown and the runner exits
 * non-zero.  Without AddressSanitizer it does nothing.
 */
static inline void
check_leaks(void)
{
#ifdef HAVE_LSAN
	if (__lsan_do_recoverable_leak_check() != 0)
		abort();
#endif
}

#endif /* BATON_TESTS_UNIT_H */
