/*
 * compare.c - main() of every comparison benchmark: runs the workloads on
 * the systems of its program (cmp_systems[]) and prints one measurement
 * per workload and system.
 *
 *	compare_<x> [--workload W]... [--system S]... [--iterations N]
 *		    [--tasks M] [--items Q] [--pipeline-items I] [--capacity C]
 *
 * W: latency, throughput, spawn (both), queue, pipeline or all (the
 * default).  S: only the named systems of the program (for profiling).
 * N latency samples (default 20,000), M tasks per throughput run
 * (100,000), Q items per queue run (2,000,000), I items per pipeline run
 * (1,000,000 unless the system sets its own default), capacity C (1024).
 * report.sh runs each program several times and takes medians across
 * runs; one run prints one value per measurement (and compare_std also
 * spawn_await_throughput_deferred, see compare_std.cpp):
 *
 *	bench	spawn_await_latency_median	<system>	<ns>	ns
 *	bench	spawn_await_latency_p90	<system>	<ns>	ns
 *	bench	spawn_await_throughput	<system>	<rate>	tasks/s
 *	bench	queue_1p1c_cap1024	<system>	<rate>	items/s
 *	bench	queue_2p2c_cap1024	<system>	<rate>	items/s
 *	bench	queue_1p1c_cap0	<system>	<rate>	items/s	(rendezvous)
 *	bench	queue_2p2c_cap0	<system>	<rate>	items/s
 *	bench	pipeline_1p1c_cap1024	<system>	<rate>	items/s
 *
 * and, for each, <name>_cpu: the CPU time the whole process (every thread:
 * callers, pool workers, spinning waiters) spent per task or item, in ns.
 * On a machine shared with other work it varies less than the wall-clock
 * figures, and it shows what spinning costs.
 *
 * Diagnostics go to stderr.  Exits non-zero if an item or a value comes
 * back wrong, a call fails, or a measurement hangs (watchdog).
 *
 * Design notes
 * ============
 * Latency: each sample times one spawn_await call with CLOCK_MONOTONIC
 * (the clock read is inside every sample alike).  The samples are taken in
 * five rounds, the order of the program's systems rotating each round.
 * One unmeasured warm-up of 1,000 spawns per system precedes everything.
 *
 * Throughput: one unmeasured run of M (allocators and pools warm up, and
 * any cache of task cells fills), then one timed run of M.
 *
 * Queue and pipeline: a measurement creates the queue and the threads,
 * which meet at a barrier and read the clock as they leave it; the time is
 * from the earliest start to the latest end, so thread creation, joining
 * and checking are outside it.  Producers push values that say who pushed
 * them and in which order; consumers pop a fixed quota each, so queues
 * that cannot be closed end exactly like those that can.  Each consumer
 * checks that every producer's values reach it in order, and main checks
 * the count and two sums against the expected ones.  A short unmeasured
 * run precedes each system's first measurement.
 *
 * Who frees what: main owns the queues (through the system's calls), the
 * threads and their arrays.
 */
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "compare.h"

#define WATCHDOG_SECONDS 300
#include "bench.h"

#define DEFAULT_ITERATIONS 20000
#define DEFAULT_TASKS 100000
#define DEFAULT_ITEMS 2000000
#define DEFAULT_PIPELINE_ITEMS 1000000
#define DEFAULT_CAPACITY 1024
#define LATENCY_ROUNDS 5
#define WARMUP_SPAWNS 1000

enum { W_LATENCY = 1, W_THROUGHPUT = 2, W_QUEUE = 4, W_PIPELINE = 8 };
#define W_SPAWN (W_LATENCY | W_THROUGHPUT)
#define W_ALL (W_SPAWN | W_QUEUE | W_PIPELINE)

#define MAX_SYSTEMS 64
static bool skip[MAX_SYSTEMS]; /* by cmp_systems[] index: not in --system */

void *
cmp_body(void *arg)
{
	return arg;
}

_Noreturn void
cmp_fail(const char *sys, const char *what, int err)
{
	fprintf(stderr, "%s: %s: %s failed: %d (%s)\n", bench_program, sys,
		what, err, strerror(err < 0 ? -err : err));
	exit(1);
}

unsigned
cmp_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (unsigned)n : 1;
}

/* CPU time of the whole process, every thread included. */
static uint64_t
cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
print_cpu(const char *name, const char *sys, uint64_t cpu, uint64_t ops)
{
	printf("bench\t%s_cpu\t%s\t%.0f\tns\n", name, sys,
	       (double)cpu / (double)ops);
}

static void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (p == NULL) {
		fprintf(stderr, "%s: out of memory\n", bench_program);
		exit(1);
	}
	return p;
}

/* spawn: latency ------------------------------------------------------ */

static uint64_t
one(const struct cmp_system *s, uintptr_t i)
{
	void *arg = (void *)(i + 1), *v;
	uint64_t t0, t1;

	t0 = now_ns();
	v = s->spawn_await(arg);
	t1 = now_ns();
	if (v != arg) {
		fprintf(stderr, "%s: %s: a task returned a wrong value\n",
			bench_program, s->name);
		exit(1);
	}
	return t1 - t0;
}

static void
latency(size_t n)
{
	size_t per = (n + LATENCY_ROUNDS - 1) / LATENCY_ROUNDS;
	size_t count = per * LATENCY_ROUNDS;
	uint64_t *samples[cmp_nsystems], cpu[cmp_nsystems], c0;
	size_t k, s, i;
	unsigned r;

	for (s = 0; s < cmp_nsystems; s++) {
		samples[s] = NULL;
		cpu[s] = 0;
		if (skip[s] || cmp_systems[s].spawn_await == NULL)
			continue;
		samples[s] = xcalloc(count, sizeof(uint64_t));
		watch("spawn warm-up");
		for (i = 0; i < WARMUP_SPAWNS; i++)
			(void)one(&cmp_systems[s], i);
	}
	watch("spawn_await_latency");
	for (r = 0; r < LATENCY_ROUNDS; r++) {
		for (k = 0; k < cmp_nsystems; k++) {
			s = (k + r) % cmp_nsystems;
			if (samples[s] == NULL)
				continue;
			c0 = cpu_ns();
			for (i = 0; i < per; i++)
				samples[s][r * per + i] =
				    one(&cmp_systems[s], i);
			cpu[s] += cpu_ns() - c0;
		}
	}
	watch(NULL);
	for (s = 0; s < cmp_nsystems; s++) {
		if (samples[s] == NULL)
			continue;
		qsort(samples[s], count, sizeof(uint64_t), cmp_u64);
		fprintf(stderr, "# latency %-15s min %7" PRIu64 "  p50 %7"
			PRIu64 "  p90 %7" PRIu64 "  p99 %8" PRIu64 "  max %9"
			PRIu64 " ns (%zu samples)\n", cmp_systems[s].name,
			samples[s][0], quantile(samples[s], count, 0.5),
			quantile(samples[s], count, 0.9),
			quantile(samples[s], count, 0.99),
			samples[s][count - 1], count);
		printf("bench\tspawn_await_latency_median\t%s\t%" PRIu64
		       "\tns\n", cmp_systems[s].name,
		       quantile(samples[s], count, 0.5));
		printf("bench\tspawn_await_latency_p90\t%s\t%" PRIu64 "\tns\n",
		       cmp_systems[s].name, quantile(samples[s], count, 0.9));
		print_cpu("spawn_await_latency", cmp_systems[s].name, cpu[s],
			  count);
		free(samples[s]);
	}
	fflush(stdout);
}

/* spawn: throughput --------------------------------------------------- */

static double
throughput_once(const struct cmp_system *s, size_t m, void **values)
{
	uint64_t t0, t1;
	size_t i;

	memset(values, 0, m * sizeof(*values));
	t0 = now_ns();
	s->spawn_many(m, values);
	t1 = now_ns();
	for (i = 0; i < m; i++) {
		if (values[i] != (void *)(uintptr_t)(i + 1)) {
			fprintf(stderr, "%s: %s: task %zu of %zu returned a "
				"wrong value\n", bench_program, s->name, i, m);
			exit(1);
		}
	}
	return (double)m * 1e9 / (double)(t1 - t0);
}

static void
throughput(size_t m)
{
	void **values = xcalloc(m, sizeof(*values));
	uint64_t c0;
	double rate;
	size_t s;

	for (s = 0; s < cmp_nsystems; s++) {
		if (skip[s] || cmp_systems[s].spawn_many == NULL)
			continue;
		watch("spawn_await_throughput");
		(void)throughput_once(&cmp_systems[s], m, values);
		c0 = cpu_ns();
		rate = throughput_once(&cmp_systems[s], m, values);
		c0 = cpu_ns() - c0;
		watch(NULL);
		fprintf(stderr, "# throughput %-15s %10.0f tasks/s\n",
			cmp_systems[s].name, rate);
		printf("bench\tspawn_await_throughput\t%s\t%.0f\ttasks/s\n",
		       cmp_systems[s].name, rate);
		print_cpu("spawn_await_throughput", cmp_systems[s].name, c0, m);
		fflush(stdout);
	}
	free(values);
}

/* queue --------------------------------------------------------------- */

struct qrun {
	const struct cmp_system *sys;
	void *q;
	pthread_barrier_t start;
};

struct qworker {
	alignas(64) struct qrun *run; /* own cache line: no false sharing */
	pthread_t tid;
	bool producer;
	struct cmp_producer p;
	struct cmp_consumer c;
	uint64_t start_ns;
	uint64_t end_ns;
};

static void *
qworker_main(void *arg)
{
	struct qworker *w = arg;

	pthread_barrier_wait(&w->run->start);
	w->start_ns = now_ns();
	if (w->producer)
		w->run->sys->q_produce(w->run->q, &w->p);
	else
		w->run->sys->q_consume(w->run->q, &w->c);
	w->end_ns = now_ns();
	return NULL;
}

/* One measurement of P producers and C consumers moving m items. */
static double
queue_once(const struct cmp_system *s, unsigned np, unsigned nc, size_t cap,
	   uint64_t m)
{
	unsigned shift = 0, n = np + nc, i, rc;
	uint64_t count = 0, sum = 0, sumsq = 0, disorder = 0;
	uint64_t esum = 0, esumsq = 0, seq, v;
	uint64_t start = UINT64_MAX, end = 0;
	struct qworker *w;
	struct qrun run;

	while ((1u << shift) < np)
		shift++;
	run.sys = s;
	run.q = s->q_create(cap, np, nc);
	w = aligned_alloc(64, n * sizeof(*w));
	if (w == NULL || pthread_barrier_init(&run.start, NULL, n) != 0) {
		fprintf(stderr, "%s: out of memory\n", bench_program);
		exit(1);
	}
	memset(w, 0, n * sizeof(*w));
	for (i = 0; i < n; i++) {
		w[i].run = &run;
		w[i].producer = i < np;
		if (w[i].producer) {
			w[i].p.idx = i;
			w[i].p.shift = shift;
			w[i].p.n = m / np + (i < m % np);
			for (seq = 1; seq <= w[i].p.n; seq++) {
				v = seq << shift | i;
				esum += v;
				esumsq += v * v;
			}
		} else {
			w[i].c.producers = np;
			w[i].c.shift = shift;
			w[i].c.n = m / nc + (i - np < m % nc);
			w[i].c.last = xcalloc(np, sizeof(uint64_t));
		}
	}
	for (i = 0; i < n; i++) {
		rc = (unsigned)pthread_create(&w[i].tid, NULL, qworker_main,
					      &w[i]);
		if (rc != 0)
			cmp_fail(s->name, "pthread_create", (int)rc);
	}
	for (i = 0; i < n; i++)
		pthread_join(w[i].tid, NULL);
	for (i = 0; i < n; i++) {
		if (w[i].start_ns < start)
			start = w[i].start_ns;
		if (w[i].end_ns > end)
			end = w[i].end_ns;
		if (w[i].producer)
			continue;
		count += w[i].c.count;
		sum += w[i].c.sum;
		sumsq += w[i].c.sumsq;
		disorder += w[i].c.disorder;
		free(w[i].c.last);
	}
	pthread_barrier_destroy(&run.start);
	free(w);
	s->q_destroy(run.q);
	if (count != m || sum != esum || sumsq != esumsq || disorder != 0) {
		fprintf(stderr, "%s: %s: queue %uP/%uC FAILED: popped %" PRIu64
			" of %" PRIu64 " items, sum %s, sum of squares %s, %"
			PRIu64 " out of order or invalid\n", bench_program,
			s->name, np, nc, count, m, sum == esum ? "ok" : "WRONG",
			sumsq == esumsq ? "ok" : "WRONG", disorder);
		exit(1);
	}
	return (double)m * 1e9 / (double)(end - start);
}

static void
queues(uint64_t m, size_t cap)
{
	static const unsigned pcs[][2] = { { 1, 1 }, { 2, 2 } };
	char name[64];
	uint64_t c0;
	double rate;
	size_t s, i;

	for (s = 0; s < cmp_nsystems; s++) {
		if (skip[s] || cmp_systems[s].q_create == NULL)
			continue;
		for (int r = 0; r < 2; r++) {
			/* r = 1: the rendezvous, a tenth of the items. */
			size_t c = r == 0 ? cap : 0;
			uint64_t mm = r == 0 ? m : m / 10 + 4;

			if (r == 1 && !cmp_systems[s].q_rendezvous)
				break;
			watch("queue warm-up");
			(void)queue_once(&cmp_systems[s], 2, 2, c, mm / 10 + 2);
			for (i = 0; i < sizeof(pcs) / sizeof(pcs[0]); i++) {
				snprintf(name, sizeof(name),
					 "queue_%up%uc_cap%zu", pcs[i][0],
					 pcs[i][1], c);
				watch(name);
				c0 = cpu_ns();
				rate = queue_once(&cmp_systems[s], pcs[i][0],
						  pcs[i][1], c, mm);
				c0 = cpu_ns() - c0;
				watch(NULL);
				fprintf(stderr, "# %-22s %-15s %12.0f items/s\n",
					name, cmp_systems[s].name, rate);
				printf("bench\t%s\t%s\t%.0f\titems/s\n", name,
				       cmp_systems[s].name, rate);
				print_cpu(name, cmp_systems[s].name, c0, mm);
				fflush(stdout);
			}
		}
	}
}

/* pipeline ------------------------------------------------------------ */

struct plrun {
	const struct cmp_system *sys;
	void *pl;
	uint64_t n;
	pthread_barrier_t start;
	uint64_t wrong;
	uint64_t start_ns[2], end_ns[2];
};

static void *
pl_producer(void *arg)
{
	struct plrun *r = arg;

	pthread_barrier_wait(&r->start);
	r->start_ns[0] = now_ns();
	r->sys->pl_produce(r->pl, r->n);
	r->end_ns[0] = now_ns();
	return NULL;
}

static void *
pl_consumer(void *arg)
{
	struct plrun *r = arg;

	pthread_barrier_wait(&r->start);
	r->start_ns[1] = now_ns();
	r->wrong = r->sys->pl_consume(r->pl, r->n);
	r->end_ns[1] = now_ns();
	return NULL;
}

static double
pipeline_once(const struct cmp_system *s, size_t cap, uint64_t n)
{
	struct plrun r;
	pthread_t p, c;
	uint64_t start, end;
	int rc;

	memset(&r, 0, sizeof(r));
	r.sys = s;
	r.n = n;
	r.pl = s->pl_create(cap);
	if (pthread_barrier_init(&r.start, NULL, 2) != 0)
		cmp_fail(s->name, "pthread_barrier_init", ENOMEM);
	if ((rc = pthread_create(&p, NULL, pl_producer, &r)) != 0 ||
	    (rc = pthread_create(&c, NULL, pl_consumer, &r)) != 0)
		cmp_fail(s->name, "pthread_create", rc);
	pthread_join(p, NULL);
	pthread_join(c, NULL);
	pthread_barrier_destroy(&r.start);
	s->pl_destroy(r.pl);
	if (r.wrong != 0) {
		fprintf(stderr, "%s: %s: pipeline FAILED: %" PRIu64 " of %"
			PRIu64 " values wrong or out of order\n", bench_program,
			s->name, r.wrong, n);
		exit(1);
	}
	start = r.start_ns[0] < r.start_ns[1] ? r.start_ns[0] : r.start_ns[1];
	end = r.end_ns[0] > r.end_ns[1] ? r.end_ns[0] : r.end_ns[1];
	return (double)n * 1e9 / (double)(end - start);
}

static void
pipelines(uint64_t items, size_t cap)
{
	char name[64];
	uint64_t n, c0;
	double rate;
	size_t s;

	snprintf(name, sizeof(name), "pipeline_1p1c_cap%zu", cap);
	for (s = 0; s < cmp_nsystems; s++) {
		if (skip[s] || cmp_systems[s].pl_create == NULL)
			continue;
		n = items;
		if (n == 0)
			n = cmp_systems[s].pl_items ? cmp_systems[s].pl_items
						    : DEFAULT_PIPELINE_ITEMS;
		watch("pipeline warm-up");
		(void)pipeline_once(&cmp_systems[s], cap, n / 10 + 1);
		watch(name);
		c0 = cpu_ns();
		rate = pipeline_once(&cmp_systems[s], cap, n);
		c0 = cpu_ns() - c0;
		watch(NULL);
		fprintf(stderr, "# %-22s %-15s %12.0f items/s (%" PRIu64
			" items)\n", name, cmp_systems[s].name, rate, n);
		printf("bench\t%s\t%s\t%.0f\titems/s\n", name,
		       cmp_systems[s].name, rate);
		print_cpu(name, cmp_systems[s].name, c0, n);
		fflush(stdout);
	}
}

/* main ---------------------------------------------------------------- */

static void
usage(FILE *f)
{
	fprintf(f, "usage: %s [--workload latency|throughput|spawn|queue|"
		"pipeline|all]...\n"
		"       [--system NAME]... [--iterations N] [--tasks M]\n"
		"       [--items Q] [--pipeline-items I] [--capacity C]\n"
		"defaults: N = %d, M = %d, Q = %d, I = %d (or the system's "
		"own), C = %d\n", bench_program, DEFAULT_ITERATIONS,
		DEFAULT_TASKS, DEFAULT_ITEMS, DEFAULT_PIPELINE_ITEMS,
		DEFAULT_CAPACITY);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "workload", required_argument, NULL, 'w' },
		{ "system", required_argument, NULL, 's' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "tasks", required_argument, NULL, 'm' },
		{ "items", required_argument, NULL, 'q' },
		{ "pipeline-items", required_argument, NULL, 'i' },
		{ "capacity", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long n = DEFAULT_ITERATIONS, m = DEFAULT_TASKS;
	unsigned long long items = DEFAULT_ITEMS, pl_items = 0;
	unsigned long long cap = DEFAULT_CAPACITY;
	unsigned workloads = 0;
	bool some = false;
	uint64_t t0;
	size_t s;
	int opt, rc;

	bench_program = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1
					       : argv[0];
	while ((opt = getopt_long(argc, argv, "w:s:n:m:q:i:c:h", longopts,
				  NULL)) != -1) {
		switch (opt) {
		case 'w':
			if (strcmp(optarg, "latency") == 0)
				workloads |= W_LATENCY;
			else if (strcmp(optarg, "throughput") == 0)
				workloads |= W_THROUGHPUT;
			else if (strcmp(optarg, "spawn") == 0)
				workloads |= W_SPAWN;
			else if (strcmp(optarg, "queue") == 0)
				workloads |= W_QUEUE;
			else if (strcmp(optarg, "pipeline") == 0)
				workloads |= W_PIPELINE;
			else if (strcmp(optarg, "all") == 0)
				workloads |= W_ALL;
			else
				usage_exit(usage, 2);
			break;
		case 's':
			for (s = 0; s < cmp_nsystems; s++) {
				if (strcmp(optarg, cmp_systems[s].name) == 0)
					break;
			}
			if (s == cmp_nsystems || s >= MAX_SYSTEMS) {
				fprintf(stderr, "%s: no system '%s' here\n",
					bench_program, optarg);
				return 2;
			}
			if (!some) {
				for (size_t k = 0; k < MAX_SYSTEMS; k++)
					skip[k] = true;
				some = true;
			}
			skip[s] = false;
			break;
		case 'n':
			n = parse_num("--iterations", optarg, LATENCY_ROUNDS,
				      100000000);
			break;
		case 'm':
			m = parse_num("--tasks", optarg, 1, 100000000);
			break;
		case 'q':
			items = parse_num("--items", optarg, 4, 1000000000);
			break;
		case 'i':
			pl_items = parse_num("--pipeline-items", optarg, 1,
					     1000000000);
			break;
		case 'c':
			cap = parse_num("--capacity", optarg, 1, 1 << 30);
			break;
		case 'h':
			usage_exit(usage, 0);
		default:
			usage_exit(usage, 2);
		}
	}
	if (optind != argc)
		usage_exit(usage, 2);
	if (workloads == 0)
		workloads = W_ALL;

	watchdog_init();

	if (cmp_nsystems > MAX_SYSTEMS) {
		fprintf(stderr, "%s: more than %d systems\n", bench_program,
			MAX_SYSTEMS);
		return 2;
	}
	for (s = 0; s < cmp_nsystems; s++) {
		if (cmp_systems[s].init != NULL &&
		    (rc = cmp_systems[s].init()) != 0)
			cmp_fail(cmp_systems[s].name, "init", rc);
	}
	fprintf(stderr, "# %s: %u CPUs online; %llu latency samples, %llu "
		"tasks, %llu queue items, capacity %llu\n", bench_program,
		cmp_cpus(), n, m, items, cap);
	print_load("start", true);
	t0 = now_ns();
	if (workloads & W_LATENCY)
		latency((size_t)n);
	if (workloads & W_THROUGHPUT)
		throughput((size_t)m);
	if (workloads & W_QUEUE)
		queues(items, (size_t)cap);
	if (workloads & W_PIPELINE)
		pipelines(pl_items, (size_t)cap);
	fprintf(stderr, "# %s: measured for %.1f s\n", bench_program,
		(double)(now_ns() - t0) / 1e9);
	print_load("end", true);
	for (s = cmp_nsystems; s-- > 0;) {
		if (cmp_systems[s].fini != NULL)
			cmp_systems[s].fini();
	}
	return 0;
}
