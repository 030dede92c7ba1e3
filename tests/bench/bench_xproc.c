/*
 * bench_xproc.c - the cross-process handoff (include/baton/shm.h) against
 * a pipe, a unix socketpair, a POSIX message queue and a raw shared-futex
 * ping-pong, all measured in one run between two processes.
 *
 *   handoff round trip: A starts a trivial future (on its pool) and pushes
 *     it; B pops, takes, and answers the same way; 8 B and 4 KiB values.
 *     Also with promises fulfilled by the sending thread (baton_promise):
 *     the cross-process transport without the in-process pool hop.
 *   streaming: promise+fulfil+push / pop+take+unref, 16-byte values, one
 *     producer and one consumer process, then two and two; vs a pipe.
 *     Again with baton_shm_future_completed in place of the promise, and
 *     batched: completed_many + push_many / pop_many + take + unref_many,
 *     64 at a time, against the same pipe and a pipe moving 64 values per
 *     write and read.
 *     And the design's ceiling: the same operations (completed, push,
 *     pop, take, unref) in one thread, uncontended, against the 1p1c pipe.
 *   death to wake: kill -9 of the producer of a future another process is
 *     blocked on, to that take's return (p50 and p99).
 *   cost of crossing: the same promise/queue pipeline between two threads
 *     (baton_promise + baton_queue) and between two processes.
 *
 * Output: bench<TAB>name<TAB>system<TAB>value<TAB>unit and
 * ratio<TAB>name<TAB>a/b<TAB>value lines.
 * Usage: bench_xproc [--rounds N] [--items N] [--deaths N]
 */
#include <fcntl.h>
#include <mqueue.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/futex.h>

#include <baton.h>

#include "bench.h"

static unsigned long rounds = 5000, items = 100000, deaths = 30;

static void
check(int rc, const char *what)
{
	if (rc != 0)
		die(what, "baton", rc);
}

static void
out_bench(const char *name, const char *sys, double v, const char *unit)
{
	printf("bench\t%s\t%s\t%.3f\t%s\n", name, sys, v, unit);
	fflush(stdout);
}

static void
out_ratio(const char *name, const char *ab, double v)
{
	printf("ratio\t%s\t%s\t%.2f\n", name, ab, v);
	fflush(stdout);
}

static pid_t
spawn(void)
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	/* No orphans if the watchdog ends the benchmark. */
	if (pid == 0)
		prctl(PR_SET_PDEATHSIG, SIGKILL);
	return pid;
}

static void
reap(pid_t pid)
{
	int st;

	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "%s: child %d failed (%#x)\n", bench_program,
			(int)pid, st);
		exit(1);
	}
}

static void
full_write(int fd, const void *b, size_t n)
{
	const char *p = b;

	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w <= 0) {
			perror("write");
			_exit(1);
		}
		p += w;
		n -= (size_t)w;
	}
}

static void
full_read(int fd, void *b, size_t n)
{
	char *p = b;

	while (n > 0) {
		ssize_t r = read(fd, p, n);

		if (r <= 0) {
			perror("read");
			_exit(1);
		}
		p += r;
		n -= (size_t)r;
	}
}

/* ---- round trips -------------------------------------------------------------- */

static unsigned char payload[4096];
static size_t value_size;

static long
answer(void *arg, void *buf, size_t cap)
{
	(void)arg;
	if (cap < value_size)
		return -EMSGSIZE;
	memcpy(buf, payload, value_size);
	return (long)value_size;
}

/* false: the future is started on the pool; true: a promise fulfilled
 * by the sending thread before the push (the transport alone). */
static bool use_promise;

static void
send_future(baton_shm *seg, baton_shm_queue out)
{
	baton_shm_promise p;
	baton_shm_future f;

	if (use_promise) {
		check(baton_shm_promise_create(seg, &p, &f), "promise");
		check(baton_shm_promise_fulfil(seg, p, payload, value_size),
		      "fulfil");
		check(baton_shm_promise_destroy(seg, p), "destroy");
	} else {
		check(baton_shm_future_start(seg, answer, NULL, NULL, &f),
		      "start");
	}
	check(baton_shm_queue_push(seg, out, f, BATON_INFINITY), "push");
}

static void
xhop(baton_shm *seg, baton_shm_queue in, baton_shm_queue out, bool first)
{
	static unsigned char buf[4096];
	struct baton_shm_reason why;
	baton_shm_future f;
	size_t n;
	int r;

	if (first)
		send_future(seg, out);
	check(baton_shm_queue_pop(seg, in, &f, BATON_INFINITY), "pop");
	r = baton_shm_future_take(seg, f, BATON_INFINITY, buf, sizeof(buf),
				  &n, &why);
	if (r != 0) {
		fprintf(stderr, "%s: take: kind %d code %d pid %d signo %d\n",
			bench_program, why.kind, why.code, why.pid, why.signo);
		die("round trip", "take", r);
	}
	check(baton_shm_future_unref(seg, f), "unref");
	if (!first)
		send_future(seg, out);
}

static double
rt_baton(size_t size)
{
	struct baton_shm_opts o = BATON_SHM_OPTS_INIT;
	baton_shm_queue ab, ba;
	baton_shm *seg;
	uint64_t t0;
	pid_t pid;

	o.arena_blocks = 16;
	value_size = size;
	check(baton_shm_create(&seg, &o), "create");
	check(baton_shm_queue_create(seg, 4, &ab), "queue");
	check(baton_shm_queue_create(seg, 4, &ba), "queue");
	pid = spawn();
	if (pid == 0) {
		check(baton_shm_adopt(seg), "adopt");
		for (unsigned long i = 0; i < rounds; i++)
			xhop(seg, ab, ba, false);
		/* The last answer is still being computed: wait for it. */
		while (baton_shm_detach(seg) == -EBUSY)
			usleep(100);
		_exit(0);
	}
	xhop(seg, ba, ab, true); /* warm up: both sides running */
	t0 = now_ns();
	for (unsigned long i = 1; i < rounds; i++)
		xhop(seg, ba, ab, true);
	t0 = now_ns() - t0;
	reap(pid);
	while (baton_shm_detach(seg) == -EBUSY)
		usleep(100);
	return (double)t0 / (double)(rounds - 1) / 1e3;
}

/* A ping-pong over fds: a[1] -> b[0] and b[1] -> a[0]. */
static double
rt_fds(int a0, int a1, int b0, int b1, size_t size)
{
	static unsigned char buf[4096];
	uint64_t t0;
	pid_t pid = spawn();

	if (pid == 0) {
		for (unsigned long i = 0; i < rounds; i++) {
			full_read(b0, buf, size);
			full_write(b1, buf, size);
		}
		_exit(0);
	}
	t0 = now_ns();
	for (unsigned long i = 0; i < rounds; i++) {
		full_write(a1, buf, size);
		full_read(a0, buf, size);
	}
	t0 = now_ns() - t0;
	reap(pid);
	return (double)t0 / (double)rounds / 1e3;
}

static double
rt_pipe(size_t size)
{
	int ab[2], ba[2];
	double us;

	if (pipe(ab) != 0 || pipe(ba) != 0)
		exit(1);
	us = rt_fds(ba[0], ab[1], ab[0], ba[1], size);
	close(ab[0]);
	close(ab[1]);
	close(ba[0]);
	close(ba[1]);
	return us;
}

static double
rt_socketpair(size_t size)
{
	int sv[2];
	double us;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		exit(1);
	us = rt_fds(sv[0], sv[0], sv[1], sv[1], size);
	close(sv[0]);
	close(sv[1]);
	return us;
}

static double
rt_mq(size_t size)
{
	struct mq_attr at = { .mq_maxmsg = 4, .mq_msgsize = 4096 };
	static char buf[4096];
	char na[64], nb[64];
	mqd_t a, b;
	uint64_t t0;
	pid_t pid;

	snprintf(na, sizeof(na), "/baton-bench-a-%d", (int)getpid());
	snprintf(nb, sizeof(nb), "/baton-bench-b-%d", (int)getpid());
	a = mq_open(na, O_RDWR | O_CREAT | O_EXCL, 0600, &at);
	b = mq_open(nb, O_RDWR | O_CREAT | O_EXCL, 0600, &at);
	mq_unlink(na);
	mq_unlink(nb);
	if (a == (mqd_t)-1 || b == (mqd_t)-1)
		return -1;
	pid = spawn();
	if (pid == 0) {
		for (unsigned long i = 0; i < rounds; i++) {
			if (mq_receive(a, buf, sizeof(buf), NULL) < 0 ||
			    mq_send(b, buf, size, 0) != 0)
				_exit(1);
		}
		_exit(0);
	}
	t0 = now_ns();
	for (unsigned long i = 0; i < rounds; i++) {
		if (mq_send(a, buf, size, 0) != 0 ||
		    mq_receive(b, buf, sizeof(buf), NULL) < 0)
			exit(1);
	}
	t0 = now_ns() - t0;
	reap(pid);
	mq_close(a);
	mq_close(b);
	return (double)t0 / (double)rounds / 1e3;
}

static void
fwait(_Atomic uint32_t *w, uint32_t want)
{
	uint32_t v;

	while ((v = atomic_load(w)) != want)
		syscall(SYS_futex, w, FUTEX_WAIT, v, NULL, NULL, 0);
}

static void
fset(_Atomic uint32_t *w, uint32_t v)
{
	atomic_store(w, v);
	syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0);
}

static double
rt_futex(void)
{
	_Atomic uint32_t *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint64_t t0;
	pid_t pid;

	atomic_store(w, 0);
	pid = spawn();
	if (pid == 0) {
		for (uint32_t i = 0; i < rounds; i++) {
			fwait(w, 2 * i + 1);
			fset(w, 2 * i + 2);
		}
		_exit(0);
	}
	t0 = now_ns();
	for (uint32_t i = 0; i < rounds; i++) {
		fset(w, 2 * i + 1);
		fwait(w, 2 * i + 2);
	}
	t0 = now_ns() - t0;
	reap(pid);
	munmap((void *)w, 4096);
	return (double)t0 / (double)rounds / 1e3;
}

static void
round_trips(size_t size, const char *tag)
{
	char name[64];
	double b, bp, p = rt_pipe(size), s = rt_socketpair(size);
	double m = rt_mq(size), f = rt_futex();

	use_promise = false;
	b = rt_baton(size);
	use_promise = true;
	bp = rt_baton(size);
	snprintf(name, sizeof(name), "xproc_handoff_rt_%s", tag);
	out_bench(name, "baton", b, "us");
	out_bench(name, "baton_promise", bp, "us");
	out_bench(name, "pipe", p, "us");
	out_bench(name, "socketpair", s, "us");
	if (m >= 0)
		out_bench(name, "posix_mq", m, "us");
	out_bench(name, "raw_shared_futex", f, "us");
	snprintf(name, sizeof(name), "xproc_handoff_rt_vs_pipe_%s", tag);
	out_ratio(name, "pipe/baton", p / b);
	snprintf(name, sizeof(name), "xproc_handoff_rt_promise_vs_pipe_%s",
		 tag);
	out_ratio(name, "pipe/baton_promise", p / bp);
	snprintf(name, sizeof(name), "xproc_handoff_rt_vs_socketpair_%s", tag);
	out_ratio(name, "socketpair/baton", s / b);
	if (m >= 0) {
		snprintf(name, sizeof(name), "xproc_handoff_rt_vs_mq_%s", tag);
		out_ratio(name, "mq/baton", m / b);
	}
	snprintf(name, sizeof(name), "xproc_handoff_rt_vs_futex_%s", tag);
	out_ratio(name, "futex/baton", f / b);
}

/* ---- streaming ------------------------------------------------------------------- */

/* How a streaming producer makes its futures and a consumer drops them. */
enum stream_mode {
	STREAM_PROMISE,   /* promise create, fulfil, destroy; push; pop */
	STREAM_COMPLETED, /* baton_shm_future_completed; push; pop */
	STREAM_BATCH,     /* completed_many, push_many / pop_many, unref_many */
};

static enum stream_mode stream_mode;

/* Items per call in STREAM_BATCH, and per write/read in the batched pipe. */
#define BATCH 64

static void
x_produce_batch(baton_shm *seg, baton_shm_queue q, unsigned long n)
{
	static unsigned char v[BATCH][16];
	baton_shm_future f[BATCH];

	for (unsigned long i = 0; i < n;) {
		size_t want = n - i < BATCH ? n - i : BATCH, made, put = 0;
		ptrdiff_t k = baton_shm_future_completed_many(seg, v, 16, want,
							      f);

		check(k > 0 ? 0 : (int)k, "completed_many");
		made = (size_t)k;
		while (put < made) {
			ptrdiff_t k = baton_shm_queue_push_many(
				seg, q, f + put, made - put, BATON_INFINITY);

			check(k > 0 ? 0 : (int)k, "push_many");
			put += (size_t)k;
		}
		i += made;
	}
}

static void
x_consume_batch(baton_shm *seg, baton_shm_queue q, unsigned long n)
{
	unsigned char v[16];
	baton_shm_future f[BATCH];
	size_t len;

	for (unsigned long i = 0; i < n;) {
		size_t want = n - i < BATCH ? n - i : BATCH;
		ptrdiff_t k = baton_shm_queue_pop_many(seg, q, f, want,
						       BATON_INFINITY);

		check(k > 0 ? 0 : (int)k, "pop_many");
		for (ptrdiff_t j = 0; j < k; j++)
			check(baton_shm_future_take(seg, f[j], 0, v, sizeof(v),
						    &len, NULL), "take");
		check(baton_shm_future_unref_many(seg, f, (size_t)k),
		      "unref_many");
		i += (unsigned long)k;
	}
}

static void
x_produce(baton_shm *seg, baton_shm_queue q, unsigned long n)
{
	unsigned char v[16] = { 1 };

	if (stream_mode == STREAM_BATCH) {
		x_produce_batch(seg, q, n);
		return;
	}
	for (unsigned long i = 0; i < n; i++) {
		baton_shm_promise p;
		baton_shm_future f;

		if (stream_mode == STREAM_COMPLETED) {
			check(baton_shm_future_completed(seg, v, sizeof(v),
							 &f), "completed");
		} else {
			check(baton_shm_promise_create(seg, &p, &f),
			      "promise");
			check(baton_shm_promise_fulfil(seg, p, v, sizeof(v)),
			      "fulfil");
			check(baton_shm_promise_destroy(seg, p), "destroy");
		}
		check(baton_shm_queue_push(seg, q, f, BATON_INFINITY), "push");
	}
}

static void
x_consume(baton_shm *seg, baton_shm_queue q, unsigned long n)
{
	unsigned char v[16];
	baton_shm_future f;
	size_t len;

	if (stream_mode == STREAM_BATCH) {
		x_consume_batch(seg, q, n);
		return;
	}
	for (unsigned long i = 0; i < n; i++) {
		check(baton_shm_queue_pop(seg, q, &f, BATON_INFINITY), "pop");
		check(baton_shm_future_take(seg, f, BATON_INFINITY, v,
					    sizeof(v), &len, NULL), "take");
		check(baton_shm_future_unref(seg, f), "unref");
	}
}

/* A start line and a finish time shared by the streaming processes. */
struct race {
	atomic_int go;
	_Atomic uint64_t end;
};

static struct race *race;

static void
race_start(void)
{
	while (!atomic_load(&race->go))
		usleep(50);
}

static void
race_finish(void)
{
	uint64_t t = now_ns(), e = atomic_load(&race->end);

	while (e < t && !atomic_compare_exchange_weak(&race->end, &e, t))
		;
}

/* Forks np + nc children running fn(i); items per second between go and
 * the last child's finish (fork and exit are outside the timing). */
static double
race_run(int np, int nc, void (*fn)(int i, int np, int nc, void *ctx),
	 void *ctx)
{
	pid_t pid[4];
	uint64_t t0;

	atomic_store(&race->go, 0);
	atomic_store(&race->end, 0);
	for (int i = 0; i < np + nc; i++) {
		pid[i] = spawn();
		if (pid[i] == 0) {
			fn(i, np, nc, ctx);
			_exit(0);
		}
	}
	usleep(20000);
	t0 = now_ns();
	atomic_store(&race->go, 1);
	for (int i = 0; i < np + nc; i++)
		reap(pid[i]);
	return (double)items / ((double)(atomic_load(&race->end) - t0) / 1e9);
}

struct xctx {
	baton_shm *seg;
	baton_shm_queue q;
};

static void
x_role(int i, int np, int nc, void *ctx)
{
	struct xctx *c = ctx;

	check(baton_shm_adopt(c->seg), "adopt");
	race_start();
	if (i < np)
		x_produce(c->seg, c->q, items / (unsigned long)np);
	else
		x_consume(c->seg, c->q, items / (unsigned long)nc);
	race_finish();
}

/* Items per second with np producer and nc consumer processes. */
static double
stream_baton(int np, int nc)
{
	struct baton_shm_opts o = BATON_SHM_OPTS_INIT;
	struct xctx c;
	double r;

	o.max_futures = 4096;
	o.queue_capacity = 1024;
	check(baton_shm_create(&c.seg, &o), "create");
	check(baton_shm_queue_create(c.seg, 1024, &c.q), "queue");
	r = race_run(np, nc, x_role, &c);
	baton_shm_detach(c.seg);
	return r;
}

/* Values per pipe write and read: 1, or BATCH (1 KiB, < PIPE_BUF). */
static unsigned pipe_batch = 1;

static void
pipe_role(int i, int np, int nc, void *ctx)
{
	static unsigned char v[BATCH * 16];
	unsigned long n = items / (unsigned long)(i < np ? np : nc);
	size_t bytes = 16u * pipe_batch;
	int *fd = ctx;

	race_start();
	/* Whole messages below PIPE_BUF: never torn. */
	for (unsigned long k = 0; k < n; k += pipe_batch) {
		if (i < np)
			full_write(fd[1], v, bytes);
		else
			full_read(fd[0], v, bytes);
	}
	race_finish();
}

static double
stream_pipe(int np, int nc)
{
	int fd[2];
	double r;

	if (pipe(fd) != 0)
		exit(1);
	r = race_run(np, nc, pipe_role, fd);
	close(fd[0]);
	close(fd[1]);
	return r;
}

/* The same promise/queue pipeline between two threads of one process. */
static void *
in_consume(void *arg)
{
	baton_queue *q = arg;

	for (unsigned long i = 0; i < items; i++) {
		baton_future *f;
		void *v;

		check(baton_queue_pop(q, (void **)&f), "pop");
		check(baton_future_take(f, BATON_INFINITY, &v, NULL), "take");
		baton_future_unref(f);
	}
	return NULL;
}

static double
stream_inproc(void)
{
	baton_queue *q;
	pthread_t t;
	uint64_t t0;

	check(baton_queue_create(&q, 1024, baton_future_release), "queue");
	t0 = now_ns();
	pthread_create(&t, NULL, in_consume, q);
	for (unsigned long i = 0; i < items; i++) {
		baton_promise *p;
		baton_future *f;

		check(baton_promise_create(&p, &f), "promise");
		check(baton_promise_fulfil(p, payload, NULL), "fulfil");
		baton_promise_destroy(p);
		check(baton_queue_push(q, f), "push");
	}
	pthread_join(t, NULL);
	t0 = now_ns() - t0;
	baton_queue_destroy(q);
	return (double)items / ((double)t0 / 1e9);
}

/*
 * The design's ceiling: every segment operation of an item (completed,
 * push, pop, take, unref), in one thread, uncontended, 512 at a time.
 */
static double
stream_one_thread(void)
{
	struct baton_shm_opts o = BATON_SHM_OPTS_INIT;
	static baton_shm_future f[512];
	unsigned char v[16] = { 1 };
	baton_shm_queue q;
	baton_shm *seg;
	unsigned long done = 0;
	uint64_t t0;
	size_t len;

	o.max_futures = 4096;
	o.queue_capacity = 1024;
	check(baton_shm_create(&seg, &o), "create");
	check(baton_shm_queue_create(seg, 1024, &q), "queue");
	t0 = now_ns();
	while (done < items) {
		for (int i = 0; i < 512; i++) {
			check(baton_shm_future_completed(seg, v, sizeof(v),
							 &f[i]), "completed");
			check(baton_shm_queue_push(seg, q, f[i], 0), "push");
		}
		for (int i = 0; i < 512; i++) {
			check(baton_shm_queue_pop(seg, q, &f[i], 0), "pop");
			check(baton_shm_future_take(seg, f[i], 0, v, sizeof(v),
						    &len, NULL), "take");
			check(baton_shm_future_unref(seg, f[i]), "unref");
		}
		done += 512;
	}
	t0 = now_ns() - t0;
	baton_shm_detach(seg);
	return (double)done / ((double)t0 / 1e9);
}

/* Runs 1p1c and 2p2c in mode m; prints them against the pipe figures. */
static void
stream_lines(enum stream_mode m, const char *sys, const char *ratio_sys,
	     const double pipe[2], double got[2])
{
	static const char *const name[2] = { "xproc_stream_1p1c",
					     "xproc_stream_2p2c" };
	char rn[96];

	stream_mode = m;
	got[0] = stream_baton(1, 1);
	got[1] = stream_baton(2, 2);
	stream_mode = STREAM_PROMISE;
	for (int i = 0; i < 2; i++) {
		out_bench(name[i], sys, got[i] / 1e6, "Mitems/s");
		snprintf(rn, sizeof(rn), "%s%s_vs_pipe", name[i],
			 m == STREAM_PROMISE	 ? ""
			 : m == STREAM_COMPLETED ? "_completed"
						 : "_batch");
		out_ratio(rn, ratio_sys, got[i] / pipe[i]);
	}
}

static void
streaming(void)
{
	double pipe1[2], pipe64[2], b[2], c[2], bb[2], in, one;

	pipe1[0] = stream_pipe(1, 1);
	pipe1[1] = stream_pipe(2, 2);
	/* The batched runs move ten times the items, so that each lasts
	 * about as long as a one-value run: a 20 ms run was mostly warm-up
	 * (cold slots, page faults) and read 20-30% low. */
	items *= 10;
	pipe_batch = BATCH;
	pipe64[0] = stream_pipe(1, 1);
	pipe64[1] = stream_pipe(2, 2);
	pipe_batch = 1;
	items /= 10;
	out_bench("xproc_stream_1p1c", "pipe", pipe1[0] / 1e6, "Mitems/s");
	out_bench("xproc_stream_2p2c", "pipe", pipe1[1] / 1e6, "Mitems/s");
	out_bench("xproc_stream_1p1c", "pipe_batch64", pipe64[0] / 1e6,
		  "Mitems/s");
	out_bench("xproc_stream_2p2c", "pipe_batch64", pipe64[1] / 1e6,
		  "Mitems/s");
	stream_lines(STREAM_PROMISE, "baton", "baton/pipe", pipe1, b);
	stream_lines(STREAM_COMPLETED, "baton_completed",
		     "baton_completed/pipe", pipe1, c);
	items *= 10; /* as for the batched pipe */
	stream_lines(STREAM_BATCH, "baton_batch64", "baton_batch64/pipe",
		     pipe1, bb);
	items /= 10;
	out_ratio("xproc_stream_1p1c_batch_vs_pipe_batch",
		  "baton_batch64/pipe_batch64", bb[0] / pipe64[0]);
	out_ratio("xproc_stream_2p2c_batch_vs_pipe_batch",
		  "baton_batch64/pipe_batch64", bb[1] / pipe64[1]);
	one = stream_one_thread();
	out_bench("xproc_stream_one_thread", "baton_completed", one / 1e6,
		  "Mitems/s");
	out_ratio("xproc_stream_one_thread_vs_pipe", "baton_completed/pipe",
		  one / pipe1[0]);
	in = stream_inproc();
	out_bench("xproc_pipeline_1p1c", "baton_threads", in / 1e6,
		  "Mitems/s");
	out_bench("xproc_pipeline_1p1c", "baton_processes", b[0] / 1e6,
		  "Mitems/s");
	out_ratio("xproc_cost_of_crossing", "threads/processes", in / b[0]);
}

/* ---- death to wake ----------------------------------------------------------------- */

struct waiter {
	baton_shm *seg;
	baton_shm_future f;
	uint64_t done;
	int rc;
};

static void *
wait_take(void *arg)
{
	struct waiter *w = arg;
	struct baton_shm_reason why;
	unsigned char c;
	size_t n;

	w->rc = baton_shm_future_take(w->seg, w->f, BATON_INFINITY, &c, 1, &n,
				      &why);
	w->done = now_ns();
	return NULL;
}

static void
death_to_wake(void)
{
	uint64_t *ns = calloc(deaths, sizeof(*ns));
	baton_shm_queue q;
	baton_shm *seg;

	check(baton_shm_create(&seg, NULL), "create");
	check(baton_shm_queue_create(seg, 4, &q), "queue");
	for (unsigned long i = 0; i < deaths; i++) {
		struct waiter w = { seg, { 0 }, 0, 0 };
		pthread_t t;
		uint64_t t0;
		pid_t pid = spawn();

		if (pid == 0) {
			baton_shm_promise p;
			baton_shm_future f;

			check(baton_shm_adopt(seg), "adopt");
			check(baton_shm_promise_create(seg, &p, &f), "promise");
			check(baton_shm_queue_push(seg, q, f, 0), "push");
			for (;;)
				pause();
		}
		check(baton_shm_queue_pop(seg, q, &w.f, 5000), "pop");
		pthread_create(&t, NULL, wait_take, &w);
		usleep(5000); /* the waiter is asleep in its slice by now */
		t0 = now_ns();
		kill(pid, SIGKILL);
		pthread_join(t, NULL);
		if (w.rc != BATON_EXITED)
			die("death", "take", w.rc);
		ns[i] = w.done - t0;
		waitpid(pid, NULL, 0);
		check(baton_shm_future_unref(seg, w.f), "unref");
	}
	qsort(ns, deaths, sizeof(*ns), cmp_u64);
	out_bench("xproc_death_to_wake_p50", "baton",
		  (double)quantile(ns, deaths, 0.50) / 1e6, "ms");
	out_bench("xproc_death_to_wake_p99", "baton",
		  (double)quantile(ns, deaths, 0.99) / 1e6, "ms");
	baton_shm_detach(seg);
	free(ns);
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: bench_xproc [--rounds N] [--items N] "
		   "[--deaths N]\n");
}

int
main(int argc, char **argv)
{
	unsigned long long scale;

	bench_program = "bench_xproc";
	scale = bench_scale();
	rounds = rounds * scale / 100;
	items = items * scale / 100;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0)
			usage_exit(usage, 0);
		else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
			rounds = parse_num("--rounds", argv[++i], 2, 1u << 24);
		else if (strcmp(argv[i], "--items") == 0 && i + 1 < argc)
			items = parse_num("--items", argv[++i], 4, 1u << 28);
		else if (strcmp(argv[i], "--deaths") == 0 && i + 1 < argc)
			deaths = parse_num("--deaths", argv[++i], 1, 10000);
		else
			usage_exit(usage, 2);
	}
	if (rounds < 2)
		rounds = 2;
	/* Whole batches for every process of a two-and-two run. */
	items = (items + 2 * BATCH - 1) / (2 * BATCH) * (2 * BATCH);
	watchdog_init();
	print_load("start", true);
	watch("round trips 8 B");
	round_trips(8, "8B");
	watch("round trips 4 KiB");
	round_trips(4096, "4KiB");
	race = mmap(NULL, sizeof(*race), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (race == MAP_FAILED)
		return 1;
	watch("streaming");
	streaming();
	watch("death to wake");
	death_to_wake();
	watch(NULL);
	print_load("end", true);
	return 0;
}
