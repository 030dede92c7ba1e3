/*
 * bench_task.c - what a strict task costs: spawn+await latency one task at
 * a time, and throughput of many tasks awaited at once, against
 * pthread_create+join and a mutex+condvar thread pool.
 *
 *	bench_task [--iterations N] [--tasks M] [--runs R] [--workers W]
 *
 * N latency samples per system (default 20,000, times BENCH_SCALE percent
 * from the environment), M tasks per throughput run (default 100,000),
 * R rounds / runs (default 5), W workers in the baseline pool (default:
 * online CPUs, as baton's default pool has).
 *
 * Output, on stdout and nothing else:
 *	bench<TAB>name<TAB>system<TAB>value<TAB>unit
 *	ratio<TAB>name<TAB>baton/baseline<TAB>x.xx
 * Latency ratios are baton's median time over the other system's: LOWER is
 * better for baton (0.50: baton takes half the time).  Throughput ratios are
 * baton's tasks/s over the baseline's: HIGHER is better.  Diagnostics go to
 * stderr.  Exits non-zero if any task's value comes back wrong, any call
 * fails, or the run hangs.
 *
 * Systems
 * =======
 *   baton           baton_task_async on the default pool, then
 *                   baton_task_await(BATON_DEFAULT_TIMEOUT): a timed await
 *                   never runs the task itself, so a worker runs it.
 *   baton_infinity  the same with BATON_INFINITY: an awaiter that finds the
 *                   task still queued runs it itself (helping), so this
 *                   mostly measures the task running on the caller.
 *   pthread         pthread_create + pthread_join per task (latency only).
 *   baseline        baseline_pool.c: W workers, one mutex+condvar job FIFO,
 *                   a mutex+condvar result cell per job.
 *
 * Design notes
 * ============
 * Latency: each sample times one spawn and its await with CLOCK_MONOTONIC
 * (the clock read, ~20 ns, is inside every sample alike).  Samples are
 * taken in R rounds; each round runs N/R samples per system, the order of
 * systems rotating every round so drifting noise hits them all.  We report
 * the median and the 90th percentile of all N samples.
 *
 * Throughput: M spawns, then one await_many (baton) or M waits in order
 * (baseline), timed as a whole; tasks/s = M / time, median of R runs, the
 * systems alternating.  The task body returns its argument; every value is
 * checked after the clock stops.  An unmeasured warm-up precedes all.
 */
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "baton/task.h"

#include "baseline_pool.h"
#include "bench.h"

#define DEFAULT_ITERATIONS 20000
#define DEFAULT_TASKS 100000
#define DEFAULT_RUNS 5

/* Targets from the issue, reported on stderr only. */
#define TARGET_LATENCY_NS 1000.0
#define TARGET_THROUGHPUT 4e6

enum lat_system { L_BATON, L_BATON_INF, L_PTHREAD, L_BASELINE, NLAT };
static const char *const lat_names[NLAT] = { "baton", "baton_infinity",
					     "pthread", "baseline" };

enum tp_system { T_BATON, T_BATON_INF, T_BASELINE, NTP };
static const char *const tp_names[NTP] = { "baton", "baton_infinity",
					   "baseline" };

static baseline_pool *bpool;

/* One spawn+await on system s; returns the nanoseconds it took. */
static uint64_t
one(enum lat_system s, uintptr_t i)
{
	void *arg = (void *)(i + 1), *v = NULL;
	uint64_t t0, t1;
	baton_task t;
	baseline_job *j;
	pthread_t th;
	int rc;

	t0 = now_ns();
	switch (s) {
	case L_BATON:
	case L_BATON_INF:
		if ((rc = baton_task_async(&t, body, arg)) != 0)
			die("async", lat_names[s], rc);
		rc = baton_task_await(&t, s == L_BATON ? BATON_DEFAULT_TIMEOUT
						       : BATON_INFINITY,
				      &v, NULL);
		if (rc != 0)
			die("await", lat_names[s], rc);
		break;
	case L_PTHREAD:
		if ((rc = pthread_create(&th, NULL, body, arg)) != 0)
			die("pthread_create", lat_names[s], rc);
		if ((rc = pthread_join(th, &v)) != 0)
			die("pthread_join", lat_names[s], rc);
		break;
	default:
		if ((rc = baseline_pool_submit(bpool, body, arg, &j)) != 0)
			die("submit", lat_names[s], rc);
		baseline_job_wait(j, &v);
		break;
	}
	t1 = now_ns();
	if (v != arg) {
		fprintf(stderr, "bench_task: %s returned a wrong value\n",
			lat_names[s]);
		exit(1);
	}
	return t1 - t0;
}

/* M tasks spawned, then all awaited; returns tasks/s. */
static double
throughput(enum tp_system s, size_t m, baton_task *tasks, void **values,
	   baseline_job **jobs)
{
	uint64_t t0, t1;
	size_t failed = 0;
	int rc;

	t0 = now_ns();
	if (s == T_BASELINE) {
		for (size_t i = 0; i < m; i++) {
			rc = baseline_pool_submit(bpool, body,
						  (void *)(uintptr_t)(i + 1),
						  &jobs[i]);
			if (rc != 0)
				die("submit", tp_names[s], rc);
		}
		for (size_t i = 0; i < m; i++)
			baseline_job_wait(jobs[i], &values[i]);
	} else {
		for (size_t i = 0; i < m; i++) {
			rc = baton_task_async(&tasks[i], body,
					      (void *)(uintptr_t)(i + 1));
			if (rc != 0)
				die("async", tp_names[s], rc);
		}
		rc = baton_task_await_many(tasks, m,
					   s == T_BATON ? BATON_DEFAULT_TIMEOUT
							: BATON_INFINITY,
					   values, &failed, NULL);
		if (rc != 0) {
			fprintf(stderr, "bench_task: await_many failed at "
				"task %zu of %zu\n", failed, m);
			die("await_many", tp_names[s], rc);
		}
	}
	t1 = now_ns();
	for (size_t i = 0; i < m; i++) {
		if (values[i] != (void *)(uintptr_t)(i + 1)) {
			fprintf(stderr, "bench_task: %s: task %zu returned a "
				"wrong value\n", tp_names[s], i);
			exit(1);
		}
	}
	return (double)m * 1e9 / (double)(t1 - t0);
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: bench_task [--iterations N] [--tasks M] "
		"[--runs R] [--workers W]\n"
		"defaults: N = %d x BENCH_SCALE%%, M = %d, R = %d, "
		"W = online CPUs\n", DEFAULT_ITERATIONS, DEFAULT_TASKS,
		DEFAULT_RUNS);
}

static void
latency(size_t n, unsigned runs)
{
	uint64_t *samples[NLAT], med[NLAT];
	size_t per = n / runs, count = per * runs;

	for (int s = 0; s < NLAT; s++) {
		if ((samples[s] = malloc(count * sizeof(uint64_t))) == NULL) {
			fprintf(stderr, "bench_task: out of memory\n");
			exit(1);
		}
	}
	watch("spawn_await_latency");
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
		med[s] = quantile(samples[s], count, 0.5);
		fprintf(stderr, "# latency %-15s min %6" PRIu64 "  p50 %6"
			PRIu64 "  p90 %6" PRIu64 "  p99 %7" PRIu64 "  max %8"
			PRIu64 " ns (%zu samples)\n", lat_names[s],
			samples[s][0], med[s],
			quantile(samples[s], count, 0.9),
			quantile(samples[s], count, 0.99),
			samples[s][count - 1], count);
		printf("bench\tspawn_await_latency_median\t%s\t%" PRIu64
		       "\tns\n", lat_names[s], med[s]);
		printf("bench\tspawn_await_latency_p90\t%s\t%" PRIu64 "\tns\n",
		       lat_names[s], quantile(samples[s], count, 0.9));
		free(samples[s]);
	}
	/* Time ratios: lower is better for baton. */
	printf("ratio\tspawn_await_latency\tbaton/baseline\t%.2f\n",
	       (double)med[L_BATON] / (double)med[L_BASELINE]);
	printf("ratio\tspawn_await_latency_vs_pthread\tbaton/baseline\t%.2f\n",
	       (double)med[L_BATON] / (double)med[L_PTHREAD]);
	printf("ratio\tspawn_await_latency_infinity\tbaton/baseline\t%.2f\n",
	       (double)med[L_BATON_INF] / (double)med[L_BASELINE]);
	printf("ratio\tspawn_await_latency_infinity_vs_pthread\t"
	       "baton/baseline\t%.2f\n",
	       (double)med[L_BATON_INF] / (double)med[L_PTHREAD]);
	fprintf(stderr, "# target: median latency < %.0f ns: baton %s, "
		"baton_infinity %s\n", TARGET_LATENCY_NS,
		(double)med[L_BATON] < TARGET_LATENCY_NS ? "met" : "MISSED",
		(double)med[L_BATON_INF] < TARGET_LATENCY_NS ? "met" : "MISSED");
	fflush(stdout);
}

static void
throughputs(size_t m, unsigned runs)
{
	baton_task *tasks = calloc(m, sizeof(*tasks));
	void **values = calloc(m, sizeof(*values));
	baseline_job **jobs = calloc(m, sizeof(*jobs));
	double rates[NTP][runs], med[NTP];

	if (tasks == NULL || values == NULL || jobs == NULL) {
		fprintf(stderr, "bench_task: out of memory\n");
		exit(1);
	}
	watch("task_throughput");
	/* Warm-up, unmeasured: baton's first M cells are allocated here. */
	for (int s = 0; s < NTP; s++)
		(void)throughput(s, m, tasks, values, jobs);
	for (unsigned r = 0; r < runs; r++) {
		for (int k = 0; k < NTP; k++) {
			int s = (k + (int)r) % NTP;

			memset(values, 0, m * sizeof(*values));
			rates[s][r] = throughput(s, m, tasks, values, jobs);
		}
	}
	watch(NULL);
	for (int s = 0; s < NTP; s++) {
		fprintf(stderr, "# throughput %-15s", tp_names[s]);
		for (unsigned r = 0; r < runs; r++)
			fprintf(stderr, " %9.0f", rates[s][r]);
		med[s] = median(rates[s], runs);
		fprintf(stderr, " tasks/s\n");
		printf("bench\ttask_throughput\t%s\t%.0f\ttasks/s\n",
		       tp_names[s], med[s]);
	}
	/* Rate ratios: higher is better for baton. */
	printf("ratio\ttask_throughput\tbaton/baseline\t%.2f\n",
	       med[T_BATON] / med[T_BASELINE]);
	printf("ratio\ttask_throughput_infinity\tbaton/baseline\t%.2f\n",
	       med[T_BATON_INF] / med[T_BASELINE]);
	fprintf(stderr, "# target: >= %.0f tasks/s: baton %s, baton_infinity "
		"%s\n", TARGET_THROUGHPUT,
		med[T_BATON] >= TARGET_THROUGHPUT ? "met" : "MISSED",
		med[T_BATON_INF] >= TARGET_THROUGHPUT ? "met" : "MISSED");
	fflush(stdout);
	free(tasks);
	free(values);
	free(jobs);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "iterations", required_argument, NULL, 'n' },
		{ "tasks", required_argument, NULL, 'm' },
		{ "runs", required_argument, NULL, 'r' },
		{ "workers", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long n = 0, m = DEFAULT_TASKS, scale;
	unsigned runs = DEFAULT_RUNS, workers = 0;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t t0;
	int opt, rc;

	bench_program = "bench_task";
	while ((opt = getopt_long(argc, argv, "n:m:r:w:h", longopts,
				  NULL)) != -1) {
		switch (opt) {
		case 'n':
			n = parse_num("--iterations", optarg, 1, 100000000);
			break;
		case 'm':
			m = parse_num("--tasks", optarg, 1, 100000000);
			break;
		case 'r':
			runs = (unsigned)parse_num("--runs", optarg, 1, 1000);
			break;
		case 'w':
			workers = (unsigned)parse_num("--workers", optarg, 1,
						      1024);
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
		n = DEFAULT_ITERATIONS * scale / 100;
	if (n < runs)
		n = runs;
	if (workers == 0)
		workers = cpus > 0 ? (unsigned)cpus : 1;

	watchdog_init();

	if ((rc = baseline_pool_create(&bpool, workers)) != 0)
		die("create", "baseline", rc);
	fprintf(stderr, "# bench_task: %llu latency samples per system, "
		"%llu tasks per throughput run, %u runs, %ld CPUs online, "
		"baseline pool of %u workers\n", n, m, runs, cpus, workers);
	print_load("start", false);

	/* Warm-up, unmeasured: start the default pool, fill caches. */
	watch("warmup");
	for (int s = 0; s < NLAT; s++) {
		for (uintptr_t i = 0; i < 1000; i++)
			(void)one(s, i);
	}
	watch(NULL);

	t0 = now_ns();
	latency(n, runs);
	throughputs(m, runs);
	fprintf(stderr, "# measured for %.1f s\n",
		(double)(now_ns() - t0) / 1e9);
	print_load("end", false);
	baseline_pool_destroy(bpool);
	return 0;
}
