/*
 * bench_queue.c - throughput of baton's queue against a mutex+condvar
 * baseline, item by item and in batches.
 *
 *	bench_queue [--producers P] [--consumers C] [--capacity N]
 *		    [--items M] [--runs R] [--batch B]
 *
 * With no arguments it runs the default matrix, P/C in {1/1, 2/2, 4/4} x
 * capacity in {1024, 16}; giving --producers/--consumers or --capacity
 * pins that dimension.  M items in all (default 2,000,000, times
 * BENCH_SCALE percent from the environment) are split across producers.
 * B is the batch size of the _many variant (default 32; 0 skips it, and
 * so does a capacity below B).
 *
 * Output, on stdout and nothing else:
 *	bench<TAB>name<TAB>system<TAB>items_per_second<TAB>items/s
 *	ratio<TAB>name<TAB>baton/baseline<TAB>x.xx
 * Diagnostics (every run's value) go to stderr.  Exits non-zero if any run
 * loses, duplicates, invents or reorders an item, or hangs.
 *
 * Design notes
 * ============
 * A measurement: create a queue, start P producers and C consumers, which
 * meet at a barrier and each read the clock as they leave it; producers
 * push their items, the last producer to finish closes the queue, and
 * consumers pop until -EPIPE, then read the clock.  The time is from the
 * earliest start to the latest consumer end, so thread creation, joining
 * and checking are outside it.  The throughput is M / time.
 *
 * Fairness: both systems run the same worker code through the same kind of
 * indirect call (a table of wrappers), on a fresh queue each time, and for
 * each configuration the runs alternate between systems (the order rotates
 * every run) so drifting machine noise hits them alike.  We report the
 * median of R runs.  A short unmeasured warm-up precedes everything.
 *
 * Checking: producer p pushes values (seq << shift) | p for seq = 1..n_p,
 * all distinct and non-NULL.  Each consumer sums the values and their
 * squares (mod 2^64) and counts them, and checks that it sees each
 * producer's sequence numbers increasing (FIFO per producer implies that
 * for any single consumer).  Main compares count and both sums with the
 * precomputed ones.  A watchdog alarm turns a hang into a failure.
 *
 * Who frees what: main owns the queue, the workers and their arrays; items
 * are integers and own nothing.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "baton/queue.h"

#include "baseline_queue.h"
#include "bench.h"

#define DEFAULT_ITEMS 2000000ULL
#define DEFAULT_RUNS 5
#define DEFAULT_BATCH 32
#define MAX_BATCH 4096
#define MAX_THREADS 1024

/* The calls a measurement needs, so both systems run the same code. */
struct system {
	const char *name;
	int (*create)(void **q, size_t capacity);
	void (*destroy)(void *q);
	int (*push)(void *q, void *item);
	int (*pop)(void *q, void **item);
	ptrdiff_t (*push_many)(void *q, void *const *items, size_t n);
	ptrdiff_t (*pop_many)(void *q, void **items, size_t n);
	int (*close)(void *q);
};

struct config {
	unsigned producers;
	unsigned consumers;
	size_t capacity;
	uint64_t items;
	size_t batch;		/* 0: single-item push and pop */
	unsigned shift;		/* producer index bits in each value */
	uint64_t sum;		/* of every value, mod 2^64 */
	uint64_t sumsq;		/* of every value squared, mod 2^64 */
};

struct run {
	const struct system *sys;
	const struct config *cfg;
	void *q;
	pthread_barrier_t start;
	atomic_uint producers_left;
};

struct worker {
	alignas(64) struct run *run;	/* own cache line: no false sharing */
	pthread_t tid;
	unsigned idx;
	bool producer;
	uint64_t n;			/* producer: items to push */
	uint64_t count;			/* consumer: items popped */
	uint64_t sum;
	uint64_t sumsq;
	uint64_t disorder;		/* values out of order, or invalid */
	uint64_t start_ns;
	uint64_t end_ns;
	int err;
};

/* baton's queue, wrapped. */

static int
bt_create(void **q, size_t capacity)
{
	baton_queue *bq;
	int rc;

	rc = baton_queue_create(&bq, capacity, NULL);
	*q = bq;
	return rc;
}

static void
bt_destroy(void *q)
{
	baton_queue_destroy(q);
}

static int
bt_push(void *q, void *item)
{
	return baton_queue_push(q, item);
}

static int
bt_pop(void *q, void **item)
{
	return baton_queue_pop(q, item);
}

static ptrdiff_t
bt_push_many(void *q, void *const *items, size_t n)
{
	return baton_queue_push_many(q, items, n);
}

static ptrdiff_t
bt_pop_many(void *q, void **items, size_t n)
{
	return baton_queue_pop_many(q, items, n);
}

static int
bt_close(void *q)
{
	return baton_queue_close(q);
}

/* The baseline, wrapped the same way. */

static int
bl_create(void **q, size_t capacity)
{
	baseline_queue *bq;
	int rc;

	rc = baseline_queue_create(&bq, capacity);
	*q = bq;
	return rc;
}

static void
bl_destroy(void *q)
{
	baseline_queue_destroy(q);
}

static int
bl_push(void *q, void *item)
{
	return baseline_queue_push(q, item);
}

static int
bl_pop(void *q, void **item)
{
	return baseline_queue_pop(q, item);
}

static ptrdiff_t
bl_push_many(void *q, void *const *items, size_t n)
{
	return baseline_queue_push_many(q, items, n);
}

static ptrdiff_t
bl_pop_many(void *q, void **items, size_t n)
{
	return baseline_queue_pop_many(q, items, n);
}

static int
bl_close(void *q)
{
	return baseline_queue_close(q);
}

static const struct system systems[] = {
	{ "baton", bt_create, bt_destroy, bt_push, bt_pop, bt_push_many,
	  bt_pop_many, bt_close },
	{ "baseline", bl_create, bl_destroy, bl_push, bl_pop, bl_push_many,
	  bl_pop_many, bl_close },
};
#define NSYSTEMS (sizeof(systems) / sizeof(systems[0]))

static void
produce(struct worker *w)
{
	const struct system *sys = w->run->sys;
	const struct config *cfg = w->run->cfg;
	void *q = w->run->q;
	void *buf[MAX_BATCH];
	uint64_t seq, k, i, off;
	ptrdiff_t r;
	int rc;

	if (cfg->batch == 0) {
		for (seq = 1; seq <= w->n; seq++) {
			rc = sys->push(q, (void *)(uintptr_t)(seq << cfg->shift
							      | w->idx));
			if (rc != 0) {
				w->err = rc;
				return;
			}
		}
		return;
	}
	for (seq = 1; seq <= w->n; seq += k) {
		k = w->n - seq + 1;
		if (k > cfg->batch)
			k = cfg->batch;
		for (i = 0; i < k; i++)
			buf[i] = (void *)(uintptr_t)((seq + i) << cfg->shift
						     | w->idx);
		/* push_many may take a prefix: push the rest in order. */
		for (off = 0; off < k; off += (uint64_t)r) {
			r = sys->push_many(q, buf + off, k - off);
			if (r <= 0) {
				w->err = r < 0 ? (int)r : -EPROTO;
				return;
			}
		}
	}
}

/* What a consumer does with each item: check it and fold it in. */
static inline void
take(struct worker *w, uint64_t *last, const struct config *cfg, void *item)
{
	uint64_t v = (uint64_t)(uintptr_t)item;
	uint64_t p = v & (((uint64_t)1 << cfg->shift) - 1);
	uint64_t seq = v >> cfg->shift;

	if (p >= cfg->producers || seq <= last[p])
		w->disorder++;
	else
		last[p] = seq;
	w->count++;
	w->sum += v;
	w->sumsq += v * v;
}

static void
consume(struct worker *w, uint64_t *last)
{
	const struct system *sys = w->run->sys;
	const struct config *cfg = w->run->cfg;
	void *q = w->run->q;
	void *buf[MAX_BATCH];
	void *item;
	ptrdiff_t r, i;
	int rc;

	if (cfg->batch == 0) {
		while ((rc = sys->pop(q, &item)) == 0)
			take(w, last, cfg, item);
		if (rc != -EPIPE)
			w->err = rc;
		return;
	}
	while ((r = sys->pop_many(q, buf, cfg->batch)) > 0) {
		for (i = 0; i < r; i++)
			take(w, last, cfg, buf[i]);
	}
	if (r != -EPIPE)
		w->err = r < 0 ? (int)r : -EPROTO;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct run *run = w->run;
	uint64_t *last = NULL;

	if (!w->producer) {
		last = calloc(run->cfg->producers, sizeof(*last));
		if (last == NULL)
			w->err = -ENOMEM;
	}
	pthread_barrier_wait(&run->start);
	w->start_ns = now_ns();

	if (w->producer) {
		produce(w);
		/* acq_rel: the closer comes after every producer's pushes. */
		if (atomic_fetch_sub_explicit(&run->producers_left, 1,
					      memory_order_acq_rel) == 1)
			run->sys->close(run->q);
	} else if (last != NULL) {
		consume(w, last);
	}
	w->end_ns = now_ns();
	free(last);
	return NULL;
}

/*
 * Runs one measurement; stores items/s in *rate.  Returns 0, or -1 after
 * reporting what went wrong on stderr.
 */
static int
measure(const struct system *sys, const struct config *cfg, const char *name,
	double *rate)
{
	unsigned nthreads = cfg->producers + cfg->consumers;
	struct worker *w;
	struct run run;
	uint64_t count = 0, sum = 0, sumsq = 0, disorder = 0;
	uint64_t start = UINT64_MAX, end = 0;
	unsigned i;
	int rc, bad = 0;

	memset(&run, 0, sizeof(run));
	run.sys = sys;
	run.cfg = cfg;
	atomic_init(&run.producers_left, cfg->producers);
	rc = sys->create(&run.q, cfg->capacity);
	if (rc != 0) {
		fprintf(stderr, "%s %s: create: %s\n", name, sys->name,
			strerror(-rc));
		return -1;
	}
	w = aligned_alloc(64, nthreads * sizeof(*w));
	if (w == NULL || pthread_barrier_init(&run.start, NULL, nthreads)) {
		fprintf(stderr, "%s: out of memory\n", name);
		exit(1);
	}
	memset(w, 0, nthreads * sizeof(*w));

	watch(name);
	for (i = 0; i < nthreads; i++) {
		w[i].run = &run;
		w[i].producer = i < cfg->producers;
		w[i].idx = w[i].producer ? i : i - cfg->producers;
		if (w[i].producer) {
			w[i].n = cfg->items / cfg->producers
				 + (i < cfg->items % cfg->producers);
		}
		rc = pthread_create(&w[i].tid, NULL, worker_main, &w[i]);
		if (rc != 0) {
			fprintf(stderr, "%s: pthread_create: %s\n", name,
				strerror(rc));
			exit(1);
		}
	}
	for (i = 0; i < nthreads; i++)
		pthread_join(w[i].tid, NULL);
	watch(NULL);

	for (i = 0; i < nthreads; i++) {
		if (w[i].start_ns < start)
			start = w[i].start_ns;
		if (w[i].err != 0) {
			fprintf(stderr, "%s %s: %s %u: %s\n", name, sys->name,
				w[i].producer ? "producer" : "consumer",
				w[i].idx, strerror(-w[i].err));
			bad = 1;
		}
		if (w[i].producer)
			continue;
		if (w[i].end_ns > end)
			end = w[i].end_ns;
		count += w[i].count;
		sum += w[i].sum;
		sumsq += w[i].sumsq;
		disorder += w[i].disorder;
	}
	if (count != cfg->items || sum != cfg->sum || sumsq != cfg->sumsq
	    || disorder != 0) {
		fprintf(stderr,
			"%s %s: FAILED: popped %" PRIu64 " of %" PRIu64
			" items, sum %s, sum of squares %s, %" PRIu64
			" out of order or invalid\n",
			name, sys->name, count, cfg->items,
			sum == cfg->sum ? "ok" : "WRONG",
			sumsq == cfg->sumsq ? "ok" : "WRONG", disorder);
		bad = 1;
	}

	pthread_barrier_destroy(&run.start);
	free(w);
	sys->destroy(run.q);
	if (bad)
		return -1;
	*rate = (double)cfg->items * 1e9 / (double)(end - start);
	return 0;
}

/* Fills in the value layout and the expected sums. */
static void
config_prepare(struct config *cfg)
{
	uint64_t seq, n, v;
	unsigned p;

	cfg->shift = 0;
	while (((unsigned)1 << cfg->shift) < cfg->producers)
		cfg->shift++;
	cfg->sum = 0;
	cfg->sumsq = 0;
	for (p = 0; p < cfg->producers; p++) {
		n = cfg->items / cfg->producers + (p < cfg->items % cfg->producers);
		for (seq = 1; seq <= n; seq++) {
			v = seq << cfg->shift | p;
			cfg->sum += v;
			cfg->sumsq += v * v;
		}
	}
}

/*
 * Measures one configuration, single-item and (if batch) batched, for
 * every system, interleaved; prints the medians.  Returns 0 or -1.
 */
static int
run_config(struct config base, unsigned runs)
{
	struct config cfg[2];
	char name[2][96];
	/*
	 * A batch larger than the capacity measures partial pushes, not
	 * batching, and the default matrix's cap16 batch runs would double
	 * its run time: skip them.
	 */
	unsigned nvariants = base.batch && base.batch <= base.capacity ? 2 : 1;
	unsigned nent = nvariants * NSYSTEMS;
	double rates[2 * NSYSTEMS][runs], med[2 * NSYSTEMS];
	unsigned r, i, e, v, s;

	for (v = 0; v < nvariants; v++) {
		cfg[v] = base;
		cfg[v].batch = v == 0 ? 0 : base.batch;
		config_prepare(&cfg[v]);
		snprintf(name[v], sizeof(name[v]), "queue_%up%uc_cap%zu",
			 base.producers, base.consumers, base.capacity);
		if (v == 1) {
			snprintf(name[v] + strlen(name[v]),
				 sizeof(name[v]) - strlen(name[v]),
				 "_batch%zu", base.batch);
		}
	}

	/* Entry e is variant e / NSYSTEMS on system e % NSYSTEMS. */
	for (r = 0; r < runs; r++) {
		for (i = 0; i < nent; i++) {
			e = (i + r) % nent;
			v = e / NSYSTEMS;
			s = e % NSYSTEMS;
			if (measure(&systems[s], &cfg[v], name[v],
				    &rates[e][r]) != 0)
				return -1;
		}
	}

	for (v = 0; v < nvariants; v++) {
		for (s = 0; s < NSYSTEMS; s++) {
			e = v * NSYSTEMS + s;
			fprintf(stderr, "# %-28s %-8s", name[v],
				systems[s].name);
			for (r = 0; r < runs; r++)
				fprintf(stderr, " %10.0f", rates[e][r]);
			med[e] = median(rates[e], runs);
			fprintf(stderr, "  (min %.0f max %.0f)\n",
				rates[e][0], rates[e][runs - 1]);
			printf("bench\t%s\t%s\t%.0f\titems/s\n", name[v],
			       systems[s].name, med[e]);
		}
		/* systems[0] is baton, systems[1] the baseline. */
		printf("ratio\t%s\tbaton/baseline\t%.2f\n", name[v],
		       med[v * NSYSTEMS] / med[v * NSYSTEMS + 1]);
	}
	fflush(stdout);
	return 0;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: bench_queue [--producers P] [--consumers C] "
		"[--capacity N]\n"
		"                   [--items M] [--runs R] [--batch B]\n"
		"No arguments: P/C in {1/1, 2/2, 4/4} x N in {1024, 16},\n"
		"M = 2000000 x BENCH_SCALE%%, R = %d, B = %d (batch variant, "
		"skipped if 0 or above N).\n", DEFAULT_RUNS, DEFAULT_BATCH);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "producers", required_argument, NULL, 'p' },
		{ "consumers", required_argument, NULL, 'c' },
		{ "capacity", required_argument, NULL, 'n' },
		{ "items", required_argument, NULL, 'm' },
		{ "runs", required_argument, NULL, 'r' },
		{ "batch", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const unsigned default_pc[] = { 1, 2, 4 };
	static const size_t default_cap[] = { 1024, 16 };
	unsigned pcs[3][2], npc = 0, producers = 0, consumers = 0;
	size_t caps[2], ncap = 0, capacity = 0, batch = DEFAULT_BATCH;
	unsigned runs = DEFAULT_RUNS, i, j;
	uint64_t items = 0, scale, t0;
	struct config cfg;
	double ignored;
	int opt;

	bench_program = "bench_queue";
	while ((opt = getopt_long(argc, argv, "p:c:n:m:r:b:h", longopts,
				  NULL)) != -1) {
		switch (opt) {
		case 'p':
			producers = parse_num("--producers", optarg, 1,
					      MAX_THREADS);
			break;
		case 'c':
			consumers = parse_num("--consumers", optarg, 1,
					      MAX_THREADS);
			break;
		case 'n':
			capacity = parse_num("--capacity", optarg, 1,
					     BATON_QUEUE_MAX_CAPACITY);
			break;
		case 'm':
			items = parse_num("--items", optarg, 1,
					  (uint64_t)1 << 40);
			break;
		case 'r':
			runs = parse_num("--runs", optarg, 1, 1000);
			break;
		case 'b':
			batch = parse_num("--batch", optarg, 0, MAX_BATCH);
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
	if (items == 0)
		items = DEFAULT_ITEMS * scale / 100;

	if (producers || consumers) {
		pcs[0][0] = producers ? producers : consumers;
		pcs[0][1] = consumers ? consumers : producers;
		npc = 1;
	} else {
		for (npc = 0; npc < 3; npc++) {
			pcs[npc][0] = default_pc[npc];
			pcs[npc][1] = default_pc[npc];
		}
	}
	if (capacity) {
		caps[0] = capacity;
		ncap = 1;
	} else {
		for (ncap = 0; ncap < 2; ncap++)
			caps[ncap] = default_cap[ncap];
	}

	watchdog_init();

	fprintf(stderr, "# bench_queue: %" PRIu64 " items/measurement, "
		"median of %u runs, batch %zu, %ld CPUs online\n", items,
		runs, batch, sysconf(_SC_NPROCESSORS_ONLN));
	print_load("start", false);

	/* Warm-up, unmeasured: page in, spin up the CPU frequency. */
	memset(&cfg, 0, sizeof(cfg));
	cfg.producers = 2;
	cfg.consumers = 2;
	cfg.capacity = 1024;
	cfg.items = items / 10 + 2;
	config_prepare(&cfg);
	for (i = 0; i < NSYSTEMS; i++) {
		if (measure(&systems[i], &cfg, "warmup", &ignored) != 0)
			return 1;
	}

	t0 = now_ns();
	for (i = 0; i < npc; i++) {
		for (j = 0; j < ncap; j++) {
			memset(&cfg, 0, sizeof(cfg));
			cfg.producers = pcs[i][0];
			cfg.consumers = pcs[i][1];
			cfg.capacity = caps[j];
			cfg.items = items < cfg.producers ? cfg.producers
							  : items;
			cfg.batch = batch;
			if (run_config(cfg, runs) != 0)
				return 1;
		}
	}
	fprintf(stderr, "# measured for %.1f s\n",
		(double)(now_ns() - t0) / 1e9);
	print_load("end", false);
	return 0;
}
