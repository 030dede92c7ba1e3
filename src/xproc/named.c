/*
 * named.c - named segments: a POSIX shared-memory object (/dev/shm/NAME)
 * instead of an anonymous memfd, for processes that find each other by
 * name rather than by inheritance or fd passing.
 *
 * Design notes
 * ============
 * Create is O_CREAT|O_EXCL with mode 0600; open checks that the object is
 * a regular file owned by this uid with mode 0600 and a size the header
 * agrees with (the usual attach checks).  Every process that has the
 * segment open holds a shared flock on its open file description; the
 * kernel drops it when the last holder closes or dies, however it dies.
 *
 * Exactly one cleaner: a stale name (its creator and every user died, so
 * nothing unlinked it) is reclaimed by whoever gets an exclusive flock on
 * it without waiting, and only after checking that the name still names
 * the inode it locked (another cleaner may have replaced it meanwhile).
 * The last user to detach does the same: an exclusive flock it can get at
 * once means nobody else holds the segment, and it unlinks the name.  The
 * check and the unlink are two calls: a create by someone else between
 * them could lose its new name; the window is a few instructions and
 * needs two processes racing to reclaim the same dead name.
 *
 * Named objects cannot be sealed (the seals are memfd's): a same-uid peer
 * could truncate the file and make other users fault (SIGBUS): a denial
 * of service the trust model allows, not a corruption.  Anonymous segments
 * have no such hole; prefer them when processes are related.
 *
 * Who frees what: the handle owns a copy of the name (freed with it).
 */
#include "xproc.h"

#if defined(__linux__)

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"

static int
name_check(const char *name)
{
	size_t n;

	if (name == NULL || name[0] != '/')
		return -EINVAL;
	n = strlen(name);
	if (n < 2 || n > 200 || strchr(name + 1, '/') != NULL)
		return -EINVAL;
	return 0;
}

/* Every named call's first checks; sets *out to NULL. */
static int
prologue(baton_shm **out, const char *name)
{
	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	return name_check(name);
}

/* Whether fd is still what the name names. */
static bool
same_inode(const char *name, int fd)
{
	struct stat a, b;
	char path[256];

	snprintf(path, sizeof(path), "/dev/shm%s", name);
	return fstat(fd, &a) == 0 && stat(path, &b) == 0 &&
	    a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

/* A regular file of ours with mode 0600, or -EPERM. */
static int
owner_check(int fd)
{
	struct stat sb;

	if (fstat(fd, &sb) != 0)
		return -EBADF;
	if (!S_ISREG(sb.st_mode) || sb.st_uid != geteuid() ||
	    (sb.st_mode & 07777) != 0600)
		return -EPERM;
	return 0;
}

/* Unlinks a stale name nobody holds; 0 if it did, -EEXIST if in use. */
static int
reclaim(const char *name)
{
	struct stat sb;
	int fd = shm_open(name, O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0), r;

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	r = owner_check(fd);
	/* Size 0: its creator has not taken its lock yet (it does so
	 * before sizing it); not stale. */
	if (r == 0 && (fstat(fd, &sb) != 0 || sb.st_size == 0))
		r = -EEXIST;
	if (r == 0 && flock(fd, LOCK_EX | LOCK_NB) != 0)
		r = -EEXIST; /* someone alive holds it */
	if (r == 0 && same_inode(name, fd))
		shm_unlink(name);
	close(fd);
	return r;
}

static int
remember(baton_shm *seg, const char *name)
{
	size_t n = strlen(name) + 1;

	seg->name = baton__malloc(n);
	if (seg->name == NULL)
		return -ENOMEM;
	memcpy(seg->name, name, n);
	return 0;
}

int
baton_shm_create_named(baton_shm **out, const char *name,
		       const struct baton_shm_opts *opts)
{
	int fd, r = prologue(out, name);

	if (r != 0)
		return r;
	for (int tries = 0;; tries++) {
		fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0)
			break;
		if (errno != EEXIST || tries > 0)
			return -errno;
		r = reclaim(name);
		if (r != 0)
			return r;
	}
	/* Shared from the start: a cleaner cannot take it from us. */
	if (flock(fd, LOCK_SH) != 0 || fchmod(fd, 0600) != 0) {
		r = -errno;
		close(fd);
		shm_unlink(name);
		return r;
	}
	r = baton__xinit(out, fd, opts, false);
	if (r == 0)
		r = remember(*out, name);
	if (r != 0) {
		baton_shm_detach(*out);
		*out = NULL;
		shm_unlink(name);
	}
	return r;
}

int
baton_shm_open_named(baton_shm **out, const char *name)
{
	int fd, r = prologue(out, name);

	if (r != 0)
		return r;
	fd = shm_open(name, O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = owner_check(fd);
	if (r == 0 && flock(fd, LOCK_SH) != 0)
		r = -errno;
	if (r == 0)
		r = baton__xattach(out, fd, false);
	close(fd); /* the handle's dup shares the description and its lock */
	if (r == 0 && (r = remember(*out, name)) != 0) {
		baton_shm_detach(*out);
		*out = NULL;
	}
	return r;
}

int
baton__xnamed_adopt(baton_shm *seg)
{
	/* The inherited descriptor shares the parent's lock: a child needs
	 * one of its own, or the parent's detach would think itself last. */
	int fd = shm_open(seg->name, O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (!same_inode(seg->name, seg->fd) || !same_inode(seg->name, fd) ||
	    flock(fd, LOCK_SH) != 0) {
		close(fd);
		return -ESTALE; /* the name now names another segment */
	}
	close(seg->fd);
	seg->fd = fd;
	return 0;
}

void
baton__xnamed_release(baton_shm *seg)
{
	/* The last user gets it exclusively at once: nobody else holds it. */
	if (flock(seg->fd, LOCK_EX | LOCK_NB) == 0 &&
	    same_inode(seg->name, seg->fd))
		shm_unlink(seg->name);
}

#endif /* __linux__ */
