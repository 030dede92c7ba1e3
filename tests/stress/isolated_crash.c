/*
 * isolated_crash.c - a crash is an answer.  Each crash kind (SIGSEGV,
 * SIGABRT, _exit mid-body, SIGKILL from outside while busy, a body's
 * error code) gives its awaiter BATON_EXITED with a reason naming the
 * signal or status, while healthy tasks pending beside it (blocked on a
 * handshake) all still deliver their values.  Also: a worker killed from
 * outside while idle is replaced and nobody fails; resource limits
 * (CPU seconds, address space) turn into exit reasons; value round trips
 * at the size limit; owner and stale-handle rules.
 */
#include <pthread.h>

#include "isolated_common.h"

#define WORKERS 3

/* Under ASan or TSan, an allocation past RLIMIT_AS must return NULL, as
 * it does without them. */
const char *__asan_default_options(void);
const char *__tsan_default_options(void);
const char *
__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}
const char *
__tsan_default_options(void)
{
	return "allocator_may_return_null=1";
}

/* Starts `healthy` gated tasks, then one with fn; checks fn's reason and
 * that every healthy task still delivers. */
static void
crash_beside_healthy(const char *name, baton_isolated_fn fn, bool kill_it,
		     enum baton_exit_kind kind, int code, int sig)
{
	baton_isolated h[WORKERS - 1], t;
	struct baton_isolated_value v;
	struct baton_exit_reason why;
	int r;

	for (int i = 0; i < WORKERS - 1; i++) {
		r = baton_isolated_async(&h[i], body_gated, &i, sizeof(i));
		CHECK(r == 0, "%s: async healthy %d", name, r);
		wait_started();
	}
	r = baton_isolated_async(&t, fn, "", 0);
	CHECK(r == 0, "%s: async %d", name, r);
	if (kill_it) {
		int pid = wait_started();

		CHECK(pid == baton_isolated_task_pid(&t),
		      "%s: task pid %d", name, pid);
		kill(pid, SIGKILL);
	}
	r = baton_isolated_await(&t, 5000, &v, &why);
	CHECK(r == BATON_EXITED, "%s: await %d", name, r);
	CHECK(r != BATON_EXITED || (why.kind == kind && why.code == code &&
				    why.message != NULL),
	      "%s: reason kind %d code %d (%s)", name, why.kind, why.code,
	      why.message ? why.message : "-");
	CHECK(baton_isolated_reason_signal(&why) == sig,
	      "%s: reason_signal %d, want %d", name,
	      baton_isolated_reason_signal(&why), sig);
	release(WORKERS - 1);
	for (int i = 0; i < WORKERS - 1; i++) {
		r = baton_isolated_await(&h[i], 5000, &v, &why);
		CHECK(r == 0 && v.len == sizeof(int) && *(int *)v.data == i,
		      "%s: healthy %d gave %d", name, i, r);
		if (r == 0)
			free(v.data);
	}
	printf("%s: %s\n", name, why.message ? why.message : "-");
}

static bool
died_and_back(const struct baton_isolated_stats *st, void *ctx)
{
	uint64_t *died = ctx;

	return st->died > *died && st->live_workers == WORKERS;
}

static void
idle_worker_killed(void)
{
	struct baton_isolated_stats st;
	baton_isolated t[2 * WORKERS];
	int pids[WORKERS];
	uint64_t died;
	size_t n;

	iso_settle(&st);
	died = st.died;
	n = baton_isolated_worker_pids(pids, WORKERS);
	CHECK(n == WORKERS, "idle: %zu live workers", n);
	kill(pids[0], SIGKILL);
	CHECK(stats_until(died_and_back, &died, &st),
	      "idle: worker not replaced (died %lu live %u)",
	      (unsigned long)st.died, st.live_workers);
	for (int i = 0; i < 2 * WORKERS; i++)
		CHECK(baton_isolated_async(&t[i], body_pid, "", 0) == 0,
		      "idle: async");
	for (int i = 0; i < 2 * WORKERS; i++) {
		struct baton_isolated_value v;
		int r = baton_isolated_await(&t[i], 5000, &v, NULL);

		CHECK(r == 0 && *(int *)v.data != pids[0],
		      "idle: task %d gave %d", i, r);
		if (r == 0)
			free(v.data);
	}
	/* Again, every worker at once, and post before the program can know:
	 * requests reach dead workers, which never took them, so they go to
	 * the replacements (SIGKILL is final: no user code runs after it). */
	iso_settle(&st);
	n = baton_isolated_worker_pids(pids, WORKERS);
	for (size_t i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	for (int i = 0; i < 2 * WORKERS; i++)
		CHECK(baton_isolated_async(&t[i], body_pid, "", 0) == 0,
		      "idle: async");
	for (int i = 0; i < 2 * WORKERS; i++) {
		struct baton_exit_reason why = BATON_EXIT_REASON(0, 0, NULL);
		struct baton_isolated_value v;
		int r = baton_isolated_await(&t[i], 5000, &v, &why);

		CHECK(r == 0, "idle, all killed: task %d gave %d (%s)", i, r,
		      why.message ? why.message : "-");
		if (r == 0)
			free(v.data);
	}
	printf("idle workers killed from outside: replaced, requests they "
	       "never took rerun, no task failed\n");
}

static int
body_cpu(const void *a, size_t n, void *out, size_t *ol)
{
	(void)a, (void)n, (void)out, (void)ol;
	while (!never_set)
		;
	return 0;
}

static int
body_alloc(const void *a, size_t n, void *out, size_t *ol)
{
	char *p = malloc((size_t)256 << 20);

	(void)a, (void)n, (void)out, (void)ol;
	if (p == NULL)
		return ENOMEM;
	memset(p, 1, (size_t)256 << 20);
	free(p);
	return 0;
}

static void
limits(void)
{
	struct baton_isolated_opts cpu = BATON_ISOLATED_OPTS_INIT;
	struct baton_isolated_opts as = BATON_ISOLATED_OPTS_INIT;
	struct baton_exit_reason why;
	baton_isolated t;
	int r;

	cpu.cpu_seconds = 1;
	as.address_space = (size_t)32 << 20;
	r = baton_isolated_async_opts(&t, body_cpu, "", 0, &cpu);
	r = r ? r : baton_isolated_await(&t, 10000, NULL, &why);
	CHECK(r == BATON_EXITED && why.code == SIGXCPU,
	      "cpu limit: %d code %d", r, why.code);
	r = baton_isolated_async_opts(&t, body_alloc, "", 0, &as);
	r = r ? r : baton_isolated_await(&t, 10000, NULL, &why);
	CHECK(r == BATON_EXITED && why.kind == BATON_EXIT_ERROR &&
		  why.code == ENOMEM,
	      "address-space limit: %d code %d", r, why.code);
	/* The limits were per task: the same workers run big bodies now. */
	for (int i = 0; i < WORKERS; i++) {
		r = baton_isolated_async(&t, body_alloc, "", 0);
		r = r ? r : baton_isolated_await(&t, 10000, NULL, &why);
		CHECK(r == 0, "no limit after a limited task: %d", r);
	}
	printf("limits: SIGXCPU and ENOMEM reported, then lifted\n");
}

static baton_isolated shared_task;
static int other_rc;

static void *
other_thread(void *arg)
{
	(void)arg;
	other_rc = baton_isolated_await(&shared_task, 100, NULL, NULL);
	return NULL;
}

static void
values_and_rules(void)
{
	static unsigned char big[BATON_ISOLATED_MAX_BYTES];
	struct baton_isolated_value v;
	struct baton_exit_reason why;
	baton_isolated t, copy;
	pthread_t th;
	int r;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)(i * 7);
	r = baton_isolated_async(&t, body_echo, big, sizeof(big));
	r = r ? r : baton_isolated_await(&t, 5000, &v, NULL);
	CHECK(r == 0 && v.len == sizeof(big) &&
		  memcmp(v.data, big, sizeof(big)) == 0,
	      "max-size round trip: %d", r);
	if (r == 0)
		free(v.data);
	r = baton_isolated_async(&t, body_echo, "", 0);
	r = r ? r : baton_isolated_await(&t, 5000, &v, NULL);
	CHECK(r == 0 && v.len == 0, "empty round trip: %d", r);
	if (r == 0)
		free(v.data);
	CHECK(baton_isolated_async(&t, body_echo, big, sizeof(big) + 1) ==
		  -E2BIG,
	      "oversize argument");
	r = baton_isolated_async(&t, body_error, "", 0);
	r = r ? r : baton_isolated_await(&t, 5000, NULL, &why);
	CHECK(r == BATON_EXITED && why.kind == BATON_EXIT_ERROR &&
		  why.code == 42 && baton_isolated_reason_signal(&why) == 0,
	      "body error: %d code %d", r, why.code);
	/* Owner rules: another thread gets -EPERM, the task is untouched. */
	CHECK(baton_isolated_async(&shared_task, body_echo, "ok", 3) == 0,
	      "async");
	stress_thread_create(&th, other_thread, NULL);
	pthread_join(th, NULL);
	CHECK(other_rc == -EPERM, "non-owner await: %d", other_rc);
	copy = shared_task;
	r = baton_isolated_await(&shared_task, 5000, &v, NULL);
	CHECK(r == 0 && strcmp(v.data, "ok") == 0, "owner await: %d", r);
	if (r == 0)
		free(v.data);
	CHECK(baton_isolated_await(&copy, 0, NULL, NULL) == -ESTALE,
	      "stale copy");
	CHECK(baton_isolated_await(&shared_task, 0, NULL, NULL) == -ESTALE,
	      "consumed handle");
	CHECK(baton_isolated_await(NULL, 0, NULL, NULL) == -EINVAL, "NULL");
	printf("values and rules: 64 KiB and empty round trips, -E2BIG, "
	       "error code, -EPERM, -ESTALE\n");
}

int
main(void)
{
	iso_init("isolated_crash", WORKERS, 0, 60);
	values_and_rules();
	crash_beside_healthy("SIGSEGV", body_segv, false, BATON_EXIT_ERROR,
			     SIGSEGV, SIGSEGV);
	crash_beside_healthy("SIGABRT", body_abort, false, BATON_EXIT_ERROR,
			     SIGABRT, SIGABRT);
	crash_beside_healthy("_exit(7)", body_exit7, false, BATON_EXIT_ERROR,
			     7, 0);
	crash_beside_healthy("SIGKILL from outside while busy", body_spin,
			     true, BATON_EXIT_KILLED, SIGKILL, SIGKILL);
	idle_worker_killed();
	limits();
	return iso_finish("isolated_crash");
}
