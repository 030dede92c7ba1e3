/*
 * future.c - the README's "Shareable futures at a glance", as a program.
 *
 * The regions between "README: <name>" and "README: end" are quoted
 * verbatim by README.md (tests/docs/check_readme.py checks they agree);
 * the program runs under valgrind in the docs suite.
 */
#include <baton.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *
work(void *arg)
{
	int *p = malloc(sizeof(*p));

	if (p != NULL)
		*p = (int)strlen(arg);
	return p;
}

static void *
next_step(void *value, void *ctx)
{
	int *p = malloc(sizeof(*p));

	(void)ctx;
	if (p != NULL)
		*p = *(int *)value + 1;
	return p;
}

static void *
clone(const void *value)
{
	int *p = malloc(sizeof(*p));

	if (p != NULL)
		*p = *(const int *)value;
	return p;
}

static void
callback(baton_future *f, void *ctx)
{
	(void)f;
	printf("%s: done\n", (const char *)ctx);
}

int
main(void)
{
	char arg[] = "hello";
	char ctx[] = "on_done";
	baton_queue *q;
	int *value = malloc(sizeof(*value));

	if (value == NULL || baton_queue_create(&q, 16,
						 baton_future_release) != 0)
		return 1;
	*value = 7;

/* README: main */
baton_future *f, *g;
void *v, *c;
struct baton_exit_reason why;

baton_future_async(&f, work, arg, free);        /* free(): if nobody takes */
baton_queue_push(q, baton_future_ref(f));       /* travels while pending   */

/* in any thread */
baton_future *h;
baton_queue_pop(q, (void **)&h);                /* the queue's reference   */
baton_future_borrow(h, 1000, &v, &why);         /* lend: valid while held  */
baton_future_copy(h, 1000, clone, &c, &why);    /* each gets its own copy  */
free(c);
baton_future_on_done(h, callback, ctx, NULL);   /* once, on completion     */
baton_future_then(&g, h, next_step, NULL,       /* continuation on a pool  */
		  &(struct baton_task_opts){ .destroy = free });
if (baton_future_take(g, 1000, &v, &why) == 0)  /* move: one winner        */
	free(v);                                    /* ...whose value it is    */
baton_future_cancel(h);                         /* -EALREADY: it finished  */
baton_future_unref(g);                          /* never blocks            */
baton_future_unref(h);
baton_future_unref(f);                          /* last one: free(value)   */

baton_promise *p;
baton_promise_create(&p, &f);                   /* complete from anywhere  */
baton_promise_fulfil(p, value, free);           /* first completion wins   */
baton_promise_destroy(p);                       /* unfulfilled: -EPIPE     */
baton_future_unref(f);                          /* frees value             */
/* README: end */

	baton_queue_destroy(q);
	return 0;
}
