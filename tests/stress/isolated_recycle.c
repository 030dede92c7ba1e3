/*
 * isolated_recycle.c - workers are reused, and recycled after N tasks.
 * One worker, recycle_after = 3: nine tasks report their worker's pid;
 * each pid serves exactly three tasks in a row and three distinct pids
 * appear (the first task pays no fork: the worker was started ahead).
 * A second runtime is not possible in one process, so the reuse half is
 * the first three tasks sharing one pid.
 */
#include "isolated_common.h"

#define RECYCLE 3

int
main(void)
{
	int pids[3 * RECYCLE];
	struct baton_isolated_stats st;

	iso_init("isolated_recycle", 1, RECYCLE, 60);
	for (int i = 0; i < 3 * RECYCLE; i++) {
		struct baton_isolated_value v;
		baton_isolated t;
		int r = baton_isolated_async(&t, body_pid, "", 0);

		r = r ? r : baton_isolated_await(&t, 5000, &v, NULL);
		CHECK(r == 0, "task %d: %d", i, r);
		pids[i] = r == 0 ? *(int *)v.data : -1;
		if (r == 0)
			free(v.data);
	}
	for (int i = 0; i < 3 * RECYCLE; i++) {
		int first = pids[i - i % RECYCLE];

		CHECK(pids[i] == first, "task %d ran in %d, not %d", i,
		      pids[i], first);
		if (i % RECYCLE == 0 && i > 0)
			CHECK(pids[i] != pids[i - 1],
			      "task %d: not recycled (pid %d)", i, pids[i]);
	}
	iso_settle(&st);
	CHECK(st.recycled == 3 && st.died == 0 && st.spawned == 4,
	      "recycled %lu died %lu spawned %lu", (unsigned long)st.recycled,
	      (unsigned long)st.died, (unsigned long)st.spawned);
	printf("pids: %d %d %d\n", pids[0], pids[RECYCLE], pids[2 * RECYCLE]);
	return iso_finish("isolated_recycle");
}
