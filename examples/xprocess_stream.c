/*
 * xprocess_stream.c - a stream of small values between OS processes, in
 * batches: the shape for throughput.
 *
 * The parent makes a segment and a queue and forks one producer and two
 * consumers.  The producer turns records into completed futures 64 at a
 * time (baton_shm_future_completed_many) and pushes them 64 at a time
 * (baton_shm_queue_push_many), then leaves the queue.  Each consumer pops
 * up to 64 at a time, takes each value, drops the references in one call
 * (baton_shm_future_unref_many), and stops at the end of the stream
 * (-EPIPE once the producer is gone and the queue is empty).  Every
 * record arrives exactly once: the counts and the sum check out.
 * Run: build/examples/xprocess_stream
 *
 *   streamed 200000 records in batches of 64: 200000 taken
 *     (consumer 1: 112064, consumer 2: 87936), sum checks out
 *   5.57 M records/s, fork to the last exit
 *
 * (On a 2-vCPU VM a pipe moves about 0.5 M such records a second, one a
 * write: tests/bench/bench_xproc.)
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <baton.h>

#define N 200000L
#define BATCH 64
#define CONSUMERS 2

#define OK(call) do { long r_ = (long)(call); if (r_ < 0) { \
	fprintf(stderr, "%s:%d: %s: %ld\n", __FILE__, __LINE__, #call, r_); \
	exit(1); } } while (0)

struct record { uint64_t seq, square; };

/* Shared by the processes: what each consumer took. */
struct tally { atomic_long taken[CONSUMERS], sum; };

static baton_shm *seg;
static baton_shm_queue q;

static void
producer(void)
{
	struct record r[BATCH];
	baton_shm_future f[BATCH];

	OK(baton_shm_adopt(seg));
	OK(baton_shm_queue_join(seg, q, BATON_SHM_PRODUCER));
	for (long next = 0; next < N;) {
		size_t want = N - next < BATCH ? (size_t)(N - next) : BATCH;
		ptrdiff_t made, put = 0;

		for (size_t i = 0; i < want; i++)
			r[i] = (struct record){ (uint64_t)(next + (long)i),
						(uint64_t)(next + (long)i) *
						    (uint64_t)(next + (long)i) };
		/* Fewer than asked when slots run short: push what we got. */
		made = baton_shm_future_completed_many(seg, r, sizeof(r[0]),
						       want, f);
		OK(made);
		while (put < made) {
			ptrdiff_t k = baton_shm_queue_push_many(
			    seg, q, f + put, (size_t)(made - put),
			    BATON_INFINITY);

			OK(k);
			put += k;
		}
		next += made;
	}
	/* The last producer leaving is the consumers' end of stream. */
	OK(baton_shm_queue_leave(seg, q, BATON_SHM_PRODUCER));
	OK(baton_shm_detach(seg));
}

static void
consumer(int me, struct tally *t)
{
	baton_shm_future f[BATCH];
	struct record r;
	size_t len;
	long taken = 0, sum = 0;
	ptrdiff_t k;

	OK(baton_shm_adopt(seg));
	OK(baton_shm_queue_join(seg, q, BATON_SHM_CONSUMER));
	while ((k = baton_shm_queue_pop_many(seg, q, f, BATCH,
					     BATON_INFINITY)) > 0) {
		for (ptrdiff_t i = 0; i < k; i++) {
			OK(baton_shm_future_take(seg, f[i], 0, &r, sizeof(r),
						 &len, NULL));
			if (len != sizeof(r) || r.square != r.seq * r.seq) {
				fprintf(stderr, "a torn record\n");
				exit(1);
			}
			sum += (long)r.seq;
			taken++;
		}
		OK(baton_shm_future_unref_many(seg, f, (size_t)k));
	}
	if (k != -EPIPE) { /* anything but the end of the stream */
		fprintf(stderr, "pop_many: %ld\n", (long)k);
		exit(1);
	}
	atomic_store(&t->taken[me], taken);
	atomic_fetch_add(&t->sum, sum);
	OK(baton_shm_detach(seg));
}

int
main(void)
{
	struct baton_shm_opts o = BATON_SHM_OPTS_INIT;
	struct tally *t = mmap(NULL, sizeof(*t), PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pid[CONSUMERS + 1];
	struct timespec a, b;
	long taken = 0;
	int bad = 0;
	double s;

	if (t == MAP_FAILED)
		return 1;
	o.max_futures = 4096;
	o.queue_capacity = 1024;
	OK(baton_shm_create(&seg, &o));
	OK(baton_shm_queue_create(seg, 1024, &q));
	/* A producer role held by the parent until the producer child has
	 * exited: no consumer can see an empty, producer-less queue (the
	 * end of the stream) before the producer has joined. */
	OK(baton_shm_queue_join(seg, q, BATON_SHM_PRODUCER));
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i <= CONSUMERS; i++) {
		pid[i] = fork();
		if (pid[i] < 0)
			return 1;
		if (pid[i] == 0) {
			if (i == 0)
				producer();
			else
				consumer(i - 1, t);
			_exit(0);
		}
	}
	for (int i = 0; i <= CONSUMERS; i++) {
		int st;

		if (waitpid(pid[i], &st, 0) != pid[i] || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0)
			bad = 1;
		/* The producer has gone (pid[0] first): our role ends too,
		 * and the consumers see the end of the stream. */
		if (i == 0)
			OK(baton_shm_queue_leave(seg, q, BATON_SHM_PRODUCER));
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	for (int i = 0; i < CONSUMERS; i++)
		taken += atomic_load(&t->taken[i]);
	printf("streamed %ld records in batches of %d: %ld taken\n"
	       "  (consumer 1: %ld, consumer 2: %ld), sum %s\n",
	       N, BATCH, taken, atomic_load(&t->taken[0]),
	       atomic_load(&t->taken[1]),
	       atomic_load(&t->sum) == N * (N - 1) / 2 ? "checks out"
						      : "is wrong");
	printf("%.2f M records/s, fork to the last exit\n", (double)N / s / 1e6);
	OK(baton_shm_detach(seg));
	return bad || taken != N || atomic_load(&t->sum) != N * (N - 1) / 2;
}
