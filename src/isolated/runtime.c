/*
 * runtime.c - the program side of isolated tasks: init and fini, the
 * worker slots, the pending queue, the owner lists and the monitor thread.
 *
 * Design notes
 * ============
 * One lock, rt.mu, guards every slot, task record, the queues and the
 * stats (each operation is a process round trip anyway; the hand-off
 * itself is lock-free on the channel's futex word, see channel.h).
 *
 * Slot states (struct slot, internal.h): SPAWNING -> IDLE <-> BUSY; BUSY
 * -> KILLED (a timeout, shutdown or owner exit SIGKILLs the worker) or
 * QUITTING (recycled after recycle_after tasks) or, when the monitor
 * learns the worker died, BUSY with `dead` set until the owner collects
 * the reason.  Every way out of a worker ends with the fork server's
 * EXITED message; only then is the channel reset and a new worker asked
 * for (no process can still write the channel).
 *
 * Task records (struct baton__itask): QUEUED (no idle worker: waits in a
 * FIFO with a copy of its argument) -> RUNNING (on a slot) -> collected,
 * or EXITED (dropped or failed before reaching a worker).  A worker that
 * dies before taking a request (REQ, never RUN) gives the task back to the
 * queue head: it never ran, so it is not failed.  Records are type-stable
 * (a free list, never freed), so checking a stale handle's generation is
 * always safe.  The owner's list (a pthread key) lets its destructor kill
 * what an exiting thread left behind.
 *
 * The monitor thread polls the server socket (SPAWNED, EXITED; EOF means
 * the server died: everything pending fails) and the notify eventfd
 * (an ignored task's worker finished: free the worker).
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "internal.h"

struct baton__iso_runtime baton__iso_rt = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.ctl = -1,
	.notify = -1,
};
#define rt baton__iso_rt

struct owner_list {
	struct baton__itask *head;
};

/* ------------------------------------------------------------------ */
/* Exit reasons from a wait status                                     */

static const struct {
	int sig;
	const char *msg;
} sig_msgs[] = {
	{ SIGSEGV, "worker died of SIGSEGV (segmentation fault)" },
	{ SIGABRT, "worker died of SIGABRT (abort)" },
	{ SIGKILL, "worker died of SIGKILL (killed from outside)" },
	{ SIGBUS, "worker died of SIGBUS (bus error)" },
	{ SIGFPE, "worker died of SIGFPE (arithmetic fault)" },
	{ SIGILL, "worker died of SIGILL (illegal instruction)" },
	{ SIGXCPU, "worker died of SIGXCPU (CPU time limit reached)" },
	{ SIGTERM, "worker died of SIGTERM" },
	{ SIGINT, "worker died of SIGINT" },
	{ SIGTRAP, "worker died of SIGTRAP" },
};
static const char other_sig_msg[] = "worker died of a signal (code)";
static const char exit_msg[] = "worker exited mid-body (code: status)";

void
baton__iso_reason_from(struct slot *s, struct baton_exit_reason *r)
{
	int st = s->wstatus;

	if (s->dead_msg != NULL) {
		baton__reason_set(r, BATON_EXIT_SHUTDOWN, EPIPE, s->dead_msg);
	} else if (WIFSIGNALED(st)) {
		int sig = WTERMSIG(st);
		const char *msg = other_sig_msg;

		for (size_t i = 0; i < sizeof(sig_msgs) / sizeof(sig_msgs[0]);
		     i++) {
			if (sig_msgs[i].sig == sig)
				msg = sig_msgs[i].msg;
		}
		baton__reason_set(r, sig == SIGKILL ? BATON_EXIT_KILLED
						    : BATON_EXIT_ERROR,
				  sig, msg);
	} else {
		baton__reason_set(r, BATON_EXIT_ERROR, WEXITSTATUS(st),
				  exit_msg);
	}
}

int
baton_isolated_reason_signal(const struct baton_exit_reason *reason)
{
	if (reason == NULL || reason->message == NULL)
		return 0;
	if (reason->message == other_sig_msg)
		return reason->code;
	for (size_t i = 0; i < sizeof(sig_msgs) / sizeof(sig_msgs[0]); i++) {
		if (reason->message == sig_msgs[i].msg)
			return sig_msgs[i].sig;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Task records                                                         */

void
baton__iso_task_bump(struct baton__itask *t)
{
	/* relaxed: the waiter re-reads everything under rt.mu. */
	atomic_fetch_add_explicit(&t->word, 1, memory_order_relaxed);
	baton__shared_futex_wake(&t->word);
}

struct baton__itask *
baton__iso_task_alloc(void)
{
	struct baton__itask *t = rt.free;

	if (t != NULL) {
		rt.free = t->qnext;
	} else {
		t = baton__calloc(1, sizeof(*t));
		if (t == NULL)
			return NULL;
	}
	t->gen++; /* odd: named by a handle */
	t->st = T_QUEUED;
	t->detached = false;
	t->ol = NULL;
	t->onext = t->oprev = t->qnext = NULL;
	t->slot = NULL;
	t->arg = NULL;
	t->len = 0;
	return t;
}

/* Makes every handle to t stale and drops it from its owner's list. */
void
baton__iso_task_unlink(struct baton__itask *t)
{
	if (t->gen & 1)
		t->gen++;
	if (t->ol != NULL) {
		if (t->oprev != NULL)
			t->oprev->onext = t->onext;
		else
			t->ol->head = t->onext;
		if (t->onext != NULL)
			t->onext->oprev = t->oprev;
		t->ol = NULL;
		t->onext = t->oprev = NULL;
	}
}

void
baton__iso_task_free(struct baton__itask *t)
{
	baton__iso_task_unlink(t);
	free(t->arg);
	t->arg = NULL;
	t->st = T_FREE;
	t->slot = NULL;
	t->qnext = rt.free;
	rt.free = t;
	rt.stats.resolved++;
}

void
baton__iso_task_exit(struct baton__itask *t, enum baton_exit_kind kind,
		     int code, const char *message)
{
	t->st = T_EXITED;
	t->slot = NULL;
	t->reason = (struct baton__reason)BATON__REASON(kind, code, message);
	free(t->arg);
	t->arg = NULL;
	baton__iso_task_bump(t);
}

/* Kills what an exiting owner left behind (its handles die with it). */
static void
owner_exit(void *p)
{
	struct owner_list *ol = p;

	pthread_mutex_lock(&rt.mu);
	while (ol->head != NULL) {
		struct baton__itask *t = ol->head;

		baton__iso_task_unlink(t);
		if (t->st == T_QUEUED) {
			struct baton__itask **pp = &rt.qhead;

			while (*pp != t)
				pp = &(*pp)->qnext;
			*pp = t->qnext;
			if (rt.qtail == t) {
				rt.qtail = NULL;
				for (struct baton__itask *q = rt.qhead;
				     q != NULL; q = q->qnext)
					rt.qtail = q;
			}
		} else if (t->st == T_RUNNING) {
			struct slot *s = t->slot;
			uint32_t cs = atomic_load_explicit(
			    &s->ch->state, memory_order_acquire);

			if (s->dead || cs == BATON__CH_DONE)
				baton__iso_release_slot(s);
			else
				baton__iso_kill_slot(s);
		}
		baton__iso_task_free(t);
	}
	pthread_mutex_unlock(&rt.mu);
	free(ol);
}

int
baton__iso_owner_add(struct baton__itask *t)
{
	struct owner_list *ol = pthread_getspecific(rt.key);

	if (ol == NULL) {
		ol = baton__calloc(1, sizeof(*ol));
		if (ol == NULL)
			return -ENOMEM;
		if (pthread_setspecific(rt.key, ol) != 0) {
			free(ol);
			return -ENOMEM;
		}
	}
	t->owner = pthread_self();
	t->ol = ol;
	t->oprev = NULL;
	t->onext = ol->head;
	if (ol->head != NULL)
		ol->head->oprev = t;
	ol->head = t;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Slots                                                                */

void
baton__iso_post(struct slot *s, struct baton__itask *t)
{
	struct baton__iso_channel *ch = s->ch;

	ch->fn = (uint64_t)(uintptr_t)t->fn;
	ch->arg_len = t->len;
	ch->cpu_seconds = t->cpu;
	ch->as_bytes = t->as;
	if (t->arg != NULL) {
		memcpy(ch->arg, t->arg, t->len);
		free(t->arg);
		t->arg = NULL;
	}
	/* relaxed: published by the REQ store below. */
	atomic_store_explicit(&ch->stop, 0, memory_order_relaxed);
	atomic_store_explicit(&ch->notify, t->detached, memory_order_relaxed);
	s->st = S_BUSY;
	s->task = t;
	s->runs++;
	t->slot = s;
	t->st = T_RUNNING;
	/* seq_cst: publishes the request (release) and is the Dekker store
	 * against the worker's worker_sleeping store. */
	atomic_store_explicit(&ch->state, BATON__CH_REQ, memory_order_seq_cst);
	if (atomic_load_explicit(&ch->worker_sleeping, memory_order_seq_cst))
		baton__shared_futex_wake(&ch->state);
}

/* A slot with a live, free worker: serve the queue or go idle. */
static void
slot_ready(struct slot *s)
{
	struct baton__itask *t = rt.qhead;

	if (t != NULL) {
		rt.qhead = t->qnext;
		if (rt.qhead == NULL)
			rt.qtail = NULL;
		t->qnext = NULL;
		baton__iso_post(s, t);
		baton__iso_task_bump(t);
		return;
	}
	s->st = S_IDLE;
	s->task = NULL;
	s->next_idle = rt.idle;
	rt.idle = s;
}

static void
respawn(struct slot *s)
{
	struct baton__iso_msg m = { BATON__ISO_SPAWN, s->index, 0, 0 };

	if (s->pidfd >= 0)
		close(s->pidfd);
	s->pidfd = -1;
	s->pid = 0;
	s->task = NULL;
	s->dead = false;
	s->dead_msg = NULL;
	s->runs = 0;
	if (rt.state != RT_RUNNING || rt.stopping) {
		s->st = S_NONE;
		return;
	}
	baton__iso_channel_reset(s->ch);
	s->st = S_SPAWNING;
	if (baton__iso_send(rt.ctl, &m, s->memfd) != 0)
		s->st = S_NONE;
}

void
baton__iso_release_slot(struct slot *s)
{
	s->task = NULL;
	if (s->dead) {
		respawn(s);
	} else if (s->runs >= rt.recycle_after) {
		s->st = S_QUITTING;
		rt.stats.recycled++;
		/* seq_cst: as a request (see post). */
		atomic_store_explicit(&s->ch->state, BATON__CH_QUIT,
				      memory_order_seq_cst);
		baton__shared_futex_wake(&s->ch->state);
	} else {
		/* relaxed: the worker waits for REQ, which publishes. */
		atomic_store_explicit(&s->ch->state, BATON__CH_IDLE,
				      memory_order_relaxed);
		slot_ready(s);
	}
}

void
baton__iso_kill_slot(struct slot *s)
{
	s->task = NULL;
	if (s->dead) {
		respawn(s);
		return;
	}
	/* The pidfd names this very process even if it already died. */
	pidfd_send_signal(s->pidfd, SIGKILL, NULL, 0);
	s->st = S_KILLED;
	rt.stats.killed++;
}

static void
idle_remove(struct slot *s)
{
	for (struct slot **pp = &rt.idle; *pp != NULL;
	     pp = &(*pp)->next_idle) {
		if (*pp == s) {
			*pp = s->next_idle;
			return;
		}
	}
}

/* ------------------------------------------------------------------ */
/* The monitor thread                                                   */

static void
on_spawned(const struct baton__iso_msg *m, int pidfd)
{
	struct slot *s;

	if (m->slot < 0 || (unsigned)m->slot >= rt.nslots) {
		if (pidfd >= 0)
			close(pidfd);
		return;
	}
	s = &rt.slots[m->slot];
	s->pid = m->pid;
	s->pidfd = pidfd;
	if (m->value != 0 || pidfd < 0) {
		/* No worker for this slot: the others carry on. */
		if (pidfd >= 0)
			close(pidfd);
		s->pidfd = -1;
		if (m->pid > 0)
			kill(m->pid, SIGKILL); /* not reaped yet: still ours */
		s->st = S_NONE;
		return;
	}
	rt.stats.spawned++;
	if (rt.stopping) {
		baton__iso_kill_slot(s);
		return;
	}
	slot_ready(s);
}

static void
on_exited(const struct baton__iso_msg *m)
{
	struct slot *s = NULL;
	struct baton__itask *t;
	uint32_t cs;

	for (unsigned i = 0; i < rt.nslots; i++) {
		if (rt.slots[i].pid == m->pid && rt.slots[i].st != S_NONE &&
		    rt.slots[i].st != S_SPAWNING)
			s = &rt.slots[i];
	}
	if (s == NULL)
		return;
	switch (s->st) {
	case S_IDLE:
		rt.stats.died++;
		idle_remove(s);
		respawn(s);
		return;
	case S_KILLED:
	case S_QUITTING:
		respawn(s);
		return;
	case S_BUSY:
		break;
	default:
		return;
	}
	rt.stats.died++;
	t = s->task;
	/* acquire: a value published before the death is delivered. */
	cs = atomic_load_explicit(&s->ch->state, memory_order_acquire);
	if (t == NULL || t->detached) {
		if (t != NULL)
			baton__iso_task_free(t);
		respawn(s);
	} else if (cs == BATON__CH_REQ) {
		/* Never taken: the body did not run.  Back to the queue head,
		 * with its argument, for another worker. */
		t->arg = baton__malloc(t->len ? t->len : 1);
		if (t->arg == NULL) {
			baton__iso_task_exit(t, BATON_EXIT_ERROR, ENOMEM,
					     "worker died before the task "
					     "started; no memory to requeue");
		} else {
			memcpy(t->arg, s->ch->arg, t->len);
			t->st = T_QUEUED;
			t->slot = NULL;
			t->qnext = rt.qhead;
			rt.qhead = t;
			if (rt.qtail == NULL)
				rt.qtail = t;
		}
		/* relaxed + wake: an awaiter parked on this channel must
		 * move to the task's word. */
		atomic_store_explicit(&s->ch->state, BATON__CH_DEAD,
				      memory_order_relaxed);
		baton__shared_futex_wake(&s->ch->state);
		baton__iso_task_bump(t);
		respawn(s);
	} else {
		s->dead = true;
		s->wstatus = m->value;
		if (cs != BATON__CH_DONE) {
			/* release: dead/wstatus are read under rt.mu anyway;
			 * the store only ends the awaiter's futex wait. */
			atomic_store_explicit(&s->ch->state, BATON__CH_DEAD,
					      memory_order_release);
			baton__shared_futex_wake(&s->ch->state);
		}
		baton__iso_task_bump(t);
	}
}

/* An ignored task's worker finished: its worker serves others again. */
static void
on_notify(void)
{
	for (unsigned i = 0; i < rt.nslots; i++) {
		struct slot *s = &rt.slots[i];

		if (s->st == S_BUSY && s->task != NULL && s->task->detached &&
		    atomic_load_explicit(&s->ch->state,
					 memory_order_acquire) ==
			BATON__CH_DONE) {
			baton__iso_task_free(s->task);
			baton__iso_release_slot(s);
		}
	}
}

/* The server is gone: every worker dies with it; fail what is pending. */
static void
on_server_gone(void)
{
	const char *msg = rt.stopping ? "isolated runtime stopped"
				      : "isolated fork server died";

	rt.state = RT_STOPPED;
	while (rt.qhead != NULL) {
		struct baton__itask *t = rt.qhead;

		rt.qhead = t->qnext;
		if (t->detached)
			baton__iso_task_free(t);
		else
			baton__iso_task_exit(t, BATON_EXIT_SHUTDOWN, EPIPE,
					     msg);
	}
	rt.qtail = NULL;
	rt.idle = NULL;
	for (unsigned i = 0; i < rt.nslots; i++) {
		struct slot *s = &rt.slots[i];

		if (s->pidfd >= 0)
			pidfd_send_signal(s->pidfd, SIGKILL, NULL, 0);
		if (s->st == S_BUSY && s->task != NULL && !s->task->detached) {
			if (!s->dead) {
				s->dead = true;
				s->dead_msg = msg;
			}
			atomic_store_explicit(&s->ch->state, BATON__CH_DEAD,
					      memory_order_release);
			baton__shared_futex_wake(&s->ch->state);
			baton__iso_task_bump(s->task);
		} else {
			if (s->st == S_BUSY && s->task != NULL)
				baton__iso_task_free(s->task);
			s->task = NULL;
			s->st = S_NONE;
		}
	}
}

static void *
monitor_main(void *arg)
{
	struct pollfd pf[2] = { { .fd = rt.ctl, .events = POLLIN },
				{ .fd = rt.notify, .events = POLLIN } };

	(void)arg;
	for (;;) {
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[1].revents != 0) {
			uint64_t n;

			(void)!read(rt.notify, &n, sizeof(n));
			pthread_mutex_lock(&rt.mu);
			on_notify();
			pthread_mutex_unlock(&rt.mu);
		}
		if (pf[0].revents != 0) {
			struct baton__iso_msg m;
			int fd, r = baton__iso_recv(rt.ctl, &m, &fd);

			if (r == -EPROTO || r == -EAGAIN)
				continue;
			pthread_mutex_lock(&rt.mu);
			if (r <= 0) {
				on_server_gone();
				pthread_mutex_unlock(&rt.mu);
				break;
			}
			if (m.op == BATON__ISO_SPAWNED)
				on_spawned(&m, fd);
			else if (m.op == BATON__ISO_EXITED)
				on_exited(&m);
			else if (fd >= 0)
				close(fd);
			pthread_mutex_unlock(&rt.mu);
		}
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Init, fini, introspection                                            */

static int
thread_count(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return 1;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] != '.')
			n++;
	}
	closedir(d);
	return n;
}

#if defined(__SANITIZE_THREAD__)
#define ISO_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ISO_TSAN 1
#endif
#endif
#ifndef ISO_TSAN
#define ISO_TSAN 0
#endif

static void
init_undo(void)
{
	for (unsigned i = 0; i < rt.nslots; i++) {
		baton__iso_channel_unmap(rt.slots[i].ch);
		if (rt.slots[i].memfd >= 0)
			close(rt.slots[i].memfd);
	}
	free(rt.slots);
	rt.slots = NULL;
	rt.nslots = 0;
	if (rt.notify >= 0)
		close(rt.notify);
	rt.notify = -1;
}

int
baton_isolated_init(const struct baton_isolated_config *cfg)
{
	struct baton_isolated_config c = BATON_ISOLATED_CONFIG_INIT;
	pid_t parent = getpid(), pid;
	int sv[2], r, probe;

	if (cfg != NULL)
		c = *cfg;
	if (rt.state != RT_UNINIT || baton__iso_in_worker)
		return -EBUSY;
	/* TSan runs a background thread of its own. */
	if (thread_count() > (ISO_TSAN ? 2 : 1))
		return -EBUSY;
	probe = pidfd_open(parent, 0);
	if (probe < 0)
		return errno == ENOSYS ? -ENOSYS : -errno;
	close(probe);
	if (c.workers == BATON_SCHEDULERS) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		c.workers = n < 1 ? 1 : (unsigned)n;
	}
	if (c.workers == 0 || c.workers > 256 || c.recycle_after == 0)
		return -EINVAL;
	rt.slots = baton__calloc(c.workers, sizeof(*rt.slots));
	if (rt.slots == NULL)
		return -ENOMEM;
	rt.nslots = c.workers;
	for (unsigned i = 0; i < c.workers; i++) {
		rt.slots[i].index = (int)i;
		rt.slots[i].pidfd = -1;
		rt.slots[i].memfd = -1;
	}
	for (unsigned i = 0; i < c.workers; i++) {
		r = baton__iso_channel_create(&rt.slots[i].memfd,
					      &rt.slots[i].ch);
		if (r != 0)
			goto fail;
	}
	rt.notify = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (rt.notify < 0) {
		r = -errno;
		goto fail;
	}
	r = baton__pthread_key_create(&rt.key, owner_exit);
	if (r != 0) {
		r = -r;
		goto fail;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		r = -errno;
		goto fail_key;
	}
	/* Unflushed stdio would be written again by every worker. */
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		/* A worker must not see other workers' channels. */
		for (unsigned i = 0; i < rt.nslots; i++) {
			baton__iso_channel_unmap(rt.slots[i].ch);
			close(rt.slots[i].memfd);
		}
		baton__iso_server_main(sv[1], rt.notify);
	}
	close(sv[1]);
	if (pid < 0) {
		r = -errno;
		close(sv[0]);
		goto fail_key;
	}
	rt.ctl = sv[0];
	rt.server = pid;
	rt.recycle_after = c.recycle_after; /* BATON_NO_LIMIT: never */
	rt.state = RT_RUNNING;
	r = baton__pthread_create(&rt.monitor, NULL, monitor_main, NULL);
	if (r != 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(rt.ctl);
		rt.ctl = -1;
		rt.state = RT_UNINIT;
		r = -r;
		goto fail_key;
	}
	rt.monitor_started = true;
	pthread_mutex_lock(&rt.mu);
	for (unsigned i = 0; i < rt.nslots; i++)
		respawn(&rt.slots[i]);
	pthread_mutex_unlock(&rt.mu);
	return 0;
fail_key:
	pthread_key_delete(rt.key);
fail:
	init_undo();
	return r;
}

void
baton_isolated_fini(void)
{
	pthread_mutex_lock(&rt.mu);
	if (rt.state != RT_RUNNING || rt.stopping || baton__iso_in_worker) {
		pthread_mutex_unlock(&rt.mu);
		return;
	}
	rt.stopping = true;
	for (unsigned i = 0; i < rt.nslots; i++) {
		if (rt.slots[i].pidfd >= 0)
			pidfd_send_signal(rt.slots[i].pidfd, SIGKILL, NULL, 0);
	}
	kill(rt.server, SIGKILL);
	pthread_mutex_unlock(&rt.mu);
	/* The monitor sees the server's socket close and fails the rest. */
	if (rt.monitor_started)
		pthread_join(rt.monitor, NULL);
	waitpid(rt.server, NULL, 0);
	pthread_mutex_lock(&rt.mu);
	rt.state = RT_STOPPED;
	for (unsigned i = 0; i < rt.nslots; i++) {
		if (rt.slots[i].pidfd >= 0)
			close(rt.slots[i].pidfd);
		rt.slots[i].pidfd = -1;
		if (rt.slots[i].memfd >= 0)
			close(rt.slots[i].memfd);
		rt.slots[i].memfd = -1;
	}
	close(rt.ctl);
	close(rt.notify);
	rt.ctl = rt.notify = -1;
	pthread_mutex_unlock(&rt.mu);
	/* Channels stay mapped: a stale handle's await still reads them. */
}

int
baton_isolated_stats(struct baton_isolated_stats *st)
{
	if (st == NULL)
		return -EINVAL;
	pthread_mutex_lock(&rt.mu);
	if (rt.state == RT_UNINIT) {
		pthread_mutex_unlock(&rt.mu);
		return -EPIPE;
	}
	*st = rt.stats;
	st->live_workers = 0;
	for (unsigned i = 0; i < rt.nslots; i++) {
		if (rt.slots[i].st == S_IDLE ||
		    (rt.slots[i].st == S_BUSY && !rt.slots[i].dead))
			st->live_workers++;
	}
	pthread_mutex_unlock(&rt.mu);
	return 0;
}

size_t
baton_isolated_worker_pids(int *pids, size_t n)
{
	size_t k = 0;

	pthread_mutex_lock(&rt.mu);
	for (unsigned i = 0; i < rt.nslots && k < n; i++) {
		struct slot *s = &rt.slots[i];

		if (s->st == S_IDLE || (s->st == S_BUSY && !s->dead))
			pids[k++] = s->pid;
	}
	pthread_mutex_unlock(&rt.mu);
	return k;
}
