/*
 * compare_moodycamel.cpp - moodycamel::BlockingConcurrentQueue in the
 * comparison benchmarks (see compare.h): the queue workload only (it is a
 * queue, not an executor).
 *
 * System "moodycamel"
 * ===================
 * BlockingConcurrentQueue<void *> built with the constructor the header
 * recommends when producer tokens are used (minimum capacity C, one
 * explicit producer per producer thread, no implicit producers), a
 * ProducerToken per producer and a ConsumerToken per consumer ("create a
 * token and use that with the single-item methods", concurrentqueue.h),
 * enqueue(token, item) and wait_dequeue(token, item).
 *
 * It is UNBOUNDED: enqueue allocates more blocks rather than wait, so C is
 * only a pre-allocation and producers never block.  It has no close.  It
 * is FIFO per producer only (the tokens' sub-queues), which is what the
 * checks in compare.c require.
 */
#include <cstddef>
#include <cstdint>

#include <concurrentqueue/blockingconcurrentqueue.h>

#include "compare.h"

namespace {

using queue = moodycamel::BlockingConcurrentQueue<void *>;

void *
q_create(std::size_t capacity, unsigned producers, unsigned)
{
	return new queue(capacity, producers, 0);
}

void
q_destroy(void *q)
{
	delete static_cast<queue *>(q);
}

void
q_produce(void *q, const struct cmp_producer *p)
{
	auto *mq = static_cast<queue *>(q);
	moodycamel::ProducerToken token(*mq);

	for (std::uint64_t seq = 1; seq <= p->n; seq++) {
		if (!mq->enqueue(token, cmp_item(p, seq)))
			cmp_fail("moodycamel", "enqueue", 0);
	}
}

void
q_consume(void *q, struct cmp_consumer *c)
{
	auto *mq = static_cast<queue *>(q);
	moodycamel::ConsumerToken token(*mq);
	void *item = nullptr;

	for (std::uint64_t i = 0; i < c->n; i++) {
		mq->wait_dequeue(token, item);
		cmp_take(c, item);
	}
}

} // namespace

extern "C" {

const struct cmp_system cmp_systems[] = {
	{
		.name = "moodycamel",
		.init = nullptr,
		.fini = nullptr,
		.spawn_await = nullptr,
		.spawn_many = nullptr,
		.q_create = q_create,
		.q_destroy = q_destroy,
		.q_produce = q_produce,
		.q_consume = q_consume,
		.q_rendezvous = false,
		.pl_create = nullptr,
		.pl_destroy = nullptr,
		.pl_produce = nullptr,
		.pl_consume = nullptr,
		.pl_items = 0,
	},
};
const std::size_t cmp_nsystems = sizeof(cmp_systems) / sizeof(cmp_systems[0]);

} // extern "C"
