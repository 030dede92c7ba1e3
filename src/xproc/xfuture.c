/*
 * xfuture.c - futures and promises in a segment.
 *
 * Design notes
 * ============
 * A slot's state word is its futex: FREE -> PENDING (promise created, with
 * two references of the creating process: the future's and the promise's)
 * -> READY | FAILED | CANCELLED | BROKEN (promise destroyed pending, or its
 * process detached) | DIED (its process died pending) -> FREE when the
 * last reference goes.  Every transition happens under the segment lock,
 * through the undo log; the completing store is a release that waiters pair
 * with an acquire load, so the value bytes (written before it) are visible
 * to a waiter that sees the state.  The value is immutable from then on:
 * copy/borrow read it without the lock; take is one CAS on `taken`.
 *
 * References: refs[slot][row] counts each process's references, slot.refs
 * all of them, queue-held ones and the promise's (slot.promise) included.
 * A process changes only its own row's count (under the lock); a cleaner
 * zeroes a dead row's.
 *
 * A waiter spins (wait.c: adaptive, at most spin_ns), then sleeps on the
 * state word (a count of sleepers beside it, wait.c) in slices of
 * BATON_SHM_CHECK_MS; before each sleep it checks the producer's pidfd, so
 * a producer's death is answered within a slice.
 *
 * Who frees what: the runner of a started body owns its scratch buffer and
 * its struct run, and frees both when the body has returned.
 */
#include "xproc.h"

#if defined(__linux__)

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include <baton/future.h>
#include <stdarg.h>
#include <stdio.h>

#include "alloc.h"
#include "cell.h"
#include "reason.h"
#include "wait.h"

static size_t
value_max(const baton_shm *seg)
{
	return seg->l.arena_blocks ? seg->l.block_size : BATON_SHM_INLINE;
}

int
baton__xslot_get(baton_shm *seg, uint64_t id, uint32_t *idx, bool need_ref)
{
	uint32_t i = (uint32_t)id, gen = (uint32_t)(id >> 32);

	if (gen == 0 || i >= seg->l.max_futures)
		return -EINVAL;
	/* acquire: the slot's fields as of the store that set its gen. */
	if (xld_acq(&xslot_at(seg, i)->gen) != gen)
		return -ESTALE;
	if (need_ref && xld(xref_at(seg, i, seg->me)) == 0)
		return -EPERM;
	*idx = i;
	return 0;
}

/*
 * Under the lock: takes a free slot for a future of this process, with
 * the future's reference (in our row) and, if promise, the promise's
 * (counted by `promise`, so a push cannot spend it).  The caller sets the
 * state, then the generation (last: the id becomes valid), then commits.
 */
static int
slot_take(baton_shm *seg, bool promise, uint32_t *idx, uint32_t *gen_out)
{
	struct xhdr *h = xhdr(seg);
	struct xslot *s;
	uint32_t head = xld(&h->slot_free), i, gen, next;

	if (head == 0)
		return -ENOSPC;
	i = head - 1;
	s = xslot_at(seg, i);
	if (i >= seg->l.max_futures || xld(&s->state) != S_FREE)
		return -EPROTO;
	gen = xld(&h->gen) + 1;
	if (gen == 0)
		gen = 1;
	baton__xset(seg, &h->gen, gen);
	next = xld(&s->next);
	baton__xset(seg, &h->slot_free, next);
	xslot_prefetch(seg, next - 1); /* a batch's next slot (0: none) */
	baton__xset(seg, &s->producer, seg->me);
	baton__xset(seg, &s->refs, promise ? 2 : 1);
	baton__xset(seg, xref_at(seg, i, seg->me), 1);
	baton__xset(seg, &s->taken, 0);
	baton__xset(seg, &s->len, 0);
	baton__xset(seg, &s->block, 0);
	baton__xset(seg, &s->promise, promise ? 1 : 0);
	*idx = i;
	*gen_out = gen;
	return 0;
}

/*
 * Under the lock: whether len bytes fit a slot's value; *block is the
 * arena block they will take (0: inline).  Changes nothing.
 */
static int
value_room(baton_shm *seg, size_t len, uint32_t *block)
{
	uint32_t b = 0;

	if (len > BATON_SHM_INLINE) {
		b = xld(&xhdr(seg)->block_free);
		if (b == 0)
			return -ENOSPC;
		if (b - 1 >= seg->l.arena_blocks)
			return -EPROTO;
	}
	*block = b;
	return 0;
}

/* Under the lock: stores a value that value_room said fits. */
static void
value_put(baton_shm *seg, struct xslot *s, uint32_t block,
	  const void *value, size_t len)
{
	unsigned char *dst = s->inline_;

	if (block != 0) {
		baton__xset(seg, &xhdr(seg)->block_free,
			    xld(xbnext_at(seg, block - 1)));
		baton__xset(seg, &s->block, block);
		dst = xblock_at(seg, block - 1);
	}
	if (len > 0)
		memcpy(dst, value, len);
	baton__xset(seg, &s->len, (uint32_t)len);
}

int
baton_shm_promise_create(baton_shm *seg, baton_shm_promise *promise,
			 baton_shm_future *future)
{
	uint32_t i, gen;
	int r = baton__xcheck(seg);

	if (promise != NULL)
		promise->id = 0;
	if (future != NULL)
		future->id = 0;
	if (r != 0)
		return r;
	if (promise == NULL || future == NULL)
		return -EINVAL;
	baton__xlock(seg);
	r = slot_take(seg, true, &i, &gen);
	if (r != 0) {
		baton__xunlock(seg);
		return r;
	}
	baton__xset(seg, &xslot_at(seg, i)->state, S_PENDING);
	baton__xset(seg, &xslot_at(seg, i)->gen, gen);
	baton__xcommit(seg);
	baton__xunlock(seg);
	promise->id = future->id = xid(i, gen);
	return 0;
}

ptrdiff_t
baton_shm_future_completed_many(baton_shm *seg, const void *values,
				size_t size, size_t n, baton_shm_future *out)
{
	const unsigned char *v = values;
	struct xslot *s;
	uint32_t i, gen, block;
	size_t k;
	int r = baton__xcheck(seg);

	for (k = 0; out != NULL && k < n; k++)
		out[k].id = 0;
	if (r != 0)
		return r;
	if ((out == NULL || (size > 0 && values == NULL)) && n > 0)
		return -EINVAL;
	if (size > value_max(seg))
		return -EMSGSIZE;
	baton__xlock(seg);
	/* One committed section per future: a crash keeps a prefix.  The
	 * lock is let go every X_HOLD_MAX futures: a bounded hold. */
	for (k = 0; k < n; k++) {
		baton__xhold_turn(seg, k);
		r = value_room(seg, size, &block);
		if (r == 0)
			r = slot_take(seg, false, &i, &gen);
		if (r != 0)
			break; /* nothing of this item was stored */
		s = xslot_at(seg, i);
		value_put(seg, s, block, size > 0 ? v + k * size : NULL, size);
		baton__xset(seg, &s->kind, BATON_EXIT_NORMAL);
		baton__xset(seg, &s->code, 0);
		baton__xset(seg, &s->state, S_READY); /* release: the bytes */
		baton__xset(seg, &s->gen, gen);
		baton__xcommit(seg);
		out[k].id = xid(i, gen);
	}
	baton__xunlock(seg);
	return k > 0 ? (ptrdiff_t)k : r;
}

int
baton_shm_future_completed(baton_shm *seg, const void *value, size_t len,
			   baton_shm_future *out)
{
	/* out NULL: completed_many's -EINVAL (after its handle check). */
	ptrdiff_t k = baton_shm_future_completed_many(seg, value, len, 1, out);

	return k < 0 ? (int)k : 0;
}

/* Under the lock: the promise's slot, checked for the owner. */
static int
promise_slot(baton_shm *seg, uint64_t id, struct xslot **out, uint32_t *idx)
{
	int r = baton__xslot_get(seg, id, idx, false);

	if (r != 0)
		return r;
	*out = xslot_at(seg, *idx);
	if (xld(&(*out)->producer) != seg->me)
		return -EPERM;
	if (xld(&(*out)->promise) != 1)
		return -ESTALE;
	return 0;
}

/* After a committed completion: wake sleepers, if any. */
static void
wake_slot(struct xslot *s)
{
	baton__xcount_wake(&s->waiters, &s->state);
}

static int
complete(baton_shm *seg, uint64_t id, const void *value, size_t len,
	 uint32_t state, int kind, int code)
{
	struct xslot *s;
	uint32_t i, block;
	int r = baton__xcheck(seg);

	if (r != 0)
		return r;
	if (len > value_max(seg))
		return -EMSGSIZE;
	if (len > 0 && value == NULL)
		return -EINVAL;
	baton__xlock(seg);
	r = promise_slot(seg, id, &s, &i);
	if (r == 0 && xld(&s->state) != S_PENDING)
		r = -EALREADY;
	if (r != 0) {
		baton__xunlock(seg);
		return r;
	}
	r = value_room(seg, len, &block);
	if (r != 0) {
		baton__xunlock(seg);
		return r;
	}
	value_put(seg, s, block, value, len);
	baton__xset(seg, &s->kind, (uint32_t)kind);
	baton__xset(seg, &s->code, (uint32_t)code);
	baton__xset(seg, &s->state, state); /* release: publishes the bytes */
	baton__xcommit(seg);
	baton__xunlock(seg);
	wake_slot(s);
	return 0;
}

int
baton_shm_promise_fulfil(baton_shm *seg, baton_shm_promise p,
			 const void *value, size_t len)
{
	return complete(seg, p.id, value, len, S_READY, BATON_EXIT_NORMAL, 0);
}

/* Fails p with kind, code and text (terminated, < BATON_SHM_TEXT_MAX). */
static int
fail_with_text(baton_shm *seg, baton_shm_promise p, int kind, int code,
	       const char *text)
{
	if (kind == BATON_EXIT_NORMAL)
		return -EINVAL;
	/* The text goes where a value would: a failed slot has none. */
	return complete(seg, p.id, text, strlen(text), S_FAILED, kind, code);
}

int
baton_shm_promise_failf(baton_shm *seg, baton_shm_promise p, int kind,
			int code, const char *fmt, ...)
{
	/* One spare byte: a text of exactly MAX-1 bytes is not cut. */
	char buf[BATON_SHM_TEXT_MAX + 1], text[BATON_SHM_TEXT_MAX];
	va_list ap;

	if (fmt == NULL)
		return -EINVAL;
	va_start(ap, fmt);
	if (vsnprintf(buf, sizeof(buf), fmt, ap) < 0)
		buf[0] = '\0';
	va_end(ap);
	baton__text_cut(text, sizeof(text), buf, sizeof(buf));
	return fail_with_text(seg, p, kind, code, text);
}

int
baton_shm_promise_fail(baton_shm *seg, baton_shm_promise p, int kind,
		       int code)
{
	if (kind == BATON_EXIT_NORMAL)
		return -EINVAL;
	return complete(seg, p.id, NULL, 0, S_FAILED, kind, code);
}

int
baton_shm_promise_destroy(baton_shm *seg, baton_shm_promise p)
{
	struct xslot *s;
	uint32_t i;
	bool broke;
	int r = baton__xcheck(seg);

	if (r != 0)
		return r;
	baton__xlock(seg);
	r = promise_slot(seg, p.id, &s, &i);
	if (r != 0) {
		baton__xunlock(seg);
		return r;
	}
	broke = xld(&s->state) == S_PENDING;
	baton__xset(seg, &s->promise, 0);
	if (broke)
		baton__xset(seg, &s->state, S_BROKEN);
	baton__xslot_release(seg, i, UINT32_MAX, 1);
	baton__xcommit(seg);
	baton__xunlock(seg);
	if (broke)
		baton__xfutex_wake(&s->state, INT_MAX);
	return 0;
}

int
baton_shm_future_ref(baton_shm *seg, baton_shm_future f)
{
	struct xslot *s;
	uint32_t i;
	int r = baton__xcheck(seg);

	if (r != 0)
		return r;
	baton__xlock(seg);
	r = baton__xslot_get(seg, f.id, &i, true);
	if (r == 0) {
		s = xslot_at(seg, i);
		baton__xset(seg, xref_at(seg, i, seg->me),
			    xld(xref_at(seg, i, seg->me)) + 1);
		baton__xset(seg, &s->refs, xld(&s->refs) + 1);
		baton__xcommit(seg);
	}
	baton__xunlock(seg);
	return r;
}

int
baton_shm_future_unref_many(baton_shm *seg, const baton_shm_future *fs,
			    size_t n)
{
	uint32_t i;
	int r = baton__xcheck(seg), first = 0;

	if (r != 0)
		return r;
	if (fs == NULL && n > 0)
		return -EINVAL;
	baton__xlock(seg);
	for (size_t k = 0; k < n; k++) {
		baton__xhold_turn(seg, k);
		r = baton__xslot_get(seg, fs[k].id, &i, true);
		if (r != 0) {
			if (first == 0)
				first = r;
			continue;
		}
		baton__xslot_release(seg, i, seg->me, 1);
		baton__xcommit(seg);
	}
	baton__xunlock(seg);
	return first;
}

int
baton_shm_future_unref(baton_shm *seg, baton_shm_future f)
{
	return baton_shm_future_unref_many(seg, &f, 1);
}

/* The producer of a pending slot is gone: complete it as DIED. */
static void
producer_gone(baton_shm *seg, uint32_t i, uint32_t gen)
{
	struct xslot *s = xslot_at(seg, i);
	uint32_t row;

	baton__xlock(seg);
	row = xld(&s->producer);
	if (xld(&s->gen) == gen && xld(&s->state) == S_PENDING) {
		if (row < seg->l.max_procs &&
		    xld(&xproc_at(seg, row)->state) != P_FREE) {
			baton__xclean(seg, row);
		} else {
			/* Its row is gone or garbage: nobody will complete
			 * it, and there is nobody to name. */
			baton__xset(seg, &s->kind, BATON_EXIT_NOPROC);
			baton__xset(seg, &s->code, ESRCH);
			baton__xset(seg, &s->pid, 0);
			baton__xset(seg, &s->signo, 0);
			baton__xset(seg, &s->status, UINT32_MAX);
			baton__xset(seg, &s->state, S_DIED);
			baton__xcommit(seg);
			baton__xfutex_wake(&s->state, INT_MAX);
		}
	}
	baton__xunlock(seg);
}

static int
wait_slot(baton_shm *seg, uint32_t i, uint32_t gen, int timeout_ms)
{
	struct xslot *s = xslot_at(seg, i);
	struct baton__deadline d;
	uint32_t st;
	long left;

	if (baton__timeout_check(timeout_ms) != 0)
		return -EINVAL;
	/* acquire: pairs with the completing release store. */
	if (xld_acq(&s->state) != S_PENDING)
		goto done; /* done already: no clock read */
	baton__deadline_init(&d, timeout_ms);
	if (timeout_ms != 0 &&
	    baton__xspin(seg, &seg->slot_spin, &s->state, S_PENDING,
			 UINT32_MAX, &d))
		goto done;
	for (;;) {
		st = xld_acq(&s->state);
		if (st != S_PENDING)
			break;
		if (xld(&s->gen) != gen)
			return -ESTALE;
		if (!baton__xalive(seg, xld(&s->producer))) {
			producer_gone(seg, i, gen);
			continue;
		}
		left = baton__deadline_left_ns(&d,
					       BATON_SHM_CHECK_MS * 1000000L);
		if (left == 0)
			return -ETIMEDOUT;
		baton__xcount_sleep(&s->waiters, &s->state, S_PENDING, left);
	}
done:
	if (xld(&s->gen) != gen)
		return -ESTALE;
	return 0;
}

int
baton_shm_future_wait(baton_shm *seg, baton_shm_future f, int timeout_ms)
{
	uint32_t i;
	int r = baton__xcheck(seg);

	if (r == 0)
		r = baton__xslot_get(seg, f.id, &i, true);
	if (r == 0)
		r = wait_slot(seg, i, (uint32_t)(f.id >> 32), timeout_ms);
	return r;
}

bool
baton_shm_future_is_done(baton_shm *seg, baton_shm_future f)
{
	uint32_t i;

	if (baton__xcheck(seg) != 0 ||
	    baton__xslot_get(seg, f.id, &i, false) != 0)
		return false;
	/* acquire: as for a wait that returns 0. */
	return xld_acq(&xslot_at(seg, i)->state) != S_PENDING;
}

/* A failure's reason from its parts (text: static, or NULL for ""). */
static void
shm_why(struct baton_shm_reason *why, int kind, int code, const char *text)
{
	why->kind = kind;
	why->code = code;
	why->pid = why->signo = 0;
	why->status = -1;
	baton__text_cut(why->text, sizeof(why->text), text, SIZE_MAX);
}

/*
 * Waits, then interprets the completed slot: 0 with the value's place and
 * length, or the failure.  Every field is checked before use.
 */
static int
outcome(baton_shm *seg, baton_shm_future f, int timeout_ms,
	const unsigned char **src, size_t *len,
	struct baton_shm_reason *reason, uint32_t *idx)
{
	/* Filled on failure only: a value's wait writes no text. */
	struct baton_shm_reason why;
	struct xslot *s;
	uint32_t i, n, b;
	int r = baton__xcheck(seg);

	if (r == 0)
		r = baton__xslot_get(seg, f.id, &i, true);
	if (r == 0)
		r = wait_slot(seg, i, (uint32_t)(f.id >> 32), timeout_ms);
	if (r != 0)
		return r;
	s = xslot_at(seg, i);
	*idx = i;
	switch (xld_acq(&s->state)) {
	case S_READY:
		/* acquire: a take's CAS orders nothing we read, but a
		 * taken value must read as taken once seen. */
		if (xld_acq(&s->taken) != 0)
			return -EALREADY;
		n = xld(&s->len);
		if (n > value_max(seg))
			return -EPROTO;
		*src = s->inline_;
		if (n > BATON_SHM_INLINE) {
			b = xld(&s->block);
			if (b == 0 || b - 1 >= seg->l.arena_blocks)
				return -EPROTO;
			*src = xblock_at(seg, b - 1);
		}
		*len = n;
		return 0;
	case S_FAILED:
		/* Another process wrote len: never trust it past the slot. */
		n = xld(&s->len);
		if (n >= BATON_SHM_TEXT_MAX)
			return -EPROTO;
		shm_why(&why, (int)xld(&s->kind), (int)xld(&s->code), NULL);
		baton__text_cut(why.text, sizeof(why.text),
				(const char *)s->inline_, n);
		break;
	case S_CANCELLED:
		shm_why(&why, BATON_EXIT_SHUTDOWN, ECANCELED, "cancelled");
		break;
	case S_BROKEN:
		return -EPIPE;
	case S_DIED:
		shm_why(&why, BATON_EXIT_NOPROC, ESRCH,
			"producer process died");
		why.pid = (int)xld(&s->pid);
		why.signo = (int)xld(&s->signo);
		why.status = (int)xld(&s->status);
		break;
	default:
		return -EPROTO;
	}
	if (reason != NULL)
		*reason = why;
	return BATON_EXITED;
}

static int
copy_out(baton_shm *seg, baton_shm_future f, int timeout_ms, void *buf,
	 size_t cap, size_t *len, struct baton_shm_reason *reason, bool take)
{
	const unsigned char *src;
	uint32_t i, zero = 0;
	size_t n;
	int r;

	if (len == NULL || (buf == NULL && cap > 0))
		return -EINVAL;
	r = outcome(seg, f, timeout_ms, &src, &n, reason, &i);
	if (r != 0)
		return r;
	*len = n;
	if (n > cap)
		return -EMSGSIZE;
	if (n > 0)
		memcpy(buf, src, n);
	/* acq_rel: exactly one taker wins; it read the bytes before. */
	if (take && !atomic_compare_exchange_strong_explicit(
			&xslot_at(seg, i)->taken, &zero, 1,
			memory_order_acq_rel, memory_order_acquire))
		return -EALREADY;
	return 0;
}

int
baton_shm_future_copy(baton_shm *seg, baton_shm_future f, int timeout_ms,
		      void *buf, size_t cap, size_t *len,
		      struct baton_shm_reason *reason)
{
	return copy_out(seg, f, timeout_ms, buf, cap, len, reason, false);
}

int
baton_shm_future_take(baton_shm *seg, baton_shm_future f, int timeout_ms,
		      void *buf, size_t cap, size_t *len,
		      struct baton_shm_reason *reason)
{
	return copy_out(seg, f, timeout_ms, buf, cap, len, reason, true);
}

int
baton_shm_future_borrow(baton_shm *seg, baton_shm_future f, int timeout_ms,
			const void **value, size_t *len,
			struct baton_shm_reason *reason)
{
	const unsigned char *src;
	uint32_t i;
	size_t n;
	int r;

	if (value == NULL || len == NULL)
		return -EINVAL;
	r = outcome(seg, f, timeout_ms, &src, &n, reason, &i);
	if (r == 0) {
		*value = src;
		*len = n;
	}
	return r;
}

int
baton_shm_future_cancel(baton_shm *seg, baton_shm_future f)
{
	struct xslot *s;
	uint32_t i;
	int r = baton__xcheck(seg);

	if (r != 0)
		return r;
	baton__xlock(seg);
	r = baton__xslot_get(seg, f.id, &i, true);
	s = xslot_at(seg, r == 0 ? i : 0);
	if (r == 0 && xld(&s->state) != S_PENDING)
		r = -EALREADY;
	if (r == 0) {
		baton__xset(seg, &s->state, S_CANCELLED);
		baton__xcommit(seg);
	}
	baton__xunlock(seg);
	if (r == 0)
		baton__xfutex_wake(&s->state, INT_MAX);
	return r;
}

/* ---- bodies on this process's pool --------------------------------------- */

struct run {
	baton_shm *seg;
	baton_shm_promise p;
	baton_shm_fn fn;
	void *arg;
};

static void *
runner(void *arg)
{
	struct run *run = arg;
	baton_shm *seg = run->seg;
	size_t cap = value_max(seg);
	void *buf = baton__malloc(cap);
	long n = buf != NULL ? run->fn(run->arg, buf, cap) : -ENOMEM;
	/* The body's baton_exit/baton_exitf, recorded on our own cell. */
	struct baton__cell *self = baton__cell_running();
	int r = 0;

	if (self != NULL && baton__cell_body_exited(self)) {
		const struct baton__reason *why = &self->body_reason;
		char text[BATON_SHM_TEXT_MAX];

		baton__text_cut(text, sizeof(text), why->message, SIZE_MAX);
		/* NORMAL has no failure to carry: it is an error here. */
		r = fail_with_text(seg, run->p,
				   why->kind != BATON_EXIT_NORMAL
				       ? why->kind
				       : BATON_EXIT_ERROR,
				   why->code, text);
		if (r != 0 && r != -EALREADY)
			baton_shm_promise_fail(seg, run->p, BATON_EXIT_ERROR,
					       -r);
	} else if (n >= 0 && (size_t)n <= cap)
		r = baton_shm_promise_fulfil(seg, run->p, buf, (size_t)n);
	else
		r = n < 0 ? (int)n : -EMSGSIZE;
	if (r != 0 && r != -EALREADY)
		baton_shm_promise_fail(seg, run->p, BATON_EXIT_ERROR, -r);
	baton_shm_promise_destroy(seg, run->p);
	free(buf);
	free(run);
	/* release: our last touch of seg before detach may free it. */
	atomic_fetch_sub_explicit(&seg->bodies, 1, memory_order_release);
	return NULL;
}

int
baton_shm_future_start(baton_shm *seg, baton_shm_fn fn, void *arg,
		       const struct baton_task_opts *opts,
		       baton_shm_future *out)
{
	struct baton_task_opts o = { 0 };
	baton_future *bf;
	struct run *run;
	int r = baton__xcheck(seg);

	if (out != NULL)
		out->id = 0;
	if (r != 0)
		return r;
	if (fn == NULL || out == NULL)
		return -EINVAL;
	if (opts != NULL)
		o = *opts;
	if (o.pool == NULL) {
		/* Not baton's default pool: one made before a fork has no
		 * workers in the child.  The handle's pool is made in the
		 * process (and fork generation) that uses it. */
		pthread_mutex_lock(&seg->mu);
		if (seg->pool == NULL)
			r = baton_pool_create(&seg->pool, 0);
		o.pool = seg->pool;
		pthread_mutex_unlock(&seg->mu);
		if (r != 0)
			return r;
	}
	run = baton__malloc(sizeof(*run));
	if (run == NULL)
		return -ENOMEM;
	run->seg = seg;
	run->fn = fn;
	run->arg = arg;
	r = baton_shm_promise_create(seg, &run->p, out);
	if (r != 0) {
		free(run);
		return r;
	}
	/* relaxed: detach reads it with acquire after the body's release. */
	atomic_fetch_add_explicit(&seg->bodies, 1, memory_order_relaxed);
	r = baton_future_start(&bf, runner, run, &o);
	if (r != 0) {
		atomic_fetch_sub_explicit(&seg->bodies, 1,
					  memory_order_relaxed);
		baton_shm_promise_destroy(seg, run->p);
		baton_shm_future_unref(seg, *out);
		out->id = 0;
		free(run);
		return r;
	}
	baton_future_unref(bf); /* the body runs on; its value is NULL */
	return 0;
}

#endif /* __linux__ */
