/*
 * channel.c - the value channel between the program and one worker: a
 * sealed memfd, process-shared futex waits, and the fork server's
 * message framing (SOCK_SEQPACKET with SCM_RIGHTS).
 *
 * Design notes
 * ============
 * One channel per worker slot, created by the program and handed to the
 * fork server with each SPAWN; the worker inherits it across the fork and
 * maps it at the same size.  The memfd is sealed against shrinking and
 * growing (a peer cannot truncate it under the other: no SIGBUS) and is
 * prefaulted at creation (shortage is -ENOMEM then, not SIGBUS later).
 * Lengths read from it are checked against the program's own constant
 * before any copy (see isolated.c).  Futex ops are the shared kind:
 * private ones never match across processes.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "channel.h"

bool baton__iso_in_worker;

int
baton__iso_channel_create(int *fd, struct baton__iso_channel **ch)
{
	size_t size = sizeof(struct baton__iso_channel);
	void *p;
	int f;

	*fd = -1;
	*ch = NULL;
	f = memfd_create("baton-isolated", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (f < 0)
		return -errno;
	if (ftruncate(f, (off_t)size) != 0 ||
	    fcntl(f, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) !=
		0) {
		int e = errno;

		close(f);
		return -e;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_POPULATE, f, 0);
	if (p == MAP_FAILED) {
		close(f);
		return -ENOMEM;
	}
	*ch = p;
	baton__iso_channel_reset(*ch);
	*fd = f;
	return 0;
}

struct baton__iso_channel *
baton__iso_channel_map(int fd)
{
	void *p = mmap(NULL, sizeof(struct baton__iso_channel),
		       PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

void
baton__iso_channel_reset(struct baton__iso_channel *ch)
{
	ch->magic = BATON__ISO_MAGIC;
	ch->cap = BATON_ISOLATED_MAX_BYTES;
	/* relaxed: no worker is alive; the SPAWN message orders these. */
	atomic_store_explicit(&ch->state, BATON__CH_IDLE, memory_order_relaxed);
	atomic_store_explicit(&ch->worker_sleeping, 0, memory_order_relaxed);
	atomic_store_explicit(&ch->owner_sleeping, 0, memory_order_relaxed);
	atomic_store_explicit(&ch->notify, 0, memory_order_relaxed);
	atomic_store_explicit(&ch->stop, 0, memory_order_relaxed);
	ch->arg_len = ch->val_len = 0;
	ch->ret = 0;
	ch->exit_set = 0;
}

void
baton__iso_channel_unmap(struct baton__iso_channel *ch)
{
	if (ch != NULL)
		munmap(ch, sizeof(*ch));
}

void
baton__shared_futex_wait(_Atomic uint32_t *word, uint32_t expected,
			 const struct timespec *deadline)
{
	/* WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline. */
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_BITSET, expected,
		deadline, NULL, FUTEX_BITSET_MATCH_ANY);
}

void
baton__shared_futex_wake(_Atomic uint32_t *word)
{
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, INT32_MAX, NULL,
		NULL, 0);
}

static long
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000000000L + ts.tv_nsec;
}

bool
baton__iso_spin_while(_Atomic uint32_t *word, uint32_t expected, long ns)
{
	long until = mono_ns() + ns;

	for (;;) {
		for (int i = 0; i < 64; i++) {
			/* acquire: what the other side wrote before its
			 * state store is visible once we see the change. */
			if (atomic_load_explicit(word, memory_order_acquire) !=
			    expected)
				return true;
			__builtin_ia32_pause();
		}
		if (mono_ns() >= until)
			return false;
	}
}

int
baton__iso_send(int sock, const struct baton__iso_msg *msg, int fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} c;
	struct iovec iov = { (void *)msg, sizeof(*msg) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		memset(&c, 0, sizeof(c));
		mh.msg_control = c.buf;
		mh.msg_controllen = sizeof(c.buf);
		c.h.cmsg_level = SOL_SOCKET;
		c.h.cmsg_type = SCM_RIGHTS;
		c.h.cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(&c.h), &fd, sizeof(int));
	}
	while (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

int
baton__iso_recv(int sock, struct baton__iso_msg *msg, int *fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} c;
	struct iovec iov = { msg, sizeof(*msg) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = c.buf,
			     .msg_controllen = sizeof(c.buf) };
	ssize_t n;

	*fd = -1;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return 0;
	for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h != NULL;
	     h = CMSG_NXTHDR(&mh, h)) {
		if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS)
			memcpy(fd, CMSG_DATA(h), sizeof(int));
	}
	if ((size_t)n != sizeof(*msg)) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return -EPROTO;
	}
	return 1;
}
