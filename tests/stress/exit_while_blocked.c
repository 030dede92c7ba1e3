/*
 * exit_while_blocked.c - a process whose default pool runs bodies that
 * never return (one blocked in baton_queue_pop, one in read on a pipe
 * nobody writes) still exits when main returns: the default pool's exit
 * handler closes the pool and waits for nobody.  Exit status 0 within
 * the test's timeout is the pass; a hang is the failure (meson's timeout
 * ends it).  A plain program: the whole process has to exit.
 */
#include <baton.h>

#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

static atomic_int started;
static int fds[2];

static void *
pop_forever(void *arg)
{
	void *item;

	atomic_fetch_add(&started, 1);
	(void)baton_queue_pop(arg, &item);
	return NULL;
}

static void *
read_forever(void *arg)
{
	char c;

	(void)arg;
	atomic_fetch_add(&started, 1);
	(void)!read(fds[0], &c, 1);
	return NULL;
}

int
main(void)
{
	baton_queue *q;
	baton_task a, b;

	if (pipe(fds) != 0 || baton_queue_create(&q, 1, NULL) != 0 ||
	    baton_task_async(&a, pop_forever, q) != 0 ||
	    baton_task_async(&b, read_forever, NULL) != 0) {
		fprintf(stderr, "exit_while_blocked: setup failed\n");
		return 1;
	}
	while (atomic_load(&started) < 2)
		usleep(100);
	printf("exit_while_blocked: two bodies blocked forever; exiting\n");
	return 0; /* the tasks are still owned and running: exit anyway */
}
