/*
 * stress.h - helpers shared by the stress executables: scale, clock, PRNG,
 * item encoding, per-producer bitmaps and a wall-clock watchdog.
 *
 * The stress tests are plain programs (Criterion aborts under
 * ThreadSanitizer).  Each prints one summary line per scenario to stdout
 * and exits non-zero on any failure.
 *
 * Bookkeeping atomics are relaxed on purpose: ThreadSanitizer derives no
 * happens-before from relaxed operations, so the tests never add an edge
 * that could hide a missing one in the queue.  The results are read only
 * after the threads are joined.
 */
#ifndef BATON_TESTS_STRESS_H
#define BATON_TESTS_STRESS_H

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STRESS_CACHELINE 64

/* ------------------------------------------------------------------ */
/* Scale, clock, failure reporting                                     */

/*
 * BATON_STRESS_SCALE, in percent; without it, the build's -Dstress_scale
 * (compiled in as BATON_STRESS_SCALE_DEFAULT), else 100.
 */
#ifndef BATON_STRESS_SCALE_DEFAULT
#define BATON_STRESS_SCALE_DEFAULT 100
#endif
static inline int
stress_scale(void)
{
	const char *s = getenv("BATON_STRESS_SCALE");
	long v;

	if (s == NULL || *s == '\0')
		return BATON_STRESS_SCALE_DEFAULT;
	v = strtol(s, NULL, 10);
	if (v < 1)
		v = 1;
	if (v > 100000)
		v = 100000;
	return (int)v;
}

/* n scaled by BATON_STRESS_SCALE, at least min. */
static inline uint64_t
stress_scaled(uint64_t n, uint64_t min)
{
	uint64_t v = n * (uint64_t)stress_scale() / 100;

	return v < min ? min : v;
}

static inline double
stress_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void
stress_sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Whether the build is instrumented by ThreadSanitizer. */
#if defined(__SANITIZE_THREAD__)
#define STRESS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define STRESS_TSAN 1
#endif
#endif
#ifndef STRESS_TSAN
#define STRESS_TSAN 0
#endif

/* Failures seen so far (any thread); the first few are printed. */
static atomic_int stress_failures;

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static inline void
stress_fail(const char *fmt, ...)
{
	va_list ap;

	/* relaxed: a tally, read after the threads are joined. */
	if (atomic_fetch_add_explicit(&stress_failures, 1,
				      memory_order_relaxed) >= 20)
		return;
	va_start(ap, fmt);
	fputs("FAIL: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static inline int
stress_failed(void)
{
	return atomic_load_explicit(&stress_failures, memory_order_relaxed);
}

/* ------------------------------------------------------------------ */
/* PRNG: splitmix64 seeding, xorshift64* stream                        */

struct stress_rng {
	uint64_t s;
};

static inline uint64_t
stress_mix(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline void
stress_rng_init(struct stress_rng *r, uint64_t seed, uint64_t stream)
{
	r->s = stress_mix(seed ^ stress_mix(stream + 1));
	if (r->s == 0)
		r->s = 1;
}

static inline uint64_t
stress_rng_next(struct stress_rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545f4914f6cdd1dULL;
}

/* Uniform in [0, n). */
static inline uint64_t
stress_rng_below(struct stress_rng *r, uint64_t n)
{
	return n == 0 ? 0 : stress_rng_next(r) % n;
}

/* BATON_STRESS_SEED if set, else from the clock and pid. */
static inline uint64_t
stress_seed(void)
{
	const char *s = getenv("BATON_STRESS_SEED");
	struct timespec ts;

	if (s != NULL && *s != '\0')
		return strtoull(s, NULL, 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	return stress_mix((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
			  ((uint64_t)getpid() << 40));
}

/* ------------------------------------------------------------------ */
/* Items: (producer id, sequence number) as a never-dereferenced pointer */

#define STRESS_SEQ_BITS 40

static inline void *
stress_item(uint64_t pid, uint64_t seq)
{
	return (void *)(uintptr_t)((pid << STRESS_SEQ_BITS) | (seq + 1));
}

/* Decodes an item; false if it cannot be one we made. */
static inline bool
stress_item_decode(const void *item, uint64_t nproducers, uint64_t *pid,
		   uint64_t *seq)
{
	uint64_t v = (uint64_t)(uintptr_t)item;
	uint64_t low = v & (((uint64_t)1 << STRESS_SEQ_BITS) - 1);

	*pid = v >> STRESS_SEQ_BITS;
	if (low == 0 || *pid >= nproducers)
		return false;
	*seq = low - 1;
	return true;
}

/* ------------------------------------------------------------------ */
/* Per-producer bitmaps: every item must be marked exactly once        */

struct stress_bitmap {
	uint64_t nproducers;
	uint64_t bits_per_producer;
	uint64_t words_per_producer;
	_Atomic uint64_t *words;
};

static inline void
stress_bitmap_init(struct stress_bitmap *b, uint64_t nproducers,
		   uint64_t bits_per_producer)
{
	b->nproducers = nproducers;
	b->bits_per_producer = bits_per_producer;
	b->words_per_producer = (bits_per_producer + 63) / 64;
	b->words = calloc(nproducers * b->words_per_producer,
			  sizeof(*b->words));
	if (b->words == NULL) {
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
}

static inline void
stress_bitmap_free(struct stress_bitmap *b)
{
	free(b->words);
	b->words = NULL;
}

/* Marks (pid, seq); false if it was already marked or out of range. */
static inline bool
stress_bitmap_mark(struct stress_bitmap *b, uint64_t pid, uint64_t seq)
{
	uint64_t bit = (uint64_t)1 << (seq & 63);
	uint64_t old;

	if (pid >= b->nproducers || seq >= b->bits_per_producer)
		return false;
	/* relaxed: atomicity alone catches duplicates; checked after join. */
	old = atomic_fetch_or_explicit(
	    &b->words[pid * b->words_per_producer + seq / 64], bit,
	    memory_order_relaxed);
	return (old & bit) == 0;
}

/* Number of marked bits among seq < n for producer pid. */
static inline uint64_t
stress_bitmap_count(struct stress_bitmap *b, uint64_t pid, uint64_t n)
{
	uint64_t count = 0;

	for (uint64_t w = 0; w < (n + 63) / 64; w++) {
		uint64_t v = atomic_load_explicit(
		    &b->words[pid * b->words_per_producer + w],
		    memory_order_relaxed);

		if (w == n / 64)
			v &= ((uint64_t)1 << (n % 64)) - 1;
		count += (uint64_t)__builtin_popcountll(v);
	}
	return count;
}

/* The first unmarked seq below n for pid, or n. */
static inline uint64_t
stress_bitmap_first_missing(struct stress_bitmap *b, uint64_t pid,
			    uint64_t n)
{
	for (uint64_t s = 0; s < n; s++) {
		uint64_t v = atomic_load_explicit(
		    &b->words[pid * b->words_per_producer + s / 64],
		    memory_order_relaxed);

		if ((v & ((uint64_t)1 << (s % 64))) == 0)
			return s;
	}
	return n;
}

/* ------------------------------------------------------------------ */
/* Sum / xor checksums                                                  */

struct stress_sum {
	uint64_t count, sum, xor;
};

static inline void
stress_sum_add(struct stress_sum *s, const void *item)
{
	uint64_t v = (uint64_t)(uintptr_t)item;

	s->count++;
	s->sum += v;
	s->xor ^= v;
}

static inline void
stress_sum_merge(struct stress_sum *into, const struct stress_sum *s)
{
	into->count += s->count;
	into->sum += s->sum;
	into->xor ^= s->xor;
}

/* ------------------------------------------------------------------ */
/* Watchdog                                                             */

/*
 * A thread that fails the program (_exit(1)) when the armed scenario runs
 * past its wall-clock limit, or makes no progress for stall_s seconds.
 * Progress is stress_progress, bumped (relaxed) by the workers.
 */
static atomic_ulong stress_progress;

static inline void
stress_progress_add(unsigned long n)
{
	/* relaxed: sampled by the watchdog, orders nothing. */
	atomic_fetch_add_explicit(&stress_progress, n, memory_order_relaxed);
}

static struct {
	pthread_mutex_t mu;
	pthread_t thread;
	bool running;
	bool armed;
	char scenario[200];
	double armed_at, limit_s, stall_s;
	unsigned long last_progress;
	double last_change;
	void (*dump)(void);
} stress_wd = { .mu = PTHREAD_MUTEX_INITIALIZER };

static inline void *
stress_watchdog_main(void *arg)
{
	(void)arg;
	for (;;) {
		double now;
		unsigned long p;

		stress_sleep_us(100000);
		now = stress_now();
		p = atomic_load_explicit(&stress_progress,
					 memory_order_relaxed);
		pthread_mutex_lock(&stress_wd.mu);
		if (!stress_wd.running) {
			pthread_mutex_unlock(&stress_wd.mu);
			return NULL;
		}
		if (stress_wd.armed) {
			const char *why = NULL;

			if (p != stress_wd.last_progress) {
				stress_wd.last_progress = p;
				stress_wd.last_change = now;
			}
			if (now - stress_wd.armed_at > stress_wd.limit_s)
				why = "ran past its time limit";
			else if (now - stress_wd.last_change >
				 stress_wd.stall_s)
				why = "made no progress";
			if (why != NULL) {
				fprintf(stderr,
					"WATCHDOG: scenario '%s' %s "
					"(%.1f s elapsed, %.1f s since "
					"progress; limit %.0f s, stall "
					"%.0f s; progress=%lu): HANG\n",
					stress_wd.scenario, why,
					now - stress_wd.armed_at,
					now - stress_wd.last_change,
					stress_wd.limit_s, stress_wd.stall_s,
					p);
				if (stress_wd.dump != NULL)
					stress_wd.dump();
				fflush(stdout);
				fflush(stderr);
				_exit(1);
			}
		}
		pthread_mutex_unlock(&stress_wd.mu);
	}
}

static inline void
stress_watchdog_start(void)
{
	stress_wd.running = true;
	if (pthread_create(&stress_wd.thread, NULL, stress_watchdog_main,
			   NULL) != 0) {
		fprintf(stderr, "cannot start the watchdog\n");
		exit(2);
	}
}

static inline void
stress_watchdog_stop(void)
{
	pthread_mutex_lock(&stress_wd.mu);
	stress_wd.running = false;
	pthread_mutex_unlock(&stress_wd.mu);
	pthread_join(stress_wd.thread, NULL);
}

/* Arms the watchdog for one scenario; dump (may be NULL) runs on a hang. */
static inline void
stress_watchdog_arm(const char *scenario, double limit_s, double stall_s,
		    void (*dump)(void))
{
	double now = stress_now();

	pthread_mutex_lock(&stress_wd.mu);
	snprintf(stress_wd.scenario, sizeof(stress_wd.scenario), "%s",
		 scenario);
	stress_wd.armed = true;
	stress_wd.armed_at = now;
	stress_wd.limit_s = limit_s;
	stress_wd.stall_s = stall_s;
	stress_wd.last_progress =
	    atomic_load_explicit(&stress_progress, memory_order_relaxed);
	stress_wd.last_change = now;
	stress_wd.dump = dump;
	pthread_mutex_unlock(&stress_wd.mu);
}

static inline void
stress_watchdog_disarm(void)
{
	pthread_mutex_lock(&stress_wd.mu);
	stress_wd.armed = false;
	pthread_mutex_unlock(&stress_wd.mu);
}

/* ------------------------------------------------------------------ */
/* Threads                                                              */

static inline void
stress_thread_create(pthread_t *t, void *(*fn)(void *), void *arg)
{
	int rc = pthread_create(t, NULL, fn, arg);

	if (rc != 0) {
		fprintf(stderr, "pthread_create: %s\n", strerror(rc));
		exit(2);
	}
}

/* A short random pause: none, a few spins, a yield, or a short sleep. */
static inline void
stress_jitter(struct stress_rng *r)
{
	switch (stress_rng_below(r, 8)) {
	case 0:
	case 1:
	case 2:
		break;
	case 3:
	case 4:
		for (uint64_t i = stress_rng_below(r, 256); i > 0; i--)
			atomic_signal_fence(memory_order_seq_cst);
		break;
	case 5:
	case 6:
		sched_yield();
		break;
	default:
		stress_sleep_us((long)stress_rng_below(r, 50));
		break;
	}
}

#endif /* BATON_TESTS_STRESS_H */
