/*
 * server.c - the two loops that run outside the program: the fork server
 * and the worker.
 *
 * Design notes
 * ============
 * The fork server is forked by baton_isolated_init() while the program is
 * single-threaded, and stays single-threaded: it forks a worker for each
 * SPAWN, so no worker is forked from a process with running threads (no
 * lock held by a thread that does not exist in the child).  It answers
 * SPAWNED with the worker's pid and a pidfd (opened before it can reap
 * the child, so it names that very process), and reports every reaped
 * child as EXITED with its wait status.  SPAWNED for a pid is always sent
 * before its EXITED: the server reaps only between requests.  The server
 * dies with the program (PR_SET_PDEATHSIG) and the workers with the
 * server, so nothing outlives the program.
 *
 * A worker loops: wait for REQ on its channel (spin briefly, then park on
 * the shared futex), take it (RUN), run the body, publish the value and
 * DONE, wake a parked awaiter, poke the monitor's eventfd if asked (an
 * ignored task).  QUIT retires it (_exit(0)).  Per-task resource limits
 * are soft limits set around the body and restored after it.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "channel.h"
#include "reason.h"

/*
 * How long an idle worker spins before it parks.  0: on these shared
 * 2-vCPU VMs (load 10-20) any spin made a round trip slower (200 us of
 * spin: 570 us per task; 5 us: 36 us; none: 22-29 us), since a spinning
 * worker takes the core the program needs to post the next request.
 */
#define WORKER_SPIN_NS 0L

static struct baton__iso_channel *worker_channel;
/* The worker is inside a body: baton_exit applies to it. */
static bool in_body;

bool
baton_isolated_should_stop(void)
{
	/* acquire: pairs with the program's store of the request. */
	return worker_channel != NULL &&
	       atomic_load_explicit(&worker_channel->stop,
				    memory_order_acquire) != 0;
}

static void
default_crash_signals(void)
{
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE,
				    SIGABRT, SIGXCPU, SIGTRAP };
	struct sigaction sa;
	sigset_t all;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
}

static size_t
vm_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long pages = 0;

	if (f == NULL)
		return 0;
	if (fscanf(f, "%lu", &pages) != 1)
		pages = 0;
	fclose(f);
	return pages * (size_t)sysconf(_SC_PAGESIZE);
}

struct limits {
	bool cpu, as;
	struct rlimit old_cpu, old_as;
};

static void
limits_set(struct limits *l, uint64_t cpu_seconds, uint64_t as_bytes)
{
	l->cpu = l->as = false;
	if (cpu_seconds != UINT64_MAX &&
	    getrlimit(RLIMIT_CPU, &l->old_cpu) == 0) {
		struct timespec used;
		struct rlimit r = l->old_cpu;

		/* RLIMIT_CPU counts the whole process, in whole seconds:
		 * add what it used, rounded up. */
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &used);
		r.rlim_cur = (rlim_t)used.tv_sec + (used.tv_nsec != 0) +
			     (rlim_t)cpu_seconds;
		if (r.rlim_max != RLIM_INFINITY && r.rlim_cur > r.rlim_max)
			r.rlim_cur = r.rlim_max;
		l->cpu = setrlimit(RLIMIT_CPU, &r) == 0;
	}
	if (as_bytes != UINT64_MAX && getrlimit(RLIMIT_AS, &l->old_as) == 0) {
		struct rlimit r = l->old_as;

		r.rlim_cur = (rlim_t)(vm_bytes() + as_bytes);
		if (r.rlim_max != RLIM_INFINITY && r.rlim_cur > r.rlim_max)
			r.rlim_cur = r.rlim_max;
		l->as = setrlimit(RLIMIT_AS, &r) == 0;
	}
}

static void
limits_restore(const struct limits *l)
{
	if (l->cpu)
		setrlimit(RLIMIT_CPU, &l->old_cpu);
	if (l->as)
		setrlimit(RLIMIT_AS, &l->old_as);
}

/* Waits for REQ or QUIT; returns which. */
static uint32_t
worker_wait(struct baton__iso_channel *ch)
{
	for (;;) {
		/* acquire: the request's bytes are visible after REQ. */
		uint32_t s = atomic_load_explicit(&ch->state,
						  memory_order_acquire);

		if (s == BATON__CH_REQ || s == BATON__CH_QUIT)
			return s;
		if (WORKER_SPIN_NS > 0 &&
		    baton__iso_spin_while(&ch->state, s, WORKER_SPIN_NS))
			continue;
		/* seq_cst: Dekker with the program's REQ store and its load
		 * of worker_sleeping; the futex re-checks state. */
		atomic_store_explicit(&ch->worker_sleeping, 1,
				      memory_order_seq_cst);
		baton__shared_futex_wait(&ch->state, s, NULL);
		/* relaxed: a hint; a stale 1 costs the program one wake. */
		atomic_store_explicit(&ch->worker_sleeping, 0,
				      memory_order_relaxed);
	}
}

/*
 * baton_exit/baton_exitf in a body: the reason goes to the program with
 * the reply, its text copied into the channel (cut as any text is).
 */
static int
worker_exit(const struct baton__reason *r)
{
	struct baton__iso_channel *ch = worker_channel;
	char text[BATON_EXIT_TEXT_MAX];
	size_t n;

	if (!in_body)
		return -EINVAL;
	baton__text_put(text, r->message, SIZE_MAX);
	n = strlen(text);
	memcpy(ch->exit_text, text, n + 1);
	ch->exit_len = (uint32_t)n;
	ch->exit_kind = r->kind;
	ch->exit_code = r->code;
	ch->exit_set = 1; /* published with DONE (seq_cst store) */
	return 0;
}

_Noreturn void
baton__iso_worker_main(struct baton__iso_channel *ch, int notify_fd)
{
	struct rlimit nocore = { 0, 0 };

	baton__iso_in_worker = true;
	worker_channel = ch;
	baton__exit_hook = worker_exit;
	default_crash_signals();
	setrlimit(RLIMIT_CORE, &nocore);
	prctl(PR_SET_NAME, "baton-worker");
	for (;;) {
		baton_isolated_fn fn;
		struct limits lim;
		size_t len = BATON_ISOLATED_MAX_BYTES;
		uint64_t alen;
		int rc;

		if (worker_wait(ch) == BATON__CH_QUIT)
			_exit(0);
		/* relaxed: only this process moves the word out of REQ; the
		 * program learns of RUN only to tell "never started". */
		atomic_store_explicit(&ch->state, BATON__CH_RUN,
				      memory_order_relaxed);
		alen = ch->arg_len;
		ch->exit_set = 0;
		fn = (baton_isolated_fn)(uintptr_t)ch->fn;
		if (alen > BATON_ISOLATED_MAX_BYTES || fn == NULL) {
			rc = EPROTO;
			len = 0;
		} else {
			limits_set(&lim, ch->cpu_seconds, ch->as_bytes);
			in_body = true;
			rc = fn(ch->arg, (size_t)alen, ch->val, &len);
			in_body = false;
			limits_restore(&lim);
			if (len > BATON_ISOLATED_MAX_BYTES) {
				rc = EOVERFLOW;
				len = 0;
			}
		}
		fflush(NULL);
		ch->val_len = len;
		ch->ret = rc;
		/* seq_cst: publishes the value (release) and is the Dekker
		 * store against owner_sleeping / notify. */
		atomic_store_explicit(&ch->state, BATON__CH_DONE,
				      memory_order_seq_cst);
		if (atomic_load_explicit(&ch->owner_sleeping,
					 memory_order_seq_cst))
			baton__shared_futex_wake(&ch->state);
		if (atomic_load_explicit(&ch->notify, memory_order_seq_cst)) {
			uint64_t one = 1;

			(void)!write(notify_fd, &one, sizeof(one));
		}
	}
}

static void
spawn(int ctl, int sfd, int notify_fd, const struct baton__iso_msg *req,
      int memfd)
{
	struct baton__iso_msg rep = { BATON__ISO_SPAWNED, req->slot, 0, 0 };
	pid_t server = getpid();
	int pidfd = -1;
	pid_t pid;

	if (memfd < 0) {
		rep.value = -EBADF;
		baton__iso_send(ctl, &rep, -1);
		return;
	}
	pid = fork();
	if (pid == 0) {
		struct baton__iso_channel *ch;

		close(ctl);
		close(sfd);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != server)
			_exit(127);
		ch = baton__iso_channel_map(memfd);
		close(memfd);
		if (ch == NULL || ch->magic != BATON__ISO_MAGIC)
			_exit(126);
		baton__iso_worker_main(ch, notify_fd);
	}
	if (pid < 0) {
		rep.value = -errno;
	} else {
		rep.pid = pid;
		pidfd = pidfd_open(pid, 0);
		if (pidfd < 0)
			rep.value = -errno;
	}
	close(memfd);
	baton__iso_send(ctl, &rep, pidfd);
	if (pidfd >= 0)
		close(pidfd);
}

static void
reap(int ctl)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct baton__iso_msg m = { BATON__ISO_EXITED, -1, pid,
					    status };

		baton__iso_send(ctl, &m, -1);
	}
}

_Noreturn void
baton__iso_server_main(int ctl, int notify_fd)
{
	struct signalfd_siginfo si;
	struct pollfd pf[2];
	sigset_t chld;
	int sfd;

	prctl(PR_SET_NAME, "baton-forksrv");
	/* A program that ignores SIGCHLD would have its workers reaped
	 * before the server could read their statuses. */
	signal(SIGCHLD, SIG_DFL);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	sfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0)
		_exit(125);
	pf[0] = (struct pollfd){ .fd = ctl, .events = POLLIN };
	pf[1] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	for (;;) {
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(124);
		}
		if (pf[1].revents != 0) {
			while (read(sfd, &si, sizeof(si)) > 0)
				;
			reap(ctl);
		}
		if (pf[0].revents != 0) {
			struct baton__iso_msg m;
			int fd, r = baton__iso_recv(ctl, &m, &fd);

			if (r == 0 || (r < 0 && r != -EPROTO))
				_exit(0); /* the program is gone or done */
			if (r > 0 && m.op == BATON__ISO_SPAWN)
				spawn(ctl, sfd, notify_fd, &m, fd);
			else if (fd >= 0)
				close(fd);
			/* a child may have exited meanwhile */
			reap(ctl);
		}
	}
}
