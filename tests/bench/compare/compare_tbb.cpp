/*
 * compare_tbb.cpp - oneTBB in the comparison benchmarks (see compare.h).
 *
 * System "tbb"
 * ============
 * Tasks: tbb::task_group, run() then wait(), as the oneTBB documentation
 * shows, on the default arena (its default concurrency: one slot per CPU,
 * one of them the calling thread's, so nproc - 1 worker threads).
 * task_group::run from a thread outside TBB puts the task in that thread's
 * own arena slot and wait() executes tasks itself, so the waiting thread
 * often runs the body it just spawned; baton's counterpart of that is
 * baton_infinity (helping), not baton.  oneTBB tasks return nothing: the
 * body writes its value where the spawner will read it.  Throughput: M
 * run() calls on one task_group, then one wait().
 *
 * Queue: tbb::concurrent_bounded_queue with set_capacity(C), push / pop
 * (both block).  Bounded; no close (abort() wakes waiters with an
 * exception and is not a drainable close).
 *
 * Pipeline: oneTBB has no future, so a TBB user pairs task_group::run with
 * a std::promise: the producer makes a promise (a std::shared_ptr, since
 * task_group stores its functor const), runs a task that sets it, and
 * pushes the std::shared_future through a concurrent_bounded_queue of
 * capacity C; the consumer pops and get()s it.  The producer waits for the
 * task_group after its last push.
 */
#include <cstddef>
#include <cstdint>
#include <future>
#include <memory>

#include <oneapi/tbb/concurrent_queue.h>
#include <oneapi/tbb/task_group.h>

#include "compare.h"

namespace {

tbb::task_group *group;

int
init()
{
	group = new tbb::task_group;
	return 0;
}

void
fini()
{
	group->wait();
	delete group;
}

void *
spawn_await(void *arg)
{
	void *v = nullptr;

	group->run([arg, &v] { v = cmp_body(arg); });
	group->wait();
	return v;
}

void
spawn_many(std::size_t m, void **values)
{
	for (std::size_t i = 0; i < m; i++) {
		group->run([values, i] {
			values[i] = cmp_body((void *)(std::uintptr_t)(i + 1));
		});
	}
	group->wait();
}

using item_queue = tbb::concurrent_bounded_queue<void *>;

void *
q_create(std::size_t capacity, unsigned, unsigned)
{
	auto *q = new item_queue;

	q->set_capacity((std::ptrdiff_t)capacity);
	return q;
}

void
q_destroy(void *q)
{
	delete static_cast<item_queue *>(q);
}

void
q_produce(void *q, const struct cmp_producer *p)
{
	auto *iq = static_cast<item_queue *>(q);

	for (std::uint64_t seq = 1; seq <= p->n; seq++)
		iq->push(cmp_item(p, seq));
}

void
q_consume(void *q, struct cmp_consumer *c)
{
	auto *iq = static_cast<item_queue *>(q);
	void *item = nullptr;

	for (std::uint64_t i = 0; i < c->n; i++) {
		iq->pop(item);
		cmp_take(c, item);
	}
}

struct pipeline {
	tbb::concurrent_bounded_queue<std::shared_future<void *>> q;
	tbb::task_group tg;
};

void *
pl_create(std::size_t capacity)
{
	auto *pl = new pipeline;

	pl->q.set_capacity((std::ptrdiff_t)capacity);
	return pl;
}

void
pl_destroy(void *pl)
{
	delete static_cast<pipeline *>(pl);
}

void
pl_produce(void *arg, std::uint64_t n)
{
	auto *pl = static_cast<pipeline *>(arg);

	for (std::uint64_t i = 1; i <= n; i++) {
		auto p = std::make_shared<std::promise<void *>>();
		std::shared_future<void *> f = p->get_future().share();

		pl->tg.run([p, i] {
			p->set_value(cmp_body((void *)(std::uintptr_t)i));
		});
		pl->q.push(std::move(f));
	}
	pl->tg.wait();
}

std::uint64_t
pl_consume(void *arg, std::uint64_t n)
{
	auto *pl = static_cast<pipeline *>(arg);
	std::shared_future<void *> f;
	std::uint64_t wrong = 0;

	for (std::uint64_t i = 1; i <= n; i++) {
		pl->q.pop(f);
		wrong += f.get() != (void *)(std::uintptr_t)i;
	}
	return wrong;
}

} // namespace

extern "C" {

const struct cmp_system cmp_systems[] = {
	{
		.name = "tbb",
		.init = init,
		.fini = fini,
		.spawn_await = spawn_await,
		.spawn_many = spawn_many,
		.q_create = q_create,
		.q_destroy = q_destroy,
		.q_produce = q_produce,
		.q_consume = q_consume,
		.q_rendezvous = false,
		.pl_create = pl_create,
		.pl_destroy = pl_destroy,
		.pl_produce = pl_produce,
		.pl_consume = pl_consume,
		.pl_items = 0,
	},
};
const std::size_t cmp_nsystems = sizeof(cmp_systems) / sizeof(cmp_systems[0]);

} // extern "C"
