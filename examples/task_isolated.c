/*
 * task_isolated.c - isolated tasks: a crash is an answer, a kill is a kill.
 *
 * Shows: four parsers run in worker processes.  One input makes its body
 * read an unmapped address (SIGSEGV), one makes it loop forever; the
 * healthy ones return their value.  All are awaited together with
 * yield_many, which returns once three replied (limit 3); the looping one
 * is then shut down brutally: its worker is SIGKILLed, and the program,
 * which never crashed, goes on.
 *
 * Run:   build/examples/task_isolated   (well under a second)
 * Prints, for example:
 *   "12": value 24
 *   "crash": exited: worker died of SIGSEGV (segmentation fault) (11)
 *   "30": value 60
 *   "loop": no reply; brutal shutdown: BATON_NOREPLY (worker killed)
 */
#include <baton.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Doubles a decimal number; "crash" and "loop" are the buggy inputs. */
static int
parse_double(const void *arg, size_t len, void *out, size_t *out_len)
{
	char text[32] = { 0 };
	volatile uintptr_t nowhere = 16; /* an unmapped page */
	long v;

	memcpy(text, arg, len < sizeof(text) - 1 ? len : sizeof(text) - 1);
	if (strcmp(text, "crash") == 0)
		return *(volatile int *)nowhere; /* SIGSEGV: this worker only */
	while (strcmp(text, "loop") == 0)
		;                          /* forever: needs a real kill */
	v = strtol(text, NULL, 10) * 2;
	memcpy(out, &v, sizeof(v));
	*out_len = sizeof(v);
	return 0;
}

int
main(void)
{
	static const char *inputs[] = { "12", "crash", "30", "loop" };
	enum { N = sizeof(inputs) / sizeof(inputs[0]) };
	struct baton_yield_many_opts opts = { BATON_DEFAULT_TIMEOUT, N - 1,
					      BATON_ON_TIMEOUT_NOTHING };
	struct baton_isolated_result res[N];
	baton_isolated tasks[N];
	int r;

/* README: isolated */
	/* First thing in main, before any thread: forks the fork server. */
	struct baton_isolated_config cfg = BATON_ISOLATED_CONFIG_INIT;
	cfg.workers = N;
	if ((r = baton_isolated_init(&cfg)) != 0) {
		fprintf(stderr, "baton_isolated_init: %d\n", r);
		return 1;
	}
	for (int i = 0; i < N; i++) {
		r = baton_isolated_async(&tasks[i], parse_double, inputs[i],
					 strlen(inputs[i]));
		if (r != 0) {
			fprintf(stderr, "baton_isolated_async: %d\n", r);
			return 1;
		}
	}
	if (baton_isolated_yield_many(tasks, N, &opts, res) < 0)
		return 1;
	for (int i = 0; i < N; i++) {
		if (res[i].status == 0) {
			printf("\"%s\": value %ld\n", inputs[i],
			       *(long *)res[i].value.data);
			free(res[i].value.data);
		} else if (res[i].status == BATON_EXITED) {
			printf("\"%s\": exited: %s (%d)\n", inputs[i],
			       res[i].reason.text, res[i].reason.code);
		} else {
			r = baton_isolated_shutdown_brutal(&tasks[i], NULL,
							   NULL);
			printf("\"%s\": no reply; brutal shutdown: %s\n",
			       inputs[i],
			       r == BATON_NOREPLY ? "BATON_NOREPLY (worker killed)"
						  : "?");
			if (r != BATON_NOREPLY)
				return 1;
		}
	}
/* README: end */
	baton_isolated_fini();
	return res[0].status == 0 && res[1].status == BATON_EXITED &&
		       res[2].status == 0 && res[3].status == -ETIMEDOUT
		   ? 0
		   : 1;
}
