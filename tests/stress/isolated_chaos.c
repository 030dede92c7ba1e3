/*
 * isolated_chaos.c - 1,000 tasks (BATON_STRESS_SCALE), 10% of them
 * crashing at random (SIGSEGV, abort, _exit, an error code), up to 16 in
 * flight on 2 workers, while every ~50th await a worker is SIGKILLed from
 * outside: every task resolves exactly once, each healthy task returns
 * its own input times three, each crash is reported as its own kind (or
 * as the outside SIGKILL, counted), and the runtime's counts balance.
 * Then the same through baton_isolated_map: one crashing element ends
 * only itself.
 */
#include "isolated_common.h"

#define WORKERS 2
#define WINDOW 16

static int
body_triple(const void *a, size_t n, void *out, size_t *ol)
{
	uint64_t x;

	if (n != sizeof(x))
		return EINVAL;
	memcpy(&x, a, sizeof(x));
	switch (x >> 56) {
	case 1:
		return body_segv(a, n, out, ol);
	case 2:
		abort();
	case 3:
		_exit(9);
	case 4:
		return 77;
	}
	x *= 3;
	memcpy(out, &x, sizeof(x));
	*ol = sizeof(x);
	return 0;
}

struct slot_rec {
	baton_isolated t;
	uint64_t in;
};

int
main(void)
{
	uint64_t n = stress_scaled(1000, 50), seed = stress_seed();
	uint64_t ok = 0, crashed = 0, outside = 0, want_crash = 0, kills = 0;
	struct stress_rng rng;
	struct slot_rec *w = calloc(n, sizeof(*w));
	struct baton_isolated_stats st;
	uint8_t *seen = calloc(n, 1);

	iso_init("isolated_chaos", WORKERS, 0, 120);
	printf("isolated_chaos: seed=%#llx n=%llu\n", (unsigned long long)seed,
	       (unsigned long long)n);
	stress_rng_init(&rng, seed, 0);
	for (uint64_t i = 0, next = 0; i < n; i++) {
		struct baton_isolated_value v;
		struct baton_exit_reason why;
		uint64_t kind;
		int r;

		for (; next < n && next < i + WINDOW; next++) {
			kind = stress_rng_below(&rng, 10) == 0
				   ? 1 + stress_rng_below(&rng, 4)
				   : 0;
			want_crash += kind != 0;
			w[next].in = (kind << 56) | next;
			r = baton_isolated_async(&w[next].t, body_triple,
						 &w[next].in,
						 sizeof(w[next].in));
			CHECK(r == 0, "async %llu: %d",
			      (unsigned long long)next, r);
		}
		if (stress_rng_below(&rng, 50) == 0) {
			int pids[WORKERS];
			size_t k = baton_isolated_worker_pids(pids, WORKERS);

			if (k > 0) {
				kill(pids[stress_rng_below(&rng, k)], SIGKILL);
				kills++;
			}
		}
		r = baton_isolated_await(&w[i].t, 10000, &v, &why);
		kind = w[i].in >> 56;
		CHECK(seen[i]++ == 0, "task %llu resolved twice",
		      (unsigned long long)i);
		if (r == 0) {
			uint64_t x;

			memcpy(&x, v.data, sizeof(x));
			CHECK(kind == 0 && v.len == 8 && x == 3 * i,
			      "task %llu: value %llu kind %llu",
			      (unsigned long long)i, (unsigned long long)x,
			      (unsigned long long)kind);
			free(v.data);
			ok++;
		} else if (r == BATON_EXITED && why.code == SIGKILL &&
			   why.kind == BATON_EXIT_KILLED) {
			outside++; /* our own outside kill hit it */
			want_crash -= kind != 0;
		} else if (r == BATON_EXITED) {
			int c = why.code;

			CHECK((kind == 1 && c == SIGSEGV) ||
				  (kind == 2 && c == SIGABRT) ||
				  (kind == 3 && c == 9 &&
				   baton_isolated_reason_signal(&why) == 0) ||
				  (kind == 4 && c == 77),
			      "task %llu: kind %llu gave code %d (%s)",
			      (unsigned long long)i, (unsigned long long)kind,
			      c, why.message);
			crashed++;
		} else {
			stress_fail("task %llu: await %d",
				    (unsigned long long)i, r);
		}
		stress_progress_add(1);
	}
	CHECK(ok + crashed + outside == n && crashed == want_crash &&
		  outside <= kills,
	      "ok %llu crashed %llu (want %llu) outside %llu/%llu of %llu",
	      (unsigned long long)ok, (unsigned long long)crashed,
	      (unsigned long long)want_crash, (unsigned long long)outside,
	      (unsigned long long)kills, (unsigned long long)n);
	printf("tasks: %llu ok, %llu crashed as asked, %llu hit by %llu "
	       "outside kills\n",
	       (unsigned long long)ok, (unsigned long long)crashed,
	       (unsigned long long)outside, (unsigned long long)kills);

	/* The isolated stream: map over 100 inputs, every 10th crashes. */
	{
		enum { M = 100 };
		struct baton_isolated_input in[M];
		struct baton_isolated_result res[M];
		struct baton_isolated_map_opts mo = { 4, 5000 };
		uint64_t vals[M];
		ptrdiff_t got;

		for (int i = 0; i < M; i++) {
			vals[i] = (i % 10 == 5 ? (uint64_t)1 << 56 : 0) |
				  (uint64_t)i;
			in[i] = (struct baton_isolated_input){ &vals[i], 8 };
		}
		got = baton_isolated_map(body_triple, in, M, &mo, res);
		CHECK(got == M - M / 10, "map: %td values", got);
		for (int i = 0; i < M; i++) {
			if (i % 10 == 5) {
				CHECK(res[i].status == BATON_EXITED &&
					  res[i].reason.code == SIGSEGV,
				      "map %d: %d", i, res[i].status);
			} else {
				CHECK(res[i].status == 0 &&
					  *(uint64_t *)res[i].value.data ==
					      3 * (uint64_t)i,
				      "map %d: %d", i, res[i].status);
				free(res[i].value.data);
			}
		}
		printf("map: %td values, %d crashed elements\n", got, M / 10);
	}
	iso_settle(&st);
	CHECK(st.tasks == n + 100, "tasks %lu", (unsigned long)st.tasks);
	free(w);
	free(seen);
	return iso_finish("isolated_chaos");
}
