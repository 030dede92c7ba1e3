/*
 * api_fuzz.c - a single-threaded API-sequence fuzzer (libFuzzer) for the
 * queue, the shareable futures and the strict tasks, checked against a
 * reference model.  See tests/fuzz/README for how to run it.
 *
 * Design notes
 * ============
 * The input is a sequence of operations: one opcode byte, then the bytes
 * that operation reads (a missing byte reads as 0).  The operations act on
 * small fixed sets of slots: MAX_QUEUES queues, MAX_FUTURES future records
 * (promise-backed futures, futures made from tasks, and continuations of
 * futures that can never succeed), and MAX_TASKS strict tasks made with
 * baton_task_completed.  Nothing ever blocks and nothing runs on a pool:
 * a blocking or timed call is only made when the model says it returns at
 * once, and then() is only called on an input that has failed or is still
 * pending (a pending input with a pending continuation is never fulfilled),
 * so a continuation never reaches a pool.  Every run is deterministic.
 *
 * The model predicts, before each call, every return code, every item or
 * value handed back, every value destructor that the call runs (the exact
 * set of tokens), every completion callback (in order, with what a peek
 * inside it sees), and the number of live result cells afterwards.  Any
 * divergence aborts with the operation's number and the failed check.
 *
 * Ownership: every item and value is a distinct heap token.  Each token is
 * owned by the fuzzer or by the library at any time; the library may free
 * one only through token_destroy, and only when the model expected it.
 * Tokens the library hands back (pops, takes, awaits, discards, a value
 * dropped without a destructor) are checked and freed by the fuzzer, so
 * ASan reports a double free or a use after free, and the end-of-input
 * teardown proves every token and every cell was released exactly once.
 *
 * Each input runs on a thread of its own, joined before the final checks,
 * so that the thread's exit is checked too: tasks it still owns are
 * stopped, reported to the orphan hook and released, and its cache of
 * free cells goes back to the shared list.
 *
 * Files: fuzz.h (what the parts share), model.c (the reference model, the
 * token ledger and the per-operation checks), ops_queue.c, ops_future.c,
 * ops_task.c (the operations), this file (the driver and the teardown).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* Releases everything, as a program would at its end. */
static void
teardown(void)
{
	begin_op("teardown_tasks");
	for (int i = 0; i < MAX_TASKS && !leave_tasks; i++) {
		if (!tasks[i].live)
			continue;
		task_drop_value(&tasks[i]);
		CHECK(baton_task_ignore(&tasks[i].h, NULL, NULL) >= 0);
		tasks[i].live = false;
	}
	end_op();
	for (int i = 0; i < MAX_FUTURES; i++) {
		if (!futs[i].live || !futs[i].promise_live)
			continue;
		begin_op("teardown_promise_destroy");
		if (futs[i].state == F_PENDING)
			complete(i, F_BROKEN, &broken_reason);
		futs[i].promise_live = false;
		maybe_free(i);
		baton_promise_destroy(futs[i].p);
		end_op();
	}
	for (int i = 0; i < MAX_QUEUES; i++) {
		if (!queues[i].live)
			continue;
		begin_op("teardown_queue_destroy");
		q_destroy_model(&queues[i]);
		baton_queue_destroy(queues[i].q);
		queues[i].live = false;
		end_op();
	}
	for (int i = 0; i < MAX_FUTURES; i++) {
		while (futs[i].live && futs[i].held > 0) {
			begin_op("teardown_future_unref");
			futs[i].held--;
			maybe_free(i);
			baton_future_unref(futs[i].f);
			end_op();
		}
	}
	if (leave_tasks) {
		/*
		 * The thread's exit stops, reports and releases what it still
		 * owns; the checks run once it has been joined.
		 */
		begin_op("thread_exit");
		for (int i = 0; i < MAX_TASKS; i++) {
			if (!tasks[i].live)
				continue;
			task_drop_value(&tasks[i]);
			tasks[i].live = false;
			orphans_expected++;
		}
	}
}

/* After the input's thread has been joined. */
static void
final_check(void)
{
	if (leave_tasks)
		end_op(); /* the thread_exit op */
	begin_op("final_check");
	CHECK_EQ(orphans_seen, orphans_expected);
	for (int i = 0; i < MAX_FUTURES; i++)
		CHECK(!futs[i].live);
	for (unsigned int k = 0; k < ntoks; k++)
		CHECK_EQ(toks[k].owner, OWN_NONE);
	CHECK_EQ(live_cells(), 0);
	end_op();
}

typedef void (*op_fn)(void);

static const op_fn ops[] = {
	op_queue_create, op_queue_destroy, op_queue_push,
	op_queue_push_many, op_queue_pop, op_queue_pop_many,
	op_queue_close, op_queue_null, op_promise_create,
	op_promise_fulfil, op_promise_fail, op_promise_destroy,
	op_future_ref, op_future_wait, op_future_access,
	op_future_cancel, op_future_on_done, op_future_then,
	op_task_completed, op_task_await, op_task_ignore,
	op_task_info, op_task_to_future, op_task_stale,
	op_task_many, op_misc,
	/* The common ones twice, so random bytes exercise them more. */
	op_queue_push, op_queue_pop, op_promise_create, op_future_access,
	op_future_bulk,
};

#define NOPS (sizeof(ops) / sizeof(ops[0]))

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *t = getenv("API_FUZZ_TRACE");

	(void)argc;
	(void)argv;
	trace = t != NULL && *t != '\0' && *t != '0';
	baton_set_orphan_hook(orphan_hook, &orphans_expected);
	return 0;
}

/*
 * Each input runs on a thread of its own, so that its exit (the owned
 * tasks left behind, the thread's cell cache) is part of what is checked.
 */
static void *
run_input(void *arg)
{
	(void)arg;
	while (in_i < in_n)
		ops[u8() % NOPS]();
	teardown();
	return NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	memset(queues, 0, sizeof(queues));
	memset(futs, 0, sizeof(futs));
	memset(tasks, 0, sizeof(tasks));
	ntoks = 0;
	nstale = 0;
	next_ctx = 0;
	op_no = 0;
	in_p = data;
	in_n = size;
	in_i = 0;
	leave_tasks = false;
	waits_left = WAITS_PER_INPUT;
	orphans_expected = orphans_seen = 0;

	pthread_t thread;

	CHECK(pthread_create(&thread, NULL, run_input, NULL) == 0);
	CHECK(pthread_join(thread, NULL) == 0);
	final_check();
	return 0;
}

