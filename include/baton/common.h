/*
 * baton/common.h - conventions shared by every baton header.
 *
 * Overview
 * ========
 * Every fallible baton call returns an int: 0 on success, a negative errno
 * value on failure.  Calls that move several items return a count (>= 0) or
 * a negative errno.  The codes used across the library:
 *
 *   -EINVAL     a bad argument (NULL handle, zero capacity, bad timeout)
 *   -ENOMEM     an allocation failed; nothing was taken from the caller
 *   -EAGAIN     a try_ call would have had to block
 *   -ETIMEDOUT  a _timed call's timeout expired
 *   -EPIPE      the queue is closed
 *   -ECANCELED, -EPERM, -EDEADLK   used by the task and future layers
 *
 * Timeouts are relative, in milliseconds, as an int: BATON_INFINITY waits
 * forever and 0 polls.  Any other negative value is -EINVAL.  They are
 * converted once to an absolute CLOCK_MONOTONIC deadline, so a wait that is
 * interrupted and resumed never waits longer in total, and wall-clock
 * changes never shorten or stretch it.  A timed call never returns
 * -ETIMEDOUT before its timeout has elapsed.
 *
 * Ownership vocabulary used in every doc comment:
 *   "borrows"        the call uses the pointer only during the call;
 *   "consumes"       the call takes ownership: do not use it afterwards;
 *   "returns a new reference" / "hands over"  the caller now owns it.
 * A call that fails consumes nothing.
 */
#ifndef BATON_COMMON_H
#define BATON_COMMON_H

#include <errno.h> /* the -E codes every call returns */
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define BATON_API __attribute__((visibility("default")))
#else
#define BATON_API
#endif

#define BATON_VERSION_MAJOR 0
#define BATON_VERSION_MINOR 1
#define BATON_VERSION_PATCH 0
#define BATON_VERSION_STRING "0.1.0"

/* Wait without a time limit. */
#define BATON_INFINITY (-1)

/* Elixir's Task default: 5000 ms. */
#define BATON_DEFAULT_TIMEOUT 5000

/*
 * A destructor for an item or a result that nobody took.  baton calls it
 * exactly once per such item, from whichever thread releases the item.
 */
typedef void (*baton_destroy_fn)(void *item);

/*
 * The version of the library linked at run time, as "MAJOR.MINOR.PATCH".
 * Pointers: returns a static string.  Thread safety: any thread.
 */
BATON_API const char *baton_version(void);

#ifdef __cplusplus
}
#endif

#endif /* BATON_COMMON_H */
