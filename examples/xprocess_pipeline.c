/*
 * xprocess_pipeline.c - futures handed between OS processes, and what the
 * consumers see when the producer process is killed mid-stream.
 *
 * The parent makes a segment and a queue, forks one producer and two
 * consumers.  The producer starts futures on its pool and pushes them
 * still pending; the consumers pop and take them.  Round 1 checks the
 * totals.  In round 2 the producer is killed (SIGKILL) mid-stream: every
 * future is either taken or fails with the producer's death, and the
 * queue then reports end of stream.  Run: build/examples/xprocess_pipeline
 *
 *   round 1: 2 consumers took 100 values, sum 328350 (expected 328350)
 *   round 2: producer 1894 killed after 100 pushes
 *     future 0x710000005a failed: producer 1894 died
 *     (two more such lines)
 *   round 2: 10 values, 90 futures failed with producer 1894's death
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <baton.h>

#define N 100
#define OK(call) do { int r_ = (call); if (r_ != 0) { \
	fprintf(stderr, "%s:%d: %s: %d\n", __FILE__, __LINE__, #call, r_); \
	exit(1); } } while (0)

struct tally { atomic_long sum; atomic_int values, died, pushed; };
static struct tally *t;
static baton_shm *seg;
static baton_shm_queue q;
static int slow_ms;

static long
square(void *arg, void *buf, size_t cap)
{
	long i = (long)(intptr_t)arg, v = i * i;
	struct timespec d = { 0, slow_ms * 1000000L };

	(void)cap;
	nanosleep(&d, NULL);
	memcpy(buf, &v, sizeof(v));
	return sizeof(v);
}

/* README: xproc */
static void
producer(void)
{
	baton_shm_future f;

	OK(baton_shm_queue_join(seg, q, BATON_SHM_PRODUCER));
	for (long i = 0; i < N; i++) {
		OK(baton_shm_future_start(seg, square, (void *)(intptr_t)i, NULL,
					  &f));
		OK(baton_shm_queue_push(seg, q, f, BATON_INFINITY));
		atomic_fetch_add(&t->pushed, 1);
	}
	while (baton_shm_detach(seg) == -EBUSY) /* bodies still running */
		usleep(1000);
}

static void
consumer(void)
{
	struct baton_shm_reason why;
	baton_shm_future f;
	size_t n;
	long v;
	int r;

	OK(baton_shm_queue_join(seg, q, BATON_SHM_CONSUMER));
	while ((r = baton_shm_queue_pop(seg, q, &f, 5000)) == 0) {
		r = baton_shm_future_take(seg, f, 5000, &v, sizeof(v), &n, &why);
		if (r == 0) {
			atomic_fetch_add(&t->sum, v);
			atomic_fetch_add(&t->values, 1);
		} else if (r == BATON_EXITED && why.kind == BATON_EXIT_NOPROC) {
			if (atomic_fetch_add(&t->died, 1) < 3)
				printf("  future %#llx failed: producer %d died\n",
				       (unsigned long long)f.id, why.pid);
		} else {
			fprintf(stderr, "take: %d\n", r);
			exit(1);
		}
		OK(baton_shm_future_unref(seg, f));
	}
	if (r != -EPIPE) { /* end of stream once the producer is gone */
		fprintf(stderr, "pop: %d\n", r);
		exit(1);
	}
	OK(baton_shm_detach(seg));
}
/* README: end */

static pid_t
spawn(void (*fn)(void))
{
	pid_t pid;

	fflush(stdout);
	if ((pid = fork()) < 0)
		exit(1);
	if (pid == 0) {
		OK(baton_shm_adopt(seg)); /* a child's one required call */
		fn();
		exit(0);
	}
	return pid;
}

static int
reap(pid_t pid)
{
	int st;

	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static pid_t
round_start(int ms, pid_t *c)
{
	memset(t, 0, sizeof(*t));
	slow_ms = ms;
	OK(baton_shm_queue_create(seg, N, &q));
	c[0] = spawn(consumer);
	c[1] = spawn(consumer);
	return spawn(producer);
}

int
main(void)
{
	pid_t p, c[2];

	t = mmap(NULL, sizeof(*t), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (t == MAP_FAILED)
		return 1;
	OK(baton_shm_create(&seg, NULL));

	p = round_start(0, c);
	if (reap(p) != 0 || reap(c[0]) != 0 || reap(c[1]) != 0)
		return 1;
	printf("round 1: 2 consumers took %d values, sum %ld (expected %d)\n",
	       atomic_load(&t->values), atomic_load(&t->sum),
	       (N - 1) * N * (2 * N - 1) / 6);
	if (atomic_load(&t->values) != N ||
	    atomic_load(&t->sum) != (N - 1) * N * (2 * N - 1) / 6)
		return 1;
	OK(baton_shm_queue_destroy(seg, q));

	p = round_start(3, c);
	while (atomic_load(&t->pushed) < N || atomic_load(&t->values) < 10)
		usleep(1000);
	kill(p, SIGKILL);
	printf("round 2: producer %d killed after %d pushes\n", (int)p,
	       atomic_load(&t->pushed));
	fflush(stdout);
	if (reap(p) != 128 + SIGKILL || reap(c[0]) != 0 || reap(c[1]) != 0)
		return 1;
	printf("round 2: %d values, %d futures failed with producer %d's "
	       "death\n", atomic_load(&t->values), atomic_load(&t->died),
	       (int)p);
	if (atomic_load(&t->values) + atomic_load(&t->died) != N)
		return 1; /* nothing lost, nothing twice */
	OK(baton_shm_queue_destroy(seg, q));
	OK(baton_shm_detach(seg));
	return 0;
}
