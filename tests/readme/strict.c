/*
 * strict.c - the README's "Strict tasks at a glance", as a program.
 *
 * The regions between "README: <name>" and "README: end" are quoted
 * verbatim by README.md (tests/docs/check_readme.py checks they agree);
 * the program runs under valgrind in the docs suite, so the README's code
 * frees every value it makes.
 */
#include <baton.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static int fail_next;

static int *
new_int(int v)
{
	int *p = malloc(sizeof(*p));

	if (p != NULL)
		*p = v;
	return p;
}

/* README: body */
static void *
work(void *arg)
{
	if (baton_should_stop())                    /* cooperative stop */
		return NULL;
	if (fail_next) {                            /* exit/1, with why */
		baton_exitf(BATON_EXIT_ERROR, EIO, "input %d: disk gone",
			    *(int *)arg);
		return NULL;
	}
	return new_int(*(int *)arg * 2);            /* the task's value */
}
/* README: end */

static void *
slow(void *arg)
{
	(void)arg;
	while (!baton_should_stop())
		;
	return new_int(0);
}

static void *
say(void *arg)
{
	printf("%s\n", (const char *)arg);
	return NULL;
}

static void
use(const void *v)
{
	printf("value %d\n", *(const int *)v);
}

static void
report(const struct baton_exit_reason *why)
{
	printf("exited: %s, code %d, %s\n", baton_exit_kind_name(why->kind),
	       why->code, why->text); /* text: always a string */
}

int
main(void)
{
	int arg = 21, r;
	int in[3] = { 1, 2, 3 };

/* README: main */
struct baton_task_opts opts = { .destroy = free }; /* frees values nobody took */
baton_task t, ts[3];
void *v, *vals[3];
size_t failed;
struct baton_exit_reason why;

baton_task_async_opts(&t, work, &arg, &opts);      /* the caller owns t      */
switch (r = baton_task_await(&t, BATON_DEFAULT_TIMEOUT, &v, &why)) {
case 0:            use(v); free(v); break;         /* the value is yours     */
case BATON_EXITED: report(&why); break;            /* the body failed        */
default:           printf("await: %s\n", baton_strerror(r)); break;
}      /* -ETIMEDOUT: asked to stop and consumed; free() gets its value */

baton_task_async_opts(&t, slow, NULL, &opts);
r = baton_task_yield(&t, 100, &v, &why);           /* timeout keeps the task */
if (r == -ETIMEDOUT)                               /* yield(t) || shutdown(t) */
	r = baton_task_shutdown(&t, 100, &v, &why);    /* or BATON_NOREPLY: nil  */
if (r == 0)
	free(v);

for (int i = 0; i < 3; i++)
	baton_task_async_opts(&ts[i], work, &in[i], &opts);
if (baton_task_await_many(ts, 3, 5000, vals, &failed, &why) == 0)
	for (int i = 0; i < 3; i++) {                  /* input order            */
		use(vals[i]);
		free(vals[i]);
	}                   /* on failure the rest are stopped and freed */

baton_task_async_opts(&t, work, &arg, &opts);
baton_task_ignore(&t, NULL, NULL);                 /* runs on; free() later  */
baton_task_start(say, "fire and forget", NULL);    /* no owner, no value     */
/* README: end */

	fail_next = 1;
	baton_task_async_opts(&t, work, &arg, &opts);
	if (baton_task_await(&t, BATON_DEFAULT_TIMEOUT, &v, &why) !=
	    BATON_EXITED)
		return 1;
	report(&why);
	return 0;
}
