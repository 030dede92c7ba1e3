/*
 * shm.c - the segment: layout, create/attach/adopt/detach, fd passing and
 * introspection.  The lock, the undo log, liveness and cleanup are in
 * lock.c.
 *
 * Design notes
 * ============
 * Layout.  Six shape parameters in the header determine every offset
 * (baton__xlayout).  An attaching process recomputes the layout from them
 * with its own code, checks that it matches the recorded total and the
 * memfd's size, and from then on uses only its private copy: a peer that
 * rewrites the header later changes nothing about where this process
 * reads and writes.
 *
 * Process rows: FREE -> ALIVE (attach/adopt, under the lock) -> DYING
 * (a cleaner saw it dead; lock.c) -> FREE.  fork: a pthread_atfork child
 * handler bumps a fork generation; a handle works only in the generation
 * it was attached or adopted in (else -ECHILD).
 *
 * Who frees what: the handle (baton_shm) is private and freed by detach;
 * the segment's memory goes with the last fd and mapping (memfd).
 */
#include "xproc.h"

#if defined(__linux__)

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <baton/pool.h>

#include "alloc.h"

#ifndef MFD_ALLOW_SEALING
#define MFD_ALLOW_SEALING 2U
#endif

#define X_MAX_TOTAL ((size_t)UINT32_MAX)

static atomic_uint fork_gen;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void
on_fork_child(void)
{
	/* relaxed: the child is single-threaded here. */
	atomic_fetch_add_explicit(&fork_gen, 1, memory_order_relaxed);
}

static void
register_atfork(void)
{
	pthread_atfork(NULL, NULL, on_fork_child);
}

static unsigned
current_fork_gen(void)
{
	/* relaxed: only ever changed in a fresh child before it returns. */
	return atomic_load_explicit(&fork_gen, memory_order_relaxed);
}
/* ---- layout ------------------------------------------------------------ */

static size_t
align64(size_t v)
{
	return (v + 63) & ~(size_t)63;
}

uint32_t
baton__xabi(void)
{
	return (uint32_t)(sizeof(struct xhdr) ^ (sizeof(struct xproc) << 8) ^
			  (sizeof(struct xslot) << 14) ^
			  (sizeof(struct xqueue) << 20) ^
			  ((size_t)BATON_SHM_INLINE << 24) ^
			  (sizeof(void *) << 28));
}

bool
baton__xlayout(struct xlayout *l, uint32_t mp, uint32_t mf, uint32_t mq,
	       uint32_t qc, uint32_t ab, uint32_t bs)
{
	size_t o;

	if (mp < 1 || mp > BATON_SHM_MAX_PROCS || mf < 1 || mf > (1u << 20) ||
	    mq > 1024 || qc < 1 || qc > (1u << 16) || ab > (1u << 20) ||
	    bs < 64 || bs > (1u << 20) || bs % 64 != 0)
		return false;
	l->max_procs = mp;
	l->max_futures = mf;
	l->max_queues = mq;
	l->queue_capacity = qc;
	l->arena_blocks = ab;
	l->block_size = bs;
	l->mut_begin = offsetof(struct xhdr, slot_free);
	o = align64(sizeof(struct xhdr));
	l->procs = o;
	o = align64(o + (size_t)mp * sizeof(struct xproc));
	l->slots = o;
	o = align64(o + (size_t)mf * sizeof(struct xslot));
	l->refs = o;
	o = align64(o + (size_t)mf * mp * sizeof(xu32));
	l->queues = o;
	o = align64(o + (size_t)mq * sizeof(struct xqueue));
	l->roles = o;
	o = align64(o + (size_t)mq * mp * sizeof(xu32));
	l->ring = o;
	o = align64(o + (size_t)mq * qc * 2 * sizeof(xu32));
	l->bnext = o;
	o = align64(o + (size_t)ab * sizeof(xu32));
	l->arena = o;
	l->meta_end = o;
	o += (size_t)ab * bs;
	o = (o + 4095) & ~(size_t)4095;
	if (o > X_MAX_TOTAL)
		return false;
	l->total = o;
	return true;
}

/* ---- handle checks ------------------------------------------------------- */

int
baton__xcheck(const baton_shm *seg)
{
	if (seg == NULL)
		return -EINVAL;
	if (seg->fork_gen != current_fork_gen())
		return -ECHILD;
	if (seg->me >= seg->l.max_procs)
		return -ECHILD;
	return 0;
}

int
baton_shm_fd(const baton_shm *seg)
{
	int r = baton__xcheck(seg);

	return r != 0 ? r : seg->fd;
}

/* ---- create, attach, adopt, detach ----------------------------------------- */

static baton_shm *
handle_new(const struct xlayout *l)
{
	baton_shm *seg = baton__calloc(1, sizeof(*seg));

	if (seg == NULL)
		return NULL;
	seg->l = *l;
	seg->fd = -1;
	seg->me = UINT32_MAX;
	seg->spin_ns = BATON_SHM_SPIN_NS;
	seg->pidfd = baton__calloc(l->max_procs, sizeof(int));
	seg->pidfd_inc = baton__calloc(l->max_procs, sizeof(uint32_t));
	if (seg->pidfd == NULL || seg->pidfd_inc == NULL) {
		free(seg->pidfd);
		free(seg->pidfd_inc);
		free(seg);
		return NULL;
	}
	for (uint32_t i = 0; i < l->max_procs; i++)
		seg->pidfd[i] = -1;
	pthread_mutex_init(&seg->mu, NULL);
	pthread_once(&atfork_once, register_atfork);
	seg->fork_gen = current_fork_gen();
	return seg;
}

static void
handle_free(baton_shm *seg)
{
	for (uint32_t i = 0; i < seg->l.max_procs; i++)
		if (seg->pidfd[i] >= 0)
			close(seg->pidfd[i]);
	if (seg->base != NULL)
		munmap(seg->base, seg->size);
	if (seg->fd >= 0)
		close(seg->fd);
	/* Only a pool made in this process has workers to join. */
	if (seg->pool != NULL && seg->fork_gen == current_fork_gen())
		baton_pool_destroy(seg->pool);
	pthread_mutex_destroy(&seg->mu);
	free(seg->name);
	free(seg->pidfd);
	free(seg->pidfd_inc);
	free(seg);
}

/* Gives this process a row: under the lock, after reaping dead rows. */
static int
take_row(baton_shm *seg)
{
	pid_t pid = getpid();
	uint64_t start = baton__xstart_time(pid);
	uint32_t row = UINT32_MAX;

	seg->me = UINT32_MAX;
	seg->lock_id = 0; /* the lock names our pid until we have a row */
	baton__xlock(seg);
	for (uint32_t i = 0; i < seg->l.max_procs; i++) {
		struct xproc *p = xproc_at(seg, i);
		uint32_t st = xld(&p->state);

		if (st != P_FREE && !baton__xalive(seg, i))
			baton__xclean(seg, i);
		if (row == UINT32_MAX && xld(&p->state) == P_FREE)
			row = i;
	}
	if (row != UINT32_MAX) {
		struct xproc *p = xproc_at(seg, row);

		baton__xset(seg, &p->pid, (uint32_t)pid);
		baton__xset(seg, &p->start_lo, (uint32_t)start);
		baton__xset(seg, &p->start_hi, (uint32_t)(start >> 32));
		baton__xset(seg, &p->exit_signo, 0);
		baton__xset(seg, &p->exit_status, 0);
		baton__xset(seg, &p->state, P_ALIVE);
		baton__xcommit(seg);
	}
	baton__xunlock(seg);
	if (row == UINT32_MAX)
		return -EUSERS;
	seg->me = row;
	/* Stable while we hold the row: only its retirement bumps it. */
	seg->lock_id = baton__xlock_id(row, xld(&xproc_at(seg, row)->inc));
	return 0;
}

static int
neg_errno(void)
{
	return errno != 0 ? -errno : -EIO;
}

int
baton_shm_create(baton_shm **out, const struct baton_shm_opts *opts)
{
	int fd;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	fd = (int)syscall(SYS_memfd_create, "baton-shm",
			  MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return neg_errno();
	return baton__xinit(out, fd, opts, true);
}

int
baton__xinit(baton_shm **out, int fd, const struct baton_shm_opts *opts,
	     bool seal)
{
	struct baton_shm_opts o = BATON_SHM_OPTS_INIT;
	struct xlayout l;
	struct xhdr *h;
	baton_shm *seg;
	int r;

	if (opts != NULL)
		o = *opts;
	/* One rule for opts: zero means zero (xlayout refuses bad sizes). */
	if (!baton__xlayout(&l, o.max_procs, o.max_futures, o.max_queues,
			    o.queue_capacity, o.arena_blocks, o.block_size)) {
		close(fd);
		return -EINVAL;
	}
	seg = handle_new(&l);
	if (seg == NULL) {
		close(fd);
		return -ENOMEM;
	}
	seg->spin_ns = o.spin_ns < 0 ? 0 : o.spin_ns;
	seg->size = l.total;
	seg->fd = fd;
	if (ftruncate(seg->fd, (off_t)l.total) != 0)
		goto fail;
	/* Allocate every page now: shortage is -ENOMEM here, not SIGBUS. */
	r = posix_fallocate(seg->fd, 0, (off_t)l.total);
	if (r != 0) {
		errno = (r == ENOSPC) ? ENOMEM : r;
		goto fail;
	}
	if (seal && fcntl(seg->fd, F_ADD_SEALS,
			  F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
		goto fail;
	seg->base = mmap(NULL, l.total, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_POPULATE, seg->fd, 0);
	if (seg->base == MAP_FAILED) {
		seg->base = NULL;
		goto fail;
	}
	h = xhdr(seg);
	atomic_store_explicit(&h->version, X_VERSION, memory_order_relaxed);
	atomic_store_explicit(&h->abi, baton__xabi(), memory_order_relaxed);
	atomic_store_explicit(&h->max_procs, l.max_procs, memory_order_relaxed);
	atomic_store_explicit(&h->max_futures, l.max_futures,
			      memory_order_relaxed);
	atomic_store_explicit(&h->max_queues, l.max_queues,
			      memory_order_relaxed);
	atomic_store_explicit(&h->queue_capacity, l.queue_capacity,
			      memory_order_relaxed);
	atomic_store_explicit(&h->arena_blocks, l.arena_blocks,
			      memory_order_relaxed);
	atomic_store_explicit(&h->block_size, l.block_size,
			      memory_order_relaxed);
	atomic_store_explicit(&h->total_lo, (uint32_t)l.total,
			      memory_order_relaxed);
	atomic_store_explicit(&h->total_hi, (uint32_t)((uint64_t)l.total >> 32),
			      memory_order_relaxed);
	for (uint32_t i = 0; i < l.max_futures; i++)
		atomic_store_explicit(&xslot_at(seg, i)->next,
				      i + 1 < l.max_futures ? i + 2 : 0,
				      memory_order_relaxed);
	atomic_store_explicit(&h->slot_free, 1, memory_order_relaxed);
	for (uint32_t b = 0; b < l.arena_blocks; b++)
		atomic_store_explicit(xbnext_at(seg, b),
				      b + 1 < l.arena_blocks ? b + 2 : 0,
				      memory_order_relaxed);
	atomic_store_explicit(&h->block_free, l.arena_blocks ? 1 : 0,
			      memory_order_relaxed);
	atomic_store_explicit(&h->magic1, X_MAGIC1, memory_order_relaxed);
	/* release: nobody can attach yet; kept for the pattern's sake. */
	atomic_store_explicit(&h->magic0, X_MAGIC0, memory_order_release);
	r = take_row(seg);
	if (r != 0) {
		handle_free(seg);
		return r;
	}
	*out = seg;
	return 0;
fail:
	r = neg_errno();
	handle_free(seg);
	return r == -ENOSPC ? -ENOMEM : r;
}

int
baton_shm_attach(baton_shm **out, int fd)
{
	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	return baton__xattach(out, fd, true);
}

int
baton__xattach(baton_shm **out, int fd, bool sealed)
{
	struct xlayout l;
	struct stat sb;
	struct xhdr *h;
	unsigned char *base;
	baton_shm *seg;
	size_t size;
	int seals, r = 0;

	if (fstat(fd, &sb) != 0)
		return -EBADF;
	seals = fcntl(fd, F_GET_SEALS);
	if (sealed && (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) !=
		       (F_SEAL_SHRINK | F_SEAL_GROW)))
		return -EPROTO; /* a peer could truncate it under us */
	if (!sealed && sb.st_size == 0)
		return -EAGAIN; /* a named segment being created */
	if (sb.st_size < (off_t)sizeof(struct xhdr) ||
	    (uint64_t)sb.st_size > X_MAX_TOTAL)
		return -EBADMSG;
	size = (size_t)sb.st_size;
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		return neg_errno();
	h = (struct xhdr *)(void *)base;
	/* acquire: pairs with the creator's release of the magic. */
	if (!sealed && atomic_load_explicit(&h->magic0,
					    memory_order_acquire) == 0)
		r = -EAGAIN; /* created, not yet initialised */
	else if (atomic_load_explicit(&h->magic0, memory_order_acquire) !=
	    X_MAGIC0 || xld(&h->magic1) != X_MAGIC1)
		r = -EBADMSG;
	else if (xld(&h->version) != X_VERSION || xld(&h->abi) != baton__xabi())
		r = -EPROTO;
	else if (!baton__xlayout(&l, xld(&h->max_procs),
				 xld(&h->max_futures), xld(&h->max_queues),
				 xld(&h->queue_capacity),
				 xld(&h->arena_blocks), xld(&h->block_size)) ||
		 l.total != size ||
		 xld(&h->total_lo) != (uint32_t)l.total ||
		 xld(&h->total_hi) != (uint32_t)((uint64_t)l.total >> 32))
		r = -EPROTO;
	if (r != 0) {
		munmap(base, size);
		return r;
	}
	seg = handle_new(&l);
	if (seg == NULL) {
		munmap(base, size);
		return -ENOMEM;
	}
	seg->base = base;
	seg->size = size;
	seg->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (seg->fd < 0) {
		r = neg_errno();
		handle_free(seg);
		return r;
	}
	r = take_row(seg);
	if (r != 0) {
		handle_free(seg);
		return r;
	}
	*out = seg;
	return 0;
}

int
baton_shm_adopt(baton_shm *seg)
{
	if (seg == NULL)
		return -EINVAL;
	if (seg->fork_gen == current_fork_gen())
		return -EALREADY;
	/* A parent's thread may have held it at fork: start afresh. */
	pthread_mutex_init(&seg->mu, NULL);
	atomic_store_explicit(&seg->bodies, 0, memory_order_relaxed);
	seg->pool = NULL; /* the parent's: no workers here; left alone */
	seg->fork_gen = current_fork_gen();
	if (seg->name != NULL) {
		int r = baton__xnamed_adopt(seg);

		if (r != 0)
			return r;
	}
	return take_row(seg);
}

#ifdef BATON_FAULT_INJECTION
void (*baton__xtest_detach_held)(baton_shm *seg);
#endif

int
baton_shm_detach(baton_shm *seg)
{
	if (seg == NULL)
		return 0;
	if (seg->fork_gen == current_fork_gen() &&
	    seg->me < seg->l.max_procs) {
		/* acquire: a body's last segment access before our retire. */
		if (atomic_load_explicit(&seg->bodies, memory_order_acquire))
			return -EBUSY;
		/* By pid: the section frees our row before we unlock, and a
		 * row identity would then read as dead (lock.c). */
		seg->lock_id = 0;
		baton__xlock(seg);
		baton__xretire(seg, seg->me, false);
#ifdef BATON_FAULT_INJECTION
		if (baton__xtest_detach_held != NULL)
			baton__xtest_detach_held(seg);
#endif
		baton__xunlock(seg);
		if (seg->name != NULL)
			baton__xnamed_release(seg);
	}
	handle_free(seg);
	return 0;
}

/* ---- fd passing --------------------------------------------------------------- */

int
baton_shm_send_fd(const baton_shm *seg, int sock)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	char byte = 'B';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = { 0 };
	struct cmsghdr *c;
	int r = baton__xcheck(seg);

	if (r != 0)
		return r;
	memset(&u, 0, sizeof(u));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = u.buf;
	msg.msg_controllen = sizeof(u.buf);
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &seg->fd, sizeof(int));
	while (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0)
		if (errno != EINTR)
			return neg_errno();
	return 0;
}

int
baton_shm_attach_socket(baton_shm **out, int sock)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = { 0 };
	struct cmsghdr *c;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	ssize_t n;
	int fd = -1, r;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return neg_errno();
	if (cred.uid != geteuid())
		return -EPERM;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = u.buf;
	msg.msg_controllen = sizeof(u.buf);
	while ((n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0)
		if (errno != EINTR)
			return neg_errno();
	for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&fd, CMSG_DATA(c), sizeof(int));
	if (n == 0 || fd < 0)
		return -EPROTO;
	r = baton_shm_attach(out, fd);
	close(fd);
	return r;
}

/* ---- introspection ------------------------------------------------------------ */

int
baton_shm_stats(baton_shm *seg, struct baton_shm_stats *st)
{
	struct xhdr *h;
	uint32_t blocks = 0, slots = 0;
	int r = baton__xcheck(seg);

	if (r != 0)
		return r;
	if (st == NULL)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	h = xhdr(seg);
	baton__xlock(seg);
	for (uint32_t row = 0; row < seg->l.max_procs; row++) {
		uint32_t ps = xld(&xproc_at(seg, row)->state);

		if (ps == P_DYING || (ps == P_ALIVE && !baton__xalive(seg, row)))
			st->procs_dead++;
		else if (ps == P_ALIVE)
			st->procs_alive++;
	}
	for (uint32_t i = 0; i < seg->l.max_futures; i++) {
		struct xslot *s = xslot_at(seg, i);

		switch (xld(&s->state)) {
		case S_FREE: st->futures_free++; continue;
		case S_PENDING: st->futures_pending++; break;
		case S_READY: st->futures_ready++; break;
		case S_BROKEN: st->futures_broken++; break;
		case S_DIED: st->futures_died++; break;
		default: st->futures_failed++; break;
		}
		slots++;
		if (xld(&s->block) != 0)
			blocks++;
	}
	for (uint32_t q = 0; q < seg->l.max_queues; q++) {
		struct xqueue *x = xq_at(seg, q);
		uint32_t cnt = xld(&x->count);

		if (xld(&x->state) == Q_FREE)
			continue;
		st->queues++;
		st->queued_items += cnt <= seg->l.queue_capacity ? cnt : 0;
	}
	st->cleanups = xld(&h->cleanups);
	st->lock_takeovers = xld(&h->takeovers);
	baton__xunlock(seg);
	st->bytes_in_use = (size_t)slots * sizeof(struct xslot) +
	    (size_t)blocks * seg->l.block_size;
	st->bytes_total = seg->size;
	return 0;
}

#endif /* __linux__ */
