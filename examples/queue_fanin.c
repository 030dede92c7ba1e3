/*
 * queue_fanin.c - fan-in: one consumer selects over two queues and a
 * timeout (Go's select with a time.After case).
 *
 * Shows: baton_queue_select over two pop cases; each call fires exactly
 * one case, chosen at random when both are ready; a closed queue fires as
 * closed (result -EPIPE) and is then dropped from the cases (a NULL queue
 * never fires); a timeout when neither queue has anything for a while.
 *
 * Run:   build/examples/queue_fanin [items per producer]
 * Prints, for example:
 *   fast: 10000 items, slow: 10000 items, 2 closes, 0 idle timeouts
 *   sum ok
 */
#include <baton.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct producer {
	pthread_t thread;
	baton_queue *q;
	uintptr_t first, n;
};

static void *
produce(void *arg)
{
	struct producer *p = arg;

	for (uintptr_t i = 0; i < p->n; i++) {
		if (baton_queue_push(p->q, (void *)(p->first + i)) != 0) {
			fprintf(stderr, "push failed\n");
			exit(1);
		}
	}
	baton_queue_close(p->q); /* fires the consumer's case as closed */
	return NULL;
}

int
main(int argc, char **argv)
{
	uintptr_t n = argc > 1 ? (uintptr_t)strtoul(argv[1], NULL, 10) : 10000;
	struct producer p[2] = { { .first = 1, .n = n },
				 { .first = 1 + n, .n = n } };
	struct baton_queue_case cases[2];
	unsigned long got[2] = { 0, 0 }, closes = 0, idle = 0;
	uint64_t sum = 0;
	int open = 2;

	for (int i = 0; i < 2; i++) {
		if (baton_queue_create(&p[i].q, i == 0 ? 64 : 4, NULL) != 0)
			return 1;
		cases[i] = (struct baton_queue_case){
			.kind = BATON_QUEUE_CASE_POP, .queue = p[i].q };
		if (pthread_create(&p[i].thread, NULL, produce, &p[i]) != 0)
			return 1;
	}
	while (open > 0) {
		/* Wait at most 1 s for either queue. */
		int i = baton_queue_select(cases, 2, 1000);

		if (i == -ETIMEDOUT) {
			idle++;
			continue;
		}
		if (i < 0) {
			fprintf(stderr, "select: %d\n", i);
			return 1;
		}
		if (cases[i].result == -EPIPE) {
			closes++;
			open--;
			cases[i].queue = NULL; /* never fires again */
			continue;
		}
		got[i]++;
		sum += (uintptr_t)cases[i].item;
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(p[i].thread, NULL);
		baton_queue_destroy(p[i].q);
	}
	printf("fast: %lu items, slow: %lu items, %lu closes, %lu idle "
	       "timeouts\n", got[0], got[1], closes, idle);
	/* 1 + 2 + ... + 2n */
	if (got[0] != n || got[1] != n || sum != (uint64_t)n * (2 * n + 1)) {
		printf("sum WRONG\n");
		return 1;
	}
	printf("sum ok\n");
	return 0;
}
