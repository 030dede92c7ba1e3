/*
 * alloc.c - the fault-injection build's allocation, thread and key
 * wrappers, and the test API of baton/testing.h (with the slow walk's
 * pause, a knob rather than a fault).  Compiled only with
 * -Dfault_injection=true; a normal build uses alloc.h's inline wrappers.
 *
 * Design notes
 * ============
 * Two process-wide atomics.  `calls` counts every fallible call.
 * `countdown` is the number of fallible calls left until the armed one:
 * each call decrements it while it is positive, with a CAS, and the one
 * call that moves it from 1 to 0 fails.  So exactly one call fails per
 * arming, whichever threads race for it, and every later call succeeds
 * (the countdown stays 0).  The failed call's site is kept for the test
 * to report.
 *
 * Everything is relaxed: these are counters, not synchronisation.  A test
 * arms the countdown before it starts the work and reads the counter after
 * that work has finished, and the library's own synchronisation (joins,
 * completions) orders those.
 */
#include "alloc.h"

#include <errno.h>
#include <stdatomic.h>
#include <time.h>

#include "baton/testing.h"

static atomic_long calls;
static atomic_long countdown;
static _Atomic(const char *) failed_site;

bool
baton__fault_hit(const char *site)
{
	/* relaxed: see the design notes. */
	long left = atomic_load_explicit(&countdown, memory_order_relaxed);

	/* relaxed: a counter. */
	atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
	while (left > 0) {
		/* relaxed: the CAS alone decides which call moves 1 -> 0. */
		if (atomic_compare_exchange_weak_explicit(
			&countdown, &left, left - 1, memory_order_relaxed,
			memory_order_relaxed)) {
			if (left != 1)
				return false;
			/* relaxed: read by the test after the work ended. */
			atomic_store_explicit(&failed_site, site,
					      memory_order_relaxed);
			return true;
		}
	}
	return false;
}

void *
baton__fault_malloc(size_t size, const char *site)
{
	if (baton__fault_hit(site)) {
		errno = ENOMEM;
		return NULL;
	}
	return malloc(size);
}

void *
baton__fault_calloc(size_t n, size_t size, const char *site)
{
	if (baton__fault_hit(site)) {
		errno = ENOMEM;
		return NULL;
	}
	return calloc(n, size);
}

void *
baton__fault_aligned_alloc(size_t align, size_t size, const char *site)
{
	if (baton__fault_hit(site)) {
		errno = ENOMEM;
		return NULL;
	}
	return aligned_alloc(align, size);
}

int
baton__fault_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
			    void *(*fn)(void *), void *arg, const char *site)
{
	if (baton__fault_hit(site))
		return EAGAIN;
	return pthread_create(thread, attr, fn, arg);
}

int
baton__fault_pthread_key_create(pthread_key_t *key,
				void (*destructor)(void *), const char *site)
{
	if (baton__fault_hit(site))
		return EAGAIN;
	return pthread_key_create(key, destructor);
}

void
baton_test_fail_after(long n)
{
	/* relaxed: see the design notes. */
	atomic_store_explicit(&countdown, n > 0 ? n : 0, memory_order_relaxed);
}

long
baton_test_fallible_calls(void)
{
	/* relaxed: see the design notes. */
	return atomic_load_explicit(&calls, memory_order_relaxed);
}

void
baton_test_reset(void)
{
	/* relaxed: see the design notes. */
	atomic_store_explicit(&countdown, 0, memory_order_relaxed);
	atomic_store_explicit(&calls, 0, memory_order_relaxed);
	atomic_store_explicit(&failed_site, NULL, memory_order_relaxed);
}

const char *
baton_test_failed_site(void)
{
	/* relaxed: see the design notes. */
	return atomic_load_explicit(&failed_site, memory_order_relaxed);
}

/* baton_test_slow_walk's pause, in microseconds; 0: none. */
static atomic_long walk_pause_us;

void
baton_test_slow_walk(long us)
{
	/* relaxed: a test knob, read by the next walk. */
	atomic_store_explicit(&walk_pause_us, us > 0 ? us : 0,
			      memory_order_relaxed);
}

void
baton__test_walk_pause(void)
{
	/* relaxed: as in baton_test_slow_walk. */
	long us = atomic_load_explicit(&walk_pause_us, memory_order_relaxed);
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	if (us > 0)
		(void)nanosleep(&ts, NULL);
}
