/*
 * Compile-only check: every public header builds on its own and through the
 * umbrella header as strict C11 (-std=c11 -pedantic -Werror).  Running it
 * only proves it linked.
 */
#include <baton/queue.h> /* first: each header must be self-contained */
#include <baton/common.h>
#include <baton.h>

int
main(void)
{
	return baton_queue_capacity(NULL) == 0 ? 0 : 1;
}
