/*
 * queue.c - the README's "The queue at a glance", as a program.
 *
 * The regions between "README: <name>" and "README: end" are quoted
 * verbatim by README.md (tests/docs/check_readme.py checks they agree);
 * the program runs under valgrind in the docs suite.
 */
#include <baton.h>

#include <stdio.h>
#include <stdlib.h>

static void *
item_new(void)
{
	return malloc(16);
}

int
main(void)
{
	void *item, *items[4];
	ptrdiff_t n;
	int r;

/* README: main */
baton_queue *q;
baton_queue_create(&q, 1024, free);       /* exact capacity, item destructor */

baton_queue_push(q, item_new());          /* blocks while full            */
item = item_new();
if (baton_queue_try_push(q, item) != 0)   /* -EAGAIN if full              */
	free(item);                           /* a failed push consumes nothing */
item = item_new();
if ((r = baton_queue_push_timed(q, item, 50)) != 0) { /* -ETIMEDOUT after 50 ms */
	printf("push: %s\n", baton_strerror(r));
	free(item);
}
for (int i = 0; i < 4; i++)
	items[i] = item_new();
n = baton_queue_push_many(q, items, 4);   /* returns how many went in     */
for (ptrdiff_t i = n < 0 ? 0 : n; i < 4; i++)
	free(items[i]);                       /* the rest are still yours     */

baton_queue_pop(q, &item);                /* blocks while empty           */
free(item);                               /* a popped item is yours       */
if (baton_queue_try_pop(q, &item) == 0)   /* -EAGAIN if empty             */
	free(item);
if (baton_queue_pop_timed(q, &item, 50) == 0) /* -ETIMEDOUT after 50 ms   */
	free(item);
n = baton_queue_pop_many(q, items, 2);    /* returns how many came out    */
for (ptrdiff_t i = 0; i < n; i++)
	free(items[i]);

printf("%zu of %zu, closed %d\n", baton_queue_size(q),
       baton_queue_capacity(q), baton_queue_is_closed(q));
baton_queue_close(q);                     /* pushes: -EPIPE; pops drain, then -EPIPE */
baton_queue_close_discard(q, NULL, NULL); /* close and destroy the rest   */
baton_queue_destroy(q);                   /* destroys leftovers           */
/* README: end */
	return 0;
}
