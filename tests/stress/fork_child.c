/*
 * fork_child.c - fork() while the parent's pools are busy: the child's
 * work must run.  In the child, the default pool is a new one of the
 * child's own (the parent's threads do not exist there), and a pool the
 * parent created refuses work with -ECHILD instead of queueing it for
 * threads that will never run.  The parent's tasks, meanwhile, finish as
 * if nothing happened.  Repeated a few times, forking while the parent's
 * workers are inside bodies, idle, and spawning.
 */
#include <baton.h>

#include "stress.h"

#include <sys/wait.h>

/*
 * GCC 12's AddressSanitizer does not hold its allocator's locks across
 * fork: a child forked while a parent thread allocates finds the lock
 * taken forever (seen: every child thread waiting in ASan's
 * SizeClassAllocator64 refill, 2 runs in 10).  glibc's malloc does, so
 * the plain builds run this test and the ASan build skips it.
 */
#if defined(__SANITIZE_ADDRESS__)
#define FORK_UNSAFE_ALLOCATOR 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FORK_UNSAFE_ALLOCATOR 1
#endif
#endif
#ifndef FORK_UNSAFE_ALLOCATOR
#define FORK_UNSAFE_ALLOCATOR 0
#endif

#define TOK(i) ((void *)(uintptr_t)(i))

static atomic_int started;
static atomic_int release;

static void *
busy_body(void *arg)
{
	atomic_fetch_add(&started, 1);
	while (!atomic_load(&release))
		stress_sleep_us(100);
	return arg;
}

static void *
return_arg(void *arg)
{
	return arg;
}

/* The child: 0 if it could run its own work, else a code saying why. */
static int
child(baton_pool *mine)
{
	struct baton_task_opts o = { .pool = mine };
	baton_task t;
	void *v = NULL;

	if (baton_task_async_opts(&t, return_arg, TOK(1), &o) != -ECHILD)
		return 3;
	for (int i = 0; i < 100; i++) {
		if (baton_task_async(&t, return_arg, TOK(42 + i)) != 0 ||
		    baton_task_await(&t, 10000, &v, NULL) != 0 ||
		    v != TOK(42 + i))
			return 4;
	}
	return 0;
}

int
main(void)
{
	struct baton_pool_opts po = BATON_POOL_OPTS_INIT;
	baton_pool *mine;
	baton_task busy[4];
	int rounds = (int)stress_scaled(10, 3), failed = 0;

	/* TSan cannot start threads in a child of a threaded process. */
	if (STRESS_TSAN) {
		printf("fork_child: skipped under ThreadSanitizer\n");
		return 77;
	}
	if (FORK_UNSAFE_ALLOCATOR) {
		printf("fork_child: skipped under AddressSanitizer (its "
		       "allocator is not fork-safe)\n");
		return 77;
	}
	po.workers = 1;
	po.max_threads = 4;
	if (baton_pool_create_opts(&mine, &po) != 0)
		return 2;
	for (int r = 0; r < rounds; r++) {
		struct baton_task_opts o = { .pool = mine };
		int status;
		pid_t pid;

		atomic_store(&started, 0);
		atomic_store(&release, 0);
		for (int i = 0; i < 4; i++) {
			if (baton_task_async_opts(&busy[i], busy_body, TOK(i + 1),
						  i % 2 ? &o : NULL) != 0)
				return 2;
		}
		/* Odd rounds fork while bodies run; even ones right away. */
		if (r % 2)
			while (atomic_load(&started) < 2)
				sched_yield();
		pid = fork();
		if (pid < 0)
			return 2;
		if (pid == 0)
			_exit(child(mine));
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0) {
			fprintf(stderr, "round %d: child status %#x\n", r,
				status);
			failed++;
		}
		atomic_store(&release, 1);
		for (int i = 0; i < 4; i++) {
			void *v;

			if (baton_task_await(&busy[i], 10000, &v, NULL) != 0 ||
			    v != TOK(i + 1)) {
				fprintf(stderr, "round %d: parent task %d\n", r,
					i);
				failed++;
			}
		}
	}
	baton_pool_destroy(mine);
	printf("fork_child: %d rounds: %s\n", rounds, failed ? "FAILED" : "ok");
	return failed ? 1 : 0;
}
