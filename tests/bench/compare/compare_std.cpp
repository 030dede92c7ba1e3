/*
 * compare_std.cpp - the C++ standard library in the comparison benchmarks
 * (see compare.h).
 *
 * System "std"
 * ============
 * Tasks: std::async(cmp_body, arg) with the default launch policy, what a
 * std user writes, then future::get().  libstdc++ starts a new thread for
 * every call, joined when the future's shared state is released.  Under
 * the default policy, when a thread cannot be created (here: ~32,000
 * threads still unjoined, pid_max / vm.max_map_count) libstdc++ silently
 * falls back to deferred: the body runs inside get(), on the awaiting
 * thread.  The throughput run keeps M futures alive at once, so part of it
 * is deferred.  How much of the last run was is printed at exit as
 *	bench	spawn_await_throughput_deferred	std	<tasks>	tasks
 * (std::launch::async instead makes that run throw.)
 *
 * Queue: the standard library has none; this is the textbook bounded
 * queue: a std::mutex, two std::condition_variables and a std::deque,
 * wait with a predicate, notify_one after unlocking.  No close (the
 * workloads do not need one).
 *
 * Pipeline: std::async(...).share(), the std::shared_future (the std
 * counterpart of a refcounted baton_future) pushed through that queue,
 * popped and get() by the consumer.  A thread per item makes 1,000,000
 * items take about a minute, so this system's default is 100,000 items;
 * items/s is the same measure.
 */
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <future>
#include <mutex>
#include <vector>

#include "compare.h"

namespace {

/* The textbook bounded blocking queue. */
template <class T> class bounded_queue {
public:
	explicit bounded_queue(std::size_t capacity) : cap_(capacity)
	{
	}

	void
	push(T v)
	{
		std::unique_lock<std::mutex> lk(m_);
		not_full_.wait(lk, [this] { return q_.size() < cap_; });
		q_.push_back(std::move(v));
		lk.unlock();
		not_empty_.notify_one();
	}

	T
	pop()
	{
		std::unique_lock<std::mutex> lk(m_);
		not_empty_.wait(lk, [this] { return !q_.empty(); });
		T v = std::move(q_.front());
		q_.pop_front();
		lk.unlock();
		not_full_.notify_one();
		return v;
	}

private:
	std::mutex m_;
	std::condition_variable not_full_;
	std::condition_variable not_empty_;
	std::deque<T> q_;
	const std::size_t cap_;
};

/* Set on the awaiting thread: a body that sees it was deferred. */
thread_local bool awaiting;
std::atomic<std::size_t> deferred;
bool spawned_many;

void *
counted_body(void *arg)
{
	if (awaiting)
		deferred.fetch_add(1, std::memory_order_relaxed);
	return cmp_body(arg);
}

void *
spawn_await(void *arg)
{
	return std::async(cmp_body, arg).get();
}

std::vector<std::future<void *>> futures;

void
spawn_many(std::size_t m, void **values)
{
	futures.clear();
	futures.reserve(m);
	deferred.store(0, std::memory_order_relaxed);
	for (std::size_t i = 0; i < m; i++) {
		futures.push_back(std::async(counted_body,
					     (void *)(std::uintptr_t)(i + 1)));
	}
	awaiting = true;
	for (std::size_t i = 0; i < m; i++)
		values[i] = futures[i].get();
	awaiting = false;
	futures.clear(); /* joins the threads */
	spawned_many = true;
	std::fprintf(stderr, "# std: %zu of %zu std::async tasks ran "
		     "deferred (no thread could be created; the body ran in "
		     "get())\n", deferred.load(std::memory_order_relaxed), m);
}

using item_queue = bounded_queue<void *>;

void *
q_create(std::size_t capacity, unsigned, unsigned)
{
	return new item_queue(capacity);
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

	for (std::uint64_t i = 0; i < c->n; i++)
		cmp_take(c, iq->pop());
}

using future_queue = bounded_queue<std::shared_future<void *>>;

void *
pl_create(std::size_t capacity)
{
	return new future_queue(capacity);
}

void
pl_destroy(void *pl)
{
	delete static_cast<future_queue *>(pl);
}

void
pl_produce(void *pl, std::uint64_t n)
{
	auto *fq = static_cast<future_queue *>(pl);

	for (std::uint64_t i = 1; i <= n; i++)
		fq->push(std::async(cmp_body, (void *)(std::uintptr_t)i).share());
}

std::uint64_t
pl_consume(void *pl, std::uint64_t n)
{
	auto *fq = static_cast<future_queue *>(pl);
	std::uint64_t wrong = 0;

	for (std::uint64_t i = 1; i <= n; i++) {
		std::shared_future<void *> f = fq->pop();
		wrong += f.get() != (void *)(std::uintptr_t)i;
	}
	return wrong;
}

void
fini()
{
	if (spawned_many) {
		std::printf("bench\tspawn_await_throughput_deferred\tstd\t%zu"
			    "\ttasks\n", deferred.load(std::memory_order_relaxed));
	}
	futures.clear();
	futures.shrink_to_fit();
}

} // namespace

extern "C" {

const struct cmp_system cmp_systems[] = {
	{
		.name = "std",
		.init = nullptr,
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
		.pl_items = 100000,
	},
};
const std::size_t cmp_nsystems = sizeof(cmp_systems) / sizeof(cmp_systems[0]);

} // extern "C"
