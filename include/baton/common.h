/*
 * baton/common.h - conventions shared by every baton header.
 *
 * Overview
 * ========
 * Every fallible baton call returns an int: 0 on success, a negative errno
 * value on failure.  Calls that move several items return a count (>= 0) or
 * a negative errno.  This is the complete list of codes baton returns
 * (baton_strerror prints each; tests/docs/check_errors.py keeps the list
 * true):
 *
 *   -EINVAL     a bad argument (NULL handle, zero capacity, bad timeout,
 *               a handle listed twice)
 *   -ENOMEM     an allocation failed; nothing was taken from the caller
 *   -EAGAIN     a try_ call would have had to block; no thread could be
 *               created (baton_pool_create); a supervisor is at
 *               max_children
 *   -ETIMEDOUT  a timed call's timeout expired
 *   -EPIPE      closed: a closed queue, a pool or supervisor shut down, a
 *               promise destroyed without completing (a broken future)
 *   -EPERM      not the owner: a strict task awaited by another thread
 *   -ESTALE     a stale handle: a task already consumed (awaited, ignored,
 *               shut down), any copy of it, or a zeroed handle
 *   -EDEADLK    a task awaiting itself
 *   -EALREADY   a second take of a future's value, or a second completion
 *               of a promise (the caller keeps its value)
 *   -ENOENT     a completion set with nothing in it to wait for
 *   -ESRCH      a supervisor asked about a task that is not its child
 *   -EBUSY      the default pool's options set after it was made
 *               (baton_pool_set_default_opts: nothing changed)
 *   -ECHILD     work given, after fork(), to a pool made before it (the
 *               child has none of its threads)
 *   -ECANCELED  a queue wait interrupted by its cancel token (Java's
 *               interrupt): nothing pushed or popped
 *
 * and, from the cross-process calls (baton/shm.h) only:
 *
 *   -ENOSYS     cross-process segments are not built on this system
 *   -EBADF      not a file descriptor of a memfd segment
 *   -EBADMSG    not a baton segment (a foreign image)
 *   -EPROTO     a segment whose layout, ABI or sizes disagree, or a
 *               corrupt item or message
 *   -EUSERS     the segment's process table is full
 *   -EEXIST     a named segment already in use
 *   -ENOSPC     a segment has no free slot, queue or arena space left
 *   -EMSGSIZE   a value larger than the segment's block or the caller's
 *               buffer
 *   -EIO        a system call failed without saying why
 *
 * and, from the isolated tasks (baton/isolated.h) only:
 *
 *   -E2BIG      an argument or value larger than
 *               BATON_ISOLATED_MAX_BYTES
 *
 * and two positive codes (task.h): BATON_EXITED (1) from the awaiting
 * calls when the work itself failed, with a struct baton_exit_reason, and
 * BATON_NOREPLY (2) from shutdown and ignore, Elixir's nil.  They equal
 * EPERM's and ENOENT's values: print codes with baton_strerror, not
 * strerror.
 * ECANCELED is also the code inside the exit reason of a cancelled future.
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

/* printf-style checking of a format argument (GCC, Clang). */
#if defined(__GNUC__) || defined(__clang__)
#define BATON_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define BATON_PRINTF(fmt, args)
#endif

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

/*
 * A printable, one-line description of a code a baton call returned: 0,
 * BATON_EXITED, or any of the negative errnos listed above, each in
 * baton's meaning (-ESTALE is "stale handle: consumed or never valid", not
 * libc's "Stale file handle"), with the errno's name in parentheses.  Any
 * other value gives "not a baton error code".
 *
 *	int r = baton_queue_pop(q, &item);
 *	if (r < 0)
 *		fprintf(stderr, "pop: %s\n", baton_strerror(r));
 *
 * Pointers: returns a static string (never NULL; do not free it).
 * Blocking: no.  Thread safety: any thread.  Ordering: none.
 */
BATON_API const char *baton_strerror(int code);

#ifdef __cplusplus
}
#endif

#endif /* BATON_COMMON_H */
