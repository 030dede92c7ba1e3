/*
 * alloc.h - internal: every allocation, thread and key that baton creates
 * goes through these wrappers, so that a test build can make any one of
 * them fail.
 *
 * In a normal build they are static inline calls to the C library and
 * cost nothing.  In a build configured with -Dfault_injection=true (which
 * defines BATON_FAULT_INJECTION) each call is counted and the one armed
 * by baton_test_fail_after() (include/baton/testing.h) fails the way the
 * real call fails: the allocators return NULL with errno ENOMEM, and the
 * pthread calls return EAGAIN.
 *
 * baton__test_walk_pause() widens one race window on a test's request
 * (baton_test_slow_walk); in a normal build it is empty.
 *
 * baton__fail_point() is a fallible call that allocates nothing.  It
 * stands for allocators of baton's own whose real failure depends on
 * state a test cannot steer: a result cell comes from a per-thread cache
 * and reaches calloc only when the cache and the shared free list are
 * both empty (src/cell.c).
 */
#ifndef BATON_RUNTIME_ALLOC_H
#define BATON_RUNTIME_ALLOC_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

#ifdef BATON_FAULT_INJECTION

#define BATON__STR2(x) #x
#define BATON__STR(x) BATON__STR2(x)
/* Where a fallible call is, as "file:line": the test reports it. */
#define BATON__SITE __FILE__ ":" BATON__STR(__LINE__)

/* Counts one fallible call at site; true if it must fail. */
bool baton__fault_hit(const char *site);

void *baton__fault_malloc(size_t size, const char *site);
void *baton__fault_calloc(size_t n, size_t size, const char *site);
void *baton__fault_aligned_alloc(size_t align, size_t size, const char *site);
int baton__fault_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
				void *(*fn)(void *), void *arg,
				const char *site);
int baton__fault_pthread_key_create(pthread_key_t *key,
				    void (*destructor)(void *),
				    const char *site);

#define baton__malloc(size) baton__fault_malloc((size), BATON__SITE)
#define baton__calloc(n, size) baton__fault_calloc((n), (size), BATON__SITE)
#define baton__aligned_alloc(align, size) \
	baton__fault_aligned_alloc((align), (size), BATON__SITE)
#define baton__pthread_create(thread, attr, fn, arg) \
	baton__fault_pthread_create((thread), (attr), (fn), (arg), BATON__SITE)
#define baton__pthread_key_create(key, destructor) \
	baton__fault_pthread_key_create((key), (destructor), BATON__SITE)
#define baton__fail_point() baton__fault_hit(BATON__SITE)

/* Sleeps as baton_test_slow_walk asked (a race window made wide). */
void baton__test_walk_pause(void);

#else /* !BATON_FAULT_INJECTION */

static inline void *
baton__malloc(size_t size)
{
	return malloc(size);
}

static inline void *
baton__calloc(size_t n, size_t size)
{
	return calloc(n, size);
}

static inline void *
baton__aligned_alloc(size_t align, size_t size)
{
	return aligned_alloc(align, size);
}

static inline int
baton__pthread_create(pthread_t *thread, const pthread_attr_t *attr,
		      void *(*fn)(void *), void *arg)
{
	return pthread_create(thread, attr, fn, arg);
}

static inline int
baton__pthread_key_create(pthread_key_t *key, void (*destructor)(void *))
{
	return pthread_key_create(key, destructor);
}

static inline bool
baton__fail_point(void)
{
	return false;
}

static inline void
baton__test_walk_pause(void)
{
}

#endif /* BATON_FAULT_INJECTION */

#endif /* BATON_RUNTIME_ALLOC_H */
