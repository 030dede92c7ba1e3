/*
 * baton/isolated.h - isolated strict tasks: a body in a process of its own.
 *
 * Overview
 * ========
 * An isolated task is a strict task (baton/task.h: owner-only await, the
 * same verbs, the same error codes, 5000 ms default) whose body runs in a
 * worker process.  A crash is an answer: a body that segfaults, aborts,
 * calls _exit or is killed from outside gives its awaiter BATON_EXITED
 * with a reason naming the signal or status, and nothing else in the
 * program is touched.  A kill is a kill: an await timeout, a shutdown that
 * runs out of time, a brutal shutdown and the owner thread's exit kill
 * the worker process (SIGKILL), even in an endless loop or a blocking
 * system call, and a fresh worker takes its place.
 *
 *	int main(void) {
 *		baton_isolated_init(NULL);      first thing: before any thread
 *		baton_isolated t;
 *		struct baton_isolated_value v;
 *		struct baton_exit_reason why;
 *		baton_isolated_async(&t, parse, buf, len);
 *		switch (baton_isolated_await(&t, BATON_DEFAULT_TIMEOUT, &v, &why)) {
 *		case 0: use(v.data, v.len); free(v.data); break;
 *		case BATON_EXITED: report(&why); break;  crashed, _exit, error
 *		default: error (-ETIMEDOUT: the worker was killed, ...)
 *		}
 *
 * How it runs (Linux only; elsewhere every call returns -ENOSYS)
 * ------------------------------------------------------------
 * baton_isolated_init() forks a fork server while the program is still
 * single-threaded, then starts one monitor thread.  The server forks the
 * workers on request, so no worker is ever forked from a process with
 * running threads.  Workers are started ahead and reused: a task costs no
 * fork.  A worker is replaced when it dies, is killed, or has run
 * `recycle_after` tasks.  Each worker shares one memfd page set with the
 * program: the argument goes in and the value comes back as bytes, and a
 * process-shared futex carries the hand-off.
 *
 * What a body may rely on
 * -----------------------
 * - It is a function pointer of this program: workers are forks of it, so
 *   code and static data are at the same addresses.
 * - It sees the program's memory as it was when baton_isolated_init()
 *   forked the server, not any later change: globals set after init,
 *   heap objects made after init, pointers into the caller's memory mean
 *   nothing there.  Everything a body needs after init travels in its
 *   argument, which arrives as a copy of bytes (at most
 *   BATON_ISOLATED_MAX_BYTES).  Its value goes back the same way.
 * - File descriptors open at init are inherited (shared offsets); ones
 *   opened later are not.  No thread but its own runs in the worker.
 * - A worker runs one body at a time and is reused: state a body leaves
 *   in its worker (globals, heap, fds) is seen by later bodies in the same
 *   worker.  Set recycle_after to 1 for a fresh process per task.
 * - Signal dispositions of SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT and
 *   SIGXCPU are the defaults in a worker (so a crash is reported as
 *   itself), core dumps are off, and stdio is flushed after each body.
 * - baton_isolated_should_stop() tells it a cooperative shutdown was
 *   asked; other baton calls are not meant for workers.
 *
 * Return values used throughout are those of baton_task_*: 0 (value
 * handed over), BATON_EXITED (reason filled), or -EINVAL, -EPERM (not the
 * owner), -ESTALE (consumed or never valid handle), -ETIMEDOUT, -ENOMEM,
 * -EPIPE (the runtime is not running: not initialised, shut down, or its
 * fork server died), -E2BIG (argument above the size limit), -ENOSYS;
 * shutdown and ignore also return BATON_NOREPLY (Elixir's nil).
 */
#ifndef BATON_ISOLATED_H
#define BATON_ISOLATED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "stream.h" /* BATON_SCHEDULERS */
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The largest argument and the largest value, in bytes (each). */
#define BATON_ISOLATED_MAX_BYTES 65536

/*
 * An isolated task body, run in a worker process.  arg/len is the copy of
 * the argument; out has room for *out_len bytes (BATON_ISOLATED_MAX_BYTES
 * on entry): the body writes its value there and sets *out_len.  It
 * returns 0 for a value, or a non-zero code: the task then exits with
 * BATON_EXIT_ERROR and that code.  To say why, it may call baton_exit or
 * baton_exitf (baton/task.h) before it returns: the task then exits with
 * that kind, code and text, whatever the body returns (the text crosses
 * to the program cut to BATON_EXIT_TEXT_MAX; the reader's message is
 * NULL, as pointers mean nothing across processes).
 */
typedef int (*baton_isolated_fn)(const void *arg, size_t len, void *out,
				 size_t *out_len);

/*
 * Runtime configuration (see BATON_ISOLATED_CONFIG_INIT; as every baton
 * opts struct, a field set to 0 means 0, and NULL means the INIT values).
 */
struct baton_isolated_config {
	unsigned workers;     /* worker processes, >= 1; BATON_SCHEDULERS:
				 one per online CPU */
	size_t recycle_after; /* replace a worker after this many tasks,
				 >= 1; BATON_NO_LIMIT: never */
};

/* One worker per online CPU, never recycled. */
#define BATON_ISOLATED_CONFIG_INIT { BATON_SCHEDULERS, BATON_NO_LIMIT }

/*
 * Starts the isolated runtime: forks the fork server, starts the monitor
 * thread and asks for the workers.  Call it first thing in main(), before
 * any thread is created (baton's own pool included).
 *
 * Pointers: borrows cfg (may be NULL).
 * Blocking: until the fork server is running (workers start behind).
 * Errors: -EBUSY (already running, or other threads exist), -ENOMEM,
 * -EAGAIN (fork failed), -ENOSYS (not Linux, or no pidfd support).
 * Thread safety: the only thread of the program.
 * Ordering: the call happens-before every isolated task.
 */
BATON_API int baton_isolated_init(const struct baton_isolated_config *cfg);

/*
 * Stops the runtime: kills every worker and the fork server, joins the
 * monitor thread.  Tasks still pending resolve as BATON_EXITED/SHUTDOWN;
 * later calls return -EPIPE.  baton_isolated_init() may not be called
 * again afterwards.  Blocking: until the server and workers are reaped.
 * Thread safety: any thread.  Ordering: none beyond the above.
 */
BATON_API void baton_isolated_fini(void);

/* A value handed over: data is malloc'ed (free() it), len bytes long. */
struct baton_isolated_value {
	void *data;
	size_t len;
};

/* An isolated task handle: a small value; a zeroed one is -ESTALE. */
typedef struct baton_isolated {
	struct baton__itask *rec_;
	uint64_t gen_;
} baton_isolated;

/* Per-task options (see BATON_ISOLATED_OPTS_INIT; 0 means 0). */
struct baton_isolated_opts {
	const char *label;    /* static string, for introspection */
	size_t cpu_seconds;   /* RLIMIT_CPU for this body (SIGXCPU past
				 it); BATON_NO_LIMIT: none */
	size_t address_space; /* RLIMIT_AS headroom for this body, bytes;
				 BATON_NO_LIMIT: none */
};

/* No label, no limits. */
#define BATON_ISOLATED_OPTS_INIT { NULL, BATON_NO_LIMIT, BATON_NO_LIMIT }

/*
 * Starts fn on a copy of arg[0..len) in a worker; the calling thread
 * becomes the owner.  If every worker is busy the task waits its turn
 * (in order) and its timeouts run from the await as usual.
 *
 * Pointers: sets *out (zeroed on failure); borrows arg (copied before the
 * call returns; may be NULL when len is 0); borrows opts (may be NULL).
 * Blocking: no.
 * Errors: -EINVAL, -E2BIG (len above BATON_ISOLATED_MAX_BYTES), -ENOMEM,
 * -EPIPE (runtime not running), -EPERM (called in a worker).  On failure
 * fn never runs.
 * Thread safety: any thread.
 * Ordering: the call happens-before fn starts.
 */
BATON_API int baton_isolated_async(baton_isolated *out, baton_isolated_fn fn,
				   const void *arg, size_t len);
BATON_API int baton_isolated_async_opts(baton_isolated *out,
					baton_isolated_fn fn, const void *arg,
					size_t len,
					const struct baton_isolated_opts *opts);

/*
 * Waits up to timeout_ms for the task and consumes it.  0: the value is
 * handed over in *value (value may be NULL to drop it).  BATON_EXITED:
 * *reason (if not NULL) says why: the body returned an error (ERROR, its
 * code), the worker died of a signal (ERROR with code = signal number, or
 * KILLED for SIGKILL; baton_isolated_reason_signal() tells), it called
 * _exit (ERROR, code = status), a resource limit was hit, or the body
 * called baton_exit/baton_exitf (its kind, code and text); a worker's
 * exit record out of range is ERROR, EPROTO.  -ETIMEDOUT: the worker was
 * killed and the task consumed; *reason is not written (nor on any
 * other negative return).  -EPERM for a non-owner (task untouched),
 * -ESTALE, -EINVAL.
 *
 * Pointers: borrows task and consumes what it names (not on -EPERM,
 * -ESTALE, -EINVAL); *task is zeroed when consumed.
 * Blocking: up to timeout_ms.
 * Thread safety: the owner thread only.
 * Ordering: the body's return happens-before a 0 or BATON_EXITED return.
 */
BATON_API int baton_isolated_await(baton_isolated *task, int timeout_ms,
				   struct baton_isolated_value *value,
				   struct baton_exit_reason *reason);

/*
 * As await, but on timeout the body keeps running and the task is not
 * consumed (-ETIMEDOUT); call yield, await, shutdown or ignore again.
 * Thread safety: the owner thread only.  Ordering: as await.
 */
BATON_API int baton_isolated_yield(baton_isolated *task, int timeout_ms,
				   struct baton_isolated_value *value,
				   struct baton_exit_reason *reason);

/*
 * Elixir's shutdown(task, timeout), as baton_task_shutdown: consumes the
 * task and returns 0 with the value (the reply had arrived before the
 * stop was asked), BATON_NOREPLY (Elixir's nil: a queued task dropped
 * unrun, or a body that ended after the stop was asked, its value
 * dropped; baton_isolated_should_stop() turns true in the worker), or
 * BATON_EXITED with the reason; when timeout_ms passes with the body
 * still running, the worker is SIGKILLed: BATON_EXITED, kind KILLED.
 * Errors: -EPERM, -ESTALE, -EINVAL (nothing changed).
 * Thread safety: the owner thread only.  Ordering: as await.
 */
BATON_API int baton_isolated_shutdown(baton_isolated *task, int timeout_ms,
				      struct baton_isolated_value *value,
				      struct baton_exit_reason *reason);

/*
 * Elixir's shutdown(task, :brutal_kill): a reply already in is returned
 * (0 or BATON_EXITED); otherwise the worker is SIGKILLed at once and
 * BATON_NOREPLY returned.  Consumes the task.
 * Thread safety: the owner thread only.  Ordering: as await.
 */
BATON_API int baton_isolated_shutdown_brutal(baton_isolated *task,
					     struct baton_isolated_value *value,
					     struct baton_exit_reason *reason);

/*
 * Elixir's ignore, as baton_task_ignore: consumes the task.  A reply
 * already in is returned as yield would (0 with *value, value NULL drops
 * it; or BATON_EXITED with *reason).  Otherwise BATON_NOREPLY: the body
 * runs on in its worker, and its value is dropped when it finishes (the
 * worker then serves others).  Errors: -EPERM, -ESTALE, -EINVAL.
 * Thread safety: the owner thread only.
 * Ordering: as await when it returns 0 or BATON_EXITED.
 */
BATON_API int baton_isolated_ignore(baton_isolated *task,
				    struct baton_isolated_value *value,
				    struct baton_exit_reason *reason);

/*
 * Awaits every task under one deadline and consumes them all.  0: values[i]
 * holds task i's value.  The first failure in input order wins:
 * BATON_EXITED (*failed, *reason) or -ETIMEDOUT (*failed: the first task
 * not finished); the other tasks are then killed and consumed and the
 * values already collected freed.  -EPERM / -ESTALE / -EINVAL if a handle
 * is bad: nothing is consumed.
 * Thread safety: the owner thread only.  Ordering: as await, per task.
 */
BATON_API int baton_isolated_await_many(baton_isolated *tasks, size_t n,
					int timeout_ms,
					struct baton_isolated_value *values,
					size_t *failed,
					struct baton_exit_reason *reason);

/*
 * One task's outcome in yield_many and in an isolated map.  reason is
 * filled for BATON_EXITED (yield_many's KILL at the timeout: KILLED,
 * SIGKILL; a map element's timeout: TIMEOUT, ETIMEDOUT) and cleared
 * (kind NORMAL, text "") otherwise, -ETIMEDOUT included.
 */
struct baton_isolated_result {
	int status; /* 0, BATON_EXITED, or -ETIMEDOUT: no reply */
	struct baton_isolated_value value; /* status 0: handed over */
	struct baton_exit_reason reason;   /* status BATON_EXITED */
};

/*
 * baton_task_yield_many for isolated tasks, with the same options (NULL:
 * BATON_YIELD_MANY_OPTS_INIT; limit >= 1 or BATON_NO_LIMIT, 0 is -EINVAL)
 * and the same rules; KILL kills the workers.
 * Returns how many replied, or a negative errno (nothing consumed).
 * Thread safety: the owner thread only.  Ordering: as await, per task.
 */
BATON_API ptrdiff_t
baton_isolated_yield_many(baton_isolated *tasks, size_t n,
			  const struct baton_yield_many_opts *opts,
			  struct baton_isolated_result *results);

/* An input of baton_isolated_map: len bytes at data (borrowed). */
struct baton_isolated_input {
	const void *data;
	size_t len;
};

/* baton_isolated_map's options (see BATON_ISOLATED_MAP_OPTS_INIT). */
struct baton_isolated_map_opts {
	unsigned max_concurrency; /* tasks in flight, >= 1;
				     BATON_SCHEDULERS: the worker count */
	int timeout_ms;           /* per element; 0 times out at once;
				     BATON_INFINITY: none */
};

/* As many in flight as workers, Elixir's 5000 ms per element. */
#define BATON_ISOLATED_MAP_OPTS_INIT                                        \
	{ BATON_SCHEDULERS, BATON_DEFAULT_TIMEOUT }

/*
 * Elixir's async_stream with isolation: runs fn on every input with at
 * most max_concurrency in flight and fills results[i] for inputs[i] (input
 * order).  One element crashing, exiting or timing out (its worker is
 * killed: BATON_EXITED/TIMEOUT) ends only that element.  Returns the
 * number of elements that gave a value, or a negative errno (-EINVAL,
 * -ENOMEM, -EPIPE, -E2BIG), in which case no result is filled and
 * nothing is left running.
 * Pointers: borrows inputs and opts; hands over each results[i].value.
 * Blocking: until every element resolved.
 * Thread safety: any thread (it owns the tasks it starts).
 * Ordering: as await, per element.
 */
BATON_API ptrdiff_t baton_isolated_map(baton_isolated_fn fn,
				       const struct baton_isolated_input *inputs,
				       size_t n,
				       const struct baton_isolated_map_opts *opts,
				       struct baton_isolated_result *results);

/*
 * Runs fn on a copy of arg[0..len) in a worker and waits for it (as
 * async + await, timeout_ms as await's), from any thread, including a
 * strict task body: the bridge that puts isolated work under the thread
 * layers.  While it waits it checks baton_should_stop() of the strict
 * task it runs in, every 20 ms: once asked (a stream item timed out or
 * killed, a supervisor terminating a child, an owner exit, a shutdown),
 * the worker is killed and BATON_EXITED/SHUTDOWN returned.  So a
 * baton_task_async_stream item or a supervisor child whose body calls it
 * is isolated: a crash is that item's or child's exit reason (pass it to
 * baton_exit()), and stopping it stops the worker.
 *
 * Returns as await: 0 (*value handed over), BATON_EXITED (*reason),
 * -ETIMEDOUT (worker killed), or async's errors.
 * Pointers: borrows arg and opts; value and reason may be NULL.
 * Blocking: until the body ends, the timeout, or a stop request.
 * Thread safety: any thread.  Ordering: as await.
 */
BATON_API int baton_isolated_run(baton_isolated_fn fn, const void *arg,
				 size_t len,
				 const struct baton_isolated_opts *opts,
				 int timeout_ms,
				 struct baton_isolated_value *value,
				 struct baton_exit_reason *reason);

/*
 * In an isolated body: whether a shutdown asked it to stop.  false
 * elsewhere.  Thread safety: the body's thread.  Ordering: acquire.
 */
BATON_API bool baton_isolated_should_stop(void);

/*
 * The signal that ended a task's worker, if reason says so (a
 * BATON_EXITED reason from this header), else 0.
 * Thread safety: any thread.  Ordering: none.
 */
BATON_API int baton_isolated_reason_signal(const struct baton_exit_reason *reason);

/* Counters since init, for tests and monitoring. */
struct baton_isolated_stats {
	uint64_t spawned;   /* worker processes started */
	uint64_t died;      /* workers that died other than by recycling */
	uint64_t killed;    /* workers baton killed (timeouts, shutdowns) */
	uint64_t recycled;  /* workers retired after recycle_after tasks */
	uint64_t tasks;     /* tasks started */
	uint64_t resolved;  /* tasks resolved or dropped */
	unsigned live_workers; /* workers alive and ready or busy now */
};

/*
 * Fills *st.  Errors: -EINVAL; -EPIPE before init.
 * Thread safety: any thread.  Ordering: a snapshot under the runtime lock.
 */
BATON_API int baton_isolated_stats(struct baton_isolated_stats *st);

/*
 * The pids of the live workers (up to n), for tests that kill one from
 * outside.  Returns how many were written.  Pointers: fills pids[0..n).
 * Thread safety: any thread.  Ordering: a snapshot under the runtime lock.
 */
BATON_API size_t baton_isolated_worker_pids(int *pids, size_t n);

/*
 * The worker pid running task's body, or 0 if none yet.  -ESTALE, -EINVAL.
 * Thread safety: any thread.  Ordering: none.
 */
BATON_API int baton_isolated_task_pid(const baton_isolated *task);

#ifdef __cplusplus
}
#endif

#endif /* BATON_ISOLATED_H */
