/*
 * xproc_chaos.c - the chaos soak: producer and consumer processes hand
 * futures through one queue while a killer kill -9s a random one every few
 * milliseconds and a spawner replaces it.
 *
 * Checked at the end: every value taken was taken once (a shared log of
 * taken values, sorted, has no duplicate) and carried intact bytes (inline
 * and arena sizes); every pop resolved (a value or BATON_EXIT_NOPROC, never
 * a timeout); after the survivors leave, the queue reports end of stream,
 * and the segment balances (every slot free, nothing queued, no process
 * left dead and uncleaned).  No process that leaves ever found the lock
 * it held taken over (two owners at once: lock.c's notes on identity).
 * Besides the kills, a producer now and then leaves on its own (detach,
 * exit 0) and is replaced, so detaches race the others all run long.
 *
 * Sized by BATON_STRESS_SCALE (2 s of killing at 100).  Run:
 * build/tests/xproc/xproc_chaos
 */
#include <stdatomic.h>
#include <sys/mman.h>

#include "xproc_test.h"
#include "xproc.h"
#include "../stress/stress.h"

enum { PRODUCERS = 3, CONSUMERS = 3, NF = 512, LOG_CAP = 1 << 20 };

struct shared {
	atomic_int stop;
	atomic_uint serial;        /* producer incarnations */
	atomic_ulong pushed, values, died, bad, logged, left;
	uint64_t log[LOG_CAP];
};

static struct shared *sh;
static baton_shm_queue q;

static size_t
size_of(uint64_t id)
{
	return (id % 5 == 0) ? 200 : 8; /* some values use the arena */
}

static void
fill(unsigned char *buf, uint64_t id, size_t n)
{
	memcpy(buf, &id, 8);
	for (size_t i = 8; i < n; i++)
		buf[i] = (unsigned char)(id * 31 + i);
}

/*
 * Now and then a producer leaves on its own (detach, exit 0) and the
 * parent replaces it: a detach's last section then races the other
 * processes' locks, not only at the end of the run.  Consumers stay: if
 * all three left just before the end, with nobody to replace them, the
 * producers' pushes into a full queue would time out.
 */
static bool
leaves_now(struct stress_rng *rng)
{
	if (stress_rng_below(rng, 1000) != 0)
		return false;
	atomic_fetch_add(&sh->left, 1);
	return true;
}

static int
producer(baton_shm *seg, void *arg)
{
	uint64_t serial = (uint64_t)atomic_fetch_add(&sh->serial, 1);
	unsigned char buf[256];
	struct stress_rng rng;

	(void)arg;
	stress_rng_init(&rng, stress_seed(), (uint64_t)getpid());
	CHECK_EQ(baton_shm_queue_join(seg, q, BATON_SHM_PRODUCER), 0);
	for (uint64_t seq = 0; !atomic_load(&sh->stop); seq++) {
		uint64_t id = (serial << 32) | seq;
		baton_shm_promise p;
		baton_shm_future f;
		int r;

		/* Checked on every lap: a process may be killed any time. */
		CHECK_EQ(atomic_load(&seg->lock_lost), 0);
		if (leaves_now(&rng))
			break;
		/* Half the log at most: since waiters spin, a fast run on a
		 * quiet machine pushed more than LOG_CAP values in the time
		 * limit.  Past it, idle until stopped (or killed). */
		if (atomic_load(&sh->pushed) >= LOG_CAP / 2) {
			usleep(1000);
			continue;
		}
		r = baton_shm_promise_create(seg, &p, &f);

		if (r == -ENOSPC) {
			usleep(200);
			continue;
		}
		CHECK_EQ(r, 0);
		/* Pushed pending: a kill from here on must answer NOPROC. */
		r = baton_shm_queue_push(seg, q, f, 2000);
		if (r != 0) {
			CHECK(r == -EPIPE);
			baton_shm_promise_destroy(seg, p);
			baton_shm_future_unref(seg, f);
			break;
		}
		atomic_fetch_add(&sh->pushed, 1);
		fill(buf, id, size_of(id));
		CHECK_EQ(baton_shm_promise_fulfil(seg, p, buf, size_of(id)), 0);
		CHECK_EQ(baton_shm_promise_destroy(seg, p), 0);
	}
	CHECK_EQ(atomic_load(&seg->lock_lost), 0); /* never two owners */
	CHECK_EQ(baton_shm_detach(seg), 0);
	return 0;
}

static int
consumer(baton_shm *seg, void *arg)
{
	unsigned char buf[256], want[256];
	struct baton_shm_reason why;
	baton_shm_future f;
	size_t len;
	int r;

	(void)arg;
	CHECK_EQ(baton_shm_queue_join(seg, q, BATON_SHM_CONSUMER), 0);
	while ((r = baton_shm_queue_pop(seg, q, &f, 5000)) == 0) {
		uint64_t id;

		CHECK_EQ(atomic_load(&seg->lock_lost), 0);
		r = baton_shm_future_take(seg, f, 5000, buf, sizeof(buf), &len,
					  &why);
		if (r == 0) {
			memcpy(&id, buf, 8);
			fill(want, id, size_of(id));
			if (len != size_of(id) || memcmp(buf, want, len) != 0)
				atomic_fetch_add(&sh->bad, 1);
			sh->log[atomic_fetch_add(&sh->logged, 1) %
				LOG_CAP] = id + 1; /* 0: killed before */
			atomic_fetch_add(&sh->values, 1);
		} else if (r == BATON_EXITED && why.kind == BATON_EXIT_NOPROC) {
			atomic_fetch_add(&sh->died, 1);
		} else {
			/* Enough to explain a repeat: the slot as found
			 * (the index is in range: the pop checked it). */
			struct xslot *s = xslot_at(seg, (uint32_t)f.id);

			fprintf(stderr,
				"consumer %d: take %d on future %#llx: slot "
				"gen %u state %u refs %u taken %u producer "
				"%u promise %u, this row's refs %u\n",
				(int)getpid(), r, (unsigned long long)f.id,
				xld(&s->gen), xld(&s->state), xld(&s->refs),
				xld(&s->taken), xld(&s->producer),
				xld(&s->promise),
				xld(xref_at(seg, (uint32_t)f.id, seg->me)));
			atomic_fetch_add(&sh->bad, 1);
		}
		CHECK_EQ(baton_shm_future_unref(seg, f), 0);
	}
	if (r != -EPIPE) {
		fprintf(stderr, "consumer: pop %d\n", r);
		atomic_fetch_add(&sh->bad, 1);
	}
	CHECK_EQ(atomic_load(&seg->lock_lost), 0); /* never two owners */
	CHECK_EQ(baton_shm_detach(seg), 0);
	return 0;
}

/* Reaps the processes that left on their own, and replaces them. */
static void
replace_leavers(baton_shm *seg, pid_t *prod, pid_t *cons)
{
	for (int i = 0; i < PRODUCERS + CONSUMERS; i++) {
		pid_t *p = i < PRODUCERS ? &prod[i] : &cons[i - PRODUCERS];
		int st;

		if (waitpid(*p, &st, WNOHANG) != *p)
			continue;
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		*p = xt_spawn(seg, i < PRODUCERS ? producer : consumer, NULL);
	}
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int
main(void)
{
	struct baton_shm_opts o = {
		.max_procs = 16, .max_futures = NF, .max_queues = 1,
		.queue_capacity = 64, .arena_blocks = 128, .block_size = 256,
		.spin_ns = BATON_SHM_SPIN_NS, /* BATON_SHM_OPTS_INIT's */
	};
	pid_t prod[PRODUCERS], cons[CONSUMERS];
	double limit = (double)stress_scaled(2000, 300);
	struct stress_rng rng;
	uint64_t seed = stress_seed(), kills = 0;
	unsigned long n;
	baton_shm *seg;
	double t0;

	alarm(120);
	stress_rng_init(&rng, seed, 0);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(sh != MAP_FAILED);
	CHECK_EQ(baton_shm_create(&seg, &o), 0);
	CHECK_EQ(baton_shm_queue_create(seg, 64, &q), 0);
	/* The parent holds both roles until the end, so that killing every
	 * producer (or consumer) at once cannot end the stream early. */
	CHECK_EQ(baton_shm_queue_join(seg, q, BATON_SHM_PRODUCER |
				      BATON_SHM_CONSUMER), 0);
	for (int i = 0; i < PRODUCERS; i++)
		prod[i] = xt_spawn(seg, producer, NULL);
	for (int i = 0; i < CONSUMERS; i++)
		cons[i] = xt_spawn(seg, consumer, NULL);
	t0 = xt_now_ms();
	while (xt_now_ms() - t0 < limit) {
		uint64_t k = stress_rng_below(&rng, PRODUCERS + CONSUMERS);
		pid_t *victim = k < PRODUCERS ? &prod[k]
					      : &cons[k - PRODUCERS];

		int st;

		usleep((useconds_t)(2000 + stress_rng_below(&rng, 6000)));
		replace_leavers(seg, prod, cons);
		kill(*victim, SIGKILL);
		/* 0: it left on its own just before the kill. */
		st = xt_reap(*victim);
		CHECK(st == 128 + SIGKILL || st == 0);
		*victim = xt_spawn(seg, k < PRODUCERS ? producer : consumer,
				   NULL);
		kills++;
	}
	/* Producers stop and leave: consumers drain, then see -EPIPE. */
	atomic_store(&sh->stop, 1);
	for (int i = 0; i < PRODUCERS; i++)
		CHECK_EQ(xt_reap(prod[i]), 0);
	CHECK_EQ(baton_shm_queue_leave(seg, q, BATON_SHM_PRODUCER), 0);
	for (int i = 0; i < CONSUMERS; i++)
		CHECK_EQ(xt_reap(cons[i]), 0);
	CHECK_EQ(baton_shm_queue_depth(seg, q), 0);
	CHECK_EQ(baton_shm_queue_destroy(seg, q), 0);
	xt_balanced(seg, NF);
	n = atomic_load(&sh->logged);
	CHECK(n <= LOG_CAP);
	qsort(sh->log, n, sizeof(uint64_t), cmp_u64);
	for (unsigned long i = 1; i < n; i++) {
		if (sh->log[i] != 0 && sh->log[i] == sh->log[i - 1]) {
			fprintf(stderr, "taken twice: %#llx\n",
				(unsigned long long)sh->log[i] - 1);
			CHECK(0);
		}
	}
	CHECK_EQ(atomic_load(&sh->bad), 0);
	CHECK(atomic_load(&sh->values) > 0);
	printf("xproc_chaos: seed %#llx, %.0f ms, %llu kills, %lu left on "
	       "their own, %lu pushed, %lu values, %lu died with their "
	       "producer, all balanced\n",
	       (unsigned long long)seed, xt_now_ms() - t0,
	       (unsigned long long)kills, atomic_load(&sh->left),
	       atomic_load(&sh->pushed), atomic_load(&sh->values),
	       atomic_load(&sh->died));
	CHECK_EQ(atomic_load(&seg->lock_lost), 0); /* never two owners */
	CHECK_EQ(baton_shm_detach(seg), 0);
	munmap(sh, sizeof(*sh));
	return 0;
}
