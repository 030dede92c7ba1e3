/*
 * bench_pipeline.c - shareable futures travelling through a queue while
 * pending: the examples/pipeline.c hand-off, measured against plain C.
 *
 *	bench_pipeline [--items N] [--runs R] [--capacity C] [--workers W]
 *		       [--samples S] [--hold H]
 *
 * N items per pipeline run (default 1,000,000, times BENCH_SCALE percent
 * from the environment), R runs (default 5), a queue of C (default 1024),
 * pools of W workers (default 2), S spawn+await samples per system
 * (default 20,000 x BENCH_SCALE%), H futures held pending in the measured
 * memory step (default 100,000).
 *
 * Output, on stdout and nothing else:
 *	bench<TAB>name<TAB>system<TAB>value<TAB>unit
 *	ratio<TAB>name<TAB>baton/baseline<TAB>x.xx
 * except that the strict-versus-shareable ratio is labelled future/strict.
 * Throughput ratios: higher is better for baton; time and memory ratios:
 * lower is better.  Diagnostics (every run, the targets) go to stderr.
 * Exits non-zero if any value comes back wrong, any call fails, or a
 * watchdog sees a hang.
 *
 * What is measured
 * ================
 * (a) pipeline_throughput: one producer thread, one consumer thread, a
 *     bounded queue of C, a pool of W workers.
 *       baton        baton_future_start (trivial body) + baton_queue_push
 *                    of the pending future; baton_queue_pop +
 *                    baton_future_take(BATON_INFINITY) + unref.  An
 *                    unbounded take runs a still-queued body itself.
 *       baton_timed  the same with take(BATON_DEFAULT_TIMEOUT): a timed
 *                    wait never runs the body, so a worker always does.
 *       baseline     baseline_pool.c (mutex+condvar job FIFO, a
 *                    mutex+condvar result cell per job) + baseline_queue.c
 *                    (mutex+condvar ring): submit + push the pending job;
 *                    pop + baseline_job_wait.  Its cell is single-waiter
 *                    and not refcounted: lighter than a shareable future.
 *     items/s = N / (earliest thread start .. consumer end), median of R,
 *     the systems' order rotating every run.  The consumer checks every
 *     value, in order.
 * (b) spawn_await: one spawn and its wait at a time on the same pool:
 *     baton_task_async_opts + baton_task_await (strict) against
 *     baton_future_start + baton_future_take + baton_future_unref
 *     (future), with BATON_INFINITY and with BATON_DEFAULT_TIMEOUT
 *     (_timed).  Median ns per op over S samples in R rounds.
 * (c) memory.  pending_future_heap_bytes: the pool's workers are held on a
 *     gate, and futures (jobs) are started that stay queued: first 2H,
 *     which use up the free cells earlier phases left (cells are never
 *     returned to malloc), then H more; heap in use (mallinfo2, every
 *     arena) and RSS are read around each step, and the second step's
 *     growth / H is reported.
 *     pipeline_mallocs_per_item: a pipeline run of N with malloc, calloc,
 *     realloc, aligned_alloc and free counted (this executable defines
 *     them, forwarding to glibc's __libc_* entry points) while the consumer
 *     takes items N/10 .. N - 2C: steady state, after a warm-up, before
 *     the drain.  Counting is off during the timed runs.  Sanitizer
 *     builds keep their own allocator and report no (c) lines.
 *
 * Who frees what: main owns the pools, queues and arrays; the consumer
 * releases every future (job) it pops; values are integers.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "baton/future.h"
#include "baton/pool.h"
#include "baton/queue.h"
#include "baton/task.h"

#include "baseline_pool.h"
#include "baseline_queue.h"
#include "bench.h"

#define DEFAULT_ITEMS 1000000
#define DEFAULT_RUNS 5
#define DEFAULT_CAPACITY 1024
#define DEFAULT_WORKERS 2
#define DEFAULT_SAMPLES 20000
#define DEFAULT_HOLD 100000

/* The targets, reported on stderr only. */
#define TARGET_PIPELINE_RATIO 1.5

/* ---- counting allocator ------------------------------------------- */

/*
 * Sanitizers bring their own malloc; replacing it there would break them,
 * so the counts are only taken in plain builds.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define NO_MALLOC_HOOK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define NO_MALLOC_HOOK 1
#endif
#endif

static atomic_bool counting;
static atomic_ulong n_allocs, n_frees;

#ifndef NO_MALLOC_HOOK
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void *__libc_memalign(size_t align, size_t size);
extern void __libc_free(void *p);

/* relaxed: the flag changes only at window edges; counts order nothing. */
#define COUNT(c)                                                          \
	do {                                                              \
		if (atomic_load_explicit(&counting, memory_order_relaxed)) \
			atomic_fetch_add_explicit(&(c), 1,                \
						  memory_order_relaxed);  \
	} while (0)

void *
malloc(size_t size)
{
	COUNT(n_allocs);
	return __libc_malloc(size);
}

void *
calloc(size_t n, size_t size)
{
	COUNT(n_allocs);
	return __libc_calloc(n, size);
}

void *
realloc(void *p, size_t size)
{
	COUNT(n_allocs);
	return __libc_realloc(p, size);
}

void *
aligned_alloc(size_t align, size_t size)
{
	COUNT(n_allocs);
	return __libc_memalign(align, size);
}

void
free(void *p)
{
	if (p != NULL)
		COUNT(n_frees);
	__libc_free(p);
}
#endif

/* ---- common ------------------------------------------------------- */

enum psys { P_BATON, P_BATON_TIMED, P_BASELINE, NPIPE };
static const char *const pipe_names[NPIPE] = { "baton", "baton_timed",
					       "baseline" };

enum lsys { L_STRICT, L_FUTURE, L_STRICT_TIMED, L_FUTURE_TIMED, NLAT };
static const char *const lat_names[NLAT] = { "strict", "future",
					     "strict_timed", "future_timed" };

static baton_pool *pool;
static baseline_pool *bpool;
static struct baton_task_opts opts;

/* ---- (a) the pipeline --------------------------------------------- */

struct pipeline {
	enum psys sys;
	size_t n, capacity;
	baton_queue *bq;
	baseline_queue *lq;
	pthread_barrier_t go;
	uint64_t t_producer, t_consumer, t_end;
	/* The malloc-count window, in items taken (0: none). */
	size_t win_from, win_to;
	unsigned long allocs, frees;
};

static void *
producer(void *arg)
{
	struct pipeline *p = arg;
	const char *name = pipe_names[p->sys];
	baseline_job *j;
	baton_future *f;
	int rc;

	pthread_barrier_wait(&p->go);
	p->t_producer = now_ns();
	for (uintptr_t i = 1; i <= p->n; i++) {
		if (p->sys == P_BASELINE) {
			rc = baseline_pool_submit(bpool, body, (void *)i, &j);
			if (rc != 0)
				die("submit", name, rc);
			if ((rc = baseline_queue_push(p->lq, j)) != 0)
				die("push", name, rc);
		} else {
			rc = baton_future_start(&f, body, (void *)i, &opts);
			if (rc != 0)
				die("future_start", name, rc);
			if ((rc = baton_queue_push(p->bq, f)) != 0)
				die("push", name, rc);
		}
	}
	rc = p->sys == P_BASELINE ? baseline_queue_close(p->lq)
				  : baton_queue_close(p->bq);
	if (rc != 0)
		die("close", name, rc);
	return NULL;
}

static void *
consumer(void *arg)
{
	struct pipeline *p = arg;
	const char *name = pipe_names[p->sys];
	int timeout = p->sys == P_BATON ? BATON_INFINITY
					: BATON_DEFAULT_TIMEOUT;
	uintptr_t taken = 0;
	void *item, *v;
	int rc;

	pthread_barrier_wait(&p->go);
	p->t_consumer = now_ns();
	for (;;) {
		v = NULL;
		if (p->sys == P_BASELINE) {
			if ((rc = baseline_queue_pop(p->lq, &item)) != 0)
				break;
			baseline_job_wait(item, &v);
		} else {
			if ((rc = baton_queue_pop(p->bq, &item)) != 0)
				break;
			rc = baton_future_take(item, timeout, &v, NULL);
			if (rc != 0)
				die("take", name, rc);
			baton_future_unref(item);
		}
		if (v != (void *)++taken) {
			fprintf(stderr, "bench_pipeline: %s: item %ju came "
				"back as %ju\n", name, (uintmax_t)taken,
				(uintmax_t)(uintptr_t)v);
			exit(1);
		}
		if (taken == p->win_from) {
			atomic_store(&n_allocs, 0);
			atomic_store(&n_frees, 0);
			atomic_store(&counting, true);
		} else if (taken == p->win_to) {
			atomic_store(&counting, false);
			p->allocs = atomic_load(&n_allocs);
			p->frees = atomic_load(&n_frees);
		}
	}
	p->t_end = now_ns();
	if (rc != -EPIPE)
		die("pop", name, rc);
	if (taken != p->n) {
		fprintf(stderr, "bench_pipeline: %s: %ju of %zu items came "
			"through\n", name, (uintmax_t)taken, p->n);
		exit(1);
	}
	return NULL;
}

/* One pipeline run; returns items/s. */
static double
pipeline(struct pipeline *p)
{
	const char *name = pipe_names[p->sys];
	pthread_t prod, cons;
	int rc;

	if (p->sys == P_BASELINE)
		rc = baseline_queue_create(&p->lq, p->capacity);
	else
		rc = baton_queue_create(&p->bq, p->capacity,
					baton_future_release);
	if (rc != 0)
		die("queue_create", name, rc);
	pthread_barrier_init(&p->go, NULL, 2);
	if ((rc = pthread_create(&cons, NULL, consumer, p)) != 0 ||
	    (rc = pthread_create(&prod, NULL, producer, p)) != 0)
		die("pthread_create", name, rc);
	if ((rc = pthread_join(prod, NULL)) != 0 ||
	    (rc = pthread_join(cons, NULL)) != 0)
		die("pthread_join", name, rc);
	pthread_barrier_destroy(&p->go);
	baseline_queue_destroy(p->lq);
	baton_queue_destroy(p->bq);
	p->lq = NULL;
	p->bq = NULL;
	return (double)p->n * 1e9 /
	    (double)(p->t_end - (p->t_producer < p->t_consumer
				     ? p->t_producer
				     : p->t_consumer));
}

static void
throughputs(size_t n, size_t capacity, unsigned runs)
{
	double rates[NPIPE][runs], med[NPIPE];
	struct pipeline p;

	watch("pipeline_throughput");
	/* Warm-up, unmeasured. */
	for (int s = 0; s < NPIPE; s++) {
		p = (struct pipeline){ .sys = s, .n = n / 10 + 1,
				       .capacity = capacity };
		(void)pipeline(&p);
	}
	for (unsigned r = 0; r < runs; r++) {
		for (int k = 0; k < NPIPE; k++) {
			int s = (k + (int)r) % NPIPE;

			p = (struct pipeline){ .sys = s, .n = n,
					       .capacity = capacity };
			rates[s][r] = pipeline(&p);
		}
	}
	watch(NULL);
	for (int s = 0; s < NPIPE; s++) {
		fprintf(stderr, "# pipeline %-12s", pipe_names[s]);
		for (unsigned r = 0; r < runs; r++)
			fprintf(stderr, " %9.0f", rates[s][r]);
		med[s] = median(rates[s], runs);
		fprintf(stderr, " items/s\n");
		printf("bench\tpipeline_throughput\t%s\t%.0f\titems/s\n",
		       pipe_names[s], med[s]);
	}
	printf("ratio\tpipeline_throughput\tbaton/baseline\t%.2f\n",
	       med[P_BATON] / med[P_BASELINE]);
	printf("ratio\tpipeline_throughput_timed\tbaton/baseline\t%.2f\n",
	       med[P_BATON_TIMED] / med[P_BASELINE]);
	fprintf(stderr, "# target: pipeline >= %.1fx baseline: baton %s "
		"(%.2fx), baton_timed %s (%.2fx)\n", TARGET_PIPELINE_RATIO,
		med[P_BATON] >= TARGET_PIPELINE_RATIO * med[P_BASELINE]
		    ? "met" : "MISSED", med[P_BATON] / med[P_BASELINE],
		med[P_BATON_TIMED] >= TARGET_PIPELINE_RATIO * med[P_BASELINE]
		    ? "met" : "MISSED", med[P_BATON_TIMED] / med[P_BASELINE]);
	fflush(stdout);
}

/* ---- (b) strict task vs shareable future -------------------------- */

static uint64_t
one(enum lsys s, uintptr_t i)
{
	int timeout = s == L_STRICT || s == L_FUTURE ? BATON_INFINITY
						     : BATON_DEFAULT_TIMEOUT;
	void *arg = (void *)(i + 1), *v = NULL;
	baton_future *f;
	baton_task t;
	uint64_t t0, t1;
	int rc;

	t0 = now_ns();
	if (s == L_STRICT || s == L_STRICT_TIMED) {
		if ((rc = baton_task_async_opts(&t, body, arg, &opts)) != 0)
			die("async", lat_names[s], rc);
		if ((rc = baton_task_await(&t, timeout, &v, NULL)) != 0)
			die("await", lat_names[s], rc);
	} else {
		if ((rc = baton_future_start(&f, body, arg, &opts)) != 0)
			die("future_start", lat_names[s], rc);
		if ((rc = baton_future_take(f, timeout, &v, NULL)) != 0)
			die("take", lat_names[s], rc);
		baton_future_unref(f);
	}
	t1 = now_ns();
	if (v != arg) {
		fprintf(stderr, "bench_pipeline: %s returned a wrong value\n",
			lat_names[s]);
		exit(1);
	}
	return t1 - t0;
}

static void
latency(size_t n, unsigned runs)
{
	size_t per = n / runs, count = per * runs;
	uint64_t *samples[NLAT], med[NLAT];

	for (int s = 0; s < NLAT; s++) {
		if ((samples[s] = malloc(count * sizeof(uint64_t))) == NULL)
			die("malloc", "samples", -ENOMEM);
	}
	watch("spawn_await");
	for (int s = 0; s < NLAT; s++) {
		for (uintptr_t i = 0; i < 1000; i++)
			(void)one(s, i);
	}
	for (unsigned r = 0; r < runs; r++) {
		for (int k = 0; k < NLAT; k++) {
			int s = (k + (int)r) % NLAT;

			for (size_t i = 0; i < per; i++)
				samples[s][r * per + i] = one(s, i);
		}
	}
	watch(NULL);
	for (int s = 0; s < NLAT; s++) {
		qsort(samples[s], count, sizeof(uint64_t), cmp_u64);
		med[s] = samples[s][count / 2];
		fprintf(stderr, "# spawn_await %-13s min %6" PRIu64 "  p50 %6"
			PRIu64 "  p90 %6" PRIu64 "  p99 %7" PRIu64 " ns\n",
			lat_names[s], samples[s][0], med[s],
			samples[s][count * 9 / 10],
			samples[s][count * 99 / 100]);
		printf("bench\tspawn_await_median\t%s\t%" PRIu64 "\tns\n",
		       lat_names[s], med[s]);
		free(samples[s]);
	}
	printf("ratio\tspawn_await_future_vs_strict\tfuture/strict\t%.2f\n",
	       (double)med[L_FUTURE] / (double)med[L_STRICT]);
	printf("ratio\tspawn_await_future_vs_strict_timed\tfuture/strict\t"
	       "%.2f\n", (double)med[L_FUTURE_TIMED] /
	       (double)med[L_STRICT_TIMED]);
	fflush(stdout);
}

/* ---- (c) memory ----------------------------------------------------- */

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static bool gate_open;
static unsigned gate_held;

/* Holds a worker until the gate opens. */
static void *
gate_body(void *arg)
{
	pthread_mutex_lock(&gate_lock);
	gate_held++;
	pthread_cond_broadcast(&gate_cv);
	while (!gate_open)
		pthread_cond_wait(&gate_cv, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
	return arg;
}

static void
gate_wait_held(unsigned n)
{
	pthread_mutex_lock(&gate_lock);
	while (gate_held < n)
		pthread_cond_wait(&gate_cv, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
}

static void
gate_set(bool open)
{
	pthread_mutex_lock(&gate_lock);
	gate_open = open;
	if (!open)
		gate_held = 0;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_lock);
}

static size_t
heap_in_use(void)
{
	struct mallinfo2 m = mallinfo2(); /* sums every arena */

	return m.uordblks + m.hblkhd;
}

static size_t
rss_bytes(void)
{
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f != NULL) {
		if (fscanf(f, "%lu %lu", &size, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return resident * (size_t)sysconf(_SC_PAGESIZE);
}

/*
 * Holds 2h, then h more pending futures (jobs) on a pool whose workers
 * wait at the gate; returns the heap growth per future of the last h and
 * sets *rss to their RSS growth per future.
 */
static double
pending_bytes(bool baton, size_t h, unsigned workers, double *rss)
{
	const char *name = baton ? "baton" : "baseline";
	size_t total = 3 * h, from[3] = { 0, 2 * h, 3 * h };
	baton_future **futures = calloc(total, sizeof(*futures));
	baseline_job **jobs = calloc(total, sizeof(*jobs));
	baton_future *blockers[64];
	baseline_job *bjobs[64];
	size_t heap[3], res[3], pending = 0;
	void *v;
	int rc;

	if (futures == NULL || jobs == NULL)
		die("calloc", name, -ENOMEM);
	gate_set(false);
	for (unsigned w = 0; w < workers; w++) {
		rc = baton ? baton_future_start(&blockers[w], gate_body, NULL,
						&opts)
			   : baseline_pool_submit(bpool, gate_body, NULL,
						  &bjobs[w]);
		if (rc != 0)
			die("start blocker", name, rc);
	}
	gate_wait_held(workers);
	for (int step = 0; step < 3; step++) {
		heap[step] = heap_in_use();
		res[step] = rss_bytes();
		if (step == 2)
			break;
		for (size_t i = from[step]; i < from[step + 1]; i++) {
			rc = baton ? baton_future_start(&futures[i], body,
							(void *)(i + 1), &opts)
				   : baseline_pool_submit(bpool, body,
							  (void *)(i + 1),
							  &jobs[i]);
			if (rc != 0)
				die("start", name, rc);
		}
	}
	for (size_t i = 0; baton && i < total; i++)
		pending += !baton_future_is_done(futures[i]);
	gate_set(true);
	for (unsigned w = 0; w < workers; w++) {
		if (baton) {
			if ((rc = baton_future_wait(blockers[w],
						    BATON_INFINITY)) != 0)
				die("wait blocker", name, rc);
			baton_future_unref(blockers[w]);
		} else {
			baseline_job_wait(bjobs[w], &v);
		}
	}
	for (size_t i = 0; i < total; i++) {
		v = NULL;
		if (baton) {
			rc = baton_future_take(futures[i], BATON_INFINITY, &v,
					       NULL);
			if (rc != 0)
				die("take", name, rc);
			baton_future_unref(futures[i]);
		} else {
			baseline_job_wait(jobs[i], &v);
		}
		if (v != (void *)(i + 1))
			die("take: wrong value from", name, -EINVAL);
	}
	fprintf(stderr, "# pending %-8s heap +%zu then +%zu bytes, RSS +%zu "
		"then +%zu bytes, for %zu then %zu %s\n", name,
		heap[1] - heap[0], heap[2] - heap[1], res[1] - res[0],
		res[2] - res[1], 2 * h, h, baton ? "futures" : "jobs");
	if (baton)
		fprintf(stderr, "# pending baton    %zu of %zu futures still "
			"pending when counted\n", pending, total);
	free(futures);
	free(jobs);
	*rss = (double)(res[2] - res[1]) / (double)h;
	return (double)(heap[2] - heap[1]) / (double)h;
}

static void
memory(size_t h, unsigned workers)
{
	double bytes[2], rss[2];

	watch("pending_future_bytes");
	bytes[0] = pending_bytes(true, h, workers, &rss[0]);
	bytes[1] = pending_bytes(false, h, workers, &rss[1]);
	watch(NULL);
#ifdef NO_MALLOC_HOOK
	fprintf(stderr, "# pending_future_*_bytes: not reported (sanitizer "
		"build: its allocator and shadow memory distort both)\n");
	return;
#endif
	printf("bench\tpending_future_heap_bytes\tbaton\t%.1f\tbytes\n",
	       bytes[0]);
	printf("bench\tpending_future_heap_bytes\tbaseline\t%.1f\tbytes\n",
	       bytes[1]);
	printf("ratio\tpending_future_heap_bytes\tbaton/baseline\t%.2f\n",
	       bytes[0] / bytes[1]);
	printf("bench\tpending_future_rss_bytes\tbaton\t%.1f\tbytes\n",
	       rss[0]);
	printf("bench\tpending_future_rss_bytes\tbaseline\t%.1f\tbytes\n",
	       rss[1]);
	fflush(stdout);
}

static void
mallocs(size_t n, size_t capacity)
{
	static const enum psys systems[] = { P_BATON, P_BASELINE };
	struct baton_pool_stats st;
	struct pipeline p;

#ifdef NO_MALLOC_HOOK
	(void)n;
	(void)capacity;
	(void)systems;
	(void)st;
	(void)p;
	fprintf(stderr, "# pipeline_mallocs_per_item: skipped (sanitizer "
		"build: its allocator is not replaced)\n");
	return;
#else
	watch("pipeline_mallocs_per_item");
	for (size_t k = 0; k < sizeof(systems) / sizeof(systems[0]); k++) {
		enum psys s = systems[k];
		size_t window;

		p = (struct pipeline){ .sys = s, .n = n, .capacity = capacity,
				       .win_from = n / 10,
				       .win_to = n - 2 * capacity };
		(void)pipeline(&p);
		window = p.win_to - p.win_from;
		fprintf(stderr, "# mallocs %-8s %lu allocations, %lu frees "
			"while items %zu..%zu were taken\n", pipe_names[s],
			p.allocs, p.frees, p.win_from, p.win_to);
		if (s == P_BATON && baton_pool_stats(pool, &st) == 0)
			fprintf(stderr, "# mallocs baton    %zu futures still "
				"live in the pool just after the run\n"
				"# target: no allocation in the steady state: "
				"baton %s\n", st.live,
				p.allocs == 0 ? "met" : "MISSED");
		printf("bench\tpipeline_mallocs_per_item\t%s\t%.6f\t"
		       "mallocs/item\n", pipe_names[s],
		       (double)p.allocs / (double)window);
		printf("bench\tpipeline_frees_per_item\t%s\t%.6f\tfrees/item\n",
		       pipe_names[s], (double)p.frees / (double)window);
	}
	watch(NULL);
	fflush(stdout);
#endif
}

/* ---- main ----------------------------------------------------------- */

static void
usage(FILE *f)
{
	fprintf(f, "usage: bench_pipeline [--items N] [--runs R] "
		"[--capacity C] [--workers W]\n"
		"                      [--samples S] [--hold H]\n"
		"defaults: N = %d x BENCH_SCALE%%, R = %d, C = %d, W = %d, "
		"S = %d x BENCH_SCALE%%, H = %d\n", DEFAULT_ITEMS,
		DEFAULT_RUNS, DEFAULT_CAPACITY, DEFAULT_WORKERS,
		DEFAULT_SAMPLES, DEFAULT_HOLD);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "items", required_argument, NULL, 'n' },
		{ "runs", required_argument, NULL, 'r' },
		{ "capacity", required_argument, NULL, 'c' },
		{ "workers", required_argument, NULL, 'w' },
		{ "samples", required_argument, NULL, 's' },
		{ "hold", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long n = 0, samples = 0, scale;
	unsigned long long capacity = DEFAULT_CAPACITY, hold = DEFAULT_HOLD;
	unsigned runs = DEFAULT_RUNS, workers = DEFAULT_WORKERS;
	uint64_t t0;
	int opt, rc;

	bench_program = "bench_pipeline";
	while ((opt = getopt_long(argc, argv, "n:r:c:w:s:H:h", longopts,
				  NULL)) != -1) {
		switch (opt) {
		case 'n':
			n = parse_num("--items", optarg, 1, 1ULL << 40);
			break;
		case 'r':
			runs = (unsigned)parse_num("--runs", optarg, 1, 1000);
			break;
		case 'c':
			capacity = parse_num("--capacity", optarg, 1,
					     BATON_QUEUE_MAX_CAPACITY);
			break;
		case 'w':
			workers = (unsigned)parse_num("--workers", optarg, 1,
						      64);
			break;
		case 's':
			samples = parse_num("--samples", optarg, 1,
					    100000000);
			break;
		case 'H':
			hold = parse_num("--hold", optarg, 1, 100000000);
			break;
		case 'h':
			usage_exit(usage, 0);
		default:
			usage_exit(usage, 2);
		}
	}
	if (optind != argc)
		usage_exit(usage, 2);
	scale = bench_scale();
	if (n == 0)
		n = DEFAULT_ITEMS * scale / 100;
	if (samples == 0)
		samples = DEFAULT_SAMPLES * scale / 100;
	if (samples < runs)
		samples = runs;
	/* The malloc window needs room after a warm-up and before the drain. */
	if (n < 20 * capacity + 20)
		n = 20 * capacity + 20;

	watchdog_init();

	if ((rc = baton_pool_create(&pool, workers)) != 0)
		die("pool_create", "baton", rc);
	if ((rc = baseline_pool_create(&bpool, workers)) != 0)
		die("pool_create", "baseline", rc);
	opts.pool = pool;
	fprintf(stderr, "# bench_pipeline: %llu items per run, queue of %llu, "
		"pools of %u workers, %u runs, %llu spawn+await samples, "
		"%llu pending per memory step, %ld CPUs online\n", n,
		capacity, workers, runs, samples, hold,
		sysconf(_SC_NPROCESSORS_ONLN));
	print_load("start", false);
	t0 = now_ns();

	/* First, from a cold start: the steady state must not allocate. */
	mallocs(n, capacity);
	memory(hold, workers);
	throughputs(n, capacity, runs);
	latency(samples, runs);

	fprintf(stderr, "# measured for %.1f s\n",
		(double)(now_ns() - t0) / 1e9);
	print_load("end", false);
	baton_pool_destroy(pool);
	baseline_pool_destroy(bpool);
	return 0;
}
