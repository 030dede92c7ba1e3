/*
 * task_storm.c - a storm of strict tasks on the default pool, then a check
 * that the process comes back to where it started: no thread, no task,
 * no value and (without a sanitizer) no memory left behind.
 *
 * Every body returns a fresh malloc'd value.  Each value ends in exactly
 * one place: the awaiter takes it (and frees it), or nobody does and the
 * task's destructor frees it.  So after the storm, taken + destroyed must
 * equal the values created, and ASan/TSan watch the frees.
 *
 * Scenarios:
 *   warm_up        a few thousand spawn+await: the default pool exists and
 *                  its workers have run; then the baseline is taken:
 *                  threads (entries of /proc/self/task), RSS
 *                  (/proc/self/statm), the pool's live count (0)
 *   spawn_await    1,000,000 strict tasks with trivial bodies from
 *                  several submitter threads, each spawning a random batch
 *                  of 1-8 and awaiting them in order, with no time limit
 *                  (the awaiter may help) or BATON_DEFAULT_TIMEOUT (it
 *                  never helps)
 *   spawn_shutdown 100,000 spawn+shutdown: bodies that sleep 1-5 us or
 *                  spin, shut down after a random gap (stress_jitter)
 *                  with 0 or 1 ms; shutdown returns the value (0), the
 *                  task's exit (BATON_EXITED/SHUTDOWN: it never ran) or
 *                  -ETIMEDOUT (abandoned: the destructor frees the value)
 *   settle         waits (bounded, polling) until the pool's live count
 *                  is 0 and the thread count is back to the baseline;
 *                  then values created == taken + destroyed, and RSS has
 *                  grown by at most the bound below.  Also printed:
 *                  unrun, the shutdowns that gave -ETIMEDOUT for a body
 *                  that never ran (see main)
 *   private_pools  50 private pools of 4 workers, each running a few
 *                  tasks, each destroyed; the thread count must come back
 *                  to the baseline (no leaked pthreads)
 *
 * The RSS bound.  Cells (the task records, 192 bytes on x86-64) come from
 * 128-cell chunks that baton never returns to malloc, by design
 * (type-stable memory: stale handles stay safe to check), so the storm
 * legitimately leaves behind as many cells as were ever live at once.
 * Spawn+shutdown with 0 ms can queue tasks faster than two workers drain
 * them, so the submitters hold back while the pool has more than
 * BACKLOG_MAX live tasks: that caps the cell high-water mark near
 * BACKLOG_MAX + SUBMITTERS * BACKLOG_CHECK (5,120 cells, 1 MiB).
 * The rest of the 8 MiB allowance covers malloc's arenas (values are
 * freed by other threads than the ones that allocated them, and glibc
 * keeps freed memory for reuse), cached thread stacks and page-granular
 * rounding.  The measured high-water mark (sampled) is printed with the
 * bound.  Under ASan (quarantine) and TSan (shadow memory) RSS says
 * nothing about leaks: it is printed, not checked; LeakSanitizer checks
 * the exit instead.
 */
#include <baton.h>

#include <dirent.h>

#include "stress.h"

#if defined(__SANITIZE_ADDRESS__)
#define STORM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STORM_ASAN 1
#endif
#endif
#ifndef STORM_ASAN
#define STORM_ASAN 0
#endif

#define SUBMITTERS 4
#define RSS_BOUND ((long)8 << 20)
#define BACKLOG_MAX 4096
#define BACKLOG_CHECK 256
#define PRIVATE_POOLS 50
#define PRIVATE_WORKERS 4

static atomic_long created, taken, destroyed;

static void
destroy_value(void *v)
{
	free(v);
	/* relaxed: tallies, read once the pool's live count is 0. */
	atomic_fetch_add_explicit(&destroyed, 1, memory_order_relaxed);
}

static void
take(void *v)
{
	free(v);
	atomic_fetch_add_explicit(&taken, 1, memory_order_relaxed);
}

static void *
new_value(void)
{
	uint64_t *v = malloc(sizeof(*v));

	if (v == NULL) {
		fprintf(stderr, "out of memory\n");
		abort();
	}
	*v = 42;
	atomic_fetch_add_explicit(&created, 1, memory_order_relaxed);
	return v;
}

static void *
trivial_body(void *arg)
{
	(void)arg;
	return new_value();
}

/* arg 1-10: sleep that many microseconds; above: spin that many times. */
static void *
slow_body(void *arg)
{
	uintptr_t how = (uintptr_t)arg;

	if (how > 0 && how <= 10)
		stress_sleep_us((long)how);
	else
		for (volatile uintptr_t i = 0; i < how; i++)
			;
	return new_value();
}

/* ------------------------------------------------------------------ */
/* What the process holds                                               */

static long
thread_count(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	long n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static long
rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size = 0, resident = 0;

	if (f == NULL)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident < 0 ? -1 : resident * sysconf(_SC_PAGESIZE);
}

static size_t
live_tasks(void)
{
	struct baton_pool_stats st;

	if (baton_pool_stats(baton_pool_default(), &st) != 0)
		return (size_t)-1;
	return st.live;
}

/* Polls until the live count is 0; false after limit_s seconds. */
static bool
settle_live(double limit_s, size_t *last)
{
	double until = stress_now() + limit_s;

	while ((*last = live_tasks()) != 0) {
		if (stress_now() > until)
			return false;
		stress_sleep_us(1000);
	}
	return true;
}

/*
 * Polls until the thread count is back to want: a joined thread can stay
 * listed for a moment (join returns when the kernel clears its tid, a
 * little before the task is released).
 */
static bool
settle_threads(long want, double limit_s, long *last)
{
	double until = stress_now() + limit_s;

	/*
	 * At most the baseline: the default pool may have held a thread
	 * beyond its base when the baseline was taken, which retires; a
	 * leaked thread would keep the count above it.
	 */
	while ((*last = thread_count()) > want) {
		if (stress_now() > until)
			return false;
		stress_sleep_us(1000);
	}
	return true;
}

/* ------------------------------------------------------------------ */
/* The storm                                                            */

/* The sampled high-water mark of the pool's live count. */
static atomic_size_t live_hwm;

static void
note_live(size_t live)
{
	size_t old = atomic_load_explicit(&live_hwm, memory_order_relaxed);

	/* relaxed: a statistic. */
	while (live > old &&
	       !atomic_compare_exchange_weak_explicit(&live_hwm, &old, live,
						      memory_order_relaxed,
						      memory_order_relaxed))
		;
}

/* Holds back while the pool has more than BACKLOG_MAX live tasks. */
static void
throttle(void)
{
	size_t live;

	while ((live = live_tasks()) > BACKLOG_MAX) {
		note_live(live);
		stress_sleep_us(50);
	}
	note_live(live);
}

struct submitter {
	pthread_t thread;
	int id;
	long rounds;
	uint64_t seed;
	/* Outcomes, read after the join. */
	long ok, exited, timed_out, other, spawn_failed;
};

static void *
spawn_await_main(void *arg)
{
	struct submitter *s = arg;
	struct baton_task_opts o = { .destroy = destroy_value };
	struct stress_rng rng;
	long done = 0;

	stress_rng_init(&rng, s->seed, (uint64_t)s->id + 100);
	while (done < s->rounds) {
		baton_task t[8];
		int n = 1 + (int)stress_rng_below(&rng, 8);
		int spawned = 0;

		if (n > s->rounds - done)
			n = (int)(s->rounds - done);
		for (int i = 0; i < n; i++) {
			if (baton_task_async_opts(&t[spawned], trivial_body,
						  NULL, &o) == 0)
				spawned++;
			else
				s->spawn_failed++;
		}
		for (int i = 0; i < spawned; i++) {
			int ms = stress_rng_below(&rng, 2)
			    ? BATON_INFINITY : BATON_DEFAULT_TIMEOUT;
			void *v;
			int r = baton_task_await(&t[i], ms, &v, NULL);

			if (r == 0) {
				take(v);
				s->ok++;
			} else if (r == -ETIMEDOUT) {
				s->timed_out++; /* legal; the value is freed */
			} else {
				s->other++;
				stress_fail("spawn_await: await gave %d", r);
			}
		}
		done += n;
		stress_progress_add((unsigned long)n);
		if (done / BACKLOG_CHECK != (done - n) / BACKLOG_CHECK)
			note_live(live_tasks());
	}
	return NULL;
}

static void *
spawn_shutdown_main(void *arg)
{
	struct submitter *s = arg;
	struct baton_task_opts o = { .destroy = destroy_value };
	struct stress_rng rng;

	stress_rng_init(&rng, s->seed, (uint64_t)s->id + 200);
	for (long i = 0; i < s->rounds; i++) {
		/* half sleep 1-5 us, half spin up to 2000 iterations */
		uintptr_t how = stress_rng_below(&rng, 2)
		    ? 1 + (uintptr_t)stress_rng_below(&rng, 5)
		    : 11 + (uintptr_t)stress_rng_below(&rng, 2000);
		struct baton_exit_reason why;
		baton_task t;
		void *v;
		int r;

		if (i % BACKLOG_CHECK == 0)
			throttle();
		if (baton_task_async_opts(&t, slow_body, (void *)how, &o) !=
		    0) {
			s->spawn_failed++;
			continue;
		}
		/* A random gap: shutdown finds it queued, running or done. */
		stress_jitter(&rng);
		r = baton_task_shutdown(&t, (int)stress_rng_below(&rng, 2), &v,
					&why);
		if (r == 0) {
			take(v);
			s->ok++;
		} else if (r == BATON_NOREPLY) {
			s->exited++; /* shut down: Elixir's nil */
		} else if (r == BATON_EXITED) {
			s->timed_out++; /* still running at the timeout */
			if (why.kind != BATON_EXIT_KILLED)
				stress_fail("spawn_shutdown: exit kind %s",
					    baton_exit_kind_name(why.kind));
		} else if (r == -ETIMEDOUT) {
			s->timed_out++;
		} else {
			s->other++;
			stress_fail("spawn_shutdown: shutdown gave %d", r);
		}
		stress_progress_add(1);
	}
	return NULL;
}

/* Runs the storm; returns how many calls gave -ETIMEDOUT. */
static long
storm(const char *name, void *(*fn)(void *), long total, uint64_t seed)
{
	struct submitter subs[SUBMITTERS];
	long ok = 0, exited = 0, timed_out = 0, other = 0, failed = 0;
	double t0 = stress_now();

	stress_watchdog_arm(name, 120, 30, NULL);
	for (int i = 0; i < SUBMITTERS; i++) {
		subs[i] = (struct submitter){
			.id = i,
			.rounds = total / SUBMITTERS +
			    (i < total % SUBMITTERS ? 1 : 0),
			.seed = seed,
		};
		stress_thread_create(&subs[i].thread, fn, &subs[i]);
	}
	for (int i = 0; i < SUBMITTERS; i++) {
		pthread_join(subs[i].thread, NULL);
		ok += subs[i].ok;
		exited += subs[i].exited;
		timed_out += subs[i].timed_out;
		other += subs[i].other;
		failed += subs[i].spawn_failed;
	}
	stress_watchdog_disarm();
	if (failed > 0)
		stress_fail("%s: %ld spawns failed", name, failed);
	printf("task_storm %-14s tasks=%ld submitters=%d ok=%ld exited=%ld "
	       "timed_out=%ld other=%ld spawn_failed=%ld live_hwm=%zu "
	       "%s %.2fs\n",
	       name, total, SUBMITTERS, ok, exited, timed_out, other, failed,
	       atomic_load(&live_hwm), other == 0 && failed == 0 ? "ok"
							       : "FAILED",
	       stress_now() - t0);
	fflush(stdout);
	return timed_out;
}

/* ------------------------------------------------------------------ */
/* Private pools                                                        */

static void
private_pools(long baseline_threads)
{
	double t0 = stress_now();
	long peak = 0, last, values, k, d;
	bool ok;

	stress_watchdog_arm("private_pools", 120, 30, NULL);
	for (int p = 0; p < PRIVATE_POOLS; p++) {
		struct baton_task_opts o = { .destroy = destroy_value };
		baton_pool *pool;
		baton_task t[8];
		long n;
		int r;

		r = baton_pool_create(&pool, PRIVATE_WORKERS);
		if (r != 0) {
			stress_fail("private_pools: create gave %d", r);
			break;
		}
		o.pool = pool;
		n = thread_count();
		if (n > peak)
			peak = n;
		/* A bounded wait: the bodies run on the pool's workers. */
		for (int i = 0; i < 8; i++)
			if (baton_task_async_opts(&t[i], trivial_body, NULL,
						  &o) != 0)
				stress_fail("private_pools: spawn failed");
		for (int i = 0; i < 8; i++) {
			void *v;

			r = baton_task_await(&t[i], BATON_DEFAULT_TIMEOUT, &v,
					     NULL);
			if (r == 0)
				take(v);
			else if (r != -ETIMEDOUT)
				stress_fail("private_pools: await gave %d",
					    r);
		}
		/* Every other pool is destroyed with tasks still pending. */
		if (p % 2 == 1) {
			for (int i = 0; i < 8; i++)
				if (baton_task_async_opts(&t[i], slow_body,
							  (void *)(uintptr_t)
							      (1 + i % 5),
							  &o) == 0)
					baton_task_ignore(&t[i], NULL, NULL);
		}
		baton_pool_destroy(pool);
		stress_progress_add(1);
	}
	ok = settle_threads(baseline_threads, 10, &last);
	stress_watchdog_disarm();
	if (!ok)
		stress_fail("private_pools: %ld threads after destroying %d "
			    "pools, baseline %ld", last, PRIVATE_POOLS,
			    baseline_threads);
	/* destroy joined every body, and the last unref freed its value. */
	values = atomic_load(&created);
	k = atomic_load(&taken);
	d = atomic_load(&destroyed);
	if (k + d != values) {
		stress_fail("private_pools: %ld taken + %ld destroyed != %ld "
			    "values", k, d, values);
		ok = false;
	}
	printf("task_storm %-14s pools=%d workers=%d peak_threads=%ld "
	       "threads=%ld/%ld values=%ld taken=%ld destroyed=%ld %s "
	       "%.2fs\n",
	       "private_pools", PRIVATE_POOLS, PRIVATE_WORKERS, peak, last,
	       baseline_threads, values, k, d, ok ? "ok" : "FAILED",
	       stress_now() - t0);
}

/* ------------------------------------------------------------------ */

int
main(void)
{
	uint64_t seed = stress_seed();
	long awaits = (long)stress_scaled(1000000, 2000);
	long shutdowns = (long)stress_scaled(100000, 1000);
	long base_threads, base_rss, threads, rss, values, k, d, d0, abandoned;
	size_t live;
	bool live_ok, threads_ok, rss_ok;
	double t0;

	printf("task_storm: seed %" PRIu64 " scale %d%%%s%s\n", seed,
	       stress_scale(), STRESS_TSAN ? " (tsan)" : "",
	       STORM_ASAN ? " (asan)" : "");
	stress_watchdog_start();

	/*
	 * warm_up: the default pool and its workers exist from here on.  It
	 * may add threads while bodies block (or look blocked: preempted on
	 * a loaded machine); a 100 ms keep-alive lets them retire within
	 * settle's wait, so the count still shows leaked threads.
	 */
	t0 = stress_now();
	{
		struct baton_pool_opts po = BATON_POOL_OPTS_INIT;

		po.keep_alive_ms = 100;
		if (baton_pool_set_default_opts(&po) != 0) {
			fprintf(stderr, "cannot size the default pool\n");
			return 2;
		}
	}
	if (baton_pool_default() == NULL) {
		fprintf(stderr, "no default pool\n");
		return 2;
	}
	storm("warm_up", spawn_await_main, 4000, seed);
	if (!settle_live(30, &live))
		stress_fail("warm_up: %zu tasks still live", live);
	base_threads = thread_count();
	base_rss = rss_bytes();
	printf("task_storm %-14s threads=%ld rss=%.1fMiB %s %.2fs\n",
	       "baseline", base_threads, (double)base_rss / (1 << 20),
	       base_threads > 0 && base_rss > 0 ? "ok" : "FAILED",
	       stress_now() - t0);
	if (base_threads <= 0 || base_rss <= 0)
		stress_fail("cannot read /proc/self");
	atomic_store(&live_hwm, 0);

	storm("spawn_await", spawn_await_main, awaits, seed);
	/* Values destroyed from here on: bodies that shutdown abandoned. */
	d0 = atomic_load(&destroyed);
	abandoned = storm("spawn_shutdown", spawn_shutdown_main, shutdowns,
			  seed);

	/* settle */
	t0 = stress_now();
	stress_watchdog_arm("settle", 120, 90, NULL);
	live_ok = settle_live(60, &live);
	threads_ok = settle_threads(base_threads, 10, &threads);
	stress_watchdog_disarm();
	rss = rss_bytes();
	rss_ok = STORM_ASAN || STRESS_TSAN || rss - base_rss <= RSS_BOUND;
	values = atomic_load(&created);
	k = atomic_load(&taken);
	d = atomic_load(&destroyed);
	if (!live_ok)
		stress_fail("settle: %zu tasks still live after 60 s", live);
	if (!threads_ok)
		stress_fail("settle: %ld threads, baseline %ld", threads,
			    base_threads);
	if (k + d != values)
		stress_fail("settle: %ld taken + %ld destroyed != %ld values",
			    k, d, values);
	if (!rss_ok)
		stress_fail("settle: RSS grew by %.1f MiB, bound %.1f MiB",
			    (double)(rss - base_rss) / (1 << 20),
			    (double)RSS_BOUND / (1 << 20));
	/*
	 * unrun: shutdowns that gave -ETIMEDOUT although the body never ran:
	 * a worker had claimed the cell (QUEUED -> RUNNING) just before
	 * shutdown's own claim, then saw the stop and completed it as
	 * SHUTDOWN without the body, after shutdown's 0 ms wait.  Nothing
	 * is lost, so it is reported, not failed.
	 */
	printf("task_storm %-14s live=%zu threads=%ld/%ld values=%ld "
	       "taken=%ld destroyed=%ld abandoned=%ld unrun=%ld "
	       "rss_growth=%.2fMiB bound=%.0fMiB%s live_hwm=%zu %s %.2fs\n",
	       "settle", live, threads, base_threads, values, k, d, abandoned,
	       abandoned - (d - d0),
	       (double)(rss - base_rss) / (1 << 20),
	       (double)RSS_BOUND / (1 << 20),
	       STORM_ASAN || STRESS_TSAN ? "(not checked: sanitizer)" : "",
	       atomic_load(&live_hwm),
	       live_ok && threads_ok && rss_ok && k + d == values ? "ok"
								   : "FAILED",
	       stress_now() - t0);

	private_pools(base_threads);

	stress_watchdog_stop();
	return stress_failed() ? 1 : 0;
}
