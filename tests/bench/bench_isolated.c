/*
 * bench_isolated.c - isolated tasks: spawn+await latency and throughput,
 * in one run, against two peers measured in the same run:
 *   fork_pipe_waitpid  a fork per task, the value back through a pipe,
 *                      then waitpid (what libprocreact does);
 *   python_pool        Python's concurrent.futures.ProcessPoolExecutor,
 *                      submit(f, i).result() in a loop (python3 runs as a
 *                      subprocess, times its own loop, prints us/op).
 * The body is trivial (its 8-byte argument back), so this measures the
 * hand-off.  Prints bench<TAB>name<TAB>system<TAB>value<TAB>unit lines
 * and
 *   ratio<TAB>isolated_spawn_await_vs_fork<TAB>fork/baton<TAB>X
 *   ratio<TAB>isolated_spawn_await_vs_python_pool<TAB>python/baton<TAB>X
 *   ratio<TAB>isolated_throughput_vs_fork<TAB>baton/fork<TAB>X
 * Latency is the median over --rounds rounds of the mean of a batch;
 * rounds of baton and fork alternate.  BENCH_SCALE (percent) sizes it.
 *
 *	<builddir>/tests/bench/bench_isolated [--rounds N] [--workers N]
 */
#include <baton.h>
#include <sys/wait.h>

#include "bench.h"

#define WINDOW 32

static int
body_echo(const void *a, size_t n, void *out, size_t *ol)
{
	memcpy(out, a, n);
	*ol = n;
	return 0;
}

static double
baton_latency(unsigned long n)
{
	uint64_t t0 = now_ns();

	for (uint64_t i = 0; i < n; i++) {
		struct baton_isolated_value v;
		baton_isolated t;
		int r = baton_isolated_async(&t, body_echo, &i, sizeof(i));

		if (r != 0)
			die("spawn", "baton_isolated_async", r);
		r = baton_isolated_await(&t, BATON_INFINITY, &v, NULL);
		if (r != 0 || *(uint64_t *)v.data != i)
			die("await", "baton_isolated_await", r);
		free(v.data);
	}
	return (double)(now_ns() - t0) / 1e3 / (double)n;
}

static double
baton_throughput(unsigned long n)
{
	baton_isolated t[WINDOW];
	uint64_t t0 = now_ns();

	for (uint64_t i = 0; i < n + WINDOW; i++) {
		struct baton_isolated_value v;
		int r;

		if (i >= WINDOW) {
			r = baton_isolated_await(&t[i % WINDOW], BATON_INFINITY,
						 &v, NULL);
			if (r != 0)
				die("await", "baton_isolated_await", r);
			free(v.data);
		}
		if (i < n) {
			r = baton_isolated_async(&t[i % WINDOW], body_echo, &i,
						 sizeof(i));
			if (r != 0)
				die("spawn", "baton_isolated_async", r);
		}
	}
	return (double)n / ((double)(now_ns() - t0) / 1e9);
}

/* One fork per task: the child writes its value, the parent reads it
 * and reaps the child. */
static pid_t
fork_spawn(uint64_t i, int *rfd)
{
	int p[2];
	pid_t pid;

	if (pipe(p) != 0)
		die("pipe", "fork", errno);
	pid = fork();
	if (pid == 0) {
		uint64_t out;
		size_t ol;

		close(p[0]);
		body_echo(&i, sizeof(i), &out, &ol);
		(void)!write(p[1], &out, ol);
		_exit(0);
	}
	if (pid < 0)
		die("fork", "fork", errno);
	close(p[1]);
	*rfd = p[0];
	return pid;
}

static void
fork_await(pid_t pid, int rfd, uint64_t i)
{
	uint64_t v = ~i;
	int st;

	if (read(rfd, &v, sizeof(v)) != sizeof(v) || v != i)
		die("read", "fork", EIO);
	close(rfd);
	if (waitpid(pid, &st, 0) != pid)
		die("waitpid", "fork", errno);
}

static double
fork_latency(unsigned long n)
{
	uint64_t t0 = now_ns();

	for (uint64_t i = 0; i < n; i++) {
		int fd;
		pid_t pid = fork_spawn(i, &fd);

		fork_await(pid, fd, i);
	}
	return (double)(now_ns() - t0) / 1e3 / (double)n;
}

static double
fork_throughput(unsigned long n)
{
	pid_t pid[WINDOW];
	int fd[WINDOW];
	uint64_t t0 = now_ns();

	for (uint64_t i = 0; i < n + WINDOW; i++) {
		if (i >= WINDOW)
			fork_await(pid[i % WINDOW], fd[i % WINDOW], i - WINDOW);
		if (i < n)
			pid[i % WINDOW] = fork_spawn(i, &fd[i % WINDOW]);
	}
	return (double)n / ((double)(now_ns() - t0) / 1e9);
}

static const char python_prog[] =
    "import sys, time\n"
    "from concurrent.futures import ProcessPoolExecutor\n"
    "def f(x):\n"
    "    return x\n"
    "if __name__ == '__main__':\n"
    "    n, w = int(sys.argv[1]), int(sys.argv[2])\n"
    "    with ProcessPoolExecutor(max_workers=w) as ex:\n"
    "        for i in range(200):\n"
    "            ex.submit(f, i).result()\n"
    "        t = time.perf_counter()\n"
    "        for i in range(n):\n"
    "            assert ex.submit(f, i).result() == i\n"
    "        dt = time.perf_counter() - t\n"
    "    print('%.3f' % (dt / n * 1e6))\n";

/* us per submit().result(), or a negative number if python3 failed. */
static double
python_latency(unsigned long n, unsigned workers)
{
	char path[] = "/tmp/bench_isolated_XXXXXX.py";
	char cmd[256];
	double us = -1;
	FILE *f;
	int fd = mkstemps(path, 3);

	if (fd < 0)
		return -1;
	if (write(fd, python_prog, sizeof(python_prog) - 1) !=
	    (ssize_t)(sizeof(python_prog) - 1)) {
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	snprintf(cmd, sizeof(cmd), "python3 %s %lu %u", path, n, workers);
	f = popen(cmd, "r");
	if (f != NULL) {
		if (fscanf(f, "%lf", &us) != 1)
			us = -1;
		if (pclose(f) != 0)
			us = -1;
	}
	unlink(path);
	return us;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: bench_isolated [--rounds N] [--workers N]\n"
		   "  isolated spawn+await against fork+pipe+waitpid and\n"
		   "  Python's ProcessPoolExecutor; BENCH_SCALE sizes it\n");
}

int
main(int argc, char **argv)
{
	unsigned long long scale, rounds = 5, workers = 2;
	unsigned long nb, nf, np, nt, ntf;
	double bl[32], fl[32], bt[32], ft[32], py;
	struct baton_isolated_config cfg = BATON_ISOLATED_CONFIG_INIT;
	int r;

	bench_program = "bench_isolated";
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0)
			usage_exit(usage, 0);
		else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
			rounds = parse_num("--rounds", argv[++i], 1, 32);
		else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc)
			workers = parse_num("--workers", argv[++i], 1, 64);
		else
			usage_exit(usage, 2);
	}
	/* First thing: the fork server must be forked single-threaded. */
	cfg.workers = (unsigned)workers;
	r = baton_isolated_init(&cfg);
	if (r != 0)
		die("init", "baton_isolated_init", r);
	watchdog_init();
	scale = bench_scale();
	nb = (unsigned long)(20000 * scale / 100) + 1;
	nt = (unsigned long)(20000 * scale / 100) + WINDOW;
	nf = (unsigned long)(500 * scale / 100) + 1;
	ntf = (unsigned long)(1000 * scale / 100) + WINDOW;
	np = (unsigned long)(3000 * scale / 100) + 1;
	print_load("start", true);
	watch("warm-up");
	baton_latency(nb / 10 + 1);
	fork_latency(nf / 10 + 1);
	for (unsigned i = 0; i < rounds; i++) {
		watch("baton latency");
		bl[i] = baton_latency(nb);
		watch("fork latency");
		fl[i] = fork_latency(nf);
		watch("baton throughput");
		bt[i] = baton_throughput(nt);
		watch("fork throughput");
		ft[i] = fork_throughput(ntf);
	}
	watch("python");
	py = python_latency(np, (unsigned)workers);
	watch(NULL);
	{
		double b = median(bl, (unsigned)rounds);
		double f = median(fl, (unsigned)rounds);
		double tb = median(bt, (unsigned)rounds);
		double tf = median(ft, (unsigned)rounds);

		printf("bench\tisolated_spawn_await\tbaton\t%.2f\tus\n", b);
		printf("bench\tisolated_spawn_await\tfork_pipe_waitpid\t%.2f\tus\n",
		       f);
		if (py > 0)
			printf("bench\tisolated_spawn_await\tpython_pool\t%.2f\tus\n",
			       py);
		printf("bench\tisolated_throughput\tbaton\t%.0f\ttasks/s\n", tb);
		printf("bench\tisolated_throughput\tfork_pipe_waitpid\t%.0f\ttasks/s\n",
		       tf);
		printf("ratio\tisolated_spawn_await_vs_fork\tfork/baton\t%.2f\n",
		       f / b);
		if (py > 0)
			printf("ratio\tisolated_spawn_await_vs_python_pool\t"
			       "python/baton\t%.2f\n",
			       py / b);
		else
			fprintf(stderr, "bench_isolated: python3 peer did not "
					"run: no python ratio\n");
		printf("ratio\tisolated_throughput_vs_fork\tbaton/fork\t%.2f\n",
		       tb / tf);
	}
	print_load("end", true);
	baton_isolated_fini();
	return 0;
}
