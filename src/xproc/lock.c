/*
 * lock.c - the segment lock with its undo log, the liveness of process
 * rows, shared futex calls, and the cleanup after a dead process.
 *
 * Design notes
 * ============
 * Process rows: FREE -> ALIVE (attach/adopt, under the lock) -> DYING
 * (a cleaner saw it dead and recorded how it died) -> FREE (cleanup done,
 * incarnation bumped).  A row is identified over time by (pid, start time
 * from /proc/pid/stat, incarnation); liveness uses a pidfd opened for that
 * pid and checked against the start time, so a reused pid reads as dead.
 *
 * The lock.  One futex word: 0, or the owner's identity, with
 * X_LOCK_WAITERS set when someone sleeps.  A waiter sleeps at most
 * BATON_SHM_CHECK_MS at a time and re-checks the owner's liveness; a dead
 * owner's lock is taken over by CAS (one winner), which then rolls back the
 * undo log and cleans up after the owner.
 *
 * The identity names a process incarnation, never a row alone: a row's
 * incarnation and the row (X_OWNER_ROW_BITS low bits hold row + 1), or
 * X_PID_OWNER | pid while a process holds no row (it attaches, or it
 * detaches: its row is freed inside its last section, so a row identity
 * would read as dead while the lock is still held).  A taker decides an
 * owner is dead, then takes over by CAS from the word it judged.  With the
 * row alone in the word, that CAS could succeed against the row's next
 * process: the dead owner cleaned up by a third process, the row reused,
 * its new occupant holding the lock under the same word, all while the
 * taker was preempted between its judgement and its CAS.  The incarnation
 * makes the words differ.  Either way two owners wrote one undo log; the
 * chaos soak (tests/xproc/xproc_chaos.c, under TSan) saw it, mostly by way
 * of detach, as a value taken twice or a ring item dropped as corrupt.
 * tests/models/xproc_lock.pml checks both cases.
 *
 * The undo log.  Inside the lock every store to a mutable word goes through
 * baton__xset: the (offset, old value) pair is written and the entry count
 * published (release) before the word itself is stored (release), so a
 * process that dies anywhere in a section leaves a log that restores every
 * word it changed.  baton__xcommit empties the log: that one store is the
 * section's commit point.  Offsets read back from the log are checked to lie
 * in the mutable region before use.  Value bytes are not logged: they mean
 * nothing until a logged state store publishes them.
 *
 * Who frees what: nothing here allocates; the pidfd cache belongs to the
 * handle (closed by shm.c's handle_free).
 */
#include "xproc.h"

#if defined(__linux__)

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "wait.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/* A row identity: (incarnation & X_OWNER_INC_MASK) << X_OWNER_ROW_BITS |
 * (row + 1); rows are fewer than 2^X_OWNER_ROW_BITS (shm.h: at most 64). */
#define X_OWNER_ROW_BITS 8u
#define X_OWNER_INC_MASK ((X_PID_OWNER - 1u) >> X_OWNER_ROW_BITS)

/* ---- futex ------------------------------------------------------------- */

int
baton__xfutex_wait(xu32 *word, uint32_t expected, long ns)
{
	struct timespec ts = { ns / 1000000000L, ns % 1000000000L };

	/* FUTEX_WAIT, not _PRIVATE: the waker may be another process. */
	return (int)syscall(SYS_futex, word, FUTEX_WAIT, expected,
			    ns < 0 ? NULL : &ts, NULL, 0);
}

int
baton__xfutex_wake(xu32 *word, int n)
{
	/* FUTEX_WAKE, not _PRIVATE: the sleeper may be another process. */
	return (int)syscall(SYS_futex, word, FUTEX_WAKE, n, NULL, NULL, 0);
}

/* ---- liveness ------------------------------------------------------------ */

/* Start time (clock ticks since boot) of pid, 0 if unknown. */
uint64_t
baton__xstart_time(pid_t pid)
{
	char path[64], buf[1024], *p;
	uint64_t v = 0;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the command name may hold spaces */
	if (p == NULL)
		return 0;
	/* Fields after ')' start at 3 (state); starttime is field 22. */
	for (field = 2; field < 22 && *p != '\0'; p++)
		if (*p == ' ')
			field++;
	while (*p >= '0' && *p <= '9')
		v = v * 10 + (uint64_t)(*p++ - '0');
	return v;
}

static int
pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Whether fd (a pidfd) says its process has exited. */
static bool
pidfd_dead(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP)) != 0;
}

/* A process known only by pid (an attacher holding the lock). */
static bool
pid_alive(pid_t pid)
{
	int fd;
	bool dead;

	if (pid <= 0)
		return false;
	fd = pidfd_open_(pid);
	if (fd < 0)
		return errno != ESRCH;
	dead = pidfd_dead(fd);
	close(fd);
	return !dead;
}

bool
baton__xalive(baton_shm *seg, uint32_t row)
{
	struct xproc *p;
	uint32_t pid, inc;
	uint64_t start;
	bool alive;
	int fd;

	if (row >= seg->l.max_procs)
		return false;
	if (row == seg->me)
		return true;
	p = xproc_at(seg, row);
	if (xld_acq(&p->state) != P_ALIVE)
		return false;
	pid = xld(&p->pid);
	inc = xld(&p->inc);
	start = ((uint64_t)xld(&p->start_hi) << 32) | xld(&p->start_lo);
	if (pid == 0 || pid > INT_MAX)
		return false;
	pthread_mutex_lock(&seg->mu);
	fd = seg->pidfd[row];
	if (fd < 0 || seg->pidfd_inc[row] != inc) {
		if (fd >= 0)
			close(fd);
		seg->pidfd[row] = -1;
		fd = pidfd_open_((pid_t)pid);
		if (fd < 0) {
			pthread_mutex_unlock(&seg->mu);
			/* Out of fds or no pidfd_open: do not call it dead. */
			return errno != ESRCH;
		}
		/* The pidfd pins the pid: a matching start time now means
		 * the fd names the process that attached, not a reuse. */
		if (baton__xstart_time((pid_t)pid) != start) {
			close(fd);
			pthread_mutex_unlock(&seg->mu);
			return false;
		}
		seg->pidfd[row] = fd;
		seg->pidfd_inc[row] = inc;
	}
	alive = !pidfd_dead(fd);
	pthread_mutex_unlock(&seg->mu);
	return alive;
}

/* ---- the lock and its undo log ------------------------------------------- */

uint32_t
baton__xlock_id(uint32_t row, uint32_t inc)
{
	return ((inc & X_OWNER_INC_MASK) << X_OWNER_ROW_BITS) | (row + 1);
}

static uint32_t
identity(const baton_shm *seg)
{
	if (seg->lock_id != 0)
		return seg->lock_id;
	return X_PID_OWNER | (uint32_t)getpid();
}

/* The row a row identity names, or UINT32_MAX for garbage. */
static uint32_t
owner_row(const baton_shm *seg, uint32_t owner)
{
	uint32_t r = owner & ((1u << X_OWNER_ROW_BITS) - 1);

	return r == 0 || r > seg->l.max_procs ? UINT32_MAX : r - 1;
}

bool
baton__xowner_alive(baton_shm *seg, uint32_t owner)
{
	uint32_t row;

	if (owner & X_PID_OWNER)
		return pid_alive((pid_t)(owner & ~X_PID_OWNER));
	row = owner_row(seg, owner);
	if (row == UINT32_MAX)
		return false; /* garbage: treat the lock as abandoned */
	/* Another incarnation: the owner's was retired, so it is gone. */
	if (baton__xlock_id(row, xld(&xproc_at(seg, row)->inc)) != owner)
		return false;
	return baton__xalive(seg, row);
}

static void
rollback(baton_shm *seg)
{
	struct xhdr *h = xhdr(seg);
	/* acquire: pairs with the release that published each entry. */
	uint32_t n = atomic_load_explicit(&h->log_count, memory_order_acquire);

	if (n > X_LOG_MAX)
		n = 0; /* corrupt: there is nothing trustworthy to undo */
	while (n-- > 0) {
		uint32_t off = xld(&h->log[n].off);

		if (off % 4 != 0 || off < seg->l.mut_begin ||
		    (size_t)off + 4 > seg->l.meta_end)
			continue;
		/* relaxed: we hold the lock; unlock publishes. */
		atomic_store_explicit((xu32 *)(void *)(seg->base + off),
				      xld(&h->log[n].old),
				      memory_order_relaxed);
	}
	/* release: the restored words before the empty log. */
	atomic_store_explicit(&h->log_count, 0, memory_order_release);
	seg->log_n = 0;
}

static void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

int
baton__xlock(baton_shm *seg)
{
	struct xhdr *h = xhdr(seg);
	uint32_t me = identity(seg), v, owner, take = me;
	struct baton__deadline forever;
	bool spun = false;
	int spins = 0;

	for (;;) {
		v = 0;
		/* acquire: the previous owner's section happens-before ours. */
		if (atomic_compare_exchange_weak_explicit(
			&h->lock, &v, take, memory_order_acquire,
			memory_order_relaxed))
			break;
		owner = v & ~X_LOCK_WAITERS;
		if (owner == 0)
			continue;
		if (++spins < 64) {
			cpu_relax();
			continue;
		}
		/* A section lasts microseconds (a batch call's X_HOLD_MAX
		 * items, tens at most); a futex sleep and wake-up costs more.
		 * So once per take, watch the owner's word for up to spin_ns
		 * (wait.c; no adaptive budget) before sleeping. */
		if (!spun) {
			spun = true;
			baton__deadline_init(&forever, -1);
			if (baton__xspin(seg, NULL, &h->lock, v,
					 ~X_LOCK_WAITERS, &forever))
				continue;
		}
		if (owner != me && !baton__xowner_alive(seg, owner)) {
			/* acquire: as above; one taker wins the CAS. */
			if (atomic_compare_exchange_strong_explicit(
				&h->lock, &v, me | X_LOCK_WAITERS,
				memory_order_acquire, memory_order_relaxed)) {
				rollback(seg);
				baton__xset(seg, &h->takeovers,
					    xld(&h->takeovers) + 1);
				baton__xcommit(seg);
				if (!(owner & X_PID_OWNER))
					baton__xclean(seg,
						      owner_row(seg, owner));
				return 0;
			}
			continue;
		}
		if (!(v & X_LOCK_WAITERS) &&
		    !atomic_compare_exchange_weak_explicit(
			&h->lock, &v, v | X_LOCK_WAITERS,
			memory_order_relaxed, memory_order_relaxed))
			continue;
		/* After sleeping, take it marked: others may still sleep. */
		take = me | X_LOCK_WAITERS;
		baton__xfutex_wait(&h->lock, v | X_LOCK_WAITERS,
				   BATON_SHM_CHECK_MS * 1000000L);
	}
	/* acquire: a log left non-empty means a corrupt or dead writer. */
	if (atomic_load_explicit(&h->log_count, memory_order_acquire) != 0)
		rollback(seg);
	seg->log_n = 0;
	return 0;
}

void
baton__xunlock(baton_shm *seg)
{
	struct xhdr *h = xhdr(seg);
	/* release: our section's stores before the next owner's. */
	uint32_t v = atomic_exchange_explicit(&h->lock, 0,
					      memory_order_release);

	/* Someone took over a lock we held: counted for the tests. */
	if ((v & ~X_LOCK_WAITERS) != identity(seg))
		atomic_fetch_add_explicit(&seg->lock_lost, 1,
					  memory_order_relaxed);
	if (v & X_LOCK_WAITERS)
		baton__xfutex_wake(&h->lock, 1);
}

void
baton__xlog(baton_shm *seg, xu32 *word, uint32_t old)
{
	struct xhdr *h = xhdr(seg);
	size_t off = (size_t)((unsigned char *)word - seg->base);
	uint32_t n = seg->log_n;

	if (n >= X_LOG_MAX)
		abort(); /* a section larger than the log: a bug here */
	/* relaxed: published by the release on log_count below. */
	atomic_store_explicit(&h->log[n].off, (uint32_t)off,
			      memory_order_relaxed);
	atomic_store_explicit(&h->log[n].old, old, memory_order_relaxed);
	/* release: the entry is complete before it counts. */
	atomic_store_explicit(&h->log_count, n + 1, memory_order_release);
	seg->log_n = n + 1;
}

void
baton__xset(baton_shm *seg, xu32 *word, uint32_t v)
{
	baton__xlog(seg, word, xld(word));
	/* release: the entry counts before the word changes, and a waiter
	 * that sees a completed state sees the value written before it. */
	atomic_store_explicit(word, v, memory_order_release);
}

void
baton__xcommit(baton_shm *seg)
{
	/* release: every logged store before the log empties (commit). */
	atomic_store_explicit(&xhdr(seg)->log_count, 0, memory_order_release);
	seg->log_n = 0;
}

/* ---- references and cleanup ------------------------------------------------ */

void
baton__xslot_release(baton_shm *seg, uint32_t i, uint32_t row, uint32_t n)
{
	struct xhdr *h = xhdr(seg);
	struct xslot *s = xslot_at(seg, i);
	uint32_t total = xld(&s->refs), b;

	if (row < seg->l.max_procs) {
		xu32 *mine = xref_at(seg, i, row);
		uint32_t r = xld(mine);

		if (n > r)
			n = r;
		baton__xset(seg, mine, r - n);
	}
	if (n == 0)
		return;
	if (total > n) {
		baton__xset(seg, &s->refs, total - n);
		return;
	}
	/* Last reference: the slot and its block go back to the lists. */
	baton__xset(seg, &s->refs, 0);
	b = xld(&s->block);
	if (b != 0 && b - 1 < seg->l.arena_blocks) {
		baton__xset(seg, xbnext_at(seg, b - 1), xld(&h->block_free));
		baton__xset(seg, &h->block_free, b);
	}
	baton__xset(seg, &s->block, 0);
	baton__xset(seg, &s->gen, 0);
	baton__xset(seg, &s->state, S_FREE);
	baton__xset(seg, &s->next, xld(&h->slot_free));
	baton__xset(seg, &h->slot_free, i + 1);
}

/*
 * Under the lock: the process in row is gone (died, or detaches: died
 * false).  Its pending futures complete (DIED, or BROKEN on detach), its
 * references go, it leaves its queues; then the row is free.  Each step is
 * its own logged section and is skipped once done, so a cleaner that dies
 * half way leaves the rest to the next one.
 */
void
baton__xretire(baton_shm *seg, uint32_t row, bool died)
{
	struct xproc *p = xproc_at(seg, row);
	uint32_t pid = xld(&p->pid);
	uint32_t signo = xld(&p->exit_signo), status = xld(&p->exit_status);

	for (uint32_t i = 0; i < seg->l.max_futures; i++) {
		struct xslot *s = xslot_at(seg, i);
		uint32_t st = xld(&s->state), r;
		bool fail, owns;

		if (st == S_FREE)
			continue;
		fail = st == S_PENDING && xld(&s->producer) == row;
		owns = xld(&s->producer) == row && xld(&s->promise) == 1;
		r = xld(xref_at(seg, i, row));
		if (!fail && !owns && r == 0)
			continue;
		if (fail && died) {
			baton__xset(seg, &s->kind, BATON_EXIT_NOPROC);
			baton__xset(seg, &s->code, ESRCH);
			baton__xset(seg, &s->pid, pid);
			baton__xset(seg, &s->signo, signo);
			baton__xset(seg, &s->status, status);
			baton__xset(seg, &s->state, S_DIED);
		} else if (fail) {
			baton__xset(seg, &s->state, S_BROKEN);
		}
		if (owns) {
			/* Its promise goes too: one more reference. */
			baton__xset(seg, &s->promise, 0);
			baton__xset(seg, xref_at(seg, i, row), 0);
			baton__xslot_release(seg, i, UINT32_MAX, r + 1);
		} else if (r != 0) {
			baton__xslot_release(seg, i, row, r);
		}
		baton__xcommit(seg);
		if (fail)
			baton__xfutex_wake(&s->state, INT_MAX);
	}
	for (uint32_t q = 0; q < seg->l.max_queues; q++) {
		struct xqueue *x = xq_at(seg, q);
		xu32 *role = xrole_at(seg, q, row);
		uint32_t r = xld(role), n, flags;

		if (r == 0 || xld(&x->state) == Q_FREE)
			continue;
		flags = xld(&x->flags);
		if (r & BATON_SHM_PRODUCER) {
			n = xld(&x->nprod);
			n = n > 0 ? n - 1 : 0;
			baton__xset(seg, &x->nprod, n);
			if (n == 0)
				flags |= QF_EOF;
		}
		if (r & BATON_SHM_CONSUMER) {
			n = xld(&x->ncons);
			n = n > 0 ? n - 1 : 0;
			baton__xset(seg, &x->ncons, n);
			if (n == 0)
				flags |= QF_NOCONS;
		}
		baton__xset(seg, role, 0);
		baton__xset(seg, &x->flags, flags);
		baton__xseq_bump(seg, &x->seq);
		baton__xcommit(seg);
		baton__xfutex_wake(&x->seq, INT_MAX);
	}
	baton__xset(seg, &p->pid, 0);
	baton__xset(seg, &p->inc, xld(&p->inc) + 1);
	baton__xset(seg, &p->state, P_FREE);
	if (died)
		baton__xset(seg, &xhdr(seg)->cleanups,
			    xld(&xhdr(seg)->cleanups) + 1);
	baton__xcommit(seg);
}

void
baton__xclean(baton_shm *seg, uint32_t row)
{
	struct xproc *p;
	uint32_t st;

	if (row >= seg->l.max_procs || row == seg->me)
		return;
	p = xproc_at(seg, row);
	st = xld(&p->state);
	if (st == P_FREE || (st == P_ALIVE && baton__xalive(seg, row)))
		return;
	if (st == P_ALIVE) {
		siginfo_t si;
		uint32_t signo = 0, status = UINT32_MAX;

		/* Only its parent can learn how it died; WNOWAIT leaves the
		 * zombie for the parent's own waitpid. */
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)xld(&p->pid), &si,
			   WEXITED | WNOHANG | WNOWAIT) == 0 &&
		    si.si_pid == (pid_t)xld(&p->pid)) {
			if (si.si_code == CLD_EXITED)
				status = (uint32_t)si.si_status;
			else
				signo = (uint32_t)si.si_status;
		}
		baton__xset(seg, &p->exit_signo, signo);
		baton__xset(seg, &p->exit_status, status);
		baton__xset(seg, &p->state, P_DYING);
		baton__xcommit(seg);
	}
	baton__xretire(seg, row, true);
}

int
baton_shm_reap(baton_shm *seg)
{
	int r = baton__xcheck(seg), n = 0;

	if (r != 0)
		return r;
	baton__xlock(seg);
	for (uint32_t row = 0; row < seg->l.max_procs; row++) {
		uint32_t st = xld(&xproc_at(seg, row)->state);

		if (row == seg->me || st == P_FREE)
			continue;
		if (st == P_DYING || !baton__xalive(seg, row)) {
			baton__xclean(seg, row);
			n++;
		}
	}
	baton__xunlock(seg);
	return n;
}

#endif /* __linux__ */
