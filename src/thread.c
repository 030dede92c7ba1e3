/*
 * thread.c - what baton knows about each thread: the tasks it owns, the
 * task body it is running, its cache of free cells, and what happens to
 * all of that when the thread exits (Elixir's links).
 *
 * Design notes
 * ============
 * The record lives in thread-local storage, so getting it never fails.  A
 * pthread key whose value points at the record makes the C library call
 * thread_exit() when the thread ends; the record itself is still valid
 * then.
 *
 * Owned tasks form a doubly linked list threaded through the cells.  Only
 * the owner thread touches its list (async adds, consuming calls remove),
 * so it needs no lock.  At exit, every task still on the list is an
 * orphan: it is asked to stop, detached (its result will be freed through
 * its destructor when the body returns), and reported to the orphan hook.
 * A strict task's body that watches baton_should_stop() thus ends soon
 * after its owner, as an Elixir task linked to a dying caller would.
 */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "alloc.h"
#include "cell.h"
#include "reason.h"

/*
 * initial-exec: a fixed offset from the thread pointer instead of a
 * __tls_get_addr call on every task (4% of a spawn-heavy profile).
 */
#define FAST_TLS __attribute__((tls_model("initial-exec")))
static _Thread_local struct baton__thread self_record FAST_TLS;
static _Thread_local bool self_ready FAST_TLS;
static pthread_key_t exit_key;
/* Set once by make_exit_key; pthread_once publishes it to every caller. */
static bool exit_key_made;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

static _Atomic(baton_orphan_hook) orphan_hook;
static _Atomic(void *) orphan_ctx;

static void
thread_exit(void *arg)
{
	struct baton__thread *self = arg;
	baton_orphan_hook hook;

	while (self->owned != NULL) {
		struct baton__cell *cell = self->owned;
		struct baton_task_info info;

		/* The hook is told who owned it: snapshot before detaching. */
		baton__cell_info(cell, &info);
		baton__disown(cell);
		if (atomic_load_explicit(&cell->flags, memory_order_relaxed) &
		    CELL_NOLINK) {
			/* Not linked to its owner: it runs on, unowned. */
			baton__cell_unref(cell);
			continue;
		}
		baton__cell_request_stop(cell);
		/* acquire: the hook's context was published with the hook. */
		hook = atomic_load_explicit(&orphan_hook, memory_order_acquire);
		if (hook != NULL) {
			info.stop_requested = true;
			hook(&info, atomic_load_explicit(&orphan_ctx,
							 memory_order_relaxed));
		}
		baton__cell_unref(cell);
	}
	self_ready = false;
}

void
baton__thread_exit_now(void)
{
	if (self_ready) {
		thread_exit(&self_record);
		/* Nothing is left for the key's destructor to do. */
		if (exit_key_made)
			(void)pthread_setspecific(exit_key, NULL);
	}
}

static void
make_exit_key(void)
{
	/* Without the key, exits are not noticed; nothing else breaks. */
	exit_key_made = baton__pthread_key_create(&exit_key, thread_exit) == 0;
}

struct baton__thread *
baton__thread_self(void)
{
	if (!self_ready) {
		self_ready = true;
		self_record.tid = gettid();
		pthread_once(&exit_key_once, make_exit_key);
		/* Never on a key we did not create: it may be another's. */
		if (exit_key_made)
			(void)pthread_setspecific(exit_key, &self_record);
	}
	return &self_record;
}

void
baton__own(struct baton__thread *self, struct baton__cell *cell)
{
	/* relaxed: non-owners only compare it with their own record. */
	atomic_store_explicit(&cell->owner, self, memory_order_relaxed);
	atomic_store_explicit(&cell->owner_tid, self->tid,
			      memory_order_relaxed);
	cell->owned_prev = NULL;
	cell->owned_next = self->owned;
	if (self->owned != NULL)
		self->owned->owned_prev = cell;
	self->owned = cell;
}

void
baton__disown(struct baton__cell *cell)
{
	struct baton__thread *owner =
	    atomic_load_explicit(&cell->owner, memory_order_relaxed);

	if (owner == NULL)
		return;
	if (cell->owned_prev != NULL)
		cell->owned_prev->owned_next = cell->owned_next;
	else
		owner->owned = cell->owned_next;
	if (cell->owned_next != NULL)
		cell->owned_next->owned_prev = cell->owned_prev;
	cell->owned_prev = cell->owned_next = NULL;
	atomic_store_explicit(&cell->owner, NULL, memory_order_relaxed);
	atomic_store_explicit(&cell->owner_tid, 0, memory_order_relaxed);
}

void
baton_set_orphan_hook(baton_orphan_hook hook, void *ctx)
{
	atomic_store_explicit(&orphan_ctx, ctx, memory_order_relaxed);
	/* release: publishes ctx with the hook. */
	atomic_store_explicit(&orphan_hook, hook, memory_order_release);
}

bool
baton_should_stop(void)
{
	struct baton__cell *cell = baton__cell_running();

	/* acquire: pairs with baton__cell_request_stop. */
	return cell != NULL &&
	    (atomic_load_explicit(&cell->flags, memory_order_acquire) &
	     CELL_STOP);
}

/*
 * An isolated worker's body has no cell: its runtime records the exit
 * instead (set once, in the worker, before any body runs).
 */
int (*baton__exit_hook)(const struct baton__reason *reason);

/* Records reason (owned or not: the cell takes it) as the body's exit. */
static int
record_exit(struct baton__cell *cell, struct baton__reason *reason)
{
	if (cell == NULL) {
		int r = baton__exit_hook(reason);

		baton__reason_release(reason);
		return r;
	}
	/* Read back by this thread when the body returns (cell.c). */
	baton__reason_release(&cell->body_reason); /* an earlier exit's */
	cell->body_reason = *reason;
	/* relaxed: published with DONE; task.c reads it as an exit. */
	if (reason->kind == BATON_EXIT_NORMAL)
		atomic_fetch_or_explicit(&cell->flags, CELL_EXITED,
					 memory_order_relaxed);
	return 0;
}

/* The body's cell, or NULL in an isolated worker; false: neither. */
static bool
exit_target(enum baton_exit_kind kind, struct baton__cell **cell)
{
	*cell = baton__cell_running();
	return (*cell != NULL || baton__exit_hook != NULL) &&
	    (unsigned int)kind <= BATON_EXIT_KILLED;
}

int
baton_exit(enum baton_exit_kind kind, int code, const char *message)
{
	struct baton__cell *cell;
	struct baton__reason r = BATON__REASON(kind, code, message);

	if (!exit_target(kind, &cell))
		return -EINVAL;
	return record_exit(cell, &r);
}

int
baton_vexitf(enum baton_exit_kind kind, int code, const char *fmt,
	     va_list ap)
{
	struct baton__cell *cell;
	struct baton__reason r;
	int err;

	if (fmt == NULL || !exit_target(kind, &cell))
		return -EINVAL;
	/* -ENOMEM still records the exit, with a static message. */
	err = baton__reason_vformat(&r, kind, code, fmt, ap);
	return record_exit(cell, &r) != 0 ? -EINVAL : err;
}

int
baton_exitf(enum baton_exit_kind kind, int code, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = baton_vexitf(kind, code, fmt, ap);
	va_end(ap);
	return r;
}

const char *
baton_exit_kind_name(enum baton_exit_kind kind)
{
	switch (kind) {
	case BATON_EXIT_NORMAL:
		return "normal";
	case BATON_EXIT_ERROR:
		return "error";
	case BATON_EXIT_SHUTDOWN:
		return "shutdown";
	case BATON_EXIT_TIMEOUT:
		return "timeout";
	case BATON_EXIT_NOPROC:
		return "noproc";
	case BATON_EXIT_KILLED:
		return "killed";
	}
	return "unknown";
}
