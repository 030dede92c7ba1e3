/*
 * xproc_faults.c - the cross-process fault cases, each with counts that
 * must balance (every future resolves exactly once, every slot comes back,
 * every pushed item is popped or released).
 *
 * Scenarios: round trip (inline and arena values); -ECHILD before adopt; a
 * wake crosses fork (a private futex op would lose it); kill -9 of a
 * producer before, during and after completion; a producer already dead;
 * a consumer killed holding references; deaths inside the lock in a push
 * and in a pop (the undo log); all producers / all consumers of a queue
 * dying; SIGSTOP is not death; corrupt images (magic, version, ABI, size,
 * seals); a full segment; PID reuse; the lock's owner word names a row's
 * incarnation (a stale takeover fails) and a detaching process's lock is
 * not taken over; exactly one taker among processes;
 * fd passing; a change clears the sleepers' bit; a spin never outlasts a
 * deadline; cancel; a body on the pool; named segments (O_EXCL, checks on
 * open, a stale name reclaimed once, the last user unlinks); completed
 * futures (outliving their producer, their errors leaving nothing);
 * batches (prefixes, order across the lock's holds, errors; kill -9
 * inside batch calls leaves every item whole or absent).
 *
 * Run: build/tests/xproc/xproc_faults [scenario]   (plain executable: it
 * forks and kills; prints one line per scenario; exit 0 when all pass).
 */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "xproc_test.h"
#include "xproc.h"

#define NF 16
static const struct baton_shm_opts small = {
	.max_procs = 8, .max_futures = NF, .max_queues = 4,
	.queue_capacity = 16, .arena_blocks = 4, .block_size = 1024,
	.spin_ns = BATON_SHM_SPIN_NS, /* BATON_SHM_OPTS_INIT's */
};

static baton_shm *
mk(void)
{
	baton_shm *seg;

	CHECK_EQ(baton_shm_create(&seg, &small), 0);
	return seg;
}

/* ---- round trip --------------------------------------------------------------- */

static baton_shm_queue gq;

static int
child_take_two(baton_shm *seg, void *arg)
{
	baton_shm_future f;
	unsigned char buf[1024];
	size_t n;
	uint64_t v;

	(void)arg;
	CHECK_EQ(baton_shm_queue_pop(seg, gq, &f, 5000), 0);
	CHECK_EQ(baton_shm_future_take(seg, f, 5000, &v, sizeof(v), &n, NULL),
		 0);
	CHECK_EQ(n, 8);
	CHECK_EQ(v, 0x1234567890ULL);
	CHECK_EQ(baton_shm_future_take(seg, f, 0, &v, sizeof(v), &n, NULL),
		 -EALREADY);
	CHECK_EQ(baton_shm_future_unref(seg, f), 0);
	CHECK_EQ(baton_shm_future_unref(seg, f), -EPERM);
	CHECK_EQ(baton_shm_queue_pop(seg, gq, &f, 5000), 0);
	CHECK_EQ(baton_shm_future_copy(seg, f, 5000, buf, 10, &n, NULL),
		 -EMSGSIZE);
	CHECK_EQ(n, 1000);
	CHECK_EQ(baton_shm_future_copy(seg, f, 5000, buf, sizeof(buf), &n,
				       NULL), 0);
	for (int i = 0; i < 1000; i++)
		CHECK_EQ(buf[i], (unsigned char)i);
	CHECK_EQ(baton_shm_future_unref(seg, f), 0);
	CHECK_EQ(baton_shm_detach(seg), 0);
	return 0;
}

static void
s_roundtrip(void)
{
	baton_shm *seg = mk();
	baton_shm_promise p, p2;
	baton_shm_future f, f2;
	unsigned char big[1000];
	uint64_t v = 0x1234567890ULL;
	pid_t pid;

	CHECK_EQ(baton_shm_queue_create(seg, 4, &gq), 0);
	CHECK_EQ(baton_shm_promise_create(seg, &p, &f), 0);
	CHECK_EQ(baton_shm_promise_create(seg, &p2, &f2), 0);
	CHECK_EQ(baton_shm_queue_push(seg, gq, f, 0), 0);
	CHECK_EQ(baton_shm_queue_push(seg, gq, f, 0), -EPERM); /* moved */
	pid = xt_spawn(seg, child_take_two, NULL);
	CHECK_EQ(baton_shm_promise_fulfil(seg, p, &v, sizeof(v)), 0);
	CHECK_EQ(baton_shm_promise_fulfil(seg, p, &v, sizeof(v)), -EALREADY);
	for (int i = 0; i < 1000; i++)
		big[i] = (unsigned char)i;
	CHECK_EQ(baton_shm_promise_fulfil(seg, p2, big, sizeof(big)), 0);
	CHECK_EQ(baton_shm_queue_push(seg, gq, f2, 0), 0);
	CHECK_EQ(xt_reap(pid), 0);
	CHECK_EQ(baton_shm_promise_destroy(seg, p), 0);
	CHECK_EQ(baton_shm_promise_destroy(seg, p), -ESTALE);
	CHECK_EQ(baton_shm_promise_destroy(seg, p2), 0);
	CHECK_EQ(baton_shm_queue_destroy(seg, gq), 0);
	xt_balanced(seg, NF);
	CHECK_EQ(baton_shm_detach(seg), 0);
}

/* ---- fork rules ------------------------------------------------------------------ */

static void
s_echild(void)
{
	baton_shm *seg = mk();
	baton_shm_promise p;
	baton_shm_future f;
	pid_t pid;

	CHECK_EQ(baton_shm_adopt(seg), -EALREADY);
	CHECK_EQ(baton_shm_promise_create(seg, &p, &f), 0);
	pid = xt_fork();
	if (pid == 0) {
		baton_shm_promise p2;
		baton_shm_future f2;

		CHECK_EQ(baton_shm_future_wait(seg, f, 0), -ECHILD);
		CHECK_EQ(baton_shm_promise_fulfil(seg, p, "x", 1), -ECHILD);
		CHECK_EQ(baton_shm_promise_create(seg, &p2, &f2), -ECHILD);
		CHECK_EQ(baton_shm_fd(seg), -ECHILD);
		CHECK_EQ(baton_shm_detach(seg), 0); /* unmaps only */
		_exit(0);
	}
	CHECK_EQ(xt_reap(pid), 0);
	/* The child's detach changed nothing of ours. */
	CHECK_EQ(baton_shm_future_wait(seg, f, 0), -ETIMEDOUT);
	pid = xt_fork();
	if (pid == 0) {
		CHECK_EQ(baton_shm_adopt(seg), 0);
		/* Adopted: a row of its own, no references of the parent. */
		CHECK_EQ(baton_shm_future_wait(seg, f, 0), -EPERM);
		CHECK_EQ(baton_shm_promise_fulfil(seg, p, "x", 1), -EPERM);
		CHECK_EQ(baton_shm_detach(seg), 0);
		_exit(0);
	}
	CHECK_EQ(xt_reap(pid), 0);
	CHECK_EQ(baton_shm_promise_destroy(seg, p), 0);
	CHECK_EQ(baton_shm_future_wait(seg, f, 0), 0);
	CHECK_EQ(baton_shm_future_unref(seg, f), 0);
	xt_balanced(seg, NF);
	CHECK_EQ(baton_shm_detach(seg), 0);
}

/* A wake crosses fork: the woken count is 1 (a private op matches 0). */
static void
s_fork_wake(void)
{
	xu32 *word = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	double t0;
	pid_t pid;
	int woken = 0;

	CHECK(word != MAP_FAILED);
	atomic_store(word, 0);
	pid = xt_fork();
	if (pid == 0) {
		double t = xt_now_ms();

		baton__xfutex_wait(word, 0, 10000000000L);
		_exit(xt_now_ms() - t < 9000 ? 0 : 1);
	}
	t0 = xt_now_ms();
	while (woken == 0 && xt_now_ms() - t0 < 5000) {
		woken = baton__xfutex_wake(word, 1);
		usleep(1000);
	}
	CHECK_EQ(woken, 1);
	CHECK_EQ(xt_reap(pid), 0);
	munmap(word, 4096);
}

/* ---- producer deaths ------------------------------------------------------------------ */

static struct xt_pipe hs, go;

/* Producer: n promises pushed pending; fulfils `fulfil` of them; parks. */
struct prod_arg {
	int n, fulfil;
	bool fulfil_after_go;
};

static int
child_producer(baton_shm *seg, void *arg)
{
	struct prod_arg *a = arg;
	baton_shm_promise p[NF];
	baton_shm_future f;

	for (int i = 0; i < a->n; i++) {
		CHECK_EQ(baton_shm_promise_create(seg, &p[i], &f), 0);
		if (i < a->fulfil && !a->fulfil_after_go)
			CHECK_EQ(baton_shm_promise_fulfil(seg, p[i], &i,
							  sizeof(i)), 0);
		CHECK_EQ(baton_shm_queue_push(seg, gq, f, 0), 0);
	}
	xt_signal(&hs);
	if (a->fulfil_after_go) {
		xt_await(&go);
		for (int i = 0; i < a->fulfil; i++)
			CHECK_EQ(baton_shm_promise_fulfil(seg, p[i], &i,
							  sizeof(i)), 0);
		xt_signal(&hs);
	}
	for (;;)
		pause();
}

static void
s_producer_killed(int n, int fulfil, const char *label)
{
	baton_shm *seg = mk();
	struct prod_arg a = { n, fulfil, false };
	struct baton_shm_reason why;
	baton_shm_future f[NF];
	int values = 0, died = 0, v;
	double t0, worst = 0;
	size_t len;
	pid_t pid;

	xt_pipe_init(&hs);
	CHECK_EQ(baton_shm_queue_create(seg, 16, &gq), 0);
	pid = xt_spawn(seg, child_producer, &a);
	xt_await(&hs);
	for (int i = 0; i < n; i++)
		CHECK_EQ(baton_shm_queue_pop(seg, gq, &f[i], 1000), 0);
	if (fulfil < n)
		CHECK_EQ(baton_shm_future_wait(seg, f[n - 1], 20), -ETIMEDOUT);
	kill(pid, SIGKILL);
	for (int i = 0; i < n; i++) {
		int r;

		t0 = xt_now_ms();
		r = baton_shm_future_take(seg, f[i], 5000, &v, sizeof(v), &len,
					  &why);
		if (xt_now_ms() - t0 > worst)
			worst = xt_now_ms() - t0;
		if (r == 0) {
			CHECK_EQ(v, i);
			values++;
		} else {
			CHECK_EQ(r, BATON_EXITED);
			CHECK_EQ(why.kind, BATON_EXIT_NOPROC);
			CHECK_EQ(why.code, ESRCH);
			CHECK_EQ(why.pid, pid);
			CHECK_EQ(why.signo, SIGKILL);
			died++;
		}
		CHECK_EQ(baton_shm_future_unref(seg, f[i]), 0);
	}
	CHECK_EQ(values, fulfil);
	CHECK_EQ(died, n - fulfil);
	CHECK_EQ(xt_reap(pid), 128 + SIGKILL);
	CHECK_EQ(baton_shm_queue_destroy(seg, gq), 0);
	xt_balanced(seg, NF);
	printf("xproc_faults: producer killed %s: %d values, %d died, "
	       "slowest answer %.2f ms\n", label, values, died, worst);
	CHECK_EQ(baton_shm_detach(seg), 0);
	xt_pipe_close(&hs);
}

static void
s_producer_killed_before(void)
{
	s_producer_killed(3, 0, "before completion");
}

static void
s_producer_killed_after(void)
{
	s_producer_killed(3, 3, "after completion");
}

static void
s_producer_killed_during(void)
{
	s_producer_killed(6, 3, "half way through");
}

static int
child_push_and_exit(baton_shm *seg, void *arg)
{
	baton_shm_promise p;
	baton_shm_future f;

	(void)arg;
	CHECK_EQ(baton_shm_promise_create(seg, &p, &f), 0);
	CHECK_EQ(baton_shm_queue_push(seg, gq, f, 0), 0);
	return 7; /* exits with the promise unfinished, without detaching */
}

static void
s_producer_already_dead(void)
{
	baton_shm *seg = mk();
	struct baton_shm_reason why;
	baton_shm_future f;
	size_t len;
	char c;
	pid_t pid;

	CHECK_EQ(baton_shm_queue_create(seg, 4, &gq), 0);
	pid = xt_spawn(seg, child_push_and_exit, NULL);
	CHECK_EQ(xt_reap(pid), 7);
	CHECK_EQ(baton_shm_queue_pop(seg, gq, &f, 0), 0);
	/* A poll answers at once: no -ETIMEDOUT for a dead producer. */
	CHECK_EQ(baton_shm_future_copy(seg, f, 0, &c, 1, &len, &why),
		 BATON_EXITED);
	CHECK_EQ(why.kind, BATON_EXIT_NOPROC);
	CHECK_EQ(why.pid, pid);
	CHECK_EQ(baton_shm_future_unref(seg, f), 0);
	CHECK_EQ(baton_shm_queue_destroy(seg, gq), 0);
	xt_balanced(seg, NF);
	CHECK_EQ(baton_shm_detach(seg), 0);
}

/* ---- consumer deaths ------------------------------------------------------------------------ */

static int
child_hold(baton_shm *seg, void *arg)
{
	baton_shm_future f;

	(void)arg;
	CHECK_EQ(baton_shm_queue_join(seg, gq, BATON_SHM_CONSUMER), 0);
	CHECK_EQ(baton_shm_queue_pop(seg, gq, &f, 5000), 0);
	CHECK_EQ(baton_shm_future_ref(seg, f), 0);
	CHECK_EQ(baton_shm_future_ref(seg, f), 0);
	xt_signal(&hs);
	for (;;)
		pause();
}

static void
s_consumer_killed_holding(void)
{
	baton_shm *seg = mk();
	struct baton_shm_stats st;
	baton_shm_promise p;
	baton_shm_future f;
	pid_t pid;

	xt_pipe_init(&hs);
	CHECK_EQ(baton_shm_queue_create(seg, 4, &gq), 0);
	CHECK_EQ(baton_shm_promise_create(seg, &p, &f), 0);
	CHECK_EQ(baton_shm_queue_push(seg, gq, f, 0), 0);
	pid = xt_spawn(seg, child_hold, NULL);
	xt_await(&hs);
	kill(pid, SIGKILL);
	CHECK_EQ(xt_reap(pid), 128 + SIGKILL);
	CHECK_EQ(baton_shm_reap(seg), 1);
	CHECK_EQ(baton_shm_reap(seg), 0); /* exactly one cleanup */
	CHECK_EQ(baton_shm_stats(seg, &st), 0);
	CHECK_EQ(st.cleanups, 1);
	CHECK_EQ(st.futures_pending, 1); /* our promise still holds it */
	CHECK_EQ(baton_shm_promise_fulfil(seg, p, "v", 1), 0);
	CHECK_EQ(baton_shm_promise_destroy(seg, p), 0);
	CHECK_EQ(baton_shm_queue_destroy(seg, gq), 0);
	xt_balanced(seg, NF);
	CHECK_EQ(baton_shm_detach(seg), 0);
	xt_pipe_close(&hs);
}

/* ---- deaths inside the lock ---------------------------------------------------------------- */

/* Pops the future, then dies half way through pushing it back. */
static int
child_die_in_push(baton_shm *seg, void *arg)
{
	baton_shm_future f;
	struct xqueue *x = xq_at(seg, (uint32_t)gq.id);
	uint32_t fi;

	(void)arg;
	CHECK_EQ(baton_shm_queue_pop(seg, gq, &f, 5000), 0);
	fi = (uint32_t)f.id;
	baton__xlock(seg);
	baton__xset(seg, xring_at(seg, (uint32_t)gq.id, 0), fi);
	baton__xset(seg, xring_at(seg, (uint32_t)gq.id, 0) + 1,
		    (uint32_t)(f.id >> 32));
	baton__xset(seg, &x->count, 1);
	raise(SIGKILL); /* before the commit */
	return 9;
}

/* Dies half way through a pop: head moved, count not, no commit. */
static int
child_die_in_pop(baton_shm *seg, void *arg)
{
	struct xqueue *x = xq_at(seg, (uint32_t)gq.id);

	(void)arg;
	baton__xlock(seg);
	baton__xset(seg, &x->head, 1);
	baton__xset(seg, &x->count, 0);
	raise(SIGKILL);
	return 9;
}

static void
s_die_in_section(void)
{
	baton_shm *seg = mk();
	struct baton_shm_stats st;
	baton_shm_promise p;
	baton_shm_future f, g;
	pid_t pid;

	CHECK_EQ(baton_shm_queue_create(seg, 4, &gq), 0);
	CHECK_EQ(baton_shm_promise_create(seg, &p, &f), 0);
	CHECK_EQ(baton_shm_future_ref(seg, f), 0);
	CHECK_EQ(baton_shm_queue_push(seg, gq, f, 0), 0);
	pid = xt_spawn(seg, child_die_in_push, NULL);
	CHECK_EQ(xt_reap(pid), 128 + SIGKILL);
	/* Nothing half-pushed is visible; the lock is taken over. */
	CHECK_EQ(baton_shm_queue_pop(seg, gq, &g, 0), -EAGAIN);
	CHECK_EQ(baton_shm_queue_depth(seg, gq), 0);
	CHECK_EQ(baton_shm_stats(seg, &st), 0);
	CHECK_EQ(st.lock_takeovers, 1);
	CHECK_EQ(st.cleanups, 1);
	/* Its popped reference was released with it: ours remain. */
	CHECK_EQ(baton_shm_queue_push(seg, gq, f, 0), 0);
	pid = xt_spawn(seg, child_die_in_pop, NULL);
	CHECK_EQ(xt_reap(pid), 128 + SIGKILL);
	CHECK_EQ(baton_shm_queue_depth(seg, gq), 1); /* rolled back */
	CHECK_EQ(baton_shm_queue_pop(seg, gq, &g, 0), 0);
	CHECK_EQ(g.id, f.id);
	CHECK_EQ(baton_shm_queue_pop(seg, gq, &g, 0), -EAGAIN);
	CHECK_EQ(baton_shm_stats(seg, &st), 0);
	CHECK_EQ(st.lock_takeovers, 2);
	CHECK_EQ(baton_shm_promise_destroy(seg, p), 0);
	CHECK_EQ(baton_shm_future_wait(seg, f, 0), 0);
	CHECK_EQ(baton_shm_future_unref(seg, f), 0);
	CHECK_EQ(baton_shm_queue_destroy(seg, gq), 0);
	xt_balanced(seg, NF);
	CHECK_EQ(baton_shm_detach(seg), 0);
}

/* ---- a queue's producers or consumers all gone ---------------------------------------------- */

static int
child_produce3(baton_shm *seg, void *arg)
{
	baton_shm_promise p;
	baton_shm_future f;
	int base = *(int *)arg;

	CHECK_EQ(baton_shm_queue_join(seg, gq, BATON_SHM_PRODUCER), 0);
	for (int i = 0; i < 3; i++) {
		int v = base + i;

		CHECK_EQ(baton_shm_promise_create(seg, &p, &f), 0);
		CHECK_EQ(baton_shm_promise_fulfil(seg, p, &v, sizeof(v)), 0);
		CHECK_EQ(baton_shm_promise_destroy(seg, p), 0);
		CHECK_EQ(baton_shm_queue_push(seg, gq, f, 5000), 0);
	}
	xt_signal(&hs);
	for (;;)
		pause();
}

static void
s_all_producers_die(void)
{
	baton_shm *seg = mk();
	int base[2] = { 0, 100 }, sum = 0, v;
	baton_shm_future f;
	pid_t pid[2];
	size_t len;

	xt_pipe_init(&hs);
	CHECK_EQ(baton_shm_queue_create(seg, 16, &gq), 0);
	CHECK_EQ(baton_shm_queue_join(seg, gq, BATON_SHM_CONSUMER), 0);
	for (int i = 0; i < 2; i++)
		pid[i] = xt_spawn(seg, child_produce3, &base[i]);
	xt_await(&hs);
	xt_await(&hs);
	kill(pid[0], SIGKILL);
	kill(pid[1], SIGKILL);
	for (int i = 0; i < 6; i++) {
		CHECK_EQ(baton_shm_queue_pop(seg, gq, &f, 5000), 0);
		CHECK_EQ(baton_shm_future_take(seg, f, 0, &v, sizeof(v), &len,
					       NULL), 0);
		sum += v;
		CHECK_EQ(baton_shm_future_unref(seg, f), 0);
	}
	CHECK_EQ(sum, 0 + 1 + 2 + 100 + 101 + 102);
	/* Drained: end of stream, not a hang. */
	CHECK_EQ(baton_shm_queue_pop(seg, gq, &f, 5000), -EPIPE);
	CHECK_EQ(xt_reap(pid[0]), 128 + SIGKILL);
	CHECK_EQ(xt_reap(pid[1]), 128 + SIGKILL);
	CHECK_EQ(baton_shm_queue_destroy(seg, gq), 0);
	xt_balanced(seg, NF);
	CHECK_EQ(baton_shm_detach(seg), 0);
	xt_pipe_close(&hs);
}

static int
child_consume_nothing(baton_shm *seg, void *arg)
{
	(void)arg;
	CHECK_EQ(baton_shm_queue_join(seg, gq, BATON_SHM_CONSUMER), 0);
	xt_signal(&hs);
	for (;;)
		pause();
}

static void *
killer(void *arg)
{
	usleep(50000);
	kill(*(pid_t *)arg, SIGKILL);
	return NULL;
}

static void
s_all_consumers_die(void)
{
	baton_shm *seg = mk();
	baton_shm_promise p;
	baton_shm_future f;
	pthread_t t;
	pid_t pid;

	xt_pipe_init(&hs);
	CHECK_EQ(baton_shm_queue_create(seg, 2, &gq), 0);
	pid = xt_spawn(seg, child_consume_nothing, NULL);
	xt_await(&hs);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(baton_shm_promise_create(seg, &p, &f), 0);
		CHECK_EQ(baton_shm_promise_destroy(seg, p), 0);
		if (i == 2)
			break;
		CHECK_EQ(baton_shm_queue_push(seg, gq, f, 0), 0);
	}
	CHECK_EQ(pthread_create(&t, NULL, killer, &pid), 0);
	/* Blocked while full; wakes with -EPIPE when the consumer dies. */
	CHECK_EQ(baton_shm_queue_push(seg, gq, f, BATON_INFINITY), -EPIPE);
	pthread_join(t, NULL);
	CHECK_EQ(xt_reap(pid), 128 + SIGKILL);
	CHECK_EQ(baton_shm_future_unref(seg, f), 0);
	CHECK_EQ(baton_shm_queue_close_discard(seg, gq), 2);
	CHECK_EQ(baton_shm_queue_destroy(seg, gq), 0);
	xt_balanced(seg, NF);
	CHECK_EQ(baton_shm_detach(seg), 0);
	xt_pipe_close(&hs);
}

/* ---- SIGSTOP is not death -------------------------------------------------------------------- */

static void
s_sigstop(void)
{
	baton_shm *seg = mk();
	struct prod_arg a = { 1, 1, true };
	struct baton_shm_stats st;
	baton_shm_future f;
	size_t len;
	int v;
	pid_t pid;

	xt_pipe_init(&hs);
	xt_pipe_init(&go);
	CHECK_EQ(baton_shm_queue_create(seg, 4, &gq), 0);
	pid = xt_spawn(seg, child_producer, &a);
	xt_await(&hs);
	CHECK_EQ(baton_shm_queue_pop(seg, gq, &f, 1000), 0);
	kill(pid, SIGSTOP);
	CHECK_EQ(baton_shm_future_wait(seg, f, 100), -ETIMEDOUT);
	CHECK_EQ(baton_shm_reap(seg), 0);
	CHECK_EQ(baton_shm_stats(seg, &st), 0);
	CHECK_EQ(st.procs_alive, 2);
	kill(pid, SIGCONT);
	xt_signal(&go);
	CHECK_EQ(baton_shm_future_take(seg, f, 5000, &v, sizeof(v), &len,
				       NULL), 0);
	CHECK_EQ(v, 0);
	xt_await(&hs);
	kill(pid, SIGKILL);
	CHECK_EQ(xt_reap(pid), 128 + SIGKILL);
	CHECK_EQ(baton_shm_future_unref(seg, f), 0);
	CHECK_EQ(baton_shm_queue_destroy(seg, gq), 0);
	xt_balanced(seg, NF);
	CHECK_EQ(baton_shm_detach(seg), 0);
	xt_pipe_close(&hs);
	xt_pipe_close(&go);
}

/* ---- corrupt images ------------------------------------------------------------------------------ */

/* A sealed memfd holding seg's image with word `word` set to v. */
static int
image(baton_shm *seg, size_t word, uint32_t v, bool seal, long extra)
{
	struct stat sb;
	unsigned char *buf;
	int fd = (int)syscall(SYS_memfd_create, "img", MFD_ALLOW_SEALING);

	CHECK(fd >= 0);
	CHECK(fstat(baton_shm_fd(seg), &sb) == 0);
	buf = malloc((size_t)sb.st_size);
	CHECK(buf != NULL);
	CHECK(pread(baton_shm_fd(seg), buf, (size_t)sb.st_size, 0) ==
	      sb.st_size);
	memcpy(buf + word * 4, &v, 4);
	CHECK(write(fd, buf, (size_t)sb.st_size) == sb.st_size);
	if (extra > 0)
		CHECK(ftruncate(fd, sb.st_size + extra) == 0);
	if (seal)
		CHECK(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) == 0);
	free(buf);
	return fd;
}

static void
s_corrupt_images(void)
{
	baton_shm *seg = mk(), *other;
	int fd;
	struct {
		size_t word;
		uint32_t v;
		bool seal;
		long extra;
		int expect;
	} cases[] = {
		{ 0, 0xdeadbeef, true, 0, -EBADMSG },    /* magic */
		{ 2, 99, true, 0, -EPROTO },             /* layout version */
		{ 3, 12345, true, 0, -EPROTO },          /* ABI */
		{ 4, 1000, true, 0, -EPROTO },           /* max_procs */
		{ 5, 1000, true, 0, -EPROTO },           /* sizes vs fstat */
		{ 9, 100, true, 0, -EPROTO },            /* block size */
		{ 10, 4096, true, 0, -EPROTO },          /* recorded total */
		{ 2, X_VERSION, false, 0, -EPROTO },     /* no seals */
		{ 2, X_VERSION, true, 4096, -EPROTO },   /* size vs fstat */
		{ 2, X_VERSION, true, 0, 0 },            /* intact */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fd = image(seg, cases[i].word, cases[i].v, cases[i].seal,
			   cases[i].extra);
		CHECK_EQ(baton_shm_attach(&other, fd), cases[i].expect);
		if (cases[i].expect == 0)
			CHECK_EQ(baton_shm_detach(other), 0);
		else
			CHECK(other == NULL);
		close(fd);
	}
	fd = open("/dev/null", O_RDONLY);
	CHECK_EQ(baton_shm_attach(&other, fd), -EPROTO);
	close(fd);
	CHECK_EQ(baton_shm_attach(&other, -1), -EBADF);
	CHECK_EQ(baton_shm_detach(seg), 0);
}

/* ---- a full segment ------------------------------------------------------------------------------- */

static int
child_adopt_only(baton_shm *seg, void *arg)
{
	(void)seg;
	(void)arg;
	xt_signal(&hs);
	for (;;)
		pause();
	return 0;
}

/*
 * Issue 13's one opts rule: BATON_SHM_OPTS_INIT holds the defaults, NULL
 * means INIT, and a field set to 0 means 0 (never "the default").
 */
static void
s_opts_rule(void)
{
	struct baton_shm_opts o = BATON_SHM_OPTS_INIT;
	baton_shm_queue q;
	baton_shm *seg;

	CHECK_EQ(o.max_procs, 16);
	CHECK_EQ(o.spin_ns, BATON_SHM_SPIN_NS);
	CHECK_EQ(baton_shm_create(&seg, NULL), 0);
	baton_shm_detach(seg);
	o.max_procs = 0;
	CHECK_EQ(baton_shm_create(&seg, &o), -EINVAL);
	CHECK_EQ(seg, NULL);
	o = (struct baton_shm_opts)BATON_SHM_OPTS_INIT;
	o.block_size = 0;
	CHECK_EQ(baton_shm_create(&seg, &o), -EINVAL);
	/* max_queues 0: a segment without queues, not eight of them. */
	o = (struct baton_shm_opts)BATON_SHM_OPTS_INIT;
	o.max_queues = 0;
	o.spin_ns = 0;
	CHECK_EQ(baton_shm_create(&seg, &o), 0);
	CHECK_EQ(baton_shm_queue_create(seg, 4, &q), -ENOSPC);
	baton_shm_detach(seg);
}

static void
s_full(void)
{
	struct baton_shm_opts o = small;
	baton_shm *seg;
	baton_shm_promise p[NF], pg;
	baton_shm_future f[NF], g;
	baton_shm_queue q[4], extra;
	char big[1024] = { 0 };
	pid_t pid;

	o.max_procs = 2;
	o.arena_blocks = 2;
	CHECK_EQ(baton_shm_create(&seg, &o), 0);
	for (int i = 0; i < NF; i++)
		CHECK_EQ(baton_shm_promise_create(seg, &p[i], &f[i]), 0);
	CHECK_EQ(baton_shm_promise_create(seg, &pg, &g), -ENOSPC);
	CHECK_EQ(pg.id, 0);
	CHECK_EQ(baton_shm_promise_fulfil(seg, p[0], big, 1024), 0);
	CHECK_EQ(baton_shm_promise_fulfil(seg, p[1], big, 65), 0);
	CHECK_EQ(baton_shm_promise_fulfil(seg, p[2], big, 65), -ENOSPC);
	CHECK_EQ(baton_shm_promise_fulfil(seg, p[2], big, 1025), -EMSGSIZE);
	CHECK_EQ(baton_shm_promise_fulfil(seg, p[2], big, 64), 0); /* inline */
	for (int i = 0; i < 4; i++)
		CHECK_EQ(baton_shm_queue_create(seg, 1, &q[i]), 0);
	CHECK_EQ(baton_shm_queue_create(seg, 1, &extra), -ENOSPC);
	CHECK_EQ(baton_shm_queue_create(seg, 17, &extra), -EINVAL);
	CHECK_EQ(baton_shm_queue_push(seg, q[0], f[0], 0), 0);
	CHECK_EQ(baton_shm_queue_push(seg, q[0], f[1], 0), -EAGAIN);
	CHECK_EQ(baton_shm_queue_push(seg, q[0], f[1], 10), -ETIMEDOUT);
	xt_pipe_init(&hs);
	pid = xt_spawn(seg, child_adopt_only, NULL);
	xt_await(&hs);
	/* The process table is full: a second child cannot adopt. */
	{
		pid_t c = xt_fork();

		if (c == 0)
			_exit(baton_shm_adopt(seg) == -EUSERS ? 0 : 1);
		CHECK_EQ(xt_reap(c), 0);
	}
	kill(pid, SIGKILL);
	CHECK_EQ(xt_reap(pid), 128 + SIGKILL);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(baton_shm_queue_destroy(seg, q[i]), 0);
	for (int i = 0; i < NF; i++) {
		CHECK_EQ(baton_shm_promise_destroy(seg, p[i]), 0);
		if (i != 0)
			CHECK_EQ(baton_shm_future_unref(seg, f[i]), 0);
	}
	xt_balanced(seg, NF);
	CHECK_EQ(baton_shm_detach(seg), 0);
	xt_pipe_close(&hs);
}

/* ---- PID reuse -------------------------------------------------------------------------------------- */

static void
s_pid_reuse(void)
{
	baton_shm *seg = mk();
	struct xproc *row = xproc_at(seg, 5);
	pid_t pid = xt_fork();

	if (pid == 0) {
		for (;;)
			pause();
	}
	/* A row naming a live pid with another start time: a pid reused
	 * by an unrelated process after the attached one died. */
	baton__xlock(seg);
	baton__xset(seg, &row->pid, (uint32_t)pid);
	baton__xset(seg, &row->start_lo, 1);
	baton__xset(seg, &row->start_hi, 0);
	baton__xset(seg, &row->state, P_ALIVE);
	baton__xcommit(seg);
	baton__xunlock(seg);
	CHECK_EQ(baton_shm_reap(seg), 1);
	CHECK_EQ(xld(&row->state), P_FREE);
	kill(pid, SIGKILL);
	CHECK_EQ(xt_reap(pid), 128 + SIGKILL);
	xt_balanced(seg, NF);
	CHECK_EQ(baton_shm_detach(seg), 0);
}

/* ---- the lock's owner word ------------------------------------------------------------------------------ */

struct lock_seen {
	uint32_t row, word, die;
};

/* Takes the lock and says by which row and owner word it holds it; then
 * dies holding it (die set: the parent kills it) or lets it go on `go`. */
static int
child_lock(baton_shm *seg, void *arg)
{
	struct lock_seen *seen = arg;

	baton__xlock(seg);
	seen->row = seg->me;
	seen->word = xld(&xhdr(seg)->lock) & ~X_LOCK_WAITERS;
	xt_signal(&hs);
	while (seen->die)
		pause();
	xt_await(&go);
	baton__xunlock(seg);
	CHECK_EQ(atomic_load(&seg->lock_lost), 0);
	CHECK_EQ(baton_shm_detach(seg), 0);
	return 0;
}

/*
 * A taker judges an owner dead, then CASes the lock from the word it
 * judged.  If, meanwhile, the dead owner was cleaned up and its row went
 * to a new process that now holds the lock, the CAS must fail: the owner
 * word names the row's incarnation, not the row alone.  Replayed here
 * without the preemption: the stale CAS is made by hand.
 */
static void
s_lock_owner(void)
{
	baton_shm *seg = mk();
	struct baton_shm_stats st;
	struct lock_seen *seen = mmap(NULL, 2 * sizeof(*seen),
				      PROT_READ | PROT_WRITE,
				      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	xu32 *lock = &xhdr(seg)->lock;
	uint32_t stale;
	pid_t pid;

	CHECK(seen != MAP_FAILED);
	xt_pipe_init(&hs);
	xt_pipe_init(&go);
	seen[0].die = 1;
	pid = xt_spawn(seg, child_lock, &seen[0]);
	xt_await(&hs);
	kill(pid, SIGKILL);
	CHECK_EQ(xt_reap(pid), 128 + SIGKILL);
	/* Taken over from the dead owner, which is cleaned up. */
	baton__xlock(seg);
	baton__xunlock(seg);
	CHECK_EQ(baton_shm_stats(seg, &st), 0);
	CHECK_EQ(st.lock_takeovers, 1);
	CHECK_EQ(st.cleanups, 1);
	/* The next process gets the same row and holds the lock. */
	pid = xt_spawn(seg, child_lock, &seen[1]);
	xt_await(&hs);
	CHECK_EQ(seen[1].row, seen[0].row);
	CHECK(seen[1].word != seen[0].word);
	stale = seen[0].word;
	CHECK(!atomic_compare_exchange_strong(lock, &stale,
					      seen[0].word | X_LOCK_WAITERS));
	xt_signal(&go);
	CHECK_EQ(xt_reap(pid), 0); /* it found its own word at unlock */
	xt_balanced(seg, NF);
	CHECK_EQ(atomic_load(&seg->lock_lost), 0);
	CHECK_EQ(baton_shm_detach(seg), 0);
	munmap(seen, 2 * sizeof(*seen));
	xt_pipe_close(&hs);
	xt_pipe_close(&go);
}

/*
 * A detaching process retires its own row inside its last section, then
 * unlocks.  A taker that judges the owner in between must not take the
 * lock over: detach holds it by pid, and the pid is alive.  The window is
 * held open by the fault-injection build's hook.  Then the detacher dies
 * there: its lock is taken over by pid, and the segment balances.
 */
#ifdef BATON_FAULT_INJECTION
static atomic_int *detach_released;

static void
detach_held(baton_shm *seg)
{
	(void)seg;
	xt_signal(&hs); /* row retired, lock held */
	xt_await(&go);
	atomic_store(detach_released, 1);
}

static int
child_detach_held(baton_shm *seg, void *arg)
{
	(void)arg;
	baton__xtest_detach_held = detach_held;
	CHECK_EQ(baton_shm_detach(seg), 0);
	return 0;
}

static void
detach_dies(baton_shm *seg)
{
	(void)seg;
	raise(SIGKILL); /* holding the lock by pid, row retired */
}

/* Pushes a future of its own, then dies inside its detach. */
static int
child_detach_dies(baton_shm *seg, void *arg)
{
	baton_shm_future f;

	(void)arg;
	CHECK_EQ(baton_shm_future_completed(seg, "v", 1, &f), 0);
	CHECK_EQ(baton_shm_queue_push(seg, gq, f, 0), 0);
	baton__xtest_detach_held = detach_dies;
	baton_shm_detach(seg);
	return 9;
}

static void *
lock_after_detach(void *arg)
{
	baton_shm *seg = arg;

	baton__xlock(seg);
	CHECK_EQ(atomic_load(detach_released), 1); /* not taken over */
	baton__xunlock(seg);
	return NULL;
}
#endif

static void
s_detach_owner(void)
{
#ifdef BATON_FAULT_INJECTION
	baton_shm *seg = mk();
	pthread_t t;
	pid_t pid;

	detach_released = mmap(NULL, sizeof(*detach_released),
			       PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(detach_released != MAP_FAILED);
	xt_pipe_init(&hs);
	xt_pipe_init(&go);
	pid = xt_spawn(seg, child_detach_held, NULL);
	xt_await(&hs);
	CHECK_EQ(pthread_create(&t, NULL, lock_after_detach, seg), 0);
	/* The taker has judged the owner once it flags the word: asleep
	 * (an owner alive) or holding it (taken over, flagged too). */
	while (!(xld(&xhdr(seg)->lock) & X_LOCK_WAITERS))
		sched_yield();
	xt_signal(&go);
	CHECK_EQ(xt_reap(pid), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(atomic_load(&seg->lock_lost), 0);
	xt_balanced(seg, NF);
	CHECK_EQ(baton_shm_detach(seg), 0);
	munmap(detach_released, sizeof(*detach_released));
	xt_pipe_close(&hs);
	xt_pipe_close(&go);

	/* Killed there instead: its lock, held by a dead pid, is taken over;
	 * what it pushed is still ours to pop, and nothing is left over. */
	{
		struct baton_shm_stats st;
		baton_shm_future f;
		unsigned char c;
		size_t n;

		seg = mk();
		CHECK_EQ(baton_shm_queue_create(seg, 4, &gq), 0);
		pid = xt_spawn(seg, child_detach_dies, NULL);
		CHECK_EQ(xt_reap(pid), 128 + SIGKILL);
		CHECK_EQ(baton_shm_queue_pop(seg, gq, &f, 5000), 0);
		CHECK_EQ(baton_shm_stats(seg, &st), 0);
		CHECK_EQ(st.lock_takeovers, 1);
		CHECK_EQ(baton_shm_future_take(seg, f, 0, &c, 1, &n, NULL), 0);
		CHECK_EQ(c, 'v');
		CHECK_EQ(baton_shm_future_unref(seg, f), 0);
		CHECK_EQ(baton_shm_queue_destroy(seg, gq), 0);
		xt_balanced(seg, NF);
		CHECK_EQ(atomic_load(&seg->lock_lost), 0);
		CHECK_EQ(baton_shm_detach(seg), 0);
	}
#else
	printf("xproc_faults: detach_owner: skipped (needs "
	       "-Dfault_injection=true)\n");
#endif
}

/* ---- one taker ---------------------------------------------------------------------------------------- */

static int
child_take(baton_shm *seg, void *arg)
{
	baton_shm_future f;
	size_t len;
	int v, r;

	(void)arg;
	CHECK_EQ(baton_shm_queue_pop(seg, gq, &f, 5000), 0);
	xt_await(&go);
	r = baton_shm_future_take(seg, f, 5000, &v, sizeof(v), &len, NULL);
	CHECK(r == 0 || r == -EALREADY);
	CHECK(r != 0 || v == 42);
	CHECK_EQ(baton_shm_future_unref(seg, f), 0);
	return r == 0 ? 0 : 1;
}

static void
s_take_once(void)
{
	enum { N = 4 };
	baton_shm *seg = mk();
	baton_shm_promise p;
	baton_shm_future f;
	pid_t pid[N];
	int v = 42, winners = 0;

	xt_pipe_init(&go);
	CHECK_EQ(baton_shm_queue_create(seg, 8, &gq), 0);
	CHECK_EQ(baton_shm_promise_create(seg, &p, &f), 0);
	for (int i = 1; i < N; i++)
		CHECK_EQ(baton_shm_future_ref(seg, f), 0);
	for (int i = 0; i < N; i++)
		CHECK_EQ(baton_shm_queue_push(seg, gq, f, 0), 0);
	for (int i = 0; i < N; i++)
		pid[i] = xt_spawn(seg, child_take, NULL);
	for (int i = 0; i < N; i++)
		xt_signal(&go);
	CHECK_EQ(baton_shm_promise_fulfil(seg, p, &v, sizeof(v)), 0);
	CHECK_EQ(baton_shm_promise_destroy(seg, p), 0);
	for (int i = 0; i < N; i++) {
		int st = xt_reap(pid[i]);

		CHECK(st == 0 || st == 1);
		winners += st == 0;
	}
	CHECK_EQ(winners, 1);
	CHECK_EQ(baton_shm_queue_destroy(seg, gq), 0);
	xt_balanced(seg, NF);
	CHECK_EQ(baton_shm_detach(seg), 0);
	xt_pipe_close(&go);
}

/* ---- fd passing, cancel, a body on the pool ------------------------------------------------------------ */

static void
s_fd_passing(void)
{
	baton_shm *seg = mk();
	baton_shm_promise p;
	baton_shm_future f;
	int sv[2], v = 5;
	pid_t pid;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK_EQ(baton_shm_queue_create(seg, 4, &gq), 0);
	CHECK_EQ(baton_shm_promise_create(seg, &p, &f), 0);
	CHECK_EQ(baton_shm_promise_fulfil(seg, p, &v, sizeof(v)), 0);
	CHECK_EQ(baton_shm_promise_destroy(seg, p), 0);
	CHECK_EQ(baton_shm_queue_push(seg, gq, f, 0), 0);
	pid = xt_fork();
	if (pid == 0) {
		baton_shm *mine;
		size_t len;

		/* As an unrelated process would: no inherited handle. */
		CHECK_EQ(baton_shm_detach(seg), 0);
		CHECK_EQ(baton_shm_attach_socket(&mine, sv[1]), 0);
		CHECK_EQ(baton_shm_queue_pop(mine, gq, &f, 1000), 0);
		CHECK_EQ(baton_shm_future_take(mine, f, 1000, &v, sizeof(v),
					       &len, NULL), 0);
		CHECK_EQ(v, 5);
		CHECK_EQ(baton_shm_future_unref(mine, f), 0);
		CHECK_EQ(baton_shm_detach(mine), 0);
		_exit(0);
	}
	CHECK_EQ(baton_shm_send_fd(seg, sv[0]), 0);
	CHECK_EQ(xt_reap(pid), 0);
	close(sv[0]);
	close(sv[1]);
	CHECK_EQ(baton_shm_queue_destroy(seg, gq), 0);
	xt_balanced(seg, NF);
	CHECK_EQ(baton_shm_detach(seg), 0);
}

static int
child_wait_cancelled(baton_shm *seg, void *arg)
{
	struct baton_shm_reason why;
	baton_shm_future f;
	size_t len;
	char c;

	(void)arg;
	CHECK_EQ(baton_shm_queue_pop(seg, gq, &f, 5000), 0);
	xt_signal(&hs);
	CHECK_EQ(baton_shm_future_copy(seg, f, 5000, &c, 1, &len, &why),
		 BATON_EXITED);
	CHECK_EQ(why.kind, BATON_EXIT_SHUTDOWN);
	CHECK_EQ(why.code, ECANCELED);
	CHECK_EQ(baton_shm_future_cancel(seg, f), -EALREADY);
	CHECK_EQ(baton_shm_future_unref(seg, f), 0);
	return 0;
}

/* ---- waiting: the sleepers' flag and the spin ----------------------------------------- */

static int
child_pop_one(baton_shm *seg, void *arg)
{
	baton_shm_future f;

	(void)arg;
	CHECK_EQ(baton_shm_queue_pop(seg, gq, &f, BATON_INFINITY), 0);
	CHECK_EQ(baton_shm_future_unref(seg, f), 0);
	CHECK_EQ(baton_shm_detach(seg), 0);
	return 0;
}

/*
 * A change of a queue clears the sleepers' bit of the seq it replaces
 * (wait.c): one wake per sleep, never a wake system call on every push
 * while a woken sleeper has not run yet.  A stale bit (a sleeper that
 * left) costs one wake, then none.
 */
static void
s_wake_flag(void)
{
	baton_shm *seg = mk();
	baton_shm_promise p;
	baton_shm_future f;
	struct xqueue *x;
	pid_t pid;

	CHECK_EQ(baton_shm_queue_create(seg, 4, &gq), 0);
	x = xq_at(seg, (uint32_t)gq.id);
	pid = xt_spawn(seg, child_pop_one, NULL);
	/* Handshake: the child has flagged its sleep. */
	while (!(atomic_load(&x->seq) & X_SEQ_SLEEPERS))
		usleep(100);
	CHECK_EQ(baton_shm_promise_create(seg, &p, &f), 0);
	CHECK_EQ(baton_shm_queue_push(seg, gq, f, 0), 0);
	CHECK_EQ(atomic_load(&x->seq) & X_SEQ_SLEEPERS, 0); /* cleared */
	CHECK_EQ(xt_reap(pid), 0);
	CHECK_EQ(baton_shm_promise_destroy(seg, p), 0);
	/* A stale flag, nobody asleep: the next change clears it. */
	atomic_fetch_or(&x->seq, X_SEQ_SLEEPERS);
	CHECK_EQ(baton_shm_promise_create(seg, &p, &f), 0);
	CHECK_EQ(baton_shm_queue_push(seg, gq, f, 0), 0);
	CHECK_EQ(atomic_load(&x->seq) & X_SEQ_SLEEPERS, 0);
	CHECK_EQ(baton_shm_promise_fulfil(seg, p, "v", 1), 0);
	CHECK_EQ(baton_shm_promise_destroy(seg, p), 0);
	CHECK_EQ(baton_shm_queue_destroy(seg, gq), 0);
	xt_balanced(seg, NF);
	CHECK_EQ(baton_shm_detach(seg), 0);
}

/* A spin never outlasts the caller's deadline, however long spin_ns is. */
static void
s_spin_deadline(void)
{
	struct baton_shm_opts o = small;
	baton_shm *seg;
	baton_shm_promise p;
	baton_shm_future f, g;
	baton_shm_queue q;
	double t0;

	o.spin_ns = 30L * 1000000000L; /* 30 s */
	CHECK_EQ(baton_shm_create(&seg, &o), 0);
	CHECK_EQ(baton_shm_queue_create(seg, 1, &q), 0);
	CHECK_EQ(baton_shm_promise_create(seg, &p, &f), 0);
	t0 = xt_now_ms();
	CHECK_EQ(baton_shm_future_wait(seg, f, 20), -ETIMEDOUT);
	CHECK(xt_now_ms() - t0 < 10000);
	t0 = xt_now_ms();
	CHECK_EQ(baton_shm_queue_pop(seg, q, &g, 20), -ETIMEDOUT);
	CHECK(xt_now_ms() - t0 < 10000);
	CHECK_EQ(baton_shm_queue_push(seg, q, f, 0), 0);
	CHECK_EQ(baton_shm_promise_destroy(seg, p), 0);
	CHECK_EQ(baton_shm_future_ref(seg, f), -EPERM); /* moved */
	CHECK_EQ(baton_shm_promise_create(seg, &p, &f), 0);
	t0 = xt_now_ms();
	CHECK_EQ(baton_shm_queue_push(seg, q, f, 20), -ETIMEDOUT); /* full */
	CHECK(xt_now_ms() - t0 < 10000);
	CHECK_EQ(baton_shm_queue_destroy(seg, q), 0);
	CHECK_EQ(baton_shm_future_unref(seg, f), 0);
	CHECK_EQ(baton_shm_promise_destroy(seg, p), 0);
	xt_balanced(seg, NF);
	CHECK_EQ(baton_shm_detach(seg), 0);
}

static void
s_cancel(void)
{
	baton_shm *seg = mk();
	baton_shm_promise p;
	baton_shm_future f;
	pid_t pid;

	xt_pipe_init(&hs);
	CHECK_EQ(baton_shm_queue_create(seg, 4, &gq), 0);
	CHECK_EQ(baton_shm_promise_create(seg, &p, &f), 0);
	CHECK_EQ(baton_shm_future_ref(seg, f), 0);
	CHECK_EQ(baton_shm_queue_push(seg, gq, f, 0), 0);
	pid = xt_spawn(seg, child_wait_cancelled, NULL);
	xt_await(&hs);
	CHECK_EQ(baton_shm_future_cancel(seg, f), 0);
	CHECK_EQ(baton_shm_promise_fulfil(seg, p, "x", 1), -EALREADY);
	CHECK_EQ(xt_reap(pid), 0);
	CHECK_EQ(baton_shm_promise_destroy(seg, p), 0);
	CHECK_EQ(baton_shm_future_unref(seg, f), 0);
	CHECK_EQ(baton_shm_queue_destroy(seg, gq), 0);
	xt_balanced(seg, NF);
	CHECK_EQ(baton_shm_detach(seg), 0);
	xt_pipe_close(&hs);
}

static long
square(void *arg, void *buf, size_t cap)
{
	long v = (long)(intptr_t)arg;

	CHECK(cap >= sizeof(v));
	v *= v;
	memcpy(buf, &v, sizeof(v));
	return sizeof(v);
}

static long
failing(void *arg, void *buf, size_t cap)
{
	(void)arg;
	(void)buf;
	(void)cap;
	return -EDOM;
}

static int
child_take_squares(baton_shm *seg, void *arg)
{
	struct baton_shm_reason why;
	baton_shm_future f;
	long v, sum = 0;
	size_t len;

	(void)arg;
	for (int i = 0; i < 5; i++) {
		CHECK_EQ(baton_shm_queue_pop(seg, gq, &f, 5000), 0);
		CHECK_EQ(baton_shm_future_take(seg, f, 5000, &v, sizeof(v),
					       &len, NULL), 0);
		sum += v;
		CHECK_EQ(baton_shm_future_unref(seg, f), 0);
	}
	CHECK_EQ(sum, 0 + 1 + 4 + 9 + 16);
	CHECK_EQ(baton_shm_queue_pop(seg, gq, &f, 5000), 0);
	CHECK_EQ(baton_shm_future_copy(seg, f, 5000, &v, sizeof(v), &len,
				       &why), BATON_EXITED);
	CHECK_EQ(why.kind, BATON_EXIT_ERROR);
	CHECK_EQ(why.code, EDOM);
	CHECK_EQ(baton_shm_future_unref(seg, f), 0);
	return 0;
}

static void
s_pool_body(void)
{
	baton_shm *seg = mk();
	baton_shm_future f;
	pid_t pid;

	CHECK_EQ(baton_shm_queue_create(seg, 8, &gq), 0);
	pid = xt_spawn(seg, child_take_squares, NULL);
	for (long i = 0; i < 5; i++) {
		CHECK_EQ(baton_shm_future_start(seg, square, (void *)i, NULL,
						&f), 0);
		CHECK_EQ(baton_shm_queue_push(seg, gq, f, 5000), 0);
	}
	CHECK_EQ(baton_shm_future_start(seg, failing, NULL, NULL, &f), 0);
	CHECK_EQ(baton_shm_queue_push(seg, gq, f, 5000), 0);
	CHECK_EQ(xt_reap(pid), 0);
	/* Bodies may still be finishing: detach says -EBUSY till then. */
	while (baton_shm_detach(seg) == -EBUSY)
		usleep(1000);
}

/* ---- failure texts ------------------------------------------------------------------------------------------ */

/* A body that says why it failed: its text reaches the other process. */
static long
failing_with_text(void *arg, void *buf, size_t cap)
{
	(void)buf;
	(void)cap;
	baton_exitf(BATON_EXIT_ERROR, EDOM, "input %ld out of range",
		    (long)(intptr_t)arg);
	return 0; /* ignored: the exit wins */
}

/* What another process reads of the failures s_failure_text made. */
static int
child_reads_texts(baton_shm *seg, void *arg)
{
	baton_shm_future f[3];
	struct baton_shm_reason why;
	char buf[8];
	size_t len, n;

	(void)arg;
	for (int i = 0; i < 3; i++)
		CHECK_EQ(baton_shm_queue_pop(seg, gq, &f[i], 5000), 0);
	CHECK_EQ(baton_shm_future_copy(seg, f[0], 5000, buf, sizeof(buf), &len,
				       &why), BATON_EXITED);
	CHECK_EQ(why.kind, BATON_EXIT_ERROR);
	CHECK_EQ(why.code, EIO);
	CHECK(strcmp(why.text, "file a.dat: 7") == 0);
	/* Cut to BATON_SHM_TEXT_MAX - 1 bytes, with the marker. */
	CHECK_EQ(baton_shm_future_copy(seg, f[1], 5000, buf, sizeof(buf), &len,
				       &why), BATON_EXITED);
	n = strnlen(why.text, sizeof(why.text));
	CHECK_EQ(n, BATON_SHM_TEXT_MAX - 1);
	CHECK(strcmp(why.text + n - 3, BATON_EXIT_TRUNCATED) == 0);
	/* No text: "". */
	memset(&why, 'x', sizeof(why));
	CHECK_EQ(baton_shm_future_copy(seg, f[2], 5000, buf, sizeof(buf), &len,
				       &why), BATON_EXITED);
	CHECK_EQ(why.code, 3);
	CHECK_EQ(why.text[0], '\0');
	for (int i = 0; i < 3; i++)
		CHECK_EQ(baton_shm_future_unref(seg, f[i]), 0);
	return 0;
}

static void
s_failure_text(void)
{
	baton_shm *seg = mk();
	baton_shm_promise p[3];
	baton_shm_future f[3], g;
	struct baton_shm_reason why;
	char buf[8], longer[200];
	size_t len;

	for (int i = 0; i < 3; i++)
		CHECK_EQ(baton_shm_promise_create(seg, &p[i], &f[i]), 0);
	/* -ETIMEDOUT: the reason is untouched. */
	memset(&why, 'x', sizeof(why));
	CHECK_EQ(baton_shm_future_copy(seg, f[0], 0, buf, sizeof(buf), &len,
				       &why), -ETIMEDOUT);
	CHECK_EQ(why.text[0], 'x');
	memset(longer, 'q', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	CHECK_EQ(baton_shm_promise_failf(seg, p[0], BATON_EXIT_NORMAL, 1, "x"),
		 -EINVAL);
	CHECK_EQ(baton_shm_promise_failf(seg, p[0], BATON_EXIT_ERROR, 1, NULL),
		 -EINVAL);
	CHECK_EQ(baton_shm_promise_failf(seg, p[0], BATON_EXIT_ERROR, EIO,
					 "file %s: %d", "a.dat", 7), 0);
	CHECK_EQ(baton_shm_promise_failf(seg, p[1], BATON_EXIT_TIMEOUT, 2,
					 "%s", longer), 0);
	CHECK_EQ(baton_shm_promise_fail(seg, p[2], BATON_EXIT_ERROR, 3), 0);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(baton_shm_promise_destroy(seg, p[i]), 0);
	/* Another process reads them: the queue hands it our references. */
	CHECK_EQ(baton_shm_queue_create(seg, 8, &gq), 0);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(baton_shm_queue_push(seg, gq, f[i], 5000), 0);
	CHECK_EQ(xt_reap(xt_spawn(seg, child_reads_texts, NULL)), 0);
	/* A corrupt length from another process: -EPROTO, no read past. */
	CHECK_EQ(baton_shm_promise_create(seg, &p[0], &f[0]), 0);
	CHECK_EQ(baton_shm_promise_failf(seg, p[0], BATON_EXIT_ERROR, 1, "x"),
		 0);
	CHECK_EQ(baton_shm_promise_destroy(seg, p[0]), 0);
	xslot_at(seg, (uint32_t)f[0].id)->len = BATON_SHM_TEXT_MAX;
	CHECK_EQ(baton_shm_future_copy(seg, f[0], 5000, buf, sizeof(buf), &len,
				       &why), -EPROTO);
	xslot_at(seg, (uint32_t)f[0].id)->len = 0xffffffffu;
	CHECK_EQ(baton_shm_future_take(seg, f[0], 5000, buf, sizeof(buf), &len,
				       &why), -EPROTO);
	xslot_at(seg, (uint32_t)f[0].id)->len = 0;
	/* A body's baton_exitf on the pool. */
	CHECK_EQ(baton_shm_future_start(seg, failing_with_text,
					(void *)(intptr_t)42, NULL, &g), 0);
	CHECK_EQ(baton_shm_future_copy(seg, g, 5000, buf, sizeof(buf), &len,
				       &why), BATON_EXITED);
	CHECK_EQ(why.kind, BATON_EXIT_ERROR);
	CHECK_EQ(why.code, EDOM);
	CHECK(strcmp(why.text, "input 42 out of range") == 0);
	CHECK_EQ(baton_shm_future_unref(seg, g), 0);
	CHECK_EQ(baton_shm_future_unref(seg, f[0]), 0);
	while (baton_shm_detach(seg) == -EBUSY)
		usleep(1000);
}

/* ---- named segments ------------------------------------------------------------------------------------ */

static char seg_name[64];

static int
child_named_consumer(baton_shm *inherited, void *arg)
{
	baton_shm *seg;
	baton_shm_future f;
	size_t len;
	int v;

	(void)arg;
	CHECK_EQ(baton_shm_detach(inherited), 0);
	/* As an unrelated process would: by name. */
	CHECK_EQ(baton_shm_open_named(&seg, seg_name), 0);
	CHECK_EQ(baton_shm_queue_pop(seg, gq, &f, 5000), 0);
	CHECK_EQ(baton_shm_future_take(seg, f, 5000, &v, sizeof(v), &len,
				       NULL), 0);
	CHECK_EQ(v, 77);
	CHECK_EQ(baton_shm_future_unref(seg, f), 0);
	CHECK_EQ(baton_shm_detach(seg), 0);
	return 0;
}

static int
child_named_creator(baton_shm *unused, void *arg)
{
	baton_shm *seg;

	(void)unused;
	(void)arg;
	CHECK_EQ(baton_shm_create_named(&seg, seg_name, &small), 0);
	xt_signal(&hs);
	for (;;)
		pause();
	return 0;
}

static bool
name_exists(void)
{
	int fd = shm_open(seg_name, O_RDONLY, 0);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static void
s_named(void)
{
	baton_shm *seg, *other;
	baton_shm_promise p;
	baton_shm_future f;
	int v = 77, fd;
	pid_t pid;

	snprintf(seg_name, sizeof(seg_name), "/baton-test-%d", (int)getpid());
	CHECK_EQ(baton_shm_create_named(&seg, "no-slash", NULL), -EINVAL);
	CHECK_EQ(baton_shm_create_named(&seg, "/a/b", NULL), -EINVAL);
	CHECK_EQ(baton_shm_create_named(&seg, seg_name, &small), 0);
	/* In use: not reclaimed, not replaced. */
	CHECK_EQ(baton_shm_create_named(&other, seg_name, &small), -EEXIST);
	CHECK_EQ(baton_shm_queue_create(seg, 4, &gq), 0);
	CHECK_EQ(baton_shm_promise_create(seg, &p, &f), 0);
	CHECK_EQ(baton_shm_promise_fulfil(seg, p, &v, sizeof(v)), 0);
	CHECK_EQ(baton_shm_promise_destroy(seg, p), 0);
	CHECK_EQ(baton_shm_queue_push(seg, gq, f, 0), 0);
	pid = xt_spawn(seg, child_named_consumer, NULL);
	CHECK_EQ(xt_reap(pid), 0);
	/* A forked child that adopted and detached did not unlink it. */
	CHECK(name_exists());
	/* Checked on open: mode and a foreign object. */
	fd = shm_open(seg_name, O_RDWR, 0);
	CHECK(fd >= 0 && fchmod(fd, 0644) == 0);
	CHECK_EQ(baton_shm_open_named(&other, seg_name), -EPERM);
	CHECK(fchmod(fd, 0600) == 0);
	close(fd);
	CHECK_EQ(baton_shm_open_named(&other, "/baton-none-such"), -ENOENT);
	CHECK_EQ(baton_shm_queue_destroy(seg, gq), 0);
	xt_balanced(seg, NF);
	CHECK_EQ(baton_shm_detach(seg), 0); /* the last user unlinks */
	CHECK(!name_exists());

	/* A stale name: its creator was killed; the next create reclaims
	 * it, but not while the creator lives. */
	xt_pipe_init(&hs);
	pid = xt_fork();
	if (pid == 0)
		_exit(child_named_creator(NULL, NULL));
	xt_await(&hs);
	CHECK_EQ(baton_shm_create_named(&seg, seg_name, &small), -EEXIST);
	kill(pid, SIGKILL);
	CHECK_EQ(xt_reap(pid), 128 + SIGKILL);
	CHECK(name_exists());
	CHECK_EQ(baton_shm_create_named(&seg, seg_name, &small), 0);
	xt_balanced(seg, NF);
	CHECK_EQ(baton_shm_detach(seg), 0);
	CHECK(!name_exists());
	xt_pipe_close(&hs);
}

/* ---- completed futures ---------------------------------------------------------- */

/* Pushes an inline and an arena value, completed, then waits to be killed. */
static int
child_push_completed(baton_shm *seg, void *arg)
{
	uint64_t v = 0x1234567890ULL;
	unsigned char big[1000];
	baton_shm_future f;

	(void)arg;
	for (int i = 0; i < 1000; i++)
		big[i] = (unsigned char)i;
	CHECK_EQ(baton_shm_future_completed(seg, &v, sizeof(v), &f), 0);
	CHECK_EQ(baton_shm_queue_push(seg, gq, f, 0), 0);
	CHECK_EQ(baton_shm_future_completed(seg, big, sizeof(big), &f), 0);
	CHECK_EQ(baton_shm_queue_push(seg, gq, f, 0), 0);
	xt_signal(&hs);
	for (;;)
		pause();
	return 0;
}

/*
 * baton_shm_future_completed: a value in hand becomes a future in one
 * call.  Its producer's death does not touch it (it was never pending),
 * so another process still takes it; its errors leave nothing behind.
 */
static void
s_completed(void)
{
	struct baton_shm_opts o = small;
	struct baton_shm_stats st;
	baton_shm *seg;
	baton_shm_future f[NF], g;
	unsigned char buf[1024] = { 0 };
	uint64_t v = 0;
	size_t n;
	pid_t pid;

	o.arena_blocks = 2;
	CHECK_EQ(baton_shm_create(&seg, &o), 0);
	CHECK_EQ(baton_shm_queue_create(seg, 4, &gq), 0);
	xt_pipe_init(&hs);
	pid = xt_spawn(seg, child_push_completed, NULL);
	xt_await(&hs);
	kill(pid, SIGKILL);
	CHECK_EQ(xt_reap(pid), 128 + SIGKILL);
	CHECK(baton_shm_reap(seg) >= 0);
	CHECK_EQ(baton_shm_queue_pop(seg, gq, &g, 5000), 0);
	CHECK_EQ(baton_shm_future_take(seg, g, 0, &v, sizeof(v), &n, NULL), 0);
	CHECK_EQ(n, 8);
	CHECK_EQ(v, 0x1234567890ULL);
	CHECK_EQ(baton_shm_future_unref(seg, g), 0);
	CHECK_EQ(baton_shm_queue_pop(seg, gq, &g, 5000), 0);
	CHECK_EQ(baton_shm_future_copy(seg, g, 0, buf, sizeof(buf), &n, NULL),
		 0);
	CHECK_EQ(n, 1000);
	for (int i = 0; i < 1000; i++)
		CHECK_EQ(buf[i], (unsigned char)i);
	CHECK_EQ(baton_shm_future_unref(seg, g), 0);
	CHECK_EQ(baton_shm_future_unref(seg, g), -ESTALE); /* freed */
	xt_balanced(seg, NF);

	/* Misuse: nothing is made, *out is cleared. */
	g.id = 42;
	CHECK_EQ(baton_shm_future_completed(seg, NULL, 8, &g), -EINVAL);
	CHECK_EQ(g.id, 0);
	CHECK_EQ(baton_shm_future_completed(seg, buf, 8, NULL), -EINVAL);
	CHECK_EQ(baton_shm_future_completed(seg, buf, 1025, &g), -EMSGSIZE);
	CHECK_EQ(baton_shm_future_completed(seg, NULL, 0, &g), 0); /* empty */
	CHECK(baton_shm_future_is_done(seg, g));
	CHECK_EQ(baton_shm_future_take(seg, g, 0, buf, sizeof(buf), &n, NULL),
		 0);
	CHECK_EQ(n, 0);
	CHECK_EQ(baton_shm_future_unref(seg, g), 0);

	/* The arena fills first: the failed call takes no slot. */
	CHECK_EQ(baton_shm_future_completed(seg, buf, 1024, &f[0]), 0);
	CHECK_EQ(baton_shm_future_completed(seg, buf, 65, &f[1]), 0);
	CHECK_EQ(baton_shm_future_completed(seg, buf, 65, &f[2]), -ENOSPC);
	CHECK_EQ(f[2].id, 0);
	CHECK_EQ(baton_shm_stats(seg, &st), 0);
	CHECK_EQ(st.futures_free, NF - 2);
	CHECK_EQ(st.futures_ready, 2);
	/* Then the slots. */
	for (int i = 2; i < NF; i++)
		CHECK_EQ(baton_shm_future_completed(seg, buf, 64, &f[i]), 0);
	CHECK_EQ(baton_shm_future_completed(seg, buf, 1, &g), -ENOSPC);
	for (int i = 0; i < NF; i++)
		CHECK_EQ(baton_shm_future_unref(seg, f[i]), 0);
	CHECK_EQ(baton_shm_queue_destroy(seg, gq), 0);
	xt_balanced(seg, NF);
	CHECK_EQ(baton_shm_detach(seg), 0);
	xt_pipe_close(&hs);
}

/* ---- batches ----------------------------------------------------------------------- */

/* A 16-byte value that checks itself: its index, then the index inverted. */
static void
batch_value(unsigned char v[16], uint64_t i)
{
	uint64_t inv = ~i;

	memcpy(v, &i, 8);
	memcpy(v + 8, &inv, 8);
}

static uint64_t
batch_index(const unsigned char v[16])
{
	uint64_t i, inv;

	memcpy(&i, v, 8);
	memcpy(&inv, v + 8, 8);
	CHECK_EQ(inv, ~i); /* never a torn or foreign value */
	return i;
}

/*
 * The _many calls: prefixes when room runs out, FIFO order across the
 * lock's bounded holds (more than X_HOLD_MAX items), the errors of their
 * first item, and every reference balanced after.
 */
static void
s_batch(void)
{
	enum { BIG = 3 * X_HOLD_MAX + 5, HOLDS = 4 };
	struct baton_shm_opts o = small;
	static unsigned char vals[BIG][16];
	static baton_shm_future f[BIG + 2], g[BIG + 2];
	unsigned char v[16];
	baton_shm *seg;
	uint32_t seq;
	size_t n;

	o.max_futures = BIG;
	o.queue_capacity = BIG;
	CHECK_EQ(baton_shm_create(&seg, &o), 0);
	CHECK_EQ(baton_shm_queue_create(seg, BIG, &gq), 0);
	for (uint64_t i = 0; i < BIG; i++)
		batch_value(vals[i], i);

	/* More than there are slots: a prefix, the rest zeroed. */
	f[BIG].id = f[BIG + 1].id = 42;
	CHECK_EQ(baton_shm_future_completed_many(seg, vals, 16, BIG + 2, f),
		 BIG);
	CHECK_EQ(f[BIG].id, 0);
	CHECK_EQ(f[BIG + 1].id, 0);
	CHECK_EQ(baton_shm_future_completed_many(seg, vals, 16, 1, g),
		 -ENOSPC);
	/* All of them in one call, over several holds, in order; the
	 * queue's futex word moves once per hold, not per item. */
	seq = atomic_load(&xq_at(seg, (uint32_t)gq.id)->seq);
	CHECK_EQ(baton_shm_queue_push_many(seg, gq, f, BIG, 0), BIG);
	CHECK_EQ(baton_shm_queue_depth(seg, gq), BIG);
	CHECK_EQ(atomic_load(&xq_at(seg, (uint32_t)gq.id)->seq),
		 seq + 2 * HOLDS);
	CHECK_EQ(baton_shm_queue_push_many(seg, gq, f, 1, 0), -EPERM);
	CHECK_EQ(baton_shm_queue_pop_many(seg, gq, g, BIG + 2, 0), BIG);
	CHECK_EQ(g[BIG].id, 0);
	CHECK_EQ(atomic_load(&xq_at(seg, (uint32_t)gq.id)->seq),
		 seq + 4 * HOLDS);
	for (uint64_t i = 0; i < BIG; i++) {
		CHECK_EQ(g[i].id, f[i].id);
		CHECK_EQ(baton_shm_future_take(seg, g[i], 0, v, sizeof(v), &n,
					       NULL), 0);
		CHECK_EQ(batch_index(v), i);
	}
	CHECK_EQ(baton_shm_queue_pop_many(seg, gq, f, 4, 0), -EAGAIN);
	CHECK_EQ(f[0].id, 0); /* cleared */
	CHECK_EQ(baton_shm_future_unref_many(seg, g, BIG), 0);
	CHECK_EQ(baton_shm_future_unref_many(seg, g, 1), -ESTALE);
	xt_balanced(seg, BIG);

	/* A full queue takes a prefix; the rest stay the caller's. */
	CHECK_EQ(baton_shm_queue_destroy(seg, gq), 0);
	CHECK_EQ(baton_shm_queue_create(seg, 4, &gq), 0);
	CHECK_EQ(baton_shm_future_completed_many(seg, vals, 16, 6, f), 6);
	CHECK_EQ(baton_shm_queue_push_many(seg, gq, f, 6, 0), 4);
	CHECK_EQ(baton_shm_queue_push_many(seg, gq, f + 4, 2, 0), -EAGAIN);
	CHECK_EQ(baton_shm_queue_push_many(seg, gq, f + 4, 2, 10),
		 -ETIMEDOUT);
	CHECK_EQ(baton_shm_future_unref_many(seg, f + 4, 2), 0);
	CHECK_EQ(baton_shm_queue_pop_many(seg, gq, g, 3, 0), 3);
	CHECK_EQ(baton_shm_queue_pop_many(seg, gq, g + 3, 3, 0), 1);
	for (uint64_t i = 0; i < 4; i++)
		CHECK_EQ(g[i].id, f[i].id);

	/* A later item this process cannot push ends the run there. */
	CHECK_EQ(baton_shm_future_unref(seg, g[3]), 0); /* g[3] freed */
	CHECK_EQ(baton_shm_queue_push_many(seg, gq, g, 4, 0), 3);
	CHECK_EQ(baton_shm_queue_push_many(seg, gq, g + 3, 1, 0), -ESTALE);
	/* A corrupt item ends a run; first in a call, it is dropped. */
	atomic_store(xring_at(seg, (uint32_t)gq.id, 1) + 1, 0); /* gen 0 */
	CHECK_EQ(baton_shm_queue_pop_many(seg, gq, g, 3, 0), 1);
	CHECK_EQ(g[0].id, f[0].id);
	CHECK_EQ(baton_shm_queue_pop_many(seg, gq, g + 1, 2, 0), -EPROTO);
	CHECK_EQ(baton_shm_queue_pop_many(seg, gq, g + 1, 2, 0), 1);
	CHECK_EQ(g[1].id, f[2].id);
	/* The queue's reference to the corrupt item is lost with it; the
	 * test returns it by hand, as a cleaner would. */
	baton__xlock(seg);
	baton__xslot_release(seg, (uint32_t)f[1].id, UINT32_MAX, 1);
	baton__xcommit(seg);
	baton__xunlock(seg);
	CHECK_EQ(baton_shm_future_ref(seg, g[0]), 0);
	g[2] = g[0];
	/* A bad reference among good ones: the good ones still go. */
	g[3] = g[2];
	g[2].id = 7;
	CHECK_EQ(baton_shm_future_unref_many(seg, g, 4), -EINVAL);
	xt_balanced(seg, BIG);

	/* Misuse: errors, nothing made or moved. */
	CHECK_EQ(baton_shm_future_completed_many(seg, NULL, 16, 2, f), -EINVAL);
	CHECK_EQ(baton_shm_future_completed_many(seg, vals, 16, 2, NULL),
		 -EINVAL);
	CHECK_EQ(baton_shm_future_completed_many(seg, vals, 4096, 2, f),
		 -EMSGSIZE);
	CHECK_EQ(baton_shm_future_completed_many(seg, vals, 16, 0, f), 0);
	CHECK_EQ(baton_shm_queue_push_many(seg, gq, NULL, 1, 0), -EINVAL);
	CHECK_EQ(baton_shm_queue_push_many(seg, gq, f, 0, 0), 0);
	CHECK_EQ(baton_shm_queue_pop_many(seg, gq, NULL, 1, 0), -EINVAL);
	CHECK_EQ(baton_shm_queue_pop_many(seg, gq, g, 0, 0), 0);
	CHECK_EQ(baton_shm_future_unref_many(seg, NULL, 1), -EINVAL);
	CHECK_EQ(baton_shm_queue_close(seg, gq), 0);
	CHECK_EQ(baton_shm_queue_pop_many(seg, gq, g, 2, 0), -EPIPE);
	CHECK_EQ(baton_shm_future_completed_many(seg, vals, 16, 1, f), 1);
	CHECK_EQ(baton_shm_queue_push_many(seg, gq, f, 1, 0), -EPIPE);
	CHECK_EQ(baton_shm_future_unref(seg, f[0]), 0);
	CHECK_EQ(baton_shm_queue_destroy(seg, gq), 0);
	xt_balanced(seg, BIG);
	CHECK_EQ(baton_shm_detach(seg), 0);
}

/* Streams batches forever: make, push; every few rounds, pop and drop. */
static int
child_batch_forever(baton_shm *seg, void *arg)
{
	static unsigned char vals[X_HOLD_MAX + 9][16];
	baton_shm_future f[X_HOLD_MAX + 9];
	uint64_t next = 0;

	(void)arg;
	for (int round = 0;; round++) {
		ptrdiff_t made, put;

		for (size_t i = 0; i < X_HOLD_MAX + 9; i++)
			batch_value(vals[i], next + i);
		made = baton_shm_future_completed_many(
			seg, vals, 16, X_HOLD_MAX + 9, f);
		CHECK(made > 0);
		put = baton_shm_queue_push_many(seg, gq, f, (size_t)made, 0);
		if (put < 0)
			put = 0;
		CHECK_EQ(baton_shm_future_unref_many(seg, f + put,
						     (size_t)(made - put)), 0);
		next += (uint64_t)made;
		if (round == 0)
			xt_signal(&hs); /* running: kill me whenever */
		if (round % 2 == 1) {
			ptrdiff_t k = baton_shm_queue_pop_many(
				seg, gq, f, X_HOLD_MAX + 9, 0);

			CHECK(k > 0);
			CHECK_EQ(baton_shm_future_unref_many(seg, f, (size_t)k),
				 0);
		}
	}
	return 0;
}

/*
 * kill -9 lands inside batch calls (the child spends most of its time
 * under the segment lock): each item is whole or absent.  Everything
 * left in the queue is a valid, untorn value; after draining it and the
 * dead child's cleanup, every slot is free.  200 kills: a pop that
 * commits its moved reference in a section of its own (a mutant) leaks a
 * slot within them (3 runs of 3).
 */
static void
s_batch_killed(void)
{
	enum { CAP = 4 * X_HOLD_MAX, ROUNDS = 200 };
	struct baton_shm_opts o = small;
	static baton_shm_future g[CAP];
	struct baton_shm_stats st;
	unsigned long killed_in_lock = 0;
	unsigned char v[16];
	baton_shm *seg;
	size_t n;

	o.max_futures = 2 * CAP;
	o.queue_capacity = CAP;
	CHECK_EQ(baton_shm_create(&seg, &o), 0);
	for (int r = 0; r < ROUNDS; r++) {
		ptrdiff_t k;
		pid_t pid;

		CHECK_EQ(baton_shm_queue_create(seg, CAP, &gq), 0);
		xt_pipe_init(&hs);
		pid = xt_spawn(seg, child_batch_forever, NULL);
		xt_await(&hs);
		usleep((useconds_t)(r * 97 % 1500)); /* a spread of moments */
		kill(pid, SIGKILL);
		CHECK_EQ(xt_reap(pid), 128 + SIGKILL);
		CHECK(baton_shm_reap(seg) >= 0);
		while ((k = baton_shm_queue_pop_many(seg, gq, g, CAP, 0)) > 0) {
			for (ptrdiff_t i = 0; i < k; i++) {
				CHECK_EQ(baton_shm_future_take(seg, g[i], 0, v,
							       sizeof(v), &n,
							       NULL), 0);
				CHECK_EQ(n, 16);
				(void)batch_index(v);
			}
			CHECK_EQ(baton_shm_future_unref_many(seg, g, (size_t)k),
				 0);
		}
		CHECK_EQ(k, -EAGAIN);
		CHECK_EQ(baton_shm_queue_destroy(seg, gq), 0);
		xt_balanced(seg, 2 * CAP);
		xt_pipe_close(&hs);
	}
	CHECK_EQ(baton_shm_stats(seg, &st), 0);
	killed_in_lock = st.lock_takeovers;
	printf("xproc_faults: batch_killed: %lu of %d kills inside the lock\n",
	       killed_in_lock, ROUNDS);
	CHECK_EQ(baton_shm_detach(seg), 0);
}

static const struct {
	const char *name;
	void (*fn)(void);
} scenarios[] = {
	{ "roundtrip", s_roundtrip },
	{ "failure_text", s_failure_text },
	{ "echild", s_echild },
	{ "fork_wake", s_fork_wake },
	{ "producer_killed_before", s_producer_killed_before },
	{ "producer_killed_during", s_producer_killed_during },
	{ "producer_killed_after", s_producer_killed_after },
	{ "producer_already_dead", s_producer_already_dead },
	{ "consumer_killed_holding", s_consumer_killed_holding },
	{ "die_in_section", s_die_in_section },
	{ "all_producers_die", s_all_producers_die },
	{ "all_consumers_die", s_all_consumers_die },
	{ "sigstop", s_sigstop },
	{ "corrupt_images", s_corrupt_images },
	{ "full", s_full },
	{ "opts_rule", s_opts_rule },
	{ "pid_reuse", s_pid_reuse },
	{ "lock_owner", s_lock_owner },
	{ "detach_owner", s_detach_owner },
	{ "take_once", s_take_once },
	{ "fd_passing", s_fd_passing },
	{ "wake_flag", s_wake_flag },
	{ "spin_deadline", s_spin_deadline },
	{ "cancel", s_cancel },
	{ "pool_body", s_pool_body },
	{ "named", s_named },
	{ "completed", s_completed },
	{ "batch", s_batch },
	{ "batch_killed", s_batch_killed },
};

int
main(int argc, char **argv)
{
	alarm(120); /* a hang is a failure */
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		double t0 = xt_now_ms();

		if (argc > 1 && strcmp(argv[1], scenarios[i].name) != 0)
			continue;
		scenarios[i].fn();
		printf("xproc_faults: %-24s ok (%.1f ms)\n", scenarios[i].name,
		       xt_now_ms() - t0);
		fflush(stdout);
	}
	return 0;
}
