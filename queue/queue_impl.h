/*
 * queue_impl.h - internal: the queue's layout, shared by queue.c (the
 * ring and the blocking loop) and rendezvous.c (capacity 0), and the
 * verbs that src/select.c, a layer above, uses to wait on a queue.
 */
#ifndef BATON_QUEUE_IMPL_H
#define BATON_QUEUE_IMPL_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "baton/queue.h"
#include "waitq.h"

#define CACHELINE 64

/* Bit 0 of `tail`: the queue is closed.  Tickets count in steps of 2. */
#define TAIL_CLOSED 1u

struct slot {
	_Atomic(unsigned long long) seq;
	_Atomic(void *) item;
};

struct baton_queue {
	/* Read by everyone; written only at create. */
	struct slot *slots;
	size_t capacity;
	uint64_t mask; /* capacity - 1 if a power of two, else 0 */
	baton_destroy_fn destroy;

	/* The producers' line: their ticket (and the closed bit). */
	alignas(CACHELINE) _Atomic(unsigned long long) tail;

	/* The consumers' line: their ticket. */
	alignas(CACHELINE) _Atomic(unsigned long long) head;

	/* Read on every pop, written only by pushers about to block. */
	alignas(CACHELINE) struct baton__waitq pushers;
	struct baton__spinner push_spin;
	/* Read on every push, written only by poppers about to block. */
	alignas(CACHELINE) struct baton__waitq poppers;
	struct baton__spinner pop_spin;

	/* Calls past their first attempt; destroy waits for zero. */
	alignas(CACHELINE) atomic_uint blocked;
};

enum baton__dir { BATON__PUSH, BATON__POP };

/* One non-blocking step: items moved (> 0), 0 (would block) or -EPIPE. */
ptrdiff_t baton__attempt(baton_queue *q, enum baton__dir dir, void **items,
			 size_t n);

/*
 * Whether an attempt could make progress now (seq_cst loads: call it
 * after linking a waiter, for the Dekker pair).
 */
bool baton__ready(baton_queue *q, enum baton__dir dir);

/* The wait line of one side. */
static inline struct baton__waitq *
baton__line(baton_queue *q, enum baton__dir dir)
{
	return dir == BATON__PUSH ? &q->pushers : &q->poppers;
}

/* Rendezvous (rendezvous.c). */
ptrdiff_t baton__rv_attempt(baton_queue *q, enum baton__dir dir,
			    void **items, size_t n);
bool baton__rv_ready(baton_queue *q, enum baton__dir dir);
/*
 * One blocking round for items[0]: 1 (handed over), -EPIPE, -ETIMEDOUT,
 * -ECANCELED, or 0 (closed while waiting: attempt again).
 */
ptrdiff_t baton__rv_wait(baton_queue *q, enum baton__dir dir, void **items,
			 struct baton__waiter *w,
			 const struct baton__deadline *d);

#endif /* BATON_QUEUE_IMPL_H */
