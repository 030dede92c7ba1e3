/*
 * future_async.c - baton_future_async: start a future with its value's
 * destructor as an argument.
 *
 * Design notes
 * ============
 * baton_future_start takes the destructor inside struct baton_task_opts,
 * and with NULL opts a value nobody takes is never freed: the common case
 * (a malloc'd result) leaked unless the caller found the struct in task.h.
 * This entry point makes the destructor a positional argument, so that
 * writing the call means deciding who frees the value.  It adds no state:
 * the options live on this stack frame only for the call, and the cell
 * (src/cell.c) copies the destructor and owns the value's release from
 * there, exactly as for baton_future_start.
 */
#include "baton/future.h"

int
baton_future_async(baton_future **out, baton_task_fn fn, void *arg,
		   baton_destroy_fn destroy)
{
	const struct baton_task_opts opts = { .destroy = destroy };

	return baton_future_start(out, fn, arg, &opts);
}
