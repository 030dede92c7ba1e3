/*
 * ops_task.c - api_fuzz's strict task operations, on tasks made with
 * baton_task_completed (already done, owned by the input's thread).
 *
 * Design notes
 * ============
 * Every consuming call (await, yield, shutdown, shutdown_brutal, ignore,
 * to_future, await_many, yield_many) hands the value over or drops it
 * through its destructor, and makes the handle and all its copies stale:
 * consumed handles are kept in a small ring and every call on one must
 * fail with -ESTALE and change nothing.  Refused calls (bad timeout,
 * duplicate or stale handle in a list) consume nothing.  Tasks still
 * owned when the input's thread exits are stopped, reported to the orphan
 * hook and released by the thread's exit.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

static int
pick_task(uint8_t sel)
{
	for (int k = 0; k < MAX_TASKS; k++) {
		int i = (sel + k) % MAX_TASKS;

		if (tasks[i].live)
			return i;
	}
	return -1;
}

void
op_task_completed(void)
{
	uint8_t sel = u8(), v = u8();
	struct token *t = item_new(v);
	baton_task h;
	int i = -1;

	begin_op("task_completed");
	for (int k = 0; k < MAX_TASKS && i < 0; k++) {
		if (!tasks[(sel + k) % MAX_TASKS].live)
			i = (sel + k) % MAX_TASKS;
	}
	if (i < 0 || (v >> 4) == 15) {
		CHECK_EQ(baton_task_completed(NULL, t, token_destroy),
			 -EINVAL);
		tok_free(t);
		DONE();
	}
	tok_give(t);
	CHECK_EQ(baton_task_completed(&h, t, (v & 8) ? NULL : token_destroy),
		 0);
	CHECK(!zero_handle_check(&h));
	tasks[i].live = true;
	tasks[i].h = h;
	tasks[i].value = t;
	tasks[i].has_destroy = !(v & 8);
	end_op();
}

/* The task's value, dropped by a consuming call that did not take it. */
void
task_drop_value(struct mtask *mt)
{
	if (mt->value == NULL)
		return;
	if (mt->has_destroy)
		tok_expect_destroy(mt->value);
	else
		tok_expect_orphan(mt->value);
}

/*
 * await, yield, shutdown and shutdown_brutal of a completed task all hand
 * over its value and consume it.
 */
void
op_task_await(void)
{
	int i = pick_task(u8());
	uint8_t v = u8(), how = u8();
	struct baton_exit_reason why = { 0 };
	void *sentinel = &sentinel;
	void *value = sentinel;
	struct mtask *mt;
	baton_task copy, *h;
	bool want_value = !(v & 1);
	int r;

	begin_op("task_await");
	if (i < 0) {
		CHECK_EQ(baton_task_await(NULL, 0, &value, &why), -EINVAL);
		CHECK_EQ(baton_task_yield(NULL, 0, &value, &why), -EINVAL);
		CHECK_EQ(baton_task_ignore(NULL, NULL, NULL), -EINVAL);
		DONE();
	}
	mt = &tasks[i];
	copy = mt->h;
	/* Through a copy: the original becomes stale. */
	h = (v & 2) ? &copy : &mt->h;
	if ((v >> 4) == 15) {
		op_name = "task_await(bad timeout)";
		CHECK_EQ((how & 1) ? baton_task_yield(h, -2, &value, &why)
				   : baton_task_await(h, -5, &value, &why),
			 -EINVAL);
		CHECK(value == sentinel);
		DONE();
	}
	if (want_value)
		tok_back(mt->value);
	else
		task_drop_value(mt);
	switch (how % 6) {
	case 0:
		r = baton_task_await(h, 0, want_value ? &value : NULL, &why);
		break;
	case 1:
		op_name = "task_await(inf)";
		r = baton_task_await(h, BATON_INFINITY,
				     want_value ? &value : NULL, NULL);
		break;
	case 2:
		op_name = "task_yield(0)";
		r = baton_task_yield(h, 0, want_value ? &value : NULL, &why);
		break;
	case 3:
		op_name = "task_yield(5)";
		r = baton_task_yield(h, 5, want_value ? &value : NULL, &why);
		break;
	case 4:
		op_name = "task_shutdown(0)";
		r = baton_task_shutdown(h, 0, want_value ? &value : NULL,
					&why);
		break;
	default:
		op_name = "task_shutdown_brutal";
		r = baton_task_shutdown_brutal(h, want_value ? &value : NULL,
					       &why);
		break;
	}
	CHECK_EQ(r, 0);
	CHECK(zero_handle_check(h));
	remember_stale(h == &copy ? mt->h : copy);
	mt->live = false;
	if (want_value) {
		CHECK(value == mt->value);
		tok_free(value);
	}
	end_op();
}

void
op_task_ignore(void)
{
	int i = pick_task(u8());
	struct mtask *mt;

	begin_op("task_ignore");
	if (i < 0)
		DONE();
	mt = &tasks[i];
	task_drop_value(mt);
	remember_stale(mt->h);
	CHECK(baton_task_ignore(&mt->h, NULL, NULL) >= 0);
	CHECK(zero_handle_check(&mt->h));
	mt->live = false;
	end_op();
}

void
op_task_info(void)
{
	int i = pick_task(u8());
	struct baton_task_info info;

	begin_op("task_info");
	if (i < 0)
		DONE();
	CHECK_EQ(baton_task_info(&tasks[i].h, NULL), -EINVAL);
	CHECK_EQ(baton_task_info(&tasks[i].h, &info), 0);
	CHECK_EQ(info.state, BATON_TASK_DONE);
	CHECK(!info.stop_requested);
	CHECK_EQ(info.owner_tid, gettid());
	CHECK(info.label == NULL);
	CHECK(info.fn == NULL);
	end_op();
}

void
op_task_to_future(void)
{
	int i = pick_task(u8());
	uint8_t sel = u8();
	baton_future *f = (baton_future *)&f;
	struct mtask *mt;
	int j;

	begin_op("task_to_future");
	if (i < 0) {
		CHECK_EQ(baton_task_to_future(NULL, &f), -EINVAL);
		DONE();
	}
	mt = &tasks[i];
	if ((sel >> 4) == 15) {
		CHECK_EQ(baton_task_to_future(&mt->h, NULL), -EINVAL);
		DONE();
	}
	j = free_future_slot(sel);
	if (j < 0)
		DONE();
	baton_task saved = mt->h;

	CHECK_EQ(baton_task_to_future(&mt->h, &f), 0);
	CHECK(zero_handle_check(&mt->h));
	remember_stale(saved);
	mt->live = false;
	future_init(j, f);
	futs[j].state = F_FULFILLED;
	futs[j].value = mt->value;
	futs[j].has_destroy = mt->has_destroy;
	end_op();
}

/* Stale and zeroed handles: -ESTALE, and nothing changes. */
void
op_task_stale(void)
{
	uint8_t sel = u8(), v = u8();
	struct baton_exit_reason why;
	struct baton_task_info info;
	baton_future *f = (baton_future *)&f;
	void *value = NULL;
	baton_task h;

	begin_op("task_stale");
	if (nstale == 0 || (v & 8)) {
		memset(&h, 0, sizeof(h));
	} else {
		unsigned int n = nstale < MAX_STALE ? nstale : MAX_STALE;

		h = stale[sel % n];
	}
	baton_task keep = h;

	switch (v % 8) {
	case 0:
		CHECK_EQ(baton_task_await(&h, 0, &value, &why), -ESTALE);
		break;
	case 1:
		CHECK_EQ(baton_task_yield(&h, 0, &value, &why), -ESTALE);
		break;
	case 2:
		CHECK_EQ(baton_task_ignore(&h, NULL, NULL), -ESTALE);
		break;
	case 3:
		CHECK_EQ(baton_task_info(&h, &info), -ESTALE);
		break;
	case 4:
		CHECK_EQ(baton_task_to_future(&h, &f), -ESTALE);
		CHECK(f == NULL);
		break;
	case 5:
		CHECK_EQ(baton_task_shutdown(&h, 0, &value, &why), -ESTALE);
		break;
	case 6:
		CHECK_EQ(baton_task_shutdown_brutal(&h, &value, &why),
			 -ESTALE);
		break;
	default:
		CHECK_EQ(baton_task_await(&h, -2, &value, &why), -ESTALE);
		break;
	}
	CHECK(memcmp(&h, &keep, sizeof(h)) == 0);
	end_op();
}

/*
 * await_many / yield_many over up to 4 handles, which may name a task
 * twice (-EINVAL) or be stale (-ESTALE): the first bad one decides and
 * nothing is consumed.
 */
void
op_task_many(void)
{
	uint8_t v = u8(), n = u8() % 5;
	baton_task hs[4];
	int idx[4];
	void *values[4];
	struct baton_yield_result res[4];
	struct baton_exit_reason why;
	size_t failed = 99;
	int want = 0;
	bool seen[MAX_TASKS] = { false };
	ptrdiff_t r;

	begin_op("task_await_many");
	for (int k = 0; k < n; k++) {
		uint8_t sel = u8();

		idx[k] = -1;
		if ((sel & 31) == 31 && nstale > 0) {
			unsigned int m = nstale < MAX_STALE ? nstale
							    : MAX_STALE;

			hs[k] = stale[(sel >> 5) % m];
			if (want == 0)
				want = -ESTALE;
			continue;
		}
		int i = pick_task(sel);

		if (i < 0) {
			memset(&hs[k], 0, sizeof(hs[k]));
			if (want == 0)
				want = -ESTALE;
			continue;
		}
		hs[k] = tasks[i].h;
		idx[k] = i;
		if (seen[i] && want == 0)
			want = -EINVAL;
		seen[i] = true;
	}
	if (v & 1) {
		uint8_t w = u8();
		struct baton_yield_many_opts o = {
			/* limit >= n (and >= 1, 0 is -EINVAL): every
			 * finished task is reported. */
			0, (size_t)(w >> 4) + (size_t)n + 1,
			(enum baton_on_timeout)((w >> 1) % 3)
		};
		bool use_opts = !(w & 1);

		op_name = "task_yield_many";
		if (use_opts && (w & 6) == 6) {
			/* Checked before any handle. */
			o.on_timeout = (enum baton_on_timeout)3;
			want = -EINVAL;
		}
		if (want == 0) {
			for (int k = 0; k < n; k++)
				tok_back(tasks[idx[k]].value);
		}
		r = baton_task_yield_many(hs, n, use_opts ? &o : NULL, res);
		CHECK_EQ(r, want == 0 ? n : want);
		for (int k = 0; k < n && want == 0; k++) {
			CHECK_EQ(res[k].status, 0);
			CHECK(res[k].value == tasks[idx[k]].value);
		}
	} else {
		if (want == 0) {
			for (int k = 0; k < n; k++)
				tok_back(tasks[idx[k]].value);
		}
		r = baton_task_await_many(hs, n, (v & 2) ? BATON_INFINITY : 0,
					  values, &failed, &why);
		CHECK_EQ(r, want);
		CHECK_EQ(failed, 99);
		for (int k = 0; k < n && want == 0; k++)
			CHECK(values[k] == tasks[idx[k]].value);
	}
	if (want == 0) {
		for (int k = 0; k < n; k++) {
			struct mtask *mt = &tasks[idx[k]];

			CHECK(zero_handle_check(&hs[k]));
			remember_stale(mt->h);
			mt->live = false;
			tok_free(mt->value);
		}
	}
	end_op();
}

bool leave_tasks;
unsigned int orphans_expected, orphans_seen;

void
orphan_hook(const struct baton_task_info *info, void *ctx)
{
	CHECK(ctx == &orphans_expected);
	CHECK(orphans_seen < orphans_expected);
	CHECK_EQ(info->state, BATON_TASK_DONE);
	CHECK(info->stop_requested);
	orphans_seen++;
}

void
op_misc(void)
{
	uint8_t v = u8();

	begin_op("misc");
	if ((v & 3) == 3)
		leave_tasks = true;
	CHECK(!baton_should_stop());
	CHECK_EQ(baton_exit(BATON_EXIT_ERROR, 1, "outside"), -EINVAL);
	CHECK_EQ(baton_task_completed(NULL, NULL, NULL), -EINVAL);
	CHECK(strcmp(baton_exit_kind_name(BATON_EXIT_KILLED), "killed") == 0);
	CHECK(strcmp(baton_version(), BATON_VERSION_STRING) == 0);
	end_op();
}

