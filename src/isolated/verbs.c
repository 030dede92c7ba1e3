/*
 * verbs.c - the isolated task verbs: async, await, yield, shutdown,
 * ignore, await_many, yield_many and map.
 *
 * Design notes
 * ============
 * Every verb resolves its handle under rt.mu (generation, then owner:
 * -ESTALE before -EPERM, and a refused call changes nothing), then waits
 * with the lock dropped: on the channel's futex word while the task runs
 * (the worker's DONE store and the monitor's DEAD store both wake it), or
 * on the task's own word while it is queued.  Waits are cut into slices
 * of at most WAIT_SLICE_MS so that an awaiter parked on a channel its task
 * has just left (a worker that died before starting it) re-checks soon.
 *
 * Consuming a task: collect (the value is copied out of the channel into
 * a fresh malloc'ed buffer, then the slot is released), or abandon (a
 * queued task leaves the queue; a running one has its worker SIGKILLed;
 * see runtime.c for the slot side), or detach (ignore: the record lives
 * on until the worker finishes, then runtime.c frees both).
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "internal.h"

#define rt baton__iso_rt

/* An awaiter spins this long for a reply before it parks: short, as
 * spinning on an oversubscribed machine only delays the worker (see
 * WORKER_SPIN_NS in server.c for the figures). */
#define AWAIT_SPIN_NS 5000L
#define WAIT_SLICE_MS 200

static int
resolve(const baton_isolated *h, struct baton__itask **out)
{
	struct baton__itask *t;

	if (h == NULL)
		return -EINVAL;
	t = h->rec_;
	if (t == NULL || !(h->gen_ & 1) || t->gen != h->gen_)
		return -ESTALE;
	if (!pthread_equal(t->owner, pthread_self()))
		return -EPERM;
	*out = t;
	return 0;
}

static bool
ready(const struct baton__itask *t)
{
	if (t->st == T_EXITED)
		return true;
	if (t->st != T_RUNNING)
		return false;
	/* acquire: the value is read after DONE is seen. */
	return t->slot->dead ||
	       atomic_load_explicit(&t->slot->ch->state,
				    memory_order_acquire) == BATON__CH_DONE;
}

static void
slice_deadline(const struct baton__deadline *d, struct timespec *at)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	*at = baton__timespec_add_ms(now, WAIT_SLICE_MS);
	if (!d->infinite &&
	    (d->at.tv_sec < at->tv_sec ||
	     (d->at.tv_sec == at->tv_sec && d->at.tv_nsec < at->tv_nsec)))
		*at = d->at;
}

/* Called and returns with rt.mu held: true once t has an outcome. */
static bool
wait_locked(struct baton__itask *t, const struct baton__deadline *d)
{
	for (;;) {
		struct timespec at;

		if (ready(t))
			return true;
		if (baton__deadline_expired(d))
			return false;
		if (t->st == T_RUNNING) {
			struct baton__iso_channel *ch = t->slot->ch;
			uint32_t cs = atomic_load_explicit(
			    &ch->state, memory_order_acquire);

			pthread_mutex_unlock(&rt.mu);
			if (!baton__iso_spin_while(&ch->state, cs,
						   AWAIT_SPIN_NS)) {
				slice_deadline(d, &at);
				/* seq_cst: Dekker with the worker's DONE
				 * store and its load of owner_sleeping. */
				atomic_fetch_add_explicit(&ch->owner_sleeping,
							  1,
							  memory_order_seq_cst);
				baton__shared_futex_wait(&ch->state, cs, &at);
				/* relaxed: a hint for the worker only. */
				atomic_fetch_sub_explicit(&ch->owner_sleeping,
							  1,
							  memory_order_relaxed);
			}
		} else {
			/* relaxed: rechecked under rt.mu after the wait. */
			uint32_t w = atomic_load_explicit(&t->word,
							  memory_order_relaxed);

			pthread_mutex_unlock(&rt.mu);
			slice_deadline(d, &at);
			baton__shared_futex_wait(&t->word, w, &at);
		}
		pthread_mutex_lock(&rt.mu);
	}
}

static void
queue_remove(struct baton__itask *t)
{
	struct baton__itask *prev = NULL;

	for (struct baton__itask *q = rt.qhead; q != NULL; q = q->qnext) {
		if (q == t) {
			if (prev != NULL)
				prev->qnext = t->qnext;
			else
				rt.qhead = t->qnext;
			if (rt.qtail == t)
				rt.qtail = prev;
			t->qnext = NULL;
			return;
		}
		prev = q;
	}
}

/* Kills and consumes t, whatever its state (under rt.mu). */
static void
abandon(struct baton__itask *t)
{
	if (t->st == T_QUEUED) {
		queue_remove(t);
	} else if (t->st == T_RUNNING) {
		struct slot *s = t->slot;

		if (ready(t))
			baton__iso_release_slot(s);
		else
			baton__iso_kill_slot(s);
	}
	baton__iso_task_free(t);
}

/*
 * Consumes a ready t: 0 with its value, or BATON_EXITED.  -ENOMEM (t not
 * consumed) if the value's buffer cannot be allocated.
 */
static int
collect(struct baton__itask *t, struct baton_isolated_value *value,
	struct baton_exit_reason *reason)
{
	/* Written on failure only: a value's collect copies no text. */
	struct baton_exit_reason scratch;
	struct baton_exit_reason *why = reason != NULL ? reason : &scratch;
	struct slot *s = t->slot;
	int r = BATON_EXITED;

	if (t->st == T_EXITED) {
		baton__reason_export(why, &t->reason);
	} else if (atomic_load_explicit(&s->ch->state, memory_order_acquire) ==
		   BATON__CH_DONE) {
		/* The worker may be hostile or corrupt: check before use. */
		uint64_t len = s->ch->val_len;
		int64_t ret = s->ch->ret;
		/* Read once: the worker could change them under us. */
		uint32_t exited = s->ch->exit_set;
		int32_t kind = s->ch->exit_kind;
		uint32_t tlen = s->ch->exit_len;

		if (len > BATON_ISOLATED_MAX_BYTES ||
		    (exited && ((uint32_t)kind > BATON_EXIT_KILLED ||
				tlen >= BATON_EXIT_TEXT_MAX))) {
			baton__reason_set(why, BATON_EXIT_ERROR, EPROTO,
					  "worker reply out of bounds");
		} else if (exited) {
			/* Its text: at most tlen bytes, never past the field. */
			why->kind = (enum baton_exit_kind)kind;
			why->code = s->ch->exit_code;
			why->message = NULL;
			baton__text_put(why->text, s->ch->exit_text, tlen);
		} else if (ret != 0) {
			baton__reason_set(
			    why, BATON_EXIT_ERROR, (int)ret,
			    ret == ENOMEM && t->as != UINT64_MAX
				? "body failed: out of memory under its "
				  "address-space limit"
				: "body returned an error code");
		} else {
			if (value != NULL) {
				void *p = baton__malloc(len ? len : 1);

				if (p == NULL)
					return -ENOMEM;
				memcpy(p, s->ch->val, len);
				*value = (struct baton_isolated_value){
					p, (size_t)len };
			}
			r = 0;
		}
	} else {
		baton__iso_reason_from(s, why);
	}
	if (t->st == T_RUNNING)
		baton__iso_release_slot(s);
	baton__iso_task_free(t);
	return r;
}

int
baton_isolated_async_opts(baton_isolated *out, baton_isolated_fn fn,
			  const void *arg, size_t len,
			  const struct baton_isolated_opts *opts)
{
	struct baton__itask *t;
	int r;

	if (out != NULL)
		*out = (baton_isolated){ NULL, 0 };
	if (out == NULL || fn == NULL || (arg == NULL && len != 0))
		return -EINVAL;
	if (len > BATON_ISOLATED_MAX_BYTES)
		return -E2BIG;
	if (baton__iso_in_worker)
		return -EPERM;
	pthread_mutex_lock(&rt.mu);
	if (rt.state != RT_RUNNING || rt.stopping) {
		pthread_mutex_unlock(&rt.mu);
		return -EPIPE;
	}
	t = baton__iso_task_alloc();
	if (t == NULL) {
		pthread_mutex_unlock(&rt.mu);
		return -ENOMEM;
	}
	t->fn = fn;
	t->len = len;
	t->cpu = opts != NULL && opts->cpu_seconds != BATON_NO_LIMIT
		     ? opts->cpu_seconds
		     : UINT64_MAX;
	t->as = opts != NULL && opts->address_space != BATON_NO_LIMIT
		    ? opts->address_space
		    : UINT64_MAX;
	r = baton__iso_owner_add(t);
	if (r == 0 && rt.idle == NULL) {
		t->arg = baton__malloc(len ? len : 1);
		if (t->arg == NULL)
			r = -ENOMEM;
		else if (len != 0)
			memcpy(t->arg, arg, len);
	}
	if (r != 0) {
		baton__iso_task_free(t);
		rt.stats.resolved--; /* never started */
		pthread_mutex_unlock(&rt.mu);
		return r;
	}
	rt.stats.tasks++;
	if (rt.idle != NULL) {
		struct slot *s = rt.idle;

		rt.idle = s->next_idle;
		if (len != 0)
			memcpy(s->ch->arg, arg, len);
		baton__iso_post(s, t);
	} else {
		t->st = T_QUEUED;
		if (rt.qtail != NULL)
			rt.qtail->qnext = t;
		else
			rt.qhead = t;
		rt.qtail = t;
	}
	*out = (baton_isolated){ t, t->gen };
	pthread_mutex_unlock(&rt.mu);
	return 0;
}

int
baton_isolated_async(baton_isolated *out, baton_isolated_fn fn,
		     const void *arg, size_t len)
{
	return baton_isolated_async_opts(out, fn, arg, len, NULL);
}

/* await (consume on timeout), yield (keep), shutdown (stop, then kill),
 * brutal (kill at once). */
enum how { AWAIT, YIELD, SHUTDOWN, BRUTAL };

/*
 * Elixir's shutdown, for a running task with no reply yet (under rt.mu):
 * BATON_NOREPLY when the body ended after the stop was asked (its value
 * dropped) or exited with SHUTDOWN; BATON_EXITED for another exit reason;
 * and when the time runs out, the worker is killed: BATON_EXITED/KILLED.
 */
static int
shut_down(struct baton__itask *t, const struct baton__deadline *d,
	  struct baton_exit_reason *reason)
{
	struct baton_exit_reason why; /* written on BATON_EXITED only */
	int r;

	/* release: the body may read it at any time. */
	atomic_store_explicit(&t->slot->ch->stop, 1, memory_order_release);
	if (!wait_locked(t, d)) {
		abandon(t);
		baton__reason_set(&why, BATON_EXIT_KILLED, SIGKILL,
				  "shut down: no reply in time, worker killed");
		r = BATON_EXITED;
	} else {
		r = collect(t, NULL, &why); /* a value is dropped: no -ENOMEM */
		if (r == 0 || why.kind == BATON_EXIT_SHUTDOWN)
			r = BATON_NOREPLY;
	}
	if (r == BATON_EXITED && reason != NULL)
		*reason = why;
	return r;
}

static int
finish(baton_isolated *task, int timeout_ms, enum how how,
       struct baton_isolated_value *value, struct baton_exit_reason *reason)
{
	struct baton__deadline d;
	struct baton__itask *t;
	int r = baton__timeout_check(timeout_ms);

	if (r != 0)
		return r;
	pthread_mutex_lock(&rt.mu);
	r = resolve(task, &t);
	if (r != 0)
		goto out;
	baton__deadline_init(&d, timeout_ms);
	if ((how == SHUTDOWN || how == BRUTAL) && !ready(t)) {
		/* No reply yet: a queued task is dropped unrun. */
		if (t->st == T_QUEUED) {
			abandon(t);
			r = BATON_NOREPLY;
		} else if (how == BRUTAL) {
			abandon(t);
			r = BATON_NOREPLY;
		} else {
			r = shut_down(t, &d, reason);
		}
		*task = (baton_isolated){ NULL, 0 };
	} else if (wait_locked(t, &d)) {
		r = collect(t, value, reason);
		if (r != -ENOMEM)
			*task = (baton_isolated){ NULL, 0 };
	} else if (how == YIELD) {
		r = -ETIMEDOUT;
	} else {
		abandon(t);
		*task = (baton_isolated){ NULL, 0 };
		r = -ETIMEDOUT;
	}
out:
	pthread_mutex_unlock(&rt.mu);
	return r;
}

int
baton_isolated_await(baton_isolated *task, int timeout_ms,
		     struct baton_isolated_value *value,
		     struct baton_exit_reason *reason)
{
	return finish(task, timeout_ms, AWAIT, value, reason);
}

int
baton_isolated_yield(baton_isolated *task, int timeout_ms,
		     struct baton_isolated_value *value,
		     struct baton_exit_reason *reason)
{
	return finish(task, timeout_ms, YIELD, value, reason);
}

int
baton_isolated_shutdown(baton_isolated *task, int timeout_ms,
			struct baton_isolated_value *value,
			struct baton_exit_reason *reason)
{
	return finish(task, timeout_ms, SHUTDOWN, value, reason);
}

int
baton_isolated_shutdown_brutal(baton_isolated *task,
			       struct baton_isolated_value *value,
			       struct baton_exit_reason *reason)
{
	return finish(task, 0, BRUTAL, value, reason);
}

int
baton_isolated_ignore(baton_isolated *task, struct baton_isolated_value *value,
		      struct baton_exit_reason *reason)
{
	struct baton__itask *t;
	int r;

	pthread_mutex_lock(&rt.mu);
	r = resolve(task, &t);
	if (r == 0 && ready(t)) {
		/* The reply is in: returned as yield would. */
		r = collect(t, value, reason);
		if (r != -ENOMEM)
			*task = (baton_isolated){ NULL, 0 };
	} else if (r == 0) {
		*task = (baton_isolated){ NULL, 0 };
		r = BATON_NOREPLY;
		if (t->st == T_RUNNING) {
			/* seq_cst: Dekker with the worker's DONE store and
			 * its load of notify (one of us sees the other). */
			atomic_store_explicit(&t->slot->ch->notify, 1,
					      memory_order_seq_cst);
		}
		if (t->st == T_RUNNING && ready(t)) {
			baton__iso_release_slot(t->slot);
			baton__iso_task_free(t);
		} else {
			/* Lives on until its worker is done (runtime.c). */
			t->detached = true;
			baton__iso_task_unlink(t);
		}
	}
	pthread_mutex_unlock(&rt.mu);
	return r;
}

int
baton_isolated_task_pid(const baton_isolated *task)
{
	struct baton__itask *t;
	int r;

	if (task == NULL)
		return -EINVAL;
	pthread_mutex_lock(&rt.mu);
	t = task->rec_;
	if (t == NULL || !(task->gen_ & 1) || t->gen != task->gen_)
		r = -ESTALE;
	else if (t->st == T_RUNNING && !t->slot->dead)
		r = t->slot->pid;
	else
		r = 0;
	pthread_mutex_unlock(&rt.mu);
	return r;
}

/* ------------------------------------------------------------------ */
/* Many tasks                                                           */

static int
resolve_all(baton_isolated *tasks, size_t n, struct baton__itask **recs)
{
	if (tasks == NULL && n != 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int r = resolve(&tasks[i], &recs[i]);

		if (r != 0)
			return r;
		for (size_t j = 0; j < i; j++) {
			if (recs[j] == recs[i])
				return -EINVAL;
		}
	}
	return 0;
}

int
baton_isolated_await_many(baton_isolated *tasks, size_t n, int timeout_ms,
			  struct baton_isolated_value *values, size_t *failed,
			  struct baton_exit_reason *reason)
{
	struct baton__itask **recs;
	struct baton_isolated_value *tmp;
	struct baton__deadline d;
	size_t i = 0;
	int r = baton__timeout_check(timeout_ms);

	if (r != 0)
		return r;
	if (n == 0)
		return 0;
	recs = baton__calloc(n, sizeof(*recs));
	tmp = baton__calloc(n, sizeof(*tmp));
	if (recs == NULL || tmp == NULL) {
		free(recs);
		free(tmp);
		return -ENOMEM;
	}
	pthread_mutex_lock(&rt.mu);
	r = resolve_all(tasks, n, recs);
	if (r != 0)
		goto out;
	baton__deadline_init(&d, timeout_ms);
	for (i = 0; i < n; i++) {
		if (!wait_locked(recs[i], &d)) {
			r = -ETIMEDOUT;
			break;
		}
		r = collect(recs[i], values != NULL ? &tmp[i] : NULL, reason);
		if (r != 0) {
			if (r == -ENOMEM)
				abandon(recs[i]);
			break;
		}
	}
	if (r != 0) {
		if (failed != NULL)
			*failed = i;
		if (r == -ETIMEDOUT)
			abandon(recs[i]);
		for (size_t j = i + 1; j < n; j++)
			abandon(recs[j]);
		for (size_t j = 0; j < i; j++)
			free(tmp[j].data);
	} else if (values != NULL) {
		memcpy(values, tmp, n * sizeof(*tmp));
	}
	for (size_t j = 0; j < n; j++)
		tasks[j] = (baton_isolated){ NULL, 0 };
out:
	pthread_mutex_unlock(&rt.mu);
	free(recs);
	free(tmp);
	return r;
}

ptrdiff_t
baton_isolated_yield_many(baton_isolated *tasks, size_t n,
			  const struct baton_yield_many_opts *opts,
			  struct baton_isolated_result *results)
{
	struct baton_yield_many_opts o = BATON_YIELD_MANY_OPTS_INIT;
	struct baton__itask **recs;
	struct baton__deadline d;
	size_t got = 0;
	bool limited = false, has_limit;
	int r;

	if (opts != NULL)
		o = *opts;
	if ((results == NULL && n != 0) || o.limit == 0 ||
	    baton__timeout_check(o.timeout_ms))
		return -EINVAL;
	has_limit = o.limit != BATON_NO_LIMIT;
	if (n == 0)
		return 0;
	recs = baton__calloc(n, sizeof(*recs));
	if (recs == NULL)
		return -ENOMEM;
	pthread_mutex_lock(&rt.mu);
	r = resolve_all(tasks, n, recs);
	if (r != 0) {
		pthread_mutex_unlock(&rt.mu);
		free(recs);
		return r;
	}
	baton__deadline_init(&d, o.timeout_ms);
	for (;;) {
		size_t k = 0, first = n;

		for (size_t i = 0; i < n; i++) {
			if (ready(recs[i]))
				k++;
			else if (first == n)
				first = i;
		}
		if (first == n || (has_limit && k >= o.limit)) {
			limited = first != n;
			break;
		}
		if (baton__deadline_expired(&d))
			break;
		if (!has_limit) {
			wait_locked(recs[first], &d);
		} else {
			/* Any of them: poll the first pending in short
			 * slices (a futex waits on one word only). */
			struct baton__deadline slice;

			baton__deadline_init(&slice, 2);
			if (!d.infinite && baton__deadline_left_ns(&d, 2000000) <
						   2000000)
				slice = d;
			wait_locked(recs[first], &slice);
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct baton_isolated_result *res = &results[i];

		/* Not memset: the reason's text is written only on failure. */
		res->value = (struct baton_isolated_value){ NULL, 0 };
		baton__reason_clear(&res->reason);
		res->status = -ETIMEDOUT;
		if (ready(recs[i])) {
			res->status = collect(recs[i], &res->value,
					      &res->reason);
			if (res->status == -ENOMEM) {
				res->status = -ETIMEDOUT;
				continue;
			}
			tasks[i] = (baton_isolated){ NULL, 0 };
			got++;
		} else if (!limited &&
			   o.on_timeout == BATON_ON_TIMEOUT_KILL) {
			abandon(recs[i]);
			tasks[i] = (baton_isolated){ NULL, 0 };
			res->status = BATON_EXITED;
			baton__reason_set(&res->reason, BATON_EXIT_KILLED,
					  SIGKILL,
					  "killed at yield_many's timeout");
		} else if (!limited &&
			   o.on_timeout == BATON_ON_TIMEOUT_IGNORE) {
			baton_isolated h = tasks[i];

			pthread_mutex_unlock(&rt.mu);
			baton_isolated_ignore(&h, NULL, NULL);
			pthread_mutex_lock(&rt.mu);
			tasks[i] = (baton_isolated){ NULL, 0 };
		}
	}
	pthread_mutex_unlock(&rt.mu);
	free(recs);
	return (ptrdiff_t)got;
}

ptrdiff_t
baton_isolated_map(baton_isolated_fn fn,
		   const struct baton_isolated_input *inputs, size_t n,
		   const struct baton_isolated_map_opts *opts,
		   struct baton_isolated_result *results)
{
	struct baton_isolated_map_opts o = BATON_ISOLATED_MAP_OPTS_INIT;
	size_t maxc;
	int timeout;
	baton_isolated *ts;
	size_t next = 0;
	ptrdiff_t got = 0;

	if (opts != NULL)
		o = *opts;
	maxc = o.max_concurrency == BATON_SCHEDULERS ? rt.nslots
						     : o.max_concurrency;
	timeout = o.timeout_ms;
	if (fn == NULL || (n != 0 && (inputs == NULL || results == NULL)) ||
	    baton__timeout_check(timeout) != 0 || o.max_concurrency == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (inputs[i].len > BATON_ISOLATED_MAX_BYTES)
			return -E2BIG;
	}
	if (maxc == 0)
		maxc = 1; /* BATON_SCHEDULERS before init: -EPIPE follows */
	ts = baton__calloc(n ? n : 1, sizeof(*ts));
	if (ts == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct baton_isolated_result *res = &results[i];
		int r;

		for (; next < n && next - i < maxc; next++) {
			r = baton_isolated_async(&ts[next], fn,
						 inputs[next].data,
						 inputs[next].len);
			if (r != 0) {
				for (size_t j = i; j < next; j++)
					baton_isolated_shutdown_brutal(
					    &ts[j], NULL, NULL);
				for (size_t j = 0; j < i; j++)
					free(results[j].value.data);
				free(ts);
				return r;
			}
		}
		res->value = (struct baton_isolated_value){ NULL, 0 };
		baton__reason_clear(&res->reason);
		r = baton_isolated_await(&ts[i], timeout, &res->value,
					 &res->reason);
		if (r == -ETIMEDOUT) {
			r = BATON_EXITED;
			baton__reason_set(
			    &res->reason, BATON_EXIT_TIMEOUT, ETIMEDOUT,
			    "element timed out: its worker was killed");
		} else if (r < 0) {
			/* -ENOMEM collecting: the element is dropped. */
			baton_isolated_shutdown_brutal(&ts[i], NULL, NULL);
			baton__reason_set(&res->reason, BATON_EXIT_ERROR, -r,
					  "no memory for the element's value");
			r = BATON_EXITED;
		}
		res->status = r;
		if (r == 0)
			got++;
	}
	free(ts);
	return got;
}

/* How often baton_isolated_run looks at its strict task's stop flag. */
#define RUN_STOP_POLL_MS 20

int
baton_isolated_run(baton_isolated_fn fn, const void *arg, size_t len,
		   const struct baton_isolated_opts *opts, int timeout_ms,
		   struct baton_isolated_value *value,
		   struct baton_exit_reason *reason)
{
	struct baton__deadline d;
	baton_isolated t;
	int r = baton__timeout_check(timeout_ms);

	if (r != 0)
		return r;
	r = baton_isolated_async_opts(&t, fn, arg, len, opts);
	if (r != 0)
		return r;
	baton__deadline_init(&d, timeout_ms);
	for (;;) {
		long left = baton__deadline_left_ns(&d, RUN_STOP_POLL_MS *
							    1000000L);
		int slice = (int)((left + 999999) / 1000000);

		r = baton_isolated_yield(&t, slice, value, reason);
		if (r != -ETIMEDOUT)
			return r;
		if (baton_should_stop()) {
			r = baton_isolated_shutdown_brutal(&t, value, reason);
			if (r != BATON_NOREPLY)
				return r; /* its reply raced in */
			if (reason != NULL)
				baton__reason_set(
				    reason, BATON_EXIT_SHUTDOWN, ECANCELED,
				    "stopped: its strict task was asked to "
				    "stop; worker killed");
			return BATON_EXITED;
		}
		if (baton__deadline_expired(&d))
			return baton_isolated_await(&t, 0, value, reason);
	}
}
