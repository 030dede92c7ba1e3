/*
 * bench_blocking.c - blocking bodies on the default pool: N strict tasks
 * whose bodies sleep, awaited with baton_task_await_many, and a mixed
 * CPU + blocking load against the same work on a fixed pool of one
 * worker per CPU (baton_pool_create: a pool that never grows).
 *
 *	bench_blocking [--runs N] [--quick] [--stack-kib K]
 *
 * Lines (the project's format):
 *	bench	blocking_sleepers_10000x1000ms	baton	SECONDS	s
 *	bench	blocking_sleepers_10000x1000ms	pthread_per_task	SECONDS	s
 *	ratio	blocking_sleepers_10000x1000ms	baton/pthread_per_task	X
 *	bench	blocking_sleepers_10000x1000ms	pthread_per_task_parallel	SECONDS	s
 *	ratio	blocking_sleepers_10000x1000ms	baton/pthread_per_task_parallel	X
 *	bench	blocking_sleepers_100x100ms	baton	SECONDS	s
 *	bench	blocking_mixed_cpu_sleep	baton	SECONDS	s
 *	bench	blocking_mixed_cpu_sleep	fixed_pool	SECONDS	s
 *	ratio	blocking_mixed_cpu_sleep	fixed_pool/baton	X
 *	bench	blocking_threads_peak	baton	N	threads
 * The sleepers' figures are the wall time from the first spawn to the
 * await's return; the ideal is the sleep itself (1.0 s, 0.1 s).  The
 * floor on a given machine is what creating a thread per sleeper costs:
 * pthread_per_task does exactly that (10,000 threads that each sleep
 * 1 s, created then joined, default stacks), in the same run;
 * pthread_per_task_parallel is that floor at its best: the threads
 * created by one long-lived thread per CPU, with the baton run's stacks
 * (--stack-kib, else the system's).  The
 * 10,000-task case runs once per process (--quick skips it): the
 * threads it needs retire only after the keep-alive.
 */
#include <baton.h>
#include <pthread.h>

#define WATCHDOG_SECONDS 300
#include "bench.h"

struct sleeper {
	long ms;
};

static void *
sleep_body(void *arg)
{
	const struct sleeper *s = arg;
	struct timespec ts = { s->ms / 1000, (s->ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	return NULL;
}

/* About 2 ms of arithmetic, the same on every run. */
static void *
cpu_body(void *arg)
{
	volatile uint64_t x = (uintptr_t)arg;

	for (unsigned i = 0; i < 2000000; i++)
		x = x * 6364136223846793005u + 1442695040888963407u;
	return NULL;
}

/* Spawns n tasks of fn on pool (NULL: default), awaits them: seconds. */
static double
run_tasks(baton_pool *pool, size_t n, baton_task_fn fn_even,
	  baton_task_fn fn_odd, void *arg)
{
	baton_task *tasks = calloc(n, sizeof(*tasks));
	void **values = calloc(n, sizeof(*values));
	struct baton_task_opts opts = { .pool = pool };
	uint64_t t0;
	int rc;

	if (tasks == NULL || values == NULL)
		die("calloc", "calloc", -ENOMEM);
	t0 = now_ns();
	for (size_t i = 0; i < n; i++) {
		rc = baton_task_async_opts(&tasks[i], i % 2 ? fn_odd : fn_even,
					   arg, &opts);
		if (rc != 0)
			die("baton_task_async_opts", "baton", rc);
	}
	rc = baton_task_await_many(tasks, n, BATON_INFINITY, values, NULL,
				   NULL);
	if (rc != 0)
		die("baton_task_await_many", "baton", rc);
	free(values);
	free(tasks);
	return (double)(now_ns() - t0) / 1e9;
}

/* One creator's share of run_pthreads. */
struct creator {
	pthread_t self;
	pthread_t *th;
	size_t n;
	const pthread_attr_t *attr;
	struct sleeper *s;
};

static void *
creator_main(void *arg)
{
	struct creator *c = arg;
	int rc;

	for (size_t i = 0; i < c->n; i++) {
		if ((rc = pthread_create(&c->th[i], c->attr, sleep_body,
					 c->s)) != 0)
			die("pthread_create", "pthread", rc);
	}
	return NULL;
}

/*
 * The floor: one pthread per sleeping task, with stacks of `stack` bytes
 * (0: the system's), created by k long-lived threads (the caller and
 * k - 1 more), then joined.
 */
static double
run_pthreads(size_t n, struct sleeper *s, size_t k, size_t stack)
{
	pthread_t *th = calloc(n, sizeof(*th));
	struct creator c[64];
	pthread_attr_t attr;
	uint64_t t0;
	int rc;

	if (th == NULL || k < 1 || k > 64)
		die("run_pthreads", "pthread", -EINVAL);
	pthread_attr_init(&attr);
	if (stack != 0 && (rc = pthread_attr_setstacksize(&attr, stack)) != 0)
		die("pthread_attr_setstacksize", "pthread", rc);
	t0 = now_ns();
	for (size_t i = 0; i < k; i++) {
		c[i] = (struct creator){ .th = th + i * (n / k),
					 .n = i + 1 < k ? n / k
							: n - i * (n / k),
					 .attr = &attr, .s = s };
		if (i > 0 && (rc = pthread_create(&c[i].self, NULL,
						  creator_main, &c[i])) != 0)
			die("pthread_create", "pthread", rc);
	}
	creator_main(&c[0]);
	for (size_t i = 1; i < k; i++)
		pthread_join(c[i].self, NULL);
	for (size_t i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	t0 = now_ns() - t0;
	pthread_attr_destroy(&attr);
	free(th);
	return (double)t0 / 1e9;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: %s [--runs N] [--quick] [--stack-kib K]\n"
		   "  --stack-kib K: the default pool's thread stacks (default:"
		   " the system's)\n", bench_program);
}

int
main(int argc, char **argv)
{
	struct sleeper s100 = { 100 }, s1000 = { 1000 }, s20 = { 20 };
	struct baton_pool_stats st;
	unsigned runs = 3;
	bool quick = false;
	size_t stack_kib = 0;
	double v[16], fixed[16];
	baton_pool *fixed_pool;
	int rc;

	bench_program = "bench_blocking";
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
			runs = (unsigned)parse_num("--runs", argv[++i], 1, 16);
		else if (strcmp(argv[i], "--quick") == 0)
			quick = true;
		else if (strcmp(argv[i], "--stack-kib") == 0 && i + 1 < argc)
			stack_kib = (size_t)parse_num("--stack-kib", argv[++i],
						      64, 1 << 20);
		else if (strcmp(argv[i], "--help") == 0)
			usage_exit(usage, 0);
		else
			usage_exit(usage, 2);
	}
	if (stack_kib != 0) {
		struct baton_pool_opts po = BATON_POOL_OPTS_INIT;

		po.stack_size = stack_kib * 1024;
		if ((rc = baton_pool_set_default_opts(&po)) != 0)
			die("baton_pool_set_default_opts", "baton", rc);
	}
	watchdog_init();
	print_load("start", false);

	if (!quick) {
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		size_t cpus = ncpu < 1 ? 1 : ncpu > 64 ? 64 : (size_t)ncpu;
		double b, p, pp;

		/*
		 * The bare floors first: they join every thread they made,
		 * while the baton run leaves 10,000 idle threads until the
		 * keep-alive, which would slow a later run's creations.
		 */
		watch("10000x1000ms");
		p = run_pthreads(10000, &s1000, 1, 0);
		pp = run_pthreads(10000, &s1000, cpus, stack_kib * 1024);
		b = run_tasks(NULL, 10000, sleep_body, sleep_body, &s1000);
		printf("bench\tblocking_sleepers_10000x1000ms\tbaton\t%.3f\ts\n",
		       b);
		printf("bench\tblocking_sleepers_10000x1000ms\tpthread_per_task"
		       "\t%.3f\ts\n", p);
		printf("bench\tblocking_sleepers_10000x1000ms\t"
		       "pthread_per_task_parallel\t%.3f\ts\n", pp);
		printf("ratio\tblocking_sleepers_10000x1000ms\t"
		       "baton/pthread_per_task\t%.2f\n", b / p);
		printf("ratio\tblocking_sleepers_10000x1000ms\t"
		       "baton/pthread_per_task_parallel\t%.2f\n", b / pp);
		fflush(stdout);
	}
	watch("100x100ms");
	for (unsigned r = 0; r < runs; r++)
		v[r] = run_tasks(NULL, 100, sleep_body, sleep_body, &s100);
	printf("bench\tblocking_sleepers_100x100ms\tbaton\t%.3f\ts\n",
	       median(v, runs));

	/*
	 * Mixed: 200 tasks, half ~2 ms of CPU, half a 20 ms sleep.  A fixed
	 * pool runs the sleeps in turn on its few threads.
	 */
	watch("mixed");
	rc = baton_pool_create(&fixed_pool, 0);
	if (rc != 0)
		die("baton_pool_create", "baton", rc);
	for (unsigned r = 0; r < runs; r++) {
		v[r] = run_tasks(NULL, 200, cpu_body, sleep_body, &s20);
		fixed[r] = run_tasks(fixed_pool, 200, cpu_body, sleep_body,
				     &s20);
	}
	baton_pool_destroy(fixed_pool);
	{
		double b = median(v, runs), f = median(fixed, runs);

		printf("bench\tblocking_mixed_cpu_sleep\tbaton\t%.3f\ts\n", b);
		printf("bench\tblocking_mixed_cpu_sleep\tfixed_pool\t%.3f\ts\n",
		       f);
		printf("ratio\tblocking_mixed_cpu_sleep\tfixed_pool/baton\t%.2f\n",
		       f / b);
	}
	if (baton_pool_stats(baton_pool_default(), &st) == 0)
		printf("bench\tblocking_threads_peak\tbaton\t%u\tthreads\n",
		       st.peak_threads);
	watch(NULL);
	print_load("end", false);
	return 0;
}
