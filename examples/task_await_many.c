/*
 * task_await_many.c - many tasks, one await: baton_task_await_many.
 *
 * Shows: the lesson's Enum.map(1..5, &Task.async(fn -> &1 * 2 end)) piped
 * into Task.await_many.  Five strict tasks double 1..5 on the default pool;
 * one call awaits them all under one 5-second deadline and hands the
 * values back in input order, whatever order the tasks finished in.
 *
 * Run:   build/examples/task_await_many
 * Prints:
 *   [2, 4, 6, 8, 10]
 */
#include <baton.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define N 5

/* Numbers travel in pointer clothing; a real body would return a pointer. */
static void *
double_it(void *arg)
{
	return (void *)((uintptr_t)arg * 2);
}

int
main(void)
{
	baton_task tasks[N];
	void *values[N];
	struct baton_exit_reason why;
	size_t failed;
	int r;

	for (uintptr_t i = 0; i < N; i++) {
		r = baton_task_async(&tasks[i], double_it, (void *)(i + 1));
		if (r != 0) {
			fprintf(stderr, "async: %s\n", strerror(-r));
			return 1;
		}
	}
	r = baton_task_await_many(tasks, N, BATON_DEFAULT_TIMEOUT, values,
				  &failed, &why);
	if (r == BATON_EXITED) {
		fprintf(stderr, "task %zu exited: %s\n", failed,
			baton_exit_kind_name(why.kind));
		return 1;
	} else if (r != 0) {
		fprintf(stderr, "await_many: %s\n", strerror(-r));
		return 1;
	}

	printf("[");
	for (uintptr_t i = 0; i < N; i++)
		printf("%s%ju", i ? ", " : "", (uintmax_t)(uintptr_t)values[i]);
	printf("]\n");
	for (uintptr_t i = 0; i < N; i++) {
		if ((uintptr_t)values[i] != (i + 1) * 2)
			return 1;
	}
	return 0;
}
