/*
 * compare.h - the harness shared by the comparison benchmarks: baton and
 * the libraries a user would pick instead, on the same three workloads.
 *
 * Overview
 * ========
 * Each program (compare_baton, compare_std, compare_glib, compare_tbb,
 * compare_moodycamel, compare_pthread) defines cmp_systems[]: one entry per
 * system it measures, each a table of the calls a workload needs, written
 * against that system's own public API.  compare.c owns main(), the
 * threads, the clock, the checks and the output, so every system is timed
 * by the same code:
 *
 *	spawn      one task at a time, spawn then await (median, p90 ns);
 *	           M tasks spawned, then all awaited (tasks/s)
 *	queue      P producers, C consumers, M items through one queue of
 *	           capacity 1024, 1P/1C and 2P/2C (items/s); and through a
 *	           rendezvous (capacity 0) where the system has one
 *	           (compare_go, ./go/, measures Go's channels the same way)
 *	pipeline   start work, push its pending result through a bounded
 *	           queue, pop and await it in another thread, 1P/1C (items/s)
 *
 * Every task body is cmp_body (its argument back), called out of line.
 * A NULL entry means the system does not offer that workload.
 *
 * Output, on stdout and nothing else:
 *	bench<TAB>name<TAB>system<TAB>value<TAB>unit
 * One program cannot hold baton's numbers and a peer's, so the ratio lines
 * (ratio<TAB>name<TAB>baton/<peer><TAB>x.xx) are written by report.sh from
 * the runs of all programs.
 */
#ifndef BATON_COMPARE_H
#define BATON_COMPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A producer's share of the queue workload. */
struct cmp_producer {
	unsigned idx;   /* 0 .. producers-1 */
	unsigned shift; /* bits of idx in each value */
	uint64_t n;     /* items to push: cmp_item(p, 1) .. cmp_item(p, n) */
};

/*
 * A consumer's share: it pops exactly n items (a fixed quota, so that
 * queues without close, or with an unordered close, end the same way as
 * baton's) and passes each to cmp_take.
 */
struct cmp_consumer {
	unsigned producers;
	unsigned shift;
	uint64_t n;        /* items to pop */
	uint64_t count;    /* items taken */
	uint64_t sum;      /* of the values, mod 2^64 */
	uint64_t sumsq;    /* of their squares, mod 2^64 */
	uint64_t disorder; /* invalid, or out of one producer's order */
	uint64_t *last;    /* per producer: the last sequence number seen */
};

/* The value producer p pushes as its seq-th item: distinct, never NULL. */
static inline void *
cmp_item(const struct cmp_producer *p, uint64_t seq)
{
	return (void *)(uintptr_t)(seq << p->shift | p->idx);
}

/* Checks a popped item and folds it into the consumer's sums. */
static inline void
cmp_take(struct cmp_consumer *c, void *item)
{
	uint64_t v = (uint64_t)(uintptr_t)item;
	uint64_t p = v & (((uint64_t)1 << c->shift) - 1);
	uint64_t seq = v >> c->shift;

	if (p >= c->producers || seq <= c->last[p])
		c->disorder++;
	else
		c->last[p] = seq;
	c->count++;
	c->sum += v;
	c->sumsq += v * v;
}

struct cmp_system {
	const char *name;

	/* Once before and after everything (may be NULL). */
	int (*init)(void);
	void (*fini)(void);

	/* Spawns cmp_body(arg) and awaits it; returns its value. */
	void *(*spawn_await)(void *arg);
	/*
	 * Spawns m tasks, task i running cmp_body((void *)(i + 1)), then
	 * awaits them all; values[i] gets task i's value.
	 */
	void (*spawn_many)(size_t m, void **values);

	/* A queue for `producers` and `consumers` threads. */
	void *(*q_create)(size_t capacity, unsigned producers,
			  unsigned consumers);
	void (*q_destroy)(void *q);
	void (*q_produce)(void *q, const struct cmp_producer *p);
	void (*q_consume)(void *q, struct cmp_consumer *c);
	/*
	 * Whether q_create accepts capacity 0, a rendezvous (Go's
	 * unbuffered channel): then the queue workload also runs at
	 * capacity 0, with a tenth of the items (queue_<p>p<c>c_cap0).
	 */
	bool q_rendezvous;

	/*
	 * The pipeline: pl_produce starts cmp_body((void *)i) for i = 1..n
	 * and pushes each pending result; pl_consume pops n of them, awaits
	 * each, and returns how many values were not the expected i.
	 */
	void *(*pl_create)(size_t capacity);
	void (*pl_destroy)(void *pl);
	void (*pl_produce)(void *pl, uint64_t n);
	uint64_t (*pl_consume)(void *pl, uint64_t n);
	/* Items per pipeline run if not given (0: the harness default). */
	uint64_t pl_items;
};

/* Defined by each program. */
extern const struct cmp_system cmp_systems[];
extern const size_t cmp_nsystems;

/* The task body of every workload: returns its argument. */
void *cmp_body(void *arg);

/* Reports a failed call of system sys and exits: benchmarks do not limp. */
#ifdef __cplusplus
[[noreturn]]
#else
_Noreturn
#endif
void cmp_fail(const char *sys, const char *what, int err);

/* Online CPUs, at least 1: the worker count every pool is given. */
unsigned cmp_cpus(void);

#ifdef __cplusplus
}
#endif

#endif /* BATON_COMPARE_H */
