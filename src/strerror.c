/*
 * strerror.c - baton_strerror: what each code baton returns means, in
 * baton's words.
 *
 * Design notes
 * ============
 * libc's strerror() is the wrong printer for baton's codes: -ESTALE reads
 * "Stale file handle", -ETIMEDOUT "Connection timed out", and BATON_EXITED
 * (+1) prints as "Operation not permitted" because it equals EPERM.  This
 * file maps each code to one static string that says what the code means
 * in baton, followed by the errno's name so that a log line can still be
 * grepped for it.
 *
 * The table is the complete list of codes in include/baton/common.h;
 * tests/docs/check_errors.py fails the build's tests when src/ or queue/
 * return a code that is missing here or there.  There is no state: every
 * string has static storage duration, so any thread may call this at any
 * time, with no lock and no atomic.
 */
#include <errno.h>

#include "baton/common.h"
#include "baton/task.h"

/* One row per negative errno baton returns; order follows common.h. */
static const struct {
	int code;
	const char *text;
} codes[] = {
	{ -EINVAL, "invalid argument (-EINVAL)" },
	{ -ENOMEM, "out of memory; nothing was taken (-ENOMEM)" },
	{ -EAGAIN, "would block, or no thread/slot available (-EAGAIN)" },
	{ -ETIMEDOUT, "timed out (-ETIMEDOUT)" },
	{ -EPIPE, "closed, shut down or broken promise (-EPIPE)" },
	{ -EPERM, "not the owner (-EPERM)" },
	{ -ESTALE, "stale handle: consumed or never valid (-ESTALE)" },
	{ -EDEADLK, "a task awaiting itself (-EDEADLK)" },
	{ -EALREADY, "already taken or already completed (-EALREADY)" },
	{ -ENOENT, "nothing to wait for (-ENOENT)" },
	{ -ESRCH, "no such task (-ESRCH)" },
	{ -EBUSY, "too late: the default pool exists already (-EBUSY)" },
	{ -ECHILD, "pool made before fork(): none of its threads here (-ECHILD)" },
	{ -ENOSYS, "cross-process segments not built here (-ENOSYS)" },
	{ -EBADF, "not a segment's file descriptor (-EBADF)" },
	{ -EBADMSG, "not a baton segment (-EBADMSG)" },
	{ -EPROTO, "segment layout mismatch or corrupt data (-EPROTO)" },
	{ -EUSERS, "segment's process table full (-EUSERS)" },
	{ -EEXIST, "named segment already in use (-EEXIST)" },
	{ -ENOSPC, "segment full: no free slot, queue or space (-ENOSPC)" },
	{ -EMSGSIZE, "value too large for the block or buffer (-EMSGSIZE)" },
	{ -EIO, "a system call failed (-EIO)" },
	{ -ECANCELED, "cancelled: interrupted, nothing moved (-ECANCELED)" },
	{ -E2BIG, "argument or value too large for an isolated task (-E2BIG)" },
};

const char *
baton_strerror(int code)
{
	if (code == 0)
		return "success";
	if (code == BATON_EXITED)
		return "the work exited with a reason (BATON_EXITED)";
	if (code == BATON_NOREPLY)
		return "no reply: shut down, or still running (BATON_NOREPLY)";
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		if (codes[i].code == code)
			return codes[i].text;
	}
	return "not a baton error code";
}
