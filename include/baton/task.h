/*
 * baton/task.h - strict tasks: Elixir's Task, carried to C threads.
 *
 * Overview
 * ========
 * A strict task runs fn(arg) on a pool.  The thread that started it is its
 * owner, and only the owner may await it: "if you start an async, you must
 * await".  Any other thread gets -EPERM at once, never a silent timeout
 * (Elixir before 1.2), and the task is left untouched for its owner.
 *
 *	baton_task t;
 *	void *v;
 *	struct baton_exit_reason why;
 *	if (baton_task_async(&t, work, arg) != 0) ...;
 *	switch (baton_task_await(&t, BATON_DEFAULT_TIMEOUT, &v, &why)) {
 *	case 0:            use(v); break;             the value is yours
 *	case BATON_EXITED: report(&why); break;       the task failed
 *	default:           error (-ETIMEDOUT, -EPERM, ...)
 *	}
 *
 * Where C differs from Elixir, and why
 * ------------------------------------
 * - C cannot kill a thread safely.  Stopping is cooperative: a body asks
 *   baton_should_stop() and returns early; and it is abandonment: the
 *   caller stops waiting at once, and the body's result is freed through
 *   its destructor when the body returns.  Everything Elixir does by
 *   killing a task (await timing out, shutdown and its timeout,
 *   yield_many's kill_task, the owner exiting, a supervisor's
 *   terminate_child or brutal shutdown) baton does this way, and reports
 *   what Elixir's caller would see: nil (BATON_NOREPLY, or -ETIMEDOUT in
 *   yield_many), {:exit, :killed} (BATON_EXITED, kind KILLED), ...
 * - Elixir's await exits the caller on timeout.  baton returns -ETIMEDOUT,
 *   asks the task to stop and consumes it: the handle is dead afterwards,
 *   as the linked task would be.
 * - A failed task's reason is returned as BATON_EXITED plus a
 *   struct baton_exit_reason, distinct from await's own negative errors.
 * - A handle is a small value; once consumed (awaited, ignored, shut
 *   down) every copy of it is stale, and using one returns -ESTALE:
 *   handles carry a generation, and the cells they name are never
 *   returned to the system while baton runs, so checking is always safe.
 * - Links: when an owner thread exits with tasks it never awaited, those
 *   tasks are asked to stop and their results are freed; an orphan hook
 *   can report it (baton_set_orphan_hook).  C cannot kill the owner when
 *   a linked task crashes, so a thread can trap exits instead and read
 *   its linked tasks' failures as exit notices (baton/link.h).
 * - Elixir's exit(:normal) is baton_exit(BATON_EXIT_NORMAL, ...): the
 *   awaiter gets BATON_EXITED with kind NORMAL and no value.
 * - Option structs: each has a BATON_<X>_OPTS_INIT macro with Elixir's
 *   defaults; a field set to 0 means 0; a NULL opts pointer means INIT.
 *
 * Return values used throughout: 0 (success, value handed over),
 * BATON_EXITED (the task exited with a reason), BATON_NOREPLY (shutdown
 * and ignore: no reply, Elixir's nil), or a negative errno:
 * -EINVAL (bad argument), -EPERM (not the owner), -ESTALE (consumed or
 * never valid handle), -EDEADLK (a task awaiting itself), -ETIMEDOUT,
 * -ENOMEM, -EPIPE (the pool is shut down).
 */
#ifndef BATON_TASK_H
#define BATON_TASK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Returned by await/yield/shutdown: the task exited with a reason. */
#define BATON_EXITED 1

/*
 * Returned by shutdown and ignore: no reply (Elixir's nil).  The task was
 * shut down (or, for ignore, is still running); its value, if it ever
 * produces one, is freed through its destructor.
 */
#define BATON_NOREPLY 2

/*
 * Option structs follow one rule across baton: each has a
 * BATON_<X>_OPTS_INIT macro holding Elixir's defaults, a field set to 0
 * means 0 (not "the default"), and passing a NULL opts pointer means the
 * INIT defaults.  Start from the macro and change what you need:
 *
 *	struct baton_yield_many_opts o = BATON_YIELD_MANY_OPTS_INIT;
 *	o.limit = 1;
 */

/* "No limit", for the size_t limits of the option structs. */
#define BATON_NO_LIMIT SIZE_MAX

/* Elixir's exit reasons. */
enum baton_exit_kind {
	BATON_EXIT_NORMAL = 0, /* returned a value, or baton_exit(NORMAL):
				  Elixir's exit(:normal), no value */
	BATON_EXIT_ERROR,      /* the body called baton_exit(ERROR, ...) */
	BATON_EXIT_SHUTDOWN,   /* stopped on request (shutdown, cancel) */
	BATON_EXIT_TIMEOUT,    /* abandoned at a timeout */
	BATON_EXIT_KILLED,     /* abandoned at once (brutal shutdown, kill) */
	/*
	 * The process that was to complete it died (Erlang's noproc): a
	 * cross-process future's producer (baton/shm.h); code is ESRCH,
	 * the pid is in baton_shm_reason.  Never a body's own choice:
	 * baton_exit refuses it.
	 */
	BATON_EXIT_NOPROC = 16
};

/* The size of a reason's text, its terminating NUL included. */
#define BATON_EXIT_TEXT_MAX 128

/*
 * Why a task exited: a plain value.  Copy it, keep it, drop it: it owns
 * nothing and nothing in it is ever freed by the caller.
 *
 * kind and code: the sign and meaning of code, per kind.  code is never
 * negative when baton chose it; a body's own choice (baton_exit,
 * baton_exitf, baton_promise_fail) is passed through as given, and by
 * convention is a positive errno value (EIO, not -EIO).
 *   NORMAL    0, or the body's code (baton_exit(NORMAL, code, ...)).
 *   ERROR     the body's code (baton_exit/baton_exitf/baton_promise_fail);
 *             an isolated body's non-zero return value or, when its worker
 *             died, the signal number or the exit status (isolated.h);
 *             EPROTO for a corrupt reply from a worker.
 *   SHUTDOWN  ECANCELED: stopped before it ran, a future's cancel, a
 *             supervisor's terminate_child, an isolated task stopped
 *             with its strict task; EPIPE: a stream item refused by a
 *             shut-down pool, an isolated runtime stopped; else the
 *             body's code.
 *   TIMEOUT   ETIMEDOUT (a stream or isolated map element's timeout), or
 *             the body's code.
 *   KILLED    ETIMEDOUT (abandoned at a shutdown's timeout), ECANCELED
 *             (a supervisor's brutal or timed-out shutdown), SIGKILL (an
 *             isolated worker killed), or the body's code.
 *   NOPROC    ESRCH (baton/shm.h; code is never a pid).
 *
 * message: the static string given to baton_exit() or set by baton
 * itself, or NULL (no message, or a formatted one).  It lets a program
 * compare a reason with a string of its own by address; it is never
 * freed and never points into the reason.
 *
 * text: what to print.  Always NUL-terminated; "" when there is no
 * message; otherwise the formatted message (baton_exitf) or a copy of
 * message.  A message longer than BATON_EXIT_TEXT_MAX - 1 bytes is cut
 * at a character boundary and ends with "..." (BATON_EXIT_TRUNCATED), so
 * a cut is visible.  text lives in the struct itself, not in the
 * result: it stays valid after the result was freed, in a copy, in
 * another thread.
 *
 * When is a reason written?  Every call that takes a reason pointer
 * writes it only when it returns BATON_EXITED (or, for the many-task
 * calls, a per-task status of BATON_EXITED), and leaves it untouched
 * otherwise: on 0, BATON_NOREPLY, -ETIMEDOUT and every error.  The
 * per-header exceptions (a yield_many result, a stream item, an exit
 * notice) are documented where they apply.
 */
struct baton_exit_reason {
	enum baton_exit_kind kind;
	int code;
	const char *message;
	char text[BATON_EXIT_TEXT_MAX];
};

/* The marker a cut text ends with. */
#define BATON_EXIT_TRUNCATED "..."

/*
 * An initialiser from static parts, fully written (no -Wextra warning):
 *	struct baton_exit_reason r = BATON_EXIT_REASON(BATON_EXIT_ERROR,
 *						       EIO, "disk gone");
 *	baton_promise_fail(p, &r);
 * text starts empty; a reader's copy gets message's text in it.
 */
#define BATON_EXIT_REASON(kind, code, message) \
	{ (kind), (code), (message), "" }

/*
 * A strict task handle: a small value, copied freely; the fields are
 * private.  A zeroed handle is never valid (-ESTALE).
 */
typedef struct baton_task {
	struct baton__cell *cell_;
	uint64_t gen_;
} baton_task;

/* A task body: returns the task's value (NULL is a value). */
typedef void *(*baton_task_fn)(void *arg);

/* Options for starting a task (see BATON_TASK_OPTS_INIT). */
struct baton_task_opts {
	baton_pool *pool;            /* NULL: the default pool */
	const char *label;           /* static string, for introspection */
	baton_destroy_fn destroy;    /* frees a value nobody takes; NULL:
					none */
};

/* The defaults: the default pool, no label, no destructor. */
#define BATON_TASK_OPTS_INIT { NULL, NULL, NULL }

/*
 * Starts fn(arg) on the default pool; the calling thread becomes the owner.
 *
 * Pointers: sets *out (to a zeroed handle on failure); arg is passed to fn
 * untouched and stays the caller's business.
 * Blocking: no.
 * Errors: -EINVAL (out or fn NULL); -ENOMEM; -EPIPE (pool shut down).  On
 * failure fn never runs.
 * Thread safety: any thread.
 * Ordering: the call happens-before fn starts.
 */
BATON_API int baton_task_async(baton_task *out, baton_task_fn fn, void *arg);

/* As baton_task_async, with options (opts may be NULL). */
BATON_API int baton_task_async_opts(baton_task *out, baton_task_fn fn,
				    void *arg,
				    const struct baton_task_opts *opts);

/*
 * Waits up to timeout_ms (BATON_DEFAULT_TIMEOUT is Elixir's 5000;
 * BATON_INFINITY) for the task and consumes it.
 *
 * Returns 0 and hands the value over in *value (may be NULL to drop it
 * through the destructor); BATON_EXITED with *reason filled (if reason is
 * not NULL) when the task failed; -ETIMEDOUT when the time ran out: the
 * task is asked to stop, consumed, and its eventual value (and exit
 * text) freed when its body returns; *reason is not written.  -EPERM from a thread that is not the owner: the task is
 * untouched and its owner can still await it.  -EDEADLK when a task
 * awaits itself; -ESTALE for a consumed or invalid handle; -EINVAL.
 * Helping: if the task is still queued and the wait has no time limit
 * (BATON_INFINITY) or the caller is a pool worker, the caller runs it
 * itself; the call then returns when the body does (a worker helps even
 * past its timeout: that is what keeps nested awaits on a saturated pool
 * from deadlocking).  A bounded wait from any other thread never runs the
 * body, so its timeout holds.
 *
 * Pointers: borrows task and consumes what it names (not on -EPERM,
 * -EDEADLK, -ESTALE, -EINVAL); *task is zeroed when consumed.
 * Blocking: up to timeout_ms.
 * Thread safety: the owner thread only.
 * Ordering: the body's return happens-before a 0 or BATON_EXITED return.
 */
BATON_API int baton_task_await(baton_task *task, int timeout_ms, void **value,
			       struct baton_exit_reason *reason);

/*
 * As baton_task_await, but on timeout the task keeps running and is not
 * consumed: -ETIMEDOUT (*reason not written), and yield (or await,
 * shutdown, ignore) may be called again.  Elixir's idiom `yield(t, ms) || shutdown(t)` reads
 * r = baton_task_yield(&t, ms, ...); if (r == -ETIMEDOUT)
 *	r = baton_task_shutdown(&t, ms, ...);
 *
 * Thread safety: the owner thread only.  Ordering: as await.
 */
BATON_API int baton_task_yield(baton_task *task, int timeout_ms, void **value,
			       struct baton_exit_reason *reason);

/*
 * Elixir's shutdown(task, timeout): asks the task to stop, waits up to
 * timeout_ms for its body to return, and consumes it.  Returns
 * - 0 with the value: the reply had arrived before the stop was asked;
 * - BATON_NOREPLY (Elixir's nil): the task was shut down.  That is a body
 *   that returned after the stop was asked (its value is freed through
 *   the destructor), one that exited with reason SHUTDOWN, or a queued
 *   task, which is dropped without running;
 * - BATON_EXITED with the reason: the task exited with another reason;
 *   and when timeout_ms passes with the body still running, Elixir kills
 *   it and so reports {:exit, :killed}: baton reports BATON_EXITED with
 *   kind KILLED.  C cannot kill the thread: the body is abandoned (it
 *   still sees baton_should_stop()) and its result freed when it returns.
 *
 * Errors: -EPERM, -ESTALE, -EDEADLK, -EINVAL, as await (nothing changed).
 * Thread safety: the owner thread only.  Ordering: as await.
 */
BATON_API int baton_task_shutdown(baton_task *task, int timeout_ms,
				  void **value,
				  struct baton_exit_reason *reason);

/*
 * Elixir's shutdown(task, :brutal_kill): as baton_task_shutdown without
 * waiting.  A reply that already arrived is still returned (0), as is an
 * exit reason other than SHUTDOWN (BATON_EXITED); a body still running is
 * abandoned and reported as BATON_NOREPLY (Elixir: killed, so nil), its
 * result freed when it returns.
 *
 * Thread safety: the owner thread only.  Ordering: as await.
 */
BATON_API int baton_task_shutdown_brutal(baton_task *task, void **value,
					 struct baton_exit_reason *reason);

/*
 * Elixir's ignore: stops tracking the task and consumes it.  If its reply
 * already arrived, returns it as yield would: 0 with the value in *value
 * (value NULL: freed through the destructor), or BATON_EXITED with
 * *reason.  Otherwise BATON_NOREPLY: the task runs on, and its result is
 * freed through its destructor when it finishes (never leaked).
 *
 * Errors: -EPERM (not the owner), -ESTALE, -EINVAL (nothing consumed).
 * Thread safety: the owner thread only.
 * Ordering: as await when it returns 0 or BATON_EXITED.
 */
BATON_API int baton_task_ignore(baton_task *task, void **value,
				struct baton_exit_reason *reason);

/*
 * Fire-and-forget: runs fn(arg) on the pool (opts may be NULL), with no
 * owner and no result (a returned value is passed to opts->destroy).
 *
 * Errors: -EINVAL, -ENOMEM, -EPIPE; on failure fn never runs.
 * Thread safety: any thread.  Ordering: the call happens-before fn.
 */
BATON_API int baton_task_start(baton_task_fn fn, void *arg,
			       const struct baton_task_opts *opts);

/*
 * An already-finished task holding value (Elixir's Task.completed), owned
 * by the calling thread, for mixing ready and pending values.
 *
 * Pointers: consumes value on success (destroy frees it if nobody takes
 * it); on failure value stays the caller's.
 * Errors: -EINVAL, -ENOMEM.  Thread safety: any thread.
 */
BATON_API int baton_task_completed(baton_task *out, void *value,
				   baton_destroy_fn destroy);

/*
 * Awaits every task under one deadline and consumes them all.  On 0,
 * values[i] holds task i's value (input order).  The first failure wins:
 * BATON_EXITED with *reason and *failed set to its index (if failed is not
 * NULL); on -ETIMEDOUT *failed is the first task not finished (and
 * *reason is not written).  In both
 * cases the other tasks are asked to stop and consumed, values already
 * collected are freed through their destructors, and values[] is not
 * filled.  -EPERM / -ESTALE / -EDEADLK / -EINVAL if any handle is bad, and
 * then nothing is consumed.  Helping: with BATON_INFINITY the caller
 * runs queued tasks of the list itself while it waits, so a failure
 * queued behind a long body on a busy pool still ends the call at once.
 *
 * Thread safety: the owner thread only.  Ordering: as await, per task.
 */
BATON_API int baton_task_await_many(baton_task *tasks, size_t n,
				    int timeout_ms, void **values,
				    size_t *failed,
				    struct baton_exit_reason *reason);

/* What yield_many does with tasks still running when it returns. */
enum baton_on_timeout {
	BATON_ON_TIMEOUT_NOTHING = 0, /* leave them: yield again later */
	BATON_ON_TIMEOUT_IGNORE,      /* ignore them (results freed) */
	BATON_ON_TIMEOUT_KILL         /* shut them down brutally */
};

/* yield_many's options (see BATON_YIELD_MANY_OPTS_INIT). */
struct baton_yield_many_opts {
	int timeout_ms;                  /* 0 polls; BATON_INFINITY */
	size_t limit;                    /* return once this many replied
					    (>= 1; BATON_NO_LIMIT) */
	enum baton_on_timeout on_timeout;
};

/* Elixir's defaults: 5000 ms, no limit, on_timeout :nothing. */
#define BATON_YIELD_MANY_OPTS_INIT \
	{ BATON_DEFAULT_TIMEOUT, BATON_NO_LIMIT, BATON_ON_TIMEOUT_NOTHING }

/*
 * One task's outcome in yield_many.  reason is filled when status is
 * BATON_EXITED; for 0 and -ETIMEDOUT it is cleared (kind NORMAL, code 0,
 * message NULL, text ""), cheaply: the text buffer is not zeroed.
 */
struct baton_yield_result {
	int status;   /* 0, BATON_EXITED, or -ETIMEDOUT: no reply (nil) */
	void *value;  /* status 0: handed over */
	struct baton_exit_reason reason; /* status BATON_EXITED */
};

/*
 * Waits until every task replied, `limit` of them replied, or the timeout
 * expired, and reports each in input order (opts NULL: the INIT
 * defaults).  A reported reply consumes its task.  With a limit, exactly
 * min(limit, n) replies are reported once the limit is reached (the first
 * finished ones in input order), and every other task is left untouched,
 * -ETIMEDOUT and still awaitable, even one that finished meanwhile; as in
 * Elixir, on_timeout is then not applied.  When the timeout expired first,
 * the tasks that did not reply are handled by on_timeout: NOTHING leaves
 * them alive, IGNORE consumes them (results freed), KILL shuts them down
 * brutally (consumed; a reply that raced in is reported, otherwise nil).
 * Every task without a reported reply has status -ETIMEDOUT (Elixir's
 * nil).  Helping: with BATON_INFINITY the caller runs queued tasks of the
 * list itself while it waits, so a task queued behind a long body cannot
 * hold up the limit.  Returns how many replies were reported, or a
 * negative errno (nothing consumed): a bad handle (as await_many), or
 * -EINVAL for limit 0 or a bad timeout or on_timeout.
 *
 * Thread safety: the owner thread only.  Ordering: as await, per task.
 */
BATON_API ptrdiff_t baton_task_yield_many(baton_task *tasks, size_t n,
					  const struct baton_yield_many_opts *opts,
					  struct baton_yield_result *results);

/*
 * Inside a task body: whether the task has been asked to stop (shutdown,
 * await timeout, yield_many kill, owner exit).  false outside a task.
 * Thread safety: the body's thread.  Ordering: acquire.
 */
BATON_API bool baton_should_stop(void);

/*
 * Inside a task body: records that the task exits with a reason instead
 * of a value.  The body should return right after; whatever it returns is
 * passed to the destructor.  Kind NORMAL is Elixir's exit(:normal): the
 * awaiter gets BATON_EXITED with kind NORMAL (not a failure for a
 * supervisor).  -EINVAL outside a task or with an unknown kind.
 * Thread safety: the body's thread.  Ordering: as the body's return.
 */
BATON_API int baton_exit(enum baton_exit_kind kind, int code,
			 const char *message);

/*
 * As baton_exit, with a message formatted as printf(fmt, ...) would:
 * the failing body can say which input failed.
 *
 *	if (fd < 0)
 *		return baton_exitf(BATON_EXIT_ERROR, errno, "open %s: %s",
 *				   path, strerror(errno)), NULL;
 *
 * The text is formatted now, on the body's thread, cut to
 * BATON_EXIT_TEXT_MAX - 1 bytes (ending with "..." when cut), and
 * stored with the result: it is freed with the result, exactly once,
 * whoever frees it (the last reference, an abandoned task's end, a
 * cancel that won).  Every reader gets it in its own copy's `text`
 * (message is then NULL); a failure forwarded to another future
 * (then, all, any, race) carries the same text, shared, not copied.
 * A later baton_exit or baton_exitf in the same body replaces it.
 *
 * Pointers: borrows fmt and the arguments (read during the call only).
 * Blocking: no (it allocates).
 * Errors: -EINVAL as baton_exit (nothing recorded; fmt NULL too);
 * -ENOMEM: the exit is still recorded, with kind and code, and the
 * static message "message lost: out of memory".
 * Thread safety: the body's thread.  Ordering: as the body's return.
 */
BATON_API int baton_exitf(enum baton_exit_kind kind, int code,
			  const char *fmt, ...) BATON_PRINTF(3, 4);

/* As baton_exitf, with a va_list (the caller va_ends it). */
BATON_API int baton_vexitf(enum baton_exit_kind kind, int code,
			   const char *fmt, va_list ap) BATON_PRINTF(3, 0);

/*
 * Fills *info with a snapshot of the task.  Errors: -ESTALE, -EINVAL.
 * Thread safety: any thread (the owner's handle may be copied for this).
 */
BATON_API int baton_task_info(const baton_task *task,
			      struct baton_task_info *info);

/*
 * Called for each task that its owner thread left behind at exit, just
 * after the task was asked to stop and detached.  hook NULL removes it.
 * Thread safety: any thread; the hook runs on the exiting thread.
 */
typedef void (*baton_orphan_hook)(const struct baton_task_info *info,
				  void *ctx);
BATON_API void baton_set_orphan_hook(baton_orphan_hook hook, void *ctx);

/* A short name for an exit kind ("normal", "error", ...). */
BATON_API const char *baton_exit_kind_name(enum baton_exit_kind kind);

#ifdef __cplusplus
}
#endif

#endif /* BATON_TASK_H */
